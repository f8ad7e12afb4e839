"""Where an ONNX model's time goes, per operator type: onnxruntime's own profiler (`enable_profiling`).

    python -m tools.bench.profile_ops [MODEL.onnx ...] [--side 256] [--threads 2] [--runs 20]

Default: the shipped default chain (the first colorize style and 3D Clay in addon/models/). Each model is
run `--runs` times after warm-up in a session set up as the add-on's (`core.pipeline.session`'s options,
graph optimisation level ALL, no spinning); the table sums the profiler's kernel times per op type (as
onnxruntime names them after its graph transformations: `Conv` with a fused activation becomes
`FusedConv`, the NCHWc layout transformer's nodes `ReorderInput` / `ReorderOutput`, ...), per run, with
their share of the model's summed kernel time and of the whole run (`model_run`, which adds the
executor's own work between kernels).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import tempfile

import numpy as np


def profile(path: str, side: int = 256, threads: int = 2, runs: int = 20) -> tuple[dict, float, float]:
    """({op type: (ms per run, calls per run)}, summed kernel ms per run, model_run ms per run (median))."""
    import onnxruntime as ort
    from nftgan.core import pipeline

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    for entry, value in pipeline.SESSION_CONFIG.items():
        opts.add_session_config_entry(entry, value)
    with tempfile.TemporaryDirectory(prefix="nftgan-prof-") as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "p")
        sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, side, side)).astype(np.float32)
        name = sess.get_inputs()[0].name
        for _ in range(3):
            sess.run(None, {name: x})
        for _ in range(runs):
            sess.run(None, {name: x})
        events = json.load(open(sess.end_profiling()))
    node = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    model = [e["dur"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    total_runs = runs + 3
    skip = len(node) * 3 // total_runs  # drop the warm-up runs' kernels
    per = collections.defaultdict(lambda: [0.0, 0])
    for e in node[skip:]:
        op = e.get("args", {}).get("op_name", "?")
        per[op][0] += e["dur"] / 1e3 / runs
        per[op][1] += 1 / runs
    kernels = sum(v[0] for v in per.values())
    return {k: tuple(v) for k, v in per.items()}, kernels, float(np.median(model[3:])) / 1e3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench.profile_ops", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("models", nargs="*")
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)
    here = os.path.join(os.path.dirname(__file__), "..", "..", "addon", "models")
    fp32 = sorted(f for f in glob.glob(os.path.join(here, "colorize-*.onnx")) if not f.endswith(".int8.onnx"))
    models = args.models or [fp32[0], os.path.join(here, "stylize-clay.onnx")]
    total = collections.defaultdict(lambda: [0.0, 0.0])
    run_ms = kernel_ms = 0.0
    for m in models:
        per, kernels, run = profile(m, args.side, args.threads, args.runs)
        kernel_ms += kernels
        run_ms += run
        for k, (ms, calls) in per.items():
            total[k][0] += ms
            total[k][1] += calls
        print(
            f"{os.path.basename(m)}: kernels {kernels:.1f} ms, model_run {run:.1f} ms (median of {args.runs})"
        )
    print(
        f"\n{' + '.join(os.path.basename(m) for m in models)} at {args.side}x{args.side}, {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'op type':<28} {'ms/run':>8} {'calls':>6} {'of kernels':>10} {'of run':>7}")
    for k, (ms, calls) in sorted(total.items(), key=lambda kv: -kv[1][0]):
        print(f"{k:<28} {ms:8.2f} {calls:6.0f} {ms / kernel_ms:10.1%} {ms / run_ms:7.1%}")
    print(f"{'all kernels':<28} {kernel_ms:8.2f} {'':>6} {1:10.0%} {kernel_ms / run_ms:7.1%}")
    print(f"{'model_run':<28} {run_ms:8.2f}")


if __name__ == "__main__":
    main()
