"""The worker thread: ordering, progress, cancel, latest-wins, errors, main-thread drain."""

import threading
import time

import pytest
from nftgan.core.errors import UserError
from nftgan.core.jobs import CANCELLED, DONE, FAILED, Worker


@pytest.fixture
def worker():
    w = Worker()
    yield w
    assert w.shutdown(timeout=5)


def test_runs_in_order_and_on_done_runs_on_the_draining_thread(worker):
    seen, done_threads = [], []
    for i in range(3):
        worker.submit(
            lambda job, i=i: seen.append(i) or i * 10,
            on_done=lambda job: done_threads.append(threading.current_thread()),
        )
    assert worker.wait_idle(5)
    jobs = worker.drain()
    assert seen == [0, 1, 2]
    assert [j.result for j in jobs] == [0, 10, 20] and all(j.state == DONE for j in jobs)
    assert done_threads == [threading.main_thread()] * 3
    assert worker.drain() == []


def test_cancel_stops_a_running_job_at_its_next_check_and_fires_abort_hooks(worker):
    started, aborted = threading.Event(), threading.Event()

    def long(job):
        job.on_cancel(aborted.set)
        started.set()
        for _ in range(1000):
            job.progress(0.5, "tile")
            time.sleep(0.01)
        return "finished"

    job = worker.submit(long, key="img")
    assert started.wait(5)
    t0 = time.perf_counter()
    assert worker.cancel("img") == 1
    assert worker.wait_idle(5)
    assert time.perf_counter() - t0 < 1.0
    assert aborted.is_set()
    assert job.state == CANCELLED and job.result is None


def test_latest_wins_replaces_queued_and_cancels_running(worker):
    gate = threading.Event()
    ran = []

    def step(tag):
        def fn(job):
            if tag == "first":
                while not gate.is_set():
                    job.check()
                    time.sleep(0.005)
            ran.append(tag)
            return tag

        return fn

    first = worker.submit(step("first"), key="sketch", latest_wins=True)
    while first.state != "running":
        time.sleep(0.005)
    second = worker.submit(step("second"), key="sketch", latest_wins=True)
    third = worker.submit(step("third"), key="sketch", latest_wins=True)
    assert worker.wait_idle(5)
    assert ran == ["third"]
    assert (first.state, second.state, third.state) == (CANCELLED, CANCELLED, DONE)
    assert {j.state for j in worker.drain()} == {CANCELLED, DONE}


def test_keep_running_lets_the_running_job_finish_and_replaces_the_queued_one(worker):
    """Live preview: a steady stream of newer jobs must not cancel the one being computed, or nothing ever
    finishes; only the newest of the queued ones runs next."""
    gate = threading.Event()
    ran = []

    def step(tag):
        def fn(job):
            if tag == "first":
                assert gate.wait(5)
            ran.append(tag)
            return tag

        return fn

    first = worker.submit(step("first"), key="live", latest_wins=True, keep_running=True)
    while first.state != "running":
        time.sleep(0.005)
    later = [worker.submit(step(t), key="live", latest_wins=True, keep_running=True) for t in "abc"]
    gate.set()
    assert worker.wait_idle(5)
    assert ran == ["first", "c"]
    assert [j.state for j in (first, *later)] == [DONE, CANCELLED, CANCELLED, DONE]


def test_errors_become_short_messages_and_the_worker_survives(worker):
    def boom(job):
        raise RuntimeError("x" * 1000)

    def polite(job):
        raise UserError("The sketch is empty: paint something first.")

    a = worker.submit(boom)
    b = worker.submit(polite)
    c = worker.submit(lambda job: 42)
    assert worker.wait_idle(5)
    assert a.state == FAILED and a.error.startswith("RuntimeError") and len(a.error) <= 300 and a.details
    assert b.state == FAILED and b.error == "The sketch is empty: paint something first." and not b.details
    assert c.state == DONE and c.result == 42


def test_shutdown_cancels_running_work_and_refuses_new_jobs():
    w = Worker()
    started = threading.Event()

    def forever(job):
        started.set()
        while True:
            job.check()
            time.sleep(0.005)

    job = w.submit(forever)
    assert started.wait(5)
    assert w.shutdown(timeout=5)
    assert job.state == CANCELLED
    with pytest.raises(RuntimeError):
        w.submit(lambda job: None)


def test_a_job_ended_or_replaced_keeps_its_result_but_not_its_inputs(worker):
    """What a job's function holds (a sketch's snapshot) is freed when the job ends or a newer one replaces it
    in the queue, even while the Job object itself is still referenced (a drain's list, a slot)."""
    import gc
    import weakref

    class Pixels:  # stands in for a snapshot array; weakref-able
        pass

    def job_of(px, gate=None):
        def fn(job):
            if gate is not None:
                gate.wait(10)
            return id(px)

        return fn

    gate = threading.Event()
    blocker = worker.submit(job_of(Pixels(), gate), key="other")
    px_done, px_replaced = Pixels(), Pixels()
    refs = weakref.ref(px_done), weakref.ref(px_replaced)
    replaced = worker.submit(job_of(px_replaced), key="k", latest_wins=True)
    done = worker.submit(job_of(px_done), key="k", latest_wins=True)
    del px_done, px_replaced
    gc.collect()
    try:
        assert refs[1]() is None and replaced.state == CANCELLED  # replaced while queued: freed at once
    finally:
        gate.set()
    assert worker.wait_idle(10)
    finished = worker.drain()
    gc.collect()
    assert done.state == DONE and isinstance(done.result, int) and blocker in finished
    assert refs[0]() is None  # done: its result stays, its inputs are gone


def test_the_demo_prints_each_jobs_progress_under_its_label(worker, capsys):
    """`make demo`: the style previews' progress lines ran on into Stylize's ("0% preview of Flat Colour,
    50% preview of 3D Clay, 33% Flat Colour: tile 1/1"), with nothing saying which job a line was of. Each
    drain here lets the running job take one step, so every message is seen."""
    from tools import demo

    go, stepped = threading.Semaphore(0), threading.Semaphore(0)

    def steps(*messages):
        def fn(job):
            for i, message in enumerate(messages):
                go.acquire()
                job.progress(i / len(messages), message)
                stepped.release()
            go.acquire()  # ends on the next drain, after its last message was seen
            stepped.release()

        return fn

    def drain():
        go.release()
        stepped.acquire(timeout=5)

    worker.submit(steps("preview of Flat Colour", "preview of 3D Clay"), label="style previews")
    worker.submit(steps("Flat Colour (colorize)", "3D Clay (stylize)"), label="Stylize Sketch")
    demo.follow(worker, drain)
    assert capsys.readouterr().out.splitlines() == [
        "  style previews:",
        "       0%  preview of Flat Colour",
        "      50%  preview of 3D Clay",
        "  Stylize Sketch:",
        "       0%  Flat Colour (colorize)",
        "      50%  3D Clay (stylize)",
    ]
