"""The style registry: every .onnx model NFTGan can see, valid or not.

Models come from the add-on's bundled `addon/models/` folder plus the user's folders
(add-on preferences). Each file is checked against the model contract once per version (cached by
path, size, modification time, inode and status-change time); an invalid file is listed with the reason instead of
breaking the picker.

An int8 variant (`NAME.int8.onnx`, made by `nftgan export --int8`) belongs to its fp32 model `NAME.onnx`
in the same folder: one style, two files. `Style.model(precision)` says which file runs: "auto" takes int8
where the CPU computes it fast (VNNI / AMX, `cpu.int8_pays`), fp32 elsewhere; "fp32" / "int8" force one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import threading
from dataclasses import dataclass

from . import cpu
from .contract import ModelError, ModelInfo, describe_model

BUNDLED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
INT8_SUFFIX = ".int8.onnx"
PRECISIONS = ("auto", "fp32", "int8")
HOW_TO_GET_STYLES = (
    "No styles installed. Add a folder of NFTGan .onnx models in the add-on preferences "
    "(Edit > Preferences > Add-ons > NFTGan > Model folders), or train one: "
    "`nftgan train pix2pix ...` then `nftgan export CKPT -o style.onnx`."
)


@dataclass(frozen=True)
class Style:
    path: str
    info: ModelInfo | None = None
    error: str = ""  # why the model cannot be used (empty when valid)
    int8: ModelInfo | None = None  # the model's int8 variant, when one is beside it
    file_bytes: int = 0  # the model file's size
    uid: str = ""  # the id when the file's own name is taken by an earlier folder's file (see `scan`)

    def model(self, precision: str = "auto") -> ModelInfo | None:
        """The file to run: the int8 variant for "int8", or for "auto" on a CPU with VNNI/AMX; else fp32."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        use_int8 = precision == "int8" or (precision == "auto" and cpu.int8_pays())
        return self.int8 if use_int8 and self.int8 is not None else self.info

    @property
    def ok(self) -> bool:
        return self.info is not None

    @property
    def id(self) -> str:
        """What a picker stores: the file name without .onnx, unique among the styles listed (`scan`)."""
        return self.uid or os.path.splitext(os.path.basename(self.path))[0]

    @property
    def kind(self) -> str:
        return self.info.kind if self.info else ""

    @property
    def name(self) -> str:
        return self.info.name if self.info else self.id

    @property
    def description(self) -> str:
        return self.info.description if self.info else ""

    @property
    def card_path(self) -> str:
        """The model card beside the model (NAME.md, as `nftgan export --card` writes it); may not exist."""
        return os.path.splitext(self.path)[0] + ".md"

    @functools.cached_property
    def tooltip(self) -> str:
        """The card in short for a picker's hover text: name and description, what it was trained on, its
        license and sizes (from the model's own metadata: made once per Style, no file is read)."""
        if self.info is None:
            return self.error
        return "\n".join(f"{k}: {v}" if k else v for k, v in card_rows(self)[:5])


_cache: dict[tuple, Style] = {}
_cache_lock = threading.Lock()
_ort_error: list[str] = []  # filled once: "" when onnxruntime loads, else the sentence for the user
_ort_lock = threading.Lock()


def onnxruntime_error() -> str:
    """Empty when onnxruntime loads, else one sentence for the user: what failed and what to do.

    onnxruntime is imported once (the add-on does it on the worker when it starts) and the outcome kept. A
    broken one (a wheel for another system or Python, a DLL that fails to initialise) turns off only what
    runs models; publishing and the gallery need none and go on working."""
    with _ort_lock:
        if not _ort_error:
            try:
                import onnxruntime  # noqa: F401

                _ort_error.append("")
            except Exception as exc:  # noqa: BLE001 - ImportError, OSError from a DLL, whatever its import raises
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                reason = re.sub(r"\S*[/\\](\S+)", r"\1", reason)[:200]  # file names without their folders
                _ort_error.append(
                    f"Stylize and Generate are off because onnxruntime could not be loaded ({reason}): "
                    "install the NFTGan zip for your system again (Edit > Preferences > Get Extensions > "
                    "Install from Disk) and restart Blender."
                )
        return _ort_error[0]


