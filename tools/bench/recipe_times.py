"""How long the default styles' recipes (training/defaults.py DEFAULTS) take to train on this machine.

    python -m tools.bench.recipe_times [--steps 8] [--threads 1] [ID ...]

Runs the real trainer on each recipe's exact settings (`--workers 0`, so data loading is counted) on
generated 256 px pictures and prints the median process CPU time of the timed training steps (after 2
warm-up steps), the validation pass, and the whole run extrapolated from them. The CPU time, not the wall
time: on a machine shared with other work the wall time measures the others; on an idle machine with one
thread the two agree. docs/training.md "Training times" holds the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from nftgan.training.cli import build_parser
from nftgan.training.defaults import DEFAULTS
from nftgan.training.kinds import get_kind
from nftgan.training.trainer import Trainer
from PIL import Image, ImageFilter


def pictures(folder: Path, n: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        small.resize((256, 256), Image.BICUBIC).filter(ImageFilter.GaussianBlur(3)).save(
            folder / f"{i:03d}.png"
        )


def time_recipe(d, root: Path, steps: int) -> str:
    kind = get_kind(d.kind)
    args = build_parser(kind, "nftgan train").parse_args(list(d.args))
    skip = ("data", "out", "resume", "config")
    given = {k: v for k, v in vars(args).items() if v is not None and k not in skip}
    given["workers"] = 0
    data = root / ("unpaired" if d.kind == "cyclegan" else "paired")
    cfg = kind.config_class(model=kind.name, data=str(data), out=str(root / d.id), steps=d.steps, **given)
    trainer = Trainer(cfg)
    trainer._end = cfg.steps
    _, loader = trainer._start()
    cpu = []
    batches = iter(loader)
    for k in range(steps + 2):
        start = time.process_time()
        trainer._train_step(next(batches))
        if k >= 2:
            cpu.append(time.process_time() - start)
    start = time.process_time()
    trainer._validate_and_sample()
    val = (time.process_time() - start) / max(1, len(trainer.val_ds))
    trainer._bar.close()
    s = statistics.median(cpu)
    return (
        f"{d.id}: {d.steps} steps x {s:.3f} s (CPU per step, median of {steps}, {torch.get_num_threads()} "
        f"thread(s), {'bf16' if trainer.run.bf16 else 'fp32'}) = {d.steps * s / 60:.0f} min, plus "
        f"{val:.2f} s per held-out image every {cfg.sample_every} steps"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m tools.bench.recipe_times", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("ids", nargs="*", help="recipes to time (default: all)")
    p.add_argument("--steps", type=int, default=8, help="timed steps per recipe (at most 5 for upscale-x4)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="nftgan-recipe-times-"))
    try:
        rng = np.random.default_rng(0)
        for sub in ("paired/A", "paired/B", "unpaired/trainA", "unpaired/trainB"):
            pictures(root / sub, 60, rng)
        for d in DEFAULTS:
            if not args.ids or d.id in args.ids:
                print(time_recipe(d, root, args.steps), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
