"""A blurred-vs-clear folder made from real photographs available offline.

Why scikit-image's and scikit-learn's photos first: they are on every machine that installs the
project (no download), they are real camera photographs of varied scenes (people, animals, food,
texture, space, a retina, text), and there are enough of them to hold whole photos out for testing. Synthetic test patterns
(chessboard, colour wheel, logo, phantom), the silhouette (horse), the tiny ones and the photo that
is already motion-blurred (clock_motion) are left out; of the stereo pair only the left view is used.
Photos that are soft at their own resolution are left out too, by a rule fixed before any model was
scored: a photo whose finest detail is as smooth as white noise after the lightest blur of the set
(Gaussian sigma 1 px; `features.frequency.axis_lag_ratio` below `SOFTNESS_LIMIT`) cannot be called
"Undistorted" against that blur. That drops brick (a soft-focus texture), cell (a microscope image)
and retina (a fundus photograph): their sharp crops score like lightly blurred crops of other photos
by every single-image measure tried, so a label would be a guess about the optics, not the blur.

Two pools. `bundled` is the photos scikit-image and scikit-learn ship (15 sharp ones, on every
install). `wide` adds matplotlib's one photo and 25 scenes from OpenCV's sample data (Debian package
`opencv-doc`, `make photos`): 33 sharp photos instead of 15, so a split holds out 9 photos instead
of 4 (a steadier estimate) and trains on 24 scenes instead of 11 (bench/results). One file
per scene: of stereo pairs, image pairs and calibration series only the first view is listed, so a
scene cannot sit on both sides of a split. Scans, renders, drawings and photos that were blurred
on purpose (text_motion, licenseplate_motion) are not listed; the softness rule drops the rest.
Each pool is split per source group with the same seeded rule, so the `bundled` photos a seed holds
out stay held out in the `wide` pool and the two pools' tables can be compared on them.

Each photo is blurred as a whole (so the kernel never sees a crop border), then `crops_per_photo`
squares of `crop` px are cut at native resolution, where the photo has detail and is in focus. A
flat crop (sky, a blank wall) looks the same blurred or not, and a crop of an out-of-focus
background is blurred by the lens, so "Undistorted" would be the wrong label for it; either way the
answer could only be guessed. A position is drawn again when the lightest blur of the set would
change its sharp pixels by less than `MIN_DETAIL` (half a gray level on average: after 8-bit
rounding most pixels keep their value), or when the sharp crop is soft by the photo rule above
(`is_soft_gray`). Both rules look at the sharp pixels only, the same for both labels, and were
fixed from seed 0's training-side photos before any test score (sky of china.jpg labelled Blurred
among the dev mistakes; sharp crops of fruits.jpg, stuff.jpg and squirrel_cls.jpg, photos with
out-of-focus regions, failing in a leave-one-photo-out regression). Every other crop comes from a
blurred copy, with kind and strength cycling through `STRENGTHS`. Photos, not crops, are split into train and test:
no scene is on both sides. The layout is the one `blurfuse data --dataset folder` reads:
`ROOT/{train,test}/{Blurred,Undistorted}/NAME.png`, plus `ROOT/crops.csv` saying where each crop
came from (photo, kind, strength, parameter).
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Mapping
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
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg",)
OPENCV_PHOTOS = ("aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "box_in_scene.png",
                 "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png",
                 "home.jpg", "left.jpg", "left01.jpg", "leuvenA.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg",
                 "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png")
# Where Debian's opencv-doc puts OpenCV's sample data; BLURFUSE_OPENCV_SAMPLES points elsewhere.
OPENCV_SAMPLES_DIR = Path(os.environ.get("BLURFUSE_OPENCV_SAMPLES", "/usr/share/doc/opencv-doc/examples/data"))
PHOTO_POOLS = ("bundled", "wide")
# Blur strengths at native resolution: gaussian sigma px, motion length px, defocus radius px.
STRENGTHS: dict[str, dict[str, float]] = {
    "gaussian": {"light": 1.0, "medium": 2.0, "strong": 3.0},
    "motion": {"light": 5.0, "medium": 9.0, "strong": 15.0},
    "defocus": {"light": 1.5, "medium": 3.0, "strong": 4.5},
}
BLURRED, SHARP = "Blurred", "Undistorted"
SOFTNESS_LIMIT = gaussian_noise_lag_ratio(min(STRENGTHS["gaussian"].values()))
MIN_DETAIL = 0.5  # gray levels (0-255): see the module doc
POSITION_TRIES = 200


@dataclass(frozen=True)
class Crop:
    photo: str
    split: str
    label: str  # BLURRED or SHARP
    kind: str  # "" when sharp
    strength: str
    param: float
    path: str  # relative to the folder root


def is_soft_gray(gray: np.ndarray) -> bool:
    """True when the finest detail of a (H, W) gray image is smoother than `SOFTNESS_LIMIT` (see the module doc)."""
    return float(axis_lag_ratio(gray)[0]) < SOFTNESS_LIMIT


def is_soft(path: Path) -> bool:
    """`is_soft_gray` of the photo at `path`, whole."""
    return is_soft_gray(to_gray(load_image(path)))


def _bundled_photos() -> list[Path]:
    import skimage
    import sklearn

    skimage_dir = Path(skimage.__file__).parent / "data"
    sklearn_dir = Path(sklearn.__file__).parent / "datasets" / "images"
    found = [p for p in [skimage_dir / n for n in SKIMAGE_PHOTOS] + [sklearn_dir / n for n in SKLEARN_PHOTOS] if p.is_file()]
    if len(found) < 4:
        raise FileNotFoundError(f"fewer than 4 sample photographs found under {skimage_dir} and {sklearn_dir}")
    return found


def _extra_photos() -> list[Path]:
    import matplotlib

    if not OPENCV_SAMPLES_DIR.is_dir():
        raise FileNotFoundError(f"OpenCV's sample photos are not in {OPENCV_SAMPLES_DIR}: run `make photos` (Debian "
                                "package opencv-doc), set BLURFUSE_OPENCV_SAMPLES to a copy of OpenCV's samples/data, "
                                "or use the bundled pool")
    mpl_dir = Path(matplotlib.get_data_path()) / "sample_data"
    paths = [mpl_dir / n for n in MATPLOTLIB_PHOTOS] + [OPENCV_SAMPLES_DIR / n for n in OPENCV_PHOTOS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"sample photos missing: {', '.join(missing)}")
    return paths


def sample_photo_groups(pool: str = "bundled", include_soft: bool = False) -> dict[str, list[Path]]:
    """The pool's photographs by source group (split separately, see the module doc); without
    `include_soft`, those sharp at their own resolution only."""
    if pool not in PHOTO_POOLS:
        raise ValueError(f"unknown photo pool {pool!r}; choose one of {', '.join(PHOTO_POOLS)}")
    groups = {"bundled": _bundled_photos()}
    if pool == "wide":
        groups["extra"] = _extra_photos()
    return {name: [p for p in paths if include_soft or not is_soft(p)] for name, paths in groups.items()}


def sample_photo_paths(include_soft: bool = False, pool: str = "bundled") -> list[Path]:
    """Every photograph of the pool, one list (see `sample_photo_groups`)."""
    return [p for paths in sample_photo_groups(pool, include_soft).values() for p in paths]


def split_photos(paths: list[Path], test_share: float, seed: int) -> dict[str, list[Path]]:
    """Whole photos to train or test (at least one each), by a seeded permutation."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must lie in (0, 1); got {test_share}")
    if len(paths) < 2:
        raise ValueError(f"a split needs at least 2 photos; got {len(paths)}")
    order = np.random.default_rng(seed).permutation(len(paths))
    n_test = min(len(paths) - 1, max(1, round(test_share * len(paths))))
    return {"test": [paths[i] for i in sorted(order[:n_test])], "train": [paths[i] for i in sorted(order[n_test:])]}


