"""Publishes in separate, real processes on one ledger: each owns its pending row; a process killed
with SIGKILL leaves a row the next run finishes (once), and the same publish run again is recognised."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest
from nftgan.core.publish.ledger import PENDING, PUBLISHED, Ledger
from nftgan.core.publish.service import Request, prepare, publish

from .conftest import nftgan, png_bytes


def _args(server, db, image, name):
    return [
        "publish",
        image,
        "--backend",
        "nftstorage",
        "--endpoint",
        server.url,
        "--ledger",
        db,
        "--name",
        name,
    ]


def _uploads(server) -> int:
    return len([h for h in server.state.hits if h.path == "/upload" and h.status == 200])


def _pending_row(ledger, prepared, server, owner=""):
    """The pending kubo row of `prepared` that a publish begins (with `owner`, or none), no file staged."""
    return ledger.begin(
        name=prepared.request.name,
        backend="kubo",
        endpoint=server.url,
        image_sha256="",
        image_size=1,
        image_cid=str(prepared.items["image"].dag.root),
        metadata_cid=str(prepared.items["metadata"].dag.root),
        files={},
        owner=owner,
    )


def _held_publish(server, tmp_path, db):
    """Process A: its image is stored, its metadata upload is held by the server until `release`."""
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(32, 1))
    arrived, release = threading.Event(), threading.Event()
    server.inject("/upload", "pass", ("hold", arrived, release))
    proc = nftgan(*_args(server, db, image, "A"))
    assert arrived.wait(60), proc.communicate(timeout=5)
    return proc, image, release


def test_two_publishes_at_once_never_take_each_others_rows(server, tmp_path):
    db = tmp_path / "ledger.sqlite"
    a, a_image, release = _held_publish(server, tmp_path, db)
    try:
        (held,) = Ledger(db).rows()
        assert held.state == PENDING and held.owner.split("/")[1] == str(a.pid)
        b_image = tmp_path / "b.png"
        b_image.write_bytes(png_bytes(32, 2))
        b = nftgan(*_args(server, db, b_image, "B"))
        out, err = b.communicate(timeout=60)
        assert b.returncode == 0, err
        assert "resumed" not in out and out.startswith("published  B")  # A's row was not touched
        # the same publish as A's, while A still runs: refused, naming A
        c = nftgan(*_args(server, db, a_image, "A"))
        out, err = c.communicate(timeout=60)
        assert (
            c.returncode == 1
            and f"being published right now by another NFTGan process (process {a.pid}" in err
        )
        assert Ledger(db).get(held.id).state == PENDING
    finally:
        release.set()
    out, err = a.communicate(timeout=60)
    assert a.returncode == 0, err
    assert out.startswith("published  A")  # A recorded its own verified result
    assert [(r.name, r.state) for r in Ledger(db).rows()] == [("B", PUBLISHED), ("A", PUBLISHED)]
    assert _uploads(server) == 4  # two files each, nothing sent twice


def test_the_same_publish_run_again_after_kill_9_finishes_the_first_instead_of_publishing_twice(
    server, tmp_path
):
    db = tmp_path / "ledger.sqlite"
    a, image, release = _held_publish(server, tmp_path, db)
    try:
        a.send_signal(signal.SIGKILL)
        a.wait(10)
    finally:
        release.set()
    again = nftgan(*_args(server, db, image, "A"))  # the same command, without --resume
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    (row,) = Ledger(db).rows()  # one row: the killed one, finished
    assert (
        row.state == PUBLISHED and "resumed: published  A" in out and "already published (ledger row 1" in out
    )
    assert _uploads(server) == 2 + 2  # A's two, then both once more to verify them (no third publish)


def test_publishing_again_takes_over_an_orphaned_row_of_the_same_content(server, tmp_path, backend_for):
    """The service's own rule (Blender publishes without a resume first): a dead process's row is reused."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    prepared = prepare(Request(image=png_bytes(32, 5), name="again"))
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = Ledger.new_owner().split("/")[0]
    orphan = _pending_row(ledger, prepared, server, owner=f"{host}/{dead.pid}/0000")
    row = publish(prepared, backend_for("kubo"), ledger)
    assert row.id == orphan.id and row.state == PUBLISHED and len(ledger.rows()) == 1
    assert publish(prepared, backend_for("kubo"), ledger) == row  # and once more: already published


