"""Reference architectures with the upsampling choices that matter for checkerboard artifacts.

Every factory returns a freshly initialised ``torch.nn.Module`` and documents its layer
choices. Widths are smaller than in the papers so that CPU audits stay fast; the layer
types, kernel sizes, strides and paddings (what decides the overlap pattern) are the
published ones.

:data:`MODELS` names ready-made configurations with their native example input, the
names that ``checkerscope audit zoo:NAME`` accepts.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> g = zoo.dcgan_generator(image_size=32, width=8)
    >>> tuple(g(torch.zeros(2, 100, 1, 1)).shape)
    (2, 3, 32, 32)
    >>> entry = zoo.MODELS["dcgan64"]
    >>> entry.input_shape
    (1, 100, 1, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError

__all__ = [
    "MODELS",
    "UPSAMPLE_CHOICES",
    "ZooEntry",
    "dcgan_discriminator",
    "dcgan_generator",
    "espcn",
    "get",
    "johnson_transformer",
    "ldm_decoder",
    "melgan_generator",
    "pix2pix_unet",
    "srresnet",
    "vae_decoder",
]

Upsample = Literal["deconv4", "deconv3", "resize", "bilinear", "subpixel"]
UPSAMPLE_CHOICES: tuple[str, ...] = ("deconv4", "deconv3", "resize", "bilinear", "subpixel")


def _upsample_x2(kind: str, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """One 2x upsampling layer of the requested kind (2-D), output size exactly twice the input.

    * ``deconv4``: ``ConvTranspose2d(k=4, s=2, p=1)``, even overlap (4 is divisible by 2).
    * ``deconv3``: ``ConvTranspose2d(k=3, s=2, p=1, output_padding=1)``, uneven overlap.
    * ``resize`` / ``bilinear``: nearest / bilinear 2x resize then a 3x3 convolution.
    * ``subpixel``: 3x3 convolution to 4x the channels then ``PixelShuffle(2)`` (ICNR init).
    """
    if kind == "deconv4":
        return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    if kind == "deconv3":
        return nn.ConvTranspose2d(
            in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias
        )
    if kind in ("resize", "bilinear"):
        from checkerscope.nn import ResizeConv2d

        mode = "nearest" if kind == "resize" else "bilinear"
        return ResizeConv2d(
            in_channels, out_channels, kernel_size=3, scale_factor=2, mode=mode, bias=bias
        )
    if kind == "subpixel":
        from checkerscope.nn import SubPixelConv2d

        return SubPixelConv2d(in_channels, out_channels, kernel_size=3, scale_factor=2, bias=bias)
    raise CheckerscopeError(f"upsample must be one of {', '.join(UPSAMPLE_CHOICES)}, got {kind!r}")


def _per_stage(upsample: str | Sequence[str], stages: int) -> list[str]:
    kinds = [upsample] * stages if isinstance(upsample, str) else list(upsample)
    if len(kinds) != stages:
        raise CheckerscopeError(
            f"upsample needs one entry per 2x stage ({stages}), got {len(kinds)}: {kinds!r}"
        )
    for kind in kinds:
        if kind not in UPSAMPLE_CHOICES:
            raise CheckerscopeError(
                f"upsample must be one of {', '.join(UPSAMPLE_CHOICES)}, got {kind!r}"
            )
    return kinds


def _stages_for(image_size: int, base: int = 4) -> int:
    stages, size = 0, base
    while size < image_size:
        size, stages = size * 2, stages + 1
    if size != image_size or stages == 0:
        raise CheckerscopeError(
            f"image_size must be {base} times a power of two (e.g. 32 or 64), got {image_size}"
        )
    return stages


# --------------------------------------------------------------------------- GANs


def dcgan_generator(
    image_size: int = 64,
    z_dim: int = 100,
    width: int = 64,
    channels: int = 3,
    upsample: str | Sequence[str] = "deconv4",
) -> nn.Module:
    """DCGAN generator (Radford et al. 2016): latent ``(N, z_dim, 1, 1)`` to an image.

    Layers: the latent is projected to a 4x4 map by ``ConvTranspose2d(z_dim, C, 4, 1, 0)``;
    on a 1x1 input that is exactly a fully connected layer (every output pixel sees the one
    input pixel once: no overlap, no pattern), so it is kept in every variant. Then one 2x
    stage per doubling up to ``image_size`` (4 stages for 64 px, 3 for 32 px), channels
    halving from ``width * 2**(stages-1)`` down to ``width``, each followed by BatchNorm and
    ReLU; the last stage maps to ``channels`` and ends in Tanh (no BatchNorm).

    Args:
        image_size: output side, 32 or 64 (any 4 * 2**k works).
        z_dim: latent channels.
        width: channels of the last hidden stage (DCGAN: 64).
        channels: output channels.
        upsample: the 2x layer of every stage, or one per stage, from
            ``"deconv4"`` (DCGAN's ``ConvTranspose2d(k4, s2, p1)``), ``"deconv3"``
            (``k3, s2, p1, output_padding=1``: uneven overlap), ``"resize"`` (nearest 2x +
            3x3 conv, ``cs.nn.ResizeConv2d``), ``"bilinear"``, ``"subpixel"``
            (``cs.nn.SubPixelConv2d``).

    Examples:
        >>> g = dcgan_generator(image_size=32, width=4, upsample=["deconv4", "deconv3", "deconv3"])
        >>> tuple(g(torch.zeros(1, 100, 1, 1)).shape)
        (1, 3, 32, 32)
    """
    stages = _stages_for(image_size)
    kinds = _per_stage(upsample, stages)
    hidden = [width * 2 ** (stages - 1 - i) for i in range(stages)]
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(z_dim, hidden[0], 4, stride=1, padding=0, bias=False),
        nn.BatchNorm2d(hidden[0]),
        nn.ReLU(inplace=True),
    ]
    for i, kind in enumerate(kinds):
        last = i == stages - 1
        out_ch = channels if last else hidden[i + 1]
        layers.append(_upsample_x2(kind, hidden[i], out_ch, bias=last))
        layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


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


# --------------------------------------------------------------------------- image to image


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
            down = [down_conv]
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


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: Callable[[int], nn.Module], act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            norm(channels),
            act,
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


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


# --------------------------------------------------------------------------- super-resolution


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


# --------------------------------------------------------------------------- decoders


class _VAEDecoder(nn.Module):
    def __init__(self, latent_dim: int, width: int, channels: int, kinds: list[str]) -> None:
        super().__init__()
        stages = len(kinds)
        self.start_channels = width * 2 ** (stages - 1)
        self.project = nn.Linear(latent_dim, self.start_channels * 16)
        layers: list[nn.Module] = []
        cin = self.start_channels
        for i, kind in enumerate(kinds):
            last = i == stages - 1
            cout = channels if last else cin // 2
            layers.append(_upsample_x2(kind, cin, cout))
            layers.append(nn.Sigmoid() if last else nn.LeakyReLU(0.2, True))
            cin = cout
        self.decode = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.start_channels, 4, 4)
        return self.decode(x)


def vae_decoder(
    latent_dim: int = 128,
    image_size: int = 64,
    channels: int = 3,
    width: int = 32,
    upsample: str | Sequence[str] = "deconv4",
) -> nn.Module:
    """Convolutional VAE decoder: a flat latent ``(N, latent_dim)`` to an image.

    Layers: ``Linear`` to a ``(width * 2**(stages-1), 4, 4)`` map, then 2x stages
    (default ``ConvTranspose2d(k4, s2, p1)``, the common "DCGAN-like" VAE decoder) with
    LeakyReLU 0.2, channels halving; the last maps to ``channels`` with a Sigmoid.

    Examples:
        >>> d = vae_decoder(latent_dim=8, image_size=16, width=4)
        >>> tuple(d(torch.zeros(2, 8)).shape)
        (2, 3, 16, 16)
    """
    kinds = _per_stage(upsample, _stages_for(image_size))
    return _VAEDecoder(latent_dim, width, channels, kinds)


class _LDMResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        groups = min(32, cin // 4) or 1
        self.body = nn.Sequential(
            nn.GroupNorm(groups, cin),
            nn.SiLU(),
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.GroupNorm(min(32, cout // 4) or 1, cout),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class _LDMUpsample(nn.Module):
    """Latent diffusion's upsampler: ``F.interpolate`` nearest 2x, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _LDMDecoder(nn.Module):
    def __init__(self, latent_channels: int, channels: int, width: int, n_upsamples: int) -> None:
        super().__init__()
        mults = [2 ** min(i, 2) for i in range(n_upsamples + 1)][::-1]  # e.g. 4, 4, 2, 1
        self.conv_in = nn.Conv2d(latent_channels, width * mults[0], 3, padding=1)
        self.mid = _LDMResBlock(width * mults[0], width * mults[0])
        levels: list[nn.Module] = []
        for i in range(n_upsamples):
            cin, cout = width * mults[i], width * mults[i + 1]
            levels += [_LDMResBlock(cin, cout), _LDMUpsample(cout)]
        levels.append(_LDMResBlock(width * mults[-1], width * mults[-1]))
        self.levels = nn.Sequential(*levels)
        self.norm_out = nn.GroupNorm(min(32, width // 4) or 1, width * mults[-1])
        self.conv_out = nn.Conv2d(width * mults[-1], channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.levels(self.mid(self.conv_in(z)))
        return self.conv_out(F.silu(self.norm_out(h)))


def ldm_decoder(
    latent_channels: int = 4, channels: int = 3, width: int = 32, n_upsamples: int = 3
) -> nn.Module:
    """Latent-diffusion-style (Rombach et al. 2022) autoencoder decoder, 2**n_upsamples x.

    Layers: ``conv_in`` 3x3; a middle residual block (GroupNorm, SiLU, conv3, twice);
    per level a residual block and an upsampler that calls
    ``F.interpolate(scale_factor=2, mode="nearest")`` then a 3x3 conv (no transposed
    convolutions: resize-convolution, artifact-free by construction); GroupNorm, SiLU,
    ``conv_out``. Channel multipliers shrink towards the output (4, 4, 2, 1 for 3 levels).

    Examples:
        >>> d = ldm_decoder(width=4, n_upsamples=2)
        >>> tuple(d(torch.zeros(1, 4, 8, 8)).shape)
        (1, 3, 32, 32)
    """
    return _LDMDecoder(latent_channels, channels, width, n_upsamples)


# --------------------------------------------------------------------------- audio


class _MelResStack(nn.Module):
    def __init__(self, channels: int, dilations: Sequence[int] = (1, 3, 9)) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2),
                nn.ReflectionPad1d(d),
                nn.Conv1d(channels, channels, 3, dilation=d),
                nn.LeakyReLU(0.2),
                nn.Conv1d(channels, channels, 1),
            )
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


def melgan_generator(
    mel_channels: int = 80,
    width: int = 512,
    strides: Sequence[int] = (8, 8, 2, 2),
) -> nn.Module:
    """MelGAN generator (Kumar et al. 2019): mel frames ``(N, mel, T)`` to audio ``(N, 1, T*H)``.

    Layers: reflection pad + ``Conv1d(k7)`` to ``width``; per upsampling stage LeakyReLU 0.2,
    ``ConvTranspose1d(kernel=2*s, stride=s, padding=s//2 + s%2, output_padding=s%2)``
    (output exactly ``s`` times longer; kernel divisible by stride, so even overlap: every
    sample receives exactly two taps) halving the channels, then a residual stack with
    dilations 1, 3, 9; LeakyReLU, reflection pad + ``Conv1d(k7)`` to one channel, Tanh.
    The hop ``H`` is the product of the strides (paper: 8, 8, 2, 2 = 256). Weight
    normalisation of the paper is left out (it does not change the overlap).

    Examples:
        >>> g = melgan_generator(mel_channels=8, width=16, strides=(4, 2))
        >>> tuple(g(torch.zeros(1, 8, 5)).shape)
        (1, 1, 40)
    """
    if width // 2 ** len(strides) < 1:
        raise CheckerscopeError(f"width {width} is too small for {len(strides)} stages")
    layers: list[nn.Module] = [nn.ReflectionPad1d(3), nn.Conv1d(mel_channels, width, 7)]
    ch = width
    for s in strides:
        layers += [
            nn.LeakyReLU(0.2),
            nn.ConvTranspose1d(
                ch, ch // 2, 2 * s, stride=s, padding=s // 2 + s % 2, output_padding=s % 2
            ),
            _MelResStack(ch // 2),
        ]
        ch //= 2
    layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(ch, 1, 7), nn.Tanh()]
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ZooEntry:
    """A named zoo configuration.

    Attributes:
        name: registry key (``checkerscope audit zoo:NAME``).
        description: one line: the architecture and its upsampling choice.
        factory: builds a fresh, randomly initialised model.
        input_shape: the native example input shape, batch first.
        kind: ``"generator"``, ``"discriminator"``, ``"image-to-image"``,
            ``"super-resolution"``, ``"decoder"`` or ``"vocoder"``.
    """

    name: str
    description: str
    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    kind: str

    def build(self) -> nn.Module:
        """A fresh model (random init)."""
        return self.factory()

    def example_input(self, seed: int = 0) -> torch.Tensor:
        """A standard normal example input of the native shape (fixed seed)."""
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(self.input_shape, generator=generator)


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


def get(name: str) -> ZooEntry:
    """Look up a registry entry; ``"zoo:NAME"`` is accepted too.

    Examples:
        >>> get("zoo:melgan").input_shape
        (1, 80, 32)
    """
    key = name.removeprefix("zoo:")
    if key not in MODELS:
        raise CheckerscopeError(
            f"unknown zoo model {key!r}; choose from {', '.join(sorted(MODELS))}"
        )
    return MODELS[key]
