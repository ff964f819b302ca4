"""`blurfuse report`: evaluate a checkpoint on a split and write the report directory.

RUN/report/
    index.html      self-contained page (inline CSS, figures as base64 PNG, no JavaScript)
    report.md       the same tables and summary, figures linked from figures/
    metrics.json    every number (layout: docs/ARCHITECTURE.md, section analysis/)
    predictions.csv one row per image
    figures/*.png   the figures, also embedded in index.html

The directory appears only when complete (features.atomic.atomic_directory).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np

from analysis import plots
from analysis.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED
from analysis.calibration_report import reliability_figure, temperature_section
from analysis.evaluate import Evaluation, evaluate_split
from analysis.measure import compute_metrics
from analysis.render import FigureRef, build_tables, render_html, render_markdown
from analysis.blur_families import SUITES
from analysis.held_out_blur import HELD_OUT_KEYS, HELD_OUT_TITLES, held_out_figure, held_out_sweep
from analysis.robustness import robustness_figure
from analysis.summary import summarize
from analysis.ood_report import ood_figure, ood_section
from analysis.table import write_predictions_csv
from features import DEFAULT_BLUR_THRESHOLD
from features.atomic import atomic_directory, atomic_write_bytes, atomic_write_json, atomic_write_text
from fusion.defaults import DEFAULT_BATCH_SIZE

GALLERY_SIZE = 12

SECTIONS = [
    ("Overall", ["overall-table"]),
    ("Frequent vs rare", ["group-table", "rare-confusions", "fig-class-counts", "fig-per-class-recall",
                          "fig-confusion-matrix", "fig-rare-gallery"]),
    ("Blurred vs sharp", ["blur-overall-table", "blur-table", "fig-group-blur-heatmap", "blur-kind-table",
                          "blur-strength-table"]),
    ("Per class", ["per-class-table"]),
    ("Blur detection", ["detection-table", "fig-laplacian-histogram", "fig-roc-curves"]),
    ("Calibration", ["calibration-table", "calibration-before-after", "fig-reliability"]),
    ("Blur beyond training", ["robustness-table", "fig-robustness"]),
    ("Unfamiliar images", ["ood-table", "fig-ood"]),
    ("Blur training never used", [name for key in HELD_OUT_KEYS.values()  # every suite: its table, then its plot
                                  for name in (f"{key.replace('_', '-')}-table", f"fig-{key.replace('_', '-')}")]),
]


def default_report_dir(model: str | os.PathLike) -> Path:
    """RUN/report for a run dir (or for RUN/model.json)."""
    model = Path(model)
    run = model.parent if model.suffix == ".json" else model
    return run / "report"


def make_report(
    model: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "test",
    out: str | os.PathLike | None = None,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    robustness_images: int = 0,
    held_out_blur_images: int = 0,
) -> Path:
    """Evaluate the checkpoint at `model` on `split` of dataset `data`; returns the path of index.html.

    `robustness_images` > 0 adds the blur-beyond-training sweep on that many sharp images of the split;
    `held_out_blur_images` > 0 the held-out blur families (accuracy and warnings, analysis.held_out_blur).
    """
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    out = Path(out) if out is not None else default_report_dir(model)
    if out.exists() and not force:  # fail before minutes of predictions, not after
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    dataset = read_dataset(data)
    predictor = Predictor.from_checkpoint(model)
    check_not_calibrated_on(predictor.config.calibration, split)
    evaluation = evaluate_split(predictor, dataset, split=split, batch_size=batch_size, progress=progress)
    robustness = None
    if robustness_images:
        from analysis.robustness import robustness_sweep

        robustness = robustness_sweep(predictor, dataset, split, robustness_images, batch_size=batch_size, progress=progress)
    held_out = None
    if held_out_blur_images:
        held_out = {suite: held_out_sweep(predictor, dataset, split, held_out_blur_images, batch_size=batch_size,
                                          progress=progress, suite=suite) for suite in SUITES}
    ood = ood_section(predictor, evaluation.ood_scores, split, batch_size=batch_size)
    cfg = predictor.config
    fitted = evaluation.blur_threshold  # the checkpoint's fitted threshold, as the Predictor applied it
    provenance = {
        "model": str(Path(model).resolve()),
        "data": str(Path(data).resolve()),
        "split": split,
        "model_version": getattr(cfg, "version", None),
        "backbone": getattr(cfg, "backbone", None),
        "branches": list(getattr(cfg, "branches", []) or []),
        "input_size": getattr(cfg, "input_size", None),
        "recipe": getattr(cfg, "recipe", None) or {},
    }
    return write_report(evaluation, out, card=dataset.card, fitted_threshold=fitted, provenance=provenance,
                        force=force, n_resamples=n_resamples, seed=seed, train_counts=dataset.train_counts(),
                        robustness=robustness, ood=ood, held_out_blur=held_out)


def write_report(
    evaluation: Evaluation,
    out: str | os.PathLike,
    card: dict[str, Any],
    fitted_threshold: float,
    provenance: dict[str, Any],
    force: bool = False,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    train_counts: list[int] | None = None,
    default_threshold: float = DEFAULT_BLUR_THRESHOLD,
    robustness: dict[str, Any] | None = None,
    ood: dict[str, Any] | None = None,
    held_out_blur: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Compute metrics, draw the figures and write the report directory atomically."""
    table = evaluation.table
    split = provenance.get("split", "test")
    metrics = compute_metrics(table, fitted_threshold, default_threshold, n_resamples=n_resamples, seed=seed)
    add_optional_sections(metrics, evaluation, robustness, ood)
    for suite, section in (held_out_blur or {}).items():  # suite -> section (analysis.held_out_blur)
        metrics[HELD_OUT_KEYS[suite]] = section
    metrics["summary"] = summarize(metrics, split)
    metrics["run"] = dict(provenance, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                          blur_threshold_fitted=fitted_threshold, blur_threshold_default=default_threshold)
    before, after = card_counts(card, table.class_names)
    if after is None and train_counts is not None:
        after = list(train_counts)
    refs = draw_figures(evaluation, metrics, (before, after), default_threshold, fitted_threshold)
    metrics["figures"] = {ref.id.removeprefix("fig-"): ref.filename for ref in refs}

    tables = build_tables(metrics)
    title = f"blurfuse report — {Path(provenance.get('model', 'model')).name} on {split}"
    meta = [
        f"Model: {provenance.get('model')} (version {provenance.get('model_version')}, backbone "
        f"{provenance.get('backbone')}, branches {'+'.join(provenance.get('branches') or [])}, "
        f"input {provenance.get('input_size')} px)",
        f"Data: {provenance.get('data')}, split {split}, {table.n} images. Blur thresholds: default "
        f"{default_threshold:g}, fitted {fitted_threshold:.4g}.",
        f"Intervals: 95 % percentile bootstrap, {n_resamples} resamples of images within class × blurred/sharp, "
        f"seed {seed}. Rates in %, gaps in percentage points (pts). Generated {metrics['run']['created']}.",
    ]
    out = Path(out)
    with atomic_directory(out, force=force) as tmp:
        for ref in refs:
            atomic_write_bytes(tmp / ref.filename, ref.png)
        write_predictions_csv(table, tmp / "predictions.csv")
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_text(tmp / "report.md", render_markdown(title, meta, metrics["summary"], tables, refs, SECTIONS))
        atomic_write_text(tmp / "index.html", render_html(title, meta, metrics["summary"], tables, refs, SECTIONS))
        _make_readable(tmp)
    return out / "index.html"


