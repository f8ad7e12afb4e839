"""`make demo`: sketch -> Stylize -> material -> Cycles render, through the real extension in a fresh Blender.

1. Models: the styles shipped in addon/models/ when there are valid ones; otherwise tiny models are
   trained and exported on the spot with the project's own `nftgan train` / `nftgan export` (cached
   in .cache/demo-models/). Which ones were used is printed loudly.
2. `make extension`'s zip is installed with Blender's own extension installer into a throw-away user
   profile (your real Blender profile is never touched), then Blender is "restarted" (a new process
   that reads those preferences), so the add-on runs with the onnxruntime wheel bundled in the zip.
3. In that Blender: a plane, "New Sketch Canvas", a house drawn into the canvas pixels (paint
   operators need a GPU window, which the bpy module has not), the Stylize operator (worker thread;
   this script drains like Blender's timer would), Apply to Material, a Cycles render.
4. out/: sketch.png, colorized.png, stylized.png, upscaled.png (with the shipped upscaler), render.png,
   scene.blend, nft/ (the final image and the render published with the Offline backend), and
   contact.png (sketch | colorized | final | render side by side; the README's picture is a copy of it,
   docs/quickstart.png).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tools import build_extension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "out")
# Held for the whole demo: a second `make demo` in the same checkout would delete out/ and the zip under the first
DEMO_LOCK = os.path.join(ROOT, "build", "demo.lock")
PKG = "bl_ext.user_default.nftgan"
CANVAS = "1024"  # the add-on's default canvas size
RENDER_SAMPLES = 16

# A house under a sun, with a tree: strokes as polylines in [0, 1] canvas coordinates (y up).
SKETCH = [
    [(0.18, 0.12), (0.62, 0.12), (0.62, 0.45), (0.18, 0.45), (0.18, 0.12)],  # walls
    [(0.12, 0.44), (0.40, 0.68), (0.68, 0.44)],  # roof
    [(0.34, 0.12), (0.34, 0.30), (0.46, 0.30), (0.46, 0.12)],  # door
    [(0.22, 0.33), (0.30, 0.33), (0.30, 0.40), (0.22, 0.40), (0.22, 0.33)],  # window
    [(0.50, 0.33), (0.58, 0.33), (0.58, 0.40), (0.50, 0.40), (0.50, 0.33)],  # window
    [(0.50, 0.60), (0.50, 0.70), (0.56, 0.70), (0.56, 0.55)],  # chimney
    [(0.80, 0.12), (0.80, 0.35)],
    [(0.84, 0.12), (0.84, 0.35)],  # tree trunk
    [(0.70, 0.35), (0.76, 0.48), (0.82, 0.58), (0.88, 0.48), (0.94, 0.35), (0.70, 0.35)],  # tree crown
    [(0.03, 0.12), (0.97, 0.12)],  # ground
]
SKETCH.append(
    [(0.82 + 0.07 * math.cos(a * math.pi / 6), 0.82 + 0.07 * math.sin(a * math.pi / 6)) for a in range(13)]
)  # sun


# Colour dabs painted on the same canvas with a wider brush (dark strokes are lines, coloured ones hints):
# red walls, a green tree crown, a yellow sun, a brown door; the roof and the windows are left to the model.
DABS = [
    ((0.85, 0.15, 0.12), [(0.23, 0.20), (0.27, 0.25), (0.30, 0.21)]),  # walls
    ((0.85, 0.15, 0.12), [(0.51, 0.20), (0.55, 0.24)]),  # walls, right of the door
    ((0.18, 0.62, 0.20), [(0.79, 0.42), (0.84, 0.46), (0.86, 0.41)]),  # tree crown
    ((0.96, 0.80, 0.12), [(0.81, 0.81), (0.84, 0.84)]),  # sun
    ((0.50, 0.30, 0.14), [(0.39, 0.17), (0.41, 0.22)]),  # door
]


def house(n: int, dabs: bool = True):
    """The demo sketch on an n x n canvas (RGBA float, bottom-up like Blender's pixels), with or without DABS."""
    import numpy as np
    from nftgan.core.imageio import draw_strokes

    pixels = np.ones((n, n, 4), np.float32)
    draw_strokes(pixels, SKETCH, width=n / 110)
    for colour, stroke in DABS if dabs else ():
        draw_strokes(pixels, [stroke], width=n / 30, color=(*colour, 1.0))
    return pixels


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------- models


def bundled_models() -> dict | None:
    from nftgan.core import styles

    found = styles.scan()
    picked = {k: styles.find(found, k, None) for k in ("colorize", "stylize")}
    if not all(picked.values()):
        return None
    # the optional last stage: the 1024 px canvas -> a 2048 px texture
    if styles.find(found, "upscale", None):
        picked["upscale"] = styles.find(found, "upscale", None)
    # the file Precision: auto runs (int8 on VNNI / AMX CPUs)
    runs = {k: s.model() for k, s in picked.items()}
    return {
        "folder": None,
        **{k: s.id for k, s in picked.items()},
        "names": {k: f"{m.name} ({os.path.relpath(m.path, ROOT)})" for k, m in runs.items()},
        "paths": {k: s.path for k, s in picked.items()},
    }


def trained_models() -> dict:
    """No shipped styles: train + export two small models with the project's own CLI (cached)."""
    from pathlib import Path

    from tests.conftest import make_data

    folder = Path(ROOT) / ".cache" / "demo-models"
    nftgan = [sys.executable, "-m", "nftgan.export.cli"]
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        say("no styles in addon/models/: training two small models with `nftgan train` (a few minutes, once)")
        data = make_data(folder / "data", n=24, size=64)
        jobs = [
            ("colorize", "pix2pix", data["paired"], ["--steps", "150", "--ngf", "16", "--ndf", "16"]),
            ("stylize", "cyclegan", data["unpaired"], ["--steps", "80", "--ngf", "8", "--ndf", "8"]),
        ]
        for kind, model, d, extra in jobs:
            run = folder / "runs" / model
            subprocess.run(
                [
                    *nftgan,
                    "train",
                    model,
                    "--data",
                    str(d),
                    "--out",
                    str(run),
                    "--size",
                    "64",
                    "--batch-size",
                    "4",
                    "--workers",
                    "0",
                    *extra,
                ],
                check=True,
            )
            subprocess.run(
                [
                    *nftgan,
                    "export",
                    str(run),
                    "-o",
                    str(folder / f"demo-{kind}.onnx"),
                    "--name",
                    f"Demo {kind} ({model}, 64 px)",
                    "--license",
                    "CC0-1.0",
                ],
                check=True,
            )
        (folder / ".complete").touch()
    return {
        "folder": str(folder),
        "colorize": "demo-colorize",
        "stylize": "demo-stylize",
        "names": {
            k: f"demo-{k}.onnx (trained here by `nftgan train`, {folder})" for k in ("colorize", "stylize")
        },
        "paths": {k: str(folder / f"demo-{k}.onnx") for k in ("colorize", "stylize")},
    }


# ----------------------------------------------------------------------------------------------- stages


def install(zip_path: str, model_folder: str | None) -> None:
    """In a Blender process: install + enable the zip like a user would, save the preferences."""
    import bpy

    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"} and PKG in bpy.context.preferences.addons, result
    if model_folder:
        bpy.context.preferences.addons[PKG].preferences.model_folders.add().path = model_folder
    bpy.ops.wm.save_userpref()


def publish_offline(sc, runtime, out: str, images: list[tuple[str, str]]) -> dict:
    """The add-on's Publish operator, Offline backend: image + metadata + their CARs + manifest in out/nft/."""
    import bpy

    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", os.path.join(out, "nft")
    published = {}
    for label, image_name in images:
        sc.nftgan_publish.token_name = f"NFTGan demo house ({label})"
        sc.nftgan_publish.description = f"A sketched house, {label} by NFTGan in Blender"
        assert bpy.ops.nftgan.publish(image=image_name) == {"FINISHED"}
        runtime.drain()  # Publish reads the sketch and submits its job in a main-thread step of its own
        runtime.worker.wait_idle(120)
        runtime.drain()
        level, message = runtime.last_report
        if level == "ERROR":
            raise SystemExit(f"Publish failed: {message}")
        published[label] = sc.nftgan_publish.last_token_uri
    return published


def follow(worker, drain) -> None:
    """Print the progress of `worker`'s jobs until it is idle, each job's lines under its label: the style
    previews the add-on makes on the same worker had their lines run on into Stylize's, unlabelled."""
    shown = None  # (job, message) printed last
    while worker.busy():
        drain()  # what Blender's timer does every 0.2 s
        job = worker.current
        if job is not None and job.message and (job, job.message) != shown:
            if shown is None or shown[0] is not job:
                print(f"  {job.label}:", flush=True)
            shown = job, job.message
            print(f"    {job.fraction:5.0%}  {job.message}", flush=True)
        time.sleep(0.1)


def scene(models: dict, out: str) -> dict:
    """In a fresh Blender process with the profile: build the scene, stylize, apply, render, save."""
    import importlib

    import bpy

    bpy.ops.wm.read_userpref()  # Blender's startup: preferences with the add-on enabled
    runtime = importlib.import_module(f"{PKG}.blender.runtime")
    images = importlib.import_module(f"{PKG}.blender.images")
    import onnxruntime

    info = {"onnxruntime": f"{onnxruntime.__version__} from {os.path.dirname(onnxruntime.__file__)}"}

    bpy.ops.wm.read_homefile(use_empty=True)
    sc = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=2, rotation=(math.pi / 2, 0, 0))
    plane = bpy.context.active_object
    bpy.ops.object.camera_add(location=(0.9, -3.6, 0.5), rotation=(math.radians(85), 0, math.radians(14)))
    sc.camera = bpy.context.active_object
    bpy.ops.object.light_add(
        type="AREA", location=(-1.5, -3, 2.5), rotation=(math.radians(50), 0, math.radians(-30))
    )
    bpy.context.active_object.data.energy = 400
    bpy.context.active_object.data.size = 3
    sc.world = bpy.data.worlds.new("Demo world")
    sc.world.color = (0.05, 0.05, 0.06)
    bpy.context.view_layer.objects.active = plane
    plane.select_set(True)

    assert bpy.ops.nftgan.new_canvas(size=CANVAS) == {"FINISHED"}
    sketch = sc.nftgan.sketch
    pixels = house(int(CANVAS))  # black lines and a few colour dabs
    sketch.pixels.foreach_set(pixels.ravel())
    sketch.update()
    sketch.pack()  # keep the painted sketch in scene.blend

    sc.nftgan.colorize_id, sc.nftgan.stylize_id = models["colorize"], models["stylize"]
    sc.nftgan.upscale_id = models.get("upscale", "NONE")
    t0 = time.perf_counter()
    assert bpy.ops.nftgan.stylize() == {"FINISHED"}
    follow(runtime.worker, runtime.drain)
    runtime.drain()
    level, message = runtime.last_report
    info["stylize"] = message
    info["stylize_seconds"] = round(time.perf_counter() - t0, 1)
    if level == "ERROR" or f"{sketch.name} stylized" not in bpy.data.images:
        raise SystemExit(f"Stylize failed: {message}")
    assert bpy.ops.nftgan.apply_material() == {"FINISHED"}  # the last result: upscaled when chosen
    final = bpy.context.active_object.active_material.node_tree.nodes["NFTGan Result"].image

    sc.render.engine = "CYCLES"
    # the texture's colours as painted: AgX (Blender's default view transform since 4.0) desaturates
    # saturated colours in the render (Standard is a plain sRGB display; results themselves are shown
    # and saved as sRGB either way: an image's view transform applies only to renders, `use_view_as_render`)
    sc.view_settings.view_transform = "Standard"
    sc.cycles.device = "CPU"
    sc.cycles.samples = RENDER_SAMPLES
    sc.render.resolution_x = sc.render.resolution_y = 512
    sc.render.resolution_percentage = 100
    sc.render.image_settings.file_format = "PNG"
    sc.render.filepath = os.path.join(out, "render.png")
    t0 = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    info["render_seconds"] = round(time.perf_counter() - t0, 1)
    info["published"] = publish_offline(
        sc,
        runtime,
        out,
        [(final.name.removeprefix(f"{sketch.name} "), final.name), ("rendered", "Render Result")],
    )

    written = [(sketch, "sketch.png")] + [
        (im, f"{suffix}.png")
        for suffix in ("colorized", "stylized", "upscaled")
        if (im := bpy.data.images.get(f"{sketch.name} {suffix}"))
    ]
    info["written"] = [fname for _, fname in written]
    save_pngs(images, written, out)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(out, "scene.blend"))
    return info


