"""Functional core of ``checkerscope.nn``: artifact-free upsampling and anti-aliased pooling.

Every layer of :mod:`checkerscope.nn` is a thin wrapper around one function here; the
functions take the weights as arguments, as ``torch.nn.functional`` does.

The centre piece is :func:`resize_conv2d` (and its 1-D / 3-D siblings). Nearest upsampling by
an integer factor ``s`` followed by a convolution with a kernel of size ``k`` is a linear,
shift-periodic map, so it equals one transposed convolution of the *small* input with stride
``s`` and a folded kernel of size ``k + s - 1`` per axis, or, equivalently, one convolution of
the small input producing ``s**d`` phase images that a pixel shuffle interleaves. Either way
the upsampled tensor is never built: the fused path costs what a ``ConvTranspose2d(k4, s2)``
costs and saves only the small input for backward. Padding modes other than zeros are applied
to the small input (``ceil(p / s)`` samples); reflect padding of the upsampled tensor is not
the upsampling of any padded small input once ``p >= s``, so those few border samples are
recomputed exactly by gathering the padded upsampled border directly.

Examples:
    >>> import torch
    >>> x, w = torch.randn(1, 2, 5, 6), torch.randn(3, 2, 3, 3)
    >>> fused = resize_conv2d(x, w, padding_mode="reflect", fused=True)
    >>> naive = resize_conv2d(x, w, padding_mode="reflect", fused=False)
    >>> tuple(fused.shape), bool(torch.allclose(fused, naive, atol=1e-5))
    ((1, 3, 10, 12), True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from checkerscope.errors import CheckerscopeError

__all__ = [
    "BINOMIAL_FILTERS",
    "PADDING_MODES",
    "SMOOTHING_FILTERS",
    "binomial_filter",
    "bilinear_additive_upsample",
    "bilinear_additive_upsample2d",
    "blur_pool1d",
    "blur_pool2d",
    "filtered_deconv1d",
    "filtered_deconv2d",
    "hold_blur",
    "icnr_",
    "max_blur_pool1d",
    "max_blur_pool2d",
    "pixel_shuffle1d",
    "pixel_shuffle_nd",
    "resize_conv1d",
    "resize_conv2d",
    "resize_conv3d",
    "resize_conv_is_fusable",
    "smoothing_filter",
    "smoothing_kernel",
    "sub_pixel_conv1d",
    "sub_pixel_conv2d",
]

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]
PADDING_MODES: tuple[str, ...] = ("zeros", "reflect", "replicate", "circular")
SMOOTHING_FILTERS: tuple[str, ...] = ("hold", "binomial4")
BINOMIAL_FILTERS = SMOOTHING_FILTERS  # the old name
IntOrTuple = int | Sequence[int]
ScaleOrTuple = float | Sequence[float]

_NEAREST_MODES = ("nearest", "nearest-exact")
_LINEAR_NAMES = {1: "linear", 2: "bilinear", 3: "trilinear"}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
# The fused form resize_conv uses. `benchmarks/bench_layers.py --forms` on 2 CPU cores: the
# transposed convolution ((k+s-1)**d taps per input sample) runs forward+backward in 0.59x
# (N16 C128->64 32->64) and 0.72x (N4 C64->32 128->256) the time of the sub-pixel form
# (one conv with E**d * s**d taps, E = 3 for k3 s2, then a pixel shuffle).
_FUSED_FORM = "transpose"


# --------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------


def _per_axis(value: IntOrTuple, rank: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v >= minimum for v in values):
        raise CheckerscopeError(
            f"{name} must be an int >= {minimum} or {rank} of them, got {value!r}"
        )
    return values


def _scales(value: ScaleOrTuple, rank: int) -> tuple[float, ...]:
    values = (value,) * rank if isinstance(value, (int, float)) else tuple(value)
    if len(values) != rank or not all(
        isinstance(v, (int, float)) and math.isfinite(v) and v >= 1 for v in values
    ):
        raise CheckerscopeError(
            f"scale_factor must be a number >= 1 or {rank} of them, got {value!r}"
        )
    return tuple(float(v) for v in values)


def _integer_scales(scales: Sequence[float]) -> tuple[int, ...] | None:
    return tuple(int(s) for s in scales) if all(s.is_integer() for s in scales) else None


def _check_padding_mode(padding_mode: str) -> str:
    if padding_mode not in PADDING_MODES:
        raise CheckerscopeError(
            f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}"
        )
    return padding_mode


def _resize_mode(mode: str, rank: int) -> str:
    """Torch's name of ``mode`` for ``rank`` spatial axes; the linear family is one mode."""
    if mode in _NEAREST_MODES:
        return mode
    if mode in _LINEAR_NAMES.values():
        return _LINEAR_NAMES[rank]
    accepted = ", ".join((*_NEAREST_MODES, *_LINEAR_NAMES.values()))
    raise CheckerscopeError(f"mode must be one of {accepted}, got {mode!r}")


def _spatial(rank: int) -> str:
    return ", ".join(("L",) if rank == 1 else ("H", "W") if rank == 2 else ("D", "H", "W"))


def _check_input(x: Tensor, rank: int, channels: int | None, what: str) -> None:
    if not isinstance(x, Tensor):
        raise CheckerscopeError(f"{what}: expected a tensor, got {type(x).__name__}")
    if x.dim() != rank + 2 or (channels is not None and x.shape[1] != channels):
        expected = "C" if channels is None else str(channels)
        raise CheckerscopeError(
            f"{what}: expected input of shape (N, {expected}, {_spatial(rank)}), "
            f"got {tuple(x.shape)}"
        )


def _check_weight(weight: Tensor, rank: int, what: str) -> None:
    if weight.dim() != rank + 2:
        raise CheckerscopeError(
            f"{what}: expected a weight of shape (out, in, {', '.join(['k'] * rank)}), "
            f"got {tuple(weight.shape)}"
        )


def _same_padding(kernel: Sequence[int]) -> list[tuple[int, int]]:
    """torch's ``padding="same"``: the odd sample of an even kernel goes to the far side."""
    return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel]


