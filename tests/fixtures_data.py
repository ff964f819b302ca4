"""Dataset fixtures: `tiny_dataset`, a real dataset dir from a small Fashion-MNIST slice."""

from __future__ import annotations

import numpy as np
import pytest

from train.data.build import BuildOptions, build_dataset
from train.data.longtail import LongTailProfile
from train.data.sources import SourceData, load_fashion_mnist

TINY_GROUPS = ("rare", "rare", "frequent", "medium", "medium", "medium", "medium", "frequent", "frequent", "frequent")
TINY_SIZES = {"frequent": 100, "medium": 15, "rare": 5}


def tiny_source(test_per_class: int = 20) -> SourceData:
    """Fashion-MNIST cut down: the first 3000 training images and `test_per_class` test images per class."""
    full = load_fashion_mnist()
    test_idx = np.concatenate([np.flatnonzero(full.test_labels == c)[:test_per_class] for c in range(10)])
    return SourceData(
        name="fashion-mnist-tiny",
        class_names=full.class_names,
        train_images=full.train_images[:3000],
        train_labels=full.train_labels[:3000],
        test_images=full.test_images[np.sort(test_idx)],
        test_labels=full.test_labels[np.sort(test_idx)],
        description="first 3000 Fashion-MNIST training images (tests)",
    )


def tiny_profile() -> LongTailProfile:
    """v1 scaled down 50x (frequent 100, medium 15, rare 5): frequent share 85.1 %, rare 1.06 %, so it
    passes the same long-tail rule the real benchmark does."""
    return LongTailProfile("tiny", tuple(TINY_SIZES[g] for g in TINY_GROUPS), TINY_GROUPS)


def tiny_options(**changes) -> BuildOptions:
    """The tiny profile with a dev split of 20 per class (the pool has about 300 per class, so none is short)."""
    return BuildOptions(**{"profile": tiny_profile(), "dev_per_class": 20, **changes})


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """470 train+val images in the v1 shape (frequent 100, medium 15, rare 5 per class), 200 test, 200 dev images."""
    return build_dataset(tiny_source(), tmp_path_factory.mktemp("data") / "tiny", tiny_options(), progress=False)
