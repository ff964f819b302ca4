"""`ModelConfig`: everything inference needs besides the weights, saved beside them as JSON.

It plays the role of timm's `pretrained_cfg`: class names, groups, input size, normalisation,
the feature settings (blur threshold, edge settings) and the blur-score standardisation travel
with the checkpoint, so nothing downstream (analysis, web) has to guess them. It is validated
when built, which is also how a hand-edited or corrupt `model.json` is caught on load.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from features.groups import GROUPS
from features.tiles import TILE_VOTES

from fusion.calibration import check_temperature
from fusion.defaults import DEFAULT_BACKBONE

# Out-of-distribution scores `fusion.ood` computes (here, so CLIs can list them without importing torch).
OOD_METHODS: tuple[str, ...] = ("stages", "mahalanobis", "energy")
# The copies the unfamiliar score is fitted on beside the images (fusion.blur_views): blurred, or
# blurred with half of them re-framed (closer, farther, turned, off-centre).
OOD_VIEW_KINDS: tuple[str, ...] = ("blur", "camera")

BRANCHES: tuple[str, ...] = ("rgb", "edge", "blur")
FORMAT = "blurfuse-model/1"
PREPROCESS_MODES: tuple[str, ...] = ("resize", "tiles")


def package_version() -> str:
    """The installed blurfuse version, recorded so a checkpoint says which code wrote it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("blurfuse")
    except PackageNotFoundError:
        return "0+unknown"


