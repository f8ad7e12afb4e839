"""Building blocks shared by several model kinds (each kind's own module holds the rest: its config,
the networks only it uses, its losses and train step).

- `norm_layer(kind)`: batch / instance / none; `sync_norms(net)` swaps batch norm for SyncBatchNorm (DDP).
- `init_weights(net)`: N(0, 0.02) for convolutions, N(1, 0.02) for norm scales (every GAN here).
- The image-to-image generators that pix2pix and cyclegan both offer (`--net-g`), built by
  `build_image_generator`; every one maps [-1, 1] RGB NCHW to [-1, 1] RGB NCHW:
  - `UnetGenerator` (Isola et al. 2017): encoder-decoder with skips; depth = log2(size) so the
    bottleneck is 1x1 (8 levels at 256 px, 7 at 128 px); channels capped at ngf * 8; dropout in the
    innermost levels.
  - `ResnetGenerator` (Zhu et al. 2017): c7s1 - 2 down - N residual blocks (reflection padding) - 2 up -
    c7s1, tanh.
  - both upsample x2 with `up_layer`: "resize" (bilinear resize, then a 3x3 convolution; no checkerboard,
    the default of new runs) or "transposed" (the papers' transposed convolutions, whose uneven overlap
    draws a dot grid; kept for comparison and for runs made before resize existed).
- `PatchDiscriminator`: the 70x70 PatchGAN at n_layers=3 (pix2pix conditional on 6 channels, cyclegan on 3).
- `gan_loss`: the adversarial losses (vanilla / lsgan / hinge); `psnr` of images in [-1, 1].
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError


def norm_layer(kind: str):
    """A constructor `f(channels) -> nn.Module` for the named normalisation."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: use batch, instance or none")


