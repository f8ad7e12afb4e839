"""Two copies of addon/core side by side, step by step: each step of `pipeline.run` alone, on its own arguments.

    python -m tools.bench.ab_steps BASE_CORE [NEW_CORE] [--rounds 150] [--case bench|house|tall] [--steps a,b]

`pipeline.run` of each tree once on the case (`ab_core`'s: the bench sketch or the demo house at 256 px; `tall`:
the bench sketch at 700 x 1024), the arguments of each step in STEPS recorded (a deep copy, at its first call:
the calling thread's steps between and after the sessions, and the helper thread's `_sketch_work` and
`_keep_ahead`); then each step called again on copies of them, base and new in turn (each first every other
round), with its wall and thread CPU time. A step's outputs (its result, the image it writes in place) are
compared bit for bit, and so are the two runs' results. The steps run alone (warm caches, no session beside them:
less time than inside a run, where the sessions have just evicted their data): the table is for the difference
a change makes to each step, in thread CPU, which load hardly moves; `ab_core` times whole calls.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import threading
import time

import numpy as np

from tools.bench.ab_core import EXEMPLARS, REPO, load_core

STEPS = [
    ("pipeline", "to_model_space"),
    ("hintfill", "fill"),
    ("pipeline", "_as_seen"),
    ("pipeline", "_model_space_of"),
    ("pipeline", "_keep"),
    ("pipeline", "to_image_space"),
    ("pipeline", "_sketch_work"),
    ("pipeline", "_keep_ahead"),
]
HELPER_STEPS = ("_sketch_work", "_keep_ahead")
IN_PLACE = ("fill", "_keep", "_as_seen")  # (compared by the image they write into, their first argument)


def _plain(arg):
    """A `_Beside.check` handed to a step becomes a function that does nothing (the run it checked is gone)."""
    owner = getattr(arg, "__self__", None)
    return (lambda: None) if owner is not None and type(owner).__name__ == "_Beside" else arg


def capture(name: str, folder: str, rgba: np.ndarray, paths: tuple, only: set) -> tuple[dict, dict]:
    """({step: (function, args, kwargs)} of one pipeline.run of the core in `folder`, its results)."""
    pipe = load_core(name, folder)
    ex = importlib.import_module(name + ".exemplar")
    if not ex.INDEX.is_file():
        ex.INDEX = EXEMPLARS
    mods = {"pipeline": pipe, "hintfill": importlib.import_module(name + ".hintfill")}
    got: dict = {}
    for mod, attr in STEPS:
        if only and attr not in only:
            continue
        fn = getattr(mods[mod], attr)

        def recorded(*args, _fn=fn, _k=attr, **kwargs):
            mine = _k in HELPER_STEPS or threading.current_thread() is threading.main_thread()
            if mine and _k not in got:
                got[_k] = (_fn, copy.deepcopy(tuple(_plain(a) for a in args)), copy.deepcopy(kwargs))
            return _fn(*args, **kwargs)

        setattr(mods[mod], attr, recorded)
    models = {"colorize": pipe.describe_model(paths[0]), "stylize": pipe.describe_model(paths[1])}
    try:
        out = pipe.run(rgba, models=models, threads=2, provider="cpu")
    finally:
        for mod, attr in STEPS:
            if attr in got:
                setattr(mods[mod], attr, got[attr][0])
    return got, out


def same(a, b) -> bool:
    """Arrays (in tuples and lists) bit for bit equal; anything else counts as equal."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.bench.ab_steps", description=__doc__.split("\n\n")[0])
    p.add_argument("base")
    p.add_argument("new", nargs="?", default=os.path.join(REPO, "addon", "core"))
    p.add_argument("--rounds", type=int, default=150)
    p.add_argument("--case", choices=("bench", "house", "tall"), default="bench")
    p.add_argument("--steps", default="", help="comma-separated step names (default: all of STEPS)")
    args = p.parse_args(argv)
    from tools import demo
    from tools import evidence as ev

    infos = ev.shipped()
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    style = next(s for s in ev.by_kind(infos, "stylize").values() if "clay" in os.path.basename(s.path))
    bench = ev.load_rgb01(ev.golden_inputs()[0])
    if args.case == "house":
        rgba = demo.house(256)
    else:
        rgba = ev.to_rgba(ev.pil_resize(bench, *((256, 256) if args.case == "bench" else (700, 1024))))
    only = set(args.steps.split(",")) - {""}
    caps, outs = {}, {}
    for k, folder in (("base", args.base), ("new", args.new)):
        caps[k], outs[k] = capture("ab_steps_" + k, folder, rgba, (colorize.path, style.path), only)
    for stage in outs["base"]:
        print(
            f"{stage}: the two runs' results bit for bit equal: {same(outs['base'][stage], outs['new'][stage])}"
        )
    names = [s for _, s in STEPS if s in caps["base"] and s in caps["new"]]
    for s in names:
        results = []
        for k in ("base", "new"):
            fn, a, kw = caps[k][s]
            a2, kw2 = copy.deepcopy(a), copy.deepcopy(kw)
            r = fn(*a2, **kw2)
            results.append((r, a2[0]) if s in IN_PLACE else r)
        if s not in HELPER_STEPS:  # (the helper's steps hand on plans whose shape a change may alter)
            print(f"{s}: outputs bit for bit equal on its own arguments: {same(*results)}")
    wall = {(k, s): [] for k in caps for s in names}
    cpu = {(k, s): [] for k in caps for s in names}
    load = os.getloadavg()[0]
    for r in range(args.rounds):
        for s in names:
            for k in ("base", "new") if r % 2 == 0 else ("new", "base"):
                fn, a, kw = caps[k][s]
                a2, kw2 = copy.deepcopy(a), copy.deepcopy(kw)
                c0, t0 = time.thread_time(), time.perf_counter()
                fn(*a2, **kw2)
                wall[k, s].append((time.perf_counter() - t0) * 1e3)
                cpu[k, s].append((time.thread_time() - c0) * 1e3)
    print(f"\n{args.case}, {args.rounds} rounds, load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| step | thread | base ms CPU | new ms CPU | new - base CPU | new - base wall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in names:
        bc, nc = np.array(cpu["base", s]), np.array(cpu["new", s])
        bw, nw = np.array(wall["base", s]), np.array(wall["new", s])
        print(
            f"| {s} | {'helper' if s in HELPER_STEPS else 'calling'} | {np.median(bc):.3f} | {np.median(nc):.3f} | "
            f"{np.median(nc - bc):+.3f} | {np.median(nw - bw):+.3f} |"
        )


if __name__ == "__main__":
    main()
