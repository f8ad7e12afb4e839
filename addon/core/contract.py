"""The NFTGan model contract: the one seam between training/export and the add-on.

An exported generator is a single .onnx file whose `metadata_props` describe it
(see README, "Model contract"). This module reads and checks those keys without
torch or bpy, so the add-on, `nftgan validate` and the exporter share one rule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

CONTRACT_VERSION = "1"
KINDS = ("colorize", "stylize", "generate", "upscale")
IMAGE_SPEC = "rgb;nchw;-1..1"  # the only image layout/range a model may take or give
LATENT_PREFIX = "z;nc;normal;"  # generate input: "z;nc;normal;<latent size>", shape (N, latent)
REQUIRED_KEYS = ("nftgan.contract", "nftgan.kind", "nftgan.name", "nftgan.input", "nftgan.output")


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
    size: int = 256  # trained resolution (generate: output size)
    multiple_of: int = 1  # height and width must be multiples of this
    scale: int = 1  # upscale factor (upscale only)
    latent: int = 0  # latent size (generate only)
    license: str = ""
    training: dict = field(default_factory=dict)
    input_name: str = ""
    output_name: str = ""

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
) -> dict[str, str]:
    """The metadata_props an exporter writes. Checked with the same rules the reader applies."""
    props = {
        "nftgan.contract": CONTRACT_VERSION,
        "nftgan.kind": kind,
        "nftgan.name": name,
        "nftgan.description": description,
        "nftgan.input": f"{LATENT_PREFIX}{latent}" if kind == "generate" else IMAGE_SPEC,
        "nftgan.output": IMAGE_SPEC,
        "nftgan.size": str(size),
        "nftgan.multiple_of": str(multiple_of),
        "nftgan.license": license,
        "nftgan.training": json.dumps(training or {}, sort_keys=True),
    }
    if kind == "upscale":
        props["nftgan.scale"] = str(scale)
    info_from_metadata("<new model>", props)  # raises ModelError if inconsistent
    return props


def _int(props: dict[str, str], key: str, default: int, where: str, minimum: int = 1) -> int:
    raw = props.get(key)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ModelError(f"{where}: metadata {key}={raw!r} is not a whole number. Re-export the model.") from None
    if value < minimum:
        raise ModelError(f"{where}: metadata {key}={value} must be at least {minimum}. Re-export the model.")
    return value


def info_from_metadata(path: str, props: dict[str, str], input_shape=None, output_shape=None,
                       input_name: str = "", output_name: str = "") -> ModelInfo:
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
    missing = [k for k in REQUIRED_KEYS if not props.get(k)]
    if missing:
        raise ModelError(f"{where} is missing contract metadata {', '.join(missing)}. Re-export the model.")
    kind = props["nftgan.kind"]
    if kind not in KINDS:
        raise ModelError(f"{where}: unknown model kind {kind!r} (expected one of {', '.join(KINDS)}).")
    if props["nftgan.output"] != IMAGE_SPEC:
        raise ModelError(f"{where}: output {props['nftgan.output']!r} is not {IMAGE_SPEC!r}. Re-export the model.")
    latent = 0
    if kind == "generate":
        spec = props["nftgan.input"]
        if not spec.startswith(LATENT_PREFIX):
            raise ModelError(f"{where}: a generate model takes {LATENT_PREFIX}<size>, not {spec!r}.")
        latent = _int({"l": spec[len(LATENT_PREFIX):]}, "l", 0, where)
    elif props["nftgan.input"] != IMAGE_SPEC:
        raise ModelError(
            f"{where}: input {props['nftgan.input']!r} is not {IMAGE_SPEC!r}. NFTGan feeds every image model "
            "RGB in [-1, 1], NCHW; re-export the model so its input matches."
        )
    try:
        training = json.loads(props.get("nftgan.training") or "{}")
    except json.JSONDecodeError:
        raise ModelError(f"{where}: metadata nftgan.training is not valid JSON. Re-export the model.") from None
    scale = _int(props, "nftgan.scale", 1, where) if kind == "upscale" else 1
    if kind == "upscale" and scale < 2:
        raise ModelError(f"{where}: an upscale model needs nftgan.scale >= 2, got {scale}.")
    info = ModelInfo(
        path=path, kind=kind, name=props["nftgan.name"], description=props.get("nftgan.description", ""),
        input_spec=props["nftgan.input"], output_spec=props["nftgan.output"],
        size=_int(props, "nftgan.size", 256, where), multiple_of=_int(props, "nftgan.multiple_of", 1, where),
        scale=scale, latent=latent, license=props.get("nftgan.license", ""), training=training,
        input_name=input_name, output_name=output_name,
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


def describe_model(path: str | os.PathLike) -> ModelInfo:
    """Read and check an .onnx file's contract. Raises ModelError with an actionable message."""
    import onnxruntime as ort  # imported here so the module loads without it (e.g. in the manifest check)

    path = os.fspath(path)
    where = os.path.basename(path)
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such model file.")
    if os.path.getsize(path) == 0:
        raise ModelError(f"{where} is empty (0 bytes): the download or copy did not finish.")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several exception types for bad files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{where} is not a readable ONNX model ({first}). The file may be truncated or not a model; "
            "re-export it with `nftgan export` or copy it again."
        ) from exc
    props = dict(sess.get_modelmeta().custom_metadata_map)
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{where}: an NFTGan model has one input and one output, this one has "
                         f"{len(inputs)} and {len(outputs)}.")
    return info_from_metadata(path, props, inputs[0].shape, outputs[0].shape, inputs[0].name, outputs[0].name)
