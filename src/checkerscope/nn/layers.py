"""``nn.Module`` wrappers of :mod:`checkerscope.nn.functional`: drop-in artifact-free layers.

Each module only keeps its configuration and parameters; ``forward`` calls one function of
the functional core. Parameters have the names and layouts of torch's own layers
(``weight``/``bias`` of ``nn.Conv2d`` or ``nn.ConvTranspose2d``), so checkpoints move in and
out; fixed filters are non-persistent buffers, absent from ``state_dict``. Every module
describes its resolution-changing structure with ``overlap_specs()`` for
:func:`checkerscope.theory.overlap`.

Examples:
    >>> import torch
    >>> from checkerscope.nn import ResizeConv2d
    >>> layer = ResizeConv2d(8, 4, kernel_size=3, scale_factor=2)
    >>> layer(torch.randn(2, 8, 16, 16)).shape
    torch.Size([2, 4, 32, 32])
    >>> layer.overlap_specs()
    [Resize(scale=2, mode='nearest'), Conv(kernel=3, stride=1, padding=1, dilation=1)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from checkerscope import theory
from checkerscope.errors import CheckerscopeError
from checkerscope.nn import functional as CF

__all__ = [
    "BilinearAdditiveUpsample2d",
    "BlurPool1d",
    "BlurPool2d",
    "FilteredDeconv1d",
    "FilteredDeconv2d",
    "MaxBlurPool1d",
    "MaxBlurPool2d",
    "ResizeConv1d",
    "ResizeConv2d",
    "ResizeConv3d",
    "SubPixelConv1d",
    "SubPixelConv2d",
]

_TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_TORCH_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def _factory(device: torch.device | str | None, dtype: torch.dtype | None) -> dict[str, Any]:
    return {"device": device, "dtype": dtype}


class _NotScriptable(nn.Module):
    """Refuses ``torch.jit.script`` with a message that says what works instead.

    The layers check their arguments and shapes in Python (one-line errors naming the
    shape), which TorchScript cannot compile; every tracing compiler handles them.
    """

    def __prepare_scriptable__(self) -> nn.Module:
        name = type(self).__name__
        raise CheckerscopeError(
            f"torch.jit.script cannot compile {name}: use torch.compile(model), "
            f"torch.export.export(model, (x,)), torch.jit.trace(model, (x,)) or "
            f"torch.onnx.export(model, (x,), dynamo=True), which all support it"
        )


def _channels(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckerscopeError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _compact(values: tuple[Any, ...]) -> Any:
    """One value when every axis agrees (``2`` rather than ``(2, 2)``), else the tuple."""
    return values[0] if len(set(values)) == 1 else values


def _reset_like_torch_conv(weight: Tensor, bias: Tensor | None) -> None:
    """The default initialisation of ``nn.Conv2d`` / ``nn.ConvTranspose2d``."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)


def _adopt_upsample_conv_keys(state_dict: dict[str, Any], prefix: str) -> None:
    """Rename a ``Sequential(Upsample, Conv)`` checkpoint's ``N.weight``/``N.bias`` in place.

    Called by ``load_state_dict`` for a resize-convolution at ``prefix``: when the
    checkpoint has no ``weight`` there but exactly one ``N.weight`` (``N`` the index of the
    convolution in the ``nn.Sequential``), its ``N.weight`` and ``N.bias`` are read as
    ``weight`` and ``bias``. Shapes are then checked by torch as for any checkpoint.
    """
    if prefix + "weight" in state_dict:
        return
    indices = {
        key[len(prefix) : -len(".weight")]
        for key in state_dict
        if key.startswith(prefix) and key.endswith(".weight")
    }
    indices = {index for index in indices if index.isdigit()}
    if len(indices) != 1:
        return
    (index,) = indices
    for name in ("weight", "bias"):
        old = f"{prefix}{index}.{name}"
        if old in state_dict:
            state_dict[prefix + name] = state_dict.pop(old)


