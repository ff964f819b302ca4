"""Fit a trained model's out-of-distribution score and keep it beside the weights.

`fit_ood` runs once when training ends (and from `blurfuse calibrate`): Gaussians on training images
(a seeded subset), then the members' standardisation and the threshold on every validation image,
which the model never trained on. The Gaussians go to `RUN/ood.safetensors`, the settings (method,
stages, standardisation, threshold) to the `ood` entry of `RUN/model.json`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fusion.blur_views import FRAMING_SCALE, VIEW_KINDS, with_blurred_views
from fusion.familiar_view import VIEW_LOWPASS, VIEW_PREFIX, combined, familiar_view, familiar_views, is_grey
from fusion.ood import (DEFAULT_KEEP, DEFAULT_STAGES, OOD_METHODS, Embedded, OODStats, combine, fit_balanced_gaussian,
                        fit_mahalanobis, fit_threshold, image_scores, member_scores, stage_names)

OOD_FILE = "ood.safetensors"
log = logging.getLogger("blurfuse.ood")


def resolve_method(method: str, branches) -> str:
    """`stages` reads the image branch's feature maps: a model without one gets energy."""
    if method not in OOD_METHODS:
        raise ValueError(f"OOD method must be one of {OOD_METHODS}; got {method!r}")
    if method == "stages" and "rgb" not in branches:
        log.info("OOD score: this model has no image branch for the stages score; using energy")
        return "energy"
    return method


def _fit_stats(predictor, settings: dict, train_images, train_labels: np.ndarray, max_train: int, seed: int,
               progress: bool, look: dict | None = None) -> dict[str, OODStats]:
    """Gaussians of a seeded training subset (with its blurred copies when the settings ask for them),
    seen through the low-passed second look when `look` (its view settings) is given."""
    labels = np.asarray(train_labels)
    subset = np.sort(np.random.default_rng(seed).permutation(len(labels))[:max_train])
    stages = settings.get("stages")
    images, labels = [train_images[i] for i in subset], labels[subset]
    if settings.get("blur_views"):
        images, labels = with_blurred_views(images, labels, seed, settings.get("blur_view_kernels", "classic"),
                                            settings.get("views", "blur"), tuple(settings.get("framing_scale", FRAMING_SCALE)))
    if look is not None:
        images = _Viewed(images, look)
    embedded = predictor.embed_batch(images, progress=progress, stages=stages)
    unit_labels = labels[embedded.owner]
    if settings["method"] == "mahalanobis":
        return {"embedding": fit_mahalanobis(embedded.embeddings.numpy(), unit_labels, predictor.config.num_classes)}
    return {n: fit_balanced_gaussian(f.numpy(), unit_labels) for n, f in zip(stage_names(stages), embedded.stages or [])}


def ood_stages(method: str) -> list[int] | None:
    """The backbone stages a (resolved) method reads, for `Predictor.embed_batch`."""
    return list(DEFAULT_STAGES) if method == "stages" else None


