"""The overlap engine against a brute force that runs torch's own layers on ones.

The reference builds a one-channel tensor of ones (float64), applies
``conv_transpose``/``conv``/``interpolate``/``pixel_shuffle``/``avg_pool`` with all-ones
kernels, and for the backward direction differentiates the sum of the outputs. The
engine never sees torch; these tests are the only place the two meet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from checkerscope.errors import CheckerscopeError
from checkerscope.theory import (
    FIR,
    AvgPool,
    Conv,
    Deconv,
    LayerSpec,
    MaxPool,
    PixelShuffle,
    Resize,
    output_shape,
    overlap,
)

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _axes(value: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,) * dims


def _pixel_shuffle(x: torch.Tensor, scale: int, dims: int) -> torch.Tensor:
    """Repeat over scale**dims channels, then interleave (torch's op in 2-D, by hand else)."""
    channels = scale**dims
    x = x.repeat(1, channels, *([1] * dims))
    if dims == 2:
        return F.pixel_shuffle(x, scale)
    batch, spatial = x.shape[0], x.shape[2:]
    x = x.reshape(batch, 1, *([scale] * dims), *spatial)
    # (N, 1, r_0..r_{d-1}, L_0..L_{d-1}) -> (N, 1, L_0, r_0, L_1, r_1, ...)
    order = [0, 1] + [i for axis in range(dims) for i in (2 + dims + axis, 2 + axis)]
    x = x.permute(*order)
    return x.reshape(batch, 1, *(length * scale for length in spatial))


def _torch_layer(layer: LayerSpec, x: torch.Tensor, dims: int) -> torch.Tensor:
    if isinstance(layer, Deconv):
        weight = torch.ones((1, 1, *_axes(layer.kernel, dims)), dtype=torch.float64)
        return _DECONV[dims](
            x,
            weight,
            stride=_axes(layer.stride, dims),
            padding=_axes(layer.padding, dims),
            output_padding=_axes(layer.output_padding, dims),
            dilation=_axes(layer.dilation, dims),
        )
    if isinstance(layer, Conv):
        weight = torch.ones((1, 1, *_axes(layer.kernel, dims)), dtype=torch.float64)
        return _CONV[dims](
            x,
            weight,
            stride=_axes(layer.stride, dims),
            padding=_axes(layer.padding, dims),
            dilation=_axes(layer.dilation, dims),
        )
    if isinstance(layer, Resize):
        scale = tuple(float(s) for s in _axes(layer.scale, dims))
        if layer.mode == "nearest":
            return F.interpolate(x, scale_factor=scale, mode="nearest")
        return F.interpolate(x, scale_factor=scale, mode=_LINEAR[dims], align_corners=False)
    if isinstance(layer, PixelShuffle):
        assert isinstance(layer.scale, int)
        return _pixel_shuffle(x, layer.scale, dims)
    if isinstance(layer, AvgPool):
        return _AVG_POOL[dims](
            x,
            _axes(layer.kernel, dims),
            stride=_axes(layer.stride, dims),
            padding=_axes(layer.padding, dims),
            count_include_pad=True,
        )
    if isinstance(layer, MaxPool):
        # the expectation of max pooling when the maximum is equally likely anywhere in
        # the window: the mean over the zero-padded window (padded here by hand, since
        # torch's avg_pool3d refuses inputs smaller than the kernel and max_pool3d does not)
        pads = [p for pad in reversed(_axes(layer.padding, dims)) for p in (pad, pad)]
        return _AVG_POOL[dims](
            F.pad(x, pads), _axes(layer.kernel, dims), stride=_axes(layer.stride, dims)
        )
    if isinstance(layer, FIR):
        kernel = torch.ones((), dtype=torch.float64)
        for taps in layer.axis_taps(dims):
            kernel = torch.tensordot(kernel, torch.tensor(taps, dtype=torch.float64), dims=0)
        weight = kernel.reshape(1, 1, *kernel.shape)
        op = _DECONV[dims] if layer.transposed else _CONV[dims]
        return op(x, weight, stride=_axes(layer.stride, dims), padding=_axes(layer.padding, dims))
    raise AssertionError(f"no reference for {layer!r}")


def brute_force(
    layers: Sequence[LayerSpec], input_shape: tuple[int, ...], direction: str = "forward"
) -> np.ndarray:
    """The coverage map computed by running torch on ones (float64)."""
    dims = len(input_shape)
    x = torch.ones((1, 1, *input_shape), dtype=torch.float64, requires_grad=True)
    y = x
    for layer in layers:
        y = _torch_layer(layer, y, dims)
    if direction == "forward":
        return y[0, 0].detach().numpy()
    y.sum().backward()
    assert x.grad is not None
    return x.grad[0, 0].numpy()


# --------------------------------------------------------------------------------------
# Strategies: small random layers, so that the brute force stays fast
# --------------------------------------------------------------------------------------


def _param(draw: st.DrawFn, dims: int, low: int, high: int, per_axis: bool) -> int | tuple:
    if per_axis and dims > 1:
        return tuple(draw(st.integers(low, high)) for _ in range(dims))
    return draw(st.integers(low, high))


@st.composite
def layer_specs(draw: st.DrawFn, dims: int) -> LayerSpec:
    kind = draw(st.sampled_from(["deconv", "deconv", "conv", "resize", "shuffle", "pool", "fir"]))
    per_axis = draw(st.booleans()) if dims > 1 else False
    if kind == "deconv":
        kernel = _param(draw, dims, 1, 5, per_axis)
        stride = _param(draw, dims, 1, 3, per_axis)
        dilation = _param(draw, dims, 1, 2, per_axis)
        padding = _param(draw, dims, 0, 2, per_axis)
        limits = [
            max(s, d) - 1 for s, d in zip(_axes(stride, dims), _axes(dilation, dims), strict=True)
        ]
        output_padding = tuple(draw(st.integers(0, limit)) for limit in limits)
        if not per_axis:
            output_padding = min(output_padding)
        return Deconv(kernel, stride, padding, output_padding, dilation)
    if kind == "conv":
        return Conv(
            _param(draw, dims, 1, 4, per_axis),
            _param(draw, dims, 1, 3, per_axis),
            _param(draw, dims, 0, 2, per_axis),
            _param(draw, dims, 1, 2, per_axis),
        )
    if kind == "resize":
        return Resize(
            _param(draw, dims, 1, 3, per_axis), draw(st.sampled_from(["nearest", "bilinear"]))
        )
    if kind == "shuffle":
        return PixelShuffle(draw(st.integers(1, 3)))
    if kind == "fir":
        tap = st.sampled_from([1, 2, 3, 0.5, 0.25, -1])
        taps = draw(st.lists(tap, min_size=1, max_size=4))
        assume(any(taps))
        stride = draw(st.integers(1, 3))
        return FIR(taps, stride, draw(st.integers(0, len(taps) - 1)), draw(st.booleans()))
    kernel = draw(st.integers(1, 3))
    pool = draw(st.sampled_from([AvgPool, MaxPool]))
    return pool(kernel, draw(st.integers(1, 3)), draw(st.integers(0, kernel // 2)))


def _stacks(dims: int, max_layers: int = 4) -> st.SearchStrategy[list[LayerSpec]]:
    return st.lists(layer_specs(dims), min_size=1, max_size=max_layers)


def _growth(layers: Sequence[LayerSpec], dims: int) -> int:
    """Upper bound on how many times an axis grows, to keep brute-force tensors small."""
    return max(math.prod(layer.up_factors(dims)[axis] for layer in layers) for axis in range(dims))


def _torch_raises(layers: Sequence[LayerSpec], shape: tuple[int, ...]) -> bool:
    try:
        brute_force(layers, shape)
    except RuntimeError:
        return True
    return False


def _check_full(layers: list[LayerSpec], shape: tuple[int, ...], direction: str) -> None:
    dims = len(shape)
    pattern = overlap(layers, dims=dims, direction=direction)
    try:
        expected = brute_force(layers, shape, direction)
    except RuntimeError:
        # torch refuses (an empty output somewhere): the engine must refuse too, in one line
        with pytest.raises(CheckerscopeError, match="empty|smaller than the kernel"):
            pattern.full(shape)
        with pytest.raises(CheckerscopeError, match="empty|smaller than the kernel"):
            output_shape(layers, shape)
        return
    got = pattern.full(shape)
    assert got.shape == expected.shape
    if direction == "forward":
        assert output_shape(layers, shape) == expected.shape
    if got.dtype == np.int64:
        assert np.array_equal(got, expected), (got, expected)
    else:
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# full() == brute force
# --------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(
    layers=_stacks(1),
    length=st.integers(1, 8),
    direction=st.sampled_from(["forward", "backward"]),
)
def test_full_matches_torch_1d(layers: list[LayerSpec], length: int, direction: str) -> None:
    assume(_growth(layers, 1) <= 27)
    _check_full(layers, (length,), direction)


@settings(max_examples=250)
@given(
    layers=_stacks(2),
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    direction=st.sampled_from(["forward", "backward"]),
)
def test_full_matches_torch_2d(
    layers: list[LayerSpec], height: int, width: int, direction: str
) -> None:
    assume(_growth(layers, 2) <= 16)
    _check_full(layers, (height, width), direction)


@settings(max_examples=40)
@given(
    layers=_stacks(3, max_layers=3),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    direction=st.sampled_from(["forward", "backward"]),
)
def test_full_matches_torch_3d(
    layers: list[LayerSpec], shape: tuple[int, int, int], direction: str
) -> None:
    assume(_growth(layers, 3) <= 6)
    _check_full(layers, shape, direction)


@pytest.mark.parametrize(
    ("layers", "shape"),
    [
        ([Conv(5)], (3,)),
        ([Conv(3, dilation=2)], (4, 9)),
        ([Deconv(1, 1, padding=1)], (2,)),
        ([AvgPool(3, 1, padding=1), Conv(4, 2)], (2, 2)),
        ([Deconv(3, 2), Conv(3, 3), Conv(3, 3)], (3, 3, 3)),
    ],
    ids=str,
)
def test_empty_outputs_raise_like_torch(layers: list[LayerSpec], shape: tuple[int, ...]) -> None:
    assert _torch_raises(layers, shape)
    with pytest.raises(CheckerscopeError, match=r"^[^\n]*empty[^\n]*$"):
        overlap(layers, dims=len(shape)).full(shape)
    with pytest.raises(CheckerscopeError, match="empty"):
        overlap(layers, dims=len(shape), direction="backward").full(shape)


# --------------------------------------------------------------------------------------
# the steady-state pattern == the interior of full(), tiled
# --------------------------------------------------------------------------------------


def _one_axis(layer: LayerSpec, axis: int, dims: int) -> dict[str, int]:
    return {
        name: _axes(value, dims)[axis]
        for name, value in vars(layer).items()
        if isinstance(value, (int, tuple)) and name != "taps"
    }


def _border(layers: Sequence[LayerSpec], axis: int, dims: int, direction: str) -> int:
    """How far border effects can reach into the map along one axis (an upper bound).

    Tracked layer by layer: a window layer (conv, pool) reading a bad region of width
    ``b`` makes ``ceil((b + p + span) / s) + 1`` bad outputs; a scatter layer (deconv)
    ``b * s + span + p + op``; a resize ``(b + 1) * s``. Backward, each adjoint swaps the
    roles of window and scatter.
    """

    def window(b: int, kernel: int, stride: int, pad: int, dil: int) -> int:
        return -(-(b + pad + dil * (kernel - 1) + 1) // stride) + 1

    def scatter(b: int, kernel: int, stride: int, pad: int, dil: int, op: int = 0) -> int:
        return b * stride + dil * (kernel - 1) + 1 + pad + op

    bad = 0
    ordered = layers if direction == "forward" else list(reversed(layers))
    for layer in ordered:
        p = _one_axis(layer, axis, dims)
        if isinstance(layer, (Resize, PixelShuffle)):
            scale = p["scale"]
            bad = (bad + 1) * scale if direction == "forward" else -(-bad // scale) + 2
            continue
        if isinstance(layer, FIR):
            p["kernel"] = len(layer.axis_taps(dims)[axis])
        args = (p["kernel"], p["stride"], p["padding"], p.get("dilation", 1))
        is_window = not isinstance(layer, Deconv) and not (
            isinstance(layer, FIR) and layer.transposed
        )
        if is_window == (direction == "forward"):
            bad = window(bad, *args)
        else:
            bad = scatter(bad, *args, p.get("output_padding", 0))
    return bad


def _interior_agrees(layers: list[LayerSpec], dims: int, direction: str) -> None:
    """Tile ``pattern`` and compare it with ``full()`` away from the borders."""
    pattern = overlap(layers, dims=dims, direction=direction)
    borders = [_border(layers, axis, dims, direction) for axis in range(dims)]
    shape = []
    for axis, border in enumerate(borders):
        # the shortest power-of-two input whose map keeps two structural periods inside
        length = 1
        while (size := _map_length(layers, axis, length, direction)) is None or (
            size - 2 * border < 2 * pattern.structural_period[axis]
        ):
            length *= 2
        shape.append(length)
    full = pattern.full(tuple(shape))
    index = np.ix_(*(np.arange(b, n - b) for b, n in zip(borders, full.shape, strict=True)))
    phases = np.ix_(*(i.ravel() % p for i, p in zip(index, pattern.period, strict=True)))
    np.testing.assert_allclose(full[index], pattern.pattern[phases], rtol=1e-9, atol=1e-9)


def _map_length(layers: Sequence[LayerSpec], axis: int, length: int, direction: str) -> int | None:
    """Length of the coverage map along one axis (None when the stack refuses ``length``)."""
    try:
        (out,) = output_shape([_single_axis(layer, axis) for layer in layers], (length,))
    except CheckerscopeError:
        return None
    return out if direction == "forward" else length


@settings(max_examples=200)
@given(layers=_stacks(1), direction=st.sampled_from(["forward", "backward"]))
@example(layers=[Deconv(3, 2), Resize(2, "bilinear")], direction="forward")
@example(layers=[Deconv(3, 2, padding=1), Resize(3, "bilinear")], direction="forward")
@example(layers=[Resize(2, "bilinear"), Conv(3, 2)], direction="backward")
@example(layers=[Conv(3, 2), Deconv(3, 2, 1, 1), AvgPool(3, 2, 1)], direction="backward")
@example(layers=[Deconv(3, 2), Deconv(3, 2), Deconv(3, 1)], direction="forward")
def test_pattern_is_the_interior_of_full_1d(layers: list[LayerSpec], direction: str) -> None:
    assume(_growth(layers, 1) <= 27)
    _interior_agrees(layers, 1, direction)


@settings(max_examples=30)
@given(layers=_stacks(2, max_layers=3), direction=st.sampled_from(["forward", "backward"]))
def test_pattern_is_the_interior_of_full_2d(layers: list[LayerSpec], direction: str) -> None:
    assume(_growth(layers, 2) <= 9)
    _interior_agrees(layers, 2, direction)


@settings(max_examples=100)
@given(layers=_stacks(1), direction=st.sampled_from(["forward", "backward"]))
def test_pattern_is_minimal_and_consistent(layers: list[LayerSpec], direction: str) -> None:
    p = overlap(layers, dims=1, direction=direction)
    (period,) = p.period
    (structural,) = p.structural_period
    assert structural % period == 0
    values = p.pattern
    for smaller in range(1, period):
        if period % smaller == 0:
            assert not np.allclose(values, np.roll(values, smaller), rtol=0, atol=1e-12)
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() <= 0 and finite.min() < 0:
        finite = -finite
    if finite.size and finite.max() > 0:
        expected = finite.max() / finite.min() if finite.min() > 0 else math.inf
        assert p.unevenness == pytest.approx(expected)


@settings(max_examples=60)
@given(layers=_stacks(2, max_layers=3), direction=st.sampled_from(["forward", "backward"]))
def test_nd_pattern_is_outer_product_of_axes(layers: list[LayerSpec], direction: str) -> None:
    p = overlap(layers, dims=2, direction=direction)
    assert p.pattern.shape == p.period
    np.testing.assert_array_equal(p.pattern, np.multiply.outer(*p.axes))
    for axis in range(2):
        single = [_single_axis(layer, axis) for layer in layers]
        np.testing.assert_allclose(
            overlap(single, dims=1, direction=direction).pattern, p.axes[axis], rtol=1e-12
        )


def _single_axis(layer: LayerSpec, axis: int) -> LayerSpec:
    """The 1-D layer acting on one axis of a 2-D layer."""
    values = dict(vars(layer))
    if isinstance(layer, FIR):
        values["taps"] = layer.axis_taps(2)[axis]
    return type(layer)(
        **{
            name: (value[axis] if isinstance(value, tuple) and name != "taps" else value)
            for name, value in values.items()
        }
    )


def test_avg_pool_3d_refuses_inputs_smaller_than_the_kernel_like_torch() -> None:
    layers = [AvgPool(2, 1, padding=1)]
    assert _torch_raises(layers, (1, 3, 3))
    assert not _torch_raises(layers, (1, 3))
    assert F.max_pool3d(torch.ones(1, 1, 1, 3, 3), 2, 1, 1).shape[2:] == (2, 4, 4)
    assert overlap(MaxPool(2, 1, padding=1), dims=3).full((1, 3, 3)).shape == (2, 4, 4)
    with pytest.raises(CheckerscopeError, match="smaller than the kernel"):
        overlap(layers, dims=3).full((1, 3, 3))
    np.testing.assert_allclose(overlap(layers, dims=2).full((1, 3)), brute_force(layers, (1, 3)))


# --------------------------------------------------------------------------------------
# Deep paths: counts far past int64 stay finite ratios
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [1, 2])
def test_forty_layer_path_has_a_finite_unevenness(dims: int) -> None:
    # 3**40 paths per axis overflow int64 (the old engine reported negative ratios)
    stack = [Conv(3, padding=1)] * 18 + [Deconv(3, 2)] * 2 + [Conv(3, padding=1)] * 20
    pattern = overlap(stack, dims=dims)
    assert math.isfinite(pattern.unevenness) and pattern.unevenness >= 1.0
    assert np.all(np.asarray(pattern.pattern) > 0)
    # the same path at a depth int64 still holds gives the same ratio (to rounding)
    short = overlap([Deconv(3, 2)] * 2 + [Conv(3, padding=1)] * 4, dims=dims)
    assert short.pattern.dtype == np.int64
    deep_then_short = overlap([Conv(3, padding=1)] * 40 + list(short.layers), dims=dims)
    assert deep_then_short.pattern.dtype == np.float64
    np.testing.assert_allclose(
        deep_then_short.pattern / deep_then_short.pattern.max(),
        short.pattern / short.pattern.max(),
        rtol=1e-12,
    )
    assert deep_then_short.unevenness == pytest.approx(short.unevenness, rel=1e-12)


def test_thousand_layer_path_stays_in_range() -> None:
    pattern = overlap([Deconv(3, 2)] + [Conv(3, padding=1)] * 1000, dims=1)
    assert math.isfinite(pattern.unevenness) and pattern.unevenness >= 1.0
