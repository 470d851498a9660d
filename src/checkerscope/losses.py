"""A differentiable checkerboard penalty for training: ``loss + lam * checkerboard_penalty(out)``.

The penalty is the score's own ratio (see :mod:`checkerscope.functional`): the energy of
the output's periodic component at the period's non-DC harmonic bins over the energy
their neighbouring bins predict there, pooled over channels, as ``log(1 + ratio)``:

* about ``log 2 = 0.69`` for a grid-free image (ratio about 1), and it grows like
  ``score_dB / 4.34`` once a grid stands out, so a strong grid cannot swamp the task loss
  and a faint one still has a gradient;
* it is a function of the score alone, so it ranks images exactly as the score does;
* the whole ratio is differentiated, neighbours included (checked with ``gradcheck``).

When it helps, and when it does not: a nearest resize-convolution (or a phase-balanced
deconvolution) already has exact zeros at these bins in the interior, so for such a
network the penalty can only act through the image borders. Claim C14
(``checkerscope reproduce --only C14``) measures whether it pays on a transposed
convolution.

Examples:
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> clean = torch.rand(2, 3, 32, 32, requires_grad=True)
    >>> grid = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(16, 16)
    >>> penalty = checkerboard_penalty(clean + 0.2 * grid)
    >>> penalty.backward()
    >>> penalty.ndim, bool(penalty > checkerboard_penalty(clean.detach())), clean.grad.shape
    (0, True, torch.Size([2, 3, 32, 32]))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.functional import harmonic_energy_ratio

__all__ = ["checkerboard_penalty"]

_REDUCTIONS = ("mean", "sum", "none")


def checkerboard_penalty(
    x: torch.Tensor,
    period: int | Sequence[int] = 2,
    dims: int = 2,
    reduction: str = "mean",
) -> torch.Tensor:
    """``log(1 + harmonic / expected)`` per image: the checkerboard score as a loss term.

    Differentiable, batched, on ``x``'s device; monotone in
    :func:`checkerscope.functional.checkerboard_score` (``ratio = 10 ** (dB / 10)``).

    Args:
        x: ``(N, C, H, W)`` images (or ``(C, H, W)``, ``(H, W)``), or ``(N, C, T)`` signals
            with ``dims=1``; floating point.
        period: the grid period to penalise, an int or one per axis. For a stack of
            ``k`` stride-2 layers, period ``2**k`` covers the harmonics of all of them.
        dims: 2 for images, 1 for signals.
        reduction: ``"mean"`` (default) or ``"sum"`` over the batch, or ``"none"`` for
            one value per image.

    Returns:
        A scalar (or ``(N,)`` with ``reduction="none"``).

    Raises:
        CheckerscopeError: for an unknown reduction, or what
            :func:`checkerscope.functional.checkerboard_score` refuses.

    Examples:
        >>> import torch
        >>> round(float(checkerboard_penalty(torch.ones(2, 1, 8, 8))), 4)  # constant: ratio 1
        0.6931
    """
    if reduction not in _REDUCTIONS:
        raise CheckerscopeError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    harmonic, expected = harmonic_energy_ratio(x, period, dims)
    per_image = torch.log1p(harmonic / expected)
    if reduction == "none":
        return per_image
    return per_image.sum() if reduction == "sum" else per_image.mean()
