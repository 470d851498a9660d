"""Least-squares projection of trained layers onto their artifact-free families.

References are independent of the code under test: torch's own ``Upsample + Conv2d`` and
``Conv2d + PixelShuffle`` pairs, deconvolutions built from them tap by tap, dense operator
matrices solved with ``torch.linalg.lstsq`` (brute force), and the ridge regression written
out on explicitly upsampled and unfolded inputs.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope import nn as csnn
from checkerscope.auditing import projection
from checkerscope.auditing.projection import (
    ReplacementPair,
    balance_phases,
    calibrate,
    noise_inputs,
    project_weights,
)
from checkerscope.auditing.rewrite import PadCrop, fix
from checkerscope.errors import CheckerscopeError

DECONVS = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _naive_resize_conv(c_in: int, c_out: int, kernel: int, scale: int, dims: int) -> nn.Module:
    torch.manual_seed(kernel * 10 + scale)
    return nn.Sequential(
        nn.Upsample(scale_factor=scale, mode="nearest"),
        CONVS[dims](c_in, c_out, kernel, padding=kernel // 2),
    )


def _deconv_equal_to(naive: nn.Module, c_in: int, c_out: int, k: int, s: int, p: int, dims: int):
    """A transposed convolution with the same interior outputs, read tap by tap off the
    naive pair's response to one impulse per input channel (``y[s i + j - p] = W[j]``)."""
    deconv = DECONVS[dims](c_in, c_out, k, stride=s, padding=p, bias=True)
    length = 12
    centre = length // 2
    impulses = torch.zeros(c_in, c_in, *(length,) * dims)
    for c in range(c_in):
        index = (c, c, *(centre,) * dims)
        impulses[index] = 1.0
    with torch.no_grad():
        response = naive(impulses) - naive(torch.zeros_like(impulses[:1]))
        start = s * centre - p
        window = response
        for axis in range(dims):
            window = window.narrow(2 + axis, start, k)
        deconv.weight.copy_(window)
        deconv.bias.copy_(naive[1].bias)
    assert float(window.square().sum()) == pytest.approx(float(response.square().sum()), rel=1e-5)
    return deconv


def _interior(y: torch.Tensor, margin: int) -> torch.Tensor:
    for axis in range(2, y.dim()):
        y = y.narrow(axis, margin, y.shape[axis] - 2 * margin)
    return y


# --------------------------------------------------------------------------- unchanged


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_a_resize_conv_projects_onto_itself(dims: int) -> None:
    trained = (csnn.ResizeConv1d, csnn.ResizeConv2d, csnn.ResizeConv3d)[dims - 1](3, 2, 3, 2)
    fresh = copy.deepcopy(trained)
    nn.init.normal_(fresh.weight)
    fit = project_weights(trained, fresh)
    assert fit.relative_error < 1e-5
    assert torch.allclose(fresh.weight, trained.weight, atol=1e-5)
    assert torch.allclose(fresh.bias, trained.bias, atol=1e-6)


@pytest.mark.parametrize(
    ("k", "s", "p", "dims"),
    [(4, 2, 1, 2), (4, 2, 1, 1), (4, 2, 1, 3), (5, 3, 1, 2), (10, 8, 1, 1)],
)
def test_a_deconvolution_that_is_a_resize_conv_comes_back_unchanged(k, s, p, dims) -> None:
    """fix(weights='project') of a deconvolution equal to nearest-resize + conv recovers
    exactly that conv."""
    naive = _naive_resize_conv(2, 3, 3, s, dims)
    deconv = _deconv_equal_to(naive, 2, 3, k, s, p, dims)
    x = torch.randn(2, 2, *(7,) * dims)
    margin = 2 * s
    common = min(deconv(x).shape[-1], naive(x).shape[-1])
    window = (..., *[slice(margin, common - margin)] * dims)
    assert torch.allclose(deconv(x)[window], naive(x)[window], atol=1e-5)
    fixed = fix(nn.Sequential(deconv), example_input=x, weights="project")
    replacement = fixed[0]
    assert isinstance(replacement, (csnn.ResizeConv1d, csnn.ResizeConv2d, csnn.ResizeConv3d))
    assert fixed.checkerscope_projection[0].relative_error < 1e-5
    assert torch.allclose(replacement.weight, naive[1].weight, atol=1e-5)
    assert torch.allclose(replacement.bias, naive[1].bias, atol=1e-5)
    assert torch.allclose(fixed(x)[window], deconv(x)[window], atol=1e-5)


