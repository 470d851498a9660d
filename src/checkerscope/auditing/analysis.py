"""Audit a real model: which layers paint a grid, at which periods, how strongly; and fix it.

``audit(model, example_input)`` runs the model once and records its data-flow graph (see
:mod:`checkerscope.auditing.tracing`): every layer or functional call that changes
resolution, with the branches between them. Each layer is judged on its own; each path
from an input to an output is compounded on its own (forward for models that upsample,
backward, i.e. the gradient, for models that downsample), and the paths are reported worst
first. Then the checkerboard score is measured on the outputs of the model re-initialised
(several seeds), of the model as given, and of the input gradients of models that
downsample. The model is left exactly as it was.

``audit_onnx(path)`` does the same for an ONNX file (its graph read with ``onnx``; with
``onnxruntime`` installed, the given weights are probed too), and ``fix(model, ...)``
returns a copy with the artifact-prone layers replaced.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> import checkerscope as cs
    >>> gen = nn.Sequential(nn.ConvTranspose2d(8, 8, 3, 2, 1, 1), nn.ReLU(),
    ...                     nn.ConvTranspose2d(8, 3, 3, 2, 1, 1))
    >>> report = cs.audit(gen, torch.randn(1, 8, 16, 16), seeds=2)
    >>> [layer.verdict for layer in report.layers]
    ['uneven overlap', 'uneven overlap']
    >>> report.periods, report.has_artifacts
    ((2, 4), True)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from checkerscope.auditing.paths import GraphPath, PathSet, graph_paths, resolution_steps
from checkerscope.auditing.probes import (
    MAX_PROBE_PERIOD,
    Probe,
    candidate_periods,
    deterministic,
    gradient_outputs,
    natural_noise,
    probe_outputs,
    reinitialise,
    score_outputs,
)
from checkerscope.auditing.rewrite import fix
from checkerscope.auditing.tracing import (
    TracedGraph,
    TracedLayer,
    run_model,
    spatial_numel,
    trace_graph,
)
from checkerscope.auditing.wrappers import is_on_meta, preserved, unwrap
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import Direction, LayerSpec, OverlapPattern, overlap

__all__ = [
    "ARTIFACT_DB",
    "EVEN",
    "FILTERED",
    "FREE",
    "MAX_PROBE_PERIOD",
    "UNEVEN",
    "AuditReport",
    "LayerFinding",
    "PathFinding",
    "Probe",
    "audit",
    "audit_onnx",
    "fix",
    "natural_noise",
    "reinitialise",
]

UNEVEN = "uneven overlap"
EVEN = "even, can learn artifacts"
FREE = "artifact-free by construction"
#: Uneven on its own, but every path through it applies a fixed low-pass filter next to it
#: (StyleGAN2's transposed convolution + [1,3,3,1], a blur before a strided conv) and the
#: pair overlaps evenly.
FILTERED = "uneven alone, evened by a fixed filter"

#: A measured score at or above this (dB over the expected energy, 10x) counts as a grid.
ARTIFACT_DB = 10.0


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class LayerFinding:
    """One layer that changes resolution, judged on its own.

    Attributes:
        index: position in execution order among the reported layers.
        name: module name (or ONNX node name).
        type: layer class or function.
        params: kernel, stride, padding, ... as read from the layer.
        specs: its ``checkerscope.theory`` specs.
        input_shape: spatial input shape.
        output_shape: spatial output shape.
        direction: ``"forward"`` for layers that upsample, ``"backward"`` for layers that
            downsample (their pattern shows in gradients).
        period: minimal period of its own overlap pattern, per axis.
        structural_period: the period its stride imposes, per axis.
        unevenness: max/min of its own pattern (1.0 even, ``inf`` with gaps).
        verdict: :data:`UNEVEN`, :data:`EVEN` or :data:`FREE`.
        fix: the suggested remedy.
        relevant: whether it counts for this model (upsampling layers of generators and
            image-to-image models; downsampling layers of models that downsample).
        model_period: the period its pattern has on the model's output grid (forward) or
            input grid (backward), per axis.
        note: anything that limited the analysis.
    """

    index: int
    name: str
    type: str
    params: dict[str, Any]
    specs: tuple[LayerSpec, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    direction: str
    period: tuple[int, ...]
    structural_period: tuple[int, ...]
    unevenness: float
    verdict: str
    fix: str
    relevant: bool
    model_period: tuple[int, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "params": {k: _plain(v) for k, v in self.params.items()},
            "specs": [s.describe() for s in self.specs],
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "direction": self.direction,
            "period": list(self.period),
            "structural_period": list(self.structural_period),
            "unevenness": _finite_or_text(self.unevenness),
            "verdict": self.verdict,
            "fix": self.fix,
            "relevant": self.relevant,
            "model_period": list(self.model_period),
            "note": self.note,
        }


@dataclass(frozen=True)
class PathFinding:
    """One path from an input to an output, compounded on its own.

    Attributes:
        source: where it starts (``"input"``, ``"input[1]"``, ``"constant in const"``).
        output: the output it reaches (``"output"``, ``"output[2][-1]"``).
        layers: names of the operations along it, in order.
        specs: what it compounds (identities left out).
        direction: ``"forward"`` or ``"backward"``, as for the whole model.
        pattern: its compounded overlap (``None`` when it has no spec or could not be
            computed; see ``note``).
        verdict: :data:`UNEVEN`, :data:`EVEN` or :data:`FREE`.
        note: what limited the analysis of this path.
    """

    source: str
    output: str
    layers: tuple[str, ...]
    specs: tuple[LayerSpec, ...]
    direction: str
    pattern: OverlapPattern | None
    verdict: str
    note: str = ""

    @property
    def period(self) -> tuple[int, ...]:
        """The compounded pattern's minimal period (all ones when even or unknown)."""
        return self.pattern.period if self.pattern is not None else ()

    @property
    def unevenness(self) -> float:
        """The compounded pattern's max/min (1.0 when even or unknown)."""
        return self.pattern.unevenness if self.pattern is not None else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "layers": list(self.layers),
            "specs": [spec.describe() for spec in self.specs],
            "direction": self.direction,
            "period": list(self.period),
            "structural_period": (
                list(self.pattern.structural_period) if self.pattern is not None else []
            ),
            "unevenness": _finite_or_text(self.unevenness),
            "verdict": self.verdict,
            "note": self.note,
        }