class _ResizeConvNd(_NotScriptable):
    _rank: ClassVar[int] = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: CF.IntOrTuple = 3,
        scale_factor: CF.ScaleOrTuple = 2,
        mode: str = "nearest",
        padding_mode: str = "zeros",
        bias: bool = True,
        fused: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        rank = self._rank
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        self.kernel_size = CF._per_axis(kernel_size, rank, "kernel_size")
        scales = CF._scales(scale_factor, rank)
        integer = CF._integer_scales(scales)
        self.scale_factor: tuple[float, ...] | tuple[int, ...] = integer or scales
        self.mode = CF._resize_mode(mode, rank)
        self.padding_mode = CF._check_padding_mode(padding_mode)
        if fused not in (None, True, False):
            raise CheckerscopeError(f"fused must be None, True or False, got {fused!r}")
        if fused and not CF.resize_conv_is_fusable(self.mode, scales, rank):
            raise CheckerscopeError(
                f"{type(self).__name__}: fused=True needs mode 'nearest' and integer scale "
                f"factors, got mode={mode!r}, scale_factor={scale_factor!r}"
            )
        self.fused = fused
        factory = _factory(device, dtype)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, *self.kernel_size, **factory)
        )
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as ``nn.Conv{1,2,3}d`` does."""
        _reset_like_torch_conv(self.weight, self.bias)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        _adopt_upsample_conv_keys(state_dict, prefix)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    @property
    def is_fused(self) -> bool:
        """Whether ``forward`` runs the fused (one transposed convolution) path."""
        return self.fused is not False and CF.resize_conv_is_fusable(
            self.mode, self.scale_factor, self._rank
        )

    def forward(self, x: Tensor) -> Tensor:
        return CF._resize_conv(
            x,
            self.weight,
            self.bias,
            self.scale_factor,
            self.mode,
            self.padding_mode,
            self.fused,
            rank=self._rank,
        )

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[Resize(s, mode), Conv(k, padding=(k - 1) // 2)]`` for ``checkerscope.theory``."""
        if CF._integer_scales(tuple(map(float, self.scale_factor))) is None:
            raise CheckerscopeError(
                f"{type(self).__name__}: overlap specs need integer scale factors, "
                f"got {self.scale_factor}"
            )
        resize_mode = "nearest" if self.mode in ("nearest", "nearest-exact") else "bilinear"
        scale = _compact(tuple(int(s) for s in self.scale_factor))
        padding = _compact(tuple(left for left, _ in CF._same_padding(self.kernel_size)))
        return [
            theory.Resize(scale, mode=resize_mode),
            theory.Conv(_compact(self.kernel_size), padding=padding),
        ]

    @classmethod
    def from_modules(cls, upsample: nn.Upsample, conv: nn.Module) -> _ResizeConvNd:
        """The layer equal to ``conv(upsample(x))``, sharing nothing with them (weights copied).

        ``conv`` must be a stride-1, undilated, ungrouped convolution of the same rank with
        "same" padding (``padding="same"`` or ``(k - 1) // 2`` for odd ``k``).

        Examples:
            >>> import torch
            >>> up, conv = torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(3, 5, 3, padding=1)
            >>> layer = ResizeConv2d.from_modules(up, conv)
            >>> x = torch.randn(1, 3, 6, 6)
            >>> bool(torch.allclose(layer(x), conv(up(x)), atol=1e-5))
            True
        """
        name = cls.__name__
        torch_conv = _TORCH_CONV[cls._rank]
        if not isinstance(upsample, nn.Upsample) or not isinstance(conv, torch_conv):
            raise CheckerscopeError(
                f"{name}.from_modules: expected (nn.Upsample, nn.{torch_conv.__name__}), got "
                f"({type(upsample).__name__}, {type(conv).__name__})"
            )
        if upsample.scale_factor is None or upsample.align_corners:
            raise CheckerscopeError(
                f"{name}.from_modules: the upsample needs a scale_factor and "
                f"align_corners=False, got size={upsample.size}, "
                f"align_corners={upsample.align_corners}"
            )
        odd_same = all(k % 2 for k in conv.kernel_size) and tuple(conv.padding) == tuple(
            (k - 1) // 2 for k in conv.kernel_size
        )
        plain = set(conv.stride) == {1} and set(conv.dilation) == {1} and conv.groups == 1
        if not plain or not (conv.padding == "same" or odd_same):
            raise CheckerscopeError(
                f"{name}.from_modules: conv needs stride 1, dilation 1, groups 1 and 'same' "
                f"padding, got stride={conv.stride}, dilation={conv.dilation}, "
                f"groups={conv.groups}, padding={conv.padding}"
            )
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            kernel_size=tuple(conv.kernel_size),
            scale_factor=upsample.scale_factor,
            mode=upsample.mode,
            padding_mode=conv.padding_mode,
            bias=conv.bias is not None,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        layer.load_state_dict(conv.state_dict())
        return layer

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={_compact(self.kernel_size)}, "
            f"scale_factor={_compact(self.scale_factor)}, mode={self.mode!r}, "
            f"padding_mode={self.padding_mode!r}"
        )
        if self.bias is None:
            text += ", bias=False"
        return text + f", fused={self.fused}"


