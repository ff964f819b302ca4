"""Fit a trained run's out-of-distribution threshold (and statistics) on its dataset, after the fact.

Training fits them at the end of every run; this is the same step for a run that predates it or
should use another score. It reads the dataset's train split (the Gaussians of the stages and
mahalanobis scores) and validation split (standardisation, and the threshold that keeps `keep` of
familiar images), and writes
`RUN/ood.safetensors` and the `ood` entry of `RUN/model.json`.
"""

from __future__ import annotations

import os

from fusion.ood import DEFAULT_KEEP
from fusion.ood_store import fit_ood, write_ood


def fit_run_ood(model: str | os.PathLike, data: str | os.PathLike, method: str = "stages",
                keep: float = DEFAULT_KEEP, progress: bool = True) -> dict:
    """Fit and store the OOD settings of the run `model` on dataset dir `data`; returns the settings."""
    from fusion.checkpoint import resolve_checkpoint
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    run_dir = resolve_checkpoint(model)[0].parent
    dataset = read_dataset(data)
    predictor = Predictor.from_checkpoint(run_dir)
    if list(predictor.config.class_names) != list(dataset.class_names):
        raise ValueError(f"--data: the dataset's classes {dataset.class_names} are not the model's {predictor.config.class_names}")
    settings, stats = fit_ood(predictor, dataset.load_images("train", progress=progress), dataset.labels("train"),
                              dataset.load_images("val", progress=progress), method=method, keep=keep, progress=progress)
    write_ood(run_dir, predictor.config, settings, stats)
    return settings
