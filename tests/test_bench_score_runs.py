"""bench/score_runs.py: a compare baseline is read by variant and split, and runs pair by training seed."""

from __future__ import annotations

import json

import pytest

from bench.score_runs import PAIRED_FIGURES, baseline_rows, print_paired


def _row(seed: int, variant: str, balanced: float, split: str = "dev") -> dict:
    return {"seed": seed, "variant": variant, "split": split, **{k: 0.5 for k in PAIRED_FIGURES}, "balanced_accuracy": balanced}


def test_baseline_is_one_variant_of_a_compare_json_and_runs_pair_by_seed(tmp_path, capsys):
    path = tmp_path / "compare.json"
    path.write_text(json.dumps({"runs": [_row(0, "default", 0.90), _row(1, "default", 0.92), _row(2, "default", 0.91),
                                         _row(0, "other", 0.10)]}))
    base = baseline_rows(f"{path}:default", "dev")
    assert sorted(base) == [0, 1, 2] and base[0]["balanced_accuracy"] == 0.90
    runs = [_row(2, "mine", 0.93), _row(0, "mine", 0.91), _row(1, "mine", 0.93)]  # listed out of seed order
    paired = print_paired(runs, base)
    assert paired["balanced_accuracy"]["mean"] == pytest.approx(100 * (0.02 + 0.01 + 0.01) / 3)
    assert paired["recall_rare"]["mean"] == pytest.approx(0.0)
    assert "balanced_accuracy" in capsys.readouterr().out


def test_bad_baselines_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "compare.json"
    path.write_text(json.dumps({"runs": [_row(0, "default", 0.9, split="test")]}))
    with pytest.raises(ValueError, match="COMPARE_JSON:VARIANT"):
        baseline_rows(str(tmp_path / "missing.json") + ":default", "dev")
    with pytest.raises(ValueError, match="no runs of variant"):
        baseline_rows(f"{path}:nope", "test")
    with pytest.raises(ValueError, match="another split"):
        baseline_rows(f"{path}:default", "dev")
