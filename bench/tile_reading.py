"""How a blur-task model reads whole photos: its `predict` answer, and each tile's answer beside it.

`blurfuse predict` reads an any-size photo as up to 16 native-resolution tiles and combines their
answers (`fusion.predictor`). To choose *how* to combine them without training a model per rule,
the bench keeps every tile's Blurred probability and a few facts about the tile's pixels, and
scores candidate rules on those (dev photos only); `predict_verdicts` is what ships, scored as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features import load_image, to_gray
from features.tiles import image_tiles, tile_contrast


@dataclass
class TileReading:
    """Per whole image: `predict`'s verdict, and per tile the Blurred probability and pixel facts."""

    verdict: np.ndarray  # (N,) bool, Blurred as `blurfuse predict` answers
    tile_prob: list[np.ndarray]  # N x (T,) calibrated probability of Blurred per tile
    tile_contrast: list[np.ndarray]  # N x (T,) coarse contrast (features.tiles.tile_contrast)


def read_tiles(run: Path, paths: list[Path], batch_size: int = 64, progress: bool = True) -> TileReading:
    """`predict`'s verdicts on the whole images, and every tile's answer (the same tiles `predict` cuts)."""
    from tqdm.auto import tqdm

    from fusion.predictor import Predictor

    predictor = Predictor.from_checkpoint(run)
    blurred_class = predictor.config.blur_task["blurred_class"]
    verdict = np.array([p.class_index == blurred_class for p in predictor.predict_batch(paths, batch_size=batch_size,
                                                                                          progress=progress)])
    probs, contrasts = [], []
    for path in tqdm(paths, desc="tiles", unit="img", disable=not progress):
        tiles, _, _ = image_tiles(load_image(path), predictor.config.input_size, predictor.config.max_tiles)
        answers = predictor.predict_batch(list(tiles), batch_size=batch_size)
        probs.append(np.array([a.probabilities[blurred_class] for a in answers]))
        contrasts.append(tile_contrast(np.stack([to_gray(t) for t in tiles])))
    return TileReading(verdict, probs, contrasts)


def _mean(p: np.ndarray, c: np.ndarray) -> bool:
    return bool(p.mean() >= 0.5)


def _median(p: np.ndarray, c: np.ndarray) -> bool:
    return bool(np.median(p) >= 0.5)


def _share(q: float):
    def rule(p: np.ndarray, c: np.ndarray) -> bool:
        return bool((p >= 0.5).mean() >= q)
    return rule


def _contrast_top(frac: float):
    def rule(p: np.ndarray, c: np.ndarray) -> bool:
        k = max(1, int(np.ceil(frac * len(p))))
        return bool(p[np.argsort(-c, kind="stable")[:k]].mean() >= 0.5)
    return rule


def _contrast_weighted(p: np.ndarray, c: np.ndarray) -> bool:
    w = c + 1e-3  # as features.tiles.tile_weights("contrast")
    return bool((w * p).sum() / w.sum() >= 0.5)


def _logit_mean(p: np.ndarray, c: np.ndarray) -> bool:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return bool(np.log(q / (1 - q)).mean() >= 0.0)


CANDIDATE_RULES = {"mean": _mean, "median": _median, "logit-mean": _logit_mean, "share>=1/4": _share(0.25),
                   "share>=1/3": _share(1 / 3), "top-half-contrast": _contrast_top(0.5),
                   "contrast-weighted": _contrast_weighted}


def rule_verdicts(reading: TileReading) -> dict[str, np.ndarray]:
    """Each candidate rule's Blurred verdict per whole image."""
    return {name: np.array([rule(p, c) for p, c in zip(reading.tile_prob, reading.tile_contrast)])
            for name, rule in CANDIDATE_RULES.items()}
