"""`nftgan export` on checkpoints trained by the real trainer: every generator architecture, parity at two sizes,
eval mode, metadata round trip, the model card, refusals, and the int8 keep/refuse rule."""

import json

import numpy as np
import onnx
import pytest
import torch
from nftgan.core.contract import describe_model
from nftgan.export import cli
from nftgan.export import onnx_export as ox
from nftgan.export.validate import validate
from nftgan.training.checkpoint import build_generator, load_checkpoint

from tests.conftest import train_tiny


@pytest.fixture(scope="module")
def arch_runs(tiny_data, tmp_path_factory):
    """Two-step runs of the architectures the shared fixtures don't cover: a batch-norm U-Net with dropout
    (the pix2pix paper's setting, where eval mode matters) and a ResNet-9."""
    root = tmp_path_factory.mktemp("arch")
    common = {"ngf": 4, "ndf": 4, "steps": 2, "batch_size": 2, "log_every": 1}
    return {
        "unet-batchnorm": train_tiny(
            "pix2pix", tiny_data["paired"], root / "unet", net_g="unet", norm="batch", dropout=True, **common
        ),
        "resnet9": train_tiny("pix2pix", tiny_data["paired"], root / "r9", net_g="resnet_9blocks", **common),
    }


def _ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.slow
@pytest.mark.parametrize("which, multiple", [("unet-batchnorm", 32), ("resnet9", 4)])
def test_every_architecture_exports_with_dynamic_sizes(arch_runs, tmp_path, which, multiple):
    out = tmp_path / f"{which}.onnx"
    report = ox.export_checkpoint(arch_runs[which], out)
    assert report["parity_rel"] <= ox.PARITY_RTOL and report["real_images"]
    shapes = {tuple(p["shape"][2:]) for p in report["parity"]}
    assert len(shapes) == 2, shapes  # two sizes, one non-square
    info = validate(str(out))
    assert (info.kind, info.multiple_of, info.size) == ("colorize", multiple, 32)
    # a third size and batch the parity check did not use: still exact, so H, W and N really are dynamic
    net, _ = build_generator(load_checkpoint(arch_runs[which]))
    x = torch.rand(3, 3, 2 * multiple if multiple > 4 else 44, 96) * 2 - 1
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(_ort(out, x.numpy()), want, atol=ox.PARITY_RTOL)
    graph = onnx.load(str(out)).graph
    assert [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim] == ["N", "", "H", "W"]


