"""`nftgan export CKPT -o model.onnx`: a training checkpoint -> one self-describing, parity-checked ONNX file.

The generator is rebuilt from the checkpoint in eval mode (batch-norm running statistics, dropout
off), exported with torch's dynamo exporter (batch, height and width dynamic; `nftgan.multiple_of`
states which sizes the architecture takes), stamped with the model-contract metadata
(`addon.core.contract.build_metadata`) and the checkpoint's training provenance, checked with
`onnx.checker`, rewritten for onnxruntime by the exact passes of `export.optimize` (upsampling
convolutions at low resolution; integer-scale Resizes as phase convolutions), and run side by side with PyTorch in onnxruntime on random and real images at two
sizes. The file is written (atomically) only when every output matches within PARITY_RTOL of the
output's scale (its largest |value|).

`--int8` adds `<name>.int8.onnx`: static QDQ quantization (per-channel weights, reduce_range),
calibrated on training images, the convolutions that alone cost most quality kept in fp32 in one candidate
(the per-convolution search of `export/requantize.py`), kept only when it is faster than fp32 on this
machine AND at least 35 dB PSNR against the fp32 output on every held-out image. The add-on runs it on CPUs with int8
dot-product instructions (VNNI / AMX; `nftgan.core.cpu`) and the fp32 file elsewhere.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from nftgan.core.cliargs import Parser, add_out, error
from nftgan.core.contract import ModelError, build_metadata, describe_model
from nftgan.core.files import FileError, not_a_folder, os_error_message, refuse_overwrite
from nftgan.export.optimize import optimize
from nftgan.training.errors import UserError
from torch import nn

# max |ONNX - PyTorch| in fp32 as a fraction of the output's scale (its largest |value|, at least 0.01): 1e-3 of
# a [-1, 1] image is 1/8 of an 8-bit step. Relative, because float rounding grows with the activations: a
# correctly exported ResNet-9 differs by 6e-6 on random images but 5.8e-4 on flat colour (instance norm
# of nearly constant features), while a real export fault (train-mode norm, wrong padding) is >= 1e-2.
PARITY_RTOL = 1e-3
INT8_MIN_PSNR = 35.0  # dB vs the fp32 output, on every held-out image
OPSET = 18
CALIB_IMAGES, HELD_OUT_IMAGES = 16, 8


INT8_NEEDS_IMAGES = (
    "--int8 needs images of the model's input domain to calibrate on; the checkpoint's training "
    "data was not found: pass --calib-dir DIR"
)


class ExportError(UserError, RuntimeError):
    """An export that was refused, with the reason and what to do."""


# ---------------------------------------------------------------- the graph


def input_side(info: dict) -> int:
    """The input side the model was trained on (upscale: the low-res side), as a size the graph takes."""
    size = info["size"] // info["scale"] if info["kind"] == "upscale" else info["size"]
    return max(size, info["multiple_of"])


def to_onnx(net: nn.Module, info: dict) -> onnx.ModelProto:
    """Export `net` (eval mode) with dynamic batch (and height/width for image models)."""
    net.eval()
    if info["kind"] == "generate":
        example = torch.randn(2, info["latent"])
        dims = {0: torch.export.Dim.DYNAMIC}
    else:
        side = input_side(info)
        example = torch.rand(2, 3, side, side) * 2 - 1
        dims = {0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}
    arg = next(iter(inspect.signature(net.forward).parameters))
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as log:
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                net,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes={arg: dims},
                verbose=False,
            )
        except Exception as exc:
            raise ExportError(
                f"torch.onnx could not export the {info['kind']} generator: "
                f"{str(exc).strip().splitlines()[0][:300]}\n{log.getvalue()[-2000:]}"
            ) from exc
    proto = program.model_proto
    _name_dims(proto, info)
    return proto


def _name_dims(proto: onnx.ModelProto, info: dict) -> None:
    """Readable symbolic dims on the graph's input and output (the exporter names them s0, s77 ...)."""
    scale = info.get("scale", 1) if info["kind"] == "upscale" else 1
    if info["kind"] == "generate":
        names_in, names_out = ["N", None], ["N", None, None, None]
    else:
        names_in = ["N", None, "H", "W"]
        names_out = ["N", None, "H", "W"] if scale == 1 else ["N", None, f"{scale}*H", f"{scale}*W"]
    for value, names in ((proto.graph.input[0], names_in), (proto.graph.output[0], names_out)):
        for dim, name in zip(value.type.tensor_type.shape.dim, names):
            if name is not None:
                dim.dim_param = name
    del proto.graph.value_info[:]  # intermediate shapes keep the exporter's names; onnxruntime re-infers them


