"""Adversarial losses (vanilla / lsgan / hinge), PSNR, and the image pool of Shrivastava et al. 2017"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F


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


def new_pool(size: int) -> dict:
    """An image pool (plain data, so checkpoints store it as is): {"size": 50, "images": [...]}."""
    return {"size": int(size), "images": []}


def pool_query(pool: dict, images: torch.Tensor) -> torch.Tensor:
    """Past generated images shown to the discriminator (pool of 50 in CycleGAN).

    Until full, every image goes in and comes back out; then each image has a 50% chance of being
    swapped for a random stored one. Uses Python's `random` (saved in checkpoints with the pool).
    """
    size, stored = pool["size"], pool["images"]
    if size == 0:
        return images
    out = []
    for img in images.detach():
        img = img.unsqueeze(0)
        if len(stored) < size:
            stored.append(img.clone())
            out.append(img)
        elif random.random() > 0.5:
            i = random.randrange(size)
            out.append(stored[i].clone())
            stored[i] = img.clone()
        else:
            out.append(img)
    return torch.cat(out, 0)
