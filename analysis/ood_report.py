"""The report's "Unfamiliar images" section: does the model's out-of-distribution score tell images
unlike its training data from the evaluated split?

A warning on the web page is only worth showing if it fires on unfamiliar images and stays quiet on
familiar ones, so the report measures both with the score and threshold the checkpoint ships
(`model.json["ood"]`, fitted when training ended): the split's own images are the in-distribution
side, and sets that need no download are the out-of-distribution side:

- photographs: the scikit-image / scikit-learn sample photos (`train.data.photos`), whole;
- uniform and Gaussian noise images;
- scikit-learn's handwritten digits (8x8 grey, upscaled as any upload is), another small dataset.

Every image goes through `Predictor.predict_batch`, the path the web page and the CLI answer
through, so the figures are what a user would see: AUROC (unfamiliar scored above familiar) and
the share of each set the fitted threshold flags.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.metrics import ood_auroc  # noqa: E402
from fusion.defaults import DEFAULT_BATCH_SIZE, DEFAULT_OOD_KEEP

DEFAULT_SET_SIZE = 200


def ood_sets(n: int = DEFAULT_SET_SIZE, seed: int = 0) -> dict[str, list]:
    """The out-of-distribution sets available offline, by name (photos as paths, the rest as arrays)."""
    from sklearn.datasets import load_digits

    from train.data.photos import sample_photo_paths

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    digits = load_digits().images[:n]
    return {
        "photographs": [str(p) for p in sample_photo_paths(include_soft=True)],
        "uniform noise": [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(n)],
        "Gaussian noise": [np.clip(rng.normal(128, 50, (64, 64, 3)), 0, 255).astype(np.uint8) for _ in range(n)],
        "sklearn digits": [np.repeat((d * 255 / 16).astype(np.uint8)[..., None], 3, 2) for d in digits],
    }


def ood_section(predictor: Any, inside: np.ndarray | None, split: str, sets: dict[str, list] | None = None,
                batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any] | None:
    """metrics.json["ood"] from the split's OOD scores (`Evaluation.ood_scores`), or None when the
    checkpoint has no OOD score (trained before it existed)."""
    settings = dict(getattr(predictor.config, "ood", None) or {})
    if not settings.get("method") or inside is None:
        return None
    threshold = float(settings["threshold"])
    inside = np.asarray(inside, dtype=np.float64)
    section: dict[str, Any] = {
        "method": settings["method"], "threshold": threshold, "split": split,
        "in_distribution": {"n": int(inside.size), "flagged": float(np.mean(inside > threshold)),
                            "scores": inside.tolist()},
        "sets": [],
    }
    for name, images in (ood_sets() if sets is None else sets).items():
        predictions = predictor.predict_batch(images, batch_size=batch_size)
        outside = np.array([p.ood_score for p in predictions], dtype=np.float64)
        section["sets"].append({"name": name, "n": int(outside.size), "auroc": ood_auroc(inside, outside),
                                "flagged": float(np.mean(outside > threshold)), "scores": outside.tolist()})
    return section


def ood_rows(section: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, note) of the OOD table: the split first, then each unfamiliar set."""
    inside = section["in_distribution"]
    rows = [[f"{section['split']} split (familiar)", str(inside["n"]), "—", f"{100 * inside['flagged']:.1f} %"]]
    rows += [[s["name"], str(s["n"]), f"{s['auroc']:.4f}", f"{100 * s['flagged']:.1f} %"] for s in section["sets"]]
    note = (f"Score: {section['method']} (higher = less familiar), threshold {section['threshold']:.4g} fitted on the "
            f"validation split to keep {100 * DEFAULT_OOD_KEEP:.0f} % of its images (the default keep). AUROC: how "
            "often an unfamiliar image scores above a familiar one (1 = always, 0.5 = chance). Flagged: the share "
            "the web page and CLI would warn on.")
    return ["images", "n", "AUROC vs the split", "flagged as unfamiliar"], rows, note


def ood_figure(section: dict[str, Any]) -> Figure:
    """Score histograms: the split against each unfamiliar set, with the fitted threshold."""
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    everything = [np.asarray(section["in_distribution"]["scores"])] + [np.asarray(s["scores"]) for s in section["sets"]]
    finite = np.concatenate([v[np.isfinite(v)] for v in everything])
    bins = np.linspace(finite.min(), finite.max(), 50) if finite.size else 10
    ax.hist(everything[0], bins=bins, density=True, alpha=0.55, color="#4c72b0",
            label=f"{section['split']} split (familiar)")
    for s, values in zip(section["sets"], everything[1:]):
        ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6, label=f"{s['name']} (AUROC {s['auroc']:.3f})")
    ax.axvline(section["threshold"], color="black", ls="--", lw=1, label="fitted threshold")
    ax.set_xlabel(f"{section['method']} score (higher = less familiar)")
    ax.set_ylabel("density")
    ax.set_title("How unfamiliar each image looks to the model", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
