"""checkerboard_score: shapes, errors, invariances, and agreement with analytic references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import checkerscope as cs
from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import CheckerboardScore, checkerboard_score


def noise(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def tiled(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Repeat a (..., p, q) tile from the top-left corner over height x width."""
    reps = (1,) * (tile.ndim - 2) + (-(-height // tile.shape[-2]), -(-width // tile.shape[-1]))
    return np.tile(tile, reps)[..., :height, :width]


CHECKER = np.array([[1.0, -1.0], [-1.0, 1.0]])


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("shape", "n", "c"),
    [((40, 48), 1, 1), ((3, 40, 48), 1, 3), ((5, 2, 40, 48), 5, 2)],
)
def test_image_shapes(shape: tuple[int, ...], n: int, c: int) -> None:
    s = checkerboard_score(noise(*shape))
    assert isinstance(s, CheckerboardScore)
    assert s.db.shape == (n,)
    assert s.channel_db.shape == (n, c)
    assert s.fingerprint.shape == (n, 2, 2)
    assert s.channel_fingerprint.shape == (n, c, 2, 2)
    assert s.period == (2, 2)
    assert s.shape == (40, 48)
    assert len(s) == n


@pytest.mark.parametrize(("shape", "n", "c"), [((96,), 1, 1), ((2, 96), 1, 2), ((3, 2, 96), 3, 2)])
def test_signal_shapes(shape: tuple[int, ...], n: int, c: int) -> None:
    s = checkerboard_score(noise(*shape), period=4, dims=1)
    assert s.db.shape == (n,)
    assert s.channel_db.shape == (n, c)
    assert s.fingerprint.shape == (n, 4)
    assert s.period == (4,)
    assert s.shape == (96,)


def test_per_axis_period_shapes() -> None:
    s = checkerboard_score(noise(3, 40, 48), period=(2, 4))
    assert s.period == (2, 4)
    assert s.fingerprint.shape == (1, 2, 4)


@given(
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    height=st.integers(8, 70),
    width=st.integers(8, 70),
    period=st.sampled_from([2, 3, 4]),
    seed=st.integers(0, 2**16),
)
def test_any_fitting_shape_gives_finite_scores(
    n: int, c: int, height: int, width: int, period: int, seed: int
) -> None:
    s = checkerboard_score(noise(n, c, height, width, seed=seed), period=period)
    assert s.db.shape == (n,) and s.channel_db.shape == (n, c)
    assert s.shape == (height - height % period, width - width % period)
    assert np.isfinite(s.db).all() and np.isfinite(s.channel_db).all()
    assert np.isfinite(s.fingerprint).all()


def test_float_and_repr() -> None:
    one = checkerboard_score(noise(32, 32))
    assert float(one) == pytest.approx(one.db[0])
    assert repr(one).startswith("CheckerboardScore(db=")
    batch = checkerboard_score(noise(3, 1, 32, 32))
    assert "n=3" in repr(batch) and "period=2x2" in repr(batch)
    with pytest.raises(CheckerscopeError, match="single image"):
        float(batch)


def test_public_names_resolve_lazily() -> None:
    assert cs.checkerboard_score is checkerboard_score
    assert cs.CheckerboardScore is CheckerboardScore


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (np.zeros((2, 3, 4, 5, 6)), {}, r"got shape \(2, 3, 4, 5, 6\)"),
        (np.zeros(16), {}, r"got shape \(16,\)"),
        (np.zeros((1, 2, 3, 16)), {"dims": 1}, r"got shape \(1, 2, 3, 16\)"),
        (np.zeros((20, 20)), {"period": 16}, "too small for period 16"),
        (np.zeros((20, 3)), {"period": 2}, "width 3 is too small"),
        (np.zeros(7), {"period": 4, "dims": 1}, "length 7 is too small for period 4"),
        (np.zeros((3, 3)), {"period": "auto"}, "too small for period 'auto'"),
        (np.zeros((16, 16)), {"period": 1}, "got 1"),
        (np.zeros((16, 16)), {"period": 0}, "got 0"),
        (np.zeros((16, 16)), {"period": -2}, "got -2"),
        (np.zeros((16, 16)), {"period": 2.5}, "got 2.5"),
        (np.zeros((16, 16)), {"period": True}, "got True"),
        (np.zeros((16, 16)), {"period": "often"}, "got 'often'"),
        (np.zeros((16, 16)), {"period": (2, 2, 2)}, r"got \(2, 2, 2\)"),
        (np.zeros((16, 16)), {"dims": 3}, "dims must be 1 or 2, got 3"),
        (np.zeros((16, 16), complex), {}, "expected a real array"),
        (np.array([["a", "b"]]), {}, "expected a numeric array"),
        (np.zeros((0, 16)), {}, r"empty array of shape \(0, 16\)"),
        (np.array([np.zeros((1, 8, 8)), np.full((1, 8, 8), np.nan)]), {}, r"NaN .* index \[1\]"),
        (np.full((8, 8), np.inf), {"period": "auto"}, r"NaN or infinite values"),
    ],
)
def test_bad_input_raises_one_line_error(x: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message) as info:
        checkerboard_score(x, **kwargs)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- invariances


