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
from features.pipeline import compute_features
from features.png import png_base64
from fusion.calibration import softmax
from fusion.checkpoint import load_checkpoint
from fusion.config import ModelConfig
from fusion.gradcam import grad_cam, upsample_cam
from fusion.model import FusionNet
from fusion.preprocess import model_inputs


@dataclass
class Prediction:
    """One image's answer: class, probabilities, and the blur/edge evidence the model saw."""

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
            "blur_probability": None if self.blur_probability is None else float(self.blur_probability),
            "edge_path": self.edge_path,
        }
        if include_edge_map:
            out["edge_map_png"] = png_base64(self.edge_map)
        return out


class Predictor:
    """A loaded checkpoint ready to classify images."""

    def __init__(self, model: FusionNet, config: ModelConfig, device: str | torch.device = "cpu", top_k: int = 5) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.feature_config = config.features_config()
        self.top_k = min(top_k, config.num_classes)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", top_k: int = 5) -> "Predictor":
        model, config = load_checkpoint(path, device=device)
        return cls(model, config, device=device, top_k=top_k)

    # -- internals ----------------------------------------------------------------------------
    def _inputs(self, arrays: Sequence[np.ndarray]):
        feats = compute_features(list(arrays), self.feature_config)
        inputs = model_inputs(list(arrays), feats, self.config)
        return feats, {k: v.to(self.device) for k, v in inputs.items()}

    def _predictions(self, feats, logits: torch.Tensor, blur_logit: torch.Tensor | None) -> list[Prediction]:
        raw = logits.detach().double().cpu().numpy()
        probs = softmax(raw, self.config.temperature)  # the checkpoint's fitted temperature (1.0 if never calibrated)
        blur_probs = None if blur_logit is None else torch.sigmoid(blur_logit.double()).cpu().numpy()
        names, groups = self.config.class_names, self.config.groups
        out = []
        for i, p in enumerate(probs):
            order = np.argsort(-p, kind="stable")[: self.top_k]
            index = int(order[0])
            out.append(
                Prediction(
                    class_index=index,
                    class_name=names[index],
                    group=groups[index],
                    probabilities=p,
                    top_k=[(names[j], float(p[j])) for j in order],
                    edge_map=feats.edge_map[i],
                    edge_path=feats.edge_path[i],
                    laplacian_var=float(feats.laplacian_var[i]),
                    blurred=bool(feats.blurred[i]),
                    blur_threshold=float(self.feature_config.blur_threshold),
                    blur_probability=None if blur_probs is None else float(blur_probs[i]),
                    class_names=names,
                    logits=raw[i],
                )
            )
        return out

    # -- public ---------------------------------------------------------------------------------
    def predict(self, image: Any) -> Prediction:
        """`image`: anything `features.load_image` accepts (path, bytes, array, PIL image)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Iterable[Any], batch_size: int = 256, progress: bool = False) -> list[Prediction]:
        """Predictions in input order; features and the model run a batch at a time."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(images, np.ndarray) and images.ndim == 4:
            sources: list[Any] = list(images)
        elif isinstance(images, (str, bytes, os.PathLike)) or (isinstance(images, np.ndarray) and images.ndim < 4):
            raise ValueError("images must be a list of images (or an (N,H,W,C) array); use predict() for one image")
        else:
            sources = list(images)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(sources), desc="predict", unit="img")
        results: list[Prediction] = []
        try:
            for start in range(0, len(sources), batch_size):
                arrays = [load_image(s) for s in sources[start : start + batch_size]]
                feats, inputs = self._inputs(arrays)
                with torch.inference_mode():
                    outputs = self.model(**inputs)
                results.extend(self._predictions(feats, outputs["logits"], outputs.get("blur_logit")))
                if bar is not None:
                    bar.update(len(arrays))
        finally:
            if bar is not None:
                bar.close()
        return results

    def explain(self, image: Any, class_index: int | None = None) -> np.ndarray:
        """Grad-CAM heat map (H,W) float32 in [0,1] at the loaded image's size, for the predicted
        class (or `class_index`). Needs the model's RGB branch."""
        return self.predict_and_explain(image, class_index)[1]

    def predict_and_explain(self, image: Any, class_index: int | None = None) -> tuple[Prediction, np.ndarray]:
        """Prediction and Grad-CAM from one forward pass (what the web page shows together)."""
        if "rgb" not in self.config.branches:
            raise ValueError("explain() needs a model with the 'rgb' branch; this one has " f"{self.config.branches}")
        if class_index is not None and not 0 <= int(class_index) < self.config.num_classes:
            raise ValueError(f"class_index must be in [0, {self.config.num_classes}), got {class_index!r}")
        array = load_image(image)
        feats, inputs = self._inputs([array])
        cams, outputs = grad_cam(self.model, inputs, self.config.input_size, class_index)
        prediction = self._predictions(feats, outputs["logits"], outputs.get("blur_logit"))[0]
        heat = upsample_cam(cams[0], array.shape[0], array.shape[1])
        return prediction, heat
