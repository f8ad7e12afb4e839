"""`nftgan train KIND --init FILE`: start a new run from an existing model's generator (fine-tuning).

FILE is a run folder or a checkpoint (`.pt`) of the same kind, or an exported NFTGan `.onnx` file (the
add-on's default styles, e.g. addon/models/colorize-flat.onnx). Only the generator weights come from it:
the discriminators, the optimizers, the learning-rate schedule and the step start fresh, as in any new run.

- A run folder or checkpoint gives every generator of its kind: pix2pix, upscale, dcgan and wgan-gp `G`;
  cyclegan both `G_A` (A -> B) and `G_B` (B -> A).
- An `.onnx` file holds one generator, exported in eval mode: it becomes `G` (cyclegan: `G_A`, the run's
  A -> B direction, so put the pictures it takes in trainA/; `G_B` starts from scratch and learns to invert
  it). The exporter's rewrite of upsampling pairs (`export.optimize`) keeps each original convolution's
  weights in the graph (its border fix-up runs them), so every parameter is read back bit for bit; the
  reader checks this by running the file in onnxruntime beside the rebuilt generator. Generators with batch
  norm (`--norm batch`, dcgan, wgan-gp) cannot start from an `.onnx`: the exporter folds the eval-mode batch
  norm into the convolutions, which cannot be undone; start those from their run folder or checkpoint.

The architecture must be the one the run's settings build (kind, net_g, ngf, U-Net depth from --size,
norm, upsampling, ...): otherwise a `ConfigError` says what differs and what to pass, before anything is
written. The run records where it started as `init_from` in its config.json, checkpoints and exported
provenance: the file's name (and its run folder's name) and the start of its sha256, never a full path.

Training imports neither onnx nor the export package: the `.onnx` reader is export's
(`nftgan.export.onnx_init`), found by name the way `training.kinds` finds a kind's module, so a training
install without the export extra still trains and says what to install to read an `.onnx`.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint, resolve
from .config import TrainConfig
from .errors import ConfigError

# file suffix -> module with `read_init(path, kind, cfg, label) -> InitWeights` (imported when used)
READERS: dict[str, str] = {".onnx": "nftgan.export.onnx_init"}
SHA_CHARS = 12


@dataclass
class InitWeights:
    """Generator weights to start a run from: {net name: state dict}, and what the run records."""

    nets: dict[str, dict[str, torch.Tensor]]
    record: str  # config.json's init_from: "colorize-flat.onnx (sha256 0123456789ab)"
    notes: list[str] = field(default_factory=list)  # said in train.log (e.g. which nets start from scratch)
    fresh: dict[str, list[str]] = field(
        default_factory=dict
    )  # {net: parameters the file lacks, kept as built}


def new_parts(net, want: dict, have) -> list[str]:
    """The parameters and buffers of `want` (the run's generator state) that the file (`have`) lacks and that
    the generator marks as optional additions (`net.NEW` prefixes, e.g. the colour-class head of
    training/colourclass.py: a plain U-Net's weights start it, the head starts fresh)."""
    prefixes = tuple(getattr(net, "NEW", ()))
    return [k for k in want if k not in have and prefixes and k.startswith(prefixes)]


def fresh_record(record: str, fresh: dict[str, list[str]]) -> str:
    """init_from's record, saying which additions started fresh (the run's provenance)."""
    heads = sorted({k.split(".")[0] for f in fresh.values() for k in f})
    return f"{record}; new, not from it: {', '.join(heads)}" if heads else record


def earlier_record(record: str, earlier: str) -> str:
    """init_from's record of a file that was itself fine-tuned (its own init_from, `earlier`): the whole chain,
    so a model fine-tuned in stages says where it started (Flat Colour -> run A -> this run)."""
    return f"{record}, itself fine-tuned from {earlier}" if earlier else record


def fresh_note(label: str, name: str, fresh: list[str]) -> str:
    heads = sorted({k.split(".")[0] for k in fresh})
    return (
        f"--init {label}: {name} has {len(fresh)} parameters and buffers the file lacks ({', '.join(heads)}): "
        "they start as built (fresh weights; colour bins and weights from this run's data)"
    )


def sha256_short(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:SHA_CHARS]


def label_of(path: Path) -> str:
    """The file's name, with its run folder's name for a checkpoint in RUN/checkpoints/: no full path."""
    if path.parent.name == "checkpoints" and path.parent.parent.name:
        return f"{path.parent.parent.name}/checkpoints/{path.name}"
    return path.name


def generator_settings(kind, cfg: TrainConfig) -> dict:
    """{setting: value} of the settings that shape the kind's generators (`ModelKind.generator_settings`)."""
    return {name: getattr(cfg, name) for name in kind.generator_settings(cfg)}


def flags(settings: dict) -> str:
    out = []
    for k, v in settings.items():
        flag = "--" + k.replace("_", "-")
        out.append((flag if v else f"--no-{k.replace('_', '-')}") if isinstance(v, bool) else f"{flag} {v}")
    return " ".join(out)


def shape_differences(want: dict, have: dict, limit: int = 3) -> list[str]:
    """What differs between the state dict the run builds (`want`) and the file's (`have`): names and shapes."""
    out = []
    for k, v in want.items():
        if k not in have:
            out.append(f"{k} {tuple(v.shape)} is not in the file")
        elif tuple(have[k].shape) != tuple(v.shape):
            out.append(f"{k} is {tuple(have[k].shape)} in the file, {tuple(v.shape)} here")
    out += [f"{k} {tuple(have[k].shape)} is in the file only" for k in have if k not in want]
    more = len(out) - limit
    return out[:limit] + ([f"and {more} more"] if more > 0 else [])


def mismatch(label: str, kind, cfg: TrainConfig, theirs: dict, details: list[str]) -> ConfigError:
    """The error for a generator that does not fit this run's: which settings differ and what to pass."""
    mine = generator_settings(kind, cfg)
    differ = {k: v for k, v in theirs.items() if k in mine and mine[k] != v}
    what = (
        ", ".join(f"{k.replace('_', '-')} {v} (this run: {mine[k]})" for k, v in differ.items())
        if differ
        else ", ".join(details)
    )
    fix = (
        f"pass {flags(differ)} to build the same generator"
        if differ
        else f"build the same generator ({flags(theirs)})"
        if theirs
        else "build the generator the file holds"
    )
    parts = [f"--init {label}: its generator does not fit the one this run builds: {what}."]
    if differ and details:
        parts.append(f"({'; '.join(details)})")
    parts.append(f"To fine-tune it, {fix}; or leave out --init to train from scratch. Nothing was written.")
    return ConfigError(" ".join(parts))


def load_init(path: str, kind, cfg: TrainConfig) -> InitWeights:
    """Read the generator weights `path` holds for a new `kind` run with settings `cfg`, checked against the
    networks `cfg` builds (ConfigError / CheckpointError with what to do when they do not fit)."""
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is not None:
        if not p.is_file():
            raise ConfigError(f"--init {path}: file not found")
        try:
            module = importlib.import_module(reader)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"--init {p.name}: reading a {p.suffix} file needs the {exc.name} package "
                "(pip install 'nftgan[export]'); or start from the run folder or checkpoint it was exported from"
            ) from None
        record = f"{p.name} (sha256 {sha256_short(p)})"
        return module.read_init(p, kind, cfg, record)
    try:
        ck_path = resolve(p)
        ck = load_checkpoint(ck_path)
    except CheckpointError as exc:
        raise ConfigError(
            f"--init {path}: {exc} (--init takes a run folder, a checkpoint .pt or an exported .onnx file)"
        ) from None
    label = label_of(ck_path)
    record = earlier_record(
        f"{label} (step {ck['step']}, sha256 {sha256_short(ck_path)})", ck["config"].get("init_from") or ""
    )
    return from_checkpoint(ck, kind, cfg, label, record)


def from_checkpoint(ck: dict, kind, cfg: TrainConfig, label: str, record: str) -> InitWeights:
    if ck["model"] != kind.name:
        raise ConfigError(
            f"--init {label} is a {ck['model']} run; this is a {kind.name} run. Start it with "
            f"`nftgan train {ck['model']} --init ...`, or pick a {kind.name} run folder, checkpoint or .onnx file"
        )
    theirs_cfg = kind.config_class.from_dict(ck["config"])
    theirs = generator_settings(kind, theirs_cfg)
    for name in kind.generator_nets:
        if name not in ck["nets"]:
            raise ConfigError(f"--init {label}: the checkpoint holds no {name} weights")
    states = {
        name: {k.removeprefix("module."): v for k, v in ck["nets"][name].items()}
        for name in kind.generator_nets
    }
    mine_nets = kind.build_nets_for(cfg, states)
    details = []
    nets = {}
    fresh: dict[str, list[str]] = {}
    for name in kind.generator_nets:
        state = states[name]
        want = mine_nets[name].state_dict()
        new = new_parts(mine_nets[name], want, state)
        if new:
            fresh[name] = new
            want = {k: v for k, v in want.items() if k not in new}
        diff = shape_differences(want, state)
        if diff:
            details += [f"{name}: {d}" for d in diff]
        nets[name] = state
    # settings that change what the generator computes without changing its parameters (e.g. instance norm
    # vs none, neither of which has parameters) are refused too: the weights would not mean the same
    if details or theirs != generator_settings(kind, cfg):
        raise mismatch(label, kind, cfg, theirs, details)
    notes = [fresh_note(label, n, f) for n, f in fresh.items()]
    return InitWeights(nets, fresh_record(record, fresh), notes, fresh)


def apply_init(nets: dict, init: InitWeights) -> None:
    """Load the weights into the run's freshly built networks (strict: every parameter and buffer, except the
    optional new ones `init.fresh` lists, which keep the values the run built)."""
    for name, state in init.nets.items():
        net = nets[name]
        device = next(iter(net.state_dict().values())).device
        fresh = init.fresh.get(name, [])
        if fresh:
            state = {**{k: v for k, v in net.state_dict().items() if k in fresh}, **state}
        try:
            net.load_state_dict({k: v.to(device) for k, v in state.items()})
        except RuntimeError as exc:
            raise ConfigError(f"--init: the {name} weights do not fit: {str(exc).splitlines()[0]}") from None
