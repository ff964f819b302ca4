"""The photo pools of the blurred-vs-clear benchmark: split per source group, crops independent of the pool.

These are what make the `wide` pool's numbers comparable with the `bundled` pool's: a seed holds out
the same bundled photos in both, and a photo's crops are the same pixels whichever pool it is in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features import load_image
from train.data import photos as photo_pool
from train.data.photos import (make_blur_photo_folder, sample_photo_groups, sample_photo_paths, split_photo_groups,
                               split_photos, training_photo_groups)


def _names(prefix: str, n: int) -> list[Path]:
    return [Path(f"{prefix}{i:02d}.png") for i in range(n)]


def test_each_group_is_split_as_if_alone_so_bundled_test_photos_stay_held_out():
    bundled, extra = _names("b", 15), _names("e", 18)
    alone = split_photos(bundled, 0.3, seed=3)
    joined = split_photo_groups({"bundled": bundled, "extra": extra}, 0.3, seed=3)
    assert set(alone["test"]) <= set(joined["test"]) and set(alone["train"]) <= set(joined["train"])
    assert not set(joined["test"]) & set(joined["train"])
    assert sorted(joined["test"] + joined["train"]) == sorted(bundled + extra)
    assert len([p for p in joined["test"] if p.name.startswith("e")]) == round(0.3 * 18)


def test_training_groups_drop_exactly_the_test_photos():
    groups = {"bundled": _names("b", 15), "extra": _names("e", 18)}
    test = split_photo_groups(groups, 0.3, seed=1)["test"]
    kept = training_photo_groups(groups, 0.3, seed=1)
    assert sorted(p for paths in kept.values() for p in paths) == sorted(set(sum(groups.values(), [])) - set(test))


def test_bad_pool_and_too_few_photos_are_refused_with_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown photo pool 'huge'.*bundled, wide"):
        sample_photo_groups("huge")
    with pytest.raises(ValueError, match="at least 2 photos"):
        split_photos(_names("b", 1), 0.3, seed=0)
    monkeypatch.setattr(photo_pool, "OPENCV_SAMPLES_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="make photos"):
        sample_photo_groups("wide")
    (tmp_path / "partial").mkdir()
    monkeypatch.setattr(photo_pool, "OPENCV_SAMPLES_DIR", tmp_path / "partial")
    with pytest.raises(FileNotFoundError, match="fruits.jpg"):
        sample_photo_groups("wide")


def test_a_photos_crops_do_not_depend_on_the_other_photos_in_the_pool(tmp_path):
    bundled = sample_photo_paths()[:3]
    extra = sample_photo_paths()[3:6]
    small = make_blur_photo_folder(tmp_path / "small", crop=32, crops_per_photo=4, seed=0, photos={"bundled": bundled})
    wide = make_blur_photo_folder(tmp_path / "wide", crop=32, crops_per_photo=4, seed=0,
                                  photos={"bundled": bundled, "extra": extra})
    wide_by_path = {c.path: c for c in wide}
    assert {c.photo for c in wide} == {p.name for p in bundled + extra}
    for crop in small:
        assert wide_by_path[crop.path] == crop
        assert np.array_equal(load_image(tmp_path / "small" / crop.path), load_image(tmp_path / "wide" / crop.path))


def test_crops_are_cut_where_the_photo_has_detail_and_is_in_focus_and_a_flat_photo_is_refused():
    import cv2

    from features import to_gray
    from train.data.photos import MIN_DETAIL, crop_detail, is_soft_gray, photo_crops

    rng = np.random.default_rng(0)
    image = np.full((200, 600, 3), 180, np.uint8)  # left third flat "sky"
    image[:, 200:] = rng.integers(0, 256, (200, 400, 3), dtype=np.uint8)
    image[:, 400:] = cv2.GaussianBlur(image[:, 400:], (0, 0), 2.0)  # right third out of focus
    crops = photo_crops(image, "thirds.png", "train", 64, 40, np.random.default_rng(1))
    assert len(crops) == 40
    sharp = [to_gray(pixels) for info, pixels in crops if not info.kind]
    assert all(crop_detail(gray) >= MIN_DETAIL and not is_soft_gray(gray) for gray in sharp)
    assert crop_detail(np.full((64, 64), 180.0)) < MIN_DETAIL and is_soft_gray(to_gray(image[:64, 450:514]))
    with pytest.raises(ValueError, match="flat.png: no 64 px crop that is in focus with detail"):
        photo_crops(np.full((100, 100, 3), 90, np.uint8), "flat.png", "train", 64, 2, np.random.default_rng(1))
