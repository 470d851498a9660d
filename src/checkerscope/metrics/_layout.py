"""Where the score looks: the bins one period reads, and what is done with their values.

Everything here is private to :mod:`checkerscope.metrics` and needs NumPy only: the bin
layout of a period, and the host side of the score, which works on the few complex values
per image and channel that the score reads (:class:`_Bins`), whichever way they were
computed (an ``rfft2`` in torch, :mod:`checkerscope.metrics._spectral`, or a direct DFT at
those bins, :mod:`checkerscope.metrics._direct`). The harmonic bins of a period
``(p_h, p_w)`` are the multiples of ``(H / p_h, W / p_w)`` other than DC; each is compared
with ``_NEIGHBOURS`` bins of the same kind around it (along the axis for a bin on a
frequency axis, the nearest off-axis bins otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, TypeVar

import numpy as np

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics.null import median_weights

# Neighbour bins per harmonic bin used to estimate the energy expected there.
_NEIGHBOURS = 24
# Off-axis neighbours are taken from a square of this half-width around the harmonic.
_OFF_AXIS_RADIUS = 4
# Degenerate inputs (constant images, perfect synthetic grids): floor added to both sums,
# relative to the mean energy of one bin.
_RELATIVE_FLOOR = 1e-10
_ABSOLUTE_FLOOR = 1e-30
# Rounding of the FFT spreads about eps * log2(size) * |DC| over the other bins: the floor
# covers it with this margin, so constant images score 0 dB in any float dtype.
_PRECISION_MARGIN = 64.0


# Expected median of _NEIGHBOURS unit-mean exponentials (the energy of one DFT bin of a
# locally stationary signal is exponential): turns a neighbour median into an unbiased
# estimate of the mean energy.
_MEDIAN_SCALE = sum(median_weights(_NEIGHBOURS))


def _parse_period(period: int | Sequence[int], dims: int) -> tuple[int, int]:
    """Return the period as ``(p_h, p_w)``; 1-D signals get ``p_h == 1``."""
    if isinstance(period, (int, np.integer)) and not isinstance(period, bool):
        per_axis: tuple[int, ...] = (int(period),) * dims
    elif isinstance(period, Sequence) and not isinstance(period, str):
        per_axis = tuple(period)
        if len(per_axis) != dims or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in per_axis
        ):
            raise CheckerscopeError(
                f"period must be an int, {dims} ints (one per axis) or 'auto', got {period!r}"
            )
        per_axis = tuple(int(p) for p in per_axis)
    else:
        raise CheckerscopeError(f"period must be an int, a tuple or 'auto', got {period!r}")
    if any(p < 1 for p in per_axis) or all(p == 1 for p in per_axis):
        raise CheckerscopeError(f"period must be >= 2 on at least one axis, got {period!r}")
    return (1, per_axis[0]) if dims == 1 else (per_axis[0], per_axis[1])


# --------------------------------------------------------------------------- bin layout


@dataclass(frozen=True)
class _Layout:
    """Which rfft2 bins a score reads, and the factors of the smooth-component correction.

    ``bins`` lists the harmonic bins first (``n_harmonics``), then ``_NEIGHBOURS`` bins
    per harmonic. For every bin of the full spectrum ``(q, r)`` it stores the flat index
    into the ``rfft2`` output, whether to conjugate, and the terms of Moisan's smooth
    component ``S(q, r) = (A(r) (1 - w_q) + B(q) (1 - w_r)) / D(q, r)``.
    """

    n_harmonics: int
    rfft_index: np.ndarray  # (M,) int64
    conjugate: np.ndarray  # (M,) bool
    row: np.ndarray  # (M,) int64, q
    col: np.ndarray  # (M,) int64, r
    row_factor: np.ndarray  # (M,) complex, (1 - exp(2 pi i q / H)) / D
    col_factor: np.ndarray  # (M,) complex, (1 - exp(2 pi i r / W)) / D
    harmonic_phase: tuple[tuple[int, int], ...]  # (a, b) of each harmonic bin


def _neighbours_of(
    q: int, r: int, height: int, width: int, is_harmonic: Callable[[int, int], bool]
) -> list[tuple[int, int]]:
    """The ``_NEIGHBOURS`` nearest usable bins of the same kind as harmonic bin ``(q, r)``."""
    candidates: list[tuple[float, int, int]] = []
    if q == 0 or r == 0:
        # on an axis: walk along it (the axis is the only one when height or width is 1)
        length = width if q == 0 else height
        for step in range(1, length):
            for sign in (1, -1):
                k = ((r if q == 0 else q) + sign * step) % length
                bin_ = (0, k) if q == 0 else (k, 0)
                if k != 0 and not is_harmonic(*bin_):
                    candidates.append((step, *bin_))
            if len(candidates) >= _NEIGHBOURS:
                break
    else:
        radius = _OFF_AXIS_RADIUS
        while True:
            candidates = []
            for dq in range(-radius, radius + 1):
                for dr in range(-radius, radius + 1):
                    qq, rr = (q + dq) % height, (r + dr) % width
                    if qq == 0 or rr == 0 or (dq, dr) == (0, 0) or is_harmonic(qq, rr):
                        continue
                    candidates.append((math.hypot(dq, dr), qq, rr))
            if len(candidates) >= _NEIGHBOURS or radius >= max(height, width):
                break
            radius *= 2
        # the same bin can be reached twice when the square wraps around a small image
        candidates = sorted(set(candidates))
    candidates.sort()
    chosen = [(qq, rr) for _, qq, rr in candidates[:_NEIGHBOURS]]
    if not chosen:
        return []
    # tiny images: repeat what there is, so that every harmonic has the same count
    return [chosen[i % len(chosen)] for i in range(_NEIGHBOURS)]


def _nearest_usable(
    rows: np.ndarray, cols: np.ndarray, usable: np.ndarray, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per harmonic (row of the candidate arrays), the ``_NEIGHBOURS`` nearest usable bins.

    Candidates are ordered by ``distance`` already; returns ``None`` when some harmonic has
    fewer usable distinct candidates than needed.
    """
    # drop repeats of one bin (the candidate square wraps around in small spectra)
    flat = rows * (cols.max() + 1) + cols
    order = np.argsort(flat, axis=1, kind="stable")
    sorted_flat = np.take_along_axis(flat, order, axis=1)
    repeat = np.zeros_like(usable)
    np.put_along_axis(repeat, order[:, 1:], sorted_flat[:, 1:] == sorted_flat[:, :-1], axis=1)
    usable = usable & ~repeat
    if (usable.sum(axis=1) < _NEIGHBOURS).any():
        return None
    key = np.where(usable, distance, np.inf)
    pick = np.argsort(key, axis=1, kind="stable")[:, :_NEIGHBOURS]
    return np.take_along_axis(rows, pick, axis=1), np.take_along_axis(cols, pick, axis=1)


