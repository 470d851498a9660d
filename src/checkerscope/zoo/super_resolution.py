"""Super-resolution networks: ESPCN, SRResNet / SRGAN's generator and ESRGAN's RRDB net.

ESPCN and SRGAN come twice: the registry's ``espcn`` and ``srresnet`` keep the sub-pixel
convolution and its shuffle side by side in an ``nn.Sequential``; :class:`ESPCN` and
:class:`SRGANGenerator` keep them as separate attributes (``self.conv``, ``self.shuffle``)
or call ``F.pixel_shuffle``, as most published code does.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> m = zoo.espcn(scale=3, width=8)
    >>> tuple(m(torch.zeros(1, 1, 10, 10)).shape)
    (1, 1, 30, 30)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _positive, _ResidualBlock

__all__ = [
    "ESPCN",
    "RRDBNet",
    "SRGANGenerator",
    "esrgan_rrdb",
    "espcn",
    "espcn_separate",
    "espcn_functional",
    "srgan_generator",
    "srresnet",
]


def espcn(scale: int = 3, channels: int = 1, width: int = 64) -> nn.Module:
    """ESPCN (Shi et al. 2016): efficient sub-pixel convolution super-resolution.

    Layers: ``Conv2d(k5)`` to ``width``, Tanh, ``Conv2d(k3)`` to ``width // 2``, Tanh,
    ``Conv2d(k3)`` to ``channels * scale**2`` and ``PixelShuffle(scale)`` (all "same"
    padding). Plain PyTorch layers with default init, as in the paper: the last conv's
    weights differ per sub-pixel phase, so the output carries a period-``scale`` pattern
    until training (or ICNR init) evens it out.

    Examples:
        >>> m = espcn(scale=3, width=8)
        >>> tuple(m(torch.zeros(1, 1, 10, 10)).shape)
        (1, 1, 30, 30)
    """
    return nn.Sequential(
        nn.Conv2d(channels, width, 5, padding=2),
        nn.Tanh(),
        nn.Conv2d(width, width // 2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(width // 2, channels * scale**2, 3, padding=1),
        nn.PixelShuffle(scale),
    )


class _SRResNet(nn.Module):
    def __init__(self, scale: int, channels: int, width: int, n_residual: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(
            *[_ResidualBlock(width, nn.BatchNorm2d, nn.PReLU()) for _ in range(n_residual)],
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        ups: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            ups += [nn.Conv2d(width, width * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.tail(self.upsample(features + self.body(features)))


def srresnet(scale: int = 4, channels: int = 3, width: int = 64, n_residual: int = 16) -> nn.Module:
    """SRResNet (Ledig et al. 2017), the SRGAN generator.

    Layers: ``Conv2d(k9)`` + PReLU; ``n_residual`` blocks (conv3, BN, PReLU, conv3, BN);
    conv3 + BN with a global skip; ``log2(scale)`` sub-pixel stages
    (``Conv2d(k3)`` to ``4 * width``, ``PixelShuffle(2)``, PReLU); ``Conv2d(k9)`` out.

    Args:
        scale: a power of two (paper: 4).

    Examples:
        >>> m = srresnet(scale=2, width=4, n_residual=1)
        >>> tuple(m(torch.zeros(1, 3, 8, 8)).shape)
        (1, 3, 16, 16)
    """
    if scale < 2 or scale & (scale - 1):
        raise CheckerscopeError(f"scale must be a power of two >= 2, got {scale}")
    return _SRResNet(scale, channels, width, n_residual)


# --------------------------------------------------------------------------- separate attributes


class ESPCN(nn.Module):
    """ESPCN with the sub-pixel convolution and the shuffle as separate attributes.

    ``conv1`` (k5) + Tanh, ``conv2`` (k3) + Tanh, ``conv`` (k3, to ``channels * scale**2``)
    and ``shuffle`` (``nn.PixelShuffle(scale)``), or, with ``functional=True``, no shuffle
    module and a call to ``F.pixel_shuffle`` in ``forward``. Default (not ICNR) init.
    """

    def __init__(
        self, scale: int = 3, channels: int = 1, width: int = 64, functional: bool = False
    ) -> None:
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv2d(channels, width, 5, padding=2)
        self.conv2 = nn.Conv2d(width, width // 2, 3, padding=1)
        self.conv = nn.Conv2d(width // 2, channels * scale**2, 3, padding=1)
        self.shuffle: nn.PixelShuffle | None = None if functional else nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        x = self.conv(x)
        if self.shuffle is None:
            return F.pixel_shuffle(x, self.scale)
        return self.shuffle(x)


def espcn_separate(scale: int = 3, channels: int = 1, width: int = 64) -> ESPCN:
    """ESPCN whose last conv (``self.conv``) and ``self.shuffle`` are separate attributes.

    Examples:
        >>> m = espcn_separate(scale=3, width=4)
        >>> type(m.conv).__name__, type(m.shuffle).__name__
        ('Conv2d', 'PixelShuffle')
    """
    if scale < 2:
        raise CheckerscopeError(f"scale must be at least 2, got {scale}")
    return ESPCN(scale, channels, _positive("width", width), functional=False)


def espcn_functional(scale: int = 3, channels: int = 1, width: int = 64) -> ESPCN:
    """ESPCN that calls ``F.pixel_shuffle(self.conv(x), scale)`` (no shuffle module).

    Examples:
        >>> m = espcn_functional(scale=2, width=4)
        >>> m.shuffle is None, tuple(m(torch.zeros(1, 1, 5, 5)).shape)
        (True, (1, 1, 10, 10))
    """
    if scale < 2:
        raise CheckerscopeError(f"scale must be at least 2, got {scale}")
    return ESPCN(scale, channels, _positive("width", width), functional=True)


class _UpsampleBlock(nn.Module):
    """SRGAN's sub-pixel stage: ``conv`` (k3, 4x channels), ``shuffle`` (x2), ``prelu``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.prelu = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.shuffle(self.conv(x)))


