"""How unfamiliar an input is to the model: the out-of-distribution scores, higher = less familiar.

Three scores (`ModelConfig.ood["method"]`):

- ``stages`` (the default for models with the image branch): how far the *statistics of early
  backbone feature maps* (per channel: spatial mean and standard deviation, stages `stages`, by
  default 2 and 3 of efficientnet-lite0: strides 8 and 16) lie from those of the training images —
  a squared Mahalanobis distance to one Gaussian per stage, fitted class-balanced so rare classes
  are not called unfamiliar — combined with the energy score. Each member is standardised on the
  validation split and the combined score is their mean. Why: the last layers of a classifier are
  trained to throw away everything but the class, so a photograph whose colours, textures and
  background no Fashion-MNIST image has can still land confidently in a class (energy alone:
  AUROC 0.87 for photographs on the default model); early feature statistics keep exactly that
  (Lee et al., 2018, use several layers for the same reason). Chosen on the dev split among
  pre-declared stage sets (docs/RESULTS.md, "Unfamiliar images").
- ``mahalanobis`` (Lee et al., 2018): the smallest Mahalanobis distance of the fused embedding to a
  class mean, under one covariance shared by the classes.
- ``energy`` (Liu et al., 2020): minus the log-sum-exp of the class logits; needs nothing stored.
  What a model without the image branch (a blur-task model) falls back to.

The threshold is the `keep` quantile (default 95 %) of the score on held-out in-distribution
images (the validation split): about 5 % of familiar images are flagged, a known, stated price.
Fitting and storage live in `fusion.ood_store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from fusion.config import OOD_METHODS
from fusion.defaults import DEFAULT_OOD_KEEP

DEFAULT_STAGES: tuple[int, ...] = (2, 3)
DEFAULT_KEEP = DEFAULT_OOD_KEEP


@dataclass
class OODStats:
    """Gaussian means (K, D) and shared precision (D, D) (float64 on CPU); K = 1 for one Gaussian."""

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


@dataclass
class Embedded:
    """What one forward pass gives the OOD scores, per unit (image or tile)."""

    embeddings: torch.Tensor  # (U, D) fused embedding
    logits: torch.Tensor  # (U, K)
    stages: list[torch.Tensor] | None = None  # per stage (U, 2C): `stage_features`; None unless asked for
    owner: np.ndarray | None = None  # (U,) image index of each unit (set by `Predictor.embed_batch`)


def _check_xy(x: torch.Tensor, n_labels: int) -> None:
    if x.ndim != 2 or len(x) != n_labels or len(x) < 2:
        raise ValueError(f"embeddings must be (N, D) with N >= 2 labels; got {tuple(x.shape)} and {n_labels} labels")


def _shrunk_precision(centred: torch.Tensor, weights: torch.Tensor, dof: float, shrinkage: float) -> torch.Tensor:
    """Precision of a covariance shrunk towards its diagonal, so it stays invertible with few images."""
    if not 0 <= shrinkage < 1:
        raise ValueError(f"shrinkage must lie in [0, 1); got {shrinkage}")
    cov = (centred * weights[:, None]).T @ centred / dof
    cov = (1 - shrinkage) * cov + shrinkage * torch.diag(torch.diag(cov)) + 1e-6 * torch.eye(cov.shape[0], dtype=cov.dtype)
    return torch.linalg.pinv(cov, hermitian=True)


def fit_mahalanobis(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, shrinkage: float = 0.1) -> OODStats:
    """Class means and shared covariance of training embeddings; shrinkage towards the diagonal."""
    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    _check_xy(x, len(y))
    present = [c for c in range(num_classes) if (y == c).any()]
    means = torch.stack([x[y == c].mean(0) if (y == c).any() else x.mean(0) for c in range(num_classes)])
    precision = _shrunk_precision(x - means[y], torch.ones(len(x), dtype=x.dtype), max(1, len(x) - len(present)), shrinkage)
    return OODStats(means=means, precision=precision)


def fit_balanced_gaussian(features: np.ndarray, labels: np.ndarray, shrinkage: float = 0.1) -> OODStats:
    """One Gaussian over all classes, each class weighing the same whatever its image count: fitted
    plainly, a long-tailed training set would make its rare classes look unfamiliar (measured: 16 %
    of dev T-shirts flagged against 5 % overall)."""
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    y = np.asarray(labels)
    _check_xy(x, len(y))
    counts = np.bincount(y)
    weights = torch.as_tensor(1.0 / counts[y], dtype=torch.float64)
    weights = weights / weights.sum()
    mean = (weights[:, None] * x).sum(0)
    return OODStats(means=mean[None], precision=_shrunk_precision(x - mean, weights, 1.0, shrinkage))


def mahalanobis_score(embeddings: torch.Tensor, stats: OODStats) -> np.ndarray:
    """(N,) smallest squared Mahalanobis distance to a class mean."""
    x = embeddings.detach().double().cpu()
    diff = x[:, None, :] - stats.means[None]  # (N, K, D)
    dist = torch.einsum("nkd,de,nke->nk", diff, stats.precision, diff)
    return dist.min(dim=1).values.numpy()


def energy_score(logits: torch.Tensor) -> np.ndarray:
    """(N,) minus log-sum-exp of the logits: high when no class claims the input."""
    return (-torch.logsumexp(logits.detach().double().cpu(), dim=1)).numpy()


def stage_features(maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per feature map (N, C, H, W): (N, 2C) channel means and standard deviations over space —
    the colour, contrast and texture summary that early layers keep and late ones discard."""
    out = []
    for fmap in maps:
        if fmap.ndim != 4:
            raise ValueError(f"stage feature maps must be (N, C, H, W); got {tuple(fmap.shape)}")
        flat = fmap.detach().double().flatten(2)
        out.append(torch.cat([flat.mean(2), flat.std(2, unbiased=False)], dim=1).cpu())
    return out


