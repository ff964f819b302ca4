"""The per-image prediction table: what the report counts, and predictions.csv on disk.

One row per image of the split, joining the manifest's truth (label, blurred, blur kind and
parameter) with what the Predictor returned (class, probabilities, Laplacian variance, verdict,
learned blur probability). Everything downstream (metrics, plots, summary) reads only this table,
so a report can be recomputed from the CSV without the model.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from features.atomic import atomic_write_text

TOP_K = 3


@dataclass
class PredictionTable:
    """Column arrays, all of length N (N images of one split)."""

    class_names: list[str]
    groups: list[str]                 # group of each class (frequent/medium/rare), from the data card
    ids: np.ndarray                   # (N,) str
    labels: np.ndarray                # (N,) int, truth
    predicted: np.ndarray             # (N,) int
    probabilities: np.ndarray         # (N, C) float
    blurred: np.ndarray               # (N,) bool, manifest truth
    blur_kind: np.ndarray             # (N,) str, "" for sharp images
    blur_param: np.ndarray            # (N,) float, NaN for sharp images
    laplacian_var: np.ndarray         # (N,) float, as the Predictor computed it
    blur_verdict: np.ndarray          # (N,) bool, the Predictor's verdict at the checkpoint threshold
    blur_probability: np.ndarray      # (N,) float, learned head; NaN when the model has none
    edge_path: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.ids)
        c = len(self.class_names)
        if len(self.groups) != c:
            raise ValueError(f"groups must have one entry per class ({c}), got {len(self.groups)}")
        for name in ("labels", "predicted", "blurred", "blur_kind", "blur_param", "laplacian_var",
                     "blur_verdict", "blur_probability"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n} (one per id)")
        if self.probabilities.shape != (n, c):
            raise ValueError(f"probabilities must have shape ({n}, {c}), got {self.probabilities.shape}")
        for name in ("labels", "predicted"):
            values = getattr(self, name)
            if n and (values.min() < 0 or values.max() >= c):
                raise ValueError(f"{name} must be class indices in [0, {c}), got {values.min()}..{values.max()}")

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def correct(self) -> np.ndarray:
        return self.labels == self.predicted

    @property
    def confidence(self) -> np.ndarray:
        """Top-1 probability: what calibration compares with accuracy."""
        return self.probabilities[np.arange(self.n), self.predicted]

    @property
    def has_learned_blur(self) -> bool:
        return bool(np.isfinite(self.blur_probability).any())


def write_predictions_csv(table: PredictionTable, path: str | os.PathLike) -> Path:
    """predictions.csv: one row per image, top-3 classes with probabilities, blur truth and verdicts."""
    names = table.class_names
    k = min(TOP_K, table.n_classes)
    top = np.argsort(-table.probabilities, axis=1, kind="stable")[:, :k]
    header = ["id", "label", "class_name", "predicted", "predicted_name", "correct"]
    for j in range(1, k + 1):
        header += [f"top{j}_class", f"top{j}_prob"]
    header += ["blurred", "blur_kind", "blur_param", "laplacian_var", "blur_verdict", "blur_probability", "edge_path"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i in range(table.n):
        row = [table.ids[i], int(table.labels[i]), names[table.labels[i]], int(table.predicted[i]),
               names[table.predicted[i]], int(table.correct[i])]
        for j in top[i]:
            row += [names[j], f"{table.probabilities[i, j]:.6f}"]
        row += [
            int(table.blurred[i]),
            table.blur_kind[i],
            _num(table.blur_param[i], "{:.4g}"),
            _num(table.laplacian_var[i], "{:.6g}"),
            int(table.blur_verdict[i]),
            _num(table.blur_probability[i], "{:.6f}"),
            table.edge_path[i] if table.edge_path else "",
        ]
        writer.writerow(row)
    return atomic_write_text(path, buffer.getvalue())


def _num(value: float, fmt: str) -> str:
    return "" if value is None or not math.isfinite(float(value)) else fmt.format(float(value))
