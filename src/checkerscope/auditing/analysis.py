"""Audit a real model: which layers paint a grid, at which periods, how strongly; and fix it.

``audit(model, example_input)`` runs the model once to discover every layer that changes
resolution (see :mod:`checkerscope.auditing.tracing`), maps each to ``checkerscope.theory``
specs and judges it; compounds the whole path from input to output (forward for models
that upsample, backward, i.e. the gradient, for models that downsample); then measures
the checkerboard score of the outputs of freshly initialised copies (several seeds), of
the model as given, and of the input gradients of models that downsample.

``audit_onnx(path)`` gives the same structural report for an ONNX file (no probes), and
``fix(model, ...)`` returns a copy with the artifact-prone layers replaced.

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

import copy
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from checkerscope.auditing.rewrite import fix
from checkerscope.auditing.tracing import TracedLayer, run_model, spatial_numel, trace_layers
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import LayerSpec, OverlapPattern, overlap

__all__ = [
    "ARTIFACT_DB",
    "EVEN",
    "FREE",
    "UNEVEN",
    "AuditReport",
    "LayerFinding",
    "Probe",
    "audit",
    "audit_onnx",
    "fix",
]

UNEVEN = "uneven overlap"
EVEN = "even, can learn artifacts"
FREE = "artifact-free by construction"

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
class Probe:
    """A measured checkerboard score (median over samples) at each candidate period.

    Attributes:
        what: ``"init"`` (fresh random weights, one model per seed), ``"given"`` (the
            model's own weights) or ``"gradient"`` (``d sum(model(x)) / dx``).
        db_by_period: median score in dB for each period scored.
        period: the dominant period (highest median score).
        db: per-sample scores at the dominant period.
        fingerprint: mean polyphase pattern at the dominant period (what the grid looks
            like), ``(p, p)`` for images, ``(p,)`` for signals.
        samples: number of outputs scored.
    """

    what: str
    db_by_period: dict[int, float]
    period: int
    db: np.ndarray
    fingerprint: np.ndarray
    samples: int

    @property
    def median_db(self) -> float:
        """The median score at the dominant period."""
        return self.db_by_period[self.period]

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "period": self.period,
            "median_db": round(self.median_db, 3),
            "db_by_period": {str(p): round(v, 3) for p, v in self.db_by_period.items()},
            "db": [round(float(v), 3) for v in self.db],
            "fingerprint": np.round(self.fingerprint, 6).tolist(),
            "samples": self.samples,
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
        path: every spec on the path from input to output (stride-1 convs included).
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
        by construction). A high score with no such layer is reported, not counted: see
        :attr:`notes`."""
        suspects = any(layer.relevant and layer.verdict != FREE for layer in self.layers)
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
        return "ICNR init or ResizeConv2d"
    if layer.family == "conv" and direction == "backward":
        return f"conv s1 + BlurPool{d}d (cs.fix --downsample)"
    if layer.family == "maxpool":
        return f"max pool s1 + BlurPool{d}d"
    if layer.family == "layer":
        return f"ResizeConv{d}d"
    return "resize-conv or blur-pool"


def _judge(layer: TracedLayer) -> tuple[str, OverlapPattern | None, str]:
    """(direction, own pattern, verdict) of one layer."""
    up, down = _factors(layer.specs, layer.dims)
    direction = "backward" if math.prod(down) > math.prod(up) else "forward"
    if not layer.specs:
        return direction, None, FREE
    own = overlap(list(layer.specs), dims=layer.dims, direction=direction)
    if not own.is_even:
        verdict = UNEVEN
    elif _learns_phases(layer) and max(own.structural_period) > 1:
        verdict = EVEN
    else:
        verdict = FREE
    return direction, own, verdict


def _changes_resolution(layer: TracedLayer) -> bool:
    if layer.family == "conv":
        return any(s > 1 for s in layer.params.get("stride", (1,)))
    return True


# --------------------------------------------------------------------------- probes


def _post_order(module: nn.Module) -> Iterator[nn.Module]:
    for child in module.children():
        yield from _post_order(child)
    yield module


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """A deep copy of ``model`` with every ``reset_parameters()`` called under ``seed``.

    Children are reset before their parents, so a layer that re-initialises its own
    children (ICNR in ``cs.nn.SubPixelConv2d``) has the last word. The global RNG state is
    left as it was.

    Examples:
        >>> a = reinitialise(nn.Linear(3, 2), seed=1)
        >>> b = reinitialise(nn.Linear(3, 2), seed=1)
        >>> bool(torch.equal(a.weight, b.weight))
        True
    """
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in _post_order(fresh):
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    return fresh


#: Longest period scored: longer ones sit at low frequencies that image content dominates.
MAX_PROBE_PERIOD = 16


def _candidate_periods(structural: Sequence[int], spatial: Sequence[int]) -> list[int]:
    period = max(structural) if structural else 2
    size = min(spatial) if spatial else 0
    found = [
        p for p in range(2, min(period, MAX_PROBE_PERIOD) + 1) if period % p == 0 and 2 * p <= size
    ]
    if not found and size >= 4:
        found = [2]
    return found


def natural_noise(
    shape: Sequence[int], dims: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian noise with a natural image's ``1/f`` amplitude spectrum on the last ``dims``
    axes, unit variance per sample.

    White noise is the wrong probe for image-to-image models: it makes the neighbouring
    outputs of a nearest resize differ as much as distant ones, which no photograph does.

    Examples:
        >>> x = natural_noise((2, 3, 32, 32), dims=2, generator=torch.Generator().manual_seed(0))
        >>> tuple(x.shape), round(float(x[0].std()), 2)
        ((2, 3, 32, 32), 1.0)
    """
    white = torch.randn(tuple(shape), generator=generator)
    axes = tuple(range(-dims, 0))
    spectrum = torch.fft.rfftn(white, dim=axes)
    grids = []
    for i, axis in enumerate(axes):
        n = white.shape[axis]
        freq = torch.fft.rfftfreq(n) if i == dims - 1 else torch.fft.fftfreq(n)
        view = [1] * dims
        view[i] = -1
        grids.append(freq.reshape(view) ** 2)
    radius = torch.sqrt(sum(grids)).clamp_min(1.0 / max(white.shape[a] for a in axes))
    noise = torch.fft.irfftn(spectrum / radius, s=white.shape[-dims:], dim=axes)
    flat = noise.reshape(noise.shape[0], -1)
    flat = (flat - flat.mean(dim=1, keepdim=True)) / flat.std(dim=1, keepdim=True)
    return flat.reshape(noise.shape)


def _probe_inputs(example: Any, seed: int, batch: int, dims: int = 2) -> Any:
    generator = torch.Generator().manual_seed(seed)

    def draw(x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            return x
        shape = (batch, *x.shape[1:]) if x.dim() else x.shape
        if x.dim() >= dims + 2 and min(shape[-dims:]) >= 8:  # an image (or a sound)
            noise = natural_noise(shape, dims, generator)
        else:  # a latent code: white by definition
            noise = torch.randn(shape, generator=generator)
        return noise.to(dtype=x.dtype, device=x.device)

    if isinstance(example, (tuple, list)):
        return tuple(draw(x) for x in example)
    return draw(example)


def _score(outputs: torch.Tensor, periods: Sequence[int], dims: int, what: str) -> Probe | None:
    from checkerscope.metrics import checkerboard_score

    if not periods:
        return None
    outputs = outputs.detach().float().cpu()
    if dims == 1:
        outputs = outputs.reshape(outputs.shape[0], -1, outputs.shape[-1])
    elif dims == 3:  # score the middle depth slice of volumes
        outputs = outputs[:, :, outputs.shape[2] // 2]
    by_period: dict[int, Any] = {}
    for p in periods:
        by_period[p] = checkerboard_score(outputs, period=p, dims=1 if dims == 1 else 2)
    medians = {p: float(np.median(s.db)) for p, s in by_period.items()}
    best = max(medians, key=lambda p: medians[p])
    score = by_period[best]
    return Probe(
        what=what,
        db_by_period=medians,
        period=best,
        db=np.asarray(score.db, dtype=float),
        fingerprint=np.asarray(score.fingerprint, dtype=float).mean(axis=0),
        samples=int(len(score.db)),
    )


def _collect(models: Sequence[nn.Module], example: Any, batch: int, dims: int) -> torch.Tensor:
    outputs = []
    with torch.no_grad():
        for i, model in enumerate(models):
            inputs = _probe_inputs(example, 1000 + i, batch, dims)
            outputs.append(run_model(model, inputs).float())
    return torch.cat(outputs)


def _gradients(
    model: nn.Module, example: Any, seeds: int, batch: int, dims: int
) -> torch.Tensor | None:
    if not isinstance(example, torch.Tensor) or not example.is_floating_point():
        return None
    was_training = model.training
    model.eval()
    grads = []
    try:
        for i in range(seeds):
            x = _probe_inputs(example, 2000 + i, batch, dims).requires_grad_(True)
            (grad,) = torch.autograd.grad(run_model(model, x).sum(), x)
            grads.append(grad)
    finally:
        model.train(was_training)
    return torch.cat(grads)


# --------------------------------------------------------------------------- audit


def _model_dims(traced: Sequence[TracedLayer]) -> int:
    resolution = [t.dims for t in traced if _changes_resolution(t)] or [t.dims for t in traced]
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


def build_findings(
    traced: Sequence[TracedLayer], dims: int, kind: str
) -> tuple[list[LayerFinding], tuple[LayerSpec, ...], list[str]]:
    """Judge the traced layers; return the findings, the path specs and notes."""
    notes: list[str] = []
    on_path = [t for t in traced if t.dims == dims]
    skipped = {t.type for t in traced if t.dims != dims}
    if skipped:
        notes.append(f"layers with other than {dims} spatial axes left out: {sorted(skipped)}")
    path: list[LayerSpec] = []
    for t in on_path:
        if t.note:
            notes.append(f"{t.name} ({t.type}): {t.note}")
        pointwise = all(k == 1 for k in t.params.get("kernel", (1,)))
        if t.family == "conv" and not _changes_resolution(t) and pointwise:
            continue
        path.extend(t.specs)
    # factors before/after each layer, for the period a layer leaves on the model's grid
    factors = [_factors(t.specs, dims) if t.specs else ((1,) * dims, (1,) * dims) for t in on_path]
    findings: list[LayerFinding] = []
    for position, t in enumerate(on_path):
        if not _changes_resolution(t):
            continue
        direction, own, verdict = _judge(t)
        period = own.period if own is not None else (1,) * dims
        structural = own.structural_period if own is not None else (1,) * dims
        if direction == "forward":
            later = factors[position + 1 :]
            scale = [
                math.prod(f[0][a] for f in later) / math.prod(f[1][a] for f in later)
                for a in range(dims)
            ]
            relevant = kind != "downsampler"
        else:
            earlier = factors[:position]
            scale = [
                math.prod(f[1][a] for f in earlier) / math.prod(f[0][a] for f in earlier)
                for a in range(dims)
            ]
            relevant = kind == "downsampler"
        model_period = tuple(
            max(1, round(p * s)) if p > 1 else 1 for p, s in zip(period, scale, strict=True)
        )
        findings.append(
            LayerFinding(
                index=len(findings),
                name=t.name,
                type=t.type,
                params=dict(t.params),
                specs=t.specs,
                input_shape=t.input_shape,
                output_shape=t.output_shape,
                direction=direction,
                period=tuple(period),
                structural_period=tuple(structural),
                unevenness=own.unevenness if own is not None else 1.0,
                verdict=verdict,
                fix=_suggested_fix(t, direction, verdict),
                relevant=relevant,
                model_period=model_period,
                note=t.note,
            )
        )
    return findings, tuple(path), notes


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


def _unreached_layers(model: nn.Module, traced: Sequence[TracedLayer]) -> list[str]:
    """Resolution-changing modules of ``model`` that the example input did not run."""
    ran = {id(t.module) for t in traced if t.module is not None}
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


def _compound(path: Sequence[LayerSpec], dims: int, kind: str):
    forward = backward = None
    if path:
        if kind != "downsampler":
            forward = overlap(list(path), dims=dims, direction="forward")
        else:
            backward = overlap(list(path), dims=dims, direction="backward")
    return forward, backward


def audit(
    model: nn.Module,
    example_input: Any,
    *,
    seeds: int = 4,
    probe: bool = True,
    name: str | None = None,
) -> AuditReport:
    """Find the layers that make checkerboard artifacts in ``model`` and measure them.

    Args:
        model: any ``torch.nn.Module`` (left unchanged; probes use deep copies).
        example_input: a tensor of the model's input shape, batch first (or a tuple of
            tensors passed positionally). A generator's latent ``(N, 100, 1, 1)`` is fine.
        seeds: number of freshly initialised copies scored (also the number of input
            draws for the model as given and for gradients).
        probe: measure scores (set ``False`` for the structural report only).
        name: a name for the report (default: the model's class name).

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
    # forward passes in training mode update batch-norm statistics: work on a copy
    model = copy.deepcopy(model)
    traced = trace_layers(model, example_input)
    with torch.no_grad():
        output = run_model(model, example_input)
    dims = _model_dims(traced)
    first = example_input[0] if isinstance(example_input, (tuple, list)) else example_input
    in_spatial, out_spatial = _spatial_of(first, dims), _spatial_of(output, dims)
    kind = _kind(in_spatial, out_spatial)
    findings, path, notes = build_findings(traced, dims, kind)
    forward, backward = _compound(path, dims, kind)
    if not findings:
        notes.append("no layer changes resolution: no periodic pattern can arise")
    unreached = _unreached_layers(model, traced)
    if unreached:
        notes.append(
            "not run on this example input (data-dependent control flow?), so not audited: "
            + ", ".join(unreached)
        )
    report = AuditReport(
        model=name or type(model).__name__,
        source="torch",
        input_shape=tuple(first.shape) if isinstance(first, torch.Tensor) else (),
        output_shape=tuple(output.shape),
        dims=dims,
        kind=kind,
        layers=findings,
        path=path,
        forward=forward,
        backward=backward,
        notes=notes,
    )
    if probe:
        _run_probes(report, model, example_input, seeds, out_spatial)
    report.seconds = time.perf_counter() - start
    return report


def _run_probes(
    report: AuditReport, model: nn.Module, example: Any, seeds: int, out_spatial: tuple
) -> None:
    dims = report.dims
    batch = 2  # batch norm in training mode needs more than one value per channel
    if report.kind != "downsampler" and out_spatial:
        structural = report.forward.structural_period if report.forward else (2,)
        periods = _candidate_periods(structural, out_spatial)
        fresh = [reinitialise(model, seed) for seed in range(seeds)]
        report.init_score = _score(_collect(fresh, example, batch, dims), periods, dims, "init")
        given = _collect([model] * seeds, example, batch, dims)
        with torch.no_grad():  # the user's own example counts too (a real image, say)
            own = run_model(model, example).float()
        if own.shape[1:] == given.shape[1:]:
            given = torch.cat([own, given])
        report.given_score = _score(given, periods, dims, "given")
    if report.kind == "downsampler":
        in_spatial = tuple(report.input_shape[-dims:]) if len(report.input_shape) > dims else ()
        structural = report.backward.structural_period if report.backward else (2,)
        periods = _candidate_periods(structural, in_spatial)
        grads = _gradients(model, example, seeds, batch, dims)
        if grads is not None:
            report.grad_score = _score(grads, periods, dims, "gradient")
    if report.init_score is None and report.grad_score is None:
        report.notes.append("output too small to measure a periodic pattern")
    elif report.high_scores and not report.measured_artifacts:
        report.notes.append(
            f"a score of {ARTIFACT_DB:g} dB or more was measured, but every relevant layer is "
            "artifact-free by construction, so it does not count: with white-noise-like "
            "features (random init) the phases of a nearest resize + conv differ in variance, "
            "and an activation turns that into a weak mean pattern that smooth features lack"
        )


# --------------------------------------------------------------------------- ONNX


def audit_onnx(path: str | Path) -> AuditReport:
    """The structural audit of an ONNX model (no probes; needs the ``onnx`` package only).

    Reads ``ConvTranspose``, ``Conv``, ``Resize`` / ``Upsample``, ``DepthToSpace`` and
    ``MaxPool`` / ``AveragePool`` nodes with their attributes, in graph order, and judges
    them as :func:`audit` does.

    Raises:
        CheckerscopeError: if ``onnx`` is missing or the file is not a valid ONNX model.
    """
    from checkerscope.auditing.onnx_model import read_onnx

    start = time.perf_counter()
    model = read_onnx(path)
    dims = _model_dims(model.layers)
    in_spatial = _known_spatial(model.input_shape, dims)
    out_spatial = _known_spatial(model.output_shape, dims)
    if in_spatial is not None and out_spatial is not None:
        kind = _kind(in_spatial, out_spatial)
    else:  # dynamic axes: decide from the layers
        up = sum(1 for t in model.layers if t.family in ("deconv", "resize", "pixelshuffle"))
        down = sum(1 for t in model.layers if _changes_resolution(t)) - up
        kind = "generator" if up > down else ("downsampler" if down > up else "image-to-image")
    findings, path_specs, notes = build_findings(model.layers, dims, kind)
    forward, backward = _compound(path_specs, dims, kind)
    return AuditReport(
        model=Path(path).name,
        source="onnx",
        input_shape=model.input_shape,
        output_shape=model.output_shape,
        dims=dims,
        kind=kind,
        layers=findings,
        path=path_specs,
        forward=forward,
        backward=backward,
        notes=[*model.notes, *notes],
        seconds=time.perf_counter() - start,
    )


def _known_spatial(shape: Sequence[Any], dims: int) -> tuple[int, ...] | None:
    if len(shape) < 2:
        return ()
    spatial = tuple(shape[2:])
    if len(spatial) < dims:
        return ()
    if any(not isinstance(s, int) for s in spatial):
        return None
    return tuple(spatial[-dims:])
