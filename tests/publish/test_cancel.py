"""Cancel (and a request's deadline) end a publish within a fraction of a second at every stage of a
connection: looking up the host name, the TCP connect, the TLS handshake. Real sockets on 127.0.0.1: a
listener whose accept queue is full (the kernel drops the SYN, as a blackholed address does), a listener
that accepts and never answers the TLS hello, and a DNS server that never answers (a network namespace
of the test's own, with only 127.0.0.1 in it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from nftgan.core.errors import Cancelled, PublishError
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.http import RetryPolicy
from nftgan.core.publish.ledger import FAILED
from nftgan.core.publish.service import Request, publish

from ..limited_fs import ROOT, namespaces_work
from .conftest import TOKEN, cancel_after, full_backlog, png_bytes

FAST = 2.0  # seconds: what "at once" means here (the connect timeout is 10 s, a DNS lookup's 5 s per try, the
# deadline 180 s; 1.0 failed once on a loaded 2-core machine, at 1.35 s, load average 3.7)


@pytest.fixture
def full_listener():
    with full_backlog() as port:
        yield port


@pytest.fixture
def mute_listener():
    """Accepts connections and never sends a byte (a TLS hello waits for ever)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    listener.close()


def _request():
    return Request(image=png_bytes(32), name="Cancel me")


@pytest.mark.parametrize("kind", ["kubo", "nftstorage"])
def test_cancel_ends_a_connect_that_hangs(kind, full_listener, tmp_path):
    from nftgan.core.publish.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")
    backend = make_backend(Settings(kind, endpoint=f"http://127.0.0.1:{full_listener}", token=TOKEN))
    check = cancel_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        publish(_request(), backend, ledger, check=check)
    took = time.monotonic() - t0
    assert took < 0.3 + FAST, f"Cancel took {took - 0.3:.1f} s to end a connect"
    assert ledger.rows()[0].state == FAILED and ledger.rows()[0].error == "cancelled"


def test_the_deadline_ends_a_connect_that_hangs(full_listener, tmp_path):
    from nftgan.core.publish.ledger import Ledger

    backend = make_backend(
        Settings("kubo", endpoint=f"http://127.0.0.1:{full_listener}"),
        retry=RetryPolicy(attempts=1),
        deadline=1.0,
    )
    t0 = time.monotonic()
    with pytest.raises(PublishError, match=r"no complete reply within 1 s"):
        publish(_request(), backend, Ledger(tmp_path / "ledger.sqlite"))
    assert time.monotonic() - t0 < 1.0 + FAST


def test_cancel_ends_a_tls_handshake_that_hangs(mute_listener, tmp_path):
    from nftgan.core.publish.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")
    backend = make_backend(Settings("pinata", endpoint=f"https://127.0.0.1:{mute_listener}", token=TOKEN))
    check = cancel_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        publish(_request(), backend, ledger, check=check)
    took = time.monotonic() - t0
    assert took < 0.3 + FAST, f"Cancel took {took - 0.3:.1f} s to end a TLS handshake"
    assert ledger.rows()[0].error == "cancelled"


# Run inside a user + network + mount namespace: only a loopback interface, /etc/resolv.conf naming
# 127.0.0.1, where a UDP socket takes the DNS queries and never answers (glibc waits 5 s a try, 2 tries).
_IN_NAMESPACE = r"""
import socket, sys, threading, time
sys.path.insert(0, ROOT)
from nftgan.core.errors import Cancelled
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.ledger import Ledger
from nftgan.core.publish.service import Request, publish
from tests.publish.conftest import png_bytes

sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 53))  # takes every query, answers none
backend = make_backend(Settings(KIND, endpoint="https://publish.example", token=TOKEN))
at = time.monotonic() + 0.3

def check():
    if time.monotonic() >= at:
        raise Cancelled()

t0 = time.monotonic()
try:
    publish(Request(image=png_bytes(32), name="Cancel me"), backend, Ledger(LEDGER), check=check)
    print("PUBLISHED")
except Cancelled:
    print(f"CANCELLED {time.monotonic() - t0:.2f}")
except Exception as exc:
    print(f"FAILED {time.monotonic() - t0:.2f} {type(exc).__name__}: {exc}")
"""


@pytest.mark.parametrize("kind", ["pinata", "nftstorage"])
def test_cancel_ends_a_host_name_lookup_that_hangs(kind, tmp_path):
    if not namespaces_work() or not shutil.which("ip"):
        pytest.skip("needs unprivileged user + network namespaces (unshare) and ip")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    code = (
        f"ROOT = {str(ROOT)!r}\nKIND = {kind!r}\nTOKEN = {TOKEN!r}\n"
        f"LEDGER = {str(tmp_path / 'ledger.sqlite')!r}\n" + _IN_NAMESPACE
    )
    shell = f'ip link set lo up && mount --bind {resolv} /etc/resolv.conf && exec "$0" -c "$1"'
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c", shell, sys.executable, code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    words = done.stdout.split()
    assert words[:1] == ["CANCELLED"], done.stdout + done.stderr
    assert float(words[1]) < 0.3 + FAST, f"Cancel took {float(words[1]) - 0.3:.1f} s to end a DNS lookup"


def test_a_service_that_does_not_answer_the_connect_is_said_in_words(full_listener, tmp_path):
    """A connect that times out (the SYN dropped: a firewall, a blackholed address, a full queue) reads like
    a refused one: its host, that it did not answer and what to do, not urllib3's 'ConnectTimeout:
    Pool(host=...): Max retries exceeded with url: ... (Caused by ConnectTimeoutError(<Tracked(...'."""
    from nftgan.core.publish.ledger import Ledger

    backend = make_backend(
        Settings("nftstorage", endpoint=f"http://127.0.0.1:{full_listener}", token=TOKEN),
        retry=RetryPolicy(attempts=2, base=0.01),
        timeout=(0.3, 5.0),
    )
    with pytest.raises(PublishError) as failed:
        publish(_request(), backend, Ledger(tmp_path / "ledger.sqlite"))
    message = str(failed.value)
    assert (
        f"failed after 2 attempts: no connection to 127.0.0.1:{full_listener} (it did not answer within 0.3 s): "
        "is the service running, its endpoint right, and the network up?"
    ) in message, message
    assert "Pool" not in message and "Error(" not in message, message


def test_a_connection_whose_descriptor_is_past_1024_connects(server, tmp_path):
    """The interruptible connect waits with poll, not select (which refuses descriptors past FD_SETSIZE,
    1024): a Blender with many files open gets such descriptors."""
    import os
    import resource

    from nftgan.core.publish.ledger import Ledger

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    held = []
    try:
        while not held or held[-1] < 1030:  # every descriptor below 1030 taken: the socket's is past 1024
            held.append(os.open(os.devnull, os.O_RDONLY))
        backend = make_backend(Settings("kubo", endpoint=server.url))
        row = publish(_request(), backend, Ledger(tmp_path / "ledger.sqlite"))
        assert row.state == "published"
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
