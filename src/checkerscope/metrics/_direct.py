"""The bins the score reads, computed directly from their DFT sums (NumPy only).

A period-2 score reads 75 bins of a spectrum with ``H * (W // 2 + 1)`` of them. Their
values are DFT sums that can be taken directly, and for the few bins of a small period that
costs less than a whole ``rfft2``, without torch:

* a bin on the row axis, ``(0, r)``, is a 1-D DFT of the column sums, and one on the column
  axis, ``(q, 0)``, a 1-D DFT of the row sums;
* every other bin ``(q, r)`` is ``sum_y exp(-2 pi i q y / H) A[y, r]`` with
  ``A = x @ exp(-2 pi i x r / W)`` taken for the distinct columns ``r`` read (one real
  matrix product), then a small product for the distinct rows ``q``.

The cost is about ``4 H W R`` for ``R`` distinct off-axis columns (9 at period 2), against
about ``2.5 H W log2(H W)`` for the ``rfft2``; :func:`_direct_is_cheaper` says which. The
values equal those of :func:`checkerscope.metrics._spectral._host_bins` to rounding (the
tests check both, and the score of both paths).
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
    """Twiddle factors and indices that turn one ``(N, C, H, W)`` batch into its bins."""

    layout: _Layout
    on_rows: np.ndarray  # bins (0, r): positions in the layout
    on_rows_twiddle: np.ndarray  # (W, len(on_rows)) complex
    on_cols: np.ndarray  # bins (q, 0)
    on_cols_twiddle: np.ndarray  # (H, len(on_cols)) complex
    off_axis: np.ndarray  # the other bins
    column_twiddle: np.ndarray  # (W, 2 R) real: cos and -sin of the distinct columns and 0
    row_twiddle: np.ndarray  # (Q, H) complex: the distinct rows
    off_row: np.ndarray  # per off-axis bin, its row among the distinct rows
    off_col: np.ndarray  # per off-axis bin, its column among the distinct columns
    jump_col_twiddle: np.ndarray  # (W, M) complex: DFT of the row jump at every bin's column
    jump_row_twiddle: np.ndarray  # (H, M) complex: DFT of the column jump at every bin's row


def _twiddle(length: int, frequencies: np.ndarray) -> np.ndarray:
    """``exp(-2 pi i n k / length)`` for samples ``n`` (rows) and frequencies ``k``."""
    # the product is reduced modulo length first: exact phases for any size
    phase = np.outer(np.arange(length), frequencies) % length
    return np.exp(-2j * np.pi * phase / length)


@lru_cache(maxsize=64)
def _plan(height: int, width: int, period: tuple[int, int], dtype: str) -> _Plan:
    layout = _layout(height, width, period)
    rows, cols = layout.row, layout.col
    on_rows = np.flatnonzero(rows == 0)
    on_cols = np.flatnonzero((cols == 0) & (rows != 0))
    off_axis = np.flatnonzero((rows != 0) & (cols != 0))
    distinct_rows, off_row = np.unique(rows[off_axis], return_inverse=True)
    # column 0 first: its twiddle is all ones, so the product also yields the row sums
    distinct_cols, off_col = np.unique(np.concatenate([[0], cols[off_axis]]), return_inverse=True)
    off_col = off_col[1:]
    column = _twiddle(width, distinct_cols)
    real = np.dtype(dtype)
    complex_ = np.result_type(real, np.complex64)
    return _Plan(
        layout=layout,
        on_rows=on_rows,
        on_rows_twiddle=_twiddle(width, cols[on_rows]).astype(complex_),
        on_cols=on_cols,
        on_cols_twiddle=_twiddle(height, rows[on_cols]).astype(complex_),
        off_axis=off_axis,
        column_twiddle=np.concatenate([column.real, column.imag], axis=1).astype(real),
        row_twiddle=_twiddle(height, distinct_rows).T.astype(complex_),
        off_row=off_row.reshape(-1),
        off_col=off_col.reshape(-1),
        jump_col_twiddle=_twiddle(width, cols).astype(complex_),
        jump_row_twiddle=_twiddle(height, rows).astype(complex_),
    )


def _direct_is_cheaper(height: int, width: int, period: tuple[int, int]) -> bool:
    """Whether direct sums cost less than an ``rfft2`` for this size and period."""
    layout = _layout(height, width, period)
    off_axis = (layout.row != 0) & (layout.col != 0)
    distinct_cols = len(np.unique(layout.col[off_axis])) + 1
    direct = 4.0 * height * width * distinct_cols
    fft = 2.5 * height * width * math.log2(max(height * width, 2))
    return direct < _DIRECT_BELOW * fft


def _direct_bins(batch: np.ndarray, period: tuple[int, int]) -> _Bins:
    """The bins one period reads of a float batch ``(N, C, H, W)`` already cropped to a
    multiple of the period (see the module docstring)."""
    n, c, height, width = batch.shape
    plan = _plan(height, width, period, batch.dtype.str)
    layout = plan.layout
    column_sums = batch.sum(-2)
    total = column_sums.sum(-1, dtype=np.float64)
    if not np.isfinite(total).all():
        bad = np.flatnonzero(~np.isfinite(total).all(-1)).tolist()
        raise CheckerscopeError(f"input contains NaN or infinite values (image index {bad})")
    # without the mean the sums round far less (DC is never read): direct sums, unlike an
    # FFT, spread the rounding of each term's share of DC over every bin
    mean = (total / (height * width)).astype(batch.dtype)
    batch = batch - mean[..., None, None]
    values = np.empty((n, c, len(layout.row)), dtype=plan.on_rows_twiddle.dtype)
    column_sums -= height * mean[..., None]
    values[..., plan.on_rows] = column_sums @ plan.on_rows_twiddle
    products = batch @ plan.column_twiddle  # (N, C, H, 2 R); column 0 holds the row sums
    values[..., plan.on_cols] = products[..., 0] @ plan.on_cols_twiddle
    if len(plan.off_axis):
        distinct = plan.column_twiddle.shape[1] // 2
        by_column = products[..., :distinct] + 1j * products[..., distinct:]
        by_row = plan.row_twiddle @ by_column  # (N, C, Q, R)
        values[..., plan.off_axis] = by_row[..., plan.off_row, plan.off_col]
    # subtract Moisan's smooth component, only at the bins read
    row_jump = (batch[..., -1, :] - batch[..., 0, :]) @ plan.jump_col_twiddle
    col_jump = (batch[..., :, -1] - batch[..., :, 0]) @ plan.jump_row_twiddle
    values = values - row_jump * layout.row_factor - col_jump * layout.col_factor
    eps = float(np.finfo(batch.dtype).eps)
    floor = _precision_floor(total[..., None], eps, height, width)
    return _Bins(values.astype(np.complex128), floor, layout, height, width)
