"""Where the add-on pipeline's own work goes, step by step: `core.pipeline.run` with its steps timed.

    python -m tools.bench.profile_steps [--side 256] [--runs 20] [--threads 2]

The default chain (the first colorize style -> 3D Clay in addon/models/) on the bench's sketch (the first
golden sketch, no dabs) and on the demo house with its colour dabs, at `--side` px. Every pipeline, hintfill,
colour and exemplar function named in STEPS is wrapped to record its wall time and its thread's CPU time
(`time.thread_time`), inclusive of the steps it calls; the table gives the median per run over `--runs` runs,
per thread (MainThread: the caller's, which also runs the sessions; the helper thread of `_Beside`), the
steps indented under the step that called them. `_run_tile` is the sessions' time (the CPU column: the
calling thread's share only; onnxruntime's own thread is not counted). Wrapping costs a few microseconds a
call: the figures are for finding the big steps, not for ratios (`tools.bench models` measures those).
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import threading
import time

import numpy as np

STEPS = {
    "pipeline": (
        "to_model_space at_work_size apply_model _run_tile line_layer _sketch_work _keep_ahead _paper_weight "
        "_input_colours _shift_ahead _soft_edges _keep _keep_colours_of _shift _toward _hazeless _haze_plan _as_seen _rgba_of "
        "_model_space_of to_image_space _box"
    ),
    "hintfill": (
        "prepare regions hints hint_mask has_hints paper _under_plan fill dab_groups _fill_dabs _under_lines "
        "_open_part _hint_groups guard_leaks _distances _blot _rim_distance _smooth_fill _unglow _open_paper_regions "
        "label_regions grow auto_plan auto_fill _region_median"
    ),
    "colour": "lab_f lab_f_y srgb_of_f srgb_decode srgb_encode lab srgb mat3 f f_inv",
    "exemplar": "plan_colours match_objects objects match descriptor tops _apart beside_dabs for_plan _painted",
}


class Recorder:
    """Wall and thread CPU seconds and calls per (thread, call path), for the current run."""

    def __init__(self):
        self.local = threading.local()
        self.times: dict = collections.defaultdict(lambda: [0.0, 0.0, 0])
        self.order: list = []

    def wrap(self, fn, label: str):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            stack = self.local.__dict__.setdefault("stack", [])
            stack.append(label)
            key = (threading.current_thread().name.split("_")[0], " > ".join(stack))
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = self.times[key]
                entry[0] += time.perf_counter() - w0
                entry[1] += time.thread_time() - c0
                entry[2] += 1
                if key not in self.order:
                    self.order.append(key)
                stack.pop()

        return timed


def instrument(rec: Recorder) -> None:
    """Wrap STEPS in place (module attributes: the pipeline looks them up there at each call)."""
    from nftgan.core import colour, exemplar, hintfill, pipeline

    modules = {"pipeline": pipeline, "hintfill": hintfill, "colour": colour, "exemplar": exemplar}
    for mod, names in STEPS.items():
        for name in names.split():
            wrapped = rec.wrap(getattr(modules[mod], name), name)
            setattr(modules[mod], name, wrapped)
            if mod == "colour" and hasattr(hintfill, name):  # (imported by name there)
                setattr(hintfill, name, wrapped)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench.profile_steps", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from nftgan.core import pipeline

    from tools import demo
    from tools import evidence as ev

    infos = ev.shipped()
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    style = next(s for s in ev.by_kind(infos, "stylize").values() if "clay" in os.path.basename(s.path))
    models = {"colorize": colorize, "stylize": style}
    sketch = ev.pil_resize(ev.load_rgb01(ev.golden_inputs()[0]), args.side, args.side)
    cases = {"bench sketch (no dabs)": ev.to_rgba(sketch), "demo house (dabs)": demo.house(args.side)}
    rec = Recorder()
    instrument(rec)
    run = rec.wrap(pipeline.run, "run")
    print(f"{args.side}x{args.side}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    for name, rgba in cases.items():
        for _ in range(3):
            run(rgba, models=models, threads=args.threads, provider="cpu")
        rec.order.clear()
        per = []
        for _ in range(args.runs):
            rec.times.clear()
            run(rgba, models=models, threads=args.threads, provider="cpu")
            per.append({k: tuple(v) for k, v in rec.times.items()})
        print(f"\n{name}: median of {args.runs} runs, ms per run (inclusive of the steps below it)\n")
        print("| thread | step | calls | wall ms | CPU ms |\n| --- | --- | --- | --- | --- |")
        for key in rec.order:
            got = [run_.get(key, (0.0, 0.0, 0)) for run_ in per]
            wall, cpu, calls = (float(np.median([g[i] for g in got])) for i in range(3))
            step = key[1].split(" > ")
            print(
                f"| {key[0]} | {'. ' * (len(step) - 1)}{step[-1]} | {calls:g} | {wall * 1e3:.2f} | {cpu * 1e3:.2f} |"
            )


if __name__ == "__main__":
    main()
