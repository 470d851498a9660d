"""Paths through a traced graph, from each source to each final output, with their specs.

Parallel branches are separate paths: a residual block gives one path through its
convolutions and one through its shortcut, a U-Net one path per skip level, a multi-scale
discriminator one path per scale. Each path is compounded on its own by the overlap
engine; nothing is compounded in series across branches.

Paths are told apart by what they compound (their source and their sequence of specs), so
the many node-level paths through a stack of identical residual blocks collapse to one per
count of blocks taken. Where a node is still reached by more than ``limit`` distinct paths,
paths with the same resolution-changing steps are merged, keeping the shortest (least
smoothed, the worst) and the longest of each; the number merged is reported.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> from checkerscope.auditing.tracing import trace_graph
    >>> class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
    ...         self.skip = nn.Conv2d(3, 3, 1, stride=2)
    ...     def forward(self, x):
    ...         return self.down(x) + self.skip(x)
    >>> found = graph_paths(trace_graph(Block(), torch.zeros(1, 3, 8, 8)), dims=2)
    >>> [[s.describe() for s in p.specs] for p in found.paths]
    [['conv k3 s2 p1'], ['conv k1 s2']]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from checkerscope.auditing.tracing import Source, TracedGraph, TracedLayer
from checkerscope.theory import FIR, Conv, LayerSpec

__all__ = ["GraphPath", "PathSet", "graph_paths", "is_identity", "resolution_steps"]

#: Distinct paths kept per node before paths with the same resolution steps are merged.
DEFAULT_LIMIT = 64


@dataclass(frozen=True)
class GraphPath:
    """One path from a source to an output.

    Attributes:
        source: the source's label (``"input"``, ``"input[1]"``, ``"constant in const"``).
        output: the output's label (``"output"``, ``"output[2][-1]"``).
        nodes: the graph indices of the operations along the path, in order.
        specs: what the path compounds: the specs of its operations on the model's spatial
            axes, identities (1x1 stride-1 convolutions) left out.
    """

    source: str
    output: str
    nodes: tuple[int, ...]
    specs: tuple[LayerSpec, ...]


@dataclass
class PathSet:
    """The paths of a graph, and what limited them.

    Attributes:
        paths: distinct paths to the final outputs.
        merged: node-level paths merged away because there were too many.
        mixed_dims: labels of operations on other spatial axes, left out of the paths.
    """

    paths: list[GraphPath]
    merged: int = 0
    mixed_dims: list[str] = field(default_factory=list)


def is_identity(spec: LayerSpec) -> bool:
    """A 1x1 stride-1 unpadded convolution (or a one-tap filter) changes no coverage.

    Examples:
        >>> is_identity(Conv(1)), is_identity(Conv(1, 2)), is_identity(Conv(3, padding=1))
        (True, False, False)
    """
    if isinstance(spec, Conv):
        fields = (spec.kernel, spec.stride, spec.padding)
        return all(set(v if isinstance(v, tuple) else (v,)) <= {1} for v in fields[:2]) and (
            set(spec.padding if isinstance(spec.padding, tuple) else (spec.padding,)) == {0}
        )
    if isinstance(spec, FIR):
        single = all(len(axis) == 1 for axis in spec.taps)
        stride = spec.stride if isinstance(spec.stride, tuple) else (spec.stride,)
        padding = spec.padding if isinstance(spec.padding, tuple) else (spec.padding,)
        return single and set(stride) == {1} and set(padding) == {0}
    return False


def resolution_steps(specs: Sequence[LayerSpec], dims: int) -> tuple[LayerSpec, ...]:
    """The specs that change the sampling rate (strided or upsampling ones)."""
    return tuple(s for s in specs if max(s.up_factors(dims)) > 1 or max(s.down_factors(dims)) > 1)


def _rate_change(specs: Sequence[LayerSpec], dims: int) -> int:
    total = 1
    for spec in resolution_steps(specs, dims):
        total *= math.prod(spec.up_factors(dims)) * math.prod(spec.down_factors(dims))
    return total


_Key = tuple[int, tuple[LayerSpec, ...]]  # (source index, specs)


def _reduce(
    reached: dict[_Key, tuple[int, ...]], dims: int, limit: int
) -> tuple[dict[_Key, tuple[int, ...]], int]:
    """At most ``limit`` paths: per group of equal resolution steps, the shortest and the
    longest; then the groups that change the rate most."""
    groups: dict[tuple[int, tuple[LayerSpec, ...]], list[_Key]] = {}
    for key in reached:
        groups.setdefault((key[0], resolution_steps(key[1], dims)), []).append(key)
    kept: list[_Key] = []
    ranked = sorted(groups.items(), key=lambda item: -_rate_change(item[0][1], dims))
    for _, keys in ranked:
        by_length = sorted(keys, key=lambda k: len(k[1]))
        kept.extend(dict.fromkeys([by_length[0], by_length[-1]]))
        if len(kept) >= limit:
            break
    kept = kept[:limit]
    return {key: reached[key] for key in kept}, len(reached) - len(kept)


def graph_paths(graph: TracedGraph, dims: int, limit: int = DEFAULT_LIMIT) -> PathSet:
    """Distinct paths from the graph's sources to its final outputs.

    Args:
        graph: a traced graph (:func:`checkerscope.auditing.tracing.trace_graph`).
        dims: the model's number of spatial axes; operations on other axes are left out.
        limit: distinct paths kept per node before merging.

    Returns:
        The paths, worst-first ordering left to the caller, and what was merged.
    """
    reach: dict[int, dict[_Key, tuple[int, ...]]] = {}
    merged = 0
    mixed: list[str] = []
    for node in graph.nodes:
        if isinstance(node, Source):
            reach[node.index] = {(node.index, ()): ()}
            continue
        contributed = _contribution(node, dims, mixed)
        reached: dict[_Key, tuple[int, ...]] = {}
        for parent in node.inputs:
            for (source, specs), nodes in reach.get(parent, {}).items():
                key = (source, specs + contributed)
                if key not in reached or len(nodes) + 1 < len(reached[key]):
                    reached[key] = (*nodes, node.index)
        if len(reached) > limit:
            reached, count = _reduce(reached, dims, limit)
            merged += count
        reach[node.index] = reached
    paths: list[GraphPath] = []
    labels = {n.index: n.label for n in graph.nodes if isinstance(n, Source)}
    for output, ends in graph.final_outputs():
        reached = {}
        for end in ends:
            for key, nodes in reach.get(end, {}).items():
                reached.setdefault(key, nodes)
        if len(reached) > limit:
            reached, count = _reduce(reached, dims, limit)
            merged += count
        for (source, specs), nodes in reached.items():
            paths.append(GraphPath(labels.get(source, "?"), output, nodes, specs))
    return PathSet(paths, merged, sorted(set(mixed)))


def _contribution(node: TracedLayer, dims: int, mixed: list[str]) -> tuple[LayerSpec, ...]:
    if node.dims != dims:
        mixed.append(f"{node.name} ({node.type}, {node.dims}-D)")
        return ()
    return tuple(s for s in node.specs if not is_identity(s))
