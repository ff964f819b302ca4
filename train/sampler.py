"""Class-balanced sampling, and the class prior it produces.

A sampler with per-class weights w_c draws class c with probability p_c ∝ n_c · w_c. The loss
needs that p (not the dataset's n_c / N) to adjust logits without correcting the imbalance twice.
Draws are seeded per epoch, so an epoch's samples are the same on every rank and after a resume.
"""

from __future__ import annotations

import numpy as np

SAMPLER_MODES = ("none", "inverse", "sqrt", "effective")
DEFAULT_BETA = 0.999  # strength of "effective" (Cui et al., 2019's usual value)


def class_weights(counts: np.ndarray, mode: str, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Per-class sampling weights: none 1, inverse 1/n, sqrt 1/sqrt(n), effective (1-β)/(1-β^n).

    β sets the strength of `effective` (Cui et al., 2019): β → 0 is no balancing, β → 1 is inverse
    frequency; in between, classes larger than about 1/(1-β) images count as equally large.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if mode not in SAMPLER_MODES:
        raise ValueError(f"sampler must be one of {SAMPLER_MODES}; got {mode!r}")
    if (counts <= 0).any():
        raise ValueError(f"every class needs at least one training image to be sampled; counts {counts.astype(int).tolist()}")
    if not 0.0 < beta < 1.0:
        raise ValueError(f"sampler beta must lie in (0, 1); got {beta}")
    if mode == "none":
        return np.ones_like(counts)
    if mode == "inverse":
        return 1.0 / counts
    if mode == "sqrt":
        return 1.0 / np.sqrt(counts)
    return (1.0 - beta) / (1.0 - beta**counts)


def sampled_prior(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The class distribution the sampler actually draws."""
    mass = np.asarray(counts, dtype=np.float64) * np.asarray(weights, dtype=np.float64)
    return mass / mass.sum()


def draw_epoch(labels: np.ndarray, mode: str, num_samples: int, seed: int, epoch: int, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Sample indices (with replacement, like WeightedRandomSampler) for one epoch."""
    counts = np.bincount(labels)
    weights = class_weights(counts, mode, beta)[labels]
    rng = np.random.default_rng([seed, epoch])
    if mode == "none":
        return rng.permutation(len(labels))[:num_samples] if num_samples <= len(labels) else rng.integers(0, len(labels), num_samples)
    return rng.choice(len(labels), size=num_samples, replace=True, p=weights / weights.sum())


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Each rank's disjoint share of the same epoch draw (the distributed class-balanced sampler)."""
    usable = len(indices) - len(indices) % world_size
    return indices[:usable][rank::world_size]
