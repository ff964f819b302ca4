"""Benchmark: blurred-vs-clear on real photographs, the trained model against two fitted thresholds.

Builds the blurred-vs-clear folder from real photographs (`train.data.photos`; `--pool wide`, the
default: scikit-image's, scikit-learn's, matplotlib's and OpenCV's sample photos, `make photos`
installs the last; `--pool bundled`: the first two only): native-resolution crops cut where the
photo has detail and is in focus (`--anywhere` drops that rule), every other one blurred with a
Gaussian, motion or defocus kernel at three strengths, split BY PHOTO so no scene is in both train
and test (per source group, so a seed holds out the same bundled photos in either pool), then
follows the README's workflow exactly (`blurfuse data` on the folder, `blurfuse train --recipe
blur-task`), and scores the held-out photos' crops three ways in the same run:

- the trained model (`Predictor`, as `blurfuse predict` and the web page answer);
- (a) the variance of the Laplacian at native resolution, threshold fitted on the training crops;
- (b) the FFT high-frequency energy ratio (`features.frequency.fft_high_ratio`), threshold fitted
  on the training crops.

Prints one markdown table (accuracy per blur kind and strength, and on sharp crops) and the
training time.

`--dev` is for choosing: the seed's test photos are dropped before anything is built, and the
remaining (training) photos are split again, by photo, into a training part and a dev part that the
table scores. Recipes are compared that way over seeds; the plain run (test photos) is for what
ships. Photos soft at their own resolution are left out (`train.data.photos.is_soft`) unless
`--include-soft`.

`--whole` also scores the held-out photos WHOLE (`bench.whole_photos`): each one sharp, with motion
blur of 7 / 11 / 15 px and Gaussian and defocus blur at light and medium strength, at native
resolution (cropped to 1280 px on a longer side, never resampled), read by the model exactly as `blurfuse
predict` reads them (tiles) and by the two thresholds fitted on the training crops, applied to the
whole photo. `--train-photos N` trains on N of the split's training photos only (same test photos),
e.g. a dozen. `--dump FILE.npz` keeps every tile's answer, to compare ways of combining them.

    make photos
    .venv/bin/python bench/bench_blur_photos.py [--dev] [--seed 0] [--pool wide|bundled] [--anywhere]
        [--set=--blur-evidence-set=multiscale] [--whole] [--train-photos 12] [--out FILE.md]
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

from bench.blur_photos import accuracy_table, baseline_scores, fitted_verdicts, model_verdicts  # noqa: E402
from bench.tile_reading import read_tiles, rule_verdicts  # noqa: E402
from bench.whole_photos import (LONG_SIDE, make_whole_photos, print_and_save, whole_baseline_scores,  # noqa: E402
                                whole_table)
from train.data.photos import (BLURRED, PHOTO_POOLS, folder_splits, make_blur_photo_folder,  # noqa: E402
                               sample_photo_groups, training_photo_groups)


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


def whole_photo_section(work: Path, held_out: list[Path], thresholds: dict[str, float], args: argparse.Namespace,
                        side: str) -> str:
    """The held-out photos whole: the model's tile reading (as `blurfuse predict`) against the crop-fitted
    thresholds applied to each whole photo, per kind x strength (and, with --dump, every tile's answer)."""
    images = make_whole_photos(work / "whole", held_out, seed=args.seed, long_side=args.long_side)
    reading = read_tiles(work / "run", [im.path for im in images])
    scores = whole_baseline_scores(images)
    columns = {"model (tiles, as predict)": reading.verdict, "Laplacian (fitted on crops)": scores["laplacian"] < thresholds["laplacian"],
               "FFT ratio (fitted on crops)": scores["fft"] < thresholds["fft"]}
    sizes = ", ".join(f"{name} {w}x{h}" for name, (h, w) in sorted({(im.photo, im.shape) for im in images}))
    text = (f"whole {side} photos ({len(held_out)}; native resolution, cropped to {args.long_side} px on a longer side, "
            f"never resampled): {sizes}\n\n" + whole_table(images, columns, side) + "\n")
    if args.dump:
        rules = rule_verdicts(reading)
        text += "\ncandidate tile votes (chosen on dev photos only; 'mean' is what predict answered before the contrast vote):\n\n" + whole_table(images, rules, side) + "\n"
        np.savez(args.dump, truth=np.array([im.blurred for im in images]), kind=np.array([im.kind for im in images]),
                 strength=np.array([im.strength for im in images]), photo=np.array([im.photo for im in images]),
                 laplacian=scores["laplacian"], fft=scores["fft"], verdict=reading.verdict,
                 threshold_laplacian=thresholds["laplacian"], threshold_fft=thresholds["fft"],
                 tile_prob=np.array(reading.tile_prob, dtype=object), tile_contrast=np.array(reading.tile_contrast, dtype=object))
    return text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops-per-photo", type=int, default=48)
    parser.add_argument("--crop", type=int, default=128, help="crop side in px, at native resolution")
    parser.add_argument("--test-share", type=float, default=0.3, help="share of PHOTOS held out for testing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev", action="store_true", help="score dev photos split off the training photos; never the test photos")
    parser.add_argument("--include-soft", action="store_true", help="keep photos that are soft at their own resolution")
    parser.add_argument("--pool", choices=PHOTO_POOLS, default="wide",
                        help="bundled: scikit-image's and scikit-learn's photos; wide: also OpenCV's samples (make photos)")
    parser.add_argument("--anywhere", action="store_true",
                        help="cut crops without the detail and focus rules (flat and out-of-focus crops kept)")
    parser.add_argument("--whole", action="store_true", help="also score the held-out photos whole, read as tiles")
    parser.add_argument("--long-side", type=int, default=LONG_SIDE, help="whole photos are cropped to this on a longer side")
    parser.add_argument("--train-photos", type=int, help="train on this many of the split's training photos only")
    parser.add_argument("--dump", type=Path, help="with --whole: every tile's answer and verdicts (npz)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra `blurfuse train` option, e.g. --set=--epochs=4")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    return parser.parse_args()


def choose_photos(args: argparse.Namespace) -> tuple[dict[str, list[Path]], list[Path], int]:
    """The photo groups to build from, the soft photos left out, and the seed that splits them.
    Softness is judged once; a dev run never sees the seed's test photos."""
    every_photo, sharp = sample_photo_groups(args.pool, include_soft=True), sample_photo_groups(args.pool)
    soft = [p for name, paths in every_photo.items() for p in paths if p not in sharp[name]]
    photos, split_seed = (every_photo if args.include_soft else sharp), args.seed
    if args.dev:
        photos, split_seed = training_photo_groups(photos, args.test_share, args.seed), args.seed + 1000
    return photos, soft, split_seed


def main() -> int:
    args = parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-blur-photos-") as tmp:
        work = Path(tmp)
        root = work / "photos"
        try:
            photos, soft, split_seed = choose_photos(args)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        try:
            crops = make_blur_photo_folder(root, crop=args.crop, crops_per_photo=args.crops_per_photo,
                                           test_share=args.test_share, seed=split_seed, photos=photos,
                                           anywhere=args.anywhere, train_photos=args.train_photos)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        truth = np.array([c.label == BLURRED for c in crops])
        train = np.array([c.split == "train" for c in crops])
        verdicts, thresholds = fitted_verdicts(baseline_scores(root, crops), truth, train)
        test = [c for c in crops if c.split == "test"]
        model, seconds = train_and_predict(root, work, [root / c.path for c in test], args.seed, args.extra,
                                           args.crop)
        held_truth = truth[~train]
        columns = {"model": model, "laplacian": verdicts["laplacian"][~train], "fft": verdicts["fft"][~train]}
        held_out = sorted({c.photo for c in test})
        photo_of = np.array([c.photo for c in test])
        side = "dev" if args.dev else "test"
        text = (f"{len(crops) - len(test)} training crops from {len({c.photo for c in crops}) - len(held_out)} photos, "
                f"{len(test)} {side} crops from {len(held_out)} other photos ({', '.join(held_out)}); {args.crop} px crops, "
                f"seed {args.seed}, {args.pool} pool{', crops anywhere' if args.anywhere else ''}"
                f"{f', {args.train_photos} training photos' if args.train_photos else ''}"
                f"{', options ' + ' '.join(args.extra) if args.extra else ''}\n"
                f"soft at their own resolution: {', '.join(p.name for p in soft) or 'none'} ({'kept' if args.include_soft else 'left out'})\n"
                f"thresholds fitted on the training crops: Laplacian variance {thresholds['laplacian']:.1f}, "
                f"FFT ratio {thresholds['fft']:.4f}\n"
                f"training time (blurfuse train --recipe blur-task): {seconds:.0f} s\n\n" + accuracy_table(test, held_truth, columns, side) + "\n")
        model_right = model == held_truth
        per_photo = ", ".join(f"{name} {100 * model_right[photo_of == name].mean():.1f} %" for name in held_out)
        text += f"\nmodel accuracy per {side} photo: {per_photo}\n"
        if len(photos) > 1:  # the bundled photos' rows alone compare with a --pool bundled run of the same seed
            mask = np.isin(photo_of, [p.name for p in photos["bundled"]])
            cells = ", ".join(f"{name} {100 * (v[mask] == held_truth[mask]).mean():.1f} %" for name, v in columns.items())
            text += f"\n{side} crops of the bundled photos only ({int(mask.sum())}): {cells}\n"
        if args.whole:
            held_paths = folder_splits(photos, args.test_share, split_seed, args.train_photos)["test"]
            text += "\n" + whole_photo_section(work, held_paths, thresholds, args, side) + "\n"
    return print_and_save(text, args.out)


if __name__ == "__main__":
    sys.exit(main())
