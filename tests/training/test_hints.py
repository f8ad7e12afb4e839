"""Synthetic colour hints (training/hints.py): strokes in the target's local colour, inside its regions."""

from __future__ import annotations

import numpy as np
from nftgan.training import hints

RED, BLUE, DARK = (220, 40, 40), (40, 90, 220), (20, 20, 30)


def _pair(size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A picture (red left half, blue right half on white, a dark band) and its line sketch."""
    target = np.full((size, size, 3), 255, np.uint8)
    q = size // 8
    target[q : 7 * q, q : 4 * q] = RED
    target[q : 7 * q, 4 * q : 7 * q] = BLUE
    target[6 * q : 7 * q, q : 7 * q] = DARK  # too dark to be a hint colour: it reads as a line
    sketch = np.full_like(target, 255)
    for a, b in ((q, 7 * q), (4 * q, 4 * q + 1)):
        sketch[q : 7 * q, a : a + 2] = 0
        sketch[q : 7 * q, b - 2 : b] = 0
    sketch[q : q + 2, q : 7 * q] = 0
    sketch[7 * q - 2 : 7 * q, q : 7 * q] = 0
    return sketch, target


def test_colour_conversion_matches_known_cielab_values():
    lab = hints.srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red


def test_strokes_take_the_local_colour_and_stay_inside_its_region():
    sketch, target = _pair()
    lab = hints.srgb_to_lab(target / 255.0)
    seen = set()
    for seed in range(30):
        for alpha, colour, where in hints.strokes(sketch, target, np.random.default_rng(seed), 4, sloppy=0.0):
            c = tuple(colour.round().astype(int).tolist())
            assert c in (RED, BLUE), c  # never the dark band (a line) nor the paper
            seen.add(c)
            region = np.linalg.norm(lab - hints.srgb_to_lab(np.array(c) / 255.0), axis=-1) < hints.REGION_DE
            assert alpha.max() > 0.5 and not (alpha[~region] > 0).any()
            assert np.array_equal(where, region)  # the pixels whose colour the stroke gives
    assert seen == {RED, BLUE}


def test_paint_hints_is_deterministic_in_its_generator_and_sometimes_paints_nothing():
    sketch, target = _pair()
    (a, wa), (b, wb) = (hints.paint_hints(sketch, target, np.random.default_rng(7)) for _ in range(2))
    assert np.array_equal(a, b) and np.array_equal(wa, wb)
    painted = [
        not np.array_equal(hints.paint_hints(sketch, target, np.random.default_rng(s))[0], sketch)
        for s in range(200)
    ]
    share_none = 1 - np.mean(painted)
    assert 0.1 < share_none < 0.35  # NO_HINTS (0.2) of the examples teach colouring without hints
    out, hinted = hints.paint_hints(sketch, target, np.random.default_rng(int(np.argmax(painted))))
    assert (
        hinted.any() and (np.isin(target[hinted], [RED, BLUE]).all(axis=1)).all()
    )  # the hinted colours' pixels
    changed = np.abs(out.astype(int) - sketch.astype(int)).max(axis=2) > 0
    coloured = out[changed].astype(int)
    assert (np.ptp(coloured, axis=1) > 40).mean() > 0.5  # hints are coloured (saturated), not grey lines
    assert out.dtype == np.uint8 and out.shape == sketch.shape
