"""Blurred views of in-domain images, for fitting the unfamiliar-image score (issue 18, part 3).

Fitted on sharp and lightly blurred training images only, the score calls a garment blurred past the
training ranges "unfamiliar", although the model still reads it right most of the time: the warning
then fires on exactly the images the product exists for. Adding one blurred copy of every fitting
image, at strengths up to where accuracy is still about 70 % (Gaussian sigma 3, motion 15 px,
defocus radius 3 px on the v1 default model), teaches the statistics that blur is familiar, while
photographs, noise and digits stay far away.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from features.kernels import BLUR_KINDS, apply_blur, sample_blur_spec
from features.psf import convolve_psf, sample_psfs

BLUR_VIEW_KERNELS = ("classic", "mixed")

BLUR_VIEW_RANGES: dict[str, tuple[float, float]] = {
    "gaussian": (1.0, 3.0),  # sigma, px
    "motion": (3, 15),  # length, px
    "defocus": (1.0, 3.0),  # radius, px
}


def blurred_views(images: Sequence[Any], seed: int = 0, kernels: str = "classic") -> list[np.ndarray]:
    """One blurred copy of every uint8 image (any size), kind and strength drawn per image (seeded).

    `kernels="mixed"`: each copy is, with even odds, a classic draw or a randomised PSF (curved shake,
    rotated anisotropic Gaussian, disc, compositions: `features.psf`), the blur a model trained with
    `--blur-kernels mixed` has learnt to read."""
    if kernels not in BLUR_VIEW_KERNELS:
        raise ValueError(f"blur view kernels must be one of {BLUR_VIEW_KERNELS}; got {kernels!r}")
    rng = np.random.default_rng([seed, 18])
    use_psf = rng.random(len(images)) < 0.5 if kernels == "mixed" else np.zeros(len(images), dtype=bool)
    psfs = iter(sample_psfs(rng, int(use_psf.sum())) if use_psf.any() else ())
    return [convolve_psf(np.asarray(image), next(psfs)) if psf else
            apply_blur(np.asarray(image), sample_blur_spec(rng, BLUR_KINDS, BLUR_VIEW_RANGES))
            for image, psf in zip(images, use_psf)]


def with_blurred_views(images: Sequence[Any], labels: np.ndarray | None = None,
                       seed: int = 0, kernels: str = "classic") -> tuple[list[Any], np.ndarray | None]:
    """The images followed by their blurred views, and the labels repeated to match (None stays None)."""
    views = blurred_views(images, seed, kernels)
    both = list(images) + views
    return both, None if labels is None else np.concatenate([np.asarray(labels), np.asarray(labels)])
