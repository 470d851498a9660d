"""The registry: named configurations with their native example inputs and, for the
architectures written from published configurations, the audit the theory predicts.

Two dictionaries:

* :data:`MODELS`: the reference configurations the audit was first built and tested on
  (DCGANs, the article's generators, pix2pix, Johnson, ESPCN, SRResNet, VAE/LDM decoders,
  MelGAN); ``checkerscope audit --list-zoo`` lists them and the suite audits each.
* :data:`ARCHITECTURES`: the architectures users actually run, each written from its
  published layer configuration at a small channel width and a native-like spatial or
  temporal size, each with an :class:`~checkerscope.zoo.expected.ExpectedAudit`.

:func:`get` finds a name in either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.theory import FIR, AvgPool, Conv, Deconv, PixelShuffle, Resize
from checkerscope.zoo.audio import (
    hifigan_discriminator,
    hifigan_generator,
    melgan_discriminator,
    melgan_generator,
    wavegan_generator,
)
from checkerscope.zoo.autoencoders import ldm_decoder, vae_decoder, vqgan_decoder, vqgan_encoder
from checkerscope.zoo.discriminators import dcgan_discriminator, patchgan_discriminator
from checkerscope.zoo.expected import ExpectedAudit, ExpectedPath
from checkerscope.zoo.generators import dcgan_generator, stylegan2_synthesis_block
from checkerscope.zoo.image_to_image import (
    cyclegan_resnet_generator,
    johnson_transformer,
    pix2pix_unet,
    pix2pixhd_global_generator,
    unet,
)
from checkerscope.zoo.super_resolution import (
    espcn,
    espcn_functional,
    espcn_separate,
    esrgan_rrdb,
    srgan_generator,
    srresnet,
)

__all__ = ["ARCHITECTURES", "MODELS", "ZooEntry", "get"]


@dataclass(frozen=True)
class ZooEntry:
    """A named zoo configuration.

    Attributes:
        name: registry key (``checkerscope audit zoo:NAME``).
        description: one line: the architecture and its upsampling choice.
        factory: builds a fresh, randomly initialised model.
        input_shape: the native example input shape, batch first (the input that carries
            the image or signal, when there are several).
        kind: ``"generator"``, ``"discriminator"``, ``"image-to-image"``,
            ``"super-resolution"``, ``"decoder"``, ``"encoder"`` or ``"vocoder"``.
        expected: the audit the overlap theory predicts (see
            :mod:`checkerscope.zoo.expected`), or ``None`` where not written down.
        extra_input_shapes: shapes of further positional inputs (StyleGAN2's latent ``w``).
    """

    name: str
    description: str
    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    kind: str
    expected: ExpectedAudit | None = None
    extra_input_shapes: tuple[tuple[int, ...], ...] = ()

    def build(self) -> nn.Module:
        """A fresh model (random init)."""
        return self.factory()

    def example_input(self, seed: int = 0) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """A standard normal example input of the native shape (fixed seed); a tuple, in
        the order of ``forward``'s arguments, when the entry has extra inputs."""
        generator = torch.Generator().manual_seed(seed)
        first = torch.randn(self.input_shape, generator=generator)
        if not self.extra_input_shapes:
            return first
        extra = (torch.randn(shape, generator=generator) for shape in self.extra_input_shapes)
        return (first, *extra)


def _entry(
    name: str, description: str, factory: Callable[[], nn.Module], shape: tuple, kind: str
) -> tuple[str, ZooEntry]:
    return name, ZooEntry(name, description, factory, tuple(shape), kind)


_LAST2 = ["resize", "resize", "deconv3", "deconv3"]
_LAST1 = ["resize", "resize", "resize", "deconv3"]

MODELS: dict[str, ZooEntry] = dict(
    [
        _entry(
            "dcgan64",
            "DCGAN generator, 64 px, ConvTranspose2d(k4,s2,p1) x4 (even overlap)",
            lambda: dcgan_generator(64),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "dcgan32",
            "DCGAN generator, 32 px, ConvTranspose2d(k4,s2,p1) x3 (even overlap)",
            lambda: dcgan_generator(32),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "article_deconv_last2",
            "article's GAN: resize-conv, then ConvTranspose2d(k3,s2) in the last two layers",
            lambda: dcgan_generator(64, upsample=_LAST2),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "article_deconv_last1",
            "article's GAN: resize-conv, then ConvTranspose2d(k3,s2) in the last layer only",
            lambda: dcgan_generator(64, upsample=_LAST1),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "article_resize",
            "article's GAN: nearest resize + 3x3 conv in every layer",
            lambda: dcgan_generator(64, upsample="resize"),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "dcgan64_subpixel",
            "DCGAN generator, 64 px, sub-pixel conv (ICNR) in every layer",
            lambda: dcgan_generator(64, upsample="subpixel"),
            (1, 100, 1, 1),
            "generator",
        ),
        _entry(
            "dcgan64_disc",
            "DCGAN discriminator, 64 px, Conv2d(k4,s2,p1) from the first layer on",
            lambda: dcgan_discriminator(64),
            (1, 3, 64, 64),
            "discriminator",
        ),
        _entry(
            "dcgan32_disc",
            "DCGAN discriminator, 32 px, Conv2d(k4,s2,p1) from the first layer on",
            lambda: dcgan_discriminator(32),
            (1, 3, 32, 32),
            "discriminator",
        ),
        _entry(
            "disc_k3_first_stride2",
            "discriminator, 64 px, Conv2d(k3,s2) from the first layer on (uneven gradients)",
            lambda: dcgan_discriminator(64, kernel_size=3),
            (1, 3, 64, 64),
            "discriminator",
        ),
        _entry(
            "disc_k3_first_stride1",
            "discriminator, 64 px, regular Conv2d(k3,s1) first, then Conv2d(k3,s2) stages",
            lambda: dcgan_discriminator(64, kernel_size=3, first_stride=1),
            (1, 3, 64, 64),
            "discriminator",
        ),
        _entry(
            "dcgan64_disc_blurpool",
            "DCGAN discriminator, 64 px, stride-1 conv + BlurPool2d instead of stride 2",
            lambda: dcgan_discriminator(64, blurpool=True),
            (1, 3, 64, 64),
            "discriminator",
        ),
        _entry(
            "pix2pix_unet",
            "pix2pix U-Net, 256 px, 8 levels, Conv2d(k4,s2) down / ConvTranspose2d(k4,s2) up",
            lambda: pix2pix_unet(width=16),
            (1, 3, 256, 256),
            "image-to-image",
        ),
        _entry(
            "johnson_deconv",
            "Johnson style transfer, ConvTranspose2d(k3,s2,p1,op1) x2 (uneven overlap)",
            lambda: johnson_transformer(width=16, upsample="deconv"),
            (1, 3, 256, 256),
            "image-to-image",
        ),
        _entry(
            "johnson_resize",
            "Johnson style transfer, nearest resize + 3x3 conv x2 (the article's fix)",
            lambda: johnson_transformer(width=16, upsample="resize"),
            (1, 3, 256, 256),
            "image-to-image",
        ),
        _entry(
            "espcn",
            "ESPCN x3 super-resolution, Conv2d + PixelShuffle(3), default init",
            lambda: espcn(scale=3),
            (1, 1, 64, 64),
            "super-resolution",
        ),
        _entry(
            "srresnet",
            "SRResNet x4, 2x (Conv2d + PixelShuffle(2) + PReLU), default init",
            lambda: srresnet(scale=4, width=32, n_residual=4),
            (1, 3, 32, 32),
            "super-resolution",
        ),
        _entry(
            "vae_decoder",
            "VAE decoder, Linear to 4x4 then ConvTranspose2d(k4,s2,p1) x4 to 64 px",
            lambda: vae_decoder(),
            (1, 128),
            "decoder",
        ),
        _entry(
            "ldm_decoder",
            "latent-diffusion decoder, 8x, F.interpolate nearest + conv3 (no deconv)",
            lambda: ldm_decoder(width=16),
            (1, 4, 32, 32),
            "decoder",
        ),
        _entry(
            "melgan",
            "MelGAN vocoder, ConvTranspose1d(k=2s, s) for s = 8, 8, 2, 2 (hop 256)",
            lambda: melgan_generator(width=64),
            (1, 80, 32),
            "vocoder",
        ),
    ]
)


# --------------------------------------------------------------------------- architectures
#
# Each expectation below is derived from the architecture before any audit was run. The
# steady-state numbers follow by hand for one layer (k mod s phases) and were compounded
# with checkerscope.theory.overlap on the listed specs where stated.

_D3 = Deconv(3, 2, padding=1, output_padding=1)  # CycleGAN / pix2pixHD "uk" layer
_C3 = Conv(3, padding=1)

# Deconv k3 s2: per axis one phase gets 2 taps, the other 1 (2:1; 4:1 in 2-D). Two in a row
# give 1-D [1, 3, 2, 3] (period 4, 3:1); the final 7x7 conv sums 7 consecutive values =
# one period (9) plus 3 more: 15, 17, 15, 16, so 17:15 per axis, (17/15)**2 in 2-D.
_CYCLEGAN = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="main (every residual path: stride-1 convs before the first deconv)",
            direction="forward",
            specs=(_D3, _D3, Conv(7, padding=3)),
            overlap="uneven",
            periods=(2, 4),
            period=4,
            unevenness=(17 / 15) ** 2,
        ),
    ),
    fix=("ConvTranspose2d k3 s2 p1 op1 (u128)", "ConvTranspose2d k3 s2 p1 op1 (u64)"),
)

