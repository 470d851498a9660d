"""Discover the layers of a torch model that change resolution, in execution order.

The model is run once on its example input under a ``__torch_function__`` mode that sees
every functional call (``conv_transpose2d``, ``conv2d``, ``interpolate``,
``pixel_shuffle``, pooling) whether it comes from an ``nn.Module`` or from a bare
``F.interpolate`` in a ``forward``; forward hooks keep the stack of modules being run so
each call is named after the module that made it. Because the model really runs, models
with data-dependent control flow (which ``torch.fx`` cannot trace symbolically) are
recorded on the path their example input takes. Layers from ``checkerscope.nn`` are
recorded as one layer through their ``overlap_specs()``, not as their inner calls.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.ConvTranspose2d(4, 2, 3, stride=2), nn.Conv2d(2, 1, 3))
    >>> [(t.name, t.type, t.output_shape) for t in trace_layers(model, torch.zeros(1, 4, 5, 5))]
    [('0', 'ConvTranspose2d', (11, 11)), ('1', 'Conv2d', (9, 9))]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from checkerscope.errors import CheckerscopeError
from checkerscope.theory import AvgPool, Conv, Deconv, LayerSpec, MaxPool, PixelShuffle, Resize

__all__ = ["TracedLayer", "run_model", "trace_layers"]


@dataclass(frozen=True)
class TracedLayer:
    """One recorded layer (or functional call).

    Attributes:
        name: the qualified name of the module that made the call (``"(model)"`` for the
            root), or an ONNX node name.
        type: the module class (``"ConvTranspose2d"``) or the function (``"F.interpolate"``).
        family: ``deconv``, ``conv``, ``resize``, ``pixelshuffle``, ``pixelunshuffle``,
            ``maxpool``, ``avgpool`` or ``layer`` (a ``checkerscope.nn`` layer).
        specs: the overlap specs of this layer, in order (empty when it has no exact one).
        dims: number of spatial axes.
        input_shape: spatial input shape.
        output_shape: spatial output shape.
        params: the parameters a person reads (kernel, stride, padding, ...).
        module: the module object (torch models), for ``fix``.
        note: why no spec could be given, if so.
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


def _tuple(value: Any, dims: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        values = tuple(int(v) for v in value)
        return values * dims if len(values) == 1 else values
    return (int(value),) * dims


def _compact(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 else values


def _bind(args: Sequence[Any], kwargs: dict[str, Any], names: Sequence[str], defaults: dict):
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


def _describe_call(
    func_name: str, args: Sequence[Any], kwargs: dict[str, Any], result: Any
) -> dict[str, Any] | None:
    """Parameters and specs of one functional call, or None if it does not matter here."""
    x = args[0] if args else kwargs.get("input")
    if not isinstance(x, torch.Tensor) or not isinstance(result, torch.Tensor):
        return None
    base = func_name.rstrip("123d")
    if func_name.startswith("conv_transpose"):
        dims = int(func_name[-2])
        b = _bind(args, kwargs, _DECONV_NAMES, {"stride": 1, "padding": 0, "output_padding": 0})
        b.setdefault("groups", 1)
        b.setdefault("dilation", 1)
        kernel = tuple(int(k) for k in b["weight"].shape[2:])
        stride, padding = _tuple(b["stride"], dims), _tuple(b["padding"], dims)
        out_pad, dilation = _tuple(b["output_padding"], dims), _tuple(b["dilation"], dims)
        spec = Deconv(
            _compact(kernel),
            _compact(stride),
            _compact(padding),
            _compact(out_pad),
            _compact(dilation),
        )
        params = {
            "family": "deconv",
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "output_padding": out_pad,
            "dilation": dilation,
            "groups": int(b["groups"]),
        }
        return {"dims": dims, "specs": (spec,), "params": params, "x": x}
    if base == "conv" and func_name[-2:] in ("1d", "2d", "3d"):
        dims = int(func_name[-2])
        b = _bind(args, kwargs, _CONV_NAMES, {"stride": 1, "padding": 0, "dilation": 1})
        b.setdefault("groups", 1)
        kernel = tuple(int(k) for k in b["weight"].shape[2:])
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
        spec = Conv(_compact(kernel), _compact(stride), _compact(padding), _compact(dilation))
        params = {
            "family": "conv",
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": int(b["groups"]),
        }
        return {"dims": dims, "specs": (spec,), "params": params, "x": x}
    if func_name == "interpolate":
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
        else:
            ratio = tuple(round(o / i, 3) for i, o in zip(size_in, size_out, strict=True))
            params["scale"] = ratio
            note = f"non-integer scale {ratio} has no exact periodic pattern"
        return {"dims": dims, "specs": specs, "params": params, "x": x, "note": note}
    if func_name in ("pixel_shuffle", "pixel_unshuffle"):
        factor = int(args[1] if len(args) > 1 else kwargs.get("upscale_factor", 1))
        if func_name == "pixel_unshuffle":
            factor = int(args[1] if len(args) > 1 else kwargs.get("downscale_factor", 1))
            params = {"family": "pixelunshuffle", "scale": factor}
            # space-to-depth: every input pixel goes to exactly one output, no overlap
            return {"dims": 2, "specs": (AvgPool(factor),), "params": params, "x": x}
        params = {"family": "pixelshuffle", "scale": factor}
        return {"dims": 2, "specs": (PixelShuffle(factor),), "params": params, "x": x}
    if base in ("max_pool", "avg_pool") and func_name[-2:] in ("1d", "2d", "3d"):
        dims = int(func_name[-2])
        is_max = base == "max_pool"
        names = _MAXPOOL_NAMES if is_max else _AVGPOOL_NAMES
        b = _bind(args, kwargs, names, {"stride": None, "padding": 0, "dilation": 1})
        kernel = _tuple(b["kernel_size"], dims)
        stride_arg = b["stride"]
        stride = kernel if stride_arg in (None, (), []) else _tuple(stride_arg, dims)
        padding = _tuple(b["padding"], dims)
        cls = MaxPool if is_max else AvgPool
        specs = ()
        note = ""
        if _tuple(b.get("dilation", 1), dims) != (1,) * dims:
            note = "dilated pooling has no overlap model"
        else:
            specs = (cls(_compact(kernel), _compact(stride), _compact(padding)),)
        params = {
            "family": "maxpool" if is_max else "avgpool",
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
        }
        return {"dims": dims, "specs": specs, "params": params, "x": x, "note": note}
    return None


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
}

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
)