def draw_figures(evaluation: Evaluation, metrics: dict[str, Any], counts: tuple[list[int] | None, list[int] | None],
                 default_threshold: float, fitted_threshold: float) -> list[FigureRef]:
    """Every figure of the report as PNG bytes, with its id, title and caption."""
    table = evaluation.table
    figures = [
        ("fig-class-counts", "class_counts", "Class counts before and after the skew",
         "Training images per class from the data card (log scale); bar colour = group.",
         plots.class_counts(table.class_names, table.groups, *counts)),
        ("fig-per-class-recall", "per_class_recall", "Per-class recall, blurred vs sharp",
         "Bars: recall on blurred and on sharp test images; whiskers: 95 % bootstrap intervals; label colour = group.",
         plots.per_class_recall(metrics)),
        ("fig-group-blur-heatmap", "group_blur_heatmap", "Group × blur",
         "Mean recall of each group's classes on sharp and on blurred images, with 95 % intervals.",
         plots.group_blur_heatmap(metrics)),
        ("fig-confusion-matrix", "confusion_matrix", "Normalised confusion matrix",
         "Each row: where the images of one true class went (% of the row).", plots.confusion(metrics)),
        ("fig-laplacian-histogram", "laplacian_histogram", "Laplacian variance of blurred and sharp images",
         "Blur score by manifest truth (log x) with the default and the fitted threshold; below a threshold = called blurred.",
         plots.laplacian_histogram(table, default_threshold, fitted_threshold)),
        ("fig-roc-curves", "roc_curves", "ROC curves of the blur detectors",
         "Laplacian-variance score and learned blur head against the manifest truth; points = the two thresholds.",
         plots.roc_curves(table, default_threshold, fitted_threshold)),
        ("fig-rare-gallery", "rare_gallery", "Misclassified rare-class images",
         "The most confident mistakes on rare classes: image, the edge map the model saw, and what it was taken for.",
         plots.misclassified_gallery(rare_gallery_items(evaluation))),
    ]
    figures += optional_figures(metrics)
    return [FigureRef(fid, title, caption, f"figures/{name}.png", plots.png_bytes(fig))
            for fid, name, title, caption, fig in figures]