def _check_padding_fits(
    sizes: Sequence[int], pads: Sequence[tuple[int, int]], padding_mode: str, what: str
) -> None:
    for size, (left, right) in zip(sizes, pads, strict=True):
        if padding_mode == "reflect" and max(left, right) >= size:
            raise CheckerscopeError(
                f"{what}: reflect padding of {max(left, right)} needs a size above it, "
                f"got size {size} (shape {tuple(sizes)})"
            )
        if padding_mode == "circular" and max(left, right) > size:
            raise CheckerscopeError(
                f"{what}: circular padding of {max(left, right)} needs a size of at least it, "
                f"got size {size} (shape {tuple(sizes)})"
            )


def _pad(x: Tensor, pads: Sequence[tuple[int, int]], padding_mode: str) -> Tensor:
    if not any(left or right for left, right in pads):
        return x
    flat = [p for left_right in reversed(pads) for p in left_right]
    if padding_mode == "zeros":
        return F.pad(x, flat)
    return F.pad(x, flat, mode=padding_mode)


def _conv_same(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding_mode: str, stride: int = 1
) -> Tensor:
    """Convolution with ``"same"`` padding in any padding mode (``stride`` 1 keeps sizes)."""
    rank = weight.dim() - 2
    pads = _same_padding(weight.shape[2:])
    if padding_mode == "zeros" and all(left == right for left, right in pads):
        return _CONV[rank](x, weight, bias, stride=stride, padding=[left for left, _ in pads])
    return _CONV[rank](_pad(x, pads, padding_mode), weight, bias, stride=stride)


# --------------------------------------------------------------------------------------
# Resize-convolution
# --------------------------------------------------------------------------------------


def resize_conv_is_fusable(mode: str, scale_factor: ScaleOrTuple, rank: int = 2) -> bool:
    """Whether ``resize_conv`` with these settings has a fused (one transposed conv) form.

    Nearest (or nearest-exact) upsampling by integer factors is fusable; anything else
    (linear modes, fractional factors) runs as interpolate + conv.

    Examples:
        >>> resize_conv_is_fusable("nearest", 2), resize_conv_is_fusable("bilinear", 2)
        (True, False)
        >>> resize_conv_is_fusable("nearest", 1.5)
        False
    """
    return (
        _resize_mode(mode, rank) in _NEAREST_MODES
        and _integer_scales(_scales(scale_factor, rank)) is not None
    )


def _transpose_fold(kernel: int, scale: int, like: Tensor) -> Tensor:
    """0/1 matrix ``M`` (``k + s - 1`` by ``k``) with ``K' = M @ w`` along one axis.

    ``K'(j) = sum_{r < s} w(r + k - 1 - j)``: the coefficient of input sample ``i`` in output
    ``m`` is ``K'(m + P - s*i)`` with ``P = k - 1 - left_padding``.
    """
    j = torch.arange(kernel + scale - 1, device=like.device)[:, None]
    t = torch.arange(kernel, device=like.device)[None, :]
    shift = t - (kernel - 1 - j)
    return ((shift >= 0) & (shift < scale)).to(like.dtype)


