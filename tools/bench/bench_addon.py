"""Add-on benchmark: main-thread blocking per Stylize, end-to-end latency, peak RSS at 2048², tile seams.

Runs the real extension (built and installed into a throw-away Blender profile) in a child process,
so bpy's one-import-per-process rule and the RSS measurement do not mix with other benchmarks.
Models: the bundled styles in addon/models/ when present, else the test suite's tiny trained models.
`python -m tools.bench.bench_addon --upscale` turns the bundled upscaler on too (off in `make bench`, as in
the add-on until the user picks one): the 2048² Stylize then upscales 3D Clay's 512 px result to 2048 px.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seam_score(out: np.ndarray, tile: int, starts_x, starts_y, smooth: int = 4) -> float:
    """Mean gradient of the (box-smoothed) output across tile borders / the same away from borders.

    1.0: borders look like the rest of the image. Smoothing over `smooth` px removes the models'
    fine texture, so what remains is what a seam is: a step in local tone where tiles meet."""
    from scipy.ndimage import uniform_filter

    out = uniform_filter(out.astype(np.float32), size=(smooth, smooth, 1))
    gx = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))
    gy = np.abs(np.diff(out, axis=0)).mean(axis=(1, 2))

    def cuts(starts, length):
        return sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < length})

    cx, cy = cuts(starts_x, out.shape[1]), cuts(starts_y, out.shape[0])
    border = np.concatenate([gx[[c - 1 for c in cx]], gy[[c - 1 for c in cy]]])
    keep_x, keep_y = np.ones_like(gx, bool), np.ones_like(gy, bool)
    for c in cx:
        keep_x[max(0, c - smooth - 1) : c + smooth] = False
    for c in cy:
        keep_y[max(0, c - smooth - 1) : c + smooth] = False
    return float(border.mean() / np.concatenate([gx[keep_x], gy[keep_y]]).mean())


SIZES = (256, 1024, 2048)
REPEATS = 3


def _models() -> dict:
    """The demo's choice: bundled colorize + stylize styles when present, else the tiny test models."""
    from tools import demo

    models = demo.bundled_models()
    if models is None:
        from tests.conftest import test_models_dir

        folder = str(test_models_dir())
        models = {
            "folder": folder,
            "colorize": "colorize",
            "stylize": "stylize",
            "names": {k: f"tiny test model {k}.onnx" for k in ("colorize", "stylize")},
            "paths": {k: os.path.join(folder, f"{k}.onnx") for k in ("colorize", "stylize")},
        }
    return models


