"""Predictions of a checkpoint on one split of a dataset dir, through the product's Predictor.

Going through `fusion.Predictor.predict_batch` (not a private forward pass) is the point: the
report then counts exactly what `blurfuse predict` and the web app would answer for each image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.table import PredictionTable
from train.data.splits import SPLITS
from fusion.defaults import DEFAULT_BATCH_SIZE


@dataclass
class Evaluation:
    table: PredictionTable
    images: np.ndarray        # (N, H, W, 3) uint8, order = table rows
    edge_maps: np.ndarray     # (N, S, S) uint8, the edge map each prediction used
    blur_threshold: float     # the threshold the Predictor applied (the checkpoint's fitted one)
    logits: np.ndarray | None = None   # (N, C) raw logits; table.probabilities = softmax(logits / temperature)
    temperature: float = 1.0           # the checkpoint's temperature, as the Predictor applied it
    calibration: dict | None = None    # where the temperature was fitted (ModelConfig.calibration)
    ood_scores: np.ndarray | None = None  # (N,) out-of-distribution score per image; None without one


def evaluate_split(predictor: Any, dataset: Any, split: str = "test", batch_size: int = DEFAULT_BATCH_SIZE,
                   progress: bool = True) -> Evaluation:
    """Run `predictor` on every image of `split` and join the answers with the manifest truth."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model_names = list(predictor.config.class_names)
    if model_names != list(dataset.class_names):
        raise ValueError(
            f"the model's classes {model_names} do not match the dataset's classes {list(dataset.class_names)}; "
            "evaluate a checkpoint on the dataset it was trained for"
        )
    rows = dataset.split_rows(split)
    if not rows:
        raise ValueError(f"split {split!r} of dataset {dataset.root} has no images"
                         + (" (built before the dev split existed? rebuild it with 'blurfuse data')" if split == "dev" else ""))
    images = dataset.load_images(split, progress=progress)
    predictions = predictor.predict_batch(images, batch_size=batch_size, progress=progress)
    if len(predictions) != len(rows):
        raise ValueError(f"the predictor returned {len(predictions)} predictions for {len(rows)} images")
    table = PredictionTable(
        class_names=model_names,
        groups=list(dataset.groups),
        ids=np.array([str(r["id"]) for r in rows]),
        labels=np.array([int(r["label"]) for r in rows], dtype=np.int64),
        predicted=np.array([p.class_index for p in predictions], dtype=np.int64),
        probabilities=np.stack([np.asarray(p.probabilities, dtype=np.float64) for p in predictions]),
        blurred=np.array([bool(r["blurred"]) for r in rows]),
        blur_kind=np.array([str(r.get("blur_kind") or "") if r["blurred"] else "" for r in rows]),
        blur_param=np.array([_float(r.get("blur_param")) if r["blurred"] else np.nan for r in rows]),
        laplacian_var=np.array([float(p.laplacian_var) for p in predictions]),
        blur_verdict=np.array([bool(p.blurred) for p in predictions]),
        blur_probability=np.array([_float(p.blur_probability) for p in predictions]),
        edge_path=[str(p.edge_path) for p in predictions],
    )
    return Evaluation(
        table=table,
        images=images,
        edge_maps=np.stack([np.asarray(p.edge_map) for p in predictions]),
        blur_threshold=float(predictions[0].blur_threshold),
        logits=_optional_field(predictions, "logits"),
        temperature=float(getattr(predictor.config, "temperature", 1.0)),
        calibration=dict(getattr(predictor.config, "calibration", None) or {}),
        ood_scores=_optional_field(predictions, "ood_score"),
    )


def _optional_field(predictions: list[Any], name: str) -> np.ndarray | None:
    """A field some checkpoints do not give (logits, OOD score), stacked; None if any prediction lacks it."""
    values = [getattr(p, name, None) for p in predictions]
    return None if any(v is None for v in values) else np.stack([np.asarray(v, dtype=np.float64) for v in values])


def _float(value: Any) -> float:
    if value is None or value == "":
        return float("nan")
    return float(value)
