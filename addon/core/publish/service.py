"""Publishing, end to end: local CIDs -> pending ledger row -> upload -> verify -> published.

Order: the image (and the optional animation) first, the metadata that points at them last, so a
token URI never exists before what it names. Every CID a service reports is compared with the
CID computed here from the same bytes; a mismatch fails the publish. Nothing is marked published
that did not verify (the Offline backend's rows are `staged`: on disk, not on IPFS), and a crash
leaves a pending row that `resume_pending` (or the same publish run again) finishes or fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import Cancelled, PublishError
from ..files import os_error_message, read_regular
from . import metadata as md
from .backends import Backend, Item
from .cid import CID, CIDError
from .ledger import DONE, PENDING, STAGED, Ledger, Row
from .unixfs import import_bytes

log = logging.getLogger(__name__)

MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".glb": "model/gltf-binary",
    ".json": "application/json",
}
Progress = Callable[[float, str], None]


def image_type(data: bytes) -> str:
    """The picture format of `data` from its first bytes: PNG, JPEG, WebP, or "" for none of them."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    return "WebP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else ""


@dataclass
class Request:
    image: bytes
    name: str
    image_ext: str = ".png"
    description: str = ""
    external_url: str = ""
    background_color: str = ""
    attributes: list[dict] = field(default_factory=list)
    animation: bytes | None = None  # a GLB of the object (animation_url)


@dataclass
class Prepared:
    """Everything computed locally, before anything is sent: what the confirmation shows."""

    request: Request
    items: dict[str, Item]  # role -> item, in upload order: image, animation, metadata
    metadata: dict

    @property
    def token_uri(self) -> str:
        return md.ipfs_uri(self.items["metadata"].dag.root)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "nftgan"


def make_item(filename: str, data: bytes) -> Item:
    ext = os.path.splitext(filename)[1].lower()
    return Item(filename, MIME.get(ext, "application/octet-stream"), data, import_bytes(data))


def prepare(request: Request) -> Prepared:
    """Hash everything and build + validate the metadata (raises MetadataError / PublishError)."""
    if not request.image:
        raise PublishError("the image is empty: nothing to publish")
    ext = request.image_ext.lower()
    if ext not in MIME or MIME[ext].split("/")[0] != "image":
        raise PublishError(f"unsupported image type {ext!r} (PNG, JPEG or WebP)")
    slug = _slug(request.name)
    items = {"image": make_item(slug + ext, request.image)}
    if request.animation:
        items["animation"] = make_item(slug + ".glb", request.animation)
    meta = md.build_metadata(
        name=request.name,
        description=request.description,
        image_cid=items["image"].dag.root,
        external_url=request.external_url,
        attributes=request.attributes,
        background_color=request.background_color,
        animation_cid=items["animation"].dag.root if "animation" in items else None,
    )
    items["metadata"] = make_item(slug + ".json", md.to_json_bytes(meta))
    return Prepared(request, items, meta)


def publish(
    prepared: Prepared | Request,
    backend: Backend,
    ledger: Ledger,
    *,
    progress: Progress = lambda f, m: None,
    check: Callable[[], None] | None = None,
) -> Row:
    """Publish; returns the ledger row (published, or staged for the Offline backend) or raises
    PublishError (the row is then failed). `check()` raises to cancel (a job's check): called before
    every request, retries included.

    The same image + metadata on the same service is one publish: already published or staged, its
    row is returned and nothing is sent; left pending by a process that died (kill -9), that row is
    taken over and finished; pending in a process that is still running, PublishError says so."""
    if isinstance(prepared, Request):
        prepared = prepare(prepared)
    with ledger.owning() as owner:
        return _publish(prepared, backend, ledger, owner, progress, check)


def _publish(
    prepared: Prepared,
    backend: Backend,
    ledger: Ledger,
    owner: str,
    progress: Progress,
    check: Callable[[], None] | None,
) -> Row:
    items = prepared.items
    backend.check_size([len(i.data) for i in items.values()])
    image = items["image"]
    metadata_cid = str(items["metadata"].dag.root)
    credential = backend.fingerprint(ledger)
    passed: set[int] = set()  # earlier rows of this content looked at and left (failed, another's token)
    while True:
        for earlier in ledger.same_content(metadata_cid, backend.kind, backend.endpoint):
            if earlier.id in passed:
                continue
            if earlier.state in DONE:
                progress(
                    1.0, f"{earlier.name} was already {earlier.state} (ledger row {earlier.id}): nothing sent"
                )
                return earlier
            if earlier.state == PENDING and not ledger.orphaned(earlier):
                raise PublishError(
                    f"'{earlier.name}' is being published right now by another NFTGan process "
                    f"({who(earlier.owner)}); wait for it to finish, then look in the gallery or the ledger"
                )
            if (
                earlier.state == PENDING
                and (not earlier.credential or backend.started_with(ledger, earlier.credential))
                and ledger.claim(earlier, owner, checked=True)
            ):
                return _upload(
                    ledger.get(earlier.id), items, backend, ledger, owner, progress, check, resume=True
                )
            passed.add(earlier.id)
        row = ledger.begin(
            name=prepared.request.name,
            backend=backend.kind,
            endpoint=backend.endpoint,
            image_sha256=hashlib.sha256(image.data).hexdigest(),
            image_size=len(image.data),
            image_cid=str(image.dag.root),
            metadata_cid=metadata_cid,
            animation_cid=str(items["animation"].dag.root) if "animation" in items else "",
            files={_staged_name(role, item): item.data for role, item in items.items()},
            credential=credential,
            owner=owner,
            unless_other_than=passed,
        )
        if row is not None:
            break
        # another process began this content between the look above and our begin: look again
    return _upload(row, items, backend, ledger, owner, progress, check, resume=False)