def test_the_deconvolution_built_from_a_naive_pair_is_that_pair() -> None:
    naive = _naive_resize_conv(2, 3, 3, 2, 2)
    deconv = _deconv_equal_to(naive, 2, 3, 4, 2, 1, 2)
    x = torch.randn(2, 2, 9, 9)
    assert torch.allclose(deconv(x)[..., 2:-2, 2:-2], naive(x)[..., 2:-2, 2:-2], atol=1e-5)


def test_a_phase_balanced_deconvolution_is_returned_unchanged() -> None:
    torch.manual_seed(0)
    deconv = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    once = balance_phases(deconv)
    twice = balance_phases(once)
    assert torch.allclose(twice.weight, once.weight, atol=1e-6)
    assert not torch.allclose(once.weight, deconv.weight, atol=1e-3)
    # every phase's taps sum to the same DC gain, per channel pair
    sums = once.weight.reshape(3, 2, 2, 2, 2, 2).sum(dim=(2, 4))  # taps j = 2 a + phase
    assert torch.allclose(sums, sums[..., :1, :1].expand_as(sums), atol=1e-6)
    with pytest.raises(CheckerscopeError, match="ConvTranspose"):
        balance_phases(nn.Conv2d(1, 1, 3))


def test_the_phase_balanced_projection_is_the_closed_form() -> None:
    """Each phase's taps move by ``(c - S_a) / n_a`` with ``c`` the weighted mean sum."""
    torch.manual_seed(1)
    deconv = nn.ConvTranspose1d(1, 1, 5, stride=2, bias=False)
    w = deconv.weight[0, 0].detach().double()
    phases = [w[0::2], w[1::2]]  # 3 taps, 2 taps
    sums = torch.stack([p.sum() for p in phases])
    counts = torch.tensor([3.0, 2.0], dtype=torch.float64)
    common = (sums / counts).sum() / (1 / counts).sum()
    expected = w.clone()
    expected[0::2] += (common - sums[0]) / 3
    expected[1::2] += (common - sums[1]) / 2
    assert torch.allclose(balance_phases(deconv).weight[0, 0].double(), expected, atol=1e-6)


def test_an_icnr_sub_pixel_layer_comes_back_unchanged() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 2 * 4, 3, padding=1)
    csnn.icnr_(conv.weight, 2)
    with torch.no_grad():
        conv.bias.copy_(torch.randn(2).repeat_interleave(4))
    model = nn.Sequential(conv, nn.PixelShuffle(2))
    x = torch.randn(1, 3, 6, 6)
    fixed = fix(model, method="subpixel", example_input=x, weights="project")
    layer = fixed[0]
    assert isinstance(layer, csnn.SubPixelConv2d)
    assert fixed.checkerscope_projection[0].family == "ICNR sub-pixel"
    assert torch.allclose(layer.weight, conv.weight, atol=1e-5)
    assert torch.allclose(fixed(x), model(x), atol=1e-5)


def test_a_hold_filtered_deconvolution_projects_onto_itself() -> None:
    trained = csnn.FilteredDeconv2d(2, 3, kernel_size=4, stride=2)
    fresh = csnn.FilteredDeconv2d(2, 3, kernel_size=4, stride=2)
    fit = project_weights(trained, fresh)
    assert fit.family == "hold-filtered deconv" and fit.relative_error < 1e-5
    # a hold filter makes some kernels equivalent: compare the layers, not the weights
    x = torch.randn(1, 2, 8, 8)
    assert torch.allclose(fresh(x), trained(x), atol=1e-5)


# --------------------------------------------------------------------------- brute force


def _dense(layer: nn.Module, c_in: int, size: tuple[int, ...]) -> torch.Tensor:
    """The layer's linear part as a matrix: rows (C_out, *out), columns (C_in, *size)."""
    count = c_in * math.prod(size)
    basis = torch.eye(count, dtype=torch.float64).reshape(count, c_in, *size)
    with torch.no_grad():
        out = layer(basis) - layer(torch.zeros_like(basis[:1]))
    return out.reshape(count, -1).T


