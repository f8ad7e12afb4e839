"""The stylize pipeline: sketch pixels -> colorize -> stylize (-> upscale), with onnxruntime, no bpy.

    RGBA float, bottom-up (Blender's pixel order)
      -> alpha composited over white paper -> RGB top-down in model space [-1, 1]
      -> each stage: one pass up to 512 px, else overlapping 512 px tiles with feathered blending
      -> RGBA float, bottom-up, one image per stage

Any size and aspect works: an image smaller than the model's trained size is scaled up for
the models and the result scaled back; one larger than a model's `work_size` (the picture size
it learned at, when its file declares one) is stylized at that size and the result scaled back
(or taken from there by the upscale stage); otherwise one larger than MAX_TILE is processed at full
resolution in overlapping tiles whose weights ramp down towards their edges, so no seam
shows. Tiles are as large as memory comfortably allows (not the trained size), because a
fully convolutional generator run on many small tiles repeats its border behaviour in a
visible grid. Every tile side is a multiple of the model's `nftgan.multiple_of` (the image
is padded with white paper to get there).

One onnxruntime session per model file (and thread/provider setting) is created once and
reused. Cancel works within one tile: `job.check()` runs between tiles and stages, and a
running tile is stopped with `RunOptions.terminate`.

Also the `nftgan stylize` command (`main`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
import time

import numpy as np

from .contract import ModelError, ModelInfo, describe_model
from .errors import Cancelled, ImageError, UserError
from .imageio import as_rgba, resize

log = logging.getLogger(__name__)

STAGES = ("colorize", "stylize", "upscale")  # pipeline order
RESULT_SUFFIX = {"colorize": "colorized", "stylize": "stylized", "upscale": "upscaled"}
ACCELERATED = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
OVERLAP = 0.25  # fraction of a tile shared with its neighbour
MAX_TILE = 512  # px: images up to this size run in one pass; larger ones in overlapping tiles of this size


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
    """The onnxruntime session for a model (created on first use, then reused)."""
    import onnxruntime as ort

    st = os.stat(info.path)
    key = (os.path.abspath(info.path), st.st_size, st.st_mtime_ns, int(threads), provider.lower())
    with _sessions_lock:
        sess = _sessions.get(key)
        if sess is not None:
            return sess
        wanted = providers(provider)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = max(0, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if "DmlExecutionProvider" in wanted:
            opts.enable_mem_pattern = False  # required by DirectML
        try:
            sess = ort.InferenceSession(info.path, sess_options=opts, providers=wanted)
        except Exception as exc:
            if wanted == ["CPUExecutionProvider"]:
                raise ModelError(f"{os.path.basename(info.path)} could not be loaded: {exc}") from exc
            log.warning("NFTGan: %s failed to start (%s); using the CPU", wanted[0], exc)
            sess = ort.InferenceSession(info.path, sess_options=opts, providers=["CPUExecutionProvider"])
        # Drop sessions of older versions of this file (it was re-exported).
        for old in [k for k in _sessions if k[0] == key[0]]:
            del _sessions[old]
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


def _run_tile(sess, info: ModelInfo, x: np.ndarray, job) -> np.ndarray:
    import onnxruntime as ort

    options = ort.RunOptions()
    remove = job.on_cancel(lambda: setattr(options, "terminate", True))
    try:
        job.check()
        (y,) = sess.run(None, {info.input_name or sess.get_inputs()[0].name: x}, options)
    except Cancelled:
        raise
    except Exception as exc:
        if job.cancelled:
            raise Cancelled() from None
        raise UserError(
            f"{info.name} ({os.path.basename(info.path)}) failed on a "
            f"{x.shape[3]}x{x.shape[2]} tile: {str(exc).strip()[:200]}"
        ) from exc
    finally:
        remove()
    job.check()
    expected = (1, 3, x.shape[2] * info.scale, x.shape[3] * info.scale)
    if tuple(y.shape) != expected:
        raise UserError(
            f"{info.name} returned shape {tuple(y.shape)} for input {tuple(x.shape)} "
            f"(expected {expected}); the model does not follow the NFTGan contract."
        )
    return y[0]


def apply_model(
    img: np.ndarray,
    info: ModelInfo,
    sess,
    job,
    on_tile=None,
    overlap: float = OVERLAP,
    tile: int | None = None,
) -> np.ndarray:
    """Run one model over an (H, W, 3) top-down image in [-1, 1]; returns (H*scale, W*scale, 3).

    Images up to `tile` px (default `tile_size(info)`) per side run in one pass; larger ones in tiles of
    that size sharing `overlap` (a fraction; 0 gives plain tiles, for comparison) with their neighbours.
    An image smaller than the model's trained size is scaled up to it first and the result scaled back."""
    h0, w0 = img.shape[:2]
    m, s = max(1, info.multiple_of), info.scale
    tile = tile or tile_size(info)
    work = img
    if max(h0, w0) < info.input_size:  # small: bring the long side up to the trained size
        f = info.input_size / max(h0, w0)
        work = resize(img, max(1, round(h0 * f)), max(1, round(w0 * f)))
    h, w = work.shape[:2]
    ph, pw = round_up(h, m), round_up(w, m)
    if (ph, pw) != (h, w):  # pad with white paper to sizes the graph accepts
        padded = np.ones((ph, pw, 3), dtype=np.float32)
        padded[:h, :w] = work
        work = padded
    th, tw = min(tile, ph), min(tile, pw)
    ov = int(tile * overlap)
    ys, xs = tile_starts(ph, th, ov), tile_starts(pw, tw, ov)
    window = (feather(th * s, ov * s)[:, None] * feather(tw * s, ov * s)[None, :])[:, :, None]
    acc = np.zeros((ph * s, pw * s, 3), dtype=np.float32)
    weight = np.zeros((ph * s, pw * s, 1), dtype=np.float32)
    n, done = len(ys) * len(xs), 0
    for y in ys:
        for x in xs:
            patch = work[y : y + th, x : x + tw].transpose(2, 0, 1)[None]
            out = _run_tile(sess, info, np.ascontiguousarray(patch, dtype=np.float32), job)
            ys_, xs_ = slice(y * s, (y + th) * s), slice(x * s, (x + tw) * s)
            acc[ys_, xs_] += out.transpose(1, 2, 0) * window
            weight[ys_, xs_] += window
            done += 1
            if on_tile:
                on_tile(done, n)
    acc /= weight
    result = acc[: h * s, : w * s]
    if (h, w) != (h0, w0):
        result = resize(result, h0 * s, w0 * s)
    return np.clip(result, -1.0, 1.0)


