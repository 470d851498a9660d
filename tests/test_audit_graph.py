"""The audit's data-flow graph on DAG-shaped models: branches, skips, concatenations.

Random models are built from blocks whose paths are known by construction (a residual
block: through its convolution, and around it; a downsampling residual: through a k3 s2
conv or a 1x1 s2 shortcut; a U-Net level: through the inner levels, or across the skip).
References, independent of the tracer:

* the set of paths, enumerated from the construction;
* each reported path's compounded coverage, against a brute force that runs the path's
  own modules with all-ones weights on an input of ones (and autograd for gradients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import checkerscope as cs
from checkerscope.auditing.paths import graph_paths
from checkerscope.auditing.tracing import trace_graph
from checkerscope.theory import AvgPool, Conv, Deconv, LayerSpec, Resize, overlap

CHANNELS = 2
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d}


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Stage:
    """One block of a random model: what it is, and its parameters."""

    kind: str  # conv | deconv | resize | pool | residual | down_residual | up_residual | unet
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    inner: tuple[Stage, ...] = ()


def _spec(stage: Stage) -> LayerSpec:
    if stage.kind == "conv":
        return Conv(stage.kernel, stage.stride, stage.padding)
    if stage.kind == "deconv":
        return Deconv(stage.kernel, stage.stride, stage.padding)
    if stage.kind == "resize":
        return Resize(stage.stride)
    return AvgPool(stage.kernel, stage.stride)


def _identity(spec: LayerSpec) -> bool:
    return isinstance(spec, Conv) and spec == Conv(1)


def expected_paths(stages: tuple[Stage, ...]) -> set[tuple[LayerSpec, ...]]:
    """Every path's specs, enumerated from the construction (1x1 identities left out)."""
    paths: set[tuple[LayerSpec, ...]] = {()}
    for stage in stages:
        if stage.kind in ("conv", "deconv", "resize", "pool"):
            branches = [(_spec(stage),)]
        elif stage.kind == "residual":
            branches = [(Conv(3, 1, 1),), ()]
        elif stage.kind == "down_residual":
            branches = [(Conv(3, 2, 1),), (Conv(1, 2),)]
        elif stage.kind == "up_residual":
            branches = [(Deconv(4, 2, 1),), (Resize(2),)]
        else:  # a U-Net level: down, the inner levels, up; or across the skip
            inner = expected_paths(stage.inner)
            branches = [(Conv(3, 2, 1), *p, Deconv(4, 2, 1)) for p in inner] + [()]
        paths = {p + tuple(s for s in b if not _identity(s)) for p in paths for b in branches}
    return paths


