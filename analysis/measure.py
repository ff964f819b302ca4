"""Every number of the report, computed from a PredictionTable in one bootstrap pass.

`compute_metrics` returns the metrics.json dictionary (layout documented in docs/ARCHITECTURE.md,
section analysis/). All rates are fractions in [0, 1]; gaps are in percentage points. Each rate
`m` comes with `m_ci` = [low, high], the 95 % percentile-bootstrap interval over images resampled
within class x blurred/sharp strata. Undefined values (an empty cell) are null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from features import DEFAULT_BLUR_THRESHOLD
from features.groups import group_means, ordered_groups
from analysis import metrics as M
from analysis.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Estimate, bootstrap
from analysis.table import PredictionTable

KIND_ORDER = ("gaussian", "motion", "defocus")
N_CALIBRATION_BINS = 15
N_STRENGTH_BUCKETS = 3
SCHEMA = "blurfuse.metrics/1"


def ordered_kinds(kinds: np.ndarray) -> list[str]:
    present = sorted({str(k) for k in kinds if str(k)})
    return [k for k in KIND_ORDER if k in present] + [k for k in present if k not in KIND_ORDER]


def strength_buckets(table: PredictionTable, kinds: list[str], n_buckets: int = N_STRENGTH_BUCKETS
                     ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Bucket id per image (-1 for sharp) from quantiles of each kind's blur parameter.

    Quantile edges are computed per kind because the parameters have different units (sigma,
    length in px, radius in px); with few distinct values (integer motion lengths) buckets merge.
    """
    bucket = np.full(table.n, -1, dtype=np.int64)
    info: list[dict[str, Any]] = []
    for kind in kinds:
        members = np.flatnonzero((table.blur_kind == kind) & np.isfinite(table.blur_param))
        if members.size == 0:
            continue
        params = table.blur_param[members]
        edges = np.unique(np.quantile(params, np.linspace(0, 1, n_buckets + 1)))
        local = np.searchsorted(edges[1:-1], params, side="right") if edges.size > 2 else np.zeros(params.size, int)
        for b in np.unique(local):
            chosen = members[local == b]
            values = table.blur_param[chosen]
            bucket[chosen] = len(info)
            info.append({"kind": kind, "low": float(values.min()), "high": float(values.max()),
                         "label": _bucket_label(kind, float(values.min()), float(values.max()))})
    return bucket, info


def _bucket_label(kind: str, low: float, high: float) -> str:
    unit = {"gaussian": ("σ", ""), "motion": ("length", " px"), "defocus": ("radius", " px")}.get(kind, ("param", ""))
    fmt = "{:.0f}" if kind == "motion" else "{:.2f}"
    span = fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}–{fmt.format(high)}"
    return f"{unit[0]} {span}{unit[1]}"


