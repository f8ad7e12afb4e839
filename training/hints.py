"""Synthetic colour hints: stroke-like dabs painted onto a line sketch in the target picture's local colour.

At run time the artist paints one RGB canvas: dark strokes are lines, coloured strokes are hints ("a red
dab inside the walls gives red walls"). The colorize model keeps the contract's plain RGB input, so it
learns hints from sketches that carry them: for each training pair, `paint_hints` draws a few short strokes
(dabs, squiggles, scribbles; 0 to about a dozen, varied width) onto the sketch, each in the colour the target
picture has where the stroke lies, and kept inside the region of that colour (as an artist dabs inside the
walls). A share of the examples gets no hint at all, so the model still picks colours by itself.
Hints never use colours an artist's canvas reads as lines (dark) or paper (near white).

The same random generator that crops and flips the pair draws the hints, so they are identical after
`--resume` and however many workers load the data. (User-guided colorization with sparse local hints:
Zhang et al. 2017; stroke hints: PaintsChainer, PaintsTorch.)
"""

from __future__ import annotations

import numpy as np
from nftgan.core import hintfill
from PIL import Image, ImageDraw, ImageFilter

NO_HINTS = 0.2  # share of examples without any hint
MEAN_STROKES = 5.0  # mean number of strokes when there are hints (geometric, capped at MAX_STROKES)
MAX_STROKES = 14
LINE_L = 30.0  # L* at or below this reads as a line, not a hint
PAPER_L, PAPER_CHROMA = 94.0, 8.0  # lighter and greyer than this reads as paper
REGION_DE = 14.0  # a stroke stays on target pixels within this CIELAB distance of its colour
FLAT_DE = 6.0  # strokes start where the target's colour is flat (not on an anti-aliased edge)
DAB_WIDTH, LINE_WIDTH = (5.0, 14.0), (3.0, 10.0)  # px at 256 px: a round dab, a squiggle or scribble
SLOPPY = 0.15  # share of strokes not clipped to their region (a hasty dab that crosses a line)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB values in [0, 1], any leading shape (..., 3) (the add-on's conversion, channels last)."""
    planar = np.moveaxis(np.asarray(rgb, dtype=np.float32), -1, 0)
    return np.moveaxis(hintfill.lab(planar), 0, -1)


def hintable(lab: np.ndarray) -> np.ndarray:
    """Where a colour can be a hint: not dark enough to read as a line, not light and grey enough for paper."""
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    return (lab[..., 0] > LINE_L) & ((lab[..., 0] < PAPER_L) | (chroma > PAPER_CHROMA))


def _stroke_path(rng: np.random.Generator, start: np.ndarray, scale: float) -> list[tuple[float, float]]:
    """A dab (one point), a short squiggle or a zig-zag scribble, as a polyline starting at `start` (x, y)."""
    kind = rng.choice(3, p=[0.35, 0.45, 0.2])
    points = [tuple(start)]
    if kind == 0:
        return points
    angle = rng.uniform(0, 2 * np.pi)
    n = int(rng.integers(1, 4)) if kind == 1 else int(rng.integers(4, 10))
    pos = start.astype(np.float64)
    for i in range(n):
        if kind == 1:
            angle += rng.normal(0, 0.7)
            length = rng.uniform(6, 26) * scale
        else:  # scribble: back and forth over an area
            angle += np.pi + rng.normal(0, 0.5) if i else 0.0
            length = rng.uniform(10, 32) * scale
        pos = pos + length * np.array([np.cos(angle), np.sin(angle)])
        points.append(tuple(pos))
    return points


def strokes(
    sketch: np.ndarray, target: np.ndarray, rng: np.random.Generator, n: int, sloppy: float = SLOPPY
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Up to `n` hint strokes for `sketch` taken from `target` (both (H, W, 3) uint8, same size): a list of
    (alpha (H, W) float32 in [0, 1], colour (3,) float32 0..255, where (H, W) bool: the target pixels of the
    stroke's colour, within REGION_DE). Each starts on a hintable target pixel away from the sketch's lines,
    takes the target's colour there and (except a `sloppy` share, which may cross a line) stays inside the
    region of that colour."""
    h, w = target.shape[:2]
    lab = srgb_to_lab(target.astype(np.float32) / 255.0)
    lines = Image.fromarray(((sketch.min(axis=2) < 128) * 255).astype(np.uint8)).filter(
        ImageFilter.MaxFilter(5)
    )
    # flat colour (not an anti-aliased edge pixel): the 3x3 neighbourhood varies by less than FLAT_DE
    p = np.pad(lab, ((1, 1), (1, 1), (0, 0)), mode="edge")
    around = [p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    flat = np.linalg.norm(np.max(around, 0) - np.min(around, 0), axis=-1) < FLAT_DE
    ys, xs = np.nonzero(hintable(lab) & flat & (np.asarray(lines) == 0))
    if len(xs) == 0:
        return []
    scale = w / 256.0
    found = []
    for _ in range(n):
        i = int(rng.integers(len(xs)))
        start = np.array([xs[i], ys[i]])
        mask = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        path = _stroke_path(rng, start, scale)
        width = max(2, round(rng.uniform(*(DAB_WIDTH if len(path) == 1 else LINE_WIDTH)) * scale))
        if len(path) > 1:
            draw.line(path, fill=255, width=width, joint="curve")
        for x, y in (path[0], path[-1]):  # round caps (a single point is a round dab)
            r = width / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32) / 255.0
        region = np.linalg.norm(lab - lab[ys[i], xs[i]], axis=-1) < REGION_DE
        inside = (alpha > 0.5) & region
        if rng.random() >= sloppy:
            alpha = alpha * region  # inside the region of its colour, as an artist dabs inside the walls
        if not inside.any():
            continue
        colour = target[inside].astype(np.float32).mean(axis=0)  # the region's local colour under the stroke
        if hintable(srgb_to_lab(colour / 255.0)):
            found.append((alpha, colour, region))
    return found


def paint(sketch: np.ndarray, hints: list[tuple]) -> np.ndarray:
    """`sketch` with the (alpha, colour, ...) strokes painted over it in order; a new uint8 array."""
    out = sketch.astype(np.float32)
    for alpha, colour, *_ in hints:
        out += alpha[..., None] * (colour - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def paint_hints(
    sketch: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`sketch` (H, W, 3 uint8: dark lines on white) with colour hints taken from `target` (the picture, same
    size) painted on it: none for a NO_HINTS share of the calls, else a geometric number of strokes (mean
    MEAN_STROKES). Returns the painted sketch (a new array) and where the target has a hint's colour ((H, W)
    bool: what a hint tells the model, for `--hint-weight`). Draws from `rng` only."""
    if rng.random() < NO_HINTS:
        return sketch.copy(), np.zeros(target.shape[:2], bool)
    n = min(MAX_STROKES, int(rng.geometric(1.0 / MEAN_STROKES)))
    found = strokes(sketch, target, rng, n)
    hinted = np.zeros(target.shape[:2], bool)
    for _, _, where in found:
        hinted |= where
    return paint(sketch, found), hinted
