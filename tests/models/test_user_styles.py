"""Styles a user adds (their own folders beside the bundled one), as the add-on's registry lists them:
every style can be picked by its id, whatever its file is called, and what a file's metadata says is
shown as one clean line."""

from __future__ import annotations

import os

import onnx
import pytest
from nftgan.core import styles as core_styles
from nftgan.core.contract import ModelError, describe_model


def _copy(src, dst, **props):
    model = onnx.load(str(src))
    meta = {p.key: p.value for p in model.metadata_props} | props
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def test_two_files_of_one_name_in_different_folders_are_two_styles_each_picked_by_its_own_id(
    colorize_model, tmp_path
):
    """A fine-tune exported as colorize-flat.onnx (the file it started from) into the user's folder, or a
    my-style.onnx in two folders: both are listed, and picking one runs that one, never the other."""
    bundled = core_styles.BUNDLED_DIR + "/colorize-flat.onnx"
    mine = _copy(colorize_model, tmp_path / "styles" / "colorize-flat.onnx", **{"nftgan.name": "My Flat"})
    _copy(colorize_model, tmp_path / "a" / "my-style.onnx", **{"nftgan.name": "Ink A"})
    _copy(colorize_model, tmp_path / "b" / "my-style.onnx", **{"nftgan.name": "Ink B"})
    found = core_styles.scan([tmp_path / "styles", tmp_path / "a", tmp_path / "b"])
    ids = [s.id for s in found]
    assert len(ids) == len({i.lower() for i in ids}), ids
    by_name = {s.name: s for s in found if s.ok}
    for name, path in (
        ("Flat Colour", bundled),
        ("My Flat", mine),
        ("Ink A", tmp_path / "a" / "my-style.onnx"),
    ):
        picked = core_styles.find(found, "colorize", by_name[name].id)
        assert picked.name == name and picked.path == str(path), (name, picked.path)
    assert core_styles.find(found, "colorize", by_name["Ink B"].id).name == "Ink B"
    assert by_name["Flat Colour"].id == "colorize-flat"  # the bundled and the first folder's keep theirs
    assert by_name["Ink A"].id == "my-style"
    again = core_styles.scan([tmp_path / "styles", tmp_path / "a", tmp_path / "b"])
    assert [s.id for s in again] == ids  # stable: a scene keeps its choice


@pytest.mark.parametrize(
    "name, shown",
    [
        ("My\nink\x00 style\t2", "My ink style 2"),
        ("  padded  ", "padded"),
        ("é" * 200, "é" * 59 + "…"),
    ],
)
def test_a_name_with_control_characters_or_too_long_is_one_clean_line(colorize_model, tmp_path, name, shown):
    """Blender cuts a string at a NUL (the picker, hover text and card showed 'My'), shows a line break
    inside a picker item, and names datablocks after the name (63 bytes in Blender 4.2)."""
    path = _copy(
        colorize_model, tmp_path / "odd.onnx", **{"nftgan.name": name, "nftgan.description": "a\r\nb\x07c"}
    )
    info = describe_model(path)
    assert info.name == shown
    assert info.description == "a b c"


def test_a_card_file_with_a_nul_or_bad_utf8_is_shown_whole(colorize_model, tmp_path):
    """The NAME.md beside a model, as another tool may write it: Blender's text datablock (Style Info) ends a
    string at a NUL, so the card after one was lost; bytes that are not UTF-8 show as the replacement mark."""
    path = _copy(colorize_model, tmp_path / "ink.onnx")
    (tmp_path / "ink.md").write_bytes(b"# Ink\n\nline one\x00after the nul\n\xff\xfe bad\n\tindented\r\n")
    (style,) = [s for s in core_styles.scan([tmp_path]) if s.path == str(path)]
    text = core_styles.card_text(style)
    assert "\x00" not in text and "after the nul" in text and "\ufffd\ufffd bad" in text
    assert "\tindented" in text


