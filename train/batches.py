"""A split held in memory as arrays, and the augmented batches drawn from it.

FMNIST-LT-Blur is ~23k images of 28 px: decoded once, they fit in a few MB, so batches are cut in
the main process. On a 2-core machine DataLoader workers would only compete with the model's own
threads for the same cores.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from features import BLUR_KINDS, FeatureConfig, Features, apply_blur, compute_features, edge_paths, sample_blur_spec
from train.psf_batch import psf_blur


@dataclass
class SplitArrays:
    images: np.ndarray  # (N, H, W, 3) uint8, canonical
    features: Features
    labels: np.ndarray  # (N,) int64
    blurred_truth: np.ndarray  # (N,) bool, from the manifest (target of the blur head)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> "SplitArrays":
        f = self.features
        return SplitArrays(
            images=self.images[index],
            features=Features(gray=f.gray[index], laplacian_var=f.laplacian_var[index], blurred=f.blurred[index],
                              edge_map=f.edge_map[index], edge_path=[f.edge_path[i] for i in index]),
            labels=self.labels[index],
            blurred_truth=self.blurred_truth[index],
        )


def concat_splits(parts: list[SplitArrays]) -> SplitArrays:
    """The rows of `parts`, one after another (every array and the edge-path list alike)."""
    feats = [p.features for p in parts]
    return SplitArrays(
        images=np.concatenate([p.images for p in parts]),
        features=Features(gray=np.concatenate([f.gray for f in feats]),
                          laplacian_var=np.concatenate([f.laplacian_var for f in feats]),
                          blurred=np.concatenate([f.blurred for f in feats]),
                          edge_map=np.concatenate([f.edge_map for f in feats]),
                          edge_path=[path for f in feats for path in f.edge_path]),
        labels=np.concatenate([p.labels for p in parts]),
        blurred_truth=np.concatenate([p.blurred_truth for p in parts]),
    )


def _shift(batch: np.ndarray, dy: np.ndarray, dx: np.ndarray, pad: int) -> np.ndarray:
    """Translate each image by (dy, dx) px with zero fill: a random crop of the padded image."""
    n, h, w = batch.shape[:3]
    widths = ((0, 0), (pad, pad), (pad, pad)) + (((0, 0),) if batch.ndim == 4 else ())
    padded = np.pad(batch, widths)
    out = np.empty_like(batch)
    for i in range(n):
        out[i] = padded[i, pad + dy[i] : pad + dy[i] + h, pad + dx[i] : pad + dx[i] + w]
    return out


def augment(batch: SplitArrays, rng: np.random.Generator, pad: int = 2, flip: bool = True) -> SplitArrays:
    """Random shift and horizontal flip, applied identically to the image and its edge map.

    The edge map was computed on the unaugmented image; shifting and flipping commute with the
    edge operators (up to the border), so transforming both keeps them aligned without recomputing.
    """
    n = len(batch)
    images, edges = batch.images, batch.features.edge_map
    if pad > 0 and images.shape[1] == edges.shape[1]:
        dy, dx = rng.integers(-pad, pad + 1, n), rng.integers(-pad, pad + 1, n)
        images, edges = _shift(images, dy, dx, pad), _shift(edges, dy, dx, pad)
    if flip:
        mirrored = rng.random(n) < 0.5
        images = np.where(mirrored[:, None, None, None], images[:, :, ::-1], images)
        edges = np.where(mirrored[:, None, None], edges[:, :, ::-1], edges)
    f = batch.features
    return SplitArrays(
        images=np.ascontiguousarray(images),
        features=Features(gray=f.gray, laplacian_var=f.laplacian_var, blurred=f.blurred,
                          edge_map=np.ascontiguousarray(edges), edge_path=f.edge_path),
        labels=batch.labels,
        blurred_truth=batch.blurred_truth,
    )


def with_new_pixels(batch: SplitArrays, images: np.ndarray, chosen: np.ndarray, config: FeatureConfig,
                    labels: np.ndarray | None = None, blurred_truth: np.ndarray | None = None) -> SplitArrays:
    """The batch with `images` in place of its own, where only the rows `chosen` changed: those rows'
    scores, verdicts and edge maps are recomputed with the one feature path (the others are kept),
    so an augmentation never leaves features that describe the pixels before it. Labels and blur
    truth stay the batch's unless given."""
    fresh = compute_features(images[chosen], config)
    f = batch.features
    gray, scores, verdict, edges = f.gray.copy(), f.laplacian_var.copy(), f.blurred.copy(), f.edge_map.copy()
    gray[chosen], scores[chosen], verdict[chosen], edges[chosen] = fresh.gray, fresh.laplacian_var, fresh.blurred, fresh.edge_map
    return SplitArrays(
        images=images,
        features=Features(gray=gray, laplacian_var=scores, blurred=verdict, edge_map=edges, edge_path=edge_paths(verdict)),
        labels=batch.labels if labels is None else labels,
        blurred_truth=batch.blurred_truth if blurred_truth is None else blurred_truth,
    )


