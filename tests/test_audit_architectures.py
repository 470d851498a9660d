"""cs.audit and cs.fix on the architectures people run (``zoo.ARCHITECTURES``).

Each entry carries the audit the overlap theory predicts for it, written from its
published layer configuration before any audit was run (``entry.expected``, see
:mod:`checkerscope.zoo.expected`). These tests hold the audit to those predictions:
verdict, periods, the leading path's period and unevenness, one reported path per
predicted path, and what ``fix`` replaces.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import checkerscope as cs
from checkerscope import zoo

NAMES = sorted(zoo.ARCHITECTURES)
_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d)


@pytest.fixture(scope="module")
def reports() -> dict[str, cs.AuditReport]:
    torch.set_num_threads(1)
    found = {}
    for name in NAMES:
        entry = zoo.ARCHITECTURES[name]
        found[name] = cs.audit(entry.build(), entry.example_input(), seeds=2)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_verdict_and_periods_match_the_theory(name: str, reports: dict) -> None:
    expected = zoo.ARCHITECTURES[name].expected
    assert expected is not None
    report = reports[name]
    assert report.verdict == expected.verdict
    assert report.periods == expected.periods
    structural = any(p.overlap == "uneven" for p in expected.paths)
    if expected.decided_by == "overlap":
        assert report.structural_artifacts == (expected.verdict == "artifacts")
    else:
        assert not structural and not report.structural_artifacts


@pytest.mark.parametrize("name", NAMES)
def test_every_predicted_path_is_reported(name: str, reports: dict) -> None:
    expected = zoo.ARCHITECTURES[name].expected
    report = reports[name]
    assert expected is not None
    lead = report.paths[0]
    assert lead.direction == expected.leading.direction
    assert max(lead.period) == expected.leading.period
    assert lead.unevenness == pytest.approx(expected.leading.unevenness, rel=1e-6)
    for path in expected.paths:
        matching = [
            p
            for p in report.paths
            if p.pattern is not None
            and max(p.period) == path.period
            and p.unevenness == pytest.approx(path.unevenness, rel=1e-6)
        ]
        assert matching, f"no reported path like {path.name!r}"


@pytest.mark.parametrize(
    "name",
    [n for n in NAMES if zoo.ARCHITECTURES[n].expected and zoo.ARCHITECTURES[n].expected.fix],
)
def test_fix_keeps_shapes_and_lowers_the_init_score_by_10_db(name: str, reports: dict) -> None:
    entry = zoo.ARCHITECTURES[name]
    assert entry.expected is not None
    model, x = entry.build(), entry.example_input()
    fixed = cs.fix(model, example_input=x)
    replaced = [note for note in fixed.checkerscope_fix_notes if " -> " in note]
    assert len(replaced) == len(entry.expected.fix), fixed.checkerscope_fix_notes
    assert not any(isinstance(m, _DECONVS) and max(m.stride) > 1 for m in fixed.modules())
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape
    before = reports[name].init_score
    after = cs.audit(fixed, x, seeds=2).init_score
    assert before is not None and after is not None
    assert after.db_by_period[before.period] <= before.median_db - 10


def test_weight_normed_vocoders_keep_their_weight_norm_when_fixed() -> None:
    entry = zoo.ARCHITECTURES["hifigan_v1"]
    fixed = cs.fix(entry.build(), example_input=entry.example_input())
    replaced = [m for m in fixed.modules() if type(m).__name__ == "ResizeConv1d"]
    assert len(replaced) == 4
    assert all(hasattr(m, "weight_g") and hasattr(m, "weight_v") for m in replaced)


def test_filtered_synthesis_block_needs_no_fix() -> None:
    entry = zoo.ARCHITECTURES["stylegan2_block"]
    fixed = cs.fix(entry.build(), example_input=entry.example_input())
    assert not [note for note in fixed.checkerscope_fix_notes if " -> " in note]


def test_multi_scale_discriminators_are_separate_paths(reports: dict) -> None:
    for name in ("hifigan_msd", "melgan_msd"):
        report = reports[name]
        assert len(report.paths) == 3
        assert len({p.output for p in report.paths}) == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_reaches_the_same_verdict(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    entry = zoo.ARCHITECTURES[name]
    torch.manual_seed(0)
    model = entry.build().eval()
    example = entry.example_input()
    args = example if isinstance(example, tuple) else (example,)
    path = tmp_path / f"{name}.onnx"
    failures = []
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for dynamo in (False, True):  # the TorchScript exporter, else torch.export's
            try:
                torch.onnx.export(model, args, str(path), dynamo=dynamo)
                break
            except Exception as exc:  # pragma: no cover - depends on the installed exporter
                failures.append(type(exc).__name__)
        else:
            pytest.skip(f"neither ONNX exporter can export {name}: {', '.join(failures)}")
    onnx_report = cs.audit_onnx(path, seeds=2)
    torch_report = cs.audit(model, example, seeds=2)
    assert onnx_report.verdict == torch_report.verdict
    assert onnx_report.periods == torch_report.periods
