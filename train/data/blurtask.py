"""Blur as the task: a two-class dataset whose classes *are* blurred and sharp.

A folder with `Blurred/` and `Undistorted/` (any case) is recognised as such, or any two-class
source when `blurfuse data --blur-task` says so (the class whose name starts with "blur" is the
blurred one). Then the class is the blur truth: the manifest's `blurred` column is "class is
Blurred", the blur threshold is fitted on it, the blur head is trained on it, and the builder adds
no synthetic blur (blurring an Undistorted image would make its label false).
"""

from __future__ import annotations

import numpy as np

BLURRED_NAMES = ("blurred", "blur", "blurry")
SHARP_NAMES = ("undistorted", "sharp", "clear")
DEFAULT_TILE_SIZE = 128


def detect_blur_task(class_names: list[str], explicit: bool = False) -> dict | None:
    """{"blurred_class": i, "sharp_class": j} when the classes are blur, else None.

    Recognised without being asked: exactly two classes named Blurred and Undistorted (any case,
    or blur/blurry and sharp/clear). With `explicit`, any two classes of which exactly one starts
    with "blur"; anything else is refused with the names found.
    """
    lowered = [n.strip().lower() for n in class_names]
    if len(lowered) == 2:
        blurred = [i for i, n in enumerate(lowered) if n in BLURRED_NAMES]
        sharp = [i for i, n in enumerate(lowered) if n in SHARP_NAMES]
        if len(blurred) == 1 and len(sharp) == 1:
            return {"blurred_class": blurred[0], "sharp_class": sharp[0]}
    if not explicit:
        return None
    if len(lowered) != 2:
        raise ValueError(f"--blur-task needs exactly two classes (blurred and sharp); found {list(class_names)}")
    blurred = [i for i, n in enumerate(lowered) if n.startswith("blur")]
    if len(blurred) != 1:
        raise ValueError(f"--blur-task: exactly one class name must start with 'blur' (e.g. Blurred/ and Undistorted/); found {list(class_names)}")
    return {"blurred_class": blurred[0], "sharp_class": 1 - blurred[0]}


def blur_truth(labels: np.ndarray, task: dict) -> np.ndarray:
    """True where the image's class is the blurred class."""
    return np.asarray(labels) == int(task["blurred_class"])


def card_entry(task: dict, class_names: list[str], tile_size: int) -> dict:
    """What the data card says about it."""
    return {
        "blurred_class": class_names[task["blurred_class"]],
        "sharp_class": class_names[task["sharp_class"]],
        "blurred_class_index": int(task["blurred_class"]),
        "sharp_class_index": int(task["sharp_class"]),
        "truth": "the class: an image is blurred when it is in the blurred class; no synthetic blur is added",
        "images": f"{tile_size} px squares cut from the centre of each photo at its own resolution (never resized)",
    }
