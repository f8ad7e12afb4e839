"""Follow my colours: fill each region the artist dabbed, to its lines, in the dab's colour (numpy only).

On the sketch canvas dark strokes are lines and coloured strokes are hints; so is a grey (or near-white) dab
much wider than the lines inside a shape (`grey_dabs`: a grey robot, a rock, an eye's white), and a thinner
grey or pale one that is clearly paint, flat and lighter than the lines (`pale_dabs`). The colorize model learns to
use hints, but a small network trained on a laptop follows them only partly (a red dab gives reddish
walls). This pass makes the promise exact, as a paint bucket would, while keeping what the model is good
at: every region enclosed by lines that holds a hint takes the hint's hue and chroma and keeps the model's
shading (its lightness variation around the region's mean, centred on the hint's lightness). A region
without a hint gets an automatic dab from the model (`auto_fill`, below).

- Several colours in one region: each pixel takes the colour of the dab nearest to it (blended over a few
  pixels at the midline). Strokes of one paint are one dab: the same colour, or a paler tint of it (a
  dab's soft edge, a thin stroke). A stroke's colour is its core's (its pixels of its hue with the most
  chroma), not the paler tint most pixels of a thin stroke or a speck have (its soft edge).
- The model draws a dab as a blot of its own that reaches past it; near a dab the shading is taken from
  the region around it instead, so no ghost of the dab's outline stays in the filled shape. In a region the
  model paints as paper (a sky) the blot reaches 30 px and more, often off to one side of the dab: there the
  blot is told by its lightness (off the paper's level) and is ghost too, so the sky shows no darker cloud. It also paints
  a bevel along every line (a light or dark band a few px wide); within RIM px of the region's lines the
  shading is taken from further in too, so no lighter ring follows a filled shape's outline.
- The model also spills a dab's colour past the lines (a glow in the open paper): in regions without a
  hint, near a dab, the part of the colour that leans toward the dab's is taken back toward the region's
  own colour (its median away from the dabs: white for paper).
- Paper stays paper. The model learned from pictures on white paper only; on a drawing unlike them it
  paints a pale haze into the paper around the shapes (a yellow glow beside a house, which a 3D style then
  turns into a beige blob). The open paper (the regions reaching the canvas edge without a dab, less the
  shapes a small gap joins to them: the lines thickened 2, 3 and 4 px in turn, a shape kept at the
  narrowest width that cuts it off, so a small or thin one is not lost) comes back white, up to the
  lines (a frame drawn round the drawing counts as the canvas edge: the paper inside it is open paper too;
  and where a gap's side, continued straight across it, closes off a notch beside a shape (a roof's eave
  under the slope's overhang past the walls' corner), the notch is the shape's: `_eaves`); enclosed shapes
  keep the model's colours, and a dab in the paper fills it as any other region: a
  blue dab in the sky gives a blue sky to the lines (to a horizon drawn edge to edge; no frame needed), and
  is no paper any more. Such a sky is filled flat: the model painted it as paper, and what it paints into
  its paper is haze it spreads from the shapes (a darker wedge at the foot of a house), not shading; `fill`
  hands it out too, and a style that keeps your colours adds no light there (pipeline.keep_colours). The
  lines beside a filled region or the paper are laid over its new colour, not the model's (which showed
  past the sharp lines as a fringe), when keep my lines lays the sketch's lines back over the result
  (`fill`'s `lined`); without them the line pixels keep the model's own lines (as dark as it painted
  them, in the new colours beside them: `_model_lines`). `fill` hands
  this paper out: a style that keeps your colours keeps it white too (pipeline.keep_paper).
- An automatic dab from the model. Without a hint the small model, unsure between colours, paints a shape
  as a mottle of pastel blotches (the UP! square beige with cyan and pink patches, the demo house's walls
  pink, beige and grey): an L1 / GAN-trained network averages the colours it is unsure between. Each
  enclosed region without a dab (not the open paper, not line; each part of a region that the paper cut
  off is a region of its own) takes one colour of the model's own and is filled as a dabbed one is: that
  hue and chroma flat, the model's lightness shading kept around the region's median L* (SHADING, MAX_SHADE,
  the RIM rule). The colour is the region's median a*, b* away from its lines: the colour the model paints
  most of it in; a shape it paints near white (an eye's white, teeth) stays white. (The model's most
  confident colour, its chroma-weighted a*, b* histogram's peak, was measured against it and not kept: more
  vivid but mostly the same warm orange, and dabbed shapes further from their dabs: held-out hint dE 11.5 /
  8.3 against 10.8 / 8.0, emoji / clip art, docs/models.md.) A region under AUTO_MIN px (a speck) keeps the
  model's colours. In a
  dabbed sketch the undabbed regions take it after the glow is taken out of them.

Regions are the connected areas of the sketch that are not line (4-connected), found on runs of pixels
with a small union-find; lines are thickened by one pixel first, so a hairline gap does not let a dab's
colour leak into the next region. A quick sketch leaves wider gaps too, and a dabbed region that reaches
the canvas edge through one would fill the paper (the whole canvas in the dab's colour): the leak guard
closes gaps of a few px for such regions (thicker lines, then grown back). Where none close, straight rays
from the dab tell the open background from a shape with a wide gap: if enough of them reach the canvas edge
without crossing a line, and the lines they meet are not close by, the dab is in the open (a sky, a ground
under a horizon) and fills it all to the lines, less the shapes a small gap joins to it (cut off as the
paper's are), which keep the model's colours; else, where the model paints most of the region as paper, the
dab keeps to the part the model paints as a shape. A frame drawn round the drawing is the canvas edge to the
leak guard too, as to the paper (a framed sketch is guarded as the same sketch without the frame). Distances
to the dabs are computed on a 4 px grid. It runs at the model's work size (256 px for the default styles)
on the colorize stage's planar output, so it costs the same whatever the canvas size: about 5 ms of CPU
for a 256 px sketch without dabs (the paper: two labellings of the regions, a third of the few pixels the
narrower widths may cut off), 15-20 ms with dabs, about 30 when a dab fills a whole open background (a sky
at 256 px); the interpolations are two-tap, not matrix products (whose OpenBLAS threads, on a machine whose
cores were all busy, waited on each other for tens of ms). The automatic dab adds about 2.5-3 ms to `prepare`
(`auto_plan`: its regions, their rims and what fill needs of them, beside the model) and 2-6 ms to `fill` (the
demo house, 15 k px in 10 regions, and the bench's framed sketch, 38 k px in 14; thread CPU, 2 shared cores:
noisy): on the framed sketch about 1.8 ms one CIELAB conversion of the regions' pixels, 0.4-0.7 the medians
(a partition per region), about 1 the rim shading, 1.15 back to sRGB, 1 the gathers and scatters, and 1.4 the
under-colouring of the lines beside the regions (only with keep my lines; `_under_lines`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .colour import lab, lab_f_y, srgb, srgb_of_f

LINE = 0.6  # line_layer value below which a pixel is line (dark or grey stroke)
HINT_L = (30.0, 97.0)  # a hint is neither as dark as a line nor paper
HINT_CHROMA = 18.0  # ... and clearly coloured (CIELAB chroma)
SATURATED = 0.08  # max - min channel (0..1) below which a pixel cannot be a hint (grey, black, paper)
MIN_HINT_PIXELS = 3  # fewer coloured pixels in a region are noise (anti-aliasing, a stray speck)
SHADING = 0.8  # share of the model's lightness variation kept inside a filled region
MAX_SHADE = 15.0  # ... at most this far (CIELAB L*) from the region's mean
GHOST = (12, 24)  # px from a dab: the model's lightness there is its own blot of the dab, not shading
BLOT = (4.0, 8)  # L*, px: the model's blot of a dab: off its region's level by more than this (plus the
# region's own spread), and how far around it the shading fades back in
RIM = (2, 8)  # px from a filled region's lines: the model's lightness there is its bevel of a line
CORE = (0.9, 0.9)  # a stroke's colour: its pixels within this cosine of its hue, this share of its top chroma
SAME_DE = 12.0  # strokes in one region closer than this (CIELAB) are one colour
TINT_TOL = 0.06  # ... and so is a stroke that is another thinned with paper (sRGB, per channel)
SPLIT_SOFT = 1.5  # px: a region with dabs of several colours blends them over a few px at the midline
GLOW = (32, 72)  # px from a dab: the model's spill of the dab's colour into undabbed regions is taken
GLOW_TOL = 3.0  # back fully within the first, fading out to the second (a pixel this close (a*, b*) is left)
MIN_BASE = 32  # an undabbed region needs this many pixels beyond GLOW[1] to tell its own colour
COARSE = 4  # px: the grid the distances to the dabs are computed on
MAX_SEEDS = 48  # edge points per dab group for those distances
CLOSE = (2, 3, 4)  # px: a dabbed region open to the canvas edge is tried with its lines thickened this much
MIN_ENCLOSED = 64  # px: ... and the dab's part, once cut off from the edge, must keep at least this many
PAPER = (92.0, 6.0, 0.3)  # the model's paper: L* above, chroma below; and the share of a still-open region
# it must paint as paper for the dabs to keep to the rest
FRAME = 12  # px at 256 px: a region this close to the canvas edge reaches it (inside a frame drawn round it)
FRAMED = 0.9  # a drawn frame: lines within FRAME px of the canvas edge along this share of each of its sides
RUN = (2, 3)  # ... each line of it running along the side for RUN[0] * FRAME px or more, wandering at
# most RUN[1] px across it (at 256 px: a hand-drawn frame; a line that crosses the strip has no such run)
RAYS = 16  # a dab's region still open to the canvas edge is open background if, of RAYS straight rays from
ESCAPE = 0.3  # RAY_POINTS points on its dab, at least this share reaches the edge without crossing a line,
CLEAR = 12.0  # and the nearest line they meet is this many px away (at 256 px; the median over the points)
RAY_POINTS = 8
BESIDE = (
    0.5,
    6.0,
)  # ... or, where at least this share reaches the edge (the dab beside at most a half-plane of
# lines: a ground under its horizon), only this many px (a dab clearly off the line, not hugging it)
RAY_STEPS = 16  # px: the rays are traced this many steps first (then twice as many each time), stopping once
# all are blocked or off the canvas
UNDER = 3  # px: how far into a line the colour of the regions beside it reaches (lines are ~2.5 px at 256)
EAVE = (8, 16)  # px at 256 px: at a closed gap a shape's outline is followed this far back from its end for
# its direction, and continued straight across the gap at most this far to the line it meets; the notch
# that closes off (an eave under a roof's overhang, at most EAVE[1]² px at 256) is the shape's, not paper


def label_regions(open_: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of a boolean (H, W) mask: (labels with -1 outside the mask, count)."""
    return _label(open_)[:2]


