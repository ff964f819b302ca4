"""The whole-photo test set of issue 18 part 4 (`bench/whole_photos.py`) makes the blurs it says it makes,
never enlarges a photo, and the dozen-photo training subset keeps the test photos of the full split."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.whole_photos import (LONG_SIDE, WHOLE_BLURS, fit_long_side, make_whole_photos, motion_angle,
                                whole_baseline_scores, whole_table)
from features import BlurSpec, apply_blur, load_image
from train.data.photos import folder_splits, split_photo_groups


def _photo(tmp_path: Path, name: str, h: int, w: int, seed: int = 0) -> Path:
    """A textured test photo (smoothed noise: detail at every scale, like a real scene)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 0.7)
    path = tmp_path / name
    cv2.imwrite(str(path), image)
    return path


def test_fit_long_side_crops_large_photos_and_never_resamples():
    big = np.random.default_rng(0).integers(0, 255, (1110, 1600, 3), dtype=np.uint8)
    cut = fit_long_side(big)
    assert cut.shape[:2] == (1110, LONG_SIDE)
    assert np.array_equal(cut, big[:, 160:160 + LONG_SIDE])  # the central part, pixel for pixel
    assert fit_long_side(np.zeros((1500, 1400, 3), np.uint8)).shape[:2] == (LONG_SIDE, LONG_SIDE)
    small = np.zeros((300, 451, 3), np.uint8)
    assert np.array_equal(fit_long_side(small), small) and fit_long_side(small).shape == small.shape
    with pytest.raises(ValueError, match="long_side"):
        fit_long_side(small, 100)


def test_every_photo_gets_a_sharp_copy_and_each_listed_blur_exactly(tmp_path):
    photos = [_photo(tmp_path, "a.png", 300, 420, 1), _photo(tmp_path, "b.png", 400, 260, 2)]
    images = make_whole_photos(tmp_path / "whole", photos, seed=3, progress=False)
    per_photo = 1 + sum(len(levels) for levels in WHOLE_BLURS.values())
    assert len(images) == per_photo * len(photos)
    for im in images:
        source = load_image(tmp_path / im.photo)
        pixels = load_image(im.path)
        assert pixels.shape == source.shape  # native size, whole
        expected = apply_blur(source, BlurSpec(im.kind, im.param, im.angle)) if im.kind else source
        assert np.array_equal(pixels, expected), im
    motion = [im for im in images if im.kind == "motion"]
    assert sorted({im.param for im in motion}) == [7.0, 11.0, 15.0]
    assert all(im.angle == motion_angle(im.photo, im.param, 3) for im in motion)
    assert len({round(im.angle, 3) for im in motion}) == len(motion)  # directions spread across photos and lengths


def test_motion_blur_smooths_along_its_direction_only(tmp_path):
    """The builder's motion blur is a line of the stated length and direction: a horizontal one leaves
    horizontal stripes (constant along the motion) untouched and averages vertical 11 px stripes away."""
    period = 11
    stripes = (np.arange(66) % period == 0).astype(np.uint8) * 200 + 20
    rows = np.repeat(np.repeat(stripes[:, None], 66, axis=1)[:, :, None], 3, axis=2)  # horizontal stripes
    cols = np.ascontiguousarray(rows.transpose(1, 0, 2))  # vertical stripes
    horizontal = BlurSpec("motion", period, 0.0)
    assert np.array_equal(apply_blur(rows, horizontal)[8:-8, 8:-8], rows[8:-8, 8:-8])
    flat = apply_blur(cols, horizontal)[8:-8, 8:-8].astype(int)
    assert flat.max() - flat.min() <= 10  # one stripe in every 11 px window: 200 gray levels of stripes averaged away
    seen = apply_blur(cols, BlurSpec("motion", 7, 0.0))[8:-8, 8:-8, 0] > 30
    assert abs(seen.mean() - 7 / period) <= 1.5 / period  # a 7 px line sees the stripe from 7 of 11 positions
    assert np.count_nonzero(horizontal.kernel()) <= period + 2  # a line, not a disk
    vertical = BlurSpec("motion", period, 90.0)
    assert np.array_equal(apply_blur(cols, vertical)[8:-8, 8:-8], cols[8:-8, 8:-8])


def test_whole_table_counts_and_balanced_accuracy(tmp_path):
    photos = [_photo(tmp_path, "d.png", 300, 300, 5)]
    images = make_whole_photos(tmp_path / "whole", photos, progress=False)
    truth = np.array([im.blurred for im in images])
    always_blurred = {"always": np.ones(len(images), bool)}
    text = whole_table(images, always_blurred)
    assert "| sharp | 1 | 0/1 (0.0 %) |" in text
    assert "| motion 7px | 1 | 1/1 (100.0 %) |" in text
    assert f"| all blurred | {int(truth.sum())} | {int(truth.sum())}/{int(truth.sum())} (100.0 %) |" in text
    assert "**50.0 %**" in text  # right on every blurred photo, wrong on the sharp one
    scores = whole_baseline_scores(images)
    sharp = [i for i, im in enumerate(images) if not im.blurred][0]
    assert all(scores["laplacian"][i] < scores["laplacian"][sharp] for i, im in enumerate(images) if im.blurred)


def test_too_small_photo_is_refused_with_its_name(tmp_path):
    with pytest.raises(ValueError, match="tiny.png"):
        make_whole_photos(tmp_path / "whole", [_photo(tmp_path, "tiny.png", 100, 200)], progress=False)


def test_a_dozen_training_photos_keep_the_full_splits_test_photos():
    groups = {"one": [Path(f"p{i:02d}.png") for i in range(20)], "two": [Path(f"q{i:02d}.png") for i in range(14)]}
    full = split_photo_groups(groups, 0.3, 7)
    dozen = folder_splits(groups, 0.3, 7, train_photos=12)
    assert dozen["test"] == full["test"]
    assert len(dozen["train"]) == 12 and set(dozen["train"]) <= set(full["train"])
    assert folder_splits(groups, 0.3, 7, train_photos=12) == dozen  # seeded
    with pytest.raises(ValueError, match="train_photos"):
        folder_splits(groups, 0.3, 7, train_photos=len(full["train"]) + 1)
