"""Distil a trained model into its fixed copy: keep the skill, lose the grid.

``cs.fix(model, weights="project")`` gives an artifact-free student that already computes
nearly what the trained teacher computes; :func:`distill` trains the student to match the
teacher's outputs **with the grid removed**: the target is the teacher's output minus the
period-``p`` pattern that makes its checkerboard score
(:func:`checkerscope.functional.grid_component`, solved per output and channel, tiled), at
the period the teacher's upsampling layers paint (their compound stride; ``period=``
overrides it). The target then scores at the score's floor; a student that cannot paint a
grid has nothing to unlearn, and nothing pushes it to imitate the grid through its borders.

What ``inputs`` can be:

* a tensor of model inputs (batch first): batches are drawn from it;
* a ``torch.utils.data.DataLoader`` (or any iterable of batches; the first tensor of a
  tuple, list or dict batch is the input), cycled;
* a folder of images (``str`` or ``Path``): read as RGB or gray in ``[0, 1]``, random
  crops of the example input's size;
* ``"noise"``: data-free, fresh draws of :func:`checkerscope.auditing.projection.noise_inputs`
  every step (random latents for generators, smooth 1/f images for image-to-image models).

The student is trained in eval mode (normalisation statistics frozen, no dropout) with Adam
and a cosine learning-rate decay; every ``eval_every`` steps it is compared with the teacher
on held-out inputs, and the best state (by PSNR against the de-gridded teacher) is kept
and restored at the end, also when training is interrupted with Ctrl-C. When the student
stays far from the teacher (:data:`MIN_FIDELITY_DB`) the result says the replaced layers
cannot be replaced faithfully, and a warning is issued, instead of a silently worse model.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> import checkerscope as cs
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> teacher = nn.Sequential(nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1), nn.Sigmoid())
    >>> example = torch.rand(1, 3, 8, 8)
    >>> student = cs.fix(teacher, example_input=example, weights="project")
    >>> result = cs.distill(student, teacher, "noise", example_input=example, steps=20)
    >>> result.steps, result.psnr_degridded_after >= result.psnr_degridded_before
    (20, True)
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from checkerscope.auditing.projection import data_range_of, noise_inputs, psnr_db
from checkerscope.errors import CheckerscopeError

__all__ = ["MIN_FIDELITY_DB", "DistillResult", "crops_from_folder", "distill", "grid_period"]

#: Below this PSNR against the de-gridded teacher (dB) the student is not a faithful copy.
MIN_FIDELITY_DB = 28.0
#: Held-out inputs the student is evaluated on.
EVAL_INPUTS = 16
#: Pixels cut from each border for the interior score.
INTERIOR_BORDER = 8

_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)

#: ``progress(step, steps, psnr_degridded_db, score_db)``, called at every evaluation.
ProgressCallback = Callable[[int, int, float, float], None]


@dataclass
class DistillResult:
    """What :func:`distill` did and how close the student came.

    PSNRs are over the held-out inputs, against the teacher's outputs as they are
    (``psnr_teacher_*``) and with their grid removed (``psnr_degridded_*``, what the student
    is trained on); the peak is 1 for outputs in ``[0, 1]``, 2 for ``[-1, 1]``, otherwise
    the teacher outputs' range. Scores are medians over the held-out outputs at ``period``
    (dB; about 0 for grid-free natural content), of the whole output and of its interior
    (``INTERIOR_BORDER`` samples cut from each border). ``excess_*`` is a score minus the
    median score of ``reference`` images when :func:`distill` was given some, else minus 0.

    Attributes:
        student: the distilled student (the same object that was passed, best state loaded).
        steps: steps run; best_step: the step whose state was kept (0 = the start).
        interrupted: whether Ctrl-C stopped the run.
        seconds: wall time.
        period: the grid period removed from the targets and scored.
        faithful: ``False`` when the best PSNR against the de-gridded teacher stays below
            ``min_fidelity_db``: the replaced layers cannot be replaced faithfully.
        history: ``(step, psnr_degridded_db, score_db)`` at each evaluation.
    """

    student: nn.Module
    steps: int
    best_step: int
    interrupted: bool
    seconds: float
    period: tuple[int, ...]
    psnr_teacher_before: float
    psnr_teacher_after: float
    psnr_degridded_before: float
    psnr_degridded_after: float
    teacher_db: float
    student_db_before: float
    student_db_after: float
    teacher_interior_db: float
    student_interior_db_after: float
    reference_db: float
    faithful: bool
    min_fidelity_db: float
    history: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def excess_db_before(self) -> float:
        """The teacher's score over the reference: the grid the user had."""
        return self.teacher_db - self.reference_db

    @property
    def excess_db_after(self) -> float:
        """The distilled student's score over the reference."""
        return self.student_db_after - self.reference_db

    @property
    def message(self) -> str:
        """One line: the verdict in words."""
        if self.faithful:
            return (
                f"faithful: {self.psnr_degridded_after:.1f} dB against the de-gridded teacher, "
                f"grid {self.excess_db_before:+.1f} dB -> {self.excess_db_after:+.1f} dB"
            )
        return (
            f"cannot be replaced faithfully: after {self.steps} steps the student matches the "
            f"de-gridded teacher at only {self.psnr_degridded_after:.1f} dB "
            f"(< {self.min_fidelity_db:.0f} dB); the replaced layers produce what their "
            "artifact-free family cannot (e.g. high-frequency residuals): keep the original "
            "or retrain"
        )

    def __str__(self) -> str:
        period = "x".join(map(str, self.period))
        stopped = " (interrupted: best state kept)" if self.interrupted else ""
        return "\n".join(
            [
                f"distilled {self.steps} steps in {self.seconds:.1f} s{stopped}, best at step "
                f"{self.best_step}",
                f"PSNR vs the teacher:            {self.psnr_teacher_before:5.1f} dB -> "
                f"{self.psnr_teacher_after:5.1f} dB",
                f"PSNR vs the de-gridded teacher: {self.psnr_degridded_before:5.1f} dB -> "
                f"{self.psnr_degridded_after:5.1f} dB",
                f"score at period {period}: teacher {self.teacher_db:+.1f} dB, student "
                f"{self.student_db_before:+.1f} dB -> {self.student_db_after:+.1f} dB "
                f"(interior: teacher {self.teacher_interior_db:+.1f} dB, student "
                f"{self.student_interior_db_after:+.1f} dB)",
                self.message,
            ]
        )


