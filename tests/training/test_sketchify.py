"""`nftgan sketchify`: pencil and edge sketches, deterministic, never touching the source pictures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from nftgan.training.data import find_layout
from nftgan.training.sketchify import main as sketchify_main
from nftgan.training.sketchify import sketch
from PIL import Image, ImageDraw


def picture(size: int = 128) -> Image.Image:
    """A flat-colour clip-art scene: sky, sun, a house with a door and a window."""
    img = Image.new("RGB", (size, size), (150, 200, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, size * 0.7, size, size), fill=(60, 160, 60))
    d.ellipse((size * 0.7, size * 0.08, size * 0.9, size * 0.28), fill=(255, 220, 40))
    d.rectangle((size * 0.2, size * 0.4, size * 0.6, size * 0.75), fill=(200, 80, 60))
    d.polygon(
        [(size * 0.15, size * 0.4), (size * 0.4, size * 0.2), (size * 0.65, size * 0.4)], fill=(120, 60, 40)
    )
    d.rectangle((size * 0.35, size * 0.55, size * 0.45, size * 0.75), fill=(90, 50, 20))
    d.rectangle((size * 0.47, size * 0.47, size * 0.56, size * 0.55), fill=(240, 240, 255))
    return img


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


def test_pencil_and_edge_look_like_drawings(tmp_path):
    img = picture()
    for style in ("pencil", "edge"):
        s = sketch(img, style, "house", jitter=0.0, stroke=1)
        s.save(tmp_path / f"{style}.png")  # looked at by hand: pencil outlines of the house, sun and hill
        a = np.asarray(s, dtype=np.float32)
        assert s.mode == "L" and s.size == img.size
        assert np.median(a) > 240  # mostly white paper ...
        flat = a[5:20, 5:60]  # inside the flat sky: no strokes
        assert flat.min() > 200
        row = a[int(128 * 0.6), :]  # ... with dark strokes where colours change (the house's walls)
        assert row[int(128 * 0.2) - 4 : int(128 * 0.2) + 5].min() < 180
        assert (a < 128).mean() < 0.15


def test_stroke_width_jitter_is_per_image_and_deterministic():
    img = picture()
    base = np.asarray(sketch(img, "edge", "a", jitter=0.0, stroke=2))
    widths = {
        name: (np.asarray(sketch(img, "edge", name, jitter=0.7, stroke=2)) < 128).sum()
        for name in ("a", "b", "c", "d", "e")
    }
    assert len(set(widths.values())) > 1  # pens differ between pictures
    again = {
        name: (np.asarray(sketch(img, "edge", name, jitter=0.7, stroke=2)) < 128).sum() for name in widths
    }
    assert again == widths and (base < 128).sum() > 0
    p1 = np.asarray(sketch(img, "pencil", "a", jitter=0.5, seed=1), dtype=np.float32)
    p2 = np.asarray(sketch(img, "pencil", "a", jitter=0.5, seed=2), dtype=np.float32)
    assert np.abs(p1 - p2).sum() > 0  # --seed changes the variation


def test_cli_is_deterministic_and_makes_a_pix2pix_dataset(tmp_path, capsys):
    src = tmp_path / "art"
    (src / "sub").mkdir(parents=True)
    picture(96).save(src / "house.jpg", quality=95)
    rgba = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((10, 5, 50, 35), fill=(200, 0, 0, 255))
    rgba.save(src / "sub" / "ball.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    before = digest(src)
    for out in ("one", "two"):
        assert sketchify_main([str(src), str(tmp_path / out), "--resize", "64"]) == 0
    assert digest(tmp_path / "one") == digest(tmp_path / "two")  # byte-identical
    assert sorted(digest(tmp_path / "one")) == [
        "A/house.png",
        "A/sub__ball.png",
        "B/house.png",
        "B/sub__ball.png",
    ]
    assert digest(src) == before  # the pictures are untouched
    msg = capsys.readouterr()
    assert "wrote 2 sketch/picture pairs" in msg.out and "(1 unreadable file skipped)" in msg.out
    assert "broken.png" in msg.err
    ball = Image.open(tmp_path / "one" / "B" / "sub__ball.png")
    assert ball.size == (64, 64) and ball.getpixel((1, 1)) == (
        255,
        255,
        255,
    )  # alpha over white, padded square
    lay = find_layout(str(tmp_path / "one"))
    assert lay.kind == "folders" and len(lay.a) == 2
    assert sketchify_main([str(src), str(tmp_path / "e"), "--pen", "edge", "--resize", "48"]) == 0


def test_cli_refuses_to_write_over_the_source(tmp_path, capsys):
    src = tmp_path / "art"
    src.mkdir()
    picture(32).save(src / "x.png")
    for dst in (src, tmp_path):
        try:
            sketchify_main([str(src), str(dst)])
        except SystemExit as exc:
            assert exc.code == 2
        assert "never writes over" in capsys.readouterr().err
    assert sketchify_main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 1  # the work fails
    assert "source folder not found" in capsys.readouterr().err


def test_cli_with_no_readable_picture_suggests_no_training(tmp_path, capsys):
    """Only unreadable files: an error, not "wrote 0 pairs ... Next: nftgan train ..." on an empty dataset."""
    src = tmp_path / "art"
    src.mkdir()
    (src / "notes.png").write_text("not a picture")
    (src / "empty.jpg").write_bytes(b"")
    assert sketchify_main([str(src), str(tmp_path / "out")]) == 1
    printed = capsys.readouterr()
    assert "none of the 2 pictures" in printed.err and "could be read" in printed.err
    assert "Next:" not in printed.out and "notes.png" in printed.err


def test_a_full_disk_is_said_and_leaves_only_whole_pairs(tmp_path):
    """A real full disk (tests/limited_fs.py): one line saying so and what to do, exit 1, no traceback; every
    file written is a whole picture and every sketch has its picture (the last pair is not left half)."""
    import json

    from tests.limited_fs import run_on_small_fs

    src = tmp_path / "pics"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(src / f"p{i:02d}.png")
    script = """
