"""Blur scores of a whole split and how well a threshold on them detects the blurred images."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from features import FeatureConfig, blur_verdict, compute_features

SCORE_CHUNK = 4096  # images per compute_features call: bounded memory, a progress bar that moves


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=3) if images.ndim == 3 else images


def laplacian_scores(images: np.ndarray, size: int, desc: str, progress: bool = True) -> np.ndarray:
    """Laplacian variance of every image through features.compute_features (the path inference uses)."""
    scores = np.zeros(len(images), np.float64)
    config = FeatureConfig(size=size)
    for start in tqdm(range(0, len(images), SCORE_CHUNK), desc=desc, unit="chunk", disable=not progress):
        scores[start : start + SCORE_CHUNK] = compute_features(_rgb(images[start : start + SCORE_CHUNK]), config).laplacian_var
    return scores


def detection(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    """Accuracy, recall (share of blurred images caught) and false-positive rate of `score < threshold`."""
    verdict = blur_verdict(scores, threshold)
    return {
        "threshold": float(threshold),
        "accuracy": float((verdict == truth).mean()) if len(truth) else 0.0,
        "recall": float(verdict[truth].mean()) if truth.any() else 0.0,
        "false_positive_rate": float(verdict[~truth].mean()) if (~truth).any() else 0.0,
    }
