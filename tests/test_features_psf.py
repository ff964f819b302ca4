"""Randomised PSFs (features.psf) and their batched application (train.psf_batch)."""

from __future__ import annotations

import numpy as np
import pytest

from features.kernels import gaussian_kernel
from features.psf import PSF_SIZE, compose_psfs, convolve_psf, disc_psfs, gaussian_psfs, sample_psfs, shake_psfs
from train.psf_batch import convolve_batch, psf_blur


def _second_moments(k: np.ndarray) -> np.ndarray:
    size = k.shape[-1]
    ys, xs = np.mgrid[0:size, 0:size] - (size - 1) / 2
    my, mx = (k * ys).sum(), (k * xs).sum()
    dy, dx = ys - my, xs - mx
    return np.array([[(k * dy * dy).sum(), (k * dy * dx).sum()], [(k * dy * dx).sum(), (k * dx * dx).sum()]])


def test_sampled_psfs_are_normalised_non_negative_and_varied():
    k = sample_psfs(np.random.default_rng(0), 200)
    assert k.shape == (200, PSF_SIZE, PSF_SIZE) and k.dtype == np.float32
    assert np.all(k >= 0)
    np.testing.assert_allclose(k.sum(axis=(1, 2)), 1.0, atol=1e-5)
    spread = np.array([np.trace(_second_moments(x)) for x in k])
    assert spread.min() < 1.0 < 6.0 < spread.max()  # mild and strong blurs both drawn


def test_gaussian_psf_has_the_asked_sigmas_and_rotation():
    k = gaussian_psfs(np.array([3.0]), np.array([1.0]), np.array([0.0]))[0]
    m = _second_moments(k)
    assert m[1, 1] == pytest.approx(9.0, rel=0.08) and m[0, 0] == pytest.approx(1.0, rel=0.05)
    rotated = _second_moments(gaussian_psfs(np.array([3.0]), np.array([1.0]), np.array([np.pi / 2]))[0])
    assert rotated[0, 0] == pytest.approx(m[1, 1], rel=0.02)


def test_disc_radius_sets_the_support():
    k = disc_psfs(np.array([1.0, 3.0]))
    support = (k > 1e-6).sum(axis=(1, 2))
    assert support[0] < support[1]
    assert support[1] == pytest.approx(np.pi * 9, rel=0.35)


def test_shake_path_spans_its_length():
    k = shake_psfs(np.random.default_rng(1), np.array([15.0]))[0]
    ys, xs = np.nonzero(k > 1e-4)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min())
    assert 5 <= extent <= 16  # a curved 15 px path spans less than 15 px but far more than a point


def test_composition_adds_spread():
    a = gaussian_psfs(np.array([1.5]), np.array([1.5]), np.array([0.0]))
    both = compose_psfs(a, a)
    assert np.trace(_second_moments(both[0])) == pytest.approx(2 * np.trace(_second_moments(a[0])), rel=0.05)


def test_convolve_batch_equals_the_per_image_psf_blur():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 28, 28, 3), dtype=np.uint8)
    kernels = sample_psfs(rng, 5)
    out = convolve_batch(images, kernels)
    for image, kernel, got in zip(images, kernels, out):
        # the per-image form (blurred views of any-size photos) carries training's blur to within rounding
        assert np.abs(got.astype(int) - convolve_psf(image, kernel).astype(int)).max() <= 1
    asymmetric = np.zeros((1, 5, 5), dtype=np.float32)
    asymmetric[0, 2, 4] = 1.0  # a one-pixel shift: a convolution moves the image right, a correlation left
    ramp = np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))
    assert convolve_psf(ramp, asymmetric[0])[10, 10] == ramp[10, 8] == convolve_batch(ramp[None], asymmetric)[0, 10, 10]


def test_convolve_batch_keeps_gray_shape_and_rejects_floats():
    images = np.full((2, 28, 28), 100, dtype=np.uint8)
    out = convolve_batch(images, np.stack([gaussian_kernel(1.0)] * 2))
    assert out.shape == images.shape and np.all(out == 100)
    with pytest.raises(ValueError, match="uint8"):
        convolve_batch(images.astype(np.float32), np.stack([gaussian_kernel(1.0)] * 2))


def test_psf_blur_softens_images():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (8, 28, 28, 3), dtype=np.uint8)
    out = psf_blur(images, rng)
    assert out.shape == images.shape and out.std() < images.std()
