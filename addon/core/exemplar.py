"""Colours from the most similar training picture, for a sketch without dabs (issue 11: varied, plausible
colours where the artist gives none).

The default colorizer, trained on two CPU cores, paints every sketch it has no dab for in one washed-out
orange-beige (the average of the colours a shape could have). Without dabs, the pipeline looks up the
training sketches whose line drawing is most like this one (a shape descriptor: the lines inside the
drawing's bounding box, area-averaged to DESC x DESC px and blurred, compared by cosine through a PCA basis,
with a penalty for another aspect ratio), takes the true picture of the best of CANDIDATES of them (by
similarity, plus the share of the sketch's shapes its colours are not white paper under, plus the share of
them the other candidates colour alike: where similar drawings disagree, the colours most of them give are
likelier right than the nearest one's), and gives each shape the picture's median colour under it, both
drawings aligned by their bounding boxes. A drawing of several things (a house, a tree
and a sun: `objects`, groups of shapes whose outlines join or nearly touch, apart from a ground line drawn
across the canvas) has each of them matched on its own lines, its shapes taking its own picture's colours
(`match_objects`), where they fit their pictures clearly better than the whole drawing fits one (else they
are the parts of one thing, a clapperboard's lid and board, matched as one). A drawing or an object of two or
three shapes that its lines fit poorly (a triangle on a long trunk is nearer an ice-cream cone than any tree:
the template of lines asks for the same proportions) is matched by its parts when they fit well (`match_parts`:
each shape's own outline and place against the pictures' colour regions; a green crown above a brown trunk).
A shape drawn inside another (a door in a wall, an eye in a face, a letter on a sign: `nested`) that its
picture colours as that one is set apart from it (`_set_apart`: the picture's other colour there, else a shade of it): the artist drew its outline to tell it
apart, as 90-98 % of such shapes are in the true pictures. Look-alike shapes set in one shape (two windows,
two eyes, buttons in a row) take one colour: one set apart takes the colour the picture gives a look-alike
(`_alike`). Follow my colours' automatic dab
(`hintfill.auto_fill`) then paints each shape in that colour with the model's shading, as it does for a
shape the artist dabbed. Any dab in the sketch turns this off, and so does any other paint besides its lines
(`hintfill.painted`: a grey or pale dab follow my colours does not fill): the artist's colours decide, and
the shapes without a dab keep the model's own colours as before.

The index (`models/exemplars.npz`, built by `python -m tools.exemplar_index` from data/colorize/train: Fluent
Emoji Flat and High Contrast line sketches (MIT) and Open Clip Art ink outlines (public domain), with their
true colour pictures) holds per training sketch its descriptor's PCA code, aspect ratio and bounding box, and
per true picture a MAP x MAP px nearest-sampled copy (flat colours stay flat) and its colour regions
(`parts_of`: each one's place, share of the picture, shape and colour). Without the file the pipeline
keeps the model's colours. numpy only (no bpy, no torch).

An index belongs to the colorize models beside it (`beside`): the pipeline reads the exemplars.npz in the
colorize model's own folder (INDEX for the shipped styles, fp32 and int8 alike), so a style the user trained,
in a folder of its own, paints its own colours, not the default style's training pictures' (emoji and clip
art). A user who builds an index of their style's training pictures (`python -m tools.exemplar_index --data
DATA --out THEIR_FOLDER/exemplars.npz`, DATA/colorize/train/A and B) puts it beside their model. Follow my
colours' automatic dab (`hintfill.auto_fill`) works whatever the folder holds: without an index each shape
takes the model's own colour, as before.
"""

from __future__ import annotations

import logging
import threading
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import colour, hintfill

log = logging.getLogger(__name__)
NAME = "exemplars.npz"  # an index's file name, beside the colorize models it belongs to (`beside`)
MODELS = Path(__file__).resolve().parents[1] / "models"  # the shipped models' folder
INDEX = MODELS / NAME  # the shipped styles' index (tests and tools set another)
VERSION = 1
DESC = 32  # px: the descriptor's side (the drawing's bounding box, area-averaged)
ASPECT = 0.3  # similarity lost per unit of |log(aspect ratio)| between the sketch and a training sketch
CANDIDATES = 8  # the most similar training sketches whose pictures are weighed
COLOURED = 0.3  # a shape takes the picture's coloured pixels under it when they are this share or more
PAPER = (88.0, 8.0)  # a picture's white paper: L* above, chroma below
INK = 20.0  # L*: a picture's own dark outlines (clip art), not a shape's colour
COVERED = 0.5  # a picture gives a shape a colour where this share of it lies on the picture's shapes
PAPERLESS = 0.5  # similarity added in proportion to the share of the shapes the picture colours
CONSENSUS = 0.5  # ... and in proportion to the share of them the other candidates colour alike (`match`)
AGREE = 15.0  # CIELAB dE: two pictures colour a shape alike
GRID = 48  # the shapes' pixels are looked up in the picture by this many cells a side of the drawing's box


class Index(NamedTuple):
    basis: np.ndarray  # (DESC * DESC, K) float32: the descriptors' PCA basis (uncentred)
    codes: np.ndarray  # (N, K) float32: each training sketch's descriptor in it
    aspect: np.ndarray  # (N,) float32: log(width / height) of its bounding box
    box: np.ndarray  # (N, 4) int: its bounding box (y0, y1, x0, x1) in its picture's px
    side: int  # the pictures' side in px
    picture: np.ndarray  # (N,) int: its true picture, in `maps`
    maps: np.ndarray  # (M, MAP * MAP, 3) uint8: the true pictures, nearest-sampled, CIELAB (`encode_lab`)
    kind: np.ndarray  # (M, MAP, MAP) uint8: what each pixel of theirs is (`_kinds`): 0 their background (the
    # white paper that reaches their edge), 1 a shape's, 2 and not a dark outline, 3 and not pale grey either
    names: np.ndarray  # (M,) str: the true pictures' file names (provenance)
    parts: Parts | None = None  # the pictures' colour regions (`parts_of`), None in an index without them


class Parts(NamedTuple):
    """The colour regions of the index's pictures (`parts_of`), each a part a drawing of few shapes is matched
    by (`match_parts`)."""

    picture: np.ndarray  # (P,) int: the picture (of Index.maps) each is in, ascending
    where: np.ndarray  # (P, 3) float32: its centre (y, x) in its picture's shapes' box, log of its share
    share: np.ndarray  # (P,) float32: its share of its picture's shapes' pixels
    shape: np.ndarray  # (P, PART * PART) float32: its mask in its own box (`_part_shape`)
    colour: np.ndarray  # (P, 3) uint8: its median colour (`encode_lab`)
    # made of the above once (`of`), not per match: where each picture's parts start (`hintfill.runs` of
    # `picture`), and per picture, its parts' shares summed
    starts: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, picture, where, share, shape, colour) -> Parts:
        """Parts of these arrays, with what `match_parts` needs of them alone (`starts`, `total`)."""
        starts = hintfill.runs(picture)
        return cls(picture, where, share, shape, colour, starts, np.add.reduceat(share, starts))


_lock = threading.Lock()
_cache: dict[str, Index | None] = {}


