"""What a run writes for people to look at: metrics.csv, loss.png, sample grids (pillow only), and with
--tensorboard the same scalars and grids for TensorBoard."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .errors import ConfigError

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


def ema(ys: list[float], weight: float) -> list[float]:
    """Exponential moving average, debiased like TensorBoard's smoothing (the first value is not pulled to 0)."""
    out, acc, norm = [], 0.0, 0.0
    for y in ys:
        acc = weight * acc + (1 - weight) * y
        norm = weight * norm + (1 - weight)
        out.append(acc / norm)
    return out


def smoothing_weight(n: int) -> float:
    """EMA weight for a curve of n logged points: a memory of about 5 % of the run (no smoothing below 20)."""
    return min(0.98, max(0.0, 1.0 - 20.0 / n)) if n else 0.0


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 x 10^k apart) covering [lo, hi] with at most `most` ticks."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, most - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10_000 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.4g}"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # pillow's bundled TrueType font (needs FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _faint(c: tuple[int, int, int], amount: float = 0.3) -> tuple[int, int, int]:
    return tuple(round(255 - (255 - v) * amount) for v in c)


def loss_panels(rows: list[dict], groups) -> list[tuple[str, list[str]]]:
    """The panels with something to draw: (title, the metrics of the group that have values)."""
    panels = []
    for title, names in groups:
        present = [n for n in names if _values(rows, n)[0]]
        if present:
            panels.append((title, present))
    return panels


def write_loss_png(
    rows: list[dict], groups, path: str, width: int = 900, panel_height: int = 240
) -> list[str]:
    """loss.png: one panel per group of metrics (e.g. adversarial G and D; L1; validation PSNR) drawn with
    pillow, step on the x axis, ticks and labels on both axes; each metric raw (faint) and smoothed (an EMA
    over about 5 % of the run). `groups`: [(title, (metric, ...)), ...]. Returns the titles drawn."""
    panels = loss_panels(rows, groups)
    if not panels:
        return []
    font, small = _font(14), _font(11)
    pad_l, pad_r, pad_t, pad_b = 78, 18, 30, 40
    img = Image.new("RGB", (width, panel_height * len(panels)), "white")
    d = ImageDraw.Draw(img)
    x_max = max(float(r["step"]) for r in rows) or 1.0
    x_ticks = [t for t in nice_ticks(0.0, x_max, 8) if t >= 0]
    colour = 0
    for k, (title, names) in enumerate(panels):
        top = k * panel_height
        x0, y0, x1, y1 = pad_l, top + pad_t, width - pad_r, top + panel_height - pad_b
        series = []
        for name in names:
            xs, ys = _values(rows, name)
            smooth = ema(ys, smoothing_weight(len(ys)))
            series.append((name, xs, ys, smooth, COLOURS[colour % len(COLOURS)]))
            colour += 1
        raw_all = [y for s in series for y in s[2]]
        smooth_all = [y for s in series for y in s[3]]
        # the y range: the raw values without their extreme 2 % (early spikes), and every smoothed value
        lo = min(float(np.percentile(raw_all, 2)), *smooth_all)
        hi = max(float(np.percentile(raw_all, 98)), *smooth_all)
        if hi - lo < 1e-12:
            lo, hi = lo - max(0.5, abs(lo) * 0.1), hi + max(0.5, abs(hi) * 0.1)
        lo, hi = lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05
        y_ticks = nice_ticks(lo, hi, 6)
        X = lambda x, x0=x0, x1=x1: x0 + (x1 - x0) * x / x_max
        Y = lambda y, y0=y0, y1=y1, lo=lo, hi=hi: y1 - (y1 - y0) * (min(max(y, lo), hi) - lo) / (hi - lo)
        for t in y_ticks:  # grid lines, ticks, tick labels
            yp = Y(t)
            d.line((x0, yp, x1, yp), fill=(232, 232, 232))
            d.line((x0 - 5, yp, x0, yp), fill=(60, 60, 60))
            label = _fmt(t)
            d.text((x0 - 8 - d.textlength(label, font=small), yp - 7), label, fill=(60, 60, 60), font=small)
        for t in x_ticks:
            xp = X(t)
            d.line((xp, y0, xp, y1), fill=(232, 232, 232))
            d.line((xp, y1, xp, y1 + 5), fill=(60, 60, 60))
            label = _fmt(t)
            d.text((xp - d.textlength(label, font=small) / 2, y1 + 7), label, fill=(60, 60, 60), font=small)
        d.rectangle((x0, y0, x1, y1), outline=(120, 120, 120))
        d.text(
            ((x0 + x1) / 2 - d.textlength("step", font=small) / 2, y1 + 22),
            "step",
            fill=(60, 60, 60),
            font=small,
        )
        d.text((8, top + 7), title, fill=(0, 0, 0), font=font)
        legend_x = x0 + d.textlength(title, font=font) + 30
        for name, xs, ys, smooth, c in series:
            d.line((legend_x, top + 15, legend_x + 18, top + 15), fill=c, width=3)
            d.text((legend_x + 22, top + 7), name, fill=c, font=font)
            legend_x += 22 + d.textlength(name, font=font) + 18
            if len(xs) == 1:
                px, py = X(xs[0]), Y(ys[0])
                d.ellipse((px - 3, py - 3, px + 3, py + 3), fill=c)
                continue
            if smoothing_weight(len(ys)) > 0:
                d.line([(X(x), Y(y)) for x, y in zip(xs, ys)], fill=_faint(c), width=1)
            d.line([(X(x), Y(y)) for x, y in zip(xs, smooth)], fill=c, width=2)
    note = "faint: as logged; bold: smoothed (EMA over ~5 % of the run)"
    d.text((width - pad_r - d.textlength(note, font=small), 9), note, fill=(110, 110, 110), font=small)
    _save_atomic(img, path)
    return [t for t, _ in panels]


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """CHW in [-1, 1] (any float dtype, any device) -> HWC uint8."""
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).numpy()


