"""Shared session fixtures: REAL tiny models, trained briefly through the training package's own trainer
on generated data and exported with `nftgan export` (parity-checked), for every area's tests.

    colorize_model, stylize_model      Path to a .onnx file (pix2pix U-Net / cyclegan ResNet-6, 32 px)
    generate_model                     Path to a .onnx file (dcgan, latent 16 -> 32 px)
    upscale_model                      Path to a .onnx file (x4, trained on 8 -> 32 px crops)
    tiny_runs                          {"pix2pix" | "cyclegan" | "upscale" | "dcgan": run dir (checkpoints/ ...)}
    tiny_data                          {"paired": DIR (A/ + B/), "unpaired": DIR (trainA/ + trainB/)}

Built once into `.cache/test-models/<hash>/`, where the hash covers every source file that produces
them (training/, export/, addon/core/contract.py and imageio.py, this file) and the versions of torch,
onnx, onnxruntime ..., so a clean checkout or any change to those rebuilds them (under a minute of CPU),
and repeated runs reuse them. Concurrent test runs share one
build through a file lock.

The Blender test venvs have no torch: they take the folder from $NFTGAN_TEST_MODELS, which `make test`
sets to what `python -m tests.conftest` prints in .venv (the folder, built if needed).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SIZE = 32  # px: U-Net depth 5, ResNet multiple of 4
SOURCES = ("training", "export", "addon/core/contract.py", "addon/core/imageio.py", "tests/conftest.py")
PACKAGES = ("torch", "onnx", "onnxscript", "onnxruntime", "numpy", "pillow")  # their versions are hashed too

# contract kind -> (model kind, trainer settings); ngf 8, a few dozen steps: seconds on 2 CPU cores
RECIPES = {
    "colorize": ("pix2pix", {"net_g": "unet", "ngf": 8, "ndf": 8, "steps": 24, "batch_size": 4}),
    "stylize": (
        "cyclegan",
        {"net_g": "resnet_6blocks", "ngf": 8, "ndf": 8, "steps": 12, "batch_size": 2, "pool_size": 4},
    ),
    "upscale": (
        "upscale",
        {"scale": 4, "ngf": 8, "n_blocks": 1, "steps": 12, "batch_size": 4},
    ),  # 8 px -> 32 px
    "generate": ("dcgan", {"latent": 16, "ngf": 8, "ndf": 8, "steps": 12, "batch_size": 4}),  # z(16) -> 32 px
}
DATA_OF = {"pix2pix": "paired", "upscale": "paired", "dcgan": "collection"}  # the rest: unpaired folders


def source_hash() -> str:
    from importlib.metadata import version

    h = hashlib.sha256(" ".join(f"{p}={version(p)}" for p in PACKAGES).encode())
    for entry in SOURCES:
        p = ROOT / entry
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def make_data(root: Path, n: int = 12, size: int = SIZE) -> dict[str, Path]:
    """Generated sketches (random ink strokes on white) and their 'colour' versions (warm paper, blue ink),
    as a paired A/ + B/ set, and as an unpaired trainA/ (sketches) + trainB/ (sepia drawings) set."""
    from nftgan.core.imageio import draw_strokes
    from PIL import Image

    rng = np.random.default_rng(0)
    paired, unpaired = root / "paired", root / "unpaired"
    for d in (paired / "A", paired / "B", unpaired / "trainA", unpaired / "trainB"):
        d.mkdir(parents=True, exist_ok=True)
    to8 = lambda a: Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))
    for i in range(n):
        sketch = np.ones((size, size, 4), np.float32)
        strokes = [
            rng.uniform(0.1, 0.9, size=(int(rng.integers(2, 5)), 2)) for _ in range(int(rng.integers(1, 4)))
        ]
        draw_strokes(sketch, strokes, width=float(rng.uniform(1.5, 3.0)))
        ink = 1.0 - sketch[..., :3].mean(-1, keepdims=True)
        colour = np.array([0.98, 0.9, 0.75]) * (1 - ink) + np.array([0.1, 0.2, 0.7]) * ink
        sepia = np.array([0.85, 0.7, 0.5]) * (1 - ink) + np.array([0.25, 0.1, 0.05]) * ink
        to8(sketch[..., :3]).save(paired / "A" / f"img{i:03d}.png")
        to8(colour).save(paired / "B" / f"img{i:03d}.png")
        to8(sketch[..., :3]).save(unpaired / "trainA" / f"img{i:03d}.png")
        to8(sepia).save(unpaired / "trainB" / f"img{i:03d}.png")
    return {"paired": paired, "unpaired": unpaired, "collection": paired / "B"}


def train_tiny(model: str, data: Path, out: Path, **overrides) -> Path:
    """Train `model` through the real trainer; returns the run folder."""
    from nftgan.training.kinds import get_kind
    from nftgan.training.trainer import train

    settings = {
        "name": f"Tiny {model}",
        "size": SIZE,
        "workers": 0,
        "seed": 0,
        "log_every": 10,
        "sample_every": 10_000,
        "checkpoint_every": 10_000,
        **overrides,
    }
    cfg = get_kind(model).config_class(model=model, data=str(data), out=str(out), **settings)
    train(cfg)
    return out


def build_all(folder: Path) -> None:
    from nftgan.export.onnx_export import export_checkpoint

    data = make_data(folder / "data")
    for kind, (model, overrides) in RECIPES.items():
        run = train_tiny(model, data[DATA_OF.get(model, "unpaired")], folder / "runs" / model, **overrides)
        export_checkpoint(run, folder / f"{kind}.onnx", license="CC0-1.0")


def test_models_dir() -> Path:
    """The cache folder for the current sources, built if missing (under a lock shared by concurrent runs)."""
    cache = ROOT / ".cache" / "test-models"
    folder = cache / source_hash()
    if (folder / ".complete").exists():
        (folder / ".complete").touch()  # in use
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".complete").exists():  # built in place: checkpoints record their data folder's path
            shutil.rmtree(folder, ignore_errors=True)  # a build that was interrupted
            build_all(folder)
            (folder / ".complete").touch()
            for old in cache.glob("*/.complete"):  # builds for older sources, unused for an hour
                if old.parent != folder and time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old.parent, ignore_errors=True)
    return folder


test_models_dir.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def test_models() -> Path:
    given = os.environ.get("NFTGAN_TEST_MODELS")
    if given:
        if not (Path(given) / ".complete").exists():
            pytest.fail(
                f"NFTGAN_TEST_MODELS={given} is not a finished test-model folder (python -m tests.conftest)"
            )
        return Path(given)
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.fail(
            "the test models are trained with torch, which this venv lacks (a Blender test venv): run "
            "`make test-blender`, or set NFTGAN_TEST_MODELS to what `.venv/bin/python -m tests.conftest` prints"
        )
    return test_models_dir()


@pytest.fixture(scope="session")
def colorize_model(test_models) -> Path:
    return test_models / "colorize.onnx"


@pytest.fixture(scope="session")
def stylize_model(test_models) -> Path:
    return test_models / "stylize.onnx"


@pytest.fixture(scope="session")
def upscale_model(test_models) -> Path:
    return test_models / "upscale.onnx"


@pytest.fixture(scope="session")
def generate_model(test_models) -> Path:
    return test_models / "generate.onnx"


@pytest.fixture(scope="session")
def tiny_runs(test_models) -> dict[str, Path]:
    return {model: test_models / "runs" / model for model, _ in RECIPES.values()}


@pytest.fixture(scope="session")
def tiny_data(test_models) -> dict[str, Path]:
    return {name: test_models / "data" / name for name in ("paired", "unpaired")}


@pytest.fixture
def model_colours(monkeypatch, tmp_path):
    """No exemplar index (addon/core/exemplar.py: as in a tree without addon/models/exemplars.npz): a sketch
    without dabs keeps the colorize model's own colours, as the shapes without a dab do when there are dabs.
    For tests whose subject is the model's colours, or that compare a dabbed sketch with the same one
    undabbed."""
    from nftgan.core import exemplar

    monkeypatch.setattr(exemplar, "INDEX", tmp_path / "no-exemplars.npz")


if __name__ == "__main__":  # `make test-blender`: the folder for the Blender test venvs, alone on stdout
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):
        folder = test_models_dir()
    print(folder)
