"""A careless or hostile service on 127.0.0.1 (the fault-injecting server): what it sends back never
leaks the token, never hangs a publish, never costs unbounded memory and never raises a traceback."""

from __future__ import annotations

import json
import logging
import time
import unicodedata

import pytest
from nftgan.core.errors import Cancelled, PublishError
from nftgan.core.publish import metadata as md
from nftgan.core.publish.backends import Settings, make_backend
from nftgan.core.publish.http import RetryPolicy
from nftgan.core.publish.ledger import FAILED
from nftgan.core.publish.service import Request, gallery, publish

from .conftest import TOKEN, cancel_after, png_bytes
from .ipfs_server import FakeIpfsServer

UPLOAD = {"nftstorage": "/upload", "pinata": "/v3/files", "kubo": "/api/v0/add"}


def _request(seed=0):
    return Request(image=png_bytes(32, seed), name=f"Hostile {seed}")


def _leaks(text: str) -> bool:
    """The token, or any 5-character piece of it, in a text."""
    return any(TOKEN[i : i + 5] in text for i in range(len(TOKEN) - 4))


@pytest.mark.parametrize(
    "kind,fault",
    [
        ("nftstorage", "echo-ok-false"),
        ("nftstorage", "echo-cid"),
        ("pinata", "echo-cid"),
        ("nftstorage", "echo-location"),
        ("pinata", "echo-location"),
    ],
)
def test_token_is_blanked_in_every_text_taken_from_a_service(
    kind, fault, server, backend_for, ledger, caplog
):
    caplog.set_level(logging.DEBUG)
    server.inject(UPLOAD[kind], fault)
    with pytest.raises(PublishError) as err:
        publish(_request(), backend_for(kind), ledger)
    (row,) = ledger.rows()
    assert row.state == FAILED and "***" in row.error
    for text in (str(err.value), row.error, caplog.text):
        assert not _leaks(text), text


def test_a_trickling_reply_ends_at_the_requests_deadline(server, backend_for, ledger):
    server.inject("/upload", ("trickle", 0.2))  # ~300 bytes: a minute for the whole reply
    backend = backend_for("nftstorage", deadline=1.5)
    t0 = time.monotonic()
    with pytest.raises(PublishError, match=r"no complete reply within 2 s"):
        publish(_request(), backend, ledger)
    assert time.monotonic() - t0 < 4.0  # one deadline for the request, all its tries together
    assert ledger.rows()[0].state == FAILED


@pytest.mark.parametrize("end", ["deadline", "cancel"])
def test_a_reply_cut_at_its_deadline_or_by_cancel_is_never_taken_as_a_reply(end, server, ledger):
    """A 200 whose headers trickle: at the deadline (or on Cancel) the connection is shut, and what had
    arrived read as a complete reply with an empty body. Kubo's empty JSON-lines list then failed the
    publish as "unexpected reply ([-1]['Hash'] should be text): []" instead of the deadline's message, and a
    Cancel as that failure instead of "cancelled"."""
    server.inject("/api/v0/add", ("trickle-headers", 0.05))  # the status line arrives whole, then a header
    backend = make_backend(
        Settings("kubo", endpoint=server.url),
        retry=RetryPolicy(attempts=1),
        deadline=1.5 if end == "deadline" else 60,
    )
    if end == "deadline":
        with pytest.raises(PublishError, match=r"sent no complete reply within 2 s"):
            publish(_request(), backend, ledger)
    else:
        check = cancel_after(2.5)  # well after the status line (17 bytes: 0.85 s)
        with pytest.raises(Cancelled):
            publish(_request(), backend, ledger, check=check)
    assert ledger.rows()[0].state == FAILED
    assert (ledger.rows()[0].error == "cancelled") == (end == "cancel")


def test_cancel_closes_the_connection_of_a_trickling_reply(server, ledger):
    backend = make_backend(Settings("kubo", endpoint=server.url))  # default deadline and read timeout
    server.inject("/api/v0/add", ("trickle", 0.2))
    check = cancel_after(0.5)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        publish(_request(), backend, ledger, check=check)
    assert time.monotonic() - t0 < 2.0
    deadline = time.monotonic() + 5
    while server.state.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.state.aborted == 1  # the client closed the connection; the server noticed
    assert ledger.rows()[0].error == "cancelled"


