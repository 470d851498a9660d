"""The checkerboard score: :func:`checkerboard_score` and its result.

Three numbers per image, and a verdict built from two of them:

* ``db``: how much the grid stands out from the image around it (energy at the harmonic
  bins over the energy their neighbours predict there). Unchanged from earlier versions; a
  fixed grid scores higher in a larger image.
* ``amplitude``: how strong the periodic component is, in the input's units, in 8-bit grey
  levels and in % of the range: the RMS and the peak-to-peak of one period of it, with the
  image's own energy at those bins subtracted. It does not grow with the image size.
* ``significance``: how sure the component is real, as a z-score (``p_value`` beside it)
  against the null of no grid, calibrated on photographs: about 1 grid-free image in 100
  reaches the default threshold (2.33), whatever its size or the period.

``verdict`` is ``"grid"`` when the component is significant and its peak-to-peak reaches
three times the visibility threshold, ``"faint grid"`` when it is significant and reaches
the threshold, ``"clean"`` otherwise. The threshold, ``visible=1.0`` grey level of an 8-bit
image, is the smallest step 8 bits can show: on a flat mid-grey, a pattern that alternates
by one level is at the limit of what a person sees (one 8-bit step is about the just
noticeable difference of sRGB at mid-grey), and below it a stored image cannot even hold
the pattern everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics._direct import _direct_bins, _direct_is_cheaper
from checkerscope.metrics._grid import _estimate, _GridEstimate
from checkerscope.metrics._layout import (
    _MEDIAN_SCALE,
    _NEIGHBOURS,
    _Bins,
    _cropped,
    _median_of_neighbours,
    _parse_period,
    _pattern,
)
from checkerscope.metrics.inputs import Batch, as_batch, nominal_range, quantisation_step
from checkerscope.metrics.null import z_from_log_p

if TYPE_CHECKING:
    import torch

    from checkerscope.metrics.offgrid import OffGridPeaks

__all__ = [
    "AUTO_PERIODS",
    "CLEAN",
    "FAINT",
    "GRID",
    "GRID_FACTOR",
    "SIGNIFICANT_Z",
    "VISIBLE_LEVELS",
    "Amplitude",
    "CheckerboardScore",
    "checkerboard_score",
]

#: Candidate periods tried by ``period="auto"``.
AUTO_PERIODS: tuple[int, ...] = (2, 4, 8, 16)

#: Default significance threshold (a z-score; p = 0.01, one-sided).
SIGNIFICANT_Z = 2.326
#: Default visibility threshold: peak-to-peak in 8-bit grey levels (one 8-bit step).
VISIBLE_LEVELS = 1.0
#: A significant grid is a ``"grid"`` from this many times the visibility threshold.
GRID_FACTOR = 3.0

CLEAN, FAINT, GRID = "clean", "faint grid", "grid"

# 8-bit grey levels per unit of range.
_LEVELS = 255.0


@dataclass(frozen=True, repr=False)
class Amplitude:
    """Size of the periodic component, per image (combined channel) and per channel.

    Attributes:
        rms: Root mean square of the periodic component, in input units, shape ``(N,)``.
        peak_to_peak: Peak-to-peak of one period of it (denoised), in input units.
        channel_rms: The RMS per channel, ``(N, C)``.
        channel_peak_to_peak: The peak-to-peak per channel, ``(N, C)``.
        value_range: The span of the input's nominal range in its units (255 for 8-bit
            images, 1 for floats in ``[0, 1]``, 2 for ``[-1, 1]``), which converts the
            amplitudes to 8-bit grey levels and percent.

    The combined channel is the luma of RGB input and the mean of the channels otherwise.
    The image's own energy at the harmonic bins is subtracted, so a grid-free image has an
    amplitude near zero and a grid has the same amplitude in a small or a large image.
    """

    rms: np.ndarray
    peak_to_peak: np.ndarray
    channel_rms: np.ndarray
    channel_peak_to_peak: np.ndarray
    value_range: float

    @property
    def rms_levels(self) -> np.ndarray:
        """RMS in 8-bit grey levels (``rms / value_range * 255``)."""
        return self.rms / self.value_range * _LEVELS

    @property
    def peak_to_peak_levels(self) -> np.ndarray:
        """Peak-to-peak in 8-bit grey levels."""
        return self.peak_to_peak / self.value_range * _LEVELS

    @property
    def channel_peak_to_peak_levels(self) -> np.ndarray:
        """Peak-to-peak per channel in 8-bit grey levels, ``(N, C)``."""
        return self.channel_peak_to_peak / self.value_range * _LEVELS

    @property
    def rms_percent(self) -> np.ndarray:
        """RMS in percent of the range."""
        return self.rms / self.value_range * 100.0

    @property
    def peak_to_peak_percent(self) -> np.ndarray:
        """Peak-to-peak in percent of the range."""
        return self.peak_to_peak / self.value_range * 100.0

    def __repr__(self) -> str:
        if len(self.rms) == 1:
            return (
                f"Amplitude(rms={self.rms_levels[0]:.3g} levels, "
                f"peak_to_peak={self.peak_to_peak_levels[0]:.3g} levels)"
            )
        return (
            f"Amplitude(n={len(self.rms)}, median rms={np.median(self.rms_levels):.3g} levels, "
            f"median peak_to_peak={np.median(self.peak_to_peak_levels):.3g} levels)"
        )


@dataclass(frozen=True)
class _GridFields:
    significance: np.ndarray
    channel_significance: np.ndarray
    p_value: np.ndarray
    amplitude: Amplitude
    verdict: tuple[str, ...]
    channel_verdict: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]


class _ScoresInDb:
    """Summaries of per-sample scores ``db`` (dB), shared by the score and the probes."""

    db: np.ndarray

    @property
    def mean_db(self) -> float:
        """Mean of the per-sample scores in dB."""
        return float(np.mean(self.db))

    @property
    def median_db(self) -> float:
        """Median of the per-sample scores in dB."""
        return float(np.median(self.db))


@dataclass(frozen=True, repr=False)
class CheckerboardScore(_ScoresInDb):
    """The checkerboard score of one image or a batch (see :func:`checkerboard_score`).

    Attributes:
        db: Score per image in dB, shape ``(N,)``; about 0 for grid-free natural images.
        channel_db: Score per image and channel in dB, shape ``(N, C)``.
        fingerprint: Zero-mean polyphase mean pattern per image, averaged over channels,
            shape ``(N, p_h, p_w)`` (``(N, p)`` for 1-D signals): what one period of the
            grid looks like, in the units of the input.
        channel_fingerprint: The same per channel, shape ``(N, C, p_h, p_w)``.
        period: The period used, one entry per axis (``(p_h, p_w)`` or ``(p,)``).
        evidence: For ``period="auto"``, the summed significance (z-scores) of each
            candidate period; empty otherwise.
        shape: The shape scored after cropping to a multiple of the period, ``(H, W)``
            or ``(T,)``.
        significance: z-score per image that the periodic component is real (combined
            channel), ``(N,)``; about 1 grid-free image in 100 exceeds 2.33.
        channel_significance: The same per channel, ``(N, C)``.
        p_value: The p-value behind ``significance``, ``(N,)``.
        amplitude: The size of the periodic component (:class:`Amplitude`).
        verdict: ``"clean"``, ``"faint grid"`` or ``"grid"`` per image: significant and
            visible (see the module docstring).
        channel_verdict: The verdict per image and channel.
        notes: Per image, what else the score noticed ("" when nothing): a component in
            the colour only, or harmonic energy leaking from a nearby frequency.
        visible: The visibility threshold used, peak-to-peak in 8-bit grey levels.
        min_significance: The significance threshold used (a z-score).
        offgrid: With ``offgrid=True``, the strongest periodic component at any frequency
            per image (:class:`~checkerscope.metrics.offgrid.OffGridPeaks`), else ``None``.

    ``float(score)`` works for a single image; ``len(score)`` is the batch size.
    """

    db: np.ndarray
    channel_db: np.ndarray
    fingerprint: np.ndarray
    channel_fingerprint: np.ndarray
    period: tuple[int, ...]
    evidence: dict[int, float] = field(default_factory=dict)
    shape: tuple[int, ...] = ()
    visible: float = VISIBLE_LEVELS
    min_significance: float = SIGNIFICANT_Z
    offgrid: OffGridPeaks | None = None
    # computes the fields below on first use, so that callers of .db alone pay nothing
    _grid: Callable[[], _GridFields] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def _fields(self) -> _GridFields:
        if self._grid is None:
            raise CheckerscopeError("this score was built without its grid estimate")
        return self._grid()

    @property
    def significance(self) -> np.ndarray:
        """z-score per image (combined channel), ``(N,)``."""
        return self._fields.significance

    @property
    def channel_significance(self) -> np.ndarray:
        """z-score per image and channel, ``(N, C)``."""
        return self._fields.channel_significance

    @property
    def p_value(self) -> np.ndarray:
        """The p-value behind ``significance``, ``(N,)``."""
        return self._fields.p_value

    @property
    def amplitude(self) -> Amplitude:
        """The size of the periodic component (:class:`Amplitude`)."""
        return self._fields.amplitude

    @property
    def verdict(self) -> tuple[str, ...]:
        """``"clean"``, ``"faint grid"`` or ``"grid"`` per image."""
        return self._fields.verdict

    @property
    def channel_verdict(self) -> tuple[tuple[str, ...], ...]:
        """The verdict per image and channel."""
        return self._fields.channel_verdict

    @property
    def notes(self) -> tuple[str, ...]:
        """Per image, what else the score noticed ("" when nothing)."""
        return self._fields.notes

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
    def runner_up(self) -> int | None:
        """For ``period="auto"``, the candidate period with the second most evidence."""
        if len(self.evidence) < 2:
            return None
        ranked = sorted(self.evidence, key=self.evidence.__getitem__, reverse=True)
        return ranked[1]

    def __repr__(self) -> str:
        period = "x".join(str(p) for p in self.period)
        if len(self) == 1:
            values = f"db={self.db[0]:.2f}"
            if self._grid is not None:
                values += (
                    f", significance={self.significance[0]:.2f}, "
                    f"peak_to_peak={self.amplitude.peak_to_peak_levels[0]:.3g} levels, "
                    f"verdict={self.verdict[0]!r}"
                )
        else:
            values = (
                f"n={len(self)}, median_db={self.median_db:.2f}, "
                f"min={self.db.min():.2f}, max={self.db.max():.2f}"
            )
            if self._grid is not None:
                counts = {v: self.verdict.count(v) for v in (CLEAN, FAINT, GRID)}
                values += ", " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        auto = " (auto)" if self.evidence else ""
        return f"CheckerboardScore({values}, period={period}{auto})"


# --------------------------------------------------------------------------- verdicts


def verdict(significance: float, peak_to_peak_levels: float, **thresholds: float) -> str:
    """The verdict for one significance (z) and peak-to-peak amplitude in grey levels.

    Args:
        significance: z-score of the periodic component.
        peak_to_peak_levels: Its peak-to-peak in 8-bit grey levels.
        **thresholds: ``visible`` (default :data:`VISIBLE_LEVELS`) and
            ``min_significance`` (default :data:`SIGNIFICANT_Z`).

    Examples:
        >>> verdict(5.0, 0.4), verdict(5.0, 1.5), verdict(5.0, 12.0), verdict(1.0, 12.0)
        ('clean', 'faint grid', 'grid', 'clean')
    """
    visible = thresholds.get("visible", VISIBLE_LEVELS)
    min_significance = thresholds.get("min_significance", SIGNIFICANT_Z)
    if significance < min_significance or peak_to_peak_levels < visible:
        return CLEAN
    return GRID if peak_to_peak_levels >= GRID_FACTOR * visible else FAINT


def _verdicts(significance: np.ndarray, levels: np.ndarray, visible: float, z: float) -> Any:
    names = np.where(
        (significance < z) | (levels < visible),
        CLEAN,
        np.where(levels >= GRID_FACTOR * visible, GRID, FAINT),
    )
    return names


# --------------------------------------------------------------------------- the score


@dataclass(frozen=True)
class _Options:
    dims: int
    value_range: float
    visible: float
    min_significance: float
    offgrid: bool = False
    step: float | None = None


def _result(
    bins: _Bins,
    period: tuple[int, int],
    options: _Options,
    evidence: dict[int, float] | None = None,
    peaks: OffGridPeaks | None = None,
) -> CheckerboardScore:
    dims = options.dims
    k = bins.layout.n_harmonics
    energy, floor = bins.energy, bins.floor
    neighbours = energy[..., k:].reshape(*energy.shape[:-1], k, _NEIGHBOURS)
    harmonic = (energy[..., :k] + floor).sum(-1)
    expected = (_median_of_neighbours(neighbours) / _MEDIAN_SCALE + floor).sum(-1)
    channel_fingerprint = _pattern(
        bins.values[..., :k], bins.layout, bins.height, bins.width, period
    )
    if dims == 1:
        channel_fingerprint = channel_fingerprint[..., 0, :]

    def grid() -> _GridFields:
        return _grid_fields(_estimate(bins, period, options.step), options)

    return CheckerboardScore(
        db=10.0 * np.log10(harmonic.sum(-1) / expected.sum(-1)),
        channel_db=10.0 * np.log10(harmonic / expected),
        fingerprint=channel_fingerprint.mean(axis=1),
        channel_fingerprint=channel_fingerprint,
        period=period[1:] if dims == 1 else period,
        evidence=evidence or {},
        shape=(bins.width,) if dims == 1 else (bins.height, bins.width),
        visible=options.visible,
        min_significance=options.min_significance,
        offgrid=peaks,
        _grid=grid,
    )


def _grid_fields(estimate: _GridEstimate, options: _Options) -> _GridFields:
    z = z_from_log_p(estimate.log_p)
    rms = estimate.rms
    peak_to_peak = estimate.peak_to_peak
    amplitude = Amplitude(
        rms=rms[:, -1],
        peak_to_peak=peak_to_peak[:, -1],
        channel_rms=rms[:, :-1],
        channel_peak_to_peak=peak_to_peak[:, :-1],
        value_range=options.value_range,
    )
    levels = peak_to_peak / options.value_range * _LEVELS
    names = _verdicts(z, levels, options.visible, options.min_significance)
    leak = estimate.leak
    notes = []
    for i in range(len(z)):
        note = ""
        channels_only = names[i, :-1] != CLEAN
        if names[i, -1] == CLEAN and channels_only.any() and z.shape[1] == 4:
            note = "a periodic component in the colour only (JPEG 4:2:0 chroma upsampling?)"
        elif leak[i, -1]:
            note = "harmonic energy leaks from a nearby frequency (8-bit steps? a resize?)"
        notes.append(note)
    return _GridFields(
        significance=z[:, -1],
        channel_significance=z[:, :-1],
        p_value=np.exp(estimate.log_p[:, -1]),
        amplitude=amplitude,
        verdict=tuple(str(v) for v in names[:, -1]),
        channel_verdict=tuple(tuple(str(v) for v in row) for row in names[:, :-1]),
        notes=tuple(notes),
    )


def checkerboard_score(
    x: Any,
    period: int | Sequence[int] | str = 2,
    dims: int = 2,
    *,
    layout: str | None = None,
    value_range: float | None = None,
    visible: float = VISIBLE_LEVELS,
    min_significance: float = SIGNIFICANT_Z,
    offgrid: bool = False,
) -> CheckerboardScore:
    """Checkerboard score of images, gradient maps or signals: dB, amplitude, significance.

    The input is cropped to a multiple of the period keeping the top-left origin. The
    score reads the DFT bins of the period's harmonics (other than DC) and their
    neighbours; see the package docstring for the definitions.

    Args:
        x: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)`` (``dims=2``), or ``(T,)``,
            ``(C, T)`` or ``(N, C, T)`` (``dims=1``): a NumPy array or torch tensor of any
            real dtype (uint8 images, floats in any range, signed gradient maps), channels
            last as well (``(H, W, C)``, ``(N, H, W, C)``, ``(T, C)``), a PIL image, or a
            list of those (one image each, one shape). See
            :mod:`checkerscope.metrics.inputs` for how the layout is told.
        period: The grid period in samples: an int, one int per axis (``(2, 1)`` for a
            grid along the height only), or ``"auto"`` to pick, of :data:`AUTO_PERIODS`
            (2, 4, 8, 16; those that fit the input), the most significant one. With
            ``"auto"`` one period is chosen for the whole batch (the largest summed
            significance); ``.evidence`` holds the sums and ``.runner_up`` the second.
        dims: 2 for images, 1 for signals (audio) along the last axis.
        layout: The layout when it cannot be told from the shape: ``"CHW"``, ``"HWC"``,
            ``"NCHW"``, ``"NHWC"`` (``"CT"``, ``"TC"``, ... with ``dims=1``).
        value_range: The span of the input's nominal range (255 for 8-bit values, 1 for
            ``[0, 1]``); by default from the dtype, or from the values for floats
            (:func:`~checkerscope.metrics.inputs.nominal_range`).
        visible: Visibility threshold, peak-to-peak in 8-bit grey levels.
        min_significance: Significance threshold, a z-score.
        offgrid: Also search every frequency for the strongest periodic component (a grid
            after a non-integer resize; :mod:`checkerscope.metrics.offgrid`) and report it
            in ``.offgrid``. It ranks resized grids well but photographs have strong peaks
            of their own, so it does not enter the verdict. Costs about one more score.

    Returns:
        A :class:`CheckerboardScore` with ``db``, ``amplitude``, ``significance`` and
        ``verdict`` per image.

    Raises:
        CheckerscopeError: for a bad rank, dtype, layout or period, or a period that does
            not fit twice in the input.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> image = rng.random((3, 96, 80))  # no grid
        >>> s = checkerboard_score(image)
        >>> -6 < float(s) < 6, s.verdict
        (True, ('clean',))
        >>> tile = np.zeros((4, 4)); tile[1, 2] = 1.0  # one pixel in 16 is brighter
        >>> s = checkerboard_score(image + 0.2 * np.tile(tile, (24, 20)), period="auto")
        >>> s.period, bool(s.db[0] > 10), s.verdict
        ((4, 4), True, ('grid',))
        >>> s.fingerprint[0].round(1)  # the brighter pixel, minus the mean of the tile
        array([[-0. , -0. , -0. , -0. ],
               [-0. ,  0. ,  0.2, -0. ],
               [-0. , -0. , -0. , -0. ],
               [-0. , -0. , -0. , -0. ]])
        >>> s.amplitude  # true RMS 12.3, peak-to-peak 51 levels (0.2 of the range)
        Amplitude(rms=12.6 levels, peak_to_peak=54.8 levels)
        >>> checkerboard_score(np.zeros((2, 3, 4, 5, 6)))
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: expected (H, W), (C, H, W) or (N, C, H, W), got shape (2, 3, 4, 5, 6)
    """  # noqa: E501
    batch = as_batch(x, dims, layout)
    data = batch.data
    if value_range is None:
        value_range = batch.value_range or nominal_range(data)
    elif not value_range > 0:
        raise CheckerscopeError(f"value_range must be positive, got {value_range!r}")
    options = _Options(
        dims,
        float(value_range),
        float(visible),
        float(min_significance),
        bool(offgrid),
        quantisation_step(batch, float(value_range)),
    )
    if isinstance(period, str):
        if period != "auto":
            raise CheckerscopeError(f"period must be an int, a tuple or 'auto', got {period!r}")
        return _score_auto(batch.tensor, options)
    per_axis = _parse_period(period, dims)
    bins = _bins(batch, per_axis, dims)
    peaks = _offgrid_search(batch.tensor) if offgrid else None
    return _result(bins, per_axis, options, peaks=peaks)


def _bins(batch: Batch, period: tuple[int, int], dims: int) -> _Bins:
    """The bins a period reads: direct sums for NumPy input where they cost less, otherwise
    from one ``rfft2`` in torch (on the tensor's device)."""
    cropped = _cropped(batch.data, period, dims)
    height, width = cropped.shape[-2:]
    if isinstance(cropped, np.ndarray) and _direct_is_cheaper(height, width, period):
        return _direct_bins(cropped, period)
    from checkerscope.metrics._spectral import _host_bins, _spectrum

    return _host_bins(_spectrum(_cropped(batch.tensor, period, dims)), period)


def _offgrid_search(batch: torch.Tensor) -> OffGridPeaks:
    from checkerscope.metrics.offgrid import search

    return search(batch)


def _score_auto(batch: torch.Tensor, options: _Options) -> CheckerboardScore:
    """Score at the most significant candidate period, from one shared transform."""
    from checkerscope.metrics._spectral import _host_bins, _periodic_values, _spectrum

    dims = options.dims
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
    bins = {}
    for p in candidates:
        per_axis = (1, p) if dims == 1 else (p, p)
        bins[p] = _host_bins(spectrum, per_axis, _periodic_values(spectrum, per_axis))
        combined = _estimate(bins[p], per_axis, options.step, combined_only=True)
        evidence[p] = float(z_from_log_p(combined.log_p[:, -1]).sum())
    best = max(evidence, key=evidence.__getitem__)
    per_axis = (1, best) if dims == 1 else (best, best)
    peaks = _offgrid_search(batch) if options.offgrid else None
    return _result(bins[best], per_axis, options, evidence, peaks)
