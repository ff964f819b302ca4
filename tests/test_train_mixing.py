"""Mixup / CutMix between batch images (train.mixing): what is mixed, by how much, and the loss it implies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from train.fit import train_model
from train.losses import LogitAdjustedLoss
from train.mixing import Mix, cut_box, mix_batch, mixed_class_loss
from train.recipes import recipe_config


def _inputs(n: int = 6, size: int = 16) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"rgb": torch.rand(n, 3, size, size, generator=g), "edge": torch.rand(n, 1, size, size, generator=g),
            "blur": torch.rand(n, 2, generator=g)}


def test_mixup_blends_every_input_by_the_share_each_image_keeps():
    inputs = _inputs()
    mixed, mix = mix_batch(inputs, "mixup", alpha=1.0, prob=1.0, rng=np.random.default_rng(3))
    assert mix is not None and torch.all(mix.keep == mix.keep[0]) and 0.0 < float(mix.keep[0]) < 1.0
    keep, partner = float(mix.keep[0]), mix.partner
    for name, value in inputs.items():
        assert torch.allclose(mixed[name], keep * value + (1 - keep) * value[partner], atol=1e-6)
    assert sorted(partner.tolist()) == list(range(6))  # a permutation: every image is someone's partner once


def test_cutmix_pastes_one_box_into_image_and_edge_map_at_the_same_place():
    inputs = _inputs(size=16)
    mixed, mix = mix_batch(inputs, "cutmix", alpha=1.0, prob=1.0, rng=np.random.default_rng(5))
    partner = mix.partner
    for name in ("rgb", "edge"):
        from_partner = (mixed[name] == inputs[name][partner]).all(dim=1)  # (N, S, S): pixel taken from the partner
        own = (mixed[name] == inputs[name]).all(dim=1)
        assert torch.all(from_partner | own)
        assert (from_partner & ~own).any()
    # One box for every image and both inputs: the pixels that changed anywhere fill one rectangle
    # whose area is the share the images gave away.
    box = ((mixed["rgb"] != inputs["rgb"]).any(dim=1) | (mixed["edge"] != inputs["edge"]).any(dim=1)).any(dim=0)
    rows, cols = torch.nonzero(box, as_tuple=True)
    area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert int(box.sum()) == int(area)
    assert float(mix.keep[0]) == pytest.approx(1 - float(area) / 256, abs=1e-6)
    keep = float(mix.keep[0])
    assert torch.allclose(mixed["blur"], keep * inputs["blur"] + (1 - keep) * inputs["blur"][partner], atol=1e-6)


def test_cut_box_covers_about_the_drawn_share_and_stays_inside():
    rng = np.random.default_rng(0)
    for keep in (0.1, 0.5, 0.9):
        y0, y1, x0, x1 = cut_box(48, keep, rng)
        assert 0 <= y0 <= y1 <= 48 and 0 <= x0 <= x1 <= 48
        assert (y1 - y0) * (x1 - x0) <= round(48 * 48 * (1 - keep)) + 2 * 48
    centred = [cut_box(40, 0.75, np.random.default_rng(s)) for s in range(200)]
    assert max((b[1] - b[0]) * (b[3] - b[2]) for b in centred) == pytest.approx(400, abs=41)  # 20 x 20 when not clipped


def test_no_mixing_leaves_inputs_and_the_random_stream_untouched():
    inputs = _inputs()
    for mode, prob in (("none", 1.0), ("cutmix", 0.0)):
        rng = np.random.default_rng(9)
        out, mix = mix_batch(inputs, mode, alpha=1.0, prob=prob, rng=rng)
        assert mix is None and all(out[k] is inputs[k] for k in inputs)
    rng = np.random.default_rng(9)
    mix_batch(inputs, "none", 1.0, 1.0, rng)
    assert rng.random() == np.random.default_rng(9).random()  # "none" draws nothing: the default's stream is unchanged


def test_mixed_loss_weights_the_two_labels_by_the_shares():
    logits = torch.randn(4, 3)
    labels, partner = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 0, 3, 2])
    offset = torch.log(torch.tensor([0.7, 0.2, 0.1]))
    criterion = LogitAdjustedLoss(np.array([0.7, 0.2, 0.1]), tau=1.0)
    plain = F.cross_entropy(logits + offset, labels)
    assert torch.allclose(mixed_class_loss(criterion, logits, labels, None), plain)
    assert torch.allclose(mixed_class_loss(criterion, logits, labels, Mix(partner, torch.ones(4))), plain)
    assert torch.allclose(mixed_class_loss(criterion, logits, labels, Mix(partner, torch.zeros(4))),
                          F.cross_entropy(logits + offset, labels[partner]))
    half = mixed_class_loss(criterion, logits, labels, Mix(partner, torch.full((4,), 0.25)))
    assert torch.allclose(half, 0.25 * plain + 0.75 * F.cross_entropy(logits + offset, labels[partner]))


def test_mix_settings_are_validated(tmp_path):
    for bad in ({"mix": "blend"}, {"mix_alpha": 0.0}, {"mix_prob": 1.5}):
        with pytest.raises(ValueError, match="mix"):
            recipe_config("default", data="d", out=str(tmp_path), **bad).validate()
    assert recipe_config("default", data="d", out=str(tmp_path)).mix == "none"


def test_training_with_cutmix_runs_and_records_it(tiny_dataset, tmp_path):
    config = recipe_config("smoke", data=str(tiny_dataset.root), out=str(tmp_path / "run"), epochs=1,
                           samples_per_epoch=64, passes=0.1, progress=False, mix="cutmix", mix_prob=1.0)
    run = train_model(config)
    recorded = json.loads((run / "train_config.json").read_text())
    assert (recorded["mix"], recorded["mix_prob"]) == ("cutmix", 1.0)
    assert (run / "RUN_COMPLETE.json").is_file()
