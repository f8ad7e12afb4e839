"""The extension inside real Blender (the bpy of each Blender test venv, from PyPI): installed from its zip
with Blender's extension installer, operators on a real mesh and image, the main-thread drain called
directly."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from tools.build_extension import bundled_wheels, this_platform

from .conftest import HOUSE, PKG, paint, pixels_of

pytest.importorskip("bpy", reason="a Blender test: it runs in the Blender venvs (make test-blender)")
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def finish(blender, timeout=120):
    # (Publish reads a result's sketch in a main-thread step of its own, which submits its job)
    while blender.runtime.pending_steps():
        blender.runtime.drain(step=True)
    assert blender.runtime.worker.wait_idle(timeout)
    return blender.runtime.drain()


def new_canvas(blender, size="256"):
    bpy = blender.bpy
    bpy.ops.mesh.primitive_plane_add()
    assert bpy.ops.nftgan.new_canvas(size=size) == {"FINISHED"}
    return bpy.context.scene.nftgan.sketch


def expected_results(blender, pixels):
    """What the pipeline makes of these pixels with the scene's chosen models (8-bit like the datablocks)."""
    from nftgan.core import pipeline

    models = {k: m.path for k, m in blender.stylize.chosen_models(blender.bpy.context.scene).items()}
    return {k: np.round(v * 255) / 255 for k, v in pipeline.run(pixels, models=models).items()}


@contextlib.contextmanager
def paused(blender, start):
    """`start()` submits a job (and returns it); inside the block that job is paused on the worker in its
    first progress report past 0 (a tile of its first stage done: running, inside the pipeline), and goes on
    when the block ends, also when the test fails in it. While `start` runs a job of the test's own keeps
    the worker busy, so the job is still queued when the pause is attached: no timing, any load."""
    release, reached, resume = threading.Event(), threading.Event(), threading.Event()

    def report(job):
        if job.fraction > 0 and not reached.is_set():
            reached.set()
            resume.wait(120)

    blender.runtime.worker.submit(lambda job: release.wait(120), label="test: hold the worker")
    try:
        job = start()
        assert job is not None and job.state == "queued"
        job.on_progress = report
    finally:
        release.set()
    try:
        assert reached.wait(120) and job.state == "running"
        yield job
    finally:
        resume.set()


def stylize_paused(blender, **kwargs):
    """`paused()` for the Stylize operator's job."""

    def start():
        assert blender.bpy.ops.nftgan.stylize(**kwargs) == {"FINISHED"}
        return blender.stylize.current_job()

    return paused(blender, start)


def test_installed_with_blenders_installer(blender):
    """This platform's zip carries an onnxruntime wheel for each Blender Python; Blender's installer
    extracts the one for its own Python only."""
    assert os.path.basename(blender.zip) == f"nftgan-0.1.0-{this_platform()}.zip"
    ext_dir = os.path.join(blender.profile, "extensions", "user_default", "nftgan")
    assert os.path.isfile(os.path.join(ext_dir, "blender_manifest.toml"))
    wheels = bundled_wheels(blender.zip)
    assert sorted(wheels) == ["3.11", "3.13"]
    site = os.path.join(blender.profile, "extensions", ".local", "lib", f"python{PYTHON}", "site-packages")
    installed = [d for d in os.listdir(site) if d.startswith("onnxruntime-") and d.endswith(".dist-info")]
    assert installed == [f"onnxruntime-{wheels[PYTHON]}.dist-info"]
    names = {(s.kind, s.name) for s in blender.styles.styles() if s.ok}
    assert {("colorize", "Tiny pix2pix"), ("stylize", "Tiny cyclegan")} <= names


def test_style_pickers_with_previews(blender, scene):
    styles = blender.styles
    finish(blender)  # the worker renders each style's preview (the sample house through the model)
    tiny = [s for s in styles.styles() if s.ok and s.id in ("colorize", "stylize")]
    for style in tiny:
        assert os.path.getsize(styles.thumbnail_path(style)) > 0
        styles.icon_id(style)  # loads the preview (icon ids stay 0 in the window-less bpy module)
        assert tuple(styles._previews[style.path].image_size) == (128, 128)
    props = scene.nftgan
    props.stylize = "stylize"  # the picker (an enum of the installed styles) stores the style's id
    assert props.stylize_id == "stylize" and props.stylize == "stylize"
    props.colorize = "NONE"
    assert props.colorize_id == "NONE"
    assert list(blender.stylize.chosen_models(scene)) == ["stylize"]
    props.stylize = "NONE"
    with pytest.raises(blender.core.errors.UserError, match="choose a style for at least one"):
        blender.stylize.chosen_models(scene)


def test_stylize_canvas_on_mesh(blender, scene, tmp_path):
    bpy = blender.bpy
    sketch = new_canvas(blender)
    obj = bpy.context.active_object
    assert bpy.context.mode == "PAINT_TEXTURE" and obj.data.uv_layers
    nodes = obj.active_material.node_tree.nodes
    assert nodes["NFTGan Sketch"].image == sketch
    drawn = paint(sketch, HOUSE)
    before = pixels_of(sketch).copy()

    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    done = [j for j in finish(blender) if j.label == "Stylize Sketch"]
    assert [j.state for j in done] == ["done"]
    np.testing.assert_array_equal(pixels_of(sketch), before)  # the sketch is never modified
    expected = expected_results(blender, before)
    for stage, name in (("colorize", "Sketch colorized"), ("stylize", "Sketch stylized")):
        img = bpy.data.images[name]
        assert tuple(img.size) == (256, 256) and img.packed_file is not None and img.use_fake_user
        px = pixels_of(img)
        assert px[..., :3].std() > 0.02 and (px[..., 3] == 1).all() and np.abs(px - drawn).mean() > 0.05
        np.testing.assert_allclose(px, expected[stage], atol=1.01 / 255)  # exactly the models' output
    assert "Sketch stylized" in blender.runtime.last_report[1]
    # each result records the models that made it, with their versions (provenance for publishing)
    records = blender.images.models_of(bpy.data.images["Sketch stylized"])
    chosen = blender.stylize.chosen_models(bpy.context.scene)
    assert [(r["kind"], r["name"]) for r in records] == [(k, m.name) for k, m in chosen.items()]
    for record, info in zip(records, chosen.values(), strict=True):
        assert record["version"] == hashlib.sha256(open(info.path, "rb").read()).hexdigest()[:12]

    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    assert blender.images.find_sketch(bpy.context) == sketch  # Texture Paint still paints the sketch
    result = nodes["NFTGan Result"]
    assert result.image.name == "Sketch stylized"
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Base Color"].links[0].from_node == result
    assert nodes["NFTGan Sketch"].image == sketch  # kept in the material

    path = str(tmp_path / "scene.blend")
    sketch.pack()
    bpy.ops.wm.save_as_mainfile(filepath=path)
    # Stylize again (after a save, so the results are file-backed): updated in place, saved again
    bpy.ops.wm.open_mainfile(filepath=path)
    sketch = bpy.data.images["Sketch"]
    paint(sketch, HOUSE[:1])
    second = expected_results(blender, pixels_of(sketch))
    bpy.ops.nftgan.stylize(image="Sketch")
    finish(blender)
    nodes = bpy.data.objects["Plane"].active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image == bpy.data.images["Sketch stylized"]
    assert not any(i.name.startswith("Sketch stylized.") for i in bpy.data.images)
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    for stage, name in (("colorize", "Sketch colorized"), ("stylize", "Sketch stylized")):
        reloaded = bpy.data.images[name]
        assert reloaded.packed_file is not None and reloaded.source == "FILE"
        np.testing.assert_allclose(pixels_of(reloaded), second[stage], atol=1.01 / 255)


def test_the_sketch_drawn_on_a_new_canvas_is_kept_in_the_saved_file(blender, scene, tmp_path):
    """New Sketch Canvas, draw, save the .blend (Ctrl+S, as the guide goes), open it again: the drawing is
    there, and so is what was drawn after that. On main the canvas (a generated image, never packed) came back
    white: only the results were kept. An image of the artist's own with a file on disk stays Blender's to save."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    drawn = paint(sketch, HOUSE)
    own = bpy.data.images.new("Own", 8, 8)
    own.filepath_raw, own.file_format = str(tmp_path / "own.png"), "PNG"
    own.save()
    own.source, own.use_fake_user = "FILE", True
    own.pixels.foreach_set(np.zeros(8 * 8 * 4, np.float32))  # painted, not saved: Blender's usual rules
    path = str(tmp_path / "drawn.blend")
    for strokes in (HOUSE[:1], None):
        bpy.ops.wm.save_as_mainfile(filepath=path)
        bpy.ops.wm.open_mainfile(filepath=path)
        sketch = bpy.data.images["Sketch"]
        np.testing.assert_allclose(pixels_of(sketch), drawn, atol=0.5 / 255)
        assert bpy.data.images["Own"].packed_file is None
        assert bpy.data.objects["Plane"].active_material.node_tree.nodes["NFTGan Sketch"].image == sketch
        if strokes:  # drawing goes on in the file's sketch, saved again
            drawn = paint(sketch, strokes)


def test_a_sketch_replaced_by_a_new_canvas_is_still_in_the_file(blender, scene, tmp_path):
    """New Sketch Canvas again on the same mesh puts a new material on it: the first sketch, no longer used
    by anything, stays in the file (as the results do) instead of going with Blender's unused data on the
    second save (main: gone after two saves)."""
    bpy = blender.bpy
    first = new_canvas(blender)
    drawn = paint(first, HOUSE)
    assert bpy.ops.nftgan.new_canvas(size="256") == {"FINISHED"}
    path = str(tmp_path / "two.blend")
    for _ in range(2):
        bpy.ops.wm.save_as_mainfile(filepath=path)
        bpy.ops.wm.open_mainfile(filepath=path)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch"]), drawn, atol=0.5 / 255)
    assert bpy.data.images["Sketch.001"] == bpy.context.scene.nftgan.sketch


def test_the_artists_material_replaced_by_a_new_canvas_is_kept_in_the_file(blender, scene, tmp_path, capfd):
    """New Sketch Canvas on a mesh that has a material of the artist's puts its sketch material in that slot:
    the artist's material, then used by nothing, was gone after saving and reopening the file (on main:
    bpy.data.materials held only "Cube sketch"). It is kept (fake user) and the report says so."""
    bpy = blender.bpy
    bpy.ops.mesh.primitive_cube_add()
    own = bpy.data.materials.new("Weathered bronze")
    bpy.context.active_object.data.materials.append(own)
    assert bpy.ops.nftgan.new_canvas(size="256") == {"FINISHED"}
    assert bpy.context.active_object.active_material.name == "Cube sketch"
    assert own.use_fake_user
    assert "its material 'Weathered bronze' is kept in the file" in capfd.readouterr().out  # the report
    path = str(tmp_path / "own.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert "Weathered bronze" in bpy.data.materials


def test_model_files_are_read_on_the_worker_at_start(blender, scene):
    """Enabling the add-on reads every model file on the worker, so the first panel draw does not have to."""
    cache = blender.core.styles._cache
    cache.clear()
    blender.styles.read_in_background()  # what register() does
    done = [j for j in finish(blender) if j.label == "NFTGan: reading styles"]
    assert [j.state for j in done] == ["done"]
    read = dict(cache)
    assert {os.path.basename(k[0]) for k in read} >= {"colorize.onnx", "stylize.onnx", "upscale.onnx"}
    blender.styles.refresh_styles()  # the panel's scan now only looks the files up
    assert dict(cache) == read


def test_exemplar_index_is_read_on_the_worker_at_start(blender, scene):
    """Enabling the add-on also reads the exemplar colour index on the worker (~0.2 s), so the first Stylize
    of a sketch without dabs does not wait for it."""
    exemplar = blender.core.exemplar
    exemplar._cache.clear()
    blender.styles.read_in_background()  # what register() does
    done = [j for j in finish(blender) if j.label == "NFTGan: reading styles"]
    assert [j.state for j in done] == ["done"]
    assert exemplar.INDEX.is_file()  # (shipped in the extension)
    assert exemplar._cache.get(str(exemplar.INDEX)) is not None


def test_the_index_beside_a_users_colorize_style_is_read_on_the_worker_at_start(
    blender, scene, colorize_model, tmp_path
):
    """A user's colorize style with its own exemplars.npz beside it (tools.exemplar_index): its index is read
    on the worker at start too, for the first Stylize with that style (each colorize style takes the index in
    its own folder: exemplar.beside)."""
    exemplar, prefs = blender.core.exemplar, blender.prefs
    shutil.copy(colorize_model, tmp_path / "my-style.onnx")
    shutil.copy(exemplar.INDEX, tmp_path / exemplar.NAME)
    prefs.model_folders.add().path = str(tmp_path)
    try:
        finish(blender)  # (its preview, made with it, reads the index too)
        exemplar._cache.clear()
        blender.styles.read_in_background()
        done = [j for j in finish(blender) if j.label == "NFTGan: reading styles"]
        assert [j.state for j in done] == ["done"]
        mine = exemplar._cache.get(str(tmp_path.resolve() / exemplar.NAME))
        assert mine is not None and mine is exemplar.beside(tmp_path / "my-style.onnx")
    finally:
        prefs.model_folders.remove(len(prefs.model_folders) - 1)
        blender.styles.refresh_styles()


def test_optional_upscale_stage(blender, scene):
    """Upscale is off until chosen; then a third result "<sketch> upscaled" (x4) is written and Apply to
    Material shows the newest Stylize's last result."""
    bpy, props = blender.bpy, scene.nftgan
    assert "upscale" not in blender.stylize.chosen_models(scene) and props.upscale == "NONE"
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    props.upscale = "upscale"  # the tiny x4 test model
    assert props.upscale_id == "upscale"
    assert list(blender.stylize.chosen_models(scene)) == ["colorize", "stylize", "upscale"]
    expected = expected_results(blender, pixels_of(sketch))
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    up = bpy.data.images["Sketch upscaled"]
    assert tuple(up.size) == (1024, 1024) and up.packed_file is not None
    # the report gives each result's size when they differ (it said "(1024x1024, ..." after all three names)
    said = blender.runtime.last_report[1]
    assert said.startswith(
        "NFTGan wrote 'Sketch colorized' 256x256, 'Sketch stylized' 256x256, 'Sketch upscaled' 1024x1024 ("
    ), said
    np.testing.assert_allclose(pixels_of(up), expected["upscale"], atol=1.01 / 255)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image == up
    props.upscale = (
        "NONE"  # off again: the stylized image is the newest last result, not the old upscaled one
    )
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    assert nodes["NFTGan Result"].image == bpy.data.images["Sketch stylized"]


def test_apply_to_material_after_reopening_shows_the_files_newest_result(blender, scene, tmp_path):
    """Stylize with Upscale, then again without it (the newest result: "Sketch stylized"; the older "Sketch
    upscaled" stays), save. Apply to Material in that file showed "Sketch upscaled", the older result, once
    Blender had forgotten which Stylize was newest (a name kept in memory, per sketch name: gone when Blender
    restarts, and another file's when a file with a sketch of the same name was stylized meanwhile, as here)."""
    bpy, props = blender.bpy, scene.nftgan
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    for upscale in ("upscale", "NONE"):
        props.upscale = upscale
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}
        finish(blender)
    assert "Sketch upscaled" in bpy.data.images
    path = str(tmp_path / "a.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.read_homefile(
        use_empty=True
    )  # another piece: a sketch of the same name, stylized with Upscale
    bpy.context.scene.nftgan.colorize_id, bpy.context.scene.nftgan.stylize_id = "colorize", "stylize"
    bpy.context.scene.nftgan.upscale = "upscale"
    paint(new_canvas(blender), HOUSE[:1])
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    nodes = bpy.data.objects["Plane"].active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image.name == "Sketch stylized"
    # the tooltips say so: Apply's said "Show the stylized result" (it shows the upscaled one, or the colorized
    # with Stylize set to None); the canvas size picker's was empty
    tip = bpy.ops.nftgan.apply_material.get_rna_type().description
    assert "newest Stylize" in tip and "stylized result" not in tip
    assert bpy.context.scene.nftgan.bl_rna.properties["canvas_size"].description


def test_cancel(blender, scene):
    """Cancel stops a running Stylize inside its first stage: no result is written. The worker is paused
    in the job's first progress report while Cancel is pressed, so it is deterministic under any load."""
    bpy = blender.bpy
    sketch = new_canvas(blender, "2048")
    paint(sketch, HOUSE, width=12)
    with stylize_paused(blender) as job:
        assert 0 < job.fraction < 0.5
        assert bpy.ops.nftgan.cancel() == {"FINISHED"}
    finish(blender)
    assert job.state == "cancelled" and job.fraction < 0.5  # stopped inside the first stage
    assert "Sketch stylized" not in bpy.data.images and "Sketch colorized" not in bpy.data.images
    assert "cancelled" in blender.runtime.last_report[1]


def test_a_sketch_without_pixels_or_too_large_is_named_in_the_error(blender, scene, tmp_path):
    """An image whose file is missing (Blender shows it 0x0) or that is larger than NFTGan handles: Stylize's
    error names that image and what to do (it said "image is empty (0x0 pixels)" for a missing file)."""
    bpy = blender.bpy
    gone = bpy.data.images.new("Gone", 8, 8)
    gone.source, gone.filepath = "FILE", str(tmp_path / "moved-away.png")
    assert tuple(gone.size) == (0, 0)
    with pytest.raises(
        RuntimeError, match=r"'Gone' has no pixels \(its file may be missing or unreadable\); load or paint"
    ):
        bpy.ops.nftgan.stylize(image="Gone")
    # a file cut short: Blender reads it as 0x0 too
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    cut = bpy.data.images.load(str(tmp_path / "cut.png"))
    with pytest.raises(
        RuntimeError, match=r"'cut.png' has no pixels \(its file may be missing or unreadable\)"
    ):
        bpy.ops.nftgan.stylize(image=cut.name)
    bpy.data.images.new("Wide", 16385, 4)
    with pytest.raises(
        RuntimeError, match=r"'Wide' is 16385x4 pixels, more than NFTGan handles .* scale it down"
    ):
        bpy.ops.nftgan.stylize(image="Wide")
    assert blender.stylize.current_job() is None