def who(owner: str) -> str:
    host, _, rest = owner.partition("/")
    return f"process {rest.partition('/')[0]} on {host}"


def _staged_name(role: str, item: Item) -> str:
    return role + os.path.splitext(item.filename)[1]


def upload_command(row: Row) -> str:
    """For a staged (Offline) row: the command that puts its CARs on IPFS with a kubo node."""
    cars = [
        os.path.join(row.endpoint, f"{cid}.car")
        for cid in (row.image_cid, row.animation_cid, row.metadata_cid)
        if cid
    ]
    return "ipfs dag import " + " ".join(shlex.quote(c) for c in cars)


def _upload(
    row: Row,
    items: dict[str, Item],
    backend: Backend,
    ledger: Ledger,
    owner: str,
    progress: Progress,
    check: Callable[[], None] | None,
    *,
    resume: bool,
) -> Row:
    try:
        with ledger.hold(row.id, owner), watching(backend, check):
            for n, item in enumerate(items.values()):
                if check is not None:
                    check()
                message = (
                    f"{'Resuming' if resume else 'Uploading'} {item.filename} ({len(item.data) / 1e6:.2f} MB) "
                    f"to {backend.label}"
                )
                progress(n / len(items), message)
                if backend.http is not None:  # bytes sent within this file move the bar too
                    backend.http.progress = lambda sent, total, n=n, m=message: progress(
                        (n + sent / total) / len(items), m
                    )
                store_verified(backend, item)  # also on resume: only the service's own CID verifies
            token_uri = md.ipfs_uri(items["metadata"].dag.root)
            backend.published(name=row.name, token_uri=token_uri, items=items)
        if backend.http is None:  # Offline: written to a folder, not on IPFS until the CARs are uploaded
            done = ledger.mark_staged(row.id, token_uri=token_uri)
            progress(1.0, f"Staged {row.name} (not on IPFS yet): upload with {upload_command(done)}")
            return done
        progress(1.0, f"Published {row.name}: {token_uri}")
        return ledger.mark_published(
            row.id, token_uri=token_uri, gateway_url=backend.gateway_url(items["image"].dag.root)
        )
    except Cancelled:
        ledger.mark_failed(row.id, "cancelled", owner)
        raise
    except PublishError as exc:
        ledger.mark_failed(row.id, str(exc), owner)
        raise
    except OSError as exc:
        msg = os_error_message(exc, backend.label)
        ledger.mark_failed(row.id, msg, owner)
        raise PublishError(msg) from None
    except Exception as exc:
        ledger.mark_failed(row.id, f"{type(exc).__name__}: {backend.redact(exc, 1000)}", owner)
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: this process stops; the next run may resume it
        ledger.release(row.id, owner, "interrupted before it finished; it is resumed on the next start")
        raise


@contextlib.contextmanager
def watching(backend: Backend, check: Callable[[], None] | None):
    """While the block runs, the backend's requests stop when `check()` raises (Cancel: also mid-upload,
    connecting or waiting to retry) and report upload bytes to the `progress` the block sets; both are put
    back as they were after it (a backend used again must not keep a finished job's Cancel)."""
    http = backend.http
    if http is None:
        yield
        return
    saved = http.check, http.progress
    if check is not None:
        http.check = check
    try:
        yield
    finally:
        http.check, http.progress = saved


def store_verified(backend: Backend, item: Item) -> None:
    """Send one item; raise PublishError unless the CID the service reports is the item's own."""
    local = item.dag.root
    reported = backend.store(item)
    try:
        ok = CID.parse(str(reported)) == local
    except CIDError:
        ok = False
    if not ok:
        raise PublishError(
            f"{backend.label} reported CID {backend.redact(reported, 100)} for {item.filename}, but its content's "
            f"CID is {local}: the upload did not verify and is not recorded as published"
        )
    log.info("%s: %s stored as %s (verified)", backend.label, item.filename, local)


