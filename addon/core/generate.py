"""Sampling a collection from a `generate` model (DCGAN / WGAN-GP exported by `nftgan export`). No bpy, no torch.

Reproducibility: the latent of seed s is `numpy.random.default_rng(s).standard_normal(latent)` (float32),
so the same model and seed give the same image on any machine, in Blender and on the command line.
A token's seed is all it takes to make it again.

Variation: `interpolate(seed_a, seed_b, n)` walks the great circle between the two seeds' latents (slerp),
which keeps every step at the typical norm of a Gaussian latent (a straight line would pass through
low-norm latents the generator never saw and fade towards a grey average).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from .contract import ModelError, ModelInfo, describe_model
from .files import not_a_folder

MAX_COUNT = 10_000  # per call; keeps a typo from filling a disk
GRID_MAX = 256  # `nftgan generate`'s grid.png shows the first 256 images (16 x 16)
CHUNK = 256  # `nftgan generate` samples and writes this many images at a time, so memory stays flat in N


@dataclass(frozen=True)
class Sample:
    """One generated image's recipe: its own seed, or a point `t` on the way from `seed` to `seed_to`."""

    seed: int
    seed_to: int | None = None
    t: float = 0.0

    @property
    def stem(self) -> str:
        if self.seed_to is None:
            return f"seed{self.seed:06d}"
        return f"seed{self.seed:06d}-{self.seed_to:06d}-t{self.t:.3f}"

    def attributes(self) -> list[dict]:
        """ERC-721 / OpenSea attributes describing this sample."""
        attrs = [{"trait_type": "Seed", "value": self.seed}]
        if self.seed_to is not None:
            attrs += [
                {"trait_type": "Seed to", "value": self.seed_to},
                {"trait_type": "Interpolation", "value": round(self.t, 6), "display_type": "number"},
            ]
        return attrs


def check_seed(seed: int) -> int:
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seeds are whole numbers from 0 up, got {seed}")
    return seed


def latent(seed: int, size: int) -> np.ndarray:
    """The latent vector (size,) float32 of one seed."""
    return np.random.default_rng(check_seed(seed)).standard_normal(size).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two latents (falls back to a straight line when they are parallel)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.dot(a64, b64) / max(np.linalg.norm(a64) * np.linalg.norm(b64), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)


def seeds_plan(seed: int, count: int) -> list[Sample]:
    """`count` images from consecutive seeds seed, seed+1, ..."""
    _check_count(count)
    return [Sample(check_seed(seed) + i) for i in range(count)]


def interpolation_plan(seed: int, seed_to: int, count: int) -> list[Sample]:
    """`count` images from `seed` to `seed_to` inclusive, evenly spaced along the slerp."""
    _check_count(count)
    check_seed(seed), check_seed(seed_to)
    if count == 1:
        return [Sample(seed, seed_to, 0.0)]
    return [Sample(seed, seed_to, i / (count - 1)) for i in range(count)]


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT}, got {count}")


def latents(plan: list[Sample], size: int) -> np.ndarray:
    """(N, size) float32 latents for a plan."""
    cache: dict[int, np.ndarray] = {}

    def z(seed):
        if seed not in cache:
            cache[seed] = latent(seed, size)
        return cache[seed]

    return np.stack([z(s.seed) if s.seed_to is None else slerp(z(s.seed), z(s.seed_to), s.t) for s in plan])


def load_model(path: str | os.PathLike) -> ModelInfo:
    """Describe a model file and check it is a generate model."""
    info = describe_model(path)
    if info.kind != "generate":
        raise ModelError(
            f"{os.path.basename(info.path)} is a {info.kind} model; generating a collection needs a "
            "generate model (export a dcgan or wgan-gp checkpoint with `nftgan export`)."
        )
    return info


def run(
    info: ModelInfo, z: np.ndarray, job=None, batch: int = 16, threads: int = 0, provider: str = "auto"
) -> list[np.ndarray]:
    """Images for latents z (N, latent): float32 (size, size, 4) RGBA in [0, 1], rows bottom-up (the
    add-on's image convention). Between batches it reports progress to `job` and honours its cancel."""
    import onnxruntime as ort

    from .errors import Cancelled
    from .pipeline import session, to_image_space

    z = np.ascontiguousarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != info.latent:
        raise ValueError(f"{info.name} takes latents of shape (N, {info.latent}), got {z.shape}")
    sess = session(info, threads, provider)
    images: list[np.ndarray] = []
    options = ort.RunOptions()
    remove = job.on_cancel(lambda: setattr(options, "terminate", True)) if job is not None else None
    try:
        for start in range(0, len(z), batch):
            if job is not None:
                job.progress(start / len(z), f"image {start + 1} of {len(z)}")
            chunk = z[start : start + batch]
            try:
                (rgb,) = sess.run(None, {info.input_name: chunk}, options)
            except Exception:
                if job is not None and job.cancelled:
                    raise Cancelled() from None
                raise
            if rgb.shape != (len(chunk), 3, info.size, info.size) or not np.isfinite(rgb).all():
                raise ModelError(
                    f"{info.name} returned {rgb.shape} images (or non-finite pixels) where the "
                    f"contract says ({len(chunk)}, 3, {info.size}, {info.size}); re-export it."
                )
            images += [to_image_space(x) for x in rgb]  # planar (3, H, W), as to_image_space takes it
    finally:
        if remove is not None:
            remove()
    return images


