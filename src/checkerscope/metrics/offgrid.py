"""Off-grid search: the strongest periodic component at *any* frequency.

A grid of period 2 resized by 1.1 repeats every 2.2 pixels: its energy sits between DFT
bins that no integer period reads, and the score at period 2 misses it. This search looks
at every frequency instead. It scores the periodic component of the combined channel
(luma for RGB, the mean of the channels otherwise; Moisan's decomposition removes the
border's cross), estimates the energy expected at each bin from the bins around it, and
finds the block of 2 x 2 bins (1 x 2 on a frequency axis) whose energy exceeds its
expectation most: a component between bins spreads over at most two bins per axis.

* **Expected energy.** The geometric mean of the energies in a 9 x 9 square around the bin
  minus its central 3 x 3 (17 bins along the axis for bins on an axis; the axes are left out
  of the squares), corrected for the log-mean of an exponential (``exp(mean log E + gamma)``
  estimates the mean). ``log |f|`` is harmonic in the plane, so a power-law spectrum has the
  same mean on a symmetric ring as at its centre: the estimate needs no slope correction.
* **Significance.** Without a periodic component the energy of a block over its expectation
  is a sum of ``k`` unit exponentials (``k`` = 4 or 2 bins); the p-value of the largest
  block is that tail times the number of blocks searched (Bonferroni), as a z-score.
  Frequencies below 1/16 cycle per pixel (periods above 16 pixels, where the content of
  photographs dominates) are not searched. This null is white noise, not photographs:
  textures, edges and the resampling of a resize itself make strong peaks (on clean crops
  of scikit-image's photographs the median is z = 3.4 and the 90th percentile z = 13), so
  the value ranks images (a grid resized by x0.9 or x1.1 against the same photographs
  resized: ROC AUC 0.98 at 2 % of the range, 0.95 at 1 %) but is no calibrated p-value,
  and the verdict does not use it.
* **Reading the peak.** The frequency is the energy-weighted centre of the block, in cycles
  per pixel; ``period`` is one over the larger of its two components. ``resize_factor`` is
  that period over the nearest grid period of 2, 4, 8 or 16 (``original_period``): a grid of
  period 2 found at 2.2 pixels was enlarged by 1.1. A grid shrunk without antialiasing
  folds back around Nyquist: ``resize_factor_if_aliased`` gives the shrink factor that
  would land a period-2 grid at the same place (0.917 for a peak at 2.2 pixels).
* **Amplitude.** The block's energy above expectation is that of a sinusoid (and its mirror
  image) of RMS ``sqrt(2 E) / (H W)``; a sinusoid's peak-to-peak is ``2 sqrt(2)`` times its
  RMS.

The search costs about as much as the score itself (a transform of the combined channel and
a few passes over its spectrum), so it runs only when asked: ``offgrid=True``.

Examples:
    >>> import numpy as np, torch
    >>> rng = np.random.default_rng(1)
    >>> rows, cols = np.mgrid[0:128, 0:128]
    >>> wave = 0.05 * np.cos(2 * np.pi * cols / 2.2)  # a period-2 stripe enlarged x1.1
    >>> peaks = search(torch.from_numpy(rng.normal(0, 0.1, (1, 1, 128, 128)) + wave))
    >>> round(float(peaks.period[0]), 2), round(float(peaks.resize_factor[0]), 2)
    (2.2, 1.1)
    >>> bool(peaks.significance[0] > 5)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from checkerscope.metrics._grid import combination_weights
from checkerscope.metrics.null import z_from_log_p

__all__ = ["MIN_FREQUENCY", "OffGridPeaks", "search"]

#: Lowest frequency searched, in cycles per pixel (periods up to 16 pixels).
MIN_FREQUENCY = 1.0 / 16.0
# Half-widths of the background windows (square off the axes, segment on an axis) and of
# the excluded centre.
_SQUARE = 4
_SEGMENT = 8
_CENTRE = 1
_EULER_GAMMA = 0.5772156649015329
_GRID_PERIODS = (2, 4, 8, 16)


@dataclass(frozen=True, repr=False)
class OffGridPeaks:
    """The strongest periodic component at any frequency, one per image.

    Attributes:
        frequency: ``(N, 2)`` cycles per pixel ``(f_y, f_x)``, ``f_y`` in ``[-0.5, 0.5]``,
            ``f_x`` in ``[0, 0.5]`` (``(N, 1)`` along time for signals).
        period: ``(N,)`` one over the larger frequency component, in pixels (samples).
        original_period: ``(N,)`` the grid period (2, 4, 8 or 16) nearest to ``period``.
        resize_factor: ``(N,)`` ``period / original_period``: the resize that moved it.
        resize_factor_if_aliased: ``(N,)`` for a peak near Nyquist, the shrink (without
            antialiasing) that folds a period-2 grid onto the same frequency; NaN otherwise.
        significance: ``(N,)`` z-score of the peak (Bonferroni over all blocks searched).
        rms: ``(N,)`` RMS of the component in input units (approximate: one peak).
        peak_to_peak: ``(N,)`` ``2 sqrt(2) rms``, the peak-to-peak of a sinusoid.
    """

    frequency: np.ndarray
    period: np.ndarray
    original_period: np.ndarray
    resize_factor: np.ndarray
    resize_factor_if_aliased: np.ndarray
    significance: np.ndarray
    rms: np.ndarray
    peak_to_peak: np.ndarray

    def __len__(self) -> int:
        return int(self.period.shape[0])

    def __repr__(self) -> str:
        if len(self) == 1:
            return (
                f"OffGridPeaks(period={self.period[0]:.3f}, "
                f"resize_factor={self.resize_factor[0]:.3f}, "
                f"significance={self.significance[0]:.2f})"
            )
        return (
            f"OffGridPeaks(n={len(self)}, median significance={np.median(self.significance):.2f})"
        )


def _periodic_spectrum(image: torch.Tensor) -> torch.Tensor:
    """``rfft2`` of Moisan's periodic component of ``(N, H, W)`` images."""
    height, width = image.shape[-2:]
    values = torch.fft.rfft2(image)
    row_jump = torch.fft.fft(image[..., -1, :] - image[..., 0, :])[..., : width // 2 + 1]
    col_jump = torch.fft.fft(image[..., :, -1] - image[..., :, 0])
    q = torch.arange(height, dtype=torch.float64, device=image.device)[:, None]
    r = torch.arange(width // 2 + 1, dtype=torch.float64, device=image.device)[None, :]
    w_q = torch.exp(2j * math.pi * q / height)
    w_r = torch.exp(2j * math.pi * r / width)
    laplacian = 2 * torch.cos(2 * math.pi * q / height) + 2 * torch.cos(2 * math.pi * r / width) - 4
    laplacian[0, 0] = 1.0  # DC is never read
    smooth = (row_jump[..., None, :] * (1 - w_q) + col_jump[..., :, None] * (1 - w_r)) / laplacian
    return values - smooth.to(values.dtype)


def _box_sum(values: torch.Tensor, half: int, dims: tuple[int, ...]) -> torch.Tensor:
    """Circular sum over a window of ``2 half + 1`` along each of ``dims``."""
    for dim in dims:
        size = values.shape[dim]
        if 2 * half + 1 >= size:
            total = values.sum(dim, keepdim=True)
            values = total.expand_as(values) * ((2 * half + 1) / size)
            continue
        padded = torch.cat(
            [values.narrow(dim, size - half - 1, half + 1), values, values.narrow(dim, 0, half)],
            dim,
        )
        cumulative = padded.cumsum(dim)
        values = cumulative.narrow(dim, 2 * half + 1, size) - cumulative.narrow(dim, 0, size)
    return values


def _log_tail(excess: torch.Tensor, bins: int) -> torch.Tensor:
    """``log P(Gamma(bins, 1) > excess)``: a sum of ``bins`` unit exponentials."""
    excess = excess.clamp(min=0.0)
    terms = torch.stack(
        [i * torch.log(excess.clamp(min=1e-300)) - math.lgamma(i + 1) for i in range(bins)]
    )
    return (-excess + torch.logsumexp(terms, dim=0)).clamp(max=0.0)


def search(batch: torch.Tensor) -> OffGridPeaks:
    """The strongest periodic component at any frequency per image of ``(N, C, H, W)``.

    Args:
        batch: Float tensor ``(N, C, H, W)`` (``H == 1`` for signals).

    Returns:
        :class:`OffGridPeaks`, one peak per image.
    """
    weights = torch.from_numpy(combination_weights(batch.shape[1])).to(batch.device)
    images = torch.einsum("c,nchw->nhw", weights, batch.double())
    height, width = images.shape[-2:]
    spectrum = _periodic_spectrum(images)
    energy = spectrum.real.square() + spectrum.imag.square()
    # the full spectrum, so that windows can cross the edges of the half plane
    mirrored = torch.flip(energy[..., 1 : (width + 1) // 2], dims=(-1,))
    mirrored = torch.roll(torch.flip(mirrored, dims=(-2,)), shifts=1, dims=-2)
    full = torch.cat([energy, mirrored], dim=-1)
    scale = full.mean((-2, -1), keepdim=True) * 1e-12 + 1e-300
    log_energy = torch.log(full + scale)

    on_row_axis = torch.zeros(height, width, dtype=torch.bool, device=batch.device)
    on_row_axis[0, :] = True
    on_col_axis = torch.zeros_like(on_row_axis)
    on_col_axis[:, 0] = True
    off_axis = ~(on_row_axis | on_col_axis)

    # off the axes: ring of a square, axes left out
    weight = off_axis.to(log_energy.dtype)
    ring_sum = _box_sum(log_energy * weight, _SQUARE, (-2, -1)) - _box_sum(
        log_energy * weight, _CENTRE, (-2, -1)
    )
    ring_count = _box_sum(weight.expand_as(log_energy), _SQUARE, (-2, -1)) - _box_sum(
        weight.expand_as(log_energy), _CENTRE, (-2, -1)
    )
    background = torch.exp(ring_sum / ring_count.clamp(min=1) + _EULER_GAMMA)
    # on the axes: a segment along the axis
    for axis_dim, line in ((-1, log_energy[..., :1, :]), (-2, log_energy[..., :, :1])):
        if line.shape[axis_dim] < 4:
            continue
        segment = _box_sum(line, _SEGMENT, (axis_dim,)) - _box_sum(line, _CENTRE, (axis_dim,))
        count = min(2 * _SEGMENT + 1, line.shape[axis_dim]) - min(3, line.shape[axis_dim])
        values = torch.exp(segment / max(count, 1) + _EULER_GAMMA)
        if axis_dim == -1:
            background[..., :1, :] = values
        else:
            background[..., :, :1] = values

    energy_full, background_full = full, background
    # blocks: 2 x 2 off the axes, 1 x 2 along an axis (starting at each bin)
    block_energy = energy_full + torch.roll(energy_full, -1, -1)
    block_background = background_full + torch.roll(background_full, -1, -1)
    rows_two = torch.roll(block_energy, -1, -2)
    rows_two_background = torch.roll(block_background, -1, -2)
    block_energy_2d = block_energy + rows_two
    block_background_2d = block_background + rows_two_background

    freq_rows = torch.fft.fftfreq(height, device=batch.device, dtype=torch.float64)
    freq_cols = torch.fft.fftfreq(width, device=batch.device, dtype=torch.float64)
    far = torch.maximum(freq_rows.abs()[:, None], freq_cols.abs()[None, :])
    searched = (far >= MIN_FREQUENCY) & (freq_cols[None, :] >= 0)
    block_is_2d = off_axis & torch.roll(off_axis, -1, -2) & torch.roll(off_axis, -1, -1)
    excess_2d = block_energy_2d / block_background_2d * 4
    excess_1d = block_energy / block_background * 2
    log_tail_2d = _log_tail(excess_2d, 4)
    log_tail_1d = _log_tail(excess_1d, 2)
    axis_block = (on_row_axis | on_col_axis) & torch.roll(on_row_axis | on_col_axis, -1, -1)
    log_tail = torch.where(block_is_2d, log_tail_2d, torch.where(axis_block, log_tail_1d, 0.0))
    log_tail = torch.where(searched, log_tail, torch.zeros_like(log_tail))
    tests = int(searched.sum())

    flat = log_tail.flatten(-2)
    best = flat.argmin(-1)
    log_p = (flat.gather(-1, best[:, None])[:, 0] + math.log(max(tests, 1))).clamp(max=0.0)
    row, col = best // width, best % width

    # the peak's frequency: energy-weighted centre of its block
    n_images = images.shape[0]
    index = torch.arange(n_images, device=batch.device)
    is_2d = block_is_2d[row, col]
    e00 = energy_full[index, row, col]
    e01 = energy_full[index, row, (col + 1) % width]
    e10 = torch.where(is_2d, energy_full[index, (row + 1) % height, col], 0.0)
    e11 = torch.where(is_2d, energy_full[index, (row + 1) % height, (col + 1) % width], 0.0)
    total = (e00 + e01 + e10 + e11).clamp(min=1e-300)
    along_rows = (e10 + e11) / total
    along_cols = (e01 + e11) / total
    frequency_rows = (freq_rows[row] + along_rows / height + 0.5) % 1.0 - 0.5
    frequency_cols = (freq_cols[col] + along_cols / width + 0.5) % 1.0 - 0.5
    on_row = on_row_axis[row, col] & ~is_2d
    frequency_rows = torch.where(on_row, torch.zeros_like(frequency_rows), frequency_rows)
    sign = torch.where(frequency_cols < 0, -1.0, 1.0)  # report the half plane f_x >= 0
    frequency = torch.stack([frequency_rows * sign, frequency_cols * sign], dim=-1)

    at = (index, row, col)
    block = torch.where(is_2d, block_energy_2d[at], block_energy[at])
    expected = torch.where(is_2d, block_background_2d[at], block_background[at])
    rms = torch.sqrt(2.0 * (block - expected).clamp(min=0.0)) / (height * width)

    frequency_np = frequency.cpu().numpy()
    if height == 1:
        frequency_np = frequency_np[:, 1:]
    dominant = np.abs(frequency_np).max(axis=1)
    period = np.where(dominant > 0, 1.0 / np.maximum(dominant, 1e-12), np.inf)
    grids = np.array(_GRID_PERIODS, dtype=float)
    nearest = grids[np.abs(np.log(period[:, None] / grids[None, :])).argmin(axis=1)]
    aliased = np.where(dominant > 0.25, 1.0 / (2.0 * (1.0 - np.minimum(dominant, 0.5))), np.nan)
    rms_np = rms.cpu().numpy()
    return OffGridPeaks(
        frequency=frequency_np,
        period=period,
        original_period=nearest.astype(int),
        resize_factor=period / nearest,
        resize_factor_if_aliased=aliased,
        significance=z_from_log_p(log_p.double().cpu().numpy()),
        rms=rms_np,
        peak_to_peak=2.0 * math.sqrt(2.0) * rms_np,
    )
