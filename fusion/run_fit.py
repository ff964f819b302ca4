"""Fit a finished run's temperature and out-of-distribution score on its dataset, after the fact.

Training fits both at the end of every run (`fusion.held_out`); this is the same step for a run
that predates it or should use another score, reading the dataset dir once. The stages and
mahalanobis scores fit their Gaussians on the train split, so it is read only for them; the
validation split gives the temperature, the standardisation and the threshold that keeps `keep` of
familiar images. Writes `RUN/ood.safetensors` and the `temperature` / `ood` entries of
`RUN/model.json`. A temperature fitted on the dev split instead needs a second pass (the OOD score
is always fitted on val).

Both functions take a read dataset (`train.data.dataset_dir.DatasetDir`, duck-typed: fusion never
imports train); the `blurfuse calibrate` command (`train.calibrate_command`) reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fusion.calibration import CALIBRATION_SPLITS, CalibrationResult
from fusion.checkpoint import resolve_checkpoint
from fusion.defaults import DEFAULT_BATCH_SIZE
from fusion.held_out import fit_temperature_and_ood, needs_train_images, store_temperature
from fusion.ood import DEFAULT_KEEP
from fusion.predictor import Predictor


def fit_run_held_out(model: str | os.PathLike, dataset: Any, method: str = "stages", keep: float = DEFAULT_KEEP,
                     progress: bool = True, temperature_split: str = "val",
                     batch_size: int = DEFAULT_BATCH_SIZE, blur_views: bool = False,
                     familiar_view: bool = False, views: str = "blur") -> tuple[Any, dict | None]:
    """Fit and store the temperature (on `temperature_split`) and the OOD settings of the run `model`
    on the read dataset `data`; returns (calibration result, OOD settings)."""
    if not 0 < keep < 1:  # before any image is read (fit_threshold would only say so after the pass)
        raise ValueError(f"keep must lie in (0, 1); got {keep}")
    run_dir = resolve_checkpoint(model)[0].parent
    predictor = Predictor.from_checkpoint(run_dir)
    if list(predictor.config.class_names) != list(dataset.class_names):
        raise ValueError(f"--data: the dataset's classes {dataset.class_names} are not the model's {predictor.config.class_names}")
    calibrated = None
    if temperature_split != "val":
        calibrated = calibrate_checkpoint(run_dir, dataset, split=temperature_split, batch_size=batch_size, progress=progress)
        if method == "none":
            return calibrated, None
    train = needs_train_images(method, predictor.config.branches)
    fitted, settings = fit_temperature_and_ood(run_dir, predictor, dataset.load_images("val", progress=progress), dataset.labels("val"),
                                    dataset.load_images("train", progress=progress) if train else [],
                                    dataset.labels("train") if train else None,
                                    ood_method=method, keep=keep, batch_size=batch_size, progress=progress,
                                    temperature=calibrated is None, blur_views=blur_views,
                                    familiar_view=familiar_view, views=views,
                                    # the training seed, so a refit draws the fitting subset that training drew
                                    seed=int(predictor.config.recipe.get("seed", 0)))
    return calibrated or fitted, settings


def calibrate_checkpoint(run_dir: str | os.PathLike, dataset: Any, split: str = "val", batch_size: int = DEFAULT_BATCH_SIZE,
                         progress: bool = False) -> CalibrationResult:
    """Fit the temperature of the checkpoint in `run_dir` on `split` of `dataset` and store it.

    `dataset` is a `train.data.dataset_dir.DatasetDir` (duck-typed: fusion never imports train).
    model.json is rewritten atomically with `temperature` and a `calibration` record; the weights
    are untouched. Refitting starts from the raw logits, so calibrating twice gives the same T.
    """
    if split not in CALIBRATION_SPLITS:
        raise ValueError(f"split must be one of {CALIBRATION_SPLITS} (held out, never test), got {split!r}")
    run_dir = Path(run_dir)
    run_dir = run_dir.parent if run_dir.suffix == ".json" else run_dir
    predictor = Predictor.from_checkpoint(run_dir)
    if list(predictor.config.class_names) != list(dataset.class_names):
        raise ValueError(f"the model's classes {predictor.config.class_names} differ from the dataset's {dataset.class_names}")
    images = dataset.load_images(split, progress=progress)
    predictions = predictor.predict_batch(images, batch_size=batch_size, progress=progress)
    return store_temperature(run_dir, np.stack([p.logits for p in predictions]), dataset.labels(split), split)
