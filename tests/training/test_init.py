"""`nftgan train KIND --init FILE`: a new run's generator starts from a run folder, a checkpoint or an
exported .onnx (the shared tiny fixtures, and the shipped Flat Colour), exactly; what does not fit is refused
before anything is written; the start is recorded without paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from nftgan.training.checkpoint import load_checkpoint
from nftgan.training.errors import ConfigError
from nftgan.training.initfrom import load_init
from nftgan.training.kinds import get_kind
from nftgan.training.trainer import Trainer

from ..conftest import RECIPES, SIZE
from .helpers import paired, run_train

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "addon" / "models" / "colorize-flat.onnx"
# docs/training.md's fine-tune of the shipped Flat Colour (its recipe, training/defaults.py)
FLAT = ["--size", "256", "--load-size", "256", "--ngf", "16", "--ndf", "32", "--hints", "--hint-weight", "4"]


def tiny_cfg(model: str, data: Path, out: Path, **changes):
    """The settings of the shared tiny fixture's run of `model` (tests/conftest.py), for a new run."""
    settings = next(s for m, s in RECIPES.values() if m == model)
    kind = get_kind(model)
    return kind.config_class(
        model=model, data=str(data), out=str(out), size=SIZE, workers=0, seed=5, **{**settings, **changes}
    )


def tiny_flags(model: str) -> list[str]:
    settings = next(s for m, s in RECIPES.values() if m == model)
    out = ["--size", str(SIZE), "--workers", "0", "--log-every", "2"]
    for k, v in settings.items():
        if k not in ("steps", "batch_size"):
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def outputs(net, x):
    with torch.no_grad():
        return net.eval()(x)


def ort_run(path: Path, x: torch.Tensor) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def same_weights(net, state: dict) -> None:
    got = net.state_dict()
    assert set(got) == set(state)
    for k, v in state.items():
        assert torch.equal(got[k], v), k


