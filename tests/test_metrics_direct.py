"""The bins taken as direct DFT sums (NumPy input) against the same bins of a torch rfft2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from checkerscope.metrics import checkerboard_score
from checkerscope.metrics._direct import _direct_bins, _direct_is_cheaper
from checkerscope.metrics._spectral import _host_bins, _spectrum


def photo_like(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Integrated noise: a falling spectrum, so that bins differ by orders of magnitude."""
    rng = np.random.default_rng(seed)
    field = np.cumsum(np.cumsum(rng.normal(size=shape), -1), -2)
    return (field - field.min()) / np.ptp(field)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(8, 70),
    st.integers(8, 70),
    st.sampled_from([2, 3, 4, (2, 1), (1, 4), (3, 2)]),
    st.sampled_from([np.float32, np.float64]),
)
def test_direct_bins_equal_the_rfft2_bins(
    n: int, c: int, height: int, width: int, period: int | tuple[int, int], dtype: type
) -> None:
    per_axis = (period, period) if isinstance(period, int) else period
    height -= height % per_axis[0]
    width -= width % per_axis[1]
    batch = photo_like((n, c, height, width), height * 100 + width).astype(dtype)
    reference = _host_bins(_spectrum(torch.from_numpy(batch)), per_axis)
    scale = np.abs(reference.values).max()
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    direct = _direct_bins(batch, per_axis)
    np.testing.assert_allclose(direct.values, reference.values, atol=tolerance * scale)
    np.testing.assert_allclose(direct.precision_floor, reference.precision_floor, rtol=1e-4)


@pytest.mark.parametrize("period", [2, 4, 8])
def test_numpy_and_torch_inputs_score_alike(period: int) -> None:
    rng = np.random.default_rng(period)
    images = photo_like((6, 3, 96, 128), period).astype(np.float32)
    grid = np.zeros((period, period), np.float32)
    grid[0, 0] = 1.0
    images[3:] += 0.02 * np.tile(grid, (96 // period, 128 // period))
    images += rng.normal(0, 0.01, images.shape).astype(np.float32)
    from_numpy = checkerboard_score(images, period=period)
    from_torch = checkerboard_score(torch.from_numpy(images), period=period)
    np.testing.assert_allclose(from_numpy.db, from_torch.db, atol=1e-3)
    np.testing.assert_allclose(from_numpy.significance, from_torch.significance, atol=1e-3)
    np.testing.assert_allclose(
        from_numpy.amplitude.peak_to_peak, from_torch.amplitude.peak_to_peak, rtol=1e-4
    )
    np.testing.assert_allclose(from_numpy.fingerprint, from_torch.fingerprint, atol=1e-6)
    assert from_numpy.verdict == from_torch.verdict
    assert from_numpy.verdict[:3] == ("clean",) * 3 and "clean" not in from_numpy.verdict[3:]


def test_direct_sums_are_chosen_where_they_cost_less() -> None:
    assert _direct_is_cheaper(256, 256, (2, 2)) and _direct_is_cheaper(2048, 2048, (2, 2))
    assert _direct_is_cheaper(256, 256, (4, 4))
    assert not _direct_is_cheaper(256, 256, (8, 8)) and not _direct_is_cheaper(256, 256, (16, 16))


def test_scoring_numpy_images_does_not_import_torch(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "image.png"
    Image.fromarray((255 * photo_like((64, 64, 3), 0)).astype(np.uint8)).save(path)
    program = (
        "import sys\n"
        "from checkerscope.cli import main\n"
        f"code = main(['score', {str(path)!r}, '--json'])\n"
        "assert code == 0, code\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout


def test_large_batches_go_in_groups_with_the_same_values() -> None:
    from checkerscope.errors import CheckerscopeError
    from checkerscope.metrics import _direct

    batch = photo_like((5, 2, 64, 64), 3).astype(np.float32)
    whole = _direct_bins(batch, (2, 2))
    original = _direct._GROUP_VALUES
    try:
        _direct._GROUP_VALUES = 2 * 64 * 64 * 2  # two images per group
        grouped = _direct_bins(batch, (2, 2))
        np.testing.assert_array_equal(grouped.values, whole.values)
        np.testing.assert_array_equal(grouped.precision_floor, whole.precision_floor)
        batch[3, 1, 5, 5] = np.nan
        with pytest.raises(CheckerscopeError, match=r"image index \[3\]"):
            _direct_bins(batch, (2, 2))
    finally:
        _direct._GROUP_VALUES = original
