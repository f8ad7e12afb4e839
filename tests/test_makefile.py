"""The Makefile as a newcomer meets it: the commands its targets run, in a checkout whose path has spaces
(a clone in "~/My Projects/"), and the message when an interpreter it needs is missing, before any venv is
built. Each test runs the real `make` on a copy of the repository's Makefile (with `-n` where building the
venvs would take minutes); the shell words are split as bash splits them (shlex, POSIX mode)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def checkout(where: Path, built: tuple[str, ...] = (".venv", ".venv-bpy-5.3.0")) -> Path:
    """The files the Makefile reads, copied to `where`, with the venvs in `built` marked as built."""
    where.mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "blender_manifest.toml"):
        shutil.copy2(ROOT / name, where / name)
    for venv in built:
        (where / venv).mkdir()
        (where / venv / ".installed").touch()  # newer than the copies: up to date
    return where


def make(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=where, capture_output=True, text=True)


@pytest.mark.parametrize("target,module", [("demo", "tools.demo"), ("bench", "tools.bench")])
def test_demo_and_bench_name_blenders_python_in_a_folder_with_spaces(tmp_path, target, module):
    """`make demo` in "/…/My Projects/nftgan" handed the shell NFTGAN_BLENDER_PYTHON=/…/My Projects/…
    unquoted: bash set it to "/…/My" and ran "Projects/nftgan/.venv-bpy-5.3.0/bin/python" as the command."""
    where = checkout(tmp_path / "My Projects" / "nftgan")
    r = make(where, "-n", target)
    assert r.returncode == 0, r.stderr
    words = shlex.split(r.stdout.strip().splitlines()[-1])
    assert words[0] == f"NFTGAN_BLENDER_PYTHON={where}/.venv-bpy-5.3.0/bin/python", words
    assert words[1:] == [".venv/bin/python", "-m", module]