class ResizeConv1d(_ResizeConvNd):
    """Nearest/linear upsampling then a "same" convolution of signals (Odena et al. 2016).

    See :class:`ResizeConv2d`; input ``(N, C_in, L)``, weight ``(C_out, C_in, k)``.

    Examples:
        >>> import torch
        >>> ResizeConv1d(4, 2, kernel_size=5, scale_factor=4)(torch.randn(3, 4, 10)).shape
        torch.Size([3, 2, 40])
    """

    _rank = 1


class ResizeConv2d(_ResizeConvNd):
    """Upsampling then a "same" convolution: the article's remedy (Odena et al. 2016).

    ``forward`` computes :func:`checkerscope.nn.functional.resize_conv2d`: for nearest modes
    with integer factors, one folded transposed convolution as fast as ``ConvTranspose2d``
    and exactly equal to ``Upsample`` + ``Conv2d``; otherwise those two steps.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: convolution kernel size (odd sizes pad evenly; even sizes put the extra
            padding sample on the far side, as torch's ``padding="same"``).
        scale_factor: upsampling factor, one number or one per axis; output = floor(s * input).
        mode: ``"nearest"``, ``"nearest-exact"`` or ``"bilinear"``.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        bias: whether to learn an additive bias.
        fused: ``None`` (fused whenever possible), ``True`` (required: an error for linear
            modes or fractional factors) or ``False`` (always interpolate + conv).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Attributes:
        weight: ``(out_channels, in_channels, k, k)``, the layout of ``nn.Conv2d``.
        bias: ``(out_channels,)`` or ``None``.

    Checkpoints: ``weight`` and ``bias`` are those of the ``nn.Conv2d`` in
    ``nn.Sequential(nn.Upsample(...), nn.Conv2d(...))``, and ``load_state_dict`` reads such a
    pair's checkpoint as it is: where a model had the pair, its keys ``<name>.1.weight`` and
    ``<name>.1.bias`` load into the ``ResizeConv2d`` at ``<name>`` (any one index, not only
    ``1``). :meth:`from_modules` converts the modules themselves.

    Examples:
        >>> import torch
        >>> layer = ResizeConv2d(16, 8, padding_mode="reflect")
        >>> layer(torch.randn(1, 16, 5, 7)).shape
        torch.Size([1, 8, 10, 14])
        >>> sorted(layer.state_dict())
        ['bias', 'weight']
        >>> pair = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2),
        ...                            torch.nn.Conv2d(16, 8, 3, padding=1))
        >>> layer.load_state_dict(pair.state_dict())
        <All keys matched successfully>
    """

    _rank = 2


class ResizeConv3d(_ResizeConvNd):
    """Nearest/trilinear upsampling then a "same" convolution of volumes (Odena et al. 2016).

    See :class:`ResizeConv2d`; input ``(N, C_in, D, H, W)``.

    Examples:
        >>> import torch
        >>> ResizeConv3d(2, 3)(torch.randn(1, 2, 2, 3, 4)).shape
        torch.Size([1, 3, 4, 6, 8])
    """

    _rank = 3


