"""Recipe levers, each off by default: weight averaging, the selection rule, a budget in passes."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fusion.checkpoint import load_checkpoint
from train.ema import WeightAverage
from train.fit import samples_per_epoch_for, selection_key, train_model
from train.recipes import TrainConfig, recipe_config


def test_weight_average_follows_the_live_weights_at_the_warmed_up_decay():
    live = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(live, decay=0.5)
    start = live[0].weight.detach().clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
        live[1].running_mean.fill_(3.0)
    average.update(live)  # first update: decay min(0.5, 2/11) = 2/11
    expected = start + (1 - 2 / 11) * 1.0
    assert torch.allclose(average.module[0].weight, expected)
    assert torch.equal(average.module[1].running_mean, live[1].running_mean)  # buffers are copied, not averaged
    assert not any(p.requires_grad for p in average.module.parameters())
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage(live, decay=1.0)


def test_selection_rules_rank_epochs_as_they_say():
    good_acc = {"val_balanced_acc": 0.9, "val_loss": 0.5}
    good_loss = {"val_balanced_acc": 0.8, "val_loss": 0.3}
    assert selection_key("balanced_acc", good_acc, 1) > selection_key("balanced_acc", good_loss, 2)
    assert selection_key("val_loss", good_loss, 1) > selection_key("val_loss", good_acc, 2)
    assert selection_key("last", good_acc, 2) > selection_key("last", good_loss, 1)
    with pytest.raises(ValueError, match="select"):
        recipe_config("smoke", data="d", out="o", select="best").validate()


def test_budget_in_passes_shrinks_the_schedule_on_small_data_only():
    small = samples_per_epoch_for(TrainConfig(passes=30), 2000)
    epochs = TrainConfig().epochs
    assert epochs * small == pytest.approx(30 * 2000, abs=epochs)  # 30 passes over 2,000 images, whatever the epochs
    assert samples_per_epoch_for(TrainConfig(passes=30), 21000) == 20000  # the recipe's budget stays the ceiling
    assert samples_per_epoch_for(TrainConfig(passes=0.001), 2000) == TrainConfig().batch_size  # one batch at least
    assert samples_per_epoch_for(TrainConfig(passes=0), 2000) == 20000  # 0 = off
    assert samples_per_epoch_for(TrainConfig(), 21060) == 20000  # the default's 30 passes leave v1's schedule as it was


def test_training_with_weight_averaging_saves_the_average(tiny_dataset, tmp_path):
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(tmp_path / "run"), epochs=2,
                           samples_per_epoch=64, ema_decay=0.9, select="last", passes=0.1, progress=False)
    run = train_model(config)
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["samples_per_epoch"] == 32 and saved["ema_decay"] == 0.9  # 0.1 passes of ~420 images, 2 epochs
    model, _ = load_checkpoint(run)
    average = torch.load(run / "resume" / "average.pt", weights_only=True)["module"]
    live = torch.load(run / "resume" / "state.pt", weights_only=True)["model"]
    key = "classifier.weight"
    assert torch.equal(model.state_dict()[key], average[key])  # the checkpoint is the average ...
    assert not torch.equal(average[key], live[key])  # ... not the last step's weights
