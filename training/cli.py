"""`nftgan train KIND --data DIR --out RUN_DIR [options]` and `nftgan train --resume RUN_DIR`.

Options come from the kind's config dataclass (a `training.config.TrainConfig` subclass in the kind's module), so every plug-in kind gets a
complete --help. Many GPUs: `torchrun --nproc_per_node=N -m nftgan.training.cli pix2pix --data ... --out ...`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from nftgan.core import cpu
from nftgan.core.cliargs import Parser, add_out, error

from .checkpoint import CheckpointError, load_checkpoint, run_folder
from .config import ON_RESUME, read_config_file
from .errors import ConfigError, UserError
from .kinds import available, get_kind
from .trainer import check_device

EPILOG = """examples:
  nftgan sketchify ~/my-art ~/datasets/my-style          # pairs of sketch (A) and picture (B)
  nftgan train pix2pix --data ~/datasets/my-style --out runs/my-style --steps 20000
  nftgan train --resume runs/my-style                      # after a crash or Ctrl+C, continues exactly
  nftgan train --config runs/my-style/config.json --out runs/again   # repeat a run (flags override)
  nftgan train pix2pix --init addon/models/colorize-flat.onnx --size 256 --load-size 256 --ngf 16 \\
      --ndf 32 --hints --hint-weight 4 --data ~/my-set --out runs/my-flat --steps 2000   # fine-tune Flat Colour
  nftgan export runs/my-style -o my-style.onnx             # then add the .onnx to the Blender add-on
  torchrun --nproc_per_node=4 -m nftgan.training.cli pix2pix --data ... --out ...   # 4 GPUs

