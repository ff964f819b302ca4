"""The last stage of training (when the recipe asks for it): the classifier re-trained with
class-balanced sampling on the frozen branches of the kept checkpoint (`train.head_retrain`).

It runs on the saved checkpoint, after the epochs and before the temperature and the
unfamiliar-image score are fitted (both read the classifier's logits, so they must come after).
The result is recorded in model.json's recipe (`head_retrain_result`); a run resumed after the
stage finished finds that record and does not re-train the head a second time.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fusion.checkpoint import load_checkpoint, save_checkpoint
from fusion.defaults import DEFAULT_BATCH_SIZE
from fusion.preprocess import model_inputs
from train.batches import SplitArrays, augment, blur_augment
from train.head_retrain import HeadSettings, retrain_classifier
from train.prior_shift import prior_bias, shift_classifier

log = logging.getLogger("blurfuse.train")
EMBED_BATCH = DEFAULT_BATCH_SIZE  # larger batches ran slower per image on the CPU (fusion.defaults)


@torch.no_grad()  # not inference_mode: the head is then trained on these tensors
def embed(model: Any, split: SplitArrays, cfg: Any, device: torch.device, views: int = 1, seed: int = 0,
          blur: Any = None, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused embeddings (on the CPU) of `views` passes over `split`: the stored images first, then
    views freshly shifted, flipped and re-blurred as in training; and their labels."""
    model.eval()
    parts, labels = [], []
    batches = [np.arange(i, min(i + EMBED_BATCH, len(split))) for i in range(0, len(split), EMBED_BATCH)]
    for view in range(views):
        rng = np.random.default_rng([seed, 97, view])
        for index in tqdm(batches, desc=f"embed view {view + 1}/{views}", unit="batch", disable=not progress, leave=False):
            batch = split.take(index)
            if view > 0:
                if blur is not None:
                    batch = blur_augment(batch, rng, 0.5, cfg.features_config(), blur.kinds, blur.ranges,
                                         blurred_class=cfg.blur_task.get("blurred_class"))
                batch = augment(batch, rng)
            inputs = {k: v.to(device) for k, v in model_inputs(batch.images, batch.features, cfg).items()}
            parts.append(model.forward_features(**inputs).float().cpu())
            labels.append(torch.from_numpy(batch.labels))
    return torch.cat(parts), torch.cat(labels)


def retrain_head(run_dir: Path, train: SplitArrays, val: SplitArrays, settings: HeadSettings, device: torch.device,
                 blur: Any = None, progress: bool = False) -> dict:
    """Re-train the classifier of the checkpoint in `run_dir` per `settings` and save it in place;
    returns the record stored in model.json (the stored one when the stage already ran)."""
    model, cfg = load_checkpoint(run_dir, device=device)
    done = cfg.recipe.get("head_retrain_result")
    if done:
        log.info("classifier re-training (%s) already done in this run; kept", done.get("method"))
        return done
    train_embeddings = embed(model, train, cfg, device, settings.views, settings.seed, blur, progress)
    val_embeddings, _ = embed(model, val, cfg, device)
    before = model.classifier.cpu()
    layer, result = retrain_classifier(before, train_embeddings, (val_embeddings, val.labels), settings)
    if settings.prior_shift:
        layer, shift = _shifted(layer, train.labels, settings.prior_shift)
        result.update(shift)
    result.update(_val_figures(before, layer, val_embeddings, val.labels, cfg.groups))
    model.classifier = layer.to(device)
    cfg = dataclasses.replace(cfg, recipe={**cfg.recipe, "head_retrain_result": result})
    save_checkpoint(run_dir, model, cfg)
    log.info("classifier re-trained with class-balanced sampling (%s, %d embeddings%s): val balanced acc %.4f -> %.4f, "
             "rare recall %.3f -> %.3f", settings.method, result["train_embeddings"],
             f", bias shifted toward the rare classes by tau {settings.prior_shift:g}" if settings.prior_shift else "",
             result["val_balanced_acc_before"], result["val_balanced_acc_after"], result["val_rare_recall_before"],
             result["val_rare_recall_after"])
    return result


def _shifted(layer: torch.nn.Linear, train_labels: np.ndarray, tau: float) -> tuple[torch.nn.Linear, dict]:
    """The classifier with its bias moved toward the rare classes (`train.prior_shift`), and the record."""
    bias = prior_bias(train_labels, layer.out_features, tau)
    return shift_classifier(layer, bias), {"prior_shift": float(tau), "prior_shift_bias": [float(b) for b in bias]}


def shift_head(run_dir: Path, train_labels: np.ndarray, tau: float, device: torch.device) -> dict:
    """Move the classifier bias of the checkpoint in `run_dir` toward the rare classes, in place, on
    top of whatever head it has; returns the updated head record. A run already shifted is refused:
    two shifts would hide what the head was."""
    model, cfg = load_checkpoint(run_dir, device=device)
    record = dict(cfg.recipe.get("head_retrain_result") or {})
    if record.get("prior_shift"):
        raise ValueError(f"{run_dir} already shifted its classifier (tau {record['prior_shift']}); start from a run without")
    layer, shift = _shifted(model.classifier.cpu(), train_labels, tau)
    model.classifier = layer.to(device)
    record.update(shift)
    cfg = dataclasses.replace(cfg, recipe={**cfg.recipe, "head_retrain_result": record})
    save_checkpoint(run_dir, model, cfg)
    log.info("classifier bias shifted toward the rare classes by tau %g", tau)
    return record


def _val_figures(before: torch.nn.Module, after: torch.nn.Module, embeddings: torch.Tensor, labels: np.ndarray,
                 groups: list[str]) -> dict:
    from features.groups import nanmean, per_class_recall

    out = {}
    n_classes = before.out_features
    rare = [i for i, g in enumerate(groups) if g == "rare"] or list(range(n_classes))
    for name, layer in (("before", before), ("after", after)):
        with torch.no_grad():
            recall = per_class_recall(labels, layer(embeddings).argmax(1).numpy(), n_classes)
        out[f"val_balanced_acc_{name}"] = float(nanmean(recall))
        out[f"val_rare_recall_{name}"] = float(np.mean(recall[rare]))
    return out


def head_settings(config: Any) -> HeadSettings:
    """The head stage's settings from a `TrainConfig` (its head_* fields and seed)."""
    return HeadSettings(method=config.head_retrain, views=config.head_views, epochs=config.head_epochs, seed=config.seed,
                        prior_shift=config.head_prior_shift)
