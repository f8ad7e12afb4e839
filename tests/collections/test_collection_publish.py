"""Publish collection: N tokens from a real generate model to the real test IPFS server (kubo API), with
a batch that dies mid-upload, then fails on the network, then resumes: every token published exactly
once, the dead upload resumed from its staged bytes, a verified collection manifest at the end."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
from nftgan.core import collection, generate
from nftgan.core.errors import Cancelled, PublishError
from nftgan.core.publish import service
from nftgan.core.publish.ledger import FAILED, PENDING, PUBLISHED

from tests.publish.conftest import cancel_after


def _request(generate_model, n=5):
    info = generate.load_model(generate_model)
    return collection.CollectionRequest(
        model=info,
        plan=generate.seeds_plan(100, n),
        name="Toy Punks",
        description="A test collection",
        external_url="https://example.org/toy-punks",
        attributes=[{"trait_type": "Series", "value": "one"}],
    )


def _killed_at_mark(req, backend, ledger, monkeypatch, n: int) -> list[int]:
    """Publish the collection in a process that "dies" (KeyboardInterrupt: not an Exception, so nothing marks
    the row failed) after token n was uploaded, before the ledger recorded it; the row ids marked or tried."""
    real_mark, calls = ledger.mark_published, []

    def dying_mark(row_id, **kw):
        calls.append(row_id)
        if len(calls) == n:
            raise KeyboardInterrupt("killed")
        return real_mark(row_id, **kw)

    monkeypatch.setattr(ledger, "mark_published", dying_mark)
    with pytest.raises(KeyboardInterrupt):
        collection.publish_collection(req, backend, ledger)
    monkeypatch.setattr(ledger, "mark_published", real_mark)
    return calls


def test_interrupted_batch_resumes_without_duplicates(
    generate_model, server, backend_for, ledger, monkeypatch
):
    req = _request(generate_model)
    backend = backend_for("kubo")

    # run 1: the process "dies" after token 2 was uploaded but before the ledger recorded it
    _killed_at_mark(req, backend, ledger, monkeypatch, 2)
    (pending,) = ledger.rows(PENDING)
    assert pending.name == "Toy Punks #2"

    # run 2: token 2 is resumed (its row, its staged bytes); token 4's upload then fails for good
    server.inject("/api/v0/add", *["pass"] * 4, *["500"] * 4)
    with pytest.raises(PublishError) as failed:
        collection.publish_collection(req, backend, ledger)
    assert str(failed.value).startswith(  # how far it got, then why
        "token 4 of 5 ('Toy Punks #4') was not published, the 3 before it are: Local IPFS node (kubo) failed"
    )
    assert ledger.get(pending.id).state == PUBLISHED
    states = {r.name: r.state for r in ledger.rows()}
    assert states == {
        "Toy Punks #1": PUBLISHED,
        "Toy Punks #2": PUBLISHED,
        "Toy Punks #3": PUBLISHED,
        "Toy Punks #4": FAILED,
    }

    # run 3: only the missing tokens are generated and published
    result = collection.publish_collection(req, backend, ledger)
    assert result.skipped == 3 and len(result.tokens) == 5
    names = [r.name for r in ledger.rows(PUBLISHED)]
    assert sorted(names) == [f"Toy Punks #{i}" for i in range(1, 6)]  # each exactly once
    assert [t.name for t in result.tokens] == [f"Toy Punks #{i}" for i in range(1, 6)]
    assert result.tokens[1].id == pending.id  # the interrupted upload was finished, not published again

    # what arrived: each token's image and metadata, the metadata naming seed, model and collection
    for token, sample in zip(result.tokens, req.plan):
        assert token.image_cid in server.state.files and token.metadata_cid in server.state.files
        meta = json.loads(server.state.files[token.metadata_cid].data)
        traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
        assert (
            traits["Seed"] == sample.seed
            and traits["Collection"] == "Toy Punks"
            and traits["Series"] == "one"
        )
        assert meta["image"] == f"ipfs://{token.image_cid}" and meta["name"] == token.name
    assert len({t.image_cid for t in result.tokens}) == 5  # five different images

    # the manifest: local, uploaded and verified, listing every token with its seed and URI
    with open(result.manifest_path, encoding="utf-8") as fh:
        manifest = json.load(fh)
    assert manifest["count"] == 5 and manifest["model"]["latent"] == req.model.latent
    assert [t["seed"] for t in manifest["tokens"]] == [100, 101, 102, 103, 104]
    assert [t["token_uri"] for t in manifest["tokens"]] == [t.token_uri for t in result.tokens]
    # OpenSea's contract-level metadata (contractURI): the collection's name, description, picture, link
    assert manifest["name"] == req.name and manifest["description"] == req.description
    assert manifest["image"] == "ipfs://" + result.tokens[0].image_cid
    assert manifest["image"].removeprefix("ipfs://") in server.state.files  # a picture the service holds
    assert manifest["external_link"] == req.external_url
    manifest_cid = result.manifest_uri.removeprefix("ipfs://")
    assert json.loads(server.state.files[manifest_cid].data) == manifest

    # run 4: the manifest's upload fails: said as such, after all five tokens
    server.inject("/api/v0/add", *["500"] * 4)
    with pytest.raises(
        PublishError, match=r"^the collection manifest was not uploaded, its 5 tokens are published: "
    ):
        collection.publish_collection(req, backend, ledger)

    # run 5: nothing left to do, nothing uploaded again
    uploads = len([h for h in server.state.hits if h.path.startswith("/api/v0/add") and h.status == 200])
    again = collection.publish_collection(req, backend, ledger)
    assert again.skipped == 5 and len(ledger.rows(PUBLISHED)) == 5
    assert (
        len([h for h in server.state.hits if h.path.startswith("/api/v0/add") and h.status == 200])
        == uploads + 1
    )


def test_another_collection_or_backend_is_a_new_batch(generate_model, backend_for, ledger, tmp_path):
    req = _request(generate_model, n=2)
    kubo = backend_for("kubo")
    first = collection.publish_collection(req, kubo, ledger)
    renamed = collection.CollectionRequest(model=req.model, plan=req.plan, name="Toy Punks II")
    second = collection.publish_collection(renamed, kubo, ledger)
    assert second.skipped == 0 and second.collection_id != first.collection_id
    assert len(ledger.rows(PUBLISHED)) == 4
    with pytest.raises(PublishError, match="needs a name"):
        collection.publish_collection(collection.CollectionRequest(req.model, req.plan, " "), kubo, ledger)


def test_resume_takes_only_its_own_tokens_not_a_same_named_collection_published_meanwhile(
    generate_model, server, backend_for, ledger
):
    """A batch stops after two tokens; the artist publishes another collection under the same name (other
    seeds) in full, then resumes the first: it keeps its own two tokens and publishes its own 3..5, never
    the other collection's tokens of the same names (with their seeds) in its manifest."""
    first = _request(generate_model)  # seeds 100..104
    backend = backend_for("kubo")
    server.inject("/api/v0/add", *["pass"] * 4, *["500"] * 4)  # tokens 1 and 2 (image + metadata each)
    with pytest.raises(PublishError):
        collection.publish_collection(first, backend, ledger)
    other = collection.CollectionRequest(
        model=first.model, plan=generate.seeds_plan(200, 5), name="Toy Punks"
    )
    theirs = collection.publish_collection(other, backend, ledger)
    assert theirs.skipped == 0

    result = collection.publish_collection(first, backend, ledger)
    assert result.skipped == 2
    for token, sample in zip(result.tokens, first.plan):
        meta = json.loads(server.state.files[token.metadata_cid].data)
        traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
        assert (meta["name"], traits["Seed"]) == (token.name, sample.seed)
    assert not {t.id for t in result.tokens} & {t.id for t in theirs.tokens}
    assert len(ledger.rows(PUBLISHED)) == 10


