"""`blurfuse calibrate`: fit a finished run's temperature and unfamiliar-image score and store them.

It rewrites the run's model.json, so it belongs with what produces checkpoints; the fitting itself is
`fusion.run_fit`, and this module only reads the dataset dir for it.
"""

from __future__ import annotations

import argparse

from features.arg_types import absolute_path, positive_int
from fusion.config import OOD_METHODS, OOD_VIEW_KINDS as VIEW_KINDS
from fusion.defaults import DEFAULT_BATCH_SIZE, DEFAULT_OOD_KEEP

CALIBRATE_DESCRIPTION = (
    "Temperature scaling: fit the T that minimises the negative log-likelihood of softmax(logits / T) on a held-out "
    "split and write it into the run's model.json (atomically; the weights stay as they are). Training does this on "
    "val at its end; use this for runs trained before that, or to refit on dev. The test split is refused: it would "
    "tune on test."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_calibrate_parser(subparsers)


def add_calibrate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    helptext = "fit a checkpoint's temperature on held-out images (val or dev) and store it in model.json"
    parser = subparsers.add_parser("calibrate", help=helptext, description=CALIBRATE_DESCRIPTION)
    parser.add_argument("--model", type=absolute_path, required=True, help="training run dir (or its model.json)")
    parser.add_argument("--data", type=absolute_path, required=True, help="dataset dir written by `blurfuse data`")
    parser.add_argument("--split", default="val", choices=("val", "dev"), help="held-out split to fit on (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="images per forward pass (default: %(default)s)")
    parser.add_argument("--ood-method", default="stages", choices=(*OOD_METHODS, "none"),
                        help="unfamiliar-image score to fit as well: threshold keeping --keep of val (default: %(default)s)")
    parser.add_argument("--ood-blur-views", action=argparse.BooleanOptionalAction, default=True,
                        help="fit the OOD score on blurred copies of the train and val images too, so blur is familiar "
                        "(default: on, as in training)")
    parser.add_argument("--ood-familiar-view", action=argparse.BooleanOptionalAction, default=True,
                        help="also fit a low-passed second look: an image is unfamiliar only if both looks say so "
                        "(default: on, as in training)")
    parser.add_argument("--ood-views", default="blur", choices=VIEW_KINDS,
                        help="the copies the score is fitted on: blurred (blur) or blurred and half re-framed, with "
                        "both looks fitted on them and the threshold on sharp images (camera) (default: %(default)s)")
    parser.add_argument("--keep", type=float, default=DEFAULT_OOD_KEEP, help="share of validation images the OOD threshold keeps (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run_calibrate)
    return parser


def run_calibrate(args: argparse.Namespace) -> int:
    from fusion.run_fit import fit_run_held_out
    from train.data.dataset_dir import read_dataset
    from fusion.ood import describe_settings

    result, settings = fit_run_held_out(args.model, read_dataset(args.data), args.ood_method, args.keep, progress=not args.no_progress,
                                        temperature_split=args.split, batch_size=args.batch_size,
                                        blur_views=args.ood_blur_views, familiar_view=args.ood_familiar_view,
                                        views=args.ood_views)
    print(f"temperature {result.temperature:.4f} {result.source}: NLL {result.nll_before:.4f} -> {result.nll_after:.4f}, "
          f"ECE {100 * result.ece_before:.2f} % -> {100 * result.ece_after:.2f} %")
    if settings is not None:
        print(describe_settings(settings))
    return 0
