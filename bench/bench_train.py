"""Benchmark: the default recipe against the plain baselines on FMNIST-LT-Blur v1, in one run.

Trains (1) the default fusion recipe, (a) the original approach's small CNN on Laplacian-switched
edge maps (fixed threshold 100), plain CE, no balancing, (b) the same CNN on raw pixels, both with
early stopping on validation loss (each baseline gets its own convergence), and (c) a class-weighted
logistic regression on raw pixels; all with the same --seed, scored on the same 10k test split, one
markdown table.

    .venv/bin/python bench/bench_train.py --data data/fmnist-lt-blur-v1 [--budget-scale 0.1] [--out bench/results/train.md]

A variant of the default recipe (docs/RESULTS.md's table of what was tried) is one option per change:

    .venv/bin/python bench/bench_train.py --no-baselines --set rebalance_from_epoch=1 --set blur_augment=0.3
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import FeatureConfig, compute_features  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from features.groups import group_recall, nanmean, per_class_recall  # noqa: E402
from fusion.predictor import Predictor  # noqa: E402
from bench.baselines import (fit_logistic_regression, fit_small_cnn, predict_logistic_regression,  # noqa: E402
                             predict_small_cnn)
from train.data.dataset_dir import read_dataset  # noqa: E402
from train.fit import train_model  # noqa: E402
from train.recipes import parse_overrides, recipe_config  # noqa: E402


def scores(predicted: np.ndarray, labels: np.ndarray, groups: list[str], blurred: np.ndarray) -> dict:
    by_group = group_recall(labels, predicted, groups)
    return {
        "top1": (predicted == labels).mean(),
        "balanced": nanmean(per_class_recall(labels, predicted, len(groups))),
        "rare": by_group["rare"],
        "medium": by_group["medium"],
        "frequent": by_group["frequent"],
        "blurred": (predicted[blurred] == labels[blurred]).mean(),
        "sharp": (predicted[~blurred] == labels[~blurred]).mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--runs", type=Path, default=Path("runs/bench"))
    parser.add_argument("--budget-scale", type=float, default=1.0, help="scale every training budget (0.1 for a quick check)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--skip-fusion", action="store_true", help="reuse runs/bench/default if it exists")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field of the default recipe (value parsed as JSON, else text); repeatable")
    parser.add_argument("--no-baselines", action="store_true", help="train and score the fusion model only")
    parser.add_argument("--no-fusion", action="store_true", help="train and score the baselines only")
    parser.add_argument("--baseline-device", default="cpu", help="where the small CNN baselines train (cpu, cuda)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every model (default 0)")
    args = parser.parse_args()

    if not (args.data / "manifest.csv").is_file():
        from train.data.build import BuildOptions, build_dataset
        from train.data.longtail import fmnist_lt_v1
        from train.data.sources import load_fashion_mnist

        build_dataset(load_fashion_mnist(), args.data, BuildOptions(profile=fmnist_lt_v1()))
    dataset = read_dataset(args.data)
    test_rows = dataset.split_rows("test")
    labels = dataset.labels("test")
    blurred = np.array([r["blurred"] for r in test_rows])
    test_images = dataset.load_images("test")
    rows = []

    if not args.no_fusion:
        rows.append(fusion_row(args, dataset, test_images, labels, blurred))
    if not args.no_baselines:
        rows += baseline_rows(dataset, test_images, labels, blurred, args.seed, args.baseline_device)

    lines = [
        "| model | top-1 | balanced acc | rare recall | medium recall | frequent recall | blurred acc | sharp acc | blur head acc | train time | predict p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s, seconds, head, p50 in rows:
        cells = [f"{100 * s[k]:.1f} %" for k in ("top1", "balanced", "rare", "medium", "frequent", "blurred", "sharp")]
        head_cell = "—" if np.isnan(head) else f"{100 * head:.1f} %"
        p50_cell = "—" if np.isnan(p50) else f"{p50:.1f} ms"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {head_cell} | {seconds / 60:.1f} min | {p50_cell} |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        atomic_write_text(args.out, table + "\n")


def fusion_row(args: argparse.Namespace, dataset, test_images: np.ndarray, labels: np.ndarray, blurred: np.ndarray) -> tuple:
    """Train (or reuse) the fusion model with the default recipe and score it on test, with predict latency."""
    overrides = parse_overrides(args.overrides)
    variant = ", ".join(f"{k}={v}" for k, v in overrides.items())
    run_dir = args.runs / ("default" if not overrides else "default-" + "-".join(f"{k}{v}" for k, v in overrides.items()))
    config = recipe_config("default", data=str(args.data), out=str(run_dir), force=True, seed=args.seed, **overrides)
    config = dataclasses.replace(config, samples_per_epoch=max(256, int(config.samples_per_epoch * args.budget_scale)))
    start = time.perf_counter()
    if not (args.skip_fusion and (run_dir / "model.safetensors").is_file()):
        train_model(config)
    fusion_seconds = time.perf_counter() - start
    predictor = Predictor.from_checkpoint(run_dir)
    predictions = predictor.predict_batch(list(test_images), batch_size=512, progress=True)
    predicted = np.array([p.class_index for p in predictions])
    blur_head = np.array([p.blur_probability > 0.5 for p in predictions])
    latencies = []
    for image in test_images[:200]:
        t = time.perf_counter()
        predictor.predict(image)
        latencies.append(time.perf_counter() - t)
    return (f"fusion, default recipe{' with ' + variant if variant else ''}", scores(predicted, labels, dataset.groups, blurred),
            fusion_seconds, (blur_head == blurred).mean(), np.median(latencies) * 1e3)


def baseline_rows(dataset, test_images: np.ndarray, labels: np.ndarray, blurred: np.ndarray, seed: int,
                  device: str = "cpu") -> list:
    """The baselines, each to its own convergence (small CNNs: early stopping on validation loss)."""
    train_images, train_labels = dataset.load_images("train"), dataset.labels("train")
    val_images, val_labels = dataset.load_images("val"), dataset.labels("val")
    original = FeatureConfig(size=dataset.feature_config.size, blur_threshold=100.0, edges=dataset.feature_config.edges)
    rows = []
    for name, transform in (
        ("(a) small CNN on Laplacian-switched edge maps, plain CE, early stopping", lambda x: compute_features(x, original).edge_map),
        ("(b) small CNN on raw pixels, plain CE, early stopping", lambda x: x[..., 0]),
    ):
        start = time.perf_counter()
        model, history = fit_small_cnn(transform(train_images), train_labels, len(dataset.class_names),
                                       transform(val_images), val_labels, seed=seed, device=device)
        seconds = time.perf_counter() - start
        predicted = predict_small_cnn(model, transform(test_images))
        rows.append((f"{name} (best epoch {history.best_epoch})", scores(predicted, labels, dataset.groups, blurred),
                     seconds, float("nan"), float("nan")))
    start = time.perf_counter()
    model = fit_logistic_regression(train_images[..., 0], train_labels, seed=seed)
    predicted = predict_logistic_regression(model, test_images[..., 0])
    rows.append(("(c) class-weighted logistic regression on raw pixels", scores(predicted, labels, dataset.groups, blurred),
                 time.perf_counter() - start, float("nan"), float("nan")))
    return rows


if __name__ == "__main__":
    main()
