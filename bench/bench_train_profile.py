"""Benchmark: where a training step of the default recipe spends its time, and what speeds it up.

Times a few dozen optimiser steps after a warm-up, each split into batch preparation (draw, blur
augmentation, shift/flip, features to tensors, copy to the device), forward (with the loss),
backward, optimiser step and EMA update, synchronising the device between phases so each phase is
charged its own time. On cuda it then tries the knobs that might buy throughput: larger batches,
the model without channels_last, the EMA as a per-parameter loop or as foreach mul_+add_ instead of
torch._foreach_lerp_, torch.compile, and DataLoader workers preparing batches while the GPU runs.
Weights are random (pretrained=none): step time does not depend on them, and nothing is downloaded.

    .venv/bin/python bench/bench_train_profile.py --device cpu  [--steps 12 --warmup 3]
    .venv/bin/python bench/bench_train_profile.py --device cuda [--steps 40 --warmup 8]

The cuda run is sized to finish in under 3 minutes end to end (torch.compile included).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.train_profile_variants import (EMA_MODES, PHASES, StepTimer, ema_updater,  # noqa: E402
                                          worker_batches)
from train.batches import SplitArrays, augment, blur_augment  # noqa: E402
from train.fit import EpochContext, build_training, load_data, to_device  # noqa: E402
from train.recipes import parse_overrides, recipe_config  # noqa: E402


def prepare(ctx: EpochContext, batch: SplitArrays, rng: np.random.Generator) -> SplitArrays:
    """The CPU side of train.fit.train_step: blur augmentation, then shift and flip."""
    config, model_cfg = ctx.config, ctx.data.model_cfg
    if config.blur_augment > 0:
        batch = blur_augment(batch, rng, config.blur_augment, model_cfg.features_config(), ctx.data.blur.kinds,
                             ctx.data.blur.ranges, blurred_class=model_cfg.blur_task.get("blurred_class"))
    return augment(batch, rng)


def main_batches(ctx: EpochContext, batch_size: int, seed: int) -> Iterator[SplitArrays]:
    """Prepared batches cut in the main process, as train.fit does (uniform draw: cost is the same)."""
    rng = np.random.default_rng(seed)
    while True:
        index = rng.integers(0, len(ctx.data.train), batch_size)
        yield prepare(ctx, ctx.data.train.take(index), rng)


def timed_step(ctx: EpochContext, model: torch.nn.Module, batches: Iterator[SplitArrays], ema_update: Callable,
               timer: StepTimer, channels_last: bool = True) -> None:
    """One step of train.fit.train_step, each phase timed on its own."""
    with timer.phase("prepare"):
        batch = next(batches)
        inputs = to_device(batch, ctx.data.model_cfg, ctx.device)
        if not channels_last:
            inputs["rgb"] = inputs["rgb"].contiguous()
        labels = torch.from_numpy(batch.labels).to(ctx.device)
        blurred = torch.from_numpy(batch.blurred_truth.astype(np.float32)).to(ctx.device)
    cuda = ctx.device.type == "cuda"
    with timer.phase("forward"):
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False):
            out = model(**inputs)
            loss = ctx.criteria[ctx.config.sampler](out["logits"].float(), labels)
            if ctx.config.blur_loss_weight > 0:
                loss = loss + ctx.config.blur_loss_weight * F.binary_cross_entropy_with_logits(
                    out["blur_logit"].float(), blurred)
    with timer.phase("backward"):
        ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with timer.phase("optimiser"):
        ctx.optimizer.step()
    with timer.phase("ema"):
        if ctx.ema is not None:
            ema_update(ctx.ema, ctx.model)


def run_variant(ctx: EpochContext, label: str, args: argparse.Namespace, batch_size: int, ema_mode: str = "lerp",
                compiled: bool = False, workers: int = 0, channels_last: bool = True) -> dict:
    """Warm up, then time `args.steps` steps; returns the per-phase means and images/s."""
    model = torch.compile(ctx.model) if compiled else ctx.model
    batches = (worker_batches(ctx, prepare, batch_size, workers, args.seed) if workers
               else main_batches(ctx, batch_size, args.seed))
    update = ema_updater(ema_mode)
    ctx.model.train()
    for _ in range(args.warmup):
        timed_step(ctx, model, batches, update, StepTimer(ctx.device), channels_last)
    timer = StepTimer(ctx.device)
    start = time.perf_counter()
    for _ in range(args.steps):
        timed_step(ctx, model, batches, update, timer, channels_last)
    StepTimer.sync(ctx.device)
    wall = (time.perf_counter() - start) / args.steps
    del batches  # a DataLoader's workers stop here, not while the next variant is being timed
    row = {"variant": label, "batch": batch_size, "step_ms": 1e3 * wall, "images_s": batch_size / wall,
           **{p: 1e3 * timer.mean(p) for p in PHASES}}
    print_row(row)
    return row


def print_row(row: dict) -> None:
    total = sum(row[p] for p in PHASES)
    shares = "  ".join(f"{p} {row[p]:7.1f} ms ({100 * row[p] / total:4.1f} %)" for p in PHASES)
    print(f"{row['variant']:<34} batch {row['batch']:4d}  step {row['step_ms']:7.1f} ms  "
          f"{row['images_s']:8.0f} images/s  |  {shares}", flush=True)


def cuda_variants(ctx: EpochContext, args: argparse.Namespace, base: int) -> None:
    """The knobs worth trying on a GPU, each against the default step printed first."""
    for factor in (2, 4):
        run_variant(ctx, f"batch x{factor}", args, base * factor)
    ctx.model.to(memory_format=torch.contiguous_format)
    run_variant(ctx, "no channels_last", args, base, channels_last=False)
    ctx.model.to(memory_format=torch.channels_last)
    for mode in EMA_MODES:
        if mode != "lerp":
            run_variant(ctx, f"EMA {mode}", args, base, ema_mode=mode)
    for workers in (2, 4):
        run_variant(ctx, f"DataLoader workers={workers}", args, base, workers=workers)
    if not args.no_compile:
        run_variant(ctx, "torch.compile (last: compiling takes a minute)", args, base, compiled=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, help="timed steps per variant (default 12 on cpu, 40 on cuda)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 3 on cpu, 8 on cuda)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", action="store_true", help="also time the variants on cpu (always on cuda)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one field of the default recipe; repeatable")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    args.steps = args.steps or (40 if cuda else 12)
    args.warmup = args.warmup or (8 if cuda else 3)
    if cuda and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch sees no GPU")
    if not (args.data / "manifest.csv").is_file():
        sys.exit(f"error: no dataset at {args.data} (manifest.csv missing)")
    config = recipe_config("default", data=str(args.data), out="/tmp/unused-profile-run", seed=args.seed,
                           progress=False, **parse_overrides(args.overrides))
    config = dataclasses.replace(config, pretrained="none", device=args.device)
    data = load_data(config, show_progress=False)
    device = torch.device(args.device)
    ctx = build_training(config, data, device, 0, 1)
    print(f"default recipe: backbone {config.backbone}, input {data.model_cfg.input_size} px, batch "
          f"{config.batch_size}, EMA {config.ema_decay}, blur_augment {config.blur_augment}; device {device}, "
          f"{torch.get_num_threads()} CPU threads; {args.warmup} warm-up + {args.steps} timed steps per row", flush=True)
    run_variant(ctx, "default step", args, config.batch_size)
    if cuda or args.variants:
        cuda_variants(ctx, args, config.batch_size)


if __name__ == "__main__":
    main()
