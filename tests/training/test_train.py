"""The trainer end to end on tiny generated data: it learns, writes its run folder, resumes exactly."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from nftgan.training.checkpoint import CheckpointError, build_generator, load_checkpoint
from nftgan.training.cli import main as train_main
from nftgan.training.cyclegan import CycleGANConfig
from nftgan.training.data import collate
from nftgan.training.kinds import get_kind
from nftgan.training.pix2pix import Pix2PixConfig
from nftgan.training.trainer import Trainer, native_bf16, train, use_bf16
from PIL import Image

from .helpers import TINY, paired, unpaired

ROOT = Path(__file__).resolve().parents[2]


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def same_state(a: dict, b: dict) -> None:
    """Nets, optimizer states and pools identical, bit for bit."""
    assert a["step"] == b["step"]
    for name in a["nets"]:
        for k, v in a["nets"][name].items():
            assert torch.equal(v, b["nets"][name][k]), f"{name}.{k} differs"
    for g in a["optimizers"]:
        for pid, st in a["optimizers"][g]["state"].items():
            for k, v in st.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["optimizers"][g]["state"][pid][k]))
    assert a["schedulers"] == b["schedulers"]
    for pa, pb in zip(a["pools"], b["pools"]):
        for key in pa:
            assert len(pa[key]["images"]) == len(pb[key]["images"])
            assert all(torch.equal(x, y) for x, y in zip(pa[key]["images"], pb[key]["images"]))


@pytest.mark.slow
def test_pix2pix_learns_a_toy_mapping_and_writes_its_run_folder(tmp_path):
    data, run = paired(tmp_path / "data", n=12), tmp_path / "run"
    rc = train_main(
        [
            "pix2pix",
            "--data",
            str(data),
            "--out",
            str(run),
            "--steps",
            "60",
            "--batch-size",
            "4",
            "--sample-every",
            "10",
            "--checkpoint-every",
            "20",
            "--keep-checkpoints",
            "2",
            "--val-fraction",
            "0.25",
            "--lr",
            "2e-3",
            *TINY,
        ]
    )
    assert rc == 0
    rows = metrics(run)
    assert [int(r["step"]) for r in rows] == list(range(5, 61, 5))
    val = [float(r["val_l1"]) for r in rows if r["val_l1"]]
    assert len(val) == 6 and val[-1] < 0.6 * val[0], val  # the mapping B = inverse(A) is being learned
    l1 = [float(r["G_l1"]) for r in rows]
    assert l1[-1] < 0.6 * l1[0]
    assert float(rows[-1]["lr"]) == 0.0  # constant then linear decay to 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.pt",
        "step_0000040.pt",
        "step_0000060.pt",
    ]
    assert os.path.samefile(run / "checkpoints" / "latest.pt", run / "checkpoints" / "step_0000060.pt")
    grids = sorted((run / "samples").iterdir())
    assert len(grids) == 6
    grid = Image.open(grids[-1])  # 4 rows (3 held out + 1 training) of 32 px images scaled up 8x
    assert grid.size[0] > 3 * 256 and grid.size[1] > 4 * 256 and grid.size[1] - 4 * 256 < 100
    assert Image.open(run / "loss.png").size == (900, 4 * 240)
    assert "training pix2pix at step 0/60" in (run / "train.log").read_text()
    ck = load_checkpoint(run)
    assert ck["model"] == "pix2pix" and ck["config"]["size"] == 32 and ck["provenance"]["steps"] == 60
    assert ck["provenance"]["val_metrics"]["val_l1"] == pytest.approx(val[-1], rel=1e-4)
    g, info = build_generator(ck)
    assert (
        not g.training and info["kind"] == "colorize" and info["multiple_of"] == 32 and info["name"] == "run"
    )
    with torch.no_grad():
        assert g(torch.zeros(1, 3, 64, 32)).shape == (1, 3, 64, 32)


@pytest.mark.slow
@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_cyclegan_resume_in_process_is_exact(tmp_path, amp):
    data = unpaired(tmp_path / "data", n=6)
    cfg = CycleGANConfig(
        model="cyclegan",
        data=str(data),
        size=32,
        ngf=4,
        ndf=4,
        net_g="resnet_6blocks",
        steps=8,
        pool_size=3,
        batch_size=2,
        workers=1,
        log_every=2,
        sample_every=4,
        checkpoint_every=100,
        amp=amp,
    )
    train(cfg.replace(out=str(tmp_path / "straight")))
    train(cfg.replace(out=str(tmp_path / "halves")), stop_at=4)  # a run planned for 8 steps, stopped at 4
    assert load_checkpoint(tmp_path / "halves")["step"] == 4
    train(cfg.replace(out=str(tmp_path / "halves")), resume=str(tmp_path / "halves"))
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves")
    assert len(a["pools"][0]["fake_A"]["images"]) == 3
    same_state(a, b)
    g, info = build_generator(b, "BtoA")
    assert info["kind"] == "stylize" and info["multiple_of"] == 4
    assert torch.equal(g.state_dict()["model.1.weight"], b["nets"]["G_B"]["model.1.weight"])
    assert [r["G_A"] for r in metrics(tmp_path / "straight")] == [
        r["G_A"] for r in metrics(tmp_path / "halves")
    ]
    precision = "bf16 autocast" if amp == "bf16" else "fp32"
    assert precision in (tmp_path / "halves" / "train.log").read_text()
    assert precision in b["provenance"]["hardware"]


def _flat_pairs(root: Path, n: int = 6, size: int = 64) -> Path:
    """Line sketch -> flat colour pictures (two coloured regions each): what colour hints are made from."""
    for d in ("A", "B"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        picture = Image.new("RGB", (size, size), "white")
        picture.paste((40 * i % 255, 150, 200 - 25 * i), (8, 8, size // 2, size - 8))
        picture.paste((220, 60 + 20 * i, 40), (size // 2, 8, size - 8, size - 8))
        sketch = Image.new("RGB", (size, size), "white")
        for box in ((8, 8, size // 2, size - 8), (size // 2, 8, size - 8, size - 8)):
            sketch.paste((0, 0, 0), box)
            sketch.paste((255, 255, 255), (box[0] + 2, box[1] + 2, box[2] - 2, box[3] - 2))
        picture.save(root / "B" / f"p{i}.png")
        sketch.save(root / "A" / f"p{i}.png")
    return root


@pytest.mark.slow
def test_pix2pix_with_resize_upsampling_and_weighted_hints_resumes_exactly(tmp_path):
    """The colorize recipe's own settings (resize-convolution U-Net, --hints, --hint-weight) train, export as
    the stage asked for, and resume bit for bit (hints come from the per-sample generators)."""
    cfg = Pix2PixConfig(
        model="pix2pix",
        data=str(_flat_pairs(tmp_path / "data")),
        size=64,
        load_size=64,
        ngf=4,
        ndf=4,
        steps=6,
        workers=1,
        log_every=2,
        sample_every=3,
        checkpoint_every=100,
        val_fraction=0.2,
        hints=True,
        hint_weight=4.0,
        stage="stylize",
    )
    assert cfg.upsample == "resize"
    train(cfg.replace(out=str(tmp_path / "straight")))
    train(cfg.replace(out=str(tmp_path / "halves")), stop_at=3)
    train(cfg.replace(out=str(tmp_path / "halves")), resume=str(tmp_path / "halves"))
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "halves")
    same_state(a, b)
    g, info = build_generator(b)
    assert info["kind"] == "stylize" and not any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())


def test_amp_auto_means_bf16_exactly_where_the_hardware_has_it():
    cpu = torch.device("cpu")
    flags = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native_bf16(cpu) == flags
    assert use_bf16("auto", cpu) == flags and not use_bf16("auto", cpu, auto=False)
    assert (
        get_kind("cyclegan").auto_bf16 and get_kind("pix2pix").auto_bf16 and not get_kind("wgan-gp").auto_bf16
    )
    assert use_bf16("bf16", cpu) and not use_bf16("none", cpu)


def test_bf16_steps_but_fp32_validation(tmp_path):
    """Under --amp bf16 the training step autocasts; validation and samples run in fp32, like the export."""
    data = paired(tmp_path / "data", n=6)
    trainer = Trainer(
        Pix2PixConfig(
            model="pix2pix",
            data=str(data),
            out=str(tmp_path / "run"),
            size=32,
            ngf=4,
            ndf=4,
            steps=1,
            workers=0,
            val_fraction=0.34,
            amp="bf16",
        )
    )
    run = trainer.run
    trainer.out.mkdir()
    seen = []
    hook = run.raw["G"].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    batch = trainer._batch(collate([trainer.train_ds[(0, 0)]]))
    trainer.kind.train_step(run, batch)
    trainer._validate_and_sample()
    hook.remove()
    assert seen[0] == torch.bfloat16 and set(seen[1:]) == {torch.float32}
    assert run.bf16  # back on for the next step


@pytest.mark.slow
def test_kill_9_then_resume_gives_identical_weights(tmp_path):
    data = paired(tmp_path / "data", n=10)
    args = [
        "--data",
        str(data),
        "--steps",
        "60",
        "--checkpoint-every",
        "5",
        "--sample-every",
        "30",
        "--batch-size",
        "2",
        "--deterministic",
        "--keep-checkpoints",
        "20",
        *TINY,
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nftgan.export.cli", "train", "pix2pix", "--out", str(killed), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    first = killed / "checkpoints" / "step_0000005.pt"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # still training: the kill is real
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    at_kill = load_checkpoint(killed)["step"]
    assert 5 <= at_kill < 60
    assert train_main(["pix2pix", "--out", str(tmp_path / "straight"), *args]) == 0
    assert train_main(["--resume", str(killed)]) == 0
    straight, resumed = load_checkpoint(tmp_path / "straight"), load_checkpoint(killed)
    same_state(straight, resumed)
    assert [int(r["step"]) for r in metrics(killed)] == list(range(5, 61, 5))  # rows after the kill re-done
    assert [r["D"] for r in metrics(killed)] == [r["D"] for r in metrics(tmp_path / "straight")]
    log = (killed / "train.log").read_text()
    assert f"resuming pix2pix at step {at_kill}/60" in log


def test_damaged_checkpoint_is_explained(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.pt").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(CheckpointError, match="not a readable NFTGan checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        load_checkpoint(tmp_path / "empty_run")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "no_such_run")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an NFTGan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_bad_images_in_a_real_run_are_counted_not_fatal(tmp_path):
    data, run = paired(tmp_path / "data", n=8), tmp_path / "run"
    (data / "A" / "img003.png").write_bytes((data / "A" / "img003.png").read_bytes()[:200])
    (data / "B" / "img005.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert (
        train_main(
            [
                "pix2pix",
                "--data",
                str(data),
                "--out",
                str(run),
                "--steps",
                "12",
                "--batch-size",
                "2",
                "--val-fraction",
                "0",
                *TINY,
            ]
        )
        == 0
    )
    log = (run / "train.log").read_text()
    assert "skipped unreadable image #1" in log and "skipped unreadable image #2" in log
    assert "2 unreadable images skipped" in log
    assert load_checkpoint(run)["step"] == 12


def test_a_resume_on_pictures_added_or_removed_says_it_is_not_the_same_run(tmp_path, capsys):
    """The docs promise a resumed run ends with an uninterrupted run's weights; with pictures added to or taken
    from --data since the checkpoint it cannot, and the run says so (output and train.log)."""
    data = paired(tmp_path / "data", n=8)
    run = tmp_path / "run"
    common = ["--size", "32", "--ngf", "4", "--ndf", "4", "--workers", "0", "--val-fraction", "0.25"]
    assert train_main(["pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *common]) == 0
    capsys.readouterr()
    assert train_main(["--resume", str(run), "--steps", "3"]) == 0
    assert "changed" not in capsys.readouterr().out  # the same pictures: nothing to say
    for d in ("A", "B"):
        (data / d / "img000.png").unlink()
    assert train_main(["--resume", str(run), "--steps", "4"]) == 0
    out = capsys.readouterr().out
    note = "the training pictures changed since the checkpoint of step 3 (8 then, 7 now)"
    assert note in out and note in (run / "train.log").read_text(), out
    # changed again: counted against the checkpoint it goes on from, not the run's start (it said "since the
    # run started (7 then, 6 now)", when the run had started with 8)
    for d in ("A", "B"):
        (data / d / "img001.png").unlink()
    assert train_main(["--resume", str(run), "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "the training pictures changed since the checkpoint of step 4 (7 then, 6 now)" in out, out


def test_pictures_enlarged_more_than_twice_for_training_are_named(tmp_path, capsys):
    """A dataset sketchified at a small --resize (40 px pictures) trained at --size 128 (scaled to 143 px): the
    run says its pictures are enlarged more than twice and blurred, as the upscaler and sketchify say it; it
    trained on the blur in silence. Pictures at about the training size: no note."""
    data = paired(tmp_path / "data", n=4, size=40)
    common = ["--ngf", "4", "--ndf", "4", "--workers", "0", "--steps", "1"]
    rc = train_main(
        ["pix2pix", "--data", str(data), "--out", str(tmp_path / "big"), "--size", "128", *common]
    )
    out = capsys.readouterr().out
    note = "4 of 4 pictures in B/ are smaller than half of the 143 px training scales them to (--load-size)"
    assert rc == 0 and note in out and note in (tmp_path / "big" / "train.log").read_text(), out
    assert "nftgan sketchify --resize 143" in out
    rc = train_main(
        ["pix2pix", "--data", str(data), "--out", str(tmp_path / "fits"), "--size", "32", *common]
    )
    assert rc == 0 and "smaller than half" not in capsys.readouterr().out
    rc = train_main(
        ["cyclegan", "--data", str(data), "--out", str(tmp_path / "cyc"), "--size", "128", *common]
    )
    out = capsys.readouterr().out
    assert (
        rc == 0 and "4 of 4 pictures in A/ and 4 of 4 pictures in B/ are smaller than half of the 143" in out
    ), out
