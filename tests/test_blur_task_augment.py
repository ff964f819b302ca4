"""Blur augmentation on a blurred-vs-clear dataset never makes a label say the opposite of the pixels."""

from __future__ import annotations

import numpy as np

from features import FeatureConfig, compute_features
from train.batches import SplitArrays, blur_augment
from train.data.blurtask import blur_truth, detect_blur_task

BLURRED, SHARP = 0, 1


def photo_batch(n: int = 40, size: int = 48, seed: int = 0) -> SplitArrays:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    labels = np.where(np.arange(n) % 2 == 0, BLURRED, SHARP).astype(np.int64)
    feats = compute_features(images, FeatureConfig(size=size))
    return SplitArrays(images=images, features=feats, labels=labels, blurred_truth=blur_truth(labels, {"blurred_class": BLURRED}))


def test_blur_augmentation_never_produces_an_undistorted_label_on_a_blurred_image():
    batch = photo_batch()
    config = FeatureConfig(size=48)
    relabelled = 0
    for seed in range(6):
        out = blur_augment(batch, np.random.default_rng(seed), 0.6, config, blurred_class=BLURRED)
        changed = np.any(out.images != batch.images, axis=(1, 2, 3))
        assert changed.any()
        # every image the augmentation blurred is labelled Blurred, and the blur head's truth agrees
        assert (out.labels[changed] == BLURRED).all()
        assert np.array_equal(out.blurred_truth, out.labels == BLURRED)
        # images already Blurred are never touched; untouched Undistorted images keep their label
        assert not changed[batch.labels == BLURRED].any()
        assert (out.labels[~changed] == batch.labels[~changed]).all()
        relabelled += int((changed & (batch.labels == SHARP)).sum())
    assert relabelled > 0


def test_on_an_ordinary_dataset_the_class_is_kept_and_only_the_blur_truth_changes():
    batch = photo_batch(seed=1)
    batch = SplitArrays(batch.images, batch.features, np.arange(len(batch)) % 5, np.zeros(len(batch), bool))
    out = blur_augment(batch, np.random.default_rng(0), 0.5, FeatureConfig(size=48))
    changed = np.any(out.images != batch.images, axis=(1, 2, 3))
    assert changed.any() and np.array_equal(out.labels, batch.labels)
    assert np.array_equal(out.blurred_truth, changed)


def test_blur_task_is_recognised_from_the_folder_names_or_asked_for():
    assert detect_blur_task(["Blurred", "Undistorted"]) == {"blurred_class": 0, "sharp_class": 1}
    assert detect_blur_task(["sharp", "BLURRY"]) == {"blurred_class": 1, "sharp_class": 0}
    assert detect_blur_task(["cat", "dog"]) is None
    assert detect_blur_task(["blur_motion", "fine"], explicit=True) == {"blurred_class": 0, "sharp_class": 1}
    for names in (["cat", "dog"], ["a", "b", "blurred"]):
        try:
            detect_blur_task(names, explicit=True)
        except ValueError as error:
            assert "--blur-task" in str(error)
        else:
            raise AssertionError(f"{names} accepted as a blur task")


def test_noise_augmentation_keeps_every_label_and_recomputes_the_features_it_changes():
    """Sensor noise comes after the blur in a camera: noisy copies of both classes keep their label,
    and the blur evidence the model reads (gray, Laplacian) is that of the noisy pixels."""
    from train.batches import noise_augment

    smooth = photo_batch(seed=2)
    images = np.full_like(smooth.images, 128)  # flat: any change is the noise
    config = FeatureConfig(size=48)
    batch = SplitArrays(images, compute_features(images, config), smooth.labels, smooth.blurred_truth)
    out = noise_augment(batch, np.random.default_rng(0), 0.5, config)
    changed = np.any(out.images != batch.images, axis=(1, 2, 3))
    assert 0 < changed.sum() < len(batch)
    assert changed[batch.labels == BLURRED].any() and changed[batch.labels == SHARP].any()  # both classes
    assert np.array_equal(out.labels, batch.labels) and np.array_equal(out.blurred_truth, batch.blurred_truth)
    noise = out.images[changed].astype(float) - 128
    assert 1.0 < noise.std() < 6.5  # sigma drawn in [1.5, 6] gray levels
    assert np.array_equal(out.features.laplacian_var, compute_features(out.images, config).laplacian_var)
    assert (out.features.laplacian_var[changed] > 0).all() and (out.features.laplacian_var[~changed] == 0).all()
    assert noise_augment(batch, np.random.default_rng(0), 0.0, config) is batch


def test_noise_settings_out_of_range_are_refused_before_training():
    import pytest

    from train.recipes import recipe_config

    for bad in ({"noise_augment": 1.5}, {"noise_augment": -0.1}, {"noise_sigma": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            recipe_config("blur-task", data="d", out="o", **bad).validate()
    recipe_config("blur-task", data="d", out="o", noise_augment=0.5, noise_sigma=2.0).validate()
