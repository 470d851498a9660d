"""Validation of the checkerboard score against ground truth built from real photographs.

Random crops of scikit-image's bundled photographs (several sizes, RGB and gray, some
re-encoded as JPEG in memory) are scored as they are and with an injected zero-mean
periodic pattern of known amplitude, then written back to 8 bits as a generator's output
would be. The done-when bars of issue 3 are asserted on the result; ``python
tests/test_score_validation.py [N]`` prints the measured numbers for a larger set.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

from checkerscope.metrics import checkerboard_score

skimage_data = pytest.importorskip("skimage.data")
Image = pytest.importorskip("PIL.Image")

# Bundled with the scikit-image wheel (no download): photographs and scans of real scenes.
RGB_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
GRAY_PHOTOS = ("camera", "moon", "coins", "brick", "grass", "gravel", "clock", "page", "text")
SIZES = (64, 96, 128, 192, 256, 384, 512)
AMPLITUDES = (0.0025, 0.005, 0.01, 0.02, 0.04)  # fraction of the dynamic range [0, 1]


@cache
def photo(name: str) -> np.ndarray:
    """A bundled photograph as uint8 ``(H, W)`` or ``(H, W, 3)``."""
    return np.asarray(getattr(skimage_data, name)())


@dataclass(frozen=True)
class Case:
    """One base crop (float in [0, 1], ``(C, H, W)``) and how to draw its patterns."""

    name: str
    base: np.ndarray
    jpeg_quality: int | None
    pattern_seed: int


def random_crop(rng: np.random.Generator) -> Case:
    name = str(rng.choice(RGB_PHOTOS + GRAY_PHOTOS))
    image = photo(name)
    height = int(rng.choice([s for s in SIZES if s <= image.shape[0]]))
    width = int(rng.choice([s for s in SIZES if s <= image.shape[1]]))
    top = int(rng.integers(0, image.shape[0] - height + 1))
    left = int(rng.integers(0, image.shape[1] - width + 1))
    crop = image[top : top + height, left : left + width]
    if crop.ndim == 3 and rng.random() < 0.25:  # some colour photographs as gray
        crop = (crop.astype(np.float64) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)
    quality = None
    if rng.random() < 0.4:  # some crops went through JPEG before they reached us
        quality = int(rng.integers(60, 96))
        buffer = io.BytesIO()
        Image.fromarray(crop).save(buffer, format="JPEG", quality=quality)
        crop = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    base = crop.astype(np.float64) / 255.0
    base = base.transpose(2, 0, 1) if base.ndim == 3 else base[None]
    return Case(name, base, quality, int(rng.integers(2**31)))


def with_pattern(case: Case, amplitude: float, period: int) -> np.ndarray:
    """The crop plus a random zero-mean ``period`` x ``period`` tile, stored as 8 bits.

    The tile's largest absolute value is ``amplitude``; it is shared by all channels or
    drawn per channel (half the cases each). Clipping and 8-bit rounding follow, as for
    a generator's output saved to PNG.
    """
    rng = np.random.default_rng([case.pattern_seed, period])
    channels, height, width = case.base.shape
    shared = rng.random() < 0.5
    tile = rng.normal(size=(1 if shared else channels, period, period))
    tile -= tile.mean(axis=(-2, -1), keepdims=True)
    tile *= amplitude / np.abs(tile).max()
    reps = (1, -(-height // period), -(-width // period))
    pattern = np.tile(tile, reps)[:, :height, :width]
    return np.round(np.clip(case.base + pattern, 0.0, 1.0) * 255.0) / 255.0


def quantised(case: Case) -> np.ndarray:
    return np.round(case.base * 255.0) / 255.0


def roc_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half): the ROC AUC."""
    both = np.concatenate([negatives, positives])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for value in np.unique(both):  # average ranks of ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    positive_ranks = ranks[len(negatives) :].sum()
    n_pos, n_neg = len(positives), len(negatives)
    return float((positive_ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_roc_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(3)
    negatives, positives = rng.normal(size=40).round(1), rng.normal(1, size=30).round(1)
    pairs = positives[:, None] - negatives[None, :]
    expected = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    assert roc_auc(negatives, positives) == pytest.approx(expected)


@dataclass(frozen=True)
class Measured:
    clean: np.ndarray
    by_amplitude: dict[float, np.ndarray]
    clean_period4: np.ndarray
    period4: np.ndarray
    auto_periods: list[tuple[int, ...]]
    cases: list[Case]


def measure(n_cases: int, seed: int = 2016) -> Measured:
    rng = np.random.default_rng(seed)
    cases = [random_crop(rng) for _ in range(n_cases)]
    clean = np.array([float(checkerboard_score(quantised(c))) for c in cases])
    by_amplitude = {
        a: np.array([float(checkerboard_score(with_pattern(c, a, 2))) for c in cases])
        for a in AMPLITUDES
    }
    clean_period4 = np.array([float(checkerboard_score(quantised(c), period=4)) for c in cases])
    period4 = np.array(
        [float(checkerboard_score(with_pattern(c, 0.02, 4), period=4)) for c in cases]
    )
    auto_periods = [
        checkerboard_score(with_pattern(c, 0.02, 2), period="auto").period for c in cases
    ]
    return Measured(clean, by_amplitude, clean_period4, period4, auto_periods, cases)


@pytest.fixture(scope="module")
def measured() -> Measured:
    return measure(n_cases=240)


def test_clean_crops_score_near_zero(measured: Measured) -> None:
    assert abs(np.median(measured.clean)) <= 6.0
    assert np.percentile(measured.clean, 95) < 12.0


def test_faint_grids_are_separated_from_clean_crops(measured: Measured) -> None:
    assert roc_auc(measured.clean, measured.by_amplitude[0.01]) >= 0.97
    assert roc_auc(measured.clean, measured.by_amplitude[0.02]) >= 0.99


def test_scores_rise_with_amplitude(measured: Measured) -> None:
    medians = [np.median(measured.clean)] + [
        np.median(measured.by_amplitude[a]) for a in AMPLITUDES
    ]
    assert np.all(np.diff(medians) > 0), medians


def test_period4_grids_are_separated(measured: Measured) -> None:
    assert roc_auc(measured.clean_period4, measured.period4) >= 0.95


def test_auto_finds_the_injected_period(measured: Measured) -> None:
    found = np.mean([period == (2, 2) for period in measured.auto_periods])
    assert found >= 0.95


def report(n_cases: int) -> None:
    m = measure(n_cases)
    print(
        f"{n_cases} crops; clean: median {np.median(m.clean):+.2f} dB, "
        f"p95 {np.percentile(m.clean, 95):+.2f} dB"
    )
    for a in AMPLITUDES:
        scores = m.by_amplitude[a]
        print(
            f"amplitude {a:.2%}: median {np.median(scores):+6.2f} dB, "
            f"AUC {roc_auc(m.clean, scores):.4f}"
        )
    print(
        f"period 4 at 2%: AUC {roc_auc(m.clean_period4, m.period4):.4f} "
        f"(clean median {np.median(m.clean_period4):+.2f}, grid median {np.median(m.period4):+.2f})"
    )
    found = np.mean([p == (2, 2) for p in m.auto_periods])
    print(f"auto finds period 2 at 2%: {found:.1%}")
    worst = np.argsort(m.clean)[-8:]
    for i in worst:
        c = m.cases[i]
        print(
            f"  clean outlier {m.clean[i]:+6.2f} dB  {c.name} {c.base.shape} jpeg={c.jpeg_quality}"
            f"  1%: {m.by_amplitude[0.01][i]:+.2f}"
        )
    weakest = np.argsort(m.by_amplitude[0.01])[:8]
    for i in weakest:
        c = m.cases[i]
        print(
            f"  weak 1%      {m.by_amplitude[0.01][i]:+6.2f} dB  {c.name} {c.base.shape} "
            f"jpeg={c.jpeg_quality}  clean {m.clean[i]:+.2f}"
        )
    for i, p in enumerate(m.auto_periods):
        if p != (2, 2):
            c = m.cases[i]
            print(f"  auto miss {p} {c.name} {c.base.shape} jpeg={c.jpeg_quality}")


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    report(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
