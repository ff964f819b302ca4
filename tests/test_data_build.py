"""Dataset building: profiles and the rule, exact blur shares, determinism, atomic output, the CLI."""

import hashlib
import pickle

import numpy as np
import pytest
from PIL import Image

from blurfuse.cli import main
from train.blurring import BlurOptions
from train.build import build_dataset
from train.dataset_dir import read_dataset
from train.longtail import LongTailProfile, exponential_profile, fmnist_lt_v1, groups_by_share
from train.sources import load_cifar10, load_fashion_mnist, load_image_folder
from tests.fixtures_data import tiny_profile, tiny_source


def test_v1_profile_follows_the_rule_and_breaking_profiles_are_refused():
    v1 = fmnist_lt_v1()
    assert v1.total == 23400 and v1.frequent_share == pytest.approx(0.8547, abs=1e-3)
    assert min(v1.shares) == pytest.approx(100 / 23400)
    v1.check()
    flat = LongTailProfile("flat", (10,) * 10, ("frequent",) * 4 + ("medium",) * 6)
    with pytest.raises(ValueError, match=r"frequent classes hold 40.0 %.*smallest class holds 10.00 %"):
        flat.check()
    flat.check(allow_rule_break=True)


def test_exponential_profile_and_share_based_groups():
    profile = exponential_profile([6000] * 10, imbalance_ratio=100, max_per_class=5000)
    assert profile.counts[0] == 5000 and profile.counts[-1] == 50
    assert list(profile.counts) == sorted(profile.counts, reverse=True)
    profile.check()
    assert groups_by_share([80, 10, 8, 2]) == ("frequent", "medium", "medium", "rare")


def test_tiny_dataset_counts_blur_shares_and_threshold(tiny_dataset):
    card = tiny_dataset.card
    assert card["counts_after"]["train"][0] + card["counts_after"]["val"][0] == 5
    assert card["counts_after"]["test"] == [20] * 10
    for split in ("train", "val", "test"):
        rows = tiny_dataset.split_rows(split)
        for c in range(10):
            members = [r for r in rows if r["label"] == c]
            blurred = sum(r["blurred"] for r in members)
            assert blurred == int(np.floor(0.4 * len(members) + 0.5))
            assert all(r["blur_kind"] in ("gaussian", "motion", "defocus") for r in members if r["blurred"])
            assert all(r["blur_kind"] == "" for r in members if not r["blurred"])
    train = tiny_dataset.split_rows("train")
    scores = np.array([r["laplacian_var"] for r in train])
    truth = np.array([r["blurred"] for r in train])
    threshold = tiny_dataset.feature_config.blur_threshold
    assert ((scores < threshold) == truth).mean() > 0.9
    images = tiny_dataset.load_images("test", progress=False)
    assert images.shape == (200, 28, 28, 3) and images.dtype == np.uint8
    for name in ("counts_before", "counts_after", "blurred_share"):
        assert (tiny_dataset.root / "plots" / f"{name}.png").stat().st_size > 5000
    assert "Rule" in (tiny_dataset.root / "card.md").read_text()


def digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".png", ".csv") and "plots" not in path.parts:
            h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_same_command_and_seed_give_byte_identical_output(tmp_path):
    source = tiny_source(test_per_class=5)
    a = build_dataset(source, tmp_path / "a", tiny_profile(), progress=False)
    b = build_dataset(source, tmp_path / "b", tiny_profile(), progress=False)
    c = build_dataset(source, tmp_path / "c", tiny_profile(), seed=5, progress=False)
    assert digest(a.root) == digest(b.root)
    assert digest(a.root) != digest(c.root)


def test_existing_output_is_refused_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    source = tiny_source(test_per_class=2)
    build_dataset(source, tmp_path / "d", tiny_profile(), progress=False)
    with pytest.raises(FileExistsError, match="--force"):
        build_dataset(source, tmp_path / "d", tiny_profile(), progress=False)

    import train.build as build_module

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module, "card_markdown", explode)
    with pytest.raises(RuntimeError):
        build_dataset(source, tmp_path / "e", tiny_profile(), progress=False)
    assert not (tmp_path / "e").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_blur_fraction_under_the_rule_is_refused(tmp_path):
    with pytest.raises(ValueError, match="30 %"):
        build_dataset(tiny_source(2), tmp_path / "f", tiny_profile(), BlurOptions(fraction=0.2), progress=False)


def write_cifar_batch(path, images, labels):
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    with open(path, "wb") as handle:
        pickle.dump({b"batch_label": b"x", b"labels": list(labels), b"data": data, b"filenames": [b"a"] * len(labels)}, handle)


def test_cifar_on_disk_format_is_read_offline_and_foreign_pickles_refused(tmp_path):
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(30) % 10
    write_cifar_batch(directory / "data_batch_1", images, labels)
    write_cifar_batch(directory / "test_batch", images[:10], labels[:10])
    source = load_cifar10(tmp_path)
    assert np.array_equal(source.train_images, images) and list(source.train_labels) == list(labels)
    assert source.class_names[0] == "airplane"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(directory / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Evil()}, handle)
    with pytest.raises(ValueError, match="refusing"):
        load_cifar10(tmp_path)


def test_fashion_mnist_missing_everywhere_names_all_three_ways(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_fashion_mnist(tmp_path, search_dirs=[tmp_path / "nothing"])
    message = str(error.value)
    assert "--data-root" in message and "apt-get install dataset-fashion-mnist" in message and "--download" in message


def make_folder(root, classes, per_class, rng):
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            size = (int(rng.integers(8, 60)), int(rng.integers(8, 60)))
            mode = ["RGB", "L", "RGBA"][i % 3]
            pixels = rng.integers(0, 256, size + ((len(mode),) if mode != "L" else ()), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")


def test_image_folder_with_junk_and_the_blurred_undistorted_case(tmp_path):
    rng = np.random.default_rng(0)
    make_folder(tmp_path / "photos", ["Blurred", "Undistorted"], 10, rng)
    (tmp_path / "photos" / "Blurred" / "notes.txt").write_text("not an image")
    (tmp_path / "photos" / "Undistorted" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    source = load_image_folder(tmp_path / "photos", image_size=32, progress=False)
    assert source.class_names == ["Blurred", "Undistorted"]
    assert len(source.train_labels) + len(source.test_labels) == 20
    assert len(source.skipped) == 2 and source.train_images.shape[1:] == (32, 32, 3)

    out = tmp_path / "two-class"
    status = main([
        "data", "--dataset", "folder", "--folder", str(tmp_path / "photos"), "--out", str(out), "--image-size", "32",
        "--profile", "natural", "--blur-fraction", "0", "--allow-rule-break", "--no-progress",
    ])
    assert status == 0
    dataset = read_dataset(out)
    assert dataset.class_names == ["Blurred", "Undistorted"] and len(dataset.card["skipped_files"]) == 2
    # Without the explicit flag the two-class set is refused with the reason.
    assert main(["data", "--dataset", "folder", "--folder", str(tmp_path / "photos"), "--out", str(tmp_path / "x"), "--no-progress"]) == 2


def test_cli_refuses_existing_output_and_bad_profiles(tmp_path, capsys):
    (tmp_path / "exists").mkdir()
    assert main(["data", "--out", str(tmp_path / "exists")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["data", "--out", str(tmp_path / "y"), "--profile", "explicit", "--counts", "5,5", "--no-progress"]) == 2
    assert "one per class" in capsys.readouterr().err


def test_read_dataset_rejects_what_is_not_a_dataset(tmp_path):
    with pytest.raises(ValueError, match="not a blurfuse dataset"):
        read_dataset(tmp_path)
