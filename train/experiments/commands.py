"""`blurfuse compare` and `blurfuse ablate`: the subcommands that train several runs and compare them.

Heavy libraries (torch, timm) are imported inside the handlers so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse

from features.arg_types import absolute_path, positive_int
from fusion.defaults import DEFAULT_BATCH_SIZE
from train.recipes import parse_overrides

DEFAULT_VARIANTS = ("fused", "rgb_only", "edge_blur_only", "no_balancing")
ABLATE_HELP = "train the fused model and its variants under one sample budget and compare them"
ABLATE_DESCRIPTION = (
    "Train each variant with the same number of training samples, evaluate it on the test split "
    "and write ablation.md/.csv/.json and ablation.png to OUT."
)
COMPARE_HELP = "train recipe variants over several seeds, compare them on dev (paired by seed)"
COMPARE_DESCRIPTION = (
    "Train each --variant with every seed, score it on the dev split, and write compare.md/.csv/.json "
    "and runs.csv to OUT: mean ± std over seeds and the paired difference to the first variant (95 % t-interval). "
    "With --test-winner, the variant with the highest mean dev balanced accuracy (rule fixed in advance) is then "
    "scored on test, and no other variant is."
)



def register(subparsers: argparse._SubParsersAction) -> None:
    add_ablate_parser(subparsers)
    add_compare_parser(subparsers)


def _add_data_and_out(parser: argparse.ArgumentParser, data_help: str) -> None:
    """--data and --out of the subcommands that train runs: absolute paths, parsed once here."""
    parser.add_argument("--data", type=absolute_path, required=True, help=data_help)
    parser.add_argument("--out", type=absolute_path, required=True, help="output dir (runs/ and the comparison)")


def add_ablate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("ablate", help=ABLATE_HELP, description=ABLATE_DESCRIPTION)
    _add_data_and_out(parser, "dataset dir written by `blurfuse data`")
    parser.add_argument("--budget", type=positive_int, required=True, help="training samples seen by every variant")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=DEFAULT_VARIANTS,
                        help="variants to train (default: all)")
    parser.add_argument("--recipe", default="default", help="base training recipe (default: %(default)s)")
    parser.add_argument("--split", default="test", choices=("val", "test", "dev"), help="evaluation split (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="training and bootstrap seed (default: %(default)s)")
    parser.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="images per forward pass when evaluating")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override a training-recipe field for every variant (read as JSON when it parses, else text; "
                        "e.g. --set input_size=32 --set pretrained=none); repeatable")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run_ablate)
    return parser


def add_compare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("compare", help=COMPARE_HELP, description=COMPARE_DESCRIPTION)
    _add_data_and_out(parser, "dataset dir written by `blurfuse data` (with a dev split)")
    parser.add_argument("--variant", dest="variants", action="append", required=True, metavar="NAME[:KEY=VALUE ...]",
                        help="a variant: a name and recipe overrides separated by spaces, e.g. 'ema:ema_decay=0.999 "
                        "select=last'; the first is the baseline; repeatable")
    parser.add_argument("--recipe", default="default", help="base training recipe (default: %(default)s)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="training seeds 0..N-1 (default: %(default)s)")
    parser.add_argument("--split", default="dev", choices=("dev", "val"), help="comparison split (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override a recipe field for every variant (e.g. --set epochs=2); repeatable")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default: %(default)s)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="runs trained at once, each in its own process")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--time-budget-s", type=float, help="start no run that would end after this many seconds")
    parser.add_argument("--run-estimate-s", type=float, help="expected seconds per run before the first one ends")
    parser.add_argument("--test-winner", action="store_true", help="score the dev winner's seeds on test afterwards")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted comparison in OUT: keep its finished runs, resume the cut-off one")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run_compare)
    return parser


def run_ablate(args: argparse.Namespace) -> int:
    from train.experiments.ablate import ablate

    table = ablate(args.data, budget=args.budget, out=args.out, variants=args.variants, recipe=args.recipe,
                   split=args.split, seed=args.seed, n_resamples=args.bootstrap, batch_size=args.batch_size,
                   force=args.force, progress=not args.no_progress, overrides=parse_overrides(args.overrides))
    print(table.resolve())
    return 0


def run_compare(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from train.experiments.compare import compare, parse_variant

    command = "blurfuse " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    table = compare(args.data, args.out, [parse_variant(v) for v in args.variants], seeds=range(args.seeds),
                    recipe=args.recipe, common=parse_overrides(args.overrides), split=args.split, device=args.device,
                    time_budget_s=args.time_budget_s, first_estimate_s=args.run_estimate_s, workers=args.jobs,
                    threads=args.threads, test_winner=args.test_winner, force=args.force,
                    resume=args.resume, progress=not args.no_progress, command=command)
    print(table.read_text())
    return 0
