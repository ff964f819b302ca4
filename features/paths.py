"""Command-line paths, made absolute once, at the boundary.

Every CLI parses its path arguments with `absolute_path`, so every layer below sees absolute
paths: a relative path would otherwise be resolved later against whatever directory that layer
assumes (Flask, for one, resolves it against its package, which made the report link of
`blurfuse serve --model runs/default` answer 404).
"""

from __future__ import annotations

from pathlib import Path


def absolute_path(text: str) -> Path:
    """argparse `type=`: `~` expanded, made absolute against the working directory, links resolved."""
    return Path(text).expanduser().resolve()
