"""The bins the score reads, computed directly from their DFT sums (NumPy only).

A period-2 score reads 75 bins of a spectrum with ``H * (W // 2 + 1)`` of them. Their
values are DFT sums that can be taken directly, and for the few bins of a small period that
costs less than a whole ``rfft2``, without torch:

* a bin on the column axis, ``(q, 0)``, is a 1-D DFT of the row sums;
* every other bin ``(q, r)`` is ``sum_x B[q, x] exp(-2 pi i r x / W)`` with
  ``B = exp(-2 pi i q y / H) @ x``, the DFT along the height at the few distinct rows ``q``
  read (one real matrix product over the whole image), then a small product along the
  width. A real image has ``X(-q, -r) = conj X(q, r)``, so of rows ``q`` and ``-q`` only
  one is transformed, and rows 0 and ``H / 2`` have real factors (half the work).

The cost is about ``2 H W K`` for ``K`` real rows (6 at period 2), against about
``2.5 H W log2(H W)`` for the ``rfft2``; :func:`_direct_is_cheaper` says which. The values
equal those of
:func:`checkerscope.metrics._spectral._host_bins` to rounding (the tests check both, and
the score of both paths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics._layout import _Bins, _Layout, _layout, _precision_floor

# The direct sums are used when they cost less than this fraction of an rfft2's flops
# (matrix products run several times faster per flop than an FFT on one core).
_DIRECT_BELOW = 1.7


@dataclass(frozen=True)
class _Plan:
    """Factors and indices that turn one batch into the bins of one layout."""

    layout: _Layout
    row_factors: np.ndarray  # (K, H) real: cos of each row transformed, then -sin of some
    rows: int  # how many rows are transformed (the cos part of row_factors)
    sine_of: np.ndarray  # which of them have a -sin part (not 0 or H / 2)
    column_factors: np.ndarray  # (W, R) complex: the distinct columns read
    from_rows: np.ndarray  # the bins taken from transformed rows
    bin_row: np.ndarray  # per such bin, its transformed row
    bin_column: np.ndarray  # per such bin, its column among column_factors
    bin_conjugate: np.ndarray  # per such bin, whether it is the mirror of the one computed
    on_cols: np.ndarray  # bins (q, 0), q != 0: a DFT of the row sums
    on_cols_factors: np.ndarray  # (H, len(on_cols)) complex
    jump_col_factors: np.ndarray  # (W, distinct columns) complex: DFT of the row jump
    jump_col_of: np.ndarray  # per bin, its column among those
    jump_row_factors: np.ndarray  # (H, distinct rows) complex: DFT of the column jump
    jump_row_of: np.ndarray  # per bin, its row among those
    ones: np.ndarray  # (W,) for the row sums


def _twiddle(length: int, frequencies: np.ndarray) -> np.ndarray:
    """``exp(-2 pi i n k / length)`` for samples ``n`` (rows) and frequencies ``k``."""
    # the product is reduced modulo length first: exact phases for any size
    phase = np.outer(np.arange(length), frequencies) % length
    return np.exp(-2j * np.pi * phase / length)


@lru_cache(maxsize=64)
def _plan(height: int, width: int, period: tuple[int, int], dtype: str) -> _Plan:
    layout = _layout(height, width, period)
    rows, cols = layout.row, layout.col
    on_cols = np.flatnonzero((cols == 0) & (rows != 0))
    from_rows = np.flatnonzero(cols != 0)
    # X(q, r) = conj X(-q, -r): transform the smaller of q and -q only
    mirrored = (-rows[from_rows]) % height
    conjugate = mirrored < rows[from_rows]
    canonical_rows = np.where(conjugate, mirrored, rows[from_rows])
    canonical_cols = np.where(conjugate, (-cols[from_rows]) % width, cols[from_rows])
    distinct_rows, bin_row = np.unique(canonical_rows, return_inverse=True)
    distinct_cols, bin_column = np.unique(canonical_cols, return_inverse=True)
    factors = _twiddle(height, distinct_rows).T  # (Q, H)
    sine_of = np.flatnonzero((distinct_rows != 0) & (2 * distinct_rows != height))
    jump_cols, jump_col_of = np.unique(cols, return_inverse=True)
    jump_rows, jump_row_of = np.unique(rows, return_inverse=True)
    real = np.dtype(dtype)
    complex_ = np.result_type(real, np.complex64)
    return _Plan(
        layout=layout,
        row_factors=np.concatenate([factors.real, factors[sine_of].imag]).astype(real),
        rows=len(distinct_rows),
        sine_of=sine_of,
        column_factors=_twiddle(width, distinct_cols).astype(complex_),
        from_rows=from_rows,
        bin_row=bin_row.reshape(-1),
        bin_column=bin_column.reshape(-1),
        bin_conjugate=conjugate,
        on_cols=on_cols,
        on_cols_factors=_twiddle(height, rows[on_cols]).astype(complex_),
        jump_col_factors=_twiddle(width, jump_cols).astype(complex_),
        jump_col_of=jump_col_of.reshape(-1),
        jump_row_factors=_twiddle(height, jump_rows).astype(complex_),
        jump_row_of=jump_row_of.reshape(-1),
        ones=np.ones(width, dtype=real),
    )


def _direct_is_cheaper(height: int, width: int, period: tuple[int, int]) -> bool:
    """Whether direct sums cost less than an ``rfft2`` for this size and period."""
    real_rows = _plan(height, width, period, "<f4").row_factors.shape[0]
    direct = 2.0 * height * width * real_rows
    fft = 2.5 * height * width * math.log2(max(height * width, 2))
    return direct < _DIRECT_BELOW * fft


# Images are transformed a few at a time, so that the float copy of a group stays in the
# cache between the passes over it.
_GROUP_VALUES = 1 << 20


def _direct_bins(batch: np.ndarray, period: tuple[int, int]) -> _Bins:
    """The bins one period reads of a batch ``(N, C, H, W)`` already cropped to a multiple
    of the period: floats, or integers that float32 holds exactly (converted on the way)."""
    group = max(1, _GROUP_VALUES // max(1, batch[0].size))
    if len(batch) <= group:
        return _direct_group(batch, period)
    parts = [
        _direct_group(batch[i : i + group], period, first=i) for i in range(0, len(batch), group)
    ]
    return _Bins(
        np.concatenate([part.values for part in parts]),
        np.concatenate([part.precision_floor for part in parts]),
        parts[0].layout,
        parts[0].height,
        parts[0].width,
    )


def _direct_group(batch: np.ndarray, period: tuple[int, int], first: int = 0) -> _Bins:
    n, c, height, width = batch.shape
    compute = np.dtype(np.float64 if batch.dtype == np.float64 else np.float32)
    plan = _plan(height, width, period, compute.str)
    layout = plan.layout
    floats = batch.astype(compute, order="C")  # a copy: the mean is taken out in place
    total = floats.reshape(n, c, -1).sum(-1).astype(np.float64)
    if not np.isfinite(total).all():
        bad = (first + np.flatnonzero(~np.isfinite(total).all(-1))).tolist()
        raise CheckerscopeError(f"input contains NaN or infinite values (image index {bad})")
    # without the mean the sums round far less (DC is never read): direct sums, unlike an
    # FFT, spread the rounding of each term's share of DC over every bin
    floats -= (total / (height * width)).astype(compute)[..., None, None]
    batch = floats
    row_sums = batch @ plan.ones  # (N, C, H)
    products = plan.row_factors @ batch  # (N, C, K, W)
    by_row = products[..., : plan.rows, :].astype(plan.column_factors.dtype)
    by_row[..., plan.sine_of, :] += 1j * products[..., plan.rows :, :]
    by_column = by_row @ plan.column_factors  # (N, C, Q, R)
    from_rows = by_column[..., plan.bin_row, plan.bin_column]
    values = np.empty((n, c, len(layout.row)), dtype=plan.column_factors.dtype)
    values[..., plan.from_rows] = np.where(plan.bin_conjugate, from_rows.conj(), from_rows)
    values[..., plan.on_cols] = row_sums @ plan.on_cols_factors
    # subtract Moisan's smooth component, only at the bins read
    row_jump = ((batch[..., -1, :] - batch[..., 0, :]) @ plan.jump_col_factors)[
        ..., plan.jump_col_of
    ]
    col_jump = ((batch[..., :, -1] - batch[..., :, 0]) @ plan.jump_row_factors)[
        ..., plan.jump_row_of
    ]
    values = values - row_jump * layout.row_factor - col_jump * layout.col_factor
    eps = float(np.finfo(batch.dtype).eps)
    floor = _precision_floor(total[..., None], eps, height, width)
    return _Bins(values.astype(np.complex128), floor, layout, height, width)
