"""Turning a prediction into what the page shows: data-URI pictures, Grad-CAM overlay, blur wording."""

from __future__ import annotations

import cv2
import numpy as np

from features.png import encode_png, png_data_uri
from fusion.gradcam import overlay, upsample_cam
from fusion.predictor import Prediction
from web import wording

DISPLAY = 224  # px: pictures are shown at this size, nearest-neighbour so small inputs stay crisp


def data_uri(image: np.ndarray) -> str:
    """An inline picture for the page: a uint8 gray or RGB image as a PNG data URI."""
    return png_data_uri(encode_png(image))


def for_display(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = DISPLAY / max(h, w)
    interpolation = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def gradcam_overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The CLI's Grad-CAM overlay (`fusion.gradcam.overlay`), drawn at display size."""
    base = for_display(image)
    return overlay(base, upsample_cam(heat, base.shape[0], base.shape[1]))


def explanation(prediction: Prediction, image: np.ndarray, heat: np.ndarray | None, recall: dict[str, float],
                train_counts: dict[str, int], ood_keep: float | None = None) -> dict:
    """Everything result.html renders for one prediction."""
    return {
        "prediction": prediction,
        "image": data_uri(for_display(image)),
        "edge_map": data_uri(for_display(prediction.edge_map)),
        "gradcam": data_uri(gradcam_overlay(image, heat)) if heat is not None else None,
        "edge_path_label": wording.edge_caption(prediction),
        "verdict": wording.verdict(prediction),
        "comparison": wording.comparison(prediction),
        "ood_warning": wording.unfamiliar_warning(prediction, ood_keep) if prediction.in_distribution is False else None,
        "second_look": wording.second_look_note(prediction),
        "top_k": prediction.top_k,
        "rare": prediction.group == "rare",
        "train_count": train_counts.get(prediction.class_name),
        "recall": recall.get(prediction.class_name),
    }
