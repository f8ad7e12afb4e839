"""HTTP for publishing: retries with backoff, Retry-After, client-side throttling, clear errors.

- 429 / 500 / 502 / 503 / 504, timeouts, dropped connections and truncated bodies are retried
  with exponential backoff and full jitter; a Retry-After header is honoured (and a wait longer
  than the policy allows ends the attempt with a clear message instead of hanging).
- 401 / 403 end at once with TokenRejected; 413 with a size message; other 4xx with the
  service's own error text.
- HTTPS is required, except to a loopback address (a local kubo node, the test server).
  A request to a loopback address never goes through a proxy from the environment (HTTP_PROXY ...).
- The token goes only into the Authorization header (and no ~/.netrc login ever does): never into a log line, an exception
  message or a URL. Every text taken from a service (error bodies, messages in 200 replies,
  CIDs, a redirect's Location) has the token blanked BEFORE it is cut to length (`redact`), also where
  it is quoted with escapes (as JSON, Python's repr or a URL quote it), and its control characters
  replaced (a terminal's escape sequences, line breaks faking a log line).
- A reply's JSON nested more than MAX_DEPTH levels is refused (a deep one made Python's parser and repr
  raise RecursionError); a request that cannot be sent at all (a SOCKS proxy, an unreadable proxy URL)
  is a PublishError in words, never quoting the proxy's URL.
- A request has one overall deadline, all its tries and waits together (a service trickling a
  byte at a time cannot keep a publish waiting); at the deadline, or when `check()` says the job
  was cancelled, a watchdog stops it at whatever stage it is: a host name lookup or a TCP connect in
  progress gives up (both wait in slices of SLICE seconds), and a connection's socket is shut, so a
  TLS handshake, a proxy's CONNECT or a blocked read ends at once.
- A reply body is read up to a cap (64 KB for an error, 8 MB for a success): a huge error page
  costs no memory.
"""

from __future__ import annotations

import collections
import email.utils
import errno
import http.client
import ipaddress
import json
import logging
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from urllib3.filepost import encode_multipart_formdata

from ..errors import Cancelled, PublishError, TokenRejected

IN_PREFERENCES = "the NFTGan add-on preferences"  # where a token is set, unless the caller says otherwise

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
ERROR_BODY_CAP = 64 * 1024  # bytes of an error reply read for its message; the rest is never read
REPLY_BODY_CAP = 8 * 1024 * 1024  # a success reply larger than this is not what the service sends
MAX_DEPTH = 32  # a success reply's JSON nested deeper than this is not what the service sends either
DEADLINE = 180.0  # seconds for one request, all its tries together ...
MIN_RATE = 100_000  # ... plus one second per 100 kB of upload body


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, service: str) -> str:
    """Return url without a trailing slash, or raise PublishError if it is not HTTPS (or loopback HTTP) or
    carries more than an address (a user:token@, a ?query or a #fragment: where a pasted token would sit, to
    be recorded with the endpoint in the ledger and the log). The refusal never quotes the URL's path or the
    text that is not a URL: it may be a token pasted into the wrong field, and the message goes to the
    screen, the log and (at start-up) a pending row's note in the ledger."""
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:  # "https://[::1"
        parts = None
    if parts is not None and (parts.username or parts.password or parts.query or parts.fragment):
        raise PublishError(
            f"{service}: put the token in the token field, not in the endpoint URL: the endpoint is the "
            "service's address alone (e.g. https://api.example.com), with no user@, ?query or #fragment"
        )
    why = ""
    if parts is None:
        why = "it cannot be read as a URL"
    elif parts.scheme not in ("http", "https"):
        why = "it does not begin with https://, or http:// to this computer"
    elif not _port_ok(parts):
        why = "its port is not a number from 1 to 65535"
    elif not parts.hostname or not _host_ok(text, parts.hostname):
        why = "its host name is not one a request can go to"
    if why:
        raise PublishError(
            f"{service}: the endpoint is not an http(s) address ({why}); it should be the service's address "
            "alone, e.g. https://api.example.com. (It is not repeated here: if it is a token, it belongs in the "
            "token field.)"
        )
    host = parts.hostname
    if parts.scheme == "http" and not is_loopback(host):
        raise PublishError(
            f"{service}: the endpoint must use HTTPS (http://{parts.netloc} is plain HTTP and not this computer)"
        )
    return text.rstrip("/")


