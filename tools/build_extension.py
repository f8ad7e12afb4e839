"""`make extension`: build dist/nftgan-<version>-<platform>.zip with Blender's own extension tool.

The manifest lives at the repository root and the add-on's code in addon/; both are staged into
build/nftgan/ (of addon/, the files git tracks: see addon_files) together with the onnxruntime wheels the manifest lists (downloaded once with
`pip download --only-binary=:all: --platform ... --python-version ...` into .cache/wheels), then
`blender_ext.py build --split-platforms` (shipped inside the bpy wheel) makes one zip per platform
and `blender_ext.py validate` checks each one.

One zip per platform serves every Blender the manifest allows: it carries a wheel for each Python that
Blender embeds (cp311: 4.2 LTS - 5.0, cp313: 5.1 - 5.3) and Blender's installer extracts only the one
for its own Python. `make extension` prints which zip serves which Blender versions.

bpy lives in the Blender test venvs, not in the training venv: the tool is taken from the bpy of this
interpreter, else from the one NFTGAN_BLENDER_PYTHON names (the Makefile sets it for `make bench`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "blender_manifest.toml")
WHEEL_CACHE = os.path.join(ROOT, ".cache", "wheels")
STAGE = os.path.join(ROOT, "build", "nftgan")
# Held while a build stages build/nftgan/ and writes its zips: `make extension`, `make demo` and the Blender
# tests of one checkout take turns instead of deleting each other's files
BUILD_LOCK = os.path.join(ROOT, "build", ".lock")
DIST = os.path.join(ROOT, "dist")
WHEEL_NAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)
# The Blender releases that embed each Python (facts of Blender, not of this project), per platform
BLENDERS = {"3.11": "Blender 4.2 LTS, 4.5 LTS, 5.0", "3.13": "Blender 5.1, 5.2 LTS, 5.3"}
BLENDERS_ON = {
    "macos_x64": {"3.11": "Blender 4.2 LTS, 4.5 LTS (Blender 5.0 and later have no Intel Mac build)"}
}


def blender_python() -> str:
    """An interpreter with bpy: this one, else $NFTGAN_BLENDER_PYTHON."""
    import importlib.util

    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    other = os.environ.get("NFTGAN_BLENDER_PYTHON", "")
    if other and os.path.exists(other):
        return other
    raise SystemExit(
        "bpy (Blender's extension tool) is not installed in this Python: use `make extension`, or set "
        "NFTGAN_BLENDER_PYTHON to the python of a Blender venv (e.g. .venv-bpy-5.3.0/bin/python)"
    )


def blender_ext_tool(python: str) -> str:
    """blender_ext.py inside the bpy package of `python`."""
    code = "import importlib.util as u; print(list(u.find_spec('bpy').submodule_search_locations)[0])"
    where = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    found = glob.glob(os.path.join(where, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py"))
    if not found:
        raise SystemExit(f"Blender's extension tool (blender_ext.py) was not found under {where}")
    return found[0]


def python_of(wheel: str) -> str:
    """'3.13' for a cp313 wheel file name."""
    tag = WHEEL_NAME.match(os.path.basename(wheel))["py"]
    return f"{tag[2]}.{tag[3:]}"


def fetch_wheel(filename: str) -> str:
    """The wheel from .cache/wheels, downloaded from PyPI by its exact file name the first time."""
    path = os.path.join(WHEEL_CACHE, filename)
    if os.path.exists(path):
        return path
    m = WHEEL_NAME.match(filename)
    if not m:
        raise SystemExit(f"manifest wheel {filename!r} is not a wheel file name")
    os.makedirs(WHEEL_CACHE, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python_of(filename),
        "--implementation",
        "cp",
        "-d",
        WHEEL_CACHE,
        f"{m['name']}=={m['version']}",
    ]
    for plat in m["plat"].split("."):
        cmd += ["--platform", plat]
    print("fetching", filename, flush=True)
    subprocess.run(cmd, check=True)
    if not os.path.exists(path):
        raise SystemExit(f"pip did not produce {filename}; got {os.listdir(WHEEL_CACHE)}")
    return path


def manifest() -> dict:
    with open(MANIFEST, "rb") as fh:
        return tomllib.load(fh)


# What goes into the zip outside a git checkout (a source archive): the code and the shipped models and cards
SHIPPED = (".py", ".onnx", ".md", ".npz")
NOT_SHIPPED = ("__main__.py",)  # `python -m addon`: the command line, not the add-on


def _git_listing(addon: str) -> list[tuple[bool, str]] | None:
    """[(tracked, path relative to `addon`)] of the files git tracks or would track there (untracked, not
    ignored); None outside a git checkout, or where git tracks nothing (a source archive unpacked inside
    another repository)."""
    try:
        out = subprocess.run(
            ["git", "-C", addon, "ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        return None
    listing = [(tag != "?", rel) for tag, rel in (e.split(" ", 1) for e in out.split("\0") if e)]
    return listing if any(tracked for tracked, _ in listing) else None


def addon_files(addon: str) -> tuple[list[str], list[str]]:
    """(the files of the add-on folder `addon` that go into the zip, the untracked ones left out that a
    developer may have meant to ship), as "/"-separated paths relative to it. In a git checkout: the files git
    tracks there, as they are on disk, so scratch scripts, .blend1 backups and notes left in addon/ stay out;
    a new file ships once `git add`ed. Elsewhere: the files whose names end in SHIPPED. Never hidden files,
    __pycache__ or NOT_SHIPPED."""
    listing = _git_listing(addon)
    if listing is None:
        listing = [
            (True, os.path.relpath(os.path.join(d, f), addon).replace(os.sep, "/"))
            for d, _, names in os.walk(addon)
            for f in names
            if f.endswith(SHIPPED)
        ]

    def ships(rel: str) -> bool:
        parts = rel.split("/")
        return (
            not any(p.startswith(".") or p == "__pycache__" for p in parts) and parts[-1] not in NOT_SHIPPED
        )

    files = [r for t, r in listing if t and ships(r) and os.path.isfile(os.path.join(addon, r))]
    left_out = [r for t, r in listing if not t and ships(r) and r.endswith(SHIPPED)]
    return sorted(files), sorted(left_out)


def stage() -> dict:
    found = manifest()
    shutil.rmtree(STAGE, ignore_errors=True)
    files, left_out = addon_files(os.path.join(ROOT, "addon"))
    for rel in files:
        os.makedirs(os.path.dirname(os.path.join(STAGE, rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, "addon", rel), os.path.join(STAGE, rel))
    if left_out:
        print(
            f"not in the zip, not tracked by git (git add them to ship them): {', '.join(left_out)}",
            flush=True,
        )
    shutil.copy2(MANIFEST, os.path.join(STAGE, "blender_manifest.toml"))
    os.makedirs(os.path.join(STAGE, "wheels"), exist_ok=True)
    for rel in found.get("wheels", []):
        shutil.copy2(fetch_wheel(os.path.basename(rel)), os.path.join(STAGE, rel))
    return found


def _run(cmd: list[str], quiet: bool) -> None:
    r = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout or ''}{r.stderr or ''}")


@contextlib.contextmanager
def locked(path: str, waiting: str):
    """Hold the lock file `path` (addon/core/files.lock); while another process holds it, print `waiting`
    once and wait for it."""
    from nftgan.core import files

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = files.lock(path, wait=False)
    except BlockingIOError:
        print(waiting, flush=True)
        fd = files.lock(path)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def build_locked():
    """Hold BUILD_LOCK: while it is held no other build of this checkout writes build/nftgan/ or dist/."""
    return locked(
        BUILD_LOCK,
        f"waiting for another extension build in {ROOT} (make extension, make demo or the Blender tests)",
    )


def build(out_dir: str = DIST, quiet: bool = False, lock: bool = True) -> list[str]:
    """Build and validate; returns the zip paths, this machine's platform first. `lock=False`: the caller
    holds build_locked() already (to use the zip before another build replaces it)."""
    if not lock:
        return _build(out_dir, quiet)
    with build_locked():
        return _build(out_dir, quiet)


def _size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names)


def _zips_need(found: dict) -> int:
    """Bytes the zips take, about: the add-on's files in every platform's zip, and each wheel once."""
    wheels = _size(os.path.join(STAGE, "wheels"))
    return len(found["platforms"]) * (_size(STAGE) - wheels) + wheels


def _say_if_full(folder: str, need: int, what: str, before: object = None) -> None:
    """SystemExit saying the disk is full, when `folder` has less than `need` bytes free (after `before`,
    the failed step's own message)."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise SystemExit(
            ("" if before is None else f"{before}\n")
            + f"Not enough disk space {what}: about {need / 1e6:.0f} MB are needed in {folder}, "
            f"{free / 1e6:.0f} MB are free there. Free some space and run `make extension` again."
        ) from None