def sync_norms(net: nn.Module) -> nn.Module:
    """Batch norm statistics shared across processes (DDP). Instance norm is per image already."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(net)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


UPSAMPLE = ("resize", "transposed")


def up_layer(
    in_ch: int, out_ch: int, bias: bool, mode: str, kernel: int = 4, output_padding: int = 0
) -> nn.Module:
    """x2 upsampling. "resize": bilinear resize, then a 3x3 convolution (Odena et al. 2016, "Deconvolution
    and checkerboard artifacts"): every output pixel is made the same way, so no grid. "transposed": a
    transposed convolution (kernel 4, or 3 with output padding for the ResNet), as in the papers."""
    if mode == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias),
        )
    if mode == "transposed":
        return nn.ConvTranspose2d(in_ch, out_ch, kernel, 2, 1, output_padding=output_padding, bias=bias)
    raise ValueError(f"unknown upsampling {mode!r}: use {' or '.join(UPSAMPLE)}")


def unet_depth(size: int) -> int:
    """U-Net levels for a crop size: log2(size), so the bottleneck is 1x1. Needs a power of two >= 32."""
    depth = round(math.log2(size)) if size > 0 else 0
    if size < 32 or 2**depth != size:
        raise ConfigError(
            f"a U-Net needs a crop size that is a power of two (32, 64, 128, 256, 512 ...), got {size}; "
            "use --size 256 (or 128), or --net-g resnet_9blocks which takes any multiple of 4"
        )
    return depth


def multiple_of(net_g: str, size: int) -> int:
    """Image sizes a generator accepts are multiples of this."""
    return 2 ** unet_depth(size) if net_g == "unet" else 4


def check_size(net_g: str, size: int) -> None:
    """Raise ConfigError with advice if `net_g` cannot take crops of `size`."""
    if net_g == "unet":
        unet_depth(size)
    elif size < 16 or size % 4:
        raise ConfigError(
            f"a ResNet generator needs a crop size that is a multiple of 4 and at least 16, got {size}"
        )


class _UnetLevel(nn.Module):
    """One level: down(x) -> inner -> up, output concatenated with x (except the outermost)."""

    def __init__(
        self,
        outer: int,
        inner: int,
        in_ch: int | None,
        sub: nn.Module | None,
        norm,
        outermost=False,
        innermost=False,
        dropout=False,
        up_mode="transposed",
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = not isinstance(norm(1), nn.BatchNorm2d)
        in_ch = outer if in_ch is None else in_ch
        down = nn.Conv2d(in_ch, inner, 4, 2, 1, bias=use_bias)
        if outermost:
            up = up_layer(inner * 2, outer, True, up_mode)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = up_layer(inner, outer, use_bias, up_mode)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm(outer)]
        else:
            up = up_layer(inner * 2, outer, use_bias, up_mode)
            layers = [nn.LeakyReLU(0.2, True), down, norm(inner), sub, nn.ReLU(True), up, norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(
        self, in_ch=3, out_ch=3, size=256, ngf=64, norm="batch", dropout=True, upsample="transposed"
    ):
        super().__init__()
        depth = unet_depth(size)
        nl = norm_layer(norm)
        up = {"up_mode": upsample}
        block = _UnetLevel(ngf * 8, ngf * 8, None, None, nl, innermost=True, **up)
        for _ in range(depth - 5):  # the capped ngf*8 levels, with dropout
            block = _UnetLevel(ngf * 8, ngf * 8, None, block, nl, dropout=dropout, **up)
        block = _UnetLevel(ngf * 4, ngf * 8, None, block, nl, **up)
        block = _UnetLevel(ngf * 2, ngf * 4, None, block, nl, **up)
        block = _UnetLevel(ngf, ngf * 2, None, block, nl, **up)
        self.model = _UnetLevel(out_ch, ngf, in_ch, block, nl, outermost=True, **up)

    def forward(self, x):
        return self.model(x)


class _ResnetBlock(nn.Module):
    def __init__(self, ch: int, norm, use_bias: bool, dropout: bool):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=use_bias), norm(ch), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=use_bias), norm(ch)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    def __init__(
        self, in_ch=3, out_ch=3, ngf=64, norm="instance", dropout=False, n_blocks=9, upsample="transposed"
    ):
        super().__init__()
        nl = norm_layer(norm)
        use_bias = not isinstance(nl(1), nn.BatchNorm2d)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=use_bias), nl(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=use_bias),
                nl(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [_ResnetBlock(ngf * 4, nl, use_bias, dropout) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                up_layer(ngf * mult, ngf * mult // 2, use_bias, upsample, kernel=3, output_padding=1),
                nl(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake logit per overlapping patch (70x70 receptive field at n_layers=3)."""

    def __init__(self, in_ch=6, ndf=64, n_layers=3, norm="batch"):
        super().__init__()
        nl = norm_layer(norm)
        use_bias = not isinstance(nl(1), nn.BatchNorm2d)
        layers = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=use_bias),
                nl(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def build_image_generator(
    net_g: str,
    size: int,
    ngf: int,
    norm: str,
    dropout: bool,
    in_ch: int = 3,
    out_ch: int = 3,
    upsample: str = "transposed",
) -> nn.Module:
    """The generator named by a config's `net_g` (unet, resnet_9blocks, resnet_6blocks), initialised.
    `upsample` is the config's (`up_layer`); the default is the papers' reference layer."""
    check_size(net_g, size)
    if net_g == "unet":
        net = UnetGenerator(in_ch, out_ch, size=size, ngf=ngf, norm=norm, dropout=dropout, upsample=upsample)
    elif net_g in ("resnet_9blocks", "resnet_6blocks"):
        net = ResnetGenerator(
            in_ch, out_ch, ngf=ngf, norm=norm, dropout=dropout, n_blocks=int(net_g[7]), upsample=upsample
        )
    else:
        raise ValueError(f"unknown generator {net_g!r}: use unet, resnet_9blocks or resnet_6blocks")
    return init_weights(net)


def build_discriminator(in_ch: int, ndf: int, n_layers: int, norm: str) -> nn.Module:
    return init_weights(PatchDiscriminator(in_ch, ndf=ndf, n_layers=n_layers, norm=norm))


# ---------------------------------------------------------------------------------------------------------
# Losses


def gan_loss(pred: torch.Tensor, real: bool, mode: str, for_discriminator: bool = True) -> torch.Tensor:
    """Loss of discriminator logits `pred` against the label real/fake.

    vanilla: BCE with logits; lsgan: least squares to 1/0; hinge: max(0, 1 -+ pred) for the
    discriminator and -pred for the generator (which always asks for `real`).
    """
    pred = pred.float()
    if mode == "vanilla":
        target = torch.ones_like(pred) if real else torch.zeros_like(pred)
        return F.binary_cross_entropy_with_logits(pred, target)
    if mode == "lsgan":
        return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))
    if mode == "hinge":
        if not for_discriminator:
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean()
    raise ValueError(f"unknown gan_mode {mode!r}: use vanilla, lsgan or hinge")


def psnr(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean PSNR (dB) of images in [-1, 1] (peak-to-peak 2)."""
    mse = ((fake.float() - real.float()) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10.0 * torch.log10(4.0 / mse)).mean()
