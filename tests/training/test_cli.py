"""`nftgan train`: help for newcomers, readable errors, dispatch to every registered kind."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from nftgan.training.checkpoint import load_checkpoint
from nftgan.training.kinds import available, get_kind

from .helpers import TINY, paired, unpaired
from .helpers import run_train as run

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_kinds_and_examples(capsys):
    rc, text = run(["--help"], capsys)
    assert rc == 0 and "pix2pix" in text and "cyclegan" in text and "--resume RUN_DIR" in text
    rc, text = run(["pix2pix", "--help"], capsys)
    assert rc == 0 and "DATA LAYOUT" in text and "--lambda-l1" in text and "--amp {auto,none,bf16}" in text
    assert "sketchify" in text and "--no-flip" in text


def test_every_registered_kind_gets_a_command_line(capsys):
    """Plug-in kinds (dcgan / wgan-gp / upscale from other modules) dispatch through the same CLI."""
    kinds = available()
    assert {"pix2pix", "cyclegan"} <= set(kinds)
    for name in kinds:
        rc, text = run([name, "--help"], capsys)
        assert rc == 0 and f"nftgan train {name}" in text and "--steps" in text
        flat = " ".join(
            text.split()
        )  # --init's help names the kind with its article ("a upscale run folder")
        assert f"{'an' if name[0] in 'aeiou' else 'a'} {name} run folder" in flat, name
        assert get_kind(name).config_class().model == ""  # set by the CLI, never a global default


@pytest.mark.parametrize(
    "argv,fragment,status",
    [
        ([], "usage: nftgan train KIND", 2),
        (["--steps", "5"], "name what to train", 2),
        (["stylegan9", "--data", "x", "--out", "y"], "unknown model kind 'stylegan9'", 2),
        (["pix2pix", "--out", "y"], "--data DIR is required", 2),
        (["pix2pix", "--data", "{data}/nope", "--out", "{tmp}/r"], "dataset folder not found", 1),
        (["pix2pix", "--data", "{tmp}/empty", "--out", "{tmp}/r"], "has no images", 1),
        (["pix2pix", "--data", "{unpaired}", "--out", "{tmp}/r"], "train `cyclegan` instead", 1),
        (["pix2pix", "--data", "{paired}", "--out", "{tmp}/r", "--size", "200"], "power of two", 2),
        (["cyclegan", "--data", "{unpaired}", "--out", "{tmp}/r", "--size", "30"], "multiple of 4", 2),
        (
            ["pix2pix", "--data", "{paired}", "--out", "{tmp}/r", "--batch-size", "0"],
            "--batch-size must be at least 1",
            2,
        ),
        (
            ["pix2pix", "--data", "{paired}", "--out", "{tmp}/r", "--norm", "group"],
            "invalid choice: 'group'",
            2,
        ),
        (
            ["pix2pix", "--data", "{paired}", "--out", "{tmp}/r", "--batch-size", "8"],
            "fewer than one batch",
            1,
        ),
        (["pix2pix", "--data", "{paired}", "--out", "{file}"], "--out {file} is a file, not a folder", 1),
        (
            ["pix2pix", "--data", "{paired}", "--out", "{file}/run"],
            "--out {file}/run: {file} is a file, not a",
            1,
        ),
        (["pix2pix", "--data", "{file}", "--out", "{tmp}/r"], "{file} is a file, not a folder", 1),
        (["--resume", "{tmp}/empty"], "holds no checkpoint", 1),
        (["--resume", "{tmp}/nothing-here"], "checkpoint not found", 1),
    ],
)
def test_errors_are_readable(tmp_path, capsys, argv, fragment, status):
    """Each error in one readable line; exit status 2 when the command line is refused (argparse, a value, the
    settings: a kind, a size, --config), 1 when the work fails (a data folder, a run folder or checkpoint it
    cannot use: every error of train's own was 2)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    fill = {
        "tmp": tmp_path,
        "file": tmp_path / "notes.txt",
        "data": tmp_path,
        "paired": paired(tmp_path / "p", n=3),
        "unpaired": unpaired(tmp_path / "u", n=3),
    }
    rc, text = run([a.format(**fill) for a in argv], capsys)
    assert rc == status, text
    assert fragment.format(**fill) in text
    assert "Traceback" not in text
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "r").exists()