def _version(st: os.stat_result) -> tuple:
    """What tells one version of a file from another without reading it: its size and modification time, and
    its inode and status-change time, so a file replaced by another of the same size and modification time
    (copied with its times kept, `cp -p`; put in its place by `os.replace`) is read anew."""
    return (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_ctime_ns)


def _describe(path: str) -> Style:
    """The style of the model file at `path`, checked once per version of the file (`_version`)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return Style(path, error=f"{os.path.basename(path)}: cannot read ({exc.strerror}).")
    key = (path, *_version(st))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        style = Style(path, info=describe_model(path), file_bytes=st.st_size)
    except ModelError as exc:
        style = Style(path, error=str(exc))
    with _cache_lock:
        _cache[key] = style
    return style


def unchanged(style: Style) -> bool:
    """Whether the style's files (the model and its int8 variant) are still the ones it was made from: a stat
    each while they are (cached per version of the file, `_version`); a changed or removed file is checked
    again, as a scan would."""
    return all(_describe(info.path).info == info for info in (style.info, style.int8) if info is not None)


def model_folders(user_folders=()) -> list[str]:
    """The bundled folder first, then the user's folders (deduplicated, missing ones kept for reporting)."""
    seen, out = set(), []
    for folder in (BUNDLED_DIR, *user_folders):
        if not folder:
            continue
        folder = os.path.abspath(os.path.expanduser(folder))
        if folder not in seen:
            seen.add(folder)
            out.append(folder)
    return out


def scan(user_folders=()) -> list[Style]:
    """All .onnx files in the model folders, sorted by kind then name; invalid ones carry `error`.
    None without a working onnxruntime (see onnxruntime_error())."""
    if onnxruntime_error():
        return []
    styles = []
    for folder in model_folders(user_folders):
        if not os.path.isdir(folder):
            if folder != BUNDLED_DIR:
                what = "is a file, not a folder of models" if os.path.exists(folder) else "does not exist"
                styles.append(Style(folder, error=f"model folder {folder} {what}."))
            continue
        names = {e.lower(): e for e in os.listdir(folder) if e.lower().endswith(".onnx")}
        if not names and folder != BUNDLED_DIR:
            styles.append(Style(folder, error=_no_models(folder)))
        for low, entry in sorted(names.items()):
            if low.endswith(INT8_SUFFIX) and low[: -len(INT8_SUFFIX)] + ".onnx" in names:
                continue  # an int8 variant: it comes with its fp32 model
            style = _describe(os.path.join(folder, entry))
            variant = names.get(low[: -len(".onnx")] + INT8_SUFFIX)
            if variant and style.ok:
                style = _with_int8(style, _describe(os.path.join(folder, variant)))
            styles.append(style)
    return sorted(_unique_ids(styles), key=lambda s: (not s.ok, s.kind, s.name.lower(), s.path))


def _unique_ids(styles: list[Style]) -> list[Style]:
    """`styles` (in folder order: the bundled folder first) with ids unique regardless of case: a file whose
    name an earlier folder's file has (a fine-tune exported as colorize-flat.onnx, my-style.onnx in two
    folders) gets "<name>-2" (-3, ...), so a picker can store each one and runs the one picked. The same
    folders give the same ids, so a saved scene keeps its choice."""
    taken = {s.id.lower() for s in styles}
    seen: set[str] = set()
    out = []
    for style in styles:
        sid = style.id
        if sid.lower() in seen:
            n = 2
            while f"{sid}-{n}".lower() in taken:
                n += 1
            sid = f"{sid}-{n}"
            taken.add(sid.lower())
            style = dataclasses.replace(style, uid=sid)
        seen.add(sid.lower())
        out.append(style)
    return out


def _no_models(folder: str) -> str:
    """Why a model folder adds no style: it holds no .onnx file (and where its subfolders hold some)."""
    deeper = 0
    for _root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        deeper += sum(f.lower().endswith(".onnx") for f in files)
        if deeper > 99:
            break
    where = (
        f"; {deeper} {'is' if deeper == 1 else 'are'} in its subfolders: add the folder that holds "
        f"{'it' if deeper == 1 else 'them'} (subfolders are not read)"
        if deeper
        else ": export a style into it (`nftgan export RUN -o FOLDER/NAME.onnx`), or pick the folder that holds yours"
    )
    return f"model folder {folder} holds no .onnx model files{where}."


