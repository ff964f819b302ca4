"""A tiny reader of Debian's Fashion-MNIST IDX files, for tests that need real images."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def fmnist_images(count: int, split: str = "train") -> np.ndarray:
    """The first `count` images of a split as (count, 28, 28) uint8."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(FMNIST_DIR / f"{prefix}-images-idx3-ubyte.gz") as handle:
        handle.read(16)
        data = handle.read(count * 28 * 28)
    return np.frombuffer(data, np.uint8).reshape(count, 28, 28).copy()
