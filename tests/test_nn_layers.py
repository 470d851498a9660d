"""Sub-pixel/ICNR, filtered deconvolution, bilinear additive upsampling, BlurPool; and what
every layer of ``checkerscope.nn`` shares: even overlap, serialisation, tracing, compiling."""

from __future__ import annotations

import io
import math
import pickle
import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import checkerscope as cs
from checkerscope.errors import CheckerscopeError
from checkerscope.nn import (
    BilinearAdditiveUpsample2d,
    BlurPool1d,
    BlurPool2d,
    FilteredDeconv1d,
    FilteredDeconv2d,
    MaxBlurPool1d,
    MaxBlurPool2d,
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv1d,
    SubPixelConv2d,
    binomial_filter,
    blur_pool2d,
    icnr_,
    pixel_shuffle1d,
)

MODES = ("zeros", "reflect", "replicate", "circular")
TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d}


# ---------------------------------------------------------------------------- sub-pixel


def test_pixel_shuffle1d_against_an_explicit_loop():
    x = torch.randn(2, 6, 5)
    y = pixel_shuffle1d(x, 3)
    for c in range(2):
        for i in range(5):
            for a in range(3):
                assert y[:, c, 3 * i + a].equal(x[:, 3 * c + a, i])


@pytest.mark.parametrize("padding_mode", MODES)
@pytest.mark.parametrize(("rank", "scale", "kernel"), [(1, 2, 3), (1, 4, 5), (2, 2, 3), (2, 3, 1)])
def test_icnr_subpixel_at_init_is_conv_then_nearest_upsample(rank, scale, kernel, padding_mode):
    torch.manual_seed(scale + kernel)
    layer = (SubPixelConv1d if rank == 1 else SubPixelConv2d)(
        3, 2, kernel, scale, padding_mode=padding_mode, dtype=torch.float64
    )
    phases = scale**rank
    base = TORCH_CONV[rank](
        3, 2, kernel, padding="same", padding_mode=padding_mode, dtype=torch.float64
    )
    base.load_state_dict({"weight": layer.weight[::phases], "bias": layer.bias[::phases]})
    x = torch.randn(2, 3, *(5,) * rank, dtype=torch.float64)
    # the exact identity: every phase equal, so each s x s block is one conv output
    expected = F.interpolate(base(x), scale_factor=scale, mode="nearest")
    assert torch.allclose(layer(x), expected, atol=1e-12)
    if padding_mode != "reflect":
        # ... which is also nearest resize followed by the base kernel dilated by s
        dilated = F.conv1d if rank == 1 else F.conv2d
        upsampled = F.interpolate(x, scale_factor=scale, mode="nearest")
        pad = scale * (kernel // 2)
        mode = "constant" if padding_mode == "zeros" else padding_mode
        padded = F.pad(upsampled, (pad, pad) * rank, mode=mode)
        resized = dilated(padded, base.weight, base.bias, dilation=scale)
        assert torch.allclose(layer(x), resized, atol=1e-12)


def test_subpixel_loads_a_conv_pixel_shuffle_checkpoint():
    torch.manual_seed(0)
    pair = nn.Sequential(nn.Conv2d(4, 3 * 9, 3, padding=1), nn.PixelShuffle(3))
    layer = SubPixelConv2d(4, 3, 3, scale_factor=3)
    layer.load_state_dict(pair[0].state_dict())
    x = torch.randn(2, 4, 5, 6)
    assert torch.allclose(layer(x), pair(x), atol=1e-5)


def test_icnr_uses_the_given_initialiser_and_checks_the_layout():
    w = icnr_(torch.empty(12, 2, 3), scale_factor=4, init=nn.init.ones_)
    assert w.equal(torch.ones(12, 2, 3))
    w = icnr_(torch.empty(8, 2, 3, 3), scale_factor=2)
    assert all(w[4 * c].equal(w[4 * c + p]) for c in range(2) for p in range(4))
    assert not w[0].equal(w[4])
    with pytest.raises(CheckerscopeError, match=r"C_out\*4, C_in, k...\), got \(6, 2, 3, 3\)"):
        icnr_(torch.empty(6, 2, 3, 3), scale_factor=2)


# ------------------------------------------------------------------- filtered deconvolution


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "output_padding"),
    [(3, 2, 1, 1), (4, 2, 1, 0), (5, 3, 1, 2), (1, 2, 0, 1), (2, 4, 0, 0), (3, 2, 0, 0)],
)
def test_hold_filtered_deconv_is_nearest_upsample_then_flipped_conv(
    kernel, stride, padding, output_padding
):
    # Zero insertion followed by a box of `stride` taps is nearest upsampling
    # (Sugawara et al.), so the layer is a resize-convolution in disguise: output n reads
    # the upsampled input at n + a - (k - 1) ... n + a, a = padding + (stride - 1) // 2.
    torch.manual_seed(kernel)
    layer = FilteredDeconv2d(
        3, 2, kernel, stride, padding, output_padding, smoothing="hold", dtype=torch.float64
    )
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    reach = padding + (stride - 1) // 2
    upsampled = F.interpolate(x, scale_factor=stride, mode="nearest")
    out_h, out_w = ((size - 1) * stride - 2 * padding + kernel + output_padding for size in (4, 5))
    before = kernel - 1 - reach
    after_h, after_w = out_h + reach - 4 * stride, out_w + reach - 5 * stride
    padded = F.pad(upsampled, (before, after_w, before, after_h))  # negative amounts crop
    weight = layer.weight.transpose(0, 1).flip(2, 3) / stride**2
    expected = F.conv2d(padded, weight, layer.bias)
    assert layer(x).shape == expected.shape == (2, 2, out_h, out_w)
    assert torch.allclose(layer(x), expected, atol=1e-12)


