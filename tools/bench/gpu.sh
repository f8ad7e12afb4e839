#!/bin/sh
# The GPU figures issue 14 asks for, in one call on a device machine lent to a session (its image's python3 has
# torch with CUDA; nothing can be downloaded there). From the repository root:
#
#     sh tools/bench/gpu.sh            (on the device: run(command="sh tools/bench/gpu.sh", timeout_s=540))
#
# Installs this checkout without dependencies into /tmp/nftgan-site (the image has torch, numpy, pillow,
# requests, onnx and onnxruntime) and prints the GPU and onnxruntime's execution providers. Then the default
# chain (colorize -> 3D Clay, fp32 files) at 256 and 1024 px: the add-on pipeline on the CPU provider and on
# what "Run models on: Automatic" picks (onnxruntime's CUDA provider only where the image's onnxruntime has
# it: the onnxruntime-gpu wheel is larger than a call can carry), and the same networks in torch eager on the
# GPU, fp32 and bf16 autocast. Last `tools.bench training` (bench_training): the real trainer's step at
# 256 px, batch 1, on CUDA in fp32, bf16 autocast (`--amp bf16`) and channels-last, beside the CPU rows.
# NCCL DDP and SyncBatchNorm need two GPUs or more: the lent machines have one. Where torch sees no GPU (this
# project's own machines) the same script runs the CPU rows alone.
set -e
PY=${PYTHON:-python3}
SITE=/tmp/nftgan-site
rm -rf "$SITE"
"$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index --disable-pip-version-check \
    --target "$SITE" .
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
"$PY" - <<'PYEOF'
import statistics
import time

import numpy as np
import onnxruntime as ort
import torch
from nftgan.core import pipeline

from tools import evidence as ev
from tools.bench.bench_models import torch_twin

gpu = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {gpu}; onnxruntime {ort.__version__}, providers "
      f"{ort.get_available_providers()}; Automatic runs on {pipeline.providers('auto')[0]}")
infos = ev.shipped()
col = next(iter(ev.by_kind(infos, "colorize").values()))
sty = next(s for s in ev.by_kind(infos, "stylize").values() if "clay" in s.path)
models = {"colorize": col, "stylize": sty}
nets = [torch_twin(m.path)[0].cuda() for m in (col, sty)] if gpu else []


def ms(fn, n=10):
    """Median ms of n calls after one warm-up."""
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return f"{1e3 * statistics.median(ts):.1f}"


for side in (256, 1024):
    sketch = ev.pil_resize(ev.load_rgb01(ev.golden_inputs()[0]), side, side)
    rgba = ev.to_rgba(sketch)
    row = {f"pipeline, {p}": ms(lambda p=p: pipeline.run(rgba, models=models, provider=p)) for p in ("cpu", "auto")}
    if gpu:
        x = torch.from_numpy(np.ascontiguousarray(sketch.transpose(2, 0, 1)[None] * 2 - 1, np.float32)).cuda()
        for amp in (False, True):

            def eager(amp=amp):
                with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=amp):
                    y = x
                    for net in nets:
                        y = net(y)
                torch.cuda.synchronize()

            row[f"torch CUDA eager {'bf16' if amp else 'fp32'} (the networks alone)"] = ms(eager)
    print(f"{side} px, median ms:", "; ".join(f"{k} {v}" for k, v in row.items()))
PYEOF
"$PY" -m tools.bench training
