"""The `blur_kernels` recipe field: validated, recorded, and used by the training loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features import FeatureConfig, compute_features
from train import batches
from train.batches import SplitArrays, blur_augment
from train.psf_batch import psf_blur
from train.fit import train_model
from train.recipes import recipe_config


def test_blur_kernels_default_to_mixed_classic_for_photos_and_reject_unknown_modes(tmp_path):
    assert recipe_config("default", data="d", out=str(tmp_path)).blur_kernels == "mixed"
    assert recipe_config("blur-task", data="d", out=str(tmp_path)).blur_kernels == "classic"
    with pytest.raises(ValueError, match="blur_kernels"):
        recipe_config("default", data="d", out=str(tmp_path), blur_kernels="zoom").validate()


def test_psf_blur_augment_blurs_the_chosen_share_and_marks_it_blurred():
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 3), dtype=np.uint8)
    config = FeatureConfig()
    batch = SplitArrays(images=images, features=compute_features(images, config),
                        labels=np.zeros(32, dtype=np.int64), blurred_truth=np.zeros(32, dtype=bool))
    out = blur_augment(batch, np.random.default_rng(1), 0.5, config, kernels="psf")
    changed = np.any(out.images != images, axis=(1, 2, 3))
    assert np.array_equal(changed, out.blurred_truth) and 8 <= changed.sum() <= 24
    assert np.all(out.features.laplacian_var[changed] < batch.features.laplacian_var[changed])


def test_mixed_kernels_give_about_half_the_fresh_blurs_to_each_family(monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (400, 28, 28, 3), dtype=np.uint8)
    config = FeatureConfig()
    batch = SplitArrays(images=images, features=compute_features(images, config),
                        labels=np.zeros(400, dtype=np.int64), blurred_truth=np.zeros(400, dtype=bool))
    psf_rows = []

    def counting_psf_blur(chosen_images, rng):
        psf_rows.append(len(chosen_images))
        return psf_blur(chosen_images, rng)

    monkeypatch.setattr(batches, "psf_blur", counting_psf_blur)
    out = blur_augment(batch, np.random.default_rng(3), 1.0, config, kernels="mixed")
    assert out.blurred_truth.all() and np.all(out.features.laplacian_var < batch.features.laplacian_var)
    assert len(psf_rows) == 1 and 160 <= psf_rows[0] <= 240  # one batched PSF call for ~half of 400


def test_training_with_psf_kernels_runs_and_records_the_mode(tiny_dataset, tmp_path):
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(tmp_path / "run"), epochs=1,
                           samples_per_epoch=64, passes=0.1, progress=False, blur_kernels="psf", blur_augment=0.5)
    run = train_model(config)
    assert json.loads((run / "train_config.json").read_text())["blur_kernels"] == "psf"


def test_geometry_augment_moves_the_chosen_share_keeps_labels_and_recomputes_features():
    from train.batches import geometry_augment

    rng = np.random.default_rng(0)
    images = np.zeros((64, 28, 28, 3), dtype=np.uint8)
    images[:, 6:22, 10:18] = 200  # an upright bar: a rotation or rescale changes its pixels
    config = FeatureConfig()
    batch = SplitArrays(images=images, features=compute_features(images, config),
                        labels=np.arange(64) % 10, blurred_truth=np.zeros(64, dtype=bool))
    out = geometry_augment(batch, rng, 0.5, config)
    changed = np.any(out.images != images, axis=(1, 2, 3))
    assert 16 <= changed.sum() <= 48 and np.array_equal(out.labels, batch.labels) and not out.blurred_truth.any()
    fresh = compute_features(out.images[changed], config)
    assert np.array_equal(out.features.edge_map[changed], fresh.edge_map)
    assert np.array_equal(out.features.edge_map[~changed], batch.features.edge_map[~changed])
    with pytest.raises(ValueError, match="geometry_augment"):
        recipe_config("default", data="d", out="o", geometry_augment=1.5).validate()


def test_augmix_changes_the_chosen_share_reproducibly_keeps_labels_and_recomputes_features():
    from train.batches import augmix_augment

    images = np.zeros((64, 28, 28, 3), dtype=np.uint8)
    images[:, 6:22, 10:18] = 200  # an upright bar on black: every AugMix operation changes some of it
    images[:, 8:12, 12:16] = 90
    config = FeatureConfig()
    batch = SplitArrays(images=images, features=compute_features(images, config),
                        labels=np.arange(64) % 10, blurred_truth=np.zeros(64, dtype=bool))
    out = augmix_augment(batch, np.random.default_rng(0), 0.5, config)
    again = augmix_augment(batch, np.random.default_rng(0), 0.5, config)
    assert np.array_equal(out.images, again.images)  # timm's global generators are seeded from rng
    changed = np.any(out.images != images, axis=(1, 2, 3))
    assert 16 <= changed.sum() <= 48 and np.array_equal(out.labels, batch.labels) and not out.blurred_truth.any()
    fresh = compute_features(out.images[changed], config)
    assert np.array_equal(out.features.edge_map[changed], fresh.edge_map)
    assert np.array_equal(out.features.edge_map[~changed], batch.features.edge_map[~changed])
    assert augmix_augment(batch, np.random.default_rng(0), 0.0, config) is batch
    with pytest.raises(ValueError, match="augmix"):
        recipe_config("default", data="d", out="o", augmix=1.5).validate()