def test_existing_run_is_not_overwritten_and_finished_run_needs_more_steps(tmp_path, capsys):
    data, out = paired(tmp_path / "p", n=4), tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), "--steps", "2", "--val-fraction", "0", *TINY]
    assert run(["pix2pix", *args], capsys)[0] == 0
    rc, text = run(["pix2pix", *args], capsys)
    assert rc == 2 and f"continue it with --resume {out}" in text
    rc, text = run(["--resume", str(out)], capsys)
    assert rc == 2 and "already at step 2 of 2" in text
    rc, text = run(["cyclegan", "--resume", str(out)], capsys)
    assert rc == 2 and "is a pix2pix run" in text
    rc, text = run(
        ["--resume", str(out), "--steps", "3", "--lr", "1"], capsys
    )  # extend; other options ignored
    assert rc == 0 and "ignoring --lr" in text and "not bit-identically" not in text
    assert load_checkpoint(out)["config"]["lr"] == 2e-4
    # a device this machine cannot run on: said alone, without the note that the run goes on elsewhere
    rc, text = run(["--resume", str(out), "--steps", "3", "--device", "xla"], capsys)
    assert rc == 2 and "--device xla: this PyTorch has no xla device" in text and "note:" not in text, text
    assert load_checkpoint(out)["step"] == 3
    # hardware settings may change on resume (a run started on a laptop goes on elsewhere), with a note
    rc, text = run(["--resume", str(out), "--steps", "4", "--amp", "bf16"], capsys)
    assert rc == 0 and "continuing with --amp bf16 (was auto)" in text and "not bit-identically" in text
    ck = load_checkpoint(out)
    assert (
        ck["step"] == 4 and ck["config"]["amp"] == "bf16" and "bf16 autocast" in ck["provenance"]["hardware"]
    )