def child(zip_path: str, models: dict) -> dict:
    """In a fresh Blender process: install the extension, then time Stylize at each size."""
    import importlib
    import resource
    import time

    import bpy

    from tools import demo

    demo.install(zip_path, models["folder"])
    runtime = importlib.import_module(f"{demo.PKG}.blender.runtime")
    imageio = importlib.import_module(f"{demo.PKG}.core.imageio")
    importlib.import_module(f"{demo.PKG}.blender.styles").styles()
    runtime.worker.wait_idle(600)  # style thumbnails
    runtime.drain()
    bpy.ops.mesh.primitive_plane_add()
    scene = bpy.context.scene
    scene.nftgan.colorize_id, scene.nftgan.stylize_id = models["colorize"], models["stylize"]
    if models.get("with_upscale"):  # (off by default, as in the add-on: `--upscale`)
        scene.nftgan.upscale_id = models["upscale"]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = {}
    for size in SIZES:
        bpy.ops.nftgan.new_canvas(size=str(size))
        sketch = scene.nftgan.sketch
        px = np.ones((size, size, 4), np.float32)
        imageio.draw_strokes(
            px,
            [
                [(0.2, 0.2), (0.8, 0.2), (0.8, 0.6), (0.2, 0.6), (0.2, 0.2)],
                [(0.15, 0.6), (0.5, 0.85), (0.85, 0.6)],
            ],
            width=size / 100,
        )
        sketch.pixels.foreach_set(px.ravel())
        del px  # (the bench's own drawing: 64 MB at 2048^2 that no user's Blender holds, out of the peak)
        submit, apply, longest, total, cpu = [], [], [], [], []
        for _ in range(REPEATS):
            c0, t0 = time.thread_time(), time.perf_counter()
            bpy.ops.nftgan.stylize()
            t1, c1 = time.perf_counter(), time.thread_time()
            while runtime.worker.busy():
                time.sleep(0.002)
            t2, c2 = time.perf_counter(), time.thread_time()
            jobs = runtime.drain(step=True)  # as Blender's timer: one result image per tick
            ticks = [time.perf_counter() - t2]
            while runtime.pending_steps():
                t = time.perf_counter()
                runtime.drain(step=True)
                ticks.append(time.perf_counter() - t)
            t3 = time.perf_counter()
            assert [j.state for j in jobs] == ["done"], [(j.state, j.error) for j in jobs]
            submit.append(t1 - t0)
            apply.append(sum(ticks))
            longest.append(max(t1 - t0, *ticks))
            total.append(t3 - t0)
            cpu.append(c1 - c0 + time.thread_time() - c2)  # the main thread's own CPU time: load-proof
        rows[size] = {
            "submit_ms": 1000 * float(np.median(submit)),
            "apply_ms": 1000 * float(np.median(apply)),
            "submit_min_ms": 1000 * min(submit),
            "apply_min_ms": 1000 * min(apply),
            "main_ms": 1000 * float(np.median(np.add(submit, apply))),
            "main_min_ms": 1000 * float(np.min(np.add(submit, apply))),
            "longest_ms": 1000 * float(np.median(longest)),
            "longest_min_ms": 1000 * min(longest),
            "cpu_ms": 1000 * float(np.median(cpu)),
            "cpu_min_ms": 1000 * min(cpu),
            "latency_s": float(np.median(total)),
        }
    rows["rss_before_mb"] = rss0
    rows["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rows


def seams(models: dict, size: int = 2048) -> dict:
    """Seam score of the colorize and stylize models over a size x size sketch: feathered vs plain tiles."""
    from nftgan.core import imageio, pipeline
    from nftgan.core.contract import describe_model

    px = np.ones((size, size, 4), np.float32)
    rng = np.random.default_rng(0)
    imageio.draw_strokes(px, [rng.uniform(0.05, 0.95, size=(5, 2)) for _ in range(12)], width=size / 150)
    x = pipeline.to_model_space(px)
    out = {}
    for kind, path in models["paths"].items():
        info = describe_model(path)
        sess, tile = pipeline.session(info), pipeline.tile_size(info)
        for overlap in (pipeline.OVERLAP, 0.0):
            y = pipeline.apply_model(x, info, sess, pipeline._NoJob(), overlap=overlap)
            starts = pipeline.tile_starts(size, tile, int(tile * overlap))
            out[(kind, overlap)] = (
                seam_score(y.transpose(1, 2, 0), tile, starts, starts),
                len(starts) ** 2,
                tile,
            )
    return out


def run_child(module: str, models: dict) -> dict:
    """The extension built and installed into a throw-away Blender profile, then `python -m MODULE --child ZIP
    MODELS` in the Blender venv (its `child` prints `RESULT <json>`): that result."""
    from tools import build_extension

    with tempfile.TemporaryDirectory(prefix="nftgan-bench-") as tmp:
        zip_path = build_extension.build(out_dir=os.path.join(tmp, "dist"), quiet=True)[0]
        env = dict(os.environ, BLENDER_USER_RESOURCES=os.path.join(tmp, "profile"), PYTHONPATH=ROOT)
        r = subprocess.run(
            [build_extension.blender_python(), "-m", module, "--child", zip_path, json.dumps(models)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise SystemExit(f"bench child failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return json.loads(line[0][7:])


def main(with_upscale: bool = False) -> list[tuple]:
    """The bench; `with_upscale`: Stylize with the bundled upscaler on too (the 2048^2 canvas: 3D Clay at its
    512 px work size, then x4), for its time and the peak RSS it adds (`python -m tools.bench.bench_addon
    --upscale`; `make bench` runs it off, as the add-on starts)."""

    models = _models()
    if with_upscale:
        if "upscale" not in models:
            raise SystemExit("--upscale: no upscale model bundled in addon/models/")
        models["with_upscale"] = True
    res = run_child("tools.bench.bench_addon", models)
    print(
        f"models: {models['names']['colorize']} + {models['names']['stylize']}"
        + (f" + {models['names']['upscale']}" if with_upscale else "")
    )
    print(
        f"{REPEATS} runs per size: median (fastest); CPU, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"{'sketch':>11} | {'main: submit (snapshot)':>23} | {'main: apply results':>19} | "
        f"{'main total':>17} | {'longest block':>17} | {'main CPU time':>17} | {'end-to-end':>10}"
    )
    for size in SIZES:
        r = res[str(size)]
        print(
            f"{size:>6}^2 px | {r['submit_ms']:>9.1f} ms ({r['submit_min_ms']:5.1f}) | "
            f"{r['apply_ms']:>7.1f} ms ({r['apply_min_ms']:5.1f}) | {r['main_ms']:>6.1f} ms ({r['main_min_ms']:5.1f}) | "
            f"{r['longest_ms']:>6.1f} ms ({r['longest_min_ms']:5.1f}) | "
            f"{r['cpu_ms']:>6.1f} ms ({r['cpu_min_ms']:5.1f}) | {r['latency_s']:>8.2f} s"
        )
    print(
        "main total / longest block: wall time the main thread spent in NFTGan's code (Stylize operator, each "
        "timer step); main CPU time: that thread's own CPU time (what load on the machine does not inflate)"
    )
    print(
        f"peak RSS of the Blender process through the 2048^2 Stylize: {res['rss_peak_mb']:.0f} MB "
        f"(before the first Stylize: {res['rss_before_mb']:.0f} MB)"
    )
    print("tile seams at 2048^2 (gradient across tile borders / elsewhere, 4 px smoothed; 1.00 = invisible):")
    for (kind, overlap), (score, n, tile) in seams(models).items():
        how = f"feathered, {int(overlap * 100)}% overlap" if overlap else "plain tiles (comparison)"
        print(f"  {kind:9} {n:3} tiles of {tile} px, {how:28}: {score:.3f}")
    r = res["1024"]
    goals = [
        ("main thread, longest block at 1024^2 ms", r["longest_ms"], r["longest_min_ms"], 20.0, "max"),
        ("main thread, total per Stylize 1024^2 ms", r["main_ms"], r["main_min_ms"], 20.0, "max"),
        ("peak RSS through a 2048^2 Stylize MB", res["rss_peak_mb"], res["rss_peak_mb"], 1024.0, "max"),
    ]
    goals = [(*g, "PASS" if g[1] <= g[3] else "MISS") for g in goals]
    from tools.bench.bench_models import print_goals

    print_goals(goals)
    return goals


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print("RESULT " + json.dumps(child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main(with_upscale="--upscale" in sys.argv[1:])
