"""Shared pytest configuration, fixtures and helpers.

Everything more than one test module needs lives here, so no test module imports another (or
bench/). Helpers that build things are fixtures returning a function (`make_table(n=...)`,
`fmnist_images(6)`), which keeps each test's inputs visible in its signature.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

matplotlib.use("Agg")

from analysis.table import PredictionTable  # noqa: E402
from train.data.build import BuildOptions, build_dataset  # noqa: E402
from train.data.longtail import LongTailProfile  # noqa: E402
from train.data.sources import SourceData, load_fashion_mnist  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "2")

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def helper_fixture(function):
    """Expose a helper to tests as a session fixture of the same name, so tests ask for it in their
    signature instead of importing it (the fixture's value is the function itself)."""

    @pytest.fixture(scope="session", name=function.__name__)
    def fixture():
        return function

    fixture.__doc__ = function.__doc__
    return fixture


# ---------------------------------------------------------------- a tiles-mode model's settings

def tile_model_config(tile: int):
    """The ModelConfig of a random-init blur-task model that reads a photo as `tile` px native-resolution
    tiles (at most 6): what the tiles-mode tests save, load and predict with."""
    from features import FeatureConfig
    from fusion.config import ModelConfig

    return ModelConfig(class_names=["Blurred", "Undistorted"], groups=["frequent", "frequent"], train_counts=[10, 10],
                       input_size=tile, feature_config=FeatureConfig(size=tile, blur_threshold=150.0).to_dict(),
                       preprocess="tiles", max_tiles=6, blur_task={"blurred_class": 0, "sharp_class": 1},
                       blur_evidence=True, blur_evidence_mean=[5.0, 4.0, 1.0, 0.2], blur_evidence_std=[1.0, 1.0, 0.5, 0.1],
                       blur_threshold_basis={"fitted": True, "image_size": tile})


tile_model_config_fixture = helper_fixture(tile_model_config)


# ---------------------------------------------------------------- real Fashion-MNIST images

def fmnist_images(count: int, split: str = "train") -> np.ndarray:
    """The first `count` images of a split as (count, 28, 28) uint8, read straight from the IDX file."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(FMNIST_DIR / f"{prefix}-images-idx3-ubyte.gz") as handle:
        handle.read(16)
        data = handle.read(count * 28 * 28)
    return np.frombuffer(data, np.uint8).reshape(count, 28, 28).copy()


fmnist_images_fixture = helper_fixture(fmnist_images)


# ---------------------------------------------------------------- tiny dataset and checkpoint

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


tiny_source_fixture = helper_fixture(tiny_source)


tiny_profile_fixture = helper_fixture(tiny_profile)


def tiny_options(**changes) -> BuildOptions:
    """The tiny profile with a dev split of 20 per class (the pool has about 300 per class, so none is short)."""
    return BuildOptions(**{"profile": tiny_profile(), "dev_per_class": 20, **changes})


tiny_options_fixture = helper_fixture(tiny_options)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """470 train+val images in the v1 shape (frequent 100, medium 15, rare 5 per class), 200 test, 200 dev images."""
    return build_dataset(tiny_source(), tmp_path_factory.mktemp("data") / "tiny", tiny_options(), progress=False)


TINY_STEPS = 12
TINY_BATCH = 32
TINY_MAX_IMAGES = 512  # a bigger tiny_dataset is subsampled so the fixture stays a few seconds


def _as_dataset(tiny_dataset):
    if hasattr(tiny_dataset, "class_names") and hasattr(tiny_dataset, "train_counts"):
        return tiny_dataset
    from train.data.dataset_dir import read_dataset

    return read_dataset(tiny_dataset)


def build_tiny_checkpoint(dataset, run_dir: Path, steps: int = TINY_STEPS, seed: int = 0, pretrained: str = "none") -> Path:
    """Fit a 32 px FusionNet (random-init, or the offline ImageNet weights with `pretrained="offline"`)
    for a few steps on `dataset`'s train split and save it."""
    import numpy as np
    import torch

    from features.extract import compute_features
    from fusion.checkpoint import save_checkpoint
    from fusion.config import ModelConfig
    from fusion.model import create_model
    from fusion.preprocess import fit_blur_standardisation, model_inputs

    rows = dataset.split_rows("train")
    log_mean, log_std = fit_blur_standardisation(np.array([r["laplacian_var"] for r in rows], dtype=np.float64))
    cfg = ModelConfig.from_dataset(
        dataset,
        input_size=32,
        blur_log_mean=log_mean,
        blur_log_std=log_std,
        recipe={"name": "tiny-fixture", "steps": steps, "batch_size": TINY_BATCH, "pretrained": pretrained},
    )
    images = dataset.load_images("train", progress=False)
    keep = np.sort(np.random.default_rng(seed).permutation(len(rows))[:TINY_MAX_IMAGES])
    images, rows = images[keep], [rows[i] for i in keep]
    labels = torch.tensor([int(r["label"]) for r in rows])
    blurred = torch.tensor([float(r["blurred"]) for r in rows])
    inputs = model_inputs(images, compute_features(images, cfg.features_config()), cfg)

    torch.manual_seed(seed)
    model = create_model(cfg, pretrained=pretrained)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(labels), (min(TINY_BATCH, len(labels)),), generator=generator)
        out = model(**{k: v[idx] for k, v in inputs.items()})
        loss = torch.nn.functional.cross_entropy(out["logits"], labels[idx])
        loss = loss + 0.1 * torch.nn.functional.binary_cross_entropy_with_logits(out["blur_logit"], blurred[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    # A few steps leave BatchNorm running stats far from the current weights; re-estimate them
    # over the whole (small) train split so eval-mode predictions are not all one class.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                module.momentum = None  # cumulative average over the calibration batches
        for start in range(0, len(labels), 128):
            model(**{k: v[start : start + 128] for k, v in inputs.items()})
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = 0.1
    model.eval()
    return save_checkpoint(run_dir, model, cfg)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A run dir (Path) with model.safetensors + model.json for `tiny_dataset`."""
    run_dir = tmp_path_factory.mktemp("tiny_run") / "run"
    return build_tiny_checkpoint(_as_dataset(tiny_dataset), run_dir)


# ---------------------------------------------------------------- hand-made prediction tables (analysis)

TABLE_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"]
TABLE_GROUPS = ["rare", "rare", "frequent", "frequent", "medium", "medium"]


def ood_fit_pair(tiny_dataset, folder: Path, **options):
    """A tiny trained model (offline ImageNet weights) with its unfamiliar-image score fitted twice:
    as shipped, then with `fit_run_held_out(**options)`; returns (dataset, shipped, refitted) Predictors."""
    from fusion.predictor import Predictor
    from fusion.run_fit import fit_run_held_out

    dataset = _as_dataset(tiny_dataset)
    run = build_tiny_checkpoint(dataset, folder / "run", pretrained="offline")
    fit_run_held_out(run, dataset, progress=False)
    shipped = Predictor.from_checkpoint(run)
    fit_run_held_out(run, dataset, progress=False, **options)
    return dataset, shipped, Predictor.from_checkpoint(run)


def with_ood(run: Path, folder: Path, ood: dict) -> Path:
    """A copy of `run` in `folder` whose model.json carries `ood` as its unfamiliar-image settings; with
    `FLAG_EVERYTHING` (an energy threshold no image stays under) every answer is flagged."""
    import json
    import shutil

    copy = folder / "ood-run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "model.json").read_text())
    config["ood"] = ood
    (copy / "model.json").write_text(json.dumps(config))
    return copy


FLAG_EVERYTHING = {"method": "energy", "threshold": -1e9, "keep": 0.95, "fitted_on": "a test"}


def warning_rate(predictor, images) -> float:
    """Share of `images` the predictor calls unfamiliar."""
    return float(np.mean([not p.in_distribution for p in predictor.predict_batch(images)]))


def sharp_test_images(dataset) -> list[np.ndarray]:
    rows = dataset.split_rows("test")
    return [im for im, r in zip(dataset.load_images("test", progress=False), rows) if not r["blurred"]]


def make_table(n: int = 600, seed: int = 0, accuracy: float = 0.8, blur_cost: float = 0.1, rare_cost: float = 0.2,
               learned_blur: bool = True) -> PredictionTable:
    """Hand-made predictions with a controllable rare-class and blur penalty."""
    rng = np.random.default_rng(seed)
    c = len(TABLE_NAMES)
    labels = np.repeat(np.arange(c), n // c)
    n = labels.size
    blurred = rng.random(n) < 0.4
    rare = np.isin(labels, [0, 1])
    p_right = np.clip(accuracy - blur_cost * blurred - rare_cost * rare, 0.0, 1.0)
    predicted = np.where(rng.random(n) < p_right, labels, (labels + rng.integers(1, c, n)) % c)
    probs = rng.dirichlet(np.ones(c), n)
    probs[np.arange(n), predicted] += 1.5
    probs /= probs.sum(axis=1, keepdims=True)
    kinds = np.array(["gaussian", "motion", "defocus"])[rng.integers(0, 3, n)]
    kinds = np.where(blurred, kinds, "")
    param = np.where(blurred, rng.uniform(1.0, 2.0, n), np.nan)
    motion = kinds == "motion"
    param[motion] = rng.integers(3, 8, motion.sum())
    lap = np.exp(rng.normal(5.0, 1.0, n) - 1.5 * blurred)
    blur_prob = np.clip(0.6 * blurred + 0.5 * rng.random(n), 0, 1) if learned_blur else np.full(n, np.nan)
    return PredictionTable(TABLE_NAMES, TABLE_GROUPS, np.array([f"img{i}" for i in range(n)]), labels, predicted, probs, blurred,
                           kinds, param, lap, lap < 120.0, blur_prob, edge_path=["canny"] * n)


make_table_fixture = helper_fixture(make_table)


# ---------------------------------------------------------------- sources written the way they come on disk

def write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def write_fmnist(directory, compress, n=30):
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    for stem, array in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y),
                        ("t10k-images-idx3-ubyte", x[:10]), ("t10k-labels-idx1-ubyte", y[:10])):
        write_idx(directory / stem, array, compress)
    return x, y


def write_cifar_batch(path, images, labels):
    """CIFAR-10's real on-disk layout: a protocol-2 pickle of a dict with byte-string keys,
    `data` a (N, 3072) uint8 array in channel-major (R plane, G plane, B plane) order."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in labels], b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    with open(path, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)


def write_cifar(root, per_class_train=3, per_class_test=1, seed=0):
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    n = 10 * per_class_train
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(n) % 10
    half = n // 2
    write_cifar_batch(directory / "data_batch_1", images[:half], labels[:half])
    write_cifar_batch(directory / "data_batch_2", images[half:], labels[half:])
    write_cifar_batch(directory / "test_batch", images[: 10 * per_class_test], labels[: 10 * per_class_test])
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(directory / "batches.meta", "wb") as handle:
        pickle.dump({b"num_cases_per_batch": half, b"label_names": names, b"num_vis": 3072}, handle, protocol=2)
    return images, labels


def save(path, pixels, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path)


def make_class(directory, count, rng, fmt="png"):
    """Images of varying sizes in RGB, gray, RGBA and palette modes."""
    for i in range(count):
        h, w = int(rng.integers(8, 70)), int(rng.integers(8, 70))
        mode = ["RGB", "L", "RGBA", "P"][i % 4]
        channels = {"RGB": (3,), "L": (), "RGBA": (4,), "P": ()}[mode]
        pixels = rng.integers(0, 256, (h, w) + channels, dtype=np.uint8)
        image = Image.fromarray(pixels, "L" if mode == "P" else mode)
        if mode == "P":
            image = image.convert("P")
        directory.mkdir(parents=True, exist_ok=True)
        image.save(directory / f"{i}.{fmt if mode in ('RGB', 'L') else 'png'}")


write_fmnist_fixture = helper_fixture(write_fmnist)


write_cifar_fixture = helper_fixture(write_cifar)


make_class_fixture = helper_fixture(make_class)
