"""Depthwise convolutions whose weight gradient is cheap on the CPU.

On the CPU, PyTorch's gradient of a depthwise convolution's *weights* is pathologically slow when
the kernel covers more than the feature map: the late blocks of efficientnet-lite0 at 48 px run
5x5 kernels over 3x3 and 2x2 maps (1152 channels), and there the weight gradient took 30-57 ms per
layer for a batch of 128 where the same sums written as k*k shifted products take 2-8 ms
(`bench/bench_depthwise_grad.py`). Measured on 2 cores, the depthwise weight gradients were about
60 % of a whole training step of the default recipe.

`use_fast_depthwise_grad(model)` gives every depthwise `nn.Conv2d` (timm's TF-"same" variant
included) a forward whose backward computes the input gradient with PyTorch's own kernel and the
weight gradient by shifted products wherever the output map is smaller than the kernel
(Ho * Wo < kh * kw, where the native kernel loses), natively elsewhere. The forward pass, the
parameters and the state dict do not change, so checkpoints are the same; gradients agree with
PyTorch's to float32 rounding (tests/test_fast_depthwise.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame, pad_same
from torch import nn


def native_depthwise_grads(x: torch.Tensor, grad_out: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                           padding: tuple[int, int], mask: tuple[bool, bool, bool]) -> tuple:
    """PyTorch's own (input, weight, bias) gradients of a depthwise convolution, those `mask` asks for."""
    return torch.ops.aten.convolution_backward(grad_out, x, weight, None, list(stride), list(padding), [1, 1], False,
                                               [0, 0], weight.shape[0], list(mask))


def uses_shifted_products(output_size: tuple[int, int], kernel: tuple[int, int]) -> bool:
    """Where the weight gradient is taken by shifted products: an output map smaller than the kernel."""
    return output_size[0] * output_size[1] < kernel[0] * kernel[1]


def shifted_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int]) -> torch.Tensor:
    """(C, 1, kh, kw) gradient of a depthwise convolution's weights, one shifted product per tap:
    w[c, i, j] gathers x at offset (i, j) times the output gradient, over batch and positions."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = grad_out.shape[-2:]
    padded = F.pad(x, (pw, pw, ph, ph))
    taps = [(padded[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] * grad_out).sum((0, 2, 3))
            for i in range(kh) for j in range(kw)]
    return torch.stack(taps, dim=1).view(x.shape[1], 1, kh, kw)


class _DepthwiseConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        kernel = tuple(weight.shape[-2:])
        shifted = need_w and uses_shifted_products(tuple(grad_out.shape[-2:]), kernel)
        grad_x, grad_w, _ = native_depthwise_grads(x, grad_out, weight, ctx.stride, ctx.padding,
                                          (need_x, need_w and not shifted, False))
        if shifted:
            grad_w = shifted_weight_grad(x, grad_out, kernel, ctx.stride, ctx.padding).to(weight.dtype)
        grad_b = grad_out.sum((0, 2, 3)) if need_b and ctx.has_bias else None
        return grad_x, grad_w, grad_b, None, None


class FastGradDepthwiseConv2d(nn.Conv2d):
    """A depthwise `nn.Conv2d` (class swapped in place by `use_fast_depthwise_grad`)."""

    pad_same: bool = False  # timm's Conv2dSame: pad like TensorFlow's "SAME" before convolving

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = tuple(self.padding)
        if self.pad_same:
            x, padding = pad_same(x, list(self.kernel_size), list(self.stride), list(self.dilation)), (0, 0)
        return _DepthwiseConv2d.apply(x, self.weight, self.bias, tuple(self.stride), padding)


class SmallMapPointwiseConv2d(nn.Conv2d):
    """A 1x1 `nn.Conv2d` that runs as a matrix product over pixels when the map is tiny (class
    swapped in place by `use_fast_depthwise_grad`): on 2x2 and 3x3 maps with 112-1280 channels the
    CPU convolution's forward + backward took about twice the time of `F.linear` on the same
    channels-last data (bench/bench_depthwise_grad.py); on larger maps the convolution is faster."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] > SMALL_MAP_PIXELS:
            return super().forward(x)
        out = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
        return out.permute(0, 3, 1, 2)  # channels-last strides, like the convolution's output


SMALL_MAP_PIXELS = 16  # up to 4x4


def _is_plain_pointwise(module: nn.Module) -> bool:
    return (type(module) is nn.Conv2d and module.groups == 1 and tuple(module.kernel_size) == (1, 1)
            and tuple(module.stride) == (1, 1) and tuple(module.padding) == (0, 0) and module.padding_mode == "zeros")


def _is_plain_depthwise(module: nn.Module) -> bool:
    return (isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels
            == module.out_channels and tuple(module.dilation) == (1, 1) and module.padding_mode == "zeros"
            and not isinstance(module.padding, str))


def use_fast_depthwise_grad(model: nn.Module) -> int:
    """Swap every plain depthwise convolution of `model` to `FastGradDepthwiseConv2d` and every plain
    1x1 convolution to `SmallMapPointwiseConv2d`, in place; returns how many depthwise ones. Same
    parameters and the same outputs to float32 rounding; the backward pass is where the time goes."""
    swapped = 0
    for module in model.modules():
        if isinstance(module, FastGradDepthwiseConv2d) or not _is_plain_depthwise(module):
            continue
        same = isinstance(module, Conv2dSame)
        if not same and type(module) is not nn.Conv2d:
            continue  # an unknown subclass may do more in its forward than we would
        module.__class__ = FastGradDepthwiseConv2d
        module.pad_same = same
        swapped += 1
    for module in model.modules():
        if _is_plain_pointwise(module):
            module.__class__ = SmallMapPointwiseConv2d
    return swapped
