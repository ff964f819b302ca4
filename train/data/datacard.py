"""The data card: what a person (card.md + plots) and a program (card.json) need to know about a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from features import DEFAULT_BLUR_THRESHOLD  # noqa: E402
from features.groups import GROUP_COLOURS  # noqa: E402
from train.data.longtail import GROUP_RULE, RULE  # noqa: E402
from train.data.scoring import detection  # noqa: E402
from train.data.splits import SPLITS  # noqa: E402

DEV_WHAT = (
    "a balanced sample of the training-pool images the long-tail draw did not take, blurred by the same "
    "rule with its own seed, never trained on: recipes are compared on it, so the test split chooses nothing"
)


def make_card(plan: Any, feature_config: Any, name: str) -> dict:
    """card.json from a `train.data.build.BuildPlan` whose images are blurred and scored (duck-typed)."""
    source, profile, options = plan.source, plan.profile, plan.options
    k = plan.num_classes
    counts_after = {s: plan.counts(s) for s in SPLITS}
    blurred_share = {
        s: [float(plan.splits[s].blurred[plan.splits[s].labels == c].mean()) if counts_after[s][c] else 0.0 for c in range(k)]
        for s in SPLITS
    }
    train = plan.splits["train"]
    card = {
        "name": name,
        "dataset": source.name,
        "source": source.description,
        "class_names": list(source.class_names),
        "groups": {source.class_names[c]: profile.groups[c] for c in range(k)},
        "profile": profile.name,
        "rule": RULE,
        "group_rule": GROUP_RULE,
        "rule_problems": profile.rule_problems(),
        "rule_followed": not profile.rule_problems() and options.blur.fraction >= options.blur.minimum,
        "counts_before": {"train": list(plan.available), "test": counts_after["test"]},
        "counts_after": counts_after,
        "shares": profile.shares,
        "frequent_share": profile.frequent_share,
        "smallest_share": min(profile.shares),
        "blurred_share": blurred_share,
        "blur": _blur_card(options.blur),
        "seeds": {"selection": options.seed, "validation": options.seed, "blur_train_val": options.blur_seed,
                  "blur_test": options.test_blur_seed, "dev": options.dev_seed, "blur_dev": options.dev_blur_seed},
        "val_fraction": options.val_fraction,
        "test_origin": plan.test_origin,
        "dev": _dev_card(plan, counts_after["dev"]),
        "image_size": source.image_size,
        "channels": source.channels,
        "feature_config": feature_config.to_dict(),
        "blur_threshold_fitted": bool(train.blurred.any() and not train.blurred.all()),
        "blur_threshold_default": DEFAULT_BLUR_THRESHOLD,
        "blur_detection": {
            "split": "train",
            "fitted": detection(train.scores, train.blurred, feature_config.blur_threshold),
            "default": detection(train.scores, train.blurred, DEFAULT_BLUR_THRESHOLD),
        },
        "skipped_files": list(source.skipped),
    }
    if plan.options.blur_task:
        from train.data.blurtask import card_entry

        card["blur_task"] = card_entry(plan.options.blur_task, list(source.class_names), source.image_size)
    return card


def _blur_card(blur: Any) -> dict:
    return {
        "fraction": blur.fraction,
        "minimum_fraction": blur.minimum,
        "kinds": list(blur.kinds),
        "ranges": {kind: list(r) for kind, r in blur.ranges.items() if kind in blur.kinds},
    }


def _dev_card(plan: Any, counts: list[int]) -> dict:
    """What the dev split is, and which classes got fewer than asked for (the left-over pool was smaller)."""
    per_class = plan.options.dev_per_class
    left_over = [a - n for a, n in zip(plan.available, plan.profile.counts)]
    names = plan.source.class_names
    return {
        "what": DEV_WHAT,
        "per_class": per_class,
        "left_over": left_over,
        "short": {names[c]: counts[c] for c in range(len(names)) if counts[c] < per_class},
    }


def _bar(ax, names: list[str], values: list[float], colours: list[str]) -> None:
    ax.bar(range(len(names)), values, color=colours)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)


def _save(fig, plots_dir: Path, name: str, written: dict[str, str]) -> None:
    fig.tight_layout()
    fig.savefig(plots_dir / f"{name}.png", dpi=110)
    plt.close(fig)
    written[name] = f"plots/{name}.png"


def _present_splits(card: dict) -> list[str]:
    """train, val, test, and dev when the dataset has one (older cards and natural profiles have none)."""
    return [s for s in SPLITS if s != "dev" or sum(card["counts_after"].get("dev", [])) > 0]


def write_plots(card: dict, plots_dir: Path) -> dict[str, str]:
    """counts before/after the skew and the blurred share per class, as PNGs; returns name -> relative path."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    names = card["class_names"]
    written: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(7, 3.2))
    _bar(ax, names, card["counts_before"]["train"], ["#8C8C8C"] * len(names))
    ax.set_ylabel("images")
    ax.set_title(f"{card['dataset']}: training images per class before the skew")
    _save(fig, plots_dir, "counts_before", written)
    _save(_counts_after_figure(card), plots_dir, "counts_after", written)
    _save(_blurred_share_figure(card), plots_dir, "blurred_share", written)
    return written


