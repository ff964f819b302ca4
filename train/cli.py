"""Subcommands owned by the train package: `data` (build a dataset dir) and `train` (fit a model)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from train import cli_data, cli_train

    cli_data.register(subparsers)
    cli_train.register(subparsers)
