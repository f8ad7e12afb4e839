"""The shared training loop for every model kind (see `training.kinds` for the plug-in API).

`train(cfg)` runs a kind's `train_step` for `cfg.steps` steps and owns: seeding, data loading
(resumable `DistributedSampler`, per-sample seeds), Adam + constant-then-linear-decay schedules,
atomic full-state checkpoints, exact `resume`, metrics.csv / loss.png / sample grids / tqdm /
TensorBoard, validation, DDP (started by torchrun: env WORLD_SIZE/RANK/LOCAL_RANK), SyncBatchNorm,
bf16 autocast and channels-last.

Exact resume: a checkpoint holds every process's RNG states and kind state (image pools), the
optimizer and scheduler states and the step; data order and augmentation depend only on (seed,
epoch, position). So N steps straight and N/2 steps + kill + resume give identical weights (CPU;
on CUDA also pass --deterministic). Resuming with a different number of processes continues
correctly but not bit-identically.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from nftgan.core.files import not_a_folder, os_error_message
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint as ckpt_io
from .blocks import sync_norms
from .config import ON_RESUME, TrainConfig
from .data import DataError, StepSampler, collate, from_worker
from .errors import ConfigError
from .initfrom import apply_init, load_init
from .kinds import ModelKind, get_kind
from .report import MetricsCSV, save_grid, tensorboard_writer, write_loss_png

INIT_AND_RESUME = (
    "--init starts a new run from another model's generator; --resume continues a run from its own "
    "checkpoint, which already holds its weights (a run started with --init keeps that record). Pass one: "
    "to fine-tune a finished run into a new one, --init RUN_DIR --out NEW_RUN_DIR"
)
VAL_IMAGES_MAX = 256  # validation metrics over at most this many held-out images
GRID_IMAGES = 4


def lr_factor(cfg: TrainConfig):
    """Constant for the first `decay_from` of the steps, then linear to 0 at the last step. `factor(s)`
    scales the base rate for step s + 1 (LambdaLR after s scheduler steps)."""
    constant = int(cfg.steps * cfg.decay_from)
    decay = max(1, cfg.steps - constant)

    def factor(step: int) -> float:
        return 1.0 - max(0, step - constant) / decay

    return factor


def schedule_change(old: TrainConfig, new: TrainConfig, step: int, base_lr: float) -> str:
    """What resuming at `step` with new.steps instead of old.steps does to the learning rate: the schedule is
    recomputed for the new length (as if the run had been started with it), so the rate jumps to the new
    schedule's value at `step`."""
    sched = lambda c: f"constant to step {int(c.steps * c.decay_from)}, then linear to 0 at step {c.steps}"
    before, after = lr_factor(old)(step), lr_factor(new)(step)
    rate = lambda f: f"{f:.0%} of the base rate ({base_lr * f:.3g})"
    text = (
        f"--steps {old.steps} -> {new.steps}: the learning-rate schedule is recomputed for {new.steps} steps: "
        f"{sched(new)} (it was {sched(old)}). "
    )
    if abs(after - before) < 1e-12:
        return text + f"At step {step} the rate stays at {rate(after)}."
    text += f"At step {step} the rate goes from {rate(before)} to {rate(after)}"
    if after > before:
        return text + ": it goes back up, so the next steps change the weights more than the last ones did."
    return text + "."


class Run:
    """What a kind's `train_step` sees. See `training.kinds`."""

    def __init__(self, cfg: TrainConfig, kind: ModelKind, device: torch.device, rank: int, world_size: int):
        self.cfg, self.kind, self.device, self.rank, self.world_size = cfg, kind, device, rank, world_size
        self.step = 0
        self.raw: dict[str, nn.Module] = {}
        self.nets: dict[str, nn.Module] = {}
        self.opt: dict[str, torch.optim.Optimizer] = {}
        self.sched: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.state: dict = {}
        self.bf16 = use_bf16(cfg.amp, device, kind.auto_bf16)  # the trainer turns it off while it validates

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def requires_grad(self, names, flag: bool) -> None:
        for name in names:
            for p in self.raw[name].parameters():
                p.requires_grad_(flag)

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        if self.cfg.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = (
            "nccl" if torch.cuda.is_available() and os.environ.get("NFTGAN_DDP_BACKEND") != "gloo" else "gloo"
        )
        dist.init_process_group(backend)
    if world > 1:
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 in hardware (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )


