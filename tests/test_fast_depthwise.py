"""The CPU-fast depthwise weight gradient computes the same gradients as PyTorch, leaves the forward
pass and the checkpoint alone, and survives the copy the EMA makes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from fusion.config import ModelConfig
from fusion.fast_depthwise import (FastGradDepthwiseConv2d, SmallMapPointwiseConv2d, shifted_weight_grad,
                                   use_fast_depthwise_grad)
from fusion.model import create_model


@pytest.mark.parametrize("channels,size,kernel,stride", [(8, 2, 5, 1), (6, 3, 5, 2), (4, 7, 3, 2), (5, 9, 3, 1)])
def test_shifted_products_equal_pytorchs_depthwise_weight_gradient(channels, size, kernel, stride):
    torch.manual_seed(0)
    x = torch.randn(3, channels, size, size, requires_grad=False)
    weight = torch.randn(channels, 1, kernel, kernel, requires_grad=True)
    out = F.conv2d(x, weight, None, stride, kernel // 2, 1, channels)
    grad_out = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, weight, grad_out)
    got = shifted_weight_grad(x, grad_out, (kernel, kernel), (stride, stride), (kernel // 2, kernel // 2))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def _model(seed: int = 0):
    torch.manual_seed(seed)
    cfg = ModelConfig(class_names=[str(i) for i in range(3)], groups=["frequent"] * 3, train_counts=[5, 5, 5],
                      backbone="tf_efficientnet_lite0", input_size=32)
    return cfg, create_model(cfg, pretrained="none").to(memory_format=torch.channels_last)


def _inputs(cfg, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {"rgb": torch.randn(4, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last),
            "edge": torch.rand(4, 1, cfg.input_size, cfg.input_size, generator=g),
            "blur": torch.randn(4, 2, generator=g)}


def test_a_swapped_backbone_gives_the_same_outputs_and_gradients():
    cfg, plain = _model()
    fast = copy.deepcopy(plain)
    assert use_fast_depthwise_grad(fast) == 16  # efficientnet-lite0: one depthwise convolution per block
    assert use_fast_depthwise_grad(fast) == 0  # idempotent
    inputs = _inputs(cfg)
    # eval mode: batch norm on running statistics, no dropout, so the two differ only by the convolutions
    # (train-mode batch norm over 4 images on 1x1 maps is ill-conditioned enough to turn rounding into noise)
    plain.eval(), fast.eval()
    out_plain, out_fast = plain(**inputs)["logits"], fast(**inputs)["logits"]
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    out_plain.square().sum().backward()
    out_fast.square().sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), fast.named_parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
    assert plain.state_dict().keys() == fast.state_dict().keys()


def test_the_swap_survives_a_deep_copy_and_skips_ordinary_convolutions():
    _, model = _model()
    use_fast_depthwise_grad(model)
    copied = copy.deepcopy(model)
    swapped = [m for m in copied.modules() if isinstance(m, FastGradDepthwiseConv2d)]
    assert len(swapped) == 16 and all(m.groups == m.in_channels > 1 for m in swapped)
    assert any(m.pad_same for m in swapped) and not all(m.pad_same for m in swapped)  # timm's "SAME" strided ones
    pointwise = [m for m in copied.modules() if isinstance(m, SmallMapPointwiseConv2d)]
    assert pointwise and all(tuple(m.kernel_size) == (1, 1) and m.groups == 1 for m in pointwise)
    ordinary = [m for m in copied.modules() if type(m) is torch.nn.Conv2d]
    assert ordinary and all(tuple(m.kernel_size) != (1, 1) for m in ordinary)  # the stem and the edge branch


@pytest.mark.parametrize("height,width", [(2, 3), (3, 3), (5, 4)])
def test_a_small_map_pointwise_convolution_equals_the_convolution_with_its_gradients(height, width):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 1, bias=True)
    swapped = copy.deepcopy(conv)
    swapped.__class__ = SmallMapPointwiseConv2d
    x = torch.randn(3, 6, height, width).contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected, got = conv(x1), swapped(x2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(expected)
    expected.backward(grad), got.backward(grad)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(swapped.weight.grad, conv.weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(swapped.bias.grad, conv.bias.grad, rtol=1e-5, atol=1e-6)
