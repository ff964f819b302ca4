"""Blur a batch of images with one PSF each, in one grouped torch convolution.

A per-image `cv2.filter2D` loop costs Python overhead per image; a grouped convolution (one group
per image channel) blurs the whole chosen share of a batch in a single call, so the broader
`blur_kernels="psf"` recipe stays a few % of a training step (issue 18, cost).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from features.psf import sample_psfs


def convolve_batch(images: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W[, C]) images, float (N, k, k) kernels -> the blurred uint8 images, same shape.

    Borders are reflected (reflect-101), so edges do not darken.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"convolve_batch expects uint8 images; got {images.dtype}")
    if len(images) != len(kernels) or kernels.ndim != 3 or kernels.shape[1] != kernels.shape[2]:
        raise ValueError(f"need one square kernel per image; got {images.shape} and {kernels.shape}")
    if len(images) == 0:
        return images.copy()
    gray = images.ndim == 3
    x = torch.from_numpy(np.ascontiguousarray(images[..., None] if gray else images)).float()
    n, h, w, c = x.shape
    x = x.permute(0, 3, 1, 2).reshape(1, n * c, h, w)
    k = kernels.shape[1]
    pad = k // 2
    mode = "reflect" if pad < min(h, w) else "replicate"
    x = F.pad(x, (pad, pad, pad, pad), mode=mode)
    # conv2d is a correlation: flip the kernels so asymmetric PSFs (shake paths) act as convolutions.
    weight = torch.from_numpy(np.ascontiguousarray(kernels[:, ::-1, ::-1])).float()
    weight = weight[:, None].repeat_interleave(c, dim=0)  # (n*c, 1, k, k): one group per image channel
    y = F.conv2d(x, weight, groups=n * c).reshape(n, c, h, w).permute(0, 2, 3, 1)
    out = y.round().clamp(0, 255).to(torch.uint8).numpy()
    return out[..., 0] if gray else out


def psf_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image blurred with its own freshly drawn random PSF (`features.psf.sample_psfs`)."""
    return convolve_batch(images, sample_psfs(rng, len(images)))
