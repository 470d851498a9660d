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

Anything that cannot be read (missing, empty, truncated, corrupt, not a regular file, not an
image, or more pixels than ``max_pixels``) raises a one-line
:class:`~checkerscope.errors.CheckerscopeError` that names the file (printably: see
:func:`~checkerscope._files.display_name`). The pixel limit is checked from the file's
header, before anything is decoded: a small file can declare a huge image.

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
    >>> load_image(folder / "rgba.png", max_pixels=20)
    Traceback (most recent call last):
    ...
    checkerscope.errors.CheckerscopeError: .../rgba.png: 6x4 = 24 pixels, over the limit of 20 ...
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from checkerscope._files import display_name
from checkerscope.errors import CheckerscopeError

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "iter_image_paths", "load_image"]

#: File name suffixes collected when a folder is expanded (explicit files are always read).
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm", ".pgm"}
)

#: The default pixel limit of :func:`load_image`: Pillow's own decompression-bomb limit
#: (``PIL.Image.MAX_IMAGE_PIXELS``), about 9459 x 9459. An RGB image at the limit is 1 GiB
#: as float32.
DEFAULT_MAX_PIXELS = 89_478_485

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# Float images whose values times their pixel count pass this are returned as float64, so
# that the sums and squared magnitudes of a Fourier transform stay finite.
_FLOAT32_SAFE = 1e17


def load_image(
    path: str | os.PathLike[str],
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    *,
    as_stored: bool = False,
) -> np.ndarray:
    """Read an image file as ``float32`` ``(C, H, W)`` in ``[0, 1]`` (C is 1 or 3).

    Args:
        path: The file to read.
        max_pixels: Refuse images with more pixels than this (width times height), before
            decoding them; ``None`` for no limit of ours (Pillow's own
            ``PIL.Image.MAX_IMAGE_PIXELS`` still applies).
        as_stored: Return 8-bit images as ``uint8`` values 0 to 255 (a quarter of the
            memory, and no pass to convert them); other images as without it.

    Returns:
        The pixels, channel first. Alpha is dropped; palette images become RGB. Float
        images so large in value that a sum over them would overflow float32 are returned
        as float64.

    Raises:
        CheckerscopeError: the file is missing, empty, not a regular file, truncated,
            corrupt, not an image, or over ``max_pixels``.
    """
    path = Path(path)
    try:
        return _load(path, max_pixels, as_stored)
    except CheckerscopeError as exc:  # the name is only worked out for a message
        raise CheckerscopeError(f"{display_name(path)}: {exc}") from None


