"""A blurred-vs-clear folder made from real photographs that ship with scikit-image and scikit-learn.

Why these: they are on every machine that installs the project (no download), they are real
camera photographs of varied scenes (people, animals, food, texture, space, a retina, text), and
there are enough of them to hold whole photos out for testing. Synthetic test patterns
(chessboard, colour wheel, logo, phantom), the silhouette (horse), the tiny ones and the photo that
is already motion-blurred (clock_motion) are left out; of the stereo pair only the left view is used.
Photos that are soft at their own resolution are left out too, by a rule fixed before any model was
scored: a photo whose finest detail is as smooth as white noise after the lightest blur of the set
(Gaussian sigma 1 px; `features.frequency.axis_lag_ratio` below `SOFTNESS_LIMIT`) cannot be called
"Undistorted" against that blur. That drops brick (a soft-focus texture), cell (a microscope image)
and retina (a fundus photograph): their sharp crops score like lightly blurred crops of other photos
by every single-image measure tried, so a label would be a guess about the optics, not the blur.

Each photo is blurred as a whole (so the kernel never sees a crop border), then `crops_per_photo`
squares of `crop` px are cut at native resolution; every other crop comes from a blurred copy, with
kind and strength cycling through `STRENGTHS`. Photos, not crops, are split into train and test:
no scene is on both sides. The layout is the one `blurfuse data --dataset folder` reads:
`ROOT/{train,test}/{Blurred,Undistorted}/NAME.png`, plus `ROOT/crops.csv` saying where each crop
came from (photo, kind, strength, parameter).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from features import BlurSpec, apply_blur, load_image, to_gray
from features.frequency import axis_lag_ratio, gaussian_noise_lag_ratio
from features.atomic import atomic_directory

SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "coffee.png", "coins.png",
                  "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
                  "page.png", "retina.jpg", "rocket.jpg")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
# Blur strengths at native resolution: gaussian sigma px, motion length px, defocus radius px.
STRENGTHS: dict[str, dict[str, float]] = {
    "gaussian": {"light": 1.0, "medium": 2.0, "strong": 3.0},
    "motion": {"light": 5.0, "medium": 9.0, "strong": 15.0},
    "defocus": {"light": 1.5, "medium": 3.0, "strong": 4.5},
}
BLURRED, SHARP = "Blurred", "Undistorted"
SOFTNESS_LIMIT = gaussian_noise_lag_ratio(min(STRENGTHS["gaussian"].values()))


@dataclass(frozen=True)
class Crop:
    photo: str
    split: str
    label: str  # BLURRED or SHARP
    kind: str  # "" when sharp
    strength: str
    param: float
    path: str  # relative to the folder root


def is_soft(path: Path) -> bool:
    """True when the photo's own finest detail is smoother than `SOFTNESS_LIMIT` (see the module doc)."""
    return float(axis_lag_ratio(to_gray(load_image(path)))[0]) < SOFTNESS_LIMIT


def sample_photo_paths(include_soft: bool = False) -> list[Path]:
    """The photographs available offline, skimage's then sklearn's, that exist in this install;
    without `include_soft`, those sharp at their own resolution only."""
    import skimage
    import sklearn

    skimage_dir = Path(skimage.__file__).parent / "data"
    sklearn_dir = Path(sklearn.__file__).parent / "datasets" / "images"
    paths = [skimage_dir / n for n in SKIMAGE_PHOTOS] + [sklearn_dir / n for n in SKLEARN_PHOTOS]
    found = [p for p in paths if p.is_file() and (include_soft or not is_soft(p))]
    if len(found) < 4:
        raise FileNotFoundError(f"fewer than 4 sample photographs found under {skimage_dir} and {sklearn_dir}")
    return found


def split_photos(paths: list[Path], test_share: float, seed: int) -> dict[str, list[Path]]:
    """Whole photos to train or test (at least one each), by a seeded permutation."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must lie in (0, 1); got {test_share}")
    order = np.random.default_rng(seed).permutation(len(paths))
    n_test = min(len(paths) - 1, max(1, round(test_share * len(paths))))
    return {"test": [paths[i] for i in sorted(order[:n_test])], "train": [paths[i] for i in sorted(order[n_test:])]}


def _blur_schedule() -> list[tuple[str, str, float]]:
    return [(kind, strength, value) for kind, levels in STRENGTHS.items() for strength, value in levels.items()]


def photo_crops(image: np.ndarray, photo: str, split: str, crop: int, count: int, rng: np.random.Generator,
                offset: int = 0) -> list[tuple[Crop, np.ndarray]]:
    """`count` crops of one photo: even ones sharp, odd ones blurred (kind/strength cycling)."""
    h, w = image.shape[:2]
    if min(h, w) < crop:
        raise ValueError(f"{photo} is {w}x{h}, smaller than the {crop} px crop")
    schedule = _blur_schedule()
    blurred_copies: dict[tuple[str, float], np.ndarray] = {}
    out = []
    for i in range(count):
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        if i % 2 == 0:
            source, meta = image, ("", "none", 0.0)
        else:
            kind, strength, value = schedule[(offset + i // 2) % len(schedule)]
            angle = float(rng.uniform(0, 180)) if kind == "motion" else None
            key = (kind, value, angle)
            if key not in blurred_copies:
                blurred_copies = {key: apply_blur(image, BlurSpec(kind, value, angle))}  # one copy alive at a time
            source, meta = blurred_copies[key], (kind, strength, value)
        label = BLURRED if meta[0] else SHARP
        name = f"{Path(photo).stem}-{i:03d}.png"
        info = Crop(photo, split, label, meta[0], meta[1], meta[2], f"{split}/{label}/{name}")
        out.append((info, np.ascontiguousarray(source[y : y + crop, x : x + crop])))
    return out


def make_blur_photo_folder(root: str | os.PathLike, crop: int = 128, crops_per_photo: int = 24, test_share: float = 0.3,
                           seed: int = 0, photos: list[Path] | None = None, force: bool = False) -> list[Crop]:
    """Write the folder (atomically) and return every crop's record, train first."""
    paths = photos if photos is not None else sample_photo_paths()
    splits = split_photos(paths, test_share, seed)
    rng = np.random.default_rng(seed + 1)
    crops: list[Crop] = []
    with atomic_directory(Path(root), force=force) as tmp:
        for split in ("train", "test"):
            for label in (BLURRED, SHARP):
                (tmp / split / label).mkdir(parents=True)
            for k, path in enumerate(splits[split]):
                image = load_image(path)
                for info, pixels in photo_crops(image, path.name, split, crop, crops_per_photo, rng, offset=k):
                    ok, png = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
                    if not ok:
                        raise OSError(f"could not encode {info.path}")
                    (tmp / info.path).write_bytes(png.tobytes())
                    crops.append(info)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "photo", "split", "label", "kind", "strength", "param"])
        writer.writerows([c.path, c.photo, c.split, c.label, c.kind, c.strength, c.param] for c in crops)
        (tmp / "crops.csv").write_text(buffer.getvalue())
    return crops
