"""Where published files go, behind one interface.

- `nftstorage`: the NFT.storage HTTP API (POST /upload with a file or a CAR, GET / to list,
  GET /check/{cid}). The public service at api.nft.storage stopped accepting uploads on
  2024-06-30; the endpoint is configurable for services and self-hosted stores that speak it.
  Requests are limited to 100 MB: larger files go as several CARs sharing one root.
- `pinata`: Pinata's v3 API (POST uploads.pinata.cloud/v3/files with network=public, list
  GET api.pinata.cloud/v3/files/public), authorised with a JWT.
- `kubo`: a local IPFS node's RPC API (POST /api/v0/add?cid-version=1&pin=true).
- `offline`: image, metadata and their CARs plus manifest.json written to a folder, to upload later.

`store()` returns the CID the service reports; the caller compares it with the local CID.
Every reply is checked for the shape the service documents (`_field`): anything else is a
PublishError naming what was wrong, with the token blanked in whatever of the reply it quotes.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

from ..errors import PublishError
from ..files import lock, not_a_folder, os_error_message, read_regular, write_durably
from .car import dag_car, read_car, split_dag
from .cid import CID, CIDError
from .http import IN_PREFERENCES, HttpClient, check_endpoint, printable
from .unixfs import FileDag, cid_of_file

MB = 1000 * 1000
_KIND_NAMES = {str: "text", dict: "an object", list: "a list", bool: "true or false"}

KINDS = ("offline", "nftstorage", "pinata", "kubo")
LABELS = {
    "offline": "Offline folder (upload later)",
    "nftstorage": "NFT.storage API (compatible services)",
    "pinata": "Pinata",
    "kubo": "Local IPFS node (kubo)",
}
MIN_TOKEN = 8  # characters: a shorter "token" is a bad paste, and blanking it would blank bits of words
MAX_TOKEN = 8192  # characters: a JWT is about 1000; servers refuse a header much longer (HTTP 431)
TOKEN_ENV = "NFTGAN_TOKEN"  # a token from the environment: for the one backend chosen with it, never saved
# Where the user sets a backend's token, as messages name it: Blender's preferences, or (nftgan publish) the
# environment variable.
IN_ENVIRONMENT = f"the environment variable ${TOKEN_ENV} (e.g. {TOKEN_ENV}=<token> nftgan publish ...)"
NFT_STORAGE_NOTICE = (
    "The public NFT.storage service stopped accepting uploads on 2024-06-30; "
    "use a compatible service's endpoint, Pinata or a kubo node."
)


@dataclass(frozen=True)
class Item:
    filename: str  # e.g. "image.png", "metadata.json"
    mime: str
    data: bytes
    dag: FileDag  # built with its blocks (CIDv1, raw leaves)


@dataclass(frozen=True)
class RemoteItem:
    cid: str
    name: str
    size: int
    created: str


@dataclass
class Settings:
    kind: str
    endpoint: str = ""  # service URL (offline: the folder)
    token: str = field(
        default="", repr=False
    )  # never in a repr (a log line, a debugger, a message quoting it)
    api_endpoint: str = ""  # pinata: the listing API host
    gateway: str = ""  # overrides the backend's default gateway
    token_from: str = (
        IN_PREFERENCES  # where the token is set, for messages (IN_ENVIRONMENT on the command line)
    )


def _header_safe(char: str) -> bool:
    """A character an HTTP header value carries as it is: Latin-1, and not a control character."""
    return ord(char) <= 0xFF and unicodedata.category(char) != "Cc"


def _character(char: str) -> str:
    if char in "\r\n":
        return "a line break"
    if unicodedata.category(char) == "Cc":
        return f"the control character U+{ord(char):04X}"
    return f"the character {char!r} (U+{ord(char):04X})"


def check_gateway(url: str) -> str:
    """The gateway prefix that links are made of (prefix + CID), ending in "/"; PublishError, not quoting it,
    for one that is not an http(s) address alone: a dedicated gateway's access key pasted with it (`?key=`,
    `user:key@`) went into every link, the ledger and the gallery, and the link did not work."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        address = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # (e.g. "https://[::1")
        parts, address = None, False
    if parts is None or not address or parts.username or parts.password or parts.query or parts.fragment:
        raise PublishError(
            "the gateway (Preferences > Add-ons > NFTGan > Publishing, or --gateway) must be an http(s) address "
            "alone, e.g. https://ipfs.io/ipfs/, with no user@, ?query or #fragment: a gateway's access key "
            "cannot go in it (NFTGan adds the CID to its end)"
        )
    return url.strip().rstrip("/") + "/"


