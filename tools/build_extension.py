"""`make extension`: build dist/nftgan-<version>-<platform>.zip with Blender's own extension tool.

The manifest lives at the repository root and the add-on's code in addon/; both are staged into
build/nftgan/ together with the platform wheels the manifest lists (downloaded once with
`pip download --only-binary=:all: --platform ... --python-version 3.11` into .cache/wheels), then
`blender_ext.py build --split-platforms` (shipped inside the bpy wheel) makes one zip per platform
and `blender_ext.py validate` checks each one.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "blender_manifest.toml")
WHEEL_CACHE = os.path.join(ROOT, ".cache", "wheels")
STAGE = os.path.join(ROOT, "build", "nftgan")
DIST = os.path.join(ROOT, "dist")
WHEEL_NAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)


def blender_ext_tool() -> str:
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed in this Python: run `make venv` first")
    base = next(iter(spec.submodule_search_locations))
    found = glob.glob(os.path.join(base, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py"))
    if not found:
        raise SystemExit(f"Blender's extension tool (blender_ext.py) was not found under {base}")
    return found[0]


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
        "3.11",
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


def stage() -> dict:
    with open(MANIFEST, "rb") as fh:
        manifest = tomllib.load(fh)
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(
        os.path.join(ROOT, "addon"),
        STAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "__main__.py"),
    )
    shutil.copy2(MANIFEST, os.path.join(STAGE, "blender_manifest.toml"))
    os.makedirs(os.path.join(STAGE, "wheels"), exist_ok=True)
    for rel in manifest.get("wheels", []):
        shutil.copy2(fetch_wheel(os.path.basename(rel)), os.path.join(STAGE, rel))
    return manifest


def _run(cmd: list[str], quiet: bool) -> None:
    r = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout or ''}{r.stderr or ''}")


def build(out_dir: str = DIST, quiet: bool = False) -> list[str]:
    """Build and validate; returns the zip paths, this machine's platform first."""
    manifest = stage()
    tool = blender_ext_tool()
    os.makedirs(out_dir, exist_ok=True)
    prefix = f"{manifest['id']}-{manifest['version']}-"
    for old in glob.glob(os.path.join(out_dir, prefix + "*.zip")):
        os.remove(old)
    _run(
        [sys.executable, tool, "build", "--source-dir", STAGE, "--output-dir", out_dir, "--split-platforms"],
        quiet,
    )
    zips = sorted(glob.glob(os.path.join(out_dir, prefix + "*.zip")))
    if len(zips) != len(manifest["platforms"]):
        raise SystemExit(f"expected one zip per platform {manifest['platforms']}, got {zips}")
    for z in zips:
        _run([sys.executable, tool, "validate", z], quiet)
    here = this_platform_zip(zips)
    return [here] + [z for z in zips if z != here]


def this_platform_zip(zips: list[str]) -> str:
    import platform

    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "x64"
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    wanted = f"-{system}_{arch}.zip"
    for z in zips:
        if z.endswith(wanted):
            return z
    raise SystemExit(f"no extension zip for this platform ({wanted[1:]}) among {zips}")


def main() -> int:
    zips = build()
    print("\nextension packages (validated by Blender's extension tool):")
    for z in zips:
        print(f"  {os.path.relpath(z, ROOT)}  {os.path.getsize(z) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