def test_an_error_body_is_read_only_up_to_a_cap(server, backend_for, ledger):
    size = 300_000_000
    server.inject("/upload", ("big-error", size))
    backend = backend_for("nftstorage", retry=RetryPolicy(attempts=1))
    with pytest.raises(PublishError, match=r"HTTP 500: E{20}") as err:
        publish(_request(), backend, ledger)
    assert len(str(err.value)) < 400
    deadline = time.monotonic() + 5
    while not server.state.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    (sent,) = server.state.sent
    assert sent < size // 10  # the client hung up after its cap; socket buffers hold the rest


def test_a_success_reply_of_gigabytes_is_read_only_up_to_a_cap(server, backend_for, ledger):
    """A 200 announcing 5 GB (and sending it) is cut at 8 MB and the connection closed: it costs no memory."""
    size = 5_000_000_000
    server.inject("/v3/files", ("big-error", size, 200))
    with pytest.raises(PublishError, match=r"sent a reply larger than 8 MB"):
        publish(_request(), backend_for("pinata", retry=RetryPolicy(attempts=1)), ledger)
    deadline = time.monotonic() + 5
    while not server.state.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    (sent,) = server.state.sent
    assert sent < 100_000_000 and ledger.rows()[0].state == FAILED


NFT_SHAPES = [
    {"ok": True, "value": {"cid": [1, 2]}},
    {"ok": True, "value": ["bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y"]},
    {"ok": True, "value": None},
    {"ok": True, "value": {"cid": "not a cid"}},
    ["ok"],
    {"ok": "yes", "value": {"cid": 1}},
]
SHAPES = [("nftstorage", s) for s in NFT_SHAPES] + [
    ("pinata", {"data": ["x"]}),
    ("pinata", {"data": {"cid": 5}}),
    ("pinata", []),
    ("kubo", 5),
    ("kubo", {"Hash": ["x"]}),
    ("kubo", {"Hash": None}),
]


@pytest.mark.parametrize("kind,payload", SHAPES, ids=lambda v: json.dumps(v)[:40])
def test_malformed_but_valid_json_replies_are_clear_errors(kind, payload, server, backend_for, ledger):
    server.inject(UPLOAD[kind], ("shape", payload))
    with pytest.raises(PublishError, match="unexpected reply"):
        publish(_request(), backend_for(kind), ledger)
    assert ledger.rows()[0].state == FAILED


@pytest.mark.parametrize(
    "kind,payload",
    [
        ("nftstorage", {"ok": True, "value": {"cid": 1}}),
        ("nftstorage", {"ok": True, "value": [{"cid": 1}]}),
        ("nftstorage", {"ok": True, "value": [{"cid": "x", "size": "big"}]}),
        ("pinata", {"data": {"files": {"cid": "x"}}}),
        ("pinata", {"data": {"files": [{"cid": None}]}}),
        ("pinata", ["files"]),
    ],
    ids=lambda v: json.dumps(v)[:40],
)
def test_a_malformed_listing_is_a_gallery_problem_not_a_traceback(kind, payload, server, backend_for, ledger):
    server.inject("/", ("shape", payload)) if kind == "nftstorage" else server.inject(
        "/v3/files/public", ("shape", payload)
    )
    entries, problem = gallery(ledger, backend_for(kind))
    assert entries == [] and "unexpected reply" in problem


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_non_finite_attribute_numbers_are_refused(text):
    with pytest.raises(md.MetadataError, match="not a finite number"):
        md.attribute("Power", text)
    with pytest.raises(md.MetadataError, match="not a finite number"):
        md.build_metadata(
            name="x",
            image_cid="bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y",
            attributes=[{"trait_type": "Power", "value": float(text)}],
        )


def test_a_proxy_from_the_environment_never_sees_the_token(server, ledger, monkeypatch):
    """HTTP(S)_PROXY / ALL_PROXY set (as on many company and campus networks), NO_PROXY not: a publish to
    a node on this computer went to the proxy, in plain HTTP with its RPC token (and the proxy would ask
    ITS OWN 127.0.0.1). Loopback goes direct, as Go's net/http does; an HTTPS service goes through the
    proxy as a CONNECT tunnel, so the proxy sees the host name and never the token."""
    server.state.kubo_token = TOKEN
    with FakeIpfsServer() as proxy:  # records every request it is sent, CONNECT included
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        fast = {"retry": RetryPolicy(attempts=1), "timeout": (2.0, 2.0)}
        for seed, host in enumerate(("127.0.0.1", "localhost")):
            url = server.url.replace("127.0.0.1", host)
            backend = make_backend(Settings("kubo", endpoint=url, token=TOKEN), **fast)
            assert publish(_request(seed), backend, ledger).state == "published", host
        assert proxy.state.hits == []
        assert server.state.hits and all(h.authorization == f"Bearer {TOKEN}" for h in server.state.hits)
        backend = make_backend(
            Settings(
                "pinata",
                endpoint="https://uploads.example.invalid",
                api_endpoint="https://api.example.invalid",
                token=TOKEN,
            ),
            **fast,
        )
        with pytest.raises(PublishError):  # the "proxy" refuses the tunnel
            publish(_request(9), backend, ledger)
        assert [(h.method, h.path, h.authorization) for h in proxy.state.hits] == [
            ("CONNECT", "uploads.example.invalid:443", "")
        ]


