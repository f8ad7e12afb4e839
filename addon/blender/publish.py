"""Publish as NFT: any image datablock -> IPFS (image + ERC-721 metadata), verified, in the ledger.

Main thread: pick the image and take its bytes (packed PNG, the file on disk, the saved Render
Result, or a pixel snapshot), read the form and the preferences. Worker: PNG encoding when needed,
hashing, uploads with retries, CID verification, the ledger row. The gallery shows the ledger's
latest publishes (with thumbnails) and what the service itself lists.

Tokens live in the add-on preferences (PASSWORD fields: hidden on screen, but saved as plain text in
Blender's user preferences, userpref.blend; never in a .blend file), or, safer, in $NFTGAN_TOKEN, read
from the environment for the backend chosen in the preferences, sent only to that backend's default
endpoints (the environment records no service, and the endpoint preference can change), and never saved. The OS keyring is not
used: the well-kept `keyring` library needs, on Linux, a Secret Service daemon over D-Bus (SecretStorage,
jeepney and compiled `cryptography` wheels for every Python and platform the extension ships) that many
desktops and all headless machines lack, where it falls back to failing; the environment works
everywhere Blender does, the same way as for `nftgan publish`. A token goes only to the endpoint set
with it: an interrupted publish for another endpoint waits (the ledger says how to finish it). The
ledger and the logs name the backend and its endpoint, never a token.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.parse
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.app.handlers import persistent
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import Operator, Panel, PropertyGroup

from ..core import collection, imageio, jobs, pipeline
from ..core.errors import Cancelled, PublishError, UserError
from ..core.imageio import pixels_digest
from ..core.publish import backends as pb
from ..core.publish import metadata as md
from ..core.publish import provenance, service
from ..core.publish.ledger import STAGED, Ledger
from ..core.publish.unixfs import cid_of_bytes
from . import images, preferences, runtime
from .jobslot import SLOTS, JobSlot, start_from
from .ui import ImageEditorSidebar, wrap

log = logging.getLogger(__name__)

GALLERY_SIZE = 20
SLOT = JobSlot("publish", file_bound=False)  # an upload outlives the file it came from; one at a time
_gallery: dict = {"entries": None, "problem": ""}  # cached GalleryEntry list (None: not read yet)
_previews = None  # thumbnails of published images


# ----------------------------------------------------------------------------------------------- preferences


def _endpoint_fields(kind: str) -> tuple[str, ...]:
    return ("pinata_endpoint", "pinata_api_endpoint") if kind == "pinata" else (f"{kind}_endpoint",)


def services_of(p, kind: str, endpoint: str = "") -> str:
    """Where a backend's token goes as the preferences set it now (`endpoint`: another endpoint in place of
    its first, as `make_backend` takes one): its endpoints' origins (scheme://host:port, lower case, without
    any user@), "" for an address that is not a URL. Recorded with a typed token (`<kind>_token_for`), so a
    token goes only to the service it was typed for."""
    urls = [getattr(p, name) for name in _endpoint_fields(kind)]
    return _origins([endpoint, *urls[1:]] if endpoint else urls)


def default_services(p, kind: str) -> str:
    """`services_of` the backend's default endpoints (the preferences' defaults): the only service
    $NFTGAN_TOKEN goes to for it."""
    return _origins(p.bl_rna.properties[name].default for name in _endpoint_fields(kind))


def _origins(urls) -> str:
    origins = []
    for url in urls:
        try:
            parts = urllib.parse.urlsplit(url.strip())
        except ValueError:  # (e.g. "http://[::1": the endpoint's own check says what is wrong)
            parts = None
        origin = (
            f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower() if parts and parts.netloc else ""
        )
        if origin not in origins:
            origins.append(origin)
    return " and ".join(origins)


def _typed(kind: str):
    """The update of a token field: the token is for the service its backend's endpoints name now."""

    def update(self, _context):
        setattr(
            self, f"{kind}_token_for", services_of(self, kind) if getattr(self, TOKEN_FIELDS[kind]) else ""
        )

    return update


