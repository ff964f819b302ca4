"""The pre-declared rule that names the class-balanced default, on hand-made dev figures."""

from __future__ import annotations

from train.experiments.compare_report import markdown, summarise
from train.experiments.head_comparison import rule_choice

FIGURES = ("balanced_accuracy", "recall_rare", "recall_medium", "recall_frequent", "worst_class_recall",
           "accuracy_blurred", "accuracy_sharp", "blur_gap_points", "ece", "ece_rare", "train_seconds")


def _rows(variant: str, balanced: list[float], rare: list[float]) -> list[dict]:
    return [{"variant": variant, "seed": s, "split": "dev", "top1": b, **{k: 0.5 for k in FIGURES},
             "balanced_accuracy": b, "recall_rare": r} for s, (b, r) in enumerate(zip(balanced, rare))]


def _summary(**variants):
    rows = [row for name, (b, r) in variants.items() for row in _rows(name, b, r)]
    return summarise(rows, list(variants), [0, 1, 2])


def test_a_class_balanced_variant_within_noise_and_not_worse_on_rare_becomes_the_default():
    summary = _summary(default=([0.90, 0.91, 0.89], [0.85, 0.86, 0.84]), crt=([0.905, 0.905, 0.895], [0.88, 0.87, 0.86]),
                       tau_norm=([0.95, 0.95, 0.95], [0.95, 0.95, 0.95]))
    choice, why = rule_choice(summary, "default")
    assert choice == "crt", why  # tau-norm scores higher but uses no class-balanced sampling
    meta = {"baseline": "default", "split": "dev", "seeds": [0, 1, 2], "recipe": "default", "device": "cpu",
            "command": "", "common": {}, "skipped_runs": [], "variants": {"crt": {"head_retrain": "crt"}, "tau_norm": {}}}
    table = markdown(meta, summary, None)
    assert "crt" in table and "tau_norm" in table


def test_a_variant_clearly_worse_on_rare_recall_is_not_chosen_and_the_closest_within_half_a_point_is_kept():
    summary = _summary(default=([0.90, 0.91, 0.89], [0.85, 0.86, 0.84]), crt=([0.898, 0.908, 0.888], [0.70, 0.71, 0.69]))
    choice, why = rule_choice(summary, "default")
    assert choice == "crt" and "within 0.5 points" in why
    summary = _summary(default=([0.90, 0.91, 0.89], [0.85, 0.86, 0.84]), lws=([0.85, 0.86, 0.84], [0.80, 0.81, 0.79]))
    choice, why = rule_choice(summary, "default")
    assert choice is None and "the default stays" in why
