"""Throughput of ``checkerboard_score`` next to its floor, one bare ``rfft2`` of the batch.

The score needs one 2-D real FFT per channel; everything else (mean removal, the smooth
component of the border, the neighbour medians, the fingerprint) should cost less than the
FFT itself. The bar: the score takes at most twice the time of the bare ``rfft2``.

Usage::

    python benchmarks/bench_score.py [--batch 64] [--size 256] [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from checkerscope.metrics import checkerboard_score


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls, after two warm-up calls."""
    run()
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.channels, args.size, args.size)
    images = torch.rand(shape, generator=generator)

    print(
        f"batch {args.batch}x{args.channels}x{args.size}x{args.size} float32, "
        f"{args.threads} thread(s), median of {args.repeats} repeats"
    )
    floor = median_seconds(lambda: torch.fft.rfft2(images), args.repeats)
    rows = [("rfft2 (floor)", floor)]
    for period in (2, 4, 8, 16):
        seconds = median_seconds(lambda p=period: checkerboard_score(images, p), args.repeats)
        rows.append((f"checkerboard_score period={period}", seconds))
    seconds = median_seconds(lambda: checkerboard_score(images, "auto"), args.repeats)
    rows.append(("checkerboard_score period='auto'", seconds))

    print(f"{'':34s} {'ms/batch':>9s} {'images/s':>9s} {'x floor':>8s}")
    for name, seconds in rows:
        print(f"{name:34s} {seconds * 1e3:9.2f} {args.batch / seconds:9.0f} {seconds / floor:8.2f}")


if __name__ == "__main__":
    main()
