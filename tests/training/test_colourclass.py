"""pix2pix --colour-classes (training/colourclass.py): the torch CIELAB matches the add-on's, the head's decode
of a one-hot distribution is that bin's colour, the rebalancing weights are the paper's, and a tiny run trains,
resumes bit for bit, exports with parity and fine-tunes from a plain U-Net (its head new, said so)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from nftgan.core import colour
from nftgan.training import colourclass as cc
from nftgan.training.checkpoint import build_generator, load_checkpoint
from nftgan.training.errors import ConfigError
from nftgan.training.initfrom import apply_init, load_init
from nftgan.training.kinds import get_kind
from nftgan.training.pix2pix import Pix2PixConfig
from nftgan.training.trainer import train
from PIL import Image

from .test_train import same_state


def test_torch_cielab_matches_the_addons_both_ways():
    rng = np.random.default_rng(0)
    levels = np.repeat(np.arange(256, dtype=np.float32)[None] / 255, 3, 0)
    x = np.concatenate([rng.random((3, 2000), dtype=np.float32), levels], 1)
    t = torch.from_numpy(x).T.reshape(-1, 3, 1, 1)
    lab = cc.rgb_to_lab(t).reshape(-1, 3).T.numpy()
    assert np.abs(lab - colour.lab(x)).max() < 2e-4
    back = cc.lab_to_rgb(torch.from_numpy(lab).T.reshape(-1, 3, 1, 1)).reshape(-1, 3).T.numpy()
    assert np.abs(back - x).max() < 2e-5
    # out of gamut: clipped as the add-on clips
    far = np.array([[50, 70, 120, 0], [120, -100, 0, 0], [-120, 100, 100, 0]], np.float32)
    got = cc.lab_to_rgb(torch.from_numpy(far).T.reshape(-1, 3, 1, 1)).reshape(-1, 3).T.numpy()
    assert np.abs(got - colour.srgb(far)).max() < 2e-5


def test_a_one_hot_distribution_decodes_to_its_bins_colour_at_the_rgb_branchs_lightness():
    bins = np.array([[0, 0], [40, -30], [-40, 40], [20, 40]], np.float32)  # in gamut at L* 63
    net = cc.ColourClassUnet(bins, np.ones(4, np.float32), ngf=4, size=32, norm="instance", upsample="resize")
    grey = torch.full((1, 3, 32, 32), 0.2)  # sRGB 0.6
    want_l = colour.lab(np.full((3, 1), 0.6, np.float32))[0, 0]
    for k in range(4):
        logits = torch.zeros(1, 4, 16, 16)
        logits[:, k] = 20.0  # / T = 0.38: one-hot
        out = net.decode(grey, logits)[0].reshape(3, -1).numpy() * 0.5 + 0.5
        lab = colour.lab(out)
        assert np.abs(lab[0] - want_l).max() < 0.2, k
        assert np.abs(lab[1:] - bins[k][:, None]).max() < 0.5, k


def test_the_rebalancing_weights_are_normalised_and_favour_rare_colours():
    hist = np.zeros((27, 27))
    hist[13, 13], hist[17, 10], hist[5, 20] = 1000, 100, 3  # grey, a common and a rare colour
    centres, w = cc.bins_from_histogram(hist, -130.0)
    assert centres.tolist() == [[-80.0, 70.0], [0.0, 0.0], [40.0, -30.0]]
    p = np.array([3, 100]) / 103  # the coloured pixels' distribution (grey is not rebalanced)
    assert abs((p * w[[0, 2]]).sum() - 1) < 0.05  # E_p[w] = 1 (of the smoothed p, which is nearly p here)
    assert w[0] > w[2]


def test_white_and_the_near_achromatic_bins_are_kept_out_of_the_rebalancing():
    """White paper, most of every picture, weighs what an average coloured pixel does (1), not the 0.04 the
    paper's rebalancing gave it (which let the head paint white backgrounds mint green)."""
    hist = np.zeros((27, 27))
    hist[12:15, 12:15] = 50  # near-grey: a*b* within 10 of 0 (cream paper, greys)
    hist[13, 13] = 100000  # white
    hist[17, 10], hist[5, 20], hist[20, 17] = 500, 20, 3  # colours, common to rare
    centres, w = cc.bins_from_histogram(hist, -130.0)
    paper = np.hypot(centres[:, 0], centres[:, 1]) < 15
    assert paper.sum() == 9
    assert np.allclose(w[paper], 1.0)  # white and its neighbours: not rebalanced (were 0.04 and less)
    assert (paper == cc.paper_bins(centres)).all()
    colour = ~paper
    p = hist[hist > 0][colour] / hist[hist > 0][colour].sum()
    assert abs((p * w[colour]).sum() - 1) < 0.05
    rare, common = w[centres.tolist().index([-80.0, 70.0])], w[centres.tolist().index([40.0, -30.0])]
    assert rare > 1 > common


