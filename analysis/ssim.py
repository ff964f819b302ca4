"""SSIM (Wang et al., 2004) between sharp images and their degraded copies: the model-free yardstick
that says how destructive a blur strength is, so held-out families can be set against Gaussian sigma 3."""

from __future__ import annotations

import cv2
import numpy as np

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def _gray(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 4:
        images = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return images.astype(np.float64)


def _window(x: np.ndarray) -> np.ndarray:
    # One call on the (H, N*W) mosaic would bleed across images; per image keeps borders honest.
    return np.stack([cv2.GaussianBlur(m, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT) for m in x])


def ssim(sharp: np.ndarray, degraded: np.ndarray) -> np.ndarray:
    """Mean SSIM of each pair, (N,) in [-1, 1]: uint8 (N, H, W[, 3]) stacks of equal shape (RGB is
    compared as luma), Gaussian window sigma 1.5, the paper's constants."""
    a, b = _gray(sharp), _gray(degraded)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"ssim needs two (N, H, W[, 3]) stacks of one shape; got {np.shape(sharp)}, {np.shape(degraded)}")
    mu_a, mu_b = _window(a), _window(b)
    var_a = _window(a * a) - mu_a**2
    var_b = _window(b * b) - mu_b**2
    cov = _window(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a**2 + mu_b**2 + C1) * (var_a + var_b + C2))
    return s.reshape(len(s), -1).mean(axis=1)
