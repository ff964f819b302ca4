"""What the app knows about the model it serves: the predictor, its run dir, report figures, samples.

Read once at start-up. `web` never imports `train`: the sample images are found through the
manifest CSV of the dataset the run was trained on (recorded in the checkpoint's recipe).
"""

from __future__ import annotations

import csv
import json
import logging
from typing import TYPE_CHECKING
from dataclasses import dataclass, field
from pathlib import Path

from fusion.predictor import Prediction, Predictor
from web.batching import MicroBatcher

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)
SAMPLE_COUNT = 6


@dataclass
class Sample:
    label: str
    blurred: bool
    path: Path


@dataclass
class ModelContext:
    predictor: Predictor
    run_dir: Path | None
    recall: dict[str, float] = field(default_factory=dict)  # measured per-class recall from the report
    samples: list[Sample] = field(default_factory=list)
    batcher: MicroBatcher | None = None  # None: each request runs the model itself (BATCHING off)

    def answer(self, image, explain: bool = False) -> tuple[Prediction, "np.ndarray | None"]:
        """The prediction for one decoded image and, when `explain` and the model has the RGB
        branch, its Grad-CAM map: through the micro-batcher when there is one, else directly.
        Both go through `Predictor.predict_and_explain_batch`, so the answer is the same either way."""
        if self.batcher is not None:
            return self.batcher.submit(image, explain)
        return self.predictor.predict_and_explain_batch([image], [explain])[0]

    @classmethod
    def create(cls, predictor: Predictor | None, model_path: str | Path | None,
               batching: dict | None = None) -> "ModelContext":
        """`batching`: MicroBatcher settings (max_size, max_wait_ms), or None to answer each request alone."""
        if predictor is None:
            if model_path is None:
                raise ValueError("the web app needs a model: set MODEL_PATH (a run dir) or PREDICTOR in its config")
            predictor = Predictor.from_checkpoint(model_path)
        # Absolute here too: the app factory is the boundary for callers other than the CLI.
        run_dir = Path(model_path).resolve() if model_path is not None else None
        if run_dir is not None and run_dir.is_file():
            run_dir = run_dir.parent
        batcher = None if batching is None else MicroBatcher(predictor.predict_and_explain_batch, **batching)
        return cls(predictor, run_dir, _report_recall(run_dir), _samples(predictor), batcher)

    @property
    def report_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        path = self.run_dir / "report" / "index.html"
        return path if path.is_file() else None


def _report_recall(run_dir: Path | None) -> dict[str, float]:
    if run_dir is None or not (run_dir / "report" / "metrics.json").is_file():
        return {}
    try:
        per_class = json.loads((run_dir / "report" / "metrics.json").read_text())["per_class"]
        return {name: float(entry["recall"]) for name, entry in per_class.items()}
    except (ValueError, KeyError, TypeError) as error:
        log.warning("ignoring unreadable report metrics in %s: %s", run_dir, error)
        return {}


def _samples(predictor: Predictor) -> list[Sample]:
    """A few test images across classes, alternating blurred and sharp, for one-click tries."""
    dataset = predictor.config.recipe.get("dataset")
    manifest = Path(dataset) / "manifest.csv" if dataset else None
    if manifest is None or not manifest.is_file():
        return []
    chosen: list[Sample] = []
    seen: set[str] = set()
    with open(manifest, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["split"] != "test" or row["class_name"] in seen:
                continue
            blurred = row["blurred"] == "1"
            if blurred != (len(chosen) % 2 == 1):
                continue
            seen.add(row["class_name"])
            chosen.append(Sample(row["class_name"], blurred, Path(dataset) / row["path"]))
            if len(chosen) == SAMPLE_COUNT:
                break
    return chosen