@given(
    scale=st.floats(1e-3, 1e3),
    offset=st.floats(-1e3, 1e3),
    seed=st.integers(0, 2**16),
    period=st.sampled_from([2, 4, "auto"]),
)
def test_invariant_to_positive_affine_maps(
    scale: float, offset: float, seed: int, period: int | str
) -> None:
    x = noise(2, 48, 40, seed=seed) + 0.3 * tiled(noise(2, 4, 4, seed=seed + 1), 48, 40)
    base = checkerboard_score(x, period=period)
    moved = checkerboard_score(scale * x + offset, period=period)
    np.testing.assert_allclose(moved.db, base.db, atol=1e-6)
    np.testing.assert_allclose(moved.channel_db, base.channel_db, atol=1e-6)
    np.testing.assert_allclose(moved.fingerprint, scale * base.fingerprint, rtol=1e-6, atol=1e-9)
    assert moved.period == base.period


def test_crop_keeps_top_left_origin() -> None:
    x = noise(3, 67, 69)
    np.testing.assert_array_equal(checkerboard_score(x).db, checkerboard_score(x[:, :66, :68]).db)
    np.testing.assert_array_equal(
        checkerboard_score(x, period=4).db, checkerboard_score(x[:, :64, :68], period=4).db
    )


@pytest.mark.parametrize("size", [16, 32, 64, 128, 256, 512])
def test_grid_free_noise_scores_near_zero_at_any_size(size: int) -> None:
    count = 64 if size <= 128 else 16
    white = noise(count, 1, size, size, seed=size)
    # Without a grid the energy ratio has mean 1; with 3 real-valued harmonic bins (period
    # 2, one channel) it is distributed as chi-square(3)/3, whose median is -1.0 dB.
    assert np.median(checkerboard_score(white).db) == pytest.approx(-1.0, abs=1.5)
    # Integrated noise has a 1/f^2 spectrum like natural images: the neighbours of the
    # Nyquist bins lie on one side of it, at lower frequencies, so small images score
    # a little below 0 dB (a documented, conservative bias).
    brown = np.cumsum(np.cumsum(noise(count, 1, size, size, seed=size + 1), axis=-1), axis=-2)
    tolerance = {16: 10.0, 32: 6.0}.get(size, 2.5)
    assert abs(np.median(checkerboard_score(brown).db)) < tolerance


@pytest.mark.parametrize(("size", "amplitude"), [(64, 0.2), (128, 0.1), (256, 0.05)])
def test_grid_in_white_noise_matches_analytic_ratio(size: int, amplitude: float) -> None:
    # E[harmonic energy] = (HW)^2 mean(t^2) + K HW sigma^2, expected = K HW sigma^2
    height = width = size
    tile = amplitude * CHECKER
    k = 3
    expected_db = 10 * math.log10(1 + height * width * np.mean(tile**2) / k)
    images = noise(64, 1, height, width, seed=size) + tiled(tile, height, width)
    s = checkerboard_score(images)
    ratio = np.mean(10 ** (s.db / 10))
    assert 10 * math.log10(ratio) == pytest.approx(expected_db, abs=1.0)


def test_uint8_and_float_agree() -> None:
    image = np.random.default_rng(1).integers(0, 256, size=(3, 64, 80), dtype=np.uint8)
    as_float = image.astype(np.float32) / 255.0
    np.testing.assert_allclose(
        checkerboard_score(image).db, checkerboard_score(as_float).db, atol=1e-3
    )
    wide = image.astype(np.uint16) * 257
    np.testing.assert_allclose(checkerboard_score(wide).db, checkerboard_score(image).db, atol=1e-3)


def test_torch_and_numpy_agree() -> None:
    x = noise(2, 3, 64, 64) + 0.05 * tiled(CHECKER, 64, 64)
    from_numpy = checkerboard_score(x.astype(np.float32))
    from_torch = checkerboard_score(torch.from_numpy(x.astype(np.float32)).requires_grad_())
    np.testing.assert_allclose(from_torch.db, from_numpy.db, atol=1e-5)
    np.testing.assert_allclose(from_torch.fingerprint, from_numpy.fingerprint, atol=1e-6)
    as_double = checkerboard_score(torch.from_numpy(x))
    np.testing.assert_allclose(as_double.db, from_numpy.db, atol=1e-3)


# --------------------------------------------------------------------------- what it finds


