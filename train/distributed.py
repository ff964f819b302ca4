"""Multi-process training under torchrun: process group set-up, DDP wrapping, rank agreement checks.

One process (no torchrun) is the common case and costs nothing here. Under torchrun each rank
trains on its disjoint share of the same seeded class-balanced draw (`sampler.shard`), DDP averages
gradients, and every rank evaluates the same validation set with the same weights, so all ranks
take the same early-stopping decision without extra communication.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist


def setup() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def device_for(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not (dist.is_available() and dist.is_initialized()):
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def write_rank_digest(out: Path, rank: int, digest: str) -> None:
    """Each rank records a hash of its weights, so divergence between ranks is visible (and tested)."""
    (out / "ranks").mkdir(exist_ok=True)
    (out / "ranks" / f"rank{rank}.json").write_text(json.dumps({"rank": rank, "weights_sha256": digest}))


def sync_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's BatchNorm running statistics.

    DDP broadcasts buffers at the start of each forward, so after the last step of an epoch each
    rank still holds the statistics of its own final batch; evaluation and the checkpoint need
    one agreed set.
    """
    if dist.is_available() and dist.is_initialized():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
