"""Fixtures for the publish tests: the fault-injecting IPFS server, fast retry settings, a small PNG."""

from __future__ import annotations

import contextlib
import io
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nftgan.core.errors import Cancelled
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.http import RetryPolicy
from nftgan.core.publish.ledger import Ledger
from PIL import Image

from .ipfs_server import FakeIpfsServer

TOKEN = "tok-3f9c1e7b-SECRET-never-logged"
ROOT = Path(__file__).resolve().parents[2]


def cancel_after(seconds: float):
    """A job's check() that raises Cancelled once `seconds` have passed from now (the artist's Cancel)."""
    at = time.monotonic() + seconds

    def check():
        if time.monotonic() >= at:
            raise Cancelled()

    return check


def nftgan(*args, token: str = TOKEN, cwd=ROOT, **kw) -> subprocess.Popen:
    """`nftgan ARGS` as a separate process (text stdout/stderr pipes), with $NFTGAN_TOKEN = token."""
    env = {**os.environ, "NFTGAN_TOKEN": token, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "nftgan.export.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def pending_row(
    ledger, backend: str, endpoint: str, *, seed: int = 0, image: bytes | None = None, name: str = "", **begin
):
    """(prepared, row): a publish recorded as pending and staged, as a process that died before uploading
    leaves it. `begin` may add credential= and owner=."""
    from nftgan.core.publish.service import Request, prepare

    prepared = prepare(Request(image=image or png_bytes(32, seed), name=name or f"pending {seed}"))
    items = prepared.items
    return prepared, ledger.begin(
        name=prepared.request.name,
        backend=backend,
        endpoint=endpoint,
        image_sha256="0" * 64,
        image_size=len(prepared.request.image),
        image_cid=str(items["image"].dag.root),
        metadata_cid=str(items["metadata"].dag.root),
        files={role + os.path.splitext(item.filename)[1]: item.data for role, item in items.items()},
        **begin,
    )


@contextlib.contextmanager
def full_backlog():
    """The port of a listening socket on 127.0.0.1 whose accept queue is full: a connect's SYN is dropped and
    the connect hangs, as it does at a blackholed address (nothing beyond 127.0.0.1 is reachable in tests)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = []
    try:
        for _ in range(4):  # fill the queue (its length is the kernel's business): until a connect hangs
            sock = socket.socket()
            sock.settimeout(0.3)
            try:
                sock.connect(listener.getsockname())
            except TimeoutError:
                sock.close()
                break
            filler.append(sock)
        else:
            pytest.skip("this system's listen queue does not fill up")
        yield listener.getsockname()[1]
    finally:
        for sock in filler:
            sock.close()
        listener.close()


def png_bytes(size: int = 32, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (size, size), bytes(rng.randrange(256) for _ in range(size * size * 3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def server():
    with FakeIpfsServer(tokens={TOKEN}) as srv:
        yield srv


@pytest.fixture
def sleeps():
    """Every retry/throttle wait the client asked for (recorded, slept for a millisecond at most)."""
    return []


@pytest.fixture
def backend_for(server, sleeps):
    import time

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.001))

    def build(kind: str, **settings):
        """settings: Settings fields; retry, timeout and deadline go to the HTTP client."""
        http = {
            "retry": RetryPolicy(attempts=4, base=0.01, rng=random.Random(1)),
            "timeout": (2.0, 10.0),  # a healthy reply never waits it out, however loaded the machine
            "sleep": sleep,
        }
        http.update({k: settings.pop(k) for k in ("retry", "timeout", "deadline") if k in settings})
        defaults = {"endpoint": server.url, "token": TOKEN if kind != "kubo" else ""}
        if kind == "pinata":
            defaults["api_endpoint"] = server.url
        defaults.update(settings)
        return make_backend(Settings(kind, **defaults), **http)

    return build


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger" / "publish.sqlite")
