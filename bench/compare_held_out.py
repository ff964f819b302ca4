"""Two recipes on the held-out blur suite, paired by seed: accuracy per condition and the summary yardsticks.

Reads the JSON files `bench/bench_held_out_blur.py` writes (one per run, the same split, images and
seed of the suite for every run), baseline and candidate runs given in seed order, and prints a
markdown table: per condition the mean accuracy of each recipe over the seeds and the paired
difference with its 95 % t-interval; then the suite's yardsticks (mean held-out accuracy, its ratio
to sharp, the worst family at its middle strength, sharp accuracy) the same way.

    .venv/bin/python bench/compare_held_out.py --baseline ho_default_s0.json ho_default_s1.json ho_default_s2.json \\
        --candidate ho_psf_s0.json ho_psf_s1.json ho_psf_s2.json [--names default psf] [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.held_out_blur import summarise  # noqa: E402
from features.atomic import atomic_write_text  # noqa: E402
from train.experiments.paired import mean_std, paired_difference  # noqa: E402

YARDSTICKS = (("held_out_mean_accuracy", "mean held-out accuracy"), ("held_out_over_sharp", "held-out / sharp"),
              ("untrained_mean_accuracy", "mean over held-out and beyond-range"),
              ("worst_middle_accuracy", "worst family at middle strength"), ("sharp_accuracy", "sharp accuracy"))


def load(paths: list[str]) -> list[dict[str, Any]]:
    sections = [json.loads(Path(p).read_text()) for p in paths]
    keys = {(s["split"], s["n_images"], s["seed"], s.get("suite", "held-out")) for s in sections}
    if len(keys) != 1:
        raise ValueError(f"the files were not made on the same split, images, suite seed and suite: {sorted(keys)}")
    for s in sections:  # yardsticks added since a file was written are computed from its rows
        s["summary"] = summarise(s)
    return sections


def accuracy_rows(sections: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Condition label -> accuracy per run (seed order); 'sharp' first."""
    rows = {"sharp (none)": [s["sharp"]["accuracy"]["value"] for s in sections]}
    for i, condition in enumerate(sections[0]["conditions"]):
        label = f"{condition['family']} {condition['label']} ({condition['group']})"
        rows[label] = [s["conditions"][i]["accuracy"]["value"] for s in sections]
    return rows


def table(baseline: list[dict[str, Any]], candidate: list[dict[str, Any]], names: tuple[str, str]) -> str:
    if len(baseline) != len(candidate):
        raise ValueError(f"pair the runs by seed: {len(baseline)} baseline files, {len(candidate)} candidate files")
    a, b = accuracy_rows(baseline), accuracy_rows(candidate)
    if list(a) != list(b):
        raise ValueError("the two recipes' files list different conditions")
    pairs = [(label, a[label], b[label]) for label in a]
    pairs += [(title, [s["summary"][key] for s in baseline], [s["summary"][key] for s in candidate])
              for key, title in YARDSTICKS]
    lines = [f"| condition ({len(baseline)} seeds, {baseline[0]['n_images']} {baseline[0]['split']} images) | "
             f"{names[0]} % | {names[1]} % | {names[1]} − {names[0]} (points, paired 95 % t) |", "|---|---|---|---|"]
    for label, base, cand in pairs:
        scale = 1.0 if label == "held-out / sharp" else 100.0
        d = paired_difference(dict(enumerate(x * scale for x in cand)), dict(enumerate(x * scale for x in base)))
        (mb, sb), (mc, sc) = mean_std([x * scale for x in base]), mean_std([x * scale for x in cand])
        digits = 3 if scale == 1.0 else 1
        lines.append(f"| {label} | {mb:.{digits}f} ± {sb:.{digits}f} | {mc:.{digits}f} ± {sc:.{digits}f} | "
                     f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}] |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", nargs="+", required=True, help="held-out JSON files of the baseline, seed order")
    parser.add_argument("--candidate", nargs="+", required=True, help="the candidate's, same seeds, same order")
    parser.add_argument("--names", nargs=2, default=("baseline", "candidate"))
    parser.add_argument("--out", help="markdown file for the table")
    args = parser.parse_args(argv)
    try:
        text = table(load(args.baseline), load(args.candidate), tuple(args.names))
    except (OSError, ValueError, KeyError) as error:
        parser.error(str(error))
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
