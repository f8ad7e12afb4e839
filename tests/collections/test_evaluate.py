"""FID / KID / paired metrics: the maths checked against SciPy and closed forms on known Gaussians,
the Inception network's weight loading and errors, and the `nftgan eval` command on real image folders."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch
from nftgan.export.cli import main as nftgan
from nftgan.training import evaluate as ev
from PIL import Image


def _random_cov(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / (rank or d) + (0 if rank else 0.1 * np.eye(d))


def _scipy_frechet(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for d in (1, 5, 64):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
        assert ev.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
            _scipy_frechet(mu1, s1, mu2, s2), rel=1e-8
        )


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    # diagonal covariances commute: Tr((S1 S2)^1/2) = sum sqrt(s1_i s2_i)
    rng = np.random.default_rng(1)
    v1, v2 = rng.uniform(0.1, 3, 32), rng.uniform(0.1, 3, 32)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()
    assert ev.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)
    assert ev.frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_is_real_and_finite_for_singular_covariances():
    # fewer samples than dimensions (the usual small-collection case): rank-deficient covariances
    rng = np.random.default_rng(2)
    d = 128
    s1, s2 = _random_cov(rng, d, rank=10), _random_cov(rng, d, rank=12)
    mu = np.zeros(d)
    ours = ev.frechet_distance(mu, s1, mu, s2)
    assert np.isfinite(ours) and ours > 0
    # SciPy's sqrtm is not reliable here (complex parts, lost precision); ours agrees with its real part
    assert ours == pytest.approx(_scipy_frechet(mu, s1, mu, s2), rel=1e-3)
    assert ev.frechet_distance(mu, s1, mu, s1) == pytest.approx(0, abs=1e-6)


def test_fid_from_samples_of_known_gaussians():
    rng = np.random.default_rng(3)
    d, n = 8, 20000
    mu2, v2 = np.full(d, 0.5), np.full(d, 2.0)
    x = rng.standard_normal((n, d))
    y = mu2 + np.sqrt(v2) * rng.standard_normal((n, d))
    expected = (mu2**2).sum() + (1 + v2 - 2 * np.sqrt(v2)).sum()
    assert ev.fid_from_features(x, y) == pytest.approx(expected, rel=0.05)


def _brute_mmd2(x, y):
    k = lambda a, b: (a @ b / x.shape[1] + 1) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_polynomial_mmd_matches_the_definition():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((9, 5)), rng.standard_normal((7, 5)) + 0.3
    assert ev.polynomial_mmd2(x, y) == pytest.approx(_brute_mmd2(x, y), rel=1e-10)


def test_kid_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    same, same_std, size = ev.kid_from_features(x, y, subsets=50, subset_size=100)
    assert size == 100
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: zero within its spread
    shifted = ev.kid_from_features(x, y + 0.5, subsets=50, subset_size=100)[0]
    assert shifted > 10 * max(same_std, 1e-4)


def test_kid_subset_size_adapts_to_small_sets():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((12, 4))
    mean, std, size = ev.kid_from_features(x, y)  # default subset size 1000 > both sets
    assert size == 12 and np.isfinite(mean) and std > 0  # x is subsampled, so subsets still differ
    mean, std, size = ev.kid_from_features(x[:12], y)
    assert size == 12 and std == 0.0  # one subset is all there is
    assert mean == pytest.approx(ev.polynomial_mmd2(x[:12], y), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        ev.kid_from_features(x[:1], y)


def _scipy_ssim(a, b):
    # independent reference: scipy's Gaussian filter (sigma 1.5, truncated at 3.5 sigma = 11 taps),
    # statistics over the window positions that lie fully inside the image
    vals = []
    for c in range(a.shape[2]):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        f = lambda t: scipy.ndimage.gaussian_filter(t, 1.5, truncate=3.5)[5:-5, 5:-5]
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        c1, c2 = 0.01**2, 0.03**2
        vals.append((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())
    return float(np.mean(vals))


def test_ssim_and_psnr():
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 1, (40, 33, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    assert ev.ssim(a, b) == pytest.approx(_scipy_ssim(a, b), abs=1e-9)
    assert ev.ssim(a, a) == pytest.approx(1.0)
    assert ev.psnr(a, a + 0.1) == pytest.approx(20.0)
    assert ev.psnr(a, a) == float("inf")
    with pytest.raises(ValueError, match="11x11"):
        ev.ssim(a[:8], b[:8])


def _stand_in(x):
    """A small stand-in for Inception: 4x4 average colours (48-d)."""
    return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def _folder(path, rng, n, mean, size=16):
    os.makedirs(path, exist_ok=True)
    for i in range(n):
        img = np.clip(rng.normal(mean, 0.15, (size, size, 3)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(os.path.join(path, f"{i:03d}.png"))
    return str(path)


def test_features_of_folders_rank_distributions(tmp_path):
    rng = np.random.default_rng(8)
    real = _folder(tmp_path / "real", rng, 24, 0.5)
    close = _folder(tmp_path / "close", rng, 24, 0.55)
    far = _folder(tmp_path / "far", rng, 24, 0.8)
    (tmp_path / "far" / "broken.png").write_bytes(b"not a png")  # skipped, not fatal
    feats = {
        k: ev.extract_features(ev._readable(ev._images(p)), _stand_in, batch_size=10, size=16)
        for k, p in (("real", real), ("close", close), ("far", far))
    }
    assert feats["real"].shape == (24, 48) and feats["far"].shape == (24, 48)
    assert ev.fid_from_features(feats["real"], feats["close"]) < ev.fid_from_features(
        feats["real"], feats["far"]
    )
    assert (
        ev.kid_from_features(feats["real"], feats["close"])[0]
        < ev.kid_from_features(feats["real"], feats["far"])[0]
    )


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A weights file with the standard file's parameter names (and its classifier), random values."""
    torch.manual_seed(0)
    net = ev.InceptionPool3()
    state = net.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(state, path)
    return str(path)


