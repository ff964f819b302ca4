"""Argument types every CLI shares: paths made absolute once, at the boundary, and positive counts.

Every CLI parses its path arguments with `absolute_path`, so every layer below sees absolute
paths: a relative path would otherwise be resolved later against whatever directory that layer
assumes (Flask, for one, resolves it against its package, which made the report link of
`blurfuse serve --model runs/default` answer 404).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def absolute_path(text: str) -> Path:
    """argparse `type=`: `~` expanded, made absolute against the working directory, links resolved."""
    return Path(text).expanduser().resolve()


def positive_int(text: str) -> int:
    """argparse `type=` for counts (images, seeds, jobs): a clear message instead of a crash deep inside."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
