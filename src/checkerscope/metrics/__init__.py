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
  DFTs of the two border strips and subtracted at the few bins the score reads; the cost
  stays one ``rfft2`` of the image (torch tensors, ``period="auto"``), or less: NumPy
  images at small periods take just the bins read as direct DFT sums, in NumPy alone
  (``checkerscope score`` never imports torch for them).
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

Beside ``db`` every result carries the grid's ``amplitude`` (RMS and peak-to-peak, in the
input's units, 8-bit grey levels and percent of the range; it does not grow with the image),
its ``significance`` (a z-score against the no-grid null, :mod:`checkerscope.metrics.null`)
and a ``verdict`` that needs both a significant and a visible grid
(:mod:`checkerscope.metrics.score`). :mod:`checkerscope.metrics.inputs` says what inputs
are read and how; :mod:`checkerscope.metrics.offgrid` finds periodic peaks at any frequency.

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

from typing import Any

# private names the tests read from here
from checkerscope.metrics._layout import (  # noqa: F401
    _NEIGHBOURS,
    _cropped,
    _layout,
    _parse_period,
)
from checkerscope.metrics.score import (
    AUTO_PERIODS,
    SIGNIFICANT_Z,
    VISIBLE_LEVELS,
    Amplitude,
    CheckerboardScore,
    checkerboard_score,
)

__all__ = [
    "AUTO_PERIODS",
    "SIGNIFICANT_Z",
    "VISIBLE_LEVELS",
    "Amplitude",
    "CheckerboardScore",
    "OffGridPeaks",
    "GradientProbe",
    "InitProbe",
    "checkerboard_score",
    "probe_gradients",
    "probe_init",
]

# Names whose modules import torch, imported on first use: scoring NumPy images (what
# `checkerscope score` does) never pays torch's import, about 2 s.
_IMPORTED_ON_USE = {
    "OffGridPeaks": "checkerscope.metrics.offgrid",
    "GradientProbe": "checkerscope.metrics.probes",
    "InitProbe": "checkerscope.metrics.probes",
    "probe_gradients": "checkerscope.metrics.probes",
    "probe_init": "checkerscope.metrics.probes",
}


def __getattr__(name: str) -> Any:
    if name in _IMPORTED_ON_USE:
        import importlib

        return getattr(importlib.import_module(_IMPORTED_ON_USE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
