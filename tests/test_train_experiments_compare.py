"""`blurfuse compare`: seeds, paired differences, the pre-declared winner, the time budget."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from train.experiments.compare import Budget, parse_variant
from train.experiments.compare_report import summarise, winner, write_outputs
from train.experiments.paired import mean_std, paired_difference, supports_gain
from blurfuse.cli import main

SPLIT = "dev"


def test_paired_interval_is_the_student_t_interval_of_the_per_seed_differences():
    diff = paired_difference({0: 0.92, 1: 0.921, 2: 0.909}, {0: 0.90, 1: 0.90, 2: 0.89})
    d = np.array([0.02, 0.021, 0.019])
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t(0.975, df=2)
    assert diff["n"] == 3 and diff["mean"] == pytest.approx(d.mean())
    assert (diff["low"], diff["high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert supports_gain(diff)
    noisy = paired_difference({0: 0.95, 1: 0.85}, {0: 0.90, 1: 0.90})
    assert noisy["low"] < 0 < noisy["high"] and not supports_gain(noisy)


def test_pairing_uses_only_the_seeds_both_sides_have_and_one_pair_has_no_interval():
    diff = paired_difference({0: 0.5, 1: 0.6}, {1: 0.4, 2: 0.9})
    assert diff["n"] == 1 and diff["mean"] == pytest.approx(0.2) and math.isnan(diff["low"])
    assert not supports_gain(diff)
    assert mean_std([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError, match="level"):
        paired_difference({0: 1.0}, {0: 1.0}, level=1.5)


def _row(variant: str, seed: int, balanced: float) -> dict:
    return {"variant": variant, "seed": seed, "balanced_accuracy": balanced, "recall_rare": balanced,
            "worst_class_recall": balanced - 0.1, "accuracy_blurred": balanced, "accuracy_sharp": balanced + 0.02,
            "blur_gap_points": 2.0, "ece": 0.03, "train_seconds": 10.0}


def test_winner_needs_every_seed_and_the_files_say_the_same(tmp_path):
    rows = [_row("base", s, 0.80 + 0.01 * s) for s in range(3)] + [_row("better", s, 0.85 + 0.01 * s) for s in range(3)]
    rows += [_row("partial", 0, 0.99)]  # best mean, but one seed only: the rule skips it
    summary = summarise(rows, ["base", "better", "partial"], [0, 1, 2])
    assert winner(summary) == "better"
    assert summary[1]["diff_balanced_accuracy"]["mean"] == pytest.approx(0.05) and summary[1]["gain_supported"]
    meta = {"data": "d", "recipe": "smoke", "split": "dev", "seeds": [0, 1, 2], "device": "cpu", "baseline": "base",
            "command": "blurfuse compare ...", "common": {}, "variants": {"base": {}, "better": {"x": 1}, "partial": {}}}
    write_outputs(tmp_path, meta, rows, summary, None)
    table = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert [r["variant"] for r in table] == ["base", "better", "partial"]
    assert float(table[1]["diff_balanced_accuracy_mean"]) == pytest.approx(0.05)
    assert len(list(csv.DictReader((tmp_path / "runs.csv").open()))) == 7
    markdown = (tmp_path / "compare.md").read_text()
    assert "| better | 3 | 86.0 ± 1.0 |" in markdown and "blurfuse compare ..." in markdown


def test_variant_syntax_and_bad_variants_are_refused_before_training(tmp_path):
    assert parse_variant("ema:ema_decay=0.99 select=last").overrides == {"ema_decay": 0.99, "select": "last"}
    assert parse_variant("base").overrides == {}
    with pytest.raises(ValueError, match="--variant"):
        parse_variant(":x=1")
    assert main(["compare", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--variant", "a",
                 "--variant", "b:no_such_field=1", "--split", SPLIT]) == 2


def test_budget_stops_starting_runs_that_would_end_too_late():
    budget = Budget(seconds=10.0, first_estimate=4.0)
    assert budget.allows_start()
    budget.started -= 7.0  # 7 s gone: a 4 s run would end at 11 s
    assert not budget.allows_start()
    assert Budget(seconds=None).allows_start()


def test_compare_trains_every_variant_and_seed_and_scores_only_the_winner_on_test(tiny_dataset, tmp_path):
    out = tmp_path / "cmp"
    code = main(["compare", "--data", str(tiny_dataset.root), "--out", str(out), "--recipe", "smoke",
                 "--variant", "base", "--variant", "plain:logit_adjust_tau=0 sampler=none", "--seeds", "2",
                 "--split", SPLIT, "--set", "epochs=1", "--set", "samples_per_epoch=32", "--set", "input_size=32",
                 "--device", "cpu", "--test-winner", "--no-progress"])
    assert code == 0
    report = json.loads((out / "compare.json").read_text())
    assert sorted((r["variant"], r["seed"]) for r in report["runs"]) == [("base", 0), ("base", 1), ("plain", 0), ("plain", 1)]
    assert all(r["split"] == SPLIT and 0 <= r["balanced_accuracy"] <= 1 for r in report["runs"])
    test = report["test"]
    assert test["winner"] == winner(report["summary"])
    assert {r["variant"] for r in test["runs"]} == {test["winner"]} and {r["split"] for r in test["runs"]} == {"test"}
    assert (out / "runs" / "plain" / "seed1" / "model.safetensors").is_file()
    assert "## Test split: the winner" in (out / "compare.md").read_text()


def test_time_budget_leaves_paired_partial_results(tiny_dataset, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(tiny_dataset.root), "--out", str(out), "--recipe", "smoke",
                 "--variant", "a", "--variant", "b:lr=0.001", "--seeds", "2", "--split", SPLIT,
                 "--set", "epochs=1", "--set", "samples_per_epoch=32", "--set", "input_size=32", "--device", "cpu",
                 "--time-budget-s", "0.5", "--run-estimate-s", "0.1", "--no-progress"]) == 0
    report = json.loads((out / "compare.json").read_text())
    assert [(r["variant"], r["seed"]) for r in report["runs"]] == [("a", 0)]  # seed-major order, then out of time
    assert report["meta"]["skipped_runs"] == ["b/seed0", "a/seed1", "b/seed1"]
    assert "Not run (time budget)" in (out / "compare.md").read_text()


def test_resume_keeps_finished_runs_trains_the_rest_and_refuses_a_changed_plan(tiny_dataset, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(tiny_dataset.root), "--out", str(out), "--recipe", "smoke", "--variant", "a",
            "--variant", "b:lr=0.001", "--seeds", "2", "--split", SPLIT, "--set", "epochs=1",
            "--set", "samples_per_epoch=32", "--set", "input_size=32", "--device", "cpu", "--no-progress"]
    assert main(argv + ["--time-budget-s", "0.5", "--run-estimate-s", "0.1"]) == 0  # cut off after a/seed0
    first = json.loads((out / "compare.json").read_text())["runs"][0]
    weights = out / "runs" / "a" / "seed0" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert main(argv) == 2  # OUT exists: neither --resume nor --force given
    assert main(argv + ["--resume"]) == 0
    report = json.loads((out / "compare.json").read_text())
    assert sorted((r["variant"], r["seed"]) for r in report["runs"]) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert report["runs"][0] == first and weights.stat().st_mtime_ns == stamp  # kept, not retrained
    changed = [a.replace("b:lr=0.001", "b:lr=0.002") for a in argv]
    assert main(changed + ["--resume"]) == 2