@settings(max_examples=12, deadline=None)
@given(
    kernel=st.integers(2, 6),
    stride=st.integers(2, 3),
    padding=st.integers(0, 2),
    output_padding=st.integers(0, 1),
    seed=st.integers(0, 1000),
)
def test_projection_equals_brute_force_least_squares(
    kernel, stride, padding, output_padding, seed
) -> None:
    """The projected weights solve least squares over the interior rows of the dense operator."""
    if output_padding >= stride or padding >= kernel:
        return
    torch.manual_seed(seed)
    deconv = nn.ConvTranspose2d(2, 2, kernel, stride, padding, output_padding).double()
    x = torch.zeros(1, 2, 14, 14, dtype=torch.float64)
    fixed = fix(nn.Sequential(deconv), example_input=x)
    replacement = fixed[0].double()
    fit = project_weights(deconv, replacement)
    core = replacement[0] if isinstance(replacement, nn.Sequential) else replacement
    size = (14, 14)
    original = _dense(deconv, 2, size)
    out_shape = deconv(x).shape[2:]
    margin = 3 * stride + kernel
    rows = torch.zeros(out_shape, dtype=torch.bool)
    band = [slice(margin, n - margin - (n - 2 * margin) % stride) for n in out_shape]
    rows[band[0], band[1]] = True
    units = core.kernel_size
    count = math.prod(units)
    probe = copy.deepcopy(replacement)
    columns = []
    for p in range(count):
        with torch.no_grad():
            inner = probe[0] if isinstance(probe, nn.Sequential) else probe
            inner.weight.zero_()
            inner.weight[0, 0].view(-1)[p] = 1.0
        columns.append(_dense(probe, 2, size)[: math.prod(out_shape)][rows.flatten()])
    design = torch.stack([c[:, : math.prod(size)].flatten() for c in columns], dim=1)
    for c_out in range(2):
        for c_in in range(2):
            block = original.reshape(2, -1, 2, math.prod(size))[c_out][:, c_in]
            target = block[rows.flatten()].flatten()
            theta = torch.linalg.lstsq(design, target[:, None]).solution[:, 0]
            got = core.weight[c_out, c_in].detach().flatten()
            assert torch.allclose(got, theta, atol=1e-6), (c_out, c_in)
    assert 0 <= fit.relative_error <= 1


# --------------------------------------------------------------------------- data-aware


def test_calibrate_equals_the_ridge_regression_written_out() -> None:
    torch.manual_seed(3)
    teacher = nn.Sequential(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1))
    student = fix(teacher, example_input=torch.zeros(1, 2, 6, 6), weights="project")
    inputs = torch.randn(5, 2, 6, 6)
    fits = calibrate(
        student,
        teacher,
        [ReplacementPair("0", student[0], teacher[0])],
        inputs,
        ridge=1e-12,
    )
    # the regression by hand: features of the upsampled input, unfolded, plus a constant
    upsampled = F.interpolate(inputs.double(), scale_factor=2, mode="nearest")
    columns = F.unfold(upsampled, 3, padding=1)  # (N, 2 * 9, pixels)
    design = torch.cat([columns, torch.ones_like(columns[:, :1])], dim=1)
    design = design.transpose(1, 2).reshape(-1, 19)
    with torch.no_grad():
        targets = teacher(inputs).double().permute(0, 2, 3, 1).reshape(-1, 3)
    solution = torch.linalg.lstsq(design, targets).solution
    assert torch.allclose(student[0].weight.double().reshape(3, 18), solution[:18].T, atol=1e-4)
    assert torch.allclose(student[0].bias.double(), solution[18], atol=1e-4)
    assert fits[0].inputs == 5 and math.isfinite(fits[0].fidelity_db)


