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

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.auditing.tracing import first_tensor, run_model
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


def _describe_deconv(m: nn.Module) -> str:
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


def _replace_deconv(m: nn.Module, method: str) -> tuple[nn.Module | None, str]:
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
    factory = {"device": m.weight.device, "dtype": m.weight.dtype}
    bias = m.bias is not None
    if method == "resize":
        cls = (csnn.ResizeConv1d, csnn.ResizeConv2d, csnn.ResizeConv3d)[dims - 1]
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
    if any(a for pair in amounts for a in pair):
        return nn.Sequential(layer, PadCrop(amounts)), f"{label} + crop/pad {amounts}"
    return layer, label


def _replace_strided(m: nn.Module) -> tuple[nn.Module | None, str]:
    from checkerscope import nn as csnn

    dims = len(m.kernel_size)
    if dims == 3:
        return None, "no 3-D BlurPool in checkerscope.nn"
    if len(set(m.stride)) != 1:
        return None, f"per-axis stride {m.stride}: BlurPool takes one stride"
    if isinstance(m.padding, str):
        return None, f"padding={m.padding!r}: left as is"
    conv = copy.deepcopy(m)
    conv.stride = (1,) * dims
    blur = (csnn.BlurPool1d, csnn.BlurPool2d)[dims - 1](m.out_channels, stride=m.stride[0])
    blur = blur.to(m.weight.device)
    return nn.Sequential(conv, blur), f"Conv{dims}d(s1) + {type(blur).__name__}(s{m.stride[0]})"


_MAXPOOLS = (nn.MaxPool1d, nn.MaxPool2d)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),)


def _strides(module: nn.Module) -> tuple[int, ...]:
    stride = getattr(module, "stride", 1)
    if stride is None:  # pooling: the stride defaults to the kernel
        stride = getattr(module, "kernel_size", 1)
    return _ints(stride) if isinstance(stride, (int, tuple, list)) else (1,)


def _replace_maxpool(m: nn.Module, seen: list[tuple]) -> tuple[nn.Module | None, str]:
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
    blur = (csnn.BlurPool1d, csnn.BlurPool2d)[dims - 1](channels, stride=strides[0])
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


