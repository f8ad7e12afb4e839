"""A run folder used by one training process at a time, and a full disk while a run writes its logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from nftgan.training.checkpoint import load_checkpoint

from tests.limited_fs import run_on_small_fs

from .helpers import ROOT, TINY, paired, run_train


def _wait_for(path, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _training(data, run, *flags) -> subprocess.Popen:
    """`nftgan train pix2pix --data DATA --out RUN FLAGS` in a process of its own (one CPU thread), its stderr
    read by `_wait_for` when it ends early."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nftgan.training.cli",
            "pix2pix",
            "--data",
            str(data),
            "--out",
            str(run),
            *flags,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_folder_in_use_is_refused_to_a_second_run_and_freed_when_its_process_dies(tmp_path, capsys):
    """Two `nftgan train` into one folder at the same time (a second new run started before the first saved a
    checkpoint, or a --resume of a run that is still going) would interleave metrics.csv and write over each
    other's checkpoints: the second is refused and writes nothing. Once the first is killed (kill -9), the
    folder is free again: --resume continues it."""
    data = paired(tmp_path / "data", n=6)
    run = tmp_path / "run"
    flags = [*TINY, "--val-fraction", "0", "--sample-every", "100000", "--log-every", "1"]
    first = _training(data, run, "--steps", "100000", "--checkpoint-every", "30", *flags)
    try:
        _wait_for(run / "train.log", first)  # it holds the folder
        again = ["pix2pix", "--data", str(data), "--out", str(run), "--steps", "4", "--seed", "5", *flags]
        rc, text = run_train(again, capsys)
        assert rc == 1 and f"{run} is in use by another training run (process {first.pid})" in text, text
        _wait_for(run / "checkpoints" / "latest.pt", first)
        rc, text = run_train(["--resume", str(run), "--steps", "200000"], capsys)
        assert rc == 1 and "is in use by another training run" in text, text
        assert json.loads((run / "config.json").read_text())["seed"] == 0  # the first run's, untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, len(steps) + 1))  # one run's rows, in order
    end = load_checkpoint(run)["step"] + 2
    rc, text = run_train(["--resume", str(run), "--steps", str(end), "--workers", "0"], capsys)
    assert rc == 0, text
    assert f"stopped at step {end}/{end}" in (run / "train.log").read_text()