# --------------------------------------------------------------------------- period


def grid_period(model: nn.Module) -> int:
    """The period a model's upsamplers paint: the product of the strides of its strided
    transposed convolutions and pixel-shuffle factors (2 when it has none).

    Examples:
        >>> from torch import nn
        >>> up = [nn.ConvTranspose2d(1, 1, 3, stride=2) for _ in range(2)]
        >>> grid_period(nn.Sequential(up[0], nn.ReLU(), up[1], nn.PixelShuffle(3)))
        12
    """
    period = 1
    for module in model.modules():
        if isinstance(module, _DECONVS):
            period *= max(int(s) for s in module.stride)
        elif isinstance(module, nn.PixelShuffle):
            period *= int(module.upscale_factor)
    return max(period, 2)


def _fitting_period(
    period: int | Sequence[int] | None, teacher: nn.Module, shape: Sequence[int]
) -> tuple[int, tuple[int, ...]]:
    dims = len(shape) - 2
    if dims not in (1, 2):
        raise CheckerscopeError(
            f"distill needs outputs (N, C, T) or (N, C, H, W), got shape {tuple(shape)}"
        )
    if period is None:
        wanted = grid_period(teacher)
        smallest = min(shape[2:])
        while wanted > 2 and smallest < 2 * wanted:
            wanted //= 2
        per_axis: tuple[int, ...] = (wanted,) * dims
    elif isinstance(period, int):
        per_axis = (period,) * dims
    else:
        per_axis = tuple(int(p) for p in period)
    return dims, per_axis


# --------------------------------------------------------------------------- inputs


def _first_tensor(batch: Any) -> Tensor:
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            if isinstance(item, Tensor):
                return item
    raise CheckerscopeError(f"cannot find an input tensor in a batch of {type(batch).__name__}")


