"""The publish ledger: one SQLite row per publish, pending -> published | staged | failed.

A row is written (pending) with the locally computed CIDs and the staged files BEFORE anything is
uploaded, and only marked published after every CID the service returned matched the local one
(`staged`: the Offline backend wrote the files and CARs to a folder; nothing is on IPFS yet).
A crash in between leaves a pending row whose staged files let a later run finish or fail it.

Ownership: a pending row is owned by the process publishing it (`owning`), which locks its owner's file
`owners/<computer>-<pid>-<nonce>.lock` beside the ledger (files.lock; <computer>: `this_computer`) for as
long as it publishes and renews the row's `lease` every BEAT seconds while it works on it (`hold`). Another
process touches the row only once it is orphaned (`orphaned`): the owner's lock is free (the system ends it
with the process, however it ends), or, where the lock cannot say (another computer sharing the folder,
whose lock may not reach across; a file system without locks; a lock file it cannot open), the owner no
longer renews the row: its `lease` does not change within 5 BEATs watched on this computer's monotonic clock.
No two clocks (another computer's, ours before a step) are compared. So two publishes at once (two shells,
Blender and the command line) never take each other's rows.

Credentials: a row names the backend and endpoint it was started for and a fingerprint of the
token it was started with (a slow keyed hash, `fingerprint`): never the token itself. A resume uses only
a credential given for that backend and endpoint, and (when the row has one) with that fingerprint.

Paths are absolute (a ledger opened from another folder still finds its staged files). Connections
are opened per call, so the worker thread and Blender's main thread can both use it. Every SQLite
or file problem (not a database, a folder, read-only, disk full) is a LedgerError with a message
naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import PublishError
from ..files import lock, os_error_message, write_durably

PENDING, PUBLISHED, STAGED, FAILED = "pending", "published", "staged", "failed"
DONE = (PUBLISHED, STAGED)
SCHEMA_VERSION = 2
BEAT = 2.0  # seconds between an owner's renewals (a row's lease, a collection run's marker)
LIVE: set[str] = set()  # the owners ("host/pid/nonce") publishing in this process now

_TABLE = """
CREATE TABLE publishes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'published', 'staged', 'failed')),
    created REAL NOT NULL,
    updated REAL NOT NULL,
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    image_sha256 TEXT NOT NULL,
    image_size INTEGER NOT NULL,
    image_cid TEXT NOT NULL,
    animation_cid TEXT NOT NULL DEFAULT '',
    metadata_cid TEXT NOT NULL,
    staged TEXT NOT NULL,
    token_uri TEXT NOT NULL DEFAULT '',
    gateway_url TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    credential TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    lease REAL NOT NULL DEFAULT 0
)"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS publishes_created ON publishes (created DESC)",
    "CREATE INDEX IF NOT EXISTS publishes_content ON publishes (metadata_cid, backend, endpoint)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_V1_COLUMNS = (
    "id, state, created, updated, name, backend, endpoint, image_sha256, image_size, image_cid, "
    "animation_cid, metadata_cid, staged, token_uri, gateway_url, error"
)


_FINGERPRINT = "k1:"  # `Ledger.fingerprint`'s kind: PBKDF2-SHA256, 600,000 rounds, 8 bytes


@functools.lru_cache(maxsize=8)
def _slow_hash(salt: bytes, token: str) -> str:
    return _FINGERPRINT + hashlib.pbkdf2_hmac("sha256", token.encode(), salt, 600_000, 8).hex()