def noise_augment(batch: SplitArrays, rng: np.random.Generator, fraction: float, config: FeatureConfig,
                  max_sigma: float = 6.0) -> SplitArrays:
    """Add white Gaussian noise to a share of the batch's images, sharp and blurred alike, and recompute
    their features. Labels never change: a camera adds sensor noise after the lens and the shake
    blurred the light, so a noisy blurred photo is still blurred.

    Why (issue 18 part 4): a noisy photo's finest band is full of noise, which every fine-detail
    measure (Laplacian, FFT high-frequency share, the larger of the directional lag ratios) reads
    as sharpness; motion blur along an image axis leaves the noise of the other axis untouched, so a
    model trained on clean crops called such photos sharp. Noisy copies of both classes teach it
    that noise is not detail. Each chosen image gets sigma ~ U[max_sigma / 4, max_sigma] gray levels.
    """
    if fraction <= 0:
        return batch
    if not max_sigma > 0:
        raise ValueError(f"max_sigma must be positive; got {max_sigma}")
    chosen = np.flatnonzero(rng.random(len(batch)) < fraction)
    if len(chosen) == 0:
        return batch
    images = batch.images.copy()
    picked = images[chosen].astype(np.float32)
    sigma = rng.uniform(max_sigma / 4, max_sigma, size=len(chosen)).astype(np.float32)
    noise = rng.standard_normal(picked.shape).astype(np.float32) * sigma.reshape(-1, *([1] * (picked.ndim - 1)))
    images[chosen] = np.clip(np.rint(picked + noise), 0, 255).astype(np.uint8)
    return with_new_pixels(batch, images, chosen, config)


