"""Colour fidelity in real Blender (the bpy of each Blender test venv): the sRGB bytes the core pipeline
returns are what a result saved, published or painted on holds, and a sketch is read as the colours it shows.

Blender keeps every float buffer scene linear with premultiplied alpha (a result is one); `Image.pixels` of
a float image are therefore not sRGB, whatever `colorspace_settings.name` says (the file's colour space)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest

from .conftest import HOUSE, pixels_of
from .test_blender import finish, new_canvas

pytest.importorskip("bpy", reason="a Blender test: it runs in the Blender venvs (make test-blender)")

# colour dabs (sRGB) beside the house's lines: red walls, a green patch, a blue patch
DABS = [
    ((0.85, 0.15, 0.12), [(0.3, 0.3), (0.4, 0.35)]),
    ((0.18, 0.62, 0.20), [(0.6, 0.25), (0.7, 0.3)]),
    ((0.15, 0.30, 0.80), [(0.45, 0.7), (0.5, 0.72)]),
]
LEVEL = 1.01 / 255  # one 8-bit level


def dabbed(n: int) -> np.ndarray:
    """The house with colour dabs, sRGB RGBA bottom-up, rounded to 8-bit levels (exact in 8 and 16 bits)."""
    from nftgan.core.imageio import draw_strokes

    px = np.ones((n, n, 4), np.float32)
    draw_strokes(px, HOUSE, width=3)
    for colour, stroke in DABS:
        draw_strokes(px, [stroke], width=n / 12, color=(*colour, 1.0))
    return np.round(px * 255) / 255


def pipeline_output(blender, srgb: np.ndarray) -> dict[str, np.ndarray]:
    """What the core pipeline returns for these sRGB pixels with the scene's models, as 8-bit levels."""
    from nftgan.core import pipeline

    models = {k: m.path for k, m in blender.stylize.chosen_models(blender.bpy.context.scene).items()}
    return {k: np.round(v * 255) / 255 for k, v in pipeline.run(srgb, models=models).items()}


def png_pixels(data: bytes) -> np.ndarray:
    """A PNG's pixels as float RGBA in [0, 1], bottom-up like Blender's."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"), np.float32)[::-1] / 255


def png16(path, srgb: np.ndarray) -> None:
    """A 16-bit RGBA PNG of sRGB pixels (bottom-up in, top-down in the file): Blender loads it as a float
    image with colour space "sRGB"."""
    levels = np.round(np.clip(srgb, 0, 1) * 65535).astype(">u2")[::-1]
    h, w = levels.shape[:2]
    rows = b"".join(b"\0" + row.tobytes() for row in levels.reshape(h, w * 4))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_float_sketch_is_read_as_the_colours_it_shows(blender, scene, tmp_path):
    """A 16-bit PNG sketch is a float image in Blender: its pixels are scene linear (grey 128 reads 0.216) with
    premultiplied alpha, while its colour space still says "sRGB". Stylize gives what the pipeline makes of the
    file's own sRGB values, also where the sketch is half transparent (laid over white paper)."""
    bpy = blender.bpy
    srgb = dabbed(128)
    srgb[:, :40, 3] = 0.5  # a half-transparent strip on the left
    path = tmp_path / "sketch16.png"
    png16(path, srgb)
    sketch = bpy.data.images.load(str(path))
    assert sketch.is_float and sketch.colorspace_settings.name == "sRGB"
    raw = np.empty(len(sketch.pixels), np.float32)
    sketch.pixels.foreach_get(raw)
    grey = raw.reshape(128, 128, 4)[0, 0]  # white paper at the bottom-left corner, half transparent
    np.testing.assert_allclose(grey, [0.5, 0.5, 0.5, 0.5], atol=1e-3)  # linear 1.0, premultiplied

    want = pipeline_output(blender, srgb)
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    finish(blender)
    for stage in ("colorize", "stylize"):
        result = bpy.data.images[f"sketch16.png {blender.core.pipeline.RESULT_SUFFIX[stage]}"]
        np.testing.assert_allclose(pixels_of(result), want[stage], atol=LEVEL, err_msg=stage)


