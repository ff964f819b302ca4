"""The plain baselines the benchmark compares against: the original approach's small CNN.

A 32-64-128 conv net with a 128-unit dense layer, trained with plain cross-entropy and no
balancing, on (a) the Laplacian-switched edge maps only (the original approach, fixed threshold
100) or (b) the raw pixels. Kept apart from `fusion` so the product model stays what it is.
"""

from __future__ import annotations

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


def fit_small_cnn(x: np.ndarray, y: np.ndarray, num_classes: int, epochs: int = 8, batch_size: int = 128,
                  lr: float = 1e-3, seed: int = 0, progress: bool = True) -> SmallCNN:
    """Plain CE, uniform shuffling (no balancing): x is (N, H, W) uint8."""
    torch.manual_seed(seed)
    model = SmallCNN(num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    data = torch.from_numpy(x.astype(np.float32) / 255.0)[:, None]
    labels = torch.from_numpy(y)
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(y))
        for start in tqdm(range(0, len(y), batch_size), desc=f"baseline epoch {epoch + 1}", leave=False, disable=not progress):
            index = torch.from_numpy(order[start : start + batch_size])
            loss = F.cross_entropy(model(data[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.inference_mode()
def predict_small_cnn(model: SmallCNN, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    data = torch.from_numpy(x.astype(np.float32) / 255.0)[:, None]
    return torch.cat([model(data[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).numpy()