def test_a_sketch_too_large_for_the_memory_limit_is_refused_before_it_is_copied(blender, scene, monkeypatch):
    """Stylize checks the job's memory need from the image's size before its pixels are copied: over the
    limit, the operator fails with the limit and the way out named, and no snapshot of the sketch was made."""
    import tracemalloc

    bpy = blender.bpy
    sketch = new_canvas(blender, "1024")  # a snapshot: 16 MB of floats
    monkeypatch.setenv("NFTGAN_MEMORY_LIMIT", "64M")
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match=r"(?s)needs about .* GB of memory.*NFTGAN_MEMORY_LIMIT"):
            bpy.ops.nftgan.stylize()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024**2, peak  # nothing image-sized was allocated
    assert blender.stylize.current_job() is None and "Sketch stylized" not in bpy.data.images
    monkeypatch.delenv("NFTGAN_MEMORY_LIMIT")
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}  # within the limit it runs
    finish(blender)
    assert "Sketch stylized" in bpy.data.images and sketch.name == "Sketch"


def test_live_preview_latest_wins(blender, scene):
    """Live preview hands each look at the sketch to the worker: the preview being computed finishes (a
    steady stream of changes would otherwise cancel every one), a newer look replaces a queued older one,
    the newest state wins, and a look at an unchanged sketch does nothing. The first preview is paused
    inside its first stage while the artist keeps painting, so the order is the same under any load."""
    bpy = blender.bpy
    stylize = blender.stylize
    sketch = new_canvas(blender, "2048")
    paint(sketch, HOUSE, width=12)
    scene.nftgan.live_preview = True
    # looks 1000 s apart: the rate limit spaces looks by 20x the time a look took (a 2048^2 foreach_get
    # under heavy load took long enough to push the next look past a 5 s step, and it was skipped)
    t = 100.0
    # the first look previews the sketch as it is (paused in its first stage while the artist paints)
    with paused(blender, lambda: stylize.live_tick(now=t)) as first:
        assert stylize.live_tick(now=t + 0.01) is None  # looks are rate limited
        sketch.scale(256, 256)  # the artist keeps working (smaller, so the test is quick)
        paint(sketch, HOUSE[:1], width=4)
        second = stylize.live_tick(now=t + 1000)
        paint(sketch, HOUSE[1:2], width=4)
        third = stylize.live_tick(now=t + 2000)  # replaces the second look, still queued behind the first
        assert second.state == "cancelled" and third.state == "queued" and first.state == "running"
        assert not first.cancelled  # a newer look never cancels the preview being computed
        drawn = pixels_of(sketch).copy()
    finish(blender)
    assert first.state == "done" and third.state == "done" and second.state == "cancelled"
    out = pixels_of(bpy.data.images["Sketch stylized"])
    np.testing.assert_allclose(
        out, expected_results(blender, drawn)["stylize"], atol=1.01 / 255
    )  # newest won
    before = bpy.data.images["Sketch stylized"]
    unchanged = stylize.live_tick(now=t + 3000)  # nothing changed since: the worker skips it
    finish(blender)
    assert unchanged.state == "done" and unchanged.result is None
    assert bpy.data.images["Sketch stylized"] == before


def test_a_result_name_taken_by_the_artists_image(blender, scene):
    """An image of the artist's own already has a result's name: it is never written into; the result gets a
    numbered name, and Stylizing again (or a live preview) updates that result in place rather than adding
    one more image each time."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    mine = bpy.data.images.new("Sketch stylized", 16, 16)
    mine.pixels.foreach_set(np.zeros(16 * 16 * 4, np.float32))
    for _ in range(3):
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
    assert bpy.data.images["Sketch stylized"] == mine and tuple(mine.size) == (16, 16)
    assert pixels_of(mine).max() == 0  # untouched
    results = [im.name for im in bpy.data.images if im.get(blender.images.RESULT_TAG) == "stylize"]
    assert results == ["Sketch stylized.001"], results
    assert "'Sketch stylized.001'" in blender.runtime.last_report[1]
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image.name == "Sketch stylized.001"
    sketch.scale(128, 128)  # another size: a new datablock takes over the result's users and its name
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    results = [im for im in bpy.data.images if im.get(blender.images.RESULT_TAG) == "stylize"]
    assert [(im.name, tuple(im.size)) for im in results] == [("Sketch stylized.001", (128, 128))]
    assert nodes["NFTGan Result"].image == results[0] and pixels_of(mine).max() == 0


def _paint_on(blender, image, corner=40) -> np.ndarray:
    """The artist paints a black square on a result (written straight into its pixels: what a paint stroke
    does to the buffer); returns the pixels as shown."""
    painted = pixels_of(image).copy()
    painted[:corner, :corner, :3] = 0
    linear = blender.core.imageio.srgb_to_linear(painted) if image.is_float else painted
    image.pixels.foreach_set(linear.ravel())
    image.update()
    return painted


def _house_stylized(blender):
    """The house sketched on a new canvas (returned), stylized."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    return sketch


def _stylized_on_a_plane(blender):
    """`_house_stylized`, its result applied to the canvas's plane."""
    sketch = _house_stylized(blender)
    assert blender.bpy.ops.nftgan.apply_material() == {"FINISHED"}
    return sketch


def test_a_result_painted_on_and_renamed_is_kept(blender, scene):
    """What the guide says to do to keep paint on a result: rename it; the next Stylize makes a new result and
    leaves the renamed one, its paint and the material showing it as they are."""
    bpy = blender.bpy
    _stylized_on_a_plane(blender)
    mine = bpy.data.images["Sketch stylized"]
    mine.name = "My painted"
    painted = _paint_on(blender, mine)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(pixels_of(mine), painted, atol=1e-5)
    assert bpy.data.images["Sketch stylized"] != mine
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image == mine


def _results(blender, stage):
    return [im.name for im in blender.bpy.data.images if im.get(blender.images.RESULT_TAG) == stage]


def test_a_result_painted_on_is_kept_and_the_new_one_is_numbered(blender, scene):
    """The artist paints on a result and Stylizes again: the painted result keeps its paint, its name and the
    material showing it; the new result lands beside it under a numbered name, and the status line says so.
    A result that was not painted on is updated in place as before, and later Stylizes update the numbered
    result in place rather than adding one more image each time."""
    bpy = blender.bpy
    sketch = _stylized_on_a_plane(blender)
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    mine, colorized = bpy.data.images["Sketch stylized"], bpy.data.images["Sketch colorized"]
    assert nodes["NFTGan Result"].image == mine
    uid = colorized.session_uid
    painted = _paint_on(blender, mine)

    paint(sketch, HOUSE[:1])
    second = expected_results(blender, pixels_of(sketch))
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert bpy.data.images["Sketch stylized"] == mine
    np.testing.assert_allclose(pixels_of(mine), painted, atol=1e-5)  # the paint, untouched
    assert nodes["NFTGan Result"].image == mine  # the material still shows the painted image
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    new = bpy.data.images["Sketch stylized.001"]
    np.testing.assert_allclose(pixels_of(new), second["stylize"], atol=1.01 / 255)
    # not painted on: updated in place, as before
    assert _results(blender, "colorize") == ["Sketch colorized"]
    assert bpy.data.images["Sketch colorized"].session_uid == uid
    np.testing.assert_allclose(pixels_of(colorized), second["colorize"], atol=1.01 / 255)
    report = blender.runtime.last_report[1]
    assert (
        "'Sketch stylized' had paint on it and was kept; the new result is 'Sketch stylized.001'." in report
    )
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}  # Apply to Material: the newest result
    assert nodes["NFTGan Result"].image == new

    paint(sketch, HOUSE)  # again: the numbered result is updated in place, the painted one left alone
    third = expected_results(blender, pixels_of(sketch))
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    assert bpy.data.images["Sketch stylized.001"] == new
    np.testing.assert_allclose(pixels_of(new), third["stylize"], atol=1.01 / 255)
    np.testing.assert_allclose(pixels_of(mine), painted, atol=1e-5)
    assert "had paint on it" not in blender.runtime.last_report[1]

    # Live Preview keeps paint too: a result painted on is kept once, then the previews update the new one
    painted_new = _paint_on(blender, new, corner=20)
    scene.nftgan.live_preview = True
    for i in range(2):
        paint(sketch, HOUSE[: i + 1], width=2 + i)
        blender.stylize.live_tick(now=1000.0 * (i + 1))
        finish(blender)
        assert _results(blender, "stylize") == [
            "Sketch stylized",
            "Sketch stylized.001",
            "Sketch stylized.002",
        ]
        if i == 0:
            report = blender.runtime.last_report[1]
            assert "'Sketch stylized.001' had paint on it and was kept" in report
            assert "the new result is 'Sketch stylized.002'" in report
    np.testing.assert_allclose(
        pixels_of(bpy.data.images["Sketch stylized.002"]),
        expected_results(blender, pixels_of(sketch))["stylize"],
        atol=1.01 / 255,
    )
    np.testing.assert_allclose(pixels_of(new), painted_new, atol=1e-5)
    np.testing.assert_allclose(pixels_of(mine), painted, atol=1e-5)


def _rotate_clockwise(blender, image) -> np.ndarray:
    """The artist's Image > Transform > Rotate 90° Clockwise (`image.rotate_orthogonal(degrees="90")`, which
    segfaults in bpy-as-a-module: it pushes an image undo step and there is no undo stack): the same pixels,
    written straight into the image, its width and height swapped. The operator marks the image changed
    (`BKE_image_mark_dirty`), as writing its pixels does. Returns the pixels as shown."""
    shown = pixels_of(image)  # rows bottom to top: clockwise on screen is a quarter turn anticlockwise here
    turned = np.ascontiguousarray(np.rot90(shown, 1))
    h, w = turned.shape[:2]
    if tuple(image.size) != (w, h):
        image.scale(w, h)
    linear = blender.core.imageio.srgb_to_linear(turned) if image.is_float else turned
    image.pixels.foreach_set(linear.ravel())
    image.update()
    assert image.is_dirty
    return turned


def test_a_result_rotated_in_the_image_editor_is_kept_as_paint(blender, scene, tmp_path):
    """A result the artist turned with Rotate 90° Clockwise is their work, as paint is: a re-Stylize keeps it
    (its pixels, its new size, the material showing it) and the new result lands beside it, in the session (a
    float result), after the .blend is saved and reopened (an 8-bit one) and for a result that is not square
    (its width and height swap)."""
    bpy = blender.bpy
    sketch = _stylized_on_a_plane(blender)
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    mine = bpy.data.images["Sketch stylized"]
    turned = _rotate_clockwise(blender, mine)
    paint(sketch, HOUSE[:1])
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert bpy.data.images["Sketch stylized"] == mine and nodes["NFTGan Result"].image == mine
    np.testing.assert_allclose(pixels_of(mine), turned, atol=1e-5)
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    assert _results(blender, "colorize") == ["Sketch colorized"]  # not turned: updated in place
    assert "'Sketch stylized' had paint on it and was kept" in blender.runtime.last_report[1]

    path = str(tmp_path / "turned.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    colorized = bpy.data.images["Sketch colorized"]
    assert not colorized.is_float and not colorized.is_dirty
    turned = _rotate_clockwise(blender, colorized)
    paint(bpy.data.images["Sketch"], HOUSE)
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch colorized"]), turned, atol=1e-5)
    assert _results(blender, "colorize") == ["Sketch colorized", "Sketch colorized.001"]

    wide = bpy.data.images.new("Wide", 96, 64, alpha=True)
    paint(wide, HOUSE)
    assert bpy.ops.nftgan.stylize(image="Wide") == {"FINISHED"}
    finish(blender)
    result = bpy.data.images["Wide stylized"]
    assert tuple(result.size) == (96, 64)
    turned = _rotate_clockwise(blender, result)
    assert bpy.ops.nftgan.stylize(image="Wide") == {"FINISHED"}
    finish(blender)
    assert bpy.data.images["Wide stylized"] == result and tuple(result.size) == (64, 96)
    np.testing.assert_allclose(pixels_of(result), turned, atol=1e-5)
    assert tuple(bpy.data.images["Wide stylized.001"].size) == (96, 64)


def test_the_pixel_digest_tells_paint_apart(blender):
    """`pixels_digest` (what tells a result painted on from one as NFTGan wrote it, cheaper than crc32) changes
    with any change paint makes: one bit anywhere, two pixels swapped, the image flipped, and pure green
    painted over a black block 512 pixels wide (only the second channel changes, by a power of two: that
    block's wrapping row and column sums do not change), or 1.0 made 256.0 there (a word's top bits alone, in
    whole bands of rows), or a channel's signs flipped."""
    digest = blender.images.pixels_digest
    rng = np.random.default_rng(3)
    px = rng.random((1024, 1024, 4), dtype=np.float32)
    px[:512, :512, :3] = 0
    base = digest(px.ravel(), 1024)
    changed = []
    for i in (0, 1, 4097, px.size - 1):
        bits = px.ravel().view(np.uint32).copy()
        bits[i] ^= 1
        changed.append(bits.view(np.float32))
    swapped = px.copy()
    swapped[[3, 700], [5, 9]] = swapped[[700, 3], [9, 5]]
    green = px.copy()
    green[:512, :512, 1] = 1.0
    brighter = green.copy()  # a word's top bits alone, over a block of whole bands of rows: 1.0 -> 256.0
    brighter[:64, :512, 1] = 256.0
    negated = px.copy()  # sign bits alone
    negated[:512, :512, 3] *= -1
    for other in (*changed, swapped, px[::-1], px[:, ::-1], green, negated):
        assert digest(np.ascontiguousarray(other).ravel(), 1024) != base
    assert digest(brighter.ravel(), 1024) != digest(green.ravel(), 1024)
    assert digest(px.copy().ravel(), 1024) == base
    odd = rng.random((1000, 777, 4), dtype=np.float32)  # rows not a whole number of bands
    flipped = odd.copy()
    flipped.ravel().view(np.uint32)[-1] ^= 1
    assert digest(flipped.ravel(), 1000) != digest(odd.ravel(), 1000) == digest(odd.copy().ravel(), 1000)


def test_paint_on_a_result_is_kept_across_saving_and_reopening(blender, scene, tmp_path):
    """Paint made before a save is in the result's packed PNG; a Stylize after reopening keeps that result
    rather than packing the new one over it. So is paint made after reopening. A result not painted on is
    updated in place after reopening, as before."""
    bpy = blender.bpy
    _house_stylized(blender)
    painted = _paint_on(blender, bpy.data.images["Sketch stylized"])
    path = str(tmp_path / "painted.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    assert not bpy.data.images["Sketch stylized"].is_dirty
    paint(bpy.data.images["Sketch"], HOUSE[:1])
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    before_save = bpy.data.images["Sketch stylized"]
    np.testing.assert_allclose(pixels_of(before_save), painted, atol=1.01 / 255)  # (8-bit since the save)
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    assert _results(blender, "colorize") == ["Sketch colorized"]
    assert "'Sketch stylized' had paint on it and was kept" in blender.runtime.last_report[1]

    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    after = _paint_on(blender, bpy.data.images["Sketch colorized"])  # painted after reopening
    paint(bpy.data.images["Sketch"], HOUSE)
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch colorized"]), after, atol=1e-5)
    assert _results(blender, "colorize") == ["Sketch colorized", "Sketch colorized.001"]
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]  # .001: in place
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), painted, atol=1.01 / 255)
    assert "'Sketch colorized' had paint on it and was kept" in blender.runtime.last_report[1]


def test_paint_on_a_reopened_result_is_packed_once(blender, scene, tmp_path, monkeypatch):
    """Paint on a result after reopening (an 8-bit image) is packed at the next save, and a save after that,
    with no more paint, leaves the packed PNG as it is: no second encode."""
    bpy = blender.bpy
    _house_stylized(blender)
    path = str(tmp_path / "painted.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    painted = _paint_on(blender, bpy.data.images["Sketch stylized"])
    encodes = []
    encode = blender.core.imageio.encode_png
    monkeypatch.setattr(
        blender.core.imageio, "encode_png", lambda *a, **k: encodes.append(1) or encode(*a, **k)
    )
    bpy.ops.wm.save_as_mainfile(filepath=path)
    assert len(encodes) == 1
    bpy.ops.wm.save_as_mainfile(filepath=path)
    assert len(encodes) == 1
    bpy.ops.wm.open_mainfile(filepath=path)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), painted, atol=1e-5)


def _image_save(blender, image):
    """The artist's Image > Save in the Image Editor: for a packed image Blender packs its pixels again as they
    are (`BKE_image_memorypack`), paint and all, and the image is no longer marked changed."""
    with blender.bpy.context.temp_override(edit_image=image):
        assert blender.bpy.ops.image.save() == {"FINISHED"}
    assert not image.is_dirty and image.packed_file is not None


def test_paint_saved_with_image_save_is_kept(blender, scene, tmp_path):
    """Paint the artist saved with Image > Save (which repacks a packed result and leaves it unmarked) is kept
    by the next Stylize, in the session and after the .blend is saved and reopened, and shows as painted after
    reopening (a float result's Image > Save packs an OpenEXR of its linear pixels, not an sRGB PNG)."""
    bpy = blender.bpy
    sketch = _house_stylized(blender)
    painted = _paint_on(blender, bpy.data.images["Sketch stylized"])
    _image_save(blender, bpy.data.images["Sketch stylized"])
    paint(sketch, HOUSE[:1])
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), painted, atol=1e-5)
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    assert _results(blender, "colorize") == ["Sketch colorized"]  # not repacked: updated in place
    assert "'Sketch stylized' had paint on it and was kept" in blender.runtime.last_report[1]

    path = str(tmp_path / "saved.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), painted, atol=2e-3)
    after = _paint_on(blender, bpy.data.images["Sketch colorized"])  # painted after reopening, then saved
    _image_save(blender, bpy.data.images["Sketch colorized"])
    paint(bpy.data.images["Sketch"], HOUSE)
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch colorized"]), after, atol=1.01 / 255)
    assert _results(blender, "colorize") == ["Sketch colorized", "Sketch colorized.001"]
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]  # .001: in place
    assert "'Sketch colorized' had paint on it and was kept" in blender.runtime.last_report[1]