# ----------------------------------------------------------------------------------------------- pipeline


def to_model_space(rgba: np.ndarray) -> np.ndarray:
    """RGBA bottom-up [0,1] -> RGB top-down [-1,1], transparent areas become white paper."""
    rgba = as_rgba(rgba)
    alpha = rgba[::-1, :, 3:4]
    rgb = rgba[::-1, :, :3] * alpha  # the one full-size allocation; the rest works in place
    rgb += 1.0 - alpha
    rgb *= 2.0
    rgb -= 1.0
    return rgb


def to_image_space(rgb: np.ndarray) -> np.ndarray:
    """RGB top-down [-1,1] -> opaque RGBA bottom-up [0,1]."""
    h, w = rgb.shape[:2]
    out = np.ones((h, w, 4), dtype=np.float32)
    out[:, :, :3] = (rgb[::-1] + 1.0) * 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def at_work_size(x: np.ndarray, info: ModelInfo) -> np.ndarray:
    """`x` scaled down so its long side is the model's `work_size`, when it declares one and `x` is larger.

    A model that learned from whole 256 px pictures sees a 1024 px sketch's strokes and shapes 4x larger
    than anything it was taught; at its own scale it colours them as it learned to. The pipeline scales
    the result back to the sketch's size (or the upscale stage takes it from here)."""
    h, w = x.shape[:2]
    if not info.work_size or max(h, w) <= info.work_size:
        return x
    f = info.work_size / max(h, w)
    return resize(x, max(1, round(h * f)), max(1, round(w * f)))


def _info(model) -> ModelInfo:
    return model if isinstance(model, ModelInfo) else describe_model(model)