@pytest.mark.parametrize("where", ["token 3", "token 1", "manifest"])
def test_a_cancelled_batch_says_how_many_tokens_are_out_and_what_is_left(
    where, generate_model, server, backend_for, ledger
):
    """Cancel while token 3's image is on its way (or token 1's, or the manifest's): the Cancelled says how
    many of the collection's tokens are published and how many are not, and a run again does the rest."""
    req = _request(generate_model)
    backend = backend_for("kubo")
    if where == "token 1":  # an earlier run published nothing; token 1 of another name is not this one's
        collection.publish_collection(
            collection.CollectionRequest(req.model, req.plan[:1], "Other"), backend, ledger
        )
    cancel = {"token 3": "token 3 of 5: Uploading", "token 1": "token 1 of 5: Uploading"}.get(where)
    seen = []

    def progress(_fraction, message):
        seen.append(message)

    def check():
        if (cancel and any(m.startswith(cancel) for m in seen)) or (
            where == "manifest" and "collection manifest" in seen
        ):
            raise Cancelled()

    with pytest.raises(collection.CollectionCancelled) as stop:
        collection.publish_collection(req, backend, ledger, progress=progress, check=check)
    want = {
        "token 3": "cancelled: 2 of 5 tokens are published, 3 are not yet",
        "token 1": "cancelled: 0 of 5 tokens are published, 5 are not yet",
        "manifest": "cancelled: all 5 tokens are published, the collection manifest is not",
    }[where]
    assert str(stop.value) == want
    assert (
        stop.value.again
        == {
            "token 3": "publishes the other 3",
            "token 1": "publishes the 5",
            "manifest": "uploads the manifest",
        }[where]
    )
    assert isinstance(stop.value, Cancelled)  # handled as any cancel is (the worker's CANCELLED state)
    published = [r.name for r in ledger.rows(PUBLISHED) if r.name.startswith("Toy Punks")]
    assert len(published) == stop.value.done
    result = collection.publish_collection(req, backend, ledger)  # a run again does the rest
    assert result.skipped == stop.value.done and len(result.tokens) == 5


