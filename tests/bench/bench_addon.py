"""Add-on benchmark: main-thread blocking per Stylize, end-to-end latency, peak RSS at 2048², tile seams.

Runs the real extension (built and installed into a throw-away Blender profile) in a child process,
so bpy's one-import-per-process rule and the RSS measurement do not mix with other benchmarks.
Models: the bundled styles in addon/models/ when present, else the test suite's tiny trained models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seam_score(out: np.ndarray, tile: int, starts_x, starts_y, smooth: int = 4) -> float:
    """Mean gradient of the (box-smoothed) output across tile borders / the same away from borders.

    1.0: borders look like the rest of the image. Smoothing over `smooth` px removes the models'
    fine texture, so what remains is what a seam is: a step in local tone where tiles meet."""
    from scipy.ndimage import uniform_filter

    out = uniform_filter(out.astype(np.float32), size=(smooth, smooth, 1))
    gx = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))
    gy = np.abs(np.diff(out, axis=0)).mean(axis=(1, 2))

    def cuts(starts, length):
        return sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < length})

    cx, cy = cuts(starts_x, out.shape[1]), cuts(starts_y, out.shape[0])
    border = np.concatenate([gx[[c - 1 for c in cx]], gy[[c - 1 for c in cy]]])
    keep_x, keep_y = np.ones_like(gx, bool), np.ones_like(gy, bool)
    for c in cx:
        keep_x[max(0, c - smooth - 1):c + smooth] = False
    for c in cy:
        keep_y[max(0, c - smooth - 1):c + smooth] = False
    return float(border.mean() / np.concatenate([gx[keep_x], gy[keep_y]]).mean())