class SRGANGenerator(nn.Module):
    """SRGAN's generator (SRResNet, Ledig et al. 2017) written block by block.

    ``block1``: ``Conv2d(k9)`` + PReLU; ``n_residual`` residual blocks (conv3, BN, PReLU,
    conv3, BN, plus the identity); ``block_out``: conv3 + BN, added to ``block1``'s output;
    ``log2(scale)`` upsample blocks, each with separate ``conv``, ``shuffle`` and ``prelu``
    attributes; ``Conv2d(k9)`` to the image.
    """

    def __init__(
        self, scale: int = 4, channels: int = 3, width: int = 64, n_residual: int = 16
    ) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU())
        self.residuals = nn.Sequential(
            *[_ResidualBlock(width, nn.BatchNorm2d, nn.PReLU()) for _ in range(n_residual)]
        )
        self.block_out = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        self.upsample = nn.ModuleList(_UpsampleBlock(width) for _ in range(scale.bit_length() - 1))
        self.conv_out = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.block1(x)
        h = features + self.block_out(self.residuals(features))
        for block in self.upsample:
            h = block(h)
        return self.conv_out(h)


def srgan_generator(
    scale: int = 4, channels: int = 3, width: int = 64, n_residual: int = 16
) -> SRGANGenerator:
    """SRGAN's generator with separate ``conv``/``shuffle`` attributes per upsample block.

    Examples:
        >>> g = srgan_generator(width=4, n_residual=1)
        >>> tuple(g(torch.zeros(1, 3, 6, 6)).shape)
        (1, 3, 24, 24)
        >>> [type(b.shuffle).__name__ for b in g.upsample]
        ['PixelShuffle', 'PixelShuffle']
    """
    if scale < 2 or scale & (scale - 1):
        raise CheckerscopeError(f"scale must be a power of two >= 2, got {scale}")
    return SRGANGenerator(scale, channels, _positive("width", width), n_residual)


# --------------------------------------------------------------------------- ESRGAN


class _DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3x3 convs, each fed every earlier output."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, padding=1)
            for i in range(5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(features, dim=1))
            if i < 4:
                features.append(F.leaky_relu(out, 0.2))
        # residual scaling 0.2, as published
        return out * 0.2 + x


class _RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, scaled by 0.2, plus the input."""

    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(channels, growth)
        self.rdb2 = _DenseBlock(channels, growth)
        self.rdb3 = _DenseBlock(channels, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator (Wang et al. 2018): ``conv_first`` (k3), a trunk of RRDBs and
    ``trunk_conv`` (k3) with a long skip, then two upsampling steps, each
    ``F.interpolate(scale_factor=2, mode="nearest")`` + conv3 + LeakyReLU 0.2, then
    ``hr_conv`` (k3) + LeakyReLU and ``conv_last`` (k3). Published: 64 channels, growth 32,
    23 RRDBs."""

    def __init__(
        self, channels: int = 3, width: int = 64, growth: int = 32, n_blocks: int = 23
    ) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(channels, width, 3, padding=1)
        self.trunk = nn.Sequential(*[_RRDB(width, growth) for _ in range(n_blocks)])
        self.trunk_conv = nn.Conv2d(width, width, 3, padding=1)
        self.upconv1 = nn.Conv2d(width, width, 3, padding=1)
        self.upconv2 = nn.Conv2d(width, width, 3, padding=1)
        self.hr_conv = nn.Conv2d(width, width, 3, padding=1)
        self.conv_last = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv_first(x)
        features = features + self.trunk_conv(self.trunk(features))
        for conv in (self.upconv1, self.upconv2):
            features = F.interpolate(features, scale_factor=2.0, mode="nearest")
            features = F.leaky_relu(conv(features), 0.2)
        return self.conv_last(F.leaky_relu(self.hr_conv(features), 0.2))


def esrgan_rrdb(
    channels: int = 3, width: int = 64, growth: int = 32, n_blocks: int = 23
) -> RRDBNet:
    """ESRGAN's x4 RRDB generator, nearest-resize + conv upsampling. See :class:`RRDBNet`.

    Examples:
        >>> g = esrgan_rrdb(width=4, growth=2, n_blocks=1)
        >>> tuple(g(torch.zeros(1, 3, 8, 8)).shape)
        (1, 3, 32, 32)
    """
    for name, value in (("width", width), ("growth", growth), ("n_blocks", n_blocks)):
        _positive(name, value)
    return RRDBNet(channels, width, growth, n_blocks)