def _counts_after_figure(card: dict):
    names = card["class_names"]
    after = [t + v for t, v in zip(card["counts_after"]["train"], card["counts_after"]["val"])]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _bar(ax, names, after, [GROUP_COLOURS[card["groups"][n]] for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("images (log scale)")
    ax.set_title("after the long-tail skew (train + val), coloured by group")
    total = sum(after)
    for i, n in enumerate(after):
        ax.text(i, n, f"{n}\n{100 * n / total:.2f} %", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(top=max(after) * 6)  # room for the labels on the log scale
    present = [g for g in GROUP_COLOURS if g in card["groups"].values()]
    ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in present], fontsize=8, loc="upper left", ncol=3)
    return fig


def _blurred_share_figure(card: dict):
    names = card["class_names"]
    splits = _present_splits(card)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(splits)
    for j, split in enumerate(splits):
        shares = [100 * s for s in card["blurred_share"][split]]
        ax.bar([i + (j - (len(splits) - 1) / 2) * width for i in range(len(names))], shares, width, label=split)
    minimum = 100 * card["blur"]["minimum_fraction"]
    ax.axhline(minimum, color="black", lw=0.8, ls="--", label=f"rule minimum {minimum:g} %")
    ax.set_ylim(0, 118)  # bars stop at 100; the legend sits above them
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("% blurred")
    ax.set_title("blurred share per class and split")
    ax.legend(fontsize=8, ncol=5, loc="upper center")
    return fig


def card_markdown(card: dict) -> str:
    """card.md: the card.json facts in the order a person checks them (rule first, then counts, blur)."""
    problems = list(card["rule_problems"])
    if card["blur"]["fraction"] < card["blur"]["minimum_fraction"]:
        problems.append(f"only {100 * card['blur']['fraction']:g} % of every class is blurred, under {100 * card['blur']['minimum_fraction']:g} %")
    lines = [
        f"# Data card: {card['name']}",
        "",
        f"Source: {card['source']}. Profile: `{card['profile']}`. Images: {card['image_size']} x {card['image_size']} px, "
        f"{card['channels']} channel(s), PNG. Test set: {card['test_origin']}. Validation: a stratified "
        f"{100 * card['val_fraction']:g} % of the skewed training set.",
        "",
        _dev_sentence(card),
        "",
        f"**Rule:** {card['rule']}; at least {100 * card['blur']['minimum_fraction']:g} % of every class blurred. "
        + ("Followed." if not problems else "**Broken** (built with --allow-rule-break): " + "; ".join(problems) + "."),
        f"Frequent share {100 * card['frequent_share']:.1f} %, smallest class {100 * card['smallest_share']:.2f} %.",
        "",
        f"**Groups:** {card['group_rule']}.",
        "",
        *_count_table(card),
        "",
        *_blur_lines(card),
        "",
        "![counts before](plots/counts_before.png)",
        "",
        "![counts after](plots/counts_after.png)",
        "",
        "![blurred share](plots/blurred_share.png)",
    ]
    if card.get("blur_task"):
        task = card["blur_task"]
        lines += ["", f"**Blur task:** the classes are the blur truth: `{task['blurred_class']}` = blurred, "
                  f"`{task['sharp_class']}` = sharp (manifest `blurred` = the class); no synthetic blur is added and the "
                  f"threshold above is fitted on the classes. Images: {task['images']}."]
    if card.get("skipped_files"):
        lines += ["", f"**Skipped files ({len(card['skipped_files'])}):** unreadable or not images.", ""]
        lines += [f"- `{s}`" for s in card["skipped_files"]]
    return "\n".join(lines) + "\n"


def _dev_sentence(card: dict) -> str:
    dev = card["dev"]
    if sum(card["counts_after"]["dev"]) == 0:
        why = "dev was turned off (--dev-per-class 0)" if dev["per_class"] == 0 else "the long tail took every pool image"
        return f"**Dev:** none ({why}); compare recipes on another held-out set."
    short = ", ".join(f"{name} {n}" for name, n in dev["short"].items())
    return (f"**Dev:** {dev['what']}. {dev['per_class']} per class"
            + (f", fewer where the left-over pool is smaller: {short}." if short else "."))


def _count_table(card: dict) -> list[str]:
    names, after = card["class_names"], card["counts_after"]
    splits = ("train", "val", "test", "dev")
    lines = [
        "| class | group | before (train pool) | train | val | test | dev | share of train+val | blurred train / val / test / dev |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, name in enumerate(names):
        blurred = " / ".join(f"{100 * card['blurred_share'][s][i]:.1f} %" for s in splits)
        counts = " | ".join(str(after[s][i]) for s in splits)
        lines.append(f"| {name} | {card['groups'][name]} | {card['counts_before']['train'][i]} | {counts} "
                     f"| {100 * card['shares'][i]:.2f} % | {blurred} |")
    totals = " | ".join(str(sum(after[s])) for s in splits)
    lines.append(f"| **all** | | {sum(card['counts_before']['train'])} | {totals} | 100 % | |")
    return lines


def _blur_lines(card: dict) -> list[str]:
    detection, fc, seeds = card["blur_detection"], card["feature_config"], card["seeds"]
    fitted_how = "fitted on the training split" if card.get("blur_threshold_fitted", True) else "the default (nothing to fit)"
    what = {"gaussian": "Gaussian sigma {} px", "motion": "motion line length {} px (integer) at an angle in [0, 180) deg",
            "defocus": "defocus disk radius {} px"}
    ranges = "; ".join(what[kind].format(f"{low:g}-{high:g}") for kind, (low, high) in card["blur"]["ranges"].items())
    return [
        f"**Blur:** exactly round({card['blur']['fraction']:g} x n) images of every class of every split, kind drawn "
        f"uniformly from {', '.join(card['blur']['kinds'])}, its parameter uniformly from its range: {ranges}.",
        "",
        f"**Seeds:** long-tail draw and validation {seeds['selection']}, blur of train/val {seeds['blur_train_val']}, "
        f"blur of test {seeds['blur_test']}, dev draw {seeds['dev']}, blur of dev {seeds['blur_dev']}.",
        "",
        f"**Blur verdict** (variance of the Laplacian at {fc['size']} px, blurred when below the threshold): "
        f"threshold {detection['fitted']['threshold']:.1f}, {fitted_how}; on train it is right for "
        f"{100 * detection['fitted']['accuracy']:.1f} % of images and catches {100 * detection['fitted']['recall']:.1f} % "
        f"of the blurred ones. The fixed threshold {card['blur_threshold_default']:g} is right for "
        f"{100 * detection['default']['accuracy']:.1f} % and catches {100 * detection['default']['recall']:.1f} %. "
        "The fitted one is stored in `feature_config` in card.json and travels into every checkpoint.",
    ]
