"""The blur-disagreement counterfactual reuses the prediction's embedding: only the blur branch and
the heads run again, and the outputs are the ones a second full forward pass gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.blur_disagreement import flipped_blur_inputs, flipped_outputs
from fusion.predictor import Predictor


def _reuse_and_full(predictor: Predictor, images: list[np.ndarray]):
    prepared = predictor.prepare(images)
    inputs = prepared.inputs
    embedded, _ = predictor._forward(inputs)
    flipped = flipped_blur_inputs(inputs["blur"], predictor.config, float(predictor.feature_config.blur_threshold))
    reused = flipped_outputs(predictor, inputs, flipped, embedded.embeddings)
    full = flipped_outputs(predictor, inputs, flipped)  # no embedding: a second full forward
    return reused, full


@pytest.fixture(scope="module")
def fused_predictor(tiny_checkpoint) -> Predictor:
    return Predictor.from_checkpoint(tiny_checkpoint)


def test_reused_embedding_gives_the_full_forward_outputs_for_the_fused_model(fused_predictor):
    assert {"rgb", "edge", "blur"} <= set(fused_predictor.config.branches)
    images = list(np.random.default_rng(0).integers(0, 255, (5, 28, 28, 3), dtype=np.uint8))
    reused, full = _reuse_and_full(fused_predictor, images)
    for key in ("logits", "blur_logit"):
        assert torch.allclose(reused[key], full[key], atol=1e-5), key
    unflipped = fused_predictor._forward(fused_predictor.prepare(images).inputs)[1]
    assert not torch.allclose(reused["blur_logit"], unflipped["blur_logit"])  # the flip reached the heads


def test_the_predictions_disagreement_records_do_not_change_with_the_reuse(fused_predictor, monkeypatch):
    images = list(np.random.default_rng(1).integers(0, 255, (6, 28, 28, 3), dtype=np.uint8))
    head = fused_predictor.model.blur_head
    with torch.no_grad():  # the head says "blurred" on noise, which the Laplacian calls sharp: they disagree
        saved = head.bias.clone()
        head.bias.fill_(20.0)
    try:
        reused = fused_predictor.predict_batch(images)
        import fusion.blur_disagreement as module

        original = module.flipped_outputs
        monkeypatch.setattr(module, "flipped_outputs", lambda p, i, f, e=None: original(p, i, f, None))
        full = fused_predictor.predict_batch(images)
    finally:
        with torch.no_grad():
            head.bias.copy_(saved)
    records = [(a.blur_disagreement, b.blur_disagreement) for a, b in zip(reused, full)]
    assert any(a is not None for a, _ in records)
    for a, b in records:
        assert (a is None) == (b is None)
        if a is not None:
            assert a["leaned_on"] == b["leaned_on"] and a["class_with_laplacian_flipped"] == b["class_with_laplacian_flipped"]
            assert a["blur_head_probability_laplacian_flipped"] == pytest.approx(b["blur_head_probability_laplacian_flipped"], abs=1e-5)
