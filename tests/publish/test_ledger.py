"""The ledger's rules: a credential goes only where it was given for, a pending row belongs to the
process publishing it, paths are absolute, old ledgers are upgraded, bad ledger files and odd inputs
are clear errors (in-process; the two-process tests are in test_processes.py)."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.cli import cid_main, publish_main
from nftgan.core.publish.ledger import FAILED, PENDING, PUBLISHED, STAGED, Ledger, LedgerError
from nftgan.core.publish.service import Request, prepare, publish, resume_pending
from PIL import Image

from .conftest import TOKEN, nftgan, pending_row, png_bytes
from .ipfs_server import FakeIpfsServer

PINATA_JWT = "eyJhbGciOi-pinata-jwt-SECRET"


def _pending(ledger, backend, endpoint, seed=0, **begin):
    return pending_row(ledger, backend, endpoint, seed=seed, **begin)[1]


def test_a_token_goes_only_to_the_backend_and_endpoint_it_was_given_for(tmp_path, capsys, monkeypatch):
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(32, 1))
    db = str(tmp_path / "ledger.sqlite")
    with FakeIpfsServer(tokens={TOKEN}) as old, FakeIpfsServer(tokens={PINATA_JWT}) as pinata:
        ledger = Ledger(db)
        row = _pending(ledger, "nftstorage", old.url, credential=ledger.fingerprint(TOKEN))
        # a Pinata publish: its JWT must not go to the old NFT.storage-compatible endpoint
        monkeypatch.setenv("NFTGAN_TOKEN", PINATA_JWT)
        pin = ["--backend", "pinata", "--endpoint", pinata.url, "--api-endpoint", pinata.url, "--ledger", db]
        assert publish_main([str(art), *pin]) == 1  # the new publish is done; the old row still waits
        out = capsys.readouterr().out
        assert old.state.hits == []
        assert all(h.authorization == f"Bearer {PINATA_JWT}" for h in pinata.state.hits)
        waiting = ledger.get(row.id)
        assert waiting.state == PENDING and not waiting.owner
        hint = f"NFTGAN_TOKEN=<its token> nftgan publish --resume --backend nftstorage --endpoint {old.url}"
        assert hint in waiting.error and hint in out
        assert [r.state for r in ledger.rows()] == [PUBLISHED, PENDING]
        # another token for that very service is not the one the row was started with either
        monkeypatch.setenv("NFTGAN_TOKEN", "another-nftstorage-token")
        old.state.tokens.add("another-nftstorage-token")
        resume = ["--resume", "--backend", "nftstorage", "--endpoint", old.url, "--ledger", db]
        assert publish_main(resume) == 1
        assert old.state.hits == [] and "token it was started with" in ledger.get(row.id).error
        # with its own token it finishes
        monkeypatch.setenv("NFTGAN_TOKEN", TOKEN)
        assert publish_main(resume) == 0
        assert ledger.get(row.id).state == PUBLISHED
        assert {h.authorization for h in old.state.hits} == {f"Bearer {TOKEN}"}
    assert TOKEN.encode() not in Path(db).read_bytes() and PINATA_JWT.encode() not in Path(db).read_bytes()


def test_the_orphan_rule(ledger, monkeypatch):
    """A pending row is orphaned when it has no owner or its owner ended: on this computer, its owner's lock is
    free (or, with no lock file, its process is gone or does not renew the row); another computer's owner, when
    it does not renew the row within 5 beats. The row's times are never compared with this computer's clock."""
    from nftgan.core.publish import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "BEAT", 0.05)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = Ledger.new_owner().split("/")[0]
    killed = f"{host}/{os.getppid()}/0badf00d"  # its lock file left unlocked (kill -9), its pid reused
    (ledger.path.parent / "owners").mkdir(exist_ok=True)
    Path(ledger._owner_lock(killed)).write_bytes(b"")
    with ledger.owning() as me:
        cases = {
            "": True,  # nobody holds it (an old row, or one given up with a note)
            me: False,  # this process, publishing it: its lock is held
            killed: True,
            f"{host}/{dead.pid}/cafe": True,  # a process here that has ended, without a lock file
            f"{host}/{os.getppid()}/cafe": True,  # a process here, without a lock file, not renewing it
            "elsewhere/1234/cafe": True,  # another computer, not renewing it
        }
        rows = {}
        for seed, owner in enumerate(cases):
            row = _pending(ledger, "kubo", "http://127.0.0.1:1", seed=seed)
            with sqlite3.connect(ledger.path) as db:  # (times an hour ahead: never compared with ours)
                db.execute(
                    "UPDATE publishes SET owner=?, lease=? WHERE id=?", (owner, time.time() + 3600, row.id)
                )
            rows[owner] = ledger.get(row.id)
        for owner, orphaned in cases.items():
            assert ledger.orphaned(rows[owner]) is orphaned, owner
            assert ledger.claim(rows[owner], Ledger.new_owner()) is orphaned, owner
        assert not ledger.claim(rows[""], Ledger.new_owner())  # claimed once: a second claimer loses
    assert os.listdir(ledger.path.parent / "owners") == []  # the killed one's file and this one's are gone


def test_an_owner_file_that_cannot_be_opened_is_judged_by_renewals(ledger, monkeypatch):
    """An owner file this process cannot open read-write (another user's, in a shared folder; here a folder
    standing where the file is, which root cannot open either) made `orphaned` raise: the owner is judged
    by its renewals instead, and a publish's sweep passes over it."""
    from nftgan.core.publish import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "BEAT", 0.05)
    host = Ledger.new_owner().split("/")[0]
    owner = f"{host}/{os.getppid()}/0badf00d"  # a living process that does not renew the row
    Path(ledger._owner_lock(owner)).mkdir(parents=True)
    row = _pending(ledger, "kubo", "http://127.0.0.1:1", owner=owner)
    with ledger.hold(row.id, owner):  # renewing it: alive
        time.sleep(0.2)
        assert not ledger.orphaned(ledger.get(row.id))
    assert ledger.orphaned(ledger.get(row.id))  # no renewal
    with ledger.owning():
        pass
    assert Path(ledger._owner_lock(owner)).is_dir()  # left alone


