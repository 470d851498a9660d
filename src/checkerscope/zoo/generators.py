"""Image generators: DCGAN (and the article's variants of it) and a StyleGAN2 synthesis block.

Examples:
    >>> import torch
    >>> from checkerscope import zoo
    >>> g = zoo.dcgan_generator(image_size=32, width=8)
    >>> tuple(g(torch.zeros(2, 100, 1, 1)).shape)
    (2, 3, 32, 32)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.zoo._common import _per_stage, _positive, _stages_for, _upsample_x2

__all__ = ["StyleGAN2SynthesisBlock", "dcgan_generator", "stylegan2_synthesis_block"]


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


# --------------------------------------------------------------------------- StyleGAN2


def _modulated_weight(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """Per-sample weights ``(N, O, I, k, k)``: scale the input channels by the styles and,
    with ``demodulate``, rescale each output channel to unit norm (StyleGAN2's weight
    demodulation)."""
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    return w


def _grouped_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Stride-1 "same" convolution of each sample with its own weights ``(N, O, I, k, k)``:
    the batch becomes the channel groups of one convolution."""
    n, c, h, w = x.shape
    out_channels, k = weight.shape[1], weight.shape[-1]
    y = F.conv2d(
        x.reshape(1, n * c, h, w),
        weight.reshape(n * out_channels, c, k, k),
        padding=k // 2,
        groups=n,
    )
    return y.reshape(n, out_channels, h, w)


def _grouped_conv_transpose2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Stride-2 transposed convolution (no padding: ``2H + k - 2`` rows) of each sample with
    its own weights ``(N, O, I, k, k)``."""
    n, c, h, w = x.shape
    out_channels, k = weight.shape[1], weight.shape[-1]
    y = F.conv_transpose2d(
        x.reshape(1, n * c, h, w),
        weight.transpose(1, 2).reshape(n * c, out_channels, k, k),
        stride=2,
        groups=n,
    )
    return y.reshape(n, out_channels, y.shape[-2], y.shape[-1])


def _fir2d(x: torch.Tensor, fir: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad (left, right, top, bottom) and filter every channel with the fixed 2-D FIR."""
    channels = x.shape[1]
    kernel = fir.to(x.dtype).expand(channels, 1, *fir.shape)
    return F.conv2d(F.pad(x, pad), kernel, groups=channels)


def _zero_insert2d(x: torch.Tensor) -> torch.Tensor:
    """upfirdn2d's upsampling: each sample followed by a zero, on both axes (``2H x 2W``)."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, (0, 1, 0, 0, 0, 1))
    return x.reshape(n, c, 2 * h, 2 * w)


class _StyleAffine(nn.Module):
    """The learned affine map from ``w`` to one style per input channel (equalised learning
    rate: unit-normal weights scaled at run time; bias initialised to one)."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, w_dim))
        self.bias = nn.Parameter(torch.ones(channels))
        self.gain = 1.0 / math.sqrt(w_dim)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return F.linear(w, self.weight * self.gain, self.bias)


