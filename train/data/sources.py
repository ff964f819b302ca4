"""Where images come from: Fashion-MNIST, CIFAR-10, or any folder of class subfolders.

Every source becomes a `SourceData` of uint8 arrays in memory, so the long-tail, blur and writing
steps never care where the pixels came from. Offline is the default: Fashion-MNIST is read from
IDX files (Debian's `dataset-fashion-mnist` package or `--data-root`), CIFAR-10 from its on-disk
batches; torchvision downloads only when the user asks (`--download`).
"""

from __future__ import annotations

import gzip
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from features import load_image, resize_square
from features.image import IMAGE_SUFFIXES
from features.tiles import center_square

log = logging.getLogger(__name__)

DEBIAN_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Searched after --data-root; a module attribute (read at call time) so tests can point it elsewhere.
FMNIST_SEARCH_DIRS: tuple[Path, ...] = (DEBIAN_FMNIST_DIR,)
FMNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclass
class SourceData:
    """A source in memory. `test_images` is None when the source has no test set of its own (a flat
    image folder): the builder then holds out a stratified share of the training pool."""

    name: str
    class_names: list[str]
    train_images: np.ndarray  # (N, H, W) gray or (N, H, W, 3) RGB, uint8, all one size
    train_labels: np.ndarray  # (N,) int64
    test_images: np.ndarray | None
    test_labels: np.ndarray | None
    description: str
    skipped: list[str] = field(default_factory=list)  # unreadable files, reported in the card

    def __post_init__(self) -> None:
        if (self.test_images is None) != (self.test_labels is None):
            raise ValueError("test_images and test_labels must both be given or both be None")
        for split, images, labels in (("train", self.train_images, self.train_labels), ("test", self.test_images, self.test_labels)):
            if images is None:
                continue
            if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
                raise ValueError(f"{split} images must be uint8 (N, H, W) or (N, H, W, 3); got {images.dtype} {images.shape}")
            if len(images) != len(labels):
                raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise ValueError(f"{split} labels must lie in [0, {len(self.class_names)}); got {labels.min()}..{labels.max()}")

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def channels(self) -> int:
        return 1 if self.train_images.ndim == 3 else 3


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {array.size}")
    return array.reshape(shape).copy()


