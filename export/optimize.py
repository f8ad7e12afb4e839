"""Exact ONNX -> ONNX rewrites that make NFTGan's generators faster in onnxruntime (CPU).

    python -m nftgan.export.optimize IN.onnx OUT.onnx     (`nftgan export` applies it to every new export)

Upsampling convolutions (`upsample="resize"` U-Nets): Resize(bilinear x2, half_pixel) followed by a 3x3
convolution (stride 1, zero padding 1) becomes one convolution at the LOW resolution with 4 x Cout
outputs (the four output phases: each is a 3x3 kernel on the input, the bilinear weights folded into the
convolution's) whose phases are then interleaved into the full-resolution map. Same multiply-adds, but
neither the 4x larger upsampled map nor the Resize that makes it (a quarter of the default chain's time in
onnxruntime) exists any more.

The interleave is a depthwise ConvTranspose (group Cout, kernel 2, stride 2) with one-hot weights: output
(c, 2i + py, 2j + px) is input channel 4c + 2py + px at (i, j) times 1.0 plus three zeros, the same values as
DepthToSpace (CRD, blocksize 2), and 2-2.9x faster than onnxruntime's DepthToSpace at these shapes (1.18 and
1.22, 2 threads).

It is exact, borders included: the low-resolution convolution runs on the input padded by edge replication,
which reproduces the Resize's clamping everywhere, but it then sees the upsampled map's outer ring as the
edge pixels where the original convolution sees its zero padding. Only the output's outermost rows and
columns differ; they are recomputed the original way (Resize, then the 3x3 convolution) from the input's
first and last two rows (columns) and written over them. Where the input is at least 2 px at the smallest
size the graph takes, the rows are taken by one Gather, the columns by two Slices, a stride-7 convolution
computes only the first and last line, and ScatterElements writes them at lines 0 and -1 (otherwise Slices
and Concats). The result matches the original graph to float rounding (`check`), which every rewritten file
must pass before it is written.

The shipped files were moved from the earlier form (DepthToSpace in DCR order; the fix-up's column Gather and
Split + Concat) to this one by a one-off conversion, outputs bit for bit (commits e195396 and 1c63603 have it;
removed since: no file outside this repository has the earlier form, which onnxruntime still runs).

Integer-scale Resizes (`rewrite_resizes`: scale s >= 2 on H and W, cubic with any coefficient or linear,
half_pixel, exclude_outside 0, no antialias; the x4 upscaler's bicubic skip and the bilinear enlargement of
its local minima and maxima): Resize clamps its taps to the edge, so it is the input padded by edge
replication (x4: cubic 2 px, linear 1 px), a depthwise convolution (group C) with s x s outputs per channel
(each output phase's separable weights, zeros where a phase does not reach: `resize_weights`), and the s x s
interleave, exactly (onnxruntime's own Resize is the reference in the tests: borders, odd sizes, 1 px inputs;
odd scales differ by float rounding of the sampling positions). Elementwise operators (Add, Max, Min, Neg,
...) on such upsampled maps commute with the interleave (a permutation), and a DepthToSpace (CRD) output is
its input's phases interleaved, so the upscaler's whole tail, bicubic + DepthToSpace(residual convolution)
clamped to the enlarged range, runs on the phases at the input's resolution and is interleaved once at the
end, instead of three Resizes (~20 ns per output element in onnxruntime: 73% of the file's time) and a
DepthToSpace: 0.27-0.29x the file's time at 64-512 px inputs (onnxruntime 1.22.1, 2 threads; 1.18.1
0.31-0.35x; docs/benchmarks.md, session 23). The interpolation convolutions are never quantized
(`never_quantized`; int8 files keep their QDQ convolutions, and `onnx_export.quantize_int8` leaves these out).

The original convolution's weights stay in the graph under their PyTorch names (the border fix-up runs
them), so every trained weight of a rewritten file can be read back as it was: `nftgan train --init
FILE.onnx` does (`export/onnx_init.py`, tested in tests/training/test_init.py). A rewrite that drops them
must invert the phase weights instead (`phase_weights` is invertible: each phase's 3x3 mixing is).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

# max |optimised - original| as a fraction of the output's scale: export's parity limit (PARITY_RTOL)
TOLERANCE = 1e-3
MIN_SIDE_FRACTION = 8  # rewrite the upsampling pairs whose input is at least side / 8 px

# coefficient of x[i + k - 1] (k = 0, 1, 2) in u[2i + p + a - 1], u the bilinear x2 (half_pixel) upsampling
# of x: u[2i] = x[i-1]/4 + 3x[i]/4, u[2i+1] = 3x[i]/4 + x[i+1]/4. Index [p][a][k]: output phase p (even,
# odd), tap a of the 3x3 convolution on u.
_PHASE = np.array(
    [
        [[0.75, 0.25, 0.0], [0.25, 0.75, 0.0], [0.0, 0.75, 0.25]],
        [[0.25, 0.75, 0.0], [0.0, 0.75, 0.25], [0.0, 0.25, 0.75]],
    ],
    dtype=np.float64,
)


def phase_weights(w: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The low-resolution convolution equal to bilinear x2 then `w` (Cout, Cin, 3, 3): weights (4 Cout, Cin,
    3, 3) and bias (4 Cout), output channel 4 c + 2 py + px for output (c, 2i + py, 2j + px): the order
    `interleave_weights`' ConvTranspose (and DepthToSpace in CRD mode) reads."""
    cout = w.shape[0]
    # k[co, py, px, ci, ky, kx] = sum_ab w[co, ci, a, b] P[py, a, ky] P[px, b, kx]
    k = np.einsum("oiab,pak,qbl->opqikl", w.astype(np.float64), _PHASE, _PHASE)
    bias = np.zeros(cout) if b is None else b.astype(np.float64)
    return k.reshape(4 * cout, *w.shape[1:]).astype(np.float32), np.repeat(bias, 4).astype(np.float32)