def at_path(path: str) -> Style:
    """The model file at `path` (`nftgan stylize --style FOLDER/NAME.onnx`) as the style a scan of its folder
    lists: its int8 variant NAME.int8.onnx beside it attached, so --precision picks between them as it does
    for a style named by id. A path to the int8 file itself is that file alone. Raises ModelError (saying
    why) when the file is not a valid model. Read once per version of the file, as a scan reads it."""
    style = _describe(path)
    if not style.ok:
        raise ModelError(style.error)
    low = path.lower()
    if low.endswith(".onnx") and not low.endswith(INT8_SUFFIX):
        variant = path[: -len(".onnx")] + INT8_SUFFIX
        if os.path.isfile(variant):
            style = _with_int8(style, _describe(variant))
    return style


def _with_int8(style: Style, variant: Style) -> Style:
    """`style` with its int8 variant attached, when the variant is usable and was made from this very model
    (same kind, sizes and training record: a variant left over from an older export is ignored)."""
    same = ("kind", "size", "multiple_of", "scale", "work_size", "keep_colours", "training")
    if not variant.ok or any(getattr(variant.info, k) != getattr(style.info, k) for k in same):
        return style
    return dataclasses.replace(style, int8=variant.info)


def of_kind(styles: list[Style], kind: str) -> list[Style]:
    return [s for s in styles if s.ok and s.kind == kind]


def find(styles: list[Style], kind: str, wanted: str | None) -> Style | None:
    """The valid style of `kind` whose id, name or path is `wanted` (case-insensitive); the first one if None."""
    candidates = of_kind(styles, kind)
    if not wanted:
        return candidates[0] if candidates else None
    w = wanted.lower()
    for s in candidates:
        if w in (s.id.lower(), s.name.lower(), os.path.abspath(s.path).lower()):
            return s
    return None


_hashes: dict[tuple, str] = {}


def model_hash(path: str) -> str:
    """The SHA-256 (hex) of a model file: its identity in provenance, thumbnails and collections. Read
    once per version of the file (`_version`)."""
    st = os.stat(path)
    key = (os.path.abspath(path), *_version(st))
    with _cache_lock:
        known = _hashes.get(key)
    if known is None:
        with open(path, "rb") as fh:
            known = hashlib.file_digest(fh, "sha256").hexdigest()
        with _cache_lock:
            _hashes[key] = known
    return known


def fingerprint(path: str) -> str:
    """A short content hash (style thumbnails are cached under it)."""
    return model_hash(path)[:16]


# ----------------------------------------------------------------------------------------------- cards

CARD_MAX_BYTES = 256 * 1024  # a model card is a page of Markdown; more is not shown


def card_rows(style: Style) -> list[tuple[str, str]]:
    """The card's facts from the model's metadata, as (label, text) rows; the first five are the hover text:
    the name and description, what it was trained on, the license, the sizes."""
    info, t = style.info, style.info.training or {}
    # `nftgan export --license` of the default styles reads "<license> weights; trained on <data (licenses)>"
    license_, _, trained_on = (info.license or "").partition("; trained on ")
    counts = ", ".join(
        f"{t[k]} {word}"
        for k, word in (("images", "images"), ("steps", "steps"))
        if isinstance(t.get(k), int)
    )
    trained_on = trained_on or str(t.get("dataset") or "")
    if counts:
        trained_on = f"{trained_on}; {counts}" if trained_on else counts
    if info.kind == "upscale":
        sizes = f"x{info.scale}, trained on {info.input_size} -> {info.size} px crops"
    elif info.kind == "generate":
        sizes = f"{info.size} x {info.size} px pictures"
    else:
        sizes = f"trained at {info.size} px"
        if info.work_size:
            sizes += f"; sketches larger than {info.work_size} px run at {info.work_size} px"
    if style.file_bytes:
        sizes += f"; {style.file_bytes / 1e6:.1f} MB"
    rows = [
        ("", f"{info.name}: {info.description}" if info.description else info.name),
        ("Trained on", trained_on or "not stated"),
        ("License", license_.removesuffix(" weights") or "not stated"),
        ("Size", sizes),
        (
            "Kind",
            info.kind
            + (" (with an int8 variant)" if style.int8 is not None else "")
            + ("; keeps your colours and white paper, adds its shading" if info.keep_colours else ""),
        ),
    ]
    if hardware := t.get("hardware"):
        minutes = f", {t['seconds'] / 60:.0f} min" if isinstance(t.get("seconds"), (int, float)) else ""
        rows.append(("Training", f"{hardware}{minutes}"))
    if init_from := t.get("init_from"):  # `nftgan train --init`: the file it was fine-tuned from
        rows.append(("Fine-tuned from", str(init_from)))
    if metrics := t.get("val_metrics"):
        rows.append(("Validation", ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))))
    rows.append(("File", os.path.basename(style.path)))
    return rows


