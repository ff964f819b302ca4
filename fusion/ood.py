"""How unfamiliar an input is to the model: an out-of-distribution score on the fused embedding.

Two scores, higher = less like the training data:

- ``mahalanobis`` (Lee et al., 2018): the smallest Mahalanobis distance of the fused embedding
  (`FusionNet.forward_features`) to a class mean, under one covariance shared by the classes and
  shrunk towards its diagonal so it stays invertible with few images. Needs the class means and
  the precision matrix, kept in `RUN/ood.safetensors` beside the weights.
- ``energy`` (Liu et al., 2020): minus the log-sum-exp of the class logits. Needs nothing stored.

The threshold is the `keep` quantile (default 95 %) of the score on held-out in-distribution
images (the validation split), so about 5 % of familiar images are flagged: a known, stated
price for catching the unfamiliar ones. Energy is the default: it measured better on a Fashion-MNIST
model (README, "Unfamiliar images"); Mahalanobis is kept as the option for weak or small models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

OOD_METHODS: tuple[str, ...] = ("mahalanobis", "energy")
OOD_FILE = "ood.safetensors"
DEFAULT_KEEP = 0.95


@dataclass
class OODStats:
    """Class means (K, D) and shared precision (D, D) of the fused embedding (float64 on CPU)."""

    means: torch.Tensor
    precision: torch.Tensor

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {"means": self.means.float().contiguous(), "precision": self.precision.float().contiguous()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "OODStats":
        missing = {"means", "precision"} - set(tensors)
        if missing:
            raise ValueError(f"OOD statistics lack {sorted(missing)}")
        means, precision = tensors["means"].double(), tensors["precision"].double()
        if means.ndim != 2 or precision.shape != (means.shape[1], means.shape[1]):
            raise ValueError(f"OOD statistics have mismatched shapes: means {tuple(means.shape)}, precision {tuple(precision.shape)}")
        return cls(means, precision)


def fit_mahalanobis(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, shrinkage: float = 0.1) -> OODStats:
    """Class means and shared covariance of training embeddings; shrinkage towards the diagonal."""
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"embeddings must be (N, D) with N >= 2 labels; got {tuple(x.shape)} and {tuple(y.shape)}")
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must lie in [0, 1); got {shrinkage}")
    present = [c for c in range(num_classes) if (y == c).any()]
    means = torch.stack([x[y == c].mean(0) if (y == c).any() else x.mean(0) for c in range(num_classes)])
    centred = x - means[y]
    cov = centred.T @ centred / max(1, len(x) - len(present))
    cov = (1 - shrinkage) * cov + shrinkage * torch.diag(torch.diag(cov)) + 1e-6 * torch.eye(cov.shape[0], dtype=cov.dtype)
    return OODStats(means=means, precision=torch.linalg.pinv(cov, hermitian=True))


def mahalanobis_score(embeddings: torch.Tensor, stats: OODStats) -> np.ndarray:
    """(N,) smallest squared Mahalanobis distance to a class mean."""
    x = embeddings.detach().double().cpu()
    diff = x[:, None, :] - stats.means[None]  # (N, K, D)
    dist = torch.einsum("nkd,de,nke->nk", diff, stats.precision, diff)
    return dist.min(dim=1).values.numpy()


def energy_score(logits: torch.Tensor) -> np.ndarray:
    """(N,) minus log-sum-exp of the logits: high when no class claims the input."""
    return (-torch.logsumexp(logits.detach().double().cpu(), dim=1)).numpy()


def ood_scores(method: str, embeddings: torch.Tensor, logits: torch.Tensor, stats: OODStats | None) -> np.ndarray:
    if method == "energy":
        return energy_score(logits)
    if method == "mahalanobis":
        if stats is None:
            raise ValueError("the mahalanobis OOD score needs the fitted statistics (ood.safetensors)")
        return mahalanobis_score(embeddings, stats)
    raise ValueError(f"OOD method must be one of {OOD_METHODS}; got {method!r}")


def fit_threshold(scores: np.ndarray, keep: float = DEFAULT_KEEP) -> float:
    """The score under which `keep` of the in-distribution held-out images fall."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("need a non-empty array of finite in-distribution scores to fit the OOD threshold")
    if not 0 < keep < 1:
        raise ValueError(f"keep must lie in (0, 1); got {keep}")
    return float(np.quantile(scores, keep))


def save_stats(run_dir: str | os.PathLike, stats: OODStats) -> Path:
    from safetensors.torch import save

    from features.atomic import atomic_write_bytes

    return atomic_write_bytes(Path(run_dir) / OOD_FILE, save(stats.to_tensors()))


def load_stats(run_dir: str | os.PathLike) -> OODStats:
    from fusion.checkpoint import read_weights

    path = Path(run_dir) / OOD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model's OOD settings name the mahalanobis score")
    return OODStats.from_tensors(read_weights(path))


def image_scores(unit_scores: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Mean unit score per image (an image's tiles share one answer, as in `Predictor`)."""
    owner = np.asarray(owner)
    return np.bincount(owner, weights=unit_scores) / np.bincount(owner)


def fit_ood(predictor, train_images, train_labels: np.ndarray, val_images, method: str = "energy",
            keep: float = DEFAULT_KEEP, max_train: int = 5000, seed: int = 0, progress: bool = False
            ) -> tuple[dict, OODStats | None]:
    """The `ModelConfig.ood` settings and (mahalanobis) statistics for a trained model.

    Statistics come from at most `max_train` training images (a seeded subset: the class means and
    covariance of a 1360-wide embedding settle long before 23k images); the threshold from every
    validation image, which the model was never trained on.
    """
    if method not in OOD_METHODS:
        raise ValueError(f"OOD method must be one of {OOD_METHODS}; got {method!r}")
    if len(val_images) == 0:
        raise ValueError("fitting the OOD threshold needs held-out in-distribution images (the validation split)")
    stats = None
    if method == "mahalanobis":
        labels = np.asarray(train_labels)
        subset = np.sort(np.random.default_rng(seed).permutation(len(labels))[:max_train])
        emb, _, owner = predictor.embed_batch([train_images[i] for i in subset], progress=progress)
        stats = fit_mahalanobis(emb, labels[subset][owner], predictor.config.num_classes)
    emb, logits, owner = predictor.embed_batch(list(val_images), progress=progress)
    unit = ood_scores(method, torch.from_numpy(emb), torch.from_numpy(logits), stats)
    scores = image_scores(unit, owner)
    settings = {"method": method, "threshold": fit_threshold(scores, keep), "keep": keep,
                "fitted_on": f"{len(scores)} validation images", "train_images_used": 0 if stats is None else int(min(max_train, len(train_labels)))}
    return settings, stats


def describe_settings(settings: dict) -> str:
    """One line for the training log and `blurfuse calibrate`: which score, its threshold, what it keeps."""
    return (f"out-of-distribution score {settings['method']}: threshold {settings['threshold']:.4g} keeps "
            f"{100 * settings['keep']:.0f} % of {settings['fitted_on']}")


def write_ood(run_dir: str | os.PathLike, cfg, settings: dict, stats: OODStats | None):
    """Store the statistics (if any), then the settings in `model.json`; returns the new config."""
    import dataclasses

    from features.atomic import atomic_write_text
    from fusion.checkpoint import CONFIG_NAME

    if stats is not None:
        save_stats(run_dir, stats)
    new = dataclasses.replace(cfg, ood=dict(settings))
    atomic_write_text(Path(run_dir) / CONFIG_NAME, new.to_json())
    return new