def _build(out_dir: str, quiet: bool) -> list[str]:
    try:
        found = stage()
    except OSError:  # copytree gathers every file's error into one long line
        need = _size(os.path.join(ROOT, "addon")) + sum(
            os.path.getsize(w) for w in glob.glob(os.path.join(WHEEL_CACHE, "*.whl"))
        )
        _say_if_full(os.path.dirname(STAGE), need, "to stage the extension")
        raise
    python = blender_python()
    tool = blender_ext_tool(python)
    os.makedirs(out_dir, exist_ok=True)
    prefix = f"{found['id']}-{found['version']}-"
    for old in glob.glob(os.path.join(out_dir, prefix + "*.zip")):
        os.remove(old)
    try:
        _run(
            [python, tool, "build", "--source-dir", STAGE, "--output-dir", out_dir, "--split-platforms"],
            quiet,
        )
    except SystemExit as failed:
        _say_if_full(out_dir, _zips_need(found), "for the zips", failed.code)
        raise
    zips = sorted(glob.glob(os.path.join(out_dir, prefix + "*.zip")))
    if len(zips) != len(found["platforms"]):
        raise SystemExit(f"expected one zip per platform {found['platforms']}, got {zips}")
    for z in zips:
        _run([python, tool, "validate", z], quiet)
    here = this_platform_zip(zips)
    return [here] + [z for z in zips if z != here]


