"""Follow my colours: fill each region the artist dabbed, to its lines, in the dab's colour (numpy only).

On the sketch canvas dark strokes are lines and coloured strokes are hints. The colorize model learns to
use hints, but a small network trained on a laptop follows them only partly (a red dab gives reddish
walls). This pass makes the promise exact, as a paint bucket would, while keeping what the model is good
at: for every region enclosed by lines that holds a hint, the result takes the hint's hue and chroma and
keeps the model's shading (its lightness variation around the region's mean, centred on the hint's
lightness). Regions without a hint keep the model's own colours.

Regions are the connected areas of the sketch that are not line (4-connected), found on runs of pixels
with a small union-find; lines are thickened by one pixel first, so a hairline gap does not let a dab's
colour leak into the next region. It runs at the model's work size (256 px for the default styles) on
the colorize stage's planar output, so it costs a few milliseconds whatever the canvas size.
"""

from __future__ import annotations

import numpy as np

LINE = 0.6  # line_layer value below which a pixel is line (dark or grey stroke)
HINT_L = (30.0, 97.0)  # a hint is neither as dark as a line nor paper
HINT_CHROMA = 18.0  # ... and clearly coloured (CIELAB chroma)
SATURATED = 0.08  # max - min channel (0..1) below which a pixel cannot be a hint (grey, black, paper)
MIN_HINT_PIXELS = 3  # fewer coloured pixels in a region are noise (anti-aliasing, a stray speck)
SHADING = 0.8  # share of the model's lightness variation kept inside a filled region
MAX_SHADE = 15.0  # ... at most this far (CIELAB L*) from the region's mean

_M = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of planar sRGB (3, ...) in [0, 1] -> (3, ...)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((np.maximum(rgb, 0) + 0.055) / 1.055) ** 2.4)
    xyz = np.tensordot(_M, lin, axes=1) / _WHITE.reshape(3, *([1] * (lin.ndim - 1)))
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])]).astype(np.float32)


def srgb(lab_: np.ndarray) -> np.ndarray:
    """Planar sRGB in [0, 1] of CIELAB (3, ...) (out-of-gamut colours clipped)."""
    fy = (lab_[0] + 16) / 116
    f = np.stack([fy + lab_[1] / 500, fy, fy - lab_[2] / 200])
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE.reshape(
        3, *([1] * (f.ndim - 1))
    )
    lin = np.tensordot(np.linalg.inv(_M).astype(np.float32), xyz, axes=1)
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055).astype(np.float32)


