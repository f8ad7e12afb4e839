"""Dataset layouts, image modes, unreadable files, validation split, jitter, the resumable sampler."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from nftgan.training.cyclegan import CycleGANConfig
from nftgan.training.data import (
    DataError,
    StepSampler,
    find_layout,
    load_rgb,
    paired_datasets,
    split_indices,
    unpaired_datasets,
)
from nftgan.training.pix2pix import Pix2PixConfig
from PIL import Image

from .helpers import paired, unpaired


def test_layouts(tmp_path):
    lay = find_layout(str(paired(tmp_path / "p", n=5)))
    assert lay.kind == "folders" and len(lay.a) == 5 and lay.paired
    Image.new("RGB", (8, 8)).save(tmp_path / "p" / "A" / "only_in_a.png")
    assert find_layout(str(tmp_path / "p")).unmatched == 1
    Image.new("RGB", (8, 8)).save(tmp_path / "p" / "A" / "img000.jpg")  # a second A/img000: one is left out
    assert find_layout(str(tmp_path / "p")).unmatched == 2
    lay = find_layout(str(unpaired(tmp_path / "u", n=3)))
    assert lay.kind == "unpaired" and not lay.paired and len(lay.b) == 3
    (tmp_path / "s").mkdir()
    Image.new("RGB", (64, 32)).save(tmp_path / "s" / "x.png")
    assert find_layout(str(tmp_path / "s")).kind == "side-by-side"


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda p: p, "not found"),
        (lambda p: p.mkdir() or p, "has no images"),
        (lambda p: [(p / d).mkdir(parents=True) for d in ("A", "B")] and p, "A/ and B/ hold no images"),
        (lambda p: (p.write_text("x"), p)[1], "is a file, not a folder"),
    ],
)
def test_bad_folders_explained(tmp_path, make, fragment):
    with pytest.raises(DataError, match=fragment):
        find_layout(str(make(tmp_path / "data")))


def test_pairs_whose_names_do_not_match_are_shown_by_an_example(tmp_path):
    """A/ and B/ full of pictures whose names differ (renamed on one side): the error shows one of each, so the
    user sees how they differ."""
    for d, name in (("A", "cat_sketch.png"), ("B", "cat.png")):
        (tmp_path / d).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / d / name)
    with pytest.raises(DataError, match=r"no file names match \(e\.g\. A/cat_sketch\.png and B/cat\.png\)"):
        find_layout(str(tmp_path))


def test_pix2pix_refuses_unpaired_data(tmp_path):
    cfg = Pix2PixConfig(model="pix2pix", data=str(unpaired(tmp_path / "u", n=3)))
    with pytest.raises(DataError, match=r"unpaired.*cyclegan"):
        paired_datasets(cfg)


def test_pix2pix_on_a_folder_of_plain_pictures_says_to_sketchify_first(tmp_path):
    """A folder of the user's own square pictures, not sketch | picture pairs: pix2pix would learn each
    picture's right half from its left half. Refused, with the command that makes pairs."""
    (tmp_path / "pics").mkdir()
    for i in range(5):
        Image.new("RGB", (64, 64), (i * 40, 90, 200)).save(tmp_path / "pics" / f"p{i}.png")
    Image.new("RGB", (80, 40)).save(
        tmp_path / "pics" / "wide.png"
    )  # one that is 2:1 does not make the rest pairs
    cfg = Pix2PixConfig(model="pix2pix", data=str(tmp_path / "pics"))
    with pytest.raises(DataError, match=r"5 of its 6 pictures are not .*side by side.*nftgan sketchify"):
        paired_datasets(cfg)
    (tmp_path / "pairs").mkdir()
    for i in range(3):
        Image.new("RGB", (128, 64)).save(tmp_path / "pairs" / f"ab{i}.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "pairs" / "odd.png")  # most are pairs: trains, as before
    train, _, layout = paired_datasets(Pix2PixConfig(model="pix2pix", data=str(tmp_path / "pairs")))
    assert layout.kind == "side-by-side" and len(train) + 1 >= 3


def test_the_upscaler_on_an_empty_folder_asks_for_pictures_not_pairs(tmp_path):
    from nftgan.training.upscale import sr_files

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as err:
        sr_files(str(tmp_path / "empty"))
    assert "has no images" in str(err.value) and "any folder of pictures" in str(err.value)
    assert "sketchify" not in str(err.value) and "A/ + B/" not in str(err.value)


def test_modes_become_rgb_with_alpha_over_white(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("RGBA", (4, 4), (255, 0, 0, 255)).save(tmp_path / "red.png")
    Image.new("LA", (4, 4), (0, 128)).save(tmp_path / "la.png")
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.info["transparency"] = 1
    pal.save(tmp_path / "pal.png", transparency=1)
    Image.new("L", (4, 4), 77).save(tmp_path / "grey.jpg", quality=100)
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "i16.png")
    # a dark 16-bit picture (every value <= 255) is still 16-bit: near black, not read as 8-bit levels
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "i16dark.png")
    px = {
        n: load_rgb(str(tmp_path / n)).getpixel((1, 1))
        for n in ("clear.png", "red.png", "la.png", "pal.png", "grey.jpg", "i16.png", "i16dark.png")
    }
    assert px["clear.png"] == (255, 255, 255) and px["red.png"] == (255, 0, 0)
    assert px["la.png"] in ((127, 127, 127), (128, 128, 128))
    assert px["pal.png"] == (255, 255, 255)  # transparent palette entry -> white paper
    assert abs(px["grey.jpg"][0] - 77) <= 1 and px["grey.jpg"][0] == px["grey.jpg"][2]
    assert px["i16.png"] == (255, 255, 255)
    assert px["i16dark.png"] == (1, 1, 1)  # 200 / 65535 of white
    for name in px:
        assert load_rgb(str(tmp_path / name)).mode == "RGB"


