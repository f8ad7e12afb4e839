"""`nftgan validate` and the contract reader on files crafted with the onnx package: every way a file can be
wrong gets its own clear message; a good file is described. Real onnxruntime sessions, no torch."""

import numpy as np
import onnx
import pytest
from nftgan.core.contract import CONTRACT_VERSION, ModelError, build_metadata, describe_model
from nftgan.export import cli
from nftgan.export.validate import validate
from onnx import TensorProto, helper, numpy_helper


def craft(path, *, props=None, in_shape=("N", 3, "H", "W"), weight_in=3, out_channels=3, drop=(), extra=None):
    """A real one-Conv + Tanh model (1x1 conv, random weights) with contract metadata `props`."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(
        rng.standard_normal((out_channels, weight_in, 1, 1)).astype(np.float32) * 0.1, "w"
    )
    b = numpy_helper.from_array(np.zeros(out_channels, np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["image", "w", "b"], ["c"]),
        helper.make_node("Tanh", ["c"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_channels, "H", "W"])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = dict(
        build_metadata(kind="stylize", name="Crafted", size=32, multiple_of=4, training={"steps": 3})
        if props is None
        else props
    )
    props.update(extra or {})
    for key in drop:
        props.pop(key)
    onnx.helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


def test_good_model_is_described(tmp_path, capsys):
    path = craft(tmp_path / "good.onnx")
    info = validate(str(path))
    assert (info.kind, info.name, info.size, info.multiple_of, info.training) == (
        "stylize",
        "Crafted",
        32,
        4,
        {"steps": 3},
    )
    assert cli.main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "kind stylize" in out and "multiples of 4" in out


def test_work_size_is_read_and_checked(tmp_path):
    props = build_metadata(kind="stylize", name="Crafted", size=32, multiple_of=4, work_size=128)
    assert props["nftgan.work_size"] == "128"
    assert describe_model(craft(tmp_path / "w.onnx", props=props)).work_size == 128
    assert describe_model(craft(tmp_path / "none.onnx")).work_size == 0  # optional: absent means any size
    with pytest.raises(ModelError, match="work_size is for colorize and stylize models, not upscale"):
        build_metadata(kind="upscale", name="x", size=32, multiple_of=1, scale=4, work_size=128)
    with pytest.raises(ModelError, match=r"nftgan.work_size=8 must be at least 16"):
        build_metadata(kind="stylize", name="x", size=32, multiple_of=4, work_size=8)


def test_keep_colours_is_read_and_checked(tmp_path):
    """nftgan.keep_colours: "1" on a stylize model is read; absent or "0" is off (old files load as before);
    another value, or the key on any other kind, is refused with what to do."""
    props = build_metadata(kind="stylize", name="Clay", size=32, multiple_of=4, keep_colours=True)
    assert props["nftgan.keep_colours"] == "1"
    assert describe_model(craft(tmp_path / "k.onnx", props=props)).keep_colours is True
    assert describe_model(craft(tmp_path / "none.onnx")).keep_colours is False
    assert "nftgan.keep_colours" not in build_metadata(kind="stylize", name="x", size=32, multiple_of=4)
    off = {**props, "nftgan.keep_colours": "0"}
    assert describe_model(craft(tmp_path / "off.onnx", props=off)).keep_colours is False
    with pytest.raises(ModelError, match=r"nftgan.keep_colours='yes' must be 1 or 0. Re-export"):
        describe_model(craft(tmp_path / "bad.onnx", props={**props, "nftgan.keep_colours": "yes"}))
    with pytest.raises(ModelError, match=r"keep_colours is for stylize models, not colorize\. Re-export"):
        build_metadata(kind="colorize", name="x", size=32, multiple_of=4, keep_colours=True)
    colorize = {
        **build_metadata(kind="colorize", name="x", size=32, multiple_of=4),
        "nftgan.keep_colours": "1",
    }
    with pytest.raises(ModelError, match="keep_colours is for stylize models, not colorize"):
        describe_model(craft(tmp_path / "c.onnx", props=colorize))


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
            "is not a readable ONNX model",
        ),
        (lambda p: p.write_text("not a model\n"), "is not a readable ONNX model"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (lambda p: craft(p, drop=("nftgan.contract",)), "has no NFTGan contract metadata"),
        (
            lambda p: craft(p, drop=("nftgan.kind", "nftgan.name")),
            "missing contract metadata nftgan.kind, nftgan.name",
        ),
        (lambda p: craft(p, extra={"nftgan.contract": "99"}), "uses model contract version '99'"),
        (lambda p: craft(p, extra={"nftgan.kind": "sharpen"}), "unknown model kind 'sharpen'"),
        (lambda p: craft(p, extra={"nftgan.input": "rgb;nchw;0..1"}), "is not 'rgb;nchw;-1..1'"),
        (lambda p: craft(p, extra={"nftgan.training": "{oops"}), "nftgan.training is not valid JSON"),
        (lambda p: craft(p, in_shape=("N", 3, "H")), "must be an NCHW image (rank 4), got rank 3"),
        (
            lambda p: craft(p, in_shape=("N", 4, "H", "W"), weight_in=4),
            "has 4 channels; NFTGan models take 3",
        ),
        (lambda p: craft(p, out_channels=1), "output must be an NCHW RGB image"),
    ],
    ids=[
        "png",
        "text",
        "empty",
        "foreign",
        "missing-keys",
        "version",
        "kind",
        "input-range",
        "bad-json",
        "rank",
        "channels",
        "out-channels",
    ],
)
def test_bad_files_get_clear_errors(tmp_path, capsys, make, message):
    path = tmp_path / "bad.onnx"
    make(path)
    with pytest.raises(ModelError, match="^bad.onnx|" + str(path).replace(".", r"\.")) as err:
        validate(str(path))
    assert message in str(err.value)
    assert cli.main(["validate", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"nftgan validate: error: {path}")


def test_truncated_file_is_refused(tmp_path):
    good = craft(tmp_path / "good.onnx")
    data = good.read_bytes()
    for cut in (len(data) // 3, len(data) - 20):
        (tmp_path / "cut.onnx").write_bytes(data[:cut])
        with pytest.raises(ModelError, match=r"cut.onnx is not a readable ONNX model.*truncated"):
            describe_model(tmp_path / "cut.onnx")


def test_graph_that_fails_at_run_time_is_refused(tmp_path):
    """Metadata and signature are right, but the weights expect 5 input channels: only running it shows that."""
    path = craft(tmp_path / "liar.onnx", weight_in=5)
    describe_model(path)  # the static check passes
    with pytest.raises(ModelError, match=r"liar.onnx: the graph fails on a \(1, 3, 32, 32\) input"):
        validate(str(path))


def test_wrong_output_size_is_refused(tmp_path):
    """An 'upscale' model that does not upscale breaks the promise its metadata makes."""
    props = build_metadata(kind="upscale", name="Not really", size=32, multiple_of=1, scale=4)
    path = craft(tmp_path / "up.onnx", props=props)
    promise = r"a \(1, 3, 8, 8\) input gives output \(1, 3, 8, 8\), the contract promises \(1, 3, 32, 32\)"
    with pytest.raises(ModelError, match=promise):
        validate(str(path))


def test_several_files_report_each(tmp_path, capsys):
    """Each file's result (a description on stdout, an error on stderr said as every nftgan command says
    one, naming the file by its path), and a last line saying how many are invalid, with exit status 1.
    A bad file was 'PATH: INVALID — NAME: why', a result among the others, without the error format."""
    good, bad, gone = craft(tmp_path / "a.onnx"), tmp_path / "b.onnx", tmp_path / "sub" / "a.onnx"
    bad.write_text("nope")
    assert cli.main(["validate", str(good), str(bad), str(gone)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{good}: OK") and "INVALID" not in captured.err
    err = captured.err.splitlines()
    assert len(err) == 3 and all(line.startswith("nftgan validate: error: ") for line in err), err
    assert err[0].startswith(f"nftgan validate: error: {bad} ") and "b.onnx: " not in err[0], err
    assert err[1] == f"nftgan validate: error: {gone}: no such model file.", err
    assert err[2] == "nftgan validate: error: 2 of 3 model files are invalid (see above)", err
    assert cli.main(["validate", str(good)]) == 0 and capsys.readouterr().err == ""
    assert CONTRACT_VERSION == "1"


def test_header_reader_skips_initializers_listed_as_inputs(tmp_path):
    """Older exporters list every weight as a graph input too; the model still has one real input."""
    from nftgan.core.contract import read_header

    path = craft(tmp_path / "old.onnx")
    model = onnx.load(path)
    for init in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims)))
    onnx.save(model, path)
    props, inputs, outputs = read_header(path)
    assert inputs == [("image", ["N", 3, "H", "W"])] and outputs == [("output", ["N", 3, "H", "W"])]
    assert props["nftgan.kind"] == "stylize"
    assert validate(str(path)).input_name == "image"


def _rejected_op(model):
    model.graph.node[1].op_type = "NoSuchOp"


def _short_weights(model):
    biggest = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    biggest.raw_data = biggest.raw_data[: len(biggest.raw_data) // 2]


def _fixed_size(model):
    """The output reshaped to the trained size: runs there, fails one multiple_of wider (at run time)."""
    size = int(next(p.value for p in model.metadata_props if p.key == "nftgan.size"))
    out = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = ["pre" if o == out else o for o in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, 3, size, size], np.int64), "fixed"))
    model.graph.node.append(helper.make_node("Reshape", ["pre", "fixed"], [out]))


def _future_opset(model):
    model.opset_import[0].version = 99


@pytest.mark.parametrize(
    "spoil, says",
    [
        ("cut", "is not a readable ONNX model (no complete graph). The file may be truncated"),
        (_rejected_op, "onnxruntime cannot load its graph"),
        (_future_opset, "onnxruntime cannot load its graph"),
        (_short_weights, "is damaged: its weights do not load. The download or copy may not have finished"),
        (_fixed_size, "the graph fails on a (1, 3, 32, 64) input; it takes its trained size"),
    ],
    ids=["truncated", "rejected-op", "future-opset", "short-weights", "fails-at-run-time"],
)
def test_a_model_onnxruntime_rejects_gets_one_clear_line(colorize_model, tmp_path, capfd, spoil, says):
    """A real exported model, spoilt: `nftgan validate` prints one line: the file, what is wrong in a user's
    terms, what to do, and onnxruntime's own words at most as a short cause at its end. It used to print
    onnxruntime's raw log line first (in red, with its C++ source location: a graph failing at run time), and
    its exception text inside the message ("[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from
    <path> failed:...", the path again, cut at 200 characters), calling a model with an operator it rejects
    "not a readable ONNX model ... may be truncated"."""
    path = tmp_path / "style.onnx"
    if spoil == "cut":
        data = colorize_model.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        model = onnx.load(colorize_model)
        spoil(model)
        onnx.save(model, path)
    assert cli.main(["validate", str(path)]) == 1
    out, err = capfd.readouterr()  # file descriptors: onnxruntime logs from C++, past sys.stderr
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"nftgan validate: error: {path}") and says in err, err
    assert ("Re-export" in err or "re-export" in err) and len(err) - len(str(path)) < 360, err
    for noise in (
        "[ONNXRuntimeError]",
        "onnxruntime_src",
        ".cc:",
        ".h:",
        "Traceback",
        "\x1b[",
        str(tmp_path)[1:] + "/style.onnx failed",
    ):
        assert noise not in err, err
    if spoil != "cut":
        assert (
            err.rstrip().endswith(")")
            and "(onnxruntime: " in err.split("Re-export")[-1].split("re-export")[-1]
        ), err


def test_a_training_run_or_checkpoint_is_said_to_need_an_export_first(tmp_path, capsys):
    """A newcomer's first try, `nftgan validate runs/my-style` or its latest.pt: "export it first", with the
    command, not "a folder: give the NAME.onnx file in it" or "re-export it with nftgan export"."""
    import zipfile

    ckpt = tmp_path / "my-style" / "checkpoints" / "latest.pt"
    ckpt.parent.mkdir(parents=True)
    with zipfile.ZipFile(ckpt, "w") as zf:  # what torch.save writes: a zip archive
        zf.writestr("latest/data.pkl", b"")
    for given in (tmp_path / "my-style", ckpt):
        assert cli.main(["validate", str(given)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"nftgan validate: error: {given} is a training "), err
        assert f"export it first: nftgan export {given} -o my-style.onnx" in err, err
