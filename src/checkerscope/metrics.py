"""Measurement: how strong is the grid in an image, a batch, a gradient map or a signal.

A stride-``p`` upsampling stage leaves a component that repeats every ``p`` samples. For a
signal cropped to a multiple of ``p`` (top-left origin kept, since artifacts are aligned to
the output grid) that component lives exactly in the DFT bins at multiples of
``(H/p, W/p)`` other than DC: the *harmonic bins*. The score compares the energy found there
with the energy a grid-free image would put there, estimated from neighbouring bins:

``db = 10 * log10(sum of harmonic-bin energy / sum of expected energy)``

Three details make that number trustworthy:

* **The wrap-around edge.** The DFT treats the image as tiled; the jump between the last and
  the first row/column puts a bright cross on the frequency axes, which hold the Nyquist
  bins ``(0, W/2)`` and ``(H/2, 0)``. The spectrum is therefore taken of the periodic
  component of Moisan's periodic-plus-smooth decomposition (J. Math. Imaging Vis., 2011).
  Its smooth component depends only on the border differences, so it is computed with 1-D
  FFTs of the two border strips and subtracted at the few bins the score reads; the cost
  stays one ``rfft2`` of the image.
* **Neighbourhoods of the same kind.** Natural images put more energy on the frequency axes
  (horizontal and vertical structure) than off them. A harmonic bin on an axis is compared
  with its neighbours along that axis; one off the axes with the nearest off-axis bins.
  Other harmonic bins and DC are never neighbours.
* **A robust, calibrated estimate.** The expected energy of a bin is the median of its
  neighbours' energies divided by the median of a chi-square (2 degrees of freedom)
  variable of mean one, for the exact neighbour count. A few strong edges near a harmonic
  do not inflate it, and a grid-free image with a locally flat spectrum scores 0 dB on
  average.

Per channel the energies are summed over harmonic bins (``channel_db``); the image score
pools the sums over channels (``db``). Without a grid the ratio has mean 1; its median sits
a little below 0 dB when few bins are pooled (-1 dB for one channel at period 2). A grid is
coherent, so for a given amplitude its score grows with the pixel count (about +3 dB per
doubling of the area): the score measures how clearly the grid stands out in that image.
Negative scores mean the harmonic bins hold less than their neighbours, as in images
resampled by a filter with a zero at Nyquist. Constant images score exactly 0 dB: a tiny floor,
``1e-10`` of the mean energy per bin, is added to both sums, which also keeps a perfect
synthetic grid finite (about 100 dB or more). The score is invariant to ``a * x + b``
(``a > 0``) and, since the polyphase mean of the signal is the inverse transform of the
harmonic bins, ``fingerprint`` shows what the grid looks like.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(3, 128, 128))
    >>> grid = np.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> with_grid = noise + 0.5 * np.tile(grid, (64, 64))
    >>> s = checkerboard_score(np.stack([noise, with_grid]))
    >>> s.db > 20
    array([False,  True])
    >>> s.fingerprint[1].round(1)
    array([[ 0.5, -0.5],
           [-0.5,  0.5]])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from checkerscope.errors import CheckerscopeError

__all__ = [
    "AUTO_PERIODS",
    "CheckerboardScore",
    "GradientProbe",
    "InitProbe",
    "checkerboard_score",
    "probe_gradients",
    "probe_init",
]

#: Candidate periods tried by ``period="auto"``.
AUTO_PERIODS: tuple[int, ...] = (2, 4, 8, 16)

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
# Per-bin energy ratio above which a bin counts no more for period="auto" (40 dB).
_MAX_EVIDENCE_RATIO = 1e4


def _median_of_exponentials(count: int) -> float:
    """Expected sample median of ``count`` unit-mean exponential variables.

    The energy of one DFT bin of a locally stationary signal is exponentially distributed
    (chi-square with 2 degrees of freedom), so this converts a neighbour median into an
    unbiased estimate of the mean energy. Order statistics of exponentials have the closed
    form ``E[X_(j)] = sum_{i < j} 1 / (count - i)``.

    Examples:
        >>> round(_median_of_exponentials(1), 3), round(_median_of_exponentials(2001), 3)
        (1.0, 0.693)
    """

    def order_statistic(j: int) -> float:
        return sum(1.0 / (count - i) for i in range(j))

    if count % 2:
        return order_statistic(count // 2 + 1)
    return 0.5 * (order_statistic(count // 2) + order_statistic(count // 2 + 1))


_MEDIAN_SCALE = _median_of_exponentials(_NEIGHBOURS)


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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, repr=False)
class CheckerboardScore:
    """The checkerboard score of one image or a batch (see :func:`checkerboard_score`).

    Attributes:
        db: Score per image in dB, shape ``(N,)``; about 0 for grid-free natural images.
        channel_db: Score per image and channel in dB, shape ``(N, C)``.
        fingerprint: Zero-mean polyphase mean pattern per image, averaged over channels,
            shape ``(N, p_h, p_w)`` (``(N, p)`` for 1-D signals): what one period of the
            grid looks like, in the units of the input.
        channel_fingerprint: The same per channel, shape ``(N, C, p_h, p_w)``.
        period: The period used, one entry per axis (``(p_h, p_w)`` or ``(p,)``).
        evidence: For ``period="auto"``, the strength of the grid (a z-score of the
            harmonic energy) for each candidate period; empty otherwise.
        shape: The shape scored after cropping to a multiple of the period, ``(H, W)``
            or ``(T,)``.

    ``float(score)`` works for a single image; ``len(score)`` is the batch size.
    """

    db: np.ndarray
    channel_db: np.ndarray
    fingerprint: np.ndarray
    channel_fingerprint: np.ndarray
    period: tuple[int, ...]
    evidence: dict[int, float] = field(default_factory=dict)
    shape: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.db.shape[0])

    def __float__(self) -> float:
        if self.db.shape[0] != 1:
            raise CheckerscopeError(
                f"float() needs a single image, this score holds {self.db.shape[0]}; "
                "use .db for the per-image values"
            )
        return float(self.db[0])

    @property
    def mean_db(self) -> float:
        """Mean of the per-image scores in dB."""
        return float(np.mean(self.db))

    @property
    def median_db(self) -> float:
        """Median of the per-image scores in dB."""
        return float(np.median(self.db))

    def __repr__(self) -> str:
        period = "x".join(str(p) for p in self.period)
        if len(self) == 1:
            values = f"db={self.db[0]:.2f}"
        else:
            values = (
                f"n={len(self)}, median_db={self.median_db:.2f}, "
                f"min={self.db.min():.2f}, max={self.db.max():.2f}"
            )
        auto = " (auto)" if self.evidence else ""
        return f"CheckerboardScore({values}, period={period}{auto})"


# --------------------------------------------------------------------------- input handling


def _to_batch(x: Any, dims: int) -> torch.Tensor:
    """Return ``x`` as a float tensor ``(N, C, H, W)``; 1-D signals get ``H == 1``."""
    if dims not in (1, 2):
        raise CheckerscopeError(f"dims must be 1 or 2, got {dims!r}")
    if isinstance(x, torch.Tensor):
        tensor = x.detach()
    else:
        try:
            array = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise CheckerscopeError(f"cannot read {type(x).__name__} as an array: {exc}") from exc
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        ):
            raise CheckerscopeError(f"expected a numeric array, got dtype {array.dtype}")
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        if array.dtype in (np.uint16, np.uint32, np.uint64):
            array = array.astype(np.float64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.is_complex():
        raise CheckerscopeError(f"expected a real array, got dtype {tensor.dtype}")
    if tensor.dtype != torch.float64:
        tensor = tensor.to(torch.float32)
    original_shape = tuple(tensor.shape)
    if dims == 2:
        names = "(H, W), (C, H, W) or (N, C, H, W)"
        if tensor.ndim not in (2, 3, 4):
            raise CheckerscopeError(f"expected {names}, got shape {tuple(tensor.shape)}")
        while tensor.ndim < 4:
            tensor = tensor.unsqueeze(0)
    else:
        names = "(T,), (C, T) or (N, C, T) with dims=1"
        if tensor.ndim not in (1, 2, 3):
            raise CheckerscopeError(f"expected {names}, got shape {tuple(tensor.shape)}")
        while tensor.ndim < 3:
            tensor = tensor.unsqueeze(0)
        tensor = tensor.unsqueeze(-2)
    if 0 in tensor.shape:
        raise CheckerscopeError(f"cannot score an empty array of shape {original_shape}")
    return tensor


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
    rfft_index: torch.Tensor  # (M,) int64
    conjugate: torch.Tensor  # (M,) bool
    row: torch.Tensor  # (M,) int64, q
    col: torch.Tensor  # (M,) int64, r
    row_factor: torch.Tensor  # (M,) complex, (1 - exp(2 pi i q / H)) / D
    col_factor: torch.Tensor  # (M,) complex, (1 - exp(2 pi i r / W)) / D
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
def _layout(height: int, width: int, period: tuple[int, int], device: str) -> _Layout:
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
        rfft_index=torch.from_numpy(rfft_rows * half + rfft_cols).to(device),
        conjugate=torch.from_numpy(conjugate).to(device),
        row=torch.from_numpy(rows).to(device),
        col=torch.from_numpy(cols).to(device),
        row_factor=torch.from_numpy(row_factor).to(device),
        col_factor=torch.from_numpy(col_factor).to(device),
        harmonic_phase=tuple(harmonics),
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


def _spectrum(x: torch.Tensor) -> _Spectrum:
    """Transforms of a batch ``(N, C, H, W)`` already cropped to a multiple of the period.

    The mean is not removed first: that would cost a pass over the batch, DC is never read,
    and the rounding error it spreads over other bins is covered by ``precision_floor``
    (which also makes constant images score exactly 0 dB).
    """
    height, width = x.shape[-2:]
    values = torch.fft.rfft2(x).flatten(-2)
    # DC sums every sample: a NaN or an infinity anywhere shows there, for free
    finite = torch.isfinite(values[..., 0]).all(dim=-1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise CheckerscopeError(f"input contains NaN or infinite values (image index {bad})")
    row_jump = torch.fft.fft(x[..., -1, :] - x[..., 0, :])
    col_jump = torch.fft.fft(x[..., :, -1] - x[..., :, 0])
    eps = torch.finfo(x.dtype).eps
    # rounding spreads about eps * log2(size) * |DC| / sqrt(size) over each bin
    dc = values[..., :1].abs()
    precision_floor = (_PRECISION_MARGIN * eps * dc).square() / (height * width)
    return _Spectrum(values, row_jump, col_jump, precision_floor, height, width)


@dataclass(frozen=True)
class _Energies:
    harmonic: torch.Tensor  # (N, C, n_harmonics) energy of each harmonic bin
    expected: torch.Tensor  # (N, C, n_harmonics) energy expected there
    floor: torch.Tensor  # (N, C, 1) floor per harmonic bin
    harmonic_bins: torch.Tensor  # (N, C, n_harmonics) complex values of the periodic part
    layout: _Layout


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]``; ``index_select`` on a 2-D view is much faster on CPU."""
    flat = values.reshape(-1, values.shape[-1]).index_select(1, index)
    return flat.reshape(*values.shape[:-1], index.shape[0])


