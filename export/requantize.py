"""Make (or refuse) NAME.int8.onnx for an existing fp32 NAME.onnx, by `nftgan export --int8`'s rule.

    python -m nftgan.export.requantize NAME.onnx --calib DIR --held DIR [--hints] [--sensitive-below DB]

For shipped models whose checkpoints are gone, after an exact rewrite of the fp32 file (export/optimize.py):
static QDQ int8 calibrated on images of the model's input domain from `--calib`, scored against the fp32 file
on `--held` (PSNR on the worst image, >= 35 dB) and kept only when it is also faster (`quantize_int8`). The
variant carries the fp32 file's metadata, named "(int8)" with the rule's verdict in its description, as the
export writes it.

`--hints` (colorize models, whose input may carry the artist's colour dabs): DIR holds A/ (sketches) and B/
(the pictures); calibration sketches get colour hints painted from their pictures as in training
(`training.hints.paint_hints`), and every held-out sketch is scored twice, plain and with hints.
`--sensitive-below DB` adds a candidate that keeps the most sensitive convolutions in fp32: each Conv is
quantized alone, and those whose worst held-out PSNR against fp32 is then below DB stay unquantized.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from nftgan.training.errors import UserError


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

    found = {}
    names = [n.name for n in onnx.load_from_string(fp32).graph.node if n.op_type == "Conv"]
    for name in names:
        _, report = ox.quantize_int8(
            fp32,
            calib,
            held,
            min_psnr=-1e9,
            min_speedup=-1.0,
            variants={name: _options(nodes_to_quantize=[name])},
        )
        if report["psnr_db"] < below:
            found[name] = report["psnr_db"]
    return found


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
    p.add_argument("--sensitive-below", type=float, metavar="DB", help="also try the sensitive Convs in fp32")
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
    variants = None
    if args.sensitive_below is not None:
        keep = sensitive_convs(fp32, calib, held, args.sensitive_below)
        print(f"in fp32 (quantized alone: worst held-out PSNR < {args.sensitive_below:g} dB):")
        for name, db in sorted(keep.items(), key=lambda kv: kv[1]):
            print(f"  {name:<56} {db:5.1f} dB")
        variants = dict(ox.int8_candidates(onnx.load_from_string(fp32)))
        variants[f"Conv except {len(keep)} sensitive"] = _options(nodes_to_exclude=list(keep))
    q_model, report = ox.quantize_int8(fp32, calib, held, variants=variants)
    for c in report["candidates"]:
        print(
            f"  {c['quantized']:<34} {c['psnr_db']:5.1f} dB  {c['fp32_ms']:6.1f} -> {c['int8_ms']:6.1f} ms "
            f"({c['speedup']:.2f}x)"
        )
    print(report["reason"])
    out = ox.int8_path(args.model)
    if q_model is None:
        return 1
    props = {p.key: p.value for p in onnx.load_from_string(fp32).metadata_props}
    props["nftgan.name"] = f"{props['nftgan.name']} (int8)"
    props["nftgan.description"] = f"{props['nftgan.description']}; int8 ({report['reason']})"
    ox._write_atomic(out, ox._with_metadata(onnx.load_from_string(q_model), props))
    print(f"wrote {out} ({report['quantized']} quantized)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
