"""Score finished runs on one split: the comparison figures per run, then mean ± std over the runs.

What a recipe's test figures come from once it has been chosen on dev (the test split is scored
once per finished recipe, docs/BENCHMARK.md), and each run's recorded training time beside them.
With `--baseline COMPARE_JSON:VARIANT` (a `blurfuse compare` output scored on the same split), the
runs are paired by training seed with that variant's runs: mean difference and 95 % t-interval.

    .venv/bin/python bench/score_runs.py --models runs/e6-seed0 runs/e6-seed1 runs/e6-seed2 \\
        --data data/fmnist-lt-blur-v1 --split dev [--baseline compare.json:default] [--out figures.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.atomic import atomic_write_json  # noqa: E402
from fusion.predictor import SECOND_LOOK_READINGS  # noqa: E402
from train.experiments.compare_report import FIGURES  # noqa: E402
from train.resume import read_marker, run_complete  # noqa: E402

# What `blurfuse compare` reports, in its order, and how each is shown (rates x 100, the rest as they are).
SCALE = {key: 100.0 if rate else 1.0 for key, _, rate in FIGURES}
PAIRED_FIGURES = tuple(key for key in SCALE if key != "train_seconds")


def training_seconds(run_dir: str) -> float:
    """The run's own record of how long it trained (head stage and fits included)."""
    return float(read_marker(run_dir)["seconds_this_session"]) if run_complete(run_dir) else float("nan")


def training_seed(run_dir: str) -> int:
    return int(json.loads((Path(run_dir) / "train_config.json").read_text())["seed"])


def baseline_rows(spec: str, split: str) -> dict[int, dict]:
    """Seed -> figures of one variant of a `blurfuse compare` JSON ("PATH:VARIANT"), or of every run
    of an earlier `score_runs --out` JSON ("PATH")."""
    path, _, variant = spec.rpartition(":") if not Path(spec).is_file() else (spec, "", "")
    if not path or not Path(path).is_file():
        raise ValueError(f"--baseline must be COMPARE_JSON:VARIANT or a score_runs JSON, existing; got {spec!r}")
    saved = json.loads(Path(path).read_text())
    if not variant and saved.get("split", split) != split:
        raise ValueError(f"the baseline was scored on another split than {split!r}")
    rows = {r["seed"]: r for r in saved["runs"] if r.get("variant", "") == variant}
    if not rows:
        raise ValueError(f"no runs of variant {variant!r} in {path}")
    if any(r.get("split", split) != split for r in rows.values()):
        raise ValueError(f"the baseline was scored on another split than {split!r}")
    return rows


def print_paired(runs: list[dict], baseline: dict[int, dict]) -> dict[str, dict]:
    from train.experiments.paired import paired_difference

    print("\n| paired to the baseline (points) | mean [95 % t] |\n|---|---:|")
    out = {}
    for name in PAIRED_FIGURES:
        mine = {r["seed"]: SCALE[name] * r[name] for r in runs}
        theirs = {seed: SCALE[name] * baseline[seed][name] for seed in mine if seed in baseline}
        d = paired_difference({k: mine[k] for k in theirs}, theirs)
        out[name] = d
        print(f"| {name} | {d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] |")
    return out


def main(argv: list[str] | None = None) -> int:
    from train.experiments.compare import score_run
    from train.experiments.paired import mean_std

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="dev", choices=("dev", "test", "val"))
    parser.add_argument("--baseline", help="COMPARE_JSON:VARIANT, or a score_runs --out JSON, to pair with by training seed")
    parser.add_argument("--second-look-reading", choices=SECOND_LOOK_READINGS,
                        help="how answers use the low-passed second look (fusion.predictor; default: the Predictor's)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    try:
        baseline = baseline_rows(args.baseline, args.split) if args.baseline else None
    except ValueError as error:
        parser.error(str(error))
    missing = [m for m in args.models if not (Path(m) / "model.json").exists()]
    if missing:
        parser.error(f"not a finished run (no model.json): {', '.join(missing)}")
    runs = []
    for model in args.models:
        figures = score_run(model, args.data, args.split, second_look_reading=args.second_look_reading)
        runs.append({"model": model, "seed": training_seed(model), "train_seconds": training_seconds(model), **figures})
        print(f"{model}: balanced {100 * figures['balanced_accuracy']:.1f} %, rare {100 * figures['recall_rare']:.1f} %", flush=True)
    print(f"\n| {args.split} split, {len(runs)} runs | mean ± std |\n|---|---:|")
    summary = {}
    for name, scale in SCALE.items():
        mean, std = mean_std([scale * r[name] for r in runs])
        summary[name] = {"mean": mean, "std": std}
        print(f"| {name} | {mean:.1f} ± {std:.1f} |")
    paired = print_paired(runs, baseline) if baseline else None
    if args.out:
        atomic_write_json(args.out, {"split": args.split, "data": args.data, "second_look_reading": args.second_look_reading,
                                     "runs": runs, "summary": summary,
                                     "baseline": args.baseline, "paired": paired})
    return 0


if __name__ == "__main__":
    sys.exit(main())
