"""Inference goals (issue 14) for the shipped default models (addon/models/), measured side by side in one run.

At 256 x 256, batch 1, 2 CPU threads, the default chain (the first colorize style -> each stylize style with
an int8 variant's precision as the add-on picks it, and the fp32 files):

- add-on pipeline: `core.pipeline.run` exactly as Stylize runs it, RGBA sketch in, RGBA results out;
- bare sessions: the same onnxruntime sessions called on an NCHW array, nothing else;
- torch eager: the same networks in PyTorch (rebuilt from the ONNX file's own weights, checked equal), same
  threads, `torch.inference_mode`;
- the FLOP-bound ideal: 2 x MACs / this machine's fp32 matmul peak on these threads, measured with numpy's
  OpenBLAS (its AVX-512 kernels: the `OPENBLAS_CORETYPE` override some environments set is removed for the
  measurement; torch.mm reaches about half of it here).

The variants take turns call by call (each going first in turn and following each other one about equally often),
so load from other programs falls on all of them alike; each call starts once no other thread of the bench runs
(`settle`: torch's OpenMP threads spin on for ~8 ms after an eager call, under load past a fixed 20 ms pause and
into the next call). Each ratio is the median of the per-round ratios (the calls of a round ran back to back, so a
load that comes and goes cancels out) and the ratio of the best calls. The eager ratios pair calls of the set
beside eager only: the pipeline's median from the set without eager is another stretch of the run, which load
moves either way, and the CPU-time ratio counts eager's OpenMP threads spinning inside its call. Pipeline / bare
is also given in CPU time (all threads, per round) and as the pipeline's own work in ms (wall and CPU, per round).
Counters that load does not disturb are printed beside them: page faults per call and the bytes the pipeline
allocates beyond the sessions' own output. Eager runs with malloc keeping freed memory
(`nftgan.core.cpu.keep_freed_memory`, as `nftgan train` has it; what a PyTorch deployment gets from jemalloc or
tcmalloc): with glibc's default it makes thousands of page faults a call, whose cost on a VM moves with the host
(eager from about 45 to about 62 ms within one session, the same code), and a goal met against that would not be.
Other programs' CPU use during the run is printed (Linux: /proc/stat less this process's own); above a quarter
of a CPU on average the eager rows' verdicts say "(busy machine)": torch eager's OpenMP threads lose far more to
them than onnxruntime's (at load 2.6 on 2 CPUs eager's median was 121 ms, its best 46), so the median ratio
against eager would flatter the pipeline.
Live preview: a sketch that changes every 40 ms handed to the worker (latest wins, the running preview ends),
each preview the pipeline plus the result's 8-bit, PNG and linear conversion, as the add-on's worker does.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter

import numpy as np

THREADS = 2
SIDE = 256
PAUSE = 0.02  # s between calls at least; then `settle` waits until no other thread of the bench runs
SETTLE_LIMIT = 0.2  # s: the longest `settle` waits (torch spun on 44 ms at most, at load 4-5)
ROUNDS = 60  # calls per variant, taking turns: the median of 12 moved by several % between runs on the shared machine
EAGER_ROUNDS = 20  # the pipelines beside torch eager (slower calls)
LIVE_SECONDS = 6.0
BUSY = 0.25  # CPUs' worth of other programs' work on average during the run above which the eager ratios are marked
LIVE_EVERY = 0.04  # s between looks at the sketch, as the add-on's live preview (stylize.LIVE_INTERVAL)
GOALS = {  # name -> (target, "max" or "min")
    "fp32 pipeline / torch eager": (0.8, "max"),
    "auto (int8) pipeline / torch eager": (0.8, "max"),
    "pipeline / FLOP-bound ideal": (2.0, "max"),
    "pipeline / bare sessions": (1.05, "max"),
    "live preview updates/s": (10.0, "min"),
}

PEAK_SCRIPT = """
import json, time, numpy as np
best = 0.0
for n in (1024, 2048):
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    a @ b
    for _ in range(5):
        t0 = time.perf_counter(); a @ b; best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
