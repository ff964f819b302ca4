"""Build a dataset directory: skew to a long tail, blur, score, write — all or nothing.

The steps follow the FMNIST-LT-Blur v1 protocol (docs/BENCHMARK.md), each a named function below:

1. `split_source` — test: the source's own test set, all of it, balanced as published. A source
   without one (a flat image folder) gives a stratified `test_fraction` of every class first
   (`default_rng(seed)`), before the skew; the rest is the training pool.
2. `_select` — long tail: per class, `profile.counts[c]` images drawn at random from the pool
   (`default_rng(seed)`, classes in order, `rng.permutation(members)[:count]`); validation is the
   first round(val_fraction * count) of each class's draw, the rest is train.
3. `_select_dev` — dev: per class min(dev_per_class, left over) of the pool images the long tail
   did not take (`default_rng(dev_seed)`); its own generator, so train/val/test do not depend on it.
4. `_choose_all_blurs` — exactly round(fraction * n) images of every class of every split (seed
   `blur_seed` for train then val from one generator, `test_blur_seed` for test, `dev_blur_seed`
   for dev).
5. `_blur_and_score` — apply the blurs; the Laplacian variance of every image through
   `features.compute_features` (the one path); the blur threshold fitted on the TRAIN split only.
6. `_write` — PNGs, manifest.csv, card.json, card.md and plots inside `atomic_directory`, so an
   interrupted build never leaves a directory that looks complete. Manifest rows go split by split
   in `SPLITS` order (dev last), so adding dev left the train/val/test rows and files as they were.

Same options, same bytes: every random draw comes from a seeded numpy Generator, and PNGs are
written by OpenCV with its fixed default settings.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from features import DEFAULT_BLUR_THRESHOLD, FeatureConfig, fit_blur_threshold
from features.atomic import atomic_directory
from train.data.blurring import BlurOptions, apply_blurs, choose_blurs
from train.data.blurtask import blur_truth
from train.data.datacard import card_markdown, make_card, write_plots
from train.data.dataset_dir import MANIFEST_COLUMNS, DatasetDir, read_dataset
from train.data.longtail import LongTailProfile, natural_profile, round_half_up
from train.data.scoring import laplacian_scores
from train.data.sources import SourceData
from train.data.splits import DEV_BLUR_SEED, DEV_PER_CLASS, DEV_SEED, SPLITS


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build depends on besides the source pixels (the CLI's flags, validated once).

    `profile=None` keeps every image (the natural profile, which leaves nothing for dev).
    `test_fraction` is used only when the source has no test set of its own.
    """

    profile: LongTailProfile | None = None
    blur: BlurOptions = field(default_factory=BlurOptions)
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    dev_per_class: int = DEV_PER_CLASS
    seed: int = 0
    blur_seed: int = 1
    test_blur_seed: int = 2
    dev_seed: int = DEV_SEED
    dev_blur_seed: int = DEV_BLUR_SEED
    allow_rule_break: bool = False
    name: str | None = None
    # Blurred-vs-clear ({"blurred_class": i, "sharp_class": j}, train.data.blurtask): the class is the
    # blur truth, no synthetic blur is added, the threshold is fitted on the classes.
    blur_task: dict | None = None

    def check(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1); got {self.val_fraction}")
        if isinstance(self.dev_per_class, bool) or not isinstance(self.dev_per_class, int) or self.dev_per_class < 0:
            raise ValueError(f"dev_per_class must be a non-negative integer; got {self.dev_per_class!r}")
        if self.blur_task and self.blur.fraction > 0:
            raise ValueError("blur task: the classes are the blur truth, so no synthetic blur may be added (blur fraction 0)")
        self.blur.check(self.allow_rule_break or bool(self.blur_task))


@dataclass(frozen=True)
class SourcePools:
    """Step 1's result: the pool the long tail draws from and the test set, with where each image came from."""

    pool_x: np.ndarray
    pool_y: np.ndarray
    pool_index: np.ndarray  # index of each pool image in source.train_images
    test_x: np.ndarray
    test_y: np.ndarray
    test_index: np.ndarray  # index in source.test_images, or in source.train_images when held out
    test_origin: str        # how the test set was made, in words (for the card)
    test_from_train: bool


@dataclass
class Split:
    """One split before writing: its images (sharp until `_blur_and_score`), labels, blur specs, origin."""

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray  # index into source.train_images (or source.test_images when `from_test`)
    from_test: bool
    specs: list = field(default_factory=list)
    scores: np.ndarray | None = None
    truth: np.ndarray | None = None  # blur task: the class says which images are blurred

    @property
    def blurred(self) -> np.ndarray:
        if self.truth is not None:
            return self.truth
        return np.array([spec is not None for spec in self.specs], bool)


