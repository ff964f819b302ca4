"""`Predictor`: image(s) -> `Prediction`, the inference entry point for the CLI, analysis and web.

It runs exactly the training path — `features.load_image`, `features.compute_features` with the
checkpoint's `FeatureConfig`, `fusion.preprocess.model_inputs`, the model in eval mode — so an
image gets the same answer here as in the report. It holds no mutable state after construction
(the model stays in eval mode, every call uses its own tensors, Grad-CAM uses no hooks), so one
instance can serve concurrent web requests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from features.image import load_image
from features.extract import compute_features
from features.png import png_base64
from fusion.defaults import DEFAULT_BATCH_SIZE
from fusion.class_calibration import calibrated_probabilities, logits_for
from features.tiles import image_tiles, paste_tiles, tile_weights
from fusion.checkpoint import load_checkpoint, resolve_checkpoint
from fusion.config import ModelConfig
from fusion.blur_disagreement import explain_disagreements, threshold_note
from fusion.gradcam import grad_cam, upsample_cam
from fusion.model import FusionNet
from fusion.familiar_view import combined, familiar_views
from fusion.ood import Embedded, OODStats, combine, image_scores, ood_scores, stage_features
from fusion.ood_store import load_stats, view_members
from fusion.preprocess import model_inputs

# How an answer uses the second look: "off" (always the image's own reading), "view" (the low-passed
# look's reading, for images that looked unfamiliar themselves but familiar low-passed), or "mean"
# (the two looks' probabilities averaged for those images). "mean" is the default: on dev over 3 seeds
# it raised accuracy over blur training never used by 3.8 points [+1.7, +5.8] with the dev figures
# within noise, where "view" cost 0.6 points of dev balanced accuracy (docs/RESULTS.md, "Reading the
# answer from the second look").
SECOND_LOOK_READINGS = ("off", "view", "mean")
DEFAULT_SECOND_LOOK_READING = "mean"


@dataclass
class Prediction:
    """One image's answer: class, probabilities, the blur/edge evidence the model saw, how familiar
    the image is to the model, and (when they disagree) why the two blur verdicts differ."""

    class_index: int
    class_name: str
    group: str
    probabilities: np.ndarray
    top_k: list[tuple[str, float]]
    edge_map: np.ndarray
    edge_path: str
    laplacian_var: float
    blurred: bool
    blur_threshold: float
    blur_probability: float | None
    class_names: list[str] = field(default_factory=list, repr=False)
    # The raw logits (before the temperature): what calibration is fitted on; probabilities = softmax(logits / T).
    logits: np.ndarray | None = field(default=None, repr=False)
    blur_threshold_note: str = ""
    blur_disagreement: dict | None = None
    in_distribution: bool | None = None
    ood_score: float | None = None
    ood_threshold: float | None = None
    ood_method: str | None = None
    tiles: int = 1
    tile_edge_paths: tuple[str, ...] = ()  # tiles mode: the edge path of each tile, in reading order
    # "image", or "low-passed view" when the image itself looked unfamiliar but its low-passed second
    # look did not, and the answer was read from that look (`Predictor(second_look_reading=...)`).
    read_from: str = "image"

    @property
    def probability(self) -> float:
        return float(self.probabilities[self.class_index])

    def to_dict(self, include_edge_map: bool = False) -> dict[str, Any]:
        """JSON-ready; the edge map (optional) as a base64 PNG under `edge_map_png`."""
        names = self.class_names or [str(i) for i in range(len(self.probabilities))]
        out: dict[str, Any] = {
            "class_index": int(self.class_index),
            "class_name": self.class_name,
            "group": self.group,
            "probability": self.probability,
            "probabilities": {n: float(p) for n, p in zip(names, self.probabilities)},
            "top_k": [{"class_name": n, "probability": float(p)} for n, p in self.top_k],
            "blurred": bool(self.blurred),
            "laplacian_var": float(self.laplacian_var),
            "blur_threshold": float(self.blur_threshold),
            "blur_threshold_note": self.blur_threshold_note,
            "blur_probability": None if self.blur_probability is None else float(self.blur_probability),
            "blur_disagreement": self.blur_disagreement,
            "in_distribution": self.in_distribution,
            "ood_score": None if self.ood_score is None else float(self.ood_score),
            "ood_threshold": None if self.ood_threshold is None else float(self.ood_threshold),
            "ood_method": self.ood_method,
            "tiles": int(self.tiles),
            "read_from": self.read_from,
            "edge_path": self.edge_path,
            "tile_edge_paths": list(self.tile_edge_paths),
        }
        if include_edge_map:
            out["edge_map_png"] = png_base64(self.edge_map)
        return out


@dataclass
class _Units:
    """What the model actually sees for a batch of images: one unit per image (resize mode) or
    several native-resolution tiles per image (tiles mode), and how to put the answers back."""

    arrays: list[np.ndarray]
    units: list[np.ndarray]
    owner: np.ndarray  # (U,) image index of each unit
    layouts: list[tuple[list[tuple[int, int]], tuple[int, int]] | None]  # tiles mode: boxes, padded shape


@dataclass
class PreparedBatch:
    """A batch ready for the model: its units, their features and the input tensors (on the CPU)."""

    units: _Units
    features: Any
    inputs: dict[str, torch.Tensor]


class Predictor:
    """A loaded checkpoint ready to classify images."""

    def __init__(self, model: FusionNet, config: ModelConfig, device: str | torch.device = "cpu", top_k: int = 5,
                 ood_stats: dict[str, OODStats] | None = None,
                 second_look_reading: str = DEFAULT_SECOND_LOOK_READING) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        if second_look_reading not in SECOND_LOOK_READINGS:
            raise ValueError(f"second_look_reading must be one of {SECOND_LOOK_READINGS}; got {second_look_reading!r}")
        self.second_look_reading = second_look_reading
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.feature_config = config.features_config()
        self.top_k = min(top_k, config.num_classes)
        self.ood_stats = ood_stats or {}
        method = config.ood.get("method")
        if method in ("mahalanobis", "stages") and not ood_stats:
            raise ValueError(f"this model's OOD score is {method}; pass its statistics (ood.safetensors)")
        self.ood_stages = tuple(config.ood["stages"]) if method == "stages" else None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", top_k: int = 5,
                        second_look_reading: str = DEFAULT_SECOND_LOOK_READING) -> "Predictor":
        model, config = load_checkpoint(path, device=device)
        stats = None
        if config.ood.get("method") in ("mahalanobis", "stages"):
            stats = load_stats(resolve_checkpoint(path)[0].parent)
        return cls(model, config, device=device, top_k=top_k, ood_stats=stats, second_look_reading=second_look_reading)

    # -- internals ----------------------------------------------------------------------------
    def _units(self, arrays: Sequence[np.ndarray]) -> _Units:
        arrays = list(arrays)
        if self.config.preprocess != "tiles":
            return _Units(arrays, arrays, np.arange(len(arrays)), [None] * len(arrays))
        units, owner, layouts = [], [], []
        for i, array in enumerate(arrays):
            tiles, boxes, shape = image_tiles(array, self.config.input_size, self.config.max_tiles)
            units.extend(tiles)
            owner.extend([i] * len(tiles))
            layouts.append((boxes, shape))
        return _Units(arrays, units, np.asarray(owner), layouts)

    def _inputs(self, arrays: Sequence[np.ndarray]):
        feats = compute_features(list(arrays), self.feature_config)
        inputs = model_inputs(list(arrays), feats, self.config)
        return feats, {k: v.to(self.device) for k, v in inputs.items()}

    def _forward(self, inputs: dict[str, torch.Tensor], stages: Sequence[int] | None = None
                 ) -> tuple[Embedded, dict[str, torch.Tensor]]:
        """One pass; with `stages`, the backbone's statistics after those stages come with it."""
        with torch.inference_mode():
            if stages:
                embedding, maps = self.model.forward_intermediates(**inputs, indices=stages)
                summaries = stage_features(maps)
            else:
                embedding, summaries = self.model.forward_features(**inputs), None
            outputs = self.model.forward_head(embedding)
        return Embedded(embedding, outputs["logits"], summaries), outputs  # type: ignore[index,return-value]

    def _image_ood(self, batch: _Units, embedded: Embedded) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """(N,) one unfamiliarity score per image (its tiles averaged), and the second look's logits
        (tiles averaged) of the images that looked unfamiliar raw but familiar low-passed.

        With a fitted familiar view (`fusion.familiar_view`), images the raw score flags get the
        second, low-passed look; the view's logits come from the same forward pass, so reading the
        answer from it (`second_look_reading`) costs nothing more."""
        if not self.config.ood.get("method"):
            return None, {}
        raw = image_scores(ood_scores(self.config.ood, self.ood_stats, embedded), batch.owner)
        view = self.config.ood.get("view")
        if not view:
            return raw, {}
        scores = combined(raw, None, self.config.ood)
        threshold = float(self.config.ood["threshold"])
        flagged = np.flatnonzero(scores > threshold)
        view_logits: dict[int, np.ndarray] = {}
        if flagged.size:
            looks = self.prepare(familiar_views([batch.arrays[i] for i in flagged], view))
            seen, _ = self._forward({k: v.to(self.device) for k, v in looks.inputs.items()}, self.ood_stages)
            second = image_scores(combine(view_members(self.config.ood, self.ood_stats, seen), view), looks.units.owner)
            second = second - view["offset"]
            scores[flagged] = np.minimum(scores[flagged], second)
            logits = seen.logits.detach().double().cpu().numpy()
            for j, i in enumerate(flagged):
                if second[j] <= threshold:
                    view_logits[int(i)] = logits[looks.units.owner == j].mean(axis=0)
        return scores, view_logits

    def _edge_map(self, batch: _Units, feats, i: int, members: np.ndarray) -> np.ndarray:
        layout = batch.layouts[i]
        if layout is None:
            return feats.edge_map[members[0]]
        boxes, shape = layout
        h, w = batch.arrays[i].shape[:2]
        top, left = (shape[0] - h) // 2, (shape[1] - w) // 2
        return paste_tiles(feats.edge_map[members], boxes, shape)[top : top + h, left : left + w]

    def _tile_combiner(self, batch: _Units, feats, i: int, members: np.ndarray):
        """How image `i`'s units make one answer: their plain mean, or in tiles mode with the
        "contrast" vote a mean weighted by each tile's coarse contrast (`features.tiles.tile_weights`)."""
        if batch.layouts[i] is None or self.config.tile_vote == "mean" or len(members) == 1:
            return lambda values: values.mean(axis=0)
        weights = tile_weights(feats.gray[members], self.config.tile_vote)
        return lambda values: weights @ values

    def _read_second_look(self, p: np.ndarray, view_logits: np.ndarray, class_temperatures) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, logits) of an image answered with its low-passed look: that look's own
        ("view") or the mean of both looks' probabilities ("mean"), with logits that map back onto it."""
        view_p = calibrated_probabilities(view_logits[None], self.config.temperature, class_temperatures)[0]
        if self.second_look_reading == "view":
            return view_p, view_logits
        mean = (p + view_p) / 2
        return mean, logits_for(mean, self.config.temperature, class_temperatures)

    def _predictions(self, batch: _Units, feats, inputs, embedded: Embedded, outputs) -> list[Prediction]:
        logits, blur_logit = outputs["logits"], outputs.get("blur_logit")
        raw = logits.detach().double().cpu().numpy()
        # The checkpoint's fitted temperature (1.0 if never calibrated), per predicted class where fitted.
        class_temperatures = (self.config.calibration or {}).get("class_temperatures")
        probs = calibrated_probabilities(raw, self.config.temperature, class_temperatures)
        blur_probs = None if blur_logit is None else torch.sigmoid(blur_logit.double()).cpu().numpy()
        ood, view_logits = self._image_ood(batch, embedded)
        if self.second_look_reading == "off":
            view_logits = {}
        names, groups = self.config.class_names, self.config.groups
        threshold = float(self.feature_config.blur_threshold)
        explain = explain_disagreements(self, batch, feats, inputs, probs, blur_probs, threshold, embedded.embeddings)
        out = []
        for i in range(len(batch.arrays)):
            members = np.flatnonzero(batch.owner == i)
            merge = self._tile_combiner(batch, feats, i, members)
            p, image_logits = merge(probs[members]), merge(raw[members])
            if i in view_logits:
                p, image_logits = self._read_second_look(p, view_logits[i], class_temperatures)
            order = np.argsort(-p, kind="stable")[: self.top_k]
            index = int(order[0])
            score = float(feats.laplacian_var[members].mean())
            ood_score = None if ood is None else float(ood[i])
            out.append(Prediction(
                class_index=index, class_name=names[index], group=groups[index], probabilities=p,
                top_k=[(names[j], float(p[j])) for j in order],
                edge_map=self._edge_map(batch, feats, i, members),
                edge_path=feats.edge_path[members[0]] if len(members) == 1 else "per tile",
                laplacian_var=score, blurred=bool(score < threshold), blur_threshold=threshold,
                blur_probability=None if blur_probs is None else float(merge(blur_probs[members])),
                class_names=names, blur_threshold_note=threshold_note(self.config, threshold),
                blur_disagreement=explain.get(i),
                in_distribution=None if ood_score is None else bool(ood_score <= float(self.config.ood["threshold"])),
                ood_score=ood_score, ood_threshold=None if ood is None else float(self.config.ood["threshold"]),
                ood_method=self.config.ood.get("method"), tiles=len(members), logits=image_logits,
                read_from="low-passed view" if i in view_logits else "image",
                tile_edge_paths=tuple(str(feats.edge_path[m]) for m in members) if len(members) > 1 else (),
            ))
        return out

    def _run(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        return self.predict_prepared(self.prepare(arrays))

    def prepare(self, arrays: Sequence[np.ndarray]) -> PreparedBatch:
        """The CPU half of a prediction (tiles, blur score, edge maps, input tensors), with no model:
        threads can prepare the next batches while the model runs this one (`fusion.predict_stream`)."""
        batch = self._units(arrays)
        feats = compute_features(list(batch.units), self.feature_config)
        return PreparedBatch(batch, feats, model_inputs(list(batch.units), feats, self.config))

    def predict_prepared(self, prepared: PreparedBatch) -> list[Prediction]:
        """The model half: one forward pass over a prepared batch, then the answers image by image."""
        inputs = {k: v.to(self.device) for k, v in prepared.inputs.items()}
        embedded, outputs = self._forward(inputs, self.ood_stages)
        return self._predictions(prepared.units, prepared.features, inputs, embedded, outputs)

    # -- public ---------------------------------------------------------------------------------
    def _batches(self, images: Iterable[Any], batch_size: int, progress: bool, desc: str):
        """Yield (offset, loaded arrays) a batch at a time, after checking the arguments, with a bar."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(images, np.ndarray) and images.ndim == 4:
            sources: list[Any] = list(images)
        elif isinstance(images, (str, bytes, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim < 4):
            raise ValueError("images must be a list of images (or an (N,H,W,C) array); use predict() for one image")
        else:
            sources = list(images)
        from tqdm.auto import tqdm

        with tqdm(total=len(sources), desc=desc, unit="img", disable=not progress) as bar:
            for start in range(0, len(sources), batch_size):
                arrays = [load_image(s) for s in sources[start : start + batch_size]]
                yield start, arrays
                bar.update(len(arrays))

    def embed_batch(self, images: Iterable[Any], batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False,
                    stages: Sequence[int] | None = None) -> Embedded:
        """What the OOD score is fitted on, per unit (whole image or tile, as `predict_batch` sees
        them): fused embeddings, logits, with `stages` the backbone's stage statistics, and the
        image each unit belongs to (`owner`)."""
        parts: list[Embedded] = []
        owners = []
        for start, arrays in self._batches(images, batch_size, progress, "embed"):
            batch = self._units(arrays)
            _, inputs = self._inputs(batch.units)
            parts.append(self._forward(inputs, stages)[0])
            owners.append(batch.owner + start)
        if not parts:
            raise ValueError("embed_batch needs at least one image")
        summaries = None if stages is None else [torch.cat([p.stages[i] for p in parts]) for i in range(len(stages))]  # type: ignore[index]
        return Embedded(torch.cat([p.embeddings.double().cpu() for p in parts]), torch.cat([p.logits.double().cpu() for p in parts]),
                        summaries, np.concatenate(owners))

    def predict(self, image: Any) -> Prediction:
        """`image`: anything `features.load_image` accepts (path, bytes, array, PIL image)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Iterable[Any], batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False) -> list[Prediction]:
        """Predictions in input order; features and the model run a batch at a time."""
        results: list[Prediction] = []
        for _, arrays in self._batches(images, batch_size, progress, "predict"):
            results.extend(self._run(arrays))
        return results

    def explain(self, image: Any, class_index: int | None = None) -> np.ndarray:
        """Grad-CAM heat map (H,W) float32 in [0,1] at the loaded image's size, for the predicted
        class (or `class_index`). Needs the model's RGB branch."""
        return self.predict_and_explain(image, class_index)[1]

    def predict_and_explain(self, image: Any, class_index: int | None = None) -> tuple[Prediction, np.ndarray]:
        """Prediction and Grad-CAM (what the web page shows together); in tiles mode the heat map is
        pasted from the tiles' maps, each explaining the image's predicted class."""
        if "rgb" not in self.config.branches:
            raise ValueError("explain() needs a model with the 'rgb' branch; this one has " f"{self.config.branches}")
        if class_index is not None and not 0 <= int(class_index) < self.config.num_classes:
            raise ValueError(f"class_index must be in [0, {self.config.num_classes}), got {class_index!r}")
        prediction, heat = self.predict_and_explain_batch([image], [True], class_index)[0]
        assert heat is not None
        return prediction, heat

    def predict_and_explain_batch(self, images: Sequence[Any], explain: Sequence[bool],
                                  class_index: int | None = None) -> list[tuple[Prediction, np.ndarray | None]]:
        """One batch of a server's requests: every image predicted in one pass, and a Grad-CAM map
        (one more pass, with gradients) for those whose `explain` flag is set, when the model has
        the RGB branch. The answers are those `predict_batch` gives, image by image."""
        if len(images) != len(explain):
            raise ValueError(f"one explain flag per image: {len(images)} images, {len(explain)} flags")
        arrays = [load_image(image) for image in images]
        predictions = self._run(arrays)
        heats: list[np.ndarray | None] = [None] * len(arrays)
        wanted = [i for i, flag in enumerate(explain) if flag and "rgb" in self.config.branches]
        if wanted:
            batch = self._units([arrays[i] for i in wanted])
            _, inputs = self._inputs(batch.units)
            targets = [predictions[wanted[o]].class_index if class_index is None else int(class_index) for o in batch.owner]
            cams, _ = grad_cam(self.model, inputs, self.config.input_size, targets)
            for k, i in enumerate(wanted):
                heats[i] = self._heat_map(cams[batch.owner == k], batch.layouts[k], arrays[i].shape[:2])
        return list(zip(predictions, heats))

    def _heat_map(self, cams: np.ndarray, layout: Any, shape: tuple[int, int]) -> np.ndarray:
        """One image's Grad-CAM at its own size: its one map upsampled, or its tiles' maps pasted."""
        if layout is None:
            return upsample_cam(cams[0], shape[0], shape[1])
        size = self.config.input_size
        boxes, padded = layout
        heat = paste_tiles(np.stack([upsample_cam(c, size, size) for c in cams]), boxes, padded)
        top, left = (padded[0] - shape[0]) // 2, (padded[1] - shape[1]) // 2
        return np.ascontiguousarray(heat[top : top + shape[0], left : left + shape[1]])