def _energies(spectrum: _Spectrum, period: tuple[int, int]) -> _Energies:
    """Harmonic and expected energies of the periodic component for one period."""
    layout = _layout(spectrum.height, spectrum.width, period, str(spectrum.values.device))
    values = _take(spectrum.values, layout.rfft_index)
    values = torch.where(layout.conjugate, values.conj(), values)
    # subtract Moisan's smooth component, only at the bins read
    complex_dtype = values.dtype
    smooth = _take(spectrum.row_jump, layout.col) * layout.row_factor.to(complex_dtype)
    smooth = smooth + _take(spectrum.col_jump, layout.row) * layout.col_factor.to(complex_dtype)
    values = values - smooth
    energy = values.real.square() + values.imag.square()
    n_harm = layout.n_harmonics
    harmonic = energy[..., :n_harm]
    neighbours = energy[..., n_harm:].unflatten(-1, (n_harm, _NEIGHBOURS))
    expected = _median_of_last_axis(neighbours) / _MEDIAN_SCALE
    scale = energy.mean(dim=-1, keepdim=True)
    floor = _RELATIVE_FLOOR * scale + spectrum.precision_floor + _ABSOLUTE_FLOOR
    return _Energies(harmonic, expected, floor, values[..., :n_harm], layout)


def _fingerprint(energies: _Energies, spectrum: _Spectrum, period: tuple[int, int]) -> np.ndarray:
    """Zero-mean polyphase mean of the periodic component, ``(N, C, p_h, p_w)``.

    ``X(a H / p_h, b W / p_w) = (H W / (p_h p_w)) * DFT(polyphase mean)(a, b)``, so the
    pattern is a small inverse DFT of the harmonic bins (DC left at zero).
    """
    period_h, period_w = period
    bins = energies.harmonic_bins
    grid = torch.zeros(
        (*bins.shape[:-1], period_h * period_w), dtype=bins.dtype, device=bins.device
    )
    phase = torch.tensor([a * period_w + b for a, b in energies.layout.harmonic_phase])
    grid[..., phase.to(bins.device)] = bins
    grid = grid.unflatten(-1, (period_h, period_w))
    scale = (period_h * period_w) / (spectrum.height * spectrum.width)
    return torch.fft.ifft2(grid * scale).real.double().cpu().numpy()