class StyleGAN2SynthesisBlock(nn.Module):
    """One StyleGAN2 synthesis block (Karras et al. 2020, "skip" generator), functional calls
    throughout, as in the reference implementation.

    Inputs: the feature map ``x`` ``(N, C_in, H, W)`` of the previous block and the latent
    ``w`` ``(N, w_dim)`` (``None``: the zero latent, styles equal to the affine bias).
    Output: the RGB image ``(N, image_channels, 2H, 2W)``.

    Main path: modulated, demodulated ``F.conv_transpose2d`` (k3, stride 2, no padding:
    ``2H + 1``), then the fixed ``[1, 3, 3, 1]`` FIR low-pass (outer product, normalised to
    sum 1, gain 4) with padding 1 on each side by ``F.conv2d`` per channel (``2H``); bias,
    leaky ReLU (0.2, gain sqrt 2); a modulated 3x3 conv; the same activation; toRGB (a
    modulated 1x1 conv without demodulation). Skip path: the previous resolution's toRGB
    (computed here from ``x``, as the previous block would) upsampled upfirdn2d-style, i.e.
    zero insertion then the same FIR with padding (2, 1), and added to the image. The FIR
    is a non-learned, non-persistent buffer ``resample_filter``. Per-pixel noise inputs are
    left out: their strength is initialised to zero and they add no structure tied to the
    sampling grid.
    """

    resample_filter: torch.Tensor

    def __init__(
        self,
        in_channels: int = 512,
        out_channels: int = 512,
        w_dim: int = 512,
        image_channels: int = 3,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.affine0 = _StyleAffine(w_dim, in_channels)
        self.weight0 = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias0 = nn.Parameter(torch.zeros(out_channels))
        self.affine1 = _StyleAffine(w_dim, out_channels)
        self.weight1 = nn.Parameter(torch.randn(out_channels, out_channels, 3, 3))
        self.bias1 = nn.Parameter(torch.zeros(out_channels))
        self.rgb_affine = _StyleAffine(w_dim, out_channels)
        self.rgb_weight = nn.Parameter(torch.randn(image_channels, out_channels, 1, 1))
        self.rgb_bias = nn.Parameter(torch.zeros(image_channels))
        self.rgb_in_affine = _StyleAffine(w_dim, in_channels)
        self.rgb_in_weight = nn.Parameter(torch.randn(image_channels, in_channels, 1, 1))
        self.rgb_in_bias = nn.Parameter(torch.zeros(image_channels))
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        fir = torch.outer(taps, taps)
        # gain 4 = up**2: zero insertion and a stride-2 deconv spread the signal over 4x
        # the pixels, so the filter restores the mean level
        self.register_buffer("resample_filter", fir / fir.sum() * 4.0, persistent=False)

    @staticmethod
    def _activate(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + bias[None, :, None, None], 0.2) * math.sqrt(2.0)

    def _to_rgb(
        self, x: torch.Tensor, w: torch.Tensor, affine: _StyleAffine, weight: torch.Tensor
    ) -> torch.Tensor:
        styles = affine(w) / math.sqrt(weight.shape[1])
        return _grouped_conv2d(x, _modulated_weight(weight, styles, demodulate=False))

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise CheckerscopeError(f"expected a feature map (N, C, H, W), got {tuple(x.shape)}")
        if w is None:
            w = x.new_zeros(x.shape[0], self.w_dim)
        image = self._to_rgb(x, w, self.rgb_in_affine, self.rgb_in_weight)
        image = image + self.rgb_in_bias[None, :, None, None]
        image = _fir2d(_zero_insert2d(image), self.resample_filter, (2, 1, 2, 1))

        h = _grouped_conv_transpose2d(x, _modulated_weight(self.weight0, self.affine0(w), True))
        h = _fir2d(h, self.resample_filter, (1, 1, 1, 1))
        h = self._activate(h, self.bias0)
        h = _grouped_conv2d(h, _modulated_weight(self.weight1, self.affine1(w), True))
        h = self._activate(h, self.bias1)
        rgb = self._to_rgb(h, w, self.rgb_affine, self.rgb_weight)
        return image + rgb + self.rgb_bias[None, :, None, None]


def stylegan2_synthesis_block(
    in_channels: int = 512, out_channels: int = 512, w_dim: int = 512, image_channels: int = 3
) -> StyleGAN2SynthesisBlock:
    """A StyleGAN2 synthesis block: ``(x, w)`` at ``H`` to an image at ``2H``, with FIR-filtered
    transposed convolution and an upfirdn2d-style toRGB skip. See
    :class:`StyleGAN2SynthesisBlock`.

    Examples:
        >>> block = stylegan2_synthesis_block(4, 4, w_dim=8)
        >>> tuple(block(torch.randn(2, 4, 8, 8), torch.randn(2, 8)).shape)
        (2, 3, 16, 16)
        >>> tuple(block.resample_filter.shape), "resample_filter" in block.state_dict()
        ((4, 4), False)
    """
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        _positive(name, value)
    return StyleGAN2SynthesisBlock(
        in_channels, out_channels, _positive("w_dim", w_dim), image_channels
    )
