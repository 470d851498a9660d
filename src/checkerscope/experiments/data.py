"""Offline datasets for the training experiments (C6-C10).

Nothing is downloaded: photographs come from the files scikit-image ships inside
its package (lossless PNGs only: the bundled JPEGs carry 8 x 8 block edges, a
periodic pattern whose harmonics include the period-2 frequencies the experiments
measure; "coffee" is left out because its tablecloth is a literal checkerboard), and
the coloured-shapes set is drawn on the fly.

Every function is deterministic for a given ``seed`` and returns float32 tensors in
[0, 1] laid out as (N, C, H, W).

Examples:
    >>> shapes = coloured_shapes(2, 32, seed=0)
    >>> tuple(shapes.shape), float(shapes.min()) >= 0.0, float(shapes.max()) <= 1.0
    ((2, 3, 32, 32), True, True)
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from checkerscope.errors import CheckerscopeError

__all__ = [
    "EVAL_FRACTION",
    "PHOTOS",
    "coloured_shapes",
    "downsample",
    "load_photo",
    "photo_patches",
    "recolour",
]

#: Lossless colour photographs bundled with scikit-image whose own checkerboard score is
#: near 0 dB at periods 2-8 ("chelsea" scores +5 dB at period 2 at full size, a residue
#: of its processing, so it is not used).
PHOTOS: tuple[str, ...] = ("astronaut", "immunohistochemistry", "motorcycle")
#: Evaluation patches come from the right-hand part of each photograph (this fraction of
#: its width), training patches from the rest: the two never share a pixel.
EVAL_FRACTION = 0.4

_FILES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "immunohistochemistry": "ihc.png",
    "motorcycle": "motorcycle_left.png",
}


def _data_dir() -> Path:
    try:
        import skimage.data
    except ImportError as error:  # pragma: no cover - depends on the install
        raise CheckerscopeError(
            "the training experiments need scikit-image's bundled photographs: "
            "pip install 'checkerscope[data]'"
        ) from error
    return Path(skimage.data.__file__).parent


@functools.lru_cache(maxsize=16)
def _load_photo_cached(name: str, shrink: int) -> np.ndarray:
    from PIL import Image

    if name not in _FILES:
        raise CheckerscopeError(f"unknown photograph {name!r}; choose from {sorted(_FILES)}")
    path = _data_dir() / _FILES[name]
    if not path.exists():  # pragma: no cover - depends on the install
        raise CheckerscopeError(f"bundled photograph missing: {path}")
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    chw = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    if shrink > 1:
        # Box averaging: cuts sensor noise and demosaicing residue, which sit at period 2.
        chw = F.avg_pool2d(chw[None], shrink)[0]
    result = chw.numpy()
    result.setflags(write=False)
    return result


def load_photo(name: str, shrink: int = 2) -> np.ndarray:
    """One bundled photograph as a read-only (3, H, W) float32 array in [0, 1].

    Args:
        name: ``"astronaut"``, ``"chelsea"``, ``"coffee"``, ``"immunohistochemistry"`` or
            ``"motorcycle"`` (the experiments use :data:`PHOTOS`).
        shrink: integer box-averaging factor applied first (1 keeps full resolution).

    Returns:
        The photograph, channels first.

    Raises:
        CheckerscopeError: for an unknown name or a non-positive ``shrink``.

    Examples:
        >>> load_photo("astronaut", shrink=4).shape
        (3, 128, 128)
    """
    if shrink < 1:
        raise CheckerscopeError(f"shrink must be a positive integer, got {shrink}")
    return _load_photo_cached(name, int(shrink))


def photo_patches(
    n: int,
    size: int,
    seed: int,
    *,
    split: str = "train",
    shrink: int = 2,
    flips: bool = True,
) -> torch.Tensor:
    """Random square crops of the bundled photographs.

    Args:
        n: number of patches.
        size: side of each patch in pixels.
        seed: seeds the crop positions (and flips).
        split: ``"train"`` (crops from the left part of each of :data:`PHOTOS`) or
            ``"eval"`` (from the held-out right part, :data:`EVAL_FRACTION` of the width).
        shrink: box-averaging factor applied to the photographs before cropping; larger
            values put more of a scene into each patch.
        flips: randomly mirror patches horizontally.

    Returns:
        A (n, 3, size, size) float32 tensor in [0, 1].

    Raises:
        CheckerscopeError: for an unknown split or a patch larger than the photographs.

    Examples:
        >>> a = photo_patches(3, 16, seed=1)
        >>> bool(torch.equal(a, photo_patches(3, 16, seed=1)))
        True
    """
    if split not in ("train", "eval"):
        raise CheckerscopeError(f"split must be 'train' or 'eval', got {split!r}")
    photos = []
    for name in PHOTOS:
        photo = load_photo(name, shrink)
        cut = int(round(photo.shape[2] * (1.0 - EVAL_FRACTION)))
        photos.append(photo[:, :, :cut] if split == "train" else photo[:, :, cut:])
    if any(min(p.shape[1:]) < size for p in photos):
        raise CheckerscopeError(
            f"patch size {size} exceeds the {split} part of a photograph at shrink {shrink}"
        )
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        photo = photos[int(rng.integers(len(photos)))]
        top = int(rng.integers(photo.shape[1] - size + 1))
        left = int(rng.integers(photo.shape[2] - size + 1))
        patch = photo[:, top : top + size, left : left + size]
        out[i] = patch[:, :, ::-1] if flips and rng.random() < 0.5 else patch
    return torch.from_numpy(out)


def coloured_shapes(n: int, size: int, seed: int, *, shapes_per_image: int = 3) -> torch.Tensor:
    """Images of saturated discs, rectangles and triangles on a saturated background.

    Shapes are drawn at four times the resolution and box-averaged down, so edges are
    anti-aliased and the set has no pixel-grid pattern of its own.

    Args:
        n: number of images.
        size: side in pixels.
        seed: seeds colours, shapes and positions.
        shapes_per_image: shapes drawn on each background.

    Returns:
        A (n, 3, size, size) float32 tensor in [0, 1].

    Examples:
        >>> x = coloured_shapes(4, 16, seed=3)
        >>> bool(torch.equal(x, coloured_shapes(4, 16, seed=3))), tuple(x.shape)
        (True, (4, 3, 16, 16))
    """
    rng = np.random.default_rng(seed)
    big = 4 * size
    ys, xs = np.mgrid[0:big, 0:big].astype(np.float32) + 0.5
    out = np.empty((n, 3, big, big), dtype=np.float32)
    for i in range(n):
        canvas = np.empty((3, big, big), dtype=np.float32)
        canvas[:] = _saturated_colour(rng)[:, None, None]
        for _ in range(shapes_per_image):
            mask = _random_shape_mask(rng, ys, xs, big)
            canvas[:, mask] = _saturated_colour(rng)[:, None]
        out[i] = canvas
    small = F.avg_pool2d(torch.from_numpy(out), 4)
    return small.contiguous()


def _saturated_colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour with one channel high, one low and one anywhere (a hue at full chroma)."""
    hue = rng.random() * 6.0
    sector = int(hue) % 6
    ramp = hue - int(hue)
    table = [
        (1.0, ramp, 0.0),
        (1.0 - ramp, 1.0, 0.0),
        (0.0, 1.0, ramp),
        (0.0, 1.0 - ramp, 1.0),
        (ramp, 0.0, 1.0),
        (1.0, 0.0, 1.0 - ramp),
    ]
    value = 0.6 + 0.4 * rng.random()
    return np.asarray(table[sector], dtype=np.float32) * value