def test_a_result_saved_with_image_save_without_paint_is_updated(blender, scene, tmp_path):
    """Image > Save of a result the artist did not paint on packs its pixels again (a file other than NFTGan's
    PNG), and it stays NFTGan's: the next Stylize updates it in place, with no numbered result and no note, in
    the session (a float image) and after the .blend is saved and reopened (an 8-bit image of its PNG)."""
    bpy = blender.bpy
    sketch = _house_stylized(blender)
    result = bpy.data.images["Sketch stylized"]
    uid = result.session_uid
    _image_save(blender, result)
    paint(sketch, HOUSE[:1])
    second = expected_results(blender, pixels_of(sketch))
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert _results(blender, "stylize") == ["Sketch stylized"]
    assert bpy.data.images["Sketch stylized"].session_uid == uid
    np.testing.assert_allclose(pixels_of(result), second["stylize"], atol=1.01 / 255)
    assert "had paint on it" not in blender.runtime.last_report[1]

    path = str(tmp_path / "saved.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    for name in ("Sketch stylized", "Sketch colorized"):
        assert not bpy.data.images[name].is_float
        _image_save(blender, bpy.data.images[name])
    paint(bpy.data.images["Sketch"], HOUSE)
    third = expected_results(blender, pixels_of(bpy.data.images["Sketch"]))
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    assert _results(blender, "stylize") == ["Sketch stylized"]
    assert _results(blender, "colorize") == ["Sketch colorized"]
    for stage, name in (("stylize", "Sketch stylized"), ("colorize", "Sketch colorized")):
        np.testing.assert_allclose(pixels_of(bpy.data.images[name]), third[stage], atol=1.01 / 255)
    assert "had paint on it" not in blender.runtime.last_report[1]


def _raw(image) -> np.ndarray:
    buf = np.empty(image.size[0] * image.size[1] * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    return buf


def _unpack(blender, image) -> str:
    """The artist's Image > Unpack (Use files in current directory): the packed PNG is written to
    textures/ beside the .blend and the image shows that file; returns its path."""
    with blender.bpy.context.temp_override(edit_image=image):
        assert blender.bpy.ops.image.unpack(method="WRITE_LOCAL") == {"FINISHED"}
    assert image.packed_file is None
    return blender.bpy.path.abspath(image.filepath)


def _save_to_file(blender, image) -> bytes:
    """The artist's Image > Save of an image with a file of its own: returns the file's bytes."""
    with blender.bpy.context.temp_override(edit_image=image):
        assert blender.bpy.ops.image.save() == {"FINISHED"}
    assert not image.is_dirty and image.packed_file is None
    with open(blender.bpy.path.abspath(image.filepath), "rb") as fh:
        return fh.read()


def test_a_result_unpacked_and_saved_to_its_own_file_is_kept(blender, scene, tmp_path):
    """The artist unpacks a result to a file (Image > Unpack), paints on it and saves it there (Image > Save):
    the next Stylize keeps it, its paint bit for bit, its file untouched, and the new result is numbered beside
    it, in the session (a float image) and after the .blend is saved and reopened (an 8-bit image). Saved
    there without paint it is kept too: the file is the artist's. A result unpacked and not saved since is
    updated in place. A numbered result unpacks to a file of its own, not over the first result's."""
    bpy = blender.bpy
    path = str(tmp_path / "unpacked.blend")
    _house_stylized(blender)
    bpy.ops.wm.save_as_mainfile(filepath=path)  # (Unpack writes beside the .blend)
    bpy.ops.wm.open_mainfile(filepath=path)
    sketch = bpy.data.images["Sketch"]
    paint(sketch, HOUSE[:1])
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}  # float results, this session's
    finish(blender)
    mine, colorized = bpy.data.images["Sketch stylized"], bpy.data.images["Sketch colorized"]
    assert mine.is_float and colorized.is_float
    file = _unpack(blender, mine)
    painted = _paint_on(blender, mine)
    on_disk, raw = _save_to_file(blender, mine), _raw(mine)
    _unpack(blender, colorized)  # not saved since
    uid = colorized.session_uid
    paint(sketch, HOUSE)
    second = expected_results(blender, pixels_of(sketch))
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    assert bpy.data.images["Sketch stylized"] == mine
    np.testing.assert_array_equal(_raw(mine), raw)  # the paint, bit for bit
    np.testing.assert_allclose(pixels_of(mine), painted, atol=1.01 / 255)
    with open(file, "rb") as fh:
        assert fh.read() == on_disk
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001"]
    assert (
        "'Sketch stylized' was saved to its own file (Sketch_stylized.png) and was kept"
        in blender.runtime.last_report[1]
    )
    np.testing.assert_allclose(
        pixels_of(bpy.data.images["Sketch stylized.001"]), second["stylize"], atol=1.01 / 255
    )
    assert _results(blender, "colorize") == ["Sketch colorized"]  # not saved to its file: updated in place
    assert bpy.data.images["Sketch colorized"].session_uid == uid
    np.testing.assert_allclose(pixels_of(colorized), second["colorize"], atol=1.01 / 255)
    first = file, on_disk

    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)  # 8-bit images of their PNGs from now on
    colorized, new = bpy.data.images["Sketch colorized"], bpy.data.images["Sketch stylized.001"]
    assert not colorized.is_float and not new.is_float
    file = _unpack(blender, colorized)
    _paint_on(blender, colorized)
    on_disk, raw = _save_to_file(blender, colorized), _raw(colorized)
    _unpack(blender, new)
    unpainted = _save_to_file(blender, new), _raw(new)
    paint(bpy.data.images["Sketch"], HOUSE[1:])
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    np.testing.assert_array_equal(_raw(bpy.data.images["Sketch colorized"]), raw)
    with open(file, "rb") as fh:
        assert fh.read() == on_disk
    assert _results(blender, "colorize") == ["Sketch colorized", "Sketch colorized.001"]
    assert _results(blender, "stylize") == ["Sketch stylized", "Sketch stylized.001", "Sketch stylized.002"]
    np.testing.assert_array_equal(_raw(bpy.data.images["Sketch stylized.001"]), unpainted[1])
    report = blender.runtime.last_report[1]
    assert "'Sketch colorized' was saved to its own file (Sketch_colorized.png) and was kept" in report
    assert "'Sketch stylized.001' was saved to its own file (Sketch_stylized_001.png) and was kept" in report
    with open(first[0], "rb") as fh:
        assert fh.read() == first[1]  # (the numbered result unpacked beside it)


def test_a_result_unpacked_and_not_saved_to_its_file_is_kept_in_the_saved_blend(blender, scene, tmp_path):
    """A result the artist unpacked to a file (Image > Unpack) and did not save since is in the saved .blend:
    after reopening it shows its file (NFTGan's PNG), not a blank image; one painted on after unpacking keeps
    its paint (packed again from its pixels, its file left as it is), as does one whose file is gone."""
    bpy = blender.bpy
    path = str(tmp_path / "unpacked.blend")
    _house_stylized(blender)
    bpy.ops.wm.save_as_mainfile(filepath=path)  # (Unpack writes beside the .blend)
    bpy.ops.wm.open_mainfile(filepath=path)
    paint(bpy.data.images["Sketch"], HOUSE[:1])
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}  # float results, this session's
    finish(blender)
    stylized, colorized = bpy.data.images["Sketch stylized"], bpy.data.images["Sketch colorized"]
    shown = pixels_of(stylized).copy()
    file = _unpack(blender, stylized)
    with open(file, "rb") as fh:
        on_disk = fh.read()
    _unpack(blender, colorized)
    painted = _paint_on(blender, colorized)
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), shown, atol=1.01 / 255)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch colorized"]), painted, atol=1.01 / 255)
    with open(file, "rb") as fh:
        assert fh.read() == on_disk

    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}  # unpainted, its file gone: packed again
    finish(blender)
    stylized = bpy.data.images["Sketch stylized"]
    shown = pixels_of(stylized).copy()
    os.remove(_unpack(blender, stylized))
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch stylized"]), shown, atol=1.01 / 255)


def test_a_result_unpacked_to_its_file_keeps_it_when_its_sketch_is_renamed(blender, scene, tmp_path):
    """A result the artist unpacked to a file of its own (Image > Unpack) is theirs: when its sketch is renamed,
    the tick's rename retargeted it to "//House_colorized.png", a file that does not exist, and the .blend saved
    and reopened showed the result missing. It keeps its name and its file; the packed result beside it is
    renamed as before."""
    bpy = blender.bpy
    path = str(tmp_path / "unpacked.blend")
    sketch = _house_stylized(blender)
    bpy.ops.wm.save_as_mainfile(filepath=path)  # (Unpack writes beside the .blend)
    colorized, stylized = bpy.data.images["Sketch colorized"], bpy.data.images["Sketch stylized"]
    shown = pixels_of(colorized).copy()
    file = _unpack(blender, colorized)
    sketch.name = "House"
    _ticks_until_idle(blender)
    assert (colorized.name, stylized.name) == ("Sketch colorized", "House stylized")
    assert bpy.path.abspath(colorized.filepath) == file
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    reopened = bpy.data.images["Sketch colorized"]
    assert reopened.packed_file is None and bpy.path.abspath(reopened.filepath) == file
    np.testing.assert_allclose(pixels_of(reopened), shown, atol=1.01 / 255)


def test_image_deleted_or_renamed_mid_job(blender, scene):
    bpy = blender.bpy
    sketch = new_canvas(blender, "512")
    paint(sketch, HOUSE)
    with stylize_paused(blender):
        sketch.name = "Portrait"
    finish(blender)
    assert "Portrait stylized" in bpy.data.images and "Portrait colorized" in bpy.data.images

    with stylize_paused(blender, image="Portrait"):
        bpy.data.images.remove(bpy.data.images["Portrait"])
    finish(blender)
    assert "was deleted meanwhile" in blender.runtime.last_report[1]
    assert pixels_of(bpy.data.images["Portrait stylized"])[..., :3].std() > 0.02


def test_new_file_loaded_mid_job(blender, scene):
    bpy = blender.bpy
    sketch = new_canvas(blender, "2048")
    paint(sketch, HOUSE)
    with stylize_paused(blender) as job:
        bpy.ops.wm.read_homefile(use_empty=True)  # load_post: the job belongs to the old file
    finish(blender)
    assert job.state == "cancelled"
    assert not [i for i in bpy.data.images if "stylized" in i.name or "colorized" in i.name]
    assert "a different file was loaded" in blender.runtime.last_report[1]


def test_another_file_opened_does_not_show_the_old_files_report(blender, scene, tmp_path):
    """Stylize, then open another .blend (or File > New): the panel's report box showed "NFTGan wrote 'Sketch
    colorized', 'Sketch stylized' ..." over a file that has no such images, until the next job reported. A file
    loaded starts with an empty report box, except for a publish's report (not the old file's: it says where the
    token is); the report of a job it cancelled is still said (test_new_file_loaded_mid_job)."""
    bpy = blender.bpy
    other = str(tmp_path / "other.blend")
    bpy.ops.wm.save_as_mainfile(filepath=other)  # an empty file of the artist's
    _house_stylized(blender)
    assert "Sketch stylized" in blender.runtime.last_report[1]

    def report_box():
        shown = []
        blender.panels.draw(Layout(shown), bpy.context)
        after = shown.index(("operator", "nftgan.stylize_render")) + 1
        return [text for call, text in shown[after:] if call == "label"]

    assert report_box()
    bpy.ops.wm.open_mainfile(filepath=other)
    assert blender.runtime.last_report == ("INFO", "") and report_box() == []
    # a publish's report (its token URI, the upload command) is not the file's: it stays
    prefs = blender.prefs
    backend, folder = prefs.publish_backend, prefs.publish_offline_folder
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", str(tmp_path / "nft")
    try:
        bpy.data.images.new("Painted", 8, 8)
        assert bpy.ops.nftgan.publish(image="Painted") == {"FINISHED"}
        finish(blender)
    finally:
        prefs.publish_backend, prefs.publish_offline_folder = backend, folder
    staged = blender.runtime.last_report
    assert "Staged 'Painted'" in staged[1], staged
    bpy.ops.wm.read_homefile(use_empty=True)
    assert blender.runtime.last_report == staged


def test_undo_and_redo_after_a_result_lands(blender, scene):
    """Stylize, Undo past it (the results go), Redo: the results come back as they were written, not blank.
    (Blender re-reads a redone image from its undo step, without its pixels: a generated float image came back
    as its blank generated colour, std 0, while its packed PNG, the result as written, was still there.)
    An Undo that keeps the results keeps their pixels, and Stylize goes on updating them."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    expected = expected_results(blender, pixels_of(sketch))
    bpy.ops.ed.undo_push(message="painted")
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)  # the last step pushes the "NFTGan Stylize" undo step
    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert "Sketch stylized" not in bpy.data.images
    assert bpy.ops.ed.redo() == {"FINISHED"}
    for stage, name in (("colorize", "Sketch colorized"), ("stylize", "Sketch stylized")):
        np.testing.assert_allclose(pixels_of(bpy.data.images[name]), expected[stage], atol=1.01 / 255)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    paint(bpy.data.images["Sketch"], HOUSE[:1])
    again = expected_results(blender, pixels_of(bpy.data.images["Sketch"]))
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    result = bpy.data.images["Sketch stylized"]
    np.testing.assert_allclose(pixels_of(result), again["stylize"], atol=1.01 / 255)
    nodes = bpy.data.objects["Plane"].active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image == result


def _small_render(bpy, scene) -> None:
    """A cube seen by a camera, rendered by Cycles on the CPU at 48 x 32 px and 1 sample (about a second)."""
    bpy.ops.mesh.primitive_cube_add()
    bpy.ops.object.camera_add(location=(4, -4, 3), rotation=(1.1, 0, 0.8))
    scene.camera = bpy.context.active_object
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.device = "CPU"
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 48, 32, 100


def test_stylize_render(blender, scene):
    bpy = blender.bpy
    _small_render(bpy, scene)
    assert bpy.ops.nftgan.stylize_render() == {"FINISHED"}  # no render yet: it renders first
    runtime = blender.runtime
    assert runtime.worker.wait_idle(60)
    runtime.drain(step=True)  # the finished job queues its result's write: pieces over Blender's timer ticks
    while not runtime.last_report[1]:
        out = bpy.data.images.get("Render stylized")
        written = out is not None and out.packed_file is not None and out.get("nftgan_named") == out.name
        assert runtime.pending_steps()
        runtime.drain(step=True)
    assert written  # the report (and undo step) is a step of its own: no tick writes and reports
    assert "Render stylized" in runtime.last_report[1]
    assert tuple(out.size) == (48, 32)


def _restyled(blender, pixels) -> np.ndarray:
    """What the scene's Stylize style alone makes of these pixels (8-bit like the datablocks)."""
    from nftgan.core import pipeline

    scene = blender.bpy.context.scene
    model = blender.stylize.chosen_models(scene)["stylize"].path
    out = pipeline.run(pixels, models={"stylize": model}, **blender.stylize.stage_options(scene))["stylize"]
    return np.round(out * 255) / 255


def runtime_said(blender) -> str:
    return blender.runtime.last_report[1]


def test_stylize_render_restyles_the_renders_own_colours(blender, scene):
    """Stylize Render with the default Colorize read the render as a line sketch and painted its own colours
    over it (the stylized house rendered on a plane came back a pink blob on cream): the artist had to set
    Colorize to None by hand. A render is in colour already: Colorize is skipped, the Stylize style restyles
    the render's colours, and the report says so in a line. The same for the Render Result stylized from the
    Image Editor."""
    bpy, images = blender.bpy, blender.images
    _small_render(bpy, scene)
    bpy.ops.render.render()
    render = next(im for im in bpy.data.images if im.type == "RENDER_RESULT")
    expected = _restyled(blender, images.render_snapshot()[0])
    for stylize in (bpy.ops.nftgan.stylize_render, lambda: bpy.ops.nftgan.stylize(image=render.name)):
        assert stylize() == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
        assert sorted(im.name for im in bpy.data.images if im.get(images.RESULT_TAG)) == ["Render stylized"]
        out = bpy.data.images["Render stylized"]
        assert [r["kind"] for r in images.models_of(out)] == ["stylize"]
        np.testing.assert_allclose(pixels_of(out), expected, atol=1.01 / 255)
        assert runtime_said(blender).endswith(". Colorize skipped: the render is in colour already")


def test_restyling_with_stylize_set_to_none_says_what_to_choose(blender, scene):
    """Colorize the only stage chosen (Stylize: None) on a render or an NFTGan result, which are in colour
    already: nothing would be left to run. Said with what to choose, nothing written: for the render at once
    (before rendering: here a scene without a camera, which the render would refuse); for a result by the
    worker, which looks whether it is a line drawing now (it would be colorized: `line_drawing`) and refuses
    one in colour, before any model runs. A sketch still gets colorized."""
    bpy = blender.bpy
    sketch = _house_stylized(blender)
    scene.nftgan.stylize = "NONE"
    assert scene.nftgan.upscale == "NONE"
    said = "is in colour already, so Colorize .*: pick a Stylize style or turn on Upscale"
    with pytest.raises(RuntimeError, match=f"^Error: The render {said}"):
        bpy.ops.nftgan.stylize_render()
    assert blender.stylize.current_job() is None and not blender.runtime.worker.busy()
    assert bpy.ops.nftgan.stylize(image="Sketch stylized") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["failed"]
    level, line = blender.runtime.last_report
    assert level == "ERROR" and re.search(f"'Sketch stylized' \\(an NFTGan result\\) {said}", line), line
    assert not {"Sketch colorized.001", "Sketch stylized colorized"} & set(bpy.data.images.keys())
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert [r["kind"] for r in blender.images.models_of(bpy.data.images["Sketch colorized"])] == ["colorize"]
    assert "Sketch colorized colorized" not in bpy.data.images


def _upscaled(blender, pixels) -> np.ndarray:
    """What the scene's Upscale style alone makes of these pixels (8-bit like the datablocks)."""
    from nftgan.core import pipeline

    scene = blender.bpy.context.scene
    model = blender.stylize.chosen_models(scene)["upscale"].path
    out = pipeline.run(pixels, models={"upscale": model}, **blender.stylize.stage_options(scene))["upscale"]
    return np.round(out * 255) / 255


