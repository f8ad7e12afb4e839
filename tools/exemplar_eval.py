"""Measure the colours a sketch without dabs takes from its exemplar (addon/core/exemplar.py), in general.

    python -m tools.exemplar_eval [--data data] [--every 1] [--index addon/models/exemplars.npz]

Prints two tables:

- Colour agreement. Each line sketch is matched as the pipeline matches it (`exemplar.match_objects` on the
  shapes follow my colours paints, hintfill.prepare at its 256 px), and each of its shapes' colour is held
  against its own true picture's colour under the shape (the median CIELAB of the picture's pixels there, its
  dark outlines left out). Two sets:
  - leave-one-out over the training sketches in the index: each one is matched against the index without its
    own picture and its near-duplicates (the same emoji in another variant: the same first code point; the
    same Open Clip Art drawing numbered _01, _02..; any sketch whose descriptor is `DUPLICATE` alike);
  - the held-out sketches (data/colorize/test, never in the index), against the whole index.
  Per set: shapes given a colour (share of the shapes' pixels), the median CIELAB dE of the coloured shapes
  (and its mean over their pixels), and the share of the shapes' pixels within 15 and 30 dE (a shape left uncoloured counts as outside), beside
  a constant baseline (every shape the median colour of all the pictures' shapes) and the match's time.
- Simple objects: the demo house without dabs (tools.demo.house) at 256 px and as the 1024 px canvas the
  pipeline scales to its 256 px work size; for the house, the tree and the sun, the picture their shapes took
  their colours from and the colour of their largest shape.

The sketches' shapes are cached in .cache/exemplar_eval/ (first run: a few minutes on one core).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from nftgan.core import exemplar, hintfill, pipeline
from nftgan.core.colour import lab
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "exemplar_eval"
CACHE_VERSION = 1
DUPLICATE = 0.97  # descriptor cosine: another sketch this alike is the same drawing (left out of its match)
WITHIN = (15.0, 30.0)  # CIELAB dE
SIDE = 256  # px: the sketches' side (the colorizer's work size)


def group(name: str) -> str:
    """The near-duplicate group of a training file name: an emoji's first code point (its skin tones, genders,
    directions), an Open Clip Art drawing without its trailing number."""
    stem = name.rsplit("__", 1)[0]
    if stem.startswith("fluentflat__"):
        return stem.split("-")[0]
    return re.sub(r"_\d+$", "", stem)


def case(sketch: np.ndarray, truth: np.ndarray) -> dict | None:
    """What a match needs of one sketch (RGB uint8, top-down), as the pipeline prepares it, and its true
    picture's colour under each shape: None when it has no shapes to colour."""
    x = (sketch.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)
    p = hintfill.prepare(x, pipeline.line_layer(x))
    a = p.auto
    if a is None or a.m == 0 or not len(a.idx):
        return None
    c = lab(truth.reshape(-1, 3).T.astype(np.float32) / 255.0)[:, a.idx]
    ink = c[0] <= exemplar.INK
    true = np.full((3, a.m), np.nan, np.float32)
    order = np.argsort(a.reg, kind="stable")
    ends = np.searchsorted(a.reg[order], np.arange(a.m + 1))
    for r in range(a.m):
        at = order[ends[r] : ends[r + 1]]
        if len(at):
            keep = at[~ink[at]] if (~ink[at]).any() else at
            true[:, r] = np.median(c[:, keep], axis=1)
    return {
        "line": p.line,
        "take": a.take,
        "idx": a.idx,
        "reg": a.reg,
        "m": a.m,
        "true": true,
        "size": np.bincount(a.reg, minlength=a.m),
    }


def cases(data: Path, split: str, every: int) -> list[dict]:
    """The cached cases of data/colorize/<split> (every `every`-th sketch), made once."""
    path = CACHE / f"{split}-{every}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) == CACHE_VERSION:
                return _unpack(z)
    a_dir, b_dir = data / "colorize" / split / "A", data / "colorize" / split / "B"
    out = []
    for p in sorted(a_dir.glob("*.png"))[::every]:
        sketch = np.asarray(Image.open(p).convert("RGB"))
        if sketch.shape[:2] != (SIDE, SIDE):
            continue
        got = case(sketch, np.asarray(Image.open(b_dir / p.name).convert("RGB")))
        if got is not None:
            got["name"] = p.name
            out.append(got)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **_pack(out))
    return out


def _pack(cs: list[dict]) -> dict:
    return {
        "version": np.int64(CACHE_VERSION),
        "names": np.array([c["name"] for c in cs]),
        "line": np.packbits(np.stack([c["line"] for c in cs]), axis=-1),
        "take": np.packbits(np.stack([c["take"] for c in cs]), axis=-1),
        "m": np.array([c["m"] for c in cs]),
        "true": np.concatenate([c["true"] for c in cs], axis=1),
        "size": np.concatenate([c["size"] for c in cs]),
        "reg": np.concatenate([c["reg"] for c in cs]).astype(np.uint16),
    }


