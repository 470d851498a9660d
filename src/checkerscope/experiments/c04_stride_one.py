"""C4: a final stride-1 deconvolution dampens the overlap artifacts but can let them leak through.

Theory, exact: overlap of several upsampling stacks with and without a final stride-1
deconvolution of size 2-5; plus random positive stride-1 kernels (standing in for
learned weights) applied to the same patterns.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.figures import PALETTE, Figure, save_figure

CLAIM = Claim(
    id="C4",
    title="final stride-1 deconv dampens, can leak",
    article=(
        "A stride-1 deconvolution as the last layer dampens artifacts well: it removes those "
        "whose period divides its size and reduces the others, yet artifacts can still leak "
        "through."
    ),
    method=(
        "Exact 1-D overlap unevenness of four upsampling stacks (k3s2, k5s2, k5s3, k3s2+k3s2) "
        "alone and followed by a stride-1 deconvolution of size 2, 3, 4 or 5 (all-one weights). "
        "Then the same stacks followed by random stride-1 kernels with positive weights "
        "(uniform in [0, 1], 200 per size in full mode, 50 quick), standing in for learned "
        "weights: the coverage becomes the circular convolution of the pattern with the "
        "kernel."
    ),
    rule=(
        "agrees if (a) no final layer increases the unevenness, (b) it becomes exactly 1 "
        "whenever the final size is a multiple of the stack's period, (c) it strictly "
        "decreases in every other case, and (d) artifacts leak: some all-one configuration "
        "stays above 1 and the median random kernel leaves unevenness above 1.01; partly if "
        "(a) and (d) hold but (b) or (c) fails somewhere; disagrees otherwise."
    ),
)

NOTES = {
    "configs": "per stack: unevenness alone ('none') and with a final stride-1 layer of size k",
    "random_median": "per stack and final size: median unevenness with random positive weights",
    "removed": "configurations where the final size is a multiple of the period (expected 1)",
    "leaking_box": "all-one configurations that stay uneven with the final layer",
}

BASES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 2),),
    ((5, 2),),
    ((5, 3),),
    ((3, 2), (3, 2)),
)
FINAL_SIZES = (2, 3, 4, 5)


def _name(stack: tuple[tuple[int, int], ...]) -> str:
    return " + ".join(f"k{k}s{s}" for k, s in stack)


def _ratio(values: np.ndarray) -> float:
    low, high = float(np.min(values)), float(np.max(values))
    return float("inf") if low <= 0 else high / low


def circular_filter(pattern: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One period of the coverage after a stride-1 layer with weights ``kernel``.

    The steady-state input is ``pattern`` repeated forever, so the output is periodic
    with the same period: a circular convolution.

    Examples:
        >>> circular_filter(np.array([2.0, 1.0]), np.ones(2)).tolist()
        [3.0, 3.0]
        >>> circular_filter(np.array([2.0, 1.0]), np.ones(3)).tolist()
        [5.0, 4.0]
    """
    pattern = np.asarray(pattern, dtype=np.float64)
    period = len(pattern)
    out = np.zeros(period)
    for tap, weight in enumerate(np.asarray(kernel, dtype=np.float64)):
        out += weight * np.roll(pattern, tap)
    return out


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C4."""
    from checkerscope.theory import Deconv, overlap

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    draws = 50 if quick else 200
    configs: dict[str, dict[str, float]] = {}
    random_median: dict[str, dict[str, float]] = {}
    increases, not_removed, not_reduced, removed, leaking_box = [], [], [], [], []
    for i, base in enumerate(BASES):
        layers = [Deconv(k, s) for k, s in base]
        alone = overlap(layers, dims=1)
        period = int(alone.period[0])
        row = {"none": float(alone.unevenness)}
        medians = {}
        for size in FINAL_SIZES:
            name = f"{_name(base)} + k{size}s1"
            value = float(overlap([*layers, Deconv(size, 1)], dims=1).unevenness)
            row[f"k{size}"] = value
            if value > row["none"]:
                increases.append(name)
            if size % period == 0:
                removed.append(name)
                if value != 1.0:
                    not_removed.append(name)
            elif not value < row["none"]:
                not_reduced.append(name)
            if value > 1.0:
                leaking_box.append(name)
            pattern = np.asarray(alone.pattern, dtype=np.float64)
            ratios = [
                _ratio(circular_filter(pattern, rng.uniform(0.0, 1.0, size))) for _ in range(draws)
            ]
            medians[f"k{size}"] = float(np.median(ratios))
        configs[_name(base)] = row
        random_median[_name(base)] = medians
        if progress is not None:
            progress((i + 1) / len(BASES), _name(base))

    random_leaks = float(np.median([v for m in random_median.values() for v in m.values()]))
    leaks = bool(leaking_box) and random_leaks > 1.01
    if not increases and not not_removed and not not_reduced and leaks:
        verdict = "agrees"
    elif not increases and leaks:
        verdict = "partly"
    else:
        verdict = "disagrees"
    k3 = configs["k3s2"]
    summary = (
        f"k3s2 alone is {k3['none']:g}:1; a final all-one stride-1 layer of size 2 or 4 removes "
        f"it (1:1), size 3 leaves {k3['k3']:g}:1 and size 5 {k3['k5']:g}:1. Over "
        f"{len(BASES) * len(FINAL_SIZES)} configurations none increases the unevenness, "
        f"{len(removed) - len(not_removed)}/{len(removed)} with a size divisible by the period "
        f"become exactly even, {len(leaking_box)} stay uneven. With random positive weights "
        f"the median unevenness is {random_leaks:.3g}:1: the cancellation needs exactly equal "
        "weights, so artifacts leak in general."
    )
    figure = save_figure(_figure(configs, random_median), out_dir, "c04_final_stride1")
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"k3s2 {k3['none']:g}:1 -> k2: {k3['k2']:g}, k3: {k3['k3']:g}, "
                f"random: {random_leaks:.3g}"
            ),
            "configs": configs,
            "random_median": random_median,
            "random_median_all": random_leaks,
            "removed": removed,
            "leaking_box": leaking_box,
            "increases": increases,
            "not_removed": not_removed,
            "not_reduced": not_reduced,
        },
        verdict=verdict,
        summary=summary,
        figures=[figure],
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _figure(
    configs: dict[str, dict[str, float]], random_median: dict[str, dict[str, float]]
) -> Figure:
    fig = Figure(figsize=(9.0, 3.8))
    ax = fig.subplots()
    bases = list(configs)
    columns = ["none", *(f"k{size}" for size in FINAL_SIZES)]
    width = 0.8 / len(columns)
    for j, column in enumerate(columns):
        values = [configs[b][column] for b in bases]
        x = np.arange(len(bases)) + (j - (len(columns) - 1) / 2) * width
        label = "no final layer" if column == "none" else f"+ stride-1 {column} (all ones)"
        ax.bar(x, values, width=width, color=PALETTE[j % len(PALETTE)], label=label)
        for xi, value in zip(x, values, strict=True):
            ax.text(xi, value + 0.03, f"{value:.3g}", ha="center", va="bottom", fontsize=6.5)
        if column != "none":
            medians = [random_median[b][column] for b in bases]
            ax.scatter(x, medians, marker="_", s=120, color="black", zorder=3, linewidths=1.5)
    ax.scatter([], [], marker="_", color="black", label="median with random positive weights")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(np.arange(len(bases)))
    ax.set_xticklabels(bases)
    ax.set_ylabel("unevenness (max/min coverage), 1 = even")
    ax.set_title(
        "C4: a final stride-1 deconvolution dampens the pattern, but it leaks", fontsize=10
    )
    ax.legend(fontsize=7, ncols=2, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
