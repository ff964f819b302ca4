"""bench/train_oracle_held_out.py and bench/oracle_ood_fit.py: the ceilings of issue 18's targets.

Their figures only mean "a ceiling" if the oracle's extra blur really comes from the held-out
families, touches only sharp images, and tells the blur head the truth; and if the oracle's fit
copies keep one copy per image with the rest of the fit's own blur."""

from __future__ import annotations

import numpy as np

from analysis.blur_families import HELD_OUT_FAMILIES
from bench.oracle_ood_fit import HELD_OUT_COPY_SHARE, copies_with_held_out, held_out_copies
from bench.train_oracle_held_out import oracle_augment
from features import FeatureConfig, compute_features
from fusion.blur_views import with_blurred_views
from train.batches import SplitArrays


def _batch(n: int = 64, blurred_share: float = 0.25) -> SplitArrays:
    rng = np.random.default_rng(3)
    images = np.zeros((n, 28, 28, 3), np.uint8)
    images[:, 6:22, 9:19] = 220  # a bright garment-sized block: every blur and warp changes its edges
    images[:, 10:12, :] = 90
    images = np.clip(images.astype(int) + rng.integers(0, 20, images.shape), 0, 255).astype(np.uint8)
    truth = np.arange(n) < int(n * blurred_share)
    return SplitArrays(images=images, features=compute_features(images, FeatureConfig()),
                       labels=np.arange(n) % 10, blurred_truth=truth)


def test_oracle_blurs_only_sharp_images_and_marks_them_blurred():
    batch = _batch()
    out = oracle_augment(batch, np.random.default_rng(0), 0.6, FeatureConfig())
    changed = (out.images != batch.images).any(axis=(1, 2, 3))
    assert changed.sum() > 10
    assert not changed[batch.blurred_truth].any()  # already-blurred images are left alone
    assert out.blurred_truth[changed].all()  # the blur head is told the truth
    assert np.array_equal(out.labels, batch.labels)
    # features describe the new pixels: recomputing them gives the same scores
    assert np.allclose(out.features.laplacian_var[changed], compute_features(out.images[changed], FeatureConfig()).laplacian_var)


def test_oracle_share_zero_changes_nothing_and_a_full_share_takes_every_sharp_image():
    batch = _batch()
    assert oracle_augment(batch, np.random.default_rng(0), 0.0, FeatureConfig()) is batch
    out = oracle_augment(batch, np.random.default_rng(0), 1.0, FeatureConfig())
    assert out.blurred_truth.all()


def test_held_out_copies_come_from_the_held_out_families():
    images = list(_batch(40).images)
    copies = held_out_copies(images, seed=5)
    assert len(copies) == len(images) and all(c.shape == images[0].shape and c.dtype == np.uint8 for c in copies)
    # every copy equals some held-out family's output at one of its strengths, re-drawn with the same generator
    rng = np.random.default_rng([5, 1818])
    families, levels = rng.integers(len(HELD_OUT_FAMILIES), size=40), rng.integers(3, size=40)
    pixelate = [i for i in range(40) if HELD_OUT_FAMILIES[families[i]].name == "pixelate"]
    assert pixelate  # deterministic family: compare exactly
    for i in pixelate:
        fam = HELD_OUT_FAMILIES[families[i]]
        assert np.array_equal(copies[i], fam.apply(images[i][None], fam.strengths[levels[i]], rng)[0])
    assert held_out_copies(images, seed=5)[0].tobytes() == copies[0].tobytes()  # reproducible


def test_oracle_views_keep_one_copy_per_image_half_of_them_held_out():
    images = list(_batch(200).images)
    labels = np.arange(200) % 10
    both, both_labels = copies_with_held_out(images, labels, seed=2, kernels="mixed", views="camera")
    own = with_blurred_views(images, None, 2, "mixed", "blur")[0][200:]
    assert len(both) == 400 and np.array_equal(both_labels, np.concatenate([labels, labels]))
    assert all(np.array_equal(a, b) for a, b in zip(both[:200], images))  # the images themselves come first
    kept_own = np.mean([np.array_equal(c, o) for c, o in zip(both[200:], own)])
    assert abs(kept_own - (1 - HELD_OUT_COPY_SHARE)) < 0.12