def load(path: Path | str | None = None) -> Index | None:
    """The index at `path` (default INDEX; read once per process). None when there is no such file (looked
    for again next time: an index built later is found without a restart), or it cannot be read (another
    version, damaged: logged once): the sketch keeps the model's colours."""
    path = INDEX if path is None else path
    key = str(path)
    with _lock:
        if key not in _cache:
            if not Path(path).is_file():
                return None
            _cache[key] = None
            try:
                _cache[key] = _read(path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                log.warning("exemplar colours off: %s cannot be read (%s)", path, exc)
        return _cache[key]


def beside(model: Path | str) -> Index | None:
    """The index of the colorize model file `model`: the NAME file in its folder (INDEX for the shipped
    models' folder), read once per folder (`load`); None when there is none there: a style trained by the
    user, in a folder of its own, keeps its own colours rather than the default style's training pictures'.
    (On the pipeline's helper thread: a path resolved and a file looked for, ~20 us once it is read.)"""
    return load(index_path(model))


def index_path(model: Path | str) -> Path:
    """Where the index of the colorize model file `model` is (`beside`), whether it is there or not."""
    folder = Path(model).resolve().parent
    return INDEX if folder == MODELS else folder / NAME


def _read(path: Path | str) -> Index:
    with np.load(path, allow_pickle=False) as z:
        if int(z["version"]) != VERSION:
            raise ValueError(f"exemplar index version {int(z['version'])}, this add-on reads {VERSION}")
        maps = z["maps"]
        ground = np.unpackbits(z["ground"], axis=-1)[..., : maps.shape[2]].astype(bool)
        return Index(
            z["basis"].astype(np.float32),
            z["codes"].astype(np.float32),
            z["aspect"].astype(np.float32),
            z["box"].astype(np.int64),
            int(z["side"]),
            z["picture"].astype(np.int64),
            maps.reshape(len(maps), -1, 3),
            _kinds(maps.reshape(len(maps), -1, 3), ground),
            z["names"],
            _read_parts(z),
        )


def _read_parts(z) -> Parts | None:
    if "part_picture" not in z:
        return None
    return Parts.of(
        z["part_picture"].astype(np.int64),
        z["part_where"].astype(np.float32),
        z["part_share"].astype(np.float32),
        z["part_shape"].astype(np.float32) / 127.0,
        z["part_colour"],
    )


LAB_CODE = (np.float32(2.55), np.float32(128.0))  # L* x 2.55, a* and b* + 128, as uint8


def encode_lab(c: np.ndarray) -> np.ndarray:
    """CIELAB (3, N) as (N, 3) uint8 (L* to 0.4, a* and b* to 1, clipped to -128..127)."""
    out = np.empty((c.shape[1], 3), np.float32)
    out[:, 0] = c[0] * LAB_CODE[0]
    out[:, 1:] = c[1:].T + LAB_CODE[1]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def decode_lab(v: np.ndarray) -> np.ndarray:
    """`encode_lab`'s (N, 3) uint8 as CIELAB (3, N) float32."""
    c = v.T.astype(np.float32)
    c[0] /= LAB_CODE[0]
    c[1:] -= LAB_CODE[1]
    return c


_CODES = decode_lab(np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1))  # every code's value
_INKLESS = _CODES[0] > INK  # (by L* code) not a picture's own dark outline
_PALE = _CODES[0] > PAPER[0]  # (by L* code) ... and (by a* and b* code, below) paper's lightness and chroma
_GREY = (np.hypot(_CODES[1][:, None], _CODES[2][None, :]) < PAPER[1]).reshape(-1)  # (a* code x 256 + b* code)


