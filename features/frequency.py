"""Blur evidence beside the Laplacian: the same question asked at two scales and in frequency space.

The variance of the Laplacian at one scale mixes two things: how sharp an image is and how much
fine texture its scene has (a sharp photo of a clear sky scores like a blurred photo of gravel).
Ratios cancel much of the scene: blur removes high frequencies *relative* to the middle ones, so

- `laplacian_ratio`: Laplacian variance at full resolution over the same at half resolution
  (a sharp image loses most of its fine detail when halved, a blurred one has little to lose);
- `fft_high_ratio`: the share of spectral energy above a radial frequency cut-off, out of the
  energy above a low cut-off (the DC term and the coarsest layout of the scene left out);

are scene-tolerant complements of the absolute score. All functions take a (N, H, W) uint8 or
float stack at the resolution where blur is to be judged, and never resize it themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

from features.blur import laplacian_variance

EVIDENCE_NAMES: tuple[str, ...] = ("log_laplacian", "log_laplacian_half", "log_laplacian_ratio", "fft_high_ratio")


def _stack(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim == 2:
        gray = gray[None]
    if gray.ndim != 3 or min(gray.shape[1:]) < 8:
        raise ValueError(f"gray must be (N, H, W) or (H, W) with sides >= 8 px; got {gray.shape}")
    return gray if gray.dtype == np.uint8 else gray.astype(np.float32)


def half_scale_laplacian_variance(gray: np.ndarray) -> np.ndarray:
    """Laplacian variance of each image after halving it with area averaging: (N, H, W) -> (N,)."""
    stack = _stack(gray)
    h, w = stack.shape[1] // 2, stack.shape[2] // 2
    halves = np.stack([cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA) for g in stack])
    return np.asarray(laplacian_variance(halves), dtype=np.float64)


def fft_high_ratio(gray: np.ndarray, low: float = 0.05, high: float = 0.25) -> np.ndarray:
    """Share of spectral energy at radial frequency >= `high` among energy at >= `low` (cycles/px).

    A Hann window keeps the image border from adding a spurious cross of high frequencies. Values
    lie in [0, 1]; blur pushes them towards 0 whatever the scene's contrast.
    """
    if not 0 < low < high < 0.5:
        raise ValueError(f"need 0 < low < high < 0.5 cycles/px; got low={low}, high={high}")
    stack = _stack(gray).astype(np.float32)
    n, h, w = stack.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    centred = stack - stack.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(centred * window)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    above_low = power[:, radius >= low].sum(axis=1)
    above_high = power[:, radius >= high].sum(axis=1)
    return np.where(above_low > 0, above_high / np.maximum(above_low, 1e-12), 0.0).astype(np.float64)


def blur_evidence(gray: np.ndarray) -> np.ndarray:
    """(N, 4) float64 in the order of `EVIDENCE_NAMES`: log1p Laplacian variance at full and half
    scale, their log ratio, and the FFT high-frequency energy ratio."""
    stack = _stack(gray)
    full = np.asarray(laplacian_variance(stack), dtype=np.float64).reshape(-1)
    half = half_scale_laplacian_variance(stack)
    log_full, log_half = np.log1p(full), np.log1p(half)
    return np.stack([log_full, log_half, log_full - log_half, fft_high_ratio(stack)], axis=1)
