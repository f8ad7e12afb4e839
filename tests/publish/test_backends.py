"""Publishing through the real HTTP test server (127.0.0.1) with injected faults.

Each test checks what arrived at the server against the original bytes, and what the ledger says.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
import requests
from nftgan.core.errors import PublishError, TokenRejected
from nftgan.core.publish import car
from nftgan.core.publish.backends import LABELS, NftStorage, Settings, make_backend
from nftgan.core.publish.http import RetryPolicy
from nftgan.core.publish.ledger import FAILED, PUBLISHED, STAGED
from nftgan.core.publish.service import Request, gallery, prepare, publish, upload_command

from .conftest import TOKEN, cancel_after, png_bytes
from .ipfs_server import RATE

UPLOAD = {"nftstorage": "/upload", "pinata": "/v3/files", "kubo": "/api/v0/add"}


def _request(name="Dawn", seed=0, **kw):
    return Request(image=png_bytes(32, seed), name=name, description="a test", **kw)


def _assert_arrived(server, prepared):
    for item in prepared.items.values():
        stored = server.state.files[str(item.dag.root)]
        assert stored.data == item.data


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
def test_publish_delivers_the_right_bytes(kind, server, backend_for, ledger):
    prepared = prepare(_request(animation=b"glTF" + bytes(range(256)) * 40))
    row = publish(prepared, backend_for(kind), ledger)
    assert row.state == PUBLISHED
    assert row.token_uri == f"ipfs://{prepared.items['metadata'].dag.root}"
    assert row.image_cid == str(prepared.items["image"].dag.root)
    assert row.gateway_url.endswith(row.image_cid)
    _assert_arrived(server, prepared)
    meta = json.loads(server.state.files[row.metadata_cid].data)
    assert meta["image"] == f"ipfs://{row.image_cid}" and meta["animation_url"].startswith("ipfs://bafkrei")
    assert [h.path.split("?")[0] for h in server.state.hits] == [
        UPLOAD[kind]
    ] * 3  # image, animation, metadata
    if kind == "kubo":
        assert "cid-version=1" in server.state.hits[0].path and "pin=true" in server.state.hits[0].path


FAULTS = ["500", ("429", 3), ("stall", 30), "drop", "truncate"]
# A stalled reply never comes before the client's read timeout, however loaded the machine: the server waits
# for the client to hang up. The healthy replies must beat the read timeout: 8 ms each (median), up to 0.31 s
# with the test held to a quarter of one core (0.3 s was the timeout: an extra retry on a loaded machine).
STALL_READ_TIMEOUT = 1.0


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f if isinstance(f, str) else f[0])
def test_every_transient_fault_ends_in_success_after_retry(kind, fault, server, backend_for, ledger, sleeps):
    server.inject(UPLOAD[kind], fault, "pass", fault)  # the image and the metadata each hit once
    prepared = prepare(_request())
    backend = (
        backend_for(kind, timeout=(2.0, STALL_READ_TIMEOUT)) if fault[0] == "stall" else backend_for(kind)
    )
    row = publish(prepared, backend, ledger)
    assert row.state == PUBLISHED and [r.state for r in ledger.rows()] == [PUBLISHED]
    _assert_arrived(server, prepared)
    assert len(sleeps) == 2  # one retry each for the image and the metadata
    if fault[0] == "429":
        assert sleeps == [3.0, 3.0]  # Retry-After honoured, not the (tiny) backoff
    if fault[0] == "stall":
        assert server.state.hung_up == 2  # each retry came from the client's read timeout


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
def test_wrong_cid_is_a_failure_never_published(kind, server, backend_for, ledger):
    server.inject(UPLOAD[kind], "wrong-cid")
    with pytest.raises(PublishError, match="did not verify"):
        publish(_request(), backend_for(kind), ledger)
    (row,) = ledger.rows()
    assert row.state == FAILED and "did not verify" in row.error and not row.token_uri
    assert len(server.state.hits) == 1  # stopped at the image: no metadata naming an unverified image


def test_persistent_errors_fail_clearly_after_bounded_retries(server, backend_for, ledger, sleeps):
    server.inject("/upload", *["500"] * 10)
    with pytest.raises(PublishError, match=r"failed after 4 attempts: HTTP 500"):
        publish(_request(), backend_for("nftstorage"), ledger)
    assert ledger.rows()[0].state == FAILED and len(sleeps) == 3
    server.inject("/api/v0/add", ("429", 3600))
    with pytest.raises(PublishError, match="asked to wait 3600 s"):
        publish(_request(seed=1), backend_for("kubo"), ledger)
    hits = len(server.state.hits)
    server.inject("/v3/files", "redirect")  # never followed: the token would go along
    with pytest.raises(
        PublishError,
        match=r"redirected to https://elsewhere.example/v3/files \(HTTP 307\); NFTGan follows no redirect.*if that address is your service.s own",
    ):
        publish(_request(seed=2), backend_for("pinata"), ledger)
    assert len(server.state.hits) == hits + 1


def test_nothing_listening_at_the_endpoint_is_said_in_words(backend_for, ledger, sleeps):
    """A kubo node that is not running: its host and "connection refused", not urllib3's wrappers
    ("HTTPConnectionPool(...): Max retries exceeded ... (Caused by NewConnectionError(..." cut at 160)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PublishError) as failed:
        publish(_request(), backend_for("kubo", endpoint=f"http://127.0.0.1:{port}"), ledger)
    message = str(failed.value)
    assert f"failed after 4 attempts: no connection to 127.0.0.1:{port} (connection refused)" in message
    assert "is the service running" in message and "Pool" not in message, message


