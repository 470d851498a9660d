"""C6: trained deconvolutions keep (or learn) the checkerboard; resize-convolution does not.

Four x4 upsamplers (16 x 16 -> 64 x 64, two x2 layers, the second writing the RGB image)
differ only in their upsampling layer: uneven deconvolution (k3 s2), even deconvolution
(k4 s2), nearest-neighbour resize-convolution and ICNR sub-pixel convolution. Each learns
to rebuild 64 x 64 patches of scikit-image's bundled photographs from their 4 x 4
box-averaged versions (mean squared error, Adam). At checkpoints during training the
outputs for patches of a held-out photograph are scored with
:func:`checkerscope.checkerboard_score` at periods 2 and 4 and compared with the score of
the targets themselves: a model that reproduces natural images scores what they score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.data import photo_patches
from checkerscope.experiments.figures import (
    contrast_stretch,
    line_chart,
    sample_grid,
    save_figure,
    to_display,
)
from checkerscope.experiments.training import (
    KIND_LABELS,
    checkpoint_steps,
    score_db,
    train_super_resolver,
)

CLAIM = Claim(
    id="C6",
    title="learned weights keep the pattern",
    article=(
        "Networks do not learn to cancel the uneven overlap of a k3 s2 deconvolution; even a "
        "k4 s2 deconvolution (even overlap) often learns kernels that make similar, milder "
        "artifacts; resize-convolution does not make them."
    ),
    method=(
        "Four x4 upsamplers (3x3 conv, then two x2 layers of one kind, the last writing RGB) "
        "trained to rebuild 64x64 patches of bundled photographs from 16x16 box-averaged "
        "inputs (MSE, Adam). Held-out patches of another photograph are upsampled at "
        "checkpoints; 'excess' = checkerboard score of the output minus that of its target, "
        "median over patches, at periods 2 and 4 (the two-stage period). Full mode: two "
        "seeds; quick mode: one seed and fewer steps."
    ),
    rule=(
        "With excess = max over periods 2 and 4 of the median excess after training (median "
        "over seeds): agrees if excess(deconv k3s2) >= 3 dB, 1 dB <= excess(deconv k4s2) <= "
        "excess(deconv k3s2), and excess(NN resize-conv) < 1 dB; partly if resize-conv < 1 dB "
        "and exactly one of the two deconvolution conditions holds; disagrees otherwise. "
        "Sub-pixel (ICNR) is reported, not judged."
    ),
)

NOTES = {
    "excess_db": "per variant: max over periods 2, 4 of the final median excess (dB), per seed",
    "final_excess_db": "per variant: the judged value (median over seeds)",
    "curves": "per variant and period: checkpoint steps and median excess (dB) at each",
    "target_db": "median checkerboard score of the held-out target patches, periods 2 and 4",
    "eval_mse": "per variant: final mean squared error on the held-out patches",
    "seeds_with_artifacts": "per variant: seeds whose final excess is >= 1 dB",
}

VARIANTS: tuple[str, ...] = ("deconv3", "deconv4", "resize", "subpixel")
PERIODS: tuple[int, ...] = (2, 4)


@dataclass(frozen=True)
class Config:
    """Sizes of one run (quick, full, or the tests' tiny one)."""

    steps: int
    width: int
    batch_size: int
    seeds: int
    train_patches: int
    eval_patches: int
    checkpoints: int
    patch: int = 64


QUICK = Config(
    steps=150, width=16, batch_size=16, seeds=1, train_patches=512, eval_patches=24, checkpoints=5
)
FULL = Config(
    steps=800,
    width=24,
    batch_size=16,
    seeds=2,
    train_patches=2048,
    eval_patches=64,
    checkpoints=8,
)


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
    config: Config | None = None,
) -> ClaimResult:
    """Train the four upsamplers, score their outputs over training, judge C6.

    Args:
        quick: the quick configuration (one seed, 150 steps) instead of the full one.
        seed: base seed (seeds ``seed``, ``seed + 1``, ... in full mode).
        device: torch device for training.
        out_dir: folder for the figures.
        progress: progress receiver.
        config: overrides the quick/full configuration (tests use a tiny one).
    """
    started = time.perf_counter()
    config = config or (QUICK if quick else FULL)
    train_targets = photo_patches(config.train_patches, config.patch, seed=seed, split="train")
    eval_targets = photo_patches(config.eval_patches, config.patch, seed=seed, split="eval")
    target_db = {f"p{p}": float(np.median(score_db(eval_targets, p))) for p in PERIODS}
    steps = checkpoint_steps(config.steps, config.checkpoints)

    per_seed: dict[str, list[float]] = {k: [] for k in VARIANTS}
    curves: dict[str, dict[str, list[float]]] = {k: {} for k in VARIANTS}
    mse: dict[str, float] = {}
    samples: dict[str, torch.Tensor] = {}
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
            checkpoints=steps,
            periods=PERIODS,
            device=device,
            progress=report,
        )
        final = result.log.checkpoints[-1]
        per_seed[kind].append(max(float(np.median(final[f"excess_p{p}"])) for p in PERIODS))
        if offset == 0:
            for p in PERIODS:
                curves[kind][f"p{p}"] = [
                    float(np.median(c[f"excess_p{p}"])) for c in result.log.checkpoints
                ]
            mse[kind] = final["mse"]
            samples[kind] = result.final_outputs

    final_excess = {k: float(np.median(v)) for k, v in per_seed.items()}
    verdict = _verdict(final_excess)
    figures = [
        save_figure(_curve_figure(steps, curves, 2), out_dir, "c06_scores_period2"),
        save_figure(_curve_figure(steps, curves, 4), out_dir, "c06_scores_period4"),
        save_figure(_sample_figure(eval_targets, samples), out_dir, "c06_samples"),
    ]
    summary = (
        f"After {config.steps} steps the excess checkerboard score over the targets is "
        f"{final_excess['deconv3']:.1f} dB for deconv k3s2, {final_excess['deconv4']:.1f} dB "
        f"for deconv k4s2, {final_excess['resize']:.1f} dB for NN resize-conv and "
        f"{final_excess['subpixel']:.1f} dB for ICNR sub-pixel (median over held-out patches"
        f"{' and seeds' if config.seeds > 1 else ''})."
    )
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": ", ".join(f"{k} {v:+.1f} dB" for k, v in final_excess.items()),
            "final_excess_db": final_excess,
            "excess_db": per_seed,
            "seeds_with_artifacts": {k: int(sum(v >= 1.0 for v in per_seed[k])) for k in VARIANTS},
            "curves": {"steps": steps, **curves},
            "target_db": target_db,
            "eval_mse": mse,
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


