"""The preprocessing path, Predictor (single vs batch), Prediction.to_dict, Grad-CAM, and the
`tiny_checkpoint` fixture other packages rely on."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from features.image import load_image
from features.extract import FeatureConfig, compute_features
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model
from fusion.predictor import Prediction, Predictor
from fusion.preprocess import fit_blur_standardisation, model_inputs
from train.data.longtail import fmnist_lt_v1
from train.data.sources import FMNIST_CLASSES

CLASSES = FMNIST_CLASSES
GROUPS = list(fmnist_lt_v1().groups)


@pytest.fixture(scope="module")
def gray_images(fmnist_images) -> np.ndarray:
    """Six real images and Gaussian-blurred copies of them."""
    sharp = fmnist_images(6, "test")
    blurred = np.stack([cv2.GaussianBlur(im, (0, 0), 1.5) for im in sharp])
    return np.concatenate([sharp, blurred])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fmnist_images) -> Path:
    images = fmnist_images(64, "test")
    feats = compute_features([load_image(im) for im in images], FeatureConfig())
    mean, std = fit_blur_standardisation(feats.laplacian_var)
    cfg = ModelConfig(
        class_names=CLASSES,
        groups=GROUPS,
        train_counts=[100, 100, 5000, 800, 800, 800, 800, 5000, 5000, 5000],
        feature_config=FeatureConfig().to_dict(),
        blur_log_mean=mean,
        blur_log_std=std,
    )
    torch.manual_seed(0)
    model = create_model(cfg, pretrained="offline").eval()
    return save_checkpoint(tmp_path_factory.mktemp("pred") / "run", model, cfg)


@pytest.fixture(scope="module")
def predictor(run_dir) -> Predictor:
    return Predictor.from_checkpoint(run_dir)


# -- preprocessing --------------------------------------------------------------------------------
def test_model_inputs_shapes_ranges_and_normalisation(predictor, gray_images):
    cfg = predictor.config
    arrays = [load_image(im) for im in gray_images]
    feats = compute_features(arrays, predictor.feature_config)
    inputs = model_inputs(np.stack(arrays), feats, cfg)
    n, s = len(arrays), cfg.input_size
    assert inputs["rgb"].shape == (n, 3, s, s) and inputs["rgb"].dtype == torch.float32
    assert inputs["edge"].shape == (n, 1, s, s) and inputs["blur"].shape == (n, 2)
    # grey source -> three equal channels; [0,255] -> [-1,1] with mean = std = 0.5
    assert torch.equal(inputs["rgb"][:, 0], inputs["rgb"][:, 2])
    assert inputs["rgb"].min() >= -1.0 and inputs["rgb"].max() <= 1.0
    resized = cv2.resize(arrays[0], (s, s), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.allclose(inputs["rgb"][0].permute(1, 2, 0).numpy(), (resized / 255 - 0.5) / 0.5, atol=1e-5)
    # nearest upsizing keeps the edge map binary and the same share of edge pixels (about)
    edge = inputs["edge"].numpy()
    assert set(np.unique(edge)) <= {0.0, 1.0}
    assert abs(edge.mean() - (feats.edge_map > 0).mean()) < 0.02
    # blur input: [standardised log1p(var), verdict]
    expected = (np.log1p(feats.laplacian_var) - cfg.blur_log_mean) / cfg.blur_log_std
    assert np.allclose(inputs["blur"][:, 0].numpy(), expected, atol=1e-5)
    assert np.array_equal(inputs["blur"][:, 1].numpy().astype(bool), feats.blurred)


def test_model_inputs_accepts_a_list_of_sizes_and_checks_counts(predictor):
    arrays = [load_image(np.full((20, 30), 128, np.uint8)), load_image(np.zeros((64, 64, 3), np.uint8))]
    feats = compute_features(arrays, predictor.feature_config)
    assert model_inputs(arrays, feats, predictor.config)["rgb"].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="2 images"):
        model_inputs(arrays[:1] * 3, feats, predictor.config)
    with pytest.raises(ValueError, match="uint8"):
        model_inputs([np.zeros((8, 8, 3), np.float32)] * 2, feats, predictor.config)


# -- Predictor ------------------------------------------------------------------------------------
def test_single_and_batch_predictions_agree(predictor, gray_images):
    batch = predictor.predict_batch(list(gray_images), batch_size=5)
    assert len(batch) == len(gray_images)
    for image, together in zip(gray_images, batch):
        alone = predictor.predict(image)
        assert alone.class_index == together.class_index
        assert np.allclose(alone.probabilities, together.probabilities, atol=1e-5)
        assert np.array_equal(alone.edge_map, together.edge_map)
        assert alone.laplacian_var == together.laplacian_var and alone.blurred == together.blurred
        assert abs(alone.blur_probability - together.blur_probability) < 1e-5


def test_prediction_fields_follow_the_checkpoint(predictor, gray_images):
    predictions = predictor.predict_batch(list(gray_images))
    threshold = FeatureConfig.from_dict(predictor.config.feature_config).blur_threshold
    for p in predictions:
        assert isinstance(p, Prediction)
        assert p.class_name == CLASSES[p.class_index] and p.group == GROUPS[p.class_index]
        assert abs(p.probabilities.sum() - 1) < 1e-6 and p.probability == p.probabilities.max()
        assert [n for n, _ in p.top_k][0] == p.class_name and len(p.top_k) == 5
        assert [q for _, q in p.top_k] == sorted((q for _, q in p.top_k), reverse=True)
        assert p.blur_threshold == threshold and p.blurred == (p.laplacian_var < threshold)
        assert p.edge_map.shape == (28, 28) and 0.0 <= p.blur_probability <= 1.0
    # the six blurred copies score lower Laplacian variance than their sharp originals
    assert all(predictions[i + 6].laplacian_var < predictions[i].laplacian_var for i in range(6))


def test_predict_accepts_every_source_kind(predictor, gray_images, tmp_path):
    image = gray_images[3]
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), image)
    reference = predictor.predict(image).probabilities
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    for source in (path, str(path), buffer.getvalue(), Image.fromarray(image), np.repeat(image[..., None], 3, 2)):
        assert np.allclose(predictor.predict(source).probabilities, reference, atol=1e-6)
    with pytest.raises(ValueError):
        predictor.predict(b"not an image")
    with pytest.raises(ValueError, match="batch_size"):
        predictor.predict_batch([image], batch_size=0)


def test_to_dict_is_json_ready_with_edge_png(predictor, gray_images):
    p = predictor.predict(gray_images[0])
    d = json.loads(json.dumps(p.to_dict(include_edge_map=True)))
    assert d["class_name"] == p.class_name and d["probabilities"][p.class_name] == pytest.approx(p.probability)
    assert set(d["probabilities"]) == set(CLASSES)
    assert d["top_k"][0] == {"class_name": p.class_name, "probability": pytest.approx(p.probability)}
    assert d["blurred"] is p.blurred and d["edge_path"] == p.edge_path
    png = cv2.imdecode(np.frombuffer(base64.b64decode(d["edge_map_png"]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(png, p.edge_map)
    assert "edge_map_png" not in p.to_dict()


# -- Grad-CAM -------------------------------------------------------------------------------------
def test_gradcam_shape_range_and_dependence_on_input(predictor, gray_images):
    heat_a = predictor.explain(gray_images[0])
    heat_b = predictor.explain(gray_images[1])
    assert heat_a.shape == (28, 28) and heat_a.dtype == np.float32
    for heat in (heat_a, heat_b):
        assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
        assert heat.max() > 0.5  # normalised to its peak
    assert not np.allclose(heat_a, heat_b, atol=1e-3)
    big = cv2.resize(gray_images[0], (56, 40))
    assert predictor.explain(big).shape == (40, 56)  # the loaded image's own size


def test_gradcam_explains_the_requested_class(predictor, gray_images):
    prediction, heat = predictor.predict_and_explain(gray_images[2])
    assert np.allclose(prediction.probabilities, predictor.predict(gray_images[2]).probabilities, atol=1e-5)
    other = (prediction.class_index + 1) % len(CLASSES)
    assert not np.allclose(predictor.explain(gray_images[2], class_index=other), heat, atol=1e-3)
    with pytest.raises(ValueError, match="class_index"):
        predictor.explain(gray_images[2], class_index=99)


def test_concurrent_requests_get_their_own_answers(predictor, gray_images):
    expected = [predictor.predict_and_explain(im) for im in gray_images[:6]]
    results: dict[int, tuple] = {}

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = predictor.predict_and_explain(gray_images[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (prediction, heat) in enumerate(expected):
        got_prediction, got_heat = results[i]
        assert np.allclose(got_prediction.probabilities, prediction.probabilities, atol=1e-5)
        assert np.allclose(got_heat, heat, atol=1e-4)
    assert all(p.grad is None for p in predictor.model.parameters())


# -- the shared fixture ----------------------------------------------------------------------------
def test_tiny_checkpoint_fixture_describes_tiny_dataset(tiny_checkpoint, tiny_dataset):
    from train.data.dataset_dir import read_dataset

    dataset = tiny_dataset if hasattr(tiny_dataset, "class_names") else read_dataset(tiny_dataset)
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    cfg = predictor.config
    assert cfg.class_names == dataset.class_names and cfg.groups == dataset.groups
    assert cfg.train_counts == list(dataset.train_counts())
    assert cfg.feature_config == dataset.feature_config.to_dict()
    assert cfg.input_size == 32
    images = dataset.load_images("test", progress=False)[:8]
    predictions = predictor.predict_batch(list(images))
    assert len(predictions) == len(images)
    assert all(p.class_name in dataset.class_names for p in predictions)