def test_a_held_row_is_renewed_while_the_publish_runs(ledger, monkeypatch):
    from nftgan.core.publish import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "BEAT", 0.05)
    owner = "elsewhere/1234/0a1b2c3d"  # (another computer's: judged by its renewals alone)
    row = _pending(ledger, "kubo", "http://127.0.0.1:1", owner=owner)
    with ledger.hold(row.id, owner):
        time.sleep(0.3)
        assert not ledger.orphaned(ledger.get(row.id))
    assert ledger.orphaned(ledger.get(row.id))  # no renewal after the block


def test_ledger_paths_are_absolute_and_resume_works_from_another_folder(
    tmp_path, monkeypatch, server, backend_for
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    row = _pending(Ledger("rel/ledger.sqlite"), "kubo", server.url)
    assert os.path.isabs(row.staged)
    monkeypatch.chdir(tmp_path / "b")
    ledger = Ledger(tmp_path / "a" / "rel" / "ledger.sqlite")
    (done,) = resume_pending(ledger, lambda r: backend_for("kubo"))
    assert done.state == PUBLISHED


def test_an_old_ledger_is_upgraded_in_place(tmp_path, server, backend_for):
    """A ledger written before staged/credential/owner/lease (schema v1, relative staged paths)."""
    folder = tmp_path / "old"
    old = _pending(Ledger(tmp_path / "new.sqlite"), "kubo", server.url)  # staged files to copy
    (folder / "staged" / "000001").mkdir(parents=True)
    for f in os.listdir(old.staged):
        (folder / "staged" / "000001" / f).write_bytes(Path(old.staged, f).read_bytes())
    v1 = """CREATE TABLE publishes (id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL CHECK (state IN ('pending', 'published', 'failed')), created REAL NOT NULL,
        updated REAL NOT NULL, name TEXT NOT NULL, backend TEXT NOT NULL, endpoint TEXT NOT NULL DEFAULT '',
        image_sha256 TEXT NOT NULL, image_size INTEGER NOT NULL, image_cid TEXT NOT NULL,
        animation_cid TEXT NOT NULL DEFAULT '', metadata_cid TEXT NOT NULL, staged TEXT NOT NULL,
        token_uri TEXT NOT NULL DEFAULT '', gateway_url TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '')"""
    with sqlite3.connect(folder / "ledger.sqlite") as db:
        db.execute(v1)
        db.execute(
            "INSERT INTO publishes (state, created, updated, name, backend, endpoint, image_sha256, image_size,"
            " image_cid, metadata_cid, staged) VALUES ('pending', 1, 1, ?, 'kubo', ?, '', 1, ?, ?, 'rel/staged/000001')",
            (old.name, server.url, old.image_cid, old.metadata_cid),
        )
    ledger = Ledger(folder / "ledger.sqlite")
    (row,) = ledger.rows()
    assert row.staged == str(folder / "staged" / "000001") and row.owner == "" and row.credential == ""
    (done,) = resume_pending(ledger, lambda r: backend_for("kubo"))
    assert done.state == PUBLISHED
    assert Ledger(folder / "ledger.sqlite").rows() == [done]  # opened again: nothing to upgrade


def test_a_finished_publish_supersedes_an_orphaned_row_that_waits_for_a_lost_token(
    server, backend_for, ledger
):
    prepared = prepare(Request(image=png_bytes(32, 0), name="pending 0"))
    stale = _pending(ledger, "nftstorage", server.url, credential="0123456789abcdef")  # a revoked token
    row = publish(prepared, backend_for("nftstorage"), ledger)
    assert row.state == PUBLISHED and row.id != stale.id
    assert ledger.get(stale.id).state == FAILED and f"ledger row {row.id}" in ledger.get(stale.id).error


@pytest.mark.parametrize("kind", ["garbage", "folder", "inside a file", "newer", "fifo"])
def test_a_bad_ledger_file_is_a_clear_error(kind, tmp_path, capsys):
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    db = tmp_path / "ledger.sqlite"
    if kind == "garbage":
        db.write_bytes(os.urandom(4096))
    elif kind == "folder":
        db.mkdir()
    elif kind == "fifo":
        os.mkfifo(db)
    elif kind == "inside a file":
        (tmp_path / "file").write_text("x")
        db = tmp_path / "file" / "ledger.sqlite"
    else:
        with sqlite3.connect(db) as con:
            con.execute("PRAGMA user_version = 99")
    before = db.read_bytes() if db.is_file() else None
    assert publish_main([str(art), "--ledger", str(db), "--endpoint", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"the publish ledger {db}" in err or f"folder {db.parent}" in err, err
    assert "Traceback" not in err and (kind != "fifo" or "not a regular file (a FIFO" in err)
    assert (db.read_bytes() if db.is_file() else None) == before  # left as it was
    with pytest.raises(LedgerError):
        Ledger(db)


def test_a_new_ledger_never_writes_into_the_staged_files_of_an_earlier_one(tmp_path):
    """A damaged ledger moved away (as its error says to do) or deleted: the new ledger's rows count from 1
    again, and row 1 staged into staged/000001, the old ledger's row 1's folder. The new publish's files went
    in beside the old picture (its gallery thumbnail was the OLD picture, image.jpg sorting first, and a
    resume could read either), and the old row's metadata.json was overwritten. A process killed while
    staging leaves such a folder too. Each new row now gets a folder of its own."""
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(jpeg, "JPEG")
    offline = make_backend(Settings("offline", endpoint=str(tmp_path / "out")))
    db = tmp_path / "ledger.sqlite"
    old = publish(Request(image=jpeg.getvalue(), image_ext=".jpg", name="Old"), offline, Ledger(db))
    old_files = {f: (Path(old.staged) / f).read_bytes() for f in os.listdir(old.staged)}
    db.rename(tmp_path / "ledger-damaged.sqlite")
    new_ledger = Ledger(db)
    new = publish(Request(image=png_bytes(16, 3), name="New"), offline, new_ledger)
    assert new.id == old.id == 1 and new.staged != old.staged
    assert sorted(os.listdir(new.staged)) == ["image.png", "metadata.json"]
    assert Path(new.image_path).read_bytes() == png_bytes(16, 3)  # the gallery's thumbnail
    assert {f: (Path(old.staged) / f).read_bytes() for f in os.listdir(old.staged)} == old_files
    # a pending row finishes from its own folder
    _, row = pending_row(new_ledger, "offline", str(tmp_path / "out"), seed=4)
    (done,) = resume_pending(new_ledger, lambda r: offline)
    assert done.id == row.id and done.state == STAGED and done.staged not in (old.staged, new.staged)


def test_a_read_only_ledger_is_a_clear_error(tmp_path):
    """Read-only for real: a ledger on a read-only tmpfs (a mount namespace of its own)."""
    from tests.limited_fs import run_on_small_fs

    script = """
import os, sys
from nftgan.core.publish.cli import publish_main
sys.exit(publish_main([sys.argv[1], "--ledger", os.path.join(FS, "ledger.sqlite"), "--endpoint", sys.argv[2]]))
"""
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    ledger = Ledger(tmp_path / "seed" / "ledger.sqlite")  # an existing ledger, copied onto the read-only disk
    result = run_on_small_fs(script, art, tmp_path / "out", size="1m", seed=ledger.path, read_only=True)
    assert result.returncode == 1, result.stderr
    assert "is read-only" in result.stderr and "Traceback" not in result.stderr


def test_fifo_inputs_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    db = tmp_path / "l.sqlite"
    for args in (
        ["cid", fifo],
        ["publish", fifo, "--ledger", db],
        ["publish", art, "--sketch", fifo, "--ledger", db],
        ["publish", art, "--animation", fifo, "--ledger", db],
    ):
        proc = nftgan(*args)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"nftgan {args[0]} hung on a FIFO")
        assert proc.returncode == 1 and f"{fifo} is a FIFO (named pipe), not a regular file" in err, err
    assert Ledger(db).rows() == []


def test_cid_of_a_folder_is_a_clear_error(tmp_path, capsys):
    assert cid_main([str(tmp_path)]) == 1
    assert f"{tmp_path} is a folder, not a regular file" in capsys.readouterr().err


def test_a_damaged_offline_manifest_is_left_alone_and_stops_the_publish(tmp_path, capsys):
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    out, db = tmp_path / "out", str(tmp_path / "l.sqlite")
    assert publish_main([str(art), "--name", "first", "--endpoint", str(out), "--ledger", db]) == 0
    manifest = out / "manifest.json"
    cut = manifest.read_bytes()[:-40]  # cut short (a full disk, a crash in an older version)
    manifest.write_bytes(cut)
    files = sorted(os.listdir(out))
    art.write_bytes(png_bytes(16, 1))
    assert publish_main([str(art), "--name", "second", "--endpoint", str(out), "--ledger", db]) == 1
    err = capsys.readouterr().err
    assert f"{manifest} is damaged" in err and "Traceback" not in err
    assert manifest.read_bytes() == cut and sorted(os.listdir(out)) == files  # nothing written
    assert [r.state for r in Ledger(db).rows()] == [FAILED, STAGED]


def test_non_finite_attribute_on_the_command_line(tmp_path, capsys):
    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(16))
    with pytest.raises(SystemExit):
        publish_main([str(art), "--attribute", "Power=nan", "--ledger", str(tmp_path / "l.sqlite")])
    assert "not a finite number" in capsys.readouterr().err


def _salt(db) -> bytes:
    with sqlite3.connect(db) as conn:
        return bytes.fromhex(conn.execute("SELECT value FROM meta WHERE key='salt'").fetchone()[0])


def test_a_tokens_fingerprint_costs_a_guesser_a_slow_hash_per_guess(tmp_path):
    """The fingerprint a row keeps was sha256(key + token) cut to 64 bits, with the key in the ledger: whoever
    had the ledger could test billions of guesses a second against a made-up kubo secret. It is now PBKDF2-SHA256
    of the token with the ledger's key, 600,000 rounds (OWASP's figure for it): each guess costs that."""
    import hashlib

    db = tmp_path / "ledger.sqlite"
    ledger = Ledger(db)
    fp = ledger.fingerprint(TOKEN)
    salt = _salt(db)
    assert fp == "k1:" + hashlib.pbkdf2_hmac("sha256", TOKEN.encode(), salt, 600_000, 8).hex()
    assert fp != hashlib.sha256(salt + TOKEN.encode()).hexdigest()[:16]
    assert ledger.fingerprint(" " + TOKEN + "\n") == fp and ledger.fingerprint("") == ""
    assert Ledger(tmp_path / "other.sqlite").fingerprint(TOKEN) != fp  # each ledger's own key


def test_a_row_an_earlier_nftgan_started_resumes_with_its_token_only(tmp_path, monkeypatch):
    """A pending row from before the slow fingerprint keeps the quick one (16 hex digits): its own token still
    resumes it, another token for that service is still refused."""
    import hashlib

    art = tmp_path / "art.png"
    art.write_bytes(png_bytes(32, 1))
    db = tmp_path / "ledger.sqlite"
    with FakeIpfsServer(tokens={TOKEN, "another-nftstorage-token"}) as old:
        ledger = Ledger(db)
        quick = hashlib.sha256(_salt(db) + TOKEN.encode()).hexdigest()[:16]
        row = _pending(ledger, "nftstorage", old.url, credential=quick)
        resume = ["--resume", "--backend", "nftstorage", "--endpoint", old.url, "--ledger", str(db)]
        monkeypatch.setenv("NFTGAN_TOKEN", "another-nftstorage-token")
        assert publish_main(resume) == 1
        assert old.state.hits == [] and "token it was started with" in ledger.get(row.id).error
        monkeypatch.setenv("NFTGAN_TOKEN", TOKEN)
        assert publish_main(resume) == 0
        assert ledger.get(row.id).state == PUBLISHED
