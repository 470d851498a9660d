"""Small models, training loops and measurements shared by the training claims (C6-C10).

The models are deliberately tiny (tens of thousands of weights, 16-64 pixel images) so
that every claim trains in seconds to minutes on a laptop CPU. What they share:

* :func:`upsample_layer` builds one x2 upsampling layer of a named kind: ``"deconv3"``
  (transposed conv, kernel 3, stride 2: uneven overlap), ``"deconv4"`` (kernel 4, stride
  2: even overlap), ``"resize"`` (nearest-neighbour resize then conv), ``"bilinear"``
  (bilinear resize then conv) and ``"subpixel"`` (ICNR-initialised sub-pixel conv).
* :class:`SuperResolver` is a x4 upsampler whose last upsampling layer writes the RGB
  image itself, as in DCGAN generators, so no later stride-1 layer can filter the
  pattern that layer leaves (claim C4 is about such a layer; here we want the raw one).
* :func:`train` is a plain Adam loop with checkpoints and progress reports.
* :func:`excess_db`, :func:`high_frequency_fraction`, :func:`psnr` and :func:`rank_correlation`
  turn model outputs into the numbers the claims are judged on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError

__all__ = [
    "UPSAMPLE_KINDS",
    "SuperResolver",
    "TrainLog",
    "excess_db",
    "high_frequency_fraction",
    "psnr",
    "rank_correlation",
    "score_db",
    "train",
    "upsample_layer",
]

#: The x2 upsampling layers the experiments compare.
UPSAMPLE_KINDS: tuple[str, ...] = ("deconv3", "deconv4", "resize", "bilinear", "subpixel")

#: Human-readable labels for figures and summaries.
KIND_LABELS: dict[str, str] = {
    "deconv3": "deconv k3 s2 (uneven)",
    "deconv4": "deconv k4 s2 (even)",
    "resize": "NN resize-conv",
    "bilinear": "bilinear resize-conv",
    "subpixel": "sub-pixel (ICNR)",
}


def upsample_layer(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    """One x2 upsampling layer of the given kind (output side exactly twice the input's).

    Args:
        kind: one of :data:`UPSAMPLE_KINDS`.
        in_channels: input channels.
        out_channels: output channels.

    Returns:
        The layer.

    Raises:
        CheckerscopeError: for an unknown kind.

    Examples:
        >>> [tuple(upsample_layer(k, 4, 2)(torch.zeros(1, 4, 5, 5)).shape) for k in UPSAMPLE_KINDS]
        [(1, 2, 10, 10), (1, 2, 10, 10), (1, 2, 10, 10), (1, 2, 10, 10), (1, 2, 10, 10)]
    """
    from checkerscope.zoo import _upsample_x2

    return _upsample_x2(kind, in_channels, out_channels)


class SuperResolver(nn.Module):
    """A x2^stages upsampler: a 3x3 conv, then ``stages`` x2 layers of one kind.

    Images go in and come out in [0, 1]; inside, values are centred on 0 so that the
    biases start near the average colour. The last upsampling layer writes the three
    colour channels directly.

    Args:
        kind: the upsampling layer, one of :data:`UPSAMPLE_KINDS`.
        width: feature channels between layers.
        stages: number of x2 layers.

    Examples:
        >>> SuperResolver("resize", width=8)(torch.rand(2, 3, 8, 8)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, kind: str, width: int = 32, stages: int = 2) -> None:
        super().__init__()
        if stages < 1:
            raise CheckerscopeError(f"stages must be at least 1, got {stages}")
        self.kind = kind
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for stage in range(stages):
            last = stage == stages - 1
            layers.append(upsample_layer(kind, width, 3 if last else width))
            if not last:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Upsample (N, 3, h, w) images in [0, 1] to (N, 3, h * 2^stages, w * 2^stages)."""
        return self.body(2.0 * images - 1.0) * 0.5 + 0.5


@dataclass
class TrainLog:
    """What :func:`train` recorded.

    Attributes:
        steps: the checkpoint steps, in order (0 means before any update).
        losses: the training loss of every step.
        checkpoints: what the ``evaluate`` callback returned at each checkpoint step.
        seconds: wall time of the loop.
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    checkpoints: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def train(
    model: nn.Module,
    loss_of_step: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float = 2e-3,
    checkpoints: Sequence[int] = (),
    evaluate: Callable[[int], dict] | None = None,
    progress: Callable[[float], None] | None = None,
) -> TrainLog:
    """Minimise ``loss_of_step(step)`` over ``model``'s parameters with Adam.

    Args:
        model: the module trained (its parameters are the ones updated).
        loss_of_step: builds the batch for a step and returns its scalar loss.
        steps: number of updates.
        lr: Adam learning rate.
        checkpoints: steps (0..steps) after which ``evaluate`` is called; 0 is before training.
        evaluate: called with the step at each checkpoint, in eval mode and without
            gradients; its dict is stored in the log.
        progress: called with the fraction done about every 5% of the steps.

    Returns:
        The :class:`TrainLog`.
    """
    import time

    start = time.perf_counter()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    wanted = sorted(set(int(s) for s in checkpoints if 0 <= s <= steps))

    def checkpoint(step: int) -> None:
        if evaluate is None or step not in wanted:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            log.checkpoints.append(evaluate(step))
        model.train(was_training)
        log.steps.append(step)

    model.train()
    checkpoint(0)
    report_every = max(1, steps // 20)
    for step in range(1, steps + 1):
        optimiser.zero_grad(set_to_none=True)
        loss = loss_of_step(step)
        loss.backward()
        optimiser.step()
        log.losses.append(float(loss.detach()))
        checkpoint(step)
        if progress is not None and step % report_every == 0:
            progress(step / steps)
    log.seconds = time.perf_counter() - start
    return log


def score_db(images: torch.Tensor | np.ndarray, period: int | str = 2) -> np.ndarray:
    """The checkerboard score (dB) of each image in an (N, C, H, W) batch.

    Examples:
        >>> grid = torch.zeros(1, 1, 16, 16); grid[..., ::2, ::2] = 1.0
        >>> bool(score_db(grid + 0.01 * torch.rand(1, 1, 16, 16))[0] > 10)
        True
    """
    from checkerscope.metrics import checkerboard_score

    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    return np.asarray(checkerboard_score(images, period=period).db, dtype=np.float64).reshape(-1)


def excess_db(outputs: torch.Tensor, targets: torch.Tensor, period: int | str = 2) -> np.ndarray:
    """Per image: score of the output minus score of its target (dB), same period.

    A model that reproduces its targets' own spectrum scores near 0; a grid the model
    adds scores above 0.
    """
    return score_db(outputs, period) - score_db(targets, period)


def high_frequency_fraction(images: torch.Tensor, cutoff: float = 0.5) -> np.ndarray:
    """Per image: the fraction of (mean-removed) spectral energy above ``cutoff`` x Nyquist.

    The radial frequency of each DFT bin is measured in units of the Nyquist frequency
    (max of the two axes' normalised frequencies, so the region is the outside of a
    square); channels are pooled.

    Examples:
        >>> flat = torch.ones(1, 3, 16, 16); noise = torch.rand(1, 3, 16, 16)
        >>> bool(high_frequency_fraction(noise)[0] > 0.5)
        True
    """
    array = images.detach().cpu().double()
    array = array - array.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(array).abs().square().sum(dim=1)
    h, w = power.shape[-2:]
    fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None] * 2
    fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :] * 2
    high = torch.maximum(fy, fx) > cutoff
    total = power.sum(dim=(-2, -1)).clamp_min(1e-30)
    return (power[..., high].sum(dim=-1) / total).numpy()