# ---------------------------------------------------------------- numbers for the card


def count_macs(net: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (convolutions, transposed convolutions, linear layers)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0].numel() * module.out_channels // module.groups * k
        elif isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * module.in_channels // module.groups * k
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in handles:
            h.remove()
    return total


def example_input(info: dict, batch: int = 1, side: int | None = None) -> torch.Tensor:
    if info["kind"] == "generate":
        return torch.randn(batch, info["latent"])
    side = side or input_side(info)
    return torch.rand(batch, 3, side, side) * 2 - 1


# ---------------------------------------------------------------- real images


def _resize(img, side: int) -> torch.Tensor:
    from nftgan.training.data import to_tensor
    from PIL import Image

    return to_tensor(img.resize((side, side), Image.BICUBIC))


def domain_images(ckpt: dict, info: dict, direction: str | None, calib_dir: str | None) -> tuple[list, list]:
    """(calibration, held-out) lists of CHW tensors in [-1, 1] from the model's input domain.

    From `calib_dir` (a folder of input images; a quarter held out) or else the checkpoint's training data
    (its training split calibrates, its validation split is held out). Empty when neither can be read.
    """
    from nftgan.training.checkpoint import config_of
    from nftgan.training.data import UNREADABLE, list_images, load_rgb, split_indices, split_name

    if info["kind"] == "generate":  # the input domain is N(0, 1) latents
        if calib_dir:
            raise ExportError("--calib-dir does not apply to a generate model: its inputs are random latents")
        z = torch.randn(
            CALIB_IMAGES + HELD_OUT_IMAGES, info["latent"], generator=torch.Generator().manual_seed(1)
        )
        return list(z[:CALIB_IMAGES]), list(z[CALIB_IMAGES:])
    side = input_side(info)
    if calib_dir:
        files = list_images(calib_dir)
        if not files:
            raise ExportError(f"--calib-dir {calib_dir} holds no images (png, jpg, webp ...)")
        train, held = split_indices([split_name(p) for p in files], 0.25)
        load, unread = ([], []), []
        for out, idx in zip(load, (train[:CALIB_IMAGES], held[:HELD_OUT_IMAGES])):
            for i in idx:
                try:
                    out.append(_resize(load_rgb(files[i]), side))
                except UNREADABLE as exc:
                    unread.append(f"{os.path.basename(files[i])} ({type(exc).__name__}: {exc})")
        if not load[0] and not load[1]:
            raise ExportError(
                f"--calib-dir {calib_dir}: none of its {len(unread)} images could be read, e.g. {unread[0]}; "
                "give a folder of readable pictures of the model's input (sketches for a colorize model)"
            )
        return load
    cfg = config_of(ckpt)
    if not cfg.data or not os.path.isdir(cfg.data):
        return [], []
    from nftgan.training.kinds import get_kind

    try:
        train_ds, val_ds = get_kind(ckpt["model"]).datasets(cfg)[:2]
    except (
        ValueError,
        OSError,
    ):  # DataError: the data moved or changed: parity on random inputs, said on the card
        return [], []
    key = _input_key(info, direction)
    take = lambda ds, n: [ds[i][key] for i in range(min(n, len(ds)))]
    return take(train_ds, CALIB_IMAGES), take(val_ds, HELD_OUT_IMAGES)


def _input_key(info: dict, direction: str | None) -> str:
    """Which item of a training batch the generator reads."""
    if info["kind"] == "upscale":
        return "lr"
    return "B" if direction == "BtoA" else "A"


# ---------------------------------------------------------------- parity


