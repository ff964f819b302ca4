"""Weight averaging: an exponential moving average (EMA) of the model's weights during training.

The averaged weights sit in a flatter region of the loss than the last step's weights, which
tends to help most where the data are few and noisy (the rare classes here), and they move slowly,
so the epoch-to-epoch jumps that make selection on 10 rare validation images chase noise shrink.
When enabled, the EMA model is what training evaluates, selects and saves.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage(nn.Module):
    """EMA of a model's parameters; buffers (BatchNorm statistics) are copied from the live model.

    The effective decay starts low and rises to `decay` ((1 + t) / (10 + t), as in TensorFlow's
    ExponentialMovingAverage with num_updates), so early updates are not dominated by the random
    head the average starts from.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged = [p for p in self.module.parameters()]
        live = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averaged, live, 1.0 - decay)
        for mine, theirs in zip(self.module.buffers(), model.buffers()):
            mine.copy_(theirs)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def state(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