def _verdict(excess: dict[str, float]) -> Verdict:
    uneven_keeps = excess["deconv3"] >= 3.0
    even_learns_milder = 1.0 <= excess["deconv4"] <= excess["deconv3"]
    resize_clean = excess["resize"] < 1.0
    if uneven_keeps and even_learns_milder and resize_clean:
        return "agrees"
    if resize_clean and (uneven_keeps != even_learns_milder):
        return "partly"
    return "disagrees"


def _curve_figure(steps: list[int], curves: dict[str, dict[str, list[float]]], period: int):
    series = {KIND_LABELS[k]: curves[k][f"p{period}"] for k in VARIANTS}
    fig = line_chart(
        [max(s, 1) for s in steps],
        series,
        xlabel="training step (log scale; step 0 drawn at 1)",
        ylabel=f"excess score over target, period {period} (dB)",
        title=f"C6: checkerboard score of trained upsamplers, period {period}",
        logx=True,
    )
    fig.axes[0].axhline(0.0, color="black", linewidth=0.6)
    return fig


def _sample_figure(targets: torch.Tensor, outputs: dict[str, torch.Tensor]):
    """Three held-out patches: the whole output, then a contrast-stretched close-up."""
    picks = [0, 1, 2][: targets.shape[0]]
    rows: dict[str, list[np.ndarray]] = {}
    named = [("target", targets)] + [(KIND_LABELS[k], outputs[k]) for k in VARIANTS]
    for name, images in named:
        row = []
        for i in picks:
            whole = to_display(images[i].clamp(0, 1))
            # One stretch for all three channels keeps the hues; faint grids become visible.
            row += [whole, contrast_stretch(whole[24:40, 24:40])]
        rows[name] = row
    return sample_grid(
        rows,
        title="C6: held-out patches upsampled x4 after training (output | close-up)",
        stretch=False,
        caption=(
            "Outputs as they are. Close-ups: the centre 16x16 pixels, contrast-stretched "
            "(1st-99th percentile, same for the three channels), nearest-neighbour pixels."
        ),
    )


def tiny_config() -> Config:
    """A configuration small enough for a unit test (seconds)."""
    return replace(QUICK, steps=6, width=4, train_patches=32, eval_patches=4, checkpoints=3)
