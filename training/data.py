"""Datasets: paired (aligned) and unpaired image folders, jitter, a deterministic validation split.

Layouts `--data DIR` may have (checked in this order):
- `DIR/A/` + `DIR/B/`: two folders, files paired by name (`A/cat.png` <-> `B/cat.png`; what
  `nftgan sketchify` writes). Unmatched names are left out and counted.
- `DIR/trainA/` + `DIR/trainB/`: unpaired domains (CycleGAN); no name matching.
- images directly in `DIR/` (or `DIR/train/`): each file is A and B side by side (A left, B right).

Images of any mode are converted to RGB; transparency is composited over white, greyscale and
palette images are expanded. A file that cannot be read (corrupt, truncated, not an image) is
skipped: the next image stands in for it and the trainer logs and counts it, so one bad file never
ends a long run. Every random choice (crop, flip, unpaired partner) comes from a per-sample seed
the sampler hands out, so data is identical however many workers load it and after `--resume`.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from torch.utils.data import Dataset, DistributedSampler

from .errors import UserError
from .hints import paint_hints

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error (skipped), never half an image


class DataError(UserError, ValueError):
    """A dataset folder that cannot be trained on, with advice."""


# what PIL raises for a file it cannot read
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class _Unreadable(Exception):
    """One named file of an item could not be read (an unpaired item's partner, drawn at random)."""


def read_rgb(path: str) -> Image.Image:
    """`load_rgb`, an unreadable file raising `_Unreadable` with its path and why."""
    try:
        return load_rgb(path)
    except UNREADABLE as exc:
        raise _Unreadable(f"{path} ({type(exc).__name__}: {exc})") from None


def list_images(folder: str) -> list[str]:
    """Image files directly in `folder`, sorted by name."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        raise DataError(f"folder not found: {folder}") from None
    return sorted(
        os.path.join(folder, n)
        for n in names
        if n.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(folder, n))
    )


def images_in_subfolders(folder: str) -> int:
    """How many image files `folder`'s subfolders hold, at any depth (hidden ones, such as .nftgan-cache, left
    out): what a layout that reads only the folder's own files leaves out (`nftgan sketchify` reads them all)."""
    count = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if root != folder:
            count += sum(f.lower().endswith(IMAGE_EXTS) for f in files)
    return count


def subfolder_notes(folder: str) -> tuple[str, ...]:
    """The run's log line about the pictures in `folder`'s subfolders, which a layout that reads only the
    folder's own files leaves out (none when there are none)."""
    n = images_in_subfolders(folder)
    if not n:
        return ()
    return (
        f"{n} pictures in subfolders left out: only the folder's own files are read (pass a subfolder as "
        "--data, or put the pictures in one folder)",
    )


