"""`blurfuse ablate`: one budget for every variant, one comparison table and plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from analysis.ablation_report import COLUMNS, write_comparison
from train.experiments.ablate import budget_schedule, comparison_row
from analysis.measure import compute_metrics
from blurfuse.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_budget_schedule_spends_the_same_budget_whatever_the_recipe():
    assert budget_schedule(10_000, epochs=10, batch_size=100) == (10, 1000)
    assert budget_schedule(64, epochs=10, batch_size=32) == (2, 32)  # never less than a batch per epoch
    assert budget_schedule(10, epochs=5, batch_size=32) == (1, 10)
    with pytest.raises(ValueError, match="budget"):
        budget_schedule(0, epochs=1, batch_size=1)


def test_comparison_files_hold_one_row_per_variant(tmp_path, make_table):
    rows = []
    for name, rare_cost in (("fused", 0.05), ("rgb_only", 0.3)):
        metrics = compute_metrics(make_table(n=600, rare_cost=rare_cost), 120.0, n_resamples=50)
        config = SimpleNamespace(branches=("rgb", "edge", "blur") if name == "fused" else ("rgb",), sampler="inverse",
                                 logit_adjust_tau=1.0, epochs=2, samples_per_epoch=50)
        rows.append(comparison_row(name, config, metrics, seconds=1.5))
    write_comparison(tmp_path, rows, budget=100, split="test", data=tmp_path)
    table = list(csv.DictReader((tmp_path / "ablation.csv").open()))
    assert [r["variant"] for r in table] == ["fused", "rgb_only"] and list(table[0]) == COLUMNS
    assert float(table[0]["recall_rare"]) > float(table[1]["recall_rare"])  # the penalty shows up in the table
    assert json.loads((tmp_path / "ablation.json").read_text())["variants"][1]["branches"] == "rgb"
    markdown = (tmp_path / "ablation.md").read_text()
    assert "| fused (" in markdown and "| rgb_only (" in markdown
    png = (tmp_path / "ablation.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5000


def test_cli_ablate_trains_every_variant_on_the_tiny_dataset(tiny_dataset, tmp_path, capsys):
    data = Path(getattr(tiny_dataset, "root", tiny_dataset))
    out = tmp_path / "ablation"
    status = main(["ablate", "--data", str(data), "--budget", "64", "--out", str(out), "--bootstrap", "50",
                   "--no-progress", "--set", "pretrained=none", "--set", "input_size=32", "--set", "batch_size=32"])
    assert status == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().endswith("ablation.md")
    rows = json.loads((out / "ablation.json").read_text())["variants"]
    assert [r["variant"] for r in rows] == ["fused", "rgb_only", "edge_blur_only", "no_balancing"]
    assert {r["samples"] for r in rows} == {64}
    assert [r["branches"] for r in rows][:3] == ["rgb+edge+blur", "rgb", "edge+blur"]
    assert rows[3]["sampler"] == "none" and float(rows[3]["logit_adjust_tau"]) == 0.0
    for r in rows:
        assert (out / "runs" / r["variant"] / "model.safetensors").is_file()
        assert 0.0 <= r["balanced_accuracy"] <= 1.0
    assert main(["ablate", "--data", str(data), "--budget", "64", "--out", str(out)]) == 2  # exists, no --force
