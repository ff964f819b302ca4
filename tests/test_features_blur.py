"""Blur score, threshold fitting and synthetic blur kernels."""

import cv2
import numpy as np
import pytest

from features import (
    BLUR_KINDS,
    BlurSpec,
    apply_blur,
    blur_verdict,
    fit_blur_threshold,
    laplacian_variance,
    sample_blur_spec,
)


def test_laplacian_variance_equals_opencv_per_image():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 256, (20, 9, 13), dtype=np.uint8)
    expected = [cv2.Laplacian(image, cv2.CV_64F).var() for image in stack]
    assert np.allclose(laplacian_variance(stack), expected, rtol=1e-6)
    assert laplacian_variance(stack[3]) == pytest.approx(expected[3], rel=1e-6)
    with pytest.raises(ValueError, match="shape"):
        laplacian_variance(np.zeros(5))


def test_fit_threshold_finds_the_best_cut():
    scores = np.array([1, 2, 3, 10, 11, 12.0])
    blurred = np.array([True, True, True, False, False, False])
    threshold = fit_blur_threshold(scores, blurred)
    assert 3 < threshold < 10
    assert (blur_verdict(scores, threshold) == blurred).all()
    with pytest.raises(ValueError, match="both"):
        fit_blur_threshold(scores, np.ones(6, bool))
    with pytest.raises(ValueError, match="length"):
        fit_blur_threshold(scores, blurred[:3])


def test_on_fashion_mnist_fitted_threshold_beats_the_fixed_100(fmnist_images):
    images = fmnist_images(2000)
    rng = np.random.default_rng(1)
    blurred = rng.random(len(images)) < 0.4
    for i in np.flatnonzero(blurred):
        images[i] = apply_blur(images[i], sample_blur_spec(rng))
    scores = laplacian_variance(images)
    threshold = fit_blur_threshold(scores, blurred)
    fitted_acc = (blur_verdict(scores, threshold) == blurred).mean()
    recall_at_100 = blur_verdict(scores[blurred], 100.0).mean()
    assert fitted_acc > 0.95
    assert recall_at_100 < 0.3  # the original fixed threshold misses most blurred images


@pytest.mark.parametrize("spec", [BlurSpec("gaussian", 1.5), BlurSpec("motion", 5, 30.0), BlurSpec("defocus", 1.7)])
def test_kernels_are_normalised_and_blur_lowers_the_score(spec, fmnist_images):
    kernel = spec.kernel()
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5) and (kernel >= 0).all()
    image = fmnist_images(1)[0]
    out = apply_blur(image, spec)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert laplacian_variance(out) < 0.5 * laplacian_variance(image)
    rgb = np.repeat(image[..., None], 3, axis=2)
    assert apply_blur(rgb, spec).shape == rgb.shape


def test_motion_kernel_follows_its_angle():
    horizontal = BlurSpec("motion", 7, 0.0).kernel()
    vertical = BlurSpec("motion", 7, 90.0).kernel()
    assert horizontal[3].sum() == pytest.approx(1.0, abs=1e-5)
    assert vertical[:, 3].sum() == pytest.approx(1.0, abs=1e-5)


def test_sampling_covers_kinds_and_respects_ranges():
    rng = np.random.default_rng(0)
    specs = [sample_blur_spec(rng) for _ in range(600)]
    assert {s.kind for s in specs} == set(BLUR_KINDS)
    for spec in specs:
        if spec.kind == "motion":
            assert spec.param in {3, 4, 5, 6, 7} and 0 <= spec.angle < 180
        else:
            assert 1.0 <= spec.param <= 2.0
    with pytest.raises(ValueError, match="unknown"):
        sample_blur_spec(rng, kinds=("smear",))
    with pytest.raises(ValueError, match="kind"):
        BlurSpec("smear", 1.0)
