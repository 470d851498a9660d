"""C2: in two dimensions the overlap patterns of the axes multiply, so the unevenness squares.

Theory, exact: the overlap engine in 1, 2 and 3 dimensions for every finite-unevenness
(k, s) with k 1-8, s 1-4, and torch's ``conv_transpose2d`` as an independent check of
the k3 s2 case.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.figures import heatmaps, save_figure

CLAIM = Claim(
    id="C2",
    title="2-D squares the unevenness",
    article=(
        "The uneven overlaps of the two axes multiply into a checkerboard of varying "
        "magnitudes, so the unevenness is squared: a stride-2, size-3 deconvolution gives some "
        "outputs twice as many inputs as others in 1-D and four times as many in 2-D."
    ),
    method=(
        "Exact overlap patterns of one deconvolution in 1-D, 2-D and 3-D for k 1-8, s 1-4 "
        "(pairs with gaps, k < s, are left out: inf squared is still inf); torch's "
        "conv_transpose2d with all-one 3x3 weights on an all-one input as an independent check "
        "of the k3 s2 ratio away from the borders."
    ),
    rule=(
        "agrees if k3 s2 is exactly 2:1 in 1-D and 4:1 in 2-D (overlap engine and torch "
        "alike) and, for every tested (k, s), the 2-D unevenness equals the square and the "
        "3-D unevenness the cube of the 1-D one (relative error < 1e-9); partly if the k3 s2 "
        "ratios hold but the general law fails somewhere; disagrees otherwise."
    ),
)

NOTES = {
    "k3s2": "unevenness of deconv k3 s2 in 1-D, 2-D, 3-D, and torch's 2-D max/min",
    "law_holds": "(k, s) pairs where 2-D = (1-D)^2 and 3-D = (1-D)^3",
    "tested": "pairs tested (all k 1-8, s 1-4 without gaps)",
    "table": "per (k, s): 1-D, 2-D, 3-D unevenness",
}


def _torch_ratio_2d(kernel: int, stride: int, size: int = 12) -> tuple[float, np.ndarray]:
    import torch
    import torch.nn.functional as F

    ones = torch.ones(1, 1, size, size, dtype=torch.float64)
    weight = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
    coverage = F.conv_transpose2d(ones, weight, stride=stride)[0, 0].numpy()
    interior = coverage[kernel:-kernel, kernel:-kernel]
    return float(interior.max() / interior.min()), coverage


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C2 (exact; identical in quick and full mode)."""
    from checkerscope.theory import Deconv, overlap

    started = time.perf_counter()
    k3s2 = {f"{dims}d": float(overlap([Deconv(3, 2)], dims=dims).unevenness) for dims in (1, 2, 3)}
    torch_ratio, _ = _torch_ratio_2d(3, 2)
    k3s2["torch_2d"] = torch_ratio

    table: dict[str, list[float]] = {}
    failures: list[str] = []
    pairs = [(k, s) for s in range(1, 5) for k in range(1, 9) if k >= s]
    for i, (kernel, stride) in enumerate(pairs):
        u1, u2, u3 = (
            float(overlap([Deconv(kernel, stride)], dims=dims).unevenness) for dims in (1, 2, 3)
        )
        table[f"k{kernel}s{stride}"] = [u1, u2, u3]
        if not (math.isclose(u2, u1**2, rel_tol=1e-9) and math.isclose(u3, u1**3, rel_tol=1e-9)):
            failures.append(f"k{kernel}s{stride}")
        if progress is not None:
            progress((i + 1) / len(pairs), f"k{kernel} s{stride}")

    base_ok = k3s2["1d"] == 2.0 and k3s2["2d"] == 4.0 and math.isclose(k3s2["torch_2d"], 4.0)
    if base_ok and not failures:
        verdict: Verdict = "agrees"
    elif base_ok:
        verdict = "partly"
    else:
        verdict = "disagrees"
    laws = len(pairs) - len(failures)
    summary = (
        f"Deconv k3 s2: {k3s2['1d']:g}:1 in 1-D, {k3s2['2d']:g}:1 in 2-D ({k3s2['torch_2d']:g}:1 "
        f"by torch's own conv_transpose2d), {k3s2['3d']:g}:1 in 3-D. The 2-D unevenness is the "
        f"square (3-D the cube) of the 1-D one for {laws} of {len(pairs)} (k, s) pairs: the 2-D "
        "pattern is the outer product of the axes' patterns."
    )
    two_d = overlap([Deconv(3, 2)], dims=2)
    fig = heatmaps(
        {
            "1-D k3 s2: 2:1": np.asarray(overlap([Deconv(3, 2)], dims=1).pattern),
            "2-D k3 s2: 4:1": np.asarray(two_d.pattern),
            "2-D coverage, 6x6 input": np.asarray(two_d.full(6)),
        },
        title="C2: one period of the overlap count, and the whole map (borders included)",
    )
    figure = save_figure(fig, out_dir, "c02_two_d_patterns")
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"k3s2 {k3s2['1d']:g}:1 (1-D), {k3s2['2d']:g}:1 (2-D); squares {laws}/{len(pairs)}"
            ),
            "k3s2": k3s2,
            "law_holds": laws,
            "tested": len(pairs),
            "failures": failures,
            "table": table,
        },
        verdict=verdict,
        summary=summary,
        figures=[figure],
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )
