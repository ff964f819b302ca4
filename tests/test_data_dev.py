"""The dev split: balanced, disjoint from train/val/test, deterministic, blurred by the rule, and
invisible to the other splits (adding it changed no train/val/test image, row or blur)."""

import json
import shutil

import numpy as np
import pytest

from train.data.build import build_dataset, plan_build
from train.data.dataset_dir import read_dataset
from train.data.longtail import LongTailProfile
from train.data.sources import SourceData


def round_half_up(x):
    return int(np.floor(x + 0.5))


def source_keys(split):
    """Where each image came from: (which source array, index in it)."""
    return {("test" if split.from_test else "train", int(i)) for i in split.source_index}


def folder_like_source(tiny_source) -> SourceData:
    """A source without its own test set (like a flat image folder): test is held out of the pool."""
    full = tiny_source(test_per_class=1)
    return SourceData("folder-like", full.class_names, full.train_images, full.train_labels, None, None, "tests")


@pytest.mark.parametrize("layout", ["own test set", "folder-like"])
def test_dev_is_disjoint_from_train_val_and_test_and_balanced(layout, tiny_options, tiny_source):
    source = tiny_source() if layout == "own test set" else folder_like_source(tiny_source)
    plan = plan_build(source, tiny_options())
    keys = {name: source_keys(split) for name, split in plan.splits.items()}
    assert len(keys["dev"]) == len(plan.splits["dev"].labels) == 200
    for other in ("train", "val", "test"):
        assert not keys["dev"] & keys[other], other
    assert plan.counts("dev") == [20] * 10
    # Never a training image: no sharp dev image equals a training image pixel for pixel.
    train_pixels = {plan.source.train_images[i].tobytes() for i in plan.splits["train"].source_index}
    sharp = [i for i, spec in zip(plan.splits["dev"].source_index, plan.splits["dev"].specs) if spec is None]
    assert all(plan.source.train_images[i].tobytes() not in train_pixels for i in sharp)


def test_train_and_val_are_the_documented_long_tail_draw_whatever_dev_is(tiny_options, tiny_profile, tiny_source):
    """Steps 1-2 of the protocol written out independently: default_rng(seed), classes in order,
    permutation(members)[:count], validation = the first round(0.1 * count) of each draw."""
    source = tiny_source()
    rng = np.random.default_rng(0)
    expected_train, expected_val = set(), set()
    for c, count in enumerate(tiny_profile().counts):
        chosen = rng.permutation(np.flatnonzero(source.train_labels == c))[:count]
        n_val = max(1, round_half_up(0.1 * count))
        expected_val |= set(chosen[:n_val].tolist())
        expected_train |= set(chosen[n_val:].tolist())
    for dev_per_class in (0, 20, 1000):
        plan = plan_build(source, tiny_options(dev_per_class=dev_per_class))
        assert set(plan.splits["train"].source_index.tolist()) == expected_train
        assert set(plan.splits["val"].source_index.tolist()) == expected_val


def test_adding_dev_changes_no_train_val_or_test_row_or_image(tmp_path, tiny_options, tiny_source):
    source = tiny_source(test_per_class=5)
    without = build_dataset(source, tmp_path / "without", tiny_options(dev_per_class=0), progress=False)
    with_dev = build_dataset(source, tmp_path / "with", tiny_options(), progress=False)
    old = without.rows
    assert [r for r in with_dev.rows if r["split"] != "dev"] == old
    assert all((without.root / r["path"]).read_bytes() == (with_dev.root / r["path"]).read_bytes() for r in old)
    assert without.feature_config == with_dev.feature_config  # threshold fitted on train only
    assert without.splits == ["train", "val", "test"] and with_dev.splits == ["train", "val", "test", "dev"]
    assert not (without.root / "images" / "dev").exists()
    assert "dev was turned off" in (without.root / "card.md").read_text()


def test_dev_is_deterministic_and_blurred_by_the_rule_with_its_own_seed(tiny_options, tiny_source):
    source = tiny_source()
    a, b = plan_build(source, tiny_options()), plan_build(source, tiny_options())
    assert np.array_equal(a.splits["dev"].source_index, b.splits["dev"].source_index)
    assert a.splits["dev"].specs == b.splits["dev"].specs
    labels, blurred = a.splits["dev"].labels, a.splits["dev"].blurred
    assert [int(blurred[labels == c].sum()) for c in range(10)] == [round_half_up(0.4 * 20)] * 10
    other = plan_build(source, tiny_options(dev_blur_seed=9))
    assert other.splits["dev"].specs != a.splits["dev"].specs  # dev's blur has its own generator ...
    for name in ("train", "val", "test"):                       # ... which moves nothing else
        assert other.splits[name].specs == a.splits[name].specs
    moved = plan_build(source, tiny_options(dev_seed=9))
    assert not np.array_equal(moved.splits["dev"].source_index, a.splits["dev"].source_index)
    assert np.array_equal(moved.splits["train"].source_index, a.splits["train"].source_index)


def test_short_left_over_pool_is_said_in_the_card(tmp_path, tiny_options, tiny_profile, tiny_source):
    source = tiny_source(test_per_class=2)
    available = np.bincount(source.train_labels, minlength=10)
    counts = tuple(int(available[c]) - 3 if c == 0 else n for c, n in enumerate(tiny_profile().counts))
    profile = LongTailProfile("short", counts, tiny_profile().groups)
    dataset = build_dataset(source, tmp_path / "short", tiny_options(profile=profile, allow_rule_break=True), progress=False)
    card = dataset.card
    assert card["counts_after"]["dev"][0] == 3 and card["dev"]["short"] == {"T-shirt/top": 3}
    assert card["counts_after"]["dev"][1:] == [20] * 9
    assert "fewer where the left-over pool is smaller: T-shirt/top 3" in (dataset.root / "card.md").read_text()

    natural = build_dataset(source, tmp_path / "natural", tiny_options(profile=None, allow_rule_break=True), progress=False)
    assert natural.card["counts_after"]["dev"] == [0] * 10 and natural.split_rows("dev") == []
    assert "the long tail took every pool image" in (natural.root / "card.md").read_text()


def test_a_dataset_built_before_dev_still_loads(tmp_path, tiny_dataset):
    old = tmp_path / "old"
    shutil.copytree(tiny_dataset.root, old)
    lines = (old / "manifest.csv").read_text().splitlines()
    (old / "manifest.csv").write_text("\n".join(line for line in lines if ",dev," not in line) + "\n")
    card = json.loads((old / "card.json").read_text())
    for key in ("counts_after", "blurred_share"):
        card[key].pop("dev")
    card.pop("dev")
    (old / "card.json").write_text(json.dumps(card))
    dataset = read_dataset(old)
    assert dataset.splits == ["train", "val", "test"] and dataset.split_rows("dev") == []
    assert len(dataset.load_images("val", progress=False)) == len(dataset.split_rows("val"))
    with pytest.raises(ValueError, match="no images .*rebuild"):
        dataset.load_images("dev", progress=False)
