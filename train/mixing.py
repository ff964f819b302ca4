"""Mixup and CutMix between the images of a batch, for the classes that look alike.

The rare errors are mostly one look-alike pair (T-shirt/top taken for Shirt). Mixing two images and
their labels (Zhang et al., 2018, "mixup"; Yun et al., 2019, "CutMix") asks the model for answers
between classes instead of a hard boundary learnt from a few dozen rare images.

Mixing happens on the model's input tensors, after the fresh blurs and the shift/flip: the edge map
is cut or blended exactly like the image it came from, so the two branches still see the same
picture, and the blur inputs (one score per image) are blended by the share each image keeps. The
blur head's target is blended the same way. Each batch is mixed with probability `prob`; a mixed
batch pairs every image with another of the same batch (a random permutation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from train.losses import LogitAdjustedLoss

MIX_MODES = ("none", "mixup", "cutmix")
SPATIAL_INPUTS = ("rgb", "edge")  # (N, C, S, S) inputs cut with the same box; the rest are blended


@dataclass(frozen=True)
class Mix:
    """How a batch was mixed: image i keeps share `keep[i]` of itself and takes the rest from `partner[i]`."""

    partner: torch.Tensor  # (N,) int64, index of the image mixed into each image
    keep: torch.Tensor  # (N,) float32 in [0, 1]

    def blend(self, values: torch.Tensor) -> torch.Tensor:
        """Per-image quantities (a score, a target) blended by the shares the images keep."""
        keep = self.keep.to(values.device, values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
        return keep * values + (1.0 - keep) * values[self.partner.to(values.device)]


def check_mix(mode: str, alpha: float, prob: float) -> None:
    """Raise ValueError naming the setting that is out of range (TrainConfig.validate calls this)."""
    if mode not in MIX_MODES:
        raise ValueError(f"mix must be one of {MIX_MODES}; got {mode!r}")
    if alpha <= 0:
        raise ValueError(f"mix_alpha must be positive (the Beta distribution's parameter); got {alpha}")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"mix_prob must lie in [0, 1]; got {prob}")


def cut_box(size: int, keep: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a square-ish box covering about 1 - keep of a size x size map, centred anywhere
    and clipped at the border (as CutMix draws it); the share actually kept is recomputed from the box."""
    side = size * np.sqrt(1.0 - keep)
    cy, cx = rng.integers(0, size, 2)
    y0, y1 = int(np.clip(cy - side / 2, 0, size)), int(np.clip(cy + side / 2, 0, size))
    x0, x1 = int(np.clip(cx - side / 2, 0, size)), int(np.clip(cx + side / 2, 0, size))
    return y0, y1, x0, x1


def mix_batch(inputs: dict[str, torch.Tensor], mode: str, alpha: float, prob: float, rng: np.random.Generator
              ) -> tuple[dict[str, torch.Tensor], Mix | None]:
    """Mix a batch of model inputs; returns the (possibly new) inputs and how they were mixed (None: not mixed).

    One share (Beta(alpha, alpha)) and, for CutMix, one box per batch, as the papers do: the box is
    drawn in relative coordinates, so image and edge map (same size) are cut at the same place.
    """
    n = len(inputs["rgb"])
    if mode == "none" or n < 2 or rng.random() >= prob:
        return inputs, None
    share = float(rng.beta(alpha, alpha))
    partner = torch.from_numpy(rng.permutation(n)).long()
    if mode == "mixup":
        mix = Mix(partner, torch.full((n,), share))
        return {k: mix.blend(v) for k, v in inputs.items()}, mix
    size = inputs["rgb"].shape[-1]
    y0, y1, x0, x1 = cut_box(size, share, rng)
    keep = 1.0 - (y1 - y0) * (x1 - x0) / float(size * size)
    mix = Mix(partner, torch.full((n,), keep))
    mixed = {}
    for name, value in inputs.items():
        if name in SPATIAL_INPUTS and value.shape[-1] == size:
            value = value.clone()
            value[..., y0:y1, x0:x1] = value[partner.to(value.device)][..., y0:y1, x0:x1]
            mixed[name] = value
        else:
            mixed[name] = mix.blend(value)
    return mixed, mix


def mixed_class_loss(criterion: LogitAdjustedLoss, logits: torch.Tensor, labels: torch.Tensor, mix: Mix | None
                     ) -> torch.Tensor:
    """`criterion` against the mixed labels: keep·loss(y) + (1 − keep)·loss(y_partner), image by image.

    The same logit-adjusted loss as without mixing (its τ·log prior offset included), so the
    rare-class margin does not change; an unmixed batch gets exactly `criterion(logits, labels)`."""
    if mix is None:
        return criterion(logits, labels)
    keep = mix.keep.to(logits.device, logits.dtype)
    own = criterion.per_image(logits, labels)
    other = criterion.per_image(logits, labels[mix.partner.to(labels.device)])
    return (keep * own + (1.0 - keep) * other).mean()
