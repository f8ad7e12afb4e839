"""A publish killed between upload and ledger update is resolved on the next start."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.ledger import FAILED, PENDING, PUBLISHED, Ledger
from nftgan.core.publish.service import resume_pending

from .conftest import nftgan, pending_row, png_bytes


def test_sigkill_between_upload_and_ledger_update_is_resolved_on_restart(server, tmp_path):
    image = tmp_path / "art.png"
    image.write_bytes(png_bytes(32, 4))
    db = tmp_path / "ledger.sqlite"
    arrived, release = threading.Event(), threading.Event()
    server.inject("/upload", "pass", ("hold", arrived, release))  # the image passes; the metadata is held
    proc = nftgan(
        "publish",
        str(image),
        "--backend",
        "nftstorage",
        "--endpoint",
        server.url,
        "--ledger",
        str(db),
        "--name",
        "Killed mid-publish",
    )
    try:
        assert arrived.wait(60), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)  # the metadata is stored on the service; the client never hears back
        proc.wait(10)
    finally:
        release.set()
    assert proc.returncode == -signal.SIGKILL
    (row,) = Ledger(db).rows()
    assert row.state == PENDING and row.metadata_cid in server.state.files and not row.token_uri
    uploads_before = len(server.state.hits)

    # $NFTGAN_TOKEN is given for the Offline default here, not for that service: nothing is sent to it
    hits = len(server.state.hits)
    restart = nftgan("publish", "--resume", "--ledger", str(db))
    out, err = restart.communicate(timeout=60)
    assert restart.returncode == 1 and len(server.state.hits) == hits
    (row,) = Ledger(db).rows()
    assert row.state == PENDING and f"--backend nftstorage --endpoint {server.url}" in row.error
    assert "resumed: pending  Killed mid-publish: not resumed: it was started for nftstorage" in out

    restart = nftgan(
        "publish", "--resume", "--ledger", db, "--backend", "nftstorage", "--endpoint", server.url
    )
    out, err = restart.communicate(timeout=60)
    assert restart.returncode == 0, err
    (row,) = Ledger(db).rows()
    assert row.state == PUBLISHED and row.token_uri == f"ipfs://{row.metadata_cid}"
    assert "resumed: published  Killed mid-publish" in out and row.token_uri in out
    # both sent again (content-addressed: the service keeps one copy), each verified by the CID the
    # service computed from what it received: a "pinned" from GET /check proves nothing
    assert [h.path for h in server.state.hits[uploads_before:]] == ["/upload", "/upload"]


def _pending(ledger, backend_kind, endpoint, seed=0):
    return pending_row(ledger, backend_kind, endpoint, seed=seed)


def test_resume_uploads_what_never_arrived_and_fails_what_cannot_resume(server, ledger, backend_for):
    prepared, sent = _pending(ledger, "kubo", server.url, seed=1)
    _, gone = _pending(ledger, "kubo", server.url, seed=2)
    _, changed = _pending(ledger, "kubo", server.url, seed=3)
    _, no_token = _pending(ledger, "pinata", server.url, seed=4)
    _, folder = _pending(ledger, "kubo", server.url, seed=5)
    for f in os.listdir(gone.staged):
        os.remove(os.path.join(gone.staged, f))
    os.rmdir(gone.staged)
    Path(changed.image_path).write_bytes(b"not the image that was hashed")
    image = Path(folder.image_path)
    image.unlink()
    image.mkdir()  # a folder where the staged image was

    def backend_for_row(row):
        if row.backend == "pinata":
            return make_backend(Settings("pinata", endpoint=row.endpoint, token=""))
        return backend_for(row.backend, endpoint=row.endpoint)

    done = {r.id: r for r in resume_pending(ledger, backend_for_row)}
    assert done[sent.id].state == PUBLISHED
    assert server.state.files[sent.image_cid].data == prepared.request.image
    assert done[gone.id].state == FAILED and "staged files of this publish are gone" in done[gone.id].error
    assert done[changed.id].state == FAILED and "changed since it was hashed" in done[changed.id].error
    assert done[folder.id].state == FAILED and "is a folder, not a regular file" in done[folder.id].error
    # no credential for it here: it waits, saying for what, and is taken up again by the next resume
    assert (
        done[no_token.id].state == PENDING
        and "not resumed: Pinata needs an API token" in done[no_token.id].error
    )
    assert ledger.rows(PENDING) == [done[no_token.id]] and not done[no_token.id].owner
    assert [r.id for r in resume_pending(ledger, backend_for_row)] == [no_token.id]


def test_resume_failure_on_the_service_fails_the_row(server, ledger, backend_for):
    _, row = _pending(ledger, "kubo", server.url)
    server.inject("/api/v0/add", "wrong-cid")
    (done,) = resume_pending(ledger, lambda r: backend_for("kubo"))
    assert done.state == FAILED and "did not verify" in done.error
    again = ledger.mark_published(
        row.id, token_uri="ipfs://x", gateway_url=""
    )  # a finished row stays finished
    assert again.state == FAILED and again.token_uri == "" and again.error == done.error


def test_resume_is_verified_by_the_services_cid_not_by_a_check_that_says_pinned(server, ledger, backend_for):
    prepared, _ = _pending(ledger, "nftstorage", server.url)  # killed before anything was sent
    server.inject("/check/", *["pinned-anything"] * 4)  # a service that claims to hold every CID
    (done,) = resume_pending(ledger, lambda r: backend_for("nftstorage"))
    assert done.state == PUBLISHED
    for (
        item
    ) in prepared.items.values():  # published because it arrived and verified, not because /check said so
        assert server.state.files[str(item.dag.root)].data == item.data
