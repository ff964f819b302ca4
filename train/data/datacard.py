"""The data card: what a person (card.md + plots) and a program (card.json) need to know about a dataset."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from features.groups import GROUP_COLOURS  # noqa: E402



def _bar(ax, names: list[str], values: list[float], colours: list[str]) -> None:
    ax.bar(range(len(names)), values, color=colours)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)


def write_plots(card: dict, plots_dir: Path) -> dict[str, str]:
    """counts before/after the skew and the blurred share per class, as PNGs; returns name -> relative path."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    names = card["class_names"]
    colours = [GROUP_COLOURS[card["groups"][n]] for n in names]
    written = {}

    fig, ax = plt.subplots(figsize=(7, 3.2))
    _bar(ax, names, card["counts_before"]["train"], ["#8C8C8C"] * len(names))
    ax.set_ylabel("images")
    ax.set_title(f"{card['dataset']}: training images per class before the skew")
    fig.tight_layout()
    fig.savefig(plots_dir / "counts_before.png", dpi=110)
    plt.close(fig)
    written["counts_before"] = "plots/counts_before.png"

    after = [t + v for t, v in zip(card["counts_after"]["train"], card["counts_after"]["val"])]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    _bar(ax, names, after, colours)
    ax.set_yscale("log")
    ax.set_ylabel("images (log scale)")
    ax.set_title("after the long-tail skew (train + val), coloured by group")
    total = sum(after)
    for i, n in enumerate(after):
        ax.text(i, n, f"{n}\n{100 * n / total:.2f} %", ha="center", va="bottom", fontsize=7)
    ax.set_ylim(top=max(after) * 6)  # room for the labels on the log scale
    present = [g for g in GROUP_COLOURS if g in card["groups"].values()]
    ax.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in present], fontsize=8, loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(plots_dir / "counts_after.png", dpi=110)
    plt.close(fig)
    written["counts_after"] = "plots/counts_after.png"

    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.27
    for offset, split in zip((-width, 0, width), ("train", "val", "test")):
        shares = [100 * s for s in card["blurred_share"][split]]
        ax.bar([i + offset for i in range(len(names))], shares, width, label=split)
    minimum = 100 * card["blur"]["minimum_fraction"]
    ax.axhline(minimum, color="black", lw=0.8, ls="--", label=f"rule minimum {minimum:g} %")
    ax.set_ylim(0, 118)  # bars stop at 100; the legend sits above them
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("% blurred")
    ax.set_title("blurred share per class and split")
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    fig.tight_layout()
    fig.savefig(plots_dir / "blurred_share.png", dpi=110)
    plt.close(fig)
    written["blurred_share"] = "plots/blurred_share.png"
    return written


def card_markdown(card: dict) -> str:
    """card.md: the card.json facts in the order a person checks them (rule first, then counts, blur)."""
    names = card["class_names"]
    problems = list(card["rule_problems"])
    if card["blur"]["fraction"] < card["blur"]["minimum_fraction"]:
        problems.append(f"only {100 * card['blur']['fraction']:g} % of every class is blurred, under {100 * card['blur']['minimum_fraction']:g} %")
    fc = card["feature_config"]
    lines = [
        f"# Data card: {card['name']}",
        "",
        f"Source: {card['source']}. Profile: `{card['profile']}`. Images: {card['image_size']} x {card['image_size']} px, "
        f"{card['channels']} channel(s), PNG. Test set: {card['test_origin']}. Validation: a stratified "
        f"{100 * card['val_fraction']:g} % of the skewed training set.",
        "",
        f"**Rule:** {card['rule']}; at least {100 * card['blur']['minimum_fraction']:g} % of every class blurred. "
        + ("Followed." if not problems else "**Broken** (built with --allow-rule-break): " + "; ".join(problems) + "."),
        f"Frequent share {100 * card['frequent_share']:.1f} %, smallest class {100 * card['smallest_share']:.2f} %.",
        "",
        f"**Groups:** {card['group_rule']}.",
        "",
        "| class | group | before (train pool) | train | val | test | share of train+val | blurred train / val / test |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, name in enumerate(names):
        blurred = " / ".join(f"{100 * card['blurred_share'][s][i]:.1f} %" for s in ("train", "val", "test"))
        lines.append(
            f"| {name} | {card['groups'][name]} | {card['counts_before']['train'][i]} | {card['counts_after']['train'][i]} "
            f"| {card['counts_after']['val'][i]} | {card['counts_after']['test'][i]} | {100 * card['shares'][i]:.2f} % | {blurred} |"
        )
    totals = {s: sum(card["counts_after"][s]) for s in ("train", "val", "test")}
    lines.append(f"| **all** | | {sum(card['counts_before']['train'])} | {totals['train']} | {totals['val']} | {totals['test']} | 100 % | |")
    detection = card["blur_detection"]
    fitted_how = "fitted on the training split" if card.get("blur_threshold_fitted", True) else "the default (nothing to fit)"
    what = {"gaussian": "Gaussian sigma {} px", "motion": "motion line length {} px (integer) at an angle in [0, 180) deg",
            "defocus": "defocus disk radius {} px"}
    ranges = "; ".join(what[kind].format(f"{low:g}-{high:g}") for kind, (low, high) in card["blur"]["ranges"].items())
    lines += [
        "",
        f"**Blur:** exactly round({card['blur']['fraction']:g} x n) images of every class of every split, kind drawn "
        f"uniformly from {', '.join(card['blur']['kinds'])}, its parameter uniformly from its range: {ranges}.",
        "",
        f"**Seeds:** long-tail draw and validation {card['seeds']['selection']}, blur of train/val "
        f"{card['seeds']['blur_train_val']}, blur of test {card['seeds']['blur_test']}.",
        "",
        f"**Blur verdict** (variance of the Laplacian at {fc['size']} px, blurred when below the threshold): "
        f"threshold {detection['fitted']['threshold']:.1f}, {fitted_how}; on train it is right for "
        f"{100 * detection['fitted']['accuracy']:.1f} % of images and catches {100 * detection['fitted']['recall']:.1f} % "
        f"of the blurred ones. The fixed threshold {card['blur_threshold_default']:g} is right for "
        f"{100 * detection['default']['accuracy']:.1f} % and catches {100 * detection['default']['recall']:.1f} %. "
        "The fitted one is stored in `feature_config` in card.json and travels into every checkpoint.",
        "",
        "![counts before](plots/counts_before.png)",
        "",
        "![counts after](plots/counts_after.png)",
        "",
        "![blurred share](plots/blurred_share.png)",
    ]
    if card.get("skipped_files"):
        lines += ["", f"**Skipped files ({len(card['skipped_files'])}):** unreadable or not images.", ""]
        lines += [f"- `{s}`" for s in card["skipped_files"]]
    return "\n".join(lines) + "\n"
