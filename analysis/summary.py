"""The plain-language summary at the top of the report, generated from metrics.json only.

Never hand-written: every sentence is chosen by the sign and size of a number and by whether its
95 % interval excludes zero, so a re-run with a better model rewrites the story by itself.
"""

from __future__ import annotations

from typing import Any

# Below this many points a significant difference is still called "small".
SMALL_GAP_POINTS = 2.0


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100.0 * value:.{digits}f} %"


def points(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{abs(value):.{digits}f}"


def interval(ci: list[float | None], scale: float = 1.0, unit: str = "") -> str:
    """'95 % CI 3.1–7.9' (or '-2.0 to 4.1' when a bound is negative, where a dash would mislead)."""
    low, high = ci
    if low is None or high is None:
        return "95 % CI n/a"
    a, b = low * scale, high * scale
    joiner = " to " if a < 0 or b < 0 else "–"
    return f"95 % CI {a:.1f}{joiner}{b:.1f}{unit}"


def _gap_sentence(gap: dict[str, Any], positive: str, negative: str, neutral: str) -> str:
    """Pick the sentence for a gap; templates get {pts} and {ci}."""
    value = gap["points"]
    ci = interval(gap["ci_points"])
    if value is None:
        return neutral.format(pts="n/a", ci=ci)
    if not gap["significant"]:
        return neutral.format(pts=f"{value:+.1f}", ci=ci)
    template = positive if value > 0 else negative
    sentence = template.format(pts=points(value), ci=ci)
    if abs(value) < SMALL_GAP_POINTS:
        sentence += " The difference is significant but small."
    return sentence


def summarize(metrics: dict[str, Any], split: str = "test") -> list[str]:
    """Sentences, most important first: overall, frequent vs rare, blurred vs sharp, detection,
    calibration, unfamiliar images."""
    return [
        _overall_sentence(metrics["overall"], split),
        *_rare_sentences(metrics),
        *_blur_sentences(metrics, split),
        _detection_sentence(metrics["blur_detection"]),
        _calibration_sentence(metrics["calibration"]),
        *_ood_sentence(metrics.get("ood")),
    ]


def _overall_sentence(overall: dict[str, Any], split: str) -> str:
    return (
        f"On the {split} split ({overall['n_images']} images) the model classifies {pct(overall['top1'])} of images "
        f"correctly; balanced accuracy (mean recall over classes) is {pct(overall['balanced_accuracy'])} "
        f"({interval(overall['balanced_accuracy_ci'], 100, ' %')}) and macro-F1 {pct(overall['macro_f1'])}."
    )


def _rare_sentences(metrics: dict[str, Any]) -> list[str]:
    """The frequent - rare recall gap, and the most common mistake on a rare class."""
    sentences = []
    group = metrics["group"]
    if "frequent_minus_rare_recall" in metrics["gaps"]:
        rare, frequent = pct(group["rare"]["recall"]), pct(group["frequent"]["recall"])
        sentences.append(_gap_sentence(
            metrics["gaps"]["frequent_minus_rare_recall"],
            positive="Rare classes are recalled {pts} points less often than frequent ones ({ci}): "
            f"{rare} against {frequent}.",
            negative="Rare classes are recalled {pts} points more often than frequent ones ({ci}): "
            f"{rare} against {frequent}.",
            neutral="Rare and frequent classes are recalled about equally often "
            f"({rare} against {frequent}); the difference "
            "(frequent minus rare) of {pts} points is not significant ({ci} includes 0).",
        ))
    worst = [(name, items[0]) for name, items in metrics.get("rare_confusions", {}).items() if items]
    if worst:
        name, top = max(worst, key=lambda item: item[1]["share"])
        sentences.append(
            f"The most common mistake on a rare class is {name} taken for {top['class']} "
            f"({top['count']} images, {pct(top['share'])} of its test images)."
        )
    return sentences


def _blur_sentences(metrics: dict[str, Any], split: str) -> list[str]:
    """What blur costs overall, which blur kind is hardest, and which group blur hurts most."""
    blur = metrics["blur"]
    if not blur["n_blurred"] or not blur["n_sharp"]:
        return [f"The {split} split has {'no blurred' if not blur['n_blurred'] else 'no sharp'} images, "
                "so the cost of blur cannot be measured on it.", *_blur_kind_sentence(blur)]
    blurred, sharp = pct(blur["accuracy_blurred"]), pct(blur["accuracy_sharp"])
    sentences = [_gap_sentence(
        metrics["gaps"]["sharp_minus_blurred_accuracy"],
        positive="Blur costs {pts} points of accuracy ({ci}): " f"{blurred} on blurred against {sharp} on sharp images.",
        negative="Blurred images are classified {pts} points better than sharp ones ({ci}): " f"{blurred} against {sharp}.",
        neutral="Blur does not measurably change accuracy "
        f"({blurred} blurred against {sharp} sharp); the difference "
        "(sharp minus blurred) of {pts} points is not significant ({ci} includes 0).",
    ), *_blur_kind_sentence(blur)]
    hurt = {g: e for g, e in metrics["group"].items() if e.get("blur_gap_points") is not None}
    if len(hurt) > 1:
        worst_group = max(hurt, key=lambda g: hurt[g]["blur_gap_points"])
        entry = hurt[worst_group]
        if entry["blur_gap_points"] > 0:
            sentences.append(
                f"Blur hurts the {worst_group} classes most: their recall drops by {entry['blur_gap_points']:.1f} points "
                f"({interval(entry['blur_gap_points_ci'])}) from sharp to blurred images."
            )
    return sentences


def _blur_kind_sentence(blur: dict[str, Any]) -> list[str]:
    kinds = {k: v for k, v in blur.get("per_kind", {}).items() if v.get("accuracy") is not None}
    if len(kinds) <= 1:
        return []
    hardest = min(kinds, key=lambda k: kinds[k]["accuracy"])
    easiest = max(kinds, key=lambda k: kinds[k]["accuracy"])
    overlap = (kinds[hardest]["accuracy_ci"][1] or 1.0) >= (kinds[easiest]["accuracy_ci"][0] or 0.0)
    return [
        f"The hardest blur kind is {hardest} ({pct(kinds[hardest]['accuracy'])} accuracy), "
        f"the easiest {easiest} ({pct(kinds[easiest]['accuracy'])})"
        + ("; their intervals overlap, so this ranking is uncertain." if overlap else ".")
    ]


def _detection_sentence(detection: dict[str, Any]) -> str:
    default, fitted, learned = detection["laplacian_default"], detection["laplacian_fitted"], detection["learned_head"]
    diff = 100.0 * ((fitted["accuracy"] or 0.0) - (default["accuracy"] or 0.0))
    if abs(diff) < 0.5:
        compare = "about as accurate as"
    elif diff > 0:
        compare = f"{abs(diff):.1f} points more accurate than"
    else:
        compare = f"{abs(diff):.1f} points less accurate than"
    sentence = (
        f"As a blur detector, the Laplacian variance with the fitted threshold ({fitted['threshold']:.1f}) is right on "
        f"{pct(fitted['accuracy'])} of images, {compare} the fixed threshold {default['threshold']:.0f} "
        f"({pct(default['accuracy'])})"
    )
    if learned is not None:
        sentence += (f"; the learned blur head is right on {pct(learned['accuracy'])} "
                     f"(ROC AUC {_auc(learned['roc_auc'])} against {_auc(fitted['roc_auc'])} for the Laplacian score).")
    else:
        sentence += f" (ROC AUC of the score {_auc(fitted['roc_auc'])}); this model has no learned blur head."
    return sentence


def _auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _calibration_sentence(calibration: dict[str, Any]) -> str:
    ece = calibration["ece"]
    over = calibration["overconfidence_points"]
    lo, hi = calibration["overconfidence_points_ci"]
    if lo is not None and lo > 0:
        direction = f"it is overconfident: its mean confidence exceeds its accuracy by {points(over)} points"
    elif hi is not None and hi < 0:
        direction = f"it is underconfident: its mean confidence is {points(over)} points below its accuracy"
    else:
        direction = "its mean confidence matches its accuracy (the difference is not significant)"
    quality = "well calibrated" if ece is not None and ece < 0.03 else "not well calibrated"
    sentence = f"The model is {quality} (expected calibration error {pct(ece)}); {direction}."
    if calibration.get("ece_rare") is not None:
        sentence += f" On rare-class images the calibration error is {pct(calibration['ece_rare'])}."
    scaling = calibration.get("temperature_scaling")
    if scaling is not None and scaling["fitted_on"]:
        sentence += (f" These probabilities are temperature-scaled (T = {scaling['temperature']:.2f}, fitted on "
                     f"{scaling['fitted_on']}); without it the calibration error would be {pct(scaling['ece_before']['all'])}.")
    elif scaling is not None:
        sentence += " The checkpoint was never calibrated (`blurfuse calibrate` fits its temperature)."
    return sentence


def _ood_sentence(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return []
    sets = "; ".join(f"{s['name']} AUROC {s['auroc']:.3f}, {pct(s['flagged'])} flagged" for s in section["sets"])
    return [f"The unfamiliar-image warning fires on {pct(section['in_distribution']['flagged'])} of the "
            f"{section['split']} images and separates unfamiliar sets from them as follows: {sets}."]
