"""Blur evidence beside the Laplacian: the same question asked at two scales and in frequency space.

The variance of the Laplacian at one scale mixes two things: how sharp an image is and how much
fine texture its scene has (a sharp photo of a clear sky scores like a blurred photo of gravel).
Ratios cancel much of the scene: blur removes high frequencies *relative* to the middle ones, so

- `laplacian_ratio`: Laplacian variance at full resolution over the same at half resolution
  (a sharp image loses most of its fine detail when halved, a blurred one has little to lose);
- `fft_high_ratio`: the share of spectral energy above a radial frequency cut-off, out of the
  energy above a low cut-off (the DC term and the coarsest layout of the scene left out);

are scene-tolerant complements of the absolute score. The "multiscale" evidence set adds two more
families that the few hundred photos of a blurred-vs-clear folder can fit (chosen on dev folds of the
training photos, docs/RESULTS.md "Blurred-vs-clear on real photographs"):

- `lag_energy_ratios`: log of the energy of 1-px differences over that of 2-px differences (and
  2 px over 4 px) along four directions. White noise and sharp detail give about 0, a smooth
  signal log(1/4); the minimum over directions finds motion blur, which smooths one direction
  only and so leaves the absolute Laplacian of a textured scene high;
- `pyramid_band_energies`: log energy of four Laplacian-pyramid bands and the drop from each band
  to the next, the image's spectral slope at octave spacing.

All functions take a (N, H, W) uint8 or float stack at the resolution where blur is to be judged,
and never resize it themselves.
"""

from __future__ import annotations

import cv2
import numpy as np

from features.blur import laplacian_variance

EVIDENCE_NAMES: tuple[str, ...] = ("log_laplacian", "log_laplacian_half", "log_laplacian_ratio", "fft_high_ratio")
LAG_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (2, 4))
DIRECTIONS: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (1, -1))  # (dy, dx): across, down, two diagonals
PYRAMID_LEVELS = 4
LAG_NAMES = tuple(f"lag{a}{b}_{stat}" for a, b in LAG_PAIRS for stat in ("min", "max", "mean"))
PYRAMID_NAMES = tuple(f"band{i}" for i in range(PYRAMID_LEVELS)) + tuple(
    f"band_drop{i}{i + 1}" for i in range(PYRAMID_LEVELS - 1))
CEPSTRUM_NAMES = ("cepstrum_dip", "cepstrum_dip_z")
CEPSTRUM_RADII = (3, 20)  # px: the blur lengths (motion 5-15 px, defocus diameters 3-9 px) searched for
EVIDENCE_SETS: dict[str, tuple[str, ...]] = {
    "basic": EVIDENCE_NAMES,
    "multiscale": EVIDENCE_NAMES + LAG_NAMES + PYRAMID_NAMES,
    "cepstral": EVIDENCE_NAMES + LAG_NAMES + PYRAMID_NAMES + CEPSTRUM_NAMES,
}
# Each pyramid level halves the image; four levels still leave a 4 px band at this size.
MULTISCALE_MIN_SIDE = 32


def _stack(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim == 2:
        gray = gray[None]
    if gray.ndim != 3 or min(gray.shape[1:]) < 8:
        raise ValueError(f"gray must be (N, H, W) or (H, W) with sides >= 8 px; got {gray.shape}")
    return gray if gray.dtype == np.uint8 else gray.astype(np.float32)


def half_scale_laplacian_variance(gray: np.ndarray) -> np.ndarray:
    """Laplacian variance of each image after halving it with area averaging: (N, H, W) -> (N,)."""
    stack = _stack(gray)
    h, w = stack.shape[1] // 2, stack.shape[2] // 2
    halves = np.stack([cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA) for g in stack])
    return np.asarray(laplacian_variance(halves), dtype=np.float64)


def fft_high_ratio(gray: np.ndarray, low: float = 0.05, high: float = 0.25) -> np.ndarray:
    """Share of spectral energy at radial frequency >= `high` among energy at >= `low` (cycles/px).

    A Hann window keeps the image border from adding a spurious cross of high frequencies. Values
    lie in [0, 1]; blur pushes them towards 0 whatever the scene's contrast.
    """
    if not 0 < low < high < 0.5:
        raise ValueError(f"need 0 < low < high < 0.5 cycles/px; got low={low}, high={high}")
    stack = _stack(gray).astype(np.float32)
    n, h, w = stack.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    centred = stack - stack.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(centred * window)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    above_low = power[:, radius >= low].sum(axis=1)
    above_high = power[:, radius >= high].sum(axis=1)
    return np.where(above_low > 0, above_high / np.maximum(above_low, 1e-12), 0.0).astype(np.float64)


