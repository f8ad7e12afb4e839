"""The model-kind registry: how a kind of model plugs into the shared trainer.

The trainer (`training.trainer`) owns everything that is the same for every model: the step loop,
data loading with a resumable `DistributedSampler`, Adam optimizers and the constant-then-linear
learning-rate schedule, atomic full-state checkpoints, exact `--resume`, metrics.csv / loss.png /
sample grids / tqdm / TensorBoard, validation, DDP under torchrun, bf16 autocast and channels-last.
A model kind only says what is different, in one module of its own that holds its config dataclass, the
networks only it uses, its losses and its `ModelKind` (pix2pix.py, cyclegan.py, gan.py, upscale.py).
Building blocks several kinds share (PatchGAN, the U-Net and ResNet generators pix2pix and cyclegan both
offer, norm layers, weight init, adversarial losses, PSNR) are in `training.blocks`; the config base
`TrainConfig` is in `training.config`. To add a kind (e.g. `training/gan.py` for dcgan):

    from nftgan.training.config import TrainConfig, opt
    from nftgan.training.kinds import ModelKind, register

    @dataclass
    class GanConfig(TrainConfig):              # its own fields become `nftgan train dcgan --...` options
        latent: int = opt(128, "latent size")

    class DCGAN(ModelKind):
        name = "dcgan"                         # `nftgan train dcgan`, checkpoint["model"]
        config_class = GanConfig
        contract_kind = "generate"             # colorize | stylize | generate | upscale
        description = "one line for `nftgan train --help`"
        data_help = "what --data must look like"
        loss_names = ("G", "D")                # columns of metrics.csv / curves in loss.png
        val_names = ()                         # validation metric columns (e.g. ("val_l1", "val_psnr"))
        loss_groups = (("adversarial", ("G", "D")),)   # optional: loss.png's panels (title, metrics);
                                               # metrics in no group get a panel each
        held_out_images = True                 # the sample grid shows held-out images (False: e.g. latents)
        nets_to_save = ("G", "D")              # default: every net from build_nets
        auto_bf16 = False                      # True once bf16 is shown to train as well as fp32 (--amp auto)
        generator_nets = ("G",)                # what `--init FILE` starts from FILE (training.initfrom)

        def build_nets(self, cfg): return {"G": ..., "D": ...}            # initialised nn.Modules
        def build_nets_for(self, cfg, states): return self.build_nets(cfg)  # optional: nets whose weights
                                               # `states` ({net: state dict}) replace (resume, --init)
        def optimizer_groups(self, cfg): return {"G": ("G",), "D": ("D",)}  # optimizer -> nets (Adam)
        def adam(self, cfg, group): return {"lr": ..., "betas": ...}     # optional: per-group Adam settings
        def datasets(self, cfg): return train_ds, val_ds   # items: dicts of tensors (+ "skipped": [paths])
        def new_state(self, cfg, device): return {}         # per-process state saved in checkpoint["pools"]
        def train_step(self, run, batch): ...; return {"G": float, "D": float}
        def validate(self, run, batch): return {}           # batch = fixed validation images
        def sample_rows(self, run, batch): return labels, rows   # rows[i] = list of CHW tensors in [-1, 1]
        def generator(self, cfg, nets, direction): return module, {"multiple_of": 1, "latent": 128}
        def image_count(self, train_ds, val_ds): return len(train_ds)    # optional: for provenance
        def generator_settings(self, cfg): return ("latent", "size", "ngf")  # what --init must match
        def needs_init(self, cfg): return ""               # optional: why these settings need --init FILE
        def stage(self, cfg): return ""                    # optional: what is trained, if not everything
        def exported_kind(self, cfg): return "generate"     # optional: the contract kind export writes

    register(DCGAN())

and add the module to `BUILTIN` below so `nftgan train dcgan` finds it without importing every kind.
`run` (a `training.trainer.Run`) gives `cfg`, `device`, `nets` (DDP-wrapped when distributed: use these
for the forward pass whose gradients you need), `raw` (the plain modules: use these for frozen forward
passes, e.g. the discriminator during the generator update), `opt` (optimizers by group name),
`state` (what `new_state` returned), `autocast()` (wrap forward passes in it: bf16 when `--amp` resolves
to bf16, and always fp32 inside `validate` / `sample_rows`, which the trainer runs in full precision),
`requires_grad(names, flag)`, `step`, `rank`, `world_size`. A kind never saves, logs, seeds or schedules anything itself.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

from torch import nn

from .config import TrainConfig

# kind name -> module that registers it (imported on first use)
BUILTIN: dict[str, str] = {
    "pix2pix": "nftgan.training.pix2pix",
    "cyclegan": "nftgan.training.cyclegan",
    "dcgan": "nftgan.training.gan",
    "wgan-gp": "nftgan.training.gan",
    "upscale": "nftgan.training.upscale",
}

_REGISTRY: dict[str, ModelKind] = {}


class ModelKind(ABC):
    """Base class of a model kind; see the module docstring for the contract."""

    name: str = ""
    config_class: type[TrainConfig] = TrainConfig
    contract_kind: str = ""
    description: str = ""
    data_help: str = ""
    loss_names: tuple[str, ...] = ()
    val_names: tuple[str, ...] = ()
    loss_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    held_out_images: bool = True
    nets_to_save: tuple[str, ...] | None = None
    # --amp auto picks bf16 (on hardware that has it) only for kinds shown to reach the same held-out quality
    # in bf16 as in fp32 (tools/bench/precision.py); the others train in fp32 unless asked for --amp bf16
    auto_bf16: bool = False
    # the generators `--init FILE` takes from a run folder or checkpoint of this kind (an exported .onnx holds
    # one generator: the first); discriminators always start fresh
    generator_nets: tuple[str, ...] = ("G",)

    def panels(self) -> list[tuple[str, tuple[str, ...]]]:
        """loss.png's panels: `loss_groups`, then a panel for each metric in no group."""
        grouped = {n for _, names in self.loss_groups for n in names}
        rest = [(n, (n,)) for n in (*self.loss_names, *self.val_names) if n not in grouped]
        return [*self.loss_groups, *rest]

    def check_config(self, cfg: TrainConfig) -> None:  # noqa: B027 - optional hook
        """Raise `errors.ConfigError` with advice for settings this kind cannot train with."""

    def needs_init(self, cfg: TrainConfig) -> str:
        """Why a new run with these settings must start from a model (`--init FILE`); "": it need not."""
        return ""

    def stage(self, cfg: TrainConfig) -> str:
        """What a run with these settings trains, when it is not the whole of its networks (e.g. pix2pix
        --head-only): said in train.log and recorded in the provenance (the model card); "": everything."""
        return ""

    @abstractmethod
    def build_nets(self, cfg: TrainConfig) -> dict[str, nn.Module]:
        """(required)"""

    def build_nets_for(self, cfg: TrainConfig, states: dict[str, dict]) -> dict[str, nn.Module]:
        """`build_nets` for weights that will replace the built ones (`states`: {net: state dict}, from the
        checkpoint a run resumes or the file --init starts from): a kind whose networks take something from the
        data when built (pix2pix --colour-classes: the colour bins, counted over the training pictures) takes
        it from `states` instead, where they hold it. Default: `build_nets`."""
        return self.build_nets(cfg)

    @abstractmethod
    def optimizer_groups(self, cfg: TrainConfig) -> dict[str, tuple[str, ...]]:
        """(required)"""

    @abstractmethod
    def datasets(self, cfg: TrainConfig):
        """(required)"""

    def new_state(self, cfg: TrainConfig, device) -> dict:
        return {}

    def adam(self, cfg: TrainConfig, group: str) -> dict:
        """Adam settings of one optimizer group (e.g. two-time-scale learning rates for GANs)."""
        return {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2)}

    def image_count(self, train_ds, val_ds) -> int:
        """Training images for the provenance (when the validation set holds no images, e.g. latents)."""
        return len(train_ds) + len(val_ds)

    @abstractmethod
    def train_step(self, run, batch: dict) -> dict[str, float]:
        """(required)"""

    def validate(self, run, batch: dict) -> dict[str, float]:
        return {}

    @abstractmethod
    def sample_rows(self, run, batch: dict):
        """(required)"""

    @abstractmethod
    def generator(self, cfg: TrainConfig, nets: dict[str, dict], direction: str | None):
        """(required)"""

    def generator_settings(self, cfg: TrainConfig) -> tuple[str, ...]:
        """The config fields that shape the generators: `--init FILE` must have been trained with the same
        (checked with the parameter shapes, which miss e.g. instance norm vs none). () : none known, the
        parameter names and shapes decide alone."""
        return ()

    def exported_kind(self, cfg: TrainConfig) -> str:
        """The contract kind (`nftgan.kind`) `nftgan export` writes for a run with these settings."""
        return self.contract_kind


def register(kind: ModelKind) -> ModelKind:
    if not kind.name:
        raise ValueError("a model kind needs a name")
    _REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> ModelKind:
    """The registered kind `name`, importing its module on first use."""
    if name not in _REGISTRY and name in BUILTIN:
        try:
            importlib.import_module(BUILTIN[name])
        except ModuleNotFoundError as exc:
            if exc.name != BUILTIN[name]:
                raise
    if name not in _REGISTRY:
        raise KeyError(f"unknown model kind {name!r}; available: {', '.join(available()) or 'none'}")
    return _REGISTRY[name]


def available() -> list[str]:
    """Kinds that can be trained here (built-in modules that exist, plus anything registered)."""
    for name, module in BUILTIN.items():
        if name not in _REGISTRY:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
    return sorted(_REGISTRY)
