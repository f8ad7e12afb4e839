"""Network shapes at every size, parameter counts equal to the papers' reference networks, losses, LR schedule."""

from __future__ import annotations

import random

import pytest
import torch
from nftgan.training.blocks import (
    build_discriminator,
    build_image_generator,
    check_size,
    gan_loss,
    multiple_of,
    psnr,
)
from nftgan.training.cyclegan import new_pool, pool_query
from nftgan.training.pix2pix import Pix2PixConfig
from nftgan.training.trainer import lr_factor


def n_params(net) -> float:
    return round(sum(p.numel() for p in net.parameters()) / 1e6, 3)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_unet_shapes_at_each_size(size):
    g = build_image_generator("unet", size, ngf=4, norm="instance", dropout=True).eval()
    with torch.no_grad():
        y = g(torch.rand(1, 3, size, size) * 2 - 1)
    assert y.shape == (1, 3, size, size)
    assert y.min() >= -1 and y.max() <= 1
    assert multiple_of("unet", size) == size  # bottleneck is 1x1: log2(size) levels


@pytest.mark.parametrize("net_g", ["resnet_9blocks", "resnet_6blocks"])
@pytest.mark.parametrize("hw", [(32, 32), (64, 48), (36, 100)])
def test_resnet_shapes_any_multiple_of_4(net_g, hw):
    g = build_image_generator(net_g, 32, ngf=4, norm="instance", dropout=False).eval()
    with torch.no_grad():
        y = g(torch.zeros(2, 3, *hw))
    assert y.shape == (2, 3, *hw)


@pytest.mark.parametrize("n_layers,size,expect", [(3, 256, 30), (3, 64, 6), (2, 64, 14), (1, 32, 14)])
def test_patchgan_output_grid(n_layers, size, expect):
    d = build_discriminator(6, ndf=4, n_layers=n_layers, norm="batch").eval()
    with torch.no_grad():
        assert d(torch.zeros(1, 6, size, size)).shape == (1, 1, expect, expect)


def test_parameter_counts_match_the_reference_networks():
    # The counts the reference implementation prints (pytorch-CycleGAN-and-pix2pix): unet_256 + basic D
    # (batch norm, pix2pix) and resnet_9blocks + basic D (instance norm, CycleGAN).
    assert n_params(build_image_generator("unet", 256, 64, "batch", True)) == 54.414
    assert n_params(build_image_generator("unet", 128, 64, "batch", True)) == 41.829
    assert n_params(build_discriminator(6, 64, 3, "batch")) == 2.769
    assert n_params(build_image_generator("resnet_9blocks", 256, 64, "instance", False)) == 11.378
    assert n_params(build_image_generator("resnet_6blocks", 256, 64, "instance", False)) == 7.838
    assert n_params(build_discriminator(3, 64, 3, "instance")) == 2.765


def test_init_is_normal_002():
    g = build_image_generator("resnet_6blocks", 32, 16, "batch", False)
    convs = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(convs.std().item() - 0.02) < 0.002 and abs(convs.mean().item()) < 0.002
    bn = torch.cat([m.weight for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01


@pytest.mark.parametrize(
    "net_g,size,fragment",
    [("unet", 200, "power of two"), ("unet", 16, "power of two"), ("resnet_9blocks", 30, "multiple of 4")],
)
def test_sizes_the_network_cannot_take_are_explained(net_g, size, fragment):
    with pytest.raises(ValueError, match=fragment):
        check_size(net_g, size)


def test_gan_losses():
    pos, neg = torch.full((2, 1, 3, 3), 3.0), torch.full((2, 1, 3, 3), -3.0)
    assert gan_loss(pos, True, "vanilla") < 0.05 < gan_loss(pos, False, "vanilla")
    assert gan_loss(torch.ones(4), True, "lsgan") == 0 and gan_loss(torch.ones(4), False, "lsgan") == 1
    assert gan_loss(pos, True, "hinge") == 0 and gan_loss(neg, True, "hinge") == 4
    assert gan_loss(neg, False, "hinge") == 0 and gan_loss(pos, False, "hinge") == 4
    assert gan_loss(pos, True, "hinge", for_discriminator=False) == -3
    with pytest.raises(ValueError, match="unknown gan_mode"):
        gan_loss(pos, True, "wasserstein")


def test_psnr():
    a = torch.zeros(1, 3, 8, 8)
    assert torch.isclose(psnr(a + 0.2, a), torch.tensor(20.0))  # mse 0.04, peak-to-peak 2 -> 10 log10(4/0.04)


def test_image_pool_fills_then_swaps_half():
    random.seed(0)
    pool = new_pool(3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool_query(pool, first), first) and len(pool["images"]) == 3
    out = torch.cat([pool_query(pool, torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(200)])
    from_pool = (out < 10).sum().item() + sum(
        1 for i, v in enumerate(out.flatten()) if v >= 10 and v != 10 + i
    )
    assert 60 < from_pool < 140  # ~50% come from the pool
    assert pool_query(new_pool(0), first) is first


def test_lr_constant_then_linear_to_zero():
    f = lr_factor(Pix2PixConfig(steps=100, decay_from=0.5))
    assert [f(s) for s in (0, 50, 75, 100)] == [1.0, 1.0, 0.5, 0.0]


def _phase_spread(y: torch.Tensor, period: int = 4, border: int = 12) -> float:
    """Spread over pixel phases (y mod 4, x mod 4) of the mean high-pass residual (the output minus its 3x3
    blur: smooth shading cancels, a grid does not), away from the borders."""
    y = y.mean(1, keepdim=True)
    y = (y - torch.nn.functional.avg_pool2d(y, 3, 1, 1))[0, 0, border:-border, border:-border]
    h, w = (y.shape[0] // period) * period, (y.shape[1] // period) * period
    return float(y[:h, :w].reshape(h // period, period, w // period, period).mean((0, 2)).std())


@pytest.mark.parametrize("net_g", ["unet", "resnet_6blocks"])
def test_resize_upsampling_draws_no_checkerboard_where_transposed_convolutions_do(net_g):
    """On a flat grey picture every output pixel of a resize-convolution generator is made alike, so the
    output is flat away from the borders; transposed convolutions overlap unevenly and draw a grid."""
    spread = {}
    for mode in ("resize", "transposed"):
        torch.manual_seed(0)
        g = build_image_generator(net_g, 64, 8, "instance", False, upsample=mode).eval()
        with torch.no_grad():
            spread[mode] = _phase_spread(g(torch.full((1, 3, 64, 64), 0.2)))
    assert spread["resize"] < spread["transposed"] / 10, spread


def test_upsampling_defaults_to_resize_for_new_runs_and_transposed_for_older_ones():
    from nftgan.training.cyclegan import CycleGANConfig

    for cls in (Pix2PixConfig, CycleGANConfig):
        assert cls().upsample == "resize"
        stored = cls(upsample="transposed").to_dict()
        del stored["upsample"]  # a run made before the setting existed
        assert cls.from_dict(stored).upsample == "transposed"
        assert cls.from_dict({**stored, "upsample": "resize"}).upsample == "resize"
    with pytest.raises(ValueError, match="unknown upsampling"):
        build_image_generator("unet", 32, 4, "instance", False, upsample="pixelshuffle")
