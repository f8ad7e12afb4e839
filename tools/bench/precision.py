"""Does bf16 autocast train as well as fp32? Held-out L1 after equal training, side by side.

    python -m tools.bench.precision [--steps-pix2pix 3000] [--steps-cyclegan 1500] [--seeds 0 1]

Not part of `make bench` (it trains for tens of minutes): it is the evidence behind `--amp auto`
choosing bf16 where the hardware computes it natively. For each precision and seed it trains, with the
real `nftgan train`, the default-style recipes at their shipped settings (training/defaults.py) on the
licensed data from `make data`:

- pix2pix with the colorize recipe on data/colorize/train, scored on data/colorize/test (sketch -> picture);
- CycleGAN with the Painted Portrait recipe on the flat -> 3D emoji of data/clay/train used without their
  pairing, scored on the held-out pairs data/clay/test (the same emoji flat and in 3D).

Scores are computed in fp32 (as the exported model runs), at 256 px, as mean L1 in [0, 1] against the
reference. Seeds show how much two fp32 runs differ by chance: bf16 is "equal" when its gap to fp32 is
within that spread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from nftgan.training.checkpoint import build_generator, load_checkpoint
from nftgan.training.cli import main as train_main
from nftgan.training.defaults import DEFAULTS
from PIL import Image

DATA = Path("data")


def heldout_l1(run_dir: Path, src: Path, ref: Path, limit: int = 64) -> float:
    net, _ = build_generator(load_checkpoint(run_dir))
    names = sorted(p.name for p in src.glob("*.png") if (ref / p.name).exists())[:limit]
    scores = []
    with torch.no_grad():
        for n in names:
            x = np.asarray(Image.open(src / n).convert("RGB"), dtype=np.float32) / 127.5 - 1
            y = net(torch.from_numpy(x).permute(2, 0, 1)[None]).clamp(-1, 1)[0].permute(1, 2, 0).numpy()
            target = np.asarray(Image.open(ref / n).convert("RGB"), dtype=np.float32) / 255
            scores.append(float(np.abs((y + 1) / 2 - target).mean()))
    return float(np.mean(scores))


def recipe(default_id: str, data: str = "") -> tuple[str, str, tuple[str, ...]]:
    d = next(d for d in DEFAULTS if d.id == default_id)
    return (
        d.kind,
        data or d.data,
        d.args,
    )  # main() appends its own logging options: argparse keeps the last one


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.bench.precision", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps-pix2pix", type=int, default=3000)
    p.add_argument("--steps-cyclegan", type=int, default=1500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = p.parse_args(argv)
    if not (DATA / "manifest.json").exists():
        raise SystemExit("needs the licensed data sets: run `make data` first")
    tasks = {
        "pix2pix": (
            "colorize-flat",
            "",
            args.steps_pix2pix,
            DATA / "colorize/test/A",
            DATA / "colorize/test/B",
        ),
        "cyclegan": (
            "stylize-painted",
            "clay/train",
            args.steps_cyclegan,
            DATA / "clay/test/A",
            DATA / "clay/test/B",
        ),
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; held-out L1 (lower is better), fp32 "
        "evaluation at 256 px; each row one training run"
    )
    head = f"{'model':<9} {'amp':<5} {'seed':>4} {'steps':>6} {'train min':>9} {'held-out L1':>11}"
    print(head + "\n" + "-" * len(head), flush=True)
    with tempfile.TemporaryDirectory(prefix="nftgan-precision-") as tmp:
        for model, (default_id, data_dir, steps, src, ref) in tasks.items():
            kind, data, extra = recipe(default_id, data_dir)
            res: dict[str, list[float]] = {}
            for seed in args.seeds:
                for amp in ("none", "bf16"):
                    out = Path(tmp) / f"{model}-{amp}-{seed}"
                    t0 = time.perf_counter()
                    code = train_main(
                        [
                            kind,
                            "--data",
                            str(DATA / data),
                            "--out",
                            str(out),
                            "--steps",
                            str(steps),
                            "--seed",
                            str(seed),
                            "--amp",
                            amp,
                            *extra,
                            "--workers",
                            "1",
                            "--log-every",
                            "100",
                            "--sample-every",
                            str(steps),
                            "--checkpoint-every",
                            str(steps),
                        ],
                        prog="nftgan train",
                    )
                    if code:
                        raise SystemExit(f"training {model} --amp {amp} failed")
                    minutes = (time.perf_counter() - t0) / 60
                    score = heldout_l1(out, src, ref)
                    res.setdefault(amp, []).append(score)
                    print(
                        f"{model:<9} {amp:<5} {seed:>4} {steps:>6} {minutes:9.1f} {score:11.4f}", flush=True
                    )
            spread = [abs(a - b) for a, b in zip(res["none"], res["none"][1:])]
            gap = statistics.mean(res["bf16"]) - statistics.mean(res["none"])
            print(
                f"{model}: mean held-out L1 fp32 {statistics.mean(res['none']):.4f}, bf16 "
                f"{statistics.mean(res['bf16']):.4f} (bf16 - fp32 = {gap:+.4f}"
                + (f"; fp32 seed-to-seed spread {max(spread):.4f})" if spread else ")"),
                flush=True,
            )


if __name__ == "__main__":
    main()
