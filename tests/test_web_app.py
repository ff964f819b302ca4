"""The web app through Flask's test client: every route and every bad input gets a clear answer."""

import dataclasses
import io
import json
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fusion.predictor import Predictor
from tests.conftest import FLAG_EVERYTHING, with_ood
from web import create_app


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def run_dir(tiny_checkpoint, tiny_dataset, tmp_path_factory):
    """The tiny checkpoint, pointed at its dataset (samples) and given a report with per-class recall."""
    run = tmp_path_factory.mktemp("web") / "run"
    shutil.copytree(tiny_checkpoint, run)
    config = json.loads((run / "model.json").read_text())
    config["recipe"]["dataset"] = str(tiny_dataset.root)
    (run / "model.json").write_text(json.dumps(config))
    (run / "report").mkdir()
    per_class = {name: {"recall": 0.25 + 0.05 * i} for i, name in enumerate(tiny_dataset.class_names)}
    (run / "report" / "metrics.json").write_text(json.dumps({"per_class": per_class}))
    (run / "report" / "index.html").write_text("<html><body><h1>report</h1></body></html>")
    return run


@pytest.fixture(scope="module")
def app(run_dir):
    return create_app({"MODEL_PATH": run_dir, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test", "MAX_CONTENT_LENGTH": 300_000})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def test_image(tiny_dataset):
    return (tiny_dataset.root / tiny_dataset.split_rows("test")[0]["path"]).read_bytes()


def upload(client, data: bytes, name: str = "x.png"):
    return client.post("/", data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_index_has_form_and_samples_and_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'type="file"' in page and page.count('class="sample"') == 6
    headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"] and "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in page  # no inline script: the CSP would block it


def test_upload_shows_prediction_edge_map_gradcam_and_verdict(client, run_dir, test_image):
    response = upload(client, test_image)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    expected = Predictor.from_checkpoint(run_dir).predict(test_image)
    assert f'id="prediction">{expected.class_name}' in page.replace("&#39;", "'")
    assert 'id="edge-map" src="data:image/png;base64,' in page
    assert 'id="gradcam" src="data:image/png;base64,' in page
    assert ("Blurred" if expected.blurred else "Sharp") in page
    assert page.count("<meter") == 5
    assert ('id="rare-notice"' in page) == (expected.group == "rare")


def test_rare_prediction_shows_training_count_and_measured_recall(run_dir, test_image, tmp_path):
    """A checkpoint whose classes are all rare, injected as the app's predictor: every answer is rare."""
    rare_run = tmp_path / "rare-run"
    shutil.copytree(run_dir, rare_run)
    config = json.loads((rare_run / "model.json").read_text())
    config["groups"] = ["rare"] * len(config["class_names"])
    (rare_run / "model.json").write_text(json.dumps(config))
    predictor = Predictor.from_checkpoint(rare_run)
    app = create_app({"PREDICTOR": predictor, "MODEL_PATH": rare_run, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"})
    expected = predictor.predict(test_image)
    page = upload(app.test_client(), test_image).get_data(as_text=True)
    assert 'id="rare-notice"' in page
    recall = 0.25 + 0.05 * expected.class_index  # what run_dir's report says for that class
    assert f"only {predictor.config.train_counts[expected.class_index]} training images" in page
    assert f"{100 * recall:.1f} %" in page


def test_sample_pages_model_page_and_report(client):
    assert client.get("/sample/0").status_code == 200
    assert client.get("/sample/99").status_code == 404
    model = client.get("/model").get_data(as_text=True)
    assert 'id="classes"' in model and "rare" in model and "/report/" in model
    assert b"report" in client.get("/report/").data


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"", "empty.png", "empty"),
        (b"this is text, not a picture", "fake.png", "not an image"),
        (None, "truncated.png", "truncated"),
        (bomb_png(), "bomb.png", "decompression bomb"),
        (b"hello", "notes.txt", "Only image files"),
    ],
)
def test_bad_uploads_get_a_400_page_and_the_server_keeps_serving(client, data, name, message):
    if data is None:
        whole = png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        data = whole[: len(whole) // 2]
    response = upload(client, data, name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200


def test_missing_file_and_oversized_upload(client):
    assert client.post("/", data={}, content_type="multipart/form-data").status_code == 400
    big = upload(client, b"\0" * 400_000, "big.png")
    assert big.status_code == 413 and "limited" in big.get_data(as_text=True)


def test_odd_but_valid_images_and_hostile_filenames(client):
    assert upload(client, png(np.zeros((1, 1), np.uint8))).status_code == 200
    assert upload(client, png(np.full((40, 30), 40000, np.uint16))).status_code == 200
    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (0, 255)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert upload(client, gif.getvalue(), "anim.gif").status_code == 200
    response = upload(client, png(np.zeros((8, 8), np.uint8)), "../../etc/<b>passwd</b>.png")
    assert response.status_code == 200 and "<b>passwd</b>" not in response.get_data(as_text=True)


def test_csrf_is_enforced_on_the_form(run_dir, test_image):
    app = create_app({"MODEL_PATH": run_dir, "SECRET_KEY": "test"})
    client = app.test_client()
    missing = upload(client, test_image)
    assert missing.status_code == 400 and "CSRF" in missing.get_data(as_text=True)
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    wrong = client.post("/", data={"csrf_token": token[:-4] + "abcd", "image": (io.BytesIO(test_image), "x.png")})
    assert wrong.status_code == 400
    ok = client.post("/", data={"csrf_token": token, "image": (io.BytesIO(test_image), "x.png")})
    assert ok.status_code == 200


def test_json_api(client, run_dir, test_image):
    response = client.post("/api/predict", data={"image": (io.BytesIO(test_image), "x.png")})
    assert response.status_code == 200
    body = response.get_json()
    expected = Predictor.from_checkpoint(run_dir).predict(test_image)
    assert body["class_name"] == expected.class_name
    assert body["probabilities"][expected.class_name] == pytest.approx(expected.probability, abs=1e-6)
    for key in ("laplacian_var", "blurred", "blur_threshold", "blur_probability", "edge_path", "top_k"):
        assert key in body
    assert "edge_map_png" not in body
    with_edges = client.post("/api/predict?edge_map=1", data={"image": (io.BytesIO(test_image), "x.png")}).get_json()
    assert Image.open(io.BytesIO(__import__("base64").b64decode(with_edges["edge_map_png"]))).size == (28, 28)


def test_json_api_errors(client):
    assert client.post("/api/predict", data={}).get_json()["error"].startswith("send the image")
    bad = client.post("/api/predict", data={"image": (io.BytesIO(b"junk"), "x.png")})
    assert bad.status_code == 400 and "could not be used" in bad.get_json()["error"]
    assert client.post("/api/predict", data={"image": (io.BytesIO(b"x"), "x.exe")}).status_code == 415
    assert client.post("/api/predict", data={"image": (io.BytesIO(bomb_png()), "b.png")}).status_code == 400
    too_big = client.post("/api/predict", data={"image": (io.BytesIO(b"\0" * 400_000), "b.png")})
    assert too_big.status_code == 413 and "error" in too_big.get_json()
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["model_loaded"] and health["classes"] == 10


def test_app_needs_a_model_and_takes_the_secret_from_the_environment(run_dir, monkeypatch):
    with pytest.raises(ValueError, match="MODEL_PATH"):
        create_app({})
    monkeypatch.setenv("BLURFUSE_SECRET_KEY", "from-env")
    assert create_app({"MODEL_PATH": run_dir}).config["SECRET_KEY"] == "from-env"
    monkeypatch.delenv("BLURFUSE_SECRET_KEY")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    a, b = create_app({"MODEL_PATH": run_dir}), create_app({"MODEL_PATH": run_dir})
    assert a.config["SECRET_KEY"] != b.config["SECRET_KEY"]


def test_unfamiliar_image_gets_a_warning_above_the_class_and_in_the_json(run_dir, test_image, tmp_path):
    """A threshold no image can stay under: every answer is flagged as unlike the training data."""
    strict = with_ood(run_dir, tmp_path, FLAG_EVERYTHING)
    app = create_app({"PREDICTOR": Predictor.from_checkpoint(strict), "MODEL_PATH": strict, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "test"})
    page = upload(app.test_client(), test_image).get_data(as_text=True)
    assert 'id="ood-warning"' in page and page.index('id="ood-warning"') < page.index('id="prediction"')
    assert "unlike the images the model was trained on" in page
    assert 'id="threshold-note"' in page
    answer = app.test_client().post("/api/predict", data={"image": (io.BytesIO(test_image), "x.png")},
                                    content_type="multipart/form-data").get_json()
    assert answer["in_distribution"] is False and answer["ood_score"] > answer["ood_threshold"]


def test_an_answer_read_from_the_low_passed_look_says_so_on_the_page_and_in_the_json(run_dir, test_image):
    """The page must not pass off a reading of the smoothed copy as a reading of the upload itself."""

    class ReadFromView(Predictor):
        def _predictions(self, *args, **kwargs):
            return [dataclasses.replace(p, read_from="low-passed view") for p in super()._predictions(*args, **kwargs)]

    predictor = Predictor.from_checkpoint(run_dir)
    predictor.__class__ = ReadFromView
    app = create_app({"PREDICTOR": predictor, "MODEL_PATH": run_dir, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"})
    page = upload(app.test_client(), test_image).get_data(as_text=True)
    assert 'id="second-look"' in page and "low-passed copy" in page
    answer = app.test_client().post("/api/predict", data={"image": (io.BytesIO(test_image), "x.png")},
                                    content_type="multipart/form-data").get_json()
    assert answer["read_from"] == "low-passed view"
    plain = create_app({"MODEL_PATH": run_dir, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"})
    assert 'id="second-look"' not in upload(plain.test_client(), test_image).get_data(as_text=True)