def test_netrc_credentials_never_replace_or_join_the_token(
    server, backend_for, ledger, monkeypatch, tmp_path
):
    """requests adds ~/.netrc (or $NETRC) credentials to a request that has no auth of its own, replacing the
    Authorization header: a `default` entry (an FTP password, say) went as Basic auth to the service instead
    of its token (a publish failed as "rejected the API token: check the token in the preferences") and to a
    local kubo node that needs none. The token is the only credential sent, or none."""
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login me password netrc-for-this-host\ndefault login me password ftp-password\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert publish(_request(1), backend_for("pinata"), ledger).state == "published"
    assert publish(_request(2), backend_for("kubo"), ledger).state == "published"  # an open node: no token
    assert [h.authorization for h in server.state.hits] == [f"Bearer {TOKEN}"] * 2 + [""] * 2


DEEP = b"[" * 100_000  # JSON nested deeper than Python's parser recurses: RecursionError, not ValueError


@pytest.mark.parametrize(
    "kind,status,body",
    [
        ("nftstorage", 200, DEEP),
        ("pinata", 200, DEEP),
        ("kubo", 200, DEEP),
        ("pinata", 200, b'{"data": {"cid": ' + b"[" * 990 + b"]" * 990 + b"}}"),  # parses; too deep to quote
        ("nftstorage", 400, DEEP),
        ("pinata", 500, DEEP),
    ],
    ids=["nftstorage-200", "pinata-200", "kubo-200", "pinata-990-levels", "nftstorage-400", "pinata-500"],
)
def test_a_reply_nested_too_deep_is_a_clear_error_not_a_traceback(
    kind, status, body, server, backend_for, ledger
):
    """A reply of 100 kB of '[': json.loads raised RecursionError, which no handler expected: the publish failed
    as "RecursionError: maximum recursion depth exceeded ...", the CLI printed a traceback, and the gallery lost
    the ledger's own rows with it."""
    server.inject(UPLOAD[kind], *[("raw", status, body)] * 4)
    with pytest.raises(PublishError) as err:
        publish(_request(), backend_for(kind), ledger)
    assert "Recursion" not in str(err.value) and len(str(err.value)) < 400
    (row,) = ledger.rows()
    assert row.state == FAILED and "Recursion" not in row.error
    listing = "/" if kind == "nftstorage" else "/v3/files/public"
    if kind != "kubo":
        server.inject(listing, ("raw", status, body))
        entries, problem = gallery(ledger, backend_for(kind, retry=RetryPolicy(attempts=1)))
        assert [e.state for e in entries] == [FAILED] and problem and "Recursion" not in problem


ODD_TOKEN = (
    'tok-\\"\u00e9-SECRET-never-logged'  # a backslash, a quote, a Latin-1 letter: quoted, each is escaped
)


@pytest.mark.parametrize(
    "kind,status,body",
    [
        ("nftstorage", 200, b'{"ok": true, "value": {"cid": ["{token}"]}}'),
        ("nftstorage", 200, b'{"ok": false, "error": {"message": {"key": "{token}"}}}'),
        ("nftstorage", 400, b'{"error": ["invalid key", "{token}"]}'),
        ("pinata", 200, b'{"data": {"cid": {"key": "{token}"}}}'),
        ("kubo", 200, b'{"Hash": ["{token}"]}'),
    ],
    ids=["value-json", "ok-false-dict", "error-list", "pinata-dict", "kubo-list"],
)
def test_a_token_quoted_with_escapes_is_blanked_too(kind, status, body, server, backend_for, ledger, caplog):
    """A service that quotes the token it was sent in an unexpected reply: the message quotes that reply as
    JSON or as Python shows it, where a backslash, a quote or a non-ASCII letter of the token is escaped
    (\\\\, \\", \\u00e9), so blanking the token as it is missed it: the token went into the error, the ledger and
    the log."""
    caplog.set_level(logging.DEBUG)
    server.inject(UPLOAD[kind], *[("raw", status, body)] * 4)  # {token}: the token sent, quoted as JSON does
    server.state.kubo_token = ODD_TOKEN
    with pytest.raises(PublishError) as err:
        publish(_request(), backend_for(kind, token=ODD_TOKEN), ledger)
    (row,) = ledger.rows()
    assert row.state == FAILED and "***" in row.error
    for text in (str(err.value), row.error, caplog.text):
        assert "SECRET" not in text, text


