"""The worker bridge: the add-on session's one worker thread and the main thread's side of it.

- `worker`: one core.jobs.Worker per add-on session (created in register, shut down in unregister, so
  disabling the add-on mid-job stops the job cleanly).
- `submit()`: start work on it; `drain()` runs finished jobs' callbacks on the main thread. In Blender a
  timer calls it (and then each function features added with `on_tick`); tests call it directly (timers
  never fire in the bpy module).
- `later()`: main-thread work in steps, one task after another: a function, or a generator whose pieces a
  timer tick runs up to `STEP_BUDGET` (a big result's write: `images.write_steps`; a renamed sketch's
  results renamed after it: `images._rename_steps`), ticks `STEP_INTERVAL` apart while any is queued; such a
  tick redraws the add-on's areas when its step ends, else at most every `REDRAW_INTERVAL`. A save, or
  disabling the add-on, writes a result half written whole first (`finish_steps`).
- A new file loaded mid-job cancels its file-bound work and drops results meant for the old file.
- `report()`: a message in the status bar and the panel, `redraw()`: the add-on's areas.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable

import bpy
from bpy.app.handlers import persistent
from bpy.props import EnumProperty, StringProperty

from ..core import jobs, pipeline
from . import preferences

log = logging.getLogger(__name__)

TIMER_INTERVAL = 0.2  # seconds between drains while Blender runs
STEP_INTERVAL = 0.01  # ... while `later()` steps are queued (a big result is written in 10-30 ticks)
STEP_BUDGET = 0.008  # seconds of a tick that a generator's small pieces fill (then the tick ends)
REDRAW_INTERVAL = 0.1  # seconds: while a step runs over many ticks, its areas are redrawn at most this often
TICK = object()  # a generator step yields it to end the tick there: its next piece is a big one of its own

worker: jobs.Worker | None = None
generation = 0  # bumped when a file is loaded: results of older jobs are dropped
last_report: tuple[str, str] = ("INFO", "")
_report_outlives_file = False  # whether last_report is about work that outlives the file (an upload)
_file_jobs: set[str] = set()  # keys of jobs whose results belong to the open file
_later: collections.deque = collections.deque()  # (generation, fn): main-thread steps queued by callbacks
_ticks: list[Callable[[], object]] = []  # features' timer functions (on_tick), called after each drain
_next_tick = TIMER_INTERVAL  # seconds to the next timer tick (features may ask for less: tick_within)
_redrawn_at = 0.0  # perf_counter of the last redraw a step tick made


def submit(fn, *, on_done, key: str, file_bound: bool = True, **kwargs) -> jobs.Job:
    """Submit to the worker. A file-bound job is cancelled when another file is loaded, and its `on_done`
    (main thread) is skipped if it finishes after that; others (style previews, uploads) outlive the file."""
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


def later(fn, *, file_bound: bool = True) -> None:
    """Run `fn` on the main thread at a later drain (spreads big result writes over several timer ticks).
    `fn` is a function, or an iterator of pieces (a generator): each `next()` runs one piece; a timer tick runs
    pieces until `STEP_BUDGET` is spent, or until a piece yields `TICK` (the next one is big: it starts a tick
    of its own). Steps run one after another in the order queued: a generator keeps its turn until it ends, and
    the tick it ends in starts no other step. A file-bound step is skipped (a generator dropped) when another
    file is loaded first; others (a publish's) run."""
    _later.append((generation if file_bound else None, fn))


def pending_steps() -> int:
    """How many main-thread steps `later()` has queued (benchmarks drain until none is left)."""
    return len(_later)


def _run_later(budget: float | None = None) -> bool:
    """Run the first step: a function whole; a generator's pieces until one yields `TICK`, or (with a `budget`)
    until `budget` seconds are spent, whichever comes first; None: no time limit, still up to the next `TICK`
    (`drain()` calls it again; `finish_steps()` runs a generator to its end). Returns whether the step ended
    (ran, failed, was dropped, or its generator finished) and left the queue."""
    gen, fn = _later[0]
    if gen not in (generation, None) or not hasattr(fn, "__next__"):
        _later.popleft()
        if gen not in (generation, None):  # queued for a file that is no longer open
            return True
        try:
            fn()
        except Exception:
            log.exception("NFTGan: a main-thread step failed")
        return True
    t0 = time.perf_counter()
    try:
        while next(fn) is not TICK and (budget is None or time.perf_counter() - t0 < budget):
            pass
    except StopIteration:
        _later.popleft()
        return True
    except Exception:
        _later.popleft()
        log.exception("NFTGan: a main-thread step failed")
        return True
    return False


def finish_steps() -> None:
    """Run every queued generator of the open file to its end now (a save: a result half written is
    written whole first); functions stay queued."""
    for entry in list(_later):
        gen, fn = entry
        if hasattr(fn, "__next__") and gen in (generation, None):
            try:
                for _ in fn:
                    pass
            except Exception:
                log.exception("NFTGan: a main-thread step failed")
            if entry in _later:
                _later.remove(entry)


def drain(step: bool = False) -> list[jobs.Job]:
    """Main thread: apply finished jobs; returns them (tests look at them).

    By default everything pending is applied now. With `step=True` (Blender's timer) one queued
    step runs per call when there is one, so no single timer tick blocks Blender for long. Such a tick redraws
    the add-on's areas when its step ended, else at most every `REDRAW_INTERVAL` (a big write's pieces come
    every `STEP_INTERVAL`: a redraw of every Image Editor and 3D viewport at each of them cost more than the
    pieces spare)."""
    global _redrawn_at
    if worker is None:
        return []
    if step and _later:
        ended = _run_later(STEP_BUDGET)
        now = time.perf_counter()
        if ended or now - _redrawn_at >= REDRAW_INTERVAL:
            _redrawn_at = now
            redraw()
        return []
    finished = worker.drain()
    while _later and not step:
        _run_later()
    if finished or worker.busy():
        _redrawn_at = time.perf_counter()
        redraw()
    return finished


def on_tick(fn: Callable[[], object]) -> None:
    """Call `fn()` on the main thread after each timer drain (a feature's periodic work, e.g. live preview)."""
    _ticks.append(fn)


def tick_within(seconds: float) -> None:
    """Ask for the next timer tick within `seconds` (live preview: 25 a second instead of 5)."""
    global _next_tick
    _next_tick = min(_next_tick, seconds)


def remove_tick(fn: Callable[[], object]) -> None:
    if fn in _ticks:
        _ticks.remove(fn)


def user_dir(*parts: str) -> str:
    """A folder in the extension's user folder (created); user data never goes into the add-on folder."""
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


def report(message: str, level: str = "INFO", *, outlives_file: bool = False) -> None:
    """`outlives_file`: the message is about work that is not the open file's (a publish, a resume at start): it
    stays in the panel when another file is loaded; others go."""
    global last_report, _report_outlives_file
    last_report, _report_outlives_file = (level, message), outlives_file
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


# ----------------------------------------------------------------------------------------------- handlers


def _timer():
    global _next_tick
    if worker is None:
        return None
    _next_tick = TIMER_INTERVAL
    drain(step=True)
    for fn in list(_ticks):
        try:
            fn()
        except Exception:  # one feature's tick must not stop the timer for the others
            log.exception("NFTGan: a timer step failed")
    return min(_next_tick, STEP_INTERVAL) if _later else _next_tick


@persistent
def _on_load_post(*_args):
    """A new file: cancel work for the old one and forget its results and its report (the panel showed the
    old file's last message, naming images this file does not have; a publish's report stays)."""
    global generation, last_report
    generation += 1
    if not _report_outlives_file:
        last_report = ("INFO", "")
    # the old file's steps are dropped now (a write's pixels freed), not at the next tick
    for entry in [e for e in _later if e[0] is not None]:
        _later.remove(entry)
    if worker is None:
        return
    n = sum(worker.cancel(key) for key in _file_jobs)
    _file_jobs.clear()
    if n:
        report(f"cancelled {n} NFTGan job(s): a different file was loaded", "WARNING")
    worker.drain()  # jobs of the old file: their callbacks see the new generation and do nothing


CLASSES = (NFTGAN_OT_report,)


def register():
    global worker, generation, last_report, _report_outlives_file
    worker = jobs.Worker()
    generation, last_report = 0, ("INFO", "")
    _report_outlives_file = False
    _file_jobs.clear()
    _later.clear()
    bpy.app.handlers.load_post.append(_on_load_post)
    bpy.app.timers.register(_timer, first_interval=TIMER_INTERVAL, persistent=True)


def unregister():
    """Disabling the add-on: a result being written over several ticks is written whole first (as a save does;
    else a blank new image, or new pixels over an old packed PNG, stayed in the file), then the other queued
    steps are dropped and the worker stops."""
    global worker
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    finish_steps()
    _later.clear()
    if worker is not None:
        t0 = time.perf_counter()
        stopped = worker.shutdown(timeout=10.0)
        log.info(
            "NFTGan worker %s in %.2f s", "stopped" if stopped else "did NOT stop", time.perf_counter() - t0
        )
        worker = None
    pipeline.clear_sessions()
