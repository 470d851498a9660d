"""Discriminators: DCGAN's and the 70x70 PatchGAN of pix2pix and CycleGAN.

A discriminator's artifacts live in its gradient with respect to the image (the article's
"artifacts in gradients"): a strided convolution whose kernel the stride does not divide
sends more gradient to some input phases than to others.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> d = zoo.patchgan_discriminator(width=4)
    >>> tuple(d(torch.zeros(1, 3, 256, 256)).shape)
    (1, 1, 30, 30)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _stages_for

__all__ = ["PatchGANDiscriminator", "dcgan_discriminator", "patchgan_discriminator"]


def dcgan_discriminator(
    image_size: int = 64,
    channels: int = 3,
    first_stride: int = 2,
    blurpool: bool = False,
    width: int = 64,
    kernel_size: int = 4,
) -> nn.Module:
    """DCGAN discriminator: an image to one logit per image, shape ``(N, 1, 1, 1)``.

    Layers: strided ``Conv2d(k=kernel_size, s=2, p=1)`` stages halving the resolution down
    to 4x4 (LeakyReLU 0.2, BatchNorm except on the first), channels doubling from
    ``width``; a final ``Conv2d(k4, s1, p0)`` gives the 1x1 logit.

    Args:
        image_size: input side, 32 or 64.
        channels: input channels.
        first_stride: 2 (DCGAN: the first layer already downsamples, the article's
            "strong frequency 2" gradient case) or 1 (a regular ``Conv2d(k3, s1, p1)`` first
            layer at full resolution, then the same strided stages).
        blurpool: replace every stride-2 conv by a stride-1 conv followed by
            ``cs.nn.BlurPool2d(stride=2)`` (Zhang 2019 anti-aliasing).
        width: channels of the first layer (DCGAN: 64).
        kernel_size: kernel of the strided convs (PyTorch's DCGAN: 4; the TensorFlow
            DCGAN: 5, uneven).

    Examples:
        >>> d = dcgan_discriminator(image_size=32, width=4)
        >>> tuple(d(torch.zeros(2, 3, 32, 32)).shape)
        (2, 1, 1, 1)
    """
    if first_stride not in (1, 2):
        raise CheckerscopeError(f"first_stride must be 1 or 2, got {first_stride}")
    stages = _stages_for(image_size)
    pad = (kernel_size - 1) // 2 if kernel_size % 2 else kernel_size // 2 - 1

    def down(cin: int, cout: int) -> list[nn.Module]:
        if blurpool:
            from checkerscope.nn import BlurPool2d

            # stride-1 conv with "same" padding (any k), then the anti-aliased 2x decimation
            same = kernel_size // 2
            conv = nn.Conv2d(cin, cout, kernel_size, stride=1, padding=same, bias=False)
            crop = [] if kernel_size % 2 else [_CropLastRowCol()]
            return [conv, *crop, BlurPool2d(cout, stride=2)]
        return [nn.Conv2d(cin, cout, kernel_size, stride=2, padding=pad, bias=False)]

    layers: list[nn.Module] = []
    cin = channels
    if first_stride == 1:
        layers += [nn.Conv2d(channels, width, 3, stride=1, padding=1), nn.LeakyReLU(0.2, True)]
        cin = width
    for i in range(stages):
        cout = width * 2**i
        layers += down(cin, cout)
        if i > 0 or first_stride == 1:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        cin = cout
    layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=0))
    return nn.Sequential(*layers)


class _CropLastRowCol(nn.Module):
    """Drop the last row and column (even kernels with "same" padding grow the map by one)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]


class PatchGANDiscriminator(nn.Module):
    """The N-layer PatchGAN of pix2pix / CycleGAN (Isola et al. 2017): one logit per patch.

    Layers (``C64-C128-C256-C512``, all ``k4``): ``Conv2d(k4, s2, p1)`` + LeakyReLU 0.2 (no
    norm on the first), then ``n_layers - 1`` more ``k4 s2 p1`` convs doubling the channels
    (capped at 8x), one ``k4 s1 p1`` conv to ``min(2**n_layers, 8) * width``, each with norm
    and LeakyReLU, and a final ``Conv2d(k4, s1, p1)`` to one channel. With ``n_layers=3``
    every output logit sees a 70x70 patch, and a 256x256 image gives 30x30 logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        n_layers: int = 3,
        norm: Literal["instance", "batch"] = "instance",
    ) -> None:
        super().__init__()
        if norm not in ("instance", "batch"):
            raise CheckerscopeError(f"norm must be 'instance' or 'batch', got {norm!r}")
        if n_layers < 1:
            raise CheckerscopeError(f"n_layers must be at least 1, got {n_layers}")

        def norm_layer(channels: int) -> nn.Module:
            if norm == "instance":  # CycleGAN's default: no affine, no running statistics
                return nn.InstanceNorm2d(channels)
            return nn.BatchNorm2d(channels)

        # with BatchNorm the conv bias is redundant; the reference code drops it, as here
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        channels = width
        for n in range(1, n_layers + 1):
            out = width * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(channels, out, 4, stride=stride, padding=1, bias=bias),
                norm_layer(out),
                nn.LeakyReLU(0.2, True),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def patchgan_discriminator(
    in_channels: int = 3,
    width: int = 64,
    n_layers: int = 3,
    norm: Literal["instance", "batch"] = "instance",
) -> PatchGANDiscriminator:
    """The 70x70 PatchGAN (``n_layers=3``): ``C64-C128-C256-C512``, k4, strides 2, 2, 2, 1,
    then a k4 s1 conv to one channel. See :class:`PatchGANDiscriminator`.

    Args:
        in_channels: image channels (pix2pix's conditional D takes input and output: 6).
        width: channels of the first layer (paper: 64).
        n_layers: strided layers; 3 gives the 70x70 receptive field.
        norm: ``"instance"`` (CycleGAN) or ``"batch"`` (pix2pix).

    Examples:
        >>> d = patchgan_discriminator(width=2)
        >>> [m.stride for m in d.modules() if isinstance(m, nn.Conv2d)]
        [(2, 2), (2, 2), (2, 2), (1, 1), (1, 1)]
    """
    return PatchGANDiscriminator(in_channels, width, n_layers, norm)
