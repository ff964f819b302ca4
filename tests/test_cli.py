"""The `blurfuse` console script: every subcommand is there, and `run` chains the steps."""

import subprocess
import sys

import pytest

from blurfuse import __version__
from blurfuse.cli import build_parser, main

COMMANDS = {"data", "train", "predict", "report", "calibrate", "ablate", "compare", "retrain-head", "serve", "run"}


def test_every_subcommand_is_registered_and_help_works():
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert set(actions[0].choices) == COMMANDS
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


def test_console_script_version_and_missing_command():
    out = subprocess.run([sys.executable, "-m", "blurfuse.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
    assert subprocess.run([sys.executable, "-m", "blurfuse.cli"], capture_output=True).returncode == 2


def test_run_chains_data_train_report_and_skips_finished_steps(tiny_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["run", "--data", str(tiny_dataset.root), "--out", str(run), "--recipe", "smoke", "--no-serve"]
    assert main(argv) == 0
    assert (run / "model.safetensors").is_file() and (run / "report" / "index.html").is_file()
    first = capsys.readouterr().out
    assert "dataset" in first and "exists; reusing it" in first and "Report:" in first
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert f"model {run} exists" in second and "report" in second and "exists; reusing it" in second


def test_cli_without_the_web_stack_runs_other_commands_and_explains_serve(tmp_path, monkeypatch, capsys):
    """A machine without flask (a bare GPU box) still trains and compares; `serve` says what is missing."""
    import builtins

    from blurfuse import cli

    real_import = builtins.__import__

    def no_flask(name, *args, **kwargs):
        if name == "web" or name.startswith("web.") or name == "flask":
            raise ModuleNotFoundError("No module named 'flask'", name="flask")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_flask)
    assert cli.main(["serve", "--model", str(tmp_path)]) == 2
    assert "needs the package 'flask'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--help"])
    assert info.value.code == 0