@pytest.mark.parametrize("kind", ["nftstorage", "kubo"])
@pytest.mark.parametrize("fault", ["drop", "truncate"])
def test_a_connection_that_keeps_breaking_is_said_in_words(kind, fault, server, backend_for, ledger, sleeps):
    """The service closes the connection before its reply (or half-way through it) on every try: the message
    names the host, says the connection broke and what to do, not requests' and http.client's reprs
    ("ConnectionError: ('Connection aborted.', RemoteDisconnected('Remote end closed connection without
    response'))", "ChunkedEncodingError: ('Connection broken: IncompleteRead(57 bytes read, ...")."""
    server.inject(UPLOAD[kind], *[fault] * 4)
    with pytest.raises(PublishError) as failed:
        publish(_request(), backend_for(kind), ledger)
    message, host = str(failed.value), server.url.split("//")[1]
    assert f"failed after 4 attempts: the connection to {host} broke before" in message, message
    assert "check the network and the service, and publish again" in message, message
    assert "Error(" not in message and "IncompleteRead(" not in message, message
    assert ledger.rows()[0].state == FAILED


@pytest.mark.parametrize("kind", ["nftstorage", "pinata"])
def test_rejected_token_is_reported_as_such(kind, server, backend_for, ledger):
    with pytest.raises(TokenRejected, match=r"rejected the API token.*preferences"):
        publish(_request(), backend_for(kind, token="wrong-token"), ledger)
    assert ledger.rows()[0].state == FAILED and len(server.state.hits) == 1  # no retries of a 401
    with pytest.raises(PublishError, match="needs an API token: set it in the NFTGan add-on preferences"):
        backend_for(kind, token="")  # Blender's settings: the token is set in the preferences


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
def test_a_token_too_short_to_blank_safely_is_refused_before_any_request(kind, server, backend_for):
    """A 1-character token ("x") was blanked wherever it stood in a service's message: "Ma*** retries
    e***ceeded". Refused instead, with a message that says so and does not repeat it."""
    with pytest.raises(PublishError) as err:
        backend_for(kind, token=" x ")
    message = str(err.value)
    assert (
        f"{LABELS[kind]}: the API token in the NFTGan add-on preferences is only 1 character(s) long"
        in message
    )
    assert "a real one is at least 8 (was most of it lost when pasting?). Set the whole token." in message
    assert "*" not in message and server.state.hits == []
    assert backend_for(kind, token="8-chars!").http is not None  # as short as a token may be


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
def test_a_token_too_long_for_any_service_is_refused_before_any_request(kind, server, backend_for):
    """A file pasted as the token (1 MB): it was sent, and the service's "HTTP 431" error page was the message
    ("refused the request (HTTP 431): <!DOCTYPE HTML> ..."), saying nothing of the token."""
    with pytest.raises(PublishError) as err:
        backend_for(kind, token="A" * 1_000_000)
    assert (
        f"{LABELS[kind]}: the API token in the NFTGan add-on preferences is 1000000 characters long"
        in str(err.value)
    )
    assert "AAAAAAAA" not in str(err.value) and server.state.hits == []
    assert backend_for(kind, token="J" * 8192).http is not None  # as long as a token may be