def _port_ok(parts: urllib.parse.SplitResult) -> bool:
    try:
        return parts.port is None or 0 < parts.port < 65536
    except ValueError:  # "host:99999", "host:port"
        return False


def _host_ok(url: str, host: str) -> bool:
    """Whether a request can go to `url`'s host: urllib3 parses it (no space or other character a host cannot
    hold) and a name's labels are each 1-63 characters (an 'example..com' typo failed the request as urllib3's
    LocationParseError, a traceback on the command line)."""
    try:
        urllib3.util.parse_url(url)
        if not host.startswith("[") and ":" not in host:  # (an IPv6 address needs no IDNA)
            host.rstrip(".").encode("idna")
    except (ValueError, UnicodeError):
        return False
    return True


@dataclass
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base: float = 0.5  # seconds; the n-th retry waits up to base * 2**n (full jitter)
    cap: float = 30.0
    max_wait: float = 120.0  # a Retry-After beyond this fails at once with a clear message
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, retry: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2**retry))


class Throttle:
    """At most `limit` requests in any `period` seconds (sliding window), sleeping as needed.

    A request counts from when its reply came back (`finished()`): the service saw it earlier than
    that, so its window never holds more than ours, whatever the network's delays."""

    def __init__(
        self,
        limit: int,
        period: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limit, self.period, self.clock, self.sleep = limit, period, clock, sleep
        self._stamps: collections.deque[float] = collections.deque()

    def wait(self) -> None:
        while True:
            now = self.clock()
            while self._stamps and now - self._stamps[0] >= self.period - 1e-6:
                self._stamps.popleft()
            if len(self._stamps) < self.limit:
                self._stamps.append(now)
                return
            self.sleep(self._stamps[0] + self.period - now)

    def finished(self) -> None:
        if self._stamps:
            self._stamps[-1] = self.clock()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(body: bytes, reason: str) -> str:
    """The service's own error message (whole: `redact` cuts it), from the JSON shapes NFT.storage,
    Pinata and kubo use."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            err = parsed.get("error", parsed)
            if isinstance(err, dict):
                return str(
                    err.get("message") or err.get("details") or err.get("reason") or err.get("Message") or err
                )
            if isinstance(err, str):
                return err
        return str(parsed)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read or show: the text itself
        return text or reason or ""


def _read_capped(resp: requests.Response, cap: int) -> tuple[bytes, bool]:
    """(at most `cap` bytes of the body, whether there was more)."""
    data = bytearray()
    for chunk in resp.iter_content(64 * 1024):
        data += chunk
        if len(data) > cap:
            return bytes(data[:cap]), True
    return bytes(data), False


SLICE = 0.05  # seconds: how often a name lookup or a connect in progress looks whether to stop
_CONNECTING = {errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, 10035}  # 10035: Windows' WSAEWOULDBLOCK


class _Stopped(OSError):
    """The request was stopped (Cancel, or its deadline) while its connection was being made."""


def _lookup(host: str, port: int, family: int, halt: threading.Event) -> list:
    """getaddrinfo, given up on once `halt` is set: a DNS lookup cannot be interrupted (glibc waits 5 s
    a try, twice, for a server that does not answer), so a name runs on a helper thread of its own, which
    is left to end by itself (a daemon: its answer is thrown away). An address needs no lookup."""
    try:
        return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    answer: list = []
    done = threading.Event()

    def look_up():
        try:
            answer.append(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            answer.append(exc)
        finally:
            done.set()

    threading.Thread(target=look_up, name="nftgan-http-lookup", daemon=True).start()
    while not done.wait(SLICE):
        if halt.is_set():
            raise _Stopped(f"stopped while looking up {host}")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def _connect(address, timeout, source_address, socket_options, halt: threading.Event) -> socket.socket:
    """urllib3's create_connection, made so that `halt` stops it within SLICE seconds: the lookup as
    above, the TCP connect non-blocking, waited on in slices (a blocking connect to an address that drops the SYN,
    or a listener whose queue is full, waits out the whole connect timeout). Raises OSError (socket.gaierror
    for a name not found, TimeoutError at the connect timeout, _Stopped when halted)."""
    host, port = address
    if host.startswith("["):
        host = host.strip("[]")
    try:
        host.encode("idna")
    except UnicodeError:
        raise urllib3.exceptions.LocationParseError(f"'{host}', label empty or too long") from None
    if not isinstance(timeout, int | float):  # urllib3's "default timeout" sentinel
        timeout = socket.getdefaulttimeout()
    err: OSError | None = None
    for af, socktype, proto, _, where in _lookup(
        host, port, urllib3.util.connection.allowed_gai_family(), halt
    ):
        sock = socket.socket(af, socktype, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if source_address:
                sock.bind(source_address)
            sock.setblocking(False)
            code = sock.connect_ex(where)
            end = None if timeout is None else time.monotonic() + timeout
            while code in _CONNECTING:
                if halt.is_set():
                    raise _Stopped(f"stopped while connecting to {host}")
                wait = SLICE if end is None else min(SLICE, end - time.monotonic())
                if wait <= 0:
                    raise TimeoutError("timed out")
                if urllib3.util.wait.wait_for_write(sock, timeout=wait):  # (poll: any descriptor number)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, _strerror(code))
            sock.settimeout(timeout)
            return sock
        except OSError as exc:
            sock.close()
            if isinstance(exc, _Stopped):
                raise
            err = exc
    raise err or OSError("getaddrinfo returns an empty list")


def _strerror(code: int) -> str:
    """The system's words for a socket error code (Windows' WSA codes are not C library errno values)."""
    if os.name == "nt":
        import ctypes

        return ctypes.FormatError(code).strip()
    return os.strerror(code)


def _tracking_adapter(live: weakref.WeakSet, halt: threading.Event) -> requests.adapters.HTTPAdapter:
    """An adapter whose connections can be stopped from another thread at every stage: the name lookup
    and the TCP connect give up once `halt` is set (`_connect`); once connected, a connection adds itself
    to `live` with a duplicate of its socket, so a watchdog thread can shut it (the only way to end a TLS
    handshake, a proxy's CONNECT or a read that is blocked in the kernel: during the handshake `sock` is
    the plain socket that the TLS wrapper has already taken the descriptor of)."""

    def tracked(base):
        class Tracked(base):
            def _new_conn(self):
                try:
                    sock = _connect(
                        (self._dns_host, self.port),
                        self.timeout,
                        self.source_address,
                        self.socket_options,
                        halt,
                    )
                except socket.gaierror as exc:
                    raise _name_error(self, exc) from exc
                except TimeoutError as exc:
                    raise urllib3.exceptions.ConnectTimeoutError(
                        self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                    ) from exc
                except OSError as exc:
                    raise urllib3.exceptions.NewConnectionError(
                        self, f"Failed to establish a new connection: {exc}"
                    ) from exc
                sys.audit("http.client.connect", self, self.host, self.port)
                self._nftgan_handle = sock.dup()  # shut by close_connections until connect() returns
                live.add(self)
                return sock

            def connect(self):
                try:
                    super().connect()
                finally:
                    handle = self.__dict__.pop("_nftgan_handle", None)
                    if handle is not None:
                        handle.close()

        return Tracked

    class Pool(urllib3.HTTPConnectionPool):
        ConnectionCls = tracked(urllib3.connection.HTTPConnection)

    class SPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = tracked(urllib3.connection.HTTPSConnection)

    adapter = requests.adapters.HTTPAdapter()
    adapter.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SPool}
    return adapter


def _name_error(conn, exc: socket.gaierror) -> Exception:
    """urllib3's error for a host name not found (NameResolutionError in urllib3 2; 1.26 has none)."""
    kind = getattr(urllib3.exceptions, "NameResolutionError", None)
    if kind is not None:
        return kind(conn.host, conn, exc)
    return urllib3.exceptions.NewConnectionError(conn, f"Failed to establish a new connection: {exc}")


