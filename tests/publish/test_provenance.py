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
        ]
    )
    assert provenance.models_from_json(text) == [good]
