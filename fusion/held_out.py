"""One pass over the validation images fits both post-hoc pieces of a trained model.

The temperature (`fusion.calibration`) needs the validation images' logits and the out-of-distribution
score (`fusion.ood_store`) their embeddings and backbone stage statistics; `Predictor.embed_batch`
gives all three from the same forward pass. Training calls this when a run ends and `blurfuse
calibrate` on an older run, so the two paths cannot drift apart, and neither reads or predicts the
validation split twice.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from features.atomic import atomic_write_text
from fusion.calibration import CalibrationResult, calibrate_logits
from fusion.checkpoint import CONFIG_NAME, read_config
from fusion.class_calibration import SHRINK_STRENGTH, fit_class_temperatures
from fusion.ood import DEFAULT_KEEP, image_scores
from fusion.defaults import DEFAULT_BATCH_SIZE


def needs_train_images(method: str, branches: Sequence[str]) -> bool:
    """Whether the OOD score fits statistics on training images (stages, mahalanobis) or not (energy, none)."""
    from fusion.ood_store import resolve_method

    return method != "none" and resolve_method(method, branches) != "energy"


def fit_temperature_and_ood(run_dir: str | os.PathLike, predictor, val_images: Sequence[Any], val_labels: np.ndarray,
                            train_images: Sequence[Any] = (), train_labels: np.ndarray | None = None, ood_method: str = "stages",
                            keep: float = DEFAULT_KEEP, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False,
                            temperature: bool = True, blur_views: bool = False,
                            familiar_view: bool = False, views: str = "blur") -> tuple[CalibrationResult | None, dict | None]:
    """Fit and store the temperature (unless `temperature` is False: it was fitted on another
    held-out split) and, unless `ood_method` is "none", the OOD score of the run in `run_dir`
    (loaded as `predictor`); returns the calibration result and the OOD settings."""
    from fusion.ood_store import fit_ood, ood_stages, resolve_method, write_ood

    method = ood_method if ood_method == "none" else resolve_method(ood_method, predictor.config.branches)
    if needs_train_images(method, predictor.config.branches) and (train_labels is None or len(train_images) == 0):
        raise ValueError(f"the {method} OOD score fits its statistics on training images; none were given")
    stages = None if method == "none" else ood_stages(method)
    val = predictor.embed_batch(list(val_images), batch_size=batch_size, progress=progress, stages=stages)
    fitted = None
    if temperature:
        fitted = store_temperature(run_dir, image_scores(val.logits.numpy(), val.owner), val_labels, "val")
    if method == "none":
        return fitted, None
    labels = np.zeros(0, np.int64) if train_labels is None else train_labels
    settings, stats = fit_ood(predictor, train_images, labels, val_images, method=method, keep=keep, seed=seed,
                              progress=progress, val=val, blur_views=blur_views, familiar=familiar_view, views=views)
    write_ood(run_dir, read_config(Path(run_dir) / CONFIG_NAME), settings, stats)  # re-read: it now holds the temperature
    return fitted, settings


def store_temperature(run_dir: str | os.PathLike, logits: Any, labels: Any, split: str) -> CalibrationResult:
    """Fit the temperature, and the per-class temperatures shrunk toward it (`fusion.class_calibration`),
    on held-out raw logits (one row per image) and rewrite `model.json` atomically with them; training
    calls this with the logits of the pass it also fits the OOD score on."""
    result = calibrate_logits(logits, labels, split)
    per_class = fit_class_temperatures(logits, labels, result.temperature)
    record = {**result.to_dict(), "class_temperatures": per_class, "class_temperature_strength": SHRINK_STRENGTH}
    config = dataclasses.replace(read_config(run_dir), temperature=result.temperature, calibration=record)
    atomic_write_text(Path(run_dir) / CONFIG_NAME, config.to_json())
    return result
