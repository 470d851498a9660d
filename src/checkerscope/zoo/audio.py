"""Audio: MelGAN, HiFi-GAN and WaveGAN generators, MelGAN's and HiFi-GAN's multi-scale
discriminators.

The vocoders and their discriminators use the legacy hook API ``torch.nn.utils.weight_norm``
where the published code does (their modules carry ``weight_g`` and ``weight_v``), and
HiFi-GAN's first discriminator scale the legacy ``torch.nn.utils.spectral_norm``.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> g = zoo.melgan_generator(mel_channels=8, width=16, strides=(4, 2))
    >>> tuple(g(torch.zeros(1, 8, 5)).shape)
    (1, 1, 40)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _positive, legacy_spectral_norm, legacy_weight_norm

__all__ = [
    "HiFiGANGenerator",
    "HiFiGANMultiScaleDiscriminator",
    "MelGANMultiScaleDiscriminator",
    "WaveGANGenerator",
    "hifigan_discriminator",
    "hifigan_generator",
    "melgan_discriminator",
    "melgan_generator",
    "wavegan_generator",
]

Wrap = Callable[[nn.Module], nn.Module]


def _identity(module: nn.Module) -> nn.Module:
    return module


# --------------------------------------------------------------------------- MelGAN


class _MelResStack(nn.Module):
    """MelGAN's residual stack: per dilation LeakyReLU 0.2, reflection pad, dilated conv3,
    LeakyReLU, conv1, added to the identity or (``conv_shortcut``) to a 1x1 conv of it."""

    def __init__(
        self,
        channels: int,
        dilations: Sequence[int] = (1, 3, 9),
        wrap: Wrap = _identity,
        conv_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2),
                nn.ReflectionPad1d(d),
                wrap(nn.Conv1d(channels, channels, 3, dilation=d)),
                nn.LeakyReLU(0.2),
                wrap(nn.Conv1d(channels, channels, 1)),
            )
            for d in dilations
        )
        self.shortcuts = (
            nn.ModuleList(wrap(nn.Conv1d(channels, channels, 1)) for _ in dilations)
            if conv_shortcut
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            shortcut = x if self.shortcuts is None else self.shortcuts[i](x)
            x = shortcut + block(x)
        return x


def melgan_generator(
    mel_channels: int = 80,
    width: int = 512,
    strides: Sequence[int] = (8, 8, 2, 2),
    weight_norm: bool = False,
    conv_shortcut: bool = False,
) -> nn.Module:
    """MelGAN generator (Kumar et al. 2019): mel frames ``(N, mel, T)`` to audio ``(N, 1, T*H)``.

    Layers: reflection pad + ``Conv1d(k7)`` to ``width``; per upsampling stage LeakyReLU 0.2,
    ``ConvTranspose1d(kernel=2*s, stride=s, padding=s//2 + s%2, output_padding=s%2)``
    (output exactly ``s`` times longer; kernel divisible by stride, so even overlap: every
    sample receives exactly two taps) halving the channels, then a residual stack with
    dilations 1, 3, 9; LeakyReLU, reflection pad + ``Conv1d(k7)`` to one channel, Tanh.
    The hop ``H`` is the product of the strides (paper: 8, 8, 2, 2 = 256).

    Args:
        mel_channels: mel bands of the input.
        width: channels after the first conv (published: ``ngf * 2**len(strides)`` = 512).
        strides: upsampling ratios.
        weight_norm: wrap every conv in the legacy ``torch.nn.utils.weight_norm``, as the
            published code does (default off: the audit-regression entry ``melgan``).
        conv_shortcut: residual shortcuts through a 1x1 conv, as in the published code
            (default: identity).

    The published code also draws conv weights from N(0, 0.02) by writing ``weight.data``;
    under the legacy weight norm that tensor is recomputed from ``weight_g``/``weight_v``
    at the next forward, so it has no effect and is left out here.

    Examples:
        >>> g = melgan_generator(mel_channels=8, width=16, strides=(4, 2), weight_norm=True)
        >>> hasattr(g[1], "weight_g") and hasattr(g[1], "weight_v")
        True
    """
    if width // 2 ** len(strides) < 1:
        raise CheckerscopeError(f"width {width} is too small for {len(strides)} stages")
    wrap: Wrap = legacy_weight_norm if weight_norm else _identity
    layers: list[nn.Module] = [nn.ReflectionPad1d(3), wrap(nn.Conv1d(mel_channels, width, 7))]
    ch = width
    for s in strides:
        deconv = nn.ConvTranspose1d(
            ch, ch // 2, 2 * s, stride=s, padding=s // 2 + s % 2, output_padding=s % 2
        )
        layers += [
            nn.LeakyReLU(0.2),
            wrap(deconv),
            _MelResStack(ch // 2, wrap=wrap, conv_shortcut=conv_shortcut),
        ]
        ch //= 2
    layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), wrap(nn.Conv1d(ch, 1, 7)), nn.Tanh()]
    return nn.Sequential(*layers)


class _MelGANScale(nn.Module):
    """One MelGAN discriminator (its ``NLayerDiscriminator``): reflection pad 7 +
    ``Conv1d(k15)``; ``n_layers`` grouped strided convs ``k = 10 * s + 1``, stride ``s``,
    padding ``5 * s``, 4 input channels per group, channels times ``s`` (capped); a
    ``Conv1d(k5)``; a ``Conv1d(k3)`` to one channel. LeakyReLU 0.2 after all but the last."""

    def __init__(self, width: int, n_layers: int, factor: int, max_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad1d(7),
            legacy_weight_norm(nn.Conv1d(1, width, 15)),
            nn.LeakyReLU(0.2, True),
        ]
        channels = width
        for _ in range(n_layers):
            out = min(channels * factor, max_channels)
            conv = nn.Conv1d(
                channels,
                out,
                kernel_size=10 * factor + 1,
                stride=factor,
                padding=5 * factor,
                groups=channels // 4,
            )
            layers += [legacy_weight_norm(conv), nn.LeakyReLU(0.2, True)]
            channels = out
        out = min(channels * 2, max_channels)
        layers += [
            legacy_weight_norm(nn.Conv1d(channels, out, 5, padding=2)),
            nn.LeakyReLU(0.2, True),
            legacy_weight_norm(nn.Conv1d(out, 1, 3, padding=1)),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MelGANMultiScaleDiscriminator(nn.Module):
    """MelGAN's discriminator: ``n_scales`` identical discriminators on the waveform, its
    ``AvgPool1d(4, stride=2, padding=1, count_include_pad=False)`` and the pool of that.

    Returns one score map ``(N, 1, T_k)`` per scale, finest first (the published code also
    returns every layer's features for the feature-matching loss; only the scores here).
    """

    def __init__(
        self,
        n_scales: int = 3,
        width: int = 16,
        n_layers: int = 4,
        factor: int = 4,
        max_channels: int = 1024,
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            _MelGANScale(width, n_layers, factor, max_channels) for _ in range(n_scales)
        )
        self.downsample = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scores = []
        for i, scale in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            scores.append(scale(x))
        return tuple(scores)


def melgan_discriminator(
    n_scales: int = 3, width: int = 16, n_layers: int = 4, max_channels: int = 1024
) -> MelGANMultiScaleDiscriminator:
    """MelGAN's multi-scale discriminator (published: 3 scales, ``ndf=16``, 4 layers of
    ``k41 s4``, channels 16, 64, 256, 1024, 1024). See :class:`MelGANMultiScaleDiscriminator`.

    Args:
        n_scales: number of scales.
        width: channels of the first conv; a multiple of 4 (4 input channels per group).
        n_layers: strided layers per scale.
        max_channels: channel cap (published: 1024).

    Examples:
        >>> d = melgan_discriminator(width=4, max_channels=16)
        >>> [tuple(s.shape) for s in d(torch.zeros(1, 1, 1024))]
        [(1, 1, 4), (1, 1, 2), (1, 1, 1)]
    """
    if width % 4 or width < 4:
        raise CheckerscopeError(f"width must be a positive multiple of 4, got {width}")
    _positive("n_scales", n_scales)
    return MelGANMultiScaleDiscriminator(
        n_scales, width, _positive("n_layers", n_layers), 4, max_channels
    )


# --------------------------------------------------------------------------- HiFi-GAN


def _same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class _HiFiResBlock(nn.Module):
    """HiFi-GAN's ResBlock1: for each dilation, LeakyReLU 0.1, dilated conv, LeakyReLU 0.1,
    conv (dilation 1), added to the input; every conv weight-normed."""

    def __init__(self, channels: int, kernel: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            legacy_weight_norm(
                nn.Conv1d(channels, channels, kernel, dilation=d, padding=_same_padding(kernel, d))
            )
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            legacy_weight_norm(nn.Conv1d(channels, channels, kernel, padding=_same_padding(kernel)))
            for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN's generator (Kong et al. 2020), V1 configuration by default.

    ``conv_pre``: ``Conv1d(mel, C, k7, p3)``; per stage LeakyReLU 0.1 and
    ``ConvTranspose1d(k, u, padding=(k - u) // 2)`` halving the channels, then the
    multi-receptive-field fusion: the mean of one ResBlock1 per kernel size (3, 7, 11),
    each with dilations 1, 3, 5; LeakyReLU (slope 0.01), ``conv_post`` ``Conv1d(k7, p3)``
    to one channel, Tanh. Every conv is weight-normed with the legacy hook API. (The
    published ``init_weights`` writes ``weight.data``, which the weight-norm hook overwrites
    from ``weight_g``/``weight_v`` at the next forward; it has no effect, and is left out.)
    """

    def __init__(
        self,
        mel_channels: int = 80,
        initial_channels: int = 512,
        upsample_rates: Sequence[int] = (8, 8, 2, 2),
        upsample_kernels: Sequence[int] = (16, 16, 4, 4),
        resblock_kernels: Sequence[int] = (3, 7, 11),
        resblock_dilations: Sequence[int] = (1, 3, 5),
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernels)
        self.conv_pre = legacy_weight_norm(nn.Conv1d(mel_channels, initial_channels, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = initial_channels
        for u, k in zip(upsample_rates, upsample_kernels, strict=True):
            deconv = nn.ConvTranspose1d(channels, channels // 2, k, u, padding=(k - u) // 2)
            self.ups.append(legacy_weight_norm(deconv))
            channels //= 2
            for kernel in resblock_kernels:
                self.resblocks.append(_HiFiResBlock(channels, kernel, resblock_dilations))
        self.conv_post = legacy_weight_norm(nn.Conv1d(channels, 1, 7, padding=3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)


def hifigan_generator(
    mel_channels: int = 80,
    initial_channels: int = 512,
    upsample_rates: Sequence[int] = (8, 8, 2, 2),
    upsample_kernels: Sequence[int] = (16, 16, 4, 4),
) -> HiFiGANGenerator:
    """HiFi-GAN V1 generator: mel ``(N, 80, T)`` to audio ``(N, 1, 256 T)``.
    See :class:`HiFiGANGenerator`.

    Args:
        mel_channels: mel bands.
        initial_channels: channels after ``conv_pre`` (V1: 512, V2: 128, V3: 256).
        upsample_rates: the strides; their product is the hop.
        upsample_kernels: the transposed convolutions' kernels (V1: 16, 16, 4, 4).

    Examples:
        >>> g = hifigan_generator(mel_channels=4, initial_channels=16)
        >>> tuple(g(torch.zeros(1, 4, 3)).shape)
        (1, 1, 768)
        >>> [(m.kernel_size[0], m.stride[0], m.padding[0]) for m in g.ups]
        [(16, 8, 4), (16, 8, 4), (4, 2, 1), (4, 2, 1)]
    """
    if len(upsample_rates) != len(upsample_kernels):
        raise CheckerscopeError(
            f"need one kernel per upsample rate, got {len(upsample_kernels)} kernels "
            f"for {len(upsample_rates)} rates"
        )
    if initial_channels // 2 ** len(upsample_rates) < 1:
        raise CheckerscopeError(
            f"initial_channels {initial_channels} is too small for {len(upsample_rates)} stages"
        )
    return HiFiGANGenerator(mel_channels, initial_channels, upsample_rates, upsample_kernels)


class _HiFiScale(nn.Module):
    """HiFi-GAN's ``DiscriminatorS``: ``Conv1d(k15)``, grouped ``k41`` convs with strides
    2, 2, 4, 4, 1 (groups 4, 16, 16, 16, 16), ``Conv1d(k5)``, all with LeakyReLU 0.1, and
    ``conv_post`` ``Conv1d(k3)`` to one channel."""

    def __init__(self, width: int, spectral: bool) -> None:
        super().__init__()
        norm: Wrap = legacy_spectral_norm if spectral else legacy_weight_norm
        c = width
        self.convs = nn.ModuleList(
            [
                norm(nn.Conv1d(1, c, 15, 1, padding=7)),
                norm(nn.Conv1d(c, c, 41, 2, groups=4, padding=20)),
                norm(nn.Conv1d(c, 2 * c, 41, 2, groups=16, padding=20)),
                norm(nn.Conv1d(2 * c, 4 * c, 41, 4, groups=16, padding=20)),
                norm(nn.Conv1d(4 * c, 8 * c, 41, 4, groups=16, padding=20)),
                norm(nn.Conv1d(8 * c, 8 * c, 41, 1, groups=16, padding=20)),
                norm(nn.Conv1d(8 * c, 8 * c, 5, 1, padding=2)),
            ]
        )
        self.conv_post = norm(nn.Conv1d(8 * c, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.conv_post(x)


class HiFiGANMultiScaleDiscriminator(nn.Module):
    """HiFi-GAN's multi-scale discriminator (MSD, after MelGAN): three ``DiscriminatorS``,
    the first with spectral norm, the others with weight norm, on the waveform, its
    ``AvgPool1d(4, 2, padding=2)`` and the pool of that.

    Takes one waveform ``(N, 1, T)`` (the published module takes the real and the generated
    one and runs both) and returns one score map ``(N, 1, T_k)`` per scale (published:
    flattened to ``(N, T_k)``, with every layer's features).
    """

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [_HiFiScale(width, spectral=True), _HiFiScale(width, False), _HiFiScale(width, False)]
        )
        self.meanpools = nn.ModuleList(
            [nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)]
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scores = []
        for i, discriminator in enumerate(self.discriminators):
            if i:
                x = self.meanpools[i - 1](x)
            scores.append(discriminator(x))
        return tuple(scores)


def hifigan_discriminator(width: int = 128) -> HiFiGANMultiScaleDiscriminator:
    """HiFi-GAN's multi-scale discriminator (published width 128: channels 128, 128, 256,
    512, 1024, 1024, 1024). See :class:`HiFiGANMultiScaleDiscriminator`.

    Args:
        width: channels of the first conv; a multiple of 16 (the grouped convs have 16
            groups).

    Examples:
        >>> d = hifigan_discriminator(width=16)
        >>> [tuple(s.shape) for s in d(torch.zeros(1, 1, 8192))]
        [(1, 1, 128), (1, 1, 65), (1, 1, 33)]
        >>> hasattr(d.discriminators[0].convs[0], "weight_orig")
        True
    """
    if width % 16 or width < 16:
        raise CheckerscopeError(f"width must be a positive multiple of 16, got {width}")
    return HiFiGANMultiScaleDiscriminator(width)


# --------------------------------------------------------------------------- WaveGAN


class WaveGANGenerator(nn.Module):
    """WaveGAN's generator (Donahue et al. 2019): ``Linear`` from the latent to 16 samples
    of ``16 d`` channels, ReLU, then five ``ConvTranspose1d(k25, s4, p11, output_padding=1)``
    (each exactly 4x longer: 16 -> 16384 samples) with channels ``8d, 4d, 2d, d`` and the
    output channels, ReLU between them, Tanh at the end."""

    def __init__(self, latent_dim: int = 100, d: int = 64, channels: int = 1) -> None:
        super().__init__()
        self.d = d
        self.fc = nn.Linear(latent_dim, 256 * d)
        widths = [16 * d, 8 * d, 4 * d, 2 * d, d, channels]
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose1d(cin, cout, 25, stride=4, padding=11, output_padding=1)
            for cin, cout in zip(widths[:-1], widths[1:], strict=True)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z).view(z.shape[0], 16 * self.d, 16))
        for i, deconv in enumerate(self.deconvs):
            x = deconv(x)
            x = torch.tanh(x) if i == len(self.deconvs) - 1 else F.relu(x)
        return x


def wavegan_generator(latent_dim: int = 100, d: int = 64, channels: int = 1) -> WaveGANGenerator:
    """WaveGAN's generator: a latent ``(N, 100)`` to ``(N, channels, 16384)``.
    See :class:`WaveGANGenerator`.

    Examples:
        >>> g = wavegan_generator(d=1)
        >>> tuple(g(torch.zeros(2, 100)).shape)
        (2, 1, 16384)
    """
    return WaveGANGenerator(_positive("latent_dim", latent_dim), _positive("d", d), channels)
