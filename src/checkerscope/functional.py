"""The checkerboard score as device tensors: for logging inside training loops, and for losses.

:func:`checkerscope.metrics.checkerboard_score` returns NumPy arrays and checks its input
for NaNs (one device-to-host copy per call). The functions here compute the same number
from the same definition and the same bins (energy of the periodic component at the DFT
bins of the period's non-DC harmonics, over the energy their neighbouring bins predict
there; Moisan's periodic-plus-smooth decomposition at the border) but return tensors on the
input's device, never synchronise, and keep the autograd graph: the score is differentiable
wherever its neighbour median is (everywhere but at ties, a set of measure zero).

Only the tensor path differs: input checks are on shapes, not values (a NaN gives a NaN
score instead of an error), and ``period="auto"`` is not offered (choosing a period is a
decision, not a differentiable function).

Examples:
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> noise = torch.randn(2, 3, 64, 64)
    >>> grid = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(32, 32)
    >>> db = checkerboard_score(noise + 0.5 * torch.stack([0 * grid, grid])[:, None])
    >>> db.shape, bool(db[0] < 6), bool(db[1] > 20)
    (torch.Size([2]), True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import _spectral
from checkerscope.metrics._layout import _cropped, _parse_period

__all__ = [
    "checkerboard_score",
    "grid_component",
    "harmonic_energy_ratio",
    "periodic_component",
]


def _as_batch(x: torch.Tensor, dims: int) -> torch.Tensor:
    """``x`` as ``(N, C, H, W)``; 1-D signals ``(N, C, T)`` become ``(N, C, 1, T)``."""
    if not isinstance(x, torch.Tensor):
        raise CheckerscopeError(
            f"checkerscope.functional needs a torch.Tensor, got {type(x).__name__}; "
            "use checkerscope.checkerboard_score for arrays"
        )
    if x.is_complex() or not x.is_floating_point():
        raise CheckerscopeError(f"expected a real floating-point tensor, got dtype {x.dtype}")
    if dims == 2:
        if x.ndim not in (2, 3, 4):
            raise CheckerscopeError(
                f"expected (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}"
            )
        while x.ndim < 4:
            x = x.unsqueeze(0)
        return x
    if dims == 1:
        if x.ndim not in (1, 2, 3):
            raise CheckerscopeError(
                f"expected (T,), (C, T) or (N, C, T) with dims=1, got shape {tuple(x.shape)}"
            )
        while x.ndim < 3:
            x = x.unsqueeze(0)
        return x.unsqueeze(-2)
    raise CheckerscopeError(f"dims must be 1 or 2, got {dims!r}")


def _spectrum(x: torch.Tensor) -> _spectral._Spectrum:
    """The transforms the score reads, without the NaN check (it would copy to the host)."""
    return _spectral._spectrum(x, check_finite=False)


def harmonic_energy_ratio(
    x: torch.Tensor, period: int | Sequence[int] = 2, dims: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the harmonic-bin energy and the energy expected there, pooled over channels.

    ``10 * log10(harmonic / expected)`` is the score; both carry the score's tiny floor,
    so their ratio is finite for constant images and perfect grids.

    Args:
        x: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` (``dims=2``) or ``(T,)``,
            ``(C, T)``, ``(N, C, T)`` (``dims=1``) floating-point tensor.
        period: the grid period, one int or one per axis.
        dims: 2 for images, 1 for signals.

    Returns:
        ``(harmonic, expected)``, each of shape ``(N,)``, on ``x``'s device and dtype
        (float32 for half-precision inputs).

    Examples:
        >>> import torch
        >>> harmonic, expected = harmonic_energy_ratio(torch.ones(1, 1, 8, 8))
        >>> float(harmonic / expected)
        1.0
    """
    batch = _as_batch(x, dims)
    if batch.dtype not in (torch.float32, torch.float64):
        batch = batch.float()
    per_axis = _parse_period(period, dims)
    cropped = _cropped(batch, per_axis, dims)
    energies = _spectral._energies(_spectrum(cropped), per_axis)
    harmonic = (energies.harmonic + energies.floor).sum(dim=(-2, -1))
    expected = (energies.expected + energies.floor).sum(dim=(-2, -1))
    return harmonic, expected


