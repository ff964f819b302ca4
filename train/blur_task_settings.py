"""The model settings a blurred-vs-clear dataset implies, derived once when training starts.

When the data card says the classes are blur (`card["blur_task"]`, written by `blurfuse data`),
the model is built to keep blur visible: it reads `input_size` squares at the photo's own
resolution (the dataset's image size, so nothing is resized), predicts a photo of any size from a
grid of such tiles (`preprocess="tiles"`), each tile's answer weighted by its coarse contrast so
flat tiles such as sky barely count (`tile_vote="contrast"`, chosen on dev photos, issue 18 part 4:
docs/RESULTS.md), and its blur branch gets multi-scale and
frequency-domain evidence beside the Laplacian score. Every dataset also records where its blur
threshold came from, so an answer can name the resolution the threshold belongs to.
"""

from __future__ import annotations

import dataclasses
import logging

from features import FeatureConfig
from features.frequency import MULTISCALE_MIN_SIDE
from fusion.config import ModelConfig
from fusion.preprocess import fit_evidence_standardisation

log = logging.getLogger("blurfuse.train")


def threshold_basis(card: dict) -> dict:
    """Where the dataset's blur threshold came from: fitted or default, at which image size."""
    return {"fitted": bool(card.get("blur_threshold_fitted", False)), "image_size": card.get("image_size")}


def blur_task_of(card: dict) -> dict:
    """{"blurred_class": i, "sharp_class": j} from the card, or {} for an ordinary dataset."""
    task = card.get("blur_task") or {}
    if not task:
        return {}
    return {"blurred_class": int(task["blurred_class_index"]), "sharp_class": int(task["sharp_class_index"])}


def blur_task_input_size(card: dict, requested: int) -> int:
    """A blur-task model reads squares of the dataset's own size: resizing them would remove blur."""
    if not blur_task_of(card):
        return requested
    size = int(card["image_size"])
    if size != requested:
        log.info("blur task: input size %d px (the dataset's native-resolution squares) instead of %d", size, requested)
    return size


def with_blur_task(model_cfg: ModelConfig, card: dict, train_gray, evidence_set: str = "cepstral") -> ModelConfig:
    """`model_cfg` with the threshold basis and, for a blur task, tiles + blur evidence settings."""
    basis = threshold_basis(card)
    task = blur_task_of(card)
    if not task:
        return dataclasses.replace(model_cfg, blur_threshold_basis=basis)
    if evidence_set != "basic" and int(card["image_size"]) < MULTISCALE_MIN_SIDE:
        raise ValueError(f"the {evidence_set} blur evidence needs squares of at least {MULTISCALE_MIN_SIDE} px; this dataset's "
                         f"are {card['image_size']} px: rebuild it with a larger --image-size or train with "
                         "--blur-evidence-set basic")
    mean, std = fit_evidence_standardisation(train_gray, evidence_set)
    features = model_cfg.features_config()
    features = FeatureConfig(size=model_cfg.input_size, blur_threshold=features.blur_threshold, edges=features.edges)
    return dataclasses.replace(model_cfg, blur_threshold_basis=basis, blur_task=task, preprocess="tiles", tile_vote="contrast",
                               blur_evidence=True, blur_evidence_set=evidence_set, blur_pass_through=True,
                               blur_evidence_mean=mean, blur_evidence_std=std,
                               feature_config=features.to_dict())
