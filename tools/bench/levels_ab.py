"""Two copies of addon/core side by side: how far apart their `pipeline.run` results are, in 8-bit levels.

    python -m tools.bench.levels_ab BASE_CORE [NEW_CORE] [--limit 0]

For a change allowed to move results where no one can see it: every result pixel within 1 of the base's 8-bit
levels. Runs the default chain (the first colorize style -> 3D Clay, fp32, 2 threads) of both trees on the
held-out sketches (data/colorize/test/A at 256 px: 290), the golden sketches and the demo house at 256, 512
and 1024 px (with and without its dabs), and prints per set and stage how many results are bit for bit the
same, the largest difference in levels (round(255 v) of the RGBA results) and how many pixels differ at all,
and by more than 1. Exits 1 when any pixel differs by more than 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tools.bench.ab_core import EXEMPLARS, REPO, load_core


def levels(rgba: np.ndarray) -> np.ndarray:
    return np.round(np.clip(rgba, 0.0, 1.0) * 255).astype(np.int16)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench.levels_ab", description=__doc__.split("\n\n")[0])
    p.add_argument("base")
    p.add_argument("new", nargs="?", default=os.path.join(REPO, "addon", "core"))
    p.add_argument("--limit", type=int, default=0, help="held-out sketches to take (0: all)")
    args = p.parse_args(argv)
    from tools import demo
    from tools import evidence as ev

    mods = {"base": load_core("nftgan_lv_base", args.base), "new": load_core("nftgan_lv_new", args.new)}
    for name in ("nftgan_lv_base", "nftgan_lv_new"):
        ex = importlib.import_module(name + ".exemplar")
        if not ex.INDEX.is_file():
            ex.INDEX = EXEMPLARS
    infos = ev.shipped()
    colorize = next(iter(ev.by_kind(infos, "colorize").values()))
    style = next(s for s in ev.by_kind(infos, "stylize").values() if "clay" in os.path.basename(s.path))
    models = {
        k: {"colorize": m.describe_model(colorize.path), "stylize": m.describe_model(style.path)}
        for k, m in mods.items()
    }
    held = sorted((Path(REPO) / "data" / "colorize" / "test" / "A").glob("*.png"))
    cases: dict[str, list] = {"held-out": [], "golden": [], "house": []}
    for path in held:
        rgb = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
        if rgb.shape[:2] == (256, 256):
            cases["held-out"].append(ev.to_rgba(rgb))
    if args.limit:
        cases["held-out"] = cases["held-out"][: args.limit]
    cases["golden"] = [ev.to_rgba(ev.load_rgb01(g)) for g in ev.golden_inputs()]
    cases["house"] = [demo.house(side, dabs) for side in (256, 512, 1024) for dabs in (True, False)]
    worst = 0
    print(
        "| set | sketches | stage | bit for bit equal | pixels | largest difference (levels) | pixels differing "
        "| by more than 1 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rgbas in cases.items():
        stats: dict = {}
        for rgba in rgbas:
            got = {k: m.run(rgba, models=models[k], threads=2, provider="cpu") for k, m in mods.items()}
            for stage in got["base"]:
                a, b = levels(got["base"][stage]), levels(got["new"][stage])
                d = np.abs(a - b).max(axis=-1)
                s = stats.setdefault(stage, [0, 0, 0, 0, 0])
                s[4] += got["base"][stage].tobytes() == got["new"][stage].tobytes()
                s[0] += d.size
                s[1] = max(s[1], int(d.max()))
                s[2] += int(np.count_nonzero(d))
                s[3] += int(np.count_nonzero(d > 1))
        for stage, (px, big, diff, over, same) in stats.items():
            print(
                f"| {name} | {len(rgbas)} | {stage} | {same} | {px} | {big} | {diff} ({100 * diff / px:.3f} %) "
                f"| {over} |"
            )
            worst = max(worst, big)
        sys.stdout.flush()
    return 1 if worst > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