def use_bf16(amp: str, device: torch.device, auto: bool = True) -> bool:
    """--amp resolved for this device. `auto` (a kind's `auto_bf16`): bf16 where the hardware computes it natively.
    On 2 AVX512-BF16 cores bf16 autocast makes a CycleGAN step ~2x faster than fp32 at the same held-out L1
    (docs/benchmarks.md "Training step"); channels-last is slower there, so it stays off."""
    if amp == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise ConfigError("--amp bf16: this GPU does not support bfloat16 (use --amp none)")
    return amp == "bf16" or (amp == "auto" and auto and native_bf16(device))


def check_device(device: str) -> str:
    """The torch device `--device DEVICE` names ("auto": cuda when available, else cpu), or a ConfigError
    in one line where torch does not know the name or this PyTorch cannot run it (train and eval)."""
    name = device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(name).type
    except RuntimeError:  # torch's message lists 20 device types, most of which need a build of their own
        raise ConfigError(f"--device {device}: not a device name; use auto, cpu, cuda or cuda:N") from None
    backend = getattr(torch, kind, None)  # torch.mps, torch.xpu ...: a type this build may not run
    if kind not in ("cpu", "cuda") and not (backend is not None and backend.is_available()):
        raise ConfigError(f"--device {device}: this PyTorch has no {kind} device (use --device cpu)")
    count = torch.cuda.device_count() if kind == "cuda" and torch.cuda.is_available() else 0
    if kind == "cuda" and not count:
        raise ConfigError(f"--device {device}: this PyTorch sees no CUDA GPU (use --device cpu)")
    if kind == "cuda" and (torch.device(name).index or 0) >= count:  # (else set_device's traceback)
        which = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise ConfigError(
            f"--device {device}: this computer has {count} CUDA GPU{'s' * (count > 1)} ({which})"
        )
    return name


def _device(cfg: TrainConfig, local_rank: int, world: int) -> torch.device:
    dev = torch.device(check_device(cfg.device))
    if dev.type == "cuda":
        if world > 1:
            dev = torch.device(f"cuda:{local_rank}")
        torch.cuda.set_device(dev)
    use_bf16(cfg.amp, dev)  # a clear error before any work
    if dev.type == "cpu" and world > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return dev


def _rng_state(device: torch.device) -> dict:
    _kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached": cached,
        },
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _gather(obj, world: int) -> list:
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _hardware(device: torch.device, world: int, bf16: bool) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    name += ", bf16 autocast" if bf16 else ", fp32"
    return f"{world} x {name}" if world > 1 else name


