"""Training throughput: Pix2Pix (U-Net 256, ngf 64) and CycleGAN (ResNet-9, ngf 64) at 256 px, batch 1.

Runs the real trainer (`training.trainer.Trainer`: the kinds' own nets, optimizers and train_step) on
40 synthetic 286 px images and times the training step after warm-up (data loading excluded, as in
the reference's `t_comp`), with malloc keeping freed memory as `nftgan train` has it. Rows:

- ours: the kind's `train_step` (fused Adam, one discriminator pass over real+fake, frozen
  discriminator in the generator update, identity + translation in one generator pass), on CPU in
  fp32, fp32 + channels-last, and bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 /
  AMX: what `--amp auto`, the default, picks there), and on CUDA (fp32 / bf16 autocast /
  channels-last) when a GPU is present. That bf16 trains to the same held-out L1 as fp32 is shown by
  `python -m tools.bench.precision` (real training runs, too long for this table);
- reference recipe: the same networks updated the way the reference implementation's
  `optimize_parameters` does it (separate real and fake discriminator passes, separate identity
  passes, torch.optim.Adam with PyTorch's defaults), re-implemented here from the papers' recipe and
  run side by side in this process: the ratio "ours vs recipe" is measured, not quoted;
- "quoted": the reference implementation itself (junyanz/pytorch-CycleGAN-and-pix2pix) as measured on
  this machine kind (issue 14; 2 cores, torch 2.14): pix2pix 0.74-0.83 s/iter, CycleGAN 9.5-12.9 s/iter
  (an earlier quote, 1.47 / 18.1 s, was about 2x slower than that). That code cannot be downloaded here, so this column is a figure
  measured elsewhere, on another torch version and load: orientation, not a result.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from nftgan.core import cpu
from nftgan.training.blocks import gan_loss
from nftgan.training.cyclegan import CycleGANConfig, pool_query
from nftgan.training.data import collate
from nftgan.training.pix2pix import Pix2PixConfig
from nftgan.training.trainer import Trainer, native_bf16
from PIL import Image

# The reference implementation's own trainer measured on this machine kind (issue 14: 2 cores, torch 2.14), as
# (fastest, slowest) s/iter; an earlier quote (1.47 / 18.1 s) was about 2x slower than it really runs here
QUOTED_S_PER_ITER = {"pix2pix": (0.74, 0.83), "cyclegan": (9.5, 12.9)}  # not measured in this run
ITERS = {"pix2pix": (1, 3), "cyclegan": (1, 2)}  # (warm-up, timed) rounds: a CycleGAN step is ~10x pix2pix


def synthetic_data(root: Path, n: int = 40, size: int = 286) -> Path:
    rng = np.random.default_rng(0)
    for d in ("A", "B"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "A" / f"{i:03d}.png")
        Image.fromarray(255 - img).save(root / "B" / f"{i:03d}.png")
    return root


def _set_grad(nets, flag):
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def recipe_pix2pix(run, batch):
    """The reference's Pix2PixModel.optimize_parameters, step by step."""
    G, D, opt_g, opt_d = run.raw["G"], run.raw["D"], run.opt["G"], run.opt["D"]
    real_a, real_b = batch["A"], batch["B"]
    fake_b = G(real_a)
    _set_grad([D], True)
    opt_d.zero_grad()
    pred_fake = D(torch.cat([real_a, fake_b], 1).detach())
    pred_real = D(torch.cat([real_a, real_b], 1))
    (0.5 * (gan_loss(pred_fake, False, "vanilla") + gan_loss(pred_real, True, "vanilla"))).backward()
    opt_d.step()
    _set_grad([D], False)
    opt_g.zero_grad()
    loss = gan_loss(D(torch.cat([real_a, fake_b], 1)), True, "vanilla") + 100 * F.l1_loss(fake_b, real_b)
    loss.backward()
    opt_g.step()


def recipe_cyclegan(run, batch):
    """The reference's CycleGANModel.optimize_parameters, step by step."""
    n = run.raw
    real_a, real_b = batch["A"], batch["B"]
    fake_b = n["G_A"](real_a)
    rec_a = n["G_B"](fake_b)
    fake_a = n["G_B"](real_b)
    rec_b = n["G_A"](fake_a)
    _set_grad([n["D_A"], n["D_B"]], False)
    run.opt["G"].zero_grad()
    idt_a, idt_b = n["G_A"](real_b), n["G_B"](real_a)
    loss = (
        F.l1_loss(idt_a, real_b) * 5
        + F.l1_loss(idt_b, real_a) * 5
        + gan_loss(n["D_A"](fake_b), True, "lsgan")
        + gan_loss(n["D_B"](fake_a), True, "lsgan")
        + F.l1_loss(rec_a, real_a) * 10
        + F.l1_loss(rec_b, real_b) * 10
    )
    loss.backward()
    run.opt["G"].step()
    _set_grad([n["D_A"], n["D_B"]], True)
    run.opt["D"].zero_grad()
    for d, real, fake in (
        ("D_A", real_b, pool_query(run.state["fake_B"], fake_b)),
        ("D_B", real_a, pool_query(run.state["fake_A"], fake_a)),
    ):
        (
            0.5 * (gan_loss(n[d](real), True, "lsgan") + gan_loss(n[d](fake.detach()), False, "lsgan"))
        ).backward()
    run.opt["D"].step()


