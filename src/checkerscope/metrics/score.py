"""The checkerboard score: :func:`checkerboard_score` and its result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics._spectral import (
    _cropped,
    _Energies,
    _energies,
    _fingerprint,
    _parse_period,
    _Spectrum,
    _spectrum,
    _to_db,
)

__all__ = ["AUTO_PERIODS", "CheckerboardScore", "checkerboard_score"]

#: Candidate periods tried by ``period="auto"``.
AUTO_PERIODS: tuple[int, ...] = (2, 4, 8, 16)

# Per-bin energy ratio above which a bin counts no more for period="auto" (40 dB).
_MAX_EVIDENCE_RATIO = 1e4


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