@pytest.mark.slow
def test_export_runs_the_generator_in_eval_mode(arch_runs, tmp_path):
    """Batch-norm running statistics and no dropout: the file matches eval(), not train() (the reference
    implementation's test script runs in train mode and users get different results after export)."""
    out = tmp_path / "bn.onnx"
    ox.export_checkpoint(arch_runs["unet-batchnorm"], out)
    net, _ = build_generator(load_checkpoint(arch_runs["unet-batchnorm"]))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    got = _ort(out, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(got, net.eval()(x).numpy(), atol=ox.PARITY_RTOL)
        torch.manual_seed(0)
        assert np.abs(got - net.train()(x).numpy()).max() > 1e-2


@pytest.mark.parametrize(
    "fixture, model, kind, multiple, scale, latent",
    [
        ("colorize_model", "pix2pix", "colorize", 32, 1, 0),
        ("stylize_model", "cyclegan", "stylize", 4, 1, 0),
        ("upscale_model", "upscale", "upscale", 1, 4, 0),
        ("generate_model", "dcgan", "generate", 32, 1, 16),
    ],
)
def test_shared_fixture_models_round_trip_metadata(
    request, tiny_runs, fixture, model, kind, multiple, scale, latent
):
    """Every kind the trainer knows, exported by the shared fixtures: contract fields and provenance survive."""
    ckpt = load_checkpoint(tiny_runs[model])
    info = validate(
        str(request.getfixturevalue(fixture))
    )  # includes one real run with the promised output size
    assert (info.kind, info.size, info.multiple_of, info.scale, info.latent, info.license) == (
        kind,
        32,
        multiple,
        scale,
        latent,
        "CC0-1.0",
    )
    assert info.name == ckpt["config"]["name"]
    assert info.training == json.loads(json.dumps(ckpt["provenance"]))  # provenance copied as-is
    assert info.training["steps"] == ckpt["step"] and info.training["images"] >= 11


def test_generate_export_parity_on_latents(tiny_runs, tmp_path):
    report = ox.export_checkpoint(tiny_runs["dcgan"], tmp_path / "g.onnx", int8=True)  # calibrated on latents
    assert report["int8"]["reason"].startswith(("kept", "refused"))
    assert [p["shape"] for p in report["parity"]] == [[2, 16], [5, 16]]
    assert report["parity_rel"] <= ox.PARITY_RTOL and "latent 16 -> 32x32 RGB" in report["card"]
    net, _ = build_generator(load_checkpoint(tiny_runs["dcgan"]))
    z = torch.randn(7, 16)
    with torch.no_grad():
        np.testing.assert_allclose(_ort(tmp_path / "g.onnx", z.numpy()), net(z).numpy(), atol=ox.PARITY_RTOL)


@pytest.mark.slow
def test_cyclegan_both_directions_and_cli_card(tiny_runs, tmp_path, capsys):
    out, card = tmp_path / "b2a.onnx", tmp_path / "card.md"
    assert (
        cli.main(
            [
                "export",
                str(tiny_runs["cyclegan"]),
                "-o",
                str(out),
                "--direction",
                "BtoA",
                "--name",
                "Ink",
                "--description",
                "sepia to sketch",
                "--license",
                "CC-BY-4.0",
                "--card",
                str(card),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    info = describe_model(out)
    assert (info.name, info.description, info.license, info.kind) == (
        "Ink",
        "sepia to sketch",
        "CC-BY-4.0",
        "stylize",
    )
    text = card.read_text()
    assert text in printed
    for needle in (
        "# Ink",
        "stylize (cyclegan, BtoA)",
        "multiples of 4",
        "parameters",
        "GMACs",
        "CC-BY-4.0",
        "unpaired (12 images)",
        "12 steps",
        "max abs(ONNX - PyTorch)",
        "random and real images",
    ):
        assert needle in text, needle
    # BtoA is G_B, a different network from the default AtoB export
    net_b, _ = build_generator(load_checkpoint(tiny_runs["cyclegan"]), "BtoA")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        np.testing.assert_allclose(_ort(out, x.numpy()), net_b(x).numpy(), atol=ox.PARITY_RTOL)


@pytest.mark.slow
def test_parity_failure_writes_nothing_and_keeps_the_old_file(tiny_runs, tmp_path, monkeypatch):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the user's previous export")
    monkeypatch.setattr(ox, "PARITY_RTOL", 0.0)  # every real export differs by ~1e-7: the check must refuse
    with pytest.raises(
        ox.ExportError,
        match=r"refused: ONNX and PyTorch outputs differ by .* of the output's scale .* nothing was written",
    ):
        ox.export_checkpoint(tiny_runs["pix2pix"], out)
    assert out.read_bytes() == b"the user's previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temp file left behind


def test_bad_checkpoints_and_options_are_refused(tiny_runs, tmp_path, capsys):
    good = load_checkpoint(tiny_runs["pix2pix"])
    latest = tiny_runs["pix2pix"] / "checkpoints" / "latest.pt"
    cut = tmp_path / "cut.pt"
    cut.write_bytes(latest.read_bytes()[:5000])
    cases = [
        ([str(cut)], "is not a readable NFTGan checkpoint"),
        ([str(tmp_path / "missing.pt")], "checkpoint not found"),
        ([str(tmp_path)], "holds no checkpoint"),
        ([str(tiny_runs["pix2pix"]), "--direction", "BtoA"], "--direction is for cyclegan checkpoints"),
    ]
    for args, message in cases:
        assert cli.main(["export", *args, "-o", str(tmp_path / "x.onnx")]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
    assert good["step"] == 24


def test_an_int8_variant_that_quantizes_nothing_is_never_kept(generate_model):
    """A DCGAN generator has no Conv, only ConvTranspose: the Conv-only candidates quantize nothing and come out
    as the fp32 graph itself, whose "speed-up" is timing noise. Such a copy is never kept as an int8 file."""
    fp32 = generate_model.read_bytes()
    latent = int(describe_model(generate_model).latent)
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal(latent).astype(np.float32) for _ in range(4)]
    held = [rng.standard_normal(latent).astype(np.float32) for _ in range(2)]
    conv_only = {"Conv": {"op_types_to_quantize": ["Conv"]}}
    model, report = ox.quantize_int8(fp32, calib, held, variants=conv_only, min_speedup=0.0, timed=False)
    assert model is None and not report["kept"] and "quantizes nothing" in report["reason"], report["reason"]
    model, report = ox.quantize_int8(fp32, calib, held, min_speedup=0.0, min_psnr=0.0)
    assert report["kept"] and report["quantized"] == "Conv+ConvTranspose"
    assert "QuantizeLinear" in {n.op_type for n in onnx.load_from_string(model).graph.node}


def test_int8_keep_and_refuse_rule(colorize_model, tiny_data):
    """The rule on a real model and real calibration images: both outcomes, and a quantized graph that runs."""
    from nftgan.training.data import list_images, load_rgb, to_tensor

    fp32 = colorize_model.read_bytes()
    images = [to_tensor(load_rgb(p)).numpy() for p in list_images(str(tiny_data["paired"] / "A"))]
    calib, held = images[:8], images[8:]
    model, report = ox.quantize_int8(fp32, calib, held, min_psnr=200.0)
    assert model is None and not report["kept"] and report["reason"].startswith("refused: PSNR")
    model, report = ox.quantize_int8(fp32, calib, held, min_psnr=0.0, min_speedup=0.0)
    assert report["kept"] and report["reason"].startswith("kept:")
    ops = {n.op_type for n in onnx.load_from_string(model).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    labels = {"Conv", "Conv except the first and last", "Conv+ConvTranspose"}
    assert {c["quantized"] for c in report["candidates"]} == labels
    y = ox._session(model).run(None, {"input": held[0][None]})[0]
    assert (
        y.shape == (1, 3, 32, 32)
        and ox.psnr(y, ox._session(fp32).run(None, {"input": held[0][None]})[0]) > 20
    )


@pytest.mark.slow
def test_export_int8_writes_the_variant_only_when_the_rule_holds(tiny_runs, tiny_data, tmp_path, monkeypatch):
    """The export runs requantize's per-convolution search on the file it wrote (a threshold above every
    score names every Conv of it), then the rule: the variant is written only when it holds."""
    from nftgan.export import requantize as rq

    monkeypatch.setattr(rq, "SENSITIVE_BELOW", 1e9)
    out = tmp_path / "c.onnx"
    stale = ox.int8_path(out)
    stale.write_bytes(b"stale variant from an older export")
    report = ox.export_checkpoint(
        tiny_runs["pix2pix"], out, int8=True, calib_dir=str(tiny_data["paired"] / "A")
    )
    assert (
        report["real_images"] and len(report["parity"]) == 4
    )  # --calib-dir images also feed the parity check
    q = report["int8"]
    convs = {n.name for n in onnx.load(str(out)).graph.node if n.op_type == "Conv"}
    assert set(q["sensitive"]) == convs and q["sensitive_below"] == 1e9
    rule = q["speedup"] > 1.0 and q["psnr_db"] >= ox.INT8_MIN_PSNR
    assert q["kept"] == rule and stale.exists() == rule
    if rule:
        info = validate(str(stale))
        assert info.name.endswith("(int8)") and info.kind == "colorize"
    assert "int8" in report["card"] and q["reason"] in report["card"]


def test_calib_dir_without_images_is_refused_before_exporting(tiny_runs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ox.ExportError, match="holds no images"):
        ox.export_checkpoint(tiny_runs["pix2pix"], tmp_path / "c.onnx", calib_dir=str(empty))
    assert not (tmp_path / "c.onnx").exists()


@pytest.mark.slow
def test_checkpoint_without_its_data_exports_with_random_parity_only(tiny_runs, tmp_path):
    """A checkpoint someone sent you, without their dataset: exported and said so; --int8 asks for images."""
    ckpt = load_checkpoint(tiny_runs["cyclegan"])
    ckpt["config"]["data"] = str(tmp_path / "gone")
    moved = tmp_path / "sent.pt"
    torch.save(ckpt, moved)
    report = ox.export_checkpoint(moved, tmp_path / "s.onnx")
    assert not report["real_images"] and len(report["parity"]) == 2
    assert "random inputs only: no training images found" in report["card"]
    with pytest.raises(ox.ExportError, match=r"--int8 needs images .* pass --calib-dir DIR"):
        ox.export_checkpoint(moved, tmp_path / "q.onnx", int8=True)
    assert not (tmp_path / "q.onnx").exists() and not ox.int8_path(tmp_path / "q.onnx").exists()


def test_exported_files_carry_no_source_paths(colorize_model, stylize_model):
    """The exporter's per-node debug data (stack traces with this machine's file paths) is not shipped."""
    from tests.conftest import ROOT

    for path in (colorize_model, stylize_model):
        model = onnx.load(str(path))
        assert not any(node.metadata_props or node.doc_string for node in model.graph.node)
        assert str(ROOT).encode() not in path.read_bytes()


def test_keep_colours_is_exported_for_a_style_and_refused_for_other_kinds(tiny_runs, tmp_path, capsys):
    """`nftgan export --keep-colours` writes nftgan.keep_colours=1 into a stylize model and says so in its
    card; without the flag the key is absent; a colorize run is refused before anything is written."""
    out, card = tmp_path / "clay.onnx", tmp_path / "clay.md"
    assert (
        cli.main(
            ["export", str(tiny_runs["cyclegan"]), "-o", str(out), "--keep-colours", "--card", str(card)]
        )
        == 0
    )
    assert describe_model(out).keep_colours is True
    assert "| kind | stylize (cyclegan); keeps your colours" in card.read_text()
    assert "keeps your colours" in capsys.readouterr().out  # the card printed
    plain = tmp_path / "plain.onnx"
    assert cli.main(["export", str(tiny_runs["cyclegan"]), "-o", str(plain)]) == 0
    assert describe_model(plain).keep_colours is False
    capsys.readouterr()
    bad = tmp_path / "colour.onnx"
    assert cli.main(["export", str(tiny_runs["pix2pix"]), "-o", str(bad), "--keep-colours"]) == 1
    assert (
        "--keep-colours is for stylize models; this checkpoint is a colorize model" in capsys.readouterr().err
    )
    assert not bad.exists()


@pytest.mark.slow
def test_work_size_defaults_to_the_runs_load_size_and_a_different_one_is_warned(tmp_path, capsys):
    """`nftgan export` without --work-size stamps the size the run's pictures were resized to before the crop
    (--load-size, else --size x 286 / 256), rounded to the nearest size the graph takes without padding;
    a different --work-size is used, with a warning; 0 means none."""
    from tests.training.helpers import paired

    data = paired(tmp_path / "data", n=4, size=48)
    common = {"ngf": 4, "ndf": 4, "steps": 1, "batch_size": 2, "val_fraction": 0.0}
    run = train_tiny("pix2pix", data, tmp_path / "run", load_size=64, **common)  # 32 px crops of 64 px
    cases = [([], 64, False), (["--work-size", "48"], 48, True), (["--work-size", "0"], 0, False)]
    for i, (extra, expected, warned) in enumerate(cases):
        out = tmp_path / f"m{i}.onnx"
        assert cli.main(["export", str(run), "-o", str(out), *extra]) == 0
        err = capsys.readouterr().err
        assert describe_model(out).work_size == expected, extra
        assert (
            "warning: --work-size 48 differs from the size this run learned at (64 px" in err
        ) == warned, err
    # no --load-size: it learned at 32 x 286 / 256 = 35 px, which this U-Net (multiple_of 32) would pad to
    # 64 px, 3.3x the pixels, a white margin around the sketch: the default is 32, the graph's own size
    run = train_tiny("pix2pix", data, tmp_path / "plain", **common)
    plain = load_checkpoint(run)
    assert ox.learned_size(plain, "colorize") == 35 and ox.learned_size(plain, "upscale") == 0
    out = tmp_path / "plain.onnx"
    assert cli.main(["export", str(run), "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert "warning" not in said.err
    assert (
        "work    32 px: the run learned at 35 px, which this graph (sizes that are multiples of 32 px) would "
        in (said.out)
    )
    info = describe_model(out)
    assert info.work_size % info.multiple_of == 0 and info.work_size == 32, (info.work_size, info.multiple_of)
    assert cli.main(["export", str(run), "-o", str(tmp_path / "plain35.onnx"), "--work-size", "35"]) == 0
    assert "warning" not in capsys.readouterr().err  # the size it learned at, asked for: no warning
