"""Calibrated probabilities: temperature scaling, expected calibration error, reliability bins.

A classifier trained with cross-entropy on a long tail is over-confident, and the web page shows
its top probability as "confidence". Temperature scaling (Guo et al., 2017) divides the logits by
one scalar T > 0 fitted by minimising the negative log-likelihood on held-out images (val or dev,
never test). It keeps every argmax, so accuracy is unchanged; only the probabilities move.

`softmax` here is the one place a probability is made from logits: `Predictor` (and so the CLI,
the web app, the API and the report) calls it with the checkpoint's temperature.

Only the maths, numpy alone: fitting a stored run lives in `fusion.run_fit` and `fusion.held_out`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

N_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)  # a wider search than any sane model needs; the optimum is interior
CALIBRATION_SPLITS = ("val", "dev")  # held-out data the model was not fitted on; never test
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def check_temperature(temperature: Any) -> float:
    """A finite number > 0, or ValueError naming `temperature`."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def check_logits(logits: Any, labels: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C) finite float64 logits with N >= 1, C >= 2, and (N,) integer labels in [0, C) if given."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (N, C) with N >= 1 and C >= 2, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite (found NaN or inf)")
    if labels is None:
        return z, None
    y = np.asarray(labels)
    if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {z.shape[0]} integers (one per row of logits), got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got {int(y.min())}..{int(y.max())}")
    return z, y.astype(np.int64)


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) row by row, in float64 (stable: the row maximum is subtracted first)."""
    z = np.asarray(logits, dtype=np.float64) / check_temperature(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_weights(weights: Any, n: int) -> np.ndarray | None:
    """None, or (n,) finite non-negative float64 weights with a positive sum."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum, got shape {w.shape}")
    return w


def class_prior_weights(labels: Any, n_classes: int, target_prior: Any | None = None) -> np.ndarray:
    """Per-image weights that make the held-out images stand for `target_prior` (uniform by default).

    Val keeps the training long tail (500 / 80 / 10 images per frequent / medium / rare class)
    while the model's logits (Balanced Softmax, a class-balanced head) and the benchmark's dev and
    test splits assume every class equally likely. A temperature fitted on val as it is answers for
    the long tail: there a "T-shirt/top" answer is rarely right, because T-shirts are rare, so the
    fit damps it. Weighting each image by target / val share of its class (importance weighting for
    label shift) fits the temperature the balanced splits need. Classes absent from val get no weight.
    """
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    prior = np.full(n_classes, 1.0 / n_classes) if target_prior is None else np.asarray(target_prior, dtype=np.float64)
    if prior.shape != (n_classes,) or (prior < 0).any() or not np.isclose(prior.sum(), 1.0):
        raise ValueError(f"target_prior must hold {n_classes} non-negative shares summing to 1")
    share = counts / counts.sum()
    per_class = np.divide(prior, share, out=np.zeros(n_classes), where=counts > 0)
    w = per_class[y]
    return w / w.mean()


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0, weights: Any | None = None) -> float:
    """Mean (or `weights`-weighted mean) -log softmax(logits / T)[label]: what temperature scaling minimises."""
    z, y = check_logits(logits, labels)
    w = check_weights(weights, len(y))
    z = z / check_temperature(temperature)
    m = z.max(axis=1)
    log_norm = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    per_image = log_norm - z[np.arange(len(y)), y]
    return float(np.mean(per_image) if w is None else np.sum(w * per_image) / np.sum(w))


def fit_temperature(logits: Any, labels: Any, bounds: tuple[float, float] = TEMPERATURE_BOUNDS, tol: float = 1e-6,
                    weights: Any | None = None) -> float:
    """The T in `bounds` minimising the (optionally `weights`-weighted) NLL of held-out (logits, labels).

    A golden-section search on log T: the NLL is convex in 1/T, hence unimodal in log T, so the
    bracket shrinks onto the one minimum without gradients or a scipy dependency.
    """
    z, y = check_logits(logits, labels)
    w = check_weights(weights, len(y))
    low, high = (math.log(check_temperature(b)) for b in bounds)
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with 0 < low < high, got {bounds}")
    a, b = low, high
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = negative_log_likelihood(z, y, math.exp(c), w), negative_log_likelihood(z, y, math.exp(d), w)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = negative_log_likelihood(z, y, math.exp(c), w)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = negative_log_likelihood(z, y, math.exp(d), w)
    return float(math.exp((a + b) / 2))


def bin_index(confidence: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Equal-width confidence bin of each image (its top-1 probability), 0 .. n_bins-1."""
    return np.clip((np.asarray(confidence, dtype=np.float64) * n_bins).astype(np.int64), 0, n_bins - 1)


def reliability_bins(probabilities: Any, labels: Any, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per equal-width bin of the top-1 probability: count, mean confidence and accuracy (NaN when empty).

    The data of a reliability diagram; ECE is the count-weighted mean gap between the last two.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    check_logits(p, labels)  # same shape rules; probabilities are finite too
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y = np.asarray(labels, dtype=np.int64)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    key = bin_index(confidence, n_bins)
    count = np.bincount(key, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(key, confidence, n_bins) / count
        accuracy = np.bincount(key, correct, n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(probabilities: Any, labels: Any, n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over bins of (share of images) x |accuracy - mean confidence|."""
    bins = reliability_bins(probabilities, labels, n_bins)
    filled = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    return float(np.sum(bins["count"][filled] * gaps) / bins["count"].sum())


@dataclass(frozen=True)
class CalibrationResult:
    """What `calibrate_checkpoint` fitted and how much it helped on the images it was fitted on."""

    temperature: float
    split: str
    n_images: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    fitted: bool = True  # False: the held-out images held no mistake, so T stayed 1 (see calibrate_logits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def source(self) -> str:
        """Where T came from, for the train log and the calibrate CLI alike."""
        if self.fitted:
            return f"fitted on {self.split} ({self.n_images} images)"
        return f"kept at 1: the {self.n_images} {self.split} images hold no mistake to fit it on"


def calibrate_logits(logits: Any, labels: Any, split: str) -> CalibrationResult:
    """Fit T on held-out logits and measure NLL and ECE before and after.

    When the held-out images hold no mistake, the NLL keeps falling as T shrinks, and the fit would
    sharpen every answer to certainty (a 38-image val split of a blur-task model did: T 0.05). That
    says nothing about how sure to be on the mistakes to come, so T stays 1.
    """
    if split not in CALIBRATION_SPLITS:
        raise ValueError(f"split must be one of {CALIBRATION_SPLITS} (held out, never test), got {split!r}")
    z, y = check_logits(logits, labels)
    has_mistakes = bool((z.argmax(axis=1) != y).any())
    t = fit_temperature(z, y) if has_mistakes else 1.0
    return CalibrationResult(
        temperature=t, split=split, n_images=len(y), fitted=has_mistakes,
        nll_before=negative_log_likelihood(z, y), nll_after=negative_log_likelihood(z, y, t),
        ece_before=expected_calibration_error(softmax(z), y), ece_after=expected_calibration_error(softmax(z, t), y),
    )
