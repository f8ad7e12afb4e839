"""Hint-free colorize on held-out sketches alone and composed into scenes (issue 11: each object its own
exemplar, addon/core/exemplar.py).

    python -m tools.scene_eval [--data data] [--json out.json] [--save out.npz] [--limit N]

(a) Every held-out sketch (data/colorize/test) without dabs through the pipeline as the add-on runs it
(`evidence.stage`: follow my colours on, the artist's lines not laid back), by part (emoji, clip art): hue
spread of the results' dominant hues (the true pictures' in brackets), `colour_chroma` and `hue_de` (mean
chroma of the result and mean CIELAB dE to the truth where the true picture is coloured, chroma 20+), L1.

(b) Scenes: the held-out sketches, shuffled (seed 0), two or three side by side on one 256 px canvas, each
scaled down to a cell (128 or 85 px; the sketch's darkest pixel of each block, so its lines keep about their
width, the true picture area-averaged), standing on one row, with and without a ground line drawn edge to
edge under them (its 2 px rows touching every object's lowest line). Each object's cell is scored against its
own true picture (the ground line's rows left out): L1, and mean dE where the truth is coloured.
`--save`: every result (uint8), for contact sheets.

(c) `--dabs`: the same scenes with some objects dabbed (in each scene of k, 1 to k - 1 of them, drawn at random,
seed 1): each dabbed object gets evidence's held-out dabs (`evidence.dabbed`: EVAL_DABS strokes in the true
picture's own colours, or with `--palette` in palette colours far from them, one per shape) painted on the
scene at the canvas's own scale; an object none of whose dabs landed counts as undabbed. Each scene runs twice,
the exemplar for the objects without a dab off and on (`exemplar.DABBED`: before / after), and every object is
scored in its cell, by whether it carries a dab: L1, PSNR and dE where the truth is coloured (as in (b)), and,
for the dabbed ones, hint dE (`evidence.hint_errors`: the dab's colour against its region away from it). Also
held-out singles with evidence's dabs (true colours and palette), off and on: L1, PSNR, hint dE, and how many
results change at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from nftgan.core import exemplar
from nftgan.core.contract import describe_model

from tools import evidence

ROOT = Path(__file__).resolve().parents[1]
N = 256
GROUND = 232  # the ground line's top row in a scene
COLOUR_C = 20.0


def shrink(img: np.ndarray, k: int, darkest: bool) -> np.ndarray:
    """(H, W, 3) scaled down k times: each k x k block's darkest pixel (a sketch: lines keep their width) or
    its mean (a picture)."""
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    b = img[:h, :w].reshape(h // k, k, w // k, k, 3)
    if not darkest:
        return b.mean(axis=(1, 3))
    lum = b.sum(axis=-1)
    flat = lum.transpose(0, 2, 1, 3).reshape(h // k, w // k, k * k)
    pick = flat.argmin(axis=-1)
    bb = b.transpose(0, 2, 1, 3, 4).reshape(h // k, w // k, k * k, 3)
    return np.take_along_axis(bb, pick[..., None, None], axis=2)[:, :, 0]


def scene(pairs: list, ground: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """(sketch, truth, cells): `pairs` side by side on an N px canvas, standing on one row; cells: each object's
    (y0, y1, x0, x1) and the rows of the ground line in it to leave out."""
    k = len(pairs)
    sketch = np.ones((N, N, 3), np.float32)
    truth = np.ones((N, N, 3), np.float32)
    cells = []
    side = N // k
    for i, (a, b) in enumerate(pairs):
        sa, sb = shrink(a, k, True), shrink(b, k, False)
        dark = np.flatnonzero((sa.min(axis=-1) < 0.5).any(axis=1))
        low = int(dark[-1]) if len(dark) else side - 1
        y0 = GROUND - low  # (its lowest line on the ground line's top row)
        x0 = i * side + (N - k * side) // 2
        y1 = min(N, y0 + side)
        sketch[y0:y1, x0 : x0 + side] = sa[: y1 - y0]
        truth[y0:y1, x0 : x0 + side] = sb[: y1 - y0]
        cells.append((max(0, y0), y1, x0, x0 + side))
    if ground:
        sketch[GROUND : GROUND + 2, 3 : N - 3] = 0.0
    return sketch, truth, cells


def dabbed_scene(pairs: list, ground: bool, rng: np.random.Generator, palette: bool) -> tuple:
    """`scene` with 1 to k - 1 of its objects dabbed (`evidence.dabbed` on the scene, its truth left white outside
    the object's cell, so the dabs start and stay in it): (canvas, sketch, truth, cells, dabbed per object, the
    dabs (alpha, colour, region) in scene px)."""
    sketch, truth, cells = scene(pairs, ground)
    k = len(pairs)
    which = rng.choice(k, int(rng.integers(1, k)), replace=False)
    canvas, dabs, has = sketch, [], [False] * k
    for j in sorted(which):
        y0, y1, x0, x1 = cells[j]
        own = np.ones_like(truth)
        own[y0:y1, x0:x1] = truth[y0:y1, x0:x1]
        canvas, got = evidence.dabbed(canvas, own, int(rng.integers(1 << 30)), recolour=palette)
        cell = np.zeros((N, N), bool)
        cell[y0:y1, x0:x1] = True
        got = [(a, c, r & cell) for a, c, r in got]  # (a pale dab's region reaches the white round the cell)
        has[j] = bool(got)
        dabs += got
    return canvas, sketch, truth, cells, has, dabs


def psnr_of(out: np.ndarray, truth: np.ndarray, keep: np.ndarray) -> float:
    mse = float(np.mean((out[keep].astype(np.float64) - truth[keep]) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def de_l1(out: np.ndarray, truth: np.ndarray, keep: np.ndarray) -> tuple[float, float | None]:
    lo, lt = evidence.lab(out), evidence.lab(truth)
    col = keep & (np.hypot(lt[..., 1], lt[..., 2]) >= COLOUR_C)
    de = float(np.linalg.norm(lo[col] - lt[col], axis=-1).mean()) if col.sum() >= 20 else None
    return float(np.abs(out[keep] - truth[keep]).mean()), de


def singles(pairs, info, saved) -> dict:
    hues, chroma, de, l1 = [], [], [], []
    for sketch, truth in pairs:
        out = evidence.stage(sketch, "colorize", info, 1)
        saved.append(evidence.quantize(out))
        hues.append(evidence.dominant_hue(out))
        l1.append(evidence.l1(out, truth))
        lo, lt = evidence.lab(out), evidence.lab(truth)
        col = np.hypot(lt[..., 1], lt[..., 2]) >= COLOUR_C
        if col.any():
            chroma.append(float(np.hypot(lo[col][:, 1], lo[col][:, 2]).mean()))
            de.append(float(np.linalg.norm(lo[col] - lt[col], axis=-1).mean()))
    return {
        "images": len(pairs),
        "hue_spread": round(evidence.hue_spread(hues), 1),
        "true_hue_spread": round(evidence.hue_spread([evidence.dominant_hue(t) for _, t in pairs]), 1),
        "colour_chroma": round(float(np.mean(chroma)), 2),
        "hue_de": round(float(np.mean(de)), 2),
        "l1": round(float(np.mean(l1)), 4),
    }


def scenes(pairs, info, k: int, ground: bool, saved) -> dict:
    order = np.random.default_rng(0).permutation(len(pairs))
    l1, de = [], []
    for g in range(len(order) // k):
        group = [pairs[j] for j in order[g * k : (g + 1) * k]]
        sketch, truth, cells = scene(group, ground)
        out = evidence.stage(sketch, "colorize", info, 1)
        saved.append(evidence.quantize(out))
        for y0, y1, x0, x1 in cells:
            keep = np.zeros((N, N), bool)
            keep[y0:y1, x0:x1] = True
            if ground:
                keep[GROUND : GROUND + 2] = False
            a, b = de_l1(out, truth, keep)
            l1.append(a)
            if b is not None:
                de.append(b)
    return {
        "scenes": len(order) // k,
        "objects": len(l1),
        "l1": round(float(np.mean(l1)), 4),
        "de": round(float(np.mean(de)), 2),
    }


def _switch(on: bool) -> None:
    exemplar.DABBED = on


def _mean(v: list) -> float | None:
    return round(float(np.mean(v)), 4) if v else None


def scenes_dabbed(pairs, info, k: int, ground: bool, palette: bool, saved) -> dict:
    """(c): the scenes of `k` with some objects dabbed, the exemplar for the undabbed ones off and on."""
    order = np.random.default_rng(0).permutation(len(pairs))
    rng = np.random.default_rng(1)
    m: dict[str, list] = {}
    changed = 0
    for g in range(len(order) // k):
        group = [pairs[j] for j in order[g * k : (g + 1) * k]]
        canvas, sketch, truth, cells, has, dabs = dabbed_scene(group, ground, rng, palette)
        outs = {}
        for tag, on in (("before", False), ("after", True)):
            _switch(on)
            outs[tag] = evidence.stage(canvas, "colorize", info, 1)
        _switch(True)
        changed += int(not np.array_equal(outs["before"], outs["after"]))
        saved.append(
            np.concatenate([evidence.quantize(canvas)] + [evidence.quantize(o) for o in outs.values()], 1)
        )
        for tag, out in outs.items():
            for (y0, y1, x0, x1), dab in zip(cells, has):
                keep = np.zeros((N, N), bool)
                keep[y0:y1, x0:x1] = True
                if ground:
                    keep[GROUND : GROUND + 2] = False
                who = "dabbed" if dab else "undabbed"
                a, b = de_l1(out, truth, keep)
                m.setdefault(f"{who} l1 {tag}", []).append(a)
                m.setdefault(f"{who} psnr {tag}", []).append(psnr_of(out, truth, keep))
                if b is not None:
                    m.setdefault(f"{who} de {tag}", []).append(b)
            m.setdefault(f"hint de {tag}", []).extend(evidence.hint_errors(out, sketch, dabs))
    res = {"scenes": len(order) // k, "changed": changed}
    res["objects dabbed / undabbed"] = [
        len(m.get("dabbed l1 after", [])),
        len(m.get("undabbed l1 after", [])),
    ]
    for key in sorted(m):
        res[key] = _mean(m[key])
    return res


def singles_dabbed(pairs, info) -> dict:
    """Held-out singles with evidence's dabs (true colours, palette), the exemplar for undabbed objects off / on."""
    m: dict[str, list] = {}
    changed = 0
    for i, (sketch, truth) in enumerate(pairs):
        for kind, recolour in (("true", False), ("palette", True)):
            canvas, dabs = evidence.dabbed(sketch, truth, i, recolour=recolour)
            outs = {}
            for tag, on in (("before", False), ("after", True)):
                _switch(on)
                outs[tag] = out = evidence.stage(canvas, "colorize", info, 1)
                m.setdefault(f"hint de {kind} {tag}", []).extend(evidence.hint_errors(out, sketch, dabs))
                if kind == "true":
                    m.setdefault(f"l1 {tag}", []).append(evidence.l1(out, truth))
                    m.setdefault(f"psnr {tag}", []).append(evidence.psnr(out, truth))
            _switch(True)
            changed += int(not np.array_equal(outs["before"], outs["after"]))
    res = {"images": len(pairs), "changed (of both canvases)": changed}
    for key in sorted(m):
        res[key] = _mean(m[key])
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--model", type=Path, default=ROOT / "addon" / "models" / "colorize-flat.onnx")
    ap.add_argument("--limit", type=int, default=0, help="held-out sketches per part (0: all)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--save", type=Path, help="every result, uint8, in an .npz")
    ap.add_argument("--skip-singles", action="store_true")
    ap.add_argument(
        "--dabs", action="store_true", help="(c): scenes with some objects dabbed, before / after"
    )
    ap.add_argument("--palette", action="store_true", help="with --dabs: palette dabs, not the true colours")
    args = ap.parse_args(argv)
    info = describe_model(args.model)
    parts = evidence.colorize_pairs(args.data, args.limit)
    res: dict = {}
    saved: dict[str, list] = {}
    if not args.skip_singles and not args.dabs:
        for part, pairs in parts.items():
            t0 = time.perf_counter()
            res[part] = singles(pairs, info, saved.setdefault(part, []))
            print(part, json.dumps(res[part]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    everything = [p for ps in parts.values() for p in ps]
    if args.dabs:
        return _dabbed(args, info, parts, everything, res, saved)
    for k in (2, 3):
        for ground in (False, True):
            key = f"scenes of {k}" + (", ground line" if ground else "")
            t0 = time.perf_counter()
            res[key] = scenes(everything, info, k, ground, saved.setdefault(key, []))
            print(key, json.dumps(res[key]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return _written(args, res, saved)


def _dabbed(args, info, parts, everything, res, saved) -> int:
    if not args.skip_singles:
        for part, pairs in parts.items():
            t0 = time.perf_counter()
            res[f"{part}, dabbed"] = singles_dabbed(pairs, info)
            print(part, json.dumps(res[f"{part}, dabbed"]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    for k in (2, 3):
        for ground in (False, True):
            key = f"dabbed scenes of {k}" + (", ground line" if ground else "")
            t0 = time.perf_counter()
            res[key] = scenes_dabbed(everything, info, k, ground, args.palette, saved.setdefault(key, []))
            print(key, json.dumps(res[key]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return _written(args, res, saved)


def _written(args, res, saved) -> int:
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    if args.save:
        np.savez_compressed(args.save, **{k: np.stack(v) for k, v in saved.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
