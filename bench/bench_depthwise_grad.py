"""Benchmark: PyTorch's CPU convolutions against `fusion.fast_depthwise`'s, per layer and per step.

Prints, for every depthwise convolution of the default recipe's backbone at its input size (batch
128), the time of PyTorch's weight gradient and of `shifted_weight_grad`, and which one
`FastGradDepthwiseConv2d` uses there; then whole training steps of the default recipe with PyTorch's
convolutions and with the swapped ones (depthwise weight gradients, 1x1 convolutions on small maps
as matrix products), alternating, and their ratio.

    .venv/bin/python bench/bench_depthwise_grad.py [--data data/fmnist-lt-blur-v1] [--steps 6]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_features import best_of  # noqa: E402
from bench.bench_train_profile import main_batches, timed_step  # noqa: E402
from bench.train_profile_variants import StepTimer, ema_updater  # noqa: E402
from fusion.fast_depthwise import (FastGradDepthwiseConv2d, SmallMapPointwiseConv2d,  # noqa: E402
                                   native_depthwise_grads, shifted_weight_grad, uses_shifted_products)
from train.fit import build_training, load_data  # noqa: E402
from train.recipes import recipe_config  # noqa: E402


def depthwise_shapes(model: torch.nn.Module, rgb: torch.Tensor) -> list[tuple[torch.nn.Conv2d, torch.Size]]:
    """Every depthwise convolution of the model's image branch with the input shape it sees."""
    seen: list[tuple[torch.nn.Conv2d, torch.Size]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen.append((mod, args[0].shape)))
             for m in model.rgb.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1]
    with torch.no_grad():
        model.rgb(rgb)
    for hook in hooks:
        hook.remove()
    return seen


def per_layer(model: torch.nn.Module, input_size: int, batch: int) -> None:
    print(f"{'layer input':>22} {'kernel':>6} {'stride':>6} {'PyTorch':>9} {'shifted':>9}  used")
    rgb = torch.randn(batch, 3, input_size, input_size).contiguous(memory_format=torch.channels_last)
    for conv, shape in depthwise_shapes(model, rgb):
        k, s, p = conv.kernel_size, conv.stride, conv.padding
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        if isinstance(conv, _conv2d_same()):  # TF "SAME": padded before the convolution
            from timm.layers import pad_same

            x = pad_same(x, list(k), list(s), list(conv.dilation))
        out = torch.nn.functional.conv2d(x, conv.weight, None, s, p, 1, conv.groups)
        grad = torch.randn_like(out)
        native = best_of(lambda: native_depthwise_grads(x, grad, conv.weight.detach(), tuple(s), tuple(p), (False, True, False)))
        shifted = best_of(lambda: shifted_weight_grad(x, grad, tuple(k), tuple(s), tuple(p)))
        used = "shifted" if uses_shifted_products(tuple(out.shape[-2:]), tuple(k)) else "PyTorch"
        print(f"{str(tuple(shape)):>22} {k[0]}x{k[1]:<4} {s[0]:>6} {1e3 * native:7.1f}ms {1e3 * shifted:7.1f}ms  {used}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/fmnist-lt-blur-v1"))
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round and variant")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not (args.data / "manifest.csv").is_file():
        sys.exit(f"error: no dataset at {args.data} (manifest.csv missing); run `blurfuse data` first")
    config = recipe_config("default", data=str(args.data), out="/tmp/unused-bench-run", progress=False)
    config = dataclasses.replace(config, pretrained="none", device="cpu")
    data = load_data(config, show_progress=False)
    ctx = build_training(config, data, torch.device("cpu"), 0, 1)  # swaps the convolutions on the CPU
    plain = copy.deepcopy(ctx.model)
    for module in plain.modules():  # back to PyTorch's own convolutions (the subclasses only add a forward)
        if isinstance(module, FastGradDepthwiseConv2d):
            module.__class__ = _conv2d_same() if module.pad_same else torch.nn.Conv2d
        elif isinstance(module, SmallMapPointwiseConv2d):
            module.__class__ = torch.nn.Conv2d
    print(f"default recipe, input {data.model_cfg.input_size} px, batch {config.batch_size}, "
          f"{torch.get_num_threads()} CPU threads\n")
    per_layer(plain, data.model_cfg.input_size, config.batch_size)
    fast = ctx.model
    update = ema_updater("lerp")
    results: dict[str, list[float]] = {"PyTorch backward": [], "fast depthwise grad": []}
    for _ in range(args.rounds):
        for label, model in (("PyTorch backward", plain), ("fast depthwise grad", fast)):
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            run = dataclasses.replace(ctx, model=model, optimizer=optimizer)
            batches = main_batches(run, config.batch_size, 0)
            timed_step(run, model, batches, update, StepTimer(run.device))
            start = time.perf_counter()
            for _ in range(args.steps):
                timed_step(run, model, batches, update, StepTimer(run.device))
            results[label].append((time.perf_counter() - start) / args.steps)
    print()
    for label, times in results.items():
        print(f"{label:<22} step {' / '.join(f'{1e3 * t:.0f}' for t in times)} ms (rounds)")
    old, new = min(results["PyTorch backward"]), min(results["fast depthwise grad"])
    print(f"speed-up of a training step: {old / new:.2f}x (best of {args.rounds} rounds)")


def _conv2d_same() -> type:
    from timm.layers import Conv2dSame

    return Conv2dSame


if __name__ == "__main__":
    main()