def test_cancel_ends_the_manifest_upload_of_a_run_again_that_sends_no_token(
    generate_model, server, backend_for, ledger
):
    """Publish Collection pressed again after its manifest failed: every token is published already, only
    the manifest goes. Its upload was not tied to the job's Cancel (only a token's publish tied it), so a
    slow service kept it going until the request's deadline (a new backend each press, as Blender builds)."""
    req = _request(generate_model, n=2)
    server.inject("/api/v0/add", "pass", "pass", "pass", "pass", *["500"] * 4)  # the manifest fails
    with pytest.raises(PublishError, match="manifest was not uploaded"):
        collection.publish_collection(req, backend_for("kubo"), ledger)
    server.inject("/api/v0/add", ("trickle", 0.2))  # the manifest's reply, a byte at a time
    check = cancel_after(0.5)
    t0 = time.monotonic()
    with pytest.raises(
        collection.CollectionCancelled, match="all 2 tokens are published, the collection manifest is not"
    ):
        collection.publish_collection(req, backend_for("kubo", deadline=20), ledger, check=check)
    assert time.monotonic() - t0 < 2.0


def _killed_between_tokens(req, backend, ledger, n: int) -> None:
    """Publish the collection in a process that "dies" (KeyboardInterrupt, not an Exception) after token n's
    ledger row is final, before token n + 1 begins: no pending row is left."""

    def progress(_fraction, message):
        if message.startswith(f"token {n + 1} of "):
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        collection.publish_collection(req, backend, ledger, progress=progress)


