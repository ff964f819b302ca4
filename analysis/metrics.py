"""Classification, blur-detection and calibration metrics, vectorised over bootstrap resamples.

Functions taking `idx` work on a (b, N) index matrix (see `analysis.bootstrap`) and return one
value per resample, so the same code gives the point estimate (identity row) and the bootstrap
distribution. Conventions follow scikit-learn so the figures can be checked against it: precision
of a never-predicted class is 0, balanced accuracy averages recall over classes present in the
truth, macro-F1 averages over classes present in the truth or the predictions. What needs no
resampling (the ROC curve and its area, the blur detector's scores) is scikit-learn's own.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from features.groups import nanmean
from fusion.calibration import bin_index


def grouped_sums(idx: np.ndarray, key: np.ndarray, n_keys: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(b, n_keys) per-resample counts (or sums of `weights`) of images falling in each key.

    Images with key -1 are left out, which is how subsets (rare classes only, blurred only) are
    expressed without changing the shape of the index matrix.
    """
    b = idx.shape[0]
    keys = np.asarray(key)[idx]
    keys = np.where(keys < 0, n_keys, keys)  # an overflow slot, dropped below
    flat = (np.arange(b, dtype=np.int64)[:, None] * (n_keys + 1) + keys).ravel()
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[idx].ravel()
    counts = np.bincount(flat, weights=w, minlength=b * (n_keys + 1)).reshape(b, n_keys + 1)
    return counts[:, :n_keys].astype(np.float64)


def confusion_counts(idx: np.ndarray, labels: np.ndarray, predicted: np.ndarray, n_classes: int,
                     subset: np.ndarray | None = None) -> np.ndarray:
    """(b, C, C) confusion matrices, rows = truth, columns = prediction; `subset` masks images."""
    key = np.asarray(labels, dtype=np.int64) * n_classes + np.asarray(predicted, dtype=np.int64)
    if subset is not None:
        key = np.where(subset, key, -1)
    return grouped_sums(idx, key, n_classes * n_classes).reshape(-1, n_classes, n_classes)


def _divide(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), empty)


def per_class_scores(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Recall (NaN without support), precision (0 when never predicted) and F1 per class."""
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    support = conf.sum(axis=-1)
    predicted = conf.sum(axis=-2)
    return {
        "recall": _divide(tp, support, np.nan),
        "precision": _divide(tp, predicted, 0.0),
        "f1": _divide(2 * tp, support + predicted, 0.0),
        "support": support,
        "predicted": predicted,
    }


def accuracy(conf: np.ndarray) -> np.ndarray:
    total = conf.sum(axis=(-2, -1))
    return _divide(np.trace(conf, axis1=-2, axis2=-1), total, np.nan)


def balanced_accuracy(conf: np.ndarray) -> np.ndarray:
    return nanmean(per_class_scores(conf)["recall"])


def macro_f1(conf: np.ndarray) -> np.ndarray:
    scores = per_class_scores(conf)
    present = (scores["support"] + scores["predicted"]) > 0
    f1 = np.where(present, scores["f1"], np.nan)
    return nanmean(f1)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Plain (C, C) integer confusion matrix of the whole sample."""
    n = len(labels)
    conf = confusion_counts(np.arange(n)[None], labels, predicted, n_classes)[0]
    return conf.astype(np.int64)


def expected_calibration_error(idx: np.ndarray, confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15,
                               subset: np.ndarray | None = None) -> np.ndarray:
    """ECE = sum over bins of (share of images) x |accuracy - mean confidence|, per resample.

    The bins are `fusion.calibration`'s, so the report's bootstrap ECE and the calibration step's
    ECE (fitted T, reliability diagram) are one definition."""
    key = bin_index(confidence, n_bins)
    if subset is not None:
        key = np.where(subset, key, -1)
    count = grouped_sums(idx, key, n_bins)
    sum_conf = grouped_sums(idx, key, n_bins, weights=confidence)
    sum_correct = grouped_sums(idx, key, n_bins, weights=np.asarray(correct, dtype=np.float64))
    return _divide(np.abs(sum_correct - sum_conf).sum(axis=1), count.sum(axis=1), np.nan)


def binary_scores(truth: np.ndarray, verdict: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of a yes/no detector (True = blurred), by scikit-learn.

    Precision is 0 when the detector never says yes; recall is NaN when nothing is blurred
    (there is nothing to catch, which is not the same as catching none of it).
    """
    truth = np.asarray(truth, dtype=bool)
    verdict = np.asarray(verdict, dtype=bool)
    n = truth.size
    return {
        "accuracy": float(skm.accuracy_score(truth, verdict)) if n else float("nan"),
        "precision": float(skm.precision_score(truth, verdict, zero_division=0.0)),
        "recall": float(skm.recall_score(truth, verdict, zero_division=np.nan)),
        "f1": float(skm.f1_score(truth, verdict, zero_division=0.0)),
        "n": int(n),
        "n_positive": int(truth.sum()),
    }


def roc_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """scikit-learn's ROC AUC, NaN (instead of an exception) when the truth has a single class."""
    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return float("nan")
    return float(skm.roc_auc_score(truth, np.asarray(score, dtype=np.float64)))


def roc_curve(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's (fpr, tpr, thresholds), a point per distinct score, highest first, from (0, 0).

    With a single class in the truth the undefined axis is 0 (a flat line to plot, no warning).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fpr, tpr, thresholds = skm.roc_curve(np.asarray(truth, dtype=bool), np.asarray(score, dtype=np.float64),
                                             drop_intermediate=False)
    return np.nan_to_num(fpr), np.nan_to_num(tpr), thresholds


def ood_auroc(in_scores: Any, out_scores: Any) -> float:
    """How well an out-of-distribution score (higher = less familiar) ranks unfamiliar images above
    familiar ones: scikit-learn's ROC AUC with the unfamiliar images as positives; 0.5 is chance."""
    inside, outside = np.asarray(in_scores, np.float64).ravel(), np.asarray(out_scores, np.float64).ravel()
    if inside.size == 0 or outside.size == 0:
        raise ValueError("AUROC needs both in- and out-of-distribution scores")
    truth = np.concatenate([np.zeros(inside.size, bool), np.ones(outside.size, bool)])
    return roc_auc(truth, np.concatenate([inside, outside]))
