"""Blur score (variance of the Laplacian) and the blurred/sharp verdict.

The score is computed on a whole (N, H, W) stack in one OpenCV call (see `mosaic_filter`), not per image: at
28 px the per-call overhead of OpenCV would dominate the arithmetic. It equals
`cv2.Laplacian(gray, cv2.CV_64F).var()` (3x3 kernel, reflect-101 border) image by image.
"""

from __future__ import annotations

import cv2
import numpy as np

from features.filters import mosaic_filter

DEFAULT_BLUR_THRESHOLD = 100.0


def _as_stack(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    gray = np.asarray(gray)
    if gray.ndim == 2:
        return gray[None], True
    if gray.ndim == 3:
        return gray, False
    raise ValueError(f"gray images must have shape (H, W) or (N, H, W); got {gray.shape}")


def laplacian_variance(gray: np.ndarray) -> np.ndarray | float:
    """Variance of the Laplacian: (N, H, W) -> (N,) float64, (H, W) -> float."""
    stack, single = _as_stack(gray)
    lap = mosaic_filter(stack, lambda m: cv2.Laplacian(m, cv2.CV_32F, ksize=1))
    variance = lap.reshape(len(lap), -1).var(axis=1, dtype=np.float64)
    return float(variance[0]) if single else variance


def blur_verdict(scores: np.ndarray | float, threshold: float) -> np.ndarray:
    """True where an image is judged blurred: its Laplacian variance is below `threshold`."""
    return np.asarray(scores) < threshold


def fit_blur_threshold(scores: np.ndarray, blurred: np.ndarray) -> float:
    """The single threshold with the best accuracy separating blurred (True) from sharp images.

    All cut points between consecutive distinct scores are scored at once from cumulative counts.
    The threshold is the geometric midpoint of the best gap, because scores span orders of
    magnitude (sharp ~10^4, blurred ~10^2-10^3 on Fashion-MNIST).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    blurred = np.asarray(blurred, dtype=bool).ravel()
    if scores.size == 0:
        raise ValueError("scores is empty")
    if scores.shape != blurred.shape:
        raise ValueError(f"scores and blurred differ in length: {scores.size} vs {blurred.size}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    if blurred.all() or not blurred.any():
        raise ValueError("fitting a threshold needs both blurred and sharp images")
    order = np.argsort(scores, kind="stable")
    s, b = scores[order], blurred[order]
    # Candidate cut after position i (threshold between s[i] and s[i+1]); only between distinct values.
    blurred_below = np.cumsum(b)
    sharp_below = np.cumsum(~b)
    correct = blurred_below + (sharp_below[-1] - sharp_below)
    valid = np.append(s[1:] > s[:-1], True)
    correct = np.where(valid, correct, -1)
    i = int(np.argmax(correct))
    if i == len(s) - 1:
        return float(s[-1] * 1.001 + 1e-9)
    low, high = s[i], s[i + 1]
    return float(np.sqrt(low * high)) if low > 0 else float((low + high) / 2)