def test_a_batch_that_died_is_named_with_what_is_left_until_it_is_finished(
    generate_model, server, backend_for, ledger, monkeypatch
):
    """What a Blender started after a batch died says (collection.interrupted): the collection, how many of
    its tokens are out, whether its process died mid-upload (a pending row) or between two tokens (none: it
    was not named at all), at every start until its manifest is out; a same-named collection with other
    seeds that finished is not named."""
    req = _request(generate_model, n=4)
    backend = backend_for("kubo")
    other = collection.CollectionRequest(model=req.model, plan=generate.seeds_plan(300, 2), name=req.name)
    collection.publish_collection(other, backend, ledger)  # same name, other seeds: finished
    assert collection.interrupted(ledger) == []

    _killed_between_tokens(req, backend, ledger, 2)
    assert ledger.rows(PENDING) == []
    (left,) = collection.interrupted(ledger)
    assert (left.name, left.count, left.done, left.staged) == ("Toy Punks", 4, 2, False)
    assert str(left) == (
        "collection 'Toy Punks' is not finished (2 of 4 tokens are published; 2 and the collection manifest "
        "are not yet)"
    )
    assert len(collection.interrupted(ledger)) == 1  # at every start, not once

    _killed_at_mark(req, backend, ledger, monkeypatch, 1)  # run 2 dies mid-upload of token 3
    (pending,) = ledger.rows(PENDING)
    assert [r.id for r in service.resume_pending(ledger, lambda row: backend)] == [pending.id]
    (left,) = collection.interrupted(ledger)
    assert (left.name, left.done) == ("Toy Punks", 3)

    result = collection.publish_collection(req, backend, ledger)
    assert result.skipped == 3 and collection.interrupted(ledger) == []  # finished: named no more
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    assert not [n for n in os.listdir(folder) if n.endswith(".running")]


def test_a_batch_that_runs_or_ended_with_a_report_is_not_named(generate_model, server, backend_for, ledger):
    """Only a batch whose process died unannounced is named at a start: not one running in this process, nor
    in another living one (it renews its run while it runs), nor one that was cancelled (the artist stopped it,
    and was told how far it got) or stopped on an error (said at the time, with how far it got)."""
    backend = backend_for("kubo")
    req = _request(generate_model, n=3)
    seen = []

    def check():  # while this process runs the batch
        seen.append(collection.interrupted(ledger))

    collection.publish_collection(req, backend, ledger, check=check)
    assert seen and not any(seen)

    cancelled = collection.CollectionRequest(req.model, generate.seeds_plan(400, 3), "Cancelled")
    pressed = []

    def progress(_fraction, message):
        pressed.extend([1] if message.startswith("token 2 of 3") else [])

    def cancel():  # Cancel pressed between token 1 and token 2
        if pressed:
            raise Cancelled()

    with pytest.raises(collection.CollectionCancelled, match="1 of 3 tokens are published"):
        collection.publish_collection(cancelled, backend, ledger, progress=progress, check=cancel)
    failed = collection.CollectionRequest(req.model, generate.seeds_plan(500, 3), "Failed")
    server.inject("/api/v0/add", "pass", "pass", *["500"] * 4)
    with pytest.raises(PublishError):
        collection.publish_collection(failed, backend, ledger)
    assert collection.interrupted(ledger) == []

    died = collection.CollectionRequest(req.model, generate.seeds_plan(600, 3), "Other Blender")
    _killed_between_tokens(died, backend, ledger, 1)
    blenders, release = _Blenders(1, server, ledger, generate_model), threading.Event()
    try:  # another Blender, alive, runs it now (on token 2); then it is killed
        arrived = threading.Event()
        server.inject("/api/v0/add", ("hold", arrived, release))
        blenders.press("Other Blender", 600, 3)
        assert arrived.wait(60)
        assert collection.interrupted(ledger) == []
        blenders.procs[0].kill()
        blenders.procs[0].wait(10)
    finally:
        release.set()
        blenders.close()
    assert [c.name for c in collection.interrupted(ledger)] == ["Other Blender"]


