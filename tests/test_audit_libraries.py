"""cs.audit and cs.fix on models from installed libraries (random init, their own code).

Skipped cleanly when a library is absent or cannot be imported (timm and
segmentation_models_pytorch need torchvision, whose PyPI build cannot load beside the CPU
torch). The expectations are written from each architecture's published configuration:

* diffusers' ``AutoencoderKL``: the decoder upsamples by nearest interpolation + conv
  (artifact-free by construction); the encoder downsamples by an asymmetric pad and a
  k3 s2 conv (uneven in the gradient, period 2 per downsampling).
* diffusers' ``UNet2DModel`` with plain down/up blocks: k3 s2 conv down, nearest + conv up;
  same size in and out, so judged forward: clean.
* diffusers' ``AutoencoderOobleck`` (Stable Audio's VAE): weight-normed ``ConvTranspose1d``
  with kernel 2s at each stride s in the decoder, ``Conv1d`` with kernel 2s in the encoder:
  even overlap both ways, so no periods; the decoder's per-phase weights paint a grid at
  init, which ``fix`` removes with weight-normed resize-convolutions.
* diffusers' ``AutoencoderTiny`` (TAESD): the decoder upsamples by nearest ``nn.Upsample``
  + conv (clean), the encoder by k3 s2 convs (uneven gradients at 2, 4, 8 for three).
* diffusers' ``AutoencoderDC`` (deep-compression autoencoder) with pixel-shuffle up blocks:
  each block is a conv + pixel shuffle (even, learns per-phase weights: ``fix`` replaces
  it) plus a shortcut that repeats every channel 4 times and shuffles (a nearest
  upsampling: artifact-free); its encoder's pixel-unshuffle blocks are artifact-free.
* diffusers' ``UNet1DModel`` in Dance Diffusion's layout: it resamples with a fixed cubic
  filter of 8 signed taps at stride 2 (``F.conv1d`` down, ``F.conv_transpose1d`` up), built
  in forward from ``x.new_zeros``; both phases of the filter sum to the same value, so every
  resampler is artifact-free by construction and there is nothing to fix.
* timm's ResNet-18: a k7 s2 stem, a k3 s2 max pool, k3 s2 convs opening stages 2-4 with
  1x1 s2 shortcuts: uneven gradients at periods 2, 4, 8, 16 and 32 (total stride 32, not
  more: the shortcuts are parallel paths, not layers in series).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
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

    report = cs.audit(_Denoiser(unet), torch.randn(1, 3, 32, 32), seeds=2)
    assert report.kind == "image-to-image"
    assert [layer.type for layer in report.layers] == ["Conv2d", "F.interpolate"]
    assert not report.structural_artifacts
    assert len(report.paths) > 1  # the skips are separate paths


class _Denoiser(nn.Module):
    """A diffusers UNet at a fixed timestep, so that it maps a sample to a sample."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unet(x, 10).sample


def _fix_lowers_the_init_score(model: nn.Module, x: torch.Tensor, report: Any) -> list[str]:
    """``cs.fix`` keeps the output shape, leaves a clean model and lowers the init score at
    the period that led by >= 10 dB; returns the replacement lines."""
    fixed = cs.fix(model, example_input=x)
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape
    after = cs.audit(fixed, x, seeds=2)
    assert not after.has_artifacts and after.init_score is not None
    period = report.init_score.period
    assert after.init_score.db_by_period[period] <= report.init_score.median_db - 10
    return [note for note in fixed.checkerscope_fix_notes if " -> " in note]


class _Call(nn.Module):
    """One method of a library model as a module (its ``forward`` does something else)."""

    def __init__(self, model: nn.Module, method: str, field: str) -> None:
        super().__init__()
        self.model, self.method, self.field = model, method, field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(getattr(self.model, self.method)(x), self.field)


def _oobleck() -> nn.Module:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    return diffusers.AutoencoderOobleck(
        encoder_hidden_size=16,
        downsampling_ratios=[2, 4, 4],
        channel_multiples=[1, 2, 4],
        decoder_channels=16,
        decoder_input_channels=8,
        audio_channels=1,
    )


def test_diffusers_oobleck_decoder_is_fixed_keeping_its_weight_norm() -> None:
    decoder, latent = _Call(_oobleck(), "decode", "sample"), torch.randn(1, 8, 64)
    report = cs.audit(decoder, latent, seeds=2)
    deconvs = [layer for layer in report.layers if layer.type == "ConvTranspose1d"]
    assert [(d.params["kernel"], d.params["stride"]) for d in deconvs] == [
        ((8,), (4,)),
        ((8,), (4,)),
        ((4,), (2,)),
    ]
    assert report.output_shape == (1, 1, 2048) and report.periods == ()
    assert report.has_artifacts and not report.structural_artifacts  # measured, not structural
    assert report.init_score is not None and report.init_score.median_db >= 10
    notes = _fix_lowers_the_init_score(decoder, latent, report)
    assert len(notes) == 3 and all(note.endswith("+ weight_norm") for note in notes)


