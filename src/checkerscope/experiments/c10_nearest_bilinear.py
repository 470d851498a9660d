"""C10: nearest-neighbour resize-convolution keeps detail; bilinear resists high frequencies.

Two x4 upsamplers identical but for the resize inside their resize-convolutions (nearest
neighbour or bilinear) are trained to rebuild 64 x 64 patches of bundled photographs from
16 x 16 box-averaged inputs. On held-out patches we measure how much of the targets'
high-frequency energy each one restores (the fraction of spectral energy above half the
Nyquist frequency, as a ratio to the target's) and the PSNR. Bicubic interpolation of the
same inputs is shown as an untrained reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.data import downsample, photo_patches
from checkerscope.experiments.figures import PALETTE, Figure, sample_grid, save_figure
from checkerscope.experiments.training import (
    KIND_LABELS,
    high_frequency_fraction,
    psnr,
    resample_to,
    train_super_resolver,
)

CLAIM = Claim(
    id="C10",
    title="nearest keeps detail, bilinear blurs",
    article=(
        "Nearest-neighbour resize-convolution worked best; bilinear resize-convolution was "
        "harder to make work, possibly because it resists high-frequency image features too "
        "strongly."
    ),
    method=(
        "Two x4 upsamplers (3x3 conv, two x2 resize-conv layers) differing only in the "
        "resize (nearest or bilinear), trained to rebuild 64x64 photograph patches from "
        "16x16 box-averaged inputs (MSE, Adam). On held-out patches: HF ratio = fraction of "
        "spectral energy above half-Nyquist in the output over that fraction in the target "
        "(median over patches), and PSNR. Full mode: two seeds; quick: one, fewer steps."
    ),
    rule=(
        "With R = HF ratio and P = mean PSNR after training (median over seeds): agrees if "
        "R(nearest) > 1.1 * R(bilinear) and P(nearest) >= P(bilinear) - 0.2 dB; partly if "
        "R(nearest) > R(bilinear) but one of those two conditions fails; disagrees if "
        "R(nearest) <= R(bilinear)."
    ),
)

NOTES = {
    "hf_ratio": "per variant: median over held-out patches of HF fraction(output)/HF fraction "
    "(target), HF = energy above half-Nyquist; median over seeds",
    "hf_ratio_per_seed": "per variant, one value per seed",
    "psnr_db": "per variant: mean PSNR on held-out patches (dB), median over seeds",
    "band_power_ratio": "per variant: mean output power / mean target power in 8 radial bands",
    "target_hf_fraction": "median fraction of the targets' energy above half-Nyquist",
}

VARIANTS: tuple[str, ...] = ("resize", "bilinear")
BANDS = 8


@dataclass(frozen=True)
class Config:
    """Sizes of one run (quick, full, or the tests' tiny one)."""

    steps: int
    width: int
    batch_size: int
    seeds: int
    train_patches: int
    eval_patches: int
    patch: int = 64


QUICK = Config(steps=150, width=16, batch_size=16, seeds=1, train_patches=512, eval_patches=24)
FULL = Config(steps=800, width=24, batch_size=16, seeds=2, train_patches=2048, eval_patches=64)


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
    config: Config | None = None,
) -> ClaimResult:
    """Train nearest and bilinear resize-conv upsamplers and compare the detail they restore.

    Args:
        quick: the quick configuration instead of the full one.
        seed: base seed (``seed``, ``seed + 1``, ... in full mode).
        device: torch device for training.
        out_dir: folder for the figures.
        progress: progress receiver.
        config: overrides the quick/full configuration (tests use a tiny one).
    """
    started = time.perf_counter()
    config = config or (QUICK if quick else FULL)
    train_targets = photo_patches(config.train_patches, config.patch, seed=seed, split="train")
    eval_targets = photo_patches(config.eval_patches, config.patch, seed=seed, split="eval")
    target_hf = high_frequency_fraction(eval_targets)

    ratios: dict[str, list[float]] = {k: [] for k in VARIANTS}
    psnrs: dict[str, list[float]] = {k: [] for k in VARIANTS}
    outputs: dict[str, torch.Tensor] = {}
    jobs = [(kind, s) for s in range(config.seeds) for kind in VARIANTS]
    for done, (kind, offset) in enumerate(jobs):

        def report(fraction: float, done: int = done, kind: str = kind) -> None:
            if progress is not None:
                progress((done + fraction) / len(jobs), f"training {KIND_LABELS[kind]}")

        result = train_super_resolver(
            kind,
            train_targets,
            eval_targets,
            steps=config.steps,
            width=config.width,
            batch_size=config.batch_size,
            seed=seed + offset,
            device=device,
            progress=report,
        )
        out = result.final_outputs.clamp(0, 1)
        ratios[kind].append(float(np.median(high_frequency_fraction(out) / target_hf)))
        psnrs[kind].append(float(np.mean(psnr(out, eval_targets))))
        if offset == 0:
            outputs[kind] = out

    bicubic = resample_to(downsample(eval_targets, 4), config.patch).clamp(0, 1)
    outputs["bicubic"] = bicubic
    hf_ratio = {k: float(np.median(v)) for k, v in ratios.items()}
    psnr_db = {k: float(np.median(v)) for k, v in psnrs.items()}
    hf_ratio["bicubic"] = float(np.median(high_frequency_fraction(bicubic) / target_hf))
    psnr_db["bicubic"] = float(np.mean(psnr(bicubic, eval_targets)))
    bands = {k: _band_power_ratio(v, eval_targets).tolist() for k, v in outputs.items()}

    verdict = _verdict(hf_ratio, psnr_db)
    figures = [
        save_figure(_band_figure(bands, hf_ratio, psnr_db), out_dir, "c10_spectrum"),
        save_figure(_sample_figure(eval_targets, outputs), out_dir, "c10_samples"),
    ]
    summary = (
        f"Nearest resize-conv restores {hf_ratio['resize']:.2f} of the targets' share of energy "
        f"above half-Nyquist, bilinear {hf_ratio['bilinear']:.2f} (bicubic interpolation "
        f"{hf_ratio['bicubic']:.2f}); PSNR {psnr_db['resize']:.2f} vs {psnr_db['bilinear']:.2f} "
        "dB."
    )
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"HF ratio nearest {hf_ratio['resize']:.2f} vs bilinear "
                f"{hf_ratio['bilinear']:.2f}; PSNR {psnr_db['resize']:.2f} vs "
                f"{psnr_db['bilinear']:.2f} dB"
            ),
            "hf_ratio": hf_ratio,
            "hf_ratio_per_seed": ratios,
            "psnr_db": psnr_db,
            "psnr_per_seed": psnrs,
            "band_power_ratio": bands,
            "target_hf_fraction": float(np.median(target_hf)),
            "config": config.__dict__,
        },
        verdict=verdict,
        summary=summary,
        figures=figures,
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _verdict(hf_ratio: dict[str, float], psnr_db: dict[str, float]) -> str:
    nearest, bilinear = hf_ratio["resize"], hf_ratio["bilinear"]
    if nearest <= bilinear:
        return "disagrees"
    clearly_more = nearest > 1.1 * bilinear
    no_fidelity_cost = psnr_db["resize"] >= psnr_db["bilinear"] - 0.2
    return "agrees" if clearly_more and no_fidelity_cost else "partly"


