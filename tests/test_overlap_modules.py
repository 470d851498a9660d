"""``cs.overlap(module)``: checkerscope's layers by ``overlap_specs()``, torch's own modules by
their attributes (``checkerscope.theory`` never imports torch), containers in order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import checkerscope as cs
from checkerscope import nn as csnn
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import AvgPool, Conv, Deconv, MaxPool, PixelShuffle, Resize

CS_LAYERS = [
    csnn.ResizeConv1d(2, 3, 5, 4),
    csnn.ResizeConv2d(2, 3, 3, 2),
    csnn.ResizeConv2d(2, 3, 3, 3, mode="bilinear"),
    csnn.ResizeConv3d(2, 3, 3, 2),
    csnn.SubPixelConv1d(2, 3, 3, 3),
    csnn.SubPixelConv2d(2, 3, 3, 2),
    csnn.SubPixelConv2d(2, 3, 3, 2, blur=True),
    csnn.FilteredDeconv1d(2, 3, 4, 3),
    csnn.FilteredDeconv2d(2, 3, 3, 2, 1, 1),
    csnn.FilteredDeconv2d(2, 3, 4, 2, 1, smoothing="binomial4"),
    csnn.BilinearAdditiveUpsample2d(4, 2),
    csnn.BilinearAdditiveUpsample2d(4, 2, kernel_size=3),
    csnn.BlurPool1d(),
    csnn.BlurPool2d(3),
    csnn.MaxBlurPool1d(),
    csnn.MaxBlurPool2d(),
]


def _rank(layer: nn.Module) -> int:
    name = type(layer).__name__
    return 1 if name.endswith("1d") else 3 if name.endswith("3d") else 2


@pytest.mark.parametrize("layer", CS_LAYERS, ids=lambda layer: repr(layer))
def test_every_checkerscope_layer_is_its_overlap_specs(layer):
    dims = _rank(layer)
    direction = "backward" if "Pool" in type(layer).__name__ else "forward"
    by_module = cs.overlap(layer, dims=dims, direction=direction)
    by_specs = cs.overlap(layer.overlap_specs(), dims=dims, direction=direction)
    assert by_module.layers == by_specs.layers
    assert by_module.period == by_specs.period and by_module.unevenness == 1.0
    assert np.array_equal(by_module.pattern, by_specs.pattern)


# torch module -> the spec list that says the same
TORCH_MODULES = [
    (nn.ConvTranspose2d(3, 3, 3, 2), [Deconv(3, 2)], 2),
    (nn.ConvTranspose2d(3, 3, 3, 2, 1, 1), [Deconv(3, 2, 1, 1)], 2),
    (nn.ConvTranspose2d(3, 3, (3, 4), (2, 3), (1, 0), dilation=2), None, 2),
    (nn.ConvTranspose1d(3, 3, 5, 3, 2, 2), [Deconv(5, 3, 2, 2)], 1),
    (nn.ConvTranspose3d(2, 2, 3, 2), [Deconv(3, 2)], 3),
    (nn.Conv2d(3, 3, 3, 2, 1), [Conv(3, 2, 1)], 2),
    (nn.Conv2d(3, 3, 5, padding="same", dilation=2), [Conv(5, 1, 4, 2)], 2),
    (nn.Conv2d(3, 3, 4, 2, padding="valid"), [Conv(4, 2)], 2),
    (nn.Conv1d(3, 3, 3, 2, 1, padding_mode="reflect"), [Conv(3, 2, 1)], 1),
    (nn.Upsample(scale_factor=2), [Resize(2)], 2),
    (nn.Upsample(scale_factor=(2.0, 3.0), mode="bilinear"), [Resize((2, 3), "bilinear")], 2),
    (nn.UpsamplingNearest2d(scale_factor=3), [Resize(3)], 2),
    (nn.PixelShuffle(2), [PixelShuffle(2)], 2),
    (nn.MaxPool2d(2), [MaxPool(2)], 2),
    (nn.MaxPool2d(3, 2, 1), [MaxPool(3, 2, 1)], 2),
    (nn.AvgPool2d(2), [AvgPool(2)], 2),
    (nn.AvgPool1d(4, 2, 1), [AvgPool(4, 2, 1)], 1),
]


@pytest.mark.parametrize(("module", "specs", "dims"), TORCH_MODULES, ids=lambda v: repr(v)[:40])
def test_torch_modules_are_read_from_their_attributes(module, specs, dims):
    direction = "backward" if "Pool" in type(module).__name__ else "forward"
    by_module = cs.overlap(module, dims=dims, direction=direction)
    if specs is not None:
        by_specs = cs.overlap(specs, dims=dims, direction=direction)
        assert by_module.period == by_specs.period
        assert by_module.unevenness == by_specs.unevenness
        assert np.array_equal(by_module.pattern, by_specs.pattern)
        assert by_module.output_shape(7) == by_specs.output_shape(7)


def _torch_response_to_ones(module: nn.Module, size: int, dims: int) -> np.ndarray:
    """The independent reference: the module itself, all-ones weights, an input of ones."""
    module = module.double()
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.fill_(0.0 if name.endswith("bias") else 1.0)
        y = module(torch.ones(1, 1, *(size,) * dims, dtype=torch.float64))
    return y[0, 0].numpy()


@pytest.mark.parametrize(
    ("module", "dims"),
    [
        (nn.ConvTranspose2d(1, 1, 3, 2), 2),
        (nn.ConvTranspose1d(1, 1, 5, 3, 2, 2, dilation=2), 1),
        (nn.Sequential(nn.ConvTranspose2d(1, 1, 3, 2, 1), nn.Conv2d(1, 1, 3, padding=1)), 2),
        (nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3, 1, 1)), 2),
        (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.PixelShuffle(2)), 2),
        (nn.Sequential(nn.Conv1d(1, 1, 3, 2), nn.AvgPool1d(2)), 1),
    ],
    ids=lambda v: repr(v).replace("\n", "")[:50],
)
def test_full_map_of_a_module_equals_the_module_on_ones(module, dims):
    expected = _torch_response_to_ones(module, 6, dims)
    assert np.allclose(cs.overlap(module, dims=dims).full(6), expected)


def test_containers_are_read_in_order_and_nested():
    model = nn.Sequential(
        nn.Sequential(nn.ConvTranspose2d(3, 3, 3, 2)), nn.ConvTranspose2d(3, 3, 3, 2)
    )
    pattern = cs.overlap(model)
    assert pattern.layers == (Deconv((3, 3), (2, 2), (0, 0), (0, 0), (1, 1)),) * 2
    assert pattern.unevenness == cs.overlap([Deconv(3, 2)] * 2).unevenness == 9.0
    mixed = cs.overlap([csnn.ResizeConv2d(3, 3), Deconv(3, 2)])
    assert mixed.describe() == "resize x2 nearest, conv k3 p1, deconv k3 s2"
    assert cs.overlap(nn.ModuleList([nn.ConvTranspose2d(1, 1, 4, 2)])).is_even


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (nn.Sequential(nn.ConvTranspose2d(3, 3, 3, 2), nn.ReLU()), r"not a layer spec: ReLU\(\)"),
        (nn.Upsample(size=(8, 8)), "fixed size=.* has no integer factor"),
        (nn.Upsample(scale_factor=1.5), "scale must be an integer, got 1.5"),
        (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), "align_corners"),
        (nn.Upsample(scale_factor=2, mode="bicubic"), "mode must be one of"),
        (nn.Conv2d(3, 3, 4, padding="same"), "pads one side more than the other"),
        (nn.MaxPool2d(2, ceil_mode=True), "ceil_mode=True is not modelled"),
        (nn.MaxPool2d(3, 1, 1, dilation=2), "dilation=2 is not modelled"),
        (nn.AvgPool2d(3, 1, 1, count_include_pad=False), "count_include_pad=False"),
        (nn.AdaptiveAvgPool2d(4), "got AdaptiveAvgPool2d"),
        (nn.Sequential(), "layers is empty"),
    ],
    ids=lambda v: repr(v).replace("\n", "")[:40],
)
def test_what_cannot_be_read_is_refused_in_one_line(layers, message):
    with pytest.raises(CheckerscopeError, match=message) as caught:
        cs.overlap(layers)
    assert "\n" not in str(caught.value)


def test_a_layer_with_bad_overlap_specs_is_named():
    class Liar(nn.Module):
        def overlap_specs(self):
            return ["deconv k3 s2"]

    with pytest.raises(CheckerscopeError, match=r"Liar.overlap_specs\(\) returned 'deconv k3 s2'"):
        cs.overlap(Liar())


def test_the_theory_module_still_does_not_import_torch():
    code = (
        "import sys, checkerscope.theory as t; "
        "t.overlap([t.Deconv(3, 2)]); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