def split_photo_groups(groups: Mapping[str, list[Path]], test_share: float, seed: int) -> dict[str, list[Path]]:
    """`split_photos` on each source group with the same seed, the sides joined."""
    parts = [split_photos(list(paths), test_share, seed) for paths in groups.values()]
    return {side: [p for part in parts for p in part[side]] for side in ("test", "train")}


def folder_splits(groups: Mapping[str, list[Path]], test_share: float, seed: int,
                  train_photos: int | None = None) -> dict[str, list[Path]]:
    """The photos a folder is built from, by side: `split_photo_groups`, then with `train_photos`
    only that many training photos (a seeded choice; the test side is unchanged, so a run trained
    on a dozen photos is scored on the same test photos as one trained on all of them)."""
    splits = split_photo_groups(groups, test_share, seed)
    if train_photos is None:
        return splits
    if not 2 <= train_photos <= len(splits["train"]):
        raise ValueError(f"train_photos must lie in [2, {len(splits['train'])}] (the split's training photos); "
                         f"got {train_photos}")
    keep = sorted(np.random.default_rng([seed, 12]).permutation(len(splits["train"]))[:train_photos])
    return {"test": splits["test"], "train": [splits["train"][i] for i in keep]}


def training_photo_groups(groups: Mapping[str, list[Path]], test_share: float, seed: int) -> dict[str, list[Path]]:
    """Each group without the photos `split_photo_groups(groups, test_share, seed)` holds out for
    testing: what a dev split is cut from."""
    return {name: split_photos(list(paths), test_share, seed)["train"] for name, paths in groups.items()}


