"""The WGAN-GP critic update (gradient penalty: a double backward) under DistributedDataParallel with two
CPU processes (gloo): both ranks end identical, and equal to the same update on the whole batch.

(The GAN kinds' generators use batch norm, which DDP synchronises only on GPUs (SyncBatchNorm); the
trainer refuses several CPU processes for them, so the full DDP run needs CUDA.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nftgan.training.gan import Discriminator

from ..training.helpers import torchrun


@pytest.mark.slow
def test_gradient_penalty_through_ddp_matches_the_whole_batch(tmp_path):
    torchrun(str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k, v in r0["ddp"].items():
        assert torch.equal(v, r1["ddp"][k]), f"{k} differs between ranks"
        assert torch.allclose(v, r0["reference"][k], atol=1e-6), (
            f"{k}: DDP update differs from the whole batch"
        )
    torch.manual_seed(0)
    init = Discriminator(32, ndf=4, norm="layer").state_dict()
    assert any(not torch.equal(init[k], r0["ddp"][k]) for k in init)  # the update moved the critic
