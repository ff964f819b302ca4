"""Benchmark: how well the out-of-distribution score tells unfamiliar images from the test split.

For a trained run and its dataset, scores in-distribution test images and out-of-distribution sets
available offline, through `Predictor` (the same preprocessing the web page uses; each image is
resized to the model's input as any upload is):

- photographs: the scikit-image / scikit-learn sample photos (`train.data.photos`), whole;
- uniform noise and Gaussian noise images;
- scikit-learn's handwritten digits (8x8, upscaled), another small grey dataset.

Fits every score (`fusion.ood`: stages, mahalanobis, energy) on the run's train and val splits
in the same run, then prints their AUROC (out scoring above in) and the share of each set their
thresholds flag, side by side. `--split dev` puts dev images on the in-distribution side: what a
score is chosen on; the test split is for the chosen one.

    .venv/bin/python bench/bench_ood.py --model RUN --data DATA [--split test] [--test-images 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics import ood_auroc  # noqa: E402
from analysis.ood_report import ood_sets  # noqa: E402
from fusion.config import OOD_METHODS  # noqa: E402
from fusion.ood import image_scores, ood_scores  # noqa: E402
from fusion.ood_store import fit_ood  # noqa: E402
from fusion.predictor import Predictor  # noqa: E402
from train.data.dataset_dir import read_dataset  # noqa: E402


def method_scores(predictor: Predictor, images: list, fitted: dict) -> dict[str, np.ndarray]:
    """Image scores of every fitted method, from one pass over `images` (stage statistics included)."""
    stages = next((f[0]["stages"] for f in fitted.values() if "stages" in f[0]), None)
    embedded = predictor.embed_batch(images, stages=stages)
    return {m: image_scores(ood_scores(settings, stats, embedded), embedded.owner) for m, (settings, stats) in fitted.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test", choices=("test", "dev"), help="in-distribution side (dev: to choose a score)")
    parser.add_argument("--test-images", type=int, default=2000, help="in-distribution images scored (a seeded subset)")
    parser.add_argument("--train-images", type=int, default=5000, help="train images for the Gaussians")
    args = parser.parse_args()

    predictor = Predictor.from_checkpoint(args.model)
    dataset = read_dataset(args.data)
    train, labels = dataset.load_images("train", progress=False), dataset.labels("train")
    val = dataset.load_images("val", progress=False)
    fitted = {m: fit_ood(predictor, train, labels, val, method=m, max_train=args.train_images, progress=True) for m in OOD_METHODS}
    inside_images = dataset.load_images(args.split, progress=False)
    pick = np.sort(np.random.default_rng(0).permutation(len(inside_images))[: args.test_images])
    inside = method_scores(predictor, list(inside_images[pick]), fitted)
    lines = [f"run {args.model}; in-distribution: {len(pick)} {args.split} images of {args.data.name}; each score fitted "
             f"here on train ({min(args.train_images, len(labels))} images) and val; the run's own score: {predictor.config.ood.get('method')}",
             "", "| out-of-distribution set | n | " + " | ".join(f"AUROC {m}" for m in OOD_METHODS) + " | "
             + " | ".join(f"flagged {m}" for m in OOD_METHODS) + " |", "|---|---|" + "---|" * (2 * len(OOD_METHODS))]

    def flagged(scores: dict[str, np.ndarray]) -> str:
        return " | ".join(f"{100 * np.mean(scores[m] > fitted[m][0]['threshold']):.1f} %" for m in OOD_METHODS)

    lines.append(f"| ({args.split} images, in-distribution) | {len(pick)} | " + " | " * (len(OOD_METHODS) - 1) + f" | {flagged(inside)} |")
    for name, images in ood_sets().items():
        outside = method_scores(predictor, images, fitted)
        lines.append(f"| {name} | {len(images)} | " + " | ".join(f"{ood_auroc(inside[m], outside[m]):.4f}" for m in OOD_METHODS)
                     + f" | {flagged(outside)} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
