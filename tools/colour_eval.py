"""Colorize models side by side on held-out sketches through the add-on pipeline (issue 11: varied colours).

    python -m tools.colour_eval SHIPPED.onnx CANDIDATE.onnx ... [--limit 60] [--sheet out.png] [--json out.json]

For each model and each held-out part (data/colorize/test: emoji, clip art): tools/evidence's
`colorize_scores` (L1 without and with dabs, hint dE true / palette / mixed, hue spread of the hint-free
results), plus, on the hint-free results (`evidence.stage`: the pipeline as the add-on runs it, follow my
colours and its automatic dab on, the artist's lines not laid back), what a higher hue spread alone does not
tell: `paper_chroma`, the mean a*b* chroma where the true picture is white paper (L* over 90, chroma under 5:
white must stay white); `colour_chroma`, the mean chroma where the true picture is coloured (chroma 20 or
more: a model that pales its shapes lowers it); `coloured_px`, the fraction of those pixels the result gives
chroma 20 or more; `hue_de`, the mean CIELAB dE between the result and the true picture where the true picture
is coloured. `--sheet`: a contact sheet (sketch | each model) of hint-free held-out sketches, the demo house
without and with its dabs, and two held-out sketches with palette dabs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from nftgan.core.contract import describe_model
from PIL import Image, ImageDraw

from tools import demo, evidence

ROOT = Path(__file__).resolve().parents[1]
PAPER_L, PAPER_C, COLOUR_C = 90.0, 5.0, 20.0
SHEET_SIDE = 256
THREADS = 1  # one onnxruntime thread (beside a training run); 0: all cores


def colour_measures(outs: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """The hint-free results' chroma on the true pictures' paper and coloured pixels (see the module's notes)."""
    paper, colour, coloured, de = [], [], [], []
    for out, t in zip(outs, targets):
        lo, lt = evidence.lab(out), evidence.lab(t)
        co, ct = np.hypot(lo[..., 1], lo[..., 2]), np.hypot(lt[..., 1], lt[..., 2])
        white = (lt[..., 0] > PAPER_L) & (ct < PAPER_C)
        col = ct >= COLOUR_C
        if white.any():
            paper.append(float(co[white].mean()))
        if col.any():
            colour.append(float(co[col].mean()))
            coloured.append(float((co[col] >= COLOUR_C).mean()))
            de.append(float(np.linalg.norm(lo[col] - lt[col], axis=-1).mean()))
    return {
        "paper_chroma": round(float(np.mean(paper)), 2),
        "colour_chroma": round(float(np.mean(colour)), 2),
        "coloured_px": round(float(np.mean(coloured)), 3),
        "hue_de": round(float(np.mean(de)), 2),
    }


def score(info, pairs) -> dict:
    plain: dict[bytes, np.ndarray] = {}
    sketches = {p[0].tobytes() for p in pairs}

    def run(x):
        out = evidence.stage(x, "colorize", info, THREADS)
        key = x.tobytes()
        if key in sketches:
            plain[key] = out
        return out

    res = evidence.colorize_scores(pairs, run)
    res.update(colour_measures([plain[s.tobytes()] for s, _ in pairs], [t for _, t in pairs]))
    return res


def sheet(models: dict, pairs, out: Path, picks: int) -> None:
    """sketch | each model's hint-free result, for `picks` held-out sketches, the demo house (with and without
    its dabs) and two held-out sketches with palette dabs; 1:1 at SHEET_SIDE px a cell."""
    rows: list[tuple[str, np.ndarray]] = []
    step = max(1, len(pairs) // picks)
    for k in range(min(picks, len(pairs) // step)):
        i = min(len(pairs) - 1, k * step + k % 2)  # (the pairs alternate emoji and clip art: some of each)
        rows.append((f"held-out {i}", pairs[i][0]))
    for dabs in (False, True):
        rgba = demo.house(SHEET_SIDE, dabs=dabs)
        rows.append((f"house{' dabbed' if dabs else ''}", evidence.from_rgba(rgba)))
    for i in (1, len(pairs) // 2):
        canvas, _ = evidence.dabbed(pairs[i][0], pairs[i][1], i, recolour=True)
        rows.append((f"held-out {i}, palette dabs", canvas))
    names = ["input", *models]
    pad, head = 4, 16
    w = len(names) * (SHEET_SIDE + pad) + pad
    h = len(rows) * (SHEET_SIDE + pad + head) + pad + head
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    for j, n in enumerate(names):
        draw.text((pad + j * (SHEET_SIDE + pad), 2), n[:40], fill="black")
    for r, (label, x) in enumerate(rows):
        y = head + r * (SHEET_SIDE + pad + head)
        draw.text((pad, y + 2), label, fill="black")
        cells = [x, *(evidence.stage(x, "colorize", info, THREADS) for info in models.values())]
        for j, c in enumerate(cells):
            c = evidence.pil_resize(c, SHEET_SIDE, SHEET_SIDE) if c.shape[0] != SHEET_SIDE else c
            img.paste(Image.fromarray(evidence.quantize(c)), (pad + j * (SHEET_SIDE + pad), y + head))
    img.save(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="colorize .onnx files (the first: the reference)")
    ap.add_argument("--limit", type=int, default=60, help="held-out sketches per part")
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--sheet", type=Path, help="write the contact sheet here")
    ap.add_argument("--picks", type=int, default=12, help="hint-free held-out sketches on the sheet")
    ap.add_argument("--json", type=Path, help="write the scores here")
    ap.add_argument("--no-scores", action="store_true", help="the contact sheet only")
    ap.add_argument("--part", choices=("emoji", "clipart"), help="score this held-out part only")
    args = ap.parse_args(argv)
    models = {p.stem if p.parent.name != "models" else str(p): describe_model(p) for p in args.models}
    parts = evidence.colorize_pairs(args.data, args.limit)
    if args.sheet:
        mixed = [p for ps in zip(*parts.values()) for p in ps]  # emoji and clip art alternating
        sheet(models, mixed, args.sheet, args.picks)
        print(f"wrote {args.sheet}", flush=True)
    if args.no_scores:
        return 0
    res: dict = {}
    for part, pairs in parts.items():
        if args.part and part != args.part:
            continue
        for name, info in models.items():
            t0 = time.perf_counter()
            res.setdefault(part, {})[name] = score(info, pairs)
            print(part, name, json.dumps(res[part][name]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
        targets = [t for _, t in pairs]
        res[part]["true pictures"] = {
            "hue_spread": round(evidence.hue_spread([evidence.dominant_hue(t) for t in targets]), 1),
            **colour_measures(targets, targets),
        }
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    keys = ["l1", "hints_l1", "hint_de_true", "hint_de_palette", "hint_de_mixed", "hue_spread"]
    keys += ["paper_chroma", "colour_chroma", "coloured_px", "hue_de"]
    for part, r in res.items():
        print(f"\n{part}: " + " | ".join(keys))
        for name, m in r.items():
            print(f"  {name}: " + " | ".join(str(m.get(k, "-")) for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
