"""`make models`: train and export the default styles the add-on ships in addon/models/.

    python -m nftgan.training.defaults [--only ID ...] [--runs runs] [--models addon/models]

1. `nftgan data` builds the licensed image sets under data/ (skipped when data/manifest.json exists).
2. Each shipped model in DEFAULTS is trained with `nftgan train` into RUNS/<run> (the withdrawn Painted
   Portrait only with `--only stylize-painted`); a finished run is kept, an unfinished one (killed, or
   fewer steps than listed) is resumed exactly.
3. Each is exported with `nftgan export --int8` (parity-checked ONNX + Markdown card, and an int8 variant
   where it passes the quantization rule) into addon/models/.

The evidence step (contact sheet, held-out metrics, golden fixtures) runs the exported models with
onnxruntime, so it lives outside `training/`: `python -m tools.evidence` (also in `make models`).

The settings are sized for CPU training (a few minutes to about 2 h per model on 2 cores: docs/training.md
"Training times") and for the add-on's budget: all shipped models together at most 60 MB, colorize ->
stylize at 256 px within 300 ms on 2 CPU cores in onnxruntime. With a GPU, raise --steps (and --ngf) in DEFAULTS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint, resolve
from .errors import UserError


@dataclass(frozen=True)
class Stage:
    """A first training run a default starts from (`nftgan train ... --init RUNS/<run>`)."""

    run: str  # run folder name under RUNS
    steps: int
    args: tuple[str, ...]


@dataclass(frozen=True)
class Default:
    id: str  # file stem in addon/models/
    run: str  # run folder name under RUNS
    kind: str  # nftgan train KIND
    data: str  # dataset folder under data/
    steps: int
    args: tuple[str, ...]
    name: str
    description: str
    license: str
    sources: tuple[str, ...]  # data sources (training.recipes.SOURCES) it learns from
    work_size: int | None = None  # nftgan.work_size (export --work-size); None: export's default
    keep_colours: bool = (
        False  # nftgan.keep_colours (export --keep-colours): stylize keeps the input's colours
    )
    first: Stage | None = None  # trained first; this model's run fine-tunes its generator (--init)
    shipped: bool = True  # in addon/models/ (a withdrawn recipe is made only when --only names it)


# The colorize and clay models: U-Net with resize-convolution upsampling (no checkerboard), ngf 16 (2.45 M
# parameters, 0.74 GMACs at 256 px: colorize -> 3D Clay fits PERF's 80 ms live-preview budget on 2 threads),
# trained on whole 256 px pictures (the work size the add-on runs them at), a 32-wide PatchGAN. The shipped
# runs were trained with exactly these settings from step 0 (one thread each, side by side: ~1.9 steps/s).
_UNET = ("--size", "256", "--load-size", "256", "--ngf", "16", "--ndf", "32", "--upsample", "resize")
# Painted Portrait's CycleGAN: ResNet-6 at ngf 16, 128 px crops of the 256 px images (a texture-like style).
_STYLE = ("--net-g", "resnet_6blocks", "--ngf", "16", "--ndf", "32", "--size", "128", "--load-size", "256")
_LOG = ("--workers", "1", "--log-every", "50", "--sample-every", "1000", "--checkpoint-every", "500")
_SR = ("--size", "128", "--batch-size", "8", "--val-fraction", "0.02")

DEFAULTS = (
    Default(
        "colorize-flat",
        "colorize",
        "pix2pix",
        "colorize/train",
        9000,
        (*_UNET, "--hints", "--hint-weight", "4", "--val-fraction", "0.02", *_LOG),
        "Flat Colour",
        "Line sketch to flat colour: fills each region to its lines in the colour you dab into it, and picks "
        "colours where there is none (Pix2Pix U-Net, trained on Fluent Emoji and Open Clip Art line sketches "
        "with synthetic colour hints)",
        "GPL-3.0-or-later weights; trained on Fluent Emoji Flat and High Contrast (MIT) and openclipart-png "
        "(public domain)",
        ("fluentflat", "fluenthc", "openclipart"),
    ),
    Default(
        "stylize-clay",
        "clay",
        "pix2pix",
        "clay/train",
        5000,
        (*_UNET, "--stage", "stylize", "--val-fraction", "0.03", *_LOG),
        "3D Clay",
        "Flat colour to soft 3D clay renders (Pix2Pix on pairs: Fluent Emoji Flat -> Fluent Emoji 3D of the "
        "same emoji)",
        "GPL-3.0-or-later weights; trained on Fluent Emoji Flat and Fluent Emoji 3D (MIT)",
        ("fluentflat", "fluent3d"),
        # 2x the 256 px it learned at: on a 1024 px canvas it restyles the colorized picture (lines in) at
        # 512 px, where windows, chimneys and outlines keep their shapes instead of melting (issue 11)
        work_size=512,
        # the artist decides the colours (issue 11): the add-on keeps the colorized result's colours and
        # takes 3D Clay's shading (it learned Fluent 3D's recolouring: yellow -> orange, red -> pink)
        keep_colours=True,
    ),
    Default(
        "stylize-painted",
        "painted",
        "cyclegan",
        "painted",
        8000,
        (*_STYLE, *_LOG),
        "Painted Portrait",
        "Flat colour to painterly shading (CycleGAN, clip art -> Wesnoth portraits)",
        "GPL-3.0-or-later weights; trained on Wesnoth portraits (GPL-2.0-or-later) and openclipart (public domain)",
        ("openclipart", "wesnoth"),
        shipped=False,  # withdrawn (docs/training.md): the recipe stays for retraining and the benches
    ),
    # Upscale x4 in two stages, as shipped: 1,000 steps on plainly downscaled crops (the first model), then a
    # fine-tune where half the inputs are blurred first (sigma 1-2 input pixels, the kind's default): in the
    # add-on it enlarges 3D Clay's 512 px result, whose edges are as soft as a sharp picture's blurred by
    # sigma 1-1.8 before the downscale, and learns to give them back crisp (issue 11). Blurs below 1 look
    # like a plainly downscaled picture's own soft edges: with 70 % blurred by 0.5-2, the plain inputs' PSNR
    # fell 1.9 dB by step 1,000 of the fine-tune
    Default(
        "upscale-x4",
        "upscale-soft",
        "upscale",
        "upscale",
        8000,
        (*_SR, "--blur", "0.5", "--blur-min", "1.0", "--blur-max", "2.0", *_LOG),
        "Upscale x4",
        "4x super-resolution (residual over bicubic), e.g. 256 px results to 1024 px textures",
        "GPL-3.0-or-later weights; trained on openclipart, Noto, Fluent Emoji 3D and Wesnoth images",
        ("openclipart", "fluent3d", "noto", "wesnoth"),
        first=Stage("upscale", 1000, (*_SR, "--blur", "0", *_LOG)),
    ),
)


def _nftgan(*args: str) -> int:
    """Run an `nftgan` command in a child process (export imports onnxruntime, which training must not)."""
    return subprocess.call([sys.executable, "-m", "nftgan.export.cli", *args])


def train(d: Default, runs: Path, data: Path) -> None:
    """Train `d` (its first stage, then its own run from it), resuming an unfinished run."""
    if d.first is not None:
        _train(d, d.first.run, d.first.steps, d.first.args, runs, data)
        _train(d, d.run, d.steps, ("--init", str(runs / d.first.run), *d.args), runs, data)
    else:
        _train(d, d.run, d.steps, d.args, runs, data)


def _train(d: Default, name: str, steps: int, args: tuple[str, ...], runs: Path, data: Path) -> None:
    from .cli import main as train_main

    run = runs / name
    try:
        step = load_checkpoint(run)["step"]
    except CheckpointError:
        step = None
    if step is not None and step >= steps:
        print(f"{d.id}: {run} is finished (step {step}); keeping it")
        return
    if step is not None:
        argv = ["--resume", str(run), "--steps", str(steps)]
    else:
        argv = [
            d.kind,
            "--data",
            str(data / d.data),
            "--out",
            str(run),
            "--name",
            d.name,
            "--steps",
            str(steps),
        ]
        argv += args
    print(f"{d.id}: nftgan train {' '.join(argv)}", flush=True)
    if train_main(argv, prog="nftgan train"):
        raise UserError(f"training {d.id} failed (its error is above); run `make models` again to resume it")


def export(d: Default, runs: Path, models: Path) -> None:
    resolve(runs / d.run)  # a missing run: a clear error here (the export's own is in a child process)
    models.mkdir(parents=True, exist_ok=True)
    # colorize and stylize models get export's default work size (the run's load size, unpadded) unless the
    # default says otherwise
    work = ("--work-size", str(d.work_size)) if d.work_size is not None else ()
    code = _nftgan(
        "export",
        *work,
        *(("--keep-colours",) if d.keep_colours else ()),
        str(runs / d.run),
        "-o",
        str(models / f"{d.id}.onnx"),
        "--name",
        d.name,
        "--description",
        d.description,
        "--license",
        d.license,
        "--card",
        str(models / f"{d.id}.md"),
        "--int8",  # NAME.int8.onnx beside it where int8 keeps >= 35 dB of fp32 and runs faster (VNNI/AMX CPUs use it)
    )
    if code:
        raise UserError(f"exporting {d.id} failed (exit {code}; its error is above)")


def selected(only: list[str] | None) -> list[Default]:
    """The defaults `make models` makes: the shipped ones, or exactly those `--only` names."""
    return [d for d in DEFAULTS if (d.id in only if only else d.shipped)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m nftgan.training.defaults", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--only",
        nargs="+",
        choices=[d.id for d in DEFAULTS],
        help="just these models (default: the shipped ones; stylize-painted, withdrawn, only when named)",
    )
    p.add_argument("--data", type=Path, default=Path("data"), help="data folder (default data/)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="run folders (default runs/)")
    p.add_argument("--models", type=Path, default=Path("addon/models"), help="where the .onnx files go")
    p.add_argument("--no-train", action="store_true", help="export the runs as they are")
    args = p.parse_args(argv)
    if not (args.data / "manifest.json").is_file():
        from .recipes import main as data_main

        if data_main(["--out", str(args.data)]):
            return 1
    try:
        for d in selected(args.only):
            if not args.no_train:
                train(d, args.runs, args.data)
            export(d, args.runs, args.models)
    except UserError as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
