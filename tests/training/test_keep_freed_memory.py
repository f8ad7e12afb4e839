"""`nftgan train` and `nftgan eval` have malloc keep the memory they free (`nftgan.core.cpu.keep_freed_memory`):
a training step then reuses the pages the step before it freed instead of faulting fresh ones in
(docs/benchmarks.md, "Training step"). Counted as page faults in a fresh process, on glibc (elsewhere the
helper does nothing)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import TINY, paired

ROOT = Path(__file__).resolve().parents[2]
SIZE = 24 << 20  # under glibc's 32 MB mmap ceiling: larger blocks are always mmapped, and unmapped when freed
PAGES = SIZE // 4096

# the minor page faults of allocating SIZE bytes, touching every page and freeing them, after doing so once
PROBE = f"""
import ctypes, resource
libc = ctypes.CDLL("libc.so.6")
libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KB pages whatever the machine's transparent huge pages
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def touch():
    p = libc.malloc({SIZE})
    ctypes.memset(p, 1, {SIZE})
    libc.free(p)

touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print("FAULTS", resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc"
)


def faults(code: str = "") -> int:
    """Page faults of PROBE's second allocation in a fresh Python that ran `code` first."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code + PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return int(r.stdout.rsplit("FAULTS", 1)[1])


def test_freed_memory_is_reused_without_page_faults():
    # glibc by default gives the freed block back and faults every page of the next one in again
    assert faults() > PAGES * 0.9
    assert faults("from nftgan.core import cpu\nassert cpu.keep_freed_memory()\n") < PAGES / 100


@pytest.mark.parametrize("command", ["train", "eval"])
def test_nftgan_train_and_eval_keep_freed_memory(command, tmp_path):
    """A real tiny `nftgan train` run, and `nftgan eval` (torch too: the Inception network's passes)."""
    data = paired(tmp_path / "data")
    argv = {
        "train": ["pix2pix", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1", *TINY],
        "eval": ["paired", str(data / "A"), str(data / "B")],
    }[command]
    module = {"train": "nftgan.training.cli", "eval": "nftgan.training.evaluate"}[command]
    code = f"from {module} import main\nassert main({argv!r}) == 0\n"
    assert faults(code) < PAGES / 100
