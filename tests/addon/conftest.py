"""Fixtures for the add-on's Blender tests: the real extension zip, installed with Blender's own
installer into a throw-away user profile, in one shared bpy session (bpy imports once per process).

The profile is chosen here, before anything imports bpy, so the developer's real Blender profile
is never touched (BLENDER_USER_RESOURCES is read by bpy at import).
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest

PKG = "bl_ext.user_default.nftgan"

_OWN_PROFILE = ""  # the throw-away profile this process made (about 100 MB once the extension is in)
if "bpy" not in sys.modules:
    _OWN_PROFILE = os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="nftgan-test-profile-")
PROFILE = os.environ.get("BLENDER_USER_RESOURCES", "")


def _remove_profile() -> None:
    if _OWN_PROFILE:
        shutil.rmtree(_OWN_PROFILE, ignore_errors=True)


atexit.register(_remove_profile)  # registered before bpy is imported: runs after bpy's own exit handlers


# tests/collections imports these fixtures: a second definition, made once more in a run of both folders. A
# second install of the extension disabled the first one's modules, which the tests of tests/addon run after
# tests/collections went on using (no worker): so both definitions share one build and one install.
_made: dict = {}


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> str:
    from tools import build_extension

    if "zip" not in _made:
        _made["zip"] = build_extension.build(out_dir=str(tmp_path_factory.mktemp("dist")))[0]
    return _made["zip"]


@pytest.fixture(scope="session")
def blender(extension_zip, test_models):
    if "blender" not in _made:
        _made["blender"] = _install(extension_zip, test_models)
    return _made["blender"]


def _install(extension_zip, test_models) -> SimpleNamespace:
    import bpy

    ext_dir = bpy.utils.user_resource("EXTENSIONS")
    if not PROFILE or not ext_dir.startswith(PROFILE):
        pytest.fail(f"bpy was imported before tests/addon/conftest.py chose a temporary profile ({ext_dir})")
    result = bpy.ops.extensions.package_install_files(
        filepath=extension_zip, repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    assert PKG in bpy.context.preferences.addons
    blender_pkg = importlib.import_module(f"{PKG}.blender")
    prefs = importlib.import_module(f"{PKG}.blender.preferences").get()
    prefs.model_folders.add().path = str(test_models)
    bpy.ops.wm.save_userpref()  # subprocess tests start Blender with this profile: enabled, models set
    mods = {name: importlib.import_module(f"{PKG}.blender.{name}") for name in blender_pkg.MODULES}
    return SimpleNamespace(
        bpy=bpy,
        zip=extension_zip,
        profile=PROFILE,
        models=test_models,
        prefs=prefs,
        core=importlib.import_module(f"{PKG}.core"),
        **mods,
    )


@pytest.fixture
def scene(blender):
    """An empty scene (a fresh file) with no NFTGan job left over, and the test's own publish folder: no ledger
    row, staged file or Publish Collection run of an earlier test (a test published 20 tokens before it: its
    gallery had no room left for the service's own list)."""
    bpy = blender.bpy
    assert blender.runtime.worker.wait_idle(120)
    shutil.rmtree(blender.runtime.user_dir("publish"))
    blender.publish.invalidate_gallery()
    blender.publish._gallery["problem"] = ""
    bpy.ops.wm.read_homefile(use_empty=True)
    blender.runtime.drain()
    blender.runtime.last_report = ("INFO", "")
    scene = bpy.context.scene
    scene.nftgan.colorize_id, scene.nftgan.stylize_id = "colorize", "stylize"  # the shared test models
    return scene


_exit_status: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """bpy 4.2 as a module (not Blender itself; bpy 4.5 does not) crashes when the process exits after a glTF
    export (publishing an object as GLB): a space type it frees after Python has finalised calls into
    Python. The results are reported by then; leave without that clean-up so the run's own exit status
    is what the shell sees, not the crash."""
    bpy = sys.modules.get("bpy")
    exported = "io_scene_gltf2.blender.exp" in sys.modules
    if bpy is not None and exported and bpy.app.version[:2] == (4, 2) and _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        _remove_profile()  # os._exit runs no exit handlers
        os._exit(_exit_status[0])


def paint(image, strokes, width=3.0) -> np.ndarray:
    """Write a sketch straight into the image's pixels (paint operators need a GPU window)."""
    from nftgan.core.imageio import draw_strokes

    w, h = image.size
    pixels = np.ones((h, w, 4), np.float32)
    draw_strokes(pixels, strokes, width=width)
    image.pixels.foreach_set(pixels.ravel())
    image.update()
    return pixels


def pixels_of(image) -> np.ndarray:
    """The image's pixels as shown (sRGB-encoded, straight alpha; a float image holds linear values with
    premultiplied alpha: converted)."""
    from nftgan.core.imageio import float_pixels_to_srgb

    w, h = image.size
    buf = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    px = buf.reshape(h, w, image.channels)
    linear = image.is_float and not image.colorspace_settings.is_data
    return float_pixels_to_srgb(px, out=px) if linear else px


HOUSE = [
    [(0.2, 0.15), (0.8, 0.15), (0.8, 0.55), (0.2, 0.55), (0.2, 0.15)],
    [(0.15, 0.55), (0.5, 0.85), (0.85, 0.55)],
]
