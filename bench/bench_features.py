"""Benchmark the feature step (blur score + verdict + edge map) and the custom edge path.

Prints images/s for the whole step at 28 px and 224 px on real Fashion-MNIST images (half
blurred), and, measured in the same run on the same images, the speed ratio of the vectorised
NMS + hysteresis against a textbook pixel-loop implementation.

    .venv/bin/python bench/bench_features.py [--images 20000] [--loop-images 30]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import FeatureConfig, apply_blur, compute_features, fit_blur_threshold, laplacian_variance, sample_blur_spec  # noqa: E402
from features.edges import EdgeSettings, hysteresis, non_max_suppression, sobel_gradients  # noqa: E402
from features.image import resize_square  # noqa: E402
from bench.reference import flood_fill_hysteresis  # noqa: E402


def load_fmnist(count: int) -> np.ndarray:
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as handle:
        handle.read(16)
        return np.frombuffer(handle.read(count * 784), np.uint8).reshape(count, 28, 28).copy()


def half_blurred(images: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flags = np.zeros(len(images), bool)
    flags[::2] = True
    out = images.copy()
    for i in np.flatnonzero(flags):
        out[i] = apply_blur(out[i], sample_blur_spec(rng))
    return out, flags


def loop_nms_hysteresis(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reference: NMS and hysteresis with Python loops over pixels, as in a textbook Canny."""
    h, w = magnitude.shape
    thin = np.zeros_like(magnitude)
    for y in range(h):
        for x in range(w):
            m = magnitude[y, x]
            if m == 0:
                continue
            angle = np.degrees(np.arctan2(gy[y, x], gx[y, x])) % 180
            if angle < 22.5 or angle >= 157.5:
                offsets = ((0, 1), (0, -1))
            elif angle < 67.5:
                offsets = ((1, 1), (-1, -1))
            elif angle < 112.5:
                offsets = ((1, 0), (-1, 0))
            else:
                offsets = ((1, -1), (-1, 1))
            neighbours = [
                magnitude[y + dy, x + dx] if 0 <= y + dy < h and 0 <= x + dx < w else 0.0 for dy, dx in offsets
            ]
            if m >= max(neighbours):
                thin[y, x] = m
    return flood_fill_hysteresis(thin > low, thin > high)


def vector_nms_hysteresis(magnitude, gx, gy, low, high):
    thin = non_max_suppression(magnitude, gx, gy)
    return hysteresis(thin > low, thin > high)


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--loop-images", type=int, default=30)
    args = parser.parse_args()

    gray, flags = half_blurred(load_fmnist(args.images))
    threshold = fit_blur_threshold(laplacian_variance(gray), flags)
    rows = []
    for size, count in ((28, args.images), (224, max(200, args.images // 20))):
        batch = gray[:count] if size == 28 else np.stack([resize_square(g, size) for g in gray[:count]])
        rgb = np.repeat(batch[..., None], 3, axis=3)
        config = FeatureConfig(size=size, blur_threshold=threshold if size == 28 else threshold / 64)
        seconds = best_of(lambda: compute_features(rgb, config))
        rows.append((f"feature step, {size} px", count, count / seconds))

    sample = gray[: args.loop_images][flags[: args.loop_images]]
    gx, gy = sobel_gradients(sample)
    magnitude = np.hypot(gx, gy)
    low, high = 30.0, 80.0
    loop_seconds = best_of(
        lambda: [loop_nms_hysteresis(magnitude[i], gx[i], gy[i], low, high) for i in range(len(sample))], repeats=1
    )
    vector_seconds = best_of(lambda: vector_nms_hysteresis(magnitude, gx, gy, low, high), repeats=5)
    loop_result = np.stack([loop_nms_hysteresis(magnitude[i], gx[i], gy[i], low, high) for i in range(len(sample))])
    same = np.array_equal(loop_result, vector_nms_hysteresis(magnitude, gx, gy, low, high))

    print("| step | images | images/s |")
    print("| --- | ---: | ---: |")
    for name, count, rate in rows:
        print(f"| {name} | {count} | {rate:,.0f} |")
    print(f"| NMS + hysteresis, pixel loop | {len(sample)} | {len(sample) / loop_seconds:,.0f} |")
    print(f"| NMS + hysteresis, vectorised | {len(sample)} | {len(sample) / vector_seconds:,.0f} |")
    print(f"\nvectorised / pixel loop: {loop_seconds / vector_seconds:,.0f}x (identical output: {same})")
    print(f"edge settings: {EdgeSettings()}")


if __name__ == "__main__":
    main()
