"""Checkpoints on a full disk, for real (a tiny tmpfs, tests/limited_fs.py): a save that does not fit is a
clear CheckpointError and leaves no temp file behind, so the disk is not kept full and the next save (a
--resume) succeeds; temp files a killed process left are removed before the next save."""

from __future__ import annotations

import json

from tests.limited_fs import run_on_small_fs

SCRIPT = """
import json, os, subprocess, sys
import torch
from nftgan.training.checkpoint import CheckpointError, save_checkpoint

run = os.path.join(FS, "run")
folder = os.path.join(run, "checkpoints")


def ckpt(step, mb):
    return {"format": "nftgan-checkpoint/1", "step": step, "nets": {"g": {"w": torch.zeros(mb * 262144)}}}


def files():
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


report = {}
save_checkpoint(ckpt(1, 1), run)  # 1 MB: fits
try:
    save_checkpoint(ckpt(2, 3), run)  # 3 MB more: does not fit in 4 MB
    report["big"] = "saved"
except CheckpointError as exc:
    report["big"] = str(exc)
report["after_failure"] = files()
dead = subprocess.Popen(["true"])
dead.wait()
with open(os.path.join(folder, f".step_0000009.pt.tmp{dead.pid}"), "wb") as fh:  # a killed save's leftover
    fh.write(b"x" * 1_500_000)
save_checkpoint(ckpt(3, 1), run)  # the resume's next save: fits once the leftovers are gone
report["after_resume"] = files()
print(json.dumps(report))
"""


def test_a_checkpoint_that_does_not_fit_leaves_nothing_behind_and_resume_can_save():
    result = run_on_small_fs(SCRIPT, size="4m")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert "the disk is full" in report["big"] and "step_0000002.pt" in report["big"], report["big"]
    assert "continue with --resume" in report["big"] and "latest.pt" in report["big"], report["big"]
    assert report["after_failure"] == ["latest.pt", "step_0000001.pt"]  # no temp file keeps the disk full
    assert report["after_resume"] == ["latest.pt", "step_0000001.pt", "step_0000003.pt"]


RESUME = """
import os, subprocess, sys
from nftgan.training.cli import main

data, run = sys.argv[1], os.path.join(FS, "run")
tiny = ["--size", "32", "--ngf", "8", "--ndf", "8", "--workers", "0", "--log-every", "2", "--batch-size", "2"]
assert main(["pix2pix", "--data", data, "--out", run, "--steps", "2", "--val-fraction", "0", *tiny]) == 0
dead = subprocess.Popen(["true"])
dead.wait()
try:  # a save killed mid-write left a temp file that fills the disk
    with open(os.path.join(run, "checkpoints", f".step_0000003.pt.tmp{dead.pid}"), "wb") as fh:
        while True:
            fh.write(b"x" * 65536)
except OSError:
    pass
sys.exit(main(["pix2pix", "--resume", run, "--steps", "4", *tiny]))
"""


def test_resume_frees_the_space_a_killed_save_left_before_it_writes_anything(tmp_path):
    from .helpers import paired

    data = paired(tmp_path / "data", n=4)
    result = run_on_small_fs(RESUME, data, size="8m", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


FIRST = """
import json, os
import torch
from nftgan.training.checkpoint import CheckpointError, save_checkpoint

try:
    save_checkpoint({"format": "nftgan-checkpoint/1", "step": 5, "nets": {"g": {"w": torch.zeros(524288)}}}, FS)
    print(json.dumps("saved"))
except CheckpointError as exc:
    print(json.dumps(str(exc)))
"""


def test_a_first_checkpoint_that_does_not_fit_says_to_start_again_not_to_resume():
    """No checkpoint saved yet: --resume would find none, so the message says to start the run again."""
    result = run_on_small_fs(FIRST, size="1m")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout.splitlines()[-1])
    assert "the disk is full" in message and "start the run again" in message, message
    assert "--resume" not in message and "saved no checkpoint yet" in message, message
