"""Evidence for the shipped default models (addon/models/), made with the add-on's own pipeline.

    python -m tools.evidence                       # contact sheet + held-out metrics + model cards + goldens
    python -m tools.evidence --compare DIR         # ... beside the models in DIR (e.g. the previous release)
    python -m tools.evidence --golden              # only the golden fixtures (after re-exporting a model)

- docs/default_styles.png: held-out sketches without and with colour dabs (and the demo house as an artist
  paints it on a 1024 px canvas): sketch | colorized | each style | x4 upscale (centre crop).
- docs/default_styles_int8.png: the same with the shipped int8 variants (when there are any)
- docs/default_styles.json: held-out metrics, each beside trivial baselines (and the --compare models),
  measured in one run:
  colorize on held-out line sketches: L1 / PSNR / SSIM to the true picture without hints, with hints in the
  picture's own colours, and hint fidelity: mean CIELAB dE between a dab's colour and the output over the
  rest of the dabbed region (away from the dab), for dabs in the true colour, in another palette colour (the
  artist repaints a shape in one new colour) and mixed (every dab its own palette colour, each scored over
  the part of its shape nearer to it than to a dab of another colour); grid score (checkerboard strength, ~1 = none) and colour variety (spread of the
  dominant hues of the hint-free results, degrees) beside the true pictures' own;
  3D Clay (Fluent flat -> Fluent 3D of the same emoji) L1 / PSNR / SSIM vs the flat input itself, and after
  colorize on a 1024 px canvas as the add-on chains them (held-out emoji sketches with dabs vs the Fluent 3D
  render of the same emoji: also L1 away from the lines, sharpness, the hue turn per coloured shape, and hint
  fidelity through the whole chain: colorize's dE between a dab's colour and its shape, on the 3D Clay result);
  upscale PSNR vs bicubic (PIL) on bicubic-downscaled held-out images; the grid score of every model.
- each model card (addon/models/<id>.md) gets a "Held-out evaluation" section (replaced on every run).
- tests/models/golden/: fixed held-out sketches, their targets and every model's output on them, with the
  sha256 of the model files they came from (tests/models/test_default_models.py compares against them);
  golden/heldout/: every 20th held-out sketch/drawing pair at full size, for the colorize quality test.

Needs data/ (`make data`) except for --golden, which uses the committed sketches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from nftgan.core import pipeline
from nftgan.core.contract import ModelInfo, describe_model
from nftgan.core.styles import INT8_SUFFIX
from nftgan.training.defaults import DEFAULTS
from nftgan.training.hints import REGION_DE, paint, srgb_to_lab, strokes
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "addon" / "models"
DOCS = ROOT / "docs"
GOLDEN = ROOT / "tests" / "models" / "golden"
SHEET_CELL = 150
SHEET_PICKS = 3  # held-out emoji on the contact sheet (each without and with dabs)
GRID_PERIOD = 4  # pixel phases y mod 4, x mod 4: the period of two stacked x2 upsamplings
GOLDEN_SIZE = 128
HELDOUT_EVERY = 20  # tests/models/golden/heldout: every 20th held-out colorize pair (256 px)
GOLDEN_UPSCALE_CROP = 64  # the upscaler's golden input: the colorized image's centre 64 px (-> 256 px)
CANVAS = 1024  # New Sketch Canvas's default size: the chain on a canvas larger than the models' work sizes
BUDGET_MB = 60.0
CARD_MARK = "\n## Held-out evaluation\n"


# ---------------------------------------------------------------- models and images


def shipped(models: Path = MODELS) -> dict[str, ModelInfo]:
    """{file stem: ModelInfo} of every model in addon/models (contract-checked); int8 variants
    (NAME.int8.onnx) are not models of their own: see `int8_variants`."""
    return {p.stem: describe_model(p) for p in sorted(models.glob("*.onnx")) if not _is_int8(p)}


def int8_variants(models: Path = MODELS) -> dict[str, ModelInfo]:
    """{fp32 model's stem: ModelInfo of its int8 variant} for the variants `nftgan export --int8` kept."""
    return {
        p.name[: -len(INT8_SUFFIX)]: describe_model(p) for p in sorted(models.glob("*.onnx")) if _is_int8(p)
    }


def _is_int8(path: Path) -> bool:
    return path.name.lower().endswith(INT8_SUFFIX)


def by_kind(infos: dict[str, ModelInfo], kind: str) -> dict[str, ModelInfo]:
    return {k: v for k, v in infos.items() if v.kind == kind}


def load_rgb01(path: Path) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], top-down, alpha composited over white."""
    with Image.open(path) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    return rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])


def to_rgba(rgb01: np.ndarray) -> np.ndarray:
    """Top-down RGB [0, 1] -> the add-on's RGBA bottom-up convention."""
    h, w = rgb01.shape[:2]
    out = np.ones((h, w, 4), np.float32)
    out[..., :3] = rgb01
    return np.ascontiguousarray(out[::-1])


def from_rgba(rgba: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgba[::-1, :, :3])


