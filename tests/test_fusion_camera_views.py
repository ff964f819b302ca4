"""Camera views for the unfamiliar-image score (fusion.blur_views `views="camera"`, fit_ood(views="camera")):
blurred copies half of which are re-framed, both looks fitted on them, thresholds on the sharp images."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.blur_views import FRAMING_SCALE, blurred_views, reframe
from tests.conftest import sharp_test_images, warning_rate


def _square(size: int = 64, side: int = 16) -> np.ndarray:
    image = np.zeros((size, size, 3), dtype=np.uint8)
    start = (size - side) // 2
    image[start:start + side, start:start + side] = 255
    return image


def test_reframing_keeps_the_image_shape_and_moves_and_rescales_within_its_ranges():
    rng = np.random.default_rng(0)
    square = _square()
    area = (square[..., 0] > 127).sum()
    for _ in range(50):
        out = reframe(square, rng)
        assert out.shape == square.shape and out.dtype == np.uint8
        ratio = (out[..., 0] > 127).sum() / area  # the square's area scales with the zoom squared
        assert FRAMING_SCALE[0] ** 2 * 0.85 <= ratio <= FRAMING_SCALE[1] ** 2 * 1.15
    flat = np.full((28, 28, 3), 90, dtype=np.uint8)
    assert np.array_equal(reframe(flat, rng), flat)  # edge pixels repeated: nothing dark comes into view
    again = [reframe(square, np.random.default_rng(5)) for _ in range(2)]
    assert np.array_equal(again[0], again[1]) and not np.array_equal(again[0], square)


def test_camera_views_reframe_about_half_the_copies_and_unknown_views_are_refused(monkeypatch):
    import fusion.blur_views as blur_views_module

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(200)]
    calls = []
    real = blur_views_module.reframe
    monkeypatch.setattr(blur_views_module, "reframe", lambda image, r, *scale: calls.append(1) or real(image, r, *scale))
    views = blurred_views(images, seed=3, kernels="mixed", views="camera")
    assert 70 <= len(calls) <= 130 and len(views) == 200
    assert all(v.shape == im.shape and v.dtype == np.uint8 for v, im in zip(views, images))
    calls.clear()
    blurred_views(images, seed=3, kernels="mixed")
    assert not calls  # plain blur views are never re-framed
    with pytest.raises(ValueError, match="views"):
        blurred_views(images, views="zoom")


@pytest.fixture(scope="module")
def camera_pair(tiny_dataset, tmp_path_factory):
    """One tiny model (offline ImageNet weights), its score fitted as shipped (blur views and the second
    look) in one copy of the run and with camera views in another: (dataset, camera, blur) Predictors."""
    import shutil

    from fusion.predictor import Predictor
    from fusion.run_fit import fit_run_held_out
    from tests.conftest import _as_dataset, build_tiny_checkpoint

    dataset = _as_dataset(tiny_dataset)
    folder = tmp_path_factory.mktemp("camera")
    blur_run = build_tiny_checkpoint(dataset, folder / "blur", pretrained="offline")
    camera_run = shutil.copytree(blur_run, folder / "camera")
    fit_run_held_out(blur_run, dataset, progress=False, blur_views=True, familiar_view=True)
    fit_run_held_out(camera_run, dataset, progress=False, blur_views=True, familiar_view=True, views="camera")
    return dataset, Predictor.from_checkpoint(camera_run), Predictor.from_checkpoint(blur_run)


def test_camera_fit_is_stored_and_keeps_its_share_of_the_sharp_validation_images(camera_pair):
    dataset, camera, _ = camera_pair
    settings = camera.config.ood
    assert settings["views"] == "camera" and settings["blur_views"] is True and "view" in settings
    assert "sharp" in settings["fitted_on"] and settings["framing_scale"] == list(FRAMING_SCALE)
    val = dataset.load_images("val", progress=False)
    # the threshold is the keep-quantile of the validation images themselves (not of their copies)
    assert abs(warning_rate(camera, val) - (1 - settings["keep"])) <= 1.5 / len(val)


def test_camera_fit_keeps_reframed_blurred_garments_familiar_and_still_flags_noise(camera_pair):
    dataset, camera, blur_fit = camera_pair
    sharp = sharp_test_images(dataset)
    moved = blurred_views(sharp, seed=99, kernels="mixed", views="camera")  # fresh draws, not the fitting copies
    sharp_rate, moved_rate = warning_rate(camera, sharp), warning_rate(camera, moved)
    assert moved_rate <= 2 * max(sharp_rate, 0.05)  # the target: at most twice as often as sharp
    assert moved_rate / max(sharp_rate, 0.05) < warning_rate(blur_fit, moved) / max(warning_rate(blur_fit, sharp), 0.05)
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(40)]
    assert warning_rate(camera, noise) >= 0.9


def test_camera_views_need_blur_views_in_the_fit_the_config_and_the_command(tmp_path):
    from blurfuse.cli import build_parser
    from fusion.ood_store import fit_ood
    from train.recipes import TrainConfig

    with pytest.raises(ValueError, match="blur_views"):
        fit_ood(None, [], np.zeros(0), [np.zeros((28, 28, 3), np.uint8)], method="energy", views="camera")
    with pytest.raises(ValueError, match="views"):
        fit_ood(None, [], np.zeros(0), [np.zeros((28, 28, 3), np.uint8)], method="energy", blur_views=True, views="zoom")
    with pytest.raises(ValueError, match="ood_blur_views"):
        TrainConfig(data="d", out="o", ood_views="camera", ood_blur_views=False).validate()
    with pytest.raises(ValueError, match="ood_views"):
        TrainConfig(data="d", out="o", ood_views="zoom").validate()
    base = ["calibrate", "--model", str(tmp_path), "--data", str(tmp_path)]
    assert build_parser().parse_args([*base, "--ood-views", "camera"]).ood_views == "camera"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--ood-views", "zoom"])
