"""The publish ledger: one SQLite row per publish, pending -> published | failed.

A row is written (pending) with the locally computed CIDs and the staged files BEFORE anything is
uploaded, and only marked published after every CID the service returned matched the local one.
A crash in between leaves a pending row whose staged files let the next start finish or fail it.
No token or secret is ever stored here: the row names the backend and its endpoint only.

Connections are opened per call, so the worker thread and Blender's main thread can both use it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

PENDING, PUBLISHED, FAILED = "pending", "published", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publishes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'published', 'failed')),
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
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS publishes_created ON publishes (created DESC);
"""


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
    error: str

    @property
    def image_path(self) -> str:
        for entry in sorted(os.listdir(self.staged)) if os.path.isdir(self.staged) else ():
            if entry.startswith("image."):
                return os.path.join(self.staged, entry)
        return ""


class Ledger:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.staging = self.path.parent / "staged"
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()

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
    ) -> Row:
        """Stage files (name -> bytes, written durably) and record a pending row."""
        now = time.time()
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO publishes (state, created, updated, name, backend, endpoint, image_sha256, image_size,"
                " image_cid, animation_cid, metadata_cid, staged) VALUES (?,?,?,?,?,?,?,?,?,?,?,'')",
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
                ),
            )
            row_id = cur.lastrowid
            staged = self.staging / f"{row_id:06d}"
            staged.mkdir(parents=True, exist_ok=True)
            for fname, data in files.items():
                write_durably(staged / fname, data)
            db.execute("UPDATE publishes SET staged=? WHERE id=?", (str(staged), row_id))
        return self.get(row_id)

    def mark_published(self, row_id: int, *, token_uri: str, gateway_url: str) -> Row:
        return self._finish(row_id, PUBLISHED, token_uri=token_uri, gateway_url=gateway_url, error="")

    def mark_failed(self, row_id: int, reason: str) -> Row:
        return self._finish(row_id, FAILED, error=reason[:1000])

    def _finish(self, row_id: int, state: str, **fields: str) -> Row:
        """A row leaves pending once: if another process (a second Blender, the command line) resolved
        it meanwhile, it is returned as that process left it."""
        cols = ", ".join(f"{k}=?" for k in fields)
        with self._connect() as db:
            db.execute(
                f"UPDATE publishes SET state=?, updated=?, {cols} WHERE id=? AND state=?",
                (state, time.time(), *fields.values(), row_id, PENDING),
            )
        return self.get(row_id)

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


def write_durably(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary name, fsync, rename: a crash leaves the old file or the new one."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
