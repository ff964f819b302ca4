"""Logit-adjusted cross-entropy (Menon et al., 2021) against the prior the sampler produces."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class LogitAdjustedLoss(nn.Module):
    """CE(logits + τ·log p, y): with p the sampled class prior, rare classes get a larger margin.

    τ = 0 is plain cross-entropy. Using the *sampled* prior means that when the sampler already
    balances the classes (p uniform), the adjustment vanishes instead of correcting twice.
    """

    def __init__(self, prior: np.ndarray, tau: float = 1.0) -> None:
        super().__init__()
        prior = np.asarray(prior, dtype=np.float64)
        if prior.ndim != 1 or (prior <= 0).any():
            raise ValueError("prior must be a 1-D array of positive class probabilities")
        self.tau = float(tau)
        self.register_buffer("offset", torch.tensor(self.tau * np.log(prior / prior.sum()), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.adjusted(logits), target)

    def per_image(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(N,) the loss of each image, unreduced: for targets weighted per image (train.mixing)."""
        return F.cross_entropy(self.adjusted(logits), target, reduction="none")

    def adjusted(self, logits: torch.Tensor) -> torch.Tensor:
        """The logits the loss scores: with the sampled prior's offset, i.e. the answer for the classes as drawn."""
        return logits + self.offset.to(logits.dtype)
