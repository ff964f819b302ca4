"""The one input boundary: anything a user can hand us becomes the canonical image array.

Like scikit-learn's `check_array`, inputs are validated once here with errors that say what was
wrong; everything after this function trusts its (H, W, 3) uint8 RGB array. Web uploads come
through here too, so decoding refuses decompression bombs and truncated files instead of hanging
or half-decoding them.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 40_000_000
# File suffixes taken for images when a folder is read (dataset folders, `blurfuse predict DIR`).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def load_image(source: Any) -> np.ndarray:
    """Return `source` as a C-contiguous uint8 (H, W, 3) RGB array.

    Accepts a path, encoded bytes, a numpy array or a PIL image; grayscale is repeated to three
    channels, alpha is composited on white (uploads with transparency look as they do in a
    browser), 16-bit and float images are scaled to 8 bits, animations give their first frame.
    """
    if isinstance(source, np.ndarray):
        return _canonical(source)
    if isinstance(source, Image.Image):
        return _canonical(_pil_to_array(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _canonical(_decode(bytes(source), what="image data"))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        return _canonical(_decode(path.read_bytes(), what=str(path)))
    raise ValueError(
        f"image must be a path, bytes, a numpy array or a PIL image; got {type(source).__name__}"
    )


def _decode(data: bytes, what: str) -> np.ndarray:
    if not data:
        raise ValueError(f"{what} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(
                    f"{what} is {width}x{height} pixels, more than the limit of {MAX_PIXELS:,} "
                    "(refused as a possible decompression bomb)"
                )
            image.seek(0)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(f"{what} refused as a possible decompression bomb: {error}") from None
    except UnidentifiedImageError:
        raise ValueError(f"{what} is not an image format that can be read") from None
    except (OSError, SyntaxError, EOFError) as error:
        raise ValueError(f"{what} could not be decoded (truncated or corrupt?): {error}") from None
    return _pil_to_array(image)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("L" if mode == "1" else "RGB")
    elif mode in ("LA", "PA"):
        image = image.convert("RGBA")
    array = np.asarray(image)
    if mode.startswith("I") and array.dtype != np.uint8:
        # 16-bit PNGs arrive as 'I' or 'I;16': full-range 16-bit values, not 8-bit ones in a wide type.
        array = array.astype(np.uint16 if array.max(initial=0) <= 65535 else np.float64)
    return array


def _canonical(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(
            f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {array.shape}"
        )
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ValueError(f"image has {array.shape[0] * array.shape[1]:,} pixels, more than {MAX_PIXELS:,}")
    array = _to_uint8(array)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = np.rint(array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.rint(array / 257.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise ValueError(f"integer image values must lie in [0, 65535]; got [{low}, {high}]")
        return array.astype(np.uint8) if high <= 255 else np.rint(array / 257.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ValueError("image contains NaN or infinite values")
        # Floats in [0, 1] are the convention of skimage/matplotlib; anything larger is [0, 255].
        scale = 255.0 if float(array.max()) <= 1.0 else 1.0
        return np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {array.dtype}")


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luma (OpenCV's weights)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to (size, size): area averaging when shrinking (no aliasing), bilinear when growing."""
    if size < 1:
        raise ValueError(f"size must be a positive integer; got {size}")
    height, width = image.shape[:2]
    if height == size and width == size:
        return image
    shrinking = height >= size and width >= size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)