def _phase_fold(kernel: int, scale: int, left: int, like: Tensor) -> Tensor:
    """0/1 matrix (``s * E`` by ``k``) giving the ``s`` phase kernels of ``E`` coarse taps.

    Output ``s*q + a`` is ``sum_e G_a(e) x(q + e)`` with ``G_a(e) = sum of w(t)`` over the
    taps ``t`` for which ``floor((a + t - left) / s) == e``; row ``a * E + e - e_min``.
    """
    low = -((left + scale - 1) // scale)
    taps = (scale - 1 + kernel - 1 - left) // scale - low + 1
    a = torch.arange(scale, device=like.device)[:, None, None]
    e = torch.arange(low, low + taps, device=like.device)[None, :, None]
    t = torch.arange(kernel, device=like.device)[None, None, :]
    reached = torch.div(a + t - left, scale, rounding_mode="floor") == e
    return reached.reshape(scale * taps, kernel).to(like.dtype)


def _fold(weight: Tensor, matrices: Sequence[Tensor]) -> Tensor:
    """Apply one folding matrix per spatial axis to ``weight``, as a single matmul.

    Small kernel-side ops cost little on an idle machine but each parallel one can stall a
    whole scheduler slice on an oversubscribed one, so the per-axis matrices are combined
    into their Kronecker product and applied in one ``mm``. The product is spelled as a
    broadcast multiply and a reshape (``torch.kron`` itself has no ONNX export).
    """
    folding = matrices[0]
    for matrix in matrices[1:]:
        rows, cols = folding.shape[0] * matrix.shape[0], folding.shape[1] * matrix.shape[1]
        folding = (folding[:, None, :, None] * matrix[None, :, None, :]).reshape(rows, cols)
    out_channels, in_channels = weight.shape[:2]
    flat = weight.reshape(out_channels * in_channels, -1) @ folding.T
    return flat.reshape(out_channels, in_channels, *(m.shape[0] for m in matrices))


def _coarse_padding(
    pads: Sequence[tuple[int, int]], scales: Sequence[int]
) -> list[tuple[int, int]]:
    return [(-(-left // s), -(-right // s)) for (left, right), s in zip(pads, scales, strict=True)]


def _resize_conv_naive(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scales: tuple[float, ...],
    mode: str,
    padding_mode: str,
) -> Tensor:
    rank = weight.dim() - 2
    linear = mode not in _NEAREST_MODES
    scale_arg = scales if len(set(scales)) > 1 else scales[0]
    if all(s == 1 for s in scales):
        upsampled = x
    elif linear:
        upsampled = F.interpolate(x, scale_factor=scale_arg, mode=mode, align_corners=False)
    else:
        upsampled = F.interpolate(x, scale_factor=scale_arg, mode=mode)
    _check_padding_fits(
        upsampled.shape[2:], _same_padding(weight.shape[2:]), padding_mode, f"resize_conv{rank}d"
    )
    return _conv_same(upsampled, weight, bias, padding_mode)


def _resize_conv_transpose(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scales: tuple[int, ...],
    pads: list[tuple[int, int]],
    padded: bool,
) -> Tensor:
    """The fused path as one transposed convolution; ``padded``: ``x`` is already padded."""
    rank = weight.dim() - 2
    kernels = weight.shape[2:]
    # torch's transposed-convolution layout is (in, out, K...); a contiguous one, or oneDNN
    # copies it on every call.
    matrices = [_transpose_fold(k, s, weight) for k, s in zip(kernels, scales, strict=True)]
    folded = _fold(weight, matrices).transpose(0, 1).contiguous()
    coarse = _coarse_padding(pads, scales) if padded else [(0, 0)] * rank
    strides, paddings, crops = [], [], []
    for axis, ((_, right), (q_left, q_right), k, s) in enumerate(
        zip(pads, coarse, kernels, scales, strict=True)
    ):
        length = x.shape[axis + 2]
        full = (length - 1) * s + k + s - 1
        wanted = (length - q_left - q_right) * s
        trim_left = right + s * q_left
        trim_right = full - trim_left - wanted
        strides.append(s)
        paddings.append(min(trim_left, trim_right))
        crops.append((trim_left - paddings[-1], wanted))
    out = _CONV_TRANSPOSE[rank](x, folded, bias, stride=strides, padding=paddings)
    for axis, (start, size) in enumerate(crops):
        if start or out.shape[axis + 2] != size:
            out = out.narrow(axis + 2, start, size)
    return out


def pixel_shuffle_nd(x: Tensor, scale_factor: IntOrTuple) -> Tensor:
    """N-D pixel shuffle: ``(N, C*prod(s), L...)`` -> ``(N, C, s*L...)``.

    Channel ``c * prod(s) + phase`` (phases in row-major order over the axes) lands on the
    output samples of that phase, as in ``torch.nn.functional.pixel_shuffle``.

    Examples:
        >>> import torch
        >>> x = torch.randn(2, 8, 3, 4)
        >>> bool(torch.equal(pixel_shuffle_nd(x, 2), torch.nn.functional.pixel_shuffle(x, 2)))
        True
    """
    rank = x.dim() - 2
    scales = _per_axis(scale_factor, rank, "scale_factor")
    phases = math.prod(scales)
    if rank < 1 or x.shape[1] % phases:
        raise CheckerscopeError(
            f"pixel_shuffle: expected (N, C*{phases}, {_spatial(max(rank, 1))}) with channels "
            f"divisible by {phases}, got {tuple(x.shape)}"
        )
    if rank == 2 and scales[0] == scales[1]:
        return F.pixel_shuffle(x, scales[0])
    n, channels = x.shape[0], x.shape[1] // phases
    sizes = x.shape[2:]
    grouped = x.reshape(n, channels, *scales, *sizes)
    order = [0, 1] + [i for axis in range(rank) for i in (2 + rank + axis, 2 + axis)]
    return grouped.permute(order).reshape(
        n, channels, *(L * s for L, s in zip(sizes, scales, strict=True))
    )


def pixel_shuffle1d(x: Tensor, scale_factor: int) -> Tensor:
    """1-D pixel shuffle: ``(N, C*s, L)`` -> ``(N, C, s*L)``, channel ``c*s + a`` to ``s*i + a``.

    Examples:
        >>> import torch
        >>> pixel_shuffle1d(torch.arange(6.0).reshape(1, 2, 3), 2)
        tensor([[[0., 3., 1., 4., 2., 5.]]])
    """
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise CheckerscopeError(f"pixel_shuffle1d: expected input of shape (N, C, L), got {shape}")
    return pixel_shuffle_nd(x, scale_factor)


def _resize_conv_subpixel(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scales: tuple[int, ...],
    pads: list[tuple[int, int]],
    padded: bool,
) -> Tensor:
    """The fused path as one convolution to ``s**d`` phases and a pixel shuffle."""
    rank = weight.dim() - 2
    kernels = weight.shape[2:]
    matrices = [
        _phase_fold(k, s, left, weight)
        for k, s, (left, _) in zip(kernels, scales, pads, strict=True)
    ]
    taps = [m.shape[0] // s for m, s in zip(matrices, scales, strict=True)]
    folded = _fold(weight, matrices)
    out_channels, in_channels = weight.shape[:2]
    split = [v for s, e in zip(scales, taps, strict=True) for v in (s, e)]
    folded = folded.reshape(out_channels, in_channels, *split)
    order = [0, *(2 + 2 * a for a in range(rank)), 1, *(3 + 2 * a for a in range(rank))]
    folded = folded.permute(order).reshape(out_channels * math.prod(scales), in_channels, *taps)
    if bias is not None:
        bias = bias.repeat_interleave(math.prod(scales))
    if not padded:
        coarse = _coarse_padding(pads, scales)
        if all(left == right for left, right in coarse):
            phases = _CONV[rank](x, folded, bias, padding=[left for left, _ in coarse])
        else:
            phases = _CONV[rank](_pad(x, coarse, "zeros"), folded, bias)
    else:
        phases = _CONV[rank](x, folded, bias)
    return pixel_shuffle_nd(phases, scales)


def _reflect_index(n: Tensor, size: int) -> Tensor:
    n = torch.where(n < 0, -n, n)
    return torch.where(n >= size, 2 * (size - 1) - n, n)


def _reflect_window(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scales: tuple[int, ...],
    pads: list[tuple[int, int]],
    axis: int,
    start: int,
    stop: int,
) -> Tensor:
    """Exact naive outputs ``start:stop`` along ``axis`` (all of every other axis), reflect mode.

    The reflect-padded upsampled input is gathered directly from ``x`` for just that window.
    """
    rank = weight.dim() - 2
    gathered = x
    for a in range(rank):
        size, s, (left, right), k = x.shape[a + 2], scales[a], pads[a], weight.shape[a + 2]
        first, last = (
            (start - left, stop - left + k - 1) if a == axis else (-left, size * s + right)
        )
        fine = torch.arange(first, last, device=x.device)
        coarse = torch.div(_reflect_index(fine, size * s), s, rounding_mode="floor")
        gathered = gathered.index_select(a + 2, coarse)
    return _CONV[rank](gathered, weight, bias)


def _resize_conv_fused(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scales: tuple[int, ...],
    padding_mode: str,
    form: str,
) -> Tensor:
    rank = weight.dim() - 2
    pads = _same_padding(weight.shape[2:])
    sizes = [L * s for L, s in zip(x.shape[2:], scales, strict=True)]
    _check_padding_fits(sizes, pads, padding_mode, f"resize_conv{rank}d")
    # Border samples where reflect padding of the upsampled tensor differs from the
    # upsampling of a replicate-padded input: reflect reaches back past the first block.
    borders = [
        (max(0, left - s + 1), max(0, right - s + 1)) if padding_mode == "reflect" else (0, 0)
        for (left, right), s in zip(pads, scales, strict=True)
    ]
    if any(
        b_left + b_right >= size for (b_left, b_right), size in zip(borders, sizes, strict=True)
    ):
        return _resize_conv_naive(
            x, weight, bias, tuple(map(float, scales)), "nearest", padding_mode
        )
    padded = padding_mode != "zeros"
    if padded:
        coarse_mode = "replicate" if padding_mode == "reflect" else padding_mode
        source = _pad(x, _coarse_padding(pads, scales), coarse_mode)
    else:
        source = x
    if form == "transpose":
        out = _resize_conv_transpose(source, weight, bias, scales, pads, padded)
    elif form == "subpixel":
        out = _resize_conv_subpixel(source, weight, bias, scales, pads, padded)
    else:
        raise CheckerscopeError(f"fused form must be 'transpose' or 'subpixel', got {form!r}")
    for axis, (b_left, b_right) in enumerate(borders):
        if not (b_left or b_right):
            continue
        size = sizes[axis]
        pieces = [out.narrow(axis + 2, b_left, size - b_left - b_right)]
        if b_left:
            pieces.insert(0, _reflect_window(x, weight, bias, scales, pads, axis, 0, b_left))
        if b_right:
            pieces.append(
                _reflect_window(x, weight, bias, scales, pads, axis, size - b_right, size)
            )
        out = torch.cat(pieces, dim=axis + 2)
    return out


def _resize_conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scale_factor: ScaleOrTuple,
    mode: str,
    padding_mode: str,
    fused: bool | None,
    rank: int,
    form: str | None = None,
) -> Tensor:
    what = f"resize_conv{rank}d"
    _check_weight(weight, rank, what)
    _check_input(x, rank, weight.shape[1], what)
    scales = _scales(scale_factor, rank)
    mode = _resize_mode(mode, rank)
    _check_padding_mode(padding_mode)
    integer = _integer_scales(scales)
    fusable = mode in _NEAREST_MODES and integer is not None
    if fused and not fusable:
        raise CheckerscopeError(
            f"{what}: fused=True needs mode 'nearest' and integer scale factors, "
            f"got mode={mode!r}, scale_factor={scale_factor!r}"
        )
    if fusable and fused is not False:
        assert integer is not None
        return _resize_conv_fused(x, weight, bias, integer, padding_mode, form or _FUSED_FORM)
    return _resize_conv_naive(x, weight, bias, scales, mode, padding_mode)


def resize_conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    scale_factor: ScaleOrTuple = 2,
    mode: str = "nearest",
    padding_mode: str = "zeros",
    fused: bool | None = None,
) -> Tensor:
    """Upsample a signal by ``scale_factor`` then convolve with "same" padding (Odena et al. 2016).

    See :func:`resize_conv2d`; ``x`` is ``(N, C_in, L)`` and ``weight`` ``(C_out, C_in, k)``.

    Examples:
        >>> import torch
        >>> resize_conv1d(torch.randn(2, 4, 16), torch.randn(8, 4, 3), scale_factor=4).shape
        torch.Size([2, 8, 64])
    """
    return _resize_conv(x, weight, bias, scale_factor, mode, padding_mode, fused, rank=1)


def resize_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    scale_factor: ScaleOrTuple = 2,
    mode: str = "nearest",
    padding_mode: str = "zeros",
    fused: bool | None = None,
) -> Tensor:
    """Upsample by ``scale_factor`` then convolve with "same" padding (Odena et al. 2016).

    The result equals ``F.interpolate(x, scale_factor=s, mode=mode)`` followed by
    ``F.pad(..., mode=padding_mode)`` and ``F.conv2d``; the padding is
    ``((k - 1) // 2, k // 2)`` per axis (torch's ``padding="same"``: an even kernel puts its
    extra sample on the far side). For nearest modes with integer scale factors the fused
    path computes the same numbers as one transposed convolution of ``x``.

    Args:
        x: input of shape ``(N, C_in, H, W)``.
        weight: convolution weight ``(C_out, C_in, kH, kW)``, as in ``nn.Conv2d``.
        bias: optional ``(C_out,)``.
        scale_factor: upsampling factor, one number or one per axis.
        mode: ``"nearest"``, ``"nearest-exact"`` or ``"bilinear"`` (``align_corners=False``).
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``, applied to
            the upsampled tensor as ``nn.Conv2d(padding_mode=...)`` would.
        fused: ``True`` forces the fused path (an error when it does not exist), ``False``
            forces interpolate + conv, ``None`` picks the fused path whenever it exists.

    Returns:
        ``(N, C_out, floor(s*H), floor(s*W))``.

    Examples:
        >>> import torch
        >>> x, w = torch.randn(2, 3, 4, 5), torch.randn(6, 3, 3, 3)
        >>> resize_conv2d(x, w).shape
        torch.Size([2, 6, 8, 10])
        >>> naive = torch.nn.functional.conv2d(
        ...     torch.nn.functional.interpolate(x, scale_factor=2), w, padding=1)
        >>> bool(torch.allclose(resize_conv2d(x, w), naive, atol=1e-5))
        True
        >>> resize_conv2d(x, w, mode="bilinear", fused=True)
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: resize_conv2d: fused=True needs mode 'nearest' ...
    """
    return _resize_conv(x, weight, bias, scale_factor, mode, padding_mode, fused, rank=2)


def resize_conv3d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    scale_factor: ScaleOrTuple = 2,
    mode: str = "nearest",
    padding_mode: str = "zeros",
    fused: bool | None = None,
) -> Tensor:
    """Upsample a volume by ``scale_factor`` then convolve with "same" padding (Odena et al. 2016).

    See :func:`resize_conv2d`; ``x`` is ``(N, C_in, D, H, W)``, ``mode`` may be
    ``"trilinear"``.

    Examples:
        >>> import torch
        >>> resize_conv3d(torch.randn(1, 2, 2, 3, 4), torch.randn(4, 2, 3, 3, 3)).shape
        torch.Size([1, 4, 4, 6, 8])
    """
    return _resize_conv(x, weight, bias, scale_factor, mode, padding_mode, fused, rank=3)


# --------------------------------------------------------------------------------------
# Sub-pixel convolution and ICNR
# --------------------------------------------------------------------------------------


def hold_blur(x: Tensor, scale_factor: IntOrTuple) -> Tensor:
    """Mean of the last ``s`` samples on each axis (``s`` = ``scale_factor``): a zero-order hold.

    The input is padded by replicating its first ``s - 1`` samples, so the size is kept.
    For ``s = 2`` this is fastai's blur after a pixel shuffle (``ReplicationPad2d((1, 0, 1,
    0))`` then ``AvgPool2d(2, stride=1)``). The ``s``-tap box has zeros at every frequency
    ``k / s``, so it removes any grid of period ``s`` entirely.

    Examples:
        >>> import torch
        >>> hold_blur(torch.tensor([[[0.0, 4.0, 0.0, 4.0]]]), 2)
        tensor([[[0., 2., 2., 2.]]])
    """
    rank = x.dim() - 2
    if rank not in (1, 2, 3):
        raise CheckerscopeError(
            f"hold_blur: expected input of shape (N, C, *spatial), got {tuple(x.shape)}"
        )
    scales = _per_axis(scale_factor, rank, "scale_factor")
    if all(s == 1 for s in scales):
        return x
    padded = _pad(x, [(s - 1, 0) for s in scales], "replicate")
    # autocast runs replication padding in float32; give back the dtype it was given
    return _AVG_POOL[rank](padded, kernel_size=scales, stride=1).to(x.dtype)


def _sub_pixel_conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    scale_factor: IntOrTuple,
    padding_mode: str,
    rank: int,
    blur: bool = False,
) -> Tensor:
    what = f"sub_pixel_conv{rank}d"
    _check_weight(weight, rank, what)
    _check_input(x, rank, weight.shape[1], what)
    _check_padding_mode(padding_mode)
    scales = _per_axis(scale_factor, rank, "scale_factor")
    phases = math.prod(scales)
    if weight.shape[0] % phases:
        raise CheckerscopeError(
            f"{what}: weight has {weight.shape[0]} output channels, not a multiple of the "
            f"{phases} phases of scale_factor={scale_factor!r}"
        )
    _check_padding_fits(x.shape[2:], _same_padding(weight.shape[2:]), padding_mode, what)
    out = pixel_shuffle_nd(_conv_same(x, weight, bias, padding_mode), scales)
    return hold_blur(out, scales) if blur else out