def fit_ood(predictor, train_images, train_labels: np.ndarray, val_images, method: str = "stages",
            keep: float = DEFAULT_KEEP, max_train: int = 5000, seed: int = 0, progress: bool = False,
            val: Embedded | None = None, blur_views: bool = False, familiar: bool = False,
            blur_view_kernels: str | None = None, view_lowpass: float = VIEW_LOWPASS,
            views: str = "blur", framing_scale: tuple[float, float] = FRAMING_SCALE) -> tuple[dict, dict[str, OODStats]]:
    """The `ModelConfig.ood` settings and the fitted statistics (empty for energy) of a trained model.

    Statistics come from at most `max_train` training images (a seeded subset: the means and
    covariances settle long before 23k images); standardisation and threshold from every
    validation image. `val`: the validation images already embedded (with `ood_stages(method)`)
    by a caller that needed the pass anyway (training's temperature fit), so it is not repeated.
    `blur_views`: training and validation images each get one blurred copy (fusion.blur_views), so
    blur the model still reads is not called unfamiliar; `val` is then embedded again with the copies.
    `familiar` (stages only): also fit the low-passed second look of `fusion.familiar_view`.
    `blur_view_kernels`: "classic" or "mixed" (half the copies randomised PSFs, `fusion.blur_views`);
    None = the blur the model was trained to read (mixed unless its recipe's fresh blurs were classic).
    `view_lowpass`: the second look's Gaussian sigma as a share of the shorter side.
    `views="camera"` (with `blur_views`): half the copies are re-framed as well (`fusion.blur_views`),
    the second look is fitted on the copies too, and each threshold keeps `keep` of the *sharp*
    validation images, so the stated price (share of familiar images flagged) does not drift with
    what the copies contain. `framing_scale`: the re-framing's zoom range (recorded in the settings).
    """
    _check_copies(views, blur_views, framing_scale)
    method = resolve_method(method, predictor.config.branches)
    if familiar and not 0 < view_lowpass < 1:
        raise ValueError(f"view_lowpass (the second look's sigma) must lie in (0, 1) of the shorter side; got {view_lowpass}")
    if len(val_images) == 0:
        raise ValueError("fitting the OOD threshold needs held-out in-distribution images (the validation split)")
    stages = ood_stages(method)
    settings: dict = {"method": method, **({"stages": stages} if stages else {}), **({"blur_views": True} if blur_views else {})}
    if blur_view_kernels is None:
        blur_view_kernels = "classic" if predictor.config.recipe.get("blur_kernels", "classic") == "classic" else "mixed"
    if blur_views and blur_view_kernels != "classic":
        settings["blur_view_kernels"] = blur_view_kernels
    if views != "blur":
        settings.update({"views": views, "framing_scale": list(framing_scale)})
    n_sharp = len(val_images)
    if blur_views:
        val_images, val = with_blurred_views(val_images, seed=seed + 1, kernels=blur_view_kernels, views=views,
                                             framing_scale=framing_scale)[0], None
    # the images each threshold keeps `keep` of: every validation image and copy, or (camera) the sharp ones
    n_kept = n_sharp if views == "camera" else len(val_images)
    stats = {} if method == "energy" else _fit_stats(predictor, settings, train_images, train_labels, max_train, seed, progress)
    if val is None:
        val = predictor.embed_batch(list(val_images), progress=progress, stages=stages)
    members = member_scores(settings, stats, val)
    if stages:
        settings.update(_standardisation(members))
    scores = image_scores(combine(members, settings), val.owner)
    settings.update({"threshold": fit_threshold(scores[:n_kept], keep), "keep": keep,
                     "fitted_on": f"{n_kept} validation images" + ("" if n_kept == len(scores) else " (sharp; copies fit the statistics)"),
                     "train_images_used": 0 if not stats else int(min(max_train, len(train_labels)))})
    if familiar and stages:
        stats.update(_fit_familiar_view(predictor, settings, scores, train_images, train_labels, val_images,
                                        keep, max_train, seed, progress, view_lowpass, n_kept))
    return settings, stats


def _check_copies(views: str, blur_views: bool, framing_scale: tuple[float, float]) -> None:
    """Refuse copy settings `fit_ood` cannot honour, before anything is embedded."""
    if views not in VIEW_KINDS:
        raise ValueError(f"views must be one of {VIEW_KINDS}; got {views!r}")
    if views != "blur" and not blur_views:
        raise ValueError(f"views={views!r} describes the copies blur_views adds; it needs blur_views=True")
    if views == "camera" and not 0 < framing_scale[0] <= framing_scale[1]:
        raise ValueError(f"framing_scale must be a zoom range (low, high) with 0 < low <= high; got {framing_scale}")