# Backward of Conv k4 s2: every input pixel is covered by exactly 2 windows per axis (4 is
# divisible by 2): even, but the learned taps differ per phase ("even, can learn"). The
# k4 s1 convs sit after the last downsampler, where the gradient is uniform. Like DCGAN's
# k4 s2 discriminator (measured clean), the gradient probe should stay under 10 dB.
_PATCHGAN = ExpectedAudit(
    verdict="clean",
    decided_by="measurement",
    paths=(
        ExpectedPath(
            name="main",
            direction="backward",
            specs=(Conv(4, 2, padding=1),) * 3,
            overlap="even",
            learnable_periods=(2, 4, 8),
        ),
    ),
    note="fix has nothing to replace; with downsample=True the three k4 s2 convs become "
    "conv s1 + BlurPool2d",
)

# Four k3 s2 p1 op1 deconvs: periods 2, 4, 8, 16 on the output; compounded with the final
# 7x7 conv (theory.overlap): 1-D 42:29, 2-D (42/29)**2 = 1764/841.
_PIX2PIXHD = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="main (every residual path)",
            direction="forward",
            specs=(_D3, _D3, _D3, _D3, Conv(7, padding=3)),
            overlap="uneven",
            periods=(2, 4, 8, 16),
            period=16,
            unevenness=1764 / 841,
        ),
    ),
    fix=tuple(f"ConvTranspose2d k3 s2 p1 op1 (up {i})" for i in range(1, 5)),
)


