"""Where the Blender process's peak RSS goes through bench_addon's Stylizes: VmRSS over time, by step.

Runs bench_addon's child (the real extension in a child Blender process) with a sampler thread that reads
/proc/self/status (VmRSS, RssAnon) every RSS_PROFILE_DT seconds (default 0.002), and wraps the add-on's steps
(the pipeline's stages, not pipeline.run itself: a wrapper's arguments would keep the sketch's snapshot alive;
the worker's result payloads; the main thread's drains, snapshot and result writes, with the page faults each
step made on its thread) so each sample records the step each thread was in. Prints every image's pixel crc32
(compare two versions bit for bit), the peak and the steps around it. RSS_TRACEMALLOC=1: numpy's live arrays
(by where they were made) at the end of each 2048 px to_image_space. RSS_PROFILE_OUT=file.json keeps it all.
Linux only (/proc).

    NFTGAN_BLENDER_PYTHON=$PWD/.venv-bpy-5.3.0/bin/python .venv/bin/python -m tools.bench.rss_profile [--upscale]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time

# a thread's own page faults (Linux), recorded for each step
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def vm(field: str = "VmRSS") -> float:
    """MB of `field` in /proc/self/status."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """VmRSS every `dt` seconds, with what each thread was doing (`step()` marks)."""

    def __init__(self, dt: float = 0.002):
        self.dt, self.samples, self.marks, self.events, self.traced = dt, [], {}, [], []
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")

    def _loop(self):
        while not self._stop.is_set():
            rss, anon = vm(), vm("RssAnon")
            with self._lock:
                self.samples.append((time.perf_counter() - self.t0, rss, dict(self.marks), anon))
            time.sleep(self.dt)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.thread.join()

    def wrap(self, module, name: str, label: str | None = None):
        fn = getattr(module, name)
        label = label or name
        sampler = self

        def wrapped(*args, **kwargs):
            who = threading.current_thread().name
            with sampler._lock:
                prev = sampler.marks.get(who)
                sampler.marks[who] = label if prev is None else f"{prev} > {label}"
            rss0 = vm()
            f0 = resource.getrusage(RUSAGE_THREAD).ru_minflt
            t = time.perf_counter() - sampler.t0
            try:
                return fn(*args, **kwargs)
            finally:
                rss1 = vm()
                faults = resource.getrusage(RUSAGE_THREAD).ru_minflt - f0
                with sampler._lock:
                    sampler.events.append(
                        (t, time.perf_counter() - sampler.t0, who, label, rss0, rss1, faults)
                    )
                    if prev is None:
                        sampler.marks.pop(who, None)
                    else:
                        sampler.marks[who] = prev

        setattr(module, name, wrapped)

    def mark(self, label: str):
        with self._lock:
            self.marks["main-phase"] = label


def child(zip_path: str, models: dict) -> dict:
    import importlib

    from tools.bench import bench_addon

    sampler = Sampler(float(os.environ.get("RSS_PROFILE_DT", "0.002")))
    real_import = importlib.import_module
    wrapped = {}

    def hook(name):  # wrap once the extension is installed (bench_addon.child imports its modules then)
        from tools import demo

        pipeline = real_import(f"{demo.PKG}.core.pipeline")
        images = real_import(f"{demo.PKG}.blender.images")
        imageio = real_import(f"{demo.PKG}.core.imageio")
        runtime = real_import(name)
        sampler.wrap(runtime, "drain", "runtime.drain")
        # (a result's write: the pieces of `images.write_steps`)
        sampler.wrap(runtime, "_run_later", "runtime.step")
        for mod, names in (
            (pipeline, ("apply_model", "to_image_space", "unring", "to_model_space", "_rgba_of")),
            (images, ("snapshot", "result_payload")),
            (imageio, ("result_payload",)),
        ):
            for n in names:
                sampler.wrap(mod, n, f"{mod.__name__.rsplit('.', 1)[-1]}.{n}")
        wrapped["done"] = True
        if os.environ.get(
            "RSS_TRACEMALLOC"
        ):  # what is alive (numpy's arrays, by where they were made) at the
            # end of each 2048 px to_image_space: the peak's moment
            import tracemalloc

            tracemalloc.start(12)
            inner = pipeline.to_image_space

            def traced(*args, **kwargs):
                out = inner(*args, **kwargs)
                if out.shape[0] >= 2048:
                    snap = tracemalloc.take_snapshot()
                    alive = []
                    for st in snap.statistics("traceback"):
                        if st.size >= 4 << 20:
                            frames = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in st.traceback]
                            alive.append((st.size >> 20, " > ".join(frames[-5:])))
                    sampler.traced.append((time.perf_counter() - sampler.t0, vm(), alive))
                return out

            pipeline.to_image_space = traced

    def import_module(name, *a, **k):
        mod = real_import(name, *a, **k)
        if name.endswith(".blender.runtime") and not wrapped:
            hook(name)
            mod = real_import(name)  # (drain wrapped)
        return mod

    importlib.import_module = import_module
    import gc

    gcs, gc_t0 = [], {}

    def on_gc(phase, info):  # the cyclic collector's pauses, by thread and generation
        who = threading.current_thread().name
        if phase == "start":
            gc_t0[who] = time.perf_counter()
        elif who in gc_t0:
            t = gc_t0.pop(who)
            gcs.append((t - sampler.t0, 1000 * (time.perf_counter() - t), who, info["generation"]))

    gc.callbacks.append(on_gc)
    # (pipeline.run is not wrapped: a wrapper's arguments would keep the sketch's snapshot alive through it)
    sampler.start()
    res = bench_addon.child(zip_path, models)
    sampler.stop()
    import zlib

    import bpy
    import numpy as np

    res["images"] = {}
    for im in bpy.data.images:  # every image's pixels (results: to compare versions bit for bit)
        w, h = im.size
        buf = np.empty(w * h * im.channels, np.float32)
        im.pixels.foreach_get(buf)
        res["images"][im.name] = [w, h, im.channels, bool(im.is_float), zlib.crc32(buf)]
    res["samples"] = sampler.samples
    res["events"] = sampler.events
    res["traced"] = sampler.traced
    gc.callbacks.remove(on_gc)
    res["gc"] = gcs
    res["hwm_mb"] = vm("VmHWM")
    return res


def report(res: dict) -> None:
    samples, events = res["samples"], res["events"]
    for name, (w, h, c, is_float, crc) in sorted(res["images"].items()):
        print(f"image {name!r}: {w}x{h}x{c} {'float' if is_float else 'byte'} pixels crc32 {crc:08x}")
    peak = max(samples, key=lambda s: s[1])
    apeak = max(samples, key=lambda s: s[3])
    print(
        f"peak RssAnon sampled {apeak[3]:.0f} MB at t={apeak[0]:.2f} s (RSS then {apeak[1]:.0f}), threads in: {apeak[2]}"
    )
    print(
        f"peak RSS sampled {peak[1]:.0f} MB at t={peak[0]:.2f} s (VmHWM {res['hwm_mb']:.0f} MB), threads in: {peak[2]}"
    )
    print(f"before the first Stylize {res['rss_before_mb']:.0f} MB; ru_maxrss {res['rss_peak_mb']:.0f} MB")
    print(
        f"{'t0 s':>7} {'t1 s':>7} {'thread':>22} {'step':<28} {'RSS in':>7} {'max in':>7} {'RSS out':>7} {'faults':>7}"
    )
    for t0, t1, who, label, rss0, rss1, faults in sorted(events):
        inside = [s[1] for s in samples if t0 <= s[0] <= t1] or [rss1]
        if label.endswith(("runtime.step", "result_payload", "snapshot")) or max(inside) > peak[1] - 150:
            print(
                f"{t0:7.2f} {t1:7.2f} {who[-22:]:>22} {label:<28} {rss0:7.0f} {max(inside):7.0f} {rss1:7.0f} {faults:7d}"
            )


def main(with_upscale: bool) -> None:
    from tools.bench import bench_addon

    models = bench_addon._models()
    if with_upscale:
        models["with_upscale"] = True
    res = bench_addon.run_child("tools.bench.rss_profile", models)
    out = os.environ.get("RSS_PROFILE_OUT")
    if out:
        with open(out, "w") as fh:
            json.dump(res, fh)
    report(res)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print("RESULT " + json.dumps(child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main("--upscale" in sys.argv[1:])
