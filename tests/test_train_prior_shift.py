"""The post-hoc prior shift of the classifier bias: its size and direction, that it touches nothing
but the bias, that the head stage and `blurfuse retrain-head --method keep` apply exactly it, and
that bad settings are refused before any work."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from blurfuse.cli import main
from fusion.checkpoint import load_checkpoint
from train.head_retrain import HeadSettings
from train.prior_shift import prior_bias, shift_classifier
from train.recipes import TrainConfig


def test_the_bias_favours_a_class_by_tau_times_its_log_rarity():
    labels = np.repeat([0, 1, 2], [800, 100, 10])
    bias = prior_bias(labels, 3, tau=0.5)
    assert bias[0] < bias[1] < bias[2]
    assert np.isclose(bias.sum(), 0.0)
    assert np.isclose(bias[2] - bias[0], 0.5 * np.log(80))  # half the log of the 80-fold imbalance
    assert np.allclose(prior_bias(labels, 3, tau=0.0), 0.0)


def test_a_class_without_training_images_or_a_bad_tau_is_refused():
    with pytest.raises(ValueError, match="classes \\[2\\]"):
        prior_bias(np.array([0, 0, 1]), 3, tau=0.5)
    for tau in (-0.1, float("nan"), 2.5):
        with pytest.raises(ValueError, match="head_prior_shift"):
            prior_bias(np.array([0, 1]), 2, tau=tau)
    with pytest.raises(ValueError, match="head_prior_shift"):
        HeadSettings(prior_shift=-1).validate()
    with pytest.raises(ValueError, match="needs head_retrain"):
        TrainConfig(data="d", out="o", head_retrain="none", head_prior_shift=0.3).validate()


def test_shifting_moves_only_the_bias():
    layer = nn.Linear(5, 3)
    shifted = shift_classifier(layer, np.array([1.0, 0.0, -1.0]))
    assert torch.equal(shifted.weight, layer.weight)
    assert torch.allclose(shifted.bias - layer.bias, torch.tensor([1.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match="2 classes|3 classes"):
        shift_classifier(layer, np.zeros(2))


@pytest.mark.slow
def test_the_head_stage_applies_exactly_the_shift_after_the_same_fit(tiny_checkpoint, tiny_dataset, tmp_path):
    from tests.conftest import _as_dataset
    from train.fit import load_split
    from train.head_stage import retrain_head

    dataset = _as_dataset(tiny_dataset)
    biases, weights = {}, {}
    for tau in (0.0, 0.5):
        run = tmp_path / f"tau{tau}"
        shutil.copytree(tiny_checkpoint, run)
        _, cfg = load_checkpoint(run)
        train, val = load_split(dataset, "train", cfg, False), load_split(dataset, "val", cfg, False)
        record = retrain_head(run, train, val, HeadSettings(method="lws", epochs=1, prior_shift=tau), torch.device("cpu"))
        model, _ = load_checkpoint(run)
        biases[tau], weights[tau] = model.classifier.bias.detach().numpy(), model.classifier.weight.detach()
    expected = prior_bias(train.labels, len(biases[0.0]), 0.5)
    assert np.allclose(biases[0.5] - biases[0.0], expected, atol=1e-5)
    assert torch.equal(weights[0.5], weights[0.0])
    assert record["prior_shift"] == 0.5 and np.allclose(record["prior_shift_bias"], expected)


@pytest.mark.slow
def test_retrain_head_keep_shifts_a_finished_run_and_refuses_a_second_shift(tiny_dataset, tmp_path, capsys):
    from train.fit import train_model
    from train.recipes import recipe_config

    run = train_model(recipe_config("smoke", data=str(tiny_dataset.root), out=str(tmp_path / "run"), progress=False,
                                    epochs=1, samples_per_epoch=256, head_retrain="lws", head_epochs=1,
                                    head_prior_shift=0.0))  # an LWS head as the default had it before the shift
    shifted = tmp_path / "shifted"
    assert main(["retrain-head", "--model", str(run), "--out", str(shifted), "--method", "keep",
                 "--prior-shift", "0.4", "--no-progress"]) == 0
    before, _ = load_checkpoint(run)
    after, cfg = load_checkpoint(shifted)
    for name, tensor in before.state_dict().items():
        assert torch.equal(tensor, after.state_dict()[name]) == (name != "classifier.bias"), name
    record = cfg.recipe["head_retrain_result"]
    assert record["method"] == "lws" and record["prior_shift"] == 0.4  # the kept LWS head, shifted
    assert json.loads((shifted / "train_config.json").read_text())["head_prior_shift"] == 0.4
    assert (shifted / "RUN_COMPLETE.json").is_file()
    capsys.readouterr()
    code = main(["retrain-head", "--model", str(shifted), "--out", str(tmp_path / "twice"), "--method", "keep",
                 "--prior-shift", "0.4", "--no-progress"])
    assert code != 0 and "already shifted" in capsys.readouterr().err
    assert not (tmp_path / "twice").exists()