def test_binomial_filtered_deconv_1d_against_explicit_sums():
    torch.manual_seed(0)
    layer = FilteredDeconv1d(2, 3, kernel_size=4, stride=2, smoothing="binomial4", bias=False)
    x = torch.randn(1, 2, 6, dtype=torch.float64)
    w = layer.weight.detach().double().numpy()
    xs = x.numpy()
    full = np.zeros((3, 5 * 2 + 4))
    for i in range(6):
        for c_in in range(2):
            full[:, 2 * i : 2 * i + 4] += xs[0, c_in, i] * w[c_in]
    smoothed = np.stack([np.convolve(row, [1 / 8, 3 / 8, 3 / 8, 1 / 8]) for row in full])
    # torch's padding=1 crops one sample; the filter reaches (f - 1) // 2 = 1 forward
    start = 1 + 1
    expected = smoothed[:, start : start + 12]
    ours = FilteredDeconv1d(
        2, 3, 4, 2, padding=1, smoothing="binomial4", bias=False, dtype=torch.float64
    )
    ours.load_state_dict(layer.double().state_dict())
    assert np.allclose(ours(x)[0].detach().numpy(), expected, atol=1e-12)


def test_filtered_deconv_loads_a_conv_transpose_checkpoint_and_keeps_the_filter_out():
    deconv = nn.ConvTranspose2d(4, 2, 4, 2, 1)
    layer = FilteredDeconv2d(4, 2, kernel_size=4, stride=2, padding=1, smoothing="binomial4")
    layer.load_state_dict(deconv.state_dict())
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    assert layer.filter.equal(taps[:, None] * taps)
    with pytest.raises(CheckerscopeError, match="stride 2 only, got stride=3"):
        FilteredDeconv2d(4, 2, stride=3, smoothing="binomial4")
    with pytest.raises(CheckerscopeError, match="smoothing must be one of hold, binomial4"):
        FilteredDeconv2d(4, 2, smoothing="lanczos")


# ----------------------------------------------------------- bilinear additive upsampling