def test_calibration_fits_an_artifact_free_teacher_exactly() -> None:
    naive = _naive_resize_conv(3, 4, 3, 2, 2)
    first = _deconv_equal_to(naive, 3, 4, 4, 2, 1, 2)
    second = _deconv_equal_to(_naive_resize_conv(4, 3, 3, 2, 2), 4, 3, 4, 2, 1, 2)
    teacher = nn.Sequential(first, nn.ReLU(), second)
    example = torch.rand(1, 3, 8, 8)
    fixed = fix(teacher, example_input=example, weights="project", calibration="noise")
    assert fixed.checkerscope_fidelity_db > 60
    assert any("faithful" in line for line in fixed.checkerscope_fix_notes)


def _ridge_by_hand(features_input: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Least squares of targets on nearest-x2 + unfolded 3x3 features (+ a constant)."""
    upsampled = F.interpolate(features_input.double(), scale_factor=2, mode="nearest")
    columns = F.unfold(upsampled, 3, padding=1)
    design = torch.cat([columns, torch.ones_like(columns[:, :1])], dim=1)
    design = design.transpose(1, 2).reshape(-1, design.shape[1])
    flat = targets.double().permute(0, 2, 3, 1).reshape(-1, targets.shape[1])
    return torch.linalg.lstsq(design, flat).solution


def test_later_layers_are_fitted_on_the_students_own_inputs() -> None:
    """In forward order: the second replacement is the regression of the teacher's output on
    what the already fitted first replacement feeds it, not on the teacher's features."""
    torch.manual_seed(4)
    teacher = nn.Sequential(
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
    )
    inputs = torch.rand(6, 2, 5, 5)
    student = fix(teacher, example_input=inputs[:1], weights="project")
    calibrate(
        student,
        teacher,
        [
            ReplacementPair("1", student[1], teacher[1]),  # listed out of order on purpose
            ReplacementPair("0", student[0], teacher[0]),
        ],
        inputs,
        ridge=1e-12,
    )
    with torch.no_grad():
        own = _ridge_by_hand(student[0](inputs), teacher(inputs))
        teachers = _ridge_by_hand(teacher[0](inputs), teacher(inputs))
    fitted = student[1].weight.double().reshape(2, -1)
    assert torch.allclose(fitted, own[:-1].T, atol=1e-4)
    assert not torch.allclose(fitted, teachers[:-1].T, atol=1e-2)


def test_a_conv_after_the_replacements_is_refitted_to_compensate() -> None:
    torch.manual_seed(7)
    teacher = nn.Sequential(
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
        nn.Conv2d(3, 2, 3, padding=1),
    )
    inputs = torch.rand(8, 2, 6, 6)
    without = fix(teacher, example_input=inputs[:1], weights="project")
    calibrate(without, teacher, [ReplacementPair("0", without[0], teacher[0], teacher[0])], inputs)
    fixed = fix(teacher, example_input=inputs[:1], weights="project", calibration=inputs)
    assert [f.family for f in fixed.checkerscope_projection] == [
        "nearest resize-conv",
        "conv (refitted)",
    ]
    assert any(
        "1: refitted to the original layer's outputs" in n for n in fixed.checkerscope_fix_notes
    )
    with torch.no_grad():
        features = F.unfold(fixed[0](inputs).double(), 3, padding=1)
        design = torch.cat([features, torch.ones_like(features[:, :1])], dim=1)
        design = design.transpose(1, 2).reshape(-1, design.shape[1])
        targets = teacher(inputs).double().permute(0, 2, 3, 1).reshape(-1, 2)
    # the ridge regression, pulled towards the teacher's own conv
    gram = design.T @ design
    strength = projection.DEFAULT_RIDGE * float(gram.diagonal().mean())
    prior = torch.cat([teacher[1].weight.reshape(2, -1).T, teacher[1].bias[None]]).double()
    solution = torch.linalg.solve(
        gram + strength * torch.eye(gram.shape[0], dtype=gram.dtype),
        design.T @ targets + strength * prior.detach(),
    )
    assert torch.allclose(fixed[1].weight.double().reshape(2, -1), solution[:-1].T, atol=1e-4)
    assert torch.allclose(fixed[1].bias.double(), solution[-1], atol=1e-4)
    fidelity = projection.output_fidelity
    assert fidelity(fixed, teacher, inputs) > fidelity(without, teacher, inputs) + 0.2
    # a conv before every replacement is left as it is
    first = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), *teacher)
    kept = fix(first, example_input=inputs[:1], weights="project", calibration=inputs)
    assert torch.equal(kept[0].weight, first[0].weight)