def canonical_branches(branches: Any) -> tuple[str, ...]:
    """Validate a branch selection and return it in the fixed order the fused embedding uses.

    The order is fixed (rgb, edge, blur) so that the same selection always builds the same
    concatenation, whatever order a user typed it in.
    """
    if isinstance(branches, str):
        branches = [b for b in branches.replace("+", ",").split(",") if b.strip()]
        branches = [b.strip() for b in branches]
    try:
        chosen = list(branches)
    except TypeError:
        raise ValueError(f"branches must be a subset of {BRANCHES}, got {branches!r}") from None
    unknown = [b for b in chosen if b not in BRANCHES]
    if unknown:
        raise ValueError(f"branches: unknown branch(es) {unknown}; choose from {list(BRANCHES)}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"branches: duplicate entries in {chosen}")
    if not chosen:
        raise ValueError(f"branches must name at least one of {list(BRANCHES)}")
    return tuple(b for b in BRANCHES if b in chosen)


def _float_triple(name: str, value: Any, positive: bool) -> tuple[float, float, float]:
    try:
        triple = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 3 numbers, got {value!r}") from None
    if len(triple) != 3 or not all(math.isfinite(v) for v in triple):
        raise ValueError(f"{name} must be 3 finite numbers, got {value!r}")
    if positive and min(triple) <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return triple  # type: ignore[return-value]


@dataclass
class ModelConfig:
    """What a `FusionNet` checkpoint is for and how its inputs are made."""

    class_names: list[str]
    groups: list[str]
    train_counts: list[int]
    backbone: str = DEFAULT_BACKBONE
    input_size: int = 32
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    branches: tuple[str, ...] = BRANCHES
    feature_config: dict = field(default_factory=dict)
    blur_log_mean: float = 0.0
    blur_log_std: float = 1.0
    # Sizes of the small branches and the head dropout: part of the architecture, so a
    # checkpoint must record them to be rebuilt.
    edge_dim: int = 64
    blur_dim: int = 16
    drop_rate: float = 0.2
    version: str = field(default_factory=package_version)
    recipe: dict = field(default_factory=dict)
    # Temperature scaling: probabilities = softmax(logits / temperature), fitted on held-out data
    # (fusion.calibration); 1.0 = uncalibrated, which is also what a checkpoint written before it gets.
    temperature: float = 1.0
    calibration: dict = field(default_factory=dict)  # where and how T was fitted (split, images, NLL/ECE before/after)
    # "resize": the whole image is resized to input_size (Fashion-MNIST, CIFAR). "tiles": the
    # model sees input_size squares at the image's own resolution and a photo's answer is the
    # mean over up to max_tiles tiles (blur-task models: shrinking would remove the blur).
    preprocess: str = "resize"
    max_tiles: int = 16
    # Tiles mode: how the tiles' answers make the photo's (features.tiles.TILE_VOTES): "mean" (what
    # checkpoints written before issue 18 part 4 get), or "contrast", weighted by each tile's coarse
    # contrast so flat tiles (sky) do not decide; chosen on dev photos (docs/RESULTS.md).
    tile_vote: str = "mean"
    # Blur-task models: {"blurred_class": i, "sharp_class": j}; empty when the classes are not blur.
    blur_task: dict = field(default_factory=dict)
    # Multi-scale / frequency blur evidence (features.frequency) fed to the blur branch beside the
    # Laplacian score, standardised with the training split's mean and std.
    blur_evidence: bool = False
    # Which `features.frequency.EVIDENCE_SETS` entry: "basic" for checkpoints written before sets existed.
    blur_evidence_set: str = "basic"
    blur_evidence_mean: list = field(default_factory=list)
    blur_evidence_std: list = field(default_factory=list)
    # The blur branch also hands its standardised inputs straight to the classifier, beside its MLP:
    # a linear path on the hand-made blur evidence that a few hundred photos can fit, which the CNN
    # branches then refine (blur-task models; off for older checkpoints, whose classifier lacks it).
    blur_pass_through: bool = False
    # Where the blur threshold comes from, in words the page can show (image size it was fitted at).
    blur_threshold_basis: dict = field(default_factory=dict)
    # Out-of-distribution score settings and fitted threshold (fusion.ood); empty: not fitted.
    ood: dict = field(default_factory=dict)
    format: str = FORMAT

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field once, at the boundary; raises ValueError naming the field."""
        if not isinstance(self.class_names, (list, tuple)) or not self.class_names:
            raise ValueError(f"class_names must be a non-empty list of strings, got {self.class_names!r}")
        self.class_names = list(self.class_names)
        if not all(isinstance(c, str) and c for c in self.class_names):
            raise ValueError(f"class_names must be non-empty strings, got {self.class_names!r}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be unique, got {self.class_names!r}")
        n = len(self.class_names)
        if not isinstance(self.groups, (list, tuple)) or len(self.groups) != n:
            raise ValueError(f"groups must be a list with one entry per class ({n}), got {self.groups!r}")
        self.groups = list(self.groups)
        bad = [g for g in self.groups if g not in GROUPS]
        if bad:
            raise ValueError(f"groups: {bad} not in {list(GROUPS)}")
        if not isinstance(self.train_counts, (list, tuple)) or len(self.train_counts) != n:
            raise ValueError(
                f"train_counts must be a list with one entry per class ({n}), got {self.train_counts!r}"
            )
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.train_counts):
            raise ValueError(f"train_counts must be non-negative integers, got {self.train_counts!r}")
        self.train_counts = [int(c) for c in self.train_counts]
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ValueError(f"backbone must be a timm model name, got {self.backbone!r}")
        if not isinstance(self.input_size, int) or isinstance(self.input_size, bool) or not 8 <= self.input_size <= 1024:
            raise ValueError(f"input_size must be an integer in [8, 1024], got {self.input_size!r}")
        self.mean = _float_triple("mean", self.mean, positive=False)
        self.std = _float_triple("std", self.std, positive=True)
        self.branches = canonical_branches(self.branches)
        if not isinstance(self.feature_config, dict):
            raise ValueError(f"feature_config must be a dict (FeatureConfig.to_dict()), got {self.feature_config!r}")
        for name in ("blur_log_mean", "blur_log_std", "drop_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        if self.blur_log_std <= 0:
            raise ValueError(f"blur_log_std must be positive, got {self.blur_log_std!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate!r}")
        for name in ("edge_dim", "blur_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
                raise ValueError(f"{name} must be an integer in [1, 4096], got {value!r}")
        if not isinstance(self.version, str):
            raise ValueError(f"version must be a string, got {self.version!r}")
        if not isinstance(self.recipe, dict):
            raise ValueError(f"recipe must be a dict, got {self.recipe!r}")
        self.temperature = check_temperature(self.temperature)
        if not isinstance(self.calibration, dict):
            raise ValueError(f"calibration must be a dict, got {self.calibration!r}")
        self._validate_extensions()
        if self.format != FORMAT:
            raise ValueError(f"format must be {FORMAT!r}, got {self.format!r}")

    def _validate_extensions(self) -> None:
        """The fields added for blur-task models and unfamiliar-image scores (issue 11)."""
        if self.preprocess not in PREPROCESS_MODES:
            raise ValueError(f"preprocess must be one of {PREPROCESS_MODES}, got {self.preprocess!r}")
        if not isinstance(self.max_tiles, int) or isinstance(self.max_tiles, bool) or not 1 <= self.max_tiles <= 256:
            raise ValueError(f"max_tiles must be an integer in [1, 256], got {self.max_tiles!r}")
        if self.tile_vote not in TILE_VOTES:
            raise ValueError(f"tile_vote must be one of {TILE_VOTES}, got {self.tile_vote!r}")
        for name in ("blur_task", "blur_threshold_basis", "ood"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict, got {getattr(self, name)!r}")
        if self.blur_task:
            indices = [self.blur_task.get("blurred_class"), self.blur_task.get("sharp_class")]
            if not all(isinstance(i, int) and 0 <= i < len(self.class_names) for i in indices) or indices[0] == indices[1]:
                raise ValueError(f"blur_task must name two different class indices, got {self.blur_task!r}")
        for name in ("blur_evidence", "blur_pass_through"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        from features.frequency import EVIDENCE_SETS

        if self.blur_evidence_set not in EVIDENCE_SETS:
            raise ValueError(f"blur_evidence_set must be one of {sorted(EVIDENCE_SETS)}, got {self.blur_evidence_set!r}")
        if self.blur_evidence:
            width = len(EVIDENCE_SETS[self.blur_evidence_set])
            for name in ("blur_evidence_mean", "blur_evidence_std"):
                values = getattr(self, name)
                if len(values) != width or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                    raise ValueError(f"{name} must be {width} finite numbers ({self.blur_evidence_set} evidence), got {values!r}")
            if min(self.blur_evidence_std) <= 0:
                raise ValueError(f"blur_evidence_std must be positive, got {self.blur_evidence_std!r}")

    # -- derived ----------------------------------------------------------------------------
    @property
    def blur_inputs_dim(self) -> int:
        """Width of the blur branch's input: [score, verdict] plus the evidence when enabled."""
        from features.frequency import EVIDENCE_SETS

        return 2 + (len(EVIDENCE_SETS[self.blur_evidence_set]) if self.blur_evidence else 0)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def features_config(self):
        """The `features.FeatureConfig` this model was trained with (threshold, edge settings)."""
        from features.extract import FeatureConfig

        return FeatureConfig.from_dict(self.feature_config) if self.feature_config else FeatureConfig()

    @classmethod
    def from_dataset(cls, dataset: Any, **overrides: Any) -> "ModelConfig":
        """Build from a `train.data.dataset_dir.DatasetDir` (duck-typed: fusion never imports train)."""
        feature_config = dataset.feature_config
        if hasattr(feature_config, "to_dict"):
            feature_config = feature_config.to_dict()
        return cls(
            class_names=list(dataset.class_names),
            groups=list(dataset.groups),
            train_counts=[int(c) for c in dataset.train_counts()],
            feature_config=dict(feature_config),
            **overrides,
        )

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        out["branches"] = list(self.branches)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> "ModelConfig":
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"model config: unknown field(s) {unknown}")
        missing = [n for n in ("class_names", "groups", "train_counts") if n not in data]
        if missing:
            raise ValueError(f"model config: missing field(s) {missing}")
        kwargs = dict(data)
        for key in ("mean", "std", "branches"):
            if key in kwargs and isinstance(kwargs[key], list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelConfig":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"model config is not valid JSON: {error}") from None
        return cls.from_dict(data)
