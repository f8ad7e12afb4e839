"""`nftgan data`: build the licensed image sets the default styles are trained on.

Every source comes from a package registry this project can reach, so the recipe runs anywhere
`apt-get download` (Debian) and `npm pack` (npm) work:

| source      | package                          | license          | what                                  |
| ----------- | -------------------------------- | ---------------- | ------------------------------------- |
| openclipart | Debian `openclipart-png`         | public domain    | colour clip-art drawings (≥ 256 px)   |
| noto        | Debian `fonts-noto-color-emoji`  | Apache-2.0 (OFL) | flat colour emoji rendered at 109 px  |
| fluent3d    | npm `@lobehub/fluent-emoji-3d`   | MIT              | 3D "clay" emoji renders, 256²         |
| wesnoth     | Debian `wesnoth-1.16-data`       | GPL-2+           | painted character portraits           |

Each image is composited over white, cropped to its content, padded to a square and resized to
SIZE² (RGB PNG). Exact duplicates (same pixels after that) are dropped. The test split is chosen
by a hash of the image's key, so it is deterministic and the same emoji code point is held out
from both Noto and Fluent. Layout under OUT (default `data/`):

    OUT/downloads/                the fetched .deb / .tgz files (reused on the next run)
    OUT/<source>/{train,test}/    normalised images
    OUT/clay/{trainA,trainB,testA,testB}     noto -> fluent3d   (unpaired, CycleGAN)
    OUT/painted/{trainA,trainB,testA,testB}  openclipart -> wesnoth (unpaired, CycleGAN)
    OUT/colorize/{train,test}/    sketch|drawing pairs made by `nftgan sketchify` (Pix2Pix), pencil and ink
    OUT/upscale/{train,test}/     links to every source's images (the x4 upscaler)
    OUT/manifest.json             license, version, counts and file hashes of every source
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Source:
    name: str
    registry: str  # "debian" | "npm"
    package: str
    license: str
    description: str


SOURCES = {
    s.name: s
    for s in (
        Source(
            "openclipart",
            "debian",
            "openclipart-png",
            "public-domain (Open Clip Art Library dedication)",
            "colour clip-art drawings, at least 256 px on the long side",
        ),
        Source(
            "fluent3d",
            "npm",
            "@lobehub/fluent-emoji-3d@1.1.0",
            "MIT",
            "Microsoft Fluent Emoji 3D renders (256 px webp), matched to Noto by code point",
        ),
        Source(
            "noto",
            "debian",
            "fonts-noto-color-emoji",
            "Apache-2.0 (images); OFL-1.1 (font)",
            "Noto Color Emoji glyphs (CBDT bitmaps) rendered at 109 px",
        ),
        Source(
            "wesnoth",
            "debian",
            "wesnoth-1.16-data",
            "GPL-2.0-or-later",
            "Battle for Wesnoth painted character portraits",
        ),
    )
}
# cycleGAN data sets built from the sources: name -> (domain A, domain B)
UNPAIRED = {"clay": ("noto", "fluent3d"), "painted": ("openclipart", "wesnoth")}
PAIRED_SOURCE = "openclipart"  # the colorize (sketch -> drawing) set is sketchified from it
SKIN_TONES = {"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}


class RecipeError(RuntimeError):
    """A data recipe step that failed, with what to do about it."""


# ---------------------------------------------------------------- fetching


def _run(cmd: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RecipeError(
            f"`{cmd[0]}` is not installed; the data recipes need Debian's apt tools and npm."
        ) from None
    if done.returncode != 0:
        hint = " Run `apt-get update` once and retry." if cmd[0] == "apt-get" else ""
        raise RecipeError(f"`{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()[-400:]}{hint}")
    return done.stdout


def fetch(source: Source, downloads: Path) -> Path:
    """The package archive for a source, downloaded once into `downloads`."""
    downloads.mkdir(parents=True, exist_ok=True)
    if source.registry == "debian":
        pattern = f"{source.package}_*.deb"
        if not list(downloads.glob(pattern)):
            _run(["apt-get", "download", source.package], downloads)
    else:
        scope_name = source.package.lstrip("@").split("@")[0].replace("/", "-")
        pattern = f"{scope_name}-*.tgz"
        if not list(downloads.glob(pattern)):
            _run(["npm", "pack", "--silent", source.package], downloads)
    found = sorted(downloads.glob(pattern))
    if not found:
        raise RecipeError(f"no archive matching {pattern} in {downloads} after fetching {source.package}")
    return found[-1]


def archive_version(archive: Path) -> str:
    if archive.suffix == ".deb":
        return _run(["dpkg-deb", "-f", str(archive), "Version"], archive.parent).strip()
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("package/package.json"))["version"]


def unpack(archive: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if archive.suffix == ".deb":
        _run(["dpkg-deb", "-x", str(archive), str(dest)], dest)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    return dest


# ---------------------------------------------------------------- images


def normalize(img: Image.Image, size: int, margin: float = 0.06) -> Image.Image:
    """RGB, composited over white, cropped to the drawn content, padded square, resized to size²."""
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    ink = np.asarray(rgb, dtype=np.int16).min(axis=2) < 250
    ys, xs = np.nonzero(ink)
    if len(xs):
        rgb = rgb.crop((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    side = round(max(rgb.size) * (1 + 2 * margin))
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return canvas.resize((size, size), Image.LANCZOS)


def colourfulness(rgb: Image.Image) -> float:
    """Fraction of drawn (non-white) pixels that are clearly saturated."""
    hsv = np.asarray(rgb.convert("HSV"), dtype=np.float32)
    drawn = np.asarray(rgb, dtype=np.int16).min(axis=2) < 245
    if drawn.sum() == 0:
        return 0.0
    return float(((hsv[..., 1] > 64) & (hsv[..., 2] > 40) & drawn).sum() / drawn.sum())


def coverage(rgb: Image.Image) -> float:
    return float((np.asarray(rgb, dtype=np.int16).min(axis=2) < 245).mean())


MAX_PIXELS = 40_000_000  # larger sources (a few giant posters) are skipped rather than decoded


def _load(path: Path, size: int, min_side: int) -> Image.Image | None:
    """The normalised image, or None for a file too small, too large or unreadable (counted as skipped)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if max(im.size) < min_side or im.size[0] * im.size[1] > MAX_PIXELS:
                    return None
                return normalize(im, size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return None


# each reader yields (key, image) from an unpacked archive; keys are stable across runs


def read_openclipart(root: Path, size: int) -> Iterator[tuple[str, Image.Image]]:
    base = root / "usr/share/openclipart/png"
    for path in sorted(base.rglob("*.png")):
        img = _load(path, size, min_side=256)
        if img is not None and colourfulness(img) >= 0.25 and coverage(img) >= 0.08:
            yield path.relative_to(base).with_suffix("").as_posix(), img


def read_wesnoth(root: Path, size: int) -> Iterator[tuple[str, Image.Image]]:
    base = root / "usr/share/games/wesnoth"
    for path in sorted(base.rglob("portraits/**/*.png")):
        img = _load(path, size, min_side=200)
        if img is not None:
            yield path.relative_to(base).with_suffix("").as_posix(), img


def _emoji_key(stem: str) -> str | None:
    """Canonical code point key ('1f600', '2764'); None for skin-tone variants (near duplicates)."""
    parts = [p.lstrip("0") or "0" for p in stem.lower().replace("_", "-").split("-") if p != "fe0f"]
    if SKIN_TONES & set(parts):
        return None
    return "-".join(parts)


def fluent_keys(fluent_root: Path) -> dict[str, Path]:
    keys: dict[str, Path] = {}
    for path in sorted((fluent_root / "package/assets").glob("*.webp")):
        key = _emoji_key(path.stem)
        if key is not None:
            keys.setdefault(key, path)
    return keys


def read_fluent3d(root: Path, size: int) -> Iterator[tuple[str, Image.Image]]:
    for key, path in fluent_keys(root).items():
        with Image.open(path) as im:
            yield key, normalize(im, size)


def read_noto(root: Path, size: int, keys: dict[str, str]) -> Iterator[tuple[str, Image.Image]]:
    """Render the Noto glyph of every key -> code point sequence (Fluent's, so the two sets pair up)."""
    font = ImageFont.truetype(
        str(root / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
        109,
        layout_engine=ImageFont.Layout.RAQM,
    )

    def render(text: str) -> Image.Image:
        canvas = Image.new("RGBA", (320, 200), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((10, 10), text, font=font, embedded_color=True)
        return canvas

    missing = render("\U000f0000")  # what a code point the font lacks looks like
    notdef = hashlib.sha256(normalize(missing, size).tobytes()).hexdigest() if missing.getbbox() else ""
    for key, sequence in keys.items():
        canvas = render("".join(chr(int(p, 16)) for p in sequence.replace("_", "-").split("-")))
        box = canvas.getbbox()
        if (
            box is None or box[2] - box[0] > 150
        ):  # nothing drawn, or the sequence did not compose into one glyph
            continue
        img = normalize(canvas, size)
        if hashlib.sha256(img.tobytes()).hexdigest() != notdef:
            yield key, img


# ---------------------------------------------------------------- splitting and writing


def is_test(key: str, fraction: float) -> bool:
    """Deterministic hold-out by key (shared by Noto and Fluent, so emoji pairs are held out together)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32 < fraction


def write_source(
    items: Iterator[tuple[str, Image.Image]], out: Path, fraction: float, log: Callable[[str], None]
) -> dict:
    for split in ("train", "test"):
        shutil.rmtree(out / split, ignore_errors=True)
        (out / split).mkdir(parents=True)
    seen: dict[str, str] = {}
    files: dict[str, dict] = {}
    duplicates = 0
    for key, img in items:
        digest = hashlib.sha256(img.tobytes()).hexdigest()
        if digest in seen:
            duplicates += 1
            continue
        seen[digest] = key
        split = "test" if is_test(key, fraction) else "train"
        name = key.replace("/", "__") + ".png"
        img.save(out / split / name, optimize=False)
        files[name] = {"key": key, "split": split, "sha256_pixels": digest}
        if len(files) % 500 == 0:
            log(f"  {out.name}: {len(files)} images")
    counts = {s: sum(1 for f in files.values() if f["split"] == s) for s in ("train", "test")}
    return {"images": len(files), "duplicates_dropped": duplicates, **counts, "files": files}


def drop_identical_pairs(out: Path, a: str, b: str, threshold: float = 8.0) -> int:
    """Remove images whose A and B versions (same file name) look the same from both sources.

    Fluent 3D ships flat art for some code points (all flags, a few symbols) where it has no 3D render;
    such a pair teaches the clay style to do nothing, so it leaves the data set.
    """
    dropped = 0
    for split in ("train", "test"):
        for fa in sorted((out / a / split).glob("*.png")):
            fb = out / b / split / fa.name
            if not fb.exists():
                continue
            with Image.open(fa) as ia, Image.open(fb) as ib:
                diff = np.abs(np.asarray(ia, np.float32) - np.asarray(ib, np.float32)).mean()
            if diff < threshold:
                fa.unlink()
                fb.unlink()
                dropped += 1
    return dropped


def link_unpaired(out: Path, name: str, a: str, b: str) -> None:
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        for side, src in (("A", a), ("B", b)):
            link = root / f"{split}{side}"
            if link.is_symlink() or link.exists():
                link.unlink() if link.is_symlink() else shutil.rmtree(link)
            link.symlink_to(Path("..") / src / split, target_is_directory=True)


def link_all(out: Path, name: str, sources: list[str]) -> dict:
    """One folder per split holding (links to) every source's images: the upscaler learns from all styles."""
    counts = {}
    for split in ("train", "test"):
        dst = out / name / split
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir(parents=True)
        for src in sources:
            for f in sorted((out / src / split).glob("*.png")):
                (dst / f"{src}__{f.name}").symlink_to(Path("../..") / src / split / f.name)
        counts[split] = sum(1 for _ in dst.iterdir())
    return counts


# The sketch styles the colorize model learns from, each with its `nftgan sketchify` options: soft pencil
# shading and clean ink outlines (a plain line drawing, like most sketches painted in Blender, must be filled too).
SKETCH_STYLES = {"pencil": ("--style", "pencil"), "ink": ("--style", "edge", "--stroke", "2")}


def sketchify_pairs(out: Path, size: int, log: Callable[[str], None]) -> dict:
    """Sketch|drawing pairs for the colorize model, made by the project's own `nftgan sketchify`: every
    drawing once per SKETCH_STYLES entry, as A/<name>__<style>.png with the drawing as B/<name>__<style>.png."""
    from nftgan.training import sketchify

    counts = {}
    for split in ("train", "test"):
        dst = out / "colorize" / split
        shutil.rmtree(dst, ignore_errors=True)
        for sub in ("A", "B"):
            (dst / sub).mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="nftgan-sketchify-") as tmp:
            for style, options in SKETCH_STYLES.items():
                code = sketchify.main(
                    [str(out / PAIRED_SOURCE / split), f"{tmp}/{style}", *options, "--size", str(size)],
                    prog="nftgan sketchify",
                )
                if code:
                    raise RecipeError(
                        f"nftgan sketchify --style {options[1]} failed for the {split} split (exit {code})"
                    )
                for sub in ("A", "B"):
                    for f in Path(tmp, style, sub).glob("*.png"):
                        f.rename(dst / sub / f"{f.stem}__{style}.png")
        counts[split] = sum(1 for _ in (dst / "A").glob("*.png"))
        log(f"  colorize/{split}: {counts[split]} sketch|drawing pairs ({', '.join(SKETCH_STYLES)})")
    return counts


def build(
    out: Path,
    *,
    size: int = 256,
    test_fraction: float = 0.06,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    out = out.resolve()
    downloads = out / "downloads"
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"sources": {}}
    manifest.update(
        {
            "size": size,
            "test_fraction": test_fraction,
            "split_rule": "sha256(key)[:8] / 2**32 < test_fraction",
            "recipe": "training/recipes.py",
        }
    )
    wanted = [s for s in SOURCES if s in (only or SOURCES)]
    if "noto" in wanted and "fluent3d" not in wanted:
        wanted.insert(0, "fluent3d")  # Noto renders exactly the Fluent code points
    with tempfile.TemporaryDirectory(prefix="nftgan-data-") as tmp:
        unpacked: dict[str, Path] = {}
        for name in wanted:
            src = SOURCES[name]
            archive = fetch(src, downloads)
            log(f"{name}: {archive.name}")
            unpacked[name] = unpack(archive, Path(tmp) / name)
            version = archive_version(archive)
            if name == "fluent3d":
                items = read_fluent3d(unpacked[name], size)
            elif name == "noto":
                items = read_noto(
                    unpacked[name], size, {k: p.stem for k, p in fluent_keys(unpacked["fluent3d"]).items()}
                )
            elif name == "openclipart":
                items = read_openclipart(unpacked[name], size)
            else:
                items = read_wesnoth(unpacked[name], size)
            stats = write_source(items, out / name, test_fraction, log)
            manifest["sources"][name] = {
                "registry": src.registry,
                "package": src.package,
                "version": version,
                "license": src.license,
                "description": src.description,
                "archive": archive.name,
                "archive_sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                **stats,
            }
            log(
                f"{name}: {stats['images']} images ({stats['train']} train, {stats['test']} test), "
                f"{stats['duplicates_dropped']} duplicates dropped"
            )
    for name, (a, b) in UNPAIRED.items():
        if (out / a).is_dir() and (out / b).is_dir():
            link_unpaired(out, name, a, b)
            manifest.setdefault("datasets", {})[name] = {"kind": "unpaired", "A": a, "B": b}
    if {"noto", "fluent3d"} <= set(wanted):
        dropped = drop_identical_pairs(out, "noto", "fluent3d")
        manifest["datasets"]["clay"]["identical_pairs_dropped"] = dropped
        for name in ("noto", "fluent3d"):
            files = manifest["sources"][name]["files"]
            for f in [f for f, v in files.items() if not (out / name / v["split"] / f).exists()]:
                del files[f]
            manifest["sources"][name].update(
                images=len(files),
                **{s: sum(v["split"] == s for v in files.values()) for s in ("train", "test")},
            )
        log(f"clay: {dropped} Noto/Fluent pairs that look the same (flat art in both) dropped")
    present = [s for s in SOURCES if (out / s / "train").is_dir()]
    manifest.setdefault("datasets", {})["upscale"] = {
        "kind": "images",
        "from": present,
        **link_all(out, "upscale", present),
    }
    if (out / PAIRED_SOURCE / "train").is_dir():
        manifest.setdefault("datasets", {})["colorize"] = {
            "kind": "paired",
            "from": PAIRED_SOURCE,
            "sketch_styles": {k: " ".join(v) for k, v in SKETCH_STYLES.items()},
            **sketchify_pairs(out, size, log),
        }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def main(argv: list[str] | None = None, prog: str = "nftgan data") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fetch the licensed image sets the default styles are trained on (Debian + npm packages), "
        "normalise, de-duplicate and split them, and write a manifest with licenses and counts.",
    )
    parser.add_argument("--out", type=Path, default=Path("data"), help="data folder (default: data/)")
    parser.add_argument(
        "--size", type=int, default=256, help="side of the normalised square images (default 256)"
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.06,
        help="share of each source held out for testing (default 0.06)",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(SOURCES), help="build only these sources")
    args = parser.parse_args(argv)
    if not 0 < args.test_fraction < 1:
        parser.error("--test-fraction must be between 0 and 1")
    if args.size < 32:
        parser.error("--size must be at least 32")
    try:
        manifest = build(args.out, size=args.size, test_fraction=args.test_fraction, only=args.only)
    except RecipeError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.out / 'manifest.json'}: "
        + ", ".join(f"{k} {v['images']}" for k, v in manifest["sources"].items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
