"""`nftgan publish` from the command line (in-process): the Offline backend, and the messages a token gets."""

from __future__ import annotations

import json

import pytest
from nftgan.core.publish.cli import publish_main
from nftgan.core.publish.ledger import Ledger
from nftgan.core.publish.unixfs import cid_of_bytes

from .conftest import png_bytes


def test_publish_command_offline_with_attributes_and_sketch(tmp_path, capsys):
    art, sketch = tmp_path / "art.png", tmp_path / "sketch.png"
    art.write_bytes(png_bytes(32, 1))
    sketch.write_bytes(png_bytes(32, 2))
    out, db = tmp_path / "out", tmp_path / "ledger.sqlite"
    args = [
        str(art),
        "--name",
        "Dawn",
        "--description",
        "first light",
        "--endpoint",
        str(out),
        "--ledger",
        str(db),
        "--attribute",
        "Edition=1",
        "--attribute",
        "Mood=calm",
        "--sketch",
        str(sketch),
        "--background-color",
        "#00ff00",
    ]
    assert publish_main([*args, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert not out.exists() and Ledger(db).rows() == []  # a dry run sends and records nothing
    assert publish_main(args) == 0
    printed = capsys.readouterr().out
    (row,) = Ledger(db).rows()
    # written to a folder, not on IPFS: said so, with the command that uploads it; never "published"
    assert row.state == "staged" and row.token_uri == dry["token_uri"] and row.token_uri in printed
    assert printed.startswith("staged ") and "NOT on IPFS yet" in printed and "published" not in printed
    assert f"ipfs dag import {out / row.image_cid}.car {out / row.metadata_cid}.car" in printed
    assert publish_main(args) == 0  # the same publish again: recognised, nothing written twice
    assert "already staged (ledger row 1" in capsys.readouterr().out and len(Ledger(db).rows()) == 1
    meta = json.loads((out / f"{row.metadata_cid}.json").read_text())
    traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    assert traits["Edition"] == 1 and traits["Mood"] == "calm" and meta["background_color"] == "00ff00"
    assert traits["Source sketch"] == f"ipfs://{cid_of_bytes(sketch.read_bytes())}"
    assert traits["Software"].startswith("NFTGan ")
    assert traits["Width"] == traits["Height"] == 32  # from the PNG's header


def test_publish_command_errors_are_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NFTGAN_TOKEN", raising=False)
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    db = str(tmp_path / "l.sqlite")
    assert publish_main([str(art), "--background-color", "green", "--ledger", db]) == 1
    assert "background_color must be six hex digits" in capsys.readouterr().err
    assert publish_main([str(tmp_path / "nope.png"), "--ledger", db]) == 1
    assert "nope.png" in capsys.readouterr().err
    assert publish_main([str(art), "--backend", "pinata", "--ledger", db]) == 1
    err = capsys.readouterr().err
    assert "Pinata needs an API token: set it in the environment variable $NFTGAN_TOKEN" in err
    assert "preferences" not in err  # the command line has none
    assert Ledger(db).rows() == []  # nothing half-recorded


def test_resume_with_nothing_unfinished_says_so(tmp_path, capsys):
    db = str(tmp_path / "l.sqlite")
    assert publish_main(["--resume", "--ledger", db]) == 0
    assert capsys.readouterr().out == f"nothing to resume: no publish in {db} was left unfinished\n"


def test_a_one_character_token_is_refused_naming_the_environment_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NFTGAN_TOKEN", "x")
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    db = str(tmp_path / "l.sqlite")
    assert (
        publish_main([str(art), "--backend", "kubo", "--endpoint", "http://127.0.0.1:9", "--ledger", db]) == 1
    )
    err = capsys.readouterr().err
    assert (
        "the API token in the environment variable $NFTGAN_TOKEN" in err
        and "is only 1 character(s) long" in err
    )
    assert "*" not in err and Ledger(db).rows() == []


def test_a_file_that_is_not_the_picture_its_name_says_is_refused(tmp_path, capsys):
    """A text file or a JPEG named .png would make a token whose picture no wallet shows: refused, nothing
    staged or recorded."""
    import io

    from PIL import Image

    text, jpeg = tmp_path / "notes.png", tmp_path / "photo.png"
    text.write_text("not a picture")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    jpeg.write_bytes(buf.getvalue())
    out, db = tmp_path / "out", str(tmp_path / "l.sqlite")
    for path, message in (
        (text, "notes.png is not a PNG, JPEG or WebP picture"),
        (jpeg, "photo.png is a JPEG picture named .png: rename it, or save it as PNG"),
    ):
        assert publish_main([str(path), "--endpoint", str(out), "--ledger", db]) == 1
        assert message in capsys.readouterr().err
    assert Ledger(db).rows() == [] and not out.exists()
    art = tmp_path / "art.webp"  # a WebP named .webp goes through
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="WEBP")
    art.write_bytes(buf.getvalue())
    assert publish_main([str(art), "--endpoint", str(out), "--ledger", db, "--dry-run"]) == 0


@pytest.mark.parametrize("kind", ["nftstorage", "pinata"])
def test_a_rejected_token_on_the_command_line_names_the_environment_variable(
    kind, server, tmp_path, capsys, monkeypatch
):
    """The same refusal names the add-on preferences in Blender (test_backends) and $NFTGAN_TOKEN here."""
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    monkeypatch.setenv("NFTGAN_TOKEN", "wrong-token")
    db = str(tmp_path / "l.sqlite")
    argv = [
        str(art),
        "--backend",
        kind,
        "--endpoint",
        server.url,
        "--api-endpoint",
        server.url,
        "--ledger",
        db,
    ]
    assert publish_main(argv) == 1
    err = capsys.readouterr().err
    assert "rejected the API token (HTTP 401" in err
    assert "Check the token in the environment variable $NFTGAN_TOKEN" in err and "preferences" not in err


def test_text_in_another_encoding_than_utf8_is_a_clear_error(tmp_path, capsys):
    """A picture named in Latin-1 (caf\\xe9.png from an old archive): its name, the token's default name,
    reached Python as 'caf\\udce9' and the metadata's UTF-8 encoding raised UnicodeEncodeError, a traceback;
    the same for --description or --attribute given in such bytes. Refused naming the field and the
    character; nothing staged or recorded."""
    import os

    art = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.png")  # what sys.argv holds for it
    with open(art, "wb") as fh:
        fh.write(png_bytes(8))
    out, db = tmp_path / "out", str(tmp_path / "l.sqlite")
    bad = os.fsdecode(b"\xff")
    for extra, message in (
        ([], r"name is not valid text: character 4 is '\udce9'"),
        (
            ["--name", "Café", "--description", f"a {bad}"],
            r"description is not valid text: character 3 is '\udcff'",
        ),
        (
            ["--name", "Café", "--attribute", f"Mood={bad}"],
            r"(Mood): value is not valid text: character 1 is '\udcff'",
        ),
    ):
        assert publish_main([art, "--endpoint", str(out), "--ledger", db, *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and "(bytes in another encoding than UTF-8?" in err, err
    assert Ledger(db).rows() == [] and not out.exists()
    assert publish_main([art, "--name", "Café", "--endpoint", str(out), "--ledger", db]) == 0
