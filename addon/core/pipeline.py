"""The stylize pipeline: sketch pixels -> colorize -> stylize (-> upscale), with onnxruntime, no bpy.

    RGBA float, bottom-up (Blender's pixel order)
      -> alpha composited over white paper -> RGB top-down in model space [-1, 1], planar (3, H, W)
      -> each stage: one pass up to 512 px, else overlapping 512 px tiles with feathered blending
      -> RGBA float, bottom-up, one image per stage

Between stages the image stays planar (the models' own NCHW layout), so the upscale stage takes the
stylized image as it is (stylize takes the colorized result back from the RGBA image the artist sees: 5 ms
at 1024 px), and an image that fits one tile goes through the model without any blending arithmetic.

Any size and aspect works: an image smaller than the model's trained size is scaled up for
the models and the result scaled back; one larger than a model's `work_size` (the largest side it
runs at, when its file declares one: the size it learned at, or a measured multiple of it) is
stylized at that size and the result scaled back (or taken from there by the upscale stage); otherwise
one larger than MAX_TILE is processed at full resolution in overlapping tiles whose weights ramp down
towards their edges, so no seam shows. Tiles are as large as memory comfortably allows (not the trained
size), because a fully convolutional generator run on many small tiles repeats its border behaviour in a
visible grid. Every tile side is a multiple of the model's `nftgan.multiple_of` (the image
is padded with white paper to get there).

A style whose file declares `nftgan.keep_colours` (3D Clay) keeps the colours it is given: its input's a*, b*
with its output's CIELAB lightness (the shading) (`keep_colours`), at its work size, before Strength; with
follow my colours on, each of its regions keeps its input's mean lightness too (the style's shading around it),
so a red wall stays the artist's red.
With follow my colours on, it also keeps the open paper white (`keep_paper`): where colorize gave the paper
back as white (hintfill's mask, handed out by `fill`), the style's output is white again, except within a
margin of the drawing where its bevels and edge shading live. Where a dab filled the open background (a
blue sky) such a style runs on the drawing with the sky given back as white paper (`skyless`: 3D Clay, which
learned from emoji on white paper, washed a drawing in a blue sky out to white), then takes the sky's colour
back flat, with its shading by the drawing only, as the paper. A style without the key (it may texture its
paper on purpose) is left alone.

Per stage, a Strength in [0, 1] mixes the stage's input with its output (0: the stage changes nothing;
the next stage takes the mix). "Keep my lines": the artist's line strokes (the dark strokes of the sketch;
coloured hint strokes and paper leave it alone) are multiplied back over the chosen stages' results at
each result's own resolution, so outlines stay as sharp as drawn whatever size the models worked at; by
default over the colorized image (and its upscale). The stylize stage restyles the colorized result as the
artist sees it: at the sketch's size, lines in (when kept), then brought to its own work size, so a style sees
the outlines and shapes the artist drew. The upscale stage enlarges the image of the stage before it as that
stage's model made it (at its work size, without the lines) and gets the lines back at its own size.

While onnxruntime runs a model on the calling thread, one helper thread per run() call (`_Beside`) does the
work that needs only what is known before it: during colorize the sketch's line layer, its dabs and follow
my colours' regions and paper (hintfill.prepare); during a style that keeps your colours its input's colours,
the paper weight and the colorized result's RGBA image. numpy releases the GIL in most of it, so it runs
beside the session's threads (free where a core is spare; on 2 cores with 2 session threads it mostly competes
with them); the results are bit for bit those of the same calls in line, and the thread
is joined before run() returns or raises (cancelled or not: the longer tasks check between their steps).

One onnxruntime session per model file and thread/provider setting is created once and reused
(`session`; a re-exported file replaces its old sessions). Cancel works within one tile: `job.check()` runs between tiles and stages, and a
running tile is stopped with `RunOptions.terminate`.

Also the `nftgan stylize` command (`main`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import math
import os
import queue
import sys
import threading
import time
from concurrent.futures import Future
from typing import NamedTuple

import numpy as np

from . import colour, exemplar, hintfill, imageio
from .contract import QUIET, ModelError, ModelInfo, describe_model, ort_cause
from .errors import Cancelled, ImageError, UserError
from .files import not_a_folder, os_error_message, refuse_overwrite
from .imageio import as_rgba, check_size, resize, resize_bands

log = logging.getLogger(__name__)

STAGES = ("colorize", "stylize", "upscale")  # pipeline order
KEEP_LINES = ("colorize",)  # the stages whose results get the sketch's lines back, unless asked otherwise
RESULT_SUFFIX = {"colorize": "colorized", "stylize": "stylized", "upscale": "upscaled"}
ACCELERATED = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
OVERLAP = 0.25  # fraction of a tile shared with its neighbour
MAX_TILE = 512  # px: images up to this size run in one pass; larger ones in overlapping tiles of this size
# onnxruntime session settings. Worker threads that busy-wait between operators (onnxruntime's default) take
# the cores Blender's UI thread, this pipeline's helper thread and every other program need, and on a busy
# machine they wait on each other: colorize -> 3D Clay on 2 threads, spinning on / off side by side, 1.36-2.14x
# the pipeline's wall time and 1.40-2.47x the bare sessions' at 256 px (quiet: 1.51x / 1.40x, live previews
# 22 -> 15 a second), 1.06-1.78x / 1.07-1.42x at 1024 px (docs/benchmarks.md, session 19)
SESSION_CONFIG = {"session.intra_op.allow_spinning": "0"}


class _NoJob:
    """Stands in for a jobs.Job when the pipeline runs outside the worker (command line, thumbnails)."""

    cancelled = False

    def check(self):
        pass

    def progress(self, fraction, message=""):
        pass

    def on_cancel(self, hook):
        return lambda: None


# ----------------------------------------------------------------------------------------------- sessions

_sessions: dict[tuple, object] = {}
_sessions_lock = threading.Lock()


def providers(choice: str = "auto") -> list[str]:
    """Execution providers to use: the accelerated ones this onnxruntime build offers, then CPU."""
    import onnxruntime as ort

    if choice.lower() == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    return [p for p in ACCELERATED if p in available] + ["CPUExecutionProvider"]


def session(info: ModelInfo, threads: int = 0, provider: str = "auto"):
    """The onnxruntime session for a model and setting (created on first use, then reused).

    Sessions are keyed by file (path, size, modification time) AND setting (threads, provider), so
    calls with different settings each keep theirs; a re-exported file drops its old sessions."""
    import onnxruntime as ort

    path = os.path.abspath(info.path)
    st = os.stat(path)
    version = (path, st.st_size, st.st_mtime_ns)
    key = (*version, int(threads), provider.lower())
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is not None:
            return sess
        wanted = providers(provider)
        opts = ort.SessionOptions()
        opts.log_severity_level = QUIET  # its errors are raised, and said once
        opts.intra_op_num_threads = max(0, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        for entry, value in SESSION_CONFIG.items():
            opts.add_session_config_entry(entry, value)
        # no memory pattern (DirectML requires that too): with it, a session's second run at an input shape
        # plans one block for all its activations and takes it from the arena beside the chunks its first run
        # left there, so the arena keeps both (the x4 upscaler at a 512 px input: 447 MB over the loaded
        # session with the pattern, 244 without; outputs bit for bit the same, runs as fast: docs/benchmarks.md,
        # session 23)
        opts.enable_mem_pattern = False
        try:
            sess = ort.InferenceSession(info.path, sess_options=opts, providers=wanted)
        except Exception as exc:
            if wanted == ["CPUExecutionProvider"]:
                raise ModelError(f"{os.path.basename(info.path)} could not be loaded: {exc}") from exc
            log.warning("NFTGan: %s failed to start (%s); using the CPU", wanted[0], exc)
            sess = ort.InferenceSession(info.path, sess_options=opts, providers=["CPUExecutionProvider"])
        for old in [k for k in _sessions if k[0] == path and k[:3] != version]:
            del _sessions[old]  # an older version of this file (it was re-exported)
        _sessions[key] = sess
        return sess


def clear_sessions() -> None:
    with _sessions_lock:
        _sessions.clear()


# ----------------------------------------------------------------------------------------------- tiling


def round_up(n: int, m: int) -> int:
    return max(m, math.ceil(n / m) * m)


def tile_size(info: ModelInfo, max_tile: int = MAX_TILE) -> int:
    """The largest tile side for this model: MAX_TILE (or the trained size, if larger), a multiple_of multiple."""
    m = max(1, info.multiple_of)
    return max(round_up(info.input_size, m), (max_tile // m) * m)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering [0, length) with at least `overlap` shared pixels."""
    if length <= tile:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def feather(tile: int, overlap: int) -> np.ndarray:
    """1-D blending weights: a linear ramp over `overlap` pixels at both ends, 1 in the middle."""
    i = np.arange(tile, dtype=np.float32) + 0.5
    ramp = max(1, overlap)
    return np.minimum(1.0, np.minimum(i / ramp, (tile - i) / ramp)).astype(np.float32)


def _run_tile(sess, info: ModelInfo, x: np.ndarray, job, clip: bool = False) -> np.ndarray:
    """One model run on a (3, h, w) C-contiguous float32 array; returns (3, h*scale, w*scale), with `clip`
    clipped to [-1, 1] (in place; only when out of range: a tanh output never is)."""
    import onnxruntime as ort

    options = ort.RunOptions()
    remove = job.on_cancel(lambda: setattr(options, "terminate", True))
    try:
        job.check()
        (y,) = sess.run(None, {info.input_name or sess.get_inputs()[0].name: x[None]}, options)
    except Cancelled:
        raise
    except Exception as exc:
        if job.cancelled:
            raise Cancelled() from None
        raise UserError(
            f"{info.name} ({os.path.basename(info.path)}) failed on a {x.shape[2]}x{x.shape[1]} tile. "
            f"Its graph may not take the sizes its metadata promises (multiples of {info.multiple_of} px): "
            f"check it with `nftgan validate {info.path}`, export it again with `nftgan export`, or take it "
            f"out of {os.path.dirname(info.path)} and press Refresh Styles. {ort_cause(exc)}"
        ) from exc
    finally:
        remove()
    job.check()
    expected = (1, 3, x.shape[1] * info.scale, x.shape[2] * info.scale)
    if tuple(y.shape) != expected:
        raise UserError(
            f"{info.name} returned shape {tuple(y.shape)} for input {tuple(x[None].shape)} "
            f"(expected {expected}); the model does not follow the NFTGan contract "
            f"({os.path.basename(info.path)} in {os.path.dirname(info.path)}): export it again with `nftgan "
            "export`, which checks it, or take it out of that folder and press Refresh Styles."
        )
    lo, hi = float(y.min()), float(y.max())  # NaN propagates through both: read-only, no bool temporary
    if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN would become black
        raise UserError(
            f"{info.name} ({os.path.basename(info.path)}) produced NaN or infinite values: the model file is "
            "broken (re-export it from a healthy checkpoint) or choose another style."
        )
    if clip and (lo < -1.0 or hi > 1.0):
        np.clip(y, -1.0, 1.0, out=y)
    return y[0]


