"""`blurfuse data`: exit codes, summary, --force, sources and profiles from the command line."""

import numpy as np
import pytest

from blurfuse.cli import main
from train.data.dataset_dir import read_dataset

TWO_CLASS = ["--profile", "natural", "--blur-fraction", "0", "--allow-rule-break"]


@pytest.fixture
def photos(tmp_path, make_class):
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    make_class(root / "Blurred", 10, rng)
    make_class(root / "Undistorted", 10, rng)
    (root / "Blurred" / "notes.txt").write_text("not an image")
    (root / "Undistorted" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return root


def test_blurred_undistorted_folder_is_one_clear_command(photos, tmp_path, capsys):
    out = tmp_path / "two-class"
    argv = ["data", "--dataset", "folder", "--folder", str(photos), "--out", str(out), "--image-size", "32", "--no-progress"]
    assert main(argv) == 0  # recognised from the folder names: no flags needed
    printed = capsys.readouterr().out
    assert str(out) in printed and "blur task: the class is the truth" in printed and "skipped 2" in printed
    dataset = read_dataset(out)
    card = dataset.card
    assert dataset.class_names == ["Blurred", "Undistorted"] and card["image_size"] == 32 and card["channels"] == 3
    assert card["blur_task"]["blurred_class"] == "Blurred" and "Blur task" in (out / "card.md").read_text()
    # Natural profile: every readable image kept; a stratified 20 % of each class held out for test.
    assert np.add(card["counts_after"]["train"], card["counts_after"]["val"]).tolist() == [8, 8]
    assert card["counts_after"]["test"] == [2, 2] and "stratified 20 %" in card["test_origin"]
    # The class is the blur truth: manifest `blurred` = class is Blurred, and the threshold is fitted on it.
    assert all(bool(r["blurred"]) == (r["class_name"] == "Blurred") for r in dataset.rows)
    assert not any(r["blur_kind"] for r in dataset.rows)  # no synthetic blur added
    assert card["blur_threshold_fitted"]
    assert len(card["skipped_files"]) == 2 and "broken.png" in (out / "card.md").read_text()
    # Native resolution: the 32 px centre of each image (mirror-padded when smaller), never a resized image.
    assert dataset.load_images("train", progress=False).shape == (card["counts_after"]["train"][0] * 2, 32, 32, 3)
    # The explicit flags of the old workflow still work; synthetic blur on a blur task is refused.
    assert main(argv[:5] + ["--out", str(tmp_path / "y"), "--no-progress", "--image-size", "32"] + TWO_CLASS) == 0
    assert main(argv[:5] + ["--out", str(tmp_path / "x"), "--no-progress", "--blur-fraction", "0.4"]) == 2
    assert "--blur-fraction must be 0" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_cifar_with_an_explicit_long_tail(tmp_path, capsys, write_cifar):
    write_cifar(tmp_path / "cifar", per_class_train=40, per_class_test=3)
    out = tmp_path / "cifar-lt"
    counts = "40,40,40,40,6,6,6,6,2,2"
    assert main(["data", "--dataset", "cifar10", "--data-root", str(tmp_path / "cifar"), "--counts", counts,
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "profile explicit" in printed and "rule followed" in printed and "blur threshold" in printed
    dataset = read_dataset(out)
    assert np.add(dataset.card["counts_after"]["train"], dataset.card["counts_after"]["val"]).tolist() == [int(c) for c in counts.split(",")]
    assert dataset.groups == ["frequent"] * 4 + ["medium"] * 4 + ["rare"] * 2
    assert dataset.card["counts_after"]["test"] == [3] * 10 and dataset.card["image_size"] == 32
    assert dataset.load_images("test", progress=False).shape == (30, 32, 32, 3)
    # dev takes what the long tail left over (40 - count per class), all of it: each class is short of 300.
    left_over = [0] * 4 + [34] * 4 + [38] * 2
    assert dataset.card["counts_after"]["dev"] == left_over
    assert dataset.card["dev"]["short"] == dict(zip(dataset.class_names, left_over))


def test_existing_output_needs_force(tmp_path, photos, capsys):
    (tmp_path / "exists").mkdir()
    assert main(["data", "--out", str(tmp_path / "exists")]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    argv = ["data", "--dataset", "folder", "--folder", str(photos), "--out", str(tmp_path / "exists"),
            "--image-size", "16", "--no-progress", "--force"] + TWO_CLASS
    assert main(argv) == 0 and read_dataset(tmp_path / "exists").card["image_size"] == 16


def test_no_fashion_mnist_anywhere_exits_2_naming_the_three_ways(tmp_path, monkeypatch, capsys):
    import train.data.sources

    monkeypatch.setattr(train.data.sources, "FMNIST_SEARCH_DIRS", (tmp_path / "no-debian-here",))
    assert main(["data", "--data-root", str(tmp_path / "bogus"), "--out", str(tmp_path / "v1"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("blurfuse data: error: Fashion-MNIST IDX files not found")
    assert "--data-root" in err and "apt-get install dataset-fashion-mnist" in err and "--download" in err
    assert not (tmp_path / "v1").exists()


def test_fashion_mnist_data_root_with_an_exponential_profile(tmp_path, monkeypatch, capsys, write_fmnist):
    import train.data.sources

    monkeypatch.setattr(train.data.sources, "FMNIST_SEARCH_DIRS", ())
    write_fmnist(tmp_path / "fm", compress=True, n=2000)
    out = tmp_path / "exp"
    # --imbalance-ratio alone selects the exponential profile (v1 is the default otherwise).
    assert main(["data", "--data-root", str(tmp_path / "fm"), "--imbalance-ratio", "50", "--out", str(out), "--no-progress"]) == 0
    card = read_dataset(out).card
    kept = np.add(card["counts_after"]["train"], card["counts_after"]["val"])
    assert card["profile"] == "exponential-50" and kept[0] == 200 and kept[-1] == 4


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--profile", "explicit", "--counts", "5,5"], "one per class"),
        (["--profile", "v1", "--counts", "5,5"], "--counts goes with --profile explicit"),
        (["--profile", "natural", "--imbalance-ratio", "10"], "--imbalance-ratio / --max-per-class go with"),
        (["--blur-fraction", "0.1"], "under the rule's minimum 0.3"),
        (["--blur-kinds", "gaussian,smear"], "non-empty subset"),
        (["--dataset", "folder"], "--dataset folder needs --folder"),
        (["--dev-per-class", "-1"], "dev_per_class must be a non-negative integer"),
        (["--dataset", "cifar10", "--profile", "v1"], "CIFAR-10 batches not found"),
    ],
)
def test_bad_options_exit_2_with_the_reason(tmp_path, capsys, extra, message):
    assert main(["data", "--out", str(tmp_path / "y"), "--no-progress", "--data-root", str(tmp_path)] + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
