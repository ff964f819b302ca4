"""A second look before calling an image unfamiliar: the same image low-passed (and grey when the
training images were grey), scored against statistics fitted on such views of the training images.

The unfamiliar-image score reads early feature statistics (texture, contrast, colour), and blur of
any kind changes exactly those: fitted on sharp images it flags a garment blurred past the training
ranges, or scattered, pixelated or colour-fringed by a lens, although the model still reads it right
most of the time. A strong low-pass removes what those degradations change and keeps what a
photograph, noise or a handwritten digit differs in (layout, background, brightness), so an image is
called unfamiliar only when it is unfamiliar in both looks: `final = min(raw - raw_offset,
view - view_offset)` against one threshold fitted on the validation split. Since `min(a, b) > t`
needs `a > t`, the view is computed only for images the raw score would flag (about 5 % of familiar
ones), so prediction does not pay for it on most images.
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

VIEW_LOWPASS = 0.08  # Gaussian sigma as a share of the image's shorter side (2.2 px on a 28 px image)
VIEW_PREFIX = "view_"  # the view's statistics in ood.safetensors: view_stage2, view_stage3


def is_grey(images: Sequence[Any], sample: int = 200) -> bool:
    """Whether the images (a sample of them) carry no colour: every channel equal."""
    for image in images[:sample]:
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] >= 3 and not (np.array_equal(array[..., 0], array[..., 1])
                                                            and np.array_equal(array[..., 1], array[..., 2])):
            return False
    return True


def familiar_view(image: Any, lowpass: float = VIEW_LOWPASS, grey: bool = False) -> np.ndarray:
    """The image low-passed with sigma `lowpass` x its shorter side, then grey (3 equal channels) if asked."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"familiar_view needs a uint8 (H, W) or (H, W, C) image; got {array.dtype} {array.shape}")
    if not 0 < lowpass < 1:
        raise ValueError(f"lowpass must lie in (0, 1); got {lowpass}")
    out = cv2.GaussianBlur(array, (0, 0), lowpass * min(array.shape[:2]))
    if grey and out.ndim == 3 and out.shape[2] >= 3:
        out = np.repeat(cv2.cvtColor(np.ascontiguousarray(out[..., :3]), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    return out


def familiar_views(images: Sequence[Any], settings: dict) -> list[np.ndarray]:
    return [familiar_view(image, settings["lowpass"], settings["grey"]) for image in images]


def combined(raw: np.ndarray, view: np.ndarray | None, settings: dict) -> np.ndarray:
    """min(raw - raw_offset, view - view_offset); where `view` is NaN (not computed) the raw term."""
    a = np.asarray(raw, dtype=np.float64) - settings["view"]["raw_offset"]
    if view is None:
        return a
    b = np.asarray(view, dtype=np.float64) - settings["view"]["offset"]
    return np.where(np.isnan(b), a, np.minimum(a, b))
