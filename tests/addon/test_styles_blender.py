"""A .blend whose chosen style is not installed on this computer (made where that style was installed),
in real Blender with the real extension: Stylize and Generate say which style is missing and what to do,
and run nothing in its place; the picker shows the missing choice as it is."""

from __future__ import annotations

import shutil

import pytest

from .conftest import HOUSE, paint

bpy = pytest.importorskip("bpy", reason="a Blender test: it runs in the Blender venvs (make test-blender)")


def _finish(blender):
    assert blender.runtime.worker.wait_idle(120)
    return blender.runtime.drain()


@pytest.fixture
def elsewhere(blender, tmp_path):
    """A model folder of the artist's other computer: added, then taken away again by the test."""
    prefs = blender.prefs
    folder = tmp_path / "their-styles"
    folder.mkdir()
    prefs.model_folders.add().path = str(folder)
    blender.styles.refresh_styles()
    yield folder
    for i in reversed(range(len(prefs.model_folders))):
        if prefs.model_folders[i].path == str(folder):
            prefs.model_folders.remove(i)
    blender.styles.refresh_styles()


def _not_here(blender, folder):
    prefs = blender.prefs
    for i in reversed(range(len(prefs.model_folders))):
        if prefs.model_folders[i].path == str(folder):
            prefs.model_folders.remove(i)
    blender.styles.refresh_styles()


def test_stylize_with_a_chosen_style_not_installed_here_says_so_and_runs_nothing(
    blender, scene, elsewhere, tmp_path
):
    """It ran the first installed stylize style instead, silently, into the result that the missing style had
    made (the picker showed that first style as if chosen)."""
    shutil.copy(blender.models / "stylize.onnx", elsewhere / "ink_wash.onnx")
    blender.styles.refresh_styles()
    bpy.ops.mesh.primitive_plane_add()
    assert bpy.ops.nftgan.new_canvas(size="256") == {"FINISHED"}
    paint(scene.nftgan.sketch, HOUSE)
    scene.nftgan.stylize_id = "ink_wash"
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert [j.state for j in _finish(blender) if j.label.startswith("Stylize")] == ["done"]
    saved = tmp_path / "made-elsewhere.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    _not_here(blender, elsewhere)  # opened on a computer without that style
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    _finish(blender)
    props = bpy.context.scene.nftgan
    results = {im.name: im.packed_file.data[:] for im in bpy.data.images if im.get("nftgan_stage")}
    assert results

    assert props.stylize == "ink_wash"  # the picker shows the file's choice, not the first installed style
    labels = {it[0]: it[1] for it in blender.styles._enum_items["stylize"]}
    assert labels["ink_wash"] == "ink_wash (not installed)"
    with pytest.raises(
        RuntimeError,
        match=r"The stylize style 'ink_wash' chosen in this file is not installed on this computer.*"
        r"Refresh Styles.*or pick one of the installed stylize styles \(.*Tiny cyclegan\)",
    ):
        bpy.ops.nftgan.stylize()
    assert blender.stylize.current_job() is None and not blender.runtime.worker.busy()
    after = {im.name: im.packed_file.data[:] for im in bpy.data.images if im.get("nftgan_stage")}
    assert after == results  # the results the missing style made are untouched

    props.stylize = "stylize"  # picking an installed style is what runs it
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert [j.state for j in _finish(blender) if j.label.startswith("Stylize")] == ["done"]


def test_generate_and_publish_collection_with_a_model_not_installed_here_say_so(
    blender, scene, elsewhere, generate_model, tmp_path
):
    """Generate ran the first installed generate model instead, and Publish Collection published its images
    as the collection's tokens."""
    shutil.copy(generate_model, elsewhere / "punks.onnx")
    blender.styles.refresh_styles()
    props = scene.nftgan_generate
    props.generate_id, props.count = "punks", 2
    _not_here(blender, elsewhere)
    assert props.generate == "punks"
    for op in (bpy.ops.nftgan.generate, lambda: bpy.ops.nftgan.publish_collection("EXEC_DEFAULT")):
        with pytest.raises(
            RuntimeError,
            match=r"The generate model 'punks' chosen in this file is not installed on this computer",
        ):
            op()
    assert not bpy.data.images and not blender.runtime.worker.busy()