def test_upscale_alone_enlarges_a_picture_in_colour_already(blender, scene):
    """An artist who painted over a stylized result (or has a render) and wants it x4 sets Stylize to None and
    Upscale on: that was refused ("no Stylize style is chosen"). The Upscale style alone now enlarges the
    picture's own pixels, paint included, into "<sketch> upscaled", named, updated in place and kept when painted
    on by the same rules as every result; the render gives "Render upscaled". A line sketch with Stylize set to
    None and Upscale on is colorized and upscaled, as before."""
    bpy, images, props = blender.bpy, blender.images, scene.nftgan
    sketch = _house_stylized(blender)
    mine = bpy.data.images["Sketch stylized"]
    painted = _paint_on(blender, mine)  # the artist's paint over the stylized result
    props.stylize, props.upscale = "NONE", "upscale"
    expected = _upscaled(blender, painted)
    for _ in range(2):  # the second: updated in place
        assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
        assert _results(blender, "upscale") == ["Sketch upscaled"]
        up = bpy.data.images["Sketch upscaled"]
        assert tuple(up.size) == (1024, 1024) and up["nftgan_source"] == "Sketch stylized"
        # (the models that made the picture it enlarged, then its own)
        assert [r["kind"] for r in images.models_of(up)] == ["colorize", "stylize", "upscale"]
        np.testing.assert_allclose(pixels_of(up), expected, atol=1.01 / 255)
        said = runtime_said(blender)
        assert said.startswith("NFTGan wrote 'Sketch upscaled' (1024x1024, "), said
        assert said.endswith(". Colorize skipped: 'Sketch stylized' (an NFTGan result) is in colour already")
        assert sorted(_results(blender, "stylize")) == ["Sketch stylized"]  # no other result made
        np.testing.assert_allclose(pixels_of(mine), painted, atol=1e-5)  # its paint untouched
    _paint_on(blender, up, corner=20)  # the upscaled result painted on: kept, the new one numbered
    assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
    finish(blender)
    assert sorted(_results(blender, "upscale")) == ["Sketch upscaled", "Sketch upscaled.001"]
    assert "'Sketch upscaled' had paint on it and was kept; the new result is 'Sketch upscaled.001'." in (
        runtime_said(blender)
    )

    _small_render(bpy, scene)  # the render: "Render upscaled", 4 x its size
    assert bpy.ops.nftgan.stylize_render() == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    out = bpy.data.images["Render upscaled"]
    assert tuple(out.size) == (192, 128) and [r["kind"] for r in images.models_of(out)] == ["upscale"]
    assert "Render stylized" not in bpy.data.images
    assert runtime_said(blender).endswith(". Colorize skipped: the render is in colour already")

    # a line sketch, as before: colorized, then the colorized result upscaled
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    kinds = [r["kind"] for r in images.models_of(bpy.data.images["Sketch colorized"])]
    assert kinds == ["colorize"] and "skipped" not in runtime_said(blender)
    # ... and with Colorize set to None too, still refused with what to choose
    props.colorize = "NONE"
    with pytest.raises(RuntimeError, match="Both Colorize and Stylize are set to None"):
        bpy.ops.nftgan.stylize(image=sketch.name)


def test_upscale_alone_of_a_large_picture_names_the_memory_it_needs(blender, scene, monkeypatch):
    """Upscale alone enlarges the picture itself x4 (no style's work size before it): a 2048 px result becomes
    8192 px. Over the memory limit it is refused before the pixels are copied, saying the size it would make and
    the way out."""
    bpy, props = blender.bpy, scene.nftgan
    big = bpy.data.images.new("Big stylized", 2048, 2048)
    big[blender.images.RESULT_TAG] = "stylize"  # an NFTGan result
    props.stylize, props.upscale = "NONE", "upscale"
    monkeypatch.setenv("NFTGAN_MEMORY_LIMIT", "2G")
    said = r"stylizing 2048x2048 px into 8192x8192 px needs about .* GB of memory; .*, or turn Upscale off"
    with pytest.raises(RuntimeError, match=said):
        bpy.ops.nftgan.stylize(image=big.name)
    assert blender.stylize.current_job() is None and "Big upscaled" not in bpy.data.images


def test_upscale_alone_of_a_result_too_large_for_nftgan_says_so(blender, scene, monkeypatch):
    """A 4096² result x4 would be 16384² (268 MP), beyond NFTGan's 100 MP: refused before the pixels are
    copied, whatever the memory limit, with the result's size, the limit and the way out."""
    bpy, props = blender.bpy, scene.nftgan
    big = bpy.data.images.new("Huge stylized", 4096, 4096)
    big[blender.images.RESULT_TAG] = "stylize"  # an NFTGan result
    props.stylize, props.upscale = "NONE", "upscale"
    monkeypatch.setenv("NFTGAN_MEMORY_LIMIT", "1000G")
    said = (
        r"stylizing 4096x4096 px into 16384x16384 px: the result is more than NFTGan handles \(16384 px per "
        r"side, 100 megapixels\); turn Upscale off, or scale the picture down to 2500 px per side first\."
    )
    with pytest.raises(RuntimeError, match=said):
        bpy.ops.nftgan.stylize(image=big.name)
    assert blender.stylize.current_job() is None and "Huge upscaled" not in bpy.data.images


def test_restyling_a_result_skips_colorize_and_names_its_results_after_the_sketch(blender, scene):
    """Stylize of an image that is an NFTGan result re-colorized a coloured picture, as a line sketch, and named
    the results "Sketch stylized colorized" / "Sketch stylized stylized". A result is in colour already:
    Colorize is skipped, and its results are named as its sketch's ("Sketch stylized"), numbered where that
    name is taken (by the image itself, or by the sketch's own result); Stylizing it again updates them in
    place. A sketch of the artist's own is stylized as before, whatever its name."""
    bpy, images = blender.bpy, blender.images
    sketch = _house_stylized(blender)
    colorized = pixels_of(bpy.data.images["Sketch colorized"]).copy()

    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert sorted(_results(blender, "stylize")) == ["Sketch stylized", "Sketch stylized.001"]
    assert _results(blender, "colorize") == ["Sketch colorized"]
    out = bpy.data.images["Sketch stylized.001"]
    assert out["nftgan_source"] == "Sketch colorized"
    # (its source's models, then its own)
    assert [r["kind"] for r in images.models_of(out)] == ["colorize", "stylize"]
    np.testing.assert_allclose(pixels_of(out), _restyled(blender, colorized), atol=1.01 / 255)
    assert runtime_said(blender).endswith(
        ". Colorize skipped: 'Sketch colorized' (an NFTGan result) is in colour already"
    )

    for _ in range(2):  # a result restyled: its name is the image itself: numbered, then updated in place
        assert bpy.ops.nftgan.stylize(image="Sketch stylized") == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
        got = sorted(_results(blender, "stylize"))
        assert got == ["Sketch stylized", "Sketch stylized.001", "Sketch stylized.002"], got
    assert bpy.data.images["Sketch stylized.002"]["nftgan_source"] == "Sketch stylized"
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}  # Apply to Material shows the restyled one
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image.name == "Sketch stylized.002"

    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}  # the sketch: both stages, in place
    assert [j.state for j in finish(blender)] == ["done"]
    assert len(_results(blender, "stylize")) == 3 and _results(blender, "colorize") == ["Sketch colorized"]
    assert "skipped" not in runtime_said(blender)
    kinds = [r["kind"] for r in images.models_of(bpy.data.images["Sketch stylized"])]
    assert kinds == ["colorize", "stylize"]

    mine = bpy.data.images.new("Mine stylized", 64, 64)  # the artist's own image, named like a result
    paint(mine, HOUSE)
    assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert {"Mine stylized colorized", "Mine stylized stylized"} <= set(bpy.data.images.keys())
    assert "skipped" not in runtime_said(blender)


def published_traits(blender, scene, folder, names) -> dict:
    """{name: {trait: value}} of each image of `names` published with the Offline backend into `folder`."""
    prefs = blender.preferences.get()
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", str(folder)
    traits = {}
    try:
        for name in names:
            scene.nftgan_publish.token_name = name
            assert blender.bpy.ops.nftgan.publish(image=name) == {"FINISHED"}
            (job,) = [j for j in finish(blender) if j.label.startswith("Publish")]
            meta = json.loads((folder / f"{job.result.metadata_cid}.json").read_text())
            traits[name] = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    finally:
        prefs.publish_offline_folder = ""
    return traits


def published_uri(folder, name) -> str:
    """The image URI of the token `name` that `published_traits` published into `folder`."""
    metas = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    (uri,) = [m["image"] for m in metas if m.get("name") == name and "attributes" in m]
    return uri


def test_a_result_deleted_while_restyled_is_not_called_a_sketch(blender, scene):
    """The result being restyled, deleted before its job's results are written: the report called it "the sketch
    'Sketch colorized'", which it is not (a picture in colour already, restyled without Colorize)."""
    bpy = blender.bpy
    _house_stylized(blender)
    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}
    bpy.data.images.remove(bpy.data.images["Sketch colorized"])  # (before the main thread writes the results)
    assert [j.state for j in finish(blender)] == ["done"]
    said = runtime_said(blender)
    assert "(the image 'Sketch colorized' was deleted meanwhile; the results are kept)" in said, said
    assert "sketch 'Sketch colorized'" not in said


def test_a_restyled_result_is_published_without_a_source_sketch(blender, scene, tmp_path):
    """A result made of another NFTGan result (Stylize of "Sketch colorized": Colorize skipped) was published
    with that coloured picture's CID as the token's "Source sketch", for good. It was made of no sketch, as
    Stylize Render's result: no Source sketch. The sketch's own result still names its sketch."""
    bpy = blender.bpy
    _house_stylized(blender)
    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    traits = published_traits(blender, scene, tmp_path, ("Sketch stylized", "Sketch stylized.001"))
    assert "Source sketch" in traits["Sketch stylized"]
    assert "Source sketch" not in traits["Sketch stylized.001"], traits["Sketch stylized.001"]


TREE = [[(0.5, 0.1), (0.5, 0.45)], [(0.25, 0.45), (0.5, 0.9), (0.75, 0.45), (0.25, 0.45)]]


def test_a_result_redrawn_as_a_line_sketch_is_colorized(blender, scene):
    """The artist cleared a result (filled it white) and drew a line sketch on it: the image still carries
    NFTGan's result tag, and Stylize skipped Colorize on what is now a line drawing ("Colorize skipped: ... in
    colour already"), restyling black lines on white. The content decides with the tag: a line drawing is
    colorized as any sketch (its results named after it, the report without "skipped"); a result in colour is
    still restyled without Colorize, and with only Colorize chosen a result in colour is refused (now by the
    worker, which looks at the pixels), while the redrawn one is colorized."""
    bpy, images = blender.bpy, blender.images
    _house_stylized(blender)
    mine = bpy.data.images["Sketch stylized"]
    paint(mine, TREE)  # filled white, then black lines: foreach_set, as a clear and a brush would
    assert mine.get(images.RESULT_TAG) == "stylize"  # (the tag stays)
    drawn = pixels_of(mine).copy()  # (as shown: a float image's linear values, sRGB-encoded)
    expected = expected_results(blender, drawn)
    assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    said = runtime_said(blender)
    assert "skipped" not in said, said
    for stage in ("colorize", "stylize"):
        out = bpy.data.images[f"Sketch stylized {blender.core.pipeline.RESULT_SUFFIX[stage]}"]
        assert out["nftgan_source"] == "Sketch stylized"
        np.testing.assert_allclose(pixels_of(out), expected[stage], atol=1.01 / 255)
    kinds = [r["kind"] for r in images.models_of(bpy.data.images["Sketch stylized stylized"])]
    assert kinds == ["colorize", "stylize"]  # (its own run's models: the old colours are gone)
    np.testing.assert_allclose(pixels_of(mine), drawn, atol=1e-6)  # the redrawn result is only read

    # with only Colorize chosen: the line drawing is colorized, a result in colour refused, saying why
    scene.nftgan.stylize = "NONE"
    assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert "skipped" not in runtime_said(blender)
    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["failed"]
    level, said = blender.runtime.last_report
    assert level == "ERROR" and "'Sketch colorized' (an NFTGan result) is in colour already" in said, said
    assert "Sketch colorized colorized" not in bpy.data.images
    # ... and Live Preview of it: refused once, and turned off (as when the main thread refuses), not retried
    scene.nftgan.sketch, scene.nftgan.live_preview = bpy.data.images["Sketch colorized"], True
    blender.runtime.last_report = ("INFO", "")
    assert blender.stylize.live_tick(now=1000.0) is not None
    assert [j.state for j in finish(blender)] == ["failed"]
    assert not scene.nftgan.live_preview and "is in colour already" in runtime_said(blender)


def test_a_restyled_results_provenance_carries_its_sources_models(blender, scene, tmp_path):
    """A result restyled from another result (Stylize of "Sketch colorized": Colorize skipped) recorded only
    its own Stylize style: its provenance, and the metadata Publish builds from it, left out the Colorize
    style that made the picture it restyled. It records the source's models first, then its own (an upscale
    of a stylized result: all three); Stylize Render's results have no source chain."""
    bpy, images = blender.bpy, blender.images
    _house_stylized(blender)
    source = images.models_of(bpy.data.images["Sketch colorized"])
    assert [r["kind"] for r in source] == ["colorize"]
    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    out = images.models_of(bpy.data.images["Sketch stylized.001"])
    assert [r["kind"] for r in out] == ["colorize", "stylize"] and out[0] == source[0]
    traits = published_traits(blender, scene, tmp_path, ("Sketch stylized.001",))["Sketch stylized.001"]
    assert traits["Colorize style"] == source[0]["name"]
    assert traits["Colorize model version"] == source[0]["version"]
    assert "Stylize style" in traits

    scene.nftgan.stylize, scene.nftgan.upscale = "NONE", "upscale"  # an upscale of the restyled result
    assert bpy.ops.nftgan.stylize(image="Sketch stylized.001") == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    up = images.models_of(bpy.data.images["Sketch upscaled"])
    assert [r["kind"] for r in up] == ["colorize", "stylize", "upscale"]


def test_no_stylize_style_installed_says_so_and_how_to_add_one(blender, scene, tmp_path):
    """With no Stylize style installed (only a Colorize one), Stylize Render said "pick a Stylize style",
    which the picker cannot give. It says none is installed and how to add one."""
    bpy, styles, prefs = blender.bpy, blender.styles, blender.prefs
    shutil.copy(os.path.join(blender.models, "colorize.onnx"), tmp_path / "colorize.onnx")
    saved = [f.path for f in prefs.model_folders]
    bundled = styles.core_styles.BUNDLED_DIR
    aside = bundled + ".aside"
    try:
        for folder in prefs.model_folders:
            folder.path = str(tmp_path)
        if os.path.isdir(bundled):
            os.rename(bundled, aside)
        styles.refresh_styles()
        assert {s.kind for s in styles.styles() if s.ok} == {"colorize"}
        scene.nftgan.stylize_id = ""  # (an untouched picker: the file names no Stylize style)
        _small_render(bpy, scene)
        with pytest.raises(RuntimeError) as refused:
            bpy.ops.nftgan.stylize_render()
        said = str(refused.value)
        assert "pick a Stylize style" not in said, said
        assert "no Stylize style is installed" in said and "Model folders" in said, said
        assert "turn on Upscale" not in said  # (none installed either)
    finally:
        if os.path.isdir(aside):
            os.rename(aside, bundled)
        for folder, path in zip(prefs.model_folders, saved, strict=True):
            folder.path = path
        styles.refresh_styles()


def test_long_names_restyle_into_numbered_results(blender, scene):
    """A sketch whose name fills Blender's name length (63 bytes before Blender 5, 255 from 5.0 on): its
    results' names were cut to fit each suffix's own length, so "<cut> colorized" restyled gave a slightly
    different base ("<cut one byte shorter> stylized"), a new image beside "<cut> stylized", not its numbered
    result. Every result of a sketch shares one cut base: restyled, the result is numbered, as a short
    name's is."""
    bpy = blender.bpy
    longest = bpy.types.ID.bl_rna.properties["name"].length_max - 1
    sketch = new_canvas(blender)
    sketch.name = "S" * (longest - 2)
    assert len(sketch.name) == longest - 2
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    (colorized,) = _results(blender, "colorize")
    (stylized,) = _results(blender, "stylize")
    assert colorized.rsplit(" ", 1)[0] == stylized.rsplit(" ", 1)[0], (colorized, stylized)
    assert bpy.ops.nftgan.stylize(image=colorized) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert sorted(_results(blender, "stylize")) == [stylized, f"{stylized}.001"]


def test_stylize_render_and_publishing_the_render_without_a_camera_say_so(blender, scene, tmp_path):
    """Stylize Render (and Publish of the Render Result) in a scene Blender cannot render, here one without a
    camera: the error was Blender's render operator's Python traceback, 20 lines ending "RuntimeError: Error:
    Cannot render, no camera". It is now one line: what Blender said and what to do; nothing is submitted."""
    bpy, prefs = blender.bpy, blender.prefs
    bpy.ops.mesh.primitive_cube_add()
    said = r"^Error: The scene could not be rendered: Cannot render, no camera\. Fix that \(render with F12 to see\)"
    with pytest.raises(RuntimeError, match=said) as stylize:
        bpy.ops.nftgan.stylize_render()
    backend, folder = prefs.publish_backend, prefs.publish_offline_folder
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", str(tmp_path / "nft")
    try:
        with pytest.raises(RuntimeError, match=said) as publish:
            bpy.ops.nftgan.publish(image="Render Result")
    finally:
        prefs.publish_backend, prefs.publish_offline_folder = backend, folder
    for error in (stylize, publish):
        assert "Traceback" not in str(error.value) and "\n" not in str(error.value).strip()
    assert blender.stylize.current_job() is None and not blender.runtime.worker.busy()