# A conv followed by a pixel shuffle: every output pixel comes from exactly one conv output
# (even overlap), but each of the scale**2 phases has its own conv filter; at default init
# (not ICNR) they differ, and the zoo's espcn measured a period-3 grid (+18.5 dB).
def _espcn_expected(where: str) -> ExpectedAudit:
    return ExpectedAudit(
        verdict="artifacts",
        decided_by="measurement",
        paths=(
            ExpectedPath(
                name="main",
                direction="forward",
                specs=(PixelShuffle(3),),
                overlap="even",
                learnable_periods=(3,),
            ),
        ),
        fix=(f"Conv2d k3 -> {where} x3",),
    )


# Two sub-pixel stages x2: the first paints period 2 at its output, 4 on the final grid.
_SRGAN = ExpectedAudit(
    verdict="artifacts",
    decided_by="measurement",
    paths=(
        ExpectedPath(
            name="main (every residual path)",
            direction="forward",
            specs=(PixelShuffle(2), _C3, PixelShuffle(2), Conv(9, padding=4)),
            overlap="even",
            learnable_periods=(2, 4),
        ),
    ),
    fix=("upsample[0]: conv -> shuffle x2", "upsample[1]: conv -> shuffle x2"),
)

# Nearest x2 then conv3, twice: nearest resize copies each pixel to all phases, so every
# phase sees the same taps (artifact-free by construction, for any weights).
_ESRGAN = ExpectedAudit(
    verdict="clean",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="main (every residual path)",
            direction="forward",
            specs=(Resize(2), _C3, Resize(2), _C3, _C3, _C3),
            overlap="free",
        ),
    ),
)

