"""Token metadata: ERC-721 metadata JSON with OpenSea's fields, also valid ERC-1155 metadata.

Keys: name, description, image (ipfs://CID), external_url, attributes (OpenSea trait list),
background_color (six hex digits, no '#'), animation_url (optional, e.g. a GLB of the object).
ERC-1155's schema has the same name/description/image keys and allows the others.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse

from ..errors import MetadataError
from .cid import CID, CIDError

DISPLAY_TYPES = ("number", "boost_number", "boost_percentage", "date")
_HEX6 = re.compile(r"[0-9a-fA-F]{6}")


def ipfs_uri(cid: CID | str) -> str:
    return f"ipfs://{cid}"


PAINTED_ON = {"trait_type": "Painted on", "value": "By the artist, after the models"}


def nftgan_attributes(
    *,
    models: list[dict] = (),
    sketch_cid: str = "",
    painted: bool = False,
    width: int = 0,
    height: int = 0,
    software: str = "",
) -> list[dict]:
    """The attributes NFTGan records: each model used (kind, name, version, its stage's strength when below 1),
    the source sketch's CID, whether the picture was painted on after the models made it (`PAINTED_ON`: a
    result the artist touched up; one cleared and redrawn as a line sketch is published as a sketch, with no
    models), the image size and the software version. A stage run again (a result restyled: its source's
    models, then its own) is numbered from its second run on ("Stylize 2 style"): each trait names one thing,
    as marketplaces list traits by name."""
    attrs: list[dict] = []
    runs: dict[str, int] = {}
    for model in models:
        kind = str(model.get("kind", "model")).capitalize()
        runs[kind] = runs.get(kind, 0) + 1
        kind += f" {runs[kind]}" if runs[kind] > 1 else ""
        attrs.append({"trait_type": f"{kind} style", "value": str(model["name"])})
        if model.get("version"):
            attrs.append({"trait_type": f"{kind} model version", "value": str(model["version"])})
        strength = model.get("strength")
        if isinstance(strength, int | float) and not isinstance(strength, bool) and 0 <= strength < 1:
            attrs.append(
                {"trait_type": f"{kind} strength", "value": float(strength), "display_type": "number"}
            )
    if sketch_cid:
        attrs.append({"trait_type": "Source sketch", "value": ipfs_uri(sketch_cid)})
    if painted and models:
        attrs.append(dict(PAINTED_ON))
    if width and height:
        attrs.append({"trait_type": "Width", "value": int(width), "display_type": "number"})
        attrs.append({"trait_type": "Height", "value": int(height), "display_type": "number"})
    if software:
        attrs.append({"trait_type": "Software", "value": software})
    return attrs


def attribute(trait: str, text: str) -> dict:
    """A trait typed by a user: numbers become numbers ("3" -> 3, "2.5" -> 2.5), the rest stays text."""
    trait, text = trait.strip(), text.strip()
    try:
        number = float(text)
    except ValueError:
        return {"trait_type": trait, "value": text}
    if not math.isfinite(number):
        raise MetadataError(
            f"attribute {trait}={text}: {text!r} is not a finite number (JSON has no NaN or infinity)"
        )
    return {"trait_type": trait, "value": int(number) if number.is_integer() and "." not in text else number}


def user_attributes(rows) -> list[dict]:
    """The attributes typed into rows of (trait, value), each `attribute`: a row left empty is skipped (Add pressed,
    nothing typed); a value with no trait name is refused, naming its row (from 1) and value, where it was left out
    of the token without a word."""
    out = []
    for i, (trait, text) in enumerate(rows, 1):
        if trait.strip():
            out.append(attribute(trait, text))
        elif text.strip():
            raise MetadataError(
                f"attribute {i} has the value {text.strip()!r} but no trait name: name its trait, or remove the row"
            )
    return out


def software_version() -> str:
    """ "NFTGan <version>" from the extension manifest (beside the add-on package when installed, at the
    repository root in a source checkout)."""
    import os
    import tomllib

    addon = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for folder in (addon, os.path.dirname(addon)):
        try:
            with open(os.path.join(folder, "blender_manifest.toml"), "rb") as fh:
                return f"NFTGan {tomllib.load(fh)['version']}"
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            continue
    return "NFTGan"


def build_metadata(
    *,
    name: str,
    image_cid: CID | str,
    description: str = "",
    external_url: str = "",
    attributes: list[dict] = (),
    background_color: str = "",
    animation_cid: CID | str | None = None,
) -> dict:
    meta: dict = {"name": name.strip(), "description": description.strip(), "image": ipfs_uri(image_cid)}
    if external_url.strip():
        meta["external_url"] = external_url.strip()
    meta["attributes"] = [dict(a) for a in attributes]
    if background_color.strip():
        meta["background_color"] = background_color.strip().lstrip("#").lower()
    if animation_cid:
        meta["animation_url"] = ipfs_uri(animation_cid)
    validate(meta)
    return meta


def _check_uri(value: object, key: str, problems: list[str], *, ipfs_only: bool = False) -> None:
    if not isinstance(value, str) or not value:
        problems.append(f"{key} must be a non-empty string")
        return
    if value.startswith("ipfs://"):
        try:
            CID.parse(value)
        except CIDError as exc:
            problems.append(f"{key}: {exc}")
        return
    parts = urllib.parse.urlsplit(value)
    if ipfs_only or parts.scheme not in ("https", "http") or not parts.netloc:
        want = "an ipfs://CID URI" if ipfs_only else "an ipfs:// or http(s):// URL"
        problems.append(f"{key} must be {want}, not {value!r}")


def _text(value: object, where: str, problems: list[str]) -> None:
    """A text holding a lone surrogate: bytes of another encoding than UTF-8 as Python decodes a file name
    or an argument (caf\\xe9.png -> 'caf\\udce9'), which no UTF-8 file can hold."""
    if isinstance(value, str):
        bad = next((i for i, c in enumerate(value) if "\ud800" <= c <= "\udfff"), None)
        if bad is not None:
            problems.append(
                f"{where} is not valid text: character {bad + 1} is {value[bad]!r} (bytes in another encoding "
                "than UTF-8? e.g. a file name from an old archive): give it again as UTF-8"
            )


def validate(meta: dict) -> None:
    """Raise MetadataError listing every problem, or return None."""
    problems: list[str] = []
    known = {
        "name",
        "description",
        "image",
        "external_url",
        "attributes",
        "background_color",
        "animation_url",
    }
    for key in sorted(set(meta) - known):
        problems.append(f"unknown key {key!r}")
    for key in ("name", "description", "external_url", "background_color"):
        _text(meta.get(key), key, problems)
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name is required")
    elif len(name) > 200:
        problems.append("name is longer than 200 characters")
    if not isinstance(meta.get("description", ""), str):
        problems.append("description must be text")
    _check_uri(meta.get("image"), "image", problems, ipfs_only=True)
    if "external_url" in meta:
        _check_uri(meta["external_url"], "external_url", problems)
    if "animation_url" in meta:
        _check_uri(meta["animation_url"], "animation_url", problems)
    color = meta.get("background_color")
    if color is not None and not (isinstance(color, str) and _HEX6.fullmatch(color)):
        problems.append(f"background_color must be six hex digits without '#', not {color!r}")
    attrs = meta.get("attributes", [])
    if not isinstance(attrs, list):
        problems.append("attributes must be a list")
        attrs = []
    for i, attr in enumerate(attrs):
        where = f"attributes[{i}]"
        if not isinstance(attr, dict):
            problems.append(f"{where} must be an object")
            continue
        extra = set(attr) - {"trait_type", "value", "display_type", "max_value"}
        if extra:
            problems.append(f"{where} has unknown keys {sorted(extra)}")
        trait = attr.get("trait_type")
        if not isinstance(trait, str) or not trait.strip():
            problems.append(f"{where}: trait_type is required")
        value = attr.get("value")
        _text(trait, f"{where}: trait_type", problems)
        _text(value, f"{where} ({trait}): value", problems)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
            problems.append(f"{where} ({trait}): value must be a non-empty string or a number")
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                f"{where} ({trait}): {value} is not a finite number (JSON has no NaN or infinity)"
            )
        display = attr.get("display_type")
        if display is not None:
            if display not in DISPLAY_TYPES:
                problems.append(f"{where} ({trait}): display_type must be one of {', '.join(DISPLAY_TYPES)}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{where} ({trait}): display_type {display} needs a numeric value")
    if problems:
        raise MetadataError("invalid token metadata: " + "; ".join(problems))


def to_json_bytes(meta: dict) -> bytes:
    """The exact bytes uploaded (and hashed): stable key order, UTF-8."""
    validate(meta)
    return (json.dumps(meta, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")