def sub_pixel_conv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    scale_factor: int = 2,
    padding_mode: str = "zeros",
    blur: bool = False,
) -> Tensor:
    """Convolve to ``C_out * s`` channels, then 1-D pixel shuffle (Shi et al. 2016).

    ``blur=True`` then applies :func:`hold_blur`, as :func:`sub_pixel_conv2d`.

    Examples:
        >>> import torch
        >>> sub_pixel_conv1d(torch.randn(2, 3, 10), torch.randn(8, 3, 3), scale_factor=4).shape
        torch.Size([2, 2, 40])
    """
    return _sub_pixel_conv(x, weight, bias, scale_factor, padding_mode, rank=1, blur=blur)


def sub_pixel_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    scale_factor: IntOrTuple = 2,
    padding_mode: str = "zeros",
    blur: bool = False,
) -> Tensor:
    """Convolve to ``C_out * s**2`` channels, then pixel shuffle (Shi et al. 2016).

    ``weight`` is ``(C_out * s**2, C_in, k, k)``; initialise it with :func:`icnr_` to start
    free of checkerboard artifacts. ``blur=True`` then averages each output with its
    ``s - 1`` predecessors on every axis (:func:`hold_blur`; fastai's ``PixelShuffle_ICNR(
    blur=True)`` for ``s = 2``), which keeps a trained layer from growing a period-``s`` grid.

    Examples:
        >>> import torch
        >>> sub_pixel_conv2d(torch.randn(2, 3, 5, 5), torch.randn(16, 3, 3, 3)).shape
        torch.Size([2, 4, 10, 10])
    """
    return _sub_pixel_conv(x, weight, bias, scale_factor, padding_mode, rank=2, blur=blur)


