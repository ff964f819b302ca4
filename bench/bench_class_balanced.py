"""Class-balanced final classification, compared on dev over seeds (issue-style rule, test once).

    .venv/bin/python bench/bench_class_balanced.py --data data/fmnist-lt-blur-v1 --out runs/cb \
        [--seeds 3] [--device cuda] [--jobs 6] [--score-test]

Trains the default recipe and deferred class-balanced sampling without Balanced Softmax (`drw_cb`)
over the seeds, re-trains the default runs' classifiers (cRT, LWS, tau-norm), scores everything on
dev, prints the paired table and the rule's choice; with --score-test, only that choice on test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.experiments.compare import parse_variant  # noqa: E402
from train.experiments.head_comparison import compare_heads  # noqa: E402
from train.recipes import parse_overrides  # noqa: E402

DRW_CB = "drw_cb:sampler=inverse rebalance_from_epoch=6 logit_adjust_tau=0 head_retrain=none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=["crt", "lws", "tau_norm"])
    parser.add_argument("--trained", nargs="*", default=[DRW_CB], help="variants trained from scratch (compare syntax)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--time-budget-s", type=float, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override for every run")
    parser.add_argument("--score-test", action="store_true")
    args = parser.parse_args()
    trained = [parse_variant(v) for v in args.trained]
    table = compare_heads(args.data.resolve(), args.out.resolve(), range(args.seeds), args.methods, trained,
                          device=args.device, jobs=args.jobs, time_budget_s=args.time_budget_s, score_test=args.score_test,
                          common=parse_overrides(args.overrides))
    print(table.read_text())


if __name__ == "__main__":
    main()
