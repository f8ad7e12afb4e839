"""A job slot: one kind of background work a panel shows (stylize, publish, generate).

It remembers the newest job under its name (or under `name:…` keys, e.g. one stylize per sketch), draws
the shared progress row with Cancel while one runs, and reports how a job ended. Operators start their
work through `start_from()`, which turns a user error into the operator's error report.
"""

from __future__ import annotations

from bpy.props import StringProperty
from bpy.types import Operator

from ..core import errors, jobs
from . import runtime

SLOTS: dict[str, JobSlot] = {}  # name -> slot (the Cancel operator finds a slot by its name)


class JobSlot:
    def __init__(self, name: str, *, file_bound: bool = True, latest_wins: bool = False):
        self.name, self.file_bound, self.latest_wins = name, file_bound, latest_wins
        self._jobs: dict[str, jobs.Job] = {}  # key -> its newest job
        SLOTS[name] = self

    def submit(self, work, *, label: str, on_done, key: str = "", keep_running: bool = False) -> jobs.Job:
        """Start `work(job)` on the worker; `on_done(job)` runs on the main thread when it ends. With
        `keep_running` a newer job of a latest-wins slot replaces a queued one but lets a running one end."""
        key = key or self.name
        job = runtime.submit(
            work,
            key=key,
            label=label,
            on_done=on_done,
            file_bound=self.file_bound,
            latest_wins=self.latest_wins,
            keep_running=keep_running,
        )
        self._jobs[key] = job
        return job

    def current(self) -> jobs.Job | None:
        """The newest job of this slot that has not finished."""
        active = [j for j in self._jobs.values() if not j.finished]
        return active[-1] if active else None

    def release(self, job: jobs.Job) -> None:
        """Forget a finished job (so the slot does not keep its result alive)."""
        for key, known in list(self._jobs.items()):
            if known is job:
                del self._jobs[key]

    def cancel(self) -> int:
        """Cancel every running or queued job of this slot; returns how many."""
        if runtime.worker is None:
            return 0
        return sum(runtime.worker.cancel(key) for key, job in self._jobs.items() if not job.finished)

    def clear(self) -> None:
        self._jobs.clear()

    def draw(self, layout) -> bool:
        """A progress bar with Cancel while a job runs (True), else nothing (False: draw the start button)."""
        job = self.current()
        if job is None:
            return False
        row = layout.row(align=True)
        row.progress(factor=job.fraction, type="BAR", text=job.message or "waiting")
        row.operator(NFTGAN_OT_cancel_jobs.bl_idname, text="", icon="X").key = self.name
        return True

    def ended(
        self, job: jobs.Job, *, failed: str, cancelled: str = "", cancelled_level: str = "INFO"
    ) -> bool:
        """Report a job that did not succeed and return False; True when it is done.
        `failed` may name the error with {error} (default: appended after a colon)."""
        if job.state == jobs.DONE:
            return True
        keep = not self.file_bound  # (an upload's report stays when another file is loaded)
        if job.state == jobs.CANCELLED:
            if cancelled:
                runtime.report(cancelled, cancelled_level, outlives_file=keep)
        elif "{error}" in failed:  # (an error that ends its sentence keeps one full stop: "... preferences.")
            error = job.error.rstrip()
            if error.endswith((".", "!", "?")):
                failed = failed.replace("{error}.", "{error}")
            runtime.report(failed.format(error=error), "ERROR", outlives_file=keep)
        else:
            runtime.report(f"{failed}: {job.error}", "ERROR", outlives_file=keep)
        return False


def start_from(operator, start, message: str) -> set[str]:
    """An operator's execute(): call `start()` (which submits a job); a user error becomes its error report."""
    try:
        start()
    except (errors.UserError, ValueError) as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    operator.report({"INFO"}, message)
    return {"FINISHED"}


class NFTGAN_OT_cancel_jobs(Operator):
    """Stop this background work (between steps); nothing half-done is recorded as finished"""

    bl_idname = "nftgan.cancel_jobs"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    key: StringProperty(description="The job slot (stylize, publish, generate) or worker job key to cancel")

    def execute(self, _context):
        slot = SLOTS.get(self.key)
        if slot is not None:
            slot.cancel()
        elif runtime.worker is not None:
            runtime.worker.cancel(self.key)
        return {"FINISHED"}


CLASSES = (NFTGAN_OT_cancel_jobs,)