# Transposed convs with k = 2u (16/8, 4/2): every output sample gets exactly 2 taps (even),
# with learned per-phase weights. Periods on the output: 8 * 32 = 256 and 8 * 4 = 32 for
# the k16 s8 layers, 2 * 2 = 4 and 2 for the k4 s2 ones. The MRF branches and residual
# shortcuts add stride-1 convs only, which keep an even pattern even; the path through
# every shortcut is listed. The zoo's melgan (same kernels) measured +60 dB at init.
_VOCODER_UPS = (
    Deconv(16, 8, padding=4),
    Deconv(16, 8, padding=4),
    Deconv(4, 2, 1),
    Deconv(4, 2, 1),
)


def _vocoder_expected(name: str) -> ExpectedAudit:
    return ExpectedAudit(
        verdict="artifacts",
        decided_by="measurement",
        paths=(
            ExpectedPath(
                name="all residual shortcuts (the other paths add stride-1 convs)",
                direction="forward",
                specs=(*_VOCODER_UPS, Conv(7, padding=3)),
                overlap="even",
                learnable_periods=(2, 4, 32, 256),
            ),
        ),
        fix=tuple(
            f"weight-normed ConvTranspose1d k{k} s{s} (stage {i}; keep the weight norm)"
            for i, (k, s) in enumerate(((16, 8), (16, 8), (4, 2), (4, 2)), start=1)
        ),
        note=f"{name}: every conv uses the legacy torch.nn.utils.weight_norm hooks",
    )


# Backward of Conv k41 s2: 41 = 2*20 + 1, so one phase gets 21 windows, the other 20
# (21:20); of k41 s4: 41 = 4*10 + 1, 11:10. Periods on the input grid: own period times
# the downsampling before the layer. HiFi-GAN strides 2, 2, 4, 4: 2, 4, 16, 64 on scale 1;
# scale 2 starts with an even AvgPool(4, 2) (x2): 4, 8, 32, 128; scale 3: 8, 16, 64, 256.
# Compounded (theory.overlap, with the k15 conv in front): 1.00428, 1.00102, 1.00102.
_HIFI_SCALE = (
    Conv(15, padding=7),
    Conv(41, 2, 20),
    Conv(41, 2, 20),
    Conv(41, 4, 20),
    Conv(41, 4, 20),
)
_HIFIGAN_MSD = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="scale 1 (spectral norm)",
            direction="backward",
            specs=_HIFI_SCALE,
            overlap="uneven",
            periods=(2, 4, 16, 64),
            period=64,
            unevenness=663683 / 660855,
        ),
        ExpectedPath(
            name="scale 2 (one AvgPool1d(4, 2, padding=2))",
            direction="backward",
            specs=(AvgPool(4, 2, 2), *_HIFI_SCALE),
            overlap="uneven",
            periods=(4, 8, 32, 128),
            period=128,
            unevenness=1.0010151701467465,
        ),
        ExpectedPath(
            name="scale 3 (two AvgPool1d(4, 2, padding=2))",
            direction="backward",
            specs=(AvgPool(4, 2, 2), AvgPool(4, 2, 2), *_HIFI_SCALE),
            overlap="uneven",
            periods=(8, 16, 64, 256),
            period=256,
            unevenness=1.0010151701467465,
        ),
    ),
    note="the scales are parallel branches of the input, not a chain; the compounded "
    "unevenness is below 0.5 %, so the gradient probe may well score under 10 dB, but a "
    "relevant layer is uneven",
)

