"""An exported NFTGan .onnx file -> the generator weights `nftgan train KIND --init FILE` starts from.

`training.initfrom` finds this module by name for `.onnx` files (training itself never imports onnx).
The exporter names every initializer after the PyTorch parameter it holds (`model.model.1.model.1.weight`),
and its rewrites (`export.optimize`) keep them: bilinear x2 + 3x3 convolution -> a low-resolution convolution
with 4 x Cout outputs + a one-hot ConvTranspose that interleaves them (files rewritten before it:
DepthToSpace) keeps the original convolution's weights too, because the rewrite's border fix-up runs them, and
the Resize rewrite (the upscaler's bicubic and bilinear enlargements -> depthwise phase convolutions) adds
only fixed interpolation weights; so every parameter is read back bit for bit, without inverting a rewrite. The
exporter leaves out a bias that is all zeros (untrained layers), which reads back as zeros.

What cannot be read back is refused with what to use instead: int8 variants (quantized weights: use the
fp32 file), generators with batch norm (exported in eval mode, the batch norm is folded into the
convolutions: use the run folder or checkpoint), files that are not NFTGan models. Every file that is read
is also run in onnxruntime beside the generator rebuilt from the run's settings with the weights read, and
refused unless both give the same output (within export's parity limit): the weights are the file's, and
the network is the one the file computes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import torch
from nftgan.core.contract import ModelError, describe_model
from nftgan.training.errors import ConfigError
from nftgan.training.initfrom import (
    InitWeights,
    earlier_record,
    fresh_note,
    fresh_record,
    mismatch,
    new_parts,
    shape_differences,
)
from onnx import numpy_helper
from torch import nn

from .onnx_export import PARITY_RTOL, _session
from .optimize import MARK

QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}
# which `nftgan train` kinds write each contract kind (for the message when the file is another kind)
TRAINED_BY = {
    "colorize": "pix2pix",
    "stylize": "pix2pix --stage stylize, or cyclegan",
    "upscale": "upscale",
    "generate": "dcgan or wgan-gp",
}
PARAM = re.compile(r"^[A-Za-z_][\w.]*\.(weight|bias|running_mean|running_var)$")


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def file_settings(inits: dict, ops: set, info) -> dict:
    """The generator settings the file's graph shows (`ModelKind.generator_settings` names), for messages
    and for the settings the parameter shapes cannot tell apart (norm, upsampling)."""
    s: dict = {}
    if "model.model.0.weight" in inits:  # training.blocks.UnetGenerator
        s["net_g"], s["ngf"] = "unet", int(inits["model.model.0.weight"].shape[0])
        s["size"] = info.multiple_of  # 2 ** depth
    elif "model.1.weight" in inits:  # training.blocks.ResnetGenerator
        blocks = {m.group(1) for k in inits if (m := re.match(r"^model\.(\d+)\.block\.1\.weight$", k))}
        s["net_g"], s["ngf"] = f"resnet_{len(blocks)}blocks", int(inits["model.1.weight"].shape[0])
    if "net_g" in s:
        s["norm"] = (
            "instance"
            if "InstanceNormalization" in ops
            else "batch"
            if "BatchNormalization" in ops
            else "none"
        )
        s["upsample"] = "transposed" if "ConvTranspose" in ops else "resize"
    if "head.weight" in inits:  # training.upscale.UpscaleNet
        blocks = {m.group(1) for k in inits if (m := re.match(r"^body\.(\d+)\.body\.0\.weight$", k))}
        s.update(scale=info.scale, ngf=int(inits["head.weight"].shape[0]), n_blocks=len(blocks))
    return s


def read_init(path: Path, kind, cfg, record: str) -> InitWeights:
    """The generator weights in the exported file `path` for a new `kind` run with settings `cfg`."""
    name = path.name
    try:
        info = describe_model(path)
    except ModelError as exc:
        raise ConfigError(
            f"--init {name}: not an NFTGan model ({exc}); --init takes an .onnx written by `nftgan export`, "
            "a run folder or a checkpoint"
        ) from None
    record = earlier_record(record, str(info.training.get("init_from") or ""))
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 -- a damaged protobuf can raise many types
        raise ConfigError(f"--init {name}: cannot read it as ONNX ({type(exc).__name__}: {exc})") from None
    ops = {n.op_type for n in model.graph.node}
    if ops & QUANTIZED_OPS:
        fp32 = name.replace(".int8.onnx", ".onnx") if name.endswith(".int8.onnx") else "its fp32 .onnx file"
        raise ConfigError(
            f"--init {name}: an int8 model (its weights are quantized, so the trained fp32 weights are not "
            f"in it); start from the fp32 model, {fp32}"
        )
    want_kind = kind.exported_kind(cfg)
    if info.kind != want_kind:
        hint = (
            f"pass --stage {info.kind} to fine-tune it as a {info.kind} model"
            if kind.name == "pix2pix" and info.kind in ("colorize", "stylize")
            else f"{info.kind} models are trained with `nftgan train {TRAINED_BY.get(info.kind, '?')}`"
        )
        raise ConfigError(
            f"--init {name} is {_a(info.kind)} model; this {kind.name} run trains {_a(want_kind)} model: {hint}"
        )
    gen_name = kind.generator_nets[0]
    net = kind.build_nets(cfg)[gen_name]
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        alt = ", or --norm instance to start this one from the file" if hasattr(cfg, "net_g") else ""
        raise ConfigError(
            f"--init {name}: this run's generator has batch norm, which `nftgan export` folds into the "
            "convolutions (its statistics are not in the file, and the fold cannot be undone); start from the "
            f"run folder or checkpoint the file was exported from{alt}"
        )
    inits = {t.name: t for t in model.graph.initializer if MARK not in t.name}
    built = net.state_dict()
    have = {k: v for k, v in inits.items() if k in built or PARAM.match(k)}
    # optional additions the file lacks (a colour-class head on a plain U-Net's weights) keep their built values
    fresh = new_parts(net, built, have)
    want = {k: v for k, v in built.items() if k not in fresh}
    zero_bias = [
        k
        for k in want
        if k not in have and k.endswith(".bias") and k.removesuffix(".bias") + ".weight" in have
    ]
    shapes = {k: np.empty(tuple(t.dims), np.float32) for k, t in have.items()}
    shapes.update({k: want[k] for k in zero_bias})
    details = shape_differences(want, shapes)
    # the operators of the exported network (the upsampling rewrite adds a ConvTranspose of its own)
    theirs = file_settings(shapes, {n.op_type for n in model.graph.node if MARK not in n.name}, info)
    mine = {k: getattr(cfg, k) for k in kind.generator_settings(cfg)}
    if details or any(k in theirs and theirs[k] != v for k, v in mine.items()):
        raise mismatch(name, kind, cfg, {k: v for k, v in theirs.items() if k in mine}, details)
    state = {k: built[k] for k in fresh}
    for k, v in want.items():
        if k in zero_bias:
            state[k] = torch.zeros_like(v)
        else:
            state[k] = torch.from_numpy(numpy_helper.to_array(have[k]).copy()).to(v.dtype)
    net.load_state_dict(state)
    # the file lacks trained parts (a plain U-Net for a colour-class run): compare what the rest computes; it
    # lacks buffers only (an exported colour-class model: its bins are folded into the graph, the run counts
    # this data's): compare the whole output, which matches where the bins do
    params = {k for k, _ in net.named_parameters()}
    earlier = _check_outputs(net.eval(), model, info, name, base=any(k in params for k in fresh))
    for k in fresh:
        del state[k]
    notes = [fresh_note(name, gen_name, fresh)] if fresh else []
    if earlier:
        notes.append(
            f"--init {name}: {earlier}: its weights are read as they are (the change added none); this run, "
            "its checkpoints and its exports compute the current network"
        )
    if len(kind.generator_nets) > 1:
        rest = ", ".join(kind.generator_nets[1:])
        notes.append(
            f"--init {name} holds one generator: it is {gen_name} here (A -> B: trainA/ holds what it takes); "
            f"{rest} start{'s' if len(kind.generator_nets) == 2 else ''} from scratch"
        )
    fresh_by = {gen_name: fresh} if fresh else {}
    return InitWeights({gen_name: state}, fresh_record(record, fresh_by), notes, fresh_by)


def _check_outputs(net: nn.Module, model: onnx.ModelProto, info, name: str, base: bool = False) -> str:
    """The file and the rebuilt generator give the same output on a random input (PARITY_RTOL). `base`: the
    file lacks the generator's additions (`net.NEW`): compare with what the rest computes (`net.parts`' RGB).
    A file exported before a change to the network that added no weights (`net.earlier_outputs`, e.g. the
    upscaler's local-range clamp) gives the output from before it: returns what changed ("" for none)."""
    gen = torch.Generator().manual_seed(0)
    if info.kind == "generate":
        x = torch.randn(1, info.latent, generator=gen)
    else:
        side = info.multiple_of if info.multiple_of >= 16 else 32
        x = torch.rand(1, 3, side, side, generator=gen) * 2 - 1
    with torch.no_grad():
        want = (net.parts(x)[0] if base else net(x)).numpy()
    sess = _session(model.SerializeToString(), threads=1)
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    scale = max(float(np.abs(got).max()), 0.01)

    def differ(want: np.ndarray) -> float:
        return float(np.abs(got - want).max()) / scale if got.shape == want.shape else float("inf")

    rel = differ(want)
    if rel > PARITY_RTOL and not base and hasattr(net, "earlier_outputs"):
        with torch.no_grad():
            earlier = net.earlier_outputs(x)
        for what, out in earlier.items():
            if differ(out.numpy()) <= PARITY_RTOL:
                return what
    if rel > PARITY_RTOL:
        raise ConfigError(
            f"--init {name}: its weights fit the generator this run builds, but the file computes something "
            f"else (outputs differ by {rel:.2g} of their scale, limit {PARITY_RTOL:g}); start from the run "
            "folder or checkpoint it was exported from. Nothing was written."
        )
    return ""
