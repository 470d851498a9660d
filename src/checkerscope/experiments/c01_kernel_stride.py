"""C1: a deconvolution overlaps unevenly exactly when its stride does not divide its kernel size.

Theory, exact: the overlap engine's steady-state pattern of one 1-D deconvolution
(all weights and inputs one) for every kernel size 1-8 and stride 1-4, checked
independently against torch's own ``conv_transpose1d``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.figures import Figure, save_figure

CLAIM = Claim(
    id="C1",
    title="uneven overlap iff k mod s != 0",
    article=(
        "A deconvolution puts more of its 'paint' on some output positions than on others "
        "exactly when its kernel size is not divisible by its stride."
    ),
    method=(
        "For kernel sizes 1-8 and strides 1-4 (32 one-dimensional deconvolutions) the exact "
        "steady-state overlap pattern (how many input windows cover each output position) from "
        "checkerscope.theory; its unevenness is max/min (1 = even, inf = some positions never "
        "covered). Each pattern is cross-checked against torch's conv_transpose1d with all-one "
        "weights on an all-one input, away from the borders."
    ),
    rule=(
        "agrees if, for every one of the 32 (k, s), unevenness > 1 holds exactly when "
        "k mod s != 0 and torch's coverage has the same max/min; partly if the iff holds for at "
        "least 90% of them; disagrees otherwise."
    ),
)

NOTES = {
    "matches": "(k, s) pairs where 'uneven' coincides with 'k mod s != 0'",
    "total": "number of (k, s) pairs tested",
    "torch_agrees": "pairs where torch's conv_transpose1d coverage has the same max/min",
    "unevenness": "per stride s, the unevenness for k = 1..8 (inf: some outputs get nothing)",
    "patterns": "one period of the coverage count per (k, s), in torch's output coordinates",
}

KERNELS = tuple(range(1, 9))
STRIDES = tuple(range(1, 5))


def torch_coverage_1d(kernels_strides: Sequence[tuple[int, int]], length: int = 64) -> np.ndarray:
    """How many (input, tap) pairs reach each output of a stack of 1-D deconvolutions.

    Computed by torch itself (``conv_transpose1d`` with all-one weights on an all-one
    input), so it is independent of :mod:`checkerscope.theory`. Borders are trimmed by
    the sum of the kernel sizes on each side, leaving the steady state.

    Examples:
        >>> torch_coverage_1d([(3, 2)], length=8)[:4].tolist()
        [1.0, 2.0, 1.0, 2.0]
    """
    import torch
    import torch.nn.functional as F

    signal = torch.ones(1, 1, length, dtype=torch.float64)
    for kernel, stride in kernels_strides:
        weight = torch.ones(1, 1, kernel, dtype=torch.float64)
        signal = F.conv_transpose1d(signal, weight, stride=stride)
    trim = sum(k for k, _ in kernels_strides)
    return signal[0, 0, trim:-trim].numpy()


def _ratio(values: np.ndarray) -> float:
    low, high = float(values.min()), float(values.max())
    return float("inf") if low == 0 else high / low


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C1 (the same in quick and full mode: it is exact and takes milliseconds)."""
    from checkerscope.theory import Deconv, overlap

    started = time.perf_counter()
    unevenness: dict[str, list[float]] = {}
    patterns: dict[str, list[int]] = {}
    matches = torch_agrees = total = 0
    mismatches: list[str] = []
    for i, stride in enumerate(STRIDES):
        row = []
        for kernel in KERNELS:
            pattern = overlap([Deconv(kernel, stride)], dims=1)
            ratio = float(pattern.unevenness)
            row.append(ratio)
            patterns[f"k{kernel}s{stride}"] = [int(v) for v in pattern.pattern]
            uneven = ratio > 1.0
            expected = kernel % stride != 0
            total += 1
            matches += uneven == expected
            if uneven != expected:
                mismatches.append(f"k{kernel} s{stride}")
            torch_agrees += _ratio(torch_coverage_1d([(kernel, stride)])) == ratio
        unevenness[f"s{stride}"] = row
        if progress is not None:
            progress((i + 1) / len(STRIDES), f"stride {stride}")

    if matches == total and torch_agrees == total:
        verdict = "agrees"
    elif matches >= 0.9 * total:
        verdict = "partly"
    else:
        verdict = "disagrees"
    summary = (
        f"Unevenness > 1 coincides with k mod s != 0 for {matches} of {total} (k, s) pairs "
        f"(k 1-8, s 1-4); torch's own transposed convolution gives the same max/min for "
        f"{torch_agrees} of {total}. k3 s2 is 2:1, k5 s2 3:2, k5 s3 2:1; kernels smaller than "
        "the stride leave gaps (inf)."
    )
    if mismatches:
        summary += f" Mismatches: {', '.join(mismatches)}."
    figure = save_figure(_figure(unevenness), out_dir, "c01_unevenness_grid")
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": f"iff holds for {matches}/{total} (k, s)",
            "matches": matches,
            "total": total,
            "torch_agrees": torch_agrees,
            "mismatches": mismatches,
            "unevenness": unevenness,
            "patterns": patterns,
        },
        verdict=verdict,
        summary=summary,
        figures=[figure],
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _figure(unevenness: dict[str, list[float]]) -> Figure:
    grid = np.array([unevenness[f"s{s}"] for s in STRIDES])
    divisible = np.array([[k % s == 0 for k in KERNELS] for s in STRIDES])
    fig = Figure(figsize=(7.6, 3.4))
    ax = fig.subplots()
    # Colour by log unevenness; gaps (inf) get the top of the scale.
    finite = np.where(np.isfinite(grid), grid, np.nan)
    top = np.nanmax(finite)
    shown = np.log2(np.where(np.isfinite(grid), grid, top * 1.5))
    image = ax.imshow(shown, cmap="OrRd", vmin=0, vmax=np.log2(top * 1.5), aspect="auto")
    for (r, c), value in np.ndenumerate(grid):
        text = "inf\n(gaps)" if not np.isfinite(value) else f"{value:.3g}"
        if divisible[r, c]:
            text += "\neven"
        colour = "white" if not np.isfinite(value) else "black"
        ax.text(c, r, text, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(KERNELS)))
    ax.set_xticklabels([str(k) for k in KERNELS])
    ax.set_yticks(range(len(STRIDES)))
    ax.set_yticklabels([str(s) for s in STRIDES])
    ax.set_xlabel("kernel size k")
    ax.set_ylabel("stride s")
    ax.set_title(
        "C1: overlap unevenness (max/min coverage) of one 1-D deconvolution;\n"
        "cells marked 'even' have k divisible by s",
        fontsize=10,
    )
    colourbar = fig.colorbar(image, ax=ax, fraction=0.04)
    colourbar.set_label("log2 unevenness")
    fig.tight_layout()
    return fig
