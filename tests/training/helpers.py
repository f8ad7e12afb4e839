"""Tiny generated datasets for the training tests (32-40 px, a dozen images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--size", "32", "--ngf", "8", "--ndf", "8", "--workers", "0", "--log-every", "5"]


def smooth_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A blurry random colour image (learnable in a few dozen steps, unlike white noise)."""
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((size, size), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    return np.asarray(img)


def paired(root: Path, n: int = 12, size: int = 40, seed: int = 0) -> Path:
    """A/ + B/ by name; B is A with its colours inverted (a fixed pixel-wise mapping)."""
    rng = np.random.default_rng(seed)
    for d in ("A", "B"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = smooth_image(rng, size)
        Image.fromarray(a).save(root / "A" / f"img{i:03d}.png")
        Image.fromarray(255 - a).save(root / "B" / f"img{i:03d}.png")
    return root


def unpaired(root: Path, n: int = 10, size: int = 40, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for d in ("trainA", "trainB"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(smooth_image(rng, size)).save(root / "trainA" / f"a{i:03d}.png")
        Image.fromarray(smooth_image(rng, size)[..., ::-1].copy()).save(root / "trainB" / f"b{i:03d}.jpg")
    return root


def run_train(argv, capsys) -> tuple[int, str]:
    """`nftgan train ARGV` in this process: (exit status, stdout + stderr)."""
    from nftgan.training.cli import main

    try:
        rc = main(argv, prog="nftgan train")
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out + out.err


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=2 ARGS...` from the repository root, one thread a process (gloo on
    the CPU), output captured; asserts it exited 0 (torchrun's stderr in the message)."""
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
