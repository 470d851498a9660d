"""The no-grid null: how large a harmonic bin's energy gets by chance.

Without a grid, the DFT coefficient of a locally stationary image at a bin is a zero-mean
Gaussian whose variance the neighbouring bins share. Its energy over that variance is then a
unit-mean exponential (a complex bin) or a chi-square with one degree of freedom (a
self-conjugate bin: DC and Nyquist on both axes). The score compares a harmonic bin's
energy ``E`` with the *median* ``m`` of ``n`` neighbouring energies, which is itself random:
by Rényi's representation the median of ``n`` unit exponentials is a weighted sum of
independent unit exponentials ``Z_i``,

``m = sum_i c_i Z_i``,  ``c_i = 1 / (n - i)`` for ``i < j``, plus ``1 / (2 (n - j))`` for
even ``n`` (``j = ceil(n / 2)``), so

``P(E / m > t) = E[exp(-t m)] = prod_i 1 / (1 + t c_i)``  (complex bins, exactly), and

``P(E / m > t) = (2 / pi) int_0^{pi/2} prod_i 1 / (1 + t c_i / (2 sin^2 u)) du``  (real
bins, by Craig's formula for the Gaussian tail), integrated numerically.

These are exact when the neighbours are independent exponentials with the harmonic's own
mean; the slope correction in :mod:`checkerscope.metrics.score` makes them so for power-law
spectra. The test suite checks both formulas against simulation.

Everything here works on NumPy arrays in float64: it runs on the few values per image the
score reads, on the host, whatever device the image came from.

Examples:
    >>> import numpy as np
    >>> np.exp(log_survival(np.array([1.0, 10.0]), real=False, count=24)).round(4)
    array([0.4992, 0.0035])
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

__all__ = ["log_survival", "log_sidak", "median_weights", "z_from_log_p"]

# Gauss-Legendre nodes on (0, pi/2) for Craig's formula.
_CRAIG_NODES = 48


@lru_cache(maxsize=64)
def median_weights(count: int) -> tuple[float, ...]:
    """Weights ``c_i`` of the sample median of ``count`` unit exponentials (Rényi).

    Examples:
        >>> median_weights(3)  # the middle of three: Z_1 / 3 + Z_2 / 2
        (0.3333333333333333, 0.5)
        >>> round(sum(median_weights(2001)), 3)  # expected median: log 2
        0.693
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    middle = (count + 1) // 2
    weights = [1.0 / (count - i) for i in range(middle)]
    if count % 2 == 0:
        weights.append(1.0 / (2 * (count - middle)))
    return tuple(weights)


@lru_cache(maxsize=1)
def _craig() -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(_CRAIG_NODES)
    angle = (nodes + 1.0) * math.pi / 4.0
    log_weights = np.log(weights * math.pi / 4.0 * 2.0 / math.pi)
    scale = 1.0 / (2.0 * np.sin(angle) ** 2)
    return scale, log_weights


def log_survival(ratio: np.ndarray, real: bool, count: int) -> np.ndarray:
    """``log P(E / m > ratio)`` under the null, elementwise.

    Args:
        ratio: Energy of a harmonic bin over the median of its neighbours' energies.
        real: Whether the bin is self-conjugate (its energy is chi-square with one degree of
            freedom) rather than complex (exponential).
        count: The number of distinct neighbour energies the median was taken over.

    Returns:
        The natural log of the tail probability, same shape as ``ratio``, float64.
    """
    weights = np.array(median_weights(count))
    ratio = np.maximum(np.asarray(ratio, dtype=np.float64), 0.0)
    if not real:
        return -np.log1p(ratio[..., None] * weights).sum(-1)
    scale, log_weights = _craig()
    terms = np.log1p(ratio[..., None, None] * scale[:, None] * weights).sum(-1)
    return np.minimum(np.logaddexp.reduce(log_weights - terms, axis=-1), 0.0)


def log_sidak(log_p_min: np.ndarray, tests: int) -> np.ndarray:
    """Log p-value of the smallest of ``tests`` independent p-values: ``1 - (1 - p)^tests``.

    Examples:
        >>> np.exp(log_sidak(np.array([math.log(0.01)]), 3)).round(4)
        array([0.0297])
    """
    log_p_min = np.asarray(log_p_min, dtype=np.float64)
    p_min = np.exp(log_p_min)
    with np.errstate(divide="ignore"):
        exact = np.log(-np.expm1(tests * np.log1p(-np.minimum(p_min, 1 - 1e-16))))
    # where p underflows the union bound takes over: tests * p is then exact to double
    return np.minimum(np.where(log_p_min < -700.0, log_p_min + math.log(tests), exact), 0.0)


_STANDARD_NORMAL = NormalDist()


def z_from_log_p(log_p: np.ndarray) -> np.ndarray:
    """The one-sided standard normal quantile of ``p``: ``z`` with ``P(Z > z) = p``.

    Tiny p-values (down to ``exp(-700)`` and beyond) keep their order: below ``1e-300`` the
    asymptotic expansion of the Gaussian tail is used.

    Examples:
        >>> z_from_log_p(np.array([math.log(0.5), math.log(0.00135), -2000.0])).round(2)
        array([ 0.  ,  3.  , 63.17])
    """
    log_p = np.minimum(np.asarray(log_p, dtype=np.float64), 0.0)
    direct = np.zeros_like(log_p)
    moderate = log_p > -690.0
    for index in zip(*np.nonzero(moderate), strict=True):
        p = math.exp(log_p[index])
        direct[index] = -math.inf if p >= 1.0 else 0.0 - _STANDARD_NORMAL.inv_cdf(p)
    # P(Z > z) ~ phi(z) / z: solve z^2 / 2 + log z + log sqrt(2 pi) = -log p by iteration
    z = np.sqrt(-2.0 * log_p)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(4):
            z = np.sqrt(np.maximum(-2.0 * (log_p + np.log(z) + 0.5 * math.log(2 * math.pi)), 0))
    return np.where(moderate, direct, z)