STAGE_MANY = """
import sys
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.ledger import Ledger
from nftgan.core.publish.service import Request, publish
from tests.publish.conftest import png_bytes

folder, db, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
offline, ledger = make_backend(Settings("offline", endpoint=folder)), Ledger(db)
for i in range(count):
    publish(Request(image=png_bytes(16, who * 1000 + i), name=f"p{who}-{i}"), offline, ledger)
"""


def test_processes_staging_into_one_offline_folder_at_once_keep_every_manifest_entry(tmp_path):
    """Blender and `nftgan publish` (each with its own ledger) staging into one Offline folder at once: each
    read manifest.json, added its entry and wrote it back, so one's entry was lost whenever the other wrote
    in between (3 processes x 30 publishes: 71-78 of 90 entries left, in four runs). Every staged publish
    is in the manifest now."""
    import json
    import os
    import sys

    from .conftest import ROOT

    folder = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STAGE_MANY, str(folder), str(tmp_path / f"l{who}.sqlite"), str(who), "30"],
            cwd=ROOT,
            env=env,
        )
        for who in (1, 2, 3)
    ]
    assert [p.wait(300) for p in procs] == [0, 0, 0]
    entries = json.loads((folder / "manifest.json").read_text())["entries"]
    assert sorted(e["name"] for e in entries) == sorted(f"p{w}-{i}" for w in (1, 2, 3) for i in range(30))
    staged = [r for who in (1, 2, 3) for r in Ledger(tmp_path / f"l{who}.sqlite").rows()]
    assert {e["token_uri"] for e in entries} == {r.token_uri for r in staged}


_AT_ONCE = """
import sys, time
from nftgan.core.errors import PublishError
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.ledger import Ledger
from nftgan.core.publish.service import Request, publish
from tests.publish.conftest import png_bytes

url, db, start, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
request, ledger = Request(image=png_bytes(32, seed), name=f"At once {seed}"), Ledger(db)
backend = make_backend(Settings("kubo", endpoint=url))
while time.time() < start:  # all start together (spinning: a sleep wakes too unevenly)
    pass
try:
    print("published", publish(request, backend, ledger).id)
except PublishError as exc:
    print("refused", exc)
"""


@pytest.mark.slow
def test_the_same_publish_started_in_processes_at_the_same_moment_is_uploaded_once(server, tmp_path):
    """Looking for a row of the same content and beginning one were two steps: processes starting the same
    publish at the same moment could each find none and each upload it (measured on main with two processes:
    4 of 30 trials left two published rows). The look and the insert are now one transaction."""
    import sys
    import time

    from .conftest import ROOT

    twice = []
    for trial in range(16):
        server.inject("/api/v0/add", *[("slow", 0.2)] * 6)  # the first one's upload is still running
        db = tmp_path / f"ledger{trial}.sqlite"
        Ledger(db)
        start = time.time() + 1.5
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", _AT_ONCE, server.url, str(db), str(start), str(trial)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outs = [run.communicate(timeout=120) for run in runs]
        assert all(run.returncode == 0 for run in runs), outs
        said = sorted(out.split()[0] for out, _ in outs)
        published = [r for r in Ledger(db).rows() if r.state == PUBLISHED]
        if len(published) > 1:
            twice.append(trial)
        else:
            assert said == ["published", "refused", "refused"], outs
    assert not twice, f"trials {twice} of 16 published the same image more than once"


def _same_again(server, image, name="A"):
    again = nftgan(*_args(server, image.parent / "ledger.sqlite", image, name))
    return again, *again.communicate(timeout=60)


def test_a_living_publish_is_judged_by_its_lock_not_by_the_clock(server, tmp_path):
    """The clock stepped an hour forward (a time sync, a laptop waking from sleep) while a publish on this
    computer waited on one upload: its lease, an hour past by the clock now, made the living publish look
    dead, so the same publish run again took its row over and published it a second time. The owner's lock
    says it is alive; killed (-9), it is dead at once, whatever its row's times say."""
    db = tmp_path / "ledger.sqlite"
    a, image, release = _held_publish(server, tmp_path, db)
    try:
        (held,) = Ledger(db).rows()
        with sqlite3.connect(db) as con:  # its last renewal, an hour ago by the clock now
            con.execute("UPDATE publishes SET lease=? WHERE id=?", (time.time() - 3600, held.id))
        assert not Ledger(db).orphaned(Ledger(db).get(held.id))
        again, out, err = _same_again(server, image)
        assert again.returncode == 1 and f"right now by another NFTGan process (process {a.pid}" in err
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        with sqlite3.connect(db) as con:  # killed, with its clock's renewals an hour ahead of ours
            con.execute("UPDATE publishes SET lease=? WHERE id=?", (time.time() + 3600, held.id))
        started = time.monotonic()
        assert Ledger(db).orphaned(Ledger(db).get(held.id))
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
    again, out, err = _same_again(server, image)
    assert again.returncode == 0, err
    (row,) = Ledger(db).rows()  # one row: the killed one, finished once
    assert row.state == PUBLISHED and "resumed: published  A" in out
    assert not os.listdir(tmp_path / "owners")  # every lock file went with its publish


