"""Watch the checkerboard score while a model trains: a plain-loop monitor, a Lightning callback.

:class:`CheckerboardMonitor` needs nothing but torch: call ``update(samples, step)`` every
few epochs with a batch of generated images (or signals); it returns scalars ready for any
logger, keeps the history, renders the fingerprint (what one period of the grid looks like)
as an image, and warns when the score rises.

:class:`CheckerboardCallback` does the same inside a ``lightning.pytorch.Trainer`` (the
optional extra: ``pip install 'checkerscope[lightning]'``): every ``every_n_epochs``
validation epochs it scores samples, logs ``checkerboard/db`` through ``pl_module.log``
and the fingerprint through the trainer's loggers (TensorBoard ``add_image``, loggers with
``log_image`` such as Weights & Biases, or a PNG in the logger's folder otherwise).

When does it warn? When the median score of the samples is at least ``rise_db`` above the
lowest median seen so far **and** at least ``warn_above_db`` (the score's "faint grid"
threshold, 10 dB): a model drifting from -8 to -4 dB has no grid; one climbing from 4 to
14 dB is growing one.

Examples:
    >>> import torch
    >>> monitor = CheckerboardMonitor(period=2)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> clean = torch.rand(4, 3, 32, 32)
    >>> logs = monitor.update(clean, step=0)
    >>> sorted(logs), logs["checkerboard/db"] < 10
    (['checkerboard/db', 'checkerboard/db_max'], True)
    >>> grid = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(16, 16)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = monitor.update(clean + 0.3 * grid, step=1)
    >>> "rose" in str(caught[0].message)
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from checkerscope.errors import CheckerscopeError

__all__ = ["CheckerboardCallback", "CheckerboardMonitor", "fingerprint_image"]

try:  # the optional extra
    from lightning.pytorch.callbacks import Callback as _LightningCallback

    _HAVE_LIGHTNING = True
except ImportError:  # pragma: no cover - depends on the environment
    _LightningCallback = object  # type: ignore[assignment,misc]
    _HAVE_LIGHTNING = False

#: Pixels per fingerprint cell in :func:`fingerprint_image`.
CELL = 16


def fingerprint_image(fingerprint: np.ndarray, cell: int = CELL) -> np.ndarray:
    """One period of the grid as an RGB ``uint8`` image ``(p_h * cell, p_w * cell, 3)``.

    Red is brighter than the mean, blue darker, white the mean; the colours are relative to
    the largest deviation (a grid of any amplitude fills the scale). 1-D fingerprints
    ``(p,)`` become one row.

    Examples:
        >>> import numpy as np
        >>> image = fingerprint_image(np.array([[1.0, -1.0], [-1.0, 1.0]]), cell=2)
        >>> image.shape, image[0, 0].tolist(), image[0, 2].tolist()
        ((4, 4, 3), [255, 0, 0], [0, 0, 255])
    """
    pattern = np.atleast_2d(np.asarray(fingerprint, dtype=np.float64))
    if pattern.ndim != 2:
        raise CheckerscopeError(f"expected a (p,) or (p_h, p_w) fingerprint, got {pattern.shape}")
    largest = float(np.abs(pattern).max())
    scaled = pattern / largest if largest > 0 else pattern
    red = np.where(scaled > 0, 1.0, 1.0 + scaled)
    blue = np.where(scaled < 0, 1.0, 1.0 - scaled)
    green = 1.0 - np.abs(scaled)
    rgb = np.stack([red, green, blue], axis=-1)
    rgb = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    return (rgb * 255).round().astype(np.uint8)


class CheckerboardMonitor:
    """Score batches of samples during training; keep the history; warn when it rises.

    Args:
        period: the grid period (an int or one per axis; a stack of ``k`` stride-2 layers
            paints periods up to ``2**k``).
        dims: 2 for images ``(N, C, H, W)``, 1 for signals ``(N, C, T)``.
        rise_db: how far above the lowest median so far the score must climb to warn.
        warn_above_db: and the level it must reach (10 dB: the score's "faint grid").
        name: prefix of the logged keys.

    Attributes:
        history: ``(step, median_db)`` of every update.
        fingerprint: the latest batch's mean fingerprint (``None`` before any update).
    """

    def __init__(
        self,
        period: int | Sequence[int] = 2,
        dims: int = 2,
        rise_db: float = 3.0,
        warn_above_db: float = 10.0,
        name: str = "checkerboard",
    ) -> None:
        from checkerscope.metrics import _parse_period

        _parse_period(period, dims)  # validates period and dims
        self.period = period
        self.dims = dims
        self.rise_db = rise_db
        self.warn_above_db = warn_above_db
        self.name = name
        self.history: list[tuple[int, float]] = []
        self.fingerprint: np.ndarray | None = None

    def update(self, samples: torch.Tensor, step: int | None = None) -> dict[str, float]:
        """Score a batch; returns ``{"<name>/db": median, "<name>/db_max": max}``.

        Warns (``UserWarning``) when the median rose by ``rise_db`` over the lowest so far
        and reached ``warn_above_db``.
        """
        from checkerscope.metrics import checkerboard_score

        if not isinstance(samples, torch.Tensor):
            raise CheckerscopeError(f"samples must be a tensor, got {type(samples).__name__}")
        score = checkerboard_score(samples.detach().float().cpu(), self.period, self.dims)
        median = float(np.median(score.db))
        step = len(self.history) if step is None else int(step)
        lowest = min((db for _, db in self.history), default=math.inf)
        self.history.append((step, median))
        self.fingerprint = score.fingerprint.mean(axis=0)
        if median >= self.warn_above_db and median >= lowest + self.rise_db:
            warnings.warn(
                f"checkerboard score rose to {median:+.1f} dB at step {step} "
                f"(lowest so far {lowest:+.1f} dB): the outputs are growing a grid",
                stacklevel=2,
            )
        return {f"{self.name}/db": median, f"{self.name}/db_max": float(np.max(score.db))}

    def fingerprint_image(self) -> np.ndarray:
        """The latest fingerprint as an RGB image (see :func:`fingerprint_image`)."""
        if self.fingerprint is None:
            raise CheckerscopeError("no fingerprint yet: call update() first")
        return fingerprint_image(self.fingerprint)

    def plot(self, ax: Any = None) -> tuple[Any, Any]:
        """The median score over steps, as a matplotlib ``(figure, axes)``."""
        from checkerscope._extras import pyplot

        plt = pyplot("CheckerboardMonitor.plot")

        if ax is None:
            figure, ax = plt.subplots(figsize=(5, 3))
        else:
            figure = ax.figure
        steps = [s for s, _ in self.history]
        ax.plot(steps, [db for _, db in self.history], marker="o")
        ax.axhline(self.warn_above_db, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("step")
        ax.set_ylabel("checkerboard score (dB)")
        return figure, ax


class CheckerboardCallback(_LightningCallback):  # type: ignore[misc,valid-type]
    """A ``lightning.pytorch`` callback: score validation samples every ``every_n_epochs``.

    The samples are ``pl_module(inputs)`` for fixed ``inputs`` (latents for a generator,
    images for an image-to-image model) when given; otherwise what ``validation_step``
    returns: a tensor, or a dict holding one under ``output_key``, up to ``num_samples``.

    Args:
        inputs: fixed model inputs, or ``None`` to use ``validation_step``'s outputs.
        every_n_epochs: score every this many validation epochs.
        period: the grid period.
        dims: 2 for images, 1 for signals.
        num_samples: at most this many samples per scoring.
        rise_db: see :class:`CheckerboardMonitor`.
        warn_above_db: see :class:`CheckerboardMonitor`.
        output_key: the key of the samples in a dict returned by ``validation_step``.
        log_image: also log the fingerprint image through the trainer's loggers.

    Attributes:
        monitor: the :class:`CheckerboardMonitor` (history, last fingerprint).
    """

    def __init__(
        self,
        inputs: torch.Tensor | None = None,
        every_n_epochs: int = 1,
        period: int | Sequence[int] = 2,
        dims: int = 2,
        num_samples: int = 16,
        rise_db: float = 3.0,
        warn_above_db: float = 10.0,
        output_key: str = "samples",
        log_image: bool = True,
    ) -> None:
        if not _HAVE_LIGHTNING:  # pragma: no cover - depends on the environment
            from checkerscope._extras import require

            # one line naming the extra (CheckerboardMonitor works without it)
            require("lightning", "lightning", "CheckerboardCallback")
        super().__init__()
        if every_n_epochs < 1:
            raise CheckerscopeError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.inputs = inputs
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.output_key = output_key
        self.log_image = log_image
        self.monitor = CheckerboardMonitor(period, dims, rise_db, warn_above_db)
        self._collected: list[torch.Tensor] = []
        self._told_no_samples = False

    def _due(self, trainer: Any) -> bool:
        return not trainer.sanity_checking and (
            (trainer.current_epoch + 1) % self.every_n_epochs == 0
        )

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._collected = []

    def on_validation_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.inputs is not None or not self._due(trainer):
            return
        if isinstance(outputs, dict):
            outputs = outputs.get(self.output_key)
        if isinstance(outputs, torch.Tensor) and outputs.ndim == self.monitor.dims + 2:
            have = sum(t.shape[0] for t in self._collected)
            if have < self.num_samples:
                self._collected.append(outputs.detach()[: self.num_samples - have].cpu())

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._due(trainer):
            return
        samples = self._samples(pl_module)
        if samples is None:
            if not self._told_no_samples:
                warnings.warn(
                    "CheckerboardCallback found no samples: pass inputs=, or return the "
                    f"generated batch (or {{'{self.output_key}': batch}}) from validation_step",
                    stacklevel=2,
                )
                self._told_no_samples = True
            return
        logs = self.monitor.update(samples, step=trainer.current_epoch)
        for key, value in logs.items():
            pl_module.log(key, value)
        if self.log_image:
            self._log_fingerprint(trainer)

    def _samples(self, pl_module: Any) -> torch.Tensor | None:
        if self.inputs is not None:
            with torch.no_grad():
                return pl_module(self.inputs[: self.num_samples].to(pl_module.device))
        return torch.cat(self._collected) if self._collected else None

    def _log_fingerprint(self, trainer: Any) -> None:
        image = self.monitor.fingerprint_image()
        step = trainer.current_epoch
        key = f"{self.monitor.name}/fingerprint"
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if experiment is not None and hasattr(experiment, "add_image"):
                experiment.add_image(key, image, step, dataformats="HWC")
            elif hasattr(logger, "log_image"):
                logger.log_image(key=key, images=[image], step=step)
            elif getattr(logger, "log_dir", None):
                from PIL import Image

                folder = Path(logger.log_dir) / "checkerboard"
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"fingerprint_epoch{step:04d}.png")
