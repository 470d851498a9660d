"""Image-to-image networks: pix2pix and Ronneberger U-Nets, Johnson's style transfer network,
the CycleGAN ResNet generator and pix2pixHD's global generator.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> g = zoo.cyclegan_resnet_generator(width=2, n_blocks=1)
    >>> tuple(g(torch.zeros(1, 3, 32, 32)).shape)
    (1, 3, 32, 32)
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _positive, _ResidualBlock, _upsample_x2

__all__ = [
    "GlobalGenerator",
    "ResnetGenerator",
    "UNet",
    "cyclegan_resnet_generator",
    "johnson_transformer",
    "pix2pix_unet",
    "pix2pixhd_global_generator",
    "unet",
]


class _UNetBlock(nn.Module):
    """One pix2pix U-Net level: down, the inner levels, up, and the skip concatenation."""

    def __init__(
        self,
        outer: int,
        inner: int,
        submodule: nn.Module | None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        in_channels: int | None = None,
        dropout: bool = False,
        upsample: str = "deconv",
    ) -> None:
        super().__init__()
        self.outermost = outermost
        in_channels = outer if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=False)
        up_in = inner if innermost else inner * 2
        kind = "deconv4" if upsample == "deconv" else upsample
        up_conv = _upsample_x2(kind, up_in, outer, bias=outermost)
        if outermost:
            down: list[nn.Module] = [down_conv]
            up: list[nn.Module] = [nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            down = [nn.LeakyReLU(0.2, True), down_conv]
            up = [nn.ReLU(True), up_conv, nn.BatchNorm2d(outer)]
        else:
            down = [nn.LeakyReLU(0.2, True), down_conv, nn.BatchNorm2d(inner)]
            up = [nn.ReLU(True), up_conv, nn.BatchNorm2d(outer)]
            if dropout:
                up.append(nn.Dropout(0.5))
        middle = [submodule] if submodule is not None else []
        self.model = nn.Sequential(*down, *middle, *up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


def pix2pix_unet(
    in_channels: int = 3,
    out_channels: int = 3,
    width: int = 64,
    depth: int = 8,
    upsample: str = "deconv",
) -> nn.Module:
    """pix2pix U-Net generator (Isola et al. 2017), ``depth`` levels with skip connections.

    Layers: encoder ``Conv2d(k4, s2, p1)`` levels (LeakyReLU 0.2, BatchNorm except the first
    and the innermost), channels ``width * (1, 2, 4, 8, 8, ...)``; decoder
    ``ConvTranspose2d(k4, s2, p1)`` levels (ReLU, BatchNorm, dropout 0.5 on the three
    innermost non-innermost levels) each concatenated with the matching encoder output;
    Tanh at the end. ``depth=8`` needs 256x256 inputs (the paper's size).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        width: channels of the first level (paper: 64).
        depth: number of 2x levels; the input side must be divisible by ``2**depth``.
        upsample: ``"deconv"`` (the paper's ``k4 s2``) or any ``dcgan_generator`` choice.

    Examples:
        >>> u = pix2pix_unet(width=4, depth=3)
        >>> tuple(u(torch.zeros(1, 3, 16, 16)).shape)
        (1, 3, 16, 16)
    """
    if depth < 2:
        raise CheckerscopeError(f"depth must be at least 2, got {depth}")
    mults = [min(2**i, 8) for i in range(depth)]
    block: nn.Module | None = None
    for level in range(depth - 1, 0, -1):
        outer, inner = width * mults[level - 1], width * mults[level]
        block = _UNetBlock(
            outer,
            inner,
            block,
            innermost=block is None,
            dropout=block is not None and level >= depth - 4,
            upsample=upsample,
        )
    return _UNetBlock(
        out_channels,
        width,
        block,
        outermost=True,
        in_channels=in_channels,
        upsample=upsample,
    )


def johnson_transformer(
    channels: int = 3,
    width: int = 32,
    n_residual: int = 5,
    upsample: Literal["deconv", "resize"] = "deconv",
) -> nn.Module:
    """Johnson et al. 2016 feed-forward style-transfer network (the article's style example).

    Layers: ``Conv2d(k9, s1)`` to ``width``; two ``Conv2d(k3, s2, p1)`` downsamplings
    (``2*width``, ``4*width``); ``n_residual`` residual blocks; two 2x upsamplings back to
    ``width``; ``Conv2d(k9, s1)`` to ``channels``. Instance normalisation and ReLU after every
    conv but the last. ``upsample="deconv"`` is the paper's fractionally strided
    ``ConvTranspose2d(k3, s2, p1, output_padding=1)`` (uneven overlap), ``"resize"`` is the
    article's fix (nearest 2x + 3x3 conv).

    Examples:
        >>> t = johnson_transformer(width=4, n_residual=1)
        >>> tuple(t(torch.zeros(1, 3, 32, 32)).shape)
        (1, 3, 32, 32)
    """
    if upsample not in ("deconv", "resize"):
        raise CheckerscopeError(f"upsample must be 'deconv' or 'resize', got {upsample!r}")
    kind = "deconv3" if upsample == "deconv" else "resize"

    def norm(c: int) -> nn.Module:
        return nn.InstanceNorm2d(c, affine=True)

    w1, w2, w3 = width, 2 * width, 4 * width
    return nn.Sequential(
        nn.Conv2d(channels, w1, 9, padding=4),
        norm(w1),
        nn.ReLU(True),
        nn.Conv2d(w1, w2, 3, stride=2, padding=1),
        norm(w2),
        nn.ReLU(True),
        nn.Conv2d(w2, w3, 3, stride=2, padding=1),
        norm(w3),
        nn.ReLU(True),
        *[_ResidualBlock(w3, norm, nn.ReLU(True)) for _ in range(n_residual)],
        _upsample_x2(kind, w3, w2),
        norm(w2),
        nn.ReLU(True),
        _upsample_x2(kind, w2, w1),
        norm(w1),
        nn.ReLU(True),
        nn.Conv2d(w1, channels, 9, padding=4),
    )


# --------------------------------------------------------------------------- CycleGAN, pix2pixHD


class _ReflectResnetBlock(nn.Module):
    """Reflection pad 1, conv3, norm, ReLU, reflection pad 1, conv3, norm; plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The ResNet image-to-image generator of Johnson et al. as configured by CycleGAN
    (Zhu et al. 2017): ``c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-3``.

    ``c7s1-k``: reflection pad 3, ``Conv2d(k7, s1)``, instance norm, ReLU. ``dk``:
    ``Conv2d(k3, s2, p1)``, instance norm, ReLU, doubling the channels. ``Rk``: a residual
    block of two reflection-padded 3x3 convs. ``uk``: ``ConvTranspose2d(k3, s2, p1,
    output_padding=1)``, instance norm, ReLU, halving the channels. The last ``c7s1``
    ends in Tanh instead of norm and ReLU. Instance norm has no affine parameters and no
    running statistics; with it every conv keeps its bias, as in the reference code.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        n_blocks: int = 9,
        n_downsampling: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, width, 7),
            nn.InstanceNorm2d(width),
            nn.ReLU(True),
        ]
        for i in range(n_downsampling):
            channels = width * 2**i
            layers += [
                nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1),
                nn.InstanceNorm2d(2 * channels),
                nn.ReLU(True),
            ]
        layers += [_ReflectResnetBlock(width * 2**n_downsampling) for _ in range(n_blocks)]
        for i in range(n_downsampling, 0, -1):
            channels = width * 2**i
            layers += [
                nn.ConvTranspose2d(
                    channels, channels // 2, 3, stride=2, padding=1, output_padding=1
                ),
                nn.InstanceNorm2d(channels // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GlobalGenerator(ResnetGenerator):
    """pix2pixHD's global generator G1 (Wang et al. 2018): the same layer types as
    :class:`ResnetGenerator` with four ``k3 s2`` downsamplings and four ``k3 s2 p1 op1``
    transposed convolutions around nine residual blocks."""


def cyclegan_resnet_generator(
    in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 9
) -> ResnetGenerator:
    """CycleGAN's 9-block ResNet generator for 256x256 images. See :class:`ResnetGenerator`.

    Args:
        in_channels: input image channels.
        out_channels: output image channels.
        width: channels of the first ``c7s1`` layer (paper: 64).
        n_blocks: residual blocks (paper: 9 at 256x256, 6 at 128x128).

    Examples:
        >>> g = cyclegan_resnet_generator(width=2, n_blocks=2)
        >>> [(m.kernel_size, m.stride, m.padding, m.output_padding)
        ...  for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
        [((3, 3), (2, 2), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1))]
    """
    _positive("width", width)
    return ResnetGenerator(in_channels, out_channels, width, _positive("n_blocks", n_blocks), 2)


def pix2pixhd_global_generator(
    in_channels: int = 3,
    out_channels: int = 3,
    width: int = 64,
    n_downsampling: int = 4,
    n_blocks: int = 9,
) -> GlobalGenerator:
    """pix2pixHD's global generator (defaults: ``ngf=64``, 4 downsamplings, 9 blocks).

    The input side must be divisible by ``2**n_downsampling``. pix2pixHD feeds one-hot
    label maps (35 classes plus an instance edge map, 36 channels); ``in_channels=3`` is
    its ``--label_nc 0`` mode (an image in).

    Examples:
        >>> g = pix2pixhd_global_generator(width=1, n_blocks=1)
        >>> tuple(g(torch.zeros(1, 3, 32, 64)).shape)
        (1, 3, 32, 64)
        >>> sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
        4
    """
    _positive("width", width)
    _positive("n_blocks", n_blocks)
    _positive("n_downsampling", n_downsampling)
    return GlobalGenerator(in_channels, out_channels, width, n_blocks, n_downsampling)


# --------------------------------------------------------------------------- U-Net


class _DoubleConv(nn.Sequential):
    """Two 3x3 convolutions, each followed by ReLU (unpadded in the original U-Net)."""

    def __init__(self, in_channels: int, out_channels: int, padding: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=padding),
            nn.ReLU(True),
            nn.Conv2d(out_channels, out_channels, 3, padding=padding),
            nn.ReLU(True),
        )


def _center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    top = (x.shape[-2] - height) // 2
    left = (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


class UNet(nn.Module):
    """The U-Net of Ronneberger et al. 2015 for segmentation.

    Contracting path: per level two 3x3 convs + ReLU, then ``MaxPool2d(2)``; channels
    ``width * (1, 2, 4, 8)`` and ``16 * width`` at the bottom. Expansive path: per level an
    "up-conv 2x2", ``ConvTranspose2d(k2, s2)`` halving the channels, the concatenation with
    the centre-cropped feature map of the same level, and two 3x3 convs + ReLU. A 1x1 conv
    maps to the classes. With ``padding=0`` (the paper's unpadded convolutions) a 572x572
    tile gives a 388x388 map; ``padding=1`` keeps the size.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 2,
        width: int = 64,
        depth: int = 4,
        padding: Literal[0, 1] = 0,
    ) -> None:
        super().__init__()
        if padding not in (0, 1):
            raise CheckerscopeError(f"padding must be 0 (valid) or 1 (same), got {padding!r}")
        channels = [width * 2**i for i in range(depth + 1)]
        self.inc = _DoubleConv(in_channels, channels[0], padding)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(
            _DoubleConv(channels[i], channels[i + 1], padding) for i in range(depth)
        )
        self.upconv = nn.ModuleList(
            nn.ConvTranspose2d(channels[i + 1], channels[i], 2, stride=2)
            for i in reversed(range(depth))
        )
        self.up = nn.ModuleList(
            _DoubleConv(2 * channels[i], channels[i], padding) for i in reversed(range(depth))
        )
        self.outc = nn.Conv2d(channels[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(self.pool(skips[-1])))
        h = skips.pop()
        for upconv, block in zip(self.upconv, self.up, strict=True):
            h = upconv(h)
            skip = _center_crop(skips.pop(), h.shape[-2], h.shape[-1])
            h = block(torch.cat([skip, h], dim=1))
        return self.outc(h)


def unet(
    in_channels: int = 1,
    n_classes: int = 2,
    width: int = 64,
    depth: int = 4,
    padding: Literal[0, 1] = 0,
) -> UNet:
    """The original U-Net (Ronneberger et al. 2015): k2 s2 up-convolutions and skip
    concatenations. See :class:`UNet`.

    Examples:
        >>> net = unet(width=1)
        >>> tuple(net(torch.zeros(1, 1, 572, 572)).shape)
        (1, 2, 388, 388)
        >>> [(m.kernel_size, m.stride) for m in net.upconv][:1]
        [((2, 2), (2, 2))]
    """
    _positive("width", width)
    return UNet(in_channels, n_classes, width, _positive("depth", depth), padding)
