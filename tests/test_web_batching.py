"""Micro-batching in the web app: concurrent requests share model batches, and every answer is the
one the image gets alone; one bad image fails only its own request."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from features.png import encode_png
from fusion.predictor import Predictor
from web import create_app
from web.batching import MicroBatcher
from web.cli import register


def _slow_echo(images, explain):
    time.sleep(0.02)  # a model pass: long enough for concurrent requests to queue up behind it
    if any(isinstance(image, str) and image == "bad" for image in images):
        raise ValueError("an unusable image")
    return [(image, flag) for image, flag in zip(images, explain)]


def test_concurrent_requests_are_gathered_into_few_batches_each_getting_its_own_answer():
    batcher = MicroBatcher(_slow_echo, max_size=8, max_wait_ms=5)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: batcher.submit(i, explain=i % 2 == 0), range(32)))
    batcher.close()
    assert answers == [(i, i % 2 == 0) for i in range(32)]
    assert batcher.stats.items == 32 and batcher.stats.batches <= 16  # alone it would be 32 batches
    assert batcher.stats.mean_size >= 2


def test_one_bad_image_fails_only_its_own_request():
    batcher = MicroBatcher(_slow_echo, max_size=8, max_wait_ms=20)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.submit, item) for item in (1, "bad", 3, 4)]
        results = [f.exception() or f.result() for f in futures]
    batcher.close()
    assert isinstance(results[1], ValueError)
    assert [results[i] for i in (0, 2, 3)] == [(1, False), (3, False), (4, False)]


@pytest.mark.parametrize("settings", [{"max_size": 0}, {"max_wait_ms": -1}, {"max_wait_ms": 5000}])
def test_bad_batcher_settings_are_refused(settings):
    with pytest.raises(ValueError):
        MicroBatcher(_slow_echo, **settings)


def _images(tiny_dataset, n=12):
    import cv2

    rows = tiny_dataset.split_rows("test")[:n]
    return [cv2.cvtColor(cv2.imread(str(tiny_dataset.root / r["path"])), cv2.COLOR_BGR2RGB) for r in rows]


def _post_all(app, images):
    """Post every image at once from its own thread; the JSON answers in image order."""
    barrier = threading.Barrier(len(images))

    def post(image):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/predict", data={"image": (io.BytesIO(encode_png(image)), "x.png")},
                               content_type="multipart/form-data")
        assert response.status_code == 200
        return response.get_json()

    with ThreadPoolExecutor(len(images)) as pool:
        return list(pool.map(post, images))


def _same_record(b, a) -> bool:
    """Equal records, floats to 1e-5: a float32 convolution over a different batch sums in a different
    order (oneDNN blocks by batch), which moves logits by ~1e-5 and probabilities by a few 1e-6."""
    if b is None or a is None:
        return b is a
    return b.keys() == a.keys() and all(
        np.isclose(b[k], a[k], atol=1e-5) if isinstance(a[k], float) else b[k] == a[k] for k in a)


def test_api_answers_are_equal_with_batching_on_and_off(tiny_checkpoint, tiny_dataset):
    images = _images(tiny_dataset)
    batched_app = create_app({"MODEL_PATH": tiny_checkpoint, "SECRET_KEY": "t", "BATCH_MAX_WAIT_MS": 50})
    alone_app = create_app({"MODEL_PATH": tiny_checkpoint, "SECRET_KEY": "t", "BATCHING": False})
    batched, alone = _post_all(batched_app, images), _post_all(alone_app, images)
    stats = batched_app.extensions["blurfuse"].batcher.stats
    assert stats.batches < len(images), "the concurrent requests should have shared batches"
    for b, a in zip(batched, alone):
        assert b["class_name"] == a["class_name"] and b["blurred"] == a["blurred"]
        assert b["in_distribution"] == a["in_distribution"] and b["edge_path"] == a["edge_path"]
        assert _same_record(b["blur_disagreement"], a["blur_disagreement"])
        assert np.allclose(list(b["probabilities"].values()), list(a["probabilities"].values()), atol=1e-5)


def test_grad_cam_maps_are_the_same_alone_and_in_a_batch(tiny_checkpoint, tiny_dataset):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    images = _images(tiny_dataset, 5)
    batch = predictor.predict_and_explain_batch(images, [True, False, True, True, False])
    for image, (prediction, heat), wanted in zip(images, batch, [True, False, True, True, False]):
        alone, alone_heat = predictor.predict_and_explain(image)
        assert prediction.class_index == alone.class_index
        assert np.allclose(prediction.probabilities, alone.probabilities, atol=1e-5)
        assert (heat is not None) == wanted
        if wanted:
            assert heat.shape == image.shape[:2] and np.allclose(heat, alone_heat, atol=1e-5)


def _serve_args(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["serve", "--model", "/nonexistent", *argv])


def test_serve_flags_turn_batching_off_and_are_validated():
    from web.cli import validate

    args = _serve_args("--no-batching")
    assert args.batching is False
    with pytest.raises(FileNotFoundError):
        validate(args)  # the flags themselves were fine; only the model is missing
    assert args.threads == 4
    with pytest.raises(ValueError, match="batch-max-wait-ms"):
        validate(_serve_args("--batch-max-wait-ms", "5000"))
    with pytest.raises(SystemExit):
        _serve_args("--batch-max-size", "0")
