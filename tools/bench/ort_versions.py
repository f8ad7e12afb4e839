"""onnxruntime releases side by side on the shipped default chain (colorize -> 3D Clay, fp32 and int8 files).

    python -m tools.bench.ort_versions [--rounds 60] [--calls 3] VENV_PYTHON... [--save out.json]

Each VENV_PYTHON is a Python with one onnxruntime release and numpy installed, nothing of this project (e.g.
`python3.11 -m venv /tmp/ort-1.32.0 && /tmp/ort-1.32.0/bin/pip install onnxruntime==1.32.0 numpy==1.26.4`); one
worker process per release stays alive (releases cannot share a process) and they take turns round by round,
each going first in turn and following each other one about equally often (`bench_models._orders`), so load
that comes and goes falls on all alike. A turn is `--calls` chain calls; the round's figure for a release is the
median of its turn's calls. Sessions are made as the add-on makes them (`core.pipeline.session`: 2 intra-op
threads, 1 inter-op, sequential, spinning off, CPU provider), the input is the bench's sketch at 256² as
`bench_models` feeds it (NCHW float32 in [-1, 1]). Printed per release and files: median / best wall ms and median
CPU ms of each model and of the chain, and the ratio to the first release given, the median of the per-round
ratios; then each release's outputs against the first's on the same input (max abs diff, PSNR).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

THREADS = 2
SIDE = 256
VARIANTS = {
    "fp32": ("colorize-flat.onnx", "stylize-clay.onnx"),
    "int8": ("colorize-flat.int8.onnx", "stylize-clay.int8.onnx"),
}


# ------------------------------------------------------------------------- worker (any venv with onnxruntime)


def _worker(models_dir: str, x_path: str, config: str) -> None:
    import numpy as np
    import onnxruntime as ort

    def session(path):
        opts = ort.SessionOptions()  # as core.pipeline.session makes it
        opts.log_severity_level = 3
        opts.intra_op_num_threads = THREADS
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        for entry, value in json.loads(config).items():  # core.pipeline.SESSION_CONFIG
            opts.add_session_config_entry(entry, value)
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])

    x = np.load(x_path)
    chains = {v: [session(os.path.join(models_dir, f)) for f in files] for v, files in VARIANTS.items()}

    def run(variant, keep=None):
        y, t = x, []
        for s in chains[variant]:
            c0, t0 = time.process_time(), time.perf_counter()
            (y,) = s.run(None, {s.get_inputs()[0].name: y})
            t += [time.perf_counter() - t0, time.process_time() - c0]
            if keep is not None:
                keep.append(y)
        return t  # [wall colorize, cpu colorize, wall stylize, cpu stylize]

    for v in chains:
        for _ in range(3):
            run(v)
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    print(json.dumps({"version": f"{ort.__version__} {py}", "numpy": np.__version__}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["do"] == "time":
            print(json.dumps([run(cmd["variant"]) for _ in range(cmd["calls"])]), flush=True)
        elif cmd["do"] == "outputs":
            kept = {}
            for v in chains:
                ys = []
                run(v, ys)
                kept.update({f"{v}_colorize": ys[0], f"{v}_chain": ys[1]})
            np.savez(cmd["path"], **kept)
            print("{}", flush=True)


# ------------------------------------------------------------------------- driver (the project's venv)


class Worker:
    def __init__(self, python: str, models_dir: str, x_path: str):
        from nftgan.core.pipeline import SESSION_CONFIG

        self.p = subprocess.Popen(
            [python, os.path.abspath(__file__), "--worker", models_dir, x_path, json.dumps(SESSION_CONFIG)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        info = json.loads(self.p.stdout.readline())
        self.version, self.numpy = info["version"], info["numpy"]

    def ask(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def main(argv: list[str]) -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("pythons", nargs="+")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--save", help="write the per-round figures here (JSON)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ort_versions_") as tmp:
        _compare(a, tmp)


def _compare(a, tmp: str) -> None:
    import numpy as np

    from tools import evidence as ev
    from tools.bench.bench_models import _orders

    sketch = ev.pil_resize(ev.load_rgb01(ev.golden_inputs()[0]), SIDE, SIDE)
    x_path = os.path.join(tmp, "x.npy")
    np.save(x_path, np.ascontiguousarray((sketch.transpose(2, 0, 1)[None] * 2 - 1).astype(np.float32)))
    workers = [Worker(py, str(ev.MODELS), x_path) for py in a.pythons]
    names = [w.version for w in workers]
    load0 = os.getloadavg()
    # per variant, release, round: [wall col, cpu col, wall sty, cpu sty] medians of the turn; and every call
    per_round = {v: {n: [] for n in names} for v in VARIANTS}
    calls = {v: {n: [] for n in names} for v in VARIANTS}
    orders = iter(_orders(list(range(len(workers))), a.rounds * len(VARIANTS)))
    t_start = time.time()
    for _ in range(a.rounds):
        for v in VARIANTS:
            for i in next(orders):
                got = workers[i].ask(do="time", variant=v, calls=a.calls)
                calls[v][names[i]] += got
                per_round[v][names[i]].append(np.median(np.array(got), axis=0).tolist())
    load1 = os.getloadavg()
    print(
        f"{len(workers)} releases, {a.rounds} rounds x {a.calls} calls, {time.time() - t_start:.0f} s, "
        f"load average {load0[0]:.2f} -> {load1[0]:.2f} (5 min {load1[1]:.2f}), {os.cpu_count()} CPUs"
    )
    base = names[0]
    for v in VARIANTS:
        print(
            f"\n{v}: ms median / best wall / median CPU; ratio to {base}: median of per-round ratios, wall (CPU)"
        )
        print(
            f"| onnxruntime | colorize | 3D Clay | chain | colorize / {base} | 3D Clay / {base} | chain / {base} |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        b = np.array(per_round[v][base])
        b = np.column_stack([b, b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]])  # + [wall chain, cpu chain]
        for n in names:
            r, c = np.array(per_round[v][n]), np.array(calls[v][n])
            r = np.column_stack([r, r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]])
            c = np.column_stack([c, c[:, 0] + c[:, 2], c[:, 1] + c[:, 3]])
            cells = [
                f"{1e3 * np.median(r[:, k]):.1f} / {1e3 * c[:, k].min():.1f} / {1e3 * np.median(r[:, k + 1]):.1f}"
                for k in (0, 2, 4)
            ]
            cells += [
                f"{np.median(r[:, k] / b[:, k]):.3f} ({np.median(r[:, k + 1] / b[:, k + 1]):.3f})"
                for k in (0, 2, 4)
            ]
            print(f"| {n} | " + " | ".join(cells) + " |")
    outs = {}
    for w in workers:
        path = os.path.join(tmp, f"out-{w.version.replace(' ', '-')}.npz")
        w.ask(do="outputs", path=path)
        outs[w.version] = dict(np.load(path))
        w.close()
    print(f"\noutputs against {base} (max abs diff; PSNR dB on [0, 1])")
    for n in names[1:]:
        cells = []
        for k, y in outs[n].items():
            y0 = outs[base][k]
            cells.append(f"{k} {np.abs(y - y0).max():.2e} {ev.psnr((y + 1) / 2, (y0 + 1) / 2):.1f}")
        print(f"{n}: " + ", ".join(cells))
    if a.save:
        with open(a.save, "w") as f:
            json.dump(
                {
                    "load": [load0, load1],
                    "per_round": per_round,
                    "numpy": {w.version: w.numpy for w in workers},
                },
                f,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(*sys.argv[2:5])
    else:
        main(sys.argv[1:])