def interleave_weights(channels: int, scale: int = 2) -> np.ndarray:
    """The one-hot weights (s^2 C, 1, s, s) of the depthwise ConvTranspose (group C, kernel s x s, stride s)
    that interleaves s^2 C phase channels into C channels s times the size: W[s^2 c + p, 0, p // s, p % s] = 1,
    so output (c, s i + py, s j + px) is input (s^2 c + s py + px, i, j) times 1 plus zeros (DepthToSpace,
    CRD)."""
    n = scale * scale
    return np.tile(np.eye(n, dtype=np.float32).reshape(n, 1, scale, scale), (channels, 1, 1, 1))


def _interleave(b, low: str, channels: int, output: str | None = None, scale: int = 2) -> str:
    w = b.const("interleave", interleave_weights(channels, scale))
    k = [scale, scale]
    return b.op("ConvTranspose", [low, w], output, group=channels, kernel_shape=k, strides=k)


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_bilinear_x2(node, inits: dict) -> bool:
    a = _attrs(node)
    if node.op_type != "Resize" or a.get("mode", b"nearest") != b"linear":
        return False
    if a.get("coordinate_transformation_mode", b"half_pixel") != b"half_pixel" or a.get("antialias", 0):
        return False
    if len(node.input) < 3 or node.input[2] not in inits or (len(node.input) > 3 and node.input[3]):
        return False
    if len(node.input) > 1 and node.input[1] and node.input[1] in inits and inits[node.input[1]].size:
        return False  # a roi (only used by tf_crop_and_resize)
    scales = inits[node.input[2]]
    return scales.shape == (4,) and np.array_equal(scales, [1, 1, 2, 2])


