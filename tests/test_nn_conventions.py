"""The conventions of torch, kornia, timm and fastai, each against an independent reference.

BlurPool without ``channels`` (timm, kornia), ``MaxBlurPool2d`` (antialiased-cnns, kornia),
``SubPixelConv2d(blur=True)`` (fastai), ``FilteredDeconv2d`` with every argument of
``nn.ConvTranspose2d`` and ``from_module``, and ``Upsample + Conv2d`` checkpoints loading
into ``ResizeConv2d``. kornia and timm are not dependencies: their documented values are
checked here, and the libraries themselves only where they happen to be installed.
"""

from __future__ import annotations

import importlib.util
import io
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.nn import (
    BlurPool1d,
    BlurPool2d,
    FilteredDeconv1d,
    FilteredDeconv2d,
    MaxBlurPool2d,
    ResizeConv2d,
    SubPixelConv2d,
    blur_pool2d,
    filtered_deconv2d,
    max_blur_pool2d,
)

NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# ------------------------------------------------------------------ brute-force references


def _binomial(size: int) -> np.ndarray:
    taps = np.array([math.comb(size - 1, i) for i in range(size)], dtype=float)
    return taps / taps.sum()


def _blur_pool_reference(
    x: np.ndarray, stride: int, size: int, mode: str, before: int, after: int
) -> np.ndarray:
    """Pad (before, after) per axis, weight each window by the binomial outer product."""
    padded = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), NUMPY_PAD[mode])
    weights = np.outer(_binomial(size), _binomial(size))
    rows = (padded.shape[2] - size) // stride + 1
    cols = (padded.shape[3] - size) // stride + 1
    out = np.zeros((*x.shape[:2], rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = padded[:, :, i * stride : i * stride + size, j * stride : j * stride + size]
            out[:, :, i, j] = (window * weights).sum(axis=(2, 3))
    return out


def _max_windows(x: np.ndarray, size: int) -> np.ndarray:
    rows, cols = x.shape[2] - size + 1, x.shape[3] - size + 1
    return np.array(
        [
            [x[:, :, i : i + size, j : j + size].max(axis=(2, 3)) for j in range(cols)]
            for i in range(rows)
        ]
    ).transpose(2, 3, 0, 1)


def _deconv_full_reference(
    x: np.ndarray, weight: np.ndarray, stride: int, dilation: int, groups: int
) -> np.ndarray:
    """The transposed convolution's whole output, by scattering each input sample."""
    n, cin, h, w = x.shape
    cout_per_group, k = weight.shape[1], weight.shape[2]
    cin_per_group = cin // groups
    span = dilation * (k - 1) + 1
    out = np.zeros((n, cout_per_group * groups, (h - 1) * stride + span, (w - 1) * stride + span))
    for c in range(cin):
        group = slice(
            c // cin_per_group * cout_per_group, (c // cin_per_group + 1) * cout_per_group
        )
        for i, j, a, b in np.ndindex(h, w, k, k):
            row, col = i * stride + a * dilation, j * stride + b * dilation
            out[:, group, row, col] += x[:, c, i, j, None] * weight[c, :, a, b]
    return out


# ---------------------------------------------------------------------------- BlurPool


@settings(deadline=None, max_examples=25)
@given(
    channels=st.integers(1, 4),
    size=st.integers(1, 6),
    stride=st.integers(1, 3),
    height=st.integers(7, 12),
    width=st.integers(7, 12),
    mode=st.sampled_from(sorted(NUMPY_PAD)),
)
def test_blurpool_with_and_without_channels_against_brute_force(
    channels, size, stride, height, width, mode
):
    x = torch.randn(2, channels, height, width, dtype=torch.float64)
    expected = _blur_pool_reference(x.numpy(), stride, size, mode, (size - 1) // 2, size // 2)
    unnamed = BlurPool2d(stride=stride, filter_size=size, padding_mode=mode)
    named = BlurPool2d(channels, stride=stride, filter_size=size, padding_mode=mode)
    assert np.allclose(unnamed(x).numpy(), expected, atol=1e-12)
    assert torch.equal(unnamed(x), named(x))


def test_blurpool_without_channels_serves_any_width_and_its_checkpoints_load_everywhere():
    layer = BlurPool2d()
    for channels in (1, 3, 64):
        assert layer(torch.randn(1, channels, 8, 8)).shape == (1, channels, 4, 4)
    assert layer.channels is None and "None, stride=2" in repr(layer)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BlurPool2d())
    before = model.state_dict()
    model(torch.randn(1, 3, 8, 8))
    after = model.state_dict()
    assert list(before) == list(after) == ["0.weight", "0.bias"]
    for state in (before, after):
        for blur in (BlurPool2d(), BlurPool2d(8)):
            fresh = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), blur)
            fresh.load_state_dict(state)  # strict: no missing or unexpected keys
            x = torch.randn(1, 3, 8, 8)
            assert torch.equal(fresh(x), model(x))
    buffer = io.BytesIO()
    torch.save(BlurPool1d(), buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=False)(torch.ones(1, 5, 6)).shape == (1, 5, 3)
    with pytest.raises(CheckerscopeError, match=r"\(N, 8, H, W\), got \(1, 3, 8, 8\)"):
        BlurPool2d(8)(torch.zeros(1, 3, 8, 8))


