"""Every number of the report, computed from a PredictionTable in one bootstrap pass.

`compute_metrics` returns the metrics.json dictionary (layout documented in docs/ARCHITECTURE.md,
section analysis/). All rates are fractions in [0, 1]; gaps are in percentage points. Each rate
`m` comes with `m_ci` = [low, high], the 95 % percentile-bootstrap interval over images resampled
within class x blurred/sharp strata. Undefined values (an empty cell) are null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import metrics as M
from analysis.bootstrap import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Estimate, bootstrap
from analysis.table import PredictionTable
from features import DEFAULT_BLUR_THRESHOLD
from features.groups import group_means, ordered_groups

KIND_ORDER = ("gaussian", "motion", "defocus")
N_CALIBRATION_BINS = 15
N_STRENGTH_BUCKETS = 3
SCHEMA = "blurfuse.metrics/1"
PER_CLASS_RATES = ("recall", "precision", "f1", "recall_blurred", "recall_sharp")


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


@dataclass(frozen=True)
class _Sample:
    """The table's arrays and keys that every resample reads, computed once before the bootstrap."""

    n_classes: int
    class_groups: list[str]  # group of each class, in class order
    groups: list[str]  # distinct groups, head to tail
    labels: np.ndarray
    predicted: np.ndarray
    blurred: np.ndarray
    correct: np.ndarray
    confidence: np.ndarray
    rare: np.ndarray  # per image: its class is rare
    kinds: list[str]
    kind_key: np.ndarray  # per image: index into kinds, -1 for sharp
    buckets: list[dict[str, Any]]
    bucket_key: np.ndarray  # per image: index into buckets, -1 for sharp

    @property
    def has_gap(self) -> bool:
        return "frequent" in self.groups and "rare" in self.groups


def compute_metrics(
    table: PredictionTable,
    fitted_threshold: float,
    default_threshold: float = DEFAULT_BLUR_THRESHOLD,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    n_bins: int = N_CALIBRATION_BINS,
) -> dict[str, Any]:
    """The metrics.json dictionary (without run/data provenance, which the report adds).

    Steps: check the inputs, lay the table out once, run every resampled figure in one bootstrap
    pass, then arrange the estimates into the report's sections.
    """
    if table.n == 0:
        raise ValueError("table is empty: the split has no images to evaluate")
    if not math.isfinite(fitted_threshold) or fitted_threshold <= 0:
        raise ValueError(f"fitted_threshold must be a positive number, got {fitted_threshold}")
    sample = _layout(table)
    est = bootstrap(lambda idx: _statistic(sample, idx, n_bins), strata=sample.labels * 2 + sample.blurred,
                    n_resamples=n_resamples, seed=seed, level=level)
    conf_matrix = M.confusion_matrix(sample.labels, sample.predicted, sample.n_classes)
    names = table.class_names
    per_class = _per_class_section(sample, est, conf_matrix, names)
    group_table = _group_section(sample, est, names)
    return {
        "schema": SCHEMA,
        "settings": {"bootstrap_resamples": n_resamples, "bootstrap_seed": seed, "confidence_level": level,
                     "strata": "class x blurred/sharp", "calibration_bins": n_bins},
        "class_names": list(names),
        "groups": {name: g for name, g in zip(names, table.groups)},
        "overall": _overall_section(table.n, est),
        "per_class": per_class,
        "group": group_table,
        "gaps": _gaps_section(sample, est),
        "rare_confusions": {n: per_class[n]["confused_with"] for n in names if per_class[n]["group"] == "rare"},
        "blur": _blur_section(sample, est, group_table),
        "blur_detection": blur_detection(table, fitted_threshold, default_threshold),
        "calibration": _calibration_section(est, n_bins),
        "confusion_matrix": conf_matrix.tolist(),
    }


def _layout(table: PredictionTable) -> _Sample:
    """Integer keys for classes, blur kinds and strength buckets (-1 = left out, e.g. sharp images)."""
    kinds = ordered_kinds(table.blur_kind)
    kind_key = np.array([kinds.index(k) if k in kinds else -1 for k in table.blur_kind], dtype=np.int64)
    kind_key[~table.blurred] = -1
    bucket_key, buckets = strength_buckets(table, kinds)
    bucket_key[~table.blurred] = -1
    labels = table.labels.astype(np.int64)
    rare_classes = np.array([g == "rare" for g in table.groups], dtype=bool)
    return _Sample(
        n_classes=table.n_classes, class_groups=list(table.groups), groups=ordered_groups(table.groups),
        labels=labels, predicted=table.predicted.astype(np.int64), blurred=table.blurred.astype(bool),
        correct=table.correct.astype(np.float64), confidence=table.confidence.astype(np.float64),
        rare=rare_classes[labels], kinds=kinds, kind_key=kind_key, buckets=buckets, bucket_key=bucket_key,
    )


