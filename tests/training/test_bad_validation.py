"""A validation image that cannot be read is skipped like a training image: training goes on (issue 13:
when the only validation image was corrupt, training aborted at the first sample step)."""

from __future__ import annotations

from nftgan.training.checkpoint import load_checkpoint
from nftgan.training.cli import main as train_main
from nftgan.training.data import split_indices, split_name

from .helpers import TINY, paired


def test_a_corrupt_only_validation_image_is_skipped_and_training_goes_on(tmp_path):
    data, run = paired(tmp_path / "data", n=4), tmp_path / "run"
    names = sorted(p.name for p in (data / "A").iterdir())
    _, val = split_indices([split_name(str(data / "A" / n)) for n in names], 0.01)
    assert len(val) == 1  # the one validation image the split holds out
    bad = data / "A" / names[val[0]]
    bad.write_bytes(bad.read_bytes()[:100])  # cut short
    args = ["pix2pix", "--data", str(data), "--out", str(run), "--steps", "4", "--batch-size", "2"]
    assert train_main([*args, "--val-fraction", "0.01", "--sample-every", "2", *TINY]) == 0
    assert load_checkpoint(run)["step"] == 4
    log = (run / "train.log").read_text()
    assert f"validation image {bad.name}" in log or str(bad) in log, log
    assert "no readable validation image" in log and "validation metrics skipped" in log