def make_step(model: str, data: Path, out: Path, device: str, amp: str, channels_last: bool, recipe: bool):
    """A zero-argument callable running one training step of this variant (the real Trainer's nets)."""
    cls = Pix2PixConfig if model == "pix2pix" else CycleGANConfig
    cfg = cls(
        model=model,
        data=str(data),
        out=str(out),
        size=256,
        ngf=64,
        ndf=64,
        batch_size=1,
        workers=0,
        val_fraction=0.0,
        steps=100,
        device=device,
        amp=amp,
        channels_last=channels_last,
    )
    trainer = Trainer(cfg)
    run, kind = trainer.run, trainer.kind
    step = kind.train_step
    if recipe:  # the reference's optimizer: torch.optim.Adam with PyTorch's default implementation choice
        for group, names in kind.optimizer_groups(cfg).items():
            params = [p for name in names for p in run.raw[name].parameters()]
            run.opt[group] = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        step = recipe_pix2pix if model == "pix2pix" else recipe_cyclegan
    batches = [trainer._batch(collate([trainer.train_ds[(i, i)]])) for i in range(4)]
    count = iter(range(10**9))

    def one() -> float:
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step(run, batches[next(count) % len(batches)])
        if run.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return one


def main() -> None:
    cpu.keep_freed_memory()  # as `nftgan train` (in `make bench` bench_models' last rows set it already)
    # (model, device, amp, channels-last, reference recipe)
    variants = [
        (m, "cpu", amp, cl, recipe)
        for m in ("pix2pix", "cyclegan")
        for amp, cl, recipe in (("none", False, True), ("none", False, False), ("none", True, False))
    ]
    if native_bf16(torch.device("cpu")):
        variants += [(m, "cpu", "bf16", False, False) for m in ("pix2pix", "cyclegan")]
    if torch.cuda.is_available():
        variants += [
            (m, "cuda", amp, cl, False)
            for m in ("pix2pix", "cyclegan")
            for amp, cl in (("none", False), ("bf16", False), ("none", True), ("bf16", True))
        ]
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} at start"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA GPU")
        + "; 256x256, batch 1, ngf 64; median s/iter after warm-up"
    )
    head = (
        f"{'model':<9} {'device':<5} {'variant':<32} {'s/iter':>7} {'samples/s':>9} {'vs recipe':>9} "
        f"{'quoted ref s/iter':>17} {'vs quoted':>11}"
    )
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_data(Path(tmp) / "data")
        for model in ("pix2pix", "cyclegan"):
            # the variants of one model take turns step by step (A B C A B C ...): load from other jobs on the
            # machine then hits every variant alike, so the ratios within a model are fair
            mine = [v for v in variants if v[0] == model]
            steps = [
                make_step(model, data, Path(tmp) / f"run-{model}-{k}", *v[1:]) for k, v in enumerate(mine)
            ]
            warm, timed = ITERS[model]
            times = [[] for _ in mine]
            for r in range(warm + timed):
                for k, one in enumerate(steps):
                    t = one()
                    if r >= warm:
                        times[k].append(t)
            recipe_s = None
            for (_, device, amp, cl, recipe), ts in zip(mine, times):
                s = statistics.median(ts)
                if recipe:
                    recipe_s = s
                    variant = "reference recipe, re-implemented"
                else:
                    variant = (
                        "ours " + ("fp32" if amp == "none" else amp) + (" + channels-last" if cl else "")
                    )
                    if amp == "bf16" and device == "cpu":
                        variant += " (default: --amp auto)"
                vs_recipe = f"{recipe_s / s:.2f}x" if device == "cpu" and recipe_s else "-"
                quoted = QUOTED_S_PER_ITER[model] if device == "cpu" else None
                ref = f"{quoted[0]}-{quoted[1]}" if quoted else "-"
                vs = f"{quoted[0] / s:.2f}-{quoted[1] / s:.2f}x" if quoted else "-"
                print(
                    f"{model:<9} {device:<5} {variant:<32} {s:7.3f} {1 / s:9.3f} {vs_recipe:>9} "
                    f"{ref:>17} {vs:>11}",
                    flush=True,
                )
            del steps
    print(
        f"load average {os.getloadavg()[0]:.1f} at the end. 'vs recipe' is measured side by side in this run; "
        "'quoted' is junyanz/pytorch-CycleGAN-and-pix2pix's own trainer as measured on this machine kind (issue 14, "
        "torch 2.14; fastest-slowest), not runnable here. Shared 2-core machines are noisy: compare rows of one run."
    )
