"""CycleGAN (Zhu et al. 2017): unpaired A <-> B with cycle (lambda 10) and identity (0.5) losses.

Nets: G_A (A -> B), G_B (B -> A), D_A (real B vs G_A's output), D_B (real A vs G_B's output);
image pools of 50 past fakes per discriminator (Shrivastava et al. 2017); LSGAN by default. Exported
as a `stylize` model, direction AtoB (G_A, default) or BtoA (G_B).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .blocks import UPSAMPLE, build_discriminator, build_image_generator, check_size, gan_loss, multiple_of
from .checkpoint import load_net
from .config import TrainConfig, opt
from .data import unpaired_datasets
from .errors import ConfigError
from .kinds import ModelKind, register
from .trainer import frozen


@dataclass
class CycleGANConfig(TrainConfig):
    """CycleGAN (Zhu et al. 2017): unpaired A <-> B, two ResNet generators, two PatchGANs."""

    net_g: str = opt(
        "resnet_9blocks",
        "generator: a ResNet with 9 or 6 blocks, or a U-Net",
        choices=("resnet_9blocks", "resnet_6blocks", "unet"),
    )
    dropout: bool = opt(False, "dropout in the generators' inner layers (training only)")
    upsample: str = opt(
        "resize",
        "generator upsampling: resize (bilinear x2, then a 3x3 convolution: no checkerboard) or transposed "
        "(the papers' transposed convolutions, which leave a dot grid; for comparison)",
        choices=UPSAMPLE,
    )
    gan_mode: str = opt("lsgan", "adversarial loss", choices=("vanilla", "lsgan", "hinge"))
    lambda_cycle: float = opt(10.0, "weight of the cycle-consistency loss A->B->A and B->A->B")
    lambda_identity: float = opt(0.5, "weight of the identity loss, relative to --lambda-cycle (0: off)")
    pool_size: int = opt(50, "image pool of past generated images shown to the discriminators (0: off)")

    LEGACY: ClassVar[dict] = {"upsample": "transposed"}


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


class CycleGAN(ModelKind):
    name = "cyclegan"
    config_class = CycleGANConfig
    contract_kind = "stylize"
    generator_nets = ("G_A", "G_B")
    auto_bf16 = True  # measured: tools/bench/precision.py
    description = "unpaired style transfer (photo <-> painting): two ResNet generators, cycle consistency"
    data_help = (
        "trainA/ and trainB/ with images of the two styles (any number, no pairing needed); A/ + B/ "
        "folders work too, their pairing is ignored."
    )
    loss_names = ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")
    loss_groups = (
        ("adversarial: generators", ("G_A", "G_B")),
        ("adversarial: discriminators", ("D_A", "D_B")),
        ("cycle consistency", ("cycle_A", "cycle_B")),
        ("identity", ("idt_A", "idt_B")),
    )

    def check_config(self, cfg):
        check_size(cfg.net_g, cfg.size)

    def _g(self, cfg):
        return build_image_generator(
            cfg.net_g, cfg.size, cfg.ngf, cfg.norm, cfg.dropout, upsample=cfg.upsample
        )

    def build_nets(self, cfg):
        return {
            "G_A": self._g(cfg),
            "G_B": self._g(cfg),
            "D_A": build_discriminator(3, cfg.ndf, cfg.n_layers_d, cfg.norm),
            "D_B": build_discriminator(3, cfg.ndf, cfg.n_layers_d, cfg.norm),
        }

    def optimizer_groups(self, cfg):
        return {"G": ("G_A", "G_B"), "D": ("D_A", "D_B")}

    def datasets(self, cfg):
        return unpaired_datasets(cfg)

    def new_state(self, cfg, device):
        return {"fake_A": new_pool(cfg.pool_size), "fake_B": new_pool(cfg.pool_size)}

    def train_step(self, run, batch):
        cfg, nets, real_a, real_b = run.cfg, run.nets, batch["A"], batch["B"]
        mode, lam_c, lam_i = (
            cfg.gan_mode,
            cfg.lambda_cycle,
            cfg.lambda_cycle * cfg.lambda_identity,
        )
        n = real_a.shape[0]
        # generators (discriminators frozen). With the identity loss on, each generator runs once on
        # [its domain ; the other domain]: the translation and the identity mapping in one pass.
        with frozen(run, ("D_A", "D_B")), run.autocast():
            if lam_i > 0:
                fake_b, idt_a = nets["G_A"](torch.cat([real_a, real_b], 0)).split(n)
                fake_a, idt_b = nets["G_B"](torch.cat([real_b, real_a], 0)).split(n)
                loss_idt_a = F.l1_loss(idt_a.float(), real_b.float()) * lam_i
                loss_idt_b = F.l1_loss(idt_b.float(), real_a.float()) * lam_i
            else:
                fake_b, fake_a = nets["G_A"](real_a), nets["G_B"](real_b)
                loss_idt_a = loss_idt_b = torch.zeros((), device=real_a.device)
            rec_a, rec_b = nets["G_B"](fake_b), nets["G_A"](fake_a)
            loss_g_a = gan_loss(run.raw["D_A"](fake_b), True, mode, for_discriminator=False)
            loss_g_b = gan_loss(run.raw["D_B"](fake_a), True, mode, for_discriminator=False)
            loss_cyc_a = F.l1_loss(rec_a.float(), real_a.float()) * lam_c
            loss_cyc_b = F.l1_loss(rec_b.float(), real_b.float()) * lam_c
            loss_g = loss_g_a + loss_g_b + loss_cyc_a + loss_cyc_b + loss_idt_a + loss_idt_b
        run.opt["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        run.opt["G"].step()
        # discriminators: real vs a pooled past fake, one forward each over both
        with run.autocast():
            losses_d = []
            for d, real, fake in (
                ("D_A", real_b, pool_query(run.state["fake_B"], fake_b)),
                ("D_B", real_a, pool_query(run.state["fake_A"], fake_a)),
            ):
                pred_real, pred_fake = nets[d](torch.cat([real, fake.detach()], 0)).chunk(2)
                losses_d.append(0.5 * (gan_loss(pred_real, True, mode) + gan_loss(pred_fake, False, mode)))
        run.opt["D"].zero_grad(set_to_none=True)
        (losses_d[0] + losses_d[1]).backward()
        run.opt["D"].step()
        out = {
            "G_A": loss_g_a,
            "G_B": loss_g_b,
            "cycle_A": loss_cyc_a,
            "cycle_B": loss_cyc_b,
            "idt_A": loss_idt_a,
            "idt_B": loss_idt_b,
            "D_A": losses_d[0],
            "D_B": losses_d[1],
        }
        return {k: v.detach() for k, v in out.items()}

    def sample_rows(self, run, batch):
        with run.autocast():
            fake_b = run.raw["G_A"](batch["A"])
            rec_a = run.raw["G_B"](fake_b)
            fake_a = run.raw["G_B"](batch["B"])
            rec_b = run.raw["G_A"](fake_a)
        cols = zip(batch["A"], fake_b, rec_a, batch["B"], fake_a, rec_b)
        return ["A", "A->B", "A->B->A", "B", "B->A", "B->A->B"], [[t.float() for t in c] for c in cols]

    def generator_settings(self, cfg):
        return ("net_g", "ngf", "norm", "upsample", *(("size",) if cfg.net_g == "unet" else ()))

    def generator(self, cfg, nets, direction):
        direction = direction or "AtoB"
        if direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"direction must be AtoB or BtoA, not {direction!r}")
        name = "G_A" if direction == "AtoB" else "G_B"
        return load_net(self._g(cfg), nets[name], name), {"multiple_of": multiple_of(cfg.net_g, cfg.size)}


register(CycleGAN())