def checkerboard_score(
    x: torch.Tensor, period: int | Sequence[int] = 2, dims: int = 2
) -> torch.Tensor:
    """Checkerboard score in dB per image, as a tensor on ``x``'s device (autograd kept).

    Equal to ``checkerscope.metrics.checkerboard_score(x, period, dims).db`` (to rounding),
    without leaving the device.

    Args:
        x: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` images (``dims=2``), or ``(T,)``,
            ``(C, T)``, ``(N, C, T)`` signals (``dims=1``), floating point.
        period: the grid period: one int, or one int per axis.
        dims: 2 for images, 1 for signals along the last axis.

    Returns:
        ``(N,)`` scores in dB (about 0 for grid-free natural images).

    Raises:
        CheckerscopeError: for a bad rank, dtype or period, or a period that does not fit
            twice in the input.

    Examples:
        >>> import torch
        >>> tone = torch.sin(torch.arange(256.0) * 0.3) + 0.1 * (-1.0) ** torch.arange(256)
        >>> bool(checkerboard_score(tone, period=2, dims=1)[0] > 20)
        True
    """
    harmonic, expected = harmonic_energy_ratio(x, period, dims)
    return 10.0 * torch.log10(harmonic / expected)


def periodic_component(
    x: torch.Tensor, period: int | Sequence[int] = 2, dims: int = 2
) -> torch.Tensor:
    """The zero-mean period-``p`` component of each image and channel, tiled to ``x``'s shape.

    On the largest top-left crop that holds whole periods this is the orthogonal projection
    onto zero-mean period-``p`` images: the polyphase mean (the mean of the samples of each
    phase) minus the overall mean, tiled. It is what the inverse DFT of the crop's non-DC
    harmonic bins gives, so ``x - periodic_component(x)`` has exactly zero energy there and
    its score falls far below 0 dB (what remains at those bins is the border term of
    Moisan's decomposition, which the score subtracts). A grid-free image loses only what
    its harmonic bins held, ``p_h p_w - 1`` bins in ``H W``.

    Args:
        x: ``(..., H, W)`` (``dims=2``) or ``(..., T)`` (``dims=1``), any leading axes.
        period: one int, or one int per axis.
        dims: 2 for images, 1 for signals.

    Returns:
        A tensor of ``x``'s shape (and autograd graph).

    Examples:
        >>> import torch
        >>> x = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
        >>> periodic_component(x, period=(1, 2))
        tensor([[-0.5000,  0.5000, -0.5000,  0.5000],
                [-0.5000,  0.5000, -0.5000,  0.5000]])
    """
    if dims not in (1, 2):
        raise CheckerscopeError(f"dims must be 1 or 2, got {dims!r}")
    per_axis = _parse_period(period, dims)
    periods = per_axis if dims == 2 else per_axis[1:]
    if x.ndim < dims:
        raise CheckerscopeError(f"expected at least {dims} axes, got shape {tuple(x.shape)}")
    sizes = tuple(x.shape[-dims:])
    if any(size < p for size, p in zip(sizes, periods, strict=True)):
        raise CheckerscopeError(f"shape {tuple(x.shape)} is smaller than the period {periods}")
    cropped = x
    for axis, (size, p) in enumerate(zip(sizes, periods, strict=True)):
        cropped = cropped.narrow(x.ndim - dims + axis, 0, size - size % p)
    lead = tuple(cropped.shape[:-dims])
    split: list[int] = []
    for size, p in zip(cropped.shape[-dims:], periods, strict=True):
        split += [size // p, p]
    tiles = cropped.reshape(*lead, *split)
    whole_axes = tuple(len(lead) + 2 * i for i in range(dims))
    pattern = tiles.mean(dim=whole_axes, keepdim=True)
    phase_axes = tuple(len(lead) + 2 * i + 1 for i in range(dims))
    pattern = pattern - pattern.mean(dim=phase_axes, keepdim=True)
    repeats = [1] * len(lead)
    for size, p in zip(sizes, periods, strict=True):
        repeats += [math.ceil(size / p), 1]
    covered = [math.ceil(size / p) * p for size, p in zip(sizes, periods, strict=True)]
    tiled = pattern.repeat(*repeats).reshape(*lead, *covered)
    for axis, size in enumerate(sizes):
        tiled = tiled.narrow(x.ndim - dims + axis, 0, size)
    return tiled


@lru_cache(maxsize=64)
def _grid_solver(
    height: int, width: int, period: tuple[int, int], dtype: torch.dtype, device: str
) -> tuple[torch.Tensor, tuple[tuple[int, int], ...]]:
    """The matrix from the score's harmonic bins to the pattern that makes them, and the
    phase of each bin.

    Column ``k`` of ``L`` holds the bins the score reads (Moisan-corrected) of the image
    tiled with the ``k``-th unit pattern; the pseudo-inverse of ``[Re L; Im L]`` maps bins
    to the zero-mean pattern (a constant pattern has no harmonic content, so the
    minimum-norm solution has mean zero).
    """
    period_h, period_w = period
    count = period_h * period_w
    units = torch.eye(count, dtype=dtype, device=device).reshape(count, 1, period_h, period_w)
    tiled = units.repeat(1, 1, height // period_h, width // period_w)
    energies = _spectral._energies(_spectrum(tiled), period)
    matrix = energies.harmonic_bins[:, 0, :].T  # (bins, count) complex
    stacked = torch.cat([matrix.real, matrix.imag])
    return torch.linalg.pinv(stacked), energies.layout.harmonic_phase


def grid_component(x: torch.Tensor, period: int | Sequence[int] = 2, dims: int = 2) -> torch.Tensor:
    """The period-``p`` pattern that makes all of ``x``'s score, tiled to ``x``'s shape.

    The score reads the harmonic bins of the periodic part of Moisan's periodic-plus-smooth
    decomposition. A tiled pattern has a border jump of its own (its last row differs from
    its first), so subtracting the plain polyphase mean (:func:`periodic_component`) zeroes
    the raw bins but leaves the border term there, which the score then reads as a grid of
    the opposite sign. This pattern is solved for instead (a small linear system, one per
    size and period, cached): on the largest top-left crop holding whole periods,
    ``x - grid_component(x)`` has exactly zero energy at the bins the score reads, so it
    scores at the score's floor. It is what :func:`checkerscope.distill` removes from the
    teacher's outputs.

    Args:
        x: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` (``dims=2``), or ``(T,)``,
            ``(C, T)``, ``(N, C, T)`` (``dims=1``), floating point.
        period: one int, or one int per axis.
        dims: 2 for images, 1 for signals.

    Returns:
        A tensor of ``x``'s shape and dtype (autograd kept).

    Examples:
        >>> import torch
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
        >>> float(checkerboard_score(x - grid_component(x, 4), 4)) < -60
        True
    """
    batch = _as_batch(x, dims)
    work = batch if batch.dtype in (torch.float32, torch.float64) else batch.float()
    per_axis = _parse_period(period, dims)
    cropped = _cropped(work, per_axis, dims)
    bins = _spectral._energies(_spectrum(cropped), per_axis).harmonic_bins  # (N, C, bins)
    solver, _ = _grid_solver(
        cropped.shape[-2], cropped.shape[-1], per_axis, work.dtype, str(work.device)
    )
    stacked = torch.cat([bins.real, bins.imag], dim=-1)
    pattern = (stacked @ solver.T).unflatten(-1, per_axis)  # (N, C, p_h, p_w)
    height, width = batch.shape[-2:]
    period_h, period_w = per_axis
    tiled = pattern.repeat(1, 1, math.ceil(height / period_h), math.ceil(width / period_w))
    tiled = tiled[..., :height, :width].to(x.dtype)
    if dims == 1:
        tiled = tiled.squeeze(-2)
    return tiled.reshape(x.shape)
