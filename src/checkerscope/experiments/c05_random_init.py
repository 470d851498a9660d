"""C5: a generator shows its checkerboard before any training; the periods follow its deconvs.

Three DCGAN generators (64x64, ``checkerscope.zoo.dcgan_generator``) that differ only
in their four 2x stages: uneven deconvolutions (``ConvTranspose2d(k3, s2)``) in the last
two stages, in the last stage only, or nearest-resize + convolution throughout. Each is
built from fresh random weights for many seeds and fed random latents; the outputs are
scored at period 2 and, separately, at the period-4 frequencies that period 2 does not
explain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.figures import bar_chart, heatmaps, sample_grid, save_figure
from checkerscope.metrics.null import median_weights

CLAIM = Claim(
    id="C5",
    title="artifacts at random initialisation",
    article=(
        "The artifacts are visible before any training: a generator with deconvolutions in its "
        "last two layers shows artifacts of frequencies 2 and 4, one with a deconvolution in the "
        "last layer only shows frequency 2, and one using resize-convolution throughout shows "
        "none."
    ),
    method=(
        "DCGAN generators for 64x64 RGB (z 100, width 64, BatchNorm in training mode as at the "
        "first step of training) whose four 2x stages are [resize, resize, deconv, deconv], "
        "[resize, resize, resize, deconv] and [resize x4]; deconv = ConvTranspose2d(k3, s2, "
        "p1, output_padding 1), resize = nearest 2x + 3x3 conv. 16 seeds (4 in quick mode), "
        "one fresh model and 8 latents per seed. Per image: s2 = checkerboard_score at period 2 "
        "(dB); s4only = the same kind of score restricted to the 12 period-4 harmonic bins "
        "(k H/4, l W/4) with k or l odd, i.e. the period-4 energy that a period-2 pattern "
        "cannot produce (expected energy: median of 24 neighbouring bins of the same kind, "
        "calibrated so that a grid-free spectrum scores 0 dB). Per seed the median over its "
        "images; per generator the median over seeds."
    ),
    rule=(
        "A period counts as present when the generator's median score is >= 6 dB and absent "
        "when it is < 3 dB. agrees if 'last two deconv' has both period 2 and period 4 present, "
        "'last deconv' has period 2 present and period 4 absent, and 'resize-conv' has both "
        "absent; partly if period 2 is present for both deconv generators and absent for "
        "resize-conv but a period-4 condition fails; disagrees otherwise."
    ),
)

NOTES = {
    "generators": "per generator: median over seeds of s2 and s4only (dB), per-seed values",
    "s2_db": "energy at the period-2 frequencies over the energy expected there, in dB",
    "s4only_db": "energy at the period-4 frequencies that are not period-2 ones, in dB",
    "present_db": "a median at or above this is 'present'",
    "absent_db": "a median below this is 'absent'",
}

PRESENT_DB = 6.0
ABSENT_DB = 3.0

#: name -> (upsampling kind of the four 2x stages, periods the article's caption names)
GENERATORS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "last two deconv": (("resize", "resize", "deconv3", "deconv3"), (2, 4)),
    "last deconv": (("resize", "resize", "resize", "deconv3"), (2,)),
    "resize-conv": (("resize", "resize", "resize", "resize"), ()),
}


def _neighbour_bins(
    q: int,
    r: int,
    height: int,
    width: int,
    is_harmonic: Callable[[int, int], bool],
    count: int = 24,
) -> list[tuple[int, int]]:
    """The ``count`` nearest non-harmonic bins of the same kind (on an axis or off it)."""
    found: list[tuple[float, int, int]] = []
    if q == 0 or r == 0:
        length = width if q == 0 else height
        position = r if q == 0 else q
        for step in range(1, length):
            for sign in (1, -1):
                k = (position + sign * step) % length
                candidate = (0, k) if q == 0 else (k, 0)
                if k != 0 and not is_harmonic(*candidate):
                    found.append((step, *candidate))
            if len(found) >= count:
                break
    else:
        radius = 3
        while True:
            found = []
            for dq in range(-radius, radius + 1):
                for dr in range(-radius, radius + 1):
                    qq, rr = (q + dq) % height, (r + dr) % width
                    if qq and rr and (dq or dr) and not is_harmonic(qq, rr):
                        found.append((float(np.hypot(dq, dr)), qq, rr))
            if len(found) >= count or radius > max(height, width):
                break
            radius *= 2
        found = sorted(set(found))
    found.sort()
    return [(qq, rr) for _, qq, rr in found[:count]]


def harmonic_score_db(images: np.ndarray, period: int, exclude: int | None = None) -> np.ndarray:
    """Energy at the harmonics of ``period`` (not those of ``exclude``) over its expectation, dB.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)``; cropped to a multiple of ``period``
            from the top-left corner.
        period: the grid period ``p``; the harmonic bins are ``(k H/p, l W/p)`` but DC.
        exclude: leave out the bins that are also harmonics of this period (it must divide
            ``period``); ``exclude=2`` with ``period=4`` keeps the 12 bins a period-2
            pattern cannot reach.

    Returns:
        One score per image: ``10 log10(sum of energy at the bins / sum of expected
        energy)``, channels pooled. The expected energy of a bin is the median energy of
        24 neighbouring bins of the same kind (on a frequency axis: along that axis; off
        the axes: the nearest off-axis bins), divided by the median of a unit exponential
        variable, so a grid-free, locally flat spectrum scores about 0 dB.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> noise = rng.normal(size=(4, 1, 64, 64))
        >>> bool(abs(np.median(harmonic_score_db(noise, 4, exclude=2))) < 2)
        True
        >>> tile = np.zeros((4, 4)); tile[0, 0] = 1.0
        >>> grid4 = noise + np.tile(tile, (16, 16))
        >>> bool(np.all(harmonic_score_db(grid4, 4, exclude=2) > 10))
        True
        >>> grid2 = noise + np.tile([[1.0, -1.0], [-1.0, 1.0]], (32, 32))
        >>> bool(np.all(harmonic_score_db(grid2, 4, exclude=2) < 3))
        True
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    height = x.shape[-2] - x.shape[-2] % period
    width = x.shape[-1] - x.shape[-1] % period
    x = x[..., :height, :width]
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(x)) ** 2
    step_h, step_w = height // period, width // period

    def is_harmonic(q: int, r: int) -> bool:
        return q % step_h == 0 and r % step_w == 0

    ratio = period // exclude if exclude else None
    harmonic_sum = np.zeros(x.shape[:2])
    expected_sum = np.zeros(x.shape[:2])
    scale = sum(median_weights(24))  # expected median of 24 unit exponentials
    for a in range(period):
        for b in range(period):
            if (a, b) == (0, 0) or (ratio and a % ratio == 0 and b % ratio == 0):
                continue
            q, r = a * step_h, b * step_w
            neighbours = _neighbour_bins(q, r, height, width, is_harmonic)
            rows = [n[0] for n in neighbours]
            cols = [n[1] for n in neighbours]
            harmonic_sum += power[..., q, r]
            expected_sum += np.median(power[..., rows, cols], axis=-1) / scale
    floor = 1e-12 * (power.mean(axis=(-2, -1)) + 1e-30)
    return 10.0 * np.log10((harmonic_sum + floor).sum(-1) / (expected_sum + floor).sum(-1))