def _staged_items(row: Row) -> dict[str, Item]:
    """Rebuild the items from the staged copies and check they are still the bytes that were hashed."""
    if not os.path.isdir(row.staged):
        raise PublishError(f"the staged files of this publish are gone ({row.staged})")
    by_role = {os.path.splitext(f)[0]: f for f in os.listdir(row.staged) if not f.endswith(".tmp")}
    slug = _slug(row.name)
    items = {}
    for role, want in (
        ("image", row.image_cid),
        ("animation", row.animation_cid),
        ("metadata", row.metadata_cid),
    ):
        if not want:
            continue
        if role not in by_role:
            raise PublishError(f"the staged {role} of this publish is missing from {row.staged}")
        try:
            data = read_regular(os.path.join(row.staged, by_role[role]))
        except OSError as exc:
            raise PublishError(f"the staged {role} of this publish cannot be read: {exc}") from None
        item = make_item(slug + os.path.splitext(by_role[role])[1], data)
        if str(item.dag.root) != want:
            raise PublishError(f"the staged {role} in {row.staged} changed since it was hashed")
        items[role] = item
    return items


def resume_pending(
    ledger: Ledger,
    backend_for: Callable[[Row], Backend],
    *,
    progress: Progress = lambda f, m: None,
    check: Callable[[], None] | None = None,
    only: Callable[[Row], bool] | None = None,
) -> list[Row]:
    """Finish or fail the orphaned pending rows (a process that published them died), or those of them
    `only(row)` accepts; rows another running process is publishing are left alone. Returns the rows
    it looked at, as they are now.

    backend_for(row) builds the backend for exactly that row's service, with a credential given for
    that backend and endpoint, or raises PublishError saying how to finish the row (e.g. which token
    to set): the row then stays pending with that note. A backend for another service, or a token
    other than the one the row was started with, is refused here too: a credential goes only where
    it was given for."""
    with ledger.owning() as owner:
        return _resume_pending(ledger, backend_for, owner, progress, check, only)


def _resume_pending(ledger, backend_for, owner, progress, check, only) -> list[Row]:
    done = []
    for row in ledger.rows(PENDING):
        if (only is not None and not only(row)) or not ledger.claim(row, owner):
            continue
        try:
            backend = backend_for(row)
            if (backend.kind, backend.endpoint) != (row.backend, row.endpoint):
                raise PublishError(
                    f"waiting for a credential given for {row.backend} at {row.endpoint} "
                    f"(the one at hand is for {backend.kind} at {backend.endpoint})"
                )
            if row.credential and not backend.started_with(ledger, row.credential):
                raise PublishError(
                    f"waiting for the {backend.label} token it was started with (fingerprint {row.credential}; "
                    f"the token at hand is another one). Set that token and resume, or publish the image again"
                )
        except PublishError as exc:
            done.append(ledger.release(row.id, owner, f"not resumed: {exc}"))
            continue
        try:
            items = _staged_items(row)
        except PublishError as exc:
            done.append(ledger.mark_failed(row.id, f"could not resume after a restart: {exc}", owner))
            continue
        try:
            done.append(_upload(row, items, backend, ledger, owner, progress, check, resume=True))
        except PublishError:
            done.append(ledger.get(row.id))
    return done


@dataclass(frozen=True)
class GalleryEntry:
    name: str
    state: str  # pending / published / staged / failed (ledger) or "remote" (only in the service's list)
    token_uri: str
    gateway_url: str
    image_path: str  # a local copy for the thumbnail ("" for remote entries)
    backend: str
    detail: str  # failed: the error; pending: what it waits for; staged: the upload command; remote: the CID


def gallery(
    ledger: Ledger, backend: Backend | None = None, limit: int = 20
) -> tuple[list[GalleryEntry], str]:
    """The latest `limit` publishes from the ledger, then what only the service lists; plus a problem
    message when the service's list could not be read (the ledger part is still returned)."""
    rows = ledger.rows(limit=limit)
    entries = [
        GalleryEntry(
            r.name,
            r.state,
            r.token_uri,
            r.gateway_url,
            r.image_path,
            r.backend,
            upload_command(r) if r.state == STAGED else r.error,
        )
        for r in rows
    ]
    problem = ""
    if backend is not None and len(entries) < limit:
        known = {c for r in ledger.rows() for c in (r.image_cid, r.metadata_cid, r.animation_cid) if c}
        try:
            remote = backend.list(limit)
        except PublishError as exc:
            remote, problem = [], str(exc)
        for item in remote:
            if item.cid not in known and len(entries) < limit:
                entries.append(
                    GalleryEntry(
                        item.name or item.cid,
                        "remote",
                        md.ipfs_uri(item.cid),
                        backend.gateway_url(item.cid),
                        "",
                        backend.kind,
                        item.cid,
                    )
                )
    return entries, problem