def test_init_from_a_run_folder_gives_its_generator_at_step_0(tiny_runs, tiny_data, tmp_path):
    ck = load_checkpoint(tiny_runs["pix2pix"])
    trainer = Trainer(
        tiny_cfg("pix2pix", tiny_data["paired"], tmp_path / "run"), init=str(tiny_runs["pix2pix"])
    )
    assert trainer.run.step == 0
    same_weights(trainer.run.raw["G"], ck["nets"]["G"])
    # only the generator: the discriminator starts fresh (not the checkpoint's), and so do the optimizers
    assert not torch.equal(
        trainer.run.raw["D"].state_dict()["model.0.weight"], ck["nets"]["D"]["model.0.weight"]
    )
    assert all(not o.state for o in trainer.run.opt.values())
    x = torch.rand(2, 3, SIZE, SIZE * 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    from nftgan.training.checkpoint import build_generator

    source, _ = build_generator(ck)
    assert torch.equal(outputs(trainer.run.raw["G"], x), outputs(source, x))
    assert not (tmp_path / "run").exists()  # the trainer writes nothing before it trains
    assert (
        trainer.cfg.init_from
        == f"pix2pix/checkpoints/latest.pt (step {ck['step']}, sha256 "
        + (trainer.cfg.init_from.rsplit(" ", 1)[1])
    )


def test_init_from_the_exported_onnx_reads_back_every_weight_bit_for_bit(
    tiny_runs, tiny_data, colorize_model, tmp_path
):
    """The fixture's colorize model went through export's upsampling rewrite (Resize + conv -> low-res conv +
    DepthToSpace); its weights come back identical to the checkpoint's, and the outputs match the file's."""
    rewritten = [
        t.name for t in onnx.load(str(colorize_model)).graph.initializer if "nftgan-upsampling" in t.name
    ]
    assert rewritten, "the fixture should exercise export's upsampling rewrite"
    trainer = Trainer(tiny_cfg("pix2pix", tiny_data["paired"], tmp_path / "run"), init=str(colorize_model))
    same_weights(trainer.run.raw["G"], load_checkpoint(tiny_runs["pix2pix"])["nets"]["G"])
    x = torch.rand(1, 3, SIZE, SIZE * 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
    np.testing.assert_allclose(
        outputs(trainer.run.raw["G"], x).numpy(), ort_run(colorize_model, x), atol=1e-5
    )
    assert trainer.cfg.init_from.startswith("colorize.onnx (sha256 ")


def test_init_from_an_upscaler_whose_resizes_were_rewritten(tiny_runs, tiny_data, upscale_model, tmp_path):
    """The fixture's upscaler went through export's Resize rewrite (bicubic and bilinear x4 -> depthwise phase
    convolutions, its tail at the input's resolution): every weight still comes back as the checkpoint's, and
    the rebuilt network gives the file's output."""
    from nftgan.export.optimize import RESIZE_MARK

    model = onnx.load(str(upscale_model))
    assert any(RESIZE_MARK in n.name for n in model.graph.node)
    assert "Resize" not in {n.op_type for n in model.graph.node}
    trainer = Trainer(tiny_cfg("upscale", tiny_data["paired"], tmp_path / "run"), init=str(upscale_model))
    same_weights(trainer.run.raw["G"], load_checkpoint(tiny_runs["upscale"])["nets"]["G"])
    x = torch.rand(1, 3, 7, 10, generator=torch.Generator().manual_seed(3)) * 2 - 1
    np.testing.assert_allclose(outputs(trainer.run.raw["G"], x).numpy(), ort_run(upscale_model, x), atol=1e-5)


def test_cyclegan_takes_both_generators_from_a_run_and_g_a_from_an_onnx(
    tiny_runs, tiny_data, stylize_model, tmp_path
):
    ck = load_checkpoint(tiny_runs["cyclegan"])
    cfg = tiny_cfg("cyclegan", tiny_data["unpaired"], tmp_path / "run")
    run = Trainer(cfg, init=str(tiny_runs["cyclegan"])).run
    same_weights(run.raw["G_A"], ck["nets"]["G_A"])
    same_weights(run.raw["G_B"], ck["nets"]["G_B"])
    trainer = Trainer(cfg, init=str(stylize_model))
    same_weights(trainer.run.raw["G_A"], ck["nets"]["G_A"])
    scratch = Trainer(cfg).run.raw["G_B"].state_dict()  # G_B as a run from scratch with the same seed has it
    same_weights(trainer.run.raw["G_B"], scratch)
    assert any("G_B starts from scratch" in n for n in trainer.init.notes)


def test_a_checkpoint_file_works_like_its_run_folder(tiny_runs, tiny_data, tmp_path):
    ck_file = tiny_runs["upscale"] / "checkpoints" / "latest.pt"
    cfg = tiny_cfg("upscale", tiny_data["paired"], tmp_path / "run")
    init = load_init(str(ck_file), get_kind("upscale"), cfg)
    assert list(init.nets) == ["G"]
    assert init.record.startswith("upscale/checkpoints/latest.pt (step ")
    assert str(tmp_path) not in init.record and str(ROOT) not in init.record


@pytest.mark.parametrize(
    "source, flags, says",
    [
        ("onnx", ["--ngf", "16"], ["ngf 8 (this run: 16)", "pass --ngf 8"]),
        ("onnx", ["--norm", "none"], ["norm instance (this run: none)", "pass --norm instance"]),
        ("onnx", ["--upsample", "transposed"], ["upsample resize (this run: transposed)"]),
        ("onnx", ["--size", "64"], ["size 32 (this run: 64)", "pass --size 32"]),
        ("onnx", ["--stage", "stylize"], ["is a colorize model", "pass --stage colorize"]),
        ("onnx", ["--norm", "batch"], ["batch norm", "run folder or checkpoint"]),
        (
            "run",
            ["--net-g", "resnet_6blocks"],
            ["net-g unet (this run: resnet_6blocks)", "pass --net-g unet"],
        ),
        ("run", ["--norm", "none"], ["norm instance (this run: none)"]),
        ("cyclegan run", [], ["is a cyclegan run", "nftgan train cyclegan --init"]),
    ],
)
def test_what_does_not_fit_is_refused_before_anything_is_written(
    tiny_runs, tiny_data, colorize_model, tmp_path, capsys, source, flags, says
):
    init = {"onnx": colorize_model, "run": tiny_runs["pix2pix"], "cyclegan run": tiny_runs["cyclegan"]}[
        source
    ]
    out = tmp_path / "run"
    argv = ["pix2pix", *tiny_flags("pix2pix"), *flags, "--data", str(tiny_data["paired"]), "--out", str(out)]
    rc, text = run_train([*argv, "--init", str(init)], capsys)
    assert rc == 2, text
    for s in says:
        assert s in text, text
    assert not out.exists()


def test_int8_batch_norm_and_foreign_files_are_refused_with_what_to_use(tiny_data, generate_model, tmp_path):
    kind = get_kind("pix2pix")
    cfg = kind.config_class(
        model="pix2pix", data=str(tiny_data["paired"]), out=str(tmp_path), size=256, ngf=16
    )
    with pytest.raises(ConfigError, match=r"int8 model .* start from the fp32 model, colorize-flat\.onnx"):
        load_init(str(SHIPPED.with_name("colorize-flat.int8.onnx")), kind, cfg)
    with pytest.raises(ConfigError, match="an upscale model; this pix2pix run trains a colorize model"):
        load_init(str(SHIPPED.with_name("upscale-x4.onnx")), kind, cfg)
    dcgan = get_kind("dcgan")
    gcfg = dcgan.config_class(model="dcgan", data="d", out=str(tmp_path), size=SIZE, latent=16, ngf=8)
    with pytest.raises(
        ConfigError, match=r"batch norm, which `nftgan export` folds .* run folder or checkpoint"
    ):
        load_init(str(generate_model), dcgan, gcfg)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not an NFTGan model"):
        load_init(str(junk), kind, cfg)
    with pytest.raises(ConfigError, match="checkpoint not found"):
        load_init(str(tmp_path / "nothing"), kind, cfg)


def test_the_shipped_flat_colour_is_read_exactly_and_a_wrong_width_named(tmp_path):
    kind = get_kind("pix2pix")
    base = dict(model="pix2pix", data="d", out=str(tmp_path), size=256, load_size=256, upsample="resize")
    init = load_init(str(SHIPPED), kind, kind.config_class(**base, ngf=16, hints=True))
    files = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(SHIPPED)).graph.initializer}
    assert all(
        np.array_equal(v.numpy(), files[k]) for k, v in init.nets["G"].items()
    )  # every one is in the file
    with pytest.raises(ConfigError, match=r"ngf 16 \(this run: 64\)"):
        load_init(str(SHIPPED), kind, kind.config_class(**base))


