"""Read the resolution-changing nodes of an ONNX model (needs only the ``onnx`` package).

``ConvTranspose``, ``Conv``, ``Resize`` / ``Upsample``, ``DepthToSpace`` /
``SpaceToDepth`` and ``MaxPool`` / ``AveragePool`` nodes become
:class:`~checkerscope.auditing.tracing.TracedLayer` records in graph order (ONNX graphs are
topologically sorted), with their attributes mapped to ``checkerscope.theory`` specs.
Spatial shapes come from ONNX shape inference where it can tell them. A depthwise ``Conv``
(or ``ConvTranspose``) with the same non-negative kernel on every channel and no bias is
read as a fixed filter (:class:`~checkerscope.theory.FIR` with its true taps), as the torch
audit reads a convolution whose weight is not a parameter.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from checkerscope._files import display_name
from checkerscope.auditing.tracing import (
    Source,
    TracedGraph,
    TracedLayer,
    dilated_taps,
    fixed_filter_taps,
)
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

__all__ = ["MAX_ATTRIBUTE", "MAX_TENSOR_ELEMENTS", "OnnxModel", "read_onnx"]

#: The largest kernel size, stride, dilation, padding, block size or scale a node may
#: declare: a 300-byte file can declare ``kernel_shape`` 1e9, and the analysis would then
#: allocate accordingly. Real models stay far below (65536).
MAX_ATTRIBUTE = 1 << 16
#: The most elements a constant of the file (an initializer, a ``Constant`` node) may
#: declare, checked from its dims before it is read: 2**28 (1 GiB of float32).
MAX_TENSOR_ELEMENTS = 1 << 28
# Size-like attributes of the nodes this reader looks at (and of those it folds).
_BOUNDED_ATTRIBUTES = (
    "kernel_shape",
    "strides",
    "dilations",
    "pads",
    "output_padding",
    "output_shape",
    "blocksize",
    "scales",
    "group",
)


@dataclass
class OnnxModel:
    """What :func:`read_onnx` found: the data-flow graph of its resolution-changing nodes
    and the graph's first input/output shapes (``None`` for symbolic axes)."""

    graph: TracedGraph
    input_shape: tuple[Any, ...]
    output_shape: tuple[Any, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def layers(self) -> list[TracedLayer]:
        """The resolution-changing nodes in graph order."""
        return self.graph.layers


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise CheckerscopeError(
            "auditing ONNX files needs the 'onnx' package: pip install 'checkerscope[onnx]'"
        ) from exc
    return onnx


def _load(path: str | os.PathLike[str]) -> Any:
    onnx = _import_onnx()
    path = Path(path)
    if not path.is_file():
        raise CheckerscopeError(f"no such ONNX file: {str(path)!r}")
    try:
        model = onnx.load(str(path))  # weights kept as external data next to it included
    except Exception as exc:
        raise CheckerscopeError(
            f"{str(path)!r} is not a valid ONNX model ({type(exc).__name__})"
        ) from exc
    if not model.graph.node:
        raise CheckerscopeError(f"{str(path)!r} is not a valid ONNX model (empty graph)")
    _check_bounds(model.graph, path)
    try:  # by path, so that weights stored as external data next to the file are found
        onnx.checker.check_model(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckerscopeError(f"{str(path)!r} is not a valid ONNX model: {first}") from exc
    with contextlib.suppress(Exception):  # shapes are a nicety; attributes are what matters
        model = onnx.shape_inference.infer_shapes(model)
    return model


def _check_bounds(graph: Any, path: str | os.PathLike[str]) -> None:
    """Refuse, before reading any tensor, a file whose nodes or constants declare sizes the
    analysis could not afford (see :data:`MAX_ATTRIBUTE`, :data:`MAX_TENSOR_ELEMENTS`).

    Raises:
        CheckerscopeError: naming the file, the node and the attribute.
    """
    where = f"'{display_name(path)}'"
    for tensor in graph.initializer:
        _check_tensor_size(tensor, f"{where}: initializer {tensor.name!r}")
    for index, node in enumerate(graph.node):
        name = f"{where}: node {node.name or index!r} ({node.op_type})"
        for attribute in node.attribute:
            if attribute.HasField("t"):
                _check_tensor_size(attribute.t, f"{name} attribute {attribute.name!r}")
            if attribute.name not in _BOUNDED_ATTRIBUTES:
                continue
            values = [*attribute.ints, *attribute.floats]
            if attribute.HasField("i"):
                values.append(attribute.i)
            if len(values) > 16 or any(
                not math.isfinite(v) or abs(v) > MAX_ATTRIBUTE for v in values
            ):
                shown = values[:8] + (["..."] if len(values) > 8 else [])
                raise CheckerscopeError(
                    f"{name} has {attribute.name} {shown}: outside the bounds of this reader "
                    f"(at most 16 values, each within +-{MAX_ATTRIBUTE}); refusing the file"
                )


def _check_tensor_size(tensor: Any, what: str) -> None:
    dims = list(tensor.dims)
    if any(d < 0 for d in dims) or math.prod(dims) > MAX_TENSOR_ELEMENTS:
        raise CheckerscopeError(
            f"{what} declares shape {dims}: more than {MAX_TENSOR_ELEMENTS:,} elements; "
            "refusing the file"
        )


def _shape_of(value_info: Any) -> tuple[Any, ...]:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


def _attributes(node: Any) -> dict[str, Any]:
    onnx = _import_onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _constants(graph: Any) -> dict[str, np.ndarray]:
    onnx = _import_onnx()
    values = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            attrs = _attributes(node)
            if "value" in attrs:
                values[node.output[0]] = onnx.numpy_helper.to_array(attrs["value"])
            elif "value_floats" in attrs:
                values[node.output[0]] = np.asarray(attrs["value_floats"])
            elif "value_ints" in attrs:
                values[node.output[0]] = np.asarray(attrs["value_ints"])
    return values


def _fold_weight(name: str, graph: Any, constants: dict[str, np.ndarray]) -> np.ndarray | None:
    """Evaluate a weight computed from constants only (an exported fused resize-conv builds
    its transposed-convolution kernel from the 3x3 one); ``None`` if it needs an input."""
    onnx = _import_onnx()
    producers = {out: node for node in graph.node for out in node.output}
    needed: list[Any] = []
    stack, seen = [name], set()
    while stack:
        value = stack.pop()
        if value in constants or value in seen or not value:
            continue
        seen.add(value)
        node = producers.get(value)
        if node is None or len(needed) > 64:
            return None  # a graph input, or too much to evaluate for a weight
        needed.append(node)
        stack.extend(node.input)
    order = {id(node): i for i, node in enumerate(graph.node)}
    nodes = sorted({id(n): n for n in needed}.values(), key=lambda n: order[id(n)])
    used = {i for n in nodes for i in n.input}
    # a shape, repeat count or padding given as a constant can ask for any size (e.g.
    # ConstantOfShape([10**9])): fold only when every shape-like constant stays small
    for value in used:
        constant = constants.get(value)
        if constant is None or constant.dtype.kind not in "iu" or constant.size > 8:
            continue  # not shape-like
        if np.prod(np.abs(constant.astype(float)) + 1) > MAX_TENSOR_ELEMENTS:
            return None
    initializers = [
        onnx.numpy_helper.from_array(np.asarray(constants[v]), v) for v in used if v in constants
    ]
    try:
        from onnx.reference import ReferenceEvaluator

        sub = onnx.helper.make_graph(
            nodes, "weight", [], [onnx.helper.make_empty_tensor_value_info(name)], initializers
        )
        model = onnx.helper.make_model(sub, opset_imports=_OPSETS.get("value", []))
        outputs: Any = ReferenceEvaluator(model).run(None, {})
        return np.asarray(outputs[0])
    except Exception:  # folding is a refinement; without it the layer is judged by shape
        return None


_OPSETS: dict[str, Any] = {}


def _compact(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 else values


def _pads(attrs: dict[str, Any], dims: int, kernel: tuple[int, ...], what: str) -> tuple:
    """Symmetric per-axis padding and a note if the file's padding is asymmetric."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return tuple((k - 1) // 2 for k in kernel), f"{what}: auto_pad {auto} modelled as k//2"
    pads = list(attrs.get("pads", [0] * (2 * dims)))
    begin, end = tuple(pads[:dims]), tuple(pads[dims:])
    note = "" if begin == end else f"{what}: asymmetric pads {pads} modelled as {begin}"
    return begin, note


def _spatial(shape: tuple[Any, ...], dims: int) -> tuple[Any, ...]:
    return tuple(shape[-dims:]) if len(shape) >= dims + 2 else ()


def read_onnx(path: str | os.PathLike[str]) -> OnnxModel:
    """Read an ONNX file's resolution-changing layers.

    Raises:
        CheckerscopeError: if ``onnx`` is missing or the file is not a valid ONNX model.
    """
    model = _load(path)
    graph = model.graph
    constants = _constants(graph)
    _OPSETS["value"] = list(model.opset_import)
    for node in graph.node:
        weighted = node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1
        if weighted and node.input[1] not in constants:
            folded = _fold_weight(node.input[1], graph, constants)
            if folded is not None:
                constants[node.input[1]] = folded
    shapes: dict[str, tuple[Any, ...]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        shapes[info.name] = _shape_of(info)
    initializers = {init.name for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initializers]
    input_shape = _shape_of(real_inputs[0]) if real_inputs else ()
    output_shape = _shape_of(graph.output[0]) if graph.output else ()
    nodes: list[TracedLayer | Source] = []
    reached: dict[str, frozenset[int]] = {}  # value name -> nodes whose outputs reach it
    for value in real_inputs:
        reached[value.name] = frozenset({len(nodes)})
        nodes.append(Source(value.name, len(nodes), _shape_of(value)))
    notes: list[str] = []
    for index, node in enumerate(graph.node):
        preds = frozenset().union(*(reached.get(name, frozenset()) for name in node.input))
        found = _describe_node(node, constants, shapes)
        data = reached.get(node.input[0], frozenset()) if node.input else frozenset()
        if found is None or not data:
            for out in node.output:
                if preds:
                    reached[out] = preds
            continue
        family, specs, params, dims, note = found
        name = node.name or f"{node.op_type}_{index}"
        position = len(nodes)
        nodes.append(
            TracedLayer(
                name=name,
                type=node.op_type,
                family=family,
                specs=tuple(specs),
                dims=dims,
                input_shape=_spatial(shapes.get(node.input[0], ()), dims),
                output_shape=_spatial(shapes.get(node.output[0], ()), dims),
                params=params,
                note=note,
                index=position,
                inputs=tuple(sorted(data)),
            )
        )
        for out in node.output:
            reached[out] = frozenset({position})
    outputs = [
        (value.name, tuple(sorted(reached[value.name])))
        for value in graph.output
        if reached.get(value.name)
    ]
    traced = TracedGraph(nodes, outputs)
    if not traced.layers:
        notes.append("no convolution, resize, depth-to-space or pooling node found")
    return OnnxModel(traced, input_shape, output_shape, notes)


def _weight_kernel(node: Any, constants: dict[str, np.ndarray]) -> tuple[int, ...] | None:
    if len(node.input) > 1 and node.input[1] in constants:
        return tuple(int(k) for k in constants[node.input[1]].shape[2:])
    return None


def phases_tied(weight: np.ndarray, stride: tuple[int, ...], dilation: tuple[int, ...]) -> bool:
    """Whether every stride phase of every kernel sums to the same value.

    Then a constant input gives a constant output (a transposed convolution) or a constant
    output gradient gives a constant input gradient (a strided convolution): the stored
    weights paint no grid, as for an exported resize-convolution (nearest + conv fused into
    one transposed convolution) or a fixed blur filter.

    Examples:
        >>> box = np.ones((1, 1, 4))
        >>> phases_tied(box, (2,), (1,)), phases_tied(np.array([[[1.0, 2, 3, 4]]]), (2,), (1,))
        (True, False)
    """
    dims = len(stride)
    sums = []
    for phase in np.ndindex(*stride):
        index: list[Any] = [slice(None), slice(None)]
        for axis in range(dims):
            taps = np.arange(weight.shape[2 + axis])
            index.append(np.flatnonzero((taps * dilation[axis]) % stride[axis] == phase[axis]))
        part = weight[tuple(index[:2])]
        for axis in range(dims):
            part = np.take(part, index[2 + axis], axis=2 + axis)
        sums.append(part.reshape(*part.shape[:2], -1).sum(axis=-1))
    scale = float(np.abs(weight).max()) or 1.0
    return all(np.allclose(s, sums[0], rtol=1e-4, atol=1e-6 * scale) for s in sums[1:])


def _fixed_filter(
    node: Any, weight: np.ndarray | None, groups: int, dims: int, constants: dict[str, np.ndarray]
) -> tuple[tuple[float | int, ...], ...] | None:
    """The per-axis taps of a convolution that is a fixed filter, else ``None``.

    ONNX stores learned and fixed weights alike, so a filter is told by its form: depthwise
    over two or more channels, the same non-negative kernel for every channel and no bias
    (StyleGAN2's ``[1, 3, 3, 1]`` blur, a BlurPool); a learned depthwise conv has different
    kernels per channel.
    """
    if weight is None or weight.ndim != dims + 2 or weight.shape[1] != 1:
        return None
    channels = weight.shape[0]
    if channels < 2 or groups != channels or np.any(weight < 0):
        return None
    if not np.allclose(weight, weight[:1], rtol=1e-6, atol=0):
        return None
    bias = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and (bias is None or np.any(bias != 0)):
        return None
    import torch

    taps, _ = fixed_filter_taps(torch.tensor(weight, dtype=torch.float64), dims)
    return taps


def _describe_node(
    node: Any, constants: dict[str, np.ndarray], shapes: dict[str, tuple[Any, ...]]
) -> tuple[str, list[LayerSpec], dict[str, Any], int, str] | None:
    op = node.op_type
    attrs = _attributes(node)
    if op in ("ConvTranspose", "Conv"):
        declared = tuple(attrs.get("kernel_shape", ()))
        stored = _weight_kernel(node, constants)
        kernel = stored or declared
        if not kernel:
            return None
        dims = len(kernel)
        stride = tuple(attrs.get("strides", [1] * dims))
        dilation = tuple(attrs.get("dilations", [1] * dims))
        padding, note = _pads(attrs, dims, kernel, op)
        if declared and stored and declared != stored:
            note = (
                f"{op}: kernel_shape {declared} disagrees with the weight {stored}; used the weight"
            )
        params: dict[str, Any] = {
            "kernel": kernel,
            "stride": stride,
            "padding": padding,
        }
        weight = constants.get(node.input[1]) if len(node.input) > 1 else None
        groups = int(attrs.get("group", 1))
        if weight is not None and max(stride) > 1 and weight.ndim == dims + 2:
            params["tied_phases"] = phases_tied(weight.astype(float), stride, dilation)
        out_pad = tuple(attrs.get("output_padding", [0] * dims))
        taps = _fixed_filter(node, weight, groups, dims, constants) if not any(out_pad) else None
        if taps is not None:
            params.update(dilation=dilation, groups=groups, taps=taps)
            spread = tuple(dilated_taps(t, d) for t, d in zip(taps, dilation, strict=True))
            fir = FIR(spread, _compact(stride), _compact(padding), transposed=op == "ConvTranspose")
            return "fir", [fir], params, dims, note
        if op == "ConvTranspose":
            params["output_padding"] = out_pad
            params["dilation"] = dilation
            params["groups"] = int(attrs.get("group", 1))
            spec: LayerSpec = Deconv(
                _compact(kernel),
                _compact(stride),
                _compact(padding),
                _compact(out_pad),
                _compact(dilation),
            )
            return "deconv", [spec], params, dims, note
        params["dilation"] = dilation
        params["groups"] = int(attrs.get("group", 1))
        spec = Conv(_compact(kernel), _compact(stride), _compact(padding), _compact(dilation))
        return "conv", [spec], params, dims, note
    if op in ("Resize", "Upsample"):
        return _describe_resize(node, attrs, constants, shapes)
    if op in ("DepthToSpace", "SpaceToDepth"):
        block = int(attrs.get("blocksize", 1))
        if op == "DepthToSpace":
            return "pixelshuffle", [PixelShuffle(block)], {"scale": block}, 2, ""
        return "pixelunshuffle", [AvgPool(block)], {"scale": block}, 2, ""
    if op in ("MaxPool", "AveragePool"):
        kernel = tuple(attrs.get("kernel_shape", ()))
        if not kernel:
            return None
        dims = len(kernel)
        stride = tuple(attrs.get("strides", [1] * dims))
        padding, note = _pads(attrs, dims, kernel, op)
        cls = MaxPool if op == "MaxPool" else AvgPool
        params = {"kernel": kernel, "stride": stride, "padding": padding}
        if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
            return op.lower(), [], params, dims, f"{op}: padding larger than half the kernel"
        spec = cls(_compact(kernel), _compact(stride), _compact(padding))
        return ("maxpool" if op == "MaxPool" else "avgpool"), [spec], params, dims, note
    return None


def _describe_resize(
    node: Any,
    attrs: dict[str, Any],
    constants: dict[str, np.ndarray],
    shapes: dict[str, tuple[Any, ...]],
) -> tuple[str, list[LayerSpec], dict[str, Any], int, str]:
    mode = attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    scales: np.ndarray | None = None
    # Resize: X, roi, scales, sizes (opset >= 11); Upsample / Resize-10: X, scales
    scale_index = 1 if node.op_type == "Upsample" or len(node.input) == 2 else 2
    if len(node.input) > scale_index and node.input[scale_index] in constants:
        candidate = constants[node.input[scale_index]].astype(float)
        if candidate.size:
            scales = candidate
    in_shape = shapes.get(node.input[0], ())
    out_shape = shapes.get(node.output[0], ())
    if scales is None and len(node.input) > 3 and node.input[3] in constants and in_shape:
        sizes = constants[node.input[3]].astype(float)
        if all(isinstance(s, int) for s in in_shape):
            scales = sizes / np.asarray(in_shape, dtype=float)
    known = in_shape and out_shape and all(isinstance(s, int) for s in (*in_shape, *out_shape))
    if scales is None and known and all((*in_shape, *out_shape)):
        scales = np.asarray(out_shape, dtype=float) / np.asarray(in_shape, dtype=float)
    if scales is None and "scales" in attrs:  # Upsample-7
        scales = np.asarray(attrs["scales"], dtype=float)
    rank = len(scales) if scales is not None else len(in_shape)
    dims = max(rank - 2, 1)
    params: dict[str, Any] = {"mode": mode}
    if scales is None:
        return "resize", [], params, dims, "scale not readable from the file"
    spatial = tuple(float(s) for s in scales[2:])
    params["scale"] = tuple(round(s, 4) for s in spatial)
    if not all(abs(s - round(s)) < 1e-6 and round(s) >= 1 for s in spatial):
        return "resize", [], params, dims, f"non-integer scale {spatial}: no exact pattern"
    ints = tuple(int(round(s)) for s in spatial)
    note = "" if mode in ("nearest", "linear") else f"mode {mode!r} modelled as bilinear"
    spec = Resize(_compact(ints), mode="nearest" if mode == "nearest" else "bilinear")
    return "resize", [spec], params, dims, note
