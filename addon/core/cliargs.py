"""What every `nftgan` subcommand's argument parser shares: one vocabulary, defaults in --help, examples.

One meaning per flag name across the subcommands (the README's command table lists them):
  -o/--out PATH     where the command writes its result: the run folder (train), the .onnx file (export),
                    the picture, or the folder for several (stylize), the folder (generate, data)
  --resize PX       resize each input picture so its long side is PX pixels first (sketchify, data, stylize)
  --size PX         a model's own size: the square it trains on (train)
  --batch-size N    images per forward pass (train, eval)
  --models DIR      an extra folder of .onnx models, searched by id or name (stylize, generate)
  --provider P      where onnxruntime runs: auto (CUDA / DirectML / CoreML when available) or cpu
  --threads N       CPU threads for inference (0: all; up to 256, as the add-on allows)

A renamed flag keeps its old spelling for one release: it still works, and prints a note naming the new
one on stderr (`Parser.renamed`).

Every subcommand says its own errors as argparse says its: one line on stderr, "nftgan SUB: error: WHAT" (what
to do in it); `Parser.fail` while parsing, `error` after; warnings "nftgan SUB: warning: WHAT"; progress lines
unprefixed. Exit status, one convention for all: 2 when the command line is refused (argparse's own errors,
`Parser.fail`: a value out of range, flags that do not go together; train's settings: --config, --init, a
device), 1 when the work fails, a file or folder the command line names that is missing or cannot be used
included, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

PROVIDERS = ("auto", "cpu")
MAX_THREADS = 256  # as the add-on's Threads preference allows (onnxruntime would start them all)
PROVIDER_HELP = "where models run: auto: CUDA / DirectML / CoreML when available, else the CPU"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written; every option with a default shows it, "(default: X)"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
            or default in ("", [])
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with the shared help format, an "examples:" block, and renamed flags.

    `examples` are command lines shown under "examples:" at the end of --help (then `notes`, if any)."""

    def __init__(self, *args, examples: tuple[str, ...] | list[str] = (), notes: str = "", **kw):
        kw.setdefault("formatter_class", HelpFormatter)
        if examples or notes:
            parts = []
            if examples:
                parts.append("examples:\n" + "\n".join(f"  {e}" for e in examples))
            if notes:
                parts.append(notes)
            kw["epilog"] = "\n\n".join(parts)
        super().__init__(*args, **kw)
        self._renamed: dict[str, str] = {}

    def renamed(self, old: str, new: str) -> None:
        """`old` is the previous spelling of the option `new`: it keeps working this release, with a note."""
        action = self._option_string_actions[new]
        self._renamed[old] = new
        action.help = f"{action.help or ''} ({old} still works this release)".lstrip()

    def fail(self, message: str) -> NoReturn:
        """Our own error (a value out of range, a missing folder): "PROG: error: MESSAGE", one line with what to
        do in it, and exit status 2 as argparse's. No usage block: it would bury that line. argparse's own
        syntax errors (a flag it does not know, an argument missing) go through `error` and keep it."""
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")

    def _get_values(self, action, arg_strings):
        try:
            return super()._get_values(action, arg_strings)
        except argparse.ArgumentError as exc:  # a value its type or choices refuse: the message names both
            self.fail(str(exc))

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if self._renamed:
            args = self._rename(args)
        return super().parse_known_args(args, namespace)

    def _rename(self, args: list[str]) -> list[str]:
        out = []
        for i, arg in enumerate(args):
            if arg == "--":  # what follows is never an option
                return out + args[i:]
            name, eq, value = arg.partition("=")
            new = self._renamed.get(name)
            if new is None:
                out.append(arg)
                continue
            print(
                f"{self.prog}: note: {name} is now {new}; the old spelling will stop working in the next "
                "release",
                file=sys.stderr,
            )
            out.append(f"{new}={value}" if eq else new)
        return out


def one_line(message: object) -> str:
    """A message's text on one line: its line breaks (and the indents after them) become single spaces."""
    return re.sub(r"\s*\n\s*", " ", str(message).strip())


def error(prog: str, message: object, status: int = 1) -> int:
    """A subcommand's own error after parsing, said as `Parser.fail` says one: "PROG: error: MESSAGE", one line
    on stderr. Returns `status`, the exit status for it (1: the work failed)."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return status


def threads(text: str) -> int:
    """--threads N: 0 (all) to MAX_THREADS."""
    n = int(text)  # not a number: argparse says "invalid threads value"
    if not 0 <= n <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"give 0 (all CPU threads) to {MAX_THREADS}, not {n}")
    return n


def add_threads(parser: argparse.ArgumentParser) -> argparse.Action:
    """--threads N: CPU threads for inference (stylize, generate)."""
    return parser.add_argument(
        "--threads", type=threads, default=0, metavar="N", help="CPU threads for inference (0: all)"
    )


def add_out(parser: argparse.ArgumentParser, what: str, metavar: str, **kw) -> argparse.Action:
    """-o/--out: where the command writes its result (`what`: a file or folder, said in its help)."""
    return parser.add_argument("-o", "--out", metavar=metavar, help=what, **kw)


def warn_skipped(prog: str, found) -> None:
    """On stderr, each model folder or file that gives no style (`styles.scan`'s invalid ones: a --models
    folder that does not exist, a broken .onnx), so a typo or a bad file is not passed over in silence."""
    for style in found:
        if not style.ok:
            print(f"{prog}: warning: {style.error}", file=sys.stderr)