def _band_power_ratio(outputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Mean output power over mean target power in :data:`BANDS` bands of max-norm frequency."""

    def band_power(images: torch.Tensor) -> np.ndarray:
        array = images.double() - images.double().mean(dim=(-2, -1), keepdim=True)
        power = torch.fft.fft2(array).abs().square().mean(dim=(0, 1))
        h, w = power.shape
        fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None] * 2
        fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :] * 2
        radius = torch.maximum(fy, fx)
        index = torch.clamp((radius * BANDS).ceil().long() - 1, 0, BANDS - 1)
        sums = torch.zeros(BANDS, dtype=torch.float64).index_add_(
            0, index[radius > 0], power[radius > 0]
        )
        return sums.numpy()

    return band_power(outputs) / np.maximum(band_power(targets), 1e-30)


def _band_figure(
    bands: dict[str, list[float]], hf_ratio: dict[str, float], psnr_db: dict[str, float]
) -> Figure:
    centres = (np.arange(BANDS) + 0.5) / BANDS
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.subplots()
    labels = {"resize": KIND_LABELS["resize"], "bilinear": KIND_LABELS["bilinear"]}
    labels["bicubic"] = "bicubic interpolation (untrained)"
    for i, (kind, values) in enumerate(bands.items()):
        style = "--" if kind == "bicubic" else "-"
        ax.plot(
            centres,
            values,
            style,
            marker="o",
            markersize=3,
            color=PALETTE[i % len(PALETTE)],
            label=f"{labels[kind]}: HF ratio {hf_ratio[kind]:.2f}, PSNR {psnr_db[kind]:.1f} dB",
        )
    ax.axhline(1.0, color="black", linewidth=0.6)
    ax.axvline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("frequency band (fraction of Nyquist, max over axes)")
    ax.set_ylabel("output power / target power")
    ax.set_title("C10: spectrum restored by x4 upsamplers (held-out patches)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _sample_figure(targets: torch.Tensor, outputs: dict[str, torch.Tensor]) -> Figure:
    rows: dict[str, list[torch.Tensor]] = {}
    named = [("target", targets), ("bicubic", outputs["bicubic"])]
    named += [(KIND_LABELS[k], outputs[k]) for k in VARIANTS]
    for name, images in named:
        row = []
        for i in range(min(3, targets.shape[0])):
            row += [images[i], images[i][:, 16:48, 16:48]]
        rows[name] = row
    return sample_grid(
        rows,
        title="C10: held-out patches upsampled x4 (whole | centre 32x32 close-up)",
        stretch=False,
        caption="Pixel values shown as they are (no contrast stretch), nearest-neighbour pixels.",
    )


def tiny_config() -> Config:
    """A configuration small enough for a unit test (seconds)."""
    return replace(QUICK, steps=6, width=4, train_patches=32, eval_patches=4)