@contextlib.contextmanager
def beating(every: float, renew, name: str):
    """Call `renew()` every `every` seconds on a background thread while the block runs (a lease, a run's
    marker); it stops early when `renew()` returns False."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            if not renew():
                return

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class LedgerError(PublishError):
    """The ledger file cannot be used; the message names it and what to do."""


@dataclass(frozen=True)
class Row:
    id: int
    state: str
    created: float
    updated: float
    name: str
    backend: str
    endpoint: str
    image_sha256: str
    image_size: int
    image_cid: str
    animation_cid: str
    metadata_cid: str
    staged: str  # folder holding image, metadata.json (and animation) exactly as uploaded
    token_uri: str
    gateway_url: str
    error: str  # failed: why; pending: what it waits for (empty while being published)
    credential: str  # fingerprint of the token it was started with ("" for none)
    owner: str  # "host/pid/nonce" of the process publishing it ("" when none is)
    lease: float  # the owner's last renewal, by its own clock (only ever watched for a change)

    @property
    def image_path(self) -> str:
        return self.staged_file("image")

    def staged_file(self, role: str) -> str:
        """The staged copy of its image, animation or metadata ("" when there is none)."""
        for entry in sorted(os.listdir(self.staged)) if os.path.isdir(self.staged) else ():
            if entry.startswith(role + "."):
                return os.path.join(self.staged, entry)
        return ""


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows: its lock or renewals tell
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, it is someone else's
        return True
    return True


def this_computer(host: str | None = None) -> str:
    """A computer's part of its owner files' names: 8 hex digits of the SHA-256 of its host name (this
    computer's by default), so a folder shared by computers tells theirs apart without naming them."""
    return hashlib.sha256((socket.gethostname() if host is None else host).encode()).hexdigest()[:8]


def _still(fd: int, path: str) -> bool:
    """Whether the file open as `fd` is still the one at `path` (not removed since it was opened)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def renewed(stamp) -> bool:
    """Whether an owner renews what `stamp()` reads (None: nothing to read): it changes within 5 BEATs,
    watched on this computer's monotonic clock (the value itself may be another clock's: never compared)."""
    first, until = stamp(), time.monotonic() + 5 * BEAT
    while first is not None and time.monotonic() < until:
        time.sleep(BEAT / 8)
        if stamp() != first:
            return True
    return False


def ended(owner: str, locks: bool, stamp) -> bool:
    """Whether the owner ("host/pid/nonce") ended without saying so, its lock being free (`locks`; False:
    no lock to go by). On this computer: with locks, yes (a living owner holds its lock); without, when its
    process has ended (or is this one, and it is not one of its owners: `LIVE`). Another computer's (its
    lock may not reach here), or one without locks whose process lives: when it no longer renews `stamp()`."""
    if owner in LIVE:
        return False
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    if host == socket.gethostname():
        if locks or pid == str(os.getpid()) or (pid.isdigit() and not _pid_alive(int(pid))):
            return True
    return not renewed(stamp)


class Ledger:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
        self.staging = self.path.parent / "staged"
        if self.path.is_dir():
            raise LedgerError(
                f"the publish ledger {self.path} is a folder; give a file name (e.g. ledger.sqlite)"
            )
        if self.path.exists() and not self.path.is_file():
            raise LedgerError(f"the publish ledger {self.path} is not a regular file (a FIFO or a device)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                os_error_message(exc, f"the publish ledger's folder {self.path.parent}")
            ) from None
        self._salt = self._open()

    # ------------------------------------------------------------------------------------- plumbing

    def _problem(self, exc: sqlite3.Error) -> LedgerError:
        text = str(exc)
        where = f"the publish ledger {self.path}"
        if "not a database" in text or "malformed" in text:
            msg = f"{where} is not a publish ledger (not an SQLite file, or damaged): move it away or name another file"
        elif "readonly" in text:
            msg = f"{where} is read-only: make it writable or name a ledger in a folder you can write to"
        elif "unable to open" in text:
            msg = f"{where} cannot be opened or created: is its folder writable?"
        elif "full" in text:
            msg = f"{where}: the disk is full; free some space and try again (nothing was recorded)"
        elif "locked" in text or "busy" in text:
            msg = f"{where} has been locked by another process for 30 s; try again when it is done"
        else:
            msg = f"{where}: {text}"
        return LedgerError(msg)

    @contextlib.contextmanager
    def _connect(self):
        try:
            db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise self._problem(exc) from None
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction, committed on success
                yield db
        except sqlite3.Error as exc:
            raise self._problem(exc) from None
        finally:
            db.close()

    def _open(self) -> bytes:
        """Create or upgrade the schema; the ledger's fingerprint key. A current ledger is only read: a write
        transaction waited for any other process writing it (staging a large file: seconds), and Blender
        opens the ledger on its main thread (the Published list, Publish)."""
        with self._connect() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                try:
                    salt = db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
                except sqlite3.OperationalError:  # no meta table: made by hand, or cut short
                    salt = None
                if salt is not None:
                    return bytes.fromhex(salt[0])
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='publishes'"
            ).fetchone()
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the publish ledger {self.path} was written by a newer NFTGan (schema {version}); update NFTGan"
                )
            if not exists:
                db.execute(_TABLE)
            elif (
                version < SCHEMA_VERSION
            ):  # v1: no staged state, credential, owner or lease; staged paths may be relative
                db.execute("ALTER TABLE publishes RENAME TO publishes_v1")
                db.execute(_TABLE)
                db.execute(f"INSERT INTO publishes ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM publishes_v1")
                db.execute("DROP TABLE publishes_v1")
                for row_id, staged in db.execute("SELECT id, staged FROM publishes").fetchall():
                    if staged and not os.path.isabs(staged):
                        db.execute(
                            "UPDATE publishes SET staged=? WHERE id=?",
                            (str(self._staged_dir(row_id)), row_id),
                        )
            for sql in _INDEXES:
                db.execute(sql)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('salt', ?)", (secrets.token_hex(16),))
            return bytes.fromhex(db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()[0])

    def _staged_dir(self, row_id: int) -> Path:
        return self.staging / f"{row_id:06d}"

    def _new_staged_dir(self, row_id: int) -> Path:
        """A folder no one else has written to, created: staged/<id>, or staged/<id>-<n> when that is taken.
        It is taken when this file replaces a ledger that was moved away or deleted (its ids count from 1
        again, and its rows still name their folders) or after a process was killed while staging."""
        self.staging.mkdir(parents=True, exist_ok=True)
        n = 0
        while True:
            path = self._staged_dir(row_id) if n == 0 else self.staging / f"{row_id:06d}-{n}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                n += 1

    # ------------------------------------------------------------------------------------- ownership

    def fingerprint(self, token: str) -> str:
        """Which token a row was started with ("" for none), never the token: "k1:" and 64 bits of
        PBKDF2-SHA256 of it, keyed with this ledger's own random key, 600,000 rounds (OWASP's figure; 0.13-0.15 s
        here, once per token and process). The key is in the ledger, so whoever has a copy can test guesses
        of a made-up kubo secret against it, but each guess costs those rounds."""
        token = token.strip()
        return _slow_hash(self._salt, token) if token else ""

    def started_with(self, credential: str, token: str) -> bool:
        """Whether a row's `credential` (`fingerprint`) is that of `token`; a row an earlier NFTGan began
        keeps its quick hash (sha256 of key + token, 16 hex digits), still told apart."""
        if credential.startswith(_FINGERPRINT):
            return self.fingerprint(token) == credential
        token = token.strip()
        return bool(token) and hashlib.sha256(self._salt + token.encode()).hexdigest()[:16] == credential

    @staticmethod
    def new_owner() -> str:
        return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"

    def _owner_lock(self, owner: str) -> str:
        """The lock file of an owner ("" for a malformed owner: no file to go by)."""
        host, _, rest = owner.partition("/")
        pid, _, nonce = rest.partition("/")
        ok = pid.isdigit() and len(nonce) == 8 and all(c in "0123456789abcdef" for c in nonce)
        return str(self.path.parent / "owners" / f"{this_computer(host)}-{pid}-{nonce}.lock") if ok else ""

    def _sweep(self) -> None:
        """Remove this computer's owner files whose lock is free: their processes ended before a row named
        them (killed during a token's fingerprint; Blender crashing in its start-up resume). Another
        computer's are never touched (its lock may not reach here: a living owner's would look free). A file
        is removed while it is locked and still the one at its path, so a process that opened it, not yet
        locked it, finds it gone once it holds the lock (`owning` then takes another). Where files cannot be
        locked (some network file systems), a file whose process has ended is removed (its process id is in its
        name: one that lives, or is another's now, keeps it; on Windows every one is kept), as `_pid_alive`
        judges it for `ended`."""
        folder, mine = self.path.parent / "owners", this_computer() + "-"
        try:
            names = [n for n in os.listdir(folder) if n.startswith(mine) and n.endswith(".lock")]
        except OSError:
            return
        for name in names:
            path = str(folder / name)
            try:
                fd = lock(path, wait=False)
            except OSError:  # held (its owner lives), or it cannot be opened (judged by renewals)
                continue
            if fd is None:  # no locks here: its process says (no living owner has an ended process)
                pid = name[len(mine) :].partition("-")[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    with contextlib.suppress(OSError):
                        os.remove(path)
                continue
            with contextlib.suppress(OSError):
                if _still(fd, path) and os.name != "nt":
                    os.remove(path)
            os.close(fd)
            if os.name == "nt":  # Windows removes no open file (nor one its creator has open)
                with contextlib.suppress(OSError):
                    os.remove(path)

    @contextlib.contextmanager
    def owning(self):
        """A new owner for the rows this block begins or claims, alive for as long as the block runs: its lock
        file is locked (where files can be locked), and removed when the block ends. This computer's
        owner files whose processes ended are swept first."""
        with contextlib.suppress(OSError):
            os.makedirs(self.path.parent / "owners", exist_ok=True)
        self._sweep()
        for _ in range(100):  # (a sweep removed the file between its creation and its lock: a new one)
            owner = self.new_owner()
            path, fd = self._owner_lock(owner), None
            try:
                fd = lock(path, wait=False)
            except BlockingIOError:  # a sweep holds it for a moment
                continue
            except OSError:  # no lock: others go by its renewals
                break
            if fd is None or _still(fd, path):
                break
            os.close(fd)
            fd = None
        LIVE.add(owner)
        try:
            yield owner
        finally:
            LIVE.discard(owner)
            if fd is not None:
                os.close(fd)
            with contextlib.suppress(OSError):  # (closed first: Windows removes no open file)
                os.remove(path)

    def orphaned(self, row: Row) -> bool:
        """A pending row no living process is publishing: no owner, or its owner ended (`ended`: its lock is
        free; where the lock cannot say, it no longer renews the row). Another computer's owner (or one
        without locks) is watched for up to 5 BEATs."""
        if row.state != PENDING:
            return False
        if not row.owner:
            return True
        locks, path = False, ""
        if row.owner.partition("/")[0] == socket.gethostname():
            path = self._owner_lock(row.owner)
        if path and os.path.exists(path):  # (none: its owner ended, or an NFTGan without these locks)
            try:
                fd = lock(path, wait=False)
            except BlockingIOError:
                return False  # its owner holds it: alive
            except OSError:  # it cannot be opened (another user's): judged by its renewals
                fd = None
            if fd is not None:  # free: its owner ended without removing it (kill -9, a crash)
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.remove(path)
                locks = True
        return ended(row.owner, locks, lambda: self._renewal(row.id))

    def _renewal(self, row_id: int) -> tuple | None:
        with self._connect() as db:
            found = db.execute("SELECT state, owner, lease FROM publishes WHERE id=?", (row_id,)).fetchone()
        return None if found is None else tuple(found)

    def claim(self, row: Row, owner: str, *, checked: bool = False) -> bool:
        """Take an orphaned row (atomically: of two processes claiming it, one wins; a row renewed since it was
        read is not taken). `checked`: the caller found it `orphaned` just now (not watched again)."""
        if not checked and not self.orphaned(row):
            return False
        with self._connect() as db:
            cur = db.execute(
                "UPDATE publishes SET owner=?, lease=?, error='' WHERE id=? AND state=? AND owner=? AND lease=?",
                (owner, time.time(), row.id, PENDING, row.owner, row.lease),
            )
        return cur.rowcount == 1

    def renew(self, row_id: int, owner: str) -> bool:
        with self._connect() as db:
            cur = db.execute(
                "UPDATE publishes SET lease=? WHERE id=? AND owner=? AND state=?",
                (time.time(), row_id, owner, PENDING),
            )
        return cur.rowcount == 1

    def release(self, row_id: int, owner: str, note: str) -> Row:
        """Give a pending row up, saying what it waits for (e.g. the credential it was started with)."""
        with self._connect() as db:
            db.execute(
                "UPDATE publishes SET owner='', lease=0, error=?, updated=? WHERE id=? AND owner=? AND state=?",
                (note[:1000], time.time(), row_id, owner, PENDING),
            )
        return self.get(row_id)

    def hold(self, row_id: int, owner: str):
        """Keep the row's lease renewed (a background thread) while the block runs."""

        def renew() -> bool:
            try:
                return self.renew(row_id, owner)
            except PublishError:  # locked or full for a moment: the next beat tries again
                return True

        return beating(BEAT, renew, f"nftgan-ledger-lease-{row_id}")

    # ------------------------------------------------------------------------------------- rows

    def begin(
        self,
        *,
        name: str,
        backend: str,
        endpoint: str,
        image_sha256: str,
        image_size: int,
        image_cid: str,
        metadata_cid: str,
        animation_cid: str = "",
        files: dict[str, bytes],
        credential: str = "",
        owner: str = "",
        unless_other_than: set[int] | None = None,
    ) -> Row | None:
        """Stage files (name -> bytes, written durably) and record a pending row owned by `owner`. All or
        nothing: when a file cannot be written (a full disk) there is no row and no staged folder.

        With `unless_other_than` (the ids of the rows of this content the caller looked at and left), None
        instead when another row of the same image + metadata on the same service is pending, published or
        staged: the look and the insert are one transaction, so two processes beginning the same publish at
        once do not both upload it (the caller looks again and finds the other's row)."""
        now = time.time()
        staged = None
        try:
            with self._connect() as db:
                if unless_other_than is not None:
                    db.execute("BEGIN IMMEDIATE")  # no other process writes until this one commits
                    others = db.execute(
                        "SELECT id FROM publishes WHERE metadata_cid=? AND backend=? AND endpoint=?"
                        " AND state IN (?, ?, ?)",
                        (metadata_cid, backend, endpoint, PENDING, PUBLISHED, STAGED),
                    ).fetchall()
                    if any(other[0] not in unless_other_than for other in others):
                        return None
                cur = db.execute(
                    "INSERT INTO publishes (state, created, updated, name, backend, endpoint, image_sha256,"
                    " image_size, image_cid, animation_cid, metadata_cid, staged, credential, owner, lease)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,'',?,?,?)",
                    (
                        PENDING,
                        now,
                        now,
                        name,
                        backend,
                        endpoint,
                        image_sha256,
                        image_size,
                        image_cid,
                        animation_cid,
                        metadata_cid,
                        credential,
                        owner,
                        now if owner else 0.0,
                    ),
                )
                row_id = cur.lastrowid
                staged = self._new_staged_dir(row_id)
                for fname, data in files.items():
                    write_durably(staged / fname, data)
                db.execute("UPDATE publishes SET staged=? WHERE id=?", (str(staged), row_id))
        except (OSError, PublishError) as exc:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
            if isinstance(exc, PublishError):
                raise
            msg = os_error_message(exc, f"staging in {self.staging}")
            raise LedgerError(f"{msg} (nothing was sent or recorded)") from None
        return self.get(row_id)

    def mark_published(self, row_id: int, *, token_uri: str, gateway_url: str) -> Row:
        return self._finish(row_id, PUBLISHED, token_uri=token_uri, gateway_url=gateway_url, error="")

    def mark_staged(self, row_id: int, *, token_uri: str) -> Row:
        """The Offline backend wrote everything to its folder: not on IPFS until the CARs are uploaded."""
        return self._finish(row_id, STAGED, token_uri=token_uri, gateway_url="", error="")

    def mark_failed(self, row_id: int, reason: str, owner: str = "") -> Row:
        """Fail a pending row; with `owner`, only while that owner still holds it."""
        return self._finish(row_id, FAILED, owner, error=reason[:1000])

    def _finish(self, row_id: int, state: str, owner: str = "", **fields: str) -> Row:
        """A row leaves pending once: if another process resolved it meanwhile, it is returned as that
        process left it. A finished publish fails any orphaned pending row of the same content on the
        same service (a run killed earlier): this one did its work."""
        cols = ", ".join(f"{k}=?" for k in fields)
        now = time.time()
        with self._connect() as db:
            db.execute(
                f"UPDATE publishes SET state=?, updated=?, owner='', lease=0, {cols} "
                "WHERE id=? AND state=? AND (?='' OR owner=?)",
                (state, now, *fields.values(), row_id, PENDING, owner, owner),
            )
        row = self.get(row_id)
        if row.state in DONE:
            for other in self.same_content(row):
                if other.id != row.id and self.orphaned(other):
                    with self._connect() as db:
                        db.execute(
                            "UPDATE publishes SET state=?, updated=?, error=? WHERE id=? AND state=? AND owner=?",
                            (
                                FAILED,
                                now,
                                f"superseded: the same image and metadata were {row.state} as ledger row {row.id}",
                                other.id,
                                PENDING,
                                other.owner,
                            ),
                        )
        return row

    def same_content(self, row_or_cid: Row | str, backend: str = "", endpoint: str = "") -> list[Row]:
        """Rows of the same image + metadata (metadata_cid names both) on the same service, newest first."""
        if isinstance(row_or_cid, Row):
            row_or_cid, backend, endpoint = row_or_cid.metadata_cid, row_or_cid.backend, row_or_cid.endpoint
        with self._connect() as db:
            found = db.execute(
                "SELECT * FROM publishes WHERE metadata_cid=? AND backend=? AND endpoint=? ORDER BY id DESC",
                (row_or_cid, backend, endpoint),
            ).fetchall()
        return [Row(**dict(r)) for r in found]

    def get(self, row_id: int) -> Row:
        with self._connect() as db:
            found = db.execute("SELECT * FROM publishes WHERE id=?", (row_id,)).fetchone()
        if found is None:
            raise KeyError(row_id)
        return Row(**dict(found))

    def rows(self, state: str | None = None, limit: int | None = None) -> list[Row]:
        """Newest first."""
        sql = (
            "SELECT * FROM publishes"
            + (" WHERE state=?" if state else "")
            + " ORDER BY created DESC, id DESC"
        )
        args: tuple = (state,) if state else ()
        if limit:
            sql += " LIMIT ?"
            args += (limit,)
        with self._connect() as db:
            return [Row(**dict(r)) for r in db.execute(sql, args).fetchall()]
