"""What NFTGan says about a piece it publishes: the one publish request with NFTGan's attributes.

Used by the Blender operator, the collection publisher (core/collection.py) and `nftgan publish`, so a
token carries the same attributes whichever way it was made: the item's own traits (e.g. a collection
token's seed), each model that made it with its version (the model file's hash), the source sketch's
CID, the image size and NFTGan's version, then the user's own attributes.

Model provenance is structured: a list of {"kind", "name", "version"[, "strength"]} records, kept on a result image as
JSON (`models_json` / `models_from_json`) from the moment the models made it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from ..contract import KINDS, ModelInfo
from ..imageio import fits, png_size
from ..styles import model_hash
from . import metadata as md
from .service import Request

VERSION_DIGITS = 12  # a model's version: the first hex digits of its file's SHA-256


def model_record(kind: str, info: ModelInfo, strength: float = 1.0) -> dict:
    """The provenance of one model use: its kind (pipeline stage), name and version, and its stage's strength
    when below 1 (the result a mix of the stage's input and the model's output)."""
    record = {"kind": kind, "name": info.name, "version": model_hash(info.path)[:VERSION_DIGITS]}
    if strength < 1.0:
        record["strength"] = round(float(strength), 3)
    return record


def models_json(records: Sequence[dict]) -> str:
    return json.dumps(list(records), sort_keys=True)


def models_from_json(text: str) -> list[dict]:
    """The records stored by `models_json`; [] for anything else (an image NFTGan did not make). The text comes
    from a .blend, which may be someone else's: a record is kept only in the shape `model_record` makes (texts
    of a sensible length, a number for the strength), so nothing else reaches a token's traits."""
    try:
        records = json.loads(text) if text else []
    except (ValueError, RecursionError):  # (100 kB of '[': RecursionError)
        return []
    if not isinstance(records, list):
        return []
    return [r for r in records if _record(r)]


def _record(r: object) -> bool:
    def text(value: object, most: int) -> bool:
        return isinstance(value, str) and 0 < len(value) <= most

    strength = r.get("strength", 1.0) if isinstance(r, dict) else None
    return (
        isinstance(r, dict)
        and r.get("kind") in KINDS
        and text(r.get("name"), 200)
        and ("version" not in r or r["version"] == "" or text(r["version"], 64))
        and isinstance(strength, int | float)
        and not isinstance(strength, bool)
    )


def describe(records: Sequence[dict]) -> str:
    """The models in words: "colorize: Clip-art Colour, stylize: 3D Clay"."""
    return ", ".join(f"{r['kind']}: {r['name']}" for r in records)


_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> channels (8-bit grey, RGB, grey + alpha, RGBA)


def png_levels(data: bytes) -> np.ndarray | None:
    """The 8-bit levels (H, W, C) uint8, top-down, of a PNG whose rows are filtered None, Sub or Up (NFTGan's own
    encoder writes Up: every result's PNG and the PNG a saved .blend packs of a result painted on), 8-bit,
    not interlaced, grey or RGB with or without alpha; None for any other file (a JPEG, another encoder's
    Average or Paeth rows, 16-bit, a palette, a size over NFTGan's limits), which needs a full decoder (pillow, which Blender lacks).
    Pure numpy and zlib, for the worker: 10-26 ms at 1024^2, 0.17-0.35 s at 4096^2 (drawings to noise, load)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        length, tag = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if tag == b"IHDR" and len(body) == 13:
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        return None
    w, h, depth, colour, _, _, interlace = header
    c = _PNG_CHANNELS.get(colour)
    if depth != 8 or c is None or interlace or not w or not h or not fits(h, w):
        return None
    try:
        raw = zlib.decompressobj().decompress(b"".join(idat), h * (1 + w * c) + 1)
    except zlib.error:
        return None
    if len(raw) != h * (1 + w * c):
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(h, 1 + w * c)
    filters = rows[:, 0]
    if int(filters.max()) > 2:
        return None
    out = rows[:, 1:].reshape(h, w, c).copy()
    for y in np.flatnonzero(filters).tolist():  # in order: an Up row adds the row above as decoded
        if filters[y] == 2:
            if y:
                out[y] += out[y - 1]  # (uint8: modulo 256)
        else:  # Sub: each byte plus the one a pixel to its left
            np.cumsum(out[y], axis=0, dtype=np.uint8, out=out[y])
    return out


def nftgan_request(
    image: bytes,
    *,
    name: str,
    image_ext: str = ".png",
    size: tuple[int, int] | None = None,
    models: Sequence[dict] = (),
    sketch_cid: str = "",
    painted: bool = False,
    traits: Sequence[dict] = (),
    attributes: Sequence[dict] = (),
    description: str = "",
    external_url: str = "",
    background_color: str = "",
    animation: bytes | None = None,
) -> Request:
    """The publish request for a piece made with NFTGan. `size` defaults to the PNG header's (none for
    other formats); `traits` are the item's own attributes (first), `attributes` the user's (last); `painted`:
    the picture was painted on after `models` made it (said so: `metadata.PAINTED_ON`)."""
    width, height = size or png_size(image) or (0, 0)
    made = md.nftgan_attributes(
        models=models,
        sketch_cid=sketch_cid,
        painted=painted,
        width=width,
        height=height,
        software=md.software_version(),
    )
    return Request(
        image=image,
        name=name,
        image_ext=image_ext,
        description=description,
        external_url=external_url,
        background_color=background_color,
        attributes=[*traits, *made, *attributes],
        animation=animation,
    )