def _to_db(numerator: torch.Tensor, denominator: torch.Tensor) -> np.ndarray:
    return (10.0 * torch.log10(numerator / denominator)).double().cpu().numpy()


def _result(
    energies: _Energies,
    spectrum: _Spectrum,
    period: tuple[int, int],
    dims: int,
    evidence: dict[int, float] | None = None,
) -> CheckerboardScore:
    harmonic = (energies.harmonic + energies.floor).sum(-1)
    expected = (energies.expected + energies.floor).sum(-1)
    channel_fingerprint = _fingerprint(energies, spectrum, period)
    if dims == 1:
        channel_fingerprint = channel_fingerprint[..., 0, :]
    return CheckerboardScore(
        db=_to_db(harmonic.sum(-1), expected.sum(-1)),
        channel_db=_to_db(harmonic, expected),
        fingerprint=channel_fingerprint.mean(axis=1),
        channel_fingerprint=channel_fingerprint,
        period=period[1:] if dims == 1 else period,
        evidence=evidence or {},
        shape=(spectrum.width,) if dims == 1 else (spectrum.height, spectrum.width),
    )


def _evidence(energies: _Energies) -> torch.Tensor:
    """z-score per image of the harmonic energy against its distribution without a grid.

    Without a grid, the ratio of the energy of a harmonic bin to the energy expected there
    has mean 1 and a standard deviation of about 1, so the sum of the ``K`` ratios (harmonic
    bins times channels) has mean ``K`` and standard deviation ``sqrt(K)``. Comparing
    periods by this z-score rather than by dB prefers the period that holds the grid: a
    period-2 grid is diluted over the 15 harmonic bins of period 4, while a period-4 grid
    fills them all. Each bin counts once, whatever the energy expected there.
    """
    ratios = (energies.harmonic + energies.floor) / (energies.expected + energies.floor)
    # one bin of a synthetic image (nothing around it) must not outvote all the others
    ratios = ratios.clamp(max=_MAX_EVIDENCE_RATIO)
    k = ratios.shape[-1] * ratios.shape[-2]
    return (ratios.sum(dim=(-2, -1)) - k) / math.sqrt(k)


