"""export/optimize.py: the upsampling rewrite (bilinear x2 + 3x3 convolution -> a low-resolution convolution +
a one-hot ConvTranspose interleaving its phases, borders recomputed) is exact on every size the graph takes,
borders and 1x1 bottlenecks included; the Resize rewrite (integer-scale cubic / linear Resize -> edge Pad +
depthwise phase convolution, the elementwise tail after it on the phases) is onnxruntime's Resize and the x4
upscaler's graph, fp32 and int8; and the command refuses nothing it should keep."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from nftgan.export import onnx_export as ox
from nftgan.export import optimize as opt
from nftgan.training.blocks import build_image_generator
from torch import nn


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_phase_weights_equal_bilinear_then_conv_inside_the_picture():
    """The folded weights: on the interior (away from the one-pixel border) the low-resolution convolution
    + the phases' interleave is bilinear x2 then the 3x3 convolution, to float rounding."""
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(1, 5, 9, 7, generator=g), torch.randn(6, 5, 3, 3, generator=g), torch.randn(6)
    want = nn.functional.conv2d(
        nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), w, b, padding=1
    )
    wk, bk = opt.phase_weights(w.numpy(), b.numpy())
    low = nn.functional.conv2d(x, torch.from_numpy(wk), torch.from_numpy(bk), padding=1)
    n, m = low.shape[2:]  # CRD order: output (c, 2i + py, 2j + px) is channel 4 c + 2 py + px
    got = low.view(1, 6, 2, 2, n, m).permute(0, 1, 4, 2, 5, 3).reshape(1, 6, 2 * n, 2 * m)
    assert got.shape == want.shape
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(got[inner].numpy(), want[inner].numpy(), atol=1e-4)
    assert float((got - want).abs().max()) > 1e-2  # and the border really needs its fix-up


@pytest.fixture(scope="module")
def unet():
    """A U-Net with resize upsampling (the default styles' layer), random weights and biases."""
    torch.manual_seed(0)
    net = build_image_generator("unet", 32, 4, "instance", False, upsample="resize").eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0, 0.5)
    info = {"kind": "colorize", "size": 32, "scale": 1, "multiple_of": 32}
    return net, ox.to_onnx(net, info)


@pytest.mark.parametrize("min_side, multiple_of", [(0, 0), (0, 32), (4, 32)])
def test_rewrite_is_exact_at_every_size_and_border(unet, min_side, multiple_of):
    """Every pair, or those from 4 px up; with `multiple_of` the fix-up's lean form (a Gather of the rows,
    Slices of the columns, stride-7 Conv, ScatterElements) where the pair's input is >= 2 px at the smallest
    size, the general one at 1 px."""
    net, model = unet
    new, n = opt.rewrite_upsampling(model, 32, min_side, multiple_of)
    assert ("Gather" in _ops(new)) == (multiple_of > 0)
    assert ("Slice" in _ops(new)) and _ops(new).count("ScatterElements") == (
        2 * (n - 1) if multiple_of and not min_side else 2 * n if multiple_of else 0
    )
    onnx.checker.check_model(new, full_check=True)
    total = _ops(model).count("Resize")
    assert n == (total if min_side == 0 else 3)  # at 32 px the pairs from 4 px up: 4 -> 8, 8 -> 16, 16 -> 32
    assert _ops(new).count("ConvTranspose") == n and "DepthToSpace" not in _ops(new)
    g = torch.Generator().manual_seed(1)
    # the trained size (bottleneck 1x1), batch 2, non-square and larger sizes, and flat colour, where
    # instance norm of nearly constant features magnifies any error
    xs = [torch.rand(2, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 96, generator=g)]
    xs += [torch.rand(1, 3, 64, 32, generator=g), torch.full((1, 3, 32, 32), 0.3)]
    for x in xs:
        x = (x * 2 - 1).numpy()
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        got, before = _run(new, x), _run(model, x)
        assert got.shape == want.shape
        assert np.abs(got - before).max() <= 1e-5 * max(1.0, np.abs(before).max())
        assert np.abs(got - want).max() <= 1e-4


