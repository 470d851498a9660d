"""Regenerate the example images scored in the README (deterministic, offline).

    python examples/images/make_examples.py

* ``photo.png``            a 160x160 crop of scikit-image's ``astronaut`` (bundled)
* ``photo.jpg``            the same crop as JPEG, quality 90 (JPEG must not fake a grid)
* ``photo_grid_0p25pct.png`` the crop plus a random zero-mean 2x2 tile of peak 0.25 % of
  the range (0.64 grey levels, so 8-bit rounding dithers it): invisible
* ``photo_grid_1pct.png``  the same tile at 1 % (2.55 grey levels): invisible to the eye
* ``photo_grid_4pct.png``  the same tile at 4 %: visible up close
* ``deconv_init.png``      a randomly initialised generator with ConvTranspose2d(k3, s2)
* ``resize_conv_init.png`` the same generator with nearest resize + Conv2d(k3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data
from torch import nn

HERE = Path(__file__).resolve().parent
CHANNELS = 32


def save(name: str, pixels: np.ndarray, **options: object) -> None:
    Image.fromarray(pixels).save(HERE / name, **options)
    print(f"{name}: {(HERE / name).stat().st_size / 1024:.0f} KB")


def with_tile(crop: np.ndarray, amplitude: float, seed: int = 3) -> np.ndarray:
    tile = np.random.default_rng(seed).normal(size=(2, 2, 3))
    tile -= tile.mean(axis=(0, 1))
    tile *= amplitude * 255 / np.abs(tile).max()
    pattern = np.tile(tile, (crop.shape[0] // 2, crop.shape[1] // 2, 1))
    return np.clip(np.round(crop + pattern), 0, 255).astype(np.uint8)


def generator(upsample: str) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(4):  # 8x8 -> 128x128
        if upsample == "deconv":
            layers.append(
                nn.ConvTranspose2d(CHANNELS, CHANNELS, 3, stride=2, padding=1, output_padding=1)
            )
        else:
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)]
        layers += [nn.BatchNorm2d(CHANNELS), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(CHANNELS, 3, 3, padding=1), nn.Tanh())


def generated(upsample: str, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    model = generator(upsample)
    with torch.no_grad():
        out = model(torch.randn(1, CHANNELS, 8, 8))[0].permute(1, 2, 0).numpy()
    out = (out - out.min()) / (out.max() - out.min())
    return np.round(255 * out).astype(np.uint8)


def main() -> None:
    crop = data.astronaut()[40:200, 170:330]
    save("photo.png", crop, optimize=True)
    save("photo.jpg", crop, quality=90)
    save("photo_grid_0p25pct.png", with_tile(crop, 0.0025), optimize=True)
    save("photo_grid_1pct.png", with_tile(crop, 0.01), optimize=True)
    save("photo_grid_4pct.png", with_tile(crop, 0.04), optimize=True)
    save("deconv_init.png", generated("deconv"), optimize=True)
    save("resize_conv_init.png", generated("resize"), optimize=True)


if __name__ == "__main__":
    main()
