"""The report's figures (matplotlib, Agg). Each function returns a Figure; `png_bytes` renders it.

Figures read only the metrics dictionary, the prediction table and the data card, so they show
exactly the numbers the tables print.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis import metrics as M  # noqa: E402
from analysis.table import PredictionTable  # noqa: E402
from features.groups import GROUP_COLOURS, ordered_groups  # noqa: E402

BLURRED_COLOR, SHARP_COLOR = "#8172b3", "#55a868"
DPI = 110


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _group_color(group: str) -> str:
    return GROUP_COLOURS.get(group, "#777777")


def _mark_groups(ax: plt.Axes, groups: Sequence[str]) -> None:
    """Colour tick labels by group and add a legend, so the long tail is visible on every bar plot."""
    for tick, group in zip(ax.get_xticklabels(), groups):
        tick.set_color(_group_color(group))
    handles = [plt.Line2D([], [], marker="s", linestyle="", color=_group_color(g), label=g)
               for g in ordered_groups(list(groups))]
    ax.add_artist(ax.legend(handles=handles, title="group (label colour)", loc="lower left", fontsize=8))


def class_counts(class_names: list[str], groups: list[str], before: list[int] | None, after: list[int] | None) -> Figure:
    """Training images per class before and after the long-tail skew (log scale)."""
    fig, ax = plt.subplots(figsize=(9.5, 3.8))
    x = np.arange(len(class_names))
    both = before is not None and after is not None
    width = 0.4 if both else 0.8
    shown = [v for v in (before or []) + (after or []) if v > 0]
    if before is not None:
        ax.bar(x - (width / 2 if both else 0), before, width, color="#cccccc", edgecolor="#999999", label="before skew")
    if after is not None:
        xs = x + (width / 2 if both else 0)
        ax.bar(xs, after, width, color=[_group_color(g) for g in groups], label="after skew (colour = group)")
        for xi, value in zip(xs, after):
            ax.text(xi, value * 1.08, str(value), ha="center", va="bottom", fontsize=7)
    if not shown:
        ax.text(0.5, 0.5, "the data card has no class counts", ha="center", transform=ax.transAxes)
    else:
        ax.set_yscale("log")
        ax.set_ylim(max(0.5, min(shown) / 3), max(shown) * 3)
    ax.set_xticks(x, class_names, rotation=30, ha="right")
    ax.set_ylabel("training images (log)")
    ax.set_title("Class counts before and after the skew (training split)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=_group_color(g), label=f"after skew: {g}") for g in ordered_groups(list(groups))]
    if before is not None:
        handles.insert(0, plt.Rectangle((0, 0), 1, 1, facecolor="#cccccc", edgecolor="#999999", label="before skew"))
    for tick, group in zip(ax.get_xticklabels(), groups):
        tick.set_color(_group_color(group))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def per_class_recall(metrics: dict[str, Any]) -> Figure:
    """Recall of each class on blurred and on sharp images side by side, with 95 % intervals."""
    names = metrics["class_names"]
    per_class = metrics["per_class"]
    groups = [per_class[n]["group"] for n in names]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.arange(len(names))
    for offset, key, color, label in ((-0.2, "recall_blurred", BLURRED_COLOR, "blurred"),
                                      (0.2, "recall_sharp", SHARP_COLOR, "sharp")):
        values = np.array([_nan(per_class[n][key]) for n in names]) * 100
        ci = np.array([[_nan(v) for v in per_class[n][f"{key}_ci"]] for n in names]) * 100
        err = np.abs(np.stack([values - ci[:, 0], ci[:, 1] - values]))
        ax.bar(x + offset, np.nan_to_num(values), 0.4, color=color, label=label,
               yerr=np.nan_to_num(err), capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("recall (%)")
    ax.set_title("Per-class recall, blurred vs sharp (95 % bootstrap intervals)")
    _mark_groups(ax, groups)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def group_blur_heatmap(metrics: dict[str, Any]) -> Figure:
    """Group x blurred/sharp mean recall: where the long tail and blur compound."""
    table = metrics["blur"]["group_by_blur"]
    groups = list(table)
    cols = ("sharp", "blurred")
    values = np.array([[_nan(table[g][c]["recall"]) * 100 for c in cols] for g in groups])
    fig, ax = plt.subplots(figsize=(4.6, 0.8 + 0.8 * len(groups)))
    image = ax.imshow(values, cmap="RdYlGn", vmin=max(0.0, np.nanmin(values) - 5) if np.isfinite(values).any() else 0,
                      vmax=100, aspect="auto")
    for i, g in enumerate(groups):
        for j, c in enumerate(cols):
            lo, hi = table[g][c]["recall_ci"]
            text = "n/a" if not np.isfinite(values[i, j]) else f"{values[i, j]:.1f} %\n[{_nan(lo)*100:.1f}, {_nan(hi)*100:.1f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(groups)), groups)
    ax.set_title("Mean recall by group and blur")
    fig.colorbar(image, ax=ax, label="recall (%)")
    return fig


def confusion(metrics: dict[str, Any]) -> Figure:
    """Row-normalised confusion matrix: each row shows where a class's images went."""
    names = metrics["class_names"]
    conf = np.asarray(metrics["confusion_matrix"], dtype=np.float64)
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
    size = max(4.5, 0.55 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(norm * 100, cmap="Blues", vmin=0, vmax=100)
    for i in range(len(names)):
        for j in range(len(names)):
            if norm[i, j] >= 0.005:
                ax.text(j, i, f"{norm[i, j] * 100:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for tick, name in zip(ax.get_yticklabels(), names):
        tick.set_color(_group_color(metrics["per_class"][name]["group"]))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (label colour = group)")
    ax.set_title("Confusion matrix (% of each true class)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


def laplacian_histogram(table: PredictionTable, default_threshold: float, fitted_threshold: float) -> Figure:
    """Laplacian variance of truly blurred vs sharp images (log x), with both thresholds."""
    values = np.clip(table.laplacian_var.astype(np.float64), 1e-2, None)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    low, high = np.log10(values.min()), np.log10(values.max())
    bins = np.logspace(min(low, np.log10(min(default_threshold, fitted_threshold))) - 0.05,
                       max(high, np.log10(max(default_threshold, fitted_threshold))) + 0.05, 50)
    for mask, color, label in ((~table.blurred, SHARP_COLOR, "sharp (truth)"), (table.blurred, BLURRED_COLOR, "blurred (truth)")):
        if mask.any():
            ax.hist(values[mask], bins=bins, color=color, alpha=0.6, label=f"{label}, n={int(mask.sum())}")
    ax.axvline(default_threshold, color="black", linestyle="--", label=f"default threshold {default_threshold:g}")
    ax.axvline(fitted_threshold, color="#c44e52", linestyle="-", label=f"fitted threshold {fitted_threshold:.1f}")
    ax.set_xscale("log")
    ax.set_xlabel("variance of the Laplacian (log scale)")
    ax.set_ylabel("images")
    ax.set_title("Blur score of blurred and sharp images")
    ax.legend(fontsize=8)
    return fig


def roc_curves(table: PredictionTable, default_threshold: float, fitted_threshold: float) -> Figure:
    """ROC of the Laplacian score and the learned head, with the two thresholds as points."""
    truth = table.blurred.astype(bool)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", label="chance")
    if truth.any() and (~truth).any():
        score = -table.laplacian_var.astype(np.float64)
        fpr, tpr, _ = M.roc_curve(truth, score)
        ax.plot(fpr, tpr, color="#4c72b0", label=f"Laplacian variance (AUC {M.roc_auc(truth, score):.3f})")
        for threshold, marker, label in ((default_threshold, "o", "default"), (fitted_threshold, "s", "fitted")):
            verdict = table.laplacian_var < threshold
            ax.plot(np.mean(verdict[~truth]), np.mean(verdict[truth]), marker=marker, color="black", linestyle="",
                    label=f"{label} threshold {threshold:.4g}")
        if table.has_learned_blur:
            prob = np.nan_to_num(table.blur_probability, nan=0.0)
            fpr, tpr, _ = M.roc_curve(truth, prob)
            ax.plot(fpr, tpr, color="#c44e52", label=f"learned blur head (AUC {M.roc_auc(truth, prob):.3f})")
    else:
        ax.text(0.5, 0.5, "needs blurred and sharp images", ha="center")
    ax.set_xlabel("false positive rate (sharp called blurred)")
    ax.set_ylabel("true positive rate (blurred detected)")
    ax.set_title("Blur detectors against the manifest truth")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    return fig


def misclassified_gallery(items: list[dict[str, Any]], columns: int = 4) -> Figure:
    """Misclassified rare-class images, each beside its edge map and what it was taken for.

    items: dicts with image (H,W,3) uint8, edge_map (S,S) uint8, true, predicted, confidence,
    blurred (bool), blur_kind, edge_path.
    """
    if not items:
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "No misclassified rare-class images in this split.", ha="center", va="center")
        return fig
    columns = min(columns, len(items))
    rows = int(np.ceil(len(items) / columns))
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(2.3 * columns * 1.1, 1.55 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, item in enumerate(items):
        r, c = divmod(k, columns)
        ax_img, ax_edge = axes[r, 2 * c], axes[r, 2 * c + 1]
        ax_img.imshow(item["image"], interpolation="nearest")
        ax_edge.imshow(item["edge_map"], cmap="gray", interpolation="nearest")
        blur = f"blurred ({item['blur_kind']})" if item["blurred"] else "sharp"
        ax_img.set_title(f"{item['true']} → {item['predicted']}\n{item['confidence'] * 100:.0f} %, {blur}", fontsize=7,
                         loc="left")
        ax_edge.set_title(f"edges: {item['edge_path']}", fontsize=6)
    fig.suptitle("Misclassified rare-class images (image | edge map; true → predicted)", fontsize=9)
    fig.tight_layout()
    return fig


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