def icnr_(
    weight: Tensor,
    scale_factor: IntOrTuple = 2,
    init: Callable[[Tensor], object] = torch.nn.init.kaiming_normal_,
) -> Tensor:
    """ICNR initialisation of a sub-pixel convolution weight, in place (Aitken et al. 2017).

    A base kernel of shape ``(C_out, C_in, k...)`` is drawn with ``init`` and repeated for
    every one of the ``prod(s)`` phases of each output channel, so all phases are equal and
    the sub-pixel convolution is exactly ``nearest_upsample(conv(x, base))``: every output
    block of ``s x s`` samples is constant, free of checkerboard at initialisation.

    Args:
        weight: ``(C_out * prod(s), C_in, k...)``, the layout of :func:`sub_pixel_conv2d`.
        scale_factor: the pixel-shuffle factor, one int or one per spatial axis.
        init: initialiser applied to the base kernel.

    Returns:
        ``weight``, modified in place.

    Examples:
        >>> import torch
        >>> w = icnr_(torch.empty(8, 3, 3, 3), scale_factor=2)
        >>> bool(torch.equal(w[0], w[3])), bool(torch.equal(w[4], w[7]))
        (True, True)
    """
    rank = weight.dim() - 2
    scales = _per_axis(scale_factor, max(rank, 1), "scale_factor")
    phases = math.prod(scales)
    if rank < 1 or weight.shape[0] % phases:
        raise CheckerscopeError(
            f"icnr_: expected a weight (C_out*{phases}, C_in, k...), got {tuple(weight.shape)}"
        )
    base = torch.empty(
        weight.shape[0] // phases, *weight.shape[1:], dtype=weight.dtype, device=weight.device
    )
    init(base)
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(phases, dim=0))
    return weight


