"""Publishing, end to end: local CIDs -> pending ledger row -> upload -> verify -> published.

Order: the image (and the optional animation) first, the metadata that points at them last, so a
token URI never exists before what it names. Every CID a service reports is compared with the
CID computed here from the same bytes; a mismatch fails the publish. Nothing is marked published
that did not verify, and a crash leaves a pending row that `resume_pending` finishes or fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import Cancelled, PublishError
from . import metadata as md
from .backends import Backend, Item
from .cid import CID, CIDError
from .ledger import PENDING, Ledger, Row
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
    """Publish; returns the published ledger row or raises PublishError (the row is then failed).
    `check()` raises to cancel (a job's check): called before every request, retries included."""
    if isinstance(prepared, Request):
        prepared = prepare(prepared)
    items = prepared.items
    backend.check_size([len(i.data) for i in items.values()])
    image = items["image"]
    files = {_staged_name(role, item): item.data for role, item in items.items()}
    row = ledger.begin(
        name=prepared.request.name,
        backend=backend.kind,
        endpoint=backend.endpoint,
        image_sha256=hashlib.sha256(image.data).hexdigest(),
        image_size=len(image.data),
        image_cid=str(image.dag.root),
        metadata_cid=str(items["metadata"].dag.root),
        animation_cid=str(items["animation"].dag.root) if "animation" in items else "",
        files=files,
    )
    return _upload(row, items, backend, ledger, progress, check, resume=False)


def _staged_name(role: str, item: Item) -> str:
    return role + os.path.splitext(item.filename)[1]


def _upload(
    row: Row,
    items: dict[str, Item],
    backend: Backend,
    ledger: Ledger,
    progress: Progress,
    check: Callable[[], None] | None,
    *,
    resume: bool,
) -> Row:
    if check is not None and backend.http is not None:
        backend.http.check = check
    try:
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
        progress(1.0, f"Published {row.name}: {token_uri}")
        return ledger.mark_published(
            row.id, token_uri=token_uri, gateway_url=backend.gateway_url(items["image"].dag.root)
        )
    except Cancelled:
        ledger.mark_failed(row.id, "cancelled")
        raise
    except PublishError as exc:
        ledger.mark_failed(row.id, str(exc))
        raise
    except Exception as exc:
        ledger.mark_failed(row.id, f"{type(exc).__name__}: {backend.redact(exc, 1000)}")
        raise


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
        with open(os.path.join(row.staged, by_role[role]), "rb") as fh:
            item = make_item(slug + os.path.splitext(by_role[role])[1], fh.read())
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
    """Finish or fail every pending row (call at start-up), or those `only(row)` accepts. backend_for(row)
    builds that row's backend (raising PublishError with the reason when it cannot, e.g. no token or online
    access off)."""
    done = []
    for row in ledger.rows(PENDING):
        if only is not None and not only(row):
            continue
        try:
            items = _staged_items(row)
            backend = backend_for(row)
        except PublishError as exc:
            done.append(ledger.mark_failed(row.id, f"could not resume after a restart: {exc}"))
            continue
        try:
            done.append(_upload(row, items, backend, ledger, progress, check, resume=True))
        except PublishError:
            done.append(ledger.get(row.id))
    return done


@dataclass(frozen=True)
class GalleryEntry:
    name: str
    state: str  # pending / published / failed (ledger) or "remote" (only in the service's list)
    token_uri: str
    gateway_url: str
    image_path: str  # a local copy for the thumbnail ("" for remote entries)
    backend: str
    detail: str  # the error for failed rows, the CID for remote entries


def gallery(
    ledger: Ledger, backend: Backend | None = None, limit: int = 20
) -> tuple[list[GalleryEntry], str]:
    """The latest `limit` publishes from the ledger, then what only the service lists; plus a problem
    message when the service's list could not be read (the ledger part is still returned)."""
    rows = ledger.rows(limit=limit)
    entries = [
        GalleryEntry(r.name, r.state, r.token_uri, r.gateway_url, r.image_path, r.backend, r.error)
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