def test_invalid_models_and_no_styles(blender, scene, tmp_path):
    bpy, styles, prefs = blender.bpy, blender.styles, blender.prefs
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x01garbage")
    prefs.model_folders.add().path = str(tmp_path)
    try:
        broken = [s for s in styles.styles() if s.id == "broken"]
        assert broken and not broken[0].ok and "not a readable ONNX model" in broken[0].error
        assert any(s.ok for s in styles.styles())  # the good ones are still there
        # nothing usable at all: the operator says how to get a style
        saved = [f.path for f in prefs.model_folders]
        for folder in prefs.model_folders:
            folder.path = str(tmp_path)
        bundled = styles.core_styles.BUNDLED_DIR
        aside = bundled + ".aside"
        if os.path.isdir(bundled):
            os.rename(bundled, aside)
        try:
            styles.refresh_styles()
            assert not [s for s in styles.styles() if s.ok]
            new_canvas(blender)
            with pytest.raises(RuntimeError, match="No styles installed"):
                bpy.ops.nftgan.stylize()
        finally:
            if os.path.isdir(aside):
                os.rename(aside, bundled)
            for folder, path in zip(prefs.model_folders, saved, strict=True):
                folder.path = path
    finally:
        prefs.model_folders.remove(len(prefs.model_folders) - 1)
        styles.refresh_styles()
    assert not [s for s in styles.styles() if not s.ok]


# A fresh Blender process starting up with the test profile (the bpy module starts with factory settings):
# Blender reads the saved preferences, which enable the add-on with the test models' folder. bpy 4.2 as a
# module crashes in read_userpref (it reloads the icon textures, with no GPU; Blender itself, which has one,
# and bpy 4.5 do not): there the add-on is enabled and given that folder as the saved preferences would.
START_UP = textwrap.dedent("""
    import os, bpy, addon_utils
    if bpy.app.version[:2] == (4, 2):
        addon_utils.enable("PKG", default_set=True)
        bpy.context.preferences.addons["PKG"].preferences.model_folders.add().path = os.environ["NFTGAN_TEST_MODELS"]
    else:
        bpy.ops.wm.read_userpref()
""").replace("PKG", PKG)


def start_up_env(blender, profile: str, **extra) -> dict:
    """The environment of a fresh Blender process on `profile` (see START_UP)."""
    return dict(os.environ, BLENDER_USER_RESOURCES=profile, NFTGAN_TEST_MODELS=str(blender.models), **extra)


DISABLE_SCRIPT = START_UP + textwrap.dedent("""
    import json, threading, time
    import onnxruntime
    from bl_ext.user_default.nftgan.blender import runtime, stylize
    bpy.ops.mesh.primitive_plane_add()
    bpy.ops.nftgan.new_canvas(size="2048")
    bpy.ops.nftgan.stylize()
    job = stylize.current_job()
    while job.fraction <= 0 and not job.finished:
        time.sleep(0.01)
    was_running = job.state == "running"
    t0 = time.monotonic()
    addon_utils.disable("PKG", default_set=True)
    took = time.monotonic() - t0
    print("RESULT " + json.dumps({
        "ort": onnxruntime.__version__, "ort_file": onnxruntime.__file__, "was_running": was_running,
        "state": job.state, "took": took, "worker_alive": any(t.name == "nftgan-worker" for t in threading.enumerate()),
        "enabled": "PKG" in bpy.context.preferences.addons, "runtime_worker": runtime.worker is None}))
""").replace("PKG", PKG)


