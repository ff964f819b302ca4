"""Benchmark: blurred-vs-clear on real photographs, the trained model against two fitted thresholds.

Builds the blurred-vs-clear folder from the photographs scikit-image and scikit-learn ship
(`train.data.photos`: native-resolution crops, every other one blurred with a Gaussian, motion or
defocus kernel at three strengths, split BY PHOTO so no scene is in both train and test), then
follows the README's workflow exactly (`blurfuse data` on the folder, `blurfuse train --recipe
blur-task`), and scores the held-out photos' crops three ways in the same run:

- the trained model (`Predictor`, as `blurfuse predict` and the web page answer);
- (a) the variance of the Laplacian at native resolution, threshold fitted on the training crops;
- (b) the FFT high-frequency energy ratio (`features.frequency.fft_high_ratio`), threshold fitted
  on the training crops.

Prints one markdown table (accuracy per blur kind and strength, and on sharp crops) and the
training time.

    .venv/bin/python bench/bench_blur_photos.py [--crops-per-photo 24] [--seed 0] [--out bench/results/blur_photos.md]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import fit_blur_threshold, laplacian_variance, load_image, to_gray  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from features.frequency import fft_high_ratio  # noqa: E402
from train.data.photos import BLURRED, make_blur_photo_folder  # noqa: E402


def baseline_scores(root: Path, crops) -> dict[str, np.ndarray]:
    """Laplacian variance and FFT ratio of every crop, at its own resolution."""
    gray = np.stack([to_gray(load_image(root / c.path)) for c in crops])
    return {"laplacian": np.asarray(laplacian_variance(gray)), "fft": fft_high_ratio(gray)}


def fitted_verdicts(scores: dict[str, np.ndarray], truth: np.ndarray, train: np.ndarray) -> tuple[dict, dict]:
    """Blurred verdicts of each baseline on every crop, thresholds fitted on the training crops only."""
    verdicts, thresholds = {}, {}
    for name, values in scores.items():
        thresholds[name] = fit_blur_threshold(values[train], truth[train])
        verdicts[name] = values < thresholds[name]
    return verdicts, thresholds


def train_and_predict(root: Path, work: Path, test_paths: list[Path], seed: int, extra: list[str],
                      crop: int) -> tuple[np.ndarray, float]:
    """`blurfuse data` + `blurfuse train --recipe blur-task` on the folder; the model's blurred verdicts."""
    from blurfuse.cli import main
    from fusion.predictor import Predictor

    if main(["data", "--dataset", "folder", "--folder", str(root), "--out", str(work / "data"), "--image-size", str(crop),
             "--no-progress"]) != 0:
        raise SystemExit("blurfuse data failed")
    started = time.perf_counter()
    if main(["train", "--data", str(work / "data"), "--out", str(work / "run"), "--recipe", "blur-task",
             "--seed", str(seed), "--no-progress", *extra]) != 0:
        raise SystemExit("blurfuse train failed")
    seconds = time.perf_counter() - started
    predictor = Predictor.from_checkpoint(work / "run")
    blurred_class = predictor.config.blur_task["blurred_class"]
    predictions = predictor.predict_batch(test_paths, batch_size=64)
    return np.array([p.class_index == blurred_class for p in predictions]), seconds


def table(crops, truth: np.ndarray, verdicts: dict[str, np.ndarray]) -> str:
    """Accuracy per blur kind and strength (rows) for each method (columns), test crops only."""
    keys = sorted({(c.kind, c.strength) for c in crops if c.kind}) + [("", "none")]
    lines = ["| test crops | n | model | Laplacian (fitted) | FFT ratio (fitted) |", "|---|---|---|---|---|"]
    for key in keys + [None]:
        if key is None:
            mask, label = np.ones(len(crops), bool), "**all**"
        else:
            mask = np.array([(c.kind, c.strength) == key for c in crops])
            label = f"{key[0]} {key[1]}" if key[0] else "sharp (Undistorted)"
        cells = [f"{100 * (v[mask] == truth[mask]).mean():.1f} %" for v in verdicts.values()]
        lines.append(f"| {label} | {int(mask.sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops-per-photo", type=int, default=24)
    parser.add_argument("--crop", type=int, default=128, help="crop side in px, at native resolution")
    parser.add_argument("--test-share", type=float, default=0.3, help="share of PHOTOS held out for testing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra `blurfuse train` option, e.g. --set=--epochs=4")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-blur-photos-") as tmp:
        work = Path(tmp)
        root = work / "photos"
        crops = make_blur_photo_folder(root, crop=args.crop, crops_per_photo=args.crops_per_photo,
                                       test_share=args.test_share, seed=args.seed)
        truth = np.array([c.label == BLURRED for c in crops])
        train = np.array([c.split == "train" for c in crops])
        verdicts, thresholds = fitted_verdicts(baseline_scores(root, crops), truth, train)
        test = [c for c in crops if c.split == "test"]
        model, seconds = train_and_predict(root, work, [root / c.path for c in test], args.seed, args.extra,
                                           args.crop)
        columns = {"model": model, "laplacian": verdicts["laplacian"][~train], "fft": verdicts["fft"][~train]}
        photos = sorted({c.photo for c in test})
        text = (f"{len(crops) - len(test)} training crops from {len({c.photo for c in crops}) - len(photos)} photos, "
                f"{len(test)} test crops from {len(photos)} other photos ({', '.join(photos)}); {args.crop} px crops, seed {args.seed}\n"
                f"thresholds fitted on the training crops: Laplacian variance {thresholds['laplacian']:.1f}, "
                f"FFT ratio {thresholds['fft']:.4f}\n"
                f"training time ({'blurfuse train --recipe blur-task'}): {seconds:.0f} s\n\n" + table(test, truth[~train], columns) + "\n")
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
