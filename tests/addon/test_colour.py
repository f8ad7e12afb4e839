"""Colour conversions the add-on uses on Blender's pixels (no bpy): a float image's pixels are scene linear
with premultiplied alpha; the models, PNGs and publishing take straight sRGB."""

import numpy as np
from nftgan.core import imageio


def test_float_pixels_to_srgb_undoes_blenders_float_storage():
    """sRGB levels with any alpha, stored as Blender stores a float image (linear, premultiplied), come back
    as the same levels with straight alpha; opaque pixels are plain linear -> sRGB; alpha 0 stays 0."""
    rng = np.random.default_rng(5)
    srgb = np.round(rng.random((33, 47, 4), dtype=np.float32) * 255) / 255
    srgb[:5, :, 3] = 1.0
    srgb[5:8, :, 3] = 0.0
    stored = imageio.srgb_to_linear(srgb)
    stored[..., :3] *= stored[..., 3:]
    back = imageio.float_pixels_to_srgb(stored)
    shown = srgb.copy()
    shown[5:8, :, :3] = 0.0  # nothing is left of a colour under alpha 0
    np.testing.assert_allclose(back, shown, atol=1e-4)
    assert back is not stored and np.array_equal(stored[:5], imageio.srgb_to_linear(srgb)[:5])  # a copy
    opaque = imageio.srgb_to_linear(srgb[:5])
    np.testing.assert_array_equal(imageio.float_pixels_to_srgb(opaque), imageio.linear_to_srgb(opaque))
    same = stored.copy()
    assert imageio.float_pixels_to_srgb(same, out=same) is same  # in place, as the worker converts a snapshot
    np.testing.assert_array_equal(same, back)


def test_linear_pixels_written_as_srgb_are_darker():
    """Why it matters: a result's pixels (linear) written to a PNG as they are, as `make demo` did, are
    darker: mid grey 0.5 (level 128) becomes level 55."""
    grey = np.full((1, 1, 4), 0.5, np.float32)
    grey[..., 3] = 1.0
    linear = imageio.srgb_to_linear(grey)
    assert round(float(linear[0, 0, 0]) * 255) == 55
    assert round(float(imageio.float_pixels_to_srgb(linear)[0, 0, 0]) * 255) == 128


def test_another_scene_linear_space_round_trips():
    """Results taken to a Rec.2020 scene linear space (Blender 5's working space) and read back as a float
    image's pixels give the same sRGB levels (the BT.2087 Rec.709 -> Rec.2020 matrix)."""
    to_scene = np.array(
        [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]], np.float32
    )
    rng = np.random.default_rng(8)
    x = rng.random((19, 23, 4), dtype=np.float32)
    x[..., 3] = 1.0
    flat, (h, w), _ = imageio.result_payload(x.copy())
    scene = imageio.rec709_to_scene(flat.copy(), to_scene).reshape(h, w, 4)
    assert not np.allclose(scene, flat.reshape(h, w, 4), atol=1e-3)
    back = imageio.float_pixels_to_srgb(scene, to_rec709=np.linalg.inv(to_scene))
    levels = np.round(np.clip(x[..., :3], 0, 1) * 255)
    np.testing.assert_allclose(back[..., :3] * 255, levels, atol=0.01)