class _Watchdog:
    """While a request runs: at its deadline, or once `check()` raises (cancelled), shut every live
    connection's socket so the request fails at once instead of waiting out a trickle."""

    def __init__(self, client: HttpClient, deadline: float):
        self.client, self.deadline = client, deadline
        self.fired: str = ""  # "", "deadline" or "cancelled"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="nftgan-http-watchdog", daemon=True)

    def __enter__(self):
        self.client._halt.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _watch(self):
        while not self._done.wait(0.05):
            if time.monotonic() >= self.deadline:
                self.fired = "deadline"
            else:
                try:
                    self.client.check()
                except Exception:  # noqa: BLE001 - whatever check() raises means "stop"
                    self.fired = "cancelled"
            if self.fired:
                self.client._halt.set()  # a name lookup or connect in progress gives up
                self.client.close_connections()
                return


class HttpClient:
    """requests with the policy above. One per backend, so its throttle counts all its requests."""

    def __init__(
        self,
        service: str,
        *,
        token: str = "",
        token_from: str = IN_PREFERENCES,
        rate: tuple[int, float] | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
        deadline: float = DEADLINE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        self.service = service
        self._token = token
        self._quoted: tuple[str, ...] | None = None  # its quoted forms: made by the first redact (~60 µs)
        self.token_from = token_from  # where the user sets the token (a rejected token's message names it)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.deadline = deadline
        self.sleep = sleep or self._wait
        self.throttle = Throttle(rate[0], rate[1], clock, lambda s: self.sleep(s)) if rate else None
        self._live: weakref.WeakSet = weakref.WeakSet()
        self._halt = threading.Event()  # set by a request's watchdog when it fires
        self.session = requests.Session()
        adapter = _tracking_adapter(self._live, self._halt)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "NFTGan-publish"
        self.session.auth = self._authorize  # a session with auth of its own never gets ~/.netrc's added
        self.check: Callable[[], None] = lambda: None  # raises to cancel (a job's check())
        self.progress: Callable[[int, int], None] | None = None  # (bytes sent, bytes in all) of an upload

    def _wait(self, seconds: float) -> None:
        """The default sleep: in short slices, so a cancel (check()) ends a long Retry-After wait at once."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check()
            time.sleep(min(0.1, left))

    def redact(self, text: object, limit: int = 200) -> str:
        """A text taken from the service, with the token blanked (first), control characters replaced (a
        terminal's escape sequences, line breaks that fake a line of a log) and then cut to `limit`."""
        text = str(text)
        if self._quoted is None:  # (on the worker, where replies are read: not when Blender builds a backend)
            self._quoted = _quoted_forms(self._token) if self._token else ()
        for form in self._quoted:
            text = text.replace(form, "***")
        return printable(text, limit)

    def fingerprint(self, ledger) -> str:
        return ledger.fingerprint(self._token)

    def started_with(self, ledger, credential: str) -> bool:
        return ledger.started_with(credential, self._token)

    def _authorize(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """The one credential a request carries: the token, or none (requests would otherwise add the
        ~/.netrc or $NETRC login for the host, or that file's `default` one, in place of the token)."""
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def close_connections(self) -> None:
        """Shut every open connection's socket (from any thread): a blocked send or read ends at once."""
        for conn in list(self._live):
            for sock in (getattr(conn, "sock", None), getattr(conn, "_nftgan_handle", None)):
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def __repr__(self) -> str:  # never show the token
        return f"<HttpClient {self.service}>"

    def request(
        self,
        method: str,
        url: str,
        *,
        expect: str = "json",
        body: bytes | None = None,
        form: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send with retries; returns parsed JSON (expect="json"), a list of JSON lines ("ndjson")
        or text ("text"). An upload is `body` (raw bytes) or
        `form` (multipart fields, files as (filename, bytes, type)); it is sent in slices, reporting
        `progress` and honouring `check()` mid-upload."""
        headers = dict(kwargs.pop("headers", None) or {})
        if form is not None:
            body, headers["Content-Type"] = encode_multipart_formdata(form)
        limit = self.deadline + len(body or b"") / MIN_RATE
        deadline = time.monotonic() + limit
        last, late = "", False
        for attempt in range(self.retry.attempts):
            self.check()
            if self.throttle:
                self.throttle.wait()
            wait: float | None = None
            if body is not None:
                kwargs["data"] = _Body(body, self._sent)  # a fresh one per attempt: read from the start
            watchdog = _Watchdog(self, deadline)
            try:
                with watchdog:
                    reply = self._attempt(method, url, headers, expect, kwargs)
                    if watchdog.fired:  # what came before the watchdog shut the connection is not a reply
                        raise _BadBody(f"the reply was cut short ({watchdog.fired})")
                return reply
            except _Retry as retry:
                last, wait = retry.args
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                _BadBody,
            ) as exc:
                if watchdog.fired == "cancelled":
                    self.check()  # raises the job's own Cancelled
                    raise Cancelled() from None
                if watchdog.fired == "deadline":
                    late = True
                    break
                last = self.redact(_why(exc, url, self.timeout[0]), 160)
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                # not worth another try (a proxy it cannot use, a URL it cannot send to): said in words, and a
                # PublishError, which the gallery and the command line report (an OSError or ValueError got out)
                if watchdog.fired == "cancelled":
                    self.check()
                    raise Cancelled() from None
                raise PublishError(self._unsendable(exc, url)) from None
            if attempt + 1 == self.retry.attempts:
                break
            delay = self.retry.backoff(attempt) if wait is None else wait
            if delay > self.retry.max_wait:
                raise PublishError(
                    f"{self.service} asked to wait {delay:.0f} s before trying again ({last}); "
                    "try again later"
                )
            if time.monotonic() + delay >= deadline:
                late = True
                break
            log.info(
                "%s: %s; retry %d/%d in %.2f s",
                self.service,
                last,
                attempt + 1,
                self.retry.attempts - 1,
                delay,
            )
            self.sleep(delay)
        if late:
            raise PublishError(
                f"{self.service} sent no complete reply within {limit:.0f} s"
                + (f" (last try: {last})" if last else "")
                + "; the service is too slow or stalled: try again later"
            )
        raise PublishError(f"{self.service} failed after {self.retry.attempts} attempts: {last}")

    def _attempt(self, method, url, headers, expect, kwargs) -> Any:
        """One try: the parsed reply, or raises (_Retry for a status worth retrying)."""
        # a proxy from the environment (HTTP_PROXY ...) never carries a request to this computer: it would get
        # the token in plain HTTP and ask its own 127.0.0.1 (Go's net/http never proxies loopback either)
        direct = (
            {"http": None, "https": None, "all": None}
            if is_loopback(urllib.parse.urlsplit(url).hostname or "")
            else None
        )
        try:
            resp = self.session.request(
                method,
                url,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
                proxies=direct,
                **kwargs,
            )
        finally:
            if self.throttle:
                self.throttle.finished()
        with resp:
            status = resp.status_code
            log.debug("%s %s %s -> %d", self.service, method, urllib.parse.urlsplit(url).path, status)
            if 200 <= status < 300:
                data, more = _read_capped(resp, REPLY_BODY_CAP)
                if more:
                    raise PublishError(
                        f"{self.service} sent a reply larger than {REPLY_BODY_CAP // 2**20} MB; "
                        "that is not a reply this service sends: check the endpoint"
                    )
                return self._parse(data, expect, resp.headers.get("Content-Type", ""))
            if 300 <= status < 400:  # never follow: the body (and the token) went to the URL set
                raise PublishError(
                    f"{self.service} redirected to {self.redact(resp.headers.get('Location', '?'))} "
                    f"(HTTP {status}); NFTGan follows no redirect, as your token would go along: if that address is "
                    "your service's own (its documentation names it), set it as the endpoint"
                )
            data, _ = _read_capped(resp, ERROR_BODY_CAP)
            said = self.redact(_error_text(data, resp.reason or ""))
            if status in (401, 403):
                raise TokenRejected(
                    f"{self.service} rejected the API token (HTTP {status}: {said}). "
                    f"Check the token in {self.token_from}."
                )
            if status == 413:
                raise PublishError(f"{self.service} refused the upload as too large (HTTP 413): {said}")
            if status in RETRY_STATUS:
                raise _Retry(f"HTTP {status}: {said}", _retry_after(resp.headers.get("Retry-After")))
            raise PublishError(f"{self.service} refused the request (HTTP {status}): {said}")

    def _unsendable(self, exc: Exception, url: str) -> str:
        """Why a request could not be sent at all. A proxy from the environment is named by its variables, never
        quoted (its URL may hold the proxy's password)."""
        host = urllib.parse.urlsplit(url).hostname or ""
        proxy = None
        if not is_loopback(host) and self.session.trust_env:
            proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
        if proxy:
            why = (
                "it is a SOCKS proxy, which needs the PySocks module NFTGan does not ship"
                if isinstance(exc, requests.exceptions.InvalidSchema) and "socks" in str(exc).lower()
                else f"{type(exc).__name__}"
            )
            return (
                f"{self.service}: the proxy that the environment sets for {host} (HTTPS_PROXY, HTTP_PROXY or "
                f"ALL_PROXY) cannot be used ({why}): set an http:// proxy there, or add {host} to NO_PROXY"
            )
        return (
            f"{self.service}: the request to {host} could not be sent: {self.redact(_first_line(exc), 160)}"
        )

    def _sent(self, sent: int, total: int) -> None:
        self.check()  # raising here aborts the upload mid-body (urllib3 drops the connection)
        if self.progress is not None:
            self.progress(sent, total)

    def _parse(self, data: bytes, expect: str, ctype: str = "") -> Any:
        text = data.decode("utf-8", "replace")
        if expect == "text":
            return text
        try:
            if expect == "ndjson":
                parsed: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                parsed = json.loads(text)
        except ValueError:
            media = ctype.partition(";")[0].strip().lower()
            if media in (
                "text/html",
                "application/xhtml+xml",
            ):  # a web site, not its API: no use trying again
                raise PublishError(
                    f"{self.service} answered with a web page ({media}), not its API's reply: check the endpoint "
                    "(the service's API address, not its web site or a sign-in page)"
                ) from None
            raise _BadBody(f"unreadable reply body ({len(text)} bytes)") from None
        except RecursionError:  # 100 kB of '[': Python's parser gives up (no handler expected that)
            deep = True
        else:
            deep = not _shallow(parsed, MAX_DEPTH + (expect == "ndjson"))
        if deep:
            raise PublishError(
                f"{self.service} sent a reply nested more than {MAX_DEPTH} levels deep; that is not a reply this "
                "service sends: check the endpoint"
            )
        return parsed


def _shallow(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests at most `limit` lists and objects deep (without recursing: a deep one is
    then quoted whole in a message, and Python's repr and json.dumps recurse)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return False
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return True


class _Body:
    """An upload body that http.client reads in small slices (it has a length, so no chunked encoding)."""

    REPORT_EVERY = 256 * 1024

    def __init__(self, data: bytes, on_read: Callable[[int, int], None]):
        self._view, self._pos, self._on_read, self._reported = memoryview(data), 0, on_read, -1

    def __len__(self) -> int:
        return len(self._view) - self._pos

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = end
        if end == len(self._view) or end - self._reported >= self.REPORT_EVERY:
            self._reported = end
            self._on_read(end, len(self._view))
        return chunk


class _BadBody(Exception):
    """A 2xx reply whose body is cut short or garbled: retried like a dropped connection."""


class _Retry(Exception):
    """A reply whose status is worth another try: (what it said, the Retry-After wait or None)."""


# C0 and C1 control characters (ESC starts a terminal's escape sequences, CSI U+009B is one alone): a space for
# a line break or tab, U+FFFD for the rest
_CONTROLS = {  # C0 and C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates
    c: " " if c in (9, 10, 13, 0x2028, 0x2029) else "\ufffd"
    for c in (*range(32), *range(127, 160), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def _quoted_forms(token: str) -> tuple[str, ...]:
    """The token as a text taken from a service may hold it, longest first: as it is, and as a JSON string,
    Python's repr (a dict or list of the reply shown whole) or a URL (a redirect's Location) quotes it, where a
    backslash, a quote, a non-ASCII letter or a '+' of the token is escaped and the token itself is not found."""
    forms = {
        token,
        json.dumps(token)[1:-1],
        json.dumps(token, ensure_ascii=False)[1:-1],
        repr(token)[1:-1],
        urllib.parse.quote(token),
        urllib.parse.quote(token, safe=""),
        urllib.parse.quote_plus(token),
    }
    return tuple(sorted(forms, key=len, reverse=True))


def printable(text: str, limit: int) -> str:
    """`text` safe to print and store: control characters replaced (`_CONTROLS`), then cut to `limit`."""
    text = text.translate(_CONTROLS)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: Exception) -> str:
    """An exception's first line, whole: `redact` cuts it after blanking the token (a token straddling a cut
    made first would be blanked in part)."""
    return str(exc).split("\n")[0]


def _why(exc: Exception, url: str, connect_timeout: float = 0.0) -> str:
    """A failed try in words: a connection that broke or was never made names its host and the system's
    reason (refused: nothing listens there; a name not found; no answer within the connect timeout), not
    urllib3's pool and retry wrappers."""
    chain, seen = [exc], set()  # requests' ConnectionError -> MaxRetryError -> NewConnectionError -> OSError
    while id(chain[-1]) not in seen:
        seen.add(id(chain[-1]))
        reason = getattr(chain[-1], "reason", None)
        nxt = reason if isinstance(reason, BaseException) else chain[-1].__cause__ or chain[-1].__context__
        # urllib3 1.26 (a Blender whose Python has it) wraps without chaining: ProtocolError('Connection
        # aborted.', RemoteDisconnected(...)) holds the cause among its arguments
        nxt = nxt or next((a for a in chain[-1].args if isinstance(a, BaseException)), None)
        if nxt is None:
            break
        chain.append(nxt)
    # the deepest system or HTTP error (under urllib3 1.26, http.client's own TypeError lies beneath it)
    root = next((e for e in reversed(chain) if isinstance(e, OSError | http.client.HTTPException)), chain[-1])
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(
        exc, _BadBody
    ):  # its own words ("the reply was cut short ...", "unreadable reply body ...")
        return str(exc)
    if isinstance(exc, requests.ConnectTimeout):  # no answer: a firewall, a wrong address, a full queue
        return (
            f"no connection to {host} (it did not answer within {connect_timeout:g} s): is the service running, "
            "its endpoint right, and the network up?"
        )
    if isinstance(exc, requests.ConnectionError) and isinstance(root, OSError) and root.strerror:
        return f"no connection to {host} ({root.strerror.lower()}): is the service running, and its endpoint right?"
    broken = {
        http.client.RemoteDisconnected: "it closed without a reply",
        http.client.IncompleteRead: "the reply was cut short",
        ConnectionResetError: "it was reset",
    }
    how = next((words for kind, words in broken.items() if isinstance(root, kind)), None)
    if how and isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return (
            f"the connection to {host} broke before a complete reply ({how}): check the network and the "
            "service, and publish again"
        )
    return f"{type(exc).__name__}: {_first_line(exc)}"
