"""Wilson score intervals for shares (accuracy, warning rate) measured on a finite set of images."""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % (z = 1.96) Wilson interval of a share: unlike the normal approximation it stays inside
    [0, 1] and is honest near 0 % and 100 %, where warning rates live."""
    if n <= 0:
        raise ValueError(f"a share needs at least one trial; got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n]; got {successes} of {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