def _idx_file(directory: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _fmnist_from(directory: Path) -> SourceData | None:
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    files = [_idx_file(directory, stem) for stem in stems]
    if any(f is None for f in files):
        return None
    train_x, train_y, test_x, test_y = (read_idx(f) for f in files)  # type: ignore[arg-type]
    return SourceData(
        name="fashion-mnist",
        class_names=list(FMNIST_CLASSES),
        train_images=train_x,
        train_labels=train_y.astype(np.int64),
        test_images=test_x,
        test_labels=test_y.astype(np.int64),
        description=f"Fashion-MNIST (IDX files in {directory})",
    )


def load_fashion_mnist(
    data_root: Path | None = None, download: bool = False, search_dirs: Sequence[Path] | None = None
) -> SourceData:
    """Fashion-MNIST from `data_root`, then `search_dirs` (default: Debian's package dir), then
    (only with `download`) torchvision's download into `data_root` or data/downloads."""
    search = FMNIST_SEARCH_DIRS if search_dirs is None else search_dirs
    candidates = ([Path(data_root), Path(data_root) / "FashionMNIST" / "raw"] if data_root else []) + [Path(d) for d in search]
    for directory in candidates:
        if directory.is_dir():
            source = _fmnist_from(directory)
            if source is not None:
                log.info("Fashion-MNIST read from %s", directory)
                return source
    if download:
        from torchvision.datasets import FashionMNIST

        root = Path(data_root or "data/downloads")
        try:
            FashionMNIST(str(root), train=True, download=True)
            FashionMNIST(str(root), train=False, download=True)
        except Exception as error:  # network errors come in many types
            raise ValueError(f"downloading Fashion-MNIST to {root} failed: {error}") from None
        source = _fmnist_from(root / "FashionMNIST" / "raw")
        if source is not None:
            return source
    looked = ", ".join(str(c) for c in candidates) or "nowhere"
    raise FileNotFoundError(
        "Fashion-MNIST IDX files not found (looked in: " + looked + "). Get them one of three ways: "
        "(1) pass --data-root DIR holding train-images-idx3-ubyte.gz and the other three files; "
        "(2) on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist (files land in "
        f"{DEBIAN_FMNIST_DIR}); (3) when online: add --download (torchvision fetches them)."
    )


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batch files only: plain containers and numpy arrays, never other classes."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def _read_cifar_batch(path: Path) -> dict:
    with open(path, "rb") as handle:
        try:
            return _CifarUnpickler(handle, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as error:
            raise ValueError(f"{path} is not a valid CIFAR-10 batch file: {error}") from None


def _cifar_images(batch: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except KeyError as error:
        raise ValueError(f"{path} lacks the {error} entry of a CIFAR-10 batch") from None
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def load_cifar10(data_root: Path | None = None, download: bool = False) -> SourceData:
    """CIFAR-10 from its python batches (`cifar-10-batches-py/`) under `data_root`."""
    root = Path(data_root or "data/downloads")
    directory = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    train_files = sorted(directory.glob("data_batch_*"))
    if (not train_files or not (directory / "test_batch").is_file()) and download:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(root), train=True, download=True)
        except Exception as error:
            raise ValueError(f"downloading CIFAR-10 to {root} failed: {error}") from None
        directory = root / "cifar-10-batches-py"
        train_files = sorted(directory.glob("data_batch_*"))
    if not train_files or not (directory / "test_batch").is_file():
        raise FileNotFoundError(
            f"CIFAR-10 batches not found under {root} (expected cifar-10-batches-py/data_batch_1..5 and "
            "test_batch). Pass --data-root DIR where the extracted archive lies, or add --download when online."
        )
    parts = [_cifar_images(_read_cifar_batch(f), f) for f in train_files]
    test_x, test_y = _cifar_images(_read_cifar_batch(directory / "test_batch"), directory / "test_batch")
    names = list(CIFAR10_CLASSES)
    if (directory / "batches.meta").is_file():
        meta = _read_cifar_batch(directory / "batches.meta")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(b"label_names", names)]
    return SourceData(
        name="cifar10",
        class_names=names,
        train_images=np.concatenate([p[0] for p in parts]),
        train_labels=np.concatenate([p[1] for p in parts]),
        test_images=test_x,
        test_labels=test_y,
        description=f"CIFAR-10 (batches in {directory})",
    )


def _scan_classes(root: Path) -> list[str]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{root} must hold at least two class subfolders; found {classes}")
    return classes


def _read_folder(root: Path, classes: list[str], image_size: int, skipped: list[str], progress: bool, report_root: Path,
                 crop: bool = False):
    extra = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in classes)
    for name in extra:
        skipped.append(f"{(root / name).relative_to(report_root)}/: class folder not among the training classes")
    files = [
        (label, path)
        for label, name in enumerate(classes)
        if (root / name).is_dir()
        for path in sorted((root / name).rglob("*"))
        if path.is_file()
    ]
    images, labels = [], []
    for label, path in tqdm(files, desc=f"reading {root.name}", unit="img", disable=not progress):
        shown = path.relative_to(report_root)
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(f"{shown}: not an image file")
            continue
        try:
            image = load_image(path)
            images.append(center_square(image, image_size) if crop else resize_square(image, image_size))
            labels.append(label)
        except (ValueError, OSError) as error:  # undecodable, truncated, unreadable: report, never crash
            skipped.append(f"{shown}: {error}")
    if not images:
        raise ValueError(f"no readable images under {root}")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def folder_class_names(path: Path) -> list[str]:
    """The class names a folder source will have (from `train/` when it has train/ and test/)."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"image folder {root} does not exist")
    return _scan_classes(root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else root)


def load_image_folder(path: Path, image_size: int = 64, progress: bool = True, crop: bool = False) -> SourceData:
    """One subfolder per class (or `train/` and `test/` each holding them), any sizes and modes.

    Images are brought to canonical RGB and resized to `image_size` square through `features`, so
    the rest of the pipeline sees one array shape. Non-image and unreadable files are skipped and
    listed in `skipped` (the data card shows them), never a crash: a real photo folder always holds
    some. Without `train/` + `test/` the test set is None and the builder holds out a stratified share.
    With `crop` (blurred-vs-clear folders) each image is instead cut to its central `image_size`
    square at its own resolution (mirror-padded when smaller): resizing would remove the blur.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"image folder {root} does not exist")
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8; got {image_size!r}")
    skipped: list[str] = []
    test_x = test_y = None
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = _scan_classes(root / "train")
        train_x, train_y = _read_folder(root / "train", classes, image_size, skipped, progress, root, crop)
        test_x, test_y = _read_folder(root / "test", classes, image_size, skipped, progress, root, crop)
    else:
        classes = _scan_classes(root)
        train_x, train_y = _read_folder(root, classes, image_size, skipped, progress, root, crop)
    for line in skipped:
        log.warning("skipped %s", line)
    return SourceData(
        name=root.name,
        class_names=classes,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        description=f"image folder {root} ({len(skipped)} unreadable files skipped)",
        skipped=skipped,
    )