@pytest.mark.parametrize("kind", ["nftstorage", "pinata", "kubo"])
@pytest.mark.parametrize(
    "inside,said",
    [
        ("\n", "a line break"),
        ("\r\n", "a line break"),
        ("\x00", "the control character U+0000"),
        ("\u2026", "the character '\u2026' (U+2026)"),
    ],
)
def test_a_token_an_http_header_cannot_carry_is_refused_without_repeating_it(
    kind, inside, said, server, backend_for, caplog
):
    """A JWT pasted across two lines ($NFTGAN_TOKEN="$(cat jwt.txt)" of a wrapped file): requests refused the
    header with the whole token in its message, quoted as repr ('...\\n...'), which the blanking (of the
    token as it is) missed: the message and the ledger's row held it. A typographic character ("…" from a
    paste) raised a bare UnicodeEncodeError. Refused before any request, naming where it is set."""
    caplog.set_level(logging.DEBUG)
    token = TOKEN[:12] + inside + TOKEN[12:]
    with pytest.raises(PublishError) as err:
        backend_for(kind, token=token)
    message = str(err.value)
    assert (
        f"{LABELS[kind]}: the API token in the NFTGan add-on preferences contains {said} (character 13 of "
        f"{len(token)}), which cannot be sent in an HTTP header" in message
    ), message
    for text in (message, caplog.text):
        assert not any(TOKEN[i : i + 5] in text for i in range(len(TOKEN) - 4)), text
    assert server.state.hits == []


def test_kubo_rpc_authorization(server, backend_for, ledger):
    server.state.kubo_token = "kubo-secret"
    with pytest.raises(TokenRejected, match="HTTP 403"):
        publish(_request(), backend_for("kubo"), ledger)
    assert publish(_request(seed=2), backend_for("kubo", token="kubo-secret"), ledger).state == PUBLISHED


def test_over_limit_size_is_refused_before_any_upload(server, backend_for, ledger, monkeypatch):
    backend = backend_for("pinata")
    monkeypatch.setattr(backend, "max_file_bytes", 1000)
    with pytest.raises(PublishError, match=r"accepts files up to 0 MB; this one is"):
        publish(_request(), backend, ledger)
    assert server.state.hits == [] and ledger.rows() == []


def test_nftstorage_splits_big_uploads_into_cars(server, backend_for, ledger, monkeypatch):
    monkeypatch.setattr(NftStorage, "request_limit", 300_000)
    image = os.urandom(700_000)  # 3 chunks: does not fit one 300 kB request
    prepared = prepare(Request(image=image, name="big"))
    row = publish(prepared, backend_for("nftstorage"), ledger)
    assert row.state == PUBLISHED
    uploads = [h for h in server.state.hits if h.path == "/upload"]
    assert len(uploads) == 4 and all(h.size for h in uploads)  # 3 CARs for the image + the metadata
    assert server.state.files[row.image_cid].data == image  # rebuilt by the server from the CAR blocks


def test_server_rate_limit_and_client_throttle(server, backend_for):
    s = requests.Session()
    codes = [
        s.get(f"{server.url}/check/bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y").status_code
        for _ in range(RATE[0] + 1)
    ]
    assert codes[:-1] == [404] * RATE[0] and codes[-1] == 429  # 429 after 30 requests in 10 s
    backend = backend_for("nftstorage")
    assert (backend.http.throttle.limit, backend.http.throttle.period) == RATE  # client keeps the same limit
    # with real clocks on both sides (a 0.5 s window to keep it short) the throttle never meets a 429
    server.state.rate, server.state.window = (5, 0.5), type(server.state.window)()
    backend.http.throttle.limit, backend.http.throttle.period = 5, 0.5
    backend.http.throttle.sleep = time.sleep  # (the fixture's sleep is instant)
    t0 = time.monotonic()
    for _ in range(12):
        assert backend.list(1) == []
    assert time.monotonic() - t0 >= 1.0  # it waited for the window twice ...
    assert not any(h.status == 429 for h in server.state.hits[-12:])  # ... instead of being refused


