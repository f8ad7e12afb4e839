"""Unconditional GANs for NFT collections: DCGAN (Radford et al. 2016) and WGAN-GP (Gulrajani et al. 2017).

Both share one generator: z (N, latent) ~ N(0, 1) -> [-1, 1] RGB NCHW of side `size` (32, 64 or 128),
built from stride-2 transposed convolutions with BatchNorm and ReLU and a tanh output. The discriminator
mirrors it with stride-2 convolutions and LeakyReLU 0.2; DCGAN's uses BatchNorm, the WGAN-GP critic uses
layer norm (GroupNorm with one group: per-sample statistics over C, H, W) or none, because the gradient
penalty is defined per sample and BatchNorm couples the samples of a batch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from nftgan.core.files import os_error_message
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from .blocks import init_weights
from .checkpoint import load_net
from .config import TrainConfig, opt
from .data import IMAGE_EXTS, DataError, Layout, in_subfolders, list_images, load_rgb, subfolder_notes
from .errors import ConfigError
from .kinds import ModelKind, register
from .trainer import frozen

SIZES = (32, 64, 128)
CRITIC_NORMS = ("layer", "none")


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise ConfigError(f"image size {size} is not supported; choose one of {', '.join(map(str, SIZES))}.")


def _widths(size: int, base: int, cap: int) -> dict[int, int]:
    """Channels at each resolution from 4 up to size/2: `base` at size/2, doubling per halving, capped."""
    widths, res = {}, size // 2
    while res >= 4:
        widths[res] = min(base * size // (2 * res), cap)
        res //= 2
    return widths


class Generator(nn.Module):
    """z (N, latent) -> image (N, 3, size, size) in [-1, 1]."""

    def __init__(self, latent: int = 128, size: int = 64, ngf: int = 64, max_channels: int = 512):
        super().__init__()
        _check_size(size)
        if latent < 1:
            raise ConfigError(f"latent size must be at least 1, got {latent}")
        self.latent, self.size = latent, size
        widths = _widths(size, ngf, max_channels)
        res = 4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent, widths[4], 4, 1, 0, bias=False),  # 1x1 -> 4x4
            nn.BatchNorm2d(widths[4]),
            nn.ReLU(True),
        ]
        while res * 2 < size:
            layers += [
                nn.ConvTranspose2d(widths[res], widths[res * 2], 4, 2, 1, bias=False),
                nn.BatchNorm2d(widths[res * 2]),
                nn.ReLU(True),
            ]
            res *= 2
        layers += [nn.ConvTranspose2d(widths[res], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], self.latent, 1, 1))


class Discriminator(nn.Module):
    """image (N, 3, size, size) -> one logit (DCGAN) or critic score (WGAN-GP) per image, shape (N,).

    norm: "batch" (DCGAN), "layer" (WGAN-GP default) or "none". The first layer is never normalised.
    """

    def __init__(self, size: int = 64, ndf: int = 64, norm: str = "batch", max_channels: int = 512):
        super().__init__()
        _check_size(size)
        if norm not in ("batch", *CRITIC_NORMS):
            raise ValueError(f"unknown discriminator norm {norm!r}")
        widths = _widths(size, ndf, max_channels)
        res = size // 2
        layers: list[nn.Module] = [nn.Conv2d(3, widths[res], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        while res > 4:
            cin, cout = widths[res], widths[res // 2]
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, cout))
            layers.append(nn.LeakyReLU(0.2, True))
            res //= 2
        layers.append(nn.Conv2d(widths[4], 1, 4, 1, 0))  # 4x4 -> 1x1
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, lambda_gp: float):
    """WGAN-GP critic loss D(fake) - D(real) + lambda * E[(||grad D(x_hat)||_2 - 1)^2], x_hat on random points
    between real and fake samples; one critic forward over all three (the critic normalises per sample).
    Returns (loss, Wasserstein estimate D(real) - D(fake), penalty)."""
    n = real.shape[0]
    alpha = torch.rand(n, 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    scores = critic(torch.cat([real, fake.detach(), x_hat])).float()
    s_real, s_fake, s_hat = scores.split(n)
    (grad,) = torch.autograd.grad(s_hat.sum(), x_hat, create_graph=True)
    norm = (grad.float().flatten(1).square().sum(1) + 1e-12).sqrt()
    penalty = ((norm - 1) ** 2).mean()
    distance = s_real.mean() - s_fake.mean()
    return lambda_gp * penalty - distance, distance.detach(), penalty.detach()


# ---------------------------------------------------------------------------------------------------------
# Data: a folder of images, cached once as one compressed .npz at the training size

CACHE_DIR = ".nftgan-cache"


def _square(img: Image.Image, size: int) -> np.ndarray:
    """Centre square crop, resized to size x size (antialiased), as uint8 HxWx3."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    return np.asarray(img.resize((size, size), Image.LANCZOS, reducing_gap=3.0), dtype=np.uint8)