def _cropped(batch: torch.Tensor, period: tuple[int, int], dims: int) -> torch.Tensor:
    """Crop to a multiple of the period, keeping the top-left origin."""
    height, width = batch.shape[-2:]
    for size, p, axis in ((height, period[0], "height"), (width, period[1], "width")):
        if p > 1 and size < 2 * p:
            what = "length" if dims == 1 else axis
            raise CheckerscopeError(
                f"{what} {size} is too small for period {p}: need at least {2 * p} samples"
            )
    return batch[..., : height - height % period[0], : width - width % period[1]]


def checkerboard_score(
    x: Any, period: int | Sequence[int] | str = 2, dims: int = 2
) -> CheckerboardScore:
    """Checkerboard score of images, gradient maps or signals, in dB (about 0 = no grid).

    The input is cropped to a multiple of the period keeping the top-left origin. The
    score is the energy of the periodic component at the DFT bins of the period's
    harmonics (other than DC), over the energy expected there from neighbouring bins; see
    the module docstring for the details.

    Args:
        x: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` (``dims=2``), or ``(T,)``,
            ``(C, T)`` or ``(N, C, T)`` (``dims=1``): a NumPy array or torch tensor of any
            real dtype (uint8 images, floats in any range, signed gradient maps).
        period: The grid period in samples: an int, one int per axis (``(2, 1)`` for a
            grid along the height only), or ``"auto"`` to pick the strongest of
            :data:`AUTO_PERIODS` (2, 4, 8, 16; those that fit the input). With ``"auto"``
            one period is chosen for the whole batch (the largest summed z-score);
            ``.evidence`` holds the z-scores.
        dims: 2 for images, 1 for signals (audio) along the last axis.

    Returns:
        A :class:`CheckerboardScore` with ``db`` of shape ``(N,)``.

    Raises:
        CheckerscopeError: for a bad rank, dtype or period, or a period that does not fit
            twice in the input.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> image = rng.random((3, 96, 80))  # no grid
        >>> -6 < float(checkerboard_score(image)) < 6
        True
        >>> tile = np.zeros((4, 4)); tile[1, 2] = 1.0  # one pixel in 16 is brighter
        >>> s = checkerboard_score(image + 0.2 * np.tile(tile, (24, 20)), period="auto")
        >>> s.period, bool(s.db[0] > 10)
        ((4, 4), True)
        >>> s.fingerprint[0].round(1)  # the brighter pixel, minus the mean of the tile
        array([[-0. , -0. , -0. , -0. ],
               [-0. ,  0. ,  0.2, -0. ],
               [-0. , -0. , -0. , -0. ],
               [-0. , -0. , -0. , -0. ]])
        >>> checkerboard_score(np.zeros((2, 3, 4, 5, 6)))
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: expected (H, W), (C, H, W) or (N, C, H, W), got shape (2, 3, 4, 5, 6)
    """  # noqa: E501
    batch = _to_batch(x, dims)
    if isinstance(period, str):
        if period != "auto":
            raise CheckerscopeError(f"period must be an int, a tuple or 'auto', got {period!r}")
        return _score_auto(batch, dims)
    per_axis = _parse_period(period, dims)
    spectrum = _spectrum(_cropped(batch, per_axis, dims))
    return _result(_energies(spectrum, per_axis), spectrum, per_axis, dims)