# The examples of kornia's documentation (kornia.filters.BlurPool2D / MaxBlurPool2D on the
# 5x5 identity): binomial kernel 3, zero padding 1, stride 2; MaxBlurPool2D takes a 2x2
# maximum at stride 1 without padding first.
KORNIA_BLUR_EYE5 = [[0.3125, 0.0625, 0.0], [0.0625, 0.375, 0.0625], [0.0, 0.0625, 0.3125]]
KORNIA_MAX_BLUR_EYE5 = [[0.5625, 0.3125], [0.3125, 0.875]]


def test_kornia_documented_values():
    eye = torch.eye(5)[None, None]
    blurred = BlurPool2d(stride=2, filter_size=3, padding_mode="zeros")(eye)
    assert torch.allclose(blurred[0, 0], torch.tensor(KORNIA_BLUR_EYE5))
    pooled = MaxBlurPool2d(stride=2, filter_size=3, padding_mode="zeros")(eye)
    assert torch.allclose(pooled[0, 0], torch.tensor(KORNIA_MAX_BLUR_EYE5))


@pytest.mark.skipif(importlib.util.find_spec("kornia") is None, reason="kornia not installed")
@pytest.mark.parametrize("size", [3, 5])
def test_against_installed_kornia(size):  # pragma: no cover - kornia is not a dependency
    import kornia.filters as KF

    x = torch.randn(2, 3, 11, 10)
    ours = blur_pool2d(x, 2, size, padding_mode="zeros")
    assert torch.allclose(ours, KF.blur_pool2d(x, size, stride=2), atol=1e-6)
    ours = max_blur_pool2d(x, 2, size, padding_mode="zeros")
    assert torch.allclose(ours, KF.max_blur_pool2d(x, size, stride=2), atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm not installed")
@pytest.mark.parametrize("size", [3, 5])
def test_against_installed_timm(size):  # pragma: no cover - timm is not a dependency
    from timm.layers import BlurPool2d as TimmBlurPool2d

    x = torch.randn(2, 3, 11, 10)
    theirs = TimmBlurPool2d(filt_size=size, stride=2)(x)  # reflect, symmetric padding
    assert torch.allclose(BlurPool2d(filter_size=size)(x), theirs, atol=1e-6)


def test_timm_convention_for_odd_filters_is_symmetric_reflect_padding():
    """timm pads ``((s - 1) + (f - 1)) // 2`` on every side in reflect mode (its defaults:
    filt_size 3, stride 2); for odd ``f`` that is ours, for even ``f`` ours is one-sided."""
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64)
    for size in (3, 5):
        timm_padding = ((2 - 1) + (size - 1)) // 2
        expected = _blur_pool_reference(x.numpy(), 2, size, "reflect", timm_padding, timm_padding)
        assert np.allclose(BlurPool2d(filter_size=size)(x).numpy(), expected, atol=1e-12)


# ------------------------------------------------------------------------ MaxBlurPool2d


