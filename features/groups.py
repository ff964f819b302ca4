"""Class groups of a long-tailed dataset (frequent / medium / rare) and per-group recall.

The names, their order, their colours and the recall-per-group rule are used by the dataset
builder, the model config, training's validation, the report and the web page. They live here,
in the bottom package (numpy only, no torch), so every layer imports the same definition.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

GROUPS: tuple[str, ...] = ("frequent", "medium", "rare")  # head to tail: the order tables and plots use
GROUP_COLOURS = {"frequent": "#4c72b0", "medium": "#dd8452", "rare": "#c44e52"}


def ordered_groups(groups: Sequence[str]) -> list[str]:
    """The distinct names of `groups`, known ones in head-to-tail order, unknown ones after them."""
    present = list(dict.fromkeys(groups))
    return [g for g in GROUPS if g in present] + [g for g in present if g not in GROUPS]


def nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean ignoring NaN; NaN (without a warning) when nothing is defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def per_class_recall(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class 0..n_classes-1; NaN for a class absent from `labels`."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    support = np.bincount(labels, minlength=n_classes).astype(np.float64)
    hits = np.bincount(labels[labels == predicted], minlength=n_classes).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, hits / np.where(support > 0, support, 1), np.nan)


def group_means(per_class: np.ndarray, groups: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean over each group's classes (last axis, NaN ignored) of a per-class figure such as recall.

    A group's figure is the mean over its classes, not over its images, so one large class
    cannot hide a weak one. Works on (C,) and on (b, C) bootstrap arrays alike.
    """
    names = np.asarray(list(groups))
    values = np.asarray(per_class, dtype=np.float64)
    if values.shape[-1] != len(names):
        raise ValueError(f"groups: {len(names)} names for {values.shape[-1]} classes")
    return {g: nanmean(values[..., names == g]) for g in ordered_groups(list(groups))}


def group_recall(labels: np.ndarray, predicted: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
    """Mean recall of each group's classes, for every name in GROUPS (NaN when a group is empty)."""
    means = group_means(per_class_recall(labels, predicted, len(groups)), groups)
    return {g: float(means.get(g, np.nan)) for g in (*GROUPS, *means)}