class _SubPixelConvNd(_NotScriptable):
    _rank: ClassVar[int] = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: CF.IntOrTuple = 3,
        scale_factor: CF.IntOrTuple = 2,
        padding_mode: str = "zeros",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        init: Callable[[Tensor], object] = nn.init.kaiming_normal_,
        blur: bool = False,
    ) -> None:
        super().__init__()
        rank = self._rank
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        self.kernel_size = CF._per_axis(kernel_size, rank, "kernel_size")
        self.scale_factor = CF._per_axis(scale_factor, rank, "scale_factor")
        self.padding_mode = CF._check_padding_mode(padding_mode)
        if not isinstance(blur, bool):
            raise CheckerscopeError(f"blur must be True or False, got {blur!r}")
        self.blur = blur
        self.init = init
        phases = math.prod(self.scale_factor)
        factory = _factory(device, dtype)
        self.weight = nn.Parameter(
            torch.empty(out_channels * phases, in_channels, *self.kernel_size, **factory)
        )
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(
                torch.empty(out_channels * phases, **factory)
            )
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ICNR: every phase of an output channel gets the same kernel and bias."""
        CF.icnr_(self.weight, self.scale_factor, init=self.init)
        if self.bias is not None:
            fan_in = self.in_channels * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in)
            base = torch.empty(self.out_channels, dtype=self.bias.dtype, device=self.bias.device)
            nn.init.uniform_(base, -bound, bound)
            with torch.no_grad():
                self.bias.copy_(base.repeat_interleave(math.prod(self.scale_factor)))

    def forward(self, x: Tensor) -> Tensor:
        return CF._sub_pixel_conv(
            x,
            self.weight,
            self.bias,
            self.scale_factor,
            self.padding_mode,
            rank=self._rank,
            blur=self.blur,
        )

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[Conv(k, padding=(k - 1) // 2), PixelShuffle(s)]``, then ``Conv(s)`` with ``blur``.

        The blur's one-sided padding is not modelled: ``full()`` is ``s - 1`` samples short
        per axis; the steady-state pattern does not depend on it.
        """
        padding = _compact(tuple(left for left, _ in CF._same_padding(self.kernel_size)))
        specs: list[theory.LayerSpec] = [
            theory.Conv(_compact(self.kernel_size), padding=padding),
            theory.PixelShuffle(_compact(self.scale_factor)),
        ]
        if self.blur:
            specs.append(theory.Conv(_compact(self.scale_factor)))
        return specs

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={_compact(self.kernel_size)}, "
            f"scale_factor={_compact(self.scale_factor)}, padding_mode={self.padding_mode!r}"
        )
        text += ", bias=False" if self.bias is None else ""
        return text + (", blur=True" if self.blur else "")


class SubPixelConv1d(_SubPixelConvNd):
    """1-D sub-pixel convolution, ICNR-initialised (Shi et al. 2016; Aitken et al. 2017).

    Examples:
        >>> import torch
        >>> SubPixelConv1d(3, 2, scale_factor=3)(torch.randn(1, 3, 8)).shape
        torch.Size([1, 2, 24])
    """

    _rank = 1


class SubPixelConv2d(_SubPixelConvNd):
    """Sub-pixel convolution, ICNR-initialised (Shi et al. 2016; Aitken et al. 2017).

    ``init`` (default ``nn.init.kaiming_normal_``) draws the base kernel of :func:`icnr_`.
    At initialisation all ``s**2`` phases of each output channel share one kernel and bias,
    so the output is exactly ``nearest_upsample(conv(x, base_kernel))``: constant on every
    ``s x s`` block, free of checkerboard. ``weight`` (``(C_out*s*s, C_in, k, k)``) and ``bias``
    have the layout of the ``nn.Conv2d`` in ``nn.Sequential(nn.Conv2d, nn.PixelShuffle)``.

    ICNR only starts even: training moves the phases apart again (the reproduction measures
    +5.1 dB of learned grid, claim C6). ``blur=True`` adds fastai's remedy
    (``PixelShuffle_ICNR(blur=True)``): each output is averaged with its ``s - 1``
    predecessors on both axes (replication padding, then an ``s x s`` box at stride 1; for
    ``s = 2`` exactly fastai's ``ReplicationPad2d((1, 0, 1, 0))`` + ``AvgPool2d(2, stride=1)``).
    The box zeroes every period-``s`` frequency, so no weights can paint that grid; at
    initialisation the layer is then a nearest resize-convolution (kernel ``s * (k + 1) - 1``)
    away from its first ``s - 1`` rows and columns. It costs one average pooling of the
    output. (fastai keeps the 2 x 2 box for every scale; here the box is ``s`` wide.)

    Examples:
        >>> import torch
        >>> layer = SubPixelConv2d(4, 2, kernel_size=3, scale_factor=2)
        >>> y = layer(torch.randn(1, 4, 5, 5))
        >>> y.shape, bool(torch.equal(y[..., 0::2, 0::2], y[..., 1::2, 1::2]))
        (torch.Size([1, 2, 10, 10]), True)
    """

    _rank = 2