# --------------------------------------------------------------------------- the report


@dataclass
class AuditReport:
    """What ``audit`` (or ``audit_onnx``) found. ``print(report)`` shows a table.

    Attributes:
        model: a name for the model (class name or file name).
        source: ``"torch"`` or ``"onnx"``.
        input_shape: the example input shape (``None`` entries for dynamic ONNX axes).
        output_shape: the output shape.
        dims: spatial axes of the resolution-changing layers (1 audio, 2 images, 3 volumes).
        kind: ``"generator"`` (output larger than input), ``"downsampler"`` (smaller:
            discriminators, encoders) or ``"image-to-image"`` (same size).
        layers: the resolution-changing layers, in execution order.
        paths: every distinct path from an input to an output, compounded on its own,
            worst first (parallel branches are separate paths).
        path: the specs of the worst path (stride-1 convs included).
        forward: compounded forward overlap of ``path`` (models that upsample).
        backward: compounded backward overlap of ``path`` (models that downsample).
        init_score: probe of freshly initialised copies (``None`` without probes).
        given_score: probe of the model as given (its example input and ``seeds`` draws).
        grad_score: probe of input gradients (models that downsample).
        notes: limits of the analysis, in plain words.
        seconds: wall time of the audit.
    """

    model: str
    source: str
    input_shape: tuple[Any, ...]
    output_shape: tuple[Any, ...]
    dims: int
    kind: str
    layers: list[LayerFinding]
    path: tuple[LayerSpec, ...]
    paths: list[PathFinding] = field(default_factory=list)
    forward: OverlapPattern | None = None
    backward: OverlapPattern | None = None
    init_score: Probe | None = None
    given_score: Probe | None = None
    grad_score: Probe | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def overlap(self) -> OverlapPattern | None:
        """The compounded pattern that matters for this model (forward, else backward)."""
        return self.forward if self.forward is not None else self.backward

    @property
    def periods(self) -> tuple[int, ...]:
        """Periods (on the model's output grid, or input grid for gradients) at which the
        relevant uneven layers paint a pattern, e.g. ``(2, 4)`` for two stacked k3 s2
        deconvolutions at the end of a generator."""
        found = {
            max(layer.model_period)
            for layer in self.layers
            if layer.relevant and layer.verdict == UNEVEN and max(layer.model_period) > 1
        }
        return tuple(sorted(found))

    @property
    def structural_artifacts(self) -> bool:
        """True when a relevant layer has uneven overlap."""
        return any(layer.relevant and layer.verdict == UNEVEN for layer in self.layers)

    @property
    def high_scores(self) -> bool:
        """True when a probe scored at least :data:`ARTIFACT_DB`."""
        return any(
            probe is not None and probe.median_db >= ARTIFACT_DB
            for probe in (self.init_score, self.given_score, self.grad_score)
        )

    @property
    def measured_artifacts(self) -> bool:
        """A high score with a relevant layer that can make the pattern (not artifact-free
        by construction, nor evened by a fixed filter: a filter with a zero at the
        period's frequencies removes any pattern learned before it). A high score with no
        such layer is reported, not counted: see :attr:`notes`."""
        suspects = any(
            layer.relevant and layer.verdict not in (FREE, FILTERED) for layer in self.layers
        )
        return suspects and self.high_scores

    @property
    def has_artifacts(self) -> bool:
        """Uneven overlap in a relevant layer, or a measured grid from a layer able to make
        one (drives the CLI exit code)."""
        return self.structural_artifacts or self.measured_artifacts

    @property
    def verdict(self) -> str:
        """``"artifacts"`` or ``"clean"``."""
        return "artifacts" if self.has_artifacts else "clean"

    # ----------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """Plain values (``inf`` unevenness as the string ``"inf"``), ready for JSON."""

        def pattern(p: OverlapPattern | None) -> dict[str, Any] | None:
            if p is None:
                return None
            data = p.to_dict()
            data["unevenness"] = _finite_or_text(p.unevenness)
            if p.pattern.size > 4096:
                data["pattern"] = None
                data["axes"] = [axis.tolist() for axis in p.axes]
            return data

        return {
            "model": self.model,
            "source": self.source,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "dims": self.dims,
            "kind": self.kind,
            "verdict": self.verdict,
            "has_artifacts": self.has_artifacts,
            "periods": list(self.periods),
            "layers": [layer.to_dict() for layer in self.layers],
            "path": [spec.describe() for spec in self.path],
            "paths": [p.to_dict() for p in self.paths],
            "forward": pattern(self.forward),
            "backward": pattern(self.backward),
            "init_score": self.init_score.to_dict() if self.init_score else None,
            "given_score": self.given_score.to_dict() if self.given_score else None,
            "grad_score": self.grad_score.to_dict() if self.grad_score else None,
            "artifact_threshold_db": ARTIFACT_DB,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The report as strict JSON."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __str__(self) -> str:
        from checkerscope.auditing.render import render_text

        return render_text(self)

    def to_html(self, path: str | Path | None = None, *, fixed: AuditReport | None = None) -> str:
        """A self-contained HTML page (overlap heat map and fingerprint as inline PNGs).

        Args:
            path: where to write it (atomically); ``None`` only returns the page.
            fixed: the audit of the fixed model, for a before/after table.

        Returns:
            The HTML document.
        """
        from checkerscope.auditing.render import render_html

        page = render_html(self, fixed=fixed)
        if path is not None:
            from checkerscope._files import write_atomic

            write_atomic(path, page)
        return page


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _finite_or_text(value)
    return value


def _finite_or_text(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return float(value)


# --------------------------------------------------------------------------- judging layers


def _factors(specs: Sequence[LayerSpec], dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    up, down = [1] * dims, [1] * dims
    for spec in specs:
        for axis, (u, d) in enumerate(
            zip(spec.up_factors(dims), spec.down_factors(dims), strict=True)
        ):
            up[axis] *= u
            down[axis] *= d
    return tuple(up), tuple(down)


def _learns_phases(layer: TracedLayer) -> bool:
    """Whether the layer has learned weights that may differ per output (input) phase."""
    if layer.params.get("tied_phases"):  # stored weights known to sum equally per phase
        return False
    if layer.family in ("deconv", "conv", "pixelshuffle", "maxpool"):
        return True
    if layer.family == "layer":
        return any(type(s).__name__ in ("Deconv", "PixelShuffle") for s in layer.specs)
    return False


def _suggested_fix(layer: TracedLayer, direction: str, verdict: str) -> str:
    d = layer.dims
    if verdict == FREE:
        return "-"
    if layer.family == "deconv":
        return f"ResizeConv{d}d (cs.fix)"
    if layer.family == "pixelshuffle":
        return "ICNR init or ResizeConv2d (cs.fix)"
    if layer.family == "conv" and direction == "backward":
        return f"BlurPool{d}d (cs.fix --downsample)"
    if layer.family == "maxpool":
        return f"MaxBlurPool{d}d (cs.fix --downsample)"
    if layer.family in ("zero-insertion", "fir"):
        return "a low-pass FIR filter after it (as StyleGAN2's [1,3,3,1])"
    if layer.family == "layer":
        return f"ResizeConv{d}d"
    return "resize-conv or blur-pool"


def _direction(text: str) -> Direction:
    return "backward" if text == "backward" else "forward"


def _judge(layer: TracedLayer) -> tuple[str, OverlapPattern | None, str]:
    """(direction, own pattern, verdict) of one layer."""
    up, down = _factors(layer.specs, layer.dims)
    direction = "backward" if math.prod(down) > math.prod(up) else "forward"
    if not layer.specs:
        return direction, None, FREE
    own = overlap(list(layer.specs), dims=layer.dims, direction=_direction(direction))
    if not own.is_even:
        verdict = UNEVEN
    elif _learns_phases(layer) and max(own.structural_period) > 1:
        verdict = EVEN
    else:
        verdict = FREE
    return direction, own, verdict


def _changes_resolution(layer: TracedLayer) -> bool:
    if layer.family in ("conv", "fir"):
        up, down = _factors(layer.specs, layer.dims) if layer.specs else ((1,), (1,))
        strided = any(s > 1 for s in layer.params.get("stride", (1,)))
        return strided or max(up) > 1 or max(down) > 1
    return True


_VERDICT_RANK = {UNEVEN: 0, EVEN: 1, FILTERED: 2, FREE: 3}


def _is_fixed_filter(layer: TracedLayer) -> bool:
    """A low-pass whose weights are fixed: an FIR filter, average pooling, a BlurPool."""
    if layer.family in ("fir", "avgpool"):
        return True
    return layer.family == "layer" and "BlurPool" in layer.type


def _neighbouring_filters(
    nodes: Sequence[TracedLayer], position: int, dims: int, direction: str
) -> list[LayerSpec]:
    """The specs of ``nodes[position]`` together with the fixed filters next to it on the
    side the pattern travels (after it forward, before it backward), looking past learned
    stride-1 convolutions and stopping at the next change of rate."""
    specs = list(nodes[position].specs)
    step = 1 if direction == "forward" else -1
    index = position + step
    while 0 <= index < len(nodes):
        node = nodes[index]
        if node.dims != dims:
            break
        if _is_fixed_filter(node):
            specs = specs + list(node.specs) if step == 1 else list(node.specs) + specs
            if _changes_resolution(node):
                break
        elif _changes_resolution(node):
            break
        index += step
    return specs


# --------------------------------------------------------------------------- paths


def _path_scales(
    nodes: Sequence[TracedLayer], dims: int, direction: str
) -> list[tuple[float, ...]]:
    """For each node of a path, how its own period scales onto the model's output grid
    (forward: by the rate changes after it) or input grid (backward: before it)."""
    factors = [_factors(n.specs, dims) if n.dims == dims else ((1,) * dims,) * 2 for n in nodes]
    scales = []
    for position in range(len(nodes)):
        if direction == "forward":
            later = factors[position + 1 :]
            scale = tuple(
                math.prod(f[0][a] for f in later) / math.prod(f[1][a] for f in later)
                for a in range(dims)
            )
        else:
            earlier = factors[:position]
            scale = tuple(
                math.prod(f[1][a] for f in earlier) / math.prod(f[0][a] for f in earlier)
                for a in range(dims)
            )
        scales.append(scale)
    return scales


def _compound_path(specs: Sequence[LayerSpec], dims: int, direction: str) -> tuple[Any, str]:
    if not specs:
        return None, ""
    try:
        return overlap(list(specs), dims=dims, direction=_direction(direction)), ""
    except CheckerscopeError as exc:
        return None, f"not compounded: {exc}"


def _kind_of_paths(found: PathSet, dims: int) -> str | None:
    """What the deepest path does to the sampling rate: ``"generator"`` (raises it),
    ``"downsampler"`` (lowers it), ``"image-to-image"`` (both, cancelling), or ``None``
    when no path changes it."""
    deepest = max(found.paths, key=lambda p: len(resolution_steps(p.specs, dims)), default=None)
    if deepest is None or not resolution_steps(deepest.specs, dims):
        return None
    up, down = _factors(deepest.specs, dims)
    rate = math.prod(up) / math.prod(down)
    if rate > 1:
        return "generator"
    return "downsampler" if rate < 1 else "image-to-image"


def model_kind(
    found: PathSet, dims: int, in_spatial: Sequence[int], out_spatial: Sequence[int]
) -> tuple[str, str]:
    """The model's kind and a note where its sizes alone would mislead: an unpadded U-Net
    returns a smaller map than it takes (its convolutions crop the borders), yet its rate
    changes cancel, so it is judged as image-to-image (forward), not as a discriminator."""
    by_size = _kind(in_spatial, out_spatial)
    by_rate = _kind_of_paths(found, dims)
    if by_rate is None or by_rate == by_size:
        return by_size, ""
    size_in, size_out = "x".join(map(str, in_spatial)), "x".join(map(str, out_spatial))
    return by_rate, (
        f"judged as {by_rate}: its rate changes give that, although the output "
        f"({size_out}) and input ({size_in}) sizes differ (borders cropped or padded)"
    )


def build_findings(
    graph: TracedGraph, dims: int, kind: str, found: PathSet | None = None
) -> tuple[list[LayerFinding], list[PathFinding], list[str]]:
    """Judge the graph's layers and paths; return the layer findings, the path findings
    (worst first) and notes."""
    notes: list[str] = list(graph.notes)
    direction = "backward" if kind == "downsampler" else "forward"
    layers = graph.layers
    by_index: dict[int, TracedLayer] = {layer.index: layer for layer in layers}
    skipped = {t.type for t in layers if t.dims != dims}
    if skipped:
        notes.append(f"layers with other than {dims} spatial axes left out: {sorted(skipped)}")
    for layer in layers:
        if layer.note and layer.dims == dims:
            notes.append(f"{layer.name} ({layer.type}): {layer.note}")
    judged = {
        layer.index: _judge(layer)
        for layer in layers
        if layer.dims == dims and _changes_resolution(layer)
    }
    if found is None:
        found = graph_paths(graph, dims)
    if found.merged:
        notes.append(
            f"{found.merged} paths with the same resolution steps as others were merged "
            "(the shortest and longest of each kind are kept)"
        )
    model_periods: dict[int, list[int]] = {}
    paths: list[PathFinding] = []
    for path in found.paths:
        nodes = [by_index[i] for i in path.nodes]
        for node, scale in zip(nodes, _path_scales(nodes, dims, direction), strict=True):
            if node.index not in judged:
                continue
            _, own, _ = judged[node.index]
            period = own.period if own is not None else (1,) * dims
            mapped = [
                max(1, round(p * s)) if p > 1 else 1 for p, s in zip(period, scale, strict=True)
            ]
            best = model_periods.setdefault(node.index, [1] * dims)
            model_periods[node.index] = [max(a, b) for a, b in zip(best, mapped, strict=True)]
        paths.append(_path_finding(path, nodes, dims, direction, judged))
    paths.sort(key=_severity)
    paths, alike = _merge_alike(paths)
    if alike:
        notes.append(
            f"{alike} more paths differ from a listed one only in layers that cannot shape "
            "the pattern (stride-1 layers before the first upsampler, or after the last "
            "downsampler for gradients): listed once"
        )
    filtered = _evened_by_filters(found.paths, by_index, judged, dims)
    findings: list[LayerFinding] = []
    for layer in layers:
        if layer.index not in judged:
            continue
        layer_direction, own, verdict = judged[layer.index]
        if verdict == UNEVEN and layer.index in filtered:
            verdict = FILTERED
        period = own.period if own is not None else (1,) * dims
        relevant = (layer_direction == "forward") == (kind != "downsampler")
        findings.append(
            LayerFinding(
                index=len(findings),
                name=layer.name,
                type=layer.type,
                params=dict(layer.params),
                specs=layer.specs,
                input_shape=layer.input_shape,
                output_shape=layer.output_shape,
                direction=layer_direction,
                period=tuple(period),
                structural_period=(
                    tuple(own.structural_period) if own is not None else (1,) * dims
                ),
                unevenness=own.unevenness if own is not None else 1.0,
                verdict=verdict,
                fix=_suggested_fix(layer, layer_direction, verdict),
                relevant=relevant,
                model_period=tuple(model_periods.get(layer.index, period)),
                note=layer.note,
            )
        )
    return findings, paths, notes


def _steady_specs(path: PathFinding) -> tuple[LayerSpec, ...]:
    """The specs that decide a path's steady-state pattern: from the first upsampler on
    (forward: before it the map is uniform), or up to the last downsampler (backward)."""

    def scales(spec: LayerSpec, attribute: str) -> bool:
        value = getattr(spec, attribute)
        return any(v > 1 for v in (value if isinstance(value, tuple) else (value,)))

    specs = path.specs
    if path.direction == "forward":
        first = next((i for i, spec in enumerate(specs) if scales(spec, "upsampling")), 0)
        return specs[first:]
    last = max((i for i, spec in enumerate(specs) if scales(spec, "downsampling")), default=-1)
    return specs[: last + 1] if last >= 0 else specs


def _merge_alike(paths: list[PathFinding]) -> tuple[list[PathFinding], int]:
    """Paths (worst first) without those that repeat an earlier one's source, output,
    verdict, pattern and steady-state specs; and how many were dropped."""
    kept: list[PathFinding] = []
    seen: set[tuple[Any, ...]] = set()
    for path in paths:
        key = (
            path.source,
            path.output,
            path.verdict,
            path.period,
            round(path.unevenness, 9) if math.isfinite(path.unevenness) else path.unevenness,
            _steady_specs(path),
        )
        if key in seen:
            continue
        seen.add(key)
        kept.append(path)
    return kept, len(paths) - len(kept)


def _evened_by_filters(
    paths: Sequence[GraphPath],
    by_index: dict[int, TracedLayer],
    judged: dict[int, tuple[str, OverlapPattern | None, str]],
    dims: int,
) -> set[int]:
    """Uneven layers that every path through them pairs with a fixed filter, evenly."""
    evened: dict[int, bool] = {}
    for path in paths:
        nodes = [by_index[i] for i in path.nodes]
        for position, node in enumerate(nodes):
            if node.index not in judged or judged[node.index][2] != UNEVEN:
                continue
            direction = judged[node.index][0]
            specs = _neighbouring_filters(nodes, position, dims, direction)
            even = len(specs) > len(node.specs)
            if even:
                pattern, _ = _compound_path(specs, dims, direction)
                even = pattern is not None and pattern.is_even
            evened[node.index] = evened.get(node.index, True) and even
    return {index for index, even in evened.items() if even}


def _path_finding(
    path: GraphPath,
    nodes: Sequence[TracedLayer],
    dims: int,
    direction: str,
    judged: dict[int, tuple[str, OverlapPattern | None, str]],
) -> PathFinding:
    pattern, note = _compound_path(path.specs, dims, direction)
    if pattern is not None and not pattern.is_even:
        verdict = UNEVEN
    elif any(
        judged[n.index][2] == EVEN and judged[n.index][0] == direction
        for n in nodes
        if n.index in judged
    ):
        verdict = EVEN
    else:
        verdict = FREE
    return PathFinding(
        source=path.source,
        output=path.output,
        layers=tuple(n.name for n in nodes),
        specs=path.specs,
        direction=direction,
        pattern=pattern,
        verdict=verdict,
        note=note,
    )


def _severity(path: PathFinding) -> tuple[int, float, int, int]:
    """Worst first: uneven, then most uneven, then the longest period, then shortest."""
    unevenness = path.unevenness
    return (
        _VERDICT_RANK[path.verdict],
        -(unevenness if not math.isnan(unevenness) else 0.0),
        -max(path.period, default=1),
        len(path.specs),
    )


# --------------------------------------------------------------------------- audit


def _model_dims(layers: Sequence[TracedLayer]) -> int:
    resolution = [t.dims for t in layers if _changes_resolution(t)] or [t.dims for t in layers]
    if not resolution:
        return 2
    return max(set(resolution), key=resolution.count)


def _kind(in_spatial: Sequence[int], out_spatial: Sequence[int]) -> str:
    n_in, n_out = spatial_numel(in_spatial), spatial_numel(out_spatial)
    if n_out > n_in:
        return "generator"
    if n_out < n_in:
        return "downsampler"
    return "image-to-image"


def _spatial_of(tensor: Any, dims: int) -> tuple[int, ...]:
    if not isinstance(tensor, torch.Tensor) or tensor.dim() < dims + 2:
        return ()
    return tuple(int(s) for s in tensor.shape[-dims:])


_RESAMPLING = (
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Upsample,
    nn.PixelShuffle,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
)


def _unreached_layers(model: nn.Module, layers: Sequence[TracedLayer]) -> list[str]:
    """Resolution-changing modules of ``model`` that the example input did not run."""
    ran = {id(t.module) for t in layers if t.module is not None}
    found: list[str] = []
    skip_inside: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip_inside):
            continue
        layer_like = callable(getattr(module, "overlap_specs", None))
        if layer_like:
            skip_inside.append(name)
        strided = isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and any(
            s > 1 for s in module.stride
        )
        if (layer_like or strided or isinstance(module, _RESAMPLING)) and id(module) not in ran:
            found.append(f"{name or '(model)'} ({type(module).__name__})")
    return found


def _worst(paths: Sequence[PathFinding], kind: str) -> tuple[Any, Any, tuple[LayerSpec, ...]]:
    """(forward, backward, specs) of the worst path that has a pattern."""
    for path in paths:
        if path.pattern is not None:
            if kind == "downsampler":
                return None, path.pattern, path.specs
            return path.pattern, None, path.specs
    return None, None, ()


def audit(
    model: nn.Module,
    example_input: Any,
    *,
    seeds: int = 4,
    probe: bool = True,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Find the layers that make checkerboard artifacts in ``model`` and measure them.

    Args:
        model: any ``torch.nn.Module``, also wrapped by ``torch.compile`` or
            (Distributed)DataParallel, with legacy or parametrized weight / spectral norm,
            or on the meta device (structure only). It is left exactly as it was.
        example_input: a tensor of the model's input shape, batch first (or a tuple of
            tensors passed positionally). A generator's latent ``(N, 100, 1, 1)`` is fine.
        seeds: number of re-initialisations scored (also the number of input draws for
            the model as given and for gradients).
        probe: measure scores (set ``False`` for the structural report only).
        name: a name for the report (default: the model's class name).
        progress: called with a short message after each forward pass of the probes.

    Returns:
        An :class:`AuditReport`.

    Raises:
        CheckerscopeError: if the model is not a module or fails on the example input.
    """
    start = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise CheckerscopeError(f"audit needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise CheckerscopeError(f"seeds must be a positive int, got {seeds!r}")
    model, notes = unwrap(model)
    with preserved(model):  # a forward in training mode updates batch-norm statistics
        graph = trace_graph(model, example_input)
    output = graph.output
    layers = graph.layers
    dims = _model_dims(layers)
    first = example_input[0] if isinstance(example_input, (tuple, list)) else example_input
    in_spatial, out_spatial = _spatial_of(first, dims), _spatial_of(output, dims)
    found = graph_paths(graph, dims)
    kind, kind_note = model_kind(found, dims, in_spatial, out_spatial)
    if kind_note:
        notes.append(kind_note)
    findings, paths, found_notes = build_findings(graph, dims, kind, found)
    notes += found_notes
    forward, backward, worst = _worst(paths, kind)
    if not findings:
        notes.append("no layer changes resolution: no periodic pattern can arise")
    unreached = _unreached_layers(model, layers)
    if unreached:
        notes.append(
            "not run on this example input, so not audited (unused by this forward, or behind "
            "data-dependent control flow): " + ", ".join(unreached)
        )
    report = AuditReport(
        model=name or type(model).__name__,
        source="torch",
        input_shape=tuple(first.shape) if isinstance(first, torch.Tensor) else (),
        output_shape=tuple(output.shape) if output is not None else (),
        dims=dims,
        kind=kind,
        layers=findings,
        path=worst,
        paths=paths,
        forward=forward,
        backward=backward,
        notes=notes,
    )
    if probe and is_on_meta(model):
        report.notes.append("the model is on the meta device: structure only, no scores")
    elif probe:
        _run_probes(report, model, example_input, seeds, out_spatial, progress)
    report.seconds = time.perf_counter() - start
    return report


def _run_probes(
    report: AuditReport,
    model: nn.Module,
    example: Any,
    seeds: int,
    out_spatial: tuple[int, ...],
    progress: Callable[[str], None] | None,
) -> None:
    dims = report.dims
    batch = 2  # batch norm in training mode needs more than one value per channel
    total = 2 * seeds + 1 if report.kind != "downsampler" else seeds
    done = [0]

    def step(what: str) -> Callable[[], None]:
        def tick() -> None:
            done[0] += 1
            if progress is not None:
                progress(f"{what}: forward pass {done[0]} of {total}")

        return tick

    if report.kind != "downsampler" and out_spatial:
        structural = report.forward.structural_period if report.forward else (2,)
        periods = candidate_periods(structural, out_spatial)
        fresh = probe_outputs(model, example, seeds, batch, dims, True, step("init"))
        report.init_score = score_outputs(fresh, periods, dims, "init")
        given = probe_outputs(model, example, seeds, batch, dims, False, step("given"))
        with preserved(model), torch.no_grad(), deterministic(model, seed=5000):
            own = run_model(model, example).float()  # the user's own example counts too
        step("example")()
        if own.shape[1:] == given.shape[1:]:
            given = torch.cat([own, given])
        report.given_score = score_outputs(given, periods, dims, "given")
    if report.kind == "downsampler":
        in_spatial = tuple(report.input_shape[-dims:]) if len(report.input_shape) > dims else ()
        structural = report.backward.structural_period if report.backward else (2,)
        periods = candidate_periods(structural, in_spatial)
        grads = gradient_outputs(model, example, seeds, batch, dims, step("gradient"))
        if grads is not None:
            report.grad_score = score_outputs(grads, periods, dims, "gradient")
    if report.init_score is None and report.grad_score is None:
        report.notes.append("output too small to measure a periodic pattern")
    elif report.high_scores and not report.measured_artifacts:
        report.notes.append(
            f"a score of {ARTIFACT_DB:g} dB or more was measured, but every relevant layer is "
            "artifact-free by construction or evened by a fixed filter, so it does not count: "
            "with white-noise-like features (random init) the phases of a nearest resize + "
            "conv differ in variance, and an activation turns that into a weak mean pattern "
            "that smooth features lack"
        )


# --------------------------------------------------------------------------- ONNX


def audit_onnx(
    path: str | Path,
    *,
    probe: bool | None = None,
    seeds: int = 4,
    input_shape: Sequence[int] | None = None,
) -> AuditReport:
    """The audit of an ONNX model: its graph read with ``onnx``, its weights probed with
    ``onnxruntime``.

    Reads ``ConvTranspose``, ``Conv``, ``Resize`` / ``Upsample``, ``DepthToSpace`` and
    ``MaxPool`` / ``AveragePool`` nodes with their attributes and the data flow between
    them, and judges layers and paths as :func:`audit` does. With ``onnxruntime``
    installed, models that upsample or keep the size are also run on ``seeds`` random inputs
    and their outputs scored, like :func:`audit`'s "weights as given" probe, so both audits
    of the same weights reach the same verdict (input gradients are not available through
    ``onnxruntime``: models that downsample are judged on structure).

    Args:
        path: the ``.onnx`` file.
        probe: run the weights (default: when ``onnxruntime`` is installed).
        seeds: input draws for the probe.
        input_shape: the first input's shape where the file leaves axes dynamic.

    Raises:
        CheckerscopeError: if ``onnx`` is missing, the file is not a valid ONNX model, or
            ``probe=True`` without ``onnxruntime``.
    """
    from checkerscope.auditing.onnx_model import read_onnx
    from checkerscope.auditing.onnx_probe import onnxruntime_available, probe_onnx

    start = time.perf_counter()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise CheckerscopeError(f"seeds must be a positive int, got {seeds!r}")
    model = read_onnx(path)
    layers = model.graph.layers
    dims = _model_dims(layers)
    in_spatial = _known_spatial(model.input_shape, dims)
    out_spatial = _known_spatial(model.output_shape, dims)
    found = graph_paths(model.graph, dims)
    kind_note = ""
    if in_spatial is not None and out_spatial is not None:
        kind, kind_note = model_kind(found, dims, in_spatial, out_spatial)
    else:  # dynamic axes: decide from the rate changes
        kind = _kind_of_paths(found, dims) or "image-to-image"
    findings, paths, notes = build_findings(model.graph, dims, kind, found)
    if kind_note:
        notes.insert(0, kind_note)
    forward, backward, worst = _worst(paths, kind)
    report = AuditReport(
        model=Path(path).name,
        source="onnx",
        input_shape=model.input_shape,
        output_shape=model.output_shape,
        dims=dims,
        kind=kind,
        layers=findings,
        path=worst,
        paths=paths,
        forward=forward,
        backward=backward,
        notes=[*model.notes, *notes],
    )
    available = onnxruntime_available()
    if probe and not available:
        raise CheckerscopeError(
            "probing ONNX files needs onnxruntime: pip install 'checkerscope[onnx]'"
        )
    if probe is None:
        probe = available
        if not available:
            report.notes.append("onnxruntime is not installed: structure only, no scores")
    if probe and kind != "downsampler":
        structural = forward.structural_period if forward is not None else (2,)
        report.given_score = probe_onnx(path, structural, dims, seeds, input_shape)
    elif probe:
        report.notes.append(
            "input gradients are not available through onnxruntime: judged on structure"
        )
    report.seconds = time.perf_counter() - start
    return report


def _known_spatial(shape: Sequence[Any], dims: int) -> tuple[int, ...] | None:
    if len(shape) < 2:
        return ()
    spatial = tuple(shape[2:])
    if len(spatial) < dims:
        return ()
    if any(not isinstance(s, int) for s in spatial):
        return None
    return tuple(spatial[-dims:])