def _is_checkerscope_layer(module: nn.Module) -> bool:
    return callable(getattr(module, "overlap_specs", None))


class _Recorder(TorchFunctionMode):
    def __init__(self, stack: list[tuple[str, nn.Module]], layers: list[TracedLayer]) -> None:
        super().__init__()
        self.stack = stack
        self.layers = layers

    def __torch_function__(self, func: Callable, types: Any, args: Any = (), kwargs: Any = None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name not in _WATCHED or any(_is_checkerscope_layer(m) for _, m in self.stack):
            return result
        found = _describe_call(name, args, kwargs, result)
        if found is None:
            return result
        owner_name, owner = self.stack[-1] if self.stack else ("(model)", None)
        if isinstance(owner, _TORCH_LAYERS):
            label = type(owner).__name__
        else:
            label = f"F.{name}"
        dims = found["dims"]
        params = dict(found["params"])
        family = params.pop("family")
        self.layers.append(
            TracedLayer(
                name=owner_name,
                type=label,
                family=family,
                specs=tuple(found["specs"]),
                dims=dims,
                input_shape=_spatial(found["x"], dims),
                output_shape=_spatial(result, dims),
                params=params,
                module=owner,
                note=found.get("note", ""),
            )
        )
        return result


def first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in a model output (tensor, tuple/list, dict or dataclass-like)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def run_model(model: nn.Module, example_input: Any) -> torch.Tensor:
    """Call ``model`` on a tensor or a tuple of positional tensors; return its first tensor."""
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    out = first_tensor(model(*inputs))
    if out is None:
        raise CheckerscopeError(f"{type(model).__name__} returned no tensor")
    return out


def trace_layers(model: nn.Module, example_input: Any) -> list[TracedLayer]:
    """Run ``model`` once and record every convolution, resize, shuffle and pooling call.

    Stride-1 convolutions are recorded too: they shape the compounded overlap pattern.

    Args:
        model: any ``torch.nn.Module``.
        example_input: a tensor, or a tuple of tensors passed positionally.

    Returns:
        The recorded layers in execution order (a module called twice appears twice).

    Raises:
        CheckerscopeError: if the model fails on the example input (one line).
    """
    stack: list[tuple[str, nn.Module]] = []
    layers: list[TracedLayer] = []
    handles = []
    names = {id(m): n for n, m in model.named_modules()}

    def push(module: nn.Module, _inputs: Any) -> None:
        stack.append((names.get(id(module)) or "(model)", module))

    def pop(module: nn.Module, inputs: Any, output: Any) -> None:
        if stack and stack[-1][1] is module:
            stack.pop()
        if _is_checkerscope_layer(module) and not any(_is_checkerscope_layer(m) for _, m in stack):
            layers.append(
                _checkerscope_layer(names.get(id(module), "(model)"), module, inputs, output)
            )

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(push))
        handles.append(module.register_forward_hook(pop))
    try:
        with torch.no_grad(), _Recorder(stack, layers):
            run_model(model, example_input)
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
    return layers


def _shape_text(example_input: Any) -> str:
    if isinstance(example_input, torch.Tensor):
        return "x".join(str(s) for s in example_input.shape) or "scalar"
    if isinstance(example_input, (tuple, list)):
        return "(" + ", ".join(_shape_text(x) for x in example_input) + ")"
    return type(example_input).__name__


def _checkerscope_layer(name: str, module: nn.Module, inputs: Any, output: Any) -> TracedLayer:
    specs = tuple(module.overlap_specs())
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
    )


def spatial_numel(shape: Sequence[int]) -> int:
    """Number of spatial positions (1 for an empty shape)."""
    return math.prod(shape) if shape else 1
