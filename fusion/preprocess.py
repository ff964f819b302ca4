"""THE one preprocessing path from canonical images + `features.Features` to model tensors.

Training, analysis and the web app all call `model_inputs` with the `ModelConfig` stored in the
checkpoint, so a test-split image scored in the report and the same image uploaded to the web page
get the same tensors and therefore the same prediction.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from features.frequency import blur_evidence
from features.image import resize_square
from fusion.config import ModelConfig


def _as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            raise ValueError(
                "images must be a batch (N,H,W,3) or a list of (H,W,3) arrays; wrap a single image in a list"
            )
        if images.ndim != 4:
            raise ValueError(f"images must have shape (N,H,W,3), got {images.shape}")
        items = list(images)
    else:
        items = list(images)
    for i, image in enumerate(items):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(
                f"images[{i}] must be a canonical uint8 (H,W,3) array (features.load_image), got {desc}"
            )
    return items


def resize_edge_map(edge_map: np.ndarray, size: int) -> np.ndarray:
    """(N,S,S) uint8 {0,255} -> (N,size,size) float32 in [0,1].

    Nearest when growing keeps edges one pixel thin and binary; area when shrinking turns
    several edge pixels into a partial value instead of dropping them.
    """
    edge_map = np.asarray(edge_map)
    if edge_map.ndim != 3:
        raise ValueError(f"edge_map must be (N,S,S), got {edge_map.shape}")
    n, h, w = edge_map.shape
    if (h, w) == (size, size):
        out = edge_map.astype(np.float32)
    else:
        interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_NEAREST
        out = np.empty((n, size, size), dtype=np.float32)
        for i in range(n):
            out[i] = cv2.resize(edge_map[i], (size, size), interpolation=interpolation)
    out *= 1.0 / 255.0
    return out


def blur_inputs(laplacian_var: np.ndarray, blurred: np.ndarray, cfg: ModelConfig, gray: np.ndarray | None = None) -> np.ndarray:
    """(N,2) float32: [standardised log1p(Laplacian variance), verdict 0/1]; with `cfg.blur_evidence`
    + the standardised `features.frequency.blur_evidence` of `gray` (the canonical images) in the
    model's evidence set."""
    log_var = np.log1p(np.maximum(np.asarray(laplacian_var, dtype=np.float64), 0.0))
    standardised = (log_var - cfg.blur_log_mean) / cfg.blur_log_std
    columns = [standardised[:, None], np.asarray(blurred, dtype=np.float64)[:, None]]
    if cfg.blur_evidence:
        if gray is None:
            raise ValueError("this model's blur branch needs the canonical gray images for its blur evidence")
        evidence = blur_evidence(gray, cfg.blur_evidence_set)
        columns.append((evidence - np.asarray(cfg.blur_evidence_mean)) / np.asarray(cfg.blur_evidence_std))
    return np.concatenate(columns, axis=1).astype(np.float32)


def fit_evidence_standardisation(gray: np.ndarray, evidence_set: str = "basic") -> tuple[list[float], list[float]]:
    """Per-column mean and std of the blur evidence on the training split, for `ModelConfig`."""
    evidence = blur_evidence(gray, evidence_set)
    std = evidence.std(axis=0)
    return [float(v) for v in evidence.mean(axis=0)], [float(v) if v > 1e-6 else 1.0 for v in std]


def fit_blur_standardisation(laplacian_var: np.ndarray) -> tuple[float, float]:
    """Mean and std of log1p(Laplacian variance) on the training split, for `ModelConfig`."""
    log_var = np.log1p(np.maximum(np.asarray(laplacian_var, dtype=np.float64), 0.0))
    if log_var.size == 0 or not np.all(np.isfinite(log_var)):
        raise ValueError("laplacian_var must be a non-empty array of finite values")
    std = float(log_var.std())
    return float(log_var.mean()), std if std > 1e-6 else 1.0


def rgb_inputs(images: np.ndarray | Sequence[np.ndarray], cfg: ModelConfig) -> torch.Tensor:
    """(N,3,S,S) float32 in channels-last memory format (the model's; no transposing copy):
    resized to `cfg.input_size`, scaled to [0,1], normalised with mean/std."""
    items = _as_image_list(images)
    size = cfg.input_size
    batch = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(items):
        batch[i] = image if image.shape[:2] == (size, size) else resize_square(image, size)
    scale = 1.0 / (255.0 * np.asarray(cfg.std, dtype=np.float32))
    shift = np.asarray(cfg.mean, dtype=np.float32) / np.asarray(cfg.std, dtype=np.float32)
    out = batch.astype(np.float32) * scale - shift
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def model_inputs(images: np.ndarray | Sequence[np.ndarray], feats, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Tensors for `FusionNet.forward(**inputs)`.

    images: canonical uint8 (N,H,W,3) batch or a list of (H,W,3) arrays (any sizes);
    feats: `features.Features` for the same images, computed with `cfg.feature_config`.
    Returns {"rgb": (N,3,S,S), "edge": (N,1,S,S) in [0,1], "blur": (N,2)} with S = cfg.input_size.
    All three are always returned (the contract downstream code relies on); the model ignores
    the inputs of branches it does not have.
    """
    n = len(images)
    if len(feats.laplacian_var) != n or len(feats.edge_map) != n:
        raise ValueError(f"feats describe {len(feats.laplacian_var)} images but {n} images were given")
    return {
        "rgb": rgb_inputs(images, cfg),
        "edge": torch.from_numpy(resize_edge_map(feats.edge_map, cfg.input_size)[:, None]),
        "blur": torch.from_numpy(blur_inputs(feats.laplacian_var, feats.blurred, cfg, feats.gray)),
    }
