"""Collections: the .npz image cache vs decoding the folder, DCGAN / WGAN-GP training steps (default
networks: 64 px, ngf/ndf 64, latent 128; batch 16 instead of 64 to keep the run short), and sampling a collection with ONNX Runtime (the add-on
and `nftgan generate`) vs PyTorch eager on the same generator. One table, measured side by side in one run
on this machine (other work on the machine slows every row)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from nftgan.core import generate as gen
from nftgan.export.onnx_export import export_checkpoint
from nftgan.training import gan
from nftgan.training.checkpoint import build_generator, load_checkpoint
from nftgan.training.data import collate
from nftgan.training.kinds import get_kind
from nftgan.training.trainer import Trainer
from PIL import Image


def _folder(root: Path, n: int = 400, size: int = 128) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(root / f"{i:04d}.png")
    return root


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = _folder(tmp / "images")
        t0 = time.perf_counter()
        gan.build_cache(str(data), 64, log=lambda m: None)
        build = time.perf_counter() - t0
        reload = _best(lambda: gan.load_images(str(data), 64))
        rows.append(
            (
                "image cache, 400 PNGs 128->64 px",
                f"build (decode + resize) {build:.2f} s",
                f"reload {reload * 1000:.0f} ms",
                f"{build / reload:.0f}x faster reloads",
            )
        )

        for kind in ("dcgan", "wgan-gp"):
            cfg = get_kind(kind).config_class(
                model=kind,
                data=str(data),
                out=str(tmp / kind),
                steps=1,
                workers=0,
                batch_size=16,
                sample_every=10_000,
                checkpoint_every=10_000,
            )
            trainer = Trainer(cfg)
            run = trainer.run
            batch = trainer._batch(collate([trainer.train_ds[(i, i)] for i in range(cfg.batch_size)]))
            trainer.kind.train_step(run, batch)  # warm-up
            step = _best(lambda t=trainer, r=run, b=batch: t.kind.train_step(r, b), repeat=1)
            per = "generator step (5 critic steps)" if kind == "wgan-gp" else "step (D + G)"
            rows.append(
                (
                    f"{kind} train, 64 px, batch 16, CPU {torch.get_num_threads()} threads",
                    f"{step:.2f} s per {per}",
                    f"{cfg.batch_size / step:.0f} images/s",
                    "",
                )
            )

        cfg = get_kind("dcgan").config_class(
            model="dcgan",
            data=str(data),
            out=str(tmp / "g"),
            steps=1,
            workers=0,
            batch_size=8,
            sample_every=10_000,
            checkpoint_every=10_000,
        )
        Trainer(cfg).fit()
        onnx_path = tmp / "g.onnx"
        export_checkpoint(tmp / "g", onnx_path)
        info = gen.load_model(onnx_path)
        z = gen.latents(gen.seeds_plan(0, 64), info.latent)
        g, _ = build_generator(load_checkpoint(tmp / "g"))
        gen.run(info, z[:4])  # session created, warm
        ort_t = _best(lambda: gen.run(info, z, batch=16))
        with torch.no_grad():
            zt = torch.from_numpy(z)
            eager = _best(lambda: [g(zt[i : i + 16]) for i in range(0, 64, 16)])
        rows.append(
            (
                "sample 64 images, 64 px (latent 128)",
                f"ONNX Runtime {64 / ort_t:.0f} images/s",
                f"PyTorch eager {64 / eager:.0f} images/s",
                f"ORT {eager / ort_t:.2f}x eager",
            )
        )
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"{os.cpu_count()} CPUs; torch {torch.__version__}")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, width)))


if __name__ == "__main__":
    main()
