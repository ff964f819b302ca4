"""Model fixtures (owned by the fusion engineer): `tiny_checkpoint` and friends.

`tiny_checkpoint` is a run dir holding a real `FusionNet` checkpoint for `tiny_dataset`
(class names, groups, train counts and the fitted feature config come from the dataset card),
32 px, `pretrained="none"`, given a few quick optimisation steps on the dataset's train split so
its predictions are not all one class. It is written with `save_checkpoint`, exactly like a
training run, so analysis and web tests load it through the real code path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_STEPS = 12
TINY_BATCH = 32
TINY_MAX_IMAGES = 512  # a bigger tiny_dataset is subsampled so the fixture stays a few seconds


def _as_dataset(tiny_dataset):
    if hasattr(tiny_dataset, "class_names") and hasattr(tiny_dataset, "train_counts"):
        return tiny_dataset
    from train.data.dataset_dir import read_dataset

    return read_dataset(tiny_dataset)


def build_tiny_checkpoint(dataset, run_dir: Path, steps: int = TINY_STEPS, seed: int = 0) -> Path:
    """Fit a random-init 32 px FusionNet for a few steps on `dataset`'s train split and save it."""
    import numpy as np
    import torch

    from features.pipeline import compute_features
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
        recipe={"name": "tiny-fixture", "steps": steps, "batch_size": TINY_BATCH, "pretrained": "none"},
    )
    images = dataset.load_images("train", progress=False)
    keep = np.sort(np.random.default_rng(seed).permutation(len(rows))[:TINY_MAX_IMAGES])
    images, rows = images[keep], [rows[i] for i in keep]
    labels = torch.tensor([int(r["label"]) for r in rows])
    blurred = torch.tensor([float(r["blurred"]) for r in rows])
    inputs = model_inputs(images, compute_features(images, cfg.features_config()), cfg)

    torch.manual_seed(seed)
    model = create_model(cfg, pretrained="none")
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