A run folder holds checkpoints/ (step_*.pt, latest.pt), samples/ (input | output | target grids),
metrics.csv, loss.png, config.json and train.log."""


def _usage(prog: str) -> str:
    lines = [
        f"usage: {prog} KIND --data DIR --out RUN_DIR [options]",
        f"       {prog} --resume RUN_DIR [--steps N] [--device D] [--amp A] [--workers N]",
        "",
        "Train a model on your own images. KIND is one of:",
    ]
    for name in available():
        lines.append(f"  {name:<10} {get_kind(name).description}")
    lines += ["", f"`{prog} KIND --help` lists that kind's options.", "", EPILOG]
    return "\n".join(lines)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser(kind, prog: str) -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{prog} {kind.name}",
        usage=f"{prog} {kind.name} --data DIR --out RUN_DIR [--steps N] [--size PX] [options]\n"
        f"       {prog} {kind.name} --resume RUN_DIR [--steps N] [--device D] [--amp A] [--tensorboard]",
        description=f"Train {kind.name}: {kind.description}.\n\nDATA LAYOUT: {kind.data_help}",
        epilog=EPILOG,
    )
    p.add_argument("--data", metavar="DIR", help="dataset folder (see DATA LAYOUT above)")
    add_out(p, "run folder to create (continue one with --resume)", "RUN_DIR")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its latest checkpoint, exactly where it stopped (or from an "
        "earlier one: RUN_DIR/checkpoints/step_N.pt) "
        "(its stored settings are used; --steps, --device, --amp, --workers and --tensorboard may change: "
        "another --steps recomputes the learning-rate schedule for the new length)",
    )
    p.add_argument(
        "--init",
        metavar="FILE",
        help="fine-tune: start the new run's generator from FILE, an exported NFTGan .onnx (e.g. a default "
        f"style in addon/models/), or {'an' if kind.name[0] in 'aeiou' else 'a'} {kind.name} run folder or checkpoint .pt. Only the generator weights "
        "come from it (discriminators, optimizer and step start fresh); the generator settings (--net-g, "
        "--ngf, --size for a U-Net, --norm, --upsample ...) must be those FILE was trained with. Recorded "
        "as init_from (the file's name and sha256) in config.json and the exported model",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="start a run from the settings in FILE: JSON such as a run folder's config.json (so "
        "`--config runs/a/config.json --out runs/b` repeats run a), or YAML when PyYAML is installed; "
        "options given here override the file's",
    )
    defaults = kind.config_class()
    for f in dataclasses.fields(kind.config_class):
        meta = f.metadata
        if not meta.get("cli", False):
            continue
        default = getattr(defaults, f.name)
        help_ = f"{meta['help']} (default: {default})" if default != "" else meta["help"]
        if f.type in ("bool", bool):
            p.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), type(default))
            p.add_argument(
                _flag(f.name),
                type=typ,
                default=None,
                choices=meta.get("choices"),
                help=help_,
                metavar=None if meta.get("choices") else f.name.upper(),
            )
    return p


def main(argv: list[str] | None = None, prog: str = "nftgan train") -> int:
    cpu.keep_freed_memory()  # this process's training steps reuse freed memory: no page faults a step
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(prog))
        return 0 if argv else 2
    kind_name = None
    if not argv[0].startswith("-"):
        kind_name, argv = argv[0], argv[1:]
    resume_ckpt = file_values = None
    config_file = _value(argv, "--config")
    if config_file is not None:
        try:
            file_values = read_config_file(config_file)
        except UserError as exc:  # (a ConfigError: settings, refused as the command line's)
            return error(prog, exc, 2)
        model = file_values.get("model")
        if kind_name is None and isinstance(model, str) and model:
            kind_name = model
        if kind_name is None and _value(argv, "--resume") is None:
            return error(
                prog,
                f"--config {config_file} names no model kind; pass it: `{prog} KIND --config {config_file}`",
                2,
            )
    if kind_name is None and _value(argv, "--resume") is None:  # argparse's way: the usage, then the line
        print(_usage(prog), file=sys.stderr)
        return error(
            prog,
            f"name what to train (e.g. `{prog} pix2pix --data DIR --out RUN_DIR`) or continue a run with "
            "--resume RUN_DIR",
            2,
        )
    try:
        if kind_name is None:
            i = next(i for i, a in enumerate(argv) if a.startswith("--resume"))
            run_dir = (
                argv[i].split("=", 1)[1] if "=" in argv[i] else (argv[i + 1] if i + 1 < len(argv) else "")
            )
            resume_ckpt = load_checkpoint(run_dir)
            kind_name = resume_ckpt["model"]
        kind = get_kind(kind_name)
    except CheckpointError as exc:  # --resume RUN_DIR: no run there, or a damaged one
        return error(prog, exc, 1)
    except KeyError as exc:  # a kind it does not know
        return error(prog, exc.args[0], 2)
    parser = build_parser(kind, prog)
    args = parser.parse_args(argv)
    given = {
        k: v
        for k, v in vars(args).items()
        if v is not None and k not in ("data", "out", "resume", "config", "init")
    }

    from .trainer import INIT_AND_RESUME, train

    cfg = None
    try:
        if args.resume and args.config:
            parser.fail(
                "--config starts a new run; --resume continues one with its own stored settings (pass one)"
            )
        if args.resume and args.init:
            parser.fail(INIT_AND_RESUME)
        if args.resume:
            if resume_ckpt is None:
                resume_ckpt = load_checkpoint(args.resume)
            if resume_ckpt["model"] != kind.name:
                parser.fail(f"{args.resume} is a {resume_ckpt['model']} run, not {kind.name}")
            ignored = sorted(k for k in given if k not in ON_RESUME)
            ignored += [k for k in ("data", "out") if getattr(args, k)]
            if ignored:
                print(
                    f"{prog}: note: resuming uses the run's stored settings; ignoring "
                    f"{', '.join(_flag(k) for k in ignored)}",
                    file=sys.stderr,
                )
            cfg = kind.config_class.from_dict(resume_ckpt["config"])
            changed = {k: v for k, v in given.items() if k in ON_RESUME and v != getattr(cfg, k)}
            if "device" in changed:  # (a device it cannot run on is said alone, without the note below)
                check_device(changed["device"])
            numerics = [
                f"{_flag(k)} {changed[k]} (was {getattr(cfg, k)})" for k in ("amp", "device") if k in changed
            ]
            if numerics:
                print(
                    f"{prog}: note: continuing with {', '.join(numerics)}: the run goes on from its checkpoint, "
                    "but not bit-identically to one that never changed hardware settings",
                    file=sys.stderr,
                )
            cfg = cfg.replace(out=str(run_folder(args.resume)), **changed)
            if cfg.steps <= resume_ckpt["step"]:
                parser.fail(
                    f"{args.resume} is already at step {resume_ckpt['step']} of {cfg.steps}; pass "
                    f"--steps N with N > {resume_ckpt['step']} to train further"
                )
            train(cfg, resume=args.resume)
            return 0
        values = {}
        if file_values is not None:  # the file's settings, then the command line's
            if (
                file_values.get("model", kind.name) != kind.name
            ):  # before its settings are read as this kind's
                parser.fail(
                    f"--config {args.config} is a {file_values['model']} config, not {kind.name}: run "
                    f"`nftgan train --config {args.config} ...` to train {file_values['model']} with it"
                )
            values = kind.config_class.check_values(file_values, f"--config {args.config}")
            values.pop("model", None)
        earlier = values.pop("init_from", "")
        if earlier and not args.init:
            print(
                f"{prog}: note: --config {args.config} was a run fine-tuned from {earlier}; this run starts "
                "from scratch (pass --init FILE to start from that model again)",
                file=sys.stderr,
            )
        data, out = args.data or values.pop("data", ""), args.out or values.pop("out", "")
        values = {k: v for k, v in values.items() if k not in ("data", "out")}
        if not data:
            parser.error("--data DIR is required (the folder of training images)")
        if not out:
            parser.error("--out RUN_DIR is required (where checkpoints and samples go)")
        cfg = kind.config_class(model=kind.name, data=data, out=out, **{**values, **given})
        _check_new_run(parser, cfg)
        train(cfg, init=args.init)
        return 0
    except UserError as exc:
        return error(prog, exc, status(exc))
    except ValueError as exc:  # torch's own argument checks (e.g. --workers -1)
        return error(prog, exc, 2)
    except KeyboardInterrupt:
        where = cfg.out if cfg else "RUN_DIR"
        print(
            f"\n{prog}: interrupted; continue with `{prog} --resume {where}` (from the last checkpoint)",
            file=sys.stderr,
        )
        return 130


def status(exc: UserError) -> int:
    """The exit status of an error of train's own: 2 for settings it refuses (a value, a --config file, --init
    weights that do not fit, a device this machine lacks: `ConfigError`), as argparse refuses a command line;
    1 when the work fails (a data folder, a run, a checkpoint it cannot read or save, a full disk)."""
    return 2 if isinstance(exc, ConfigError) else 1


def _value(argv: list[str], flag: str) -> str | None:
    """The value of `flag` in argv (as `--flag V` or `--flag=V`; "" when it ends argv), None if absent."""
    for i, a in enumerate(argv):
        if a == flag:
            return argv[i + 1] if i + 1 < len(argv) else ""
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _check_new_run(parser, cfg) -> None:
    if os.path.exists(os.path.join(cfg.out, "checkpoints", "latest.pt")):
        parser.fail(
            f"{cfg.out} already holds a run; continue it with --resume {cfg.out}, or pick another --out"
        )
    for name in (
        "steps",
        "batch_size",
        "size",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "keep_checkpoints",
    ):
        if getattr(cfg, name) < 1:
            parser.fail(f"{_flag(name)} must be at least 1")
    if not 0 <= cfg.val_fraction < 1:
        parser.fail("--val-fraction must be between 0 and 1")
    if not 0 <= cfg.decay_from <= 1:
        parser.fail("--decay-from must be between 0 and 1")


if __name__ == "__main__":  # torchrun --nproc_per_node=N -m nftgan.training.cli KIND ...
    code = main(sys.argv[1:], prog="nftgan.training.cli")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # A worker of a many-process run ends without the interpreter's finalization, its work saved: gloo's
        # worker threads, which destroy_process_group leaves running, can still be letting go of the last
        # collective's tensors, and one that needs the GIL while the interpreter finalizes aborts the process
        # ("terminate called without an active exception", SIGABRT), which torchrun reports as a failed run.
        # Two CPU processes ending right after a DDP step aborted in 7-9 of 40 runs here, in 0 of 40 this way.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
