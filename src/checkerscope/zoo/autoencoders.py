"""Autoencoder halves: a DCGAN-like VAE decoder, a latent-diffusion decoder and VQGAN's
encoder and decoder.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> d = zoo.vae_decoder(latent_dim=8, image_size=16, width=4)
    >>> tuple(d(torch.zeros(2, 8)).shape)
    (2, 3, 16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _per_stage, _positive, _stages_for, _upsample_x2, group_norm

__all__ = [
    "VQGANDecoder",
    "VQGANEncoder",
    "ldm_decoder",
    "vae_decoder",
    "vqgan_decoder",
    "vqgan_encoder",
]


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


# --------------------------------------------------------------------------- VQGAN


def _swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class _VQResnetBlock(nn.Module):
    """GroupNorm, swish, conv3, GroupNorm, swish, (dropout), conv3; a 1x1 shortcut when the
    channel count changes."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_swish(self.norm1(x)))
        h = self.conv2(_swish(self.norm2(h)))
        shortcut = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return shortcut + h


class _VQAttention(nn.Module):
    """Single-head self-attention over all positions: GroupNorm, 1x1 q/k/v, softmax,
    1x1 ``proj_out``, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        n, c, height, width = h.shape
        q = self.q(h).reshape(n, c, height * width).permute(0, 2, 1)
        k = self.k(h).reshape(n, c, height * width)
        attention = torch.softmax(torch.bmm(q, k) * c**-0.5, dim=2)
        v = self.v(h).reshape(n, c, height * width)
        out = torch.bmm(v, attention.permute(0, 2, 1)).reshape(n, c, height, width)
        return x + self.proj_out(out)


class _VQDownsample(nn.Module):
    """Asymmetric zero pad (right and bottom by one), then ``Conv2d(k3, s2, p0)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class _VQUpsample(nn.Module):
    """``F.interpolate`` nearest x2, then ``Conv2d(k3, p1)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """One resolution level: residual blocks (each followed by attention where configured)
    and an optional resampler."""

    def __init__(
        self, blocks: list[nn.Module], attentions: list[nn.Module], resample: nn.Module | None
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)
        self.resample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.attentions):
                x = self.attentions[i](x)
        return x if self.resample is None else self.resample(x)


class _VQMiddle(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = _VQResnetBlock(channels, channels)
        self.attn_1 = _VQAttention(channels)
        self.block_2 = _VQResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


def _check_vq(ch: int, ch_mult: Sequence[int], num_res_blocks: int, resolution: int) -> None:
    _positive("ch", ch)
    _positive("num_res_blocks", num_res_blocks)
    if not ch_mult or any(m < 1 for m in ch_mult):
        raise CheckerscopeError(f"ch_mult must be positive multipliers, got {tuple(ch_mult)}")
    if resolution % 2 ** (len(ch_mult) - 1):
        raise CheckerscopeError(
            f"resolution {resolution} is not divisible by 2**{len(ch_mult) - 1}"
        )


class VQGANEncoder(nn.Module):
    """VQGAN's encoder (Esser et al. 2021, the taming-transformers "f16" configuration:
    ``ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_resolutions=(16,)``).

    ``conv_in`` (k3); per level ``num_res_blocks`` residual blocks (GroupNorm 32 + swish),
    self-attention after each at the attention resolutions, and, on all but the last level,
    a downsampler: asymmetric pad ``(0, 1, 0, 1)`` then ``Conv2d(k3, s2, p0)``; the middle
    (block, attention, block); GroupNorm, swish, ``conv_out`` (k3) to ``z_channels``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        resolution: int = 256,
        z_channels: int = 256,
    ) -> None:
        super().__init__()
        _check_vq(ch, ch_mult, num_res_blocks, resolution)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        multipliers = (1, *ch_mult)
        levels: list[nn.Module] = []
        current = resolution
        block_in = ch
        for i, mult in enumerate(ch_mult):
            block_in, block_out = ch * multipliers[i], ch * mult
            blocks: list[nn.Module] = []
            attentions: list[nn.Module] = []
            for _ in range(num_res_blocks):
                blocks.append(_VQResnetBlock(block_in, block_out))
                block_in = block_out
                if current in attn_resolutions:
                    attentions.append(_VQAttention(block_in))
            last = i == len(ch_mult) - 1
            levels.append(_Level(blocks, attentions, None if last else _VQDownsample(block_in)))
            current = current if last else current // 2
        self.down = nn.ModuleList(levels)
        self.mid = _VQMiddle(block_in)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(_swish(self.norm_out(h)))


class VQGANDecoder(nn.Module):
    """VQGAN's decoder, the mirror of :class:`VQGANEncoder`: ``conv_in`` (k3) from
    ``z_channels``; the middle (block, attention, block); per level, from the coarsest,
    ``num_res_blocks + 1`` residual blocks (attention after each at the attention
    resolutions) and, on all but the finest, an upsampler: ``F.interpolate`` nearest x2
    then ``Conv2d(k3, p1)``; GroupNorm, swish, ``conv_out`` (k3). The reference code prints
    the latent shape when it is built; this one prints nothing.
    """

    def __init__(
        self,
        out_channels: int = 3,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        resolution: int = 256,
        z_channels: int = 256,
    ) -> None:
        super().__init__()
        _check_vq(ch, ch_mult, num_res_blocks, resolution)
        block_in = ch * ch_mult[-1]
        current = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = _VQMiddle(block_in)
        levels: list[nn.Module] = []
        for i in reversed(range(len(ch_mult))):
            block_out = ch * ch_mult[i]
            blocks: list[nn.Module] = []
            attentions: list[nn.Module] = []
            for _ in range(num_res_blocks + 1):
                blocks.append(_VQResnetBlock(block_in, block_out))
                block_in = block_out
                if current in attn_resolutions:
                    attentions.append(_VQAttention(block_in))
            levels.append(_Level(blocks, attentions, _VQUpsample(block_in) if i else None))
            current = current * 2 if i else current
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in self.up:
            h = level(h)
        return self.conv_out(_swish(self.norm_out(h)))


def vqgan_encoder(
    in_channels: int = 3,
    ch: int = 128,
    ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
    num_res_blocks: int = 2,
    resolution: int = 256,
    z_channels: int = 256,
) -> VQGANEncoder:
    """VQGAN's f16 encoder: a 256x256 image to a 16x16 latent. See :class:`VQGANEncoder`.

    Examples:
        >>> e = vqgan_encoder(ch=2, ch_mult=(1, 2), num_res_blocks=1, resolution=16,
        ...                   z_channels=4)
        >>> tuple(e(torch.zeros(1, 3, 16, 16)).shape)
        (1, 4, 8, 8)
    """
    return VQGANEncoder(in_channels, ch, ch_mult, num_res_blocks, (16,), resolution, z_channels)


def vqgan_decoder(
    out_channels: int = 3,
    ch: int = 128,
    ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
    num_res_blocks: int = 2,
    resolution: int = 256,
    z_channels: int = 256,
) -> VQGANDecoder:
    """VQGAN's f16 decoder: a 16x16 latent to a 256x256 image. See :class:`VQGANDecoder`.

    Examples:
        >>> d = vqgan_decoder(ch=2, ch_mult=(1, 2), num_res_blocks=1, resolution=16,
        ...                   z_channels=4)
        >>> tuple(d(torch.zeros(1, 4, 8, 8)).shape)
        (1, 3, 16, 16)
    """
    return VQGANDecoder(out_channels, ch, ch_mult, num_res_blocks, (16,), resolution, z_channels)