@pytest.mark.parametrize(("cin", "cout", "scale"), [(8, 2, 2), (6, 6, 2), (12, 3, 3), (4, 1, 1.5)])
def test_bilinear_additive_equals_upsample_then_group_sum(cin, cout, scale):
    torch.manual_seed(cin)
    x = torch.randn(2, cin, 5, 4, dtype=torch.float64)
    upsampled = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    expected = upsampled.reshape(2, cout, cin // cout, *upsampled.shape[2:]).sum(2)
    layer = BilinearAdditiveUpsample2d(cin, cout, scale_factor=scale)
    assert list(layer.parameters()) == []
    assert torch.allclose(layer(x), expected, atol=1e-12)


def test_bilinear_additive_with_a_conv():
    torch.manual_seed(0)
    layer = BilinearAdditiveUpsample2d(8, 4, kernel_size=3, padding_mode="reflect")
    conv = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(1, 8, 6, 6)
    plain = BilinearAdditiveUpsample2d(8, 4)(x)
    assert torch.allclose(layer(x), conv(plain), atol=1e-5)
    with pytest.raises(CheckerscopeError, match=r"\(N, 8, H, W\), got \(1, 4, 6, 6\)"):
        layer(torch.zeros(1, 4, 6, 6))


# ------------------------------------------------------------------------------ BlurPool


def test_binomial_filter_is_repeated_box_smoothing():
    taps = torch.tensor([1.0])
    for size in range(1, 9):
        assert torch.allclose(binomial_filter(size), taps / taps.sum())
        taps = torch.tensor(np.convolve(taps.numpy(), [1.0, 1.0]), dtype=torch.float32)


@given(
    filter_size=st.integers(1, 7),
    stride=st.integers(1, 3),
    height=st.integers(4, 11),
    width=st.integers(4, 11),
    padding_mode=st.sampled_from(["reflect", "replicate", "circular"]),
    value=st.floats(-100, 100),
)
def test_blurpool_of_a_constant_is_that_constant(
    filter_size, stride, height, width, padding_mode, value
):
    layer = BlurPool2d(3, stride=stride, filter_size=filter_size, padding_mode=padding_mode)
    y = layer(torch.full((2, 3, height, width), value, dtype=torch.float64))
    assert y.shape == (2, 3, math.ceil(height / stride), math.ceil(width / stride))
    assert torch.allclose(y, torch.full_like(y, value), atol=1e-9 * (1 + abs(value)))
    y1 = BlurPool1d(3, stride, filter_size, padding_mode)(torch.full((1, 3, width), value))
    assert torch.allclose(y1, torch.full_like(y1, value), atol=1e-4 * (1 + abs(value)))


def test_blurpool_against_a_direct_computation():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 9, 8, dtype=torch.float64)
    taps = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
    expected = np.zeros((1, 2, 5, 4))
    for i in range(5):
        for j in range(4):
            window = padded[:, :, 2 * i : 2 * i + 5, 2 * j : 2 * j + 5]
            expected[:, :, i, j] = (window * np.outer(taps, taps)).sum(axis=(2, 3))
    assert np.allclose(blur_pool2d(x, 2, 5).numpy(), expected, atol=1e-12)


def test_blurpool_filter_is_a_non_persistent_buffer_and_inputs_are_checked():
    layer = BlurPool2d(4, filter_size=3)
    assert layer.state_dict() == {} and layer.filter.equal(torch.tensor([0.25, 0.5, 0.25]))
    with pytest.raises(CheckerscopeError, match=r"\(N, 4, H, W\), got \(1, 3, 8, 8\)"):
        layer(torch.zeros(1, 3, 8, 8))
    with pytest.raises(CheckerscopeError, match="reflect padding of 3 needs a size above it"):
        BlurPool2d(1, filter_size=7)(torch.zeros(1, 1, 3, 8))


# ---------------------------------------------------- shared: even overlap and serialisation


