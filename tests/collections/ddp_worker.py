"""Started by test_gan_ddp under torchrun (gloo, CPU): one WGAN-GP critic update with the gradient penalty
(a double backward) through DistributedDataParallel, each rank on its half of a fixed batch. Saves the
updated critic weights and, on rank 0, those of the same update on the whole batch without DDP."""

import os
import sys

import torch
import torch.distributed as dist
from nftgan.training.gan import Discriminator, critic_loss

out = sys.argv[1]
torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()


def critic():
    torch.manual_seed(0)
    return Discriminator(32, ndf=4, norm="layer")


gen = torch.Generator().manual_seed(1)
real, fake = torch.randn(4, 3, 32, 32, generator=gen), torch.randn(4, 3, 32, 32, generator=gen)


def update(net, real, fake, seed):
    torch.manual_seed(seed)  # the interpolation weights alpha
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss, _, _ = critic_loss(net, real, fake, 10.0)
    opt.zero_grad()
    loss.backward()
    opt.step()


ddp = torch.nn.parallel.DistributedDataParallel(critic())
half = slice(2 * rank, 2 * rank + 2)
torch.manual_seed(0)
alphas = torch.rand(4, 1, 1, 1)
# the same alpha per sample as the whole-batch reference: draw them once, hand each rank its half
orig_rand = torch.rand
torch.rand = lambda *a, **k: alphas[half].clone()
update(ddp, real[half], fake[half], 0)
result = {"ddp": {k: v.clone() for k, v in ddp.module.state_dict().items()}}
if rank == 0:
    torch.rand = lambda *a, **k: alphas.clone()
    ref = critic()
    update(ref, real, fake, 0)
    result["reference"] = ref.state_dict()
torch.rand = orig_rand
torch.save(result, f"{out}/rank{rank}.pt")
dist.destroy_process_group()
# ended as a torchrun worker of `nftgan train` ends, without finalization (training/cli.py says why)
sys.stdout.flush()
os._exit(0)
