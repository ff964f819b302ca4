"""`blurfuse report`: the subcommand of the analysis package (it evaluates; it never trains).

Heavy libraries (torch, matplotlib) are imported inside the handlers so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse

from features.arg_types import absolute_path, positive_int
from fusion.defaults import DEFAULT_BATCH_SIZE
from train.data.splits import SPLITS


REPORT_HELP = "evaluate a checkpoint on a split and write the HTML report"
REPORT_DESCRIPTION = (
    "Predict every image of a split with the checkpoint (through the same Predictor as the web app), "
    "measure frequent vs rare and blurred vs sharp with 95 % bootstrap intervals, and write a self-contained "
    "report directory (index.html, report.md, metrics.json, predictions.csv, figures/). Prints the path of index.html."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_report_parser(subparsers)


def _print_path(path) -> int:
    """Each handler ends by printing the main file it wrote (absolute), for scripts to pick up."""
    print(path.resolve())
    return 0


def add_report_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("report", help=REPORT_HELP, description=REPORT_DESCRIPTION)
    _add_model_and_data(parser)
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="split to evaluate (default: %(default)s); dev compares recipes, test scores a finished one")
    parser.add_argument("--out", type=absolute_path, default=None, help="report dir (default: MODEL/report)")
    parser.add_argument("--force", action="store_true", help="replace an existing report dir")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="images per forward pass (default: %(default)s)")
    parser.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap resamples (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--robustness", action="store_true",
                        help="add the blur-beyond-training section: sharp images re-blurred harder than training and "
                        "with kernels it never used, accuracy per kind and strength")
    parser.add_argument("--robustness-images", type=positive_int, default=2000,
                        help="sharp images the robustness sweep uses (default: %(default)s)")
    parser.add_argument("--held-out-blur", type=positive_int, default=0, metavar="N",
                        help="add the held-out blur section on N sharp images: blur families training never uses, "
                        "accuracy and unfamiliar warnings per family x strength with intervals (default: off)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run_report)
    return parser


def _add_model_and_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=absolute_path, required=True, help="training run dir (or its model.json)")
    parser.add_argument("--data", type=absolute_path, required=True, help="dataset dir written by `blurfuse data`")


def run_report(args: argparse.Namespace) -> int:
    from analysis.report import make_report

    index = make_report(args.model, args.data, split=args.split, out=args.out, force=args.force,
                        batch_size=args.batch_size, progress=not args.no_progress,
                        n_resamples=args.bootstrap, seed=args.seed,
                        robustness_images=args.robustness_images if args.robustness else 0,
                        held_out_blur_images=args.held_out_blur)
    return _print_path(index)
