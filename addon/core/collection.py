"""Publish a whole collection: N tokens sampled from a generate model, then a collection manifest.

Built on the publish service and its ledger (no second bookkeeping of uploads): each token is one
ordinary publish (image + ERC-721 metadata, every CID verified, a ledger row pending -> published).
The batch is resumable and never publishes a token twice: a collection is identified by its model
file's hash, its name, its seed plan and the backend; its state file records the ledger position it
started from, so on a re-run every token whose ledger row (same name, same backend, and staged
metadata recording this token's seed, collection and model version: a same-named collection
published meanwhile is not taken for this one) is already published is skipped, a pending one (the
process died mid-upload) is resumed from its staged bytes, and only the missing ones are generated
and published. The manifest (collection name, model, and per token: seed, token URI, CIDs; with its
`image` and `external_link` it is also OpenSea's contract-level metadata, the URI a contract's
contractURI() returns) is written locally and uploaded last, verified like everything else.

A run in progress is a marker file beside the state file (`<id>.running`, naming the process), written
before the first token and removed when the run ends with an outcome it reports: the manifest recorded,
a Cancel, an error (not a stop while the program closes: nobody is told). A marker whose process has died
(killed, crashed, Blender closed), whether a token was on its way or not, is what a later start names
(`interrupted`): at every start, until a run of that collection ends.

A run holds the lock of `<id>.lock` (files.lock) from before it reads the marker until it ends, so taking a
run is one step (of two processes pressing Publish Collection at once, one runs it; the other is refused) and
the lock says whether a run is alive: the system ends it with the process, however it ends. Where the lock
cannot say (a file system without locks; a run of another computer, whose lock may not reach across a network
share) the run renews its marker's time every ledger.BEAT seconds, and a reader watches for a renewal on its own
monotonic clock: no two clocks (another computer's, the file server's, ours before a step) are compared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from . import generate, imageio, styles
from .contract import ModelInfo
from .errors import Cancelled, PublishError
from .files import lock, write_durably
from .publish import ledger as ledgers
from .publish import metadata as md
from .publish import service
from .publish.backends import Backend
from .publish.ledger import DONE, LIVE, PENDING, Ledger, Row, beating, ended
from .publish.provenance import model_record, nftgan_request

RUNNING = ".running"  # a run's marker: <collection id>.running, holding its owner ("host/pid/nonce")
LOCK = ".lock"  # <collection id>.lock: locked by the run for as long as it runs (never removed)
CLAIM_WAIT = 0.25  # seconds a Publish Collection waits for the lock (a start's look holds it for a moment)


@dataclass
class CollectionRequest:
    model: ModelInfo
    plan: list[generate.Sample]
    name: str  # tokens are "<name> #1", "<name> #2", ...
    description: str = ""
    external_url: str = ""
    attributes: list[dict] = field(default_factory=list)  # extra traits on every token

    def token_name(self, index: int) -> str:
        return f"{self.name} #{index + 1}"


class CollectionCancelled(Cancelled):
    """A batch stopped by Cancel, saying how far it got: `done` of `total` tokens are published (or staged,
    Offline), and whether only the collection manifest is left; `again` is what running it again does."""

    def __init__(self, done: int, total: int, staged: bool):
        self.done, self.total = done, total
        word = "staged" if staged else "published"
        if done == total:
            said = f"all {total} tokens are {word}, the collection manifest is not"
            self.again = "writes the manifest" if staged else "uploads the manifest"
        else:
            said = f"{done} of {total} tokens are {word}, {total - done} are not yet"
            self.again = f"{'stages' if staged else 'publishes'} the {'other ' if done else ''}{total - done}"
        super().__init__(f"cancelled: {said}")


@dataclass
class CollectionResult:
    collection_id: str
    tokens: list[Row]
    skipped: int  # already published (or staged) before this run: by an interrupted, finished or other run
    manifest_path: str
    manifest_uri: str


def collection_id(req: CollectionRequest, backend: Backend, model_hash: str) -> str:
    key = {
        "model": model_hash,
        "name": req.name,
        "plan": [asdict(s) for s in req.plan],
        "backend": backend.kind,
        "endpoint": backend.endpoint,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _state(folder: str, cid: str, ledger: Ledger, about: dict) -> dict:
    """The collection's state file: created on the first run with the ledger position it starts after, and
    `about` the collection (name, count, backend, endpoint, each token's recorded attributes: what a Blender
    started later needs to say which collection an interrupted token belongs to and how far it got; a state
    file of an earlier version gains them on its next run)."""
    path = os.path.join(folder, f"{cid}.json")
    state = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
    if not state:
        newest = ledger.rows(limit=1)
        state = {"id": cid, "after_row": newest[0].id if newest else 0}
    if any(state.get(k) != v for k, v in about.items()):
        state.update(about)
        os.makedirs(folder, exist_ok=True)
        write_durably(path, json.dumps(state).encode())
    return state


def _is_token(row: Row, state: dict) -> bool:
    """A token of the collection of `state`: recorded after the collection began, by its service, with its
    name, and the seed and model its metadata records (a collection of the same name published meanwhile, with
    other seeds or another model, is not)."""
    want = state["tokens"].get(row.name)
    if want is None or row.id <= state["after_row"]:
        return False
    if (row.backend, row.endpoint) != (state["backend"], state["endpoint"]):
        return False
    recorded = _staged_attributes(row)
    return all(a in recorded for a in want)


@dataclass
class Unfinished:
    """A collection whose batch stopped: `done` of `count` tokens are out, the manifest is not."""

    name: str
    count: int
    done: int
    staged: bool  # Offline: tokens are staged in a folder, not published

    def __str__(self) -> str:
        word = "staged" if self.staged else "published"
        if self.done == self.count:
            out = f"all {self.count} tokens are {word}, the collection manifest is not yet"
        else:
            out = (
                f"{self.done} of {self.count} tokens are {word}; {self.count - self.done} and the collection "
                "manifest are not yet"
            )
        return f"collection '{self.name}' is not finished ({out})"


def _folder(ledger: Ledger) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(ledger.path)), "collections")


def runs_recorded(ledger: Ledger) -> bool:
    """Whether any run's marker is on disk (one listdir: cheap enough for the main thread at a start)."""
    try:
        return any(n.endswith(RUNNING) for n in os.listdir(_folder(ledger)))
    except OSError:
        return False


