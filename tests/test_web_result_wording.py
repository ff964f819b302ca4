"""Every sentence of the result page comes from the model it describes: a blur-only model reading a
whole photo as tiles, and the default three-branch model, each rendered for real."""

from __future__ import annotations

import html
import io
import re

import cv2
import numpy as np
import pytest
import torch

from features import FeatureConfig
from features.png import encode_png
from fusion.checkpoint import save_checkpoint
from fusion.config import ModelConfig
from fusion.model import create_model
from fusion.predictor import Predictor
from web import create_app

TILE = 32


@pytest.fixture(scope="module")
def blur_only_tiles_run(tmp_path_factory):
    """A blur-task model with only the blur branch, reading 32 px tiles, as `--recipe blur-task` builds."""
    cfg = ModelConfig(class_names=["Blurred", "Undistorted"], groups=["frequent", "frequent"], train_counts=[10, 10],
                      input_size=TILE, feature_config=FeatureConfig(size=TILE, blur_threshold=150.0).to_dict(),
                      preprocess="tiles", max_tiles=16, blur_task={"blurred_class": 0, "sharp_class": 1},
                      branches=("blur",), blur_evidence=True, blur_evidence_mean=[5.0, 4.0, 1.0, 0.2],
                      blur_evidence_std=[1.0, 1.0, 0.5, 0.1], blur_threshold_basis={"fitted": True, "image_size": TILE})
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("blur-only") / "run", create_model(cfg, pretrained="none").eval(), cfg)


def _half_blurred_photo() -> np.ndarray:
    """128 x 128: the left half smooth (blurred tiles), the right half sharp noise."""
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    photo[:, :64] = cv2.GaussianBlur(photo[:, :64], (0, 0), 6)
    return photo


def _page(predictor: Predictor, image: np.ndarray) -> str:
    app = create_app({"PREDICTOR": predictor, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test"})
    response = app.test_client().post("/", data={"image": (io.BytesIO(encode_png(image)), "photo.png")},
                                      content_type="multipart/form-data")
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def _edge_caption(text: str) -> str:
    return text.split("Edge map the model saw", 1)[1].split("Blur verdict", 1)[0]


def test_tiled_photo_caption_counts_tiles_per_edge_path_and_agrees_with_the_tiles(blur_only_tiles_run):
    predictor = Predictor.from_checkpoint(blur_only_tiles_run)
    photo = _half_blurred_photo()
    prediction = predictor.predict(photo)
    assert prediction.tiles == 16 and len(prediction.tile_edge_paths) == 16
    caption = _edge_caption(_page(predictor, photo))
    assert "read as 16 tiles" in caption and "image judged" not in caption
    counts = [int(n) for n in re.findall(r"on (\d+) tiles? judged", caption)]
    assert sum(counts) == 16 and len(counts) == 2  # both paths appear: half the photo is blurred
    assert "custom path" in caption and "OpenCV Canny" in caption


def test_blur_only_model_disagreement_note_names_only_evidence_it_has(blur_only_tiles_run):
    predictor = Predictor.from_checkpoint(blur_only_tiles_run)
    sharp_noise = np.random.default_rng(2).integers(0, 255, (TILE, TILE, 3), dtype=np.uint8)
    with torch.no_grad():  # the learned head says "blurred" whatever it sees: the verdicts disagree
        predictor.model.blur_head.bias.fill_(20.0)
    text = _page(predictor, sharp_noise)
    assert "The two blur verdicts disagree" in text
    assert "RGB" not in text and "edge branch" not in text and "Grad-CAM" not in text
    assert "blur branch's other measures of sharpness" in text
    assert "Blur verdict: Sharp" in text and "at or above the threshold" in text


def test_default_model_page_sentences_agree_with_each_other(tiny_checkpoint, tiny_dataset):
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    rows = tiny_dataset.split_rows("test")
    seen = set()
    for row in rows[:40]:
        image = cv2.cvtColor(cv2.imread(str(tiny_dataset.root / row["path"])), cv2.COLOR_BGR2RGB)
        text = _page(predictor, image)
        verdict = "Blurred" if "Blur verdict: Blurred" in text else "Sharp"
        caption = _edge_caption(text)
        assert ("image judged blurred" in caption) == (verdict == "Blurred")
        assert ("below the threshold" in text) == (verdict == "Blurred")
        seen.add(verdict)
        if seen == {"Blurred", "Sharp"}:
            break
    assert seen == {"Blurred", "Sharp"}, "the tiny test split should hold both blurred and sharp images"


def test_unfamiliar_warning_tells_a_blurred_image_both_cases_and_a_sharp_one_not_to_rely(tiny_checkpoint, tiny_dataset,
                                                                                        tmp_path):
    """Strong blur alone raises the warning on pictures the model still mostly reads right: the notice of an
    image judged blurred must not say "do not rely on it", and one judged sharp must."""
    from tests.conftest import FLAG_EVERYTHING, with_ood

    predictor = Predictor.from_checkpoint(with_ood(tiny_checkpoint, tmp_path, FLAG_EVERYTHING))
    seen = set()
    for row in tiny_dataset.split_rows("test")[:40]:
        image = cv2.cvtColor(cv2.imread(str(tiny_dataset.root / row["path"])), cv2.COLOR_BGR2RGB)
        text = _page(predictor, image)
        assert "unlike the images the model was trained on" in text
        verdict = "Blurred" if "Blur verdict: Blurred" in text else "Sharp"
        assert ("strong blur alone can raise this warning" in text) == (verdict == "Blurred")
        assert ("do not rely on it" in text) == (verdict == "Sharp")
        seen.add(verdict)
        if seen == {"Blurred", "Sharp"}:
            break
    assert seen == {"Blurred", "Sharp"}
