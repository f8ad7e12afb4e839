"""A real HTTP server on 127.0.0.1 speaking the NFT.storage, Pinata (v3) and kubo RPC endpoints the
publisher uses, with fault injection. It stores what arrives and rebuilds every file from its blocks
(CAR uploads are taken apart block by block, each block checked against its CID, the UnixFS DAG
walked with its own dag-pb decoder), so tests can compare the bytes that arrived with the originals.

Endpoints
- NFT.storage: POST /upload (raw body or Content-Type application/car), GET / (list, ?limit=),
  GET /check/{cid} (no auth). JSON {"ok": true, "value": ...} / {"ok": false, "error": {...}}.
  At most 30 requests per 10 s per client, then 429. 100 MB per request, then 413.
- Pinata: POST /v3/files (multipart: file, network=public, name) -> {"data": {...}};
  GET /v3/files/public?limit= -> {"data": {"files": [...], "next_page_token": ...}}.
- kubo: POST /api/v0/add?cid-version=1&pin=true (multipart file) -> ndjson {"Name","Hash","Size"};
  any other method -> 405; errors {"Message","Code","Type":"error"}.

Faults, consumed one per matching request (`server.inject("/upload", "500", ("429", 2), ...)`):
"500", ("429", retry_after_seconds), ("slow", seconds) (the reply `seconds` late), ("stall", cap) (no reply:
wait until the client hangs up, its read timeout, at most `cap` s, then close; `state.hung_up` counts the
clients that gave up), "drop" (close without a reply),
"truncate" (announce the full body, send half, close), "wrong-cid", "redirect" (307), "echo-auth"
(a 401 quoting the Authorization header), "pass" (no fault: lets the
next fault hit a later request), ("hold", arrived, release) (two threading.Events: once the upload
is stored, set `arrived` and wait for `release` before replying).

Faults of a careless or hostile service (each held by the client; see docs/publishing.md):
"echo-ok-false" (a 200 {"ok": false} whose message quotes the token across the 200th character),
"echo-cid" (a 200 whose "cid" is the token), "echo-location" (a 307 whose Location holds the token),
("trickle", seconds) (the reply one byte per `seconds`; `state.aborted` counts replies the client
hung up on), ("big-error", n) (a 500 with an n-byte body; `state.sent` records what went out; ("big-error", n,
200): a 200 with that body),
("shape", payload) (a 200 with this JSON, e.g. {"ok": true, "value": {"cid": [1, 2]}}),
("raw", status, body[, content type]) (this status and these body bytes; `{token}` in them is the token sent,
escaped as in a JSON string),
"pinned-anything" (GET /check says every CID is pinned, whether it arrived or not).
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import json
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nftgan.core.publish.car import read_car
from nftgan.core.publish.cid import CID, DAG_PB, RAW, read_varint
from nftgan.core.publish.unixfs import import_bytes

REQUEST_LIMIT = 100 * 1000 * 1000
RATE = (30, 10.0)


def _pb_fields(buf: bytes):
    """Minimal protobuf reader: yields (field number, wire type, value)."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise ValueError(f"unexpected wire type {wire}")
        yield num, wire, value


def unixfs_file(root: CID, blocks: dict[CID, bytes]) -> bytes:
    """Rebuild a file from its UnixFS DAG (raw leaves or dag-pb File nodes)."""
    block = blocks[root]
    if root.codec == RAW:
        return block
    assert root.codec == DAG_PB
    links, data = [], b""
    for num, _, value in _pb_fields(block):
        if num == 2:
            link = {n: v for n, _, v in _pb_fields(value)}
            links.append(CID.from_bytes(link[1])[0])
        elif num == 1:
            unixfs = {n: v for n, _, v in _pb_fields(value)}
            assert unixfs[1] == 2, "not a UnixFS File node"
            data = unixfs.get(2, b"")
    return data + b"".join(unixfs_file(link, blocks) for link in links)


@dataclass
class Stored:
    cid: str
    data: bytes
    name: str
    mime: str
    created: str
    service: str


@dataclass
class Hit:
    method: str
    path: str
    status: int
    size: int
    authorization: str


