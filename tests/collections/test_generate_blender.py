"""Generate and Publish Collection inside real Blender (the bpy module), with the real extension zip
installed by Blender's installer (tests/addon/conftest.py) and the shared exported DCGAN model."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
from nftgan.core import generate as core

from ..addon.conftest import pixels_of
from ..addon.test_blender import START_UP, start_up_env
from ..addon.test_publish_blender import _Layout

bpy = pytest.importorskip("bpy")


def _run(blender, op, *args):
    assert op(*args) == {"FINISHED"}
    assert blender.runtime.worker.wait_idle(60)
    (job,) = [j for j in blender.runtime.drain()]
    assert job.state == "done", job.error
    return job


@pytest.fixture
def gen_props(blender, scene, generate_model):
    props = scene.nftgan_generate
    props.generate_id = "generate"  # the shared model's file name
    return props


def test_generate_makes_reproducible_images_and_a_grid(blender, gen_props, generate_model):
    gen_props.count, gen_props.seed = 4, 7
    _run(blender, bpy.ops.nftgan.generate)
    info = core.load_model(generate_model)
    expected = core.run(info, core.latents(core.seeds_plan(7, 4), info.latent))
    for seed, want in zip(range(7, 11), expected):
        image = bpy.data.images[f"{info.name} seed{seed:06d}"]
        assert tuple(image.size) == (info.size, info.size)
        assert image["nftgan_seed"] == seed and image["nftgan_stage"] == "generate"
        assert image.packed_file is not None  # kept in the .blend
        assert np.abs(pixels_of(image) - want).max() <= 0.5 / 255 + 1e-6  # `nftgan generate`'s pixels (8-bit)
    grid = bpy.data.images[f"{info.name} grid"]
    assert grid.size[0] > 2 * info.size and grid.size[1] > 2 * info.size
    first = pixels_of(bpy.data.images[f"{info.name} seed000008"]).copy()
    _run(blender, bpy.ops.nftgan.generate)  # again: the same images under the same names, not copies
    assert np.array_equal(pixels_of(bpy.data.images[f"{info.name} seed000008"]), first)
    assert not any(im.name.endswith(".001") for im in bpy.data.images)
    assert "Generated 4 images" in blender.runtime.last_report[1]
    # a sample painted on is kept as it is; the same seed's new image comes beside it
    sample = bpy.data.images[f"{info.name} seed000008"]
    painted = np.zeros(len(sample.pixels), np.float32)
    sample.pixels.foreach_set(painted)
    _run(blender, bpy.ops.nftgan.generate)
    assert np.array_equal(pixels_of(sample), painted.reshape(pixels_of(sample).shape))
    assert np.array_equal(pixels_of(bpy.data.images[f"{info.name} seed000008.001"]), first)
    assert [im.name for im in bpy.data.images if im.name.endswith(".001")] == [f"{info.name} seed000008.001"]
    assert (
        f"'{info.name} seed000008' had paint on it and was kept; the new result is '{info.name} seed000008.001'."
        in blender.runtime.last_report[1]
    )


def test_a_generated_sample_is_restyled_without_colorize(blender, gen_props, generate_model):
    """A generated sample is in colour already: Stylize of it skips Colorize (which re-colourised it as a line
    sketch, "... seed000007 colorized"), and its Stylize style alone restyles it; the result records the
    generator that made the sample, then the Stylize style."""
    gen_props.count, gen_props.seed = 1, 7
    _run(blender, bpy.ops.nftgan.generate)
    sample = f"{core.load_model(generate_model).name} seed000007"
    _run(blender, lambda: bpy.ops.nftgan.stylize(image=sample))
    while blender.runtime.pending_steps():  # (the result's write and the report: main-thread steps)
        blender.runtime.drain(step=True)
    assert f"{sample} colorized" not in bpy.data.images
    kinds = [r["kind"] for r in blender.images.models_of(bpy.data.images[f"{sample} stylized"])]
    assert kinds == ["generate", "stylize"]
    assert blender.runtime.last_report[1].endswith(
        f"Colorize skipped: '{sample}' (an NFTGan result) is in colour already"
    )


def test_generate_interpolates_between_seeds(blender, gen_props, generate_model):
    gen_props.count, gen_props.seed, gen_props.seed_to, gen_props.variation = 3, 2, 5, "INTERPOLATE"
    _run(blender, bpy.ops.nftgan.generate)
    info = core.load_model(generate_model)
    ends = core.run(info, core.latents(core.seeds_plan(2, 1) + core.seeds_plan(5, 1), info.latent))
    walk = [bpy.data.images[f"{info.name} seed000002-000005-t{t}"] for t in ("0.000", "0.500", "1.000")]
    assert np.abs(pixels_of(walk[0]) - ends[0]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(pixels_of(walk[2]) - ends[1]).max() <= 0.5 / 255 + 1e-6
    assert walk[1]["nftgan_t"] == pytest.approx(0.5)
    assert not np.allclose(pixels_of(walk[1]), pixels_of(walk[0]))


def test_seeds_past_what_blender_can_record_are_refused_up_front(blender, gen_props, generate_model):
    """Seed is a 32-bit property and each image records its seed in one: Seed + Count - 1 past 2**31 - 1
    used to leave some images without their seed, no grid and no message (the main thread's write failed)."""
    top = 2**31 - 1
    gen_props.count, gen_props.seed = 3, top - 1
    with pytest.raises(RuntimeError, match=f"lower Seed to {top - 2} or less"):
        bpy.ops.nftgan.generate()
    with pytest.raises(RuntimeError, match=f"lower Seed to {top - 2} or less"):
        bpy.ops.nftgan.publish_collection("EXEC_DEFAULT")
    assert not bpy.data.images
    gen_props.count = 2  # the last seed Blender can record is fine
    _run(blender, bpy.ops.nftgan.generate)
    info = core.load_model(generate_model)
    assert bpy.data.images[f"{info.name} seed{top:06d}"]["nftgan_seed"] == top
    assert "Generated 2 images" in blender.runtime.last_report[1]


def test_a_generate_lets_go_of_its_pixels_once_they_are_written(blender, gen_props):
    """The job kept its result (every sample's floats and the grid's) and the slot kept the job, so the write's
    `payload[0] = None` freed nothing: all of them stayed in memory until the next Generate."""
    import gc
    import weakref

    gen_props.count, gen_props.seed = 3, 1
    assert bpy.ops.nftgan.generate() == {"FINISHED"}
    assert blender.runtime.worker.wait_idle(60)
    job = blender.generate.SLOT._jobs["generate"]
    floats = [weakref.ref(payload[0]) for payload in job.result[1]]
    assert len(floats) == 4  # (3 samples and the grid)
    assert blender.runtime.drain() == [job]  # applied, and its writes run to their end
    assert "Generated 3 images" in blender.runtime.last_report[1]
    gc.collect()
    assert [ref for ref in floats if ref() is not None] == []
    assert job.result is None and blender.generate.SLOT.current() is None
    assert job not in blender.generate.SLOT._jobs.values()


def test_a_generates_write_over_many_ticks_redraws_a_few_times(blender, gen_props, monkeypatch):
    """Each timer tick of a write redrew every Image Editor and 3D viewport, ~100 times a second while the
    pieces ran (`STEP_INTERVAL`): now a tick redraws when its step ended, else at most every `REDRAW_INTERVAL`."""
    runtime = blender.runtime
    redraws = []
    monkeypatch.setattr(runtime, "redraw", lambda: redraws.append(time.perf_counter()))
    gen_props.count, gen_props.seed = 16, 1
    assert bpy.ops.nftgan.generate() == {"FINISHED"}
    assert runtime.worker.wait_idle(60)
    t0, ticks = time.perf_counter(), 0
    runtime._timer()  # the job's callback queues the write
    while runtime.pending_steps():
        runtime._timer()
        ticks += 1
    elapsed = time.perf_counter() - t0
    assert "Generated 16 images" in runtime.last_report[1]
    assert ticks >= 17 * 3, ticks  # (17 images, each in several pieces)
    # (the first tick's, the write's end, its report's, one per REDRAW_INTERVAL)
    assert len(redraws) <= 3 + elapsed / 0.1, (len(redraws), ticks, elapsed)  # (REDRAW_INTERVAL)


def test_generate_without_a_model_explains(blender, scene, monkeypatch):
    monkeypatch.setattr(blender.styles, "styles", lambda context=None: [])
    with pytest.raises(RuntimeError, match="No generate model installed: train one with `nftgan train dcgan"):
        bpy.ops.nftgan.generate()
    with pytest.raises(RuntimeError, match=r"already listed there: press Refresh Styles\)"):
        bpy.ops.nftgan.generate()  # a model exported into a listed folder appears only after a refresh


def test_publish_collection_offline(blender, gen_props, tmp_path):
    prefs = blender.preferences.get()
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", str(tmp_path / "offline")
    try:
        gen_props.count, gen_props.seed, gen_props.variation = 3, 40, "SEEDS"
        gen_props.collection_name, gen_props.description = "Tiny Blobs", "made in a test"
        job = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT")
        result = job.result
        assert [t.name for t in result.tokens] == ["Tiny Blobs #1", "Tiny Blobs #2", "Tiny Blobs #3"]
        assert all(t.state == "staged" for t in result.tokens)  # Offline: on disk, not on IPFS yet
        _, message = blender.runtime.last_report
        assert message.startswith("Staged collection 'Tiny Blobs': 3 tokens") and "not on IPFS yet" in message
        assert "ipfs dag import" in message and "Published" not in message
        with open(result.manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        assert [t["seed"] for t in manifest["tokens"]] == [40, 41, 42]
        assert gen_props.last_manifest == result.manifest_uri
        assert os.listdir(tmp_path / "offline")  # the offline backend wrote the files to upload later
        again = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT").result
        assert again.skipped == 3  # nothing published twice
        # nothing was interrupted: it said '3 tokens (3 from the interrupted run)'
        assert blender.runtime.last_report[1].startswith(
            "Staged collection 'Tiny Blobs': 3 tokens (all 3 were already staged before this run, none staged "
            "twice); in "
        ), blender.runtime.last_report
    finally:
        prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", ""


def test_publish_collection_to_kubo_stops_on_a_server_error_says_how_far_and_resumes(
    blender, gen_props, server
):
    prefs = blender.preferences.get()
    prefs.publish_backend, prefs.kubo_endpoint = "KUBO", server.url
    bpy.context.preferences.system.use_online_access = True
    try:
        gen_props.count, gen_props.seed, gen_props.variation = 3, 60, "SEEDS"
        gen_props.collection_name = "Server Blobs"
        server.inject("/api/v0/add", "pass", "pass", *["500"] * 10)  # token 2's image fails every retry
        assert bpy.ops.nftgan.publish_collection("EXEC_DEFAULT") == {"FINISHED"}
        assert blender.runtime.worker.wait_idle(60)
        (job,) = blender.runtime.drain()
        assert job.state == "failed"
        level, message = blender.runtime.last_report
        assert level == "ERROR" and message.startswith(
            "Publishing the collection stopped: token 2 of 3 ('Server Blobs #2') was not published, "
            "the 1 before it is: Local IPFS node (kubo) failed after"
        )
        assert message.endswith("Publish Collection again continues it without publishing any token twice.")
        rows = {r.name: r.state for r in blender.publish.ledger().rows() if r.name.startswith("Server Blobs")}
        assert rows == {"Server Blobs #1": "published", "Server Blobs #2": "failed"}
        assert not gen_props.last_manifest  # nothing claims the collection is out

        result = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT").result
        assert result.skipped == 1 and [t.state for t in result.tokens] == ["published"] * 3
        assert blender.runtime.last_report[1] == (
            f"Published collection 'Server Blobs': 3 tokens (1 of them was already published before this run, "
            f"none published twice); manifest {result.manifest_uri}"
        )
        for token, seed in zip(result.tokens, (60, 61, 62)):
            meta = json.loads(server.state.files[token.metadata_cid].data)
            assert {"trait_type": "Seed", "value": seed} in meta["attributes"]
            assert meta["name"] == token.name and meta["image"] == f"ipfs://{token.image_cid}"
    finally:
        prefs.publish_backend = "OFFLINE"
        bpy.context.preferences.system.use_online_access = False


def test_a_cancelled_publish_collection_says_how_many_tokens_are_out_and_finishes_them_when_pressed_again(
    blender, gen_props, server
):
    """Cancel while token 2's image is on its way: the report says 1 of 3 tokens is published and 2 are not
    (it said only 'Publishing the collection stopped; Publish Collection again continues it')."""
    prefs = blender.preferences.get()
    prefs.publish_backend, prefs.kubo_endpoint = "KUBO", server.url
    bpy.context.preferences.system.use_online_access = True
    arrived, release = threading.Event(), threading.Event()
    try:
        gen_props.count, gen_props.seed, gen_props.variation = 3, 80, "SEEDS"
        gen_props.collection_name = "Cancelled Blobs"
        server.inject("/api/v0/add", "pass", "pass", ("hold", arrived, release))  # token 2's image
        assert _drawn(blender)["button"]  # no job: the panel shows Publish Collection
        assert bpy.ops.nftgan.publish_collection("EXEC_DEFAULT") == {"FINISHED"}
        assert arrived.wait(60)
        shown = _drawn(blender)  # token 2's image on its way: where it is, and Cancel, in the panel
        assert not shown["button"], shown
        ((text, factor),), (key,) = shown["progress"], shown["cancel"]
        assert text == "token 2 of 3: Uploading Cancelled-Blobs-2.png (0.00 MB) to Local IPFS node (kubo)"
        assert 1 / 3 <= factor < 2 / 3
        t0 = time.monotonic()
        assert bpy.ops.nftgan.cancel_jobs(key=key) == {"FINISHED"}  # the panel's Cancel button
        assert blender.runtime.worker.wait_idle(60)
        took = time.monotonic() - t0
        release.set()
        (job,) = blender.runtime.drain()
        assert job.state == "cancelled" and took < 2.0
        level, message = blender.runtime.last_report
        assert (level, message) == (
            "WARNING",
            "Publishing collection 'Cancelled Blobs' was cancelled: 1 of 3 tokens are published, 2 are not yet. "
            "Publish Collection again publishes the other 2 without publishing any token twice.",
        )
        assert _drawn(blender)["button"]
        blender.publish.unregister()  # Blender started again: a cancelled batch is not announced as unfinished
        blender.publish.register()  # (the artist stopped it, and its report said how far it got)
        assert blender.runtime.worker.wait_idle(60)
        assert not blender.runtime.drain() and blender.runtime.last_report == (level, message)
        result = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT").result
        assert result.skipped == 1 and [t.state for t in result.tokens] == ["published"] * 3
    finally:
        release.set()
        prefs.publish_backend = "OFFLINE"
        bpy.context.preferences.system.use_online_access = False


def _drawn(blender) -> dict:
    """What the Generate Collection panel's draw() shows of Publish Collection: its button, or a job's
    progress (text, factor) and the Cancel button's job key."""
    calls = []

    class Drawn(_Layout):
        def _child(self, *_a, **_k):
            return Drawn(calls)

        row = column = box = split = _child

        def progress(self, **kw):
            calls.append(("progress", kw["text"], kw["factor"]))

        def operator(self, idname, **kw):
            super().operator(idname, **kw)

            class Props:
                def __setattr__(self, name, value):
                    calls.append(("set", f"{idname}.{name}", value))

            return Props()

    blender.generate.NFTGAN_PT_generate.draw(type("P", (), {"layout": Drawn(calls)})(), bpy.context)
    return {
        "button": ("operator", "nftgan.publish_collection") in calls,
        "progress": [c[1:] for c in calls if c[0] == "progress"],
        "cancel": [c[2] for c in calls if c[:2] == ("set", "nftgan.cancel_jobs.key")],
    }


def test_a_rejected_token_stops_publish_collection_in_one_sentence_each(blender, gen_props, server):
    """The service rejects the token: the report read '... Check the token in the NFTGan add-on
    preferences.. Publish Collection again ...' (the error's own full stop, then the report's)."""
    from tests.publish.conftest import TOKEN

    prefs = blender.preferences.get()
    prefs.publish_backend, prefs.kubo_endpoint, prefs.kubo_token = "KUBO", server.url, "typed-but-wrong"
    server.state.kubo_token = TOKEN
    bpy.context.preferences.system.use_online_access = True
    try:
        gen_props.count, gen_props.seed, gen_props.collection_name = 2, 90, "Rejected Blobs"
        assert bpy.ops.nftgan.publish_collection("EXEC_DEFAULT") == {"FINISHED"}
        assert blender.runtime.worker.wait_idle(60)
        (job,) = blender.runtime.drain()
        level, message = blender.runtime.last_report
        assert job.state == "failed" and level == "ERROR", message
        assert message.startswith(  # (it said 'was not published, the 0 before it are: ...')
            "Publishing the collection stopped: token 1 of 2 ('Rejected Blobs #1') was not published: Local IPFS "
            "node (kubo) rejected the API token (HTTP 403"
        ), message
        assert ".." not in message, message
        assert message.endswith(
            "Check the token in the NFTGan add-on preferences. Publish Collection again continues it without "
            "publishing any token twice."
        ), message
    finally:
        prefs.publish_backend, prefs.kubo_token = "OFFLINE", ""
        bpy.context.preferences.system.use_online_access = False


CRASHING_BATCH = """
import os, sys
from bl_ext.user_default.nftgan.blender import preferences, runtime
from bl_ext.user_default.nftgan.core.publish.ledger import Ledger
prefs = preferences.get()
prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", sys.argv[-1]
props = bpy.context.scene.nftgan_generate
props.generate_id, props.count, props.seed, props.collection_name = "generate", 3, 50, "Crashed Blobs"
staged = Ledger.mark_staged
def dying(self, *args, **kw):  # token 2 is written, and Blender dies before the ledger records it
    if self.rows(limit=1)[0].name == "Crashed Blobs #2":
        os._exit(9)
    return staged(self, *args, **kw)
Ledger.mark_staged = dying
bpy.ops.nftgan.publish_collection("EXEC_DEFAULT")
runtime.worker.wait_idle(120)
print("NOT KILLED", runtime.drain(), runtime.last_report)
"""


def test_blender_reopened_after_an_interrupted_publish_collection_says_what_is_left_and_how_to_finish(
    blender, gen_props, tmp_path
):
    """Blender died during Publish Collection (a real Blender process on the same profile, killed); reopened, it finished
    the token that was on its way and said only 'Resumed 1 interrupted publish(es): 1 staged'. It now also
    says which collection is unfinished, how many tokens are left, and that Publish Collection finishes it."""
    import subprocess
    import sys

    prefs = blender.preferences.get()
    offline = str(tmp_path / "offline")
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", offline
    try:
        ledger = blender.publish.ledger()
        died = subprocess.run(  # another Blender (this test's profile: the same ledger)
            [sys.executable, "-c", START_UP + CRASHING_BATCH, offline],
            capture_output=True,
            text=True,
            env=start_up_env(blender, blender.profile),
            timeout=300,
            cwd=blender.profile,
        )
        assert died.returncode == 9, died.stdout[-2000:] + died.stderr[-2000:]
        rows = {r.name: r.state for r in ledger.rows() if r.name.startswith("Crashed Blobs")}
        assert rows == {"Crashed Blobs #1": "staged", "Crashed Blobs #2": "pending"}

        blender.publish.unregister()  # Blender reopened: the add-on starts again
        blender.publish.register()
        assert blender.runtime.worker.wait_idle(60)
        blender.runtime.drain()
        assert blender.runtime.last_report == (
            "WARNING",
            "Resumed 1 interrupted publish(es): 1 staged (not on IPFS yet) (see the gallery). The collection "
            "'Crashed Blobs' is not finished (2 of 3 tokens are staged; 1 and the collection manifest are not "
            "yet): press Publish Collection (Generate Collection panel, the same model, Count, Seed and "
            "Collection name) to finish it; no token is staged twice.",
        )

        gen_props.count, gen_props.seed, gen_props.variation = 3, 50, "SEEDS"
        gen_props.collection_name = "Crashed Blobs"
        result = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT").result
        assert result.skipped == 2 and [t.state for t in result.tokens] == ["staged"] * 3
        assert (
            "(2 of them were already staged before this run, none staged twice)"
            in (blender.runtime.last_report[1])
        )
        blender.runtime.last_report = ("INFO", "")
        blender.publish.unregister()  # finished: a later start has nothing to resume and says nothing of it
        blender.publish.register()
        assert blender.runtime.worker.wait_idle(60)
        assert not blender.runtime.drain() and blender.runtime.last_report == ("INFO", "")
    finally:
        prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", ""


BETWEEN_TOKENS = """
import os, sys, time
from bl_ext.user_default.nftgan.blender import preferences, runtime
from bl_ext.user_default.nftgan.core.publish.ledger import Ledger
how, name = sys.argv[-2], "Cut Blobs " + sys.argv[-2]
prefs = preferences.get()
prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", sys.argv[-1]
props = bpy.context.scene.nftgan_generate
props.generate_id, props.count, props.seed, props.collection_name = "generate", 3, 70, name
staged, cut = Ledger.mark_staged, []
def cutting(self, *args, **kw):  # token 1's ledger row is final; Blender dies or closes before token 2 begins
    row = staged(self, *args, **kw)
    if row.name == name + " #1":
        if how == "killed":
            os._exit(9)
        job = runtime.worker.current
        cut.append(job)
        for _ in range(12000):  # (until Blender, closing, stops it)
            if job.cancelled:
                break
            time.sleep(0.01)
    return row
Ledger.mark_staged = cutting
bpy.ops.nftgan.publish_collection("EXEC_DEFAULT")
if how == "closed":
    for _ in range(12000):
        if cut:
            break
        time.sleep(0.01)
    addon_utils.disable_all()  # what Blender runs when it quits (in bpy.utils._on_exit from 4.3)
    print("CLOSED", cut[0].state, flush=True)
    os._exit(7)
runtime.worker.wait_idle(120)
print("NOT CUT", runtime.drain(), runtime.last_report)
"""


@pytest.mark.parametrize("how", ["killed", "closed"])
def test_blender_reopened_after_publish_collection_stopped_between_tokens_says_what_is_left_at_every_start(
    how, blender, gen_props, tmp_path
):
    """Blender died (a real Blender process on the same profile, killed) or was closed after token 1 of 3
    was recorded, before token 2 began: no publish was pending, and the next start said nothing; the
    collection was left half published, without its manifest. Each start now says which collection is
    unfinished, how far it got and that Publish Collection finishes it, until it is finished."""
    import subprocess
    import sys

    prefs = blender.preferences.get()
    offline, name = str(tmp_path / "offline"), f"Cut Blobs {how}"
    prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", offline
    try:
        ledger = blender.publish.ledger()
        cut = subprocess.run(  # another Blender (this test's profile: the same ledger)
            [sys.executable, "-c", START_UP + BETWEEN_TOKENS, how, offline],
            capture_output=True,
            text=True,
            env=start_up_env(blender, blender.profile),
            timeout=300,
            cwd=blender.profile,
        )
        assert cut.returncode == {"killed": 9, "closed": 7}[how], cut.stdout[-2000:] + cut.stderr[-2000:]
        rows = {r.name: r.state for r in ledger.rows() if r.name.startswith(name)}
        assert rows == {f"{name} #1": "staged"}  # nothing pending: nothing to resume

        said = (
            "WARNING",
            f"The collection '{name}' is not finished (1 of 3 tokens are staged; 2 and the collection "
            "manifest are not yet): press Publish Collection (Generate Collection panel, the same model, Count, "
            "Seed and Collection name) to finish it; no token is staged twice.",
        )
        for _start in range(2):  # Blender reopened, and reopened again: said each time
            blender.runtime.last_report = ("INFO", "")
            blender.publish.unregister()
            blender.publish.register()
            assert blender.runtime.worker.wait_idle(60)
            blender.runtime.drain()
            assert blender.runtime.last_report == said

        gen_props.count, gen_props.seed, gen_props.variation = 3, 70, "SEEDS"
        gen_props.collection_name = name
        result = _run(blender, bpy.ops.nftgan.publish_collection, "EXEC_DEFAULT").result
        assert result.skipped == 1 and [t.state for t in result.tokens] == ["staged"] * 3
        assert [r.name for r in ledger.rows()].count(f"{name} #1") == 1  # none twice
        blender.runtime.last_report = ("INFO", "")
        blender.publish.unregister()  # finished: a later start says nothing of it
        blender.publish.register()
        assert blender.runtime.worker.wait_idle(60)
        assert not blender.runtime.drain() and blender.runtime.last_report == ("INFO", "")
    finally:
        prefs.publish_backend, prefs.publish_offline_folder = "OFFLINE", ""


def test_generate_says_which_image_was_not_written(blender, gen_props, generate_model):
    """The grid deleted by the artist between two pieces of its write: the write's ReferenceError was swallowed,
    and the status line said the job was done, naming a sample as the grid. It says the grid was not written."""
    gen_props.count, gen_props.seed = 2, 3
    runtime = blender.runtime
    name = core.load_model(generate_model).name
    assert bpy.ops.nftgan.generate() == {"FINISHED"}
    assert runtime.worker.wait_idle(60)
    runtime.drain(step=True)
    for _ in range(200):
        grid = bpy.data.images.get(f"{name} grid")
        if grid is not None and grid.packed_file is None:
            break
        runtime.drain(step=True)
    assert grid is not None and runtime.pending_steps()  # (mid-write)
    bpy.data.images.remove(grid)
    while runtime.pending_steps():
        runtime.drain(step=True)
    level, said = runtime.last_report
    assert level == "ERROR" and said.startswith("Generated 2 images"), said
    assert f"'{name} grid' was not written" in said and "(grid:" not in said, said
    assert f"{name} grid" not in bpy.data.images