@pytest.mark.parametrize("s", [2, 4])
def test_the_interleave_is_depth_to_space_bit_for_bit(s):
    """The one-hot depthwise ConvTranspose gives DepthToSpace's (CRD) values exactly, in onnxruntime, on
    values of every magnitude (each output is one input times 1 plus zeros): blocksize 2 (the upsampling
    convolutions) and 4 (the x4 upscaler's tail)."""
    from onnx import TensorProto, helper, numpy_helper

    c, h, w = 5, 3, 4
    x = np.random.default_rng(0).standard_normal((1, s * s * c, h, w)).astype(np.float32)
    x *= np.float32(10.0) ** np.random.default_rng(1).integers(-30, 30, x.shape).astype(np.float32)
    weights = opt.interleave_weights(c, s)
    graph = helper.make_graph(
        [
            helper.make_node(
                "ConvTranspose", ["x", "w"], ["a"], group=c, kernel_shape=[s, s], strides=[s, s]
            ),
            helper.make_node("DepthToSpace", ["x"], ["b"], blocksize=s, mode="CRD"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "ab"],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a, b = sess.run(None, {"x": x})
    assert a.shape == (1, c, s * h, s * w) and np.array_equal(a, b)
    assert np.array_equal(weights.sum(axis=(1, 2, 3)), np.ones(s * s * c))


def test_only_matching_pairs_are_rewritten(unet):
    """A Resize with another mode or scale, or a convolution of another shape, stays as it is."""
    _, model = unet
    changed = onnx.ModelProto.FromString(model.SerializeToString())
    for node in changed.graph.node:
        if node.op_type == "Resize":
            for a in node.attribute:
                if a.name == "mode":
                    a.s = b"nearest"
    new, n = opt.rewrite_upsampling(changed)
    assert n == 0 and _ops(new) == _ops(changed)


def test_command_rewrites_a_file_once_keeps_its_metadata_and_refuses_a_bad_rewrite(
    unet, colorize_model, tmp_path, monkeypatch, capsys
):
    """`python -m nftgan.export.optimize IN OUT` on a model file (the contract's metadata from the test
    colorize model, which is the same size of U-Net): rewritten, checked, metadata kept; a second pass
    changes nothing; a rewrite whose results differ is refused and writes nothing."""
    from nftgan.core.contract import describe_model

    _, model = unet
    props = {p.key: p.value for p in onnx.load(str(colorize_model)).metadata_props}
    src = tmp_path / "in.onnx"
    src.write_bytes(ox._with_metadata(onnx.ModelProto.FromString(model.SerializeToString()), props))
    out, again = tmp_path / "opt.onnx", tmp_path / "again.onnx"
    assert opt.main([str(src), str(out)]) == 0
    assert "3 upsampling convolutions, 0 integer-scale Resizes rewritten" in capsys.readouterr().out
    assert describe_model(str(out)).name == describe_model(str(src)).name
    assert opt.main([str(out), str(again)]) == 0
    assert "0 upsampling convolutions, 0 integer-scale Resizes rewritten" in capsys.readouterr().out
    assert _ops(onnx.load(str(again))) == _ops(onnx.load(str(out)))
    monkeypatch.setattr(opt, "_PHASE", opt._PHASE[:, ::-1].copy())
    bad = tmp_path / "bad.onnx"
    assert opt.main([str(src), str(bad)]) == 1
    assert not bad.exists() and "refused" in capsys.readouterr().err


def test_export_applies_the_rewrite(colorize_model):
    """`nftgan export` writes the rewritten graph (the test colorize model is a resize U-Net)."""
    ops = _ops(onnx.load(str(colorize_model)))
    assert ops.count("ConvTranspose") == 3 and "DepthToSpace" not in ops


def test_requantize_with_hints_keeps_sensitive_convs_in_fp32(colorize_model, tiny_data, tmp_path, capsys):
    """`python -m nftgan.export.requantize` on an existing model: calibration sketches carry painted hints, the
    held-out set scores each sketch plain and hinted, and --sensitive-below names the Convs that stay fp32
    (a threshold above any PSNR keeps them all: no Conv is quantized in that candidate)."""
    from nftgan.export import requantize as rq

    side = 32
    calib = rq.hinted(str(tiny_data["paired"]), 4, side, 0, plain=False)
    held = rq.hinted(str(tiny_data["paired"]), 2, side, 1, plain=True)
    assert len(calib) == 4 and len(held) == 4 and calib[0].shape == (3, side, side)
    assert not np.array_equal(held[0], held[1])  # plain, then hinted
    fp32 = colorize_model.read_bytes()
    convs = [n.name for n in onnx.load_from_string(fp32).graph.node if n.op_type == "Conv"]
    assert set(rq.sensitive_convs(fp32, calib, held, 1e9)) == set(convs)
    assert rq.sensitive_convs(fp32, calib, held, -1e9) == {}
    model = tmp_path / "colorize.onnx"
    model.write_bytes(fp32)
    code = rq.main(
        [str(model), "--calib", str(tiny_data["paired"]), "--held", str(tiny_data["paired"]), "--hints"]
    )
    out = capsys.readouterr().out
    assert "dB" in out and ("kept" in out or "refused" in out)
    assert (tmp_path / "colorize.int8.onnx").exists() == (code == 0)


def test_int8_search_keeps_the_sensitive_convs_in_fp32_in_one_candidate(colorize_model, tiny_data):
    """`requantize.search` (what `nftgan export --int8` runs): each Conv quantized alone and scored; a threshold
    between the convs' scores adds the candidate without those below it (real quantization, real onnxruntime);
    one above them all adds none (a variant that quantizes nothing is no int8 variant)."""
    from nftgan.export import requantize as rq

    images = rq.domain(str(tiny_data["paired"] / "A"), 6, 32)
    calib, held = images[:4], images[4:]
    fp32 = colorize_model.read_bytes()
    alone = rq.sensitive_convs(fp32, calib, held, 1e9)  # every Conv, with its PSNR alone
    assert len(alone) == _ops(onnx.load_from_string(fp32)).count("Conv")
    below = float(np.median(sorted(alone.values())))
    want = {n for n, db in alone.items() if db < below}
    assert 0 < len(want) < len(alone)
    model, report = rq.search(fp32, calib, held, below)
    assert set(report["sensitive"]) == want and report["sensitive_below"] == below
    label = f"Conv except {len(want)} sensitive"
    assert label in {c["quantized"] for c in report["candidates"]}
    assert "a candidate keeps them fp32" in ox.int8_summary(report)
    assert (model is not None) == report["kept"] and report["reason"].startswith(("kept", "refused"))
    _, report = rq.search(fp32, calib, held, 1e9)
    assert len(report["sensitive"]) == len(alone)
    assert {c["quantized"] for c in report["candidates"]} == set(
        ox.int8_candidates(onnx.load_from_string(fp32))
    )
    assert f"{len(alone)} convolution(s) alone drop" in ox.int8_summary(report)


def test_int8_first_and_last_means_the_layers_after_the_rewrite(unet):
    """The int8 candidate that keeps the image-in and image-out convolutions in fp32 keeps the whole last
    layer (its low-resolution convolution and the two that recompute its borders) in a rewritten graph."""
    _, model = unet
    new, _ = opt.rewrite_upsampling(model, 32, 4)
    convs = [n.name for n in new.graph.node if n.op_type == "Conv"]
    kept = ox.int8_candidates(new)["Conv except the first and last"]["nodes_to_exclude"]
    last = convs[-1].split(opt.MARK)[0]
    assert kept[0] == convs[0] and len(kept) == 4
    assert all(k.startswith(last + opt.MARK) for k in kept[1:])
    both = ox.int8_options(ox.int8_candidates(new)["Conv+ConvTranspose"], new)
    assert both["nodes_to_exclude"] == [
        n.name for n in new.graph.node if n.op_type == "ConvTranspose"
    ]  # the interleaves only move values
    assert ox.int8_options(ox.int8_candidates(model)["Conv"], model) == {"op_types_to_quantize": ["Conv"]}
    original = [n.name for n in model.graph.node if n.op_type == "Conv"]
    assert ox.int8_candidates(model)["Conv except the first and last"]["nodes_to_exclude"] == [
        original[0],
        original[-1],
    ]


# ---------------------------------------------------------------- the Resize rewrite (x4 upscaler)


def _resize_model(mode: str, scale: int, a: float, channels: int = 2) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node(
        "Resize", ["x", "", "scales"], ["y"], name="up", mode=mode, cubic_coeff_a=a,
        coordinate_transformation_mode="half_pixel",
    )  # fmt: skip
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, "H2", "W2"])],
        [numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


# every size from 1 px, odd ones, sizes where the 5-tap window reaches both borders at once
RESIZE_SIZES = [(1, 1), (1, 3), (2, 2), (3, 1), (3, 5), (4, 4), (7, 9), (16, 13)]


@pytest.mark.parametrize(
    "mode, a", [("cubic", -0.75), ("cubic", -0.5), ("linear", -0.75)], ids=["cubic", "cubic-a0.5", "linear"]
)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_resize_rewrite_is_onnxruntimes_resize(mode, a, scale):
    """Resize (integer scale, half_pixel, clamped at the edge) = edge padding + a depthwise convolution giving
    the s x s phases + their interleave, checked against onnxruntime's own Resize (not only the formula):
    interior and borders, odd sizes, 1-3 px inputs, batch 2, values of either sign."""
    model = _resize_model(mode, scale, a)
    new, n = opt.rewrite_resizes(model)
    assert n == 1 and "Resize" not in _ops(new)
    assert _ops(new) == ["Pad", "Conv", "ConvTranspose"]
    onnx.checker.check_model(new, full_check=True)
    k, before, after = opt.resize_taps(mode, scale, a)
    assert np.allclose(k.sum(axis=1), 1)  # each phase's weights sum to 1
    if scale == 4:  # the taps of output 4k + p: cubic k-2 .. k+2, linear k-1 .. k+1
        assert (before, after) == ((2, 2) if mode == "cubic" else (1, 1))
    rng = np.random.default_rng(scale)
    for h, w in RESIZE_SIZES:
        x = rng.uniform(-1, 1, (2, 2, h, w)).astype(np.float32)
        want, got = _run(model, x), _run(new, x)
        assert got.shape == want.shape == (2, 2, scale * h, scale * w)
        # odd scales: onnxruntime computes the sampling positions in float (1/3 is not exact)
        assert np.abs(got - want).max() <= (5e-7 if scale % 2 == 0 else 3e-6)


def test_resizes_it_cannot_reproduce_stay():
    """Other modes, transforms, fractional scales or scale 1 are left as they are."""
    for mode, change in [("nearest", {}), ("linear", {"coordinate_transformation_mode": b"align_corners"})]:
        model = _resize_model(mode, 4, -0.75)
        for attr in model.graph.node[0].attribute:
            if attr.name in change:
                attr.s = change[attr.name]
        assert opt.rewrite_resizes(model)[1] == 0
    for scale in (1, 2.5):
        assert opt.rewrite_resizes(_resize_model("cubic", scale, -0.75))[1] == 0


@pytest.fixture(scope="module")
def upscaler():
    """The x4 upscaler (bicubic + sub-pixel residual, clamped to the local range) with random weights and a
    non-zero residual, exported as `nftgan export` exports it but without the rewrite."""
    from nftgan.training.upscale import UpscaleNet

    torch.manual_seed(0)
    net = UpscaleNet(4, 8, 1).eval()
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.05)
        net.tail.bias.normal_(0, 0.05)
    info = {"kind": "upscale", "size": 32, "scale": 4, "multiple_of": 1}
    return net, ox.to_onnx(net, info)


