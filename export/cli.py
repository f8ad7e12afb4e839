"""The `nftgan` command: a thin dispatcher.

Each subcommand lives in its own module and is imported only when it runs, so
`nftgan cid` or `nftgan stylize` never pay for importing torch. A subcommand
module exposes `main(argv: list[str], prog: str) -> int` and parses its own
arguments (so `nftgan train --help` shows that command's full help).
"""

from __future__ import annotations

import importlib
import sys

# name -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "nftgan.training.cli:main",
        "train a style or collection model (pix2pix, cyclegan, dcgan, wgan-gp, upscale)",
    ),
    "sketchify": (
        "nftgan.training.sketchify:main",
        "turn a folder of images into an aligned sketch|image dataset",
    ),
    "data": ("nftgan.training.recipes:main", "build the licensed datasets the default styles are trained on"),
    "export": (
        "nftgan.export.onnx_export:main",
        "export a training checkpoint to a self-describing ONNX model",
    ),
    "validate": ("nftgan.export.validate:main", "check that an .onnx file follows the NFTGan model contract"),
    "stylize": (
        "nftgan.core.pipeline:main",
        "run colorize -> stylize (-> upscale) on a sketch, or on folders and globs of them",
    ),
    "generate": ("nftgan.core.generate:main", "sample N images from a generate model"),
    "eval": ("nftgan.training.evaluate:main", "FID / KID / paired L1-PSNR-SSIM evaluation"),
    "cid": ("nftgan.core.publish.cli:cid_main", "print a file's IPFS CID (CIDv1 raw leaves, or --v0)"),
    "publish": (
        "nftgan.core.publish.cli:publish_main",
        "publish an image as an NFT (IPFS + ERC-721 metadata)",
    ),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: nftgan COMMAND [options]   (nftgan COMMAND --help for details; nftgan --version)",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # a bare `nftgan`: what there is to run, and a failure for scripts that forgot a command
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from importlib.metadata import version

        print(f"nftgan {version('nftgan')}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:  # as argparse says a syntax error: the usage, then "PROG: error: ..." last
        print(f"{_usage()}\n\nnftgan: error: unknown command {name!r}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[name]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest, prog=f"nftgan {name}") or 0)


if __name__ == "__main__":
    sys.exit(main())