# MelGAN: four k41 s4 per scale (11:10 each), periods 4, 16, 64, 256 on scale 1; scales 2
# and 3 follow AvgPool1d(4, 2, padding=1) once and twice (x2, x4). Compounded with the k15
# conv (theory.overlap): 166789/164061 = 1.01663, then 1.01332 twice.
_MEL_SCALE = (Conv(15, padding=7), *(Conv(41, 4, 20),) * 4)
_MELGAN_MSD = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="scale 1",
            direction="backward",
            specs=_MEL_SCALE,
            overlap="uneven",
            periods=(4, 16, 64, 256),
            period=256,
            unevenness=166789 / 164061,
        ),
        ExpectedPath(
            name="scale 2 (one AvgPool1d(4, 2, padding=1))",
            direction="backward",
            specs=(AvgPool(4, 2, 1), *_MEL_SCALE),
            overlap="uneven",
            periods=(8, 32, 128, 512),
            period=512,
            unevenness=1.0133239767787328,
        ),
        ExpectedPath(
            name="scale 3 (two AvgPool1d(4, 2, padding=1))",
            direction="backward",
            specs=(AvgPool(4, 2, 1), AvgPool(4, 2, 1), *_MEL_SCALE),
            overlap="uneven",
            periods=(16, 64, 256, 1024),
            period=1024,
            unevenness=1.0133239767787328,
        ),
    ),
    note="the scales are parallel branches of the input, not a chain; pooling uses "
    "count_include_pad=False, which changes the borders only",
)

# WaveGAN: k25 s4, 25 = 4*6 + 1, one phase gets 7 taps, three get 6 (7:6) per layer;
# five layers paint periods 4, 16, 64, 256, 1024; compounded (theory.overlap) 1229:962.
_WAVEGAN = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="main",
            direction="forward",
            specs=(Deconv(25, 4, padding=11, output_padding=1),) * 5,
            overlap="uneven",
            periods=(4, 16, 64, 256, 1024),
            period=1024,
            unevenness=1229 / 962,
        ),
    ),
    fix=tuple(f"ConvTranspose1d k25 s4 p11 op1 (layer {i})" for i in range(1, 6)),
)

# VQGAN encoder, backward: each downsampler is pad (0, 1) + Conv k3 s2 p0, 2:1 per axis
# (4:1 in 2-D), periods 2, 4, 8, 16 on the input grid. The paths differ in how many
# stride-1 3x3 convs (residual bodies) sit between the downsamplers; those dampen. With
# every shortcut (only conv_in in front) the compound stays 2:1 per axis, 4:1 in 2-D; with
# every body (4 convs per level, conv_in and the first level's 4 in front) it is
# 1.0056:1 (theory.overlap). The shortcut path leads. Attention sits after the last
# downsampler (uniform gradient there).
_VQ_DOWN = Conv(3, 2)
_VQGAN_ENCODER = ExpectedAudit(
    verdict="artifacts",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="all residual shortcuts",
            direction="backward",
            specs=(_C3, _VQ_DOWN, _VQ_DOWN, _VQ_DOWN, _VQ_DOWN),
            overlap="uneven",
            periods=(2, 4, 8, 16),
            period=16,
            unevenness=4.0,
        ),
        ExpectedPath(
            name="all residual bodies",
            direction="backward",
            specs=((_C3,) * 5 + (_VQ_DOWN,) + ((_C3,) * 4 + (_VQ_DOWN,)) * 3),
            overlap="uneven",
            periods=(2, 4, 8, 16),
            period=16,
            unevenness=1.0055652604386962,
        ),
    ),
    note="fix has nothing to replace by default; with downsample=True the four "
    "pad + k3 s2 convs become conv s1 + BlurPool2d",
)

# VQGAN decoder: nearest x2 + conv3 four times: artifact-free by construction.
_VQGAN_DECODER = ExpectedAudit(
    verdict="clean",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="all residual shortcuts (the bodies add stride-1 convs)",
            direction="forward",
            specs=(Resize(2), _C3) * 4 + (_C3,),
            overlap="free",
        ),
    ),
)


# U-Net, one path per skip level: the level-l skip joins the expansive path before the
# last l up-convs. Up-conv k2 s2: no overlap at all, every output pixel gets exactly one
# tap (even), from one of 4 learned per-phase taps; the up-conv at depth j (counted from
# the output) paints period 2**j. The top skip has no resampling after it.
def _unet_path(level: int) -> ExpectedPath:
    block = (Deconv(2, 2), Conv(3), Conv(3))
    return ExpectedPath(
        name=f"skip level {level}" if level < 4 else "bottleneck (level 4)",
        direction="forward",
        specs=block * level,
        overlap="even" if level else "free",
        learnable_periods=tuple(2**j for j in range(1, level + 1)),
    )


