"""`nftgan export` never writes its model (or its card) over the checkpoint it reads."""

import json
import shutil

import pytest
from nftgan.export import cli


def test_export_never_writes_over_its_checkpoint(tiny_runs, tmp_path, capsys):
    ckpt = tmp_path / "model.pt"
    shutil.copy(tiny_runs["pix2pix"] / "checkpoints" / "latest.pt", ckpt)  # a copy: the cache stays intact
    before = ckpt.read_bytes()
    for args in (["-o", str(ckpt)], ["-o", str(tmp_path / "m.onnx"), "--card", str(ckpt)]):
        assert cli.main(["export", str(ckpt), *args]) == 1
        err = capsys.readouterr().err
        assert "never writes a result over its source" in err and "Traceback" not in err, err
    assert ckpt.read_bytes() == before and not (tmp_path / "m.onnx").exists()


def test_an_output_that_is_a_folder_or_not_onnx_is_refused_before_exporting(tiny_runs, tmp_path, capsys):
    """`-o ~/nftgan-styles` (the folder the add-on reads) or a name the add-on would never list: said at
    once, with what to give instead, before the export's minutes of work."""
    run = str(tiny_runs["pix2pix"])
    styles = tmp_path / "styles"
    styles.mkdir()
    for out, message in (
        (styles, "is a folder: give the model's file name, e.g. "),
        (tmp_path / "my-style.png", "must end in .onnx"),
    ):
        assert cli.main(["export", run, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert cli.main(["export", run, "-o", str(tmp_path / "m.onnx"), "--card", str(styles)]) == 1
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styles"] and not list(styles.iterdir())


def test_an_output_under_a_file_is_refused_before_exporting(tiny_runs, tmp_path, capsys, monkeypatch):
    """-o notes.txt/my-style.onnx (a typo, or a file where the folder was meant to be): one line naming the file
    in the way, before any work (no traceback after the export's seconds); the file is left as it was."""
    from nftgan.export import onnx_export

    monkeypatch.setattr(
        onnx_export, "export_checkpoint", lambda *a, **k: pytest.fail("exported before checking -o")
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for flag, out in (("-o", notes / "my-style.onnx"), ("--card", notes / "my-style.md")):
        args = ["-o", str(out)] if flag == "-o" else ["-o", str(tmp_path / "m.onnx"), "--card", str(out)]
        assert cli.main(["export", str(tiny_runs["pix2pix"]), *args]) == 1
        err = capsys.readouterr().err
        assert f"{flag} {out}: {notes} is a file, not a folder" in err and "Traceback" not in err, err
    assert notes.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_file_that_is_not_a_training_checkpoint_says_what_export_takes(tmp_path, capsys):
    """A whole pickled module (torch.save(model)) or a run's config.json: not "killed while saving", and
    never torch's advice to load it with weights_only=False."""
    import torch

    torch.save(torch.nn.Conv2d(3, 3, 3), tmp_path / "model.pt")
    (tmp_path / "config.json").write_text('{"model": "pix2pix"}')
    for name in ("model.pt", "config.json"):
        assert cli.main(["export", str(tmp_path / name), "-o", str(tmp_path / "m.onnx")]) == 1
        err = capsys.readouterr().err
        assert "not an NFTGan checkpoint" in err and "run folder" in err, err
        assert "weights_only" not in err and "killed while saving" not in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_an_export_to_a_full_disk_says_so_and_leaves_nothing(tiny_runs):
    """A real full disk (tests/limited_fs.py): a clear message, exit 1, no temp file taking the space."""
    from tests.limited_fs import run_on_small_fs

    script = """
import json, os, sys
from nftgan.export import cli
rc = cli.main(["export", sys.argv[1], "-o", os.path.join(FS, "my.onnx")])
print(json.dumps({"rc": rc, "files": sorted(os.listdir(FS))}))
"""
    done = run_on_small_fs(script, tiny_runs["pix2pix"], size="64k", timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    assert "the disk is full" in done.stderr and "free some space" in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"rc": 1, "files": []}


def test_export_options_the_model_cannot_take_are_said_as_the_flags_given(tiny_runs, tmp_path, capsys):
    """Not the metadata key and "Re-export the model" (the user is exporting it): the flag, the model's
    kind, and what to give instead."""
    cases = [
        ("pix2pix", ["--work-size", "8"], "--work-size 8: give 0 (none) or a size from 16 to 16384 px"),
        (
            "pix2pix",
            ["--keep-colours"],
            "--keep-colours is for stylize models; this checkpoint is a colorize",
        ),
        (
            "dcgan",
            ["--work-size", "64"],
            "--work-size is for colorize and stylize models; this checkpoint is a generate",
        ),
    ]
    for run, extra, message in cases:
        assert cli.main(["export", str(tiny_runs[run]), "-o", str(tmp_path / "m.onnx"), *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and "Re-export" not in err and "metadata" not in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_a_calibration_folder_of_unreadable_files_is_said_as_such(tiny_runs, tmp_path, capsys):
    """--calib-dir given, its files all damaged: not "the checkpoint's training data was not found: pass
    --calib-dir" (it was passed), nor a traceback for a decompression bomb."""
    import struct
    import zlib

    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "fake.png").write_text("not a picture")

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)  # 900 MP: Pillow refuses it as a bomb
    (calib / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    out = tmp_path / "m.onnx"
    for extra in ([], ["--int8"]):
        assert (
            cli.main(["export", str(tiny_runs["pix2pix"]), "-o", str(out), "--calib-dir", str(calib), *extra])
            == 1
        )
        err = capsys.readouterr().err
        assert "none of its 2 images could be read" in err and "Traceback" not in err, err
    assert not out.exists()
