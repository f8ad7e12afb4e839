"""A toy collection: 32 px images from four patterned modes (a split, two bands, a square, a diagonal),
with a little pixel noise. A generator has learned it when its samples land near the modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32


def modes(size: int = SIZE) -> np.ndarray:
    """(4, size, size, 3) float32 in [0, 1]."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size

    def paint(mask, inside, outside):
        return np.where(mask[..., None], np.array(inside, np.float32), np.array(outside, np.float32))

    return np.array(
        [
            paint(x < 0.5, (0.9, 0.1, 0.1), (0.95, 0.95, 0.95)),
            paint(y < 0.5, (0.1, 0.2, 0.9), (0.95, 0.85, 0.1)),
            paint((abs(x - 0.5) < 0.25) & (abs(y - 0.5) < 0.25), (0.05, 0.05, 0.05), (0.95, 0.95, 0.95)),
            paint(abs(x - y) < 0.2, (0.95, 0.95, 0.95), (0.1, 0.6, 0.2)),
        ],
        dtype=np.float32,
    )


def make_folder(folder: Path, n: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    m = modes()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.clip(m[i % len(m)] + rng.normal(0, 0.03, m[0].shape), 0, 1)
        Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def nearest_mode(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (N, H, W, 3) images in [0, 1]: (index of the nearest mode, its mean squared distance)."""
    d = ((images[:, None] - modes()[None]) ** 2).mean((2, 3, 4))
    return d.argmin(1), d.min(1)
