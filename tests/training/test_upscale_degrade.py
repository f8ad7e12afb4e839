"""The upscale kind's training degradation: a random Gaussian blur before the antialiased bicubic downscale
(training.upscale.degrade), drawn per crop from the run's seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from nftgan.training.cli import main as train_main
from nftgan.training.data import to_tensor
from nftgan.training.upscale import (
    SRDataset,
    UpscaleConfig,
    degrade,
    downscale,
    draw_sigma,
    gaussian_blur,
)
from PIL import Image


def _pictures(root, n=8, size=64):
    """Sharp-edged blocks on white (what a blur visibly changes)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        arr = np.full((size, size, 3), 255, np.uint8)
        for _ in range(4):
            x, y = rng.integers(0, size - 16, 2)
            arr[y : y + 16, x : x + 16] = rng.integers(0, 255, 3)
        Image.fromarray(arr).save(root / f"p{i:02d}.png")
    return sorted(str(p) for p in root.iterdir())


def test_blur_is_a_gaussian_of_the_given_sigma_per_picture_and_none_at_zero():
    x = torch.zeros(2, 3, 41, 41)
    x[:, :, 20, 20] = 1.0  # an impulse: the blurred picture is the kernel
    y = gaussian_blur(x, torch.tensor([0.0, 2.5]))
    assert torch.equal(y[0], x[0])
    k = y[1, 0]
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    t = torch.arange(41.0) - 20
    var_x = float((k.sum(0) * t**2).sum())
    var_y = float((k.sum(1) * t**2).sum())
    assert var_x == pytest.approx(2.5**2, rel=0.03) and var_y == pytest.approx(2.5**2, rel=0.03)


def test_degrade_without_blur_is_pils_antialiased_bicubic_and_blur_softens_edges(tmp_path):
    img = Image.open(_pictures(tmp_path / "p", n=1)[0])
    hr = to_tensor(img)[None]
    plain = degrade(hr, 4, torch.zeros(1))
    assert plain.shape == (1, 3, 16, 16)
    pil = to_tensor(downscale(img, 4))[None]
    assert float((plain - pil).abs().mean()) < 0.005  # PIL's filter (PIL rounds to 8 bits)
    soft = degrade(hr, 4, torch.tensor([1.5]))
    slope = lambda t: float(t.diff(dim=-1).abs().max())
    assert slope(soft) < 0.6 * slope(plain)


def test_blur_share_and_range_are_honoured():
    sig = np.array([draw_sigma(np.random.default_rng([7, i]), 0.7, 0.5, 2.0) for i in range(4000)])
    blurred = sig[sig > 0]
    assert len(blurred) / len(sig) == pytest.approx(0.7, abs=0.03)
    assert blurred.min() >= 0.5 and blurred.max() <= 2.0
    assert blurred.min() < 0.55 and blurred.max() > 1.95  # the whole range, uniformly
    assert np.median(blurred) == pytest.approx(1.25, abs=0.05)
    assert all(draw_sigma(np.random.default_rng(i), 0.0, 0.5, 2.0) == 0 for i in range(50))
    assert all(draw_sigma(np.random.default_rng(i), 1.0, 1.0, 1.0) == 1.0 for i in range(50))


def test_training_inputs_follow_the_runs_seed_and_held_out_ones_stay_plain(tmp_path):
    files = _pictures(tmp_path / "p")
    ds = SRDataset(files, size=32, scale=4, flip=True, train=True, blur=(0.7, 0.5, 2.0))
    a, b = ds[(3, 11)], ds[(3, 11)]
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"])
    # the same crop drawn with other seeds: blurred by other sigmas (or not at all)
    others = [ds[(3, s)] for s in range(12, 40)]
    assert any(not torch.equal(o["lr"], a["lr"]) for o in others)
    sharpness = {round(float(o["lr"].diff(dim=-1).abs().max()), 4) for o in others}
    assert len(sharpness) > 5
    # blur 0: the plain PIL downscale models were trained on before; held out: always plain
    plain = SRDataset(files, size=32, scale=4, flip=True, train=True)[(3, 11)]
    assert torch.equal(plain["lr"], to_tensor(downscale(Image.fromarray(_uint8(plain["hr"])), 4)))
    val = SRDataset(files, size=32, scale=4, flip=False, train=False, blur=(1.0, 2.0, 2.0))[0]
    assert torch.equal(val["lr"], to_tensor(downscale(Image.fromarray(_uint8(val["hr"])), 4)))


def _uint8(t: torch.Tensor) -> np.ndarray:
    return ((t.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def test_the_default_is_recorded_and_runs_made_before_it_stay_plain():
    cfg = UpscaleConfig()
    assert (cfg.blur, cfg.blur_min, cfg.blur_max) == (0.5, 1.0, 2.0)
    assert UpscaleConfig.from_dict({"model": "upscale"}).blur == 0.0  # a config.json from before --blur


def test_a_blurred_training_run_steps_records_its_degradation_and_reports_soft_psnr(tmp_path):
    _pictures(tmp_path / "p")
    run = tmp_path / "run"
    args = ["upscale", "--data", str(tmp_path / "p"), "--out", str(run), "--size", "32", "--ngf", "8"]
    args += ["--n-blocks", "1", "--batch-size", "2", "--steps", "3", "--workers", "0", "--sample-every", "3"]
    assert (
        train_main([*args, "--blur", "1", "--blur-min", "1", "--blur-max", "1.5"], prog="nftgan train") == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["blur"], cfg["blur_min"], cfg["blur_max"]) == (1.0, 1.0, 1.5)
    header, *rows = (run / "metrics.csv").read_text().splitlines()
    assert "val_psnr_soft" in header.split(",")
    last = dict(zip(header.split(","), rows[-1].split(",")))
    assert float(last["val_psnr_soft"]) > 5


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--blur", "1.5"], "--blur is a share of the training inputs, from 0 to 1"),
        (["--blur-min", "2", "--blur-max", "1"], "--blur-min and --blur-max must satisfy 0 <= min <= max"),
    ],
)
def test_bad_blur_settings_are_refused_before_anything_is_written(tmp_path, capsys, bad, message):
    _pictures(tmp_path / "p", n=2)
    code = train_main(
        ["upscale", "--data", str(tmp_path / "p"), "--out", str(tmp_path / "r"), "--size", "32", *bad],
        prog="nftgan train",
    )
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()
