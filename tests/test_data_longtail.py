"""Long-tail profiles and the rule: frequent 80-90 %, at least one class under 3 %."""

import pytest

from train.data.longtail import (
    LongTailProfile,
    exponential_profile,
    explicit_profile,
    fmnist_lt_v1,
    groups_by_share,
    natural_profile,
)


def test_v1_profile_is_the_protocol_and_follows_the_rule():
    v1 = fmnist_lt_v1()
    assert list(v1.counts) == [100, 100, 5000, 800, 800, 800, 800, 5000, 5000, 5000]
    assert v1.groups == ("rare", "rare", "frequent", "medium", "medium", "medium", "medium", "frequent", "frequent", "frequent")
    assert v1.total == 23400
    assert v1.frequent_share == pytest.approx(20000 / 23400)  # 85.5 %
    assert min(v1.shares) == pytest.approx(100 / 23400)  # 0.43 %
    assert v1.rule_problems() == []
    v1.check()


def test_each_broken_share_is_named_in_the_refusal():
    # Frequent share too low and no class under 3 %: both reasons, with the numbers.
    flat = LongTailProfile("flat", (10,) * 10, ("frequent",) * 4 + ("medium",) * 6)
    with pytest.raises(ValueError, match=r"frequent classes hold 40.0 %.*outside 80-90 %.*smallest class holds 10.00 %.*--allow-rule-break"):
        flat.check()
    flat.check(allow_rule_break=True)  # allowed explicitly
    # Frequent share too high, tail fine: only that reason.
    heavy = LongTailProfile("heavy", (1000, 1000, 50, 10), ("frequent", "frequent", "medium", "rare"))
    assert len(heavy.rule_problems()) == 1 and "frequent classes hold 97.1 %" in heavy.rule_problems()[0]
    # Frequent share right, but no class under 3 %: only that reason.
    no_tail = LongTailProfile("no-tail", (420, 420, 40, 40, 40, 40), ("frequent", "frequent") + ("medium",) * 4)
    assert no_tail.rule_problems() == ["the smallest class holds 4.00 %, not under 3 %"]


def test_profile_validation_names_the_bad_input():
    with pytest.raises(ValueError, match="2 counts but 3 groups"):
        LongTailProfile("x", (5, 5), ("frequent", "rare", "rare"))
    with pytest.raises(ValueError, match="at least one image"):
        LongTailProfile("x", (5, 0), ("frequent", "rare"))
    with pytest.raises(ValueError, match="unknown groups"):
        LongTailProfile("x", (5, 1), ("frequent", "tiny"))
    with pytest.raises(ValueError, match="imbalance_ratio must be >= 1"):
        exponential_profile([100] * 3, 0.5)
    with pytest.raises(ValueError, match="needs 10 numbers"):
        explicit_profile([5, 5], [6000] * 10)


def test_exponential_profile_decays_by_the_ratio_and_groups_by_share():
    profile = exponential_profile([6000] * 10, imbalance_ratio=100, max_per_class=5000)
    assert profile.counts[0] == 5000 and profile.counts[-1] == 50
    ratios = [profile.counts[c] / profile.counts[c + 1] for c in range(9)]
    assert all(r == pytest.approx(100 ** (1 / 9), rel=0.01) for r in ratios)
    # 5000 + 2997 + 1797 = 79 % < 80 %, so the fourth class (1077) completes the frequent group.
    assert profile.groups[:4] == ("frequent",) * 4 and profile.groups[4] == "medium"
    assert profile.groups[-2:] == ("rare", "rare")  # 83 and 50 images: under 3 % of 12,408
    assert 0.80 <= profile.frequent_share <= 0.90
    profile.check()
    # Capped by what a class has.
    assert exponential_profile([6000, 30, 6000], imbalance_ratio=10).counts[1] == 30


def test_natural_profile_of_a_balanced_set_breaks_the_rule():
    natural = natural_profile([500, 500])
    assert natural.counts == (500, 500)
    problems = natural.rule_problems()
    assert any("frequent classes hold 100.0 %" in p for p in problems)
    assert any("smallest class holds 50.00 %" in p for p in problems)


def test_groups_by_share_rule():
    assert groups_by_share([80, 10, 8, 2]) == ("frequent", "medium", "medium", "rare")
    assert groups_by_share([45, 45, 5, 5]) == ("frequent", "frequent", "medium", "medium")
    # Ties are broken by class order, so the grouping is deterministic.
    assert groups_by_share([30, 30, 30, 10]) == ("frequent", "frequent", "frequent", "medium")
