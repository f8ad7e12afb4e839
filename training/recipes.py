"""`nftgan data`: build the licensed image sets the default styles are trained on.

Every source comes from a package registry this project can reach, so the recipe runs anywhere
`apt-get download` (Debian) and `npm pack` (npm) work:

| source      | package                          | license          | what                                  |
| ----------- | -------------------------------- | ---------------- | ------------------------------------- |
| openclipart | Debian `openclipart-png`         | public domain    | colour clip-art drawings (≥ 256 px)   |
| noto        | Debian `fonts-noto-color-emoji`  | Apache-2.0 (OFL) | flat colour emoji rendered at 109 px  |
| fluent3d    | npm `@lobehub/fluent-emoji-3d`   | MIT              | 3D "clay" emoji renders, 256²         |
| wesnoth     | Debian `wesnoth-1.16-data`       | GPL-2+           | painted character portraits           |
| fluentflat  | npm `@iconify-json/fluent-emoji-flat` | MIT         | Fluent Emoji Flat, SVG bodies         |
| fluenthc    | npm `@iconify-json/fluent-emoji-high-contrast` | MIT | Fluent Emoji High Contrast line art (SVG) |

The two SVG sets are rasterized with resvg (`resvg_py`, a training-only dependency) and matched by name
to code points (the package's chars.json), so flat, high-contrast, 3D and Noto images of one emoji share a
key and a split; flat and high-contrast are cropped with one box, so they stay aligned pixel for pixel.

Each image is composited over white, cropped to its content, padded to a square and resized to
SIZE² (RGB PNG). Exact duplicates (same pixels after that) are dropped. The test split is chosen
by a hash of the image's key, so it is deterministic and the same emoji code point is held out
from both Noto and Fluent. Layout under OUT (default `data/`):

    OUT/downloads/                the fetched .deb / .tgz files (reused on the next run)
    OUT/<source>/{train,test}/    normalised images
    OUT/clay/{train,test}/{A,B}   fluentflat -> fluent3d, paired by code point (the 3D Clay stylize model)
    OUT/painted/{trainA,trainB,testA,testB}  openclipart -> wesnoth (unpaired, CycleGAN)
    OUT/colorize/{train,test}/{A,B}  line sketch -> picture pairs (Pix2Pix; colour hints are painted on the fly
                                  by `--hints`): Fluent flat emoji as ink outlines and as thinned high-contrast
                                  line art, Open Clip Art drawings as ink outlines
    OUT/upscale/{train,test}/     links to every source's images (the x4 upscaler)
    OUT/manifest.json             license, version, counts and file hashes of every source
"""

from __future__ import annotations