def check_not_calibrated_on(calibration: dict | None, split: str) -> None:
    """Refuse to score the split the probabilities were calibrated on: its ECE would grade the
    temperatures on the very images they were fitted to."""
    fitted_on = (calibration or {}).get("split")
    if fitted_on == split:
        raise ValueError(f"this model's probabilities were calibrated on the {split} split; a report on it would grade "
                         f"the calibration on its own fitting data. Score another split, or refit on val "
                         f"(blurfuse calibrate --split val)")


def add_optional_sections(metrics: dict[str, Any], evaluation: Evaluation, robustness: dict[str, Any] | None,
                          ood: dict[str, Any] | None = None) -> None:
    """Temperature scaling before/after (when the predictions carry logits), the robustness sweep
    (when run) and the unfamiliar-image measurement (when the checkpoint has an OOD score)."""
    if evaluation.logits is not None:
        metrics["calibration"]["temperature_scaling"] = temperature_section(
            evaluation.logits, evaluation.table.labels, evaluation.table.groups, evaluation.temperature,
            evaluation.calibration)
    if robustness is not None:
        metrics["robustness"] = robustness
    if ood is not None:
        metrics["ood"] = ood


def optional_figures(metrics: dict[str, Any]) -> list[tuple]:
    """The reliability diagrams and the robustness plot, when their sections exist."""
    figures = []
    scaling = metrics["calibration"].get("temperature_scaling")
    if scaling is not None:
        figures.append(("fig-reliability", "reliability", "Reliability before and after temperature scaling",
                        "Accuracy of the images in each bin of the top-1 probability; on the diagonal = calibrated.",
                        reliability_figure(scaling)))
    if "robustness" in metrics:
        figures.append(("fig-robustness", "robustness", "Accuracy under blur beyond training",
                        "Sharp images re-blurred at each strength; solid = training kinds beyond their ranges, "
                        "dashed = kinds training never used.", robustness_figure(metrics["robustness"])))
    if "ood" in metrics:
        figures.append(("fig-ood", "ood", "Out-of-distribution score: familiar and unfamiliar images",
                        "Score of each image of the split and of each unfamiliar set; right of the dashed line "
                        "the page warns.", ood_figure(metrics["ood"])))
    for suite, key in HELD_OUT_KEYS.items():
        if key in metrics:
            figures.append((f"fig-{key.replace('_', '-')}", key, HELD_OUT_TITLES[suite] + ": accuracy and warnings",
                            "Sharp images re-blurred by each held-out family (solid) and by trained families past their "
                            "range (dashed), level 0 = sharp.", held_out_figure(metrics[key])))
    return figures


def _make_readable(root: Path) -> None:
    """Temp files are created private (0600); a report is meant to be opened and shared, so use the umask."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def rare_gallery_items(evaluation: Evaluation, limit: int = GALLERY_SIZE) -> list[dict[str, Any]]:
    """The most confident mistakes on rare-class images (most instructive first)."""
    table = evaluation.table
    rare = np.array([table.groups[y] == "rare" for y in table.labels], dtype=bool)
    wrong = np.flatnonzero(rare & ~table.correct)
    order = wrong[np.argsort(-table.confidence[wrong], kind="stable")][:limit]
    return [{
        "image": evaluation.images[i],
        "edge_map": evaluation.edge_maps[i],
        "true": table.class_names[table.labels[i]],
        "predicted": table.class_names[table.predicted[i]],
        "confidence": float(table.confidence[i]),
        "blurred": bool(table.blurred[i]),
        "blur_kind": str(table.blur_kind[i]),
        "edge_path": table.edge_path[i] if table.edge_path else "",
    } for i in order]


def card_counts(card: dict[str, Any], class_names: list[str], split: str = "train"
                ) -> tuple[list[int] | None, list[int] | None]:
    """Per-class training counts before/after the skew from the data card (None when absent).

    Accepts counts keyed by split or not, as {class_name: n} or a list in class order.
    """
    def pick(obj: Any) -> list[int] | None:
        if isinstance(obj, dict) and split in obj:
            obj = obj[split]
        if isinstance(obj, dict) and all(n in obj for n in class_names):
            return [int(obj[n]) for n in class_names]
        if isinstance(obj, dict) and all(str(i) in obj for i in range(len(class_names))):
            return [int(obj[str(i)]) for i in range(len(class_names))]
        if isinstance(obj, (list, tuple)) and len(obj) == len(class_names):
            return [int(x) for x in obj]
        return None

    return pick(card.get("counts_before")), pick(card.get("counts_after"))
