"""Textbook pixel-loop references, kept to check and to time the vectorised feature code against."""

from __future__ import annotations

from collections import deque

import numpy as np


def flood_fill_hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """8-connected hysteresis by breadth-first search from every strong pixel, one pixel at a time."""
    weak = weak | strong
    h, w = weak.shape
    out = np.zeros((h, w), bool)
    queue = deque((y, x) for y in range(h) for x in range(w) if strong[y, x])
    for y, x in queue:
        out[y, x] = True
    while queue:
        y, x = queue.popleft()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and weak[ny, nx] and not out[ny, nx]:
                    out[ny, nx] = True
                    queue.append((ny, nx))
    return out