def run(
    rgba: np.ndarray,
    *,
    models: dict,
    job=None,
    threads: int = 0,
    provider: str = "auto",
    size: int | None = None,
) -> dict[str, np.ndarray]:
    """Run the stages present in `models` ({"colorize"|"stylize"|"upscale": ModelInfo or path}) in order.

    Returns {stage: RGBA float bottom-up image}, each at least the sketch's size (upscale: `scale` x the
    size the stage before it worked at, if larger). `size` resizes the sketch so its long side is
    `size` pixels first (default: its own size). Bad input raises UserError with a clear message.
    """
    job = job or _NoJob()
    stages = [k for k in STAGES if models.get(k)]
    if not stages:
        raise UserError(f"choose at least one model to run ({', '.join(STAGES)}).")
    unknown = set(models) - set(STAGES)
    if unknown:
        raise UserError(f"unknown pipeline stage(s) {sorted(unknown)}; the stages are {', '.join(STAGES)}.")
    try:
        infos = {k: _info(models[k]) for k in stages}
        for k, info in infos.items():
            if info.kind != k:
                raise ModelError(f"{info.name} is a {info.kind} model, not a {k} model.")
        x = to_model_space(rgba)
        if size:
            if size < 1:
                raise ImageError(f"--size must be a positive number of pixels, got {size}.")
            h, w = x.shape[:2]
            f = size / max(h, w)
            x = resize(x, max(1, round(h * f)), max(1, round(w * f)))
        sessions = {k: session(info, threads, provider) for k, info in infos.items()}
    except (ModelError, ImageError) as exc:
        raise UserError(str(exc)) from None
    results = {}
    target = x.shape[:2]  # every result is at least the sketch's size
    for i, k in enumerate(stages):
        job.check()
        info = infos[k]

        def on_tile(done, n, i=i, k=k, info=info):
            job.progress((i + done / n) / len(stages), f"{info.name}: tile {done}/{n}")

        job.progress(i / len(stages), f"{info.name} ({k})")
        x = at_work_size(x, info)
        x = apply_model(x, info, sessions[k], job, on_tile)
        small = x.shape[0] < target[0] or x.shape[1] < target[1]
        results[k] = to_image_space(resize(x, *target) if small else x)
    job.progress(1.0, "done")
    return results


# ----------------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None, prog: str = "nftgan stylize") -> int:
    from . import imageio, styles

    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Colorize and stylize a sketch image with NFTGan models (the same pipeline as the Blender add-on's "
            "Stylize button). Models: the add-on's bundled styles plus every .onnx in --models folders."
        ),
    )
    p.add_argument(
        "sketch", help="input image (PNG, JPEG, ...; greyscale, 16-bit and transparent images work)"
    )
    p.add_argument("-o", "--output", required=True, help="output PNG (the last stage's result)")
    p.add_argument(
        "--style", help="stylize model: id (file name), name or path; default: the first one found"
    )
    p.add_argument(
        "--colorize", help="colorize model: id, name or path; default: the first one found; 'none' to skip"
    )
    p.add_argument("--upscale", help="upscale model (id, name or path) to run last; default: none")
    p.add_argument("--size", type=int, help="resize the sketch so its long side is N pixels before stylizing")
    p.add_argument(
        "--models", action="append", default=[], metavar="DIR", help="extra model folder (repeatable)"
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads for inference (0: all)")
    p.add_argument(
        "--provider",
        choices=("auto", "cpu"),
        default="auto",
        help="auto: CUDA / DirectML / CoreML when available, else CPU",
    )
    args = p.parse_args(argv)

    def fail(msg: str) -> int:
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 1

    found = styles.scan(args.models)

    def pick(kind: str, wanted: str | None):
        if wanted and wanted.lower() == "none":
            return None
        if wanted and os.path.isfile(wanted):
            return describe_model(wanted)
        style = styles.find(found, kind, wanted)
        if style is None and wanted:
            names = ", ".join(f"{s.id} ({s.name})" for s in styles.of_kind(found, kind)) or "none installed"
            raise UserError(f"no {kind} model called {wanted!r}. Available: {names}.")
        return style.info if style else None

    try:
        if args.size is not None and args.size < 1:
            raise UserError(f"--size must be a positive number of pixels, got {args.size}.")
        models = {"colorize": pick("colorize", args.colorize), "stylize": pick("stylize", args.style)}
        if args.upscale:
            models["upscale"] = pick("upscale", args.upscale)
        if not any(models.values()):
            bad = [s.error for s in found if not s.ok]
            raise UserError(
                styles.HOW_TO_GET_STYLES
                + " On the command line: --models DIR."
                + "".join(f"\n  skipped: {e}" for e in bad)
            )
        sketch = imageio.read_image(args.sketch)
        t0 = time.perf_counter()
        results = run(sketch, models=models, threads=args.threads, provider=args.provider, size=args.size)
        last = [k for k in STAGES if k in results][-1]
        out_dir = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(out_dir, exist_ok=True)
        imageio.write_png(args.output, results[last])
    except (UserError, ImageError, ModelError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write {args.output}: {exc.strerror or exc}")
    chain = " -> ".join(f"{k} '{m.name}'" for k, m in models.items() if m)
    h, w = results[last].shape[:2]
    print(f"wrote {args.output} ({w}x{h}) with {chain} in {time.perf_counter() - t0:.1f} s")
    return 0
