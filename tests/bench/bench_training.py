"""Training throughput: Pix2Pix (U-Net 256, ngf 64) and CycleGAN (ResNet-9, ngf 64) at 256 px, batch 1.

Runs the real trainer (`training.trainer.Trainer`: the kinds' own nets, optimizers and train_step) on
40 synthetic 286 px images, times the training step after warm-up (data loading excluded, as in the
reference's `t_comp`), and prints s/iter and samples/s per variant: CPU at the default thread count,
with channels-last, and on CUDA (fp32, bf16 autocast, channels-last) when a GPU is present.

The "reference" column is QUOTED, not measured here: the issue's figures for the widely used
reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix) on this machine kind (2 cores, torch
2.14, 256 px, batch 1, ngf 64): pix2pix 1.47 s/iter, CycleGAN 18.1 s/iter. It cannot be downloaded
here to run side by side, so the ratio compares our run now with a figure measured elsewhere on
another torch version, on a machine other jobs share; treat it as orientation, not a result.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.config import CycleGANConfig, Pix2PixConfig
from training.data import collate
from training.trainer import Trainer

REFERENCE_S_PER_ITER = {"pix2pix": 1.47, "cyclegan": 18.1}  # quoted in the issue, not measured here
ITERS = {"pix2pix": (1, 3), "cyclegan": (1, 2)}  # (warm-up, timed) iterations: a CycleGAN step is ~10x pix2pix


def synthetic_data(root: Path, n: int = 40, size: int = 286) -> Path:
    rng = np.random.default_rng(0)
    for d in ("A", "B"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "A" / f"{i:03d}.png")
        Image.fromarray(255 - img).save(root / "B" / f"{i:03d}.png")
    return root


def time_variant(model: str, data: Path, out: Path, device: str, amp: str, channels_last: bool,
                 threads: int) -> list[float]:
    torch.set_num_threads(threads)
    cls = Pix2PixConfig if model == "pix2pix" else CycleGANConfig
    cfg = cls(model=model, data=str(data), out=str(out), size=256, ngf=64, ndf=64, batch_size=1, workers=0,
              val_fraction=0.0, steps=100, device=device, amp=amp, channels_last=channels_last)
    trainer = Trainer(cfg)
    run, kind = trainer.run, trainer.kind
    batches = [trainer._batch(collate([trainer.train_ds[(i, i)]])) for i in range(4)]
    warm, timed = ITERS[model]
    times = []
    for i in range(warm + timed):
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        kind.train_step(run, batches[i % len(batches)])
        for sched in run.sched.values():
            sched.step()
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warm:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    cores = torch.get_num_threads()  # PyTorch's default: one thread per physical core
    # (model, device, amp, channels-last, threads). channels-last on CPU is measured for pix2pix only (CycleGAN
    # is 10x slower per step); one thread shows the cost of OpenMP on a machine other jobs share.
    variants = [("pix2pix", "cpu", "none", False, cores), ("pix2pix", "cpu", "none", True, cores),
                ("pix2pix", "cpu", "none", False, 1), ("cyclegan", "cpu", "none", False, cores)]
    if torch.cuda.is_available():
        variants += [(m, "cuda", amp, cl, cores) for m in ("pix2pix", "cyclegan")
                     for amp, cl in (("none", False), ("bf16", False), ("none", True), ("bf16", True))]
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, load average {load:.1f} at start"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA GPU")
          + "; 256x256, batch 1, ngf 64; median of timed iterations after warm-up")
    head = (f"{'model':<9} {'device':<5} {'variant':<31} {'s/iter':>8} {'samples/s':>10} "
            f"{'reference s/iter (quoted)':>26} {'ratio vs quoted':>16}")
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_data(Path(tmp) / "data")
        for k, (model, device, amp, cl, threads) in enumerate(variants):
            times = time_variant(model, data, Path(tmp) / f"run-{k}", device, amp, cl, threads)
            s = statistics.median(times)
            variant = (("fp32" if amp == "none" else amp) + (" + channels-last" if cl else "")
                       + (f", {threads} thread{'s' if threads > 1 else ''}" if device == "cpu" else ""))
            ref = REFERENCE_S_PER_ITER[model]
            ratio = f"{ref / s:.2f}x" if device == "cpu" else "-"
            print(f"{model:<9} {device:<5} {variant:<31} {s:8.3f} {1 / s:10.3f} "
                  f"{ref if device == 'cpu' else '-':>26} {ratio:>16}", flush=True)
    torch.set_num_threads(cores)
    print(f"load average {os.getloadavg()[0]:.1f} at the end. "
          "reference: junyanz/pytorch-CycleGAN-and-pix2pix as quoted in the issue (same settings, this machine "
          "kind, torch 2.14); not runnable here, so not side by side. Shared 2-core machines are noisy.")
