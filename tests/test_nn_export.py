"""Export and precision: both ONNX exporters and onnxruntime, torch.export, autocast dtypes,
and a torch.jit.script refusal that says what works instead."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.nn import (
    BilinearAdditiveUpsample2d,
    BlurPool2d,
    FilteredDeconv2d,
    MaxBlurPool2d,
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv2d,
)


def _chain() -> nn.Sequential:
    """Every 2-D layer once, with the options an export could trip on."""
    torch.manual_seed(0)
    return nn.Sequential(
        ResizeConv2d(4, 6, 3, 2),  # fused, zeros
        ResizeConv2d(6, 6, 5, 2, padding_mode="reflect"),  # fused, exact reflect borders
        SubPixelConv2d(6, 4, 3, 2, blur=True),
        FilteredDeconv2d(4, 6, 4, 2, 1, groups=2, smoothing="binomial4"),
        MaxBlurPool2d(6),  # channels: the TorchScript exporter lost them in the pads above
        BlurPool2d(6, filter_size=3),
        BilinearAdditiveUpsample2d(6, 3, kernel_size=3),
    ).eval()


def _onnxruntime_output(path: Path, x: torch.Tensor) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def _export(model: nn.Module, x: torch.Tensor, path: Path, dynamo: bool) -> None:
    pytest.importorskip("onnx")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if dynamo:
            pytest.importorskip("onnxscript")
            torch.onnx.export(model, (x,), dynamo=True).save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)


@pytest.mark.parametrize(
    "layer",
    [ResizeConv1d(3, 2, 3, 4), ResizeConv2d(3, 2, 3, 2), ResizeConv3d(2, 2, 3, 2)],
    ids=["1d", "2d", "3d"],
)
def test_fused_resize_conv_exports_at_opset_17_with_the_torchscript_exporter(layer, tmp_path):
    """The fused path once failed here: ``aten::kron`` has no ONNX symbolic."""
    rank = layer.weight.dim() - 2
    x = torch.randn(1, layer.in_channels, *(5,) * rank)
    path = tmp_path / "layer.onnx"
    _export(layer.eval(), x, path, dynamo=False)
    with torch.no_grad():
        expected = layer(x).numpy()
    assert np.abs(_onnxruntime_output(path, x) - expected).max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_every_layer_round_trips_through_onnx_and_onnxruntime(dynamo, tmp_path):
    model = _chain()
    x = torch.randn(2, 4, 6, 7)
    path = tmp_path / "chain.onnx"
    _export(model, x, path, dynamo=dynamo)
    with torch.no_grad():
        expected = model(x).numpy()
    assert expected.shape == (2, 3, 48, 56)
    assert np.abs(_onnxruntime_output(path, x) - expected).max() < 1e-5


@pytest.mark.parametrize("layer", [BlurPool2d(), MaxBlurPool2d()], ids=["blur", "max-blur"])
def test_blur_pools_without_channels_export_with_the_torchscript_exporter(layer, tmp_path):
    x = torch.randn(1, 5, 9, 8)
    _export(layer, x, tmp_path / "pool.onnx", dynamo=False)
    assert np.abs(_onnxruntime_output(tmp_path / "pool.onnx", x) - layer(x).numpy()).max() < 1e-6


def test_torch_export_runs_every_layer():
    model = _chain()
    x = torch.randn(1, 4, 6, 7)
    program = torch.export.export(model, (x,))
    assert torch.allclose(program.module()(x), model(x), atol=1e-6)


def _layers() -> list[nn.Module]:
    return [*_chain(), ResizeConv2d(4, 4, 3, 2, mode="bilinear"), SubPixelConv2d(4, 2)]


@pytest.mark.parametrize("layer", _layers(), ids=lambda layer: type(layer).__name__)
def test_torch_jit_script_names_what_to_use_instead(layer):
    for scripted in (layer, nn.Sequential(nn.Identity(), layer)):
        with pytest.raises(CheckerscopeError, match=r"use torch\.compile\(model\), torch\.export"):
            torch.jit.script(scripted)


# --------------------------------------------------------------------------- autocast


def _reference_dtype(layer: nn.Module, x: torch.Tensor) -> torch.dtype:
    """What torch's own layers give under autocast: convolutions cast to bfloat16,
    interpolation and pooling keep their input's dtype."""
    if isinstance(layer, BilinearAdditiveUpsample2d) and layer.weight is None:
        reference: nn.Module = nn.Upsample(scale_factor=2, mode="bilinear")
    elif isinstance(layer, MaxBlurPool2d | BlurPool2d):
        reference = nn.Conv2d(x.shape[1], x.shape[1], 3)  # the depthwise blur is a conv
    else:
        reference = nn.ConvTranspose2d(x.shape[1], 2, 4, 2, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return reference(x).dtype


@pytest.mark.parametrize(
    "layer",
    [*_layers(), BilinearAdditiveUpsample2d(4, 2), FilteredDeconv2d(4, 2, 3, 2, smoothing="hold")],
    ids=lambda layer: type(layer).__name__,
)
def test_autocast_gives_the_dtype_torch_layers_give_and_close_values(layer):
    channels = getattr(layer, "in_channels", None) or getattr(layer, "channels", None) or 4
    x = torch.randn(2, channels, 8, 8)
    with torch.no_grad():
        exact = layer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = layer(x)
    assert low.dtype == _reference_dtype(layer, x)
    scale = exact.abs().max().item()
    assert (low.float() - exact).abs().max().item() < 0.05 * scale


def test_filtered_deconv_keeps_bfloat16_with_and_without_bias():
    x = torch.randn(1, 3, 5, 5)
    for bias in (True, False):
        layer = FilteredDeconv2d(3, 2, 4, 2, 1, bias=bias)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert layer(x).dtype == torch.bfloat16
        assert layer.to(torch.float64)(x.double()).dtype == torch.float64
