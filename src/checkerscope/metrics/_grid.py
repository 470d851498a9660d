"""Significance and amplitude of the periodic component, from the bins the score reads.

For every harmonic bin the energy expected without a grid is the median of its neighbours'
energies after a correction for the slope of the spectrum: natural images fall off about as
``1 / f^2``, so neighbours at lower frequencies (all of them, for a bin at Nyquist) hold
more energy than the harmonic would without a grid, and more so in small images, where they
lie farther away. Each neighbour's energy is scaled by ``(f_neighbour / f_harmonic)^alpha``
with one ``alpha`` per image and channel, fitted to the neighbours' log-energies (the slope
within each neighbourhood, pooled over harmonics) and shrunk towards 2, the typical slope of
photographs, when the neighbourhoods are too narrow to say (large images, where the
correction hardly matters).

* **Significance.** The ratio of each harmonic's energy to that median has an exactly known
  distribution without a grid (:mod:`checkerscope.metrics.null`), which gives a p-value per
  harmonic; the image's p-value is that of the strongest harmonic corrected for the number
  of harmonics looked at (Šidák). A grid must be *exactly* periodic: a harmonic whose
  adjacent bins hold a comparable, clearly raised energy is the leak of a component at a
  nearby frequency (8-bit steps of a gradient, a resized grid, a texture) and counts as
  nothing here; the off-grid search reports such peaks.
* **Amplitude.** The grid's energy at a harmonic is what exceeds the expected energy (power
  spectral subtraction); its sum over the harmonics, divided by ``(H W)^2``, is the mean
  square of the periodic component, whatever the image size. The harmonics, scaled by the
  same subtraction, give the denoised pattern whose peak-to-peak is reported.

Everything is computed per channel and for the *combined* channel: the BT.601 luma
``0.299 R + 0.587 G + 0.114 B`` for three channels (a grid that lives only in the colour, as
JPEG's 4:2:0 chroma upsampling does, is not a generator grid), the mean of the channels
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from checkerscope.metrics._layout import (
    _NEIGHBOURS,
    _Bins,
    _layout,
    _median_of_neighbours,
    _pattern,
)
from checkerscope.metrics.null import log_sidak, log_survival, median_weights

__all__ = ["LUMA_WEIGHTS", "combination_weights"]

#: Weights of the combined channel for RGB input (ITU-R BT.601 luma, as JPEG uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# Spectral slope of photographs (energy ~ 1 / f^alpha) that the fitted slope is shrunk to,
# and the weight of that prior in units of the fit's sum of squared log-frequency offsets.
_PRIOR_SLOPE = 2.0
_PRIOR_WEIGHT = 3.0
# A harmonic counts as the leak of a nearby frequency when an adjacent bin holds more than
# _LEAK_RAISED times the expected energy and more than 1 / _LEAK_SHARPNESS of the harmonic's.
_LEAK_RAISED = 10.0
_LEAK_SHARPNESS = 4.0


@dataclass(frozen=True)
class _HarmonicModel:
    """Static facts about the harmonics of one layout that the significance needs."""

    log_offset: np.ndarray  # (K, NB) log(f_neighbour / f_harmonic)
    centred_offset: np.ndarray  # (K, NB) the same minus its mean per harmonic
    offset_spread: float  # sum of centred_offset ** 2
    groups: tuple[tuple[np.ndarray, bool, int], ...]  # (harmonic indices, real, count)
    adjacent: np.ndarray  # (K, NB) bool: the neighbour touches the harmonic
    median_mean: np.ndarray  # (K,) expected median of `count` unit exponentials


@lru_cache(maxsize=512)
def _harmonic_model(height: int, width: int, period: tuple[int, int]) -> _HarmonicModel:
    layout = _layout(height, width, period)
    k = layout.n_harmonics
    rows, cols = layout.row, layout.col
    freq_rows = np.minimum(rows, height - rows) / height
    freq_cols = np.minimum(cols, width - cols) / width
    radius = np.hypot(freq_rows, freq_cols)
    harmonic_radius = radius[:k]
    neighbour_radius = radius[k:].reshape(k, _NEIGHBOURS)
    log_offset = np.log(neighbour_radius / harmonic_radius[:, None])
    centred = log_offset - log_offset.mean(axis=1, keepdims=True)
    harmonic_rows, harmonic_cols = rows[:k], cols[:k]
    real = np.isin(harmonic_rows, [0, height / 2]) & np.isin(harmonic_cols, [0, width / 2])
    neighbour_rows = rows[k:].reshape(k, _NEIGHBOURS)
    neighbour_cols = cols[k:].reshape(k, _NEIGHBOURS)
    # a bin and its mirror image (-q, -r) hold the same energy: count each pair once
    mirror_rows, mirror_cols = (-neighbour_rows) % height, (-neighbour_cols) % width
    canonical = np.minimum(
        neighbour_rows * width + neighbour_cols, mirror_rows * width + mirror_cols
    )
    counts = np.array([len(np.unique(row)) for row in canonical])
    step_rows = (neighbour_rows - harmonic_rows[:, None] + height // 2) % height - height // 2
    step_cols = (neighbour_cols - harmonic_cols[:, None] + width // 2) % width - width // 2
    adjacent = (np.abs(step_rows) <= 1) & (np.abs(step_cols) <= 1)
    groups = []
    for is_real, count in sorted(set(zip(real.tolist(), counts.tolist(), strict=True))):
        which = np.flatnonzero((real == is_real) & (counts == count))
        groups.append((which, bool(is_real), int(count)))
    median_mean = np.array([sum(median_weights(int(c))) for c in counts])
    return _HarmonicModel(
        log_offset=log_offset,
        centred_offset=centred,
        offset_spread=float((centred**2).sum()),
        groups=tuple(groups),
        adjacent=adjacent,
        median_mean=median_mean,
    )


def combination_weights(channels: int) -> np.ndarray:
    """Weights of the combined channel: BT.601 luma for 3 channels, the mean otherwise.

    Examples:
        >>> combination_weights(3).tolist(), combination_weights(2).tolist()
        ([0.299, 0.587, 0.114], [0.5, 0.5])
    """
    if channels == 3:
        return np.array(LUMA_WEIGHTS)
    return np.full(channels, 1.0 / channels)


@dataclass(frozen=True)
class _GridEstimate:
    """Per image and channel, the last channel being the combined one: ``(N, C + 1)``."""

    log_p: np.ndarray  # natural log of the p-value (Šidák over the harmonics)
    rms: np.ndarray  # RMS of the periodic component, in input units
    peak_to_peak: np.ndarray  # peak-to-peak of its denoised pattern, in input units
    leak: np.ndarray  # bool: some harmonic was discounted as the leak of a nearby peak


def _estimate(
    bins: _Bins,
    period: tuple[int, int],
    step: float | None = None,
    combined_only: bool = False,
) -> _GridEstimate:
    """Significance and amplitude of the periodic component, per channel and combined.

    With ``combined_only`` only the combined channel is estimated (what ``period="auto"``
    compares), and the results have one column.

    ``step`` is the input's quantisation step: rounding to it adds white noise of variance
    ``step^2 / 12`` per sample, so no bin of a stored image can be expected to hold less
    than ``H W step^2 / 12``. Used as a floor under the expected energy, it keeps the
    deterministic sub-step structure of a smooth 8-bit gradient from counting as a grid.
    """
    model = _harmonic_model(bins.height, bins.width, period)
    k = bins.layout.n_harmonics
    weights = combination_weights(bins.values.shape[1])
    combined = np.einsum("c,ncm->nm", weights, bins.values)[:, None]
    channel_floor = bins.floor
    combined_floor = (weights[:, None] ** 2 * channel_floor).sum(1, keepdims=True)
    if combined_only:
        values, floor = combined, combined_floor
        per_channel = np.array([(weights**2).sum()])
    else:
        values = np.concatenate([bins.values, combined], axis=1)
        floor = np.concatenate([channel_floor, combined_floor], axis=1)
        per_channel = np.concatenate([np.ones_like(weights), [(weights**2).sum()]])
    energy = values.real**2 + values.imag**2
    harmonic = energy[..., :k] + floor
    neighbours = energy[..., k:].reshape(*energy.shape[:-1], k, _NEIGHBOURS) + floor[..., None]
    spread = model.offset_spread
    fitted = -(np.log(neighbours) * model.centred_offset).sum((-2, -1)) / max(spread, 1e-30)
    slope = (spread * fitted + _PRIOR_WEIGHT * _PRIOR_SLOPE) / (spread + _PRIOR_WEIGHT)
    corrected = neighbours * np.exp(slope[..., None, None] * model.log_offset)
    median = _median_of_neighbours(corrected)
    if step is not None:
        noise = bins.height * bins.width * step**2 / 12.0
        median = np.maximum(median, noise * per_channel[:, None] * model.median_mean)
    ratio = harmonic / median
    log_p = np.zeros_like(ratio)
    for index, real, count in model.groups:
        log_p[..., index] = log_survival(ratio[..., index], real, count)
    adjacent = np.where(model.adjacent, neighbours, 0.0).max(-1)
    leak = (adjacent > _LEAK_RAISED * median) & (harmonic < _LEAK_SHARPNESS * adjacent)
    log_p = np.where(leak, 0.0, log_p)
    image_log_p = log_sidak(log_p.min(-1), k)
    expected = median / model.median_mean
    excess = np.where(leak, 0.0, np.maximum(harmonic - expected, 0.0))
    area = bins.height * bins.width
    rms = np.sqrt(excess.sum(-1)) / area
    gain = np.sqrt(excess / harmonic)
    pattern = _pattern(values[..., :k] * gain, bins.layout, bins.height, bins.width, period)
    flat = pattern.reshape(*pattern.shape[:-2], -1)
    peak_to_peak = flat.max(-1) - flat.min(-1)
    return _GridEstimate(image_log_p, rms, peak_to_peak, leak.any(-1))
