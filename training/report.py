"""What a run writes for people to look at: metrics.csv, loss.png, sample grids (pillow only)."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import torch
from PIL import Image, ImageDraw

COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


class MetricsCSV:
    """metrics.csv with a fixed header: step, epoch, lr, seconds, the kind's losses, its val metrics."""

    def __init__(self, path: str, columns: list[str]):
        self.path, self.columns = path, ["step", "epoch", "lr", "seconds", *columns]

    def rows(self) -> list[dict]:
        if not os.path.exists(self.path):
            return []
        with open(self.path, newline="") as fh:
            return list(csv.DictReader(fh))

    def truncate_after(self, step: int) -> list[dict]:
        """On resume: drop rows a killed run wrote after its last checkpoint; return the rest."""
        kept = [r for r in self.rows() if int(r["step"]) <= step]
        self._write(kept, "w")
        return kept

    def append(self, row: dict) -> None:
        self._write([row], "a" if os.path.exists(self.path) else "w")

    def _write(self, rows: list[dict], mode: str) -> None:
        with open(self.path, mode, newline="") as fh:
            w = csv.DictWriter(fh, self.columns, extrasaction="ignore")
            if mode == "w":
                w.writeheader()
            w.writerows(rows)


def _values(rows: list[dict], name: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(name)
        if v not in (None, ""):
            try:
                y = float(v)
            except ValueError:
                continue
            if math.isfinite(y):
                xs.append(float(r["step"]))
                ys.append(y)
    return xs, ys


def write_loss_png(
    rows: list[dict], names: list[str], path: str, width: int = 900, height: int = 200
) -> None:
    """One panel per metric (losses have different scales), drawn with pillow."""
    names = [n for n in names if _values(rows, n)[0]]
    if not names:
        return
    pad_l, pad_r, pad_t, pad_b = 70, 20, 22, 22
    img = Image.new("RGB", (width, height * len(names)), "white")
    d = ImageDraw.Draw(img)
    x_max = max(float(r["step"]) for r in rows) or 1.0
    for k, name in enumerate(names):
        xs, ys = _values(rows, name)
        top = k * height
        lo, hi = float(np.percentile(ys, 1)), float(np.percentile(ys, 99))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        x0, y0, x1, y1 = pad_l, top + pad_t, width - pad_r, top + height - pad_b
        d.rectangle((x0, y0, x1, y1), outline=(160, 160, 160))
        d.text((x0, top + 4), name, fill=COLOURS[k % len(COLOURS)])
        for frac in (0.0, 0.5, 1.0):
            yv = lo + (hi - lo) * frac
            yp = y1 - (y1 - y0) * frac
            d.text((4, yp - 6), f"{yv:.3g}", fill=(80, 80, 80))
        d.text((x1 - 60, y1 + 4), f"step {int(x_max)}", fill=(80, 80, 80))
        pts = [
            (x0 + (x1 - x0) * x / x_max, y1 - (y1 - y0) * (min(max(y, lo), hi) - lo) / (hi - lo))
            for x, y in zip(xs, ys)
        ]
        if len(pts) == 1:
            d.ellipse(
                (pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2), fill=COLOURS[k % len(COLOURS)]
            )
        else:
            d.line(pts, fill=COLOURS[k % len(COLOURS)], width=2)
    _save_atomic(img, path)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """CHW in [-1, 1] (any float dtype, any device) -> HWC uint8."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).numpy()


def save_grid(labels: list[str], rows: list[list[torch.Tensor]], path: str) -> None:
    """A grid: one row per image, one column per label (e.g. input | output | target)."""
    h, w = rows[0][0].shape[-2:]
    head = 16
    img = Image.new("RGB", (w * len(labels), head + h * len(rows)), "white")
    d = ImageDraw.Draw(img)
    for c, label in enumerate(labels):
        d.text((c * w + 4, 2), label, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            img.paste(Image.fromarray(to_uint8(t)), (c * w, head + r * h))
    _save_atomic(img, path)


def _save_atomic(img: Image.Image, path: str) -> None:
    tmp = f"{path}.tmp.png"
    img.save(tmp)
    os.replace(tmp, path)


def tensorboard_writer(log_dir: str):
    """A TensorBoard SummaryWriter when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir)