def _signature(files: list[str], size: int) -> str:
    # /2: pictures turned upright by their EXIF orientation (a cache made before holds them sideways)
    h = hashlib.sha256(f"nftgan-gan-cache/2 {size}".encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.basename(f)} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _write_npz(path: str, **arrays) -> None:
    """Through a temporary name, removed whatever happens: a cache is whole or absent, and a full disk is not
    kept full by half of one."""
    tmp = f"{path}.tmp{os.getpid()}.npz"
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def build_cache(
    folder: str, size: int, cache_path: str | None = None, log=print, also: tuple[str, ...] = ()
) -> str:
    """The .npz cache of a folder of images at `size` (built when missing or when the folder changed).

    Written to FOLDER/.nftgan-cache/images_<size>px.npz (or `cache_path`). Holds `images` (N, size, size, 3)
    uint8, `names` and `skipped` (unreadable files, with the reason). Reloading it takes well under a
    second where decoding and resizing the folder takes minutes for large collections. A cache of the
    folder as it is now at one of the paths in `also` (where an earlier run had to put it) is used as well.
    """
    files = list_images(folder)
    if not files:
        raise DataError(
            f"{folder} holds no images ({', '.join(IMAGE_EXTS)}). A collection model learns from "
            "a folder of images of the collection (any size; each is centre-cropped to a square)."
            + in_subfolders(folder)
        )
    path = cache_path or os.path.join(folder, CACHE_DIR, f"images_{size}px.npz")
    signature = _signature(files, size)
    for have in (path, *also):
        if os.path.isfile(have):
            with np.load(have) as old:
                if str(old["signature"]) == signature:
                    return have
    images, names, skipped = [], [], []
    for f in files:
        try:
            images.append(_square(load_rgb(f), size))
            names.append(os.path.basename(f))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append(f"{f} ({type(exc).__name__}: {exc})")
    if not images:
        raise DataError(f"none of the {len(files)} images in {folder} could be read, e.g. {skipped[0]}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_npz(
        path,
        images=np.stack(images),
        names=np.array(names),
        skipped=np.array(skipped, dtype=str),
        signature=np.array(signature),
    )
    log(
        f"cached {len(images)} images at {size}x{size} px in {path}"
        + (f" ({len(skipped)} unreadable skipped)" if skipped else "")
    )
    return path


def load_images(data: str, size: int, fallback_dir: str = "") -> tuple[np.ndarray, list[str], str]:
    """(images uint8 (N, size, size, 3), skipped, source) from a folder (via its cache) or a .npz file.

    A folder the cache cannot be written in (read-only, or its disk full) gets it in `fallback_dir` (the run
    folder) instead."""
    if not data:
        raise DataError("no --data given: a folder of images, or a .npz built from one")
    if os.path.isdir(data):
        fallback = os.path.join(fallback_dir or ".", f"images_{size}px.npz")
        try:  # (a cache an earlier start put in the run folder is found before the pictures are decoded)
            path = build_cache(data, size, also=(fallback,))
        except OSError:
            try:
                path = build_cache(data, size, fallback)
            except OSError as exc:
                raise DataError(os_error_message(exc, f"writing the image cache {fallback}")) from None
    elif data.endswith(".npz") and os.path.isfile(data):
        path = data
    else:
        raise DataError(f"--data {data}: expected a folder of images or a .npz file made from one")
    try:
        with np.load(path) as npz:
            images = npz["images"]
            skipped = [str(s) for s in npz["skipped"]] if "skipped" in npz.files else []
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} is not a readable image cache ({exc}); delete it to rebuild it") from None
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise DataError(
            f"{path}: `images` must be a non-empty uint8 array (N, H, W, 3), got {images.dtype} "
            f"{images.shape}"
        )
    if images.shape[1:3] != (size, size):
        raise DataError(
            f"{path} holds {images.shape[2]}x{images.shape[1]} images but --size is {size}; "
            f"train with --size {images.shape[1]} or give the image folder"
        )
    return images, skipped, path


class ImageSet(Dataset):
    """Real images as CHW float tensors in [-1, 1], optionally flipped. Keys are (index, seed) from the
    trainer's sampler. With a `group` an item holds `group` images stacked (the WGAN-GP critic's batches):
    image `index` and group - 1 more drawn by the per-sample seed."""

    def __init__(self, images: np.ndarray, skipped: list[str], flip: bool, group: int | None = None):
        self.images, self.skipped, self.flip, self.group = images, skipped, flip, group

    def __len__(self) -> int:
        return len(self.images)

    def _image(self, i: int, rng) -> torch.Tensor:
        img = self.images[i]
        if self.flip and rng.integers(0, 2):
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img).transpose(2, 0, 1)).float().div_(127.5).sub_(1.0)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng([seed, index])
        if self.group is None:
            return {"real": self._image(index, rng), "skipped": list(self.skipped)}
        picks = [index] + [int(i) for i in rng.integers(0, len(self.images), self.group - 1)]
        return {"real": torch.stack([self._image(i, rng) for i in picks]), "skipped": list(self.skipped)}


