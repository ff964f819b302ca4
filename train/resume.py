"""A run dir's resume state and its completion marker.

A training run leaves `resume/state.pt` behind after every epoch: everything an interrupted run
needs to continue and end with exactly the weights an uninterrupted one would (weights, optimiser,
schedule step, selection state, the torch random state that drives dropout). The best checkpoint
(`model.safetensors`) is loadable from the first improving epoch on, so its presence says nothing
about whether training finished: only `RUN_COMPLETE.json`, written last, does. Both are written
atomically (`features.atomic`), so a killed process leaves either the old file or the new one.

torch is imported inside the functions that need it, so `blurfuse run` can ask `run_complete`
without paying for it.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from features.atomic import atomic_write_bytes, atomic_write_json

STATE_PATH = Path("resume") / "state.pt"
COMPLETE_MARKER = "RUN_COMPLETE.json"


@dataclass(frozen=True)
class Progress:
    """Where a run stands after its last finished epoch (epoch 0: nothing trained yet)."""

    epoch: int = 0
    step: int = 0
    best_score: float = -1.0  # selection score of the best epoch (validation balanced accuracy by default)
    best_loss: float = float("inf")  # its validation loss (breaks ties)
    best_epoch: int = 0
    since_best: int = 0

    def after_epoch(self, epoch: int, step: int, score: float, loss: float) -> "Progress":
        """The progress after `epoch`: better balanced accuracy wins, ties go to the lower loss."""
        improved = score > self.best_score or (score == self.best_score and loss < self.best_loss)
        if improved:
            return Progress(epoch, step, score, loss, epoch, 0)
        return replace(self, epoch=epoch, step=step, since_best=self.since_best + 1)

    @property
    def improved(self) -> bool:
        """Whether the last finished epoch is the best so far."""
        return self.epoch > 0 and self.best_epoch == self.epoch


def save_state(run_dir: Path, model, optimizer, progress: Progress) -> None:
    """Serialise the resume state to bytes with torch.save, then write it atomically."""
    import torch

    payload: dict[str, Any] = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "torch_rng": torch.get_rng_state(), **asdict(progress)}
    if torch.cuda.is_available():
        payload["cuda_rng"] = torch.cuda.get_rng_state_all()
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(Path(run_dir) / STATE_PATH, buffer.getvalue())


def load_state(run_dir: Path, model, optimizer, device) -> Progress | None:
    """Restore model, optimiser and random state from `run_dir`; None when there is nothing to resume."""
    import torch

    path = Path(run_dir) / STATE_PATH
    if not path.is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if "torch_rng" in state:  # absent in states written before it was recorded
        torch.set_rng_state(state["torch_rng"].cpu())
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    return Progress(epoch=int(state["epoch"]), step=int(state["step"]), best_score=float(state["best_score"]),
                    best_loss=float(state["best_loss"]), best_epoch=int(state.get("best_epoch", 0)),
                    since_best=int(state["since_best"]))


AVERAGE_PATH = Path("resume") / "average.pt"


def save_average(run_dir: Path, average) -> None:
    """The weight average's state (train.ema), beside the resume state; written before it."""
    import torch

    buffer = io.BytesIO()
    torch.save(average.state(), buffer)
    atomic_write_bytes(Path(run_dir) / AVERAGE_PATH, buffer.getvalue())


def load_average(run_dir: Path, average, device) -> bool:
    """Restore the weight average when the run saved one; False when it did not."""
    import torch

    path = Path(run_dir) / AVERAGE_PATH
    if not path.is_file():
        return False
    average.load_state(torch.load(path, map_location=device, weights_only=True))
    return True


def run_complete(run_dir: str | Path) -> bool:
    """Whether `run_dir` holds a finished training run (not merely a checkpoint)."""
    return (Path(run_dir) / COMPLETE_MARKER).is_file()


def mark_complete(run_dir: Path, progress: Progress, epochs: int, stopped_early: bool, seconds: float,
                  selected_on: str = "balanced_acc") -> None:
    """Write the completion marker; the caller writes it after everything else."""
    atomic_write_json(Path(run_dir) / COMPLETE_MARKER, {
        "finished_epoch": progress.epoch,
        "epochs": epochs,
        "stopped_early": stopped_early,
        "best_epoch": progress.best_epoch,
        "selected_on": selected_on,
        "best_score": progress.best_score,
        "seconds_this_session": round(seconds, 1),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })


def clear_complete(run_dir: Path) -> None:
    """A run that trains further is unfinished again until it writes a new marker."""
    (Path(run_dir) / COMPLETE_MARKER).unlink(missing_ok=True)


def read_marker(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / COMPLETE_MARKER).read_text())