def test_a_living_run_on_one_long_step_is_not_named(generate_model, server, backend_for, ledger, monkeypatch):
    """A run renews its marker for as long as its process runs it, not only as a token begins: a Blender started
    on this computer while another one's run uploaded its manifest (or one token) for longer than the ledger's
    lease named that living run interrupted, and told the artist to press Publish Collection to finish it."""
    backend = backend_for("kubo", timeout=(2.0, 30.0))
    req = _request(generate_model, n=2)
    monkeypatch.setattr(collection.ledgers, "BEAT", 0.2)
    arrived, release, out = threading.Event(), threading.Event(), []

    def progress(_fraction, message):
        if message == "collection manifest":  # its upload is held until the check below is done
            server.inject("/api/v0/add", ("hold", arrived, release))

    def run():
        out.append(collection.publish_collection(req, backend, ledger, progress=progress))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert arrived.wait(60)
        folder = os.path.join(os.path.dirname(ledger.path), "collections")
        (marker,) = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".running")]
        with open(marker, "w", encoding="utf-8") as fh:  # as another Blender sees it: a living process's run
            fh.write(f"{socket.gethostname()}/{os.getppid()}/0a1b2c3d")
        time.sleep(6 * collection.ledgers.BEAT)
        seen = collection.interrupted(ledger)
    finally:
        release.set()
        thread.join(60)
    assert seen == []
    assert out and out[0].manifest_uri


def test_a_second_run_of_a_collection_running_in_another_blender_is_refused_and_keeps_its_record(
    generate_model, server, backend_for, ledger
):
    """Publish Collection pressed in a second Blender while the first one's run of that collection goes on: it
    wrote its own marker over the first run's, stopped on the token the first one was publishing ("being
    published right now by another NFTGan process"), and removed the marker as a run ending with a report does;
    the first run went on unrecorded, so a crash of it was never named. It is refused before it writes anything,
    and the running one's record stays."""
    backend = backend_for("kubo")
    req = _request(generate_model, n=2)
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    _killed_between_tokens(req, backend, ledger, 1)
    blenders, release = _Blenders(1, server, ledger, generate_model), threading.Event()
    try:
        arrived = threading.Event()
        server.inject("/api/v0/add", ("hold", arrived, release))
        blenders.press(req.name, 100, 2)  # the first Blender, alive, running it now (on token 2)
        assert arrived.wait(60)
        (marker,) = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".running")]
        with open(marker, encoding="utf-8") as fh:
            theirs = fh.read()
        pid = blenders.procs[0].pid
        before = [(r.id, r.state) for r in ledger.rows()]
        with pytest.raises(
            PublishError,
            match=rf"'Toy Punks' is being published right now by another NFTGan process \(process {pid} ",
        ):
            collection.publish_collection(req, backend, ledger)
        with open(marker, encoding="utf-8") as fh:
            assert fh.read() == theirs
        assert [(r.id, r.state) for r in ledger.rows()] == before  # nothing generated or sent
    finally:
        release.set()
    assert blenders.said().startswith("published ipfs://")  # the first one finished it
    blenders.close()


_BEATS = """
import os, sys, time
marker, owner, offset, every = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
with open(marker, "w", encoding="utf-8") as fh:
    fh.write(owner)
while True:  # renewed by a computer whose clock is `offset` seconds from ours
    t = time.time() + offset
    os.utime(marker, (t, t))
    time.sleep(every)
"""


