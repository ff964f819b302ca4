"""The consistency objective: each image beside its freshly blurred twin in one batch, answers tied together."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from features import FeatureConfig, compute_features
from train.batches import SplitArrays
from train.consistency import twin_count, twin_divergence, twin_views
from train.fit import train_model
from train.recipes import recipe_config


def _batch(n: int, stored_blurred: np.ndarray) -> SplitArrays:
    rng = np.random.default_rng(1)
    images = np.zeros((n, 28, 28, 3), dtype=np.uint8)
    images[:, 6:22, 8:20] = rng.integers(120, 255, size=(n, 16, 12, 1), dtype=np.uint8)  # textured garment-like block
    config = FeatureConfig()
    return SplitArrays(images=images, features=compute_features(images, config), labels=np.arange(n) % 10,
                       blurred_truth=stored_blurred)


def test_twin_views_pair_each_image_with_its_freshly_blurred_copy():
    stored = np.zeros(9, dtype=bool)
    stored[[1, 3]] = True  # stored blurred: repeated, never blurred twice
    batch, config = _batch(9, stored), FeatureConfig()
    out = twin_views(batch, np.random.default_rng(0), config, ("gaussian", "motion", "defocus"), None, "mixed")
    assert len(out) == 9  # 4 anchors, 1 drawn row between, 4 twins
    first, second = np.arange(4), np.arange(5, 9)
    assert np.array_equal(out.images[first], batch.images[:4])  # anchors as drawn
    assert np.array_equal(out.labels[first], out.labels[second]) and np.array_equal(out.labels[:5], batch.labels[:5])
    changed = np.any(out.images[second] != out.images[first], axis=(1, 2, 3))
    assert changed.tolist() == [True, False, True, False]  # every sharp twin blurred, stored-blurred ones left
    assert out.blurred_truth[second].all() and out.blurred_truth[first].tolist() == stored[:4].tolist()
    fresh = compute_features(out.images[second], config)
    assert np.array_equal(out.features.edge_map[second], fresh.edge_map)  # the twins' features describe their pixels
    assert len(out.features.edge_path) == 9
    with pytest.raises(ValueError, match="at least 2"):
        twin_views(_batch(1, np.zeros(1, dtype=bool)), np.random.default_rng(0), config, ("gaussian",), None, "classic")


def test_a_smaller_twin_share_keeps_more_distinct_images_and_half_the_sharp_ones_blurred():
    n = 400
    batch, config = _batch(n, np.zeros(n, dtype=bool)), FeatureConfig()
    batch.labels[:] = np.arange(n)  # one label per drawn image, to count distinct images
    out = twin_views(batch, np.random.default_rng(3), config, ("gaussian", "motion", "defocus"), None, "classic",
                     pairs=twin_count(n, 0.25), blur_fraction=0.5)
    assert twin_count(n, 0.25) == 100 and len(out) == n and len(np.unique(out.labels)) == 300
    assert np.array_equal(out.labels[:100], out.labels[300:])  # row i and row n - k + i are one image
    assert np.array_equal(out.images[:100], batch.images[:100])  # anchors stay as drawn
    assert 0.42 <= out.blurred_truth.mean() <= 0.58  # 100 twins + about half of the 200 rows between
    for share in (0.0, 0.6):
        with pytest.raises(ValueError, match="share"):
            twin_count(n, share)


def test_twin_divergence_is_zero_for_agreeing_twins_symmetric_and_bounded():
    logits = torch.randn(6, 10)
    assert twin_divergence(torch.cat([logits[:3], logits[:3]])).item() == pytest.approx(0.0, abs=1e-6)
    assert twin_divergence(logits).item() == pytest.approx(twin_divergence(torch.cat([logits[3:], logits[:3]])).item())
    assert twin_divergence(logits).item() > 0
    sure_apart = torch.full((2, 10), -30.0)
    sure_apart[0, 0] = sure_apart[1, 1] = 30.0  # two confident, different answers: the largest divergence
    assert twin_divergence(sure_apart).item() == pytest.approx(math.log(2), rel=1e-3)
    with pytest.raises(ValueError, match="pairs"):
        twin_divergence(torch.randn(5, 10))
    uneven = torch.randn(5, 10)  # 2 pairs around one unpaired row: rows 0, 1 against rows 3, 4
    paired = torch.cat([uneven[:2], uneven[2:3], uneven[:2]])
    assert twin_divergence(paired, pairs=2).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="pairs"):
        twin_divergence(uneven, pairs=3)


def test_divergence_gradient_pulls_the_twins_answers_together():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]], requires_grad=True)
    twin_divergence(logits).backward()
    step = logits.detach() - 1.0 * logits.grad
    assert twin_divergence(step).item() < twin_divergence(logits.detach()).item()
    assert logits.grad[0, 0] > 0 and logits.grad[0, 1] < 0  # the first twin moves toward the second's class


def test_training_with_consistency_records_it_and_refuses_mixing(tiny_dataset, tmp_path):
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(tmp_path / "run"), epochs=1,
                           samples_per_epoch=64, consistency=6.0, consistency_share=0.25, blur_augment=0.5, progress=False)
    run = train_model(config)
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["consistency"] == 6.0 and saved["consistency_share"] == 0.25
    assert (run / "RUN_COMPLETE.json").is_file()
    with pytest.raises(ValueError, match="consistency"):
        recipe_config("smoke", data="d", out="o", consistency=1.0, mix="cutmix").validate()
    with pytest.raises(ValueError, match="consistency"):
        recipe_config("smoke", data="d", out="o", consistency=-1.0).validate()
    with pytest.raises(ValueError, match="consistency_share"):
        recipe_config("smoke", data="d", out="o", consistency=1.0, consistency_share=0.7).validate()


def test_divergence_on_the_loss_scored_answers_cannot_be_emptied_by_lifting_the_rare_classes():
    from train.losses import LogitAdjustedLoss

    loss = LogitAdjustedLoss(np.array([0.4975, 0.4975, 0.005]))  # two frequent classes, one rare
    disagree = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # the twins' own evidence disagrees
    lifted = disagree + torch.tensor([0.0, 0.0, 6.0])  # plus one constant lift of the rare class
    assert twin_divergence(lifted).item() < 0.01  # raw answers all say "rare": the divergence is nearly gone
    assert twin_divergence(loss.adjusted(lifted)).item() > 10 * twin_divergence(lifted).item()
