"""Class-balanced re-training of the classifier on frozen branches: classes drawn equally (counted),
branch weights untouched, the stage recorded and not repeated on resume, methods fold into a Linear."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from fusion.checkpoint import load_checkpoint, read_config
from train.head_retrain import (HeadSettings, choose_tau, class_balanced_draws, retrain_classifier, tau_normalised)


def test_class_balanced_draws_draw_every_class_equally_often_however_rare():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 9 + [3] * 1)
    draws = class_balanced_draws(labels, 40_000, np.random.default_rng(0))
    counts = np.bincount(labels[draws], minlength=4)
    assert counts.sum() == 40_000 and np.all(np.abs(counts / 40_000 - 0.25) < 0.01)
    assert set(draws[labels[draws] == 3]) == {999}  # the one image of the rarest class


def test_class_balanced_draws_pick_images_uniformly_within_a_class_in_any_label_order():
    labels = np.random.default_rng(1).permutation(np.array([0] * 500 + [1] * 5))
    draws = class_balanced_draws(labels, 20_000, np.random.default_rng(0))
    rare_images = np.flatnonzero(labels == 1)
    per_image = np.array([(draws == i).sum() for i in rare_images])
    assert set(np.unique(draws[labels[draws] == 1])) == set(rare_images)
    assert np.all(np.abs(per_image / 10_000 - 0.2) < 0.02)  # half the draws are class 1, spread over its 5 images


def _separable(n_per_class=(400, 40, 8), dim=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (len(n_per_class), dim))
    x = np.concatenate([rng.normal(c, 1.0, (n, dim)) for c, n in zip(centres, n_per_class)])
    y = np.concatenate([[k] * n for k, n in enumerate(n_per_class)])
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


@pytest.mark.parametrize("method", ["crt", "lws", "tau_norm"])
def test_each_method_gives_a_plain_linear_that_recalls_the_rare_class(method):
    x, y = _separable()
    biased = nn.Linear(6, 3)
    with torch.no_grad():  # a head that favours the frequent class, as natural sampling leaves it
        biased.weight.copy_(torch.linalg.lstsq(x, nn.functional.one_hot(y).float()).solution.T)
        biased.weight[0] *= 2.0
        biased.bias.copy_(torch.tensor([2.0, 0.0, -1.0]))
    layer, record = retrain_classifier(biased, (x, y), (x, y.numpy()), HeadSettings(method=method, epochs=20))
    assert isinstance(layer, nn.Linear) and record["method"] == method
    rare = y == 2
    before = (biased(x[rare]).argmax(1) == 2).float().mean()
    after = (layer(x[rare]).argmax(1) == 2).float().mean()
    assert after >= before
    if method == "crt":  # a fresh head on class-balanced draws: the rare class is learned outright
        assert after > 0.7


def test_tau_zero_keeps_the_weights_and_tau_is_chosen_on_the_given_split():
    layer = nn.Linear(4, 3)
    assert torch.allclose(tau_normalised(layer, 0.0).weight, layer.weight)
    x, y = _separable(dim=4)
    assert 0.0 <= choose_tau(layer, x, y.numpy()) <= 2.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="head_retrain"):
        HeadSettings(method="bogus").validate()
    with pytest.raises(ValueError, match="views"):
        HeadSettings(views=0).validate()


@pytest.mark.slow
def test_the_head_stage_leaves_branches_unchanged_records_itself_and_is_not_repeated(tiny_checkpoint, tiny_dataset, tmp_path):
    from train.head_stage import retrain_head
    from tests.conftest import _as_dataset
    from train.fit import load_split

    run = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, run)
    before_model, cfg = load_checkpoint(run)
    dataset = _as_dataset(tiny_dataset)
    train, val = load_split(dataset, "train", cfg, False), load_split(dataset, "val", cfg, False)
    record = retrain_head(run, train, val, HeadSettings(method="crt", views=2, epochs=3), torch.device("cpu"))
    after_model, after_cfg = load_checkpoint(run)
    for name, tensor in before_model.state_dict().items():
        same = torch.equal(tensor, after_model.state_dict()[name])
        assert same != name.startswith("classifier."), name  # branches and blur head identical, classifier changed
    assert after_cfg.recipe["head_retrain_result"] == record and record["train_embeddings"] == 2 * len(train)
    weights = (run / "model.safetensors").read_bytes()
    again = retrain_head(run, train, val, HeadSettings(method="crt", views=2, epochs=3), torch.device("cpu"))
    assert again == record and (run / "model.safetensors").read_bytes() == weights  # resumed: not re-trained
    assert read_config(run / "model.json").recipe["head_retrain_result"]["method"] == "crt"