class Block(nn.Module):
    def __init__(self, stage: Stage, dims: int) -> None:
        super().__init__()
        self.kind = stage.kind
        conv, deconv = _CONV[dims], _DECONV[dims]
        c = CHANNELS
        if stage.kind == "conv":
            self.op = conv(c, c, stage.kernel, stage.stride, stage.padding)
        elif stage.kind == "deconv":
            self.op = deconv(c, c, stage.kernel, stage.stride, stage.padding)
        elif stage.kind == "resize":
            self.op = nn.Upsample(scale_factor=stage.stride, mode="nearest")
        elif stage.kind == "pool":
            self.op = _POOL[dims](stage.kernel, stage.stride)
        elif stage.kind == "residual":
            self.op = conv(c, c, 3, 1, 1)
        elif stage.kind == "down_residual":
            self.op, self.shortcut = conv(c, c, 3, 2, 1), conv(c, c, 1, 2)
        elif stage.kind == "up_residual":
            self.op = deconv(c, c, 4, 2, 1)
            self.shortcut = nn.Upsample(scale_factor=2, mode="nearest")
        else:
            self.down = conv(c, c, 3, 2, 1)
            self.inner = nn.Sequential(*(Block(s, dims) for s in stage.inner))
            self.up = deconv(c, c, 4, 2, 1)
            self.merge = conv(2 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "residual":
            return x + F.relu(self.op(x))
        if self.kind in ("down_residual", "up_residual"):
            return F.relu(self.op(x)) + self.shortcut(x)
        if self.kind == "unet":
            return self.merge(torch.cat([x, self.up(self.inner(self.down(x)))], dim=1))
        return self.op(x)


def build(stages: tuple[Stage, ...], dims: int) -> nn.Module:
    return nn.Sequential(*(Block(s, dims) for s in stages))


# --------------------------------------------------------------------------- strategies


@st.composite
def stage_lists(draw: st.DrawFn, depth: int = 0) -> tuple[Stage, ...]:
    kinds = ["conv", "deconv", "resize", "pool", "residual", "down_residual", "up_residual"]
    if depth < 2:
        kinds.append("unet")
    count = draw(st.integers(1, 4 if depth == 0 else 2))
    stages = []
    for _ in range(count):
        kind = draw(st.sampled_from(kinds))
        if kind == "conv":
            kernel = draw(st.integers(1, 4))
            stages.append(
                Stage(kind, kernel, draw(st.integers(1, 2)), draw(st.integers(0, kernel // 2)))
            )
        elif kind == "deconv":
            kernel = draw(st.integers(1, 5))
            stride = draw(st.integers(1, 3))
            stages.append(Stage(kind, kernel, stride, draw(st.integers(0, (kernel - 1) // 2))))
        elif kind in ("resize", "pool"):
            stages.append(Stage(kind, 2, 2))
        elif kind == "unet":
            stages.append(Stage(kind, inner=draw(stage_lists(depth + 1))))
        else:
            stages.append(Stage(kind))
    return tuple(stages)


def _lengths_ok(stages: tuple[Stage, ...], length: int) -> int | None:
    """The output length of the stages on one axis, or None where shapes would not match."""
    for stage in stages:
        if length < 1:
            return None
        if stage.kind == "conv":
            length = (length + 2 * stage.padding - stage.kernel) // stage.stride + 1
        elif stage.kind == "deconv":
            length = (length - 1) * stage.stride - 2 * stage.padding + stage.kernel
        elif stage.kind in ("resize", "up_residual"):
            length *= 2
        elif stage.kind == "pool":
            length //= 2
        elif stage.kind == "down_residual":
            length = (length + 1) // 2
        elif stage.kind == "unet":
            if length % 2:
                return None
            inner = _lengths_ok(stage.inner, length // 2)
            if inner != length // 2:
                return None
        if length > 96:
            return None
    return length if length >= 1 else None


# --------------------------------------------------------------------------- brute force


def _all_ones(module: nn.Module) -> nn.Module:
    import copy

    ones = copy.deepcopy(module).double()
    with torch.no_grad():
        for name, parameter in ones.named_parameters():
            parameter.fill_(0.0 if name.endswith("bias") else 1.0)
    return ones


def brute_force(modules: list[nn.Module], shape: tuple[int, ...], direction: str) -> np.ndarray:
    """Coverage of one path: its own modules, all-ones weights, an input of ones. Every
    channel of a module's input carries the same map, so a module expecting more channels
    (after a concatenation) gets copies of it."""
    x = torch.ones((1, 1, *shape), dtype=torch.float64, requires_grad=True)
    y = x
    for module in modules:
        wanted = getattr(module, "in_channels", 1)
        y = _all_ones(module)(y[:, :1].expand(-1, wanted, *y.shape[2:]))
    if direction == "forward":
        return y[0, 0].detach().numpy()
    y[:, :1].sum().backward()
    assert x.grad is not None
    return x.grad[0, 0].numpy()


def _normalised(values: np.ndarray) -> np.ndarray:
    peak = float(np.abs(values).max())
    return values / peak if peak else values


def _check(stages: tuple[Stage, ...], dims: int, length: int) -> None:
    model = build(stages, dims)
    shape = (length,) * dims
    x = torch.randn(1, CHANNELS, *shape)
    graph = trace_graph(model, x)
    found = graph_paths(graph, dims)
    assert found.merged == 0
    got = {p.specs for p in found.paths if p.specs}
    assert got == {p for p in expected_paths(stages) if p}
    nodes = {layer.index: layer for layer in graph.layers}
    for path in found.paths:
        if not path.specs:
            continue
        modules = [nodes[i].module for i in path.nodes]
        for direction in ("forward", "backward"):
            engine = overlap(path.specs, dims=dims, direction=direction).full(shape)
            reference = brute_force(modules, shape, direction)
            assert engine.shape == reference.shape
            np.testing.assert_allclose(
                _normalised(np.asarray(engine, dtype=float)),
                _normalised(reference),
                rtol=1e-9,
                atol=1e-12,
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(stages=stage_lists(), length=st.sampled_from([8, 12, 16]))
def test_paths_of_random_dags_match_brute_force_1d(stages: tuple[Stage, ...], length: int) -> None:
    assume(_lengths_ok(stages, length) is not None)
    _check(stages, 1, length)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(stages=stage_lists(), length=st.sampled_from([8, 12]))
def test_paths_of_random_dags_match_brute_force_2d(stages: tuple[Stage, ...], length: int) -> None:
    assume(_lengths_ok(stages, length) is not None)
    _check(stages, 2, length)


def test_a_unet_has_one_path_per_level() -> None:
    inner = (Stage("unet", inner=(Stage("conv", 3, 1, 1),)),)
    stages = (Stage("unet", inner=inner),)
    _check(stages, 2, 16)
    report = cs.audit(build(stages, 2), torch.randn(1, CHANNELS, 16, 16), probe=False)
    assert len(report.paths) == 3  # across the outer skip, the inner skip, or through all


# --------------------------------------------------------------------------- deep paths


def test_a_forty_layer_path_has_a_finite_unevenness() -> None:
    layers: list[nn.Module] = [nn.Conv2d(2, 2, 3, 2, 1), nn.ConvTranspose2d(2, 2, 3, 2, 1, 1)]
    layers += [nn.Conv2d(2, 2, 3, 1, 1) for _ in range(38)]
    layers += [nn.ConvTranspose2d(2, 2, 3, 2, 1, 1)]
    report = cs.audit(nn.Sequential(*layers), torch.randn(1, 2, 32, 32), probe=False)
    (path,) = report.paths
    assert len(path.specs) == 41
    assert math.isfinite(path.unevenness) and path.unevenness >= 1.0
    assert all(math.isfinite(layer.unevenness) for layer in report.layers)
    assert report.periods == (2, 4)  # the first deconv's period 2, doubled by the last


def test_forty_residual_blocks_stay_bounded() -> None:
    stages = (Stage("deconv", 3, 2, 1),) + (Stage("residual"),) * 40
    model = build(stages, 2)
    report = cs.audit(model, torch.randn(1, CHANNELS, 8, 8), probe=False)
    # 2**40 node-level paths; distinct spec sequences: one per count of blocks taken
    assert 1 <= len(report.paths) <= 64
    assert all(p.unevenness >= 1.0 and math.isfinite(p.unevenness) for p in report.paths)
    worst = report.paths[0]
    assert worst.specs == (Deconv(3, 2, 1),)  # around every block: the least smoothed


class _ResidualThenUp(nn.Module):
    """Two residual blocks (two paths each) before one k3 s2 deconvolution, or after it."""

    def __init__(self, up_first: bool = False) -> None:
        super().__init__()
        self.up_first = up_first
        self.blocks = nn.ModuleList(nn.Conv2d(2, 2, 3, 1, 1) for _ in range(2))
        self.up = nn.ConvTranspose2d(2, 2, 3, 2, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up_first:
            x = self.up(x)
        for block in self.blocks:
            x = x + block(x)
        return x if self.up_first else self.up(x)


def test_paths_that_differ_only_before_the_first_upsampler_are_listed_once() -> None:
    report = cs.audit(_ResidualThenUp(), torch.randn(1, 2, 8, 8), probe=False)
    (path,) = report.paths  # 3 distinct spec sequences (0, 1 or 2 convs), one steady state
    assert path.layers[-1] == "up" and max(path.period) == 2 and path.unevenness == 4.0
    assert any(note.startswith("2 more paths differ") for note in report.notes)
    # after the upsampler the branches do shape the pattern: kept apart
    report = cs.audit(_ResidualThenUp(up_first=True), torch.randn(1, 2, 8, 8), probe=False)
    assert sorted(len(p.specs) for p in report.paths) == [1, 2, 3]
    assert not any("more paths differ" in note for note in report.notes)


# --------------------------------------------------------------------------- a ResNet


class _BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convs, a 1x1 strided shortcut when the stride is 2."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + self.shortcut(x))


def _resnet18(width: int = 8) -> nn.Module:
    """ResNet-18's published layout (k7 s2 stem, k3 s2 max pool, four stages of two basic
    blocks, stride 2 opening stages 2-4, global average pool) at a small width."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, width, 7, 2, 3, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = width
    for stage, stride in enumerate((1, 2, 2, 2)):
        cout = width * 2**stage
        layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def test_a_resnet_with_strided_shortcuts_has_periods_up_to_its_total_stride() -> None:
    torch.manual_seed(0)
    report = cs.audit(_resnet18(), torch.randn(1, 3, 224, 224), seeds=1)
    assert report.kind == "downsampler"
    # the stem (2), the pool (4) and the stage openers (8, 16, 32): shortcuts are parallel
    # paths, not layers in series, so nothing beyond the total stride of 32
    assert report.periods == (2, 4, 8, 16, 32)
    assert all(max(p.period) <= 32 for p in report.paths if p.pattern is not None)
    assert all(p.unevenness >= 1 for p in report.paths)  # never negative or NaN
    # a 1x1 stride-2 shortcut passes no gradient to 3 of every 4 inputs: a phase gets
    # nothing (inf); the paths through the 3x3 convs alone stay finite
    worst, *_, mildest = report.paths
    assert worst.unevenness == math.inf and "conv k1 s2" in [s.describe() for s in worst.specs]
    assert math.isfinite(mildest.unevenness)
    assert len({p.specs for p in report.paths}) == len(report.paths) > 1