def test_inception_loads_standard_names_and_gives_pool3(random_inception_weights, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the FID network's layout: no "not comparable" warning
        net = ev.load_inception(random_inception_weights)
    with torch.no_grad():
        feats = net(torch.rand(2, 3, 48, 40))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    # torchvision's ImageNet Inception-v3 has the same layers but 1000 classes: loads, flagged
    state = torch.load(random_inception_weights, weights_only=True)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    torch.save(state, tmp_path / "imagenet.pth")
    with pytest.warns(UserWarning, match="not be comparable"):
        ev.load_inception(tmp_path / "imagenet.pth")


def test_inception_errors_are_actionable(tmp_path, monkeypatch):
    monkeypatch.delenv(ev.INCEPTION_ENV, raising=False)
    with pytest.raises(ev.EvalError, match=r"pt_inception-2015-12-05-6726825d.pth") as exc:
        ev.load_inception(None)
    assert ev.FID_WEIGHTS_URL in str(exc.value)
    with pytest.raises(ev.EvalError, match="no such file"):
        ev.load_inception(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(ev.EvalError, match="not a readable"):
        ev.load_inception(bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.warns(UserWarning), pytest.raises(ev.EvalError, match="does not match Inception"):
        ev.load_inception(other)


@pytest.mark.parametrize(
    "device,said",
    [
        ("tpu", "--device tpu: not a device name; use auto, cpu, cuda or cuda:N"),
        ("xla", "--device xla: this PyTorch has no xla device (use --device cpu)"),
    ],
)
def test_eval_device_is_checked_as_train_checks_it(device, said, tmp_path, random_inception_weights):
    """`nftgan eval fid/kid --device` takes train's one check: with the weights present, a device name torch
    does not know (tpu) or one this PyTorch lacks (xla: no build has it without torch_xla, where mps
    would pass on an Apple-silicon Mac) is one line, exit status 2, not torch's traceback."""
    rng = np.random.default_rng(1)
    real, fake = (_folder(tmp_path / n, rng, 2, 0.5, size=24) for n in ("real", "fake"))
    for metric in ("fid", "kid"):
        argv = ["eval", metric, real, fake, "--inception", random_inception_weights, "--device", device]
        proc = subprocess.run(
            [sys.executable, "-m", "nftgan.export.cli", *argv], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2 and proc.stderr.splitlines() == [
            f"nftgan eval {metric}: error: {said}"
        ], proc.stderr


@pytest.mark.slow
def test_eval_command_fid_kid_with_small_set_warning(tmp_path, random_inception_weights, capsys):
    rng = np.random.default_rng(9)
    real = _folder(tmp_path / "real", rng, 3, 0.4, size=24)
    fake = _folder(tmp_path / "fake", rng, 2, 0.6, size=32)
    assert nftgan(["eval", "fid", real, fake, "--inception", random_inception_weights, "--json"]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["real"] == 3 and result["fake"] == 2 and result["fid"] >= 0
    assert "2048" in out.err and "warning" in result
    assert nftgan(["eval", "kid", real, fake, "--inception", random_inception_weights, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["subset_size"] == 2 and np.isfinite(result["kid"])


def test_eval_command_paired(tmp_path, capsys):
    rng = np.random.default_rng(10)
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir(), target.mkdir()
    ssims = []
    for i in range(3):
        t = rng.integers(0, 246, (24, 20, 3), dtype=np.uint8)
        ssims.append(_scipy_ssim((t + 10) / 255.0, t / 255.0))
        Image.fromarray(t).save(target / f"img{i}.bmp")  # names match whatever the format
        Image.fromarray(t + 10).save(pred / f"img{i}.png")  # every pixel 10 levels brighter
    Image.fromarray(t).save(pred / "extra.png")
    assert nftgan(["eval", "paired", str(pred), str(target), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pairs"] == 3 and result["unmatched"] == 1
    assert result["l1"] == pytest.approx(10 / 255, rel=1e-5)
    assert result["psnr"] == pytest.approx(20 * np.log10(255 / 10), rel=1e-5)
    assert result["ssim"] == pytest.approx(np.mean(ssims), abs=1e-6)
    Image.fromarray(t[:10]).save(pred / "img0.png")
    # the library raises, the command prints the reason and exits 1
    with pytest.raises(ev.EvalError, match="same size"):
        ev.paired_metrics(str(pred), str(target))
    assert nftgan(["eval", "paired", str(pred), str(target)]) == 1
    assert (
        "nftgan eval paired: error: img0: prediction is 20x10 but target is 20x24" in capsys.readouterr().err
    )
    assert nftgan(["eval", "paired", str(pred), _folder(tmp_path / "other", rng, 1, 0.5)]) == 1
    assert "no file names in common" in capsys.readouterr().err


def test_a_picture_too_large_for_pillow_is_skipped_like_any_unreadable_one(tmp_path):
    """A 900-megapixel header (Pillow's DecompressionBombError, not an OSError): None, as for a damaged file."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    assert ev.read_rgb(str(tmp_path / "huge.png")) is None


def test_eval_errors_name_the_metric_and_the_argument(tmp_path, random_inception_weights, capsys):
    """`nftgan eval fid A B` said "nftgan eval: error: need at least 2 feature vectors (images), got shape
    (1, 2048)" for a folder with one readable picture (which metric? which folder?), and SSIM's minimum size
    without the files. Each error now comes from `nftgan eval METRIC` and names the argument and its folder."""
    rng = np.random.default_rng(11)
    real, fake = (
        _folder(tmp_path / "real", rng, 1, 0.5, size=24),
        _folder(tmp_path / "fake", rng, 2, 0.5, size=24),
    )
    (tmp_path / "real" / "broken.png").write_bytes(b"not a picture")
    for metric in ("fid", "kid"):
        assert nftgan(["eval", metric, real, fake, "--inception", random_inception_weights]) == 1
        err = capsys.readouterr().err.splitlines()
        assert err[-1] == (
            f"nftgan eval {metric}: error: REAL {real}: {metric.upper()} needs at least 2 readable images in each "
            "folder; 1 of its 2 could be read."
        ), err
    pred, target = (
        _folder(tmp_path / "pred", rng, 1, 0.5, size=8),
        _folder(tmp_path / "target", rng, 1, 0.5, size=8),
    )
    assert nftgan(["eval", "paired", pred, target]) == 1
    said = capsys.readouterr().err
    assert said.startswith(
        "nftgan eval paired: error: 000: SSIM needs images of at least 11x11 pixels, got 8x8"
    )
    assert f"PRED {pred}/000.png, TARGET {target}/000.png" in said, said


def test_eval_says_its_progress_and_its_warnings_as_the_other_commands_do(
    tmp_path, random_inception_weights, capsys
):
    """On stderr (stdout is the result), its progress lines unprefixed as train's, data's and a stylize
    batch's are, naming each folder as its argument (as its errors do: "REAL x: ..."), and an unreadable
    file a warning as sketchify's and stylize's are ("nftgan eval kid: warning: skipped ..."). They were
    "skipping unreadable image X" and "1 unreadable image(s) skipped", unprefixed, beside its prefixed errors."""
    rng = np.random.default_rng(3)
    real = _folder(tmp_path / "real", rng, 3, 0.4, size=24)
    fake = _folder(tmp_path / "fake", rng, 3, 0.6, size=24)
    broken = tmp_path / "real" / "zz-broken.png"
    broken.write_bytes(b"not a png")
    assert nftgan(["eval", "kid", real, fake, "--inception", random_inception_weights, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["real"] == 3
    err = out.err.splitlines()
    assert f"REAL {real}: 4 images" in err and f"FAKE {fake}: 3 images" in err, err
    assert f"nftgan eval kid: warning: skipped unreadable image {broken}" in err, err
    assert not [line for line in err if "unreadable" in line and not line.startswith("nftgan eval kid: ")], (
        err
    )
    pred, target = _folder(tmp_path / "pred", rng, 2, 0.5), _folder(tmp_path / "target", rng, 2, 0.5)
    (tmp_path / "target" / "001.png").write_bytes(b"not a png")
    assert nftgan(["eval", "paired", pred, target]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"nftgan eval paired: warning: skipped the pair 001: {target}/001.png cannot be read"], err