def psnr(outputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Per image peak signal-to-noise ratio (dB) for images in [0, 1] (outputs clipped).

    Examples:
        >>> round(float(psnr(torch.full((1, 3, 4, 4), 0.1), torch.zeros(1, 3, 4, 4))[0]), 6)
        20.0
    """
    error = (outputs.detach().clamp(0, 1) - targets).double().square().mean(dim=(1, 2, 3))
    return (10.0 * torch.log10(1.0 / error.clamp_min(1e-12))).numpy()


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (ties get mean ranks).

    Examples:
        >>> rank_correlation([1, 2, 3, 4], [10, 20, 25, 40])
        1.0
        >>> rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])
        -1.0
    """
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    if ra.size != rb.size or ra.size < 2:
        raise CheckerscopeError("rank_correlation needs two sequences of the same length >= 2")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def median_iqr(values: np.ndarray) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile) of finite values, as floats."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (float("nan"),) * 3
    q1, med, q3 = np.percentile(finite, [25, 50, 75])
    return float(q1), float(med), float(q3)


def resample_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resampling of (N, C, H, W) to ``size`` x ``size`` (a reference baseline)."""
    return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)


@dataclass
class SuperResolutionRun:
    """A trained :class:`SuperResolver` and what was measured along the way.

    Attributes:
        model: the trained model (on the device it was trained on, in eval mode).
        log: the training log; each checkpoint dict holds ``"excess_p<period>"`` (per-image
            excess score, list of floats) for every period asked, ``"mse"`` and ``"step"``.
        final_outputs: the model's outputs for the evaluation inputs after training (CPU).
    """

    model: SuperResolver
    log: TrainLog
    final_outputs: torch.Tensor


def train_super_resolver(
    kind: str,
    train_targets: torch.Tensor,
    eval_targets: torch.Tensor,
    *,
    factor: int = 4,
    steps: int,
    width: int = 32,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    checkpoints: Sequence[int] = (),
    periods: Sequence[int | str] = (2, 4),
    device: str = "cpu",
    progress: Callable[[float], None] | None = None,
    extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SuperResolutionRun:
    """Train a :class:`SuperResolver` to rebuild targets from their box-downsampled versions.

    The loss is the mean squared error; batches are drawn (with a seeded generator) from
    ``train_targets``. At each checkpoint the model upsamples the box-downsampled
    ``eval_targets`` and the outputs are scored against the targets' own scores.

    Args:
        kind: the upsampling layer (:data:`UPSAMPLE_KINDS`).
        train_targets: (N, 3, H, W) high-resolution training images in [0, 1].
        eval_targets: (M, 3, H, W) held-out high-resolution images.
        factor: upsampling factor, a power of two (2 per stage).
        steps: number of Adam updates.
        width: feature channels.
        batch_size: images per update.
        lr: Adam learning rate.
        seed: seeds the initial weights and the batch order.
        checkpoints: steps at which the outputs are scored (0 = at initialisation).
        periods: checkerboard periods scored at each checkpoint.
        device: torch device for the model.
        progress: called with the fraction of training done.
        extra_loss: added to the MSE of each batch, computed from the batch's outputs
            (claim C14's checkerboard penalty).

    Returns:
        The :class:`SuperResolutionRun`.
    """
    stages = int(round(np.log2(factor)))
    if 2**stages != factor or stages < 1:
        raise CheckerscopeError(f"factor must be a power of two >= 2, got {factor}")
    torch.manual_seed(seed)
    model = SuperResolver(kind, width=width, stages=stages).to(device)
    train_inputs = F.avg_pool2d(train_targets, factor).to(device)
    train_targets = train_targets.to(device)
    eval_inputs = F.avg_pool2d(eval_targets, factor).to(device)
    batches = torch.Generator().manual_seed(seed)

    def loss_of_step(step: int) -> torch.Tensor:
        index = torch.randint(0, train_targets.shape[0], (batch_size,), generator=batches)
        index = index.to(device)
        outputs = model(train_inputs[index])
        loss = F.mse_loss(outputs, train_targets[index])
        return loss if extra_loss is None else loss + extra_loss(outputs)

    def evaluate(step: int) -> dict:
        outputs = model(eval_inputs).cpu()
        result: dict = {"step": step, "mse": float(F.mse_loss(outputs, eval_targets))}
        for period in periods:
            result[f"excess_p{period}"] = excess_db(outputs, eval_targets, period).tolist()
        return result

    log = train(
        model,
        loss_of_step,
        steps=steps,
        lr=lr,
        checkpoints=checkpoints,
        evaluate=evaluate,
        progress=progress,
    )
    model.eval()
    with torch.no_grad():
        final = model(eval_inputs).cpu()
    return SuperResolutionRun(model=model, log=log, final_outputs=final)


def checkpoint_steps(steps: int, count: int) -> list[int]:
    """``count`` roughly log-spaced checkpoint steps from 0 to ``steps`` (both included).

    Examples:
        >>> checkpoint_steps(1000, 6)
        [0, 20, 53, 141, 376, 1000]
    """
    if count < 2 or steps < 1:
        return [0, max(steps, 0)]
    raw = np.geomspace(max(1.0, steps / 50), steps, count - 1)
    picked = sorted({0, *(int(round(v)) for v in raw), steps})
    return picked