def test_results_saved_published_and_painted_on_keep_the_pipelines_colours(blender, scene, tmp_path):
    """The pipeline's sRGB output is, within one 8-bit level: what the result datablock shows (its float
    pixels are that output's linear values), its packed PNG, the bytes Publish sends, the PNG `make demo`
    writes, the result's pixels after the .blend is saved and opened again, and Blender's own image.save().
    Paint on a result is kept through saving the .blend, painted before the first save (a float image) and
    after it (then an 8-bit image): it used to revert to NFTGan's PNG. A result not painted on keeps NFTGan's
    PNG byte for byte."""
    from tools import demo

    bpy, images = blender.bpy, blender.images
    sketch = new_canvas(blender)
    drawn = dabbed(256)
    sketch.pixels.foreach_set(drawn.ravel())
    sketch.update()
    want = pipeline_output(blender, drawn)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    colorized, stylized = bpy.data.images["Sketch colorized"], bpy.data.images["Sketch stylized"]
    worker_png = bytes(colorized.packed_file.data)

    for stage, image in (("colorize", colorized), ("stylize", stylized)):
        assert image.is_float and image.colorspace_settings.name.startswith("Linear")  # scene-linear floats
        shown = pixels_of(image)
        np.testing.assert_allclose(shown, want[stage], atol=LEVEL, err_msg=f"{stage}: the datablock")
        np.testing.assert_allclose(png_pixels(bytes(image.packed_file.data)), want[stage], atol=LEVEL)
        data, ext = images.image_data(image).file_bytes()  # what Publish as NFT sends
        assert ext == ".png"
        np.testing.assert_allclose(png_pixels(data), want[stage], atol=LEVEL, err_msg=f"{stage}: published")
    demo.save_pngs(images, [(colorized, "colorized.png"), (stylized, "stylized.png")], str(tmp_path))
    for stage, fname in (("colorize", "colorized.png"), ("stylize", "stylized.png")):
        written = png_pixels((tmp_path / fname).read_bytes())
        np.testing.assert_allclose(written, want[stage], atol=LEVEL, err_msg=f"{stage}: make demo's PNG")

    # the artist paints a red square on the stylized result (a float image: scene-linear red), saves the
    # .blend, paints a blue square on it (now the 8-bit image its PNG holds) and saves again
    painted = want["stylize"].copy()
    path = str(tmp_path / "painted.blend")
    for square, colour in (((100, 140), (1.0, 0.0, 0.0)), ((20, 60), (0.0, 0.0, 1.0))):
        stylized = bpy.data.images["Sketch stylized"]
        raw = np.empty(len(stylized.pixels), np.float32)
        stylized.pixels.foreach_get(raw)
        raw = raw.reshape(256, 256, 4)
        raw[slice(*square), slice(*square), :3] = colour  # pure red / blue: the same linear or sRGB
        stylized.pixels.foreach_set(raw.ravel())
        stylized.update()
        painted[slice(*square), slice(*square), :3] = colour
        assert images.painted_pixels(stylized) is not None
        assert images.painted_pixels(bpy.data.images["Sketch colorized"]) is None
        data, _ = images.image_data(stylized).file_bytes()
        np.testing.assert_allclose(png_pixels(data), painted, atol=LEVEL, err_msg="published after painting")
        bpy.ops.wm.save_as_mainfile(filepath=path)
        bpy.ops.wm.open_mainfile(filepath=path)
        for name, stage, want_px in (
            ("Sketch colorized", "colorize", want["colorize"]),
            ("Sketch stylized", "stylize", painted),
        ):
            image = bpy.data.images[name]
            assert image.source == "FILE" and image.packed_file is not None
            np.testing.assert_allclose(pixels_of(image), want_px, atol=LEVEL, err_msg=f"{stage} after saving")
            np.testing.assert_allclose(png_pixels(bytes(image.packed_file.data)), want_px, atol=LEVEL)
        assert bytes(bpy.data.images["Sketch colorized"].packed_file.data) == worker_png  # not re-encoded

    # Blender's own Save As of a result (a float one: Stylize again into a new file)
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.nftgan.colorize_id, bpy.context.scene.nftgan.stylize_id = "colorize", "stylize"
    sketch = new_canvas(blender)
    sketch.pixels.foreach_set(drawn.ravel())
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    for stage, name in (("colorize", "Sketch colorized"), ("stylize", "Sketch stylized")):
        image = bpy.data.images[name]
        assert image.is_float
        saved = tmp_path / f"{stage}-saved.png"
        image.save(filepath=str(saved))  # linear floats -> 8-bit sRGB
        np.testing.assert_allclose(png_pixels(saved.read_bytes()), want[stage], atol=LEVEL, err_msg="save")