def _is_conv3x3_same(node, inits: dict) -> bool:
    if node.op_type != "Conv" or node.input[1] not in inits:
        return False
    a = _attrs(node)
    w = inits[node.input[1]]
    return (
        w.ndim == 4
        and w.shape[2:] == (3, 3)
        and a.get("group", 1) == 1
        and list(a.get("strides", [1, 1])) == [1, 1]
        and list(a.get("dilations", [1, 1])) == [1, 1]
        and list(a.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1]
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
        and (len(node.input) < 3 or not node.input[2] or node.input[2] in inits)
    )


MARK = "/nftgan-upsampling/"  # in the names of the nodes a rewrite adds (a second pass leaves them alone)


class _Builder:
    def __init__(self, graph, prefix: str, mark: str = MARK):
        self.graph, self.prefix, self.nodes, self.n = graph, prefix + mark, [], 0

    def name(self, what: str) -> str:
        self.n += 1
        return f"{self.prefix}{what}_{self.n}"

    def const(self, what: str, value) -> str:
        name = self.name(what)
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        out = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type), **attrs))
        return out

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        i64 = lambda v: self.const("i", np.array([v], dtype=np.int64))
        return self.op("Slice", [x, i64(start), i64(end), i64(axis)])


BIG = np.iinfo(np.int64).max


def _column_ends(b: _Builder, x: str) -> str:
    """x's first two and last two columns (two Slices and a Concat: half the time of a Gather on the last
    axis, which copies element by element)."""
    return b.op("Concat", [b.slice(x, 0, 2, 3), b.slice(x, -2, BIG, 3)], axis=3)


def _overwrite_ends(b: _Builder, full: str, edge: str, axis: int, output: str | None = None) -> str:
    """`full` with its first and last lines along `axis` replaced by `edge`'s two (ScatterElements at indices
    0 and -1, expanded to `edge`'s shape), instead of splitting `edge` and concatenating it around a Slice of
    `full`."""
    shape = [1, 1, 1, 1]
    shape[axis] = 2
    ends = b.const("ends", np.array([0, -1], dtype=np.int64).reshape(shape))
    where = b.op("Expand", [ends, b.op("Shape", [edge])])
    return b.op("ScatterElements", [full, where, edge], output, axis=axis)


def _rewrite_pair(graph, resize, conv, inits: dict, lean: bool = False) -> list:
    """The nodes replacing `resize` -> `conv`."""
    b = _Builder(graph, conv.name or conv.output[0])
    x, y = resize.input[0], conv.output[0]
    w = inits[conv.input[1]]
    bias = inits[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else None
    wk, bk = phase_weights(w, bias)
    # the interior: edge-padded input, valid 4-phase convolution, phases interleaved (one-hot ConvTranspose)
    pads = b.const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64))
    padded = b.op("Pad", [x, pads], mode="edge")
    low = b.op("Conv", [padded, b.const("w", wk), b.const("b", bk)], kernel_shape=[3, 3], pads=[0, 0, 0, 0])
    full = _interleave(b, low, w.shape[0])
    # the border: the original Resize + Conv on the input's first and last two rows (then columns), whose
    # upsampling gives the output's first two and last two rows exactly (clamped as the full map is)
    conv_inputs = [conv.input[1]] + ([conv.input[2]] if bias is not None else [])
    for axis in (2, 3):
        if lean:  # the input is >= 2 px: the 4 lines (rows: one Gather; columns: two Slices), a stride-7 Conv
            # that computes only the first and last output lines, written over `full`'s (ScatterElements)
            if axis == 2:
                strip = b.op("Gather", [x, b.const("i", np.array([0, 1, -2, -1], dtype=np.int64))], axis=2)
            else:
                strip = _column_ends(b, x)
            up = b.op("Resize", [strip, *resize.input[1:3]], **_attrs(resize))
            strides = [7, 1] if axis == 2 else [1, 7]  # of the 8 upsampled lines' outputs: 0 and 7
            edge = b.op("Conv", [up, *conv_inputs], **dict(_attrs(conv), strides=strides))
            full = _overwrite_ends(b, full, edge, axis, y if axis == 3 else None)
        else:  # 1 px inputs too: the 4 lines of a 1 px input are 2 copies of it
            strip = b.op("Concat", [b.slice(x, 0, 2, axis), b.slice(x, -2, BIG, axis)], axis=axis)
            up = b.op("Resize", [strip, *resize.input[1:3]], **_attrs(resize))
            edge = b.op("Conv", [up, *conv_inputs], **_attrs(conv))
            first, last = b.slice(edge, 0, 1, axis), b.slice(edge, -1, BIG, axis)
            mid = b.slice(full, 1, -1, axis)
            full = b.op("Concat", [first, mid, last], y if axis == 3 else None, axis=axis)
    return b.nodes