def test_a_run_killed_with_its_loader_workers_alive_resumes_at_once(tmp_path, capsys):
    """kill -9 of a run with data-loading workers (--workers 2 is the default): the workers live on for up to
    ~5 s (until they notice their parent is gone), and they held the run folder's lock (forked with its
    descriptor), so a --resume right away was refused as "in use by another training run (process N)", N the
    dead run. The lock is the training process's alone: the resume goes on at once."""
    data = paired(tmp_path / "data", n=6)
    run = tmp_path / "run"
    flags = [
        *TINY,
        "--val-fraction",
        "0",
        "--sample-every",
        "100000",
        "--workers",
        "2",
        "--checkpoint-every",
        "2",
    ]
    first = _training(data, run, *flags, "--steps", "100000")
    try:
        _wait_for(run / "checkpoints" / "latest.pt", first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    end = load_checkpoint(run)["step"] + 1
    rc, text = run_train(["--resume", str(run), "--steps", str(end), "--workers", "0"], capsys)
    assert rc == 0 and "in use" not in text, text


FULL = """
import os, sys
from nftgan.training.cli import main

data, run = sys.argv[1], os.path.join(FS, "run")
flags = sys.argv[2:]
sys.exit(main(["pix2pix", "--data", data, "--out", run, "--steps", "4", "--log-every", "2", *flags]))
"""


def test_a_full_disk_while_a_run_writes_its_logs_says_so(tmp_path):
    """A disk that fills up before the first checkpoint, while the run writes metrics.csv or loss.png (12 kB: a
    real tmpfs, or a file-size limit where namespaces are missing): the run ends with what happened and what to
    do, as a checkpoint that does not fit does, not with PIL's or csv's traceback."""
    data = paired(tmp_path / "data", n=4)
    flags = [*TINY, "--val-fraction", "0", "--checkpoint-every", "100", "--sample-every", "100"]
    result = run_on_small_fs(FULL, data, *flags, size="12k", timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]  # the work failed
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "error: could not write to " in result.stderr and ": the disk is full (" in result.stderr
    assert "Free some space, then start the run again (it saved no checkpoint yet)" in result.stderr


def test_a_checkpoint_that_does_not_fit_is_said_on_a_line_of_its_own(tmp_path):
    """The error of a save that does not fit (mid-run: the progress bar is drawn) starts a line: the bar is ended
    before it is said, not left with the error glued to its end and drawn again after it."""
    data = paired(tmp_path / "data", n=4)
    flags = [
        *TINY,
        "--val-fraction",
        "0",
        "--checkpoint-every",
        "3",
        "--sample-every",
        "100",
        "--log-every",
        "1",
    ]
    result = run_on_small_fs(FULL, data, *flags, size="256k", timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]  # the work failed
    before, _, after = result.stderr.partition("nftgan train: error: could not save ")
    assert after and "the disk is full" in after, result.stderr[-3000:]
    assert before.endswith("\n") and "step/s" not in after, repr(result.stderr[-2000:])


def test_paths_under_the_home_folder_are_stored_from_tilde(tmp_path, monkeypatch, capsys):
    """A run folder's config.json and its checkpoints are shared with the run (`--init RUN`, a collaborator's
    --resume): `--data ~/...` and `--out ~/...` are stored as ~/..., never as /home/NAME/..., and read back in
    full: the run resumes, repeats from its config.json and exports with its own pictures for the parity check."""
    from nftgan.export.onnx_export import domain_images
    from nftgan.training.checkpoint import build_generator

    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    data = paired(home / "datasets" / "mine", n=4)
    run = home / "runs" / "mine"
    flags = [*TINY, "--val-fraction", "0", "--log-every", "1"]
    rc, text = run_train(["pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *flags], capsys)
    assert rc == 0, text
    stored = json.loads((run / "config.json").read_text())
    assert (stored["data"], stored["out"]) == ("~/datasets/mine", "~/runs/mine")
    ckpt = load_checkpoint(run)
    assert (ckpt["config"]["data"], ckpt["config"]["out"]) == ("~/datasets/mine", "~/runs/mine")
    for f in (run / "checkpoints").iterdir():
        assert str(home).encode() not in f.read_bytes(), f
    rc, text = run_train(["--resume", str(run), "--steps", "4"], capsys)
    assert rc == 0 and "resuming pix2pix at step 2/4: 4 training" in text, text
    assert str(home).encode() not in (run / "checkpoints" / "latest.pt").read_bytes()
    again = home / "runs" / "again"
    rc, text = run_train(["pix2pix", "--config", str(run / "config.json"), "--out", str(again)], capsys)
    assert rc == 0 and "4 training" in text, text
    ckpt = load_checkpoint(run)
    calib, _ = domain_images(ckpt, build_generator(ckpt)[1], None, None)
    assert calib  # export's parity and int8 images: the run's own pictures, found from ~/datasets/mine


def test_a_run_resumed_on_other_hardware_records_each_part(tmp_path, capsys):
    """The provenance's hardware (the model card's "training" row) names what every part of the run trained on
    when a --resume changed it (--amp, --device, processes or threads), with its steps; resumed on the same
    hardware it stays one entry."""
    data = paired(tmp_path / "data", n=4)
    run = tmp_path / "run"
    flags = [*TINY, "--val-fraction", "0", "--amp", "none"]
    rc, text = run_train(["pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *flags], capsys)
    assert rc == 0, text
    fp32 = load_checkpoint(run)["provenance"]["hardware"]
    assert fp32.endswith(", fp32") and "steps" not in fp32
    rc, text = run_train(["--resume", str(run), "--steps", "3"], capsys)
    assert rc == 0 and load_checkpoint(run)["provenance"]["hardware"] == fp32, text
    rc, text = run_train(["--resume", str(run), "--steps", "5", "--amp", "bf16"], capsys)
    assert rc == 0, text
    bf16 = fp32.replace(", fp32", ", bf16 autocast")
    assert load_checkpoint(run)["provenance"]["hardware"] == f"{fp32} (steps 0-3); {bf16} (steps 3-5)"


def test_a_run_resumed_with_another_thread_count_says_it_goes_on_not_bit_for_bit(tmp_path, capsys):
    """On a CPU the thread count changes float sums (oneDNN splits its reductions by thread): a run started
    with OMP_NUM_THREADS=1 and resumed with every core does not end with an uninterrupted run's weights (seen:
    102 of 138 tensors differ after 50 steps). The resume says so and how to keep it exact; with the run's own
    thread count it says nothing."""
    import torch

    data = paired(tmp_path / "data", n=4)
    run = tmp_path / "run"
    flags = [*TINY, "--val-fraction", "0", "--amp", "none"]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        rc, text = run_train(
            ["pix2pix", "--data", str(data), "--out", str(run), "--steps", "2", *flags], capsys
        )
        assert rc == 0, text
        rc, text = run_train(["--resume", str(run), "--steps", "3"], capsys)
        assert rc == 0 and "thread" not in text.split("\n", 1)[1], text
        torch.set_num_threads(2)
        rc, text = run_train(["--resume", str(run), "--steps", "4"], capsys)
    finally:
        torch.set_num_threads(threads)
    assert rc == 0, text
    note = (
        "note: this run trained on 1 CPU thread and goes on with 2: it goes on from its checkpoint, but not "
    )
    assert note in text and "OMP_NUM_THREADS=1" in text, text
    assert note in (run / "train.log").read_text()