def crop_detail(gray: np.ndarray) -> float:
    """Mean absolute change, in gray levels, that the lightest Gaussian blur of the set makes to `gray`."""
    sigma = min(STRENGTHS["gaussian"].values())
    pixels = gray.astype(np.float32)
    return float(np.abs(pixels - cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)).mean())


def _detailed_position(gray: np.ndarray, crop: int, rng: np.random.Generator, photo: str,
                       anywhere: bool = False) -> tuple[int, int]:
    """A random top-left corner whose sharp crop has at least `MIN_DETAIL` and is not soft (any, with `anywhere`)."""
    h, w = gray.shape
    for _ in range(POSITION_TRIES):
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        square = gray[y : y + crop, x : x + crop]
        if anywhere or (crop_detail(square) >= MIN_DETAIL and not is_soft_gray(square)):
            return y, x
    raise ValueError(f"{photo}: no {crop} px crop that is in focus with detail >= {MIN_DETAIL} gray levels "
                     f"in {POSITION_TRIES} tries")


def _blur_schedule() -> list[tuple[str, str, float]]:
    return [(kind, strength, value) for kind, levels in STRENGTHS.items() for strength, value in levels.items()]


def photo_crops(image: np.ndarray, photo: str, split: str, crop: int, count: int, rng: np.random.Generator,
                offset: int = 0, anywhere: bool = False) -> list[tuple[Crop, np.ndarray]]:
    """`count` crops of one photo, where it has detail and is in focus: even ones sharp, odd ones
    blurred (kind and strength cycling from `offset`)."""
    h, w = image.shape[:2]
    if min(h, w) < crop:
        raise ValueError(f"{photo} is {w}x{h}, smaller than the {crop} px crop")
    gray = to_gray(image)
    schedule = _blur_schedule()
    blurred_copies: dict[tuple[str, float], np.ndarray] = {}
    out = []
    for i in range(count):
        y, x = _detailed_position(gray, crop, rng, photo, anywhere)
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
                           seed: int = 0, photos: Mapping[str, list[Path]] | None = None,
                           force: bool = False, anywhere: bool = False, train_photos: int | None = None) -> list[Crop]:
    """Write the folder (atomically) and return every crop's record, train first. Each photo's crop
    positions come from its own seeded generator, so they do not depend on the other photos of the
    pool; the blur kinds cycle from the photo's place in its split, which the source groups keep
    for the bundled photos (they come first).
    `anywhere` cuts crops without the detail and focus rules (to measure what they change);
    `train_photos` trains on that many of the split's training photos only (`folder_splits`)."""
    splits = folder_splits(photos if photos is not None else sample_photo_groups(), test_share, seed, train_photos)
    crops: list[Crop] = []
    with atomic_directory(Path(root), force=force) as tmp:
        for split in ("train", "test"):
            for label in (BLURRED, SHARP):
                (tmp / split / label).mkdir(parents=True)
            for k, path in enumerate(splits[split]):
                image = load_image(path)
                rng = np.random.default_rng([seed + 1, zlib.crc32(path.name.encode())])
                for info, pixels in photo_crops(image, path.name, split, crop, crops_per_photo, rng, offset=k,
                                                   anywhere=anywhere):
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
