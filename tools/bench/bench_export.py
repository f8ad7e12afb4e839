"""Export benchmark: torch eager vs ONNX Runtime fp32 vs ONNX Runtime int8 (static QDQ), per generator and for the
Pix2Pix -> CycleGAN chain at 256x256, beside the FLOP-bound ideal (2 x MACs / this machine's matmul GFLOP/s,
measured in the same run). Untrained (initialised) weights: speed does not depend on them, int8 PSNR does a
little. One process, one table; every time is the best of several runs (ORT fp32 and int8 interleaved): on a
shared CPU other work only ever adds time."""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from nftgan.export import onnx_export as ox
from nftgan.training.blocks import build_image_generator

from tools.bench.bench_models import matmul_peak

SIDE = 256
REPEATS = 5


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _best(fn, repeats: int = REPEATS) -> float:
    fn()
    return min(_timed(fn) for _ in range(repeats))


def _images(n: int, seed: int) -> list[np.ndarray]:
    """Smooth colour fields with a few hard edges: closer to drawings than white noise, for calibration."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    out = []
    for _ in range(n):
        img = np.stack(
            [
                np.sin(xx * rng.uniform(1, 6) + rng.uniform(0, 6)) * np.cos(yy * rng.uniform(1, 6))
                for _ in range(3)
            ]
        )
        img[:, (xx > rng.uniform()) & (yy > rng.uniform())] *= -0.5
        out.append(img.astype(np.float32))
    return out


def main() -> None:
    torch.set_num_threads(os.cpu_count() or 1)
    gflops = matmul_peak(torch.get_num_threads())
    info = {"kind": "colorize", "size": SIDE, "multiple_of": SIDE, "scale": 1, "latent": 0}
    nets = {
        "pix2pix U-Net 256, ngf 64": (build_image_generator("unet", SIDE, 64, "instance", True).eval(), SIDE),
        "CycleGAN ResNet-9, ngf 64": (
            build_image_generator("resnet_9blocks", SIDE, 64, "instance", False).eval(),
            4,
        ),
    }
    calib, held = _images(4, 0), _images(2, 1)
    x = torch.from_numpy(held[0][None])
    rows, chain = [], {"eager": [], "fp32": [], "int8": [], "macs": 0}
    for label, (net, multiple) in nets.items():
        fp32 = ox.to_onnx(net, dict(info, multiple_of=multiple)).SerializeToString()
        int8, q = ox.quantize_int8(fp32, calib, held, min_psnr=0.0, min_speedup=0.0)  # timed below either way
        s32, s8 = ox._session(fp32), ox._session(int8)
        macs = ox.count_macs(net, x)
        with torch.no_grad():
            t_eager = _best(lambda n=net: n(x))
        t32, t8 = ox.time_sessions([s32, s8], x.numpy(), REPEATS)
        verdict = "keep" if q["speedup"] > 1 and q["psnr_db"] >= ox.INT8_MIN_PSNR else "refuse"
        rows.append((label, macs, t_eager, t32, t8, f"{q['psnr_db']:.1f} dB, {q['quantized']}: {verdict}"))
        chain["eager"].append(net)
        chain["fp32"].append(s32)
        chain["int8"].append(s8)
        chain["macs"] += macs

    def run_chain(sessions):
        y = x.numpy()
        for s in sessions:
            y = s.run(None, {s.get_inputs()[0].name: y})[0]
        return y

    def eager_chain():
        with torch.no_grad():
            y = x
            for n in chain["eager"]:
                y = n(y)
        return y

    t_eager = _best(eager_chain)
    t32 = _best(lambda: run_chain(chain["fp32"]))
    t8 = _best(lambda: run_chain(chain["int8"]))
    psnr = ox.psnr(run_chain(chain["int8"]), run_chain(chain["fp32"]))
    rows.append(("chain Pix2Pix -> CycleGAN", chain["macs"], t_eager, t32, t8, f"{psnr:.1f} dB"))

    print(
        f"Export benchmark at {SIDE}x{SIDE}, batch 1, untrained weights, {torch.get_num_threads()} threads; "
        f"fp32 matmul peak {gflops:.0f} GFLOP/s (numpy/OpenBLAS, its AVX-512 kernels where the CPU has them; "
        f"torch.mm reaches about half); load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs at the end (other work on the machine slows every column)"
    )
    head = (
        f"{'model':<28} {'GMACs':>6} {'ideal ms':>9} {'eager ms':>9} {'ORT fp32':>9} {'ORT int8':>9} "
        f"{'fp32/ideal':>10} {'eager/fp32':>10} {'fp32/int8':>9}  int8 PSNR vs fp32, rule"
    )
    print(head)
    print("-" * len(head))
    for label, macs, te, t32, t8, note in rows:
        ideal = 2 * macs / (gflops * 1e9)
        print(
            f"{label:<28} {macs / 1e9:>6.1f} {ideal * 1e3:>9.1f} {te * 1e3:>9.1f} {t32 * 1e3:>9.1f} "
            f"{t8 * 1e3:>9.1f} {t32 / ideal:>9.2f}x {te / t32:>9.2f}x {t32 / t8:>8.2f}x  {note}"
        )


if __name__ == "__main__":
    main()
