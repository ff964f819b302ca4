"""Subcommands owned by the train package: `data` (build a dataset dir) and `train` (fit a model)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from train import cli_train
    from train.data import cli as data_cli

    data_cli.register(subparsers)
    cli_train.register(subparsers)