def compute_metrics(
    table: PredictionTable,
    fitted_threshold: float,
    default_threshold: float = DEFAULT_BLUR_THRESHOLD,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    n_bins: int = N_CALIBRATION_BINS,
) -> dict[str, Any]:
    """The metrics.json dictionary (without run/data provenance, which the report adds)."""
    if table.n == 0:
        raise ValueError("table is empty: the split has no images to evaluate")
    if not math.isfinite(fitted_threshold) or fitted_threshold <= 0:
        raise ValueError(f"fitted_threshold must be a positive number, got {fitted_threshold}")
    C = table.n_classes
    names = table.class_names
    groups = ordered_groups(table.groups)
    group_masks = {g: np.array([x == g for x in table.groups]) for g in groups}
    kinds = ordered_kinds(table.blur_kind)
    kind_key = np.array([kinds.index(k) if k in kinds else -1 for k in table.blur_kind], dtype=np.int64)
    kind_key[~table.blurred] = -1
    bucket_key, buckets = strength_buckets(table, kinds)
    bucket_key[~table.blurred] = -1
    y = table.labels.astype(np.int64)
    p = table.predicted.astype(np.int64)
    blurred = table.blurred.astype(bool)
    correct = table.correct.astype(np.float64)
    confidence = table.confidence.astype(np.float64)
    rare = group_masks["rare"][y] if "rare" in group_masks else np.zeros(table.n, bool)
    has_gap = "frequent" in groups and "rare" in groups

    def statistic(idx: np.ndarray) -> dict[str, np.ndarray]:
        b = idx.shape[0]
        conf2 = M.grouped_sums(idx, blurred.astype(np.int64) * C * C + y * C + p, 2 * C * C).reshape(b, 2, C, C)
        conf_sharp, conf_blurred = conf2[:, 0], conf2[:, 1]
        conf = conf_sharp + conf_blurred
        scores = M.per_class_scores(conf)
        recall_blurred = M.per_class_scores(conf_blurred)["recall"]
        recall_sharp = M.per_class_scores(conf_sharp)["recall"]
        out = {
            "top1": M.accuracy(conf),
            "balanced_accuracy": M.nanmean(scores["recall"]),
            "macro_f1": M.macro_f1(conf),
            "recall": scores["recall"],
            "precision": scores["precision"],
            "f1": scores["f1"],
            "recall_blurred": recall_blurred,
            "recall_sharp": recall_sharp,
            "accuracy_blurred": M.accuracy(conf_blurred),
            "accuracy_sharp": M.accuracy(conf_sharp),
            "balanced_blurred": M.nanmean(recall_blurred),
            "balanced_sharp": M.nanmean(recall_sharp),
        }
        out["blur_gap"] = 100.0 * (out["accuracy_sharp"] - out["accuracy_blurred"])
        for metric in ("recall", "precision", "f1", "recall_blurred", "recall_sharp"):
            for g, mean in group_means(out[metric], table.groups).items():
                out[f"group_{metric}/{g}"] = mean
        for g in groups:
            out[f"group_blur_gap/{g}"] = 100.0 * (out[f"group_recall_sharp/{g}"] - out[f"group_recall_blurred/{g}"])
        if has_gap:
            out["rare_gap"] = 100.0 * (out["group_recall/frequent"] - out["group_recall/rare"])
        if kinds:
            n_kind = M.grouped_sums(idx, kind_key, len(kinds))
            out["kind_accuracy"] = M._divide(M.grouped_sums(idx, kind_key, len(kinds), correct), n_kind, np.nan)
        if buckets:
            n_bucket = M.grouped_sums(idx, bucket_key, len(buckets))
            out["bucket_accuracy"] = M._divide(M.grouped_sums(idx, bucket_key, len(buckets), correct), n_bucket, np.nan)
        out["ece"] = M.expected_calibration_error(idx, confidence, correct, n_bins)
        out["overconfidence"] = 100.0 * (confidence[idx].mean(axis=1) - correct[idx].mean(axis=1))
        if rare.any():
            out["ece_rare"] = M.expected_calibration_error(idx, confidence, correct, n_bins, subset=rare)
        return out

    est = bootstrap(statistic, strata=y * 2 + blurred, n_resamples=n_resamples, seed=seed, level=level)

    conf_matrix = M.confusion_matrix(y, p, C)
    per_class: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        entry: dict[str, Any] = {
            "index": i,
            "group": table.groups[i],
            "support": int(conf_matrix[i].sum()),
            "n_blurred": int(np.sum(blurred & (y == i))),
            "n_sharp": int(np.sum(~blurred & (y == i))),
        }
        for metric in ("recall", "precision", "f1", "recall_blurred", "recall_sharp"):
            _put(entry, metric, est[metric], i)
        entry["confused_with"] = _confusions(conf_matrix, i, names)
        per_class[name] = entry

    group_table: dict[str, dict[str, Any]] = {}
    for g, mask in group_masks.items():
        entry = {"classes": [n for n, m in zip(names, mask) if m],
                 "n_images": int(np.isin(y, np.flatnonzero(mask)).sum())}
        for metric in ("recall", "precision", "f1", "recall_blurred", "recall_sharp"):
            _put(entry, metric, est[f"group_{metric}/{g}"])
        _put(entry, "blur_gap_points", est[f"group_blur_gap/{g}"])
        group_table[g] = entry

    overall = {"n_images": table.n}
    for metric in ("top1", "balanced_accuracy", "macro_f1"):
        _put(overall, metric, est[metric])

    gaps: dict[str, Any] = {}
    if has_gap:
        gaps["frequent_minus_rare_recall"] = _gap(est["rare_gap"])
    gaps["sharp_minus_blurred_accuracy"] = _gap(est["blur_gap"])

    blur: dict[str, Any] = {"n_blurred": int(blurred.sum()), "n_sharp": int((~blurred).sum())}
    for metric in ("accuracy_blurred", "accuracy_sharp", "balanced_blurred", "balanced_sharp"):
        _put(blur, metric, est[metric])
    blur["per_kind"] = {}
    for k, kind in enumerate(kinds):
        entry = {"n": int(np.sum(kind_key == k))}
        _put(entry, "accuracy", est["kind_accuracy"], k)
        blur["per_kind"][kind] = entry
    blur["per_strength"] = {kind: [] for kind in kinds}
    for j, info in enumerate(buckets):
        entry = dict(info, n=int(np.sum(bucket_key == j)))
        _put(entry, "accuracy", est["bucket_accuracy"], j)
        blur["per_strength"][info["kind"]].append(entry)
    blur["group_by_blur"] = {
        g: {"blurred": {"recall": group_table[g]["recall_blurred"], "recall_ci": group_table[g]["recall_blurred_ci"]},
            "sharp": {"recall": group_table[g]["recall_sharp"], "recall_ci": group_table[g]["recall_sharp_ci"]}}
        for g in groups
    }

    calibration: dict[str, Any] = {"n_bins": n_bins}
    _put(calibration, "ece", est["ece"])
    _put(calibration, "overconfidence_points", est["overconfidence"])
    if "ece_rare" in est:
        _put(calibration, "ece_rare", est["ece_rare"])
    else:
        calibration["ece_rare"], calibration["ece_rare_ci"] = None, [None, None]

    return {
        "schema": SCHEMA,
        "settings": {"bootstrap_resamples": n_resamples, "bootstrap_seed": seed, "confidence_level": level,
                     "strata": "class x blurred/sharp", "calibration_bins": n_bins},
        "class_names": list(names),
        "groups": {name: g for name, g in zip(names, table.groups)},
        "overall": overall,
        "per_class": per_class,
        "group": group_table,
        "gaps": gaps,
        "rare_confusions": {n: per_class[n]["confused_with"] for n in names if per_class[n]["group"] == "rare"},
        "blur": blur,
        "blur_detection": blur_detection(table, fitted_threshold, default_threshold),
        "calibration": calibration,
        "confusion_matrix": conf_matrix.tolist(),
    }