# ---------------------------------------------------------------- Resize (integer scale) -> phase space

RESIZE_MARK = MARK + "resize/"  # in the names of the nodes the Resize rewrite adds (never quantized)
# elementwise operators that commute with the interleave (a permutation of positions): computed on the
# phases at low resolution; their other inputs must be phases of the same kind or single numbers
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Neg", "Relu", "Sigmoid", "Tanh", "Abs", "Clip"}


def _cubic(x: float, a: float) -> float:
    """The cubic convolution kernel (Keys) with coefficient `a` at distance |x| <= 2."""
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def resize_taps(mode: str, scale: int, a: float = -0.75) -> tuple[np.ndarray, int, int]:
    """(k, before, after) for Resize(`mode`, half_pixel, exclude_outside 0) by the integer `scale` along one
    axis: output s i + p is sum_t k[p, t] x[i - before + t], x clamped to its edge (so: x padded by edge
    replication, `before` and `after` pixels). Output s i + p samples x at i + d, d = (p + 1/2) / s - 1/2;
    linear reads floor(d) and the next pixel, cubic the two either side (weights `_cubic`). x4: cubic reads
    i - 2 .. i + 2, linear i - 1 .. i + 1."""
    rows = []
    for p in range(scale):
        d = (p + 0.5) / scale - 0.5
        f = int(np.floor(d))
        t = d - f
        if mode == "linear":
            rows.append({f: 1 - t, f + 1: t})
        else:
            rows.append({f - 1 + j: _cubic(t + 1 - j, a) for j in range(4)})
    lo, hi = min(min(r) for r in rows), max(max(r) for r in rows)
    k = np.zeros((scale, hi - lo + 1))
    for p, r in enumerate(rows):
        for offset, w in r.items():
            k[p, offset - lo] += w
    return k, -lo, hi


def resize_weights(mode: str, scale: int, channels: int, a: float = -0.75) -> tuple[np.ndarray, int, int]:
    """(w, before, after): the depthwise convolution (group `channels`, weights (channels s^2, 1, K, K)) on the
    input padded by edge replication (`before`, `after` px) that gives Resize's output (c, s i + py, s j + px)
    as channel c s^2 + py s + px at (i, j) (CRD phase order): the outer product of the axes' taps."""
    k, before, after = resize_taps(mode, scale, a)
    w = np.einsum("pk,ql->pqkl", k, k).reshape(scale * scale, 1, k.shape[1], k.shape[1])
    return np.tile(w, (channels, 1, 1, 1)).astype(np.float32), before, after