def _layers() -> dict[str, tuple[nn.Module, tuple[int, ...], str]]:
    """name -> (layer, example input shape, overlap direction)."""
    return {
        "resize1d": (ResizeConv1d(2, 3, 5, 4), (2, 2, 6), "forward"),
        "resize2d": (ResizeConv2d(2, 3, 3, 2, padding_mode="reflect"), (2, 2, 5, 6), "forward"),
        "resize2d-x3": (ResizeConv2d(2, 3, 3, 3), (2, 2, 4, 4), "forward"),
        "resize2d-bilinear": (ResizeConv2d(2, 3, 3, 2, mode="bilinear"), (2, 2, 5, 6), "forward"),
        "resize3d": (ResizeConv3d(2, 3, 3, 2), (1, 2, 3, 3, 3), "forward"),
        "subpixel1d": (SubPixelConv1d(2, 3, 3, 3), (2, 2, 6), "forward"),
        "subpixel2d": (SubPixelConv2d(2, 3, 3, 2), (2, 2, 5, 6), "forward"),
        "subpixel2d-blur": (SubPixelConv2d(2, 3, 3, 2, blur=True), (2, 2, 5, 6), "forward"),
        "subpixel1d-blur": (SubPixelConv1d(2, 3, 3, 3, blur=True), (2, 2, 6), "forward"),
        "hold-k3": (FilteredDeconv2d(2, 3, 3, 2, smoothing="hold"), (2, 2, 5, 6), "forward"),
        "binomial-k3": (
            FilteredDeconv2d(2, 3, 3, 2, 1, 1, smoothing="binomial4"),
            (2, 2, 5, 6),
            "forward",
        ),
        "hold-grouped-dilated": (
            FilteredDeconv2d(4, 6, 3, 2, 2, 1, groups=2, dilation=2),
            (2, 4, 5, 6),
            "forward",
        ),
        "hold1d-k4s3": (FilteredDeconv1d(2, 3, 4, 3, smoothing="hold"), (2, 2, 6), "forward"),
        "bilinear-additive": (BilinearAdditiveUpsample2d(4, 2), (2, 4, 5, 6), "forward"),
        "bilinear-additive-conv": (
            BilinearAdditiveUpsample2d(4, 2, kernel_size=3),
            (2, 4, 5, 6),
            "forward",
        ),
        "blurpool2d": (BlurPool2d(2, 2, 4), (2, 2, 8, 8), "backward"),
        "blurpool2d-any-channels": (BlurPool2d(), (2, 2, 8, 8), "backward"),
        "blurpool1d": (BlurPool1d(2, 2, 2), (2, 2, 8), "backward"),
        "maxblurpool2d": (MaxBlurPool2d(), (2, 2, 8, 8), "backward"),
        "maxblurpool1d": (MaxBlurPool1d(2, filter_size=3), (2, 2, 8), "backward"),
    }


LAYERS = _layers()


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_has_an_even_overlap_pattern(name):
    layer, shape, direction = LAYERS[name]
    pattern = cs.overlap(layer.overlap_specs(), dims=len(shape) - 2, direction=direction)
    assert pattern.unevenness == 1.0, pattern.pattern