def test_check_list_and_gallery(server, backend_for, ledger):
    backend = backend_for("nftstorage")
    publish(_request(), backend, ledger)
    other = png_bytes(32, 9)  # uploaded by someone else / another computer: only the service lists it
    requests.post(f"{server.url}/upload", data=other, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    entries, problem = gallery(ledger, backend)
    assert problem == ""
    assert [e.state for e in entries] == ["published", "remote"]
    assert entries[0].image_path and Path(entries[0].image_path).read_bytes() == png_bytes(32, 0)
    assert entries[1].token_uri.startswith("ipfs://") and entries[1].gateway_url.startswith(
        "https://nftstorage.link"
    )
    pin = backend_for("pinata")
    publish(_request(name="P"), pin, ledger)
    assert [i.name for i in pin.list()] == ["P.json", "P.png"]
    entries, problem = gallery(ledger, backend_for("pinata", token="bad-token"))
    assert "rejected the API token" in problem and len(entries) == 2  # the ledger part still shows


def test_offline_folder_holds_files_cars_and_manifest(tmp_path, ledger):
    out = tmp_path / "out"
    backend = make_backend(Settings("offline", endpoint=str(out)), online_allowed=False)
    prepared = prepare(_request())
    row = publish(prepared, backend, ledger)
    # on disk, not on IPFS: staged, with no gateway link, and the command that uploads the CARs
    assert row.state == STAGED and row.backend == "offline" and row.gateway_url == ""
    assert upload_command(row) == "ipfs dag import " + " ".join(
        str(out / f"{cid}.car") for cid in (row.image_cid, row.metadata_cid)
    )
    (entry,) = gallery(ledger)[0]
    assert entry.state == STAGED and entry.detail == upload_command(row)
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["entries"]
    assert entry["token_uri"] == row.token_uri
    for role, item in prepared.items.items():
        info = entry["files"][role]
        assert info["cid"] == str(item.dag.root)
        assert (out / info["file"]).read_bytes() == item.data
        roots, blocks = car.read_car((out / info["car"]).read_bytes())
        assert roots == [item.dag.root] and dict(blocks) == item.dag.blocks
    publish(_request(name="second", seed=3), backend, ledger)
    assert len(json.loads((out / "manifest.json").read_text())["entries"]) == 2


def test_an_offline_folder_that_is_a_file_says_so(tmp_path, ledger):
    """The Offline folder set to a file's path (a typo, or the manifest picked instead of its folder) failed with
    "Offline: the folder /x/manifest.json: File exists", as if a folder of that name were in the way."""
    (tmp_path / "nft").write_text("not a folder")
    for endpoint in (tmp_path / "nft", tmp_path / "nft" / "out"):
        backend = make_backend(Settings("offline", endpoint=str(endpoint)), online_allowed=False)
        with pytest.raises(PublishError) as err:
            publish(prepare(_request()), backend, ledger)
        said = str(err.value)
        assert "File exists" not in said and "Not a directory" not in said, said
        assert f"{tmp_path / 'nft'} is a file, not a folder" in said, said


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symbolic links")
def test_an_offline_folder_never_writes_through_a_link_planted_in_it(tmp_path, ledger):
    """An Offline folder others can write to (./nft-offline in a shared folder, made by someone else): each
    file was written to `<name>.<process id>.tmp` opened as it was, so a link planted at that name (the CID is
    the picture's, process ids run in order) had NFTGan's bytes written into the file it points to, e.g. the
    user's ~/.bashrc overwritten with manifest.json. The link is replaced; the file it points to is left as it was."""
    out, victims = tmp_path / "shared" / "nft-offline", tmp_path / "home"
    out.mkdir(parents=True)
    victims.mkdir()
    prepared = prepare(_request())
    names = [f"{item.dag.root}{os.path.splitext(item.filename)[1]}" for item in prepared.items.values()]
    names += [f"{item.dag.root}.car" for item in prepared.items.values()] + ["manifest.json"]
    for i, name in enumerate(names):
        (victims / f"file{i}").write_text("the user's own")
        os.symlink(victims / f"file{i}", out / f"{name}.{os.getpid()}.tmp")
    row = publish(prepared, make_backend(Settings("offline", endpoint=str(out))), ledger)
    assert row.state == STAGED
    assert [(victims / f"file{i}").read_text() for i in range(len(names))] == ["the user's own"] * len(names)
    assert json.loads((out / "manifest.json").read_text())["entries"][0]["token_uri"] == row.token_uri
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, ".manifest.lock"])  # no .tmp left


def test_an_offline_folder_never_locks_through_a_link_planted_at_its_lock(tmp_path, ledger):
    """The Offline folder's `.manifest.lock` was opened as it was (created if need be): a link planted at that
    name made NFTGan create a file wherever it pointed. Now the publish is refused, saying why, and nothing is
    made where the link points."""
    out, victim = tmp_path / "shared" / "nft-offline", tmp_path / "home" / "made-by-nftgan"
    out.mkdir(parents=True)
    victim.parent.mkdir()
    os.symlink(victim, out / ".manifest.lock")
    with pytest.raises(PublishError, match=r"\.manifest\.lock is a link.*remove the link"):
        publish(prepare(_request()), make_backend(Settings("offline", endpoint=str(out))), ledger)
    assert not victim.exists()