def _unpack(z) -> list[dict]:
    line = np.unpackbits(z["line"], axis=-1).astype(bool)
    take = np.unpackbits(z["take"], axis=-1).astype(bool)
    ms, true, size, regs = z["m"], z["true"], z["size"], z["reg"].astype(np.int64)
    out, at, at_px = [], 0, 0
    for i, name in enumerate(z["names"]):
        m = int(ms[i])
        t = take[i]
        idx = np.flatnonzero(t)
        reg = regs[at_px : at_px + len(idx)]
        at_px += len(idx)
        out.append(
            {
                "name": str(name),
                "line": line[i],
                "take": t,
                "idx": idx,
                "reg": reg,
                "m": m,
                "true": true[:, at : at + m],
                "size": size[at : at + m],
            }
        )
        at += m
    return out


def without(index: exemplar.Index, keep: np.ndarray) -> exemplar.Index:
    """The index with only the training sketches `keep` (bool), their pictures all kept, and only the colour
    regions (`exemplar.Parts`) of the pictures of those sketches."""
    parts = index.parts
    if parts is not None:
        ok = np.zeros(len(index.maps), bool)
        ok[index.picture[keep]] = True
        parts = exemplar.Parts.of(*(a[ok[parts.picture]] for a in parts[:5]))
    return index._replace(
        codes=index.codes[keep],
        aspect=index.aspect[keep],
        box=index.box[keep],
        picture=index.picture[keep],
        parts=parts,
    )


def coarse(c: dict) -> SimpleNamespace:
    """What exemplar.nested needs of a case's hintfill.AutoPlan (m, reg, coarse), from the case."""
    units = np.full(c["take"].shape, -1, np.int32)
    units.reshape(-1)[c["idx"]] = c["reg"]
    step = hintfill.SPARSE * max(1, round(max(units.shape) / 256))
    return SimpleNamespace(m=c["m"], reg=c["reg"], coarse=units[::step, ::step].copy())


def score(cs: list[dict], index: exemplar.Index, leave_out: bool, apart: bool = True) -> dict:
    """The colour agreement of `cs` matched against `index` (`leave_out`: each without its own picture and
    near-duplicates; `apart`: the shapes set in another set apart from it, as the pipeline does)."""
    names = np.array([str(n) for n in index.names])
    groups = np.array([group(n) for n in names])[index.picture]
    unit = index.codes / np.maximum(np.linalg.norm(index.codes, axis=1, keepdims=True), 1e-6)
    de_all, de_px, px, ok_px, dropped = [], [], [], [], []
    in_px, base_px = {w: [] for w in WITHIN}, {w: [] for w in WITHIN}
    set_px, set_in = [], []  # (the shapes set in another: their pixels, and those within 15 dE)
    set_as, set_true = [], []  # (... those apart from it as in the true picture, and apart there)
    allc = np.concatenate([c["true"] for c in cs], axis=1)
    const = np.nanmedian(allc, axis=1)[:, None]
    spent = 0.0
    for c in cs:
        use = index
        if leave_out:
            keep = groups != group(c["name"])
            got = exemplar.descriptor(c["line"])
            if got is not None:
                q = got[0] @ index.basis
                q /= max(np.linalg.norm(q), 1e-6)
                keep &= unit @ q < DUPLICATE
            dropped.append(int((~keep).sum()))
            use = without(index, keep)
        t0 = time.perf_counter()
        inside = exemplar.nested(c["line"], coarse(c))
        got = exemplar.match_objects(
            c["line"], c["idx"], c["reg"], c["m"], use, take_mask=c["take"], inside=inside if apart else None
        )
        spent += time.perf_counter() - t0
        true, size = c["true"], c["size"].astype(np.float64)
        pred = np.full_like(true, np.nan) if got is None else got.colours[:3]
        de = np.linalg.norm(pred - true, axis=0)
        fine = np.isfinite(true[0])
        coloured = fine & np.isfinite(de)
        de_all.append(de[coloured])
        de_px.append((size * de)[coloured].sum())
        px.append(size[fine].sum())
        ok_px.append(size[coloured].sum())
        set_px.append(size[fine & (inside >= 0)].sum())
        set_in.append(size[coloured & (inside >= 0) & (de <= WITHIN[0])].sum())
        nest = np.flatnonzero(fine & (inside >= 0))
        nest = nest[np.isfinite(true[0, inside[nest]])]
        if len(nest):  # (apart from the shape it is set in as in the true picture: both >= AGREE dE, or not)
            out = inside[nest]
            t_apart = np.linalg.norm(true[:, nest] - true[:, out], axis=0) >= exemplar.AGREE
            p_apart = np.linalg.norm(pred[:, nest] - pred[:, out], axis=0) >= exemplar.AGREE
            set_as.append(size[nest[t_apart == p_apart]].sum())
            set_true.append(size[nest[t_apart]].sum())
        base = np.linalg.norm(const - true, axis=0)
        for w in WITHIN:
            in_px[w].append(size[coloured & (de <= w)].sum())
            base_px[w].append(size[fine & (base <= w)].sum())
    total = max(sum(px), 1.0)
    de = np.concatenate(de_all)
    return {
        "sketches": len(cs),
        "shapes": len(de),
        "coloured": sum(ok_px) / total,
        "median": float(np.median(de)) if len(de) else float("nan"),
        "mean": sum(de_px) / max(sum(ok_px), 1.0),
        **{f"within {w:g}": sum(in_px[w]) / total for w in WITHIN},
        **{f"constant within {w:g}": sum(base_px[w]) / total for w in WITHIN},
        "ms": 1e3 * spent / max(1, len(cs)),
        "left out": float(np.mean(dropped)) if dropped else 0.0,
        "set in another": sum(set_px) / total,
        "set in another within 15": sum(set_in) / max(sum(set_px), 1.0),
        "set in another apart as true": sum(set_as) / max(sum(set_px), 1.0),
        "set in another apart in truth": sum(set_true) / max(sum(set_px), 1.0),
    }


