"""The train package's command line: `blurfuse data` (build a dataset dir, see train/data/cli.py) and
`blurfuse train` (fit the fusion model), plus the parser `torchrun -m train.torchrun` reads.

Paths given here are made absolute as they are parsed, so everything below sees absolute paths.
Heavy libraries (torch, timm) are imported inside the handler, so `blurfuse --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses

from features.frequency import EVIDENCE_SETS
from features.arg_types import absolute_path
from fusion.config import OOD_METHODS
from fusion.defaults import PRETRAINED_CHOICES
from train.recipe_choice import pick_recipe
from train.head_retrain import HEAD_METHODS
from train.mixing import MIX_MODES
from train.recipes import BLUR_KERNEL_MODES, RECIPES, SELECT_MODES, TrainConfig, recipe_config
from train.sampler import SAMPLER_MODES

# Settings a command-line run fixes itself rather than taking from the recipe's overrides.
_RUN_SETTINGS = ("data", "out", "recipe", "seed", "device", "resume", "force", "progress")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", parents=[get_args_parser(add_help=False)], help="train the fusion model on a dataset dir",
        description="Train the RGB + edge + blur fusion model (Balanced Softmax on the natural class mix, then the "
        "classifier re-trained with class-balanced sampling). "
        "Multi-process: torchrun --nproc_per_node=N -m train.torchrun --data DIR --out RUN",
    )
    parser.set_defaults(func=run)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Options left unset (None) keep the recipe's value."""
    parser = argparse.ArgumentParser(description="Train the blurfuse fusion model", add_help=add_help)
    parser.add_argument("--data", type=absolute_path, required=True, help="dataset dir written by 'blurfuse data'")
    parser.add_argument("--out", type=absolute_path, required=True, help="run dir to write (checkpoint, metrics, log)")
    parser.add_argument("--recipe", default=None, help=f"named recipe ({', '.join(RECIPES)}); by default the one the dataset "
                        "calls for (blur-task for a blurred-vs-clear dataset, else default); options below override it")
    parser.add_argument("--backbone", help="timm model name of the RGB branch")
    pre = parser.add_mutually_exclusive_group()
    pre.add_argument("--pretrained", choices=PRETRAINED_CHOICES, help="backbone weights: offline package (default), timm hub, none")
    pre.add_argument("--no-pretrained", dest="pretrained", action="store_const", const="none")
    pre.add_argument("--backbone-weights", type=absolute_path, help="local weights file (safetensors or state dict) for the backbone")
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--branches", type=lambda s: tuple(b.strip() for b in s.split(",") if b.strip()), help="subset of rgb,edge,blur")
    parser.add_argument("--sampler", choices=SAMPLER_MODES, help="class-balanced sampling weights")
    parser.add_argument("--sampler-beta", type=float, help="strength of the 'effective' sampler, in (0, 1)")
    parser.add_argument("--rebalance-from-epoch", type=int, help="first epoch drawn by the class-balanced sampler (earlier: natural)")
    parser.add_argument("--logit-adjust-tau", type=float, help="logit adjustment strength (0 = plain CE)")
    parser.add_argument("--blur-loss-weight", type=float, help="weight of the auxiliary blurred/sharp loss")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--samples-per-epoch", type=int, help="images drawn per epoch (the budget is epochs x this)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--patience", type=int, help="epochs without validation improvement before stopping")
    parser.add_argument("--ema-decay", type=float, help="keep, select and save an EMA of the weights (0 = off)")
    parser.add_argument("--select", choices=SELECT_MODES, help="which epoch is kept: balanced_acc, val_loss or last")
    parser.add_argument("--passes", type=float, help="cap the budget at this many passes over the training set (0 = off)")
    parser.add_argument("--ood-method", choices=[*OOD_METHODS, "none"],
                        help="unfamiliar-image score fitted when training ends (default stages: early backbone "
                             "statistics + energy, energy for models without the image branch; none skips it)")
    parser.add_argument("--blur-evidence-set", choices=sorted(EVIDENCE_SETS),
                        help="blur evidence of a blurred-vs-clear dataset's blur branch (default cepstral)")
    _add_augmentation_options(parser)
    parser.add_argument("--head-retrain", choices=HEAD_METHODS,
                        help="last stage: the classifier re-trained with class-balanced sampling on frozen branches (none = off)")
    parser.add_argument("--head-views", type=int, help="embedding passes over the training images for the head stage")
    parser.add_argument("--head-epochs", type=int, help="passes' worth of class-balanced draws in the head stage")
    parser.add_argument("--head-prior-shift", type=float, metavar="TAU",
                        help="after the head stage, move its bias toward the rare classes by TAU x their log-rarity (0 = off)")
    parser.add_argument("--ood-blur-views", action=argparse.BooleanOptionalAction, default=None,
                        help="fit the unfamiliar-image score on blurred views of val too, so blur alone does not look unfamiliar")
    parser.add_argument("--ood-familiar-view", action=argparse.BooleanOptionalAction, default=None,
                        help="give images the unfamiliar-image score flags a second, low-passed look (fusion.familiar_view)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--force", action="store_true", help="replace an existing run in --out")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def _add_augmentation_options(parser: argparse.ArgumentParser) -> None:
    """What each training batch is made of: fresh blurs, noise, pose, blurred twins, mixing."""
    parser.add_argument("--blur-augment", type=float, help="share of sharp training images blurred afresh in each batch")
    parser.add_argument("--noise-augment", type=float, help="share of training images given white sensor noise (labels kept)")
    parser.add_argument("--noise-sigma", type=float, help="largest sensor-noise sigma of --noise-augment, gray levels")
    parser.add_argument("--blur-kernels", choices=BLUR_KERNEL_MODES,
                        help="training blur: classic (Gaussian, motion, defocus), psf (randomised point-spread functions) "
                             "or mixed (each fresh blur one or the other)")
    parser.add_argument("--geometry-augment", type=float,
                        help="share of each batch rotated (up to 10 degrees) and rescaled (+-10 %%) before the blurs (0 = off)")
    parser.add_argument("--augmix", type=float,
                        help="share of each batch replaced by its AugMix (AugMix's own operations, none a blur) before the blurs (0 = off)")
    parser.add_argument("--consistency", type=float,
                        help="weight of the divergence between each image and its freshly blurred twin in the batch (0 = off)")
    parser.add_argument("--consistency-share", type=float,
                        help="share of each batch that are blurred twins with --consistency, in (0, 0.5] (default 0.5)")
    parser.add_argument("--mix", choices=MIX_MODES,
                        help="mix pairs of training images and their labels: mixup, cutmix or none (train.mixing)")
    parser.add_argument("--mix-alpha", type=float, help="Beta(alpha, alpha) draws the share each mixed image keeps")
    parser.add_argument("--mix-prob", type=float, help="probability that a batch is mixed")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe named by --recipe, with every recipe option given on the command line applied."""
    settings = {f.name for f in dataclasses.fields(TrainConfig)} - set(_RUN_SETTINGS)
    overrides = {key: getattr(args, key) for key in settings if getattr(args, key, None) is not None}
    if overrides.get("backbone_weights"):
        overrides["pretrained"] = "file"
        overrides["backbone_weights"] = str(overrides["backbone_weights"])
    recipe = pick_recipe(args.recipe, args.data)
    return recipe_config(recipe, data=args.data, out=args.out, seed=args.seed, device=args.device,
                         resume=args.resume, force=args.force, progress=not args.no_progress, **overrides)


def run(args: argparse.Namespace) -> int:
    from train.fit import train_model

    run_dir = train_model(config_from_args(args))
    print(f"checkpoint: {run_dir / 'model.safetensors'} (+ model.json); metrics: {run_dir / 'metrics.csv'}")
    return 0