def test_fix_with_projected_weights_on_a_trained_upsampler() -> None:
    """A tiny x4 super-resolver trained for a few seconds: fresh < weight space < data-aware."""
    from checkerscope.experiments.data import photo_patches
    from checkerscope.experiments.training import train_super_resolver

    train = photo_patches(128, 32, seed=0)
    evaluation = photo_patches(8, 32, seed=0, split="eval")
    run = train_super_resolver("deconv3", train, evaluation, steps=120, width=8, seed=0)
    teacher = run.model
    inputs = F.avg_pool2d(train[:32], 4)
    x = F.avg_pool2d(evaluation, 4)
    fidelity = projection.output_fidelity
    fresh = fidelity(fix(teacher, example_input=x[:1]), teacher, x)
    weight_space = fidelity(fix(teacher, example_input=x[:1], weights="project"), teacher, x)
    data_aware = fidelity(
        fix(teacher, example_input=x[:1], weights="project", calibration=inputs), teacher, x
    )
    data_free = fidelity(
        fix(teacher, example_input=x[:1], weights="project", calibration="noise"), teacher, x
    )
    assert fresh < 20 < weight_space < data_aware
    assert data_free > weight_space


def test_fix_projects_one_dimensional_and_pixel_shuffle_models() -> None:
    torch.manual_seed(5)
    vocoder = nn.Sequential(
        nn.Conv1d(4, 8, 7, padding=3),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose1d(8, 4, 16, stride=8, padding=4),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose1d(4, 1, 4, stride=2, padding=1),
        nn.Tanh(),
    )
    fixed = fix(
        vocoder, example_input=torch.randn(1, 4, 20), weights="project", calibration="noise"
    )
    assert [f.family for f in fixed.checkerscope_projection] == ["nearest resize-conv"] * 2
    espcn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 9, 3, padding=1), nn.PixelShuffle(3)
    )
    fixed = fix(espcn, example_input=torch.rand(1, 1, 8, 8), weights="project", calibration="noise")
    assert isinstance(fixed[2], csnn.ResizeConv2d)
    assert fixed.checkerscope_projection[0].inputs == projection.NOISE_CALIBRATION_COUNT


def test_fix_rejects_bad_projection_arguments() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(2, 2, 3, stride=2))
    x = torch.zeros(1, 2, 4, 4)
    for kwargs, message in [
        ({"weights": "trained"}, "weights must be"),
        ({"calibration": "noise"}, "needs weights='project'"),
        ({"weights": "project", "calibration": "photos"}, "calibration must be"),
        ({"weights": "project", "calibration": [1, 2]}, "calibration must be"),
    ]:
        with pytest.raises(CheckerscopeError, match=message):
            fix(model, example_input=x, **kwargs)
    with pytest.raises(CheckerscopeError, match="needs example_input"):
        fix(model, weights="project", calibration="noise")


def test_layer_fit_reads_well() -> None:
    fit = projection.LayerFit("up.1", "nearest resize-conv", 0.25)
    assert str(fit) == "up.1: nearest resize-conv, operator error 25.0%"
    fitted = projection.LayerFit("up.1", "nearest resize-conv", float("nan"), 31.24, 64)
    assert str(fitted) == "up.1: nearest resize-conv, fit 31.2 dB on 64 inputs"


def test_no_family_for_other_layers() -> None:
    with pytest.raises(CheckerscopeError, match="no projection family"):
        project_weights(nn.ConvTranspose2d(1, 1, 3, 2), nn.Conv2d(1, 1, 3))
    with pytest.raises(CheckerscopeError, match="grouped"):
        project_weights(nn.ConvTranspose2d(2, 2, 3, 2), nn.ConvTranspose2d(2, 2, 3, 2, groups=2))


