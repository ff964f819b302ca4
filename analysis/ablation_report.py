"""The ablation's tables and plot: ablation.json, ablation.csv, ablation.md and ablation.png.

Only renders rows that `train.experiments.ablate` measured, so the report side of an ablation
lives with the other reports in `analysis/` and the training side stays in `train/`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from features.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text

COLUMNS = ["variant", "description", "branches", "sampler", "logit_adjust_tau", "samples", "train_seconds",
           "top1", "balanced_accuracy", "balanced_accuracy_ci", "macro_f1", "recall_frequent", "recall_rare",
           "recall_rare_ci", "rare_gap_points", "accuracy_blurred", "accuracy_sharp", "blur_gap_points", "ece"]


def write_comparison(out: Path, rows: list[dict[str, Any]], budget: int, split: str, data: Path) -> None:
    """Write the four comparison files into `out` (each atomically), one row per variant."""
    atomic_write_json(out / "ablation.json", {"budget": budget, "split": split, "data": str(data.resolve()),
                                              "variants": rows})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row[c]) for c in COLUMNS])
    atomic_write_text(out / "ablation.csv", buffer.getvalue())
    atomic_write_bytes(out / "ablation.png", _bar_plot(rows, budget))
    atomic_write_text(out / "ablation.md", _markdown(rows, budget, split))


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return json.dumps(value)
    return "" if value is None else value


def _pct(value: float | None, ci: list[float | None] | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{100 * value:.1f}"
    if ci and None not in ci:
        text += f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"
    return text


def _markdown(rows: list[dict[str, Any]], budget: int, split: str) -> str:
    header = ["variant", "branches", "sampler / τ", "balanced acc %", "rare recall %", "frequent − rare (pts)",
              "blurred / sharp acc %", "macro-F1 %", "ECE %", "train s"]
    lines = [f"# Ablation: {budget} training samples per variant, scored on {split}", "",
             "| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for r in rows:
        gap = "n/a" if r["rare_gap_points"] is None else f"{r['rare_gap_points']:+.1f}"
        lines.append("| " + " | ".join([
            f"{r['variant']} ({r['description']})", r["branches"], f"{r['sampler']} / {r['logit_adjust_tau']}",
            _pct(r["balanced_accuracy"], r["balanced_accuracy_ci"]), _pct(r["recall_rare"], r["recall_rare_ci"]), gap,
            f"{_pct(r['accuracy_blurred'])} / {_pct(r['accuracy_sharp'])}", _pct(r["macro_f1"]), _pct(r["ece"]),
            f"{r['train_seconds']:.0f}"]) + " |")
    lines += ["", "Brackets: 95 % percentile-bootstrap intervals. ![ablation](ablation.png)", ""]
    return "\n".join(lines)


def _bar_plot(rows: list[dict[str, Any]], budget: int) -> bytes:
    from analysis.plots import png_bytes, plt

    panels = [("balanced_accuracy", "balanced acc"), ("recall_rare", "rare recall"),
              ("accuracy_blurred", "blurred acc"), ("accuracy_sharp", "sharp acc")]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * len(rows) + 2), 4.0))
    x = np.arange(len(panels))
    width = 0.8 / max(1, len(rows))
    for k, row in enumerate(rows):
        values = np.array([np.nan if row[m] is None else 100 * row[m] for m, _ in panels])
        err = np.zeros((2, len(panels)))
        for j, (m, _) in enumerate(panels):
            ci = row.get(f"{m}_ci")
            if ci and None not in ci and np.isfinite(values[j]):
                err[:, j] = [max(0.0, values[j] - 100 * ci[0]), max(0.0, 100 * ci[1] - values[j])]
        bars = ax.bar(x + (k - (len(rows) - 1) / 2) * width, np.nan_to_num(values), width, yerr=err, capsize=2,
                      label=row["variant"], error_kw={"elinewidth": 0.8})
        ax.bar_label(bars, labels=[f"{v:.0f}" if np.isfinite(v) else "" for v in values], fontsize=7)
    ax.set_xticks(x, [label for _, label in panels])
    ax.set_ylim(0, 110)
    ax.set_ylabel("%")
    ax.set_title(f"Ablation under one budget ({budget} training samples each)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)