def grid(images: list[np.ndarray], columns: int = 0, gap: int = 2) -> np.ndarray:
    """Tile equal-sized (H, W, 4) bottom-up images into one bottom-up image, the first at the top left."""
    n = len(images)
    h, w, c = images[0].shape
    cols = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = np.ones(((h + gap) * rows + gap, (w + gap) * cols + gap, c), dtype=np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        top = gap + r * (h + gap)  # measured from the top, then flipped to bottom-up rows
        y0 = out.shape[0] - top - h
        x0 = gap + col * (w + gap)
        out[y0 : y0 + h, x0 : x0 + w] = img
    return out


def model_attributes(info: ModelInfo) -> list[dict]:
    """ERC-721 attributes naming the model that made a token."""
    attrs = [{"trait_type": "Model", "value": info.name}, {"trait_type": "Model file", "value": info.id}]
    steps = info.training.get("steps") if isinstance(info.training, dict) else None
    if steps:
        attrs.append({"trait_type": "Training steps", "value": int(steps), "display_type": "number"})
    return attrs


# ---------------------------------------------------------------------------------------------------------
# `nftgan generate`


def _model_path(wanted: str, folders: list[str], prog: str) -> str:
    """A model file: `wanted` itself when it is a file, else the generate model with that id or name."""
    if os.path.isfile(wanted):
        return wanted
    from . import styles
    from .cliargs import warn_skipped

    found = styles.scan(folders)
    warn_skipped(prog, found)
    style = styles.find(found, "generate", wanted)
    if style is None:
        names = ", ".join(f"{s.id} ({s.name})" for s in styles.of_kind(found, "generate")) or "none found"
        raise ModelError(
            f"{wanted}: no such file, and no generate model has that id or name. Available: {names}"
            + ("" if folders else " (add a folder of models with --models DIR)")
            + "."
        )
    return style.path


def main(argv: list[str] | None = None, prog: str = "nftgan generate") -> int:
    from .cliargs import PROVIDER_HELP, PROVIDERS, Parser, add_out, add_threads, error

    parser = Parser(
        prog=prog,
        description="Sample images from a generate model (an exported DCGAN / WGAN-GP). Image i comes from seed "
        "SEED+i; the same model and seed always give the same image. With --to-seed the N images "
        "instead walk from SEED to TO_SEED (spherical interpolation of the latents). Writes one PNG per "
        f"image, grid.png (the first {GRID_MAX}) and generate.json (seeds and attributes) into the folder -o.",
        examples=(
            "nftgan generate ~/nftgan-styles/punks.onnx -n 16 --seed 100 -o out/punks   # seeds 100..115",
            "nftgan generate punks -n 8 --seed 100 --to-seed 107 -o out/walk --models ~/nftgan-styles",
        ),
    )
    parser.add_argument(
        "model",
        help="a generate .onnx model (from `nftgan export` of a dcgan/wgan-gp checkpoint): a path, or the id "
        "or name of one in the bundled models or a --models folder",
    )
    parser.add_argument("-n", "--count", type=int, default=16, metavar="N", help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--to-seed", type=int, help="interpolate from --seed to this seed instead")
    add_out(parser, "output folder (created if missing)", "DIR", required=True)
    parser.add_argument(
        "--models", action="append", default=[], metavar="DIR", help="extra model folder (repeatable)"
    )
    add_threads(parser)
    parser.add_argument("--provider", choices=PROVIDERS, default="auto", help=PROVIDER_HELP)
    args = parser.parse_args(argv)
    try:
        info = load_model(_model_path(args.model, args.models, prog))
        plan = (
            seeds_plan(args.seed, args.count)
            if args.to_seed is None
            else interpolation_plan(args.seed, args.to_seed, args.count)
        )
    except ModelError as exc:  # a model it cannot find or use: the work fails (1), as in stylize
        return error(prog, exc, 1)
    except ValueError as exc:  # -n, --seed, --to-seed out of range: the command line is refused (2)
        return error(prog, exc, 2)
    if blocked := not_a_folder("-o", args.out):
        return error(prog, f"{blocked}; -o names the folder the images go in (made if missing)", 1)
    from . import imageio
    from .files import os_error_message, write_durably

    entries = [
        {"file": f"{sample.stem}.png", **asdict(sample), "attributes": sample.attributes()} for sample in plan
    ]
    manifest = {
        "model": info.name,
        "model_file": os.path.basename(info.path),
        "latent": info.latent,
        "size": info.size,
        "attributes": model_attributes(info),
        "images": entries,
    }
    shown: list[np.ndarray] = []  # the grid's images
    try:  # a full or read-only disk: a message, and no half-written file
        os.makedirs(args.out, exist_ok=True)
        for start in range(0, len(plan), CHUNK):
            z = latents(plan[start : start + CHUNK], info.latent)
            images = run(info, z, threads=args.threads, provider=args.provider)
            for entry, image in zip(entries[start : start + CHUNK], images):
                imageio.write_png(os.path.join(args.out, entry["file"]), image)
            shown += images[: GRID_MAX - len(shown)]
        imageio.write_png(os.path.join(args.out, "grid.png"), grid(shown))
        write_durably(os.path.join(args.out, "generate.json"), json.dumps(manifest, indent=2).encode())
    except OSError as exc:
        return error(prog, os_error_message(exc, f"writing {args.out}"), 1)
    print(
        f"{len(plan)} image{'s' * (len(plan) != 1)} of {info.size}x{info.size} from {info.name} -> {args.out} "
        f"(grid.png{f' of the first {GRID_MAX}' if len(plan) > GRID_MAX else ''}, generate.json)"
    )
    return 0
