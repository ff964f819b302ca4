"""Build a dataset directory: skew to a long tail, blur, score, write — all or nothing.

The steps follow the FMNIST-LT-Blur v1 protocol: per-class random selection (seed 0), a stratified
validation share of that set, exact per-class blur (seed 1 for train/val, seed 2 for test), the
source's full test set kept balanced, and a blur threshold fitted on the training split.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from features import DEFAULT_BLUR_THRESHOLD, FeatureConfig, blur_verdict, compute_features, fit_blur_threshold
from features.atomic import atomic_directory
from train.blurring import BlurOptions, apply_blurs, choose_blurs
from train.datacard import card_markdown, write_plots
from train.dataset_dir import MANIFEST_COLUMNS, DatasetDir, read_dataset
from train.longtail import GROUP_RULE, RULE, LongTailProfile, natural_profile, round_half_up
from train.sources import SourceData


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def _select(labels: np.ndarray, profile: LongTailProfile, val_fraction: float, rng: np.random.Generator):
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


def build_dataset(
    source: SourceData,
    out: str | Path,
    profile: LongTailProfile | None = None,
    blur: BlurOptions = BlurOptions(),
    val_fraction: float = 0.1,
    seed: int = 0,
    blur_seed: int = 1,
    test_blur_seed: int = 2,
    force: bool = False,
    allow_rule_break: bool = False,
    progress: bool = True,
    name: str | None = None,
) -> DatasetDir:
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    k = len(source.class_names)
    available = np.bincount(source.train_labels, minlength=k)
    profile = profile or natural_profile([int(a) for a in available])
    if len(profile.counts) != k:
        raise ValueError(f"profile has {len(profile.counts)} classes, the source has {k}")
    short = [f"{source.class_names[c]} ({profile.counts[c]} > {available[c]})" for c in range(k) if profile.counts[c] > available[c]]
    if short:
        raise ValueError("profile asks for more images than the source has: " + ", ".join(short))
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must lie in [0, 1); got {val_fraction}")
    profile.check(allow_rule_break)
    blur.check(allow_rule_break)

    train_idx, val_idx = _select(source.train_labels, profile, val_fraction, np.random.default_rng(seed))
    splits = {
        "train": (source.train_images[train_idx], source.train_labels[train_idx]),
        "val": (source.train_images[val_idx], source.train_labels[val_idx]),
        "test": (source.test_images, source.test_labels),
    }
    blur_rng = np.random.default_rng(blur_seed)
    specs = {"train": choose_blurs(splits["train"][1], blur, blur_rng), "val": choose_blurs(splits["val"][1], blur, blur_rng)}
    specs["test"] = choose_blurs(splits["test"][1], blur, np.random.default_rng(test_blur_seed))
    images = {s: apply_blurs(splits[s][0], specs[s], f"blurring {s}", progress) for s in splits}

    size = source.image_size
    scores = {s: compute_features(_rgb(images[s]), FeatureConfig(size=size)).laplacian_var if len(images[s]) else np.zeros(0) for s in splits}
    truth = {s: np.array([spec is not None for spec in specs[s]], bool) for s in splits}
    both = truth["train"].any() and not truth["train"].all()
    threshold = fit_blur_threshold(scores["train"], truth["train"]) if both else DEFAULT_BLUR_THRESHOLD
    feature_config = FeatureConfig(size=size, blur_threshold=threshold)

    groups = {source.class_names[c]: profile.groups[c] for c in range(k)}
    counts_after = {s: [int(n) for n in np.bincount(splits[s][1], minlength=k)] for s in splits}
    blurred_share = {
        s: [float(truth[s][splits[s][1] == c].mean()) if counts_after[s][c] else 0.0 for c in range(k)] for s in splits
    }

    def detection(t: float) -> dict:
        verdict = blur_verdict(scores["train"], t)
        recall = float(verdict[truth["train"]].mean()) if truth["train"].any() else 0.0
        return {"threshold": float(t), "accuracy": float((verdict == truth["train"]).mean()), "recall": recall}

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
        "counts_before": {"train": [int(a) for a in available], "test": [int(n) for n in np.bincount(source.test_labels, minlength=k)]},
        "counts_after": counts_after,
        "shares": profile.shares,
        "frequent_share": profile.frequent_share,
        "smallest_share": min(profile.shares),
        "blurred_share": blurred_share,
        "blur": {"fraction": blur.fraction, "kinds": list(blur.kinds), "ranges": {k_: list(v) for k_, v in blur.ranges.items()}},
        "seeds": {"selection": seed, "blur_train_val": blur_seed, "blur_test": test_blur_seed},
        "val_fraction": val_fraction,
        "image_size": size,
        "channels": source.channels,
        "feature_config": feature_config.to_dict(),
        "blur_threshold_default": DEFAULT_BLUR_THRESHOLD,
        "blur_detection": {"fitted": detection(threshold), "default": detection(DEFAULT_BLUR_THRESHOLD)},
        "skipped_files": list(source.skipped),
    }

    with atomic_directory(out, force=force) as tmp:
        manifest = io.StringIO()
        writer = csv.writer(manifest, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        folders = {c: f"{c:02d}_{_slug(n)}" for c, n in enumerate(source.class_names)}
        for split in ("train", "val", "test"):
            for folder in folders.values():
                (tmp / "images" / split / folder).mkdir(parents=True, exist_ok=True)
            labels = splits[split][1]
            for i in tqdm(range(len(labels)), desc=f"writing {split}", unit="img", disable=not progress):
                c = int(labels[i])
                image_id = f"{split}-{i:05d}"
                rel = f"images/{split}/{folders[c]}/{image_id}.png"
                image = images[split][i]
                ok = cv2.imwrite(str(tmp / rel), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise OSError(f"could not write {tmp / rel}")
                spec = specs[split][i]
                writer.writerow([
                    image_id, split, rel, c, source.class_names[c], groups[source.class_names[c]],
                    int(spec is not None), spec.kind if spec else "", f"{spec.param:.4f}" if spec else "",
                    f"{spec.angle:.2f}" if spec and spec.angle is not None else "", f"{scores[split][i]:.4f}",
                ])
        (tmp / "manifest.csv").write_text(manifest.getvalue())
        card["plots"] = write_plots(card, tmp / "plots")
        import json

        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        (tmp / "card.md").write_text(card_markdown(card))
    return read_dataset(out)
