"""DDP with two CPU processes (gloo) under torchrun: both ranks end with identical weights."""

from __future__ import annotations

import pytest
import torch
from nftgan.training.checkpoint import config_of, load_checkpoint
from nftgan.training.kinds import get_kind
from nftgan.training.trainer import _seed

from .helpers import ROOT, torchrun, unpaired


@pytest.mark.slow
def test_two_process_ddp_ends_with_identical_weights(tmp_path):
    data, out = unpaired(tmp_path / "data", n=8), tmp_path / "run"
    out.mkdir()
    torchrun(str(ROOT / "tests" / "training" / "ddp_worker.py"), str(data), str(out))
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    for name in r0["weights"]:
        for k, v in r0["weights"][name].items():
            assert torch.equal(v, r1["weights"][name][k]), f"{name}.{k} differs between ranks"
    ck = load_checkpoint(out)  # written by rank 0 only, with both ranks' RNG states and pools
    assert ck["step"] == 6 and len(ck["rng"]) == 2 and len(ck["pools"]) == 2
    assert not torch.equal(ck["rng"][0]["torch"], ck["rng"][1]["torch"])  # ranks draw different randomness
    for name, sd in ck["nets"].items():
        for k, v in sd.items():
            assert torch.equal(v, r0["weights"][name][k])
    assert (out / "metrics.csv").read_text().count("\n") == 4  # header + steps 2, 4, 6, from rank 0 only
    _seed(0)  # the initial weights (same seed as the run): training moved them
    init = get_kind("cyclegan").build_nets(config_of(ck))
    assert not torch.equal(init["G_A"].state_dict()["model.1.weight"], r0["weights"]["G_A"]["model.1.weight"])


@pytest.mark.slow
def test_nftgan_train_under_torchrun_exits_zero_with_its_checkpoint(tmp_path):
    """The documented many-process command, `torchrun -m nftgan.training.cli`, on two CPU processes: each worker
    ends in training/cli.py's __main__ without the interpreter's finalization (where gloo's threads could abort
    it after the run was saved), torchrun reports success, and rank 0 wrote the last checkpoint."""
    data, out = unpaired(tmp_path / "data", n=8), tmp_path / "run"
    args = "--size 32 --ngf 4 --ndf 4 --net-g resnet_6blocks --steps 2 --batch-size 1 --workers 0".split()
    proc = torchrun("-m", "nftgan.training.cli", "cyclegan", "--data", str(data), "--out", str(out), *args)
    assert "terminate called" not in proc.stderr
    ck = load_checkpoint(out)
    assert ck["step"] == 2 and len(ck["rng"]) == 2
