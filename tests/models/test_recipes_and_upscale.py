"""`nftgan data` building blocks and the upscale model kind, on small generated images (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from nftgan.training import recipes
from nftgan.training.upscale import UpscaleNet, bicubic, local_range
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


def _iconify(root, icons: dict, chars: dict, aliases: dict | None = None) -> None:
    """A minimal @iconify-json package (the layout npm pack unpacks) with the given SVG bodies."""
    pkg = root / "package"
    pkg.mkdir(parents=True)
    body = {"prefix": "t", "width": 32, "height": 32, "icons": icons, "aliases": aliases or {}}
    (pkg / "icons.json").write_text(json.dumps(body))
    (pkg / "chars.json").write_text(json.dumps(chars))


def test_iconify_flat_and_line_art_render_aligned_and_keyed_by_code_point(tmp_path):
    square = '<path fill="#ff0000" d="M10 10h12v12H10z"/>'
    ring = '<path fill="currentColor" d="M6 6h20v20H6zM9 9v14h14V9z" fill-rule="evenodd"/>'
    arrow = '<path fill="#00aa00" d="M4 14h16v4H4z"/>'
    chars = {"1f7e5": "red-square", "1f44b-1f3fb": "waving-hand-light", "27a1-fe0f": "right-arrow"}
    _iconify(
        tmp_path / "flat",
        {
            "red-square": {"body": square},
            "waving-hand-light": {"body": square},
            "left-arrow": {"body": arrow},
        },
        chars,
        aliases={"right-arrow": {"parent": "left-arrow", "hFlip": True}},
    )
    _iconify(tmp_path / "hc", {"red-square": {"body": ring}}, chars)
    roots = {"fluentflat": tmp_path / "flat", "fluenthc": tmp_path / "hc"}
    flat = dict(recipes.read_iconify(roots, 64, "fluentflat"))
    line = dict(recipes.read_iconify(roots, 64, "fluenthc"))
    assert sorted(flat) == ["1f7e5", "27a1"] and sorted(line) == ["1f7e5"]  # skin tones left out
    red = np.asarray(flat["1f7e5"], np.int16)
    ring_px = np.asarray(line["1f7e5"], np.int16).min(axis=2) < 128
    # one crop box for both: the ring (the larger drawing) reaches the margin, the red square sits inside it
    inside = (red[..., 0] > 200) & (red[..., 1] < 60)
    ys, xs = np.nonzero(inside)
    rys, rxs = np.nonzero(ring_px)
    assert rxs.min() < xs.min() and rxs.max() > xs.max() and rys.min() < ys.min() and rys.max() > ys.max()
    assert not (inside & ring_px).any()  # the ring's hole is exactly where the red square is
    assert np.asarray(flat["27a1"])[..., 1].max() > 150  # the alias is rendered from its parent


def test_outline_draws_continuous_lines_at_colour_boundaries():
    img = Image.new("RGB", (64, 64), "white")
    img.paste((40, 120, 220), (16, 16, 48, 48))
    img.paste((230, 60, 40), (24, 24, 40, 40))
    for width in (2, 3):
        lines = np.asarray(recipes.outline(img, width)) < 128
        # every boundary is closed: along a row through the centre there are 4 dark runs
        runs = np.flatnonzero(np.diff(lines[32].astype(np.int8)) == 1)
        assert len(runs) == 4, (width, runs)
        assert not lines[:10].any() and not lines[30:34, 30:34].any()  # paper and flat colour stay white
    assert (np.asarray(recipes.outline(img, 3)) < 128).sum() > (
        np.asarray(recipes.outline(img, 2)) < 128
    ).sum()


def test_thin_lines_redraws_thick_strokes_along_their_centre_lines():
    ring = np.full((96, 96), 255, np.uint8)
    ring[8:56, 8:56] = 0
    ring[20:44, 20:44] = 255  # a 12 px thick square ring, 19 % of the picture
    for half, pen in ((1, 3), (2, 5)):
        thin = np.asarray(recipes.thin_lines(Image.fromarray(ring), half)) < 128
        assert abs(int(thin[32, :32].sum()) - pen) <= 1  # the left side: one line of about the pen width
        cols = np.flatnonzero(thin[32, :32])
        assert 10 <= cols.min() and cols.max() <= 18  # ... in the middle of the 12 px stroke (8..19)
        assert thin[8:56, 8:56].any() and not thin[60:].any()
    assert (
        recipes.thin_lines(Image.fromarray(np.zeros((32, 32), np.uint8)), 1) is None
    )  # filled: not line art


def test_colorize_pairs_are_line_sketches_linked_to_their_pictures(tmp_path):
    for src in ("fluentflat", "fluenthc", "openclipart"):
        for split in ("train", "test"):
            (tmp_path / src / split).mkdir(parents=True)
    ring = np.full((64, 64, 3), 255, np.uint8)
    ring[8:56, 8:56] = 0
    ring[14:50, 14:50] = 255
    for split, keys in (("train", ("1f600", "1f601")), ("test", ("1f602",))):
        for k in keys:
            _drawing(int(k[-1]), 64).convert("RGB").resize((64, 64)).save(
                tmp_path / "fluentflat" / split / f"{k}.png"
            )
            Image.fromarray(ring).save(tmp_path / "fluenthc" / split / f"{k}.png")
    _drawing(7, 64).convert("RGB").resize((64, 64)).save(tmp_path / "openclipart/train/d7.png")
    counts = recipes.colorize_pairs(tmp_path, lambda msg: None)
    assert counts["train"] == 5 and counts["test"] == 2
    a = tmp_path / "colorize/train/A"
    assert sorted(p.name for p in a.iterdir()) == [
        "fluentflat__1f600__ink.png",
        "fluentflat__1f600__line.png",
        "fluentflat__1f601__ink.png",
        "fluentflat__1f601__line.png",
        "openclipart__d7__ink.png",
    ]
    for p in a.iterdir():
        sketch = np.asarray(Image.open(p).convert("L"))
        assert (sketch < 128).any() and np.median(sketch) == 255  # dark lines on white paper
        target = tmp_path / "colorize/train/B" / p.name
        assert target.is_symlink() and Image.open(target).size == (64, 64)
    assert (tmp_path / "colorize/train/B/fluentflat__1f600__line.png").resolve() == (
        tmp_path / "fluentflat/train/1f600.png"
    ).resolve()


def test_paired_by_key_links_pairs_and_drops_look_alikes(tmp_path):
    for src in ("flat", "3d"):
        (tmp_path / src / "train").mkdir(parents=True)
        (tmp_path / src / "test").mkdir(parents=True)
    for k, seed in (("a", 1), ("b", 2), ("c", 3)):
        _drawing(seed, 32).convert("RGB").save(tmp_path / "flat/train" / f"{k}.png")
    _drawing(4, 32).convert("RGB").save(tmp_path / "3d/train/a.png")  # a different picture: kept
    _drawing(2, 32).convert("RGB").save(tmp_path / "3d/train/b.png")  # the same picture: dropped
    counts = recipes.paired_by_key(tmp_path, "pairs", "flat", "3d")
    assert counts == {"identical_pairs_dropped": 1, "train": 1, "test": 0}
    assert [p.name for p in (tmp_path / "pairs/train/A").iterdir()] == ["a.png"]
    assert (tmp_path / "pairs/train/B/a.png").resolve() == (tmp_path / "3d/train/a.png").resolve()


def test_untrained_upscaler_is_exactly_bicubic_and_shapes_scale():
    torch.manual_seed(0)
    net = UpscaleNet(scale=4, ngf=8, n_blocks=1)
    x = torch.rand(2, 3, 12, 20) * 2 - 1
    with torch.no_grad():
        y = net(x)
        used = net.eval()(x)  # in use: bicubic within the input's local range (its ringing cut)
    assert y.shape == used.shape == (2, 3, 48, 80)
    assert torch.equal(y, bicubic(x, 4))
    lo, hi = local_range(x, 4)
    assert torch.equal(used, torch.minimum(torch.maximum(bicubic(x, 4), lo), hi))


def test_in_use_the_upscaler_never_overshoots_the_inputs_local_range():
    """A sharpening detail rings past an edge (a halo of a colour neither side has) in training mode; used,
    every output pixel stays within the range of the input pixels around it, and a flat area stays flat."""
    torch.manual_seed(1)
    net = UpscaleNet(scale=4, ngf=8, n_blocks=1)
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.3)  # a large, arbitrary detail
        x = torch.full((1, 3, 16, 16), -0.6)
        x[:, 0, :, 8:] = 0.9  # a red step: channel 0 jumps, the others are flat
        free, used = net.train()(x), net.eval()(x)
    lo, hi = local_range(x, 4)
    assert float((free - hi).max()) > 0.1 or float((lo - free).max()) > 0.1  # it does ring when free
    assert bool(((used >= lo) & (used <= hi)).all())
    assert torch.equal(used[:, 1:], torch.full_like(used[:, 1:], -0.6))  # the flat channels: no halo at all
    # within the range: 3 x 3 input pixels around each, enlarged without the input's pixel grid (bilinear)
    row = [float(v) for v in hi[0, 0, 0]]  # input columns 6 (-0.6 around it) and 7 (0.9: the step beside it)
    assert row[25] == pytest.approx(-0.6) and row[30] == pytest.approx(0.9)
    assert row[25] < row[26] < row[27] < row[28] < row[29] < row[30]


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
            "--blur",  # plainly downscaled inputs, as held out (blurred ones: tests/training/test_upscale_degrade)
            "0",
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


def test_make_models_makes_the_shipped_styles_and_a_withdrawn_recipe_only_when_named():
    """`make models` (training.defaults.main) retrains what addon/models ships: not Painted Portrait, whose
    recipe stays in DEFAULTS (the precision bench, `--only stylize-painted`) but which is not shipped."""
    from pathlib import Path

    from nftgan.training import defaults

    shipped = sorted(
        p.stem
        for p in (Path(__file__).parents[2] / "addon" / "models").glob("*.onnx")
        if ".int8" not in p.name
    )
    assert shipped == ["colorize-flat", "stylize-clay", "upscale-x4"]
    assert sorted(d.id for d in defaults.selected(None)) == shipped
    assert [d.id for d in defaults.selected(["stylize-painted"])] == ["stylize-painted"]
