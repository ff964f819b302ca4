"""The feature step every package calls: images -> blur score, verdict and edge map.

Training, analysis and the web app all go through `compute_features` with the `FeatureConfig`
stored in the dataset card and the checkpoint, so an image scores the same everywhere. Images are
first brought to the canonical resolution, which is what lets a threshold fitted on 28 px training
images hold for a 2000 px upload.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

from features.blur import DEFAULT_BLUR_THRESHOLD, blur_verdict, laplacian_variance
from features.edges import EdgeSettings, edge_maps, edge_paths
from features.image import resize_square, to_gray

# Pixels per vectorised step: large enough to amortise numpy's per-call cost at 28 px (~1000
# images), small enough that the float temporaries stay in cache at 224 px.
CHUNK_PIXELS = 1 << 19


@dataclass(frozen=True)
class FeatureConfig:
    size: int = 28
    blur_threshold: float = DEFAULT_BLUR_THRESHOLD
    edges: EdgeSettings = field(default_factory=EdgeSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 3:
            raise ValueError(f"feature size must be an integer >= 3; got {self.size!r}")
        if not np.isfinite(self.blur_threshold) or self.blur_threshold < 0:
            raise ValueError(f"blur_threshold must be a finite number >= 0; got {self.blur_threshold}")

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "blur_threshold": float(self.blur_threshold), "edges": self.edges.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        try:
            return cls(
                size=int(data["size"]),
                blur_threshold=float(data["blur_threshold"]),
                edges=EdgeSettings.from_dict(dict(data.get("edges", {}))),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"invalid feature config {data!r}: {error}") from None

    def fingerprint(self) -> str:
        """A short stable hash: caches keyed by it are invalidated when any setting changes."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Features:
    gray: np.ndarray  # (N, S, S) uint8 at the canonical size
    laplacian_var: np.ndarray  # (N,) float64
    blurred: np.ndarray  # (N,) bool verdict
    edge_map: np.ndarray  # (N, S, S) uint8 in {0, 255}
    edge_path: list[str]

    def __len__(self) -> int:
        return len(self.laplacian_var)


def canonical_gray(images: np.ndarray | Sequence[np.ndarray], size: int) -> np.ndarray:
    """Canonical RGB image(s) -> (N, size, size) uint8 grayscale."""
    if isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] == 3:
        images = images[None]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        if images.dtype != np.uint8 or images.shape[-1] != 3:
            raise ValueError(f"an image batch must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        if images.shape[1:3] == (size, size):
            # One cvtColor over the whole batch laid out as a single tall image.
            n = len(images)
            return cv2.cvtColor(images.reshape(n * size, size, 3), cv2.COLOR_RGB2GRAY).reshape(n, size, size)
        images = list(images)
    if len(images) == 0:
        raise ValueError("no images given")
    return np.stack([resize_square(to_gray(_check(image)), size) for image in images])


def _check(image: np.ndarray) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError("compute_features expects canonical images (uint8 H x W x 3); pass them through load_image")
    return image


def compute_features(images: np.ndarray | Sequence[np.ndarray], config: FeatureConfig = FeatureConfig()) -> Features:
    """Blur score, verdict and edge map of one image, a list of images, or an (N, H, W, 3) batch."""
    gray = canonical_gray(images, config.size)
    scores = np.empty(len(gray), dtype=np.float64)
    maps = np.empty_like(gray)
    step = max(1, CHUNK_PIXELS // (config.size * config.size))
    for start in range(0, len(gray), step):
        chunk = slice(start, start + step)
        scores[chunk] = laplacian_variance(gray[chunk])
        maps[chunk], _ = edge_maps(gray[chunk], blur_verdict(scores[chunk], config.blur_threshold), config.edges)
    verdict = blur_verdict(scores, config.blur_threshold)
    return Features(gray=gray, laplacian_var=scores, blurred=verdict, edge_map=maps, edge_path=edge_paths(verdict))