_UNET = ExpectedAudit(
    verdict="artifacts",
    decided_by="measurement",
    paths=tuple(_unet_path(level) for level in (4, 3, 2, 1, 0)),
    fix=tuple(f"ConvTranspose2d k2 s2 (up-conv {i})" for i in range(1, 5)),
    note="unpadded convs make the output (388) smaller than the input (572): judge it as "
    "image-to-image (forward), not by comparing sizes; the paths join by crop and concat",
)

# StyleGAN2: conv_transpose2d k3 s2 leaves per axis coverage [2, 1, 2, 1, ...]; the FIR
# [1, 3, 3, 1] sums 1*2 + 3*1 + 3*2 + 1*1 = 12 at even and 1*1 + 3*2 + 3*1 + 1*2 = 12 at
# odd positions: even. The toRGB skip inserts zeros, [1, 0, 1, 0, ...], and the FIR gives
# 1 + 3 = 4 and 3 + 1 = 4: even (upfirdn2d = a transposed FIR, stride 2). Beyond the
# all-ones count, [1, 3, 3, 1] = (1 + z)**3 is zero at the Nyquist frequency, so no learned
# deconv weights can leave a period-2 grid: artifact-free by construction once the
# filter's taps are weighted (hand arithmetic, confirmed by theory.overlap with FIR).
_FIR = FIR((1, 3, 3, 1))
_STYLEGAN2 = ExpectedAudit(
    verdict="clean",
    decided_by="overlap",
    paths=(
        ExpectedPath(
            name="main: conv_transpose2d k3 s2 + FIR, conv3, toRGB",
            direction="forward",
            specs=(Deconv(3, 2), _FIR, _C3),
            overlap="free",
        ),
        ExpectedPath(
            name="toRGB skip: zero insertion + FIR",
            direction="forward",
            specs=(FIR((1, 3, 3, 1), stride=2, transposed=True),),
            overlap="free",
        ),
    ),
    note="fix should replace nothing: each transposed conv or zero insertion is followed "
    "by the fixed low-pass (upfirdn2d); judged without the filter the deconv is 2:1 per "
    "axis and zero insertion leaves phases empty",
)


def _arch(
    name: str,
    description: str,
    factory: Callable[[], nn.Module],
    shape: tuple[int, ...],
    kind: str,
    expected: ExpectedAudit,
    extra: tuple[tuple[int, ...], ...] = (),
) -> tuple[str, ZooEntry]:
    return name, ZooEntry(name, description, factory, shape, kind, expected, extra)


