"""A consistency objective between a clean and a freshly blurred view of the same image, in one batch.

Why (issue 18): the model reads the blur it trained on and loses ground quickly on blur it never saw.
Cross-entropy on blurred images teaches "this blurred image is a shirt"; it does not ask the answer
to stay the same when only the blur changes. AugMix (Hendrycks et al., 2020) adds a Jensen-Shannon
divergence between the class distributions of an image's clean and corrupted views, and that is what
made its models hold up on corruptions they never trained on.

AugMix pays a forward pass per extra view. Here the twin lives *inside* the batch: the last rows of
each drawn batch give way to the first rows again, every sharp one freshly blurred (the recipe's own
blur kernels), and the first rows are kept as drawn (no fresh blur); the rows between get the usual
fresh blur. The step costs what a plain step costs; with the twins' share at one half (every row in a
pair) a step reads half as many distinct images, each twice (as repeated augmentation does); a
smaller share keeps more. The share of the sharp images freshly blurred stays one half either way.
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


def check_share(share: float) -> None:
    """Raise ValueError unless `share` (the twins' share of a batch) lies in (0, 0.5]: TrainConfig.validate calls this."""
    if not 0.0 < share <= 0.5:
        raise ValueError(f"consistency_share must lie in (0, 0.5] (the twins' share of a batch); got {share}")


def twin_count(n: int, share: float) -> int:
    """How many of a batch's n rows are twins: `share` of them, at most half, at least one pair."""
    check_share(share)
    if n < 2:
        raise ValueError(f"twin views need a batch of at least 2 images; got {n}")
    return min(n // 2, max(1, round(share * n)))


def _check_pairs(pairs: int, n: int) -> None:
    if not 1 <= pairs <= n // 2:
        raise ValueError(f"twin pairs must number 1..{n // 2} for {n} rows; got {pairs}")


def twin_views(batch: SplitArrays, rng: np.random.Generator, config: FeatureConfig, kinds: tuple[str, ...],
               ranges: dict | None, kernels: str, pairs: int | None = None, blur_fraction: float = 0.5) -> SplitArrays:
    """The batch with its last k rows (k = `pairs`, from `twin_count`) given way to freshly blurred twins of its first k.

    Rows [0, k) are drawn images kept as they are (the anchors); rows [k, n - k) are drawn images with
    the recipe's fresh blur (`blur_fraction` of their sharp ones); rows [n - k, n) are the anchors
    again, every sharp one freshly blurred. Row i and row n - k + i are one image's two views. With
    `blur_fraction` 0.5 the freshly blurred share of the sharp images is one half whatever k is, as
    without twins; fewer pairs keep more distinct images per step. `pairs` None: every row in a pair
    (k = n // 2). The caller passes the same k to `twin_divergence`. Images stored blurred are
    repeated unchanged (their twins still differ by the later shift and flip)."""
    n = len(batch)
    k = twin_count(n, 0.5) if pairs is None else pairs
    _check_pairs(k, n)
    anchors = batch.take(np.arange(k))
    drawn = blur_augment(batch.take(np.arange(k, n - k)), rng, blur_fraction, config, kinds, ranges, kernels=kernels)
    twins = blur_augment(anchors, rng, 1.0, config, kinds, ranges, kernels=kernels)
    return concat_splits([anchors, drawn, twins])


def twin_divergence(logits: torch.Tensor, pairs: int | None = None) -> torch.Tensor:
    """Mean Jensen-Shannon divergence (nats) between the class distributions of rows i and N - pairs + i.

    `pairs` defaults to N / 2 (every row is in a pair). Symmetric, zero when the twins agree, at most
    ln 2; the mixture is clamped as AugMix clamps it, so a confident pair never takes the log of zero."""
    n = len(logits)
    if pairs is None:
        if n % 2:
            raise ValueError(f"without a pair count, twin logits come in pairs (an even count); got {n}")
        pairs = n // 2
    _check_pairs(pairs, n)
    first, second = F.softmax(logits[:pairs], dim=1), F.softmax(logits[n - pairs:], dim=1)
    log_mixture = torch.clamp((first + second) / 2, 1e-7, 1.0).log()
    return (F.kl_div(log_mixture, first, reduction="batchmean") + F.kl_div(log_mixture, second, reduction="batchmean")) / 2
