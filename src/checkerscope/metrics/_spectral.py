"""The score's torch side: one ``rfft2`` of a batch, on its device, and the bins read from it.

Private to :mod:`checkerscope.metrics`. The layout of the bins and everything done with
their values on the host live in :mod:`checkerscope.metrics._layout`; this module computes
those values from a full transform (any period, any device, differentiable), which is what
``period="auto"``, torch tensors and the device-side score in :mod:`checkerscope.functional`
use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics._layout import (
    _MEDIAN_SCALE,
    _NEIGHBOURS,
    _Bins,
    _energy_floor,
    _Layout,
    _layout,
    _precision_floor,
)


def _odd_even_merge_sort_network(size: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort as compare-exchange pairs, for a power-of-two size.

    Examples:
        >>> import random
        >>> values = [random.random() for _ in range(16)]
        >>> for low, high in _odd_even_merge_sort_network(16):
        ...     if values[low] > values[high]:
        ...         values[low], values[high] = values[high], values[low]
        >>> values == sorted(values)
        True
    """
    pairs = []
    span = 1
    while span < size:
        step = span
        while step >= 1:
            for start in range(step % span, size - step, 2 * step):
                for i in range(min(step, size - start - step)):
                    if (i + start) // (2 * span) == (i + start + step) // (2 * span):
                        pairs.append((i + start, i + start + step))
            step //= 2
        span *= 2
    return pairs


def _pruned(pairs: list[tuple[int, int]], outputs: set[int]) -> list[tuple[int, int]]:
    """Only the compare-exchanges that can change the wires in ``outputs``."""
    live, kept = set(outputs), []
    for low, high in reversed(pairs):
        if low in live or high in live:
            kept.append((low, high))
            live |= {low, high}
    return kept[::-1]


