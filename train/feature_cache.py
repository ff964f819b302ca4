"""Blur scores and edge maps computed once per image and cached beside the dataset.

The cache key is the FeatureConfig fingerprint plus the split's image ids, so changing the blur
threshold or the edge settings, or rebuilding the dataset, silently invalidates it.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np

from features import FeatureConfig, Features, compute_features, edge_paths
from features.atomic import atomic_write_bytes


def _ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def cached_features(dataset, split: str, images: np.ndarray, config: FeatureConfig) -> tuple[Features, bool]:
    """Features of a split's images; returns (features, hit) where hit says the cache was used."""
    ids = [r["id"] for r in dataset.split_rows(split)]
    path = dataset.root / ".cache" / f"features-{config.fingerprint()}-{split}.npz"
    digest = _ids_digest(ids)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["ids_digest"]) == digest:
                    blurred = data["blurred"]
                    return Features(
                        gray=data["gray"], laplacian_var=data["laplacian_var"], blurred=blurred,
                        edge_map=data["edge_map"], edge_path=edge_paths(blurred),
                    ), True
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache is recomputed, never trusted
    feats = compute_features(images, config)
    buffer = io.BytesIO()
    np.savez(buffer, gray=feats.gray, laplacian_var=feats.laplacian_var, blurred=feats.blurred,
             edge_map=feats.edge_map, ids_digest=np.array(digest))
    atomic_write_bytes(path, buffer.getvalue())
    return feats, False
