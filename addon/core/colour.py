"""Colour conversions in one place (numpy only): the sRGB transfer curve and CIELAB (D65).

Used on Blender's linear pixels (imageio's srgb_to_linear / linear_to_srgb), by follow my colours (hintfill)
and by a style that keeps your colours (pipeline.keep_colours). Planar: colours are the first axis (3, ...).

float32 throughout, in place where it can be (at 512 px each full-size temporary is 3 MB of fresh memory).
The branches of the piecewise curves (sRGB's linear toe, CIELAB's linear part below (6/29)^3) are patched in
for the few (dark) pixels they hold instead of computing both over the whole image and selecting; where they
are many (a sixteenth of the pixels or more: the lines of a colorized drawing) the branch is computed over all
of them and copied in where it holds (one vectorised pass each instead of a gather and a scatter; the same
values); so the powers need no floor under their logarithm (a pixel at or below 0 is in the branch put back,
and its NaN or 0 is never seen: a floor was a whole extra pass). Powers are exp(p log x): numpy's float32 exp
and log are SIMD, `power` is not (2-3x slower at 256^2 under numpy 1.26 and 2); CIELAB's cube root is np.cbrt
(SIMD too, a third of exp(log(t) / 3)'s time). The 3 x 3 matrices are applied as per-channel multiply-adds:
np.tensordot / einsum / a BLAS product of a (3, 3) by a (3, N) array took 3x longer under numpy 1.26
(Blender 4.2-5.0's), and they may run on BLAS threads.
Within 1e-6 of a float64 reference on every 8-bit level (tests/addon/test_colour.py).
"""

from __future__ import annotations

import numpy as np

_M = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float64,
)  # linear sRGB -> XYZ
WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)  # D65
TO_XYZ = (_M / WHITE[:, None]).astype(np.float32)  # linear sRGB -> XYZ relative to the white
FROM_XYZ = (np.linalg.inv(_M) * WHITE).astype(np.float32)
EPS = (6 / 29) ** 3  # CIELAB's f(t): t^(1/3) above, linear below
SLOPE = 1 / (3 * (6 / 29) ** 2)


def _pow(x: np.ndarray, p: float, out: np.ndarray) -> np.ndarray:
    """x ** p for x > 0, into `out` (may be x): exp(p log x). 0 or NaN, without a warning, at x <= 0: the
    callers put their curve's other branch there."""
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log(x, out=out)
    out *= np.float32(p)
    return np.exp(out, out=out)


def _branch(x: np.ndarray, dark: np.ndarray, op, c: np.float32):
    """op(x, c) (a ufunc and a float32) at the pixels of `x` where `dark` (a piecewise curve's other branch: its
    first step), made before `x` changes: gathered when they are few, else over all of `x` (a new array: one
    vectorised pass, and `_put` puts them back with copyto instead of a scatter: lines and dark shapes are a
    tenth of a drawing or more). None when there are none."""
    k = np.count_nonzero(dark)
    if not k:
        return None
    if k * 16 < dark.size:
        lo = x[dark]
        return op(lo, c, out=lo)
    return op(x, c)


def _put(out: np.ndarray, dark: np.ndarray, lo: np.ndarray | None) -> None:
    """out[dark] = lo, for `_branch`'s pixels (gathered or whole)."""
    if lo is None:
        return
    if lo.shape == out.shape:
        np.copyto(out, lo, where=dark)
    else:
        out[dark] = lo


