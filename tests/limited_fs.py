"""Run Python code against a real, tiny (or read-only) disk: a tmpfs mounted in a user + mount namespace
of its own (`unshare`), so a full disk is a real ENOSPC and a read-only one a real EROFS, and nothing
outside the child process sees the mount. Needs unprivileged user namespaces (Linux). Where they are
missing, a full disk falls back to RLIMIT_FSIZE (writes past `size` bytes fail with EFBIG, one file at a
time) and a read-only disk is skipped.
"""

from __future__ import annotations

import functools
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_UNITS = {"k": 1024, "m": 1024**2}


@functools.cache
def namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def run_on_small_fs(
    script: str,
    *args,
    size: str = "256k",
    seed: str | os.PathLike | None = None,
    read_only: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run `script` (Python; the variable FS is the small disk's folder) with `args` in sys.argv[1:].
    `seed`: a file copied onto the disk first; `read_only`: the disk is remounted read-only after that."""
    folder = tempfile.mkdtemp(prefix="nftgan-smallfs-")
    code = f"FS = {folder!r}\n" + script
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [str(a) for a in args]
    try:
        if namespaces_work():
            steps = [f"mount -t tmpfs -o size={size} nftgan-test {shlex.quote(folder)}"]
            if seed is not None:
                steps.append(f"cp {shlex.quote(os.fspath(seed))} {shlex.quote(folder)}/")
            if read_only:
                steps.append(f"mount -o remount,ro {shlex.quote(folder)}")
            shell = " && ".join(steps) + ' && exec "$0" -c "$@"'
            cmd = [
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                shell,
                sys.executable,
                code,
                *argv,
            ]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        if read_only:
            pytest.skip("a read-only disk needs unprivileged user + mount namespaces (unshare)")
        if seed is not None:
            shutil.copy(seed, folder)
        limit = int(size[:-1]) * _UNITS[size[-1]] if size[-1] in _UNITS else int(size)

        def limit_file_size():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
            preexec_fn=limit_file_size,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
