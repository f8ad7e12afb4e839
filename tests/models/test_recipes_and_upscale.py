"""`nftgan data` building blocks and the upscale model kind, on small generated images (no network)."""

from __future__ import annotations

import json

import numpy as np
import torch
from nftgan.training import recipes
from nftgan.training.upscale import UpscaleNet, bicubic
from PIL import Image


def _drawing(seed: int, size: int = 80, transparent: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (size, size // 2), (255, 255, 255, 0 if transparent else 255))
    colour = (*tuple(int(c) for c in rng.integers(0, 200, 3)), 255)
    x0, y0 = int(rng.integers(5, 20)), int(rng.integers(3, 10))
    img.paste(Image.new("RGBA", (30, 20), colour), (x0, y0))
    return img


def test_normalize_crops_to_content_pads_square_over_white():
    out = recipes.normalize(_drawing(0, transparent=True), 64)
    arr = np.asarray(out)
    assert out.size == (64, 64) and out.mode == "RGB"
    assert min(arr[0].min(), arr[-1].min(), arr[:, 0].min(), arr[:, -1].min()) >= 240  # white margin
    _, xs = np.nonzero(arr.min(axis=2) < 128)
    assert xs.min() < 8 and xs.max() > 55  # the 30 px wide block fills the width (minus the margin)
    assert (
        recipes.colourfulness(out) > 0.5 and recipes.colourfulness(Image.new("RGB", (8, 8), "white")) == 0.0
    )


def test_write_source_drops_duplicates_and_holds_out_by_key(tmp_path):
    keys = [f"k{i}" for i in range(40)]
    items = [(k, recipes.normalize(_drawing(i % 30), 32)) for i, k in enumerate(keys)]  # 10 pixel duplicates
    stats = recipes.write_source(iter(items), tmp_path / "src", 0.25, log=lambda m: None)
    assert stats["images"] == 30 and stats["duplicates_dropped"] == 10
    train = {p.name for p in (tmp_path / "src/train").iterdir()}
    test = {p.name for p in (tmp_path / "src/test").iterdir()}
    assert not train & test and len(train) + len(test) == 30 and 0 < len(test) < 20
    assert all(recipes.is_test(n[:-4], 0.25) for n in test) and not any(
        recipes.is_test(n[:-4], 0.25) for n in train
    )
    json.dumps(stats)  # the manifest entry is plain JSON


def test_emoji_keys_pair_noto_and_fluent_and_skip_skin_tones():
    assert recipes._emoji_key("2764-fe0f") == "2764" == recipes._emoji_key("2764")
    assert recipes._emoji_key("0023-fe0f-20e3") == recipes._emoji_key("23-fe0f-20e3") == "23-20e3"
    assert recipes._emoji_key("1f3c3-1f3fb-200d-2640-fe0f") is None
    assert recipes._emoji_key("1f3f4-e0067_e0062_e0065_e006e_e0067") == "1f3f4-e0067-e0062-e0065-e006e-e0067"


def test_unpaired_links_point_at_the_source_splits(tmp_path):
    for src in ("a", "b"):
        for split in ("train", "test"):
            (tmp_path / src / split).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / src / split / f"{src}.png")
    recipes.link_unpaired(tmp_path, "pair", "a", "b")
    recipes.link_unpaired(tmp_path, "pair", "a", "b")  # idempotent
    assert [p.name for p in (tmp_path / "pair/trainA").iterdir()] == ["a.png"]
    assert [p.name for p in (tmp_path / "pair/testB").iterdir()] == ["b.png"]


def test_colorize_pairs_hold_every_drawing_as_pencil_and_ink_sketch(tmp_path):
    for split, seeds in (("train", (1, 2, 3)), ("test", (4,))):
        (tmp_path / "openclipart" / split).mkdir(parents=True)
        for s in seeds:
            _drawing(s, 64).convert("RGB").resize((64, 64)).save(
                tmp_path / "openclipart" / split / f"d{s}.png"
            )
    counts = recipes.sketchify_pairs(tmp_path, 64, lambda msg: None)
    assert counts == {"train": 6, "test": 2}
    a = tmp_path / "colorize/train/A"
    assert sorted(p.name for p in a.iterdir()) == [
        f"d{s}__{k}.png" for s in (1, 2, 3) for k in ("ink", "pencil")
    ]
    assert sorted(p.name for p in (tmp_path / "colorize/train/B").iterdir()) == sorted(
        p.name for p in a.iterdir()
    )
    pencil, ink = (np.asarray(Image.open(a / f"d1__{k}.png")) for k in ("pencil", "ink"))
    assert pencil.shape == ink.shape == (64, 64) and not np.array_equal(pencil, ink)
    assert set(np.unique(ink)) == {0, 255}  # ink: clean black lines on white; pencil: grey shading
    assert len(np.unique(pencil)) > 2
    drawing = np.asarray(Image.open(tmp_path / "openclipart/train/d1.png"))
    for k in ("pencil", "ink"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"colorize/train/B/d1__{k}.png")), drawing)


def test_untrained_upscaler_is_exactly_bicubic_and_shapes_scale():
    torch.manual_seed(0)
    net = UpscaleNet(scale=4, ngf=8, n_blocks=1).eval()
    x = torch.rand(2, 3, 12, 20) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 48, 80)
    assert torch.equal(y, bicubic(x, 4))


def test_upscale_training_beats_bicubic_on_held_out_crops(tmp_path):
    from nftgan.training.checkpoint import build_generator, load_checkpoint
    from nftgan.training.cli import main as train_main

    data = tmp_path / "pics"
    data.mkdir()
    rng = np.random.default_rng(1)
    for i in range(12):  # sharp-edged blocks: bicubic blurs their edges, a trained model sharpens them
        arr = np.full((64, 64, 3), 255, np.uint8)
        for _ in range(4):
            x, y, w, h = rng.integers(0, 48, 4)
            arr[y : y + h // 2 + 4, x : x + w // 2 + 4] = rng.integers(0, 255, 3)
        Image.fromarray(arr).save(data / f"p{i:02d}.png")
    run = tmp_path / "run"
    code = train_main(
        [
            "upscale",
            "--data",
            str(data),
            "--out",
            str(run),
            "--size",
            "32",
            "--ngf",
            "16",
            "--n-blocks",
            "2",
            "--batch-size",
            "4",
            "--steps",
            "300",
            "--lr",
            "0.001",
            "--val-fraction",
            "0.25",
            "--workers",
            "0",
            "--sample-every",
            "300",
        ],
        prog="nftgan train",
    )
    assert code == 0
    ckpt = load_checkpoint(run)
    val = ckpt["provenance"]["val_metrics"]
    assert val["val_psnr"] > val["val_psnr_bicubic"], val
    net, info = build_generator(ckpt)
    assert (
        info["kind"] == "upscale" and info["scale"] == 4 and info["multiple_of"] == 1 and info["size"] == 32
    )
    assert not any(m.training for m in net.modules())


def test_upscale_refuses_a_crop_the_scale_cannot_divide(tmp_path, capsys):
    from nftgan.training.cli import main as train_main

    (tmp_path / "d").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "d" / "x.png")
    code = train_main(
        ["upscale", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "r"), "--size", "30"],
        prog="nftgan train",
    )
    assert code != 0
    assert "--size must be a multiple of --scale (4)" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()