DEMO_PARTS = {"house": (0.25, 0.2), "tree": (0.82, 0.45), "sun": (0.82, 0.82)}  # canvas points (x, y up)


def simple_objects(index: exemplar.Index) -> list[tuple]:
    """(canvas, object, picture, CIELAB of its largest shape) for the demo house's objects without dabs."""
    from tools.demo import house

    rows = []
    for n in (256, 1024):
        x = pipeline.to_model_space(house(n, dabs=False))
        if n > SIDE:
            x = pipeline.resize_planar(x, SIDE, SIDE)  # (pipeline.at_work_size to the colorizer's 256 px)
        p = hintfill.prepare(x, pipeline.line_layer(x))
        a = p.auto
        labels, k = exemplar.objects(p.line, a.take)
        whole = exemplar.match(p.line, a.idx, a.reg, a.m, index)
        apart = (
            exemplar._apart(p.line, a.idx, a.reg, a.m, index, labels, k, whole, parts=True)
            if k >= 2
            else None
        )
        inside = exemplar.nested(p.line, a)
        got = exemplar.match_objects(p.line, a.idx, a.reg, a.m, index, take_mask=a.take, inside=inside)
        of = {o: one for o, _, one in apart[0]} if apart else {}
        for part, (cx, cy) in DEMO_PARTS.items():
            o = labels[min(SIDE - 1, int((1 - cy) * SIDE)), int(cx * SIDE)]
            regs = np.unique(a.reg[(labels.reshape(-1)[a.idx] == o)])
            big = regs[np.argmax(np.bincount(a.reg, minlength=a.m)[regs])] if len(regs) else None
            name = (of[o] if o in of and of[o] is not None else whole).name
            c = got.colours[:3, big] if big is not None else np.full(3, np.nan)
            rows.append((n, part, name, c))
    return rows


def describe(c: np.ndarray) -> str:
    if not np.isfinite(c).all():
        return "none"
    hue = np.degrees(np.arctan2(c[2], c[1])) % 360
    return f"L {c[0]:.0f} C {np.hypot(c[1], c[2]):.0f} h {hue:.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--index", type=Path, default=exemplar.INDEX)
    ap.add_argument("--every", type=int, default=1, help="every n-th training sketch (leave-one-out)")
    ap.add_argument(
        "--not-apart",
        action="store_true",
        help="shapes set in another keep their picture's colour (as before)",
    )
    args = ap.parse_args(argv)
    index = exemplar.load(args.index)
    if index is None:
        raise SystemExit(f"no exemplar index at {args.index}: python -m tools.exemplar_index")
    pics = {str(n).rsplit("__", 1)[0] for n in index.names}
    train = [c for c in cases(args.data, "train", args.every) if c["name"].rsplit("__", 1)[0] in pics]
    test = cases(args.data, "test", 1)
    print(
        "| set | sketches | shapes | coloured | median dE | mean dE (px) | within 15 | within 30 | "
        "constant: within 15 / 30 | set in another: pixels, within 15, apart as in truth (apart there) | "
        "ms a match |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, cs, loo in (("leave-one-out (train)", train, True), ("held out (test)", test, False)):
        r = score(cs, index, loo, not args.not_apart)
        print(
            f"| {label} | {r['sketches']} | {r['shapes']} | {r['coloured']:.1%} | {r['median']:.1f} | {r['mean']:.1f} | "
            f"{r['within 15']:.1%} | {r['within 30']:.1%} | {r['constant within 15']:.1%} / "
            f"{r['constant within 30']:.1%} | {r['set in another']:.1%}, {r['set in another within 15']:.1%}, "
            f"{r['set in another apart as true']:.1%} ({r['set in another apart in truth']:.1%}) | "
            f"{r['ms']:.1f} |"
        )
    print()
    print("| canvas | object | picture | its largest shape's colour (CIELAB) |")
    print("| --- | --- | --- | --- |")
    for n, part, name, c in simple_objects(index):
        print(
            f"| {n} | {part} | {name.removesuffix('__ink.png').removesuffix('__line.png')} | {describe(c)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
