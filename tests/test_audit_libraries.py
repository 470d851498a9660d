"""cs.audit and cs.fix on models from installed libraries (random init, their own code).

Skipped cleanly when a library is absent or cannot be imported (timm and
segmentation_models_pytorch need torchvision, whose PyPI build cannot load beside the CPU
torch). The expectations are written from each architecture's published configuration:

* diffusers' ``AutoencoderKL``: the decoder upsamples by nearest interpolation + conv
  (artifact-free by construction); the encoder downsamples by an asymmetric pad and a
  k3 s2 conv (uneven in the gradient, period 2 per downsampling).
* diffusers' ``UNet2DModel`` with plain down/up blocks: k3 s2 conv down, nearest + conv up;
  same size in and out, so judged forward: clean.
* timm's ResNet-18: a k7 s2 stem, a k3 s2 max pool, k3 s2 convs opening stages 2-4 with
  1x1 s2 shortcuts: uneven gradients at periods 2, 4, 8, 16 and 32 (total stride 32, not
  more: the shortcuts are parallel paths, not layers in series).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from torch import nn

import checkerscope as cs

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _import(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return __import__(name)
    except Exception as exc:  # ImportError, or torchvision failing to load its operators
        pytest.skip(f"{name} is not usable here: {type(exc).__name__}")


class _Decode(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).sample


class _Encode(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(x).latent_dist.mean


def _small_vae() -> nn.Module:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    return diffusers.AutoencoderKL(
        block_out_channels=(32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=16,
    )


def test_diffusers_vae_decoder_is_clean() -> None:
    report = cs.audit(_Decode(_small_vae()), torch.randn(1, 4, 16, 16), seeds=2)
    assert report.kind == "generator" and report.output_shape == (1, 3, 64, 64)
    upsamplers = [layer for layer in report.layers if layer.type == "F.interpolate"]
    assert len(upsamplers) == 2
    assert not report.has_artifacts and report.periods == ()


def test_diffusers_vae_encoder_has_period_2_and_4_gradients() -> None:
    report = cs.audit(_Encode(_small_vae()), torch.randn(1, 3, 64, 64), seeds=2)
    assert report.kind == "downsampler"
    strided = [layer for layer in report.layers if layer.type == "Conv2d"]
    assert [layer.params["stride"] for layer in strided] == [(2, 2), (2, 2)]
    assert report.periods == (2, 4) and report.structural_artifacts


def test_diffusers_unet_is_clean() -> None:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=16,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )

    class Denoiser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.unet(x, 10).sample

    report = cs.audit(Denoiser(), torch.randn(1, 3, 32, 32), seeds=2)
    assert report.kind == "image-to-image"
    assert [layer.type for layer in report.layers] == ["Conv2d", "F.interpolate"]
    assert not report.structural_artifacts
    assert len(report.paths) > 1  # the skips are separate paths


def test_timm_resnet_gradients() -> None:
    timm = _import("timm")
    model = timm.create_model("resnet18", pretrained=False, num_classes=10)
    report = cs.audit(model, torch.randn(1, 3, 224, 224), seeds=1)
    assert report.kind == "downsampler"
    assert report.periods == (2, 4, 8, 16, 32)
    assert max(max(p.period) for p in report.paths if p.pattern is not None) <= 32


def test_timm_convnext_patchify_stem() -> None:
    timm = _import("timm")
    model = timm.create_model("convnext_atto", pretrained=False, num_classes=10)
    report = cs.audit(model, torch.randn(1, 3, 128, 128), probe=False)
    # a k4 s4 patchify stem and k2 s2 downsamplers: even, but able to learn a grid
    assert report.kind == "downsampler" and not report.structural_artifacts


def test_segmentation_models_unet() -> None:
    smp = _import("segmentation_models_pytorch")
    model = smp.Unet("resnet18", encoder_weights=None, classes=2)
    report = cs.audit(model, torch.randn(1, 3, 64, 64), seeds=1)
    assert report.kind == "image-to-image"
    assert len(report.paths) > 1
