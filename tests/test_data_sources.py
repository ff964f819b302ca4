"""Sources: Fashion-MNIST IDX files, CIFAR-10's on-disk batches, image folders with junk."""

import pickle

import numpy as np
import pytest

from train.data.sources import load_cifar10, load_fashion_mnist, load_image_folder


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_from_data_root_gz_or_unzipped(tmp_path, compress, write_fmnist):
    x, y = write_fmnist(tmp_path / "fm", compress)
    source = load_fashion_mnist(tmp_path / "fm", search_dirs=[])
    assert np.array_equal(source.train_images, x) and list(source.train_labels) == list(y)
    assert source.test_images.shape == (10, 28, 28) and source.channels == 1 and source.image_size == 28
    assert source.class_names[0] == "T-shirt/top" and len(source.class_names) == 10


def test_data_root_comes_before_the_debian_dir(tmp_path, write_fmnist):
    write_fmnist(tmp_path / "fm", compress=True)
    debian = tmp_path / "debian"
    write_fmnist(debian, compress=True, n=40)
    assert len(load_fashion_mnist(tmp_path / "fm", search_dirs=[debian]).train_labels) == 30
    assert len(load_fashion_mnist(None, search_dirs=[debian]).train_labels) == 40


def test_fashion_mnist_missing_everywhere_names_all_three_ways(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_fashion_mnist(tmp_path / "bogus", search_dirs=[tmp_path / "nothing"])
    message = str(error.value)
    assert "--data-root" in message and "apt-get install dataset-fashion-mnist" in message and "--download" in message
    assert str(tmp_path / "bogus") in message and str(tmp_path / "nothing") in message


def test_truncated_idx_file_is_a_clear_error(tmp_path, write_fmnist):
    write_fmnist(tmp_path / "fm", compress=False)
    path = tmp_path / "fm" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated"):
        load_fashion_mnist(tmp_path / "fm", search_dirs=[])


def test_cifar_on_disk_format_is_read_offline(tmp_path, write_cifar):
    images, labels = write_cifar(tmp_path)
    source = load_cifar10(tmp_path)
    # Pixel (row 0, col 0) is (R, G, B) from the three planes: the channel order survives.
    assert np.array_equal(source.train_images, images) and list(source.train_labels) == list(labels)
    assert source.test_images.shape == (10, 32, 32, 3) and source.channels == 3
    assert source.class_names[0] == "airplane" and source.class_names[9] == "truck"
    assert load_cifar10(tmp_path / "cifar-10-batches-py").train_images.shape == (30, 32, 32, 3)


def test_cifar_batch_with_a_foreign_class_is_refused_unexecuted(tmp_path, write_cifar):
    write_cifar(tmp_path)
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Evil(), b"labels": [0]}, handle, protocol=2)
    with pytest.raises(ValueError, match=r"refusing to load \w+\.open"):
        load_cifar10(tmp_path)
    assert not marker.exists()


def test_cifar_missing_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-root.*--download"):
        load_cifar10(tmp_path)


def test_folder_with_mixed_sizes_modes_and_junk_files(tmp_path, make_class):
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    make_class(root / "cat", 8, rng)
    make_class(root / "dog", 8, rng, fmt="jpg")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    source = load_image_folder(root, image_size=24, progress=False)
    assert source.class_names == ["cat", "dog"]
    assert source.test_images is None  # a flat folder: the builder holds out the test share
    assert source.train_images.shape == (16, 24, 24, 3) and source.train_images.dtype == np.uint8
    assert list(np.bincount(source.train_labels)) == [8, 8]
    assert sorted(s.split(":")[0] for s in source.skipped) == ["cat/notes.txt", "dog/broken.png", "dog/empty.jpg"]


def test_folder_with_train_and_test_subfolders(tmp_path, make_class):
    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("test", 2)):
        for name in ("a", "b", "c"):
            make_class(tmp_path / "set" / split / name, n, rng)
    make_class(tmp_path / "set" / "test" / "unknown", 1, rng)
    source = load_image_folder(tmp_path / "set", image_size=16, progress=False)
    assert source.class_names == ["a", "b", "c"]
    assert len(source.train_labels) == 18 and list(np.bincount(source.test_labels)) == [2, 2, 2]
    assert any("unknown" in s and "not among the training classes" in s for s in source.skipped)


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(NotADirectoryError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(ValueError, match="at least two class subfolders"):
        load_image_folder(tmp_path / "one")
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "b").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="no readable images"):
        load_image_folder(tmp_path / "junk", progress=False)
