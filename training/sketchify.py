"""`nftgan sketchify SRC DST`: turn a folder of pictures into a paired sketch -> picture dataset.

For every image under SRC (subfolders included) it writes DST/A/<name>.png (a sketch) and
DST/B/<name>.png (the picture): transparency composited over white, padded to a white square,
resized to --resize. `nftgan train pix2pix --data DST` then learns sketch -> picture.

Pens (--pen):
- pencil: grey -> invert -> Gaussian blur -> colour-dodge divide (grey / (1 - blurred inverse)),
  the classic pencil-sketch look; the blur radius sets the stroke width.
- edge: Canny-like: Gaussian blur, Sobel gradients (strongest colour channel), non-maximum suppression, hysteresis between a
  low and a high threshold; dark lines on white, thickened by --stroke pixels.

--jitter varies the stroke width per image (so the model does not learn one pen). Output depends
only on the image, its name, the options and --seed: running twice gives identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys

import numpy as np
from nftgan.core.files import not_a_folder, os_error_message
from PIL import Image, ImageFilter

from .data import IMAGE_EXTS, load_rgb


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def pencil(img: Image.Image, radius: float) -> Image.Image:
    grey = _grey(img)
    inv = Image.fromarray(((1.0 - grey) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    blurred = np.asarray(inv, dtype=np.float32) / 255.0
    dodge = np.clip(grey / np.maximum(1.0 - blurred, 1e-3), 0.0, 1.0)
    dodge = dodge**2.0  # darker, pencil-like strokes; paper stays white
    return Image.fromarray((dodge * 255 + 0.5).astype(np.uint8))


def _sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.pad(a, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return gx, gy


def edges(img: Image.Image, low: float, high: float, stroke: int, blur: float = 1.0) -> Image.Image:
    rgb = np.asarray(img.convert("RGB").filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255.0
    grads = [_sobel(rgb[..., c]) for c in range(3)]  # colour edges count, not only brightness edges
    mags = np.stack([np.hypot(gx, gy) for gx, gy in grads])
    best = mags.argmax(0)
    gx = np.choose(best, [g[0] for g in grads])
    gy = np.choose(best, [g[1] for g in grads])
    mag = mags.max(0)
    mag /= max(float(mag.max()), 1e-6)
    # non-maximum suppression along the gradient direction (4 sectors)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    p = np.pad(mag, 1)
    h, w = mag.shape
    nb = {0: ((0, 1), (0, -1)), 45: ((1, -1), (-1, 1)), 90: ((1, 0), (-1, 0)), 135: ((1, 1), (-1, -1))}
    sector = (np.round(angle / 45.0).astype(int) % 4) * 45
    keep = np.zeros_like(mag, dtype=bool)
    for s, ((dy1, dx1), (dy2, dx2)) in nb.items():
        n1 = p[1 + dy1 : 1 + dy1 + h, 1 + dx1 : 1 + dx1 + w]
        n2 = p[1 + dy2 : 1 + dy2 + h, 1 + dx2 : 1 + dx2 + w]
        keep |= (sector == s) & (mag >= n1) & (mag >= n2)
    thin = np.where(keep, mag, 0.0)
    strong, weak = thin >= high, thin >= low
    # hysteresis: grow strong edges through connected weak ones
    grown = strong
    for _ in range(max(h, w)):
        dil = np.asarray(Image.fromarray(grown.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))) > 0
        nxt = dil & weak
        if np.array_equal(nxt, grown):
            break
        grown = nxt | strong
    line = Image.fromarray(np.where(grown, 0, 255).astype(np.uint8))
    if stroke > 1:
        line = line.filter(ImageFilter.MinFilter(stroke if stroke % 2 else stroke + 1))
    return line


def square(img: Image.Image, size: int) -> Image.Image:
    """Pad to a white square (keeps the aspect ratio) and resize to size x size."""
    w, h = img.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(img, ((side - w) // 2, (side - h) // 2))
    return canvas.resize((size, size), Image.LANCZOS) if side != size else canvas


def image_seed(name: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{seed}:{name}".encode()).digest()[:8], "big")


def sketch(
    img: Image.Image,
    style: str,
    name: str,
    seed: int = 0,
    jitter: float = 0.0,
    radius: float = 0.0,
    stroke: int = 1,
    low: float = 0.08,
    high: float = 0.2,
) -> Image.Image:
    """The sketch of an RGB image (greyscale 'L' image). Deterministic in (image, name, options, seed)."""
    rng = np.random.default_rng(image_seed(name, seed))
    scale = float(np.exp(rng.uniform(-jitter, jitter))) if jitter > 0 else 1.0
    if style == "pencil":
        r = (radius or max(1.0, img.size[0] / 64.0)) * scale
        return pencil(img, r)
    if style == "edge":
        return edges(img, low, high, max(1, round(stroke * scale)))
    raise ValueError(f"unknown sketch style {style!r}: use pencil or edge")


def find_images(src: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTS)]
    return out


def output_name(src: str, path: str) -> str:
    rel = os.path.splitext(os.path.relpath(path, src))[0]
    return rel.replace(os.sep, "__").replace("/", "__")


def output_names(src: str, files: list[str]) -> list[str]:
    """Each picture's pair name (`output_name`), unique even where case is not told apart (macOS, Windows):
    a picture whose name an earlier one has (photo.jpg after photo.png, x/a.png after x__a.png) gets
    "-2" (-3, ...), in the sorted order of the files, so running twice gives the same names."""
    used, out = set(), []
    for path in files:
        base = name = output_name(src, path)
        n = 2
        while name.casefold() in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name.casefold())
        out.append(name)
    return out


def _save_whole(img: Image.Image, path: str) -> None:
    """Save a PNG under a temporary name, then rename it: a file is whole or absent, never half written."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def run_for(dst: str) -> str:
    """The run folder the closing "Next:" line suggests for the dataset `dst`: runs/ and the dataset's own
    name (datasets/edge -> runs/edge; it named runs/my-style whatever the dataset was called)."""
    return os.path.join("runs", os.path.basename(os.path.normpath(os.path.abspath(dst))) or "my-style")


