"""Integration: the real FMNIST-LT-Blur v1 dataset from Debian's files, as the protocol defines it."""

import numpy as np
import pytest

from blurfuse.cli import main
from train.dataset_dir import read_dataset


@pytest.mark.slow
def test_build_the_real_benchmark_dataset(tmp_path):
    assert main(["data", "--dataset", "fashion-mnist", "--out", str(tmp_path / "v1"), "--no-progress"]) == 0
    dataset = read_dataset(tmp_path / "v1")
    card = dataset.card
    train_val = np.add(card["counts_after"]["train"], card["counts_after"]["val"])
    assert list(train_val) == [100, 100, 5000, 800, 800, 800, 800, 5000, 5000, 5000]
    assert sum(train_val) == 23400 and card["counts_after"]["test"] == [1000] * 10
    assert card["counts_after"]["val"] == [10, 10, 500, 80, 80, 80, 80, 500, 500, 500]
    assert card["frequent_share"] == pytest.approx(0.8547, abs=5e-4)
    assert card["smallest_share"] == pytest.approx(0.0043, abs=1e-4)
    assert [card["groups"][n] for n in dataset.class_names] == [
        "rare", "rare", "frequent", "medium", "medium", "medium", "medium", "frequent", "frequent", "frequent",
    ]
    for split in ("train", "val", "test"):
        labels = dataset.labels(split)
        blurred = np.array([r["blurred"] for r in dataset.split_rows(split)])
        for c in range(10):
            n = int((labels == c).sum())
            assert int(blurred[labels == c].sum()) == int(np.floor(0.4 * n + 0.5))
    assert card["blur_detection"]["fitted"]["accuracy"] >= 0.95
    assert card["blur_detection"]["default"]["recall"] < 0.2  # the fixed threshold 100 misses most blurred images
    # Determinism: the same command again gives the same manifest, byte for byte.
    assert main(["data", "--out", str(tmp_path / "again"), "--no-progress"]) == 0
    assert (tmp_path / "v1" / "manifest.csv").read_bytes() == (tmp_path / "again" / "manifest.csv").read_bytes()