def test_resume_and_init_together_are_refused(tiny_runs, colorize_model, capsys, tmp_path):
    rc, text = run_train(["--resume", str(tiny_runs["pix2pix"]), "--init", str(colorize_model)], capsys)
    assert rc == 2 and "--init starts a new run" in text and "--resume continues a run" in text
    with pytest.raises(ConfigError, match="--init starts a new run"):
        Trainer(
            tiny_cfg("pix2pix", "d", tmp_path), resume=str(tiny_runs["pix2pix"]), init=str(colorize_model)
        )


@pytest.mark.slow
def test_a_fine_tuned_run_records_its_start_through_resume_and_export(
    colorize_model, tiny_data, tmp_path, capsys
):
    """A real run from the exported tiny colorize: config.json, train.log, checkpoints (also after --resume) and
    the exported model's provenance and card name the file and its sha256, never a path; --config of it
    without --init starts from scratch and says so."""
    from nftgan.export.onnx_export import export_checkpoint

    run = tmp_path / "run"
    argv = ["pix2pix", *tiny_flags("pix2pix"), "--data", str(tiny_data["paired"]), "--out", str(run)]
    rc, text = run_train([*argv, "--steps", "2", "--init", str(colorize_model)], capsys)
    assert rc == 0, text
    record = json.loads((run / "config.json").read_text())["init_from"]
    assert record.startswith("colorize.onnx (sha256 ") and len(record.split()[-1].rstrip(")")) == 12
    assert f"G starts from {record}" in (run / "train.log").read_text()
    rc, text = run_train(["--resume", str(run), "--steps", "4"], capsys)
    assert rc == 0, text
    ck = load_checkpoint(run)
    assert ck["step"] == 4 and ck["config"]["init_from"] == record == ck["provenance"]["init_from"]
    report = export_checkpoint(run, tmp_path / "tuned.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "tuned.onnx")).metadata_props}
    assert json.loads(props["nftgan.training"])["init_from"] == record
    assert f"| fine-tuned from | {record} |" in report["card"]
    for where in (str(tmp_path), str(Path.home()), str(colorize_model.parent)):
        assert where not in props["nftgan.training"] and where not in record
    again = tmp_path / "again"
    rc, text = run_train(
        ["pix2pix", "--config", str(run / "config.json"), "--out", str(again), "--steps", "1"], capsys
    )
    assert rc == 0 and "was a run fine-tuned from colorize.onnx" in text
    assert json.loads((again / "config.json").read_text())["init_from"] == ""


def test_the_documented_fine_tune_of_the_shipped_flat_colour_trains(tmp_path, capsys):
    """docs/training.md's command, on four generated 256 px pairs, two steps."""
    data = paired(tmp_path / "data", n=4, size=256)
    out = tmp_path / "run"
    argv = ["pix2pix", "--init", str(SHIPPED), *FLAT, "--data", str(data), "--out", str(out)]
    rc, text = run_train([*argv, "--steps", "2", "--workers", "0", "--val-fraction", "0"], capsys)
    assert rc == 0, text
    assert json.loads((out / "config.json").read_text())["init_from"].startswith(
        "colorize-flat.onnx (sha256 "
    )


def _export_as(tmp_path: Path, run: Path, name: str, forward, monkeypatch) -> Path:
    """The upscale run exported with UpscaleNet's forward replaced by `forward` (an earlier or another
    exporter's network: the same weights)."""
    from nftgan.export.onnx_export import export_checkpoint
    from nftgan.training.upscale import UpscaleNet

    with monkeypatch.context() as m:
        m.setattr(UpscaleNet, "forward", forward)
        export_checkpoint(run, tmp_path / name)
    return tmp_path / name


@pytest.mark.slow  # two exports with parity checks and a run: ~25 s on the shared 2 cores
def test_an_upscaler_exported_before_the_local_range_clamp_is_read_and_fine_tuned(
    tiny_runs, tiny_data, tmp_path, monkeypatch, capsys
):
    """Upscalers exported before commit 28b63d0 clamp their output to [-1, 1] only (the exporter then ran the
    network's forward `clamp(bicubic + detail, -1, 1)`); the clamp has no weights, so --init reads every weight
    and the run goes on with the current network. A file that computes something else is still refused."""
    import torch.nn.functional as F

    def pre_clamp(self, x):  # training/upscale.py's forward before 28b63d0, in every mode
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        feat = self.head(x)
        return torch.clamp(base + self.shuffle(self.tail(feat + self.body(feat))), -1.0, 1.0)

    run = tiny_runs["upscale"]
    old = _export_as(tmp_path, run, "upscale-old.onnx", pre_clamp, monkeypatch)
    ops = {n.op_type for n in onnx.load(str(old)).graph.node}
    assert "MaxPool" not in ops  # no local range in it: what the old exporter wrote
    cfg = tiny_cfg("upscale", tiny_data["paired"], tmp_path / "run")
    init = load_init(str(old), get_kind("upscale"), cfg)
    ck = load_checkpoint(run)["nets"]["G"]
    assert set(init.nets["G"]) == set(ck)
    for k, v in ck.items():
        assert torch.equal(init.nets["G"][k], v), k
    assert any("exported before the local-range clamp" in n for n in init.notes)
    # fine-tune from it: the run trains, says what the file was, and exports the clamped network
    flags = tiny_flags("upscale")
    rc, out = run_train(
        [
            "upscale",
            "--init",
            str(old),
            "--data",
            str(tiny_data["paired"]),
            "--out",
            str(tmp_path / "ft"),
            "--steps",
            "2",
            *flags,
        ],
        capsys,
    )
    assert rc == 0, out
    log = (tmp_path / "ft" / "train.log").read_text()
    assert "exported before the local-range clamp" in log
    assert load_checkpoint(tmp_path / "ft")["config"]["init_from"].startswith("upscale-old.onnx (sha256 ")

    def other(self, x):  # the same weights computing something else: still refused
        return pre_clamp(self, x).clamp(-0.5, 0.5)

    wrong = _export_as(tmp_path, run, "upscale-other.onnx", other, monkeypatch)
    with pytest.raises(ConfigError, match="the file computes something else"):
        load_init(str(wrong), get_kind("upscale"), cfg)


def test_a_start_from_a_fine_tuned_model_records_where_that_one_started(
    colorize_model, tiny_data, tmp_path, capsys
):
    """Fine-tuning in stages (Flat Colour -> run A -> run B): B's init_from, and so its exported card's
    "fine-tuned from" row, names A and what A started from, for a run folder or checkpoint (its config's
    init_from) and for an exported .onnx (its provenance's init_from); a start from scratch adds nothing."""
    kind = get_kind("pix2pix")
    cfg = tiny_cfg("pix2pix", tiny_data["paired"], tmp_path / "unused")
    plain = load_init(str(colorize_model), kind, cfg).record
    assert "itself" not in plain
    run_a = tmp_path / "a"
    argv = ["pix2pix", *tiny_flags("pix2pix"), "--data", str(tiny_data["paired"]), "--out", str(run_a)]
    rc, text = run_train([*argv, "--steps", "2", "--init", str(colorize_model)], capsys)
    assert rc == 0, text
    record_a = load_checkpoint(run_a)["config"]["init_from"]
    assert record_a == plain
    from_a = load_init(str(run_a), kind, cfg).record
    assert from_a.startswith("a/checkpoints/latest.pt (step 2, sha256 ")
    assert from_a.endswith(f"), itself fine-tuned from {record_a}"), from_a
    model = onnx.load(str(colorize_model))
    props = {p.key: p for p in model.metadata_props}
    training = json.loads(props["nftgan.training"].value)
    props["nftgan.training"].value = json.dumps({**training, "init_from": "older.onnx (sha256 0123456789ab)"})
    tuned = tmp_path / "tuned.onnx"
    onnx.save(model, str(tuned))
    record = load_init(str(tuned), kind, cfg).record
    assert record.startswith("tuned.onnx (sha256 ")
    assert record.endswith("), itself fine-tuned from older.onnx (sha256 0123456789ab)"), record