def test_a_model_folder_without_models_says_where_they_are(colorize_model, tmp_path):
    """The artist adds ~/nftgan-styles but exported into ~/nftgan-styles/ink/: the preferences list says the
    folder holds no .onnx file and that its subfolders do, instead of showing nothing at all."""
    _copy(colorize_model, tmp_path / "styles" / "ink" / "ink.onnx")
    (tmp_path / "empty").mkdir()
    found = core_styles.scan([tmp_path / "styles", tmp_path / "empty"])
    errors = [s.error for s in found if not s.ok]
    assert any(
        "styles holds no .onnx model files; 1 is in its subfolders: add the folder that holds it" in e
        for e in errors
    ), errors
    assert any("empty holds no .onnx model files" in e for e in errors), errors
    assert not any(s.ok and "ink" in s.path for s in found)


def test_a_style_whose_graph_fails_says_what_to_do_and_validate_finds_it_first(
    colorize_model, tmp_path, capfd
):
    """A U-Net (32 px, its graph takes multiples of 32) whose metadata promises other sizes. The style list
    reads only the header, so it is offered; Stylize's failure then names `nftgan validate FILE` and
    re-exporting, as the wrong-shape and NaN failures say what to do. `nftgan validate` catches it
    beforehand, also when the promise still holds at the trained size (multiple_of 16: 32 px runs, 48 fails).
    Said once, with onnxruntime's words only as a short cause at the end (it used to log its own red line on
    stderr first, and its status code and C++ source location were in the middle of the message)."""
    import numpy as np
    from nftgan.core import pipeline
    from nftgan.core.contract import ModelError
    from nftgan.core.errors import UserError
    from nftgan.export.validate import validate

    sketch = np.ones((77, 77, 4), np.float32)
    sketch[30:40, 10:70, :3] = 0.0
    for m in (7, 16):
        bad = _copy(colorize_model, tmp_path / "styles" / f"seven{m}.onnx", **{"nftgan.multiple_of": str(m)})
        assert describe_model(bad).multiple_of == m  # the header is fine: listed as usable
        with pytest.raises(UserError) as failed:
            pipeline.run(sketch, models={"colorize": str(bad)}, threads=1)
        said = str(failed.value)
        assert "failed on a " in said and f"check it with `nftgan validate {bad}`" in said, said
        assert "export it again with `nftgan export`" in said and "Refresh Styles" in said, said
        assert said.endswith(")") and "Refresh Styles. (onnxruntime: " in said, said
        assert "[ONNXRuntimeError]" not in said and ".cc:" not in said and ".h:" not in said, said
        assert "onnxruntime" not in capfd.readouterr().err  # (C++'s stderr: file descriptors)
        with pytest.raises(ModelError, match="the graph fails on a"):
            validate(str(bad))


def test_a_model_file_replaced_by_one_of_the_same_size_and_time_is_read_anew(colorize_model, tmp_path):
    """A style file replaced by another of the same size with its modification time kept (`cp -p` of a
    re-export, a sync tool, `os.replace` of a file made beside it): a scan and `nftgan stylize --style PATH`
    (`at_path`, which reads through the same cache now) describe the new file and `model_hash` hashes it, not the one read before. The
    cache went by size and modification time only: the old name stayed, and a damaged file stayed valid."""
    path = _copy(colorize_model, tmp_path / "styles" / "ink.onnx", **{"nftgan.name": "Ink A"})
    assert core_styles.at_path(str(path)).name == "Ink A"
    assert [s.name for s in core_styles.scan([tmp_path / "styles"]) if s.path == str(path)] == ["Ink A"]
    before, digest = os.stat(path), core_styles.model_hash(str(path))
    times = before.st_atime_ns, before.st_mtime_ns
    other = _copy(colorize_model, tmp_path / "other.onnx", **{"nftgan.name": "Ink B"})
    os.utime(other, ns=times)
    os.replace(other, path)  # the same size (a name as long), the same modification time
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert core_styles.at_path(str(path)).name == "Ink B"
    assert core_styles.model_hash(str(path)) != digest  # (a result's provenance names the file it ran)
    assert [s.name for s in core_styles.scan([tmp_path / "styles"]) if s.path == str(path)] == ["Ink B"]
    data = path.read_bytes()  # overwritten in place, its time set back: damaged
    path.write_bytes(b"\0" * len(data))
    os.utime(path, ns=times)
    with pytest.raises(ModelError):
        core_styles.at_path(str(path))
    assert [s.ok for s in core_styles.scan([tmp_path / "styles"]) if s.path == str(path)] == [False]