def crops_from_folder(folder: Path, example: Tensor, count: int, seed: int) -> Tensor:
    """``count`` random crops, of ``example``'s size, of the images in ``folder``.

    Images are read in ``[0, 1]`` (see :func:`checkerscope.load_image`); RGB images become
    gray by their mean for one-channel models, gray ones are repeated for RGB models;
    images smaller than the crop are skipped.

    Raises:
        CheckerscopeError: when the model does not take images or no image is big enough.
    """
    from checkerscope.imageio import iter_image_paths, load_image

    if example.ndim != 4:
        raise CheckerscopeError(
            f"a folder of images needs an image model; the example input is {tuple(example.shape)}"
        )
    channels, height, width = example.shape[1:]
    images = []
    for path in iter_image_paths([folder]):
        image = torch.from_numpy(load_image(path))
        if image.shape[0] != channels:
            image = image.mean(dim=0, keepdim=True) if channels == 1 else image[:1]
            image = image.expand(channels, -1, -1)
        if image.shape[1] >= height and image.shape[2] >= width:
            images.append(image)
    if not images:
        raise CheckerscopeError(
            f"{folder}: no image of at least {height}x{width} pixels to crop model inputs from"
        )
    rng = np.random.default_rng(seed)
    crops = torch.empty(count, channels, height, width)
    for i in range(count):
        image = images[int(rng.integers(len(images)))]
        top = int(rng.integers(image.shape[1] - height + 1))
        left = int(rng.integers(image.shape[2] - width + 1))
        crops[i] = image[:, top : top + height, left : left + width]
    return crops.to(dtype=example.dtype if example.is_floating_point() else torch.float32)


class _Source:
    """Training batches and held-out evaluation inputs from what the user gave."""

    def __init__(
        self, inputs: Any, example: Tensor | None, batch_size: int, seed: int, device: Any
    ) -> None:
        self.batch_size = batch_size
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.tensor: Tensor | None = None
        self.iterator: Iterator[Any] | None = None
        self.loader: Iterable[Any] | None = None
        self.noise = isinstance(inputs, str) and inputs == "noise"
        if self.noise:
            if example is None:
                raise CheckerscopeError("inputs='noise' needs example_input (one model input)")
            self.example = example
            self.evaluation = noise_inputs(example, EVAL_INPUTS, seed=seed + 10_000)
        elif isinstance(inputs, (str, Path)):
            folder = Path(inputs)
            if not folder.is_dir():
                raise CheckerscopeError(
                    f"inputs must be a tensor, a DataLoader, a folder of images or 'noise'; "
                    f"{str(inputs)!r} is not a folder"
                )
            if example is None:
                raise CheckerscopeError("a folder of images needs example_input (the input size)")
            crops = crops_from_folder(folder, example, 512 + EVAL_INPUTS, seed)
            self.tensor, self.evaluation = crops[EVAL_INPUTS:], crops[:EVAL_INPUTS]
        elif isinstance(inputs, Tensor):
            if inputs.ndim < 2 or inputs.shape[0] < 1:
                raise CheckerscopeError(
                    f"an input tensor needs a batch axis, got shape {tuple(inputs.shape)}"
                )
            self.tensor = inputs
            held = torch.randperm(inputs.shape[0], generator=self.generator)[:EVAL_INPUTS]
            self.evaluation = inputs[held]
        elif isinstance(inputs, Iterable):
            self.loader = inputs
            collected: list[Tensor] = []
            for batch in inputs:
                collected.append(_first_tensor(batch))
                if sum(b.shape[0] for b in collected) >= EVAL_INPUTS:
                    break
            if not collected:
                raise CheckerscopeError("the DataLoader gave no batch")
            self.evaluation = torch.cat(collected)[:EVAL_INPUTS]
        else:
            raise CheckerscopeError(
                "inputs must be a tensor, a DataLoader, a folder of images or 'noise', got "
                f"{type(inputs).__name__}"
            )
        self.evaluation = self.evaluation.to(device)

    def batch(self, step: int) -> Tensor:
        if self.noise:
            return noise_inputs(self.example, self.batch_size, seed=self.seed + step).to(
                self.device
            )
        if self.tensor is not None:
            index = torch.randint(
                0, self.tensor.shape[0], (self.batch_size,), generator=self.generator
            )
            return self.tensor[index].to(self.device)
        assert self.loader is not None
        for _ in range(2):
            if self.iterator is None:
                self.iterator = iter(self.loader)
            try:
                return _first_tensor(next(self.iterator)).to(self.device)
            except StopIteration:
                self.iterator = None
        raise CheckerscopeError("the DataLoader gave no batch")  # pragma: no cover


