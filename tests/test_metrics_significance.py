"""Amplitude, significance and verdict of the score; the inputs it accepts; audio files."""

from __future__ import annotations

import math
import statistics
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from checkerscope.audioio import load_audio
from checkerscope.cli import main
from checkerscope.errors import CheckerscopeError
from checkerscope.metrics import checkerboard_score
from checkerscope.metrics.null import log_sidak, log_survival, median_weights, z_from_log_p
from checkerscope.metrics.score import SIGNIFICANT_Z


def tiled(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    reps = (-(-height // tile.shape[-2]), -(-width // tile.shape[-1]))
    return np.tile(tile, reps)[:height, :width]


def brown(size: int, seed: int) -> np.ndarray:
    """Integrated noise scaled to [0, 1]: a 1/f^2 spectrum like photographs."""
    field = np.cumsum(np.cumsum(np.random.default_rng(seed).normal(size=(size, size)), 0), 1)
    return (field - field.min()) / (field.max() - field.min())


# --------------------------------------------------------------------------- the null


@pytest.mark.parametrize(("real", "count"), [(False, 24), (False, 12), (True, 12), (True, 7)])
def test_null_tail_matches_simulation(real: bool, count: int) -> None:
    rng = np.random.default_rng(count + real)
    draws = 200_000
    median = np.median(rng.exponential(size=(draws, count)), axis=1)
    energy = rng.chisquare(1, draws) if real else rng.exponential(size=draws)
    ratio = energy / median
    for t in (1.0, 3.0, 8.0):
        simulated = np.mean(ratio > t)
        exact = math.exp(float(log_survival(np.array(t), real, count)))
        assert exact == pytest.approx(simulated, rel=0.05, abs=3e-4)


@given(st.integers(1, 60))
def test_median_weights_give_the_expected_median(count: int) -> None:
    # order statistics of exponentials: E[X_(j)] = sum_{i < j} 1 / (count - i)
    def order(j: int) -> float:
        return sum(1.0 / (count - i) for i in range(j))

    expected = (
        order(count // 2 + 1) if count % 2 else 0.5 * (order(count // 2) + order(count // 2 + 1))
    )
    assert sum(median_weights(count)) == pytest.approx(expected)


@given(st.floats(1e-12, 0.999), st.integers(1, 300))
def test_sidak_and_z_match_their_definitions(p: float, tests: int) -> None:
    log_p = np.array([math.log(p)])
    assert math.exp(log_sidak(log_p, tests)[0]) == pytest.approx(1 - (1 - p) ** tests, rel=1e-6)
    assert float(z_from_log_p(log_p)[0]) == pytest.approx(
        statistics.NormalDist().inv_cdf(1 - p), abs=1e-3
    )


def test_z_of_tiny_p_values_matches_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    log_p = np.array([-1.0, -50.0, -600.0, -689.0, -691.0, -700.0, -5000.0])
    reference = -special.ndtri(np.exp(np.maximum(log_p, -745.0)))
    # scipy's log-space tail inverse is not available everywhere: below exp(-745) compare
    # with the defining equation log P(Z > z) = log_p instead
    z = z_from_log_p(log_p)
    finite = log_p > -745.0
    np.testing.assert_allclose(z[finite], reference[finite], rtol=2e-3)
    tail = special.log_ndtr(-z[~finite])
    np.testing.assert_allclose(tail, log_p[~finite], rtol=1e-3)


def test_significance_is_calibrated_on_white_noise() -> None:
    # nominal 1 % and 0.1 %; measured at period 2 on 32 px: 3.3 % and 0.3 % (the slope fit
    # adds spread when it is given a flat spectrum); at period 4: 0.95 % and 0.1 %
    noise = np.random.default_rng(0).normal(size=(3000, 1, 32, 32))
    for period in (2, 4):
        z = checkerboard_score(noise, period=period, value_range=8.0).significance
        assert 0.004 <= np.mean(z >= SIGNIFICANT_Z) <= 0.04
        assert np.mean(z >= 3.09) <= 0.006


# --------------------------------------------------------------------------- amplitude


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_amplitude_is_the_injected_one_at_any_size(size: int) -> None:
    tile = np.array([[1.0, -1.0, 0.5, 0.0], [-0.5, 0.0, 1.0, -1.0]] * 2)
    tile -= tile.mean()
    tile *= 0.01 / np.sqrt(np.mean(tile**2))  # RMS 1 % of the range
    image = np.round((0.2 + 0.6 * brown(size, size) + tiled(tile, size, size)) * 255) / 255
    s = checkerboard_score(image, period=4, value_range=1.0)
    assert s.amplitude.rms_levels[0] == pytest.approx(2.55, rel=0.1)
    # the peak-to-peak keeps some of the image's own energy at the harmonics: noisier when
    # the image is small (4 x 4 harmonics of a 64-pixel crop hold much photograph)
    tolerance = 0.5 if size < 256 else 0.15
    assert s.amplitude.peak_to_peak_levels[0] == pytest.approx(np.ptp(tile) * 255, rel=tolerance)
    assert s.amplitude.rms_percent[0] == pytest.approx(1.0, rel=0.1)
    assert s.verdict == ("grid",)


def test_verdict_needs_a_visible_amplitude() -> None:
    checker = np.indices((1024, 1024)).sum(0) % 2 - 0.5
    noise = np.random.default_rng(3).normal(0.0, 0.3 / 255, size=(1024, 1024))
    image = 0.5 + noise + 0.1 / 255 * checker  # 0.1 grey level peak-to-peak
    s = checkerboard_score(image, value_range=1.0)
    assert s.db[0] > 20 and s.significance[0] > 5  # it is there, and it stands out
    assert s.amplitude.peak_to_peak_levels[0] == pytest.approx(0.1, rel=0.2)
    assert s.verdict == ("clean",)  # but nobody can see it
    loud = checkerboard_score(image, value_range=1.0, visible=0.03)  # grid from 0.09
    assert loud.verdict == ("grid",)


def test_auto_reports_the_runner_up() -> None:
    tile = np.random.default_rng(4).normal(size=(4, 4))
    image = 0.5 + 0.2 * brown(256, 4) + 0.02 * tiled(tile - tile.mean(), 256, 256)
    s = checkerboard_score(image, period="auto", value_range=1.0)
    assert s.period == (4, 4) and s.runner_up in (8, 16)
    assert s.evidence[4] == max(s.evidence.values())


# --------------------------------------------------------------------------- inputs


def test_channels_last_pil_and_lists_give_the_same_score() -> None:
    rgb = (np.random.default_rng(1).random((64, 80, 3)) * 255).astype(np.uint8)
    reference = checkerboard_score(rgb.transpose(2, 0, 1))
    for other in (
        checkerboard_score(rgb),
        checkerboard_score(Image.fromarray(rgb)),
        checkerboard_score(torch.from_numpy(rgb)[None]),  # NHWC tensor
    ):
        np.testing.assert_allclose(other.db, reference.db, atol=1e-4)
        np.testing.assert_allclose(other.significance, reference.significance, atol=1e-3)
    batch = checkerboard_score([rgb, Image.fromarray(rgb)])
    assert len(batch) == 2 and np.allclose(batch.db, reference.db[0], atol=1e-4)


def test_rgba_drops_alpha_and_says_so() -> None:
    rgb = (np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full((64, 64, 1), 255, np.uint8)], axis=-1)
    with pytest.warns(UserWarning, match="alpha"):
        s = checkerboard_score(rgba)
    assert s.channel_db.shape == (1, 3)
    np.testing.assert_allclose(s.db, checkerboard_score(rgb).db, atol=1e-4)
    latents = np.random.default_rng(3).normal(size=(2, 4, 32, 32))  # channels first: kept
    assert checkerboard_score(latents).channel_db.shape == (2, 4)


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((3, 64, 4), {}, r"shape \(3, 64, 4\): pass layout='CHW' or layout='HWC'"),
        ((2, 3, 64, 3), {}, r"layout='NCHW' or layout='NHWC'"),
        ((64, 64), {"layout": "CHW"}, r"layout 'CHW' needs 3 axes, got shape \(64, 64\)"),
        ((64, 64), {"layout": "WH"}, "layout must be one of"),
    ],
)
def test_ambiguous_layouts_ask_for_one(shape: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message):
        checkerboard_score(np.zeros(shape), **kwargs)
    if shape == (3, 64, 4):  # named, the same shape is fine
        assert checkerboard_score(np.random.rand(*shape), layout="CHW").channel_db.shape == (1, 3)


def test_lists_of_different_shapes_are_refused() -> None:
    with pytest.raises(CheckerscopeError, match="share one shape"):
        checkerboard_score([np.zeros((32, 32)), np.zeros((32, 48))])


@settings(max_examples=20)
@given(st.sampled_from([(4096, 2), (2, 4096), (4096, 1), (3, 2, 4096), (3, 4096, 2)]))
def test_stereo_either_way_round(shape: tuple) -> None:
    signal = np.random.default_rng(0).normal(size=shape)
    s = checkerboard_score(signal, dims=1)
    channels = 2 if 2 in shape else 1
    assert s.channel_db.shape[-1] == channels and s.shape == (4096,)


# --------------------------------------------------------------------------- audio


def write_wav(path: Path, samples: np.ndarray, width: int, rate: int = 8000) -> None:
    """Interleaved integer PCM of a (T, C) float array in [-1, 1]."""
    scale = float(1 << (8 * width - 1)) - 1
    ints = np.round(samples * scale).astype(np.int64)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        as32 = (ints & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
        raw = as32.tobytes()
    else:
        raw = ints.astype("<i2" if width == 2 else "<i4").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(raw)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_samples_round_trip(tmp_path: Path, width: int) -> None:
    samples = np.random.default_rng(width).uniform(-0.9, 0.9, size=(500, 2))
    write_wav(tmp_path / "a.wav", samples, width)
    audio, rate = load_audio(tmp_path / "a.wav")
    assert rate == 8000 and audio.shape == (2, 500)
    np.testing.assert_allclose(audio.T, samples, atol=2.0 / (1 << (8 * width - 1)) + 1e-6)


def test_audio_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    (tmp_path / "song.flac").write_bytes(b"fLaC0000")
    for name, message in (
        ("empty.wav", "empty file"),
        ("junk.wav", "WAV"),
        ("missing.wav", "no such"),
    ):
        with pytest.raises(CheckerscopeError, match=message):
            load_audio(tmp_path / name)
    pytest.importorskip("soundfile", reason="the FLAC message is about soundfile being absent")


def test_cli_scores_a_vocoder_grid_in_a_wav(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(7)
    speech = np.cumsum(rng.normal(size=(16000, 2)), axis=0)
    speech = 0.5 * speech / np.abs(speech).max()
    write_wav(tmp_path / "clean.wav", speech, 2)
    write_wav(tmp_path / "grid.wav", speech + 0.02 * np.tile([1.0, -1.0], 8000)[:, None], 2)
    assert main(["score", str(tmp_path / "clean.wav"), str(tmp_path / "grid.wav"), "--json"]) == 0
    import json

    files = {Path(f["path"]).name: f for f in json.loads(capsys.readouterr().out)["files"]}
    assert files["grid.wav"]["kind"] == "audio" and files["grid.wav"]["channels"] == 2
    assert files["grid.wav"]["verdict"] == "grid" and files["clean.wav"]["verdict"] == "clean"
    assert files["grid.wav"]["significance"] > 5


def test_offgrid_search_reads_each_image_of_a_batch() -> None:
    rng = np.random.default_rng(9)
    cols = np.arange(128)[None, :]
    periods = (2.2, 3.0, 4.4)
    batch = np.stack(
        [
            0.5 + rng.normal(0, 0.02, (1, 128, 128)) + 0.05 * np.cos(2 * np.pi * cols / p)
            for p in periods
        ]
    )
    s = checkerboard_score(batch, offgrid=True, value_range=1.0)
    assert s.offgrid is not None and len(s.offgrid) == 3
    np.testing.assert_allclose(s.offgrid.period, periods, rtol=0.02)
    np.testing.assert_allclose(s.offgrid.resize_factor, [1.1, 0.75, 1.1], rtol=0.02)
    assert s.offgrid.original_period.tolist() == [2, 4, 4]
