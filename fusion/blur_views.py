"""Blurred views of in-domain images, for fitting the unfamiliar-image score (issue 18, part 3).

Fitted on sharp and lightly blurred training images only, the score calls a garment blurred past the
training ranges "unfamiliar", although the model still reads it right most of the time: the warning
then fires on exactly the images the product exists for. Adding one blurred copy of every fitting
image, at strengths up to where accuracy is still about 70 % (Gaussian sigma 3, motion 15 px,
defocus radius 3 px on the v1 default model), teaches the statistics that blur is familiar, while
photographs, noise and digits stay far away.

"Camera" views (`views="camera"`, docs/RESULTS.md "Camera views for the unfamiliar score") re-frame
half of the copies as well: a garment photographed a little closer, farther, turned or off-centre
moves the early texture statistics the score reads as much as blur does, and a user's photos vary
in exactly that way. The re-framing is a global similarity transform, none of the held-out blur
families (each of those is a blur at a fixed framing, or a local warp).
"""

from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from features.kernels import BLUR_KINDS, apply_blur, sample_blur_spec
from features.psf import convolve_psf, sample_psfs
from fusion.config import OOD_VIEW_KINDS as VIEW_KINDS

BLUR_VIEW_KERNELS = ("classic", "mixed")
CAMERA_FRAMING_SHARE = 0.5  # of the copies, in "camera" views
FRAMING_SCALE = (0.8, 1.5)  # closer / farther (drawn log-uniform)
FRAMING_DEGREES = 15.0  # turned
FRAMING_SHIFT = 0.05  # centre moved, as a share of the side

BLUR_VIEW_RANGES: dict[str, tuple[float, float]] = {
    "gaussian": (1.0, 3.0),  # sigma, px
    "motion": (3, 15),  # length, px
    "defocus": (1.0, 3.0),  # radius, px
}


def reframe(image: np.ndarray, rng: np.random.Generator,
            scale_range: tuple[float, float] = FRAMING_SCALE) -> np.ndarray:
    """The image seen closer or farther (zoom drawn log-uniform in `scale_range`), turned (up to
    `FRAMING_DEGREES`) and off-centre (up to `FRAMING_SHIFT` of each side); edge pixels are repeated
    into what comes into view."""
    array = np.asarray(image)
    h, w = array.shape[:2]
    scale = float(np.exp(rng.uniform(*np.log(scale_range))))
    angle = float(rng.uniform(-FRAMING_DEGREES, FRAMING_DEGREES))
    dx, dy = rng.uniform(-FRAMING_SHIFT, FRAMING_SHIFT, 2) * (w, h)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2 + float(dx), (h - 1) / 2 + float(dy)), angle, scale)
    return cv2.warpAffine(array, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def blurred_views(images: Sequence[Any], seed: int = 0, kernels: str = "classic", views: str = "blur",
                  framing_scale: tuple[float, float] = FRAMING_SCALE) -> list[np.ndarray]:
    """One blurred copy of every uint8 image (any size), kind and strength drawn per image (seeded).

    `kernels="mixed"`: each copy is, with even odds, a classic draw or a randomised PSF (curved shake,
    rotated anisotropic Gaussian, disc, compositions: `features.psf`), the blur a model trained with
    `--blur-kernels mixed` has learnt to read. `views="camera"`: `CAMERA_FRAMING_SHARE` of the copies
    are re-framed (`reframe`, zoom within `framing_scale`) before they are blurred."""
    if kernels not in BLUR_VIEW_KERNELS:
        raise ValueError(f"blur view kernels must be one of {BLUR_VIEW_KERNELS}; got {kernels!r}")
    if views not in VIEW_KINDS:
        raise ValueError(f"views must be one of {VIEW_KINDS}; got {views!r}")
    if views == "camera":
        framing = np.random.default_rng([seed, 81])
        chosen = framing.random(len(images)) < CAMERA_FRAMING_SHARE
        images = [reframe(image, framing, framing_scale) if c else image for image, c in zip(images, chosen)]
    rng = np.random.default_rng([seed, 18])
    use_psf = rng.random(len(images)) < 0.5 if kernels == "mixed" else np.zeros(len(images), dtype=bool)
    psfs = iter(sample_psfs(rng, int(use_psf.sum())) if use_psf.any() else ())
    return [convolve_psf(np.asarray(image), next(psfs)) if psf else
            apply_blur(np.asarray(image), sample_blur_spec(rng, BLUR_KINDS, BLUR_VIEW_RANGES))
            for image, psf in zip(images, use_psf)]


def with_blurred_views(images: Sequence[Any], labels: np.ndarray | None = None, seed: int = 0,
                       kernels: str = "classic", views: str = "blur",
                       framing_scale: tuple[float, float] = FRAMING_SCALE) -> tuple[list[Any], np.ndarray | None]:
    """The images followed by their blurred views, and the labels repeated to match (None stays None)."""
    both = list(images) + blurred_views(images, seed, kernels, views, framing_scale)
    return both, None if labels is None else np.concatenate([np.asarray(labels), np.asarray(labels)])
