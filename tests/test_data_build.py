"""Building a dataset dir: counts, exact blur shares, the card, determinism, atomic output, reading back."""

import hashlib
import json

import numpy as np
import pytest

from features import BlurSpec, apply_blur, compute_features, FeatureConfig, fit_blur_threshold
from train.data.blurring import BlurOptions, choose_blurs
from train.data.build import BuildOptions, build_dataset
from train.data.dataset_dir import MANIFEST_COLUMNS, read_dataset

KIND_RANGES = {"gaussian": (1.0, 2.0), "motion": (3, 7), "defocus": (1.0, 2.0)}


def round_half_up(x):
    return int(np.floor(x + 0.5))


def test_tiny_dataset_counts_groups_and_card(tiny_dataset, tiny_profile):
    card = tiny_dataset.card
    train_val = np.add(card["counts_after"]["train"], card["counts_after"]["val"])
    assert list(train_val) == list(tiny_profile().counts)
    assert card["counts_after"]["val"] == [1, 1, 10, 2, 2, 2, 2, 10, 10, 10]  # stratified 10 %
    assert card["counts_after"]["test"] == [20] * 10  # the source's test set, not skewed
    assert tiny_dataset.train_counts() == card["counts_after"]["train"]
    assert tiny_dataset.groups == list(tiny_profile().groups)
    assert card["rule_followed"] and 0.80 <= card["frequent_share"] <= 0.90 and card["smallest_share"] < 0.03
    assert set(card) >= {"name", "source", "class_names", "groups", "counts_before", "counts_after", "shares",
                         "blurred_share", "rule", "seeds", "feature_config", "blur_threshold_default", "image_size", "channels"}
    assert card["blur_threshold_default"] == 100 and card["image_size"] == 28 and card["channels"] == 1
    assert card["seeds"] == {"selection": 0, "validation": 0, "blur_train_val": 1, "blur_test": 2, "dev": 3, "blur_dev": 4}
    assert card["counts_after"]["dev"] == [20] * 10 and card["dev"]["short"] == {}
    ids = [r["id"] for r in tiny_dataset.rows]
    assert len(ids) == len(set(ids)) == 470 + 200 + 200
    assert (tiny_dataset.root / "manifest.csv").read_text().splitlines()[0] == ",".join(MANIFEST_COLUMNS)
    for row in tiny_dataset.rows[:: 37]:
        c = row["label"]
        assert row["path"].startswith(f"images/{row['split']}/{c:02d}_") and (tiny_dataset.root / row["path"]).is_file()
        assert row["class_name"] == tiny_dataset.class_names[c] and row["group"] == tiny_dataset.groups[c]
    for name in ("counts_before", "counts_after", "blurred_share"):
        assert (tiny_dataset.root / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (tiny_dataset.root / "card.md").read_text()
    assert "**Rule:**" in markdown and "Followed." in markdown and "plots/counts_after.png" in markdown


def test_blur_is_exact_per_class_in_every_split_with_kinds_in_range(tiny_dataset):
    kinds = set()
    for split in ("train", "val", "test", "dev"):
        rows = tiny_dataset.split_rows(split)
        for c in range(10):
            members = [r for r in rows if r["label"] == c]
            assert sum(r["blurred"] for r in members) == round_half_up(0.4 * len(members))
            for r in members:
                if not r["blurred"]:
                    assert r["blur_kind"] == "" and r["blur_param"] is None
                    continue
                kinds.add(r["blur_kind"])
                low, high = KIND_RANGES[r["blur_kind"]]
                assert low <= r["blur_param"] <= high
                if r["blur_kind"] == "motion":
                    assert r["blur_param"] == int(r["blur_param"]) and 0 <= r["blur_angle"] < 180
                else:
                    assert r["blur_angle"] is None
        assert tiny_dataset.card["blurred_share"][split] == [
            pytest.approx(round_half_up(0.4 * n) / n) for n in tiny_dataset.card["counts_after"][split]
        ]
    assert kinds == {"gaussian", "motion", "defocus"}


def test_written_pixels_are_the_source_blurred_as_the_manifest_says(tiny_dataset, tiny_source):
    source = tiny_source()
    rows = tiny_dataset.split_rows("test")  # test rows keep the source's test order
    images = tiny_dataset.load_images("test", progress=False)
    assert images.shape == (200, 28, 28, 3) and images.dtype == np.uint8
    for row, image, original in zip(rows, images, source.test_images):
        if not row["blurred"]:
            assert np.array_equal(image[..., 0], original)
            continue
        spec = BlurSpec(row["blur_kind"], row["blur_param"], row["blur_angle"])
        expected = apply_blur(original, spec)  # manifest params are rounded: allow one grey level
        assert np.abs(image[..., 0].astype(int) - expected).max() <= 1
        assert not np.array_equal(image[..., 0], original)
    # The stored score is what features computes on the stored pixels.
    scores = compute_features(images, FeatureConfig(size=28)).laplacian_var
    assert np.allclose(scores, [r["laplacian_var"] for r in rows], rtol=1e-4)


def test_blur_threshold_is_fitted_on_train_and_stored_in_the_feature_config(tiny_dataset):
    train = tiny_dataset.split_rows("train")
    scores = np.array([r["laplacian_var"] for r in train])
    truth = np.array([r["blurred"] for r in train])
    threshold = tiny_dataset.feature_config.blur_threshold
    assert threshold == pytest.approx(fit_blur_threshold(scores, truth), rel=1e-6)
    assert tiny_dataset.feature_config.size == 28
    accuracy = ((scores < threshold) == truth).mean()
    assert accuracy > 0.9 and tiny_dataset.card["blur_detection"]["fitted"]["accuracy"] == pytest.approx(accuracy, abs=1e-3)
    default = tiny_dataset.card["blur_detection"]["default"]
    assert default["threshold"] == 100 and default["accuracy"] == pytest.approx(((scores < 100) == truth).mean(), abs=1e-3)


def test_chosen_kinds_only_and_fraction_checks():
    labels = np.repeat(np.arange(3), [10, 7, 1])
    specs = choose_blurs(labels, BlurOptions(fraction=0.5, kinds=("motion",)), np.random.default_rng(0))
    assert [sum(s is not None for s, l in zip(specs, labels) if l == c) for c in range(3)] == [5, 4, 1]
    assert {s.kind for s in specs if s is not None} == {"motion"}
    with pytest.raises(ValueError, match="under the rule's minimum 0.3"):
        BlurOptions(fraction=0.2).check()
    BlurOptions(fraction=0.2).check(allow_rule_break=True)
    with pytest.raises(ValueError, match="must lie in"):
        BlurOptions(fraction=1.5).check(allow_rule_break=True)
    with pytest.raises(ValueError, match="non-empty subset"):
        BlurOptions(kinds=("smear",)).check()


def digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".png", ".csv") and "plots" not in path.parts:
            h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_same_command_and_seed_give_byte_identical_output(tmp_path, tiny_profile, tiny_source, tiny_options):
    source = tiny_source(test_per_class=5)
    a = build_dataset(source, tmp_path / "a", tiny_options(), progress=False)
    b = build_dataset(source, tmp_path / "b", tiny_options(), progress=False)
    assert digest(a.root) == digest(b.root)
    assert json.loads((a.root / "card.json").read_text())["feature_config"] == json.loads((b.root / "card.json").read_text())["feature_config"]
    c = build_dataset(source, tmp_path / "c", tiny_options(blur_seed=7), progress=False)
    assert (a.root / "manifest.csv").read_bytes() != (c.root / "manifest.csv").read_bytes()
    # Another blur seed changes which train images are blurred, not which images were drawn or the test blur.
    assert [r["path"] for r in a.rows] == [r["path"] for r in c.rows]
    assert [r["blurred"] for r in a.split_rows("test")] == [r["blurred"] for r in c.split_rows("test")]
    assert [r["blurred"] for r in a.split_rows("train")] != [r["blurred"] for r in c.split_rows("train")]


