"""Benchmark: how well the out-of-distribution score tells unfamiliar images from the test split.

For a trained run and its dataset, scores in-distribution test images and out-of-distribution sets
available offline, through `Predictor` (the same preprocessing the web page uses; each image is
resized to the model's input as any upload is):

- photographs: the scikit-image / scikit-learn sample photos (`train.data.photos`), whole;
- uniform noise and Gaussian noise images;
- scikit-learn's handwritten digits (8x8, upscaled), another small grey dataset.

Prints AUROC (out scoring above in) for both scores, Mahalanobis on the fused embedding and energy,
and the share of each set the run's fitted threshold flags.

    .venv/bin/python bench/bench_ood.py --model RUN --data DATA [--test-images 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics import ood_auroc  # noqa: E402
from analysis.unfamiliar import ood_sets  # noqa: E402
from fusion.ood import energy_score, fit_mahalanobis, image_scores, mahalanobis_score  # noqa: E402
from fusion.predictor import Predictor  # noqa: E402
from train.data.dataset_dir import read_dataset  # noqa: E402


def both_scores(predictor: Predictor, images: list, stats) -> dict[str, np.ndarray]:
    emb, logits, owner = predictor.embed_batch(images)
    return {"mahalanobis": image_scores(mahalanobis_score(torch.from_numpy(emb), stats), owner),
            "energy": image_scores(energy_score(torch.from_numpy(logits)), owner)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--test-images", type=int, default=2000, help="test images scored (a seeded subset)")
    parser.add_argument("--train-images", type=int, default=5000, help="train images for the Mahalanobis statistics")
    args = parser.parse_args()

    predictor = Predictor.from_checkpoint(args.model)
    dataset = read_dataset(args.data)
    rng = np.random.default_rng(0)
    train, labels = dataset.load_images("train", progress=False), dataset.labels("train")
    pick = np.sort(rng.permutation(len(labels))[: args.train_images])
    emb, _, owner = predictor.embed_batch(list(train[pick]))
    stats = fit_mahalanobis(emb, labels[pick][owner], predictor.config.num_classes)
    test = dataset.load_images("test", progress=False)
    test = list(test[np.sort(rng.permutation(len(test))[: args.test_images])])
    inside = both_scores(predictor, test, stats)
    fitted = predictor.config.ood
    lines = [f"run {args.model}; in-distribution: {len(test)} test images of {args.data.name}; "
             f"fitted score {fitted.get('method')} threshold {fitted.get('threshold', float('nan')):.4g}",
             "", "| out-of-distribution set | n | AUROC Mahalanobis | AUROC energy | flagged by the fitted threshold |",
             "|---|---|---|---|---|"]
    own = predictor.predict_batch(test)
    lines.append(f"| (test images, in-distribution) | {len(test)} | | | {100 * np.mean([p.in_distribution is False for p in own]):.1f} % |")
    for name, images in ood_sets().items():
        outside = both_scores(predictor, images, stats)
        flagged = np.mean([p.in_distribution is False for p in predictor.predict_batch(images)])
        lines.append(f"| {name} | {len(images)} | {ood_auroc(inside['mahalanobis'], outside['mahalanobis']):.4f} | "
                     f"{ood_auroc(inside['energy'], outside['energy']):.4f} | {100 * flagged:.1f} % |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
