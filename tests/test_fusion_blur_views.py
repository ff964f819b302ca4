"""The unfamiliar-image score fitted on blurred views as well (fusion.blur_views, fit_ood(blur_views=True))."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.blur_views import blurred_views, with_blurred_views
from tests.conftest import ood_fit_pair, sharp_test_images, warning_rate


def test_blurred_views_are_seeded_softer_copies_and_labels_follow():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(6)]
    views = blurred_views(images, seed=3)
    assert all(v.shape == im.shape and v.dtype == np.uint8 and v.std() < im.std() for v, im in zip(views, images))
    assert all(np.array_equal(a, b) for a, b in zip(views, blurred_views(images, seed=3)))
    both, labels = with_blurred_views(images, np.arange(6), seed=3)
    assert len(both) == 12 and list(labels) == [0, 1, 2, 3, 4, 5] * 2 and both[0] is images[0]


def test_mixed_views_give_about_half_the_copies_a_psf_and_refuse_unknown_kernels(monkeypatch):
    import fusion.blur_views as blur_views_module

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) for _ in range(200)]
    calls = []
    real = blur_views_module.convolve_psf
    monkeypatch.setattr(blur_views_module, "convolve_psf", lambda image, kernel: calls.append(kernel.sum()) or real(image, kernel))
    views = blurred_views(images, seed=3, kernels="mixed")
    assert 70 <= len(calls) <= 130 and np.allclose(calls, 1.0, atol=1e-4)  # PSFs keep brightness
    assert all(v.shape == im.shape and v.dtype == np.uint8 and v.std() < im.std() for v, im in zip(views, images))
    with pytest.raises(ValueError, match="kernels"):
        blurred_views(images, kernels="psf-only")


@pytest.fixture(scope="module")
def stages_run_pair(tiny_dataset, tmp_path_factory):
    """The tiny model's stages score fitted twice: sharp-only and with blur views."""
    return ood_fit_pair(tiny_dataset, tmp_path_factory.mktemp("blurviews"), blur_views=True)


def test_blur_views_keep_blurred_in_domain_images_familiar(stages_run_pair):
    dataset, sharp_fit, blur_fit = stages_run_pair
    assert blur_fit.config.ood.get("blur_views") is True and "blur_views" not in sharp_fit.config.ood
    sharp = sharp_test_images(dataset)
    blurred = blurred_views(sharp, seed=99)  # fresh draws, not the fitting views
    sharp_rate, blurred_rate = warning_rate(blur_fit, sharp), warning_rate(blur_fit, blurred)
    assert blurred_rate <= 2 * max(sharp_rate, 0.05)  # the target: at most twice as often as sharp
    assert blurred_rate < warning_rate(sharp_fit, blurred)  # and fewer warnings than the sharp-only fit gives


def test_blur_views_still_flag_noise(stages_run_pair):
    _, _, blur_fit = stages_run_pair
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(40)]
    assert warning_rate(blur_fit, noise) >= 0.9


def test_training_config_and_calibrate_flag_reach_the_fit(tmp_path):
    from blurfuse.cli import build_parser
    from train.recipes import recipe_config

    assert recipe_config("default", data="d", out="o").ood_blur_views is True
    base = ["calibrate", "--model", str(tmp_path), "--data", str(tmp_path)]
    assert build_parser().parse_args(base).ood_blur_views is True  # as training fits it
    assert build_parser().parse_args([*base, "--no-ood-blur-views"]).ood_blur_views is False
