"""`FusionNet`: an ImageNet CNN on the image, a small CNN on the edge map, an MLP on the blur score.

The branch embeddings are concatenated into one fused embedding (`forward_features`, as in timm)
that feeds the class head and an auxiliary blurred-vs-sharp head (`forward_head`). Branches can
be switched off for ablations; the fused width follows the enabled branches.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import Tensor, nn

from fusion.backbones import create_backbone
from fusion.config import BRANCHES, ModelConfig, canonical_branches
from fusion.defaults import DEFAULT_BACKBONE, DEFAULT_PRETRAINED


class EdgeBranch(nn.Module):
    """A small CNN over the 1-channel edge map: three conv stages, global average pool."""

    def __init__(self, out_dim: int = 64) -> None:
        super().__init__()
        widths = (16, 32, out_dim)
        layers: list[nn.Module] = []
        in_ch = 1
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(in_ch, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            in_ch = width
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = out_dim

    def forward(self, edge: Tensor) -> Tensor:
        return self.pool(self.body(edge)).flatten(1)


class BlurBranch(nn.Module):
    """An MLP over [standardised log1p(Laplacian variance), verdict] (+ standardised multi-scale and
    frequency blur evidence for blur-task models, `in_dim` 6).

    With `pass_through` the standardised inputs also leave the branch unchanged beside the MLP's
    output, so the (linear) classifier holds a logistic regression on the blur evidence: the part
    of the answer that a few hundred training photos can fit reliably."""

    def __init__(self, out_dim: int = 16, in_dim: int = 2, pass_through: bool = False) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(inplace=True), nn.Linear(out_dim, out_dim), nn.ReLU(inplace=True))
        self.pass_through = pass_through
        self.num_features = out_dim + (in_dim if pass_through else 0)

    def forward(self, blur: Tensor) -> Tensor:
        hidden = self.mlp(blur)
        return torch.cat([hidden, blur], dim=1) if self.pass_through else hidden


class FusionNet(nn.Module):
    """Dual-branch (RGB + edge) classifier with a blur-score side input and an auxiliary blur head."""

    def __init__(
        self,
        num_classes: int,
        backbone: str = DEFAULT_BACKBONE,
        branches: Sequence[str] = BRANCHES,
        pretrained: str = DEFAULT_PRETRAINED,
        backbone_weights: str | os.PathLike | None = None,
        edge_dim: int = 64,
        blur_dim: int = 16,
        drop_rate: float = 0.2,
        blur_in: int = 2,
        blur_pass_through: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.branches = canonical_branches(branches)
        self.num_classes = num_classes
        self.backbone_name = backbone
        self.rgb = create_backbone(backbone, pretrained, backbone_weights) if "rgb" in self.branches else None
        self.edge = EdgeBranch(edge_dim) if "edge" in self.branches else None
        self.blur = BlurBranch(blur_dim, blur_in, blur_pass_through) if "blur" in self.branches else None
        self.num_features = sum(
            m.num_features for m in (self.rgb, self.edge, self.blur) if m is not None  # type: ignore[misc]
        )
        self.head_drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(self.num_features, num_classes)
        self.blur_head = nn.Linear(self.num_features, 1)

    # -- timm-style API -------------------------------------------------------------------------
    def _embed(self, rgb: Tensor | None, edge: Tensor | None, blur: Tensor | None, rgb_map: Tensor | None = None) -> Tensor:
        parts: list[Tensor] = []
        for name, module, tensor in (("rgb", self.rgb, rgb), ("edge", self.edge, edge), ("blur", self.blur, blur)):
            if module is None:
                continue
            if name == "rgb" and rgb_map is not None:
                parts.append(module.forward_head(rgb_map))  # type: ignore[union-attr]
                continue
            if tensor is None:
                raise ValueError(f"FusionNet with branches {self.branches} needs the {name!r} input")
            parts.append(module(tensor))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def forward_features(self, rgb: Tensor | None = None, edge: Tensor | None = None, blur: Tensor | None = None) -> Tensor:
        """The fused embedding (N, num_features); inputs of disabled branches are ignored."""
        return self._embed(rgb, edge, blur)

    def forward_intermediates(self, rgb: Tensor, edge: Tensor | None = None, blur: Tensor | None = None,
                              indices: Sequence[int] = (2, 3)) -> tuple[Tensor, list[Tensor]]:
        """The fused embedding and the image backbone's feature maps after stages `indices`, from one
        pass (as timm's `forward_intermediates`): what the `stages` OOD score reads."""
        if self.rgb is None:
            raise ValueError("stage feature maps need the 'rgb' branch, which this model does not have")
        final, maps = self.rgb.forward_intermediates(rgb, indices=list(indices))
        return self._embed(None, edge, blur, rgb_map=final), list(maps)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> dict[str, Tensor] | Tensor:
        """Class logits and the blurred-vs-sharp logit; `pre_logits` returns the embedding after dropout."""
        x = self.head_drop(x)
        if pre_logits:
            return x
        return {"logits": self.classifier(x), "blur_logit": self.blur_head(x).squeeze(1)}

    def forward(self, rgb: Tensor | None = None, edge: Tensor | None = None, blur: Tensor | None = None) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(rgb, edge, blur))  # type: ignore[return-value]

    # -- Grad-CAM support -------------------------------------------------------------------------
    def forward_with_rgb_map(
        self, rgb: Tensor, edge: Tensor | None, blur: Tensor | None, input_size: int, min_side: int = 4
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Forward that also returns an RGB feature map kept in the graph, for Grad-CAM.

        The map is the backbone's last conv features when they are at least `min_side` wide;
        at small inputs (32 px -> 1x1 at stride 32) that map has no spatial information, so the
        deepest stage whose map is still `min_side` wide is used instead. Nothing is stored on
        the module, so concurrent calls stay independent.
        """
        if self.rgb is None:
            raise ValueError("Grad-CAM needs the 'rgb' branch, which this model does not have")
        backbone = self.rgb
        info = getattr(backbone, "feature_info", None)
        reductions = [f["reduction"] for f in info] if info is not None else []
        if not reductions or not hasattr(backbone, "forward_intermediates") or input_size // reductions[-1] >= min_side:
            final = backbone.forward_features(rgb)
            target = final
        else:
            ok = [i for i, r in enumerate(reductions) if input_size // r >= min_side]
            index = ok[-1] if ok else 0
            final, intermediates = backbone.forward_intermediates(rgb, indices=[index])
            target = intermediates[0]
        outputs = self.forward_head(self._embed(None, edge, blur, rgb_map=final))
        return outputs, target  # type: ignore[return-value]


def create_model(
    cfg: ModelConfig, pretrained: str = DEFAULT_PRETRAINED, backbone_weights: str | os.PathLike | None = None
) -> FusionNet:
    """The model a `ModelConfig` describes (architecture only; weights per `pretrained`), in
    channels-last memory format: on the CPU its forward pass then runs 1.7x faster at batch 64-128
    (depthwise convolutions read whole pixels), and `model_inputs` hands over channels-last images."""
    return FusionNet(
        num_classes=cfg.num_classes,
        backbone=cfg.backbone,
        branches=cfg.branches,
        pretrained=pretrained,
        backbone_weights=backbone_weights,
        edge_dim=cfg.edge_dim,
        blur_dim=cfg.blur_dim,
        drop_rate=cfg.drop_rate,
        blur_in=cfg.blur_inputs_dim,
        blur_pass_through=cfg.blur_pass_through,
    ).to(memory_format=torch.channels_last)
