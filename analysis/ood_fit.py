"""Fit a trained run's temperature and out-of-distribution score on its dataset, after the fact.

Training fits both at the end of every run (`fusion.held_out`); this is the same step for a run
that predates it or should use another score, reading the dataset dir once. The stages and
mahalanobis scores fit their Gaussians on the train split, so it is read only for them; the
validation split gives the temperature, the standardisation and the threshold that keeps `keep` of
familiar images. Writes `RUN/ood.safetensors` and the `temperature` / `ood` entries of
`RUN/model.json`. A temperature fitted on the dev split instead needs a second pass (the OOD score
is always fitted on val).
"""

from __future__ import annotations

import os
from typing import Any

from fusion.ood import DEFAULT_KEEP


def fit_run_held_out(model: str | os.PathLike, data: Any, method: str = "stages", keep: float = DEFAULT_KEEP,
                     progress: bool = True, temperature_split: str = "val",
                     batch_size: int = 256) -> tuple[Any, dict | None]:
    """Fit and store the temperature (on `temperature_split`) and the OOD settings of the run `model`
    on `data` (a dataset dir path or a read `DatasetDir`); returns (calibration result, OOD settings)."""
    from fusion.calibration import calibrate_checkpoint
    from fusion.checkpoint import resolve_checkpoint
    from fusion.held_out import fit_held_out, needs_train_images
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    if not 0 < keep < 1:  # before any image is read (fit_threshold would only say so after the pass)
        raise ValueError(f"keep must lie in (0, 1); got {keep}")
    run_dir = resolve_checkpoint(model)[0].parent
    dataset = data if hasattr(data, "load_images") else read_dataset(data)
    predictor = Predictor.from_checkpoint(run_dir)
    if list(predictor.config.class_names) != list(dataset.class_names):
        raise ValueError(f"--data: the dataset's classes {dataset.class_names} are not the model's {predictor.config.class_names}")
    calibrated = None
    if temperature_split != "val":
        calibrated = calibrate_checkpoint(run_dir, dataset, split=temperature_split, batch_size=batch_size, progress=progress)
        if method == "none":
            return calibrated, None
    train = needs_train_images(method, predictor.config.branches)
    fitted, settings = fit_held_out(run_dir, predictor, dataset.load_images("val", progress=progress), dataset.labels("val"),
                                    dataset.load_images("train", progress=progress) if train else [],
                                    dataset.labels("train") if train else None,
                                    ood_method=method, keep=keep, batch_size=batch_size, progress=progress,
                                    temperature=calibrated is None)
    return calibrated or fitted, settings
