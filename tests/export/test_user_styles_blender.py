"""A user's own styles in real Blender (the bpy module, the real extension zip installed by Blender's installer:
tests/addon/conftest.py): a style file named like one the add-on already lists, and a style whose name holds
control characters, are picked and run by the add-on's own operators."""

from __future__ import annotations

import shutil

import pytest

from ..addon.conftest import HOUSE, paint

bpy = pytest.importorskip("bpy", reason="a Blender test: it runs in the Blender venvs (make test-blender)")


def _varint(n: int) -> bytes:
    out = b""
    while True:
        out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def _with_name(src, dst, name: str) -> None:
    """A copy of the model `src` whose nftgan.name is `name`: one more metadata_props entry (ModelProto field
    14) at the end, which a reader takes over the earlier one (the Blender venvs have no onnx package)."""
    key, value = b"nftgan.name", name.encode()
    entry = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    with open(dst, "ab") as fh:
        fh.write(b"\x72" + _varint(len(entry)) + entry)


def test_a_users_style_named_like_a_bundled_one_is_the_one_that_runs(blender, scene, tmp_path):
    """The user's fine-tune exported as colorize-flat.onnx (the file it started from) into their model folder:
    picked in the Colorize picker, Stylize runs it, not the bundled Flat Colour; its odd name shows whole."""
    models = tmp_path / "my-styles"
    _with_name(blender.models / "colorize.onnx", models / "colorize-flat.onnx", "My\x00 Flat\n")
    prefs, styles = blender.prefs, blender.styles
    prefs.model_folders.add().path = str(models)
    try:
        styles.refresh_styles()
        mine = next(s for s in styles.styles() if s.ok and s.path == str(models / "colorize-flat.onnx"))
        assert mine.name == "My Flat" and mine.id != "colorize-flat"
        props = scene.nftgan
        props.colorize = mine.id  # the picker, as the artist picks it
        props.stylize_id = "NONE"
        assert props.colorize == mine.id
        tip = bpy.types.UILayout.enum_item_description(props, "colorize", mine.id)
        assert tip.startswith("My Flat: "), tip
        bpy.ops.mesh.primitive_plane_add()
        assert bpy.ops.nftgan.new_canvas(size="256") == {"FINISHED"}
        paint(props.sketch, HOUSE)
        assert bpy.ops.nftgan.stylize() == {"FINISHED"}
        assert blender.runtime.worker.wait_idle(120)
        done = [j for j in blender.runtime.drain() if j.label.startswith("Stylize")]
        assert [j.state for j in done] == ["done"], [j.error for j in done]
        records = blender.images.models_of(bpy.data.images["Sketch colorized"])
        assert [(r["kind"], r["name"]) for r in records] == [("colorize", "My Flat")]
        assert "colorize: My Flat" in blender.runtime.last_report[1]
        assert bpy.ops.nftgan.style_info(kind="colorize") == {"FINISHED"}
        assert bpy.data.texts[f"{mine.id}.md"].as_string().startswith("# My Flat\n")
    finally:
        prefs.model_folders.remove(len(prefs.model_folders) - 1)
        styles.refresh_styles()
