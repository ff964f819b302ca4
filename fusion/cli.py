"""Subcommands owned by the fusion package (registered into the `blurfuse` console script)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands. Placeholder until the package's commands land."""