@pytest.mark.parametrize(
    "kind,field,value,token",
    [
        ("pinata", "endpoint", TOKEN, TOKEN),  # pasted into the endpoint field as well
        ("pinata", "endpoint", f"http://uploads.example.com/{TOKEN}", TOKEN),
        ("pinata", "endpoint", f"https://uploads.example.com/v3/{TOKEN}", TOKEN),
        ("pinata", "api_endpoint", f"https://api.example.com/{TOKEN}", TOKEN),
        ("kubo", "endpoint", TOKEN, ""),  # into the endpoint field in place of the token field
        ("kubo", "endpoint", f"http://node.example.com/{TOKEN}", ""),
        (
            "pinata",
            "gateway",
            f"https://gw.example.com/{TOKEN}/ipfs/",
            TOKEN,
        ),  # in every link, ledger, gallery
    ],
    ids=[
        "bare",
        "http-path",
        "https-path",
        "api-path",
        "bare-no-token",
        "http-path-no-token",
        "gateway-path",
    ],
)
def test_a_token_pasted_into_an_endpoint_is_never_quoted_or_sent(kind, field, value, token, server):
    """The endpoint was quoted in its refusal ("the endpoint 'eyJ...' is not an http(s) URL"), a message shown
    in Blender's status bar and Info log and written into a pending row's ledger note at start-up, and a token
    in an https endpoint's path was sent in the URL of every request (and recorded with the row's endpoint).
    (An https path with no token to compare it with is a service's own path, as far as NFTGan can tell.)"""
    settings = Settings(kind, token=token, **{"endpoint": server.url, field: value})
    with pytest.raises(PublishError) as err:
        make_backend(settings)
    assert "SECRET" not in str(err.value) and "never-logged" not in str(err.value), str(err.value)
    assert "token" in str(err.value) or value.startswith("http://")  # (refused as plain HTTP, path unquoted)
    assert server.state.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1",
        "https://uploads.example.com:99999",
        "https://uploads.example.com:port",
        "https://ex\u00e4mple..com",
    ],
)
def test_an_endpoint_no_request_can_go_to_is_refused_before_any_request(url):
    """'https://[::1' raised a bare ValueError out of make_backend (a traceback in Blender's Publish), and a host
    with an empty label (a typo's '..') failed the publish as "LocationParseError: ..." (a traceback on the
    command line)."""
    with pytest.raises(PublishError, match="endpoint"):
        make_backend(Settings("pinata", endpoint=url, token=TOKEN))


def test_a_proxy_nftgan_cannot_use_is_said_in_words(server, ledger, monkeypatch):
    """ALL_PROXY=socks5://... (Tor, an SSH tunnel) without PySocks: requests raises InvalidSchema, which the
    publish reported as "Pinata: Missing dependencies for SOCKS support." and the gallery let out as a traceback
    (losing the ledger's rows with it)."""
    secret = "socks5://proxyuser:proxy-SECRET@127.0.0.1:1080"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, secret)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        "pinata",
        endpoint="https://uploads.example.invalid",
        api_endpoint="https://api.example.invalid",
        token=TOKEN,
    )
    backend = make_backend(settings, retry=RetryPolicy(attempts=1))
    with pytest.raises(PublishError, match=r"proxy.*HTTPS_PROXY") as err:
        publish(_request(), backend, ledger)
    entries, problem = gallery(ledger, backend)
    assert [e.state for e in entries] == [FAILED] and "proxy" in problem
    for text in (str(err.value), ledger.rows()[0].error, problem):
        assert "SECRET" not in text, text


