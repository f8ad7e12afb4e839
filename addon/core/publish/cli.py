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

from ..errors import MetadataError, PublishError
from .backends import KINDS, NFT_STORAGE_NOTICE, Settings, make_backend
from .cid import CIDError
from .ledger import Ledger, Row
from .metadata import attribute, nftgan_attributes, software_version
from .service import Request, prepare, publish, resume_pending
from .unixfs import cid_of_file

TOKEN_ENV = "NFTGAN_TOKEN"


def cid_main(argv: list[str], prog: str = "nftgan cid") -> int:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Print the IPFS CID of a file, as `ipfs add` computes it: "
        "CIDv1 with raw leaves (--cid-version=1, what NFT.storage and Pinata return), "
        "or kubo's default CIDv0 with --v0. 256 KiB chunks, balanced DAG.",
    )
    ap.add_argument("file", nargs="+")
    ap.add_argument("--v0", action="store_true", help="kubo's default CIDv0 (Qm...) instead of CIDv1")
    args = ap.parse_args(argv)
    status = 0
    for path in args.file:
        try:
            cid = cid_of_file(path, v0=args.v0)
        except OSError as exc:
            print(f"{prog}: {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
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
    return attribute(key, value)


def _report(row: Row) -> str:
    if row.state == "published":
        return (
            f"published  {row.name}\n  token URI   {row.token_uri}\n  image       ipfs://{row.image_cid}\n"
            f"  gateway     {row.gateway_url}\n  backend     {row.backend} {row.endpoint}"
        )
    return f"{row.state}  {row.name}: {row.error}"


def publish_main(argv: list[str], prog: str = "nftgan publish") -> int:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Publish an image as an NFT: the image and its ERC-721 / "
        "OpenSea metadata go to IPFS, every CID is verified, the result is recorded in "
        f"the publish ledger. The API token is read from ${TOKEN_ENV}. {NFT_STORAGE_NOTICE}",
    )
    ap.add_argument("image", nargs="?", help="PNG, JPEG or WebP file")
    ap.add_argument("--backend", choices=KINDS, default="offline")
    ap.add_argument("--name", help="token name (default: the file name)")
    ap.add_argument("--description", default="")
    ap.add_argument("--external-url", default="")
    ap.add_argument("--background-color", default="", help="six hex digits, e.g. ffffff")
    ap.add_argument("--attribute", action="append", type=_attribute, default=[], metavar="TRAIT=VALUE")
    ap.add_argument("--animation", help="a GLB file for animation_url")
    ap.add_argument("--sketch", help="the source sketch: its CID is recorded as an attribute")
    ap.add_argument(
        "--endpoint", default="", help="service URL (offline: the output folder, default ./nft-offline)"
    )
    ap.add_argument("--api-endpoint", default="", help="Pinata's listing API URL")
    ap.add_argument("--gateway", default="", help="gateway URL prefix for the gateway link")
    ap.add_argument("--ledger", default=default_ledger(), help="publish ledger (SQLite; default %(default)s)")
    ap.add_argument("--resume", action="store_true", help="only finish or fail pending publishes, then exit")
    ap.add_argument("--dry-run", action="store_true", help="print the CIDs and metadata, send nothing")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    token = os.environ.get(TOKEN_ENV, "")

    def settings(kind: str, endpoint: str) -> Settings:
        if kind == "offline" and not endpoint:
            endpoint = os.path.abspath("nft-offline")
        return Settings(
            kind,
            endpoint=endpoint,
            token=token if kind != "offline" else "",
            api_endpoint=args.api_endpoint,
            gateway=args.gateway,
        )

    ledger = Ledger(args.ledger)
    status = 0
    # pending rows of an earlier run that was killed: same backend kind as now -> same token
    for row in resume_pending(ledger, lambda r: make_backend(settings(r.backend, r.endpoint))):
        print(f"resumed: {_report(row)}")
        status |= row.state != "published"
    if args.resume:
        return status
    if not args.image:
        ap.error("IMAGE is required (or --resume)")
    try:
        with open(args.image, "rb") as fh:
            image = fh.read()
        animation = None
        if args.animation:
            with open(args.animation, "rb") as fh:
                animation = fh.read()
        attrs = (
            nftgan_attributes(
                sketch_cid=str(cid_of_file(args.sketch)) if args.sketch else "", software=software_version()
            )
            + args.attribute
        )
        request = Request(
            image=image,
            name=args.name or os.path.splitext(os.path.basename(args.image))[0],
            image_ext=os.path.splitext(args.image)[1] or ".png",
            description=args.description,
            external_url=args.external_url,
            background_color=args.background_color,
            attributes=attrs,
            animation=animation,
        )
        prepared = prepare(request)
        if args.dry_run:
            print(json.dumps({"token_uri": prepared.token_uri, "metadata": prepared.metadata}, indent=2))
            return 0
        backend = make_backend(settings(args.backend, args.endpoint))
        row = publish(
            prepared, backend, ledger, progress=lambda f, m: print(f"[{f:4.0%}] {m}", file=sys.stderr)
        )
    except OSError as exc:
        print(f"{prog}: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (PublishError, MetadataError, CIDError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(_report(row))
    return status
