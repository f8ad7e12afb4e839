"""The one publish request NFTGan builds (Blender operator, collection publisher, `nftgan publish`):
attributes in a fixed order, model provenance as structured records, the size from the PNG header."""

from __future__ import annotations

import hashlib
import json

from nftgan.core.contract import describe_model
from nftgan.core.imageio import png_size
from nftgan.core.publish import provenance
from nftgan.core.styles import model_hash

from .conftest import png_bytes


def test_png_size_reads_the_header_and_refuses_other_formats():
    assert png_size(png_bytes(32)) == (32, 32)
    assert png_size(b"\xff\xd8\xff\xe0 a JPEG") is None
    assert png_size(b"\x89PNG\r\n\x1a\n") is None  # cut off before the header


def test_request_attributes_in_order_with_provenance(tmp_path):
    records = [{"kind": "stylize", "name": "Ink wash", "version": "0123456789ab"}]
    req = provenance.nftgan_request(
        png_bytes(24),
        name="Dawn",
        models=records,
        sketch_cid="bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y",
        traits=[{"trait_type": "Seed", "value": 7}],
        attributes=[{"trait_type": "Edition", "value": 1}],
    )
    names = [a["trait_type"] for a in req.attributes]
    assert names == [
        "Seed",
        "Stylize style",
        "Stylize model version",
        "Source sketch",
        "Width",
        "Height",
        "Software",
        "Edition",
    ]
    traits = {a["trait_type"]: a["value"] for a in req.attributes}
    assert traits["Width"] == traits["Height"] == 24 and traits["Stylize model version"] == "0123456789ab"
    jpeg = provenance.nftgan_request(b"\xff\xd8\xff\xe0", name="J", image_ext=".jpg")
    assert "Width" not in {a["trait_type"] for a in jpeg.attributes}  # no header read: no size claimed
    sized = provenance.nftgan_request(b"\xff\xd8\xff\xe0", name="J", image_ext=".jpg", size=(640, 480))
    assert {a["trait_type"]: a["value"] for a in sized.attributes}["Width"] == 640


def test_model_records_round_trip_as_json(test_models):
    info = describe_model(str(test_models / "stylize.onnx"))
    record = provenance.model_record("stylize", info)
    digest = hashlib.sha256((test_models / "stylize.onnx").read_bytes()).hexdigest()
    assert record == {"kind": "stylize", "name": info.name, "version": digest[:12]}
    assert model_hash(info.path) == digest
    assert provenance.models_from_json(provenance.models_json([record])) == [record]
    assert provenance.describe([record]) == f"stylize: {info.name}"
    for stored in ("", "colorize: Clip-art Colour, stylize: 3D Clay", "{}", "[1, {}]"):
        assert provenance.models_from_json(stored) == []  # not NFTGan's records: nothing claimed


def test_provenance_from_another_persons_file_is_read_only_as_records():
    """`nftgan_models` comes from the .blend, which may be someone else's: 100 kB of '[' raised RecursionError
    out of Publish (only ValueError was expected), and a record whose name or version is a list or an object went
    into the token's traits as Python's repr of it ("{'a': [...]}")."""
    assert provenance.models_from_json("[" * 100_000) == []
    good = {"kind": "stylize", "name": "Ink wash", "version": "0123456789ab", "strength": 0.5}
    text = json.dumps(
        [
            good,
            {"kind": "stylize", "name": {"a": [1, 2]}, "version": "0123456789ab"},
            {"kind": ["colorize"], "name": "x"},
            {"kind": "upscale", "name": "x", "version": [1]},
            {"kind": "upscale", "name": "x" * 10_000},
            {
                "kind": "Mint 100 free",
                "name": "x",
                "version": "0123456789ab",
            },  # a trait "Mint 100 free style"
        ]
    )
    assert provenance.models_from_json(text) == [good]


def test_a_picture_painted_on_after_its_models_says_so_after_them():
    """A result the artist touched up after Stylize says so, after its models and sketch; a picture no model
    made (a result redrawn as a line sketch, published as one) claims no painting over models."""
    records = [{"kind": "colorize", "name": "Clip-art Colour", "version": "0123456789ab"}]
    sketch = "bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y"
    req = provenance.nftgan_request(png_bytes(8), name="T", models=records, sketch_cid=sketch, painted=True)
    names = [a["trait_type"] for a in req.attributes]
    assert names[:4] == ["Colorize style", "Colorize model version", "Source sketch", "Painted on"], names
    assert req.attributes[3]["value"] == "By the artist, after the models"
    plain = provenance.nftgan_request(png_bytes(8), name="T", models=records, sketch_cid=sketch)
    assert "Painted on" not in {a["trait_type"] for a in plain.attributes}
    drawn = provenance.nftgan_request(png_bytes(8), name="T", painted=True)
    assert [a["trait_type"] for a in drawn.attributes] == ["Width", "Height", "Software"]


def _png_of_rows(levels, filters) -> bytes:
    """A PNG of 8-bit levels (H, W, C) top-down, row i filtered with filters[i] (0 None, 1 Sub, 2 Up; another
    type: the row as it is, led by that type)."""
    import struct
    import zlib

    import numpy as np

    h, w, c = levels.shape
    flat = levels.reshape(h, w * c).astype(np.int32)
    rows = []
    for i, f in enumerate(filters):
        row = flat[i].copy()
        if f == 1:
            row[c:] -= flat[i, :-c]
        elif f == 2 and i:
            row -= flat[i - 1]
        rows.append(bytes([f]) + (row % 256).astype(np.uint8).tobytes())

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def test_png_levels_decodes_none_sub_and_up_rows_and_refuses_the_rest():
    """Publish looks at the PNG bytes it sends (a saved result's) to tell a line drawing: the levels as pillow
    reads them, for NFTGan's own PNGs (Up rows) and any PNG of None, Sub and Up rows; None for what it cannot
    decode without pillow (Blender has none): Average or Paeth rows, JPEG, 16-bit, interlaced."""
    import io

    import numpy as np
    from nftgan.core.imageio import encode_png
    from PIL import Image

    rng = np.random.default_rng(5)
    for c in (3, 4):
        rgba = rng.random((37, 29, 4), dtype=np.float32)
        if c == 3:
            rgba[..., 3] = 1.0
        png = encode_png(rgba)
        assert np.array_equal(provenance.png_levels(png), np.asarray(Image.open(io.BytesIO(png))))
    for c in (1, 2, 3, 4):
        levels = rng.integers(0, 256, (9, 6, c), dtype=np.uint8)
        for filters in ([2, 2, 1, 0, 2, 2, 2, 1, 2], [1] * 9, [0, 2, 0, 1, 1, 2, 0, 2, 1]):
            got = provenance.png_levels(_png_of_rows(levels, filters))
            assert np.array_equal(got, levels), (c, filters)
    saved = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(saved, "PNG")  # adaptive filters
    assert provenance.png_levels(saved.getvalue()) is None
    assert provenance.png_levels(_png_of_rows(levels, [0, 2, 4, 0, 0, 0, 0, 0, 3])) is None  # Paeth, Average
    assert provenance.png_levels(b"\xff\xd8\xff\xe0 a JPEG") is None
    assert provenance.png_levels(_png_of_rows(levels, [0] * 9)[:40]) is None  # cut off
    sixteen = io.BytesIO()
    Image.fromarray(rng.integers(0, 65536, (8, 8), dtype=np.uint16)).save(sixteen, "PNG")
    assert provenance.png_levels(sixteen.getvalue()) is None
