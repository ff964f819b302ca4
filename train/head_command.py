"""`blurfuse retrain-head`: the class-balanced classifier stage applied to a finished run.

It copies RUN to OUT (OUT appears only when complete), re-trains the classifier on RUN's frozen
branches with class-balanced draws (`train.head_stage`), then refits the temperature and the
unfamiliar-image score (they read the new logits) and records the method in OUT's
train_config.json and model.json. Comparing methods this way keeps everything but the head
identical, so the comparison is paired by construction.

`--method keep` leaves the run's classifier as it is and only applies `--prior-shift`
(`train.prior_shift`): the shift measured on the very head a run already has.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

from features.arg_types import absolute_path, positive_int
from train.head_retrain import HEAD_METHODS
from train.recipes import TrainConfig

KEEP = "keep"  # --method keep: the run's classifier stays; only the prior shift is applied


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain-head", help="re-train a finished run's classifier with class-balanced sampling (cRT, LWS, tau-norm)",
        description="Copy RUN to OUT, re-train its classifier on the frozen branches with every class drawn "
        "equally often, refit the temperature and the unfamiliar-image score.")
    parser.add_argument("--model", type=absolute_path, required=True, metavar="RUN", help="a finished training run dir")
    parser.add_argument("--out", type=absolute_path, required=True, help="the new run dir")
    parser.add_argument("--method", choices=[*(m for m in HEAD_METHODS if m != "none"), KEEP], default="crt",
                        help="how to re-train the classifier; keep: leave it and only apply --prior-shift (default: %(default)s)")
    parser.add_argument("--prior-shift", type=float, default=TrainConfig.head_prior_shift, metavar="TAU",
                        help="then move the classifier bias toward the rare classes by TAU x their log-rarity "
                        "(default: the default recipe's, %(default)s; 0 = off)")
    parser.add_argument("--data", type=absolute_path, default=None, help="dataset dir (default: the one RUN was trained on)")
    parser.add_argument("--views", type=positive_int, default=2, help="embedding passes over the training images")
    parser.add_argument("--epochs", type=positive_int, default=10, help="passes' worth of class-balanced draws")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = retrain_run(args.model, args.out, args.method, data=args.data, views=args.views, epochs=args.epochs,
                         device=args.device, force=args.force, progress=not args.no_progress, prior_shift=args.prior_shift)
    if args.method == KEEP:
        print(f"{args.out}: classifier kept, bias shifted by tau {args.prior_shift:g}; temperature and unfamiliar score refitted")
        return 0
    print(f"{args.out}: classifier re-trained ({args.method}); val balanced accuracy "
          f"{result['val_balanced_acc_before']:.4f} -> {result['val_balanced_acc_after']:.4f}, rare recall "
          f"{result['val_rare_recall_before']:.3f} -> {result['val_rare_recall_after']:.3f}")
    return 0


def retrain_run(model: Path, out: Path, method: str, data: Path | None = None, views: int = 2, epochs: int = 10,
                device: str = "auto", force: bool = False, progress: bool = True, prior_shift: float = 0.0) -> dict:
    """Copy the finished run `model` to `out` with its classifier re-trained per `method` (or kept,
    `method="keep"`) and its bias shifted by `prior_shift`; returns the head record."""
    from features.atomic import atomic_directory, atomic_write_json
    from train.fit import fit_run_temperature_and_ood, load_data, pick_device
    from train.head_stage import head_settings, retrain_head, shift_head

    model, out = Path(model), Path(out)
    config_path = model / "train_config.json"
    if not config_path.is_file() or not (model / "RUN_COMPLETE.json").is_file():
        raise FileNotFoundError(f"{model} is not a finished training run (no train_config.json / RUN_COMPLETE.json)")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    saved = {k: v for k, v in json.loads(config_path.read_text()).items() if k in known}
    keep = method == KEEP
    if keep and saved.get("head_prior_shift"):
        raise ValueError(f"{model} already shifted its classifier (tau {saved['head_prior_shift']}); start from a run without")
    if not keep and saved.get("head_retrain", "none") != "none":
        raise ValueError(f"{model} already re-trained its classifier ({saved['head_retrain']}); start from a run without")
    head = {"head_prior_shift": prior_shift, "progress": progress}
    if not keep:
        head.update(head_retrain=method, head_views=views, head_epochs=epochs)
    config = TrainConfig(**{**saved, "data": str(data or saved["data"]), "out": str(out), **head})
    config.validate()
    torch_device = pick_device(device)
    loaded = load_data(config, progress)
    with atomic_directory(out, force=force) as tmp:
        shutil.copytree(model, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("resume", "report", "ranks"))
        if keep:
            result = shift_head(tmp, loaded.train.labels, prior_shift, torch_device) if prior_shift else {}
        else:
            result = retrain_head(tmp, loaded.train, loaded.val, head_settings(config), torch_device, loaded.blur, progress)
        fit_run_temperature_and_ood(tmp, loaded, config, torch_device)
        atomic_write_json(tmp / "train_config.json", dataclasses.asdict(config))
    return result
