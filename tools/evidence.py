"""Evidence for the shipped default models (addon/models/), made with the add-on's own pipeline.

    python -m tools.evidence            # contact sheet + held-out metrics + model cards + goldens
    python -m tools.evidence --golden   # only the golden fixtures (after re-exporting a model)

- docs/default_styles.png: held-out sketch | colorized | each style | x4 upscale (centre crop) | bicubic x4
- docs/default_styles_int8.png: the same with the shipped int8 variants (when there are any)
- docs/default_styles.json: held-out metrics, each beside its trivial baseline, measured in one run:
  colorize L1 / PSNR vs the sketch itself; clay (Noto -> Fluent 3D, same code point) vs the Noto image
  itself; upscale PSNR vs bicubic (PIL) on bicubic-downscaled held-out images.
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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "addon" / "models"
DOCS = ROOT / "docs"
GOLDEN = ROOT / "tests" / "models" / "golden"
SHEET_CELL = 150
SHEET_ROWS = 5
GOLDEN_SIZE = 128
HELDOUT_EVERY = 20  # tests/models/golden/heldout: every 20th held-out colorize pair (256 px)
GOLDEN_UPSCALE_CROP = 64  # the upscaler's golden input: the colorized image's centre 64 px (-> 256 px)
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


def stage(rgb01: np.ndarray, kind: str, info: ModelInfo, threads: int = 0) -> np.ndarray:
    """One pipeline stage exactly as the add-on runs it (tiling included); RGB [0, 1] top-down."""
    return from_rgba(pipeline.run(to_rgba(rgb01), models={kind: info}, threads=threads)[kind])


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


# ---------------------------------------------------------------- metrics on held-out data


def paired_scores(src_dir: Path, ref_dir: Path, names: list[str], run, baseline: str) -> dict:
    """Mean L1 / PSNR against the reference of run(input) ("model_*") and of the input itself ("<baseline>_*")."""
    m: dict[str, list[float]] = {f"{who}_{k}": [] for who in ("model", baseline) for k in ("l1", "psnr")}
    for n in names:
        src, ref = load_rgb01(src_dir / n), load_rgb01(ref_dir / n)
        for who, img in (("model", run(src)), (baseline, src)):
            m[f"{who}_l1"].append(l1(img, ref))
            m[f"{who}_psnr"].append(psnr(img, ref))
    return {k: round(float(np.mean(v)), 4) for k, v in m.items()}


def metrics(data: Path, infos: dict[str, ModelInfo], limit: int = 0) -> dict:
    res: dict = {}
    t0 = time.perf_counter()
    ((cid, cinfo),) = by_kind(infos, "colorize").items()
    names = sorted(p.name for p in (data / "colorize/test/A").glob("*.png"))[: limit or None]
    res[cid] = {
        "images": len(names),
        "set": "data/colorize/test",
        **paired_scores(
            data / "colorize/test/A",
            data / "colorize/test/B",
            names,
            lambda x: stage(x, "colorize", cinfo),
            baseline="sketch",
        ),
    }
    for mid, info in by_kind(infos, "stylize").items():
        if "clay" not in mid:
            continue  # only the clay style has a reference image per input (same emoji code point)
        pairs = sorted(
            {p.name for p in (data / "noto/test").glob("*.png")}
            & {p.name for p in (data / "fluent3d/test").glob("*.png")}
        )[: limit or None]
        res[mid] = {
            "images": len(pairs),
            "set": "data/noto/test -> data/fluent3d/test",
            **paired_scores(
                data / "noto/test",
                data / "fluent3d/test",
                pairs,
                lambda x, info=info: stage(x, "stylize", info),
                baseline="input",
            ),
        }
    for mid, info in by_kind(infos, "upscale").items():
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
    res["_seconds"] = round(time.perf_counter() - t0, 1)
    return res


# ---------------------------------------------------------------- contact sheet


def contact_sheet(data: Path, infos: dict[str, ModelInfo], out: Path, rows: int = SHEET_ROWS) -> None:
    """Held-out sketches through the whole chain, one row each."""
    from PIL import ImageDraw, ImageFont

    names = sorted(p.name for p in (data / "colorize/test/A").glob("*.png"))
    step = max(1, len(names) // rows)
    picked = names[::step][:rows]
    styles, ups = by_kind(infos, "stylize"), by_kind(infos, "upscale")
    labels = (
        [
            "held-out sketch",
            "colorized" + " (int8)" * next(iter(by_kind(infos, "colorize").values())).name.endswith("(int8)"),
        ]
        + [f"+ {i.name}" for i in styles.values()]
        + [f"{i.name} (crop)" for i in ups.values()]
        + ["bicubic x4 (crop)"] * bool(ups)
    )
    c, head = SHEET_CELL, 22
    sheet = Image.new("RGB", (c * len(labels), head + c * len(picked)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for j, label in enumerate(labels):
        draw.text((j * c + 4, 4), label, fill=(0, 0, 0), font=font)
    for i, n in enumerate(picked):
        sketch = load_rgb01(data / "colorize/test/A" / n)
        res = outputs(sketch, infos)
        cells = [sketch, res[next(iter(by_kind(infos, "colorize")))]] + [res[k] for k in styles]
        for k in ups:  # the centre quarter of the colorized image, x4: detail is visible
            cells.append(centre(res[k], res[k].shape[0] // 4))
        if ups:
            crop = centre(cells[1], cells[1].shape[0] // 4)
            s = next(iter(ups.values())).scale
            cells.append(pil_resize(crop, crop.shape[0] * s, crop.shape[1] * s))
        for j, img in enumerate(cells):
            tile = Image.fromarray(quantize(img)).resize((c, c), Image.LANCZOS)
            sheet.paste(tile, (j * c, head + i * c))
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


def update_cards(infos: dict[str, ModelInfo], res: dict, manifest: dict) -> None:
    for mid, info in infos.items():
        card = MODELS / f"{mid}.md"
        text = (
            card.read_text().split(CARD_MARK)[0].rstrip("\n") + "\n" if card.exists() else f"# {info.name}\n"
        )
        lines = [CARD_MARK.strip(), ""]
        r = res.get(mid)
        if r and info.kind == "colorize":
            lines.append(
                f"On {r['images']} held-out sketch/drawing pairs ({r['set']}), through the add-on pipeline: "
                f"L1 {r['model_l1']:.4f} and PSNR {r['model_psnr']:.2f} dB against the true drawing; the "
                f"trivial baseline (the sketch itself) scores L1 {r['sketch_l1']:.4f}, PSNR "
                f"{r['sketch_psnr']:.2f} dB."
            )
        elif r and info.kind == "stylize":
            lines.append(
                f"On {r['images']} held-out emoji ({r['set']}): L1 {r['model_l1']:.4f}, PSNR "
                f"{r['model_psnr']:.2f} dB to the Fluent 3D render of the same code point; the flat input "
                f"itself scores L1 {r['input_l1']:.4f}, PSNR {r['input_psnr']:.2f} dB."
            )
        elif r and info.kind == "upscale":
            lines.append(
                f"On {r['images']} held-out images ({r['set']}): PSNR {r['model_psnr']:.2f} dB vs bicubic "
                f"{r['bicubic_psnr']:.2f} dB (PIL bicubic, the same low-resolution inputs)."
            )
        else:
            lines.append(
                "No paired reference exists for this style; see the contact sheet "
                "(docs/default_styles.png) for held-out results."
            )
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
    p.add_argument("--limit", type=int, default=0, help="at most N held-out images per metric (0: all)")
    args = p.parse_args(argv)
    infos = shipped()
    if not by_kind(infos, "colorize"):
        raise SystemExit(f"no colorize model in {MODELS}: run `make models` first")
    total = sum(Path(i.path).stat().st_size for i in infos.values()) / 1e6
    print(f"{len(infos)} shipped models, {total:.1f} MB (budget {BUDGET_MB:.0f} MB)")
    if not args.golden:
        manifest = json.loads((args.data / "manifest.json").read_text())
        res = metrics(args.data, infos, args.limit)
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
