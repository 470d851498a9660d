"""How fast is the overlap engine? Six stacked ``Deconv(3, 2)`` layers in 2-D.

Times, side by side in one run (medians over several repeats):

* the engine's steady-state pattern (``overlap``), which takes no image size at all;
* the engine's whole map for a concrete input (``OverlapPattern.full``);
* a brute force: torch's own ``conv_transpose2d`` with all-ones 3x3 kernels applied six
  times to a one-channel input of ones (float32, one thread).

The engine's whole map is checked against the brute force once per size. Run:

    .venv/bin/python benchmarks/bench_overlap.py [--sizes 64,256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from checkerscope.theory import Deconv, overlap

LAYERS = [Deconv(3, 2)] * 6


def median_seconds(function: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls (the result of each call is dropped at once)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def brute_force(size: int) -> torch.Tensor:
    """The stack run by torch on a ``size x size`` input of ones."""
    x = torch.ones((1, 1, size, size))
    weight = torch.ones((1, 1, 3, 3))
    with torch.no_grad():
        for layer in LAYERS:
            x = F.conv_transpose2d(x, weight, stride=layer.stride, padding=layer.padding)
    return x[0, 0]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256", help="input sizes (default 64,256)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per timing (default 5)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.set_num_threads(1)

    overlap(LAYERS, dims=2)  # warm-up: imports and first-call costs are not the engine's
    pattern = overlap(LAYERS, dims=2)
    rows = []
    for size in sizes:
        full = pattern.full(size)
        reference = brute_force(size).numpy()
        if not np.array_equal(full, reference):
            raise SystemExit(f"engine and torch disagree at input {size}x{size}")
        output = full.shape
        del full, reference
        rows.append(
            (
                size,
                output,
                median_seconds(lambda: overlap(LAYERS, dims=2), max(args.repeats, 20)),
                median_seconds(lambda size=size: pattern.full(size), args.repeats),
                median_seconds(lambda size=size: brute_force(size), args.repeats),
            )
        )

    table = Table(
        title=(
            f"overlap of 6 x Deconv(3, 2), 2-D: period {pattern.period}, "
            f"unevenness {pattern.unevenness:g}  (medians; torch {torch.__version__}, 1 thread)"
        )
    )
    for name in ("input", "output", "engine pattern", "engine full map", "torch brute force"):
        table.add_column(name, justify="right")
    table.add_column("brute force / pattern", justify="right")
    for size, output, t_pattern, t_full, t_torch in rows:
        table.add_row(
            f"{size}x{size}",
            f"{output[0]}x{output[1]}",
            _ms(t_pattern),
            _ms(t_full),
            _ms(t_torch),
            f"{t_torch / t_pattern:,.0f}x",
        )
    if len(rows) >= 2:
        (small, *_, t_p0, t_f0, t_t0), (large, *_, t_p1, t_f1, t_t1) = rows[0], rows[-1]
        table.add_row(
            f"ratio {large}/{small}",
            f"{(large / small) ** 2:g}x pixels",
            f"{t_p1 / t_p0:.2f}x",
            f"{t_f1 / t_f0:.1f}x",
            f"{t_t1 / t_t0:.1f}x",
            "",
        )
    Console(highlight=False, width=120).print(table)
    print(
        "The pattern does not depend on the input size: it is computed once per stack on a "
        "circle of one structural period. The full map is checked equal to torch's."
    )


if __name__ == "__main__":
    main()
