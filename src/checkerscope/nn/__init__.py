"""Artifact-free upsampling and anti-aliased downsampling layers (``cs.nn``).

Which layer to use:

* ``ResizeConv2d`` (nearest): the article's remedy, the default choice for generators and
  decoders; its fused path runs at the speed of ``ConvTranspose2d``.
* ``SubPixelConv2d``: ICNR-initialised sub-pixel convolution, the usual super-resolution head
  (``blur=True``: fastai's blur, which keeps it even after training).
* ``FilteredDeconv2d``: keeps a transposed convolution (and its checkpoints), smoothed.
* ``BilinearAdditiveUpsample2d``: parameter-free upsampling that also cuts channels.
* ``BlurPool2d``: anti-aliased stride for discriminators and encoders; ``MaxBlurPool2d`` in
  place of ``MaxPool2d(2)``.

Each class has a function in :mod:`checkerscope.nn.functional` computing the same numbers.

Examples:
    >>> import torch
    >>> import checkerscope as cs
    >>> layer = cs.nn.ResizeConv2d(4, 2, kernel_size=3, scale_factor=2)
    >>> layer(torch.randn(1, 4, 8, 8)).shape
    torch.Size([1, 2, 16, 16])
"""

from __future__ import annotations

from checkerscope.nn import functional
from checkerscope.nn.functional import (
    bilinear_additive_upsample,
    bilinear_additive_upsample2d,
    binomial_filter,
    blur_pool1d,
    blur_pool2d,
    filtered_deconv1d,
    filtered_deconv2d,
    hold_blur,
    icnr_,
    max_blur_pool1d,
    max_blur_pool2d,
    pixel_shuffle1d,
    resize_conv1d,
    resize_conv2d,
    resize_conv3d,
    sub_pixel_conv1d,
    sub_pixel_conv2d,
)
from checkerscope.nn.layers import (
    BilinearAdditiveUpsample2d,
    BlurPool1d,
    BlurPool2d,
    FilteredDeconv1d,
    FilteredDeconv2d,
    MaxBlurPool1d,
    MaxBlurPool2d,
    ResizeConv1d,
    ResizeConv2d,
    ResizeConv3d,
    SubPixelConv1d,
    SubPixelConv2d,
)

__all__ = [
    "BilinearAdditiveUpsample2d",
    "BlurPool1d",
    "BlurPool2d",
    "FilteredDeconv1d",
    "FilteredDeconv2d",
    "MaxBlurPool1d",
    "MaxBlurPool2d",
    "ResizeConv1d",
    "ResizeConv2d",
    "ResizeConv3d",
    "SubPixelConv1d",
    "SubPixelConv2d",
    "bilinear_additive_upsample",
    "bilinear_additive_upsample2d",
    "binomial_filter",
    "blur_pool1d",
    "blur_pool2d",
    "filtered_deconv1d",
    "filtered_deconv2d",
    "functional",
    "hold_blur",
    "icnr_",
    "max_blur_pool1d",
    "max_blur_pool2d",
    "pixel_shuffle1d",
    "resize_conv1d",
    "resize_conv2d",
    "resize_conv3d",
    "sub_pixel_conv1d",
    "sub_pixel_conv2d",
]
