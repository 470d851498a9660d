"""C14, the checkerboard penalty on a deconvolution: the run and the verdict rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkerscope.experiments import c14_penalty as c14
from checkerscope.experiments import claim_module_name
from checkerscope.experiments.base import VERDICTS


def test_c14_is_registered() -> None:
    assert claim_module_name("C14") == "checkerscope.experiments.c14_penalty"


def test_c14_runs_end_to_end_in_a_tiny_configuration(tmp_path: Path) -> None:
    calls: list[float] = []
    result = c14.run(
        True,
        seed=1,
        out_dir=tmp_path,
        progress=lambda fraction, message: calls.append(fraction),
        config=c14.tiny_config(),
    )
    assert result.claim.id == "C14" and result.verdict in VERDICTS
    numbers = result.numbers
    assert set(numbers["final_excess_db"]) == {"deconv3", "resize", "deconv3+penalty 0.01"}
    assert numbers["mse_ratio"]["0.01"] == pytest.approx(
        numbers["eval_mse"]["deconv3+penalty 0.01"] / numbers["eval_mse"]["deconv3"]
    )
    assert result.verdict == c14._verdict(numbers["judged"])
    assert [Path(f).suffix for f in result.figures] == [".png", ".png"]
    assert calls and all(0.0 <= f <= 1.0 for f in calls)
    json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("penalised", "ratio", "verdict"),
    [
        (0.4, 1.01, "agrees"),  # reaches resize-conv + 0.5 dB within 2 %
        (0.4, 1.10, "partly"),  # reaches it, at a higher task loss
        (3.0, 1.00, "partly"),  # halves the 6 dB gap within 2 %
        (3.0, 1.05, "disagrees"),  # halves the gap, too costly
        (5.0, 1.00, "disagrees"),  # barely helps
    ],
)
def test_the_rule(penalised: float, ratio: float, verdict: str) -> None:
    excess = {"deconv3": 6.0, "resize": 0.0, "deconv3+penalty 0.001": penalised}
    mse = {"deconv3": 0.01, "resize": 0.011, "deconv3+penalty 0.001": 0.01 * ratio}
    assert c14._verdict(c14._judge(excess, mse, (0.001,))) == verdict