def label_regions(open_: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean (H, W) mask: (labels with -1 outside the mask, count)."""
    h, w = open_.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = open_
    d = np.diff(padded, axis=1)  # +1 where a run starts, -1 one past where it ends
    rows_s, starts = np.nonzero(d == 1)
    rows_e, ends = np.nonzero(d == -1)  # row-major order: runs pair up in order
    n = len(starts)
    labels = -np.ones((h, w), np.int32)
    if n == 0:
        return labels, 0
    stride = w + 2
    key_s = rows_s.astype(np.int64) * stride + starts
    key_e = rows_e.astype(np.int64) * stride + ends
    # run j (row r > 0) touches runs i of row r - 1 with start_i < end_j and end_i > start_j
    below = rows_s > 0
    j = np.nonzero(below)[0]
    prev = (rows_s[j] - 1).astype(np.int64) * stride
    lo = np.searchsorted(key_e, prev + starts[j], side="right")
    hi = np.searchsorted(key_s, prev + ends[j], side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(j, count)
    b = np.repeat(lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    root = np.arange(n)
    while len(a):  # min-label propagation with pointer jumping: a few rounds for any shape
        m = np.minimum(root[a], root[b])
        new = root.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]
        while not np.array_equal(new, new[new]):
            new = new[new]
        if np.array_equal(new, root):
            break
        root = new
    _, run_label = np.unique(root, return_inverse=True)
    lengths = ends - starts
    flat = labels.reshape(-1)
    pix = np.repeat(rows_s.astype(np.int64) * w + starts, lengths) + (
        np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    )
    flat[pix] = np.repeat(run_label, lengths)
    return labels, int(run_label.max()) + 1


def _grow(mask: np.ndarray) -> np.ndarray:
    """mask dilated by one pixel (3 x 3)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


def has_hints(sketch: np.ndarray) -> bool:
    """Cheap first look (no colour conversion): does the sketch (planar [-1, 1]) hold enough coloured pixels
    to be hints? A sketch of lines on paper returns False at the cost of one max and one min per pixel."""
    spread = sketch.max(axis=0)
    spread -= sketch.min(axis=0)
    return int(np.count_nonzero(spread > 2 * SATURATED)) >= MIN_HINT_PIXELS


def fill(result: np.ndarray, sketch: np.ndarray, line_layer: np.ndarray) -> tuple[np.ndarray, int]:
    """Fill the hinted regions of `result` (planar RGB (3, H, W) in [-1, 1], the colorize output) in place.

    `sketch` is the model's input at the same size (planar [-1, 1]) and `line_layer` its lines (pipeline.
    line_layer: < LINE is line). Returns (result, number of regions filled)."""
    if result.shape != sketch.shape:
        raise ValueError(f"result {result.shape} and sketch {sketch.shape} differ in size")
    s_lab = lab((sketch + 1) * 0.5)
    chroma = np.hypot(s_lab[1], s_lab[2])
    line = line_layer < LINE
    hint = ~line & (s_lab[0] > HINT_L[0]) & (s_lab[0] < HINT_L[1]) & (chroma > HINT_CHROMA)
    if hint.sum() < MIN_HINT_PIXELS:
        return result, 0
    labels, n = label_regions(~_grow(line))
    # pixels the thickened lines took from a region (not line themselves) go back to a labelled neighbour
    for _ in range(2):
        lost = (labels < 0) & ~line
        if not lost.any():
            break
        near = labels.copy()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            shifted = np.roll(labels, (dy, dx), axis=(0, 1))
            near = np.maximum(near, shifted)
        labels[lost] = near[lost]
    hinted = hint & (labels >= 0)
    if hinted.sum() < MIN_HINT_PIXELS:
        return result, 0
    # each region's hint colour: the most common (a*, b*) bin among its hint pixels, then that bin's mean
    hl = labels[hinted]
    hab = s_lab[:, hinted]
    bins = (np.floor(hab[1] / 16).astype(np.int64) + 64) * 128 + (np.floor(hab[2] / 16).astype(np.int64) + 64)
    key = hl.astype(np.int64) * 16384 + bins
    keys, counts = np.unique(key, return_counts=True)
    region_of = keys // 16384
    order = np.lexsort((-counts, region_of))  # per region, the biggest bin first
    first = np.ones(len(order), bool)
    first[1:] = region_of[order][1:] != region_of[order][:-1]
    best = order[first]
    best = best[counts[best] >= MIN_HINT_PIXELS]
    if not len(best):
        return result, 0
    colour = np.zeros((3, n), np.float32)
    has = np.zeros(n, bool)
    for k in best:  # one per filled region (a handful)
        r = int(region_of[k])
        sel = key == keys[k]
        colour[:, r] = hab[:, sel].mean(axis=1)
        has[r] = True
    target = (labels >= 0) & has[np.maximum(labels, 0)]
    r_lab = lab((np.clip(result, -1, 1) + 1) * 0.5)
    # The model renders a dab as a dark blot of its own: near the dabs the fill takes the hint's lightness
    # (shading weight 0 within 2 px, rising to 1 at 6 px), and elsewhere keeps the model's lightness
    # variation around the region's mean, limited to +-MAX_SHADE.
    weight = np.ones(hint.shape, np.float32)
    grown = _grow(_grow(hint))
    for w in (0.0, 0.25, 0.5, 0.75):
        weight[grown & (weight == 1.0)] = w
        grown = _grow(grown)
    reg = labels[target]
    wt = weight[target]
    lt = r_lab[0][target]
    count = np.bincount(reg, weights=wt, minlength=n)
    mean_all = np.bincount(reg, weights=lt, minlength=n) / np.maximum(np.bincount(reg, minlength=n), 1)
    mean_l = np.where(
        count > 0, np.bincount(reg, weights=lt * wt, minlength=n) / np.maximum(count, 1e-6), mean_all
    )
    out = np.empty((3, int(target.sum())), np.float32)
    shade = np.clip(lt - mean_l[reg], -MAX_SHADE, MAX_SHADE) * (SHADING * wt)
    out[0] = np.clip(colour[0, reg] + shade, 0, 100)
    out[1] = colour[1, reg]
    out[2] = colour[2, reg]
    result[:, target] = srgb(out) * 2 - 1
    return result, int(has.sum())