# --------------------------------------------------------------------------------------
# Transposed convolution followed by a fixed smoothing filter
# --------------------------------------------------------------------------------------


def binomial_filter(size: int, dtype: torch.dtype | None = None) -> Tensor:
    """The normalised 1-D binomial filter of ``size`` taps: ``C(size-1, i) / 2**(size-1)``.

    Examples:
        >>> binomial_filter(4)
        tensor([0.1250, 0.3750, 0.3750, 0.1250])
        >>> binomial_filter(1)
        tensor([1.])
    """
    if not isinstance(size, int) or size < 1:
        raise CheckerscopeError(f"filter_size must be an int >= 1, got {size!r}")
    taps = [math.comb(size - 1, i) for i in range(size)]
    return torch.tensor(taps, dtype=dtype or torch.get_default_dtype()) / 2 ** (size - 1)


def smoothing_filter(name: str, stride: int, dtype: torch.dtype | None = None) -> Tensor:
    """1-D smoothing filter (sum 1) applied after a stride-``stride`` transposed convolution.

    ``"hold"`` is the zero-order hold (a box of ``stride`` taps, Sugawara et al. 2018/19): it
    turns zero insertion into nearest upsampling, so any kernel size covers evenly.
    ``"binomial4"`` is ``[1, 3, 3, 1] / 8``, StyleGAN2's upsampling filter (Karras et al. 2020);
    it contains the 2-tap box, so it evens out stride 2 only.

    Examples:
        >>> smoothing_filter("hold", 3)
        tensor([0.3333, 0.3333, 0.3333])
    """
    if name == "hold":
        return torch.full((stride,), 1.0 / stride, dtype=dtype or torch.get_default_dtype())
    if name == "binomial4":
        if stride != 2:
            raise CheckerscopeError(
                f"smoothing 'binomial4' evens out stride 2 only, got stride={stride}; use 'hold'"
            )
        return binomial_filter(4, dtype)
    raise CheckerscopeError(
        f"smoothing must be one of {', '.join(SMOOTHING_FILTERS)}, got {name!r}"
    )


def smoothing_kernel(
    name: str, stride: IntOrTuple, rank: int, dtype: torch.dtype | None = None
) -> Tensor:
    """The separable ``rank``-D smoothing kernel: the outer product of one filter per axis.

    Examples:
        >>> smoothing_kernel("hold", (2, 3), rank=2).shape
        torch.Size([2, 3])
        >>> float(smoothing_kernel("binomial4", 2, rank=2).sum())
        1.0
    """
    strides = _per_axis(stride, rank, "stride")
    kernel = smoothing_filter(name, strides[0], dtype)
    for s in strides[1:]:
        kernel = kernel[..., None] * smoothing_filter(name, s, dtype)
    return kernel


def _smoothing_name(smoothing: str | None, legacy: dict[str, Any], what: str) -> str:
    """``smoothing``, or the deprecated keyword ``filter`` (it shadowed the builtin)."""
    unexpected = sorted(set(legacy) - {"filter"})
    if unexpected:
        raise TypeError(f"{what}() got an unexpected keyword argument {unexpected[0]!r}")
    if "filter" not in legacy:
        return "hold" if smoothing is None else smoothing
    if smoothing is not None:
        raise CheckerscopeError(f"{what}: give smoothing= only (filter= is its deprecated name)")
    warnings.warn(
        f"{what}(filter=...) is deprecated; use smoothing=...",
        DeprecationWarning,
        stacklevel=3,
    )
    return str(legacy["filter"])


