"""What a run tells the person training: readable loss curves, sample grids that can be judged by eye,
TensorBoard (an optional extra), what a longer resume does to the learning rate, and runs started from a
config file (a run folder's config.json repeats the run)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from nftgan.training.checkpoint import load_checkpoint
from nftgan.training.kinds import available, get_kind
from nftgan.training.pix2pix import Pix2PixConfig
from nftgan.training.report import (
    COLOURS,
    _faint,
    ema,
    nice_ticks,
    smoothing_weight,
    to_uint8,
    write_loss_png,
)
from nftgan.training.trainer import Trainer
from PIL import Image

from .helpers import TINY, paired
from .helpers import run_train as run


def metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# ---- loss.png --------------------------------------------------------------------------------------------


def test_ticks_and_smoothing():
    assert nice_ticks(0, 1234, 8) == [0, 200, 400, 600, 800, 1000, 1200]
    assert nice_ticks(0.13, 0.61, 6) == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6])
    assert nice_ticks(-3, 3, 4) == [-2, 0, 2]
    assert ema([0.7] * 30, 0.9) == pytest.approx([0.7] * 30)  # debiased: no pull towards 0 at the start
    step = ema([0.0] * 20 + [1.0] * 20, 0.8)
    assert (
        step[19] == pytest.approx(0.0) and 0.1 < step[20] < 0.3 and step[-1] > 0.98
    )  # it lags, then follows
    assert smoothing_weight(10) == 0 and smoothing_weight(400) == pytest.approx(0.95)


def _pixels(img: Image.Image, box, colour) -> int:
    a = np.asarray(img.crop(box))
    return int((np.abs(a.astype(int) - colour).sum(-1) == 0).sum())


def test_loss_png_has_a_panel_per_group_with_raw_and_smoothed_curves(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {
            "step": s,
            "G_gan": 2 + rng.normal(0, 0.5),
            "D": 0.5 + rng.normal(0, 0.1),
            "G_l1": 0.3 * np.exp(-s / 2000) + rng.normal(0, 0.02),
            "val_l1": 0.25 if s % 500 == 0 else "",
            "val_psnr": 18.0 + s / 1000 if s % 500 == 0 else "",
        }
        for s in range(50, 5001, 50)
    ]
    kind = get_kind("pix2pix")
    path = tmp_path / "loss.png"
    titles = write_loss_png(rows, kind.panels(), str(path))
    # G vs D, L1, validation L1, validation PSNR (no colour-class panel: a run without --colour-classes)
    assert titles == [t for t, names in kind.loss_groups if names != ("G_cls",)]
    img = Image.open(path).convert("RGB")
    assert img.size == (900, 4 * 240)
    # panel 1 (G_gan and D): each curve smoothed in its colour and raw in its faint colour, inside the frame
    for colour in (COLOURS[0], COLOURS[1]):
        assert _pixels(img, (78, 30, 882, 200), colour) > 200
        assert _pixels(img, (78, 30, 882, 200), _faint(colour)) > 200
    # the smoothed curve is calmer than the raw one
    ys = [r["G_gan"] for r in rows]
    assert np.std(ema(ys, smoothing_weight(len(ys)))[20:]) < 0.5 * np.std(ys[20:])
    # a group with nothing logged yet gets no panel
    early = [{k: (v if k in ("step", "G_gan", "D", "G_l1") else "") for k, v in r.items()} for r in rows[:3]]
    assert write_loss_png(early, kind.panels(), str(path)) == [t for t, _ in kind.loss_groups[:2]]
    assert Image.open(path).size == (900, 2 * 240)


def test_every_kind_plots_each_of_its_metrics_once():
    for name in available():
        kind = get_kind(name)
        plotted = [n for _, names in kind.panels() for n in names]
        assert sorted(plotted) == sorted([*kind.loss_names, *kind.val_names]), name


# ---- sample grids ----------------------------------------------------------------------------------------


def test_sample_grid_shows_four_upscaled_examples_filling_in_training_images(tmp_path):
    """With one held-out image, the grid shows it and three training images, each scaled up 8x (32 px ->
    256 px) by nearest neighbour, in input | output | target columns."""
    data = paired(tmp_path / "data", n=6)
    cfg = Pix2PixConfig(
        model="pix2pix", data=str(data), out=str(tmp_path / "run"), size=32, ngf=4, ndf=4, workers=0,
        val_fraction=0.01,  # 6 images: exactly one held out
    )  # fmt: skip
    trainer = Trainer(cfg)
    assert len(trainer.val_ds) == 1
    trainer.out.mkdir()
    trainer._validate_and_sample()
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step_0000000.png").convert("RGB"))
    height, width = grid.shape[:2]
    left, head = width - 3 * 256, height - 4 * 256
    assert left > 20 and head > 20  # room for the row labels and the column titles
    items = [trainer.val_ds[0]] + [trainer.train_ds[(i, 0)] for i in range(3)]
    for r, item in enumerate(items):
        for c, key in ((0, "A"), (2, "B")):
            cell = grid[head + r * 256 : head + (r + 1) * 256, left + c * 256 : left + (c + 1) * 256]
            expected = np.repeat(np.repeat(to_uint8(item[key]), 8, 0), 8, 1)
            assert np.array_equal(cell, expected), (r, key)


# ---- TensorBoard -----------------------------------------------------------------------------------------


def test_tensorboard_gets_the_scalars_and_the_sample_grids(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data, out = paired(tmp_path / "data", n=6), tmp_path / "run"
    argv = ["pix2pix", "--data", str(data), "--out", str(out), "--steps", "4", *TINY]
    rc, text = run([*argv, "--log-every", "2", "--sample-every", "2", "--tensorboard"], capsys)
    assert rc == 0, text
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/G_gan", "loss/G_l1", "loss/D", "validation/val_l1", "validation/val_psnr", "lr"} <= set(
        tags["scalars"]
    )
    rows = metrics(out)
    assert [e.step for e in events.Scalars("loss/G_l1")] == [2, 4]
    assert [e.value for e in events.Scalars("loss/G_l1")] == pytest.approx(
        [float(r["G_l1"]) for r in rows], rel=1e-4
    )
    assert [e.value for e in events.Scalars("validation/val_l1")] == pytest.approx(
        [float(r["val_l1"]) for r in rows], rel=1e-4
    )
    shots = events.Images("samples")
    assert [s.step for s in shots] == [2, 4]
    assert (shots[-1].width, shots[-1].height) == Image.open(out / "samples" / "step_0000004.png").size


def test_tensorboard_missing_is_a_clear_error_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    data, out = paired(tmp_path / "data", n=4), tmp_path / "run"
    rc, text = run(["pix2pix", "--data", str(data), "--out", str(out), "--tensorboard", *TINY], capsys)
    assert (
        rc == 2
        and "--tensorboard needs the tensorboard package" in text
        and "pip install tensorboard" in text
    )
    assert not out.exists()


# ---- resuming with more steps ----------------------------------------------------------------------------


def test_resuming_with_more_steps_says_what_the_learning_rate_does(tmp_path, capsys):
    """--decay-from 0.5: 4 steps decay the rate to 0 by step 4; resumed to 8 steps, the schedule is the one a
    run of 8 steps has (constant to step 4, then down to 0 at 8), so at step 4 the rate goes back up to 100%."""
    data, out = paired(tmp_path / "data", n=4), tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--val-fraction", "0", *TINY, "--log-every", "1"]
    assert run(["pix2pix", *args, "--steps", "4"], capsys)[0] == 0
    rc, text = run(["--resume", str(out), "--steps", "8"], capsys)
    assert rc == 0, text
    said = (
        "--steps 4 -> 8: the learning-rate schedule is recomputed for 8 steps: constant to step 4, then linear "
        "to 0 at step 8 (it was constant to step 2, then linear to 0 at step 4). At step 4 the rate goes from "
        "0% of the base rate (0) to 100% of the base rate (0.0002): it goes back up"
    )
    assert said in text and said in (out / "train.log").read_text()
    lr = {int(r["step"]): float(r["lr"]) for r in metrics(out)}  # the rate for the step after each row
    assert [lr[s] for s in range(1, 9)] == pytest.approx([2e-4, 2e-4, 1e-4, 0, 1.5e-4, 1e-4, 5e-5, 0])
    rc, text = run(["--resume", str(out), "--steps", "10"], capsys)  # finished: 0% -> 1 - (8 - 5) / 5 = 40%
    assert rc == 0 and "At step 8 the rate goes from 0% of the base rate (0) to 40% of the base rate" in text


# ---- --config FILE ---------------------------------------------------------------------------------------


def test_a_runs_config_json_repeats_it_and_flags_override_it(tmp_path, capsys):
    data = paired(tmp_path / "data", n=6)
    first = tmp_path / "first"
    argv = ["pix2pix", "--data", str(data), "--out", str(first), "--steps", "3", "--lambda-l1", "10", *TINY]
    assert run(argv, capsys)[0] == 0
    # no KIND, no --data: both come from the file
    rc, text = run(["--config", str(first / "config.json"), "--out", str(tmp_path / "again")], capsys)
    assert rc == 0, text
    a, b = load_checkpoint(first), load_checkpoint(tmp_path / "again")
    assert {**a["config"], "out": ""} == {**b["config"], "out": ""}
    for name in a["nets"]:  # the same run: the same weights, bit for bit (CPU)
        assert all(torch.equal(v, b["nets"][name][k]) for k, v in a["nets"][name].items())
    rc, text = run(
        ["pix2pix", "--config", str(first / "config.json"), "-o", str(tmp_path / "longer"), "--steps", "4"],
        capsys,
    )
    assert rc == 0, text
    c = load_checkpoint(tmp_path / "longer")["config"]
    assert c["steps"] == 4 and c["lambda_l1"] == 10 and c["ngf"] == 8
    # the file's own --out holds a run: refused, not overwritten
    rc, text = run(["--config", str(first / "config.json")], capsys)
    assert rc == 2 and f"{first} already holds a run" in text


def test_a_yaml_config_starts_a_run(tmp_path, capsys):
    pytest.importorskip("yaml")
    data = paired(tmp_path / "data", n=4)
    cfg = tmp_path / "style.yaml"
    cfg.write_text(
        f"model: pix2pix\ndata: {data}\nsteps: 2\nsize: 32\nngf: 4\nndf: 4\nworkers: 0\n"
        "lambda_l1: 25\nflip: false\ngan_mode: lsgan\n"
    )
    rc, text = run(["--config", str(cfg), "--out", str(tmp_path / "run"), "--ngf", "8"], capsys)
    assert rc == 0, text
    c = load_checkpoint(tmp_path / "run")["config"]
    assert (c["lambda_l1"], c["flip"], c["gan_mode"], c["ngf"], c["ndf"]) == (25.0, False, "lsgan", 8, 4)


@pytest.mark.parametrize(
    "content, name, fragment",
    [
        ({"model": "pix2pix", "stpes": 5}, "c.json", "unknown setting stpes for pix2pix"),
        ({"model": "pix2pix", "steps": "5"}, "c.json", "steps must be a whole number, not '5'"),
        ({"model": "pix2pix", "flip": 1}, "c.json", "flip must be true or false, not 1"),
        (
            {"model": "pix2pix", "norm": "group"},
            "c.json",
            "norm must be one of instance, batch, none, not 'group'",
        ),
        ({"steps": 5}, "c.json", "names no model kind"),
        ("[1, 2]", "c.json", "expected settings (name: value pairs), found list"),
        ("{steps: 5", "c.json", "not valid JSON"),
        ({"model": "cyclegan"}, "c.json", "is a cyclegan config, not pix2pix"),
        # a whole cyclegan run's config.json: its own settings are no reason to call it misspelt
        (
            {"model": "cyclegan", "lambda_cycle": 10.0, "pool_size": 50},
            "c.json",
            "is a cyclegan config, not pix2pix",
        ),
    ],
)
def test_bad_config_files_are_explained(tmp_path, capsys, content, name, fragment):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    argv = ["--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    if "cyclegan" in fragment:
        argv = ["pix2pix", *argv]
    rc, text = run(argv, capsys)
    assert rc == 2 and fragment in text, text
    assert "Traceback" not in text and not (tmp_path / "run").exists()


def test_config_file_problems_outside_json(tmp_path, capsys, monkeypatch):
    rc, text = run(["--config", str(tmp_path / "missing.json")], capsys)
    assert rc == 2 and "--config " in text and "missing.json: file not found" in text
    (tmp_path / "c.yaml").write_text("model: pix2pix\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML were not installed
    rc, text = run(["--config", str(tmp_path / "c.yaml")], capsys)
    assert rc == 2 and "reading YAML needs PyYAML (pip install pyyaml)" in text
    (tmp_path / "c.json").write_text('{"model": "pix2pix"}')
    rc, text = run(["--config", str(tmp_path / "c.json"), "--resume", str(tmp_path)], capsys)
    assert rc == 2 and "--config starts a new run; --resume continues one" in text