print(json.dumps(best))
"""


def matmul_peak(threads: int = THREADS) -> float:
    """fp32 GFLOP/s of numpy's matmul on `threads` threads: the larger of its best on all of them and its best
    on one thread x `threads` (on a shared machine one straggling thread drags the first down). A fresh
    process each: the BLAS reads its thread count and kernel choice at start; OPENBLAS_CORETYPE is unset so
    OpenBLAS takes the CPU's own (AVX-512) kernels."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    best = 0.0
    for n in (threads, 1):
        env.update(OPENBLAS_NUM_THREADS=str(n), OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
        out = subprocess.run(
            [sys.executable, "-c", PEAK_SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        best = max(best, float(json.loads(out.stdout)) * threads / n)
    return best


def torch_twin(path: str):
    """The PyTorch generator an exported model was made from, rebuilt from the ONNX file's weights (the
    exporter keeps the state_dict names); (net, MACs per 256 px image). None when no architecture fits."""
    import onnx
    import torch
    from nftgan.core.contract import describe_model
    from nftgan.export import onnx_export as ox
    from nftgan.training.blocks import build_image_generator
    from onnx import numpy_helper

    info = describe_model(path)
    weights = {
        t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
        for t in onnx.load(path).graph.initializer
        if "." in t.name
    }
    first = next(iter(weights.values()))
    ngf = first.shape[0]
    for net_g in ("unet", "resnet_9blocks", "resnet_6blocks"):
        for upsample in ("resize", "transposed"):
            for norm in ("instance", "batch"):
                try:
                    net = build_image_generator(net_g, info.size, ngf, norm, False, upsample=upsample).eval()
                    net.load_state_dict(weights, strict=False)
                except (RuntimeError, ValueError):
                    continue
                want = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
                if want != set(weights):
                    continue
                x = torch.zeros(1, 3, SIDE, SIDE)
                return net, ox.count_macs(net, x)
    return None


def _variant(info):
    """A model's int8 variant (NAME.int8.onnx beside it) when it has one, else the model itself."""
    from nftgan.core.contract import describe_model
    from nftgan.core.styles import INT8_SUFFIX

    path = info.path[: -len(".onnx")] + INT8_SUFFIX
    return describe_model(path) if os.path.isfile(path) else info


def _others_running() -> bool:
    """Whether a thread of this process other than the calling one is running or waiting for a core (Linux)."""
    me = str(threading.get_native_id())
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:  # (the thread ended)
            continue
        if tid != me and stat[stat.rindex(")") + 2] == "R":
            return True
    return False


def settle(pause: float = PAUSE) -> float:
    """Sleep `pause`, then until no other thread of this process runs (at most SETTLE_LIMIT s); the seconds
    waited beyond `pause`. torch's OpenMP (libgomp) threads spin on after each eager call: 8 ms at the median,
    17 ms at most at load 2.4, up to 44 ms at load 4-5, where they took 3-7 ms of CPU inside the next call."""
    time.sleep(pause)
    t0, waited = time.perf_counter(), 0.0
    while os.path.isdir("/proc/self/task") and _others_running() and waited < SETTLE_LIMIT:
        time.sleep(0.001)
        waited = time.perf_counter() - t0
    return waited


def _orders(keys: list, rounds: int) -> list[tuple]:
    """The order of each round: each variant goes first in turn and follows each other one about equally often
    (none itself where it can be helped), so whatever a call leaves behind falls on all alike. (In plain rotation
    the pipeline came right after eager in 2 rounds of 3, the int8 pipeline in 1.)"""
    pairs, firsts, last, out = Counter(), Counter(), None, []
    for _ in range(rounds):
        order = min(
            itertools.permutations(keys),
            # first the one that went first least, then the fewest repeated (before, after) pairs, none self-self
            key=lambda o: (firsts[o[0]], sum(pairs[p] + 99 * (p[0] == p[1]) for p in zip([last, *o], o))),
        )
        pairs.update(zip([last, *order], order))
        firsts[order[0]] += 1
        last = order[-1]
        out.append(order)
    return out


def _interleaved(
    fns: dict, rounds: int, cpu: dict | None = None, log: list | None = None
) -> dict[str, list[float]]:
    """Wall seconds per call of each function, taking turns call by call (after one warm-up call each), each
    call after `settle`. `cpu`, when given, gets the process CPU seconds per call (all threads: what load on
    the machine inflates far less than the wall clock); `log` (variant, the variant called before it, wall s,
    s settle waited beyond PAUSE) per call."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    cpu = {} if cpu is None else cpu
    cpu.update({k: [] for k in fns})
    before = None
    for order in _orders(list(fns), rounds):
        for k in order:
            waited = settle()
            c0, t0 = time.process_time(), time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
            if log is not None:
                log.append((k, before, times[k][-1], waited))
            before = k
    return times


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """(median of the per-round ratios a[i] / b[i], best a / best b): calls i of a round ran back to back."""
    return float(np.median(np.divide(a, b))), min(a) / min(b)


def _faults_and_bytes(fn, n: int = 5) -> tuple[float, int]:
    """(minor page faults per call, peak bytes numpy allocated in a call), after two warm-up calls."""
    fn()
    fn()
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        fn()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / n
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return faults, peak


def live_rate(models: dict, rgba: np.ndarray, seconds: float = LIVE_SECONDS) -> tuple[float, int, int]:
    """(updates per second, previews finished, looks handed over) with the sketch changing at every look."""
    from nftgan.core import imageio, jobs, pipeline

    worker = jobs.Worker("bench-live")
    done = []

    def look(i):
        px = rgba.copy()
        t = (i % 50) / 50
        imageio.draw_strokes(px, [[(0.1 + 0.8 * t, 0.1), (0.9 - 0.8 * t, 0.9)]], width=3.0)

        def work(job):
            results = pipeline.run(px, models=models, job=job, threads=THREADS, provider="cpu")
            return [imageio.result_payload(r) for r in results.values()]

        return worker.submit(work, key="live", latest_wins=True, keep_running=True, on_done=done.append)

    try:
        look(0)  # warm-up (sessions exist already)
        worker.wait_idle(60)
        worker.drain()
        done.clear()
        t0, looks = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            look(looks)
            looks += 1
            worker.drain()
            time.sleep(LIVE_EVERY)
        elapsed = time.perf_counter() - t0
        worker.drain()
        finished = sum(j.state == jobs.DONE for j in done)
    finally:
        worker.shutdown(30)
    return finished / elapsed, finished, looks


def _others_cpu() -> tuple[float, float] | None:
    """(CPU seconds all programs but this one have used since boot, monotonic seconds now), from /proc/stat
    (Linux; None elsewhere): the busy time of every CPU less this process's own."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # (user .. steal but idle and iowait; guest is in user)
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK") - own.user - own.system, time.monotonic()


def verdict(name: str, median: float, best: float) -> str:
    target, how = GOALS[name]
    ok = median <= target if how == "max" else median >= target
    return "PASS" if ok else "MISS"


def main() -> list[tuple]:
    import torch
    from nftgan.core import cpu, pipeline

    from tools import evidence as ev

    others0 = _others_cpu()

    infos = ev.shipped()
    if not infos:
        print(f"no models in {ev.MODELS}: run `make models`")
        return []
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    styles_ = list(ev.by_kind(infos, "stylize").values())
    style = next((s for s in styles_ if "clay" in s.path), styles_[0])
    sketch = ev.pil_resize(ev.load_rgb01(ev.golden_inputs()[0]), SIDE, SIDE)
    rgba = ev.to_rgba(sketch)
    x = np.ascontiguousarray((sketch.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32))
    torch.set_num_threads(THREADS)
    twins = [torch_twin(colorize.path), torch_twin(style.path)]
    peak = matmul_peak()
    sessions = [pipeline.session(i, THREADS, "cpu") for i in (colorize, style)]
    models = {"colorize": colorize, "stylize": style}
    # what the add-on runs by default: each style's int8 variant where the CPU has VNNI/AMX (Precision: auto)
    auto = {k: _variant(m) if cpu.int8_pays() else m for k, m in models.items()}

    def bare():
        y = x
        for s in sessions:
            (y,) = s.run(None, {s.get_inputs()[0].name: y})
        return y

    def run_pipeline():
        return pipeline.run(rgba, models=models, threads=THREADS, provider="cpu")

    fns = {"pipeline": run_pipeline, "bare": bare}
    if auto != models:
        fns["pipeline, auto"] = lambda: pipeline.run(rgba, models=auto, threads=THREADS, provider="cpu")
    if all(twins):
        xt = torch.from_numpy(x)
        with torch.inference_mode():  # the twins compute what the exported files compute
            y = xt
            for net, _ in twins:
                y = net(y)
        err = float(np.abs(y.numpy() - bare()).max())

        def eager():
            with torch.inference_mode():
                y = xt
                for net, _ in twins:
                    y = net(y)
            return y

        fns["eager"] = eager
    # two sets, each taking turns: the onnxruntime variants alone (pipeline / bare, the ideal), then the
    # pipelines beside eager (its ratios are of this set's calls only)
    # pipelines beside eager (its ratios are of this set's calls only), eager with malloc keeping freed memory
    cpu_s: dict[str, list[float]] = {}
    log: list[tuple] = []
    times = _interleaved({k: f for k, f in fns.items() if k != "eager"}, ROUNDS, cpu_s)
    faults = {k: _faults_and_bytes(fns[k]) for k in ("pipeline", "bare")}
    vs_eager: dict[str, list[float]] = {}
    if "eager" in fns:
        eager_faults = _faults_and_bytes(fns["eager"])[0]
        kept = cpu.keep_freed_memory()  # (for the rest of this process)
        eager_kept_faults = _faults_and_bytes(fns["eager"])[0]
        vs_eager = _interleaved({k: f for k, f in fns.items() if k != "bare"}, EAGER_ROUNDS, cpu2 := {}, log)
        times["eager"], cpu_s["eager"] = vs_eager["eager"], cpu2["eager"]
    med = {k: float(np.median(v)) for k, v in times.items()}
    cpu_med = {k: float(np.median(v)) for k, v in cpu_s.items()}
    best = {k: min(v) for k, v in times.items()}
    rate, finished, looks = live_rate(auto, rgba)
    load = os.getloadavg()[0]

    print(
        f"{colorize.name} -> {style.name} at {SIDE}x{SIDE}, {THREADS} threads, onnxruntime CPU; "
        f"{ROUNDS} rounds taking turns (with eager: {EAGER_ROUNDS}); load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'variant':<16} {'median ms':>9} {'best ms':>8} {'CPU ms':>7}  page faults/call  bytes allocated/call"
    )
    for k in fns:
        extra = f"  {faults[k][0]:16.1f}  {faults[k][1] / 1e6:10.2f} MB" if k in faults else ""
        print(f"{k:<16} {1e3 * med[k]:9.1f} {1e3 * best[k]:8.1f} {1e3 * cpu_med[k]:7.1f}{extra}")
    own = np.subtract(times["pipeline"], times["bare"]), np.subtract(cpu_s["pipeline"], cpu_s["bare"])
    print(
        f"pipeline / bare per round: wall {paired(times['pipeline'], times['bare'])[0]:.3f}, CPU time (all "
        f"threads) {paired(cpu_s['pipeline'], cpu_s['bare'])[0]:.3f}; the pipeline's own work (pipeline - bare, "
        f"median per round): {1e3 * np.median(own[0]):.2f} ms wall, {1e3 * np.median(own[1]):.2f} ms CPU"
        + (
            f"; fp32 pipeline / eager in CPU time: {paired(cpu2['pipeline'], cpu2['eager'])[0]:.2f}"
            if "eager" in cpu_med
            else ""
        )
    )
    rows = []
    if "eager" in fns:
        after = {k: [w for v, b, w, _ in log if v == "pipeline" and b == k] for k in fns}
        spun = [1e3 * t for _, b, _, t in log if b == "eager"]
        print(
            f"pipeline beside eager {1e3 * np.median(vs_eager['pipeline']):.1f} ms at the median (alone "
            f"{1e3 * med['pipeline']:.1f}: another stretch of the run), "
            + ", ".join(f"after {k} {1e3 * np.median(v):.1f}" for k, v in after.items() if v)
            + f"; torch's threads spun on past the {1e3 * PAUSE:.0f} ms pause after eager by {np.median(spun):.1f} "
            f"ms (median), {max(spun):.1f} at most: waited out before the next call"
        )
        macs = sum(m for _, m in twins)
        ideal = 2 * macs / (peak * 1e9)
        print(
            f"torch twins equal the ONNX files to {err:.1e}; {macs / 1e9:.2f} GMACs; fp32 matmul peak "
            f"{peak:.0f} GFLOP/s on {THREADS} threads (numpy/OpenBLAS) -> FLOP-bound ideal {1e3 * ideal:.1f} ms"
        )
        rows.append(("fp32 pipeline / torch eager", *paired(vs_eager["pipeline"], vs_eager["eager"])))
        rows.append(("pipeline / FLOP-bound ideal", med["pipeline"] / ideal, best["pipeline"] / ideal))
    else:
        print("no PyTorch architecture matches these files' weights: no eager or ideal rows")
    if "pipeline, auto" in fns and "eager" in fns:
        names = ", ".join(os.path.basename(m.path) for m in auto.values())
        print(f"pipeline, auto: what the add-on runs here by default (Precision: auto -> {names})")
        rows.append(
            ("auto (int8) pipeline / torch eager", *paired(vs_eager["pipeline, auto"], vs_eager["eager"]))
        )
    rows.append(("pipeline / bare sessions", *paired(times["pipeline"], times["bare"])))
    rows.append(("live preview updates/s", rate, rate))
    print(f"live preview: {finished} previews of {looks} changing looks in {LIVE_SECONDS:.0f} s")
    if "eager" in fns:
        print(
            f"torch eager makes {eager_faults:.0f} page faults a call with this process's malloc as it stood "
            "(thousands with glibc's default; few once an earlier bench here trained: `nftgan train` keeps freed "
            f"memory) (the pipeline {faults['pipeline'][0]:.0f}), "
            + (
                f"{eager_kept_faults:.0f} with malloc keeping freed memory, as it ran beside the pipelines (what a "
                "PyTorch deployment gets from jemalloc or tcmalloc; a fault's cost here moved eager from about 45 to "
                "about 62 ms within one session)"
                if kept
                else "as it ran beside the pipelines (not glibc: malloc left as it is)"
            )
        )
    goals = [(name, m, b, *GOALS[name], verdict(name, m, b)) for name, m, b in rows]
    others = _others_cpu()
    busy = others and others0 and (others[0] - others0[0]) / (others[1] - others0[1])
    if busy is not None:
        print(f"other programs' CPU use during this bench: {busy:.2f} CPUs on average")
    if busy and busy > BUSY and "eager" in fns:  # (onnxruntime's own ratios: load falls on both calls alike)
        goals = [(*g[:5], g[5] + " (busy machine)") if "eager" in g[0] else g for g in goals]
        print(
            "the machine was busy: torch eager's OpenMP threads lose far more than onnxruntime's to other programs "
            "(eager's median 2-3x its best), so the eager ratios' medians flatter the pipeline; rerun "
            "`python -m tools.bench.bench_models` on a quiet machine before reading them"
        )
    print_goals(goals)
    return goals


def print_goals(goals: list[tuple]) -> None:
    print(f"{'goal':<42} {'median':>8} {'best':>8} {'target':>9}  verdict")
    for name, m, b, target, how, v in goals:
        print(f"{name:<42} {m:8.2f} {b:8.2f} {('<= ' if how == 'max' else '>= ') + f'{target:g}':>9}  {v}")


if __name__ == "__main__":
    main()