ARCHITECTURES: dict[str, ZooEntry] = dict(
    [
        _arch(
            "cyclegan_resnet",
            "CycleGAN ResNet generator, 256 px, 9 blocks, 2x ConvTranspose2d(k3,s2,p1,op1)",
            lambda: cyclegan_resnet_generator(width=8),
            (1, 3, 256, 256),
            "image-to-image",
            _CYCLEGAN,
        ),
        _arch(
            "patchgan70",
            "70x70 PatchGAN, C64-C128-C256-C512 k4, strides 2,2,2,1 (256 px -> 30x30)",
            lambda: patchgan_discriminator(width=8),
            (1, 3, 256, 256),
            "discriminator",
            _PATCHGAN,
        ),
        _arch(
            "pix2pixhd_global",
            "pix2pixHD global generator, 512x1024, 4x Conv2d(k3,s2), 4x ConvTranspose2d(k3,s2)",
            lambda: pix2pixhd_global_generator(width=4),
            (1, 3, 512, 1024),
            "image-to-image",
            _PIX2PIXHD,
        ),
        _arch(
            "espcn_separate",
            "ESPCN x3, last conv and PixelShuffle as separate attributes, default init",
            lambda: espcn_separate(scale=3),
            (1, 1, 64, 64),
            "super-resolution",
            _espcn_expected("self.shuffle"),
        ),
        _arch(
            "espcn_functional",
            "ESPCN x3, last conv then F.pixel_shuffle, default init",
            lambda: espcn_functional(scale=3),
            (1, 1, 64, 64),
            "super-resolution",
            _espcn_expected("F.pixel_shuffle"),
        ),
        _arch(
            "srgan",
            "SRGAN generator x4, 16 blocks, upsample blocks with separate conv/shuffle",
            lambda: srgan_generator(width=16, n_residual=16),
            (1, 3, 64, 64),
            "super-resolution",
            _SRGAN,
        ),
        _arch(
            "esrgan_rrdb",
            "ESRGAN RRDB net x4, 3 RRDBs, F.interpolate nearest x2 + conv3 twice",
            lambda: esrgan_rrdb(width=16, growth=8, n_blocks=3),
            (1, 3, 64, 64),
            "super-resolution",
            _ESRGAN,
        ),
        _arch(
            "hifigan_v1",
            "HiFi-GAN V1 generator, ConvTranspose1d k16 s8 x2, k4 s2 x2, MRF, weight norm",
            lambda: hifigan_generator(initial_channels=64),
            (1, 80, 32),
            "vocoder",
            _vocoder_expected("hifigan_v1"),
        ),
        _arch(
            "hifigan_msd",
            "HiFi-GAN multi-scale discriminator, 3 scales, grouped Conv1d k41 s2,2,4,4",
            lambda: hifigan_discriminator(width=16),
            (1, 1, 8192),
            "discriminator",
            _HIFIGAN_MSD,
        ),
        _arch(
            "melgan_weightnorm",
            "MelGAN generator as published: weight norm, 1x1 shortcuts, ConvTranspose1d(2s, s)",
            lambda: melgan_generator(width=64, weight_norm=True, conv_shortcut=True),
            (1, 80, 32),
            "vocoder",
            _vocoder_expected("melgan_weightnorm"),
        ),
        _arch(
            "melgan_msd",
            "MelGAN multi-scale discriminator, 3 scales, grouped Conv1d k41 s4 x4, weight norm",
            lambda: melgan_discriminator(width=4, max_channels=256),
            (1, 1, 8192),
            "discriminator",
            _MELGAN_MSD,
        ),
        _arch(
            "wavegan",
            "WaveGAN generator, 5x ConvTranspose1d(k25,s4), 16 -> 16384 samples",
            lambda: wavegan_generator(d=4),
            (1, 100),
            "generator",
            _WAVEGAN,
        ),
        _arch(
            "vqgan_encoder",
            "VQGAN f16 encoder, 4x pad + Conv2d(k3,s2,p0), GroupNorm/swish, mid attention",
            lambda: vqgan_encoder(ch=8, z_channels=8),
            (1, 3, 256, 256),
            "encoder",
            _VQGAN_ENCODER,
        ),
        _arch(
            "vqgan_decoder",
            "VQGAN f16 decoder, 4x F.interpolate nearest + conv3, mid attention",
            lambda: vqgan_decoder(ch=8, z_channels=8),
            (1, 8, 16, 16),
            "decoder",
            _VQGAN_DECODER,
        ),
        _arch(
            "unet",
            "U-Net (Ronneberger), unpadded convs, 4x up-conv ConvTranspose2d(k2,s2), 572 -> 388",
            lambda: unet(width=4),
            (1, 1, 572, 572),
            "image-to-image",
            _UNET,
        ),
        _arch(
            "stylegan2_block",
            "StyleGAN2 synthesis block, F.conv_transpose2d + [1,3,3,1] FIR, upfirdn2d skip",
            lambda: stylegan2_synthesis_block(16, 16, w_dim=64),
            (1, 16, 128, 128),
            "generator",
            _STYLEGAN2,
            extra=((1, 64),),
        ),
    ]
)


def get(name: str) -> ZooEntry:
    """Look up a registry entry in :data:`MODELS` or :data:`ARCHITECTURES`; ``"zoo:NAME"``
    is accepted too.

    Examples:
        >>> get("zoo:melgan").input_shape
        (1, 80, 32)
        >>> get("wavegan").expected.periods
        (4, 16, 64, 256, 1024)
    """
    key = name.removeprefix("zoo:")
    if key in MODELS:
        return MODELS[key]
    if key in ARCHITECTURES:
        return ARCHITECTURES[key]
    choices = ", ".join(sorted([*MODELS, *ARCHITECTURES]))
    raise CheckerscopeError(f"unknown zoo model {key!r}; choose from {choices}")