def _ones_like_weights(layer: nn.Module) -> nn.Module:
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            parameter.fill_(0.0 if name == "bias" else 1.0)
    return layer


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_response_to_ones_is_even_away_from_borders(name):
    """The same fact measured on the layer itself: ones in, all-ones weights."""
    layer, shape, direction = LAYERS[name]
    layer = _ones_like_weights(pickle.loads(pickle.dumps(layer))).double()
    rank = len(shape) - 2
    big = (1, shape[1], *(16,) * rank)
    x = torch.ones(big, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    if direction == "forward":
        response = y
    else:
        y.sum().backward()
        response = x.grad
    interior = response[(0, 0, *(slice(6, -6),) * rank)]
    assert interior.numel() > 0 and torch.allclose(interior, interior.flatten()[0], atol=1e-9)


def test_uneven_layers_are_not_even_under_the_same_checks():
    """The two checks above can fail: a k3 s2 deconvolution and a k3 s2 BlurPool fail them."""
    deconv = nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1, bias=False)
    _ones_like_weights(deconv)
    y = deconv(torch.ones(1, 1, 12, 12))[0, 0, 6:-6, 6:-6]
    assert y.max() / y.min() == 4.0
    assert (
        cs.overlap(BlurPool2d(1, 2, 3).overlap_specs(), dims=2, direction="backward").unevenness > 1
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_pickle_state_dict_and_trace_agree_with_eager(name):
    layer, shape, _ = LAYERS[name]
    torch.manual_seed(0)
    x = torch.randn(shape)
    expected = layer(x)
    assert torch.equal(pickle.loads(pickle.dumps(layer))(x), expected)
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    clone = pickle.loads(pickle.dumps(layer))
    for parameter in clone.parameters():
        parameter.data.zero_()
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(clone(x), expected)
    traced = torch.jit.trace(layer, (x,), check_trace=False)
    assert torch.allclose(traced(x), expected, atol=1e-6)


def test_torch_compile_agrees_with_eager():
    torch.manual_seed(0)
    layer = ResizeConv2d(2, 3, 3, 2)
    x = torch.randn(1, 2, 5, 6)
    with torch.no_grad():
        assert torch.allclose(torch.compile(layer, dynamic=False)(x), layer(x), atol=1e-5)
    # forward and backward through dynamo + AOT autograd, reflect borders included
    # (inductor's replication_pad2d_backward stride check fails here in torch 2.13)
    layer = ResizeConv2d(2, 3, 5, 2, padding_mode="reflect")
    x.requires_grad_(True)
    y, expected = torch.compile(layer, backend="aot_eager")(x), layer(x)
    assert torch.allclose(y, expected, atol=1e-5)
    (grad_compiled,) = torch.autograd.grad(y.sum(), x)
    (grad_eager,) = torch.autograd.grad(expected.sum(), x)
    assert torch.allclose(grad_compiled, grad_eager, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_keeps_device_and_dtype_and_scales_the_size(name):
    layer, shape, direction = LAYERS[name]
    cls = type(layer)
    assert all(p.dtype == torch.float32 for p in layer.parameters())
    y = layer(torch.randn(shape))
    rank = len(shape) - 2
    if direction == "forward":
        assert all(y.shape[2 + a] > shape[2 + a] for a in range(rank))
    else:
        assert all(y.shape[2 + a] == math.ceil(shape[2 + a] / 2) for a in range(rank))
    assert cls.__doc__ and "(" in cls.__doc__.splitlines()[0]  # one line naming its source


def test_dtype_and_device_arguments():
    layer = ResizeConv2d(2, 2, dtype=torch.float64, device="cpu")
    assert layer.weight.dtype == torch.float64
    assert BlurPool2d(2, dtype=torch.float64).filter.dtype == torch.float64
    assert FilteredDeconv2d(2, 2, dtype=torch.float64).filter.dtype == torch.float64
    assert MaxBlurPool2d(dtype=torch.float64).filter.dtype == torch.float64


# ----------------------------------------------------------- a generator built from them


def _generator(kind: str, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    widths = [64, 32, 16, 8, 3]
    stages: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False)):
        if kind == "resize":
            stages.append(ResizeConv2d(cin, cout, 3, 2))
        else:
            stages.append(nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1))
        stages.append(nn.ReLU() if i < 3 else nn.Tanh())
    return nn.Sequential(*stages)


def test_resize_conv_generator_scores_artifact_free_and_deconv_does_not():
    metrics = pytest.importorskip("checkerscope.metrics")
    scores = {}
    for kind in ("resize", "deconv"):
        dbs = []
        for seed in range(4):
            generator = _generator(kind, seed)
            with torch.no_grad():
                image = generator(
                    torch.randn(4, 64, 4, 4, generator=torch.Generator().manual_seed(seed))
                )
            assert image.shape == (4, 3, 64, 64)
            dbs.extend(np.asarray(metrics.checkerboard_score(image, period=2).db).tolist())
        scores[kind] = statistics.median(dbs)
    assert scores["resize"] < 3.0, scores
    assert scores["deconv"] > scores["resize"] + 10.0, scores
