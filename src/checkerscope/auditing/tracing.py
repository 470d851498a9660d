"""Run a torch model once and record its data-flow graph of resolution-changing operations.

The model runs on its example input under a ``__torch_function__`` mode that sees every
call, whether it comes from an ``nn.Module`` or from a bare ``F.conv_transpose2d`` /
``F.interpolate`` / ``F.pixel_shuffle`` in a ``forward``. Each call that changes resolution
or shapes the overlap (convolutions, transposed convolutions, resizes, pixel shuffles,
pooling, fixed FIR filters, zero insertion) becomes a node of the graph. Every tensor
computed from the input carries the set of nodes whose outputs reached it, so additions
(residual shortcuts), concatenations (skips) and separate outputs (multi-scale
discriminators) become branches of the graph instead of one long chain. Because the model
really runs, models with data-dependent control flow are recorded on the path their
example input takes.

A convolution whose weight is not learned (a registered buffer or a constant: an FIR
low-pass, a blur) is recorded with its true taps (:class:`checkerscope.theory.FIR`); a
learned one with all-ones taps (the overlap of the article). Layers from
``checkerscope.nn`` are recorded as one node through their ``overlap_specs()``.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.ConvTranspose2d(4, 2, 3, stride=2), nn.Conv2d(2, 1, 3))
    >>> [(t.name, t.type, t.output_shape) for t in trace_layers(model, torch.zeros(1, 4, 5, 5))]
    [('0', 'ConvTranspose2d', (11, 11)), ('1', 'Conv2d', (9, 9))]
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

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
)

__all__ = [
    "Source",
    "TracedGraph",
    "TracedLayer",
    "first_tensor",
    "output_tensors",
    "run_model",
    "spatial_numel",
    "trace_graph",
    "trace_layers",
]


@dataclass(frozen=True)
class TracedLayer:
    """One recorded operation: a node of the data-flow graph.

    Attributes:
        name: the qualified name of the module that made the call (``"(model)"`` for the
            root), or an ONNX node name.
        type: the module class (``"ConvTranspose2d"``) or the function (``"F.interpolate"``).
        family: ``deconv``, ``conv``, ``fir``, ``resize``, ``pixelshuffle``,
            ``pixelunshuffle``, ``maxpool``, ``avgpool``, ``zero-insertion``, ``resample``
            (a size change with no overlap model) or ``layer`` (a ``checkerscope.nn`` layer).
        specs: the overlap specs of this node, in order (empty when it has no exact one).
        dims: number of spatial axes.
        input_shape: spatial input shape.
        output_shape: spatial output shape.
        params: the parameters a person reads (kernel, stride, padding, ...).
        module: the module object (torch models), for ``fix``.
        note: why no spec could be given, or what was assumed.
        index: position of the node in the graph (execution order).
        inputs: graph nodes whose outputs reach this node's spatial input (indices into
            :attr:`TracedGraph.nodes`).
        direct_input: the node whose output tensor is exactly this node's input, unchanged
            (``None`` when other operations came between): how ``fix`` finds a convolution
            feeding a pixel shuffle wherever the two live.
    """

    name: str
    type: str
    family: str
    specs: tuple[LayerSpec, ...]
    dims: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)
    module: Any = field(default=None, repr=False, compare=False)
    note: str = ""
    index: int = -1
    inputs: tuple[int, ...] = ()
    direct_input: int | None = None


@dataclass(frozen=True)
class Source:
    """Where a path starts: a model input, or a spatial constant the model holds (a learned
    starting map, as in StyleGAN's synthesis network)."""

    label: str
    index: int = -1
    shape: tuple[int, ...] = ()


@dataclass
class TracedGraph:
    """The recorded graph of one forward pass.

    Attributes:
        nodes: sources and layers in execution order (``nodes[i].index == i``).
        outputs: ``(label, node indices)`` for each output tensor reached from a source,
            e.g. ``("output[1]", (7,))``.
        output: the model's first output tensor (the one the probes score).
        notes: what the trace could not see.
        uses: for each node, how many operations read its output tensor as it is.
    """

    nodes: list[TracedLayer | Source]
    outputs: list[tuple[str, tuple[int, ...]]]
    output: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)
    uses: dict[int, int] = field(default_factory=dict)

    @property
    def layers(self) -> list[TracedLayer]:
        """The recorded operations in execution order."""
        return [n for n in self.nodes if isinstance(n, TracedLayer)]

    @property
    def sources(self) -> list[Source]:
        """The starting points of paths."""
        return [n for n in self.nodes if isinstance(n, Source)]

    def ancestors(self, index: int) -> set[int]:
        """Every node from which ``index`` can be reached."""
        seen: set[int] = set()
        stack = [index]
        while stack:
            node = self.nodes[stack.pop()]
            for parent in node.inputs if isinstance(node, TracedLayer) else ():
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def final_outputs(self) -> list[tuple[str, tuple[int, ...]]]:
        """The outputs that do not feed another output (a multi-scale discriminator's
        logits, not the feature maps it also returns)."""
        feeding: set[int] = set()
        for _, ends in self.outputs:
            for end in ends:
                feeding |= self.ancestors(end)
        return [(label, ends) for label, ends in self.outputs if not set(ends) <= feeding]