def test_diffusers_oobleck_encoder_is_even() -> None:
    encoder = _Call(_oobleck(), "encode", "latent_dist")
    report = cs.audit(_Call(encoder, "__call__", "mean"), torch.randn(1, 1, 2048), probe=False)
    strided = [layer for layer in report.layers if layer.type == "Conv1d"]
    assert [layer.params["kernel"] for layer in strided] == [(4,), (8,), (8,)]
    assert report.kind == "downsampler" and not report.structural_artifacts


def test_diffusers_tiny_autoencoder() -> None:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    tiny = diffusers.AutoencoderTiny(
        encoder_block_out_channels=(16, 16, 16, 16),
        decoder_block_out_channels=(16, 16, 16, 16),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    decoded = cs.audit(_Call(tiny, "decode", "sample"), torch.randn(1, 4, 8, 8), seeds=2)
    assert decoded.output_shape == (1, 3, 64, 64)
    assert [layer.type for layer in decoded.layers] == ["Upsample"] * 3
    assert not decoded.has_artifacts and decoded.periods == ()
    encoded = cs.audit(_Call(tiny, "encode", "latents"), torch.randn(1, 3, 64, 64), probe=False)
    assert [layer.params["stride"] for layer in encoded.layers] == [(2, 2)] * 3
    assert encoded.periods == (2, 4, 8) and encoded.structural_artifacts


def test_diffusers_deep_compression_autoencoder() -> None:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderDC(
        in_channels=3,
        latent_channels=8,
        encoder_block_types=("ResBlock", "ResBlock", "EfficientViTBlock"),
        decoder_block_types=("ResBlock", "ResBlock", "EfficientViTBlock"),
        encoder_block_out_channels=(32, 32, 32),
        decoder_block_out_channels=(32, 32, 32),
        encoder_layers_per_block=(1, 1, 1),
        decoder_layers_per_block=(1, 1, 1),
        encoder_qkv_multiscales=((), (), (5,)),
        decoder_qkv_multiscales=((), (), (5,)),
        upsample_block_type="pixel_shuffle",
        downsample_block_type="pixel_unshuffle",
        decoder_norm_types="rms_norm",
        decoder_act_fns="silu",
    )
    decoder, latent = _Call(vae, "decode", "sample"), torch.randn(1, 8, 8, 8)
    report = cs.audit(decoder, latent, seeds=2)
    assert report.output_shape == (1, 3, 32, 32)
    verdicts = sorted(layer.verdict for layer in report.layers)
    assert verdicts == ["artifact-free by construction"] * 2 + ["even, can learn artifacts"] * 2
    assert report.has_artifacts and report.init_score is not None
    assert len(_fix_lowers_the_init_score(decoder, latent, report)) == 2
    encoder = cs.audit(_Call(vae, "encode", "latent"), torch.randn(1, 3, 32, 32), probe=False)
    assert {layer.type for layer in encoder.layers} == {"F.pixel_unshuffle"}
    assert not encoder.structural_artifacts


def test_diffusers_unet_1d_resamples_with_fixed_cubic_filters() -> None:
    diffusers = _import("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet1DModel(
        sample_size=1024,
        in_channels=2,
        out_channels=2,
        extra_in_channels=64,  # the Fourier time features concatenated to the input
        block_out_channels=(32, 32, 64),
        down_block_types=("DownBlock1DNoSkip", "DownBlock1D", "AttnDownBlock1D"),
        up_block_types=("AttnUpBlock1D", "UpBlock1D", "UpBlock1DNoSkip"),
        mid_block_type="UNetMidBlock1D",
        use_timestep_embedding=False,
        time_embedding_type="fourier",
        flip_sin_to_cos=True,
        act_fn=None,
        norm_num_groups=8,
        layers_per_block=1,
        downsample_each_block=False,
    )

    x = torch.randn(1, 2, 1024)
    report = cs.audit(_Denoiser(unet), x, seeds=2)
    cubic = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    cubic += cubic[::-1]  # diffusers' "cubic" kernel (upsampling uses twice it)
    assert [layer.type for layer in report.layers] == ["F.conv1d"] * 3 + ["F.conv_transpose1d"] * 3
    for layer in report.layers:
        (taps,) = layer.params["taps"]
        assert np.allclose(np.array(taps) / taps[0], np.array(cubic) / cubic[0])
        assert layer.verdict == "artifact-free by construction"
    assert report.periods == () and not report.has_artifacts
    fixed = cs.fix(_Denoiser(unet), example_input=x)
    assert not [note for note in fixed.checkerscope_fix_notes if " -> " in note]


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