def test_fingerprint_recovers_injected_tiles() -> None:
    rng = np.random.default_rng(7)
    tiles = rng.normal(size=(3, 4, 4))
    tiles -= tiles.mean(axis=(-2, -1), keepdims=True)
    x = 0.5 + 0.05 * noise(3, 256, 192, seed=8) + 0.02 * tiled(tiles, 256, 192)
    s = checkerboard_score(x, period=4)
    # the noise left in a polyphase mean over 3072 cells: 0.05 / sqrt(3072) = 0.0009
    np.testing.assert_allclose(s.channel_fingerprint[0], 0.02 * tiles, atol=4e-3)
    np.testing.assert_allclose(s.fingerprint[0], 0.02 * tiles.mean(axis=0), atol=3e-3)
    assert s.db[0] > 10


def test_constant_and_degenerate_inputs_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.uint8, np.float32, np.float64):
            assert checkerboard_score(np.full((3, 32, 32), 7, dtype)).db[0] == 0.0
        assert checkerboard_score(np.zeros((32, 32))).db[0] == 0.0
        perfect = checkerboard_score(tiled(CHECKER, 32, 32))
        assert np.isfinite(perfect.db[0]) and perfect.db[0] > 60
        assert checkerboard_score(np.zeros(64), dims=1).db[0] == 0.0


def test_border_discontinuity_does_not_fake_a_grid() -> None:
    # a steep ramp: tiling it jumps at the border, which puts a cross on the axes of the
    # raw spectrum, through the Nyquist bins (0, W/2) and (H/2, 0)
    rows, cols = np.mgrid[0:128, 0:96].astype(float)
    images = 3.0 * rows + 2.0 * cols + noise(16, 1, 128, 96, seed=3)
    s = checkerboard_score(images)
    assert abs(np.median(s.db)) < 2

    raw = np.abs(np.fft.fft2(images)) ** 2
    axis_nyquist = raw[:, 0, 0, 48] + raw[:, 0, 64, 0]
    off_axis = np.median(raw[:, 0, 20:44, 20:44], axis=(-2, -1))
    assert np.median(10 * np.log10(axis_nyquist / (2 * off_axis))) > 20  # the trap


def test_per_axis_periods_separate_rows_from_columns() -> None:
    stripes = np.array([[1.0], [-1.0]])  # alternating rows: period 2 along the height only
    x = noise(64, 64) + 0.3 * tiled(stripes, 64, 64)
    assert checkerboard_score(x, period=(2, 1)).db[0] > 15
    assert abs(checkerboard_score(x, period=(1, 2)).db[0]) < 6


@pytest.mark.parametrize("period", [2, 4, 8, 16])
def test_auto_finds_the_period(period: int) -> None:
    rng = np.random.default_rng(period)
    tile = rng.normal(size=(period, period))
    tile -= tile.mean()
    x = noise(3, 128, 160, seed=period) + 0.3 * tiled(tile, 128, 160)
    s = checkerboard_score(x, period="auto")
    assert s.period == (period, period)
    assert set(s.evidence) == {2, 4, 8, 16}
    assert max(s.evidence, key=s.evidence.get) == period
    assert "(auto)" in repr(s)


def test_signals_along_time() -> None:
    tile = np.array([1.0, 1.0, -1.0, -1.0])  # period 4, nothing at period 2
    clean = noise(32, 4, 4096, seed=11)
    with_grid = clean + 0.1 * np.tile(tile, 1024)
    assert abs(np.median(checkerboard_score(clean, period=4, dims=1).db)) < 1.5
    s = checkerboard_score(with_grid, period=4, dims=1)
    # expected ratio 1 + T mean(t^2) / (K sigma^2) = 1 + 4096 * 0.01 / 3: 11.7 dB
    assert np.median(s.db) == pytest.approx(11.7, abs=1.5)
    np.testing.assert_allclose(s.fingerprint.mean(axis=0), 0.1 * tile, atol=0.01)
    assert checkerboard_score(with_grid[0, 0], period="auto", dims=1).period == (4,)


def test_gradient_like_signed_maps() -> None:
    signed = noise(4, 3, 64, 64) * 1e-6  # tiny, zero-mean, signed
    assert abs(np.median(checkerboard_score(signed).db)) < 3
    assert np.median(checkerboard_score(signed + 1e-7 * tiled(CHECKER, 64, 64)).db) > 10


@pytest.mark.parametrize("rows", [10, 20_000])
def test_neighbour_median_matches_numpy(rows: int) -> None:
    from checkerscope.metrics._layout import _NEIGHBOURS, _median_of_neighbours
    from checkerscope.metrics._spectral import _median_of_last_axis

    values = torch.rand(rows, _NEIGHBOURS, generator=torch.Generator().manual_seed(rows))
    values[::7, :5] = 0.5  # ties
    reference = np.median(values.numpy(), axis=-1)
    np.testing.assert_array_equal(_median_of_last_axis(values).numpy(), reference)
    np.testing.assert_array_equal(_median_of_neighbours(values.numpy()), reference)
