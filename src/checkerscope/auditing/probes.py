"""Measured checkerboard scores of a model: at random init, with its weights, of gradients.

Every probe runs on the model itself inside :func:`~checkerscope.auditing.wrappers.preserved`
(nothing is deep-copied, so models with legacy weight norm work) with dropout switched to
eval mode and the random generators seeded: the same model gives the same numbers on every
run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from checkerscope.auditing.tracing import output_tensors, run_model
from checkerscope.auditing.wrappers import copy_model, preserved, reset_parameters_

__all__ = [
    "MAX_PROBE_PERIOD",
    "Probe",
    "candidate_periods",
    "gradient_outputs",
    "natural_noise",
    "probe_outputs",
    "reinitialise",
    "score_outputs",
]

#: Longest period scored: longer ones sit at low frequencies that image content dominates.
MAX_PROBE_PERIOD = 16


@dataclass(frozen=True)
class Probe:
    """A measured checkerboard score (median over samples) at each candidate period.

    Attributes:
        what: ``"init"`` (fresh random weights, one model per seed), ``"given"`` (the
            model's own weights) or ``"gradient"`` (``d sum(model(x)) / dx``).
        db_by_period: median score in dB for each period scored.
        period: the dominant period (highest median score).
        db: per-sample scores at the dominant period.
        fingerprint: mean polyphase pattern at the dominant period (what the grid looks
            like), ``(p, p)`` for images, ``(p,)`` for signals.
        samples: number of outputs scored.
    """

    what: str
    db_by_period: dict[int, float]
    period: int
    db: np.ndarray
    fingerprint: np.ndarray
    samples: int

    @property
    def median_db(self) -> float:
        """The median score at the dominant period."""
        return self.db_by_period[self.period]

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "period": self.period,
            "median_db": round(self.median_db, 3),
            "db_by_period": {str(p): round(v, 3) for p, v in self.db_by_period.items()},
            "db": [round(float(v), 3) for v in self.db],
            "fingerprint": np.round(self.fingerprint, 6).tolist(),
            "samples": self.samples,
        }


def candidate_periods(structural: Sequence[int], spatial: Sequence[int]) -> list[int]:
    """The periods worth scoring: divisors of the structural period that fit twice.

    Examples:
        >>> candidate_periods((8, 8), (64, 64)), candidate_periods((2,), (3,))
        ([2, 4, 8], [])
    """
    period = max(structural) if structural else 2
    size = min(spatial) if spatial else 0
    found = [
        p for p in range(2, min(period, MAX_PROBE_PERIOD) + 1) if period % p == 0 and 2 * p <= size
    ]
    if not found and size >= 4:
        found = [2]
    return found


def natural_noise(
    shape: Sequence[int], dims: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian noise with a natural image's ``1/f`` amplitude spectrum on the last ``dims``
    axes, unit variance per sample.

    White noise is the wrong probe for image-to-image models: it makes the neighbouring
    outputs of a nearest resize differ as much as distant ones, which no photograph does.

    Examples:
        >>> x = natural_noise((2, 3, 32, 32), dims=2, generator=torch.Generator().manual_seed(0))
        >>> tuple(x.shape), round(float(x[0].std()), 2)
        ((2, 3, 32, 32), 1.0)
    """
    white = torch.randn(tuple(shape), generator=generator)
    axes = tuple(range(-dims, 0))
    spectrum = torch.fft.rfftn(white, dim=axes)
    grids = []
    for i, axis in enumerate(axes):
        n = white.shape[axis]
        freq = torch.fft.rfftfreq(n) if i == dims - 1 else torch.fft.fftfreq(n)
        view = [1] * dims
        view[i] = -1
        grids.append(freq.reshape(view) ** 2)
    radius = torch.sqrt(sum(grids)).clamp_min(1.0 / max(white.shape[a] for a in axes))  # type: ignore[arg-type]
    noise = torch.fft.irfftn(spectrum / radius, s=white.shape[-dims:], dim=axes)
    flat = noise.reshape(noise.shape[0], -1)
    flat = (flat - flat.mean(dim=1, keepdim=True)) / flat.std(dim=1, keepdim=True)
    return flat.reshape(noise.shape)


def probe_inputs(example: Any, seed: int, batch: int, dims: int = 2) -> Any:
    """Random inputs like ``example``: natural noise for images and sounds, white noise for
    latent codes; non-float inputs (labels, masks of ints) are passed on unchanged."""
    generator = torch.Generator().manual_seed(seed)

    def draw(x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            return x
        shape = (batch, *x.shape[1:]) if x.dim() else x.shape
        if x.dim() >= dims + 2 and min(shape[-dims:]) >= 8:  # an image (or a sound)
            noise = natural_noise(shape, dims, generator)
        else:  # a latent code: white by definition
            noise = torch.randn(shape, generator=generator)
        return noise.to(dtype=x.dtype, device=x.device)

    if isinstance(example, (tuple, list)):
        return tuple(draw(x) for x in example)
    return draw(example)


def score_outputs(
    outputs: torch.Tensor, periods: Sequence[int], dims: int, what: str
) -> Probe | None:
    """Score a batch of outputs (or gradients) at each period; keep the dominant one."""
    from checkerscope.metrics import checkerboard_score

    if not periods:
        return None
    outputs = outputs.detach().float().cpu()
    if dims == 1:
        outputs = outputs.reshape(outputs.shape[0], -1, outputs.shape[-1])
    elif dims == 3:  # score the middle depth slice of volumes
        outputs = outputs[:, :, outputs.shape[2] // 2]
    by_period: dict[int, Any] = {}
    for p in periods:
        by_period[p] = checkerboard_score(outputs, period=p, dims=1 if dims == 1 else 2)
    medians = {p: float(np.median(s.db)) for p, s in by_period.items()}
    best = max(medians, key=lambda p: medians[p])
    score = by_period[best]
    return Probe(
        what=what,
        db_by_period=medians,
        period=best,
        db=np.asarray(score.db, dtype=float),
        fingerprint=np.asarray(score.fingerprint, dtype=float).mean(axis=0),
        samples=len(score.db),
    )


@contextlib.contextmanager
def deterministic(model: nn.Module, seed: int) -> Iterator[None]:
    """Dropout in eval mode and the random generators seeded (restored afterwards)."""
    dropouts = [
        m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.training
    ]
    for module in dropouts:
        module.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        for module in dropouts:
            module.train()


def probe_outputs(
    model: nn.Module,
    example: Any,
    draws: int,
    batch: int,
    dims: int,
    fresh: bool,
    progress: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Outputs of ``draws`` forward passes on random inputs, each with fresh random weights
    (``fresh=True``, seed ``i``) or the given ones; the model is restored afterwards."""
    outputs = []
    with preserved(model), torch.no_grad():
        for i in range(draws):
            if fresh:
                reset_parameters_(model, seed=i)
            with deterministic(model, seed=3000 + i):
                outputs.append(run_model(model, probe_inputs(example, 1000 + i, batch, dims)))
            if progress is not None:
                progress()
    return torch.cat([o.float() for o in outputs])


def gradient_outputs(
    model: nn.Module,
    example: Any,
    draws: int,
    batch: int,
    dims: int,
    progress: Callable[[], None] | None = None,
) -> torch.Tensor | None:
    """``d sum(outputs) / d input`` for ``draws`` random inputs (eval mode); every output
    tensor counts, each by its mean (a multi-scale discriminator's scales alike)."""
    if not isinstance(example, torch.Tensor) or not example.is_floating_point():
        return None
    grads = []
    with preserved(model):
        model.eval()
        for i in range(draws):
            x = probe_inputs(example, 2000 + i, batch, dims).requires_grad_(True)
            with deterministic(model, seed=4000 + i):
                raw = model(x)
            objective = sum(
                (t.float().mean() for _, t in output_tensors(raw) if t.is_floating_point()),
                torch.zeros(()),
            )
            if not objective.requires_grad:
                return None
            (grad,) = torch.autograd.grad(objective, x)
            grads.append(grad)
            if progress is not None:
                progress()
    return torch.cat(grads)


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every ``reset_parameters()`` called under ``seed``.

    Examples:
        >>> a = reinitialise(nn.Linear(3, 2), seed=1)
        >>> b = reinitialise(nn.Linear(3, 2), seed=1)
        >>> bool(torch.equal(a.weight, b.weight))
        True
    """
    return reset_parameters_(copy_model(model), seed)