def _label(open_: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """label_regions, and each region's size in pixels (from its runs' lengths)."""
    h, w = open_.shape
    padded = np.zeros((h, w + 2), bool)
    padded[:, 1:-1] = open_
    # the runs' starts and ends (one past) alternate in row-major order where the padded rows change (bool
    # !=: np.flatnonzero of np.diff's int8 took three times as long), the rows end to end (a row's last pixel
    # and the next one's first are both padding: no change; half the time of the rows apart)
    flat = padded.reshape(-1)
    rows, cols = np.divmod(np.flatnonzero(flat[1:] != flat[:-1]), w + 2)
    rows_s, starts, ends = rows[0::2], cols[0::2], cols[1::2]
    n = len(starts)
    if n == 0:
        return np.full((h, w), -1, np.int32), 0, np.zeros(0, np.int64)
    stride = w + 2
    key_s = rows_s * stride + starts
    key_e = rows_s * stride + ends
    # run j (row r > 0) touches runs i of row r - 1 with start_i < end_j and end_i > start_j
    below = rows_s > 0
    j = np.nonzero(below)[0]
    prev = (rows_s[j] - 1) * stride
    lo = np.searchsorted(key_e, prev + starts[j], side="right")
    hi = np.searchsorted(key_s, prev + ends[j], side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(j, count)
    b = np.repeat(lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    root = np.arange(n)
    while len(a):  # hook the larger root of each edge's two onto the smaller, then flatten the trees: a few
        # rounds for any shape, and each component's root is its first run (the labels number them in order)
        ra, rb = root[a], root[b]
        apart = ra != rb
        if not apart.any():
            break
        a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]  # a joined edge stays joined
        np.minimum.at(root, np.maximum(ra, rb), np.minimum(ra, rb))
        up = root[root]
        while (up != root).any():
            root = up
            up = root[root]
    # each component's label: its root's rank among the roots (the runs that are their own root), as
    # np.unique(root, return_inverse=True) numbers them, without the sort
    run_label = (np.cumsum(root == np.arange(n)) - 1)[root]
    # the labels, row-major: -1 in the gaps, each run's label along it
    bounds = np.empty(2 * n + 2, np.int64)
    bounds[0], bounds[-1] = 0, h * w
    bounds[1:-1:2] = rows_s * w + starts
    bounds[2:-1:2] = rows_s * w + ends
    values = np.full(2 * n + 1, -1, np.int32)
    values[1::2] = run_label
    m = int(run_label.max()) + 1
    sizes = np.bincount(run_label, weights=ends - starts, minlength=m).astype(np.int64)
    return np.repeat(values, np.diff(bounds)).reshape(h, w), m, sizes


def runs(labels: np.ndarray) -> np.ndarray:
    """Where the runs of equal values along flat `labels` start (flat indices, the first 0; none when empty)."""
    starts = np.flatnonzero(labels[1:] != labels[:-1])
    starts += 1
    return np.concatenate([[0], starts]) if len(labels) else starts


def counts(labels: np.ndarray, n: int = 0, at: np.ndarray | None = None) -> np.ndarray:
    """np.bincount(labels, minlength=n) (int64) of labels (>= 0) that come in runs (a region's pixels in row
    order): counted a run at a time, then per label. bincount adds one after another into the same few bins,
    each add waiting on the one before (80 us for the 65 k pixels at 256 px; by runs ~25). `at`: `runs` of
    the flat labels, when made already."""
    flat = labels.reshape(-1)
    at = runs(flat) if at is None else at
    return np.bincount(flat[at], weights=run_lengths(at, len(flat)), minlength=n).astype(np.int64)


def run_lengths(at: np.ndarray, n: int) -> np.ndarray:
    """The lengths of the runs starting at `at` (`runs`) of an array of `n` (np.diff with append's Python took
    a third longer)."""
    size = np.empty(len(at), np.intp)
    np.subtract(at[1:], at[:-1], out=size[:-1])
    size[-1:] = n - at[-1:]
    return size


def max3(a: np.ndarray) -> np.ndarray:
    """The max over the 3 x 3 px around each pixel of (H, W) `a` (within the image)."""
    kind = a.dtype.kind
    return window(
        a, 1, np.maximum, -np.inf if kind == "f" else np.iinfo(a.dtype).min if kind in "iu" else False
    )


def _spread3(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The max - min over the 3 x 3 px around the pixels of float (H, W) `a` at the flat indices `at` (within
    the image), (len(at),): the nine values gathered at once from a copy padded with its edge pixels (which
    are in the window already: the same max and min as over the image's own), then reduced. `painted` and
    `pale_dabs` ask it at their candidates only (a few % of the pixels: a tenth of two 3 x 3 windows' time)."""
    w = a.shape[1]
    stride = w + 2
    centre = at + 2 * (at // w) + stride + 1  # (y + 1) * stride + x + 1
    near = np.array([dy * stride + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)], np.intp)
    values = edged(a, 1).reshape(-1)[centre[None, :] + near[:, None]]  # (9, pixels)
    out = values.max(axis=0)
    out -= values.min(axis=0)
    return out


def edged(a: np.ndarray, r: int, dtype=None) -> np.ndarray:
    """(..., H, W) `a` padded `r` px round its last two axes with its edge pixels repeated, as a new array of
    `dtype` (default a's): np.pad's edge mode, the same values, without its ~25 us of set-up a call (at 256 px
    the padding itself takes ~10)."""
    h, w = a.shape[-2:]
    p = np.empty((*a.shape[:-2], h + 2 * r, w + 2 * r), dtype or a.dtype)
    p[..., r : r + h, r : r + w] = a
    p[..., :r, r : r + w] = a[..., :1, :]
    p[..., r + h :, r : r + w] = a[..., -1:, :]
    p[..., :r] = p[..., r : r + 1]
    p[..., r + w :] = p[..., r + w - 1 : r + w]
    return p


def grow(mask: np.ndarray, r: int = 1) -> np.ndarray:
    """A (H, W) bool mask dilated by `r` px: the (2r + 1) x (2r + 1) square around each pixel, clipped at the
    canvas edge (the same as r dilations by 3 x 3). A new array."""
    out = np.asarray(mask, bool)
    return out.copy() if r <= 0 else window(out, r, np.logical_or, False)


def window(a: np.ndarray, r: int, op, fill) -> np.ndarray:
    """`op` (np.logical_or, np.minimum, np.maximum) over the (2r + 1) x (2r + 1) px around each pixel of (H, W)
    `a`, within the image (outside it: `fill`, op's identity). Separable, each axis a running window built by
    doubling (log2(2r + 1) ops of shifted slices per axis instead of 2r whole-image passes), each op on one
    flat contiguous run of the image padded r px all round: down the columns shifted by whole padded rows,
    then along the rows (a window never reaches past its row's padding); the ops go back and forth between
    two buffers (an op whose output overlaps its input makes numpy copy it first: float32 took twice as
    long). A new array."""
    h, w = a.shape
    width, stride = 2 * r + 1, w + 2 * r
    p = np.empty((h + 2 * r, stride), a.dtype)
    p[:r] = fill
    p[r + h :] = fill
    p[r : r + h, :r] = fill
    p[r : r + h, r + w :] = fill
    p[r : r + h, r : r + w] = a
    f, g = _running(p.reshape(-1), np.empty(p.size, a.dtype), width, stride, op)  # (rows 0..h-1 valid)
    f, _ = _running(f[: h * stride], g[: h * stride], width, 1, op)
    return np.ascontiguousarray(f[: h * stride].reshape(h, stride)[:, :w])


def _running(f: np.ndarray, g: np.ndarray, width: int, step: int, op) -> tuple[np.ndarray, np.ndarray]:
    """`window`'s running op along flat `f`: out[i] = op(f[i], f[i + step], ..., f[i + (width - 1) step]), for
    i < len(f) - (width - 1) step (the entries after those: left over); by doubling, into the second buffer
    `g` (as long as `f`) and back. Returns (out, the other buffer): both are `f` and `g` (overwritten)."""
    n, k = f.size, 1
    while 2 * k <= width:  # f[i] = op(a[i .. i + k - 1]) -> 2k
        op(f[: n - k * step], f[k * step : n], out=g[: n - k * step])
        n -= k * step
        k *= 2
        f, g = g, f
    if k < width:  # the last, overlapping step: windows of k and k shifted by width - k cover width
        s = (width - k) * step
        op(f[: n - s], f[s:n], out=g[: n - s])
        f, g = g, f
    return f, g


def has_hints(sketch: np.ndarray) -> bool:
    """Cheap first look (no colour conversion): does the sketch (planar [-1, 1]) hold enough coloured pixels
    to be hints? A sketch of lines on paper returns False at the cost of one max and one min per pixel."""
    spread = sketch.max(axis=0)
    spread -= sketch.min(axis=0)
    return int(np.count_nonzero(spread > 2 * SATURATED)) >= MIN_HINT_PIXELS


def hint_mask(sketch: np.ndarray, line_layer: np.ndarray, fringe: int = 0) -> np.ndarray:
    """(H, W) bool: the hint pixels of a sketch (planar [-1, 1], any size) as `fill` tells them, converting
    only the coloured pixels to CIELAB (cheap on a large canvas of lines), and its grey dabs (`grey_dabs`,
    `pale_dabs`). `fringe`: with the pixels up to that many px around them that are not line: a dab's
    anti-aliased edge, too pale to be a hint itself (half brown, half paper), which "keep my lines" would
    otherwise lay over a filled shape as a faint ring."""
    return with_fringe(hints(sketch, line_layer)[0], line_layer, fringe)


def hints(sketch: np.ndarray, line_layer: np.ndarray, hi_lo: tuple | None = None) -> tuple[np.ndarray, bool]:
    """(`hint_mask(sketch, line_layer)`, `painted(sketch, line_layer)`): painted's grid is `pale_dabs`' own.
    `hi_lo`: the sketch's max and min over its channels, when made already (not changed)."""
    out = np.zeros(line_layer.shape, bool)
    hi, lo = hi_lo if hi_lo is not None else (sketch.max(axis=0), sketch.min(axis=0))
    coloured = (hi - lo) > 2 * SATURATED
    if int(np.count_nonzero(coloured)) >= MIN_HINT_PIXELS:  # (has_hints)
        coloured &= line_layer >= LINE
        at = np.flatnonzero(coloured)  # (flat indices: a third of np.nonzero's time on a 2-D mask)
        if len(at):
            c = lab((_take(sketch, at) + 1) * 0.5)
            out.reshape(-1)[at] = (
                (c[0] > HINT_L[0]) & (c[0] < HINT_L[1]) & (np.hypot(c[1], c[2]) > HINT_CHROMA)
            )
    out |= grey_dabs(sketch, line_layer, out, (hi, lo))
    pale, paint = _pale(sketch, line_layer, out, (hi, lo))
    out |= pale
    return out, paint


GREY_V = (0.28, 0.965)  # a grey dab's value (sRGB, its brightest channel / its darkest): above near-black
# (L* 30: always line), below paper
GREY_WIDTH = (5.0, 1.5)  # px at 256 px: a grey dab is at least this wide, and this many times the lines'
# width
GREY_LIGHTER = 0.15  # ... lighter than the sketch's lines by this much (sRGB value)
GREY_FLAT = 0.06  # ... and flat: its core's values within this (a brush's paint, not pencil shading)
GREY_RING = 0.1  # ... at most this share of the pixels 2 px round it are of its grey or lighter, but no paper
GREY_BODY = 0.5  # ... and at least this share of its pixels are of its core's grey (the rest: its soft edge)
GREY_STEP = 0.06  # ... and darker than the paper round it by this much (sRGB value)
GREY_TOL = 0.04  # its pixels: not darker than its core by more than this (its soft edge toward the paper is)


def grey_dabs(
    sketch: np.ndarray, line_layer: np.ndarray, coloured: np.ndarray | None = None, hi_lo: tuple | None = None
) -> np.ndarray:
    """(H, W) bool: the grey dabs of a sketch (planar [-1, 1]): an artist who dabs mid-grey into a grey robot
    or a rock, or near-white into an eye, paints a hint, not a line. A grey stroke is a dab (its pixels and
    its soft edge toward the paper) where it is much wider than the sketch's lines (GREY_WIDTH: what is left
    of it eroded by half that width), lighter than them (GREY_LIGHTER: the same pencil's solid patch stays
    line), flat (GREY_FLAT: one paint, not shading), on paper (GREY_RING: its soft edge meets the paper or
    a line, not more grey: soft pencil shading round a shape), not near-black (L* 30: always line), clear of the canvas
    edge (a tinted sheet's paper is no dab) and inside a shape the lines enclose (a grey stroke in the open
    paper, a shadow on the ground, stays drawing; inside a frame drawn round the drawing too). Thin grey strokes (grey pencil, light construction lines
    as wide as the ink), anti-aliased line edges, hatching and soft pencil shading stay lines. `coloured`: the
    colour hint pixels (left out); `hi_lo`: the sketch's max and min over its channels, when made already."""
    h, w = line_layer.shape
    hi, lo = hi_lo if hi_lo is not None else (sketch.max(axis=0), sketch.min(axis=0))
    scale = min(h, w) / 256
    r = max(2, int(GREY_WIDTH[0] * scale / 2))  # (at least 5 px whatever the canvas)
    out = np.zeros((h, w), bool)
    if not _may_hold_core(hi, lo, coloured, r):  # (the usual sketch: no grey as wide anywhere)
        return out
    v, cand = _grey_candidates(hi, lo, coloured)
    core = ~grow(~cand, r)  # (the canvas edge: outside the mask counts as candidate, checked below)
    if not core.any():
        return out
    # the lines' width: 2 x area / boundary pixels of the line pixels away from the candidates' cores
    line = (line_layer < LINE) & ~grow(core, r + 2)
    if line.any():
        inner = line.copy()
        inner[1:] &= line[:-1]
        inner[:-1] &= line[1:]
        inner[:, 1:] &= line[:, :-1]
        inner[:, :-1] &= line[:, 1:]
        width = 2 * line.sum() / max(1, int(line.sum() - inner.sum()))
        lr = int(GREY_WIDTH[1] * width / 2)
        if lr > r:
            r = lr
            core = ~grow(~cand, r)
        level = float(np.percentile(v[line], 20))
    else:
        level = 0.0
    parts, k = label_regions(core)
    if not k:  # (none as wide at the lines' width)
        return out
    pad = 2 * r + 3
    ys, xs = np.nonzero(core)
    at = parts[ys, xs]
    box = np.array([[h, 0, w, 0]] * k)  # each core's rows and columns (y0, y1, x0, x1), then padded
    np.minimum.at(box[:, 0], at, ys)
    np.maximum.at(box[:, 1], at, ys + 1)
    np.minimum.at(box[:, 2], at, xs)
    np.maximum.at(box[:, 3], at, xs + 1)
    box += [-pad, pad, -pad, pad]
    np.clip(box, 0, [h, h, w, w], out=box)
    found = []
    for i, (y0, y1, x0, x1) in enumerate(box.tolist()):
        part = parts[y0:y1, x0:x1] == i
        vb = v[y0:y1, x0:x1]
        p10, p50, p90 = np.percentile(vb[part], (10, 50, 90))
        if p90 - p10 > GREY_FLAT or p50 < level + GREY_LIGHTER or part.sum() < 4 * scale * scale:
            continue
        c = lab(np.median(sketch[:, y0:y1, x0:x1][:, part], axis=1).reshape(3, 1) * 0.5 + 0.5)[:, 0]
        if c[0] <= HINT_L[0] or np.hypot(c[1], c[2]) > HINT_CHROMA:
            continue
        # (grown back twice as far: a round cap's edge lies up to r sqrt 2 beyond the core)
        dab = grow(part, 2 * r + 2) & cand[y0:y1, x0:x1] & (vb >= p10 - GREY_TOL)
        sub, _ = label_regions(dab)  # (the part joined to its core: not a nearby line's light edge)
        ids = np.unique(sub[part])
        dab = np.isin(sub, ids[ids >= 0])
        # paint on paper: past its soft edge the paper (or a darker line), not more of its grey (soft pencil
        # shading, a grey area wider than the dab's reach)
        ring = grow(dab, 2) & ~dab
        if np.count_nonzero(vb[dab] <= p90 + GREY_TOL) < GREY_BODY * np.count_nonzero(dab):
            continue  # (mostly its soft edge: a gradient, not a flat paint with an anti-aliased rim)
        if np.count_nonzero(ring & cand[y0:y1, x0:x1] & (vb >= p10 - GREY_TOL)) > GREY_RING * ring.sum():
            continue
        paper_ = ring & ~cand[y0:y1, x0:x1] & (vb > p90)  # (its paper: lighter, not a candidate)
        if paper_.any() and np.median(vb[paper_]) - p90 < GREY_STEP:
            continue  # (barely off the paper: a pencil drawing's soft shading on off-white paper)
        if (y0 == 0 and dab[0].any()) or (y1 == h and dab[-1].any()) or (x0 == 0 and dab[:, 0].any()):
            continue
        if x1 == w and dab[:, -1].any():
            continue
        found.append((y0, y1, x0, x1, dab))
    if not found:
        return out
    # only inside a shape: a grey stroke in the open paper (a shadow on the ground) stays drawing, as before
    # (a dab there would grey the whole background); the lines closed as `regions` closes them at 256 px
    return _enclosed(found, line_layer, None, scale)


def _grey_candidates(hi: np.ndarray, lo: np.ndarray, coloured: np.ndarray | None) -> tuple:
    """(the sRGB value (brightest channel), the pixels that may be a grey dab's) of `grey_dabs`' sketch, or of
    a grid of its pixels (`_may_hold_core`): its channels' max `hi` and min `lo`, less the `coloured` hints."""
    v = hi + 1
    v *= 0.5
    cand = v > GREY_V[0]
    cand &= lo < 2 * GREY_V[1] - 1
    if coloured is not None:
        cand &= ~coloured
    return v, cand


def _may_hold_core(hi: np.ndarray, lo: np.ndarray, coloured: np.ndarray | None, r: int) -> bool:
    """False where `grey_dabs`' core (~grow(~cand, r): the candidates whose (2r + 1)^2 px around are all
    candidates, the canvas edge counting as candidate) is surely empty, from every s-th pixel of every s-th
    row alone (s = (2r + 1) // 4): a core pixel's square holds m = (2r + 1) // s sample rows by m sample
    columns, all candidates (the samples up to r px past the canvas edge counting as candidates, as grow
    counts them), so without an m x m block of candidates among the samples there is no core. Lines, their
    anti-aliased edges and thin grey strokes make no such block: on the usual sketch this skips the erosion
    (8 ms at 2048 px; 0.1 here, a 100th of the pixels). True (look) where s < 2 (r < 4: canvases under
    ~410 px, where the erosion itself costs ~0.1 ms)."""
    s = (2 * r + 1) // 4
    if s < 2:
        return True
    m = (2 * r + 1) // s
    at = (slice(None, None, s), slice(None, None, s))
    _, cand = _grey_candidates(hi[at], lo[at], None if coloured is None else coloured[at])
    pad = [(r // s, (n - 1 + r) // s - (n - 1) // s) for n in hi.shape]  # (the samples r px past the edge)
    block = np.pad(cand, pad, constant_values=True)
    n = block.shape[1] - m + 1
    run = block[:, :n].copy()  # (m candidates in a row, then m such down a column)
    for d in range(1, m):
        run &= block[:, d : d + n]
    n = run.shape[0] - m + 1
    block = run[:n].copy()
    for d in range(1, m):
        block &= run[d : d + n]
    return bool(block.any())


PAINT = (0.06, 0.04, 8)  # paint besides the lines (`painted`): off the paper by this much (sRGB, its darkest
# channel), flat (the 3 x 3 px round it within this: a line's soft edge changes by more from pixel to pixel), and
# this many such pixels (at 256 px)


def painted(sketch: np.ndarray, line_layer: np.ndarray, grid: tuple | None = None) -> bool:
    """Does the sketch (planar [-1, 1]) hold paint besides its lines: pixels that are neither line (`line_layer`
    < LINE), nor paper (darker than it by PAINT[0] in their darkest channel; the paper: the median of the
    canvas's outer pixels, a tinted sheet's too), nor a line's soft edge (flat: the 3 x 3 px round them within
    PAINT[1]; anti-aliasing, the grey between doubled strokes and soft pencil shading change faster)? A grey
    or pale dab `hint_mask` leaves out (a 155 grey, a near-white, a pale blue: not coloured enough for a hint,
    not a `grey_dabs` one) is such paint, and so is a grey fill: the artist decided that shape's colour (the
    pipeline's exemplar colours stay off, issue 11). Looked at on a grid of every s-th pixel (s: the canvas's
    side / 256 px, rounded), so a 1024 px canvas costs what a 256 px one does (~0.3 ms), and its soft edges,
    4 px wide there, are not flat either. Neither is any pixel of the 298 held-out sketches (data/colorize/test/A)
    nor of the golden pencil sketch (soft shading, a blurred frame); a 3 px light grey squiggle has 20 or more.
    `grid`: `paper_grid(sketch, line_layer)` when the caller made it already (pipeline.line_drawing)."""
    lo, _, paint = paper_grid(sketch, line_layer) if grid is None else grid
    at = np.flatnonzero(paint)
    return int(np.count_nonzero(_spread3(lo, at) <= PAINT[1])) >= PAINT[2]


def paper_grid(sketch: np.ndarray, line_layer: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """`painted`'s first steps, on its grid (every s-th px, s: the canvas's side / 256 px, rounded): (the
    sketch's darkest channel there (0..1), the paper: the median of the grid's outer pixels, (grid) bool: not
    line and darker than the paper by PAINT[0]: `painted`'s candidates)."""
    h, w = line_layer.shape
    s = max(1, round(min(h, w) / 256))
    lo = sketch[:, ::s, ::s].min(axis=0)
    lo += 1.0
    lo *= 0.5
    return (lo, *_off_paper(lo, line_layer, s))


def _off_paper(lo: np.ndarray, line_layer: np.ndarray, s: int) -> tuple[float, np.ndarray]:
    """`painted`'s paper and candidates on its grid: `lo` the sketch's darkest channel (0..1) at every s-th px;
    (the paper: the median of the grid's outer pixels, (grid) bool: not line and darker than it by PAINT[0])."""
    paper = float(np.median(np.concatenate([lo[0], lo[-1], lo[1:-1, 0], lo[1:-1, -1]])))
    off = lo < paper - PAINT[0]
    off &= line_layer[::s, ::s] >= LINE
    return paper, off


PALE = (6, 2, 0.1)  # a grey or pale dab thinner than `grey_dabs` asks (`pale_dabs`): at least this many of
# `painted`'s paint pixels joined (on its grid), its soft edge within this many grid px of them, and at most
# this share of the px just past that edge of its grey or between it and the paper (a gradient, not paint)


def pale_dabs(
    sketch: np.ndarray, line_layer: np.ndarray, coloured: np.ndarray | None = None, hi_lo: tuple | None = None
) -> np.ndarray:
    """(H, W) bool: the grey or pale dabs of a sketch (planar [-1, 1]) lighter than its lines that `grey_dabs`
    leaves out as too thin (a 155 grey squiggle for an elephant, a 230 cream, a pale blue 201/229/238: issue
    11). Such a dab is paint, as `painted` tells it: pixels that are not line (`line_layer` >= LINE), darker
    than the paper by PAINT[0] in their darkest channel, and flat (the 3 x 3 px round them within PAINT[1] in
    their brightest and darkest channel: a line's anti-aliased edge, the grey between doubled strokes and soft
    pencil shading change faster), looked at on a grid of every s-th px (s: the side / 256 px, rounded). At
    least PALE[0] such pixels joined are a dab's core; the dab is its core and the pixels joined to it within
    PALE[1] grid px that are not line, not darker than the core (a line's edge beside it) and not paper (its
    soft edge), and it is paint on paper: past that edge lies paper, a line or another hint, not more of its
    grey (at most PALE[2] of those px: a gradient, airbrushed shading or uneven lighting is no dab). As for
    `grey_dabs`, only a dab clear of the canvas edge and inside a shape the lines enclose is a hint: a grey
    stroke in the open paper (a shadow on the ground) stays drawing. `coloured`: the hints found already (left
    out); `hi_lo`: the sketch's max and min over its channels."""
    return _pale(sketch, line_layer, coloured, hi_lo)[0]


def _pale(
    sketch: np.ndarray, line_layer: np.ndarray, coloured: np.ndarray | None = None, hi_lo: tuple | None = None
) -> tuple[np.ndarray, bool]:
    """`pale_dabs`, and `painted(sketch, line_layer)` from the grid it looks at."""
    h, w = line_layer.shape
    out = np.zeros((h, w), bool)
    hi, lo = hi_lo if hi_lo is not None else (sketch.max(axis=0), sketch.min(axis=0))
    s = max(1, round(min(h, w) / 256))
    lo_g = (lo[::s, ::s] + 1) * 0.5
    hi_g = (hi[::s, ::s] + 1) * 0.5
    paper, seed = _off_paper(lo_g, line_layer, s)
    if int(np.count_nonzero(seed)) < PALE[0]:  # (the usual sketch: lines on paper; < PAINT[2]: not painted)
        return out, False
    at = np.flatnonzero(seed)  # (flat: the 3 x 3 round them within PAINT[1], looked at where needed alone)
    flat = _spread3(lo_g, at) <= PAINT[1]
    painted_ = int(np.count_nonzero(flat)) >= PAINT[2]  # (`painted`: the same grid)
    if coloured is not None and coloured.any():
        seed &= ~grow(coloured[::s, ::s], 1)
    paint = seed.copy()
    seed.reshape(-1)[at[~flat]] = False
    at = np.flatnonzero(seed)
    seed.reshape(-1)[at[_spread3(hi_g, at) > PAINT[1]]] = False
    if int(np.count_nonzero(seed)) < PALE[0]:
        return out, painted_
    # (joined through the paint round them: a thin diagonal stroke's flat pixels touch only at their corners)
    cores, k = label_regions(grow(seed, 1) & paint)
    cores[~seed] = -1
    size = np.bincount(cores[seed], minlength=k)
    hg, wg = seed.shape
    line_g = line_layer[::s, ::s] < LINE
    free = ~line_g if coloured is None else ~line_g & ~coloured[::s, ::s]
    found = []
    for i in np.nonzero(size >= PALE[0])[0]:
        ys, xs = np.nonzero(cores == i)
        y0, y1 = max(0, ys.min() - 2 * PALE[1] - 2), min(hg, ys.max() + 2 * PALE[1] + 3)
        x0, x1 = max(0, xs.min() - 2 * PALE[1] - 2), min(wg, xs.max() + 2 * PALE[1] + 3)
        core = cores[y0:y1, x0:x1] == i
        v = lo_g[y0:y1, x0:x1]
        c = float(np.median(v[core]))
        ok = free[y0:y1, x0:x1] & (v >= c - GREY_TOL)
        dab = grow(core, PALE[1]) & ok & (v < paper - GREY_TOL)
        sub, _ = label_regions(dab)  # (the part joined to its core)
        ids = np.unique(sub[core])
        dab = np.isin(sub, ids[ids >= 0])
        ring = grow(dab, 2) & ~dab
        grey = ring & ok & (v < c + PAINT[0])  # (of its grey, or between it and the paper)
        if np.count_nonzero(grey) > PALE[2] * np.count_nonzero(ring):
            continue
        if (y0 == 0 and dab[0].any()) or (y1 == hg and dab[-1].any()) or (x0 == 0 and dab[:, 0].any()):
            continue
        if x1 == wg and dab[:, -1].any():
            continue
        found.append((y0, x0, c, dab))
    found = [f for f in found if not _drawn(f, free, lo_g)]
    if not found:
        return out, painted_
    # at full size: the dab's grid cells (and a cell round them: its soft edge) where a pixel is no line, not
    # darker than the core, not paper, not another hint
    lo01 = (lo + 1) * 0.5
    dabs = []
    for y0, x0, c, dab in found:
        up = np.repeat(np.repeat(dab, s, axis=0), s, axis=1) if s > 1 else dab
        Y0, X0 = y0 * s, x0 * s
        Y1, X1 = min(h, Y0 + up.shape[0]), min(w, X0 + up.shape[1])
        up = grow(up[: Y1 - Y0, : X1 - X0], s - 1) if s > 1 else up
        v = lo01[Y0:Y1, X0:X1]
        px = up & (line_layer[Y0:Y1, X0:X1] >= LINE) & (v >= c - GREY_TOL) & (v < paper - GREY_TOL)
        if coloured is not None:
            px &= ~coloured[Y0:Y1, X0:X1]
        dabs.append((Y0, Y1, X0, X1, px))
    return _enclosed(dabs, line_layer, coloured, min(h, w) / 256, CLOSE[-1]), painted_


def _drawn(dab: tuple, free: np.ndarray, v: np.ndarray) -> bool:
    """Is a grey stroke `pale_dabs` found ((y0, x0, its grey, its mask from there), on the grid) part of the
    drawing: as a line (with all of its own grey joined to it, within GREY_TOL) does it cut
    the shape it lies in in two, or enclose a shape of its own (a crease drawn from outline to outline, a
    light grey outline), each part at least AUTO_MIN² px? A dab lies in its shape (or runs up to its outline
    from one side) and leaves it whole. `free`: the grid's pixels that are not line (nor another hint); `v`:
    their darkest channel (0..1)."""
    y0, x0, c, m = dab
    h, w = free.shape
    mask = np.zeros((h, w), bool)
    mask[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]] = m
    # (its grey beyond the flat core, not beside a line: a line's anti-aliased edge passes through that grey)
    own, _ = label_regions(free & ~grow(~free, 1) & (np.abs(v - c) <= GREY_TOL) | mask)
    ids = np.unique(own[mask])
    mask = np.isin(own, ids[ids >= 0])
    before, _ = label_regions(free | mask)
    ids = np.unique(before[mask])
    shape = np.isin(before, ids[ids >= 0])
    after, k = label_regions(shape & ~mask)
    return bool(k > 1 and np.count_nonzero(np.bincount(after[after >= 0], minlength=k) >= AUTO_MIN**2) > 1)


def _enclosed(
    found: list, line_layer: np.ndarray, other: np.ndarray | None, scale: float, gap: int = 1
) -> np.ndarray:
    """(H, W) bool: the dabs `found` ((y0, y1, x0, x1, mask in that box)) that lie inside a shape the lines
    enclose, as `grey_dabs` keeps its own: a grey stroke in the open paper (a shadow on the ground) stays
    drawing (a dab there would grey the whole background); the lines closed as `regions` closes them at 256
    px (a frame drawn round the drawing is the canvas edge: the regions beside it are the open paper too), or
    thickened `gap` px (at 256 px) to close a quick sketch's gaps as the leak guard closes them. `other`: the
    hints found already (no line)."""
    out = np.zeros(line_layer.shape, bool)
    for y0, y1, x0, x1, dab in found:
        out[y0:y1, x0:x1] |= dab
    paint = out if other is None else out | other
    line = (line_layer < LINE) & ~paint
    g = max(1, round(gap * scale))
    labels, _ = label_regions(~grow(line, g) | paint)
    frame = _frame(line)
    edge = np.unique(
        _border(labels) if frame is None else np.concatenate([_border(labels), labels[grow(frame, g + 1)]])
    )
    for y0, y1, x0, x1, dab in found:
        if np.isin(labels[y0:y1, x0:x1][dab], edge).any():
            out[y0:y1, x0:x1] &= ~dab
    return out


def with_fringe(hint: np.ndarray, line_layer: np.ndarray, fringe: int) -> np.ndarray:
    """`hint_mask`'s `fringe` on a mask it gave without one (the same array when there is nothing to add)."""
    if fringe and hint.any():
        return grow(hint, fringe) & (line_layer >= LINE) | hint  # (a grey dab is line to the layer)
    return hint


class Prepared(NamedTuple):
    """What `fill` needs of the sketch alone (`prepare`): the pipeline works it out while the colorize model
    runs. `blank` and `under` are the paper and the order in which the lines beside it (and beside the
    regions `auto` colours) take their colours, when they do not depend on the model's output (no dabs, one
    part of the open area at the canvas edge: the usual sketch); else None."""

    line: np.ndarray
    labels: np.ndarray
    n: int
    hint: np.ndarray | None
    dabbed: bool
    painted: bool  # dabbed, or any other paint besides the lines (`painted`: a grey or pale dab, a grey fill)
    blank: np.ndarray | None
    under: list | None
    auto: AutoPlan | None = None  # `auto_plan` for `blank` (no dabs), when `blank` is known


def prepare(
    sketch: np.ndarray,
    line_layer: np.ndarray,
    check=None,
    hint: np.ndarray | None = None,
    lined: bool = True,
    paint: bool | None = None,
) -> Prepared:
    """The part of `fill` that needs only the sketch (planar [-1, 1]) and its line layer: the lines, the
    regions, the hint pixels and, where the model's output plays no part in it, the paper and the lines
    beside it. `fill` takes it (once: it works on its arrays in place). `check()`, when given, is called
    between the steps (the pipeline's: it raises once the job is cancelled). `hint`: `hint_mask(sketch,
    line_layer)` when the caller made it already (it is not copied), `paint` painted(sketch, line_layer) (both:
    `hints`). A grey dab's pixels (hints) are no line.
    `lined`: False plans no colours under the lines beside the paper (`under` None: `fill` works it out)."""
    check = check or (lambda: None)
    if hint is None:
        hint, paint = hints(sketch, line_layer)
    line = line_layer < LINE
    line &= ~hint  # (a grey dab: a hint, not line)
    labels, n = regions(line)
    check()
    if not n:  # all line
        return Prepared(line, labels, 0, None, False, False, None, None)
    dabbed = bool(hint.sum() >= MIN_HINT_PIXELS)
    paint = dabbed or (painted(sketch, line_layer) if paint is None else paint)
    blank = under = auto = None
    if not dabbed:
        check()
        blank = paper(None, labels, n, line, np.zeros(n, bool))
        check()
        if blank is not None:
            auto = auto_plan(labels, n, np.zeros(n, bool), blank)
            if lined:
                under = _under_plan(labels, blank if auto is None else blank | auto.take)
    return Prepared(line, labels, n, hint, dabbed, paint, blank, under, auto)


def fill(
    result: np.ndarray,
    sketch: np.ndarray,
    line_layer: np.ndarray,
    prepared: Prepared | None = None,
    lined: bool = True,
    plain: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    hint_groups: tuple | None = None,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Follow my colours on `result` (planar RGB (3, H, W) in [-1, 1], the colorize output), in place: fill
    the hinted regions, bring the open paper back (`paper`), and put the new colours under the lines beside
    them (`_under_lines`).

    `sketch` is the model's input at the same size (planar [-1, 1]) and `line_layer` its lines (pipeline.
    line_layer: < LINE is line); `prepared`: `prepare(sketch, line_layer)` when it was made already (the
    pipeline makes it while the model runs). `lined`: the sketch's lines will be laid over the result (keep
    my lines); without them the line pixels keep the model's own lines: the colours of the regions beside
    them darkened as the model darkened its line there (`_model_lines`; the colours alone would leave a
    result with no lines where the model paints them, its colours a fringe round a filled shape). Returns
    (result, number of regions filled, the open paper given back as white: (H, W) bool, which a style that
    keeps your colours keeps white too (pipeline.keep_paper); the open background a dab filled flat: (H, W)
    bool, `_open_paper_regions`, a sky, where such a style may shade darker but adds no light of its own
    (pipeline.keep_colours)). `plain`: the model's output on the sketch with its dabs made paper (as
    `result`), or a function that makes it (called only where a region without a dab lies beside a dabbed
    one): the regions without a dab that the model painted toward the colour of a dab beside them
    (`pulled`: it spreads a dab's colour into its neighbours) take their colours from it, not from
    `result`. `colours`: (4, m) for the automatic dab's `m` regions of `prepared.auto` (exemplar.colours: CIELAB,
    NaN: the model's own, and the top of its shading), in place of the model's colours there, or a function of
    the plan that makes them. `hint_groups`: `dab_groups(prepared, sketch)` when it was made already (it needs
    the sketch alone: the pipeline makes it beside the model; with it the paper and the automatic dab's plan
    where the model plays no part in them, and the lines thickened)."""
    if result.shape != sketch.shape:
        raise ValueError(f"result {result.shape} and sketch {sketch.shape} differ in size")
    p = prepared if prepared is not None else prepare(sketch, line_layer)
    if not p.n:  # all line
        return result, 0, np.zeros(p.line.shape, bool), np.zeros(p.line.shape, bool)
    labels, n = p.labels, p.n
    if callable(plain):  # (made once: `pulled` and the thin regions may both want it)
        plain = _once(plain)
    has = flat = np.zeros(n, bool)
    model = None if lined else result.copy()  # (without the lines laid back: the model's own lines, kept)
    # the lines thickened k px (grow(p.line, k)) and the frame (`_frame_edge`), made once for the leak guard, the
    # flat sky and the paper (by dab_groups, when handed over)
    thick: dict = {} if hint_groups is None else hint_groups.thick
    groups = None
    if p.dabbed:
        labels, n, has, flat, groups = _fill_dabs(
            result, sketch, p.line, labels, n, p.hint, thick, hint_groups
        )
    known = p.blank is not None  # (the paper prepare made: no dabs)
    # (or dab_groups made, with the regions as it saw them)
    handed = not known and hint_groups is not None and n == p.n and hint_groups.paper is not None
    if known or handed:
        blank, plan = (p.blank, p.auto) if known else (hint_groups.paper, hint_groups.auto)
    else:
        blank = paper(result, labels, n, p.line, has, thick)
        plan = auto_plan(labels, n, has, blank)
    np.copyto(result, 1.0, where=blank)
    edge = _at_edge(labels, n, p.line, thick) if p.dabbed else None  # (the open background)
    near = _near(labels, edge) if has.any() else None
    thin = _thin(labels, n, p.line, has, near, thick) if near is not None else None
    open_dab = thin is not None and bool((has & edge).any())  # (a dab in the open background)
    swap = None
    if plain is not None and groups is not None and len(groups[0]):
        got = pulled(result, labels, n, has, blank, *groups, plain, edge)
        if got is not None:  # the regions the dabs beside them tinted: the model's colours without the dabs
            swap, plain = got
    if plain is not None and thin is not None and thin.any() and not open_dab:  # (thin: the model's own)
        plain = plain() if callable(plain) else plain
        swap = thin if swap is None else swap | thin
    if swap is not None:  # (np.take: labels -1 indexes the last entry)
        at = np.flatnonzero(np.take(np.append(swap, False), labels) & ~blank)
        _put(result, at, _take(plain, at))
    if plan is not None:  # an automatic dab in each region without one
        if callable(colours):  # (worked out for this plan; an array is for `prepared.auto`'s)
            colours = colours(plan)
        elif plan is not p.auto:
            colours = None
        auto_fill(result, plan, colours)
    gaps = None
    if thin is not None:  # (with a dab in the open background, the thin regions are gaps: paper)
        gaps = _gaps(
            labels, p.line, edge, near, np.append(thin, False)[labels] if open_dab else None, has, lined
        )
    if gaps is not None:  # (the gaps between doubled lines are paper, as in the sketch)
        np.copyto(result, 1.0, where=gaps)
    if known and p.under is not None:  # (prepare's plan: beside the paper and `p.auto`)
        steps = p.under
    else:  # (with dabs, or prepared without one)
        changed = blank | has[np.maximum(labels, 0)]
        if plan is not None:
            changed |= plan.take
        steps = _under_plan(labels, changed, gaps)
    if lined:
        _under_lines(result, labels, None, steps)
    else:
        _model_lines(result, model, labels, steps)
    sky = flat[np.maximum(labels, 0)] & (labels >= 0) if flat.any() else np.zeros(labels.shape, bool)
    return result, int(has.sum()), blank, sky


def _once(make):
    """`make` (a function of no arguments), called at most once: its result kept for later calls."""
    got = []

    def once():
        if not got:
            got.append(make())
        return got[0]

    return once


GAP_REACH = (
    8  # px (at 256 px): how far from the regions beside them the gaps between doubled lines are looked at
)
GAP_WIDE = 2  # px (at 256 px): a region without a dab that the lines thickened this much leave nothing of (a
# gap of 3-4 px between doubled lines, which `regions` keeps as a region of its own, or a thin shape) is thin


def _gaps(labels, line, edge, near, thin, has, lined=True) -> np.ndarray | None:
    """(H, W) bool: the gaps between doubled lines (two strokes a few px apart: a cactus's outline drawn twice)
    in a sketch with dabs, or None. They belong to the lines: `fill` gives them back as the paper the sketch
    shows there (white), not a dab's colour nor the model's (which spreads a dab's colour far past the lines:
    a blue line inside the cactus's black outline, the sky dabbed blue; a cyan or brown streak between its
    strokes). `edge`: (n,) bool, the regions that are open background (`_at_edge`); `near`: (H, W) bool, the
    pixels within GAP_REACH px of them (`_near`). Three kinds:
    - a gap of a px or two is no line in the sketch (`line`) yet no region either: `regions` thickens the
      lines by a px, which closes it; its colour was the line pixels' (`_under_lines`: the sky's, spread
      UNDER px in under the lines). It is a gap where it lies nearer a dabbed open background (a dab in the
      sky) than any other region (3 x 3 steps, up to GAP_REACH px, scaled with the canvas's side; as near a
      shape as the sky: the sky's); nearer a shape (a roof's base drawn a px above the walls' top) it keeps
      the colours of the shapes beside it (`_under_lines`);
    - `thin`: (H, W) bool, `_thin`'s regions, given only with a dab in the open background (the caller's
      choice: without one they are thin shapes as likely as gaps, and keep the model's own colours);
    - with the sketch's lines laid back over the result (`lined`), the line pixels deeper than UNDER px in
      from every region, within GAP_REACH px of the open background: only the model's colours are there,
      and they show where the sketch at its own size has a gap that the work size closed (most of the
      cactus's, a px wide at 256; further in, a watermelon's dense mottle keeps them)."""
    reach = max(1, round(GAP_REACH * max(labels.shape) / 256))
    out = np.zeros(labels.shape, bool) if thin is None else thin.copy()
    if lined:  # (the line pixels far from every region, near the open background)
        out |= near & ~grow(labels >= 0, UNDER)
    sky = has & edge
    gap = (labels < 0) & ~line & ~out
    if sky.any() and gap.any():
        box = _bounds(gap)
        box = tuple(slice(max(b.start - reach, 0), b.stop + reach) for b in box)
        sub = labels[box]
        # which is nearer, a race: 2 the sky, 1 another region, 0 neither yet; each step a pixel not reached yet
        # takes the largest code of its 3 x 3 neighbours (the sky's, on a tie)
        inner = np.zeros(sub.shape, np.int8)
        inner[sub >= 0] = 1
        inner[np.append(sky, False)[sub]] = 2
        todo = gap[box]
        for _ in range(reach):
            best = max3(inner)
            free = inner == 0
            np.copyto(inner, best, where=free)
            if not (todo & free & (best == 0)).any():  # (every gap reached)
                break
        out[box] |= todo & (inner == 2)
    return out if out.any() else None


def _near(labels, edge) -> np.ndarray:
    """(H, W) bool: the pixels within GAP_REACH px (scaled with the canvas's side) of the regions `edge` ((n,)
    bool: the open background, `_at_edge`)."""
    reach = max(1, round(GAP_REACH * max(labels.shape) / 256))
    return grow(np.append(edge, False)[labels], reach)


def _thin(labels, n, line, has, near, memo=None) -> np.ndarray:
    """(n,) bool: the thin regions beside the open background: without a dab (`has`: per region), that the
    lines thickened GAP_WIDE px (scaled with the canvas's side) leave nothing of, AUTO_MIN px or more (scaled
    with the canvas's area: a speck, a notch under a roof's eave, keeps the model's colours), at least half of
    whose pixels are within GAP_REACH px of the open background (`near`: (H, W) bool, `_near`; not a thin
    shape inside the drawing, a shirt's stripe that meets its outline at one end, a watermelon's mottle).
    Such a region is a gap between doubled lines (a cactus's outline drawn twice, 3-4 px apart at 256) or a
    thin shape (a ferris wheel's rim, an icon's border band: most of them in the held-out sketches, whose true
    pictures colour them); `fill` gives it the model's colours without the dabs (which it paints right across
    a thin shape: the rim blue from dabs in the cabins), or paper with a dab in the open background
    (`_gaps`)."""
    h, w = labels.shape
    k = max(GAP_WIDE, round(GAP_WIDE * max(h, w) / 256))
    size = np.bincount(labels[labels >= 0], minlength=n)
    keep = np.zeros(n + 1, bool)  # (labels == -1 indexes the last entry, left False)
    keep[:n] = 2 * np.bincount(labels[near & (labels >= 0)], minlength=n) >= size
    keep[labels[~_thickened(line, k, memo)]] = False
    keep[:n] &= ~has & (size >= AUTO_MIN * labels.size / 65536)
    return keep[:n]


def _at_edge(labels, n, line, memo=None) -> np.ndarray:
    """(n,) bool: the regions that reach the canvas edge, or a frame drawn round the drawing (`_frame_edge`:
    the open background)."""
    edge = np.zeros(n + 1, bool)  # (labels == -1 indexes the last entry, left False)
    edge[_border(labels)] = True
    beside = _frame_edge(line, memo)[1]
    if beside is not None:
        edge[labels[beside]] = True
    return edge[:n]


class DabGroups(NamedTuple):
    """`dab_groups`: `_hint_groups`' four arrays, then what fill works out from them of the sketch alone."""

    group_region: np.ndarray
    colour: np.ndarray
    seeds: np.ndarray
    own: np.ndarray
    dist: np.ndarray | None
    rim: np.ndarray
    paper: np.ndarray | None
    thick: dict
    auto: AutoPlan | None  # `auto_plan` for `paper` (None with it)


def dab_groups(prepared: Prepared, sketch: np.ndarray) -> DabGroups:
    """What `fill` starts a sketch with dabs from, of the sketch alone: `_hint_groups` of `prepare`'s dabs in
    its regions, and for those regions as they are (the leak guard may cut new ones out of them) the pixels'
    distances to the groups (`_distances`, None without groups) and their rim distance (`_rim_distance`); the
    paper fill gives back (`paper`, with these dabs) where the model's output plays no part in it (no dabbed
    region reaches the open background, so the leak guard leaves the regions as they are, and the open area
    has no second part the model decides), else None, and the automatic dab's plan for it (`auto_plan`);
    and `_thickened`'s memo for prepare's lines (`thick`: the lines thickened and the frame, which fill and
    exemplar.beside_dabs use again)."""
    p = prepared
    groups = _hint_groups(p.hint & (p.labels >= 0), p.labels, sketch)
    dist = _distances(groups[2], groups[3], p.labels.shape) if len(groups[0]) else None
    thick: dict = {}
    has = np.zeros(p.n, bool)
    has[groups[0]] = True
    blank = auto = None
    if not (has & _at_edge(p.labels, p.n, p.line, thick)).any():  # (the leak guard's `leaky`: none)
        blank = paper(None, p.labels, p.n, p.line, has, thick)
    if blank is not None:
        auto = auto_plan(p.labels, p.n, has, blank)
    return DabGroups(*groups, dist, _rim_distance(p.labels), blank, thick, auto)


def _fill_dabs(result, sketch, line, labels, n, hint, thick=None, groups=None) -> tuple:
    """The dab fill (see the module's notes). Returns (labels, count, which regions were filled, which of them
    flat: `_open_paper_regions`): the leak guard may cut new regions out of leaky ones. `thick`:
    `_thickened`'s memo; `groups`: `dab_groups` of `hint` in `labels`, when made already."""
    if groups is None:
        groups = _hint_groups(hint & (labels >= 0), labels, sketch)
    group_region, colour, seeds, own = groups[:4]
    ahead = groups[4:]  # (the distances and the rim distance for these labels, when made with them)
    r_lab = np.clip(result, -1, 1)
    r_lab += 1
    r_lab *= 0.5
    r_lab = lab(r_lab)
    count = n
    if len(group_region):
        labels, n, split = guard_leaks(labels, n, line, group_region, seeds, own, r_lab, thick)
    if n > count:  # regions cut out of a leaky one: the dabs' groups again, on the new regions (the bits of
        # a dab left in what remains of a leaky region (its blot the model paints as paper) are no hint)
        left = np.zeros(n, bool)
        left[split] = True
        hint &= ~left[np.maximum(labels, 0)] | (labels < 0)
        group_region, colour, seeds, own = _hint_groups(hint & (labels >= 0), labels, sketch)
        ahead = ()
    has = np.zeros(n, bool)
    if not len(group_region):
        return labels, n, has, has.copy(), (group_region, colour)
    has[group_region] = True
    target = (labels >= 0) & has[np.maximum(labels, 0)]
    # (groups, H, W): pixels to each dab group
    dist = ahead[0] if ahead else _distances(seeds, own, hint.shape)
    near = dist.min(axis=0)
    reg = labels[target]
    at = np.flatnonzero(target)  # (row-major, as `reg`)
    # the colour: each pixel takes the dab group of its region nearest to it (softly across the midline)
    per_region = np.bincount(group_region, minlength=n)
    want = np.zeros((3, n), np.float32)
    want[:, group_region] = colour  # a region with one group: that group's colour
    want = np.take(want, reg, axis=1)
    several = np.nonzero(per_region > 1)[0]
    for r in several:
        gs = np.nonzero(group_region == r)[0]
        idx = np.nonzero(reg == r)[0]
        d = _take(dist[gs], at[idx])
        wk = np.exp(-(d - d.min(axis=0)) / SPLIT_SOFT)
        want[:, idx] = colour[:, gs] @ wk / wk.sum(axis=0)
    # the lightness: the model's shading around the region's mean, except near the dabs, where the model
    # renders the dab itself as a blot of its own (the "ghost" of the dab), and along the region's lines,
    # where it paints a bevel of each line (a light or dark band a few px wide: a ring inside a filled
    # shape's outline, a ghost of every stroke inside it): there the shading is taken from the surrounding
    # pixels (normalised box blur), fading in from GHOST[0] to GHOST[1] px from the dab and from RIM[0] to
    # RIM[1] px from the lines
    rim = ahead[1] if ahead else _rim_distance(labels)
    far = target & (near >= GHOST[1])
    # the blot reaches further where the model paints it wide (a dab in the open paper: a blue cloud): its
    # pixels and a few px around them (`clear`: 0 there, fading to 1 BLOT[1] px away) are ghost too
    blot = _blot(r_lab, dist, labels, target & (rim >= RIM[1]), group_region)
    reach = GHOST[1]
    clear = None
    if blot is not None:
        clear = np.clip(1 - 2 * _smooth_fill(blot.astype(np.float32), target, (BLOT[1],), at)[0], 0.0, 1.0)
        far.reshape(-1)[at] &= clear >= 1  # (`far` lies in `target`)
        reach = max(reach, int(near[blot].max()) + BLOT[1])
    inner = far & (rim >= RIM[1])
    thin = np.bincount(labels[inner], minlength=n) == 0  # a region with no inside: its rim is all it has
    far &= inner | thin[np.maximum(labels, 0)]
    lt = r_lab[0][target]
    regf = labels[far]
    mean_far = np.bincount(regf, weights=r_lab[0][far], minlength=n) / np.maximum(
        np.bincount(regf, minlength=n), 1
    )
    mean_all = np.bincount(reg, weights=lt, minlength=n) / np.maximum(np.bincount(reg, minlength=n), 1)
    mean_l = np.where(np.bincount(regf, minlength=n) > 0, mean_far, mean_all)
    raw = np.zeros(hint.shape, np.float32)
    raw[target] = np.clip(lt - mean_l[reg], -MAX_SHADE, MAX_SHADE)
    w = np.clip((rim[target].astype(np.float32) - RIM[0]) / (RIM[1] - RIM[0]), 0.0, 1.0)
    by_rim, by_dab = _smooth_fill(raw, far, (RIM[1] + COARSE, reach), at)
    shade = w * raw[target] + (1 - w) * by_rim
    w = np.clip((near[target] - GHOST[0]) / (GHOST[1] - GHOST[0]), 0.0, 1.0)
    if clear is not None:
        w *= clear
    shade = (w * shade + (1 - w) * by_dab) * SHADING
    flat = _open_paper_regions(r_lab, labels, far, n, line, thick) & has
    shade[flat[reg]] = 0.0
    want[0] = np.clip(want[0] + shade, 0, 100)  # (the colour's lightness shaded; its a*, b* as they are)
    _put(result, at, srgb(want) * 2 - 1)
    _unglow(result, r_lab, labels, target, dist, near, colour, n)
    return labels, n, has, flat, (group_region, colour)


SPILL_REACH = 6  # px (at 256 px; scaled with the canvas's side): a region this near a dabbed one is beside it
# how much nearer (dE) a dab's colour the model painted a region beside it with the dab than without: the held-
# out cases' tinted shapes come 25 to 60 dE nearer (a horse's face 25 and 28, a dragon's horn 28, a cactus's
# arm 38 to 52); the demo house's windows, yellow with its dabs (the roof's gold) and mauve without, 16 to 20
# nearer its red wall's dab: they keep the colours the model gives them with the dabs
SPILL_MARGIN = 22.0
OPEN_MARGIN = 10.0  # ... for a dab in the open background, which colours the paper only (a held-out cactus's
# body in a blue-dabbed sky: a cool grey 16 dE nearer the blue than the peach it has without the dab)


def pulled(result, labels, n, has, blank, group_region, colour, plain, open_=None):
    """The regions without a dab that the model painted toward the colour of a dab in a region beside them (the
    model spreads a dab's colour into its neighbours: a blue dab in a horse's mane painted its tan face pale
    blue-grey): (per region (n,) bool, the model's output without the dabs), or None when there are none.
    `plain`: that output (planar [-1, 1], as `result`), or a function that makes it, called only when some
    region without a dab (nor all paper) lies beside a dabbed one: within SPILL_REACH px of it (across the line
    between them), or anywhere where the dabbed one is open background. A region is pulled when, for some dab's colour d (a dab group's, `_hint_groups`) in a dabbed
    region beside it, its median CIELAB colour in `result` is SPILL_MARGIN dE or more nearer d than its
    median colour in `plain`: the rest keep the model's colours with the dabs (the demo house's golden roof
    and yellow windows). `open_`: (n,) bool, the regions that are open background (`_at_edge`): a dab there
    colours the paper only, and every shape lies beside it, however thick the lines between them (a sky
    dabbed blue round a cactus drawn with a doubled outline 8-12 px thick at 256 turned it all light blue:
    its shapes 16 to 45 dE nearer the dab's blue than without it), pulled from OPEN_MARGIN dE nearer."""
    h, w = labels.shape
    reach = max(1, round(SPILL_REACH * max(h, w) / 256))
    # the regions without a dab, not all paper (counted: np.unique sorted the pixels' labels, 4x the time)
    free = np.bincount(labels[(labels >= 0) & ~blank], minlength=n) > 0
    free &= ~has
    if not free.any():
        return None
    pairs = []  # (region without a dab, dab colour index, margin)
    for r in np.flatnonzero(has):
        if open_ is not None and open_[r]:  # (a dab in the open background: every shape is beside it)
            for g in np.flatnonzero(group_region == r):
                pairs += [(int(b), int(g), OPEN_MARGIN) for b in np.flatnonzero(free)]
            continue
        box = _bounds(labels == r)
        box = tuple(slice(max(b.start - reach, 0), b.stop + reach) for b in box)
        sub = labels[box]
        near = grow(sub == r, reach) & (sub >= 0) & ~blank[box]
        beside = np.flatnonzero(np.bincount(sub[near], minlength=n))  # (np.unique's regions, by a count)
        beside = beside[free[beside]]
        for g in np.flatnonzero(group_region == r):
            pairs += [(int(b), int(g), SPILL_MARGIN) for b in beside]
    if not pairs:
        return None
    if callable(plain):
        plain = plain()
    regs = np.unique([b for b, _, _ in pairs])
    pick = np.full(n + 1, -1, np.int64)
    pick[regs] = np.arange(len(regs))
    at = np.flatnonzero((np.take(pick, labels) >= 0) & ~blank)  # (labels -1: the last entry, -1)
    reg = np.take(pick, labels.reshape(-1)[at])
    m = len(regs)
    c_with = _region_median(lab(np.clip(_take(result, at), -1, 1), 0.5, 0.5), reg, m)
    c_without = _region_median(lab(np.clip(_take(plain, at), -1, 1), 0.5, 0.5), reg, m)
    swap = np.zeros(n, bool)
    for b, g, margin in pairs:
        i = pick[b]
        d = colour[:, g]
        e_with, e_without = np.linalg.norm(c_with[:, i] - d), np.linalg.norm(c_without[:, i] - d)
        if e_without - e_with >= margin:
            swap[b] = True
    if not swap.any():
        return None
    return swap, plain


def _open_paper_regions(r_lab, labels, far, n, line=None, memo=None) -> np.ndarray:
    """(n,) bool: the filled regions that are open background the model paints as paper: they reach the canvas
    edge (within FRAME px: a sky inside a frame drawn round the canvas, whose haze the fill kept: L* spread
    4.8 in the framed sky_sketch at 256 px, 0 now; or beside a frame drawn round the drawing, `_frame_edge`
    of the lines `line`, as the leak guard and `paper` see it: one FRAME px in leaves its sky further in),
    and of their pixels away from the dabs and lines (`far`) at least half are paper to the model
    (PAPER: a dab in the sky). Such a region is filled flat: what the model paints into its paper is no
    shading but haze it spreads from the shapes (a darker blue wedge at the foot of a house in a blue-dabbed
    sky, 6 L* below the sky at 512 px), glow and its blot of the dab."""
    at = np.flatnonzero(far)
    reg = labels.reshape(-1)[at]
    c = _take(r_lab, at)
    white = (c[0] > PAPER[0]) & (np.hypot(c[1], c[2]) < PAPER[1])
    out = np.bincount(reg[white], minlength=n) >= 0.5 * np.maximum(np.bincount(reg, minlength=n), 1)
    edge = np.zeros(n + 1, bool)  # (labels == -1 indexes the last entry)
    k = max(1, round(FRAME * min(labels.shape) / 256))  # (or a frame drawn round the canvas: a sky inside it)
    edge[_border(labels, k)] = True
    beside = None if line is None else _frame_edge(line, memo)[1]
    if beside is not None:
        edge[labels[beside]] = True
    return out & edge[:n] & (np.bincount(reg, minlength=n) > 0)


def _blot(r_lab, dist, labels, inner, group_region) -> np.ndarray | None:
    """(H, W) bool: the model's blot of each dab group in a region it paints as paper (a dab in the sky or the
    open background: a blue cloud reaching well past GHOST[0], often off to one side of the dab), or None.
    For each group, the pixels of its region nearest to it (`inner`: away from the lines, whose bevel is no
    blot) within GLOW[1] px whose lightness (`r_lab`: the model's output in CIELAB) is off the region's own
    level (its median beyond GLOW[0] px from the dab) by more than BLOT[0] L* plus twice the region's own
    spread there, and joined to the dab through such pixels. A region with too few pixels that far (a small
    shape), or that the model paints beyond them as a shape (PAPER: at most half of them paper; its shading,
    not a flat level) has none: GHOST covers its blot."""
    light = r_lab[0]
    mine = np.zeros(labels.shape, np.int64)  # dist.argmin(axis=0) (the first of equals), a plane at a time
    best = dist[0]
    for g in range(1, len(dist)):
        nearer = dist[g] < best
        mine[nearer] = g
        best = np.minimum(best, dist[g])
    out = np.zeros(labels.shape, bool)
    for g, r in enumerate(group_region):
        px = inner & (labels == r) & (mine == g)
        base = px & (dist[g] >= GLOW[0])
        if base.sum() < MIN_BASE:
            continue
        white = (light[base] > PAPER[0]) & (np.hypot(r_lab[1][base], r_lab[2][base]) < PAPER[1])
        if white.mean() < 0.5:
            continue
        level = np.median(light[base])
        spread = np.median(np.abs(light[base] - level))
        off = px & (dist[g] < GLOW[1]) & (np.abs(light - level) > BLOT[0] + 2 * spread)
        near = px & (dist[g] < GHOST[0])
        both = off | near  # (labelled within its bounding box: the same parts)
        box = _bounds(both)
        if box is None:
            continue
        parts, m = label_regions(both[box])
        keep = np.zeros(m + 1, bool)
        keep[np.unique(parts[near[box]])] = True
        keep[-1] = False
        out[box] |= keep[parts] & off[box]
    return out if out.any() else None


def _rim_distance(labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8: how many px (3 x 3 steps, up to RIM[1]) each pixel lies from a pixel of another region or
    a line (labels -1); the canvas edge is no line."""
    edge = labels < 0
    down = labels[1:] != labels[:-1]  # (each pair of neighbours compared once)
    edge[1:] |= down
    edge[:-1] |= down
    across = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    # RIM[1] less the number of the nested 3 x 3 growths of the edge reaching each pixel, grown in place on a
    # copy padded 1 px (no line), flat: a row's ops run on whole rows, a column's on the rows end to end
    h, w = labels.shape
    step = w + 2
    p = np.zeros((h + 2, step), bool)
    p[1:-1, 1:-1] = edge
    f = p.reshape(-1)
    count = f.view(np.uint8).copy()
    for _ in range(RIM[1] - 1):
        rows = f[: -2 * step] | f[step:-step]
        rows |= f[2 * step :]  # (centred on padded rows 1..h)
        grown = rows[:-2] | rows[1:-1]
        grown |= rows[2:]
        f[step + 1 : step + 1 + len(grown)] = grown
        p[:, 0] = p[:, -1] = False  # (the padding, which the rows end to end wrote over)
        count += f.view(np.uint8)
    return RIM[1] - count.reshape(h + 2, step)[1:-1, 1:-1]


def regions(line: np.ndarray) -> tuple[np.ndarray, int]:
    """Regions enclosed by the lines: labels (H, W) (-1 on lines) and their count. Lines are thickened by one
    pixel first, so a hairline gap does not join two regions; the pixels that took from a region (not line
    themselves) go back to a labelled neighbour."""
    thick = grow(line)
    labels, n = label_regions(~thick)
    w = labels.shape[1]
    flat = labels.reshape(-1)  # (a view: label_regions' array is contiguous)
    thick &= ~line
    at = np.flatnonzero(thick)  # the lost pixels (labels -1, not line)
    for i in range(2):  # (at the lost pixels only, -1: the largest label of their 4 neighbours)
        if i:
            at = at[np.take(flat, at) < 0]  # (those still lost: the others keep their labels)
        if not len(at):
            break
        xs = at % w
        # the neighbours np.roll(labels, (dy, dx)) brings, wrapping round the canvas: above and below by flat
        # indices taken modulo its size, left and right within the row
        near = np.take(flat, at - w, mode="wrap")
        np.maximum(near, np.take(flat, at + w, mode="wrap"), out=near)
        np.maximum(near, flat[at - 1 + w * (xs == 0)], out=near)
        np.maximum(near, flat[at + 1 - w * (xs == w - 1)], out=near)
        flat[at] = near
    return labels, n


def paper(
    result: np.ndarray | None,
    labels: np.ndarray,
    n: int,
    line: np.ndarray,
    dabbed: np.ndarray,
    thick: dict | None = None,
) -> np.ndarray | None:
    """Paper stays paper: (H, W) bool, the open paper around the drawing, which `fill` gives back as white
    (the model, trained on pictures on white paper only, paints a pale haze into it on drawings unlike its
    training data). It is taken from the regions that reach the canvas edge and hold no dab (`dabbed`: per
    region), once the shapes a gap joins to them are cut off: with the lines thickened by CLOSE[-1] px, as
    the leak guard does (gaps up to about twice that close), the parts of those regions cut off from the
    edge (MIN_ENCLOSED px or more) are shapes and keep the model's colours; of the parts still at the edge
    the biggest is paper, and another (a shape the canvas edge cuts: the ground under a horizon) only if
    the model (`result`) paints at least half of it as paper (PAPER). The paper is then grown back to the
    lines (paper and shapes a pixel at a time in turn, so a closed gap splits at its middle); line pixels
    are not paper. A shape whose outline leaves a wider gap is paper too: close it, or dab it. With `result`
    None (the model has not run yet) it returns None where it would need the model's output. A frame drawn
    round the drawing (`_frame`) is the canvas edge too: the paper inside it is open paper, not a shape."""
    rim = _border(labels)
    _, beside, edge = _frame_edge(line, thick)
    if beside is not None:
        rim = np.concatenate([rim, labels[beside]])
    rim = np.unique(rim)
    rim = rim[rim >= 0]
    rim = rim[~dabbed[rim]]
    open_ = np.zeros(n + 1, bool)  # labels == -1 (line) indexes the last entry, left False
    open_[rim] = True
    area = np.take(open_, labels)  # (np.take: a third of indexing's time over the canvas)
    if not area.any():
        return area
    return _open_part(area, line, result, thick=thick, edge=edge)


def _frame(line: np.ndarray) -> np.ndarray | None:
    """A frame drawn round the drawing: where lines run along the canvas edge within FRAME px of it (scaled
    with it) over at least FRAMED of each of its four sides, those lines ((H, W) bool); else None. A line
    runs along a side where it stays in that strip for RUN[0] * FRAME px along it, wandering at most RUN[1]
    px across (`_along`); a line that only reaches the edge (a horizon's ends, a ground line's, a roof's or
    a tent's slope) crosses the strip within a few px: it neither frames the drawing nor is frame where it
    meets one, beyond RUN[1] px of the frame's line (a ray reaching it there does not get out, and a shape
    it closes beside the frame does not reach the canvas edge). Before, every line within FRAME px of the
    edge counted, and a drawing hatched diagonally edge to edge was framed."""
    h, w = line.shape
    k = max(1, round(FRAME * min(h, w) / 256))
    if 2 * k >= min(h, w):
        return None
    # each strip (across the side, along it): the lines along a side run along its rows
    strips = (line[:k], line[-k:], np.ascontiguousarray(line[:, :k].T), np.ascontiguousarray(line[:, -k:].T))
    if any(s.any(axis=0).mean() < FRAMED for s in strips):  # (not even lines near the edge there)
        return None
    slack = max(1, round(RUN[1] * k / FRAME))
    along = [_along(s, RUN[0] * k, slack) for s in strips]
    if any(a.any(axis=0).mean() < FRAMED for a in along):
        return None
    out = np.zeros_like(line)
    out[:k] |= along[0]
    out[-k:] |= along[1]
    out[:, :k] |= along[2].T
    out[:, -k:] |= along[3].T
    return out


def _along(strip: np.ndarray, run: int, slack: int) -> np.ndarray:
    """The pixels of `strip` ((width, length) bool: the lines in a strip along a side of the canvas) on a line
    that runs along it: `run` px or more along the strip (axis 1) without a break, allowing it to wander
    `slack` px across (the runs are those of the lines widened that much across: a hand-drawn frame's; a line
    that crosses the strip, a few px along it, has none)."""
    wide = strip.copy()
    for d in range(1, slack + 1):
        wide[d:] |= strip[:-d]
        wide[:-d] |= strip[d:]
    n = wide.shape[1]
    if n < run:
        return np.zeros_like(strip)
    c = np.zeros((len(wide), n + 1), np.int32)
    np.cumsum(wide, axis=1, out=c[:, 1:])
    full = (c[:, run:] - c[:, :-run]) == run  # a window of `run` px from each start, all line
    ends = np.zeros((len(wide), n + 1), np.int32)  # the windows' pixels: +1 where one starts, -1 past it
    ends[:, : n - run + 1] += full
    ends[:, run:] -= full
    got = np.cumsum(ends[:, :n], axis=1) > 0
    got &= strip  # (so another line's pixels are frame only within `slack` px of the frame's)
    return got


def _frame_edge(line: np.ndarray, memo: dict | None = None) -> tuple:
    """What counts as the canvas edge beside a frame drawn round the drawing, or (None, None, None) without
    one: ((H, W) bool each) the frame's lines (`_frame`), the pixels within 2 px of them (the regions
    `regions` labels beside them reach the edge) and within CLOSE[-1] + 1 px (so do the parts beside them
    once the lines are thickened, up to CLOSE[-1] px). `paper`, the leak guard and the flat sky ask it.
    `memo`: `_thickened`'s (a dict kept for these lines, or None), which keeps it for the next call too."""
    if memo is not None and "frame" in memo:
        return memo["frame"]
    frame = _frame(line)
    got = (None, None, None) if frame is None else (frame, grow(frame, 2), grow(frame, CLOSE[-1] + 1))
    if memo is not None:
        memo["frame"] = got
    return got


def _thickened(line: np.ndarray, k: int, memo: dict | None) -> np.ndarray:
    """grow(line, k), kept in `memo` (a dict, or None: not kept) for the next call (not to be modified)."""
    if memo is None:
        return grow(line, k)
    if k not in memo:
        memo[k] = grow(line, k)
    return memo[k]


def _open_part(
    area: np.ndarray,
    line: np.ndarray,
    result: np.ndarray | None,
    whole: bool = False,
    thick: dict | None = None,
    edge: np.ndarray | None = None,
):
    """`paper`'s work on the open area `area` ((H, W) bool, regions reaching the canvas edge): the part of it
    that is open paper, less the shapes a small gap joins to it ((H, W) bool; None where it needs `result`
    and that is None). `whole`: every part still at the canvas edge once the gaps close is open (a dabbed
    background: the sky on both sides of a tree), not the biggest one alone and the model's paper. `edge`:
    (H, W) bool, pixels that count as the canvas edge too (beside a frame drawn round the drawing)."""
    # the lines thickened CLOSE px at a time: a part cut off from the edge at a width is a shape (and kept from
    # the wider ones, which would leave nothing of a small shape: an eye, a strap); the last width labels the rest
    # (the widest first: a pixel within CLOSE[-1] - k px of a part at the edge at the widest width is at the
    # edge at width k too (the square between them keeps clear of the lines), so at a narrower width only the
    # few pixels further from those parts are labelled, to find what that width cuts off; its shapes' pixels
    # are shapes whatever the widest width makes of them, so labelling all of `area` there is the same)
    sub, m, sizes = _label(area & ~_thickened(line, CLOSE[-1], thick))
    at_edge = np.zeros(m + 1, bool)  # (sub == -1 indexes the last entry, left False)
    at_edge[_border(sub)] = True
    if edge is not None:
        at_edge[sub[edge]] = True
    at_edge[-1] = False
    edge_part = np.take(at_edge, sub)
    early = np.zeros(area.shape, bool)  # shapes found at the narrower widths
    rest = area
    h, w = area.shape
    for k in CLOSE[:-1]:
        least = MIN_ENCLOSED * k * k / CLOSE[-1] ** 2  # (as small, thinned as much)
        free = rest & ~_thickened(line, k, thick)
        known = free & grow(edge_part, CLOSE[-1] - k)  # at the edge at this width
        free &= ~known
        if np.count_nonzero(free) < least:  # (no part big enough could be cut off)
            continue
        box = _bounds(free)  # (labelled within the pixels' bounding box)
        part, _, size = _label(free[box])
        cut = np.append(size >= least, False)
        (y0, y1), (x0, x1) = ((b.start, b.stop) for b in box)
        sides = [part[0] if y0 == 0 else [], part[-1] if y1 == h else []]
        sides += [part[:, 0] if x0 == 0 else [], part[:, -1] if x1 == w else []]
        cut[np.concatenate(sides).astype(np.int64)] = False  # at the canvas edge (part == -1: the last)
        if edge is not None:
            cut[part[edge[box]]] = False
        cut[part[(_beside(known) & free)[box]]] = False  # joined to a part at the edge
        if cut.any():
            found = np.zeros(area.shape, bool)
            found[box] = np.take(cut, part)
            early |= found
            rest = rest & ~found
    rim = np.nonzero(at_edge)[0]
    rim = rim[rim >= 0]
    size = np.append(sizes, 0)  # the last entry (sub == -1 indexes it): 0
    core = np.zeros(m + 1, bool)
    for r in rim:  # the biggest part at the edge is paper; another (a shape the canvas edge cuts, the
        # ground under a horizon) is paper only where the model paints at least half of it as paper
        if whole or size[r] == size[rim].max():
            core[r] = True
            continue
        if result is None:  # (prepare: the model's output is not there yet)
            return None
        c = lab((np.clip(result[:, sub == r], -1, 1) + 1) * 0.5)
        core[r] = ((c[0] > PAPER[0]) & (np.hypot(c[1], c[2]) < PAPER[1])).mean() >= 0.5
    shape = size >= MIN_ENCLOSED
    shape &= ~core
    if not (shape.any() or early.any()):  # no shape to keep: all of the open area is paper (the growth below
        return area  # only splits what lies between paper and shapes)
    # paper and shapes grow back to the lines in turn (a gap splits at its middle), a pixel (3 x 3) a turn:
    # kept as codes (2 paper, 1 shape, 0 neither) on a padded copy, looked at only at the free pixels left
    h, w = sub.shape
    kind = np.zeros(m + 1, np.int8)
    kind[core], kind[shape] = 2, 1
    codes = np.zeros((h + 2, w + 2), np.int8)
    codes[1:-1, 1:-1] = np.take(kind, sub)
    codes[1:-1, 1:-1][early] = 1
    free = np.zeros((h + 2, w + 2), bool)
    free[1:-1, 1:-1] = area
    free &= codes == 0
    at = np.flatnonzero(free)
    flat = codes.reshape(-1)
    step = w + 2
    ring = np.array([-step - 1, -step, -step + 1, -1, 1, step - 1, step, step + 1])[:, None]
    while len(at):
        # (the 8 neighbours' codes in one look-up, OR-ed down the 8 rows)
        near = np.bitwise_or.reduce(np.take(flat, ring + at), axis=0)
        more = (near & 1).astype(bool)  # next to a shape (shapes grow first)
        grown = (near & 2).astype(bool) & ~more  # next to paper
        if not (more.any() or grown.any()):
            break
        flat[at[more]] = 1
        flat[at[grown]] = 2
        at = at[~(more | grown)]
    flat[at] = 2  # slivers under the thickened lines that reach neither are paper
    out = codes[1:-1, 1:-1] == 2
    notch = _eaves(out, codes[1:-1, 1:-1] == 1, line, edge)
    if notch is not None:
        out &= ~notch[0]
        out |= notch[1]
    return out


def _eaves(
    open_: np.ndarray, shape: np.ndarray, line: np.ndarray, edge: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The notches of the open paper `open_` that belong to `shape` ((H, W) bool each), and the bits of
    `shape` past them that are paper (a tuple of (H, W) bool), or None: where a closed gap joins a shape to
    the paper (pixels of each meet with no line between: the contacts), the shape's outline on each side of
    the gap is followed back EAVE[0] px from its end there (from past its cap, UNDER px) for its direction
    and continued straight from the end across the gap; where it meets another line within EAVE[1] px (the
    lines near the gap: each side of a gap is a line of its own there; px scaled with the canvas), the paper
    that segment closes off beside the shape (at most EAVE[1]² px, scaled: a roof's corner under its slope's
    overhang past the walls' corner, an eave) is the shape's, and so is the segment, whole: the shape's edge
    across the gap; the shape's few pixels past it (its growth into the gap, at most EAVE[1] px, scaled) are
    paper, so the edge is straight, with no step hanging into the paper. Only the pixels within
    EAVE[0] + EAVE[1] px of the contacts are looked at (two labellings of them, the ends all at once), so
    the cost follows the gaps, not the canvas. `edge`: (H, W) bool, pixels that count as the canvas edge too
    (beside a frame drawn round the drawing: `_frame_edge`); a pocket reaching them is open."""
    box = _bounds(shape)
    if box is None:
        return None
    h, w = open_.shape
    y0, x0 = max(box[0].start - 1, 0), max(box[1].start - 1, 0)
    near = (slice(y0, min(box[0].stop + 1, h)), slice(x0, min(box[1].stop + 1, w)))
    cy, cx = np.nonzero(open_[near] & _beside(shape[near]))
    if not len(cy):
        return None
    scale = min(h, w) / 256
    back, reach = EAVE[0] * scale, EAVE[1] * scale
    pad = int(np.ceil(back + reach)) + 2
    cy, cx = cy + y0, cx + x0
    y0, x0 = max(cy.min() - pad, 0), max(cx.min() - pad, 0)
    box = (slice(y0, min(cy.max() + pad + 1, h)), slice(x0, min(cx.max() + pad + 1, w)))
    cy, cx = cy - y0, cx - x0
    bh, bw = box[0].stop - y0, box[1].stop - x0
    # what is looked at: the gaps' windows, cells of pad px with a contact and the cells round them
    cells = np.zeros((bh // pad + 1, bw // pad + 1), bool)
    cells[cy // pad, cx // pad] = True
    seen = np.repeat(np.repeat(grow(cells, 1), pad, axis=0)[:bh], pad, axis=1)[:, :bw]
    lines = line[box] & seen
    parts, k = label_regions(lines)  # (the lines near the gaps: the two sides of a gap are two here)
    if k < 2:
        return None
    outline = lines & grow(shape[box], 1)  # the shape's outline: line pixels beside it
    ly, lx = np.nonzero(outline)
    d = np.full(len(ly), np.inf)  # each outline pixel's squared distance to the nearest contact
    for i in range(0, len(cy), 256):
        dy, dx = ly[:, None] - cy[None, i : i + 256], lx[:, None] - cx[None, i : i + 256]
        d = np.minimum(d, (dy * dy + dx * dx).min(axis=1))
    close = np.flatnonzero(d <= back * back)
    if not len(close):
        return None
    ey, ex, d = ly[close], lx[close], d[close]
    own = parts[ey, ex]
    order = np.lexsort((d, own))
    first = np.ones(len(order), bool)
    first[1:] = own[order[1:]] != own[order[:-1]]
    end = order[first]  # each line's end at the gap: its outline pixel nearest a contact
    ey, ex, own = ey[end], ex[end], own[end]
    # each end's outline from past its cap (the line's width, UNDER px: at a corner the cap's pixels run
    # across the line, and tilted a wall's straight top by a pixel over the gap) back EAVE[0] px: its
    # direction, the larger eigenvalue's vector of its covariance
    far = np.hypot(ly[None] - ey[:, None], lx[None] - ex[:, None])
    wgt = (far <= back) & (far >= UNDER * scale)
    wgt &= parts[ly, lx][None] == own[:, None]
    cnt = wgt.sum(axis=1)
    ok = cnt >= back / 2
    if not ok.any():
        return None
    wgt, cnt, ey, ex, own = wgt[ok].astype(np.float64), cnt[ok], ey[ok], ex[ok], own[ok]
    fy, fx = ly.astype(np.float64), lx.astype(np.float64)
    my, mx = wgt @ fy / cnt, wgt @ fx / cnt
    syy, sxx, sxy = (
        wgt @ (fy * fy) / cnt - my * my,
        wgt @ (fx * fx) / cnt - mx * mx,
        wgt @ (fy * fx) / cnt - my * mx,
    )
    lam = 0.5 * (syy + sxx) + np.sqrt(0.25 * (syy - sxx) ** 2 + sxy * sxy)
    tilted = np.abs(sxy) > 1e-9
    vy = np.where(tilted, sxy, syy >= sxx)
    vx = np.where(tilted, lam - syy, syy < sxx)
    norm = np.hypot(vy, vx)
    vy, vx = vy / norm, vx / norm
    along = vy * (ey - my) + vx * (ex - mx)  # (on past the end)
    flip = np.where(along < 0, -1.0, 1.0)
    vy, vx, along = vy * flip, vx * flip, along * flip
    # from the end to the fitted line's point level with it (the outline's middle, not a corner's pixel),
    # then straight on EAVE[1] px
    sy, sx = my + vy * along, mx + vx * along
    lead = int(np.ceil(np.hypot(sy - ey, sx - ex).max()))
    lead = np.arange(lead)[None] / max(lead, 1)
    t = np.arange(0, int(np.ceil(reach)) + 1)[None]
    ry = np.rint(np.hstack([ey[:, None] + (sy - ey)[:, None] * lead, sy[:, None] + vy[:, None] * t]))
    rx = np.rint(np.hstack([ex[:, None] + (sx - ex)[:, None] * lead, sx[:, None] + vx[:, None] * t]))
    bh, bw = seen.shape
    inside = (ry >= 0) & (ry < bh) & (rx >= 0) & (rx < bw)
    ry, rx = np.clip(ry, 0, bh - 1).astype(np.int64), np.clip(rx, 0, bw - 1).astype(np.int64)
    on = np.where(inside, parts[ry, rx], -2)  # (-1 off the lines, -2 off the box)
    rows = np.arange(len(on))
    left = (on != own[:, None]).argmax(axis=1)  # where it leaves its own line ...
    fine = on[rows, left] == -1  # ... for the paper or the shape
    step = np.arange(on.shape[1])[None]
    stop = ((on >= 0) | (on == -2)) & (step > left[:, None])
    j = stop.argmax(axis=1)  # the first line it meets then: another line, in the box
    fine &= stop[rows, j] & (on[rows, j] >= 0) & (on[rows, j] != own)
    seg = step <= j[:, None]
    fine &= (open_[box][ry, rx] & seg).any(axis=1)  # (across the gap's paper)
    if not fine.any():
        return None
    # the pockets the segments close off: labelled within the box round the segments and the contacts (a
    # pocket reaching its edge, the canvas edge or the windows' is open)
    ky, kx = ry[fine][seg[fine]], rx[fine][seg[fine]]
    ys, xs = np.concatenate([ky, cy]), np.concatenate([kx, cx])
    p0, q0 = max(int(ys.min()) - 1, 0), max(int(xs.min()) - 1, 0)
    sub = (slice(p0, min(int(ys.max()) + 2, bh)), slice(q0, min(int(xs.max()) + 2, bw)))
    cut = np.zeros(seen[sub].shape, bool)
    cut[ky - p0, kx - q0] = True
    room = open_[box][sub]
    free = room & seen[sub] & ~cut & ~lines[sub]
    pocket, m, size = _label(free)
    keep = np.append(size <= EAVE[1] ** 2 * scale * scale, False)
    keep[_border(pocket)] = False  # (pocket == -1: the last entry, False)
    keep[pocket[seen[sub] & _beside(~seen[sub])]] = False
    if edge is not None:
        keep[pocket[edge[box][sub]]] = False
    at_gap = np.zeros(m + 1, bool)
    at_gap[pocket[cy - p0, cx - q0]] = True
    keep &= at_gap
    if not keep.any():
        return None
    out, back = np.zeros(open_.shape, bool), np.zeros(open_.shape, bool)
    notch = out[box][sub]
    pockets = np.take(keep, pocket)
    notch |= pockets
    notch |= cut & room & _beside(notch | shape[box][sub])
    # a segment that closes a pocket is the shape's edge across the gap, whole (its pixels beside neither
    # were left paper: a notch of paper between the edge and the line it meets) ...
    fy, fx, on_seg = ry[fine] - p0, rx[fine] - q0, seg[fine]
    fy, fx = np.clip(fy, 0, cut.shape[0] - 1), np.clip(fx, 0, cut.shape[1] - 1)
    closes = (_beside(pockets)[fy, fx] & on_seg).any(axis=1)
    edge_px = np.zeros(cut.shape, bool)
    edge_px[fy[closes][on_seg[closes]], fx[closes][on_seg[closes]]] = True
    notch |= edge_px & room
    # ... and the shape's bits past it (its growth into the gap's paper, a pixel or a few at the corner it
    # meets, left hanging below the edge) are paper
    body = shape[box][sub] & ~edge_px
    bits, _, bsize = _label(body)
    give = np.append(bsize <= reach, False)
    give[_border(bits)] = False
    give[bits[body & _beside(pockets)]] = False
    at_edge, at_paper = np.zeros(len(give), bool), np.zeros(len(give), bool)
    at_edge[bits[body & _beside(edge_px)]] = True
    at_paper[bits[body & _beside(room & ~notch)]] = True
    give &= at_edge & at_paper
    give[-1] = False
    back[box][sub] = np.take(give, bits)
    return out, back


def _beside(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels with a 4-neighbour in `mask`."""
    out = np.zeros(mask.shape, bool)
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _under_lines(
    result: np.ndarray, labels: np.ndarray, changed: np.ndarray, plan: UnderPlan | list | None = None
) -> None:
    """Colours under the lines beside the regions follow my colours changed (`changed`: filled, or paper
    again): each line pixel within UNDER px of one takes the mean colour of the pixels next to it that have
    one, a pixel deeper into the line at a time, so the colours on either side (a filled shape's, the
    paper's white, a shape the model painted) meet under the line's middle; then the mean of its 3 x 3
    neighbourhood, so they ramp across the line (anti-aliased) rather than step on the work-size grid,
    which the upscaler would sharpen into a staircase where no lines are laid over the result. The model
    paints no lines (on the demo house, 1 - its brightest channel is ~0.05 on line pixels), and the
    pipeline scales a work-size result up to the canvas: a line pixel's colour spreads about a work-size
    pixel past the sharp line keep my lines lays over it. The model's pale orange under the lines showed
    as a dotted light fringe inside a filled green crown, and orange on the white paper. `plan`: `_under_plan(labels,
    changed)` when it was made already.
    The result's values are taken clipped to [-1, 1] (its edge pixels repeated past the canvas), a gather per
    turn of all the neighbours `plan` lists; each turn's colours go into `result` itself (the final 3 x 3 means
    overwrite them: the same values as a clipped, padded copy's)."""
    plan = _under_plan(labels, changed) if plan is None else plan
    if not plan:
        return
    whole = result.flags.c_contiguous  # (else a contiguous copy, written back below)
    flat = (result if whole else np.ascontiguousarray(result)).reshape(3, -1)
    one = flat.reshape(-1)  # (a view: the planes end to end, one fancy assignment writes all three)
    snap = None
    if (
        plan.edge is not None
    ):  # (the 3 x 3 means' pixels past the canvas: its edge as it was before the turns)
        snap = np.take(flat, plan.edge[1], axis=1)
        np.clip(snap, -1.0, 1.0, out=snap)
    for nb, hv, cnt, at3 in plan.steps:  # (sums in the order of before: one neighbour after another)
        got = np.take(flat, nb, axis=1)  # (3, 4 * n): above, below, left, right
        np.clip(got, -1.0, 1.0, out=got)
        got = got.reshape(3, 4, -1)
        got *= hv  # (the neighbours without a colour: 0)
        total = got.sum(axis=1)  # (along the neighbours' axis, not the contiguous one: in turn, as before)
        total /= cnt
        one[at3] = total.reshape(-1)
    got = np.take(flat, plan.ring, axis=1)  # (3, 9 * n): the 3 x 3 around each
    np.clip(got, -1.0, 1.0, out=got)
    if snap is not None:
        got[:, plan.edge[0]] = snap
    total = got.reshape(3, 9, -1).sum(axis=1)
    total /= 9
    one[plan.at3] = total.reshape(-1)
    if not whole:
        result[...] = flat.reshape(result.shape)


def _model_lines(result: np.ndarray, model: np.ndarray, labels: np.ndarray, plan) -> None:
    """Without keep my lines: the line pixels beside the regions follow my colours changed (`plan`, as
    `_under_plan` gives it) take the colours of the regions beside them (`_under_lines`) darkened as the
    model darkened its own line there: by its line pixel's luminance over that of its own colours beside
    it (at most 1). A model that paints a dark line keeps it; one that paints none (the shipped colorizer
    on the demo house) leaves no line of its own colour round a shape filled in another (an orange fringe
    round a red wall, a yellow roof line). `model`: the model's output before the fill."""
    if not plan:
        return
    idx = plan.at
    own = _take(np.clip(model, -1.0, 1.0), idx)
    _under_lines(model, labels, None, plan)  # (the model's own colours under its lines)
    _under_lines(result, labels, None, plan)
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    shade = (luma @ (own + 1)) / np.maximum(luma @ (_take(model, idx) + 1), 1e-3)
    np.clip(shade, 0.0, 1.0, out=shade)
    _put(result, idx, (_take(result, idx) + 1) * shade - 1)


class UnderPlan(NamedTuple):
    """Which line pixels `_under_lines` colours and from which neighbours (`_under_plan`), as flat pixel
    indices into the (H, W) image: per turn (`steps`) the four neighbours of its pixels ((4 * n,): above,
    below, left, right; the pixel itself where the neighbour is off the canvas), which of them have a colour
    ((4, n) float32, 1 or 0), their count ((n,) float32) and the pixels in the three planes laid end to end
    ((3 * n,): one assignment); all the turns' pixels (`at`, in turn order) and the same in the three planes (`at3`); their 3 x 3
    neighbourhoods (`ring`, (9 * n,): row by row, the canvas's edge pixel repeated past it), and where that
    reaches past the canvas (`edge`: (positions in `ring`, the edge pixels there) or None)."""

    steps: list
    at: np.ndarray
    at3: np.ndarray
    ring: np.ndarray
    edge: tuple | None


def _under_plan(labels: np.ndarray, changed: np.ndarray, gaps: np.ndarray | None = None) -> UnderPlan | list:
    """Which line pixels `_under_lines` colours, turn by turn (each a pixel deeper into the line), and from
    which neighbours (an `UnderPlan`), empty when there are none. The labels and `changed` alone decide it,
    not the colours.
    `gaps`: (H, W) bool, line pixels (labels -1) with a colour of their own (`_gaps`: paper), changed too:
    they are not coloured, and colour the line pixels beside them as a region does."""
    h, w = labels.shape
    todo = labels < 0
    if gaps is not None:
        todo &= ~gaps
        changed = changed | gaps
    todo &= grow(changed & ~todo, UNDER)  # the line pixels near a changed region
    if not todo.any():
        return []
    stride = w + 2
    padded = np.zeros((2, h + 2, stride), bool)  # (have, todo) padded 1 px: flat indices
    np.greater_equal(labels, 0, out=padded[0, 1:-1, 1:-1])
    if gaps is not None:
        padded[0, 1:-1, 1:-1] |= gaps
    padded[1, 1:-1, 1:-1] = todo
    have = padded[0].reshape(-1)
    idx = np.flatnonzero(padded[1])
    image = _image_index(h, w)
    four = np.array([-stride, stride, -1, 1], np.intp)[:, None]
    size = np.arange(3, dtype=np.intp)[:, None] * (h * w)
    steps, turns = [], []
    for _ in range(UNDER):
        hv = have[idx + four]  # (4, n): above, below, left, right
        cnt = hv.view(np.uint8).sum(axis=0, dtype=np.uint8)  # (0-4: bytes, no int64 temporaries)
        new = cnt > 0
        if not new.any():
            break
        at = idx[new]
        turns.append(at)
        px = np.take(image, at)
        # (a neighbour past the canvas has no colour: its edge pixel, the pixel itself, times 0; the count as
        # float32: _under_lines divides in float32, the same values as in float64 for 1-4)
        nb = np.take(image, at + four).reshape(-1)
        hv = np.compress(new, hv, axis=1).astype(np.float32)
        steps.append((nb, hv, cnt[new].astype(np.float32), (px + size).reshape(-1)))
        have[at] = True
        idx = idx[~new]
    at = np.concatenate(turns)
    px = np.take(image, at)
    nine = np.array([dy * stride + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)], np.intp)[:, None]
    ring = (at + nine).reshape(-1)
    edge = None
    if todo[0].any() or todo[-1].any() or todo[:, 0].any() or todo[:, -1].any():  # (past the canvas: the
        rim = np.ones((h + 2, stride), bool)  # padded copy held the edge as it was before the turns)
        rim[1:-1, 1:-1] = False
        pos = np.flatnonzero(np.take(rim.reshape(-1), ring))
        edge = (pos, np.take(image, np.take(ring, pos)))
    return UnderPlan(steps, px, (px + size).reshape(-1), np.take(image, ring), edge)


@functools.lru_cache(maxsize=2)
def _image_index(h: int, w: int) -> np.ndarray:
    """Each pixel's flat index in an (h, w) image, laid out as the image padded 1 px round with its edge
    pixels repeated (np.pad's edge mode): a padded flat index's pixel in the image, the edge pixel's past it
    (no divisions). Read-only, kept for the next call of the size (two sizes at most: 8 bytes a pixel, 34 MB
    at 2048 px)."""
    out = edged(np.arange(h * w, dtype=np.intp).reshape(h, w), 1).reshape(-1)
    out.flags.writeable = False
    return out


def _take(planes: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """planes[:, ys, xs] (planes (C, H, W), or (C, N) with flat indices) at the flat pixel indices `flat`
    (ys * W + xs), as a new (C, len(flat)) array: np.take, 5-12x quicker than numpy's indexing with a slice
    before the index arrays (1 ms for 3 x 10k pixels at 256 px)."""
    return np.take(planes.reshape(planes.shape[0], -1), flat, axis=1)


def _put(planes: np.ndarray, flat: np.ndarray, values: np.ndarray) -> None:
    """planes[:, ys, xs] = values at the flat pixel indices `flat`, in place, a plane at a time (2-3x quicker
    than numpy's indexing with a slice first)."""
    if not planes.flags.c_contiguous:  # (no flat view to write through)
        planes[(slice(None), *np.unravel_index(flat, planes.shape[1:]))] = values
        return
    rows = planes.reshape(planes.shape[0], -1)
    for c in range(len(rows)):
        rows[c][flat] = values[c]


def _border(a: np.ndarray, k: int = 1) -> np.ndarray:
    """The values on the canvas edge of (H, W) `a`: its first and last `k` rows and columns, one flat array."""
    return np.concatenate([b.ravel() for b in (a[:k], a[-k:], a[:, :k], a[:, -k:])])


def _bounds(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The rows and columns of (H, W) bool `mask`'s bounding box as slices, or None where it is all False."""
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)) if len(ys) else None


def _touches_edge(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def guard_leaks(
    labels, n, line, group_region, seeds, own, r_lab, thick=None
) -> tuple[np.ndarray, int, list[int]]:
    """The leak guard: a quick sketch leaves gaps in its outlines, and a paint bucket pours a dab's colour
    through them into the paper and the shapes around (the whole canvas in the dab's colour). Only regions
    that hold a dab and reach the canvas edge (the paper does) are looked at; the rest are left as they are.

    For such a region the lines are thickened further, CLOSE px at a time (gaps up to about twice that
    close, as in trapped-ball filling); at the first width at which the dabs' parts are cut off from the
    edge and keep MIN_ENCLOSED px each, those parts, grown back to the region's lines, become regions of
    their own. Where no width closes them and a dab of the region is `in_the_open` (its rays reach the canvas
    edge), the region is open background and filled whole, less the shapes a small gap joins to it (cut off
    as `paper` does, each a region of its own without the dabs, which keep the model's colours); the region
    is not split. Else, where the model paints most of the region as paper (PAPER), the
    dabs' parts are the connected parts of the region the model does not paint as paper (paper: what
    reaches the canvas edge, so a highlight inside the shape stays shape). A region the edge closes with
    no gap (a sky to the horizon) stays whole where the model paints it, not as paper. A frame drawn round
    the drawing (`_frame`) is the canvas edge here too, as in `paper`: a framed sketch is guarded as the
    same sketch without the frame. `seeds` / `own`: the dab groups' points and groups, as
    _hint_groups gives them; `r_lab`: the model's output in CIELAB. Returns (labels, count, regions
    split): new regions numbered from the old count on (labels is modified in place)."""
    frame, beside, edge = _frame_edge(line, thick)
    at_edge = np.zeros(n + 1, bool)  # (labels == -1 indexes the last entry, left False)
    at_edge[_border(labels)] = True
    if beside is not None:
        at_edge[labels[beside]] = True
    at_edge[-1] = False
    leaky = [int(r) for r in np.unique(group_region) if at_edge[r]]
    split: list[int] = []
    if not leaky:
        return labels, n, split
    # the widest width first: a region with a dab's part still at the canvas edge there is at the edge at every
    # narrower width too (the part there holds it), so no width closes it and its narrower widths are skipped
    widest, _ = label_regions(~_thickened(line, CLOSE[-1], thick))
    rim = np.unique(_border(widest) if edge is None else np.concatenate([_border(widest), widest[edge]]))
    pts_of = {r: seeds[np.isin(own, np.nonzero(group_region == r)[0])] for r in leaky}
    tried = [r for r in leaky if not np.isin(_ids_at(widest, pts_of[r]), rim).any()]
    for k in CLOSE:
        if not tried:
            break
        sub = widest if k == CLOSE[-1] else label_regions(~_thickened(line, k, thick))[0]
        for r in list(tried):
            parts = _parts(sub, pts_of[r], edge=edge)
            if parts is None:
                continue
            tried.remove(r)
            leaky.remove(r)
            split.append(r)
            region = labels == r
            for part in parts:
                part = grow(part, k + 1)
                part &= region
                notch = _eaves(region & ~part, part, line, edge)  # (an eave under a roof's overhang)
                if notch is not None:
                    part |= notch[0]
                    part &= ~notch[1]
                labels[part] = n
                n += 1
    lines = _thickened(line, 1, thick)  # (as `regions` sees them)
    out = None if frame is None else grow(frame)  # (a ray reaching the frame's lines gets out)
    for r in leaky:  # still open at every width: a dab in the open background fills it (less the shapes a
        # small gap joins to it); else the model's own shape, if it paints the rest as paper
        region = labels == r
        groups = np.nonzero(group_region == r)[0]
        if any(in_the_open(lines, _spread(seeds[own == g], RAY_POINTS), out) for g in groups):
            shapes = region & ~_open_part(region, line, None, whole=True, thick=thick, edge=edge)
            cut, m = label_regions(shapes)
            labels[shapes] = cut[shapes] + n
            n += m
            continue
        paper = region & (r_lab[0] > PAPER[0]) & (np.hypot(r_lab[1], r_lab[2]) < PAPER[1])
        blank, m = label_regions(paper)  # paper is what reaches the edge: a highlight in a shape is shape
        rim = np.unique(_border(blank) if edge is None else np.concatenate([_border(blank), blank[edge]]))
        open_ = np.zeros(m + 1, bool)
        open_[rim[rim >= 0]] = True  # blank == -1 (not paper) indexes the last entry, left False
        paper = open_[blank]
        if paper.sum() < PAPER[2] * region.sum():
            continue
        sub, _ = label_regions(region & ~paper)
        parts = _parts(sub, seeds[np.isin(own, np.nonzero(group_region == r)[0])], edge_ok=True)
        split += [r] if parts else []
        for part in parts or ():
            labels[part] = n
            n += 1
    return labels, n, split


def rays(block: np.ndarray, pts: np.ndarray, count: int = RAYS, out: np.ndarray | None = None) -> np.ndarray:
    """(len(pts), count): how far (px) each of `count` straight rays from each point (y, x), evenly spread
    round it, goes before it crosses a True pixel of `block` (the lines, 3 px thick or more: sampled every
    pixel, a ray cannot step over one); inf for a ray that reaches the canvas edge first (it escapes), or
    whose first such pixel is one of `out` ((H, W) bool: a frame drawn round the drawing, the canvas edge)."""
    h, w = block.shape
    a = np.arange(count) * (2 * np.pi / count)
    t = np.arange(1, int(np.hypot(h, w)) + 2, dtype=np.float32)
    # every ray of every point, flat: its start and direction
    py, px = np.repeat(pts[:, 0], count), np.repeat(pts[:, 1], count)
    sy, sx = np.tile(np.sin(a), len(pts)), np.tile(np.cos(a), len(pts))
    dist = np.full(len(py), np.inf)
    todo = np.arange(
        len(py)
    )  # the rays neither blocked nor off the canvas yet (one that leaves it stays out)
    flat = block.reshape(-1)
    gone = None if out is None else out.reshape(-1)
    lo, size = 0, RAY_STEPS
    while len(todo) and lo < len(t):  # a few steps at a time, twice as many each time
        tt = t[lo : lo + size]
        y = np.rint(py[todo, None] + sy[todo, None] * tt).astype(np.int64)  # (rays, steps)
        x = np.rint(px[todo, None] + sx[todo, None] * tt).astype(np.int64)
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        at = np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)
        hit = flat[at]
        hit &= inside
        first = hit.any(axis=1)
        j = hit[first].argmax(axis=1)
        d = j + (lo + 1.0)
        if gone is not None:  # (reached the frame first: out)
            d[gone[at[first][np.arange(len(j)), j]]] = np.inf
        dist[todo[first]] = d
        todo = todo[~first & inside[:, -1]]
        lo, size = lo + size, 2 * size
    return dist.reshape(len(pts), count)


def in_the_open(block: np.ndarray, pts: np.ndarray, out: np.ndarray | None = None) -> bool:
    """A dab (its points `pts`, y, x) lies in the open background, not in a shape whose outline leaves a gap:
    of RAYS rays from each point at least ESCAPE reach the canvas edge without crossing a line (`block`: the
    lines thickened by one px, as `regions` sees them), and
    the nearest line the rays meet is CLEAR px away or more (a share of the canvas), the median over the points;
    or, where at least half the rays get out (BESIDE: the lines the dab is near take up at most half of its
    view, as a horizon does a ground dab's), BESIDE[1] px or more: a green dab 7-11 px under the horizon
    (at 256 px) filled only the model's blot of it, not the ground. A dab hugging a line with less of the
    open around it (a shape's outline beside it: a quarter to a third of the rays out) still needs CLEAR.
    `out`: the pixels of `block` that are the canvas edge (a frame drawn round the drawing), or None."""
    d = rays(block, pts, out=out)
    scale = min(block.shape) / 256
    share, clear = np.isinf(d).mean(), np.median(d.min(axis=1))
    return bool(
        share >= ESCAPE and (clear >= CLEAR * scale or (share >= BESIDE[0] and clear >= BESIDE[1] * scale))
    )


def _spread(pts: np.ndarray, k: int) -> np.ndarray:
    """At most k of the points, evenly spread through the list."""
    return pts[np.linspace(0, len(pts) - 1, min(k, len(pts))).astype(np.int64)]


def _ids_at(sub: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The labels (>= 0) of `sub` under the points `pts` (y, x), each once."""
    ids = sub[pts[:, 0].astype(np.int64), pts[:, 1].astype(np.int64)]
    return np.unique(ids[ids >= 0])


def _parts(
    sub: np.ndarray, pts: np.ndarray, edge_ok: bool = False, edge: np.ndarray | None = None
) -> list[np.ndarray] | None:
    """The parts of `sub` (labels) under the points `pts` (y, x), or None when there are none, or one
    reaches the canvas edge (unless `edge_ok`; `edge`: (H, W) bool, pixels that count as the canvas edge
    too, beside a frame drawn round the drawing) or is smaller than MIN_ENCLOSED px."""
    ids = _ids_at(sub, pts)
    if not len(ids):
        return None
    parts = [sub == c for c in ids]
    for p in parts:
        if p.sum() < MIN_ENCLOSED:
            return None
        if not edge_ok and (_touches_edge(p) or (edge is not None and (p & edge).any())):
            return None
    return parts


def _hint_groups(hinted: np.ndarray, labels: np.ndarray, sketch: np.ndarray):
    """The dab groups: connected strokes of hint pixels, per region, each with its colour (the most common
    (a*, b*) bin among its pixels, then that bin's mean), strokes of one colour in one region merged.
    `sketch`: planar [-1, 1]; only its hint pixels are converted to CIELAB.
    Returns (region of each group (G,), colours (3, G) CIELAB, seed points (S, 2) y, x on the strokes'
    edges, group of each seed (S,))."""
    strokes, _ = label_regions(hinted)
    ys, xs = np.nonzero(hinted)
    reg = labels[ys, xs].astype(np.int64)
    pair = strokes[ys, xs].astype(np.int64) * (int(labels.max()) + 1) + reg
    pairs, stroke = np.unique(pair, return_inverse=True)
    hab = lab((_take(sketch, ys * hinted.shape[1] + xs) + 1) * 0.5)
    bins = (np.floor(hab[1] / 16).astype(np.int64) + 64) * 128 + (np.floor(hab[2] / 16).astype(np.int64) + 64)
    key = stroke.astype(np.int64) * 16384 + bins
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    owner = keys // 16384
    order = np.lexsort((-counts, owner))  # per stroke, the biggest bin first
    first = np.ones(len(order), bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    best = order[first]
    best = best[counts[best] >= MIN_HINT_PIXELS]
    if not len(best):
        none = np.zeros(0, np.int64)
        return none, np.zeros((3, 0), np.float32), np.zeros((0, 2), np.float32), none
    sums = np.stack([np.bincount(inverse, weights=hab[c], minlength=len(keys)) for c in range(3)])
    cols = (sums[:, best] / counts[best]).astype(np.float32)
    # a small or thin stroke's pixels are mostly its soft edge (the colour thinned with paper), so its most
    # common colour is a paler tint (a crimson speck read as pink): the colour is the mean of its pixels of
    # that hue with the most chroma (its core)
    ink = np.hypot(hab[1], hab[2])  # (chroma: thinned with paper or darkened by a line's edge it drops)
    for i, b in enumerate(best):
        px = np.nonzero(stroke == owner[b])[0]
        if np.hypot(cols[1, i], cols[2, i]) <= HINT_CHROMA:  # a grey dab (grey_dabs): its darkest pixels
            core = px[100 - hab[0, px] >= CORE[1] * (100 - hab[0, px]).max()]
            cols[:, i] = hab[:, core].mean(axis=1)
            continue
        a, b_ = hab[1, px], hab[2, px]
        px = px[a * cols[1, i] + b_ * cols[2, i] >= CORE[0] * ink[px] * np.hypot(cols[1, i], cols[2, i])]
        if len(px):
            core = px[ink[px] >= CORE[1] * ink[px].max()]
            cols[:, i] = hab[:, core].mean(axis=1)
    stroke_region = pairs[owner[best]] % (int(labels.max()) + 1)
    area = np.bincount(stroke)[owner[best]]
    # strokes of one paint in one region are one group, with the biggest stroke's colour: (nearly) the same
    # colour, or a thin stroke of it (a tint: the colour thinned with paper, as a dab's soft edge is)
    rgb = srgb(cols)
    by_size = np.argsort(-area, kind="stable")
    group = np.arange(len(best))
    for a, i in enumerate(by_size):
        for j in by_size[:a]:
            if group[j] == j and stroke_region[i] == stroke_region[j] and _same_paint(cols, rgb, i, j):
                group[i] = j
                break
    keep = np.unique(group)
    remap = -np.ones(len(best), np.int64)
    remap[keep] = np.arange(len(keep))
    stroke_group = -np.ones(len(pairs), np.int64)
    stroke_group[owner[best]] = remap[group]
    # seeds: the strokes' edge pixels (a stroke's inside is no nearer to anything), at most MAX_SEEDS each
    pad = np.pad(hinted, 1)
    edge = hinted & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    on_edge = edge[ys, xs]
    g = stroke_group[stroke][on_edge]
    pts = np.stack([ys[on_edge], xs[on_edge]], axis=1)[g >= 0]
    g = g[g >= 0]
    idx = np.argsort(g, kind="stable")
    pts, g = pts[idx], g[idx]
    starts = np.searchsorted(g, np.arange(len(keep)))
    sizes = np.diff(np.append(starts, len(g)))
    step = np.maximum(1, -(-sizes // MAX_SEEDS))
    take = np.arange(len(g)) - np.repeat(starts, sizes)
    pick = take % np.repeat(step, sizes) == 0
    return stroke_region[keep], cols[:, keep], pts[pick].astype(np.float32), g[pick]


def _same_paint(lab_: np.ndarray, rgb: np.ndarray, i: int, j: int) -> bool:
    """Strokes i and j (CIELAB and sRGB columns) are one paint: within SAME_DE, or one is the other thinned
    with white paper (1 - rgb_i = t (1 - rgb_j) for one t in (0, 1], within TINT_TOL per channel)."""
    if np.linalg.norm(lab_[:, i] - lab_[:, j]) < SAME_DE:
        return True
    for a, b in ((i, j), (j, i)):
        ink_a, ink_b = 1 - rgb[:, a], 1 - rgb[:, b]
        t = float(ink_a @ ink_b) / max(float(ink_b @ ink_b), 1e-6)
        if 0 < t <= 1.05 and np.abs(ink_a - t * ink_b).max() < TINT_TOL:
            return True
    return False


def _distances(seeds: np.ndarray, owner: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(groups, H, W) distance (px) from every pixel to each group's seed points, computed on a grid of
    COARSE x COARSE px cells and interpolated bilinearly (a distance is smooth: off by a pixel or two)."""
    h, w = shape
    gy = np.arange(0, h, COARSE, dtype=np.float32) + (COARSE - 1) / 2
    gx = np.arange(0, w, COARSE, dtype=np.float32) + (COARSE - 1) / 2
    k = int(owner.max()) + 1
    # each group's least square distance over its seeds, a group at a time (seed-major: a reduction over whole
    # planes; np.minimum.reduceat over the seeds' axis of one (gh, gw, seeds) array took 1.3x as long): each
    # square distance is the same float32 sum as before, and a minimum is exact in any order
    dy = np.square(gy[None, :] - seeds[:, 0:1])
    dx = np.square(gx[None, :] - seeds[:, 1:2])
    starts = np.append(np.searchsorted(owner, np.arange(k)), len(owner))
    coarse = np.empty((k, len(gy), len(gx)), np.float32)
    for g in range(k):  # (a group without seeds would take the next one's first, as reduceat did)
        s0 = starts[g]
        s1 = max(starts[g + 1], s0 + 1)
        np.min(dy[s0:s1, :, None] + dx[s0:s1, None, :], axis=0, out=coarse[g])
    return _lerp(_lerp(np.sqrt(coarse, out=coarse), h, 1), w, 2)


def _lerp(v: np.ndarray, n: int, axis: int) -> np.ndarray:
    """`v`'s values at the COARSE cells' centres along `axis` interpolated linearly to 0..n-1 (clamped ends):
    two taps a pixel, no matrix product (OpenBLAS's threads, on a machine whose cores were all busy, waited on
    each other for tens of ms in the matrix products this did before; and their results changed in the last
    bits with the thread count)."""
    lo, hi, frac = _lerp_taps(n, v.shape[axis])
    shape = [1] * v.ndim
    shape[axis] = n
    frac = frac.reshape(shape)
    out = np.take(v, lo, axis)  # (in place: two full-size arrays, not five)
    out *= 1 - frac
    top = np.take(v, hi, axis)
    top *= frac
    out += top
    return out


def _smooth_fill(
    x: np.ndarray, valid: np.ndarray, reach: tuple[int, ...] = (GHOST[1],), at: np.ndarray | None = None
) -> np.ndarray:
    """x's mean over the `valid` pixels within about each `reach` px of each pixel (0 where there are none):
    (len(reach), H, W), a normalised box blur on COARSE px cells, interpolated back bilinearly (shading is
    smooth); the cells and the interpolation are shared by the reaches. `at`: flat pixel indices: the values
    there alone, (len(reach), len(at)) (the columns' pass of `_lerp` at those pixels only: the same values)."""
    h, w = x.shape
    gh, gw = -(-h // COARSE), -(-w // COARSE)
    cells = np.zeros((2, gh * COARSE, gw * COARSE), np.float32)
    cells[0, :h, :w] = np.where(valid, x, 0.0)
    cells[1, :h, :w] = valid
    cells = _cell_sums(cells.reshape(2, gh, COARSE, gw, COARSE))
    c = np.zeros((2, gh + 1, gw + 1), np.float32)
    c[:, 1:, 1:] = cells.cumsum(1).cumsum(2)
    out = np.empty((len(reach), h, w) if at is None else (len(reach), len(at)), np.float32)
    if at is not None:  # (`_lerp`'s two taps and weight along the row at each pixel, into the (h, gw) rows)
        ys, xs = np.divmod(at, w)
        lo, hi, frac = _lerp_taps(w, gw)
        ys *= gw
        lo, hi, frac = ys + np.take(lo, xs), ys + np.take(hi, xs), np.take(frac, xs)
    for k, px in enumerate(reach):
        rows = _lerp(_cell_means(c, px), h, 0)
        if at is None:
            out[k] = _lerp(rows, w, 1)
        else:
            rows = rows.reshape(-1)
            got = np.take(rows, lo)
            got *= 1 - frac
            top = np.take(rows, hi)
            top *= frac
            got += top
            out[k] = got
    return out


def _cell_means(c: np.ndarray, px: int) -> np.ndarray:
    """(gh, gw) float32: each COARSE px cell's mean over the valid pixels within about `px` px (0 where none),
    from `c`, the summed-area table (2, gh + 1, gw + 1) of the cells' sums of the values and of the valid
    pixels. (The table's four corners of every cell's box in one gather: `_box_corners`.)"""
    gh, gw = c.shape[1] - 1, c.shape[2] - 1
    got = np.take(c.reshape(2, -1), _box_corners(gh, gw, -(-px // COARSE)), axis=1).reshape(2, 4, gh, gw)
    box = got[:, 0] - got[:, 1]  # (y1, x1) - (y0, x1) - (y1, x0) + (y0, x0), in that order
    box -= got[:, 2]
    box += got[:, 3]
    return np.where(box[1] > 0.5, box[0] / np.maximum(box[1], 0.5), 0.0).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _box_corners(gh: int, gw: int, r: int) -> np.ndarray:
    """Flat indices into a (gh + 1, gw + 1) summed-area table of the corners (y1, x1), (y0, x1), (y1, x0),
    (y0, x0) of each of the (gh, gw) cells' boxes r cells round them (clipped to the grid): (4 * gh * gw,),
    read-only (kept for the next call of the size)."""
    y0, y1 = np.clip(np.arange(gh) - r, 0, gh), np.clip(np.arange(gh) + r + 1, 0, gh)
    x0, x1 = np.clip(np.arange(gw) - r, 0, gw), np.clip(np.arange(gw) + r + 1, 0, gw)
    out = np.concatenate(
        [
            (ys[:, None] * (gw + 1) + xs[None, :]).reshape(-1)
            for ys, xs in ((y1, x1), (y0, x1), (y1, x0), (y0, x0))
        ]
    )
    out.flags.writeable = False
    return out


def _cell_sums(c: np.ndarray) -> np.ndarray:
    """c (planes, gh, COARSE, gw, COARSE) summed over each cell, as .sum(axis=(2, 4)) adds them (along a cell's
    rows first, then down its column: the same float32 sums) but a few times quicker (added in turn)."""
    t = c[..., 0] + c[..., 1]
    for i in range(2, c.shape[-1]):
        t += c[..., i]
    out = t[:, :, 0] + t[:, :, 1]
    for i in range(2, t.shape[2]):
        out += t[:, :, i]
    return out


def _unglow(result, r_lab, labels, target, dist, near, colour, n) -> None:
    """The model spreads a dab's colour past the lines into the shapes and open paper around it (a glow).
    In every region without a dab, within GLOW[1] px of a dab, each pixel is moved toward the region's own
    colour (the median of its pixels beyond GLOW[1] px: paper for open paper) by as much as it leans from
    that colour toward a dab's (the cosine of the two directions in a*, b*), fully within GLOW[0] px of
    that dab and fading out to GLOW[1] (the strongest pull of the dabs near enough: no seam between two
    dabs). A region with too few pixels that far keeps the model's colours."""
    other = (labels >= 0) & ~target
    far = other & (near >= GLOW[1])
    samples = np.flatnonzero(far)  # (flat indices: a quarter of np.nonzero's time)
    samples = samples[:: max(1, len(samples) // 2048)]  # a median needs no more samples than that
    f_reg = labels.reshape(-1)[samples]
    per = np.bincount(f_reg, minlength=n)
    ok = (np.bincount(labels[far], minlength=n) >= MIN_BASE) & (per > 0)
    zone = other & (near < GLOW[1]) & ok[np.maximum(labels, 0)]
    if not zone.any():
        return
    # each region's median sample (only the `ok` regions' are used)
    base = _region_median(_take(r_lab, samples), f_reg, n)
    at = np.flatnonzero(zone)
    reg = labels.reshape(-1)[at]
    p = _take(r_lab, at)
    b = np.take(base, reg, axis=1)
    v = p[1:] - b[1:]
    vn = np.hypot(v[0], v[1])
    off = vn >= GLOW_TOL  # pixels of the region's own colour (most open paper) stay as they are
    at, vn = at[off], vn[off]
    p, b, v = (np.compress(off, a, axis=1) for a in (p, b, v))
    if not len(at):
        return
    fade = np.clip((GLOW[1] - _take(dist, at)) / (GLOW[1] - GLOW[0]), 0.0, 1.0)  # (groups, pixels)
    u = colour[1:, :, None] - b[1:, None, :]
    cos = (u * v[:, None, :]).sum(axis=0) / (np.maximum(np.hypot(u[0], u[1]), 1e-6) * vn)
    lean = (np.clip(cos, 0.0, 1.0) * fade).max(axis=0)
    moved = lean > 0
    if moved.any():
        p, b = np.compress(moved, p, axis=1), np.compress(moved, b, axis=1)
        q = p + lean[moved] * (b - p)
        _put(result, at[moved], srgb(q) * 2 - 1)


AUTO_MIN = 24  # px (at 256 px; scaled with the area): a smaller region (a speck) keeps the model's colours


class AutoPlan(NamedTuple):
    """What `auto_fill` needs of the regions alone (`auto_plan`): its pixels (`take`: (H, W) bool; `idx`: their
    flat indices, row-major) and the region of each (`reg`, of `m`); and, as indices into `idx`, the pixels
    the colours are chosen from, away from the lines' bevel (`pick`: grouped by region, for `_region_median`),
    the pixels within RIM[1] px of their region's lines (`near`) with the share of the model's own shading
    they keep (`own`: 0 up to RIM[0] px, 1 at RIM[1]), and where the shading near the lines is taken from
    (`rim`: `_rim_plan`'s, for `_smooth_at`; the pixels further in, or all of a region with no inside)."""

    m: int
    take: np.ndarray
    idx: np.ndarray
    reg: np.ndarray
    pick: np.ndarray
    near: np.ndarray
    own: np.ndarray
    rim: RimPlan
    per: np.ndarray  # how many of `pick`'s pixels each region has
    coarse: np.ndarray  # the region of every SPARSE-th pixel of every SPARSE-th row (-1: none)
    # `reg` as runs of one region (the pixels are row-major, so a region's lie in runs along its rows): the
    # region of each run and its length, so a value per region comes to the pixels by np.repeat (`_per_pixel`)
    runs: tuple | None = None


SPARSE = 2  # px (at 256 px; scaled with the canvas): AutoPlan.coarse's step (exemplar.nested)


def coarse_step(h: int, w: int) -> int:
    """AutoPlan.coarse's step on an h x w canvas: SPARSE px at 256 px, scaled with the canvas."""
    return SPARSE * max(1, round(max(h, w) / 256))


def auto_plan(labels: np.ndarray, n: int, skip: np.ndarray, blank: np.ndarray) -> AutoPlan | None:
    """The regions `auto_fill` colours: `labels`' regions without `skip` (per region: dabbed) and without the
    open paper (`blank`), AUTO_MIN px or more (scaled with the canvas's area); a region partly paper (the
    open area at the canvas edge, with the shapes a small gap joins to it) gives each of its parts that is
    not paper as a region of its own. None when there are none."""
    units = labels.copy()
    units[blank] = -1
    if skip.any():  # (np.take: a fancy index's time over the whole canvas, halved)
        units[np.take(np.append(skip, True), labels)] = -1  # (labels == -1 indexes the last entry)
    m = n
    if blank.any():
        for r in np.nonzero(np.bincount(labels[blank], minlength=n)[:n] > 0)[0]:
            rest = units == r
            box = _bounds(rest)
            if box is None:
                continue
            sub, k = label_regions(rest[box])
            inside = rest[box]
            units[box][inside] = sub[inside] + m
            m += k
    h, w = labels.shape
    size = np.bincount(units[units >= 0], minlength=m)
    # the regions kept, and -1 for the others (units == -1 indexes the last entry)
    keep = np.where(size >= AUTO_MIN * h * w / 65536, np.arange(m), -1)
    units = np.take(np.append(keep, -1).astype(units.dtype), units)
    take = units >= 0
    if not take.any():
        return None
    idx = np.flatnonzero(take)
    # (the rim distance within the pixels' bounding box and RIM[1] px round it: a line or another region
    # further than that from them changes none of their distances; the box's pixels in the same order)
    (y0, y1), (x0, x1) = (
        (max(b.start - RIM[1], 0), min(b.stop + RIM[1], n_)) for b, n_ in zip(_bounds(take), (h, w))
    )
    rim = _rim_distance(units[y0:y1, x0:x1]).reshape(-1)[np.flatnonzero(take[y0:y1, x0:x1])]
    reg = units.reshape(-1)[idx].astype(np.int64)
    # (`reg` as runs of one region: the pixels are row-major, a region's lie in runs along its rows; each run's
    # region and length. Counts per region are sums per run, then per region (whole numbers: bincount's), and
    # the pixels grouped by region (a stable sort) are the runs grouped by region, spelled out: no sort of the
    # pixels)
    at = runs(reg)
    length = run_lengths(at, len(reg))
    of_run = reg[at]

    def count(mask: np.ndarray) -> np.ndarray:  # np.bincount(reg[mask], minlength=m)
        got = np.add.reduceat(mask.view(np.uint8), at, dtype=np.intp)
        return np.bincount(of_run, weights=got, minlength=m).astype(np.int64)

    inner = rim >= RIM[0]
    few = count(inner) < 8
    # (a region with too few: all of it)
    pick = inner | np.repeat(few[of_run], length) if few.any() else inner
    # (the pixels in region order, each region's ascending: its runs in order, spelled out)
    by = _by_region(of_run, m)
    first, long = at[by], length[by]
    grouped = np.repeat(first - (np.cumsum(long) - long), long)
    grouped += np.arange(len(reg))
    # (int32: the plan is kept through the model's run)
    pick, per = grouped[pick[grouped]].astype(np.int32), count(pick)  # (per: _region_median's groups)
    far = rim >= RIM[1]
    bare = count(far) == 0
    if bare.any():  # a region with no inside: its rim is all
        far |= np.repeat(bare[of_run], length)
    near = np.flatnonzero(rim < RIM[1]).astype(np.int32)
    own = np.clip((rim[near].astype(np.float32) - RIM[0]) / (RIM[1] - RIM[0]), 0.0, 1.0)
    step = coarse_step(h, w)
    coarse = units[::step, ::step].copy()
    rim_plan = _rim_plan(far, idx, near, take)
    return AutoPlan(m, take, idx, reg, pick, near, own, rim_plan, per, coarse, (of_run, length))


def auto_fill(result: np.ndarray, plan: AutoPlan, colours: np.ndarray | None = None) -> None:
    """An automatic dab from the model in every enclosed region without a dab (see the module's notes), in
    place: one colour of the model's own per region of `plan` (`auto_plan`), its lightness shading kept.
    Only the plan's pixels are worked on (no whole-image passes): one CIELAB round trip of them, the medians
    by a partition per region, the shading by the region's rim from a box blur on COARSE px cells evaluated
    at the rim's pixels alone. `colours`: (4, m): CIELAB to paint the regions in instead of the model's
    medians (NaN: its median), with its shading around its median kept up to the L* of the fourth row (the
    top of the colour's gamut: exemplar.tops)."""
    m, _, idx, reg, pick, near, own, rim, per = plan[:9]
    flat = result.reshape(3, -1)  # (a view of a contiguous result; else written back below)
    each = _per_pixel(plan)
    px = np.take(flat, idx, axis=1)
    np.clip(px, -1, 1, out=px)
    if per is None:
        per = np.bincount(reg if pick is None else np.take(reg, pick), minlength=m)
    # (a region none of whose pixels the medians use has median 0 either way)
    if colours is None or not np.isfinite(colours[1:3, per > 0]).all():
        c = lab(px, 0.5, 0.5)
        med = _region_median(c, reg, m, pick, per)  # (the pixels away from the lines' bevel)
    else:  # (every region takes exemplar's a*, b*: the model's L* alone, for the shading; the same values)
        c = lab_f_y(px, 0.5, 0.5)[None]
        c *= np.float32(116)
        c -= np.float32(16)
        med = _region_median(c, reg, m, pick, per)  # (1, m): L*
    # the shading: the model's lightness around the region's median, as a dab's fill keeps it (SHADING,
    # MAX_SHADE), taken from further in along the region's lines (RIM: their bevel)
    shade = c[0]
    shade -= each(med[0])
    np.clip(shade, -MAX_SHADE, MAX_SHADE, out=shade)
    if len(near):
        by_rim = _smooth_at(shade, rim, RIM[1] + COARSE)
        raw = shade[near]
        shade[near] = own * raw + (1 - own) * by_rim
    # each pixel's colour: its region's median a*, b* with the shaded L*, straight to CIELAB's f terms (as srgb
    # makes them: the same values; a*/500 and -b*/200 per region, then one take each)
    shade *= np.float32(SHADING)
    if colours is not None:  # (exemplar's colours)
        med = np.where(np.isfinite(colours[:3]), colours[:3], med).astype(np.float32)
    fs = np.empty((3, len(reg)), np.float32)
    lum = each(med[0])
    lum += shade
    np.clip(lum, 0, 100, out=lum)
    if colours is not None:
        np.minimum(lum, each(np.nan_to_num(colours[3], nan=100.0)), out=lum)
    np.add(lum, np.float32(16), out=fs[1])
    fs[1] *= np.float32(1 / 116)
    fs[0] = each(med[1] * np.float32(1 / 500))
    fs[0] += fs[1]
    fs[2] = each(med[2] * np.float32(-1 / 200))
    fs[2] += fs[1]
    got = srgb_of_f(fs, scale=2.0, offset=-1.0)
    mask = plan.take.reshape(-1)  # (`idx`'s pixels in the same order: a mask's writes take a third less time)
    for c in range(3):
        flat[c][mask] = got[c]
    if not np.shares_memory(flat, result):
        result[...] = flat.reshape(result.shape)


def _per_pixel(plan: AutoPlan):
    """A function of an (m,) array of values per region of `plan` giving each of its pixels its region's value
    (np.take(v, plan.reg)): by the plan's runs of one region (np.repeat: a quarter of the time)."""
    if plan.runs is None:
        return lambda v: np.take(v, plan.reg)
    region, length = plan.runs  # (each run's region and length)
    return lambda v: np.repeat(np.take(v, region), length)


class RimPlan(NamedTuple):
    """What `_smooth_at` needs of the pixels alone (`_rim_plan`, made with the plan beside the model): which
    pixels it smooths over (`valid`, bool over the pixel list), the COARSE px cell of each of them (`cell`), the
    summed-area table of their counts per cell (`count`: (gh + 1, gw + 1) float32, 0 on its first row and
    column), and for each pixel the smoothing is wanted at, the two taps of its column's interpolation and their
    weight (`lo`, `hi`, `frac`; and 1 - `frac`) into the cells' means interpolated to the image's `h` rows ((h, gw), flat)."""

    h: int
    valid: np.ndarray
    cell: np.ndarray
    count: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    frac: np.ndarray
    rest: np.ndarray  # 1 - frac


def _rim_plan(valid: np.ndarray, idx: np.ndarray, at: np.ndarray, take: np.ndarray) -> RimPlan:
    """`_smooth_at`'s plan for the pixels at the flat indices `idx` of an image (`take`: (H, W) bool, True at
    `idx`; the others not valid), smoothed over their `valid` ones (bool, as `idx`), wanted at the pixels
    `idx[at]`."""
    h, w = take.shape
    gh, gw = -(-h // COARSE), -(-w // COARSE)
    # each pixel's row from the rows' counts, its column and cell from tables (no division per pixel)
    # (`idx` ascends: where each row starts in it, not count_nonzero along the rows: a fifth of the time)
    # (intp throughout, as `idx` and the taps: an int32 operand beside an int64 one is cast on the way, ~1.5x
    # the time of the same operation on one type: 5 us a call at 256 px; the same values)
    per_row = np.diff(np.searchsorted(idx, np.arange(0, (h + 1) * w, w)))
    ys = np.repeat(np.arange(h, dtype=np.intp), per_row)
    xs = idx - ys * w
    rows = np.repeat((np.arange(h, dtype=np.intp) // COARSE) * gw, per_row)
    cell = rows[valid] + np.take(np.arange(w) // COARSE, xs[valid])
    count = np.zeros((gh + 1, gw + 1), np.float32)
    count[1:, 1:] = (
        np.bincount(cell, minlength=gh * gw).reshape(gh, gw).astype(np.float32).cumsum(0).cumsum(1)
    )
    lo, hi, frac = _lerp_taps(w, gw)
    xn = xs[at]
    base = ys[at] * gw
    frac = np.take(frac, xn)
    return RimPlan(h, valid, cell, count, base + np.take(lo, xn), base + np.take(hi, xn), frac, 1 - frac)


def _smooth_at(x: np.ndarray, plan: RimPlan, reach: int) -> np.ndarray:
    """`_smooth_fill` of the pixel list `x` ((N,), as `_rim_plan`'s `idx`) over its valid pixels, within about
    `reach` px, at the pixels `plan` wants it at only: the COARSE px cells' sums by one bincount, the box from
    their summed-area table, interpolated bilinearly (as `_lerp`, rows then columns) at those pixels."""
    gh, gw = plan.count.shape[0] - 1, plan.count.shape[1] - 1
    c = np.zeros((2, gh + 1, gw + 1), np.float32)
    sums = np.bincount(plan.cell, weights=x[plan.valid], minlength=gh * gw)
    c[0, 1:, 1:] = sums.reshape(gh, gw).astype(np.float32).cumsum(0).cumsum(1)
    c[1] = plan.count
    rows = _lerp(_cell_means(c, reach), plan.h, 0).reshape(-1)  # (h, gw): the rows' pass on the cells
    got = np.take(rows, plan.lo)
    got *= plan.rest
    top = np.take(rows, plan.hi)
    top *= plan.frac
    got += top
    return got


@functools.lru_cache(maxsize=64)
def _lerp_taps(n: int, g: int) -> tuple:
    """`_lerp`'s two taps and weight for each of the n pixels along an axis of `g` COARSE cells (read-only arrays,
    kept for the next call of the size)."""
    pos = np.clip((np.arange(n, dtype=np.float32) - (COARSE - 1) / 2) / COARSE, 0, g - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), g - 1)
    taps = (lo, np.minimum(lo + 1, g - 1), (pos - lo).astype(np.float32))
    for t in taps:
        t.flags.writeable = False
    return taps


def _by_region(reg: np.ndarray, m: int) -> np.ndarray:
    """The indices that group `reg` (regions 0..m-1) by region, in order within each: a stable argsort, on
    16-bit copies where they fit (numpy sorts those by radix: 0.2 ms for 37 k pixels in 14 regions; int64 by
    merges: 1.7 ms in random order)."""
    return np.argsort(reg.astype(np.uint16) if m <= 1 << 16 else reg, kind="stable")


def _region_median(
    c: np.ndarray, reg: np.ndarray, m: int, order: np.ndarray | None = None, per: np.ndarray | None = None
) -> np.ndarray:
    """(3, m): each region's median L*, a*, b* (its pixels' value of rank count // 2) of the pixels `c` (3, N) of
    regions `reg` (N,) (0 for none), from an np.partition of each region's pixels (a few times quicker than
    sorting all of them, the same values). `order`: the pixels to use, their indices grouped by region (a
    `_by_region(reg)`, or a part of one; default: all of them); `per`: how many of them each region has, when
    known (`auto_plan` counts them beside the model)."""
    if order is None:
        order = _by_region(reg, m)
    if per is None:
        per = np.bincount(np.take(reg, order), minlength=m)
    ends = np.cumsum(per)
    grouped = np.take(c, order, axis=1)
    out = np.zeros((len(c), m), np.float32)
    for r in np.flatnonzero(per):
        k = per[r] // 2
        px = grouped[:, ends[r] - per[r] : ends[r]]
        if per[r] < KTH_SAMPLE * 8:
            out[:, r] = np.partition(px, k, axis=1)[:, k]
        else:
            out[:, r] = [_kth(v, k) for v in px]
    return out


KTH_SAMPLE = 512  # `_kth` brackets the value it looks for between two values of a sample of this many


def _kth(v: np.ndarray, k: int) -> float:
    """np.partition(v, k)[k] of a 1-D array, the same value, partitioning only the values between two of a
    sample's (KTH_SAMPLE values of v) ranked 1/16 of the sample either side of k's rank (all of v when the
    k-th value falls outside them: rarely). numpy 2's partition took 3x numpy 1.26's time (the 28 k px of
    the bench sketch's largest region: 170 us a channel, 49 under 1.26); the bracket's few passes ~60."""
    s = np.sort(v[:: len(v) // KTH_SAMPLE])
    j, d = k * len(s) // len(v), len(s) // 16
    lo, hi = s[max(j - d, 0)], s[min(j + d, len(s) - 1)]
    below = np.count_nonzero(v < lo)
    mid = v[(v >= lo) & (v <= hi)]
    if below <= k < below + len(mid):
        return np.partition(mid, k - below)[k - below]
    return np.partition(v, k)[k]