def _score_auto(batch: torch.Tensor, dims: int) -> CheckerboardScore:
    """Score at the candidate period with the most evidence, from one shared transform."""
    height, width = batch.shape[-2:]
    candidates = [p for p in AUTO_PERIODS if width >= 2 * p and (dims == 1 or height >= 2 * p)]
    if not candidates:
        size = f"{width}" if dims == 1 else f"{height}x{width}"
        raise CheckerscopeError(
            f"input of size {size} is too small for period 'auto': the smallest candidate, "
            f"{AUTO_PERIODS[0]}, needs at least {2 * AUTO_PERIODS[0]} samples per axis"
        )
    largest = (1, candidates[-1]) if dims == 1 else (candidates[-1], candidates[-1])
    spectrum = _spectrum(_cropped(batch, largest, dims))
    evidence: dict[int, float] = {}
    energies: dict[int, _Energies] = {}
    for p in candidates:
        energies[p] = _energies(spectrum, (1, p) if dims == 1 else (p, p))
        evidence[p] = float(_evidence(energies[p]).sum())
    best = max(evidence, key=evidence.__getitem__)
    period = (1, best) if dims == 1 else (best, best)
    return _result(energies[best], spectrum, period, dims, evidence)


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True, repr=False)
class InitProbe:
    """Scores of freshly initialised models (see :func:`probe_init`).

    Attributes:
        seeds: The seeds used, one model per seed.
        db: Score per seed in dB (the mean over that seed's batch), shape ``(S,)``.
        period: The period scored (chosen over all outputs with ``period="auto"``).
        fingerprints: Polyphase mean pattern per seed (mean over its batch).
        fingerprint: The pattern of the seed whose score is the median: a typical model.
        scores: The full :class:`CheckerboardScore` of every output, seed-major.
    """

    seeds: tuple[int, ...]
    db: np.ndarray
    period: tuple[int, ...]
    fingerprints: np.ndarray
    fingerprint: np.ndarray
    scores: CheckerboardScore

    @property
    def mean_db(self) -> float:
        return float(np.mean(self.db))

    @property
    def median_db(self) -> float:
        return float(np.median(self.db))

    def __float__(self) -> float:
        return self.median_db

    def __repr__(self) -> str:
        period = "x".join(str(p) for p in self.period)
        return (
            f"InitProbe(seeds={len(self.seeds)}, median_db={self.median_db:.2f}, "
            f"mean_db={self.mean_db:.2f}, min={self.db.min():.2f}, max={self.db.max():.2f}, "
            f"period={period})"
        )


