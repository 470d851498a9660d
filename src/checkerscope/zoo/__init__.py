"""Reference architectures with the upsampling choices that matter for checkerboard artifacts.

Every factory returns a freshly initialised ``torch.nn.Module`` and documents its layer
choices. Widths are smaller than in the papers so that CPU audits stay fast; the layer
types, kernel sizes, strides and paddings (what decides the overlap pattern) are the
published ones, written here from the papers' and reference repositories' configurations.

Families: :mod:`~checkerscope.zoo.generators` (DCGAN, StyleGAN2 synthesis block),
:mod:`~checkerscope.zoo.discriminators` (DCGAN, PatchGAN),
:mod:`~checkerscope.zoo.image_to_image` (pix2pix and original U-Nets, Johnson, CycleGAN,
pix2pixHD), :mod:`~checkerscope.zoo.super_resolution` (ESPCN, SRResNet/SRGAN, ESRGAN),
:mod:`~checkerscope.zoo.autoencoders` (VAE, latent diffusion and VQGAN halves) and
:mod:`~checkerscope.zoo.audio` (MelGAN, HiFi-GAN, WaveGAN and their discriminators).

:data:`MODELS` and :data:`ARCHITECTURES` name ready-made configurations with their
native example inputs, the names that ``checkerscope audit zoo:NAME`` accepts; each
:data:`ARCHITECTURES` entry carries the audit the overlap theory predicts for it
(:mod:`~checkerscope.zoo.expected`).

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> g = zoo.dcgan_generator(image_size=32, width=8)
    >>> tuple(g(torch.zeros(2, 100, 1, 1)).shape)
    (2, 3, 32, 32)
    >>> entry = zoo.MODELS["dcgan64"]
    >>> entry.input_shape
    (1, 100, 1, 1)
    >>> zoo.get("hifigan_msd").expected.leading.periods
    (2, 4, 16, 64)
"""

from __future__ import annotations

from checkerscope.zoo._common import UPSAMPLE_CHOICES
from checkerscope.zoo._common import Upsample as Upsample

# used by checkerscope.experiments.training
from checkerscope.zoo._common import _upsample_x2 as _upsample_x2
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
from checkerscope.zoo.registry import ARCHITECTURES, MODELS, ZooEntry, get
from checkerscope.zoo.super_resolution import (
    espcn,
    espcn_functional,
    espcn_separate,
    esrgan_rrdb,
    srgan_generator,
    srresnet,
)

__all__ = [
    "ARCHITECTURES",
    "MODELS",
    "UPSAMPLE_CHOICES",
    "ExpectedAudit",
    "ExpectedPath",
    "ZooEntry",
    "cyclegan_resnet_generator",
    "dcgan_discriminator",
    "dcgan_generator",
    "espcn",
    "espcn_functional",
    "espcn_separate",
    "esrgan_rrdb",
    "get",
    "hifigan_discriminator",
    "hifigan_generator",
    "johnson_transformer",
    "ldm_decoder",
    "melgan_discriminator",
    "melgan_generator",
    "patchgan_discriminator",
    "pix2pix_unet",
    "pix2pixhd_global_generator",
    "srgan_generator",
    "srresnet",
    "stylegan2_synthesis_block",
    "unet",
    "vae_decoder",
    "vqgan_decoder",
    "vqgan_encoder",
    "wavegan_generator",
]
