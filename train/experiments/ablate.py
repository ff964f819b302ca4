"""`blurfuse ablate`: which part of the fusion pays off, under one fixed training budget.

Every variant sees the same number of training samples (epochs x samples_per_epoch), the same
seed and the same data, and is scored on the same split with the report's metrics, so the
differences in the comparison table come from the variant alone. Training goes through the
training package's own entry point (`train.fit.recipe_config` + `train_model`), never a copy.

OUT/
    ablation.md, ablation.csv, ablation.json   the comparison (one row per variant; `analysis.ablation_report`)
    ablation.png                               balanced acc, rare recall, blurred/sharp accuracy
    runs/VARIANT/                              each variant's training run dir (checkpoint inside)
    variants/VARIANT/metrics.json, predictions.csv
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

from analysis.ablation_report import write_comparison
from analysis.bootstrap import DEFAULT_RESAMPLES
from analysis.evaluate import evaluate_split
from analysis.measure import compute_metrics
from analysis.table import write_predictions_csv
from features.atomic import atomic_directory, atomic_write_json
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