def probe_init(
    make_model: Callable[[], torch.nn.Module],
    z_shape: Sequence[int],
    seeds: int | Sequence[int] = 8,
    period: int | Sequence[int] | str = 2,
    device: str | torch.device = "cpu",
    dims: int = 2,
) -> InitProbe:
    """Score the outputs of freshly initialised generators, one model per seed.

    The article finds checkerboards in generators before any training: the uneven overlap
    of a transposed convolution shows in the outputs of random weights. For each seed this
    calls ``torch.manual_seed(seed)``, builds ``make_model()``, draws ``torch.randn(z_shape)``
    and scores the output without gradients. The model is used in the mode it was built
    in (usually training mode, so batch norm uses batch statistics).

    Args:
        make_model: Builds a new model (called once per seed, after seeding).
        z_shape: Shape of the latent input, batch first, e.g. ``(4, 64, 4, 4)``.
        seeds: A number of seeds (``0 .. seeds-1``) or the seeds themselves.
        period: As in :func:`checkerboard_score`; ``"auto"`` chooses one period over the
            outputs of all seeds.
        device: Where the models run.
        dims: 2 for image generators ``(N, C, H, W)``, 1 for signals ``(N, C, T)``.

    Returns:
        An :class:`InitProbe`: per-seed dB, mean and median, period and fingerprints.

    Examples:
        >>> import torch
        >>> def deconv():
        ...     return torch.nn.Sequential(
        ...         torch.nn.ConvTranspose2d(8, 8, 3, stride=2), torch.nn.ReLU(),
        ...         torch.nn.ConvTranspose2d(8, 3, 3, stride=2))
        >>> def resize_conv():
        ...     return torch.nn.Sequential(
        ...         torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(8, 8, 3, padding=1),
        ...         torch.nn.ReLU(), torch.nn.Upsample(scale_factor=2),
        ...         torch.nn.Conv2d(8, 3, 3, padding=1))
        >>> probe_init(deconv, (2, 8, 16, 16), seeds=3).median_db > 20
        True
        >>> probe_init(resize_conv, (2, 8, 16, 16), seeds=3).median_db < 6
        True
    """
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not seed_list:
        raise CheckerscopeError(f"seeds must name at least one seed, got {seeds!r}")
    outputs = []
    with torch.no_grad():
        for seed in seed_list:
            torch.manual_seed(seed)
            model = make_model().to(device)
            z = torch.randn(tuple(z_shape), device=device)
            out = model(z)
            if not isinstance(out, torch.Tensor):
                raise CheckerscopeError(
                    f"make_model() must build a model returning a tensor, got {type(out).__name__}"
                )
            expected_rank = 4 if dims == 2 else 3
            if out.ndim != expected_rank:
                raise CheckerscopeError(
                    f"expected model outputs of rank {expected_rank} (batch first) with "
                    f"dims={dims}, got shape {tuple(out.shape)}"
                )
            outputs.append(out.float())
    per_seed = outputs[0].shape[0]
    scores = checkerboard_score(torch.cat(outputs), period=period, dims=dims)
    db = scores.db.reshape(len(seed_list), per_seed).mean(axis=1)
    fingerprints = scores.fingerprint.reshape(
        len(seed_list), per_seed, *scores.fingerprint.shape[1:]
    )
    fingerprints = fingerprints.mean(axis=1)
    typical = int(np.argsort(db)[(len(db) - 1) // 2])
    return InitProbe(
        seeds=seed_list,
        db=db,
        period=scores.period,
        fingerprints=fingerprints,
        fingerprint=fingerprints[typical],
        scores=scores,
    )


@dataclass(frozen=True, repr=False)
class GradientProbe:
    """Score of the input gradients of a model (see :func:`probe_gradients`).

    Attributes:
        db: Score per image in dB, shape ``(N,)``.
        period: The period scored.
        fingerprint: Zero-mean polyphase mean pattern of the gradient, per image.
        gradient: The gradient ``d reduce(model(x)) / d x``, same shape as the images.
        score: The full :class:`CheckerboardScore` of the gradient.
    """

    db: np.ndarray
    period: tuple[int, ...]
    fingerprint: np.ndarray
    gradient: np.ndarray
    score: CheckerboardScore

    @property
    def mean_db(self) -> float:
        return float(np.mean(self.db))

    @property
    def median_db(self) -> float:
        return float(np.median(self.db))

    def __float__(self) -> float:
        return self.median_db

    def __repr__(self) -> str:
        period = "x".join(str(p) for p in self.period)
        return f"GradientProbe(n={len(self.db)}, median_db={self.median_db:.2f}, period={period})"


_REDUCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sum": torch.sum,
    "mean": torch.mean,
    "square": lambda out: out.square().sum(),
}


def probe_gradients(
    model: torch.nn.Module,
    images: Any,
    period: int | Sequence[int] | str = 2,
    reduce: str | Callable[[torch.Tensor], torch.Tensor] = "sum",
    dims: int = 2,
) -> GradientProbe:
    """Score ``d reduce(model(x)) / d x``: the article's checkerboards in gradients.

    A strided convolution's backward pass is a transposed convolution, so the gradient a
    discriminator (or a feature-visualisation objective) sends to its input can carry the
    uneven-overlap grid. The model runs in eval mode under its own parameters' dtype and
    device; no parameter gradients are computed or kept, and the model's mode and
    ``requires_grad`` flags are restored afterwards.

    Args:
        model: Any module taking a batch of images (or signals with ``dims=1``).
        images: ``(N, C, H, W)`` (or ``(C, H, W)``) array or tensor.
        period: As in :func:`checkerboard_score`.
        reduce: ``"sum"`` (the article's choice), ``"mean"`` (same score: the score is
            scale invariant), ``"square"`` (sum of squares) or a callable from the output
            to a scalar.
        dims: 2 for images, 1 for signals.

    Returns:
        A :class:`GradientProbe`.

    Examples:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> strided = torch.nn.Conv2d(3, 8, 3, stride=2)
        >>> regular = torch.nn.Conv2d(3, 8, 3)
        >>> images = torch.rand(2, 3, 64, 64)
        >>> probe_gradients(strided, images).median_db > 20
        True
        >>> probe_gradients(regular, images).median_db < 6
        True
    """
    if isinstance(reduce, str):
        if reduce not in _REDUCTIONS:
            raise CheckerscopeError(
                f"reduce must be one of {sorted(_REDUCTIONS)} or a callable, got {reduce!r}"
            )
        reduction = _REDUCTIONS[reduce]
    else:
        reduction = reduce
    parameters = list(model.parameters())
    reference = parameters[0] if parameters else None
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else None
    x = images.detach() if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    x = x.to(device=device, dtype=dtype or torch.float32)
    if x.ndim == (3 if dims == 2 else 2):
        x = x.unsqueeze(0)
    x.requires_grad_(True)
    was_training = model.training
    flags = [p.requires_grad for p in parameters]
    try:
        model.eval()
        for p in parameters:
            p.requires_grad_(False)
        with torch.enable_grad():
            objective = reduction(model(x))
            if objective.numel() != 1:
                raise CheckerscopeError(
                    f"reduce must return a scalar, got shape {tuple(objective.shape)}"
                )
            (gradient,) = torch.autograd.grad(objective.reshape(()), x)
    finally:
        model.train(was_training)
        for p, flag in zip(parameters, flags, strict=True):
            p.requires_grad_(flag)
    score = checkerboard_score(gradient, period=period, dims=dims)
    return GradientProbe(
        db=score.db,
        period=score.period,
        fingerprint=score.fingerprint,
        gradient=gradient.detach().cpu().numpy(),
        score=score,
    )