def test_settings_never_show_the_token():
    """Settings is a dataclass: its repr (a log line, a debugger, an error quoting it) held the token."""
    settings = Settings("pinata", endpoint="https://uploads.pinata.cloud", token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert TOKEN not in repr(make_backend(settings).__dict__)


@pytest.mark.parametrize(
    "kind,status,body",
    [
        ("nftstorage", 500, b"\x1b]0;pwned\x07\x1b[2J\x1b[31mrefused\r\nX-Injected: 1\x00\xc2\x9b"),
        (
            "pinata",
            400,
            b'{"error": {"message": "bad \\u001b[2J\\u001b]8;;https://evil.example\\u0007link"}}',
        ),
        ("nftstorage", 200, b'{"ok": false, "error": {"message": "over quota\\u001b[1A\\u001b[2K"}}'),
        ("pinata", 400, b'{"error": {"message": "see \\u202egnp.exe\\u2069 \\u2028X-Injected: 1"}}'),
    ],
    ids=["500-text", "400-json", "200-ok-false", "400-bidi"],
)
def test_control_characters_from_a_service_never_reach_a_message(
    kind, status, body, server, backend_for, ledger
):
    """A service's error text went into the message whole: terminal escape sequences (clear the screen, set the
    window title, a hidden hyperlink, move up and overwrite a line) were printed by `nftgan publish` to the
    terminal, and written into the ledger and the log with a fake 'X-Injected' line; a right-to-left override
    showed a name other than the one sent ("see exe.png")."""
    server.inject(UPLOAD[kind], *[("raw", status, body)] * 4)
    with pytest.raises(PublishError) as err:
        publish(_request(), backend_for(kind), ledger)
    for text in (str(err.value), ledger.rows()[0].error):
        assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")], repr(text)


@pytest.mark.parametrize("kind", ["nftstorage", "pinata"])
def test_a_listed_name_is_shown_cut_blanked_and_without_control_characters(kind, server, backend_for, ledger):
    """The gallery showed the names and dates a service lists as they came: a megabyte-long name in a Blender
    label redrawn with the sidebar, terminal escapes, or the token a careless service put in a name."""
    cid = "bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y"
    name, when = "\\u001b[2J{token} " + "N" * 1_000_000, "2026-12-08\\u001b]0;title\\u0007"
    if kind == "nftstorage":
        listed = (
            f'{{"ok": true, "value": [{{"cid": "{cid}", "pin": {{"name": "{name}"}}, "created": "{when}"}}]}}'
        )
        server.inject("/", *[("raw", 200, listed.encode())] * 2)
    else:
        listed = f'{{"data": {{"files": [{{"cid": "{cid}", "name": "{name}", "created_at": "{when}"}}]}}}}'
        server.inject("/v3/files/public", *[("raw", 200, listed.encode())] * 2)
    remote = backend_for(kind).list()
    entries, problem = gallery(ledger, backend_for(kind))
    assert problem == "" and [e.detail for e in entries] == [cid]
    for text in (remote[0].name, remote[0].created, entries[0].name):
        assert len(text) <= 200 and "SECRET" not in text, text[:300]
        assert not [c for c in text if unicodedata.category(c) == "Cc"], repr(text[:300])


PAGE = (
    b"<!DOCTYPE html><html><head><title>Pinata | Sign in</title></head><body>"
    + b"x" * 5000
    + b"</body></html>"
)


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
def test_a_web_page_in_place_of_the_apis_reply_is_said_at_once(kind, server, backend_for, ledger, sleeps):
    """The endpoint set to a service's web site (https://app.pinata.cloud, a sign-in page, a captive portal's
    page): its 200 HTML page was "unreadable reply body (5098 bytes)", retried with backoff until the tries ran
    out, and never said what was wrong."""
    server.inject(UPLOAD[kind], *[("raw", 200, PAGE, "text/html; charset=utf-8")] * 4)
    with pytest.raises(
        PublishError, match=r"answered with a web page \(text/html\), not its API's reply"
    ) as err:
        publish(_request(), backend_for(kind), ledger)
    assert "endpoint" in str(err.value) and sleeps == []  # not retried
    assert ledger.rows()[0].state == FAILED


def test_a_garbled_reply_is_said_without_the_libraries_class_names(server, backend_for, ledger):
    """A 200 whose body is not JSON (and not a web page): the message read "failed after 4 attempts: _BadBody:
    unreadable reply body (9 bytes)", a private class name of NFTGan's."""
    server.inject("/upload", *[("raw", 200, b"not json!", "application/json")] * 4)
    with pytest.raises(PublishError) as err:
        publish(_request(), backend_for("nftstorage"), ledger)
    assert str(err.value).endswith("failed after 4 attempts: unreadable reply body (9 bytes)"), str(err.value)


def test_the_offline_backends_text_is_shown_without_control_characters(tmp_path):
    """Offline has no HTTP client, and its `redact` only cut the text: a shared folder's file name with terminal
    escapes went whole into an error, the ledger's row and `nftgan publish`'s terminal."""
    offline = make_backend(Settings("offline", endpoint=str(tmp_path)))
    text = offline.redact("cannot write /shared/\x1b]0;pwned\x07\x1b[2Jx\u202egnp.png\r\nX-Injected: 1")
    assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")], repr(text)
    assert text.startswith("cannot write /shared/")