@lru_cache(maxsize=512)
def _layout(height: int, width: int, period: tuple[int, int]) -> _Layout:
    period_h, period_w = period
    step_h, step_w = height // period_h, width // period_w

    def is_harmonic(q: Any, r: Any) -> Any:
        return (q % step_h == 0) & (r % step_w == 0)

    harmonics = [(a, b) for a in range(period_h) for b in range(period_w) if (a, b) != (0, 0)]
    harmonic_bins = np.array([(a * step_h, b * step_w) for a, b in harmonics], dtype=np.int64)
    neighbour_rows = np.zeros((len(harmonics), _NEIGHBOURS), dtype=np.int64)
    neighbour_cols = np.zeros_like(neighbour_rows)
    on_axis = (harmonic_bins[:, 0] == 0) | (harmonic_bins[:, 1] == 0)
    for axis_kind in (True, False):
        which = np.flatnonzero(on_axis == axis_kind)
        if not len(which):
            continue
        q0, r0 = harmonic_bins[which, :1], harmonic_bins[which, 1:]
        if axis_kind:
            # along the axis the harmonic lies on (the only axis when height or width is 1)
            length = np.where(q0 == 0, width, height)
            steps = np.arange(1, max(height, width))
            offsets = np.stack([steps, -steps], axis=1).reshape(-1)[None, :]
            along_rows = q0 == 0
            rows = np.where(along_rows, 0, (q0 + offsets) % height)
            cols = np.where(along_rows, (r0 + offsets) % width, 0)
            distance = np.broadcast_to(np.abs(offsets).astype(float), rows.shape)
            usable = (np.abs(offsets) < length) & ((rows != 0) | (cols != 0))
        else:
            span = np.arange(-_OFF_AXIS_RADIUS, _OFF_AXIS_RADIUS + 1)
            dq, dr = (d.reshape(1, -1) for d in np.meshgrid(span, span, indexing="ij"))
            rows, cols = (q0 + dq) % height, (r0 + dr) % width
            distance = np.broadcast_to(np.hypot(dq, dr), rows.shape)
            usable = (rows != 0) & (cols != 0) & ((dq != 0) | (dr != 0))
        usable = usable & ~is_harmonic(rows, cols)
        picked = _nearest_usable(rows, cols, usable, distance)
        if picked is not None:
            neighbour_rows[which], neighbour_cols[which] = picked
            continue
        for index in which:  # small spectra: search wider, repeat what there is
            chosen = _neighbours_of(
                int(harmonic_bins[index, 0]),
                int(harmonic_bins[index, 1]),
                height,
                width,
                lambda q, r: bool(is_harmonic(q, r)),
            )
            if not chosen:
                raise CheckerscopeError(
                    f"image of size {height}x{width} is too small for period {period_h}x{period_w}"
                )
            neighbour_rows[index] = [q for q, _ in chosen]
            neighbour_cols[index] = [r for _, r in chosen]
    rows = np.concatenate([harmonic_bins[:, 0], neighbour_rows.reshape(-1)])
    cols = np.concatenate([harmonic_bins[:, 1], neighbour_cols.reshape(-1)])
    half = width // 2 + 1
    conjugate = cols >= half
    rfft_rows = np.where(conjugate, (-rows) % height, rows)
    rfft_cols = np.where(conjugate, (-cols) % width, cols)
    w_q = np.exp(2j * np.pi * rows / height)
    w_r = np.exp(2j * np.pi * cols / width)
    laplacian = 2 * np.cos(2 * np.pi * rows / height) + 2 * np.cos(2 * np.pi * cols / width) - 4
    # DC is never read, so the laplacian is never zero here
    row_factor = (1 - w_q) / laplacian
    col_factor = (1 - w_r) / laplacian
    return _Layout(
        n_harmonics=len(harmonics),
        rfft_index=rfft_rows * half + rfft_cols,
        conjugate=conjugate,
        row=rows,
        col=cols,
        row_factor=row_factor,
        col_factor=col_factor,
        harmonic_phase=tuple(harmonics),
    )


