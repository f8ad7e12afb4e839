"""The int8 search `nftgan export --int8` runs (`search`), and the same for an existing fp32 NAME.onnx:

    python -m nftgan.export.requantize NAME.onnx --calib DIR --held DIR [--hints] [--sensitive-below DB]

`search`: every Conv is quantized alone and scored on the held-out images; those that alone drop the worst
held-out PSNR against fp32 below SENSITIVE_BELOW dB stay fp32 in one more candidate beside `int8_candidates`'
(every Conv; all but the first and last; with the transposed convolutions). `quantize_int8` then keeps the
fastest candidate of at least 35 dB if it is faster than fp32, or refuses.

For shipped models whose checkpoints are gone, after an exact rewrite of the fp32 file (export/optimize.py):
static QDQ int8 calibrated on images of the model's input domain from `--calib`, scored against the fp32 file
on `--held` (PSNR on the worst image, >= 35 dB) and kept only when it is also faster (`quantize_int8`). The
variant carries the fp32 file's metadata, named "(int8)" with the rule's verdict in its description, as the
export writes it.

`--hints` (colorize models, whose input may carry the artist's colour dabs): DIR holds A/ (sketches) and B/
(the pictures); calibration sketches get colour hints painted from their pictures as in training
(`training.hints.paint_hints`), and every held-out sketch is scored twice, plain and with hints.
`--sensitive-below DB`: the search's threshold (default SENSITIVE_BELOW).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from nftgan.training.errors import UserError

# dB: a Conv that, quantized alone, drops the worst held-out PSNR vs fp32 below this stays fp32 (Flat Colour: the
# 6 of 22 that alone cost 31-39 dB; its variant without them: 44.2 dB, 1.23x)
SENSITIVE_BELOW = 45.0


def domain(folder: str, n: int, side: int) -> list[np.ndarray]:
    """`n` images spread evenly over a folder (sorted), as CHW float32 in [-1, 1] at `side` px (bicubic)."""
    from nftgan.export.onnx_export import _resize
    from nftgan.training.data import list_images, load_rgb

    files = sorted(list_images(folder))
    if not files:
        raise UserError(
            f"{folder}: no images (give a folder of PNG/JPEG pictures of the model's input domain)"
        )
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)]
    return [_resize(load_rgb(f), side).numpy() for f in picks]


def hinted(folder: str, n: int, side: int, seed: int, plain: bool) -> list[np.ndarray]:
    """Sketches from FOLDER/A with training-style colour hints painted from FOLDER/B (the same names); with
    `plain` each sketch also as it is (first), so the held-out set scores both."""
    from nftgan.training.hints import paint_hints

    sketches, pictures = domain(f"{folder}/A", n, side), domain(f"{folder}/B", n, side)
    rng, out = np.random.default_rng(seed), []
    for a, b in zip(sketches, pictures):
        u8 = [np.clip((x.transpose(1, 2, 0) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8) for x in (a, b)]
        painted, _ = paint_hints(*u8, rng)
        out += ([a] if plain else []) + [(painted.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1).copy()]
    return out


def sensitive_convs(fp32: bytes, calib: list[np.ndarray], held: list[np.ndarray], below: float) -> dict:
    """{Conv name: worst held-out PSNR vs fp32 with only that Conv quantized} of those below `below` dB."""
    from nftgan.export import onnx_export as ox
    from nftgan.export.optimize import trained_convs

    found = {}
    names = trained_convs(onnx.load_from_string(fp32))
    for name in names:
        _, report = ox.quantize_int8(
            fp32,
            calib,
            held,
            min_psnr=-1e9,
            min_speedup=-1.0,
            variants={name: _options(nodes_to_quantize=[name])},
            timed=False,
        )
        if report.get("psnr_db", float("inf")) < below:  # none: quantize_static left this Conv as it was
            found[name] = report["psnr_db"]
    return found


def search(
    fp32: bytes, calib: list[np.ndarray], held: list[np.ndarray], below: float | None = None
) -> tuple[bytes | None, dict]:
    """The int8 variant of an fp32 model (bytes) by the rule, or None: (model or None, report).

    `quantize_int8` over `int8_candidates` plus, when the per-Conv search finds some (not all) convolutions
    below `below` dB (default SENSITIVE_BELOW), the candidate that keeps those in fp32; report["sensitive"] is
    {Conv name: worst held-out PSNR with it alone quantized} of those."""
    from nftgan.export import onnx_export as ox
    from nftgan.export.optimize import trained_convs

    below = SENSITIVE_BELOW if below is None else below
    proto = onnx.load_from_string(fp32)
    keep = sensitive_convs(fp32, calib, held, below)
    variants = ox.int8_candidates(proto)
    if 0 < len(keep) < len(trained_convs(proto)):
        variants[f"Conv except {len(keep)} sensitive"] = _options(nodes_to_exclude=list(keep))
    q_model, report = ox.quantize_int8(fp32, calib, held, variants=variants)
    report["sensitive"] = keep
    report["sensitive_below"] = below
    return q_model, report


def _options(**extra) -> dict:
    return {"op_types_to_quantize": ["Conv"], **extra}


def main(argv: list[str] | None = None, prog: str = "python -m nftgan.export.requantize") -> int:

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="the fp32 NAME.onnx")
    p.add_argument("--calib", required=True, help="calibration images (the model's input domain)")
    p.add_argument("--held", required=True, help="held-out images of the same domain, for the PSNR rule")
    p.add_argument(
        "--hints", action="store_true", help="colorize: A/ and B/ folders; calibrate and score with dabs"
    )
    p.add_argument(
        "--sensitive-below",
        type=float,
        metavar="DB",
        help="a Conv that alone drops the worst held-out PSNR below DB stays fp32 in one candidate "
        f"(default: {SENSITIVE_BELOW:g})",
    )
    args = p.parse_args(argv)
    try:
        return _requantize(args)
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2


def _requantize(args) -> int:
    from nftgan.core.contract import describe_model
    from nftgan.export import onnx_export as ox

    info = describe_model(args.model)
    side = info.input_size
    if args.hints:
        calib = hinted(args.calib, ox.CALIB_IMAGES, side, 0, plain=False)
        held = hinted(args.held, ox.HELD_OUT_IMAGES, side, 1, plain=True)
    else:
        calib = domain(args.calib, ox.CALIB_IMAGES, side)
        held = domain(args.held, ox.HELD_OUT_IMAGES, side)
    fp32 = Path(args.model).read_bytes()
    q_model, report = search(fp32, calib, held, args.sensitive_below)
    print(ox.int8_summary(report))
    out = ox.int8_path(args.model)
    if q_model is None:
        return 1
    props = {p.key: p.value for p in onnx.load_from_string(fp32).metadata_props}
    ox.write_int8(out, q_model, props, report)
    print(f"wrote {out} ({report['quantized']} quantized)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
