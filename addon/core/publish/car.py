"""CARv1 (content-addressed archive) writer, splitter and reader.

A CARv1 is a varint-prefixed DAG-CBOR header {"roots": [CID], "version": 1} followed by
varint-prefixed (binary CID + block) sections. Uploads over a service's request limit are split
into several CARs that each carry the same root in their header (as NFT.storage's own client
does); together they hold every block of the DAG once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .cid import CID, CIDError, read_varint, varint
from .unixfs import FileDag


class CARError(ValueError):
    """A CAR file that is malformed or whose blocks do not match their CIDs."""


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for extra, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | extra]) + n.to_bytes(width, "big")
    raise ValueError("CBOR length too large")


def header(root: CID) -> bytes:
    """The varint-prefixed DAG-CBOR header (keys in DAG-CBOR order: shorter first)."""
    link = b"\0" + root.to_bytes()  # CIDs in DAG-CBOR: tag 42 over a byte string with a 0x00 prefix
    body = (
        _cbor_head(5, 2)
        + _cbor_head(3, 5)
        + b"roots"
        + _cbor_head(4, 1)
        + b"\xd8\x2a"
        + _cbor_head(2, len(link))
        + link
        + _cbor_head(3, 7)
        + b"version"
        + _cbor_head(0, 1)
    )
    return varint(len(body)) + body


def section(cid: CID, block: bytes) -> list[bytes]:
    """One block's section, as pieces to join (no copy of the block until the final join)."""
    raw = cid.to_bytes()
    return [varint(len(raw) + len(block)), raw, block]


def write_car(root: CID, blocks: Iterable[tuple[CID, bytes]]) -> bytes:
    parts = [header(root)]
    for cid, block in blocks:
        parts += section(cid, block)
    return b"".join(parts)


def dag_car(dag: FileDag) -> bytes:
    return write_car(dag.root, dag.blocks_in_order())


def split_dag(dag: FileDag, max_bytes: int) -> list[bytes]:
    """The DAG as CARs of at most max_bytes each, each with dag.root as its root."""
    head = header(dag.root)
    cars: list[bytes] = []
    parts: list[bytes] = [head]
    size = len(head)
    for cid, block in dag.blocks_in_order():
        sec = section(cid, block)
        length = sum(map(len, sec))
        if len(head) + length > max_bytes:
            raise ValueError(f"a single block of {len(block)} bytes does not fit a {max_bytes}-byte CAR")
        if size + length > max_bytes and len(parts) > 1:
            cars.append(b"".join(parts))
            parts, size = [head], len(head)
        parts += sec
        size += length
    cars.append(b"".join(parts))
    return cars


def _cbor_read_head(buf: bytes, pos: int) -> tuple[int, int, int]:
    if pos >= len(buf):
        raise CARError("truncated CAR header")
    first = buf[pos]
    major, info = first >> 5, first & 31
    pos += 1
    if info < 24:
        return major, info, pos
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or pos + width > len(buf):
        raise CARError("unsupported or truncated CBOR in CAR header")
    return major, int.from_bytes(buf[pos : pos + width], "big"), pos + width


def _read_header(body: bytes) -> list[CID]:
    """Decode the small DAG-CBOR header map; returns its roots (version must be 1)."""
    major, n, pos = _cbor_read_head(body, 0)
    if major != 5:
        raise CARError("CAR header is not a map")
    roots: list[CID] | None = None
    version = None
    for _ in range(n):
        major, length, pos = _cbor_read_head(body, pos)
        if major != 3:
            raise CARError("CAR header key is not a string")
        key = body[pos : pos + length].decode()
        pos += length
        if key == "version":
            major, version, pos = _cbor_read_head(body, pos)
        elif key == "roots":
            major, count, pos = _cbor_read_head(body, pos)
            if major != 4:
                raise CARError("CAR roots is not a list")
            roots = []
            for _ in range(count):
                if body[pos : pos + 2] != b"\xd8\x2a":
                    raise CARError("CAR root is not a CID (tag 42)")
                major, length, pos = _cbor_read_head(body, pos + 2)
                raw = body[pos : pos + length]
                pos += length
                if major != 2 or not raw.startswith(b"\0"):
                    raise CARError("CAR root is not a CID byte string")
                roots.append(CID.from_bytes(raw[1:])[0])
        else:
            raise CARError(f"unexpected CAR header key {key!r}")
    if version != 1 or roots is None:
        raise CARError(f"not a CARv1 header (version {version})")
    return roots


def read_car(data: bytes) -> tuple[list[CID], Iterator[tuple[CID, bytes]]]:
    """Parse a CARv1: its roots, and its blocks (each checked against its CID while iterating)."""
    try:
        length, pos = read_varint(data, 0)
    except CIDError as exc:
        raise CARError(f"not a CAR file: {exc}") from None
    if pos + length > len(data):
        raise CARError("truncated CAR header")
    roots = _read_header(bytes(data[pos : pos + length]))
    pos += length

    def blocks() -> Iterator[tuple[CID, bytes]]:
        p = pos
        while p < len(data):
            try:
                size, p = read_varint(data, p)
                if p + size > len(data):
                    raise CARError("truncated CAR block")
                cid, used = CID.from_bytes(bytes(data[p : p + size]))
            except CIDError as exc:
                raise CARError(f"bad CAR block: {exc}") from None
            block = bytes(data[p + used : p + size])
            if not cid.verifies(block):
                raise CARError(f"CAR block does not match its CID {cid}")
            yield cid, block
            p += size

    return roots, blocks()