def _statistic(s: _Sample, idx: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
    """Every resampled figure for the (b, N) index matrix `idx`: one value (or row) per resample."""
    out = _class_figures(s, idx)
    if s.kinds:
        out["kind_accuracy"] = _accuracy_by_key(s, idx, s.kind_key, len(s.kinds))
    if s.buckets:
        out["bucket_accuracy"] = _accuracy_by_key(s, idx, s.bucket_key, len(s.buckets))
    out["ece"] = M.expected_calibration_error(idx, s.confidence, s.correct, n_bins)
    out["overconfidence"] = 100.0 * (s.confidence[idx].mean(axis=1) - s.correct[idx].mean(axis=1))
    if s.rare.any():
        out["ece_rare"] = M.expected_calibration_error(idx, s.confidence, s.correct, n_bins, subset=s.rare)
    return out


def _class_figures(s: _Sample, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class and per-group scores, overall and split by blurred/sharp, from one confusion count."""
    c = s.n_classes
    key = s.blurred.astype(np.int64) * c * c + s.labels * c + s.predicted
    conf2 = M.grouped_sums(idx, key, 2 * c * c).reshape(idx.shape[0], 2, c, c)
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
    for metric in PER_CLASS_RATES:
        for g, mean in group_means(out[metric], s.class_groups).items():
            out[f"group_{metric}/{g}"] = mean
    for g in s.groups:
        out[f"group_blur_gap/{g}"] = 100.0 * (out[f"group_recall_sharp/{g}"] - out[f"group_recall_blurred/{g}"])
    if s.has_gap:
        out["rare_gap"] = 100.0 * (out["group_recall/frequent"] - out["group_recall/rare"])
    return out


def _accuracy_by_key(s: _Sample, idx: np.ndarray, key: np.ndarray, n_keys: int) -> np.ndarray:
    """(b, n_keys) accuracy of the images in each key (blur kind or strength bucket)."""
    n = M.grouped_sums(idx, key, n_keys)
    return M._divide(M.grouped_sums(idx, key, n_keys, s.correct), n, np.nan)


def _per_class_section(s: _Sample, est: dict[str, Estimate], conf_matrix: np.ndarray,
                       names: list[str]) -> dict[str, dict[str, Any]]:
    per_class: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        entry: dict[str, Any] = {
            "index": i,
            "group": s.class_groups[i],
            "support": int(conf_matrix[i].sum()),
            "n_blurred": int(np.sum(s.blurred & (s.labels == i))),
            "n_sharp": int(np.sum(~s.blurred & (s.labels == i))),
        }
        for metric in PER_CLASS_RATES:
            _put(entry, metric, est[metric], i)
        entry["confused_with"] = _confusions(conf_matrix, i, names)
        per_class[name] = entry
    return per_class


def _group_section(s: _Sample, est: dict[str, Estimate], names: list[str]) -> dict[str, dict[str, Any]]:
    group_table: dict[str, dict[str, Any]] = {}
    for g in s.groups:
        members = [i for i, x in enumerate(s.class_groups) if x == g]
        entry: dict[str, Any] = {"classes": [names[i] for i in members], "n_images": int(np.isin(s.labels, members).sum())}
        for metric in PER_CLASS_RATES:
            _put(entry, metric, est[f"group_{metric}/{g}"])
        _put(entry, "blur_gap_points", est[f"group_blur_gap/{g}"])
        group_table[g] = entry
    return group_table


def _overall_section(n_images: int, est: dict[str, Estimate]) -> dict[str, Any]:
    overall: dict[str, Any] = {"n_images": n_images}
    for metric in ("top1", "balanced_accuracy", "macro_f1"):
        _put(overall, metric, est[metric])
    return overall


def _gaps_section(s: _Sample, est: dict[str, Estimate]) -> dict[str, Any]:
    gaps: dict[str, Any] = {}
    if s.has_gap:
        gaps["frequent_minus_rare_recall"] = _gap(est["rare_gap"])
    gaps["sharp_minus_blurred_accuracy"] = _gap(est["blur_gap"])
    return gaps


def _blur_section(s: _Sample, est: dict[str, Estimate], group_table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Blurred vs sharp overall, by blur kind, by strength bucket, and by group."""
    blur: dict[str, Any] = {"n_blurred": int(s.blurred.sum()), "n_sharp": int((~s.blurred).sum())}
    for metric in ("accuracy_blurred", "accuracy_sharp", "balanced_blurred", "balanced_sharp"):
        _put(blur, metric, est[metric])
    blur["per_kind"] = {}
    for k, kind in enumerate(s.kinds):
        entry: dict[str, Any] = {"n": int(np.sum(s.kind_key == k))}
        _put(entry, "accuracy", est["kind_accuracy"], k)
        blur["per_kind"][kind] = entry
    blur["per_strength"] = {kind: [] for kind in s.kinds}
    for j, info in enumerate(s.buckets):
        entry = dict(info, n=int(np.sum(s.bucket_key == j)))
        _put(entry, "accuracy", est["bucket_accuracy"], j)
        blur["per_strength"][info["kind"]].append(entry)
    blur["group_by_blur"] = {
        g: {"blurred": {"recall": group_table[g]["recall_blurred"], "recall_ci": group_table[g]["recall_blurred_ci"]},
            "sharp": {"recall": group_table[g]["recall_sharp"], "recall_ci": group_table[g]["recall_sharp_ci"]}}
        for g in s.groups
    }
    return blur


def _calibration_section(est: dict[str, Estimate], n_bins: int) -> dict[str, Any]:
    calibration: dict[str, Any] = {"n_bins": n_bins}
    _put(calibration, "ece", est["ece"])
    _put(calibration, "overconfidence_points", est["overconfidence"])
    if "ece_rare" in est:
        _put(calibration, "ece_rare", est["ece_rare"])
    else:
        calibration["ece_rare"], calibration["ece_rare_ci"] = None, [None, None]
    return calibration


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