import hashlib
import io
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
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .hints import srgb_to_lab


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
            "fluentflat",
            "npm",
            "@iconify-json/fluent-emoji-flat@1.2.6",
            "MIT",
            "Microsoft Fluent Emoji Flat (SVG, rasterized with resvg), matched to Fluent 3D by code point",
        ),
        Source(
            "fluenthc",
            "npm",
            "@iconify-json/fluent-emoji-high-contrast@1.2.6",
            "MIT",
            "Microsoft Fluent Emoji High Contrast line art (SVG, rasterized with resvg), aligned with the flat set",
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
UNPAIRED = {"painted": ("openclipart", "wesnoth")}
PAIRED_SOURCE = "openclipart"  # drawings sketchified for the colorize set, beside the Fluent flat emoji
UPSCALE_SOURCES = ("openclipart", "fluent3d", "noto", "wesnoth")  # what the shipped x4 upscaler learned from
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


def content_box(rgb: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the drawn (not near-white) pixels, None for a blank image."""
    ink = np.asarray(rgb, dtype=np.int16).min(axis=2) < 250
    ys, xs = np.nonzero(ink)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else None


def over_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def normalize(
    img: Image.Image, size: int, margin: float = 0.06, box: tuple[int, int, int, int] | None = None
) -> Image.Image:
    """RGB, composited over white, cropped to the drawn content (or to `box`, to crop several renderings of
    one picture alike), padded square, resized to size²."""
    rgb = over_white(img)
    box = box or content_box(rgb)
    if box:
        rgb = rgb.crop(box)
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


# the two Iconify SVG sets, read together: high-contrast line art is cropped with its flat twin's box
ICONIFY = ("fluentflat", "fluenthc")
RENDER_SIDE = 512  # SVGs are rasterized at this size, then cropped and resized to SIZE like every source


def iconify_set(root: Path) -> tuple[dict, dict[str, str]]:
    """(icons.json, {icon name: emoji key}) of an unpacked @iconify-json package; skin-tone variants have
    no key (they are near duplicates), and names without a code point are left out."""
    pkg = root / "package"
    icons = json.loads((pkg / "icons.json").read_text())
    keys: dict[str, str] = {}
    for code, name in sorted(json.loads((pkg / "chars.json").read_text()).items()):
        key = _emoji_key(code)
        if key is not None:
            keys.setdefault(name, key)
    return icons, keys


def render_icon(icons: dict, name: str, side: int = RENDER_SIDE) -> Image.Image | None:
    """RGBA rasterization of one icon of an Iconify set (aliases and their flips resolved), None if absent."""
    import resvg_py  # training-only dependency (`pip install nftgan[train]`): SVG -> PNG

    alias = icons.get("aliases", {}).get(name, {})
    icon = icons["icons"].get(alias.get("parent", name))
    if icon is None:
        return None
    w, h = icon.get("width", icons.get("width", 16)), icon.get("height", icons.get("height", 16))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{icon.get("left", 0)} {icon.get("top", 0)} {w} {h}" '
        f'width="{side}" height="{round(side * h / w)}" color="#000">{icon["body"]}</svg>'
    )
    with Image.open(io.BytesIO(bytes(resvg_py.svg_to_bytes(svg_string=svg)))) as png:
        img = png.convert("RGBA")
    return img.transpose(Image.FLIP_LEFT_RIGHT) if alias.get("hFlip") else img


def read_iconify(roots: dict[str, Path], size: int, which: str) -> Iterator[tuple[str, Image.Image]]:
    """One image per emoji key from the `which` set (fluentflat or fluenthc), cropped with the box of both
    renderings together, so an emoji's flat picture and its high-contrast line art line up exactly."""
    (flat, keys), (hc, _) = iconify_set(roots["fluentflat"]), iconify_set(roots["fluenthc"])
    seen: set[str] = set()
    for name, key in sorted(keys.items(), key=lambda kv: (kv[1], kv[0])):
        if key in seen:
            continue
        seen.add(key)
        pics = {"fluentflat": render_icon(flat, name), "fluenthc": render_icon(hc, name)}
        if pics[which] is None or pics["fluentflat"] is None:
            continue
        boxes = [b for b in (content_box(over_white(p)) for p in pics.values() if p is not None) if b]
        if not boxes:
            continue
        box = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        yield key, normalize(pics[which], size, box=box)


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


# How the colorize model's line sketches are made. The artist's canvas is dark lines on white paper (plus
# colour hints, painted on the fly in training by `nftgan train pix2pix --hints`), so every sketch is line art:
# - ink: the outline of every colour region of the picture, a continuous pen line of 2-3 px (`outline`);
# - line: the emoji's own high-contrast line art (Fluent Emoji High Contrast, drawn by people), its thick
#   strokes redrawn along their centre lines with a pen of 3-5 px; only for glyphs that are mostly outline (at most LINE_ART_COVERAGE of
#   their pixels black: filled silhouettes are not what an artist draws).
OUTLINE_DE = 12.0  # CIELAB difference across a 3x3 neighbourhood that makes a region boundary
LINE_ART_COVERAGE = 0.35


def outline(picture: Image.Image, width: int) -> Image.Image:
    """The boundaries between the picture's colour regions as dark lines on white, `width` 2 or 3 px, with
    soft (anti-aliased) edges like a brush stroke. Unlike an edge detector's thinned edges, flat colour art
    gives continuous lines without gaps."""
    lab = srgb_to_lab(np.asarray(picture.convert("RGB"), np.float32) / 255.0)
    h, w = lab.shape[:2]
    p = np.pad(lab, ((1, 1), (1, 1), (0, 0)), mode="edge")
    around = [p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    edge = np.linalg.norm(np.max(around, 0) - np.min(around, 0), axis=-1) > OUTLINE_DE  # ~2 px wide
    img = Image.fromarray(np.where(edge, 0, 255).astype(np.uint8))
    if width >= 3:
        img = img.filter(ImageFilter.MinFilter(3))
    return img.filter(ImageFilter.GaussianBlur(0.5))


def skeleton(black: np.ndarray) -> np.ndarray:
    """The 1 px centre lines of a boolean mask (Zhang & Suen 1984 thinning, vectorised)."""
    img = black.astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = np.pad(img, 1)
            # neighbours P2..P9, clockwise from north
            nb = [
                p[:-2, 1:-1],
                p[:-2, 2:],
                p[1:-1, 2:],
                p[2:, 2:],
                p[2:, 1:-1],
                p[2:, :-2],
                p[1:-1, :-2],
                p[:-2, :-2],
            ]
            n2, n4, n6, n8 = nb[0], nb[2], nb[4], nb[6]
            count = sum(x.astype(np.int16) for x in nb)
            turns = sum((nb[i] == 0) & (nb[(i + 1) % 8] == 1) for i in range(8))
            if step == 0:
                side = (n2 * n4 * n6 == 0) & (n4 * n6 * n8 == 0)
            else:
                side = (n2 * n4 * n8 == 0) & (n2 * n6 * n8 == 0)
            gone = (img == 1) & (count >= 2) & (count <= 6) & (turns == 1) & side
            if gone.any():
                img[gone] = 0
                changed = True
    return img.astype(bool)


def thin_lines(line_art: Image.Image, half_width: int) -> Image.Image | None:
    """Black-on-white line art redrawn with a pen of about 2 * half_width + 1 px along its strokes' centre
    lines, with soft edges; None when it is mostly filled shapes rather than lines."""
    black = np.asarray(line_art.convert("L")) < 128
    if not black.any() or black.mean() > LINE_ART_COVERAGE:
        return None
    centre = Image.fromarray(np.where(skeleton(black), 0, 255).astype(np.uint8))
    return centre.filter(ImageFilter.MinFilter(2 * half_width + 1)).filter(ImageFilter.GaussianBlur(0.5))


def colorize_pairs(out: Path, log: Callable[[str], None]) -> dict:
    """Line sketch -> picture pairs for the colorize model: A/<source>__<key>__<style>.png is the sketch,
    B/ the same name linked to the picture. Fluent flat emoji as ink outlines and as thinned high-contrast
    line art; Open Clip Art drawings as ink outlines."""
    counts: dict[str, dict[str, int]] = {}
    for split in ("train", "test"):
        dst = out / "colorize" / split
        shutil.rmtree(dst, ignore_errors=True)
        for sub in ("A", "B"):
            (dst / sub).mkdir(parents=True)
        n = counts.setdefault(split, {})
        for source in ("fluentflat", PAIRED_SOURCE):
            for pic in sorted((out / source / split).glob("*.png")):
                pen = int(hashlib.sha256(pic.stem.encode()).hexdigest()[:8], 16) % 2  # 0 or 1: pen width
                sketches = {"ink": outline(load_picture(pic), 2 + pen)}
                hc = out / "fluenthc" / split / pic.name
                if source == "fluentflat" and hc.exists():
                    with Image.open(hc) as im:
                        sketches["line"] = thin_lines(im, 1 + pen)
                for style, drawn in sketches.items():
                    if drawn is None:
                        continue
                    name = f"{source}__{pic.stem}__{style}.png"
                    drawn.convert("RGB").save(dst / "A" / name)
                    (dst / "B" / name).symlink_to(Path("../../..") / source / split / pic.name)
                    n[f"{source} {style}"] = n.get(f"{source} {style}", 0) + 1
        log(f"  colorize/{split}: " + ", ".join(f"{v} {k}" for k, v in sorted(n.items())))
    return {split: sum(c.values()) for split, c in counts.items()} | {"parts": counts}


def load_picture(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def paired_by_key(out: Path, name: str, a: str, b: str, threshold: float = 8.0) -> dict:
    """OUT/name/{train,test}/{A,B}: links to the images of sources a and b that share a key (file name), for
    a paired model; pairs that look the same (Fluent 3D ships flat art for flags and a few symbols) are left
    out, as they would teach the style to do nothing."""
    counts: dict = {"identical_pairs_dropped": 0}
    for split in ("train", "test"):
        dst = out / name / split
        shutil.rmtree(dst, ignore_errors=True)
        for sub in ("A", "B"):
            (dst / sub).mkdir(parents=True)
        kept = 0
        for fa in sorted((out / a / split).glob("*.png")):
            fb = out / b / split / fa.name
            if not fb.exists():
                continue
            diff = np.abs(
                np.asarray(load_picture(fa), np.float32) - np.asarray(load_picture(fb), np.float32)
            ).mean()
            if diff < threshold:
                counts["identical_pairs_dropped"] += 1
                continue
            for sub, src in (("A", a), ("B", b)):
                (dst / sub / fa.name).symlink_to(Path("../../..") / src / split / fa.name)
            kept += 1
        counts[split] = kept
    return counts


def build_datasets(out: Path, manifest: dict, log: Callable[[str], None] = print) -> None:
    """The training sets made from the sources under `out` (links and sketches), recorded in `manifest`."""
    datasets = manifest.setdefault("datasets", {})
    for name, (a, b) in UNPAIRED.items():
        if (out / a).is_dir() and (out / b).is_dir():
            link_unpaired(out, name, a, b)
            datasets[name] = {"kind": "unpaired", "A": a, "B": b}
    if (out / "fluentflat/train").is_dir() and (out / "fluent3d/train").is_dir():
        datasets["clay"] = {"kind": "paired", "A": "fluentflat", "B": "fluent3d"}
        datasets["clay"].update(paired_by_key(out, "clay", "fluentflat", "fluent3d"))
        log(f"clay: flat -> 3D pairs {datasets['clay']}")
    present = [s for s in UPSCALE_SOURCES if (out / s / "train").is_dir()]
    datasets["upscale"] = {"kind": "images", "from": present, **link_all(out, "upscale", present)}
    if all((out / s / "train").is_dir() for s in ("fluentflat", "fluenthc", PAIRED_SOURCE)):
        datasets["colorize"] = {
            "kind": "paired",
            "from": ["fluentflat", "fluenthc", PAIRED_SOURCE],
            "sketches": {
                "ink": f"outlines of the colour regions (CIELAB difference > {OUTLINE_DE:g}), 2-3 px",
                "line": f"Fluent high-contrast line art, centre lines redrawn 3-5 px (glyphs <= {LINE_ART_COVERAGE:.0%} black)",
            },
            "split": "by emoji / drawing key: the same emoji is held out in every source",
            **colorize_pairs(out, log),
        }


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
    if set(ICONIFY) & set(wanted):  # the two SVG sets are cropped together
        wanted = [s for s in SOURCES if s in wanted or s in ICONIFY]
    with tempfile.TemporaryDirectory(prefix="nftgan-data-") as tmp:
        unpacked: dict[str, Path] = {}
        archives = {}
        for name in wanted:
            archives[name] = fetch(SOURCES[name], downloads)
            log(f"{name}: {archives[name].name}")
            unpacked[name] = unpack(archives[name], Path(tmp) / name)
        for name in wanted:
            src, archive = SOURCES[name], archives[name]
            version = archive_version(archive)
            if name in ICONIFY:
                items = read_iconify(unpacked, size, name)
            elif name == "fluent3d":
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
    build_datasets(out, manifest, log)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def main(argv: list[str] | None = None, prog: str = "nftgan data") -> int:
    from nftgan.core.cliargs import Parser, add_out, error
    from nftgan.core.files import not_a_folder, os_error_message

    parser = Parser(
        prog=prog,
        description="Fetch the licensed image sets the default styles are trained on (Debian + npm packages), "
        "normalise, de-duplicate and split them, and write a manifest with licenses and counts.",
        examples=(
            "nftgan data                          # everything, into data/ (what `make data` runs)",
            "nftgan data -o ~/nftgan-data --only openclipart",
        ),
    )
    add_out(parser, "data folder", "DIR", type=Path, default=Path("data"))
    parser.add_argument(
        "--resize",
        type=int,
        default=256,
        metavar="PX",
        help="resize each picture (padded to a square) so its side is PX pixels",
    )
    parser.renamed("--size", "--resize")
    parser.add_argument(
        "--test-fraction", type=float, default=0.06, help="share of each source held out for testing"
    )
    parser.add_argument("--only", nargs="+", choices=sorted(SOURCES), help="build only these sources")
    args = parser.parse_args(argv)
    if not 0 < args.test_fraction < 1:
        parser.fail("--test-fraction must be between 0 and 1")
    if args.resize < 32:
        parser.fail("--resize must be at least 32")
    if blocked := not_a_folder("-o", args.out):  # (a traceback from mkdir, after the first download)
        return error(prog, blocked, 1)
    try:
        manifest = build(args.out, size=args.resize, test_fraction=args.test_fraction, only=args.only)
    except RecipeError as exc:
        return error(prog, exc, 1)
    except OSError as exc:  # a full or read-only disk
        return error(prog, os_error_message(exc, f"writing {args.out}"), 1)
    print(
        f"wrote {args.out / 'manifest.json'}: "
        + ", ".join(f"{k} {v['images']}" for k, v in manifest["sources"].items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
