"""Token metadata validation, endpoint rules, backoff and the client-side throttle (no network)."""

from __future__ import annotations

import json
import random

import pytest
from nftgan.core.errors import PublishError
from nftgan.core.publish import metadata as md
from nftgan.core.publish.http import RetryPolicy, Throttle, _retry_after, check_endpoint

IMAGE = "bafkreigs4kw7of33pkfp3w6bfuldjtzd5inhcaqpnijqqbykczaa7nup3y"


def test_a_stage_run_again_is_numbered_so_each_trait_names_one_thing():
    """A result restyled twice records Colorize, Stylize, Stylize: the second Stylize's traits were a second
    "Stylize style" (and model version, strength) beside the first, which marketplaces show as one trait with
    two values, or drop."""
    attrs = md.nftgan_attributes(
        models=[
            {"kind": "colorize", "name": "Flat Colour", "version": "2"},
            {"kind": "stylize", "name": "3D Clay", "version": "5"},
            {"kind": "stylize", "name": "Ink wash", "version": "3", "strength": 0.5},
        ]
    )
    types = [a["trait_type"] for a in attrs]
    assert len(types) == len(set(types)), types
    traits = {a["trait_type"]: a["value"] for a in attrs}
    assert traits["Stylize style"] == "3D Clay" and traits["Stylize 2 style"] == "Ink wash", traits
    assert traits["Stylize 2 model version"] == "3" and traits["Stylize 2 strength"] == 0.5, traits
    assert traits["Colorize style"] == "Flat Colour" and "Colorize 2 style" not in traits, traits


def test_build_metadata_erc721_opensea_shape():
    attrs = md.nftgan_attributes(
        models=[{"kind": "stylize", "name": "Ink wash", "version": "3"}],
        sketch_cid=IMAGE,
        width=64,
        height=32,
        software="NFTGan 0.1.0",
    )
    meta = md.build_metadata(
        name=" Dawn ",
        description="first light",
        image_cid=IMAGE,
        external_url="https://example.org/dawn",
        attributes=attrs,
        background_color="#FFAA00",
        animation_cid=IMAGE,
    )
    assert list(meta) == [
        "name",
        "description",
        "image",
        "external_url",
        "attributes",
        "background_color",
        "animation_url",
    ]
    assert (
        meta["name"] == "Dawn" and meta["image"] == f"ipfs://{IMAGE}" and meta["background_color"] == "ffaa00"
    )
    traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    assert traits == {
        "Stylize style": "Ink wash",
        "Stylize model version": "3",
        "Source sketch": f"ipfs://{IMAGE}",
        "Width": 64,
        "Height": 32,
        "Software": "NFTGan 0.1.0",
    }
    assert json.loads(md.to_json_bytes(meta)) == meta


def test_validate_lists_every_problem():
    bad = {
        "name": "",
        "image": "https://x.org/a.png",
        "background_color": "red",
        "tokenId": 3,
        "external_url": "ftp://x",
        "attributes": [
            {"trait_type": "A", "value": True},
            {"trait_type": "B", "value": "x", "display_type": "number"},
            {"value": 1},
            "nope",
        ],
    }
    with pytest.raises(md.MetadataError) as err:
        md.validate(bad)
    msg = str(err.value)
    for needle in (
        "name is required",
        "image must be an ipfs://CID",
        "background_color",
        "unknown key 'tokenId'",
        "external_url",
        "attributes[0]",
        "needs a numeric value",
        "attributes[2]: trait_type",
        "attributes[3] must be an object",
    ):
        assert needle in msg
    with pytest.raises(md.MetadataError, match="not a valid CID"):
        md.build_metadata(name="x", image_cid="bafkreinotacid")


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://api.nft.storage/", True),
        ("http://127.0.0.1:5001", True),
        ("http://localhost:9", True),
        ("http://[::1]:5001", True),
        ("http://api.nft.storage", False),
        ("ftp://x.org", False),
        ("https://user:pw@x.org", False),
        ("http://10.0.0.5:5001", False),
    ],
)
def test_https_required_except_loopback(url, ok):
    if ok:
        assert not check_endpoint(url, "svc").endswith("/")
    else:
        with pytest.raises(PublishError):
            check_endpoint(url, "svc")


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(base=0.5, cap=4.0, rng=random.Random(0))
    for retry in range(8):
        waits = [policy.backoff(retry) for _ in range(200)]
        assert 0 <= min(waits) and max(waits) <= min(4.0, 0.5 * 2**retry)
        assert max(waits) > 0.5 * min(4.0, 0.5 * 2**retry)  # full jitter spreads over the range
    assert _retry_after("7") == 7.0 and _retry_after("soon") is None and _retry_after(None) is None
    assert 0 <= _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_throttle_keeps_the_published_rate():
    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    throttle = Throttle(30, 10.0, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _ in range(75):
        throttle.wait()
        stamps.append(now[0])
        now[0] += 0.01
    for i in range(len(stamps) - 30):
        assert stamps[i + 30] - stamps[i] >= 10.0 - 1e-6  # never 31 requests inside any 10 s window
    assert stamps[-1] < 21.0  # and no slower than needed
    assert len(waits) == 2
