"""Build a dataset directory: skew to a long tail, blur, score, write — all or nothing.

The steps follow the FMNIST-LT-Blur v1 protocol (docs/ARCHITECTURE.md, train/):

1. Long tail: per class, `profile.counts[c]` images drawn at random from the source's training pool
   (`np.random.default_rng(seed)`, classes in order, `rng.permutation(members)[:count]`).
2. Validation: the first round(val_fraction * count) of each class's draw (so a stratified share,
   same generator), the rest is train.
3. Test: the source's own test set, all of it, balanced as published. A source without one (a flat
   image folder) gives a stratified `test_fraction` of every class first (`default_rng(seed)` too),
   before the skew.
4. Blur: exactly round(fraction * n) images of every class of every split (seed `blur_seed` for
   train then val from one generator, `test_blur_seed` for test).
5. Score: the Laplacian variance of every image through `features.compute_features` (the one path),
   and the blur threshold fitted on the TRAIN split's scores against the blurred flags.
6. Write PNGs, manifest.csv, card.json, card.md and plots inside `atomic_directory`, so an
   interrupted build never leaves a directory that looks complete.

Same arguments, same bytes: every random draw comes from a seeded numpy Generator, and PNGs are
written by OpenCV with its fixed default settings.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from features import DEFAULT_BLUR_THRESHOLD, FeatureConfig, blur_verdict, compute_features, fit_blur_threshold
from features.atomic import atomic_directory
from train.data.blurring import BlurOptions, apply_blurs, choose_blurs
from train.data.datacard import card_markdown, write_plots
from train.data.dataset_dir import MANIFEST_COLUMNS, SPLITS, DatasetDir, read_dataset
from train.data.longtail import GROUP_RULE, RULE, LongTailProfile, natural_profile, round_half_up
from train.data.sources import SourceData

SCORE_CHUNK = 4096  # images per compute_features call: bounded memory, a progress bar that moves


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


def split_source(source: SourceData, test_fraction: float = 0.2, seed: int = 0):
    """(pool_x, pool_y, test_x, test_y, how the test set was made): step 3, before the skew."""
    if source.test_images is not None and source.test_labels is not None:
        return source.train_images, source.train_labels, source.test_images, source.test_labels, "the source's own test set, all of it"
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    is_test = _hold_out_test(source.train_labels, test_fraction, np.random.default_rng(seed))
    x, y = source.train_images, source.train_labels
    origin = f"a stratified {100 * test_fraction:g} % of every class of the source (seed {seed}), held out before the skew"
    return x[~is_test], y[~is_test], x[is_test], y[is_test], origin


def pool_counts(source: SourceData, test_fraction: float = 0.2, seed: int = 0) -> list[int]:
    """Images per class the long-tail draw can pick from (what a profile is sized against)."""
    pool_y = split_source(source, test_fraction, seed)[1]
    return [int(n) for n in np.bincount(pool_y, minlength=len(source.class_names))]


def _select(labels: np.ndarray, profile: LongTailProfile, val_fraction: float, rng: np.random.Generator):
    """Steps 1-2: the long-tail draw per class, its first share stratified into validation."""
    train_idx, val_idx = [], []
    for c, count in enumerate(profile.counts):
        members = np.flatnonzero(labels == c)
        chosen = rng.permutation(members)[:count]
        n_val = max(1, round_half_up(val_fraction * count)) if count >= 2 and val_fraction > 0 else 0
        val_idx.append(np.sort(chosen[:n_val]))
        train_idx.append(np.sort(chosen[n_val:]))
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=3) if images.ndim == 3 else images


def laplacian_scores(images: np.ndarray, size: int, desc: str, progress: bool = True) -> np.ndarray:
    """Laplacian variance of every image through features.compute_features (the path inference uses)."""
    scores = np.zeros(len(images), np.float64)
    config = FeatureConfig(size=size)
    for start in tqdm(range(0, len(images), SCORE_CHUNK), desc=desc, unit="chunk", disable=not progress):
        scores[start : start + SCORE_CHUNK] = compute_features(_rgb(images[start : start + SCORE_CHUNK]), config).laplacian_var
    return scores


def _detection(scores: np.ndarray, truth: np.ndarray, threshold: float) -> dict:
    verdict = blur_verdict(scores, threshold)
    return {
        "threshold": float(threshold),
        "accuracy": float((verdict == truth).mean()) if len(truth) else 0.0,
        "recall": float(verdict[truth].mean()) if truth.any() else 0.0,  # share of blurred images caught
        "false_positive_rate": float(verdict[~truth].mean()) if (~truth).any() else 0.0,
    }


def build_dataset(
    source: SourceData,
    out: str | Path,
    profile: LongTailProfile | None = None,
    blur: BlurOptions = BlurOptions(),
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    blur_seed: int = 1,
    test_blur_seed: int = 2,
    force: bool = False,
    allow_rule_break: bool = False,
    progress: bool = True,
    name: str | None = None,
) -> DatasetDir:
    """Build the dataset directory `out` from `source` and return it read back (`read_dataset`).

    `profile=None` keeps every image (the natural profile). `test_fraction` is used only when the
    source has no test set of its own. Everything is validated before any pixel is touched, so a
    bad argument costs nothing; `out` must not exist unless `force` (then it is replaced only once
    the new directory is complete).
    """
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must lie in [0, 1); got {val_fraction}")
    k = len(source.class_names)
    pool_x, pool_y, test_x, test_y, test_origin = split_source(source, test_fraction, seed)
    available = np.bincount(pool_y, minlength=k)
    profile = profile or natural_profile([int(a) for a in available])
    if len(profile.counts) != k:
        raise ValueError(f"profile has {len(profile.counts)} classes, the source has {k}")
    short = [f"{source.class_names[c]} ({profile.counts[c]} > {available[c]})" for c in range(k) if profile.counts[c] > available[c]]
    if short:
        raise ValueError("profile asks for more images than the source has: " + ", ".join(short))
    profile.check(allow_rule_break)
    blur.check(allow_rule_break)

    train_idx, val_idx = _select(pool_y, profile, val_fraction, np.random.default_rng(seed))
    splits = {
        "train": (pool_x[train_idx], pool_y[train_idx]),
        "val": (pool_x[val_idx], pool_y[val_idx]),
        "test": (test_x, test_y),
    }
    blur_rng = np.random.default_rng(blur_seed)
    specs = {"train": choose_blurs(splits["train"][1], blur, blur_rng), "val": choose_blurs(splits["val"][1], blur, blur_rng)}
    specs["test"] = choose_blurs(splits["test"][1], blur, np.random.default_rng(test_blur_seed))
    images = {s: apply_blurs(splits[s][0], specs[s], f"blurring {s}", progress) for s in SPLITS}

    size = int(pool_x.shape[1])
    scores = {s: laplacian_scores(images[s], size, f"scoring {s}", progress) for s in SPLITS}
    truth = {s: np.array([spec is not None for spec in specs[s]], bool) for s in SPLITS}
    # A threshold needs both blurred and sharp training images; --blur-fraction 0 (or 1) keeps the default.
    fitted = bool(truth["train"].any() and not truth["train"].all())
    threshold = fit_blur_threshold(scores["train"], truth["train"]) if fitted else DEFAULT_BLUR_THRESHOLD
    feature_config = FeatureConfig(size=size, blur_threshold=threshold)

    groups = {source.class_names[c]: profile.groups[c] for c in range(k)}
    counts_after = {s: [int(n) for n in np.bincount(splits[s][1], minlength=k)] for s in SPLITS}
    blurred_share = {
        s: [float(truth[s][splits[s][1] == c].mean()) if counts_after[s][c] else 0.0 for c in range(k)] for s in SPLITS
    }
    card = {
        "name": name or out.name,
        "dataset": source.name,
        "source": source.description,
        "class_names": list(source.class_names),
        "groups": groups,
        "profile": profile.name,
        "rule": RULE,
        "group_rule": GROUP_RULE,
        "rule_problems": profile.rule_problems(),
        "rule_followed": not profile.rule_problems() and blur.fraction >= blur.minimum,
        "counts_before": {"train": [int(a) for a in available], "test": [int(n) for n in np.bincount(test_y, minlength=k)]},
        "counts_after": counts_after,
        "shares": profile.shares,
        "frequent_share": profile.frequent_share,
        "smallest_share": min(profile.shares),
        "blurred_share": blurred_share,
        "blur": {
            "fraction": blur.fraction,
            "minimum_fraction": blur.minimum,
            "kinds": list(blur.kinds),
            "ranges": {kind: list(r) for kind, r in blur.ranges.items() if kind in blur.kinds},
        },
        "seeds": {"selection": seed, "validation": seed, "blur_train_val": blur_seed, "blur_test": test_blur_seed},
        "val_fraction": val_fraction,
        "test_origin": test_origin,
        "image_size": size,
        "channels": 1 if pool_x.ndim == 3 else 3,
        "feature_config": feature_config.to_dict(),
        "blur_threshold_fitted": fitted,
        "blur_threshold_default": DEFAULT_BLUR_THRESHOLD,
        "blur_detection": {
            "split": "train",
            "fitted": _detection(scores["train"], truth["train"], threshold),
            "default": _detection(scores["train"], truth["train"], DEFAULT_BLUR_THRESHOLD),
        },
        "skipped_files": list(source.skipped),
    }

    with atomic_directory(out, force=force) as tmp:
        manifest = io.StringIO()
        writer = csv.writer(manifest, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        folders = [class_folder(c, n) for c, n in enumerate(source.class_names)]
        for split in SPLITS:
            for folder in folders:
                (tmp / "images" / split / folder).mkdir(parents=True, exist_ok=True)
            labels = splits[split][1]
            for i in tqdm(range(len(labels)), desc=f"writing {split}", unit="img", disable=not progress):
                c = int(labels[i])
                image_id = f"{split}-{i:05d}"
                rel = f"images/{split}/{folders[c]}/{image_id}.png"
                image = images[split][i]
                ok, png = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise OSError(f"could not encode {rel} as PNG")
                (tmp / rel).write_bytes(png.tobytes())
                spec = specs[split][i]
                writer.writerow([
                    image_id, split, rel, c, source.class_names[c], groups[source.class_names[c]],
                    int(spec is not None), spec.kind if spec else "", f"{spec.param:.4f}" if spec else "",
                    f"{spec.angle:.2f}" if spec and spec.angle is not None else "", f"{scores[split][i]:.4f}",
                ])
        (tmp / "manifest.csv").write_text(manifest.getvalue())
        card["plots"] = write_plots(card, tmp / "plots")
        (tmp / "card.md").write_text(card_markdown(card))
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")  # last: its presence means complete
    return read_dataset(out)