import json, os, sys
from PIL import Image
from nftgan.training.sketchify import main
rc = main([sys.argv[1], os.path.join(FS, "ds"), "--resize", "96"])
names = {d: sorted(os.listdir(os.path.join(FS, "ds", d))) for d in ("A", "B")}
whole = True
for d, files in names.items():
    for f in files:
        try:
            with Image.open(os.path.join(FS, "ds", d, f)) as im:
                im.load()
        except Exception:
            whole = False
print(json.dumps({"rc": rc, "A": names["A"], "B": names["B"], "whole": whole}))
"""
    done = run_on_small_fs(script, src, size="160k", timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert "the disk is full" in done.stderr and "free some space" in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rc"] == 1 and result["whole"] and result["A"] == result["B"] and len(result["A"]) < 12, (
        result
    )


def test_pictures_whose_names_meet_each_get_a_pair_of_their_own(tmp_path, capsys):
    """photo.png beside photo.jpg, and x/a.png beside x__a.png (a subfolder's pictures are named folder__name):
    on main the second of each wrote over the first's pair while the count said 4."""
    src = tmp_path / "pics"
    (src / "x").mkdir(parents=True)
    colours = {
        "photo.png": "red",
        "photo.jpg": "blue",
        "x/a.png": "green",
        "x__a.png": "yellow",
        "Photo.PNG": "white",
    }
    for name, colour in colours.items():
        Image.new("RGB", (40, 40), colour).save(src / name)
    assert sketchify_main([str(src), str(tmp_path / "ds"), "--resize", "32"]) == 0
    assert "wrote 5 sketch/picture pairs" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "ds" / "B").iterdir())
    assert len({n.casefold() for n in names}) == 5, names  # case-insensitive disks keep all five too
    seen = {Image.open(tmp_path / "ds" / "B" / n).convert("RGB").getpixel((16, 16)) for n in names}
    assert len(seen) == 5
    assert sorted(p.name for p in (tmp_path / "ds" / "A").iterdir()) == names


def test_pairs_left_in_the_folder_by_an_earlier_run_are_pointed_out(tmp_path, capsys):
    """The artist takes a picture out of SRC and runs sketchify again into the same DST: its old pair is
    still there and would be trained on; the command says so."""
    src = tmp_path / "pics"
    src.mkdir()
    for name, colour in (("keep.png", "red"), ("drop.png", "blue")):
        Image.new("RGB", (40, 40), colour).save(src / name)
    assert sketchify_main([str(src), str(tmp_path / "ds"), "--resize", "32"]) == 0
    assert "not made from" not in capsys.readouterr().out
    (src / "drop.png").unlink()
    assert sketchify_main([str(src), str(tmp_path / "ds"), "--resize", "32"]) == 0
    out = capsys.readouterr().out
    assert "also holds 1 pair not made from the pictures in" in out and "drop.png" in out, out


def test_pictures_far_smaller_than_the_dataset_size_are_pointed_out(tmp_path, capsys):
    """A 5 px thumbnail in the pictures becomes a 286 px blur that pix2pix learns as a finished picture: the
    command says how many were enlarged more than twice, and one of them."""
    src = tmp_path / "pics"
    src.mkdir()
    Image.new("RGB", (200, 200), "red").save(src / "big.png")
    Image.new("RGB", (5, 5), "blue").save(src / "thumb.png")
    assert sketchify_main([str(src), str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "1 picture is smaller than half of --resize 286 px" in out and "thumb.png (5x5)" in out, out


def test_a_dst_or_src_that_is_a_file_is_one_line_and_touches_nothing(tmp_path, capsys):
    """DST a file (or a folder under one) and SRC a single picture: one line saying which path is a file, not
    a traceback or "not found"; the file is left as it was."""
    src = tmp_path / "art"
    src.mkdir()
    picture(32).save(src / "x.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for src_, dst, message in (
        (src, notes, f"{notes} is a file, not a folder"),
        (src, notes / "ds", f"{notes} is a file, not a folder"),
        (src / "x.png", tmp_path / "ds", "is a file, not a folder of pictures"),
    ):
        try:
            rc = sketchify_main([str(src_), str(dst)])
        except SystemExit as exc:
            rc = exc.code
        err = capsys.readouterr().err
        assert rc == 1 and message in err and "Traceback" not in err, err
    assert notes.read_text() == "mine" and not (tmp_path / "ds").exists()


def test_cli_next_line_names_a_run_folder_after_the_dataset(tmp_path, capsys, monkeypatch):
    """The closing "Next:" command trains into runs/<the dataset's name>, a command the user can paste as it
    is (it said --out runs/my-style for every dataset: a second dataset's run was refused as taken)."""
    src = tmp_path / "my art"
    src.mkdir()
    picture(160).save(src / "house.png")
    monkeypatch.chdir(tmp_path)
    for dst, run in [("datasets/edge", "runs/edge"), ("datasets/ink lines/", "'runs/ink lines'")]:
        assert sketchify_main([str(src), dst, "--pen", "edge"]) == 0
        out = capsys.readouterr().out
        quoted = f"'{dst}'" if " " in dst else dst
        assert out.rstrip().endswith(f"Next: nftgan train pix2pix --data {quoted} --out {run}"), out