def _cpu_threads(hardware: str) -> int | None:
    """The CPU thread count a `_hardware` text names (None for a GPU, or several processes)."""
    found = re.fullmatch(r"CPU \(.*, (\d+) threads\), .*", hardware)
    return int(found.group(1)) if found else None


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: str | None = None, init: str | None = None):
        self.kind = get_kind(cfg.model)
        if resume and init:
            raise ConfigError(INIT_AND_RESUME)
        self.resume_ckpt = ckpt_io.load_checkpoint(resume) if resume else None
        if self.resume_ckpt is not None:
            stored = self.kind.config_class.from_dict(self.resume_ckpt["config"])
            # the run lives where it is now (a moved run folder goes on in its new place)
            cfg = stored.replace(out=cfg.out or stored.out, **{k: getattr(cfg, k) for k in ON_RESUME})
        self.kind.check_config(cfg)
        need = self.kind.needs_init(cfg) if self.resume_ckpt is None and not init else ""
        if need:
            raise ConfigError(need)
        if not cfg.out:
            raise ConfigError("no run folder given: pass --out RUN_DIR")
        if blocked := not_a_folder("--out", cfg.out):  # before the data is read
            raise ckpt_io.RunFolderError(blocked)
        # --init: the generator weights, read and checked before anything is written (training.initfrom)
        self.init = load_init(init, self.kind, cfg) if init else None
        if self.resume_ckpt is None:  # a new run records what it starts from (and nothing when from scratch)
            cfg = cfg.replace(init_from=self.init.record if self.init else "")
        self.cfg = cfg
        self._tb = None
        if cfg.tensorboard:
            tensorboard_writer(None)  # installed? (says how to install it before any work)
        self.out = Path(cfg.out)
        rank, world, local_rank = _distributed()
        self.rank, self.world = rank, world
        device = _device(cfg, local_rank, world)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            if device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.run = run = Run(cfg, self.kind, device, rank, world)
        self.train_ds, self.val_ds, self.layout = self.kind.datasets(cfg)
        if len(self.train_ds) == 0:
            raise DataError(f"{cfg.data}: no training images after holding out validation images")
        _seed(cfg.seed)  # identical initial weights on every process
        # weights that will replace the built ones (what a kind would otherwise take from the data: its own)
        states = self.resume_ckpt["nets"] if self.resume_ckpt else self.init.nets if self.init else None
        nets = self.kind.build_nets_for(cfg, states) if states else self.kind.build_nets(cfg)
        run.raw = {k: v.to(device) for k, v in nets.items()}
        if self.init is not None:
            apply_init(run.raw, self.init)
        if world > 1 and cfg.norm == "batch":
            if device.type != "cuda":
                raise ConfigError(
                    "--norm batch with several CPU processes: PyTorch synchronises batch norm only "
                    "on GPUs (SyncBatchNorm); use --norm instance (the default) on CPUs"
                )
            run.raw = {k: sync_norms(v) for k, v in run.raw.items()}
        if cfg.channels_last:
            run.raw = {k: v.to(memory_format=torch.channels_last) for k, v in run.raw.items()}
        groups = self.kind.optimizer_groups(cfg)
        trained = {n for names in groups.values() for n in names}
        run.nets = {}
        for name, net in run.raw.items():
            if world > 1 and name in trained:
                ids = [device.index] if device.type == "cuda" else None
                run.nets[name] = nn.parallel.DistributedDataParallel(net, device_ids=ids)
            else:
                run.nets[name] = net
        # fused Adam: one kernel over all parameters (CPU and CUDA). On this project's CPUs it is 6x faster than
        # foreach and 9x faster than the per-tensor loop PyTorch picks for CPU by default (54M-parameter U-Net).
        for group, names in groups.items():
            # (parameters a kind froze when it built them, e.g. pix2pix --head-only's U-Net, are not trained)
            params = [p for n in names for p in run.raw[n].parameters() if p.requires_grad]
            run.opt[group] = torch.optim.Adam(params, **self.kind.adam(cfg, group), fused=True)
            run.sched[group] = torch.optim.lr_scheduler.LambdaLR(run.opt[group], lr_factor(cfg))
        _seed(cfg.seed * 7919 + rank + 1)  # training randomness (dropout, pools) differs per process
        run.state = self.kind.new_state(cfg, device)
        self.seconds = 0.0
        self._hardware_stages: list = []  # [hardware, first step] of each part of a resumed run (_restore)
        self._first_step = 0
        self._lock: int | None = None  # the run folder's lock, held while fit() runs (rank 0)
        self.val_metrics: dict[str, float] = {}
        self.skipped: set[str] = set()
        self._val_readable: bool | None = (
            None  # any held-out image readable? (checked at the first validation)
        )
        if self.resume_ckpt is not None:
            self._restore(self.resume_ckpt)
        self.csv = MetricsCSV(str(self.out / "metrics.csv"), [*self.kind.loss_names, *self.kind.val_names])

    # ---- state ----------------------------------------------------------------------------------------
    def _restore(self, ck: dict) -> None:
        run = self.run
        for name, net in run.raw.items():
            if name in ck["nets"]:
                ckpt_io.load_net(net, ck["nets"][name], name)
        for group, opt in run.opt.items():
            opt.load_state_dict(ck["optimizers"][group])
        for group, sched in run.sched.items():
            sched.load_state_dict(ck["schedulers"][group])
        run.step = int(ck["step"])
        if run.step and self.cfg.steps != ck["config"]["steps"]:
            for group, sched in run.sched.items():  # a new length: the schedule follows the new step count
                for pg, base in zip(run.opt[group].param_groups, sched.base_lrs):
                    pg["lr"] = base * lr_factor(self.cfg)(run.step)
        rngs, pools = ck.get("rng") or [], ck.get("pools") or []
        if self.rank < len(rngs) and len(rngs) == self.world:
            _set_rng_state(rngs[self.rank], run.device)
            run.state = _state_to(pools[self.rank], run.device) if self.rank < len(pools) else run.state
        prov = ck.get("provenance") or {}
        self._hardware_stages = prov.get("hardware_stages") or (
            [[prov["hardware"], 0]] if prov.get("hardware") else []
        )
        self._first_step = run.step
        self.seconds = float(prov.get("seconds", 0.0))
        self.val_metrics = dict(prov.get("val_metrics") or {})

    def _checkpoint(self) -> Path | None:
        run = self.run
        rngs = _gather(_rng_state(run.device), self.world)
        pools = _gather(_state_to(run.state, torch.device("cpu")), self.world)
        path = None
        if self.rank == 0:
            saved = self.kind.nets_to_save or tuple(run.raw)
            ck = {
                "format": ckpt_io.FORMAT,
                "model": self.kind.name,
                "config": self.cfg.to_dict(),
                "step": run.step,
                "epoch": run.step // self.steps_per_epoch,
                "nets": {n: {k: v.detach().cpu() for k, v in run.raw[n].state_dict().items()} for n in saved},
                "optimizers": {g: o.state_dict() for g, o in run.opt.items()},
                "schedulers": {g: s.state_dict() for g, s in run.sched.items()},
                "rng": rngs,
                "pools": pools,
                "provenance": self.provenance(),
            }
            path = ckpt_io.save_checkpoint(ck, self.out, keep=self.cfg.keep_checkpoints)
        if self.world > 1:
            dist.barrier()
        return path

    def provenance(self) -> dict:
        n_images = self.kind.image_count(self.train_ds, self.val_ds)
        return {
            "dataset": os.path.basename(os.path.normpath(self.cfg.data)),
            "images": n_images,
            "steps": self.run.step,
            "val_metrics": dict(self.val_metrics),
            **self._hardware_record(),
            "seconds": round(self.seconds, 1),
            **({"init_from": self.cfg.init_from} if self.cfg.init_from else {}),
            **({"stage": stage} if (stage := self.kind.stage(self.cfg)) else {}),
        }

    def _hardware_record(self) -> dict:
        """The provenance's hardware: what this process trains on, and, when a --resume changed it (--amp,
        --device, processes or threads), what each part of the run trained on: "A (steps 0-3); B (steps 3-5)",
        with the parts as a list (hardware_stages) for the next resume."""
        now = _hardware(self.run.device, self.world, self.run.bf16)
        stages = list(self._hardware_stages)
        if not stages or stages[-1][0] != now:
            stages.append([now, self._first_step])
        if len(stages) == 1:
            return {"hardware": now}
        ends = [step for _, step in stages[1:]] + [self.run.step]
        text = "; ".join(f"{hw} (steps {start}-{end})" for (hw, start), end in zip(stages, ends))
        return {"hardware": text, "hardware_stages": stages}

    # ---- logging --------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.rank != 0:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.out / "train.log", "a") as fh:
            fh.write(f"{stamp} {msg}\n")
        from tqdm import tqdm

        tqdm.write(msg)

    def _validate_and_sample(self) -> None:
        run = self.run
        for net in run.raw.values():
            net.eval()
        bf16, run.bf16 = run.bf16, False  # validate and sample in fp32, as the exported model runs
        totals: dict[str, float] = {}
        count = 0
        n_val = min(len(self.val_ds), VAL_IMAGES_MAX) if self._validation_readable() else 0
        with torch.no_grad():
            if self.kind.val_names:
                bs = max(1, self.cfg.batch_size)
                for start in range(0, n_val, bs):
                    batch = self._batch(
                        collate([self.val_ds[i] for i in range(start, min(n_val, start + bs))])
                    )
                    n = batch["A"].shape[0] if "A" in batch else bs
                    for k, v in self.kind.validate(run, batch).items():
                        totals[k] = totals.get(k, 0.0) + float(v) * n
                    count += n
            held = min(len(self.val_ds), GRID_IMAGES) if self._validation_readable() else 0
            items = [self.val_ds[i] for i in range(held)]
            row_labels = None
            if self.kind.held_out_images:  # too few (readable) held-out images: training ones fill the grid
                seen = min(len(self.train_ds), GRID_IMAGES - held)
                items += [self.train_ds[(i, 0)] for i in range(seen)]  # (i, 0): not jittered
                row_labels = [f"held out {i + 1}" for i in range(held)]
                row_labels += [f"training {i + 1}" for i in range(seen)]
            grid = self._batch(collate(items))
            labels, rows = self.kind.sample_rows(run, grid)
        for net in run.raw.values():
            net.train()
        run.bf16 = bf16
        if count:
            self.val_metrics = {k: v / count for k, v in totals.items()}
        (self.out / "samples").mkdir(exist_ok=True)
        title = f"step {run.step}"
        if row_labels and not all(r.startswith("held out") for r in row_labels):
            title += (
                ": too few held-out images, so training images (which the model learns from) fill the grid"
            )
        img = save_grid(
            labels, rows, str(self.out / "samples" / f"step_{run.step:07d}.png"), row_labels, title
        )
        if self._tb is not None:
            self._tb.add_image("samples", np.asarray(img), run.step, dataformats="HWC")

    def _validation_readable(self) -> bool:
        """Whether any held-out image can be read (checked once). Unreadable ones are skipped like
        training images (the next one stands in); with none readable, validation metrics are skipped
        and the samples show training images, as with no held-out images, and training goes on."""
        if self._val_readable is None:
            try:
                self._val_readable = len(self.val_ds) > 0 and bool(self.val_ds[0])
            except DataError as exc:
                self._val_readable = False
                self.log(
                    f"no readable validation image ({exc}): validation metrics skipped, "
                    "samples show training images"
                )
        return self._val_readable

    def _batch(self, batch: dict) -> dict:
        new = [s for s in batch.pop("skipped") if s not in self.skipped]
        for s in new:
            self.skipped.add(s)
            self.log(f"skipped unreadable image #{len(self.skipped)}: {s}")
        return {k: self.run.to_device(v) if torch.is_tensor(v) else v for k, v in batch.items()}

    # ---- the loop -------------------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> Path | None:
        """Train to cfg.steps (or stop, with a checkpoint, after `stop_at` steps: used by tests)."""
        run = self.run
        self._end = min(self.cfg.steps, stop_at) if stop_at else self.cfg.steps
        try:
            sampler, loader = self._start()
            last = None
            while run.step < self._end:
                sampler.set_epoch(run.step // self.steps_per_epoch)
                sampler.start_batch = run.step % self.steps_per_epoch
                for batch in loader:
                    self._train_step(batch)
                    self._maybe_validate()
                    self._maybe_log()
                    last = self._maybe_checkpoint() or last
                    if run.step >= self._end:
                        break
            self._stop(last)
        except DataError as exc:
            raise from_worker(exc) from None
        except OSError as exc:
            # metrics.csv, loss.png, a sample grid, train.log (a checkpoint that does not fit says so itself)
            if not ckpt_io.disk_full(exc):
                raise
            saved = (self.out / "checkpoints" / ckpt_io.LATEST).is_file()
            then = (
                f"continue with --resume {self.out} (from its last checkpoint)"
                if saved
                else "start the run again (it saved no checkpoint yet)"
            )
            raise ckpt_io.RunFolderError(
                f"could not write to {self.out}: the disk is full ({exc.strerror or exc}). Free some space, "
                f"then {then}"
            ) from None
        finally:
            # the bar ends its line, so an error is said on a line of its own
            if getattr(self, "_bar", None) is not None:
                self._bar.close()
            ckpt_io.unlock_run(self._lock)
            self._lock = None
        return last

    def _start(self) -> tuple[StepSampler, DataLoader]:
        """Check the data fills a batch, start the run folder's logs, and make the sampler and loader."""
        from tqdm import tqdm

        cfg, run = self.cfg, self.run
        sampler = StepSampler(self.train_ds, self.world, self.rank, cfg.seed, cfg.batch_size)
        self.steps_per_epoch = sampler.batches_per_epoch
        if self.steps_per_epoch == 0:  # said before the run folder is made: nothing is written
            raise DataError(
                f"{cfg.data}: {len(self.train_ds)} training images are fewer than one batch "
                f"({cfg.batch_size} x {self.world} processes); lower --batch-size or add images"
            )
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only disk, no permission
            raise ckpt_io.RunFolderError(os_error_message(exc, f"making the run folder {self.out}")) from None
        if self.rank == 0:  # one training process at a time writes into a run folder
            self._lock = ckpt_io.lock_run(self.out)
        if (
            self.rank == 0 and os.name != "nt"
        ):  # a save killed or cut short by a full disk: free its space first
            ckpt_io.remove_temp_files(self.out)
        self._rows = self._start_logs() if self.rank == 0 else []
        if self.rank == 0 and cfg.tensorboard:
            # resumed: drop what a killed run logged after its checkpoint (as metrics.csv does)
            self._tb = tensorboard_writer(str(self.out / "tensorboard"), purge_step=run.step + 1)
        loader = DataLoader(
            self.train_ds,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.workers,
            collate_fn=collate,
            drop_last=True,
            generator=torch.Generator().manual_seed(cfg.seed),  # keeps DataLoader off the global RNG
            pin_memory=run.device.type == "cuda",
            persistent_workers=False,
        )
        self._sums: dict[str, torch.Tensor] = {}
        self._n_sum = 0
        self._bar = tqdm(
            total=cfg.steps,
            initial=run.step,
            disable=self.rank != 0,
            unit="step",
            dynamic_ncols=True,
            desc=self.kind.name,
        )
        self._t0 = time.perf_counter()
        return sampler, loader

    def _start_logs(self) -> list[dict]:
        """config.json for a new run, metrics.csv cut back to the resumed step; the metrics rows so far."""
        cfg, run, lay = self.cfg, self.run, self.layout
        if self.resume_ckpt is None:
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
            rows = self.csv.truncate_after(-1)
        else:
            rows = self.csv.truncate_after(run.step)
        left = lay.unmatched
        left = f", {left} unmatched file{'s' if left > 1 else ''} left out" if left else ""
        self.log(
            f"{'resuming' if self.resume_ckpt else 'training'} {self.kind.name} at step {run.step}/"
            f"{cfg.steps}: {len(self.train_ds)} training + "
            f"{self.kind.image_count(self.train_ds, self.val_ds) - len(self.train_ds)} validation images "
            f"({lay.kind}{left}) "
            f"on {_hardware(run.device, self.world, run.bf16)}"
        )
        for note in lay.notes:
            self.log(note)
        then = (self.resume_ckpt or {}).get("provenance", {}).get("images")
        now = self.kind.image_count(self.train_ds, self.val_ds)
        if isinstance(then, int) and then != now:
            self.log(
                f"note: the training pictures changed since the checkpoint of step {run.step} ({then} then, {now} "
                "now): it goes on "
                "with them as they are, so it will not end with the weights an uninterrupted run would have had"
            )
        if self.resume_ckpt is not None and self._hardware_stages:
            then, now = (
                _cpu_threads(self._hardware_stages[-1][0]),
                _cpu_threads(_hardware(run.device, self.world, run.bf16)),
            )
            if then and now and then != now:  # float sums on a CPU depend on how many threads share them
                self.log(
                    f"note: this run trained on {then} CPU thread{'s' if then > 1 else ''} and goes on with {now}: "
                    "it goes on from its checkpoint, but not bit for bit like an uninterrupted run; for that, "
                    f"resume it with OMP_NUM_THREADS={then}"
                )
        if self.init is not None:
            nets = ", ".join(self.init.nets)
            self.log(f"{nets} start{'s' if len(self.init.nets) == 1 else ''} from {self.init.record}")
            for note in self.init.notes:
                self.log(note)
        if stage := self.kind.stage(cfg):
            self.log(f"training the {stage}")
        if self.resume_ckpt is not None and run.step and cfg.steps != self.resume_ckpt["config"]["steps"]:
            old = self.kind.config_class.from_dict(self.resume_ckpt["config"])
            base = next(iter(run.sched.values())).base_lrs[0]
            self.log(schedule_change(old, cfg, run.step, base))
        return rows

    def _train_step(self, batch: dict) -> None:
        """One optimisation step of the kind, the learning-rate schedules, and the running loss sums."""
        run = self.run
        losses = self.kind.train_step(run, self._batch(batch))
        for sched in run.sched.values():
            sched.step()
        run.step += 1
        for k, v in losses.items():
            v = v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._n_sum += 1
        self._bar.update(1)

    def _due(self, every: int) -> bool:
        return self.run.step % every == 0 or self.run.step >= self._end

    def _tick(self) -> None:
        """Add the time since the last tick to the training seconds (the provenance's `seconds`)."""
        now = time.perf_counter()
        self.seconds += now - self._t0
        self._t0 = now

    def _maybe_validate(self) -> None:
        if self._due(self.cfg.sample_every):
            self._tick()
            if self.rank == 0:
                self._validate_and_sample()

    def _maybe_log(self) -> None:
        if self._due(self.cfg.log_every):
            self._tick()
            means = self._mean_losses()
            if self.rank == 0:
                self._log_metrics(means)

    def _maybe_checkpoint(self) -> Path | None:
        if self._due(self.cfg.checkpoint_every):
            self._tick()
            return self._checkpoint()
        return None

    def _mean_losses(self) -> dict[str, float]:
        """Each loss averaged over the steps since the last log line (and over the processes)."""
        means = {k: float(v) / self._n_sum for k, v in self._sums.items()}
        if self.world > 1:
            vec = torch.tensor([means[k] for k in sorted(means)], device=self.run.device)
            dist.all_reduce(vec)
            means = {k: float(x) / self.world for k, x in zip(sorted(means), vec.tolist())}
        self._sums, self._n_sum = {}, 0
        return means

    def _log_metrics(self, means: dict[str, float]) -> None:
        """A metrics.csv row (with the validation metrics when they were just computed), loss.png,
        the progress bar and TensorBoard."""
        run = self.run
        row = {
            "step": run.step,
            "epoch": run.step // self.steps_per_epoch,
            "lr": f"{run.opt[next(iter(run.opt))].param_groups[0]['lr']:.3g}",
            "seconds": round(self.seconds, 1),
            **{k: f"{v:.5g}" for k, v in means.items()},
        }
        if self._due(self.cfg.sample_every):
            row.update({k: f"{v:.5g}" for k, v in self.val_metrics.items()})
        self.csv.append(row)
        self._rows.append(row)
        write_loss_png(self._rows, self.kind.panels(), str(self.out / "loss.png"))
        self._bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
        if self._tb is not None:
            for k, v in means.items():
                self._tb.add_scalar(f"loss/{k}", v, run.step)
            if self._due(self.cfg.sample_every):
                for k, v in self.val_metrics.items():
                    self._tb.add_scalar(f"validation/{k}", v, run.step)
            self._tb.add_scalar("lr", run.opt[next(iter(run.opt))].param_groups[0]["lr"], run.step)

    def _stop(self, last: Path | None) -> None:
        self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self.rank == 0:
            val = ", ".join(f"{k} {v:.4g}" for k, v in self.val_metrics.items())
            self.log(
                f"stopped at step {self.run.step}/{self.cfg.steps}{f' ({val})' if val else ''}; "
                f"{len(self.skipped)} unreadable images skipped; checkpoint {last}"
            )


def _state_to(obj, device: torch.device):
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _state_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_state_to(v, device) for v in obj)
    return obj


def train(
    cfg: TrainConfig, resume: str | None = None, stop_at: int | None = None, init: str | None = None
) -> Path | None:
    """Train (or resume) a run; returns the last checkpoint's path on rank 0. `init`: a run folder, checkpoint
    or exported .onnx whose generator weights the new run starts from (training.initfrom)."""
    trainer = Trainer(cfg, resume, init)
    try:
        return trainer.fit(stop_at)
    finally:
        if trainer.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def frozen(run: Run, names):
    """Freeze nets (no weight gradients) for a forward pass whose gradient only flows to its input."""
    run.requires_grad(names, False)
    try:
        yield
    finally:
        run.requires_grad(names, True)