def _resize_scale(node, inits: dict) -> int:
    """s for a Resize this rewrite reproduces exactly (integer scale s >= 2 on H and W, 1 on N and C, cubic
    or linear, half_pixel, exclude_outside 0, no antialias, scales given as an initializer); else 0."""
    a = _attrs(node)
    if node.op_type != "Resize" or a.get("mode", b"nearest") not in (b"linear", b"cubic"):
        return 0
    if a.get("coordinate_transformation_mode", b"half_pixel") != b"half_pixel":
        return 0
    if a.get("antialias", 0) or a.get("exclude_outside", 0) or "axes" in a:
        return 0
    if len(node.input) < 3 or node.input[2] not in inits or (len(node.input) > 3 and node.input[3]):
        return 0
    if len(node.input) > 1 and node.input[1] and node.input[1] in inits and inits[node.input[1]].size:
        return 0
    scales = inits[node.input[2]]
    if scales.shape != (4,) or scales[0] != 1 or scales[1] != 1 or scales[2] != scales[3]:
        return 0
    s = float(scales[2])
    return int(s) if s == int(s) and s >= 2 else 0


def _scalar(name: str, inits: dict) -> bool:
    return name in inits and inits[name].size == 1 and inits[name].ndim <= 4


def channel_counts(model: onnx.ModelProto) -> dict[str, int]:
    """{tensor name: its (static) channel count} for the 4-D tensors of `model` (onnx shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    counts = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        shape = vi.type.tensor_type.shape.dim
        if len(shape) == 4 and shape[1].HasField("dim_value"):
            counts[vi.name] = shape[1].dim_value
    return counts


def rewrite_resizes(
    model: onnx.ModelProto,
    side: int = 256,
    min_side: int = 0,
    fuse: bool = True,
) -> tuple[onnx.ModelProto, int]:
    """(a copy of `model` with its integer-scale Resizes (`_resize_scale`) rewritten, Resizes rewritten).

    Each Resize becomes Pad (edge) + a depthwise convolution giving its s x s output phases at the input's
    resolution (`resize_weights`). Elementwise operators (`_ELEMENTWISE`) whose inputs are all such phases (of
    Resizes, or the input of a DepthToSpace in CRD order, which is one already) or single numbers run on the
    phases too (`fuse`; off: each Resize is interleaved on its own), and the phases are interleaved (the
    one-hot ConvTranspose; DepthToSpace measured as fast) only where a full-resolution tensor is used by anything
    else, or is an output: x4 upscaler's bicubic + sub-pixel residual, clamped to bilinear-enlarged local minima
    and maxima, interleaves once."""
    counts = channel_counts(model)
    sides = input_sides(model, side) if min_side else {}
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    # the phase-space tensors: name -> (scale, channels); the Resizes' and DepthToSpaces' and the
    # elementwise operators' among them, by output name
    phase: dict[str, tuple[int, int]] = {}
    sources, ew = set(), set()
    for node in graph.node:
        if MARK in node.name or not node.output:
            continue
        y = node.output[0]
        if (
            node.op_type == "Resize"
            and (s := _resize_scale(node, inits))
            and node.input[0] in counts
            and sides.get(node.input[0], 0) >= min_side
        ):
            phase[y] = (s, counts[node.input[0]])
            sources.add(y)
        elif node.op_type == "DepthToSpace" and _attrs(node).get("mode", b"DCR") == b"CRD" and y in counts:
            phase[y] = (_attrs(node)["blocksize"], counts[y])
            sources.add(y)
        elif fuse and node.op_type in _ELEMENTWISE and len(node.output) == 1:
            kinds = {phase.get(i) for i in node.input if i and not _scalar(i, inits)}
            if len(kinds) == 1 and None not in kinds and any(i in phase for i in node.input):
                phase[y] = kinds.pop()
                ew.add(y)
    users: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    # a DepthToSpace that no phase-space operator reads stays as it is
    for node in graph.node:
        y = node.output[0] if node.output else ""
        if y in sources and node.op_type == "DepthToSpace":
            if not any(u.output[0] in ew for u in users.get(y, [])):
                sources.discard(y)
                del phase[y]
    new_nodes, count = [], 0
    low: dict[str, str] = {}  # phase tensor -> its low-resolution name
    for node in graph.node:
        y = node.output[0] if node.output else ""
        if y not in sources and y not in ew:
            new_nodes.append(node)
            continue
        s, c = phase[y]
        b = _Builder(graph, node.name or y, RESIZE_MARK)
        if node.op_type == "DepthToSpace":
            low[y] = node.input[0]
        elif node.op_type == "Resize":
            a = _attrs(node)
            mode = a.get("mode").decode()
            w, before, after = resize_weights(mode, s, c, float(a.get("cubic_coeff_a", -0.75)))
            pads = b.const("pads", np.array([0, 0, before, before, 0, 0, after, after], dtype=np.int64))
            padded = b.op("Pad", [node.input[0], pads], mode="edge")
            k = w.shape[2]
            low[y] = b.op("Conv", [padded, b.const("w", w)], group=c, kernel_shape=[k, k], pads=[0, 0, 0, 0])
            count += 1
        else:
            ins = [low.get(i, i) for i in node.input]
            low[y] = b.op(node.op_type, ins, **_attrs(node))
        if y in outputs or any(u.output[0] not in ew for u in users.get(y, [])):
            _interleave(b, low[y], c, y, s)
        new_nodes.extend(b.nodes)
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_unused(graph)
    return model, count


def input_sides(model: onnx.ModelProto, side: int) -> dict[str, int]:
    """{tensor name: its height} for a 1 x C x side x side input (onnx shape inference)."""
    fixed = onnx.ModelProto.FromString(model.SerializeToString())
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    for d, v in zip(dims, (1, None, side, side)):
        if v is not None:
            d.Clear()
            d.dim_value = v
    inferred = onnx.shape_inference.infer_shapes(fixed)
    sides = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input):
        shape = vi.type.tensor_type.shape.dim
        if len(shape) == 4 and shape[2].HasField("dim_value"):
            sides[vi.name] = shape[2].dim_value
    return sides


def rewrite_upsampling(
    model: onnx.ModelProto, side: int = 256, min_side: int = 0, multiple_of: int = 0
) -> tuple[onnx.ModelProto, int]:
    """(a copy of `model` with its Resize(bilinear x2) -> Conv3x3 pairs rewritten, pairs rewritten): the
    pairs whose input is at least `min_side` px high when the model's input is `side` px. `multiple_of`
    (the sizes the graph takes) lets the border fix-up use fewer operators where the pair's input is at
    least 2 px even for the smallest input."""
    sides = input_sides(model, side) if min_side or multiple_of else {}
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    new_nodes, done, count = [], set(), 0
    for node in graph.node:
        if id(node) in done:
            continue
        users = consumers.get(node.output[0], []) if node.op_type == "Resize" else []
        if (
            _is_bilinear_x2(node, inits)
            and MARK not in node.name
            and len(users) == 1
            and node.output[0] not in outputs
            and _is_conv3x3_same(users[0], inits)
            and sides.get(node.input[0], 0) >= min_side
        ):
            conv = users[0]
            done.add(id(conv))
            lean = multiple_of > 0 and sides.get(node.input[0], 0) * multiple_of >= 2 * side
            new_nodes += _rewrite_pair(graph, node, conv, inits, lean)
            count += 1
            continue
        new_nodes.append(node)
    # a rewritten Conv's place is its Resize's, earlier than the Conv: every input it reads exists there
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_unused(graph)
    return model, count


def _drop_unused(graph) -> None:
    used = {name for node in graph.node for name in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def never_quantized(model: onnx.ModelProto) -> list[str]:
    """The nodes the rewrites made that only interpolate or move values, never quantized: the Resize rewrite's
    Convs (fixed interpolation weights: quantized, the interpolation would change; they cost little) and the
    one-hot ConvTransposes that interleave phases."""
    return [
        n.name
        for n in model.graph.node
        if (n.op_type == "Conv" and RESIZE_MARK in n.name)
        or (n.op_type == "ConvTranspose" and MARK in n.name)
    ]


def trained_convs(model: onnx.ModelProto) -> list[str]:
    """The Conv nodes an int8 variant may quantize (the trained ones, not the Resize rewrite's), in graph order."""
    return [n.name for n in model.graph.node if n.op_type == "Conv" and RESIZE_MARK not in n.name]


def optimize(model: onnx.ModelProto, side: int, multiple_of: int = 0) -> tuple[onnx.ModelProto, dict]:
    """All rewrites for a model trained at `side` px taking sizes that are multiples of `multiple_of` (0:
    unknown); (new model, {rewrite: count}).

    The upsampling rewrite is applied where it pays: to the pairs whose input is at least 1/8 of the input
    side (at 256 px the last three of a U-Net's eight). Its border fix-up costs a dozen small operators,
    whose dispatch outweighs the Resize they save at the lowest resolutions (all eight pairs rewritten:
    1.09x the original's time; the last 3: 0.64x, colorize -> 3D Clay at 256 px on 2 threads). Measured again
    with session 22's cheaper form (docs/benchmarks.md): rewriting the 16 px pair too is 1.02-1.05x the
    shipped files' time, all eight 1.11-1.14x (onnxruntime 1.18.1 and 1.22.1), so the fraction stays 8.

    Then the integer-scale Resizes left whose input is at least as large (`rewrite_resizes`, the elementwise
    operators after them in phase space): the upscaler's three (its input is its trained side); U-Nets keep
    their lowest-resolution upsampling as it is."""
    min_side = max(1, side // MIN_SIDE_FRACTION)
    model, n = rewrite_upsampling(model, side, min_side, multiple_of)
    model, r = rewrite_resizes(model, side, min_side)
    onnx.checker.check_model(model)
    return model, {"upsampling convolutions": n, "integer-scale Resizes": r}


def check(original: bytes | str, optimised: bytes | str, inputs: list[np.ndarray]) -> float:
    """max |optimised - original| over `inputs`, as a fraction of the output's scale (largest |value|, at
    least 0.01)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    a, b = (ort.InferenceSession(m, opts, providers=["CPUExecutionProvider"]) for m in (original, optimised))
    worst = 0.0
    for x in inputs:
        want = a.run(None, {a.get_inputs()[0].name: x})[0]
        got = b.run(None, {b.get_inputs()[0].name: x})[0]
        if got.shape != want.shape:
            raise ValueError(f"the optimised model gives shape {got.shape}, the original {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 0.01))
    return worst


def check_inputs(model: onnx.ModelProto, side: int, multiple: int) -> list[np.ndarray]:
    """Random images at the trained size and at a non-square one (the shapes the export's parity uses)."""
    rng = np.random.default_rng(0)
    h2, w2 = max(multiple, side // 2 // multiple * multiple), side + multiple
    return [
        rng.uniform(-1, 1, (1, 3, side, side)).astype(np.float32),
        rng.uniform(-1, 1, (1, 3, h2, w2)).astype(np.float32),
    ]


def main(argv: list[str] | None = None, prog: str = "python -m nftgan.export.optimize") -> int:
    from nftgan.core.contract import ModelError, describe_model

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="the .onnx file to optimise")
    p.add_argument("out", help="where to write the optimised file (may be the same path)")
    args = p.parse_args(argv)
    try:
        info = describe_model(args.model)
    except ModelError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    original = onnx.load(args.model)
    new, counts = optimize(original, info.input_size, max(1, info.multiple_of))
    data = new.SerializeToString()
    err = check(
        original.SerializeToString(), data, check_inputs(new, info.input_size, max(1, info.multiple_of))
    )
    if err > TOLERANCE:
        print(
            f"{prog}: refused: the optimised model differs by {err:.2e} of the output's scale",
            file=sys.stderr,
        )
        return 1
    tmp = f"{args.out}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    what = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"wrote {args.out}: {what} rewritten; max |difference| {err:.1e} of the output's scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())
