"""The sentences of the result page, each built from the model and the prediction it describes.

Kept in one place so that no sentence can assume a branch the model lacks or a single image where
the model read tiles: the edge-map caption counts the tiles on each edge path, the unfamiliar-image
warning quotes the model's own keep share, and the verdict and comparison come from one bit.
"""

from __future__ import annotations

from typing import Any

from features import EDGE_PATH_HYSTERESIS

CUSTOM_PATH = "custom path: Sobel → non-maximum suppression → adaptive double threshold → hysteresis"
CANNY_PATH = "OpenCV Canny"


def verdict(prediction: Any) -> str:
    return "Blurred" if prediction.blurred else "Sharp"


def comparison(prediction: Any) -> str:
    """Where the Laplacian score lies against the threshold: the same bit the verdict reads."""
    return "below" if prediction.blurred else "at or above"


def edge_caption(prediction: Any) -> str:
    """Which edge path made the map shown: one path for a single image, a count per path for tiles."""
    paths = list(prediction.tile_edge_paths) if prediction.tiles > 1 and prediction.tile_edge_paths else []
    if not paths:
        if prediction.edge_path == EDGE_PATH_HYSTERESIS:
            return f"{CUSTOM_PATH} (image judged blurred)"
        return f"{CANNY_PATH} (image judged sharp)"
    blurred = sum(path == EDGE_PATH_HYSTERESIS for path in paths)
    parts = []
    if blurred:
        parts.append(f"{CUSTOM_PATH} on {_tiles(blurred)} judged blurred")
    if len(paths) - blurred:
        parts.append(f"{CANNY_PATH} on {_tiles(len(paths) - blurred)} judged sharp")
    return f"read as {len(paths)} tiles, each judged on its own: " + "; ".join(parts)


def _tiles(n: int) -> str:
    return f"{n} tile" if n == 1 else f"{n} tiles"


def unfamiliar_warning(prediction: Any, keep: float | None) -> str:
    """The unfamiliar-image notice, quoting the share of held-out images the model's threshold keeps.

    Strong blur the model never trained on raises the warning too, on pictures it still mostly reads
    right (bench/bench_flagged_blur.py; docs/RESULTS.md, "What a flagged blurred answer is worth"), so
    "do not rely on it" would misstate a blurred image's answer: one judged blurred is told both cases."""
    share = f"{100 * keep:.0f} %" if keep else "most"
    head = (f"This image is unlike the images the model was trained on (unfamiliarity score {prediction.ood_score:.4g}, "
            f"above the threshold {prediction.ood_threshold:.4g} that {share} of held-out training-like images stay "
            "under). ")
    if getattr(prediction, "blurred", False):
        return head + ("It is also judged blurred, and strong blur alone can raise this warning: if it is a blurred "
                       "picture of one of the classes the model knows, the class below may well be right, but it is "
                       "not vouched for; if it shows something else, the class means nothing.")
    return head + "The class below is the closest of the classes it knows, not a recognition: do not rely on it."


def second_look_note(prediction: Any) -> str | None:
    """Why the answer came from a low-passed copy, when it did (`Prediction.read_from`)."""
    if getattr(prediction, "read_from", "image") == "image":
        return None
    return ("The image as uploaded looked unlike the training images (scattered, pixelated, fringed or blurred past "
            "what the model was trained on), but a low-passed copy of it did not, so the class was read from that "
            "copy: fine detail the model cannot use was smoothed away first.")
