"""A consistency objective between a clean and a freshly blurred view of the same image, in one batch.

Why (issue 18): the model reads the blur it trained on and loses ground quickly on blur it never saw.
Cross-entropy on blurred images teaches "this blurred image is a shirt"; it does not ask the answer
to stay the same when only the blur changes. AugMix (Hendrycks et al., 2020) adds a Jensen-Shannon
divergence between the class distributions of an image's clean and corrupted views, and that is what
made its models hold up on corruptions they never trained on.

AugMix pays a forward pass per extra view. Here the twin lives *inside* the batch: the first half of
each drawn batch is kept as drawn (no fresh blur), the second half is the same images again, every
sharp one freshly blurred (the recipe's own blur kernels). The step costs what a plain step costs;
each step reads half as many distinct images, each twice (as repeated augmentation does). The share
of the batch that is freshly blurred stays one half of the sharp images, as with `blur_augment` 0.5.
Both halves get the class loss; the divergence ties each pair's answers together. It compares the
answers the class loss scores (logits plus the sampled prior's offset, `LogitAdjustedLoss.adjusted`):
on the raw logits of a Balanced-Softmax model, one constant lift of the rare classes makes every
answer alike, and the divergence can be emptied without reading the image at all.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from features import FeatureConfig
from train.batches import SplitArrays, blur_augment, concat_splits


def twin_views(batch: SplitArrays, rng: np.random.Generator, config: FeatureConfig, kinds: tuple[str, ...],
               ranges: dict | None, kernels: str) -> SplitArrays:
    """The first half of `batch` as drawn, then the same images with every sharp one freshly blurred.

    Row i and row i + len // 2 are one image's two views; an odd last row is dropped. Images stored
    blurred are repeated unchanged (their twins still differ by the later shift and flip)."""
    half = len(batch) // 2
    if half < 1:
        raise ValueError(f"twin views need a batch of at least 2 images; got {len(batch)}")
    anchors = batch.take(np.arange(half))
    blurred = blur_augment(anchors, rng, 1.0, config, kinds, ranges, kernels=kernels)
    return concat_splits([anchors, blurred])


def twin_divergence(logits: torch.Tensor) -> torch.Tensor:
    """Mean Jensen-Shannon divergence (nats) between the class distributions of rows i and i + N/2.

    Symmetric, zero when the twins agree, at most ln 2; the mixture is clamped as AugMix clamps it,
    so a confident pair never takes the log of zero."""
    half = len(logits) // 2
    if half < 1 or len(logits) != 2 * half:
        raise ValueError(f"twin logits come in pairs (an even count >= 2); got {len(logits)}")
    first, second = F.softmax(logits[:half], dim=1), F.softmax(logits[half:], dim=1)
    log_mixture = torch.clamp((first + second) / 2, 1e-7, 1.0).log()
    return (F.kl_div(log_mixture, first, reduction="batchmean") + F.kl_div(log_mixture, second, reduction="batchmean")) / 2

