"""Benchmark: horizontal-flip test-time augmentation and an ensemble of the seeds' models.

Both are prediction-time variants: no training, but 2x (flip) or k x (ensemble of k runs) the
prediction cost. Each run is scored on the split as shipped (the Predictor's calibrated
probabilities), then with the mean of its probabilities on the image and on the mirrored image;
the ensemble averages the runs' probabilities (and their flips). Per-run figures are paired by
seed (flip minus plain, 95 % t-interval over the runs); the ensemble is one model made of all
runs, so it has no seed spread — compare it with the single runs' mean and best.

    .venv/bin/python bench/bench_tta_ensemble.py --models runs/s0 runs/s1 runs/s2 \\
        --data data/fmnist-lt-blur-v1 --split dev [--device cuda] [--out tta.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.atomic import atomic_write_json  # noqa: E402

FIGURES = ("balanced_accuracy", "recall_rare", "worst_class_recall", "accuracy_blurred", "accuracy_sharp",
           "ece", "ece_rare")


class Mirrored:
    """A dataset dir whose images come back mirrored left-right; everything else is the dataset's own."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def load_images(self, split: str, progress: bool = False) -> np.ndarray:
        return np.ascontiguousarray(self._dataset.load_images(split, progress=progress)[:, :, ::-1])


def figures(table: Any, probabilities: np.ndarray) -> dict[str, float]:
    """The comparison figures of `table` with its probabilities (and so its answers) replaced."""
    from train.experiments.compare_report import figures_from_table

    return figures_from_table(dataclasses.replace(table, probabilities=probabilities,
                                                  predicted=probabilities.argmax(1)))


def score_runs(models: list[str], data: str, split: str, device: str) -> tuple[Any, list[dict[str, Any]]]:
    """(the split's table, per run: plain and mirrored probabilities and the seconds each pass took)."""
    from analysis.evaluate import evaluate_split
    from fusion.predictor import Predictor
    from train.data.dataset_dir import read_dataset

    dataset = read_dataset(data)
    table, runs = None, []
    for model in models:
        predictor = Predictor.from_checkpoint(model, device=device)
        start = time.perf_counter()
        plain = evaluate_split(predictor, dataset, split, progress=False)
        middle = time.perf_counter()
        mirrored = evaluate_split(predictor, Mirrored(dataset), split, progress=False)
        runs.append({"model": model, "plain": plain.table.probabilities, "mirrored": mirrored.table.probabilities,
                     "seconds_plain": middle - start, "seconds_mirrored": time.perf_counter() - middle})
        table = plain.table if table is None else table
    return table, runs


def summarise(table: Any, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures per run (plain, flip), the pairing over runs, and the ensembles."""
    from train.experiments.paired import mean_std, paired_difference

    per_run = [{"model": r["model"], "plain": figures(table, r["plain"]),
                "flip": figures(table, (r["plain"] + r["mirrored"]) / 2)} for r in runs]
    out: dict[str, Any] = {"runs": per_run, "n_images": int(table.n)}
    for variant in ("plain", "flip"):
        out[variant] = {f: mean_std([r[variant][f] for r in per_run]) for f in FIGURES}
    out["flip_minus_plain"] = {f: paired_difference({i: r["flip"][f] for i, r in enumerate(per_run)},
                                                    {i: r["plain"][f] for i, r in enumerate(per_run)}) for f in FIGURES}
    if len(runs) > 1:
        out["ensemble"] = figures(table, np.mean([r["plain"] for r in runs], axis=0))
        out["ensemble_flip"] = figures(table, np.mean([(r["plain"] + r["mirrored"]) / 2 for r in runs], axis=0))
    plain_s = float(np.mean([r["seconds_plain"] for r in runs]))
    out["ms_per_image"] = {"plain": 1000 * plain_s / table.n,
                           "flip": 1000 * (plain_s + float(np.mean([r["seconds_mirrored"] for r in runs]))) / table.n}
    out["ms_per_image"]["ensemble"] = out["ms_per_image"]["plain"] * len(runs)
    out["ms_per_image"]["ensemble_flip"] = out["ms_per_image"]["flip"] * len(runs)
    return out


def markdown(summary: dict[str, Any]) -> str:
    """The table a person reads: figures in %, mean ± std over runs for single models."""
    def cell(value: Any) -> str:
        if isinstance(value, tuple):
            return f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}"
        return f"{100 * value:.1f}"

    header = ["variant", *FIGURES, "ms / image"]
    rows = [["single run (mean ± std)", *(cell(summary["plain"][f]) for f in FIGURES), f"{summary['ms_per_image']['plain']:.2f}"],
            ["single run + flip TTA", *(cell(summary["flip"][f]) for f in FIGURES), f"{summary['ms_per_image']['flip']:.2f}"]]
    for name in ("ensemble", "ensemble_flip"):
        if name in summary:
            rows.append([name.replace("_", " + "), *(cell(summary[name][f]) for f in FIGURES),
                         f"{summary['ms_per_image'][name]:.2f}"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    diff = summary["flip_minus_plain"]
    lines.append("")
    lines.append("flip − plain, paired over runs (points, mean [95 % t-interval]): " + "; ".join(
        f"{f} {100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]" for f, d in diff.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="run dirs (one per seed)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="dev", help="dev to choose; test once, for what ships")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args(argv)
    missing = [m for m in args.models if not (Path(m) / "model.json").is_file()]
    if missing:
        parser.error(f"not a run dir (no model.json): {', '.join(missing)}")
    table, runs = score_runs(args.models, args.data, args.split, args.device)
    summary = summarise(table, runs)
    print(markdown(summary))
    if args.out:
        atomic_write_json(args.out, {"split": args.split, "data": args.data, **summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
