"""Which named recipe a dataset calls for, when the user names none.

A blurred-vs-clear dataset (its data card holds `blur_task`, written by `blurfuse data`) trains
well only with the `blur-task` recipe (a blur-only model on tiles); every other dataset gets
`default`. An explicit `--recipe` always wins. The choice and its reason are logged, so a run
dir says why it holds the recipe it holds.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("blurfuse.train")

DEFAULT_RECIPE = "default"
BLUR_TASK_RECIPE = "blur-task"


def read_card(data: str | os.PathLike) -> dict:
    """The dataset's data card, or {} when the dir has none (training reports that itself)."""
    path = Path(data) / "card.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); rebuild the dataset with `blurfuse data`") from None


def choose_recipe(requested: str | None, card: dict) -> tuple[str, str]:
    """(recipe name, why): the requested one when given, else what the card calls for."""
    if requested is not None:
        return requested, "named with --recipe"
    if card.get("blur_task"):
        return BLUR_TASK_RECIPE, "the data card says the classes are blurred vs sharp (blur_task)"
    return DEFAULT_RECIPE, "the data card describes an ordinary classification task"


def pick_recipe(requested: str | None, data: str | os.PathLike) -> str:
    """`choose_recipe` for the dataset dir `data`, logged."""
    name, why = choose_recipe(requested, read_card(data))
    log.info("recipe %s: %s", name, why)
    return name