# The two middle order statistics of _NEIGHBOURS values (padded with +inf to 32 wires):
# a selection network of whole-tensor minimum/maximum is several times faster than
# torch.sort over many short rows, and gives the same values.
_NETWORK_WIDTH = 32
_MEDIAN_NETWORK = _pruned(
    _odd_even_merge_sort_network(_NETWORK_WIDTH), {_NEIGHBOURS // 2 - 1, _NEIGHBOURS // 2}
)
# Below this many rows the per-call overhead of the network outweighs torch.sort.
_NETWORK_FROM_ROWS = 8192


def _median_of_last_axis(values: torch.Tensor) -> torch.Tensor:
    """Median over the last axis of length ``_NEIGHBOURS`` (mean of the two middle values)."""
    middle = _NEIGHBOURS // 2
    if values[..., 0].numel() < _NETWORK_FROM_ROWS:
        ordered = values.sort(dim=-1).values
        return 0.5 * (ordered[..., middle - 1] + ordered[..., middle])
    wires = list(values.movedim(-1, 0).contiguous().unbind(0))
    padding = torch.full_like(wires[0], float("inf"))
    wires += [padding] * (_NETWORK_WIDTH - len(wires))
    for low, high in _MEDIAN_NETWORK:
        wires[low], wires[high] = (
            torch.minimum(wires[low], wires[high]),
            torch.maximum(wires[low], wires[high]),
        )
    return 0.5 * (wires[middle - 1] + wires[middle])


@dataclass(frozen=True)
class _DeviceLayout:
    """A :class:`_Layout`'s index and factor arrays as tensors on one device."""

    layout: _Layout
    rfft_index: torch.Tensor
    conjugate: torch.Tensor
    row: torch.Tensor
    col: torch.Tensor
    row_factor: torch.Tensor
    col_factor: torch.Tensor

    @property
    def n_harmonics(self) -> int:
        return self.layout.n_harmonics

    @property
    def harmonic_phase(self) -> tuple[tuple[int, int], ...]:
        return self.layout.harmonic_phase


@lru_cache(maxsize=512)
def _device_layout(height: int, width: int, period: tuple[int, int], device: str) -> _DeviceLayout:
    layout = _layout(height, width, period)
    return _DeviceLayout(
        layout,
        *(
            torch.from_numpy(array).to(device)
            for array in (
                layout.rfft_index,
                layout.conjugate,
                layout.row,
                layout.col,
                layout.row_factor,
                layout.col_factor,
            )
        ),
    )


# --------------------------------------------------------------------------- the score


@dataclass(frozen=True)
class _Spectrum:
    """The transforms one batch needs, shared by every period that divides its size."""

    values: torch.Tensor  # (N, C, H * (W // 2 + 1)) complex: rfft2, flattened
    row_jump: torch.Tensor  # (N, C, W) complex: FFT of last row minus first row
    col_jump: torch.Tensor  # (N, C, H) complex: FFT of last column minus first column
    precision_floor: torch.Tensor  # (N, C, 1): energy the FFT's rounding can fake
    height: int
    width: int


def _spectrum(x: torch.Tensor, check_finite: bool = True) -> _Spectrum:
    """Transforms of a batch ``(N, C, H, W)`` already cropped to a multiple of the period.

    The mean is not removed first: that would cost a pass over the batch, DC is never read,
    and the rounding error it spreads over other bins is covered by ``precision_floor``
    (which also makes constant images score exactly 0 dB). ``check_finite=False`` skips
    the NaN check, which copies a value to the host (for scores that stay on the device).
    """
    height, width = x.shape[-2:]
    values = torch.fft.rfft2(x).flatten(-2)
    # DC sums every sample: a NaN or an infinity anywhere shows there, for free
    finite = torch.isfinite(values[..., 0]).all(dim=-1) if check_finite else None
    if finite is not None and not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise CheckerscopeError(f"input contains NaN or infinite values (image index {bad})")
    row_jump = torch.fft.fft(x[..., -1, :] - x[..., 0, :])
    col_jump = torch.fft.fft(x[..., :, -1] - x[..., :, 0])
    eps = torch.finfo(x.dtype).eps
    precision_floor = _precision_floor(values[..., :1], eps, height, width)
    return _Spectrum(values, row_jump, col_jump, precision_floor, height, width)


@dataclass(frozen=True)
class _Energies:
    harmonic: torch.Tensor  # (N, C, n_harmonics) energy of each harmonic bin
    expected: torch.Tensor  # (N, C, n_harmonics) energy expected there
    floor: torch.Tensor  # (N, C, 1) floor per harmonic bin
    harmonic_bins: torch.Tensor  # (N, C, n_harmonics) complex values of the periodic part
    layout: _DeviceLayout
    values: torch.Tensor  # (N, C, M) complex values of every bin read, harmonics first


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]``; ``index_select`` on a 2-D view is much faster on CPU."""
    flat = values.reshape(-1, values.shape[-1]).index_select(1, index)
    return flat.reshape(*values.shape[:-1], index.shape[0])


def _periodic_values(
    spectrum: _Spectrum, period: tuple[int, int]
) -> tuple[torch.Tensor, _DeviceLayout]:
    """Complex values of the periodic component at every bin one period reads, ``(N, C, M)``."""
    layout = _device_layout(spectrum.height, spectrum.width, period, str(spectrum.values.device))
    values = _take(spectrum.values, layout.rfft_index)
    values = torch.where(layout.conjugate, values.conj(), values)
    # subtract Moisan's smooth component, only at the bins read
    complex_dtype = values.dtype
    smooth = _take(spectrum.row_jump, layout.col) * layout.row_factor.to(complex_dtype)
    smooth = smooth + _take(spectrum.col_jump, layout.row) * layout.col_factor.to(complex_dtype)
    return values - smooth, layout


def _floor(energy: torch.Tensor, spectrum: _Spectrum) -> torch.Tensor:
    """The floor added to every energy: degenerate inputs and FFT rounding, ``(N, C, 1)``."""
    return _energy_floor(energy.mean(dim=-1, keepdim=True), spectrum.precision_floor)


def _energies(
    spectrum: _Spectrum,
    period: tuple[int, int],
    gathered: tuple[torch.Tensor, _DeviceLayout] | None = None,
) -> _Energies:
    """Harmonic and expected energies of the periodic component for one period.

    ``gathered`` is what :func:`_periodic_values` returned for this period, if at hand.
    """
    values, layout = gathered if gathered is not None else _periodic_values(spectrum, period)
    energy = values.real.square() + values.imag.square()
    n_harm = layout.n_harmonics
    harmonic = energy[..., :n_harm]
    neighbours = energy[..., n_harm:].unflatten(-1, (n_harm, _NEIGHBOURS))
    expected = _median_of_last_axis(neighbours) / _MEDIAN_SCALE
    floor = _floor(energy, spectrum)
    return _Energies(harmonic, expected, floor, values[..., :n_harm], layout, values)


def _host_bins(
    spectrum: _Spectrum,
    period: tuple[int, int],
    gathered: tuple[torch.Tensor, _DeviceLayout] | None = None,
) -> _Bins:
    """The bins one period reads, copied to the host in double precision."""
    values, layout = gathered if gathered is not None else _periodic_values(spectrum, period)
    return _Bins(
        values.detach().to(torch.complex128).cpu().numpy(),
        spectrum.precision_floor.detach().double().cpu().numpy(),
        layout.layout,
        spectrum.height,
        spectrum.width,
    )
