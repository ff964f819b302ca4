"""How a tiles-mode model's tile answers make a photo's answer (`features.tiles.tile_weights`,
`ModelConfig.tile_vote`): "contrast" lets structured tiles decide and flat ones (sky) barely count."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from features.tiles import image_tiles, tile_contrast, tile_weights
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model
from fusion.predictor import Predictor

TILE = 32


def _photo() -> np.ndarray:
    """64 x 96: the left third flat grey (sky), the rest strong structure at every scale."""
    rng = np.random.default_rng(0)
    image = np.full((64, 96, 3), 120, np.uint8)
    blocks = rng.integers(0, 255, (8, 8), dtype=np.uint8).repeat(8, 0).repeat(8, 1)  # coarse structure
    image[:, 32:] = np.clip(blocks[:, :64, None].astype(int) + rng.integers(-20, 20, (64, 64, 1)), 0, 255)
    return image


def test_flat_tiles_weigh_almost_nothing_and_blur_barely_moves_the_weights():
    import cv2

    tiles, _, _ = image_tiles(_photo(), TILE, 6)
    gray = np.stack([cv2.cvtColor(t, cv2.COLOR_RGB2GRAY) for t in tiles])
    weights = tile_weights(gray, "contrast")
    flat = gray.reshape(len(gray), -1).std(axis=1) == 0
    assert flat.sum() == 2 and weights.sum() == pytest.approx(1.0)
    assert weights[flat].sum() < 0.01
    blurred = np.stack([cv2.blur(g, (11, 1)) for g in gray])  # an 11 px horizontal motion blur
    assert np.allclose(tile_contrast(blurred)[~flat], tile_contrast(gray)[~flat], rtol=0.25)
    assert np.allclose(tile_weights(gray, "mean"), 1 / len(gray))
    assert np.allclose(tile_weights(np.zeros((3, 8, 8), np.uint8), "contrast"), 1 / 3)  # all flat: equal say
    with pytest.raises(ValueError, match="tile vote"):
        tile_weights(gray, "max")


@pytest.fixture(scope="module")
def predictors(tmp_path_factory, tile_model_config) -> dict[str, Predictor]:
    """The same random-init blur-task model reading 32 px tiles, saved once per vote and loaded for real."""
    cfg = tile_model_config(TILE)
    torch.manual_seed(0)
    model = create_model(cfg, pretrained="none").eval()
    out = {}
    for vote in ("mean", "contrast"):
        run = save_checkpoint(tmp_path_factory.mktemp(vote) / "run", model, dataclasses.replace(cfg, tile_vote=vote))
        out[vote] = Predictor.from_checkpoint(run)
    return out


def test_the_photo_answer_is_the_votes_combination_of_the_tiles_answers(predictors):
    import cv2

    photo = _photo()
    tiles, _, _ = image_tiles(photo, TILE, 6)
    alone = np.stack([p.probabilities for p in predictors["mean"].predict_batch(list(tiles))])
    gray = np.stack([cv2.cvtColor(t, cv2.COLOR_RGB2GRAY) for t in tiles])
    for vote, predictor in predictors.items():
        answer = predictor.predict(photo)
        expected = tile_weights(gray, vote) @ alone
        assert answer.tiles == 6
        assert np.allclose(answer.probabilities, expected, atol=1e-6), vote
    assert not np.allclose(predictors["mean"].predict(photo).probabilities,
                           predictors["contrast"].predict(photo).probabilities)  # the flat tiles' say differs


def test_an_unknown_vote_is_refused_by_the_config():
    with pytest.raises(ValueError, match="tile_vote"):
        ModelConfig(class_names=["a", "b"], groups=["frequent", "frequent"], train_counts=[1, 1], tile_vote="max")


def test_a_blur_task_model_is_built_with_the_contrast_vote_and_others_keep_the_mean():
    from train.blur_task_settings import with_blur_task

    cfg = ModelConfig(class_names=["Blurred", "Undistorted"], groups=["frequent", "frequent"], train_counts=[4, 4],
                      input_size=TILE)
    gray = np.random.default_rng(0).integers(0, 255, (8, TILE, TILE), dtype=np.uint8)
    card = {"image_size": TILE, "blur_threshold_fitted": True,
            "blur_task": {"blurred_class_index": 0, "sharp_class_index": 1}}
    built = with_blur_task(cfg, card, gray)
    assert built.preprocess == "tiles" and built.tile_vote == "contrast"
    plain = with_blur_task(cfg, {"image_size": TILE}, gray)
    assert plain.preprocess == "resize" and plain.tile_vote == "mean"
