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

from analysis.blur_photos import accuracy_table, baseline_scores, fitted_verdicts, model_verdicts  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from train.data.photos import BLURRED, make_blur_photo_folder  # noqa: E402


def train_and_predict(root: Path, work: Path, test_paths: list[Path], seed: int, extra: list[str],
                      crop: int) -> tuple[np.ndarray, float]:
    """`blurfuse data` + `blurfuse train --recipe blur-task` on the folder; the model's blurred verdicts."""
    from blurfuse.cli import main

    if main(["data", "--dataset", "folder", "--folder", str(root), "--out", str(work / "data"), "--image-size", str(crop),
             "--no-progress"]) != 0:
        raise SystemExit("blurfuse data failed")
    started = time.perf_counter()
    if main(["train", "--data", str(work / "data"), "--out", str(work / "run"), "--recipe", "blur-task",
             "--seed", str(seed), "--no-progress", *extra]) != 0:
        raise SystemExit("blurfuse train failed")
    seconds = time.perf_counter() - started
    return model_verdicts(work / "run", test_paths), seconds


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
                f"training time ({'blurfuse train --recipe blur-task'}): {seconds:.0f} s\n\n" + accuracy_table(test, truth[~train], columns) + "\n")
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
