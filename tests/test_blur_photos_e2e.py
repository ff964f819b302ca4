"""Blurred-vs-clear on real photographs, end to end as the README tells a user to do it.

The photographs scikit-image and scikit-learn ship are cut into native-resolution crops, half of
them blurred (Gaussian, motion, defocus), split BY PHOTO (no scene on both sides), written as a
Blurred/ + Undistorted/ folder, and run through `blurfuse data` and `blurfuse train --recipe
blur-task`. The trained model must then be right more often on the held-out photos' crops than a
variance-of-Laplacian threshold fitted on the same training crops: a blur tool that loses to the
one-line baseline has no reason to exist. The set and the recipe are bench/bench_blur_photos.py's
with `--pool bundled --seed 0` (128 px crops, 48 per photo): docs/RESULTS.md's bundled split 0, asserted.
The bench's default wide pool needs Debian's opencv-doc, which `make test` does not install.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.blur_photos import baseline_scores, fitted_verdicts, model_verdicts
from bench.whole_photos import balanced_accuracy, make_whole_photos, whole_baseline_scores
from blurfuse.cli import main
from features import BlurSpec, apply_blur
from train.data.photos import BLURRED, folder_splits, is_soft, make_blur_photo_folder, sample_photo_groups, sample_photo_paths

CROP = 128


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("blur-photos")
    root = work / "photos"
    crops = make_blur_photo_folder(root, crop=CROP, crops_per_photo=48, test_share=0.3, seed=0)
    assert main(["data", "--dataset", "folder", "--folder", str(root), "--out", str(work / "data"),
                 "--image-size", str(CROP), "--no-progress"]) == 0
    assert main(["train", "--data", str(work / "data"), "--out", str(work / "run"), "--recipe", "blur-task",
                 "--seed", "0", "--no-progress"]) == 0
    return root, crops, work / "run"


def test_photos_soft_at_their_own_resolution_are_left_out_by_the_sigma_1_rule(tmp_path):
    import cv2

    names = {p.name for p in sample_photo_paths()}
    soft = {p.name for p in sample_photo_paths(include_soft=True)} - names
    assert {"cell.png", "retina.jpg"} <= soft and {"astronaut.png", "china.jpg"} <= names
    # The rule is about the image, not its name: a sharp photo blurred a little more than the
    # lightest blur of the set becomes soft.
    photo = next(p for p in sample_photo_paths() if p.name == "astronaut.png")
    blurred = apply_blur(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), BlurSpec("gaussian", 1.5))
    cv2.imwrite(str(tmp_path / "soft.png"), blurred)
    assert not is_soft(photo) and is_soft(tmp_path / "soft.png")


def test_split_is_by_photo(photo_run):
    _, crops, _ = photo_run
    train = {c.photo for c in crops if c.split == "train"}
    test = {c.photo for c in crops if c.split == "test"}
    assert train and test and not train & test


def test_trained_model_beats_the_fitted_laplacian_on_held_out_photos(photo_run):
    root, crops, run = photo_run
    truth = np.array([c.label == BLURRED for c in crops])
    train = np.array([c.split == "train" for c in crops])
    verdicts, _ = fitted_verdicts(baseline_scores(root, crops), truth, train)
    laplacian = (verdicts["laplacian"][~train] == truth[~train]).mean()

    model = (model_verdicts(run, [root / c.path for c in crops if c.split == "test"]) == truth[~train]).mean()
    # Measured: 100.0 % against 89.6 % (docs/RESULTS.md); the margins leave room for thread-order noise.
    assert model >= laplacian + 0.05, f"model {model:.3f} vs fitted Laplacian {laplacian:.3f} on held-out photos"
    assert model >= 0.95, f"model {model:.3f} on held-out photos, docs/RESULTS.md measured 1.000"


def test_whole_held_out_photos_read_as_tiles_beat_the_laplacian_fitted_on_the_crops(photo_run, tmp_path):
    """The held-out photos whole (sharp, motion 7 / 11 / 15 px, Gaussian and defocus light and medium),
    read as `predict` reads them: at least as good as the crop-fitted Laplacian applied to the whole
    photo, and every motion-blurred photo called Blurred (the weak spot this reading was checked for)."""
    root, crops, run = photo_run
    truth = np.array([c.label == BLURRED for c in crops])
    train = np.array([c.split == "train" for c in crops])
    _, thresholds = fitted_verdicts(baseline_scores(root, crops), truth, train)
    held_out = folder_splits(sample_photo_groups(), 0.3, 0)["test"]
    assert sorted(p.name for p in held_out) == sorted({c.photo for c in crops if c.split == "test"})
    images = make_whole_photos(tmp_path, held_out, seed=0, progress=False)
    whole_truth = np.array([im.blurred for im in images])
    model = model_verdicts(run, [im.path for im in images])
    laplacian = whole_baseline_scores(images)["laplacian"] < thresholds["laplacian"]
    motion = np.array([im.kind == "motion" for im in images])
    assert model[motion].all(), [im.path.name for im, v in zip(images, model) if im.kind == "motion" and not v]
    assert balanced_accuracy(whole_truth, model) >= balanced_accuracy(whole_truth, laplacian)