def test_online_access_off_allows_only_offline(server):
    with pytest.raises(PublishError, match="online access is off"):
        make_backend(Settings("kubo", endpoint=server.url), online_allowed=False)
    with pytest.raises(PublishError, match="HTTPS"):
        make_backend(Settings("nftstorage", endpoint="http://api.nft.storage", token=TOKEN))


def test_token_never_in_logs_ledger_metadata_or_errors(server, backend_for, ledger, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # everything, urllib3's connection logging included
    server.inject("/upload", "500", "drop", ("429", 1))
    row = publish(_request(), backend_for("nftstorage"), ledger)
    server.inject("/upload", "wrong-cid")
    with pytest.raises(PublishError) as err:
        publish(_request(seed=5), backend_for("nftstorage"), ledger)
    with pytest.raises(TokenRejected) as err401:
        publish(_request(seed=6), backend_for("nftstorage", token=TOKEN + "x"), ledger)
    server.inject("/upload", "echo-auth")
    with pytest.raises(TokenRejected, match=r"invalid credentials: Bearer \*\*\*") as echoed:
        publish(_request(seed=7), backend_for("nftstorage"), ledger)
    assert "retry" in caplog.text  # the retries were logged ...
    for text in (
        caplog.text,
        str(err.value),
        str(err401.value),
        str(echoed.value),
        repr(backend_for("nftstorage").http),
    ):
        assert TOKEN not in text  # ... without the token
    folder = ledger.path.parent
    for root, _, files in os.walk(folder):
        for name in files:
            assert TOKEN.encode() not in Path(root, name).read_bytes(), name
    assert TOKEN.encode() not in server.state.files[row.metadata_cid].data
    assert all(h.authorization == f"Bearer {TOKEN}" for h in server.state.hits if h.status == 200)


def test_cancel_ends_a_long_retry_after_wait_at_once(server, ledger):
    from nftgan.core.errors import Cancelled

    backend = make_backend(Settings("kubo", endpoint=server.url), retry=RetryPolicy(attempts=2))  # real sleep
    server.inject("/api/v0/add", ("429", 60))
    check = cancel_after(0.3)
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        publish(_request(), backend, ledger, check=check)
    assert time.monotonic() - t0 < 2.0  # not the 60 s the service asked for
    assert ledger.rows()[0].error == "cancelled"


def test_cancel_stops_between_attempts(server, backend_for, ledger):
    from nftgan.core.errors import Cancelled

    backend = backend_for("kubo")
    stop = threading.Event()

    def check():
        if stop.is_set():
            raise Cancelled()

    backend.http.check = check
    server.inject("/api/v0/add", "500", "500", "500")
    backend.http.sleep = lambda s: stop.set()
    with pytest.raises(Cancelled):
        publish(_request(), backend, ledger)
    assert ledger.rows()[0].state == FAILED and ledger.rows()[0].error == "cancelled"


@pytest.mark.parametrize("kind", ["nftstorage", "kubo"])
def test_upload_progress_and_cancel_mid_upload(kind, server, backend_for, ledger):
    from nftgan.core.errors import Cancelled

    image = os.urandom(3_000_000)
    seen = []
    row = publish(
        Request(image=image, name="big"), backend_for(kind), ledger, progress=lambda f, m: seen.append(f)
    )
    assert row.state == PUBLISHED and server.state.files[row.image_cid].data == image
    within_image = [f for f in seen if 0 < f < 0.5]
    assert len(within_image) >= 8 and within_image == sorted(within_image)  # the bar moves while sending

    stop = threading.Event()

    def check():
        if stop.is_set():
            raise Cancelled()

    def progress(fraction, _message):
        if fraction > 0.1:
            stop.set()  # the user presses Cancel while the image is on its way

    stored = len(server.state.files)
    with pytest.raises(Cancelled):
        publish(
            Request(image=os.urandom(3_000_000), name="cancelled"),
            backend_for(kind),
            ledger,
            progress=progress,
            check=check,
        )
    assert len(server.state.files) == stored  # the upload was cut off: nothing arrived whole
    assert ledger.rows()[0].state == FAILED and ledger.rows()[0].error == "cancelled"