def test_the_sketchs_colours_reach_the_pipeline_unchanged(blender, scene):
    """The canvas New Sketch Canvas makes is an 8-bit sRGB image: its pixels are what the artist painted, and
    Stylize hands them to the pipeline as they are (no conversion); a float canvas (32-bit, Linear Rec.709)
    holding the same colours as linear values gives the same results."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    assert not sketch.is_float and sketch.colorspace_settings.name == "sRGB"
    drawn = dabbed(256)
    sketch.pixels.foreach_set(drawn.ravel())
    pixels, linear = blender.images.snapshot(sketch)
    assert not linear
    np.testing.assert_allclose(pixels, drawn, atol=1e-6)  # the 8-bit levels painted

    linear_canvas = bpy.data.images.new("Float sketch", 256, 256, alpha=True, float_buffer=True)
    linear_canvas.pixels.foreach_set(blender.core.imageio.srgb_to_linear(drawn).ravel())
    want = pipeline_output(blender, drawn)
    assert bpy.ops.nftgan.stylize(image=linear_canvas.name) == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(
        pixels_of(bpy.data.images["Float sketch stylized"]), want["stylize"], atol=LEVEL
    )


def test_the_default_scene_linear_space_is_taken_as_rec709(blender, scene):
    """Blender's default scene linear space is Rec.709: its matrices are no conversion, also in Blender 4.x,
    whose colour management gives them as the identity only within 5.5e-6 (Blender 5: exactly), so the
    results hold exactly the 8-bit levels their PNGs do."""
    import mathutils

    rec709_to_scene = np.array(
        [mathutils.Color(e).from_rec709_linear_to_scene_linear() for e in np.eye(3)], np.float32
    ).T
    assert np.abs(rec709_to_scene - np.eye(3)).max() < blender.images.IDENTITY_ATOL
    assert blender.images.scene_matrices() == (None, None)


@pytest.mark.parametrize("working_space", ["Linear Rec.2020", "ACEScg"])
def test_another_working_space_keeps_the_colours(blender, scene, tmp_path, working_space):
    """A Blender 5 file whose working space (scene linear) is Rec.2020 or ACEScg holds float pixels in that
    space: a 16-bit sketch is read, and the results are written, through it (Blender's own colour management
    says how), so Blender's own image.save() of each result and the bytes Publish sends are the pipeline's
    output within 1/255."""
    bpy = blender.bpy
    if "set_working_color_space" not in dir(bpy.ops.wm):  # Blender 4.x: scene linear is always Rec.709
        pytest.skip("this Blender has no working colour space setting (Blender 5.0 added it)")
    assert bpy.ops.wm.set_working_color_space(working_space=working_space) == {"FINISHED"}
    try:
        to_scene, to_rec709 = blender.images.scene_matrices()
        assert to_scene is not None and not np.allclose(to_scene, np.eye(3), atol=1e-3)
        np.testing.assert_allclose(to_rec709 @ to_scene, np.eye(3), atol=1e-5)
        srgb = dabbed(128)
        path = tmp_path / "sketch16.png"
        png16(path, srgb)
        sketch = bpy.data.images.load(str(path))
        want = pipeline_output(blender, srgb)
        assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
        finish(blender)
        for stage in ("colorize", "stylize"):
            result = bpy.data.images[f"sketch16.png {blender.core.pipeline.RESULT_SUFFIX[stage]}"]
            data, _ = blender.images.image_data(result).file_bytes()
            np.testing.assert_allclose(
                png_pixels(data), want[stage], atol=LEVEL, err_msg=f"{stage}: published"
            )
            saved = tmp_path / f"{stage}.png"
            result.save(filepath=str(saved))  # Blender: the working space's floats -> 8-bit sRGB
            np.testing.assert_allclose(png_pixels(saved.read_bytes()), want[stage], atol=LEVEL, err_msg=stage)
    finally:
        bpy.ops.wm.set_working_color_space(working_space="Linear Rec.709")


def shown_by_blender(bpy, image, tmp_path) -> np.ndarray:
    """The image as Blender shows it (its colour space applied; Standard view): what Image > Save As
    writes, as floats in [0, 1], bottom-up like `pixels_of`."""
    from PIL import Image

    scene = bpy.context.scene
    scene.view_settings.view_transform = "Standard"
    path = tmp_path / "shown.png"
    image.save_render(str(path), scene=scene)
    return np.asarray(Image.open(path).convert("RGBA"), np.float32)[::-1] / 255


@pytest.mark.parametrize("how", ["saved", "undo-redo", "saved-before-this-fix"])
def test_a_result_shows_its_colours_after_saving_and_undo(blender, scene, tmp_path, how):
    """Saving the .blend (or an Undo and Redo) turns a result into the 8-bit image of its packed sRGB PNG, but
    it kept the float image's colour space, Linear Rec.709: Blender then showed and rendered its bytes as
    linear, washed out (mean 154 -> 203 of 255, up to 73 levels off, on the test house). It is an sRGB image
    now, shown as written; a file saved before this fix has its results set right when it is opened."""
    bpy, images = blender.bpy, blender.images
    sketch = new_canvas(blender)
    sketch.pixels.foreach_set(dabbed(256).ravel())
    sketch.update()
    want = pipeline_output(blender, pixels_of(sketch))
    if how == "undo-redo":
        bpy.ops.ed.undo_push(message="painted")
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    path = str(tmp_path / "saved.blend")
    if how == "undo-redo":
        assert bpy.ops.ed.undo() == {"FINISHED"} and bpy.ops.ed.redo() == {"FINISHED"}
    elif how == "saved":
        bpy.ops.wm.save_as_mainfile(filepath=path)
        bpy.ops.wm.open_mainfile(filepath=path)
    else:  # as main saved it: the result file-backed, in the float image's colour space
        for image in bpy.data.images:
            if image.get(images.RESULT_TAG):
                image.source = "FILE"
                image.colorspace_settings.name = "Linear Rec.709"
        bpy.app.handlers.save_pre.remove(images._on_save_pre)
        try:
            bpy.ops.wm.save_as_mainfile(filepath=path)
        finally:
            bpy.app.handlers.save_pre.append(images._on_save_pre)
        bpy.ops.wm.open_mainfile(filepath=path)
    result = bpy.data.images["Sketch stylized"]
    assert not result.is_float
    np.testing.assert_allclose(shown_by_blender(bpy, result, tmp_path), want["stylize"], atol=LEVEL)


def _exr(bpy, path, linear: np.ndarray) -> None:
    """A 32-bit RGBA OpenEXR file of these linear float pixels as they are (`save_render`: an EXR gets no view
    transform; `image.save()` wrote them sRGB-encoded)."""
    h, w = linear.shape[:2]
    image = bpy.data.images.new("exr", w, h, alpha=True, float_buffer=True)
    image.pixels.foreach_set(linear.ravel())
    settings = bpy.context.scene.render.image_settings
    settings.file_format, settings.color_mode, settings.color_depth = "OPEN_EXR", "RGBA", "32"
    image.save_render(str(path), scene=bpy.context.scene)
    bpy.data.images.remove(image)


STORED = [
    "8-bit PNG, Straight",
    "8-bit PNG of premultiplied colour, Premultiplied",
    "EXR (premultiplied), its default Premultiplied",
    "float canvas (as painted: linear, premultiplied)",
    "8-bit PNG, Channel Packed",
    "EXR, Channel Packed",
    "8-bit PNG, None",
    "8-bit canvas set to None",
    "float canvas set to Channel Packed",
]


@pytest.mark.parametrize("stored", STORED)
def test_a_half_transparent_sketch_comes_out_the_same_however_blender_stores_it(
    blender, scene, tmp_path, stored
):
    """The sketch's left half is half transparent (dark lines and coloured dabs, alpha 0.5), its right half
    opaque. Blender's `Image.pixels` (seen in bpy 4.2.13 and 5.3.0): an 8-bit image's colour is straight
    (a PNG whose Alpha is Premultiplied is divided by its alpha on load), a float image's is premultiplied (an
    EXR is Premultiplied by default; a Straight float file is multiplied on load), except where the Alpha is
    Channel Packed (the file's values as they are) or None (alpha 1 on load). Stylize lays a coverage alpha
    over white paper, so each stored form gives what the pipeline makes of the straight sRGB picture.
    Channel Packed and None say the alpha is not coverage (another map, or none): the sketch is its colour,
    opaque, also for a canvas set to it after painting (Blender keeps the painted alpha in its pixels). The
    results used to be the picture composited with an alpha that is not coverage, and a Channel Packed EXR's
    colour divided by it as well."""
    from PIL import Image

    bpy, imageio = blender.bpy, blender.core.imageio
    srgb = dabbed(128)
    srgb[:, :64, 3] = 128 / 255  # alpha 0.5 (an 8-bit level)
    opaque = srgb.copy()
    opaque[..., 3] = 1.0
    coverage = "Channel Packed" not in stored and "None" not in stored
    png, exr = tmp_path / "sketch.png", tmp_path / "sketch.exr"
    straight_linear = imageio.srgb_to_linear(srgb)
    premul_linear = straight_linear.copy()
    premul_linear[..., :3] *= premul_linear[..., 3:]
    if "premultiplied colour" in stored:
        levels = np.round(np.concatenate([srgb[..., :3] * srgb[..., 3:], srgb[..., 3:]], axis=2) * 255)
        Image.fromarray(levels.astype(np.uint8)[::-1], "RGBA").save(png)
    elif "PNG" in stored:
        Image.fromarray(np.round(srgb * 255).astype(np.uint8)[::-1], "RGBA").save(png)
    if stored.startswith("EXR"):  # Channel Packed: colour and alpha independent, the colour as it is
        _exr(bpy, exr, premul_linear if coverage else straight_linear)
    if "canvas" in stored:
        sketch = bpy.data.images.new("canvas", 128, 128, alpha=True, float_buffer="float" in stored)
        linear = premul_linear if coverage else straight_linear  # Channel Packed: the colour as it is
        sketch.pixels.foreach_set((linear if "float" in stored else srgb).ravel())
        if not coverage:
            sketch.alpha_mode = "CHANNEL_PACKED" if "Channel Packed" in stored else "NONE"
    else:
        sketch = bpy.data.images.load(str(exr if stored.startswith("EXR") else png), check_existing=False)
        mode = {"Straight": "STRAIGHT", "Premultiplied": "PREMUL", "Channel Packed": "CHANNEL_PACKED"}
        mode["None"] = "NONE"
        sketch.alpha_mode = next(m for k, m in mode.items() if stored.endswith(k))
        sketch.reload()
    assert sketch.is_float == ("EXR" in stored or "float" in stored)
    # "premultiplied colour": one level in 255 of a premultiplied byte is two of the straight colour
    atol = 3 * LEVEL if "premultiplied colour" in stored else LEVEL
    want = pipeline_output(blender, srgb if coverage else opaque)
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    finish(blender)
    for stage in ("colorize", "stylize"):
        result = bpy.data.images[f"{sketch.name} {blender.core.pipeline.RESULT_SUFFIX[stage]}"]
        np.testing.assert_allclose(pixels_of(result), want[stage], atol=atol, err_msg=stage)
