"""A post-hoc shift of the classifier's bias toward the rare classes (logit adjustment, Menon et al.,
2021, "Long-tail learning via logit adjustment"): logits + tau * (-log prior), the prior being the
training split's class frequencies.

Why a shift on top of a class-balanced head: the head stage (`train.head_retrain`) balances the
classes on the *training* images' embeddings, and a class with ninety training images is fitted
almost perfectly there: its embeddings sit tight and apart, so the balanced head sees no reason to
favour it. On images it never saw, the same class spreads out toward its look-alikes (T-shirt/top
into Shirt), and its recall falls further than the frequent classes'. Moving its bias up by a
fixed share of its log-rarity buys that recall back, at a cost to the look-alike class; `tau` is
the one setting of the trade, chosen on dev (docs/RESULTS.md), never on test.

The shift is folded into the classifier's bias, so the checkpoint format stays a plain
`nn.Linear`, and everything fitted after the head stage (temperatures, the unfamiliar-image score)
sees the shifted logits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

MAX_PRIOR_SHIFT = 2.0  # twice a full logit adjustment: past it the rare classes would take every doubtful image


def check_prior_shift(tau: float) -> None:
    """Refuse a shift that is negative, not finite, or beyond `MAX_PRIOR_SHIFT`."""
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and 0.0 <= tau <= MAX_PRIOR_SHIFT):
        raise ValueError(f"head_prior_shift must lie in [0, {MAX_PRIOR_SHIFT}]; got {tau!r}")


def prior_bias(labels: np.ndarray, n_classes: int, tau: float) -> np.ndarray:
    """(n_classes,) -tau * log(class frequency in `labels`), zero-mean (softmax ignores a constant).

    Every class must occur in `labels`: a class with no training image has no prior to adjust for."""
    check_prior_shift(tau)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"training labels must lie in 0..{n_classes - 1}; got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(f"every class needs training images for a prior shift; none for classes {missing}")
    bias = -tau * np.log(counts / counts.sum())
    return bias - bias.mean()


def shift_classifier(classifier: nn.Linear, bias: np.ndarray) -> nn.Linear:
    """A copy of `classifier` whose bias is moved by `bias` (weights untouched)."""
    if bias.shape != (classifier.out_features,):
        raise ValueError(f"the shift holds {bias.shape} values for a classifier of {classifier.out_features} classes")
    shifted = nn.Linear(classifier.in_features, classifier.out_features, bias=True)
    with torch.no_grad():
        shifted.weight.copy_(classifier.weight)
        old = classifier.bias if classifier.bias is not None else torch.zeros(classifier.out_features)
        shifted.bias.copy_(old + torch.as_tensor(bias, dtype=old.dtype, device=old.device))
    return shifted.to(classifier.weight.device)