def stage_names(stages: Sequence[int]) -> list[str]:
    return [f"stage{i}" for i in stages]


def member_scores(settings: dict, stats: dict[str, OODStats], embedded: Embedded) -> dict[str, np.ndarray]:
    """The raw scores a method combines, by name (one member for energy and mahalanobis)."""
    method = settings.get("method")
    if method == "energy":
        return {"energy": energy_score(embedded.logits)}
    if method == "mahalanobis":
        if "embedding" not in stats:
            raise ValueError("the mahalanobis OOD score needs the fitted statistics (ood.safetensors)")
        return {"mahalanobis": mahalanobis_score(embedded.embeddings, stats["embedding"])}
    if method == "stages":
        names = stage_names(settings["stages"])
        if embedded.stages is None or len(embedded.stages) != len(names):
            raise ValueError(f"the stages OOD score needs the statistics of backbone stages {settings['stages']}")
        missing = [n for n in names if n not in stats]
        if missing:
            raise ValueError(f"the stages OOD score needs the fitted statistics of {missing} (ood.safetensors)")
        members = {n: np.log(mahalanobis_score(f, stats[n]) + 1e-9) for n, f in zip(names, embedded.stages)}
        return {**members, "energy": energy_score(embedded.logits)}
    raise ValueError(f"OOD method must be one of {OOD_METHODS}; got {method!r}")


def combine(members: dict[str, np.ndarray], settings: dict) -> np.ndarray:
    """One score per unit: the single member, or (stages) the mean of the members standardised
    by their validation mean (`centre`) and standard deviation (`scale`)."""
    if len(members) == 1:
        return next(iter(members.values()))
    centre, scale = settings["centre"], settings["scale"]
    return np.mean([(members[n] - centre[n]) / scale[n] for n in members], axis=0)


def ood_scores(settings: dict, stats: dict[str, OODStats], embedded: Embedded) -> np.ndarray:
    """(U,) the fitted method's score for every unit."""
    return combine(member_scores(settings, stats, embedded), settings)


def fit_threshold(scores: np.ndarray, keep: float = DEFAULT_KEEP) -> float:
    """The score under which `keep` of the in-distribution held-out images fall."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("need a non-empty array of finite in-distribution scores to fit the OOD threshold")
    if not 0 < keep < 1:
        raise ValueError(f"keep must lie in (0, 1); got {keep}")
    return float(np.quantile(scores, keep))


def image_scores(unit_scores: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Mean unit value per image (an image's tiles share one answer, as in `Predictor`): (U,) or
    (U, K) unit values -> (N,) or (N, K)."""
    owner = np.asarray(owner)
    values = np.asarray(unit_scores, dtype=np.float64)
    sums = np.zeros((owner.max() + 1,) + values.shape[1:])
    np.add.at(sums, owner, values)
    counts = np.bincount(owner).reshape((-1,) + (1,) * (values.ndim - 1))
    return sums / counts


def describe_settings(settings: dict) -> str:
    """One line for the training log and `blurfuse calibrate`: which score, its threshold, what it keeps."""
    method = settings["method"]
    if method == "stages":
        method = f"stages {list(settings['stages'])} + energy"
    view = settings.get("view")
    second = (f", with a low-passed second look (sigma {100 * view['lowpass']:.0f} % of the shorter side"
              f"{', grey' if view.get('grey') else ''}) before flagging") if view else ""
    return (f"out-of-distribution score {method}{second}: threshold {settings['threshold']:.4g} keeps "
            f"{100 * settings['keep']:.0f} % of {settings['fitted_on']}")