UPSCALE_SIZES = [(1, 1), (1, 2), (2, 3), (3, 3), (5, 7), (17, 31), (32, 32)]


@pytest.mark.parametrize("fuse", [True, False], ids=["phase-space tail", "each Resize alone"])
def test_the_upscaler_runs_its_tail_in_phase_space_exactly(upscaler, fuse):
    """Bicubic + DepthToSpace(residual), Max / Min with the bilinear-enlarged local range: three Resizes
    become depthwise phase convolutions and, fused, everything after them runs at the input's resolution,
    interleaved once at the end; outputs equal the original graph's (and PyTorch's) at every size, 1 px
    inputs and odd sizes included."""
    net, model = upscaler
    new, n = opt.rewrite_resizes(model, fuse=fuse)
    onnx.checker.check_model(new, full_check=True)
    assert n == 3 and "Resize" not in _ops(new)
    if fuse:
        assert _ops(new).count("ConvTranspose") == 1 and "DepthToSpace" not in _ops(new)
        assert _ops(new)[-1] == "ConvTranspose" and new.graph.node[-1].output[0] == "output"
    else:
        assert _ops(new).count("ConvTranspose") == 3 and _ops(new).count("DepthToSpace") == 1
    rng = np.random.default_rng(1)
    for h, w in UPSCALE_SIZES:
        x = rng.uniform(-1, 1, (2 if h == 3 else 1, 3, h, w)).astype(np.float32)
        want, got = _run(model, x), _run(new, x)
        assert got.shape == want.shape == (x.shape[0], 3, 4 * h, 4 * w)
        assert np.abs(got - want).max() <= 1e-6
        with torch.no_grad():
            assert np.abs(got - net(torch.from_numpy(x)).numpy()).max() <= 1e-5
    again, n2 = opt.rewrite_resizes(new)  # a second pass finds nothing to do
    assert n2 == 0 and _ops(again) == _ops(new)


