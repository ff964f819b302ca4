"""Tiles-mode prediction (any photo size and aspect ratio) and the blur verdicts explaining themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from features import FeatureConfig
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.blur_disagreement import flipped_blur_inputs, threshold_note
from fusion.model import create_model
from fusion.predictor import Predictor

TILE = 32


@pytest.fixture(scope="module")
def tile_predictor(tmp_path_factory, tile_model_config) -> Predictor:
    """A random-init blur-task model reading 32 px native-resolution tiles, saved and loaded for real."""
    cfg = tile_model_config(TILE)
    torch.manual_seed(0)
    run = save_checkpoint(tmp_path_factory.mktemp("tiles") / "run", create_model(cfg, pretrained="none").eval(), cfg)
    return Predictor.from_checkpoint(run)


@pytest.mark.parametrize("shape", [(TILE, TILE), (20, 300), (150, 41), (97, 130)])
def test_any_size_and_aspect_ratio_is_read_as_native_resolution_tiles(tile_predictor, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
    prediction, heat = tile_predictor.predict_and_explain(image)
    assert prediction.edge_map.shape == shape and heat.shape == shape
    assert 1 <= prediction.tiles <= 6
    assert prediction.probabilities.sum() == pytest.approx(1.0)
    assert "at the image's own resolution" in prediction.blur_threshold_note


def test_a_whole_image_of_tile_size_is_one_tile_with_the_same_answer_as_the_batch_path(tile_predictor):
    image = np.random.default_rng(1).integers(0, 255, (TILE, TILE, 3), dtype=np.uint8)
    single = tile_predictor.predict(image)
    batch = tile_predictor.predict_batch([image, image[:, ::-1]])[0]
    assert single.tiles == 1 and np.allclose(single.probabilities, batch.probabilities)


def test_flipping_the_laplacian_input_mirrors_it_about_the_threshold(tile_predictor):
    cfg = tile_predictor.config
    z = (np.log1p(150.0) - cfg.blur_log_mean) / cfg.blur_log_std
    blur = torch.tensor([[z + 1.5, 0.0, 0.3, 0.3, 0.3, 0.3]], dtype=torch.float32)
    flipped = flipped_blur_inputs(blur, cfg, 150.0)
    assert flipped[0, 0].item() == pytest.approx(z - 1.5, abs=1e-5) and flipped[0, 1].item() == 1.0
    assert torch.equal(flipped[0, 2:], blur[0, 2:])  # the other evidence is left as it was


def test_disagreeing_verdicts_are_reported_with_what_the_model_leaned_on(tile_predictor, monkeypatch):
    image = np.random.default_rng(2).integers(0, 255, (TILE, TILE, 3), dtype=np.uint8)  # noise: Laplacian says sharp
    head = tile_predictor.model.blur_head
    with torch.no_grad():  # make the learned blur head say "blurred" whatever it sees
        head.bias.fill_(20.0)
    try:
        p = tile_predictor.predict(image)
    finally:
        with torch.no_grad():
            head.bias.fill_(0.0)
    d = p.blur_disagreement
    assert not p.blurred and p.blur_probability > 0.5 and d is not None
    assert d["laplacian_verdict"] == "sharp" and d["blur_head_verdict"] == "blurred"
    assert d["leaned_on"] == "image"  # a bias of 20 ignores the Laplacian input: flipping it changes nothing
    assert d["blur_head_probability_laplacian_flipped"] > 0.5
    assert p.to_dict()["blur_disagreement"]["explanation"].startswith("The Laplacian threshold says sharp")


def test_threshold_note_names_the_resolution_for_resized_models():
    cfg = ModelConfig(class_names=["a", "b"], groups=["frequent", "rare"], train_counts=[5, 1],
                      feature_config=FeatureConfig(size=28, blur_threshold=123.0).to_dict(),
                      blur_threshold_basis={"fitted": True, "image_size": 28})
    assert threshold_note(cfg, 123.0) == ("threshold 123 fitted on 28 px training images at canonical size 28 px "
                                         "(every image is resized to 28 px first)")


def test_evidence_set_is_recorded_and_older_configs_read_as_basic(tile_predictor):
    data = tile_predictor.config.to_dict()
    assert data["blur_evidence_set"] == "basic"
    del data["blur_evidence_set"]  # a model.json written before evidence sets existed
    assert ModelConfig.from_dict(data).blur_inputs_dim == 2 + 4
    multiscale = {**data, "blur_evidence_set": "multiscale"}
    with pytest.raises(ValueError, match="17 finite numbers"):
        ModelConfig.from_dict(multiscale)  # four standardisation numbers cannot serve 17 columns
    with pytest.raises(ValueError, match="blur_evidence_set"):
        ModelConfig.from_dict({**data, "blur_evidence_set": "fancy"})
