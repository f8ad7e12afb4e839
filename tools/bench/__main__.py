"""`make bench`: run every tools/bench/bench_*.py in one process, side by side, each printing a table; then the
goal table (issue 14): every goal a bench measured, as the ratio or figure of this one run at the median and
at the best, with PASS/MISS against its target.

Run one: `python -m tools.bench training` (matches module names containing the word)."""

import importlib
import pkgutil
import sys
import time

import tools.bench as pkg


def main(argv):
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
    if {"-h", "--help"} & set(argv):
        print(__doc__ + "\n\nBenches: " + ", ".join(n.removeprefix("bench_") for n in names))
        return
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
        if not names:
            sys.exit(f"no bench matches {' '.join(argv)}: python -m tools.bench --help lists them")
    goals = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        goals += importlib.import_module(f"tools.bench.{name}").main() or []
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    if goals:
        from tools.bench.bench_models import print_goals

        print("\n=== goals (this run; median and best) ===")
        print_goals(goals)


if __name__ == "__main__":
    main(sys.argv[1:])
