"""Benchmark: calibration variants for the rare classes, fitted on val and scored on dev.

Every variant is a set of temperatures chosen by the *predicted* class (so no variant changes an
answer, only its confidence), fitted on the run's val logits and scored on another split:

- `global`: one temperature;
- `class-sN`: one temperature per predicted class, shrunk toward the global one with strength N
  (`fusion.class_calibration`; what ships is strength 50);
- `group`: one temperature per group (frequent / medium / rare) of the predicted class: the rare
  group pools its three classes' val images, so it needs no shrinkage;
- `…-balanced`: the same fits with each val image weighted so that every class weighs the same
  (`fusion.calibration.class_prior_weights`): val keeps the long tail, dev and test are balanced.

Rule for the balanced fits (written 2026-12-04 before they were scored): one replaces what ships if
its paired rare-ECE difference lies wholly below zero and its overall ECE is at most 0.2 points
above what ships; among several, the lowest mean rare ECE.

Figures per run, then mean ± std over runs and the paired difference to what ships (95 % t-interval).

Two references follow, fitted on the scored split itself (so never candidates, never shipped):
`bound-class` (one temperature per predicted class, no shrinkage, by NLL: what the shipped fit
would choose with the scored images' own labels) and `bound-rare-T` (one temperature fitted on the
rare classes' images alone, which needs their true labels: no product can pick it at prediction
time; its overall ECE means nothing). They are bounds of the NLL fit, not of ECE: a fit that chases
rare ECE directly (weak shrinkage) can land lower, on a few val mistakes.

    .venv/bin/python bench/bench_calibration_variants.py --models runs/s0 runs/s1 runs/s2 \\
        --data data/fmnist-lt-blur-v1 [--fit-split val] [--split dev] [--out calib.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.atomic import atomic_write_json  # noqa: E402

SHIPPED = "class-s50"
FIGURES = ("ece", "ece_rare")


def group_temperatures(logits: np.ndarray, labels: np.ndarray, groups: list[str], temperature: float,
                       weights: np.ndarray | None = None) -> list[float]:
    """One temperature per group of the predicted class; a group with no mistake keeps the global one."""
    from fusion.calibration import fit_temperature

    predicted_group = np.asarray(groups)[logits.argmax(1)]
    per_group = {}
    for g in set(groups):
        members = predicted_group == g
        wrong = members & (logits.argmax(1) != labels)
        w = None if weights is None else weights[members]
        per_group[g] = fit_temperature(logits[members], labels[members], weights=w) if wrong.any() else temperature
    return [float(per_group[g]) for g in groups]


def variants(logits: np.ndarray, labels: np.ndarray, groups: list[str]) -> dict[str, list[float]]:
    """Per-class temperature lists of every variant, fitted on (logits, labels), unweighted and balanced."""
    from fusion.calibration import class_prior_weights, fit_temperature
    from fusion.class_calibration import fit_class_temperatures

    out = {}
    for suffix, w in (("", None), ("-balanced", class_prior_weights(labels, logits.shape[1]))):
        t = fit_temperature(logits, labels, weights=w)
        out[f"global{suffix}"] = [t] * logits.shape[1]
        for strength in (5, 20, 50, 200):
            out[f"class-s{strength}{suffix}"] = fit_class_temperatures(logits, labels, t, strength=strength, weights=w)
        out[f"group{suffix}"] = group_temperatures(logits, labels, groups, t, weights=w)
    return out


def score_run(model: str, data: str, fit_split: str, split: str) -> dict[str, dict[str, float]]:
    from analysis.evaluate import evaluate_split
    from fusion.class_calibration import calibrated_probabilities
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset
    from train.experiments.compare_report import figures_from_table

    predictor = Predictor.from_checkpoint(model, device="cpu")
    dataset = read_dataset(data)
    fit = evaluate_split(predictor, dataset, fit_split, progress=False)
    scored = evaluate_split(predictor, dataset, split, progress=False)
    table = scored.table
    out = {}
    candidates = variants(fit.logits, fit.table.labels, list(dataset.groups))
    for name, temps in (candidates | bounds(scored.logits, table.labels, list(dataset.groups))).items():
        probabilities = calibrated_probabilities(scored.logits, temps[0], temps)
        figures = figures_from_table(dataclasses.replace(table, probabilities=probabilities))
        out[name] = {f: figures[f] for f in FIGURES} | {"temperatures": temps}
    return out


def bounds(logits: np.ndarray, labels: np.ndarray, groups: list[str]) -> dict[str, list[float]]:
    """Temperatures fitted on the scored images themselves: what an NLL fit could do with their labels."""
    from fusion.calibration import fit_temperature
    from fusion.class_calibration import fit_class_temperatures

    t = fit_temperature(logits, labels)
    rare = np.isin(labels, [c for c, g in enumerate(groups) if g == "rare"])
    t_rare = fit_temperature(logits[rare], labels[rare]) if rare.any() else t
    return {"bound-class": fit_class_temperatures(logits, labels, t, strength=1e-9),
            "bound-rare-T": [t_rare] * logits.shape[1]}


def main(argv: list[str] | None = None) -> int:
    from train.experiments.paired import mean_std, paired_difference

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--fit-split", default="val")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.fit_split == args.split:
        parser.error("calibration is never scored on the split it was fitted on")
    runs = [score_run(m, args.data, args.fit_split, args.split) for m in args.models]
    print(f"| variant (fitted on {args.fit_split}, scored on {args.split}) | ECE % | rare ECE % | "
          f"rare ECE vs {SHIPPED} (pts, paired) |\n|---|---|---|---|")
    summary = {}
    for name in runs[0]:
        ece, rare = (mean_std([100 * r[name][f] for r in runs]) for f in FIGURES)
        d = paired_difference({i: 100 * r[name]["ece_rare"] for i, r in enumerate(runs)},
                              {i: 100 * r[SHIPPED]["ece_rare"] for i, r in enumerate(runs)})
        summary[name] = {"ece": ece, "ece_rare": rare, "ece_rare_vs_shipped": d}
        print(f"| {name} | {ece[0]:.2f} ± {ece[1]:.2f} | {rare[0]:.2f} ± {rare[1]:.2f} | "
              f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] |")
    if args.out:
        atomic_write_json(args.out, {"models": args.models, "runs": runs, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
