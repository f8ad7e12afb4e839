"""Make (or refuse) NAME.int8.onnx for an existing fp32 NAME.onnx, by `nftgan export --int8`'s rule.

    python -m nftgan.export.requantize NAME.onnx --calib DIR --held DIR

For shipped models whose checkpoints are gone, after an exact rewrite of the fp32 file (export/optimize.py):
static QDQ int8 calibrated on images of the model's input domain from `--calib`, scored against the fp32 file
on `--held` (PSNR on the worst image, >= 35 dB) and kept only when it is also faster (`quantize_int8`). The
variant carries the fp32 file's metadata, named "(int8)" with the rule's verdict in its description, as the
export writes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx


def domain(folder: str, n: int, side: int) -> list[np.ndarray]:
    """`n` images spread evenly over a folder (sorted), as CHW float32 in [-1, 1] at `side` px (bicubic)."""
    from nftgan.export.onnx_export import _resize
    from nftgan.training.data import list_images, load_rgb

    files = sorted(list_images(folder))
    if not files:
        raise SystemExit(f"{folder}: no images")
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)]
    return [_resize(load_rgb(f), side).numpy() for f in picks]


def main(argv: list[str] | None = None, prog: str = "python -m nftgan.export.requantize") -> int:
    from nftgan.core.contract import describe_model
    from nftgan.export import onnx_export as ox

    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="the fp32 NAME.onnx")
    p.add_argument("--calib", required=True, help="calibration images (the model's input domain)")
    p.add_argument("--held", required=True, help="held-out images of the same domain, for the PSNR rule")
    args = p.parse_args(argv)
    info = describe_model(args.model)
    side = info.input_size
    calib = domain(args.calib, ox.CALIB_IMAGES, side)
    held = domain(args.held, ox.HELD_OUT_IMAGES, side)
    fp32 = Path(args.model).read_bytes()
    q_model, report = ox.quantize_int8(fp32, calib, held)
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
