"""One background worker thread for all inference and network I/O (never touches bpy).

A job is a function `fn(job) -> result` run on the worker. It reports progress with
`job.progress(fraction, message)` and calls `job.check()` between stages/tiles, which
raises `Cancelled` once the job was cancelled. Long native calls register an abort hook
with `job.on_cancel(callback)` (e.g. onnxruntime's `RunOptions.terminate = True`).

Finished jobs go on a queue; the main thread calls `Worker.drain()` (in Blender from a
timer, in tests directly) and each job's `on_done(job)` runs there, on the main thread.

"Latest wins": submitting with `key=K, latest_wins=True` replaces a queued job with the
same key and cancels a running one, so Stylize never works on a stale sketch. With `keep_running=True`
as well (live preview) the running one finishes: under a steady stream of changes every job would
otherwise be cancelled before it ends, and the preview would never update.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .errors import Cancelled, UserError

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


class Job:
    def __init__(
        self,
        fn: Callable[[Job], Any],
        key: str | None,
        label: str,
        on_done: Callable[[Job], None] | None,
        on_progress: Callable[[Job], None] | None,
    ):
        self.fn, self.key, self.label = fn, key, label
        self.on_done, self.on_progress = on_done, on_progress
        self.state = QUEUED
        self.fraction = 0.0
        self.message = ""
        self.result: Any = None
        self.error: str = ""  # short, for the user
        self.details: str = ""  # traceback, for the log
        self._cancel = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # --- called from the job function (worker thread) ---
    def progress(self, fraction: float, message: str = "") -> None:
        self.check()
        self.fraction = max(0.0, min(1.0, float(fraction)))
        self.message = message
        if self.on_progress:
            self.on_progress(self)

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register an abort hook; returns a function that unregisters it."""
        with self._lock:
            self._hooks.append(hook)
            fire = self._cancel.is_set()
        if fire:
            hook()

        def remove() -> None:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)

        return remove

    # --- called from anywhere ---
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

    def cancel(self) -> None:
        with self._lock:
            self._cancel.set()
            hooks = list(self._hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # an abort hook must never take the worker down
                log.exception("cancel hook failed")

    def __repr__(self) -> str:
        return f"<Job {self.label or self.key or id(self)} {self.state}>"


class Worker:
    """A single daemon thread executing jobs in submission order."""

    def __init__(self, name: str = "nftgan-worker"):
        self._pending: collections.deque[Job] = collections.deque()
        self._cv = threading.Condition()
        self._done: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._current: Job | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(
        self,
        fn: Callable[[Job], Any],
        *,
        key: str | None = None,
        latest_wins: bool = False,
        keep_running: bool = False,
        label: str = "",
        on_done: Callable[[Job], None] | None = None,
        on_progress: Callable[[Job], None] | None = None,
    ) -> Job:
        job = Job(fn, key, label, on_done, on_progress)
        with self._cv:
            if self._stopping:
                raise RuntimeError("the NFTGan worker has been shut down")
            if latest_wins and key is not None:
                for old in [j for j in self._pending if j.key == key]:
                    self._pending.remove(old)
                    old.fn = None
                    old.cancel()
                    old.state = CANCELLED
                    self._done.put(old)
                if self._current is not None and self._current.key == key and not keep_running:
                    self._current.cancel()
            self._pending.append(job)
            self._cv.notify()
        return job

    def cancel(self, key: str | None = None) -> int:
        """Cancel queued and running jobs with this key (all jobs when key is None)."""
        n = 0
        with self._cv:
            for job in [j for j in self._pending if key is None or j.key == key]:
                self._pending.remove(job)
                job.fn = None
                job.cancel()
                job.state = CANCELLED
                self._done.put(job)
                n += 1
            if self._current is not None and (key is None or self._current.key == key):
                self._current.cancel()
                n += 1
        return n

    def busy(self, key: str | None = None) -> bool:
        with self._cv:
            jobs = list(self._pending) + ([self._current] if self._current else [])
        return any(key is None or j.key == key for j in jobs)

    @property
    def current(self) -> Job | None:
        return self._current

    def drain(self) -> list[Job]:
        """Main thread: take finished jobs and run their on_done callbacks here."""
        finished = []
        while True:
            try:
                job = self._done.get_nowait()
            except queue.Empty:
                break
            finished.append(job)
            if job.on_done:
                try:
                    job.on_done(job)
                except Exception:
                    log.exception("on_done of %r failed", job)
        return finished

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (tests, command-line use)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and self._current is None, timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Cancel everything and stop the thread; True if it stopped within timeout."""
        self.cancel()
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending or self._stopping)
                if self._stopping and not self._pending:
                    return
                job = self._pending.popleft()
                self._current = job
            self._run(job)
            job.fn = None  # a finished job keeps its result, not its inputs (a sketch's snapshot is 64 MB at 2048^2)
            self._done.put(job)  # before clearing _current, so wait_idle() then drain() sees it
            with self._cv:
                self._current = None
                self._cv.notify_all()

    @staticmethod
    def _run(job: Job) -> None:
        if job.cancelled:
            job.state = CANCELLED
            return
        job.state = RUNNING
        try:
            job.result = job.fn(job)
            job.state = CANCELLED if job.cancelled else DONE
        except Cancelled:
            job.state = CANCELLED
        except UserError as exc:
            job.state, job.error = FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - report briefly, log fully
            job.state = CANCELLED if job.cancelled else FAILED
            job.error = f"{type(exc).__name__}: {exc}".strip()[:300]
            job.details = traceback.format_exc()
            log.error("NFTGan job %r failed:\n%s", job, job.details)
