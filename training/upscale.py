"""Upscale: a small x4 super-resolution generator (EDSR-style residual body, ESPCN sub-pixel output).

    LR (3ch) -> conv3x3 -> n_blocks x [conv3x3 - ReLU - conv3x3 (+ skip)] -> conv3x3 (+ long skip)
             -> conv3x3 to 3 * scale^2 channels -> PixelShuffle(scale) -> + bicubic(LR) -> clamp [-1, 1]
                (in eval mode, and exported: clamp to the input's local range instead, `local_range`)

The network predicts the detail bicubic interpolation misses: its last convolution starts at zero,
so an untrained model *is* bicubic and every training step can only move it towards the target.
Used (eval mode, and so exported), each output pixel is kept within the range of the input pixels around
it (3 x 3, per channel, enlarged smoothly): a sharpened edge may get as steep as the target's, but not
overshoot into a halo of a colour neither side has (trained on soft inputs, the detail rang as a dark blue
line along 3D Clay's red wall at 2048 px, issue 11), and bicubic's own ringing is cut the same way. Training
runs without it (the network learns the whole detail), so an untrained model in training mode is bicubic.
Trained with L1 (Lim et al. 2017) on high-resolution crops and their antialiased bicubic-downscaled
versions, a share of them (`--blur`) first blurred by a Gaussian of a random sigma (`--blur-min` ..
`--blur-max`, in input pixels): in the add-on its input is a generator's result, softer than a downscaled
photo (3D Clay at 512 px: edges like a sharp picture's blurred by sigma ~1.6 input pixels, issue 11), and
a model that only learned to undo downscaling leaves that softness in. Validation reports PSNR of the
model and of plain bicubic on the same held-out crops (plainly downscaled), and the model's on those crops
blurred by SOFT_SIGMA first.

Data (`--data DIR`): any folder of pictures (or `train/` inside it); with A/ + B/ folders the B
(target) pictures are used, with trainA/ + trainB/ both. Exported as a `upscale` model: any input
size, output `scale` times larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .blocks import psnr
from .checkpoint import load_net
from .config import TrainConfig, opt
from .data import UNREADABLE, _Images, find_layout, load_rgb, split_indices, split_name, to_tensor
from .errors import ConfigError
from .kinds import ModelKind, register

SOFT_SIGMA = 1.5  # input pixels: validation's "soft" inputs, about 3D Clay's edges at its 512 px work size


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
    blur: float = opt(
        0.5,
        "share of the training inputs blurred before the downscale (0: all plainly downscaled, the way "
        "models trained before this setting learned)",
    )
    blur_min: float = opt(1.0, "smallest blur: Gaussian sigma in input (low-resolution) pixels")
    blur_max: float = opt(2.0, "largest blur (sigmas are drawn uniformly between --blur-min and this)")

    LEGACY: ClassVar[dict] = {"blur": 0.0}  # runs made before the setting: plain downscaling


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

    def _upscaled(self, x):
        """bicubic + the predicted detail, unlimited."""
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feat = self.head(x)
        return base + self.shuffle(self.tail(feat + self.body(feat)))

    def forward(self, x):
        out = self._upscaled(x)
        if self.training:
            return torch.clamp(out, -1.0, 1.0)
        lo, hi = local_range(x, self.scale)
        return torch.minimum(torch.maximum(out, lo), hi)

    def earlier_outputs(self, x) -> dict[str, torch.Tensor]:
        """{what changed: the output in use before it} for changes that added no weights: `--init` reads a
        file exported before such a change (its weights are this network's; it computes the earlier output).
        Upscalers exported before the local-range clamp (commit 28b63d0) clamp to [-1, 1] only."""
        what = "exported before the local-range clamp (its output is clamped to [-1, 1] only)"
        return {what: torch.clamp(self._upscaled(x), -1.0, 1.0)}


def local_range(x: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest and highest value of each input pixel's 3 x 3 neighbourhood (per channel), enlarged
    `scale` x by bilinear interpolation (smooth, where nearest would draw the input's pixel grid)."""

    def up(t):
        return F.interpolate(t, scale_factor=scale, mode="bilinear", align_corners=False)

    return -up(F.max_pool2d(-x, 3, 1, 1)), up(F.max_pool2d(x, 3, 1, 1))


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The baseline the model must beat (the same interpolation as the model's skip path)."""
    return F.interpolate(lr.float(), scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def downscale(hr: Image.Image, scale: int) -> Image.Image:
    """The low-resolution input for a high-resolution picture: antialiased bicubic (PIL)."""
    return hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each picture of an (N, C, H, W) batch blurred by its own Gaussian, `sigma` (N,) in pixels (0: left as
    it is, exactly); separable, reflected at the borders."""
    n, c, h, w = x.shape
    r = min(max(1, math.ceil(3 * float(sigma.max()))), h - 1, w - 1)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma.to(x.dtype).clamp_min(1e-3)[:, None]) ** 2)  # (N, 2r + 1)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)
    y = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=n * c)
    return F.conv2d(y, k[:, None, :, None], groups=n * c).reshape(n, c, h, w)


def degrade(hr: torch.Tensor, scale: int, sigma: torch.Tensor) -> torch.Tensor:
    """Low-resolution inputs for an (N, 3, H, W) batch of [-1, 1] crops: blurred by `sigma` (N,) input pixels
    (`sigma * scale` at the crop's resolution), then downscaled by antialiased bicubic (PIL's filter)."""
    h, w = hr.shape[-2:]
    soft = gaussian_blur(hr, sigma * scale) if float(sigma.max()) > 0 else hr
    return F.interpolate(
        soft, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False
    ).clamp(-1, 1)


def draw_sigma(rng, share: float, lo: float, hi: float) -> float:
    """One training input's blur (input pixels): 0 with probability 1 - `share`, else uniform in [lo, hi]."""
    u, v = rng.random(2)
    return float(lo + (hi - lo) * v) if u < share else 0.0


class SRDataset(_Images):
    """Items {"lr": low-resolution crop, "hr": high-resolution crop}; random crop + flip when training,
    centre crop otherwise. Training inputs: `blur` = (share, min, max) of the Gaussian blur before the
    downscale (`degrade`, drawn per crop from its seed); held-out inputs are plainly downscaled."""

    def __init__(
        self,
        files: list[str],
        size: int,
        scale: int,
        flip: bool,
        train: bool,
        blur: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ):
        super().__init__(size, size, flip, train)
        self.files, self.scale, self.blur = files, scale, blur

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
        if not (self.train and self.blur[0] > 0):
            return {"lr": to_tensor(downscale(hr, self.scale)), "hr": to_tensor(hr)}
        hr = to_tensor(hr)
        sigma = torch.tensor([draw_sigma(rng, *self.blur)])
        return {"lr": degrade(hr[None], self.scale, sigma)[0], "hr": hr}


def _short_side(path: str) -> float:
    """A picture's shorter side in px, from its header (inf when it cannot be read: the dataset reports it)."""
    try:
        with Image.open(path) as img:
            return min(img.size)
    except UNREADABLE:
        return math.inf


def sr_files(data: str) -> tuple[list[str], object]:
    layout = find_layout(
        data, expected="The upscaler learns from any folder of pictures (png, jpg, webp, ...)."
    )
    if layout.kind == "folders":
        return list(layout.b), layout
    if layout.kind == "unpaired":
        return list(layout.a) + list(layout.b), layout
    return list(layout.a), replace(layout, kind="image folder")  # (not pix2pix's side-by-side pairs)


class Upscale(ModelKind):
    name = "upscale"
    config_class = UpscaleConfig
    contract_kind = "upscale"
    description = (
        "x4 super-resolution (EDSR/ESPCN-style, residual over bicubic), L1 on blurred and bicubic-downscaled "
        "crops"
    )
    data_help = (
        "any folder of pictures (or its train/ subfolder); with A/ + B/ the B pictures are used, with "
        "trainA/ + trainB/ both. Inputs are made by (blurring and) bicubic downscaling, so no pairs are needed."
    )
    loss_names = ("L1",)
    val_names = ("val_l1", "val_psnr", "val_psnr_bicubic", "val_psnr_soft")
    loss_groups = (
        ("L1 (training)", ("L1",)),
        ("validation L1 (held out)", ("val_l1",)),
        (
            f"validation PSNR, dB: model vs bicubic; model on soft inputs (blur {SOFT_SIGMA})",
            ("val_psnr", "val_psnr_bicubic", "val_psnr_soft"),
        ),
    )

    def check_config(self, cfg):
        if cfg.size % cfg.scale or cfg.size // cfg.scale < 8:
            raise ConfigError(
                f"--size must be a multiple of --scale ({cfg.scale}) and at least {8 * cfg.scale}, "
                f"got {cfg.size}"
            )
        if not 0 <= cfg.blur <= 1:
            raise ConfigError(f"--blur is a share of the training inputs, from 0 to 1; got {cfg.blur}")
        if not 0 <= cfg.blur_min <= cfg.blur_max:
            raise ConfigError(
                f"--blur-min and --blur-max must satisfy 0 <= min <= max, got {cfg.blur_min} and {cfg.blur_max}"
            )

    def build_nets(self, cfg):
        return {"G": UpscaleNet(cfg.scale, cfg.ngf, cfg.n_blocks)}

    def optimizer_groups(self, cfg):
        return {"G": ("G",)}

    def datasets(self, cfg):
        files, layout = sr_files(cfg.data)
        if small := sum(_short_side(p) < cfg.size for p in files):
            enlarged = (
                f"{small} of {len(files)} pictures are smaller than --size {cfg.size} px and are enlarged to it: "
                "the upscaler then learns their blur as what a sharp picture looks like. Give it pictures of at "
                "least that size, or train with a smaller --size"
            )
            layout = replace(layout, notes=(*layout.notes, enlarged))
        train, val = split_indices([split_name(p) for p in files], cfg.val_fraction)
        common = {
            "size": cfg.size,
            "scale": cfg.scale,
            "flip": cfg.flip,
            "blur": (cfg.blur, cfg.blur_min, cfg.blur_max),
        }
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

    def _upscale(self, run, lr):
        with run.autocast():
            return run.raw["G"](lr).float()

    def _soft(self, run, batch):
        """The batch's crops blurred by SOFT_SIGMA input pixels and downscaled, then upscaled."""
        hr = batch["hr"].float()
        return self._upscale(run, degrade(hr, run.cfg.scale, torch.full((hr.shape[0],), SOFT_SIGMA)))

    def validate(self, run, batch):
        out, target = self._upscale(run, batch["lr"]), batch["hr"]
        return {
            "val_l1": float(F.l1_loss(out, target.float())),
            "val_psnr": float(psnr(out, target)),
            "val_psnr_bicubic": float(psnr(bicubic(batch["lr"], run.cfg.scale), target)),
            "val_psnr_soft": float(psnr(self._soft(run, batch), target)),
        }

    def sample_rows(self, run, batch):
        out, soft = self._upscale(run, batch["lr"]), self._soft(run, batch)
        base = bicubic(batch["lr"], run.cfg.scale)
        rows = [list(r) for r in zip(base, out, soft, batch["hr"])]
        return ["bicubic", "output", f"output, input blurred {SOFT_SIGMA}", "target"], rows

    def generator_settings(self, cfg):
        return ("scale", "ngf", "n_blocks")

    def generator(self, cfg, nets, direction):
        if direction not in (None, "AtoB"):
            raise ConfigError(f"an upscale model has one direction (asked for {direction!r})")
        net = load_net(UpscaleNet(cfg.scale, cfg.ngf, cfg.n_blocks), nets["G"], "generator")
        return net, {"multiple_of": 1, "scale": cfg.scale}


register(Upscale())
