"""HTTP for publishing: retries with backoff, Retry-After, client-side throttling, clear errors.

- 429 / 500 / 502 / 503 / 504, timeouts, dropped connections and truncated bodies are retried
  with exponential backoff and full jitter; a Retry-After header is honoured (and a wait longer
  than the policy allows ends the attempt with a clear message instead of hanging).
- 401 / 403 end at once with TokenRejected; 413 with a size message; other 4xx with the
  service's own error text.
- HTTPS is required, except to a loopback address (a local kubo node, the test server).
- The token goes only into the Authorization header: never into a log line, an exception
  message or a URL.
"""

from __future__ import annotations

import collections
import email.utils
import ipaddress
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.filepost import encode_multipart_formdata

from ..jobs import UserError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class PublishError(UserError):
    """A publishing failure with a message meant for the user as it is (the worker shows it unchanged)."""


class TokenRejected(PublishError):
    pass


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, service: str) -> str:
    """Return url without a trailing slash, or raise PublishError if it is not HTTPS (or loopback HTTP)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(f"{service}: the endpoint {url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise PublishError(f"{service}: put the token in the token field, not in the endpoint URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise PublishError(
            f"{service}: the endpoint must use HTTPS ({url} is plain HTTP and not this computer)"
        )
    return url.strip().rstrip("/")


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


def _error_text(resp: requests.Response) -> str:
    """The service's own error message, from the JSON shapes NFT.storage, Pinata and kubo use."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200] or resp.reason or ""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(
                err.get("message") or err.get("details") or err.get("reason") or err.get("Message") or err
            )[:200]
        if isinstance(err, str):
            return err[:200]
    return str(body)[:200]


class HttpClient:
    """requests with the policy above. One per backend, so its throttle counts all its requests."""

    def __init__(
        self,
        service: str,
        *,
        token: str = "",
        rate: tuple[int, float] | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        self.service = service
        self._token = token
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep or self._wait
        self.throttle = Throttle(rate[0], rate[1], clock, lambda s: self.sleep(s)) if rate else None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "NFTGan-publish"
        self.check: Callable[[], None] = lambda: None  # raises to cancel (a job's check())
        self.progress: Callable[[int, int], None] | None = None  # (bytes sent, bytes in all) of an upload

    def _wait(self, seconds: float) -> None:
        """The default sleep: in short slices, so a cancel (check()) ends a long Retry-After wait at once."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check()
            time.sleep(min(0.1, left))

    def _said(self, resp: requests.Response) -> str:
        """The service's error text, with the token blanked should a service echo it back."""
        text = _error_text(resp)
        return text.replace(self._token, "***") if self._token else text

    def __repr__(self) -> str:  # never show the token
        return f"<HttpClient {self.service}>"

    def request(
        self,
        method: str,
        url: str,
        *,
        expect: str = "json",
        missing: bool = False,
        body: bytes | None = None,
        form: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send with retries; returns parsed JSON (expect="json"), a list of JSON lines ("ndjson")
        or text ("text"); with missing=True a 404 returns None. An upload is `body` (raw bytes) or
        `form` (multipart fields, files as (filename, bytes, type)); it is sent in slices, reporting
        `progress` and honouring `check()` mid-upload."""
        headers = dict(kwargs.pop("headers", None) or {})
        if form is not None:
            body, headers["Content-Type"] = encode_multipart_formdata(form)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        last = ""
        for attempt in range(self.retry.attempts):
            self.check()
            if self.throttle:
                self.throttle.wait()
            wait: float | None = None
            if body is not None:
                kwargs["data"] = _Body(body, self._sent)  # a fresh one per attempt: read from the start
            try:
                try:
                    resp = self.session.request(
                        method, url, headers=headers, timeout=self.timeout, allow_redirects=False, **kwargs
                    )
                finally:
                    if self.throttle:
                        self.throttle.finished()
                status = resp.status_code
                log.debug("%s %s %s -> %d", self.service, method, urllib.parse.urlsplit(url).path, status)
                if status in (401, 403):
                    raise TokenRejected(
                        f"{self.service} rejected the API token (HTTP {status}: {self._said(resp)}). "
                        "Check the token in the NFTGan add-on preferences."
                    )
                if status == 404 and missing:
                    return None
                if status == 413:
                    raise PublishError(
                        f"{self.service} refused the upload as too large (HTTP 413): {self._said(resp)}"
                    )
                if status in RETRY_STATUS:
                    last = f"HTTP {status}: {self._said(resp)}"
                    wait = _retry_after(resp.headers.get("Retry-After"))
                elif 300 <= status < 400:  # never follow: the body (and the token) went to the URL set
                    raise PublishError(
                        f"{self.service} redirected to {resp.headers.get('Location', '?')} "
                        f"(HTTP {status}): set that address as the endpoint"
                    )
                elif status >= 400:
                    raise PublishError(
                        f"{self.service} refused the request (HTTP {status}): {self._said(resp)}"
                    )
                else:
                    return self._parse(resp, expect)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
                _BadBody,
            ) as exc:
                last = f"{type(exc).__name__}: {_short(exc)}"
            if attempt + 1 == self.retry.attempts:
                break
            delay = self.retry.backoff(attempt) if wait is None else wait
            if delay > self.retry.max_wait:
                raise PublishError(
                    f"{self.service} asked to wait {delay:.0f} s before trying again ({last}); "
                    "try again later"
                )
            log.info(
                "%s: %s; retry %d/%d in %.2f s",
                self.service,
                last,
                attempt + 1,
                self.retry.attempts - 1,
                delay,
            )
            self.sleep(delay)
        raise PublishError(f"{self.service} failed after {self.retry.attempts} attempts: {last}")

    def _sent(self, sent: int, total: int) -> None:
        self.check()  # raising here aborts the upload mid-body (urllib3 drops the connection)
        if self.progress is not None:
            self.progress(sent, total)

    @staticmethod
    def _parse(resp: requests.Response, expect: str) -> Any:
        text = resp.content.decode("utf-8", "replace")  # reading the body may raise on a truncated one
        if expect == "text":
            return text
        try:
            if expect == "ndjson":
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            return json.loads(text)
        except ValueError:
            raise _BadBody(f"unreadable reply body ({len(text)} bytes)") from None


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


def _short(exc: Exception) -> str:
    return str(exc).split("\n")[0][:160]
