"""load_image and iter_image_paths: formats, modes, broken files, path expansion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from checkerscope.errors import CheckerscopeError
from checkerscope.imageio import iter_image_paths, load_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, size=(12, 10), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".bmp"])
def test_lossless_formats_round_trip_rgb_and_gray(tmp_path: Path, suffix: str) -> None:
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(RGB).save(tmp_path / f"rgb{suffix}", **options)
    image = load_image(tmp_path / f"rgb{suffix}")
    assert image.dtype == np.float32 and image.shape == (3, 12, 10)
    np.testing.assert_allclose(image, RGB.transpose(2, 0, 1) / 255.0, atol=1e-6)
    if suffix != ".webp":  # WebP stores colour only
        Image.fromarray(GRAY).save(tmp_path / f"gray{suffix}")
        gray = load_image(tmp_path / f"gray{suffix}")
        assert gray.shape == (1, 12, 10)
        np.testing.assert_allclose(gray[0], GRAY / 255.0, atol=1e-6)


def test_jpeg_is_close_to_the_original(tmp_path: Path) -> None:
    smooth = np.repeat(np.linspace(0, 255, 64)[None, :, None], 48, axis=0).astype(np.uint8)
    Image.fromarray(np.repeat(smooth, 3, axis=2)).save(tmp_path / "a.jpg", quality=95)
    image = load_image(tmp_path / "a.jpg")
    assert image.shape == (3, 48, 64)
    assert np.abs(image - smooth[..., 0] / 255.0).max() < 0.05


def test_sixteen_bit_keeps_its_precision(tmp_path: Path) -> None:
    values = RNG.integers(0, 65536, size=(12, 10), dtype=np.uint16)
    for suffix in (".png", ".tif"):
        Image.fromarray(values).save(tmp_path / f"deep{suffix}")
        image = load_image(tmp_path / f"deep{suffix}")
        assert image.shape == (1, 12, 10)
        np.testing.assert_allclose(image[0], values / 65535.0, rtol=1e-6)


def test_rgba_drops_alpha_and_palette_expands(tmp_path: Path) -> None:
    rgba = np.dstack([RGB, np.zeros((12, 10), np.uint8)])  # fully transparent
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_allclose(load_image(tmp_path / "rgba.png"), RGB.transpose(2, 0, 1) / 255.0)

    palette = Image.fromarray(RGB).quantize(colors=16)
    palette.save(tmp_path / "palette.png")
    expected = np.asarray(palette.convert("RGB")).transpose(2, 0, 1) / 255.0
    loaded = load_image(tmp_path / "palette.png")
    assert loaded.shape == (3, 12, 10)
    np.testing.assert_allclose(loaded, expected, atol=1e-6)

    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette_alpha.png", transparency=0)
    np.testing.assert_allclose(load_image(tmp_path / "palette_alpha.png"), expected, atol=1e-6)


def test_bilevel_and_gray_alpha(tmp_path: Path) -> None:
    Image.fromarray(GRAY > 128).save(tmp_path / "bits.png")
    np.testing.assert_array_equal(load_image(tmp_path / "bits.png")[0], (GRAY > 128) * 1.0)
    Image.fromarray(GRAY).convert("LA").save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").shape == (1, 12, 10)


def test_float_tiff_is_returned_as_stored(tmp_path: Path) -> None:
    values = RNG.normal(size=(12, 10)).astype(np.float32)
    Image.fromarray(values).save(tmp_path / "f.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tif")[0], values)


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty file"),
        ("notes.png", b"just some text", r"not an image \(Pillow cannot identify it\)"),
        ("truncated.png", _png_bytes()[:400], "truncated or corrupt image"),
        ("garbled.png", _png_bytes()[:60] + bytes(500), "truncated or corrupt image"),
    ],
)
def test_broken_files_raise_one_line_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CheckerscopeError, match=message) as info:
        load_image(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    Image.fromarray(RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "whole.jpg"
    )
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:300])
    with pytest.raises(CheckerscopeError, match="cut.jpg: truncated or corrupt image"):
        load_image(tmp_path / "cut.jpg")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckerscopeError, match="nothing.png: no such file"):
        load_image(tmp_path / "nothing.png")
    with pytest.raises(CheckerscopeError, match="is a folder"):
        load_image(tmp_path)


def test_iter_image_paths_expands_folders_globs_and_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ("a/one.PNG", "a/b/two.jpg", "a/three.webp", "top.tif", ".hidden/x.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / ".dot.png").write_bytes(b"x")
    (tmp_path / "a" / "readme.txt").write_text("x")

    found = list(iter_image_paths([tmp_path / "a"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/one.PNG",
        "a/three.webp",
        "a/b/two.jpg",
    ]
    globbed = list(iter_image_paths([str(tmp_path / "**" / "*.jpg")]))
    assert [p.name for p in globbed] == ["two.jpg"]
    # explicit files are kept whatever their suffix; repeats are dropped
    explicit = list(
        iter_image_paths([tmp_path / "a" / "readme.txt", tmp_path / "a", tmp_path / "a/one.PNG"])
    )
    assert [p.name for p in explicit] == ["readme.txt", "one.PNG", "three.webp", "two.jpg"]
    # missing paths and empty globs come through, so the caller can report them
    missing = list(iter_image_paths([tmp_path / "gone.png", str(tmp_path / "*.bmp")]))
    assert [p.name for p in missing] == ["gone.png", "*.bmp"]