def _owner(marker: str) -> str:
    """The owner a run's marker records ("" when there is none). OSError when it cannot be read."""
    try:
        with open(marker, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""


def _try_lock(marker: str) -> int | None:
    """The run's lock, taken at once (BlockingIOError when a run holds it); None where there are no locks."""
    try:
        return lock(marker.removesuffix(RUNNING) + LOCK, wait=False)
    except BlockingIOError:
        raise
    except OSError:  # (e.g. a folder that cannot be written in: no lock to go by)
        return None


def _stamp(marker: str) -> int | None:
    try:
        with open(marker, "rb") as fh:  # (opened: a network share's client checks the file's times again)
            return os.fstat(fh.fileno()).st_mtime_ns
    except OSError:
        return None


def _ended(marker: str, owner: str) -> bool:
    """A start's look: the run `owner` of `marker` died (ledger.ended); False while a run holds the lock."""
    try:
        fd = _try_lock(marker)
    except BlockingIOError:
        return False
    if fd is not None:
        os.close(fd)
    return ended(owner, fd is not None, lambda: _stamp(marker))


def _refusal(name: str, other: str) -> PublishError:
    return PublishError(
        f"collection '{name}' is being published right now by another NFTGan process"
        + (f" ({service.who(other)})" if other else "")
        + "; wait for it to finish there, then press Publish Collection again if it did not"
    )


def _claim(marker: str, owner: str, name: str) -> int | None:
    """Take the collection's run in one step: its lock, then (a dead run's marker taken over) the marker naming
    `owner`. PublishError while another run holds it or, where the lock cannot say, renews its marker: that
    marker is left as it is (a crash of that run is still named). Returns the lock's descriptor (None: no
    locks here), to close when the run ends."""
    until = time.monotonic() + CLAIM_WAIT
    while True:
        try:
            fd = _try_lock(marker)
            break
        except BlockingIOError:
            if time.monotonic() > until:
                other = ""
                with contextlib.suppress(OSError):
                    other = _owner(marker)
                raise _refusal(name, other) from None
            time.sleep(0.01)
    try:
        other = ""
        with contextlib.suppress(OSError):  # (unreadable: no run to wait for)
            other = _owner(marker)
        if other and not ended(other, fd is not None, lambda: _stamp(marker)):
            raise _refusal(name, other)
        write_durably(marker, owner.encode())  # before any token: a run that dies from here on is named
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return fd


def interrupted(ledger: Ledger) -> list[Unfinished]:
    """The collections whose run died unannounced (killed, crashed, Blender closed), mid-token or between two
    tokens: named at every start until a run of them ends (finished, cancelled or stopped on an error)."""
    folder = _folder(ledger)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(RUNNING))
    except OSError:
        return []
    found, rows = [], None
    for name in names:
        marker = os.path.join(folder, name)
        try:
            with open(marker.removesuffix(RUNNING) + ".json", encoding="utf-8") as fh:
                state = json.load(fh)
            owner = _owner(marker)
            if not owner or not _ended(marker, owner):  # running, in this process or another (or just ended)
                continue
            if state.get("manifest_uri"):  # finished (a crash kept its marker): no run is left
                _end(marker, owner)
                continue
            rows = ledger.rows() if rows is None else rows
            done = {r.name for r in rows if r.state in DONE and _is_token(r, state)}
            found.append(
                Unfinished(state["name"], int(state["count"]), len(done), state["backend"] == "offline")
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # unreadable: not one to name
            continue
    return found


def _end(marker: str, owner: str) -> None:
    """Remove the marker of the run `owner` (only its own: never another run's)."""
    with contextlib.suppress(OSError):
        if _owner(marker) == owner:
            os.remove(marker)


def _staged_attributes(row: Row) -> list:
    """The attributes of the token metadata a ledger row uploaded (its staged copy); [] when unreadable."""
    try:
        with open(row.staged_file("metadata"), encoding="utf-8") as fh:
            attributes = json.load(fh).get("attributes")
    except (OSError, ValueError, AttributeError):  # (no staged metadata: open("") raises)
        return []
    return attributes if isinstance(attributes, list) else []


def publish_collection(
    req: CollectionRequest,
    backend: Backend,
    ledger: Ledger,
    *,
    progress: Callable[[float, str], None] = lambda f, m: None,
    check: Callable[[], None] | None = None,
    threads: int = 0,
    provider: str = "auto",
    closing: Callable[[], bool] = lambda: False,
) -> CollectionResult:
    """Publish (or finish publishing) the collection. Raises PublishError on the first token that fails,
    CollectionCancelled (saying how many tokens are out) when `check()` cancels; running it again continues
    where it stopped. A run that ends so while `closing()` (Blender quitting: nobody is told how it ended) is
    left recorded, as a killed one is, for the next start to name."""
    if not req.plan:
        raise PublishError("the collection is empty: choose how many tokens to publish")
    if not req.name.strip():
        raise PublishError("the collection needs a name (tokens are called '<name> #1', '<name> #2' ...)")
    model_hash = styles.model_hash(req.model.path)
    cid = collection_id(req, backend, model_hash)
    folder = _folder(ledger)
    software = md.software_version()
    n = len(req.plan)

    record = model_record("generate", req.model)

    def traits(sample: generate.Sample) -> list[dict]:
        return [*sample.attributes(), {"trait_type": "Collection", "value": req.name}]

    about = {
        "name": req.name,
        "count": n,
        "backend": backend.kind,
        "endpoint": backend.endpoint,
        "tokens": {  # what each token's metadata records (and a token of this collection has)
            req.token_name(i): traits(sample) + md.nftgan_attributes(models=[record])
            for i, sample in enumerate(req.plan)
        },
    }
    owner, marker = Ledger.new_owner(), os.path.join(folder, cid + RUNNING)
    os.makedirs(folder, exist_ok=True)
    held = _claim(marker, owner, req.name)
    LIVE.add(owner)

    def renew() -> bool:  # the run is alive while its process is (what another computer can go by)
        with contextlib.suppress(OSError):
            os.utime(marker)
        return True

    alive = contextlib.ExitStack()
    if held is not None:
        alive.callback(os.close, held)  # (last: after the beat stopped)

    def mine(row: Row) -> bool:
        return _is_token(row, state)

    try:  # a Cancel says how far the batch got: how many of its tokens are out, whatever the stage
        alive.enter_context(
            beating(ledgers.BEAT, renew, "nftgan-collection-run")
        )  # (failing: ends as an error)
        state = _state(folder, cid, ledger, about)  # (once the run is ours: its ledger position is one run's)
        # tokens whose upload a dead process left pending: finish them from their staged bytes first
        service.resume_pending(ledger, lambda row: backend, check=check, only=mine)
        done = {r.name: r for r in ledger.rows() if r.state in DONE and mine(r)}
        if any(r.state == PENDING for r in ledger.rows(PENDING) if mine(r)):
            raise PublishError(
                "a token of this collection is still pending (another process is publishing it?)"
            )
        tokens: list[Row] = []
        skipped = 0
        for i, sample in enumerate(req.plan):
            if check is not None:
                check()
            name = req.token_name(i)
            if name in done:
                tokens.append(done[name])
                skipped += 1
                continue
            progress(i / n, f"token {i + 1} of {n}: generating")
            (rgba,) = generate.run(
                req.model, generate.latents([sample], req.model.latent), threads=threads, provider=provider
            )
            request = nftgan_request(
                imageio.encode_png(rgba),
                name=name,
                models=[record],
                traits=traits(sample),
                attributes=req.attributes,
                description=req.description,
                external_url=req.external_url,
            )

            def step(fraction, message, i=i):
                progress((i + fraction) / n, f"token {i + 1} of {n}: {message}")

            try:
                tokens.append(service.publish(request, backend, ledger, progress=step, check=check))
            except (
                PublishError
            ) as exc:  # say how far the batch got (same exception, for what handles its kind)
                exc.args = (
                    f"token {i + 1} of {n} ('{name}') was not published"
                    + (f", the {i} before it {'is' if i == 1 else 'are'}: " if i else ": ")
                    + str(exc),
                )
                raise
        progress(1.0, "collection manifest")
        manifest = {  # also OpenSea's contract-level metadata (a contract's contractURI): name, description,
            # image (the first token's picture), external_link
            "name": req.name,
            "description": req.description,
            "image": md.ipfs_uri(tokens[0].image_cid),
            "external_link": req.external_url,
            "external_url": req.external_url,
            "collection_id": cid,
            "software": software,
            "model": {
                "name": req.model.name,
                "file": os.path.basename(req.model.path),
                "sha256": model_hash,
                "latent": req.model.latent,
                "size": req.model.size,
                "training": req.model.training,
            },
            "backend": backend.kind,
            "count": n,
            "tokens": [
                {
                    "index": i + 1,
                    "name": row.name,
                    **asdict(sample),
                    "token_uri": row.token_uri,
                    "image_cid": row.image_cid,
                    "metadata_cid": row.metadata_cid,
                    "gateway_url": row.gateway_url,
                }
                for i, (sample, row) in enumerate(zip(req.plan, tokens))
            ],
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        path = os.path.join(folder, cid, "manifest.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_durably(path, data)
        item = service.make_item("collection.json", data)
        if check is not None:
            check()
        try:
            # again on a re-run: only the service's own CID verifies; Cancel ends it mid-upload (also on a
            # re-run that sent no token before it)
            with service.watching(backend, check):
                service.store_verified(backend, item)
        except PublishError as exc:
            exc.args = (f"the collection manifest was not uploaded, its {n} tokens are published: {exc}",)
            raise
        uri = md.ipfs_uri(item.dag.root)
        write_durably(
            os.path.join(folder, f"{cid}.json"), json.dumps({**state, "manifest_uri": uri}).encode()
        )
        _end(marker, owner)
        return CollectionResult(cid, tokens, skipped, path, uri)
    # a run that ends with an outcome it reports (Cancel, an error) leaves no marker: it did not die unannounced
    except Cancelled:
        if not closing():
            _end(marker, owner)
        out = {r.name for r in ledger.rows() if r.state in DONE and mine(r)}
        raise CollectionCancelled(len(out), n, backend.http is None) from None
    except Exception:
        if not closing():
            _end(marker, owner)
        raise
    finally:
        alive.close()
        LIVE.discard(owner)
