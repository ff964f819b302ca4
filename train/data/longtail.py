"""Long-tail profiles: how many images each class keeps, which group it is in, and the user's rule.

The rule the product promises: the frequent classes hold 80-90 % of the images and at least one
class holds under 3 %. Every profile is checked against it before anything is written, because a
dataset that silently misses it would make every later figure about "rare classes" meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.groups import GROUPS

RULE = "frequent classes hold 80-90 % of the images and at least one class holds under 3 %"
GROUP_RULE = (
    "explicit groups for FMNIST-LT-Blur v1; otherwise frequent = the fewest largest classes that "
    "together hold at least 80 % of the images, rare = classes under 3 %, medium = the rest"
)
FREQUENT_SHARE_RANGE = (0.80, 0.90)
RARE_SHARE = 0.03


def round_half_up(x: float) -> int:
    """Protocol counts use round-half-up (Python's round() would send 0.5 to 0)."""
    return int(np.floor(x + 0.5))


@dataclass(frozen=True)
class LongTailProfile:
    name: str
    counts: tuple[int, ...]  # images kept per class (train + validation)
    groups: tuple[str, ...]  # frequent / medium / rare per class

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.groups):
            raise ValueError(f"profile has {len(self.counts)} counts but {len(self.groups)} groups")
        if any(c < 1 for c in self.counts):
            raise ValueError(f"every class needs at least one image; counts {list(self.counts)}")
        bad = [g for g in self.groups if g not in GROUPS]
        if bad:
            raise ValueError(f"unknown groups {bad}; use {GROUPS}")

    @property
    def total(self) -> int:
        return int(sum(self.counts))

    @property
    def shares(self) -> list[float]:
        return [c / self.total for c in self.counts]

    @property
    def frequent_share(self) -> float:
        return sum(s for s, g in zip(self.shares, self.groups) if g == "frequent")

    def rule_problems(self) -> list[str]:
        """Why the profile breaks the rule; empty when it follows it."""
        problems = []
        low, high = FREQUENT_SHARE_RANGE
        if not low <= self.frequent_share <= high:
            problems.append(
                f"frequent classes hold {100 * self.frequent_share:.1f} % of the images, outside {100 * low:.0f}-{100 * high:.0f} %"
            )
        smallest = min(self.shares)
        if smallest >= RARE_SHARE:
            problems.append(f"the smallest class holds {100 * smallest:.2f} %, not under {100 * RARE_SHARE:.0f} %")
        return problems

    def check(self, allow_rule_break: bool = False) -> None:
        problems = self.rule_problems()
        if problems and not allow_rule_break:
            raise ValueError(
                f"profile '{self.name}' breaks the long-tail rule ({RULE}): " + "; ".join(problems)
                + ". Choose another profile or pass --allow-rule-break."
            )


def groups_by_share(counts: list[int]) -> tuple[str, ...]:
    """Frequent = fewest largest classes reaching 80 %; rare = under 3 %; medium = the rest."""
    total = sum(counts)
    order = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    groups = ["medium"] * len(counts)
    cumulative = 0.0
    for c in order:
        if cumulative >= FREQUENT_SHARE_RANGE[0]:
            break
        groups[c] = "frequent"
        cumulative += counts[c] / total
    for c in range(len(counts)):
        if groups[c] != "frequent" and counts[c] / total < RARE_SHARE:
            groups[c] = "rare"
    return tuple(groups)


def fmnist_lt_v1() -> LongTailProfile:
    """FMNIST-LT-Blur v1: frequent 2, 7, 8, 9 -> 5000; medium 3, 4, 5, 6 -> 800; rare 0, 1 -> 100."""
    groups = ["rare", "rare", "frequent", "medium", "medium", "medium", "medium", "frequent", "frequent", "frequent"]
    size = {"frequent": 5000, "medium": 800, "rare": 100}
    return LongTailProfile("fmnist-lt-blur-v1", tuple(size[g] for g in groups), tuple(groups))


def exponential_profile(available: list[int], imbalance_ratio: float, max_per_class: int | None = None) -> LongTailProfile:
    """n_c = n_max * ratio^(-c / (C - 1)) in class order, capped by what each class has."""
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1; got {imbalance_ratio}")
    top = min(max_per_class or max(available), max(available))
    k = len(available)
    counts = [max(1, min(available[c], round_half_up(top * imbalance_ratio ** (-c / max(1, k - 1))))) for c in range(k)]
    return LongTailProfile(f"exponential-{imbalance_ratio:g}", tuple(counts), groups_by_share(counts))


def natural_profile(available: list[int]) -> LongTailProfile:
    return LongTailProfile("natural", tuple(available), groups_by_share(available))


def explicit_profile(counts: list[int], available: list[int]) -> LongTailProfile:
    if len(counts) != len(available):
        raise ValueError(f"--counts needs {len(available)} numbers (one per class); got {len(counts)}")
    return LongTailProfile("explicit", tuple(counts), groups_by_share(counts))