@pytest.mark.slow
def test_disable_addon_mid_job(blender, tmp_path):
    """A fresh Blender process with the installed profile: the add-on and its bundled onnxruntime load at
    startup; disabling it while a job runs stops the worker cleanly.
    On a copy of the profile: disabling removes the extension's wheels from the profile (Blender keeps only
    the wheels of enabled extensions), and on Blender 4.2 the next two Blenders started at once on that profile
    (test_two_blenders_publishing_a_3d_model_at_once_each_publish_their_own) both reinstalled the wheels,
    racing; the loser removed what it had extracted, and every later Blender on the profile found no
    onnxruntime (1 run in 2 of the 4.2.13 tests failed in the Publish Collection restart test)."""
    profile = tmp_path / "profile"
    shutil.copytree(blender.profile, profile, symlinks=True)
    env = start_up_env(blender, str(profile))
    r = subprocess.run(
        [sys.executable, "-c", DISABLE_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=profile,
    )
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and line, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(line[0][7:])
    assert res["ort"] == bundled_wheels(blender.zip)[PYTHON]  # the wheel in the zip for this Python
    assert res["ort_file"].startswith(str(profile))
    assert res["was_running"] and res["state"] == "cancelled"
    assert not res["worker_alive"] and not res["enabled"] and res["runtime_worker"]


BROKEN_ORT_SCRIPT = START_UP + textwrap.dedent("""
    import json, sys  # started up: the add-on is enabled, onnxruntime cannot load
    import numpy as np
    from PKG.blender import generate, panels, preferences, publish, runtime, styles
    from PKG.core import styles as core_styles

    class Layout:  # records the labels a draw() makes (panels cannot draw without a window)
        def __init__(self, out):
            self.out = out
        def __getattr__(self, name):
            def call(*_args, **kw):
                if name == "label":
                    self.out.append(kw.get("text", ""))
                return Layout(self.out)
            return call

    assert runtime.worker.wait_idle(60)  # the start-up read of the styles, on the worker
    runtime.drain()
    shown = {"panel": [], "preferences": [], "generate": []}
    panels.draw(Layout(shown["panel"]), bpy.context)
    styles.StylePreferences.draw_section(preferences.get(), Layout(shown["preferences"]))
    generate.NFTGAN_PT_generate.draw(type("P", (), {"layout": Layout(shown["generate"])})(), bpy.context)
    bpy.ops.mesh.primitive_plane_add()
    bpy.ops.nftgan.new_canvas(size="256")
    try:
        stylize = str(bpy.ops.nftgan.stylize())
    except RuntimeError as exc:  # the operator's error report
        stylize = str(exc)
    prefs = preferences.get()  # publishing needs no onnxruntime
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", sys.argv[1]
    image = bpy.data.images.new("Painted", 32, 32)
    image.pixels.foreach_set(np.random.default_rng(0).random(32 * 32 * 4).astype(np.float32))
    bpy.context.scene.nftgan_publish.token_name = "Published without onnxruntime"
    bpy.ops.nftgan.publish(image="Painted")
    assert runtime.worker.wait_idle(60)
    jobs = runtime.drain()
    entries, _ = publish.gallery_entries()
    print("RESULT " + json.dumps({
        "error": core_styles.onnxruntime_error(), "shown": {k: " ".join(v) for k, v in shown.items()},
        "stylize": stylize, "jobs": [(j.label, j.state, str(j.error or "")) for j in jobs],
        "gallery": [e.token_uri for e in entries],
        "published": bpy.context.scene.nftgan_publish.last_token_uri}))
""").replace("PKG", PKG)


@pytest.mark.slow
def test_onnxruntime_that_cannot_load_is_said_and_publishing_still_works(blender, tmp_path):
    """A fresh Blender whose onnxruntime cannot load (a copy of the bundled one with its native library
    broken, found first on sys.path, as a wheel for another system would be): the panel, the preferences
    and the Generate panel say so in one sentence with what to do, Stylize reports it, and publishing
    (offline) and the gallery still work."""
    import io
    import zipfile

    profile = tmp_path / "profile"
    shutil.copytree(blender.profile, profile, symlinks=True)  # this Blender's own ledger and state
    broken = tmp_path / "broken"
    with zipfile.ZipFile(blender.zip) as z:  # the wheel the zip bundles for this Python
        (wheel,) = [n for n in z.namelist() if f"-cp{PYTHON.replace('.', '')}-" in n and n.endswith(".whl")]
        zipfile.ZipFile(io.BytesIO(z.read(wheel))).extractall(broken)
    natives = list((broken / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*"))
    assert natives
    for lib in natives:
        lib.write_bytes(b"not a shared library")
    env = start_up_env(blender, str(profile), PYTHONPATH=str(broken))
    r = subprocess.run(
        [sys.executable, "-c", BROKEN_ORT_SCRIPT, str(tmp_path / "offline")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and line, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(line[0][7:])
    error = res["error"]
    assert error.startswith("Stylize and Generate are off because onnxruntime could not be loaded (")
    assert "onnxruntime_pybind11_state" in error and "Install from Disk" in error  # the cause, what to do
    assert error.count(". ") == 0 and error.endswith(".")  # one sentence

    def squeeze(text):  # labels are the message wrapped into lines
        return "".join(text.split())

    for where, text in res["shown"].items():
        assert squeeze(error) in squeeze(text), where
    assert squeeze(error) in squeeze(res["stylize"])
    assert [j[1:] for j in res["jobs"] if j[0].startswith("Publish")] == [["done", ""]]
    assert res["published"].startswith("ipfs://") and res["gallery"][0] == res["published"]
    assert len(list((tmp_path / "offline").glob("*.png"))) == 1


def test_a_chosen_style_whose_file_is_damaged_or_removed_after_it_was_listed(blender, scene, tmp_path):
    """The artist's chosen style file is cut short (a copy over it that did not finish) or removed while
    Blender runs: Stylize says which style and why, with what to do, before anything is submitted (it used to
    hand the file to onnxruntime unchecked: 'INVALID_PROTOBUF', or 'FileNotFoundError: [Errno 2]'), and the
    style list is read again, so the picker and the preferences show it as it is now."""

    bpy, styles, prefs = blender.bpy, blender.styles, blender.prefs
    mine = tmp_path / "mystyle.onnx"
    shutil.copy(blender.models / "stylize.onnx", mine)
    prefs.model_folders.add().path = str(tmp_path)
    try:
        scene.nftgan.stylize_id = "mystyle"
        sketch = new_canvas(blender)
        paint(sketch, HOUSE)
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}  # usable as listed
        assert [j.state for j in finish(blender) if j.label.startswith("Stylize")] == ["done"]
        data = mine.read_bytes()
        mine.write_bytes(data[: len(data) // 2])
        with pytest.raises(
            RuntimeError,
            match=r"The stylize style 'Tiny cyclegan' cannot be used any more: mystyle\.onnx is not a readable "
            r"ONNX model .*copy it again.* Pick another style",
        ):
            bpy.ops.nftgan.stylize()
        assert blender.stylize.current_job() is None and not blender.runtime.worker.busy()
        (listed,) = [s for s in styles.styles() if s.path == str(mine)]
        assert not listed.ok and "truncated" in listed.error  # the preferences list it as it is now
        with pytest.raises(
            RuntimeError, match=r"The stylize style 'mystyle' cannot be used: mystyle\.onnx is not"
        ):
            bpy.ops.nftgan.stylize()  # still chosen: said again, not another style run in its place
        mine.write_bytes(data)  # copied again, and Refresh Styles as the message says: usable again
        assert bpy.ops.nftgan.refresh_styles() == {"FINISHED"}
        assert blender.stylize.chosen_models(scene)["stylize"].path == str(mine)
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}
        assert [j.state for j in finish(blender) if j.label.startswith("Stylize")] == ["done"]
        mine.unlink()
        with pytest.raises(
            RuntimeError,
            match=r"'Tiny cyclegan' cannot be used any more: mystyle\.onnx is gone from its folder\. Pick another style",
        ):
            bpy.ops.nftgan.stylize()
        assert blender.stylize.current_job() is None
    finally:
        prefs.model_folders.remove(len(prefs.model_folders) - 1)
        styles.refresh_styles()


def test_threads_and_provider_from_preferences(blender, scene):
    bpy, prefs = blender.bpy, blender.prefs
    pipeline = sys.modules[f"{PKG}.core.pipeline"]
    prefs.threads, prefs.provider = 1, "CPU"
    try:
        sketch = new_canvas(blender)
        paint(sketch, HOUSE)
        bpy.ops.nftgan.stylize()
        assert [j.state for j in finish(blender)] == ["done"]
        keys = [k for k in pipeline._sessions if os.path.basename(k[0]) in ("colorize.onnx", "stylize.onnx")]
        assert {k[3:] for k in keys} >= {(1, "cpu")}  # one session per model and setting, 1 thread, CPU only
        sess = next(pipeline._sessions[k] for k in keys if k[3:] == (1, "cpu"))
        assert sess.get_providers() == ["CPUExecutionProvider"]
    finally:
        prefs.threads, prefs.provider = 0, "AUTO"


def test_precision_preference_picks_a_styles_int8_file(blender, scene):
    """A bundled style with an int8 variant runs that file under Precision int8, the fp32 file under fp32,
    and under Automatic whichever this CPU computes faster (VNNI/AMX: int8)."""
    prefs, cpu = blender.prefs, sys.modules[f"{PKG}.core.cpu"]
    with_int8 = [s for s in blender.styles.styles() if s.int8 is not None and s.kind == "stylize"]
    if not with_int8:
        pytest.skip("no bundled stylize style ships an int8 variant")
    scene.nftgan.stylize_id = with_int8[0].id
    try:
        for precision, suffix in (("INT8", ".int8.onnx"), ("FP32", f"{with_int8[0].id}.onnx")):
            prefs.precision = precision
            assert blender.stylize.chosen_models(scene)["stylize"].path.endswith(suffix)
        prefs.precision = "AUTO"
        auto = blender.stylize.chosen_models(scene)["stylize"].path
        assert auto.endswith(".int8.onnx") == cpu.int8_pays()
    finally:
        prefs.precision = "AUTO"


class Layout:
    """Records what a panel's draw() shows (panels cannot draw without a window): (call, name or text)."""

    def __init__(self, out):
        self.out = out

    def __getattr__(self, name):
        def call(*args, **kw):
            if name == "label":
                self.out.append(("label", kw.get("text", "")))
            elif name in ("prop", "operator", "template_palette"):
                self.out.append((name, args[1] if name in ("prop", "template_palette") else args[0]))
            return Layout(self.out)

        return call


def test_new_canvas_sets_a_black_line_brush_and_a_hint_palette(blender, scene):
    """New Sketch Canvas: Texture Paint paints black lines of a radius for the canvas size, and the hint
    colours are in the paint mode's palette (made once per file: colours the artist changed stay)."""
    bpy, canvas = blender.bpy, blender.canvas
    from nftgan.core import imageio, pipeline

    paint = scene.tool_settings.image_paint
    ups = canvas.unified_settings(paint)  # the mode's own from Blender 5.0, the scene's before
    assert ups == (
        paint.unified_paint_settings
        if bpy.app.version >= (5, 0, 0)
        else scene.tool_settings.unified_paint_settings
    )
    ups.color, ups.size = (0.2, 0.9, 0.1), 70  # whatever the artist had
    new_canvas(blender, "1024")
    brush = paint.brush  # entering Texture Paint made one active
    per_brush = "use_unified_color" in bpy.types.Brush.bl_rna.properties  # Blender 5.3+
    assert per_brush == (bpy.app.version >= (5, 3, 0))
    shares = brush if per_brush else ups
    assert shares.use_unified_color and shares.use_unified_size
    for owner in (ups, brush):
        assert tuple(owner.color) == (0.0, 0.0, 0.0) and owner.size == canvas.brush_size(10)
    # Blender 5 measures a brush's size as its diameter, Blender 4 as its radius
    assert canvas.brush_size(10) == (10 if bpy.app.version >= (5, 0, 0) else 5)
    assert canvas.line_width(1024) == 10 and canvas.line_width(256) == 3
    palette = paint.palette
    assert palette is not None and palette.name == "NFTGan Hints"
    srgb = np.array([[(*c, 1.0) for c in pipeline.HINT_PALETTE.values()]], np.float32)
    want = imageio.srgb_to_linear(srgb)[0, :, :3]
    # black first: the guide says to click black to draw lines again after a dab (it was not there: eight dab
    # colours only, and the way back to lines was the colour picker)
    assert tuple(palette.colors[0].color) == (0.0, 0.0, 0.0)
    np.testing.assert_allclose([tuple(c.color) for c in palette.colors[1:]], want, atol=1e-6)
    assert len(palette.colors) == 9
    palette.colors[0].color = (0.5, 0.0, 0.5)
    brush.color, brush.size = (0.2, 0.9, 0.1), 70
    new_canvas(blender, "2048")
    assert list(bpy.data.palettes) == [palette] and tuple(palette.colors[0].color) == (0.5, 0.0, 0.5)
    assert tuple(brush.color) == (0.0, 0.0, 0.0) and ups.size == brush.size == canvas.brush_size(20)
    shown = []
    blender.panels.draw(Layout(shown), bpy.context)
    text = " ".join(t for c, t in shown if c == "label")
    assert "Black strokes are lines" in text and "fills that shape with its colour" in text
    assert (
        "A grey, white or pale dab fills a closed shape too" in text and "thin grey stroke is pencil" in text
    )
    assert "Things you leave undabbed get colours from the most similar training picture" in text
    assert ("template_palette", "palette") in shown


def test_strength_and_keep_my_lines_per_stage(blender, scene):
    """The panel's Strength and Keep My Lines per stage reach the pipeline: strength 0 leaves a stage's result
    equal to its input, Keep My Lines (on for colorize, as the core's default) lays the sketch's lines over
    the colorized result, and the stylize stage restyles that result as shown, lines in."""
    bpy, props = blender.bpy, scene.nftgan
    from nftgan.core import hintfill, pipeline

    assert [props.colorize_keep_lines, props.stylize_keep_lines] == [
        k in pipeline.KEEP_LINES for k in ("colorize", "stylize")
    ]
    assert props.colorize_strength == props.stylize_strength == props.upscale_strength == 1.0
    shown = []
    blender.panels.draw(Layout(shown), bpy.context)
    for name in ("colorize_strength", "colorize_keep_lines", "stylize_strength", "stylize_keep_lines"):
        assert ("prop", name) in shown
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    drawn = pixels_of(sketch).copy()

    def stylize():
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
        return {
            k: pixels_of(bpy.data.images[f"Sketch {pipeline.RESULT_SUFFIX[k]}"])
            for k in ("colorize", "stylize")
        }

    lined = stylize()
    props.colorize_keep_lines = False
    plain = stylize()
    hi, lo = drawn[..., :3].max(axis=2), drawn[..., :3].min(axis=2)
    layer = 1 - (1 - hi) * lo / np.maximum(hi, 1e-6)  # the sketch's dark strokes as a multiply layer
    # (away from the lines: with them laid back, follow my colours colours the pixels under them as the
    # shapes beside them; without, they keep the model's own lines: a few work-size pixels round each line)
    away = ~hintfill.grow(layer < 0.999, 6 * max(1, round(drawn.shape[1] / 256)))
    assert away.mean() > 0.3
    np.testing.assert_allclose(
        lined["colorize"][away, :3], plain["colorize"][away, :3] * layer[away, None], atol=2.01 / 255
    )
    assert np.abs(lined["colorize"] - plain["colorize"]).max() > 0.2  # the lines were laid over
    assert np.abs(lined["stylize"] - plain["stylize"]).max() > 0.05  # stylize took it with them
    props.stylize_strength = 0.0
    out = stylize()
    np.testing.assert_allclose(out["stylize"], plain["colorize"], atol=1.01 / 255)  # stylize changed nothing
    props.colorize_strength = 0.0
    out = stylize()
    np.testing.assert_allclose(out["colorize"], drawn, atol=1.01 / 255)  # colorize changed nothing
    props.colorize_strength, props.stylize_strength, props.stylize_keep_lines = 0.5, 0.75, True
    opts = blender.stylize.stage_options(scene)
    assert opts == {
        "strength": {"colorize": 0.5, "stylize": 0.75, "upscale": 1.0},
        "lines": ("stylize",),
        "fill_hints": True,
    }
    props.colorize_fill_hints = False
    assert blender.stylize.stage_options(scene)["fill_hints"] is False
    props.colorize_fill_hints = True
    out = stylize()
    models = {k: m.path for k, m in blender.stylize.chosen_models(scene).items()}
    expected = pipeline.run(drawn, models=models, **opts)
    for k in ("colorize", "stylize"):
        np.testing.assert_allclose(out[k], np.round(expected[k] * 255) / 255, atol=1.01 / 255)
    # Fill My Colours (on by default) reaches the pipeline: a red dab fills its shape; off, the model alone
    props.colorize_strength, props.stylize_strength = 1.0, 1.0
    dabbed = pixels_of(sketch).copy()
    from nftgan.core.imageio import draw_strokes

    draw_strokes(dabbed, [[(0.4, 0.3), (0.6, 0.35)]], width=8, color=(0.86, 0.16, 0.14, 1.0))
    sketch.pixels.foreach_set(dabbed.ravel())
    filled = stylize()
    props.colorize_fill_hints = False
    unfilled = stylize()

    def red(px):
        return ((px[..., 0] > 0.6) & (px[..., 1] < 0.35)).sum()

    assert red(filled["colorize"]) > 2 * red(unfilled["colorize"]) + 100


def test_style_cards_on_hover_and_style_info(blender, scene):
    """Each picker item's tooltip (its enum description) is the style's card in short; Style Info puts the
    full card in a text datablock (the NAME.md beside the model, else one from its metadata)."""
    bpy, styles = blender.bpy, blender.styles
    UILayout = bpy.types.UILayout
    props = scene.nftgan
    for kind in ("colorize", "stylize", "upscale"):
        for style in [s for s in styles.styles() if s.ok and s.kind == kind]:
            tip = UILayout.enum_item_description(props, kind, style.id)
            assert tip == style.tooltip
            assert tip.startswith(style.name) and "\nTrained on: " in tip and "\nLicense: " in tip
            assert f"{style.file_bytes / 1e6:.1f} MB" in tip
    tiny = styles.chosen("colorize", "colorize")
    assert "License: CC0-1.0" in UILayout.enum_item_description(props, "colorize", "colorize")

    assert bpy.ops.nftgan.style_info(kind="colorize") == {"FINISHED"}
    card = bpy.data.texts["colorize.md"].as_string()
    assert card.startswith(f"# {tiny.name}\n") and "--card MODEL.md" in card  # no card file: from metadata
    assert styles._card_shown[0] == tiny.name and "License: CC0-1.0" in styles._card_shown
    with_card = [s for s in styles.styles() if s.ok and os.path.isfile(s.card_path)]
    assert with_card, "the bundled styles ship their cards"
    for style in with_card:
        assert bpy.ops.nftgan.style_info(style=style.id) == {"FINISHED"}
        with open(style.card_path, encoding="utf-8") as fh:
            assert bpy.data.texts[f"{style.id}.md"].as_string() == fh.read()
    assert bpy.ops.nftgan.style_info(style=with_card[0].id) == {"FINISHED"}  # again: the same datablock
    assert len([t for t in bpy.data.texts if t.name.startswith(with_card[0].id)]) == 1
    with pytest.raises(RuntimeError, match="No style 'nope'"):
        bpy.ops.nftgan.style_info(style="nope")
    shown = []
    blender.panels.draw(Layout(shown), bpy.context)
    assert shown.count(("operator", "nftgan.style_info")) == 2  # colorize and stylize (upscale is off)


def test_the_panel_as_an_artist_first_sees_it(blender, scene):
    """What the panel shows is whole, or says it is cut: the report box showed the first 4 lines of 50
    characters of the last message and dropped the rest unsaid (a Stylize of a sketch with a long name lost
    the styles it ran; a publish staged offline, the end of its upload command and its token URI); a style's
    description was cut after 2 lines mid-sentence ("... in the colour you"). A greyed-out Apply to Material
    says why in its tooltip (it said nothing; called, "context is incorrect")."""
    bpy, panels, ui = blender.bpy, blender.panels, sys.modules[f"{PKG}.blender.ui"]
    sketch = new_canvas(blender)
    sketch.name = "Morning over the harbour, the third sketch for the autumn series"
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    level, message = blender.runtime.last_report
    assert level == "INFO" and len(message) > 4 * 50, message
    shown = []
    panels.draw(Layout(shown), bpy.context)
    after = shown.index(("operator", "nftgan.stylize_render")) + 1
    report = [text for call, text in shown[after:] if call == "label"]
    assert " ".join(report) == " ".join(message.split())
    long = "Line sketch to flat colour: fills each region to its lines in the colour you dab into it"
    assert ui.clip(long, 40, 2) == [
        "Line sketch to flat colour: fills each",
        "region to its lines in the colour you …",
    ]
    assert ui.clip("Flat colour (Pix2Pix)", 40, 2) == ["Flat colour (Pix2Pix)"]
    cam = bpy.data.objects.new("Camera for the tooltip", bpy.data.cameras.new("Camera for the tooltip"))
    scene.collection.objects.link(cam)
    bpy.context.view_layer.objects.active = cam
    try:
        with pytest.raises(RuntimeError, match=r"Select a mesh \(the result goes on its material\)"):
            bpy.ops.nftgan.apply_material()
    finally:
        bpy.data.objects.remove(cam)


def test_make_extension_on_a_full_disk_says_so(blender):
    """`make extension` with too little disk for the zips (a 20 MB disk, real ENOSPC): it ended on Blender's
    tool's 30-line traceback and '... blender_ext.py build ... failed:'. It now ends saying how much the zips
    need and how much is free, and what to do; no cut-short zip is left (Blender's tool removes it)."""
    from tests.limited_fs import namespaces_work, run_on_small_fs

    if not namespaces_work():
        pytest.skip("a full disk for a child process needs unprivileged user + mount namespaces (unshare)")
    script = (
        "import os, sys\nfrom tools import build_extension\n"
        "try:\n    build_extension.build(out_dir=FS, quiet=True)\n"
        "except SystemExit as e:\n    print(str(e.code).splitlines()[-1]); print(os.listdir(FS)); sys.exit(3)\n"
    )
    r = run_on_small_fs(script, size="20m", timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    said, left = r.stdout.strip().splitlines()[-2:]
    assert said.startswith("Not enough disk space for the zips: about ") and "MB are free there" in said
    assert "Free some space and run `make extension` again." in said
    assert left == "[]"
    # the add-on's files staged for the zips (build/nftgan/) on the full disk: said in one line too
    r = run_on_small_fs(
        script.replace(
            "build_extension.build(", "build_extension.STAGE = FS + '/stage'; build_extension.build("
        ),
        size="20m",
        timeout=300,
    )
    assert r.returncode == 3, r.stderr[-2000:]
    said = r.stdout.strip().splitlines()[-2]
    assert said.startswith("Not enough disk space to stage the extension: about ") and "MB are free" in said


def test_images_stylize_cannot_take_whole_are_refused_with_what_to_do(blender, scene, tmp_path):
    """A UDIM image of several tiles (its pixels are its first tile's: Stylize wrote that one tile as the
    whole result, silently) and an image sequence (no pixels in Python: "its file may be missing or
    unreadable", which it is not): refused at once, saying why and what to do, and nothing is written."""
    from PIL import Image

    bpy = blender.bpy
    tiled = bpy.data.images.new("Tiles", 64, 64, alpha=True, tiled=True)
    tiled.tiles.new(tile_number=1002)
    paint(tiled, HOUSE)
    with pytest.raises(
        RuntimeError, match=r"'Tiles' is a UDIM image of 2 tiles.*only tile 1001\. Save the tile"
    ):
        bpy.ops.nftgan.stylize(image="Tiles")
    for i in (1, 2):
        Image.new("RGB", (32, 32), "white").save(tmp_path / f"seq_{i:04d}.png")
    seq = bpy.data.images.load(str(tmp_path / "seq_0001.png"))
    seq.source = "SEQUENCE"
    with pytest.raises(RuntimeError, match=r"'seq_0001.png' is an image sequence.*Save As"):
        bpy.ops.nftgan.stylize(image=seq.name)
    assert not [im for im in bpy.data.images if im.get(blender.images.RESULT_TAG)]


def test_the_render_result_shown_in_the_image_editor_is_what_stylize_takes(blender, scene):
    """The Image Editor shows the Render Result: Stylize took the scene's old sketch instead, silently (and
    Stylize of the image "Render Result" by name said its file may be missing). Both stylize the render, as
    Stylize Render does."""
    from types import SimpleNamespace

    bpy = blender.bpy
    _small_render(bpy, scene)
    bpy.ops.render.render()
    shown = next(im for im in bpy.data.images if im.type == "RENDER_RESULT")
    scene.nftgan.sketch = old = bpy.data.images.new("Old sketch", 64, 64)
    editor = SimpleNamespace(
        space_data=SimpleNamespace(type="IMAGE_EDITOR", image=shown), mode="OBJECT", scene=scene
    )
    assert blender.images.find_sketch(editor) == shown
    assert bpy.ops.nftgan.stylize(image=shown.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert tuple(bpy.data.images["Render stylized"].size) == (48, 32)
    assert "Old sketch stylized" not in bpy.data.images and scene.nftgan.sketch == old


def test_a_result_name_taken_by_a_linked_image_leaves_it_linked(blender, scene, tmp_path):
    """A sketch linked from another .blend, with its results linked too (read-only library data): Stylize
    deleted the linked results from the file and put local images in their place. Linked images are never
    written or removed: the results are local images of their own, and Stylizing again updates those."""
    bpy = blender.bpy
    sketch = bpy.data.images.new("LibSketch", 64, 64, alpha=True)
    paint(sketch, HOUSE)
    sketch.filepath_raw, sketch.file_format = str(tmp_path / "libsketch.png"), "PNG"
    sketch.save()
    assert bpy.ops.nftgan.stylize(image="LibSketch") == {"FINISHED"}
    finish(blender)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "lib.blend"))
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.nftgan.colorize_id, scene.nftgan.stylize_id = "colorize", "stylize"
    names = ["LibSketch", "LibSketch colorized", "LibSketch stylized"]
    with bpy.data.libraries.load(str(tmp_path / "lib.blend"), link=True) as (_src, dst):
        dst.images = list(names)
    linked = {im.name: im for im in bpy.data.images if im.library is not None}
    assert sorted(linked) == names
    for _ in range(2):
        assert bpy.ops.nftgan.stylize(image="LibSketch") == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
    assert sorted(im.name for im in bpy.data.images if im.library is not None) == names
    local = [im for im in bpy.data.images if im.library is None]  # (a local name may equal a linked one's)
    stages = sorted(im.get(blender.images.RESULT_TAG) for im in local)
    assert stages == ["colorize", "stylize"] and all(im.name.startswith("LibSketch ") for im in local), local


def test_apply_to_a_linked_material_is_refused_with_what_to_do(blender, scene, tmp_path):
    """The object's material is linked from another .blend (read-only here): Apply to Material added its
    result node to the linked node tree, which the saved file does not keep (reopened, the object showed
    its material without the result, silently). It is refused, saying what to do; nothing is changed."""
    bpy = blender.bpy
    bpy.data.materials.new("LibMat").use_fake_user = True
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "lib.blend"))
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.nftgan.colorize_id, scene.nftgan.stylize_id = "colorize", "stylize"
    with bpy.data.libraries.load(str(tmp_path / "lib.blend"), link=True) as (_src, dst):
        dst.materials = ["LibMat"]
    bpy.ops.mesh.primitive_plane_add()
    bpy.context.active_object.data.materials.append(bpy.data.materials["LibMat"])
    sketch = bpy.data.images.new("Sketch", 64, 64)
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize(image="Sketch") == {"FINISHED"}
    finish(blender)
    with pytest.raises(RuntimeError, match=r"'LibMat' is linked from 'lib.blend'.*Make Local"):
        bpy.ops.nftgan.apply_material()
    tree = bpy.data.materials["LibMat"].node_tree  # (None in Blender 4: a new material has no nodes)
    assert tree is None or "NFTGan Result" not in tree.nodes


def test_a_sketch_with_a_long_name_keeps_one_result_per_stage(blender, scene):
    """A sketch whose name is near Blender's name length (63 bytes before Blender 5, 255 from 5.0 on):
    "<name> colorized" was cut by Blender to fit, so the next Stylize did not find it and made more images
    each time ("... for su", "... for su.001" after "... sur co", "... sur st" in bpy 4.2). The sketch's
    name is shortened in the results' names instead, and Stylizing again updates them."""
    bpy = blender.bpy
    limit = bpy.types.ID.bl_rna.properties["name"].length_max - 1
    sketch = bpy.data.images.new("Ünïcode sketch " + "x" * limit, 64, 64)
    paint(sketch, HOUSE)
    assert len(sketch.name.encode()) in (limit, limit - 1)  # (cut at a character)
    for _ in range(2):
        assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
    got = sorted(im.name for im in bpy.data.images if im.get(blender.images.RESULT_TAG))
    assert len(got) == 2 and got[0].endswith(" colorized") and got[1].endswith(" stylized"), got
    assert all(n.startswith("Ünïcode sketch xx") for n in got)
    assert bpy.ops.mesh.primitive_plane_add() == {"FINISHED"}
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    nodes = bpy.context.active_object.active_material.node_tree.nodes
    assert nodes["NFTGan Result"].image.name == got[1]


def test_two_sketches_whose_results_names_meet_keep_their_own_results(blender, scene):
    """Two long sketch names that differ only past what fits in a result's name (or a sketch renamed to a
    name whose results an earlier sketch wrote): the second sketch's Stylize wrote over the first's results.
    A result is only updated by a Stylize of the sketch it was made from; the other gets a numbered one."""
    bpy = blender.bpy
    limit = bpy.types.ID.bl_rna.properties["name"].length_max - 1
    first, second = (bpy.data.images.new("Long " + "x" * (limit - 7) + end, 64, 64) for end in "AB")
    paint(first, HOUSE)
    paint(second, HOUSE[:1])
    for sketch in (first, second, first, second):
        assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]
    results = [im for im in bpy.data.images if im.get(blender.images.RESULT_TAG)]
    sources = sorted((im.get(blender.images.RESULT_TAG), im["nftgan_source"][-1]) for im in results)
    assert sources == [("colorize", "A"), ("colorize", "B"), ("stylize", "A"), ("stylize", "B")], sources


def test_an_8bit_sketch_in_another_colour_space_is_refused_with_what_to_do(blender, scene, tmp_path):
    """An 8-bit sketch set to a colour space other than the 8-bit default (sRGB) or Non-Color: Blender shows
    its bytes converted from that space (a grey 128 set to Linear Rec.709 shows as 188), while Stylize read
    the bytes as sRGB, silently (and Texture Paint writes a dab's colour into it in that space). Refused,
    saying what to do; the default space and Non-Color are taken as they are."""
    from PIL import Image

    bpy = blender.bpy
    px = np.full((64, 64, 3), 255, np.uint8)
    px[20:40, 20:40] = 128
    px[10:12] = 0
    Image.fromarray(px).save(tmp_path / "grey.png")
    sketch = bpy.data.images.load(str(tmp_path / "grey.png"))
    sketch.colorspace_settings.name = "Linear Rec.709"
    scene.view_settings.view_transform = "Standard"
    sketch.save_render(str(tmp_path / "shown.png"), scene=scene)  # as the Image Editor shows it
    assert np.asarray(Image.open(tmp_path / "shown.png"))[30, 30, 0] > 180  # not the 128 Stylize reads
    with pytest.raises(RuntimeError, match=r"'grey.png' is an 8-bit image in 'Linear Rec.709'.*Color Space"):
        bpy.ops.nftgan.stylize(image=sketch.name)
    for space in ("Non-Color", "sRGB"):
        sketch.colorspace_settings.name = space
        assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
        assert [j.state for j in finish(blender)] == ["done"]


def test_the_compositors_viewer_is_refused_with_what_to_do(blender, scene):
    """The compositor's Viewer Node image after a render: Python reads it as 256x256 transparent black (the
    render was 48x32), and Stylize stylized that blank picture, silently. Refused, saying what to do."""
    bpy = blender.bpy
    if not hasattr(scene, "compositing_node_group"):
        pytest.skip("Blender 5's compositor node group (Blender 4 keeps the tree in the scene)")
    _small_render(bpy, scene)
    tree = scene.compositing_node_group = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    layers, viewer = tree.nodes.new("CompositorNodeRLayers"), tree.nodes.new("CompositorNodeViewer")
    tree.links.new(layers.outputs["Image"], viewer.inputs[0])
    bpy.ops.render.render()
    shown = next((im for im in bpy.data.images if im.type == "COMPOSITING"), None)
    if shown is None:  # (Blender 5.0's background render makes no Viewer Node image: nothing to hand over)
        pytest.skip("this Blender makes no Viewer Node image in a background render")
    with pytest.raises(
        RuntimeError, match=rf"'{shown.name}' is the compositor's preview: save it as an image"
    ):
        bpy.ops.nftgan.stylize(image=shown.name)
    assert not [im for im in bpy.data.images if im.get(blender.images.RESULT_TAG)]


def test_a_movie_is_refused_with_what_to_do(blender, scene, tmp_path):
    """A movie file opened as an image: Python reads one frame of it, whatever frame the Image
    Editor shows, and Stylize stylized that frame as the sketch, silently. Refused, saying what to do."""
    bpy = blender.bpy
    render = scene.render
    render.resolution_x, render.resolution_y, render.resolution_percentage = 64, 64, 100
    render.engine = "BLENDER_WORKBENCH"
    bpy.ops.object.camera_add(location=(0, -5, 0), rotation=(1.57, 0, 0))
    scene.camera = bpy.context.active_object
    bpy.ops.mesh.primitive_cube_add()
    scene.frame_start, scene.frame_end = 1, 3
    if hasattr(render.image_settings, "media_type"):  # Blender 5
        render.image_settings.media_type = "VIDEO"
    render.image_settings.file_format = "FFMPEG"
    render.ffmpeg.format, render.ffmpeg.codec = "MPEG4", "H264"
    render.filepath = str(tmp_path / "clip_")
    bpy.ops.render.render(animation=True)
    movie = bpy.data.images.load(str(next(tmp_path.glob("clip_*.mp4"))))
    assert movie.source == "MOVIE" and tuple(movie.size) == (64, 64)  # (pixels Python can read)
    with pytest.raises(
        RuntimeError, match=rf"'{movie.name}' is a movie.*save the frame you want as an image"
    ):
        bpy.ops.nftgan.stylize(image=movie.name)
    assert not [im for im in bpy.data.images if im.get(blender.images.RESULT_TAG)]


def test_a_sketch_file_with_an_exif_orientation_is_stylized_as_blender_shows_it(blender, scene, tmp_path):
    """Blender shows a picture as its file stores it, whatever its EXIF orientation says (a phone's portrait
    photo or a scan stored sideways; seen in bpy 4.2.13 and 5.3.0, JPEG, PNG, WebP and TIFF), while
    `nftgan stylize` and training turn it upright. Stylize takes what Blender shows, so the results line up
    with the sketch pixel for pixel, and the report says once how to turn it upright in Blender, from the
    file's header read on the worker. A file without the tag gets no such note."""
    from PIL import Image

    bpy = blender.bpy
    stored = np.full((48, 80, 3), 255, np.uint8)
    stored[:24, :40] = 0  # a dark top-left quarter, as stored
    for name, orientation in (("turned.jpg", 6), ("upright.jpg", 1)):
        im = Image.fromarray(stored)
        exif = im.getexif()
        if orientation != 1:
            exif[0x0112] = orientation
        im.save(tmp_path / name, quality=95, exif=exif.tobytes())
        sketch = bpy.data.images.load(str(tmp_path / name))
        assert tuple(sketch.size) == (80, 48)  # as stored: Blender does not turn it
        want = expected_results(blender, blender.images.snapshot(sketch)[0])
        assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
        finish(blender)
        result = bpy.data.images[f"{name} stylized"]
        assert tuple(result.size) == (80, 48)
        np.testing.assert_allclose(pixels_of(result), want["stylize"], atol=1.01 / 255)
        said = blender.runtime.last_report[1]
        assert said.startswith(f"NFTGan wrote '{name} colorized'"), said
        if orientation == 1:
            assert "EXIF" not in said, said
        else:
            assert f"{name} is shown as its file stores it, turned" in said, said
            assert said.endswith(
                "to stylize it upright: Image > Transform > Rotate 90° Clockwise, then Stylize."
            ), said
            _paint_on(blender, result, corner=8)  # with a kept result's sentence: one full stop
            assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
            finish(blender)
            said = blender.runtime.last_report[1]
            assert said.endswith(
                f"then Stylize. '{name} stylized' had paint on it and was kept; the new result is "
                f"'{name} stylized.001'."
            ), said


def test_a_turned_sketch_file_turned_upright_in_blender_gets_no_note_to_turn_it(blender, scene, tmp_path):
    """The artist does what the note says (Image > Transform > Rotate 90° Clockwise: the pixels as Blender shows
    them change, the file does not) and Stylizes again: the note, read from the file's EXIF, said again to turn
    it, and turning it again would make it wrong."""
    from .test_imageio import _tagged

    bpy = blender.bpy
    sketch = bpy.data.images.load(str(_tagged(tmp_path / "turned.jpg", 6, size=(80, 48))))
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    finish(blender)
    assert "Rotate 90° Clockwise" in blender.runtime.last_report[1]
    upright = np.ascontiguousarray(np.rot90(pixels_of(sketch), 1))  # what the rotation does to its pixels
    sketch.scale(48, 80)
    sketch.pixels.foreach_set(upright.ravel())
    sketch.update()
    assert bpy.ops.nftgan.stylize(image=sketch.name) == {"FINISHED"}
    finish(blender)
    said = blender.runtime.last_report[1]
    assert said.startswith("NFTGan wrote 'turned.jpg colorized'") and "EXIF" not in said, said


def test_live_preview_turns_off_and_says_why_when_its_sketch_is_deleted(blender, scene):
    """Live Preview stayed on when its sketch was deleted, doing nothing and saying nothing."""
    bpy, stylize = blender.bpy, blender.stylize
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    scene.nftgan.live_preview = True
    assert stylize.live_tick(now=1000.0) is not None
    finish(blender)
    bpy.data.images.remove(sketch)
    assert scene.nftgan.sketch is None
    assert stylize.live_tick(now=2000.0) is None
    assert not scene.nftgan.live_preview  # the panel's toggle shows it off
    level, message = blender.runtime.last_report
    assert level == "WARNING" and message.startswith("Live Preview is off: it has no sketch")
    assert "New Sketch Canvas" in message


def test_stylizing_a_blank_canvas_says_there_is_nothing_drawn(blender, scene):
    """A canvas with nothing drawn on it gave white results, and the report said nothing about why. The note
    does not say what the results look like: with the default styles white paper, with others not (the test
    stylize model makes a texture of it, which the note called "blank paper")."""
    bpy = blender.bpy
    sketch = new_canvas(blender)  # white paper, nothing drawn
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    report = blender.runtime.last_report[1]
    assert "NFTGan wrote 'Sketch colorized', 'Sketch stylized'" in report
    assert report.endswith(
        "Note: 'Sketch' has nothing drawn on it, so the styles had no lines to follow: draw dark lines on it, "
        "then Stylize."
    ), report
    assert pixels_of(bpy.data.images["Sketch stylized"])[..., :3].min() < 0.5  # not blank paper
    _paint_on(blender, bpy.data.images["Sketch stylized"])  # with a kept result's sentence: one full stop
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    report = blender.runtime.last_report[1]
    assert report.endswith(
        "then Stylize. 'Sketch stylized' had paint on it and was kept; the new result is 'Sketch stylized.001'."
    ), report
    assert ".." not in report, report
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    assert "nothing drawn" not in blender.runtime.last_report[1]


def test_a_sketch_named_render_and_stylize_render_keep_their_own_results(blender, scene, tmp_path):
    """A sketch the artist named "Render" and Stylize Render both write "Render colorized" / "Render
    stylized": neither writes over the other's results (which were recorded as made from the same source,
    "Render"); each Stylize updates its own."""
    bpy = blender.bpy
    _small_render(bpy, scene)
    sketch = new_canvas(blender)
    sketch.name = "Render"
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    mine = {n: pixels_of(bpy.data.images[n]).copy() for n in ("Render colorized", "Render stylized")}
    for _ in range(2):  # the second time updates the render's results in place
        assert bpy.ops.nftgan.stylize_render() == {"FINISHED"}
        finish(blender)
        names = sorted(im.name for im in bpy.data.images if im.get("nftgan_stage"))
        assert names == [
            "Render colorized",
            "Render stylized",
            "Render stylized.001",
        ]  # (the render: no colorize)
    for name, before in mine.items():  # the sketch's results are as its Stylize wrote them
        np.testing.assert_array_equal(pixels_of(bpy.data.images[name]), before)
    assert tuple(bpy.data.images["Render stylized.001"].size) == (48, 32)
    assert bpy.ops.nftgan.stylize(image="Render") == {"FINISHED"}  # and the sketch's Stylize updates its own
    finish(blender)
    assert tuple(bpy.data.images["Render stylized"].size) == (256, 256)
    assert tuple(bpy.data.images["Render stylized.001"].size) == (48, 32)
    assert blender.stylize.newest_result("Render") == bpy.data.images["Render stylized"]  # Apply to Material
    traits = published_traits(blender, scene, tmp_path, ("Render stylized", "Render stylized.001"))
    assert "Source sketch" in traits["Render stylized"]  # the sketch "Render"'s CID: only its own results
    assert "Source sketch" not in traits["Render stylized.001"]


def stylized_house(blender):
    """A new canvas with the house drawn on it, stylized: (the sketch, the plane it is on)."""
    house = new_canvas(blender)
    paint(house, HOUSE)
    assert blender.bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    return house, blender.bpy.context.active_object


def test_a_renamed_sketch_keeps_its_results_and_a_new_canvas_of_its_old_name_gets_its_own(
    blender, scene, tmp_path
):
    """The artist names the sketch ("Sketch" -> "House") after Stylize. Apply to Material said "Nothing to
    apply yet: Stylize first" (its results named their sketch by its old name); the next New Sketch Canvas,
    named "Sketch" again, took the house's results for its own: its Stylize wrote over "Sketch stylized", the
    house's result, and the house's mesh showed the new drawing. The results follow their sketch's new name (also
    after the file is saved and reopened and the sketch renamed again), and the new canvas's take numbered names."""
    bpy = blender.bpy
    house, plane = stylized_house(blender)
    house.name = "House"
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    shown = plane.active_material.node_tree.nodes["NFTGan Result"].image
    assert shown.name == "Sketch stylized"
    before = pixels_of(shown).copy()

    other = new_canvas(blender)  # a second piece, on a mesh of its own
    assert other.name == "Sketch"
    paint(other, TREE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    # the house's result as it was
    np.testing.assert_array_equal(pixels_of(bpy.data.images["Sketch stylized"]), before)
    assert plane.active_material.node_tree.nodes["NFTGan Result"].image.name == "Sketch stylized"
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    tree = bpy.context.active_object.active_material.node_tree.nodes["NFTGan Result"].image
    assert tree.name == "Sketch stylized.001" and tree.get("nftgan_source") == "Sketch"

    path, plane = str(tmp_path / "two.blend"), plane.name
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    bpy.data.images["House"].name = "Home"
    bpy.context.scene.nftgan.sketch = bpy.data.images["Home"]
    bpy.context.view_layer.objects.active = bpy.data.objects[plane]
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    assert bpy.data.objects[plane].active_material.node_tree.nodes["NFTGan Result"].image.name == (
        "Sketch stylized"
    )
    # published, the house's result names the house's drawing as its source sketch
    traits = published_traits(blender, bpy.context.scene, tmp_path / "nft", ("Sketch stylized",))
    assert "Source sketch" in traits["Sketch stylized"], traits


def test_a_renamed_sketchs_next_stylize_updates_the_result_its_mesh_shows(blender, scene):
    """The sketch renamed ("Sketch" -> "House") after Stylize and Apply to Material, then drawn on and stylized
    again: the new pictures went into new "House colorized" / "House stylized" images beside the old ones, and
    the mesh kept showing the old picture (Live Preview too). The results it shows take the new name and are
    updated in place. A result the artist renamed ("Keeper") is theirs: left as it is."""
    bpy = blender.bpy
    house, plane = stylized_house(blender)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    shown = plane.active_material.node_tree.nodes["NFTGan Result"].image
    before = pixels_of(shown).copy()
    bpy.data.images["Sketch colorized"].name = "Keeper"
    kept = pixels_of(bpy.data.images["Keeper"]).copy()

    house.name = "House"
    paint(house, TREE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    now = plane.active_material.node_tree.nodes["NFTGan Result"].image
    assert now == shown and now.name == "House stylized", now.name
    assert np.abs(pixels_of(now) - before).max() > 0.1  # the new drawing's picture
    assert "Sketch stylized" not in bpy.data.images and now.filepath_raw == "//House_stylized.png"
    np.testing.assert_array_equal(pixels_of(bpy.data.images["Keeper"]), kept)
    assert bpy.data.images["House colorized"] != bpy.data.images["Keeper"]


def test_a_deleted_sketchs_results_are_kept_from_a_new_canvas_of_its_name(blender, scene):
    """The sketch deleted after its Stylize: its results are kept (fake user). The next New Sketch Canvas,
    "Sketch" again, took them for its own: Apply to Material showed the deleted drawing's result on the new
    mesh before anything was stylized, and its Stylize wrote over them."""
    bpy = blender.bpy
    old = new_canvas(blender)
    paint(old, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    before = pixels_of(bpy.data.images["Sketch stylized"]).copy()
    bpy.data.images.remove(old)

    _a_new_sketch_leaves_them(blender, before)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    shown = bpy.context.active_object.active_material.node_tree.nodes["NFTGan Result"].image
    assert shown.name == "Sketch stylized.001"


def _a_new_sketch_leaves_them(blender, before) -> None:
    """A new canvas takes the deleted sketch's name ("Sketch"), has no results of its own yet, and its Stylize
    leaves the deleted one's "Sketch stylized" (pixels `before`) as it was."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    assert sketch.name == "Sketch"
    with pytest.raises(RuntimeError, match="'Sketch' has no results yet"):
        bpy.ops.nftgan.apply_material()
    paint(sketch, TREE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    np.testing.assert_array_equal(pixels_of(bpy.data.images["Sketch stylized"]), before)


def test_a_deleted_sketchs_results_stay_its_own_after_the_file_is_saved_and_reopened(
    blender, scene, tmp_path
):
    """As above, with the file saved and reopened between: the results named their sketch by name alone in the
    file, so the next "Sketch" adopted them on reopening and its Stylize wrote over the deleted drawing's."""
    bpy = blender.bpy
    old, _ = stylized_house(blender)
    bpy.data.images.remove(old)
    path = str(tmp_path / "deleted.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    before = pixels_of(bpy.data.images["Sketch stylized"]).copy()  # (as the file keeps it: its PNG)

    _a_new_sketch_leaves_them(blender, before)
    assert bpy.data.images["Sketch stylized.001"].get("nftgan_source") == "Sketch"


def test_apply_to_material_without_a_sketch_or_results_says_which(blender, scene):
    """Apply to Material said "Nothing to apply yet: Stylize first" when the sketch was deleted (its results
    kept) too, where Stylize has nothing to stylize: it says there is no sketch and where to pick one."""
    bpy = blender.bpy
    sketch = new_canvas(blender)
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    bpy.data.images.remove(sketch)
    with pytest.raises(RuntimeError, match="No sketch: pick one in the NFTGan panel") as said:
        bpy.ops.nftgan.apply_material()
    assert "Stylize first" not in str(said.value)


def test_a_renamed_sketchs_results_take_its_new_name_soon_after(blender, scene):
    """The sketch renamed ("Sketch" -> "House"): its results kept "Sketch colorized" / "Sketch stylized" in the
    Outliner and the Image Editor until its next Stylize. Blender's timer (the runtime tick, which the bpy
    module never fires: called here as Blender would) renames them soon after: the same images, so the mesh
    showing one follows, recording "House" as their sketch. Undo of the rename names them back; a result the
    artist painted on stays as it is (theirs), as does one they renamed."""
    bpy, images = blender.bpy, blender.images
    assert images.follow_sketches in blender.runtime._ticks
    house, plane = stylized_house(blender)
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}
    shown = plane.active_material.node_tree.nodes["NFTGan Result"].image
    colorized = bpy.data.images["Sketch colorized"]
    bpy.ops.ed.undo_push(message="applied")
    house.name = "House"
    bpy.ops.ed.undo_push(message="renamed")
    _ticks_until_idle(blender)
    assert (shown.name, colorized.name) == ("House stylized", "House colorized")
    assert shown.filepath_raw == "//House_stylized.png" and shown["nftgan_source"] == "House"
    assert plane.active_material.node_tree.nodes["NFTGan Result"].image == shown
    _ticks_until_idle(blender)  # (nothing renamed since: nothing changes)
    assert shown.name == "House stylized"

    assert bpy.ops.ed.undo() == {"FINISHED"}  # the sketch is "Sketch" again
    assert bpy.data.images.get("Sketch") is not None
    _ticks_until_idle(blender)
    names = {im.name for im in bpy.data.images if im.get(images.RESULT_TAG)}
    assert names == {"Sketch colorized", "Sketch stylized"}, names
    assert bpy.data.images["Sketch stylized"]["nftgan_source"] == "Sketch"

    sketch = bpy.data.images["Sketch"]
    painted = _paint_on(blender, bpy.data.images["Sketch colorized"])
    bpy.data.images["Sketch stylized"].name = "Keeper"
    sketch.name = "Tree"
    _ticks_until_idle(blender)
    names = {im.name for im in bpy.data.images if im.get(images.RESULT_TAG)}
    assert names == {"Sketch colorized", "Keeper"}, names
    np.testing.assert_allclose(pixels_of(bpy.data.images["Sketch colorized"]), painted, atol=1e-5)
    assert bpy.data.images["Keeper"]["nftgan_source"] == "Tree"


def _spread(steps: list[float], share: float = 0.45) -> None:
    """No main-thread step (ms of `thread_time`) holds most of the work: the write or rename is spread over
    ticks. A share, not milliseconds: a loaded machine (CI) slows every step alike; speed itself is measured
    by `make bench` (bench_addon's longest block), not here. Before these were spread, one step held 55-100 %."""
    assert len(steps) >= 3 and max(steps) < share * sum(steps), [round(t, 1) for t in steps]


def _ticks_until_idle(blender) -> list[float]:
    """Blender's timer ticks (`runtime._timer`, which the bpy module never fires: called here as Blender would)
    until no main-thread step is queued: the main thread's CPU time of each (ms, `thread_time`)."""
    import time

    ticks = []
    while True:
        t0 = time.thread_time()
        blender.runtime._timer()
        ticks.append(1e3 * (time.thread_time() - t0))
        if not blender.runtime.pending_steps():
            return ticks


def test_a_renamed_sketchs_large_results_are_looked_at_in_short_ticks(blender, scene, tmp_path):
    """The sketch of two 2048^2 results renamed: the tick that noticed it read and digested both results' pixels
    (to leave one painted on alone), 36 ms of Blender's main thread in one tick (bpy 5.3.0). The look is made in
    pieces over later ticks: no tick holds most of it (`_spread`). The rename is as before: the results take the new name, one
    painted on keeps its own; a rename during a write of the same result loses neither (the result holds the new
    picture under the new name); a rename undone before its results are renamed leaves their names; a save
    mid-rename finishes it first, and the file holds the new names."""
    bpy, images = blender.bpy, blender.images
    sketch = new_canvas(blender, "2048")
    paint(sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    finish(blender)
    colorized, stylized = bpy.data.images["Sketch colorized"], bpy.data.images["Sketch stylized"]
    assert tuple(stylized.size) == (2048, 2048) and colorized.is_dirty and stylized.is_dirty

    sketch.name = "House"
    ticks = _ticks_until_idle(blender)
    assert (colorized.name, stylized.name) == ("House colorized", "House stylized")
    assert stylized["nftgan_named"] == "House stylized" and stylized.filepath_raw == "//House_stylized.png"
    _spread(ticks)

    painted = _paint_on(blender, stylized)
    sketch.name = "Tree"
    ticks = _ticks_until_idle(blender)
    assert (colorized.name, stylized.name) == ("Tree colorized", "House stylized")
    np.testing.assert_allclose(pixels_of(stylized)[::7, ::7], painted[::7, ::7], atol=1e-5)
    assert stylized["nftgan_source"] == "Tree"
    _spread(ticks)

    # renamed while a write of its results is half done: the result holds the new picture, under the new name
    before = pixels_of(colorized)[::7, ::7].copy()
    paint(sketch, TREE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert blender.runtime.worker.wait_idle(300)
    for _ in range(4):
        blender.runtime._timer()
    assert blender.runtime.pending_steps()  # (mid-write)
    sketch.name = "Barn"
    _ticks_until_idle(blender)
    results = sorted(im.name for im in bpy.data.images if im.get(images.RESULT_TAG))
    assert results == ["Barn colorized", "Barn stylized", "House stylized"], results
    assert colorized.name == "Barn colorized" and np.abs(pixels_of(colorized)[::7, ::7] - before).max() > 0.1

    # the rename undone before its results are renamed: they keep the names they had
    bpy.ops.ed.undo_push(message="before")
    sketch.name = "Hut"
    bpy.ops.ed.undo_push(message="renamed")
    for _ in range(2):
        blender.runtime._timer()
    assert blender.runtime.pending_steps()  # (mid-rename)
    assert bpy.ops.ed.undo() == {"FINISHED"}
    _ticks_until_idle(blender)
    results = sorted(im.name for im in bpy.data.images if im.get(images.RESULT_TAG))
    assert results == ["Barn colorized", "Barn stylized", "House stylized"], results

    # a save mid-rename: the rename is finished first
    sketch = bpy.data.images["Barn"]
    sketch.name = "Shed"
    for _ in range(2):
        blender.runtime._timer()
    assert blender.runtime.pending_steps()  # (mid-rename)
    path = str(tmp_path / "renamed.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    results = sorted(im.name for im in bpy.data.images if im.get(images.RESULT_TAG))
    assert results == ["House stylized", "Shed colorized", "Shed stylized"], results
    assert bpy.data.images["Shed stylized"]["nftgan_source"] == "Shed"


def test_publish_names_a_results_own_sketch_by_its_link_not_by_its_name(blender, scene, tmp_path):
    """Publish found a result's source sketch by the name it records: with the sketch deleted, the next New
    Sketch Canvas ("Sketch" again, another drawing) was taken for it, and the report said "'Sketch' has changed
    since 'Sketch stylized' was made". A renamed sketch is still its results' source; an image of its old name is
    not (its name is taken by another drawing once the sketch is deleted)."""
    bpy = blender.bpy
    house, _ = stylized_house(blender)
    result = bpy.data.images["Sketch stylized"]
    house.name = "House"
    other = new_canvas(blender)
    assert other.name == "Sketch"
    paint(other, TREE)
    name = result.name  # (whatever the result is called by now)
    traits = published_traits(blender, scene, tmp_path / "renamed", (name,))[name]
    said = runtime_said(blender)
    published_traits(blender, scene, tmp_path / "house", ("House",))
    assert traits.get("Source sketch") == published_uri(tmp_path / "house", "House"), said

    bpy.data.images.remove(house)  # deleted; another drawing takes its name
    again = new_canvas(blender)
    paint(again, TREE)
    again.name = "House"
    traits = published_traits(blender, scene, tmp_path / "deleted", (name,))[name]
    said = runtime_said(blender)
    assert "Source sketch" not in traits and "has changed" not in said, said
    assert traits["Colorize style"] == "Tiny pix2pix"


def test_the_results_of_a_result_redrawn_as_a_sketch_name_it_as_their_source_sketch(blender, scene, tmp_path):
    """A result the artist cleared and redrew as a line sketch is colorized as a sketch: its results were
    published with no "Source sketch" (it was taken for a picture in colour, as a restyled result's source is).
    The redrawn image is their sketch: its CID is their Source sketch. A result restyled from one in colour still
    names none."""
    bpy = blender.bpy
    _house_stylized(blender)
    mine = bpy.data.images["Sketch stylized"]
    paint(mine, TREE)
    assert bpy.ops.nftgan.stylize(image=mine.name) == {"FINISHED"}
    assert [j.state for j in finish(blender)] == ["done"]
    assert bpy.ops.nftgan.stylize(image="Sketch colorized") == {"FINISHED"}  # in colour: restyled
    assert [j.state for j in finish(blender)] == ["done"]
    names = ("Sketch stylized", "Sketch stylized stylized", "Sketch stylized.001")
    traits = published_traits(blender, scene, tmp_path, names)
    # the redrawn image as published (its own PNG) is its results' sketch
    drawing = published_uri(tmp_path, "Sketch stylized")
    assert traits["Sketch stylized stylized"].get("Source sketch") == drawing
    assert "Source sketch" not in traits["Sketch stylized.001"], traits["Sketch stylized.001"]

    # drawn on since its results were made: they name no sketch, and the report says why
    paint(mine, HOUSE[:1])
    traits = published_traits(blender, scene, tmp_path / "changed", ("Sketch stylized stylized",))
    assert "Source sketch" not in traits["Sketch stylized stylized"]
    assert "'Sketch stylized' has changed since 'Sketch stylized stylized' was made" in runtime_said(blender)


def _steps_of_a_write(blender, start) -> list[float]:
    """`start()` submits a Stylize; once the worker is done, the main thread's drain steps are called one by one,
    as Blender's timer calls them, until none is left: the main thread's CPU time of each (ms, `thread_time`)."""
    import time

    runtime = blender.runtime
    start()
    assert runtime.worker.wait_idle(300)
    t0 = time.thread_time()
    assert [j.state for j in runtime.drain(step=True)] == ["done"]  # (the job's callback queues the write)
    steps = [1e3 * (time.thread_time() - t0)]
    while runtime.pending_steps():
        t0 = time.thread_time()
        runtime.drain(step=True)
        steps.append(1e3 * (time.thread_time() - t0))
    return steps


def _in_colour(bpy, side):
    """An NFTGan result of `side` px in colour (smooth bands and stripes: a PNG of a picture's size, not of noise)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rgba = np.stack([x, y, 0.5 + 0.5 * np.sin(40 * x * y), np.ones_like(x)], -1)
    image = bpy.data.images.new(f"Big{side} stylized", side, side, alpha=True)
    image["nftgan_stage"] = "stylize"
    image.pixels.foreach_set(rgba.ravel())
    return image


def _invert(image) -> None:
    buf = np.empty(len(image.pixels), np.float32)
    image.pixels.foreach_get(buf)
    buf.reshape(-1, 4)[:, :3] *= -1
    buf.reshape(-1, 4)[:, :3] += 1
    image.pixels.foreach_set(buf)


def _mid_write(blender, start, until):
    """`start()` submits a Stylize; once the worker is done, the drain steps are called one by one until a new
    image "<...>.001" is being written and `until(image)` holds: returns it (the write not finished)."""
    bpy, runtime = blender.bpy, blender.runtime
    start()
    assert runtime.worker.wait_idle(300)
    runtime.drain(step=True)
    for _ in range(100):
        new = [im for im in bpy.data.images if im.name.endswith("upscaled.001")]
        if new and until(new[0]):
            assert runtime.pending_steps()
            return new[0]
        runtime.drain(step=True)
    raise AssertionError("the write ended before")


def test_a_new_result_deleted_or_undone_mid_write_loses_neither_result_and_is_reported(blender, scene):
    """A result of a new size is a new image that takes over the previous one's users, and the previous one is
    removed a tick later. An Undo between the two (the new image was in no undo step) or the new image deleted
    freed it, and the previous result was removed anyway: both lost, and the status line said nothing (the
    write's ReferenceError was swallowed). The previous result is let go only in the piece that hands its users
    to a new one still there: it is kept, and the status line says which result was not written and why. The
    previous result deleted mid-write: the new one takes its name (it stayed "X.001" without its name tag)."""
    bpy, props, runtime = blender.bpy, scene.nftgan, blender.runtime
    big = _in_colour(bpy, 256)
    props.stylize, props.upscale = "NONE", "upscale"
    assert bpy.ops.nftgan.stylize(image=big.name) == {"FINISHED"}
    finish(blender)
    up = bpy.data.images["Big256 upscaled"]
    assert tuple(up.size) == (1024, 1024)
    shown = pixels_of(up)[::37, ::41].copy()
    big.scale(128, 128)  # (its next result: 512 px, a new image)
    bpy.ops.ed.undo_push(message="scaled")

    def stylize():
        assert bpy.ops.nftgan.stylize(image="Big256 stylized") == {"FINISHED"}

    # undone away once packed, before the previous result is let go
    _mid_write(blender, stylize, lambda new: new.packed_file is not None)
    bpy.ops.ed.undo_push(message="a stroke meanwhile")
    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert not [im for im in bpy.data.images if im.name.endswith(".001")]
    finish(blender)
    up = bpy.data.images.get("Big256 upscaled")
    assert up is not None and tuple(up.size) == (1024, 1024), sorted(im.name for im in bpy.data.images)
    np.testing.assert_allclose(pixels_of(up)[::37, ::41], shown, atol=1.01 / 255)
    level, said = runtime.last_report
    assert level == "ERROR" and "'Big256 upscaled' was not written" in said, said
    assert "NFTGan wrote  (" not in said and "1024x1024" not in said and "512x512" not in said, said

    # deleted by the artist mid-write, once packed (the previous result was removed a tick later all the same)
    new = _mid_write(blender, stylize, lambda new: new.packed_file is not None)
    bpy.data.images.remove(new)
    finish(blender)
    up = bpy.data.images["Big256 upscaled"]
    assert tuple(up.size) == (1024, 1024)
    np.testing.assert_allclose(pixels_of(up)[::37, ::41], shown, atol=1.01 / 255)
    assert runtime.last_report[0] == "ERROR" and "was not written" in runtime.last_report[1]

    # the previous result deleted mid-write: the new one takes its name
    _mid_write(blender, stylize, lambda new: new.packed_file is None)
    bpy.data.images.remove(bpy.data.images["Big256 upscaled"])
    finish(blender)
    results = sorted(_results(blender, "upscale"))
    assert results == ["Big256 upscaled"], results
    up = bpy.data.images["Big256 upscaled"]
    assert tuple(up.size) == (512, 512) and up["nftgan_named"] == up.name and up.packed_file is not None
    assert runtime.last_report[0] == "INFO" and runtime_said(blender).startswith(
        "NFTGan wrote 'Big256 upscaled'"
    )


def test_a_large_result_saved_with_image_save_is_looked_at_in_short_steps(blender, scene):
    """A 4096 px result the artist saved with Image > Save (packed again, no longer marked changed) was not
    looked at in the write's pieces: the next write's `keeps_paint` read and digested its pixels in one step
    (52-83 ms, bpy 5.3.0 and 4.2.13: foreach_get 19 ms + the digest). It is looked at in pieces (the longest
    step 20-36 ms), and the result, not painted on, is updated in place."""
    bpy, props = blender.bpy, scene.nftgan
    big = _in_colour(bpy, 1024)
    props.stylize, props.upscale = "NONE", "upscale"
    assert bpy.ops.nftgan.stylize(image=big.name) == {"FINISHED"}
    finish(blender)
    up = bpy.data.images["Big1024 upscaled"]
    uid = up.session_uid
    _image_save(blender, up)
    _invert(big)
    steps = _steps_of_a_write(blender, lambda: bpy.ops.nftgan.stylize(image=big.name))
    _spread(steps)  # (one step of 52-83 ms of the write's ~110 before, 20-36 after; bpy 5.3.0 and 4.2.13)
    assert sorted(_results(blender, "upscale")) == ["Big1024 upscaled"]
    assert bpy.data.images["Big1024 upscaled"].session_uid == uid


def test_upscale_alone_writes_its_large_result_in_short_steps(blender, scene, tmp_path):
    """Upscale alone of a 1024 px picture writes a 4096 px result: its write blocked Blender's main thread for
    95-112 ms in one step (bpy 5.3.0, the result updated in place: the previous result's pixels read and
    digested, foreach_set, pack). It is written in pieces over timer ticks, Blender's whole-image calls each
    in a step of its own: no step of an in-place write holds most of it (`_spread`; 18-25 ms here); a new result's longest is
    Blender's images.new. The result is as before: updated in place (a material showing it follows), packed,
    its provenance recorded, and it survives a save and reopen; a save between two steps writes it whole first."""
    bpy, images, props = blender.bpy, blender.images, scene.nftgan
    big = _in_colour(bpy, 1024)
    props.stylize, props.upscale = "NONE", "upscale"
    first = _steps_of_a_write(blender, lambda: bpy.ops.nftgan.stylize(image=big.name))
    up = bpy.data.images["Big1024 upscaled"]
    assert tuple(up.size) == (4096, 4096) and up.is_float
    assert len(first) >= 6, first  # (one step wrote it whole, and one reported)
    mat = blender.canvas.new_material("Shows the result")
    node = mat.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = up
    uid, shown = up.session_uid, pixels_of(up)[::97, ::89].copy()

    _invert(big)  # (another picture: other pixels)
    again = _steps_of_a_write(blender, lambda: bpy.ops.nftgan.stylize(image=big.name))
    _spread(again)
    assert sorted(_results(blender, "upscale")) == ["Big1024 upscaled"]
    up = bpy.data.images["Big1024 upscaled"]
    assert up.session_uid == uid and node.image == up  # updated in place: the material shows the new pixels
    now = pixels_of(up)[::97, ::89]
    assert np.abs(now - shown).max() > 0.5
    packed = bytes(up.packed_file.data)
    assert packed.startswith(b"\x89PNG") and up["nftgan_packed"] == images.packed_mark(packed)
    assert [r["kind"] for r in images.models_of(up)] == ["upscale"] and up["nftgan_source"] == big.name
    assert up["nftgan_named"] == up.name
    assert runtime_said(blender).startswith("NFTGan wrote 'Big1024 upscaled'")

    # a save between two steps of a write: the write is finished first, and the file holds the new result
    runtime = blender.runtime
    _invert(big)  # (the first picture again)
    assert bpy.ops.nftgan.stylize(image=big.name) == {"FINISHED"}
    assert runtime.worker.wait_idle(300)
    runtime.drain(step=True)
    for _ in range(3):
        runtime.drain(step=True)
    assert runtime.pending_steps()  # (mid-write)
    path = str(tmp_path / "upscaled.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    finish(blender)
    bpy.ops.wm.open_mainfile(filepath=path)
    up = bpy.data.images["Big1024 upscaled"]
    assert tuple(up.size) == (4096, 4096) and up.packed_file is not None
    np.testing.assert_allclose(pixels_of(up)[::97, ::89], shown, atol=1.01 / 255)  # (the picture's, again)


def test_disabling_the_addon_mid_write_leaves_the_results_whole(blender, scene):
    """Disabling NFTGan between two timer ticks of a write left a blank new image (a fake user, no tags) in the
    file, or new pixels over an old packed PNG: the queued pieces were dropped. The write is finished first, as
    a save does."""
    bpy, runtime = blender.bpy, blender.runtime
    sketch = new_canvas(blender)
    pixels = paint(sketch, HOUSE)
    want = expected_results(blender, pixels)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert runtime.worker.wait_idle(120)
    assert [j.state for j in runtime.drain(step=True)] == ["done"]  # (its callback queues the writes)
    for _ in range(10):  # until the first result's datablock is made, not yet written
        runtime.drain(step=True)
        blank = [
            im for im in bpy.data.images if im != sketch and im.use_fake_user and not im.get("nftgan_stage")
        ]
        if blank:
            break
    assert blank and runtime.pending_steps()
    try:
        runtime.unregister()  # (the add-on disabled: what runs after each feature's unregister)
    finally:
        runtime.register()
    assert not runtime.pending_steps()
    results = {im["nftgan_stage"]: im for im in bpy.data.images if im.get("nftgan_stage")}
    assert sorted(results) == sorted(want)
    for stage, image in results.items():
        assert image.packed_file is not None and image.get("nftgan_named") == image.name
        np.testing.assert_allclose(pixels_of(image), want[stage], atol=1.01 / 255)
    assert [im.name for im in bpy.data.images if not im.get("nftgan_stage")] == [sketch.name]


def test_a_new_file_loaded_mid_write_drops_its_pieces_at_once(blender, scene):
    """A new file loaded between two timer ticks of a write: its pieces (holding the result's pixels) are dropped
    when the file is loaded, not at the next tick, and nothing of it lands in the new file."""
    bpy, runtime = blender.bpy, blender.runtime
    paint(new_canvas(blender), HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert runtime.worker.wait_idle(120)
    assert [j.state for j in runtime.drain(step=True)] == ["done"]  # (its callback queues the writes)
    runtime.drain(step=True)
    assert runtime.pending_steps()  # (mid-write)
    bpy.ops.wm.read_homefile(use_empty=True)
    assert not runtime.pending_steps()
    finish(blender)
    assert not [im.name for im in bpy.data.images if im.get("nftgan_stage")]
