"""The Makefile and the tools its targets run, as a newcomer meets them: the commands its targets run in a
checkout whose path has spaces (a clone in "~/My Projects/"), and two `make demo` / `make extension` at once
in one checkout. The Makefile tests run the real `make` on a copy of the repository's Makefile (with `-n`
where building the venvs would take minutes); the shell words are split as bash splits them (shlex, POSIX
mode). The lock tests hold the lock in a real second process."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


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


@needs_make
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


@needs_make
@pytest.mark.parametrize("target", ["demo", "bench", "test", "test-blender"])
def test_a_missing_python_313_is_said_before_any_venv_is_built(tmp_path, target):
    """Without Python 3.13, `make demo` built .venv first (3 min 9 s in a fresh clone) and only then said
    that bpy 5.3.0 needs Python 3.13. PYTHON is this test's Python 3.11 (bpy 4.2.13 and 5.0.1 need it: `make
    test` checks them first)."""
    where = checkout(tmp_path / "nftgan", built=())
    r = make(where, target, "PYTHON313=", f"PYTHON={sys.executable}")
    assert r.returncode != 0
    assert r.stdout.strip().splitlines() == [
        "bpy 5.3.0 needs Python 3.13: install it (e.g. pyenv install 3.13) or set PYTHON313=/path/to/python3.13"
    ], (r.stdout, r.stderr)
    assert not (where / ".venv").exists() and not list(where.glob(".venv-bpy-*"))


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the lock file `path` (files.lock, as a running demo or build does) for
    `seconds`; returns once it holds it."""
    code = (
        "import sys, time; from nftgan.core import files; fd = files.lock(sys.argv[1]); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    other = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline() == "held\n"
    return other


def test_a_second_demo_at_once_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """Two `make demo` in one checkout: the second deleted build/nftgan/ under the first, which stopped with
    Blender's 'FATAL_ERROR: Error adding to archive, file not found: "models/exemplars.npz"' (and the first's
    out/ and zip under the second). The second is now refused before it touches anything."""
    from tools import build_extension, demo

    monkeypatch.setattr(demo, "DEMO_LOCK", str(tmp_path / "build" / "demo.lock"))

    def untouched(*_args, **_kw):
        raise AssertionError("the second demo went on")

    monkeypatch.setattr(build_extension, "build", untouched)
    monkeypatch.setattr(demo, "bundled_models", untouched)
    first = hold(tmp_path / "build" / "demo.lock", 30)
    try:
        with pytest.raises(SystemExit) as refused:
            demo.main([])
    finally:
        first.kill()
        first.wait()
    message = str(refused.value.code)
    assert message.startswith("make demo is already running in ") and "wait for it to finish" in message


def test_builds_in_one_checkout_take_turns(tmp_path, capsys):
    """make extension, make demo and the Blender tests stage the zip in the same build/nftgan/: a build waits
    for the one running, saying so once, and goes on when it ends."""
    from tools import build_extension

    lock = tmp_path / "build" / ".lock"
    first = hold(lock, 1.5)
    try:
        t0 = time.monotonic()
        with build_extension.locked(str(lock), "waiting for another extension build"):
            waited = time.monotonic() - t0
            assert first.wait(timeout=5) == 0  # the first build was ending: its lock is let go at exit
    finally:
        first.kill()
        first.wait()
    assert waited > 0.5 and capsys.readouterr().out == "waiting for another extension build\n"
    with build_extension.locked(str(lock), "waiting"):  # free: no wait, nothing said
        pass
    assert capsys.readouterr().out == ""
    assert build_extension.BUILD_LOCK == str(Path(build_extension.ROOT) / "build" / ".lock")


def test_make_demo_on_a_full_disk_says_so(tmp_path, monkeypatch):
    """`make demo` with its temporary Blender profile on a full disk (a real 60 MB tmpfs, ENOSPC: the
    installed extension takes 103 MB): it ended on the install stage's traceback and "demo stage 'install'
    failed (exit 1)"; it now says the disk is full, how much is free and needed, and what to do."""
    from tests.limited_fs import namespaces_work, run_on_small_fs

    blender = ROOT / ".venv-bpy-5.3.0" / "bin" / "python"
    if not blender.exists():
        pytest.skip("needs .venv-bpy-5.3.0 (make .venv-bpy-5.3.0/.installed)")
    if not namespaces_work():
        pytest.skip("a full disk for a child process needs unprivileged user + mount namespaces (unshare)")
    script = (
        "import os, sys, tempfile\n"
        "from tools import build_extension, demo\n"
        "build = build_extension.build\n"
        f"build_extension.build = lambda **kw: build(out_dir={str(tmp_path)!r}, **kw)  # not the checkout's dist/\n"
        "demo.OUT, demo.DEMO_LOCK = FS + '/out', FS + '/demo.lock'\n"
        "os.environ['TMPDIR'] = FS; tempfile.tempdir = None  # the Blender profile goes on the full disk\n"
        "try:\n    demo.main([])\nexcept SystemExit as e:\n    print('SAID', e.code); sys.exit(3)\n"
    )
    monkeypatch.setenv("NFTGAN_BLENDER_PYTHON", str(blender))
    r = run_on_small_fs(script, size="60m", timeout=300)
    assert r.returncode == 3, (r.stdout[-2000:], r.stderr[-2000:])
    said = r.stdout.strip().splitlines()[-1]
    assert said.startswith("SAID demo stage 'install' failed (exit 1): the disk is full (") and said.endswith(
        "Free some space and run make demo again"
    ), said


@pytest.mark.parametrize("module", ["tools.demo", "tools.build_extension"])
def test_help_says_what_it_does_and_builds_nothing(module, monkeypatch, capsys):
    """`python -m tools.demo --help` ran the whole demo (built the zip, replaced out/); `python -m
    tools.build_extension --help` built the zips. Both now print their help and stop."""
    import importlib

    from tools import build_extension, demo

    def untouched(*_args, **_kw):
        raise AssertionError("--help went on to build")

    for name in ("build", "build_locked", "stage"):
        monkeypatch.setattr(build_extension, name, untouched)
    monkeypatch.setattr(demo, "bundled_models", untouched)
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m {module}") and "make " in out, out
    with pytest.raises(SystemExit) as refused:  # an option it does not have is refused, not ignored
        main(["--fast"])
    assert refused.value.code == 2 and "unrecognized arguments: --fast" in capsys.readouterr().err


class _StopHere(Exception):
    pass


@pytest.mark.parametrize("dangling", [False, True])
def test_demo_writes_into_out_when_out_is_a_symlink(tmp_path, monkeypatch, dangling):
    """out/ as a symlink to a folder on another disk: `make demo` stopped with FileExistsError (rmtree refuses
    a link, which it ignored, then makedirs found the link). The link stays, its folder is emptied and used."""
    from tools import build_extension, demo

    target = tmp_path / "elsewhere" / "demo-out"
    if not dangling:
        target.mkdir(parents=True)
        (target / "old.png").write_bytes(b"from the last demo")
        (target / "nft").mkdir()
        (target / "nft" / "manifest.json").write_text("{}")
    out = tmp_path / "out"
    out.symlink_to(target, target_is_directory=True)
    zip_path = tmp_path / "nftgan-1.0.0-linux_x64.zip"
    zip_path.write_bytes(b"PK")
    monkeypatch.setattr(demo, "OUT", str(out))
    monkeypatch.setattr(demo, "DEMO_LOCK", str(tmp_path / "build" / "demo.lock"))
    monkeypatch.setattr(build_extension, "BUILD_LOCK", str(tmp_path / "build" / ".lock"))
    monkeypatch.setattr(build_extension, "build", lambda **_kw: [str(zip_path)])
    monkeypatch.setattr(demo, "bundled_models", lambda: {"names": {"stylize": "test"}, "folder": None})
    seen = {}

    def stage(name, _profile, *_args):  # the first Blender stage: out/ is ready by now
        seen["out"] = sorted(p.name for p in Path(out).iterdir())
        raise _StopHere(name)

    monkeypatch.setattr(demo, "blender_stage", stage)
    with pytest.raises(_StopHere):
        demo.main([])
    assert seen["out"] == [] and out.is_symlink() and target.is_dir()


@needs_make
@pytest.mark.parametrize("target", ["demo", "extension", ".venv-bpy-5.3.0/.installed"])
def test_a_python_of_another_version_is_said_with_the_version_needed(tmp_path, target):
    """PYTHON313 set to a Python 3.11: the bpy venv's pip ended on 'No matching distribution found for
    bpy==5.3.0' (its list of the versions there are), after `make demo` had built .venv. It is now said at
    once: the version needed, and which Python was given and what it is."""
    where = checkout(tmp_path / "nftgan", built=())
    here = ".".join(map(str, sys.version_info[:3]))
    assert not here.startswith("3.13.")
    r = make(where, target, f"PYTHON313={sys.executable}", "PYTHON=false")
    assert r.returncode != 0
    assert r.stdout.strip().splitlines() == [
        f"bpy 5.3.0 needs Python 3.13, and PYTHON313={sys.executable} is Python {here}: set "
        "PYTHON313=/path/to/python3.13 (e.g. pyenv install 3.13)"
    ], (r.stdout, r.stderr)
    assert not (where / ".venv").exists() and not list(where.glob(".venv-bpy-*"))
    r = make(where, "demo", "PYTHON313=/nowhere/python3.13", "PYTHON=false")
    assert r.stdout.strip().splitlines() == [
        "bpy 5.3.0 needs Python 3.13, and PYTHON313=/nowhere/python3.13 is not a Python that runs: set "
        "PYTHON313=/path/to/python3.13 (e.g. pyenv install 3.13)"
    ], (r.stdout, r.stderr)


@needs_make
def test_a_python_311_of_another_version_is_said_for_bpy_4(tmp_path):
    where = checkout(tmp_path / "nftgan", built=())
    r = make(where, ".venv-bpy-4.2.13/.installed", "PYTHON=/nowhere/python3.11")
    assert r.returncode != 0 and r.stdout.strip().splitlines() == [
        "bpy 4.2.13 needs Python 3.11: install it (e.g. pyenv install 3.11) or set PYTHON=/path/to/python3.11"
    ], (r.stdout, r.stderr)
    r = make(where, ".venv-bpy-4.2.13/.installed", "PYTHON=false")  # runs, but is no Python
    assert r.returncode != 0 and r.stdout.strip().splitlines() == [
        "bpy 4.2.13 needs Python 3.11, and PYTHON=false is not a Python that runs: set PYTHON=/path/to/python3.11 "
        "(e.g. pyenv install 3.11)"
    ], (r.stdout, r.stderr)
    if sys.version_info[:2] == (3, 11):  # the right one passes the check (-n: nothing is built)
        r = make(where, "-n", ".venv-bpy-4.2.13/.installed", f"PYTHON={sys.executable}")
        assert r.returncode == 0 and "-m venv .venv-bpy-4.2.13" in r.stdout, (r.stdout, r.stderr)


def _git(where: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=where,
        check=True,
        capture_output=True,
    )


def _addon_with_leftovers(root: Path) -> Path:
    """An add-on folder as a developer's checkout has it: the add-on's files, and what they left there."""
    addon = root / "addon"
    for rel, data in {
        "__init__.py": "# add-on",
        "__main__.py": "# command line",
        "core/pipeline.py": "# core",
        "models/style.onnx": "onnx",
        "models/style.md": "card",
        "models/exemplars.npz": "npz",
        "gone.py": "# deleted, not committed",
    }.items():
        (addon / rel).parent.mkdir(parents=True, exist_ok=True)
        (addon / rel).write_text(data)
    return addon


LEFTOVERS = {
    "scratch.py": "# a try-out",
    "blender/panels.py.orig": "merge leftover",
    "test.blend1": "backup",
    "notes.txt": "todo",
    ".scratch.py": "hidden",
    "core/__pycache__/pipeline.cpython-311.pyc": "bytecode",
}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_extension_ships_what_git_tracks_in_addon_not_what_a_developer_left_there(
    tmp_path, monkeypatch, capsys
):
    """The build copied the whole addon/ folder: a scratch script, a .blend1 backup, notes and a merge's
    .orig that a developer left there went into the zip. It now stages the files git tracks (an untracked .py
    or model is named, as left out); outside a git checkout, the files ending in .py .onnx .md .npz."""
    from tools import build_extension

    root = tmp_path / "checkout"
    addon = _addon_with_leftovers(root)
    _git(root, "init", "-q")
    _git(root, "add", "addon")
    _git(root, "commit", "-q", "-m", "add-on")
    (addon / "gone.py").unlink()
    for rel, data in LEFTOVERS.items():
        (addon / rel).parent.mkdir(parents=True, exist_ok=True)
        (addon / rel).write_text(data)
    shipped = [
        "__init__.py",
        "core/pipeline.py",
        "models/exemplars.npz",
        "models/style.md",
        "models/style.onnx",
    ]

    monkeypatch.setattr(build_extension, "ROOT", str(root))
    monkeypatch.setattr(build_extension, "STAGE", str(tmp_path / "stage"))
    monkeypatch.setattr(build_extension, "MANIFEST", str(tmp_path / "blender_manifest.toml"))
    (tmp_path / "blender_manifest.toml").write_text('id = "nftgan"\n')
    build_extension.stage()
    staged = sorted(
        p.relative_to(tmp_path / "stage").as_posix() for p in (tmp_path / "stage").rglob("*") if p.is_file()
    )
    assert staged == sorted([*shipped, "blender_manifest.toml"])
    assert (
        capsys.readouterr().out
        == "not in the zip, not tracked by git (git add them to ship them): scratch.py\n"
    )

    assert build_extension.addon_files(str(addon)) == (shipped, ["scratch.py"])
    archive = tmp_path / "unpacked" / "addon"  # a source archive: no git; inside another repository too
    shutil.copytree(addon, archive)
    outside = (sorted([*shipped, "scratch.py"]), [])
    assert build_extension.addon_files(str(archive)) == outside
    _git(tmp_path, "init", "-q")
    assert build_extension.addon_files(str(archive)) == outside


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_this_checkouts_addon_files_are_its_tracked_files():
    """The real addon/: every file git tracks there ships (but the command line, __main__.py)."""
    from tools import build_extension

    tracked = subprocess.run(
        ["git", "ls-files", "addon"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    files, _ = build_extension.addon_files(str(ROOT / "addon"))
    want = sorted(p[len("addon/") :] for p in tracked if p != "addon/__main__.py" and (ROOT / p).exists())
    assert files == want and "models/exemplars.npz" in files and "blender/publish.py" in files
