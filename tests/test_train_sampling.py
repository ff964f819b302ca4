"""Class-balanced sampling, the prior it produces, and the logit-adjusted loss against that prior."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train.fit import epoch_sampler
from train.recipes import recipe_config
from train.losses import LogitAdjustedLoss
from train.sampler import class_weights, draw_epoch, sampled_prior, shard


def test_weights_for_each_mode():
    counts = np.array([100, 400, 10000])
    assert np.allclose(class_weights(counts, "none"), 1)
    assert np.allclose(class_weights(counts, "inverse"), 1 / counts)
    assert np.allclose(class_weights(counts, "sqrt"), 1 / np.sqrt(counts))
    effective = class_weights(counts, "effective", beta=0.999)
    assert effective[0] > effective[1] > effective[2]
    with pytest.raises(ValueError, match="sampler must be one of"):
        class_weights(counts, "square")
    with pytest.raises(ValueError, match="at least one"):
        class_weights(np.array([0, 5]), "inverse")


def test_effective_number_beta_moves_between_no_balancing_and_inverse_frequency():
    counts = np.array([100, 800, 5000])
    mild = sampled_prior(counts, class_weights(counts, "effective", beta=0.9))
    strong = sampled_prior(counts, class_weights(counts, "effective", beta=0.99999))
    assert np.allclose(mild, counts / counts.sum(), atol=1e-3)  # every class larger than ~10 images: no balancing
    assert np.allclose(strong, sampled_prior(counts, class_weights(counts, "inverse")), atol=0.02)
    middle = sampled_prior(counts, class_weights(counts, "effective", beta=0.99))
    assert counts[0] / counts.sum() < middle[0] < strong[0]
    for beta in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="beta"):
            class_weights(counts, "effective", beta=beta)
    labels = np.repeat(np.arange(3), counts)
    drawn = draw_epoch(labels, "effective", 60000, seed=0, epoch=1, beta=0.99)
    assert np.allclose(np.bincount(labels[drawn]) / len(drawn), middle, atol=0.01)


def test_realised_class_frequencies_follow_the_sampled_prior():
    labels = np.repeat(np.arange(3), [50, 500, 5000])
    counts = np.bincount(labels)
    for mode in ("inverse", "sqrt", "none"):
        drawn = draw_epoch(labels, mode, 60000 if mode != "none" else 5550, seed=0, epoch=1)
        realised = np.bincount(labels[drawn], minlength=3) / len(drawn)
        assert np.allclose(realised, sampled_prior(counts, class_weights(counts, mode)), atol=0.01)
    assert np.array_equal(draw_epoch(labels, "sqrt", 100, 0, 3), draw_epoch(labels, "sqrt", 100, 0, 3))
    assert not np.array_equal(draw_epoch(labels, "sqrt", 100, 0, 3), draw_epoch(labels, "sqrt", 100, 0, 4))


def test_shards_are_disjoint_and_cover_the_draw():
    draw = np.arange(103)
    parts = [shard(draw, r, 2) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == 51
    assert sorted(np.concatenate(parts).tolist()) == list(range(102))


def test_logit_adjusted_loss_matches_hand_computation_and_vanishes_when_balanced():
    logits = torch.tensor([[1.0, 0.5, -0.2], [0.1, 0.2, 0.3]])
    target = torch.tensor([0, 2])
    prior = np.array([0.7, 0.2, 0.1])
    expected = F.cross_entropy(logits + 2.0 * torch.log(torch.tensor(prior, dtype=torch.float32)), target)
    assert LogitAdjustedLoss(prior, tau=2.0)(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    uniform = LogitAdjustedLoss(np.ones(3) / 3, tau=1.0)(logits, target)
    assert uniform.item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    # Inverse-frequency sampling makes the sampled prior uniform: no double correction.
    counts = np.array([10, 100, 1000])
    assert np.allclose(sampled_prior(counts, class_weights(counts, "inverse")), 1 / 3)


def test_deferred_rebalancing_draws_naturally_before_its_epoch_and_balanced_from_it():
    config = recipe_config("default", data="d", out="o", sampler="sqrt", rebalance_from_epoch=3)
    assert [epoch_sampler(config, e) for e in (1, 2, 3, 9)] == ["none", "none", "sqrt", "sqrt"]
    assert epoch_sampler(recipe_config("smoke", data="d", out="o"), 1) == "sqrt"
    assert {epoch_sampler(recipe_config("default", data="d", out="o"), e) for e in (1, 9)} == {"none"}  # Balanced Softmax
    with pytest.raises(ValueError, match="rebalance_from_epoch"):
        recipe_config("default", data="d", out="o", rebalance_from_epoch=0).validate()
