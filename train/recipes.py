"""Training settings and the named recipes: one source for every default.

`TrainConfig`'s field defaults ARE the `default` recipe (what `make run` trains, sized for a 2-core
CPU with no GPU); every other recipe is a short list of overrides of it, so a default changed here
changes every recipe that does not say otherwise, and nothing can disagree with it. docs/RESULTS.md
(recipe comparison, history) holds the measurements behind these choices.

A config is frozen: values derived during a run (the data card's blur settings, the best epoch)
travel in their own objects, never written back into the config.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterable

from features.frequency import EVIDENCE_SETS
from fusion.config import OOD_METHODS, OOD_VIEW_KINDS as VIEW_KINDS
from train.sampler import DEFAULT_BETA, SAMPLER_MODES
from train.head_retrain import HEAD_METHODS
from train.prior_shift import check_prior_shift
from train.consistency import check_share
from train.mixing import check_mix
from fusion.defaults import DEFAULT_BACKBONE, DEFAULT_PRETRAINED, PRETRAINED_CHOICES

PRETRAINED_MODES = (*PRETRAINED_CHOICES, "file")  # "file": backbone weights from --backbone-weights
SELECT_MODES = ("balanced_acc", "val_loss", "last")
BLUR_KERNEL_MODES = ("classic", "psf", "mixed")
# Fields that say where and how one run happens, not what is trained: left out of model.json's recipe.
RUN_FIELDS = ("data", "out", "resume", "force", "progress")


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""  # may be filled in later (ablate builds a config, then points it at a dataset and a run dir)
    out: str = ""
    recipe: str = "default"
    backbone: str = DEFAULT_BACKBONE
    pretrained: str = DEFAULT_PRETRAINED
    backbone_weights: str | None = None
    input_size: int = 48
    branches: tuple[str, ...] = ("rgb", "edge", "blur")
    # Balanced Softmax (Ren et al., 2020): natural sampling, and logit adjustment (tau = 1) against
    # the natural prior supplies the whole rare-class margin. Chosen on dev over 3 seeds against the
    # earlier default (deferred square-root sampling + logit adjustment): docs/RESULTS.md, "Recipe comparison on dev".
    # "sqrt" / "inverse" / "effective" re-sample instead (from `rebalance_from_epoch` on).
    sampler: str = "none"
    sampler_beta: float = DEFAULT_BETA
    # Deferred re-balancing (Cao et al., 2019), for a re-balancing sampler: epochs before this one draw
    # naturally (logit adjustment alone balances the decision), later ones with the sampler.
    rebalance_from_epoch: int = 4
    logit_adjust_tau: float = 1.0
    blur_loss_weight: float = 0.5
    # Fresh blurs of this share of the sharp images in every batch: rare classes get many blurred views.
    blur_augment: float = 0.5
    # Shapes of those fresh blurs: "classic" (Gaussian / motion line / defocus disc from the data
    # card's ranges), "psf" (randomised shake paths, rotated anisotropic Gaussians, discs and their
    # compositions, beyond the classic ranges: features.psf), or "mixed" (each fresh blur one or the
    # other, even odds). Mixed is the default: on dev over 3 seeds it read blur training never used
    # 3.1 points better [+0.5, +5.6] (Gaussian sigma 3 / 4 and 15 px motion +8 to +15) with balanced,
    # sharp and blurred accuracy within noise and rare recall +0.8 (docs/RESULTS.md, "Mixed training
    # blur"); psf alone lost 0.4 points on the dataset's own blur.
    blur_kernels: str = "mixed"
    # Small random rotations (up to 10 degrees) and rescales (+-10 %) of this share of every batch
    # (train.batches.geometry_augment), so blur that also moves pixels costs less. 0 = off: at 0.3 it
    # did not lift the blur suites on dev over 3 seeds and cost 1.1 points of blurred accuracy
    # (docs/RESULTS.md, "Small rotations and rescales").
    geometry_augment: float = 0.0
    # AugMix (train.batches.augmix_augment) on this share of every batch, before the fresh blurs:
    # chains of AugMix's own operations (none a blur) mixed with the image. 0 = off.
    augmix: float = 0.0
    # Weight of the consistency objective (train.consistency): rows of each batch paired with freshly
    # blurred twins of themselves (their share: consistency_share), and this weight times the
    # Jensen-Shannon divergence between each pair's answers added to the loss (AugMix-style, at a plain
    # step's cost). 0 = off: at 12 (AugMix's weight) it lost 3.1 points of dev balanced accuracy over 3
    # seeds and lifted only the strongest blur; at 2 it kept accuracy within noise and lifted the blur
    # suites by less than noise (docs/RESULTS.md, "A blurred twin in the batch").
    consistency: float = 0.0
    # Share of each batch that are blurred twins when `consistency` > 0, in (0, 0.5]: 0.5 pairs every row
    # (half the distinct images per step), 0.25 keeps three quarters of the batch distinct.
    consistency_share: float = 0.5
    # Mixup / CutMix between the images of a batch (train.mixing), for look-alike classes: "none",
    # "mixup" or "cutmix"; each batch is mixed with probability mix_prob, shares drawn from
    # Beta(mix_alpha, mix_alpha). Off: on dev over 3 seeds CutMix lost 0.8 points of balanced accuracy
    # and mixup (alpha 0.2) 1.1 points on the worst class (docs/RESULTS.md, "The remaining rare errors").
    mix: str = "none"
    mix_alpha: float = 1.0
    mix_prob: float = 0.5
    # White sensor noise added to this share of every batch (sharp and blurred alike, labels kept:
    # train.batches.noise_augment), so fine-band noise is not read as sharpness. 0 = off.
    noise_augment: float = 0.0
    noise_sigma: float = 6.0  # the largest noise sigma, gray levels (each image: U[noise_sigma / 4, noise_sigma])
    # 7 epochs: 9 took 1,032 s on 2 CPU cores on 2026-12-04 (over the 15-minute budget; 852 s on a
    # quieter day); 7 and 8 stayed within seed noise of 9 on dev, 6 lost a point (docs/RESULTS.md,
    # "Fewer epochs for a real margin").
    epochs: int = 7
    samples_per_epoch: int = 20000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    # Validation holds few images per rare class, so one image moves balanced accuracy a lot and early
    # stopping on it would cut the cosine schedule short on noise: the budget is fixed instead
    # (patience = epochs); selection still keeps the epoch with the best validation balanced accuracy.
    patience: int = 7
    # Weight averaging: > 0 keeps an exponential moving average of the weights with this decay per
    # step, and the average is what is evaluated, selected and saved (train.ema). 0 = off. The
    # average needs a few hundred steps to mean anything (v1: ~1,100 steps).
    ema_decay: float = 0.995
    # Which epoch's weights are kept: "balanced_acc" (validation balanced accuracy, ties to the lower
    # loss), "val_loss" (every validation image counts, so a handful of rare images cannot swing it),
    # "last" (the end of the schedule: the default, so selection never chases a handful of
    # validation images).
    select: str = "last"
    # Budget in passes over the training set: > 0 caps epochs x samples_per_epoch at this many
    # passes, so a small dataset gets a schedule sized to it instead of dozens of passes. 0 = off.
    # 30 leaves v1 unchanged (7 x 20k samples = 6.6 passes over its 21k training images).
    passes: float = 30.0
    # Score that tells unfamiliar inputs apart, fitted on the best checkpoint when training ends
    # (fusion.ood): "stages" (early backbone statistics + energy; energy for a model without the
    # image branch), "energy", "mahalanobis", or "none" to skip. Stages was chosen on the dev split
    # against photographs, noise and digits (docs/RESULTS.md, "Unfamiliar images").
    ood_method: str = "stages"
    # Fit that score on blurred copies of the train and val images as well (fusion.blur_views: the
    # blur the model was trained to read, classic or classic + PSF), so blur the model still reads is
    # not flagged unfamiliar. On by default since, with the second look below, it lowered the worst
    # blurred/sharp warning ratio on dev for 3 of 3 seeds of the mixed recipe (26 / 21 / 15x ->
    # 17 / 17 / 11x) with every AUROC >= 0.99 (docs/RESULTS.md, "The second look with blur views").
    ood_blur_views: bool = True
    # A second, low-passed look (fusion.familiar_view) before an image is called unfamiliar: blur,
    # scattering, pixelation and lens fringes the model still reads stop raising the warning. On by
    # default since it lowered the worst blurred/sharp warning ratio on dev for 3 of 3 seeds with every
    # AUROC >= 0.998 (docs/RESULTS.md, "The low-passed second look").
    ood_familiar_view: bool = True
    # The copies that fit takes (fusion.blur_views): "blur", or "camera" (half of them re-framed too:
    # closer, farther, turned, off-centre; both looks fitted on them; thresholds on sharp val images).
    ood_views: str = "blur"
    # Blur evidence for a blurred-vs-clear dataset's blur branch (`features.frequency.EVIDENCE_SETS`):
    # "multiscale" (Laplacian, FFT, directional lag ratios, pyramid bands) beat "basic", and "cepstral"
    # (multiscale + cepstral dips, for motion blur) beat "multiscale", on dev photos over 3 seeds
    # (docs/RESULTS.md, "Blurred-vs-clear on real photographs"). Unused by other datasets.
    blur_evidence_set: str = "cepstral"
    # The final classification with class-balanced sampling, as the design asks: after the epochs the
    # classifier is re-fitted on the frozen branches with every class drawn equally often (Kang et al.,
    # 2020; train.head_retrain). Learnable weight scaling ("lws") was the best class-balanced variant on
    # dev over 3 seeds and within noise of the plain Balanced-Softmax head on balanced accuracy and rare
    # recall (docs/RESULTS.md, "Class-balanced final classification"); "crt", "tau_norm", "none" remain.
    head_retrain: str = "lws"
    head_views: int = 2
    head_epochs: int = 10
    # After the head stage, its bias moved toward the rare classes by this share of their log-rarity
    # (train.prior_shift; 0 leaves the class-balanced head as it is). 0.1 was the one shift that raised
    # rare recall beyond noise on dev (3 seeds) without costing balanced, worst-class, sharp or blurred
    # accuracy, and it lowered the rare classes' calibration error (docs/RESULTS.md, "Shifting the
    # class-balanced head toward the rare classes"); 0.2 and more cost Shirt, the look-alike class.
    head_prior_shift: float = 0.1
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    force: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        # Paths travel as text (JSON, logs); branches as a tuple so the config stays hashable and frozen.
        object.__setattr__(self, "data", str(self.data))
        object.__setattr__(self, "out", str(self.out))
        object.__setattr__(self, "branches", tuple(self.branches))

    def validate(self) -> None:
        """Check the settings before any work starts; raises ValueError naming the setting."""
        if not self.data or not self.out:
            raise ValueError("a training run needs both a dataset dir (--data) and a run dir (--out)")
        if self.sampler not in SAMPLER_MODES:
            raise ValueError(f"sampler must be one of {SAMPLER_MODES}; got {self.sampler!r}")
        if self.rebalance_from_epoch < 1:
            raise ValueError(f"rebalance_from_epoch must be >= 1; got {self.rebalance_from_epoch}")
        if not 0.0 < self.sampler_beta < 1.0:
            raise ValueError(f"sampler_beta must lie in (0, 1); got {self.sampler_beta}")
        for name in ("epochs", "samples_per_epoch", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive; got {self.lr}")
        if not 0.0 <= self.augmix <= 1.0:
            raise ValueError(f"augmix must lie in [0, 1]; got {self.augmix}")
        if not 0.0 <= self.geometry_augment <= 1.0:
            raise ValueError(f"geometry_augment must lie in [0, 1]; got {self.geometry_augment}")
        if not 0.0 <= self.noise_augment <= 1.0:
            raise ValueError(f"noise_augment must lie in [0, 1] (a share of each batch; 0 = off); got {self.noise_augment}")
        if not self.noise_sigma > 0:
            raise ValueError(f"noise_sigma must be positive (gray levels); got {self.noise_sigma}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1) (0 = off); got {self.ema_decay}")
        if self.select not in SELECT_MODES:
            raise ValueError(f"select must be one of {SELECT_MODES}; got {self.select!r}")
        if self.passes < 0:
            raise ValueError(f"passes must be >= 0 (0 = off); got {self.passes}")
        if self.ood_method not in (*OOD_METHODS, "none"):
            raise ValueError(f"ood_method must be one of {(*OOD_METHODS, 'none')}; got {self.ood_method!r}")
        if self.ood_views not in VIEW_KINDS:
            raise ValueError(f"ood_views must be one of {VIEW_KINDS}; got {self.ood_views!r}")
        if self.ood_views != "blur" and not self.ood_blur_views:
            raise ValueError(f"ood_views {self.ood_views!r} describes the copies ood_blur_views adds; turn that on too")
        if self.blur_evidence_set not in EVIDENCE_SETS:
            raise ValueError(f"blur_evidence_set must be one of {sorted(EVIDENCE_SETS)}; got {self.blur_evidence_set!r}")
        if self.blur_kernels not in BLUR_KERNEL_MODES:
            raise ValueError(f"blur_kernels must be one of {BLUR_KERNEL_MODES}; got {self.blur_kernels!r}")
        check_mix(self.mix, self.mix_alpha, self.mix_prob)
        if self.consistency < 0:
            raise ValueError(f"consistency must be >= 0 (the divergence's weight; 0 = off); got {self.consistency}")
        check_share(self.consistency_share)
        if self.consistency > 0 and self.mix != "none":
            raise ValueError("consistency pairs an image with its blurred twin; mixing would pair it with another image: "
                             f"use one of them (consistency={self.consistency}, mix={self.mix!r})")
        if self.head_retrain not in HEAD_METHODS:
            raise ValueError(f"head_retrain must be one of {HEAD_METHODS}; got {self.head_retrain!r}")
        if self.head_views < 1 or self.head_epochs < 1:
            raise ValueError(f"head_views and head_epochs must be >= 1; got {self.head_views}, {self.head_epochs}")
        check_prior_shift(self.head_prior_shift)
        if self.head_prior_shift and self.head_retrain == "none":
            raise ValueError("head_prior_shift moves the re-trained classifier's bias; it needs head_retrain other than none")
        if self.pretrained not in PRETRAINED_MODES:
            raise ValueError(f"pretrained must be offline, hub, none or file; got {self.pretrained!r}")

    def recipe_settings(self) -> dict[str, Any]:
        """What was trained (recipe name, model, schedule, seed): recorded in model.json."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUN_FIELDS}


