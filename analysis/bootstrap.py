"""Percentile bootstrap over images, vectorised through index matrices.

Every statistic in the report is a function of an index matrix `idx` of shape (b, N): row r lists
the N images of resample r. The point estimate is the same function on the identity row, so the
number printed and the interval around it can never come from two different formulas. Resamples
are drawn within strata (class x blurred/sharp): each class keeps its size, which is what a test
split with a fixed number of images per class is, and the small rare classes are never left out
of a resample by chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95
# Largest number of indices held at once (chunk rows x images); ~16 MB of int64.
_MAX_CELLS = 2_000_000

Statistic = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile interval (NaN when the statistic is undefined)."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray


def identity_indices(n: int) -> np.ndarray:
    """The (1, n) index matrix of the sample itself: evaluates a statistic without resampling."""
    return np.arange(n, dtype=np.int64)[None, :]


def stratified_indices(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, N) index matrix: each stratum resampled with replacement to its own size."""
    strata = np.asarray(strata)
    if strata.ndim != 1 or strata.size == 0:
        raise ValueError(f"strata must be a non-empty 1-d array, got shape {strata.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    columns = []
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        draws = rng.integers(0, members.size, size=(n_resamples, members.size))
        columns.append(members[draws])
    return np.concatenate(columns, axis=1)


def bootstrap(
    statistic: Statistic,
    strata: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Estimate]:
    """Point estimate and percentile interval of every array `statistic` returns.

    `statistic(idx)` maps a (b, N) index matrix to named arrays of shape (b, ...). Resamples are
    drawn in chunks so memory stays bounded for large test splits; the seed fixes the result.
    Resamples where a statistic is undefined (NaN) are ignored for its interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    strata = np.asarray(strata)
    n = strata.size
    point = {name: np.asarray(value)[0] for name, value in statistic(identity_indices(n)).items()}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, _MAX_CELLS // max(n, 1)))
    samples: dict[str, list[np.ndarray]] = {name: [] for name in point}
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        for name, value in statistic(stratified_indices(strata, b, rng)).items():
            samples[name].append(np.asarray(value, dtype=np.float64))
        done += b
    tail = 100.0 * (1.0 - level) / 2.0
    result = {}
    for name, value in point.items():
        stacked = np.concatenate(samples[name], axis=0)
        low, high = _nan_percentiles(stacked, (tail, 100.0 - tail))
        result[name] = Estimate(np.asarray(value, dtype=np.float64), low, high)
    return result


def _nan_percentiles(samples: np.ndarray, qs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles along axis 0, NaN where every resample was undefined (without warnings)."""
    shape = samples.shape[1:]
    flat = samples.reshape(samples.shape[0], -1)
    low = np.full(flat.shape[1], np.nan)
    high = np.full(flat.shape[1], np.nan)
    has_data = (~np.isnan(flat)).any(axis=0)
    if has_data.any():
        low[has_data], high[has_data] = np.nanpercentile(flat[:, has_data], qs, axis=0)
    return low.reshape(shape), high.reshape(shape)