def blur_detection(table: PredictionTable, fitted_threshold: float, default_threshold: float) -> dict[str, Any]:
    """Laplacian verdict at both thresholds and the learned head, against the manifest truth."""
    truth = table.blurred.astype(bool)
    score = table.laplacian_var.astype(np.float64)
    auc = _clean(M.roc_auc(truth, -score))  # low variance = blurred
    out: dict[str, Any] = {"truth": "manifest blurred column", "rule": "blurred if laplacian_var < threshold"}
    for key, threshold in (("laplacian_default", default_threshold), ("laplacian_fitted", fitted_threshold)):
        scores = M.binary_scores(truth, score < threshold)
        out[key] = {"threshold": float(threshold), **{k: _clean(v) for k, v in scores.items()}, "roc_auc": auc}
    if table.has_learned_blur:
        prob = np.nan_to_num(table.blur_probability, nan=0.0)
        scores = M.binary_scores(truth, prob >= 0.5)
        out["learned_head"] = {"threshold": 0.5, **{k: _clean(v) for k, v in scores.items()},
                               "roc_auc": _clean(M.roc_auc(truth, prob))}
    else:
        out["learned_head"] = None
    return out


def _confusions(conf: np.ndarray, i: int, names: list[str], top: int = 3) -> list[dict[str, Any]]:
    row = conf[i].astype(np.float64).copy()
    support = row.sum()
    row[i] = 0
    order = [j for j in np.argsort(-row, kind="stable")[:top] if row[j] > 0]
    return [{"class": names[j], "count": int(row[j]), "share": float(row[j] / support)} for j in order]


def _clean(value: Any) -> Any:
    """JSON-safe number: NaN/inf become None (strict JSON has no NaN)."""
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _put(entry: dict[str, Any], name: str, estimate: Estimate, i: int | None = None) -> None:
    pick = (lambda a: a) if i is None else (lambda a: a[i])
    entry[name] = _clean(float(pick(estimate.value)))
    entry[f"{name}_ci"] = [_clean(float(pick(estimate.low))), _clean(float(pick(estimate.high)))]


def _gap(estimate: Estimate) -> dict[str, Any]:
    value, low, high = (_clean(float(x)) for x in (estimate.value, estimate.low, estimate.high))
    significant = low is not None and high is not None and (low > 0 or high < 0)
    return {"points": value, "ci_points": [low, high], "significant": bool(significant)}
