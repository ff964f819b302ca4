"""Why the blur verdicts differ: the Laplacian threshold against the learned blur head.

Two verdicts answer "is this image blurred?": the variance of the Laplacian against a threshold
fitted on the training images, and the model's auxiliary blur head. They can disagree (a photo of a
cat's face given to a Fashion-MNIST model scores far above a threshold fitted on 28 px clothing, while
the head, which sees the whole image, says sharp). When they do, the answer says so and says which
one the model leaned on, by an ablation that is simple and true: run the model again with the
Laplacian input flipped to the other side of the threshold (its log mirrored about the threshold,
the verdict bit inverted, everything else unchanged). If the blur head's verdict flips with it, the
head followed the Laplacian score; if not, it relied on the other evidence the model has (which
one depends on its branches: `other_evidence`).
The same counterfactual says whether the class would change.

Only the blur branch sees the flipped input, so the counterfactual does not run the image backbone
again: the RGB and edge parts of the embedding the prediction already computed are kept and only the
blur branch and the heads are re-run (`flipped_outputs`), a few small layers instead of a second
full forward over the disagreeing images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def other_evidence(cfg: Any) -> str:
    """What besides the Laplacian score the blur head can lean on, named from the model's own branches."""
    parts = []
    if "rgb" in cfg.branches:
        parts.append("the image itself (RGB branch)")
    if "edge" in cfg.branches:
        parts.append("its edge map (edge branch)")
    if getattr(cfg, "blur_evidence", False):
        parts.append("the blur branch's other measures of sharpness (multi-scale and frequency evidence)")
    if not parts:
        return "the blur branch's own learned reading of the Laplacian input"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def threshold_note(cfg: Any, threshold: float) -> str:
    """The threshold with the resolution it was fitted at, in words."""
    basis = cfg.blur_threshold_basis or {}
    canonical = cfg.features_config().size
    if not basis:
        return f"threshold {threshold:.4g} at canonical size {canonical} px (this checkpoint does not record where it was fitted)"
    if basis.get("fitted") is False:
        return f"threshold {threshold:.4g} (the default: nothing to fit), scored at canonical size {canonical} px"
    where = f"fitted on {basis['image_size']} px training images" if basis.get("image_size") else "fitted on the training images"
    if cfg.preprocess == "tiles":
        return f"threshold {threshold:.4g} {where} at their own resolution, scored on {canonical} px tiles at the image's own resolution"
    return f"threshold {threshold:.4g} {where} at canonical size {canonical} px (every image is resized to {canonical} px first)"


def flipped_blur_inputs(blur: torch.Tensor, cfg: Any, threshold: float) -> torch.Tensor:
    """The blur branch's input as if the Laplacian verdict were the opposite one."""
    out = blur.clone()
    z_threshold = (float(np.log1p(threshold)) - cfg.blur_log_mean) / cfg.blur_log_std
    out[:, 0] = 2 * z_threshold - blur[:, 0]
    out[:, 1] = 1.0 - blur[:, 1]
    return out


def flipped_outputs(predictor: Any, inputs: dict, flipped_blur: torch.Tensor,
                    embeddings: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The model's outputs with the blur input replaced by `flipped_blur`. With the units' fused
    `embeddings` from the pass already made, only the blur branch and the heads run: the blur
    branch's features are the last columns of the embedding (`FusionNet._embed` concatenates rgb,
    edge, blur in that order) and every other column does not depend on the blur input."""
    model = predictor.model
    if embeddings is None or getattr(model, "blur", None) is None:
        return predictor._forward(dict(inputs, blur=flipped_blur))[1]
    with torch.inference_mode():
        blur_features = model.blur(flipped_blur)
        kept = embeddings[:, : embeddings.shape[1] - blur_features.shape[1]]
        return model.forward_head(torch.cat([kept, blur_features], dim=1))


def explain_disagreements(predictor: Any, batch: Any, feats: Any, inputs: dict, probs: np.ndarray,
                          blur_probs: np.ndarray | None, threshold: float,
                          embeddings: torch.Tensor | None = None) -> dict[int, dict]:
    """{image index: disagreement record} for the images whose two blur verdicts differ.
    `embeddings`: the units' fused embeddings from the prediction pass, reused when given."""
    cfg = predictor.config
    if blur_probs is None or "blur" not in cfg.branches:
        return {}
    n = len(batch.arrays)
    lap_blurred = np.array([feats.laplacian_var[batch.owner == i].mean() < threshold for i in range(n)])
    head_p = np.array([blur_probs[batch.owner == i].mean() for i in range(n)])
    disagree = np.flatnonzero(lap_blurred != (head_p >= 0.5))
    if len(disagree) == 0:
        return {}
    # Re-run only the units (images or tiles) of the disagreeing images: in eval mode every unit's
    # answer is independent of the rest of the batch, and most images of a batch agree.
    units = np.flatnonzero(np.isin(batch.owner, disagree))
    subset = {k: v[torch.from_numpy(units).to(v.device)] for k, v in inputs.items()}
    kept = None if embeddings is None else embeddings[torch.from_numpy(units).to(embeddings.device)]
    outputs = flipped_outputs(predictor, subset, flipped_blur_inputs(subset["blur"], cfg, threshold), kept)
    flip_probs = torch.softmax(outputs["logits"].double(), 1).cpu().numpy()
    flip_head = torch.sigmoid(outputs["blur_logit"].double()).cpu().numpy()
    owner_of_unit = batch.owner[units]
    out = {}
    for i in disagree:
        members = batch.owner == i
        flipped_members = owner_of_unit == i
        cls_before = int(probs[members].mean(0).argmax())
        cls_after = int(flip_probs[flipped_members].mean(0).argmax())
        head_after = float(flip_head[flipped_members].mean())
        followed = (head_after >= 0.5) != (head_p[i] >= 0.5)
        out[int(i)] = _record(cfg, lap_blurred[i], float(head_p[i]), head_after, followed, cls_before, cls_after)
    return out


def _record(cfg: Any, lap_blurred: bool, head: float, head_after: float, followed: bool, before: int, after: int) -> dict:
    def word(b: bool) -> str:
        return "blurred" if b else "sharp"

    names = cfg.class_names
    leaned = "laplacian" if followed else "image"
    text = (f"The Laplacian threshold says {word(lap_blurred)}, the learned blur head says {word(head >= 0.5)} "
            f"({100 * head:.1f} % blurred). With the Laplacian input flipped to {word(not lap_blurred)} the head says "
            f"{100 * head_after:.1f} %: it leaned on "
            + ("the Laplacian score." if followed else f"{other_evidence(cfg)}, not the Laplacian score.")
            + (f" The class would change from {names[before]} to {names[after]}." if after != before
               else f" The class ({names[before]}) does not depend on it."))
    return {
        "laplacian_verdict": word(lap_blurred),
        "blur_head_verdict": word(head >= 0.5),
        "blur_head_probability": head,
        "blur_head_probability_laplacian_flipped": head_after,
        "leaned_on": leaned,
        "class_with_laplacian_flipped": names[after],
        "class_depends_on_laplacian": after != before,
        "explanation": text,
    }
