"""UnixFS file import, byte for byte as kubo's `ipfs add` (balanced DAG layout).

- fixed-size chunks of 256 KiB, at most 174 links per node;
- CIDv1 (`ipfs add --cid-version=1`, what NFT.storage and Pinata return): leaves are raw
  blocks (codec raw), inner nodes dag-pb; a single-chunk file's CID is its raw leaf;
- CIDv0 (`ipfs add`, kubo's default): leaves are dag-pb nodes holding UnixFS File data.

The tree is built bottom-up: full groups of 174 nodes from the left, one partial group at the
end of each level, which is exactly the shape kubo's balanced builder produces top-down.
Checked against CIDs made by kubo itself (tests/publish/vectors.json).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .cid import CID, DAG_PB, RAW, varint

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
_UNIXFS_FILE = 2


def _field_bytes(tag: int, payload: bytes) -> bytes:
    return varint(tag) + varint(len(payload)) + payload


def _field_varint(tag: int, value: int) -> bytes:
    return varint(tag) + varint(value)


def _unixfs_file(filesize: int, data: bytes = b"", blocksizes: list[int] | None = None) -> bytes:
    out = _field_varint(0x08, _UNIXFS_FILE)
    if data:
        out += _field_bytes(0x12, data)
    out += _field_varint(0x18, filesize)
    for size in blocksizes or ():
        out += _field_varint(0x20, size)
    return out


def _pb_node(unixfs: bytes, links: list[_Entry] = ()) -> bytes:
    # dag-pb canonical form: Links (field 2) before Data (field 1); each link Hash, Name (""), Tsize
    out = b""
    for link in links:
        body = (
            _field_bytes(0x0A, link.cid.to_bytes())
            + _field_bytes(0x12, b"")
            + _field_varint(0x18, link.tsize)
        )
        out += _field_bytes(0x12, body)
    return out + _field_bytes(0x0A, unixfs)


@dataclass(frozen=True)
class _Entry:
    cid: CID
    tsize: int  # block size plus all descendants' block sizes (the dag-pb link Tsize)
    filesize: int  # file bytes under this node


@dataclass
class FileDag:
    root: CID
    size: int  # file bytes
    blocks: dict[CID, bytes] | None = None  # kept when asked for (CAR export)
    children: dict[CID, list[CID]] = field(default_factory=dict)

    def blocks_in_order(self) -> Iterator[tuple[CID, bytes]]:
        """Depth-first, root first (the order `ipfs dag export` writes a CAR in)."""
        if self.blocks is None:
            raise ValueError("this DAG was built without keeping its blocks")
        stack = [self.root]
        while stack:
            cid = stack.pop()
            yield cid, self.blocks[cid]
            stack.extend(reversed(self.children.get(cid, ())))


class FileImporter:
    """Feed bytes with update(), then finish() for the DAG. Memory: one chunk plus one CID per node,
    unless keep_blocks=True (then every block, for writing a CAR)."""

    def __init__(self, *, v0: bool = False, keep_blocks: bool = False):
        self.v0 = v0
        self._buf = bytearray()
        self._levels: list[list[_Entry]] = [[]]
        self._size = 0
        self._blocks: dict[CID, bytes] | None = {} if keep_blocks else None
        self._children: dict[CID, list[CID]] = {}
        self._finished = False

    def update(self, data: bytes) -> None:
        if self._finished:
            raise ValueError("update() after finish()")
        if self._buf:  # complete the buffered partial chunk first
            take = CHUNK_SIZE - len(self._buf)
            self._buf += data[:take]
            data = data[take:]
            if not data:
                return  # (a full chunk stays buffered: finish() may need it as the only one)
            self._leaf(bytes(self._buf))
            self._buf.clear()
        pos = 0
        with memoryview(data) as view:  # whole chunks straight from the caller's bytes, no buffering
            while len(data) - pos > CHUNK_SIZE:  # keep the last chunk back for the same reason
                self._leaf(bytes(view[pos : pos + CHUNK_SIZE]))
                pos += CHUNK_SIZE
            self._buf += view[pos:]

    def finish(self) -> FileDag:
        if self._finished:
            raise ValueError("finish() called twice")
        self._finished = True
        if self._buf or (self._size == 0 and not self._levels[0]):
            self._leaf(bytes(self._buf))
            self._buf.clear()
        level = 0
        while True:
            entries = self._levels[level]
            top = level == len(self._levels) - 1
            if top and len(entries) == 1:
                root = entries[0]
                return FileDag(root.cid, root.filesize, self._blocks, self._children)
            if entries:
                self._node(level, entries)
            level += 1

    # --- internals ---
    def _store(self, cid: CID, block: bytes) -> None:
        if self._blocks is not None:
            self._blocks[cid] = block

    def _leaf(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self.v0:
            block = _pb_node(_unixfs_file(len(chunk), chunk))
            entry = _Entry(CID.of(block, codec=DAG_PB, version=0), len(block), len(chunk))
        else:
            block = chunk
            entry = _Entry(CID.of(block, codec=RAW, version=1), len(block), len(chunk))
        self._store(entry.cid, block)
        self._push(0, entry)

    def _push(self, level: int, entry: _Entry) -> None:
        if level == len(self._levels):
            self._levels.append([])
        entries = self._levels[level]
        entries.append(entry)
        if len(entries) == MAX_LINKS:
            self._node(level, entries)

    def _node(self, level: int, entries: list[_Entry]) -> None:
        links = list(entries)
        entries.clear()
        filesize = sum(e.filesize for e in links)
        block = _pb_node(_unixfs_file(filesize, blocksizes=[e.filesize for e in links]), links)
        cid = CID.of(block, codec=DAG_PB, version=0 if self.v0 else 1)
        self._store(cid, block)
        if self._blocks is not None:
            self._children[cid] = [e.cid for e in links]
        self._push(level + 1, _Entry(cid, len(block) + sum(e.tsize for e in links), filesize))


def import_bytes(data: bytes, *, v0: bool = False, keep_blocks: bool = True) -> FileDag:
    importer = FileImporter(v0=v0, keep_blocks=keep_blocks)
    importer.update(data)
    return importer.finish()


def cid_of_bytes(data: bytes, *, v0: bool = False) -> CID:
    return import_bytes(data, v0=v0, keep_blocks=False).root


def cid_of_file(path: str | os.PathLike | BinaryIO, *, v0: bool = False) -> CID:
    """The CID `ipfs add [--cid-version=1]` gives this file, streaming (constant memory)."""
    importer = FileImporter(v0=v0)
    if hasattr(path, "read"):
        stream = path
        while chunk := stream.read(4 * CHUNK_SIZE):
            importer.update(chunk)
    else:
        with open(path, "rb") as stream:
            while chunk := stream.read(4 * CHUNK_SIZE):
                importer.update(chunk)
    return importer.finish().root