# --------------------------------------------------------------------------- measuring


def _median_score(outputs: Tensor, period: tuple[int, ...], dims: int, border: int = 0) -> float:
    from checkerscope.metrics import checkerboard_score

    if border:
        for axis in range(2, outputs.dim()):
            size = outputs.shape[axis]
            if size - 2 * border >= 2 * max(period):
                outputs = outputs.narrow(axis, border, size - 2 * border)
    score = checkerboard_score(outputs.detach().float().cpu(), period=period, dims=dims)
    return float(np.median(score.db))


def _run(model: nn.Module, inputs: Tensor) -> Tensor:
    from checkerscope.auditing.tracing import run_model

    outputs = []
    with torch.no_grad():
        for start in range(0, inputs.shape[0], 8):
            outputs.append(run_model(model, inputs[start : start + 8]))
    return torch.cat(outputs)


def _rich_progress() -> tuple[Any, ProgressCallback]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("distilling"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("distil", total=1, status="")

    def update(step: int, steps: int, fidelity: float, score: float) -> None:
        bar.update(
            task,
            completed=step,
            total=steps,
            status=f"PSNR {fidelity:.1f} dB, score {score:+.1f} dB",
        )

    return bar, update


# --------------------------------------------------------------------------- distill


def distill(
    student: nn.Module,
    teacher: nn.Module,
    inputs: Any,
    steps: int = 1000,
    lr: float = 1e-3,
    penalty: float = 0.0,
    *,
    example_input: Tensor | None = None,
    batch_size: int = 16,
    period: int | Sequence[int] | None = None,
    eval_every: int | None = None,
    reference: Tensor | None = None,
    min_fidelity_db: float = MIN_FIDELITY_DB,
    progress: bool | ProgressCallback = False,
    seed: int = 0,
) -> DistillResult:
    """Train ``student`` to reproduce ``teacher``'s outputs without their grid.

    Args:
        student: the model to train in place (usually ``cs.fix(teacher, weights="project")``).
        teacher: the trained model (left unchanged, run without gradients).
        inputs: a tensor of model inputs, a DataLoader, a folder of images or ``"noise"``
            (see the module docstring).
        steps: optimisation steps (0 only measures).
        lr: Adam's initial learning rate (cosine decay to a tenth of it).
        penalty: weight of :func:`checkerscope.losses.checkerboard_penalty` on the
            student's outputs (0: none). A resize-convolution student has exact zeros at the
            grid's frequencies in the interior already, so a penalty only acts through the
            borders; use it for students that can paint a grid.
        example_input: one model input; needed for ``"noise"`` and folders.
        batch_size: inputs per step (for tensors, folders and noise).
        period: the grid period to remove and score; by default :func:`grid_period` of the
            teacher (halved until it fits twice in the output).
        eval_every: steps between evaluations (default ``steps // 20``, at most 50).
        reference: optional grid-free images (e.g. training targets) whose median score
            is the zero of ``excess_db_*``.
        min_fidelity_db: below this PSNR against the de-gridded teacher the result is
            flagged ``faithful=False`` (and a warning is issued).
        progress: ``True`` draws a progress bar on stderr; a callable receives
            ``(step, steps, psnr_degridded_db, score_db)`` at every evaluation.
        seed: seeds the batches and the held-out inputs.

    Returns:
        A :class:`DistillResult`.

    Raises:
        CheckerscopeError: for bad inputs, a negative step count, or models whose outputs
            differ in shape.
    """
    from checkerscope.functional import grid_component
    from checkerscope.losses import checkerboard_penalty

    if not isinstance(steps, int) or steps < 0:
        raise CheckerscopeError(f"steps must be an int >= 0, got {steps!r}")
    if batch_size < 1:
        raise CheckerscopeError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise CheckerscopeError(f"lr must be > 0, got {lr}")
    parameters = [p for p in student.parameters() if p.requires_grad]
    device = parameters[0].device if parameters else torch.device("cpu")
    source = _Source(inputs, example_input, batch_size, seed, device)
    modes = [(m, m.training) for m in (student, teacher)]
    student.eval()
    teacher.eval()
    started = time.perf_counter()
    try:
        teacher_out = _run(teacher, source.evaluation).float()
        student_out = _run(student, source.evaluation).float()
        if teacher_out.shape != student_out.shape:
            raise CheckerscopeError(
                f"student output {tuple(student_out.shape)} differs from the teacher's "
                f"{tuple(teacher_out.shape)}"
            )
        dims, per_axis = _fitting_period(period, teacher, teacher_out.shape)
        score_period: tuple[int, ...] = per_axis if dims == 2 else per_axis[:1]
        component_period = per_axis if dims == 2 else per_axis[0]
        degridded = teacher_out - grid_component(teacher_out, component_period, dims)
        data_range = data_range_of(teacher_out)

        def evaluate() -> tuple[float, float, Tensor]:
            outputs = _run(student, source.evaluation).float()
            fidelity = psnr_db(outputs, degridded, data_range)
            return fidelity, _median_score(outputs, score_period, dims), outputs

        fidelity_before, score_before, _ = evaluate()
        history = [(0, fidelity_before, score_before)]
        best = (fidelity_before, 0, copy.deepcopy(student.state_dict()))
        every = eval_every or max(1, min(50, steps // 20))
        callback: ProgressCallback | None = None
        bar = None
        if progress is True:
            bar, callback = _rich_progress()
            bar.start()
        elif callable(progress):
            callback = progress
        if callback is not None:
            callback(0, steps, fidelity_before, score_before)
        optimiser = torch.optim.Adam(parameters, lr=lr) if parameters and steps else None
        schedule = (
            torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps, eta_min=lr / 10)
            if optimiser is not None
            else None
        )
        done = 0
        interrupted = False
        try:
            for step in range(1, steps + 1):
                if optimiser is None:
                    break
                x = source.batch(step)
                with torch.no_grad():
                    target = teacher(x)
                    target = target - grid_component(target, component_period, dims)
                out = student(x)
                loss = (out - target).square().mean()
                if penalty:
                    loss = loss + penalty * checkerboard_penalty(out, component_period, dims)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                assert schedule is not None
                schedule.step()
                done = step
                if step % every == 0 or step == steps:
                    fidelity, score, _ = evaluate()
                    history.append((step, fidelity, score))
                    if fidelity > best[0]:
                        best = (fidelity, step, copy.deepcopy(student.state_dict()))
                    if callback is not None:
                        callback(step, steps, fidelity, score)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.stop()
        student.load_state_dict(best[2])
        final = _run(student, source.evaluation).float()
    finally:
        for module, mode in modes:
            module.train(mode)
    reference_db = _median_score(reference, score_period, dims) if reference is not None else 0.0
    result = DistillResult(
        student=student,
        steps=done,
        best_step=best[1],
        interrupted=interrupted,
        seconds=time.perf_counter() - started,
        period=score_period,
        psnr_teacher_before=psnr_db(student_out, teacher_out, data_range),
        psnr_teacher_after=psnr_db(final, teacher_out, data_range),
        psnr_degridded_before=fidelity_before,
        psnr_degridded_after=psnr_db(final, degridded, data_range),
        teacher_db=_median_score(teacher_out, score_period, dims),
        student_db_before=score_before,
        student_db_after=_median_score(final, score_period, dims),
        teacher_interior_db=_median_score(teacher_out, score_period, dims, INTERIOR_BORDER),
        student_interior_db_after=_median_score(final, score_period, dims, INTERIOR_BORDER),
        reference_db=reference_db,
        faithful=psnr_db(final, degridded, data_range) >= min_fidelity_db,
        min_fidelity_db=min_fidelity_db,
        history=history,
    )
    if not result.faithful:
        warnings.warn(result.message, stacklevel=2)
    return result