def test_soft_encoding_is_a_gaussian_over_the_nearest_bins():
    bins = torch.tensor([[a, b] for a in range(-30, 40, 10) for b in range(-30, 40, 10)], dtype=torch.float32)
    ab = torch.tensor([[3.0, -2.0], [-27.0, 28.0]]).T.reshape(1, 2, 1, 2)
    z, nearest = cc.soft_encode(ab, bins)
    assert z.shape == (1, len(bins), 1, 2)
    assert torch.allclose(z.sum(1), torch.ones(1, 1, 2))
    assert ((z > 0).sum(1) == cc.NEIGHBOURS).all()
    assert bins[nearest[0, 0, 0]].tolist() == [0.0, 0.0] and bins[nearest[0, 0, 1]].tolist() == [-30.0, 30.0]
    assert z[0, :, 0, 0].argmax() == nearest[0, 0, 0]


def _colour_pairs(root: Path) -> Path:
    """Sketch-like pairs: B = a few coloured discs on white, A = their outlines."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(3)
    for d in ("A", "B"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(8):
        a, b = Image.new("RGB", (64, 64), "white"), Image.new("RGB", (64, 64), "white")
        for _ in range(3):
            x, y, r = (int(v) for v in rng.integers(8, 56, 3) // (1, 1, 3))
            box = (x - r - 4, y - r - 4, x + r + 4, y + r + 4)
            ImageDraw.Draw(b).ellipse(
                box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)), outline="black"
            )
            ImageDraw.Draw(a).ellipse(box, outline="black")
        a.save(root / "A" / f"p{i}.png")
        b.save(root / "B" / f"p{i}.png")
    return root


@pytest.mark.slow
def test_a_colour_class_run_trains_resumes_exactly_exports_and_fine_tunes_a_plain_unet(tmp_path):
    from nftgan.export.onnx_export import export_checkpoint

    data = _colour_pairs(tmp_path / "data")
    cfg = _tiny_colour_cfg(data, steps=6, hints=True, hint_weight=4.0)
    train(cfg.replace(out=str(tmp_path / "straight")))
    train(cfg.replace(out=str(tmp_path / "halves")), stop_at=3)
    train(cfg.replace(out=str(tmp_path / "halves")), resume=str(tmp_path / "halves"))
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves")
    same_state(a, b)
    g = a["nets"]["G"]
    assert g["colour_bins"].shape[1] == 2 and float(g["colour_temperature"]) == pytest.approx(0.38)
    metrics = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert "G_cls" in metrics[0] and metrics[1].split(",")[metrics[0].split(",").index("G_cls")]
    # the export decodes in the graph: RGB in [-1, 1], parity with PyTorch
    report = export_checkpoint(tmp_path / "straight", tmp_path / "cc.onnx")
    assert report["parity_rel"] < 1e-3
    net, _ = build_generator(a)
    assert torch.equal(net.colour_bins, g["colour_bins"])
    # --init from the exported colour-class model: its head is read, its bins (folded into the graph) are this
    # data's, counted again, the same
    init = load_init(str(tmp_path / "cc.onnx"), get_kind("pix2pix"), cfg)
    assert torch.equal(init.nets["G"]["colour_head.2.weight"], g["colour_head.2.weight"])
    # a plain U-Net run fine-tuned with --colour-classes: its U-Net from the file, the head new (and said so)
    plain = cfg.replace(colour_classes=False, steps=2, out=str(tmp_path / "plain"))
    train(plain)
    export_checkpoint(tmp_path / "plain", tmp_path / "plain.onnx")
    kind, base = get_kind("pix2pix"), load_checkpoint(tmp_path / "plain")["nets"]["G"]
    for source in (tmp_path / "plain", tmp_path / "plain.onnx"):
        init = load_init(str(source), kind, cfg)
        assert "new, not from it: colour_bins, colour_head" in init.record
        assert any("they start as built" in note for note in init.notes)
        nets = kind.build_nets(cfg)
        built = nets["G"].state_dict()
        apply_init(nets, init)
        got = nets["G"].state_dict()
        for k, v in got.items():
            assert torch.equal(v, base[k] if k in base else built[k]), k
        assert torch.equal(got["colour_bins"], g["colour_bins"])  # the data's
        assert not torch.equal(got["colour_head.0.weight"], g["colour_head.0.weight"])  # fresh
        # the head corrects the U-Net's own colour and starts at no correction: the output is the U-Net's
        x = torch.from_numpy(np.asarray(Image.open(data / "A" / "p0.png"), np.float32) / 127.5 - 1)
        with torch.no_grad():
            rgb, logits = nets["G"].eval().parts(x.permute(2, 0, 1)[None])
            out = nets["G"].decode(rgb, logits)
        lab_rgb, lab_out = (
            colour.lab(((t[0] + 1) / 2).clamp(0, 1).reshape(3, -1).numpy()) for t in (rgb, out)
        )
        assert np.sqrt(((lab_rgb - lab_out) ** 2).sum(0)).mean() < 1.0


def _tiny_colour_cfg(data: Path, **kw) -> Pix2PixConfig:
    return Pix2PixConfig(
        model="pix2pix",
        data=str(data),
        size=64,
        load_size=64,
        ngf=4,
        ndf=4,
        workers=0,
        log_every=2,
        sample_every=100,
        checkpoint_every=100,
        val_fraction=0.2,
        colour_classes=True,
    ).replace(**{"steps": 4, **kw})


def test_a_resumed_or_initialised_colour_class_run_takes_its_bins_from_the_checkpoint(tmp_path, monkeypatch):
    """The bins are counted once, when a run starts from the data; a resumed run (and --init from a colour-class
    run) takes them from the checkpoint, whose buffers replace them anyway, and still resumes bit for bit."""
    data = _colour_pairs(tmp_path / "data")
    cfg = _tiny_colour_cfg(data)
    calls = []
    counted = cc.colour_bins

    def count(paths):
        calls.append(len(paths))
        return counted(paths)

    monkeypatch.setattr(cc, "colour_bins", count)
    train(cfg.replace(out=str(tmp_path / "straight")))
    train(cfg.replace(out=str(tmp_path / "halves")), stop_at=2)
    assert len(calls) == 2  # each new run counts its data

    def refuse(paths):
        raise AssertionError("the colour bins were counted again")

    monkeypatch.setattr(cc, "colour_bins", refuse)
    train(cfg.replace(out=str(tmp_path / "halves")), resume=str(tmp_path / "halves"))
    same_state(load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves"))
    # --init from a colour-class run: its bins and weights, not the data's counted again
    kind = get_kind("pix2pix")
    init = load_init(str(tmp_path / "straight"), kind, cfg)
    nets = kind.build_nets_for(cfg, init.nets)
    apply_init(nets, init)
    g = load_checkpoint(tmp_path / "straight")["nets"]["G"]
    assert torch.equal(nets["G"].colour_weights, g["colour_weights"])


def test_the_head_learns_from_the_class_loss_alone_not_from_the_discriminator(tmp_path):
    """The detached head: with the L1 and class losses off, a training step moves the U-Net (the adversarial
    gradient reaches it) and leaves the head as it started (its last layer at zero)."""
    data = _colour_pairs(tmp_path / "data")
    cfg = _tiny_colour_cfg(data, steps=2, lambda_l1=0.0, lambda_cls=0.0)
    train(cfg.replace(out=str(tmp_path / "gan")))
    g = load_checkpoint(tmp_path / "gan")["nets"]["G"]
    assert not g["colour_head.2.weight"].any() and not g["colour_head.2.bias"].any()
    kind = get_kind("pix2pix")
    torch.manual_seed(cfg.seed)
    built = kind.build_nets_for(cfg, {"G": g})["G"].state_dict()
    assert not torch.equal(built["model.model.0.weight"], g["model.model.0.weight"])  # the U-Net trained
    # and with the class loss on, the head trains
    train(cfg.replace(lambda_cls=1.0, out=str(tmp_path / "cls")))
    assert load_checkpoint(tmp_path / "cls")["nets"]["G"]["colour_head.2.weight"].any()


def test_head_only_trains_the_head_alone_on_the_frozen_unet_and_resumes_exactly(tmp_path):
    """--head-only (with --init): the U-Net's weights stay the file's bit for bit, the head's change, no
    discriminator is built, the run resumes exactly, says what it trains, and refuses to start without --init."""
    data = _colour_pairs(tmp_path / "data")
    base = _tiny_colour_cfg(data, colour_classes=False, steps=2, out=str(tmp_path / "plain"))
    train(base)
    cfg = _tiny_colour_cfg(data, steps=4, head_only=True, hints=True, hint_weight=4.0, lr=1e-2)
    with pytest.raises(ConfigError, match="--init"):
        train(cfg.replace(out=str(tmp_path / "no-init")))
    with pytest.raises(ConfigError, match="--colour-classes"):
        train(cfg.replace(colour_classes=False, out=str(tmp_path / "no-cc")), init=str(tmp_path / "plain"))
    train(cfg.replace(out=str(tmp_path / "straight")), init=str(tmp_path / "plain"))
    train(cfg.replace(out=str(tmp_path / "halves")), stop_at=2, init=str(tmp_path / "plain"))
    train(cfg.replace(out=str(tmp_path / "halves")), resume=str(tmp_path / "halves"))
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves")
    same_state(a, b)
    assert set(a["nets"]) == {"G"} and set(a["optimizers"]) == {"G"}
    plain, g = load_checkpoint(tmp_path / "plain")["nets"]["G"], a["nets"]["G"]
    for k, v in plain.items():
        assert torch.equal(g[k], v), k  # the U-Net: the file's, bit for bit
    assert g["colour_head.2.weight"].any() and g["colour_head.0.weight"].abs().sum() > 0
    kind = get_kind("pix2pix")
    torch.manual_seed(cfg.seed)
    fresh = kind.build_nets_for(cfg, {"G": g})["G"].state_dict()
    assert not torch.equal(fresh["colour_head.0.weight"], g["colour_head.0.weight"])  # the head trained
    log = (tmp_path / "straight" / "train.log").read_text()
    assert "training the colour-class head only: the U-Net frozen" in log
    assert "frozen" in a["provenance"]["stage"]
    metrics = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert metrics[1].split(",")[metrics[0].split(",").index("G_cls")]


@pytest.mark.slow
def test_a_head_only_run_exports_as_a_colorize_model_whose_card_says_what_was_trained(tmp_path):
    from nftgan.export.onnx_export import export_checkpoint

    data = _colour_pairs(tmp_path / "data")
    train(_tiny_colour_cfg(data, colour_classes=False, steps=1, out=str(tmp_path / "plain")))
    cfg = _tiny_colour_cfg(data, steps=1, head_only=True, out=str(tmp_path / "head"))
    train(cfg, init=str(tmp_path / "plain"))
    report = export_checkpoint(tmp_path / "head", tmp_path / "head.onnx")
    assert report["parity_rel"] < 1e-3 and report["kind"] == "colorize"
    assert "| trained | colour-class head only: the U-Net frozen" in report["card"]
