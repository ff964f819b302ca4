"""Randomised point-spread functions for training blur (`blur_kernels="psf"`).

The classic training blur draws three fixed shapes (Gaussian, straight motion line, defocus disc)
from narrow ranges, and the model learns those shapes rather than blur. Real camera blur is a
curved shake path, an astigmatic (elongated, rotated) Gaussian, a disc of any radius, or several of
these at once. `sample_psfs` draws a whole batch of such kernels at once with array operations (no
Python loop per kernel), all on one fixed square canvas so they stack into one tensor for a batched
convolution (train.psf_batch). Every kernel is non-negative and sums to 1 (brightness is kept).
"""

from __future__ import annotations

import cv2
import numpy as np

PSF_SIZE = 21  # canvas (px): holds a 15 px shake path or a Gaussian of sigma 3.3 (3 sigma each side)
PSF_FAMILIES = ("shake", "gaussian", "disc")
# Strengths beyond the classic ranges (Gaussian 1-2, motion 3-7, defocus 1-2), drawn uniformly.
PSF_RANGES: dict[str, tuple[float, float]] = {
    "shake": (3.0, 15.0),      # path length, px
    "gaussian": (0.6, 3.3),    # sigma of each principal axis, px
    "disc": (0.8, 3.5),        # radius, px
}
COMPOSE_SHARE = 0.25  # share of kernels that are two PSFs convolved (e.g. shake through a soft lens)


def _normalise(kernels: np.ndarray) -> np.ndarray:
    sums = kernels.sum(axis=(1, 2), keepdims=True)
    return (kernels / np.maximum(sums, 1e-12)).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) - c
    return ys, xs


def gaussian_psfs(sigma_a: np.ndarray, sigma_b: np.ndarray, angle: np.ndarray, size: int = PSF_SIZE) -> np.ndarray:
    """Anisotropic Gaussians: sigmas along the rotated axes, `angle` in radians; (n, size, size)."""
    ys, xs = _grid(size)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = xs[None] * cos + ys[None] * sin
    v = -xs[None] * sin + ys[None] * cos
    k = np.exp(-0.5 * ((u / sigma_a[:, None, None]) ** 2 + (v / sigma_b[:, None, None]) ** 2))
    return _normalise(k)


def disc_psfs(radius: np.ndarray, size: int = PSF_SIZE, sub: int = 4) -> np.ndarray:
    """Defocus discs of the given radii, edge pixels weighted by the share covered (sub x sub samples)."""
    ys, xs = _grid(size)
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    yy = ys[:, :, None, None] + offsets[None, None, :, None]
    xx = xs[:, :, None, None] + offsets[None, None, None, :]
    r2 = (yy**2 + xx**2)[None]
    covered = (r2 <= np.asarray(radius, dtype=np.float64)[:, None, None, None, None] ** 2).mean(axis=(3, 4))
    return _normalise(covered)


def shake_psfs(rng: np.random.Generator, length: np.ndarray, size: int = PSF_SIZE, steps: int = 64) -> np.ndarray:
    """Camera-shake paths: a random walk whose heading drifts smoothly (so paths curve), scaled to
    `length` px of travel, centred on the canvas and drawn with bilinear splats; (n, size, size)."""
    n = len(length)
    heading = rng.uniform(0, 2 * np.pi, (n, 1)) + np.cumsum(rng.normal(0, 0.25, (n, steps)), axis=1)
    step = np.stack([np.cos(heading), np.sin(heading)], axis=-1)  # (n, steps, 2), unit steps
    path = np.concatenate([np.zeros((n, 1, 2)), np.cumsum(step, axis=1)], axis=1)
    path *= (np.asarray(length, dtype=np.float64) / steps)[:, None, None]
    path -= (path.max(axis=1, keepdims=True) + path.min(axis=1, keepdims=True)) / 2  # centre the bounding box
    c = (size - 1) / 2
    pos = np.clip(path + c, 0, size - 1.001)
    x0, y0 = np.floor(pos[..., 0]).astype(int), np.floor(pos[..., 1]).astype(int)
    fx, fy = pos[..., 0] - x0, pos[..., 1] - y0
    kernels = np.zeros((n, size, size))
    idx = np.broadcast_to(np.arange(n)[:, None], x0.shape)
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernels, (idx, np.minimum(y0 + dy, size - 1), np.minimum(x0 + dx, size - 1)), w)
    return _normalise(kernels)


def compose_psfs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise convolution of two kernel stacks (FFT, cropped back to the canvas): blur through blur."""
    size = a.shape[-1]
    full = 2 * size - 1
    out = np.fft.irfft2(np.fft.rfft2(a, (full, full)) * np.fft.rfft2(b, (full, full)), (full, full))
    start = (size - 1) // 2
    return _normalise(np.clip(out[:, start:start + size, start:start + size], 0, None))


def _family_psfs(rng: np.random.Generator, family: str, n: int, size: int) -> np.ndarray:
    low, high = PSF_RANGES[family]
    if family == "shake":
        return shake_psfs(rng, rng.uniform(low, high, n), size)
    if family == "gaussian":
        return gaussian_psfs(rng.uniform(low, high, n), rng.uniform(low, high, n), rng.uniform(0, np.pi, n), size)
    return disc_psfs(rng.uniform(low, high, n), size)


def sample_psfs(rng: np.random.Generator, n: int, size: int = PSF_SIZE, compose_share: float = COMPOSE_SHARE) -> np.ndarray:
    """`n` random PSFs, (n, size, size) float32, each summing to 1: a family drawn uniformly per
    kernel, its strength from `PSF_RANGES`, and a `compose_share` of them convolved with a second draw."""
    if n < 0 or size < 3 or size % 2 == 0:
        raise ValueError(f"need n >= 0 and an odd size >= 3; got n={n}, size={size}")
    family = rng.integers(len(PSF_FAMILIES), size=n)
    out = np.zeros((n, size, size), dtype=np.float32)
    for f, name in enumerate(PSF_FAMILIES):  # one vectorised draw per family, not per kernel
        members = np.flatnonzero(family == f)
        if members.size:
            out[members] = _family_psfs(rng, name, members.size, size)
    composed = np.flatnonzero(rng.random(n) < compose_share)
    if composed.size:
        second = sample_psfs(rng, composed.size, size, compose_share=0.0)
        out[composed] = compose_psfs(out[composed], second)
    return out


def convolve_psf(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One uint8 image of any size blurred by one PSF, borders reflected (reflect-101).

    The per-image form of `train.psf_batch.convolve_batch` (which needs equal-size images to stack):
    the unfamiliar-image score's blurred views of photos of any size use it, so they carry exactly the
    blur the model trained on. `cv2.filter2D` correlates; the flipped kernel makes it a convolution."""
    return cv2.filter2D(image, -1, np.ascontiguousarray(kernel[::-1, ::-1]), borderType=cv2.BORDER_REFLECT_101)
