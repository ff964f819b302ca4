"""Reading a dataset directory written by `blurfuse data`.

The manifest is the truth about the data (one row per image); the card carries what the rest of
the pipeline must agree on, above all the FeatureConfig with the blur threshold fitted on train.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from features import FeatureConfig, load_image
from train.data.splits import SPLITS

MANIFEST_COLUMNS = [
    "id", "split", "path", "label", "class_name", "group", "blurred", "blur_kind", "blur_param", "blur_angle",
    "laplacian_var",
]


def _typed(row: dict[str, str], line: int, path: Path, num_classes: int) -> dict:
    """One manifest row with its numbers parsed; a bad row is named by its line, not discovered later."""
    try:
        typed = {
            **row,
            "label": int(row["label"]),
            "blurred": {"0": False, "1": True}[row["blurred"]],
            "blur_param": float(row["blur_param"]) if row["blur_param"] else None,
            "blur_angle": float(row["blur_angle"]) if row["blur_angle"] else None,
            "laplacian_var": float(row["laplacian_var"]),
        }
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: malformed manifest row on line {line}: {type(error).__name__} {error}") from None
    if typed["split"] not in SPLITS:
        raise ValueError(f"{path}: line {line}: split must be one of {SPLITS}; got {typed['split']!r}")
    if not 0 <= typed["label"] < num_classes:
        raise ValueError(f"{path}: line {line}: label {typed['label']} outside the card's {num_classes} classes")
    return typed


@dataclass
class DatasetDir:
    root: Path
    card: dict
    rows: list[dict]
    class_names: list[str]
    groups: list[str]
    feature_config: FeatureConfig

    def split_rows(self, split: str) -> list[dict]:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
        return [r for r in self.rows if r["split"] == split]

    @property
    def splits(self) -> list[str]:
        """The splits that hold images, in SPLITS order (a dataset built before dev existed has none)."""
        present = {r["split"] for r in self.rows}
        return [s for s in SPLITS if s in present]

    def require_split(self, split: str) -> list[dict]:
        """The rows of `split`; ValueError saying why when it has none."""
        rows = self.split_rows(split)
        if not rows:
            hint = (" (built before the dev split existed, or its profile left no images over; rebuild with "
                    "'blurfuse data' to get one)" if split == "dev" else "")
            raise ValueError(f"split {split!r} of {self.root} has no images{hint}")
        return rows

    def labels(self, split: str) -> np.ndarray:
        return np.array([r["label"] for r in self.split_rows(split)], dtype=np.int64)

    def train_counts(self) -> list[int]:
        counts = np.bincount(self.labels("train"), minlength=len(self.class_names))
        return [int(c) for c in counts]

    def load_images(self, split: str, progress: bool = True) -> np.ndarray:
        """All images of a split as an (N, H, W, 3) uint8 batch, in manifest order."""
        rows = self.require_split(split)

        def read(row: dict) -> np.ndarray:
            image = cv2.imread(str(self.root / row["path"]), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise ValueError(f"cannot read image {self.root / row['path']}")
            if image.ndim == 3:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            return load_image(image)

        with ThreadPoolExecutor(max_workers=4) as pool:
            images = list(tqdm(pool.map(read, rows), total=len(rows), desc=f"loading {split}", unit="img", disable=not progress))
        return np.stack(images)


def read_dataset(path: str | Path) -> DatasetDir:
    """Open a dataset dir written by `blurfuse data`; ValueError says what is missing or malformed."""
    root = Path(path)
    manifest, card_path = root / "manifest.csv", root / "card.json"
    if not manifest.is_file() or not card_path.is_file():
        raise ValueError(f"{root} is not a blurfuse dataset directory (needs manifest.csv and card.json; build one with 'blurfuse data')")
    try:
        card = json.loads(card_path.read_text())
        class_names = list(card["class_names"])
        groups = [card["groups"][name] for name in class_names]
        feature_config = FeatureConfig.from_dict(card["feature_config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{card_path} is not a valid data card: {error}") from None
    with open(manifest, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{manifest} lacks columns {sorted(missing)}")
        rows = [_typed(row, i + 2, manifest, len(class_names)) for i, row in enumerate(reader)]
    if not rows:
        raise ValueError(f"{manifest} has no rows")
    return DatasetDir(root=root, card=card, rows=rows, class_names=class_names, groups=groups, feature_config=feature_config)
