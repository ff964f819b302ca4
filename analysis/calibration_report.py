"""The report's calibration section: temperature scaling before and after, overall and per group.

The Predictor's probabilities are already the calibrated ones (softmax(logits / T) with the
checkpoint's T); this section puts them next to the uncalibrated softmax(logits) of the same
images, so the reader sees what the temperature bought: ECE overall and per group (images whose
true class is in the group) and a reliability diagram of each.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from features.groups import ordered_groups  # noqa: E402
from fusion.calibration import N_BINS, expected_calibration_error, reliability_bins, softmax  # noqa: E402
from fusion.class_calibration import calibrated_probabilities  # noqa: E402

ECE_RESAMPLES = 200  # bootstrap resamples of the images for each ECE's 95 % interval


def _ece_interval(probabilities: np.ndarray, labels: np.ndarray, n_bins: int, seed: int = 0) -> list[float] | None:
    """95 % percentile-bootstrap interval of the ECE over resampled images (None for fewer than 2)."""
    if len(labels) < 2:
        return None
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error(probabilities[i], labels[i], n_bins)
             for i in (rng.integers(0, len(labels), len(labels)) for _ in range(ECE_RESAMPLES))]
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]


def _eces(probabilities: np.ndarray, labels: np.ndarray, class_groups: list[str], n_bins: int) -> tuple[dict, dict]:
    """ECE of all images and of each group's images, and their 95 % bootstrap intervals."""
    out: dict[str, float | None] = {"all": expected_calibration_error(probabilities, labels, n_bins)}
    ci: dict[str, list[float] | None] = {"all": _ece_interval(probabilities, labels, n_bins)}
    group_of_image = np.array(class_groups)[labels]
    for group in ordered_groups(class_groups):
        members = group_of_image == group
        out[group] = expected_calibration_error(probabilities[members], labels[members], n_bins) if members.any() else None
        ci[group] = _ece_interval(probabilities[members], labels[members], n_bins) if members.any() else None
    return out, ci


def _bins_json(probabilities: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, list]:
    bins = reliability_bins(probabilities, labels, n_bins)
    clean = lambda a: [None if not np.isfinite(v) else round(float(v), 6) for v in a]  # noqa: E731 (strict JSON)
    return {"edges": clean(bins["edges"]), "count": [int(c) for c in bins["count"]],
            "confidence": clean(bins["confidence"]), "accuracy": clean(bins["accuracy"])}


def temperature_section(logits: np.ndarray, labels: np.ndarray, class_groups: list[str], temperature: float,
                        fitted: dict[str, Any] | None = None, n_bins: int = N_BINS) -> dict[str, Any]:
    """metrics.json["calibration"]["temperature_scaling"]: T (and the per-class temperatures), where
    they were fitted, ECE per group with intervals before (T = 1), with the global T alone, and after
    (as the Predictor applies them), and reliability bins before/after."""
    labels = np.asarray(labels, dtype=np.int64)
    class_temperatures = (fitted or {}).get("class_temperatures")
    before, global_only = softmax(logits), softmax(logits, temperature)
    after = calibrated_probabilities(logits, temperature, class_temperatures)
    (ece_before, ci_before), (ece_global, ci_global), (ece_after, ci_after) = (
        _eces(p, labels, class_groups, n_bins) for p in (before, global_only, after))
    return {
        "temperature": float(temperature),
        "class_temperatures": class_temperatures,
        "fitted_on": (fitted or {}).get("split"),
        "fitted_images": (fitted or {}).get("n_images"),
        "n_bins": n_bins,
        "ece_before": ece_before, "ece_before_ci": ci_before,
        "ece_global": ece_global, "ece_global_ci": ci_global,
        "ece_after": ece_after, "ece_after_ci": ci_after,
        "reliability_before": _bins_json(before, labels, n_bins),
        "reliability_after": _bins_json(after, labels, n_bins),
    }


def before_after_rows(section: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, note) of the before/after table."""
    def pct(key: str, name: str) -> str:
        value, ci = section[key][name], (section.get(f"{key}_ci") or {}).get(name)
        if value is None:
            return "n/a"
        return f"{100 * value:.1f} %" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")

    per_class = bool(section.get("class_temperatures"))
    keys = ["ece_before", "ece_global", "ece_after"] if per_class else ["ece_before", "ece_after"]
    rows = [[name if name == "all" else f"{name} classes", *(pct(key, name) for key in keys)] for name in section["ece_before"]]
    t = section["temperature"]
    if section["fitted_on"]:
        note = (f"Temperature T = {t:.3f} fitted on the {section['fitted_on']} split ({section['fitted_images']} images) "
                "by minimising the negative log-likelihood; probabilities = softmax(logits / T). ")
    else:
        note = f"This checkpoint was never calibrated (T = {t:g}); `blurfuse calibrate --model RUN --data DIR` fits T. "
    if per_class:
        note += ("Then each predicted class gets its own temperature, fitted on the same held-out images and "
                 "shrunk toward T in proportion to how few of them the class has (fusion/class_calibration.py). ")
    note += (f"ECE over {section['n_bins']} equal-width bins of the top-1 probability, with 95 % bootstrap intervals "
             "over images; a group = images whose true class is in it.")
    header = ["images", "ECE before (T = 1)", f"ECE, global T = {t:.3f}"] + (["ECE after (per-class T)"] if per_class else [])
    return header, rows, note


def reliability_figure(section: dict[str, Any]) -> Figure:
    """Two reliability diagrams side by side: accuracy per confidence bin against the diagonal."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.0), sharey=True)
    panels = (("reliability_before", "ece_before", "before (T = 1)"),
              ("reliability_after", "ece_after", f"after (T = {section['temperature']:.3f})"))
    for ax, (key, ece_key, title) in zip(axes, panels):
        bins = section[key]
        edges = np.array(bins["edges"], dtype=float)
        width = np.diff(edges)
        accuracy = np.array([np.nan if a is None else a for a in bins["accuracy"]], dtype=float)
        confidence = np.array([np.nan if c is None else c for c in bins["confidence"]], dtype=float)
        ax.bar(edges[:-1], np.nan_to_num(accuracy), width, align="edge", color="#4c72b0", edgecolor="white", label="accuracy")
        ax.bar(edges[:-1], np.nan_to_num(confidence - accuracy), width, bottom=np.nan_to_num(accuracy), align="edge",
               color="#c44e52", alpha=0.35, label="gap to confidence")
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("top-1 probability (confidence)")
        ax.set_title(f"{title}: ECE {100 * section[ece_key]['all']:.1f} %", fontsize=10)
    axes[0].set_ylabel("accuracy in the bin")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