_OTHER_COMPUTER = """
import sqlite3, sys, time
db, row, owner, offset, every = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
while True:  # the row's owner on a computer whose clock is `offset` seconds from ours, renewing it
    with sqlite3.connect(db, timeout=30) as con:
        con.execute("UPDATE publishes SET owner=?, lease=? WHERE id=?", (owner, time.time() + offset, row))
    con.close()
    time.sleep(every)
"""


def test_a_publish_on_another_computer_is_judged_by_its_renewals_not_by_the_clocks(
    server, tmp_path, backend_for, monkeypatch
):
    """A ledger in a folder shared by two computers whose clocks are an hour apart: a living publish of the one
    whose clock is behind looked dead (its row taken over and published a second time here), and a dead one
    of the one whose clock is ahead looked alive for an hour (refused, not resumed). Its renewals are watched
    instead, on this computer's monotonic clock (up to 5 beats)."""
    import sys

    from nftgan.core.errors import PublishError
    from nftgan.core.publish import ledger as ledger_module
    from nftgan.core.publish.service import resume_pending

    monkeypatch.setattr(ledger_module, "BEAT", 0.2)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    prepared = prepare(Request(image=png_bytes(32, 7), name="elsewhere"))
    row = _pending_row(ledger, prepared, server)
    theirs = "another-computer/4242/0a1b2c3d"
    beats = subprocess.Popen(
        [sys.executable, "-c", _OTHER_COMPUTER, str(ledger.path), str(row.id), theirs, "-3600", "0.2"]
    )
    try:  # its publish is alive; its clock is an hour behind ours
        time.sleep(0.5)
        assert not ledger.orphaned(ledger.get(row.id))
        with pytest.raises(
            PublishError, match=r"right now by another NFTGan process \(process 4242 on another-"
        ):
            publish(prepared, backend_for("kubo"), ledger)
        assert resume_pending(ledger, lambda r: backend_for("kubo")) == []
    finally:
        beats.kill()
        beats.wait(10)
    assert ledger.get(row.id).owner == theirs and ledger.get(row.id).state == PENDING
    with sqlite3.connect(ledger.path) as con:  # it died; its clock was an hour ahead of ours
        con.execute("UPDATE publishes SET lease=? WHERE id=?", (time.time() + 3600, row.id))
    started = time.monotonic()
    done = publish(prepared, backend_for("kubo"), ledger)  # taken over within 5 beats, and finished
    assert time.monotonic() - started < 5 * 0.2 + 5
    assert done.id == row.id and done.state == PUBLISHED and len(ledger.rows()) == 1


_STARTING = """
import sys, time
from nftgan.core.publish.ledger import Ledger

ledger = Ledger(sys.argv[1])
with ledger.owning():  # killed here: before any pending row names it (a token's fingerprint, a crash)
    print("owning", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def _one_killed_one_living(db, script: str):
    """Two processes running `script` on the ledger `db`, both owning: one killed (kill -9), the other, living,
    given to the block and killed after it."""
    import sys

    from .conftest import ROOT

    Ledger(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = [sys.executable, "-c", script, str(db)]
    killed, living = (
        subprocess.Popen(start, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in "ab"
    )
    try:
        assert killed.stdout.readline() == "owning\n" and living.stdout.readline() == "owning\n"
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        yield living
    finally:
        for process in (killed, living):
            process.kill()
            process.wait(10)


def test_owner_files_of_processes_killed_before_their_first_row_are_swept_by_the_next_publish(
    server, tmp_path
):
    """A process killed while it owned nothing yet (during the token's slow fingerprint; Blender crashing in
    its start-up resume) left its empty owner file for ever; they piled up. The next publish removes this
    computer's files whose lock is free, and leaves a living process's, and another computer's, alone."""
    db = tmp_path / "ledger.sqlite"
    with _one_killed_one_living(db, _STARTING) as living:
        owners = tmp_path / "owners"
        left = sorted(os.listdir(owners))
        assert len(left) == 2 and all(name.endswith(".lock") for name in left)
        assert not any(socket.gethostname() in name for name in left)  # (the host is not named in clear)
        elsewhere = "0" * 8 + "-1234-0badf00d.lock"  # another computer's, its lock beyond ours to judge
        (owners / elsewhere).write_bytes(b"")
        image = tmp_path / "c.png"
        image.write_bytes(png_bytes(32, 3))
        out, err = nftgan(*_args(server, db, image, "C")).communicate(timeout=60)
        assert out.startswith("published  C"), err
        mine = [n for n in os.listdir(owners) if n != elsewhere]
        assert sorted(os.listdir(owners)) == sorted([elsewhere, *mine]) and len(mine) == 1
        assert mine[0].split("-")[1] == str(living.pid)  # the killed one's went; the living one's stayed


