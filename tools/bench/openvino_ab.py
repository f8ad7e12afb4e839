"""Another runtime, measured: OpenVINO against onnxruntime on the shipped files (issue 14's "another runtime").

    python3.11 -m venv /tmp/ov && /tmp/ov/bin/pip install openvino==2026.4.1 onnxruntime==1.22.1 numpy pillow
    /tmp/ov/bin/pip install --no-deps -e .        # nftgan.core, for onnxruntime sessions as the add-on makes them
    /tmp/ov/bin/python -m tools.bench.openvino_ab [--rounds 40]

Not a dependency of NFTGan: this measures whether it should be (docs/benchmarks.md, session 23). Both runtimes
read the same ONNX files. onnxruntime sessions are `core.pipeline.session`'s; OpenVINO compiles each file for
the CPU with the same 2 threads and the latency hint, at the precision named (`f32`; `bf16`, OpenVINO's default
on a CPU with AVX512-BF16 or AMX; the int8 files' QDQ convolutions at `f32` elsewhere). Printed:
- the default chain (colorize -> 3D Clay) at 256² on the bench's sketch and the upscaler at 128 and 256 px,
  each variant taking turns call by call (the order rotating each round), median / best ms and the median of the
  per-round ratios to onnxruntime fp32;
- each variant's chain output against onnxruntime fp32 on the golden and held-out sketches (heldout/A; PSNR on [-1, 1],
  the worst sketch; the largest 8-bit difference);
- the calling thread's longest pause while another thread runs the chain (does the runtime hold the GIL?);
- the resident memory the runtime and its compiled models add.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "addon" / "models"
GOLDEN = ROOT / "tests" / "models" / "golden"
THREADS = 2
CHAIN = {
    "fp32": ("colorize-flat.onnx", "stylize-clay.onnx"),
    "int8": ("colorize-flat.int8.onnx", "stylize-clay.int8.onnx"),
}
UPSCALE = {"fp32": ("upscale-x4.onnx",), "int8": ("upscale-x4.int8.onnx",)}
# variant -> (runtime, files, OpenVINO precision)
VARIANTS = {
    "onnxruntime fp32": ("ort", "fp32", None),
    "onnxruntime int8": ("ort", "int8", None),
    "OpenVINO f32": ("ov", "fp32", "f32"),
    "OpenVINO bf16": ("ov", "fp32", "bf16"),
    "OpenVINO int8": ("ov", "int8", "f32"),
}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def sketch(path: Path, side: int) -> np.ndarray:
    """(1, 3, side, side) float32 in [-1, 1], as bench_models feeds the bare sessions."""
    im = Image.open(path).convert("RGB").resize((side, side), Image.BICUBIC)
    return np.ascontiguousarray((np.asarray(im, np.float32).transpose(2, 0, 1)[None] / 255) * 2 - 1)


def ort_chain(files):
    from nftgan.core import contract, pipeline

    sessions = [pipeline.session(contract.describe_model(MODELS / f), THREADS, "cpu") for f in files]

    def run(x):
        for s in sessions:
            (x,) = s.run(None, {s.get_inputs()[0].name: x})
        return x

    return run


def ov_chain(files, precision):
    import openvino as ov

    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": str(THREADS),
        "INFERENCE_PRECISION_HINT": precision,
        "PERFORMANCE_HINT": "LATENCY",
    }
    requests = [core.compile_model(str(MODELS / f), "CPU", config).create_infer_request() for f in files]

    def run(x):
        for r in requests:
            x = r.infer([x])[0].copy()  # (the request's own buffer is reused by its next call)
        return x

    return run


def build(which: dict, runtime: str) -> dict:
    """{variant: chain call} for the variants of `runtime` ("ort", "ov"), in VARIANTS' order."""
    return {
        name: ort_chain(which[files]) if rt == "ort" else ov_chain(which[files], precision)
        for name, (rt, files, precision) in VARIANTS.items()
        if rt == runtime
    }


