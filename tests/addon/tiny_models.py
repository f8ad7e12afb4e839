"""Temporary test models for the add-on tests: tiny networks TRAINED for a few seconds on generated
sketches and exported to ONNX with contract metadata (never random weights). Replaced by the shared
fixtures in tests/conftest.py once the export engineer lands them."""

from __future__ import annotations

import hashlib
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _strokes_batch(rng, n, size):
    from addon.core.imageio import draw_strokes

    out = np.ones((n, size, size, 4), dtype=np.float32)
    for i in range(n):
        strokes = [rng.uniform(0.05, 0.95, size=(rng.integers(2, 5), 2)) for _ in range(rng.integers(1, 4))]
        draw_strokes(out[i], strokes, width=rng.uniform(1.0, 2.5))
    return out[..., :3]


def _targets(kind, sketch):
    ink = 1.0 - sketch.mean(axis=-1, keepdims=True)  # 1 on strokes
    if kind == "colorize":  # warm paper, blue ink
        paper, color = np.array([0.98, 0.9, 0.75]), np.array([0.1, 0.2, 0.7])
    else:  # sepia tone with dark brown ink
        paper, color = np.array([0.85, 0.7, 0.5]), np.array([0.25, 0.1, 0.05])
    return (paper * (1 - ink) + color * ink).astype(np.float32)


def build(kind: str, out_path: str, steps: int = 150, seed: int = 0) -> str:
    import torch
    from torch import nn

    from addon.core.contract import build_metadata

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.ConvTranspose2d(24, 12, 4, stride=2, padding=1), nn.ReLU())
            self.c = nn.Conv2d(24, 3, 3, padding=1)

        def forward(self, x):
            a = self.a(x)
            return torch.tanh(self.c(torch.cat([a, self.b(a)], 1)))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        sk = _strokes_batch(rng, 8, 32)
        x = torch.from_numpy(sk).permute(0, 3, 1, 2) * 2 - 1
        y = torch.from_numpy(_targets(kind, sk)).permute(0, 3, 1, 2) * 2 - 1
        loss = (net(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    tmp = out_path + ".tmp.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 64, 64), tmp, input_names=["image"], output_names=["out"],
                      dynamic_axes={"image": {2: "h", 3: "w"}, "out": {2: "h", 3: "w"}}, dynamo=False)
    import onnx

    model = onnx.load(tmp)
    props = build_metadata(kind=kind, name=f"Test {kind}", size=64, multiple_of=2,
                           description=f"tiny {kind} model trained {steps} steps for the tests",
                           training={"dataset": "generated strokes", "steps": steps, "final_l1": float(loss.detach())})
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, out_path)
    os.remove(tmp)
    return out_path


def ensure(cache_root: str | None = None) -> dict[str, str]:
    """{'colorize': path, 'stylize': path}, built once per content of this file."""
    with open(__file__, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:12]
    folder = os.path.join(cache_root or os.path.join(ROOT, ".cache", "test-models"), f"addon-{digest}")
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for kind in ("colorize", "stylize"):
        path = os.path.join(folder, f"test_{kind}.onnx")
        if not os.path.exists(path):
            build(kind, path)
        paths[kind] = path
    return paths


if __name__ == "__main__":
    print(ensure())
