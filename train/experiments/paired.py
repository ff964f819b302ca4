"""Seed statistics for recipe comparisons: mean ± standard deviation and paired differences.

Two recipes trained with the same seeds share the data order, the initialisation draw and the
augmentation stream, so much of the seed-to-seed noise is common to both. Differencing per seed
and putting a Student-t interval on the differences (a paired t-interval) removes that shared
part; with 3 seeds the interval is wide, which is the honest answer for 3 seeds.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value, nan for none)."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    return float(data.mean()), float(data.std(ddof=1)) if data.size > 1 else 0.0


def paired_difference(candidate: dict[int, float], baseline: dict[int, float], level: float = 0.95
                      ) -> dict[str, float | int]:
    """Mean of (candidate - baseline) over the seeds both have, with a paired t-interval.

    `candidate` and `baseline` map seed -> figure. With one common seed the interval is unbounded
    (reported as nan): one pair says nothing about the noise.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    seeds = sorted(set(candidate) & set(baseline))
    diffs = np.array([candidate[s] - baseline[s] for s in seeds], dtype=np.float64)
    diffs = diffs[np.isfinite(diffs)]
    n = int(diffs.size)
    if n == 0:
        return {"n": 0, "mean": float("nan"), "low": float("nan"), "high": float("nan")}
    mean = float(diffs.mean())
    if n < 2:
        return {"n": n, "mean": mean, "low": float("nan"), "high": float("nan")}
    from scipy import stats

    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1) * diffs.std(ddof=1) / math.sqrt(n))
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half}


def supports_gain(difference: dict[str, float | int]) -> bool:
    """True when the whole interval lies above zero (the candidate is better beyond seed noise)."""
    low = difference.get("low")
    return low is not None and math.isfinite(float(low)) and float(low) > 0.0
