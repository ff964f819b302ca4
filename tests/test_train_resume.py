"""A training run killed mid-way is resumed by `blurfuse run` and ends exactly where an uninterrupted one does."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from blurfuse.cli import main
from train.fit import train_model
from train.recipes import recipe_config
from train.resume import COMPLETE_MARKER, STATE_PATH, read_marker

ROOT = Path(__file__).resolve().parents[1]

# Runs `blurfuse train` in a real process that, once epoch 2's metrics and checkpoint are written
# but before its resume state is, says so in a file and waits to be killed: the worst moment to
# die (the run dir holds a checkpoint newer than its resume state). No timing is involved.
BLOCK_BEFORE_EPOCH_2_STATE = """
import pathlib, sys, time
import train.resume as resume
from blurfuse.cli import main

save_state = resume.save_state

def save_or_block(run_dir, model, optimizer, progress):
    if progress.epoch == 2:
        pathlib.Path(sys.argv[1]).write_text("blocked")
        time.sleep(3600)
    save_state(run_dir, model, optimizer, progress)

resume.save_state = save_or_block
sys.exit(main(sys.argv[2:]))
"""


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 600.0) -> None:
    """Poll for `path`; fail early with the process's output if it exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"training exited ({process.returncode}) before blocking:\n{process.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.2)


def metric_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_run_resumes_a_killed_training_and_ends_with_the_same_weights(tiny_dataset, tmp_path):
    data = tiny_dataset.root
    reference = train_model(recipe_config("smoke", data=data, out=tmp_path / "reference", progress=False))

    run, blocked = tmp_path / "run", tmp_path / "blocked"
    argv = ["train", "--data", str(data), "--out", str(run), "--recipe", "smoke", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", BLOCK_BEFORE_EPOCH_2_STATE, str(blocked), *argv], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(blocked, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    # What the old `blurfuse run` took for a finished run: a loadable checkpoint, here of epoch 2.
    assert (run / "model.safetensors").is_file() and (run / STATE_PATH).is_file()
    assert not (run / COMPLETE_MARKER).exists()
    assert torch.load(run / STATE_PATH, weights_only=True)["epoch"] == 1

    assert main(["run", "--data", str(data), "--out", str(run), "--recipe", "smoke", "--no-serve"]) == 0

    assert "resumed after epoch 1" in (run / "train.log").read_text()
    assert read_marker(run)["finished_epoch"] == read_marker(reference)["finished_epoch"] == 3
    assert (run / "report" / "index.html").is_file()
    assert metric_rows(run) == metric_rows(reference)
    best, best_reference = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert best.keys() == best_reference.keys()
    assert all(torch.equal(best[k], best_reference[k]) for k in best)
    final = torch.load(run / STATE_PATH, weights_only=True)["model"]
    final_reference = torch.load(reference / STATE_PATH, weights_only=True)["model"]
    assert all(torch.equal(final[k], final_reference[k]) for k in final_reference)
