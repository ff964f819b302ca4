"""Integration: the real FMNIST-LT-Blur v1 dataset from Debian's files, as docs/BENCHMARK.md defines it."""

import numpy as np
import pytest

from blurfuse.cli import main
from train.data.dataset_dir import read_dataset

V1_GROUPS = ["rare", "rare", "frequent", "medium", "medium", "medium", "medium", "frequent", "frequent", "frequent"]


@pytest.mark.slow
def test_build_the_real_benchmark_dataset(tmp_path, capsys):
    assert main(["data", "--dataset", "fashion-mnist", "--out", str(tmp_path / "v1"), "--no-progress"]) == 0
    assert "frequent share 85.5 %, smallest class 0.43 %; rule followed" in capsys.readouterr().out
    dataset = read_dataset(tmp_path / "v1")
    card = dataset.card
    train_val = np.add(card["counts_after"]["train"], card["counts_after"]["val"])
    assert list(train_val) == [100, 100, 5000, 800, 800, 800, 800, 5000, 5000, 5000]
    assert sum(train_val) == 23400 and card["counts_after"]["test"] == [1000] * 10
    assert card["counts_after"]["val"] == [10, 10, 500, 80, 80, 80, 80, 500, 500, 500]
    assert card["counts_before"]["train"] == [6000] * 10
    assert card["counts_after"]["dev"] == [300] * 10 and card["dev"]["short"] == {}  # 1000-5900 left over per class
    assert round(100 * card["frequent_share"], 1) == 85.5 and round(100 * card["smallest_share"], 2) == 0.43
    assert [card["groups"][n] for n in dataset.class_names] == V1_GROUPS == dataset.groups
    for split in ("train", "val", "test", "dev"):
        labels = dataset.labels(split)
        blurred = np.array([r["blurred"] for r in dataset.split_rows(split)])
        for c in range(10):
            n = int((labels == c).sum())
            assert int(blurred[labels == c].sum()) == int(np.floor(0.4 * n + 0.5))
    # The threshold fitted on train separates blurred from sharp; the fixed 100 misses most blurred images.
    train = dataset.split_rows("train")
    scores = np.array([r["laplacian_var"] for r in train])
    truth = np.array([r["blurred"] for r in train])
    assert ((scores < dataset.feature_config.blur_threshold) == truth).mean() >= 0.95
    assert card["blur_detection"]["fitted"]["accuracy"] >= 0.95
    assert card["blur_detection"]["default"]["recall"] < 0.2
    # Byte-for-byte determinism is checked on a small build in test_data_build.py (same code path, 10x faster).