def save_grid(
    labels: list[str],
    rows: list[list[torch.Tensor]],
    path: str,
    row_labels: list[str] | None = None,
    title: str = "",
    cell: int = 256,
) -> Image.Image:
    """A grid: one row per example, one column per label (e.g. input | output | target), each image scaled up
    by a whole factor (nearest neighbour, so its pixels stay visible) to about `cell` px; `row_labels` name
    the rows (e.g. held-out #1 / training #1). Returns the image."""
    h, w = rows[0][0].shape[-2:]
    f = max(1, cell // max(h, w))
    h, w = h * f, w * f
    font = _font(14)
    left = 0
    if row_labels:
        left = 12 + max(
            int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(t, font=font)) for t in row_labels
        )
    head = 22 + (20 if title else 0)
    img = Image.new("RGB", (left + w * len(labels), head + h * len(rows)), "white")
    d = ImageDraw.Draw(img)
    if title:
        d.text((6, 3), title, fill=(0, 0, 0), font=font)
    for c, label in enumerate(labels):
        d.text((left + c * w + 4, head - 19), label, fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        if row_labels:
            d.text((6, head + r * h + 4), row_labels[r], fill=(0, 0, 0), font=font)
        for c, t in enumerate(row):
            cell_img = Image.fromarray(to_uint8(t))
            if f > 1:
                cell_img = cell_img.resize((cell_img.width * f, cell_img.height * f), Image.NEAREST)
            img.paste(cell_img, (left + c * w, head + r * h))
    _save_atomic(img, path)
    return img


def _save_atomic(img: Image.Image, path: str) -> None:
    tmp = f"{path}.tmp.png"
    img.save(tmp)
    os.replace(tmp, path)


TENSORBOARD_MISSING = (
    "--tensorboard needs the tensorboard package, which is not installed: pip install tensorboard "
    "(or pip install 'nftgan[tensorboard]'), or train without --tensorboard (metrics.csv, loss.png and "
    "samples/ are always written)"
)


def tensorboard_writer(log_dir: str | None, purge_step: int | None = None):
    """A TensorBoard SummaryWriter for `log_dir` (the optional `tensorboard` package, imported only here),
    which drops logged events from `purge_step` on; log_dir None: only check that the package is there."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(TENSORBOARD_MISSING) from None
    return SummaryWriter(log_dir, purge_step=purge_step) if log_dir else None
