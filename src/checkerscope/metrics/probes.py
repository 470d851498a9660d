"""Probes: the score of freshly initialised models and of input gradients.

:func:`probe_init` scores what random weights paint (the article's checkerboards before any
training); :func:`probe_gradients` scores ``d reduce(model(x)) / dx`` (its checkerboards in
gradients).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics.score import CheckerboardScore, _ScoresInDb, checkerboard_score

__all__ = ["GradientProbe", "InitProbe", "probe_gradients", "probe_init"]


class _ProbeScores(_ScoresInDb):
    """A probe's scores; ``float()`` of a probe is their median."""

    def __float__(self) -> float:
        return self.median_db


@dataclass(frozen=True, repr=False)
class InitProbe(_ProbeScores):
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
class GradientProbe(_ProbeScores):
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