def _random_shape_mask(
    rng: np.random.Generator, ys: np.ndarray, xs: np.ndarray, big: int
) -> np.ndarray:
    kind = int(rng.integers(3))
    cy, cx = rng.uniform(0.15, 0.85, size=2) * big
    radius = rng.uniform(0.12, 0.3) * big
    if kind == 0:
        return (ys - cy) ** 2 + (xs - cx) ** 2 <= radius**2
    if kind == 1:
        half_h, half_w = rng.uniform(0.5, 1.0, size=2) * radius
        return (np.abs(ys - cy) <= half_h) & (np.abs(xs - cx) <= half_w)
    angles = rng.uniform(0, 2 * np.pi) + np.array([0.0, 2.0, 4.0]) * np.pi / 3
    corners = np.stack([cy + radius * np.sin(angles), cx + radius * np.cos(angles)], axis=1)
    sides = []
    for k in range(3):
        (y0, x0), (y1, x1) = corners[k], corners[(k + 1) % 3]
        sides.append((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0))
    stacked = np.stack(sides)
    # Inside a triangle the three edge functions share a sign, whichever the winding.
    return np.asarray((stacked >= 0).all(axis=0) | (stacked <= 0).all(axis=0))


def downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-average ``images`` (N, C, H, W) by an integer ``factor`` (the low-resolution inputs).

    Examples:
        >>> downsample(torch.ones(1, 3, 8, 8), 4).shape
        torch.Size([1, 3, 2, 2])
    """
    if factor < 1:
        raise CheckerscopeError(f"factor must be a positive integer, got {factor}")
    return F.avg_pool2d(images, factor) if factor > 1 else images


def recolour(images: torch.Tensor, colours: torch.Tensor, contrast: float = 0.35) -> torch.Tensor:
    """Move each image's mean colour to ``colours`` while keeping a fixed texture contrast.

    ``out = colour + contrast * (image - mean(image))``, clipped to [0, 1]. Used by the
    colour experiment (C9) to vary the output colour while holding the texture roughly
    constant.

    Args:
        images: (N, 3, H, W) in [0, 1].
        colours: (N, 3) target mean colours in [0, 1].
        contrast: scale of the texture kept around the new mean.

    Returns:
        (N, 3, H, W) float tensor in [0, 1].

    Examples:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> y = recolour(x, torch.tensor([[0.5, 0.5, 0.5], [0.9, 0.1, 0.1]]), contrast=0.0)
        >>> [round(v, 3) for v in y[1, :, 0, 0].tolist()]
        [0.9, 0.1, 0.1]
    """
    mean = images.mean(dim=(2, 3), keepdim=True)
    return (colours[:, :, None, None] + contrast * (images - mean)).clamp(0.0, 1.0)
