"""Pix2Pix (Isola et al. 2017): paired A -> B with a conditional PatchGAN and L1 (lambda 100).

Exported as a `colorize` model (sketch -> colour). Norm defaults to instance norm: at batch size 1
(the paper's setting) batch norm in training mode *is* instance norm, and the paper runs the
generator at test time with test-batch statistics; instance norm gives exactly that in eval mode,
which is how the model is exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .blocks import (
    UPSAMPLE,
    build_discriminator,
    build_image_generator,
    check_size,
    gan_loss,
    init_weights,
    multiple_of,
    psnr,
)
from .checkpoint import load_net
from .colourclass import class_loss
from .config import TrainConfig, opt
from .data import paired_datasets
from .errors import ConfigError
from .kinds import ModelKind, register
from .trainer import frozen


@dataclass
class Pix2PixConfig(TrainConfig):
    """Pix2Pix (Isola et al. 2017): paired A -> B, U-Net generator, conditional PatchGAN."""

    net_g: str = opt(
        "unet",
        "generator: U-Net (depth from --size) or a ResNet with 6 or 9 blocks",
        choices=("unet", "resnet_9blocks", "resnet_6blocks"),
    )
    dropout: bool = opt(True, "dropout in the generator's inner layers (training only)")
    upsample: str = opt(
        "resize",
        "generator upsampling: resize (bilinear x2, then a 3x3 convolution: no checkerboard) or transposed "
        "(the paper's transposed convolutions, which leave a dot grid; for comparison)",
        choices=UPSAMPLE,
    )
    lambda_l1: float = opt(100.0, "weight of the L1 loss to the target image")
    hints: bool = opt(
        False,
        "paint synthetic colour hints onto the inputs (training/hints.py: dabs and strokes in the target's "
        "own colour, inside its regions; none on a fifth of them), so the model learns to fill each region "
        "in the colour an artist dabs into it",
    )
    hint_weight: float = opt(
        0.0,
        "with --hints: extra L1 weight on the pixels whose true colour a hint gives (1 + this), so the model "
        "learns first of all to fill a dabbed region in the dab's colour",
    )
    colour_classes: bool = opt(
        False,
        "U-Net: predict each pixel's colour as a distribution over CIELAB a*b* bins with a class-rebalanced "
        "cross-entropy (Zhang et al. 2016; training/colourclass.py), decoded to RGB in the generator, instead "
        "of regressing it with L1 alone (which averages the plausible colours into beige); the L1 still trains "
        "the lightness and the dabs",
    )
    lambda_cls: float = opt(1.0, "with --colour-classes: weight of the rebalanced colour-class cross-entropy")
    head_only: bool = opt(
        False,
        "with --colour-classes and --init: train the colour-class head alone on the frozen U-Net (its weights "
        "and its RGB output stay the --init model's; no discriminator, no L1: the head's class loss only, so "
        "a step costs a forward of the U-Net and the head's backward)",
    )
    stage: str = opt(
        "colorize",
        "the add-on stage the exported model fills: colorize (sketch -> colour) or stylize (colour -> a "
        "style, learned from pairs, e.g. flat emoji -> their 3D renders)",
        choices=("colorize", "stylize"),
    )

    LEGACY: ClassVar[dict] = {"upsample": "transposed"}


class Pix2Pix(ModelKind):
    name = "pix2pix"
    config_class = Pix2PixConfig
    contract_kind = "colorize"
    auto_bf16 = True  # measured: tools/bench/precision.py
    description = "paired image-to-image (sketch -> colour): U-Net + conditional PatchGAN + L1"
    data_help = (
        "A/ + B/ with matching file names (A = input, e.g. sketch; B = target), or images with input "
        "and target side by side. `nftgan sketchify SRC DST` makes such a folder from any pictures."
    )
    loss_names = ("G_gan", "G_l1", "G_cls", "D")  # G_cls: with --colour-classes (blank without)
    val_names = ("val_l1", "val_psnr")
    loss_groups = (
        ("adversarial: G vs D", ("G_gan", "D")),
        ("L1 to the target (training)", ("G_l1",)),
        ("colour-class cross-entropy, rebalanced (--colour-classes)", ("G_cls",)),
        ("validation L1 (held out)", ("val_l1",)),
        ("validation PSNR, dB", ("val_psnr",)),
    )

    def check_config(self, cfg):
        check_size(cfg.net_g, cfg.size)
        if cfg.colour_classes and cfg.net_g != "unet":
            raise ConfigError(
                "--colour-classes needs --net-g unet (its head sits on the U-Net's outer level)"
            )
        if cfg.head_only and not cfg.colour_classes:
            raise ConfigError("--head-only trains the colour-class head: pass --colour-classes too")

    def needs_init(self, cfg):
        if cfg.head_only:
            return (
                "--head-only trains the colour-class head on a frozen U-Net: start it from a trained one with "
                "--init FILE (e.g. --init addon/models/colorize-flat.onnx)"
            )
        return ""

    def stage(self, cfg):
        if cfg.head_only:
            return (
                "colour-class head only: the U-Net frozen (its weights and RGB output the --init model's), "
                "the head trained on its rebalanced cross-entropy alone (no discriminator, no L1)"
            )
        return ""

    def _generator(self, cfg, bins=None):
        """The run's generator; with --colour-classes its bins and weights are the data's (`bins`: given)."""
        if not cfg.colour_classes:
            return build_image_generator(
                cfg.net_g, cfg.size, cfg.ngf, cfg.norm, cfg.dropout, upsample=cfg.upsample
            )
        from .colourclass import ColourClassUnet, colour_bins

        check_size(cfg.net_g, cfg.size)
        if bins is None:
            train_ds = paired_datasets(cfg)[0]
            bins = colour_bins(tuple(train_ds.b))
        net = ColourClassUnet(
            *bins, ngf=cfg.ngf, size=cfg.size, norm=cfg.norm, dropout=cfg.dropout, upsample=cfg.upsample
        )
        init_weights(net.model)
        if cfg.head_only:  # the trunk is not trained (the trainer's optimizer takes the head alone)
            net.model.requires_grad_(False)
        return net

    def build_nets(self, cfg, bins=None):
        if cfg.head_only:  # no discriminator: the trunk does not change, the head learns from its class loss
            return {"G": self._generator(cfg, bins)}
        return {
            "G": self._generator(cfg, bins),
            "D": build_discriminator(6, cfg.ndf, cfg.n_layers_d, cfg.norm),
        }

    def build_nets_for(self, cfg, states):
        """With --colour-classes, the bins and weights of the generator state that will replace the built one
        (a resumed checkpoint's, or an --init file's that has them): the data's are not counted again."""
        return self.build_nets(cfg, stored_bins(cfg, states.get("G")))

    def optimizer_groups(self, cfg):
        return {"G": ("G",)} if cfg.head_only else {"G": ("G",), "D": ("D",)}

    def datasets(self, cfg):
        return paired_datasets(cfg)

    def train_step(self, run, batch):
        if run.cfg.head_only:
            return self._head_step(run, batch)
        cfg, real_a, real_b = run.cfg, batch["A"], batch["B"]
        opt_g, opt_d = run.opt["G"], run.opt["D"]
        colour = cfg.colour_classes
        with run.autocast():
            if colour:  # the U-Net's RGB (L1: lightness, dabs), the class logits, and the decoded output
                rgb, logits = run.nets["G"](real_a, parts=True)  # (through DDP's forward when wrapped)
                # the detached head: the adversarial gradient reaches the U-Net (the output's lightness), not
                # the head, which learns from the class loss alone (its colours are its cross-entropy's)
                fake_b = run.raw["G"].decode(rgb, logits.detach())
            else:
                fake_b = run.nets["G"](real_a)
            # discriminator: real pairs vs generated pairs, one forward over both
            pairs = torch.cat(
                [
                    torch.cat([real_a, fake_b.detach()], 1),
                    torch.cat([real_a, real_b], 1),
                ],
                0,
            )
            pred_fake, pred_real = run.nets["D"](pairs).chunk(2)
            loss_d = 0.5 * (
                gan_loss(pred_fake, False, cfg.gan_mode) + gan_loss(pred_real, True, cfg.gan_mode)
            )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator: fool the updated discriminator (frozen: no weight gradients) + L1 to the target
        with frozen(run, ("D",)), run.autocast():
            pred = run.raw["D"](torch.cat([real_a, fake_b], 1))
            loss_gan = gan_loss(pred, True, cfg.gan_mode, for_discriminator=False)
            error = ((rgb if colour else fake_b).float() - real_b.float()).abs()
            loss_l1 = error.mean()
            hinted = cfg.hint_weight and "W" in batch
            pixel_weight = 1 + cfg.hint_weight * batch["W"] if hinted else None
            if hinted:  # the regions the hints give, weighted up
                loss_g = loss_gan + cfg.lambda_l1 * (error * pixel_weight).mean()
            else:
                loss_g = loss_gan + cfg.lambda_l1 * loss_l1
            if colour:
                loss_cls = class_loss(logits, real_b, run.raw["G"], pixel_weight)
                loss_g = loss_g + cfg.lambda_cls * loss_cls
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        out = {
            "G_gan": loss_gan.detach(),
            "G_l1": loss_l1.detach(),
            "D": loss_d.detach(),
        }
        if colour:
            out["G_cls"] = loss_cls.detach()
        return out

    def _head_step(self, run, batch):
        """--head-only: the class loss of the head on the frozen U-Net's features (run as exported: eval mode,
        no dropout; no gradient through it)."""
        cfg, real_a, real_b = run.cfg, batch["A"], batch["B"]
        g = run.raw["G"]
        g.model.eval()  # (the trainer puts the nets back in training mode after validating)
        with run.autocast():  # (through DDP's forward when wrapped; the frozen trunk records no graph)
            _, logits = run.nets["G"](real_a, parts=True)
            hinted = cfg.hint_weight and "W" in batch
            pixel_weight = 1 + cfg.hint_weight * batch["W"] if hinted else None
            loss_cls = class_loss(logits, real_b, g, pixel_weight)
        run.opt["G"].zero_grad(set_to_none=True)
        (cfg.lambda_cls * loss_cls).backward()
        run.opt["G"].step()
        return {"G_cls": loss_cls.detach()}

    def _translate(self, run, batch):
        with run.autocast():
            return run.raw["G"](batch["A"]).float()

    def validate(self, run, batch):
        fake = self._translate(run, batch)
        return {
            "val_l1": float(F.l1_loss(fake, batch["B"].float())),
            "val_psnr": float(psnr(fake, batch["B"])),
        }

    def sample_rows(self, run, batch):
        fake = self._translate(run, batch)
        return ["input", "output", "target"], [[a, f, b] for a, f, b in zip(batch["A"], fake, batch["B"])]

    def generator_settings(self, cfg):
        return ("net_g", "ngf", "norm", "upsample", *(("size",) if cfg.net_g == "unet" else ()))

    def exported_kind(self, cfg):
        return cfg.stage

    def generator(self, cfg, nets, direction):
        if direction not in (None, "AtoB"):
            raise ConfigError(f"a pix2pix model translates A to B only (direction {direction!r} asked)")
        bins = stored_bins(cfg, nets["G"])
        if cfg.colour_classes and bins is None:
            raise ConfigError("a --colour-classes run's generator without its colour bins: not this run's")
        net = self._generator(cfg, bins)  # the run's own bins and weights (their values load with the rest)
        extra = {"multiple_of": multiple_of(cfg.net_g, cfg.size), "kind": cfg.stage}
        return load_net(net, nets["G"], "generator"), extra


def stored_bins(cfg, state: dict | None):
    """(colour bins, weights) a --colour-classes generator state holds (None: not such a run, or a state
    without them, e.g. a plain U-Net's)."""
    if not cfg.colour_classes or not state:
        return None
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if "colour_bins" not in state or "colour_weights" not in state:
        return None
    return tuple(np.asarray(state[k].detach().cpu(), np.float32) for k in ("colour_bins", "colour_weights"))


register(Pix2Pix())