def _generate(kinds: Sequence[str], seed: int, batch: int, device: str) -> np.ndarray:
    import torch

    from checkerscope.zoo import dcgan_generator

    torch.manual_seed(seed)
    model = dcgan_generator(image_size=64, z_dim=100, width=64, channels=3, upsample=list(kinds))
    model = model.to(device).train()  # BatchNorm on batch statistics, as at the first step
    z = torch.randn(batch, 100, 1, 1, device=device)
    with torch.no_grad():
        return model(z).double().cpu().numpy()


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C5."""
    from checkerscope.metrics import checkerboard_score

    started = time.perf_counter()
    n_seeds, batch = (4, 4) if quick else (16, 8)
    seeds = [seed * 1000 + i for i in range(n_seeds)]
    results: dict[str, dict] = {}
    samples: dict[str, list[np.ndarray]] = {}
    fingerprints: dict[str, np.ndarray] = {}
    steps, done = len(GENERATORS) * n_seeds, 0
    for name, (kinds, _) in GENERATORS.items():
        s2_per_seed, s4_per_seed, fp4 = [], [], []
        for model_seed in seeds:
            images = _generate(kinds, model_seed, batch, device)
            s2_per_seed.append(float(np.median(checkerboard_score(images, period=2).db)))
            s4_per_seed.append(float(np.median(harmonic_score_db(images, 4, exclude=2))))
            fp4.append(checkerboard_score(images[:1], period=4).fingerprint[0] / images[0].std())
            if model_seed == seeds[0]:
                samples[name] = [images[i] for i in range(4)]
            done += 1
            if progress is not None:
                progress(done / steps, f"{name}, seed {model_seed}")
        fingerprints[f"{name} (seed {seeds[0]})"] = fp4[0]
        results[name] = {
            "stages": list(kinds),
            "s2_db": float(np.median(s2_per_seed)),
            "s4only_db": float(np.median(s4_per_seed)),
            "s2_db_per_seed": s2_per_seed,
            "s4only_db_per_seed": s4_per_seed,
        }

    def present(value: float) -> bool:
        return value >= PRESENT_DB

    def absent(value: float) -> bool:
        return value < ABSENT_DB

    both, last, resize = (results[n] for n in GENERATORS)
    period2_ok = present(both["s2_db"]) and present(last["s2_db"]) and absent(resize["s2_db"])
    period4_ok = (
        present(both["s4only_db"]) and absent(last["s4only_db"]) and absent(resize["s4only_db"])
    )
    if period2_ok and period4_ok:
        verdict: Verdict = "agrees"
    elif period2_ok:
        verdict = "partly"
    else:
        verdict = "disagrees"
    found = {
        name: [p for p, key in ((2, "s2_db"), (4, "s4only_db")) if present(r[key])]
        for name, r in results.items()
    }
    summary = (
        "Median over {n} seeds, period 2 / period-4-only: last two deconv {a:.1f} / {b:.1f} dB, "
        "last deconv {c:.1f} / {d:.1f} dB, resize-conv {e:.1f} / {f:.1f} dB. Periods found: "
        "{fa}, {fb}, {fc} (the captions: 2 and 4; 2; none)."
    ).format(
        n=n_seeds,
        a=both["s2_db"],
        b=both["s4only_db"],
        c=last["s2_db"],
        d=last["s4only_db"],
        e=resize["s2_db"],
        f=resize["s4only_db"],
        fa=_periods_text(found["last two deconv"]),
        fb=_periods_text(found["last deconv"]),
        fc=_periods_text(found["resize-conv"]),
    )
    figures = _figures(results, samples, fingerprints, out_dir)
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"s2/s4only dB: {both['s2_db']:.1f}/{both['s4only_db']:.1f}, "
                f"{last['s2_db']:.1f}/{last['s4only_db']:.1f}, "
                f"{resize['s2_db']:.1f}/{resize['s4only_db']:.1f}"
            ),
            "generators": results,
            "periods_found": found,
            "seeds": seeds,
            "images_per_seed": batch,
            "present_db": PRESENT_DB,
            "absent_db": ABSENT_DB,
        },
        verdict=verdict,
        summary=summary,
        figures=figures,
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _periods_text(periods: list[int]) -> str:
    return " and ".join(str(p) for p in periods) if periods else "none"


def _figures(
    results: dict[str, dict],
    samples: dict[str, list[np.ndarray]],
    fingerprints: dict[str, np.ndarray],
    out_dir: Path,
) -> list[Path]:
    paths = [
        save_figure(
            sample_grid(
                samples,
                title="C5: generator outputs at random initialisation (no training)",
                caption="each image contrast-stretched (1st-99th percentile); 64x64 px",
            ),
            out_dir,
            "c05_samples",
        ),
        save_figure(
            sample_grid(
                samples,
                zoom=16,
                title="C5: the same outputs, central 16x16 pixels enlarged",
                caption=(
                    "contrast-stretched; the deconv generators' outputs repeat every 2 "
                    "(top row: and 4) pixels"
                ),
            ),
            out_dir,
            "c05_samples_zoom",
        ),
    ]
    groups = {}
    for name, r in results.items():
        groups[f"{name}\nperiod 2"] = r["s2_db_per_seed"]
        groups[f"{name}\nperiod 4 only"] = r["s4only_db_per_seed"]
    paths.append(
        save_figure(
            bar_chart(
                groups,
                ylabel="score (dB), dots = seeds",
                title="C5: grid energy at random init (bars: median over seeds)",
                threshold=PRESENT_DB,
                threshold_label=f"'present' at {PRESENT_DB:g} dB",
                statistic="median",
            ),
            out_dir,
            "c05_scores",
        )
    )
    paths.append(
        save_figure(
            heatmaps(
                fingerprints,
                title=(
                    "C5: period-4 fingerprint of one output: mean per 4x4 phase, "
                    "in units of the image's standard deviation"
                ),
                annotate=True,
                cmap="RdBu_r",
                shared_scale=True,
            ),
            out_dir,
            "c05_fingerprints",
        )
    )
    return paths
