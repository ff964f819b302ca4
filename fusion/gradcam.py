"""Grad-CAM of the RGB branch: where in the image the CNN looked for the predicted class.

Computed with `torch.autograd.grad` on a feature map returned by the forward pass, never with
module hooks or `.grad` fields, so concurrent requests sharing one model cannot see each other's
state (hooks would be global to the module).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from fusion.model import FusionNet


def grad_cam(
    model: FusionNet,
    inputs: dict[str, torch.Tensor],
    input_size: int,
    class_index: int | list[int] | None = None,
) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Per-image heat maps (N,h,w) float32 in [0,1] at feature-map resolution, and the outputs
    of that same forward pass (detached), so a caller needs no second pass for the prediction.

    `class_index` None explains each image's predicted class. The model must be in eval mode.
    """
    rgb = inputs["rgb"].detach().clone().requires_grad_(True)  # keeps a graph even with frozen weights
    with torch.enable_grad():
        outputs, fmap = model.forward_with_rgb_map(rgb, inputs.get("edge"), inputs.get("blur"), input_size)
        logits = outputs["logits"]
        if class_index is None:
            index = logits.argmax(dim=1)
        else:
            index = torch.as_tensor(np.atleast_1d(class_index), device=logits.device).long().expand(logits.shape[0])
        score = logits.gather(1, index[:, None]).sum()
        (grad,) = torch.autograd.grad(score, fmap)
    with torch.no_grad():
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * fmap.detach()).sum(dim=1))
        peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        cam = torch.where(peak > 1e-12, cam / peak, torch.zeros_like(cam))
    return cam.float().cpu().numpy(), {k: v.detach() for k, v in outputs.items()}


def upsample_cam(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """One (h,w) map -> (height,width) float32 in [0,1], bilinear (stays within the map's range)."""
    out = cv2.resize(cam.astype(np.float32), (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """An RGB uint8 picture of `heat` (jet colours) blended over `image`, for people to look at."""
    colours = cv2.applyColorMap(np.uint8(np.round(heat * 255)), cv2.COLORMAP_JET)[:, :, ::-1]
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)