def _record_shapes(model: nn.Module, names: set[str], example: Any) -> dict[str, list[tuple]]:
    shapes: dict[str, list[tuple]] = {n: [] for n in names}
    handles = []
    for name, module in model.named_modules():
        if name in names:

            def hook(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
                x, y = first_tensor(inputs), first_tensor(output)
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


def fix(
    model: nn.Module,
    method: str = "resize",
    example_input: Any = None,
    downsample: bool = False,
    weights: str = "fresh",
    calibration: Any = None,
) -> nn.Module:
    """A deep copy of ``model`` without artifact-prone transposed convolutions.

    Every ``ConvTranspose{1,2,3}d`` with a stride above 1 becomes a ``checkerscope.nn``
    layer (``method="resize"``: ``ResizeConv{1,2,3}d`` nearest + conv; ``"subpixel"``:
    ICNR-initialised ``SubPixelConv{1,2}d``) with a crop or pad where needed so that its
    output shape equals the original's for every input size. A "same" ``Conv2d`` directly
    followed by ``PixelShuffle(r)`` in an ``nn.Sequential`` (ESPCN, SRResNet) becomes one
    ``ResizeConv2d`` (or ``SubPixelConv2d``) of the same kernel and scale. With ``downsample=True``,
    strided ``Conv{1,2}d`` become the same conv at stride 1 (same weights) followed by
    ``BlurPool{1,2}d`` at the original stride (Zhang 2019), and strided ``MaxPool{1,2}d``
    become max pooling at stride 1 then ``BlurPool`` (needs ``example_input`` for the
    channel count). What cannot be replaced
    faithfully (grouped deconvolutions, per-axis strides for BlurPool, ...) is left and
    explained in ``fixed.checkerscope_fix_notes`` (a list of lines, also listing every
    replacement). Replaced layers are freshly initialised (``weights="fresh"``, for
    untrained models) or, with ``weights="project"``, initialised from the trained layer
    they replace by least-squares projection onto their artifact-free family (see
    :mod:`checkerscope.auditing.projection`), data-aware when ``calibration`` inputs are
    given; then ``fixed.checkerscope_projection`` lists the fit of each replacement.

    Args:
        model: the model (left unchanged).
        method: ``"resize"`` or ``"subpixel"``.
        example_input: if given, each replacement's output shape is checked on the shapes
            this input produces; one that differs is reverted and noted.
        downsample: also replace strided convolutions.
        weights: ``"fresh"`` or ``"project"``.
        calibration: with ``weights="project"``: ``None`` (weight space only), a tensor of
            model inputs (batch first) or ``"noise"`` (latents or smooth 1/f images shaped
            like ``example_input``): fit each replacement to the original layer's outputs.

    Returns:
        The fixed copy.

    Raises:
        CheckerscopeError: for an unknown method, or a model that fails on the input.
    """
    if method not in ("resize", "subpixel"):
        raise CheckerscopeError(f"method must be 'resize' or 'subpixel', got {method!r}")
    if not isinstance(model, nn.Module):
        raise CheckerscopeError(f"fix needs a torch.nn.Module, got {type(model).__name__}")
    from checkerscope.auditing import projection

    projection.check_fix_arguments(weights, calibration, example_input)
    created: list[projection.ReplacementPair] = []
    fixed = copy.deepcopy(model)
    targets: list[tuple[str, nn.Module]] = []
    for name, module in fixed.named_modules():
        strided = any(s > 1 for s in _strides(module))
        downsampler = _is_conv(module) or isinstance(module, _MAXPOOLS)
        if strided and (isinstance(module, _DECONVS) or (downsample and downsampler)):
            targets.append((name, module))
    shapes: dict[str, list[tuple]] = {}
    if example_input is not None and targets:
        shapes = _record_shapes(fixed, {n for n, _ in targets}, example_input)
    notes: list[str] = []
    for name, module in targets:
        before = (
            _describe_deconv(module)
            if isinstance(module, _DECONVS)
            else f"{type(module).__name__}(k{_short(_ints(module.kernel_size))} "
            f"s{_short(_strides(module))})"
        )
        if isinstance(module, _DECONVS):
            new, label = _replace_deconv(module, method)
        elif isinstance(module, _MAXPOOLS):
            new, label = _replace_maxpool(module, shapes.get(name, []))
        else:
            new, label = _replace_strided(module)
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
    shuffled = _replace_subpixel_pairs(fixed, method, notes, model, created)
    if not targets and not shuffled:
        notes.append("nothing to replace: no strided transposed convolution found")
    if weights == "project":
        notes += projection.initialise(fixed, model, created, calibration, example_input)
    fixed.checkerscope_fix_notes = notes
    if example_input is not None:
        with torch.no_grad():
            before_shape = tuple(run_model(model, example_input).shape)
            after_shape = tuple(run_model(fixed, example_input).shape)
        if before_shape != after_shape:  # pragma: no cover - guarded per layer above
            raise CheckerscopeError(
                f"fixed model output {after_shape} differs from the original {before_shape}"
            )
    return fixed


def _subpixel_pairs(root: nn.Module) -> list[tuple[nn.Sequential, str, str]]:
    """``(sequential, conv_key, shuffle_key)`` for each ``Conv2d`` directly followed by a
    ``PixelShuffle`` in an ``nn.Sequential`` whose conv is "same", stride 1 and ungrouped."""
    pairs = []
    for module in root.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (key, conv), (next_key, shuffle) in zip(children, children[1:], strict=False):
            if not (isinstance(conv, nn.Conv2d) and isinstance(shuffle, nn.PixelShuffle)):
                continue
            r = shuffle.upscale_factor
            pads = _pad(conv)
            same = len(pads) == 2 and all(
                p == (k - 1) // 2 and k % 2 for k, p in zip(conv.kernel_size, pads, strict=True)
            )
            plain = conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            if same and plain and conv.out_channels % (r * r) == 0:
                pairs.append((module, key, next_key))
    return pairs


def _pad(conv: nn.Module) -> tuple[int, ...]:
    if isinstance(conv.padding, str):
        same = conv.padding == "same"
        return tuple((k - 1) // 2 if same else 0 for k in conv.kernel_size)
    return tuple(conv.padding)


def _replace_subpixel_pairs(
    root: nn.Module, method: str, notes: list[str], teacher: nn.Module, created: list[Any]
) -> int:
    """Conv2d + PixelShuffle pairs become one ``checkerscope.nn`` layer (resize-conv, or an
    ICNR-initialised sub-pixel conv); returns how many were replaced."""
    from checkerscope import nn as csnn
    from checkerscope.auditing.projection import ReplacementPair

    names = {id(m): n for n, m in root.named_modules()}
    count = 0
    for parent, conv_key, shuffle_key in _subpixel_pairs(root):
        conv, shuffle = parent._modules[conv_key], parent._modules[shuffle_key]
        r = shuffle.upscale_factor
        out_channels = conv.out_channels // (r * r)
        factory = {"device": conv.weight.device, "dtype": conv.weight.dtype}
        cls = csnn.ResizeConv2d if method == "resize" else csnn.SubPixelConv2d
        layer = cls(
            conv.in_channels,
            out_channels,
            kernel_size=_compact(tuple(conv.kernel_size)),
            scale_factor=r,
            bias=conv.bias is not None,
            **factory,
        )
        layer.train(conv.training)
        prefix = names.get(id(parent), "")
        where = f"{prefix}.{conv_key}" if prefix else conv_key
        parent._modules[conv_key] = layer
        parent._modules[shuffle_key] = nn.Identity()
        notes.append(
            f"{where}: Conv2d(k{_short(conv.kernel_size)}) + PixelShuffle({r}) -> "
            f"{cls.__name__}(k{_short(conv.kernel_size)} x{r})"
        )
        shuffle_name = f"{prefix}.{shuffle_key}" if prefix else shuffle_key
        original = nn.Sequential(conv, shuffle)
        created.append(ReplacementPair(where, layer, teacher.get_submodule(shuffle_name), original))
        count += 1
    return count


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