def test_style_info_for_a_chosen_style_not_installed_here_says_so(blender, scene, elsewhere):
    """Style Info said 'No stylize style chosen: nothing to show' for a style chosen in this file that is not
    installed here; it says what Stylize says: not installed on this computer, and what to do."""
    shutil.copy(blender.models / "stylize.onnx", elsewhere / "ink_wash.onnx")
    blender.styles.refresh_styles()
    scene.nftgan.stylize_id = "ink_wash"
    assert bpy.ops.nftgan.style_info(kind="stylize") == {"FINISHED"}  # installed: its card
    _not_here(blender, elsewhere)
    with pytest.raises(
        RuntimeError,
        match=r"The stylize style 'ink_wash' chosen in this file is not installed on this computer.*"
        r"Refresh Styles.*or pick one of the installed stylize styles",
    ):
        bpy.ops.nftgan.style_info(kind="stylize")
    scene.nftgan.stylize_id = ""  # no choice: the first installed style's card, as before
    assert bpy.ops.nftgan.style_info(kind="stylize") == {"FINISHED"}


def _renamed(model, dst, name: str) -> None:
    """A copy of the test stylize model whose style name (its `nftgan.name`, "Tiny cyclegan") is `name`, of
    the same length: the protobuf's length prefixes stay as they are."""
    data, old = model.read_bytes(), b"Tiny cyclegan"
    assert data.count(old) == 1 and len(name) == len(old)
    dst.write_bytes(data.replace(old, name.encode()))


def test_an_untouched_pickers_style_whose_file_is_removed_is_not_replaced(blender, scene, elsewhere):
    """In a fresh file the Stylize picker, left untouched, shows the first stylize style (here the artist's
    own, named to come first, as 3D Clay does in an install). Its file removed, the first Stylize was refused,
    but the picker then moved to the next stylize style and the next Stylize ran that one, unsaid (in an
    install with no other stylize style: Colorize alone). The choice stays: Stylize keeps saying it is missing
    and what to do, and the picker shows it as missing, until the artist picks another one."""
    mine = elsewhere / "my-ink.onnx"
    _renamed(blender.models / "stylize.onnx", mine, "2D Ink sketch")
    blender.styles.refresh_styles()
    props = scene.nftgan
    props.stylize_id = ""  # untouched, as in a fresh file
    assert props.stylize == "my-ink"  # the first stylize style: the picker shows it
    bpy.ops.mesh.primitive_plane_add()
    assert bpy.ops.nftgan.new_canvas(size="256") == {"FINISHED"}
    paint(scene.nftgan.sketch, HOUSE)
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    assert [j.state for j in _finish(blender) if j.label.startswith("Stylize")] == ["done"]

    mine.unlink()
    with pytest.raises(RuntimeError, match=r"'2D Ink sketch' cannot be used any more: my-ink\.onnx is gone"):
        bpy.ops.nftgan.stylize()
    for _ in range(2):  # not once: every Stylize until the artist picks a style
        with pytest.raises(
            RuntimeError,
            match=r"The stylize style 'my-ink' .*nothing was run in its place.*Refresh Styles.*"
            r"or pick one of the installed stylize styles \(.*Tiny cyclegan\)",
        ):
            bpy.ops.nftgan.stylize()
        assert blender.stylize.current_job() is None and not blender.runtime.worker.busy()
    assert props.stylize == "my-ink"
    labels = {it[0]: it[1] for it in blender.styles._enum_items["stylize"]}
    assert labels["my-ink"] == "my-ink (not installed)"

    _renamed(blender.models / "stylize.onnx", mine, "2D Ink sketch")  # put back, and Refresh Styles
    assert bpy.ops.nftgan.refresh_styles() == {"FINISHED"}
    assert blender.stylize.chosen_models(scene)["stylize"].path == str(mine)
