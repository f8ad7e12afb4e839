"""Stylize: snapshot the sketch on the main thread, run the pipeline on the worker, write results.

Main thread, before: one `foreach_get` of the sketch's pixels (the only bpy work).
Worker: addon.core.pipeline (colorize -> stylize -> optional upscale) and PNG encoding of the results.
Main thread, after (`apply_results`, called from runtime.drain()): new image datablocks
"<sketch> colorized" / "<sketch> stylized" / "<sketch> upscaled" filled with `foreach_set` and packed
from the worker's PNG bytes. The sketch itself is only ever read.
"""

from __future__ import annotations

import logging
import os
import time
import zlib

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, PointerProperty, StringProperty
from bpy.types import Operator, PropertyGroup

from ..core import imageio, jobs, pipeline
from ..core import styles as core_styles
from . import runtime

log = logging.getLogger(__name__)

CANVAS_SIZES = [(s, f"{s} px", f"A {s}x{s} white canvas") for s in ("256", "512", "1024", "2048")]
LIVE_CHECK_INTERVAL = 0.5  # seconds between looks at the sketch while live preview is on

_jobs: dict[str, jobs.Job] = {}  # key -> latest stylize job (for progress and Cancel)
last_result: dict[str, str] = {}  # sketch name -> the image its newest Stylize wrote last (Apply to Material)


# ----------------------------------------------------------------------------------------------- properties

_enum_items: dict[str, list] = {}  # Blender needs Python to keep dynamic enum items alive
OPTIONAL = {"upscale": "NONE"}  # stages that stay off until the user picks a model


def _wanted(props, kind: str) -> str:
    """The chosen model id of a stage ("NONE": skipped; "": the first one, or off for an optional stage)."""
    return getattr(props, f"{kind}_id") or OPTIONAL.get(kind, "")


def _style_enum(kind: str):
    def items(_self, _context):
        found = core_styles.of_kind(runtime.styles(), kind)
        lst = [(s.id, s.name, s.description or s.name, runtime.icon_id(s), i) for i, s in enumerate(found)]
        lst.append(
            ("NONE", "None" if found else "No styles installed", f"Skip the {kind} step", "BLANK1", len(lst))
        )
        _enum_items[kind] = lst
        return lst

    def get(self):
        wanted = _wanted(self, kind)
        lst = _enum_items.get(kind) or items(self, None)
        return next((it[4] for it in lst if it[0] == wanted), 0)

    def set_(self, value):
        lst = _enum_items.get(kind) or items(self, None)
        setattr(self, f"{kind}_id", next((it[0] for it in lst if it[4] == value), ""))

    return EnumProperty(
        name=kind.capitalize(),
        items=items,
        get=get,
        set=set_,
        description=f"The {kind} model (with a preview of what it does)",
    )


def _live_toggled(self, _context):
    _live.update(digest=None, pending=False, checked=0.0)


class NFTGanSceneProps(PropertyGroup):
    sketch: PointerProperty(type=bpy.types.Image, name="Sketch", description="The image NFTGan stylizes")
    colorize_id: StringProperty(description="Chosen colorize style (file name without .onnx; NONE skips)")
    stylize_id: StringProperty(description="Chosen stylize style (file name without .onnx; NONE skips)")
    upscale_id: StringProperty(
        description="Chosen upscale model (file name without .onnx; empty or NONE: off)"
    )
    colorize: _style_enum("colorize")
    stylize: _style_enum("stylize")
    upscale: _style_enum("upscale")
    live_preview: BoolProperty(
        name="Live Preview",
        update=_live_toggled,
        description="Stylize again whenever the sketch changes (the newest version wins)",
    )
    canvas_size: EnumProperty(name="Size", items=CANVAS_SIZES, default="1024")


# ----------------------------------------------------------------------------------------------- main thread


def find_sketch(context, name: str = ""):
    """The sketch: a named image, else the Image Editor's image, else (Texture Paint) the image being
    painted, else the scene's sketch."""
    if name:
        return bpy.data.images.get(name)
    space = getattr(context, "space_data", None)
    if (
        space is not None
        and space.type == "IMAGE_EDITOR"
        and space.image is not None
        and space.image.type == "IMAGE"
    ):
        return space.image
    if context.mode == "PAINT_TEXTURE":
        paint = context.scene.tool_settings.image_paint
        if paint.mode == "IMAGE" and paint.canvas is not None:
            return paint.canvas
        mat = getattr(context.active_object, "active_material", None)
        if paint.mode == "MATERIAL" and mat is not None and mat.texture_paint_images:
            return mat.texture_paint_images[min(mat.paint_active_slot, len(mat.texture_paint_images) - 1)]
    return context.scene.nftgan.sketch


