"""PNG encoding for everything we show or write: CLI files, JSON answers, report and web pages.

One place converts RGB to OpenCV's BGR order and checks the encoder's status, so a picture
cannot come out with red and blue swapped in one output and not in another.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image: (H, W) gray or (H, W, 3) RGB."""
    ok, buffer = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode image as PNG")
    return buffer.tobytes()


def png_base64(image: np.ndarray) -> str:
    """PNG of a uint8 image as base64 text, for JSON answers."""
    return base64.b64encode(encode_png(image)).decode("ascii")


def png_data_uri(png: bytes) -> str:
    """A `data:` URI of PNG bytes, so HTML pages carry their pictures inline."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
