"""Figures, seed summaries and the written tables of `blurfuse compare` (compare.md / .csv / .json).

Kept apart from the runner so the statistics and the table layout can be tested without training.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from train.experiments.paired import mean_std, paired_difference, supports_gain
from features.atomic import atomic_write_json, atomic_write_text

# (key, label, is a rate in [0, 1] shown as %)
FIGURES: list[tuple[str, str, bool]] = [
    ("balanced_accuracy", "balanced acc %", True),
    ("recall_rare", "rare recall %", True),
    ("recall_medium", "medium recall %", True),
    ("recall_frequent", "frequent recall %", True),
    ("worst_class_recall", "worst class recall %", True),
    ("accuracy_blurred", "blurred acc %", True),
    ("accuracy_sharp", "sharp acc %", True),
    ("blur_gap_points", "sharp − blurred (pts)", False),
    ("ece", "ECE %", True),
    ("ece_rare", "rare ECE %", True),
    ("train_seconds", "train s", False),
]
PAIRED = ("balanced_accuracy", "recall_rare", "worst_class_recall", "accuracy_blurred", "blur_gap_points")
N_BINS = 15


def figures_from_table(table: Any) -> dict[str, float]:
    """Point figures of one run (no bootstrap: the seeds are the resampling here)."""
    from features.groups import group_recall, nanmean, per_class_recall

    y, p = np.asarray(table.labels), np.asarray(table.predicted)
    recall = per_class_recall(y, p, table.n_classes)
    blurred = np.asarray(table.blurred, dtype=bool)
    correct = (p == y).astype(np.float64)
    out = {"top1": float(correct.mean()), "balanced_accuracy": float(nanmean(recall)),
           "worst_class_recall": float(np.nanmin(recall)),
           "accuracy_blurred": float(correct[blurred].mean()) if blurred.any() else float("nan"),
           "accuracy_sharp": float(correct[~blurred].mean()) if (~blurred).any() else float("nan"),
           "ece": expected_calibration_error(np.asarray(table.confidence), correct)}
    rare = np.isin(y, [i for i, g in enumerate(table.groups) if g == "rare"])
    out["ece_rare"] = expected_calibration_error(np.asarray(table.confidence)[rare], correct[rare]) if rare.any() else float("nan")
    out.update({f"recall_{g}": v for g, v in group_recall(y, p, table.groups).items()})
    out["blur_gap_points"] = 100.0 * (out["accuracy_sharp"] - out["accuracy_blurred"])
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    from analysis.metrics import expected_calibration_error as ece

    return float(ece(np.arange(len(correct))[None, :], confidence, correct, n_bins)[0])


def summarise(rows: list[dict[str, Any]], variants: Sequence[str], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Per variant: runs done, mean and std of every figure, paired difference to the first variant."""
    baseline = variants[0]
    by_seed = {v: {r["seed"]: r for r in rows if r["variant"] == v} for v in variants}
    summary = []
    for v in variants:
        runs = by_seed[v]
        entry: dict[str, Any] = {"variant": v, "runs": len(runs), "complete": set(seeds) <= set(runs)}
        for key, _, _ in FIGURES:
            entry[key], entry[f"{key}_std"] = mean_std([r.get(key) for r in runs.values()])
        for key in PAIRED:
            diff = paired_difference({s: r[key] for s, r in runs.items()},
                                     {s: r[key] for s, r in by_seed[baseline].items()})
            entry[f"diff_{key}"] = diff
        entry["gain_supported"] = v != baseline and supports_gain(entry["diff_balanced_accuracy"])
        summary.append(entry)
    return summary


def winner(summary: list[dict[str, Any]]) -> str | None:
    """The pre-declared rule: highest mean dev balanced accuracy among variants with every seed done."""
    complete = [s for s in summary if s["complete"] and math.isfinite(s["balanced_accuracy"])]
    if not complete:
        return None
    return max(complete, key=lambda s: s["balanced_accuracy"])["variant"]


def write_outputs(out: Path, meta: dict[str, Any], rows: list[dict[str, Any]], summary: list[dict[str, Any]],
                  test: dict[str, Any] | None) -> Path:
    """Rewrite every output file (atomically), so a cut-off run leaves complete partial results."""
    atomic_write_json(out / "compare.json", {"meta": meta, "runs": rows, "summary": summary, "test": test})
    atomic_write_text(out / "runs.csv", _csv(rows, ["variant", "seed", "split", "epoch_seconds", "top1"]
                                             + [k for k, _, _ in FIGURES]))
    flat = [{**{k: v for k, v in s.items() if not k.startswith("diff_")},
             **{f"diff_{k}_{part}": s[f"diff_{k}"][part] for k in PAIRED for part in ("mean", "low", "high")}}
            for s in summary]
    atomic_write_text(out / "compare.csv", _csv(flat, list(flat[0]) if flat else ["variant"]))
    return atomic_write_text(out / "compare.md", markdown(meta, summary, test))


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return buffer.getvalue()


def _cell(mean: float, std: float, rate: bool) -> str:
    if not math.isfinite(mean):
        return "n/a"
    scale = 100.0 if rate else 1.0
    return f"{scale * mean:.1f} ± {scale * std:.1f}"


def _diff(d: dict[str, Any], rate: bool) -> str:
    if d["n"] == 0:
        return "n/a"
    scale = 100.0 if rate else 1.0
    text = f"{scale * d['mean']:+.2f}"
    if math.isfinite(d["low"]):
        text += f" [{scale * d['low']:+.2f}, {scale * d['high']:+.2f}]"
    return text


def summary_table(summary: list[dict[str, Any]]) -> list[str]:
    header = ["variant", "seeds"] + [label for _, label, _ in FIGURES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        cells = [s["variant"], str(s["runs"])] + [_cell(s[k], s[f"{k}_std"], rate) for k, _, rate in FIGURES]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(meta: dict[str, Any], summary: list[dict[str, Any]], test: dict[str, Any] | None) -> str:
    lines = [f"# Recipe comparison on the {meta['split']} split", "",
             f"Recipe `{meta['recipe']}`, seeds {meta['seeds']}, device `{meta['device']}`; mean ± standard deviation "
             "over seeds.", "", *summary_table(summary), "",
             f"Paired difference to the baseline `{meta['baseline']}` (same seeds; mean [95 % t-interval], points):", "",
             "| variant | balanced acc | rare recall | worst class recall | blurred acc | sharp − blurred | gain beyond noise |",
             "|---|---|---|---|---|---|---|"]
    for s in summary[1:]:
        lines.append("| " + " | ".join([s["variant"], *(_diff(s[f"diff_{k}"], k != "blur_gap_points") for k in PAIRED),
                                         "yes" if s["gain_supported"] else "no"]) + " |")
    lines += ["", "Variants:", ""] + [f"- `{n}`: {o or 'the recipe as it is'}" for n, o in meta["variants"].items()]
    if meta.get("common"):
        lines.append(f"- every variant also: {meta['common']}")
    if meta.get("skipped_runs"):
        lines += ["", f"Not run (time budget): {', '.join(meta['skipped_runs'])}"]
    if meta.get("command"):
        lines += ["", "Reproduce:", "", f"    {meta['command']}"]
    if test:
        lines += ["", f"## Test split: the winner `{test['winner']}` only", "",
                  f"Rule, fixed before scoring test: {test['rule']}. No other variant was scored on test.", "",
                  *summary_table(test["summary"])]
    return "\n".join(lines) + "\n"
