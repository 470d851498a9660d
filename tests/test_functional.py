"""The tensor score (checkerscope.functional) and the penalty (checkerscope.losses).

The reference is checkerscope.metrics.checkerboard_score, the NumPy-returning score the
rest of the project is validated on: the tensor score must equal its ``.db`` everywhere,
the penalty must be a monotone function of it, and both must have true gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope import functional as CSF
from checkerscope.errors import CheckerscopeError
from checkerscope.losses import checkerboard_penalty
from checkerscope.metrics import checkerboard_score

CHECKER = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])


def _photo(size: int = 64) -> torch.Tensor:
    from checkerscope.experiments.data import photo_patches

    return photo_patches(1, size, seed=3, split="eval")


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(8, 40),
    width=st.integers(8, 40),
    channels=st.integers(1, 3),
    batch=st.integers(1, 3),
    period=st.sampled_from([2, 3, 4, (2, 1), (1, 2), (4, 2)]),
    amplitude=st.sampled_from([0.0, 0.05, 1.0]),
    seed=st.integers(0, 2**16),
    double=st.booleans(),
)
def test_score_equals_the_metric_on_images(
    height, width, channels, batch, period, amplitude, seed, double
) -> None:
    per_axis = (period, period) if isinstance(period, int) else period
    if height < 2 * per_axis[0] or width < 2 * per_axis[1]:
        return
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.float64 if double else torch.float32
    x = torch.rand(batch, channels, height, width, generator=generator, dtype=dtype)
    tile = torch.randn(per_axis, generator=generator, dtype=dtype)
    reps = (math.ceil(height / per_axis[0]), math.ceil(width / per_axis[1]))
    x = x + amplitude * tile.repeat(*reps)[:height, :width]
    got = CSF.checkerboard_score(x, period=period)
    expected = checkerboard_score(x, period=period).db
    assert got.shape == (batch,) and got.dtype == dtype
    tolerance = 1e-9 if double else 2e-3
    np.testing.assert_allclose(got.numpy(), expected, atol=tolerance, rtol=0)


@pytest.mark.parametrize("length", [16, 33, 200])
@pytest.mark.parametrize("period", [2, 4, 8])
def test_score_equals_the_metric_on_signals(length: int, period: int) -> None:
    if length < 2 * period:
        return
    x = torch.randn(2, 2, length, generator=torch.Generator().manual_seed(length))
    x[1] += 0.3 * torch.tensor([1.0] + [0.0] * (period - 1)).repeat(length // period + 1)[:length]
    np.testing.assert_allclose(
        CSF.checkerboard_score(x, period=period, dims=1).numpy(),
        checkerboard_score(x, period=period, dims=1).db,
        atol=2e-3,
    )


def test_score_of_ranks_and_degenerate_inputs() -> None:
    image = _photo(32)[0]
    assert CSF.checkerboard_score(image).shape == (1,)
    assert CSF.checkerboard_score(image[0]).shape == (1,)
    assert float(CSF.checkerboard_score(torch.full((3, 16, 16), 0.7))[0]) == 0.0
    half = CSF.checkerboard_score(image.half())
    assert half.dtype == torch.float32
    assert abs(float(half[0]) - float(checkerboard_score(image).db[0])) < 0.2
    for bad, message in [
        (torch.zeros(2, 2, 2, 8, 8), "expected \\(H, W\\)"),
        (torch.zeros(3, 8, 8, dtype=torch.long), "floating-point"),
        (torch.zeros(1, 1, 3, 16), "height 3 is too small"),
    ]:
        with pytest.raises(CheckerscopeError, match=message):
            CSF.checkerboard_score(bad)
    with pytest.raises(CheckerscopeError, match="torch.Tensor"):
        CSF.checkerboard_score(np.zeros((8, 8)))  # type: ignore[arg-type]
    with pytest.raises(CheckerscopeError, match="period"):
        CSF.checkerboard_score(image, period="auto")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_score_stays_on_the_device() -> None:  # pragma: no cover - needs a GPU
    x = _photo(64).cuda().requires_grad_(True)
    db = CSF.checkerboard_score(x + 0.1 * CHECKER.cuda().repeat(32, 32))
    assert db.device.type == "cuda"
    checkerboard_penalty(x).backward()
    assert x.grad is not None and x.grad.device.type == "cuda"
    np.testing.assert_allclose(
        db.detach().cpu().numpy(),
        checkerboard_score((x + 0.1 * CHECKER.cuda().repeat(32, 32)).detach().cpu()).db,
        atol=2e-3,
    )


def test_periodic_component_is_the_projection_onto_periodic_images() -> None:
    x = _photo(32).double()
    pattern = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = x + 0.2 * pattern.repeat(8, 8)
    component = CSF.periodic_component(x, period=4)
    polyphase = x.reshape(1, 3, 8, 4, 8, 4).mean(dim=(2, 4))
    expected = polyphase - polyphase.mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(component[..., :4, :4], expected, atol=1e-12)
    assert torch.equal(component[..., 4:8, 8:12], component[..., :4, :4])
    cleaned = x - component
    spectrum = torch.fft.fft2(cleaned).abs()
    assert float(spectrum[..., ::8, ::8].flatten(-2)[..., 1:].max()) < 1e-9
    assert float(CSF.checkerboard_score(x, period=4)[0]) > 10
    assert float(CSF.checkerboard_score(cleaned, period=4)[0]) < -5
    assert float(CSF.checkerboard_score(cleaned, period=2)[0]) < -5  # harmonics of 4
    # a size that is not a multiple of the period: the crop's pattern, repeated
    odd = CSF.periodic_component(x[..., :31, :30], period=4)
    assert odd.shape == (1, 3, 31, 30)
    assert torch.equal(odd[..., 28:31, :], odd[..., 0:3, :])
    # a grid-free image loses little: only its harmonic bins
    photo = _photo(64)
    loss = (CSF.periodic_component(photo, period=2)).square().mean()
    assert float(loss) < 1e-3 * float(photo.var())


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(8, 40),
    width=st.integers(8, 40),
    period=st.sampled_from([2, 3, 4, (2, 1), (4, 2), 8]),
    seed=st.integers(0, 2**16),
)
def test_grid_component_takes_all_of_the_score(height, width, period, seed) -> None:
    """x - grid_component(x) scores at the floor, and a grid added to an image already
    stripped of its own comes back out exactly."""
    per_axis = (period, period) if isinstance(period, int) else period
    if height < 2 * per_axis[0] or width < 2 * per_axis[1]:
        return
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, height, width, generator=generator, dtype=torch.float64)
    clean = x - CSF.grid_component(x, period)
    assert float(CSF.checkerboard_score(clean, period).max()) < -60
    pattern = torch.randn(2, 3, *per_axis, generator=generator, dtype=torch.float64)
    pattern = pattern - pattern.mean(dim=(-2, -1), keepdim=True)
    reps = (math.ceil(height / per_axis[0]), math.ceil(width / per_axis[1]))
    grid = pattern.repeat(1, 1, *reps)[..., :height, :width]
    recovered = CSF.grid_component(clean + grid, period)
    crop = (..., slice(0, height - height % per_axis[0]), slice(0, width - width % per_axis[1]))
    assert torch.allclose(recovered[crop], grid[crop], atol=1e-9)


def test_grid_component_of_signals_and_in_float32() -> None:
    signal = torch.randn(3, 2, 100, generator=torch.Generator().manual_seed(4))
    clean = signal - CSF.grid_component(signal, 8, dims=1)
    assert clean.shape == signal.shape and clean.dtype == torch.float32
    assert float(CSF.checkerboard_score(clean, 8, dims=1).max()) < -40
    photo = _photo(64)
    assert float(CSF.checkerboard_score(photo - CSF.grid_component(photo, 2)).max()) < -40


def test_periodic_component_of_signals() -> None:
    t = torch.arange(20.0)
    x = torch.sin(0.37 * t) + torch.tensor([0.3, 0.0, -0.1, -0.2]).repeat(5)
    component = CSF.periodic_component(x[None], period=4, dims=1)[0]
    polyphase = x.reshape(5, 4).mean(0)
    assert torch.allclose(component[:4], polyphase - polyphase.mean(), atol=1e-6)
    assert torch.equal(component[4:8], component[:4])
    with pytest.raises(CheckerscopeError, match="smaller than the period"):
        CSF.periodic_component(torch.zeros(3), period=4, dims=1)


def test_score_is_differentiable_with_true_gradients() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 10, 12, generator=generator, dtype=torch.float64)
    x = (x + 0.1 * CHECKER.double().repeat(5, 6)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: CSF.checkerboard_score(t, period=2), (x,))
    assert torch.autograd.gradcheck(lambda t: CSF.checkerboard_score(t, period=(2, 3)), (x,))


# --------------------------------------------------------------------------- the penalty


def test_penalty_passes_gradcheck() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 12, 12, generator=generator, dtype=torch.float64)
    x = (x + 0.05 * CHECKER.double().repeat(6, 6)).requires_grad_(True)
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(
            lambda t, r=reduction: checkerboard_penalty(t, period=2, reduction=r), (x,)
        )
    signal = torch.rand(2, 1, 24, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: checkerboard_penalty(t, 4, dims=1), (signal,))


def test_penalty_ranks_a_grid_sweep_as_the_score_does() -> None:
    photo = _photo(64)
    generator = torch.Generator().manual_seed(2)
    patterns = [
        CHECKER,
        torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
        torch.randn(2, 2, generator=generator),
    ]
    images = []
    for pattern in patterns:
        for amplitude in (0.0, 0.002, 0.005, 0.01, 0.03, 0.1):
            images.append(photo + amplitude * (pattern - pattern.mean()).repeat(32, 32))
    batch = torch.cat(images)
    penalties = checkerboard_penalty(batch, reduction="none")
    scores = checkerboard_score(batch).db
    assert list(np.argsort(penalties.numpy(), kind="stable")) == list(
        np.argsort(scores, kind="stable")
    )
    # exactly a function of the score
    np.testing.assert_allclose(penalties.numpy(), np.log1p(10 ** (scores / 10)), rtol=1e-4)
    assert checkerboard_penalty(batch) == pytest.approx(float(penalties.mean()))
    assert checkerboard_penalty(batch, reduction="sum") == pytest.approx(float(penalties.sum()))


def test_minimising_the_penalty_removes_a_grid() -> None:
    photo = _photo(32)
    x = (photo + 0.05 * CHECKER.repeat(16, 16)).requires_grad_(True)
    before = float(CSF.checkerboard_score(x.detach())[0])
    optimiser = torch.optim.Adam([x], lr=5e-3)
    for _ in range(60):
        optimiser.zero_grad()
        checkerboard_penalty(x).backward()
        optimiser.step()
    after = float(CSF.checkerboard_score(x.detach())[0])
    assert before > 10 and after < before - 20
    grid_left = CSF.periodic_component(x.detach(), period=2).abs().mean()
    assert float(grid_left) < 0.01  # it was 0.05


def test_penalty_rejects_a_bad_reduction() -> None:
    with pytest.raises(CheckerscopeError, match="reduction"):
        checkerboard_penalty(torch.zeros(1, 1, 8, 8), reduction="max")