def _no_token_in(settings: Settings, token: str, label: str) -> None:
    """PublishError, quoting neither, when the token is in an endpoint's URL (its path: check_endpoint refuses it
    as a user@, ?query or #fragment): it went in the URL of every request, to the log and the ledger's row; or
    in the gateway's path: it went into every link made of it, the ledger and the gallery (and to the gateway's
    host from anyone who opens one)."""
    for url, what in (
        (settings.endpoint, "endpoint"),
        (settings.api_endpoint, "endpoint"),
        (settings.gateway, "gateway"),
    ):
        if len(token) >= MIN_TOKEN and token in urllib.parse.unquote(url):
            raise PublishError(
                f"{label}: the API token is in the {what} URL; the {what} is an address alone "
                f"(e.g. https://api.example.com, https://ipfs.io/ipfs/): set it again, and the token only in "
                f"{settings.token_from}"
            )


class Backend(abc.ABC):
    kind = ""
    default_endpoint = ""
    default_gateway = "https://ipfs.io/ipfs/"
    rate: tuple[int, float] | None = None  # the service's published request limit
    max_file_bytes: int | None = None  # larger files are refused before any upload
    needs_token = False

    def __init__(self, settings: Settings, **http_options):
        """http_options go to HttpClient (retry policy, timeout, clock, sleep: tests make them fast)."""
        self.label = LABELS[self.kind]
        token = settings.token.strip()
        _no_token_in(settings, token, self.label)
        self.endpoint = check_endpoint(settings.endpoint or self.default_endpoint, self.label)
        if self.needs_token and not token:
            raise PublishError(f"{self.label} needs an API token: set it in {settings.token_from}")
        if 0 < len(token) < MIN_TOKEN:  # every message from the service is searched for it and blanked
            raise PublishError(
                f"{self.label}: the API token in {settings.token_from} is only {len(token)} character(s) long; "
                f"a real one is at least {MIN_TOKEN} (was most of it lost when pasting?). Set the whole token."
            )
        if len(token) > MAX_TOKEN:
            raise PublishError(
                f"{self.label}: the API token in {settings.token_from} is {len(token)} characters long; no "
                f"service's token is longer than {MAX_TOKEN} (was a file or a page pasted?). Set the token alone."
            )
        bad = next((i for i, c in enumerate(token) if not _header_safe(c)), None)
        if bad is not None:  # the HTTP library's own refusal would quote the whole token
            raise PublishError(
                f"{self.label}: the API token in {settings.token_from} contains {_character(token[bad])} "
                f"(character {bad + 1} of {len(token)}), which cannot be sent in an HTTP header (was it pasted "
                "with a line break, or from a text that changed a character?). Set the token again."
            )
        self.gateway = check_gateway(settings.gateway or self.default_gateway)
        self.http = HttpClient(
            self.label,
            token=token,
            token_from=settings.token_from,
            rate=self.rate,
            **http_options,
        )

    def gateway_url(self, cid: CID | str) -> str:
        return f"{self.gateway}{cid}"

    def fingerprint(self, ledger) -> str:
        """Which token this backend sends, as the ledger records it (never the token itself)."""
        return self.http.fingerprint(ledger) if self.http is not None else ""

    def started_with(self, ledger, credential: str) -> bool:
        """Whether this backend sends the token a ledger row's `credential` was made of."""
        return self.http is not None and self.http.started_with(ledger, credential)

    def redact(self, text: object, limit: int = 200) -> str:
        """A text that came from the service, safe to show and store (token blanked, then cut)."""
        return self.http.redact(text, limit) if self.http is not None else printable(str(text), limit)

    def _field(self, reply: object, *path: str | int, kind: type = str):
        """reply[path[0]][path[1]]... when it is a `kind` (non-empty text for str), else PublishError."""
        value = reply
        for key in path:
            if isinstance(key, str) and isinstance(value, dict):
                value = value.get(key)
            elif isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
                value = value[key]
            else:
                value = None
        if (
            not isinstance(value, kind)
            or (kind is not bool and isinstance(value, bool))
            or (kind is str and not value)
        ):
            where = "".join(f"[{k!r}]" for k in path)
            raise PublishError(
                f"{self.label}: unexpected reply ({where} should be {_KIND_NAMES[kind]}): "
                f"{self.redact(json.dumps(reply, default=str))}"
            )
        return value

    def _shown(self, value: object) -> str:
        """A listed name or date as the gallery shows it: text, with the token blanked, no control characters
        and cut (a megabyte-long name was a Blender label redrawn with the sidebar)."""
        return (
            self.redact(value, 120)
            if isinstance(value, str | int | float) and not isinstance(value, bool)
            else ""
        )

    def _size(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise PublishError(
                f"{self.label}: unexpected reply: size {self.redact(value, 40)!r} is not a number"
            )
        return int(value)

    def _cid(self, reply: object, *path: str | int) -> str:
        """A CID the service reported, checked to be one (its value is compared by the caller)."""
        text = self._field(reply, *path)
        try:
            CID.parse(text)
        except CIDError:
            raise PublishError(
                f"{self.label}: unexpected reply: {self.redact(text, 80)!r} is not a CID"
            ) from None
        return text

    def check_size(self, sizes: list[int]) -> None:
        """Raise before anything is sent if a file is over the service's limit."""
        for size in sizes:
            if self.max_file_bytes is not None and size > self.max_file_bytes:
                raise PublishError(
                    f"{self.label} accepts files up to {self.max_file_bytes / MB:.0f} MB; this one is "
                    f"{size / MB:.1f} MB. Scale the image down or publish with another backend."
                )

    @abc.abstractmethod
    def store(self, item: Item) -> str:
        """Send one file; return the CID the service reports for it."""

    def list(self, limit: int = 20) -> list[RemoteItem]:
        return []

    def published(self, *, name: str, token_uri: str, items: dict[str, Item]) -> None:  # noqa: B027 - optional hook
        """Called once every item of a publish is stored and verified."""


class NftStorage(Backend):
    kind = "nftstorage"
    default_endpoint = "https://api.nft.storage"
    default_gateway = "https://nftstorage.link/ipfs/"
    rate = (30, 10.0)  # 30 requests per 10 seconds
    max_file_bytes = 31 * 1024**3  # the service's documented upload limit
    needs_token = True
    request_limit = 100 * MB  # per request; larger uploads are split into CARs

    def store(self, item: Item) -> str:
        if len(item.data) <= self.request_limit:
            bodies = [(item.data, item.mime)]
        else:
            bodies = [(car, "application/car") for car in split_dag(item.dag, self.request_limit)]
        cids = []
        for body, mime in bodies:
            reply = self.http.request(
                "POST", f"{self.endpoint}/upload", body=body, headers={"Content-Type": mime}
            )
            cids.append(self._cid(self._value(reply, dict), "cid"))
        if len(set(cids)) != 1:
            raise PublishError(f"{self.label} returned different CIDs for the parts of one file: {cids}")
        return cids[0]

    def _value(self, reply: object, kind: type):
        """The "value" of an {"ok": true, "value": ...} reply; the service's message for "ok": false."""
        if isinstance(reply, dict) and reply.get("ok") is False:
            err = reply.get("error")
            said = err.get("message") if isinstance(err, dict) and err.get("message") else reply
            raise PublishError(f"{self.label}: unexpected reply: {self.redact(said)}")
        if self._field(reply, "ok", kind=bool) is not True:
            raise PublishError(f"{self.label}: unexpected reply: {self.redact(json.dumps(reply))}")
        return self._field(reply, "value", kind=kind)

    def list(self, limit: int = 20) -> list[RemoteItem]:
        reply = self.http.request("GET", f"{self.endpoint}/", params={"limit": limit})
        entries = self._value(reply, list)
        out = []
        for i in range(min(limit, len(entries))):
            entry = self._field(entries, i, kind=dict)
            pin, files = entry.get("pin"), entry.get("files")
            name = (pin.get("name") if isinstance(pin, dict) else "") or (
                files[0].get("name")
                if isinstance(files, list) and files and isinstance(files[0], dict)
                else ""
            )
            out.append(
                RemoteItem(
                    self._cid(entry, "cid"),
                    self._shown(name),
                    self._size(entry.get("size", 0)),
                    self._shown(entry.get("created", "")),
                )
            )
        return out


class Pinata(Backend):
    kind = "pinata"
    default_endpoint = "https://uploads.pinata.cloud"
    default_gateway = "https://gateway.pinata.cloud/ipfs/"
    rate = (60, 60.0)  # the free plan's published limit: 60 requests per minute
    max_file_bytes = 100 * MB  # the simple upload endpoint; larger files need Pinata's resumable protocol
    needs_token = True

    def __init__(self, settings: Settings, **kw):
        super().__init__(settings, **kw)
        self.api_endpoint = check_endpoint(settings.api_endpoint or "https://api.pinata.cloud", self.label)

    def store(self, item: Item) -> str:
        reply = self.http.request(
            "POST",
            f"{self.endpoint}/v3/files",
            form={"file": (item.filename, item.data, item.mime), "network": "public", "name": item.filename},
        )
        return self._cid(reply, "data", "cid")

    def list(self, limit: int = 20) -> list[RemoteItem]:
        reply = self.http.request("GET", f"{self.api_endpoint}/v3/files/public", params={"limit": limit})
        files = self._field(reply, "data", "files", kind=list)
        out = []
        for i in range(min(limit, len(files))):
            entry = self._field(files, i, kind=dict)
            name = entry.get("name")
            out.append(
                RemoteItem(
                    self._cid(entry, "cid"),
                    self._shown(name),
                    self._size(entry.get("size") or 0),
                    self._shown(entry.get("created_at", "")),
                )
            )
        return out


class Kubo(Backend):
    kind = "kubo"
    default_endpoint = "http://127.0.0.1:5001"
    default_gateway = "http://127.0.0.1:8080/ipfs/"

    def store(self, item: Item) -> str:
        # the chunker and raw leaves are sent explicitly, so a node's Import.* settings cannot change the CID
        params = {"cid-version": "1", "raw-leaves": "true", "chunker": "size-262144", "pin": "true"}
        lines = self.http.request(
            "POST",
            f"{self.endpoint}/api/v0/add",
            params=params,
            expect="ndjson",
            form={"file": (item.filename, item.data, item.mime)},
        )
        return self._cid(lines, -1, "Hash")


class Offline(Backend):
    """No network: each file and its CAR go into the folder; `published()` adds to manifest.json."""

    kind = "offline"

    def __init__(self, settings: Settings, **kw):
        if not settings.endpoint:
            raise PublishError("Offline publishing needs a folder: set it in the NFTGan add-on preferences")
        self.label = LABELS[self.kind]
        self.http = None  # no network
        self.endpoint = os.path.abspath(os.path.expanduser(settings.endpoint))
        self.gateway = check_gateway(settings.gateway or self.default_gateway)
        self._written: dict[str, dict] = {}

    def store(self, item: Item) -> str:
        try:
            os.makedirs(self.endpoint, exist_ok=True)
        except OSError as exc:  # (a file in the way said as such: "File exists" read as a folder in the way)
            said = not_a_folder("Offline: the folder", self.endpoint)
            raise PublishError(
                said or os_error_message(exc, f"Offline: the folder {self.endpoint}")
            ) from None
        if not self._written:
            self._manifest()  # a damaged manifest.json stops the publish before anything is written
        root = str(item.dag.root)
        ext = os.path.splitext(item.filename)[1]
        plain = os.path.join(self.endpoint, root + ext)
        car = os.path.join(self.endpoint, root + ".car")
        write_durably(plain, item.data)
        write_durably(car, dag_car(item.dag))
        # verify what is on disk, not what was meant: the file's CID and every block of the CAR
        with open(car, "rb") as fh:
            roots, blocks = read_car(fh.read())
        got = {cid for cid, _ in blocks}
        if roots != [item.dag.root] or got != set(item.dag.blocks):
            raise PublishError(f"Offline: {car} does not hold the DAG of {item.filename}")
        self._written[item.filename] = {
            "file": os.path.basename(plain),
            "car": os.path.basename(car),
            "mime": item.mime,
            "size": len(item.data),
        }
        return str(cid_of_file(plain))

    def published(self, *, name: str, token_uri: str, items: dict[str, Item]) -> None:
        # read, add, write: one process at a time
        with _locked(os.path.join(self.endpoint, ".manifest.lock")):
            self._add_entry(name, token_uri, items)

    def _add_entry(self, name: str, token_uri: str, items: dict[str, Item]) -> None:
        manifest = self._manifest()
        entry = {
            "name": name,
            "token_uri": token_uri,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {
                role: {"cid": str(item.dag.root), **self._written[item.filename]}
                for role, item in items.items()
            },
        }
        manifest["entries"].append(entry)
        write_durably(self._manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())

    @property
    def _manifest_path(self) -> str:
        return os.path.join(self.endpoint, "manifest.json")

    def _manifest(self) -> dict:
        """The folder's manifest.json (a new one when there is none); PublishError, touching nothing, when
        it is damaged (e.g. cut short by a full disk in an older version)."""
        path = self._manifest_path
        if not os.path.lexists(path):
            return {"format": "nftgan-offline-manifest/1", "entries": []}
        try:
            manifest = json.loads(read_regular(path).decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            manifest = exc
        if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
            raise PublishError(
                f"Offline: {path} is damaged ({manifest if isinstance(manifest, Exception) else 'no entries list'}); "
                "NFTGan leaves it as it is. Repair it (each entry names its files and CIDs) or move it away, "
                "then publish again"
            )
        return manifest


@contextlib.contextmanager
def _locked(path: str):
    """The block run holding `files.lock` on `path`: two processes staging into one Offline folder at once
    (Blender and `nftgan publish`, each with its own ledger) each read manifest.json, added an entry and
    wrote it back, losing the other's. Unlocked where files cannot be locked (some network file systems)."""
    fd = lock(path)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


BACKENDS: dict[str, type[Backend]] = {b.kind: b for b in (Offline, NftStorage, Pinata, Kubo)}


def make_backend(settings: Settings, *, online_allowed: bool = True, **kw) -> Backend:
    """Build the backend; refuses network backends when online access is off (Blender's setting)."""
    if settings.kind not in BACKENDS:
        raise PublishError(f"unknown publish backend {settings.kind!r} (one of {', '.join(KINDS)})")
    if settings.kind != "offline" and not online_allowed:
        raise PublishError(
            "Blender's online access is off (Preferences > System > Network): "
            "only the Offline backend can publish"
        )
    return BACKENDS[settings.kind](settings, **kw)
