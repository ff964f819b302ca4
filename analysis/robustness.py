"""Blur robustness beyond training: re-blur sharp images harder than training ever did, or with
kernels it never used, and measure accuracy per kind and strength next to the clean figure.

Training blurs with Gaussian sigma 1-2, motion length 3-7 px and defocus radius 1-2 px. A model
that only learned *those* would fall apart just outside them; a model that learned to see through
blur degrades gracefully. So the sweep starts from the split's SHARP images (a fixed, seeded
subset), applies each condition to all of them through `features.kernels.degrade`, and predicts
through the Predictor — the same path as the web app.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tqdm import tqdm  # noqa: E402

from features.groups import per_class_recall  # noqa: E402
from features.kernels import BLUR_KINDS, degrade  # noqa: E402
from fusion.defaults import DEFAULT_BATCH_SIZE

# (kind, strengths): beyond the training ranges for the training kinds, and two kinds never trained on.
CONDITIONS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("gaussian", (2.5, 3.0, 4.0)),  # sigma, px (training: 1-2)
    ("motion", (9, 11, 15)),        # line length, px (training: 3-7)
    ("defocus", (2.5, 3.0, 4.0)),   # disk radius, px (training: 1-2)
    ("box", (3, 5, 7)),             # flat average, size px (never trained on)
    ("resize", (2.0, 3.0, 4.0)),    # shrink by the factor and enlarge back (never trained on)
)
UNITS = {"gaussian": "σ {:g}", "motion": "length {:g} px", "defocus": "radius {:g} px", "box": "{:g}×{:g} px",
         "resize": "×1/{:g} and back"}
DEFAULT_IMAGES = 2000
DEFAULT_SEED = 0


def _label(kind: str, param: float) -> str:
    return UNITS[kind].format(param, param)


def sharp_subset(dataset: Any, split: str, n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `n_images` sharp images of `split` (seeded, in manifest order) and their labels."""
    if not isinstance(n_images, int) or n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images!r}")
    rows = dataset.split_rows(split)
    sharp = np.flatnonzero([not r["blurred"] for r in rows])
    if sharp.size == 0:
        raise ValueError(f"split {split!r} has no sharp images to re-blur")
    pick = np.sort(np.random.default_rng(seed).permutation(sharp)[:n_images])
    images = dataset.load_images(split, progress=False)[pick]
    return images, dataset.labels(split)[pick]


def _score(predictor: Any, images: np.ndarray, labels: np.ndarray, batch_size: int) -> dict[str, float]:
    predictions = predictor.predict_batch(images, batch_size=batch_size)
    predicted = np.array([p.class_index for p in predictions])
    lap = np.array([p.laplacian_var for p in predictions])
    recall = per_class_recall(labels, predicted, len(predictor.config.class_names))
    return {"accuracy": float((predicted == labels).mean()), "balanced_accuracy": float(np.nanmean(recall)),
            "laplacian_var_median": float(np.median(lap)),
            "called_blurred": float(np.mean([p.blurred for p in predictions]))}


def _degrade_all(images: np.ndarray, kind: str, param: float, rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(0.0, 180.0, size=len(images))  # motion only; drawn for every kind so draws stay aligned
    return np.stack([degrade(image, kind, param, angle) for image, angle in zip(images, angles)])


def robustness_sweep(predictor: Any, dataset: Any, split: str = "test", n_images: int = DEFAULT_IMAGES,
                     seed: int = DEFAULT_SEED, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> dict[str, Any]:
    """metrics.json["robustness"]: the clean figure and one row per (kind, strength)."""
    images, labels = sharp_subset(dataset, split, n_images, seed)
    rng = np.random.default_rng(seed + 1)
    steps = [(kind, float(param)) for kind, params in CONDITIONS for param in params]
    conditions = []
    for kind, param in tqdm(steps, desc="robustness", unit="condition", disable=not progress):
        scored = _score(predictor, _degrade_all(images, kind, param, rng), labels, batch_size)
        conditions.append({"kind": kind, "param": param, "label": _label(kind, param),
                           "trained_kind": kind in BLUR_KINDS, **scored})
    return {"split": split, "n_images": int(len(labels)), "seed": seed,
            "clean": _score(predictor, images, labels, batch_size), "conditions": conditions}


def robustness_rows(section: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, note) of the robustness table, clean first."""
    def pct(value: float) -> str:
        return f"{100 * value:.1f} %"

    clean = section["clean"]
    rows = [["clean (sharp)", "—", pct(clean["accuracy"]), pct(clean["balanced_accuracy"]), "",
             f"{clean['laplacian_var_median']:.4g}"]]
    for c in section["conditions"]:
        change = 100 * (c["accuracy"] - clean["accuracy"])
        rows.append([c["kind"] + ("" if c["trained_kind"] else " (never trained on)"), c["label"], pct(c["accuracy"]),
                     pct(c["balanced_accuracy"]), f"{change:+.1f} pts", f"{c['laplacian_var_median']:.4g}"])
    note = (f"{section['n_images']} sharp images of the {section['split']} split (seed {section['seed']}), each condition "
            "applied to all of them. Training blurred with Gaussian σ 1–2, motion length 3–7 px and defocus radius "
            "1–2 px; every strength here lies beyond those, and box and resize blur were never used.")
    return ["kind", "strength", "accuracy", "balanced accuracy", "vs clean", "median Laplacian var."], rows, note


def robustness_figure(section: dict[str, Any]) -> Figure:
    """Accuracy against strength level, one line per kind, starting from the clean figure."""
    fig, ax = plt.subplots(figsize=(8.5, 4.0))
    clean = section["clean"]["accuracy"]
    for kind, _ in CONDITIONS:
        rows = [c for c in section["conditions"] if c["kind"] == kind]
        xs = list(range(len(rows) + 1))
        style = "-" if rows and rows[0]["trained_kind"] else "--"
        label = f"{kind}: " + ", ".join(f"{c['param']:g}" for c in rows) + ("" if rows and rows[0]["trained_kind"] else " (unseen)")
        ax.plot(xs, [100 * clean] + [100 * c["accuracy"] for c in rows], style, marker="o", label=label)
    ax.axhline(100 * clean, color="black", lw=0.8, ls=":", label=f"clean {100 * clean:.1f} %")
    ax.set_xticks(range(4))
    ax.set_xticklabels(["clean", "level 1", "level 2", "level 3"])
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy under blur beyond the training ranges and unseen kernels", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
