"""Replace the artifact-prone layers of a model with ``checkerscope.nn`` layers, same shapes.

A transposed convolution ``ConvTranspose(k, s, p, output_padding=op, dilation=d)`` maps a
length ``L`` to ``(L - 1) s - 2p + d (k - 1) + op + 1``. Its replacement (nearest resize
by ``s`` then a "same" conv, or a sub-pixel conv) maps ``L`` to ``s L``. The difference
``delta = d (k - 1) + op + 1 - s - 2p`` does not depend on ``L``, so one fixed crop (or
edge padding) per axis makes every output shape identical. Where the crop goes follows
from where each layer puts an input pixel's footprint: the deconvolution centres input
``i`` at ``s i - p + d (k - 1) / 2``, the resize-conv at ``s i + (s - 1) / 2``; the crop
on the near side is their difference, rounded.

The replacement conv's kernel covers what the deconvolution's did, in input pixels:
``ceil(d (k - 1) / s) + 1``, made odd so "same" padding is symmetric (3 for the usual
``k4 s2`` and ``k3 s2``). Its weights are freshly initialised: the fixed model needs
training (the two layers are not the same function).

With an example input, the model is traced (:mod:`checkerscope.auditing.tracing`) and
rewritten by data flow: a ``Conv2d`` whose output goes, unchanged and nowhere else, into a
pixel shuffle becomes one resize-conv (or ICNR sub-pixel conv) wherever the two live,
also when the shuffle is a functional ``F.pixel_shuffle`` call (the replacement then ends
in a pixel *un*shuffle, which the call undoes). A replaced layer wrapped in weight norm
or spectral norm (legacy hooks or parametrizations) gets the same wrapper. What cannot be
rewritten faithfully (a functional transposed convolution, a grouped one, ...) is listed
with the reason in ``fixed.checkerscope_fix_notes``.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2))  # 2L + 1
    >>> fixed = fix(model, example_input=torch.zeros(1, 4, 5, 5))
    >>> type(fixed[0][0]).__name__, tuple(fixed(torch.zeros(1, 4, 5, 5)).shape)
    ('ResizeConv2d', (1, 3, 11, 11))
    >>> print(fixed.checkerscope_fix_notes[0])
    0: ConvTranspose2d(k3 s2) -> ResizeConv2d(k3 x2) + crop/pad [(1, 0), (1, 0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.auditing.tracing import TracedGraph, first_tensor, run_model
from checkerscope.errors import CheckerscopeError

__all__ = ["PadCrop", "fix", "replacement_geometry"]

_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_STRIDED = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


class PadCrop(nn.Module):
    """Per-axis edge padding (positive) or cropping (negative) of the last spatial axes.

    Args:
        amounts: one ``(near, far)`` pair per spatial axis, first axis first.

    Examples:
        >>> PadCrop([(1, -1)])(torch.arange(4.0)[None, None]).tolist()
        [[[0.0, 0.0, 1.0, 2.0]]]
    """

    def __init__(self, amounts: list[tuple[int, int]]) -> None:
        super().__init__()
        self.amounts = [(int(a), int(b)) for a, b in amounts]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = len(self.amounts)
        pads: list[int] = []
        for near, far in reversed(self.amounts):  # F.pad lists the last axis first
            pads += [max(near, 0), max(far, 0)]
        if any(pads):
            x = F.pad(x, pads, mode="replicate")
        index: list[slice] = [slice(None)] * (x.dim() - dims)
        for near, far in self.amounts:
            start = -near if near < 0 else 0
            stop = far if far < 0 else None
            index.append(slice(start, stop))
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"amounts={self.amounts}"


def replacement_geometry(
    kernel: int, stride: int, padding: int, output_padding: int = 0, dilation: int = 1
) -> tuple[int, int, int]:
    """``(kernel, near, far)`` of the resize-conv replacing one axis of a deconvolution.

    ``near``/``far`` are the pad (positive) or crop (negative) after the ``stride``-times
    upsampled "same" conv output.

    Examples:
        >>> replacement_geometry(4, 2, 1)  # DCGAN: nothing to adjust
        (3, 0, 0)
        >>> replacement_geometry(3, 2, 1, output_padding=1)
        (3, 0, 0)
        >>> replacement_geometry(16, 8, 4)  # MelGAN
        (3, 0, 0)
        >>> replacement_geometry(4, 2, 0)  # 2L + 2: one extra sample on each side
        (3, 1, 1)
    """
    span = dilation * (kernel - 1)
    new_kernel = math.ceil(span / stride) + 1
    new_kernel += 1 - new_kernel % 2
    delta = span + output_padding + 1 - stride - 2 * padding
    offset = -padding + span / 2 - (stride - 1) / 2
    near = math.floor(offset + 0.5)
    return new_kernel, near, delta - near


def _describe_deconv(m: Any) -> str:
    parts = [f"k{_short(m.kernel_size)}", f"s{_short(m.stride)}"]
    if any(m.padding):
        parts.append(f"p{_short(m.padding)}")
    if any(m.output_padding):
        parts.append(f"op{_short(m.output_padding)}")
    if any(d != 1 for d in m.dilation):
        parts.append(f"d{_short(m.dilation)}")
    return f"{type(m).__name__}({' '.join(parts)})"


def _short(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _device_and_dtype(module: nn.Module) -> dict[str, Any]:
    reference = next(iter(module.parameters()), None)
    if reference is None:
        return {"device": None, "dtype": None}
    return {"device": reference.device, "dtype": reference.dtype}


def _replace_deconv(m: Any, method: str) -> tuple[nn.Module | None, str]:
    from checkerscope import nn as csnn

    dims = len(m.kernel_size)
    if m.groups != 1:
        return None, f"groups={m.groups}: checkerscope.nn has no grouped resize-conv"
    geometry = [
        replacement_geometry(k, s, p, op, d)
        for k, s, p, op, d in zip(
            m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation, strict=True
        )
    ]
    kernel = tuple(g[0] for g in geometry)
    stride = tuple(m.stride)
    amounts = [(g[1], g[2]) for g in geometry]
    factory = _device_and_dtype(m)
    bias = m.bias is not None
    layer: nn.Module
    if method == "resize":
        cls: Any = (csnn.ResizeConv1d, csnn.ResizeConv2d, csnn.ResizeConv3d)[dims - 1]
        layer = cls(
            m.in_channels,
            m.out_channels,
            kernel_size=_compact(kernel),
            scale_factor=_compact(stride),
            mode="nearest",
            bias=bias,
            **factory,
        )
    else:
        if dims == 3:
            return None, "no 3-D sub-pixel convolution in checkerscope.nn; use method='resize'"
        cls = (csnn.SubPixelConv1d, csnn.SubPixelConv2d)[dims - 1]
        layer = cls(
            m.in_channels,
            m.out_channels,
            kernel_size=_compact(kernel),
            scale_factor=_compact(stride),
            bias=bias,
            **factory,
        )
    label = f"{type(layer).__name__}(k{_short(kernel)} x{_short(stride)})"
    layer, wrapped = _same_wrapper(m, layer)
    label += wrapped
    if any(a for pair in amounts for a in pair):
        return nn.Sequential(layer, PadCrop(amounts)), f"{label} + crop/pad {amounts}"
    return layer, label


# --------------------------------------------------------------------------- wrappers


def _same_wrapper(original: nn.Module, replacement: nn.Module) -> tuple[nn.Module, str]:
    """Give ``replacement`` the weight or spectral norm ``original`` has, of the same API
    (legacy hook or parametrization); returns it and a label such as ``" + weight_norm"``."""
    from torch.nn.utils import parametrizations, parametrize

    from checkerscope.auditing.wrappers import legacy_norm_hooks

    labels = []
    for hook in legacy_norm_hooks(original):
        if type(hook).__name__ == "WeightNorm":
            torch.nn.utils.weight_norm(replacement, name="weight", dim=0)
            labels.append("weight_norm")
        else:
            torch.nn.utils.spectral_norm(replacement, name="weight")
            labels.append("spectral_norm")
    if parametrize.is_parametrized(original, "weight"):
        for parametrization in original.parametrizations.weight:  # type: ignore[union-attr]
            kind = type(parametrization).__name__
            if kind == "_WeightNorm":
                parametrizations.weight_norm(replacement, name="weight", dim=0)
                labels.append("parametrizations.weight_norm")
            elif kind == "_SpectralNorm":
                parametrizations.spectral_norm(replacement, name="weight")
                labels.append("parametrizations.spectral_norm")
            else:
                labels.append(f"({kind} not carried over)")
    return replacement, "".join(f" + {label}" for label in labels)


# --------------------------------------------------------------------------- downsampling


def _replace_strided(m: Any, blur_first: bool) -> tuple[nn.Module | None, str]:
    from checkerscope import nn as csnn

    dims = len(m.kernel_size)
    if dims == 3:
        return None, "no 3-D BlurPool in checkerscope.nn"
    if len(set(m.stride)) != 1:
        return None, f"per-axis stride {m.stride}: BlurPool takes one stride"
    if isinstance(m.padding, str):
        return None, f"padding={m.padding!r}: left as is"
    blur_cls: Any = (csnn.BlurPool1d, csnn.BlurPool2d)[dims - 1]
    factory = _device_and_dtype(m)
    if blur_first:
        blur = blur_cls(m.in_channels, stride=1).to(factory["device"])
        label = f"{type(blur).__name__}(s1) + {type(m).__name__}(s{m.stride[0]})"
        return nn.Sequential(blur, _copy_module(m)), label
    conv: Any = _copy_module(m)
    conv.stride = (1,) * dims
    blur = blur_cls(m.out_channels, stride=m.stride[0]).to(factory["device"])
    return nn.Sequential(conv, blur), f"Conv{dims}d(s1) + {type(blur).__name__}(s{m.stride[0]})"


def _copy_module(module: nn.Module) -> nn.Module:
    from checkerscope.auditing.wrappers import copy_model

    return copy_model(module)


_MAXPOOLS = (nn.MaxPool1d, nn.MaxPool2d)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


def _strides(module: nn.Module) -> tuple[int, ...]:
    stride = getattr(module, "stride", 1)
    if stride is None:  # pooling: the stride defaults to the kernel
        stride = getattr(module, "kernel_size", 1)
    return _ints(stride) if isinstance(stride, (int, tuple, list)) else (1,)


def _replace_maxpool(m: nn.Module, seen: list[tuple[Any, Any]]) -> tuple[nn.Module | None, str]:
    """Max pooling at stride 1, then ``BlurPool`` at the stride (Zhang 2019's MaxBlurPool)."""
    from checkerscope import nn as csnn

    dims = 1 if isinstance(m, nn.MaxPool1d) else 2
    strides = _strides(m)
    if len(set(strides)) != 1:
        return None, f"per-axis stride {strides}: BlurPool takes one stride"
    if m.return_indices or m.ceil_mode:
        return None, "return_indices / ceil_mode: left as is"
    if not seen:
        return None, "the channel count is needed: pass example_input"
    channels = seen[0][0][1]
    pool = type(m)(m.kernel_size, stride=1, padding=m.padding, dilation=m.dilation)
    blur_cls: Any = (csnn.BlurPool1d, csnn.BlurPool2d)[dims - 1]
    blur = blur_cls(channels, stride=strides[0])
    return nn.Sequential(
        pool, blur
    ), f"{type(m).__name__}(s1) + {type(blur).__name__}(s{strides[0]})"


def _is_conv(module: nn.Module) -> bool:
    return isinstance(module, _STRIDED) and not isinstance(module, _DECONVS)


def _compact(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 else values


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _record_shapes(
    model: nn.Module, names: set[str], example: Any
) -> dict[str, list[tuple[Any, Any]]]:
    shapes: dict[str, list[tuple[Any, Any]]] = {n: [] for n in names}
    handles = []
    for name, module in model.named_modules():
        if name in names:

            def hook(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
                x, y = first_tensor(inputs), first_tensor(output)
                if x is not None and y is not None:
                    shapes[name].append((tuple(x.shape), tuple(y.shape)))

            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run_model(model, example)
    except Exception as exc:
        raise CheckerscopeError(
            f"the model failed on the example input: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    return shapes


# --------------------------------------------------------------------------- sub-pixel pairs


@dataclass(frozen=True)
class _ShufflePair:
    """A convolution whose output goes, unchanged and only, into a pixel shuffle."""

    conv_name: str
    conv: nn.Module
    scale: int
    shuffle_name: str | None  # the nn.PixelShuffle module to drop, or None (functional)


def _is_same_plain_conv2d(conv: nn.Module, scale: int) -> bool:
    if type(conv) is not nn.Conv2d:
        return False
    pads = _pad(conv)
    same = len(pads) == 2 and all(
        p == (k - 1) // 2 and k % 2 for k, p in zip(conv.kernel_size, pads, strict=True)
    )
    plain = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
    return same and plain and conv.out_channels % (scale * scale) == 0


def _pairs_by_data_flow(
    root: nn.Module, graph: TracedGraph, notes: list[str]
) -> list[_ShufflePair]:
    names = {id(m): n for n, m in root.named_modules()}
    calls: dict[int, int] = {}
    for layer in graph.layers:
        if layer.module is not None:
            calls[id(layer.module)] = calls.get(id(layer.module), 0) + 1
    by_index = {layer.index: layer for layer in graph.layers}
    pairs = []
    for shuffle in graph.layers:
        if shuffle.family != "pixelshuffle" or shuffle.direct_input is None:
            continue
        producer = by_index.get(shuffle.direct_input)
        scale = int(shuffle.params.get("scale", 1))
        if producer is None or producer.family != "conv":
            continue
        conv = producer.module
        where = names.get(id(conv), producer.name)
        if not isinstance(conv, nn.Conv2d):
            notes.append(
                f"{producer.name}: {producer.type} + pixel shuffle left: a functional "
                "convolution cannot be rewritten (call checkerscope.nn.functional."
                "resize_conv2d there instead)"
            )
            continue
        if not _is_same_plain_conv2d(conv, scale):
            continue
        if graph.uses.get(producer.index, 0) != 1 or calls.get(id(conv), 0) != 1:
            notes.append(
                f"{where}: Conv2d + PixelShuffle({scale}) left: the convolution's output "
                "is used elsewhere too, or the convolution runs more than once"
            )
            continue
        module = shuffle.module
        drop = isinstance(module, nn.PixelShuffle) and calls.get(id(module), 0) == 1
        pairs.append(_ShufflePair(where, conv, scale, names.get(id(module)) if drop else None))
    return pairs


def _pairs_in_sequentials(root: nn.Module) -> list[_ShufflePair]:
    """Without an example input: a ``Conv2d`` directly followed by a ``PixelShuffle`` in an
    ``nn.Sequential``."""
    names = {id(m): n for n, m in root.named_modules()}
    pairs = []
    for module in root.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (_, conv), (_, shuffle) in zip(children, children[1:], strict=False):
            if not (isinstance(conv, nn.Conv2d) and isinstance(shuffle, nn.PixelShuffle)):
                continue
            scale = shuffle.upscale_factor
            if _is_same_plain_conv2d(conv, scale):
                pairs.append(_ShufflePair(names[id(conv)], conv, scale, names[id(shuffle)]))
    return pairs


def _pad(conv: Any) -> tuple[int, ...]:
    if isinstance(conv.padding, str):
        same = conv.padding == "same"
        return tuple((k - 1) // 2 if same else 0 for k in conv.kernel_size)
    return tuple(conv.padding)


def _replace_pair(
    root: nn.Module, pair: _ShufflePair, method: str, teacher: nn.Module, created: list[Any]
) -> str:
    from checkerscope import nn as csnn
    from checkerscope.auditing.projection import ReplacementPair

    conv: Any = pair.conv
    r = pair.scale
    cls: Any = csnn.ResizeConv2d if method == "resize" else csnn.SubPixelConv2d
    layer = cls(
        conv.in_channels,
        conv.out_channels // (r * r),
        kernel_size=_compact(tuple(conv.kernel_size)),
        scale_factor=r,
        bias=conv.bias is not None,
        **_device_and_dtype(conv),
    )
    layer, wrapped = _same_wrapper(conv, layer)
    layer.train(conv.training)
    label = f"{cls.__name__}(k{_short(conv.kernel_size)} x{r}){wrapped}"
    if pair.shuffle_name is not None:
        _set_submodule(root, pair.conv_name, layer)
        _set_submodule(root, pair.shuffle_name, nn.Identity())
        original = nn.Sequential(conv, nn.PixelShuffle(r))
        output = teacher.get_submodule(pair.shuffle_name)
        created.append(ReplacementPair(pair.conv_name, layer, output, original))
        kernel = _short(conv.kernel_size)
        return f"{pair.conv_name}: Conv2d(k{kernel}) + PixelShuffle({r}) -> {label}"
    replacement = nn.Sequential(layer, nn.PixelUnshuffle(r))
    _set_submodule(root, pair.conv_name, replacement)
    output = teacher.get_submodule(pair.conv_name)
    created.append(ReplacementPair(pair.conv_name, replacement, output, conv))
    return (
        f"{pair.conv_name}: Conv2d(k{_short(conv.kernel_size)}) + F.pixel_shuffle({r}) -> "
        f"{label} + PixelUnshuffle({r}) (the functional shuffle restores the layout)"
    )


# --------------------------------------------------------------------------- fix


def _functional_notes(graph: TracedGraph) -> list[str]:
    notes = []
    for layer in graph.layers:
        strided = any(s > 1 for s in layer.params.get("stride", (1,)))
        if layer.family == "deconv" and strided and layer.type.startswith("F."):
            notes.append(
                f"{layer.name}: {layer.type} (a functional call in its forward) left: it "
                f"cannot be rewritten; call checkerscope.nn.functional.resize_conv{layer.dims}d "
                "there instead"
            )
    return notes


def fix(
    model: nn.Module,
    method: str = "resize",
    example_input: Any = None,
    downsample: bool = False,
    *,
    blur_first: bool = False,
    skip_first: bool = False,
    min_channels: int = 0,
    weights: str = "fresh",
    calibration: Any = None,
) -> nn.Module:
    """A copy of ``model`` without artifact-prone transposed convolutions.

    Every ``ConvTranspose{1,2,3}d`` with a stride above 1 becomes a ``checkerscope.nn``
    layer (``method="resize"``: ``ResizeConv{1,2,3}d`` nearest + conv; ``"subpixel"``:
    ICNR-initialised ``SubPixelConv{1,2}d``) with a crop or pad where needed so that its
    output shape equals the original's for every input size. A "same" ``Conv2d`` whose
    output feeds a pixel shuffle (ESPCN, SRGAN; found by data flow with ``example_input``,
    else only side by side in an ``nn.Sequential``) becomes one ``ResizeConv2d`` (or
    ``SubPixelConv2d``) of the same kernel and scale. Weight and spectral norm wrappers
    are carried over to the replacement. Replaced layers are freshly initialised
    (``weights="fresh"``, for untrained models) or, with ``weights="project"``, initialised
    from the trained layer they replace by least-squares projection onto their
    artifact-free family (see :mod:`checkerscope.auditing.projection`), data-aware when
    ``calibration`` inputs are given; ``fixed.checkerscope_projection`` then lists the fit
    of each replacement.

    With ``downsample=True`` strided ``Conv{1,2}d`` and ``MaxPool{1,2}d`` get anti-aliasing
    (Zhang 2019). What that costs, for a ``k x k`` conv of stride ``s`` from ``C_in`` to
    ``C_out`` channels on an ``H x W`` input, whose own cost is
    ``k^2 C_in C_out H W / s^2`` multiply-adds:

    * default: the conv at stride 1, then ``BlurPool`` at stride ``s``: ``s^2`` times the
      conv (4x for ``s = 2``) plus a depthwise ``f x f`` blur (``f = 4``) per output.
    * ``blur_first=True``: a stride-1 ``BlurPool`` (``f^2 C_in H W``) before the unchanged
      strided conv: ``1 + f^2 s^2 / (k^2 C_out)`` times the conv (1.11x for a 3x3 conv to
      64 channels at ``s = 2``); the backward overlap is even as well.
    * ``skip_first=True`` leaves the first strided layer (the stem, the most expensive at
      full resolution) as it is; ``min_channels=N`` leaves convs with fewer than ``N``
      input channels (an RGB stem has 3).

    Max pooling becomes max pooling at stride 1 then ``BlurPool`` (MaxBlurPool; needs
    ``example_input`` for the channel count). What cannot be replaced faithfully is left
    and explained in ``fixed.checkerscope_fix_notes`` (a list of lines, also listing every
    replacement).

    Args:
        model: the model (left unchanged); compile / DataParallel wrappers are looked
            through.
        method: ``"resize"`` or ``"subpixel"``.
        example_input: if given, the model is traced: pairs are found by data flow, and
            each replacement's output shape is checked on the shapes this input produces
            (one that differs is reverted and noted).
        downsample: also replace strided convolutions and max pooling.
        blur_first: with ``downsample``, blur before the strided conv instead of running
            the conv at stride 1.
        skip_first: with ``downsample``, leave the first strided layer.
        min_channels: with ``downsample``, leave convs with fewer input channels.
        weights: ``"fresh"`` or ``"project"``.
        calibration: with ``weights="project"``: ``None`` (weight space only), a tensor of
            model inputs (batch first) or ``"noise"`` (latents or smooth 1/f images shaped
            like ``example_input``): fit each replacement to the original layer's outputs.

    Returns:
        The fixed copy.

    Raises:
        CheckerscopeError: for an unknown method, or a model that fails on the input.
    """
    from checkerscope.auditing.tracing import trace_graph
    from checkerscope.auditing.wrappers import copy_model, preserved, unwrap

    if method not in ("resize", "subpixel"):
        raise CheckerscopeError(f"method must be 'resize' or 'subpixel', got {method!r}")
    if not isinstance(model, nn.Module):
        raise CheckerscopeError(f"fix needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(min_channels, bool) or not isinstance(min_channels, int) or min_channels < 0:
        raise CheckerscopeError(f"min_channels must be an int >= 0, got {min_channels!r}")
    model, _ = unwrap(model)
    from checkerscope.auditing import projection

    projection.check_fix_arguments(weights, calibration, example_input)
    created: list[projection.ReplacementPair] = []  # each replacement and what it replaced
    fixed = copy_model(model)
    notes: list[str] = []
    graph: TracedGraph | None = None
    if example_input is not None:
        with preserved(fixed):
            graph = trace_graph(fixed, example_input)
        notes += _functional_notes(graph)
    order: dict[int, int] = {}
    for position, layer in enumerate(graph.layers if graph is not None else []):
        order.setdefault(id(layer.module), position)
    targets: list[tuple[str, nn.Module]] = []
    strided_downsamplers: list[tuple[str, Any]] = []
    for name, module in fixed.named_modules():
        strided = any(s > 1 for s in _strides(module))
        if strided and isinstance(module, _DECONVS):
            targets.append((name, module))
        elif strided and downsample and (_is_conv(module) or isinstance(module, _MAXPOOLS)):
            strided_downsamplers.append((name, module))
    if strided_downsamplers:
        strided_downsamplers.sort(key=lambda item: order.get(id(item[1]), len(order)))
        for position, (name, module) in enumerate(strided_downsamplers):
            if skip_first and position == 0:
                notes.append(f"{name}: {type(module).__name__} left: skip_first (the stem)")
                continue
            if _is_conv(module) and module.in_channels < min_channels:
                notes.append(
                    f"{name}: {type(module).__name__} left: {module.in_channels} input "
                    f"channels < min_channels={min_channels}"
                )
                continue
            targets.append((name, module))
    shapes: dict[str, list[tuple[Any, Any]]] = {}
    if example_input is not None and targets:
        shapes = _record_shapes(fixed, {n for n, _ in targets}, example_input)
    for name, module in targets:
        before = (
            _describe_deconv(module)
            if isinstance(module, _DECONVS)
            else f"{type(module).__name__}(k{_short(_ints(module.kernel_size))} "
            f"s{_short(_strides(module))})"
        )
        new: nn.Module | None
        if isinstance(module, _DECONVS):
            new, label = _replace_deconv(module, method)
        elif isinstance(module, _MAXPOOLS):
            new, label = _replace_maxpool(module, shapes.get(name, []))
        else:
            new, label = _replace_strided(module, blur_first)
        if new is None:
            notes.append(f"{name}: {before} left: {label}")
            continue
        new.train(module.training)
        mismatch = _shape_mismatch(new, shapes.get(name, []), module)
        if mismatch:
            notes.append(f"{name}: {before} left: replacement would give {mismatch}")
            continue
        _set_submodule(fixed, name, new)
        notes.append(f"{name}: {before} -> {label}")
        if isinstance(module, _DECONVS):  # downsamplers keep their own conv weights
            created.append(projection.ReplacementPair(name, new, model.get_submodule(name), module))
    if graph is not None:
        pairs = _pairs_by_data_flow(fixed, graph, notes)
    else:
        pairs = _pairs_in_sequentials(fixed)
    for pair in pairs:
        notes.append(_replace_pair(fixed, pair, method, model, created))
    if not targets and not pairs and not notes:
        notes.append("nothing to replace: no strided transposed convolution found")
    if weights == "project":
        notes += projection.initialise(fixed, model, created, calibration, example_input)
    annotated: Any = fixed  # plain attributes for the caller, beside the modules
    annotated.checkerscope_fix_notes = notes
    if graph is not None and graph.output is not None:
        before_shape = tuple(graph.output.shape)
        with preserved(fixed), torch.no_grad():
            after_shape = tuple(run_model(fixed, example_input).shape)
        if before_shape != after_shape:
            raise CheckerscopeError(
                f"fixed model output {after_shape} differs from the original {before_shape}"
            )
    return fixed


def _shape_mismatch(new: nn.Module, seen: list[tuple], old: nn.Module) -> str:
    reference = next(iter(old.parameters()), None) if list(old.parameters()) else None
    dtype = reference.dtype if reference is not None else torch.get_default_dtype()
    device = reference.device if reference is not None else "cpu"
    for in_shape, out_shape in seen:
        probe = torch.zeros(in_shape, dtype=dtype, device=device)
        with torch.no_grad():
            got = tuple(new(probe).shape)
        if got != out_shape:
            return f"shape {got} instead of {out_shape}"
    return ""
