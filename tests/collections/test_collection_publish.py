"""Publish collection: N tokens from a real generate model to the real test IPFS server (kubo API), with
a batch that dies mid-upload, then fails on the network, then resumes: every token published exactly
once, the dead upload resumed from its staged bytes, a verified collection manifest at the end."""

from __future__ import annotations

import json
import os
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


def test_the_collections_an_interrupted_token_belongs_to_are_named_with_what_is_left(
    generate_model, server, backend_for, ledger, monkeypatch
):
    """What a Blender started after a batch died says (collection.unfinished): the collection of the token it
    resumed, how many of its tokens are out, until the manifest is out; a same-named collection with other
    seeds, a finished one and a state file of an earlier version (without the collection's tokens) are not
    named."""
    req = _request(generate_model, n=4)
    backend = backend_for("kubo")
    other = collection.CollectionRequest(model=req.model, plan=generate.seeds_plan(300, 2), name=req.name)
    theirs = collection.publish_collection(other, backend, ledger)  # same name, other seeds: finished
    calls = _killed_at_mark(req, backend, ledger, monkeypatch, 3)
    (pending,) = ledger.rows(PENDING)
    resumed = service.resume_pending(ledger, lambda row: backend)
    assert [r.id for r in resumed] == [pending.id]
    (left,) = collection.unfinished(ledger, resumed)
    assert (left.name, left.count, left.done, left.staged) == ("Toy Punks", 4, 3, False)
    assert str(left) == (
        "collection 'Toy Punks' is not finished (3 of 4 tokens are published; 1 and the collection manifest "
        "are not yet)"
    )
    assert collection.unfinished(ledger, theirs.tokens) == []  # the finished same-named collection's tokens
    assert len(collection.unfinished(ledger, [ledger.get(calls[0])])) == 1  # (one of its own, done: named)

    result = collection.publish_collection(req, backend, ledger)
    assert result.skipped == 3 and collection.unfinished(ledger, resumed) == []  # finished
    folder = os.path.join(os.path.dirname(ledger.path), "collections")
    state_file = os.path.join(folder, f"{result.collection_id}.json")
    with open(state_file, encoding="utf-8") as fh:
        state = json.load(fh)
    with open(state_file, "w", encoding="utf-8") as fh:  # as an earlier version wrote it
        json.dump({"id": state["id"], "after_row": state["after_row"]}, fh)
    assert collection.unfinished(ledger, resumed) == []
    assert collection.publish_collection(req, backend, ledger).skipped == 4  # its next run completes it
    with open(state_file, encoding="utf-8") as fh:
        assert json.load(fh)["name"] == "Toy Punks"
