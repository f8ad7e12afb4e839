"""The add-on session's runtime: the one worker thread, the main-thread drain, styles and reports.

- `worker`: one addon.core.jobs.Worker per add-on session (created in register, shut down in
  unregister, so disabling the add-on mid-job stops the job cleanly).
- `drain()`: runs finished jobs' callbacks on the main thread. In Blender a timer calls it;
  tests call it directly (timers never fire in the bpy module).
- A new file loaded mid-job cancels running work and drops results meant for the old file.
"""

from __future__ import annotations

import collections
import logging
import os
import time

import bpy
from bpy.app.handlers import persistent
from bpy.props import EnumProperty, StringProperty
from bpy.types import Operator

from ..core import jobs
from ..core import styles as core_styles
from . import preferences

log = logging.getLogger(__name__)

TIMER_INTERVAL = 0.2  # seconds between drains while Blender runs
LIVE_DEBOUNCE = 0.6  # seconds a sketch must stay unchanged before live preview re-runs

worker: jobs.Worker | None = None
generation = 0  # bumped when a file is loaded: results of older jobs are dropped
last_report: tuple[str, str] = ("INFO", "")
_styles: list[core_styles.Style] | None = None
_previews = None  # bpy.utils.previews collection of style thumbnails
_thumb_paths: dict[str, str] = {}  # style path -> thumbnail PNG


# ----------------------------------------------------------------------------------------------- jobs

_file_jobs: set[str] = set()  # keys of jobs whose results belong to the open file


def submit(fn, *, on_done, key: str, file_bound: bool = True, **kwargs) -> jobs.Job:
    """Submit to the worker. A file-bound job is cancelled when another file is loaded, and its `on_done`
    (main thread) is skipped if it finishes after that; others (style previews) outlive the file."""
    if worker is None:
        raise RuntimeError("NFTGan is not enabled")
    submitted_in = generation

    def done(job):
        if file_bound and submitted_in != generation:
            log.info("NFTGan: dropped the result of %r (another file was loaded)", job)
            return
        on_done(job)

    if file_bound:
        _file_jobs.add(key)
    return worker.submit(fn, on_done=done, key=key, **kwargs)


_later: collections.deque = collections.deque()  # (generation, fn): main-thread steps queued by callbacks


def later(fn) -> None:
    """Run `fn` on the main thread at a later drain (spreads big result writes over several timer ticks)."""
    _later.append((generation, fn))


def _run_later() -> None:
    gen, fn = _later.popleft()
    if gen != generation:  # queued for a file that is no longer open
        return
    try:
        fn()
    except Exception:
        log.exception("NFTGan: a main-thread step failed")


def drain(step: bool = False) -> list[jobs.Job]:
    """Main thread: apply finished jobs; returns them (tests look at them).

    By default everything pending is applied now. With `step=True` (Blender's timer) one queued
    step runs per call when there is one, so no single timer tick blocks Blender for long."""
    if worker is None:
        return []
    if step and _later:
        _run_later()
        redraw()
        return []
    finished = worker.drain()
    while _later and not step:
        _run_later()
    if finished or worker.busy():
        redraw()
    return finished


def settings(context=None) -> dict:
    """Inference settings from the preferences (threads, provider)."""
    prefs = preferences.get(context)
    if prefs is None:
        return {"threads": 0, "provider": "auto"}
    return {"threads": prefs.threads, "provider": prefs.provider.lower()}


def user_dir(*parts: str) -> str:
    path = os.path.join(bpy.utils.extension_path_user(preferences.ADDON_ID, create=True), *parts)
    os.makedirs(path, exist_ok=True)
    return path


# ----------------------------------------------------------------------------------------------- reports