def enlarged_notes(
    groups: dict[str, list[str]], load_size: int, side_by_side: bool = False
) -> tuple[str, ...]:
    """The run's log line when pictures are enlarged more than twice to `load_size` (the size training scales
    them to): a dataset sketchified at a small --resize trains the model on its blur. `groups`: where -> its
    files (e.g. {"A/": ..., "B/": ...}), each folder that has such pictures named in the one line. Read from
    the files' headers (unreadable ones are skipped and counted later, as ever); none when no picture is
    that small."""
    counts = []
    for where, files in groups.items():
        small = 0
        for path in files:
            try:
                with _open(path) as img:  # (the project's opener: quiet about large scans)
                    w, h = img.size
            except UNREADABLE:
                continue
            small += min(w // 2 if side_by_side else w, h) * 2 < load_size
        if small:
            counts.append(f"{small} of {len(files)} pictures in {where}")
    if not counts:
        return ()
    return (
        f"{' and '.join(counts)} are smaller than half of the {load_size} px training scales them to "
        "(--load-size) and are enlarged more than twice, blurred: the model learns that blur as what a finished "
        f"picture looks like. Give it larger pictures (nftgan sketchify --resize {load_size}), or train with a "
        "smaller --size",
    )


def in_subfolders(folder: str) -> str:
    """Where the pictures are when `folder` holds none itself but its subfolders do ("" when they hold none)."""
    n = images_in_subfolders(folder)
    if not n:
        return ""
    return f" Its {n} pictures are in subfolders, which are not read: pass a subfolder, or put them in one folder."


class PictureTooLarge(ValueError):
    """A picture with more pixels than Pillow reads (its decompression-bomb limit), with what to do."""


def _open(path: str) -> Image.Image:
    """Image.open, quiet about pictures of 89-179 M pixels (a big scan is read, not warned about on every step)
    and saying how large one past that is instead of Pillow's "could be decompression bomb DOS attack"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError as exc:
            found = [f"{int(n):,}" for n in re.findall(r"\d+", str(exc))[:2]]  # Pillow's pixels, limit
            size = (
                f"{found[0]} pixels, more than the {found[1]}"
                if len(found) == 2
                else "more pixels than those"
            )
            raise PictureTooLarge(
                f"{size} NFTGan reads: scale it down (a long side of 8,000 px is plenty for training)"
            ) from None


def load_rgb(path: str) -> Image.Image:
    """Open any image as RGB, the way it is shown: turned upright by its EXIF orientation (a phone's portrait
    photo is stored sideways with that tag); alpha (RGBA, LA, palette transparency) composited over white.
    A picture past Pillow's limit (twice MAX_IMAGE_PIXELS, 179 M pixels) raises PictureTooLarge."""
    with _open(path) as opened:
        opened.load()
        turned = opened.getexif().get(0x0112, 1) != 1  # EXIF Orientation
        img = ImageOps.exif_transpose(opened) if turned else opened
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        if img.mode.startswith("I;16") or img.mode == "I":
            arr = np.asarray(img, dtype=np.float64)
            # a 16-bit mode says its depth (a dark picture is still 16-bit); a 32-bit "I" picture does not
            peak = 65535.0 if img.mode != "I" or arr.max() > 255 else 255.0
            img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return img.convert("RGB")


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> float32 CHW in [-1, 1]."""
    arr = np.asarray(img, dtype=np.float32)
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).div_(127.5).sub_(1.0)


@dataclass
class Layout:
    kind: str  # "folders" (A/ + B/ by name), "unpaired" (trainA/ + trainB/), "side-by-side"
    a: list[str]
    b: list[str]
    unmatched: int = 0
    notes: tuple[
        str, ...
    ] = ()  # what the run's log says about the data besides (`subfolder_notes`, a kind's own)

    @property
    def paired(self) -> bool:
        return self.kind != "unpaired"


PAIRS_EXPECTED = (
    "Expected A/ + B/ (paired by file name), trainA/ + trainB/ (unpaired), or images with A and B side by side. "
    "`nftgan sketchify SRC DST` turns a folder of pictures into a paired dataset."
)


def find_layout(data: str, expected: str = PAIRS_EXPECTED) -> Layout:
    """Which layout `data` has (see the module docstring), with clear errors for empty or odd folders
    (`expected`: what the kind reading it takes, said when the folder holds no images)."""
    if not data:
        raise DataError("no dataset given: pass --data DIR")
    if os.path.isfile(data):
        raise DataError(f"--data {data} is a file, not a folder: give the dataset folder it is in")
    if not os.path.isdir(data):
        raise DataError(f"dataset folder not found: {data}")
    sub = lambda *p: os.path.join(data, *p)
    if os.path.isdir(sub("A")) and os.path.isdir(sub("B")):
        a_files, b_files = list_images(sub("A")), list_images(sub("B"))
        # one file per name: cat.png beside cat.jpg pairs the last in name order; the other is left out, counted
        a = {os.path.splitext(os.path.basename(p))[0]: p for p in a_files}
        b = {os.path.splitext(os.path.basename(p))[0]: p for p in b_files}
        common = sorted(a.keys() & b.keys())
        if not a_files and not b_files:
            raise DataError(
                f"{data}: A/ and B/ hold no images (png, jpg, webp, bmp, tif); `nftgan sketchify SRC {data}` "
                "fills them from a folder of your pictures"
            )
        if not common:
            example = (
                f" (e.g. A/{os.path.basename(a_files[0])} and B/{os.path.basename(b_files[0])})"
                if a_files and b_files
                else ""
            )
            raise DataError(
                f"{data}: A/ has {len(a)} and B/ has {len(b)} images but no file names match{example}; paired "
                "training needs A/name.png next to B/name.png (nftgan sketchify SRC DST makes such a folder)"
            )
        return Layout(
            "folders",
            [a[k] for k in common],
            [b[k] for k in common],
            unmatched=len(a_files) + len(b_files) - 2 * len(common),
        )
    if os.path.isdir(sub("trainA")) and os.path.isdir(sub("trainB")):
        a, b = list_images(sub("trainA")), list_images(sub("trainB"))
        if not a or not b:
            empty = "trainA" if not a else "trainB"
            raise DataError(f"{data}: {empty}/ has no images (png, jpg, webp, bmp, tif)")
        return Layout("unpaired", a, b)
    folder = sub("train") if os.path.isdir(sub("train")) else data
    files = list_images(folder)
    if not files:
        half = _half_missing(data) if expected is PAIRS_EXPECTED else ""  # (the upscaler reads any folder)
        raise DataError(half or f"{data} has no images. {expected}" + in_subfolders(folder))
    return Layout("side-by-side", files, files, notes=subfolder_notes(folder))


def _half_missing(data: str) -> str:
    """What is wrong with a dataset folder one folder short of A/ + B/ or trainA/ + trainB/, or with one of them
    named in another case (b/ for B/); "" when it is neither."""
    subfolders = {n.lower(): n for n in sorted(os.listdir(data)) if os.path.isdir(os.path.join(data, n))}
    for pair in (("trainA", "trainB"), ("A", "B")):
        found = [subfolders.get(name.lower()) for name in pair]
        for name, there in zip(pair, found):
            if there and there != name:
                return f"{data}: {there}/: name it {name}/ (folder names are case-sensitive)"
        if any(found):
            have, missing = (pair, pair[::-1])[not found[0]]
            return (
                f"{data} has {have}/ but no {missing}/: it needs both, {pair[0]}/ the pictures the model takes in "
                f"and {pair[1]}/ what it learns to make"
                + (" (with matching file names)" if pair[0] == "A" else "")
            )
    return ""


def split_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def is_validation(name: str, fraction: float) -> bool:
    """Deterministic per-name split: adding or removing other images never moves this one."""
    h = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big")
    return (h % 1_000_000) < fraction * 1_000_000


def split_indices(names: list[str], fraction: float) -> tuple[list[int], list[int]]:
    """(train, val) indices; at least one validation image when there are 2+ images and fraction > 0."""
    val = [i for i, n in enumerate(names) if is_validation(n, fraction)] if fraction > 0 else []
    if fraction > 0 and not val and len(names) >= 2:
        val = [min(range(len(names)), key=lambda i: hashlib.sha1(names[i].encode()).digest())]
    if len(val) == len(names):
        val = val[:-1]
    chosen = set(val)
    return [i for i in range(len(names)) if i not in chosen], val


class _Images(Dataset):
    """Shared loading with skip-and-count of unreadable files. Keys are (index, seed) pairs from
    `StepSampler` (training) or plain indices (validation: no jitter; what little randomness remains, e.g.
    colour hints, is seeded by the index, so every validation image is the same at every validation)."""

    def __init__(self, size: int, load_size: int, flip: bool, train: bool):
        self.size, self.load_size, self.flip, self.train = size, load_size, flip, train

    def __len__(self) -> int:
        return self._n()

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, key)
        skipped = []
        for attempt in range(min(self._n(), 50)):
            i = (index + attempt) % self._n()
            try:
                item = self._load(i, np.random.default_rng([seed, attempt]))
            except _Unreadable as exc:  # the file that failed, named by itself
                skipped.append(str(exc))
                continue
            except UNREADABLE as exc:
                skipped.append(f"{self._describe(i)} ({type(exc).__name__}: {exc})")
                continue
            item["skipped"] = skipped
            return item
        raise DataError(
            f"{len(skipped)} images in a row could not be read, e.g. {skipped[0]}: the data folder's files may be "
            "damaged, cut short or not pictures; open them in an image viewer, and replace or remove the damaged ones"
        )

    def _jitter(self, imgs: list[Image.Image], rng) -> list[torch.Tensor]:
        """Resize to load_size, one random crop and flip shared by all `imgs` (train); resize only (val)."""
        if not self.train:
            return [to_tensor(im.resize((self.size, self.size), Image.BICUBIC)) for im in imgs]
        ls = max(self.load_size, self.size)
        x, y = (int(rng.integers(0, ls - self.size + 1)) for _ in range(2))
        do_flip = self.flip and bool(rng.integers(0, 2))
        out = []
        for im in imgs:
            im = im.resize((ls, ls), Image.BICUBIC).crop((x, y, x + self.size, y + self.size))
            if do_flip:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            out.append(to_tensor(im))
        return out


class PairedDataset(_Images):
    """Aligned A -> B pairs: two folders matched by name, or side-by-side files. With `hints`, colour hints
    from B are painted onto A (training.hints) before the crop and flip they share, and W (1, H, W) marks
    the pixels of B that have a hint's colour."""

    def __init__(
        self,
        layout: Layout,
        indices: list[int],
        size: int,
        load_size: int,
        flip: bool,
        train: bool,
        hints: bool = False,
    ):
        super().__init__(size, load_size, flip, train)
        self.layout, self.hints = layout, hints
        self.a = [layout.a[i] for i in indices]
        self.b = [layout.b[i] for i in indices]

    def _n(self):
        return len(self.a)

    def _describe(self, i):
        return self.a[i] if self.layout.kind == "side-by-side" else f"{self.a[i]} / {self.b[i]}"

    def _load(self, i, rng):
        if self.layout.kind == "side-by-side":
            ab = load_rgb(self.a[i])
            w, h = ab.size
            if w < 2:
                raise ValueError("image is too narrow to hold A and B side by side")
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w // 2 * 2, h))
        else:
            a, b = load_rgb(self.a[i]), load_rgb(self.b[i])
        if not self.hints:
            ta, tb = self._jitter([a, b], rng)
            return {"A": ta, "B": tb}
        painted, hinted = paint_hints(np.asarray(a), np.asarray(b.resize(a.size)), rng)
        mask = Image.fromarray(np.repeat(hinted[..., None], 3, axis=2).astype(np.uint8) * 255)
        ta, tb, tw = self._jitter([Image.fromarray(painted), b, mask], rng)
        return {"A": ta, "B": tb, "W": (tw[:1] + 1) * 0.5}  # W: 1 where the picture has a hint's colour


class UnpairedDataset(_Images):
    """Two domains without correspondence: item i is A[i] and a random B (independent jitter)."""

    def __init__(self, a: list[str], b: list[str], size: int, load_size: int, flip: bool, train: bool):
        super().__init__(size, load_size, flip, train)
        self.a, self.b = a, b

    def _n(self):
        return max(len(self.a), len(self.b))

    def _describe(self, i):
        return f"{self.a[i % len(self.a)]} or its partner in B"

    def _load(self, i, rng):
        j = int(rng.integers(0, len(self.b))) if self.train else i % len(self.b)
        (ta,) = self._jitter([read_rgb(self.a[i % len(self.a)])], rng)
        (tb,) = self._jitter([read_rgb(self.b[j])], rng)
        return {"A": ta, "B": tb}


def paired_datasets(cfg) -> tuple[PairedDataset, PairedDataset, Layout]:
    layout = find_layout(cfg.data)
    if not layout.paired:
        raise DataError(
            f"{cfg.data} holds unpaired data (trainA/ + trainB/). {cfg.model} learns from pairs: give it "
            "A/ and B/ with matching file names (e.g. from `nftgan sketchify`), or train `cyclegan` instead."
        )
    if layout.kind == "side-by-side":
        _check_side_by_side(cfg.data, layout.a)
    train, val = split_indices([split_name(p) for p in layout.a], cfg.val_fraction)
    side_by_side = layout.kind == "side-by-side"
    notes = enlarged_notes(
        {"the pairs" if side_by_side else "B/": layout.b}, cfg.effective_load_size, side_by_side
    )
    layout = replace(layout, notes=(*layout.notes, *notes))
    common = {"size": cfg.size, "load_size": cfg.effective_load_size, "flip": cfg.flip, "hints": cfg.hints}
    return (
        PairedDataset(layout, train, train=True, **common),
        PairedDataset(layout, val, train=False, **common),
        layout,
    )


def _check_side_by_side(data: str, files: list[str]) -> None:
    """Refuse a folder of plain pictures given as side-by-side pairs (sketch | picture, twice as wide as high):
    pix2pix would learn each picture's right half from its left half. Read from the files' headers; most of
    the readable files must be about 2:1 (unreadable ones are skipped and counted later, as ever)."""
    sizes = {}
    for path in files:
        try:
            with _open(path) as img:
                sizes[path] = img.size
        except UNREADABLE:
            continue
    plain = [p for p, (w, h) in sizes.items() if not 1.8 <= w / max(1, h) <= 2.2]
    if sizes and len(plain) * 2 > len(sizes):
        w, h = sizes[plain[0]]
        raise DataError(
            f"{data}: {len(plain)} of its {len(sizes)} pictures are not a sketch and its picture side by side "
            f"(twice as wide as high; {os.path.basename(plain[0])} is {w}x{h}). To train on your own pictures, "
            f"make sketch/picture pairs from them first: `nftgan sketchify {data} DST`, then --data DST."
        )


def unpaired_datasets(cfg) -> tuple[UnpairedDataset, UnpairedDataset, Layout]:
    """trainA/ + trainB/, or the A/ and B/ halves of a paired dataset used without the pairing."""
    layout = find_layout(cfg.data)
    splits = []
    for files in (layout.a, layout.b):
        if layout.kind == "side-by-side":
            raise DataError(
                f"{cfg.data}: side-by-side pairs are for pix2pix; CycleGAN needs trainA/ + trainB/ "
                "(or A/ + B/) folders"
            )
        train, val = split_indices([split_name(p) for p in files], cfg.val_fraction)
        splits.append(([files[i] for i in train], [files[i] for i in val] or [files[train[0]]]))
    (ta, va), (tb, vb) = splits
    folders = ("A/", "B/") if layout.kind == "folders" else ("trainA/", "trainB/")  # (the layout's own)
    notes = enlarged_notes(dict(zip(folders, (layout.a, layout.b))), cfg.effective_load_size)
    layout = replace(layout, notes=(*layout.notes, *notes))
    common = {"size": cfg.size, "load_size": cfg.effective_load_size, "flip": cfg.flip}
    return (
        UnpairedDataset(ta, tb, train=True, **common),
        UnpairedDataset(va, vb, train=False, **common),
        layout,
    )


class StepSampler(DistributedSampler):
    """`DistributedSampler` that can start mid-epoch (exact resume) and hands each sample a seed.

    Yields (index, seed) keys; the seed depends only on (seed, epoch, position), so augmentation is
    reproducible regardless of worker processes. Drops the last partial batch of each process.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, batch_size: int):
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.batch_size = batch_size
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.num_samples // self.batch_size

    def __iter__(self):
        indices = list(super().__iter__())[: self.batches_per_epoch * self.batch_size]
        start = self.start_batch * self.batch_size
        for pos in range(start, len(indices)):
            yield (
                indices[pos],
                (self.seed * 1_000_003 + self.epoch) * 1_000_003 + pos * self.num_replicas + self.rank,
            )

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.batch_size


def from_worker(exc: DataError) -> DataError:
    """A DataError raised in a loader worker process, with the message it was raised with: torch's DataLoader
    raises it again in the training process with the worker's traceback as its message ("Caught DataError in
    DataLoader worker process 0. Original Traceback ...: MESSAGE")."""
    text = str(exc).rstrip()
    if not text.startswith("Caught DataError in DataLoader worker"):
        return exc
    return DataError(text.rpartition("DataError: ")[2])


def collate(items: list[dict]) -> dict:
    out = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "skipped"}
    out["skipped"] = [s for it in items for s in it.get("skipped", ())]
    return out
