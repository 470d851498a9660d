"""Train a small x4 super-resolution net with k3 s2 deconvolutions until its outputs carry a grid.

The README's "my trained model has a grid" example starts here. About a minute on one CPU
thread; writes (into the current folder, or the one given):

* ``trained_sr.pt``: the whole trained model (``torch.save(model)``), 16x16 -> 64x64 RGB;
* ``sr_inputs/``: 64 low-resolution 16x16 PNG crops of the training photographs, the
  "user's data" for ``checkerscope fix --calibration`` and ``--distill``.

Usage:
    python examples/train_small_sr.py [OUT_DIR] [--steps 2000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from checkerscope.experiments.data import photo_patches
from checkerscope.experiments.training import excess_db, psnr, train_super_resolver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".", type=Path)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    high = photo_patches(2048, 64, seed=0)
    held_out = photo_patches(32, 64, seed=0, split="eval")
    run = train_super_resolver("deconv3", high, held_out, steps=args.steps, width=32, seed=0)
    model = run.model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model, args.out / "trained_sr.pt")
    inputs = args.out / "sr_inputs"
    inputs.mkdir(exist_ok=True)
    for i, image in enumerate(F.avg_pool2d(high[:64], 4)):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(inputs / f"{i:02d}.png")
    with torch.no_grad():
        outputs = model(F.avg_pool2d(held_out, 4))
    print(
        f"trained {args.steps} steps: PSNR {np.mean(psnr(outputs, held_out)):.2f} dB, grid "
        f"(excess score at period 4) {np.median(excess_db(outputs, held_out, 4)):+.1f} dB"
    )
    print(f"wrote {args.out / 'trained_sr.pt'} and {inputs}/ (64 inputs, 16x16)")


if __name__ == "__main__":
    main()