# --------------------------------------------------------------------------- call parsing


def _tuple(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        values = tuple(int(v) for v in value)
        return values * dims if len(values) == 1 else values
    return (int(value),) * dims


def _compact(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 else values


def _bind(
    args: Sequence[Any], kwargs: dict[str, Any], names: Sequence[str], defaults: dict[str, Any]
) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


_CONV_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_DECONV_NAMES = (
    "input",
    "weight",
    "bias",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "dilation",
)
_MAXPOOL_NAMES = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
_AVGPOOL_NAMES = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")


def _spatial(tensor: torch.Tensor, dims: int) -> tuple[int, ...]:
    return tuple(int(s) for s in tensor.shape[-dims:]) if dims else ()


def _integral(values: Sequence[float], tolerance: float = 1e-6) -> tuple[float | int, ...]:
    """Taps scaled so the smallest non-zero magnitude is 1, as ints when they are ints."""
    magnitudes = [abs(v) for v in values if abs(v) > 0]
    scale = min(magnitudes) if magnitudes else 1.0
    scaled = [v / scale for v in values]
    if all(abs(v - round(v)) <= tolerance * max(1.0, abs(v)) for v in scaled):
        return tuple(int(round(v)) for v in scaled)
    return tuple(float(f"{v:.9g}") for v in scaled)


def fixed_filter_taps(
    weight: torch.Tensor, dims: int
) -> tuple[tuple[tuple[float | int, ...], ...] | None, str]:
    """Per-axis taps of a fixed convolution kernel ``(out, in / groups, *kernel)``.

    The kernel's response to a constant input sums over input channels; a separable
    response (the outer product of its marginals) gives one tap sequence per axis. Returns
    ``(None, reason)`` when the response has no per-axis form.

    Examples:
        >>> f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        >>> fixed_filter_taps(torch.outer(f, f)[None, None].repeat(3, 1, 1, 1) / 64, dims=2)
        (((1, 3, 3, 1), (1, 3, 3, 1)), '')
    """
    if weight.device.type == "meta":
        return None, "fixed filter on the meta device: its taps are unknown"
    response = weight.detach().double().sum(dim=1)
    note = ""
    if not torch.allclose(response, response[:1].expand_as(response), rtol=1e-5, atol=1e-12):
        note = "fixed filter differs between channels: modelled by its mean"
    kernel = response.mean(dim=0)
    total = float(kernel.sum())
    if dims == 1:
        return (_integral(kernel.tolist()),), note
    if abs(total) < 1e-12:
        return None, "fixed filter with zero sum (a derivative): no per-axis model"
    marginals = [kernel.sum(dim=tuple(a for a in range(dims) if a != axis)) for axis in range(dims)]
    rebuilt = marginals[0]
    for marginal in marginals[1:]:
        rebuilt = torch.tensordot(rebuilt, marginal, dims=0)
    rebuilt = rebuilt / total ** (dims - 1)
    scale = float(kernel.abs().max())
    if not torch.allclose(rebuilt, kernel, rtol=1e-5, atol=1e-9 * max(scale, 1e-30)):
        return None, "fixed filter is not separable: no per-axis model"
    return tuple(_integral(m.tolist()) for m in marginals), note


def dilated_taps(taps: tuple[float | int, ...], dilation: int) -> tuple[float | int, ...]:
    """Taps spread by a dilation (zeros between them).

    Examples:
        >>> dilated_taps((1, 2, 1), 2)
        (1, 0, 2, 0, 1)
    """
    if dilation == 1:
        return taps
    spread: list[float | int] = []
    for i, tap in enumerate(taps):
        spread.append(tap)
        if i < len(taps) - 1:
            spread.extend([0] * (dilation - 1))
    return tuple(spread)


def _conv_call(
    func_name: str, args: Sequence[Any], kwargs: dict[str, Any], fixed_weight: bool
) -> dict[str, Any]:
    transposed = func_name.startswith("conv_transpose")
    dims = int(func_name[-2])
    if transposed:
        b = _bind(args, kwargs, _DECONV_NAMES, {"stride": 1, "padding": 0, "output_padding": 0})
    else:
        b = _bind(args, kwargs, _CONV_NAMES, {"stride": 1, "padding": 0, "dilation": 1})
    b.setdefault("groups", 1)
    b.setdefault("dilation", 1)
    weight = b["weight"]
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride, dilation = _tuple(b["stride"], dims), _tuple(b["dilation"], dims)
    padding_arg = b["padding"]
    if isinstance(padding_arg, str):
        # "same" pads d*(k-1) in total (the extra one on the far side); "valid" none
        padding = tuple(
            (d * (k - 1)) // 2 if padding_arg == "same" else 0
            for k, d in zip(kernel, dilation, strict=True)
        )
    else:
        padding = _tuple(padding_arg, dims)
    out_pad = _tuple(b.get("output_padding", 0), dims)
    params: dict[str, Any] = {
        "family": "deconv" if transposed else "conv",
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": int(b["groups"]),
    }
    if transposed:
        params["output_padding"] = out_pad
    note = ""
    specs: tuple[LayerSpec, ...]
    taps = None
    if fixed_weight:
        # the (transposed) convolution of a constant with the kernel flips nothing that
        # matters for coverage; a transposed call paints with the same response
        taps, note = fixed_filter_taps(weight, dims)
    if taps is not None and not any(out_pad):
        params["family"] = "fir"
        params["taps"] = taps
        spread = tuple(dilated_taps(t, d) for t, d in zip(taps, dilation, strict=True))
        specs = (FIR(spread, _compact(stride), _compact(padding), transposed=transposed),)
    elif transposed:
        specs = (
            Deconv(
                _compact(kernel),
                _compact(stride),
                _compact(padding),
                _compact(out_pad),
                _compact(dilation),
            ),
        )
    else:
        specs = (Conv(_compact(kernel), _compact(stride), _compact(padding), _compact(dilation)),)
    if fixed_weight and taps is None and not note:
        note = "fixed weights with output padding: modelled as all-ones"
    return {"dims": dims, "specs": specs, "params": params, "note": note}


def _interpolate_call(
    args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor, result: torch.Tensor
) -> dict[str, Any]:
    dims = x.dim() - 2
    mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
    size_in, size_out = _spatial(x, dims), _spatial(result, dims)
    params: dict[str, Any] = {"family": "resize", "mode": mode}
    specs: tuple[LayerSpec, ...] = ()
    note = ""
    if all(o % i == 0 for i, o in zip(size_in, size_out, strict=True)):
        scale = tuple(o // i for i, o in zip(size_in, size_out, strict=True))
        params["scale"] = scale
        if mode in ("nearest", "nearest-exact", "bilinear", "linear", "trilinear", "bicubic"):
            spec_mode = "nearest" if mode.startswith("nearest") else "bilinear"
            specs = (Resize(_compact(scale), mode=spec_mode),)
            if mode == "bicubic":
                note = "bicubic modelled as bilinear"
        else:
            note = f"mode {mode!r} has no overlap model"
    elif all(i % o == 0 for i, o in zip(size_in, size_out, strict=True)):
        factor = tuple(i // o for i, o in zip(size_in, size_out, strict=True))
        params["scale"] = tuple(1 / f for f in factor)
        params["family"] = "avgpool"
        specs = (AvgPool(_compact(factor)),)
        note = "downscaling interpolation modelled as average pooling"
    else:
        ratio = tuple(round(o / i, 3) for i, o in zip(size_in, size_out, strict=True))
        params["scale"] = ratio
        note = f"non-integer scale {ratio} has no exact periodic pattern"
    return {"dims": dims, "specs": specs, "params": params, "note": note}


def _pool_call(func_name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    dims = int(func_name[-2])
    is_max = "max" in func_name
    names = _MAXPOOL_NAMES if is_max else _AVGPOOL_NAMES
    b = _bind(args, kwargs, names, {"stride": None, "padding": 0, "dilation": 1})
    kernel = _tuple(b["kernel_size"], dims)
    stride_arg = b["stride"]
    stride = kernel if stride_arg in (None, (), []) else _tuple(stride_arg, dims)
    padding = _tuple(b["padding"], dims)
    cls = MaxPool if is_max else AvgPool
    specs: tuple[LayerSpec, ...] = ()
    note = ""
    if _tuple(b.get("dilation", 1), dims) != (1,) * dims:
        note = "dilated pooling has no overlap model"
    elif any(2 * p > k for k, p in zip(kernel, padding, strict=True)):
        note = "padding larger than half the kernel has no overlap model"
    else:
        specs = (cls(_compact(kernel), _compact(stride), _compact(padding)),)
    params = {
        "family": "maxpool" if is_max else "avgpool",
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
    }
    return {"dims": dims, "specs": specs, "params": params, "note": note}


def _channels_repeated(x: torch.Tensor, copies: int) -> bool:
    """Whether consecutive groups of ``copies`` channels of ``x`` are identical (a depth-to-
    space of such a tensor is a nearest upsampling: DC-AE's shortcut, ``repeat_interleave``
    then ``pixel_shuffle``)."""
    if x.dim() != 4 or copies < 2 or x.shape[1] % copies or x.numel() == 0:
        return False
    groups = x.detach().reshape(x.shape[0], x.shape[1] // copies, copies, *x.shape[2:])
    return bool(torch.equal(groups, groups[:, :, :1].expand_as(groups)))


def _describe_call(
    func_name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    result: Any,
    fixed_weight: bool = False,
    copied_input: bool = False,
) -> dict[str, Any] | None:
    """Parameters and specs of one functional call, or None if it does not matter here.

    ``copied_input``: the input is the direct result of a repeat (its channels may be
    copies by construction, not by the values of learned weights, as after ICNR init).
    """
    x = args[0] if args else kwargs.get("input")
    if not isinstance(x, torch.Tensor) or not isinstance(result, torch.Tensor):
        return None
    found: dict[str, Any]
    if func_name.startswith("conv_transpose") or func_name in ("conv1d", "conv2d", "conv3d"):
        found = _conv_call(func_name, args, kwargs, fixed_weight)
    elif func_name == "interpolate":
        found = _interpolate_call(args, kwargs, x, result)
    elif func_name in ("pixel_shuffle", "pixel_unshuffle"):
        key = "upscale_factor" if func_name == "pixel_shuffle" else "downscale_factor"
        factor = int(args[1] if len(args) > 1 else kwargs.get(key, 1))
        if func_name == "pixel_unshuffle":
            # space-to-depth: every input pixel goes to exactly one output, no overlap
            found = {
                "dims": 2,
                "specs": (AvgPool(factor),),
                "params": {"family": "pixelunshuffle", "scale": factor},
            }
        elif copied_input and _channels_repeated(x, factor * factor):
            found = {
                "dims": 2,
                "specs": (Resize(factor),),
                "params": {"family": "resize", "mode": "nearest", "scale": (factor, factor)},
                "note": f"each channel repeated {factor * factor} times before the shuffle: "
                "a nearest upsampling",
            }
        else:
            found = {
                "dims": 2,
                "specs": (PixelShuffle(factor),),
                "params": {"family": "pixelshuffle", "scale": factor},
            }
    elif func_name.startswith("adaptive_avg_pool"):
        dims = int(func_name[-2])
        size_in, size_out = _spatial(x, dims), _spatial(result, dims)
        if not all(i % o == 0 for i, o in zip(size_in, size_out, strict=True)) or all(
            o == 1 for o in size_out
        ):
            return None  # global pooling (or a non-integer ratio): no periodic structure
        window = tuple(i // o for i, o in zip(size_in, size_out, strict=True))
        found = {
            "dims": dims,
            "specs": (AvgPool(_compact(window)),),
            "params": {"family": "avgpool", "kernel": window, "stride": window, "padding": 0},
        }
    else:
        found = _pool_call(func_name, args, kwargs)
    found["x"] = x
    return found


def _base_name(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", "")
    if name.startswith("__"):
        return name
    # F.max_pool2d and friends are boolean-dispatch wrappers named _max_pool2d
    return name.lstrip("_")


_WATCHED = {
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv1d",
    "conv2d",
    "conv3d",
    "interpolate",
    "pixel_shuffle",
    "pixel_unshuffle",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
}
_CONV_FUNCTIONS = {n for n in _WATCHED if n.startswith("conv")}

# torch layers whose class name is a better label than the function they call
_TORCH_LAYERS = (
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Upsample,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
)


def _is_checkerscope_layer(module: nn.Module) -> bool:
    return callable(getattr(module, "overlap_specs", None))


# --------------------------------------------------------------------------- the recorder

_PREDS = "_checkerscope_nodes"  # frozenset of node indices whose outputs reached a tensor
# (rank, channels, spatial shape, weak reference to the latest tensor of that layout)
_GRID = "_checkerscope_grid"
_LEARNED = "_checkerscope_learned"  # computed from learned parameters
_DIRECT = "_checkerscope_direct"  # the node whose unchanged output this tensor is
_PENDING = "_checkerscope_pending"  # (preds, grid) of data written into this canvas
_COPIED = "_checkerscope_copied"  # made by a repeat: equal channels by construction
_REPEATS = frozenset({"repeat", "repeat_interleave", "tile", "expand", "expand_as"})
# Calls that read only their tensor argument's shape, dtype and device, never its values: a
# filter built in forward with ``x.new_zeros(...)`` (diffusers' 1-D resamplers) is a
# constant, not data flowing from the input.
_SHAPE_ONLY = frozenset(
    {
        "new_zeros",
        "new_ones",
        "new_full",
        "new_empty",
        "new_tensor",
        "zeros_like",
        "ones_like",
        "full_like",
        "empty_like",
        "rand_like",
        "randn_like",
        "randint_like",
    }
)
_IN_PLACE = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__setitem__"}


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


class _Recorder(TorchFunctionMode):
    """Builds the graph while the model runs (see the module docstring)."""

    def __init__(self, model: nn.Module, stack: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.stack = stack
        self.nodes: list[TracedLayer | Source] = []
        self.learned = {id(p) for p in model.parameters()}
        self.constants: dict[int, int] = {}
        self.marked: list[weakref.ref[torch.Tensor]] = []
        self.notes: list[str] = []
        self.uses: dict[int, int] = {}

    # ----------------------------------------------------------------- tensor marks

    def mark(self, tensor: torch.Tensor, name: str, value: Any) -> None:
        if getattr(tensor, name, None) is None:
            self.marked.append(weakref.ref(tensor))
        setattr(tensor, name, value)

    def unmark_all(self) -> None:
        for ref in self.marked:
            tensor = ref()
            if tensor is not None:
                for name in (_PREDS, _GRID, _LEARNED, _DIRECT, _PENDING, _COPIED):
                    if name in tensor.__dict__:
                        delattr(tensor, name)
        self.marked.clear()

    def is_learned(self, tensor: torch.Tensor) -> bool:
        return id(tensor) in self.learned or bool(getattr(tensor, _LEARNED, False))

    # ----------------------------------------------------------------- nodes

    def add_source(self, tensor: torch.Tensor, label: str) -> int:
        index = len(self.nodes)
        self.nodes.append(Source(label, index, tuple(tensor.shape)))
        self.mark(tensor, _PREDS, frozenset({index}))
        self.mark(tensor, _GRID, _grid_of(tensor))
        return index

    def constant_source(self, tensor: torch.Tensor, owner: str) -> frozenset[int]:
        """A spatial constant that starts a path (only maps larger than one pixel)."""
        if tensor.dim() < 3 or math.prod(tensor.shape[2:]) <= 1:
            return frozenset()
        index = self.constants.get(id(tensor))
        if index is None:
            index = len(self.nodes)
            self.nodes.append(Source(f"constant in {owner}", index, tuple(tensor.shape)))
            self.constants[id(tensor)] = index
        return frozenset({index})

    def add_layer(self, layer: TracedLayer, result: Any) -> None:
        index = len(self.nodes)
        self.nodes.append(
            TracedLayer(
                name=layer.name,
                type=layer.type,
                family=layer.family,
                specs=layer.specs,
                dims=layer.dims,
                input_shape=layer.input_shape,
                output_shape=layer.output_shape,
                params=layer.params,
                module=layer.module,
                note=layer.note,
                index=index,
                inputs=layer.inputs,
                direct_input=layer.direct_input,
            )
        )
        for tensor in _tensors(result):
            self.mark(tensor, _PREDS, frozenset({index}))
            self.mark(tensor, _GRID, _grid_of(tensor))
            self.mark(tensor, _DIRECT, index)

    def owner(self) -> tuple[str, nn.Module | None]:
        return self.stack[-1] if self.stack else ("(model)", None)

    def inside_checkerscope_layer(self, skip_innermost: bool = False) -> bool:
        frames = self.stack[:-1] if skip_innermost else self.stack
        return any(_is_checkerscope_layer(m) for _, m in frames)

    # ----------------------------------------------------------------- the hook

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = [t for t in _tensors((args, kwargs))]
        name = _base_name(func)
        if not inputs or name in _SHAPE_ONLY:
            return result
        if name != "__setitem__":
            for tensor in inputs:
                if getattr(tensor, _PENDING, None) is not None:
                    self.resolve_pending(tensor)
        preds: frozenset[int] = frozenset().union(
            *(getattr(t, _PREDS, frozenset()) for t in inputs)
        )
        learned = any(self.is_learned(t) for t in inputs)
        if any(True for _ in _tensors(result)):
            for tensor in inputs:
                producer = getattr(tensor, _DIRECT, None)
                if producer is not None:
                    self.uses[producer] = self.uses.get(producer, 0) + 1
        watched = name in _WATCHED and isinstance(result, torch.Tensor)
        if (
            watched
            and not self.inside_checkerscope_layer()
            and self.record_call(name, args, kwargs, result)
        ):
            return result
        outputs = list(_tensors(result))
        if name in _REPEATS and isinstance(result, torch.Tensor) and preds:
            self.mark(result, _COPIED, True)
        if name == "__setitem__" and isinstance(args[0], torch.Tensor):
            outputs = [args[0]]  # writes into its first argument, returns None
        if name in _IN_PLACE or (name.endswith("_") and not name.endswith("__")):
            for tensor in outputs:
                if getattr(tensor, _DIRECT, None) is not None:
                    setattr(tensor, _DIRECT, None)  # changed in place: no longer as produced
        if not outputs:
            return result
        grid = next((getattr(t, _GRID) for t in inputs if hasattr(t, _GRID)), None)
        for tensor in outputs:
            if preds:
                self.mark(tensor, _PREDS, preds)
                if grid is not None:
                    same_layout = _grid_of(tensor)[:3] == grid[:3]
                    # the latest tensor of the grid's layout is where a reshape starts from
                    self.mark(tensor, _GRID, _grid_of(tensor) if same_layout else grid)
            elif learned and id(tensor) not in self.learned:
                self.mark(tensor, _LEARNED, True)
        resized = preds and isinstance(result, torch.Tensor)
        if grid is not None and resized and not self.inside_checkerscope_layer():
            self.check_resampling(name, args, result, preds, grid)
        elif name == "__setitem__" and len(args) > 2 and isinstance(args[2], torch.Tensor):
            # data written into a larger canvas (``out = x.new_zeros(...)``, then
            # ``out[..., ::2, ::2] = x``, maybe more writes): judged when the canvas is read
            written = getattr(args[2], _GRID, None)
            if written is not None and preds and not self.inside_checkerscope_layer():
                self.mark(args[0], _PENDING, (preds, written))
        return result

    def resolve_pending(self, tensor: torch.Tensor) -> None:
        """Judge a canvas that data was written into, now that it is read."""
        preds, written = getattr(tensor, _PENDING)
        setattr(tensor, _PENDING, None)
        self.check_resampling("__setitem__", (), tensor, preds, written)

    def record_call(
        self, name: str, args: Sequence[Any], kwargs: dict[str, Any], result: torch.Tensor
    ) -> bool:
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, torch.Tensor):
            return False
        fixed = False
        if name in _CONV_FUNCTIONS:
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            if isinstance(weight, torch.Tensor):
                fixed = not self.is_learned(weight) and not getattr(weight, _PREDS, None)
        copied = bool(getattr(x, _COPIED, False))
        found = _describe_call(name, args, kwargs, result, fixed_weight=fixed, copied_input=copied)
        if found is None:
            return False
        owner_name, owner = self.owner()
        preds = getattr(x, _PREDS, None) or self.constant_source(x, owner_name)
        if not preds:
            return False  # weights being computed, not data flowing from an input
        label = type(owner).__name__ if isinstance(owner, _TORCH_LAYERS) else f"F.{name}"
        dims = found["dims"]
        params = dict(found["params"])
        family = params.pop("family")
        self.add_layer(
            TracedLayer(
                name=owner_name,
                type=label,
                family=family,
                specs=tuple(found["specs"]),
                dims=dims,
                input_shape=_spatial(x, dims),
                output_shape=_spatial(result, dims),
                params=params,
                module=owner,
                note=found.get("note", ""),
                inputs=tuple(sorted(preds)),
                direct_input=getattr(x, _DIRECT, None),
            ),
            result,
        )
        return True

    def check_resampling(
        self,
        name: str,
        args: Sequence[Any],
        result: torch.Tensor,
        preds: frozenset[int],
        grid: tuple[Any, ...],
    ) -> None:
        """A size change by an integer factor outside the watched calls, recognised by
        comparing the data with the latest tensor of the grid's layout: zero insertion, a
        nearest repeat, strided slicing, depth-to-space or space-to-depth built from
        views, pads and repeats. Anything else of the same rank (attention heads, say) is
        another layout of the data, not a resampled image."""
        rank, channels, before, source_ref = grid
        after = tuple(int(s) for s in result.shape[2:])
        if result.dim() != rank or not before or len(after) != len(before) or after == before:
            return
        source = source_ref()
        if source is None or name not in _RESHAPING or result.device.type == "meta":
            if _grid_of(result)[1] == channels and result.device.type != "meta":
                self.mark(result, _GRID, _grid_of(result))  # a crop or a pad: the grid moves
            return
        found = _match_resampling(source.detach(), result.detach())
        if found is None:
            if _grid_of(result)[1] == channels:
                self.mark(result, _GRID, _grid_of(result))
            return
        family, specs, factors, what = found
        owner_name, owner = self.owner()
        self.add_layer(
            TracedLayer(
                name=owner_name,
                type=f"torch.{name}",
                family=family,
                specs=specs,
                dims=len(after),
                input_shape=before,
                output_shape=after,
                params={
                    "scale"
                    if family in ("zero-insertion", "resize", "pixelshuffle")
                    else "stride": factors
                },
                module=owner,
                note=f"{what} by {factors} found in the data",
                inputs=tuple(sorted(preds)),
            ),
            result,
        )


_UPSAMPLING = ("zero-insertion", "resize", "pixelshuffle")


def _grid_of(tensor: torch.Tensor) -> tuple[Any, ...]:
    channels = int(tensor.shape[1]) if tensor.dim() > 1 else 0
    return tensor.dim(), channels, tuple(int(s) for s in tensor.shape[2:]), weakref.ref(tensor)


# Calls that can resample by moving data around (zero insertion or a nearest repeat built
# from views and repeats, strided slicing, space-to-depth); other size changes (padding,
# cropping, concatenation) only move the grid.
_RESHAPING = {
    "__setitem__",
    "reshape",
    "view",
    "flatten",
    "unflatten",
    "repeat",
    "repeat_interleave",
    "expand",
    "expand_as",
    "contiguous",
    "__getitem__",
    "permute",
    "transpose",
    "movedim",
    "squeeze",
    "unsqueeze",
}


def _has_step(args: Sequence[Any]) -> bool:
    index = args[1] if len(args) > 1 else None
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, slice) and i.step not in (None, 1) for i in items)


def _match_resampling(
    source: torch.Tensor, result: torch.Tensor
) -> tuple[str, tuple[LayerSpec, ...], tuple[int, ...], str] | None:
    """``(family, specs, factors, what)`` when ``result`` is ``source`` resampled by an
    integer factor per axis in a way the overlap engine models, else ``None``."""
    if source.shape[:1] != result.shape[:1]:
        return None
    before, after = source.shape[2:], result.shape[2:]
    dims = len(after)
    if any(a % b for a, b in zip(after, before, strict=True) if a >= b) or any(
        b % a for a, b in zip(after, before, strict=True) if a < b
    ):
        return None
    if all(a >= b for a, b in zip(after, before, strict=True)):
        factors = tuple(a // b for a, b in zip(after, before, strict=True))
        scale = _compact(factors)
        if result.shape[1] == source.shape[1]:
            every: tuple[Any, ...] = (..., *(slice(None, None, f) for f in factors))
            inserted = torch.zeros_like(result)
            inserted[every] = source
            if torch.equal(result, inserted):
                return "zero-insertion", (Deconv(1, scale),), factors, "zero insertion"
            repeated = source
            for axis, factor in enumerate(factors):
                repeated = repeated.repeat_interleave(factor, dim=2 + axis)
            if torch.equal(result, repeated):
                return "resize", (Resize(scale),), factors, "nearest repeat"
            return None
        shuffled = dims == 2 and len(set(factors)) == 1
        shuffled = shuffled and source.shape[1] == result.shape[1] * factors[0] ** 2
        if shuffled and torch.equal(result, F.pixel_shuffle(source, factors[0])):
            return "pixelshuffle", (PixelShuffle(factors[0]),), factors, "depth-to-space"
        return None
    if not all(a <= b for a, b in zip(after, before, strict=True)):
        return None
    factors = tuple(b // a for a, b in zip(after, before, strict=True))
    scale = _compact(factors)
    if result.shape[1] == source.shape[1]:
        for offset in itertools.product(*(range(f) for f in factors)):
            kept: tuple[Any, ...] = (
                ...,
                *(slice(o, None, f) for o, f in zip(offset, factors, strict=True)),
            )
            if torch.equal(result, source[kept]):
                return "conv", (Conv(1, scale),), factors, "strided slicing"
        return None
    unshuffled = dims == 2 and len(set(factors)) == 1
    unshuffled = unshuffled and result.shape[1] == source.shape[1] * factors[0] ** 2
    if unshuffled and torch.equal(result, F.pixel_unshuffle(source, factors[0])):
        return "pixelunshuffle", (AvgPool(scale),), factors, "space-to-depth"
    return None


# --------------------------------------------------------------------------- running


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in a model output (tensor, tuple/list, dict or dataclass-like)."""
    return next(iter(output_tensors(value)), (None, None))[1]


def output_tensors(value: Any, label: str = "output") -> list[tuple[str, torch.Tensor]]:
    """Every tensor in a model output with a label naming where it sits.

    Examples:
        >>> [name for name, _ in output_tensors((torch.zeros(1), [torch.zeros(2)]))]
        ['output[0]', 'output[1][0]']
    """
    if isinstance(value, torch.Tensor):
        return [(label, value)]
    found: list[tuple[str, torch.Tensor]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += output_tensors(item, f"{label}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += output_tensors(item, f"{label}[{i}]")
    elif hasattr(value, "__dataclass_fields__"):
        for key in value.__dataclass_fields__:
            found += output_tensors(getattr(value, key, None), f"{label}.{key}")
    return found


def _positional(example_input: Any) -> tuple[Any, ...]:
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def run_model(model: nn.Module, example_input: Any) -> torch.Tensor:
    """Call ``model`` on a tensor or a tuple of positional tensors; return its first tensor."""
    out = first_tensor(model(*_positional(example_input)))
    if out is None:
        raise CheckerscopeError(f"{type(model).__name__} returned no tensor")
    return out


def _shape_text(example_input: Any) -> str:
    if isinstance(example_input, torch.Tensor):
        return "x".join(str(s) for s in example_input.shape) or "scalar"
    if isinstance(example_input, (tuple, list)):
        return "(" + ", ".join(_shape_text(x) for x in example_input) + ")"
    return type(example_input).__name__


def _checkerscope_layer(
    name: str, module: nn.Module, inputs: Any, output: Any, preds: frozenset[int]
) -> TracedLayer:
    describe: Callable[[], Sequence[LayerSpec]] = getattr(module, "overlap_specs")  # noqa: B009
    specs = tuple(describe())
    x = first_tensor(inputs)
    y = first_tensor(output)
    dims = (y.dim() - 2) if y is not None else 2
    params: dict[str, Any] = {}
    for attr in ("kernel_size", "scale_factor", "stride", "mode", "filter_size", "padding_mode"):
        value = getattr(module, attr, None)
        if value is not None and not callable(value):
            params[attr] = value
    return TracedLayer(
        name=name,
        type=type(module).__name__,
        family="layer",
        specs=specs,
        dims=dims,
        input_shape=_spatial(x, dims) if x is not None else (),
        output_shape=_spatial(y, dims) if y is not None else (),
        params=params,
        module=module,
        inputs=tuple(sorted(preds)),
    )


def trace_graph(model: nn.Module, example_input: Any) -> TracedGraph:
    """Run ``model`` once and record the data-flow graph of its resolution-changing calls.

    Stride-1 convolutions are recorded too: they shape the compounded overlap pattern.

    Args:
        model: any ``torch.nn.Module``.
        example_input: a tensor, or a tuple of tensors passed positionally.

    Returns:
        The graph: nodes in execution order (a module called twice appears twice), the
        outputs reached from the inputs, and the first output tensor.

    Raises:
        CheckerscopeError: if the model fails on the example input (one line).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> class Residual(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.up = nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1)
        ...         self.conv = nn.Conv2d(2, 2, 3, padding=1)
        ...     def forward(self, x):
        ...         y = self.up(x)
        ...         return y + self.conv(y)
        >>> graph = trace_graph(Residual(), torch.zeros(1, 2, 8, 8))
        >>> [(n.name, n.inputs) for n in graph.layers], graph.outputs
        ([('up', (0,)), ('conv', (1,))], [('output', (1, 2))])
    """
    stack: list[tuple[str, nn.Module]] = []
    names = {id(m): n for n, m in model.named_modules()}
    recorder = _Recorder(model, stack)
    handles = []
    entry_preds: dict[int, frozenset[int] | None] = {}

    def push(module: nn.Module, inputs: Any) -> None:
        stack.append((names.get(id(module)) or "(model)", module))
        if _is_checkerscope_layer(module) and not recorder.inside_checkerscope_layer(
            skip_innermost=True
        ):
            x = first_tensor(inputs)
            entry_preds[id(module)] = (
                getattr(x, _PREDS, frozenset()) if x is not None else frozenset()
            )

    def pop(module: nn.Module, inputs: Any, output: Any) -> None:
        if stack and stack[-1][1] is module:
            stack.pop()
        if _is_checkerscope_layer(module) and not recorder.inside_checkerscope_layer():
            preds = entry_preds.pop(id(module), None) or frozenset()
            if preds:
                layer = _checkerscope_layer(
                    names.get(id(module), "(model)"), module, inputs, output, preds
                )
                recorder.add_layer(layer, output)

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(push))
        handles.append(module.register_forward_hook(pop))
    inputs = []
    for i, x in enumerate(_positional(example_input)):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            x = x.detach().clone()
            recorder.add_source(
                x, "input" if len(_positional(example_input)) == 1 else f"input[{i}]"
            )
        inputs.append(x)
    try:
        with torch.no_grad(), recorder:
            raw = model(*inputs)
        outputs: list[tuple[str, tuple[int, ...]]] = []
        for label, tensor in output_tensors(raw):
            reached: frozenset[int] = getattr(tensor, _PREDS, frozenset())
            if reached:
                outputs.append((label, tuple(sorted(reached))))
        first = first_tensor(raw)
    except CheckerscopeError:
        raise
    except Exception as exc:
        shape = _shape_text(example_input)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckerscopeError(
            f"the model failed on an input of shape {shape}: {type(exc).__name__}: {message}"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
        recorder.unmark_all()
    if first is None:
        raise CheckerscopeError(f"{type(model).__name__} returned no tensor")
    return TracedGraph(recorder.nodes, outputs, first, recorder.notes, recorder.uses)


def trace_layers(model: nn.Module, example_input: Any) -> list[TracedLayer]:
    """The recorded operations of one forward pass, in execution order (see
    :func:`trace_graph` for the graph they form)."""
    return trace_graph(model, example_input).layers


def spatial_numel(shape: Sequence[int]) -> int:
    """Number of spatial positions (1 for an empty shape)."""
    return math.prod(shape) if shape else 1
