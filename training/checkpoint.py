"""Checkpoints: one self-contained file per save, written atomically.

A run folder holds `checkpoints/step_XXXXXXX.pt` and `checkpoints/latest.pt` (a hard link to the
newest, or a copy where links are impossible). A checkpoint is a dict:

    format       "nftgan-checkpoint/1"
    model        "pix2pix" | "cyclegan" | "dcgan" | "wgan-gp" | "upscale"  (the kind in training.kinds)
    config       the kind's config dataclass as a dict: enough to rebuild every network
    step, epoch  training progress (steps done; epoch the next step belongs to)
    nets         {name: state_dict}
    optimizers   {group: state_dict};  schedulers {group: state_dict}
    rng          [per process: python, numpy, torch (+ cuda) RNG states]
    pools        [per process: the kind's state, e.g. CycleGAN image pools]
    provenance   {dataset, images, steps, val_metrics, hardware, seconds}

It holds only tensors and plain Python values, so `load_checkpoint` reads it with
`torch.load(weights_only=True)`: opening a checkpoint someone sent you cannot run code.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import shutil
from pathlib import Path

import torch
from nftgan.core.files import lock
from torch import nn

from .errors import UserError

FORMAT = "nftgan-checkpoint/1"
LATEST = "latest.pt"


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used, with a message a user can act on."""


def resolve(path_or_run_dir: str | os.PathLike) -> Path:
    """A checkpoint file from a file path, a run folder or its checkpoints/ folder."""
    p = Path(path_or_run_dir)
    for candidate in (p, p / "checkpoints" / LATEST, p / LATEST):
        if candidate.is_file():
            return candidate
    if p.is_dir():
        raise CheckpointError(_no_checkpoint(p))
    raise CheckpointError(f"checkpoint not found: {p}")


def _no_checkpoint(p: Path) -> str:
    """Why the folder `p` gives no checkpoint, and what to do: a run stopped before its first checkpoint (its
    config.json is there) is started again in the same folder with the command given."""
    try:
        every = json.loads((p / "config.json").read_text()).get("checkpoint_every")
    except (OSError, ValueError, AttributeError):
        return f"{p} holds no checkpoint (looked for checkpoints/{LATEST}); has the run saved one yet?"
    again = f"nftgan train --config {shlex.quote(str(p / 'config.json'))} --out {shlex.quote(str(p))}"
    return (
        f"{p} holds no checkpoint: the run stopped before its first checkpoint"
        + (f" (--checkpoint-every {every})" if isinstance(every, int) else "")
        + f" (no weights to resume or export yet). Start it again in the same folder: {again}"
    )


def run_folder(path: str | os.PathLike) -> Path:
    """The run folder `--resume PATH` goes on in: PATH, or the run whose checkpoints/ folder PATH is or holds (a
    step_*.pt, to go on from an earlier step). A checkpoint anywhere else is no run to go on in."""
    p, found = Path(path), resolve(path)
    if found.parent.name == "checkpoints":
        return found.parent.parent
    if p.is_dir():
        return p
    raise CheckpointError(
        f"{p} is a checkpoint outside a run folder (RUN/checkpoints/): --resume goes on in a run folder; to go on "
        f"from this file, start a new run from it with --init {p}"
    )