def snapshot(image) -> tuple[np.ndarray, bool]:
    """(pixels (H, W, C) float32 bottom-up, is_linear): one foreach_get, nothing else on the main thread."""
    w, h = image.size
    if w == 0 or h == 0:
        raise jobs.UserError(
            f"'{image.name}' has no pixels (its file may be missing); load or paint it first."
        )
    imageio.check_size(h, w, f"'{image.name}'")
    channels = image.channels
    buf = np.empty(w * h * channels, dtype=np.float32)
    image.pixels.foreach_get(buf)
    linear = image.is_float and image.colorspace_settings.name.lower().startswith("linear")
    return buf.reshape(h, w, channels), linear


def chosen_models(scene) -> dict:
    props, found = scene.nftgan, runtime.styles()
    models = {}
    for kind in pipeline.STAGES:
        wanted = _wanted(props, kind)
        if wanted == "NONE":
            continue
        style = core_styles.find(found, kind, wanted) or core_styles.find(found, kind, None)
        if style is not None:
            models[kind] = style.info
    if not models.keys() & {"colorize", "stylize"}:
        if core_styles.of_kind(found, "colorize") or core_styles.of_kind(found, "stylize"):
            raise jobs.UserError(
                "Both Colorize and Stylize are set to None: choose a style for at least one."
            )
        reasons = "".join(f" Skipped {s.error}" for s in found if not s.ok)
        raise jobs.UserError(core_styles.HOW_TO_GET_STYLES + reasons)
    return models


def start(
    context, pixels: np.ndarray, linear: bool, name: str, uid: int | None, live: bool = False
) -> jobs.Job:
    """Submit a stylize job for a pixel snapshot. Latest wins per sketch."""
    models = chosen_models(context.scene)
    opts = runtime.settings(context)
    meta = {
        "name": name,
        "uid": uid,
        "live": live,
        "t0": time.perf_counter(),
        "models": ", ".join(f"{k}: {m.name}" for k, m in models.items()),
    }

    def work(job):
        img = imageio.linear_to_srgb(pixels) if linear else pixels
        results = pipeline.run(img, models=models, job=job, **opts)
        out = {}
        for stage, rgba in results.items():
            job.check()
            out[stage] = (
                np.ascontiguousarray(rgba).ravel(),
                rgba.shape[:2],
                imageio.encode_png(rgba, level=1),
            )
        return out

    key = f"stylize:{uid if uid is not None else name}"
    meta["key"] = key
    job = runtime.submit(
        work, key=key, latest_wins=True, label=f"Stylize {name}", on_done=lambda job: apply_results(job, meta)
    )
    _jobs[key] = job
    return job


def apply_results(job: jobs.Job, meta: dict) -> list[str]:
    """Main thread: write the finished job's images (the first now, the others in later drain steps).
    Returns the list of names written, which fills up as the steps run."""
    if _jobs.get(meta["key"]) is job:
        del _jobs[meta["key"]]  # do not keep its pixels alive
    if job.state == jobs.CANCELLED:
        if not meta["live"]:
            runtime.report(f"Stylize of '{meta['name']}' cancelled")
        return []
    if job.state == jobs.FAILED:
        runtime.report(f"Stylize of '{meta['name']}' failed: {job.error}", "ERROR")
        return []
    sketch = None
    if meta["uid"] is not None:
        sketch = next((im for im in bpy.data.images if im.session_uid == meta["uid"]), None)
    base = sketch.name if sketch is not None else meta["name"]
    items = list(job.result.items())
    job.result = None
    written = []

    def write(i: int) -> None:  # one image per step: Blender's timer spreads them over its ticks
        stage, (flat, (h, w), png) = items[i]
        written.append(
            write_result(
                f"{base} {pipeline.RESULT_SUFFIX[stage]}",
                flat,
                w,
                h,
                png,
                stage,
                base,
                meta["uid"],
                meta["models"],
            )
        )
        if i + 1 < len(items):
            runtime.later(lambda: write(i + 1))
            return
        last_result[base] = written[-1]
        note = ""
        if meta["uid"] is not None and sketch is None:
            note = f" (the sketch '{meta['name']}' was deleted meanwhile; the results are kept)"
        runtime.report(
            f"NFTGan wrote {', '.join(repr(n) for n in written)} ({w}x{h}, "
            f"{time.perf_counter() - meta['t0']:.1f} s; {meta['models']}){note}"
        )
        try:
            bpy.ops.ed.undo_push(message="NFTGan Stylize")
        except RuntimeError:  # no undo stack without a window (background / bpy module)
            pass

    write(0)
    return written


