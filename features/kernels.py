"""Synthetic blur: the three real camera blurs the benchmark applies (Gaussian, motion, defocus), and
two degradations training never uses (box blur, downscale-upscale), for measuring robustness."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

BLUR_KINDS = ("gaussian", "motion", "defocus")
UNSEEN_KINDS = ("box", "resize")  # never drawn for training: a test of blur robustness, not of memory
DEFAULT_BLUR_RANGES: dict[str, tuple[float, float]] = {
    "gaussian": (1.0, 2.0),  # sigma, px
    "motion": (3, 7),  # line length, px (integer, inclusive)
    "defocus": (1.0, 2.0),  # disk radius, px
}


@dataclass(frozen=True)
class BlurSpec:
    """One blur: `param` is sigma (gaussian), length in px (motion) or disk radius in px (defocus)."""

    kind: str
    param: float
    angle: float | None = None  # degrees, motion only

    def __post_init__(self) -> None:
        if self.kind not in BLUR_KINDS:
            raise ValueError(f"blur kind must be one of {BLUR_KINDS}; got {self.kind!r}")
        if not self.param > 0:
            raise ValueError(f"blur parameter must be positive; got {self.param}")

    def kernel(self) -> np.ndarray:
        if self.kind == "gaussian":
            return gaussian_kernel(self.param)
        if self.kind == "motion":
            return motion_kernel(int(round(self.param)), self.angle or 0.0)
        return defocus_kernel(self.param)


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x**2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A line of `length` px through the centre at `angle_deg`, drawn anti-aliased (bilinear splats)."""
    if length < 1:
        raise ValueError(f"motion length must be >= 1 px; got {length}")
    size = length if length % 2 == 1 else length + 1
    centre = (size - 1) / 2
    theta = math.radians(angle_deg)
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, num=8 * length)
    x = centre + t * math.cos(theta)
    y = centre - t * math.sin(theta)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size + 1, size + 1), dtype=np.float64)
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    kernel = kernel[:size, :size]
    return (kernel / kernel.sum()).astype(np.float32)


def defocus_kernel(radius: float) -> np.ndarray:
    """A normalised disk; edge pixels weighted by the fraction they are covered (8x supersampling)."""
    half = math.ceil(radius)
    sub = 8
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    grid = np.arange(-half, half + 1, dtype=np.float64)
    ys = grid[:, None, None, None] + offsets[None, None, :, None]
    xs = grid[None, :, None, None] + offsets[None, None, None, :]
    kernel = ((xs**2 + ys**2) <= radius**2).mean(axis=(2, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def apply_blur(image: np.ndarray, spec: BlurSpec) -> np.ndarray:
    """Blur a uint8 (H, W) or (H, W, 3) image; the result has the same shape and dtype."""
    if image.dtype != np.uint8:
        raise ValueError(f"apply_blur expects a uint8 image; got {image.dtype}")
    return cv2.filter2D(image, -1, spec.kernel(), borderType=cv2.BORDER_REFLECT)


def sample_blur_spec(
    rng: np.random.Generator,
    kinds: tuple[str, ...] = BLUR_KINDS,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> BlurSpec:
    """Draw a kind uniformly from `kinds`, then its parameter uniformly from its range."""
    ranges = {**DEFAULT_BLUR_RANGES, **(ranges or {})}
    if not kinds:
        raise ValueError("at least one blur kind is needed")
    unknown = [k for k in kinds if k not in BLUR_KINDS]
    if unknown:
        raise ValueError(f"unknown blur kinds {unknown}; choose from {BLUR_KINDS}")
    kind = kinds[int(rng.integers(len(kinds)))]
    low, high = ranges[kind]
    if kind == "motion":
        return BlurSpec("motion", float(rng.integers(int(low), int(high) + 1)), float(rng.uniform(0.0, 180.0)))
    return BlurSpec(kind, float(rng.uniform(low, high)))


def box_kernel(size: int) -> np.ndarray:
    """A flat size x size average (a cheap lens-free blur no training image went through)."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"box size must be a positive integer; got {size!r}")
    return np.full((size, size), 1.0 / (size * size), dtype=np.float32)


def resize_blur(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by `factor` (area averaging), then enlarge back (bilinear): the softness of a thumbnail
    or a heavily compressed upload blown up to full size."""
    if not factor >= 1:
        raise ValueError(f"resize factor must be >= 1; got {factor}")
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def degrade(image: np.ndarray, kind: str, param: float, angle: float = 0.0) -> np.ndarray:
    """One degradation of a uint8 image: a training kind (any strength) or an unseen one (box, resize)."""
    if image.dtype != np.uint8:
        raise ValueError(f"degrade expects a uint8 image; got {image.dtype}")
    if kind in BLUR_KINDS:
        return apply_blur(image, BlurSpec(kind, float(param), float(angle) if kind == "motion" else None))
    if kind == "box":
        return cv2.filter2D(image, -1, box_kernel(int(param)), borderType=cv2.BORDER_REFLECT)
    if kind == "resize":
        return resize_blur(image, float(param))
    raise ValueError(f"kind must be one of {BLUR_KINDS + UNSEEN_KINDS}; got {kind!r}")
