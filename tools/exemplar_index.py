"""Build the exemplar index the add-on colours sketches without dabs from (addon/core/exemplar.py).

    python -m tools.exemplar_index [--data data] [--out addon/models/exemplars.npz]

From data/colorize/train (`make data`): each line sketch in A (Fluent Emoji Flat and High Contrast line
sketches, MIT; Open Clip Art ink outlines, public domain) gives its shape descriptor (exemplar.descriptor of
its lines as the pipeline finds them), kept as a PCA code (K dimensions of an uncentred basis), its aspect
ratio and its bounding box; each true picture in B (one per picture: a sketch's ink and line versions share
it) is kept nearest-sampled at MAP x MAP px in CIELAB (exemplar.encode_lab), with its background (the white paper reaching its edge) marked, and its colour regions
(exemplar.parts_of: each one's place, share and shape, for a drawing of few shapes matched by its parts);
pictures whose shapes are mostly white (COLOURFUL) are left out. About 6 MB; ~2 minutes on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from nftgan.core import exemplar, hintfill, pipeline
from nftgan.core.colour import lab
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
K = 128  # PCA dimensions kept (top-1 neighbour the same as the full descriptor's for 97 % of sketches)
MAP = 48  # px: the true pictures' side in the index
COLOURFUL = 0.4  # a picture whose shapes are less coloured than this (line art on white, a clock's face) is
# left out: it would give a sketch's shapes white


def lines_of(rgb: np.ndarray) -> np.ndarray:
    """A sketch's lines ((H, W) bool) as the pipeline finds them (line_layer below hintfill.LINE)."""
    x = (rgb.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)
    return pipeline.line_layer(x) < hintfill.LINE


def background(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: a true picture's white paper that reaches its edge (exemplar.PAPER), not a white shape."""
    c = lab(rgb.reshape(-1, 3).T.astype(np.float32) / 255.0).reshape(3, *rgb.shape[:2])
    paper = (c[0] > exemplar.PAPER[0]) & (np.hypot(c[1], c[2]) < exemplar.PAPER[1])
    labels, _ = hintfill.label_regions(paper)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge >= 0])


def colourful(rgb: np.ndarray, ground: np.ndarray) -> float:
    """The share of a picture's shapes (not its background) that is coloured: not white or grey paper, not
    its dark outlines (exemplar.PAPER, exemplar.INK)."""
    c = lab(rgb.reshape(-1, 3).T.astype(np.float32) / 255.0)
    shape = ~ground.reshape(-1)
    white = (c[0] > exemplar.PAPER[0]) & (np.hypot(c[1], c[2]) < exemplar.PAPER[1])
    return float((shape & (c[0] > exemplar.INK) & ~white).sum() / max(1, shape.sum()))


def build(data: Path) -> dict:
    a_dir, b_dir = data / "colorize/train/A", data / "colorize/train/B"
    descs, aspects, boxes, picture = [], [], [], []
    maps: list[np.ndarray] = []
    grounds: list[np.ndarray] = []
    names: list[str] = []
    seen: dict[str, int] = {}
    side = None
    for p in sorted(a_dir.glob("*.png")):
        sketch = np.asarray(Image.open(p).convert("RGB"))
        got = exemplar.descriptor(lines_of(sketch))
        if got is None:
            continue
        truth = np.asarray(Image.open(b_dir / p.name).convert("RGB"))
        if truth.shape[:2] != sketch.shape[:2] or truth.shape[0] != truth.shape[1]:
            raise SystemExit(f"{p.name}: sketch and picture must be one square size")
        side = side or truth.shape[0]
        if truth.shape[0] != side:
            raise SystemExit(f"{p.name}: {truth.shape[0]} px, the others {side}")
        d, box, aspect = got
        key = p.name.rsplit("__", 1)[0]  # (NAME__ink.png and NAME__line.png: one picture)
        if key not in seen:
            at = ((np.arange(MAP) + 0.5) * side / MAP).astype(int)
            small, ground = truth[at][:, at], background(truth)[at][:, at]
            if colourful(small, ground) < COLOURFUL:
                seen[key] = -1
                continue
            seen[key] = len(maps)
            maps.append(
                exemplar.encode_lab(lab(small.reshape(-1, 3).T.astype(np.float32) / 255.0)).reshape(
                    small.shape
                )
            )
            grounds.append(ground)
            names.append(p.name)
        if seen[key] < 0:
            continue
        descs.append(d)
        aspects.append(aspect)
        boxes.append(box)
        picture.append(seen[key])
    descs_ = np.stack(descs)
    _, _, vt = np.linalg.svd(descs_, full_matrices=False)
    basis = vt[:K].T.astype(np.float32)
    codes = np.stack(maps).reshape(len(maps), -1, 3)
    parts = exemplar.parts_of(codes, exemplar._kinds(codes, np.stack(grounds)))
    return {
        "version": np.int64(exemplar.VERSION),
        "basis": basis.astype(np.float16),
        "codes": (descs_ @ basis).astype(np.float16),
        "aspect": np.array(aspects, np.float16),
        "box": np.array(boxes, np.uint16),
        "side": np.int64(side),
        "picture": np.array(picture, np.uint16),
        "maps": np.stack(maps),
        "ground": np.packbits(np.stack(grounds), axis=-1),
        "names": np.array(names),
        **parts,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--out", type=Path, default=exemplar.INDEX)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    idx = build(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **idx)
    tmp.replace(args.out)
    print(
        f"wrote {args.out}: {len(idx['codes'])} sketches, {len(idx['maps'])} pictures, "
        f"{args.out.stat().st_size / 1e6:.2f} MB ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