def test_pad_crop_is_part_of_the_operator() -> None:
    deconv = nn.ConvTranspose2d(2, 2, 3, stride=2)  # 2L + 1: fix adds a PadCrop
    fixed = fix(nn.Sequential(deconv), example_input=torch.zeros(1, 2, 5, 5), weights="project")
    assert isinstance(fixed[0][1], PadCrop)
    assert fixed.checkerscope_projection[0].relative_error < 1


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_weight_normed_replacements_keep_their_wrapper() -> None:
    torch.manual_seed(6)
    trained = csnn.ResizeConv1d(3, 2, 3, 2)
    wrapped = nn.utils.parametrizations.weight_norm(csnn.ResizeConv1d(3, 2, 3, 2))
    project_weights(trained, wrapped)
    assert hasattr(wrapped, "parametrizations")
    assert torch.allclose(wrapped.weight, trained.weight, atol=1e-5)
    legacy = nn.utils.weight_norm(nn.ConvTranspose1d(3, 2, 4, 2, 1))
    original = nn.ConvTranspose1d(3, 2, 4, 2, 1)
    project_weights(original, legacy)
    x = torch.randn(1, 3, 9)
    assert torch.allclose(legacy(x), balance_phases(original)(x), atol=1e-5)


# --------------------------------------------------------------------------- noise inputs


def test_noise_inputs_are_pink_in_range_and_seeded() -> None:
    images = noise_inputs(torch.rand(1, 3, 64, 64), 8, seed=3)
    assert images.shape == (8, 3, 64, 64) and 0 <= float(images.min()) <= float(images.max()) <= 1
    assert torch.equal(images, noise_inputs(torch.rand(1, 3, 64, 64), 8, seed=3))
    power = torch.fft.fft2(images - images.mean(dim=(-2, -1), keepdim=True)).abs().square()
    low, high = power[..., 1:4, 1:4].mean(), power[..., 24:32, 24:32].mean()
    assert float(low / high) > 50  # 1/f amplitude: (f_high / f_low)**2 ~ 100
    signed = noise_inputs(torch.rand(1, 1, 32, 32) * 2 - 1, 2)
    assert float(signed.min()) < 0 and float(signed.abs().max()) <= 1
    wide = noise_inputs(torch.randn(1, 80, 40) * 3 + 5, 4)
    assert wide.shape == (4, 80, 40) and abs(float(wide.mean()) - 5) < 1
    latents = noise_inputs(torch.zeros(1, 100, 1, 1), 512)
    assert abs(float(latents.std()) - 1) < 0.05
    with pytest.raises(CheckerscopeError, match="example input"):
        noise_inputs(torch.zeros(5), 2)


class _FunctionalShuffle(nn.Module):
    """An ESPCN-style head whose conv and shuffle are not side by side in a Sequential."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2 * 4, 3, padding=1)
        csnn.icnr_(self.conv.weight, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def test_a_functional_pixel_shuffle_head_is_projected_through_the_unshuffle() -> None:
    torch.manual_seed(8)
    model = _FunctionalShuffle()
    with torch.no_grad():
        model.conv.bias.copy_(torch.randn(2).repeat_interleave(4))
    x = torch.randn(2, 3, 6, 6)
    fixed = fix(model, method="subpixel", example_input=x[:1], weights="project")
    assert isinstance(fixed.conv[1], nn.PixelUnshuffle)
    assert fixed.checkerscope_projection[0].relative_error < 1e-5
    assert torch.allclose(fixed(x), model(x), atol=1e-5)
    calibrated = fix(
        model, method="subpixel", example_input=x[:1], weights="project", calibration=x
    )
    assert calibrated.checkerscope_projection[0].fidelity_db > 60


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_fix_projects_through_the_weight_norm_it_carries_over() -> None:
    naive = _naive_resize_conv(2, 3, 3, 2, 1)
    deconv = _deconv_equal_to(naive, 2, 3, 4, 2, 1, 1)
    for wrap in (nn.utils.weight_norm, nn.utils.parametrizations.weight_norm):
        model = nn.Sequential(wrap(copy.deepcopy(deconv)))
        x = torch.randn(2, 2, 9)
        fixed = fix(model, example_input=x[:1], weights="project", calibration="noise")
        assert "weight_norm" in fixed.checkerscope_fix_notes[0]
        window = (..., slice(4, -4))
        assert torch.allclose(fixed(x)[window], model(x)[window], atol=1e-4)
