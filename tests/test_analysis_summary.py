"""The plain-language summary follows the numbers: sign, size and significance change the words."""

from __future__ import annotations

import copy

from analysis.measure import compute_metrics
from analysis.summary import summarize


def _sentence(sentences: list[str], word: str) -> str:
    matches = [s for s in sentences if word in s]
    assert matches, f"no sentence mentions {word!r}: {sentences}"
    return matches[0]


def test_large_rare_and_blur_penalties_are_reported_with_numbers_and_intervals(make_table):
    metrics = compute_metrics(make_table(n=1200, rare_cost=0.35, blur_cost=0.25), 120.0, n_resamples=200)
    sentences = summarize(metrics)
    gap = metrics["gaps"]["frequent_minus_rare_recall"]
    rare = _sentence(sentences, "Rare classes")
    assert "less often than frequent" in rare
    assert f"{gap['points']:.1f} points" in rare
    assert f"{gap['ci_points'][0]:.1f}–{gap['ci_points'][1]:.1f}" in rare
    blur = _sentence(sentences, "Blur costs")
    assert f"{metrics['gaps']['sharp_minus_blurred_accuracy']['points']:.1f} points" in blur


def test_no_penalty_is_called_not_significant(make_table):
    metrics = compute_metrics(make_table(n=600, rare_cost=0.0, blur_cost=0.0, seed=3), 120.0, n_resamples=200)
    sentences = summarize(metrics)
    assert not metrics["gaps"]["frequent_minus_rare_recall"]["significant"]
    assert "not significant" in _sentence(sentences, "recalled about equally often")
    assert not metrics["gaps"]["sharp_minus_blurred_accuracy"]["significant"]
    assert "not significant" in _sentence(sentences, "Blur does not measurably change accuracy")


def test_reversed_gaps_change_the_wording(make_table):
    metrics = compute_metrics(make_table(n=1200), 120.0, n_resamples=100)
    flipped = copy.deepcopy(metrics)
    flipped["gaps"]["frequent_minus_rare_recall"] = {"points": -12.0, "ci_points": [-18.0, -6.0], "significant": True}
    flipped["gaps"]["sharp_minus_blurred_accuracy"] = {"points": -5.0, "ci_points": [-8.0, -2.0], "significant": True}
    sentences = summarize(flipped)
    assert "12.0 points more often than frequent ones (95 % CI -18.0 to -6.0)" in _sentence(sentences, "Rare classes")
    assert "5.0 points better than sharp ones" in _sentence(sentences, "Blurred images are classified")
    small = copy.deepcopy(metrics)
    small["gaps"]["frequent_minus_rare_recall"] = {"points": 1.2, "ci_points": [0.3, 2.1], "significant": True}
    assert "significant but small" in _sentence(summarize(small), "Rare classes")


def test_detection_and_calibration_sentences_follow_the_numbers(make_table):
    metrics = compute_metrics(make_table(n=600), 120.0, n_resamples=100)
    det = metrics["blur_detection"]
    text = _sentence(summarize(metrics), "blur detector")
    assert f"({det['laplacian_fitted']['threshold']:.1f})" in text and "learned blur head" in text
    better = copy.deepcopy(metrics)
    better["blur_detection"]["laplacian_fitted"]["accuracy"] = det["laplacian_default"]["accuracy"] + 0.1
    assert "10.0 points more accurate than" in _sentence(summarize(better), "blur detector")
    over = copy.deepcopy(metrics)
    over["calibration"].update(ece=0.12, overconfidence_points=9.0, overconfidence_points_ci=[7.0, 11.0])
    assert "overconfident" in _sentence(summarize(over), "calibrat")
    good = copy.deepcopy(metrics)
    good["calibration"].update(ece=0.01, overconfidence_points=0.2, overconfidence_points_ci=[-0.5, 0.9])
    assert "well calibrated" in _sentence(summarize(good), "calibrat") and "not well" not in _sentence(summarize(good), "calibrat")
    nohead = compute_metrics(make_table(n=600, learned_blur=False), 120.0, n_resamples=50)
    assert "no learned blur head" in _sentence(summarize(nohead), "blur detector")