def test_a_photo_taken_sideways_is_read_upright(tmp_path):
    """A camera or phone stores a portrait photo as landscape pixels plus an EXIF Orientation tag that every
    viewer honours; training, sketchify and export read the picture the artist sees, not the raw pixels."""
    upright = Image.new("RGB", (40, 60), (220, 20, 20))
    upright.paste((20, 20, 220), (0, 30, 40, 60))  # red top half, blue bottom half
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    upright.rotate(90, expand=True).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    with Image.open(tmp_path / "phone.jpg") as raw:
        assert raw.size == (60, 40)  # stored sideways
    img = load_rgb(str(tmp_path / "phone.jpg"))
    assert img.size == (40, 60)
    top, bottom = img.getpixel((20, 5)), img.getpixel((20, 55))
    assert top[0] > 180 and top[2] < 60 and bottom[2] > 180 and bottom[0] < 60


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    root = paired(tmp_path / "p", n=4, size=40)
    good = (root / "A" / "img001.png").read_bytes()
    (root / "A" / "img001.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "B" / "img002.png").write_text("not an image")
    cfg = Pix2PixConfig(model="pix2pix", data=str(root), size=32, val_fraction=0)
    train, _, _ = paired_datasets(cfg)
    items = [train[(i, 0)] for i in range(4)]
    skipped = [s for it in items for s in it["skipped"]]
    assert len(skipped) == 3  # item 1 -> 2 -> 3 (two bad), item 2 -> 3 (one bad)
    assert any("img001" in s for s in skipped) and any("img002" in s for s in skipped)
    assert all(it["A"].shape == (3, 32, 32) for it in items)
    for name in ("img000", "img003"):  # every good pair can fail too: then it is an error, not a hang
        (root / "A" / f"{name}.png").write_bytes(b"")
    with pytest.raises(DataError, match="could not be read"):
        train[(0, 0)]


def test_validation_split_is_by_name_and_stable():
    names = [f"pic{i:04d}" for i in range(400)]
    train, val = split_indices(names, 0.1)
    assert 20 < len(val) < 60 and not set(train) & set(val) and len(train) + len(val) == 400
    val_names = {names[i] for i in val}
    more = names + [f"new{i}" for i in range(100)]
    assert val_names <= {more[i] for i in split_indices(more, 0.1)[1]}  # adding images never moves old ones
    assert len(split_indices(["a", "b"], 0.01)[1]) == 1  # tiny sets still get one validation image
    assert split_indices(["a", "b"], 0.0)[1] == []


def test_jitter_is_shared_by_a_and_b_and_reproducible(tmp_path):
    cfg = Pix2PixConfig(
        model="pix2pix", data=str(paired(tmp_path / "p", n=6, size=40)), size=32, val_fraction=0
    )
    train, _, _ = paired_datasets(cfg)
    crops = [train[(0, seed)] for seed in range(6)]
    for it in crops:  # B = 255 - A, so the same crop/flip gives B = -A in [-1, 1]
        assert (it["A"] + it["B"]).abs().max() < 2.5 / 127.5  # resampling rounds to uint8
    assert all(torch.equal(train[(0, s)]["A"], crops[s]["A"]) for s in range(6))
    assert len({c["A"].sum().item() for c in crops}) > 3  # different seeds, different crops


def test_unpaired_dataset(tmp_path):
    cfg = CycleGANConfig(model="cyclegan", data=str(unpaired(tmp_path / "u", n=6)), size=32)
    train, val, _ = unpaired_datasets(cfg)
    assert len(val) >= 1 and train[(0, 3)]["B"].shape == (3, 32, 32)


def test_sampler_resumes_mid_epoch_and_splits_ranks():
    data = list(range(10))
    full = StepSampler(data, 1, 0, seed=5, batch_size=2)
    full.set_epoch(3)
    keys = list(full)
    tail = StepSampler(data, 1, 0, seed=5, batch_size=2)
    tail.set_epoch(3)
    tail.start_batch = 2
    assert list(tail) == keys[4:] and len(tail) == 6
    ranks = [StepSampler(data, 2, r, seed=5, batch_size=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(3)
    seen = [k for s in ranks for k in s]
    assert len({i for i, _ in seen}) == 8 and len({seed for _, seed in seen}) == 8
    again = StepSampler(data, 1, 0, seed=5, batch_size=2)
    again.set_epoch(4)
    assert [i for i, _ in again] != [i for i, _ in keys]


def test_hints_are_painted_onto_the_sketch_in_the_pictures_colours(tmp_path):
    root = tmp_path / "p"
    for d in ("A", "B"):
        (root / d).mkdir(parents=True)
    for i in range(6):
        picture = np.full((64, 64, 3), 255, np.uint8)
        picture[8:56, 8:56] = (30 + 30 * i, 160, 220 - 20 * i)  # one flat colour region per picture
        sketch = np.full((64, 64, 3), 255, np.uint8)
        sketch[8:56, 8:10] = sketch[8:56, 54:56] = sketch[8:10, 8:56] = sketch[54:56, 8:56] = 0
        Image.fromarray(sketch).save(root / "A" / f"p{i}.png")
        Image.fromarray(picture).save(root / "B" / f"p{i}.png")
    plain = Pix2PixConfig(
        model="pix2pix", data=str(root), size=64, load_size=64, flip=False, val_fraction=0.3
    )
    hinted = plain.replace(hints=True)
    (tp, _, _), (th, vh, _) = paired_datasets(plain), paired_datasets(hinted)
    painted = 0
    for key in [(i, 100 + i) for i in range(len(th))]:
        a0, a1, b = tp[key]["A"], th[key]["A"], th[key]["B"]
        assert torch.equal(b, tp[key]["B"]) and torch.equal(th[key]["A"], a1)  # the same for the same key
        changed = (a1 - a0).abs().amax(0) > 0.05
        if changed.any():
            painted += 1
            # every changed pixel is the sketch's pixel blended towards the region's colour (soft-edged strokes)
            colour, before, after = b[:, 32, 32, None], a0[:, changed], a1[:, changed]
            alpha = ((after - before) * (colour - before)).sum(0) / ((colour - before) ** 2).sum(0).clamp_min(
                1e-6
            )
            assert (after - before - alpha * (colour - before)).abs().max() < 0.03
            assert alpha.min() > 0 and alpha.max() > 0.95
            assert torch.equal(
                th[key]["W"][0] > 0.5, (b - colour[:, :, None]).abs().amax(0) < 0.05
            )  # W: that colour's pixels
    assert painted >= len(th) // 2
    again = paired_datasets(hinted)[1]  # validation: the same hints at every validation
    assert len(vh) and all(torch.equal(vh[i]["A"], again[i]["A"]) for i in range(len(vh)))


def test_an_unreadable_unpaired_picture_is_named_and_counted_once(tmp_path):
    """CycleGAN data: a damaged picture in trainB/ is drawn as the partner of many trainA/ pictures. Each skip
    names that file (not the trainA/ picture it was drawn for), so the trainer's log and its count of unreadable
    images ("N unreadable images skipped", deduplicated by what the skip says) show one bad file, not one per
    partner it spoiled."""
    root = unpaired(tmp_path / "u", n=6)
    bad = root / "trainB" / "b002.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    cfg = CycleGANConfig(model="cyclegan", data=str(root), size=32, val_fraction=0)
    train, _, _ = unpaired_datasets(cfg)
    skipped = {s for seed in range(60) for i in range(6) for s in train[(i, seed)]["skipped"]}
    assert skipped and all(s.startswith(f"{bad} (") for s in skipped), skipped
    assert len(skipped) == 1, skipped


def test_unreadable_data_in_loader_workers_is_a_one_line_error(tmp_path, capsys):
    """`nftgan train` with the default loader worker processes on a folder whose images are all damaged: the
    error is the dataset's own message, as with --workers 0, not the worker's traceback that torch's DataLoader
    wraps around it."""
    from .helpers import TINY, run_train

    root = paired(tmp_path / "p", n=4)
    for f in root.glob("*/*.png"):
        f.write_bytes(b"not an image")
    flags = [*TINY[:-4], "--workers", "1", "--steps", "2", "--val-fraction", "0"]
    rc, text = run_train(["pix2pix", "--data", str(root), "--out", str(tmp_path / "run"), *flags], capsys)
    assert rc == 1, text
    error = next(line for line in text.splitlines() if "error:" in line).partition("nftgan train: error: ")[2]
    assert error.startswith("4 images in a row could not be read, e.g. "), error
    assert error.endswith("open them in an image viewer, and replace or remove the damaged ones"), error
    assert "Traceback" not in text and "DataLoader worker" not in text, text


def test_pictures_in_subfolders_that_a_run_does_not_read_are_counted_or_pointed_to(tmp_path, capsys):
    """A folder of pictures with subfolders (what `nftgan sketchify` reads whole): the upscaler and collection
    kinds read only the folder's own files, so their first log line says how many pictures in subfolders it
    leaves out (hidden folders such as .nftgan-cache not counted), and a folder whose pictures are all in
    subfolders gets an error that says where they are, not only "has no images"."""
    from .helpers import TINY, run_train, smooth_image

    rng = np.random.default_rng(0)
    root = tmp_path / "pictures"
    for rel in ("a.png", "b.png", "c.png", "d.png", "cats/e.png", "cats/old/f.png", "dogs/g.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(rng, 40)).save(root / rel)
    (root / ".hidden").mkdir()
    Image.fromarray(smooth_image(rng, 40)).save(root / ".hidden" / "h.png")
    one = ["--steps", "1", "--batch-size", "2", "--workers", "0"]
    upscale = ["--size", "32", "--ngf", "4", "--n-blocks", "1", "--val-fraction", "0"]
    for kind, flags in (("upscale", upscale), ("dcgan", TINY[:6])):
        rc, text = run_train([kind, "--data", str(root), "--out", str(tmp_path / kind), *flags, *one], capsys)
        assert rc == 0, text
        assert "3 pictures in subfolders left out: only the folder's own files are read" in text, text
        assert "(image folder)" in text and "side-by-side" not in text, text  # not pix2pix's pairs
    nested = tmp_path / "nested"
    nested.mkdir()
    (root / "cats").rename(nested / "cats")
    for kind in ("upscale", "dcgan", "pix2pix"):
        rc, text = run_train([kind, "--data", str(nested), "--out", str(tmp_path / f"{kind}2"), *one], capsys)
        assert rc == 1 and "Its 2 pictures are in subfolders, which are not read" in text, (kind, text)


def test_the_upscaler_says_how_many_pictures_it_enlarges_to_its_size(tmp_path, capsys):
    """A picture smaller than the upscaler's --size is enlarged to it, so its blur becomes a target: the log
    says how many there are and what to do (a warning, not an error: the run trains)."""
    from .helpers import run_train, smooth_image

    rng = np.random.default_rng(1)
    root = tmp_path / "pictures"
    root.mkdir()
    for i, side in enumerate((40, 40, 40, 20, 31)):
        Image.fromarray(smooth_image(rng, side)).save(root / f"p{i}.png")
    flags = ["--size", "32", "--ngf", "4", "--n-blocks", "1", "--val-fraction", "0", "--steps", "1"]
    rc, text = run_train(
        ["upscale", "--data", str(root), "--out", str(tmp_path / "run"), *flags, "--workers", "0"], capsys
    )
    assert rc == 0, text
    assert "2 of 5 pictures are smaller than --size 32 px and are enlarged to it" in text, text
    for small in ("p3.png", "p4.png"):
        (root / small).unlink()
    rc, text = run_train(
        ["upscale", "--data", str(root), "--out", str(tmp_path / "big"), *flags, "--workers", "0"], capsys
    )
    assert rc == 0 and "smaller than --size" not in text, text


def test_a_picture_too_large_to_read_says_so_and_a_large_one_is_read_without_a_warning(tmp_path, monkeypatch):
    """Pillow warns past MAX_IMAGE_PIXELS (89 M: a big scan) and refuses past twice that: the first is read
    quietly (its warning was two lines of Pillow's source path on stderr, once a step), the second is skipped
    saying how large it is and to scale it down, not "could be decompression bomb DOS attack"."""
    import warnings

    from nftgan.training.data import UNREADABLE

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 40x40 picture stands for 89-179 M pixels
    Image.new("RGB", (40, 40), (10, 20, 30)).save(tmp_path / "large.png")
    Image.new("RGB", (50, 50)).save(tmp_path / "huge.png")  # 2,500 pixels: past twice the limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_rgb(str(tmp_path / "large.png")).getpixel((0, 0)) == (10, 20, 30)
    with pytest.raises(UNREADABLE) as caught:
        load_rgb(str(tmp_path / "huge.png"))
    message = str(caught.value)
    assert "2,500 pixels" in message and "scale it down" in message and "bomb" not in message, message


@pytest.mark.parametrize(
    "folders,fragment",
    [
        (("trainA",), "has trainA/ but no trainB/"),
        (("A",), "has A/ but no B/"),
        (("trainA", "trainb"), "trainb/: name it trainB/ (folder names are case-sensitive)"),
        (("a", "b"), "a/: name it A/ (folder names are case-sensitive)"),
    ],
)
def test_one_half_of_a_dataset_missing_or_misnamed_is_said_as_such(tmp_path, folders, fragment):
    """trainA/ without trainB/ (or B/ spelt b/) was "has no images ... pass a subfolder", which for CycleGAN
    is the wrong advice: the layout is one folder short, or a folder's name is a letter's case off."""
    for name in folders:
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "x.png")
    with pytest.raises(DataError, match=re.escape(fragment)):
        find_layout(str(tmp_path))


def test_cyclegans_note_on_enlarged_pictures_names_the_folders_it_means_in_one_line(tmp_path):
    """CycleGAN reads both folders as pictures: its note on pictures enlarged more than twice names each
    folder that has them, in one line, as the layout names its folders (trainA/, trainB/ or A/, B/); it said
    the whole advice once per folder."""
    cfg = CycleGANConfig(model="cyclegan", data=str(paired(tmp_path / "ab", n=4, size=40)), size=128)
    notes = [n for n in unpaired_datasets(cfg)[2].notes if "smaller than half" in n]
    assert len(notes) == 1 and notes[0].startswith(
        "4 of 4 pictures in A/ and 4 of 4 pictures in B/ are smaller than half of the 143 px"
    ), notes
    root = unpaired(tmp_path / "u", n=3, size=40)
    for i, path in enumerate(sorted((root / "trainB").iterdir())):  # trainB/: 2 of 3 large enough
        if i:
            Image.new("RGB", (160, 160), "white").save(path)
    notes = unpaired_datasets(CycleGANConfig(model="cyclegan", data=str(root), size=128))[2].notes
    assert [n[: n.index(" are ")] for n in notes] == [
        "3 of 3 pictures in trainA/ and 1 of 3 pictures in trainB/"
    ]