def test_a_run_on_another_computer_is_judged_by_its_renewals_not_by_the_clocks(
    generate_model, server, backend_for, ledger, monkeypatch
):
    """A run on another computer (NFTGan's folder on a network share, whose locks may not reach across) was
    judged by its marker's time against this computer's clock: with the clocks an hour apart, a living run on
    a computer whose clock is behind looked dead (named at a start, and Publish Collection here ran it a second
    time), and a dead one from a computer whose clock was ahead looked alive for an hour (refused, not named).
    Its renewals are watched instead, on this computer's monotonic clock."""
    import subprocess
    import sys

    monkeypatch.setattr(collection.ledgers, "BEAT", 0.2)
    backend = backend_for("kubo")
    req = _request(generate_model, n=2)
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    _killed_between_tokens(req, backend, ledger, 1)
    (marker,) = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".running")]
    theirs = "another-computer/4242/0a1b2c3d"
    beats = subprocess.Popen([sys.executable, "-c", _BEATS, marker, theirs, "-3600", "0.2"])
    try:  # its Blender runs it, alive; its clock is an hour behind ours
        time.sleep(0.5)
        assert collection.interrupted(ledger) == []
        with pytest.raises(
            PublishError, match=r"right now by another NFTGan process \(process 4242 on another-"
        ):
            collection.publish_collection(req, backend, ledger)
    finally:
        beats.kill()
        beats.wait(10)
    ahead = time.time() + 3600  # it died; its clock was an hour ahead of ours
    os.utime(marker, (ahead, ahead))
    (left,) = collection.interrupted(ledger)
    assert (left.name, left.done) == ("Toy Punks", 1)
    result = collection.publish_collection(req, backend, ledger)  # taken over at once, and finished
    assert result.skipped == 1 and collection.interrupted(ledger) == []


def test_a_run_on_this_computer_is_judged_by_its_lock_not_by_the_clock(
    generate_model, server, backend_for, ledger
):
    """The clock stepped an hour forward (a time sync, a laptop waking from sleep) while another Blender's run
    was on one step: its marker's time, an hour old by the clock now, made it look dead (named at a start,
    and Publish Collection here ran it a second time). The run's lock says it is alive."""
    backend = backend_for("kubo")
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    blenders, release = _Blenders(1, server, ledger, generate_model), threading.Event()
    try:
        arrived = threading.Event()
        server.inject("/api/v0/add", "pass", "pass", ("hold", arrived, release))  # its manifest's upload
        blenders.press("Stepped", 700, 1)
        assert arrived.wait(60)
        (marker,) = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".running")]
        old = time.time() - 3600
        os.utime(marker, (old, old))
        assert collection.interrupted(ledger) == []
        req = collection.CollectionRequest(
            generate.load_model(generate_model), generate.seeds_plan(700, 1), "Stepped"
        )
        with pytest.raises(PublishError, match="being published right now by another NFTGan process"):
            collection.publish_collection(req, backend, ledger)
    finally:
        release.set()
    assert blenders.said().startswith("published ipfs://")
    blenders.close()
    assert collection.interrupted(ledger) == []


_RUN = """
import json, sys, time
from nftgan.core import collection, generate
from nftgan.core.errors import PublishError
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.ledger import Ledger

url, db, model = sys.argv[1:4]
info, ledger = generate.load_model(model), Ledger(db)
backend = make_backend(Settings("kubo", endpoint=url))
print(json.dumps("ready"), flush=True)
for line in sys.stdin:  # a run a line: the collection's name, first seed and count, and when it starts
    name, seed, count, start = json.loads(line)
    req = collection.CollectionRequest(info, generate.seeds_plan(seed, count), name)
    while time.time() < start:  # (spinning: a sleep wakes too unevenly)
        pass
    try:
        said = "published " + collection.publish_collection(req, backend, ledger).manifest_uri
    except PublishError as exc:
        said = "refused " + str(exc)
    print(json.dumps(said), flush=True)
"""


