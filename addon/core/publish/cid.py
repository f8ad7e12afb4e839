"""Content identifiers: varints, sha2-256 multihashes, CIDv0/CIDv1, base58btc and base32.

Only what IPFS file publishing needs: sha2-256, the dag-pb (0x70) and raw (0x55) codecs,
CIDv0 (base58btc multihash, "Qm...") and CIDv1 (multibase base32 lower-case, "b...").
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class CIDError(ValueError):
    """A string or byte sequence that is not a CID this module understands."""


def varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use it."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode a varint at pos; returns (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CIDError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CIDError("varint too long")


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        idx = _B58.find(ch)
        if idx < 0:
            raise CIDError(f"not base58btc: {text!r}")
        n = n * 58 + idx
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


@dataclass(frozen=True)
class CID:
    version: int
    codec: int
    digest: bytes  # the sha2-256 digest (32 bytes)

    @classmethod
    def of(cls, block: bytes, *, codec: int, version: int = 1) -> CID:
        if version == 0 and codec != DAG_PB:
            raise CIDError("CIDv0 can only name dag-pb blocks")
        return cls(version, codec, hashlib.sha256(block).digest())

    @property
    def multihash(self) -> bytes:
        return bytes((SHA2_256, 32)) + self.digest

    def to_bytes(self) -> bytes:
        """The binary CID (what CAR files and dag-pb links store)."""
        if self.version == 0:
            return self.multihash
        return varint(1) + varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return b58encode(self.multihash)
        return "b" + base64.b32encode(self.to_bytes()).decode().lower().rstrip("=")

    def __repr__(self) -> str:
        return f"CID({self})"

    def verifies(self, block: bytes) -> bool:
        return hashlib.sha256(block).digest() == self.digest

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple[CID, int]:
        """Parse a binary CID at the start of data; returns (cid, bytes used)."""
        if len(data) >= 34 and data[0] == SHA2_256 and data[1] == 32:
            return cls(0, DAG_PB, bytes(data[2:34])), 34
        version, pos = read_varint(data, 0)
        if version != 1:
            raise CIDError(f"unsupported CID version {version}")
        codec, pos = read_varint(data, pos)
        hash_code, pos = read_varint(data, pos)
        length, pos = read_varint(data, pos)
        if hash_code != SHA2_256 or length != 32 or len(data) < pos + 32:
            raise CIDError("only sha2-256 CIDs are supported")
        return cls(1, codec, bytes(data[pos : pos + 32])), pos + 32

    @classmethod
    def parse(cls, text: str) -> CID:
        text = text.strip()
        if text.startswith("ipfs://"):
            text = text[len("ipfs://") :].split("/", 1)[0]
        try:
            if len(text) == 46 and text.startswith("Qm"):
                raw = b58decode(text)
            elif text.startswith("b"):
                body = text[1:].upper()
                raw = base64.b32decode(body + "=" * (-len(body) % 8))
            else:
                raise CIDError(f"not a CIDv0 (Qm...) or base32 CIDv1 (b...): {text!r}")
            cid, used = cls.from_bytes(raw)
        except (ValueError, CIDError) as exc:
            raise CIDError(f"not a valid CID: {text!r} ({exc})") from None
        if used != len(raw):
            raise CIDError(f"not a valid CID: {text!r} (trailing bytes)")
        return cid
