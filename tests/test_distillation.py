"""cs.distill: a fixed student learns its trained teacher's outputs without their grid."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import checkerscope as cs
from checkerscope.auditing.distillation import DistillResult, grid_period
from checkerscope.auditing.projection import data_range_of
from checkerscope.errors import CheckerscopeError
from checkerscope.functional import checkerboard_score as tensor_score
from checkerscope.functional import grid_component


@pytest.fixture(scope="module")
def trained() -> dict:
    """A tiny x4 super-resolver trained for a couple of seconds: its outputs carry a grid."""
    from checkerscope.experiments.data import photo_patches
    from checkerscope.experiments.training import train_super_resolver

    train = photo_patches(128, 32, seed=0)
    evaluation = photo_patches(8, 32, seed=0, split="eval")
    run = train_super_resolver("deconv3", train, evaluation, steps=150, width=8, seed=0)
    return {"teacher": run.model, "inputs": F.avg_pool2d(train, 4), "targets": train}


def _student(teacher: nn.Module, inputs: torch.Tensor) -> nn.Module:
    return cs.fix(teacher, example_input=inputs[:1], weights="project")


def test_distillation_brings_the_student_closer_without_the_grid(trained) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    student = _student(teacher, inputs)
    result = cs.distill(student, teacher, inputs, steps=60, lr=2e-3, reference=trained["targets"])
    assert isinstance(result, DistillResult) and result.student is student
    assert result.steps == 60 and not result.interrupted
    assert result.psnr_degridded_after > result.psnr_degridded_before + 0.3
    assert result.psnr_degridded_after == max(f for _, f, _ in result.history)
    assert result.period == (4, 4)  # two stride-2 deconvolutions
    assert result.faithful
    # the teacher's grid is gone from the student's outputs
    assert result.student_db_after < result.teacher_db - 2
    assert result.excess_db_after < result.excess_db_before
    # the student is the distilled model, in the mode it came in
    assert not student.training or student.training == teacher.training
    text = str(result)
    assert "PSNR vs the de-gridded teacher" in text and "faithful" in text


def test_the_target_is_the_teacher_minus_its_grid(trained) -> None:
    """A student that is the teacher itself starts exactly as far from the target as the
    teacher's grid component is large; the target scores at the score's floor."""
    import copy

    teacher, inputs = trained["teacher"], trained["inputs"]
    result = cs.distill(copy.deepcopy(teacher), teacher, inputs, steps=0, seed=3)
    held = torch.randperm(inputs.shape[0], generator=torch.Generator().manual_seed(3))[:16]
    with torch.no_grad():
        out = teacher(inputs[held])
    target = out - grid_component(out, 4)
    error = float((out - target).double().square().mean())
    peak = data_range_of(out)  # PSNR's peak for this output range
    assert result.psnr_degridded_before == pytest.approx(10 * np.log10(peak**2 / error), abs=1e-3)
    assert result.psnr_teacher_before > 100  # the student is the teacher
    assert float(tensor_score(target, 4).max()) < -60
    assert float(tensor_score(out, 4).median()) > 0


def test_inputs_can_be_a_loader_a_folder_or_noise(trained, tmp_path) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    dataset = torch.utils.data.TensorDataset(inputs, trained["targets"])
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True)
    by_loader = cs.distill(_student(teacher, inputs), teacher, loader, steps=5)
    assert by_loader.steps == 5
    for i in range(3):
        pixels = (np.random.default_rng(i).random((40, 48, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"image{i}.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "too_small.png")
    by_folder = cs.distill(
        _student(teacher, inputs), teacher, str(tmp_path), steps=5, example_input=inputs[:1]
    )
    assert by_folder.steps == 5
    data_free = cs.distill(
        _student(teacher, inputs), teacher, "noise", steps=5, example_input=inputs[:1]
    )
    assert data_free.steps == 5 and np.isfinite(data_free.psnr_teacher_after)


def test_a_generator_distils_data_free_from_latents() -> None:
    torch.manual_seed(0)
    teacher = nn.Sequential(
        nn.ConvTranspose2d(8, 8, 4, 1, 0),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.ConvTranspose2d(8, 3, 4, 2, 1),
        nn.Tanh(),
    ).eval()
    latent = torch.randn(1, 8, 1, 1)
    student = cs.fix(teacher, example_input=latent, weights="project", calibration="noise")
    result = cs.distill(student, teacher, "noise", steps=30, example_input=latent, lr=3e-3)
    assert result.psnr_teacher_after > result.psnr_teacher_before
    # the generator's BatchNorm kept the teacher's statistics (trained in eval mode)
    assert torch.equal(student[1].running_mean, teacher[1].running_mean)


def test_ctrl_c_keeps_the_best_state(trained) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    student = _student(teacher, inputs)
    seen: list[int] = []

    def interrupt_at_40(step: int, steps: int, fidelity: float, score: float) -> None:
        seen.append(step)
        if step >= 40:
            raise KeyboardInterrupt

    result = cs.distill(
        student, teacher, inputs, steps=200, eval_every=10, progress=interrupt_at_40
    )
    assert result.interrupted and result.steps == 40 and seen[-1] == 40
    best = max(result.history, key=lambda entry: entry[1])
    assert result.best_step == best[0]
    assert result.psnr_degridded_after == pytest.approx(best[1], abs=1e-6)
    assert "interrupted" in str(result)


def test_a_layer_that_must_paint_high_frequencies_is_flagged() -> None:
    """A teacher whose upsampler modulates its input onto the Nyquist frequencies (the
    residual-denoiser case): no resize-convolution can produce that, so the result says so."""
    teacher = nn.Sequential(nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False))
    with torch.no_grad():
        teacher[0].weight.copy_(torch.tensor([[[[1.0, -1.0], [-1.0, 1.0]]]]))
    example = torch.rand(1, 1, 16, 16)
    student = cs.fix(teacher, example_input=example, weights="project", calibration="noise")
    with pytest.warns(UserWarning, match="cannot be replaced faithfully"):
        result = cs.distill(student, teacher, "noise", steps=20, example_input=example)
    assert not result.faithful and "cannot be replaced faithfully" in result.message
    assert result.psnr_degridded_after < 22


def test_a_penalty_and_a_period_can_be_given(trained) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    result = cs.distill(_student(teacher, inputs), teacher, inputs, steps=5, penalty=0.01, period=2)
    assert result.period == (2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measured = cs.distill(_student(teacher, inputs), teacher, inputs, steps=0)
    assert measured.steps == 0 and measured.best_step == 0
    assert measured.psnr_degridded_after == pytest.approx(measured.psnr_degridded_before)


def test_a_progress_bar_draws_on_stderr(trained, capsys) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    cs.distill(_student(teacher, inputs), teacher, inputs, steps=3, progress=True)
    assert capsys.readouterr().out == ""


def test_one_dimensional_models_distil() -> None:
    torch.manual_seed(1)
    teacher = nn.Sequential(nn.ConvTranspose1d(4, 4, 16, stride=8, padding=4), nn.Tanh())
    example = torch.randn(1, 4, 12)
    student = cs.fix(teacher, example_input=example, weights="project", calibration="noise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: far from any resize-conv
        result = cs.distill(student, teacher, "noise", steps=10, example_input=example)
    assert result.period == (8,) and result.steps == 10


def test_bad_arguments_are_one_line_errors(trained, tmp_path) -> None:
    teacher, inputs = trained["teacher"], trained["inputs"]
    student = _student(teacher, inputs)
    cases = [
        ({"inputs": inputs, "steps": -1}, "steps must be"),
        ({"inputs": inputs, "batch_size": 0}, "batch_size"),
        ({"inputs": inputs, "lr": 0.0}, "lr must be"),
        ({"inputs": "noise"}, "needs example_input"),
        ({"inputs": str(tmp_path / "missing")}, "is not a folder"),
        ({"inputs": str(tmp_path), "example_input": inputs[:1]}, "no image of at least"),
        ({"inputs": 3}, "inputs must be"),
        ({"inputs": torch.zeros(5)}, "batch axis"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CheckerscopeError, match=message):
            cs.distill(student, teacher, **kwargs)
    other = nn.Sequential(nn.ConvTranspose2d(3, 3, 2, stride=2))
    with pytest.raises(CheckerscopeError, match="differs from the teacher"):
        cs.distill(other, teacher, inputs, steps=1)


def test_grid_period_compounds_the_upsamplers() -> None:
    assert grid_period(nn.Sequential(nn.Conv2d(1, 1, 3))) == 2
    assert (
        grid_period(nn.Sequential(nn.ConvTranspose1d(1, 1, 16, 8), nn.ConvTranspose1d(1, 1, 4, 2)))
        == 16
    )
