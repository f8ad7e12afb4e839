"""Upscale: a small x4 super-resolution generator (EDSR-style residual body, ESPCN sub-pixel output).

    LR (3ch) -> conv3x3 -> n_blocks x [conv3x3 - ReLU - conv3x3 (+ skip)] -> conv3x3 (+ long skip)
             -> conv3x3 to 3 * scale^2 channels -> PixelShuffle(scale) -> + bicubic(LR) -> clamp [-1, 1]

The network predicts the detail bicubic interpolation misses: its last convolution starts at zero,
so an untrained model *is* bicubic and every training step can only move it towards the target.
Trained with L1 (Lim et al. 2017) on high-resolution crops and their bicubic-downscaled (antialiased)
versions; validation reports PSNR of the model and of plain bicubic on the same held-out crops.

Data (`--data DIR`): any folder of pictures (or `train/` inside it); with A/ + B/ folders the B
(target) pictures are used, with trainA/ + trainB/ both. Exported as a `upscale` model: any input
size, output `scale` times larger.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .blocks import psnr
from .checkpoint import load_net
from .config import TrainConfig, opt
from .data import _Images, find_layout, load_rgb, split_indices, split_name, to_tensor
from .errors import ConfigError
from .kinds import ModelKind, register


@dataclass
class UpscaleConfig(TrainConfig):
    """Super-resolution x scale: L1 between the upscaled low-resolution crop and the original crop."""

    scale: int = opt(4, "upscale factor", choices=(2, 3, 4))
    n_blocks: int = opt(4, "residual blocks")
    ngf: int = opt(32, "feature channels")
    size: int = opt(
        256,
        "high-resolution training crop (the low-resolution input is size / scale); exported as nftgan.size",
    )
    lr: float = opt(5e-4, "Adam learning rate")
    beta1: float = opt(0.9, "Adam beta1")
    sample_every: int = opt(250, "write a sample grid and validation metrics every N steps")


class _ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 3, padding=1)
        )

    def forward(self, x):
        return x + self.body(x)


class UpscaleNet(nn.Module):
    """[-1, 1] RGB NCHW (N, 3, H, W) -> [-1, 1] RGB NCHW (N, 3, H * scale, W * scale)."""

    def __init__(self, scale: int = 4, ngf: int = 32, n_blocks: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(3, ngf, 3, padding=1)
        self.body = nn.Sequential(
            *[_ResBlock(ngf) for _ in range(n_blocks)], nn.Conv2d(ngf, ngf, 3, padding=1)
        )
        self.tail = nn.Conv2d(ngf, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.zeros_(self.tail.weight)  # start as bicubic; learn the residual detail
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feat = self.head(x)
        detail = self.shuffle(self.tail(feat + self.body(feat)))
        return torch.clamp(base + detail, -1.0, 1.0)


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The baseline the model must beat (the same interpolation as the model's skip path)."""
    return F.interpolate(lr.float(), scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def downscale(hr: Image.Image, scale: int) -> Image.Image:
    """The low-resolution input for a high-resolution picture: antialiased bicubic (PIL)."""
    return hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)


class SRDataset(_Images):
    """Items {"lr": low-resolution crop, "hr": high-resolution crop}; random crop + flip when training,
    centre crop otherwise."""

    def __init__(self, files: list[str], size: int, scale: int, flip: bool, train: bool):
        super().__init__(size, size, flip, train)
        self.files, self.scale = files, scale

    def _n(self):
        return len(self.files)

    def _describe(self, i):
        return self.files[i]

    def _load(self, i, rng):
        img = load_rgb(self.files[i])
        if min(img.size) < self.size:
            f = self.size / min(img.size)
            img = img.resize(
                (max(self.size, round(img.width * f)), max(self.size, round(img.height * f))), Image.BICUBIC
            )
        if self.train:
            x = int(rng.integers(0, img.width - self.size + 1))
            y = int(rng.integers(0, img.height - self.size + 1))
        else:
            x, y = (img.width - self.size) // 2, (img.height - self.size) // 2
        hr = img.crop((x, y, x + self.size, y + self.size))
        if self.train and self.flip and rng.integers(0, 2):
            hr = hr.transpose(Image.FLIP_LEFT_RIGHT)
        return {"lr": to_tensor(downscale(hr, self.scale)), "hr": to_tensor(hr)}


