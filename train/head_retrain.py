"""Class-balanced re-training of the fusion classifier on frozen branches (Kang et al., 2020,
"Decoupling representation and classifier for long-tailed recognition").

The branches learn their features on the natural class mix (with Balanced Softmax); only the final
linear classifier is then fitted again with every class drawn equally often. The branches stay
frozen, so the embeddings of the training images are computed once (the stored images plus a few
freshly augmented and re-blurred views) and the classifier trains on them in seconds:

- `crt`: the classifier re-initialised and trained with class-balanced draws (cross-entropy);
- `lws`: learnable weight scaling, one scale per class on the kept classifier, class-balanced;
- `tau_norm`: each class's weight vector divided by its norm to the power tau, tau chosen on val.

Every method folds back into a plain `nn.Linear`, so the checkpoint format does not change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from train.prior_shift import check_prior_shift

HEAD_METHODS = ("none", "crt", "lws", "tau_norm")
TAU_GRID = tuple(round(0.1 * k, 1) for k in range(0, 21))  # 0 (unchanged) .. 2


@dataclass(frozen=True)
class HeadSettings:
    method: str = "crt"
    views: int = 2  # embedding passes over the training images: the stored ones, then fresh augmented views
    epochs: int = 10  # passes' worth of class-balanced draws over the embeddings
    batch_size: int = 512
    lr: float = 0.01
    weight_decay: float = 5e-4
    seed: int = 0
    prior_shift: float = 0.0  # the re-trained bias moved toward the rare classes afterwards (train.prior_shift)

    def validate(self) -> None:
        check_prior_shift(self.prior_shift)
        if self.method not in HEAD_METHODS:
            raise ValueError(f"head_retrain must be one of {HEAD_METHODS}; got {self.method!r}")
        for name in ("views", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"head {name} must be >= 1; got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"head lr must be positive; got {self.lr}")


def class_balanced_draws(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices into `labels`: a class drawn uniformly, then an image of it uniformly, so every
    class is drawn equally often however rare (counted in the tests). Vectorised: a Python loop
    per draw cost about a second for the default's 420k draws."""
    classes, counts = np.unique(labels, return_counts=True)
    by_class = np.argsort(np.searchsorted(classes, labels), kind="stable")  # indices grouped class by class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    which = rng.integers(0, len(classes), n)
    offsets = np.floor(rng.random(n) * counts[which]).astype(np.int64)
    return by_class[starts[which] + offsets].astype(np.int64)


def _balanced_batches(labels: np.ndarray, settings: HeadSettings):
    rng = np.random.default_rng([settings.seed, 31])
    draws = class_balanced_draws(labels, settings.epochs * len(labels), rng)
    return [torch.from_numpy(draws[i : i + settings.batch_size]) for i in range(0, len(draws), settings.batch_size)]


def _fit(parameters: list[torch.Tensor], logits_of: Callable[[torch.Tensor], torch.Tensor], embeddings: torch.Tensor,
         labels: torch.Tensor, settings: HeadSettings) -> None:
    optimizer = torch.optim.SGD(parameters, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    batches = _balanced_batches(labels.numpy(), settings)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, len(batches))
    for index in batches:
        loss = F.cross_entropy(logits_of(embeddings[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


def retrain_crt(classifier: nn.Linear, embeddings: torch.Tensor, labels: torch.Tensor, settings: HeadSettings) -> nn.Linear:
    """A fresh classifier trained on class-balanced draws of the frozen embeddings."""
    torch.manual_seed(settings.seed)
    fresh = nn.Linear(classifier.in_features, classifier.out_features)
    _fit(list(fresh.parameters()), fresh, embeddings, labels, settings)
    return fresh


def retrain_lws(classifier: nn.Linear, embeddings: torch.Tensor, labels: torch.Tensor, settings: HeadSettings) -> nn.Linear:
    """The kept classifier with one learned scale per class (weights and bias), class-balanced."""
    scale = torch.ones(classifier.out_features, requires_grad=True)
    weight, bias = classifier.weight.detach(), classifier.bias.detach()
    _fit([scale], lambda x: (x @ weight.T + bias) * scale, embeddings, labels, dataclasses.replace(settings, weight_decay=0.0))
    return _linear(weight * scale.detach()[:, None], bias * scale.detach())


def tau_normalised(classifier: nn.Linear, tau: float) -> nn.Linear:
    """Each class's weight vector divided by its norm ** tau (bias dropped, as in the paper)."""
    weight = classifier.weight.detach()
    norms = weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return _linear(weight / norms**tau, torch.zeros(classifier.out_features))


def choose_tau(classifier: nn.Linear, val_embeddings: torch.Tensor, val_labels: np.ndarray) -> float:
    """The tau of `TAU_GRID` with the best balanced accuracy on the validation embeddings."""
    from features.groups import nanmean, per_class_recall

    def balanced(tau: float) -> float:
        predicted = tau_normalised(classifier, tau)(val_embeddings).argmax(1).numpy()
        return float(nanmean(per_class_recall(val_labels, predicted, classifier.out_features)))

    return max(TAU_GRID, key=lambda tau: (balanced(tau), -tau))


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def retrain_classifier(classifier: nn.Linear, train: tuple[torch.Tensor, torch.Tensor],
                       val: tuple[torch.Tensor, np.ndarray], settings: HeadSettings) -> tuple[nn.Linear, dict]:
    """The new classifier per `settings.method`, and what was done (recorded in model.json)."""
    settings.validate()
    embeddings, labels = train
    if settings.method == "crt":
        layer, extra = retrain_crt(classifier, embeddings, labels, settings), {}
    elif settings.method == "lws":
        layer, extra = retrain_lws(classifier, embeddings, labels, settings), {}
    elif settings.method == "tau_norm":
        tau = choose_tau(classifier, *val)
        layer, extra = tau_normalised(classifier, tau), {"tau": tau, "tau_chosen_on": "val"}
    else:
        raise ValueError("head_retrain 'none' trains nothing")
    return layer, {"method": settings.method, "views": settings.views, "epochs": settings.epochs,
                   "train_embeddings": int(len(labels)), **extra}