def _kinds(maps: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """Index.kind of the pictures' codes ((M, MAP * MAP, 3)) and background ((M, MAP, MAP) bool), once per
    process: `match` then takes one byte per pixel instead of the background and three look-ups of its codes
    (0.15 ms a call). A few pictures at a time (their look-up keys are intp)."""
    kind = np.zeros(ground.shape, np.uint8)
    flat = kind.reshape(len(kind), -1)
    for i in range(0, len(maps), 256):
        c = maps[i : i + 256]
        ok = np.take(_INKLESS, c[..., 0])
        col = ok & ~(np.take(_PALE, c[..., 0]) & np.take(_GREY, (c[..., 1].astype(np.intp) << 8) | c[..., 2]))
        flat[i : i + 256] = np.where(ground[i : i + 256].reshape(len(c), -1), 0, 1 + ok + col)
    return kind


def bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of a boolean mask's True pixels (ends one past), None if there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _area_resize(a: np.ndarray, side: int) -> np.ndarray:
    """A 2-D bool array area-averaged to side x side (float64; each cell at least 1 px): each cell's count of
    True pixels by np.add.reduceat along each axis (the cells tile the array; where it is narrower than
    `side`, each is one pixel, which reduceat gives for a repeated start), over its area. Whole counts: the
    same values as a summed-area table's, at a quarter of its two cumsums' time (0.43 -> 0.12 ms at 256 px)."""
    h, w = a.shape
    y0 = (np.arange(side) * h) // side
    x0 = (np.arange(side) * w) // side
    y1 = np.maximum(((np.arange(side) + 1) * h) // side, y0 + 1)
    x1 = np.maximum(((np.arange(side) + 1) * w) // side, x0 + 1)
    # (along the rows first, to uint16: a cell holds at most w // side + 1 px of a row)
    s = np.add.reduceat(
        np.add.reduceat(a.view(np.uint8), x0, axis=1, dtype=np.uint16), y0, axis=0, dtype=np.int32
    )
    return s / ((y1 - y0)[:, None] * (x1 - x0)[None, :])


def _box3(a: np.ndarray) -> np.ndarray:
    """A 3 x 3 box blur, edges repeated."""
    h, w = a.shape
    p = np.empty((h + 2, w + 2), a.dtype)  # (np.pad's edge mode: its own time twice the blur's)
    p[1:-1, 1:-1] = a
    p[0, 1:-1], p[-1, 1:-1] = a[0], a[-1]
    p[:, 0], p[:, -1] = p[:, 1], p[:, -2]
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def descriptor(line: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int], float] | None:
    """The shape descriptor of a drawing's lines ((H, W) bool): (unit vector of DESC * DESC, its bounding box,
    log of its aspect ratio), None for a blank canvas."""
    box = bounds(line)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    d = _box3(_box3(_area_resize(line[y0:y1, x0:x1], DESC))).reshape(-1)
    d -= d.mean()
    d /= np.linalg.norm(d) + 1e-6
    return d.astype(np.float32), box, float(np.log((x1 - x0) / (y1 - y0)))


def _weighted_median(reg: np.ndarray, codes: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
    """(m, C): each region's weighted median of each column of the uint8 `codes` ((N, C); pairs of region
    `reg`, integer weight `w` > 0), -1 for none: the first code in the region's order whose running weight
    reaches half its total, from a histogram per region and column (no sort: a code's order is its value's
    in `decode_lab`, and the sums of whole weights are exact, so it is the sorted pairs' weighted median)."""
    c = codes.shape[1]
    key = (np.arange(c) * m + reg[:, None]) * 256 + codes  # (column, region, code)
    cum = np.cumsum(np.bincount(key.reshape(-1), weights=np.repeat(w, c), minlength=c * m * 256))
    end = cum[255::256]
    before = np.concatenate([[0.0], end[:-1]])
    target = before + (end - before) * 0.5
    at = np.minimum(np.searchsorted(cum, target), len(cum) - 1) - np.arange(c * m) * 256
    return np.where(end > before, at, -1).reshape(c, m).T


GAMUT_STEPS = 51  # L* levels the gamut of a colour's a*, b* is looked up at
_LEVELS = np.linspace(0.0, 100.0, GAMUT_STEPS, dtype=np.float32)


def _linear(c: np.ndarray) -> np.ndarray:
    """Linear sRGB of CIELAB (3, ...), not clipped (out of [0, 1]: out of the gamut)."""
    fs = np.empty_like(c, dtype=np.float32)
    fs[1] = (c[0] + 16) / 116
    fs[0] = fs[1] + c[1] / 500
    fs[2] = fs[1] - c[2] / 200
    return colour.mat3(colour.FROM_XYZ, colour.f_inv(fs))


def tops(c: np.ndarray) -> np.ndarray:
    """(m,): the highest L* at which each colour's a*, b* (of (3, m) CIELAB; NaN: none) is inside sRGB's gamut,
    to GAMUT_STEPS levels (at least its own L*; 100 for a grey or white one, and NaN for none). The automatic
    dab's shading of a colour stops there: above it the colour clips to a paler, shifted hue (a cream wall's
    highlights showed as pale blotches), and an emoji's vivid colours sit at that top already."""
    out = np.full(c.shape[1], np.nan, np.float32)
    ok = np.isfinite(c[0])
    out[ok] = 100.0
    at = np.flatnonzero(ok & (np.hypot(c[1], c[2]) >= PAPER[1]))  # (a grey or white one clips to white)
    if not len(at):
        return out
    lv = _LEVELS
    grid = np.empty((3, len(at), GAMUT_STEPS), np.float32)
    grid[0] = lv
    grid[1:] = c[1:, at][..., None]
    lin = _linear(grid.reshape(3, -1)).reshape(grid.shape)
    inside = ((lin >= -1e-3) & (lin <= 1 + 1e-3)).all(axis=0)
    top = np.where(inside, lv, np.float32(-1.0)).max(axis=1)
    out[at] = np.maximum(top, c[0, at])
    return out


class Match(NamedTuple):
    colours: np.ndarray  # (4, m) float32: each shape's colour, CIELAB (NaN: none under it), and its `tops`
    name: str  # the true picture they are from
    score: float = 0.0  # how well the best picture fits (similarity, plus PAPERLESS x the share it colours)


def colours(line: np.ndarray, take: np.ndarray, reg: np.ndarray, m: int, index: Index | None = None):
    """(4, m): the colour of each of `m` shapes from the best exemplar, CIELAB, and the most L* its shading may
    reach (`match`), or None."""
    got = match(line, take, reg, m, index)
    return None if got is None else got.colours


def match(
    line: np.ndarray,
    take: np.ndarray,
    reg: np.ndarray,
    m: int,
    index: Index | None = None,
    inside: np.ndarray | None = None,
):
    """The colours of `m` shapes from the best exemplar and its name (`Match`), or None (no index, a blank
    drawing, no shapes). `line`: the sketch's lines ((H, W) bool); `take`: the flat indices of the shapes'
    pixels, `reg` the shape of each (hintfill.AutoPlan's `idx` and `reg`); `inside`: (m,) the shape each is
    set in (`nested`; -1: none), to set it apart from that shape (`_set_apart`)."""
    index = index if index is not None else load()
    if index is None or m == 0 or not len(take):
        return None
    got = descriptor(line)
    if got is None:
        return None
    d, (y0, y1, x0, x1), aspect = got
    # (einsum, not BLAS: OpenBLAS's threads, woken for a 4k x 128 product beside onnxruntime's, took ~13 ms)
    q = np.einsum("i,ij->j", d, index.basis)
    sim = np.einsum("ij,j->i", index.codes, q) - ASPECT * np.abs(index.aspect - aspect)
    cand = np.argpartition(-sim, min(CANDIDATES, len(sim) - 1))[:CANDIDATES]
    # the shapes' pixels by GRID x GRID cells of the drawing's bounding box: (shape, cell, pixel count) pairs
    # (each pixel's cell from its row's and its column's: one look-up, no division per pixel)
    h, w = line.shape
    # (a shape may reach outside the drawing's box, beyond a line drawn right across the canvas: its pixels
    # there count in the box's edge cells)
    gy = np.clip((np.arange(h) - y0) * GRID // max(1, y1 - y0), 0, GRID - 1)
    gx = np.clip((np.arange(w) - x0) * GRID // max(1, x1 - x0), 0, GRID - 1)
    cells = np.take((gy * GRID).astype(np.int32)[:, None] + gx.astype(np.int32), take)
    key = np.multiply(reg, GRID * GRID, dtype=np.int64)
    key += cells  # (in place: one int64 temporary less)
    counts = np.bincount(key, minlength=m * GRID * GRID)
    pairs = np.flatnonzero(counts != 0)  # (nonzero of the int64 counts themselves took 4x as long)
    weight = counts[pairs].astype(np.float64)
    pr, cell = np.divmod(pairs, GRID * GRID)
    size = np.bincount(pr, weights=weight, minlength=m)
    total = max(size.sum(), 1.0)
    s = index.kind.shape[1]
    at = (np.arange(GRID) + 0.5) / GRID  # (the cells' centres, 0..1 across the box)
    # the candidates' pictures at the pairs, all at once ((candidate, pair) arrays: the same values as one
    # candidate at a time, and the bincounts' sums in the same order)
    k = len(cand)
    box = index.box[cand]  # (k, 4): y0, y1, x0, x1
    my = np.minimum(((box[:, :1] + at * (box[:, 1:2] - box[:, :1])) * s / index.side).astype(np.int64), s - 1)
    mx = np.minimum(
        ((box[:, 2:3] + at * (box[:, 3:] - box[:, 2:3])) * s / index.side).astype(np.int64), s - 1
    )
    pics = index.picture[cand]
    # (k, pairs): flat indices into the pictures, each (candidate, cell)'s made once, then one look-up a pair
    at = (pics[:, None] * (s * s) + my * s)[:, :, None] + mx[:, None, :]
    at = np.take(at.reshape(k, GRID * GRID), cell, axis=1)
    # (k, pairs, 3) uint8: `encode_lab`'s, tested by code, not decoded (np.take: a quarter of the time of
    # indexing the (M, MAP * MAP, 3) array by two arrays)
    codes = np.take(index.maps.reshape(-1, 3), at, axis=0)
    kind = np.take(index.kind.reshape(-1), at)
    key = pr + m * np.arange(k)[:, None]  # (k, pairs): candidate and shape, ascending (pr is)
    starts = hintfill.runs(key.reshape(-1))  # (each (candidate, shape)'s pairs: one run)
    # the pixels each candidate's picture has over each shape by kind, from the top: coloured (kind > 2),
    # and not ink (> 1), and not its background (> 0): one bincount by (candidate, shape, kind), then summed
    # from the top (whole numbers of pixels: exact in any order, the values a sum per kind gave)
    by = np.bincount(
        (key * 4 + kind).reshape(-1),
        weights=np.broadcast_to(weight, key.shape).reshape(-1),
        minlength=k * m * 4,
    ).reshape(k * m, 4)
    w_kind = np.empty((3, k * m))
    w_kind[0] = by[:, 3]
    np.add(by[:, 2], w_kind[0], out=w_kind[1])
    np.add(by[:, 1], w_kind[1], out=w_kind[2])
    w_cols, w_ok, w_in = w_kind.reshape(3, k, m)
    share = np.divide(w_cols, size, out=np.zeros((k, m)), where=size > 0)
    fit = sim[cand] + PAPERLESS * (np.minimum(share / COLOURED, 1.0) @ size) / total
    # a shape a picture covers (COVERED of it on the picture's shapes, not its background) takes the coloured
    # pixels under it, or (mostly white or grey there: an eye, a clock's face) the others
    covered = w_in >= COVERED * size
    use_col, has_ok = w_cols >= COLOURED * w_in, w_ok > 0
    # (the kind its pixels must be above, per candidate and shape: 2 coloured, 1 not ink, 0 not its background,
    # 3 none where it does not cover the shape; one look-up a pair)
    above = np.where(covered, np.where(use_col, 2, np.where(has_ok, 1, 0)), 3).astype(np.uint8)
    keep = kind > np.take(above.reshape(-1), key)
    order = np.argsort(
        -(fit + CONSENSUS * _agreement(key, keep, weight, codes, size, k, m, starts)), kind="stable"
    )
    # the chosen picture's colours, and where it does not cover a shape (its background there: the drawings
    # differ) the next one's that does
    out = np.full((3, m), np.nan, np.float32)
    src = np.full(m, -1)  # (the candidate each shape's colour is from)
    some = size > 0  # (a shape with no pixel in the box's cells takes no colour from any picture: NaN)
    for i in order:
        gap = ~np.isfinite(out[0]) & some & covered[i]
        if not gap.any():
            continue
        sel = gap[pr] & keep[i]
        got = _weighted_median(pr[sel], codes[i][sel], weight[sel], m)
        at = np.flatnonzero(gap & (got[:, 0] >= 0))  # (the medians' codes, decoded: their values)
        out[:, at] = decode_lab(got[at].astype(np.uint8))
        src[at] = i
        if np.isfinite(out[0, some]).all():
            break
    if inside is not None:
        apart = _set_apart(out, inside, src, pr, weight, codes, kind, size)
        cy, cx = np.divmod(cell, GRID)  # (the pairs' cells' rows and columns)
        _alike(out, inside, apart, pr, weight, cy, cx, size)
    return Match(np.concatenate([out, tops(out)[None]]), str(index.names[pics[order[0]]]), float(fit.max()))


NESTED = 2 / 3  # a shape that shares this much of its outline with one larger shape is set in it (`nested`)
APART = 0.25  # ... and takes the picture's other colours there when they lie under this share of it or more


def nested(line: np.ndarray, plan) -> np.ndarray:
    """(m,): the shape each of a hintfill.AutoPlan's `m` shapes is set in, -1 for none: the larger shape it
    shares NESTED of its outline with or more (a door in a wall, windows, an eye in a face, a letter on a sign;
    a door standing on the ground line shares the rest with the paper). On the plan's `coarse` grid of its
    shapes: its outline there is the line pixels that have it REACH cells away across them (along a row or a
    column), each the contact of the lowest- and the highest-numbered shape (or the paper: the rest off the
    lines) there."""
    m, ids = plan.m, plan.coarse
    h, w = ids.shape
    step = hintfill.coarse_step(*line.shape)
    on = line[::step, ::step].copy()  # (a cell is line where its first or its middle pixel is: a 1 px line)
    mid = line[step // 2 :: step, step // 2 :: step]
    on[: mid.shape[0], : mid.shape[1]] |= mid
    on = on.reshape(-1)
    if m < 2 or on.size != ids.size:
        return np.full(m, -1)
    ids = ids.reshape(-1).astype(np.intp)
    ids[ids < 0] = m  # (the paper: m; the lines: -1)
    size = np.bincount(ids, minlength=m + 1)[:m]  # (the shapes' cells)
    at = np.flatnonzero(on)
    ids[at] = -1
    ys, xs = np.divmod(at, w)
    r = REACH
    near = np.empty((4, len(ys)), np.intp)
    rows = ys * w  # (across each line pixel each way along its row and its column, clipped at the edge)
    np.take(ids, rows + np.minimum(xs + r, w - 1), out=near[0])
    np.take(ids, rows + np.maximum(xs - r, 0), out=near[1])
    np.take(ids, np.minimum(ys + r, h - 1) * w + xs, out=near[2])
    np.take(ids, np.maximum(ys - r, 0) * w + xs, out=near[3])
    hi = np.maximum.reduce(near)
    lo = np.minimum.reduce(near.view(np.uintp)).view(np.intp)  # (a line's -1 as unsigned: above all)
    ok = (lo < hi) & (hi >= 0)
    # (the contacts, by pair: counted in a table of all pairs where it is small, not sorted)
    key = lo[ok] * (m + 1) + hi[ok]
    if (m + 1) ** 2 <= 8 * len(key) + 4096:
        count = np.bincount(key, minlength=(m + 1) ** 2)
        key = np.flatnonzero(count)
        count = count[key]
    else:
        key, count = np.unique(key, return_counts=True)
    a, b = np.divmod(key, m + 1)  # (a < b; b == m: the paper)
    total = np.bincount(a, count, m + 1) + np.bincount(b, count, m + 1)
    two = b < m  # (each shape's contacts with another shape, the most first)
    s, o = np.concatenate([a[two], b[two]]), np.concatenate([b[two], a[two]])
    c = np.concatenate([count[two], count[two]])
    order = np.lexsort((-c, s))
    s, o, c = s[order], o[order], c[order]
    first = np.ones(len(s), bool)
    first[1:] = s[1:] != s[:-1]
    best, share = np.full(m, -1), np.zeros(m)
    best[s[first]] = o[first]
    share[s[first]] = c[first] / total[s[first]]
    return np.where((share >= NESTED) & (size[best] > size), best, -1)


REACH = 2  # cells of AutoPlan.coarse: a line pixel this near a shape is on its outline (`nested`)


def _set_apart(out, inside, src, pr, weight, codes, kind, size) -> np.ndarray:
    """`match`'s colours (`out`, (3, m), in place) of the shapes set in another (`inside`, `nested`) whose
    picture colours them as that one (within AGREE dE: the drawing's door, or windows, fell on the picture's
    wall): the main other colour of the picture under them (`_other`: white letters on a sign), or else its
    main other coloured one under that shape and the ones set in it (the picture's own door or windows, its
    eyes), or else a shade of that shape's colour (SHADE; DARK L* lighter on a dark one). The artist drew the
    outline to set it apart. Returns (m,) bool: the shapes set apart."""
    apart = np.zeros(len(inside), bool)
    for c in np.unique(inside[inside >= 0]):
        inner = np.flatnonzero(inside == c)
        if not np.isfinite(out[0, c]) or src[c] < 0:
            continue
        same = inner[np.linalg.norm(out[:, inner] - out[:, c : c + 1], axis=0) < AGREE]
        if not len(same):
            continue
        i, least = src[c], APART * size[same].sum()
        mark = np.zeros(len(inside), bool)
        mark[same] = True
        at = np.flatnonzero(mark[pr] & (kind[i] > 1))  # (not ink, not the picture's background)
        got = _other(codes[i][at], weight[at], out[:, c], least)
        if got is None:
            mark[inner] = mark[c] = True
            at = np.flatnonzero(mark[pr] & (kind[i] > 2))  # (coloured: not a pale rim along its outlines)
            got = _other(codes[i][at], weight[at], out[:, c], least)
        if got is None:  # (a shade of it: all of L*, a*, b* by SHADE, as in shadow; a dark one lighter)
            got = out[:, c] * SHADE if out[0, c] >= DARK else out[:, c] + [DARK, 0, 0]
        out[:, same] = got[:, None]
        apart[same] = True
    return apart


ALIKE = 1.5  # shapes set in one shape look alike when their pixels and their spread's aspect agree this well


def _alike(out, inside, apart, pr, weight, cy, cx, size) -> None:
    """`match`'s colours (`out`, (3, m), in place) of look-alike shapes set in one shape (`inside`: two windows
    in a wall, two eyes, buttons in a row: pixels (`size`) and their spread's aspect (the cells `cy`, `cx` of
    `match`'s pairs `pr`, `weight`) within ALIKE times), one of them set apart (`apart`, `_set_apart`'s guess)
    and another not: the set apart ones take the colour the picture gives the largest of the others. Where the
    picture gives each its own colour (a traffic light's lamps) they keep it."""
    ok = (inside >= 0) & (size > 0) & np.isfinite(out[0])
    if not (ok & apart).any() or not (ok & ~apart).any():
        return
    m = len(inside)
    w = np.maximum(size, 1.0)
    my, mx = np.bincount(pr, weight * cy, m) / w, np.bincount(pr, weight * cx, m) / w
    # (the spread of a shape's cells each way; 1/12 cell^2 more: a cell's own)
    vy = np.bincount(pr, weight * cy * cy, m) / w - my * my + 1 / 12
    vx = np.bincount(pr, weight * cx * cx, m) / w - mx * mx + 1 / 12
    aspect = 0.5 * np.log(np.maximum(vy, 1e-6) / np.maximum(vx, 1e-6))
    tol = np.log(ALIKE)
    for s in np.flatnonzero(ok & apart):
        own = np.flatnonzero(ok & ~apart & (inside == inside[s]))
        own = own[(np.abs(np.log(size[own] / size[s])) <= tol) & (np.abs(aspect[own] - aspect[s]) <= tol)]
        if len(own):
            out[:, s] = out[:, own[np.argmax(size[own])]]


def _other(codes, weight, than, least) -> np.ndarray | None:
    """CIELAB (3,): the main colour of a picture's pixels (`codes`, `weight`: `match`'s) other than `than`
    (AGREE dE or more from it): the weighted median of those within AGREE of the fullest CIELAB cell (AGREE a
    side) of them, when they weigh `least` or more; else None. (Per code, not per pixel: the distances and cells
    from tables of the 256 codes, `_distance`, `_CELL`.)"""
    c = codes.T
    use = _distance(c, than) >= AGREE
    w = weight[use]
    if w.sum() < least:
        return None
    c = c[:, use]
    key = _CELL[0][c[0]] + _CELL[1][c[1]] + _CELL[2][c[2]]  # (L*, a*, b* / AGREE: 0..32; by 33 * 33, 33, 1)
    lo = key.min()  # (the keys from the least: the fullest's sum and, among equals, the least, as before)
    best = lo + np.argmax(np.bincount(key - lo, weights=w))
    centre = (np.array([best // (33 * 33), best // 33 % 33, best % 33]) - 16 + 0.5) * AGREE
    near = np.flatnonzero(use)[_distance(c, centre) < AGREE]
    if weight[near].sum() < least:
        return None
    got = _weighted_median(np.zeros(len(near), np.intp), codes[near], weight[near], 1)
    return decode_lab(got.astype(np.uint8))[:, 0]


def _distance(c: np.ndarray, to: np.ndarray) -> np.ndarray:
    """The CIELAB distance of the codes `c` ((3, N) uint8) from `to` ((3,)): each channel's squared distance
    from a table of its 256 codes, summed as `np.linalg.norm` sums them (the same values)."""
    sq = np.square(_CODES - to[:, None])
    return np.sqrt(sq[0][c[0]] + sq[1][c[1]] + sq[2][c[2]])


# (each code's CIELAB cell (`_other`), times 33 * 33, 33 or 1 by channel)
_CELL = (np.floor(_CODES / AGREE).astype(np.int64) + 16) * np.array([[33 * 33], [33], [1]])


SHADE = 0.6  # a shape set apart from one its picture has no other colour under takes its CIELAB times this
DARK = 40.0  # L*: ... or, when that one is darker than this, its colour this much lighter


def _agreement(key, keep, weight, codes, size, k, m, starts) -> np.ndarray:
    """(k,): how far each of `match`'s k candidate pictures colours the shapes as the others do: the share of
    the shapes' pixels another one gives a colour within AGREE dE of its, over the others. A shape's colour
    here is the mean of the pixels `match` takes its median of (`keep`, (k, pairs), of the (shape, candidate)
    `key`s (ascending), `weight` px each; `codes` (k, pairs, 3); `starts`: where `key`'s runs start, flat):
    sums a run at a time, not a histogram per candidate (the medians cost 1.5 times the whole match). No colour
    (a shape a picture does not cover) agrees with none."""
    if k < 2:
        return np.zeros(k)
    w = (weight * keep).reshape(-1)
    # (the weights and the weighted codes, summed per (candidate, shape) in one pass: whole numbers, exact in
    # any order, the values bincount gave)
    v = np.empty((4, len(w)))
    v[0] = w
    np.multiply(codes.reshape(-1, 3).T, w, out=v[1:])
    sums = np.zeros((4, k * m))
    sums[:, key.reshape(-1)[starts]] = np.add.reduceat(v, starts, axis=1)
    n, c = sums[0], sums[1:]
    c = decode_lab(np.divide(c, n, out=np.full_like(c, np.nan), where=n > 0).T)  # (from the mean codes)
    c = c.reshape(3, k, m)
    close = (np.linalg.norm(c[:, :, None] - c[:, None], axis=0) <= AGREE) @ size  # (k, k)
    return (close.sum(axis=1) - np.diagonal(close)) / (max(size.sum(), 1.0) * (k - 1))


# objects (`objects`, `match_objects`); px at 256 px, scaled with the canvas
OUTLINE = 3  # px: a line this near a shape is that shape's outline, its object's own
TOUCH = 3  # px: shapes whose outlines come within twice this of each other are one object
EDGE = 1 / 16  # of the canvas's side: a loose line this near its edge is the scene's (a ground line)
GROUND = 1 / 8  # of the canvas's width: a loose line in a horizontal run this long is a ground line
OBJECT = 0.03  # an object is matched on its own when its shapes are this share of all shapes' pixels or more
SPLIT = 0.0  # the objects are matched apart when their fit beats the whole drawing's by more (`Match.score`)


def _long_runs(mask: np.ndarray, length: int) -> np.ndarray:
    """(H, W) bool: the pixels of `mask` in a horizontal run of `length` px or more."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), bool)
    padded[:, 1:-1] = mask
    rows, cols = np.divmod(np.flatnonzero(padded[:, 1:] != padded[:, :-1]), w + 1)
    r, start, end = rows[0::2], cols[0::2], cols[1::2]
    long = end - start >= length
    # (the pixels from each long run's start to its end, row-major: the runs' ends in order, False and True
    # repeated between them)
    bounds = np.empty(2 * int(long.sum()) + 2, np.int64)
    bounds[0], bounds[-1] = 0, h * w
    bounds[1:-1:2] = r[long] * w + start[long]
    bounds[2:-1:2] = r[long] * w + end[long]
    return np.repeat(np.arange(len(bounds) - 1) % 2 == 1, np.diff(bounds)).reshape(h, w)


def objects(line: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, int]:
    """The objects of a drawing: (labels (H, W) int32: the object of each line pixel and shape pixel, -1: none;
    their count). `line`: the lines ((H, W) bool); `shapes`: the pixels of the shapes to colour (not the open
    paper). An object is a group of shapes whose outlines join or come within 2 TOUCH px, with its outlines (the
    lines within OUTLINE px of its shapes) and the loose lines that touch it. A loose line that touches two or
    more objects joins them (a flag's pole: its flag and the hill under it); one that touches a single object is
    its own unless it comes within EDGE of the canvas's edge. A ground line (a loose line in a horizontal run of
    GROUND of the canvas's width or more, counting the outlines it runs along: under a house and a tree) joins
    no objects and belongs to none, nor does a frame or a stroke on its own."""
    h, w = line.shape
    k = max(1, round(max(h, w) / 256))
    own = shapes | (line & hintfill.grow(shapes, OUTLINE * k))
    labels, n = hintfill.label_regions(hintfill.grow(own, TOUCH * k))
    if n == 0:
        return labels, 0
    loose = line & (labels < 0)
    if loose.any():
        loose &= ~_long_runs(line, max(2, int(GROUND * w)))
    if loose.any():
        lab, nl = hintfill.label_regions(hintfill.grow(loose, k))
        both = (lab >= 0) & (labels >= 0)
        pairs = np.unique(lab[both].astype(np.int64) * n + labels[both])
        comp, obj = np.divmod(pairs, n)
        touched = np.bincount(comp, minlength=nl)
        e = max(1, int(EDGE * max(h, w)))
        band = np.ones((h, w), bool)
        band[e : h - e, e : w - e] = False
        at_edge = np.bincount(lab[band & (lab >= 0)], minlength=nl) > 0
        owner = np.full(nl + 1, -1, np.int64)  # (the last entry: lab == -1)
        one = (touched[comp] == 1) & ~at_edge[comp]
        owner[comp[one]] = obj[one]
        root = np.arange(n)
        for c in np.flatnonzero(touched >= 2):
            r = root[obj[comp == c]]
            root[np.isin(root, r)] = r.min()
            owner[c] = r.min()
        labels[loose] = owner[lab[loose]]
        if (root != np.arange(n)).any():  # (objects joined: numbered 0.. again)
            kept, root = np.unique(root, return_inverse=True)
            labels = np.where(labels >= 0, root[np.maximum(labels, 0)], -1).astype(np.int32)
            n = len(kept)
    labels[~(line | shapes)] = -1
    return labels, n


def plan_colours(line: np.ndarray, plan, index: Index | None = None) -> np.ndarray | None:
    """`colours` of the regions of a hintfill.AutoPlan, each object of the drawing (`objects`) matched on its
    own (`match_objects`) in `index` (default: `load()`'s)."""
    got = match_objects(
        line, plan.idx, plan.reg, plan.m, index, take_mask=plan.take, inside=nested(line, plan)
    )
    return None if got is None else got.colours


def match_objects(
    line: np.ndarray,
    take: np.ndarray,
    reg: np.ndarray,
    m: int,
    index: Index | None = None,
    take_mask: np.ndarray | None = None,
    inside: np.ndarray | None = None,
):
    """`match` for a drawing of several things (a house, a tree and a sun): each object (`objects`) whose
    shapes are OBJECT of all shapes' pixels or more is matched on its own lines (its own descriptor and bounding
    box) and its shapes take the colours of its own best picture; the smaller ones keep the whole drawing's.
    With fewer than two such objects, or when the whole drawing fits its best picture better than its objects
    fit theirs (by SPLIT: the parts of one thing, a clapperboard's lid and board), it is `match` of the whole
    drawing, or its parts' colours where its lines fit poorly (`_by_parts`); each object matched apart likewise."""
    index = index if index is not None else load()
    if index is None or m == 0 or not len(take):
        return None
    if take_mask is None:
        take_mask = np.zeros(line.shape, bool)
        take_mask.reshape(-1)[take] = True
    labels, n = objects(line, take_mask)
    whole = match(line, take, reg, m, index, inside)
    if whole is None:
        return None
    got = None if n < 2 else _apart(line, take, reg, m, index, labels, n, whole, inside, parts=True)
    if got is None:
        return _by_parts(whole, take, reg, m, bounds(line | take_mask), line.shape, index)
    got, fit = got
    out = whole.colours.copy()
    for _, regs, one in got:
        if one is not None:
            out[:, regs] = one.colours
    return Match(out, " + ".join(one.name for _, _, one in got if one is not None), fit)


def _apart(
    line, take, reg, m, index, labels, n, whole, inside=None, parts=False
) -> tuple[list, float] | None:
    """The objects (`labels`, `n`: `objects`) matched apart: ([(object, its regions (of `m`), its `Match` or
    None), ...] for each object whose shapes are OBJECT of all shapes' pixels or more, their fit: their scores
    weighted by their shapes' pixels), when there are two or more such and they fit their pictures better than
    the whole drawing fits its own (`whole`) by more than SPLIT; else None. `parts`: an object its lines fit
    poorly takes its parts' colours (`_by_parts`; not beside dabs, whose results stay as they were)."""
    of_reg = np.full(m, -1, np.int64)
    of_reg[reg] = labels.reshape(-1)[take]
    size = np.bincount(of_reg[reg], minlength=n).astype(np.float64)
    big = np.flatnonzero(size >= OBJECT * size.sum())
    if len(big) < 2:
        return None
    got = []
    for o in big:
        sel = of_reg[reg] == o
        regs = np.flatnonzero(of_reg == o)
        sub = None
        if inside is not None:  # (the shapes set in another of the object's: numbered as its regions)
            at = np.minimum(np.searchsorted(regs, inside[regs]), len(regs) - 1)
            sub = np.where((inside[regs] >= 0) & (regs[at] == inside[regs]), at, -1)
        at = np.searchsorted(regs, reg[sel])
        one = match(line & (labels == o), take[sel], at, len(regs), index, sub)
        if parts and one is not None:
            one = _by_parts(one, take[sel], at, len(regs), bounds(labels == o), line.shape, index)
        got.append((int(o), regs, one))
    scores = [whole.score if one is None else one.score for _, _, one in got]
    fit = float(np.dot(size[big], scores) / size[big].sum())
    return None if fit < whole.score + SPLIT else (got, fit)


DABBED = True  # a dabbed sketch's objects without a dab take their own exemplars' colours (`beside_dabs`)


class Beside(NamedTuple):
    """`beside_dabs`' colours: the column of `colours` each pixel's shape takes (-1: none), and the columns."""

    ids: np.ndarray  # (H, W) int32
    colours: np.ndarray  # (4, k) float32: CIELAB and the top of its shading (`tops`), as `Match.colours`


def beside_dabs(
    line: np.ndarray,
    labels: np.ndarray,
    n: int,
    hint: np.ndarray,
    sketch: np.ndarray | None = None,
    line_layer: np.ndarray | None = None,
    index: Index | None = None,
    thick: dict | None = None,
    open_: np.ndarray | None = None,
) -> Beside | None:
    """A sketch with dabs (issue 11: the artist dabbed the house red; its tree and sun stay the model's beige):
    the colours of the shapes of the objects that carry no dab, each object matched on its own lines as
    `match_objects` matches it (so it takes the colours it would take were no object dabbed), or None (no
    index, one object, every object dabbed, or the objects fit their pictures no better than the whole drawing
    fits one: the parts of one thing, which the dabs colour). `line`, `labels`, `n`, `hint`: hintfill.prepare's
    lines, regions and hint pixels, before the model runs (this runs beside it: pipeline._sketch_work). The
    shapes are the regions off the canvas edge (and a drawn frame: the open background, dabbed or not, is no
    object's) and the shapes a small gap joins to it (hintfill's `paper` cuts them off), AUTO_MIN px or more; an object carries a dab when MIN_HINT_PIXELS of the dabs lie in it (the
    dabs count as its shapes: a dab in a shape whose outline leaves a gap still marks its object). The shapes
    of a dabbed object keep follow my colours' fill and the model's colours (session 16: the exemplar there,
    blind to the dabs, gave a shape split from a dabbed one an unrelated colour), and so do those of an object
    with other paint besides its lines (`sketch`, `line_layer`: hintfill.painted within the object: a pale
    blue dab in a magnifier's lens, no hint, is the artist's colour, which the exemplar painted brown).
    `thick`: hintfill's memo of these lines thickened (hintfill.dab_groups' `thick`: made once for fill too);
    `open_`: the open paper, when known (hintfill.dab_groups' `paper`: where it is not None no dabbed region
    reaches the open background and the open area has one part, so it is the open paper cut off here)."""
    index = index if index is not None else load()
    if index is None or not n:
        return None
    h, w = line.shape
    # the shapes: the regions off the open background, and the parts of it that a small gap joins to it (a
    # roof whose slopes run past the walls, open at its eaves: cut off as follow my colours' paper cuts them)
    thick = {} if thick is None else thick
    area = np.take(np.append(hintfill._at_edge(labels, n, line, thick), False), labels)
    units = labels
    if area.any():
        if open_ is None:
            edge = hintfill._frame_edge(line, thick)[2]
            open_ = hintfill._open_part(area, line, None, whole=True, thick=thick, edge=edge)
        cut = area & ~open_
        units = np.where(area, -1, labels).astype(np.int32)
        if cut.any():
            sub, more = hintfill.label_regions(cut)
            units[cut] = sub[cut] + n
            n += more
    size = np.bincount(units[units >= 0], minlength=n)
    shape = size >= hintfill.AUTO_MIN * h * w / 65536
    shape[size == 0] = False
    m = int(shape.sum())
    if not m:
        return None
    col = np.full(n + 1, -1, np.int32)  # (units == -1 indexes the last entry)
    col[np.flatnonzero(shape)] = np.arange(m, dtype=np.int32)
    ids = np.take(col, units)
    take = np.flatnonzero(ids >= 0)
    reg = ids.reshape(-1)[take].astype(np.int64)
    mask = (ids >= 0) | hint
    objs, k = objects(line, mask)
    if k < 2:
        return None
    dabbed = np.bincount(objs[hint & (objs >= 0)], minlength=k) >= hintfill.MIN_HINT_PIXELS
    if dabbed.all():
        return None
    whole = match(line, take, reg, m, index)
    got = None if whole is None else _apart(line, take, reg, m, index, objs, k, whole)
    if got is None:
        return None
    out = np.full((4, m), np.nan, np.float32)
    for o, regs, one in got[0]:
        if not dabbed[o] and one is not None and not _painted(sketch, line_layer, objs == o):
            out[:, regs] = one.colours
    ok = np.isfinite(out[0])
    if not ok.any():
        return None
    ids[ids >= 0] = np.where(ok, np.arange(m, dtype=np.int32), -1)[ids[ids >= 0]]
    return Beside(ids, out)


def _painted(sketch: np.ndarray | None, line_layer: np.ndarray | None, where: np.ndarray) -> bool:
    """hintfill.painted of the sketch (planar [-1, 1]) within `where` alone (the rest made its paper: the
    median of the canvas's outer pixels): a grey or pale dab, no hint, in an object (session 17: the artist
    decided that shape's colour). False without a sketch."""
    if sketch is None or line_layer is None:
        return False
    rim = np.concatenate([sketch[:, 0], sketch[:, -1], sketch[:, 1:-1, 0], sketch[:, 1:-1, -1]], axis=1)
    alone = np.where(where, sketch, np.median(rim, axis=1)[:, None, None]).astype(np.float32)
    return hintfill.painted(alone, line_layer)


def for_plan(beside: Beside, plan) -> np.ndarray | None:
    """`beside_dabs`' colours for the regions of a hintfill.AutoPlan (made by follow my colours once the dabs
    are filled): (4, m), NaN where the model's own colours stay; each region takes the colour of the shape that
    holds half of its pixels or more. None when no region takes one."""
    at = beside.ids.reshape(-1)[plan.idx]
    ok = at >= 0
    if not ok.any():
        return None
    k = beside.colours.shape[1]
    pairs, count = np.unique(plan.reg[ok] * k + at[ok], return_counts=True)
    r, c = np.divmod(pairs, k)
    order = np.lexsort((-count, r))  # (per region, the shape with most of its pixels first)
    first = np.ones(len(order), bool)
    first[1:] = r[order][1:] != r[order][:-1]
    best = order[first]
    size = np.bincount(plan.reg, minlength=plan.m)
    best = best[2 * count[best] >= size[r[best]]]
    if not len(best):
        return None
    out = np.full((4, plan.m), np.nan, np.float32)
    out[:, r[best]] = beside.colours[:, c[best]]
    return out


# parts (`parts_of`, `match_parts`): a drawing of few shapes matched shape by shape
PART = 8  # cells a side of a part's mask (`_part_shape`)
PART_MIN = 0.02  # a colour region (a shape) is a part at this share of its picture's (object's) shapes
PART_STEP = 18.0  # CIELAB: a colour region's pixels fall in one cell this size a side
PART_SIZE = 0.3  # cost per unit of |log(share)| between a shape and a part (beside its centre's distance)
PARTS = (2, 3)  # a drawing of this many shapes or fewer, and more than one, may be matched by its parts


def _part_shape(mask: np.ndarray) -> np.ndarray:
    """A mask's shape: itself in its own box, area-averaged to PART x PART, zero mean, unit length."""
    y0, y1, x0, x1 = bounds(mask)
    d = _area_resize(mask[y0:y1, x0:x1], PART).reshape(-1)
    d -= d.mean()
    return d / (np.linalg.norm(d) + 1e-6)


def parts_of(maps: np.ndarray, kind: np.ndarray) -> dict:
    """The colour regions of the index's pictures (`maps`: (M, S * S, 3) codes, `kind`: (M, S, S) Index.kind),
    as exemplars.npz holds them (`Parts`): each picture's pixels that are neither its background nor its dark
    outlines, in connected regions of one PART_STEP cell of CIELAB, those of PART_MIN of its shapes' pixels or
    more. Built by tools.exemplar_index (~10 s)."""
    m, s = kind.shape[0], kind.shape[1]
    ys, xs = np.mgrid[0:s, 0:s]
    pic, where, share, shape, col = [], [], [], [], []
    for p in range(m):
        k = kind[p]
        use = k >= 2
        if not use.any():
            continue
        c = decode_lab(maps[p]).reshape(3, s, s)
        cell = np.floor(c / PART_STEP).astype(np.int64) + 16
        key = np.where(use, (cell[0] * 64 + cell[1]) * 64 + cell[2], -1)
        y0, y1, x0, x1 = bounds(k > 0)
        tot = int((k > 0).sum())
        for v in np.unique(key[key >= 0]):
            lab, n = hintfill.label_regions(key == v)
            for j in range(n):
                r = lab == j
                a = int(r.sum())
                if a < PART_MIN * tot:
                    continue
                pic.append(p)
                where.append(
                    [(ys[r].mean() - y0) / (y1 - y0), (xs[r].mean() - x0) / (x1 - x0), np.log(a / tot)]
                )
                share.append(a / tot)
                shape.append(_part_shape(r))
                col.append(maps[p].reshape(s, s, 3)[r][np.argsort(c[0][r])[a // 2]])
    return {
        "part_picture": np.array(pic, np.uint16),
        "part_where": np.array(where, np.float16),
        "part_share": np.array(share, np.float16),
        "part_shape": np.rint(np.array(shape) * 127).astype(np.int8),
        "part_colour": np.array(col, np.uint8),
    }


def match_parts(
    take: np.ndarray, reg: np.ndarray, m: int, box, shape: tuple[int, int], index: Index | None = None
):
    """The colours of the `m` shapes of a drawing or an object of few shapes (PARTS), shape by shape: (4, m)
    as `Match.colours`, the picture's name and its cost, or None (no parts in the index, too many or too few
    shapes). Each shape of PART_MIN of the object's pixels or more is a part: its centre in the object's box
    (`box`: y0, y1, x0, x1, its lines' and shapes'), its share of the pixels and its own shape (`_part_shape`);
    the smaller shapes take the colour of the region nearest their centre. A picture's
    cost is the parts' mean (by share) of the least cost of any of its colour regions (their centres'
    distance, y plus x, PART_SIZE x their shares' log ratio, and 1 - their shapes' cosine), plus the same of
    its regions to the parts; the least-cost picture gives each shape the colour of its least-cost region.
    A drawing whose template of lines matches no picture of its kind (a triangle on a long trunk is nearer
    an ice-cream cone than any tree) is matched by its parts' shapes and places (a green crown above a
    brown trunk), which allow other proportions."""
    index = index if index is not None else load()
    if index is None or index.parts is None:
        return None
    pt = index.parts
    size = np.bincount(reg, minlength=m).astype(np.float64)
    if not PARTS[0] <= np.count_nonzero(size) <= PARTS[1]:
        return None
    tot = size.sum()
    big = np.flatnonzero(size >= PART_MIN * tot)
    y0, y1, x0, x1 = box
    w = shape[1]
    ys, xs = np.divmod(take, w)
    sum_y, sum_x = np.bincount(reg, weights=ys, minlength=m), np.bincount(reg, weights=xs, minlength=m)
    cy, cx = sum_y[big] / size[big], sum_x[big] / size[big]
    q_where = np.stack([(cy - y0) / (y1 - y0), (cx - x0) / (x1 - x0), np.log(size[big] / tot)], axis=1)
    q_shape = np.empty((len(big), PART * PART))
    for i, r in enumerate(big):  # (each shape's mask in its own box: what `_part_shape` looks at)
        sy, sx = ys[reg == r], xs[reg == r]
        top, left = sy.min(), sx.min()
        mask = np.zeros((sy.max() - top + 1, sx.max() - left + 1), bool)
        mask[sy - top, sx - left] = True
        q_shape[i] = _part_shape(mask)
    cost = (
        np.abs(q_where[:, None, 0] - pt.where[None, :, 0])
        + np.abs(q_where[:, None, 1] - pt.where[None, :, 1])
        + PART_SIZE * np.abs(q_where[:, None, 2] - pt.where[None, :, 2])
        + 1.0
        - np.einsum("qd,pd->qp", q_shape.astype(np.float32), pt.shape)
    )
    starts = pt.starts
    pics = pt.picture[starts]
    fwd = np.minimum.reduceat(cost, starts, axis=1)  # (parts, pictures)
    back = np.add.reduceat(cost.min(axis=0) * pt.share, starts) / pt.total
    share = size[big] / size[big].sum()
    score = share @ fwd + back
    best = int(np.argmin(score))
    lo, hi = starts[best], starts[best + 1] if best + 1 < len(starts) else len(pt.picture)
    at = lo + np.argmin(cost[:, lo:hi], axis=1)
    out = np.full((3, m), np.nan, np.float32)
    got = decode_lab(pt.colour[at])
    out[:, big] = got
    # (the smaller shapes: the region nearest their centre among the picture's, by place alone)
    small = np.setdiff1d(np.flatnonzero(size > 0), big)
    if len(small):
        sy, sx = sum_y[small] / size[small], sum_x[small] / size[small]
        d = np.abs((sy - y0)[:, None] / (y1 - y0) - pt.where[None, lo:hi, 0]) + np.abs(
            (sx - x0)[:, None] / (x1 - x0) - pt.where[None, lo:hi, 1]
        )
        out[:, small] = decode_lab(pt.colour[lo + np.argmin(d, axis=1)])
    return np.concatenate([out, tops(out)[None]]), str(index.names[pics[best]]), float(score[best])


PARTS_LINES = 1.05  # a drawing its lines fit worse than this (`Match.score`) is matched by its parts ...
PARTS_FIT = 1.0  # ... when they fit a picture's colour regions better than this (`match_parts`' cost)


def _by_parts(one: Match, take, reg, m, box, shape, index: Index | None) -> Match:
    """`one` (a drawing's or an object's `Match`), or, when its lines fit their best picture poorly (score below
    PARTS_LINES) and it has PARTS parts that fit a picture's colour regions well (cost below PARTS_FIT), the
    colours `match_parts` gives it, with `one`'s score (the objects' split stays as it was). On the training
    drawings of 2-3 shapes (leave-one-out) and the held-out ones, within noise of the lines alone
    (docs/benchmarks.md, session 30); a triangle on a long trunk takes a fir tree's green and brown, not an
    ice-cream cone's or a floppy icon's."""
    if one.score >= PARTS_LINES:
        return one
    got = match_parts(take, reg, m, box, shape, index)
    if got is None or got[2] >= PARTS_FIT:
        return one
    return Match(got[0], got[1], one.score)