# --------------------------------------------------------------------------- host side


Cropped = TypeVar("Cropped")


def _cropped(batch: Cropped, period: tuple[int, int], dims: int) -> Cropped:
    """Crop an array or tensor ``(..., H, W)`` to a multiple of the period, keeping the
    top-left origin."""
    height, width = batch.shape[-2:]  # type: ignore[attr-defined]
    for size, p, axis in ((height, period[0], "height"), (width, period[1], "width")):
        if p > 1 and size < 2 * p:
            what = "length" if dims == 1 else axis
            raise CheckerscopeError(
                f"{what} {size} is too small for period {p}: need at least {2 * p} samples"
            )
    return batch[..., : height - height % period[0], : width - width % period[1]]  # type: ignore[index]


Values = TypeVar("Values")


def _precision_floor(dc: Values, eps: float, height: int, width: int) -> Values:
    """Energy per bin that rounding in a transform of ``eps`` precision can fake, from the
    DC bin (an array or a tensor).

    Rounding spreads about ``eps * log2(size) * |DC| / sqrt(size)`` over each bin; the
    margin covers it, so that constant images score exactly 0 dB in any float dtype.
    """
    magnitude: Any = abs(dc)  # type: ignore[arg-type]
    return (_PRECISION_MARGIN * eps * magnitude) ** 2 / (height * width)  # type: ignore[no-any-return]


def _energy_floor(mean_energy: Values, precision_floor: Values) -> Values:
    """The floor added to every energy (arrays or tensors): a tiny share of the mean energy
    of a bin (constant images, perfect synthetic grids) plus what rounding can fake."""
    scaled: Any = mean_energy
    return _RELATIVE_FLOOR * scaled + precision_floor + _ABSOLUTE_FLOOR  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Bins:
    """What the score reads of one batch at one period, on the host.

    ``values`` are the complex values of the periodic component (Moisan's smooth component
    subtracted) at the layout's bins, harmonics first, ``(N, C, M)``; ``precision_floor`` is
    the energy per bin the transform's rounding can fake, ``(N, C, 1)``.
    """

    values: np.ndarray
    precision_floor: np.ndarray
    layout: _Layout
    height: int
    width: int

    @cached_property
    def energy(self) -> np.ndarray:
        """Energy of every bin read, ``(N, C, M)`` (the dB and the estimate both read it)."""
        return self.values.real**2 + self.values.imag**2

    @cached_property
    def floor(self) -> np.ndarray:
        """The floor added to every energy: degenerate inputs and rounding, ``(N, C, 1)``."""
        return _energy_floor(self.energy.mean(axis=-1, keepdims=True), self.precision_floor)


def _median_of_neighbours(values: np.ndarray) -> np.ndarray:
    """Median over the last axis of length ``_NEIGHBOURS`` (mean of the two middle values)."""
    middle = _NEIGHBOURS // 2
    ordered = np.partition(values, (middle - 1, middle), axis=-1)
    return 0.5 * (ordered[..., middle - 1] + ordered[..., middle])


def _pattern(
    bins: np.ndarray, layout: _Layout, height: int, width: int, period: tuple[int, int]
) -> np.ndarray:
    """One period of the pattern whose DFT holds ``bins`` at the harmonics, ``(..., p_h, p_w)``.

    ``X(a H / p_h, b W / p_w) = (H W / (p_h p_w)) * DFT(polyphase mean)(a, b)``, so the
    pattern is a small inverse DFT of the harmonic bins (DC left at zero).
    """
    period_h, period_w = period
    grid = np.zeros((*bins.shape[:-1], period_h * period_w), dtype=np.complex128)
    grid[..., [a * period_w + b for a, b in layout.harmonic_phase]] = bins
    grid = grid.reshape(*bins.shape[:-1], period_h, period_w)
    scale = (period_h * period_w) / (height * width)
    return np.fft.ifft2(grid * scale).real
