"""Cost of the training augmentations per batch: classic blur (per-image OpenCV draws) vs psf
(randomised PSFs, one grouped torch convolution), through `train.batches.blur_augment`, and AugMix
(`train.batches.augmix_augment`, timm's per-image PIL chains), each with feature recomputation, as the
training loop calls them.

    .venv/bin/python bench/bench_psf_augment.py [--data data/fmnist-lt-blur-v1] [--batches 30] [--batch-size 128] \
        [--threads 1] [--augmix 0.25]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of sharp images blurred (recipe blur_augment)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--augmix", type=float, default=0.25, help="share of the batch AugMix replaces (recipe augmix)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from features import FeatureConfig, compute_features
    from train.batches import SplitArrays, augmix_augment, blur_augment
    from train.data.dataset_dir import read_dataset

    torch.set_num_threads(args.threads)
    dataset = read_dataset(args.data)
    images = dataset.load_images("train", progress=False)[: args.batch_size * 4]
    config = FeatureConfig()
    batch = SplitArrays(images=images[: args.batch_size], features=compute_features(images[: args.batch_size], config),
                        labels=np.zeros(args.batch_size, dtype=np.int64), blurred_truth=np.zeros(args.batch_size, dtype=bool))
    runs = {kernels: (lambda rng, k=kernels: blur_augment(batch, rng, args.fraction, config, kernels=k),
                      f"{args.fraction:.0%} blurred") for kernels in ("classic", "psf")}
    runs["augmix"] = (lambda rng: augmix_augment(batch, rng, args.augmix, config), f"{args.augmix:.0%} AugMixed")
    for name, (step, what) in runs.items():
        rng = np.random.default_rng(0)
        step(rng)  # warm-up (imports, first draws)
        start = time.perf_counter()
        for _ in range(args.batches):
            step(rng)
        ms = 1000 * (time.perf_counter() - start) / args.batches
        print(f"{name:<8} {ms:7.1f} ms per batch of {args.batch_size} ({what}, features recomputed, "
              f"{args.threads} torch thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