class FixedLatents(Dataset):
    """The sample grid's fixed latents: item i is a row of `per_row` latents from seed (run seed, i)."""

    def __init__(self, latent: int, seed: int, rows: int = 4, per_row: int = 8):
        self.latent, self.seed, self.rows, self.per_row = latent, seed, rows, per_row

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(self.seed * 1000 + int(i))
        return {"z": torch.randn(self.per_row, self.latent, generator=gen), "skipped": []}


# ---------------------------------------------------------------------------------------------------------
# The two model kinds


@dataclass
class GanConfig(TrainConfig):
    """Shared by dcgan and wgan-gp."""

    size: int = opt(64, "image size in pixels (the exported model's output size)", choices=SIZES)
    latent: int = opt(128, "latent size: the generator's input is a vector of this many N(0, 1) numbers")
    batch_size: int = opt(64, "images per step per process")
    steps: int = opt(20000, "training steps (generator updates)")
    ngf: int = opt(64, "generator width (channels just before the output layer; doubles per halving)")
    ndf: int = opt(64, "discriminator width (channels after its first layer; doubles per halving)")
    max_channels: int = opt(512, "channel cap of both networks")
    lr: float = opt(1e-4, "generator learning rate (Adam)")
    lr_d: float = opt(4e-4, "discriminator learning rate: two time-scale update rule, Heusel et al. 2017")
    decay_from: float = opt(
        1.0,
        "keep the learning rates constant for this fraction of the steps, then decay "
        "them linearly to 0 (1.0: constant)",
    )
    flip: bool = opt(
        True, "random horizontal flips (turn off for collections with a facing direction or text)"
    )
    sample_every: int = opt(500, "write a sample grid of fixed latents every N steps")
    workers: int = opt(0, "data-loading worker processes (the images are in memory; 0 is fastest)")
    # fields of TrainConfig these kinds do not use
    val_fraction: float = opt(0.0, "unused: a GAN trains on every image", cli=False)
    load_size: int = opt(0, "unused: images are centre-cropped and resized to --size once", cli=False)
    n_layers_d: int = opt(0, "unused: the discriminator's depth follows --size", cli=False)
    norm: str = opt(
        "batch", "generator norm (batch; SyncBatchNorm under torchrun)", choices=("batch",), cli=False
    )
    gan_mode: str = opt("vanilla", "unused", cli=False)


@dataclass
class DCGANConfig(GanConfig):
    """DCGAN (Radford et al. 2016) with one-sided label smoothing (Salimans et al. 2016) and TTUR."""

    label_smoothing: float = opt(
        0.9,
        "one-sided label smoothing: the discriminator's target for real images "
        "(1.0: off); fake images always have target 0",
    )


@dataclass
class WGANGPConfig(GanConfig):
    """WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty, Adam(0, 0.9), 5 critic
    steps per generator step."""

    lr_d: float = opt(1e-4, "critic learning rate")
    beta1: float = opt(0.0, "Adam beta1 (the paper: 0)")
    beta2: float = opt(0.9, "Adam beta2 (the paper: 0.9)")
    n_critic: int = opt(5, "critic updates per generator update, each on its own batch of real images")
    lambda_gp: float = opt(10.0, "gradient penalty weight")
    critic_norm: str = opt(
        "layer",
        "critic normalisation: layer norm (per sample) or none; never batch norm, "
        "which would couple the samples the penalty treats one by one",
        choices=CRITIC_NORMS,
    )