def test_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch, tiny_profile, tiny_source, tiny_options):
    import train.data.build as build_module

    source = tiny_source(test_per_class=2)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after every PNG and the manifest were written

    monkeypatch.setattr(build_module, "write_plots", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(source, tmp_path / "e", tiny_options(), progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="not a blurfuse dataset"):
        read_dataset(tmp_path / "e")
    monkeypatch.undo()

    # An existing dataset is refused; a failed --force rebuild keeps it intact.
    built = build_dataset(source, tmp_path / "d", tiny_options(), progress=False)
    before = digest(built.root)
    with pytest.raises(FileExistsError, match="--force"):
        build_dataset(source, tmp_path / "d", tiny_options(), progress=False)
    monkeypatch.setattr(build_module, "card_markdown", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(source, tmp_path / "d", tiny_options(blur_seed=9), force=True, progress=False)
    assert digest(tmp_path / "d") == before and read_dataset(tmp_path / "d").card["seeds"]["blur_train_val"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, tiny_profile, tiny_source, tiny_options):
    source = tiny_source(test_per_class=2)
    with pytest.raises(ValueError, match="30 %"):
        build_dataset(source, tmp_path / "f", tiny_options(blur=BlurOptions(fraction=0.2)), progress=False)
    too_many = type(tiny_profile())("big", (1000,) * 10, tiny_profile().groups)
    with pytest.raises(ValueError, match=r"more images than the source has: T-shirt/top \(1000 > "):
        build_dataset(source, tmp_path / "f", BuildOptions(profile=too_many, allow_rule_break=True), progress=False)
    with pytest.raises(ValueError, match="val_fraction"):
        build_dataset(source, tmp_path / "f", tiny_options(val_fraction=1.0), progress=False)
    assert not (tmp_path / "f").exists()


def test_read_dataset_rejects_what_is_not_a_dataset(tmp_path, tiny_dataset):
    with pytest.raises(ValueError, match="not a blurfuse dataset"):
        read_dataset(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "card.json").write_text((tiny_dataset.root / "card.json").read_text())
    lines = (tiny_dataset.root / "manifest.csv").read_text().splitlines()
    (broken / "manifest.csv").write_text("\n".join([lines[0], lines[1], lines[2].replace(",train,", ",training,")]) + "\n")
    with pytest.raises(ValueError, match="line 3: split must be one of"):
        read_dataset(broken)
    (broken / "manifest.csv").write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",abc"]) + "\n")
    with pytest.raises(ValueError, match="malformed manifest row on line 2"):
        read_dataset(broken)
    (broken / "manifest.csv").write_text("id,split,path\n")
    with pytest.raises(ValueError, match="lacks columns"):
        read_dataset(broken)
    (broken / "card.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a valid data card"):
        read_dataset(broken)
    with pytest.raises(ValueError, match="split must be one of"):
        tiny_dataset.split_rows("validation")


def test_atomic_outputs_get_ordinary_permissions_not_the_private_temp_ones(tmp_path):
    import os
    import stat

    from features.atomic import atomic_directory, atomic_write_text

    old = os.umask(0o022)
    try:
        report = atomic_write_text(tmp_path / "report.md", "figures\n")
        with atomic_directory(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(report.stat().st_mode) == 0o644  # mkstemp alone gives 0600
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755  # mkdtemp alone gives 0700