def write_result(
    name: str, flat: np.ndarray, w: int, h: int, png: bytes, stage: str, source: str, source_uid, models: str
) -> str:
    """Write the result image `name`: the previous result of that name is updated in place when it has
    the same size (materials showing it follow, nothing is reallocated), else a new datablock takes
    over its users. Pixels go in with foreach_set; the worker's PNG bytes are packed as its file."""
    old = bpy.data.images.get(name)
    if old is not None and (not old.get("nftgan_stage") or old.session_uid == source_uid):
        old = None  # never touch a user's own image (or the sketch): the new one gets a numbered name
    if old is not None and tuple(old.size) == (w, h):
        image = old
    else:
        image = bpy.data.images.new(name, w, h, alpha=True)
        image.filepath_raw = f"//{bpy.path.clean_name(name)}.png"
        image.file_format = "PNG"
        image.use_fake_user = True  # a result is kept until the user deletes it
    image.pixels.foreach_set(flat)
    image.pack(data=png, data_len=len(png))
    image["nftgan_stage"], image["nftgan_source"], image["nftgan_models"] = stage, source, models
    if old is not None and image is not old:
        old.user_remap(image)  # materials showing the previous result now show the new one
        bpy.data.images.remove(old)
        image.name = name
    return image.name


def current_job() -> jobs.Job | None:
    active = [j for j in _jobs.values() if not j.finished]
    return active[-1] if active else None


# ----------------------------------------------------------------------------------------------- live preview

_live = {"digest": None, "pending": False, "changed": 0.0, "checked": 0.0}


def live_tick(now: float | None = None) -> jobs.Job | None:
    """Called by the runtime timer: re-stylize the scene's sketch once it stopped changing (debounced)."""
    context = bpy.context
    scene = getattr(context, "scene", None)
    if scene is None or runtime.worker is None or not scene.nftgan.live_preview:
        return None
    image = scene.nftgan.sketch
    now = time.monotonic() if now is None else now
    if image is None or now - _live["checked"] < LIVE_CHECK_INTERVAL:
        return None
    _live["checked"] = now
    try:
        pixels, linear = snapshot(image)
    except jobs.UserError:
        return None
    digest = (image.session_uid, zlib.crc32(pixels))
    if digest != _live["digest"]:
        _live.update(digest=digest, pending=True, changed=now)
        return None
    if not _live["pending"] or now - _live["changed"] < runtime.LIVE_DEBOUNCE:
        return None
    _live["pending"] = False
    try:
        return start(context, pixels, linear, image.name, image.session_uid, live=True)
    except jobs.UserError as exc:
        scene.nftgan.live_preview = False
        runtime.report(str(exc), "ERROR")
        return None


# ----------------------------------------------------------------------------------------------- operators


class NFTGAN_OT_stylize(Operator):
    """Colorize and stylize the sketch in the background; the results become new images"""

    bl_idname = "nftgan.stylize"
    bl_label = "Stylize"
    bl_options = {"REGISTER"}

    image: StringProperty(name="Image", description="Sketch image (default: the image being edited)")

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None

    def execute(self, context):
        image = find_sketch(context, self.image)
        if image is None:
            self.report(
                {"ERROR"},
                f"No sketch image '{self.image}'"
                if self.image
                else "No sketch: open an image in the Image Editor or use New Sketch Canvas",
            )
            return {"CANCELLED"}

        def begin():
            start(context, *snapshot(image), image.name, image.session_uid)
            context.scene.nftgan.sketch = image

        return runtime.start_in_background(self, begin, f"Stylizing '{image.name}' in the background")


class NFTGAN_OT_cancel(Operator):
    """Stop the running stylize job (within one tile)"""

    bl_idname = "nftgan.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None and current_job() is not None

    def execute(self, _context):
        n = sum(runtime.worker.cancel(key) for key, job in _jobs.items() if not job.finished)
        self.report({"INFO"}, f"Cancelled {n} NFTGan job(s)")
        return {"FINISHED"}


class NFTGAN_OT_stylize_render(Operator):
    """Stylize the Render Result (renders the scene first when there is none)"""

    bl_idname = "nftgan.stylize_render"
    bl_label = "Stylize Render"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, _context):
        return runtime.worker is not None

    def execute(self, context):
        path = os.path.join(runtime.user_dir("render"), "render.png")
        if not _save_render(path):
            bpy.ops.render.render()
            if not _save_render(path):
                self.report({"ERROR"}, "Rendering produced no image")
                return {"CANCELLED"}
        image = bpy.data.images.load(path, check_existing=False)
        try:
            pixels, linear = snapshot(image)
        finally:
            bpy.data.images.remove(image)
            os.remove(path)
        try:
            start(context, pixels, linear, "Render", None)
        except jobs.UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, "Stylizing the render in the background")
        return {"FINISHED"}


def _save_render(path: str) -> bool:
    """Save the Render Result as shown (view transform applied); False when there is no render yet."""
    result = next((im for im in bpy.data.images if im.type == "RENDER_RESULT"), None)
    if result is None:
        return False
    try:
        result.save_render(filepath=path)
    except RuntimeError:
        return False
    return os.path.exists(path)


CLASSES = (NFTGanSceneProps, NFTGAN_OT_stylize, NFTGAN_OT_cancel, NFTGAN_OT_stylize_render)


def register():
    bpy.types.Scene.nftgan = PointerProperty(type=NFTGanSceneProps)


def unregister():
    del bpy.types.Scene.nftgan
    _jobs.clear()
    _enum_items.clear()
