"""addon/core/imageio.py: reading a user's picture files as they are shown."""

from __future__ import annotations

import numpy as np
import pytest
from nftgan.core import imageio, pipeline
from PIL import Image, ImageOps


def _tagged(path, orientation: int, size=(200, 120)):
    """A JPEG stored `size` (w, h) with EXIF Orientation `orientation`; an asymmetric picture (a dark
    top-left quarter, a red band at the right) so any turn or mirror shows."""
    w, h = size
    a = np.full((h, w, 3), 255, np.uint8)
    a[: h // 2, : w // 2] = 0
    a[:, -w // 8 :] = (220, 30, 30)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_image_turns_a_picture_upright_by_its_exif_orientation(tmp_path, orientation):
    """Every EXIF orientation gives the pixels a viewer shows (PIL's exif_transpose, as training's load_rgb),
    and image_size says the shown size."""
    path = _tagged(tmp_path / "photo.jpg", orientation)
    with Image.open(path) as im:
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / 255
    got = imageio.read_image(str(path))
    assert got.shape[:2] == shown.shape[:2]
    assert imageio.image_size(str(path)) == (shown.shape[1], shown.shape[0])
    np.testing.assert_allclose(got[::-1, :, :3], shown, atol=1e-6)  # read_image's rows are bottom-up
    # reduced while read (a large photo for a small job): still upright
    half = imageio.read_image(str(path), max_side=100)
    assert half.shape[:2] == (shown.shape[0] // 2, shown.shape[1] // 2)


@pytest.mark.slow
def test_stylize_cli_gives_a_portrait_photo_its_shown_size(test_models, tmp_path):
    """`nftgan stylize` on a 200x120 JPEG tagged to show as 120x200 writes a 120x200 result."""
    src = _tagged(tmp_path / "portrait.jpg", 6)
    out = tmp_path / "out.png"
    argv = [
        str(src),
        "-o",
        str(out),
        "--models",
        str(test_models),
        "--colorize",
        "colorize",
        "--style",
        "stylize",
    ]
    assert pipeline.main(argv) == 0
    with Image.open(out) as im:
        assert im.size == (120, 200)


def test_a_pngs_alpha_is_straight_on_the_command_line(tmp_path):
    """PNG stores straight alpha (its spec), and PIL reads it so: `nftgan stylize` lays a half-transparent line
    of colour c over white paper as c * a + (1 - a) (purple 0.4, alpha 0.5: 0.70; read as premultiplied it
    would be c + (1 - a), 0.90). A grey + alpha PNG likewise. Pins the command line's half of issue
    "premultiplied sketches": nothing to change here (the add-on's half: test_colour_blender.py)."""
    levels = np.full((8, 8, 4), 255, np.uint8)
    levels[:, 2:5] = (102, 51, 153, 128)  # a purple line, alpha 128/255
    a = 128 / 255
    want = np.array([102, 51, 153]) / 255 * a + (1 - a)
    Image.fromarray(levels, "RGBA").save(tmp_path / "rgba.png")
    grey = np.stack([levels[..., 0], levels[..., 3]], axis=2)
    Image.fromarray(grey, "LA").save(tmp_path / "la.png")
    for name, expect in (("rgba.png", want), ("la.png", [want[0]] * 3)):
        rgb = (pipeline.to_model_space(imageio.read_image(str(tmp_path / name))) + 1) / 2  # top-down planes
        np.testing.assert_allclose(rgb[:, 4, 3], expect, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(rgb[:, 4, 6], 1.0, err_msg=name)  # the paper beside it


@pytest.mark.parametrize("ext", ["jpg", "png", "webp", "tif"])
def test_file_orientation_reads_the_exif_tag_without_pillow(tmp_path, ext):
    """`file_orientation` (the add-on's, in Blender without pillow, on the worker) gives the EXIF Orientation
    pillow reads, in each format that carries one (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0), 1 for a file
    without the tag, a damaged EXIF block, a file cut short, one it cannot open or another format."""
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.{ext}"
        im = Image.fromarray(np.zeros((6, 10, 3), np.uint8))
        exif = im.getexif()
        exif[0x0112] = orientation
        exif[0x010F] = "Phone"  # a tag before it: the IFD is walked, not guessed
        im.save(path, exif=exif.tobytes())
        with Image.open(path) as back:
            assert back.getexif().get(0x0112) == orientation
        assert imageio.file_orientation(str(path)) == orientation, path
    bare = tmp_path / f"bare.{ext}"
    Image.fromarray(np.zeros((6, 10, 3), np.uint8)).save(bare)
    assert imageio.file_orientation(str(bare)) == 1
    data = (tmp_path / f"o6.{ext}").read_bytes()
    for cut in (12, 40, len(data) // 2):
        (tmp_path / "cut").write_bytes(data[:cut])
        assert imageio.file_orientation(str(tmp_path / "cut")) in (1, 6)  # never raises
    damaged = bytearray(data)
    at = data.find(b"MM\x00*") if b"MM\x00*" in data else data.find(b"II*\x00")
    damaged[at + 4 : at + 8] = b"\xff\xff\xff\x00"  # IFD0 far past the end
    (tmp_path / f"damaged.{ext}").write_bytes(damaged)
    assert imageio.file_orientation(str(tmp_path / f"damaged.{ext}")) == 1
    if ext == "jpg":  # a segment whose length reads 0: not read again and again
        (tmp_path / "zero.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x00" + data[6:])
        assert imageio.file_orientation(str(tmp_path / "zero.jpg")) == 1
    assert imageio.file_orientation(str(tmp_path / "missing.jpg")) == 1
    assert imageio.file_orientation(str(tmp_path)) == 1  # a folder
    (tmp_path / "t.txt").write_text("not an image")
    assert imageio.file_orientation(str(tmp_path / "t.txt")) == 1


def test_nothing_drawn_is_white_paper_everywhere_over_white():
    """Stylize's note for a blank canvas: white paper (within 8-bit rounding), or anything fully transparent,
    is blank; one dark pixel, a faint half-transparent line, a grey canvas or NaN are not."""
    blank = np.ones((40, 30, 4), np.float32)
    blank[..., :3] -= 1 / 255
    assert imageio.nothing_drawn(blank)
    clear = np.zeros((40, 30, 4), np.float32)  # transparent black: paper
    assert imageio.nothing_drawn(clear)
    for y, x, value in (
        (39, 29, (0.0, 0.0, 0.0, 1.0)),
        (0, 0, (0.0, 0.0, 0.0, 0.5)),
        (20, 10, (1, 1, np.nan, 1)),
    ):
        px = blank.copy()
        px[y, x] = value  # a dark pixel in a corner, one at half opacity, a NaN
        assert not imageio.nothing_drawn(px), value
    assert not imageio.nothing_drawn(np.full((8, 8, 1), 0.8, np.float32))  # grey, one channel
    assert imageio.nothing_drawn(np.ones((8, 8, 3), np.float32))
