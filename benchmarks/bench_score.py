"""Throughput of ``checkerboard_score`` next to its floor, one bare ``rfft2`` of the batch.

The score of a torch tensor needs one 2-D real FFT per channel; everything else (the
smooth component of the border, the neighbour medians, the significance and amplitude, the
fingerprint) works on the few bins it reads. NumPy images at periods 2 and 4 take those
bins as direct DFT sums instead (``checkerscope.metrics._direct``), below the FFT's cost.
The bars (issue 11): period 2 within 1.3x the bare ``rfft2`` of the batch,
``period="auto"`` within 2x, one thread. The rounds alternate the contenders, and the
ratios are medians over rounds, so that a change of load hits all of them alike.

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


def round_robin(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each run, ``repeats`` rounds, one call of each per round (after warm-up)."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


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
    runs: dict[str, Callable[[], object]] = {"rfft2 (floor)": lambda: torch.fft.rfft2(images)}
    for period in (2, 4, 8, 16):
        runs[f"checkerboard_score period={period}"] = lambda p=period: checkerboard_score(
            images, p, value_range=1.0
        )
    # NumPy input at periods 2 and 4 takes the bins as direct DFT sums (no rfft2, no torch)
    array = images.numpy()
    for period in (2, 4):
        runs[f"period={period}, NumPy input (direct)"] = lambda p=period: checkerboard_score(
            array, p, value_range=1.0
        )
    runs["checkerboard_score period='auto'"] = lambda: checkerboard_score(
        images, "auto", value_range=1.0
    )
    runs["period=2, offgrid=True"] = lambda: checkerboard_score(
        images, 2, value_range=1.0, offgrid=True
    )
    times = round_robin(runs, args.repeats)
    floor = times["rfft2 (floor)"]

    print(f"{'':34s} {'ms/batch':>9s} {'images/s':>9s} {'x floor':>8s}")
    for name, values in times.items():
        seconds = statistics.median(values)
        ratio = statistics.median(v / f for v, f in zip(values, floor, strict=True))
        print(f"{name:34s} {seconds * 1e3:9.2f} {args.batch / seconds:9.0f} {ratio:8.2f}")


if __name__ == "__main__":
    main()
