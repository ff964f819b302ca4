"""`blurfuse train`: fit the fusion model on a dataset dir (see train/fit.py)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from train.fit import get_args_parser

    parser = subparsers.add_parser(
        "train", parents=[get_args_parser(add_help=False)], help="train the fusion model on a dataset dir",
        description="Train the RGB + edge + blur fusion model with class-balanced sampling and a logit-adjusted loss. "
        "Multi-process: torchrun --nproc_per_node=N -m train.fit --data DIR --out RUN",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from train.fit import config_from_args, train_model

    run_dir = train_model(config_from_args(args))
    print(f"checkpoint: {run_dir / 'model.safetensors'} (+ model.json); metrics: {run_dir / 'metrics.csv'}")
    return 0