# Each recipe lists only what differs from `default` (TrainConfig's field defaults).
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    # For tests: seconds, not minutes. Random init, small images, a tiny budget, balanced from epoch 1.
    "smoke": {
        # The levers that need hundreds of steps stay off in a dozen-step run (tests that exercise
        # them set them); re-balancing keeps the tiny rare classes visible.
        "sampler": "sqrt",
        "ema_decay": 0.0,
        "head_retrain": "none",  # the head stage has its own tests; a dozen-step run gains nothing from it
        "head_prior_shift": 0.0,  # nor a shift of that head's bias
        "select": "balanced_acc",
        "passes": 0.0,
        "pretrained": "none",
        "input_size": 32,
        "rebalance_from_epoch": 1,
        "blur_augment": 0.3,
        "epochs": 3,  # three, so an interrupted smoke run has epochs both before and after the interruption
        "samples_per_epoch": 128,
        "batch_size": 32,
        "warmup_fraction": 0.1,
        "patience": 5,
    },
    # Blurred-vs-clear photographs (a Blurred/ + Undistorted/ folder, a few hundred photos). Measured on
    # held-out photos (docs/RESULTS.md, "Blurred-vs-clear on real photographs"): with so few scenes, the
    # ImageNet branch learns the scenes, not the blur, and loses to a fitted Laplacian threshold;
    # the blur branch alone (Laplacian, multi-scale and FFT evidence at native resolution, passed
    # straight to the classifier beside its MLP) beats it and trains in seconds. Fresh blurs that
    # relabel Undistorted images Blurred shift the class prior towards Blurred and cost sharp
    # photos, so none are made. The two classes are about balanced: no sampler, no logit adjustment.
    "blur-task": {
        "branches": ("blur",),
        "head_retrain": "none",  # two classes drawn from balanced photo sets: nothing for a class-balanced head to fix
        "head_prior_shift": 0.0,
        "ema_decay": 0.0,  # 192 steps: an average of them would still remember the initial weights
        "select": "balanced_acc",
        "input_size": 128,
        "rebalance_from_epoch": 1,
        "logit_adjust_tau": 0.0,
        "blur_augment": 0.0,
        # When fresh blurs are turned back on (--blur-augment), they are the data card's kinds: PSFs
        # were measured on garments, not on 128 px photo crops.
        "blur_kernels": "classic",
        "epochs": 16,
        # 768, not 384: with the wide photo pool (24 training photos) twice the steps won on dev photos
        # (99.0 % against 98.1 %, 3 seeds); 1536 was no better (99.1 %) and slower.
        "samples_per_epoch": 768,
        "batch_size": 32,
        "lr": 3e-3,
        "warmup_fraction": 0.1,
        "patience": 16,
    },
}


def recipe_config(name: str = "default", **overrides: Any) -> TrainConfig:
    """A TrainConfig from a named recipe, with keyword overrides (used by the CLI, `ablate` and tests)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown training setting(s) {sorted(unknown)}")
    merged = {**RECIPES[name], **overrides}
    if merged.get("head_retrain", TrainConfig.head_retrain) == "none" and "head_prior_shift" not in merged:
        merged["head_prior_shift"] = 0.0  # the shift moves the re-trained head's bias: no head stage, no shift
    return TrainConfig(**{**merged, "recipe": name})


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as recipe overrides (`ablate`, `compare`, bench scripts).

    VALUE is read as JSON when it parses (numbers, true, lists), else kept as text (sampler names).
    Unknown keys are left to `recipe_config`, which names them.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
