"""Temperatures per predicted class, shrunk toward the global one: rare-class probabilities you can trust.

One temperature fits the bulk of the images, which belong to the frequent classes; the rare
classes' answers stay over-confident (their logits were pushed up by the long-tail loss). Here
each class c gets its own temperature T_c, fitted on the held-out images the model *predicts* as
c (the argmax is unchanged by any temperature, so at prediction time the class picks its own T),
and pulled toward the global T in proportion to how few such images there are:

    log T_c = w_c log T_c(fit) + (1 - w_c) log T,   w_c = n_c / (n_c + strength)

so a class predicted ten times on val moves only a little from T. A class whose held-out images
hold no mistake keeps T (a fit would sharpen it to certainty on no evidence). Fitted where the
global temperature is (val, never the split a report scores; see `fusion.held_out`).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fusion.calibration import check_logits, check_weights, fit_temperature, softmax

SHRINK_STRENGTH = 50.0  # held-out images at which a class's own fit and the global T weigh the same


def fit_class_temperatures(logits: Any, labels: Any, temperature: float, strength: float = SHRINK_STRENGTH,
                           weights: Any | None = None) -> list[float]:
    """One temperature per class (by predicted class), shrunk toward `temperature`.

    `weights` (e.g. `fusion.calibration.class_prior_weights`) weight each image's NLL in its class's
    fit; the shrinkage still counts images, since it measures how much evidence there is.
    """
    if strength <= 0:
        raise ValueError(f"strength must be positive; got {strength}")
    z, y = check_logits(logits, labels)
    w = check_weights(weights, len(y))
    predicted = z.argmax(axis=1)
    out = []
    for c in range(z.shape[1]):
        members = predicted == c
        n = int(members.sum())
        if n == 0 or bool((y[members] == c).all()):
            out.append(float(temperature))
            continue
        weight = n / (n + strength)
        own = fit_temperature(z[members], y[members], weights=None if w is None else w[members])
        out.append(float(math.exp(weight * math.log(own) + (1 - weight) * math.log(temperature))))
    return out


def logits_for(probabilities: Any, temperature: float, class_temperatures: Sequence[float] | None = None) -> np.ndarray:
    """Logits that `calibrated_probabilities` maps back onto `probabilities` exactly: T * log(p), with T
    the temperature of p's top class. For answers that are a mixture of two readings (the second
    look's "mean"), so a prediction's logits and probabilities never disagree."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-300, None)
    t = np.float64(temperature) if not class_temperatures else np.asarray(class_temperatures, dtype=np.float64)[p.argmax(axis=-1)]
    return np.asarray(t)[..., None] * np.log(p)  # one temperature per row (or one for all), across the classes


def calibrated_probabilities(logits: Any, temperature: float, class_temperatures: Sequence[float] | None = None) -> np.ndarray:
    """softmax(logits / T) with T the predicted class's temperature when there are per-class ones."""
    z = np.asarray(logits, dtype=np.float64)
    if not class_temperatures:
        return softmax(z, temperature)
    temps = np.asarray(class_temperatures, dtype=np.float64)
    if temps.shape != (z.shape[-1],) or not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise ValueError(f"class_temperatures must hold one positive temperature per class ({z.shape[-1]})")
    per_row = temps[z.argmax(axis=-1)]
    return softmax(z / per_row[..., None], 1.0)
