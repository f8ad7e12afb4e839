"""Every `nftgan` subcommand, side by side: one meaning per flag name, help on every option with its default,
an examples block in every --help, renamed flags that still work (with a note), and the bare `nftgan`."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nftgan.core.cliargs import PROVIDERS, HelpFormatter, Parser
from nftgan.export import cli
from nftgan.training.kinds import available
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


class _Got(Exception):
    def __init__(self, parser):
        self.parser = parser


def parsers_of(command: str, monkeypatch) -> list[tuple[str, argparse.ArgumentParser]]:
    """(prog, parser) of every parser the subcommand builds (train: one per kind; eval: its subcommands),
    taken from the command's real main() at the moment it parses."""

    def grab(self, args=None, namespace=None):
        raise _Got(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", grab)
    module_name, func_name = cli.COMMANDS[command][0].split(":")
    main = getattr(importlib.import_module(module_name), func_name)
    found = []
    for argv in [[kind] for kind in available()] if command == "train" else [[]]:
        with pytest.raises(_Got) as got:
            main(argv, prog=f"nftgan {command}")
        found.append(got.value.parser)
    for parser in list(found):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += action.choices.values()
    monkeypatch.undo()
    return [(p.prog, p) for p in found]


@pytest.fixture(scope="module")
def all_parsers():
    mp = pytest.MonkeyPatch()
    try:
        return [pp for command in cli.COMMANDS for pp in parsers_of(command, mp)]
    finally:
        mp.undo()


def options(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_command_is_found(all_parsers):
    progs = {prog.split()[1] for prog, _ in all_parsers}
    assert progs == set(cli.COMMANDS)
    assert {f"nftgan train {k}" for k in available()} <= {prog for prog, _ in all_parsers}
    assert {"nftgan eval fid", "nftgan eval kid", "nftgan eval paired"} <= {prog for prog, _ in all_parsers}


def test_every_help_has_examples_help_texts_and_defaults(all_parsers):
    missing = []
    for prog, parser in all_parsers:
        if "examples:\n  " not in (parser.epilog or ""):
            missing.append(f"{prog}: no 'examples:' block")
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip():
                missing.append(f"{prog} {name}: no help text")
            trivial = action.default in (None, False, "", [], argparse.SUPPRESS)
            if action.option_strings and not trivial and "default" not in formatter._get_help_string(action):
                missing.append(f"{prog} {name}: default {action.default!r} not shown")
    assert not missing, "\n".join(missing)


def test_one_meaning_per_flag_name(all_parsers):
    """Flags several commands share agree on what they take; the renamed ones are gone from every help."""
    seen: dict[str, list[tuple[str, object]]] = {}
    for prog, parser in all_parsers:
        for action in options(parser):
            value = {None: str, Path: str}.get(action.type, action.type)  # paths are text
            kind = (type(action).__name__, value, action.nargs, tuple(action.choices or ()))
            for flag in action.option_strings:
                seen.setdefault(flag, []).append((prog, kind, action))
    # -o is --out everywhere, and where a command writes
    for prog, _, action in seen["-o"]:
        assert action.option_strings == ["-o", "--out"], prog
    assert {p.split()[1] for p, _, _ in seen["--out"]} == {"train", "export", "stylize", "generate", "data"}
    # --size is a model's own size (train) only; pictures are resized with --resize PX
    assert {p.split()[1] for p, _, _ in seen["--size"]} == {"train"}
    assert {p.split()[1] for p, _, _ in seen["--resize"]} == {"sketchify", "data", "stylize"}
    for prog, _, action in seen["--resize"]:
        assert action.type is int and action.metavar == "PX" and "resize" in action.help, prog
    # old spellings parse (see below) but are not offered
    for old in ("--output", "--batch"):
        assert old not in seen, seen.get(old)
    assert {p.split()[1] for p, _, _ in seen["--batch-size"]} == {"train", "eval"}
    for flag in ("--provider", "--models", "--threads"):
        assert {p.split()[1] for p, _, _ in seen[flag]} == {"stylize", "generate"}, flag
    assert all(a.choices == PROVIDERS for _, _, a in seen["--provider"])
    # the rest: a flag shared by commands takes the same kind of value everywhere
    exceptions = {"--resume"}  # train --resume RUN_DIR, publish --resume (the ledger's): both continue work
    clashes = [
        f"{flag}: " + ", ".join(f"{p} {k}" for p, k, _ in uses)
        for flag, uses in seen.items()
        if flag not in exceptions
        and len({p.split()[1] for p, _, _ in uses}) > 1
        and len({(k[0], k[1], k[2]) for _, k, _ in uses}) > 1
    ]
    assert not clashes, "\n".join(clashes)


@pytest.mark.parametrize("command", ["stylize", "generate"])
@pytest.mark.parametrize("value", ["-1", "100000"])
def test_threads_takes_what_the_add_on_allows(command, value, capsys):
    """0 (all) to 256, as the add-on's preference: 100000 used to start that many onnxruntime threads (it
    hung), -1 passed for "all" unsaid."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([command, "missing", "-o", "out", "--threads", value])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"--threads: give 0 (all CPU threads) to 256, not {value}" in err, err


# A valid command line for each command with a rename, the old spelling, the new one and a value.
RENAMED = [
    ("export", ["run", "-o", "m.onnx"], "--output", "--out", "x.onnx"),
    ("stylize", ["s.png", "-o", "o.png"], "--output", "--out", "x.png"),
    ("stylize", ["s.png", "-o", "o.png"], "--size", "--resize", "64"),
    ("sketchify", ["src", "dst"], "--style", "--pen", "edge"),
    ("sketchify", ["src", "dst"], "--size", "--resize", "64"),
    ("data", [], "--size", "--resize", "64"),
    ("eval fid", ["real", "fake"], "--batch", "--batch-size", "8"),
    ("eval kid", ["real", "fake"], "--batch", "--batch-size", "8"),
]


@pytest.mark.parametrize("command,base,old,new,value", RENAMED, ids=[f"{r[0]} {r[2]}" for r in RENAMED])
def test_old_spellings_work_for_one_release_with_a_note(all_parsers, capsys, command, base, old, new, value):
    parser = dict(all_parsers)[f"nftgan {command}"]
    with_new = parser.parse_args([*base, new, value])
    assert capsys.readouterr().err == ""
    for argv in ([*base, old, value], [*base, f"{old}={value}"]):
        assert parser.parse_args(argv) == with_new
        err = capsys.readouterr().err
        assert f"nftgan {command}: note: {old} is now {new}" in err and "next release" in err
    assert f"{old} still works" in parser.format_help()  # the help says so, on the new flag


def test_a_renamed_spelling_after_double_dash_is_a_value():
    p = Parser(prog="t")
    p.add_argument("files", nargs="*")
    p.add_argument("--resize", type=int)
    p.renamed("--size", "--resize")
    assert p.parse_args(["--", "--size"]).files == ["--size"]
    assert p.parse_args(["--size", "3"]).resize == 3


def test_help_formatter_shows_each_default_once():
    p = Parser(prog="t", examples=("t --n 3",))
    p.add_argument("--n", type=int, default=4, help="how many")
    p.add_argument("--m", type=int, default=4, help="how many (default: four)")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--name", help="a name")
    text = p.format_help()
    assert "how many (default: 4)" in text and "(default: four)" in text and text.count("default") == 2
    assert text.rstrip().endswith("examples:\n  t --n 3") and p.formatter_class is HelpFormatter


def test_bare_nftgan_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "commands:" in out.err and "stylize" in out.err
    assert cli.main(["--help"]) == 0 and "commands:" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert re.fullmatch(r"nftgan \d+\.\d+\S*\n", capsys.readouterr().out)
    assert cli.main(["styleize"]) == 2 and "unknown command 'styleize'" in capsys.readouterr().err


def test_readme_tables_every_command_and_its_flags(all_parsers):
    """The README's command table has a row per command naming its main flags (each one exists)."""
    readme = (ROOT / "README.md").read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `nftgan (\w+)[^`]*` \|(.*)\|\s*$", readme, re.MULTILINE)
    }
    assert set(rows) == set(cli.COMMANDS)
    flags = {}
    for prog, parser in all_parsers:
        flags.setdefault(prog.split()[1], set()).update(f for a in options(parser) for f in a.option_strings)
    for command, row in rows.items():
        named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", row))
        assert named <= flags[command], (command, named - flags[command])


def _run(*argv, cwd) -> tuple[int, list[str]]:
    """`nftgan ARGV` as the user runs it (with no $NFTGAN_INCEPTION): its exit status and its stderr's lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "nftgan.export.cli", *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "NFTGAN_INCEPTION"},
    )
    return proc.returncode, proc.stderr.splitlines()


# A mistake in a value (the flag was given, its value is wrong) or in what the files are: the one line that
# says what is wrong and what to do, with no usage block above it (the block buried that line), in argparse's
# format whichever subcommand says it: "nftgan SUB: error: ..." ("nftgan eval METRIC: error: ..."). cid and
# publish said "nftgan cid: /x: No such file or directory", generate, export and data "nftgan SUB: WHAT", eval
# "nftgan eval: error: /x: no such folder of images." (which metric, which folder?) and its missing weights
# in three lines. Its exit status: 2 when the command line is refused (a value, flags that do not go
# together, settings: train's --config, --init, --device), 1 when the work fails, a file or folder it names
# that is missing or cannot be used included (train, generate, sketchify and data said 2 for theirs).
MISTAKES = [
    (["train", "--resume", "missing"], 1, "checkpoint not found: missing"),
    (["train", "pix2pix", "--config", "missing.json"], 2, "--config missing.json: file not found"),
    (["validate", "missing.onnx"], 1, "missing.onnx: no such model file."),
    (["cid", "a.png", "missing.png"], 1, "missing.png: No such file or directory"),
    (["publish", "missing.png", "--name", "n"], 1, "missing.png: No such file or directory"),
    (["generate", "missing.onnx", "-o", "out"], 1, "missing.onnx: no such file, and no generate model"),
    (["export", "missing", "-o", "m.onnx"], 1, "checkpoint not found: missing"),
    (["data", "-o", "a.png", "--only", "noto"], 1, "-o a.png is a file, not a folder"),
    (["train", "pix2pix", "--data", "missing", "--out", "run"], 1, "dataset folder not found: missing"),
    (["eval", "fid", "missing", "imgs"], 1, "REAL missing: no such folder of images."),
    (["eval", "kid", "imgs", "pics"], 1, "FAKE pics holds no images"),
    (["eval", "fid", "a.png", "imgs"], 1, "REAL a.png is a file, not a folder of images"),
    (["eval", "paired", "imgs", "missing"], 1, "TARGET missing: no such folder of images."),
    (["eval", "fid", "imgs", "imgs"], 1, "FID and KID need the Inception weights file"),
    (["eval", "kid", "imgs", "imgs", "--inception", "no.pth"], 1, "--inception no.pth: no such file"),
    (["eval", "kid", "imgs", "imgs", "--subset-size", "1"], 2, "--subset-size must be at least 2"),
    (["eval", "fid", "imgs", "imgs", "--batch-size", "0"], 2, "--batch-size must be at least 1"),
    (
        ["stylize", "s.png", "-o", "o.png", "--threads", "999"],
        2,
        "argument --threads: give 0 (all CPU threads) to",
    ),
    (
        ["stylize", "s.png", "-o", "o.png", "--precision", "fp16"],
        2,
        "argument --precision: invalid choice: 'fp16'",
    ),
    (["stylize", "missing.png", "-o", "o.png"], 1, "missing.png: no such file."),
    (["stylize", "a.png", "-o", "o.png", "--style", "nosuch"], 1, "no stylize model called 'nosuch'"),
    (["generate", "m", "-o", "out", "-n", "abc"], 2, "argument -n/--count: invalid int value: 'abc'"),
    (["publish", "a.png", "--name", "n", "--attribute", "colour"], 2, "expected TRAIT=VALUE, got 'colour'"),
    (["sketchify", "missing", "out"], 1, "source folder not found: missing"),
    (
        ["sketchify", "a.png", "out"],
        1,
        "SRC a.png is a file, not a folder of pictures: give the folder it is in",
    ),
    (["data", "-o", "out", "--test-fraction", "2"], 2, "--test-fraction must be between 0 and 1"),
    (["train", "pix2pix", "--data", "pics", "--out", "run", "--steps", "0"], 2, "--steps must be at least 1"),
    (
        ["train", "pix2pix", "--data", "pics", "--out", "run", "--device", "tpu"],
        2,
        "--device tpu: not a device",
    ),
    (
        ["train", "pix2pix", "--data", "pics", "--out", "run", "--device", "xla"],
        2,
        "--device xla: this PyTorch",
    ),
    (["export", "run", "-o", "m.onnx", "--direction", "up"], 2, "argument --direction: invalid choice: 'up'"),
]


@pytest.mark.parametrize("argv,code,said", MISTAKES, ids=[" ".join(m[0][:2] + m[0][-2:]) for m in MISTAKES])
def test_a_mistake_is_said_in_one_line_without_the_usage_block(argv, code, said, tmp_path):
    Image.new("RGB", (8, 8), "white").save(tmp_path / "a.png")
    (tmp_path / "pics").mkdir()
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (16, 16), "white").save(tmp_path / "imgs" / "b.png")
    status, err = _run(*argv, cwd=tmp_path)
    assert status == code and len(err) == 1, err
    prog = "nftgan " + " ".join(argv[:2] if argv[0] == "eval" else argv[:1])  # eval: and the metric
    assert re.match(rf"{re.escape(prog)}( [\w-]+)?: error: ", err[0]) and said in err[0], err  # (train: KIND)


# argparse's own syntax errors (a flag it does not know, an argument missing) keep the usage block: it shows
# the command line's shape.
SYNTAX = [
    (["stylize", "s.png", "-o", "o.png", "--bogus"], "unrecognized arguments: --bogus"),
    (["stylize"], "the following arguments are required: SKETCH, -o/--out"),
    (["stylize", "s.png", "-o"], "argument -o/--out: expected one argument"),
    (["publish", "--name", "n"], "IMAGE is required (or --resume)"),
    (["train", "pix2pix", "--out", "run"], "--data DIR is required"),
    (["train", "--steps", "5"], "name what to train"),
    (["styleize", "a.png"], "nftgan: error: unknown command 'styleize'"),
]


@pytest.mark.parametrize("argv,said", SYNTAX, ids=[" ".join(s[0]) for s in SYNTAX])
def test_a_syntax_error_keeps_the_usage(argv, said, tmp_path):
    status, err = _run(*argv, cwd=tmp_path)
    usage = "usage: nftgan " + ("COMMAND" if argv[0] == "styleize" else argv[0])
    assert status == 2 and err[0].startswith(usage) and said in err[-1], err
    assert err[-1].startswith("nftgan") and ": error: " in err[-1], (
        err
    )  # the error, last, as argparse says it