def save_pngs(images, written: list, out: str) -> None:
    """Each (image, file name) of `written` as the PNG publishing would send: the add-on's own bytes for it
    (`images.image_data`: a result's packed PNG, the pipeline's 8-bit output; a painted-on or float image's
    pixels, converted from scene linear to sRGB). Not `image.pixels` as they are: a result is a float image,
    whose pixels are linear, and written as sRGB they came out about 67 levels in 255 darker."""
    for image, fname in written:
        data, ext = images.image_data(image).file_bytes()
        if ext != ".png":
            raise SystemExit(f"{image.name}: expected PNG bytes, got {ext or 'an unknown format'}")
        with open(os.path.join(out, fname), "wb") as fh:
            fh.write(data)


def contact_sheet(out: str, written: list[str], side: int = 300, pad: int = 8) -> str:
    """out/contact.png: the sketch, the colorized image, the final result and the render side by side."""
    from PIL import Image, ImageDraw, ImageFont

    final = next(f for f in ("upscaled.png", "stylized.png") if f in written)
    panels = [("sketch.png", "your sketch"), ("colorized.png", "colorized")]
    panels = [p for p in panels if p[0] in written] + [
        (final, "stylized + upscaled x4" if final == "upscaled.png" else "stylized"),
        ("render.png", "on a mesh, rendered"),
    ]
    sheet = Image.new("RGB", (len(panels) * (side + pad) + pad, side + 2 * pad + 22), "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default(size=15)
    for i, (fname, label) in enumerate(panels):
        with Image.open(os.path.join(out, fname)) as im:
            rgba = im.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, "white")
        paper.alpha_composite(rgba)
        paper.thumbnail((side, side), Image.LANCZOS)
        x = pad + i * (side + pad)
        sheet.paste(paper.convert("RGB"), (x + (side - paper.width) // 2, pad + (side - paper.height) // 2))
        draw.text((x + 4, pad + side + 4), f"{i + 1}. {label}", fill="black", font=font)
    path = os.path.join(out, "contact.png")
    sheet.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    return path


# ----------------------------------------------------------------------------------------------- driver


# Disk the Blender stages write: the temporary profile with the extension installed (103 MB) and out/ (3 MB)
DISK_NEEDED = 150e6


def _free(folder: str) -> float:
    return shutil.disk_usage(folder).free if os.path.isdir(folder) else float("inf")


def blender_stage(stage: str, profile: str, *args: str) -> dict:
    env = dict(os.environ, BLENDER_USER_RESOURCES=profile, PYTHONPATH=ROOT)
    r = subprocess.run(
        [build_extension.blender_python(), "-m", "tools.demo", "--stage", stage, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = r.stdout.splitlines()
    for line in lines:
        if not line.startswith("RESULT "):
            print(line)
    if r.returncode != 0:
        short = [
            f"{free / 1e6:.0f} MB free in {d}" for d in (profile, OUT) if (free := _free(d)) < DISK_NEEDED
        ]
        raise SystemExit(
            f"demo stage {stage!r} failed (exit {r.returncode})"
            + (
                f": the disk is full ({'; '.join(short)}); the demo needs about {DISK_NEEDED / 1e6:.0f} MB "
                "there (a Blender profile with the extension installed, out/). Free some space and run "
                "make demo again"
                if short
                else ""
            )
        )
    result = [ln for ln in lines if ln.startswith("RESULT ")]
    return json.loads(result[-1][7:]) if result else {}


def parser():
    import argparse

    return argparse.ArgumentParser(
        prog="python -m tools.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run it as `make demo` (it builds the venvs first and sets NFTGAN_BLENDER_PYTHON, the "
        "Blender venv's python that runs the Blender stages). It takes no options.",
    )


def fresh_folder(path: str) -> None:
    """`path` as an empty folder. A symlink to a folder (out/ kept on another disk) stays a link and its
    folder is emptied: rmtree refuses links, and makedirs then failed with FileExistsError."""
    if os.path.islink(path):
        target = os.path.realpath(path)
        os.makedirs(target, exist_ok=True)  # (a link to a folder not made yet)
        for name in os.listdir(target):
            entry = os.path.join(target, name)
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry)
            else:
                os.remove(entry)
        return
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def main(argv: list[str]) -> int:
    if argv[:1] != ["--stage"]:  # (--help: say what it does, and build nothing)
        parser().parse_args(argv)
    else:  # inside a Blender (bpy) process
        if argv[1] == "install":
            install(argv[2], argv[3] or None)
            print("RESULT {}")
        else:
            print("RESULT " + json.dumps(scene(json.loads(argv[2]), argv[3])))
        return 0

    from nftgan.core import files

    os.makedirs(os.path.dirname(DEMO_LOCK), exist_ok=True)
    try:
        held = files.lock(DEMO_LOCK, wait=False)
    except BlockingIOError:
        raise SystemExit(
            f"make demo is already running in {ROOT} (it writes out/ and dist/ there): wait for it to finish "
            "and run it again (or run the second one in another clone)"
        ) from None
    try:
        return _demo()
    finally:
        if held is not None:
            os.close(held)


def _demo() -> int:
    t_start = time.perf_counter()
    models = bundled_models()
    source = "SHIPPED STYLES from addon/models/"
    if models is None:
        models = trained_models()
        source = "SMALL MODELS TRAINED BY THIS DEMO (no valid colorize+stylize styles in addon/models/)"
    bar = "=" * 100
    print(
        f"\n{bar}\n  MODELS USED: {source}\n"
        + "".join(f"    {k + ':':<9} {v}\n" for k, v in models["names"].items())
        + f"{bar}\n",
        flush=True,
    )

    profile = tempfile.mkdtemp(prefix="nftgan-demo-profile-")
    try:
        # installed from a copy: a `make extension` started meanwhile replaces the zips in dist/
        with build_extension.build_locked():
            zip_path = build_extension.build(lock=False)[0]
            installing = shutil.copy2(zip_path, profile)
        say(f"extension built and validated: {os.path.relpath(zip_path, ROOT)}")
        fresh_folder(OUT)
        say(f"installing it with Blender's extension installer into a fresh profile ({profile})")
        blender_stage("install", profile, installing, models["folder"] or "")
        say("new Blender session: plane + New Sketch Canvas + drawing + Stylize + Apply to Material + Cycles")
        info = blender_stage("scene", profile, json.dumps(models), OUT)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    contact_sheet(OUT, info["written"])
    print(f"\n{bar}")
    print(f"  onnxruntime in Blender: {info['onnxruntime']}")
    print(f"  {info['stylize']}")
    print(
        f"  stylize {info['stylize_seconds']} s, Cycles render ({RENDER_SAMPLES} samples, CPU) "
        f"{info['render_seconds']} s, demo total {time.perf_counter() - t_start:.0f} s"
    )
    print("  MODELS USED: " + "; ".join(f"{k} = {v}" for k, v in models["names"].items()))
    for label, uri in info["published"].items():
        print(f"  published ({label}, Offline backend): token URI {uri}")
    print("  wrote:")
    for name in (*info["written"], "render.png", "contact.png", "scene.blend", "nft/manifest.json"):
        path = os.path.join(OUT, name)
        print(f"    {path}  ({os.path.getsize(path) / 1e3:.0f} kB)")
    print(bar)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