@dataclass
class FakeIpfsState:
    tokens: set[str] = field(default_factory=set)
    kubo_token: str = ""  # kubo's API.Authorizations; empty = open (a local node)
    files: dict[str, Stored] = field(default_factory=dict)  # cid -> file
    blocks: dict[CID, bytes] = field(default_factory=dict)
    faults: dict[str, collections.deque] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    window: collections.deque = field(default_factory=collections.deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rate: tuple[int, float] = RATE  # NFT.storage's limit; tests may shrink the window
    aborted: int = 0  # replies the client hung up on before their end (trickle / big-error)
    hung_up: int = 0  # stalled requests the client gave up on (closed its connection)
    sent: list[int] = field(default_factory=list)  # bytes of each big-error body that went out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "FakeIPFS/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    @property
    def state(self) -> FakeIpfsState:
        return self.server.state

    # --- plumbing ---
    def _body(self) -> bytes | None:
        """The request body, or None when the client hung up before sending all of it."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.state.hits.append(Hit(self.command, self.path, 0, len(body), ""))
            self.close_connection = True
            return None
        return body

    def _send(self, status: int, payload, *, ctype="application/json", headers=None, fault=None):
        body = payload if isinstance(payload, bytes) else (json.dumps(payload) + "\n").encode()
        self.state.hits.append(
            Hit(self.command, self.path, status, len(body), self.headers.get("Authorization", ""))
        )
        if isinstance(fault, tuple) and fault[0] == "hold":  # stored; tell the test, wait until it says go on
            fault[1].set()
            fault[2].wait(30)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            if fault == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self._hang_up()
            elif isinstance(fault, tuple) and fault[0] == "trickle":
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fault[1])
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a "slow" fault): fine
            self.close_connection = True
            with self.state.lock:
                self.state.aborted += 1

    def _hang_up(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fault(self, path: str):
        with self.state.lock:
            for prefix, queue in self.state.faults.items():
                if path.startswith(prefix) and queue:
                    return queue.popleft()
        return None

    def _apply_fault(self, fault) -> bool:
        """Apply a fault that acts before the reply; True if it already ended the request."""
        kind = fault[0] if isinstance(fault, tuple) else fault
        if kind == "500":
            self._error(500, "Internal Server Error (injected)")
        elif kind == "429":
            self._error(429, "Too Many Requests (injected)", headers={"Retry-After": str(fault[1])})
        elif kind == "echo-auth":  # a careless service that quotes the credentials it refused
            self._error(401, f"invalid credentials: {self.headers.get('Authorization', '')}")
        elif kind == "redirect":
            self._send(307, b"", headers={"Location": "https://elsewhere.example" + self.path})
        elif kind == "echo-location":
            self._send(307, b"", headers={"Location": f"https://elsewhere.example/?key={self._token()}"})
        elif kind == "echo-ok-false":  # the token starts at character 192: a cut at 200 splits it
            head = "upload refused for "
            message = head + "x" * (192 - len(head) - len(" key ")) + f" key {self._token()} is over quota"
            self._send(200, {"ok": False, "error": {"name": "QuotaError", "message": message}})
        elif kind == "echo-cid":
            self._send(200, {"ok": True, "value": {"cid": self._token()}, "data": {"cid": self._token()}})
        elif kind == "shape":
            self._send(200, fault[1])
        elif kind == "raw":
            quoted = json.dumps(self._token(), ensure_ascii=False)[1:-1].encode()
            self._send(
                fault[1], fault[2].replace(b"{token}", quoted), ctype=(*fault[3:], "application/json")[0]
            )
        elif kind == "big-error":
            self._big_error(*fault[1:])
        elif kind == "trickle-headers":  # a 200 whose headers come a byte every fault[1] s, never ending
            self.state.hits.append(
                Hit(self.command, self.path, 200, 0, self.headers.get("Authorization", ""))
            )
            self.close_connection = True
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100_000:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(fault[1])
            except (BrokenPipeError, ConnectionResetError):
                with self.state.lock:
                    self.state.aborted += 1
        elif kind == "drop":
            self.state.hits.append(Hit(self.command, self.path, 0, 0, ""))
            self._hang_up()
        elif kind == "stall":  # however late the client's read timeout fires, the reply is later still
            self.state.hits.append(Hit(self.command, self.path, 0, 0, ""))
            self.connection.settimeout(fault[1])
            try:
                gone = self.connection.recv(1) == b""  # the request was read whole: only its close comes
            except ConnectionResetError:
                gone = True
            except TimeoutError:
                gone = False
            with self.state.lock:
                self.state.hung_up += gone
            self._hang_up()
        else:
            if kind == "slow":
                time.sleep(fault[1])
            return False  # None, "pass", "hold", "truncate" and "wrong-cid" act on the reply itself
        return True

    def _token(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ")

    def _big_error(self, size: int, status: int = 500):
        """A reply (500 unless `status`) whose body is `size` bytes (sent in slices; stops when the client hangs
        up)."""
        self.state.hits.append(Hit(self.command, self.path, status, size, ""))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        sent, piece = 0, b"E" * 65536
        try:
            while sent < size:
                n = min(len(piece), size - sent)
                self.wfile.write(piece[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            with self.state.lock:
                self.state.aborted += 1
        with self.state.lock:
            self.state.sent.append(sent)

    def _error(self, status: int, message: str, headers=None):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/api/v0/"):
            self._send(status, {"Message": message, "Code": 0, "Type": "error"}, headers=headers)
        elif path.startswith("/v3/"):
            self._send(status, {"error": {"code": status, "message": message}}, headers=headers)
        else:
            self._send(
                status, {"ok": False, "error": {"name": "HTTPError", "message": message}}, headers=headers
            )

    def _authorized(self, kubo=False) -> bool:
        auth = self.headers.get("Authorization", "")
        if kubo:
            return not self.state.kubo_token or auth == f"Bearer {self.state.kubo_token}"
        return auth.startswith("Bearer ") and auth[7:] in self.state.tokens

    def _rate_limited(self) -> bool:
        now = time.monotonic()
        limit, period = self.state.rate
        with self.state.lock:
            win = self.state.window
            while win and now - win[0] >= period:
                win.popleft()
            if len(win) >= limit:
                wait = period - (now - win[0])
                self._error(429, "Too Many Requests", headers={"Retry-After": str(max(1, round(wait)))})
                return True
            win.append(now)
        return False

    def _store(self, data: bytes, name: str, mime: str, service: str, *, v0: bool = False) -> str:
        dag = import_bytes(data, v0=v0)
        cid = str(dag.root)
        with self.state.lock:
            self.state.blocks.update(dag.blocks)
            self.state.files[cid] = Stored(
                cid, data, name, mime, time.strftime("%Y-%m-%dT%H:%M:%SZ"), service
            )
        return cid

    @staticmethod
    def _wrong(cid: str) -> str:
        return str(CID.of(cid.encode(), codec=RAW))

    def _multipart(self, body: bytes) -> dict[str, tuple[str, bytes, str]]:
        """multipart/form-data -> {field: (filename, bytes, content type)}."""
        ctype = self.headers.get("Content-Type", "")
        boundary = ctype.partition("boundary=")[2].strip('"').encode()
        if not ctype.startswith("multipart/form-data") or not boundary:
            return {}
        parts = {}
        for chunk in body.split(b"--" + boundary)[1:-1]:
            head, _, payload = chunk[2:].partition(b"\r\n\r\n")  # skip the CRLF after the boundary
            headers = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + b"\r\n\r\n")
            name = headers.get_param("name", header="content-disposition")
            filename = headers.get_param("filename", header="content-disposition") or ""
            parts[name] = (filename, payload[:-2], headers.get_content_type())  # minus the CRLF before "--"
        return parts

    # --- routes ---
    def do_CONNECT(self):  # asked to be a proxy's tunnel: recorded (with any Authorization sent), refused
        self.state.hits.append(Hit(self.command, self.path, 502, 0, self.headers.get("Authorization", "")))
        self.send_response(502)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path.startswith("/api/v0/"):
            return self._error(405, "405 - Method Not Allowed")
        fault = self._fault(url.path)
        if self._apply_fault(fault):
            return
        limit = int(query.get("limit", ["100"])[0])
        if url.path.startswith("/check/"):
            if self._rate_limited():
                return
            cid = url.path[len("/check/") :]
            if cid not in self.state.files and fault != "pinned-anything":
                return self._error(404, "NFT not found")
            return self._send(
                200,
                {"ok": True, "value": {"cid": cid, "pin": {"cid": cid, "status": "pinned"}, "deals": []}},
                fault=fault,
            )
        if url.path == "/":
            if self._rate_limited():
                return
            if not self._authorized():
                return self._error(401, "API Key is missing or invalid")
            items = [f for f in reversed(self.state.files.values()) if f.service == "nftstorage"][:limit]
            return self._send(
                200,
                {
                    "ok": True,
                    "value": [
                        {
                            "cid": f.cid,
                            "size": len(f.data),
                            "created": f.created,
                            "type": f.mime,
                            "scope": "default",
                            "pin": {"cid": f.cid, "name": f.name, "status": "pinned", "created": f.created},
                            "files": [],
                            "deals": [],
                        }
                        for f in items
                    ],
                },
                fault=fault,
            )
        if url.path == "/v3/files/public":
            if not self._authorized():
                return self._error(401, "Unauthorized")
            items = [f for f in reversed(self.state.files.values()) if f.service == "pinata"][:limit]
            return self._send(
                200,
                {
                    "data": {
                        "files": [
                            {
                                "id": f"id-{f.cid[-8:]}",
                                "name": f.name,
                                "cid": f.cid,
                                "size": len(f.data),
                                "number_of_files": 1,
                                "mime_type": f.mime,
                                "group_id": None,
                                "created_at": f.created,
                                "keyvalues": {},
                            }
                            for f in items
                        ],
                        "next_page_token": "",
                    }
                },
                fault=fault,
            )
        self._error(404, "Not Found")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        body = self._body()
        if body is None:  # an upload cut off by the client (cancelled): nothing is stored
            return
        fault = self._fault(url.path)
        if self._apply_fault(fault):
            return
        if url.path == "/upload":
            return self._nftstorage_upload(body, fault)
        if url.path == "/v3/files":
            if not self._authorized():
                return self._error(401, "Unauthorized")
            parts = self._multipart(body)
            if "file" not in parts or parts.get("network", ("", b"", ""))[1] != b"public":
                return self._error(400, "a file and network=public are required")
            fname, data, mime = parts["file"]
            name = parts.get("name", ("", fname.encode(), ""))[1].decode()
            cid = self._store(data, name, mime, "pinata")
            shown = self._wrong(cid) if fault == "wrong-cid" else cid
            return self._send(
                200,
                {
                    "data": {
                        "id": f"id-{cid[-8:]}",
                        "name": name,
                        "cid": shown,
                        "size": len(data),
                        "number_of_files": 1,
                        "mime_type": mime,
                        "network": "public",
                        "keyvalues": {},
                        "is_duplicate": False,
                        "group_id": None,
                        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                },
                fault=fault,
            )
        if url.path == "/api/v0/add":
            if not self._authorized(kubo=True):
                return self._error(403, "403 - Forbidden")
            parts = self._multipart(body)
            if "file" not in parts:
                return self._error(400, "file argument 'path' is required")
            fname, data, mime = parts["file"]
            v0 = query.get("cid-version", ["0"])[0] == "0"
            cid = self._store(data, fname, mime, "kubo", v0=v0)
            shown = self._wrong(cid) if fault == "wrong-cid" else cid
            line = json.dumps({"Name": fname, "Hash": shown, "Size": str(len(data))}) + "\n"
            return self._send(200, line.encode(), ctype="application/json", fault=fault)
        self._error(404, "Not Found")

    def _nftstorage_upload(self, body: bytes, fault):
        if self._rate_limited():
            return
        if not self._authorized():
            return self._error(
                401,
                "API Key is missing, make sure the `Authorization` header has a value in "
                "the following format `Bearer {api key}`.",
            )
        if len(body) > REQUEST_LIMIT:
            return self._error(413, "Payload Too Large: 100 MB per request")
        mime = self.headers.get("Content-Type", "application/octet-stream")
        if mime == "application/car":
            try:
                roots, blocks = read_car(body)
                got = dict(blocks)
            except ValueError as exc:
                return self._error(400, f"invalid CAR: {exc}")
            with self.state.lock:
                self.state.blocks.update(got)
            root = roots[0]
            try:  # complete once every block of the DAG has arrived (over one or more CARs)
                data = unixfs_file(root, self.state.blocks)
                self.state.files[str(root)] = Stored(
                    str(root),
                    data,
                    "car",
                    "application/car",
                    time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "nftstorage",
                )
            except KeyError:
                pass
            cid = str(root)
        else:
            cid = self._store(body, "blob", mime, "nftstorage")
        shown = self._wrong(cid) if fault == "wrong-cid" else cid
        self._send(
            200,
            {
                "ok": True,
                "value": {
                    "cid": shown,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "type": mime,
                    "scope": "default",
                    "files": [],
                    "size": len(body),
                    "pin": {"cid": shown, "status": "pinned"},
                    "deals": [],
                },
            },
            fault=fault,
        )


class FakeIpfsServer:
    """Start with `with FakeIpfsServer(tokens={"t"}) as srv:`; srv.url is http://127.0.0.1:PORT."""

    def __init__(self, tokens=(), kubo_token: str = "", port: int = 0):
        """port: 0 for a free one; a given one (a service's default endpoint) raises OSError when taken."""
        self.state = FakeIpfsState(tokens=set(tokens), kubo_token=kubo_token)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), name="fake-ipfs", daemon=True
        )

    def inject(self, path_prefix: str, *faults) -> None:
        with self.state.lock:
            self.state.faults.setdefault(path_prefix, collections.deque()).extend(faults)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