@pytest.mark.parametrize("scale", [2, 3])
def test_upscalers_of_the_other_scales_rewrite_exactly(scale):
    """`nftgan train upscale --scale 2 / 3` exports: the same rewrite, one interleave, the same outputs (x3:
    within onnxruntime's float rounding of its sampling positions)."""
    from nftgan.training.upscale import UpscaleNet

    torch.manual_seed(scale)
    net = UpscaleNet(scale, 8, 1).eval()
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.05)
    model = ox.to_onnx(net, {"kind": "upscale", "size": 8 * scale, "scale": scale, "multiple_of": 1})
    new, n = opt.rewrite_resizes(model)
    assert n == 3 and _ops(new).count("ConvTranspose") == 1 and "Resize" not in _ops(new)
    rng = np.random.default_rng(scale)
    for h, w in [(1, 1), (2, 3), (5, 7), (16, 16)]:
        x = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
        want, got = _run(model, x), _run(new, x)
        assert got.shape == want.shape == (1, 3, scale * h, scale * w)
        assert np.abs(got - want).max() <= 1e-5


def test_the_upscalers_int8_variant_rewrites_exactly_and_keeps_its_quantized_convs(upscaler):
    """An int8 file (QDQ convolutions) rewritten as its fp32 file is: the same values, every QDQ node kept;
    and int8 variants of a rewritten file never quantize the Resize rewrite's interpolation convolutions."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    _, model = upscaler
    rng = np.random.default_rng(2)
    calib = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(3)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter({"input": x} for x in calib)

        def get_next(self):
            return next(self.items, None)

    def quantize(fp32: onnx.ModelProto, options: dict) -> onnx.ModelProto:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
            onnx.save(fp32, str(src))
            quantize_static(
                str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, **options,
            )  # fmt: skip
            return onnx.load(str(dst))

    int8 = quantize(model, ox.int8_candidates(model)["Conv except the first and last"])
    new, n = opt.rewrite_resizes(int8)
    assert n == 3
    qdq = lambda m: sorted(x.name for x in m.graph.node if x.op_type.endswith("QuantizeLinear"))
    assert qdq(new) == qdq(int8) and qdq(int8)
    for h, w in UPSCALE_SIZES:
        x = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
        assert np.abs(_run(new, x) - _run(int8, x)).max() <= 1e-6
    rewritten, _ = opt.rewrite_resizes(model)
    fixed = [n.name for n in rewritten.graph.node if n.op_type == "Conv" and opt.RESIZE_MARK in n.name]
    assert len(fixed) == 3 and set(fixed) <= set(opt.never_quantized(rewritten))
    assert not set(fixed) & set(opt.trained_convs(rewritten))
    candidates = ox.int8_candidates(rewritten)
    for options in candidates.values():
        assert set(fixed) <= set(ox.int8_options(options, rewritten)["nodes_to_exclude"])
    original = ox.int8_candidates(model)["Conv except the first and last"]["nodes_to_exclude"]
    assert candidates["Conv except the first and last"]["nodes_to_exclude"] == original
    q = quantize(rewritten, ox.int8_options(candidates["Conv"], rewritten))
    weights = {x.input[1] for x in q.graph.node if x.name in fixed}
    assert weights and not any(
        x.output[0] in weights for x in q.graph.node if x.op_type == "DequantizeLinear"
    )
