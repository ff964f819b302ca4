"""The baselines the benchmarks compare against, each trained to its own convergence.

- A small CNN (32-64-128 conv, a 128-unit dense layer; the original approach's network), plain
  cross-entropy, no balancing, on the Laplacian-switched edge maps (the original approach) or the
  raw pixels. It trains until the validation loss has not improved for `patience` epochs (at most
  `max_epochs`) and keeps the epoch with the lowest validation loss: a fixed short schedule would
  under-train it and flatter the product model (issue 10).
- A class-weighted logistic regression on raw pixels (scikit-learn): seconds to train, and on a
  small long-tailed dataset a strong floor the product recipe must clear.

Kept apart from `fusion` so the product model stays what it is. Every baseline takes a seed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in (32, 64, 128):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class FitHistory:
    """What early stopping did: the epoch kept and the validation loss of every epoch."""

    best_epoch: int
    val_losses: list[float]


def _tensor(x: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32) / 255.0)[:, None].to(device)


@torch.inference_mode()
def _loss(model: nn.Module, data: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024) -> float:
    model.eval()
    total = sum(F.cross_entropy(model(data[i : i + batch_size]), labels[i : i + batch_size], reduction="sum").item()
                for i in range(0, len(labels), batch_size))
    return total / max(1, len(labels))


def fit_small_cnn(x: np.ndarray, y: np.ndarray, num_classes: int, x_val: np.ndarray, y_val: np.ndarray,
                  max_epochs: int = 60, patience: int = 5, batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                  progress: bool = True, device: str | torch.device = "cpu") -> tuple[SmallCNN, FitHistory]:
    """Plain CE, uniform shuffling; early stopping on validation loss. x, x_val: (N, H, W) uint8.

    The whole (small) dataset sits on `device`; the returned model is on the CPU.
    """
    if max_epochs < 1 or patience < 1:
        raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs} and {patience}")
    if len(x_val) == 0:
        raise ValueError("x_val must hold validation images: early stopping needs them")
    torch.manual_seed(seed)
    model = SmallCNN(num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    data, labels = _tensor(x, device), torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    val_data, val_labels = _tensor(x_val, device), torch.from_numpy(np.asarray(y_val, dtype=np.int64)).to(device)
    best_state, history = copy.deepcopy(model.state_dict()), FitHistory(0, [])
    bar = tqdm(range(1, max_epochs + 1), desc="small CNN", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(labels))
        for start in range(0, len(labels), batch_size):
            index = torch.from_numpy(order[start : start + batch_size]).to(device)
            loss = F.cross_entropy(model(data[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history.val_losses.append(_loss(model, val_data, val_labels))
        bar.set_postfix(val_loss=f"{history.val_losses[-1]:.3f}", best=history.best_epoch)
        if history.val_losses[-1] <= min(history.val_losses):
            best_state, history.best_epoch = copy.deepcopy(model.state_dict()), epoch
        elif epoch - history.best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model.cpu().eval(), history


@torch.inference_mode()
def predict_small_cnn(model: SmallCNN, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    data = _tensor(x)
    return torch.cat([model(data[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).numpy()


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, seed: int = 0, c: float = 0.1, max_iter: int = 300):
    """Class-weighted (inverse frequency) multinomial logistic regression on raw pixels scaled to [0, 1]."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter, random_state=seed)
    return model.fit(_flat(x), np.asarray(y))


def predict_logistic_regression(model, x: np.ndarray) -> np.ndarray:
    return model.predict(_flat(x))


def _flat(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1) / 255.0
