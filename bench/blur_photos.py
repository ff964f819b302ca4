"""Blurred-vs-clear on real photographs: the fitted single-number baselines a trained model must beat.

A variance-of-Laplacian threshold is what most blur detectors are; fitted on the training crops it
is the honest baseline for a blur-task model (issue 11), and the FFT high-frequency ratio is the
frequency-domain one. Both are scored at each crop's own resolution, with thresholds fitted on the
training crops only, so the held-out photos are as new to them as to the model. Used by
`bench/bench_blur_photos.py` and the end-to-end photo test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features import fit_blur_threshold, laplacian_variance, load_image, to_gray
from features.frequency import fft_high_ratio


def baseline_scores(root: Path, crops) -> dict[str, np.ndarray]:
    """Laplacian variance and FFT ratio of every crop, at its own resolution."""
    gray = np.stack([to_gray(load_image(root / c.path)) for c in crops])
    return {"laplacian": np.asarray(laplacian_variance(gray)), "fft": fft_high_ratio(gray)}


def model_verdicts(run: Path, paths: list[Path], batch_size: int = 64) -> np.ndarray:
    """The trained blur-task model's "blurred" verdict on each image, as `blurfuse predict` answers."""
    from fusion.predictor import Predictor

    predictor = Predictor.from_checkpoint(run)
    blurred_class = predictor.config.blur_task["blurred_class"]
    return np.array([p.class_index == blurred_class for p in predictor.predict_batch(paths, batch_size=batch_size)])


def fitted_verdicts(scores: dict[str, np.ndarray], truth: np.ndarray, train: np.ndarray) -> tuple[dict, dict]:
    """Blurred verdicts of each baseline on every crop, thresholds fitted on the training crops only."""
    verdicts, thresholds = {}, {}
    for name, values in scores.items():
        thresholds[name] = fit_blur_threshold(values[train], truth[train])
        verdicts[name] = values < thresholds[name]
    return verdicts, thresholds


def accuracy_table(crops, truth: np.ndarray, verdicts: dict[str, np.ndarray], side: str = "test") -> str:
    """Accuracy per blur kind and strength (rows) for each method (columns), held-out crops only."""
    keys = sorted({(c.kind, c.strength) for c in crops if c.kind}) + [("", "none")]
    lines = [f"| {side} crops | n | model | Laplacian (fitted) | FFT ratio (fitted) |", "|---|---|---|---|---|"]
    for key in keys + [None]:
        if key is None:
            mask, label = np.ones(len(crops), bool), "**all**"
        else:
            mask = np.array([(c.kind, c.strength) == key for c in crops])
            label = f"{key[0]} {key[1]}" if key[0] else "sharp (Undistorted)"
        cells = [f"{100 * (v[mask] == truth[mask]).mean():.1f} %" for v in verdicts.values()]
        lines.append(f"| {label} | {int(mask.sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
