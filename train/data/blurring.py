"""Blur an exact share of every class, reproducibly.

Per class, exactly round(fraction * n) images are chosen and each gets one blur drawn from the
allowed kinds and ranges. Choosing per class (not over the whole split) is what guarantees the rare
classes are blurred too, so "accuracy on blurred rare images" can be measured at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from features import BLUR_KINDS, DEFAULT_BLUR_RANGES, BlurSpec, apply_blur, sample_blur_spec
from train.data.longtail import round_half_up

MIN_BLUR_FRACTION = 0.3


@dataclass(frozen=True)
class BlurOptions:
    """What to blur: the share of every class, the kinds to draw from (uniformly), their parameter
    ranges (docs/BENCHMARK.md: gaussian sigma U[1, 2], motion length {3..7} px at U[0, 180) degrees, defocus
    radius U[1, 2] px)."""

    fraction: float = 0.4
    kinds: tuple[str, ...] = BLUR_KINDS
    ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_BLUR_RANGES))

    @property
    def minimum(self) -> float:
        return MIN_BLUR_FRACTION

    def check(self, allow_rule_break: bool = False) -> None:
        if not 0 <= self.fraction <= 1:
            raise ValueError(f"blur fraction must lie in [0, 1]; got {self.fraction}")
        if self.fraction < MIN_BLUR_FRACTION and not allow_rule_break:
            raise ValueError(
                f"blur fraction {self.fraction:g} is under the rule's minimum {MIN_BLUR_FRACTION:g} "
                "(at least 30 % of every class is blurred); pass --allow-rule-break to build it anyway"
            )
        unknown = [k for k in self.kinds if k not in BLUR_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"blur kinds must be a non-empty subset of {BLUR_KINDS}; got {list(self.kinds)}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"blur kinds are listed twice: {list(self.kinds)} (drawing is uniform over the list)")
        for kind in self.kinds:
            low, high = self.ranges.get(kind, (None, None))
            if low is None or high is None or not 0 < low <= high:
                raise ValueError(f"blur range of {kind} must be (low, high) with 0 < low <= high; got {self.ranges.get(kind)}")


def choose_blurs(labels: np.ndarray, options: BlurOptions, rng: np.random.Generator) -> list[BlurSpec | None]:
    """A blur spec for each chosen image, None for the ones left sharp."""
    specs: list[BlurSpec | None] = [None] * len(labels)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen = np.sort(rng.permutation(members)[: round_half_up(options.fraction * len(members))])
        for i in chosen:
            specs[i] = sample_blur_spec(rng, options.kinds, options.ranges)
    return specs


def apply_blurs(images: np.ndarray, specs: list[BlurSpec | None], desc: str, progress: bool = True) -> np.ndarray:
    """A copy of `images` with each spec applied (images with None stay as they were)."""
    out = images.copy()
    for i, spec in enumerate(tqdm(specs, desc=desc, unit="img", disable=not progress)):
        if spec is not None:
            out[i] = apply_blur(images[i], spec)
    return out
