"""Training configuration: one dataclass per model kind, no global options object.

`TrainConfig` holds what every kind shares (data, schedule, logging, hardware, generator and
discriminator shape). Each model kind subclasses it in its own module for its own fields and defaults
(`pix2pix.Pix2PixConfig`, `cyclegan.CycleGANConfig`, `gan.DCGANConfig`, ...). The whole config is stored
in every checkpoint (`dataclasses.asdict`), so a checkpoint alone says how to rebuild its networks.

Field metadata drives the command line: `nftgan train KIND --help` lists every field of that
kind's config with its `help` text (see `training.cli`), so a new field is one line here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError


def opt(default: Any, help: str, choices: tuple | None = None, cli: bool = True) -> Any:
    """A config field with command-line help (and optional choices)."""
    return field(default=default, metadata={"help": help, "choices": choices, "cli": cli})


# what a resumed run may change: how long it trains, and where and how fast it computes (not what it learns)
# (and what it logs)
ON_RESUME = ("steps", "device", "amp", "workers", "tensorboard")


@dataclass
class TrainConfig:
    model: str = opt("", "model kind (set by `nftgan train KIND`)", cli=False)
    data: str = opt("", "dataset folder (see `nftgan train KIND --help` for the layouts)", cli=False)
    out: str = opt(
        "",
        "run folder: checkpoints/, samples/, metrics.csv, loss.png, train.log",
        cli=False,
    )
    name: str = opt("", "style name shown in the add-on (default: the run folder's name)")
    init_from: str = opt(
        "",
        "the model the generator started from (set by `--init FILE`: the file's name and sha256, "
        "training.initfrom); empty: from scratch",
        cli=False,
    )
    # schedule
    steps: int = opt(20000, "training steps (one step = one batch on every process)")
    decay_from: float = opt(
        0.5,
        "keep the learning rate constant for this fraction of the steps, then decay "
        "it linearly to 0 (the papers: 100 + 100 epochs = 0.5)",
    )
    batch_size: int = opt(1, "images per step per process (the papers use 1)")
    lr: float = opt(2e-4, "Adam learning rate")
    beta1: float = opt(0.5, "Adam beta1")
    beta2: float = opt(0.999, "Adam beta2")
    seed: int = opt(0, "random seed: the same seed, data and settings give the same weights on CPU")
    # data
    size: int = opt(256, "training crop size in pixels (the exported model's native size)")
    load_size: int = opt(
        0,
        "resize images to this before the random crop (0: size * 286 / 256, the papers' jitter)",
    )
    flip: bool = opt(True, "random horizontal flips")
    val_fraction: float = opt(
        0.05,
        "fraction of images held out for validation (chosen by file name, "
        "so the split never changes when you add images)",
    )
    workers: int = opt(2, "data-loading worker processes per training process")
    # networks
    ngf: int = opt(64, "generator width (filters in the first layer)")
    ndf: int = opt(64, "discriminator width (filters in the first layer)")
    n_layers_d: int = opt(3, "PatchGAN layers (3 = the 70x70 PatchGAN)")
    norm: str = opt(
        "instance",
        "normalisation layers; batch norm becomes SyncBatchNorm under torchrun",
        choices=("instance", "batch", "none"),
    )
    gan_mode: str = opt("vanilla", "adversarial loss", choices=("vanilla", "lsgan", "hinge"))
    # logging
    log_every: int = opt(50, "write metrics.csv and loss.png every N steps")
    sample_every: int = opt(500, "write a sample grid and validation metrics every N steps")
    checkpoint_every: int = opt(1000, "write a checkpoint every N steps (and always at the end)")
    keep_checkpoints: int = opt(3, "keep only the newest N step checkpoints (latest.pt always stays)")
    tensorboard: bool = opt(
        False,
        "also log the metrics and sample grids for TensorBoard, in RUN_DIR/tensorboard/ (view with "
        "`tensorboard --logdir RUN_DIR`); needs the optional package: pip install 'nftgan[tensorboard]'",
    )
    # hardware
    device: str = opt(
        "auto",
        "cpu, cuda, cuda:1 ... (auto: cuda when available); torchrun picks per process",
    )
    amp: str = opt(
        "auto",
        "mixed precision for the training step (bf16 autocast; weights, optimizer and "
        "validation stay fp32). auto: bf16 for pix2pix and cyclegan where the hardware computes it "
        "natively (CUDA with bfloat16, CPUs with AVX512-BF16 or AMX), else none",
        choices=("auto", "none", "bf16"),
    )
    channels_last: bool = opt(False, "channels-last memory layout (for CUDA tensor cores; slower on CPU)")
    deterministic: bool = opt(
        False,
        "deterministic algorithms (slower; exact resume on CPU holds even without it, CUDA needs it)",
    )

    def __post_init__(self):
        # stored settings write paths under the home folder as ~/... (`to_dict`): a run uses them in full
        self.data, self.out = os.path.expanduser(self.data), os.path.expanduser(self.out)

    @property
    def effective_load_size(self) -> int:
        return self.load_size or (self.size * 286) // 256

    def to_dict(self) -> dict:
        """The settings as stored (config.json, every checkpoint), with paths under the home folder as ~/...:
        those files go where the run goes (`--init RUN`, a shared run folder), and a home folder names its
        user."""
        values = dataclasses.asdict(self)
        values["data"], values["out"] = tilde(self.data), tilde(self.out)
        return values

    # settings whose default changed: what a stored config that predates the setting meant
    # (e.g. {"upsample": "transposed"}: runs made before resize-convolution upsampling existed)
    LEGACY: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Rebuild from a stored dict; unknown keys (from a newer version) are ignored, missing ones (from an
        older version) take their LEGACY value, else the default."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**cls.LEGACY, **values}.items() if k in names})

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def check_values(cls, values: dict, where: str) -> dict:
        """Settings read from a config file, checked against this config's fields: names, types, choices."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in fields)
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for "
                f"{values.get('model') or cls.__name__} (the names are those of config.json, the options of "
                "`nftgan train KIND --help` with _ for -)"
            )
        out = {}
        for k, v in values.items():
            typ, choices = str(fields[k].type), fields[k].metadata.get("choices")
            ok = {
                "bool": isinstance(v, bool),
                "int": isinstance(v, int) and not isinstance(v, bool),
                "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                "str": isinstance(v, str),
            }.get(typ, True)
            if not ok:
                raise ConfigError(f"{where}: {k} must be {_WHAT[typ]}, not {v!r}")
            if choices and v not in choices:
                raise ConfigError(f"{where}: {k} must be one of {', '.join(map(str, choices))}, not {v!r}")
            out[k] = float(v) if typ == "float" else v
        return out


def tilde(path: str) -> str:
    """`path` with the home folder written as ~ when it is in it (~/datasets/my-style); others as they are."""
    home = os.path.expanduser("~").rstrip(os.sep)
    if not home or home == "~" or not os.path.isabs(path):
        return path
    if path == home:
        return "~"
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


_WHAT = {"bool": "true or false", "int": "a whole number", "float": "a number", "str": "text"}


def read_config_file(path: str) -> dict:
    """The settings in a JSON file (e.g. a run's config.json) or, with PyYAML installed, a YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc})") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"--config {path}: reading YAML needs PyYAML (pip install pyyaml); or write the settings as "
                "JSON, like the config.json in every run folder"
            ) from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--config {path}: not valid JSON ({exc}); YAML files need a .yaml or .yml name"
            ) from None
    if not isinstance(values, dict):
        raise ConfigError(
            f"--config {path}: expected settings (name: value pairs), found {type(values).__name__}"
        )
    return values