def _difference_energy(stack: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Mean squared difference between each pixel and the one (dy, dx) away: (N, H, W) -> (N,)."""
    h, w = stack.shape[1:]
    top, bottom = max(0, -dy), h - max(0, dy)
    left, right = max(0, -dx), w - max(0, dx)
    here = stack[:, top:bottom, left:right]
    there = stack[:, top + dy : bottom + dy, left + dx : right + dx]
    return ((here - there) ** 2).mean(axis=(1, 2), dtype=np.float64)


def lag_energy_ratios(gray: np.ndarray) -> np.ndarray:
    """(N, 6): for each pair in `LAG_PAIRS`, min, max and mean over `DIRECTIONS` of
    log(energy of lag-a differences / energy of lag-b differences).

    Contrast cancels in the ratio; a flat image (no differences at all) gets 0, as white noise does,
    because nothing in it can be called smooth.
    """
    stack = _stack(gray).astype(np.float32)
    columns = []
    for a, b in LAG_PAIRS:
        ratios = np.stack([np.log((_difference_energy(stack, a * dy, a * dx) + 1e-6)
                                  / (_difference_energy(stack, b * dy, b * dx) + 1e-6)) for dy, dx in DIRECTIONS], axis=1)
        columns += [ratios.min(axis=1), ratios.max(axis=1), ratios.mean(axis=1)]
    return np.stack(columns, axis=1)


def axis_lag_ratio(gray: np.ndarray) -> np.ndarray:
    """log(lag-1 / lag-2 difference energy) averaged over the two axes: (N,). A Gaussian blur of
    sigma s gives white noise log((1 - exp(-1/(4 s^2))) / (1 - exp(-1/s^2))) (-1.05 at s = 1)."""
    stack = _stack(gray).astype(np.float32)
    lag1 = _difference_energy(stack, 0, 1) + _difference_energy(stack, 1, 0)
    lag2 = _difference_energy(stack, 0, 2) + _difference_energy(stack, 2, 0)
    return np.log((lag1 + 1e-6) / (lag2 + 1e-6))


def gaussian_noise_lag_ratio(sigma: float) -> float:
    """`axis_lag_ratio` of white noise blurred with a Gaussian of `sigma` px (its autocorrelation
    is exp(-d^2 / (4 sigma^2))): the smoothness a blur of that size gives the finest detail."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    return float(np.log((1 - np.exp(-1 / (4 * sigma**2))) / (1 - np.exp(-1 / sigma**2))))


def pyramid_band_energies(gray: np.ndarray) -> np.ndarray:
    """(N, 7): log mean energy of `PYRAMID_LEVELS` Laplacian-pyramid bands (finest first) and the
    drop from each band to the next coarser one."""
    stack = _stack(gray).astype(np.float32)
    if min(stack.shape[1:]) < MULTISCALE_MIN_SIDE:
        raise ValueError(f"pyramid band energies need sides >= {MULTISCALE_MIN_SIDE} px; got {stack.shape[1:]}")
    rows = []
    for image in stack:
        energies, current = [], image
        for _ in range(PYRAMID_LEVELS):
            down = cv2.pyrDown(current)
            band = current - cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
            energies.append(np.log(float((band.astype(np.float64) ** 2).mean()) + 1e-6))
            current = down
        rows.append(energies + list(np.diff(energies)))
    return np.asarray(rows, dtype=np.float64)


def cepstral_dips(gray: np.ndarray) -> np.ndarray:
    """(N, 2): the deepest value of each image's real cepstrum at `CEPSTRUM_RADII` from the origin,
    and that value over the ring's standard deviation (a Hann window keeps the borders out)."""
    stack = _stack(gray).astype(np.float32)
    if min(stack.shape[1:]) < MULTISCALE_MIN_SIDE:
        raise ValueError(f"cepstral dips need sides >= {MULTISCALE_MIN_SIDE} px; got {stack.shape[1:]}")
    h, w = stack.shape[1:]
    spectrum = np.abs(np.fft.fft2(stack * np.outer(np.hanning(h), np.hanning(w))))
    cepstrum = np.fft.fftshift(np.real(np.fft.ifft2(np.log(spectrum + 1e-3))), axes=(1, 2))
    yy, xx = np.mgrid[:h, :w]
    radius = np.hypot(yy - h // 2, xx - w // 2)
    ring = cepstrum[:, (radius >= CEPSTRUM_RADII[0]) & (radius <= min(CEPSTRUM_RADII[1], min(h, w) // 2 - 1))]
    dip = ring.min(axis=1).astype(np.float64)
    return np.stack([dip, dip / (ring.std(axis=1) + 1e-9)], axis=1)


def blur_evidence(gray: np.ndarray, evidence_set: str = "basic") -> np.ndarray:
    """(N, len(EVIDENCE_SETS[evidence_set])) float64 in the order of the set's names.

    "basic": log1p Laplacian variance at full and half scale, their log ratio, and the FFT
    high-frequency energy ratio; "multiscale": those, then `lag_energy_ratios` and
    `pyramid_band_energies`; "cepstral": those, then `cepstral_dips`.
    """
    if evidence_set not in EVIDENCE_SETS:
        raise ValueError(f"unknown blur evidence set {evidence_set!r}; choose from {sorted(EVIDENCE_SETS)}")
    stack = _stack(gray)
    full = np.asarray(laplacian_variance(stack), dtype=np.float64).reshape(-1)
    half = half_scale_laplacian_variance(stack)
    log_full, log_half = np.log1p(full), np.log1p(half)
    basic = np.stack([log_full, log_half, log_full - log_half, fft_high_ratio(stack)], axis=1)
    if evidence_set == "basic":
        return basic
    parts = [basic, lag_energy_ratios(stack), pyramid_band_energies(stack)]
    if evidence_set == "cepstral":
        parts.append(cepstral_dips(stack))
    return np.concatenate(parts, axis=1)
