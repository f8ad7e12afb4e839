"""Bad input costs neither memory nor data: a job's memory is estimated before anything big is made and
refused above a named limit; a sketch is read reduced when the work is smaller anyway; model metadata
is bounded; a model that outputs NaN is caught; a result never replaces its source. Real models, real
processes (peak memory: the child's VmHWM), no bpy."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from nftgan.core import imageio, pipeline
from nftgan.core.contract import ModelError, ModelInfo, build_metadata, describe_model
from nftgan.core.errors import UserError
from nftgan.export.validate import validate
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def white_png(path: Path, width: int, height: int) -> Path:
    """A real, complete RGB PNG of width x height white pixels, compressed as it is written (a 10000² one
    is ~300 kB on disk)."""
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * (3 * width)
    idat = bytearray()
    for top in range(0, height, 64):
        idat += comp.compress(row * min(64, height - top))
    idat += comp.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", bytes(idat))
        + _chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    return white_png(tmp_path_factory.mktemp("huge") / "huge.png", 10000, 10000)


def stylize_process(*args, limit="2G", timeout=300):
    """`nftgan stylize ARGS` in a fresh process; (returncode, stderr, its peak RSS in MB). Linux (/proc)."""
    code = (  # VmHWM: this program's own peak (ru_maxrss would count the forked test process's pages)
        "import sys\n"
        "from nftgan.core.pipeline import main\n"
        "rc = main(sys.argv[1:])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(f'PEAK {int(hwm) / 1024:.0f}', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NFTGAN_MEMORY_LIMIT": limit}
    r = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    peak = float(r.stderr.rsplit("PEAK ", 1)[1]) if "PEAK " in r.stderr else float("nan")
    return r.returncode, r.stderr, peak


def test_a_huge_png_is_refused_before_it_is_decoded(huge_png, test_models, tmp_path):
    out = tmp_path / "out.png"
    rc, err, peak = stylize_process(huge_png, "-o", out, "--models", test_models, "--colorize", "colorize")
    assert rc == 1 and "Traceback" not in err, err
    assert "10000x10000" in err and "needs about" in err and "NFTGAN_MEMORY_LIMIT" in err and "2.0 GB" in err
    assert "--resize" in err  # what to do about it
    assert peak < 600, peak  # the 1.6 GB float image (8 GB before) was never made
    assert not out.exists()


def test_a_huge_png_is_read_reduced_when_the_work_is_smaller(huge_png, test_models, tmp_path):
    out = tmp_path / "out.png"
    rc, err, peak = stylize_process(
        huge_png, "-o", out, "--models", test_models, "--colorize", "colorize", "--resize", "256"
    )
    assert rc == 0, err
    assert imageio.read_image(str(out)).shape == (256, 256, 4)
    assert peak < 1000, peak  # the 8-bit decode (~400 MB) and small arrays, not 16 bytes per pixel


def test_a_huge_size_is_refused_before_anything_is_allocated(test_models, tmp_path):
    src = white_png(tmp_path / "small.png", 64, 48)
    rc, err, peak = stylize_process(
        src, "-o", tmp_path / "o.png", "--models", test_models, "--resize", "16384"
    )
    assert rc == 1 and "Traceback" not in err, err
    assert err.splitlines()[0].endswith(  # 201 MP: beyond NFTGan's limits, whatever the memory
        "stylizing 16384x12288 px: the result is more than NFTGan handles (16384 px per side, 100 megapixels); "
        "stylize at 11547 px per side or less (--resize 11547)."
    ), err
    assert peak < 600, peak


def test_an_upscale_larger_than_nftgan_handles_is_refused_before_anything_is_read(test_models, tmp_path):
    """A picture within the limits whose x4 result is not (4097 px -> 16388 px per side): one line naming the
    result, the limit and the way out, whatever the memory limit, and no output."""
    src = white_png(tmp_path / "wide.png", 4097, 8)
    out = tmp_path / "o.png"
    args = (
        "-o",
        out,
        "--models",
        test_models,
        "--colorize",
        "none",
        "--style",
        "none",
        "--upscale",
        "upscale",
    )
    rc, err, peak = stylize_process(src, *args, limit="1000G")
    assert rc == 1 and "Traceback" not in err, err
    assert (
        "stylizing 4097x8 px into 16388x32 px: the result is more than NFTGan handles (16384 px per side, "
        "100 megapixels); skip the upscale (--upscale none), or stylize at 4096 px per side or less "
        "(--resize 4096)." in err
    ), err
    assert "turn Upscale off" not in err  # (the add-on's control, not the command's)
    assert peak < 600 and not out.exists(), peak


def test_the_memory_refusal_of_an_upscale_names_the_commands_own_options(test_models, tmp_path):
    """`nftgan stylize --upscale MODEL` over the memory limit said "... (nftgan stylize --resize N), or turn
    Upscale off.": the add-on's control, which the command does not have. It names the command's options:
    --resize and --upscale none."""
    src = white_png(tmp_path / "big.png", 2048, 2048)
    args = ("-o", tmp_path / "o.png", "--models", test_models, "--colorize", "none", "--style", "none")
    rc, err, _ = stylize_process(src, *args, "--upscale", "upscale", limit="2G")
    assert rc == 1 and "Traceback" not in err, err
    assert "stylizing 2048x2048 px into 8192x8192 px needs about" in err, err
    assert "stylize at a smaller size (--resize N), or skip the upscale (--upscale none)." in err, err
    assert "turn Upscale off" not in err and "nftgan stylize --resize" not in err, err


def test_the_memory_estimate_covers_what_a_job_really_takes(colorize_model, stylize_model, upscale_model):
    import tracemalloc

    models = {k: describe_model(p) for k, p in (("colorize", colorize_model), ("stylize", stylize_model))}
    # a style with a larger work size than the colorizer's (3D Clay: 512 vs 256 px) takes the colorized
    # result back at the sketch's size
    worked = {
        "colorize": replace(models["colorize"], work_size=64),
        "stylize": replace(models["stylize"], work_size=128),
    }
    for (h, w), extra, size in (
        ((300, 700), {}, None),
        ((96, 64), {"upscale": upscale_model}, None),
        ((40, 60), {}, 400),
        ((600, 450), {"upscale": upscale_model, **worked}, None),
    ):
        both = {
            **models,
            **{k: v if isinstance(v, ModelInfo) else describe_model(v) for k, v in extra.items()},
        }
        sketch = np.ones((h, w, 4), np.float32)
        estimate = pipeline.job_bytes(h, w, both, size) - pipeline.RUNTIME_BYTES
        tracemalloc.start()
        tracemalloc.reset_peak()
        pipeline.run(sketch, models=both, size=size)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= estimate <= 4 * peak, (h, w, extra, size, peak, estimate)


def test_the_limit_is_named_and_can_be_set(monkeypatch):
    monkeypatch.setenv("NFTGAN_MEMORY_LIMIT", "1.5G")
    assert imageio.memory_limit() == (int(1.5 * 1024**3), "1.5 GB (NFTGAN_MEMORY_LIMIT)")
    monkeypatch.setenv("NFTGAN_MEMORY_LIMIT", "lots")
    with pytest.raises(UserError, match="NFTGAN_MEMORY_LIMIT='lots'"):
        imageio.memory_limit()
    monkeypatch.delenv("NFTGAN_MEMORY_LIMIT")
    limit, name = imageio.memory_limit()
    assert limit > 0 and "half of this computer's memory" in name


def _model(path: Path, *, op: str = "Identity", **props) -> Path:
    """A one-node image model (stylize contract) whose metadata can be anything."""
    meta = build_metadata(kind="stylize", name=f"{op} model", size=32, multiple_of=1)
    meta.update({k: str(v) for k, v in props.items()})
    graph = helper.make_graph(
        [helper.make_node(op, ["image"], ["output"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, meta)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    "key,value",
    [
        ("nftgan.size", 1_000_000),
        ("nftgan.size", 2**31),
        ("nftgan.multiple_of", 1_000_000),
        ("nftgan.multiple_of", 2**31),
        ("nftgan.work_size", 2**31),
    ],
)
def test_model_metadata_is_bounded(key, value, tmp_path, capsys):
    path = _model(tmp_path / "big.onnx", **{key: value})
    with pytest.raises(ModelError, match=rf"{key}={value} is more than NFTGan accepts"):
        validate(str(path))
    src = white_png(tmp_path / "s.png", 40, 30)
    rc = pipeline.main([str(src), "-o", str(tmp_path / "o.png"), "--style", str(path), "--colorize", "none"])
    err = capsys.readouterr().err
    assert rc == 1 and "is more than NFTGan accepts" in err and "Traceback" not in err


def test_a_models_output_beyond_its_range_is_clipped(tmp_path):
    """Exp returns up to e on a sketch in [-1, 1]: one tile's output is clipped to [-1, 1] (in place, only when it
    is out of range) before the strength mixes it with the stage's input (and before a next stage takes it);
    an output in range passes untouched (Identity)."""
    sketch = np.random.default_rng(0).uniform(0, 1, (40, 30, 4)).astype(np.float32)
    sketch[..., 3] = 1.0
    x = pipeline.to_model_space(sketch)
    for op, out in (("Exp", np.clip(np.exp(x), -1, 1)), ("Identity", x)):
        model = describe_model(_model(tmp_path / f"{op}.onnx", op=op))
        got = pipeline.run(sketch, models={"stylize": model}, strength={"stylize": 0.5})["stylize"]
        np.testing.assert_allclose(got, pipeline.to_image_space(x + 0.5 * (out - x)), atol=1e-6)


def test_a_model_that_outputs_nan_is_caught(tmp_path, capsys):
    """Sqrt: finite on an all-zero input (which is all validate used to try), NaN on a real sketch."""
    path = _model(tmp_path / "nan.onnx", op="Sqrt")
    with pytest.raises(ModelError, match="NaN or infinity on the sample sketch"):
        validate(str(path))
    src = white_png(tmp_path / "s.png", 40, 30)
    sketch = imageio.read_image(str(src))
    sketch[10:20, 5:25, :3] = 0.0  # a black stroke: -1 in model space
    with pytest.raises(UserError, match=r"Sqrt model \(nan.onnx\) produced NaN or infinite values"):
        pipeline.run(sketch, models={"stylize": describe_model(path)})
    imageio.write_png(str(src), sketch)
    out = tmp_path / "o.png"
    rc = pipeline.main([str(src), "-o", str(out), "--style", str(path), "--colorize", "none"])
    assert rc == 1 and "produced NaN or infinite values" in capsys.readouterr().err
    assert not out.exists()  # no all-black image with exit 0


def test_stylize_never_writes_over_its_sketch(tmp_path, test_models, capsys, monkeypatch):
    src = white_png(tmp_path / "x.png", 40, 30)
    before = src.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(src)
    monkeypatch.chdir(tmp_path)
    for out in (str(src), "x.png", "./x.png", str(link)):
        rc = pipeline.main(["x.png", "-o", out, "--models", str(test_models)])
        err = capsys.readouterr().err
        assert rc == 1 and "never writes a result over its source" in err, (out, err)
    assert src.read_bytes() == before


ON_SMALL_DISK = """
import os, sys
from nftgan.core.pipeline import main
out = os.path.join(FS, "out.png")
rc = main([sys.argv[1], "-o", out, "--models", sys.argv[2], "--colorize", "colorize", "--style", "none"])
print("LEFT", sorted(os.listdir(FS)), open(out, "rb").read() == open(sys.argv[3], "rb").read())
sys.exit(rc)
"""


@pytest.mark.parametrize("read_only", [False, True])
def test_a_result_the_disk_cannot_take_leaves_the_old_one_and_no_temp_file(read_only, test_models, tmp_path):
    """A full disk and a read-only one, for real (tests/limited_fs.py): the message says what happened and
    what to do, no traceback; the result from before stays as it was and no temp file is left behind."""
    from PIL import Image

    from tests.limited_fs import run_on_small_fs

    src = tmp_path / "noise.png"  # its result is ~90 kB as PNG: more than the 32 kB disk takes
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (320, 320, 3), dtype=np.uint8)).save(src)
    (tmp_path / "old").mkdir()
    old = white_png(tmp_path / "old" / "out.png", 8, 8)
    result = run_on_small_fs(ON_SMALL_DISK, src, test_models, old, size="32k", seed=old, read_only=read_only)
    err = result.stderr
    assert result.returncode == 1 and "Traceback" not in err, err
    expected = "choose a folder you can write to" if read_only else "the disk is full"
    assert "writing " in err and expected in err, err
    assert "LEFT ['out.png'] True" in result.stdout, result.stdout


def test_a_huge_or_unknown_file_is_refused_saying_what_it_is(tmp_path):
    """A header claiming 60000² pixels (beyond pillow's own bomb limit) gets NFTGan's limits and its size, not
    pillow's "decompression bomb DOS attack"; a text file named .png no "<_io.BufferedReader ...>"."""
    huge = tmp_path / "huge.png"
    huge.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(imageio.ImageError) as caught:
        imageio.read_image(str(huge))
    assert str(caught.value) == (
        f"{huge} is 60000x60000 pixels, more than NFTGan handles (16384 px per side, 100 megapixels); "
        "scale it down first."
    )
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(imageio.ImageError) as caught:
        imageio.image_size(str(text))
    assert str(caught.value).startswith(f"{text} is not a readable image (not an image file, or in a format")
    assert "<" not in str(caught.value)


# (each child first takes SIGINT as a terminal gives it: a job a non-interactive shell starts in the background,
# e.g. `.ci/run &`, inherits SIGINT ignored, and Python then raises no KeyboardInterrupt)
INTERRUPTED = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from nftgan.core import pipeline
run = pipeline.run
def run_and_ctrl_c(*args, **kw):  # a real SIGINT, as Ctrl+C sends it, while the sketch is being stylized
    os.kill(os.getpid(), signal.SIGINT)
    return run(*args, **kw)
pipeline.run = run_and_ctrl_c
sys.exit(pipeline.main(sys.argv[1:]))
"""


def test_ctrl_c_on_one_sketch_is_a_message_not_a_traceback(test_models, tmp_path):
    src, out = white_png(tmp_path / "s.png", 64, 48), tmp_path / "out.png"
    r = subprocess.run(
        [sys.executable, "-c", INTERRUPTED, str(src), "-o", str(out), "--models", str(test_models)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
    assert f"interrupted; {out} was not written" in r.stderr and not out.exists()


def test_an_empty_sketch_is_a_message_through_the_core_api(colorize_model):
    """A 0 x 0 or 0 x N array (an empty image a script hands over): the size check's message, not a
    ZeroDivisionError from the memory estimate."""
    for shape in ((0, 0, 4), (0, 32, 4)):
        with pytest.raises(UserError, match=r"image is empty \(\d+x0 pixels\); paint or load a sketch first"):
            pipeline.run(
                np.zeros(shape, np.float32), models={"colorize": describe_model(str(colorize_model))}
            )


OTHER_WRITER = """
import builtins, sys
from nftgan.core.files import write_durably
real_open = builtins.open
def open_and_wait(path, mode="r", *args, **kw):  # pause once its temp file is open: the other writer goes
    fh = real_open(path, mode, *args, **kw)
    if "w" in mode:
        print("OPEN", flush=True)
        sys.stdin.readline()
    return fh
builtins.open = open_and_wait
write_durably(sys.argv[1], real_open(sys.argv[2], "rb").read())
"""


def test_two_processes_writing_one_file_each_write_a_whole_one(tmp_path):
    """`nftgan stylize -o out.png` twice at once: each process has a temp file of its own, so neither
    truncates the other's half-written one or takes it away before its rename (the later one wins whole)."""
    from nftgan.core.files import write_durably

    out, theirs = tmp_path / "out.png", tmp_path / "theirs.png"
    theirs.write_bytes(b"theirs" * 1000)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_WRITER, str(out), str(theirs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert other.stdout.readline() == "OPEN\n"  # the other process is half way through
    write_durably(out, b"ours")
    assert out.read_bytes() == b"ours"
    _, err = other.communicate("go\n", timeout=60)
    assert other.returncode == 0, err
    assert out.read_bytes() == theirs.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "theirs.png"]


INTERRUPTED_WRITER = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from nftgan.core.files import write_durably
tmp, real_open = f"{sys.argv[1]}.{os.getpid()}.tmp", os.open
def fifo_open(path, flags, mode=0o777):  # its temp file, as write_durably makes it: a pipe the test reads, then stops
    if path == tmp:
        os.mkfifo(tmp)
        flags &= ~(os.O_CREAT | os.O_EXCL)
    return real_open(path, flags, mode)
os.open = fifo_open
try:
    write_durably(sys.argv[1], b"x" * (16 << 20))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_while_writing_leaves_no_temp_file(tmp_path):
    """Ctrl+C in the middle of a write (a slow disk, a big PNG) left NAME.PID.tmp behind: only an OSError
    cleaned up. The writer here is stuck in its write() with most of 16 MB to go when SIGINT comes."""
    import signal
    import time

    out = tmp_path / "out.png"
    writer = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_WRITER, str(out)],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    tmp = tmp_path / f"out.png.{writer.pid}.tmp"
    try:
        while not tmp.exists():
            assert writer.poll() is None, writer.stderr.read()
            time.sleep(0.01)
        with open(tmp, "rb") as pipe:  # kept open until the writer is gone: no EPIPE, only the interrupt
            assert pipe.read(1) == b"x"  # it is writing
            writer.send_signal(signal.SIGINT)
            _, err = writer.communicate(timeout=60)
    finally:
        writer.kill()
    assert writer.returncode == 130, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_8_bit_levels_handed_to_the_core_are_refused_not_stylized_as_white(colorize_model):
    """The core takes float pixels in [0, 1]: a uint8 array (as PIL gives it) used to clip to a white page
    and come back as a blank result, with no word."""
    models = {"colorize": describe_model(str(colorize_model))}
    levels = np.full((16, 16, 3), 40, np.uint8)
    with pytest.raises(
        UserError, match=r"expected float pixels in \[0, 1\], got uint8 levels: divide them by 255"
    ):
        pipeline.run(levels, models=models)
    with pytest.raises(imageio.ImageError, match="uint16 levels: divide them by 65535"):
        imageio.encode_png(levels.astype(np.uint16))
    assert pipeline.run(levels / np.float32(255), models=models)["colorize"].shape == (16, 16, 4)
