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
    flat, (h, w), *_ = imageio.result_payload(x.copy())
    scene = imageio.rec709_to_scene(flat.copy(), to_scene).reshape(h, w, 4)
    assert not np.allclose(scene, flat.reshape(h, w, 4), atol=1e-3)
    back = imageio.float_pixels_to_srgb(scene, to_rec709=np.linalg.inv(to_scene))
    levels = np.round(np.clip(x[..., :3], 0, 1) * 255)
    np.testing.assert_allclose(back[..., :3] * 255, levels, atol=0.01)


def _srgb_decode64(v):
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _srgb_encode64(lin):
    lin = np.asarray(lin, np.float64)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.abs(lin) ** (1 / 2.4) - 0.055)


def _lab64(rgb):
    """CIELAB (D65) of planar sRGB, in float64, straight from the definitions."""
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    white = np.array([0.95047, 1.0, 1.08883])
    t = np.einsum("ij,j...->i...", m, _srgb_decode64(rgb)) / white.reshape((3,) + (1,) * (np.ndim(rgb) - 1))
    d = 6 / 29
    f = np.where(t > d**3, np.cbrt(t), t / (3 * d * d) + 4 / 29)
    return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_colour_conversions_match_a_float64_reference():
    """addon/core/colour (float32, powers as exp(p log x), the matrices as multiply-adds) against the
    definitions in float64: the sRGB curve within 1e-6 both ways on 100,001 steps and every 8-bit level
    (no 8-bit level changes), CIELAB within 2e-4 (L* 0..100; 1.04e-4 measured) on random colours, the greys and the primaries,
    with the [-1, 1] affine map folded in, and back to sRGB within 1e-5."""
    from nftgan.core import colour

    steps = np.linspace(0, 1, 100_001, dtype=np.float32)
    levels = np.arange(256, dtype=np.float32) / 255
    for v in (steps, levels):
        dec = colour.srgb_decode(v)
        assert dec.dtype == np.float32 and np.abs(dec - _srgb_decode64(v)).max() < 1e-6
        enc = colour.srgb_encode(v.copy())
        assert np.abs(enc - _srgb_encode64(v)).max() < 1e-6
        np.testing.assert_array_equal(np.round(enc * 255), np.round(_srgb_encode64(v) * 255))
    # the affine map folded in: a [-1, 1] image decodes as its [0, 1] twin, written back scaled
    np.testing.assert_allclose(colour.srgb_decode(steps * 2 - 1, 0.5, 0.5), _srgb_decode64(steps), atol=1e-6)
    out = np.empty_like(steps)
    colour.srgb_encode(steps.copy(), out, 2.0, -1.0)
    np.testing.assert_allclose(out, _srgb_encode64(steps) * 2 - 1, atol=2e-6)
    rng = np.random.default_rng(3)
    rgb = rng.random((3, 64, 64), dtype=np.float32)
    rgb[:, 0, :] = np.linspace(0, 1, 64, dtype=np.float32)  # greys, black and white
    rgb[:, 1, :3] = np.eye(3, dtype=np.float32)  # the primaries
    rgb[:, 2, :] = rng.random((3, 64), dtype=np.float32) * 0.03  # dark: both linear branches
    want = _lab64(rgb)
    assert np.abs(colour.lab(rgb) - want).max() < 2e-4
    assert np.abs(colour.lab(rgb[:, 5, 7]) - want[:, 5, 7]).max() < 2e-4  # a single colour (3,)
    fs = colour.lab_f(rgb * 2 - 1, 0.5, 0.5)
    np.testing.assert_allclose(116 * fs[1] - 16, want[0], atol=2e-4)
    np.testing.assert_allclose(colour.lab_f_y(rgb * 2 - 1, 0.5, 0.5), fs[1], atol=1e-6)
    np.testing.assert_allclose(colour.srgb(want.astype(np.float32)), rgb, atol=1e-5)
