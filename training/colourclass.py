"""Colour classes for pix2pix colorize (`--colour-classes`): Zhang et al. 2016, "Colorful Image Colorization".

An L1 regression to the target's colour learns the mean of the colours a sketch could have, and for most
shapes that mean is a muddy beige (issue 11: the shipped colorize model painted every sketch the same
beige-orange). The paper instead predicts, per pixel, a distribution over quantised CIELAB a*b* bins with a
class-rebalanced cross-entropy, and decodes it with the annealed mean (softmax(logits / T), T = 0.38), which
keeps the colours vivid without the noise of the mode. Here:

- `ColourClassUnet`: the run's U-Net plus a colour-class head on the features the outermost level's inner
  part returns (2 * ngf channels at half resolution: ReLU -> 3x3 conv to HEAD_CHANNELS -> ReLU -> 1x1 conv
  to Q logits). Its forward returns RGB in [-1, 1] like every generator (the export contract is unchanged):
  CIELAB with L* from the U-Net's own RGB output (which keeps learning the lines, the lightness and the dabs
  through L1) and a*b* from the head (annealed mean at half resolution, bilinear x2), converted to sRGB.
  The decode is plain tensor arithmetic (Softmax, Mul, ReduceSum, Where, Pow, Resize): it exports to ONNX.
- `colour_bins(paths)`: the a*b* bins (grid step GRID) that occur in the training targets, with the
  rebalancing weights w ~ 1 / ((1 - LAMBDA) p + LAMBDA / Q), p the bins' empirical distribution smoothed
  by a Gaussian (SIGMA in a*b*), normalised so that E_p[w] = 1. Unlike the paper (photos), the near-achromatic
  bins (white paper, greys, black lines: chroma under PAPER_CHROMA) are kept out of the rebalancing: they
  weigh 1 and p and Q are the coloured bins' (rebalanced with the rest, the white background weighed 0.04
  and was painted mint green). The bins, the weights and T are buffers of the generator: saved in every
  checkpoint, resumed exactly (not counted again), and the bins and T are constants of the export.
- `soft_encode` / `class_loss`: each target pixel (at the head's resolution) as a Gaussian (SIGMA) over its
  NEIGHBOURS nearest bins; cross-entropy weighted by the weight of the pixel's nearest bin.
- The head is detached from the adversarial loss (pix2pix's train_step decodes what the discriminator judges
  from the logits detached): the head learns from the class loss alone, the U-Net from L1 and the
  discriminator; so what colours the head paints is its own cross-entropy's doing, not the discriminator's.

The sRGB / CIELAB (D65) conversions are the add-on's (addon/core/colour.py), in torch.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from nftgan.core import colour
from torch import nn

from .blocks import UnetGenerator, init_weights

GRID = 10.0  # a*b* bin step (the paper's)
SIGMA = 5.0  # Gaussian of the prior smoothing and of the soft encoding, in a*b* units (the paper's)
LAMBDA = 0.5  # the rebalancing's mix of the prior and the uniform distribution (the paper's)
TEMPERATURE = 0.38  # the annealed mean's temperature (the paper's)
NEIGHBOURS = 5  # bins each target pixel is soft-encoded to (the paper's)
RGB_SIGMA = 10.0  # the Gaussian around the U-Net's own a*b* that the head's logits correct (`parts`)
HEAD_CHANNELS = 32  # the head's hidden width (0.29 GMACs at 256 px with ~260 bins)
PAPER_CHROMA = 15.0  # bins nearer a*b* = 0 than this (the 3 x 3 round grey) are paper: not rebalanced
PRIOR_SIDE = 128  # the targets are counted at the head's resolution for a 256 px run

# sRGB (D65) <-> XYZ relative to the white, and CIELAB's f: the add-on's constants (addon/core/colour.py)
TO_XYZ = colour.TO_XYZ.tolist()
FROM_XYZ = colour.FROM_XYZ.tolist()
EPS, SLOPE = colour.EPS, colour.SLOPE


def _mat3(m, c: torch.Tensor) -> torch.Tensor:
    """A 3 x 3 matrix (nested lists) applied to the channels of (N, 3, H, W), as multiply-adds."""
    r, g, b = c[:, 0:1], c[:, 1:2], c[:, 2:3]
    return torch.cat([r * m[i][0] + g * m[i][1] + b * m[i][2] for i in range(3)], 1)


def srgb_decode(s: torch.Tensor) -> torch.Tensor:
    return torch.where(s <= 0.04045, s / 12.92, ((s.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def srgb_encode(lin: torch.Tensor) -> torch.Tensor:
    return torch.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def lab_f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t <= EPS, t * SLOPE + 4 / 29, t.clamp_min(EPS) ** (1 / 3))


def lab_f_inv(v: torch.Tensor) -> torch.Tensor:
    return torch.where(v <= 6 / 29, (v - 4 / 29) / SLOPE, v**3)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIELAB (N, 3, H, W) of sRGB in [0, 1] (N, 3, H, W)."""
    fx, fy, fz = lab_f(_mat3(TO_XYZ, srgb_decode(rgb))).split(1, 1)
    return torch.cat([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def f_to_rgb(fy: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (clipped to the gamut) of f(Y/Yn) (N, 1, H, W) and a*b* (N, 2, H, W)."""
    fs = torch.cat([fy + ab[:, 0:1] / 500, fy, fy - ab[:, 1:2] / 200], 1)
    return srgb_encode(_mat3(FROM_XYZ, lab_f_inv(fs)).clamp(0.0, 1.0))


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (clipped to the gamut) of CIELAB (N, 3, H, W)."""
    return f_to_rgb((lab[:, 0:1] + 16) / 116, lab[:, 1:3])


# ---------------------------------------------------------------------------------------------------------
# The bins and their rebalancing weights


def _grid_index(ab: np.ndarray, lo: float, n: int) -> np.ndarray:
    return np.clip(np.rint((ab - lo) / GRID).astype(np.int64), 0, n - 1)


def paper_bins(centres: np.ndarray) -> np.ndarray:
    """(Q,) bool: the near-achromatic bins (a*b* chroma under PAPER_CHROMA: white paper, greys, black lines)."""
    return np.hypot(centres[:, 0], centres[:, 1]) < PAPER_CHROMA


def bins_from_histogram(hist: np.ndarray, lo: float) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres (Q, 2) a*b*, weights (Q,)) from pixel counts on the a*b* grid (hist[i, j]: a = lo + i
    GRID, b = lo + j GRID): the bins that occur; the rebalancing weights of the smoothed distribution of the
    coloured pixels, with the near-achromatic (`paper_bins`) kept out of the rebalancing at weight 1, the mean
    weight of a coloured pixel (rebalanced with the rest, the white background, most of every picture, weighed
    0.04: the head was free to paint it any colour, and painted it mint)."""
    occur = np.argwhere(hist > 0)
    centres = (lo + occur * GRID).astype(np.float32)
    w = np.ones(len(centres))
    colour = ~paper_bins(centres)
    if colour.any():
        c = centres[colour]
        p = hist[occur[colour, 0], occur[colour, 1]]
        p = p / p.sum()
        # Gaussian smoothing (SIGMA in a*b* units) of the distribution, evaluated at the occurring bins
        d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        ps = (np.exp(-d2 / (2 * SIGMA**2)) * p[None, :]).sum(1)
        ps /= ps.sum()
        wc = 1.0 / ((1 - LAMBDA) * ps + LAMBDA / len(c))
        w[colour] = wc / (ps * wc).sum()  # E_p[w] = 1 over the coloured pixels
    return centres, w.astype(np.float32)


@functools.lru_cache(maxsize=4)
def colour_bins(paths: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The bins and weights of the target pictures `paths` (each counted at PRIOR_SIDE px; a few seconds per
    thousand pictures; cached per process)."""
    from .data import load_rgb

    lo, n = -130.0, 27  # a*b* of sRGB lie within [-128, 128]
    hist = np.zeros((n, n), np.float64)
    for path in paths:
        img = load_rgb(path).resize((PRIOR_SIDE, PRIOR_SIDE), resample=2)  # bilinear
        rgb = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
        ab = rgb_to_lab(rgb)[0, 1:].reshape(2, -1).numpy().T
        idx = _grid_index(ab, lo, n)
        np.add.at(hist, (idx[:, 0], idx[:, 1]), 1)
    if not hist.any():
        raise ValueError("no target pictures to count the colour classes of")
    return bins_from_histogram(hist, lo)


# ---------------------------------------------------------------------------------------------------------
# The generator


class ColourClassUnet(UnetGenerator):
    """`UnetGenerator` plus a colour-class head; its parameters keep the U-Net's names (a plain U-Net's
    weights load into it: the head's `colour_head.*` and the `colour_*` buffers are the new ones)."""

    NEW = ("colour_head.", "colour_bins", "colour_weights", "colour_temperature", "colour_rgb_sigma")

    def __init__(self, bins: np.ndarray, weights: np.ndarray, ngf: int = 64, temperature=TEMPERATURE, **kw):
        super().__init__(ngf=ngf, **kw)
        ch = 2 * ngf  # what the outermost level's inner part returns (at half resolution)
        q = len(bins)
        self.colour_head = init_weights(
            nn.Sequential(
                nn.Conv2d(ch, HEAD_CHANNELS, 3, 1, 1),
                nn.ReLU(True),
                nn.Conv2d(HEAD_CHANNELS, q, 1),
            )
        )
        self.register_buffer(
            "colour_bins", torch.as_tensor(np.asarray(bins), dtype=torch.float32).reshape(q, 2)
        )
        self.register_buffer("colour_weights", torch.as_tensor(np.asarray(weights), dtype=torch.float32))
        self.register_buffer("colour_temperature", torch.tensor(float(temperature)))
        self.register_buffer("colour_rgb_sigma", torch.tensor(RGB_SIGMA))
        # the head's logits are a correction to the U-Net's own colour (see `parts`): it starts at none
        nn.init.zeros_(self.colour_head[2].weight)
        nn.init.zeros_(self.colour_head[2].bias)

    def own_colour(self, rgb: torch.Tensor, size) -> tuple[torch.Tensor, torch.Tensor]:
        """(a*b* (N, 2, h, w) of the U-Net's RGB, average-pooled to the logits' `size` and not differentiated
        through; the logits of a Gaussian (colour_rgb_sigma in a*b*) around it over the bins (N, Q, h, w))."""
        own = F.adaptive_avg_pool2d(rgb.detach().float() * 0.5 + 0.5, size).clamp(0.0, 1.0)
        ab = rgb_to_lab(own)[:, 1:]
        q = self.colour_bins.shape[0]
        d2 = (ab[:, 0:1] - self.colour_bins[:, 0].reshape(1, q, 1, 1)) ** 2 + (
            ab[:, 1:2] - self.colour_bins[:, 1].reshape(1, q, 1, 1)
        ) ** 2
        return ab, -d2 / (2 * self.colour_rgb_sigma**2)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the U-Net's RGB output in [-1, 1], the colour-class logits at half resolution). The logits are the
        head's plus `own_colour`'s Gaussian around the U-Net's own a*b*: the head learns a correction to the
        colour the U-Net already gives, so a fine-tune from a plain U-Net starts from its output (its dabs
        followed, its white background white) instead of from the mean of all the bins."""
        m = self.model.model  # down, sub, ReLU, up, Tanh
        feat = m[2](m[1](m[0](x)))  # (the in-place ReLU: the head starts with it too)
        rgb = m[4](m[3](feat))
        logits = self.colour_head(feat).float()
        return rgb, logits + self.own_colour(rgb, logits.shape[-2:])[1]

    def annealed_mean(self, logits: torch.Tensor) -> torch.Tensor:
        """a*b* (N, 2, h, w): the mean of the bins under softmax(logits / T)."""
        p = torch.softmax(logits / self.colour_temperature, 1)
        q = self.colour_bins.shape[0]
        a = (p * self.colour_bins[:, 0].reshape(1, q, 1, 1)).sum(1, keepdim=True)
        b = (p * self.colour_bins[:, 1].reshape(1, q, 1, 1)).sum(1, keepdim=True)
        return torch.cat([a, b], 1)

    def decode(self, rgb: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """RGB in [-1, 1]: L* of `rgb`; a*b* the U-Net's own plus what the head's correction moves the
        annealed mean by (the annealed mean of `logits` less that of the Gaussian alone, which the bins' grid
        and the gamut's edge pull off the U-Net's colour by a few units: a cream tint on white), x2 bilinear."""
        rgb, logits = rgb.float(), logits.float()
        own, prior = self.own_colour(rgb, logits.shape[-2:])
        ab = own + self.annealed_mean(logits) - self.annealed_mean(prior)
        ab = F.interpolate(ab, scale_factor=2.0, mode="bilinear", align_corners=False)
        s = (rgb * 0.5 + 0.5).clamp(0.0, 1.0)
        lin = srgb_decode(s)
        y = lin[:, 0:1] * TO_XYZ[1][0] + lin[:, 1:2] * TO_XYZ[1][1] + lin[:, 2:3] * TO_XYZ[1][2]
        return f_to_rgb(lab_f(y), ab) * 2 - 1

    def forward(self, x, parts: bool = False):
        """RGB in [-1, 1]; with `parts` (training) the U-Net's RGB and the logits instead (`parts`)."""
        return self.parts(x) if parts else self.decode(*self.parts(x))


def soft_encode(ab: torch.Tensor, bins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Gaussian soft encoding (N, Q, H, W) of a*b* (N, 2, H, W) over its NEIGHBOURS nearest bins, the
    index (N, H, W) of the nearest bin)."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    d2 = torch.cdist(flat, bins) ** 2  # (P, Q)
    k = min(NEIGHBOURS, bins.shape[0])
    near, idx = d2.topk(k, 1, largest=False)
    g = torch.exp(-near / (2 * SIGMA**2))
    g = g / g.sum(1, keepdim=True)
    z = torch.zeros_like(d2).scatter_(1, idx, g)
    return z.reshape(n, h, w, -1).permute(0, 3, 1, 2), idx[:, 0].reshape(n, h, w)


def class_loss(
    logits: torch.Tensor, target: torch.Tensor, net: ColourClassUnet, pixel_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The class-rebalanced cross-entropy of the logits (N, Q, h, w) to the target picture (N, 3, H, W) in
    [-1, 1] (average-pooled to the logits' size); `pixel_weight` (N, 1, H, W): extra per-pixel weights."""
    logits = logits.float()
    size = logits.shape[-2:]
    t = F.adaptive_avg_pool2d(target.float() * 0.5 + 0.5, size).clamp(0.0, 1.0)
    with torch.no_grad():
        z, nearest = soft_encode(rgb_to_lab(t)[:, 1:], net.colour_bins)
        v = net.colour_weights[nearest]  # (N, h, w)
        if pixel_weight is not None:
            v = v * F.adaptive_avg_pool2d(pixel_weight.float(), size)[:, 0]
    ce = -(z * F.log_softmax(logits, 1)).sum(1)
    return (v * ce).mean()
