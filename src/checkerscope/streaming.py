"""A ``torchmetrics`` metric: log the checkerboard score of generated samples while training.

Needs the optional extra: ``pip install 'checkerscope[metrics]'`` (torchmetrics). Its
states are sums (of per-image dB, of images, of images above a threshold), reduced with
``sum`` across processes, so ``compute()`` under ``torch.distributed`` equals the metric
over all processes' samples, and ``merge_state`` of two metrics equals one metric fed
with both streams.

Examples:
    >>> import torch
    >>> metric = CheckerboardMetric(threshold_db=20.0)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> clean = torch.rand(4, 3, 64, 64)
    >>> grid = clean + 0.5 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(32, 32)
    >>> metric.update(clean)
    >>> metric.update(grid)
    >>> result = metric.compute()
    >>> sorted(result), float(result["fraction_above"])
    (['fraction_above', 'mean_db'], 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import checkerboard_score

try:
    from torchmetrics import Metric
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "checkerscope.streaming.CheckerboardMetric needs torchmetrics: "
        "pip install 'checkerscope[metrics]'"
    ) from exc

__all__ = ["CheckerboardMetric"]


class CheckerboardMetric(Metric):
    """Running mean of :func:`~checkerscope.metrics.checkerboard_score` over images.

    Args:
        period: The grid period (an int or one int per axis; ``"auto"`` is refused: a
            running mean must use one period for every batch).
        dims: 2 for images ``(N, C, H, W)``, 1 for signals ``(N, C, T)``.
        threshold_db: If set, ``compute()`` also returns the fraction of images scoring
            above it.
        **kwargs: Passed to :class:`torchmetrics.Metric` (e.g. ``sync_on_compute``).

    ``compute()`` returns the mean score in dB as a 0-dim float tensor on the metric's
    device, which ``LightningModule.log("name", metric)`` accepts as it is, or a dict
    ``{"mean_db": ..., "fraction_above": ...}`` of such tensors when ``threshold_db`` is
    set (log it with ``self.log_dict(metric.compute())`` at the end of the epoch, then
    ``metric.reset()``). ``plot()`` draws the value, or a sequence of values (one per
    epoch), with matplotlib.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    sum_db: torch.Tensor
    count: torch.Tensor
    count_above: torch.Tensor

    def __init__(
        self,
        period: int | Sequence[int] = 2,
        dims: int = 2,
        threshold_db: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(period, str):
            raise CheckerscopeError(
                f"CheckerboardMetric needs a fixed period (an int or a tuple), got {period!r}"
            )
        self.period = period
        self.dims = dims
        self.threshold_db = threshold_db
        # validate period and dims once, on a tiny input that fits any period
        checkerboard_score(torch.zeros(self._probe_shape()), period=period, dims=dims)
        dtype = torch.float64
        self.add_state("sum_db", default=torch.tensor(0.0, dtype=dtype), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state(
            "count_above", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum"
        )

    def _probe_shape(self) -> tuple[int, ...]:
        largest = max(self.period) if isinstance(self.period, Sequence) else int(self.period)
        side = 2 * max(largest, 1)
        return (side, side) if self.dims == 2 else (side,)

    def update(self, images: torch.Tensor) -> None:  # type: ignore[override]
        """Score a batch (``(N, C, H, W)``, or any shape ``checkerboard_score`` accepts)."""
        db = torch.as_tensor(
            checkerboard_score(images, period=self.period, dims=self.dims).db,
            dtype=torch.float64,
            device=self.sum_db.device,
        )
        self.sum_db += db.sum()
        self.count += db.numel()
        if self.threshold_db is not None:
            self.count_above += int((db > self.threshold_db).sum())

    def compute(self) -> torch.Tensor | dict[str, torch.Tensor]:  # type: ignore[override]
        """Mean dB over every image seen (NaN before any), and the fraction above."""
        count = self.count.to(torch.float64)
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=self.sum_db.device)
        scalar = torch.get_default_dtype()
        mean_db = (self.sum_db / count if self.count > 0 else nan).to(scalar)
        if self.threshold_db is None:
            return mean_db
        fraction = (self.count_above / count if self.count > 0 else nan).to(scalar)
        return {"mean_db": mean_db, "fraction_above": fraction}

    def plot(  # type: ignore[override]
        self,
        val: torch.Tensor | Sequence[torch.Tensor] | dict[str, torch.Tensor] | None = None,
        ax: Any = None,
    ) -> tuple[Any, Any]:
        """Plot the current value (``val=None``), one value, or a sequence of values.

        Returns:
            matplotlib ``(figure, axes)``.

        Examples:
            >>> import torch
            >>> metric = CheckerboardMetric()
            >>> values = []
            >>> for epoch in range(3):
            ...     metric.update(torch.rand(2, 3, 32, 32))
            ...     values.append(metric.compute())
            >>> figure, axes = metric.plot(values)
            >>> type(figure).__name__
            'Figure'
        """
        return self._plot(val, ax)
