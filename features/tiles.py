"""Native-resolution squares of a photo: one centre square for a dataset, a grid of tiles to predict.

Blur lives in the finest pixels: shrinking a 160 px photo to 48 px removes most of it. For the
blurred-vs-clear task images are therefore never resized; the model looks at `size` x `size`
squares cut at the photo's own resolution, and an answer for a whole photo of any size and
aspect ratio is the average over a grid of such tiles. An image smaller than a tile is mirrored
at its border up to the tile size rather than enlarged, which would blur it.

How the tiles' answers make one: `TILE_VOTES`. "mean" averages them (what every model before issue
18 part 4 does); "contrast" weights each tile by its coarse contrast (`tile_contrast`), because a
flat tile (sky, a blank wall, the dark of space) carries no blur evidence: it looks the same blurred
or not, so its answer is a guess, and a photo with much sky was called blurred on its guesses.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DEFAULT_MAX_TILES = 16
TILE_VOTES: tuple[str, ...] = ("mean", "contrast")
CONTRAST_SIGMA = 4.0  # px: coarser than any blur the detector is for (motion <= 15 px, sigma <= 3, radius <= 4.5)


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Mirror-pad (H, W[, C]) up to at least `size` on both sides; larger sides are kept."""
    h, w = image.shape[:2]
    if h >= size and w >= size:
        return image
    pad_y, pad_x = max(0, size - h), max(0, size - w)
    widths = [(pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)] + [(0, 0)] * (image.ndim - 2)
    return np.ascontiguousarray(np.pad(image, widths, mode="symmetric"))


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """The central `size` x `size` square of `image` at its own resolution (mirror-padded if smaller)."""
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"tile size must be an integer >= 8; got {size!r}")
    image = pad_to(image, size)
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def _starts(length: int, size: int, count: int) -> list[int]:
    if count <= 1 or length <= size:
        return [max(0, (length - size) // 2)]
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def tile_boxes(height: int, width: int, size: int, max_tiles: int = DEFAULT_MAX_TILES) -> list[tuple[int, int]]:
    """Top-left corners of a grid of `size` tiles covering a (height, width) image, evenly spaced.

    The grid has ceil(H/size) x ceil(W/size) tiles (overlapping where the sides are not multiples
    of `size`), thinned evenly to at most `max_tiles` so a 4000 px upload costs a bounded time.
    """
    if max_tiles < 1:
        raise ValueError(f"max_tiles must be >= 1; got {max_tiles}")
    rows, cols = max(1, math.ceil(height / size)), max(1, math.ceil(width / size))
    while rows * cols > max_tiles:
        if rows >= cols:
            rows -= 1
        else:
            cols -= 1
    return [(y, x) for y in _starts(height, size, rows) for x in _starts(width, size, cols)]


def image_tiles(image: np.ndarray, size: int, max_tiles: int = DEFAULT_MAX_TILES) -> tuple[np.ndarray, list[tuple[int, int]], tuple[int, int]]:
    """(T, size, size, C) tiles at native resolution, their corners, and the padded image's (H, W)."""
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"tile size must be an integer >= 8; got {size!r}")
    image = pad_to(image, size)
    h, w = image.shape[:2]
    boxes = tile_boxes(h, w, size, max_tiles)
    tiles = np.stack([image[y : y + size, x : x + size] for y, x in boxes])
    return np.ascontiguousarray(tiles), boxes, (h, w)


def paste_tiles(tiles: np.ndarray, boxes: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    """Reassemble per-tile maps (T, S, S) into one (H, W) map; where tiles overlap the later wins."""
    out = np.zeros(shape, dtype=tiles.dtype)
    size = tiles.shape[1]
    for tile, (y, x) in zip(tiles, boxes):
        out[y : y + size, x : x + size] = tile
    return out


def tile_contrast(gray_tiles: np.ndarray) -> np.ndarray:
    """(T, S, S) gray tiles -> (T,) standard deviation of each after a Gaussian of `CONTRAST_SIGMA` px.

    Structure at a scale the blurs barely change, so a flat tile scores low whether or not the photo
    is blurred (a fine-detail measure would not: blur removes fine detail, and weighting by it would
    favour the tiles that look sharpest)."""
    gray_tiles = np.asarray(gray_tiles)
    if gray_tiles.ndim != 3:
        raise ValueError(f"gray tiles must have shape (T, S, S); got {gray_tiles.shape}")
    return np.array([float(cv2.GaussianBlur(t.astype(np.float32), (0, 0), CONTRAST_SIGMA,
                                            borderType=cv2.BORDER_REFLECT).std()) for t in gray_tiles])


def tile_weights(gray_tiles: np.ndarray, vote: str = "mean") -> np.ndarray:
    """(T,) weights summing to 1 for combining the tiles' answers under `vote` (see the module doc);
    tiles that are all flat get equal weights."""
    if vote not in TILE_VOTES:
        raise ValueError(f"tile vote must be one of {TILE_VOTES}; got {vote!r}")
    n = len(gray_tiles)
    if n == 0:
        raise ValueError("no tiles to weigh")
    if vote == "mean" or n == 1:
        return np.full(n, 1.0 / n)
    weights = tile_contrast(gray_tiles) + 1e-3
    return weights / weights.sum()
