"""compute_features: one path from any images to scores, verdicts and edge maps."""

import numpy as np
import pytest

from features import FeatureConfig, compute_features, laplacian_variance, load_image
from features.image import to_gray


def test_batch_list_and_single_agree(fmnist_images):
    images = np.repeat(fmnist_images(6)[..., None], 3, axis=3)
    config = FeatureConfig(size=28, blur_threshold=3000.0)
    batch = compute_features(images, config)
    listed = compute_features(list(images), config)
    single = compute_features(images[2], config)
    assert np.array_equal(batch.edge_map, listed.edge_map)
    assert np.allclose(batch.laplacian_var, listed.laplacian_var)
    assert np.array_equal(single.edge_map[0], batch.edge_map[2])
    assert batch.laplacian_var[2] == pytest.approx(laplacian_variance(to_gray(images[2])))
    assert batch.edge_path == ["hysteresis" if b else "canny" for b in batch.blurred]
    assert (batch.blurred == (batch.laplacian_var < 3000.0)).all()


def test_uploads_of_any_size_are_scored_at_the_canonical_size(fmnist_images):
    small = np.repeat(fmnist_images(1)[0][..., None], 3, axis=2)
    large = np.asarray(load_image(np.kron(small[..., 0], np.ones((8, 8), np.uint8))))
    config = FeatureConfig(size=28)
    a, b = compute_features(small, config), compute_features(large, config)
    assert b.gray.shape == (1, 28, 28) and b.edge_map.shape == (1, 28, 28)
    # Upscaled 8x then area-shrunk back: nearly the same image, so nearly the same score.
    assert b.laplacian_var[0] == pytest.approx(a.laplacian_var[0], rel=0.05)
    tiny = compute_features(load_image(np.zeros((1, 1), np.uint8)), config)
    assert tiny.gray.shape == (1, 28, 28)


def test_config_round_trip_fingerprint_and_validation():
    config = FeatureConfig(size=32, blur_threshold=1234.5)
    assert FeatureConfig.from_dict(config.to_dict()) == config
    assert config.fingerprint() == FeatureConfig.from_dict(config.to_dict()).fingerprint()
    assert config.fingerprint() != FeatureConfig(size=32, blur_threshold=1000.0).fingerprint()
    with pytest.raises(ValueError, match="size"):
        FeatureConfig(size=1)
    with pytest.raises(ValueError, match="feature config"):
        FeatureConfig.from_dict({"size": 28})
    with pytest.raises(ValueError, match="canonical"):
        compute_features([np.zeros((4, 4), np.uint8)], config)
