"""Blur evidence beside the Laplacian (features.frequency) and native-resolution tiles (features.tiles)."""

from __future__ import annotations

import numpy as np
import pytest

from features import BlurSpec, apply_blur, to_gray
from features.frequency import (EVIDENCE_NAMES, EVIDENCE_SETS, LAG_NAMES, axis_lag_ratio, blur_evidence,
                                cepstral_dips, fft_high_ratio, gaussian_noise_lag_ratio, half_scale_laplacian_variance,
                                lag_energy_ratios, pyramid_band_energies)
from features.tiles import center_square, image_tiles, pad_to, paste_tiles, tile_boxes


def textured(size: int = 96, seed: int = 0) -> np.ndarray:
    """A photo-like gray image: smooth shading plus fine random texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = 100 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0)
    return np.clip(base + rng.normal(0, 25, (size, size)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("spec", [BlurSpec("gaussian", 1.5), BlurSpec("motion", 7, 30.0), BlurSpec("defocus", 2.0)])
def test_every_blur_kind_lowers_every_piece_of_evidence_that_measures_fine_detail(spec):
    sharp = textured()
    blurred = apply_blur(sharp, spec)
    before, after = blur_evidence(np.stack([sharp, blurred]))
    names = dict(zip(EVIDENCE_NAMES, range(len(EVIDENCE_NAMES))))
    for name in ("log_laplacian", "log_laplacian_ratio", "fft_high_ratio"):
        assert after[names[name]] < before[names[name]], name


def test_fft_ratio_does_not_depend_on_contrast_but_laplacian_does():
    image = textured().astype(np.float64)
    low = (image - image.mean()) * 0.3 + 128
    ratios = fft_high_ratio(np.stack([image, low]))
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-4)
    assert half_scale_laplacian_variance(low[None])[0] < half_scale_laplacian_variance(image[None])[0]


def test_lag_ratio_of_blurred_noise_follows_the_gaussian_autocorrelation():
    noise = np.random.default_rng(3).integers(0, 256, (256, 256)).astype(np.uint8)
    assert abs(axis_lag_ratio(noise)[0]) < 0.05  # white noise: lag 1 and lag 2 differences alike
    for sigma in (1.0, 2.0):
        blurred = apply_blur(noise, BlurSpec("gaussian", sigma))
        assert axis_lag_ratio(blurred)[0] == pytest.approx(gaussian_noise_lag_ratio(sigma), abs=0.05)
    assert gaussian_noise_lag_ratio(2.0) < gaussian_noise_lag_ratio(1.0) < 0


def test_motion_blur_smooths_one_direction_and_the_minimum_over_directions_finds_it():
    sharp = textured(128)
    moved = apply_blur(sharp, BlurSpec("motion", 9, 0.0))  # horizontal streaks
    (before, after) = lag_energy_ratios(np.stack([sharp, moved]))
    names = dict(zip(LAG_NAMES, range(len(LAG_NAMES))))
    drop_min = before[names["lag12_min"]] - after[names["lag12_min"]]
    drop_max = before[names["lag12_max"]] - after[names["lag12_max"]]
    assert drop_min > 0.5 and drop_min > 2 * drop_max


def test_multiscale_evidence_extends_basic_and_every_column_is_finite():
    stack = np.stack([textured(96), apply_blur(textured(96), BlurSpec("defocus", 3.0)), np.full((96, 96), 7, np.uint8)])
    basic, multi = blur_evidence(stack, "basic"), blur_evidence(stack, "multiscale")
    assert multi.shape == (3, len(EVIDENCE_SETS["multiscale"])) and np.array_equal(multi[:, : basic.shape[1]], basic)
    assert np.isfinite(multi).all()
    bands = pyramid_band_energies(stack[:2])
    assert (bands[1, :4] < bands[0, :4]).all()  # defocus lowers every band's energy
    with pytest.raises(ValueError, match="evidence set"):
        blur_evidence(stack, "fancy")
    with pytest.raises(ValueError, match="32 px"):
        blur_evidence(np.zeros((1, 16, 16), np.uint8), "multiscale")


@pytest.mark.parametrize("angle", [0.0, 30.0, 100.0])
def test_motion_blur_leaves_a_cepstral_dip_at_any_angle_that_sharp_texture_does_not(angle):
    sharp = np.stack([textured(128, seed) for seed in range(3)])
    moved = np.stack([apply_blur(g, BlurSpec("motion", 9, angle)) for g in sharp])
    dips_sharp, dips_moved = cepstral_dips(sharp), cepstral_dips(moved)
    assert (dips_moved[:, 0] < dips_sharp[:, 0] - 0.05).all()  # deeper dip
    assert (dips_moved[:, 1] < dips_sharp[:, 1] - 2).all()  # and deeper against the ring's spread


def test_cepstral_evidence_extends_multiscale_and_is_finite_on_flat_images():
    stack = np.stack([textured(64), np.full((64, 64), 7, np.uint8)])
    multi, cep = blur_evidence(stack, "multiscale"), blur_evidence(stack, "cepstral")
    assert cep.shape == (2, len(EVIDENCE_SETS["cepstral"])) and np.array_equal(cep[:, : multi.shape[1]], multi)
    assert np.isfinite(cep).all()
    with pytest.raises(ValueError, match="32 px"):
        cepstral_dips(np.zeros((1, 16, 16), np.uint8))


def test_evidence_refuses_images_too_small_to_judge():
    with pytest.raises(ValueError, match="8 px"):
        blur_evidence(np.zeros((2, 4, 4), np.uint8))


def test_centre_square_keeps_native_pixels_and_pads_small_images_by_mirroring():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (300, 451, 3), dtype=np.uint8)
    square = center_square(photo, 128)
    assert np.array_equal(square, photo[86:214, 161:289])
    small = rng.integers(0, 255, (20, 50, 3), dtype=np.uint8)
    padded = pad_to(small, 64)
    assert padded.shape == (64, 64, 3)
    assert np.array_equal(padded[22:42, 7:57], small)  # the original sits unchanged in the middle


@pytest.mark.parametrize("shape", [(128, 128), (300, 451), (90, 700), (4000, 3000)])
def test_tiles_cover_any_size_and_aspect_ratio_within_the_cap(shape):
    boxes = tile_boxes(*shape, size=128, max_tiles=16)
    assert 1 <= len(boxes) <= 16
    for y, x in boxes:
        assert 0 <= y <= max(0, shape[0] - 128) and 0 <= x <= max(0, shape[1] - 128)
    if shape[0] * shape[1] <= 16 * 128 * 128 and min(shape) >= 128:  # uncapped: every pixel is in a tile
        covered = np.zeros(shape, bool)
        for y, x in boxes:
            covered[y : y + 128, x : x + 128] = True
        assert covered.all()


def test_tiles_paste_back_into_the_image():
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 255, (200, 333), dtype=np.uint8)
    tiles, boxes, shape = image_tiles(gray[..., None].repeat(3, 2), 64, max_tiles=64)
    assert shape == gray.shape
    assert np.array_equal(paste_tiles(np.stack([to_gray(t) for t in tiles]), boxes, shape), gray)
