"""Resize-convolution: the fused path against torch's own Upsample + Conv layers."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.nn import ResizeConv1d, ResizeConv2d, ResizeConv3d, resize_conv2d
from checkerscope.nn import functional as CF

RANKS = {1: ResizeConv1d, 2: ResizeConv2d, 3: ResizeConv3d}
TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
# Uneven, small input sizes: big enough for reflect padding of k=5 at scale 2.
SIZES = {1: (5,), 2: (3, 4), 3: (2, 3, 2)}
MODES = ("zeros", "reflect", "replicate", "circular")


def reference(
    layer: nn.Module, scale: float | tuple[float, ...], mode: str = "nearest"
) -> nn.Sequential:
    """torch's own ``Upsample`` + ``Conv{1,2,3}d(padding="same")`` with ``layer``'s weights."""
    rank = layer.weight.dim() - 2
    conv = TORCH_CONV[rank](
        layer.in_channels,
        layer.out_channels,
        tuple(layer.weight.shape[2:]),
        padding="same",
        padding_mode=layer.padding_mode,
        bias=layer.bias is not None,
        dtype=layer.weight.dtype,
    )
    conv.load_state_dict(layer.state_dict())
    linear = mode not in ("nearest", "nearest-exact")
    upsample = nn.Upsample(scale_factor=scale, mode=mode, align_corners=False if linear else None)
    return nn.Sequential(upsample, conv)


def _grads(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_(True)
    module.zero_grad()
    module(x).backward(grad)
    return [x.grad, *(p.grad for p in module.parameters())]


@pytest.mark.parametrize(
    ("rank", "padding_mode", "kernel", "scale"),
    list(itertools.product((1, 2, 3), MODES, (1, 3, 5), (2, 3, 4))),
)
def test_fused_equals_torch_reference_forward_and_backward(rank, padding_mode, kernel, scale):
    torch.manual_seed(rank * 100 + kernel * 10 + scale)
    layer = RANKS[rank](2, 3, kernel, scale, padding_mode=padding_mode, fused=True)
    ref = reference(layer, scale)
    x = torch.randn(2, 2, *SIZES[rank])
    y = layer(x)
    expected = ref(x)
    assert y.shape == expected.shape == (2, 3, *(scale * n for n in SIZES[rank]))
    assert (y - expected).abs().max() < 1e-4  # every sample, borders included
    grad = torch.randn_like(y)
    for ours, theirs in zip(_grads(layer, x, grad), _grads(ref, x, grad), strict=True):
        # weight gradients sum hundreds of products: compare relative to their size
        assert (ours - theirs).abs().max() < 1e-4 * max(1.0, theirs.abs().max().item())


@pytest.mark.parametrize(
    ("rank", "padding_mode", "kernel", "scale"),
    list(itertools.product((1, 2, 3), MODES, (1, 3, 5), (2, 3, 4))),
)
def test_fused_gradcheck_float64(rank, padding_mode, kernel, scale):
    torch.manual_seed(kernel + scale)
    sizes = {1: (3,), 2: (3, 2), 3: (2, 2, 2)}[rank]
    x = torch.randn(1, 1, *sizes, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1, 1, *(kernel,) * rank, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, dtype=torch.float64, requires_grad=True)

    def fused(x, w, b):
        return CF._resize_conv(x, w, b, scale, "nearest", padding_mode, True, rank)

    assert torch.autograd.gradcheck(fused, (x, w, b))


@pytest.mark.parametrize("form", ["transpose", "subpixel"])
@pytest.mark.parametrize("padding_mode", MODES)
def test_both_fused_forms_agree_with_naive(form, padding_mode):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    for kernel, scale in itertools.product((1, 2, 3, 4, 5), (1, 2, 3, 4)):
        w = torch.randn(2, 3, kernel, kernel, dtype=torch.float64)
        b = torch.randn(2, dtype=torch.float64)
        fused = CF._resize_conv(x, w, b, scale, "nearest", padding_mode, True, 2, form=form)
        naive = resize_conv2d(x, w, b, scale, padding_mode=padding_mode, fused=False)
        assert torch.allclose(fused, naive, atol=1e-10), (kernel, scale)


@given(
    rank=st.integers(1, 3),
    kernel=st.integers(1, 6),
    scales=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    sizes=st.lists(st.integers(2, 5), min_size=3, max_size=3),
    padding_mode=st.sampled_from(MODES),
    mode=st.sampled_from(["nearest", "nearest-exact"]),
    bias=st.booleans(),
)
def test_fused_matches_reference_for_any_kernel_scale_and_size(
    rank, kernel, scales, sizes, padding_mode, mode, bias
):
    scale = tuple(float(s) for s in scales[:rank])
    fine = [n * s for n, s in zip(sizes[:rank], scale, strict=True)]
    torch.manual_seed(kernel)
    layer = RANKS[rank](2, 2, kernel, scale, mode=mode, padding_mode=padding_mode, bias=bias)
    assert layer.is_fused
    x = torch.randn(1, 2, *sizes[:rank], dtype=torch.float64)
    too_small = {"reflect": min(fine) <= kernel // 2, "circular": min(fine) < kernel // 2}
    if too_small.get(padding_mode, False):  # torch cannot pad that much either
        with pytest.raises(CheckerscopeError, match=f"{padding_mode} padding of {kernel // 2}"):
            layer(x)
        return
    expected = reference(layer.double(), scale, mode)(x)
    assert torch.allclose(layer(x), expected, atol=1e-9)


@pytest.mark.parametrize("scale", [1.5, 2.0, 2.5])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_naive_path_for_linear_modes_and_fractional_scales(scale, mode):
    torch.manual_seed(0)
    layer = ResizeConv2d(3, 2, 3, scale, mode=mode, padding_mode="replicate")
    assert layer.is_fused == (mode == "nearest" and scale == 2.0)
    x = torch.randn(2, 3, 5, 6)
    y = layer(x)
    assert y.shape == (2, 2, int(5 * scale), int(6 * scale))
    assert torch.allclose(y, reference(layer, scale, mode)(x), atol=1e-5)


@pytest.mark.parametrize("rank", [1, 3])
def test_linear_modes_take_the_name_of_each_rank(rank):
    layer = RANKS[rank](2, 2, mode="bilinear")
    assert layer.mode == {1: "linear", 3: "trilinear"}[rank]
    x = torch.randn(1, 2, *SIZES[rank])
    assert torch.allclose(layer(x), reference(layer, 2.0, layer.mode)(x), atol=1e-5)


def test_checkpoints_move_between_fused_naive_and_upsample_conv_pairs():
    torch.manual_seed(0)
    upsample, conv = nn.Upsample(scale_factor=2), nn.Conv2d(4, 6, 3, padding=1)
    pair = nn.Sequential(upsample, conv)
    fused = ResizeConv2d(4, 6, padding_mode="zeros")
    fused.load_state_dict(conv.state_dict())
    naive = ResizeConv2d(4, 6, fused=False)
    naive.load_state_dict(fused.state_dict())
    x = torch.randn(2, 4, 7, 5)
    assert torch.allclose(fused(x), pair(x), atol=1e-5)
    assert torch.allclose(naive(x), pair(x), atol=1e-5)
    assert fused.is_fused and not naive.is_fused


def test_from_modules_copies_upsample_and_conv_settings():
    torch.manual_seed(0)
    upsample = nn.Upsample(scale_factor=3, mode="nearest")
    conv = nn.Conv2d(3, 5, 5, padding=2, padding_mode="reflect", bias=False)
    layer = ResizeConv2d.from_modules(upsample, conv)
    assert (layer.scale_factor, layer.padding_mode, layer.bias) == ((3, 3), "reflect", None)
    x = torch.randn(1, 3, 4, 4)
    assert torch.allclose(layer(x), conv(upsample(x)), atol=1e-5)
    with torch.no_grad():
        conv.weight.zero_()
    assert layer.weight.abs().sum() > 0  # a copy, not shared


def test_from_modules_rejects_convolutions_that_are_not_same_padded():
    with pytest.raises(CheckerscopeError, match=r"stride=\(2, 2\)"):
        ResizeConv2d.from_modules(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, 2, 1))
    with pytest.raises(CheckerscopeError, match="padding=\\(0, 0\\)"):
        ResizeConv2d.from_modules(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3))
    with pytest.raises(CheckerscopeError, match="nn.Conv1d"):
        ResizeConv1d.from_modules(nn.Upsample(scale_factor=2), nn.Conv2d(3, 3, 3, padding=1))


def test_even_kernels_pad_like_torch_same():
    torch.manual_seed(0)
    layer = ResizeConv2d(2, 2, kernel_size=(4, 2), padding_mode="circular")
    x = torch.randn(1, 2, 3, 5)
    assert torch.allclose(layer(x), reference(layer, 2.0)(x), atol=1e-5)


def test_fused_request_that_cannot_be_fused_is_an_error():
    with pytest.raises(CheckerscopeError, match="fused=True needs mode 'nearest'.*'bilinear'"):
        ResizeConv2d(2, 2, mode="bilinear", fused=True)
    with pytest.raises(CheckerscopeError, match=r"scale_factor=1\.5"):
        ResizeConv2d(2, 2, scale_factor=1.5, fused=True)
    with pytest.raises(CheckerscopeError, match="scale_factor=2.5"):
        resize_conv2d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3), None, 2.5, fused=True)


@pytest.mark.parametrize(
    ("layer", "x", "message"),
    [
        (ResizeConv2d(4, 2), torch.zeros(1, 3, 5, 5), r"\(N, 4, H, W\), got \(1, 3, 5, 5\)"),
        (ResizeConv2d(4, 2), torch.zeros(4, 5, 5), r"got \(4, 5, 5\)"),
        (ResizeConv1d(1, 1), torch.zeros(1, 1, 2, 2), r"\(N, 1, L\), got \(1, 1, 2, 2\)"),
        (
            ResizeConv2d(1, 1, 7, padding_mode="reflect"),
            torch.zeros(1, 1, 1, 4),
            r"reflect padding of 3 needs a size above it, got size 2",
        ),
        (
            ResizeConv2d(1, 1, 7, padding_mode="reflect", fused=False),
            torch.zeros(1, 1, 1, 4),
            r"reflect padding of 3 needs a size above it, got size 2",
        ),
    ],
)
def test_bad_inputs_give_one_line_messages(layer, x, message):
    with pytest.raises(CheckerscopeError, match=message) as info:
        layer(x)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "bicubic"}, "mode must be one of .*got 'bicubic'"),
        ({"padding_mode": "mirror"}, "padding_mode must be one of .*got 'mirror'"),
        ({"kernel_size": 0}, "kernel_size must be an int >= 1.*got 0"),
        ({"scale_factor": 0.5}, "scale_factor must be a number >= 1.*got 0.5"),
        ({"scale_factor": (2, 2, 2)}, r"scale_factor .* got \(2, 2, 2\)"),
        ({"fused": "yes"}, "fused must be None, True or False"),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, message):
    with pytest.raises(CheckerscopeError, match=message):
        ResizeConv2d(2, 2, **kwargs)


def test_fused_path_saves_only_the_small_input_for_backward():
    torch.manual_seed(0)
    fused, naive = ResizeConv2d(8, 4), ResizeConv2d(8, 4, fused=False)
    x = torch.randn(2, 8, 16, 16, requires_grad=True)

    def saved_bytes(module: nn.Module) -> int:
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x)
        return sum(storages.values())

    assert saved_bytes(fused) < 0.3 * saved_bytes(naive)


def test_repr_names_the_configuration():
    text = repr(ResizeConv2d(4, 2, 3, 2, padding_mode="reflect", bias=False))
    assert "4, 2, kernel_size=3, scale_factor=2, mode='nearest'" in text
    assert "padding_mode='reflect', bias=False, fused=None" in text


@pytest.mark.parametrize("padding_mode", MODES)
def test_fused_output_keeps_the_memory_format_of_the_input(padding_mode):
    layer = ResizeConv2d(4, 2, 5, padding_mode=padding_mode)
    x = torch.randn(2, 4, 6, 6)
    assert layer(x).is_contiguous()  # so .view() works as after Upsample + Conv2d
    channels_last = x.to(memory_format=torch.channels_last)
    y = layer(channels_last)
    assert torch.allclose(y, layer(x), atol=1e-5)
