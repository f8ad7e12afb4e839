"""`nftgan cid FILE [--v0]` and `nftgan publish IMAGE --backend ... --name ...`.

The API token comes from the environment (NFTGAN_TOKEN), never from the command line, where
other users could read it in the process list.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from ..cliargs import Parser, error
from ..errors import MetadataError, PublishError, UserError
from ..files import FileError, open_regular, os_error_message, read_regular
from .backends import IN_ENVIRONMENT, KINDS, NFT_STORAGE_NOTICE, TOKEN_ENV, Settings, make_backend
from .cid import CIDError
from .ledger import DONE, PUBLISHED, STAGED, Ledger, Row
from .metadata import attribute
from .provenance import nftgan_request
from .service import image_type, prepare, publish, resume_pending, upload_command
from .unixfs import cid_of_file


def cid_main(argv: list[str], prog: str = "nftgan cid") -> int:
    ap = Parser(
        prog=prog,
        description="Print the IPFS CID of a file, as `ipfs add` computes it: "
        "CIDv1 with raw leaves (--cid-version=1, what NFT.storage and Pinata return), "
        "or kubo's default CIDv0 with --v0. 256 KiB chunks, balanced DAG.",
        examples=("nftgan cid art.png", "nftgan cid --v0 art.png sketch.png   # one 'CID  FILE' line each"),
    )
    ap.add_argument("file", nargs="+", metavar="FILE", help="the files (one CID each)")
    ap.add_argument("--v0", action="store_true", help="kubo's default CIDv0 (Qm...) instead of CIDv1")
    args = ap.parse_args(argv)
    status = 0
    for path in args.file:
        try:
            with open_regular(path) as fh:
                cid = cid_of_file(fh, v0=args.v0)
        except OSError as exc:  # said, and the other files' CIDs still printed
            status = error(prog, exc if isinstance(exc, FileError) else f"{path}: {exc.strerror or exc}", 1)
            continue
        print(f"{cid}  {path}" if len(args.file) > 1 else cid)
    return status


def default_ledger() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "nftgan", "publish-ledger.sqlite")


def _attribute(text: str) -> dict:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected TRAIT=VALUE, got {text!r}")
    try:
        return attribute(key, value)
    except MetadataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _report(row: Row) -> str:
    if row.state == PUBLISHED:
        return (
            f"published  {row.name}\n  token URI   {row.token_uri}\n  image       ipfs://{row.image_cid}\n"
            f"  gateway     {row.gateway_url}\n  backend     {row.backend} {row.endpoint}"
        )
    if row.state == STAGED:
        return (
            f"staged     {row.name} (written to a folder: NOT on IPFS yet)\n"
            f"  token URI   {row.token_uri} (valid once the CARs are uploaded)\n"
            f"  folder      {row.endpoint}\n"
            f"  upload with {upload_command(row)}\n"
            "              (or send each .car to a pinning service's CAR upload)"
        )
    return f"{row.state}  {row.name}: {row.error}"


def publish_main(argv: list[str], prog: str = "nftgan publish") -> int:
    ap = Parser(
        prog=prog,
        description="Publish an image as an NFT: the image and its ERC-721 / "
        "OpenSea metadata go to IPFS, every CID is verified, the result is recorded in "
        f"the publish ledger. The API token is read from ${TOKEN_ENV} and goes only to the "
        f"--backend and --endpoint given with it. {NFT_STORAGE_NOTICE}",
        examples=(
            "nftgan publish art.png --name 'Dawn' --attribute Edition=1 --dry-run   # show the metadata",
            "nftgan publish art.png --name 'Dawn'                # offline: into ./nft-offline, upload later",
            f"{TOKEN_ENV}=... nftgan publish art.png --backend pinata --name 'Dawn' --sketch sketch.png",
            f"{TOKEN_ENV}=... nftgan publish --resume --backend pinata   # finish interrupted publishes",
        ),
    )
    ap.add_argument("image", nargs="?", help="PNG, JPEG or WebP file")
    ap.add_argument(
        "--backend",
        choices=KINDS,
        default="offline",
        help="where the files go: offline: a folder of CAR files to upload later; nftstorage: an "
        "NFT.storage-compatible service; pinata; kubo: an IPFS node's RPC API",
    )
    ap.add_argument("--name", help="token name (default: the file name)")
    ap.add_argument("--description", default="", help="token description (metadata `description`)")
    ap.add_argument("--external-url", default="", help="a web page for the token (metadata `external_url`)")
    ap.add_argument("--background-color", default="", help="six hex digits, e.g. ffffff")
    ap.add_argument(
        "--attribute",
        action="append",
        type=_attribute,
        default=[],
        metavar="TRAIT=VALUE",
        help="a trait shown by marketplaces, e.g. Edition=1 (numbers stay numbers; repeatable)",
    )
    ap.add_argument("--animation", help="a GLB file for animation_url")
    ap.add_argument("--sketch", help="the source sketch: its CID is recorded as an attribute")
    ap.add_argument(
        "--endpoint",
        default="",
        help="service URL, or for offline the output folder (default: the backend's public URL; offline: "
        "./nft-offline)",
    )
    ap.add_argument(
        "--api-endpoint", default="", help="Pinata's listing API URL (default: https://api.pinata.cloud)"
    )
    ap.add_argument(
        "--gateway",
        default="",
        help="gateway URL prefix for the gateway link (default: the backend's own, e.g. https://gateway.pinata.cloud/ipfs/)",
    )
    ap.add_argument("--ledger", default=default_ledger(), help="publish ledger (SQLite)")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="only finish or fail interrupted publishes (of --backend/--endpoint, and Offline ones), then exit",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the CIDs and metadata, send nothing")
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging: each request's method, path and status"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not args.resume and not args.image:
        ap.error("IMAGE is required (or --resume)")
    try:
        return _publish(args, prog)
    except (UserError, CIDError) as exc:  # PublishError, LedgerError, MetadataError, FileError
        return error(prog, exc, 1)
    except OSError as exc:
        return error(prog, os_error_message(exc, exc.filename or "error"), 1)


def _publish(args: argparse.Namespace, prog: str) -> int:
    token = os.environ.get(TOKEN_ENV, "")

    def settings(kind: str, endpoint: str) -> Settings:
        if kind == "offline" and not endpoint:
            endpoint = os.path.abspath("nft-offline")
        return Settings(
            kind,
            endpoint=endpoint,
            token=token if kind == args.backend and kind != "offline" else "",
            api_endpoint=args.api_endpoint,
            gateway=args.gateway,
            token_from=IN_ENVIRONMENT,
        )

    ledger = Ledger(args.ledger)
    built: list = []

    def given():
        """The backend and endpoint $NFTGAN_TOKEN is given for (built on first use)."""
        if not built:
            built.append(make_backend(settings(args.backend, args.endpoint)))
        return built[0]

    def backend_for(row: Row):
        """The token goes only to the backend and endpoint given with it; Offline rows need none."""
        if row.backend == "offline":
            return make_backend(settings("offline", row.endpoint))
        if (given().kind, given().endpoint) != (row.backend, row.endpoint):
            raise PublishError(
                f"it was started for {row.backend} at {row.endpoint}, and ${TOKEN_ENV} is given for "
                f"{args.backend}. Finish it with that service's own token: "
                f"{TOKEN_ENV}=<its token> nftgan publish --resume --backend {row.backend} --endpoint {row.endpoint}"
            )
        return given()

    status, resumed = 0, 0
    for row in resume_pending(ledger, backend_for):
        print(f"resumed: {_report(row)}")
        status |= row.state not in DONE
        resumed += 1
    if args.resume:
        if not resumed:
            print(f"nothing to resume: no publish in {args.ledger} was left unfinished")
        return status
    image, ext = read_regular(args.image), os.path.splitext(args.image)[1] or ".png"
    named = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WebP"}.get(ext.lower())
    found = image_type(image)
    if image and named and found != named:  # a token whose picture no wallet shows
        raise PublishError(
            f"{args.image} is a {found} picture named {ext}: rename it, or save it as {named}; nothing was "
            "published."
            if found
            else f"{args.image} is not a PNG, JPEG or WebP picture (not by its first bytes): save the image "
            "again as PNG; nothing was published."
        )
    animation = read_regular(args.animation) if args.animation else None
    sketch_cid = ""
    if args.sketch:
        with open_regular(args.sketch) as fh:
            sketch_cid = str(cid_of_file(fh))
    request = nftgan_request(
        image,
        name=args.name or os.path.splitext(os.path.basename(args.image))[0],
        image_ext=ext,
        sketch_cid=sketch_cid,
        attributes=args.attribute,
        description=args.description,
        external_url=args.external_url,
        background_color=args.background_color,
        animation=animation,
    )
    prepared = prepare(request)
    if args.dry_run:
        print(json.dumps({"token_uri": prepared.token_uri, "metadata": prepared.metadata}, indent=2))
        return 0
    started = time.time()
    row = publish(prepared, given(), ledger, progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr))
    if row.updated < started:
        print(
            f"already {row.state} (ledger row {row.id}, {time.strftime('%Y-%m-%d %H:%M', time.localtime(row.updated))}): nothing sent"
        )
    print(_report(row))
    return status