class _FilteredDeconvNd(_NotScriptable):
    _rank: ClassVar[int] = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: CF.IntOrTuple = 4,
        stride: CF.IntOrTuple = 2,
        padding: CF.IntOrTuple = 0,
        output_padding: CF.IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: CF.IntOrTuple = 1,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        smoothing: str | None = None,
        **deprecated: Any,
    ) -> None:
        super().__init__()
        rank, name = self._rank, type(self).__name__
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        self.kernel_size = CF._per_axis(kernel_size, rank, "kernel_size")
        self.stride = CF._per_axis(stride, rank, "stride")
        self.padding = CF._per_axis(padding, rank, "padding", minimum=0)
        self.output_padding = CF._per_axis(output_padding, rank, "output_padding", minimum=0)
        self.dilation = CF._per_axis(dilation, rank, "dilation")
        self.groups = _channels(groups, "groups")
        if in_channels % groups or out_channels % groups:
            raise CheckerscopeError(
                f"{name}: in_channels {in_channels} and out_channels {out_channels} must be "
                f"divisible by groups {groups}"
            )
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= s and op >= d:
                raise CheckerscopeError(
                    f"{name}: output_padding={output_padding!r} must be smaller than "
                    f"stride={stride!r} or dilation={dilation!r}"
                )
        if padding_mode != "zeros":
            # as nn.ConvTranspose2d: the padding of a transposed convolution is a crop
            raise CheckerscopeError(
                f"{name}: padding_mode must be 'zeros' (padding crops a transposed "
                f"convolution's output), got {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        self.smoothing = CF._smoothing_name(smoothing, deprecated, name)
        kernel = CF.smoothing_kernel(self.smoothing, self.stride, rank, dtype=dtype).to(device)
        self.filter: Tensor
        self.register_buffer("filter", kernel, persistent=False)
        factory = _factory(device, dtype)
        self.weight = nn.Parameter(
            torch.empty(in_channels, out_channels // groups, *self.kernel_size, **factory)
        )
        if bias:
            self.bias: nn.Parameter | None = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as ``nn.ConvTranspose{1,2}d`` does."""
        _reset_like_torch_conv(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return CF._filtered_deconv(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
            self.filter,
            rank=self._rank,
        )

    @classmethod
    def from_module(cls, deconv: nn.Module, smoothing: str = "hold") -> _FilteredDeconvNd:
        """A layer running ``deconv`` (its arguments, a copy of its weights), then the filter.

        The output shape stays that of ``deconv``, so it replaces a pretrained transposed
        convolution in place; only the smoothing is new.

        Examples:
            >>> import torch
            >>> deconv = torch.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
            >>> layer = FilteredDeconv2d.from_module(deconv, smoothing="binomial4")
            >>> layer
            FilteredDeconv2d(8, 4, kernel_size=4, stride=2, padding=1, smoothing='binomial4')
            >>> x = torch.randn(1, 8, 5, 5)
            >>> layer(x).shape == deconv(x).shape, bool(layer.weight.equal(deconv.weight))
            (True, True)
        """
        torch_class = _TORCH_CONV_TRANSPOSE[cls._rank]
        if not isinstance(deconv, torch_class):
            raise CheckerscopeError(
                f"{cls.__name__}.from_module: expected an nn.{torch_class.__name__}, got "
                f"{type(deconv).__name__}"
            )
        padding = deconv.padding
        if isinstance(padding, str):  # not allowed for transposed convolutions by torch
            raise CheckerscopeError(f"{cls.__name__}.from_module: padding={padding!r}")
        layer = cls(
            deconv.in_channels,
            deconv.out_channels,
            kernel_size=tuple(deconv.kernel_size),
            stride=tuple(deconv.stride),
            padding=padding,
            output_padding=tuple(deconv.output_padding),
            groups=deconv.groups,
            bias=deconv.bias is not None,
            dilation=tuple(deconv.dilation),
            device=deconv.weight.device,
            dtype=deconv.weight.dtype,
            smoothing=smoothing,
        )
        layer.load_state_dict(deconv.state_dict())
        return layer

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[Deconv(k, s, p, op, d), Conv(f, padding=(f - 1) // 2)]`` for ``checkerscope.theory``.

        The filter's one-sided reach for even ``f`` is not modelled: ``full()`` is one sample
        short per axis then; the steady-state pattern does not depend on it.
        """
        taps = tuple(self.filter.shape)
        return [
            theory.Deconv(
                _compact(self.kernel_size),
                _compact(self.stride),
                padding=_compact(self.padding),
                output_padding=_compact(self.output_padding),
                dilation=_compact(self.dilation),
            ),
            theory.Conv(_compact(taps), padding=_compact(tuple((f - 1) // 2 for f in taps))),
        ]

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={_compact(self.kernel_size)}, "
            f"stride={_compact(self.stride)}"
        )
        for name, default in (("padding", 0), ("output_padding", 0), ("dilation", 1)):
            value = _compact(getattr(self, name))
            if value != default:
                text += f", {name}={value}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text + f", smoothing={self.smoothing!r}"


class FilteredDeconv1d(_FilteredDeconvNd):
    """Transposed convolution then a fixed smoothing filter, 1-D (Sugawara et al. 2018/19).

    See :class:`FilteredDeconv2d`; the arguments of ``nn.ConvTranspose1d``.

    Examples:
        >>> import torch
        >>> FilteredDeconv1d(2, 3, kernel_size=3, stride=3)(torch.randn(1, 2, 5)).shape
        torch.Size([1, 3, 15])
    """

    _rank = 1


class FilteredDeconv2d(_FilteredDeconvNd):
    """Transposed convolution then a fixed smoothing filter (Sugawara et al. 2018/19; StyleGAN2).

    Takes the arguments of ``nn.ConvTranspose2d`` (same names, order, defaults except
    ``kernel_size=4, stride=2``, and output shape) plus ``smoothing``:
    ``"hold"`` (zero-order hold, a box of ``stride`` taps, any stride) makes the layer a
    nearest upsampling followed by a convolution with the learned kernel, so its overlap is
    even for every kernel size; ``"binomial4"`` is StyleGAN2's ``[1, 3, 3, 1] / 8`` filter
    (stride 2). The output equals ``ConvTranspose2d`` then the filter (see
    :func:`~checkerscope.nn.functional.filtered_deconv2d` for the border samples when
    ``padding > 0``). ``weight`` has the ``(C_in, C_out / groups, k, k)`` layout of
    ``nn.ConvTranspose2d``, so its checkpoints load as they are, and :meth:`from_module`
    takes over a (pretrained) ``nn.ConvTranspose2d``; the filter is a non-persistent buffer.
    ``padding_mode`` accepts ``"zeros"`` only, as torch's. ``filter=`` is the deprecated name
    of ``smoothing=``.

    Examples:
        >>> import torch
        >>> layer = FilteredDeconv2d(8, 4, kernel_size=4, stride=2, padding=1, smoothing="hold")
        >>> layer(torch.randn(2, 8, 6, 6)).shape
        torch.Size([2, 4, 12, 12])
    """

    _rank = 2


class BilinearAdditiveUpsample2d(_NotScriptable):
    """Bilinear upsampling then summing channel groups, optionally a conv (Wojna et al. 2017).

    Args:
        in_channels: input channels, a multiple of ``out_channels``.
        out_channels: output channels; each sums ``in_channels // out_channels`` inputs.
        scale_factor: upsampling factor.
        kernel_size: when given, a learned "same" convolution (``out -> out`` channels)
            follows; ``None`` makes the layer parameter-free, as in the paper.
        padding_mode: padding of that convolution.
        bias: whether that convolution has a bias.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Examples:
        >>> import torch
        >>> BilinearAdditiveUpsample2d(8, 2)(torch.randn(1, 8, 4, 4)).shape
        torch.Size([1, 2, 8, 8])
        >>> BilinearAdditiveUpsample2d(6, 4)
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: BilinearAdditiveUpsample2d: in_channels 6 must ...
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: float = 2,
        kernel_size: int | None = None,
        padding_mode: str = "zeros",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        if in_channels % out_channels:
            raise CheckerscopeError(
                f"BilinearAdditiveUpsample2d: in_channels {in_channels} must be a multiple "
                f"of out_channels {out_channels}"
            )
        scales = CF._scales(scale_factor, 2)
        self.scale_factor = float(scales[0]) if scales[0] == scales[1] else scales
        self.padding_mode = CF._check_padding_mode(padding_mode)
        self.kernel_size = None if kernel_size is None else _channels(kernel_size, "kernel_size")
        factory = _factory(device, dtype)
        if kernel_size is None:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        else:
            shape = (out_channels, out_channels, kernel_size, kernel_size)
            self.weight: nn.Parameter | None = nn.Parameter(torch.empty(shape, **factory))
            self.bias: nn.Parameter | None = (
                nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
            )
            _reset_like_torch_conv(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        CF._check_input(x, 2, self.in_channels, "BilinearAdditiveUpsample2d")
        y = CF.bilinear_additive_upsample(x, self.out_channels, self.scale_factor)
        if self.weight is None:
            return y
        CF._check_padding_fits(
            y.shape[2:],
            CF._same_padding(self.weight.shape[2:]),
            self.padding_mode,
            "BilinearAdditiveUpsample2d",
        )
        return CF._conv_same(y, self.weight, self.bias, self.padding_mode)

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[Resize(s, "bilinear")]``, then ``Conv(k, padding=(k - 1) // 2)`` if it has one."""
        scales = (
            (self.scale_factor,) * 2 if isinstance(self.scale_factor, float) else self.scale_factor
        )
        integer = CF._integer_scales(scales)
        if integer is None:
            raise CheckerscopeError(
                f"BilinearAdditiveUpsample2d: overlap specs need integer scale factors, "
                f"got {self.scale_factor}"
            )
        specs: list[theory.LayerSpec] = [theory.Resize(_compact(integer), mode="bilinear")]
        if self.kernel_size is not None:
            specs.append(theory.Conv(self.kernel_size, padding=(self.kernel_size - 1) // 2))
        return specs

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, scale_factor={self.scale_factor}"
        if self.kernel_size is not None:
            text += f", kernel_size={self.kernel_size}, padding_mode={self.padding_mode!r}"
        return text


class _BlurPoolNd(_NotScriptable):
    _rank: ClassVar[int] = 2

    def __init__(
        self,
        channels: int | None = None,
        stride: int = 2,
        filter_size: int = 4,
        padding_mode: str = "reflect",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.channels = None if channels is None else _channels(channels, "channels")
        self.stride = _channels(stride, "stride")
        self.filter_size = _channels(filter_size, "filter_size")
        self.padding_mode = CF._check_padding_mode(padding_mode)
        taps = CF.binomial_filter(filter_size, dtype=dtype).to(device)
        self.filter: Tensor
        self.register_buffer("filter", taps, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        CF._check_input(x, self._rank, self.channels, type(self).__name__)
        return CF._blur_pool(
            x,
            self.stride,
            self.filter_size,
            self.padding_mode,
            rank=self._rank,
            taps=self.filter,
            channels=self.channels,
        )

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[Conv(f, stride=s, padding=(f - 1) // 2)]``: the filter window, strided."""
        padding = (self.filter_size - 1) // 2
        return [theory.Conv(self.filter_size, stride=self.stride, padding=padding)]

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, stride={self.stride}, filter_size={self.filter_size}, "
            f"padding_mode={self.padding_mode!r}"
        )


class BlurPool1d(_BlurPoolNd):
    """Binomial low-pass then subsampling of signals, anti-aliased downsampling (Zhang 2019).

    See :class:`BlurPool2d`.

    Examples:
        >>> import torch
        >>> BlurPool1d(3, stride=2, filter_size=3)(torch.randn(1, 3, 10)).shape
        torch.Size([1, 3, 5])
    """

    _rank = 1


class BlurPool2d(_BlurPoolNd):
    """Binomial low-pass then subsampling, for discriminators and encoders (Zhang 2019).

    Use it after a stride-1 convolution in place of a strided convolution or pooling: the
    binomial filter (``filter_size`` taps, computed from binomial coefficients, a
    non-persistent buffer) removes what the subsampling would alias, and its gradient has no
    stride-2 grid for ``filter_size >= 2``.

    ``channels`` is optional (as in timm; kornia has none): the one filter is applied to
    every channel (a depthwise view expanded to the input's channels at each call, no
    copy), so ``BlurPool2d()`` serves any width. Given, it checks the input, and graphs
    traced for torch's TorchScript-based ONNX exporter hold it as a constant (that exporter
    loses the channel count after any padding upstream; ``dynamo=True`` does not). The
    ``state_dict`` is empty either way, so checkpoints load across both forms and whether
    or not the layer has run. Output ``ceil(H / stride) x ceil(W / stride)``; the padding is
    ``((f - 1) // 2, f // 2)`` per axis in ``padding_mode``, as antialiased-cnns pads.

    Examples:
        >>> import torch
        >>> layer = BlurPool2d(16, stride=2, filter_size=4)
        >>> layer(torch.randn(2, 16, 9, 9)).shape, list(layer.state_dict())
        (torch.Size([2, 16, 5, 5]), [])
        >>> BlurPool2d()(torch.randn(1, 5, 8, 8)).shape
        torch.Size([1, 5, 4, 4])
    """

    _rank = 2


class _MaxBlurPoolNd(_BlurPoolNd):
    def __init__(
        self,
        channels: int | None = None,
        stride: int = 2,
        filter_size: int = 4,
        max_pool_size: int = 2,
        padding_mode: str = "reflect",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(channels, stride, filter_size, padding_mode, device, dtype)
        self.max_pool_size = _channels(max_pool_size, "max_pool_size")

    def forward(self, x: Tensor) -> Tensor:
        CF._check_input(x, self._rank, self.channels, type(self).__name__)
        return CF._max_blur_pool(
            x,
            self.stride,
            self.filter_size,
            self.max_pool_size,
            self.padding_mode,
            rank=self._rank,
            taps=self.filter,
            channels=self.channels,
        )

    def overlap_specs(self) -> list[theory.LayerSpec]:
        """``[MaxPool(m, stride=1), Conv(f, stride=s, padding=(f - 1) // 2)]``."""
        return [theory.MaxPool(self.max_pool_size, stride=1), *super().overlap_specs()]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", max_pool_size={self.max_pool_size}"


class MaxBlurPool1d(_MaxBlurPoolNd):
    """Max pooling at stride 1, then a :class:`BlurPool1d` (Zhang 2019's MaxBlurPool).

    Examples:
        >>> import torch
        >>> MaxBlurPool1d()(torch.randn(1, 3, 10)).shape
        torch.Size([1, 3, 5])
    """

    _rank = 1


class MaxBlurPool2d(_MaxBlurPoolNd):
    """Max pooling at stride 1, then a :class:`BlurPool2d`: anti-aliased max pooling (Zhang 2019).

    The drop-in for ``nn.MaxPool2d(2)`` in encoders and discriminators: the maximum is taken
    densely (``max_pool_size`` window, stride 1, no padding) and the binomial blur does the
    subsampling, so shifting the input by one pixel shifts the output by half a pixel
    instead of changing it. Same output size as ``nn.MaxPool2d(2)`` for the defaults
    (``ceil((H - m + 1) / stride)``), same argument names as :class:`BlurPool2d`, and
    ``channels`` is optional. The layout of antialiased-cnns and of kornia's
    ``MaxBlurPool2D`` (``MaxPool2d(kernel_size=2, stride=1)`` then the blur; kornia pads the
    blur with zeros: ``padding_mode="zeros"`` gives its values).

    Examples:
        >>> import torch
        >>> x = torch.randn(2, 4, 16, 15)
        >>> MaxBlurPool2d()(x).shape == torch.nn.MaxPool2d(2)(x).shape
        True
    """

    _rank = 2
