"""Benchmark: the default recipe against simple baselines on a small long-tailed profile, in one run.

FMNIST-LT-Small: 2,490 Fashion-MNIST images (four frequent classes of 550, four of 60, two of 25,
so the two smallest classes have about 22 training images), 40 % of every class blurred by the v1
rule, scored on the full blurred Fashion-MNIST test split (10k). Trains, with the same seeds:

    (1) the fusion model with the default recipe (or --recipe / --set overrides),
    (b) the small CNN on raw pixels, plain CE, early stopping on validation loss,
    (c) a class-weighted logistic regression on raw pixels,

and prints one markdown table: balanced accuracy, the weakest class's recall, rare recall, blurred
and sharp accuracy, and training time, as mean ± std over seeds. Issue 10's target is that (1)
beats (b) and (c) on balanced accuracy and on the weakest class's recall.

    .venv/bin/python bench/bench_small_lt.py [--seeds 1] [--set KEY=VALUE] [--out bench/results/small_lt.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.recipes import parse_overrides  # noqa: E402
from train.experiments.paired import mean_std  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from features.groups import group_recall, per_class_recall  # noqa: E402
from bench.baselines import (fit_logistic_regression, fit_small_cnn, predict_logistic_regression,  # noqa: E402
                             predict_small_cnn)

COUNTS = (25, 25, 550, 60, 60, 60, 60, 550, 550, 550)  # Fashion-MNIST class order: T-shirt/top, Trouser, ...
FIGURES = (("balanced", "balanced acc %"), ("worst", "weakest class recall %"), ("rare", "rare recall %"),
           ("blurred", "blurred acc %"), ("sharp", "sharp acc %"))


def build(path: Path):
    """The small profile's dataset dir (built once; v1's blur rule and seeds)."""
    from train.data.build import BuildOptions, build_dataset, pool_counts
    from train.data.dataset_dir import read_dataset
    from train.data.longtail import explicit_profile
    from train.data.sources import load_fashion_mnist

    if (path / "manifest.csv").is_file():
        return read_dataset(path)
    source = load_fashion_mnist()
    profile = explicit_profile(list(COUNTS), pool_counts(source))
    return build_dataset(source, path, BuildOptions(profile=profile, name="fmnist-lt-small"), progress=False)


def scores(predicted: np.ndarray, labels: np.ndarray, groups: list[str], blurred: np.ndarray) -> dict:
    recall = per_class_recall(labels, predicted, len(groups))
    return {"balanced": recall.mean(), "worst": recall.min(), "worst_class": int(recall.argmin()),
            "rare": group_recall(labels, predicted, groups)["rare"],
            "blurred": (predicted[blurred] == labels[blurred]).mean(), "sharp": (predicted[~blurred] == labels[~blurred]).mean()}


def fusion_predictions(dataset, runs: Path, recipe: str, overrides: dict, seed: int, test_images: np.ndarray) -> np.ndarray:
    from fusion.predictor import Predictor
    from train.fit import recipe_config, train_model

    config = recipe_config(recipe, **{**overrides, "data": str(dataset.root), "out": str(runs / f"seed{seed}"),
                                      "seed": seed, "force": True})
    predictor = Predictor.from_checkpoint(train_model(config))
    return np.array([p.class_index for p in predictor.predict_batch(list(test_images), batch_size=512, progress=True)])


def run_models(dataset, args, overrides: dict) -> dict[str, list[tuple[dict, float]]]:
    """Every model, every seed: name -> [(scores, train seconds)]."""
    test_images, labels = dataset.load_images("test"), dataset.labels("test")
    blurred = np.array([r["blurred"] for r in dataset.split_rows("test")])
    train_x, train_y = dataset.load_images("train")[..., 0], dataset.labels("train")
    val_x, val_y = dataset.load_images("val")[..., 0], dataset.labels("val")
    name = f"(1) fusion, recipe {args.recipe}" + (f" with {overrides}" if overrides else "")
    models = {
        name: lambda s: fusion_predictions(dataset, args.runs, args.recipe, overrides, s, test_images),
        "(b) small CNN on raw pixels, plain CE, early stopping": lambda s: predict_small_cnn(
            fit_small_cnn(train_x, train_y, 10, val_x, val_y, seed=s)[0], test_images[..., 0]),
        "(c) class-weighted logistic regression on raw pixels": lambda s: predict_logistic_regression(
            fit_logistic_regression(train_x, train_y, seed=s), test_images[..., 0]),
    }
    results: dict[str, list[tuple[dict, float]]] = {}
    for model, fit_predict in models.items():
        for seed in range(args.seeds):
            start = time.perf_counter()
            predicted = fit_predict(seed)
            results.setdefault(model, []).append((scores(predicted, labels, dataset.groups, blurred),
                                                  time.perf_counter() - start))
    return results


def table(results: dict[str, list[tuple[dict, float]]], class_names: list[str]) -> str:
    header = ["model", "seeds"] + [label for _, label in FIGURES] + ["weakest class", "train + predict s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, runs in results.items():
        cells = [model, str(len(runs))]
        for key, _ in FIGURES:
            mean, std = mean_std([100 * s[key] for s, _ in runs])
            cells.append(f"{mean:.1f} ± {std:.1f}")
        weakest = sorted({class_names[s["worst_class"]] for s, _ in runs})
        cells += [", ".join(weakest), f"{mean_std([t for _, t in runs])[0]:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-small"))
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-small"))
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 for every model (default 1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field of the fusion recipe; repeatable")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    dataset = build(args.data)
    counts = dataset.train_counts()
    text = (f"FMNIST-LT-Small: {sum(counts)} training images ({min(counts)}-{max(counts)} per class), "
            f"test {len(dataset.labels('test'))}\n\n" + table(run_models(dataset, args, parse_overrides(args.overrides)),
                                                             list(dataset.class_names)))
    print("\n" + text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
