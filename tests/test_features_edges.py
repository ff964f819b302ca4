"""Edge maps: exact hysteresis, NMS thinning, and why blurred images need the custom path."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

from features import EdgeSettings, apply_blur, BlurSpec, canny_edges, custom_edges, edge_maps, hysteresis


def skimage_hysteresis_8(image, low, high):
    """skimage's own algorithm, with an 8-connected structure instead of scipy's default cross."""
    labels, count = ndimage.label(image > low, structure=np.ones((3, 3)))
    connected = ndimage.sum(image > high, labels, np.arange(count + 1)) > 0
    return connected[labels]


def test_hysteresis_equals_skimage_on_many_random_images():
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = rng.integers(1, 40, size=2)
        image = rng.random((h, w))
        low, high = sorted(rng.random(2))
        weak, strong = image > low, image > high
        assert np.array_equal(hysteresis(weak, strong, connectivity=4), apply_hysteresis_threshold(image, low, high))
        assert np.array_equal(hysteresis(weak, strong), skimage_hysteresis_8(image, low, high))


def test_eight_connectivity_matches_morphological_reconstruction():
    """A third, independent definition: grow the strong pixels inside the weak mask until nothing changes."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        image = rng.random((20, 20))
        weak, strong = image > 0.5, image > 0.9
        grown = ndimage.binary_propagation(strong, structure=np.ones((3, 3)), mask=weak | strong)
        assert np.array_equal(hysteresis(weak, strong), grown)


def test_batched_hysteresis_never_connects_across_images():
    rng = np.random.default_rng(2)
    stack = rng.random((40, 15, 15))
    weak, strong = stack > 0.4, stack > 0.95
    batched = hysteresis(weak, strong)
    one_by_one = np.stack([hysteresis(w, s) for w, s in zip(weak, strong)])
    assert np.array_equal(batched, one_by_one)
    # An image with no strong pixel keeps nothing, even if its neighbour in the stack has some.
    weak = np.ones((2, 5, 5), bool)
    strong = np.zeros((2, 5, 5), bool)
    strong[0, 2, 2] = True
    result = hysteresis(weak, strong)
    assert result[0].all() and not result[1].any()


def test_custom_path_thins_edges_to_one_pixel():
    image = np.zeros((1, 21, 21), np.uint8)
    image[:, :, 10:] = 200
    blurred = apply_blur(image[0], BlurSpec("gaussian", 2.0))[None]
    edges = custom_edges(blurred) > 0
    columns = np.flatnonzero(edges[0, 5])
    assert 1 <= len(columns) <= 2 and abs(columns.mean() - 9.5) <= 1  # a thin line at the step


def test_fixed_canny_misses_blurred_low_contrast_edges_the_custom_path_finds(fmnist_images):
    images = fmnist_images(50)
    blurred = np.stack([apply_blur((img * 0.35).astype(np.uint8), BlurSpec("gaussian", 2.0)) for img in images])
    canny_pixels = (canny_edges(blurred) > 0).sum(axis=(1, 2))
    custom_pixels = (custom_edges(blurred) > 0).sum(axis=(1, 2))
    assert np.median(canny_pixels) <= 2
    assert np.median(custom_pixels) >= 20


def test_edge_maps_take_the_path_of_each_verdict(fmnist_images):
    images = fmnist_images(4)
    maps, paths = edge_maps(images, np.array([True, False, True, False]))
    assert paths == ["hysteresis", "canny", "hysteresis", "canny"]
    assert np.array_equal(maps[1], canny_edges(images[1:2])[0])
    assert np.array_equal(maps[0], custom_edges(images[0:1])[0])
    assert set(np.unique(maps)) <= {0, 255}
    with pytest.raises(ValueError, match="one blur verdict per image"):
        edge_maps(images, np.array([True]))


def test_edge_settings_validate_and_round_trip():
    settings = EdgeSettings(high_ratio=0.2)
    assert EdgeSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="high_ratio"):
        EdgeSettings(high_ratio=0)
    with pytest.raises(ValueError, match="unknown"):
        EdgeSettings.from_dict({"nope": 1})