def test_nftgan_dispatcher_runs_train(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nftgan.export.cli",
            "train",
            "pix2pix",
            "--data",
            str(tmp_path / "x"),
            "--out",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1 and "nftgan train: error: dataset folder not found" in proc.stderr


def test_library_code_raises_and_only_command_lines_exit():
    """training/ and export/ raise exceptions (`errors.UserError` and its kin); no function exits the process.
    The `main(argv, prog)` entry points turn errors into a message and an exit code, and only the
    `if __name__ == "__main__":` blocks call sys.exit."""
    offenders = []
    for path in sorted([*(ROOT / "training").glob("*.py"), *(ROOT / "export").glob("*.py")]):
        tree = ast.parse(path.read_text())
        guarded = {
            id(n)
            for block in tree.body
            if isinstance(block, ast.If) and "__main__" in ast.unparse(block.test)
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            exits = (
                isinstance(node, ast.Raise) and node.exc is not None and "SystemExit" in ast.unparse(node.exc)
            ) or (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in ("sys.exit", "exit", "quit", "os._exit")
            )
            if exits:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "\n".join(offenders)


def test_make_models_turns_a_failed_step_into_a_message_and_exit_1(tmp_path, capsys):
    from nftgan.training import defaults

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text("{}")  # the data step is done
    folders = [
        "--data",
        str(tmp_path / "data"),
        "--runs",
        str(tmp_path / "runs"),
        "--models",
        str(tmp_path / "m"),
    ]
    rc = defaults.main(["--no-train", "--only", "colorize-flat", *folders])
    err = capsys.readouterr().err
    assert rc == 1 and "error: checkpoint not found" in err and str(tmp_path / "runs" / "colorize") in err
    assert "Traceback" not in err


def test_a_moved_run_resumes_where_it_is_now(tmp_path, capsys):
    """--resume RUN writes to RUN, not to the folder the run was first created in (which may be gone)."""
    data, first = paired(tmp_path / "p", n=4), tmp_path / "first"
    args = ["--data", str(data), "--out", str(first), "--steps", "2", "--val-fraction", "0", *TINY]
    assert run(["pix2pix", *args], capsys)[0] == 0
    moved = first.rename(tmp_path / "moved")
    rc, text = run(["--resume", str(moved), "--steps", "3"], capsys)
    assert rc == 0, text
    assert not first.exists()
    ck = load_checkpoint(moved)
    assert ck["step"] == 3 and ck["config"]["out"] == str(moved)


def test_resume_from_a_checkpoint_file_or_the_checkpoints_folder_goes_on_in_the_run_folder(tmp_path, capsys):
    """The unreadable-checkpoint message says to use the previous step_*.pt: --resume RUN/checkpoints/step_N.pt
    goes on from step N in RUN (it made a run folder named like the file, a traceback), as does --resume
    RUN/checkpoints (it nested a run inside it). A checkpoint outside a run folder says to start from it with --init."""
    import shutil

    data, run_dir = paired(tmp_path / "p", n=4), tmp_path / "run"
    args = ["--data", str(data), "--out", str(run_dir), "--steps", "4", "--checkpoint-every", "2"]
    assert run(["pix2pix", *args, "--val-fraction", "0", *TINY], capsys)[0] == 0
    rc, text = run(["--resume", str(run_dir / "checkpoints" / "step_0000002.pt"), "--steps", "3"], capsys)
    assert rc == 0 and "at step 2/3" in text, text
    assert load_checkpoint(run_dir)["step"] == 3 and (run_dir / "checkpoints" / "step_0000003.pt").is_file()
    rc, text = run(["--resume", str(run_dir / "checkpoints"), "--steps", "5"], capsys)
    assert rc == 0 and "at step 3/5" in text, text
    assert load_checkpoint(run_dir)["step"] == 5 and not (run_dir / "checkpoints" / "checkpoints").exists()
    lone = shutil.copy(run_dir / "checkpoints" / "latest.pt", tmp_path / "model.pt")
    rc, text = run(["--resume", str(lone), "--steps", "6"], capsys)
    assert rc == 1 and f"--init {lone}" in text and "Traceback" not in text, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "p", "run"]


@pytest.mark.parametrize(
    "gpus,device,said",
    [
        (1, "cuda:1", "--device cuda:1: this computer has 1 CUDA GPU (cuda:0)"),
        (2, "cuda:5", "--device cuda:5: this computer has 2 CUDA GPUs (cuda:0 to cuda:1)"),
        (2, "cuda:1", None),
        (2, "cuda", None),
    ],
)
def test_a_cuda_index_past_the_gpus_is_one_line(gpus, device, said, monkeypatch):
    """`--device cuda:N` with N past the GPUs this computer has is said up front, not left to
    torch.cuda.set_device's traceback. No GPU is lent to this machine: torch is told how many there are."""
    from nftgan.training.errors import ConfigError
    from nftgan.training.trainer import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if said is None:
        assert check_device(device) == device
    else:
        with pytest.raises(ConfigError) as err:
            check_device(device)
        assert str(err.value) == said


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here")
def test_cuda_without_a_gpu_names_the_device_asked_for():
    """On a PyTorch that sees no CUDA GPU (this machine's CPU build), `--device cuda:1` is said as given."""
    from nftgan.training.errors import ConfigError
    from nftgan.training.trainer import check_device

    with pytest.raises(
        ConfigError, match=r"^--device cuda:1: this PyTorch sees no CUDA GPU \(use --device cpu\)$"
    ):
        check_device("cuda:1")


def test_a_run_stopped_before_its_first_checkpoint_says_how_to_start_it_again(tmp_path, capsys):
    """A run killed before its first checkpoint (its config.json and train.log, no checkpoints/): --resume said
    "holds no checkpoint ...; has the run saved one yet?", not what to do. It says the run stopped before its
    first checkpoint and gives the command that starts it again in the same folder, which works."""
    import shlex
    import shutil

    data, out = paired(tmp_path / "p", n=4), tmp_path / "my run"
    args = ["--data", str(data), "--out", str(out), "--steps", "2", "--val-fraction", "0", *TINY]
    assert run(["pix2pix", *args, "--checkpoint-every", "500"], capsys)[0] == 0
    shutil.rmtree(out / "checkpoints")  # as a run killed before step 500 leaves it
    rc, text = run(["--resume", str(out)], capsys)
    again = f"nftgan train --config {shlex.quote(str(out / 'config.json'))} --out {shlex.quote(str(out))}"
    assert rc == 1 and "stopped before its first checkpoint (--checkpoint-every 500)" in text, text
    assert again in text and "Traceback" not in text, text
    from nftgan.export.onnx_export import main as export_main

    assert export_main([str(out), "-o", str(tmp_path / "m.onnx")]) != 0
    assert again in capsys.readouterr().err
    rc, text = run(shlex.split(again)[2:], capsys)  # the command as given
    assert rc == 0 and (out / "checkpoints" / "latest.pt").is_file(), text
