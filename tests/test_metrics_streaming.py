"""CheckerboardMetric: update/compute, merging states, and syncing under torch.distributed."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("torchmetrics")

from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import checkerboard_score
from checkerscope.streaming import CheckerboardMetric


def batches(seed: int = 0, count: int = 4) -> list[torch.Tensor]:
    """Batches of noise, half of them with a grid of growing strength."""
    generator = torch.Generator().manual_seed(seed)
    checker = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(24, 24)
    out = []
    for i in range(count):
        images = torch.rand(3, 3, 48, 48, generator=generator)
        out.append(images + 0.05 * i * checker)
    return out


def reference(all_batches: list[torch.Tensor], threshold: float) -> tuple[float, float]:
    db = np.concatenate([checkerboard_score(b).db for b in all_batches])
    return float(db.mean()), float((db > threshold).mean())


def test_update_and_compute_equal_scoring_everything_at_once() -> None:
    metric = CheckerboardMetric(threshold_db=15.0)
    data = batches()
    for batch in data:
        metric.update(batch)
    result = metric.compute()
    mean_db, fraction = reference(data, 15.0)
    assert float(result["mean_db"]) == pytest.approx(mean_db, abs=1e-6)
    assert float(result["fraction_above"]) == pytest.approx(fraction)
    assert 0 < fraction < 1  # the data straddle the threshold, so the count is tested

    plain = CheckerboardMetric()
    plain.update(data[0])
    assert isinstance(plain.compute(), torch.Tensor)
    plain.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert torch.isnan(plain.compute())


def test_merging_two_metrics_equals_one_over_all_data() -> None:
    data = batches(seed=1, count=6)
    first, second, whole = (CheckerboardMetric(threshold_db=15.0) for _ in range(3))
    for batch in data[:2]:
        first.update(batch)
    for batch in data[2:]:
        second.update(batch)
    for batch in data:
        whole.update(batch)
    first.merge_state(second)
    merged, single = first.compute(), whole.compute()
    assert float(merged["mean_db"]) == pytest.approx(float(single["mean_db"]), abs=1e-9)
    assert float(merged["fraction_above"]) == float(single["fraction_above"])


def test_period_and_signals() -> None:
    metric = CheckerboardMetric(period=4, dims=1)
    signals = torch.randn(2, 1, 256, generator=torch.Generator().manual_seed(2))
    metric.update(signals)
    expected = checkerboard_score(signals, period=4, dims=1).db.mean()
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("period", ["auto", 1, "x"])
def test_bad_period_is_refused_up_front(period: object) -> None:
    with pytest.raises(CheckerscopeError):
        CheckerboardMetric(period=period)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, results: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        metric = CheckerboardMetric(threshold_db=15.0)
        for batch in batches(seed=3, count=4)[rank::world]:
            metric.update(batch)
        result = metric.compute()  # syncs the sum states across both processes
        results[rank] = (float(result["mean_db"]), float(result["fraction_above"]))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_compute_syncs_across_processes() -> None:
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    results = mp.Manager().dict()
    # fork: the children inherit the imported modules, which keeps this test to seconds
    mp.start_processes(
        _worker, args=(2, _free_port(), results), nprocs=2, join=True, start_method="fork"
    )
    mean_db, fraction = reference(batches(seed=3, count=4), 15.0)
    for rank in (0, 1):
        assert results[rank][0] == pytest.approx(mean_db, abs=1e-5)
        assert results[rank][1] == pytest.approx(fraction)
