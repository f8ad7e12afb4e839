"""`nftgan validate model.onnx ...`: does a file follow the NFTGan model contract, and does it run?

Torch-free: the contract check is `addon.core.contract.describe_model` (the add-on uses the same
function), followed by one inference on a small, real-looking input (the sample sketch) with
onnxruntime, which catches files whose metadata is right but whose graph does not produce the image
the contract promises, or produces NaN / infinity on real data.
"""

from __future__ import annotations

import json
import os

import numpy as np
from nftgan.core.cliargs import Parser, error
from nftgan.core.contract import QUIET, ModelError, ModelInfo, describe_model, ort_cause
from nftgan.core.pipeline import to_model_space
from nftgan.core.styles import sample_sketch


def probe_input(info: ModelInfo, wider: bool = False) -> np.ndarray:
    """A real-looking input for `info` (an all-zero one hides models that fail on real data): one normal
    latent vector, or the add-on's sample sketch (lines on paper, the style thumbnails' sketch) at the
    trained size (rounded to multiple_of), in model space. `wider`: one multiple_of wider than that (a
    non-square size the add-on also runs: a model whose graph takes fewer sizes than its nftgan.multiple_of
    promises fails there, not at its trained size)."""
    if info.kind == "generate":
        return np.random.default_rng(0).standard_normal((1, info.latent)).astype(np.float32)
    size = info.input_size
    side = max(info.multiple_of, size // info.multiple_of * info.multiple_of)
    x = to_model_space(sample_sketch(side))  # planar (3, side, side)
    if wider:
        x = np.concatenate([x, np.ones((3, side, info.multiple_of), np.float32)], axis=2)  # + white paper
    return np.ascontiguousarray(x)[None]  # (1, 3, side, side [+ multiple_of])


def expected_output_shape(info: ModelInfo, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    if info.kind == "generate":
        return (input_shape[0], 3, info.size, info.size)
    n, _, h, w = input_shape
    return (n, 3, h * info.scale, w * info.scale)


def check_runs(info: ModelInfo) -> tuple[int, ...]:
    """Run the model once with onnxruntime; raise ModelError unless the output has the promised shape."""
    import onnxruntime as ort

    where = os.path.basename(info.path)
    opts = ort.SessionOptions()
    opts.log_severity_level = QUIET  # a graph failing at run time: said once, below (not logged in red first)
    # the trained size, then (images) one multiple_of wider: the add-on runs any multiple of multiple_of
    probes = [probe_input(info)] + ([probe_input(info, wider=True)] if info.kind != "generate" else [])
    sess = None
    for x in probes:
        try:
            sess = sess or ort.InferenceSession(
                info.path, sess_options=opts, providers=["CPUExecutionProvider"]
            )
            y = sess.run(None, {info.input_name: x})[0]
        except Exception as exc:  # onnxruntime raises several types for graphs that fail at run time
            also = (
                f"; it takes its trained size, so its nftgan.multiple_of ({info.multiple_of}) is too small"
                if x.shape[3] != x.shape[2]
                else ""
            )
            raise ModelError(
                f"{where}: the graph fails on a {tuple(x.shape)} input{also}. Re-export the model. "
                f"{ort_cause(exc)}"
            ) from exc
        want = expected_output_shape(info, x.shape)
        if tuple(y.shape) != want:
            raise ModelError(
                f"{where}: a {tuple(x.shape)} input gives output {tuple(y.shape)}, the contract promises "
                f"{want}. Re-export the model."
            )
        if not np.isfinite(y).all():
            raise ModelError(
                f"{where}: the model outputs NaN or infinity on the sample "
                f"{'latent' if info.kind == 'generate' else 'sketch'}. Re-export it from a healthy checkpoint."
            )
    return expected_output_shape(info, probes[0].shape)


def training_output(path: str) -> str:
    """ "a training run" / "a training checkpoint" for what `nftgan export` takes (read without torch: a run folder
    holds checkpoints/latest.pt, torch.save writes a zip archive), else ""."""
    if os.path.isfile(os.path.join(path, "checkpoints", "latest.pt")):
        return "a training run"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return ""
    return "a training checkpoint" if head == b"PK\x03\x04" and not path.lower().endswith(".onnx") else ""


def validate(path: str) -> ModelInfo:
    """The contract description of `path`, after checking metadata, graph signature and one real run."""
    if what := training_output(path):
        name = os.path.basename(os.path.normpath(path)) if what == "a training run" else "my-style"
        raise ModelError(
            f"{path} is {what}, not a model: export it first: nftgan export {path} -o {name}.onnx (then validate "
            "that file)"
        )
    info = describe_model(path)
    check_runs(info)
    return info


def describe(info: ModelInfo) -> str:
    lines = [f"{info.path}: OK — NFTGan contract 1, kind {info.kind}", f"  name         {info.name}"]
    if info.description:
        lines.append(f"  description  {info.description}")
    if info.kind == "generate":
        lines.append(f"  input        latent ({info.latent},) ~ N(0, 1) -> {info.size}x{info.size} RGB")
    else:
        lines.append(
            f"  input        RGB NCHW in [-1, 1]; H and W multiples of {info.multiple_of}; trained at "
            f"{info.size} px" + (f"; output x{info.scale}" if info.kind == "upscale" else "")
        )
    if info.work_size:
        lines.append(f"  work size    sketches larger than {info.work_size} px run at {info.work_size} px")
    if info.keep_colours:
        lines.append("  colours      keeps the colours it is given (its shading only: nftgan.keep_colours)")
    if info.license:
        lines.append(f"  license      {info.license}")
    if info.training:
        lines.append(f"  training     {json.dumps(info.training, sort_keys=True)}")
    return "\n".join(lines)


def main(argv: list[str], prog: str = "nftgan validate") -> int:
    parser = Parser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        examples=(
            "nftgan validate my-style.onnx",
            "nftgan validate ~/nftgan-styles/*.onnx     # exit status 1 if any is invalid",
        ),
        notes="Each valid file is described on stdout; each invalid one is said on stderr as every nftgan "
        "command says an error, 'nftgan validate: error: FILE: why', and with several files a last line "
        "says how many are invalid. Exit status: 0 all valid, 1 any invalid, 2 the command line is refused.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL.onnx", help="model files to check")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.models:  # each file's result: its description on stdout, or its error on stderr
        try:
            print(describe(validate(path)))
        except ModelError as exc:
            failed += 1
            error(prog, naming(path, str(exc)))
    n = len(args.models)
    if failed and n > 1:  # the last line says it for the batch (one file: its error is that line)
        error(prog, f"{failed} of {n} model files {'is' if failed == 1 else 'are'} invalid (see above)")
    return 1 if failed else 0


def naming(path: str, message: str) -> str:
    """`message` about the file at `path` beginning with the path as given (a batch's files may share a name
    in different folders): its file name at its start becomes the path, and one naming neither gets it."""
    name = os.path.basename(path)
    if message.startswith(path):
        return message
    if name and message.startswith(name):
        return path + message[len(name) :]
    return f"{path}: {message}"