class _GAN(ModelKind):
    contract_kind = "generate"
    held_out_images = False  # the sample grid shows fixed latents
    data_help = (
        "a folder of images of the collection (any size and format; each is centre-cropped to a square "
        "and resized to --size once, into FOLDER/.nftgan-cache/images_<size>px.npz, reused while the "
        "folder is unchanged), or such a .npz file. A few thousand images or more."
    )

    def check_config(self, cfg):
        _check_size(cfg.size)
        if cfg.latent < 1:
            raise ConfigError("--latent must be at least 1")

    def build_nets(self, cfg):
        return {
            "G": Generator(cfg.latent, cfg.size, cfg.ngf, cfg.max_channels),
            "D": Discriminator(cfg.size, cfg.ndf, self._d_norm(cfg), cfg.max_channels),
        }

    def _d_norm(self, cfg) -> str:
        return "batch"

    def optimizer_groups(self, cfg):
        return {"G": ("G",), "D": ("D",)}

    def adam(self, cfg, group):
        return {"lr": cfg.lr_d if group == "D" else cfg.lr, "betas": (cfg.beta1, cfg.beta2)}

    def _group(self, cfg) -> int | None:
        return None

    def datasets(self, cfg):
        images, skipped, source = load_images(cfg.data, cfg.size, cfg.out)
        notes = subfolder_notes(cfg.data) if os.path.isdir(cfg.data) else ()
        layout = Layout("npz" if source == cfg.data else "image folder", [], [], notes=notes)
        return (
            ImageSet(images, skipped, cfg.flip, self._group(cfg)),
            FixedLatents(cfg.latent, cfg.seed),
            layout,
        )

    def image_count(self, train_ds, val_ds) -> int:
        return len(train_ds)

    def _noise(self, run, n: int) -> torch.Tensor:
        return torch.randn(n, run.cfg.latent, device=run.device)

    def sample_rows(self, run, batch):
        z = batch["z"]  # (rows, per_row, latent)
        with run.autocast():
            fake = run.raw["G"](z.flatten(0, 1)).float()
        rows = fake.unflatten(0, z.shape[:2])
        return ["fixed latents"] + [""] * (z.shape[1] - 1), [list(r) for r in rows]

    def generator_settings(self, cfg):
        return ("latent", "size", "ngf", "max_channels")

    def generator(self, cfg, nets, direction):
        if direction is not None:
            raise ConfigError(f"a {self.name} model has no direction (got {direction!r})")
        net = load_net(Generator(cfg.latent, cfg.size, cfg.ngf, cfg.max_channels), nets["G"], "generator")
        return net, {"latent": cfg.latent, "multiple_of": cfg.size}


class DCGAN(_GAN):
    name = "dcgan"
    config_class = DCGANConfig
    description = "a collection from a folder of images: DCGAN, latent vector -> image (32/64/128 px)"
    loss_names = ("G", "D", "D_real", "D_fake")
    loss_groups = (
        ("adversarial: G vs D", ("G", "D")),
        ("D's mean probability on real and fake", ("D_real", "D_fake")),
    )

    def train_step(self, run, batch):
        real = batch["real"]
        n = real.shape[0]
        opt_g, opt_d = run.opt["G"], run.opt["D"]
        with run.autocast():
            fake = run.nets["G"](self._noise(run, n))
            # real and fake in separate discriminator batches (batch norm statistics of one kind each)
            logit_real = run.nets["D"](real).float()
            logit_fake = run.nets["D"](fake.detach()).float()
            target_real = torch.full_like(logit_real, run.cfg.label_smoothing)
            loss_d = F.binary_cross_entropy_with_logits(
                logit_real, target_real
            ) + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with frozen(run, ("D",)), run.autocast():  # non-saturating generator loss
            logit = run.raw["D"](fake).float()
            loss_g = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {
            "G": loss_g.detach(),
            "D": loss_d.detach(),
            "D_real": torch.sigmoid(logit_real).mean().detach(),
            "D_fake": torch.sigmoid(logit_fake).mean().detach(),
        }


class WGANGP(_GAN):
    name = "wgan-gp"
    config_class = WGANGPConfig
    description = "a collection from a folder of images: WGAN-GP, latent vector -> image (32/64/128 px)"
    loss_names = ("G", "critic", "W_distance", "GP")
    loss_groups = (
        ("adversarial: G vs critic", ("G", "critic")),
        ("Wasserstein estimate", ("W_distance",)),
        ("gradient penalty", ("GP",)),
    )

    def check_config(self, cfg):
        super().check_config(cfg)
        if cfg.n_critic < 1:
            raise ConfigError("--n-critic must be at least 1")

    def _d_norm(self, cfg) -> str:
        return cfg.critic_norm

    def _group(self, cfg) -> int:
        return cfg.n_critic

    def train_step(self, run, batch):
        reals = batch["real"]  # (batch, n_critic, 3, H, W): one real batch per critic update
        n = reals.shape[0]
        opt_g, opt_d = run.opt["G"], run.opt["D"]
        for k in range(reals.shape[1]):
            with torch.no_grad(), run.autocast():
                fake = run.raw["G"](self._noise(run, n))
            with run.autocast():
                loss_d, distance, penalty = critic_loss(run.nets["D"], reals[:, k], fake, run.cfg.lambda_gp)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        with frozen(run, ("D",)), run.autocast():
            loss_g = -run.raw["D"](run.nets["G"](self._noise(run, n))).float().mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"G": loss_g.detach(), "critic": loss_d.detach(), "W_distance": distance, "GP": penalty}


register(DCGAN())
register(WGANGP())
