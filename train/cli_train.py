"""Placeholder: the `train` subcommand lands here."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Placeholder until the subcommand lands."""
