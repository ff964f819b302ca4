"""The pieces bench/bench_train_profile.py swaps in: a phase timer, EMA update styles, worker batches.

Kept apart from the benchmark's main loop so each variant is one small function, and so the EMA
styles sit next to each other where their difference (one fused kernel per tensor list versus two,
versus one launch per parameter) is plain to see.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

PHASES = ("prepare", "forward", "backward", "optimiser", "ema")
EMA_MODES = ("lerp", "foreach mul_+add_", "per-parameter loop")


class StepTimer:
    """Wall time per phase; synchronises the device at each boundary so queued GPU work is charged
    to the phase that queued it, not to whichever phase happens to wait for it next."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.totals: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    @staticmethod
    def sync(device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.sync(self.device)
        start = time.perf_counter()
        yield
        self.sync(self.device)
        self.totals[name] += time.perf_counter() - start
        self.counts[name] += 1

    def mean(self, name: str) -> float:
        return self.totals[name] / max(1, self.counts[name])


def ema_updater(mode: str) -> Callable:
    """An update(average, model) with train.ema.WeightAverage's decay schedule, in the given style."""
    if mode not in EMA_MODES:
        raise ValueError(f"EMA mode must be one of {EMA_MODES}, got {mode!r}")

    @torch.no_grad()
    def update(average, model: nn.Module) -> None:
        if mode == "lerp":
            average.update(model)
            return
        average.updates += 1
        decay = min(average.decay, (1 + average.updates) / (10 + average.updates))
        mine = list(average.module.parameters())
        live = [p.detach() for p in model.parameters()]
        if mode == "foreach mul_+add_":
            torch._foreach_mul_(mine, decay)
            torch._foreach_add_(mine, live, alpha=1.0 - decay)
        else:
            for a, b in zip(mine, live):
                a.mul_(decay).add_(b, alpha=1.0 - decay)
        for a, b in zip(average.module.buffers(), model.buffers()):
            a.copy_(b)

    return update


def _identity(batch):
    return batch


class _PreparedBatches(torch.utils.data.IterableDataset):
    """Endless prepared batches; each DataLoader worker draws with its own seed."""

    def __init__(self, ctx, prepare: Callable, batch_size: int, seed: int) -> None:
        self.ctx, self.prepare, self.batch_size, self.seed = ctx, prepare, batch_size, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        train = self.ctx.data.train
        while True:
            index = rng.integers(0, len(train), self.batch_size)
            yield self.prepare(self.ctx, train.take(index), rng)


def worker_batches(ctx, prepare: Callable, batch_size: int, workers: int, seed: int) -> Iterator:
    """Batches prepared by `workers` DataLoader processes (forked, so the arrays are shared, not
    pickled) while the main process runs the model; the main process only copies them to the device."""
    loader = torch.utils.data.DataLoader(_PreparedBatches(ctx, prepare, batch_size, seed), batch_size=None,
                                         num_workers=workers, collate_fn=_identity, prefetch_factor=4,
                                         multiprocessing_context="fork", persistent_workers=False)
    return iter(loader)