class _Blenders:
    """`n` other real processes ("Blenders") on the test's ledger and server, each publishing the collections
    it is told to (`press`), one at a time, and saying how each ended (`said`: 'published ipfs://...' or
    'refused <why>', in the order they end)."""

    def __init__(self, n, server, ledger, generate_model):
        import queue
        import subprocess
        import sys

        from tests.publish.conftest import ROOT

        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RUN, server.url, str(ledger.path), str(generate_model)],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(n)
        ]
        self.out: queue.Queue = queue.Queue()
        for proc in self.procs:
            threading.Thread(
                target=lambda p=proc: [self.out.put(json.loads(line)) for line in p.stdout], daemon=True
            ).start()
        assert [self.said() for _ in self.procs] == ["ready"] * n

    def said(self) -> str:
        return self.out.get(timeout=120)

    def press(self, name: str, seed: int, count: int, procs=None) -> None:
        """Publish Collection in `procs` (all) at the same moment."""
        start = time.time() + 0.2
        for proc in self.procs if procs is None else procs:
            proc.stdin.write(json.dumps([name, seed, count, start]) + "\n")
            proc.stdin.flush()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.stdin.close()
            proc.wait(60)


def test_publish_collection_pressed_in_two_processes_at_the_same_moment_runs_once(
    generate_model, server, backend_for, ledger
):
    """Two Blenders pressing Publish Collection for one collection at the same moment: each read the run's
    marker, found none (or a dead run's), and wrote its own, so both ran the batch and the second was stopped
    on its first token (whose ledger row the first held), removing the first run's marker as it ended. The
    claim is one step now: of two processes, one runs it and the other is refused before it does anything,
    also when both take over the marker of a run that died. Two real processes, 30 trials (half of them over a
    dead run's marker): on main, 15 of 30 ran it in both."""
    import subprocess

    backend = backend_for("kubo")
    info = generate.load_model(generate_model)
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    dead = subprocess.Popen(["true"])
    dead.wait()
    blenders, twice = _Blenders(2, server, ledger, generate_model), []
    try:
        for trial in range(30):
            name = f"Race {trial}"
            if trial % 2:  # a run of it died (kill -9) on its first token: its marker is left
                req = collection.CollectionRequest(info, generate.seeds_plan(7, 1), name)
                cid = collection.collection_id(req, backend, collection.styles.model_hash(req.model.path))
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, cid + collection.RUNNING), "w", encoding="utf-8") as fh:
                    fh.write(f"{socket.gethostname()}/{dead.pid}/0a1b2c3d")
            release = threading.Event()
            server.inject(
                "/api/v0/add", ("hold", threading.Event(), release)
            )  # the run is still on its token
            blenders.press(name, 7, 1)
            first = blenders.said()  # the one refused, while the other runs
            release.set()
            outcomes = sorted([first, blenders.said()])
            assert outcomes[0].startswith("published ipfs://"), outcomes
            if not outcomes[1].startswith(
                f"refused collection '{name}' is being published right now by another"
            ):
                twice.append((trial, outcomes[1]))
            assert [r.name for r in ledger.rows(PUBLISHED)].count(f"{name} #1") == 1  # never twice
            assert not [n for n in os.listdir(folder) if n.endswith(collection.RUNNING)]
            assert collection.interrupted(ledger) == []
    finally:
        blenders.close()
    assert not twice, f"{len(twice)} of 30 trials ran the collection in both processes: {twice[:3]}"


def test_a_run_that_cannot_start_its_beat_leaves_no_lock_or_marker(
    generate_model, backend_for, ledger, monkeypatch
):
    """A run whose renewal thread does not start (RuntimeError: can't start new thread) ends like any other
    error: it keeps neither its lock (this Blender's next Publish Collection of it was refused as "being
    published right now by another NFTGan process", naming itself, until Blender was restarted) nor its marker
    (named as a run that died at the next start)."""
    backend = backend_for("kubo")
    req = _request(generate_model, n=1)

    def no_thread(*_args):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(collection, "beating", no_thread)
    with pytest.raises(RuntimeError):
        collection.publish_collection(req, backend, ledger)
    monkeypatch.undo()
    assert collection.interrupted(ledger) == []
    assert collection.publish_collection(req, backend, ledger).manifest_uri
