"""Latency of the shipped default models (addon/models/) in onnxruntime on 2 CPU threads, at 256 x 256.

Rows, all measured in this one run:
- colorize -> <style>, whole image: each model run once on the full 256 px image (fully convolutional)
- colorize -> <style>, add-on pipeline: `addon.core.pipeline.run` exactly as the Stylize button runs it
  (tiles of each model's trained size with 25 % overlap, feathered), from an RGBA sketch to RGBA results
- <upscaler> 256 -> 1024 through the pipeline (the optional last stage)
Target: colorize -> stylize within 300 ms.
"""

from __future__ import annotations

import time

import numpy as np

THREADS = 2
SIDE = 256
TARGET_MS = 300.0


def _time(fn, repeats: int = 10) -> tuple[float, float]:
    fn()  # warm-up: session creation, first-run allocations
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 90))


def main() -> None:
    from nftgan.core import pipeline

    from tools import evidence as ev

    infos = ev.shipped()
    if not infos:
        print(f"no models in {ev.MODELS}: run `make models`")
        return
    total = sum(ev.Path(i.path).stat().st_size for i in infos.values()) / 1e6
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    sketch_path = ev.golden_inputs()[0]
    sketch = ev.pil_resize(ev.load_rgb01(sketch_path), SIDE, SIDE)
    rgba = ev.to_rgba(sketch)
    x = (sketch.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32)

    def whole(info, inp):
        sess = pipeline.session(info, THREADS, "cpu")
        return sess.run(None, {sess.get_inputs()[0].name: inp})[0]

    rows = []
    for style in ev.by_kind(infos, "stylize").values():
        label = f"{colorize.name} -> {style.name}"
        med, p90 = _time(lambda style=style: whole(style, whole(colorize, x)))
        rows.append((label, "whole image", med, p90, True))
        models = {"colorize": colorize, "stylize": style}
        med, p90 = _time(
            lambda models=models: pipeline.run(rgba, models=models, threads=THREADS, provider="cpu")
        )
        rows.append((label, "add-on pipeline", med, p90, True))
    for up in ev.by_kind(infos, "upscale").values():
        med, p90 = _time(
            lambda up=up: pipeline.run(rgba, models={"upscale": up}, threads=THREADS, provider="cpu"),
            repeats=5,
        )
        rows.append((f"{up.name} {SIDE} -> {SIDE * up.scale}", "add-on pipeline", med, p90, False))
    print(
        f"default models: {len(infos)} files, {total:.1f} MB (budget 60 MB); onnxruntime CPU, "
        f"{THREADS} threads, {SIDE}x{SIDE} input"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'chain'.ljust(width)}  {'path':<16} {'median ms':>9} {'p90 ms':>8}  vs 300 ms target")
    for label, path, med, p90, in_target in rows:
        verdict = f"{med / TARGET_MS:.2f}x of target" if in_target else "(optional stage)"
        print(f"{label.ljust(width)}  {path:<16} {med:9.0f} {p90:8.0f}  {verdict}")


if __name__ == "__main__":
    main()