@dataclass
class BuildPlan:
    """What will be written: the validated options and profile, and every split's images and blurs."""

    source: SourceData
    options: BuildOptions
    profile: LongTailProfile
    available: list[int]  # pool images per class, before the skew
    test_origin: str
    splits: dict[str, Split]

    @property
    def num_classes(self) -> int:
        return len(self.source.class_names)

    def counts(self, split: str) -> list[int]:
        return [int(n) for n in np.bincount(self.splits[split].labels, minlength=self.num_classes)]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def class_folder(index: int, name: str) -> str:
    """images/{split}/{class_index:02d}_{class_name_slug}: sortable, and safe for names like 'T-shirt/top'."""
    return f"{index:02d}_{_slug(name) or 'class'}"


def _hold_out_test(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of a stratified `fraction` of every class (at least one image left to train)."""
    is_test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_test = min(round_half_up(fraction * len(members)), len(members) - 1)
        is_test[rng.permutation(members)[:n_test]] = True
    return is_test


def split_source(source: SourceData, test_fraction: float = 0.2, seed: int = 0) -> SourcePools:
    """Step 1: the training pool and the test set, before the skew."""
    x, y = source.train_images, source.train_labels
    if source.test_images is not None and source.test_labels is not None:
        return SourcePools(x, y, np.arange(len(y)), source.test_images, source.test_labels,
                           np.arange(len(source.test_labels)), "the source's own test set, all of it", False)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    is_test = _hold_out_test(y, test_fraction, np.random.default_rng(seed))
    origin = f"a stratified {100 * test_fraction:g} % of every class of the source (seed {seed}), held out before the skew"
    pool, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return SourcePools(x[pool], y[pool], pool, x[test], y[test], test, origin, True)


def pool_counts(source: SourceData, test_fraction: float = 0.2, seed: int = 0) -> list[int]:
    """Images per class the long-tail draw can pick from (what a profile is sized against)."""
    pool_y = split_source(source, test_fraction, seed).pool_y
    return [int(n) for n in np.bincount(pool_y, minlength=len(source.class_names))]


def _select(labels: np.ndarray, profile: LongTailProfile, val_fraction: float, rng: np.random.Generator):
    """Step 2: the long-tail draw per class, its first share stratified into validation."""
    train_idx, val_idx = [], []
    for c, count in enumerate(profile.counts):
        members = np.flatnonzero(labels == c)
        chosen = rng.permutation(members)[:count]
        n_val = max(1, round_half_up(val_fraction * count)) if count >= 2 and val_fraction > 0 else 0
        val_idx.append(np.sort(chosen[:n_val]))
        train_idx.append(np.sort(chosen[n_val:]))
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _select_dev(labels: np.ndarray, taken: np.ndarray, per_class: int, num_classes: int,
                rng: np.random.Generator) -> np.ndarray:
    """Step 3: per class, min(per_class, left over) of the pool images the long tail did not take."""
    left = np.ones(len(labels), bool)
    left[taken] = False
    chosen = [rng.permutation(np.flatnonzero(left & (labels == c)))[:per_class] for c in range(num_classes)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _check_profile(profile: LongTailProfile, available: list[int], source: SourceData, allow_rule_break: bool) -> None:
    k = len(source.class_names)
    if len(profile.counts) != k:
        raise ValueError(f"profile has {len(profile.counts)} classes, the source has {k}")
    short = [f"{source.class_names[c]} ({profile.counts[c]} > {available[c]})" for c in range(k) if profile.counts[c] > available[c]]
    if short:
        raise ValueError("profile asks for more images than the source has: " + ", ".join(short))
    profile.check(allow_rule_break)


def plan_build(source: SourceData, options: BuildOptions) -> BuildPlan:
    """Steps 1-4: validate, draw every split and choose its blurs; no pixel is blurred yet."""
    options.check()
    pools = split_source(source, options.test_fraction, options.seed)
    available = [int(a) for a in np.bincount(pools.pool_y, minlength=len(source.class_names))]
    profile = options.profile or natural_profile(available)
    _check_profile(profile, available, source, options.allow_rule_break or bool(options.blur_task))
    train_idx, val_idx = _select(pools.pool_y, profile, options.val_fraction, np.random.default_rng(options.seed))
    dev_idx = _select_dev(pools.pool_y, np.concatenate([train_idx, val_idx]), options.dev_per_class,
                          len(source.class_names), np.random.default_rng(options.dev_seed))

    def from_pool(idx: np.ndarray) -> Split:
        return Split(pools.pool_x[idx], pools.pool_y[idx], pools.pool_index[idx], from_test=False)

    splits = {"train": from_pool(train_idx), "val": from_pool(val_idx),
              "test": Split(pools.test_x, pools.test_y, pools.test_index, from_test=not pools.test_from_train),
              "dev": from_pool(dev_idx)}
    _choose_all_blurs(splits, options)
    if options.blur_task:
        for split in splits.values():
            split.truth = blur_truth(split.labels, options.blur_task)
    return BuildPlan(source, options, profile, available, pools.test_origin, splits)


def _choose_all_blurs(splits: dict[str, Split], options: BuildOptions) -> None:
    """Step 4: train then val from one generator (the v1 order), test and dev from their own."""
    blur_rng = np.random.default_rng(options.blur_seed)
    for name in ("train", "val"):
        splits[name].specs = choose_blurs(splits[name].labels, options.blur, blur_rng)
    splits["test"].specs = choose_blurs(splits["test"].labels, options.blur, np.random.default_rng(options.test_blur_seed))
    splits["dev"].specs = choose_blurs(splits["dev"].labels, options.blur, np.random.default_rng(options.dev_blur_seed))


def _blur_and_score(plan: BuildPlan, progress: bool) -> FeatureConfig:
    """Step 5: blur every split, score every image; returns the FeatureConfig with the train-fitted threshold."""
    size = plan.source.image_size
    for name, split in plan.splits.items():
        split.images = apply_blurs(split.images, split.specs, f"blurring {name}", progress)
        split.scores = laplacian_scores(split.images, size, f"scoring {name}", progress)
    train = plan.splits["train"]
    # A threshold needs both blurred and sharp training images; --blur-fraction 0 (or 1) keeps the default.
    fitted = bool(train.blurred.any() and not train.blurred.all())
    threshold = fit_blur_threshold(train.scores, train.blurred) if fitted else DEFAULT_BLUR_THRESHOLD
    return FeatureConfig(size=size, blur_threshold=threshold)


def _manifest_row(image_id: str, split: str, rel: str, c: int, plan: BuildPlan, spec, score: float, blurred: bool) -> list:
    name = plan.source.class_names[c]
    return [
        image_id, split, rel, c, name, plan.profile.groups[c],
        int(blurred), spec.kind if spec else "", f"{spec.param:.4f}" if spec else "",
        f"{spec.angle:.2f}" if spec and spec.angle is not None else "", f"{score:.4f}",
    ]


def _write_split(tmp: Path, name: str, split: Split, plan: BuildPlan, writer, progress: bool) -> None:
    folders = [class_folder(c, n) for c, n in enumerate(plan.source.class_names)]
    for folder in folders:
        (tmp / "images" / name / folder).mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(len(split.labels)), desc=f"writing {name}", unit="img", disable=not progress):
        c = int(split.labels[i])
        image_id = f"{name}-{i:05d}"
        rel = f"images/{name}/{folders[c]}/{image_id}.png"
        image = split.images[i]
        ok, png = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode {rel} as PNG")
        (tmp / rel).write_bytes(png.tobytes())
        writer.writerow(_manifest_row(image_id, name, rel, c, plan, split.specs[i], float(split.scores[i]),
                                     bool(split.blurred[i])))


def _write(plan: BuildPlan, card: dict, out: Path, force: bool, progress: bool) -> None:
    """Step 6: everything inside one atomic directory; card.json last (its presence means complete)."""
    with atomic_directory(out, force=force) as tmp:
        manifest = io.StringIO()
        writer = csv.writer(manifest, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for name in SPLITS:
            if name != "dev" or len(plan.splits[name].labels):  # no dev: no empty dev folders
                _write_split(tmp, name, plan.splits[name], plan, writer, progress)
        (tmp / "manifest.csv").write_text(manifest.getvalue())
        card["plots"] = write_plots(card, tmp / "plots")
        (tmp / "card.md").write_text(card_markdown(card))
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")


def build_dataset(source: SourceData, out: str | Path, options: BuildOptions = BuildOptions(), force: bool = False,
                  progress: bool = True) -> DatasetDir:
    """Build the dataset directory `out` from `source` and return it read back (`read_dataset`).

    Everything is validated before any pixel is touched, so a bad option costs nothing; `out` must
    not exist unless `force` (then it is replaced only once the new directory is complete).
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    plan = plan_build(source, options)
    feature_config = _blur_and_score(plan, progress)
    card = make_card(plan, feature_config, options.name or out.name)
    _write(plan, card, out, force, progress)
    return read_dataset(out)