@settings(deadline=None, max_examples=20)
@given(
    size=st.integers(1, 5),
    pool=st.integers(1, 3),
    height=st.integers(6, 11),
    width=st.integers(6, 11),
    channels=st.integers(1, 3),
)
def test_max_blur_pool_is_a_dense_maximum_then_the_blur(size, pool, height, width, channels):
    x = torch.randn(1, channels, height, width, dtype=torch.float64)
    maxima = _max_windows(x.numpy(), pool)
    expected = _blur_pool_reference(maxima, 2, size, "reflect", (size - 1) // 2, size // 2)
    layer = MaxBlurPool2d(filter_size=size, max_pool_size=pool)
    assert np.allclose(layer(x).numpy(), expected, atol=1e-12)
    if pool == 2:
        assert layer(x).shape == nn.MaxPool2d(2)(x).shape


def test_max_blur_pool_shifts_more_smoothly_than_max_pool():
    """The point of it (Zhang 2019): shifting stripes of period 4 by one pixel flips half of
    ``MaxPool2d(2)``'s outputs between 0 and 1; ``MaxBlurPool2d``'s move by 3/8 at most."""
    stripes = torch.zeros(1, 1, 16, 16)
    stripes[..., 0::4] = stripes[..., 1::4] = 1.0
    shifted = torch.roll(stripes, 1, dims=-1)
    pooled_change = nn.MaxPool2d(2)(stripes) - nn.MaxPool2d(2)(shifted)
    assert pooled_change.abs().max() == 1.0 and pooled_change.abs().mean() == 0.5
    layer = MaxBlurPool2d(padding_mode="circular")
    blurred_change = layer(stripes) - layer(shifted)
    assert blurred_change.abs().max() == 0.375 and blurred_change.abs().mean() < 0.1


# ------------------------------------------------------------- SubPixelConv2d(blur=True)


@pytest.mark.parametrize(("scale", "kernel"), [(2, 1), (2, 3), (3, 3)])
def test_blur_matches_fastai_layout_with_the_same_weights(scale, kernel):
    """fastai's ``PixelShuffle_ICNR(blur=True)``: shuffle, ``ReplicationPad2d((1, 0, 1, 0))``,
    ``AvgPool2d(2, stride=1)``; for other scales the box here is ``scale`` wide."""
    torch.manual_seed(scale + kernel)
    layer = SubPixelConv2d(3, 2, kernel, scale, blur=True, dtype=torch.float64)
    conv = nn.Conv2d(3, 2 * scale**2, kernel, padding=kernel // 2, dtype=torch.float64)
    with torch.no_grad():  # trained weights: every phase different
        conv.weight.normal_()
        conv.bias.normal_()
    layer.load_state_dict(conv.state_dict())
    reference = nn.Sequential(
        conv,
        nn.PixelShuffle(scale),
        nn.ReplicationPad2d((scale - 1, 0, scale - 1, 0)),
        nn.AvgPool2d(scale, stride=1),
    )
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    assert torch.allclose(layer(x), reference(x), atol=1e-12)


def _resize_kernel_of_blurred_icnr(base: np.ndarray, scale: int) -> np.ndarray:
    """The nearest resize-conv kernel (size ``s * (k + 1) - 1``) equal to blur(shuffle(ICNR)).

    Output ``n`` reads conv tap ``t`` of the small input at upsampled offset
    ``s * (t - c) - m`` for each of the box's ``m = 0 .. s - 1``; ``c = (k - 1) / 2``.
    """
    k = base.shape[-1]
    size = scale * (k + 1) - 1
    centre = (size - 1) // 2
    kernel = np.zeros((*base.shape[:2], size, size))
    for ty in range(k):
        for tx in range(k):
            for my in range(scale):
                for mx in range(scale):
                    row = centre + scale * (ty - (k - 1) // 2) - my
                    col = centre + scale * (tx - (k - 1) // 2) - mx
                    kernel[:, :, row, col] += base[:, :, ty, tx] / scale**2
    return kernel


@pytest.mark.parametrize(("scale", "kernel"), [(2, 3), (2, 1), (3, 3)])
def test_blurred_icnr_at_init_is_a_nearest_resize_conv_away_from_the_first_rows(scale, kernel):
    torch.manual_seed(kernel)
    layer = SubPixelConv2d(3, 2, kernel, scale, blur=True, dtype=torch.float64)
    base = layer.weight.detach()[:: scale**2].numpy()
    resize = ResizeConv2d(3, 2, scale * (kernel + 1) - 1, scale, dtype=torch.float64)
    resize.load_state_dict(
        {
            "weight": torch.from_numpy(_resize_kernel_of_blurred_icnr(base, scale)),
            "bias": layer.bias.detach()[:: scale**2],
        }
    )
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    edge = scale - 1  # the blur's replication padding
    assert torch.allclose(layer(x)[..., edge:, edge:], resize(x)[..., edge:, edge:], atol=1e-12)
    assert not torch.allclose(layer(x), resize(x), atol=1e-6)  # the border does differ


def test_blur_removes_the_grid_that_trained_sub_pixel_weights_paint():
    torch.manual_seed(0)
    plain = SubPixelConv2d(2, 1, 3, 2, dtype=torch.float64)
    blurred = SubPixelConv2d(2, 1, 3, 2, blur=True, dtype=torch.float64)
    with torch.no_grad():
        plain.weight.normal_()  # as after training: the phases no longer agree
    blurred.load_state_dict(plain.state_dict())
    ones = torch.ones(1, 2, 8, 8, dtype=torch.float64)
    grid, flat = plain(ones)[0, 0, 4:-4, 4:-4], blurred(ones)[0, 0, 4:-4, 4:-4]
    assert grid.std() > 0.1 and flat.std() < 1e-12
    with pytest.raises(CheckerscopeError, match="blur must be True or False"):
        SubPixelConv2d(2, 1, blur="yes")


# ------------------------------------------------------------------- FilteredDeconv2d


def _smoothing_taps(name: str, stride: int) -> np.ndarray:
    return np.full(stride, 1.0 / stride) if name == "hold" else _binomial(4)


def _filtered_reference(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    stride: int,
    padding: int,
    output_padding: int,
    groups: int,
    dilation: int,
    name: str,
) -> np.ndarray:
    """Filter the transposed convolution's whole output (np.convolve), crop as torch does."""
    full = _deconv_full_reference(x, weight, stride, dilation, groups)
    taps = _smoothing_taps(name, stride)
    f = len(taps)
    size = [length + output_padding - 2 * padding for length in full.shape[2:]]
    # zero room after the output for output_padding, then a full convolution per axis
    full = np.pad(full, ((0, 0), (0, 0), (0, output_padding + f), (0, output_padding + f)))
    smoothed = np.apply_along_axis(lambda v: np.convolve(v, taps), 2, full)
    smoothed = np.apply_along_axis(lambda v: np.convolve(v, taps), 3, smoothed)
    start = padding + (f - 1) // 2
    out = smoothed[:, :, start : start + size[0], start : start + size[1]]
    return out + bias[None, :, None, None]


@settings(deadline=None, max_examples=30)
@given(
    groups=st.sampled_from([1, 2]),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    output_padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    name=st.sampled_from(["hold", "binomial4"]),
    data=st.data(),
)
def test_filtered_deconv_is_conv_transpose2d_then_the_filter(
    groups, kernel, stride, padding, output_padding, dilation, name, data
):
    if name == "binomial4":
        stride = 2
    output_padding = min(output_padding, max(stride, dilation) - 1)
    size = data.draw(st.integers(2, 5))
    if (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding < 1:
        padding = 0
    deconv = nn.ConvTranspose2d(
        4, 2 * groups, kernel, stride, padding, output_padding, groups, True, dilation,
        dtype=torch.float64,
    )  # fmt: skip
    layer = FilteredDeconv2d.from_module(deconv, smoothing=name)
    x = torch.randn(2, 4, size, size + 1, dtype=torch.float64)
    y = layer(x)
    assert y.shape == deconv(x).shape
    # 1. the definition, computed by brute force
    expected = _filtered_reference(
        x.numpy(), deconv.weight.detach().numpy(), deconv.bias.detach().numpy(),
        stride, padding, output_padding, groups, dilation, name,
    )  # fmt: skip
    assert np.allclose(y.detach().numpy(), expected, atol=1e-10)
    # 2. torch's ConvTranspose2d, then the filter: everywhere when nothing is cropped,
    #    and away from the borders in any case
    taps = torch.from_numpy(_smoothing_taps(name, stride))
    f = len(taps)
    bare = F.conv_transpose2d(
        x, deconv.weight, None, stride, padding, output_padding, groups, dilation
    )
    depthwise = (taps[:, None] * taps).flip(0, 1).expand(bare.shape[1], 1, f, f)
    then_filter = F.conv2d(
        F.pad(bare, (f // 2, (f - 1) // 2) * 2), depthwise, deconv.bias, groups=bare.shape[1]
    )
    if padding == 0 and output_padding == 0:
        assert torch.allclose(y, then_filter, atol=1e-10)
    inner = (..., slice(f, -f), slice(f, -f))
    assert torch.allclose(y[inner], then_filter[inner], atol=1e-10)


def test_from_module_keeps_weights_and_arguments():
    deconv = nn.ConvTranspose2d(6, 4, (3, 5), (2, 3), (1, 2), (1, 0), groups=2, bias=False)
    layer = FilteredDeconv2d.from_module(deconv)
    assert layer.weight.equal(deconv.weight) and layer.weight is not deconv.weight
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 5), (2, 3), (1, 2))
    assert (layer.output_padding, layer.groups, layer.bias) == ((1, 0), 2, None)
    assert layer.filter.shape == (2, 3)  # the hold filter of each axis' stride
    x = torch.randn(1, 6, 4, 5)
    assert layer(x).shape == deconv(x).shape
    one_d = FilteredDeconv1d.from_module(nn.ConvTranspose1d(2, 3, 4, 2, 1))
    assert one_d(torch.randn(1, 2, 7)).shape == (1, 3, 14)
    with pytest.raises(CheckerscopeError, match="expected an nn.ConvTranspose2d, got Conv2d"):
        FilteredDeconv2d.from_module(nn.Conv2d(2, 2, 3))


def test_filter_keyword_still_works_with_a_deprecation_warning():
    x = torch.randn(1, 2, 5, 5)
    new = FilteredDeconv2d(2, 3, 4, 2, 1, smoothing="binomial4")
    with pytest.warns(DeprecationWarning, match=r"filter=\.\.\.\) is deprecated; use smoothing"):
        old = FilteredDeconv2d(2, 3, 4, 2, 1, filter="binomial4")
    assert old.smoothing == "binomial4"
    old.load_state_dict(new.state_dict())
    assert torch.equal(old(x), new(x))
    with pytest.warns(DeprecationWarning):
        functional = filtered_deconv2d(x, new.weight, new.bias, 2, 1, filter="binomial4")
    assert torch.equal(functional, new(x))
    with pytest.raises(CheckerscopeError, match="give smoothing= only"):
        FilteredDeconv2d(2, 3, smoothing="hold", filter="hold")
    with pytest.raises(TypeError, match="unexpected keyword argument 'filtr'"):
        FilteredDeconv2d(2, 3, filtr="hold")


def test_filtered_deconv_refuses_what_torch_refuses_in_one_line():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spelling warns about nothing
        FilteredDeconv2d(2, 2, 4, 2, 1, smoothing="hold")
    cases = [
        ({"output_padding": 2}, "output_padding=2 must be smaller than stride=2"),
        ({"groups": 3}, "must be divisible by groups 3"),
        ({"padding_mode": "reflect"}, "padding_mode must be 'zeros'"),
        ({"padding": "hold"}, "padding must be an int >= 0 or 2 of them, got 'hold'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(CheckerscopeError, match=message):
            FilteredDeconv2d(2, 2, 4, 2, **kwargs)
    with pytest.raises(CheckerscopeError, match="leaves no output"):
        FilteredDeconv2d(2, 2, 1, 1, padding=2)(torch.zeros(1, 2, 3, 3))


# ------------------------------------------- Upsample + Conv2d checkpoints into ResizeConv2d


def test_a_model_of_upsample_conv_pairs_loads_into_one_of_resize_convs():
    torch.manual_seed(0)
    old = nn.Sequential(
        nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(8, 4, 3, padding=1)),
        nn.ReLU(),
        nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.ReflectionPad2d(1),
            nn.Conv2d(4, 3, 3, bias=False),  # index 2: any one index is read
        ),
    )
    new = nn.Sequential(
        ResizeConv2d(8, 4, 3, 2), nn.ReLU(), ResizeConv2d(4, 3, 3, 2, "nearest", "reflect", False)
    )
    new.load_state_dict(old.state_dict())  # strict
    x = torch.randn(2, 8, 5, 6)
    assert torch.allclose(new(x), old(x), atol=1e-5)
    buffer = io.BytesIO()
    torch.save(old.state_dict(), buffer)
    buffer.seek(0)
    fresh = nn.Sequential(ResizeConv2d(8, 4), nn.ReLU(), ResizeConv2d(4, 3, 3, 2, bias=False))
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(fresh[0].weight, old[0][1].weight)


def test_a_mismatched_upsample_conv_checkpoint_still_fails_as_torch_fails():
    pair = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(8, 4, 5, padding=2))
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        ResizeConv2d(8, 4, 3).load_state_dict(pair.state_dict())
    two_convs = {"1.weight": torch.zeros(4, 8, 3, 3), "2.weight": torch.zeros(4, 8, 3, 3)}
    with pytest.raises(RuntimeError, match="Missing key"):  # ambiguous: nothing renamed
        ResizeConv2d(8, 4, 3, bias=False).load_state_dict(two_convs)
