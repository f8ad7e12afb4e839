"""The NFTGan model contract: the one seam between training/export and the add-on.

An exported generator is a single .onnx file whose `metadata_props` describe it
(see docs/models.md, "The model contract"). This module reads and checks those keys without
torch or bpy, so the add-on, `nftgan validate` and the exporter share one rule.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

CONTRACT_VERSION = "1"
KINDS = ("colorize", "stylize", "generate", "upscale")
IMAGE_SPEC = "rgb;nchw;-1..1"  # the only image layout/range a model may take or give
LATENT_PREFIX = "z;nc;normal;"  # generate input: "z;nc;normal;<latent size>", shape (N, latent)
REQUIRED_KEYS = ("nftgan.contract", "nftgan.kind", "nftgan.name", "nftgan.input", "nftgan.output")
MAX_NAME = 60  # characters of a style's name: what a picker shows in one line


def one_line(text: str, limit: int = 0) -> str:
    """`text` as one clean line: control characters (a NUL, which Blender cuts a string at; line breaks, tabs)
    and runs of spaces become one space, no space at the ends; longer than `limit` characters (0: any) cut
    with an ellipsis."""
    text = " ".join(
        "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" else c for c in text).split()
    )
    return text[: limit - 1].rstrip() + "…" if limit and len(text) > limit else text


class ModelError(ValueError):
    """A model file that cannot be used, with a message a user can act on."""


@dataclass(frozen=True)
class ModelInfo:
    path: str
    kind: str
    name: str
    description: str = ""
    input_spec: str = IMAGE_SPEC
    output_spec: str = IMAGE_SPEC
    size: int = 256  # trained output resolution (upscale: the high-res crop; generate: the image side)
    multiple_of: int = 1  # height and width must be multiples of this
    scale: int = 1  # upscale factor (upscale only)
    latent: int = 0  # latent size (generate only)
    work_size: int = (
        0  # colorize/stylize: the largest side it runs at (the size it learned at, or a measured multiple)
    )
    keep_colours: bool = False  # stylize: the pipeline keeps the input's colours, the style's lightness
    license: str = ""
    training: dict = field(default_factory=dict)
    input_name: str = ""
    output_name: str = ""

    @property
    def input_size(self) -> int:
        """The input side the model was trained on (upscale: size / scale)."""
        return max(1, self.size // self.scale)

    @property
    def id(self) -> str:
        """A stable identifier for pickers: the file name without extension."""
        return os.path.splitext(os.path.basename(self.path))[0]


def build_metadata(
    *,
    kind: str,
    name: str,
    size: int,
    multiple_of: int,
    description: str = "",
    scale: int = 1,
    latent: int = 0,
    license: str = "",
    training: dict | None = None,
    work_size: int = 0,
    keep_colours: bool = False,
) -> dict[str, str]:
    """The metadata_props an exporter writes. Checked with the same rules the reader applies."""
    props = {
        "nftgan.contract": CONTRACT_VERSION,
        "nftgan.kind": kind,
        "nftgan.name": one_line(name, MAX_NAME),
        "nftgan.description": one_line(description),
        "nftgan.input": f"{LATENT_PREFIX}{latent}" if kind == "generate" else IMAGE_SPEC,
        "nftgan.output": IMAGE_SPEC,
        "nftgan.size": str(size),
        "nftgan.multiple_of": str(multiple_of),
        "nftgan.license": license,
        "nftgan.training": json.dumps(training or {}, sort_keys=True),
    }
    if kind == "upscale":
        props["nftgan.scale"] = str(scale)
    if work_size:
        props["nftgan.work_size"] = str(work_size)
    if keep_colours:
        props["nftgan.keep_colours"] = "1"
    info_from_metadata("<new model>", props)  # raises ModelError if inconsistent
    return props


# Bounds on what a model may declare: beyond them a file is refused, never allocated for (a size of
# 2**31 would otherwise become an input of 2**62 pixels in `nftgan validate` and the pipeline).
MAX_MODEL_SIDE = 8192  # nftgan.size
MAX_MULTIPLE_OF = 1024  # nftgan.multiple_of (a U-Net of depth 10)
MAX_WORK_SIZE = 16384  # nftgan.work_size: the largest sketch side NFTGan takes
MAX_SCALE = 16  # nftgan.scale
MAX_LATENT = 65536  # a generate model's latent size


def _int(
    props: dict[str, str], key: str, default: int, where: str, minimum: int = 1, maximum: int = MAX_MODEL_SIDE
) -> int:
    raw = props.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ModelError(
            f"{where}: metadata {key}={raw!r} is not a whole number. Re-export the model."
        ) from None
    if value < minimum:
        raise ModelError(f"{where}: metadata {key}={value} must be at least {minimum}. Re-export the model.")
    if value > maximum:
        raise ModelError(
            f"{where}: metadata {key}={value} is more than NFTGan accepts ({maximum}). Re-export the model."
        )
    return value


def info_from_metadata(
    path: str,
    props: dict[str, str],
    input_shape=None,
    output_shape=None,
    input_name: str = "",
    output_name: str = "",
) -> ModelInfo:
    """Check contract metadata (and, when given, the graph's input/output shapes)."""
    where = os.path.basename(path)
    if "nftgan.contract" not in props:
        raise ModelError(
            f"{where} has no NFTGan contract metadata (nftgan.contract). "
            "It was not made by `nftgan export`; export your checkpoint with `nftgan export CKPT -o model.onnx`."
        )
    version = props["nftgan.contract"]
    if version != CONTRACT_VERSION:
        raise ModelError(
            f"{where} uses model contract version {version!r}; this NFTGan understands version "
            f"{CONTRACT_VERSION}. Update the NFTGan add-on, or re-export the model with this version."
        )
    props = dict(props)
    for key, limit in (("nftgan.name", MAX_NAME), ("nftgan.description", 0)):
        if key in props:
            props[key] = one_line(props[key], limit)
    missing = [k for k in REQUIRED_KEYS if not props.get(k)]
    if missing:
        raise ModelError(f"{where} is missing contract metadata {', '.join(missing)}. Re-export the model.")
    kind = props["nftgan.kind"]
    if kind not in KINDS:
        raise ModelError(f"{where}: unknown model kind {kind!r} (expected one of {', '.join(KINDS)}).")
    if props["nftgan.output"] != IMAGE_SPEC:
        raise ModelError(
            f"{where}: output {props['nftgan.output']!r} is not {IMAGE_SPEC!r}. Re-export the model."
        )
    latent = 0
    if kind == "generate":
        spec = props["nftgan.input"]
        if not spec.startswith(LATENT_PREFIX):
            raise ModelError(f"{where}: a generate model takes {LATENT_PREFIX}<size>, not {spec!r}.")
        latent = _int(
            {"nftgan.input latent": spec[len(LATENT_PREFIX) :]},
            "nftgan.input latent",
            0,
            where,
            maximum=MAX_LATENT,
        )
    elif props["nftgan.input"] != IMAGE_SPEC:
        raise ModelError(
            f"{where}: input {props['nftgan.input']!r} is not {IMAGE_SPEC!r}. NFTGan feeds every image model "
            "RGB in [-1, 1], NCHW; re-export the model so its input matches."
        )
    try:
        training = json.loads(props.get("nftgan.training") or "{}")
    except json.JSONDecodeError:
        raise ModelError(
            f"{where}: metadata nftgan.training is not valid JSON. Re-export the model."
        ) from None
    scale = _int(props, "nftgan.scale", 1, where, maximum=MAX_SCALE) if kind == "upscale" else 1
    if kind == "upscale" and scale < 2:
        raise ModelError(f"{where}: an upscale model needs nftgan.scale >= 2, got {scale}.")
    work_size = _int(props, "nftgan.work_size", 0, where, minimum=16, maximum=MAX_WORK_SIZE)
    if work_size and kind not in ("colorize", "stylize"):
        raise ModelError(f"{where}: nftgan.work_size is for colorize and stylize models, not {kind}.")
    keep = props.get("nftgan.keep_colours", "")
    if keep not in ("", "0", "1"):
        raise ModelError(
            f"{where}: metadata nftgan.keep_colours={keep!r} must be 1 or 0. Re-export the model."
        )
    if keep == "1" and kind != "stylize":
        raise ModelError(
            f"{where}: nftgan.keep_colours is for stylize models, not {kind}. Re-export the model without "
            "--keep-colours."
        )
    info = ModelInfo(
        path=path,
        kind=kind,
        name=props["nftgan.name"],
        description=props.get("nftgan.description", ""),
        input_spec=props["nftgan.input"],
        output_spec=props["nftgan.output"],
        size=_int(props, "nftgan.size", 256, where),
        multiple_of=_int(props, "nftgan.multiple_of", 1, where, maximum=MAX_MULTIPLE_OF),
        scale=scale,
        latent=latent,
        work_size=work_size,
        keep_colours=keep == "1",
        license=props.get("nftgan.license", ""),
        training=training,
        input_name=input_name,
        output_name=output_name,
    )
    if input_shape is not None:
        _check_shapes(info, list(input_shape), list(output_shape or []), where)
    return info


def _check_shapes(info: ModelInfo, inp: list, out: list, where: str) -> None:
    def dim(d):  # ORT reports symbolic dims as strings / None
        return d if isinstance(d, int) else None

    if info.kind == "generate":
        if len(inp) != 2:
            raise ModelError(f"{where}: a generate model's input must be (N, latent), got rank {len(inp)}.")
        if dim(inp[1]) not in (None, info.latent):
            raise ModelError(f"{where}: input has latent size {inp[1]} but metadata says {info.latent}.")
    else:
        if len(inp) != 4:
            raise ModelError(f"{where}: input must be an NCHW image (rank 4), got rank {len(inp)}.")
        if dim(inp[1]) not in (None, 3):
            raise ModelError(f"{where}: input has {inp[1]} channels; NFTGan models take 3 (RGB).")
    if out and (len(out) != 4 or dim(out[1]) not in (None, 3)):
        raise ModelError(f"{where}: output must be an NCHW RGB image, got shape {out}.")


class _Truncated(Exception):
    pass


def _fields(buf, start: int = 0, end: int | None = None):
    """Yield (field number, wire type, value) of one protobuf message; length-delimited values as (start, end)."""
    pos, end = start, len(buf) if end is None else end

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            if pos >= end:
                raise _Truncated
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Truncated

    while pos < end:
        key = varint()
        field_no, wire = key >> 3, key & 7
        if wire == 0:
            yield field_no, wire, varint()
            continue
        if wire == 2:
            length = varint()
            value, pos = (pos, pos + length), pos + length
        elif wire in (1, 5):
            value, pos = None, pos + (8 if wire == 1 else 4)
        else:
            raise _Truncated
        if pos > end:
            raise _Truncated
        yield field_no, wire, value


def _string(buf, span) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", "replace")


def _value_info(buf, span) -> tuple[str, list]:
    """ValueInfoProto -> (name, dims); a dim is an int, a symbolic name, or None."""
    name, dims = "", []
    for f, w, v in _fields(buf, *span):
        if f == 1 and w == 2:
            name = _string(buf, v)
        elif f == 2 and w == 2:  # TypeProto.tensor_type(1).shape(2).dim(1)
            for f2, w2, v2 in _fields(buf, *v):
                if f2 == 1 and w2 == 2:
                    for f3, w3, v3 in _fields(buf, *v2):
                        if f3 == 2 and w3 == 2:
                            for f4, w4, v4 in _fields(buf, *v3):
                                if f4 == 1 and w4 == 2:
                                    dim = None
                                    for f5, w5, v5 in _fields(buf, *v4):
                                        dim = (
                                            v5 if (f5, w5) == (1, 0) else _string(buf, v5) if f5 == 2 else dim
                                        )
                                    dims.append(dim)
    return name, dims


def read_header(path: str | os.PathLike) -> tuple[dict[str, str], list, list]:
    """(metadata_props, [(input name, dims)], [(output name, dims)]) of an .onnx file, read from its protobuf
    without onnx or onnxruntime: cheap for big models, and checked before onnxruntime sees the graph (some
    malformed graphs abort onnxruntime's loader, which would take Blender down with it)."""
    import mmap

    where = os.path.basename(os.fspath(path))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        props, inputs, outputs, initializers, has_graph = {}, [], [], set(), False
        try:
            for f, w, v in _fields(buf):
                if f == 14 and w == 2:  # metadata_props
                    entry = {f2: _string(buf, v2) for f2, w2, v2 in _fields(buf, *v) if w2 == 2}
                    props[entry.get(1, "")] = entry.get(2, "")
                elif f == 7 and w == 2:  # graph
                    has_graph = True
                    for f2, w2, v2 in _fields(buf, *v):
                        if f2 == 5 and w2 == 2:  # initializer names (old exporters also list them as inputs)
                            names = (
                                _string(buf, v3) for f3, w3, v3 in _fields(buf, *v2) if (f3, w3) == (8, 2)
                            )
                            initializers.update(names)
                        elif f2 in (11, 12) and w2 == 2:
                            (inputs if f2 == 11 else outputs).append(_value_info(buf, v2))
        except (_Truncated, IndexError):
            has_graph = False
    if not has_graph or not outputs:
        raise ModelError(
            f"{where} is not a readable ONNX model (no complete graph). The file may be truncated or "
            "not a model; re-export it with `nftgan export` or copy it again."
        )
    return props, [i for i in inputs if i[0] not in initializers], outputs


def describe_model(path: str | os.PathLike) -> ModelInfo:
    """Read and check an .onnx file's contract. Raises ModelError with an actionable message."""
    import onnxruntime as ort  # imported here so the module loads without it (e.g. in the manifest check)

    path = os.fspath(path)
    where = os.path.basename(path)
    if os.path.isdir(path):
        raise ModelError(f"{path} is a folder, not an .onnx model file: give the NAME.onnx file in it.")
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file.")
    if os.path.getsize(path) == 0:
        raise ModelError(f"{where} is empty (0 bytes): the download or copy did not finish.")
    props, inputs, outputs = read_header(path)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(
            f"{where}: an NFTGan model has one input and one output, this one has "
            f"{len(inputs)} and {len(outputs)}."
        )
    # checked before onnxruntime parses the graph
    info = info_from_metadata(path, props, inputs[0][1], outputs[0][1], inputs[0][0], outputs[0][0])
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = QUIET
    try:
        ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several exception types for bad files
        if _DAMAGED.search(str(exc)):
            raise ModelError(
                f"{where} is damaged: its weights do not load. The download or copy may not have finished: "
                f"copy it again, or re-export it with `nftgan export`. {ort_cause(exc)}"
            ) from exc
        raise ModelError(
            f"{where}: onnxruntime cannot load its graph (an operator, opset or node it does not support): "
            f"re-export it with this NFTGan's `nftgan export`. {ort_cause(exc)}"
        ) from exc
    return info


QUIET = 4  # onnxruntime's log level for NFTGan's sessions: fatal only (its errors are raised and said once)
# onnxruntime's words for a file whose data is cut or broken (a graph it rejects says other things)
_DAMAGED = re.compile(r"INVALID_PROTOBUF|Protobuf parsing failed|Deserialize tensor|buffer size mismatch")
_ORT_NOISE = [  # (pattern, replacement): what of onnxruntime's exception text means nothing to a user
    (r"\[ONNXRuntimeError\] : \d+ : \w+ : ", ""),  # its status code
    (r"Load model from .*? failed: ?|Exception during initialization: ?", ""),  # the path again
    (r"\S+\.(?:cc|cpp|h):\d+ (?:(?:void |bool |int )?[\w:~]+::[\w~]+\([^)]*\) )?", ""),  # C++ source
    (
        r"\S+ [=!<>]=? \S+ was false\. ?|Name:'[^']*' ?|Status Message: ?|(?:This is an )?[Ii]nvalid model\. ",
        "",
    ),
    (r"Non-zero status code returned while running (\w+) node\. ?", r"\1 node: "),
    (r'In Node, \("([^"]*)", (\w+),.*?, Error ', r"node \1 (\2): "),
    (r"\s+", " "),
]


def ort_cause(exc: BaseException, limit: int = 160) -> str:
    """onnxruntime's exception as a short trailing cause, "(onnxruntime: ...)": its status code, the path it
    repeats, C++ source locations and signatures left out, cut at a word to about `limit` characters."""
    text = str(exc)
    for pattern, repl in _ORT_NOISE:
        text = re.sub(pattern, repl, text)
    text = text.strip() or type(exc).__name__
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + " …"
    return f"(onnxruntime: {text})"
