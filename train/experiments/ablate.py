"""`blurfuse ablate`: which part of the fusion pays off, under one fixed training budget.

Every variant sees the same number of training samples (epochs x samples_per_epoch), the same
seed and the same data, and is scored on the same split with the report's metrics, so the
differences in the comparison table come from the variant alone. Training goes through the
training package's own entry point (`train.fit.recipe_config` + `train_model`), never a copy.

OUT/
    ablation.md, ablation.csv, ablation.json   the comparison (one row per variant)
    ablation.png                               balanced acc, rare recall, blurred/sharp accuracy
    runs/VARIANT/                              each variant's training run dir (checkpoint inside)
    variants/VARIANT/metrics.json, predictions.csv
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from analysis.bootstrap import DEFAULT_RESAMPLES
from analysis.evaluate import evaluate_split
from analysis.measure import compute_metrics
from analysis.table import write_predictions_csv
from features.atomic import atomic_directory, atomic_write_bytes, atomic_write_json, atomic_write_text
from fusion.defaults import DEFAULT_BATCH_SIZE

# Each variant = overrides of the base recipe. "fused" is the recipe as it is.
VARIANTS: dict[str, dict[str, Any]] = {
    "fused": {},
    "rgb_only": {"branches": ("rgb",)},
    "edge_blur_only": {"branches": ("edge", "blur")},
    "no_balancing": {"sampler": "none", "logit_adjust_tau": 0.0},
}
DESCRIPTIONS = {
    "fused": "RGB + edge + blur branches, the recipe's balancing",
    "rgb_only": "RGB branch only",
    "edge_blur_only": "edge map + blur score only (no RGB CNN)",
    "no_balancing": "full fusion, plain sampling, no logit adjustment",
}
COLUMNS = ["variant", "description", "branches", "sampler", "logit_adjust_tau", "samples", "train_seconds",
           "top1", "balanced_accuracy", "balanced_accuracy_ci", "macro_f1", "recall_frequent", "recall_rare",
           "recall_rare_ci", "rare_gap_points", "accuracy_blurred", "accuracy_sharp", "blur_gap_points", "ece"]


def budget_schedule(budget: int, epochs: int, batch_size: int) -> tuple[int, int]:
    """(epochs, samples_per_epoch) using the whole budget, keeping at least one batch per epoch."""
    if budget < 1:
        raise ValueError(f"budget must be a positive number of training samples, got {budget}")
    epochs = max(1, min(int(epochs), budget // max(1, batch_size)))
    return epochs, budget // epochs


def variant_config(name: str, data: Path, out: Path, budget: int, recipe: str = "default", seed: int = 0,
                   overrides: dict[str, Any] | None = None):
    """The TrainConfig of one variant: base recipe + user overrides + the variant + the budget."""
    from train.fit import recipe_config

    if name not in VARIANTS:
        raise ValueError(f"variants must be among {', '.join(VARIANTS)}, got {name!r}")
    base = recipe_config(recipe, **dict(overrides or {}))
    epochs, per_epoch = budget_schedule(budget, base.epochs, base.batch_size)
    fields = {f.name for f in dataclasses.fields(base)}
    changes: dict[str, Any] = {"data": data, "out": out, "seed": seed, "epochs": epochs, "samples_per_epoch": per_epoch}
    changes.update(VARIANTS[name])
    if "resume" in fields:
        changes["resume"] = False
    unknown = set(changes) - fields
    if unknown:
        raise ValueError(f"the training config has no field(s) {sorted(unknown)} needed by variant {name!r}")
    changes = {k: (type(getattr(base, k))(v) if isinstance(getattr(base, k), (tuple, list)) else v)
               for k, v in changes.items()}
    return dataclasses.replace(base, **changes)


def ablate(
    data: str | os.PathLike,
    budget: int,
    out: str | os.PathLike,
    variants: Sequence[str] = tuple(VARIANTS),
    recipe: str = "default",
    split: str = "test",
    seed: int = 0,
    n_resamples: int = DEFAULT_RESAMPLES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    force: bool = False,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Train and score every variant; returns the path of ablation.md."""
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset
    from train.fit import train_model

    variants = list(dict.fromkeys(variants))
    if not variants:
        raise ValueError("variants must name at least one variant")
    for name in variants:
        if name not in VARIANTS:
            raise ValueError(f"variants must be among {', '.join(VARIANTS)}, got {name!r}")
    out, data = Path(out), Path(data)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    dataset = read_dataset(data)
    rows: list[dict[str, Any]] = []
    with atomic_directory(out, force=force) as tmp:
        for name in variants:
            config = variant_config(name, data, tmp / "runs" / name, budget, recipe, seed, overrides)
            print(f"==> ablate: training {name} ({config.epochs} x {config.samples_per_epoch} samples)", flush=True)
            start = time.perf_counter()
            run_dir = Path(train_model(config, progress=progress))
            seconds = time.perf_counter() - start
            predictor = Predictor.from_checkpoint(run_dir)
            evaluation = evaluate_split(predictor, dataset, split=split, batch_size=batch_size, progress=progress)
            metrics = compute_metrics(evaluation.table, evaluation.blur_threshold, n_resamples=n_resamples, seed=seed)
            metrics["run"] = {"variant": name, "run_dir": f"runs/{name}", "split": split, "train_seconds": seconds,
                              "samples": config.epochs * config.samples_per_epoch}
            atomic_write_json(tmp / "variants" / name / "metrics.json", metrics)
            write_predictions_csv(evaluation.table, tmp / "variants" / name / "predictions.csv")
            rows.append(comparison_row(name, config, metrics, seconds))
        write_comparison(tmp, rows, budget=budget, split=split, data=data)
    return out / "ablation.md"


def comparison_row(name: str, config: Any, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    group = metrics["group"]
    gaps = metrics["gaps"]
    return {
        "variant": name,
        "description": DESCRIPTIONS[name],
        "branches": "+".join(config.branches),
        "sampler": getattr(config, "sampler", ""),
        "logit_adjust_tau": getattr(config, "logit_adjust_tau", ""),
        "samples": int(config.epochs * config.samples_per_epoch),
        "train_seconds": round(seconds, 1),
        "top1": metrics["overall"]["top1"],
        "balanced_accuracy": metrics["overall"]["balanced_accuracy"],
        "balanced_accuracy_ci": metrics["overall"]["balanced_accuracy_ci"],
        "macro_f1": metrics["overall"]["macro_f1"],
        "recall_frequent": group.get("frequent", {}).get("recall"),
        "recall_rare": group.get("rare", {}).get("recall"),
        "recall_rare_ci": group.get("rare", {}).get("recall_ci", [None, None]),
        "rare_gap_points": gaps.get("frequent_minus_rare_recall", {}).get("points"),
        "accuracy_blurred": metrics["blur"]["accuracy_blurred"],
        "accuracy_blurred_ci": metrics["blur"]["accuracy_blurred_ci"],
        "accuracy_sharp": metrics["blur"]["accuracy_sharp"],
        "accuracy_sharp_ci": metrics["blur"]["accuracy_sharp_ci"],
        "blur_gap_points": gaps["sharp_minus_blurred_accuracy"]["points"],
        "ece": metrics["calibration"]["ece"],
    }


def write_comparison(out: Path, rows: list[dict[str, Any]], budget: int, split: str, data: Path) -> None:
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
