"""Exact overlap patterns of layer stacks: how unevenly each output pixel is painted.

The *coverage* of a stack of layers is its response, on one channel with all-ones kernels
and the true interpolation weights, to an input of ones. For transposed convolutions it
counts the paths from input pixels to each output pixel; a stride-``s`` layer whose kernel
size is not divisible by ``s`` covers some outputs more often than others, which is the
checkerboard pattern of Odena, Dumoulin & Olah (Distill 2016). With
``direction="backward"`` the coverage is the gradient of the sum of the outputs with
respect to the input, which shows the pattern strided convolutions leave in gradients.

Every supported layer acts on each spatial axis separately and the input is all ones, so
an N-D coverage map is the outer product of 1-D maps. Each axis is computed in 1-D:

* ``full(input_shape)`` applies the layers to a finite line with torch's zero padding,
  output padding, dilation and interpolation rules, borders included;
* the steady-state ``pattern`` applies them to a circle whose length is the shortest one
  every layer's stride divides. A constant input on a circle is exactly the infinite input
  of ones, so the circle's output is one structural period of the pattern far from any
  border, at a cost independent of the image size.

This module uses NumPy only.

Examples:
    >>> overlap(Deconv(3, 2), dims=1).pattern
    array([2, 1])
    >>> p = overlap([Deconv(3, 2), Deconv(3, 2)], dims=1)
    >>> p.period, p.pattern, p.unevenness
    ((4,), array([3, 2, 3, 1]), 3.0)
    >>> overlap(Conv(3, 2), dims=1, direction="backward").pattern
    array([2, 1])
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any, ClassVar, Literal

import numpy as np

from checkerscope.errors import CheckerscopeError

__all__ = [
    "FIR",
    "AvgPool",
    "Conv",
    "Deconv",
    "LayerSpec",
    "MaxPool",
    "OverlapPattern",
    "PixelShuffle",
    "Resize",
    "coverage_map",
    "output_shape",
    "overlap",
    "parse_stack",
]

IntOrTuple = int | tuple[int, ...]
Direction = Literal["forward", "backward"]
_DIRECTIONS = ("forward", "backward")
_MAX_DIMS = 3


# --------------------------------------------------------------------------------------
# 1-D operators: the per-axis building blocks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Taps:
    """A sparse linear map from ``in_length`` to ``out_length`` samples.

    ``out[out_index[i]] += weight[i] * in[in_index[i]]`` for every tap ``i``.
    """

    in_length: int
    out_length: int
    out_index: np.ndarray
    in_index: np.ndarray
    weight: np.ndarray

    def forward(self, signal: np.ndarray) -> np.ndarray:
        return np.bincount(
            self.out_index, weights=self.weight * signal[self.in_index], minlength=self.out_length
        )

    def adjoint(self, signal: np.ndarray) -> np.ndarray:
        return np.bincount(
            self.in_index, weights=self.weight * signal[self.out_index], minlength=self.in_length
        )


@dataclass(frozen=True)
class _AxisOp:
    """One layer restricted to one axis.

    ``kind`` is ``"window"`` (convolution or pooling: each output reads a window of the
    input), ``"scatter"`` (transposed convolution: each input paints a window of the
    output), ``"nearest"`` or ``"linear"`` (interpolation by an integer ``stride``).
    """

    kind: str
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    dilation: int = 1
    weight: float = 1.0
    min_length: int = 1
    tap_weights: tuple[float, ...] | None = None

    @property
    def up(self) -> int:
        return 1 if self.kind == "window" else self.stride

    @property
    def down(self) -> int:
        return self.stride if self.kind == "window" else 1

    @property
    def span(self) -> int:
        """Extent of the dilated kernel."""
        return self.dilation * (self.kernel - 1) + 1

    def out_length(self, length: int) -> int:
        """Output length on a finite line (torch's formulas); may be <= 0."""
        if self.kind == "window":
            return (length + 2 * self.padding - self.span) // self.stride + 1
        if self.kind == "scatter":
            return (length - 1) * self.stride - 2 * self.padding + self.span + self.output_padding
        return length * self.stride

    def taps(self, in_length: int, out_length: int, circular: bool) -> _Taps:
        """Taps on a finite line (zero padding) or on a circle (wrap-around)."""
        out_index: np.ndarray
        in_index: np.ndarray
        if self.kind == "window":
            out_index, tap = np.meshgrid(
                np.arange(out_length), np.arange(self.kernel), indexing="ij"
            )
            in_index = out_index * self.stride - self.padding + tap * self.dilation
            weight = self._tap_weight(tap)
        elif self.kind == "scatter":
            in_index, tap = np.meshgrid(np.arange(in_length), np.arange(self.kernel), indexing="ij")
            out_index = in_index * self.stride - self.padding + tap * self.dilation
            weight = self._tap_weight(tap)
        elif self.kind == "nearest":
            out_index = np.arange(out_length)
            in_index = out_index // self.stride
            weight = np.ones(out_length)
        else:
            out_index, in_index, weight = self._linear_taps(in_length, out_length, circular)
        out_index, in_index, weight = (a.ravel() for a in (out_index, in_index, weight))
        if circular:
            out_index, in_index = out_index % out_length, in_index % in_length
        else:
            inside = (
                (in_index >= 0)
                & (in_index < in_length)
                & (out_index >= 0)
                & (out_index < out_length)
            )
            out_index, in_index, weight = out_index[inside], in_index[inside], weight[inside]
        return _Taps(in_length, out_length, out_index, in_index, weight)

    def _tap_weight(self, tap: np.ndarray) -> np.ndarray:
        if self.tap_weights is None:
            return np.full(tap.shape, self.weight)
        return np.asarray(self.tap_weights, dtype=float)[tap] * self.weight

    def _linear_taps(
        self, in_length: int, out_length: int, circular: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = self.stride
        out_index = np.arange(out_length)
        if circular:
            # Exact rationals: source = (2j + 1 - s) / 2s, no clamping on an endless line.
            numerator = 2 * out_index + 1 - scale
            left = numerator // (2 * scale)
            frac = (numerator - 2 * scale * left) / (2 * scale)
            right = left + 1
        else:
            # torch's arithmetic (align_corners=False): negative sources clamp to 0 and
            # the right neighbour clamps to the last sample.
            source = np.maximum((out_index + 0.5) * (1.0 / scale) - 0.5, 0.0)
            left = source.astype(np.int64)
            frac = np.clip(source - left, 0.0, 1.0)
            right = np.where(left < in_length - 1, left + 1, left)
        return (
            np.concatenate([out_index, out_index]),
            np.concatenate([left, right]),
            np.concatenate([1.0 - frac, frac]),
        )


# --------------------------------------------------------------------------------------
# Layer specs
# --------------------------------------------------------------------------------------


def _as_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool):
        raise CheckerscopeError(f"{owner}: {name} must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise CheckerscopeError(f"{owner}: {name} must be an integer, got {value!r}") from None


def _normalize(value: Any, name: str, owner: str) -> IntOrTuple:
    """An int, or a non-empty tuple of ints (lists and NumPy integers accepted)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        items = tuple(_as_int(v, name, owner) for v in value)
        if not 1 <= len(items) <= _MAX_DIMS:
            raise CheckerscopeError(
                f"{owner}: {name} must have 1 to {_MAX_DIMS} entries, got {value!r}"
            )
        return items
    return _as_int(value, name, owner)


def _values(value: IntOrTuple) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


def _per_axis(value: IntOrTuple, dims: int, name: str, owner: str) -> tuple[int, ...]:
    if isinstance(value, tuple):
        if len(value) != dims:
            raise CheckerscopeError(
                f"{owner}: {name}={value} has {len(value)} entries but dims={dims}"
            )
        return value
    return (value,) * dims


def _format(value: IntOrTuple) -> str:
    return "x".join(str(v) for v in _values(value))


@dataclass(frozen=True)
class LayerSpec:
    """Base class of the layer specs: validation, per-axis parameters, descriptions.

    Subclasses list their integer parameters in ``_int_fields``; each is an int (the same
    on every axis) or a tuple with one entry per axis, with PyTorch's meaning.
    """

    _int_fields: ClassVar[tuple[str, ...]] = ()
    name: ClassVar[str] = "layer"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for field in self._int_fields:
            object.__setattr__(self, field, _normalize(getattr(self, field), field, owner))
        lengths = {
            field: len(getattr(self, field))
            for field in self._int_fields
            if isinstance(getattr(self, field), tuple)
        }
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{f}={getattr(self, f)}" for f in lengths)
            raise CheckerscopeError(f"{owner}: per-axis parameters differ in length: {listed}")
        self._validate()

    def _validate(self) -> None:  # pragma: no cover - every subclass overrides
        pass

    def _require(self, field: str, minimum: int) -> None:
        value = getattr(self, field)
        if min(_values(value)) < minimum:
            raise CheckerscopeError(
                f"{type(self).__name__}: {field} must be >= {minimum}, got {value}"
            )

    @property
    def upsampling(self) -> IntOrTuple:
        """Factor by which the layer multiplies the sampling rate (1 when it does not)."""
        return 1

    @property
    def downsampling(self) -> IntOrTuple:
        """Factor by which the layer divides the sampling rate (1 when it does not)."""
        return 1

    @property
    def integer_weights(self) -> bool:
        """True when every weight of the coverage computation is an integer."""
        return True

    def up_factors(self, dims: int) -> tuple[int, ...]:
        """Per-axis upsampling factors for ``dims`` spatial axes."""
        return _per_axis(self.upsampling, dims, "upsampling", type(self).__name__)

    def down_factors(self, dims: int) -> tuple[int, ...]:
        """Per-axis downsampling factors for ``dims`` spatial axes."""
        return _per_axis(self.downsampling, dims, "downsampling", type(self).__name__)

    def describe(self) -> str:
        """A short description such as ``"deconv k3 s2"``."""
        return self.name

    def _axis_ops(self, dims: int) -> list[_AxisOp]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _axis(self, field: str, dims: int) -> tuple[int, ...]:
        return _per_axis(getattr(self, field), dims, field, type(self).__name__)


@dataclass(frozen=True)
class Deconv(LayerSpec):
    """A transposed convolution (``torch.nn.ConvTranspose{1,2,3}d``).

    Args:
        kernel: kernel size.
        stride: stride, the upsampling factor.
        padding: zero padding removed from each side of the full output.
        output_padding: extra samples added on the far side; must be smaller than the
            stride or the dilation, as in torch.
        dilation: spacing between kernel taps.

    Examples:
        >>> Deconv(3, 2).describe()
        'deconv k3 s2'
        >>> Deconv(4, 2, padding=1).describe()
        'deconv k4 s2 p1'
        >>> Deconv(3, 2, output_padding=2)
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: Deconv: output_padding=2 must be smaller ...
    """

    kernel: IntOrTuple
    stride: IntOrTuple
    padding: IntOrTuple = 0
    output_padding: IntOrTuple = 0
    dilation: IntOrTuple = 1

    _int_fields: ClassVar[tuple[str, ...]] = (
        "kernel",
        "stride",
        "padding",
        "output_padding",
        "dilation",
    )
    name: ClassVar[str] = "deconv"

    def _validate(self) -> None:
        self._require("kernel", 1)
        self._require("stride", 1)
        self._require("padding", 0)
        self._require("output_padding", 0)
        self._require("dilation", 1)
        dims = max(len(_values(getattr(self, f))) for f in self._int_fields)
        for op, s, d in zip(
            self._axis("output_padding", dims),
            self._axis("stride", dims),
            self._axis("dilation", dims),
            strict=True,
        ):
            if op >= s and op >= d:
                raise CheckerscopeError(
                    f"Deconv: output_padding={op} must be smaller than stride={s} or dilation={d}"
                )

    @property
    def upsampling(self) -> IntOrTuple:
        return self.stride

    def describe(self) -> str:
        text = f"deconv k{_format(self.kernel)} s{_format(self.stride)}"
        return text + _optional(
            ("p", self.padding, 0), ("op", self.output_padding, 0), ("d", self.dilation, 1)
        )

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        return [
            _AxisOp("scatter", k, s, p, op, d)
            for k, s, p, op, d in zip(*(self._axis(f, dims) for f in self._int_fields), strict=True)
        ]


@dataclass(frozen=True)
class Conv(LayerSpec):
    """A convolution (``torch.nn.Conv{1,2,3}d``) with zero padding.

    Examples:
        >>> Conv(3, 2, padding=1).describe()
        'conv k3 s2 p1'
        >>> Conv(0)
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: Conv: kernel must be >= 1, got 0
    """

    kernel: IntOrTuple
    stride: IntOrTuple = 1
    padding: IntOrTuple = 0
    dilation: IntOrTuple = 1

    _int_fields: ClassVar[tuple[str, ...]] = ("kernel", "stride", "padding", "dilation")
    name: ClassVar[str] = "conv"

    def _validate(self) -> None:
        self._require("kernel", 1)
        self._require("stride", 1)
        self._require("padding", 0)
        self._require("dilation", 1)

    @property
    def downsampling(self) -> IntOrTuple:
        return self.stride

    def describe(self) -> str:
        return f"conv k{_format(self.kernel)}" + _optional(
            ("s", self.stride, 1), ("p", self.padding, 0), ("d", self.dilation, 1)
        )

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        return [
            _AxisOp("window", k, s, p, 0, d)
            for k, s, p, d in zip(*(self._axis(f, dims) for f in self._int_fields), strict=True)
        ]


_RESIZE_MODES = {
    "nearest": "nearest",
    "nearest-exact": "nearest",
    "bilinear": "bilinear",
    "linear": "bilinear",
    "trilinear": "bilinear",
}


@dataclass(frozen=True)
class Resize(LayerSpec):
    """Upsampling by an integer factor (``F.interpolate(scale_factor=scale)``).

    ``mode`` is ``"nearest"`` or ``"bilinear"`` (``align_corners=False``); bilinear means
    torch's ``"linear"`` in 1-D and ``"trilinear"`` in 3-D, and those names are accepted
    too, as is ``"nearest-exact"`` (the same as nearest for integer factors).

    Examples:
        >>> Resize(2).describe()
        'resize x2 nearest'
        >>> Resize(2, mode="linear").mode
        'bilinear'
        >>> Resize(2, mode="bicubic")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: Resize: mode must be one of ... got 'bicubic'
    """

    scale: IntOrTuple
    mode: str = "nearest"

    _int_fields: ClassVar[tuple[str, ...]] = ("scale",)
    name: ClassVar[str] = "resize"

    def _validate(self) -> None:
        self._require("scale", 1)
        mode = _RESIZE_MODES.get(str(self.mode).lower()) if isinstance(self.mode, str) else None
        if mode is None:
            raise CheckerscopeError(
                f"Resize: mode must be one of {', '.join(_RESIZE_MODES)}, got {self.mode!r}"
            )
        object.__setattr__(self, "mode", mode)

    @property
    def upsampling(self) -> IntOrTuple:
        return self.scale

    @property
    def integer_weights(self) -> bool:
        return self.mode == "nearest"

    def describe(self) -> str:
        return f"resize x{_format(self.scale)} {self.mode}"

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        kind = "nearest" if self.mode == "nearest" else "linear"
        return [_AxisOp(kind, stride=s) for s in self._axis("scale", dims)]


@dataclass(frozen=True)
class PixelShuffle(LayerSpec):
    """Sub-pixel upsampling (``torch.nn.PixelShuffle``).

    On a coverage map it equals nearest upsampling by ``scale``: the map is repeated over
    the ``scale**dims`` channels a preceding all-ones convolution would produce, then
    interleaved. Its adjoint sums each block.

    Examples:
        >>> PixelShuffle(2).describe()
        'pixelshuffle x2'
    """

    scale: IntOrTuple

    _int_fields: ClassVar[tuple[str, ...]] = ("scale",)
    name: ClassVar[str] = "pixelshuffle"

    def _validate(self) -> None:
        self._require("scale", 1)

    @property
    def upsampling(self) -> IntOrTuple:
        return self.scale

    def describe(self) -> str:
        return f"pixelshuffle x{_format(self.scale)}"

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        return [_AxisOp("nearest", stride=s) for s in self._axis("scale", dims)]


@dataclass(frozen=True)
class _Pool(LayerSpec):
    """Pooling with a kernel, a stride (default: the kernel) and zero padding."""

    kernel: IntOrTuple
    stride: IntOrTuple | None = None
    padding: IntOrTuple = 0

    _int_fields: ClassVar[tuple[str, ...]] = ("kernel", "stride", "padding")
    name: ClassVar[str] = "pool"

    def __post_init__(self) -> None:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        super().__post_init__()

    def _validate(self) -> None:
        self._require("kernel", 1)
        self._require("stride", 1)
        self._require("padding", 0)
        dims = max(len(_values(getattr(self, f))) for f in self._int_fields)
        for k, p in zip(self._axis("kernel", dims), self._axis("padding", dims), strict=True):
            if 2 * p > k:
                raise CheckerscopeError(
                    f"{type(self).__name__}: padding={p} must be at most half of kernel={k}"
                )

    @property
    def downsampling(self) -> IntOrTuple:
        return self.stride  # type: ignore[return-value]

    @property
    def integer_weights(self) -> bool:
        return False

    def describe(self) -> str:
        return f"{self.name} k{_format(self.kernel)} s{_format(self.downsampling)}" + _optional(
            ("p", self.padding, 0)
        )

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        # torch's avg_pool3d, unlike 1-D and 2-D, refuses inputs smaller than the kernel
        strict = dims == 3 and isinstance(self, AvgPool)
        return [
            _AxisOp("window", k, s, p, weight=1.0 / k, min_length=k if strict else 1)
            for k, s, p in zip(*(self._axis(f, dims) for f in self._int_fields), strict=True)
        ]


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Average pooling (``torch.nn.AvgPool{1,2,3}d``, ``count_include_pad=True``).

    ``stride`` defaults to ``kernel``; ``padding`` is at most half the kernel, as in torch.

    Examples:
        >>> AvgPool(2).describe()
        'avgpool k2 s2'
        >>> AvgPool(2, padding=2)
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: AvgPool: padding=2 must be at most half of kernel=2
    """

    name: ClassVar[str] = "avgpool"


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max pooling, modelled as average pooling.

    Which input a max pool passes on depends on the data. The coverage here is its
    expectation when the maximum is equally likely anywhere in the window, i.e. average
    pooling with zero padding counted; the backward coverage is then the expected number
    of times an input pixel receives gradient.

    Examples:
        >>> MaxPool(3, 2, padding=1).describe()
        'maxpool k3 s2 p1'
    """

    name: ClassVar[str] = "maxpool"


def _taps_tuple(value: Any, owner: str) -> tuple[tuple[float, ...], ...]:
    """Per-axis tap weights: one sequence (every axis) or one sequence per axis."""
    array = value
    if isinstance(value, np.ndarray):
        array = value.tolist()
    if not isinstance(array, (tuple, list)) or not array:
        raise CheckerscopeError(f"{owner}: taps must be a non-empty sequence, got {value!r}")
    nested = all(isinstance(v, (tuple, list, np.ndarray)) for v in array)
    axes = [list(v) for v in array] if nested else [list(array)]
    if not 1 <= len(axes) <= _MAX_DIMS:
        raise CheckerscopeError(f"{owner}: taps must have 1 to {_MAX_DIMS} axes, got {value!r}")
    result = []
    for axis in axes:
        try:
            numbers = tuple(float(v) for v in axis)
        except (TypeError, ValueError):
            raise CheckerscopeError(f"{owner}: taps must be numbers, got {value!r}") from None
        if not numbers or not all(math.isfinite(v) for v in numbers):
            raise CheckerscopeError(f"{owner}: taps must be finite and non-empty, got {value!r}")
        if not any(numbers):
            raise CheckerscopeError(f"{owner}: taps are all zero: {value!r}")
        result.append(tuple(int(v) if v.is_integer() else v for v in numbers))
    return tuple(result)


@dataclass(frozen=True)
class FIR(LayerSpec):
    """A filter with fixed, known taps: a blur, an anti-aliasing or interpolation low-pass.

    Unlike :class:`Conv` and :class:`Deconv`, whose coverage counts paths (all-ones
    kernels, learned weights unknown), a fixed filter is compounded with its true weights.
    ``transposed=False`` filters like ``F.conv`` (each output reads ``len(taps)`` inputs,
    then keeps every ``stride``-th output); ``transposed=True`` paints like
    ``F.conv_transpose`` (zero insertion by ``stride``, then the filter): StyleGAN2's
    ``upfirdn2d`` upsampling.

    Args:
        taps: the 1-D filter applied on every axis, or one sequence per axis
            (``((1, 3, 3, 1), (1,))`` filters the first axis only).
        stride: downsampling (or, transposed, upsampling) factor.
        padding: zero padding, with torch's meaning for the (transposed) convolution.
        transposed: paint like a transposed convolution.

    Examples:
        >>> FIR((1, 3, 3, 1)).describe()
        'fir w1/3/3/1'
        >>> overlap([Deconv(3, 2), FIR((1, 3, 3, 1))], dims=1).unevenness  # the filter evens it
        1.0
        >>> overlap(FIR((1, 2, 1), stride=2, transposed=True), dims=1).pattern  # linear interp.
        array([2])
        >>> overlap(FIR((0.5, 1.0, 0.5), stride=2, transposed=True), dims=2).pattern
        array([[1.]])
    """

    taps: Any
    stride: IntOrTuple = 1
    padding: IntOrTuple = 0
    transposed: bool = False

    _int_fields: ClassVar[tuple[str, ...]] = ("stride", "padding")
    name: ClassVar[str] = "fir"

    def __post_init__(self) -> None:
        object.__setattr__(self, "taps", _taps_tuple(self.taps, "FIR"))
        object.__setattr__(self, "transposed", bool(self.transposed))
        super().__post_init__()
        lengths = {len(v) for f in self._int_fields if isinstance(v := getattr(self, f), tuple)}
        if len(self.taps) > 1 and lengths and lengths != {len(self.taps)}:
            raise CheckerscopeError(
                f"FIR: taps for {len(self.taps)} axes but per-axis parameters for {lengths}"
            )

    def _validate(self) -> None:
        self._require("stride", 1)
        self._require("padding", 0)

    @property
    def upsampling(self) -> IntOrTuple:
        return self.stride if self.transposed else 1

    @property
    def downsampling(self) -> IntOrTuple:
        return 1 if self.transposed else self.stride

    @property
    def integer_weights(self) -> bool:
        return all(isinstance(v, int) for axis in self.taps for v in axis)

    def axis_taps(self, dims: int) -> tuple[tuple[float, ...], ...]:
        """The taps of each of ``dims`` axes."""
        if len(self.taps) == 1:
            return self.taps * dims
        if len(self.taps) != dims:
            raise CheckerscopeError(f"FIR: taps for {len(self.taps)} axes but dims={dims}")
        return self.taps  # type: ignore[no-any-return]

    def describe(self) -> str:
        taps = "x".join("/".join(_tap_text(v) for v in axis) for axis in self.taps)
        text = f"fir w{taps}" + _optional(("s", self.stride, 1), ("p", self.padding, 0))
        return text + (" up" if self.transposed else "")

    def _axis_ops(self, dims: int) -> list[_AxisOp]:
        kind = "scatter" if self.transposed else "window"
        return [
            _AxisOp(kind, len(taps), s, p, tap_weights=taps)
            for taps, s, p in zip(
                self.axis_taps(dims),
                self._axis("stride", dims),
                self._axis("padding", dims),
                strict=True,
            )
        ]


def _tap_text(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def _optional(*items: tuple[str, IntOrTuple, int]) -> str:
    return "".join(f" {tag}{_format(v)}" for tag, v, default in items if _values(v) != (default,))


# --------------------------------------------------------------------------------------
# Stacks
# --------------------------------------------------------------------------------------

LayersLike = LayerSpec | Iterable[LayerSpec] | str | Any
"""Specs, a stack string, or modules: see :func:`overlap`."""


def _as_layers(layers: LayersLike) -> tuple[LayerSpec, ...]:
    if isinstance(layers, str):
        return parse_stack(layers)
    stack = _specs_of(layers)
    if stack is None:
        raise CheckerscopeError(
            f"layers must be a layer spec, a module or a sequence of them, got "
            f"{type(layers).__name__}"
        )
    if not stack:
        raise CheckerscopeError("layers is empty: give at least one layer spec")
    return tuple(stack)


# --------------------------------------------------------------------------------------
# Modules, by duck typing: torch is never imported here
# --------------------------------------------------------------------------------------

_MODULE_KINDS = "conv, transposed conv, upsample, pixel shuffle or pooling module"


def _specs_of(item: Any) -> list[LayerSpec] | None:
    """The specs of a spec, a module or an iterable of them; ``None`` when it is none of these.

    Modules are recognised by what they have, not by their class: ``overlap_specs()``
    (checkerscope's layers, or any layer that describes itself), or the attributes of
    torch's convolution, transposed convolution, upsampling, pixel-shuffle and pooling
    modules. Containers such as ``nn.Sequential`` are iterated, in order.
    """
    if isinstance(item, LayerSpec):
        return [item]
    describe = getattr(item, "overlap_specs", None)
    if callable(describe):
        specs = list(describe())
        bad = [spec for spec in specs if not isinstance(spec, LayerSpec)]
        if bad:
            raise CheckerscopeError(
                f"{type(item).__name__}.overlap_specs() returned {bad[0]!r}, not a layer spec"
            )
        return specs
    spec = _torch_module_spec(item)
    if spec is not None:
        return [spec]
    if isinstance(item, (str, bytes)) or not isinstance(item, Iterable):
        return None
    stack: list[LayerSpec] = []
    for element in item:
        inner = _specs_of(element)
        if inner is None:
            raise CheckerscopeError(
                f"not a layer spec: {_short_repr(element)} (a {type(element).__name__} has "
                f"no overlap_specs() and is no {_MODULE_KINDS}; for a whole model use "
                "cs.audit(model, example_input))"
            )
        stack.extend(inner)
    return stack


def _short_repr(value: Any) -> str:
    text = repr(value).splitlines()[0] if repr(value) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _torch_module_spec(module: Any) -> LayerSpec | None:
    """The spec of one of torch's resolution-changing modules, read from its attributes."""
    name = type(module).__name__
    if hasattr(module, "transposed") and hasattr(module, "kernel_size"):  # nn.Conv*/ConvTranspose*
        return _conv_module_spec(module, name)
    if hasattr(module, "upscale_factor"):  # nn.PixelShuffle
        return PixelShuffle(module.upscale_factor)
    if hasattr(module, "scale_factor") and hasattr(module, "mode") and hasattr(module, "size"):
        return _upsample_module_spec(module, name)  # nn.Upsample, nn.UpsamplingNearest2d, ...
    pooling = hasattr(module, "return_indices") or hasattr(module, "count_include_pad")
    if pooling and hasattr(module, "kernel_size"):  # nn.MaxPool*, nn.AvgPool*
        return _pool_module_spec(module, name)
    return None


def _conv_module_spec(module: Any, name: str) -> LayerSpec:
    kernel, stride, dilation = module.kernel_size, module.stride, module.dilation
    padding = module.padding
    if module.transposed:
        return Deconv(kernel, stride, padding, module.output_padding, dilation)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        reach = [d * (k - 1) for k, d in zip(_values(kernel), _values(dilation), strict=False)]
        if any(r % 2 for r in reach):
            raise CheckerscopeError(
                f"{name}: padding='same' with kernel_size={kernel} and dilation={dilation} "
                "pads one side more than the other, which Conv cannot describe; give the "
                "specs by hand"
            )
        padding = tuple(r // 2 for r in reach)
    return Conv(kernel, stride, padding, dilation)


def _upsample_module_spec(module: Any, name: str) -> LayerSpec:
    if module.size is not None or module.scale_factor is None:
        raise CheckerscopeError(
            f"{name}: an upsampling to a fixed size={module.size} has no integer factor; "
            "give the scale_factor"
        )
    if getattr(module, "align_corners", None):
        raise CheckerscopeError(f"{name}: align_corners=True is not modelled (Resize is False)")
    return Resize(module.scale_factor, mode=module.mode)


def _pool_module_spec(module: Any, name: str) -> LayerSpec:
    if module.ceil_mode:
        raise CheckerscopeError(f"{name}: ceil_mode=True is not modelled; give the specs by hand")
    if hasattr(module, "return_indices"):  # max pooling
        if set(_values(_normalize(module.dilation, "dilation", name))) != {1}:
            raise CheckerscopeError(f"{name}: dilation={module.dilation} is not modelled")
        return MaxPool(module.kernel_size, module.stride, module.padding)
    padded = set(_values(_normalize(module.padding, "padding", name))) != {0}
    if padded and not module.count_include_pad:
        raise CheckerscopeError(f"{name}: count_include_pad=False with padding is not modelled")
    return AvgPool(module.kernel_size, module.stride, module.padding)


def _check_dims(dims: Any) -> int:
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)):
        raise CheckerscopeError(f"dims must be 1, 2 or 3, got {dims!r}")
    if not 1 <= dims <= _MAX_DIMS:
        raise CheckerscopeError(f"dims must be 1, 2 or 3, got {dims}")
    return int(dims)


def _check_direction(direction: Any) -> Direction:
    if direction == "forward":
        return "forward"
    if direction == "backward":
        return "backward"
    raise CheckerscopeError(f"direction must be 'forward' or 'backward', got {direction!r}")


def _axis_stacks(layers: Sequence[LayerSpec], dims: int) -> list[list[_AxisOp]]:
    """For each axis, the layers' 1-D operators in order."""
    per_layer = [layer._axis_ops(dims) for layer in layers]
    return [[ops[axis] for ops in per_layer] for axis in range(dims)]


def _shape_tuple(shape: Any, dims: int, what: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        values: tuple[Any, ...] = (int(shape),) * dims
    elif isinstance(shape, (tuple, list)):
        values = tuple(shape)
    else:
        raise CheckerscopeError(f"{what} must be an int or a tuple of {dims} ints, got {shape!r}")
    if len(values) != dims or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise CheckerscopeError(
            f"{what} must be {dims} positive int(s) for dims={dims}, got {shape!r}"
        )
    return tuple(int(v) for v in values)


def _finite_lengths(
    ops: Sequence[_AxisOp], layers: Sequence[LayerSpec], length: int, axis: int
) -> list[int]:
    """Lengths along one axis before and after each layer; raises if one would be empty."""
    lengths = [length]
    for op, layer in zip(ops, layers, strict=True):
        if lengths[-1] < op.min_length:
            raise CheckerscopeError(
                f"{layer.describe()} gets length {lengths[-1]} on axis {axis} but needs at "
                f"least {op.min_length} (torch's 3-D average pooling rejects inputs smaller "
                "than the kernel)"
            )
        out = op.out_length(lengths[-1])
        if out < 1:
            raise CheckerscopeError(
                f"{layer.describe()} turns length {lengths[-1]} on axis {axis} into {out}: "
                "the output would be empty"
            )
        lengths.append(out)
    return lengths


def output_shape(
    layers: LayersLike, input_shape: int | Sequence[int], dims: int | None = None
) -> tuple[int, ...]:
    """The spatial output shape of a stack for a given spatial input shape.

    Args:
        layers: one layer spec, a sequence of them, or a stack string (see ``parse_stack``).
        input_shape: spatial input shape; an int means the same length on every axis.
        dims: number of spatial axes; defaults to ``len(input_shape)`` (1 for an int).

    Examples:
        >>> output_shape([Deconv(4, 2, padding=1)] * 3, (4, 5))
        (32, 40)
        >>> output_shape(Conv(3), 8, dims=2)
        (6, 6)
        >>> output_shape(Conv(5), (3,))
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: conv k5 turns length 3 on axis 0 into -1: ...
    """
    stack = _as_layers(layers)
    if dims is None:
        dims = len(input_shape) if isinstance(input_shape, (tuple, list)) else 1
    dims = _check_dims(dims)
    shape = _shape_tuple(input_shape, dims, "input_shape")
    return tuple(
        _finite_lengths(ops, stack, length, axis)[-1]
        for axis, (ops, length) in enumerate(zip(_axis_stacks(stack, dims), shape, strict=True))
    )


def _finite_axis(
    ops: Sequence[_AxisOp], layers: Sequence[LayerSpec], length: int, axis: int, direction: str
) -> np.ndarray:
    lengths = _finite_lengths(ops, layers, length, axis)
    taps = [
        op.taps(n_in, n_out, False)
        for op, n_in, n_out in zip(ops, lengths[:-1], lengths[1:], strict=True)
    ]
    return _propagate(taps, lengths, direction)


def _circle_lengths(ops: Sequence[_AxisOp]) -> list[int]:
    """Shortest circle lengths before and after each layer that every stride divides.

    The input circle needs a length ``n0`` for which ``n0 * ups / downs`` is an integer
    after every layer; the smallest such ``n0`` is the lcm of the reduced denominators.
    """
    n0, up, down = 1, 1, 1
    for op in ops:
        up, down = up * op.up, down * op.down
        n0 = math.lcm(n0, down // math.gcd(up, down))
    lengths = [n0]
    for op in ops:
        lengths.append(lengths[-1] * op.up // op.down)
    return lengths


def _steady_axis(ops: Sequence[_AxisOp], direction: str) -> np.ndarray:
    lengths = _circle_lengths(ops)
    taps = [
        op.taps(n_in, n_out, True)
        for op, n_in, n_out in zip(ops, lengths[:-1], lengths[1:], strict=True)
    ]
    return _propagate(taps, lengths, direction)


def _propagate(taps: Sequence[_Taps], lengths: Sequence[int], direction: str) -> np.ndarray:
    """Ones through the taps (forward) or back through their adjoints (backward).

    Counts grow geometrically with depth (3**40 paths through forty 3-tap layers), so the
    signal is rescaled by a power of two whenever it nears float64's range: the ratios
    between phases, which are all that a pattern means, stay exact to rounding.
    """
    if direction == "forward":
        signal = np.ones(lengths[0])
        steps = [tap.forward for tap in taps]
    else:
        signal = np.ones(lengths[-1])
        steps = [tap.adjoint for tap in reversed(taps)]
    for step in steps:
        signal = step(signal)
        peak = float(np.max(np.abs(signal))) if signal.size else 0.0
        if peak > _RESCALE_ABOVE:
            signal = signal / 2.0 ** math.floor(math.log2(peak))
    return signal


#: Path counts beyond this are rescaled (far below float64's overflow at ~1.8e308).
_RESCALE_ABOVE = 2.0**900
#: Largest integer that float64 and int64 both hold exactly.
_EXACT_INTEGERS = 2.0**53


def _minimal_period(signal: np.ndarray, exact: bool) -> int:
    length = len(signal)
    scale = float(np.max(np.abs(signal))) if length else 0.0
    for period in range(1, length + 1):
        if length % period:
            continue
        shifted = np.roll(signal, -period)
        if (
            np.array_equal(signal, shifted)
            if exact
            else np.allclose(signal, shifted, rtol=1e-12, atol=1e-12 * max(scale, 1.0))
        ):
            return period
    return length  # pragma: no cover - the whole circle is always a period


def _fits_integers(axes: Sequence[np.ndarray]) -> bool:
    """Whether the outer product of ``axes`` holds only exactly representable integers."""
    peak = 1.0
    for axis in axes:
        peak *= float(np.max(np.abs(axis))) if axis.size else 0.0
    return peak < _EXACT_INTEGERS


def _cast(values: np.ndarray, integer: bool) -> np.ndarray:
    return np.rint(values).astype(np.int64) if integer else values


def _outer(axes: Sequence[np.ndarray]) -> np.ndarray:
    return reduce(np.multiply.outer, axes)


# --------------------------------------------------------------------------------------
# Work budget: refuse, before allocating, work that would not fit in memory
# --------------------------------------------------------------------------------------

#: The most memory one call of the overlap engine may plan to use, in bytes (lowered to half
#: of the process's address-space limit, ``RLIMIT_AS``, when one is set). A few layers can
#: ask for astronomically long lines (``--layers 1000`` of stride 2 needs a period of
#: 2**1000 samples), so the sizes are computed first, with Python integers.
WORK_BUDGET_BYTES = 4 << 30
# Bytes per tap of a 1-D operator while it is built and applied (index and weight arrays,
# their temporaries), and per sample of a line or of the N-D map.
_BYTES_PER_TAP = 64
_BYTES_PER_SAMPLE = 16
_BYTES_PER_VALUE = 8


def _work_budget() -> int:
    budget = WORK_BUDGET_BYTES
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on POSIX
        return budget
    if soft != resource.RLIM_INFINITY and soft > 0:
        budget = min(budget, soft // 2)
    return budget


def _bytes_text(size: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _tap_count(op: _AxisOp, in_length: int, out_length: int) -> int:
    if op.kind == "window":
        return out_length * op.kernel
    if op.kind == "scatter":
        return in_length * op.kernel
    return out_length if op.kind == "nearest" else 2 * out_length


def _check_work(
    layers: Sequence[LayerSpec],
    axes: Sequence[tuple[Sequence[_AxisOp], Sequence[int]]] = (),
    map_shape: tuple[int, ...] = (),
    what: str = "the overlap pattern",
) -> None:
    """Refuse work over :data:`WORK_BUDGET_BYTES` with one line naming its cause.

    Args:
        layers: the stack, for messages.
        axes: per axis, its 1-D operators and the line lengths before and after each.
        map_shape: the shape of the N-D array to be made (checked when given).
        what: ``"the overlap pattern"`` (steady state) or ``"the coverage map for input
            shape ..."``.
    """
    budget = _work_budget()
    over = f"over the overlap engine's work budget of {_bytes_text(budget)}"
    for axis, (ops, lengths) in enumerate(axes):
        for index, op in enumerate(ops):
            n_in, n_out = lengths[index], lengths[index + 1]
            taps = _tap_count(op, n_in, n_out)
            need = taps * _BYTES_PER_TAP + (n_in + n_out) * _BYTES_PER_SAMPLE
            if need <= budget:
                continue
            layer = f"layer {index + 1} of {len(layers)} ({layers[index].describe()})"
            cost = f"about {_bytes_text(need)} of work on axis {axis}, {over}"
            # name the parameter that alone takes a good part of the budget, if one does
            if op.kernel * _BYTES_PER_TAP * 16 > budget:
                raise CheckerscopeError(
                    f"{layer} has a kernel of {_count(op.kernel)} taps: {cost}; use a smaller "
                    "kernel"
                )
            if op.stride * _BYTES_PER_TAP * 16 > budget:
                raise CheckerscopeError(
                    f"{layer} has a stride of {_count(op.stride)}: {cost}; use a smaller stride"
                )
            fix = "fewer layers" if what == "the overlap pattern" else "a smaller input shape"
            raise CheckerscopeError(
                f"{what} needs a line of {_count(max(n_in, n_out))} samples at {layer}: "
                f"{cost}; use {fix}"
            )
    values = math.prod(map_shape) if map_shape else 0
    if values * _BYTES_PER_VALUE > budget:
        shape = "x".join(_count(n) for n in map_shape)
        raise CheckerscopeError(
            f"{what} would be {shape} = {_count(values)} values, about "
            f"{_bytes_text(values * _BYTES_PER_VALUE)}, {over}"
        )


def _count(number: int) -> str:
    """An integer as digits, or as a power of ten when it has too many of them to read."""
    return f"{number:,}" if number < 10**15 else f"about 10**{len(str(number)) - 1}"


def coverage_map(
    layers: LayersLike,
    input_shape: int | Sequence[int],
    dims: int | None = None,
    direction: Direction = "forward",
) -> np.ndarray:
    """The whole coverage map of a stack for a concrete input, borders included.

    Forward, the map has the stack's output shape; backward (the gradient of the sum of
    the outputs with respect to the input) it has the input shape.

    Args:
        layers: one layer spec, a sequence of them, or a stack string.
        input_shape: spatial input shape; an int means the same length on every axis.
        dims: number of spatial axes; defaults to ``len(input_shape)`` (1 for an int).
        direction: ``"forward"`` or ``"backward"``.

    Returns:
        int64 array when every layer has integer weights, float64 otherwise.

    Examples:
        >>> coverage_map(Deconv(3, 2), 4)
        array([1, 1, 2, 1, 2, 1, 2, 1, 1])
        >>> coverage_map(Conv(3, 2), 7, direction="backward")
        array([1, 1, 2, 1, 2, 1, 1])
    """
    stack = _as_layers(layers)
    if dims is None:
        dims = len(input_shape) if isinstance(input_shape, (tuple, list)) else 1
    dims = _check_dims(dims)
    direction = _check_direction(direction)
    shape = _shape_tuple(input_shape, dims, "input_shape")
    stacks = _axis_stacks(stack, dims)
    lines = [
        _finite_lengths(ops, stack, length, axis)
        for axis, (ops, length) in enumerate(zip(stacks, shape, strict=True))
    ]
    _check_work(
        stack,
        list(zip(stacks, lines, strict=True)),
        tuple(line[-1] if direction == "forward" else line[0] for line in lines),
        what=f"the coverage map for input shape {shape}",
    )
    axes = [
        _finite_axis(ops, stack, length, axis, direction)
        for axis, (ops, length) in enumerate(zip(stacks, shape, strict=True))
    ]
    integer = all(layer.integer_weights for layer in stack) and _fits_integers(axes)
    # cast each axis before the outer product: no full-size float temporary
    return _outer([_cast(axis, integer) for axis in axes])


@dataclass(frozen=True, repr=False, eq=False)
class OverlapPattern:
    """The steady-state coverage of a layer stack; made by ``overlap``.

    Attributes:
        layers: the layer specs, in order.
        dims: number of spatial axes.
        direction: ``"forward"`` (coverage of the output) or ``"backward"`` (coverage of
            the gradient with respect to the input).
        period: per-axis minimal period of the pattern (1 on an axis where it is even).
        structural_period: per-axis period of the phase grid the strides define (the
            product of the upsampling factors, reduced by later downsampling).
        axes: per-axis 1-D patterns, one minimal period each.
        pattern: the N-D pattern, the outer product of ``axes``: ``pattern[r]`` is the
            coverage at every output index ``n`` with ``n % period == r`` on each axis (input
            index for ``direction="backward"``), in torch's index coordinates.
        unevenness: ``pattern.max() / pattern.min()``; 1.0 is even, ``inf`` when some
            phase is never covered, ``nan`` when nothing is.

    The arrays are read-only; compare results through their attributes.
    """

    layers: tuple[LayerSpec, ...]
    dims: int
    direction: Direction
    period: tuple[int, ...]
    structural_period: tuple[int, ...]
    axes: tuple[np.ndarray, ...]
    pattern: np.ndarray
    unevenness: float

    def full(self, input_shape: int | Sequence[int]) -> np.ndarray:
        """The whole coverage map for a concrete spatial input shape, borders included.

        Args:
            input_shape: an int (the same length on every axis) or a tuple of ``dims`` ints.

        Examples:
            >>> overlap(Deconv(3, 2), dims=2).full(2)
            array([[1, 1, 2, 1, 1],
                   [1, 1, 2, 1, 1],
                   [2, 2, 4, 2, 2],
                   [1, 1, 2, 1, 1],
                   [1, 1, 2, 1, 1]])
        """
        return coverage_map(self.layers, input_shape, dims=self.dims, direction=self.direction)

    def output_shape(self, input_shape: int | Sequence[int]) -> tuple[int, ...]:
        """The spatial output shape of the stack for ``input_shape``."""
        return output_shape(self.layers, input_shape, dims=self.dims)

    @property
    def is_even(self) -> bool:
        """True when every phase is covered equally."""
        return self.unevenness == 1.0

    def describe(self) -> str:
        """The stack in the mini-syntax of ``parse_stack``, e.g. ``"deconv k3 s2, conv k3"``."""
        return ", ".join(layer.describe() for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values, ready for JSON (``unevenness`` may be ``inf`` or ``nan``)."""
        return {
            "layers": [layer.describe() for layer in self.layers],
            "dims": self.dims,
            "direction": self.direction,
            "period": list(self.period),
            "structural_period": list(self.structural_period),
            "unevenness": self.unevenness,
            "pattern": self.pattern.tolist(),
            "axes": [axis.tolist() for axis in self.axes],
        }

    def summary(self) -> str:
        """One line a person reads: period, structural period and unevenness."""
        ratio = "even" if self.is_even else f"{_number(self.unevenness)}:1"
        return (
            f"period {_shape_text(self.period)}, structural period "
            f"{_shape_text(self.structural_period)}, unevenness {_number(self.unevenness)}"
            f" ({ratio})"
        )

    def __repr__(self) -> str:
        return (
            f"OverlapPattern(layers=[{self.describe()}], dims={self.dims}, "
            f"direction={self.direction!r}, period={self.period}, "
            f"unevenness={_number(self.unevenness)})"
        )

    def __str__(self) -> str:
        head = f"overlap of [{self.describe()}] ({self.dims}-D, {self.direction})"
        return "\n".join([head, _table(self.pattern), self.summary()])


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in shape)


def _table(pattern: np.ndarray, limit: int = 16) -> str:
    """A small text table of a 1-D or 2-D pattern (3-D: one table per leading index)."""
    if pattern.ndim == 3:
        return "\n".join(
            f"[{i}]\n{_table(pattern[i], limit)}" for i in range(min(len(pattern), limit))
        )
    grid = np.atleast_2d(pattern)[:limit, :limit]
    cells = [[_number(float(v)) for v in row] for row in grid]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("  " + " ".join(c.rjust(width) for c in row) for row in cells)


def overlap(layers: LayersLike, dims: int = 2, direction: Direction = "forward") -> OverlapPattern:
    """The exact steady-state overlap pattern of a stack of layers.

    Args:
        layers: one layer spec, a sequence of them (applied in order), a stack string
            such as ``"deconv k3 s2, conv k3"`` (see ``parse_stack``), or modules: any
            object with an ``overlap_specs()`` method (every layer of ``checkerscope.nn``),
            torch's ``Conv``/``ConvTranspose`` (zero padding assumed), ``Upsample``,
            ``PixelShuffle``, ``MaxPool`` and ``AvgPool`` modules (read from their
            attributes), and containers of them such as ``nn.Sequential``. For a whole
            model, with activations and branches, use ``cs.audit(model, example_input)``.
        dims: number of spatial axes, 1 (audio), 2 (images) or 3 (volumes).
        direction: ``"forward"`` for the coverage of the output, ``"backward"`` for the
            coverage of the gradient of the sum of outputs with respect to the input.

    Returns:
        The pattern; its cost does not depend on any image size.

    Examples:
        >>> overlap([Deconv(3, 2)], dims=2).unevenness
        4.0
        >>> overlap(Deconv(3, 2), dims=2).pattern
        array([[4, 2],
               [2, 1]])
        >>> overlap(Deconv(3, 2, padding=1), dims=1).pattern
        array([1, 2])
        >>> overlap(Deconv(4, 2), dims=2).period
        (1, 1)
        >>> overlap([Deconv(3, 2), Deconv(3, 2)], dims=1).structural_period
        (4,)
        >>> overlap(Deconv(1, 2), dims=1).unevenness
        inf
        >>> import torch
        >>> overlap(torch.nn.ConvTranspose2d(8, 4, 3, stride=2)).unevenness
        4.0
    """
    stack = _as_layers(layers)
    dims = _check_dims(dims)
    direction = _check_direction(direction)
    integer_weights = all(layer.integer_weights for layer in stack)
    stacks = _axis_stacks(stack, dims)
    _check_work(stack, [(ops, _circle_lengths(ops)) for ops in stacks])
    steady_axes = [_steady_axis(ops, direction) for ops in stacks]
    integer = integer_weights and _fits_integers(steady_axes)
    periods, structural, axes = [], [], []
    for steady in steady_axes:
        period = _minimal_period(steady, exact=integer)
        structural.append(len(steady))
        periods.append(period)
        axes.append(_cast(steady[:period], integer))
    _check_work(stack, map_shape=tuple(periods))
    pattern = _outer(axes)
    for array in (pattern, *axes):
        array.setflags(write=False)  # shared results: a caller's edit must not leak
    low, high = float(pattern.min()), float(pattern.max())
    if high <= 0.0 and low < 0.0:  # a sign-flipping fixed filter paints every phase negative
        low, high = -high, -low
    if high <= 0.0:
        unevenness = math.nan
    elif low <= 0.0:  # a phase painted nothing, or the opposite sign
        unevenness = math.inf
    else:
        unevenness = high / low
    return OverlapPattern(
        layers=stack,
        dims=dims,
        direction=direction,
        period=tuple(periods),
        structural_period=tuple(structural),
        axes=tuple(axes),
        pattern=pattern,
        unevenness=unevenness,
    )


# --------------------------------------------------------------------------------------
# The stack mini-syntax
# --------------------------------------------------------------------------------------

_LAYER_NAMES: dict[str, type[LayerSpec]] = {
    "deconv": Deconv,
    "convtranspose": Deconv,
    "conv": Conv,
    "resize": Resize,
    "upsample": Resize,
    "pixelshuffle": PixelShuffle,
    "shuffle": PixelShuffle,
    "avgpool": AvgPool,
    "maxpool": MaxPool,
    "fir": FIR,
}
_TAGS = {"k": "kernel", "s": "stride", "p": "padding", "op": "output_padding", "d": "dilation"}
_TOKEN = re.compile(r"^(op|k|s|p|d|x)(\d+(?:x\d+)*)$")
_NUMBER = r"-?\d+(?:\.\d*)?(?:e-?\d+)?"
_TAPS_TOKEN = re.compile(rf"^w({_NUMBER}(?:/{_NUMBER})*(?:x{_NUMBER}(?:/{_NUMBER})*)*)$")


def parse_stack(text: str) -> tuple[LayerSpec, ...]:
    """Parse a stack description such as ``"deconv:k3:s2, deconv:k3:s2, conv:k3"``.

    Layers are separated by commas; a layer is its name followed by parameters separated
    by colons or spaces. Names: ``deconv``, ``conv``, ``resize``, ``pixelshuffle``
    (``shuffle``), ``avgpool``, ``maxpool``. Parameters: ``k`` kernel, ``s`` stride,
    ``p`` padding, ``op`` output padding, ``d`` dilation, ``x`` scale (resize and pixel
    shuffle), and the resize mode ``nearest`` or ``bilinear``. A per-axis value is written
    ``k3x5``. The output of ``LayerSpec.describe`` parses back to the same spec.

    Examples:
        >>> [layer.describe() for layer in parse_stack("deconv:k3:s2, conv:k3:p1")]
        ['deconv k3 s2', 'conv k3 p1']
        >>> parse_stack("resize x2 bilinear")
        (Resize(scale=2, mode='bilinear'),)
        >>> parse_stack("deconv:k3:q2")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: bad parameter 'q2' in layer 'deconv:k3:q2' ...
    """
    if not isinstance(text, str) or not text.strip():
        raise CheckerscopeError(f"empty stack description: {text!r}")
    return tuple(_parse_layer(part.strip()) for part in text.split(","))


def _parse_layer(text: str) -> LayerSpec:
    words = [w for w in re.split(r"[:\s]+", text.lower()) if w]
    if not words:
        raise CheckerscopeError("empty layer in stack description (two commas in a row?)")
    name, *params = words
    cls = _LAYER_NAMES.get(name.replace("_", "").replace("-", ""))
    if cls is None:
        raise CheckerscopeError(
            f"unknown layer {name!r} in {text!r}; use one of "
            "deconv, conv, resize, pixelshuffle, avgpool, maxpool, fir"
        )
    kwargs: dict[str, Any] = {}
    allowed = {f.name for f in dataclasses.fields(cls)}
    for word in params:
        if cls is Resize and word in _RESIZE_MODES:
            if "mode" in kwargs:
                raise CheckerscopeError(f"mode {word!r} repeats the mode of layer {text!r}")
            kwargs["mode"] = word
            continue
        taps = _TAPS_TOKEN.match(word) if cls is FIR else None
        if taps or (cls is FIR and word == "up"):
            if word == "up":
                kwargs["transposed"] = True
            else:
                assert taps is not None  # matched above unless the word is "up"
                axes = [[float(v) for v in axis.split("/")] for axis in taps.group(1).split("x")]
                kwargs["taps"] = axes[0] if len(axes) == 1 else axes
            continue
        match = _TOKEN.match(word)
        field = None
        if match:
            tag, value = match.groups()
            field = "scale" if tag == "x" else _TAGS[tag]
            if cls in (Resize, PixelShuffle) and tag == "s":
                field = "scale"
        if field is None or field not in allowed:
            raise CheckerscopeError(
                f"bad parameter {word!r} in layer {text!r} (expected e.g. "
                "'deconv:k3:s2:p1:op1:d1', 'conv:k3:s2', 'resize:x2:bilinear', 'pixelshuffle:x2')"
            )
        if field in kwargs:
            raise CheckerscopeError(f"parameter {word!r} repeats the {field} of layer {text!r}")
        numbers = tuple(int(v) for v in value.split("x"))
        kwargs[field] = numbers[0] if len(numbers) == 1 else numbers
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.name not in kwargs
    ]
    if required:
        tags = {"kernel": "k", "stride": "s", "scale": "x", "taps": "w"}
        missing = ", ".join(f"{name} ({tags.get(name, name)}N)" for name in required)
        raise CheckerscopeError(f"layer {text!r} needs {missing}")
    return cls(**kwargs)