class NFTGAN_OT_report(bpy.types.Operator):
    """Shows a message in the status bar (used when a background job finishes)"""

    bl_idname = "nftgan.report"
    bl_label = "NFTGan Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(k, k, "") for k in ("INFO", "WARNING", "ERROR")])
    message: StringProperty()

    def execute(self, _context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


def report(message: str, level: str = "INFO") -> None:
    global last_report
    last_report = (level, message)
    (log.error if level == "ERROR" else log.warning if level == "WARNING" else log.info)(
        "NFTGan: %s", message
    )
    try:
        bpy.ops.nftgan.report(level=level, message=message)
    except (RuntimeError, AttributeError):  # no window (background) or mid-unregister: the log has it
        pass
    redraw()


def redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type in ("IMAGE_EDITOR", "VIEW_3D", "PREFERENCES"):
                area.tag_redraw()


# ----------------------------------------------------------------------------------------------- styles


def styles(context=None) -> list[core_styles.Style]:
    global _styles
    if _styles is None:
        prefs = preferences.get(context)
        _styles = core_styles.scan(prefs.folder_paths() if prefs else ())
        _make_thumbnails(_styles)
    return _styles


def refresh_styles() -> None:
    global _styles
    _styles = None
    styles()
    redraw()


def style_by_id(kind: str, style_id: str) -> core_styles.Style | None:
    return core_styles.find(styles(), kind, style_id)


def icon_id(style: core_styles.Style) -> int:
    if _previews is None or style.path not in _thumb_paths:
        return 0
    key = style.path
    if key not in _previews:
        _previews.load(key, _thumb_paths[style.path], "IMAGE")
    return _previews[key].icon_id


def _make_thumbnails(found) -> None:
    todo = [s for s in found if s.ok and s.kind in ("colorize", "stylize") and s.path not in _thumb_paths]
    if not todo or worker is None:
        return
    cache, opts = user_dir("thumbnails"), settings()

    def make(job):
        out = {}
        for i, style in enumerate(todo):
            job.progress(i / len(todo), f"preview of {style.name}")
            try:
                out[style.path] = core_styles.thumbnail(style, cache, **opts)
            except Exception as exc:  # noqa: BLE001 - a style that cannot make a thumbnail still works without one
                log.warning("NFTGan: no thumbnail for %s: %s", style.path, exc)
        return out

    def done(job):
        if job.state == jobs.DONE:
            _thumb_paths.update(job.result)
            redraw()

    submit(make, key="thumbnails", file_bound=False, latest_wins=True, label="style previews", on_done=done)


def draw_style_list(layout) -> None:
    """The styles found, with reasons for the unusable ones (preferences and panel)."""
    found = styles()
    box = layout.box()
    valid = [s for s in found if s.ok]
    if not valid:
        for line in wrap(core_styles.HOW_TO_GET_STYLES, 60):
            box.label(text=line)
    for s in valid:
        box.label(text=f"{s.name}  ({s.kind}, {s.info.size}px)", icon_value=icon_id(s) or 0)
    for s in found:
        if not s.ok:
            col = box.column(align=True)
            col.alert = True
            for i, line in enumerate(wrap(s.error, 70)):
                col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
    box.operator("nftgan.refresh_styles", icon="FILE_REFRESH")


def wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


class NFTGAN_OT_refresh_styles(bpy.types.Operator):
    """Look for style models again (after copying new .onnx files into a model folder)"""

    bl_idname = "nftgan.refresh_styles"
    bl_label = "Refresh Styles"
    bl_options = {"INTERNAL"}

    def execute(self, _context):
        refresh_styles()
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------- handlers


def _timer():
    if worker is None:
        return None
    drain(step=True)
    from . import stylize

    stylize.live_tick()
    return TIMER_INTERVAL


@persistent
def _on_load_post(*_args):
    """A new file: cancel work for the old one and forget its results."""
    global generation
    generation += 1
    if worker is None:
        return
    n = sum(worker.cancel(key) for key in _file_jobs)
    _file_jobs.clear()
    if n:
        report(f"cancelled {n} NFTGan job(s): a different file was loaded", "WARNING")
    worker.drain()  # jobs of the old file: their callbacks see the new generation and do nothing


@persistent
def _on_save_pre(*_args):
    """Results are packed PNGs held in memory; make them file-backed so the .blend keeps them."""
    for image in bpy.data.images:
        if image.get("nftgan_stage") and image.source == "GENERATED" and image.packed_file:
            image.source = "FILE"


def register():
    global worker, _previews, _styles, generation, last_report
    import bpy.utils.previews

    bpy.utils.register_class(NFTGAN_OT_report)
    bpy.utils.register_class(NFTGAN_OT_refresh_styles)
    worker = jobs.Worker()
    generation, last_report, _styles = 0, ("INFO", ""), None
    _file_jobs.clear()
    _later.clear()
    _previews = bpy.utils.previews.new()
    _thumb_paths.clear()
    bpy.app.handlers.load_post.append(_on_load_post)
    bpy.app.handlers.save_pre.append(_on_save_pre)
    bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL, persistent=True)
    _read_styles_in_background()


def _read_styles_in_background() -> None:
    """Read every model file once on the worker at start-up (importing onnxruntime and opening each file:
    ~0.3 s for the four shipped models, more with the user's own): the first panel draw then finds them
    cached (core.styles caches by path, size and mtime) instead of stalling Blender on them."""
    prefs = preferences.get()
    folders = prefs.folder_paths() if prefs else ()
    worker.submit(
        lambda job: core_styles.scan(folders),
        key="styles:read",
        label="NFTGan: reading styles",
        on_done=lambda job: redraw(),
    )


def unregister():
    global worker, _previews, _styles
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    for handlers, fn in (
        (bpy.app.handlers.load_post, _on_load_post),
        (bpy.app.handlers.save_pre, _on_save_pre),
    ):
        if fn in handlers:
            handlers.remove(fn)
    if worker is not None:
        t0 = time.perf_counter()
        stopped = worker.shutdown(timeout=10.0)
        log.info(
            "NFTGan worker %s in %.2f s", "stopped" if stopped else "did NOT stop", time.perf_counter() - t0
        )
        worker = None
    from ..core import pipeline

    pipeline.clear_sessions()
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    _styles = None
    bpy.utils.unregister_class(NFTGAN_OT_refresh_styles)
    bpy.utils.unregister_class(NFTGAN_OT_report)


class ImageEditorSidebar:
    """Mixin for NFTGan panels in the Image Editor's sidebar (N), tab "NFTGan"."""

    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "NFTGan"


def start_in_background(operator, start, message: str) -> set[str]:
    """An operator's execute(): call `start()` (which submits a job); a user error becomes its error report."""
    try:
        start()
    except (jobs.UserError, ValueError) as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    operator.report({"INFO"}, message)
    return {"FINISHED"}


class NFTGAN_OT_cancel_jobs(Operator):
    """Stop this background work (between steps); nothing half-done is recorded as finished"""

    bl_idname = "nftgan.cancel_jobs"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    key: StringProperty(description="The worker job key to cancel (publish, generate, ...)")

    def execute(self, _context):
        if worker is not None:
            worker.cancel(self.key)
        return {"FINISHED"}


CLASSES = (NFTGAN_OT_cancel_jobs,)
