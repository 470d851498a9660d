"""probe_init and probe_gradients on toy models built from plain torch.nn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import checkerscope as cs
from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import checkerboard_score, probe_gradients, probe_init

CHANNELS = 32


def deconv_generator() -> nn.Module:
    """4x4 -> 32x32 with three ConvTranspose2d(k3, s2): uneven overlap at every stage."""
    layers: list[nn.Module] = []
    for _ in range(3):
        layers += [
            nn.ConvTranspose2d(CHANNELS, CHANNELS, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers, nn.Conv2d(CHANNELS, 3, 3, padding=1), nn.Tanh())


def resize_conv_generator() -> nn.Module:
    """The same shapes with nearest-neighbour resize followed by a stride-1 convolution."""
    layers: list[nn.Module] = []
    for _ in range(3):
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers, nn.Conv2d(CHANNELS, 3, 3, padding=1), nn.Tanh())


Z_SHAPE = (4, CHANNELS, 4, 4)


@pytest.fixture(scope="module")
def init_scores() -> tuple[cs.metrics.InitProbe, cs.metrics.InitProbe]:
    return probe_init(deconv_generator, Z_SHAPE, seeds=4), probe_init(
        resize_conv_generator, Z_SHAPE, seeds=4
    )


def test_deconvolution_generator_scores_far_above_resize_convolution(init_scores) -> None:
    deconv, resize = init_scores
    assert deconv.db.shape == resize.db.shape == (4,)
    assert deconv.seeds == (0, 1, 2, 3)
    assert resize.median_db < 6
    assert deconv.median_db > resize.median_db + 15
    assert deconv.db.min() > resize.db.max()  # every seed, not only on average


def test_init_probe_matches_scoring_the_outputs_by_hand(init_scores) -> None:
    deconv, _ = init_scores
    torch.manual_seed(2)
    model = deconv_generator()
    with torch.no_grad():
        out = model(torch.randn(Z_SHAPE))
    by_hand = checkerboard_score(out)
    assert deconv.db[2] == pytest.approx(by_hand.db.mean(), abs=1e-4)
    np.testing.assert_allclose(deconv.fingerprints[2], by_hand.fingerprint.mean(0), atol=1e-6)
    assert deconv.fingerprint.shape == (2, 2)
    assert deconv.period == (2, 2)
    assert float(deconv) == deconv.median_db
    assert deconv.mean_db == pytest.approx(np.mean(deconv.db))
    assert "InitProbe(seeds=4" in repr(deconv)
    assert deconv.scores.db.shape == (16,)


def test_init_probe_auto_period_and_explicit_seeds() -> None:
    probe = probe_init(deconv_generator, (2, CHANNELS, 4, 4), seeds=[5, 9], period="auto")
    assert probe.seeds == (5, 9)
    assert probe.period in {(2, 2), (4, 4), (8, 8)}
    assert probe.scores.evidence


def test_init_probe_signals() -> None:
    def make() -> nn.Module:
        return nn.Sequential(nn.ConvTranspose1d(8, 8, 3, stride=2), nn.ReLU(), nn.Conv1d(8, 4, 1))

    probe = probe_init(make, (4, 8, 512), seeds=2, dims=1)
    assert probe.period == (2,)
    assert probe.fingerprint.shape == (2,)
    assert probe.median_db > 10


def test_init_probe_errors() -> None:
    with pytest.raises(CheckerscopeError, match="at least one seed"):
        probe_init(deconv_generator, Z_SHAPE, seeds=[])
    with pytest.raises(CheckerscopeError, match=r"rank 4 .* got shape \(4, 512\)"):
        probe_init(lambda: nn.Flatten(), Z_SHAPE, seeds=1)
    with pytest.raises(CheckerscopeError, match="returning a tensor"):
        probe_init(_TupleOut, Z_SHAPE, seeds=1)


class _TupleOut(nn.Module):
    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return z, z


def discriminator(stride: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=stride),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 16, 3, stride=stride),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 1, 3),
    )


def test_strided_discriminator_gradients_carry_the_grid() -> None:
    torch.manual_seed(0)
    images = torch.rand(4, 3, 64, 64)
    strided, regular = discriminator(2), discriminator(1)
    strided_probe = probe_gradients(strided, images)
    regular_probe = probe_gradients(regular, images)
    assert strided_probe.median_db > regular_probe.median_db + 15
    assert regular_probe.median_db < 6
    assert strided_probe.gradient.shape == (4, 3, 64, 64)
    assert strided_probe.db.shape == (4,)
    assert "GradientProbe(n=4" in repr(strided_probe)


def test_gradient_probe_agrees_with_autograd_by_hand() -> None:
    torch.manual_seed(1)
    model = discriminator(2)
    images = torch.rand(2, 3, 32, 32)
    x = images.clone().requires_grad_()
    model(x).sum().backward()
    probe = probe_gradients(model, images)
    np.testing.assert_allclose(probe.gradient, x.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probe.db, checkerboard_score(x.grad).db, atol=1e-6)


def test_gradient_probe_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Dropout(0.5), nn.BatchNorm2d(4))
    model.train()
    model[0].bias.requires_grad_(False)
    probe_gradients(model, np.random.default_rng(0).random((2, 3, 32, 32)))
    assert model.training
    assert model[0].weight.requires_grad and not model[0].bias.requires_grad
    assert all(p.grad is None for p in model.parameters())
    # eval mode inside: dropout off, so two probes agree exactly
    a = probe_gradients(model, torch.ones(1, 3, 32, 32))
    b = probe_gradients(model, torch.ones(1, 3, 32, 32))
    np.testing.assert_array_equal(a.gradient, b.gradient)


def test_gradient_reductions() -> None:
    torch.manual_seed(3)
    model = discriminator(2)
    images = torch.rand(2, 3, 32, 32)
    by_sum = probe_gradients(model, images, reduce="sum")
    by_mean = probe_gradients(model, images, reduce="mean")
    np.testing.assert_allclose(by_sum.db, by_mean.db, atol=1e-4)  # scale invariant
    by_callable = probe_gradients(model, images, reduce=lambda out: out[:, 0].sum())
    np.testing.assert_allclose(by_callable.db, by_sum.db, atol=1e-4)
    assert np.isfinite(probe_gradients(model, images, reduce="square").db).all()
    with pytest.raises(CheckerscopeError, match="reduce must be one of"):
        probe_gradients(model, images, reduce="max")
    with pytest.raises(CheckerscopeError, match="must return a scalar"):
        probe_gradients(model, images, reduce=lambda out: out)