def main(argv: list[str] | None = None, prog: str = "nftgan sketchify") -> int:
    from nftgan.core.cliargs import Parser, error

    p = Parser(
        prog=prog,
        description="Turn a folder of pictures you own into a Pix2Pix dataset: DST/A/ holds a sketch of every "
        "picture, DST/B/ the picture itself (transparency over white, padded to a square, resized). "
        "Then: nftgan train pix2pix --data DST --out RUN_DIR",
        examples=(
            "nftgan sketchify ~/Pictures/my-art datasets/my-style              # pencil sketches",
            "nftgan sketchify ~/Pictures/my-art datasets/my-style --pen edge   # or clean ink lines",
            "nftgan train pix2pix --data datasets/my-style --out runs/my-style",
        ),
        notes="Output depends only on the pictures, the options and --seed: running twice gives the same files.",
    )
    p.add_argument(
        "src", metavar="SRC", help="folder of pictures (subfolders included; png, jpg, webp, bmp, tif, gif)"
    )
    p.add_argument("dst", metavar="DST", help="dataset folder to write (A/ and B/ are created)")
    p.add_argument(
        "--pen",
        choices=("pencil", "edge"),
        default="pencil",
        help="how the sketches are drawn: pencil: soft graphite strokes (colour dodge); edge: clean ink lines "
        "(Canny-like)",
    )
    p.renamed("--style", "--pen")
    p.add_argument(
        "--resize",
        type=int,
        default=286,
        metavar="PX",
        help="resize each picture (padded to a square) so its side is PX pixels (default: 286, the "
        "training crop 256 plus jitter room)",
    )
    p.renamed("--size", "--resize")
    p.add_argument(
        "--radius",
        type=float,
        default=0.0,
        help="pencil: blur radius = stroke width in pixels (default: --resize / 64)",
    )
    p.add_argument("--stroke", type=int, default=1, help="edge: line width in pixels")
    p.add_argument("--low", type=float, default=0.08, help="edge: weak-edge threshold, 0..1")
    p.add_argument("--high", type=float, default=0.2, help="edge: strong-edge threshold, 0..1")
    p.add_argument(
        "--jitter",
        type=float,
        default=0.3,
        help="vary the stroke width per picture by up to this factor in log space "
        "(0 = the same pen for all; 0.3: about x0.74 .. x1.35)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the per-picture variation")
    args = p.parse_args(argv)
    src, dst = os.path.abspath(args.src), os.path.abspath(args.dst)
    if dst == src or src.startswith(dst + os.sep):
        p.fail(
            "DST must be a new folder, not SRC or a folder containing it: sketchify never writes over "
            "your pictures"
        )
    if args.resize < 16:
        p.fail("--resize must be at least 16")
    if not 0 <= args.low <= args.high <= 1:
        p.fail("edge thresholds need 0 <= --low <= --high <= 1")
    # the folders it names: a missing or unusable one fails the work (1), as a missing file does elsewhere
    if os.path.isfile(src):
        return error(prog, f"SRC {args.src} is a file, not a folder of pictures: give the folder it is in")
    if not os.path.isdir(src):
        return error(prog, f"source folder not found: {args.src}")
    if blocked := not_a_folder("DST", args.dst):
        return error(prog, blocked)
    files = [f for f in find_images(src) if not f.startswith(dst + os.sep)]
    if not files:
        return error(prog, f"no pictures found in {args.src} (looked for {', '.join(IMAGE_EXTS)})")
    try:
        for half in ("A", "B"):
            os.makedirs(os.path.join(dst, half), exist_ok=True)
    except OSError as exc:  # a read-only disk, no permission, a full one
        print(f"{prog}: error: {os_error_message(exc, f'making {args.dst}')}", file=sys.stderr)
        return 1
    from tqdm import tqdm

    written, bad, small = 0, [], []
    names = output_names(src, files)
    for path, name in tqdm(list(zip(files, names)), unit="img", desc="sketchify", dynamic_ncols=True):
        try:
            loaded = load_rgb(path)
            if max(loaded.size) * 2 < args.resize:
                small.append(f"{os.path.relpath(path, src)} ({loaded.width}x{loaded.height})")
            picture = square(loaded, args.resize)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            bad.append(f"{path} ({type(exc).__name__}: {exc})")
            continue
        drawing = sketch(
            picture, args.pen, name, args.seed, args.jitter, args.radius, args.stroke, args.low, args.high
        )
        pair = [
            (drawing, os.path.join(dst, "A", name + ".png")),
            (picture, os.path.join(dst, "B", name + ".png")),
        ]
        try:
            for img, out in pair:
                _save_whole(img, out)
        except OSError as exc:  # a full disk: say so; the pair is left out whole, so the dataset stays usable
            for _, out in pair:
                with contextlib.suppress(OSError):
                    os.remove(out)
            print(
                f"{prog}: error: {os_error_message(exc, f'writing {out}')}. {written} of {len(files)} pairs "
                "were written; running the command again writes the same files",
                file=sys.stderr,
            )
            return 1
        written += 1
    for b in bad:
        print(f"{prog}: warning: skipped unreadable file {b}", file=sys.stderr)
    if not written:
        print(
            f"{prog}: error: none of the {len(bad)} pictures in {args.src} could be read: no dataset written",
            file=sys.stderr,
        )
        return 1
    print(
        f"wrote {written} sketch/picture pair{'s' if written != 1 else ''} to {args.dst}"
        + (f" ({len(bad)} unreadable file{'s' if len(bad) > 1 else ''} skipped). " if bad else ". ")
        + f"Next: nftgan train pix2pix --data {shlex.quote(args.dst)} --out {shlex.quote(run_for(args.dst))}"
    )
    if small:  # enlarged more than twice: a blur that training takes for a finished picture
        print(
            f"note: {len(small)} picture{' is' if len(small) == 1 else 's are'} smaller than half of --resize "
            f"{args.resize} px and enlarged to it, blurred (e.g. {small[0]}): training learns that blur as what "
            "a finished picture looks like; leave such pictures out, or give a smaller --resize"
        )
    made = {n + ".png" for n in names}
    stale = sorted(n for n in os.listdir(os.path.join(dst, "A")) if n.endswith(".png") and n not in made)
    if stale:  # an earlier run's pairs (a picture since taken out of SRC): training reads them too
        print(
            f"note: {args.dst} also holds {len(stale)} pair{'s' if len(stale) > 1 else ''} not made from the "
            f"pictures in {args.src} now (e.g. {stale[0]}), left by an earlier run; training reads them too: "
            "remove them from A/ and B/, or write to a new folder"
        )
    return 0