def this_platform() -> str:
    """Blender's name for this machine's platform, as in the zip names: linux_x64, macos_arm64, ..."""
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "x64"
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    return f"{system}_{arch}"


def this_platform_zip(zips: list[str]) -> str:
    wanted = f"-{this_platform()}.zip"
    for z in zips:
        if z.endswith(wanted):
            return z
    raise SystemExit(f"no extension zip for this platform ({wanted[1:]}) among {zips}")


def bundled_wheels(zip_path: str) -> dict[str, str]:
    """{python version: onnxruntime version} of the wheels inside an extension zip."""
    with zipfile.ZipFile(zip_path) as z:
        wheels = [os.path.basename(n) for n in z.namelist() if n.endswith(".whl")]
    return {python_of(w): WHEEL_NAME.match(w)["version"] for w in wheels}


def served(zip_path: str) -> str:
    """Which Blender versions a zip serves, from the wheels it carries."""
    blenders = {**BLENDERS, **BLENDERS_ON.get(os.path.basename(zip_path)[:-4].split("-")[-1], {})}
    return "; ".join(
        f"{blenders.get(py, 'Blender on Python ' + py)} (Python {py}: onnxruntime {ort})"
        for py, ort in sorted(bundled_wheels(zip_path).items())
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    argparse.ArgumentParser(
        prog="python -m tools.build_extension",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it as `make extension` (in the Blender venv, whose bpy holds the tool). It takes no options.",
    ).parse_args(argv)  # (--help: say what it does, and build nothing)
    zips = build()
    tool = blender_ext_tool(blender_python())
    blender = tool.split(f"{os.sep}bpy{os.sep}")[-1].split(os.sep)[0]
    print(
        f"\nBuilt and validated by Blender {blender}'s extension tool; each zip needs Blender "
        f"{manifest()['blender_version_min']} or later and serves:"
    )
    width = max(len(os.path.relpath(z, ROOT)) for z in zips)
    for z in sorted(zips):
        print(f"  {os.path.relpath(z, ROOT):<{width}} {os.path.getsize(z) / 1e6:5.1f} MB  {served(z)}")
    print("Install it in Blender: Edit > Preferences > Get Extensions > (v menu) > Install from Disk...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
