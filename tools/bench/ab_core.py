"""Two copies of addon/core side by side: `pipeline.run` of each, interleaved with the bare sessions.

    python -m tools.bench.ab_core BASE_CORE [NEW_CORE] [--rounds 100] [--case bench|house] [--side 256]

BASE_CORE and NEW_CORE are addon/core folders (NEW_CORE defaults to this tree's): e.g. a copy of main's made
with `cp -r /work/main/addon/core /tmp/base_core` before a change (a copy without ../models/exemplars.npz
beside it reads this tree's exemplar index). Both are imported under names of their own and share one set of onnxruntime sessions (the default chain: the first colorize style -> 3D Clay), so the
only difference is the pipeline's own work. The three calls of a round run back to back, each going first in
turn; the table gives the median and best call, the pipeline's own work (its wall and process CPU time less
the bare sessions', median per round) and pipeline / bare (median per round), and the new - base difference
per round. First it checks the two trees' results: the largest difference and the pixels more than 1 level
of 255 apart. Load from other programs falls on all three alike; the load average is printed with it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXEMPLARS = Path(REPO) / "addon" / "models" / "exemplars.npz"


def load_core(name: str, folder: str):
    """The pipeline module of the core package in `folder`, imported as package `name`."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(name + ".pipeline")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.bench.ab_core", description=__doc__.split("\n\n")[0])
    p.add_argument("base")
    p.add_argument("new", nargs="?", default=os.path.join(REPO, "addon", "core"))
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--case", choices=("bench", "house"), default="bench")
    p.add_argument("--side", type=int, default=256)
    args = p.parse_args(argv)
    from tools import demo
    from tools import evidence as ev

    mods = {"base": load_core("nftgan_ab_base", args.base), "new": load_core("nftgan_ab_new", args.new)}
    mods["new"].session = mods["base"].session  # one set of sessions for both and the bare calls
    # a copy of addon/core outside its tree has no ../models/exemplars.npz: it would run without the exemplar
    # colours (a sketch without dabs then differs by up to 240 levels and skips ~4 ms of work); both use this tree's
    for name in ("nftgan_ab_base", "nftgan_ab_new"):
        ex = importlib.import_module(name + ".exemplar")
        if not ex.INDEX.is_file():
            print(f"{name}: no {ex.INDEX}; it reads {EXEMPLARS}")
            ex.INDEX = EXEMPLARS
    infos = ev.shipped()
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    style = next(s for s in ev.by_kind(infos, "stylize").values() if "clay" in os.path.basename(s.path))
    if args.case == "bench":
        rgba = ev.to_rgba(ev.pil_resize(ev.load_rgb01(ev.golden_inputs()[0]), args.side, args.side))
    else:
        rgba = demo.house(args.side)
    fns = {}
    for k, m in mods.items():
        models = {"colorize": m.describe_model(colorize.path), "stylize": m.describe_model(style.path)}
        fns[k] = lambda m=m, models=models: m.run(rgba, models=models, threads=2, provider="cpu")
    base = mods["base"]
    x = np.ascontiguousarray(base.to_model_space(rgba)[None])
    sessions = [base.session(base.describe_model(path), 2, "cpu") for path in (colorize.path, style.path)]

    def bare():
        y = x
        for s in sessions:
            (y,) = s.run(None, {s.get_inputs()[0].name: y})
        return y

    fns["bare"] = bare
    a, b = fns["base"](), fns["new"]()
    for k in a:
        d = np.abs(a[k] - b[k]).max(axis=-1)
        print(f"{k}: largest difference {d.max() * 255:.3f} levels, {int((d > 1 / 255).sum())} px > 1 level")
    bare()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    keys = list(fns)
    load = os.getloadavg()[0]
    for r in range(args.rounds):
        for k in keys[r % 3 :] + keys[: r % 3]:
            time.sleep(0.02)
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k]()
            wall[k].append((time.perf_counter() - t0) * 1e3)
            cpu[k].append((time.process_time() - c0) * 1e3)
    w = {k: np.array(v) for k, v in wall.items()}
    c = {k: np.array(v) for k, v in cpu.items()}
    print(
        f"\n{args.case} {args.side} px, {args.rounds} rounds, load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| | median ms | best ms | own work ms (wall) | own work ms (CPU) | / bare |\n| --- | --- | --- | --- | --- | --- |"
    )
    for k in ("base", "new"):
        print(
            f"| {k} | {np.median(w[k]):.1f} | {w[k].min():.1f} | {np.median(w[k] - w['bare']):.2f} | "
            f"{np.median(c[k] - c['bare']):.2f} | {np.median(w[k] / w['bare']):.3f} |"
        )
    print(f"| bare sessions | {np.median(w['bare']):.1f} | {w['bare'].min():.1f} | | | |")
    print(
        f"\nnew - base per round: {np.median(w['new'] - w['base']):+.2f} ms wall, "
        f"{np.median(c['new'] - c['base']):+.2f} ms CPU (medians)"
    )


if __name__ == "__main__":
    main()
