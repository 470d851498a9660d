"""cs.audit_onnx on ONNX exports of the zoo: the same structural verdicts as the torch audit."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import checkerscope as cs
from checkerscope import zoo
from checkerscope.auditing.onnx_model import phases_tied, read_onnx
from checkerscope.errors import CheckerscopeError

pytest.importorskip("onnx")

# torch's legacy exporter records the wrong kernel_shape for the fused ResizeConv2d (its
# kernel is computed) and cannot export BlurPool2d; the dynamo exporter handles both.
DYNAMO = {
    "article_deconv_last1",
    "article_deconv_last2",
    "article_resize",
    "johnson_resize",
    "dcgan64_disc_blurpool",
}


def export(name: str, folder: Path) -> tuple[nn.Module, Path]:
    """The zoo model ``name`` (eval mode) and its ONNX export in ``folder``."""
    entry = zoo.MODELS[name]
    model = entry.build().eval()
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (entry.example_input(),), str(path), dynamo=name in DYNAMO)
        except Exception as exc:  # pragma: no cover - depends on the installed exporter
            pytest.skip(f"torch.onnx.export cannot export {name}: {type(exc).__name__}")
    return model, path


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in DYNAMO else n for n in sorted(zoo.MODELS)],
)
def test_onnx_export_gets_the_torch_verdicts(name: str, tmp_path: Path) -> None:
    entry = zoo.MODELS[name]
    torch_report = cs.audit(entry.build(), entry.example_input(), probe=False)
    _, path = export(name, tmp_path)
    onnx_report = cs.audit_onnx(path, probe=False)
    assert onnx_report.source == "onnx" and onnx_report.init_score is None
    mine = [(layer.verdict, layer.period, layer.direction) for layer in onnx_report.layers]
    theirs = [(layer.verdict, layer.period, layer.direction) for layer in torch_report.layers]
    assert mine == theirs
    assert onnx_report.periods == torch_report.periods
    assert onnx_report.kind == torch_report.kind
    assert onnx_report.structural_artifacts == torch_report.structural_artifacts
    assert onnx_report.overlap.period == torch_report.overlap.period


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in DYNAMO else n for n in sorted(zoo.MODELS)],
)
def test_onnx_audit_with_onnxruntime_reaches_the_torch_verdict(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model, path = export(name, tmp_path)
    torch_report = cs.audit(model, zoo.MODELS[name].example_input(), seeds=2)
    onnx_report = cs.audit_onnx(path, seeds=2)
    assert onnx_report.verdict == torch_report.verdict
    if onnx_report.kind != "downsampler":
        # the same weights on the same random inputs: the same scores
        assert onnx_report.given_score is not None and torch_report.given_score is not None
        assert onnx_report.given_score.period in torch_report.given_score.db_by_period
        assert onnx_report.given_score.median_db == pytest.approx(
            torch_report.given_score.db_by_period[onnx_report.given_score.period], abs=3.0
        )


def test_onnx_report_renders(tmp_path: Path) -> None:
    report = cs.audit_onnx(export("johnson_deconv", tmp_path)[1])
    assert "ConvTranspose" in str(report) and "uneven overlap" in str(report)
    assert report.to_dict()["source"] == "onnx"
    assert "data:image/png" in report.to_html(tmp_path / "r.html")


def test_invalid_onnx_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(CheckerscopeError, match="not a valid ONNX model"):
        cs.audit_onnx(garbage)
    with pytest.raises(CheckerscopeError, match="no such ONNX file"):
        cs.audit_onnx(tmp_path / "absent.onnx")


def test_phase_sums() -> None:
    # an exported resize-conv: the 4x4 kernel made of shifted 3x3 kernels ties its phases
    small = torch.randn(2, 3, 3, 3)
    resize_conv = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(3, 2, 3, padding=1))
    x = torch.zeros(1, 3, 1, 1)
    x[0, 0] = 1.0
    with torch.no_grad():
        resize_conv[1].weight.copy_(small)
        resize_conv[1].bias.zero_()
    kernel = np.zeros((3, 2, 4, 4))
    for cin in range(3):
        impulse = torch.zeros(1, 3, 3, 3)
        impulse[0, cin, 1, 1] = 1.0
        with torch.no_grad():
            response = resize_conv(impulse)[0]  # 6x6: the footprint of the middle pixel
        kernel[cin] = response[:, 1:5, 1:5].numpy()
    assert phases_tied(kernel, (2, 2), (1, 1))
    assert not phases_tied(np.random.default_rng(0).normal(size=(3, 2, 4, 4)), (2, 2), (1, 1))


class _DeconvThenBlur(nn.Module):
    """A k3 s2 deconvolution and a depthwise [1, 3, 3, 1] filter: a fixed buffer, or (as a
    control) a learned weight that differs between channels."""

    def __init__(self, learned: bool) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1)
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = (torch.outer(taps, taps) / 64).expand(3, 1, 4, 4).clone()
        if learned:
            self.blur = nn.Parameter(kernel * torch.tensor([1.0, 2.0, 0.5]).view(3, 1, 1, 1))
        else:
            self.register_buffer("blur", kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(self.up(x), (2, 1, 2, 1)), self.blur, groups=3)


@pytest.mark.parametrize("learned", [False, True])
def test_a_fixed_filter_in_onnx_is_told_from_a_learned_depthwise_conv(
    learned: bool, tmp_path: Path
) -> None:
    model, x = _DeconvThenBlur(learned).eval(), torch.randn(1, 4, 16, 16)
    path = tmp_path / "blurred.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False)
    onnx_report = cs.audit_onnx(path, probe=False)
    torch_report = cs.audit(model, x, probe=False)
    deconv = next(layer for layer in onnx_report.layers if layer.type == "ConvTranspose")
    read = read_onnx(path).graph.layers
    filters = [layer.params["taps"] for layer in read if layer.family == "fir"]
    if learned:
        assert deconv.verdict == "uneven overlap" and onnx_report.structural_artifacts
        assert filters == []
    else:
        assert deconv.verdict == "uneven alone, evened by a fixed filter"
        assert filters == [((1, 3, 3, 1), (1, 3, 3, 1))]
        assert not onnx_report.structural_artifacts
    assert onnx_report.structural_artifacts == torch_report.structural_artifacts