def geometry_augment(batch: SplitArrays, rng: np.random.Generator, fraction: float, config: FeatureConfig,
                     max_degrees: float = 10.0, max_scale: float = 0.1) -> SplitArrays:
    """Rotate (up to `max_degrees`) and rescale (1 +- `max_scale`) a share of the batch's images about
    their centre, and recompute their features. Labels and blur truth never change.

    Why (issue 18): the model reads garments at one pose and size, so blur that also moves pixels
    (zoom, warps, wobble) costs it more than its softness alone explains. A small random similarity
    transform is the generic remedy; it is none of the held-out families (none of them is a global
    rotation or a single rescale), which stay the judge."""
    if fraction <= 0:
        return batch
    chosen = np.flatnonzero(rng.random(len(batch)) < fraction)
    if len(chosen) == 0:
        return batch
    images = batch.images.copy()
    h, w = images.shape[1:3]
    angles = rng.uniform(-max_degrees, max_degrees, len(chosen))
    scales = rng.uniform(1 - max_scale, 1 + max_scale, len(chosen))
    for i, angle, scale in zip(chosen, angles, scales):
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), float(angle), float(scale))
        images[i] = cv2.warpAffine(images[i], matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return with_new_pixels(batch, images, chosen, config)


# AugMix's own operations (Hendrycks et al., 2020): the paper leaves out contrast, colour, brightness
# and sharpness because they overlap its corruption benchmark; sharpness would also overlap blur here.
AUGMIX_OPS = ("AutoContrast", "Equalize", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
              "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


@functools.cache
def _augmix_transform(severity: int, width: int):
    """timm's AugMix with AugMix's own operations, black fill; built once, not every step (it holds no
    random state: it draws from the global generators at call time)."""
    from timm.data.auto_augment import AugMixAugment, augmix_ops

    ops = augmix_ops(severity, {"translate_const": 250, "img_mean": (0, 0, 0), "magnitude_std": float("inf")},
                     transforms=list(AUGMIX_OPS))
    return AugMixAugment(ops, alpha=1.0, width=width, depth=-1)


def augmix_augment(batch: SplitArrays, rng: np.random.Generator, fraction: float, config: FeatureConfig,
                   severity: int = 3, width: int = 3) -> SplitArrays:
    """Replace a share of the batch's images by their AugMix (timm's implementation, AugMix's own
    operations): `width` random chains of 1-3 operations mixed with Dirichlet weights, then blended
    with the image itself; features recomputed, labels and blur truth kept.

    Why (issue 18): what the model cannot read is blur it never trained on; AugMix's chains of
    unrelated operations are the published generic remedy for corruptions a model never saw, and
    none of them is a blur or any held-out family. timm draws from Python's and numpy's global
    generators: both are seeded from `rng` first, so a run stays reproducible."""
    if fraction <= 0:
        return batch
    chosen = np.flatnonzero(rng.random(len(batch)) < fraction)
    if len(chosen) == 0:
        return batch
    import random

    from PIL import Image

    seed = int(rng.integers(2**31))
    random.seed(seed)
    np.random.seed(seed)
    transform = _augmix_transform(severity, width)
    images = batch.images.copy()
    for i in chosen:
        images[i] = np.asarray(transform(Image.fromarray(images[i])), dtype=np.uint8)
    return with_new_pixels(batch, images, chosen, config)


def blur_augment(batch: SplitArrays, rng: np.random.Generator, fraction: float, config: FeatureConfig,
                 kinds: tuple[str, ...] = BLUR_KINDS, ranges: dict | None = None,
                 blurred_class: int | None = None, kernels: str = "classic") -> SplitArrays:
    """Blur a share of the batch's sharp images on the fly, and recompute their features.

    The dataset blurs 40 % of every class, so a rare class has only a few dozen blurred training
    images; fresh blurs of its sharp images give the model many more blurred views of exactly the
    classes it sees least. Scores, verdicts and edge maps are recomputed with the one feature path,
    and the blur head's target becomes "blurred" for these images.

    When the classes are blur (`blurred_class` given: a blurred-vs-clear dataset), a freshly
    blurred Undistorted image is relabelled to `blurred_class`: augmentation never leaves a label
    that says the opposite of the pixels.

    `kernels="psf"` blurs with randomised point-spread functions (train.psf_batch) in one batched
    convolution instead of the classic Gaussian / motion / defocus draws (`kinds`, `ranges` unused);
    `kernels="mixed"` gives each chosen image one or the other with equal odds.
    """
    if fraction <= 0:
        return batch
    sharp = np.flatnonzero(~batch.blurred_truth)
    chosen = sharp[rng.random(len(sharp)) < fraction]
    if len(chosen) == 0:
        return batch
    images = batch.images.copy()
    # "mixed": each chosen image draws its family by a coin flip, so the data card's own blur keeps
    # half the fresh views and randomised PSFs (stronger, other shapes) take the other half.
    use_psf = np.full(len(chosen), kernels == "psf") if kernels != "mixed" else rng.random(len(chosen)) < 0.5
    if use_psf.any():
        images[chosen[use_psf]] = psf_blur(images[chosen[use_psf]], rng)
    for i in chosen[~use_psf]:
        images[i] = apply_blur(images[i], sample_blur_spec(rng, kinds, ranges))
    truth = batch.blurred_truth.copy()
    truth[chosen] = True
    labels = batch.labels
    if blurred_class is not None:
        labels = labels.copy()
        labels[chosen] = blurred_class
    return with_new_pixels(batch, images, chosen, config, labels=labels, blurred_truth=truth)