_CREATE = """
import fcntl, os, sys, time
from nftgan.core.publish.ledger import Ledger

ledger, until, lost = Ledger(sys.argv[1]), time.time() + float(sys.argv[2]), 0
while time.time() < until:
    with ledger.owning() as me:
        try:  # its file is at its path and locked (by this process's other descriptor)
            fd = os.open(ledger._owner_lock(me), os.O_RDWR)
        except FileNotFoundError:
            lost += 1
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lost += 1
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
print(lost)
"""

_SWEEP = """
import sys, time
from nftgan.core.publish.ledger import Ledger

ledger, until = Ledger(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < until:
    ledger._sweep()
"""


def test_a_sweep_never_takes_the_file_of_a_process_just_creating_it(tmp_path):
    """A process creates its owner file, then locks it: a sweep in between finds it free and removes it. The
    creator checks, once it holds the lock, that the file it locked is still at its path (else takes a new
    one), and a sweep removes a file only while holding its lock: a living owner's file is always there."""
    import sys

    from .conftest import ROOT

    db = tmp_path / "ledger.sqlite"
    Ledger(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [(_CREATE, subprocess.PIPE), (_SWEEP, None), (_SWEEP, None)]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db), "4"], cwd=ROOT, env=env, stdout=out, text=True)
        for code, out in run
    ]
    lost = procs[0].communicate(timeout=60)[0]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert lost == "0\n", f"{lost.strip()} living owners' files were taken by a sweep"


_LOCKLESS = """
import os
from nftgan.core.publish import ledger as L


def lock(path, wait=True):  # as on a file system without locks (some network ones): the file, no lock
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    return None


L.lock = lock
"""


def test_where_files_cannot_be_locked_a_sweep_takes_the_files_of_ended_processes_only(
    server, tmp_path, monkeypatch
):
    """On a file system without locks an owner file says nothing by its lock: a sweep left every one, so the
    files of processes killed there (kill -9) piled up. It takes those whose process has ended (their process
    id is in their names, as `ended` judges such an owner) and leaves a living process's and another
    computer's alone; a publish that ends removes its own."""
    from nftgan.core.publish import ledger as ledger_module

    db = tmp_path / "ledger.sqlite"
    with _one_killed_one_living(db, _LOCKLESS + _STARTING) as living:
        owners = tmp_path / "owners"
        ended = subprocess.Popen(["true"])
        ended.wait(10)  # another computer's, named by a process id that has ended here: not ours to judge
        elsewhere = "0" * 8 + f"-{ended.pid}-0badf00d.lock"
        (owners / elsewhere).write_bytes(b"")
        assert len(os.listdir(owners)) == 3
        lockless: dict = {}
        exec(_LOCKLESS.replace("L.lock = lock", ""), lockless)
        monkeypatch.setattr(ledger_module, "lock", lockless["lock"])  # this process too, on that file system
        with Ledger(db).owning() as me:  # (a publish and a resume begin so)
            mine = Ledger(db)._owner_lock(me)
            assert os.path.exists(mine)
            left = sorted(os.listdir(owners))
        assert not os.path.exists(mine)  # its own, when it ends
        assert sorted(os.listdir(owners)) == sorted(n for n in left if n != os.path.basename(mine))
        pids = sorted(n.split("-")[1] for n in os.listdir(owners))
        assert pids == sorted([str(ended.pid), str(living.pid)]), (
            pids
        )  # the killed one's went; the others stayed
