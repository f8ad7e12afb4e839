"""`nftgan eval`: FID and KID for generated collections, L1 / PSNR / SSIM for paired models.

FID and KID use the pool3 features (2048-d, after the last average pool, before the classifier) of the
Inception-v3 network that the original FID code (Heusel et al. 2017, TTUR) took from TensorFlow's
2015-12-05 graph. Its PyTorch port is the weights file `pt_inception-2015-12-05-6726825d.pth`
(distributed by the pytorch-fid project:
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth).
NFTGan never downloads it: pass it with `--inception PATH` or set NFTGAN_INCEPTION. With that file the
network below reproduces pytorch-fid's features, so scores are comparable with published FIDs.

Statistics:
- FID = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), with the trace of the square root taken as
  the sum of sqrt(eigenvalues) of the symmetric PSD matrix S_r^(1/2) S_f S_r^(1/2): real, no complex
  round-off, finite even when a covariance is singular (fewer images than 2048 feature dimensions).
  FID is biased upward for small sets; below 2,048 images it is reported with a warning.
- KID = unbiased MMD^2 with the polynomial kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018),
  averaged over random subsets; the subset size shrinks to the smaller set when a set is small.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import IMAGE_EXTS, UNREADABLE, list_images, load_rgb
from .errors import ConfigError, UserError
from .trainer import check_device

FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILE
FID_CLASSES = 1008  # the 2015-12-05 graph's classifier: the mark of the FID weights
FID_MIN_IMAGES = 2048
INCEPTION_ENV = "NFTGAN_INCEPTION"


class EvalError(UserError, ValueError):
    """Images or weights that cannot be evaluated, with what to do about it."""


# ---------------------------------------------------------------------------------------------------------
# Inception-v3 as in the FID reference (parameter names match the standard weights file)


class _Conv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg3(x):  # the TF graph's average pools ignore the zero padding
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class _BlockA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg3(x)),
            ],
            1,
        )


class _BlockB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, 2),
            ],
            1,
        )


class _BlockC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        dbl = x
        for i in range(1, 6):
            dbl = getattr(self, f"branch7x7dbl_{i}")(dbl)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                dbl,
                self.branch_pool(_avg3(x)),
            ],
            1,
        )


class _BlockD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)


class _BlockE(nn.Module):
    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool  # the last block of the TF graph max-pools its pool branch
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg3(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(dbl),
                self.branch3x3dbl_3b(dbl),
                self.branch_pool(pooled),
            ],
            1,
        )


class InceptionPool3(nn.Module):
    """Images (N, 3, H, W) in [0, 1] -> pool3 features (N, 2048). Resizes to 299x299 (bilinear) itself."""

    dims = 2048

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean((2, 3))


def load_inception(path: str | os.PathLike | None = None, device: str = "cpu") -> InceptionPool3:
    """The FID Inception network with weights from `path` (or $NFTGAN_INCEPTION). Never downloads. Its errors
    name where the path came from: --inception (the path given) or $NFTGAN_INCEPTION."""
    given = (
        f"--inception {os.fspath(path)}" if path else f"${INCEPTION_ENV} {os.environ.get(INCEPTION_ENV, '')}"
    )
    path = os.fspath(path) if path else os.environ.get(INCEPTION_ENV, "")
    if not path:
        raise EvalError(
            "FID and KID need the Inception weights file "
            + FID_WEIGHTS_FILE
            + ". NFTGan does not download it: "
            f"get it once from {FID_WEIGHTS_URL} and pass --inception PATH (or set {INCEPTION_ENV}=PATH)."
        )
    if not os.path.isfile(path):
        raise EvalError(
            f"{given}: no such file"
            + (" (a folder)" if os.path.isdir(path) else "")
            + f"; give the Inception weights file {FID_WEIGHTS_FILE} (see --help)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EvalError(
            f"{given} is not a readable PyTorch weights file ({exc}). Download {FID_WEIGHTS_FILE} again."
        ) from exc
    if not isinstance(state, dict):
        raise EvalError(f"{given} does not hold a state dict; expected {FID_WEIGHTS_FILE}.")
    fc = state.get("fc.weight")
    if fc is None or tuple(fc.shape) != (FID_CLASSES, 2048) or any(k.startswith("AuxLogits.") for k in state):
        # e.g. torchvision's ImageNet Inception-v3 (1000 classes, auxiliary head): the same layers, other weights
        warnings.warn(
            f"{os.path.basename(path)} is an Inception-v3 but not the FID network of {FID_WEIGHTS_FILE} "
            f"(its classifier has {FID_CLASSES} outputs): scores will not be comparable with published "
            "FID/KID values.",
            stacklevel=2,
        )
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}  # classifier: unused
    net = InceptionPool3()
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise EvalError(
            f"{given} does not match Inception-v3 (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); expected {FID_WEIGHTS_FILE}."
        )
    return net.eval().to(device)


# ---------------------------------------------------------------------------------------------------------
# Images and features


def _images(folder: str, what: str = "") -> list[str]:
    """The images in `folder`; EvalError naming it as `what` (the argument it was given as: REAL, PRED...)."""
    name = f"{what} {folder}" if what else folder
    if os.path.isfile(folder):
        raise EvalError(f"{name} is a file, not a folder of images: give the folder it is in.")
    if not os.path.isdir(folder):
        raise EvalError(f"{name}: no such folder of images.")
    files = list_images(folder)
    if not files:
        raise EvalError(f"{name} holds no images ({', '.join(IMAGE_EXTS)}).")
    return files


def read_rgb(path: str) -> np.ndarray | None:
    """HxWx3 float32 in [0, 1] (transparency over white, as in training), or None if unreadable."""
    try:
        return np.asarray(load_rgb(path), dtype=np.float32) / 255.0
    except UNREADABLE:  # a damaged file, or one too large for Pillow (DecompressionBombError)
        return None


def _readable(paths: Sequence[str], prog: str = "nftgan eval") -> Iterable[np.ndarray]:
    """The images at `paths` that can be read; each one that cannot is a warning on stderr (`prog`'s, as every
    nftgan command warns: "nftgan eval fid: warning: skipped unreadable image PATH") and left out."""
    for p in paths:
        img = read_rgb(p)
        if img is None:
            print(f"{prog}: warning: skipped unreadable image {p}", file=sys.stderr)
            continue
        yield img


@torch.no_grad()
def extract_features(
    images: Iterable[np.ndarray],
    extractor: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 50,
    device: str = "cpu",
    size: int = 299,
) -> np.ndarray:
    """Features (N, D) float64 of HxWx3 [0, 1] images; each is resized to `size` (bilinear) first, so a
    folder may mix image sizes (resizing to 299 is what the Inception network does itself)."""
    feats, batch = [], []

    def flush():
        x = torch.cat(batch).to(device)
        feats.append(extractor(x).double().cpu().numpy())
        batch.clear()

    for img in images:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
        batch.append(F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not feats:
        raise EvalError("no readable images to evaluate.")
    return np.concatenate(feats)


# ---------------------------------------------------------------------------------------------------------
# Statistics


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise EvalError(f"need at least 2 feature vectors (images), got shape {feats.shape}")
    return feats.mean(0), np.cov(feats, rowvar=False)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((S1 S2)^(1/2)) for covariance matrices, via the symmetric form S1^(1/2) S2 S1^(1/2)."""
    root = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    inner = root @ np.asarray(sigma2, dtype=np.float64) @ root
    vals = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(vals, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"feature sizes differ: {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    return frechet_distance(*feature_stats(real), *feature_stats(fake))


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x (m, d) and y (n, d) with the kernel (x.y / d + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def kid_from_features(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float, int]:
    """KID (mean, std over subsets, subset size used). Subsets are drawn without replacement; the subset
    size is capped by the smaller set, and when it equals both set sizes one subset is all there is."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise EvalError("KID needs at least 2 images in each set.")
    if size == len(real) == len(fake):
        subsets = 1
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            polynomial_mmd2(
                real[rng.choice(len(real), size, replace=False)],
                fake[rng.choice(len(fake), size, replace=False)],
            )
            for _ in range(subsets)
        ]
    )
    return float(values.mean()), float(values.std()), size


# ---------------------------------------------------------------------------------------------------------
# Paired metrics (Pix2Pix, upscalers)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) of two HxWxC images
    in [0, 1], averaged over channels and the window positions that lie inside the image."""
    if a.shape != b.shape:
        raise ValueError(f"image sizes differ: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < 11:
        raise EvalError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).permute(2, 0, 1)[:, None]
    y = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float64)).permute(2, 0, 1)[:, None]
    g = _gaussian_window()

    def blur(t):
        return F.conv2d(F.conv2d(t, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def paired_metrics(pred_dir: str, target_dir: str, prog: str = "nftgan eval paired") -> dict:
    """Mean L1, PSNR (dB) and SSIM over images with the same file name stem in both folders. Errors name the
    folders as the command line's PRED and TARGET; a pair that cannot be read is left out with `prog`'s
    warning."""
    preds = {os.path.splitext(os.path.basename(p))[0]: p for p in _images(pred_dir, "PRED")}
    targets = {os.path.splitext(os.path.basename(p))[0]: p for p in _images(target_dir, "TARGET")}
    common = sorted(set(preds) & set(targets))
    if not common:
        raise EvalError(
            f"no file names in common between PRED {pred_dir} and TARGET {target_dir}: paired evaluation "
            "compares <name>.png in one folder with <name>.* in the other."
        )
    rows = []
    for stem in common:
        a, b = read_rgb(preds[stem]), read_rgb(targets[stem])
        if a is None or b is None:
            unreadable = " and ".join(p for p, img in ((preds[stem], a), (targets[stem], b)) if img is None)
            print(f"{prog}: warning: skipped the pair {stem}: {unreadable} cannot be read", file=sys.stderr)
            continue
        if a.shape != b.shape:
            raise EvalError(
                f"{stem}: prediction is {a.shape[1]}x{a.shape[0]} but target is "
                f"{b.shape[1]}x{b.shape[0]} (PRED {preds[stem]}, TARGET {targets[stem]}); paired metrics "
                "compare images of the same size."
            )
        try:
            score = ssim(a, b)
        except EvalError as exc:  # (too small for its window: which files)
            raise EvalError(f"{stem}: {exc} (PRED {preds[stem]}, TARGET {targets[stem]}).") from None
        rows.append((float(np.abs(a - b).mean()), psnr(a, b), score))
    if not rows:
        raise EvalError(f"no readable image pairs in PRED {pred_dir} and TARGET {target_dir}.")
    l1, p, s = np.array(rows).T
    return {
        "pairs": len(rows),
        "unmatched": len(preds) + len(targets) - 2 * len(common),
        "l1": float(l1.mean()),
        "psnr": float(p.mean()),
        "ssim": float(s.mean()),
    }


# ---------------------------------------------------------------------------------------------------------
# Command line


def _folder_features(
    folder: str,
    paths: list[str],
    what: str,
    metric: str,
    net: InceptionPool3,
    batch: int,
    device: str,
    prog: str = "nftgan eval",
) -> np.ndarray:
    """The features of a folder's images (`paths`, listed already), EvalError naming it as `what` (REAL, FAKE)
    when fewer than 2 are readable: `metric` needs 2 of each set."""
    # progress, unprefixed as train's, data's and a stylize batch's are (on stderr: stdout is the result)
    print(f"{what} {folder}: {len(paths)} images", file=sys.stderr)
    try:
        feats = extract_features(_readable(paths, prog), net, batch, device)
    except EvalError:  # none readable
        feats = np.zeros((0, 1))
    if len(feats) < 2:
        raise EvalError(
            f"{what} {folder}: {metric.upper()} needs at least 2 readable images in each folder; "
            f"{len(feats)} of its {len(paths)} could be read."
        )
    return feats


def main(argv: list[str] | None = None, prog: str = "nftgan eval") -> int:
    from nftgan.core import cpu
    from nftgan.core.cliargs import Parser, error

    cpu.keep_freed_memory()  # the Inception passes: half their page faults, 15-20 % faster (benchmarks.md)

    weights = (
        f"The Inception weights file ({FID_WEIGHTS_FILE}) is never downloaded by NFTGan; fetch it once "
        f"from {FID_WEIGHTS_URL}"
    )
    fid_examples = (
        "nftgan generate punks.onnx -n 10000 -o out/fid-fake",
        f"nftgan eval fid ~/Pictures/my-collection out/fid-fake --inception {FID_WEIGHTS_FILE}",
        f"nftgan eval kid ~/Pictures/my-collection out/fid-fake   # weights from ${INCEPTION_ENV}",
    )
    parser = Parser(
        prog=prog,
        description=__doc__.split("\n\n")[0] + " Errors name the metric and the argument: "
        "'nftgan eval fid: error: FAKE out/x: no such folder of images.'",
        examples=(*fid_examples, "nftgan eval paired runs/out-images datasets/targets   # L1 / PSNR / SSIM"),
        notes=weights,
    )
    sub = parser.add_subparsers(dest="metric", required=True, metavar="{fid,kid,paired}")
    metrics = {}  # name -> its parser (prog "nftgan eval NAME")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for metric, help_ in (
        ("fid", "Fréchet Inception Distance (lower is better)"),
        ("kid", "Kernel Inception Distance (lower is better; unbiased for small sets)"),
    ):
        p = metrics[metric] = sub.add_parser(
            metric, help=help_, description=help_, examples=fid_examples, notes=weights
        )
        p.add_argument("real", metavar="REAL", help="folder of real (training) images")
        p.add_argument(
            "fake", metavar="FAKE", help="folder of generated images (e.g. from `nftgan generate`)"
        )
        p.add_argument("--inception", help=f"path to {FID_WEIGHTS_FILE} (default: ${INCEPTION_ENV})")
        p.add_argument("--batch-size", type=int, default=50, metavar="N", help="images per forward pass")
        p.renamed("--batch", "--batch-size")
        p.add_argument(
            "--device",
            default=device,
            help="torch device: cpu, cuda, cuda:1, mps (default: cuda when available)",
        )
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        if metric == "kid":
            p.add_argument("--subsets", type=int, default=100, help="random subsets averaged")
            p.add_argument(
                "--subset-size",
                type=int,
                default=1000,
                help="images per subset (capped by the smaller folder)",
            )
    p = sub.add_parser(
        "paired",
        help="L1 / PSNR / SSIM between predictions and targets with matching names",
        description="L1 / PSNR / SSIM between predictions and targets with matching names",
        examples=("nftgan eval paired runs/out-images datasets/targets --json",),
    )
    p.add_argument("pred", metavar="PRED", help="folder of model outputs")
    p.add_argument(
        "target", metavar="TARGET", help="folder of ground-truth images (same file names, any image format)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    prog = f"{prog} {args.metric}"  # as argparse names the metric's own parser: errors say which metric
    # (--batch-size 0 took every image in one pass; --subset-size 1 said 'KID needs at least 2 images in each set')
    for flag, low in (("batch_size", 1), ("subsets", 1), ("subset_size", 2)):
        if getattr(args, flag, low) < low:
            metrics[args.metric].fail(f"--{flag.replace('_', '-')} must be at least {low}")
    if args.metric != "paired":
        try:
            args.device = check_device(args.device)
        except ConfigError as exc:
            return error(prog, exc, 2)
    try:
        result, text = _evaluate(args, prog)
    except EvalError as exc:
        return error(prog, exc, 1)
    print(json.dumps(result, sort_keys=True) if args.json else text)
    return 0


def _evaluate(args, prog: str = "nftgan eval") -> tuple[dict, str]:
    """The metric the command line asks for: (result for --json, one line of text). Its folders are looked at
    before the Inception weights are loaded (seconds), so a mistyped one is said at once, named as its
    argument."""
    if args.metric == "paired":
        result = paired_metrics(args.pred, args.target, prog)
        text = (
            f"pairs {result['pairs']}  L1 {result['l1']:.4f}  PSNR {result['psnr']:.2f} dB  "
            f"SSIM {result['ssim']:.4f}"
        )
    else:
        folders = {"REAL": args.real, "FAKE": args.fake}
        paths = {what: _images(folder, what) for what, folder in folders.items()}
        net = load_inception(args.inception, args.device)
        real, fake = (
            _folder_features(folders[w], paths[w], w, args.metric, net, args.batch_size, args.device, prog)
            for w in ("REAL", "FAKE")
        )
        result = {"real": len(real), "fake": len(fake)}
        if args.metric == "fid":
            result["fid"] = fid_from_features(real, fake)
            text = f"FID {result['fid']:.3f}  (real {len(real)}, fake {len(fake)})"
            if min(len(real), len(fake)) < FID_MIN_IMAGES:
                result["warning"] = (
                    f"FID from fewer than {FID_MIN_IMAGES} images is biased upward and not "
                    "comparable with published values; use KID for small sets."
                )
                print(f"{prog}: warning: {result['warning']}", file=sys.stderr)
        else:
            mean, std, size = kid_from_features(real, fake, args.subsets, args.subset_size)
            result.update(kid=mean, kid_std=std, subset_size=size)
            text = f"KID {mean:.5f} ± {std:.5f}  (subsets of {size}; real {len(real)}, fake {len(fake)})"
    return result, text


if __name__ == "__main__":
    sys.exit(main())
