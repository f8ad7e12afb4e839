"""`addon.core.generate` and `nftgan generate` on a real exported DCGAN model (the shared fixture)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nftgan.core import generate as gen
from nftgan.core import imageio
from nftgan.core.contract import ModelError
from nftgan.core.jobs import CANCELLED, DONE, Worker
from nftgan.export.cli import main as nftgan


def test_latents_are_reproducible_per_seed():
    z = gen.latent(42, 16)
    assert z.dtype == np.float32 and np.array_equal(
        z, np.random.default_rng(42).standard_normal(16).astype(np.float32)
    )
    batch = gen.latents(gen.seeds_plan(41, 3), 16)
    assert np.array_equal(batch[1], z)  # image i of a run from seed S is the image of seed S + i
    with pytest.raises(ValueError, match="from 0 up"):
        gen.latent(-1, 16)


def test_slerp_keeps_latents_typical():
    a, b = gen.latent(1, 512), gen.latent(2, 512)
    assert np.allclose(gen.slerp(a, b, 0.0), a, atol=1e-6) and np.allclose(gen.slerp(a, b, 1.0), b, atol=1e-6)
    mid = gen.slerp(a, b, 0.5)
    lerp = 0.5 * (a + b)
    assert abs(np.linalg.norm(mid) - np.linalg.norm(a)) < 0.05 * np.linalg.norm(a)  # stays on the shell
    assert np.linalg.norm(lerp) < 0.8 * np.linalg.norm(a)  # a straight line would not
    assert np.allclose(gen.slerp(a, a, 0.3), a, atol=1e-5)  # parallel: no division by zero


def test_plans():
    assert [s.seed for s in gen.seeds_plan(5, 3)] == [5, 6, 7]
    plan = gen.interpolation_plan(5, 9, 5)
    assert [s.t for s in plan] == [0.0, 0.25, 0.5, 0.75, 1.0] and {s.seed_to for s in plan} == {9}
    assert plan[2].stem == "seed000005-000009-t0.500"
    assert {"trait_type": "Seed", "value": 5} in plan[0].attributes()
    with pytest.raises(ValueError, match="between 1 and"):
        gen.seeds_plan(0, 0)


def test_grid_puts_the_first_image_top_left():
    images = [np.full((4, 4, 4), v, np.float32) for v in (0.1, 0.2, 0.3)]
    g = gen.grid(images, gap=1)
    assert g.shape == (11, 11, 4)
    top_down = g[::-1]
    assert top_down[1, 1, 0] == pytest.approx(0.1) and top_down[1, 6, 0] == pytest.approx(0.2)
    assert top_down[6, 1, 0] == pytest.approx(0.3) and top_down[6, 6, 0] == pytest.approx(1.0)  # empty cell


def test_run_gives_contract_images(generate_model):
    info = gen.load_model(generate_model)
    images = gen.run(info, gen.latents(gen.seeds_plan(0, 3), info.latent), batch=2)
    assert len(images) == 3
    for img in images:
        assert img.shape == (info.size, info.size, 4) and img.dtype == np.float32
        assert img.min() >= 0 and img.max() <= 1 and np.all(img[..., 3] == 1)
    assert not np.array_equal(images[0], images[1])  # different seeds, different images


def test_cancel_stops_a_run(generate_model):
    info = gen.load_model(generate_model)
    worker = Worker()
    try:

        def fn(job):
            job.cancel()
            return gen.run(info, gen.latents(gen.seeds_plan(0, 4), info.latent), job=job, batch=1)

        job = worker.submit(fn)
        worker.wait_idle(30)
        assert job.state == CANCELLED and job.result is None
        ok = worker.submit(lambda job: gen.run(info, gen.latents(gen.seeds_plan(0, 2), info.latent), job=job))
        worker.wait_idle(30)
        assert ok.state == DONE and len(ok.result) == 2
    finally:
        worker.shutdown()


def test_generate_command_is_reproducible(generate_model, tmp_path, capsys):
    out = tmp_path / "gen"
    assert nftgan(["generate", str(generate_model), "-n", "4", "--seed", "7", "-o", str(out)]) == 0
    manifest = json.loads((out / "generate.json").read_text())
    assert [e["seed"] for e in manifest["images"]] == [7, 8, 9, 10]
    assert manifest["latent"] == 16 and manifest["model_file"] == "generate.onnx"
    assert {"trait_type": "Seed", "value": 8} in manifest["images"][1]["attributes"]
    grid = imageio.read_image(str(out / "grid.png"))
    assert grid.shape[0] > 32 and grid.shape[1] > 32
    # the same seed gives the same image, alone or in a batch
    assert (
        nftgan(["generate", str(generate_model), "-n", "1", "--seed", "8", "-o", str(tmp_path / "one")]) == 0
    )
    assert (tmp_path / "one" / "seed000008.png").read_bytes() == (out / "seed000008.png").read_bytes()
    assert capsys.readouterr().out.splitlines()[-1].startswith("1 image of ")
    # interpolation: the ends are the two seeds' own images
    walk = tmp_path / "walk"
    assert (
        nftgan(["generate", str(generate_model), "-n", "3", "--seed", "7", "--to-seed", "9", "-o", str(walk)])
        == 0
    )
    first, last = (imageio.read_image(str(walk / f"seed000007-000009-t{t}.png")) for t in ("0.000", "1.000"))
    assert np.abs(first - imageio.read_image(str(out / "seed000007.png"))).max() <= 1 / 255
    assert np.abs(last - imageio.read_image(str(out / "seed000009.png"))).max() <= 1 / 255
    assert "3 images" in capsys.readouterr().out


def test_generate_command_errors(colorize_model, generate_model, tmp_path, capsys):
    assert nftgan(["generate", str(colorize_model), "-o", str(tmp_path)]) == 1  # a model it cannot use
    assert "is a colorize model" in capsys.readouterr().err
    assert nftgan(["generate", str(generate_model), "-n", "0", "-o", str(tmp_path)]) == 2  # a value refused
    assert "between 1 and" in capsys.readouterr().err
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    assert nftgan(["generate", str(broken), "-o", str(tmp_path)]) == 1
    assert "broken.onnx" in capsys.readouterr().err
    with pytest.raises(ModelError):
        gen.load_model(colorize_model)
    assert (
        nftgan(["generate", "no-such-collection", "-o", str(tmp_path / "x"), "--models", str(tmp_path)]) == 1
    )
    assert "no such file, and no generate model has that id or name" in capsys.readouterr().err
    (tmp_path / "taken.png").write_bytes(b"a picture")  # -o names a folder: a file there is kept
    assert nftgan(["generate", str(generate_model), "-o", str(tmp_path / "taken.png")]) == 1
    assert "-o " in capsys.readouterr().err and (tmp_path / "taken.png").read_bytes() == b"a picture"
    assert nftgan(["generate", str(generate_model), "-o", str(tmp_path / "taken.png" / "run")]) == 1
    err = capsys.readouterr().err  # a file above -o: that file named, not "File exists" after the work
    assert f"{tmp_path / 'taken.png'} is a file, not a folder" in err and "Traceback" not in err, err
    missing = tmp_path / "my-colections"  # a typo in --models is named, not passed over
    assert nftgan(["generate", "punks", "-o", str(tmp_path / "x"), "--models", str(missing)]) == 1
    assert f"nftgan generate: warning: model folder {missing} does not exist." in capsys.readouterr().err


def test_generate_picks_a_model_by_id_from_models_folders(generate_model, tmp_path, capsys):
    """Like `nftgan stylize`: --models DIR adds a folder, the model is named by its id; --provider cpu."""
    by_path, by_id = tmp_path / "path", tmp_path / "id"
    assert nftgan(["generate", str(generate_model), "-n", "2", "-o", str(by_path)]) == 0
    argv = ["generate", "generate", "-n", "2", "-o", str(by_id), "--provider", "cpu"]
    assert nftgan([*argv, "--models", str(generate_model.parent)]) == 0
    assert (by_id / "seed000001.png").read_bytes() == (by_path / "seed000001.png").read_bytes()
    capsys.readouterr()


ON_SMALL_DISK = """
import os, sys
from nftgan.export.cli import main
rc = main(["generate", sys.argv[1], "-n", "40", "-o", os.path.join(FS, "out")])
print("LEFT", sorted(os.listdir(os.path.join(FS, "out"))))
sys.exit(rc)
"""


def test_generate_on_a_full_disk_says_so_and_leaves_no_half_file(generate_model):
    from tests.limited_fs import run_on_small_fs

    result = run_on_small_fs(ON_SMALL_DISK, generate_model, size="16k")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "nftgan generate: error: writing " in result.stderr and "the disk is full" in result.stderr
    left = result.stdout.split("LEFT ", 1)[1]
    assert "seed000000.png" in left and ".tmp" not in left and ".part" not in left, left


def test_generate_command_writes_many_images_a_chunk_at_a_time_and_grids_the_first_256(
    generate_model, tmp_path, capsys
):
    """-n 10000 (docs/collections.md's FID step) held every image and a grid of all of them in memory:
    about 5 GB at 128 px. Images are now written a chunk at a time and grid.png shows the first 256."""
    out = tmp_path / "many"
    assert nftgan(["generate", str(generate_model), "-n", "300", "--seed", "5", "-o", str(out)]) == 0
    assert "300 images of 32x32" in capsys.readouterr().out
    assert len(json.loads((out / "generate.json").read_text())["images"]) == 300
    assert len(list(out.glob("seed*.png"))) == 300
    grid = imageio.read_image(str(out / "grid.png"))
    assert grid.shape[:2] == (16 * 34 + 2, 16 * 34 + 2)  # 16 x 16 tiles of 32 px with 2 px gaps
    # images past the first chunk are the same as made alone
    assert (
        nftgan(["generate", str(generate_model), "-n", "1", "--seed", "290", "-o", str(tmp_path / "one")])
        == 0
    )
    assert (tmp_path / "one" / "seed000290.png").read_bytes() == (out / "seed000290.png").read_bytes()
