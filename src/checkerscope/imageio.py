"""Image files in, float arrays out: what ``checkerscope score`` reads.

``load_image`` returns the stored pixels as ``float32`` ``(C, H, W)`` in ``[0, 1]``:

* PNG, JPEG, WebP, TIFF, BMP (and anything else Pillow opens; the first frame of
  animations and multi-page files);
* gray (``C = 1``) and RGB (``C = 3``); palette images are expanded to RGB; CMYK and YCbCr
  are converted to RGB;
* 16-bit images keep their precision (divided by 65535); 32-bit float images are returned
  as stored;
* **alpha is dropped**: a checkerboard lives in the colour, and transparent regions hold
  whatever colour the encoder kept there;
* the EXIF orientation is **not** applied: artifacts are aligned to the stored pixel grid.

Anything that cannot be read (missing, empty, truncated, corrupt or not an image) raises a
one-line :class:`~checkerscope.errors.CheckerscopeError` that names the file.

Examples:
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.full((4, 6, 4), 255, np.uint8)).save(folder / "rgba.png")
    >>> image = load_image(folder / "rgba.png")
    >>> image.shape, image.dtype, float(image.max())
    ((3, 4, 6), dtype('float32'), 1.0)
    >>> _ = (folder / "notes.txt").write_text("hello")
    >>> [p.name for p in iter_image_paths([folder])]
    ['rgba.png']
    >>> load_image(folder / "notes.txt")
    Traceback (most recent call last):
    ...
    checkerscope.errors.CheckerscopeError: .../notes.txt: not an image (Pillow cannot identify it)
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from checkerscope.errors import CheckerscopeError

__all__ = ["IMAGE_SUFFIXES", "iter_image_paths", "load_image"]

#: File name suffixes collected when a folder is expanded (explicit files are always read).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm"}
)

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``float32`` ``(C, H, W)`` in ``[0, 1]`` (C is 1 or 3).

    Args:
        path: The file to read.

    Returns:
        The pixels, channel first. Alpha is dropped; palette images become RGB.

    Raises:
        CheckerscopeError: the file is missing, empty, truncated, corrupt or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckerscopeError(f"{path}: no such file") from None
    except OSError as exc:
        raise CheckerscopeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise CheckerscopeError(f"{path}: is a folder, not an image")
    if size == 0:
        raise CheckerscopeError(f"{path}: empty file")
    try:
        with Image.open(path) as image:
            image.load()
            array = _pixels(image)
    except UnidentifiedImageError:
        raise CheckerscopeError(f"{path}: not an image (Pillow cannot identify it)") from None
    except CheckerscopeError as exc:
        raise CheckerscopeError(f"{path}: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise CheckerscopeError(f"{path}: too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckerscopeError(f"{path}: truncated or corrupt image ({reason})") from None
    if array.shape[-1] == 0 or array.shape[-2] == 0:
        raise CheckerscopeError(
            f"{path}: image has no pixels ({array.shape[-2]}x{array.shape[-1]})"
        )
    return array


def _pixels(image: object) -> np.ndarray:
    """Convert a loaded Pillow image to ``float32`` ``(C, H, W)`` in ``[0, 1]``."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image).astype(np.float32) / 65535.0
        return array[None]
    if mode == "I":  # 32-bit integers: Pillow's mode for some 16-bit PNGs and TIFFs
        array = np.asarray(image).astype(np.float64)
        top = 65535.0 if array.min() >= 0 and array.max() <= 65535 else 2.0**32 - 1
        low = 0.0 if top == 65535.0 else -(2.0**31)
        return ((array - low) / top).astype(np.float32)[None]
    if mode == "F":
        return np.asarray(image, dtype=np.float32)[None]
    if mode in ("1", "L", "LA", "La"):
        gray = image.convert("L")
        return (np.asarray(gray, dtype=np.float32) / 255.0)[None]
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    if image.mode not in ("RGB", "RGBA"):
        try:
            image = image.convert("RGB")
        except ValueError as exc:
            raise CheckerscopeError(f"unsupported pixel mode {mode!r} ({exc})") from None
    array = np.asarray(image, dtype=np.float32)[..., :3] / 255.0
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def iter_image_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Expand files, folders (recursively) and glob patterns into image paths, in order.

    Explicit files are yielded whatever their suffix (so that a non-image named on the
    command line is reported, not ignored); folders contribute their files with an image
    suffix (:data:`IMAGE_SUFFIXES`, any case), sorted, skipping hidden files and folders.
    A path that does not exist, or a pattern that matches nothing, is yielded as it is, so
    that the caller reports it. Each path is yielded once.

    Args:
        paths: Files, folders and glob patterns (``**`` matches folders recursively).

    Yields:
        Paths to read with :func:`load_image`.
    """
    seen: set[Path] = set()

    def once(path: Path) -> Iterator[Path]:
        key = path.resolve() if path.exists() else path
        if key not in seen:
            seen.add(key)
            yield path

    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            for found in _walk(path):
                yield from once(found)
        elif path.exists():
            yield from once(path)
        elif glob.has_magic(str(entry)) and (matches := glob.glob(str(entry), recursive=True)):
            for match in sorted(matches):
                match_path = Path(match)
                if match_path.is_dir():
                    for found in _walk(match_path):
                        yield from once(found)
                else:
                    yield from once(match_path)
        else:
            yield from once(path)


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(root) / name
