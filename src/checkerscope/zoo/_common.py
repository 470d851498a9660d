"""Building blocks shared by the zoo's families (not public API)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import torch
from torch import nn

from checkerscope.errors import CheckerscopeError

Upsample = Literal["deconv4", "deconv3", "resize", "bilinear", "subpixel"]
UPSAMPLE_CHOICES: tuple[str, ...] = ("deconv4", "deconv3", "resize", "bilinear", "subpixel")

ModuleT = TypeVar("ModuleT", bound=nn.Module)


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


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckerscopeError(f"{name} must be a positive int, got {value!r}")
    return value


class _ResidualBlock(nn.Module):
    """conv3, norm, activation, conv3, norm, plus the identity (Johnson, SRResNet)."""

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


def legacy_weight_norm(module: ModuleT) -> ModuleT:
    """``torch.nn.utils.weight_norm`` (the hook API) without its deprecation warning.

    The zoo's vocoders use the legacy API on purpose: the published vocoders and their
    discriminators still do, and a module wrapped this way has ``weight_g``/``weight_v``
    parameters, recomputes ``weight`` in a forward pre-hook, and cannot be deep-copied.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.nn\.utils\.weight_norm.*", category=FutureWarning
        )
        return torch.nn.utils.weight_norm(module)


def legacy_spectral_norm(module: ModuleT) -> ModuleT:
    """``torch.nn.utils.spectral_norm`` (the hook API, ``weight_orig`` plus ``u``/``v``)."""
    return torch.nn.utils.spectral_norm(module)


def group_norm(channels: int, groups: int = 32, eps: float = 1e-6) -> nn.GroupNorm:
    """GroupNorm with the published 32 groups, fewer when the (narrowed) width has fewer
    channels: the largest count dividing both."""
    return nn.GroupNorm(math.gcd(groups, channels), channels, eps=eps, affine=True)