def sr_files(data: str) -> tuple[list[str], object]:
    layout = find_layout(data)
    if layout.kind == "folders":
        return list(layout.b), layout
    if layout.kind == "unpaired":
        return list(layout.a) + list(layout.b), layout
    return list(layout.a), layout


class Upscale(ModelKind):
    name = "upscale"
    config_class = UpscaleConfig
    contract_kind = "upscale"
    description = (
        "x4 super-resolution (EDSR/ESPCN-style, residual over bicubic), L1 on bicubic-downscaled crops"
    )
    data_help = (
        "any folder of pictures (or its train/ subfolder); with A/ + B/ the B pictures are used, with "
        "trainA/ + trainB/ both. Inputs are made by bicubic downscaling, so no pairs are needed."
    )
    loss_names = ("L1",)
    val_names = ("val_l1", "val_psnr", "val_psnr_bicubic")
    loss_groups = (
        ("L1 (training)", ("L1",)),
        ("validation L1 (held out)", ("val_l1",)),
        ("validation PSNR, dB: model vs bicubic", ("val_psnr", "val_psnr_bicubic")),
    )

    def check_config(self, cfg):
        if cfg.size % cfg.scale or cfg.size // cfg.scale < 8:
            raise ConfigError(
                f"--size must be a multiple of --scale ({cfg.scale}) and at least {8 * cfg.scale}, "
                f"got {cfg.size}"
            )

    def build_nets(self, cfg):
        return {"G": UpscaleNet(cfg.scale, cfg.ngf, cfg.n_blocks)}

    def optimizer_groups(self, cfg):
        return {"G": ("G",)}

    def datasets(self, cfg):
        files, layout = sr_files(cfg.data)
        train, val = split_indices([split_name(p) for p in files], cfg.val_fraction)
        common = {"size": cfg.size, "scale": cfg.scale, "flip": cfg.flip}
        return (
            SRDataset([files[i] for i in train], train=True, **common),
            SRDataset([files[i] for i in val], train=False, **common),
            layout,
        )

    def train_step(self, run, batch):
        with run.autocast():
            loss = F.l1_loss(run.nets["G"](batch["lr"]).float(), batch["hr"].float())
        run.opt["G"].zero_grad(set_to_none=True)
        loss.backward()
        run.opt["G"].step()
        return {"L1": loss.detach()}

    def _upscale(self, run, batch):
        with run.autocast():
            return run.raw["G"](batch["lr"]).float()

    def validate(self, run, batch):
        out, target = self._upscale(run, batch), batch["hr"]
        return {
            "val_l1": float(F.l1_loss(out, target.float())),
            "val_psnr": float(psnr(out, target)),
            "val_psnr_bicubic": float(psnr(bicubic(batch["lr"], run.cfg.scale), target)),
        }

    def sample_rows(self, run, batch):
        out = self._upscale(run, batch)
        base = bicubic(batch["lr"], run.cfg.scale)
        return ["bicubic", "output", "target"], [[b, o, t] for b, o, t in zip(base, out, batch["hr"])]

    def generator_settings(self, cfg):
        return ("scale", "ngf", "n_blocks")

    def generator(self, cfg, nets, direction):
        if direction not in (None, "AtoB"):
            raise ConfigError(f"an upscale model has one direction (asked for {direction!r})")
        net = load_net(UpscaleNet(cfg.scale, cfg.ngf, cfg.n_blocks), nets["G"], "generator")
        return net, {"multiple_of": 1, "scale": cfg.scale}


register(Upscale())
