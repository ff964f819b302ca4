"""Edge maps: OpenCV Canny for sharp images, a custom path for blurred ones.

Blur spreads every edge over several pixels and lowers its gradient, so Canny's fixed thresholds
(100/200 on 8-bit gradients) find almost nothing on a blurred image. The custom path keeps Canny's
structure but (1) adds no smoothing of its own — the image is already smooth — and (2) sets its
double threshold relative to the image's own strongest gradient, so the thresholds shrink with the
blur. Everything runs on whole (N, H, W) stacks with numpy; hysteresis is one connected-component
labelling over the stack whose structure never links one image to the next.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from scipy import ndimage

from features.filters import mosaic_filter

EDGE_PATH_CANNY = "canny"
EDGE_PATH_HYSTERESIS = "hysteresis"


@dataclass(frozen=True)
class EdgeSettings:
    """Thresholds of both paths.

    `high_ratio` x (the image's largest suppressed gradient) is the strong threshold and
    `low_ratio` x strong the weak one: tying them to the image's own gradient strength is what
    makes the path work at any blur strength.
    """

    canny_low: float = 100.0
    canny_high: float = 200.0
    high_ratio: float = 0.3
    low_ratio: float = 0.4
    connectivity: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.canny_low <= self.canny_high:
            raise ValueError(f"need 0 <= canny_low <= canny_high; got {self.canny_low}, {self.canny_high}")
        if not 0 < self.high_ratio <= 1:
            raise ValueError(f"high_ratio must lie in (0, 1]; got {self.high_ratio}")
        if not 0 < self.low_ratio <= 1:
            raise ValueError(f"low_ratio must lie in (0, 1]; got {self.low_ratio}")
        if self.connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8; got {self.connectivity}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EdgeSettings":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown edge settings: {sorted(unknown)}")
        return cls(**data)


def _stack(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim == 2:
        gray = gray[None]
    if gray.ndim != 3:
        raise ValueError(f"gray images must have shape (H, W) or (N, H, W); got {gray.shape}")
    return gray


def canny_edges(gray_batch: np.ndarray, settings: EdgeSettings = EdgeSettings()) -> np.ndarray:
    """OpenCV Canny (L2 gradient) per image; (N, H, W) uint8 in {0, 255}."""
    stack = _stack(gray_batch)
    out = np.empty(stack.shape, dtype=np.uint8)
    for i, image in enumerate(stack):
        out[i] = cv2.Canny(np.ascontiguousarray(image), settings.canny_low, settings.canny_high, L2gradient=True)
    return out


def sobel_gradients(gray_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 Sobel gx, gy of a stack (reflect-101 border, like OpenCV), float32."""
    stack = _stack(gray_batch)
    gx = mosaic_filter(stack, lambda m: cv2.Sobel(m, cv2.CV_32F, 1, 0, ksize=3))
    gy = mosaic_filter(stack, lambda m: cv2.Sobel(m, cv2.CV_32F, 0, 1, ksize=3))
    return gx, gy


def non_max_suppression(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Keep a pixel only where it is a maximum along its gradient direction (4 direction bins)."""
    m = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))
    h, w = magnitude.shape[1:]

    def shifted(dy: int, dx: int) -> np.ndarray:
        return m[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    # Direction bins by comparison with tan(22.5 deg) rather than arctan2: same bins, far cheaper.
    ax, ay = np.abs(gx), np.abs(gy)
    tan22 = np.float32(0.41421356)
    horizontal = ay <= tan22 * ax
    vertical = ax < tan22 * ay
    diagonal_down = ~horizontal & ~vertical & ((gx > 0) == (gy > 0))  # towards +x,+y (y grows downwards)
    neighbour_a = np.where(horizontal, shifted(0, 1), np.where(vertical, shifted(1, 0), np.where(diagonal_down, shifted(1, 1), shifted(1, -1))))
    neighbour_b = np.where(horizontal, shifted(0, -1), np.where(vertical, shifted(-1, 0), np.where(diagonal_down, shifted(-1, -1), shifted(-1, 1))))
    keep = (magnitude >= neighbour_a) & (magnitude >= neighbour_b) & (magnitude > 0)
    return np.where(keep, magnitude, 0.0).astype(np.float32)


def _structure(connectivity: int, stacked: bool) -> np.ndarray:
    plane = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    if not stacked:
        return plane
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = plane  # links within an image only, never across the stack
    return structure


def hysteresis(weak: np.ndarray, strong: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Keep every weak pixel connected (through weak pixels) to a strong one.

    With `connectivity=4` this is exactly `skimage.filters.apply_hysteresis_threshold` (which
    labels with scipy's default cross structure); 8, Canny's convention, is the default here.
    """
    weak = np.asarray(weak, dtype=bool)
    strong = np.asarray(strong, dtype=bool)
    if weak.shape != strong.shape:
        raise ValueError(f"weak and strong masks differ in shape: {weak.shape} vs {strong.shape}")
    if weak.ndim not in (2, 3):
        raise ValueError(f"masks must have shape (H, W) or (N, H, W); got {weak.shape}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8; got {connectivity}")
    weak = weak | strong
    labels, count = ndimage.label(weak, structure=_structure(connectivity, weak.ndim == 3))
    connected = np.zeros(count + 1, dtype=bool)
    connected[labels[strong]] = True
    connected[0] = False
    return connected[labels]


def custom_edges(gray_batch: np.ndarray, settings: EdgeSettings = EdgeSettings()) -> np.ndarray:
    """Sobel -> NMS -> double threshold relative to each image's strongest edge -> hysteresis."""
    gx, gy = sobel_gradients(gray_batch)
    thin = non_max_suppression(np.hypot(gx, gy), gx, gy)
    peak = thin.reshape(len(thin), -1).max(axis=1)[:, None, None]
    high = settings.high_ratio * peak
    low = settings.low_ratio * high
    strong = (thin > high) & (peak > 0)
    weak = (thin > low) & (peak > 0)
    return hysteresis(weak, strong, settings.connectivity).astype(np.uint8) * 255


def edge_maps(
    gray_batch: np.ndarray, blurred: np.ndarray, settings: EdgeSettings = EdgeSettings()
) -> tuple[np.ndarray, list[str]]:
    """Per image: Canny when sharp, the custom path when blurred. Returns maps and the path names."""
    stack = _stack(gray_batch)
    blurred = np.asarray(blurred, dtype=bool).reshape(-1)
    if len(blurred) != len(stack):
        raise ValueError(f"need one blur verdict per image: {len(blurred)} verdicts for {len(stack)} images")
    maps = np.empty(stack.shape, dtype=np.uint8)
    if (~blurred).any():
        maps[~blurred] = canny_edges(stack[~blurred], settings)
    if blurred.any():
        maps[blurred] = custom_edges(stack[blurred], settings)
    return maps, edge_paths(blurred)


def edge_paths(blurred: np.ndarray) -> list[str]:
    """The edge path each image takes: the custom hysteresis path when blurred, Canny when sharp."""
    return [EDGE_PATH_HYSTERESIS if b else EDGE_PATH_CANNY for b in np.asarray(blurred, dtype=bool).reshape(-1)]
