"""Stack-wide 3x3 filtering, shared by the blur score and the edge maps."""

from __future__ import annotations

from typing import Callable

import numpy as np


def mosaic_filter(stack: np.ndarray, apply: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run an OpenCV 3x3 filter over a whole stack in one call.

    Each image gets its own 1 px reflect-101 border (OpenCV's default), the padded images are laid
    one above the other as a single tall image, `apply` filters it, and the interiors are cut back
    out. A 3x3 filter at an interior pixel only reads that image's own padded ring, so the result
    equals filtering image by image, without the per-call overhead that dominates at 28 px.
    """
    n, h, w = stack.shape
    padded = np.pad(stack, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    out = apply(padded.reshape(n * (h + 2), w + 2))
    return out.reshape(n, h + 2, w + 2)[:, 1:-1, 1:-1]