def _filtered_deconv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
    smoothing: Tensor,
    rank: int,
) -> Tensor:
    what = f"filtered_deconv{rank}d"
    _check_weight(weight, rank, what)
    _check_input(x, rank, weight.shape[0], what)
    strides = _per_axis(stride, rank, "stride")
    pads = _per_axis(padding, rank, "padding", minimum=0)
    out_pads = _per_axis(output_padding, rank, "output_padding", minimum=0)
    dilations = _per_axis(dilation, rank, "dilation")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise CheckerscopeError(f"{what}: groups must be an int >= 1, got {groups!r}")
    if weight.shape[0] % groups:
        raise CheckerscopeError(
            f"{what}: the weight's {weight.shape[0]} input channels are not divisible by "
            f"groups={groups} (weight {tuple(weight.shape)})"
        )
    for op, s, d in zip(out_pads, strides, dilations, strict=True):
        if op >= s and op >= d:
            raise CheckerscopeError(
                f"{what}: output_padding={op} must be smaller than stride={s} or dilation={d}"
            )
    if smoothing.dim() != rank:
        raise CheckerscopeError(
            f"{what}: expected a {rank}-D smoothing kernel, got shape {tuple(smoothing.shape)}"
        )
    taps = smoothing.shape
    sizes = [
        (length - 1) * s - 2 * p + d * (k - 1) + op + 1
        for length, s, p, d, k, op in zip(
            x.shape[2:], strides, pads, dilations, weight.shape[2:], out_pads, strict=True
        )
    ]
    if min(sizes) < 1:
        raise CheckerscopeError(
            f"{what}: padding={padding!r} leaves no output for input {tuple(x.shape)} "
            f"(output size {tuple(sizes)})"
        )
    # The filter reads the transposed convolution's full output, so near a padded border it
    # sees the samples torch's `padding` crops, not zeros. Output n is the filter applied to
    # full-output samples n + p - f // 2 ... n + p + (f - 1) // 2 (zero beyond the ends): the
    # transposed convolution is asked for as much of that as its padding can crop, the
    # filter's own zero padding supplies the rest, and what is left over is cut off. (No
    # F.pad: after one, torch's TorchScript ONNX exporter no longer knows the shapes.)
    wanted = [
        (p - f // 2, p - op - (f - 1) // 2) for p, op, f in zip(pads, out_pads, taps, strict=True)
    ]
    crop = [max(0, min(before, after)) for before, after in wanted]
    full = _CONV_TRANSPOSE[rank](
        x, weight, None, stride=strides, padding=crop, groups=groups, dilation=dilations
    )
    for axis, ((before, after), c) in enumerate(zip(wanted, crop, strict=True)):
        if max(before, after) > c:  # crop one side more than the other
            start, stop = max(0, before - c), full.shape[axis + 2] - max(0, after - c)
            full = full.narrow(axis + 2, start, stop - start)
    extend = [(max(0, -before), max(0, -after)) for before, after in wanted]
    filter_padding = [max(pair) for pair in extend]
    out_channels = weight.shape[1] * groups  # not full.shape: known to every exporter
    kernel = smoothing.to(device=full.device, dtype=full.dtype).flip(list(range(rank)))
    depthwise = kernel.expand(out_channels, 1, *kernel.shape)
    # the bias goes through the convolution (not `+ bias`): autocast then casts it too
    out = _CONV[rank](full, depthwise, bias, padding=filter_padding, groups=out_channels)
    for axis, ((before, after), padding) in enumerate(zip(extend, filter_padding, strict=True)):
        if before != after:
            start = padding - before
            out = out.narrow(axis + 2, start, out.shape[axis + 2] - start - (padding - after))
    return out


def filtered_deconv1d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 2,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    smoothing: str | None = None,
    **deprecated: Any,
) -> Tensor:
    """Transposed convolution then a fixed smoothing filter, 1-D (Sugawara et al. 2018/19).

    See :func:`filtered_deconv2d`.

    Examples:
        >>> import torch
        >>> x, w = torch.randn(1, 2, 8), torch.randn(2, 3, 4)
        >>> filtered_deconv1d(x, w, stride=2, padding=1).shape
        torch.Size([1, 3, 16])
    """
    name = _smoothing_name(smoothing, deprecated, "filtered_deconv1d")
    kernel = smoothing_kernel(name, stride, rank=1)
    return _filtered_deconv(
        x, weight, bias, stride, padding, output_padding, groups, dilation, kernel, rank=1
    )


def filtered_deconv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 2,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    smoothing: str | None = None,
    **deprecated: Any,
) -> Tensor:
    """Transposed convolution then a fixed smoothing filter (Sugawara et al.; StyleGAN2).

    The arguments before ``smoothing`` are those of ``torch.nn.functional.conv_transpose2d``
    and the output has its shape. The separable ``smoothing`` filter (``f`` taps per axis) is
    applied depthwise to the transposed convolution's full output, reaching ``f // 2``
    samples back and ``(f - 1) // 2`` forward, and the result is cropped by ``padding`` as
    torch crops: with ``padding=0`` that is exactly ``conv_transpose2d`` then the filter with
    zero padding; with ``padding > 0`` the border samples also see what the crop removed.
    The bias is added after the filter, so it stays uniform up to the borders.

    Args:
        x: ``(N, C_in, H, W)``.
        weight: ``(C_in, C_out / groups, kH, kW)``, the layout of ``nn.ConvTranspose2d``.
        bias: optional ``(C_out,)``.
        stride: upsampling factor, one int or one per axis.
        padding: samples removed from each side of the full output, as in torch.
        output_padding: samples added on the far side, smaller than stride or dilation.
        groups: blocked connections from input to output channels.
        dilation: spacing between kernel taps.
        smoothing: ``"hold"`` (zero-order hold, a box of ``stride`` taps; the default) or
            ``"binomial4"`` (``[1, 3, 3, 1] / 8``, stride 2 only).
        **deprecated: ``filter=`` is the old name of ``smoothing=`` (a warning).

    Examples:
        >>> import torch
        >>> y = filtered_deconv2d(torch.ones(1, 1, 6, 6), torch.ones(1, 1, 3, 3), padding=1)
        >>> tuple(y.shape)
        (1, 1, 11, 11)
        >>> y[0, 0, 4:8, 4:8]
        tensor([[2.2500, 2.2500, 2.2500, 2.2500],
                [2.2500, 2.2500, 2.2500, 2.2500],
                [2.2500, 2.2500, 2.2500, 2.2500],
                [2.2500, 2.2500, 2.2500, 2.2500]])
    """
    name = _smoothing_name(smoothing, deprecated, "filtered_deconv2d")
    kernel = smoothing_kernel(name, stride, rank=2)
    return _filtered_deconv(
        x, weight, bias, stride, padding, output_padding, groups, dilation, kernel, rank=2
    )


# --------------------------------------------------------------------------------------
# Bilinear additive upsampling
# --------------------------------------------------------------------------------------


def bilinear_additive_upsample(
    x: Tensor, out_channels: int, scale_factor: ScaleOrTuple = 2
) -> Tensor:
    """Linear upsampling, then sum of each group of ``C_in / C_out`` channels (Wojna et al. 2017).

    Both steps are linear and act on different axes, so the channel sums are taken first on
    the small input: the same numbers for ``C_in / C_out`` times less interpolation. The
    rank (1-3 spatial axes) comes from ``x``; interpolation is (bi/tri)linear with
    ``align_corners=False``.

    Examples:
        >>> import torch
        >>> bilinear_additive_upsample(torch.ones(1, 8, 3, 3), 2)[0, :, 0, 0]
        tensor([4., 4.])
    """
    rank = x.dim() - 2 if isinstance(x, Tensor) else 0
    what = "bilinear_additive_upsample"
    if rank not in (1, 2, 3):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise CheckerscopeError(f"{what}: expected input of shape (N, C, *spatial), got {shape}")
    if not isinstance(out_channels, int) or out_channels < 1 or x.shape[1] % out_channels:
        raise CheckerscopeError(
            f"{what}: input channels {x.shape[1]} must be a multiple of out_channels "
            f"{out_channels!r} (input shape {tuple(x.shape)})"
        )
    scales = _scales(scale_factor, rank)
    summed = x.reshape(x.shape[0], out_channels, -1, *x.shape[2:]).sum(dim=2)
    scale_arg = scales if len(set(scales)) > 1 else scales[0]
    return F.interpolate(
        summed, scale_factor=scale_arg, mode=_LINEAR_NAMES[rank], align_corners=False
    )