def interleaved(fns: dict, x: np.ndarray, rounds: int) -> dict:
    for f in fns.values():
        f(x), f(x)
    names, times = list(fns), {k: [] for k in fns}
    for r in range(rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(0.01)
            t0 = time.perf_counter()
            fns[k](x)
            times[k].append(time.perf_counter() - t0)
    return {k: np.array(v) for k, v in times.items()}


def table(title: str, times: dict) -> None:
    base = times["onnxruntime fp32"]
    print(
        f"\n{title}\n\n| | median ms | best ms | / onnxruntime fp32 (median per round) |\n| --- | --- | --- | --- |"
    )
    for k, v in times.items():
        print(f"| {k} | {1e3 * np.median(v):.1f} | {1e3 * v.min():.1f} | {np.median(v / base):.3f} |")


def quality(fns: dict) -> None:
    paths = sorted((GOLDEN / "sketches").glob("*.png")) + sorted(
        (GOLDEN / "heldout" / "A").glob("*.png")
    )  # (B: colour targets)
    print(f"\nchain output vs onnxruntime fp32 on {len(paths)} sketches at 256²\n")
    print("| | worst PSNR dB | median PSNR dB | largest 8-bit difference |\n| --- | --- | --- | --- |")
    worst = {k: [] for k in fns}
    for p in paths:
        x = sketch(p, 256)
        ref = fns["onnxruntime fp32"](x)
        for k, f in fns.items():
            y = f(x)
            mse = float(np.mean((y - ref) ** 2))
            q = lambda a: np.clip((a + 1) * 127.5 + 0.5, 0, 255).astype(np.int16)
            worst[k].append((10 * np.log10(4 / mse) if mse else np.inf, int(np.abs(q(y) - q(ref)).max())))
    for k, v in worst.items():
        if k != "onnxruntime fp32":
            psnr = [a for a, _ in v]
            print(f"| {k} | {min(psnr):.1f} | {np.median(psnr):.1f} | {max(b for _, b in v)} |")


def longest_pause(run, x: np.ndarray, seconds: float = 2.0) -> float:
    """The calling thread's longest gap between two looks at the clock while another thread runs `run`."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            run(x)

    t = threading.Thread(target=loop)
    t.start()
    gap, last, end = 0.0, time.perf_counter(), time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        gap, last = max(gap, now - last), now
        time.sleep(0.0005)
    stop.set()
    t.join()
    return gap


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench.openvino_ab", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--rounds", type=int, default=40)
    args = p.parse_args(argv)
    import onnxruntime

    first = sorted((GOLDEN / "sketches").glob("*.png"))[0]
    x = sketch(first, 256)
    rss = [rss_mb()]
    chain = build(CHAIN, "ort")
    for f in chain.values():
        f(x)
    rss.append(rss_mb())
    import openvino

    chain.update(build(CHAIN, "ov"))
    for f in chain.values():
        f(x)
    rss.append(rss_mb())
    print(
        f"onnxruntime {onnxruntime.__version__}, OpenVINO {openvino.__version__}, {THREADS} threads, "
        f"load average {os.getloadavg()[0]:.1f}; resident memory after one chain call of each: onnxruntime and "
        f"its 4 sessions +{rss[1] - rss[0]:.0f} MB, then OpenVINO and its 6 compiled files +{rss[2] - rss[1]:.0f} MB"
    )
    table("colorize -> 3D Clay at 256², bare calls", interleaved(chain, x, args.rounds))
    up = {**build(UPSCALE, "ort"), **build(UPSCALE, "ov")}
    for side in (128, 256):
        table(f"upscale x4, {side} px in", interleaved(up, sketch(first, side), max(8, args.rounds // 4)))
    quality(chain)
    print("\nthe calling thread's longest pause while another thread runs the chain (a 0.5 ms sleep loop)\n")
    for k in ("onnxruntime fp32", "OpenVINO bf16"):
        print(f"- {k}: {1e3 * longest_pause(chain[k], x):.1f} ms")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