def srgb_decode(v: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Linear light (a new float32 array) of the sRGB values `v * scale + offset`, which must lie in [0, 1]
    (the affine map folded into the curve's first pass: a [-1, 1] image converts without a [0, 1] copy)."""
    v = np.asarray(v, np.float32)
    dark = v <= (0.04045 - offset) / scale  # the curve's linear toe: (v * scale + offset) <= 0.04045
    lo = _branch(v, dark, np.multiply, np.float32(scale / 12.92))
    out = v * np.float32(scale / 1.055)
    out += np.float32((offset + 0.055) / 1.055)
    _pow(out, 2.4, out)  # (above the toe out > 0.052; the toe is put back below)
    if lo is not None:
        lo += np.float32(offset / 12.92)
        _put(out, dark, lo)
    return out


def srgb_encode(lin: np.ndarray, out: np.ndarray | None = None, scale: float = 1.0, offset: float = 0.0):
    """sRGB of linear light `lin` in [0, 1], written as `srgb * scale + offset` into `out` (may be `lin`;
    default: `lin` itself, in place)."""
    dark = lin <= 0.0031308
    lo = _branch(lin, dark, np.multiply, np.float32(12.92 * scale))
    if out is None:
        out = lin
    _pow(lin, 1 / 2.4, out)
    out *= np.float32(1.055 * scale)
    out += np.float32(offset - 0.055 * scale)
    if lo is not None:
        lo += np.float32(offset)
        _put(out, dark, lo)
    return out


def mat3(m: np.ndarray, v: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The 3 x 3 matrix `m` applied to planar colours `v` (3, ...), as multiply-adds a plane at a time, into
    `out` (a new array by default; not `v`)."""
    if out is None:
        out = np.empty(v.shape, np.float32)
    tmp = np.empty(v.shape[1:], np.float32)
    for i in range(3):
        np.multiply(v[0], m[i, 0], out=out[i])
        for j in (1, 2):
            np.multiply(v[j], m[i, j], out=tmp)
            out[i] += tmp
    return out


def f(t: np.ndarray) -> np.ndarray:
    """CIELAB's f of t = X/Xn, Y/Yn, Z/Zn, in place (t >= 0)."""
    dark = t <= EPS
    lo = _branch(t, dark, np.multiply, np.float32(SLOPE))
    np.cbrt(t, out=t)
    if lo is not None:
        lo += np.float32(4 / 29)
        _put(t, dark, lo)
    return t


def f_inv(v: np.ndarray) -> np.ndarray:
    """The inverse of `f`, in place."""
    dark = v <= 6 / 29
    lo = _branch(v, dark, np.subtract, np.float32(4 / 29))
    sq = v * v
    v *= sq
    if lo is not None:
        lo *= np.float32(1 / SLOPE)
        _put(v, dark, lo)
    return v


def lab_f(rgb: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """f(X/Xn), f(Y/Yn), f(Z/Zn) (3, ...) of the sRGB values `rgb * scale + offset` (in [0, 1])."""
    lin = srgb_decode(rgb, scale, offset)
    return f(mat3(TO_XYZ, lin))


def lab_f_y(rgb: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """f(Y/Yn) alone (the lightness: L* = 116 f - 16) of the sRGB values `rgb * scale + offset`."""
    lin = srgb_decode(rgb, scale, offset)
    y = np.multiply(lin[0], TO_XYZ[1, 0])
    for j in (1, 2):
        lin[j] *= TO_XYZ[1, j]
        y += lin[j]
    return f(y)


def lab(rgb: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """CIELAB (D65) of planar sRGB (3, ...) `rgb * scale + offset` in [0, 1] -> (3, ...) float32."""
    shape = np.shape(rgb)
    # 2-D: a single colour (3,) too has planes to write into
    fs = lab_f(np.reshape(rgb, (3, -1)), scale, offset)
    out = np.empty_like(fs)
    np.multiply(fs[1], np.float32(116), out=out[0])
    out[0] -= np.float32(16)
    np.subtract(fs[0], fs[1], out=out[1])
    out[1] *= np.float32(500)
    np.subtract(fs[1], fs[2], out=out[2])
    out[2] *= np.float32(200)
    return out.reshape(shape)


def srgb_of_f(
    fs: np.ndarray, out: np.ndarray | None = None, scale: float = 1.0, offset: float = 0.0
) -> np.ndarray:
    """sRGB (clipped to the gamut) of CIELAB f values (3, ...), consumed; written as `srgb * scale + offset`
    (into `out` if given)."""
    lin = mat3(FROM_XYZ, f_inv(fs))
    np.clip(lin, 0.0, 1.0, out=lin)
    return srgb_encode(lin, out, scale, offset)


def srgb(lab_: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Planar sRGB in [0, 1] of CIELAB (3, ...) (out-of-gamut colours clipped), float32, written as
    `srgb * scale + offset`."""
    shape = np.shape(lab_)
    lab_ = np.asarray(lab_, np.float32).reshape(3, -1)
    fs = np.empty_like(lab_)
    np.add(lab_[0], np.float32(16), out=fs[1])
    fs[1] *= np.float32(1 / 116)
    np.multiply(lab_[1], np.float32(1 / 500), out=fs[0])
    fs[0] += fs[1]
    np.multiply(lab_[2], np.float32(-1 / 200), out=fs[2])
    fs[2] += fs[1]
    return srgb_of_f(fs, scale=scale, offset=offset).reshape(shape)