def bilinear_additive_upsample2d(
    x: Tensor, out_channels: int, scale_factor: ScaleOrTuple = 2
) -> Tensor:
    """Bilinear additive upsampling of images (Wojna et al. 2017); see
    :func:`bilinear_additive_upsample`.

    Examples:
        >>> import torch
        >>> bilinear_additive_upsample2d(torch.randn(2, 8, 4, 4), 2).shape
        torch.Size([2, 2, 8, 8])
    """
    _check_input(x, 2, None, "bilinear_additive_upsample2d")
    return bilinear_additive_upsample(x, out_channels, scale_factor)


# --------------------------------------------------------------------------------------
# Anti-aliased pooling
# --------------------------------------------------------------------------------------


def _blur_pool(
    x: Tensor,
    stride: int,
    filter_size: int,
    padding_mode: str,
    rank: int,
    taps: Tensor | None,
    channels: int | None = None,
) -> Tensor:
    """``channels``: the input's, when the caller knows it (a constant in traced graphs)."""
    what = f"blur_pool{rank}d"
    _check_input(x, rank, None, what)
    _check_padding_mode(padding_mode)
    if not isinstance(stride, int) or stride < 1:
        raise CheckerscopeError(f"{what}: stride must be an int >= 1, got {stride!r}")
    if taps is None:
        taps = binomial_filter(filter_size)
    taps = taps.to(dtype=x.dtype, device=x.device)
    kernel = taps
    for _ in range(rank - 1):
        kernel = kernel[..., None] * taps
    channels = x.shape[1] if channels is None else channels
    pads = _same_padding((taps.numel(),) * rank)
    _check_padding_fits(x.shape[2:], pads, padding_mode, what)
    depthwise = kernel.expand(channels, 1, *kernel.shape)
    return _CONV[rank](_pad(x, pads, padding_mode), depthwise, stride=stride, groups=channels)


def blur_pool1d(
    x: Tensor, stride: int = 2, filter_size: int = 4, padding_mode: str = "reflect"
) -> Tensor:
    """Binomial low-pass filter then subsampling of a signal (Zhang 2019).

    Examples:
        >>> import torch
        >>> blur_pool1d(torch.ones(1, 2, 9)).shape
        torch.Size([1, 2, 5])
    """
    return _blur_pool(x, stride, filter_size, padding_mode, rank=1, taps=None)


def blur_pool2d(
    x: Tensor, stride: int = 2, filter_size: int = 4, padding_mode: str = "reflect"
) -> Tensor:
    """Binomial low-pass filter then subsampling: anti-aliased downsampling (Zhang 2019).

    The separable filter has ``filter_size`` binomial taps per axis (1 = plain subsampling);
    the input is padded ``((f - 1) // 2, f // 2)`` in ``padding_mode``, so the output is
    ``ceil(H / stride) x ceil(W / stride)``.

    Examples:
        >>> import torch
        >>> y = blur_pool2d(torch.full((1, 3, 7, 8), 5.0), stride=2, filter_size=4)
        >>> tuple(y.shape), bool(torch.allclose(y, torch.tensor(5.0)))
        ((1, 3, 4, 4), True)
    """
    return _blur_pool(x, stride, filter_size, padding_mode, rank=2, taps=None)


def _max_blur_pool(
    x: Tensor,
    stride: int,
    filter_size: int,
    max_pool_size: int,
    padding_mode: str,
    rank: int,
    taps: Tensor | None,
    channels: int | None = None,
) -> Tensor:
    what = f"max_blur_pool{rank}d"
    _check_input(x, rank, None, what)
    if isinstance(max_pool_size, bool) or not isinstance(max_pool_size, int) or max_pool_size < 1:
        raise CheckerscopeError(f"{what}: max_pool_size must be an int >= 1, got {max_pool_size!r}")
    if min(x.shape[2:]) < max_pool_size:
        raise CheckerscopeError(
            f"{what}: input {tuple(x.shape)} is smaller than max_pool_size={max_pool_size}"
        )
    pooled = _MAX_POOL[rank](x, kernel_size=max_pool_size, stride=1)
    return _blur_pool(pooled, stride, filter_size, padding_mode, rank, taps, channels)


def max_blur_pool1d(
    x: Tensor,
    stride: int = 2,
    filter_size: int = 4,
    max_pool_size: int = 2,
    padding_mode: str = "reflect",
) -> Tensor:
    """Max pooling at stride 1, then :func:`blur_pool1d` (Zhang 2019's MaxBlurPool).

    Examples:
        >>> import torch
        >>> max_blur_pool1d(torch.randn(1, 2, 10)).shape
        torch.Size([1, 2, 5])
    """
    return _max_blur_pool(x, stride, filter_size, max_pool_size, padding_mode, rank=1, taps=None)


def max_blur_pool2d(
    x: Tensor,
    stride: int = 2,
    filter_size: int = 4,
    max_pool_size: int = 2,
    padding_mode: str = "reflect",
) -> Tensor:
    """Max pooling at stride 1, then :func:`blur_pool2d`: anti-aliased max pooling (Zhang 2019).

    ``MaxPool2d(k, stride=s)`` takes the maximum and subsamples in one step, which aliases;
    here the maximum is taken densely (``max_pool_size`` window, stride 1, no padding: one
    sample less per axis for the default 2) and the binomial blur does the subsampling. An
    ``H x W`` input gives ``ceil((H - m + 1) / s) x ceil((W - m + 1) / s)``, i.e. the size of
    ``MaxPool2d(2)`` for the defaults.

    Examples:
        >>> import torch
        >>> x = torch.randn(1, 3, 8, 9)
        >>> max_blur_pool2d(x).shape == torch.nn.functional.max_pool2d(x, 2).shape
        True
    """
    return _max_blur_pool(x, stride, filter_size, max_pool_size, padding_mode, rank=2, taps=None)
