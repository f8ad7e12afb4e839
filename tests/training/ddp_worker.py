"""Started by test_ddp under torchrun: trains a tiny CycleGAN with the shared trainer, then every rank
saves the weights it ended with so the test can compare them."""

import os
import sys

import torch
from nftgan.training.cyclegan import CycleGANConfig
from nftgan.training.trainer import Trainer

data, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
cfg = CycleGANConfig(
    model="cyclegan",
    data=data,
    out=out,
    size=32,
    ngf=4,
    ndf=4,
    net_g="resnet_6blocks",
    steps=6,
    batch_size=1,
    pool_size=2,
    workers=0,
    log_every=2,
    sample_every=3,
    checkpoint_every=3,
)
trainer = Trainer(cfg)
trainer.fit()
weights = {
    name: {k: v.detach().clone() for k, v in net.state_dict().items()}
    for name, net in trainer.run.raw.items()
}
torch.save({"weights": weights, "world": trainer.world}, f"{out}/rank{trainer.rank}.pt")
torch.distributed.destroy_process_group()
# ended as a torchrun worker of `nftgan train` ends, without finalization (training/cli.py says why)
sys.stdout.flush()
os._exit(0)