def card_text(style: Style) -> str:
    """The style's full model card (Markdown): the NAME.md beside the model when there is one, else a card
    made from the model's metadata (with a note on how to write a full one)."""
    try:
        with open(style.card_path, "rb") as fh:
            text = fh.read(CARD_MAX_BYTES).decode("utf-8", "replace")
        # control characters but tab and line ends read as spaces: Blender ends a text at a NUL
        text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)
        if text.strip():
            return text
    except OSError:
        pass
    rows = card_rows(style)
    lines = [f"# {style.name}", "", style.description or "", ""] + [f"{k}: {v}" for k, v in rows[1:]]
    lines += [
        "",
        f"No model card beside {os.path.basename(style.path)}: `nftgan export CKPT -o MODEL.onnx --card "
        "MODEL.md` writes one next to the model.",
    ]
    return "\n".join(lines) + "\n"


def card_lines(text: str) -> list[str]:
    """A Markdown card as plain lines for a popup: headings without '#', table rows as "label: value",
    the table's header and rule rows dropped, blank lines kept (one at a time)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not any(cells) or all(set(c) <= set("-: ") for c in cells):
                continue
            line = (
                f"{cells[0]}: {' | '.join(cells[1:])}" if len(cells) > 1 and cells[0] else " | ".join(cells)
            )
        elif line.startswith("#"):
            line = line.lstrip("#").strip()
        line = line.replace("`", "").replace("**", "")
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


# The built-in sample sketch (a house under a sun) that style thumbnails show each style applied to.
SAMPLE_STROKES = [
    [(0.2, 0.15), (0.8, 0.15), (0.8, 0.55), (0.2, 0.55), (0.2, 0.15)],  # walls
    [(0.15, 0.55), (0.5, 0.85), (0.85, 0.55)],  # roof
    [(0.42, 0.15), (0.42, 0.38), (0.58, 0.38), (0.58, 0.15)],  # door
    [(0.27, 0.42), (0.37, 0.42), (0.37, 0.5), (0.27, 0.5), (0.27, 0.42)],  # window
    [(0.65, 0.42), (0.75, 0.42), (0.75, 0.5), (0.65, 0.5), (0.65, 0.42)],  # window
    [(0.05, 0.08), (0.95, 0.08)],  # ground
]


def sample_sketch(size: int):
    import numpy as np

    from .imageio import draw_strokes

    img = np.ones((size, size, 4), dtype=np.float32)
    return draw_strokes(img, SAMPLE_STROKES, width=max(1.5, size / 80))


def thumbnail(style: Style, cache_dir: str, size: int = 128, threads: int = 0, provider: str = "auto") -> str:
    """Path of a PNG showing `style` applied to the sample sketch (made once per model content, cached; a
    colorize style's once per exemplar index beside it too: its colours, exemplar.beside)."""
    from . import exemplar, imageio, pipeline

    os.makedirs(cache_dir, exist_ok=True)
    tag = ""
    if style.kind == "colorize":
        try:
            st = os.stat(exemplar.index_path(style.path))
            tag = f"-x{st.st_size:x}{st.st_mtime_ns:x}"
        except OSError:
            tag = "-own"  # (its own colours)
    out = os.path.join(cache_dir, f"{style.id}-{fingerprint(style.path)}{tag}.png")
    if not os.path.exists(out):
        sketch = sample_sketch(style.info.size)
        models = {style.kind: style.info}
        if style.kind == "generate":
            raise ModelError(f"{style.name}: generate models have no sketch thumbnail.")
        result = pipeline.run(sketch, models=models, threads=threads, provider=provider)
        imageio.write_png(out, imageio.resize(result[style.kind], size, size))
    return out