def _load(path: Path, max_pixels: int | None, as_stored: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        info = path.stat()
    except FileNotFoundError:
        raise CheckerscopeError("no such file") from None
    except OSError as exc:
        raise CheckerscopeError(f"cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckerscopeError("is a folder, not an image")
    if not stat.S_ISREG(info.st_mode):
        raise CheckerscopeError("not a regular file (a pipe, socket or device)")
    if info.st_size == 0:
        raise CheckerscopeError("empty file")
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise CheckerscopeError(
                    f"{width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,} (max_pixels)"
                )
            image.load()
            array = _pixels(image, as_stored)
    except UnidentifiedImageError:
        raise CheckerscopeError("not an image (Pillow cannot identify it)") from None
    except CheckerscopeError:
        raise
    except Image.DecompressionBombError as exc:
        raise CheckerscopeError(f"too large to decode safely ({exc})") from None
    except MemoryError:
        raise CheckerscopeError("not enough memory to decode it") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckerscopeError(f"truncated or corrupt image ({reason})") from None
    if array.shape[-1] == 0 or array.shape[-2] == 0:
        raise CheckerscopeError(f"image has no pixels ({array.shape[-2]}x{array.shape[-1]})")
    return array


def _pixels(image: object, as_stored: bool = False) -> np.ndarray:
    """Convert a loaded Pillow image to ``float32`` ``(C, H, W)`` in ``[0, 1]`` (8-bit
    images ``uint8`` as stored with ``as_stored``)."""
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
        values = np.asarray(image, dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size and float(np.abs(finite).max()) * values.size > _FLOAT32_SAFE:
            return values.astype(np.float64)[None]
        return values[None]
    if mode in ("1", "L", "LA", "La"):
        gray = np.asarray(image.convert("L"))
        return gray[None] if as_stored else (gray.astype(np.float32) / 255.0)[None]
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    if image.mode not in ("RGB", "RGBA"):
        try:
            image = image.convert("RGB")
        except ValueError as exc:
            raise CheckerscopeError(f"unsupported pixel mode {mode!r} ({exc})") from None
    # one band at a time (Pillow splits them contiguous, which reads faster than strided
    # channels): the peak is the 8-bit pixels plus the result
    width, height = image.size
    out = np.empty((3, height, width), dtype=np.uint8 if as_stored else np.float32)
    for channel, band in enumerate(image.split()[:3]):
        if as_stored:
            out[channel] = np.asarray(band)
        else:
            np.divide(np.asarray(band), np.float32(255.0), out=out[channel], dtype=np.float32)
    return out


def iter_image_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Expand files, folders (recursively) and glob patterns into image paths, in order.

    Explicit files are yielded whatever their suffix (so that a non-image named on the
    command line is reported, not ignored); folders contribute their files with an image
    suffix (:data:`IMAGE_SUFFIXES`, any case), sorted, skipping hidden files and folders.
    A path that does not exist, or a pattern that matches nothing, is yielded as it is, so
    that the caller reports it. Each path is yielded once.

    Neither folders nor ``**`` follow links to folders (as bash's ``globstar`` does not), so
    a tree with cyclic symbolic links is walked once, in finite time.

    Args:
        paths: Files, folders and glob patterns (``**`` matches folders recursively).

    Yields:
        Paths to read with :func:`load_image`.
    """
    seen: set[Path] = set()

    def once(path: Path) -> Iterator[Path]:
        key = Path(os.path.realpath(path)) if path.exists() else path
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
        elif glob.has_magic(os.fspath(entry)) and (matches := _glob(os.fspath(entry))):
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
    for root, dirs, files in os.walk(folder):  # does not follow links to folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(root) / name


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` never follows a link to a
    folder (Python's does, and loops through cyclic links until path names grow too long).

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "a" / "b").mkdir(parents=True)
        >>> _ = (root / "a" / "b" / "x.png").write_bytes(b"")
        >>> (root / "a" / "b" / "loop").symlink_to(root / "a")
        >>> [pathlib.Path(p).relative_to(root).as_posix() for p in _glob(f"{root}/**/*.png")]
        ['a/b/x.png']
    """
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)  # no recursion: finite however the links go
    first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = os.sep.join(parts[:first_magic])
    if not base and pattern.startswith(os.sep):
        base = os.sep
    matcher = re.compile(_pattern_regex(parts[first_magic:]))
    top = base or os.curdir
    if not os.path.isdir(top):
        return []
    found = []
    if base and parts[first_magic:] == ["**"]:
        found.append(os.path.join(base, ""))  # "folder/**" matches the folder itself too
    for root, dirs, files in os.walk(top):  # followlinks=False: no cycles
        relative_root = os.path.relpath(root, top)
        prefix = "" if relative_root == os.curdir else relative_root.replace(os.sep, "/") + "/"
        for name in [*dirs, *files]:
            if matcher.fullmatch(prefix + name):
                found.append(os.path.join(base, prefix + name) if base else prefix + name)
    return found


def _pattern_regex(components: list[str]) -> str:
    """A regular expression over ``/``-separated relative paths for glob components."""
    regex = ""
    for index, component in enumerate(components):
        last = index == len(components) - 1
        if component == "**":
            # any number of visible folders (zero included)
            regex += r"(?:(?!\.)[^/]+/)*" if not last else r"(?:(?!\.)[^/]+(?:/|$))*"
            continue
        regex += _component_regex(component) + ("" if last else "/")
    return regex


def _component_regex(component: str) -> str:
    """``*``, ``?`` and ``[...]`` of one path component; a leading dot must be explicit."""
    out = "" if component.startswith(".") else r"(?!\.)"
    index = 0
    while index < len(component):
        char = component[index]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[" and (close := component.find("]", index + 2)) != -1:
            inside = component[index + 1 : close]
            negate = inside.startswith("!")
            body = re.escape(inside[1:] if negate else inside).replace(r"\-", "-")
            out += f"[{'^' if negate else ''}{body}]"
            index = close
        else:
            out += re.escape(char)
        index += 1
    return out
