"""`make bench`: run every tools/bench/bench_*.py in one process, side by side, each printing a table.

Run one: `python -m tools.bench training` (matches module names containing the word)."""

import importlib
import pkgutil
import sys
import time

import tools.bench as pkg


def main(argv):
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"tools.bench.{name}").main()
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