def _standardisation(members: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """`combine`'s centre and scale of each member, from its scores on the validation images."""
    return {"centre": {n: float(v.mean()) for n, v in members.items()},
            "scale": {n: float(v.std()) if v.std() > 1e-12 else 1.0 for n, v in members.items()}}


def view_members(settings: dict, stats: dict[str, OODStats], embedded: Embedded) -> dict[str, np.ndarray]:
    """The stages members of the familiar view: the view's own statistics (`view_*` in `stats`)
    applied to `embedded`, a pass over the low-passed images."""
    return member_scores(_stages_only(settings), {n: stats[VIEW_PREFIX + n] for n in stage_names(settings["stages"])},
                         embedded)


def _stages_only(settings: dict) -> dict:
    """The settings the view's statistics are fitted and read with: which stages, not the raw look's
    standardisation or threshold."""
    return {"method": settings["method"], "stages": settings["stages"]}


def _view_fit_settings(settings: dict) -> dict:
    """What the second look's statistics are fitted on: sharp training images only, or (camera views)
    the same blurred and re-framed copies as the first look's."""
    if settings.get("views", "blur") == "blur":
        return _stages_only(settings)
    copies = ("blur_views", "blur_view_kernels", "views", "framing_scale")
    return {**_stages_only(settings), **{k: settings[k] for k in copies if k in settings}}


class _Viewed(Sequence):
    """The images seen through `familiar_view`, computed as they are read (only the fitting subset is)."""

    def __init__(self, images, view: dict) -> None:
        self.images, self.view = images, view

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return familiar_view(self.images[index], self.view["lowpass"], self.view["grey"])


def _fit_familiar_view(predictor, settings: dict, raw_scores: np.ndarray, train_images, train_labels, val_images,
                       keep: float, max_train: int, seed: int, progress: bool, lowpass: float,
                       n_kept: int) -> dict[str, OODStats]:
    """Statistics of the low-passed view (`fusion.familiar_view`), its standardisation and offset on
    val, and the threshold of the combined score (each keeping `keep` of the first `n_kept`
    validation images); writes settings["view"] and settings["threshold"]."""
    view = {"lowpass": lowpass, "grey": is_grey(train_images)}
    fitted = _fit_stats(predictor, _view_fit_settings(settings), train_images, train_labels, max_train, seed, progress,
                        look=view)
    stats = {f"{VIEW_PREFIX}{name}": s for name, s in fitted.items()}
    embedded = predictor.embed_batch(familiar_views(val_images, view), progress=progress, stages=settings["stages"])
    members = view_members(settings, stats, embedded)
    view.update(_standardisation(members))
    view_scores = image_scores(combine(members, view), embedded.owner)
    view.update({"offset": fit_threshold(view_scores[:n_kept], keep), "raw_offset": settings["threshold"]})
    settings["view"] = view
    settings["threshold"] = fit_threshold(combined(raw_scores, view_scores, settings)[:n_kept], keep)
    return stats


def save_stats(run_dir: str | os.PathLike, stats: dict[str, OODStats]) -> Path:
    """One safetensors file; the fused-embedding statistics keep the unprefixed names older runs have."""
    from safetensors.torch import save

    from features.atomic import atomic_write_bytes

    tensors = {}
    for name, part in stats.items():
        prefix = "" if name == "embedding" else f"{name}."
        tensors.update({prefix + key: value for key, value in part.to_tensors().items()})
    return atomic_write_bytes(Path(run_dir) / OOD_FILE, save(tensors))


def load_stats(run_dir: str | os.PathLike) -> dict[str, OODStats]:
    from fusion.checkpoint import read_weights

    path = Path(run_dir) / OOD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model's OOD settings need fitted statistics")
    grouped: dict[str, dict] = {}
    for key, value in read_weights(path).items():
        name, _, field = key.rpartition(".")
        grouped.setdefault(name or "embedding", {})[field] = value
    return {name: OODStats.from_tensors(tensors) for name, tensors in grouped.items()}


def write_ood(run_dir: str | os.PathLike, cfg, settings: dict, stats: dict[str, OODStats]):
    """Store the statistics (if any), then the settings in `model.json`; returns the new config."""
    from features.atomic import atomic_write_text
    from fusion.checkpoint import CONFIG_NAME

    if stats:
        save_stats(run_dir, stats)
    new = dataclasses.replace(cfg, ood=dict(settings))
    atomic_write_text(Path(run_dir) / CONFIG_NAME, new.to_json())
    return new