def load_checkpoint(path_or_run_dir: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint (file or run folder -> its latest) and check its format."""
    path = resolve(path_or_run_dir)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- truncated zip, not a torch file, foreign pickle
        raise CheckpointError(_unreadable(path, exc)) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path} is not an NFTGan checkpoint (format {found!r}, expected {FORMAT!r}). {TAKES}"
        )
    return ckpt


TAKES = "Give a checkpoint `nftgan train` wrote (RUN/checkpoints/step_*.pt or latest.pt), or its run folder."


def _unreadable(path: Path, exc: Exception) -> str:
    """Why torch could not read `path`, for the user: a checkpoint cut short (a copy or download that did not
    finish), or a file that is no NFTGan checkpoint at all (a whole pickled model, a config.json, ...)."""
    import zipfile

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        return f"{path} cannot be read ({err.strerror or err})"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):  # torch's zip format, cut short
        return (
            f"{path} is not a readable NFTGan checkpoint: the file is cut short ({type(exc).__name__}). "
            "Copy it again, or use the previous step_*.pt file in its checkpoints folder."
        )
    what = (
        "a PyTorch file holding other objects, such as a whole model"
        if head == b"PK\x03\x04"
        else ("an empty file" if not head else "not a PyTorch checkpoint file")
    )
    return f"{path} is not an NFTGan checkpoint ({what}). {TAKES}"


def remove_temp_files(run_dir: str | os.PathLike) -> None:
    """Remove the temp files of saves that never finished: a full disk, or a process killed mid-save (whose
    temp file would otherwise keep the disk full, so a --resume dies too). Called before every save and
    when a run starts. Temp files of another process that is still running are left alone."""
    for tmp in (Path(run_dir) / "checkpoints").glob(".*.tmp*"):
        pid = tmp.name.rpartition(".tmp")[2]
        if not pid.isdigit() or int(pid) == os.getpid() or not _running(int(pid)):
            tmp.unlink(missing_ok=True)


class RunFolderError(UserError):
    """A run folder that cannot be trained into now (another run is using it, the disk is full)."""


LOCK = ".lock"


def lock_run(run_dir: str | os.PathLike) -> int | None:
    """Lock the run folder for this training process (`files.lock` on RUN/.lock, which records its process
    id): a second `nftgan train` into it while this one runs (a new run or a --resume) is refused before it
    writes anything; the two would interleave their metrics.csv and write over each other's checkpoints. A
    killed run leaves nothing to clean up. Returns the descriptor for `unlock_run`; None where the folder
    cannot be locked (some network file systems)."""
    path = Path(run_dir) / LOCK
    try:
        fd = lock(path, wait=False)
    except BlockingIOError:  # another process holds it
        holder = path.read_text(errors="replace").strip()
        raise RunFolderError(
            f"{run_dir} is in use by another training run{f' (process {holder})' if holder.isdigit() else ''}; "
            "wait for it to end, or pick another --out. Nothing was written"
        ) from None
    if fd is not None:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        _HELD.add(fd)
    return fd


def unlock_run(fd: int | None) -> None:
    if fd is not None:
        _HELD.discard(fd)
        os.close(fd)


# The run lock is the training process's alone. A forked child (a DataLoader worker) would share the locked file
# description, and one that outlives a killed run (workers notice within ~5 s) kept the folder locked: a --resume
# right after kill -9 was refused, naming the dead run. Each child closes its copy; the lock stays the parent's.
_HELD: set[int] = set()


def _forget_run_locks() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_run_locks)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether it exists (POSIX; on Windows, leave it alone)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` is a write that found the disk full (or over a quota or file-size limit), also wrapped:
    torch.save reports the OSError of a full disk as a RuntimeError."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def save_checkpoint(ckpt: dict, run_dir: str | os.PathLike, keep: int = 3) -> Path:
    """Write `step_XXXXXXX.pt` atomically (temp file + rename), point latest.pt at it, prune old ones.
    A save that fails (a full disk) removes its temp files and raises CheckpointError saying so; the
    checkpoints saved before it stay as they were."""
    folder = Path(run_dir) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    if os.name != "nt":
        remove_temp_files(run_dir)
    final = folder / f"step_{int(ckpt['step']):07d}.pt"
    tmp = folder / f".{final.name}.tmp{os.getpid()}"
    latest_tmp = folder / f".{LATEST}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            torch.save(ckpt, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        try:
            os.link(final, latest_tmp)
        except OSError:
            shutil.copyfile(final, latest_tmp)
        os.replace(latest_tmp, folder / LATEST)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as RuntimeError
        tmp.unlink(missing_ok=True)
        latest_tmp.unlink(missing_ok=True)
        why = "the disk is full" if disk_full(exc) else str(exc).splitlines()[0]
        then = (
            f"continue with --resume from the last checkpoint saved ({folder / LATEST})"
            if (folder / LATEST).is_file()
            else "start the run again (it saved no checkpoint yet)"
        )
        raise CheckpointError(
            f"could not save {final} ({why}). Nothing half-written is left; free some space, then {then}"
        ) from None
    steps = sorted(folder.glob("step_*.pt"))
    for old in steps[: max(0, len(steps) - max(1, keep))]:
        old.unlink(missing_ok=True)
    return final


def config_of(ckpt: dict):
    """The checkpoint's config as its kind's dataclass."""
    from .kinds import get_kind

    return get_kind(ckpt["model"]).config_class.from_dict(ckpt["config"])


def build_generator(ckpt: dict, direction: str | None = None) -> tuple[nn.Module, dict]:
    """The trained generator (eval mode, on CPU) and what the model contract needs to describe it.

    info = {kind, size, multiple_of, scale, latent, name, training}. For cyclegan, `direction` is
    "AtoB" (default) or "BtoA".
    """
    from .kinds import get_kind

    try:
        kind = get_kind(ckpt["model"])
    except KeyError as exc:
        raise CheckpointError(str(exc.args[0])) from None
    cfg = kind.config_class.from_dict(ckpt["config"])
    net, extra = kind.generator(cfg, ckpt["nets"], direction)
    name = cfg.name or os.path.basename(os.path.normpath(cfg.out or "")) or kind.name
    info = {
        "kind": kind.contract_kind,
        "size": cfg.size,
        "multiple_of": 1,
        "scale": 1,
        "latent": 0,
        "name": name,
        "training": dict(ckpt.get("provenance") or {}),
    }
    info.update(extra)
    return net.eval(), info


def load_net(net: nn.Module, state: dict, what: str) -> nn.Module:
    """Load a state dict (saved from a plain or DDP module) with a clear error on mismatch."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the checkpoint's {what} weights do not fit the network its config describes: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    return net