class PublishPreferences:
    """Preferences section: where Publish as NFT sends, and the services' settings. Tokens are PASSWORD
    fields, kept in Blender's user preferences only (never in a .blend)."""

    publish_backend: EnumProperty(
        name="Publish to",
        description="Where Publish as NFT sends the image and its metadata",
        items=[
            ("OFFLINE", "Offline folder", "Write image, metadata, CARs and a manifest to a folder"),
            (
                "NFTSTORAGE",
                "NFT.storage API",
                "A service speaking the NFT.storage HTTP API (the public "
                "NFT.storage stopped accepting uploads on 2024-06-30)",
            ),
            ("PINATA", "Pinata", "Pinata's v3 upload API (needs a JWT)"),
            ("KUBO", "Local IPFS node", "A kubo node's RPC API on this computer"),
        ],
    )
    publish_offline_folder: StringProperty(
        name="Offline folder",
        subtype="DIR_PATH",
        description="Where Offline publishing writes (default: NFTGan's folder)",
    )
    publish_gateway: StringProperty(
        name="Gateway",
        description="IPFS gateway prefix for links (default: the service's own, e.g. https://ipfs.io/ipfs/)",
    )
    nftstorage_endpoint: StringProperty(
        name="Endpoint",
        default="https://api.nft.storage",
        description="Base URL of an NFT.storage-compatible API (HTTPS)",
    )
    nftstorage_token: StringProperty(
        name="API token", subtype="PASSWORD", description="The service's key", update=_typed("nftstorage")
    )
    pinata_jwt: StringProperty(
        name="JWT", subtype="PASSWORD", description="Pinata API key JWT", update=_typed("pinata")
    )
    pinata_endpoint: StringProperty(name="Upload endpoint", default="https://uploads.pinata.cloud")
    pinata_api_endpoint: StringProperty(name="API endpoint", default="https://api.pinata.cloud")
    kubo_endpoint: StringProperty(
        name="RPC endpoint",
        default="http://127.0.0.1:5001",
        description="The node's RPC API (HTTPS unless on this computer)",
    )
    kubo_token: StringProperty(
        name="RPC token",
        subtype="PASSWORD",
        description="Only if the node's API.Authorizations requires one",
        update=_typed("kubo"),
    )
    # the service each typed token is for (`services_of` when it was typed): sent nowhere else
    nftstorage_token_for: StringProperty(options={"HIDDEN"})
    pinata_token_for: StringProperty(options={"HIDDEN"})
    kubo_token_for: StringProperty(options={"HIDDEN"})

    def draw_section(self, layout) -> None:
        box = layout.box()
        box.label(text="Publishing (NFT)", icon="WORLD")
        box.prop(self, "publish_backend")
        kind = self.publish_backend.lower()
        if kind != "offline" and not bpy.app.online_access:
            box.label(
                text="Online access is off (Preferences > System): only Offline can publish", icon="ERROR"
            )
        if kind == "nftstorage":
            for line in wrap(pb.NFT_STORAGE_NOTICE, 80):
                box.label(text=line, icon="INFO" if line.startswith("The public") else "BLANK1")
            box.prop(self, "nftstorage_endpoint")
        elif kind == "pinata":
            box.prop(self, "pinata_endpoint")
            box.prop(self, "pinata_api_endpoint")
        elif kind == "kubo":
            box.prop(self, "kubo_endpoint")
        else:
            box.prop(self, "publish_offline_folder")
        if kind in TOKEN_FIELDS:
            box.prop(self, TOKEN_FIELDS[kind])
            if not getattr(self, TOKEN_FIELDS[kind]).strip() and os.environ.get(pb.TOKEN_ENV, "").strip():
                now, defaults = services_of(self, kind), default_services(self, kind)
                if now == defaults:
                    box.label(
                        text=f"Using ${pb.TOKEN_ENV} from the environment (not saved)", icon="CHECKMARK"
                    )
                else:
                    for i, line in enumerate(
                        wrap(
                            f"${pb.TOKEN_ENV} is not sent to {now}: only to {defaults}, the default. Type "
                            "that service's token here, or set the endpoint back",
                            80,
                        )
                    ):
                        box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
            typed_for = getattr(self, f"{kind}_token_for")
            if (
                getattr(self, TOKEN_FIELDS[kind]).strip()
                and typed_for
                and typed_for != services_of(self, kind)
            ):
                box.label(
                    text=f"This token was typed for {typed_for}: type it again to use it here", icon="ERROR"
                )
            for i, line in enumerate(wrap(TOKEN_NOTICE, 80)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
        box.prop(self, "publish_gateway")


PREFERENCES = PublishPreferences
TOKEN_FIELDS = {"nftstorage": "nftstorage_token", "pinata": "pinata_jwt", "kubo": "kubo_token"}
# where a backend's token came from, as messages about it name it (a rejected token: "Check the token in ...")
IN_PREFERENCES = pb.IN_PREFERENCES
IN_ENVIRONMENT = (
    f"the environment variable ${pb.TOKEN_ENV} that Blender was started with (used because the add-on "
    "preferences' token field for this backend is empty)"
)
TOKEN_NOTICE = (
    "A token typed here is hidden on screen but saved as plain text in Blender's user preferences "
    f"(userpref.blend). Safer: leave it empty and start Blender with ${pb.TOKEN_ENV} set in the "
    "environment; it is used for the backend chosen above only, at its default endpoint, and never saved."
)


# ----------------------------------------------------------------------------------------------- properties


class NFTGAN_PG_attribute(PropertyGroup):
    trait: StringProperty(name="Trait", description="Attribute name (OpenSea trait_type)")
    value: StringProperty(name="Value", description="Attribute value (numbers are stored as numbers)")


class NFTGanPublishProps(PropertyGroup):
    image: PointerProperty(
        type=bpy.types.Image,
        name="Image",
        description="The image to publish (default: the image in the editor)",
    )
    # not `name`: a PropertyGroup's own `name` (Blender's "Unique name used in the code and scripting")
    # would win, and its tooltip with it. Files saved before hold the value as "name": read_old_name()
    token_name: StringProperty(
        name="Name",
        description="The token's name, shown by wallets and marketplaces (default: the image's name)",
    )
    description: StringProperty(name="Description", description="Token description")
    external_url: StringProperty(name="External URL", description="A page about the piece (https://...)")
    use_background: BoolProperty(
        name="Background Colour", description="Set the marketplace background colour"
    )
    background: FloatVectorProperty(
        name="Background",
        subtype="COLOR_GAMMA",
        size=3,
        min=0,
        max=1,
        default=(1, 1, 1),
        description="The background colour marketplaces show behind the image (with Background Colour on)",
    )
    include_glb: BoolProperty(
        name="Include 3D Model (GLB)", description="Also publish the active object as a GLB (animation_url)"
    )
    attributes: CollectionProperty(type=NFTGAN_PG_attribute)
    last_token_uri: StringProperty(name="Token URI", description="The token URI of the last publish")


def ledger() -> Ledger:
    return Ledger(os.path.join(runtime.user_dir("publish"), "ledger.sqlite"))


def backend_settings(context=None) -> dict[str, pb.Settings]:
    """Settings for every backend kind from the preferences (tokens stay in memory only). A backend's
    token is its preferences field, or, when that is empty, $NFTGAN_TOKEN for the chosen backend only; each
    backend's messages about its token name the one it came from. Where either may go is `make_backend`'s
    check: build backends with it."""
    p = preferences.get(context)
    if p is None:
        return {"offline": pb.Settings("offline", endpoint=runtime.user_dir("publish", "offline"))}
    gateway = p.publish_gateway.strip()
    offline_dir = (
        bpy.path.abspath(p.publish_offline_folder)
        if p.publish_offline_folder.strip()
        else runtime.user_dir("publish", "offline")
    )
    chosen = p.publish_backend.lower()

    def token(kind: str) -> dict:
        typed = getattr(p, TOKEN_FIELDS[kind]).strip()
        from_env = os.environ.get(pb.TOKEN_ENV, "").strip() if kind == chosen and not typed else ""
        if from_env:
            return {"token": from_env, "token_from": IN_ENVIRONMENT}
        return {"token": typed, "token_from": IN_PREFERENCES}

    return {
        "offline": pb.Settings("offline", endpoint=offline_dir, gateway=gateway),
        "nftstorage": pb.Settings(
            "nftstorage", endpoint=p.nftstorage_endpoint, gateway=gateway, **token("nftstorage")
        ),
        "pinata": pb.Settings(
            "pinata",
            endpoint=p.pinata_endpoint,
            api_endpoint=p.pinata_api_endpoint,
            gateway=gateway,
            **token("pinata"),
        ),
        "kubo": pb.Settings("kubo", endpoint=p.kubo_endpoint, gateway=gateway, **token("kubo")),
    }


def check_token_service(p, kind: str, now: str = "") -> None:
    """PublishError unless the backend's typed token was typed for the service its endpoints name now (`now`,
    default: the preferences'): an endpoint changed after the token was typed (a pasted URL, a typo) would get
    it. A token typed before NFTGan recorded this is taken to be for the endpoints set now."""
    here = services_of(p, kind)
    typed_for, now = getattr(p, f"{kind}_token_for"), now or here
    if not typed_for:
        setattr(p, f"{kind}_token_for", here)
        typed_for = here
    if typed_for != now:
        raise PublishError(
            f"{pb.LABELS[kind]}: the token in the add-on preferences was typed for {typed_for}, and the "
            f"endpoint{'s are' if ' and ' in now else ' is'} now {now}; a token goes only to the service it was "
            "typed for. If the token is for that service, type the token again (Preferences > Add-ons > NFTGan "
            "> Publishing); else set the endpoint back"
        )


def chosen_kind(context=None) -> str:
    p = preferences.get(context)
    return p.publish_backend.lower() if p is not None else "offline"


def check_environment_service(p, kind: str, now: str) -> None:
    """PublishError unless `now`, the service a backend would send $NFTGAN_TOKEN to, is that backend's default
    one. The environment records no service with its token, and the preferences' endpoint can be changed at
    any time (a pasted URL, a tutorial's endpoint): the token Blender was started with went to whatever host it
    named. A token for another service is typed in the preferences, which record what it was typed for."""
    defaults = default_services(p, kind)
    if now != defaults:
        label = pb.LABELS[kind]
        raise PublishError(
            f"{label}: ${pb.TOKEN_ENV}, the token Blender was started with, goes only to {label}'s default "
            f"endpoint{'s' if ' and ' in defaults else ''} ({defaults}), and the preferences now send "
            f"{label} publishes to {now or 'an endpoint that is empty or not a URL'}; nothing was sent. To "
            "publish there, type that service's token in "
            "Preferences > Add-ons > NFTGan > Publishing (it is kept for that service only); else set the "
            "endpoint back"
        )


def make_backend(kind: str, context=None, endpoint: str = "") -> pb.Backend:
    """The backend of `kind` as the preferences set it (`endpoint`: another one, e.g. an Offline row's folder).
    Its token goes only where it was given for: a typed token to the service it was typed for, $NFTGAN_TOKEN
    to the backend's default endpoints (PublishError, before any request, for anywhere else)."""
    settings = backend_settings(context)[kind]
    if endpoint:
        settings.endpoint = endpoint
    if settings.token:
        p = preferences.get(context)
        now = services_of(p, kind, endpoint)
        if settings.token_from == IN_PREFERENCES:
            check_token_service(p, kind, now)
        else:
            check_environment_service(p, kind, now)
    return pb.make_backend(settings, online_allowed=bool(bpy.app.online_access))


# ----------------------------------------------------------------------------------------------- image bytes


def find_image(context, name: str = ""):
    props = context.scene.nftgan_publish
    if name:
        return bpy.data.images.get(name)
    if props.image is not None:
        return props.image
    return images.find_sketch(context)


def _glb_of_active_object(context) -> bytes | None:
    obj = context.active_object
    if obj is None:
        return None
    import addon_utils

    addon_utils.enable("io_scene_gltf2", default_set=True)
    # a folder of this export's own: two Blenders publishing at once (one profile) exchanged object.glb
    with tempfile.TemporaryDirectory(prefix="glb-", dir=runtime.user_dir("publish")) as folder:
        path = os.path.join(folder, "object.glb")
        with context.temp_override(selected_objects=[obj], active_object=obj):
            bpy.ops.export_scene.gltf(filepath=path, export_format="GLB", use_selection=True)
        with open(path, "rb") as fh:
            return fh.read()


# ----------------------------------------------------------------------------------------------- the job


_reading: list[str] = []  # the image whose publish is between its two main-thread steps (one at a time)


@dataclass(frozen=True)
class _ResultMarks:
    """What tells whether a result was painted on since NFTGan made it, as `images.keeps_paint` judges, taken
    on the main thread without reading its pixels (a few µs); the worker compares (`painted`)."""

    marked: bool  # PAINTED_TAG: painted on (saved so, or kept)
    packed: str  # PACKED_TAG: the size and crc32 of the PNG NFTGan packed
    written: int | None  # `images.written`: the digest of the pixels NFTGan wrote (None: not known)
    lines: bool  # LINES_TAG: NFTGan made it a line drawing (an ink style's): painted on, it is no redrawn one

    @classmethod
    def of(cls, image, source: images.ImageData) -> _ResultMarks:
        return cls(
            bool(image.get(images.PAINTED_TAG)),
            str(image.get(images.PACKED_TAG, "")),
            images.written(image) if source.pixels is not None else None,
            bool(image.get(images.LINES_TAG)),
        )

    def painted(self, source: images.ImageData) -> bool:
        """Worker: marked so; or its bytes are not the PNG NFTGan packed (Image > Save repacked it, or it was
        saved to a file of its own); or its pixels' digest is not what NFTGan wrote (not known: painted, as
        `painted_pixels` says for a result marked changed)."""
        if self.marked:
            return True
        if source.data is not None:
            return bool(self.packed) and images.packed_mark(source.data) != self.packed
        px = source.pixels
        return px is not None and (
            self.written is None or pixels_digest(px.reshape(-1), len(px)) != self.written
        )


def drawing(source: images.ImageData) -> bool:
    """Worker: whether the image as published is a line drawing (`pipeline.line_drawing`, as Stylize tells a
    result redrawn as a line sketch), looked at on that function's grid (every s-th pixel, s: the short side /
    256 px, rounded), only the grid converted to sRGB: 8-27 ms at 1024^2 and 4096^2 alike (bpy 5.3.0 / 4.2.13,
    a shared 2-core machine; mostly the conversion). File bytes are decoded first (`provenance.png_levels`:
    NFTGan's own PNGs, e.g. what a saved .blend packs of a result painted on; 10-26 ms at 1024^2, 0.17-0.35 s
    at 4096^2); bytes it cannot decode (another encoder's PNG, a JPEG) are not looked at: False."""
    if source.pixels is not None:
        px = source.pixels
        s = max(1, round(min(px.shape[:2]) / 256))
        grid = px[::s, ::s]
        grid = imageio.as_rgba(
            imageio.float_pixels_to_srgb(grid, to_rec709=source.to_rec709) if source.linear else grid
        )
    else:
        levels = provenance.png_levels(source.data or b"")
        if levels is None:
            return False
        s = max(1, round(min(levels.shape[:2]) / 256))
        grid = imageio.as_rgba(levels[::s, ::s].astype(np.float32) / 255.0)
    return pipeline.line_drawing(grid)


def start(context, image_name: str = "") -> None:
    """Main thread: gather everything, then publish on the worker. Raises UserError / PublishError.
    The image is read now, as the artist sees it; a result's sketch in a later main-thread step (`runtime.later`),
    which submits the job: each step one whole-image read (Blender's API reads no part of an image)."""
    image = find_image(context, image_name)
    if image is None and image_name == "Render Result":  # no render yet: render first
        bpy.ops.render.render()
        image = bpy.data.images.get("Render Result")
    if image is None:
        raise UserError(
            f"No image '{image_name}'"
            if image_name
            else "No image to publish: pick one in the Publish panel or open it in the Image Editor"
        )
    props = context.scene.nftgan_publish
    kind = chosen_kind(context)
    backend = make_backend(kind, context)
    source = images.image_data(image)
    # the image it was made of, by the sketch link (renamed since: still its sketch; deleted: none, whatever
    # image has its name now)
    sketch = images.sketch_of(image) if image.get(images.RESULT_TAG) else None
    # (Stylize Render's, or made of another NFTGan result in colour: of no sketch; made of a result the artist
    # redrew as a line sketch: that drawing is its sketch)
    if sketch is not None and (
        sketch == image
        or sketch.type == "RENDER_RESULT"
        or (sketch.get(images.RESULT_TAG) and not image.get(images.DRAWN_TAG))
    ):
        sketch = None
    # what the result was made from, to compare with the sketch as the next step reads it (results made before
    # NFTGan recorded that: taken to be the same); drawn on in between, it differs, and no sketch is named
    made_from = str(image.get(images.SKETCH_TAG, "")) if sketch is not None else ""
    sketch_uid = sketch.session_uid if sketch is not None else None
    notes = []
    size = tuple(image.size) if image.type != "RENDER_RESULT" else None  # the render: its PNG's size
    models = images.models_of(image)
    # a result the artist may have painted on since NFTGan made it: what tells, for the worker to look (`painted`)
    result = _ResultMarks.of(image, source) if image.get(images.RESULT_TAG) else None
    its_name = image.name  # (the worker reads no datablock: another file may be open by then)
    glb = _glb_of_active_object(context) if props.include_glb else None
    color = "".join(f"{round(c * 255):02x}" for c in props.background) if props.use_background else ""
    extra = md.user_attributes((a.trait, a.value) for a in props.attributes)
    request = {
        "name": props.token_name.strip() or image.name,
        "description": props.description,
        "external_url": props.external_url.strip(),
        "background_color": color,
        "animation": glb,
    }
    md.build_metadata(
        image_cid=cid_of_bytes(b""),
        attributes=extra,  # the user's fields, checked now
        **{k: request[k] for k in ("name", "description", "external_url", "background_color")},
    )
    store = ledger()
    sketch_source = sketch_now = None
    sketch_name = ""

    def work(job):
        data, ext = source.file_bytes()
        sketch_cid, made, painted = "", models, result is not None and result.painted(source)
        # cleared and redrawn as a line sketch (or wiped clear): the artist's drawing, published as a sketch;
        # not one NFTGan made a line drawing itself (an ink style's, touched up: its models and 'Painted on')
        if painted and not result.lines and drawing(source):
            made = []
            notes.append(
                f"'{its_name}' is a line drawing now (redrawn since NFTGan made it): published as a sketch, "
                "naming no models and no source sketch."
            )
        elif (
            sketch_now is not None
            and f"{images.pixels_digest(sketch_now.reshape(-1), len(sketch_now)):x}" != made_from
        ):
            notes.append(
                f"'{sketch_name}' has changed since '{its_name}' was made, so the metadata names no source "
                "sketch (Stylize again to publish a result with its sketch's CID)."
            )
        elif sketch_source:
            sketch_cid = str(cid_of_bytes(sketch_source.file_bytes()[0]))
        req = provenance.nftgan_request(
            data,
            image_ext=ext,
            size=size,
            models=made,
            sketch_cid=sketch_cid,
            painted=painted,
            attributes=extra,
            **request,
        )
        return service.publish(req, backend, store, progress=job.progress, check=job.check)

    in_file = runtime.generation  # the open file: another one loaded meanwhile does not get its token URI
    label = f"Publish {image.name}"

    def submit():
        SLOT.submit(work, label=label, on_done=lambda job: _done(job, in_file, notes))

    if sketch_uid is None:
        submit()
        return

    def read_sketch():  # the next main-thread step (one publish at a time until it has submitted the job)
        nonlocal sketch_source, sketch_now, sketch_name
        try:
            sketch = next((im for im in bpy.data.images if im.session_uid == sketch_uid), None)
            if sketch is not None:  # (deleted meanwhile, or another file loaded: no source sketch)
                sketch_name = sketch.name
                sketch_source = images.image_data(sketch)
                if made_from:
                    pixels = sketch_source.pixels
                    sketch_now = pixels if pixels is not None else images.snapshot(sketch)[0]
            submit()
        except Exception as exc:  # (e.g. a sketch too large for NFTGan's memory limit: nothing was sent)
            runtime.report(f"Publishing failed: {exc}", "ERROR", outlives_file=True)
            if not isinstance(exc, (UserError, ValueError)):
                raise
        finally:
            _reading.clear()

    _reading.append(label)
    runtime.later(read_sketch, file_bound=False)


def _done(job: jobs.Job, in_file: int, notes: list[str] = ()) -> None:
    invalidate_gallery()
    ok = SLOT.ended(
        job,
        failed="Publishing failed",
        cancelled="Publishing cancelled; nothing was recorded as published",
        cancelled_level="WARNING",
    )
    if ok:
        row = job.result
        if runtime.generation == in_file:
            bpy.context.scene.nftgan_publish.last_token_uri = row.token_uri
        runtime.report(" ".join([outcome(row) + ("." if notes else ""), *notes]), outlives_file=True)


def outcome(row) -> str:
    """What a finished publish did, as it is: published on IPFS, or staged in a folder (not on IPFS)."""
    if row.state == STAGED:
        return (
            f"Staged '{row.name}' in {row.endpoint} (not on IPFS yet): upload its CARs, e.g. "
            f"{service.upload_command(row)}; then its token URI {row.token_uri} works"
        )
    return f"Published '{row.name}' ({row.backend}): {row.token_uri}"


def current_job() -> jobs.Job | None:
    return SLOT.current()


def can_start(operator_class) -> bool:
    """Poll of Publish as NFT and Publish Collection: one publish at a time. When not, the greyed-out
    button's tooltip says why and where the running one is."""
    if runtime.worker is None:
        operator_class.poll_message_set("NFTGan's background worker is not running: enable the add-on again")
        return False
    job = current_job()
    running = job.label if job is not None else _reading[0] if _reading else ""
    if not running:
        return True
    operator_class.poll_message_set(
        f"'{running}' is running: one publish at a time. Its progress and Cancel are in the Publish as NFT "
        "and Generate Collection panels (Image Editor > Sidebar > NFTGan)"
    )
    return False


def resume_on_start() -> jobs.Job | None:
    """Pending publishes of an earlier session (Blender closed or crashed mid-upload): finish or fail them;
    and name the Publish Collection runs that died (mid-token or between tokens) with what is left."""
    store = ledger()
    pending = store.rows("pending")
    if not pending and not collection.runs_recorded(store):  # (no Publish Collection run left a marker)
        return None
    builders = {}
    for row in pending:  # build on the main thread (preferences, online access); failures become reasons
        try:  # as the preferences set it: a token goes only to the endpoint set with it (Offline: no token)
            builders[row.id] = make_backend(
                row.backend, endpoint=row.endpoint if row.backend == "offline" else ""
            )
        except PublishError as exc:
            builders[row.id] = exc

    def backend_for(row):
        found = builders.get(row.id) or PublishError("it started after this session began")
        if isinstance(found, Exception):
            raise found
        if found.endpoint != row.endpoint:
            raise PublishError(
                f"it was started for {row.endpoint}, and the preferences now send {found.label} publishes "
                f"to {found.endpoint}. To finish it, set that endpoint (and its token) back in the "
                "preferences (Publishing) and restart Blender"
            )
        return found

    def work(job_):
        rows = service.resume_pending(store, backend_for, progress=job_.progress, check=job_.check)
        return rows, collection.interrupted(store)  # (batches that died, mid-token or between tokens)

    def done(job_):
        invalidate_gallery()
        if job_.state == jobs.DONE and any(job_.result):
            rows, collections = job_.result
            states = [r.state for r in rows]
            counts = ", ".join(
                f"{states.count(state)} {word}"
                for state, word in (
                    ("published", "published"),
                    ("staged", "staged (not on IPFS yet)"),
                    ("pending", "waiting"),
                    ("failed", "failed"),
                )
                if state in states
            )
            said = (
                [f"Resumed {len(states)} interrupted publish(es): {counts} (see the gallery)."]
                if rows
                else []
            )
            said += [
                f"The {c}: press Publish Collection (Generate Collection panel, the same model, Count, Seed and "
                f"Collection name) to finish it; no token is {'staged' if c.staged else 'published'} twice."
                for c in collections
            ]
            runtime.report(
                " ".join(said),
                "INFO" if set(states) <= {"published", "staged"} and not collections else "WARNING",
                outlives_file=True,
            )

    return SLOT.submit(work, label="Resume interrupted publishes", on_done=done)


# ----------------------------------------------------------------------------------------------- gallery


def invalidate_gallery() -> None:
    """The ledger changed: the gallery re-reads it on its next draw."""
    _gallery["entries"] = None


def gallery_entries(context=None) -> tuple[list[service.GalleryEntry], str]:
    """The cached gallery; the ledger part is read at once, the service's list by Refresh Gallery."""
    if _gallery["entries"] is None:
        _gallery["entries"], _ = service.gallery(ledger(), None, GALLERY_SIZE)
    return _gallery["entries"], _gallery["problem"]


def refresh_gallery(context) -> jobs.Job | None:
    """Read the ledger and the chosen service's own list (on the worker: it is a network request). It gives
    way to work the artist starts while it runs (a service that does not answer kept Stylize waiting a
    minute): it then stops, within 50 ms, and says so."""
    store = ledger()
    try:
        backend = make_backend(chosen_kind(context), context)
    except PublishError as exc:
        _gallery.update(entries=service.gallery(store, None, GALLERY_SIZE)[0], problem=str(exc))
        return None

    def work(job):
        def check():  # Stylize, Generate or a publish started meanwhile goes first: the list is a convenience
            job.check()
            if any(j is not None and j.state == jobs.QUEUED for j in (s.current() for s in SLOTS.values())):
                raise Cancelled()

        with service.watching(backend, check):
            return service.gallery(store, backend, GALLERY_SIZE)

    def done(job):
        if job.state == jobs.DONE:
            _gallery["entries"], _gallery["problem"] = job.result
        elif job.state == jobs.CANCELLED:
            _gallery["problem"] = (
                f"{backend.label}'s own list was not read: work you started meanwhile went first. Press Refresh "
                "Gallery again."
            )
        else:
            _gallery["problem"] = job.error
        runtime.redraw()

    return runtime.submit(
        work,
        key="publish-gallery",
        latest_wins=True,
        label="Publish gallery",
        on_done=done,
    )


def thumbnail(entry: service.GalleryEntry) -> int:
    if _previews is None or not entry.image_path or not os.path.exists(entry.image_path):
        return 0
    if entry.image_path not in _previews:
        _previews.load(entry.image_path, entry.image_path, "IMAGE")
    return _previews[entry.image_path].icon_id


# ----------------------------------------------------------------------------------------------- operators


class NFTGAN_OT_publish(Operator):
    """Publish the image as an NFT: the image and its ERC-721 metadata go to IPFS, every CID is verified"""

    bl_idname = "nftgan.publish"
    bl_label = "Publish as NFT"
    bl_options = {"REGISTER"}

    image: StringProperty(
        name="Image",
        description="Image datablock (default: the Publish panel's image, else the image in the editor)",
    )

    @classmethod
    def poll(cls, _context):
        return can_start(cls)

    def invoke(self, context, _event):
        return context.window_manager.invoke_props_dialog(self, width=420, confirm_text="Publish")

    def draw(self, context):
        layout = self.layout
        image = find_image(context, self.image)
        props = context.scene.nftgan_publish
        kind = chosen_kind(context)
        if image is None:
            layout.label(text="No image to publish", icon="ERROR")
            return
        if image.type == "RENDER_RESULT":
            size = "the render (rendered first if there is none)"
        elif image.packed_file is not None:
            size = f"{image.packed_file.size / 1e6:.2f} MB"
        else:
            size = f"{image.size[0]}x{image.size[1]} px"
        layout.label(text=f"Publish '{props.token_name.strip() or image.name}' ({size})", icon="IMAGE_DATA")
        layout.label(text=f"to {pb.LABELS[kind]}", icon="WORLD" if kind != "offline" else "FILE_FOLDER")
        if kind == "nftstorage":
            for line in wrap(pb.NFT_STORAGE_NOTICE, 60):
                layout.label(text=line)
        layout.prop(props, "token_name")
        layout.prop(props, "description")

    def execute(self, context):
        return start_from(self, lambda: start(context, self.image), "Publishing in the background")


class NFTGAN_OT_publish_attribute(Operator):
    """Add or remove a token attribute"""

    bl_idname = "nftgan.publish_attribute"
    bl_label = "Attribute"
    bl_options = {"INTERNAL", "UNDO"}

    index: IntProperty(default=-1, description="Attribute to remove (-1 adds one)")

    def execute(self, context):
        attrs = context.scene.nftgan_publish.attributes
        if self.index < 0:
            attrs.add()
        else:
            attrs.remove(self.index)
        return {"FINISHED"}


class NFTGAN_OT_publish_copy_uri(Operator):
    """Copy to the clipboard: the token URI (use it to mint), or a staged publish's upload command"""

    bl_idname = "nftgan.publish_copy_uri"
    bl_label = "Copy Token URI"
    bl_options = {"INTERNAL"}

    uri: StringProperty()

    def execute(self, context):
        context.window_manager.clipboard = self.uri
        self.report({"INFO"}, f"Copied {self.uri}")
        return {"FINISHED"}


class NFTGAN_OT_publish_gallery_refresh(Operator):
    """Read the ledger again and the backend's own list of uploads"""

    bl_idname = "nftgan.publish_gallery_refresh"
    bl_label = "Refresh Gallery"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        refresh_gallery(context)
        return {"FINISHED"}


# ----------------------------------------------------------------------------------------------- UI


class NFTGAN_PT_publish(ImageEditorSidebar, Panel):
    bl_label = "Publish as NFT"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        props = context.scene.nftgan_publish
        layout.template_ID(props, "image")
        col = layout.column(align=True)
        col.prop(props, "token_name")
        col.prop(props, "description")
        col.prop(props, "external_url")
        row = layout.row(align=True)
        row.prop(props, "use_background")
        sub = row.row()
        sub.enabled = props.use_background
        sub.prop(props, "background", text="")
        layout.prop(props, "include_glb")
        box = layout.box()
        box.label(text="Attributes (styles, sketch CID, size, version are added)")
        for i, attr in enumerate(props.attributes):
            row = box.row(align=True)
            row.prop(attr, "trait", text="")
            row.prop(attr, "value", text="")
            row.operator(NFTGAN_OT_publish_attribute.bl_idname, text="", icon="X").index = i
        box.operator(NFTGAN_OT_publish_attribute.bl_idname, text="Add Attribute", icon="ADD").index = -1
        kind = chosen_kind(context)
        layout.label(text=f"Backend: {pb.LABELS[kind]} (Preferences)")
        if kind == "nftstorage":
            layout.label(text="public NFT.storage: no uploads since 2024-06-30", icon="INFO")
        if kind != "offline" and not bpy.app.online_access:
            layout.label(text="Online access is off: only Offline can publish", icon="ERROR")
        if not SLOT.draw(layout):
            layout.operator_context = "INVOKE_DEFAULT"
            layout.operator(NFTGAN_OT_publish.bl_idname, icon="EXPORT")
        if props.last_token_uri:
            row = layout.row(align=True)
            row.label(text=props.last_token_uri)
            op = row.operator(NFTGAN_OT_publish_copy_uri.bl_idname, text="", icon="COPYDOWN")
            op.uri = props.last_token_uri


class NFTGAN_PT_publish_gallery(ImageEditorSidebar, Panel):
    bl_label = "Published"
    bl_parent_id = "NFTGAN_PT_publish"

    def draw(self, context):
        layout = self.layout
        entries, problem = gallery_entries(context)
        layout.operator(NFTGAN_OT_publish_gallery_refresh.bl_idname, icon="FILE_REFRESH")
        if problem:
            col = layout.column(align=True)
            col.alert = True
            for line in wrap(problem, 50)[:3]:
                col.label(text=line)
        if not entries:
            layout.label(text="Nothing published yet")
        for entry in entries:
            box = layout.box()
            row = box.row()
            icon = thumbnail(entry)
            if icon:
                row.template_icon(icon_value=icon, scale=3.0)
            col = row.column(align=True)
            col.label(text=entry.name)
            icon = {"published": "CHECKMARK", "failed": "ERROR", "pending": "TIME", "staged": "FILE_FOLDER"}
            state = f"{entry.state} (not on IPFS yet)" if entry.state == STAGED else entry.state
            col.label(text=f"{state} · {entry.backend}", icon=icon.get(entry.state, "WORLD"))
            if entry.state in ("failed", "pending") and entry.detail:
                for line in wrap(entry.detail, 60)[:3]:
                    col.label(text=line)
            sub = col.row(align=True)
            if entry.token_uri:
                sub.operator(
                    NFTGAN_OT_publish_copy_uri.bl_idname, text="Copy URI", icon="COPYDOWN"
                ).uri = entry.token_uri
            if entry.state == STAGED:  # the command that puts it on IPFS
                sub.operator(
                    NFTGAN_OT_publish_copy_uri.bl_idname, text="Copy Upload Command", icon="CONSOLE"
                ).uri = entry.detail
            elif entry.gateway_url:
                sub.operator("wm.url_open", text="Open", icon="URL").url = entry.gateway_url


def _image_menu(self, context):
    self.layout.separator()
    self.layout.operator_context = "INVOKE_DEFAULT"
    space = context.space_data
    op = self.layout.operator(NFTGAN_OT_publish.bl_idname, icon="EXPORT")
    op.image = space.image.name if getattr(space, "image", None) is not None else ""


def read_old_name() -> int:
    """Files saved before the token name was `token_name` hold it in the property group's own `name` (the
    same stored value, in every Blender): move it to `token_name` (unless that is set), so the field shows
    it and Publish uses it. Returns how many scenes had one."""
    moved = 0
    for scene in getattr(bpy.data, "scenes", ()):
        props = scene.nftgan_publish
        if not props.name or scene.library is not None:  # (a linked scene cannot be changed)
            continue
        if not props.token_name:
            props.token_name = props.name
        props.name = ""
        moved += 1
    return moved


@persistent
def _on_load_post(*_args):
    read_old_name()


CLASSES = (
    NFTGAN_PG_attribute,
    NFTGanPublishProps,
    NFTGAN_OT_publish,
    NFTGAN_OT_publish_attribute,
    NFTGAN_OT_publish_copy_uri,
    NFTGAN_OT_publish_gallery_refresh,
    NFTGAN_PT_publish,
    NFTGAN_PT_publish_gallery,
)


def register():
    global _previews
    import bpy.utils.previews

    bpy.types.Scene.nftgan_publish = PointerProperty(type=NFTGanPublishProps)
    _previews = bpy.utils.previews.new()
    _gallery.update(entries=None, problem="")
    bpy.types.IMAGE_MT_image.append(_image_menu)  # Image Editor > Image > Publish as NFT
    bpy.app.handlers.load_post.append(_on_load_post)
    read_old_name()  # the add-on enabled with a file open (at Blender's start: load_post, when it loads)
    try:
        resume_on_start()
    except Exception:  # never block the add-on from loading; the rows stay pending for the next start
        log.exception("NFTGan: could not resume interrupted publishes")


def unregister():
    global _previews
    bpy.types.IMAGE_MT_image.remove(_image_menu)
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    del bpy.types.Scene.nftgan_publish
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    SLOT.clear()
    _reading.clear()
