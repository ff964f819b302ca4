"""Handcrafted image features: blur score, blur verdict, edge maps, synthetic blur.

numpy / OpenCV / scikit-image / scipy only — never torch — so the data tools and the features
can be used without the model.
"""

from features.blur import DEFAULT_BLUR_THRESHOLD, blur_verdict, fit_blur_threshold, laplacian_variance
from features.edges import (
    EDGE_PATH_CANNY,
    EDGE_PATH_HYSTERESIS,
    EdgeSettings,
    canny_edges,
    custom_edges,
    edge_maps,
    edge_paths,
    hysteresis,
)
from features.image import MAX_PIXELS, load_image, resize_square, to_gray
from features.kernels import BLUR_KINDS, DEFAULT_BLUR_RANGES, BlurSpec, apply_blur, sample_blur_spec
from features.extract import FeatureConfig, Features, compute_features

__all__ = [
    "BLUR_KINDS", "DEFAULT_BLUR_RANGES", "DEFAULT_BLUR_THRESHOLD", "EDGE_PATH_CANNY", "EDGE_PATH_HYSTERESIS",
    "MAX_PIXELS", "BlurSpec", "EdgeSettings", "FeatureConfig", "Features", "apply_blur", "blur_verdict",
    "canny_edges", "compute_features", "custom_edges", "edge_maps", "edge_paths", "fit_blur_threshold", "hysteresis",
    "laplacian_variance", "load_image", "resize_square", "sample_blur_spec", "to_gray",
]
