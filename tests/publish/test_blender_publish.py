"""The Publish operator, gallery and start-up resume inside real Blender (the bpy module), with the
real extension enabled: Offline to a folder, and kubo to the fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from addon.core.publish.cid import CID

from .conftest import TOKEN

bpy = pytest.importorskip("bpy")


@pytest.fixture(scope="module")
def nftgan(tmp_path_factory):
    """The extension, enabled from a user repository pointing at a copy of addon/ + the manifest."""
    import importlib
    import shutil

    root = tmp_path_factory.mktemp("ext")
    user = root / "user"  # the extension's user folder (ledger, staged files) lives here, not in ~/.config
    patch = pytest.MonkeyPatch()
    patch.setattr(bpy.utils, "extension_path_user",
                  lambda package, path="", create=False: str((user / package / path).resolve()))
    # reuse the extension when another area's fixture already enabled it (one copy registered at a time)
    enabled = [a.module for a in bpy.context.preferences.addons if a.module.endswith(".nftgan")]
    repo = None
    if enabled:
        module = enabled[0]
    else:
        repo_dir = root / "nftgan_publish_tests"
        shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "..", "addon"), repo_dir / "nftgan",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(os.path.join(os.path.dirname(__file__), "..", "..", "blender_manifest.toml"),
                    repo_dir / "nftgan")
        repo = bpy.context.preferences.extensions.repos.new(
            name="nftgan_publish_tests", module="nftgan_publish_tests", custom_directory=str(repo_dir),
            source="USER")
        import addon_utils

        addon_utils.modules_refresh()
        module = "bl_ext.nftgan_publish_tests.nftgan"
        bpy.ops.preferences.addon_enable(module=module)
    pkg = importlib.import_module(module)
    yield {"module": module, "publish": importlib.import_module(module + ".blender.publish"),
           "runtime": importlib.import_module(module + ".blender.runtime"),
           "stylize": importlib.import_module(module + ".blender.stylize"), "pkg": pkg, "user": user}
    if repo is not None:
        bpy.ops.preferences.addon_disable(module=module)
        bpy.context.preferences.extensions.repos.remove(repo)
    patch.undo()


@pytest.fixture
def prefs(nftgan, tmp_path):
    p = bpy.context.preferences.addons[nftgan["module"]].preferences
    p.publish_backend = "OFFLINE"
    p.publish_offline_folder = str(tmp_path / "offline")
    yield p
    p = bpy.context.preferences.addons[nftgan["module"]].preferences  # a test may have re-enabled the add-on
    p.publish_backend = "OFFLINE"
    p.kubo_token = p.nftstorage_token = p.pinata_jwt = ""
    bpy.context.preferences.system.use_online_access = False


def _finish(nftgan):
    runtime = nftgan["runtime"]
    assert runtime.worker.wait_idle(60)
    return runtime.drain()


def _stylized_result(nftgan, name="Sketch stylized", size=32):
    """An image exactly as Stylize leaves one: packed PNG made by the worker, with its provenance."""
    from addon.core.imageio import encode_png

    rng = np.random.default_rng(7)
    rgba = np.concatenate([rng.random((size, size, 3), dtype=np.float32), np.ones((size, size, 1), np.float32)], -1)
    sketch = bpy.data.images.new("Sketch", size, size, alpha=True)
    sketch.pixels.foreach_set(np.ones(size * size * 4, np.float32))
    written = nftgan["stylize"].write_result(name, rgba.ravel(), size, size, encode_png(rgba), "stylize", "Sketch",
                                             sketch.session_uid, "stylize: Ink wash")
    return bpy.data.images[written]


def test_publish_a_stylized_result_offline(nftgan, prefs, tmp_path):
    image = _stylized_result(nftgan)
    props = bpy.context.scene.nftgan_publish
    props.name, props.description = "Ink dawn", "made in Blender"
    props.use_background, props.background = True, (1.0, 0.5, 0.0)
    attr = props.attributes.add()
    attr.trait, attr.value = "Edition", "1"
    assert bpy.ops.nftgan.publish(image=image.name) == {"FINISHED"}
    (job,) = [j for j in _finish(nftgan) if j.label.startswith("Publish")]
    row = job.result
    assert row.state == "published" and props.last_token_uri == row.token_uri
    out = tmp_path / "offline"
    packed = bytes(image.packed_file.data)
    assert (out / f"{row.image_cid}.png").read_bytes() == packed  # the exact packed PNG, not a re-encode
    meta = json.loads((out / f"{row.metadata_cid}.json").read_text())
    assert meta["name"] == "Ink dawn" and meta["background_color"] == "ff8000"
    traits = {a["trait_type"]: a["value"] for a in meta["attributes"]}
    assert traits["Stylize style"] == "Ink wash" and traits["Width"] == 32 and traits["Edition"] == 1
    assert CID.parse(traits["Source sketch"])  # the sketch's CID, for provenance
    assert traits["Software"].startswith("NFTGan 0.1")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["entries"][-1]["token_uri"] == row.token_uri
    entries, _ = nftgan["publish"].gallery_entries()
    assert entries[0].token_uri == row.token_uri and entries[0].image_path.startswith(str(nftgan["user"]))
    nftgan["publish"].thumbnail(entries[0])  # (icon ids stay 0 without a window; the preview still loads)
    assert nftgan["publish"]._previews[entries[0].image_path].image_size[:] == (32, 32)


def test_publish_the_render_rendering_first(nftgan, prefs, tmp_path):
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.render.resolution_x = scene.render.resolution_y = 24
    scene.render.resolution_percentage = 100
    if "Render Result" in bpy.data.images:
        bpy.data.images.remove(bpy.data.images["Render Result"])
    bpy.context.scene.nftgan_publish.name = "Render"
    assert bpy.ops.nftgan.publish(image="Render Result") == {"FINISHED"}
    row = [j for j in _finish(nftgan) if j.label.startswith("Publish")][0].result
    data = (tmp_path / "offline" / f"{row.image_cid}.png").read_bytes()
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 24
    meta = json.loads((tmp_path / "offline" / f"{row.metadata_cid}.json").read_text())
    assert {a["trait_type"]: a["value"] for a in meta["attributes"]}["Height"] == 24


def test_online_access_gates_network_backends_and_tokens_stay_out_of_the_blend(nftgan, prefs, server, tmp_path):
    prefs.publish_backend = "KUBO"
    prefs.kubo_endpoint = server.url
    prefs.kubo_token = TOKEN
    server.state.kubo_token = TOKEN
    image = _stylized_result(nftgan, "Net stylized")
    bpy.context.scene.nftgan_publish.name = "Over the network"
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.nftgan.publish(image=image.name)
    assert server.state.hits == []
    bpy.context.preferences.system.use_online_access = True
    server.inject("/api/v0/add", "500", "drop")  # retried on the worker
    assert bpy.ops.nftgan.publish(image=image.name) == {"FINISHED"}
    row = [j for j in _finish(nftgan) if j.label.startswith("Publish")][0].result
    assert row.state == "published" and row.backend == "kubo"
    assert server.state.files[row.image_cid].data == bytes(image.packed_file.data)
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False, copy=True)
    assert TOKEN.encode() not in blend.read_bytes()
    assert TOKEN.encode() not in nftgan["publish"].ledger().path.read_bytes()


def test_pending_publish_is_resumed_when_the_add_on_starts(nftgan, prefs, tmp_path):
    from addon.core.publish.service import Request, prepare

    store = nftgan["publish"].ledger()
    prepared = prepare(Request(image=bytes(_stylized_result(nftgan, "Crash stylized").packed_file.data),
                               name="Interrupted"))
    row = store.begin(name="Interrupted", backend="offline", endpoint=str(tmp_path / "offline"),
                      image_sha256="0" * 64, image_size=len(prepared.request.image),
                      image_cid=str(prepared.items["image"].dag.root),
                      metadata_cid=str(prepared.items["metadata"].dag.root),
                      files={"image.png": prepared.request.image,
                             "metadata.json": prepared.items["metadata"].data})
    bpy.ops.preferences.addon_disable(module=nftgan["module"])  # Blender closed mid-publish ...
    bpy.ops.preferences.addon_enable(module=nftgan["module"])  # ... and started again
    import importlib

    runtime = importlib.import_module(nftgan["module"] + ".blender.runtime")
    assert runtime.worker.wait_idle(60)
    runtime.drain()
    done = store.get(row.id)
    assert done.state == "published" and done.token_uri == f"ipfs://{row.metadata_cid}"
    assert (tmp_path / "offline" / f"{row.image_cid}.png").read_bytes() == prepared.request.image


def test_publish_painted_pixels_and_the_object_as_glb(nftgan, prefs, tmp_path):
    """An image that only lives in memory (generated, painted on) is encoded on the worker; the active
    object goes along as a GLB (animation_url)."""
    from PIL import Image

    image = bpy.data.images.new("Painted", 16, 8, alpha=True)
    rgba = np.zeros((8, 16, 4), np.float32)
    rgba[..., 0] = np.linspace(0, 1, 16)[None, :]
    rgba[:4, :, 2] = 1.0  # bottom rows blue (Blender rows are bottom-up)
    rgba[..., 3] = 1.0
    image.pixels.foreach_set(rgba.ravel())
    bpy.ops.mesh.primitive_cube_add()
    props = bpy.context.scene.nftgan_publish
    props.name, props.include_glb, props.image = "Painted cube", True, image
    try:
        assert bpy.ops.nftgan.publish() == {"FINISHED"}
        row = [j for j in _finish(nftgan) if j.label.startswith("Publish")][0].result
    finally:
        props.include_glb, props.image = False, None
    out = tmp_path / "offline"
    png = np.asarray(Image.open(out / f"{row.image_cid}.png").convert("RGBA"), np.float32) / 255
    assert np.abs(png[::-1] - rgba).max() < 1 / 255 + 1e-6  # same pixels, top-down in the file
    meta = json.loads((out / f"{row.metadata_cid}.json").read_text())
    glb_cid = meta["animation_url"].removeprefix("ipfs://")
    assert (out / f"{glb_cid}.glb").read_bytes()[:4] == b"glTF"
    assert row.animation_cid == glb_cid


def test_gallery_merges_the_services_list_and_copies_the_token_uri(nftgan, prefs, server):
    import requests

    prefs.publish_backend = "NFTSTORAGE"
    prefs.nftstorage_endpoint = server.url
    prefs.nftstorage_token = TOKEN
    bpy.context.preferences.system.use_online_access = True
    other = b"\x89PNG uploaded from another computer"
    requests.post(f"{server.url}/upload", data=other, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    publish = nftgan["publish"]
    assert publish.refresh_gallery(bpy.context) is not None
    _finish(nftgan)
    entries, problem = publish.gallery_entries()
    assert problem == ""
    remote = [e for e in entries if e.state == "remote"]
    assert [e.detail for e in remote] == [str(CID.of(other, codec=0x55))]
    assert remote[0].gateway_url == f"https://nftstorage.link/ipfs/{remote[0].detail}"
    assert bpy.ops.nftgan.publish_copy_uri(uri=remote[0].token_uri) == {"FINISHED"}
    prefs.nftstorage_token = "revoked"
    publish.refresh_gallery(bpy.context)
    _finish(nftgan)
    entries, problem = publish.gallery_entries()
    assert "rejected the API token" in problem and all(e.state != "remote" for e in entries)