def _session(model: bytes | str, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def parity_cases(info: dict, real: list[torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """Random and real inputs at two sizes: the trained size (batch 2) and a non-square one."""
    gen = torch.Generator().manual_seed(0)
    if info["kind"] == "generate":
        return [
            ("random latents, batch 2", torch.randn(2, info["latent"], generator=gen)),
            ("random latents, batch 5", torch.randn(5, info["latent"], generator=gen)),
        ]
    m = info["multiple_of"]
    side = input_side(info)
    h2, w2 = max(m, side // 2 // m * m), side + m  # a second, non-square size
    cases = [
        (f"random {side}x{side}, batch 2", torch.rand(2, 3, side, side, generator=gen) * 2 - 1),
        (f"random {h2}x{w2}", torch.rand(1, 3, h2, w2, generator=gen) * 2 - 1),
    ]
    if real:
        batch = torch.stack(real[:2])
        cases.append(
            (
                f"{len(batch)} real {side}x{side}",
                nn.functional.interpolate(batch, (side, side), mode="bilinear"),
            )
        )
        cases.append((f"real {h2}x{w2}", nn.functional.interpolate(batch[:1], (h2, w2), mode="bilinear")))
    return cases


def check_parity(net: nn.Module, model: bytes, cases) -> list[dict]:
    sess = _session(model)
    name = sess.get_inputs()[0].name
    results = []
    for label, x in cases:
        with torch.no_grad():
            want = net(x).numpy()
        got = sess.run(None, {name: x.numpy()})[0]
        if got.shape != want.shape:
            raise ExportError(f"parity: on {label} ONNX gives shape {got.shape}, PyTorch {want.shape}")
        err, scale = float(np.abs(got - want).max()), max(float(np.abs(want).max()), 0.01)
        results.append(
            {"case": label, "shape": list(x.shape), "max_abs": err, "scale": scale, "rel": err / scale}
        )
    return results


# ---------------------------------------------------------------- int8


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images in [-1, 1] (the evaluation's PSNR, on the same [0, 1] scale)."""
    from nftgan.training.evaluate import psnr as psnr01

    return psnr01((a + 1) / 2, (b + 1) / 2)


def time_sessions(
    sessions: list, x: np.ndarray, repeats: int = 7, budget_s: float = 1.0, clock=time.perf_counter
) -> list[float]:
    """Best seconds per run of each session on `x`, runs interleaved; at least `repeats` rounds, more (up to
    50) while under `budget_s`. The best, not the median: on a shared CPU, other work only ever adds time.
    `clock=time.thread_time` times one-thread sessions by the CPU time they take, which other programs on
    the machine disturb far less than the wall clock."""
    feeds = [{s.get_inputs()[0].name: x} for s in sessions]
    for s, f in zip(sessions, feeds):
        s.run(None, f)
    best = [float("inf")] * len(sessions)
    start = time.perf_counter()
    for round_ in range(50):
        if round_ >= repeats and time.perf_counter() - start > budget_s:
            break
        for i, (s, f) in enumerate(zip(sessions, feeds)):
            t0 = clock()
            s.run(None, f)
            best[i] = min(best[i], clock() - t0)
    return best


def int8_candidates(fp32: onnx.ModelProto) -> dict[str, dict]:
    """quantize_static options of the int8 variants tried: {label: options}."""
    from nftgan.export.optimize import MARK, trained_convs

    convs = trained_convs(fp32)
    # a convolution of the exported graph, with the nodes export/optimize.py made of it (its name + MARK ...)
    layer = lambda name: name.split(MARK)[0]
    ends = {layer(convs[0]), layer(convs[-1])} if convs else set()
    return {
        "Conv": {"op_types_to_quantize": ["Conv"]},
        # the first and last convolutions (image in, image out) are the most precision-sensitive layers
        "Conv except the first and last": {
            "op_types_to_quantize": ["Conv"],
            "nodes_to_exclude": [c for c in convs if layer(c) in ends],
        },
        "Conv+ConvTranspose": {"op_types_to_quantize": ["Conv", "ConvTranspose"]},
    }


def int8_options(options: dict, fp32: onnx.ModelProto) -> dict:
    """quantize_static `options` as `quantize_int8` applies them to `fp32`: never the nodes the rewrites made
    that only interpolate or move values (`optimize.never_quantized`), whatever the variant."""
    from nftgan.export.optimize import never_quantized

    fixed = never_quantized(fp32)
    if not fixed:
        return options
    return {**options, "nodes_to_exclude": [*options.get("nodes_to_exclude", []), *fixed]}


def quantize_int8(
    fp32: bytes,
    calib: list[np.ndarray],
    held: list[np.ndarray],
    *,
    min_psnr: float = INT8_MIN_PSNR,
    min_speedup: float = 1.0,
    variants: dict[str, dict] | None = None,
    timed: bool = True,
) -> tuple[bytes | None, dict]:
    """Static QDQ int8 of an fp32 model. Returns (model bytes or None, report).

    The candidates of `int8_candidates` (or `variants`: {label: quantize_static options}) are made and scored: PSNR vs fp32 on every image of `held` (the
    worst counts) and speed (one thread, CPU time, interleaved with fp32). Of those with PSNR >= `min_psnr`
    the fastest (within 5 %, the most faithful) is kept if it runs more than `min_speedup` times faster
    than fp32; otherwise the report says why it was refused. `timed=False` scores the PSNR only (the
    sensitivity search of `export.requantize`; speeds read as NaN).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not calib or not held:
        raise ExportError(INT8_NEEDS_IMAGES)

    class Reader(CalibrationDataReader):
        def __init__(self, name):
            self.items = iter([{name: x[None]} for x in calib])

        def get_next(self):
            return next(self.items, None)

    base = _session(fp32, threads=1)
    name = base.get_inputs()[0].name
    want = [base.run(None, {name: x[None]})[0] for x in held]
    candidates = []
    with tempfile.TemporaryDirectory(prefix="nftgan-int8-") as tmp:
        src = os.path.join(tmp, "fp32.onnx")
        Path(src).write_bytes(fp32)
        proto = onnx.load_from_string(fp32)
        tried = variants or int8_candidates(proto)
        for i, (label, options) in enumerate(tried.items()):
            options = int8_options(options, proto)
            dst = os.path.join(tmp, f"int8-{i}.onnx")
            root, level = logging.getLogger(), logging.getLogger().level
            root.setLevel(logging.ERROR)  # quantize_static logs "consider pre-processing" on every call
            try:
                quantize_static(
                    src,
                    dst,
                    Reader(name),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    reduce_range=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    **options,
                )
            finally:
                root.setLevel(level)
            model = Path(dst).read_bytes()
            if not any(n.op_type == "QuantizeLinear" for n in onnx.load_from_string(model).graph.node):
                continue  # nothing of this graph is what the variant quantizes: it is the fp32 graph itself
            sess = _session(model, threads=1)
            got = [sess.run(None, {name: x[None]})[0] for x in held]
            quality = min(psnr(g, w) for g, w in zip(got, want))
            t_fp32, t_int8 = (
                time_sessions([base, sess], held[0][None], clock=time.thread_time) if timed else (np.nan,) * 2
            )
            candidates.append(
                {
                    "quantized": label,
                    "psnr_db": quality,
                    "fp32_ms": t_fp32 * 1e3,
                    "int8_ms": t_int8 * 1e3,
                    "speedup": t_fp32 / t_int8,
                    "model": model,
                }
            )
    if not candidates:
        labels = ", ".join(tried)
        return None, {
            "kept": False,
            "reason": f"refused: this graph has no layer the int8 variants quantize ({labels}): it quantizes nothing",
            "quantized": "nothing",
            "candidates": [],
        }
    good = [c for c in candidates if c["psnr_db"] >= min_psnr]
    if good:  # the fastest; within 5 % of it (timing noise), the most faithful
        fastest = max(c["speedup"] for c in good)
        best = max((c for c in good if not c["speedup"] < 0.95 * fastest), key=lambda c: c["psnr_db"])
    else:
        best = max(candidates, key=lambda c: c["psnr_db"])
    report = {k: v for k, v in best.items() if k != "model"}
    report["candidates"] = [{k: v for k, v in c.items() if k != "model"} for c in candidates]
    if not good:
        report["kept"], report["reason"] = (
            False,
            (
                f"refused: PSNR {best['psnr_db']:.1f} dB vs fp32 is below "
                f"{min_psnr:.0f} dB (quality loss too visible)"
            ),
        )
    elif best["speedup"] <= min_speedup:
        report["kept"], report["reason"] = (
            False,
            (
                f"refused: not faster than fp32 on this CPU ({best['int8_ms']:.3g} "
                f"vs {best['fp32_ms']:.3g} ms, {best['speedup']:.2f}x; "
                f"{best['psnr_db']:.1f} dB)"
            ),
        )
    else:
        report["kept"], report["reason"] = (
            True,
            (
                f"kept: {best['speedup']:.2f}x faster than fp32 (one thread, export machine), "
                f"{best['psnr_db']:.1f} dB PSNR vs fp32 on the worst held-out image"
            ),
        )
    return (best["model"] if report["kept"] else None), report


# ---------------------------------------------------------------- the whole export


def _with_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> bytes:
    del proto.metadata_props[:]
    for graph in [proto.graph, *(f for f in proto.functions)]:
        for node in graph.node:  # the exporter's per-node debug data: source paths and stack traces
            del node.metadata_props[:]
            node.doc_string = ""
    onnx.helper.set_model_props(proto, props)
    proto.producer_name, proto.doc_string = "nftgan export", props["nftgan.description"]
    return proto.SerializeToString()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temp name (removed whatever happens); a FileError that says what to do (a full disk)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        if isinstance(exc, FileError):
            raise
        raise FileError(exc.errno, os_error_message(exc, f"writing {path}")) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def check_out(out: str, card: str | None = None) -> None:
    """Refuse, before any work, an -o the add-on would never read: a folder, or a name not ending in .onnx
    (the add-on lists *.onnx files); and a --card that is a folder."""
    if os.path.isdir(out):
        raise ExportError(
            f"-o {out} is a folder: give the model's file name, e.g. "
            f"{os.path.join(out, 'my-style.onnx')} (the add-on lists every .onnx file in a model folder)"
        )
    if not out.lower().endswith(".onnx"):
        raise ExportError(
            f"-o {out}: the model's file name must end in .onnx (the add-on reads only .onnx files)"
        )
    if card and os.path.isdir(card):
        raise ExportError(
            f"--card {card} is a folder: give the card's file name, e.g. {os.path.join(card, 'my-style.md')}"
        )
    for flag, path in (("-o", out), ("--card", card)):  # a file where its folder should be
        if path and (blocked := not_a_folder(flag, path, os.path.dirname(os.path.normpath(path)))):
            raise ExportError(blocked)


def write_int8(path: Path, q_model: bytes, props: dict[str, str], report: dict) -> None:
    """Write a kept int8 variant with its fp32 model's metadata, named "(int8)", the rule's verdict in its
    description."""
    props = dict(props)
    props["nftgan.name"] = f"{props['nftgan.name']} (int8)"
    props["nftgan.description"] = f"{props['nftgan.description']}; int8 ({report['reason']})"
    _write_atomic(Path(path), _with_metadata(onnx.load_from_string(q_model), props))


def int8_summary(report: dict) -> str:
    """The int8 search as text: the convolutions kept in fp32, every candidate, the verdict."""
    lines = []
    if "sensitive" in report:  # export/requantize.py's search
        keep, below = report["sensitive"], report["sensitive_below"]
        lines.append(
            f"  int8    {len(keep)} convolution(s) alone drop the worst held-out PSNR below {below:g} dB"
            + (
                ": a candidate keeps them fp32"
                if any("sensitive" in c["quantized"] for c in report["candidates"])
                else ""
            )
        )
        lines += [f"            {n:<56} {db:5.1f} dB" for n, db in sorted(keep.items(), key=lambda kv: kv[1])]
    for c in report["candidates"]:
        lines.append(
            f"  int8    {c['quantized']:<34} {c['psnr_db']:5.1f} dB  {c['fp32_ms']:6.1f} -> {c['int8_ms']:6.1f} ms "
            f"({c['speedup']:.2f}x)"
        )
    lines.append(
        f"  int8    {report['reason']}"
        + (f" -> {report['path']}" if report["kept"] and "path" in report else "")
    )
    return "\n".join(lines)


def int8_path(out_path: str | os.PathLike) -> Path:
    out = Path(out_path)
    return out.with_name(out.stem + ".int8" + out.suffix)


def learned_size(ckpt: dict, kind: str) -> int:
    """The picture size a colorize or stylize model learned at: the run resized its training images to its
    load size (at least its crop size) before the random crop. 0 for other kinds (no work size)."""
    from nftgan.training.checkpoint import config_of

    if kind not in ("colorize", "stylize"):
        return 0
    cfg = config_of(ckpt)
    return max(cfg.effective_load_size, cfg.size)


def default_work_size(learned: int, multiple_of: int) -> int:
    """The work size export stamps when --work-size is not given: the size the run learned at (`learned_size`),
    to the nearest size its graph takes without padding (a multiple of `multiple_of`; halfway rounds down).
    A U-Net trained at --size 256 has multiple_of 256, and its jitter's load size of 286 px would be padded
    with white paper to 512 px: the model then runs on 4x the pixels, a quarter of them paper, for no better
    picture (docs/training.md, "The work size"). A ResNet (multiple_of 4) keeps its load size within 2 px."""
    m = max(1, multiple_of)
    if not learned:
        return 0
    return max(m, (learned + (m - 1) // 2) // m * m)


def _check_options(kind: str, work_size: int, keep_colours: bool) -> None:
    """--work-size / --keep-colours that this model cannot take, said as the flags given (before the contract's
    own check, which speaks of metadata keys in a file)."""
    from nftgan.core.contract import MAX_WORK_SIZE

    if work_size and kind not in ("colorize", "stylize"):
        raise ExportError(
            f"--work-size is for colorize and stylize models; this checkpoint is a {kind} model: leave it out"
        )
    if work_size and not 16 <= work_size <= MAX_WORK_SIZE:
        raise ExportError(
            f"--work-size {work_size}: give 0 (none) or a size from 16 to {MAX_WORK_SIZE} px (the largest side "
            "the add-on runs the model at)"
        )
    if keep_colours and kind != "stylize":
        raise ExportError(
            f"--keep-colours is for stylize models; this checkpoint is a {kind} model: leave --keep-colours out "
            "(a pix2pix run trains a stylize model with --stage stylize)"
        )


def export_checkpoint(
    ckpt_path,
    out_path,
    *,
    direction=None,
    name=None,
    description=None,
    license=None,
    int8=False,
    calib_dir=None,
    work_size: int | None = 0,
    keep_colours: bool = False,
) -> dict:
    """Export a checkpoint to `out_path`; returns the report (also what the model card shows).

    work_size: the model's nftgan.work_size; None takes the size the run learned at, rounded to one its graph
    takes without padding (`default_work_size`), 0 none.
    keep_colours: nftgan.keep_colours (stylize only): the pipeline keeps the input's colours, the style's shading.
    Nothing is written unless the ONNX graph passes onnx.checker and matches PyTorch within PARITY_RTOL.
    With int8, `<stem>.int8.onnx` is written beside it only when it is kept (see `quantize_int8`).
    """
    from nftgan.training.checkpoint import build_generator, load_checkpoint

    t0 = time.perf_counter()
    out_path = Path(out_path)
    ckpt = load_checkpoint(ckpt_path)
    if direction not in (None, "AtoB", "BtoA"):
        raise ExportError(f"--direction must be AtoB or BtoA, not {direction!r}")
    if direction and ckpt["model"] != "cyclegan":
        raise ExportError(f"--direction is for cyclegan checkpoints; this one is {ckpt['model']}")
    net, info = build_generator(ckpt, direction)
    net.eval()
    if any(m.training for m in net.modules()):
        raise ExportError(
            "the generator is not in eval mode; batch norm and dropout would differ from training"
        )
    name = name or info["name"] + (" (B to A)" if direction == "BtoA" else "")
    learned = learned_size(ckpt, info["kind"])
    default = default_work_size(learned, info["multiple_of"])
    work_size = default if work_size is None else work_size
    _check_options(info["kind"], work_size if work_size != default else 0, keep_colours)
    what = info["kind"] if ckpt["model"] == info["kind"] else f"{ckpt['model']} {info['kind']}"
    description = description or f"{what} model, {info['size']} px, step {ckpt['step']}"
    props = build_metadata(
        kind=info["kind"],
        name=name,
        description=description,
        size=info["size"],
        multiple_of=info["multiple_of"],
        scale=info.get("scale", 1),
        latent=info.get("latent", 0),
        license=license or "",
        training=info["training"],
        work_size=work_size,
        keep_colours=keep_colours,
    )
    calib, held = domain_images(ckpt, info, direction, calib_dir)
    if int8 and not calib:
        raise ExportError(INT8_NEEDS_IMAGES)  # before anything is written
    proto = to_onnx(net, info)
    rewrites = {}
    if info["kind"] != "generate":  # exact rewrites for onnxruntime (export/optimize.py); parity checks them
        proto, rewrites = optimize(proto, input_side(info), info["multiple_of"])
    model = _with_metadata(proto, props)
    try:
        onnx.checker.check_model(onnx.load_from_string(model), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejects the exported graph: {str(exc).splitlines()[0]}") from exc
    parity = check_parity(net, model, parity_cases(info, held or calib))
    worst = max(parity, key=lambda p: p["rel"])
    report = {
        "path": str(out_path),
        "model": ckpt["model"],
        "kind": info["kind"],
        "name": name,
        "description": description,
        "size": info["size"],
        "multiple_of": info["multiple_of"],
        "scale": info.get("scale", 1),
        "latent": info.get("latent", 0),
        "work_size": work_size,
        "keep_colours": keep_colours,
        "learned_size": learned,
        "default_work_size": default,
        "direction": direction,
        "license": license or "",
        "step": ckpt["step"],
        "training": info["training"],
        "params": sum(p.numel() for p in net.parameters()),
        "gmacs": count_macs(net, example_input(info)) / 1e9,
        "parity": parity,
        "parity_max_abs": max(p["max_abs"] for p in parity),
        "parity_rel": worst["rel"],
        "real_images": bool(held or calib) and info["kind"] != "generate",
        "opset": OPSET,
        "rewrites": rewrites,
        "bytes": len(model),
        "int8": None,
    }
    if worst["rel"] > PARITY_RTOL:
        raise ExportError(
            f"refused: ONNX and PyTorch outputs differ by {worst['max_abs']:.2e} on {worst['case']}, "
            f"{worst['rel']:.2e} of the output's scale {worst['scale']:.3g} (> {PARITY_RTOL:g}); "
            f"nothing was written. Cases: {parity}"
        )
    _write_atomic(out_path, model)
    describe_model(out_path)  # the add-on's own reader accepts it
    if int8:  # the per-convolution search of export/requantize.py, then the rule (quantize_int8)
        from nftgan.export.requantize import search

        q_model, q_report = search(model, [x.numpy() for x in calib], [x.numpy() for x in held or calib[-2:]])
        q_report["path"] = str(int8_path(out_path))
        if q_model is not None:
            write_int8(int8_path(out_path), q_model, props, q_report)
        else:
            int8_path(out_path).unlink(missing_ok=True)  # never leave a stale variant that failed the rule
        report["int8"] = q_report
    report["seconds"] = time.perf_counter() - t0
    report["card"] = model_card(report)
    return report


def model_card(r: dict) -> str:
    """The model card as Markdown."""
    t = r["training"] or {}
    metrics = t.get("val_metrics") or {}
    if r["kind"] == "generate":
        sizes = f"latent {r['latent']} -> {r['size']}x{r['size']} RGB"
    elif r["kind"] == "upscale":
        sizes = f"x{r['scale']}: trained on {r['size'] // r['scale']} -> {r['size']} px crops; any input size"
    else:
        sizes = f"trained at {r['size']} px; any H, W that are multiples of {r['multiple_of']}"
        if r.get("work_size"):
            sizes += f"; sketches larger than {r['work_size']} px are stylized at {r['work_size']} px"
    kind = f"{r['kind']} ({r['model']}" + (f", {r['direction']}" if r["direction"] else "") + ")"
    if r.get("keep_colours"):
        kind += "; keeps your colours: the add-on takes its lightness (shading) and the input's colours"
    rows = [
        ("kind", kind),
        ("sizes", sizes),
        ("parameters", f"{r['params'] / 1e6:.2f} M"),
        (
            "compute",
            f"{r['gmacs']:.3g} GMACs per image"
            + ("" if r["kind"] == "generate" else f" at {r['size'] // r['scale']} px"),
        ),
        ("license", r["license"] or "not stated"),
        ("data", f"{t.get('dataset', 'unknown')} ({t.get('images', '?')} images)"),
        (
            "training",
            f"{t.get('steps', r['step'])} steps, {t.get('hardware', 'unknown hardware')}"
            + (f", {t['seconds'] / 60:.1f} min" if isinstance(t.get("seconds"), (int, float)) else ""),
        ),
        *([("fine-tuned from", t["init_from"])] if t.get("init_from") else []),
        *([("trained", t["stage"])] if t.get("stage") else []),
        (
            "validation",
            ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(metrics.items())
            )
            or "none recorded",
        ),
        (
            "parity",
            f"max abs(ONNX - PyTorch) = {r['parity_max_abs']:.2e} over {len(r['parity'])} cases ("
            + (
                "random latents"
                if r["kind"] == "generate"
                else "random and real images"
                if r["real_images"]
                else "random inputs only: no training images found"
            )
            + f"), at most {r['parity_rel']:.1e} of the output's scale; limit {PARITY_RTOL:g}",
        ),
        (
            "file",
            f"{os.path.basename(r['path'])}, {r['bytes'] / 1e6:.2f} MB, opset {r['opset']}, contract 1"
            + "".join(
                f"; {n} {k} rewritten for onnxruntime" for k, n in (r.get("rewrites") or {}).items() if n
            ),
        ),
    ]
    if r["int8"]:
        q = r["int8"]
        stay = q.get("sensitive") or {}
        fp32 = (
            f": the {len(stay)} convolution(s) that alone drop it below {q['sensitive_below']:g} dB stay fp32"
            if stay and "sensitive" in q["quantized"]
            else ""
        )
        rows.append(("int8", f"{q['reason']} ({q['quantized']} quantized{fp32})"))
    lines = [f"# {r['name']}", "", r["description"], "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str], prog: str = "nftgan export") -> int:
    parser = Parser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        examples=(
            "nftgan export runs/my-style -o ~/nftgan-styles/my-style.onnx --name 'My style' --license CC-BY-4.0",
            "nftgan export runs/photo2paint -o paint.onnx --direction BtoA   # CycleGAN: the other generator",
            "nftgan export runs/my-style -o my-style.onnx --int8 --card my-style.md",
        ),
    )
    parser.add_argument("checkpoint", help="a checkpoint file, or a run folder (its checkpoints/latest.pt)")
    add_out(parser, "the .onnx file to write", "MODEL.onnx", required=True)
    parser.renamed("--output", "--out")
    parser.add_argument(
        "--direction", choices=("AtoB", "BtoA"), help="cyclegan: which generator (default: AtoB)"
    )
    parser.add_argument("--name", help="style name shown in the add-on (default: the run's name)")
    parser.add_argument("--description", help="one line shown under the name")
    parser.add_argument("--license", help="license of the weights, e.g. CC-BY-4.0 (shown on the style card)")
    parser.add_argument(
        "--int8",
        action="store_true",
        help=f"also write <name>.int8.onnx when it is faster and >= {INT8_MIN_PSNR:.0f} dB PSNR vs fp32 "
        "(the add-on runs it on CPUs with VNNI/AMX int8 instructions)",
    )
    parser.add_argument(
        "--calib-dir",
        help="images of the model's input domain for parity and int8 calibration "
        "(default: the checkpoint's training data)",
    )
    parser.add_argument("--card", help="also write the model card as Markdown to this file")
    parser.add_argument(
        "--work-size",
        type=int,
        default=None,
        metavar="PX",
        help="colorize/stylize: the picture size the model learned at. The add-on stylizes larger "
        "sketches at this size and scales the result back, so a 1024 px canvas gets the strokes and "
        "colours the model learned instead of marks 4x too small for it; 0: none, any size runs as "
        "painted (for texture-like styles). Default: the run's own load size (its training pictures' "
        "size before the crop: --load-size, else --size x 286 / 256), to the nearest size the model "
        "takes without padding (a U-Net trained at --size 256 runs at 256, not 286 padded to 512)",
    )
    parser.add_argument(
        "--keep-colours",
        action="store_true",
        help="stylize: the add-on keeps the colours the style is given (the artist's) and takes only the "
        "style's lightness: its shading, bevels and highlights (for a style that should not recolour, "
        "like 3D Clay; leave it out for one that changes colours on purpose)",
    )
    args = parser.parse_args(argv)
    try:
        from nftgan.training.checkpoint import resolve

        source = resolve(args.checkpoint)
        refuse_overwrite(args.out, source, what="the checkpoint")
        if args.card:
            refuse_overwrite(args.card, source, args.out, what="the checkpoint or the model")
        check_out(args.out, args.card)
        report = export_checkpoint(
            args.checkpoint,
            args.out,
            direction=args.direction,
            name=args.name,
            description=args.description,
            license=args.license,
            int8=args.int8,
            calib_dir=args.calib_dir,
            work_size=args.work_size,
            keep_colours=args.keep_colours,
        )
        if args.card:
            _write_atomic(Path(args.card), report["card"].encode())
    except (UserError, ModelError, ValueError) as exc:  # UserError: ExportError, CheckpointError, FileError
        return error(prog, exc, 1)
    given, learned = args.work_size, report["learned_size"]
    if given and learned and given not in (learned, report["default_work_size"]):
        print(
            f"{prog}: warning: --work-size {given} differs from the size this run learned at ({learned} px, "
            f"its load size): the add-on will scale sketches to {given} px, where strokes look "
            f"{given / learned:.2g}x as large to the model as in its training pictures. Leave --work-size out "
            "to use the run's size",
            file=sys.stderr,
        )
    print(report["card"])
    if given is None and report["work_size"] != learned:
        m = report["multiple_of"]
        print(
            f"  work    {report['work_size']} px: the run learned at {learned} px, which this graph (sizes that are "
            f"multiples of {m} px) would run padded with paper to {-(-learned // m) * m} px; "
            f"--work-size {learned} for that"
        )
    for p in report["parity"]:
        print(f"  parity  {p['case']:<28} max |d| {p['max_abs']:.2e}")
    if report["int8"]:
        print(int8_summary(report["int8"]))
    print(f"wrote {args.out} in {report['seconds']:.1f} s")
    return 0
