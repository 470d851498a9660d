"""C12: max pooling puts a less organised kind of high-frequency noise into gradients.

Three small random convolutional networks that differ only in how they halve the
resolution (max pooling, average pooling, stride-2 convolution). The gradient of one
output channel with respect to the input is examined in two ways: how much of its energy
lies at high frequencies away from the period-2 harmonics (noise), and how strongly its
magnitude repeats with period 2 (organisation).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.figures import PALETTE, Figure, sample_grid, save_figure

if TYPE_CHECKING:  # pragma: no cover
    import torch

CLAIM = Claim(
    id="C12",
    title="max pooling: disorganised gradient noise",
    article=(
        "Besides the checkerboard of strided layers, image-model gradients carry a less "
        "organised high-frequency pattern, which the authors attribute to max pooling."
    ),
    method=(
        "Networks of three stages (3x3 conv, ReLU, then 2x down; 16, 32, 64 channels) where "
        "'down' is MaxPool2d(2), AvgPool2d(2) or the conv itself with stride 2 (k3 s2). "
        "Objective: the spatial mean of one channel of the last stage. For 12 seeds (3 quick) "
        "a fresh network and 12 inputs (6 quick; half photograph patches, half noise, 64x64). "
        "Per gradient: hf = fraction of the non-DC energy of the signed gradient at radial "
        "frequency >= 1/4 cycle per pixel, the three period-2 harmonic bins left out; org = "
        "checkerboard_score at period 2 of the gradient magnitude |d/dx| (dB). Medians over "
        "all gradients, leaving out all-zero ones (a channel no input activates; this "
        "exclusion was added after the first full run had scored them as 0 dB / 0)."
    ),
    rule=(
        "(A) max pooling adds high-frequency noise: hf(max) >= 1.5 x hf(avg); (B) it is less "
        "organised than the strided convolution's: org(max) <= org(strided) - 3 dB. agrees if "
        "A and B; partly if one of them; disagrees otherwise."
    ),
)

NOTES = {
    "variants": "per network: median hf fraction and median org score over all gradients",
    "hf_ratio_max_over_avg": "hf(max) / hf(avg); the rule asks >= 1.5",
    "dead_gradients": "per network: all-zero gradients left out (dead channel)",
    "org_gap_db": "org(strided) - org(max); the rule asks >= 3 dB",
    "radial_profiles": "per network: mean power of the gradient per radial frequency band "
    "(normalised to total 1), bands of width 1/64 cycle per pixel",
}

DOWN_KINDS = ("max pooling", "avg pooling", "strided conv")
HF_CUTOFF = 0.25


def build_network(down: str, channels: tuple[int, ...] = (16, 32, 64)) -> torch.nn.Module:
    """The three-stage network with the given way of halving the resolution."""
    from torch import nn

    layers: list[nn.Module] = []
    cin = 3
    for cout in channels:
        if down == "strided conv":
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU()]
        else:
            pool = nn.MaxPool2d(2) if down == "max pooling" else nn.AvgPool2d(2)
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), pool]
        cin = cout
    return nn.Sequential(*layers)


def _radius(height: int, width: int) -> np.ndarray:
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    return np.sqrt(fy**2 + fx**2)


def high_frequency_fraction(gradient: np.ndarray, cutoff: float = HF_CUTOFF) -> float:
    """Fraction of the non-DC energy at radial frequency >= ``cutoff`` (cycles per pixel),
    leaving out the period-2 harmonic bins ``(0, W/2)``, ``(H/2, 0)``, ``(H/2, W/2)``.

    Args:
        gradient: ``(C, H, W)`` or ``(H, W)``; channels are pooled.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> round(high_frequency_fraction(rng.normal(size=(64, 64))), 1)  # white: area share
        0.8
        >>> smooth = np.outer(np.hanning(64), np.hanning(64))
        >>> high_frequency_fraction(smooth) < 0.01
        True
    """
    x = np.asarray(gradient, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    height, width = x.shape[-2] - x.shape[-2] % 2, x.shape[-1] - x.shape[-1] % 2
    x = x[:, :height, :width]
    power = (np.abs(np.fft.fft2(x - x.mean(axis=(-2, -1), keepdims=True))) ** 2).sum(0)
    keep = np.ones_like(power, dtype=bool)
    for q, r in ((0, 0), (0, width // 2), (height // 2, 0), (height // 2, width // 2)):
        keep[q, r] = False
    total = power[keep].sum()
    if total <= 0:
        return 0.0
    return float(power[keep & (_radius(height, width) >= cutoff)].sum() / total)


def radial_profile(gradient: np.ndarray, bands: int = 46) -> np.ndarray:
    """Power per radial frequency band of width 1/64 cycle per pixel, normalised to sum 1."""
    x = np.asarray(gradient, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    power = (np.abs(np.fft.fft2(x - x.mean(axis=(-2, -1), keepdims=True))) ** 2).sum(0)
    index = np.minimum((_radius(*power.shape) * 64).astype(int), bands - 1)
    profile = np.bincount(index.ravel(), weights=power.ravel(), minlength=bands)
    counts = np.bincount(index.ravel(), minlength=bands)
    profile = profile / np.maximum(counts, 1)
    return profile / max(profile.sum(), 1e-300)


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C12."""
    import torch

    from checkerscope.experiments.c11_discriminator_gradients import input_batch
    from checkerscope.metrics import checkerboard_score

    started = time.perf_counter()
    n_seeds, n_inputs = (3, 6) if quick else (12, 12)
    seeds = [seed * 1000 + i for i in range(n_seeds)]
    hf: dict[str, list[float]] = {k: [] for k in DOWN_KINDS}
    org: dict[str, list[float]] = {k: [] for k in DOWN_KINDS}
    profiles: dict[str, list[np.ndarray]] = {k: [] for k in DOWN_KINDS}
    examples: dict[str, list[np.ndarray]] = {}
    dead: dict[str, int] = {k: 0 for k in DOWN_KINDS}
    steps, done = n_seeds * len(DOWN_KINDS), 0
    for model_seed in seeds:
        inputs = torch.from_numpy(input_batch(n_inputs, 64, seed=model_seed)).to(device)
        for kind in DOWN_KINDS:
            torch.manual_seed(model_seed)
            network = build_network(kind).to(device)
            x = inputs.clone().requires_grad_(True)
            channel = model_seed % 64
            network(x)[:, channel].mean(dim=(-2, -1)).sum().backward()
            gradients = x.grad.detach().double().cpu().numpy()
            # A channel that no input activates (dead ReLU) has an all-zero gradient:
            # no signal to judge, so it is left out and counted.
            alive = np.abs(gradients).reshape(n_inputs, -1).max(axis=1) > 0
            dead[kind] += int((~alive).sum())
            live = gradients[alive]
            if len(live):
                hf[kind].extend(high_frequency_fraction(g) for g in live)
                org[kind].extend(float(v) for v in checkerboard_score(np.abs(live)).db)
                profiles[kind].extend(radial_profile(g) for g in live)
            if kind not in examples and alive[0] and alive[n_inputs // 2]:
                g = gradients[n_inputs // 2].mean(0)  # a noise input
                examples[kind] = [gradients[0].mean(0), g, g[24:40, 24:40]]
            done += 1
            if progress is not None:
                progress(done / steps, f"seed {model_seed}, {kind}")

    hf_median = {k: float(np.median(v)) if v else float("nan") for k, v in hf.items()}
    org_median = {k: float(np.median(v)) if v else float("nan") for k, v in org.items()}
    ratio = hf_median["max pooling"] / max(hf_median["avg pooling"], 1e-12)
    gap = org_median["strided conv"] - org_median["max pooling"]
    a, b = ratio >= 1.5, gap >= 3.0
    verdict = "agrees" if a and b else ("partly" if a or b else "disagrees")
    summary = (
        f"High-frequency share of the gradient energy (>= {HF_CUTOFF} cycle/px, harmonics "
        f"left out): max pooling {hf_median['max pooling']:.2f}, avg pooling "
        f"{hf_median['avg pooling']:.2f}, strided conv {hf_median['strided conv']:.2f} "
        f"(max/avg = {ratio:.2f}). Period-2 organisation of |gradient|: max pooling "
        f"{org_median['max pooling']:.1f} dB, avg pooling {org_median['avg pooling']:.1f} dB, "
        f"strided conv {org_median['strided conv']:.1f} dB. All-zero gradients of dead "
        f"channels left out: {dead['max pooling']}, {dead['avg pooling']}, "
        f"{dead['strided conv']} of {n_seeds * n_inputs}."
    )
    mean_profiles = {k: np.mean(v, axis=0) for k, v in profiles.items() if v}
    figures = [
        save_figure(_spectrum_figure(mean_profiles), out_dir, "c12_gradient_spectra"),
        save_figure(
            sample_grid(
                examples,
                title="C12: gradient of one channel w.r.t. the input (channel mean)",
                caption="contrast-stretched; photo input, noise input, centre 16x16 of the "
                "noise input's gradient",
            ),
            out_dir,
            "c12_gradient_maps",
        ),
    ]
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"hf max/avg/strided {hf_median['max pooling']:.2f}/"
                f"{hf_median['avg pooling']:.2f}/{hf_median['strided conv']:.2f}; org "
                f"{org_median['max pooling']:.1f}/{org_median['avg pooling']:.1f}/"
                f"{org_median['strided conv']:.1f} dB"
            ),
            "variants": {
                k: {"hf_fraction": hf_median[k], "org_db": org_median[k]} for k in DOWN_KINDS
            },
            "dead_gradients": dead,
            "gradients_per_network": n_seeds * n_inputs,
            "hf_ratio_max_over_avg": ratio,
            "org_gap_db": gap,
            "seeds": seeds,
            "inputs_per_seed": n_inputs,
            "radial_profiles": {k: v.tolist() for k, v in mean_profiles.items()},
        },
        verdict=verdict,
        summary=summary,
        figures=figures,
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _spectrum_figure(profiles: dict[str, np.ndarray]) -> Figure:
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    for i, (kind, profile) in enumerate(profiles.items()):
        frequency = (np.arange(len(profile)) + 0.5) / 64
        # band 0 holds only DC (removed) and its nearest bins: start at band 1
        ax.semilogy(frequency[1:], profile[1:], color=PALETTE[i], linewidth=1.8, label=kind)
    ax.axvline(HF_CUTOFF, color="grey", linestyle="--", linewidth=1)
    ax.text(HF_CUTOFF, ax.get_ylim()[1], " high-frequency band", va="top", fontsize=8)
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("radial frequency (cycles per pixel); 0.5 = period 2")
    ax.set_ylabel("mean power per bin (normalised)")
    ax.set_title("C12: radially averaged spectrum of input gradients", fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
