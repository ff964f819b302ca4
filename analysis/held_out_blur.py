"""Held-out blur suite: accuracy and the unfamiliar-image warning under blur training never used.

The same seeded subset of a split's SHARP images is predicted sharp, then under every condition:
the held-out families of `analysis.blur_families` at three strengths, the trained families past
their training ranges (Gaussian sigma 3 / 4, motion 15 px), and the trained families inside their
ranges (Gaussian sigma 2, motion 7 px, defocus 2 px: blur the model should call familiar). Each row
has accuracy and the share flagged unfamiliar, both with 95 % Wilson intervals, and the mean SSIM
to the sharp images: the model-free yardstick of how destructive the condition is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from tqdm import tqdm  # noqa: E402

from analysis.blur_families import SUITES  # noqa: E402
from analysis.intervals import wilson_interval  # noqa: E402
from analysis.robustness import sharp_subset  # noqa: E402
from analysis.ssim import ssim  # noqa: E402
from features.kernels import degrade  # noqa: E402
from fusion.defaults import DEFAULT_BATCH_SIZE  # noqa: E402

DEFAULT_IMAGES = 2000
# Where each suite's section lives in metrics.json, and its heading in the report.
HELD_OUT_KEYS = {"held-out": "held_out_blur", "verification": "held_out_blur_verification",
                 "third": "held_out_blur_third"}
HELD_OUT_TITLES = {"held-out": "Blur training never used",
                   "verification": "Blur training never used, second suite",
                   "third": "Blur training never used, third suite"}
# (kind, strength, label): trained kinds inside their ranges ("trained") and beyond them ("beyond").
TRAINED_CONDITIONS = (("gaussian", 2.0, "σ 2"), ("motion", 7.0, "7 px"), ("defocus", 2.0, "radius 2 px"))
BEYOND_CONDITIONS = (("gaussian", 3.0, "σ 3"), ("gaussian", 4.0, "σ 4"), ("motion", 15.0, "15 px"))


@dataclass(frozen=True)
class Condition:
    group: str  # "held-out", "beyond" (trained kind past its range) or "trained" (inside the range)
    family: str
    strength: float
    label: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _trained(kind: str, param: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def apply(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angles = rng.uniform(0.0, 180.0, len(images))
        return np.stack([degrade(im, kind, param, a) for im, a in zip(images, angles)])
    return apply


def conditions(suite: str = "held-out") -> list[Condition]:
    """Every condition of the suite, its held-out families first (mild -> strong within a family).

    `suite="verification"` swaps in the second set of families (`blur_families.VERIFICATION_FAMILIES`),
    never used to choose anything, so a choice made on the first suite can be checked on blur nobody
    looked at; the trained and beyond-range rows are the same in both."""
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {tuple(SUITES)}; got {suite!r}")
    out = [Condition("held-out", f.name, s, f.unit.format(s), lambda im, rng, f=f, s=s: f.apply(im, s, rng))
           for f in SUITES[suite] for s in f.strengths]
    for group, table in (("beyond", BEYOND_CONDITIONS), ("trained", TRAINED_CONDITIONS)):
        out += [Condition(group, kind, p, label, _trained(kind, p)) for kind, p, label in table]
    return out


def _share(hits: np.ndarray) -> dict[str, float]:
    low, high = wilson_interval(int(hits.sum()), len(hits))
    return {"value": float(hits.mean()), "low": low, "high": high}


def score_condition(predictor: Any, images: np.ndarray, labels: np.ndarray, sharp: np.ndarray,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """Accuracy, warning share (None when the model has no OOD score) and mean SSIM to `sharp`; with a
    warning, also how many warned answers were right and how many warned images the blur verdict called
    blurred (what a flagged answer is worth: bench/bench_flagged_blur.py)."""
    predictions = predictor.predict_batch(images, batch_size=batch_size)
    correct = np.array([p.class_index for p in predictions]) == labels
    flags = [p.in_distribution for p in predictions]
    row = {"accuracy": _share(correct), "warned": None, "ssim": float(ssim(sharp, images).mean())}
    if not any(f is None for f in flags):
        warned = ~np.array(flags, dtype=bool)
        blurred = np.array([bool(p.blurred) for p in predictions])
        row.update(warned=_share(warned), n_warned=int(warned.sum()), right_when_warned=int((warned & correct).sum()),
                   warned_and_judged_blurred=int((warned & blurred).sum()))
    return row


def held_out_sweep(predictor: Any, dataset: Any, split: str = "dev", n_images: int = DEFAULT_IMAGES, seed: int = 0,
                   batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True, suite: str = "held-out") -> dict[str, Any]:
    """metrics.json["held_out_blur"]: the sharp row and one row per condition."""
    chosen = conditions(suite)
    images, labels = sharp_subset(dataset, split, n_images, seed)
    rows = []
    for i, c in enumerate(tqdm(chosen, desc=f"{suite} blur", unit="condition", disable=not progress)):
        blurred = c.apply(images, np.random.default_rng([seed, i]))
        rows.append({"group": c.group, "family": c.family, "strength": c.strength, "label": c.label,
                     **score_condition(predictor, blurred, labels, images, batch_size)})
    section = {"split": split, "suite": suite, "n_images": int(len(labels)), "seed": seed,
               "sharp": score_condition(predictor, images, labels, images, batch_size), "conditions": rows}
    section["summary"] = summarise(section)
    return section


def summarise(section: dict[str, Any]) -> dict[str, float]:
    """The issue's yardsticks: mean held-out accuracy / sharp accuracy, the worst middle strength,
    and the warning rate on in-range trained blur / on sharp images."""
    held = [r for r in section["conditions"] if r["group"] == "held-out"]
    sharp = section["sharp"]
    middle = [r for r in held if r["strength"] == sorted({x["strength"] for x in held if x["family"] == r["family"]})[1]]
    out = {"held_out_mean_accuracy": float(np.mean([r["accuracy"]["value"] for r in held])),
           "sharp_accuracy": sharp["accuracy"]["value"],
           "worst_middle_accuracy": float(min(r["accuracy"]["value"] for r in middle))}
    out["held_out_over_sharp"] = out["held_out_mean_accuracy"] / max(1e-12, out["sharp_accuracy"])
    # Every condition training does not use: the held-out families and the trained kinds past their ranges.
    untrained = [r for r in section["conditions"] if r["group"] in ("held-out", "beyond")]
    out["untrained_mean_accuracy"] = float(np.mean([r["accuracy"]["value"] for r in untrained]))
    trained = [r for r in section["conditions"] if r["group"] == "trained"]
    if sharp["warned"] is not None and trained:
        out["trained_warning_rate"] = float(np.mean([r["warned"]["value"] for r in trained]))
        out["sharp_warning_rate"] = sharp["warned"]["value"]
    return out


def _pct(share: dict[str, float] | None) -> str:
    if share is None:
        return "—"
    return f"{100 * share['value']:.1f} % ({100 * share['low']:.1f}–{100 * share['high']:.1f})"


def _milder(section: dict[str, Any], yardstick: float | None) -> list[str]:
    """Held-out families whose strongest level keeps more SSIM than the yardstick (less destructive)."""
    if yardstick is None:
        return []
    held = [r for r in section["conditions"] if r["group"] == "held-out"]
    strongest = {r["family"]: r for r in held if r["strength"] == max(x["strength"] for x in held if x["family"] == r["family"])}
    return [name for name, r in strongest.items() if r["ssim"] > yardstick]


def held_out_rows(section: dict[str, Any]) -> tuple[list[str], list[list[str]], str]:
    """(header, rows, note) of the held-out blur table, sharp first."""
    sharp = section["sharp"]
    rows = [["sharp", "—", "—", _pct(sharp["accuracy"]), _pct(sharp["warned"]), "1.000"]]
    rows += [[r["family"], r["group"], r["label"], _pct(r["accuracy"]), _pct(r["warned"]), f"{r['ssim']:.3f}"]
             for r in section["conditions"]]
    gauss3 = next((r["ssim"] for r in section["conditions"] if r["family"] == "gaussian" and r["strength"] == 3.0), None)
    s = section["summary"]
    note = (f"{section['n_images']} sharp images of the {section['split']} split (seed {section['seed']}); 95 % Wilson "
            "intervals in brackets. held-out = a blur family training never uses (analysis/blur_families.py); beyond = "
            "a trained family past its training range; trained = inside it. SSIM to the sharp image is the "
            f"model-free strength yardstick: Gaussian σ 3 scores {'—' if gauss3 is None else round(gauss3, 3)}; "
            f"held-out families whose strongest level is milder than that here: {', '.join(_milder(section, gauss3)) or 'none'}. "
            "Mean held-out accuracy "
            f"{100 * s['held_out_mean_accuracy']:.1f} % = {s['held_out_over_sharp']:.3f} × sharp; worst family at "
            f"its middle strength {100 * s['worst_middle_accuracy']:.1f} %.")
    return ["family", "group", "strength", "accuracy", "flagged unfamiliar", "SSIM"], rows, note


def held_out_figure(section: dict[str, Any]) -> Figure:
    """Accuracy (left) and warning share (right) per family against strength level, sharp at level 0."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    families = list(dict.fromkeys((r["family"], r["group"]) for r in section["conditions"] if r["group"] != "trained"))
    sharp = section["sharp"]
    for ax, key, title in ((axes[0], "accuracy", "accuracy (%)"), (axes[1], "warned", "flagged unfamiliar (%)")):
        if sharp[key] is None:
            ax.set_title("no unfamiliar-image score in this model", fontsize=9)
            continue
        for name, group in families:
            rows = [r for r in section["conditions"] if r["family"] == name and r["group"] == group]
            ys = [100 * sharp[key]["value"]] + [100 * r[key]["value"] for r in rows]
            ax.plot(range(len(ys)), ys, "-" if group == "held-out" else "--", marker="o", label=f"{name} ({group})")
        ax.set_xlabel("strength level (0 = sharp)")
        ax.set_ylabel(title)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Blur training never used: held-out families (solid), trained families past their range (dashed)",
                 fontsize=10)
    fig.tight_layout()
    return fig
