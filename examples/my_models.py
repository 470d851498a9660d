"""A user's own generator, for `checkerscope audit examples/my_models.py:make_generator`."""

from __future__ import annotations

from torch import nn


def make_generator() -> nn.Module:
    """A small DCGAN-like generator, 100-d latent to 32x32 RGB, with k3 s2 deconvolutions."""
    return nn.Sequential(
        nn.ConvTranspose2d(100, 128, 4, 1, 0),
        nn.BatchNorm2d(128),
        nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 3, 2, 1, output_padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 3, 3, 2, 1, output_padding=1),
        nn.Tanh(),
    )