def stage(rgb01: np.ndarray, kind: str, info: ModelInfo, threads: int = 0, fill: bool = True) -> np.ndarray:
    """One pipeline stage as the add-on runs it (tiling, work size, follow my colours unless `fill` is
    False), without the sketch's lines laid back over it (keep my lines), so the scores are the model's
    and the fill's, not the artist's lines; RGB [0, 1] top-down."""
    rgba = to_rgba(rgb01)
    return from_rgba(
        pipeline.run(rgba, models={kind: info}, threads=threads, lines=(), fill_hints=fill)[kind]
    )


def run_model(rgb01: np.ndarray, info: ModelInfo, threads: int = 0) -> np.ndarray:
    """The model itself on the whole image (no tiling), e.g. an upscaler on a small image."""
    sess = pipeline.session(info, threads, "cpu")
    x = (rgb01.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype(np.float32)
    (y,) = sess.run(None, {info.input_name or sess.get_inputs()[0].name: x})
    return np.clip((y[0].transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)


def centre(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]


def outputs(
    sketch: np.ndarray, infos: dict[str, ModelInfo], threads: int = 0, upscale_crop: int = 0
) -> dict[str, np.ndarray]:
    """{model id: output}: colorize on the sketch; every stylize and upscale on the colorized image
    (upscale on its centre `upscale_crop` pixels when given, to keep golden files small)."""
    ((cid, cinfo),) = by_kind(infos, "colorize").items()
    colour = stage(sketch, "colorize", cinfo, threads)
    out = {cid: colour}
    for mid, info in by_kind(infos, "stylize").items():
        out[mid] = stage(colour, "stylize", info, threads)
    for mid, info in by_kind(infos, "upscale").items():
        out[mid] = stage(centre(colour, upscale_crop) if upscale_crop else colour, "upscale", info, threads)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def pil_resize(rgb01: np.ndarray, h: int, w: int) -> np.ndarray:
    im = Image.fromarray((np.clip(rgb01, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(im.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def quantize(rgb01: np.ndarray) -> np.ndarray:
    return (np.clip(rgb01, 0, 1) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------- image measures


def grid_score(rgb01: np.ndarray, period: int = GRID_PERIOD, levels: bool = False) -> float:
    """Checkerboard strength: the spread of a high-pass residual's mean over the period x period pixel phases
    (y mod 4, x mod 4), relative to the spread noise would give. About 1 for an image without a grid (noise, a
    drawing); transposed-convolution artefacts give several times that. Relative to noise, a very smooth image
    (an x4 upscale, white paper) scores high on a pattern far too faint to see: `levels` gives the spread itself,
    in 8-bit levels (a visible dot grid is a level or more)."""
    g = np.asarray(rgb01, np.float64).mean(axis=2)
    h, w = g.shape
    p = np.pad(g, 1, mode="edge")
    r = g - sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    r = r[: h // period * period, : w // period * period]
    phases = r.reshape(h // period, period, w // period, period).mean(axis=(0, 2))
    if levels:
        return float(phases.std() * 255)
    noise = r.std() / np.sqrt(r.size / period**2)
    return float(phases.std() / max(noise, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of the luminances (Wang et al. 2004: Gaussian window 11 px, sigma 1.5)."""
    x, y = (np.asarray(i, np.float64) @ np.array([0.299, 0.587, 0.114]) for i in (a, b))
    k = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    k /= k.sum()

    def blur(z):
        z = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, z)
        return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, z)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))).mean())


def lab(rgb01: np.ndarray) -> np.ndarray:
    return srgb_to_lab(np.clip(rgb01, 0, 1))


def dominant_hue(rgb01: np.ndarray, min_chroma: float = 20.0) -> float | None:
    """The chroma-weighted mean hue (degrees, CIELAB) of an image's coloured pixels; None if it has none."""
    c = lab(rgb01).reshape(-1, 3)
    chroma = np.hypot(c[:, 1], c[:, 2])
    keep = chroma > min_chroma
    if keep.sum() < 50:
        return None
    v = (c[keep, 1] + 1j * c[keep, 2]).sum()
    return float(np.degrees(np.angle(v)) % 360)


def hue_spread(hues: list[float | None]) -> float:
    """Circular standard deviation (degrees) of hues: small when every picture comes out in one palette."""
    h = np.radians([x for x in hues if x is not None])
    if not len(h):
        return 0.0
    r = abs(np.exp(1j * h).mean())
    return float(np.degrees(np.sqrt(-2 * np.log(max(r, 1e-12)))))


# ---------------------------------------------------------------- colour hints on held-out sketches

PALETTE = pipeline.HINT_PALETTE  # the dab colours an artist picks in the canvas palette (New Sketch Canvas)
EVAL_DABS = 3  # hints per held-out sketch
AWAY_PX = 6  # hint fidelity is measured this far from the dab and from the sketch's lines
OTHER_DE = 20.0  # ... and nearer to the dab than to any dab in a colour this far from its own (CIELAB)


def region_of(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The connected part of a boolean mask that holds the pixel `seed` (x, y)."""
    img = Image.fromarray(mask.astype(np.uint8) * 255).copy()  # a copy: fromarray's image may share the array
    ImageDraw.floodfill(img, seed, 128)
    return np.asarray(img) == 128


def dabbed(
    sketch: np.ndarray, target: np.ndarray, seed: int, recolour: bool, one_per_shape: bool = True
) -> tuple[np.ndarray, list]:
    """A held-out sketch with EVAL_DABS colour dabs, as an artist would paint them: each inside one region of
    the true picture, in the colour the picture has there or (recolour) in a palette colour far from it: one
    colour per shape (a dab in a shape already dabbed takes that dab's colour: the artist repaints the shape)
    unless `one_per_shape` is False (every dab its own palette colour, several colours in one shape).
    Returns the canvas (RGB [0, 1]) and the dabs as (alpha, colour RGB [0, 1], the dabbed region)."""
    rng = np.random.default_rng(seed)
    s8, t8 = quantize(sketch), quantize(target)
    tl = lab(target)
    out = []
    for alpha, colour, _ in strokes(s8, t8, rng, EVAL_DABS, sloppy=0.0):
        colour = colour / 255.0
        same = np.linalg.norm(tl - lab(colour), axis=-1) < REGION_DE
        ys, xs = np.nonzero((alpha > 0.5) & same)
        region = region_of(same, (int(xs[0]), int(ys[0])))
        if recolour:
            far = [c for c in PALETTE.values() if np.linalg.norm(lab(np.array(c)) - lab(colour)) > 40]
            colour = np.array(far[int(rng.integers(len(far)))])
            shape = [c for _, c, r in out if one_per_shape and (r & region).any()]
            colour = shape[0] if shape else colour
        out.append((alpha, np.asarray(colour, np.float32), region))
    canvas = paint(s8, [(a, c * 255.0) for a, c, _ in out]).astype(np.float32) / 255.0
    return canvas, out


def nearest_dab(dabs: list, shape: tuple[int, int]) -> np.ndarray:
    """(len(dabs), H, W) bool: where each dab is the nearest (Euclidean, to its painted pixels) of the dabs
    in the same shape (dabbed region) in other colours (more than OTHER_DE away): the part of the shape an
    artist expects in that dab's colour. All True for a dab alone in its shape or with dabs of its colour."""
    h, w = shape
    own = np.ones((len(dabs), h, w), bool)
    rivals = [
        [
            j
            for j, (_, cj, rj) in enumerate(dabs)
            if (ri & rj).any() and np.linalg.norm(lab(ci) - lab(cj)) > OTHER_DE
        ]
        for _, ci, ri in dabs
    ]
    if not any(rivals):
        return own
    yy, xx = np.mgrid[0:h, 0:w]
    dist = []
    for alpha, _, _ in dabs:
        m = alpha > 0.5
        edge = m & ~(np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1))
        ys, xs = np.nonzero(edge if edge.any() else m)
        d = np.full((h, w), np.inf, np.float32)
        for y, x in list(zip(ys, xs))[:: max(1, len(ys) // 64)]:
            np.minimum(d, (yy - y) ** 2 + (xx - x) ** 2, out=d)
        dist.append(d)
    for i, js in enumerate(rivals):
        for j in js:
            own[i] &= dist[i] <= dist[j]
    return own


def hint_errors(result: np.ndarray, sketch: np.ndarray, dabs: list) -> list[float]:
    """Per dab: mean CIELAB dE between the dab's colour and the result over its region, away from the dab
    itself and from the sketch's lines (what the model filled, not what the artist painted), and nearer to
    it than to any dab of another colour (a shape dabbed in two colours is scored by halves)."""
    lines = np.asarray(sketch, np.float32).min(axis=2) < 0.5
    grow = lambda m, px: (
        np.asarray(Image.fromarray(m.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * px + 1))) > 0
    )
    near_line = grow(lines, 2)
    rl = lab(result)
    own = nearest_dab(dabs, lines.shape)
    errors = []
    for (alpha, colour, region), mine in zip(dabs, own):
        away = region & mine & ~grow(alpha > 0.05, AWAY_PX) & ~near_line
        if away.sum() >= 40:
            errors.append(float(np.linalg.norm(rl[away] - lab(colour), axis=-1).mean()))
    return errors


# ---------------------------------------------------------------- metrics on held-out data


def paired_scores(src_dir: Path, ref_dir: Path, names: list[str], run, baseline: str) -> dict:
    """Mean L1 / PSNR / SSIM against the reference of run(input) ("model_*") and of the input itself
    ("<baseline>_*"), and the grid score of run(input)."""
    m: dict[str, list[float]] = {}
    for n in names:
        src, ref = load_rgb01(src_dir / n), load_rgb01(ref_dir / n)
        out = run(src)
        for who, img in (("model", out), (baseline, src)):
            for k, f in (("l1", l1), ("psnr", psnr), ("ssim", ssim)):
                m.setdefault(f"{who}_{k}", []).append(f(img, ref))
        m.setdefault("model_grid", []).append(grid_score(out))
    return {k: round(float(np.mean(v) if k != "model_grid" else np.median(v)), 4) for k, v in m.items()}


def colorize_scores(pairs: list[tuple[np.ndarray, np.ndarray]], run) -> dict:
    """One colorize model (`run`: RGB [0, 1] -> RGB [0, 1]) on held-out (sketch, picture) pairs: L1 / PSNR /
    SSIM without and with true-colour dabs, hint fidelity (true colours; palette colours, one per shape; and
    mixed: every dab its own palette colour, scored over the part of its shape nearest to it), grid score,
    hue spread."""
    m: dict[str, list[float]] = {}
    hues = []
    for i, (sketch, target) in enumerate(pairs):
        plain = run(sketch)
        hues.append(dominant_hue(plain))
        m.setdefault("grid", []).append(grid_score(plain))
        true_canvas, true_dabs = dabbed(sketch, target, i, recolour=False)
        palette_canvas, palette_dabs = dabbed(sketch, target, i, recolour=True)
        mixed_canvas, mixed_dabs = dabbed(sketch, target, i, recolour=True, one_per_shape=False)
        hinted = run(true_canvas)
        for tag, img in (("", plain), ("hints_", hinted)):
            m.setdefault(f"{tag}l1", []).append(l1(img, target))
            m.setdefault(f"{tag}psnr", []).append(psnr(img, target))
            m.setdefault(f"{tag}ssim", []).append(ssim(img, target))
        m.setdefault("hint_de_true", []).extend(hint_errors(hinted, sketch, true_dabs))
        m.setdefault("hint_de_palette", []).extend(hint_errors(run(palette_canvas), sketch, palette_dabs))
        m.setdefault("hint_de_mixed", []).extend(hint_errors(run(mixed_canvas), sketch, mixed_dabs))
    out = {k: round(float(np.median(v) if k == "grid" else np.mean(v)), 4) for k, v in m.items()}
    out["hue_spread"] = round(hue_spread(hues), 1)
    out["dabs_scored"] = len(m["hint_de_palette"])
    return out


def colorize_pairs(data: Path, limit: int = 0) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Held-out colorize pairs by part: Fluent flat emoji (ink outlines and line art) and Open Clip Art."""
    a = data / "colorize/test/A"
    parts: dict[str, list] = {}
    for p in sorted(a.glob("*.png")):
        part = "emoji" if p.name.startswith("fluentflat__") else "clipart"
        if not limit or len(parts.get(part, [])) < limit:
            parts.setdefault(part, []).append((load_rgb01(p), load_rgb01(data / "colorize/test/B" / p.name)))
    return parts


def metrics(data: Path, infos: dict[str, ModelInfo], compare: dict[str, ModelInfo], limit: int = 0) -> dict:
    res: dict = {}
    t0 = time.perf_counter()
    colorizers = {
        **by_kind(infos, "colorize"),
        **{f"before: {k}": v for k, v in by_kind(compare, "colorize").items()},
    }
    for part, pairs in colorize_pairs(data, limit).items():
        r = {"images": len(pairs), "set": f"data/colorize/test ({part})"}
        for mid, info in colorizers.items():
            # the previous release had no hint fill: score it as it was
            fill = not mid.startswith("before")
            r[mid] = colorize_scores(
                pairs, lambda x, info=info, fill=fill: stage(x, "colorize", info, fill=fill)
            )
            if not mid.startswith("before"):  # the trained model's own share, without follow my colours
                r[f"{mid}, model alone (no hint fill)"] = colorize_scores(
                    pairs, lambda x, info=info: stage(x, "colorize", info, fill=False)
                )
        r["baseline: the sketch itself"] = colorize_scores(pairs, lambda x: x)
        r["true pictures"] = {
            "grid": round(float(np.median([grid_score(t) for _, t in pairs])), 4),
            "hue_spread": round(hue_spread([dominant_hue(t) for _, t in pairs]), 1),
        }
        res[f"colorize ({part})"] = r
    clay = sorted(p.name for p in (data / "clay/test/A").glob("*.png"))[: limit or None]
    stylizers = {
        **by_kind(infos, "stylize"),
        **{f"before: {k}": v for k, v in by_kind(compare, "stylize").items()},
    }
    for mid, info in stylizers.items():
        if "clay" not in mid:
            continue  # only the clay style has a reference picture per input (the same emoji in Fluent 3D)
        res[mid] = {
            "images": len(clay),
            "set": "data/clay/test: Fluent flat -> Fluent 3D",
            **paired_scores(
                data / "clay/test/A",
                data / "clay/test/B",
                clay,
                lambda x, info=info: stage(x, "stylize", info),
                baseline="input",
            ),
        }
    for tag, models in (("", infos), ("before: ", compare)):  # 3D Clay on a large canvas, after colorize
        colour = next(iter(by_kind(models, "colorize").values()), None)
        for mid, info in by_kind(models, "stylize").items():
            if colour and "clay" in mid:
                res[f"{tag}{mid} on a {CANVAS} px canvas"] = canvas_scores(data, colour, info, limit)
    for mid, info in {
        **by_kind(infos, "upscale"),
        **{f"before: {k}": v for k, v in by_kind(compare, "upscale").items()},
    }.items():
        files = sorted((data / "upscale/test").glob("*.png"))[: limit or None]
        s = info.scale
        m = {"model_psnr": [], "bicubic_psnr": []}
        for f in files:
            hr = load_rgb01(f)
            h, w = (hr.shape[0] // s) * s, (hr.shape[1] // s) * s
            hr = hr[:h, :w]
            lr = pil_resize(hr, h // s, w // s)
            m["model_psnr"].append(psnr(run_model(lr, info), hr))
            m["bicubic_psnr"].append(psnr(pil_resize(lr, h, w), hr))
        res[mid] = {
            "images": len(files),
            "set": f"data/upscale/test, {h // s} px -> {h} px",
            **{k: round(float(np.mean(v)), 3) for k, v in m.items()},
        }
    res["grid score of each model's output"] = grid_scores(data, infos, compare, limit)
    res["_seconds"] = round(time.perf_counter() - t0, 1)
    return res


def canvas_scores(data: Path, colour: ModelInfo, style: ModelInfo, limit: int = 0) -> dict:
    """A style after colorize on a CANVAS px canvas, as the add-on runs the chain (follow my colours, keep my
    lines): held-out emoji sketches with 3 true-colour dabs, each scaled to CANVAS px, whose emoji has a
    Fluent 3D render (data/clay/test/B). Scored at 256 px against that render: L1 / PSNR / SSIM, and L1 away
    from the sketch's lines (Fluent 3D draws no outlines); `sharpness`: the mean gradient of the result at
    CANVAS px (x1000); `hue_turn`: per coloured shape of the sketch, how far the style turns the colorized
    result's hue (mean |degrees|; `hue_median`: signed); `hint_de`: hint fidelity through the whole chain, the
    mean CIELAB dE between each dab's colour and the style's result over the dabbed shape away from the dab
    and the lines (as colorize's `hint_de_true`, scored at 256 px), beside `hint_de_colorized`: the same on
    the colorized result the style was given."""
    from scipy import ndimage

    renders = data / "clay/test/B"
    names = [
        p
        for p in sorted((data / "colorize/test/A").glob("fluentflat__*.png"))
        if (renders / f"{p.name.split('__')[1]}.png").is_file()
    ][: limit or None]
    m: dict[str, list[float]] = {}
    turns = []

    def at256(rgba):
        return (
            np.asarray(Image.fromarray(quantize(from_rgba(rgba))).resize((256, 256), Image.BOX), np.float32)
            / 255
        )

    def hue(ab):
        return np.degrees(np.arctan2(ab[..., 1], ab[..., 0]))

    for i, p in enumerate(names):
        sketch, target = load_rgb01(p), load_rgb01(data / "colorize/test/B" / p.name)
        ref = load_rgb01(renders / f"{p.name.split('__')[1]}.png")
        canvas, dabs = dabbed(sketch, target, i, recolour=False)
        canvas = pil_resize(canvas, CANVAS, CANVAS)
        res = pipeline.run(to_rgba(canvas), models={"colorize": colour, "stylize": style})
        out, coloured = at256(res["stylize"]), at256(res["colorize"])
        lines = sketch.min(axis=2) < 0.5
        off = ~ndimage.binary_dilation(lines, iterations=3)
        for k, v in (("l1", l1(out, ref)), ("psnr", psnr(out, ref)), ("ssim", ssim(out, ref))):
            m.setdefault(k, []).append(v)
        m.setdefault("l1_off_lines", []).append(float(np.abs(out - ref)[off].mean()))
        m.setdefault("hint_de", []).extend(hint_errors(out, sketch, dabs))  # through the whole chain
        m.setdefault("hint_de_colorized", []).extend(hint_errors(coloured, sketch, dabs))
        g = from_rgba(res["stylize"]).mean(axis=2)
        m.setdefault("sharpness", []).append(
            1000 * float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
        )
        before, after = lab(coloured)[..., 1:], lab(out)[..., 1:]
        shapes, n = ndimage.label(off)
        for s in range(1, n + 1):
            inner = ndimage.binary_erosion(shapes == s, iterations=2)
            if inner.sum() >= 150 and np.hypot(*before[inner].mean(axis=0)) >= 20:  # a coloured shape
                turns.append(
                    float(
                        (hue(after[inner].mean(axis=0)) - hue(before[inner].mean(axis=0)) + 180) % 360 - 180
                    )
                )
    scores = {"images": len(names), "set": f"data/colorize/test emoji at {CANVAS} px -> data/clay/test/B"}
    scores.update({k: round(float(np.mean(v)), 4) for k, v in m.items()})
    scores.update(
        hue_turn=round(float(np.mean(np.abs(turns))), 1),
        hue_median=round(float(np.median(turns)), 1),
        shapes=len(turns),
    )
    return scores


def grid_scores(data: Path, infos: dict[str, ModelInfo], compare: dict[str, ModelInfo], limit: int) -> dict:
    """Median grid score of every model's output along the chain on held-out emoji sketches (each stylize and
    upscale model on the colorized image, at the model's own resolution), beside the true pictures'."""
    pairs = colorize_pairs(data, limit or 40)["emoji"][:: 2 if not limit else 1]
    res = {
        "true pictures": round(float(np.median([grid_score(t) for _, t in pairs])), 2),
        "true pictures: 8-bit levels": round(
            float(np.median([grid_score(t, levels=True) for _, t in pairs])), 3
        ),
    }
    for tag, models in (("", infos), ("before: ", compare)):
        if not by_kind(models, "colorize"):
            continue
        scores: dict[str, list[float]] = {}
        for sketch, _ in pairs:
            for mid, img in outputs(sketch, models).items():
                scores.setdefault(tag + mid, []).append(grid_score(img))
                scores.setdefault(f"{tag}{mid}: 8-bit levels", []).append(grid_score(img, levels=True))
        res.update({k: round(float(np.median(v)), 2 if "levels" not in k else 3) for k, v in scores.items()})
    return res


# ---------------------------------------------------------------- contact sheet


def sheet_rows(data: Path, picks: int = SHEET_PICKS) -> list[tuple[str, np.ndarray]]:
    """(label, RGB [0, 1] canvas): held-out emoji line sketches without and with palette dabs, then the demo's
    house as an artist paints it on a 1024 px canvas, without and with dabs."""
    from tools.demo import house

    names = sorted((data / "colorize/test/A").glob("fluentflat__*__ink.png"))
    rows = []
    for i, p in enumerate(names[:: max(1, len(names) // picks)][:picks]):
        sketch, target = load_rgb01(p), load_rgb01(data / "colorize/test/B" / p.name)
        rows.append(("held out", sketch))
        rows.append(("held out + dabs", dabbed(sketch, target, 1000 + i, recolour=True)[0]))
    for dabs in (False, True):
        rows.append((f"demo house{' + dabs' if dabs else ''}", from_rgba(house(1024, dabs=dabs))))
    return rows


def contact_sheet(data: Path, infos: dict[str, ModelInfo], out: Path) -> None:
    """Held-out sketches through the whole chain, one row each: sketch | colorized | each style | x4 upscale
    of the first style (centre, 1:1 pixels)."""
    from PIL import ImageFont

    ((_, colour),) = by_kind(infos, "colorize").items()
    styles, ups = list(by_kind(infos, "stylize").values()), list(by_kind(infos, "upscale").values())
    int8 = " (int8)" * colour.name.endswith("(int8)")
    labels = (
        ["sketch", f"colorized{int8}"] + [f"+ {i.name}" for i in styles] + [f"{ups[0].name}, 1:1"] * bool(ups)
    )
    c, head, side = SHEET_CELL, 22, 92
    rows = sheet_rows(data)
    sheet = Image.new("RGB", (side + c * len(labels), head + c * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for j, label in enumerate(labels):
        draw.text((side + j * c + 4, 4), label, fill=(0, 0, 0), font=font)
    for i, (label, canvas) in enumerate(rows):
        draw.text((4, head + i * c + c // 2 - 16), label.replace(" + ", "\n+ "), fill=(0, 0, 0), font=font)
        cells = [canvas]
        for k, style in enumerate(styles):
            models = {"colorize": colour, "stylize": style, **({"upscale": ups[0]} if ups and not k else {})}
            res = {s: from_rgba(img) for s, img in pipeline.run(to_rgba(canvas), models=models).items()}
            if not k:
                cells.append(res["colorize"])
            cells.append(res["stylize"])
            if "upscale" in res:
                up = res["upscale"]
        if ups:
            cells.append(centre(up, c))
        for j, img in enumerate(cells):
            tile = Image.fromarray(quantize(img))
            if tile.size != (c, c):
                tile = tile.resize((c, c), Image.LANCZOS)
            sheet.paste(tile, (side + j * c, head + i * c))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)


def int8_sheet(data: Path, infos: dict[str, ModelInfo], out: Path) -> bool:
    """The same contact sheet with every model that ships an int8 variant running that variant (what CPUs
    with VNNI/AMX show), to hold beside the fp32 one. False when no variant is shipped."""
    variants = int8_variants()
    if variants:
        contact_sheet(data, {k: variants.get(k, v) for k, v in infos.items()}, out)
    return bool(variants)


# ---------------------------------------------------------------- cards and goldens


def _fmt(r: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in r.items())


def card_lines(mid: str, info: ModelInfo, res: dict) -> list[str]:
    """The held-out results of one shipped model, beside the baselines measured in the same run."""
    if info.kind == "colorize":
        lines = [
            "Held-out line sketches through the add-on pipeline (data/colorize/test, never trained on; emoji "
            "held out by code point). `hints_*`: with 3 dabs in the picture's own colours; `hint_de_true` / "
            "`hint_de_palette`: mean CIELAB dE between a dab's colour and the filled region away from the dab, "
            "for dabs in the true colour / in another palette colour, one per shape (target <= 15); "
            "`hint_de_mixed`: every dab its own palette colour, scored over the part of its shape nearest "
            "to it; `grid`: checkerboard "
            "score (~1 = none); `hue_spread`: spread of the dominant hues of the hint-free results (degrees).",
            "",
        ]
        parts = ("emoji", "clipart")
        for part in parts:
            r = res.get(f"colorize ({part})")
            if r:
                lines.append(f"- {r['set']}, {r['images']} sketches:")
                for who in (
                    mid,
                    *[k for k in r if k.startswith("before: ")],
                    "baseline: the sketch itself",
                    "true pictures",
                ):
                    if who in r:
                        lines.append(f"  - {who}: {_fmt(r[who])}")
        alone = [
            res.get(f"colorize ({part})", {}).get(f"{mid}, model alone (no hint fill)") for part in parts
        ]
        if all(alone):
            figures = [
                f"{k} {' / '.join(f'{a[k]:.2f}' for a in alone)}"
                for k in ("hint_de_true", "hint_de_palette", "hint_de_mixed")
                if all(k in a for a in alone)
            ]
            lines += [
                "",
                f"Without follow my colours (the model alone, `--no-fill-hints`): {', '.join(figures)} "
                f"({' / '.join(parts)}); everything without dabs is the same model output.",
            ]
        return lines
    r = res.get(mid)
    if info.kind == "stylize" and r:
        before = {
            k: v for k, v in res.items() if k.startswith("before: ") and "clay" in k and "model_l1" in v
        }
        lines = [
            f"On {r['images']} held-out emoji ({r['set']}): L1 {r['model_l1']:.4f}, PSNR {r['model_psnr']:.2f} dB, "
            f"SSIM {r['model_ssim']:.3f} to the Fluent 3D render of the same emoji; the flat input itself scores "
            f"L1 {r['input_l1']:.4f}, PSNR {r['input_psnr']:.2f} dB, SSIM {r['input_ssim']:.3f}."
        ]
        for k, v in before.items():
            lines.append(
                f"Same set, {k}: L1 {v['model_l1']:.4f}, PSNR {v['model_psnr']:.2f} dB, SSIM {v['model_ssim']:.3f}."
            )
        big = res.get(f"{mid} on a {CANVAS} px canvas")
        if big:
            lines += [
                "",
                f"After colorize on a {CANVAS} px canvas, as the add-on runs the chain ({big['images']} held-out emoji "
                "sketches with true-colour dabs, scored at 256 px against the Fluent 3D render; Fluent 3D draws no "
                f"outlines, so the artist's lines cost L1): L1 {big['l1']:.4f}, {big['l1_off_lines']:.4f} away from "
                f"the lines, PSNR {big['psnr']:.2f} dB, SSIM {big['ssim']:.3f}; sharpness (mean gradient at "
                f"{CANVAS} px) {big['sharpness']:.1f}; hue turn per coloured shape {big['hue_turn']} degrees "
                f"(median {big['hue_median']}, {big['shapes']} shapes); hint fidelity through the chain (mean "
                f"CIELAB dE between a dab's colour and the result over its shape) {big['hint_de']:.1f}, on the "
                f"colorized result it was given {big['hint_de_colorized']:.1f}.",
            ]
            for k, v in res.items():
                if k.startswith("before: ") and k.endswith(f" on a {CANVAS} px canvas"):
                    lines.append(
                        f"Same canvas, {k.removesuffix(f' on a {CANVAS} px canvas')} (after its own colorizer): "
                        f"L1 {v['l1']:.4f}, {v['l1_off_lines']:.4f} away from the lines, sharpness "
                        f"{v['sharpness']:.1f}, hue turn {v['hue_turn']} degrees, hint fidelity through the chain "
                        f"{v['hint_de']:.1f}."
                    )
        return lines
    if info.kind == "upscale" and r:
        return [
            f"On {r['images']} held-out images ({r['set']}): PSNR {r['model_psnr']:.2f} dB vs bicubic "
            f"{r['bicubic_psnr']:.2f} dB (PIL bicubic, the same low-resolution inputs)."
        ]
    return ["No paired reference exists for this style; see the contact sheet (docs/default_styles.png)."]


def update_cards(infos: dict[str, ModelInfo], res: dict, manifest: dict) -> None:
    grid = res.get("grid score of each model's output", {})
    for mid, info in infos.items():
        card = MODELS / f"{mid}.md"
        text = (
            card.read_text().split(CARD_MARK)[0].rstrip("\n") + "\n" if card.exists() else f"# {info.name}\n"
        )
        lines = [CARD_MARK.strip(), "", *card_lines(mid, info, res)]
        if mid in grid:
            lines += [
                "",
                f"Grid score of its output along the chain on held-out emoji: {grid[mid]} (the true pictures: "
                f"{grid['true pictures']}; about 1 means no checkerboard)"
                + (
                    f"; the pattern's size: {grid[f'{mid}: 8-bit levels']} of an 8-bit level (true pictures: "
                    f"{grid['true pictures: 8-bit levels']})."
                    if f"{mid}: 8-bit levels" in grid
                    else "."
                ),
            ]
        used = next((d.sources for d in DEFAULTS if d.id == mid), ())
        lines += ["", "Data sources (from `nftgan data`, see data/manifest.json):", ""]
        for name in used:
            src = manifest["sources"][name]
            lines.append(
                f"- {name}: {src['registry']} package `{src['package']}` {src['version']}, "
                f"{src['license']}; {src['images']} images ({src['train']} train, {src['test']} "
                f"held out), {src['duplicates_dropped']} duplicates dropped"
            )
        lines += ["", "Reproduce: `make models` (training/defaults.py, then tools/evidence.py)."]
        card.write_text(text + "\n" + "\n".join(lines) + "\n")


def golden_inputs() -> list[Path]:
    return sorted((GOLDEN / "sketches").glob("*.png"))


def write_golden(infos: dict[str, ModelInfo], data: Path | None) -> None:
    """Pick fixed held-out sketches (first run only), then store every model's output on them."""
    sk = GOLDEN / "sketches"
    if not golden_inputs():
        if data is None:
            raise SystemExit("no golden sketches yet: run with data/ present (make data)")
        sk.mkdir(parents=True, exist_ok=True)
        (GOLDEN / "targets").mkdir(parents=True, exist_ok=True)
        names = sorted(p.name for p in (data / "colorize/test/A").glob("*.png"))[:2]
        for n in names:
            for sub, dst in (("A", sk), ("B", GOLDEN / "targets")):
                img = Image.open(data / "colorize/test" / sub / n).convert("RGB")
                img.resize((GOLDEN_SIZE, GOLDEN_SIZE), Image.LANCZOS).save(dst / n, optimize=True)
    held = GOLDEN / "heldout"
    if not (held / "A").is_dir():  # every 20th held-out pair at native size, for the colorize quality test
        if data is None:
            raise SystemExit("no held-out pairs yet: run with data/ present (make data)")
        names = sorted(p.name for p in (data / "colorize/test/A").glob("*.png"))[::HELDOUT_EVERY]
        for sub in ("A", "B"):
            (held / sub).mkdir(parents=True, exist_ok=True)
            for n in names:
                Image.open(data / "colorize/test" / sub / n).convert("RGB").save(
                    held / sub / n, optimize=True
                )
    record = {
        "tolerance": {"max_abs": 4, "mean_abs": 0.5},
        "threads": 1,
        "upscale_crop": GOLDEN_UPSCALE_CROP,
        "models": {},
        "outputs": {},
    }
    out_dir = GOLDEN / "outputs"
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    for mid, info in infos.items():
        record["models"][mid] = hashlib.sha256(Path(info.path).read_bytes()).hexdigest()
    for p in golden_inputs():
        res = outputs(load_rgb01(p), infos, threads=1, upscale_crop=GOLDEN_UPSCALE_CROP)
        for mid, img in res.items():
            name = f"{p.stem}__{mid}.png"
            Image.fromarray(quantize(img)).save(out_dir / name)
            record["outputs"][name] = {"input": p.name, "model": mid}
    (GOLDEN / "golden.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.evidence", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "data")
    p.add_argument("--golden", action="store_true", help="only rewrite the golden fixtures")
    p.add_argument(
        "--compare", type=Path, help="also score the models in this folder (e.g. the previous release)"
    )
    p.add_argument("--limit", type=int, default=0, help="at most N held-out images per metric (0: all)")
    args = p.parse_args(argv)
    infos = shipped()
    if not by_kind(infos, "colorize"):
        raise SystemExit(f"no colorize model in {MODELS}: run `make models` first")
    total = sum(Path(i.path).stat().st_size for i in infos.values()) / 1e6
    print(f"{len(infos)} shipped models, {total:.1f} MB (budget {BUDGET_MB:.0f} MB)")
    if not args.golden:
        manifest = json.loads((args.data / "manifest.json").read_text())
        res = metrics(args.data, infos, shipped(args.compare) if args.compare else {}, args.limit)
        DOCS.mkdir(exist_ok=True)
        (DOCS / "default_styles.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        print(json.dumps(res, indent=1, sort_keys=True))
        contact_sheet(args.data, infos, DOCS / "default_styles.png")
        print(f"wrote {DOCS / 'default_styles.png'}")
        if int8_sheet(args.data, infos, DOCS / "default_styles_int8.png"):
            print(f"wrote {DOCS / 'default_styles_int8.png'}")
        update_cards(infos, res, manifest)
    write_golden(infos, args.data if (args.data / "colorize/test").is_dir() else None)
    print(f"wrote golden fixtures to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