def resize_planar(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """imageio.resize for a planar (3, H, W) image; returns a C-contiguous (3, height, width) array.

    A reduction by whole factors (a 1024 px canvas to a 512 or 256 px work size) is imageio.resize's box
    filter alone, summed here from strided views: 1.6 ms for 1024 -> 512 px instead of 50 ms. An enlargement
    (a canvas smaller than the model's trained size brought up to it) is `_enlarged_bands`' np.take on the
    planes: 64 -> 256 px 0.9 ms instead of 3.3 (resize's slow indexing path on the transposed view)."""
    h, w = x.shape[1:]
    if (h, w) == (height, width):
        return x
    if h % height == 0 and w % width == 0:
        fy, fx = h // height, w // width
        out = np.zeros((x.shape[0], height, width), dtype=np.float32)
        for dy in range(fy):
            for dx in range(fx):
                out += x[:, dy::fy, dx::fx]
        out *= 1.0 / (fy * fx)
        return out
    if h <= height and w <= width and x.dtype == np.float32:  # enlarged: `_enlarged_bands`, the same values
        out = np.empty((x.shape[0], height, width), dtype=np.float32)
        for top, rows in _enlarged_bands(x, height, width):
            out[:, top : top + rows.shape[1]] = rows
        return out
    return np.ascontiguousarray(resize(x.transpose(1, 2, 0), height, width).transpose(2, 0, 1))


def apply_model(
    img: np.ndarray,
    info: ModelInfo,
    sess,
    job,
    on_tile=None,
    overlap: float = OVERLAP,
    tile: int | None = None,
) -> np.ndarray:
    """Run one model over a planar (3, H, W) top-down image in [-1, 1]; returns (3, H*scale, W*scale).

    Images up to `tile` px (default `tile_size(info)`) per side run in one pass; larger ones in tiles of
    that size sharing `overlap` (a fraction; 0 gives plain tiles, for comparison) with their neighbours.
    An image smaller than the model's trained size is scaled up to it first and the result scaled back."""
    h0, w0 = img.shape[1:]
    m, s = max(1, info.multiple_of), info.scale
    tile = tile or tile_size(info)
    work = np.ascontiguousarray(img, dtype=np.float32)
    if max(h0, w0) < info.input_size:  # small: bring the long side up to the trained size
        f = info.input_size / max(h0, w0)
        work = resize_planar(work, max(1, round(h0 * f)), max(1, round(w0 * f)))
    h, w = work.shape[1:]
    ph, pw = round_up(h, m), round_up(w, m)
    if (ph, pw) != (h, w):  # pad with white paper to sizes the graph accepts
        padded = np.ones((3, ph, pw), dtype=np.float32)
        padded[:, :h, :w] = work
        work = padded
    th, tw = min(tile, ph), min(tile, pw)
    one = (th, tw) == (ph, pw)
    if one:  # one tile: the model's output is the result, nothing to blend (clipped by _run_tile's check)
        result = _run_tile(sess, info, work, job, clip=True)
        if on_tile:
            on_tile(1, 1)
    else:
        result = _blend_tiles(work, info, sess, job, on_tile, th, tw, int(tile * overlap))
    result = result[:, : h * s, : w * s]
    if (h, w) != (h0, w0):
        result, one = resize_planar(result, h0 * s, w0 * s), False
    # in place: every array here is this call's own (np.clip: one vectorised pass, 7x faster than max + min)
    return result if one else np.clip(result, -1.0, 1.0, out=result)


def _blend_tiles(work, info, sess, job, on_tile, th, tw, ov) -> np.ndarray:
    """Overlapping tiles of a (3, H, W) image, each weighted by a ramp towards its edges, then normalised."""
    s = info.scale
    ph, pw = work.shape[1:]
    ys, xs = tile_starts(ph, th, ov), tile_starts(pw, tw, ov)
    window = feather(th * s, ov * s)[:, None] * feather(tw * s, ov * s)[None, :]
    acc = np.zeros((3, ph * s, pw * s), dtype=np.float32)
    weight = np.zeros((ph * s, pw * s), dtype=np.float32)
    n, done = len(ys) * len(xs), 0
    for y in ys:
        for x in xs:
            out = _run_tile(sess, info, np.ascontiguousarray(work[:, y : y + th, x : x + tw]), job)
            ys_, xs_ = slice(y * s, (y + th) * s), slice(x * s, (x + tw) * s)
            out *= window
            acc[:, ys_, xs_] += out
            weight[ys_, xs_] += window
            done += 1
            if on_tile:
                on_tile(done, n)
    acc /= weight
    return acc


# ----------------------------------------------------------------------------------------------- pipeline


def to_model_space(rgba: np.ndarray) -> np.ndarray:
    """RGBA bottom-up [0,1] -> planar RGB (3, H, W) top-down [-1,1]; transparent areas become white paper.

    Works a plane at a time on bands of rows (the output is the one full-size allocation). Values outside
    [0, 1] are clipped, NaN counts as 0 (fmax/fmin drop NaN), as in `imageio.as_rgba`."""
    a = np.asarray(rgba)
    if a.dtype != np.float32 or a.ndim != 3 or a.shape[2] not in (3, 4):
        a = as_rgba(a)  # greyscale, 16-bit, two channels ...: the general (slower) conversion
    h, w = a.shape[:2]
    check_size(h, w)
    rows = a[::-1]  # top-down view
    out = np.empty((3, h, w), dtype=np.float32)
    band = max(1, (1 << 16) // max(1, w))
    # two read-only reductions instead of clipping every band (False for NaN): the usual case, in [0, 1]
    unit = _unit if not (a.min() >= 0.0 and a.max() <= 1.0) else (lambda x, out=None: _copy(x, out))
    for top in range(0, h, band):
        px = rows[top : top + band]
        alpha2 = np.full(px.shape[:2], 2.0, np.float32) if a.shape[2] == 3 else unit(px[:, :, 3])
        if a.shape[2] == 4:
            alpha2 *= 2.0
        for c in range(3):  # over paper (1): 2 * (rgb * a + 1 - a) - 1 == 2a * (rgb - 1) + 1
            plane = unit(px[:, :, c], out=out[c, top : top + band])
            plane -= 1.0
            plane *= alpha2
            plane += 1.0
    return out


def _copy(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x (a view into the caller's pixels) copied into `out` or a new array: `_unit` for values in [0, 1]."""
    if out is None:
        return x.copy()
    out[...] = x
    return out


def _unit(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x clipped to [0, 1] with NaN -> 0 (fmax/fmin ignore NaN). In place (`out` is `x`), two read-only
    reductions first (False for NaN): values all in [0, 1] already are left as they are (a colorized result
    at 1024 px, seen: 0.35 ms instead of 2.1; a -0.0 stays -0.0, the one bit that can differ)."""
    if out is x and x.min() >= 0.0 and x.max() <= 1.0:
        return x
    out = np.fmax(x, 0.0, out=out)
    return np.fmin(out, 1.0, out=out)


def to_image_space(
    rgb: np.ndarray,
    size: tuple[int, int] | None = None,
    lines: np.ndarray | None = None,
    seen: np.ndarray | None = None,
) -> np.ndarray:
    """Planar RGB (3, H, W) top-down [-1,1] -> opaque RGBA bottom-up [0,1], bilinearly resized to
    `size` (height, width) when given (in bands of rows: no full-size temporaries). `lines` (a top-down
    line layer, `line_layer`) is multiplied in on the way, resized to the result's size when it differs
    ("keep my lines": a plane at a time here costs a tenth of multiplying the interleaved RGBA after).
    `seen`: a (3, height, width) float32 array to hold the result's planes too (top-down, as `_as_seen`)."""
    h, w = size or rgb.shape[1:]
    out = np.empty((h, w, 4), dtype=np.float32)
    if lines is not None and lines.shape != (h, w):
        lines = resize(lines[:, :, None], h, w)[:, :, 0]
    if (h, w) == rgb.shape[1:]:
        bands = [(0, rgb)]
    elif h >= rgb.shape[1] and w >= rgb.shape[2]:  # enlarged (a work size's result to the sketch's size)
        bands = _enlarged_bands(rgb, h, w)
    else:  # resize_bands works on (H, W, C): give it a view and take the rows back as planes
        bands = ((top, rows.transpose(2, 0, 1)) for top, rows in resize_bands(rgb.transpose(1, 2, 0), h, w))
    tmp = None
    for top, planes in bands:
        n = planes.shape[1]
        if seen is None and (tmp is None or len(tmp) != n):  # (one for the bands of a size: fresh pages cost)
            tmp = np.empty((n, w), dtype=np.float32)
        rows = out[h - top - n : h - top]  # bottom-up: image row `top` is out[h - 1 - top]
        rows[:, :, 3] = 1.0  # (the band's rows first touched here, then in the cache)
        for c in range(3):  # a plane at a time on contiguous rows, then one interleaving copy
            if seen is not None:
                tmp = seen[c, top : top + n]
            _seen_plane(planes[c], tmp, None if lines is None else lines[top : top + n])
            rows[:, :, c] = tmp[::-1]
    return out


def _enlarged_bands(planes: np.ndarray, height: int, width: int, band_pixels: int = 1 << 16):
    """imageio.resize_bands for planar (C, H, W) float32 enlarged to (height, width) (no side shrinks, so no
    box filter first): its bilinear weights and arithmetic, the same values, as (first row, (C, rows, width))
    bands. The rows and columns are gathered with np.take on the planes (imageio.bilinear_taps place them):
    resize_bands on a transposed view indexes (rows, W, C) arrays with a slice before an index array, numpy's
    slow path (its bands of a 256 px result brought to 1024 px: 77 ms, these 47, warm, on the loaded 2-core
    machine). A band's array is the next band's too: use it before asking for the next. Bands of 64k pixels
    (64 rows at 1024 px: three planes' 768 KB stay in the 1 MB L2 cache through the pipeline's passes over
    them): to_image_space of a 256 px result to 1024 px with lines and seen 7.8 ms, of a 512 px one with
    lines 8.9 (least thread CPU time of 20), against 8.0 and 9.8 with bands of 256k."""
    h, w = planes.shape[1:]
    y0, y1, wy = imageio.bilinear_taps(height, h)
    x0, x1, wx = imageio.bilinear_taps(width, w)
    wx0, wx1 = (1 - wx)[None, None, :], wx[None, None, :]
    band = max(1, band_pixels // max(1, width))
    top = bot = None
    for first in range(0, height, band):
        rows = slice(first, first + band)
        # each source row the band takes (rows y0[0] to y1[-1]: the taps do not decrease) across once, then
        # gathered for the output rows: an enlarged row repeats its source rows' values across, so the same
        # float32 products and sums (in place), a quarter of them at x4
        r0, r1 = y0[rows], y1[rows]
        src = planes[:, r0[0] : r1[-1] + 1]
        across, tmp = np.take(src, x0, axis=2), np.take(src, x1, axis=2)
        across *= wx0
        tmp *= wx1
        across += tmp
        if top is None or top.shape[1] != len(r0):  # (the bands' two arrays reused: fresh pages cost)
            top, bot = (np.empty((len(planes), len(r0), width), np.float32) for _ in range(2))
        np.take(across, r0 - r0[0], axis=1, out=top, mode="clip")  # (clip: no buffered copy; all in range)
        np.take(across, r1 - r0[0], axis=1, out=bot, mode="clip")
        top *= (1 - wy[rows])[None, :, None]
        bot *= wy[rows][None, :, None]
        top += bot
        yield first, top


def _seen_plane(plane: np.ndarray, out: np.ndarray, lines: np.ndarray | None) -> np.ndarray:
    """One model-space plane ([-1, 1]) as the artist sees it (or planes (3, H, W)): [0, 1], `lines` multiplied
    in; into `out` (may be `plane`)."""
    np.multiply(plane, 0.5, out=out)
    out += 0.5
    np.clip(out, 0.0, 1.0, out=out)  # as max(0) then min(1), NaN kept; one vectorised pass
    if lines is not None:
        out *= lines
    return out


def at_work_size(x: np.ndarray, info: ModelInfo) -> np.ndarray:
    """`x` scaled down so its long side is the model's `work_size`, when it declares one and `x` is larger.

    A model that learned from whole 256 px pictures sees a 1024 px sketch's strokes and shapes 4x larger
    than anything it was taught; at its own scale it colours them as it learned to (the default colorizer
    works at 256 px). A style may declare more than it learned at: 3D Clay works at 512 px, where small
    shapes and outlines stay crisp and it still shades them as clay (issue 11). The pipeline scales the
    result back to the sketch's size (or the upscale stage takes it from here). `x` is planar (3, H, W)."""
    h, w = x.shape[1:]
    if not info.work_size or max(h, w) <= info.work_size:
        return x
    f = info.work_size / max(h, w)
    return resize_planar(x, max(1, round(h * f)), max(1, round(w * f)))


KEEP_COLOURS_BYTES = 40  # per work-size pixel: keep_colours's temporaries (36 B/px measured at 512², 37 with
# the regions whose lightness it keeps)
RUNTIME_BYTES = 512 * 1024**2  # onnxruntime's sessions and one tile's activations, whatever the image size


def job_bytes(
    h: int, w: int, infos: dict[str, ModelInfo], size: int | None = None, fill_hints: bool = True
) -> int:
    """`job_plan`'s bytes."""
    return job_plan(h, w, infos, size, fill_hints)[0]


def job_plan(
    h: int, w: int, infos: dict[str, ModelInfo], size: int | None = None, fill_hints: bool = True
) -> tuple[int, tuple[int, int]]:
    """(bytes, (height, width) of the largest result). Bytes: a generous estimate of the memory `run()`
    needs for an h x w sketch (before anything is made): the sketch and its model-space copies, and per
    stage its padded input, the tile accumulator and weights, the clipped result and the RGBA image it
    leaves (each result is kept). Bytes per pixel follow the arrays run() and apply_model() allocate
    (float32). With `fill_hints` (run()'s) it counts colorize's second run on the sketch with its dabs made
    paper: whether that run is made depends on the dabs and on the first run's output (`hintfill.pulled`),
    neither known before the pixels are read, so it is counted for every sketch (an upper bound); without
    follow my colours it is never made, and not counted."""
    if size:
        f = size / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
    sketch = h * w
    # the sketch, its RGBA copy, model-space RGB, the line layer (keep my lines)
    total = RUNTIME_BYTES + 16 * sketch + 28 * sketch + 4 * sketch
    cur_h, cur_w = largest = h, w
    for k in STAGES:
        info = infos.get(k)
        if not info:
            continue
        if k == "stylize" and "colorize" in infos:  # it takes the colorized result as seen (lines in)
            cur_h, cur_w = max(cur_h, h), max(cur_w, w)
            total += 12 * cur_h * cur_w  # that result back in model space
        if info.work_size and max(cur_h, cur_w) > info.work_size:
            f = info.work_size / max(cur_h, cur_w)
            cur_h, cur_w = max(1, round(cur_h * f)), max(1, round(cur_w * f))
            total += 12 * cur_h * cur_w
        if max(cur_h, cur_w) < info.input_size:  # scaled up to the trained size first
            f = info.input_size / max(cur_h, cur_w)
            total += 12 * max(1, round(cur_h * f)) * max(1, round(cur_w * f))
        if info.keep_colours:  # keep_colours: its conversion temporaries (keep_paper's, 25 B/px, come after
            # they are freed)
            total += KEEP_COLOURS_BYTES * cur_h * cur_w
        m = max(1, info.multiple_of)
        pad_h, pad_w = round_up(max(cur_h, info.input_size), m), round_up(max(cur_w, info.input_size), m)
        out = pad_h * pad_w * info.scale**2
        cur_h, cur_w = cur_h * info.scale, cur_w * info.scale
        if k == "colorize" and infos.get("stylize") and infos["stylize"].keep_colours:
            total += cur_h * cur_w  # the open paper follow my colours gave back, kept for keep_paper (bool)
        if k == "colorize" and fill_hints:  # with dabs, its run on the sketch with the dabs made paper: that
            # sketch and its result (follow my colours takes the colours of the shapes without a dab from it)
            total += 12 * pad_h * pad_w + 12 * out
        kept = max(cur_h * cur_w, sketch)  # a result is at least the sketch's size
        total += 12 * pad_h * pad_w + 28 * out + 12 * kept + 16 * kept + 4 * kept  # + the layer at its size
        largest = max(largest, (max(cur_h, h), max(cur_w, w)), key=lambda hw: hw[0] * hw[1])
    return total, largest


def check_job(
    h: int,
    w: int,
    infos: dict[str, ModelInfo],
    size: int | None = None,
    extra: int = 0,
    fill_hints: bool = True,
    cli: bool = False,
) -> None:
    """ImageError naming the memory limit when the job would need more (checked before allocating), or
    when the sketch or a result (an upscale: 4x) is empty or larger than NFTGan handles (check_size). The way
    out names the controls of the interface asking (`cli`: `nftgan stylize`'s --resize and --upscale none;
    else the add-on's: the Image Editor's Image > Resize and the panel's Upscale)."""
    check_size(h, w)
    if size:
        f = size / max(h, w)
        th, tw = max(1, round(h * f)), max(1, round(w * f))
    else:
        th, tw = h, w
    needed, (oh, ow) = job_plan(h, w, infos, size, fill_hints)
    doing = f"stylizing {tw}x{th} px" + (f" into {ow}x{oh} px" if (oh, ow) != (th, tw) else "")
    if not imageio.fits(oh, ow):
        lo, hi = 1, max(th, tw)  # the largest picture side whose results fit (they grow with it)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if imageio.fits(*job_plan(h, w, infos, mid, fill_hints)[1]) else (lo, mid)
        raise ImageError(
            f"{doing}: the result is more than NFTGan handles ({imageio.LIMITS}); "
            + (f"{UPSCALE_OFF[cli]}, or " if "upscale" in infos else "")
            + (
                f"stylize at {lo} px per side or less" + (f" (--resize {lo})." if cli else ".")
                if size or cli
                else f"scale the picture down to {lo} px per side first."
            )
        )
    imageio.check_memory(
        needed + extra,
        doing,
        f"Work smaller: {SMALLER[cli]}" + (f", or {UPSCALE_OFF[cli]}." if "upscale" in infos else "."),
    )


# check_job's ways out, as each interface names its controls: {cli: words}
UPSCALE_OFF = {False: "turn Upscale off", True: "skip the upscale (--upscale none)"}
SMALLER = {
    False: "scale the sketch down (Image > Resize in the Image Editor)",
    True: "stylize at a smaller size (--resize N)",
}


# Colours for hint dabs (sRGB): New Sketch Canvas puts them in Blender's palette, and the evidence
# (tools/evidence.py) scores dabs in them. Saturated enough that "keep my lines" leaves them nearly alone
# (line layer >= 0.85; black lines: 0)
HINT_PALETTE = {
    "red": (0.86, 0.16, 0.14),
    "orange": (0.96, 0.55, 0.12),
    "yellow": (0.97, 0.82, 0.16),
    "green": (0.22, 0.66, 0.24),
    "blue": (0.16, 0.38, 0.86),
    "purple": (0.55, 0.25, 0.75),
    "pink": (0.95, 0.45, 0.68),
    "brown": (0.55, 0.34, 0.18),
}


DAB_FRINGE = 2  # px around a dab (its anti-aliased edge) that keep my lines leaves alone with the dab


def line_layer(x: np.ndarray, hi_lo: tuple | None = None) -> np.ndarray:
    """The sketch's lines as a multiply layer (H, W) in [0, 1], from the sketch in model space (3, H, W):
    1 - darkness x greyness, with darkness = 1 - the brightest channel and greyness = darkest / brightest
    channel (1 - HSV saturation). Black and grey strokes (and their anti-aliased edges) darken the result
    as drawn; paper and coloured strokes (the hints) leave it nearly as it is (a saturated red dab: 99 %).
    In bands of rows: the layer is the one full-size allocation. `hi_lo`: x's max and min over its channels,
    when made already (not changed: `hintfill.hints` takes them too)."""
    h, w = x.shape[1:]
    layer = np.empty((h, w), dtype=np.float32)
    band = max(1, (1 << 16) // max(1, w))
    for top in range(0, h, band):
        if hi_lo is None:
            rows = x[:, top : top + band]
            hi, lo = rows.max(axis=0), rows.min(axis=0)
            hi += 1.0
            lo += 1.0
        else:
            hi, lo = (a[top : top + band] + 1.0 for a in hi_lo)
        hi *= 0.5
        lo *= 0.5
        out = layer[top : top + band]
        with np.errstate(divide="ignore", invalid="ignore"):  # (a divide with where= took twice as long)
            np.divide(lo, hi, out=out)
        out[~(hi > 1e-6)] = 1.0  # black: fully grey
        hi -= 1.0  # -(1 - hi): darkness, negated
        out *= hi
        out += 1.0  # 1 - darkness x greyness
    return layer


# `line_drawing`: its paper at least this light (darkest channel, 0..1), and at most this share of the canvas line
# or off the paper (the 14 held-out sketches of tests/models/golden: 4-21 %; their pictures: 18-67 %, and paint)
DRAWING = (0.8, 0.35)


def line_drawing(rgba: np.ndarray) -> bool:
    """Is the picture (RGBA or RGB (H, W, C) in [0, 1], sRGB, straight alpha, as the pipeline takes it) a line
    drawing on paper, as a sketch is: light paper (the median of its outer pixels, as `hintfill.painted` finds
    it), no paint besides the lines (`hintfill.painted`: no flat patch off the paper that is not line: a
    colorized shape, a dab, a grey fill), and no more than DRAWING[1] of it line or off the paper (a photo's or
    a sample's texture, which is no flat paint either)? Tells an NFTGan result the artist cleared and redrew
    as a line sketch (Colorize runs on it) from one in colour (Colorize is skipped). Looked at on the grid
    `painted` looks at (every s-th pixel, s: the short side / 256 px, rounded): the same cost at any size,
    about 1 ms (the worker's, before the models run)."""
    h, w = rgba.shape[:2]
    s = max(1, round(min(h, w) / 256))
    # (the grid; `painted` at s = 1 looks at every pixel of it: its side is below 384 px)
    x = to_model_space(rgba[::s, ::s])
    layer = line_layer(x)
    grid = hintfill.paper_grid(x, layer)  # (painted's first steps, made once for both)
    _, paper, off = grid
    if paper < DRAWING[0]:
        return False
    if np.count_nonzero(off | (layer < hintfill.LINE)) > DRAWING[1] * off.size:
        return False
    return not hintfill.painted(x, layer, grid)


KEEP_COLOURS_SMOOTH = 512  # keep colours smooths the input's a*, b* over 1 px per this many px of work size


def keep_colours(
    out: np.ndarray,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    paper: np.ndarray | None = None,
    layer: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> np.ndarray:
    """A style that keeps the artist's colours (`nftgan.keep_colours`): the a*, b* of its input `x` (the
    colours) with `out`'s CIELAB lightness (the style's shading, bevels and highlights), in place in `out`.
    Both planar (3, H, W) in [-1, 1], the same size (the model's work size). With `labels` (the regions
    follow my colours filled by, hintfill's labels: (h, w) int, -1 on lines, any size: the means over them
    brought to (H, W) by nearest neighbour, the offsets bilinearly) each region keeps its input's mean
    lightness and the style adds its shading within it:
    fy_out = fy_style + mean_r(fy_in) - mean_r(fy_style) (CIELAB's f terms: L* = 116 fy - 16; `_shift`),
    so a red wall stays the red the artist chose instead of coming back peach (3D Clay lifts the L* of
    every shape by 5 L* or more). The open paper (`paper`, as keep_paper takes it) keeps the style's own L*.
    `layer`: the line layer the labels were cut from (the same size), whose soft edges place each region's
    edge to a fraction of a pixel (without it, whole label pixels: a staircase along diagonal outlines).
    `sky`: the open background a dab filled flat (hintfill.fill's fourth result, the same size): the regions
    mostly in it take the style's lightness there only where it is darker than their input's (its shading
    of the shapes' outlines and shadows), not where it lightens it (3D Clay, which learned from emoji on
    white paper, paints a pale rim round every shape into what it takes for paper: a pale halo round a
    house in a blue-dabbed sky).
    Without labels (follow my colours off, or no colorize stage) the style's own L* everywhere, as before:
    there is no open paper to hold white then, so one offset for the whole image would move the paper with the
    shapes (grey paper when the style lightens them), and regions guessed from any picture (a painting
    without closed lines) are not the artist's.
    The input's a*, b* are box-smoothed over 1 px at 512 px (2 at 1024, none at 256): a style moves edges by
    a pixel or so (a bevel, a rounded outline), and without it colour boundaries step hard beside the moved
    edges; more tints the grey bevels of outlines (looked at 1:1 on the demo house at 256 and 512 px)."""
    h, w = x.shape[1:]
    f = _input_colours(x)
    shift = None if labels is None else _shift_ahead(labels, paper, x, f[1], (0, h, 0, w), layer, sky)
    return _keep_colours_of(out, f, shift)


def _input_colours(x: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """keep_colours' part that needs only the style's input `x` (the pipeline works it out while the style
    runs): the input's CIELAB fx - fy and fz - fy (its colours, box-smoothed), over `box` (rows y0:y1,
    columns x0:x1; default: all), as (3, y1 - y0, x1 - x0) with the middle plane free."""
    h, w = x.shape[1:]
    y0, y1, x0, x1 = box or (0, h, 0, w)
    if y1 <= y0 or x1 <= x0:  # all paper (a blank canvas): nothing to keep
        return np.zeros((3, max(0, y1 - y0), max(0, x1 - x0)), np.float32)
    r = round(max(h, w) / KEEP_COLOURS_SMOOTH)
    # the box's rows and columns and r more around it (what its smoothing sees; the same sums, in the same order)
    ey0, ey1, ex0, ex1 = max(0, y0 - r), min(h, y1 + r), max(0, x0 - r), min(w, x1 + r)
    # in CIELAB's f terms (a* = 500 (fx - fy), b* = 200 (fy - fz)), so no L*, a*, b* is ever made: the
    # input's fx - fy and fz - fy (its colours), the output's fy (its lightness: Y alone), then sRGB
    f = colour.lab_f(x[:, ey0:ey1, ex0:ex1], 0.5, 0.5)  # both in [-1, 1]: a model's output is clipped
    f[0] -= f[1]
    f[2] -= f[1]
    if r:
        f[::2] = _box(f[::2], r)
    return f[:, y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]


def _keep_colours_of(out: np.ndarray, f: np.ndarray, shift: Regions | None = None) -> np.ndarray:
    """keep_colours' part that needs the style's output `out` (in place), with `_input_colours`' planes `f`
    (consumed) of the same size, and `_shift_ahead`'s regions (or None: the style's own lightness)."""
    fy = colour.lab_f_y(out, 0.5, 0.5)
    if shift is not None:
        _line_cap(fy, shift)
        _shift(fy, shift)
        _rimless(fy, shift, f)
    f[0] += fy
    f[2] += fy
    f[1] = fy
    del fy
    colour.srgb_of_f(f, out=out, scale=2.0, offset=-1.0)
    return out


# px at the labels' size (colorize's work size): a line pixel takes the mean of the offsets of the region
# pixels this close (lines are ~2.5 px at 256, and labels leave a px more beside them)
SHIFT_REACH = 3
SKY_SAMPLES = 4096  # pixels of a dabbed sky whose median lightness is its level (`_shift`)


class Regions(NamedTuple):
    """What keeping each region's lightness needs of the style's input alone (`_shift_ahead`, for `_shift`)."""

    lab: np.ndarray  # each pixel's region + 1 at the labels' size (0: line)
    soft: np.ndarray  # `_soft_edges`' pixels, which blend a region's offset with the line's (flat indices)
    side: np.ndarray  # ... the pixel whose region's offset each takes
    inv: np.ndarray  # ... 1 / the share of region pixels around each
    cover: np.ndarray  # ... each one's share of region
    up: tuple  # how the offsets come to the box at the style's size (`_brought`): the box's slices where
    # the sizes match, else imageio.bilinear_taps for its rows and columns
    inside: np.ndarray  # each box pixel's region + 1 for the means (nearest neighbour, as _paper_weight
    # brings the paper), with the lines and their 1 px edges at 0
    runs: np.ndarray  # where `inside`'s runs of one region start (flat: `hintfill.runs`, for `_region_sums`)
    count: np.ndarray  # each region's pixel count there
    mean_in: np.ndarray  # ... and its input's mean lightness there (fy_in)
    # the regions kept at the style's own lightness (0 and the open paper: keep_paper's job)
    fixed: np.ndarray
    # for the regions mostly in `sky`, what caps their lightness at their input's (`_shift`), or None
    cap: tuple | None
    lines: np.ndarray  # the box pixels on a line or its 1 px edge (flat indices: `_line_cap`)
    line_top: np.ndarray  # ... the lightest the style may make them: their input's fy + LINE_LIFT
    rim: tuple  # the paper beside the free lines and their anti-aliased edges (`_rim_layers`: `_rimless`)
    # `lab` as runs of one value (flat, row-major): each run's value and length, so `_shift` brings the regions'
    # offsets to the pixels by np.repeat (np.take of `lab`'s 8-bit indices: 4x the time)
    lab_runs: tuple


def _shift_ahead(
    labels: np.ndarray,
    paper: np.ndarray | None,
    x: np.ndarray,
    fy_in: np.ndarray,
    box: tuple,
    layer: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> Regions:
    """What keeping each region's lightness needs of the style's input alone (worked out beside the style's
    run), for `_shift`, over `box` of the style's size (`fy_in`: the input's fy there). `labels`: hintfill's
    (h, w) labels, -1 on lines; `paper`: fill's open paper (h, w) bool or None, `layer` the line layer the labels were cut from (pipeline.line_layer; its soft edges
    place the lines to a fraction of a pixel) or None (whole pixels), and `sky` the open background a dab
    filled flat (bool) or None, at the same size."""
    n = int(labels.max()) + 1 if labels.size else 0
    line = labels < 0
    # each pixel's region + 1, 0 on the lines (uint8 when it fits: a quarter of the bytes)
    lab = np.add(labels, 1, dtype=np.uint8 if n < 255 else np.int32, casting="unsafe")
    # the lines take the offsets of the regions around them, weighted by how many of their pixels are near
    share = _box_share(~line, SHIFT_REACH)
    edge = hintfill.grow(line, 1) if n and line.any() else line  # (the lines and their 1 px soft edges)
    soft, side, cover = _soft_edges(labels, layer, share, edge)
    inv = 1.0 / share.reshape(-1)[soft]
    y0, y1, x0, x1 = box
    up = None
    if labels.shape == x.shape[1:]:
        sel = (slice(y0, y1), slice(x0, x1))
    else:
        rows = ((np.arange(y0, y1) + 0.5) * (labels.shape[0] / x.shape[1])).astype(np.intp)
        cols = ((np.arange(x0, x1) + 0.5) * (labels.shape[1] / x.shape[2])).astype(np.intp)
        sel = np.ix_(rows, cols)
        up = (
            tuple(t[y0:y1] for t in imageio.bilinear_taps(x.shape[1], labels.shape[0])),
            tuple(t[x0:x1] for t in imageio.bilinear_taps(x.shape[2], labels.shape[1])),
        )
    inside = lab.copy()  # (the means leave out the lines' soft edges)
    inside[edge] = 0
    # (lab's type, uint8 below 255 regions: bincount takes the run starts' labels alone, and intp was 8x
    # the bytes in each pass over it)
    inside = _pick(inside, sel).reshape(-1)
    runs = hintfill.runs(inside)
    count = hintfill.counts(inside, n + 1, runs)
    mean_in = _region_sums(inside, runs, fy_in.reshape(-1), n + 1) / np.maximum(count, 1)
    fixed = count == 0
    fixed[0] = True
    at = hintfill.runs(lab.reshape(-1))
    lab_runs = (lab.reshape(-1)[at], hintfill.run_lengths(at, lab.size))
    half = 0.5 * hintfill.counts(lab, n + 1, at) if n and (paper is not None or sky is not None) else None
    # (np.where, not lab[paper]: the pixels left out count as line, label 0, which is fixed already)
    if paper is not None and n:  # the open paper: the style's own lightness (its bevels beside the drawing)
        fixed |= hintfill.counts(np.where(paper, lab, 0), n + 1) > half
    cap = None
    if sky is not None and n:
        mostly = hintfill.counts(np.where(sky, lab, 0), n + 1) > half
        mostly &= ~fixed
        if mostly.any():
            # how much of each pixel is such a region (a line's soft edge in part, as the offsets), at the box
            share = mostly[lab].astype(np.float32)
            share.reshape(-1)[soft] = cover * mostly[lab.reshape(-1)[side]]
            weight = _brought(share, sel if up is None else up).reshape(-1)
            at = np.flatnonzero(weight > 0.0)
            # their level: the median of a sample of their pixels (the style's pale rim round the shapes is
            # no part of it, as it is of their mean)
            level = []
            for r in np.flatnonzero(mostly):
                px = np.flatnonzero(inside == r)
                px = px[:: max(1, len(px) // SKY_SAMPLES)]
                if len(px):
                    level.append((r, px, float(np.median(fy_in.reshape(-1)[px]))))
            cap = (at, weight[at], fy_in.reshape(-1)[at], level)
    lines = np.flatnonzero(inside == 0)
    line_top = fy_in.reshape(-1)[lines]
    line_top += np.float32(LINE_LIFT / 116.0)  # (L* = 116 fy - 16)
    rim = _rim_layers(edge, paper, sel, fy_in, sky, x[:, y0:y1, x0:x1])
    return Regions(
        lab,
        soft,
        side,
        inv,
        cover,
        sel if up is None else up,
        inside,
        runs,
        count,
        mean_in,
        fixed,
        cap,
        lines,
        line_top,
        rim,
        lab_runs,
    )


def _region_sums(labels: np.ndarray, runs: np.ndarray, fy: np.ndarray, n: int) -> np.ndarray:
    """np.bincount(labels, weights=fy, minlength=n) for flat region `labels` whose runs start at `runs`
    (`hintfill.runs`), summed a run at a time, then per region (as `hintfill.counts`; 0.2 ms at 256 px, by
    runs ~0.05). `fy`: CIELAB f terms of lightness (float32 in [4/29, 1]: multiples of 2^-26, the sums below
    2^27), whose float64 sums are exact in any order: the same values as bincount's."""
    return np.bincount(labels[runs], weights=np.add.reduceat(fy, runs, dtype=np.float64), minlength=n)


def _pick(a: np.ndarray, sel) -> np.ndarray:
    """a[sel] for `_shift_ahead`'s `sel`: the box's slices, or np.ix_ of its rows and columns at the labels' size
    (then as two np.take: numpy's fancy indexing of both took 4x as long)."""
    if isinstance(sel[0], slice):
        return a[sel]
    return np.take(np.take(a, sel[0].reshape(-1), axis=0), sel[1].reshape(-1), axis=1)


def _soft_edges(labels: np.ndarray, layer: np.ndarray | None, share: np.ndarray, edge: np.ndarray) -> tuple:
    """The pixels whose lightness offset `_shift` blends between a region's and the line's: (flat indices: the
    line pixels with a region pixel within SHIFT_REACH px (`share` > 0) and the region pixels beside a line,
    the pixel whose region's offset each takes (itself, or for a line pixel its most papery region pixel of
    the 3 x 3 around it; itself where there is none), the share c of each that is region (float32)). The
    share is the line layer's value (a black line's soft edge: 1 - its coverage of the pixel, moving with
    the line's sub-pixel position; clipped to [0, 1], 0 on a line pixel with no region pixel beside it).
    Without `layer`: whole pixels (1 on a region's, 0 on a line's). `edge`: the lines grown by 1 px."""
    h, w = labels.shape
    line = labels < 0
    soft = np.flatnonzero((line & (share > 0)) | (edge & ~line))
    side = soft.copy()
    if layer is None or not len(soft):
        return soft, side, (~line).reshape(-1)[soft].astype(np.float32)
    cover = np.take(layer.reshape(-1), soft).astype(np.float32, copy=False)  # (a new array: clipped in place)
    np.clip(cover, 0.0, 1.0, out=cover)
    at = np.nonzero(line.reshape(-1)[soft])[0]  # the line pixels: the region pixel around them most paper
    # (the layer on a padded copy, -1 on the lines and off the canvas: one look per neighbour)
    stride = w + 2
    val = np.full((h + 2, stride), -1.0, np.float32)
    val[1:-1, 1:-1] = layer
    val[1:-1, 1:-1][line] = -1.0  # (a masked copyto of the rest took a third longer)
    val = val.reshape(-1)
    own = soft[at]
    pad = own + 2 * (own // w)  # (y * stride + x: the pixel above-left of each in the padded copy)
    # the 8 neighbours in the padded copy (as views of it from each one's place: no index sums per look), and
    # the same ones at the labels' size (dy * w + dx)
    offsets = [(dy * stride + dx, dy * w + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    # one look at a time (np.take), keeping the best value and the first neighbour that has it (argmax's)
    base = stride + 1  # ((y + 1) * stride + x + 1 - pad: the pixel itself)
    best = np.take(val[base + offsets[0][0] :], pad)
    pick = np.full(len(pad), offsets[0][1], np.intp)
    more = np.empty(len(pad), bool)
    v = np.empty(len(pad), np.float32)
    for o, step in offsets[1:]:
        np.take(val[base + o :], pad, out=v, mode="clip")  # (all in range: "clip" is not buffered)
        np.greater(v, best, out=more)
        np.copyto(pick, step, where=more)
        np.maximum(best, v, out=best)
    found = best >= 0  # (-1: no region pixel around it)
    lost = ~found
    cover[at[lost]] = 0.0  # (no region pixel beside it: the line's offset alone)
    # (each line pixel's side: itself where no region pixel is around it; all of them in one write)
    np.copyto(pick, 0, where=lost)
    pick += own
    side[at] = pick
    return soft, side, cover


def _shift(fy: np.ndarray, rg: Regions) -> np.ndarray:
    """fy (the style's lightness, (H, W) over the box) moved per region so each region's mean is its
    input's, in place: fy + mean_r(fy_in) - mean_r(fy), and on the lines the mean of the offsets of the
    region pixels within SHIFT_REACH px where it darkens (so a line between two regions goes smoothly from
    one's to the other's, and its edges darken with a darkened region beside them: no lighter ring), none
    where it would lighten (a small shape the style shades much darker than colorize, lifted back, would get
    a pale grey band for an outline, seen at 1:1 on held-out emoji); `rg`: `_shift_ahead`'s regions.
    The offsets are anti-aliased: a pixel a line's soft edge covers in part takes the line's offset in that
    part and its region's in the rest (`_soft_edges`), and they come to the style's size bilinearly. Whole
    label pixels brought up by nearest neighbour stepped along every diagonal outline of a shape whose
    lightness moved (the demo's sun, lifted 12 L*: a 2 px staircase at the style's 512 px, which the x4
    upscale drew as 8 px teeth at 2048).
    In a dabbed sky (`cap`: the box pixels with a share of it, that share, their input's fy, and its regions'
    samples with their input's median fy) the offset matches the medians, not the means (the style's pale
    rim round the shapes lifts the mean), and where the style's lightness is above the input's it is taken
    down to it in the pixel's share of sky (anti-aliased as the offsets): the style may shade a sky darker,
    not lighter."""
    mean_out = _region_sums(rg.inside, rg.runs, fy.reshape(-1), len(rg.count)) / np.maximum(rg.count, 1)
    offset = (rg.mean_in - mean_out).astype(np.float32)
    offset[rg.fixed] = 0.0
    for r, px, level in rg.cap[3] if rg.cap is not None else ():  # a sky: by its median, not its mean
        offset[r] = level - float(np.median(fy.reshape(-1)[px]))
    # at the labels' size, 0 on the lines, by `lab`'s runs (np.take(offset, lab)'s values in a quarter of the time)
    field = np.repeat(np.take(offset, rg.lab_runs[0]), rg.lab_runs[1]).reshape(rg.lab.shape)
    if len(rg.soft):
        flat = field.reshape(-1)
        near = _box(field[None], SHIFT_REACH)[0].reshape(-1)[rg.soft]
        near *= rg.inv
        np.minimum(near, 0.0, out=near)  # darker only: a lifted region leaves its outline as dark as drawn
        own = flat[rg.side]  # the region's offset, in the pixel's share of region (`cover`)
        own -= near
        own *= rg.cover
        own += near
        flat[rg.soft] = own
    fy += _brought(field, rg.up)
    if rg.cap is not None:  # (lighter than the input by d: d less, in the pixel's share of sky)
        at, weight, top = rg.cap[:3]
        flat = fy.reshape(-1)
        over = flat[at] - top
        np.maximum(over, 0.0, out=over)
        over *= weight
        flat[at] -= over
    return fy


LINE_LIFT = 35.0  # L*: a style may shade the artist's lines at most this much lighter than they are drawn


def _line_cap(fy: np.ndarray, rg: Regions) -> np.ndarray:
    """fy (the style's lightness over the box, before `_shift` moves it) on the lines and their 1 px edges no more than
    LINE_LIFT L* above the input's there (`rg.line_top`), in place. 3D Clay shades a shape's outline as a grey bevel
    (L* ~31 on the demo house at 512 px) but a line with paper on both sides (a ground line, a scooter's
    stem, lines with no shape) as a pale ghost of itself (L* ~76): the drawing fades where it has no fill."""
    flat = fy.reshape(-1)
    flat[rg.lines] = np.minimum(flat[rg.lines], rg.line_top)
    return fy


RIM_CLEAR = 8  # px at the labels' size: a line pixel (or its 1 px edge) with a shape (neither line nor open
# paper) this close is an outline's (across it: lines up to ~7 px at 256, 28 px at a 1024 px canvas), and
# `_rimless` leaves it alone; farther off, the line is free (paper on both sides)
RIM_BAND = 4  # px at the style's size past a free line and its 1 px edge that `_rimless` looks at
RIM_THICK = 3  # px at the labels' size: a line thicker than twice this (24 px at a 1024 px canvas) is no free
# line: 3D Clay draws a black blob as a shape, its bevelled outline a few pixels past the drawn edge; lifted to
# the paper there, it left a soft grey smear where the outline had been (held-out at 1:1)
RIM_RAMP = 12  # px at the style's size along a free line from where it meets an outline over which `_rimless`
# comes in (a smoothstep): all at once, the lifted paper beside the ground line stepped against the shadow
# kept beside the outline it runs into (the demo house's tree trunk, seen at 1:1 in the upscaled result)
RIM_CORE = 50.0  # L*: a free line's pixels darker than this in the style's input (the drawn line and the dark
# half of its anti-aliased edge) are the line (`_line_cap`'s); `_rimless` works on the pixels beside them
RIM_PAPER = 97.0  # L*: `_rimless` lifts the paper this light in the style's input (and a dabbed sky), and the
# line's anti-aliased edge between it and the line (RIM_EDGE px), not a grey fill in the paper beside a line,
# which keeps the style's shading (lifted to its input, a pale band beside the line, seen at 1:1)
RIM_EDGE = 2  # px at the style's size
RIM_SIDE = (
    3  # px at the style's size: how far the open paper's side of a line reaches in past the lines' 1 px
)
# edges at the labels' size (2 px at the style's size where it is twice theirs) to the clear paper by the line


def _rim_layers(
    edge: np.ndarray,
    paper: np.ndarray | None,
    sel,
    fy_in: np.ndarray,
    sky: np.ndarray | None = None,
    x: np.ndarray | None = None,
) -> tuple:
    """`_rimless`' pixels over the box of the style's size: beside the free lines (at the labels' size the
    lines and their 1 px edges, `edge`, with no shape (what is neither line nor the open background: fill's
    open `paper`, and `sky`, a sky a dab filled) within RIM_CLEAR px), the open background within RIM_BAND px
    of them and their own pixels lighter than RIM_CORE in the style's input (their anti-aliased edges), within
    RIM_BAND + 2 px of their pixels darker than that (the drawn line), where the input is paper white, or sky,
    or within RIM_EDGE px of both it and the line, at the box (`sel`: how the labels' pixels come to it, as
    `_shift_ahead` brings `inside`; `fy_in`: the style's input's fy there), then the line's dark half within
    RIM_EDGE px of those: (their flat indices, what `_rimless` takes each to (the drawn edge in the line's
    shade; the open background's own), how far it goes at each or None: all the way, how many come first,
    lifted only; the rest only darkened), or () where there is no free line.
    With them, lifted all the way (no ramp), the open background's side of every other line (an outline's; the
    blobs aside): the open paper past the lines' 1 px edges at the labels' size, grown 4-connected RIM_SIDE px
    into the clear pixels of those edges and RIM_EDGE px into the light half of their anti-aliased edge (never
    across a line's dark middle: a shape's side of its outline keeps the style's bevel), within RIM_BAND + 1
    px of a line: 3D Clay fills the corners where lines meet with a grey fillet (a contact shadow: the demo
    house's trunk on the ground line, under its crown, the walls under the eaves), draws the ground line under
    a shape thicker with a shadow below it, and a shape's outline a few pixels past the drawn one, hazy round an
    outline's free end (the eave tips; session 17)."""
    if sky is not None:  # (the open background: the paper and a sky a dab filled)
        paper = sky if paper is None else paper | sky
    if paper is None or not edge.any():
        return ()
    # (a line drawn thicker than 2 RIM_THICK px is a black shape to the style, which bevels it as one)
    # (the lines worn away RIM_THICK + 1 px, off the canvas line: ~grow(~edge), as one window without the nots)
    thick = hintfill.grow(hintfill.window(edge, RIM_THICK + 1, np.logical_and, True), RIM_THICK + 2)
    free = hintfill.grow(~(edge | paper), RIM_CLEAR)
    free |= thick
    np.logical_not(free, out=free)
    free &= edge
    free, on, thick = _pick(free, sel), _pick(edge, sel), _pick(thick, sel)
    h, w = on.shape
    bounds = _bounds_of(on & ~thick)
    if bounds is None:
        return ()
    # (the work over the lines' box and the ramp's reach around it)
    m = RIM_BAND + RIM_RAMP + 1
    y0, y1 = max(0, bounds[0] - m), min(h, bounds[1] + m)
    x0, x1 = max(0, bounds[2] - m), min(w, bounds[3] + m)
    free, on, thick = free[y0:y1, x0:x1], on[y0:y1, x0:x1], thick[y0:y1, x0:x1]
    top = fy_in[y0:y1, x0:x1]
    light = top >= np.float32((RIM_CORE + 16.0) / 116.0)
    core = free & ~light  # (the drawn line: `_line_cap`'s)
    drawn = on & ~light & ~thick  # (every line's, an outline's too; the blobs aside)
    if not drawn.any():
        return ()
    open_ = _pick(paper, sel)[y0:y1, x0:x1]
    # (the paper white in the input and a dabbed sky, and the line's anti-aliased edge between them and the line)
    clear = top >= np.float32((RIM_PAPER + 16.0) / 116.0)
    if sky is not None:
        clear |= _pick(sky, sel)[y0:y1, x0:x1]
    # the open paper's side of every line: the open background past the lines' 1 px edges at the labels' size,
    # into the clear pixels nearer the line and RIM_EDGE px into its anti-aliased edge, never across its dark
    # middle (a shape's side of its outline is no part of it), RIM_BAND px out from the line
    # (4-connected: never between the pixels of a diagonal line's middle; on copies padded 1 px, flat: a step
    # is four shifted ORs of the rows end to end and the pixels it may take, with no mask copied)
    hh, stride = on.shape[0], on.shape[1] + 2
    pad = np.zeros((3, hh + 2, stride), bool)  # the side, and the pixels the first and last steps may take
    np.logical_and(open_, ~on, out=pad[0, 1:-1, 1:-1])
    pad[0, 1:-1, 1:-1] &= clear
    np.logical_and(on, clear, out=pad[1, 1:-1, 1:-1])
    np.logical_and(on, light, out=pad[2, 1:-1, 1:-1])
    flat = pad.reshape(3, -1)
    s, inner = flat[0], slice(stride, -stride)
    grown = np.empty(len(s) - 2 * stride, bool)  # (centred on the padded rows 1..h)
    for i in range(RIM_SIDE + RIM_EDGE):
        np.logical_or(s[: -2 * stride], s[2 * stride :], out=grown)  # above, below
        grown |= s[stride - 1 : -stride - 1]  # left
        grown |= s[stride + 1 : len(s) - stride + 1]  # right
        grown &= flat[1 if i < RIM_SIDE else 2, inner]
        s[inner] |= grown
    side = pad[0, 1:-1, 1:-1]
    side &= hintfill.grow(drawn, RIM_BAND + 1)
    side &= ~thick
    band = np.zeros_like(side)
    if core.any():
        band = hintfill.grow(free, RIM_BAND)
        band &= free | (open_ & ~on)  # (the lines of an outline nearby are no part of it)
        band &= light
        band &= hintfill.grow(core, RIM_BAND + 2)
        beside = hintfill.grow(clear, RIM_EDGE)
        band &= clear | (hintfill.grow(core, RIM_EDGE) & beside)
        beside &= (
            core  # (the line's dark half beside them: `_rimless` takes it to the shade below, no lighter)
        )
    else:
        beside = core
    band |= side
    if not band.any() and not beside.any():
        return ()
    # the line as drawn in the shade `_line_cap` gives it: the input's lightness between the drawn line's (the
    # darkest within RIM_EDGE + 1 px) and the background's (the lightest within RIM_EDGE + 2 px) taken to between
    # the line's LINE_LIFT L* lighter and the background's (a dabbed sky: the input's own, as `_shift` shades it)
    # (RIM_EDGE + 1 3 x 3 mins and RIM_EDGE + 2 maxes within the image, as one square window each)
    # (worked out at the pixels it is wanted at alone, `band`'s then `beside`'s: the same values; flat indices,
    # a quarter of np.nonzero's time)
    at = np.flatnonzero(band)
    n = len(at)
    at = np.concatenate([at, np.flatnonzero(beside)])
    ys, xs = np.divmod(at, band.shape[1])
    lo = hintfill.window(top, RIM_EDGE + 1, np.minimum, np.inf).reshape(-1)[at]
    hi = hintfill.window(top, RIM_EDGE + 2, np.maximum, -np.inf).reshape(-1)[at]
    span = hi - lo
    scale = np.minimum(lo + np.float32(LINE_LIFT / 116.0), hi)
    np.subtract(hi, scale, out=scale)
    np.divide(scale, span, out=scale, where=span > 1e-3)
    scale[span <= 1e-3] = 1.0
    if sky is not None:
        scale[hintfill.grow(_pick(sky, sel)[y0:y1, x0:x1], RIM_EDGE + 2).reshape(-1)[at]] = 1.0
    shade = hi - (hi - top[ys, xs]) * scale
    # how far each pixel is from the lines that are an outline's, as a smoothstep up to 1 at RIM_RAMP px
    # (the open paper's side of every line all the way: lifted there beside the outline as beside the free line)
    weight = None
    near = on & ~free
    if core.any() and near.any():
        reached = np.zeros(near.shape, np.uint8)  # how many of the RIM_RAMP growths (3 x 3) reach each pixel
        for _ in range(RIM_RAMP):
            near = hintfill.max3(near)
            reached += near
        ramp = (RIM_RAMP - reached[ys, xs]).astype(np.float32)  # (at the pixels wanted: the same values)
        ramp *= np.float32(1.0 / RIM_RAMP)
        ramp *= ramp * (3.0 - 2.0 * ramp)
        ramp[side[ys, xs]] = 1.0
        weight = ramp
    at = (ys + y0) * w + xs + x0
    colours = None
    if x is not None and sky is not None and n:  # (the input's own colours where it is lifted, unsmoothed)
        ly, lx = ys[:n] + y0, xs[:n] + x0
        fl = colour.lab_f(x[:, ly, lx], 0.5, 0.5)
        colours = (ly, lx, fl[0] - fl[1], fl[2] - fl[1])
    return at, shade, weight, n, colours


def _rimless(fy: np.ndarray, rg: Regions, f: np.ndarray | None = None) -> np.ndarray:
    """fy (the style's lightness over the box, after `_shift` moved it) beside the free lines no darker than
    the style's input there, in place, over `_rim_layers`' pixels: the open paper (or a dabbed sky) within
    RIM_BAND px of a line with it on both sides, and the line's own anti-aliased edge. 3D Clay draws such a
    line as a pale tube a few pixels wider than the drawn line, with a dark grey outline of its own 2-4 px
    from it (under a house's ground line, a grey shadow), and rounds a cap past each of its ends; `_line_cap`
    darkens the tube on the line, and the rest of it stayed: a light rim between the dark line and the tube's
    outline (the demo house's ground line at 512 px: up to 19 L* lighter than the outline past it; kept by the
    upscaler), a grey band or shadow along the line, and a pale crescent round its tips. Fluent 3D draws no
    outlines: none of it is the clay's shading of a shape, and the line keeps the edges it was drawn with
    (keep_paper's `_hazeless` then takes out what of the tube lay farther out, past the white now beside the
    line). In a dabbed sky `_shift` lets the style only darken the sky: there the tube came back as a darker
    halo round the line, and the sky now meets the line as it was given. The line's anti-aliased edge is taken
    to the drawn one in the line's shade (`_rim_layers`' targets: its light half no darker, its dark half no
    lighter; kept at its input and capped LINE_LIFT above it, the edge flattened to a pale contour round the
    line's dark middle, which the upscaler drew as a light outline). In a dabbed sky the lifted pixels take the
    input's own colours too, not keep_colours' smoothed ones (`f`, its colour planes over the box: the line's
    grey carried a pixel or two into the sky, a pale fringe once the halo was gone). Elsewhere only lightens: the line stays
    as dark and as wide as drawn; its darkening comes in over RIM_RAMP px from where a free line meets an
    outline, whose shading it leaves. The open paper's side of the outlines is lifted the same way (`_rim_layers`)."""
    if not rg.rim:
        return fy
    at, top, ramp, n, colours = rg.rim
    flat = fy.reshape(-1)
    own = flat[at]
    up = np.subtract(top, own)
    np.maximum(up[:n], 0.0, out=up[:n])  # (lifted)
    np.minimum(up[n:], 0.0, out=up[n:])  # (the line's dark half: darkened)
    if ramp is not None:  # (coming in from where the line meets an outline)
        up *= ramp
    own += up
    flat[at] = own
    if colours is not None and f is not None:  # (a dabbed sky: its own colour beside the line, unsmoothed)
        ly, lx, ca, cb = colours
        w = None if ramp is None else ramp[:n]
        for plane, c in ((f[0], ca), (f[2], cb)):
            cur = plane[ly, lx]
            c = c - cur
            if w is not None:
                c *= w
            plane[ly, lx] = cur + c
    return fy


def _brought(field: np.ndarray, up) -> np.ndarray:
    """`field` (at the labels' size) at the box of the style's size: `up` as `_shift_ahead` gives it (the
    box's slices where the sizes match, else imageio.bilinear_taps' rows and columns)."""
    if isinstance(up[0], slice):
        return field[up]
    (b, a, t), (bx, ax, tx) = up
    rows = field[b]
    rows += (field[a] - rows) * t[:, None]
    out = np.take(rows, bx, axis=1)  # (np.take: rows[:, bx] is numpy's slow path, a slice before an index)
    out += (np.take(rows, ax, axis=1) - out) * tx
    return out


PAPER_MARGIN = (10, 16)  # px at the style's work size: keep_paper keeps the style's output within the first
# of the drawing (its bevels and edge shading), and the paper white from the second on, ramping smoothly between


def keep_paper(out: np.ndarray, x: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Paper stays paper through a style that keeps your colours: the open paper follow my colours gave back
    as white (`paper`: (h, w) bool at colorize's work size, from hintfill.fill) that is still white in the
    style's input `x` (keep my lines multiplies a grey stroke or grey fill of the sketch into it: drawing)
    takes that white back in the style's output `out`, in place; both planar (3, H, W) at the style's work
    size. Next to the drawing (the lines, and every shape, a white one enclosed by lines too) the style's
    bevels and shading of the shapes' edges stay: `out` is kept within PAPER_MARGIN[0] px of it, and
    the paper comes back over a smooth ramp to PAPER_MARGIN[1] px. 3D Clay learned from Fluent 3D emoji on
    white paper without shadows, yet on drawings unlike them it paints faint grey smudges into the paper
    12-40 px from the shapes (the demo house at 512 px). Its bevels and the outlines it rounds outward
    reach 5 px past the drawing on the demo house (8 at a 256 px canvas, where it works at 256) and 10 on
    held-out emoji at 512 (99th percentile of their lightness below the paper's, median over 30); a
    margin of 4 px softened their outer edge, seen at 1:1. In the margin and the ramp the style's darkness is
    kept only as far as it fades out from the drawing (`_hazeless`): its haze past a white gap came back as a
    faint grey frame, its grey patches past a pale rim beside a line as smudges. Costs 1 ms at 256 px, 5 at
    512 (and ~4 for `_hazeless`)."""
    drawing = _drawing(paper, x)
    return _toward(out, x, _hazeless(1.0 - _weight_of(drawing), out, drawing))


SKYLESS_BAND = 3  # px at the style's work size beside a dabbed sky whose sky-tinted line edges go grey too
SKYLESS_TINT = 0.25  # ... a pixel there is the sky's colour times a grey (a line laid over the sky) when its
# channels' ratios to the sky's colour differ by less than this


def skyless(x: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """What a style that keeps your colours is given to run on: its input `x` (planar (3, H, W) in [-1, 1]) with
    the open background a dab filled flat (`sky`: hintfill.fill's fourth result, (h, w) bool, any size, brought
    to (H, W) by nearest neighbour) given back as white paper, and the lines laid over it (the sky's colour
    times their grey, within SKYLESS_BAND px of it) as grey lines on paper. 3D Clay learned from emoji on white
    paper: on a drawing in a blue sky it washed the shapes beside the sky and their outlines out to white
    (a dabbed cactus white but for the dab's arm, a watermelon's rind white, a dog's orange ground cream)
    while the same drawing on paper comes out shaded in its colours. keep_colours then takes the colours
    (the sky's too) from `x` itself, and a sky's regions take none of the style's light (`_shift`'s cap), so
    the sky stays the dab's colour as before; as on paper, the style's smudges in the sky away from the drawing
    go (the pipeline moves it back to `x` as keep_paper does the paper, without `_hazeless`: on a coloured sky
    every pixel is dark). `x` itself where there is no sky; else a new array."""
    h, w = x.shape[1:]
    if sky.shape != (h, w):
        rows = ((np.arange(h) + 0.5) * (sky.shape[0] / h)).astype(np.intp)
        cols = ((np.arange(w) + 0.5) * (sky.shape[1] / w)).astype(np.intp)
        sky = sky[rows][:, cols]
    if not sky.any():
        return x
    out = x.copy()
    # (flat indices and np.take: x[:, mask] takes 4x as long)
    at = np.flatnonzero(sky)
    at = at[:: max(1, len(at) // SKY_SAMPLES)]
    tint = np.median(np.take(out.reshape(3, -1), at, axis=1), axis=1)
    tint = np.maximum((tint + 1.0) * 0.5, 1e-3)  # the sky's colour, [0, 1]
    np.copyto(out, 1.0, where=sky)
    band = hintfill.grow(sky, SKYLESS_BAND)
    band &= ~sky
    at = np.flatnonzero(band)
    ratio = (np.take(x.reshape(3, -1), at, axis=1) + 1.0) * 0.5 / tint[:, None]
    lo, hi = ratio.min(axis=0), ratio.max(axis=0)
    grey = hi - lo < SKYLESS_TINT * np.maximum(hi, 1e-3)
    if grey.any():
        out.reshape(3, -1)[:, at[grey]] = np.clip(ratio[:, grey].mean(axis=0), 0.0, 1.0) * 2.0 - 1.0
    return out


def _hazeless(
    rest: np.ndarray, out: np.ndarray, drawing: np.ndarray, plan: tuple | None = None
) -> np.ndarray:
    """keep_paper's `rest` (1 - its weight) with the style's haze in the paper beside the drawing taken out:
    there (rest > 0 off `drawing`, `_drawing`'s mask of the same size) the style's darkness (1 - its darkest
    channel) is kept only as far as it reaches from the drawing without getting darker on the way (a bevel
    fading into the paper: as it was), not a smudge past a lighter gap: 3D Clay's grey smudge 10-16 px from
    the demo house's wall at 512 px (cut by the ramp into a faint grey frame, 248 of 255), and the grey
    patches it paints 3-10 px beside a line with paper on both sides, past the pale rim it gives the line.
    A new array where it changes anything. `plan`: `_haze_plan(rest, drawing)` when it was made already (it
    needs no `out`: the pipeline makes it beside the style's run)."""
    plan = _haze_plan(rest, drawing) if plan is None else plan
    if plan is None:
        return rest
    y0, y1, x0, x1, inside, pos, seed = plan
    o = out[:, y0:y1, x0:x1]
    # the darkness in 8-bit levels (1 - the darkest channel; uint8: a quarter of the bytes to pass over)
    dark = np.minimum(o[0], o[1])
    np.minimum(dark, o[2], out=dark)
    np.subtract(1.0, dark, out=dark)
    dark *= 127.5
    dark += 0.5
    np.clip(dark, 0, 255, out=dark)
    dark = dark.astype(np.uint8)
    reach = np.bitwise_and(dark, seed)  # (the drawing: its own darkness; 255 there, 0 elsewhere)
    top = np.bitwise_and(dark, pos)  # (the paper beyond the ramp: none)
    # out from the drawing, a 3 x 3 step at a time, until a step changes nothing (within 5 steps on 26 of 44
    # test drawings, the bench's sketch after 2; the demo house takes all 17)
    for _ in range(PAPER_MARGIN[1] + 1):
        grown = np.minimum(top, hintfill.max3(reach))
        np.maximum(grown, reach, out=grown)
        if not (grown > reach).any():
            break
        reach = grown
    cap = inside & (dark > reach)
    if not cap.any():
        return rest
    rest = rest.copy()
    rest[y0:y1, x0:x1][cap] *= reach[cap].astype(np.float32) / dark[cap]
    return rest


def _haze_plan(rest: np.ndarray, drawing: np.ndarray) -> tuple | None:
    """What `_hazeless` needs of `rest` and `drawing` alone: the box it works on (rest > 0 and 1 px round it),
    there the paper it may cap (rest > 0 off the drawing), and rest > 0 and the drawing as uint8 masks (255 or
    0, for a bitwise and); None where rest is 0 everywhere."""
    box = _bounds_of(rest > 0)
    if box is None:
        return None
    y0, y1, x0, x1 = (max(0, box[0] - 1), box[1] + 1, max(0, box[2] - 1), box[3] + 1)
    pos, seed = rest[y0:y1, x0:x1] > 0, drawing[y0:y1, x0:x1]
    inside = pos & ~seed
    return y0, y1, x0, x1, inside, pos.view(np.uint8) * np.uint8(255), seed.view(np.uint8) * np.uint8(255)


def _bounds_of(mask: np.ndarray) -> tuple | None:
    """(y0, y1, x0, x1) of (H, W) bool `mask`'s bounding box, or None where it is all False."""
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1) if len(ys) else None


def _toward(out: np.ndarray, x: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """`out` moved toward `x` by the weight w with `rest` = 1 - w (1: `out`, 0: `x`), in place."""
    out -= x
    out *= rest
    out += x
    return out


def _keep_ahead(
    x: np.ndarray,
    paper: np.ndarray | None,
    labels: np.ndarray | None = None,
    layer: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> tuple:
    """What keeping colours (and the paper) needs of the style's input `x` alone, worked out while the style
    runs: (1 - the paper weight (what keep_paper keeps of the style's output) or None, the box of rows and
    columns that are not all paper, the input's colours over it, the regions whose lightness is kept
    (`_shift_ahead`) or None without `labels`, `_hazeless`' plan over the box or None). Outside the box
    keep_paper gives back `x` itself (weight 1), so keep_colours skips it."""
    h, w = x.shape[1:]
    rest, drawing, box, haze = None, None, (0, h, 0, w), None
    if paper is not None:
        drawing = _drawing(paper, x)
        rest = 1.0 - _weight_of(drawing)
        drawn = rest != 0.0
        box = _bounds_of(drawn) or (0, 0, 0, 0)
        y0, y1, x0, x1 = box
        haze = _haze_plan(rest[y0:y1, x0:x1], drawing[y0:y1, x0:x1])
    f = _input_colours(x, box)
    shift = None
    if labels is not None and f.size:
        shift = _shift_ahead(labels, paper, x, f[1], box, layer, sky)
    return rest, drawing, box, f, shift, haze


def _keep(
    out: np.ndarray,
    x: np.ndarray,
    rest: np.ndarray | None,
    drawing: np.ndarray | None,
    box: tuple,
    f: np.ndarray,
    shift=None,
    haze=None,
) -> np.ndarray:
    """keep_colours (and keep_paper with `rest`, 1 - its weight) on the style's output `out`, in place, with
    `_keep_ahead`'s (rest, drawing, box, f, shift, haze): the same values as keep_colours(out, x, labels) then
    keep_paper, working on the box alone."""
    y0, y1, x0, x1 = box
    o = out[:, y0:y1, x0:x1]
    if o.size:
        _keep_colours_of(o, f, shift)
    if rest is not None:
        _toward(o, x[:, y0:y1, x0:x1], _hazeless(rest[y0:y1, x0:x1], o, drawing[y0:y1, x0:x1], haze))
        out[:, :y0] = x[:, :y0]  # all paper (weight 1): x itself
        out[:, y1:] = x[:, y1:]
        out[:, y0:y1, :x0] = x[:, y0:y1, :x0]
        out[:, y0:y1, x1:] = x[:, y0:y1, x1:]
    return out


PAPER_WHITE = 0.94  # model space ([-1, 1]; 0.97 in [0, 1]): the style's input is paper-white above this


def _paper_weight(paper: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1] for the style's input `x` (3, H, W): 1 on the open paper PAPER_MARGIN[1] px
    or more from the drawing, 0 within PAPER_MARGIN[0] px of it, a smoothstep between (`_weight_of`)."""
    return _weight_of(_drawing(paper, x))


def _drawing(paper: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(H, W) bool for the style's input `x` (3, H, W): what is not open paper. `paper` (bool, any size) is
    brought to (H, W) first; the drawing is the rest, and whatever in `x` is not white."""
    h, w = x.shape[1:]
    near = x.min(axis=0) < PAPER_WHITE
    if paper.shape == (h, w):  # (the nearest neighbour below would be `paper` itself: no gathers)
        near |= ~paper
    else:  # the paper at the style's size: nearest neighbour (a tenth of a bilinear resize's time; the ramp
        # smooths)
        rows = ((np.arange(h) + 0.5) * (paper.shape[0] / h)).astype(np.intp)
        cols = ((np.arange(w) + 0.5) * (paper.shape[1] / w)).astype(np.intp)
        near |= ~paper[rows][:, cols]
    return near


def _weight_of(drawing: np.ndarray) -> np.ndarray:
    """`_paper_weight` of `_drawing`'s mask. The distance is the 3 x 3 grow's (on a diagonal edge the margin is
    up to 1.4x wider), the ramp a box mean."""
    r = (PAPER_MARGIN[1] - PAPER_MARGIN[0]) // 2
    near = hintfill.grow(drawing, PAPER_MARGIN[0] + r)
    # the share of far paper around each pixel (edges repeated: the canvas edge cuts no ramp into the paper)
    t = _box_share(~near, r)
    # t * t * (3.0 - 2.0 * t), in place: the same operations in the same order, two whole-plane temporaries less
    s = 2.0 * t
    np.subtract(3.0, s, out=s)
    t *= t
    t *= s
    return t


def _box_share(mask: np.ndarray, r: int) -> np.ndarray:
    """`_box` of a (H, W) bool mask, the share of True pixels around each (float32), from the counts summed as
    `_box` sums (along a row, then down a column, edges repeated) in 8-bit integers (16 where (2r + 1)^2 > 255):
    a quarter of float32's bytes (0.13 ms at 256 px, r = 3; 0.4 by a summed-area table of int32, 1.2 as `_box`).
    The counts are whole numbers, exact either way: the same values as `_box`."""
    h, w = mask.shape
    k = 2 * r + 1
    if r < 1:
        return mask.astype(np.float32)
    p = hintfill.edged(mask.view(np.uint8), r, np.uint16 if k * k > 255 else np.uint8)
    rows = np.add(p[:, 0:w], p[:, 1 : 1 + w])  # (r >= 1: the first two added at once, no copy pass)
    for dx in range(2, k):
        rows += p[:, dx : dx + w]
    count = np.add(rows[0:h], rows[1 : 1 + h])
    for dy in range(2, k):
        count += rows[dy : dy + h]
    out = count.astype(np.float32)
    out *= np.float32(1.0 / (k * k))
    return out


def _box(planes: np.ndarray, r: int) -> np.ndarray:
    """The mean over (2r + 1)^2 px around each pixel of planar (C, H, W) float32 (edges repeated)."""
    h, w = planes.shape[1:]
    k = 2 * r + 1
    if r < 1:
        return planes.astype(np.float32)
    p = hintfill.edged(planes, r)
    rows = np.add(p[:, :, 0:w], p[:, :, 1 : 1 + w])  # (r >= 1; the first two added at once: no copy pass)
    for dx in range(2, k):
        rows += p[:, :, dx : dx + w]
    out = np.add(rows[:, 0:h], rows[:, 1 : 1 + h])
    for dy in range(2, k):
        out += rows[:, dy : dy + h]
    out *= 1.0 / (k * k)
    return out


# luma and the two colour differences (BT.601 YCbCr, on the values as they are: a linear map of R, G, B) and back
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_RGB = np.linalg.inv(_YCC.astype(np.float64)).astype(np.float32)
UNRING_BAND = 1 << 18  # output pixels per band of rows `unring` works on (its temporaries: a few MB)
UNRING_CHUNK = 1 << 14  # windows `unring` gathers at a time (3 MB each copy at x4)
UNRING_FLAT = (
    0.02  # model space ([-1, 1]): a 2 x 2 window of the input whose luma and colour differences span
)
# less than this (2.5 levels of 255) is flat, and (with its neighbours flat) left to the upscaler


def _planes(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The 3 x 3 colour map `m` applied to planar (3, ...) `x`: a new float32 array."""
    out = np.empty(x.shape, np.float32)
    for i in range(3):
        np.multiply(x[0], m[i, 0], out=out[i])
        out[i] += m[i, 1] * x[1]
        out[i] += m[i, 2] * x[2]
    return out


def unring(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The upscaler's result `out` (planar (3, s H, s W), s even) held, in place, within what its input `x`
    (3, H, W) gives each pixel: its luma and each of its two colour differences between the least and the most
    of the 2 x 2 input pixels a bilinear enlargement would mix there. The x4 upscaler rings along every edge:
    a light or dark, often coloured line a pixel wide each side of an outline at its size (a blue-green one
    between the demo house's dark outline and its red wall, b* -8 where neither side is bluer than b* +1; a
    rose one along its neutral grey ground line), which no mix of the two sides can make. Its sharp edges are
    such mixes and stay; luma and colour are held apart, so a mix of a red and a grey can not turn blue-green
    (held channel by channel in R, G, B, it can). Any other size ratio: `out` as it is."""
    h, w = x.shape[1:]
    if not h or not w or out.shape[1] % h or out.shape[1] // h != out.shape[2] / w:
        return out
    s = out.shape[1] // h
    if s < 2 or s % 2:
        return out
    pad = hintfill.edged(_planes(_YCC, x), 1)
    lo = np.minimum(
        np.minimum(pad[:, :-1, :-1], pad[:, 1:, :-1]), np.minimum(pad[:, :-1, 1:], pad[:, 1:, 1:])
    )
    hi = np.maximum(
        np.maximum(pad[:, :-1, :-1], pad[:, 1:, :-1]), np.maximum(pad[:, :-1, 1:], pad[:, 1:, 1:])
    )
    del pad

    # output pixel i lies between input pixels (i + 0.5) / s - 0.5 either side: in 2 x 2 window (i + s / 2) // s,
    # whole blocks of s x s output pixels (s / 2 at the edges) per window: each a view of `out`, no gathers
    def spans(n: int) -> tuple:  # (first output px, last + 1, first window, last + 1)
        return (0, s // 2, 0, 1), (s // 2, n * s - s // 2, 1, n), (n * s - s // 2, n * s, n, n + 1)

    # the inside's windows where the input changes (and those beside them: the ring lies a pixel past an edge),
    # gathered in chunks; the flat rest is the upscaler's own (its smooth shading, no edge to ring along)
    edgy = (hi - lo).max(axis=0)[1:h, 1:w] > UNRING_FLAT
    if edgy.size:
        view = out[:, s // 2 : h * s - s // 2, s // 2 : w * s - s // 2].reshape(3, h - 1, s, w - 1, s)
        ps, qs = np.nonzero(hintfill.grow(edgy, 1))
        for c in range(0, len(ps), UNRING_CHUNK):
            p, q = ps[c : c + UNRING_CHUNK], qs[c : c + UNRING_CHUNK]
            ycc = _planes(_YCC, np.moveaxis(view[:, p, :, q, :], 0, 1))  # (3, windows, s, s)
            for i in range(3):
                np.clip(ycc[i], lo[i, p + 1, q + 1, None, None], hi[i, p + 1, q + 1, None, None], out=ycc[i])
            view[:, p, :, q, :] = np.moveaxis(_planes(_RGB, ycc), 0, 1)
    # the edges' half windows: whole blocks (views of `out`)
    step = max(1, UNRING_BAND // (out.shape[2] * s))  # windows of rows per band
    for r0, r1, p0, p1 in spans(h):
        if p1 <= p0:  # (one row of input pixels: no inside)
            continue
        k = (r1 - r0) // (p1 - p0)
        for a in range(p0, p1, step):
            b = min(p1, a + step)
            rows = out[:, r0 + (a - p0) * k : r0 + (b - p0) * k]
            for c0, c1, q0, q1 in spans(w):
                if q1 <= q0 or (k == s and c1 - c0 == (q1 - q0) * s):  # (the inside: done above)
                    continue
                kc = (c1 - c0) // (q1 - q0)
                block = rows[:, :, c0:c1].reshape(3, b - a, k, q1 - q0, kc)
                ycc = _planes(_YCC, block)
                for i in range(3):
                    np.clip(ycc[i], lo[i, a:b, None, q0:q1, None], hi[i, a:b, None, q0:q1, None], out=ycc[i])
                block[...] = _planes(_RGB, ycc)
    return out


def _mix(out: np.ndarray, x: np.ndarray, strength: float) -> np.ndarray:
    """x + strength * (out - x), in place in `out` (x brought to out's size first: the upscale stage)."""
    if x.shape != out.shape:
        x = resize_planar(x, *out.shape[1:])
    out -= x
    out *= strength
    out += x
    return out


def _info(model) -> ModelInfo:
    return model if isinstance(model, ModelInfo) else describe_model(model)


def check_options(models: dict, strength: dict[str, float], lines) -> dict[str, ModelInfo]:
    """{stage: ModelInfo} of the stages `models` runs, in order; UserError for a bad stage, strength or model.
    (run() checks them; a batch checks them once before its first picture.)"""
    stages = [k for k in STAGES if models.get(k)]
    if not stages:
        raise UserError(f"choose at least one model to run ({', '.join(STAGES)}).")
    unknown = (set(models) | set(strength) | set(lines)) - set(STAGES)
    if unknown:
        raise UserError(f"unknown pipeline stage(s) {sorted(unknown)}; the stages are {', '.join(STAGES)}.")
    for k, v in strength.items():
        if not 0.0 <= v <= 1.0:  # NaN fails too
            raise UserError(f"the {k} strength must be between 0 and 1, got {v}.")
    try:
        infos = {k: _info(models[k]) for k in stages}
    except ModelError as exc:
        raise UserError(str(exc)) from None
    for k, info in infos.items():
        if info.kind != k:
            raise UserError(f"{info.name} is a {info.kind} model, not a {k} model.")
    return infos


def run(
    rgba: np.ndarray,
    *,
    models: dict,
    job=None,
    threads: int = 0,
    provider: str = "auto",
    size: int | None = None,
    strength: dict[str, float] | None = None,
    lines: tuple[str, ...] | list[str] | set[str] = KEEP_LINES,
    fill_hints: bool = True,
) -> dict[str, np.ndarray]:
    """Run the stages present in `models` ({"colorize"|"stylize"|"upscale": ModelInfo or path}) in order.

    Returns {stage: RGBA float bottom-up image}, each at least the sketch's size (upscale: `scale` x the
    size the stage before it worked at, if larger: 2048 px after 3D Clay at 512 px). Stylize takes the
    colorized result as the artist sees it (lines in when colorize keeps them). `size` resizes the sketch so
    its long side is `size` pixels first (default: its own size). `strength` ({stage: 0..1}, default 1)
    mixes each stage's input with its output; `lines` names the stages whose results get the sketch's lines multiplied back
    (the upscale result follows the stage it enlarges). `fill_hints` fills each region the artist dabbed
    a colour into, to its lines, in that colour, and gives the open paper around the drawing back as white
    paper, which a style that keeps your colours then keeps white (hintfill, keep_paper: on by default; off
    shows the model alone).
    Bad input raises UserError with a clear message.
    """
    job = job or _NoJob()
    strength = dict(strength or {})
    infos = check_options(models, strength, lines)
    stages = list(infos)
    try:
        if size is not None and size < 1:
            raise ImageError(f"the work size must be a positive number of pixels, got {size}.")
        check_job(rgba.shape[0], rgba.shape[1], infos, size, fill_hints=fill_hints)
        x = to_model_space(rgba)
        del rgba  # a caller that handed over its only reference (the add-on's snapshot) frees it now
        if size:
            h, w = x.shape[1:]
            f = size / max(h, w)
            x = resize_planar(x, max(1, round(h * f)), max(1, round(w * f)))
        sessions = {k: session(info, threads, provider) for k, info in infos.items()}
    except (ModelError, ImageError) as exc:
        raise UserError(str(exc)) from None
    results: dict = {}
    target = x.shape[1:]  # every result is at least the sketch's size
    lined = [k for k in stages if k in lines or (k == "upscale" and stages[-2:-1] and stages[-2] in lines)]
    fills = fill_hints and "colorize" in stages  # dabs filled, and the open paper kept paper
    keeps = "stylize" in infos and infos["stylize"].keep_colours
    paper = None  # the open paper follow my colours gave back as white (for a style that keeps your colours)
    # ... the regions it filled by (each keeps its lightness through that style), and a sky a dab filled flat
    regions = layer_in = sky = None
    beside = _Beside(job)
    try:
        x_in = at_work_size(x, infos[stages[0]])
        # the sketch's own work (its line layer, its dabs, follow my colours' regions and paper) beside the
        # first model's run
        # (the exemplar colours: the index beside the colorize model's file, exemplar.beside)
        model = infos["colorize"].path if fills else None
        ahead = beside.submit(_sketch_work, x, x_in, bool(lined), fills, beside.check, model)
        for i, k in enumerate(stages):
            job.check()
            info = infos[k]

            # (colorize following the dabs may run again on the sketch without them: each run half its stage)
            share = 0.5 if k == "colorize" and fills else 1.0

            def on_tile(done, n, i=i, info=info, start=0.0, share=share):
                job.progress((i + start + share * done / n) / len(stages), f"{info.name}: tile {done}/{n}")

            job.progress(i / len(stages), f"{info.name} ({k})")
            if i:
                x_in = at_work_size(x, info)
            # a style that keeps your colours: what it needs of its input, beside its run
            kept = None
            if info.keep_colours:
                kept = beside.submit(_keep_ahead, x_in, paper, regions, layer_in, sky)
            beside.go()  # (the tasks held so far start with the model, not beside this thread's own work)
            # (a style that keeps your colours runs on the drawing as on white paper where a dab filled a sky)
            given = x_in if kept is None or sky is None else skyless(x_in, sky)
            x = apply_model(given, info, sessions[k], job, on_tile)
            if i == len(stages) - 1:  # (no task follows the last model's: the helper ends once they are done,
                beside.end()  # on the core this thread's own work leaves idle)
            if k == "upscale":  # (no ringing along the edges)
                unring(x, given)
            if i == 0:
                layer, dabs, prepared, colours, groups = ahead.result()
            # (colorize is the first stage: x_in is the sketch, maybe scaled down)
            if k == "colorize" and fills:
                # with dabs, the shapes without one take their automatic colours from the model's run on the
                # sketch with its dabs made paper: the model spreads a dab's colour into its neighbours (a
                # blue dab in a horse's mane paints its tan face pale blue-grey)
                # (only where a shape without a dab lies beside a dabbed one: `hintfill.pulled`)
                def plain(x_in=x_in, hint=prepared[1].hint, layer=prepared[0], info=info, k=k, i=i):
                    job.progress((i + 0.5) / len(stages), f"{info.name} ({k}, without the dabs)")
                    tiles = functools.partial(on_tile, start=0.5)  # (the stage's second half)
                    return apply_model(undabbed(x_in, hint, layer), info, sessions[k], job, tiles)

                _, filled, paper, sky = hintfill.fill(
                    x, x_in, *prepared, lined=k in lined, plain=plain, colours=colours, hint_groups=groups
                )
                if filled and dabs is not None:
                    layer[dabs] = 1.0
                if filled and prepared[1].hint is not None:  # (a grey dab is paint at the work size too)
                    np.copyto(prepared[0], 1.0, where=prepared[1].hint & (prepared[0] < hintfill.LINE))
                if not keeps:
                    paper = None
                else:  # fill's regions (its labels, in place: with the parts the leak guard cut out) and the
                    # line layer they were cut from (their sub-pixel edges)
                    regions, layer_in = prepared[1].labels, prepared[0]
                    sky = sky if sky.any() else None  # (a dabbed sky: the style adds no light there)
            # the style's shading in the colours it was given (before Strength mixes them), and the open paper
            # follow my colours gave back as white stays white
            if kept is not None:
                _keep(x, x_in, *kept.result())
                if (
                    given is not x_in
                ):  # the sky as the style painted its paper: only its shading by the drawing
                    _toward(x, x_in, 1.0 - _paper_weight(sky, given))
            if strength.get(k, 1.0) < 1.0:
                x = _mix(x, x_in, strength[k])
            small = x.shape[1] < target[0] or x.shape[2] < target[1]
            lines_k = layer if k in lined else None
            if stages[i + 1 : i + 2] != ["stylize"]:
                results[k] = to_image_space(x, target if small else None, lines_k)
            elif not small:  # a style restyles this result as the artist sees it (lines in): taken from here
                seen = _as_seen(x, lines_k)  # (in place) what to_image_space makes of it, still planar
                results[k] = beside.submit(_rgba_of, seen)  # the RGBA image, beside the style's run
                # (into the sketch's model-space copy colorize took, when it is free and fits: no new pages)
                spare = x_in if i == 0 and x_in.shape == seen.shape and x_in.dtype == np.float32 else None
                x = at_work_size(_model_space_of(seen, spare), infos["stylize"])
            else:  # ... at the sketch's size, then at the style's own work size (the full-size copy is gone
                # before the style runs: 48 MB at 2048 px). to_model_space of the RGBA image from its planes:
                # clipped to [0, 1] as it clips (its values are there but for a NaN, which it makes 0), then
                # 2 (v - 1) + 1 (its interleaved reads took twice as long)
                seen = np.empty((3, *target), np.float32)
                results[k] = to_image_space(x, target, lines_k, seen)
                x = at_work_size(_model_space_of(_unit(seen, seen), seen), infos["stylize"])
                del seen
        results = {k: v.result() if isinstance(v, Future) else v for k, v in results.items()}
    finally:
        beside.close()
    job.progress(1.0, "done")
    return results


def undabbed(x: np.ndarray, hint: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """A copy of the sketch `x` (planar [-1, 1]) with its dabs (`hint`, and their anti-aliased edges up to
    DAB_FRINGE px that are not line in `layer`) made white paper: what the colorize model paints the shapes
    without a dab from."""
    out = x.copy()
    np.copyto(out, 1.0, where=hintfill.with_fringe(hint, layer, DAB_FRINGE))
    return out


def _sketch_work(
    x: np.ndarray, x_in: np.ndarray, lined: bool, fills: bool, check=lambda: None, model: str | None = None
) -> tuple:
    """What the pipeline needs of the sketch `x` alone (run beside the first model): (its line layer for
    keep my lines or None, the dabs keep my lines leaves alone or None, fill's arguments after the result:
    (sketch, line layer, hintfill.prepare) at colorize's work size (`x_in`) or None, and with no dabs the
    shapes' colours from the most similar training picture (exemplar: fill's `colours`) or None, and with dabs their
    groups (hintfill.dab_groups: fill's `hint_groups`) or None). The training pictures are those of the index
    beside the colorize model's file `model` (exemplar.beside): none there, the model's own colours. `check()` between its
    steps raises Cancelled once the run is cancelled (at 2048 px without a work size they take ~0.5 s).
    (fill colours the lines beside the paper whether colorize's result is lined or not: hintfill.prepare plans
    it either way.)"""
    # (the sketch's max and min over its channels: the line layer's and the hints')
    hi_lo = (x.max(axis=0), x.min(axis=0)) if lined and fills else None
    layer = line_layer(x, hi_lo) if lined else None
    dabs = prepared = hint = paint = colours = groups = None
    if fills:
        check()
        # the line layer at the work size: the canvas's own when the sketch is not scaled down
        same = x_in is x and layer is not None
        # the dabs that follow my colours fills are paint, not line: keep my lines leaves them alone (a green
        # dab darkens to 89 % in the line layer: a darker ghost of the dab in its filled shape)
        if layer is not None:
            hint, paint = hintfill.hints(x, layer, hi_lo)
            hi_lo = None  # (freed)
            dabs = hintfill.with_fringe(hint, layer, DAB_FRINGE)
        in_layer = layer if same else line_layer(x_in)
        check()
        # (the hint pixels found once when the sketch is the work size's; none without hints)
        ahead = (hint if hint is not None else np.zeros(x.shape[1:], bool)) if same else None
        prepared = (in_layer, hintfill.prepare(x_in, in_layer, check, ahead, paint=paint if same else None))
        p = prepared[1]
        if p.n and p.dabbed:  # (fill's first steps, of the sketch alone: the dabs' groups, their distances,
            check()  # the paper where the model plays no part in it, the lines thickened)
            groups = hintfill.dab_groups(p, x_in)
        # no dabs nor other paint (a grey or pale dab, hintfill.painted): the shapes' colours from the most
        # similar training picture, in the index beside the colorize model (none there: the model's colours)
        index = exemplar.beside(model) if model and p.n and (not p.painted or p.dabbed) else None
        if index is not None and not p.painted:
            colours = functools.partial(exemplar.plan_colours, p.line, index=index)
            if p.auto is not None:  # (its shapes known: worked out here, beside the model)
                colours = colours(p.auto)
        elif index is not None and p.dabbed and exemplar.DABBED:  # the objects without a dab: their own
            # exemplars' colours
            check()  # (the lines thickened and the open paper as dab_groups made them)
            got = exemplar.beside_dabs(
                p.line, p.labels, p.n, p.hint, x_in, in_layer, index, thick=groups.thick, open_=groups.paper
            )
            if got is not None:  # (matched here, beside the model; fill maps them onto its regions)
                colours = functools.partial(exemplar.for_plan, got)
    return layer, dabs, prepared, colours, groups


def _as_seen(x: np.ndarray, lines: np.ndarray | None) -> np.ndarray:
    """A planar model-space image as to_image_space shows it (no resize), still planar: [0, 1], `lines`
    multiplied in; in place."""
    # (to_image_space's own operations, on the three planes at once: the same values)
    return _seen_plane(x, x, lines)


def _rgba_of(seen: np.ndarray) -> np.ndarray:
    """to_image_space's opaque RGBA (bottom-up) of an `_as_seen` image."""
    h, w = seen.shape[1:]
    out = np.empty((h, w, 4), dtype=np.float32)
    out[:, :, 3] = 1.0
    for c in range(3):
        out[::-1, :, c] = seen[c]
    return out


def _model_space_of(seen: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """to_model_space of `_rgba_of(seen)`, from the planar image itself (into `out`, or a new array):
    2 (v - 1) + 1."""
    out = np.subtract(seen, np.float32(1.0), out=out)
    out *= np.float32(2.0)
    out += np.float32(1.0)
    return out


HELPER_THREAD = "nftgan-pipeline-helper"  # the name prefix of run()'s helper thread (_Beside)


class _Beside:
    """One helper thread per run() call for the work that needs only what is known before a model runs (the
    sketch's line layer, dabs, regions and paper; the style's input's colours; the colorized RGBA image), done
    while onnxruntime runs the model on the calling thread: numpy releases the GIL in most of it, so it runs
    beside the session's threads. A task submitted is held until the next `go()`, which run() calls just before
    it starts a model's session: the helper's numpy work then overlaps the model, not the calling thread's own
    preparation for it (on 2 cores the two competed). Tasks run in order, each result() joined before use (a
    held task's result() lets it go first); the values are what the same calls give in line. close() (always,
    in a finally) cancels the tasks not started (held or queued) and joins the thread: none outlives its run()
    call, whether it ended, failed or was cancelled; a task that takes a while calls `check()` between its
    steps, which raises Cancelled once the job is cancelled or the run is closing. Where no thread can start
    (the interpreter shutting down), a task runs in line at go().
    The thread is a plain one reading a queue (no ThreadPoolExecutor: its set-up per call and its worker's
    bookkeeping were the calling thread's time), started with nothing queued, so it waits on the queue, the
    GIL free, once it is up: the calling thread goes on without waiting for the GIL, and the tasks go in after
    it. Once the last model has run, run() calls `end()`: the helper ends as soon as its tasks are done (they
    are, as a rule), on the core the calling thread's own work after the model leaves idle, and close() joins
    a thread that has ended instead of waking a niced one to end it (on a loaded machine that wake-up waited
    for a core: docs/benchmarks.md, session 25)."""

    def __init__(self, job=None):
        self._thread: threading.Thread | None = None
        self._ending = False  # (None is queued after its tasks: it ends once they are done)
        self._queue = queue.SimpleQueue()
        self._closing = False
        self._job = job
        self._held: list[tuple[Future, object, tuple]] = []
        self._pending: set[Future] = set()  # submitted, not settled yet (what close() cancels)

    def check(self) -> None:
        if self._closing or (self._job is not None and self._job.cancelled):
            raise Cancelled()

    def submit(self, fn, *args) -> Future:
        """A Future for fn(*args), run once go() lets it go."""
        done = _Held(self)
        self._held.append((done, fn, args))
        self._pending.add(done)
        return done

    def go(self) -> None:
        """Start the tasks held so far, in order: on the helper thread, or in line where none can start."""
        held, self._held = self._held, []
        if not held:
            return
        if self._thread is not None and self._ending:  # (a task after the last: the ending thread joined)
            self._thread.join()
            self._thread = None
        if self._thread is None:
            self._ending = False
            try:
                self._thread = _start_helper(self._work)
            except RuntimeError:  # "can't create new thread at interpreter shutdown": in line
                for task in held:
                    self._settle(*task)
                return
        for task in held:
            self._queue.put(task)

    def end(self) -> None:
        """No task will follow those let go so far (run()'s last model has run): the helper ends once it has
        done them, so close() finds it ended (a task submitted after all the same starts a new one)."""
        if self._thread is not None and not self._ending:
            self._queue.put(None)
            self._ending = True

    def _work(self) -> None:
        """The helper thread: the tasks from the queue, in order, until close() puts None."""
        _lower_priority()
        while (task := self._queue.get()) is not None:
            self._settle(*task)

    def _settle(self, done: Future, fn, args: tuple) -> None:
        """Run a task into its Future (nothing when it was cancelled first)."""
        self._pending.discard(done)
        if not done.set_running_or_notify_cancel():
            return
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised by result(), as from the thread
            done.set_exception(exc)

    def close(self) -> None:
        self._closing = True
        self._held = []
        for done in list(self._pending):  # (held or queued: not started; the helper skips a cancelled one)
            done.cancel()
        if self._thread is not None:
            if not self._ending:
                self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._pending = set()


def _start_helper(work) -> threading.Thread:
    """`work` on a new thread named HELPER_THREAD, started (a daemon: close() joins it; none is left to keep
    the interpreter from exiting)."""
    thread = threading.Thread(target=work, name=HELPER_THREAD + "_0", daemon=True)
    thread.start()
    return thread


# the helper thread's nice value above the calling thread's (Linux: each thread has its own; at most 19). The
# helper's numpy work runs beside onnxruntime's threads, which wait on each other at every operator: one
# slowed slows both. Niced, the helper takes mostly the cores' idle moments between operators (sessions
# without spinning) and its whole share whenever the calling thread waits for its result: the pipeline's own work
# at 256 px (bench sketch, colorize -> 3D Clay, 100 interleaved calls, quiet machine) 8.90 -> 8.44 ms, the
# pipeline 1.354 -> 1.335 x the bare sessions; in line (no helper) 12.1 ms
HELPER_NICE = 5


def _lower_priority() -> None:
    """The calling thread's nice value HELPER_NICE higher (lower priority), where the system gives threads their
    own (Linux); elsewhere (macOS, Windows: no per-thread nice by thread id) nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + HELPER_NICE))
    except (AttributeError, OSError):  # (a sandbox that refuses it: the helper runs as before)
        pass


class _Held(Future):
    """A `_Beside` task's Future: result() first lets the tasks held before it go (none waits forever)."""

    def __init__(self, beside: _Beside):
        super().__init__()
        self._beside = beside

    def result(self, timeout=None):
        if any(done is self for done, _, _ in self._beside._held):
            self._beside.go()
        return super().result(timeout)


# ----------------------------------------------------------------------------------------------- command line


# the files a folder given to `nftgan stylize` contributes
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".tga")


def sketches_of(inputs: list[str]) -> tuple[list[str], list[str], bool]:
    """(sketch files, problems, batch?) for `nftgan stylize`'s inputs: files, folders (their images, not
    their subfolders) and glob patterns (for shells that do not expand them). A folder, a pattern or more
    than one input make a batch. `problems` name the inputs that give no file, in order."""
    import glob

    files, problems, batch = [], [], len(inputs) > 1
    for item in inputs:
        if os.path.isdir(item):
            batch = True
            found = sorted(
                os.path.join(item, e)
                for e in os.listdir(item)
                if e.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(item, e))
            )
            files += found
            if not found:
                problems.append(f"{item}: no images in this folder (looked for {', '.join(IMAGE_EXTS)})")
        elif not os.path.lexists(item) and glob.has_magic(item):
            batch = True
            found = sorted(f for f in glob.glob(os.path.expanduser(item)) if os.path.isfile(f))
            files += found
            if not found:
                problems.append(f"{item}: no file matches this pattern")
        else:
            files.append(item)  # a missing or unreadable file is reported when it is read
    seen, unique = set(), []
    for f in files:  # a file named twice (a folder and a pattern) is stylized once
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems, batch


def _outputs(files: list[str], out: str, batch: bool) -> list[str]:
    """The result file of each sketch: OUT itself for one sketch (OUT/NAME.png when OUT is a folder, or ends
    in a slash: one to make), else OUT/NAME.png. UserError when two sketches would get one name, a result
    would replace a sketch, OUT names another kind of picture than the PNG written, or a batch's OUT names a
    picture (out.png: a folder of that name would be made)."""
    if not batch and not os.path.isdir(out) and not out.endswith(("/", os.sep)):
        ext = os.path.splitext(out)[1].lower()
        if ext in IMAGE_EXTS and ext != ".png":
            raise UserError(f"-o {out}: the result is a PNG picture; name it {os.path.splitext(out)[0]}.png.")
        if blocked := not_a_folder("-o", out, os.path.dirname(os.path.normpath(out))):
            raise UserError(blocked)
        paths = [out]
    else:
        ext = os.path.splitext(out)[1].lower()
        if batch and ext in IMAGE_EXTS and not os.path.exists(out) and not out.endswith(("/", os.sep)):
            raise UserError(
                f"-o {out} names a picture, but a batch (a folder, a glob or several sketches) gives a result "
                f"per sketch: -o names their folder (made if missing), e.g. -o {os.path.splitext(out)[0]}/"
            )
        if blocked := not_a_folder("-o", out):
            raise UserError(blocked + ("; with several sketches -o names a folder (made if missing)" * batch))
        paths = [os.path.join(out, os.path.splitext(os.path.basename(f))[0] + ".png") for f in files]
        by_name: dict[str, list[str]] = {}
        for f, o in zip(files, paths):
            by_name.setdefault(os.path.normcase(os.path.abspath(o)), []).append(f)
        clash = next((fs for fs in by_name.values() if len(fs) > 1), None)
        if clash:
            raise UserError(
                f"{' and '.join(clash)} would both be written to one file in {out}; rename one, or "
                "stylize them into different folders."
            )
    if len(files) == 1:
        refuse_overwrite(paths[0], files[0], what="the sketch")
        return paths
    inodes = set()
    for f in files:
        with contextlib.suppress(OSError):
            st = os.stat(f)
            inodes.add((st.st_dev, st.st_ino))
    for o, f in zip(paths, files):
        with contextlib.suppress(OSError):
            st = os.stat(o)
            if (st.st_dev, st.st_ino) in inodes:
                raise UserError(
                    f"{o} would replace a sketch (the result of {f}): NFTGan never writes a result over its "
                    "source. Choose another -o folder."
                )
    return paths


def main(argv: list[str] | None = None, prog: str = "nftgan stylize") -> int:
    from . import styles
    from .cliargs import PROVIDER_HELP, PROVIDERS, Parser, add_out, add_threads, error, warn_skipped

    p = Parser(
        prog=prog,
        description=(
            "Colorize and stylize sketches with NFTGan models (the same pipeline as the Blender add-on's "
            "Stylize button). Models: the add-on's bundled styles plus every .onnx in --models folders. "
            "Several sketches, a folder or a glob pattern make a batch: the results go into the folder -o "
            "as NAME.png, one progress line each on stderr; unreadable files are skipped and counted, and "
            "the exit status is 1 if any was. A result is never written over a sketch."
        ),
        examples=(
            "nftgan stylize sketch.png -o out.png                       # colorize -> the first style",
            "nftgan stylize sketch.png -o out.png --style none           # colorize only",
            "nftgan stylize sketch.png -o out.png --colorize none --style '3D Clay'",
            "nftgan stylize sketches/ 'more/*.jpg' -o results/           # a batch into results/",
            "nftgan stylize big.png -o out.png --resize 1024 --upscale upscale-x4  # 1024 px; x4: 2048 (4x 3D Clay's 512)",
            "nftgan stylize sketch.png -o out.png --models ~/nftgan-styles --style my-style",
        ),
    )
    p.add_argument(
        "sketch",
        nargs="+",
        metavar="SKETCH",
        help="sketch image (PNG, JPEG, ...; greyscale, 16-bit and transparent images work), a folder of them "
        "or a glob pattern such as 'sketches/*.png'",
    )
    add_out(
        p,
        "where the result goes: a PNG file for one sketch; a folder (created if missing) for a batch, or "
        "for one sketch to write FOLDER/NAME.png",
        "OUT",
        required=True,
    )
    p.renamed("--output", "--out")
    p.add_argument(
        "--style",
        help="stylize model: id (file name), name or path; 'none' to skip the stage "
        "(default: the first stylize model found)",
    )
    p.add_argument(
        "--colorize",
        help="colorize model: id, name or path; 'none' to skip the stage (default: the first colorize "
        "model found)",
    )
    p.add_argument(
        "--upscale", help="upscale model (id, name or path) to run last; 'none' to skip (default: none)"
    )
    p.add_argument(
        "--resize",
        type=int,
        metavar="PX",
        help="resize each sketch so its long side is PX pixels first; the results are that size (the "
        "upscale: larger) (default: the sketch's own size)",
    )
    p.renamed("--size", "--resize")
    p.add_argument(
        "--models", action="append", default=[], metavar="DIR", help="extra model folder (repeatable)"
    )
    p.add_argument(
        "--keep-lines",
        default=",".join(KEEP_LINES),
        metavar="STAGES",
        help="stages whose results get your sketch's dark strokes multiplied back, sharp at the result's size: "
        "a comma list of colorize, stylize (the upscale follows the stage it enlarges), or none",
    )
    p.add_argument(
        "--fill-hints",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fill each shape you dabbed a colour into, up to its lines, in that colour (the model's shading "
        "kept), and keep the open paper around the drawing white, through a style that keeps your colours too "
        "(default: on); --no-fill-hints shows what the colorize model makes of the sketch by itself",
    )
    p.add_argument(
        "--strength",
        action="append",
        default=[],
        metavar="STAGE=S",
        help="mix a stage's input and output: colorize=0.7 keeps 30%% of the sketch (0..1, default 1; repeatable)",
    )
    add_threads(p)
    p.add_argument(
        "--precision",
        choices=styles.PRECISIONS,
        default="auto",
        help="fp32 or the int8 variant (NAME.int8.onnx beside NAME.onnx) when a model has one; auto: int8 on "
        "CPUs with VNNI/AMX int8 instructions, fp32 elsewhere",
    )
    p.add_argument("--provider", choices=PROVIDERS, default="auto", help=PROVIDER_HELP)
    args = p.parse_args(argv)

    def fail(msg: str) -> int:
        return error(prog, msg, 1)

    found = styles.scan(args.models)
    warn_skipped(prog, found)

    flags = {"colorize": "--colorize", "stylize": "--style", "upscale": "--upscale"}

    def other_stage(kind: str, wanted: str, info) -> UserError:
        """A model of another kind given to `kind`'s flag: which flag takes it (or that it is for generate)."""
        where = (
            f"pass it as {flags[info.kind]} {wanted}"
            if info.kind in flags
            else "nftgan generate makes pictures with it"
        )
        return UserError(f"{wanted}: {info.name} is a {info.kind} model, not a {kind} model: {where}.")

    def pick(kind: str, wanted: str | None):
        if wanted and wanted.lower() == "none":
            return None
        path = wanted and (wanted.lower().endswith(".onnx") or os.sep in wanted or "/" in wanted)
        if wanted and os.path.isfile(wanted):
            style = styles.at_path(wanted)  # with its int8 variant, as --models has it
            if style.kind != kind:
                raise other_stage(kind, wanted, style.info)
            return style.model(args.precision)
        if wanted and path and os.path.isdir(wanted):
            return describe_model(wanted)  # a folder: an error saying so
        style = styles.find(found, kind, wanted)
        if style is None and wanted:
            for other in sorted({s.kind for s in found if s.ok} - {kind}):
                if (elsewhere := styles.find(found, other, wanted)) is not None:
                    raise other_stage(kind, wanted, elsewhere.info)
            names = ", ".join(f"{s.id} ({s.name})" for s in styles.of_kind(found, kind)) or "none installed"
            raise UserError(
                (
                    f"{wanted}: no such file, and no {kind} model has that id or name."
                    if path
                    else f"no {kind} model called {wanted!r}."
                )
                + f" Available: {names}."
            )
        return style.model(args.precision) if style else None

    try:
        if args.resize is not None and args.resize < 1:
            raise UserError(f"--resize must be a positive number of pixels, got {args.resize}.")
        if args.resize is not None and args.resize > imageio.MAX_SIDE:
            raise UserError(
                f"--resize {args.resize} is more than NFTGan handles ({imageio.MAX_SIDE} px per side)."
            )
        lines = [k.strip() for k in args.keep_lines.split(",") if k.strip() and k.strip().lower() != "none"]
        strength = {}
        for item in args.strength:
            stage, _, value = item.partition("=")
            try:
                strength[stage.strip()] = float(value)
            except ValueError:
                raise UserError(
                    f"--strength {item!r}: give STAGE=S with S between 0 and 1, e.g. colorize=0.7."
                ) from None
        models = {"colorize": pick("colorize", args.colorize), "stylize": pick("stylize", args.style)}
        if args.upscale:
            models["upscale"] = pick("upscale", args.upscale)
        if not any(models.values()):
            raise UserError(
                "nothing to run: --colorize none and --style none skip both stages; keep one, or add --upscale."
                if styles.of_kind(found, "colorize") or styles.of_kind(found, "stylize")
                else styles.HOW_TO_GET_STYLES + " On the command line: --models DIR."
            )
        infos = check_options(models, strength, lines)
        for k in [k for k in STAGES if k in strength and k not in infos]:  # (the panel sets all three)
            flag = {"colorize": "--colorize", "stylize": "--style", "upscale": "--upscale"}[k]
            if getattr(args, flag[2:]):  # 'none'
                how = f"{flag} none skips it"
            elif k == "upscale":
                how = "add --upscale MODEL to run it"
            else:
                how = f"no {k} model was found; add --models DIR"
            raise UserError(f"--strength {k}={strength[k]:g}: the {k} stage does not run ({how}).")
        files, problems, batch = sketches_of(args.sketch)
        outputs = _outputs(files, args.out, batch)
    except (UserError, ImageError, ModelError) as exc:
        return fail(str(exc))
    chain = " -> ".join(f"{k} '{m.name}'" for k, m in infos.items())
    options = {
        "models": models,
        "threads": args.threads,
        "provider": args.provider,
        "strength": strength,
        "fill_hints": args.fill_hints,
    }

    def one(sketch: str, out: str) -> tuple[int, int]:
        w, h = imageio.image_size(sketch)
        imageio.check_size(h, w, sketch)
        reduce = (
            args.resize if args.resize and args.resize < max(h, w) else None
        )  # the work is smaller anyway
        check_job(
            h, w, infos, args.resize, extra=imageio.decode_bytes(w, h), fill_hints=args.fill_hints, cli=True
        )
        results = run(imageio.read_image(sketch, max_side=reduce), size=args.resize, lines=lines, **options)
        last = results[[k for k in STAGES if k in results][-1]]
        try:
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        except OSError as exc:
            raise UserError(os_error_message(exc, f"writing {out}")) from None
        imageio.write_png(out, last)  # a FileError saying why it failed
        return last.shape[1], last.shape[0]

    if not batch:
        t0 = time.perf_counter()
        try:
            w, h = one(files[0], outputs[0])
        except (UserError, ImageError, ModelError) as exc:
            return fail(str(exc))
        except KeyboardInterrupt:
            print(f"\n{prog}: interrupted; {outputs[0]} was not written", file=sys.stderr)
            return 130
        print(f"wrote {outputs[0]} ({w}x{h}) with {chain} in {time.perf_counter() - t0:.1f} s")
        return 0
    for problem in problems:
        print(f"{prog}: warning: skipped {problem}", file=sys.stderr)
    t0, done, n = time.perf_counter(), 0, len(files)
    try:
        for i, (sketch, out) in enumerate(zip(files, outputs), 1):
            t = time.perf_counter()
            try:
                w, h = one(sketch, out)
            except (UserError, ImageError, ModelError) as exc:
                print(f"[{i}/{n}] skipped: {exc}", file=sys.stderr)
                continue
            done += 1
            print(f"[{i}/{n}] {sketch} -> {out} ({w}x{h}, {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    except KeyboardInterrupt:
        print(
            f"\n{prog}: interrupted; {done} of {n} sketches stylized into {args.out} so far",
            file=sys.stderr,
        )
        return 130
    failed = [f"{n - done} of the sketches failed"] if done < n else []
    failed += [f"{len(problems)} of the inputs gave no file"] if problems else []
    print(
        f"stylized {done} of {n} sketches into {args.out} with {chain} in {time.perf_counter() - t0:.1f} s"
        + (f"; {' and '.join(failed)} (see above): exit status 1" if failed else "")
    )
    return 1 if failed else 0
