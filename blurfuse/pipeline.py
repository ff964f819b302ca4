"""`blurfuse run`: the main job — build the dataset, train the default recipe, write the report, serve."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Placeholder until the end-to-end job lands."""
