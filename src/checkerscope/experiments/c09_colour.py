"""C9: checkerboard artifacts are strongest where the output colour is far from the mean.

The article's explanation: a layer's bias makes the average colour for free, so the
further a colour lies from it the more the deconvolution itself must contribute, and the
more of its uneven overlap shows. To test it without confounding colour with texture,
every image here has the same texture contrast: photograph patches are recoloured to a
random mean colour with a fixed texture amplitude (:func:`~checkerscope.experiments.data.recolour`,
colours kept inside the cube so nothing clips). A x4 upsampler with k3 s2
deconvolutions (and, as a control, one with NN resize-convolutions) is trained on such
patches; on held-out patches the excess checkerboard score of its output is compared
with the distance of the patch's colour from the training set's mean colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from checkerscope.experiments.base import Claim, ClaimResult, Progress
from checkerscope.experiments.data import photo_patches, recolour
from checkerscope.experiments.figures import PALETTE, Figure, line_chart, sample_grid, save_figure
from checkerscope.experiments.training import (
    KIND_LABELS,
    checkpoint_steps,
    excess_db,
    rank_correlation,
    train_super_resolver,
)

CLAIM = Claim(
    id="C9",
    title="strong colours, strong artifacts",
    article=(
        "The checkerboard is most visible in strongly coloured images: the bias gives the "
        "average colour for free, and the further a colour is from it the more the "
        "deconvolution must contribute."
    ),
    method=(
        "Photograph patches recoloured to a mean colour at a random distance (uniform up to "
        "the cube's edge) in a random direction from grey inside [0.2, 0.8]^3, with a fixed "
        "texture amplitude (0.25 x the patch's deviations, so nothing clips); each held-out "
        "texture is shown at 6 distances. "
        "A x4 upsampler with k3 s2 deconvolutions (and a NN resize-conv control) is trained "
        "on them (MSE); on held-out recoloured patches, Spearman's rank correlation between "
        "the colour's distance from the training mean colour and the output's excess "
        "checkerboard score (period 2, output minus target)."
    ),
    rule=(
        "For the deconvolution model: agrees if the rank correlation is >= 0.5 (and the "
        "median excess of the farthest third exceeds that of the nearest third); partly if it "
        "is between 0.2 and 0.5; disagrees if it is below 0.2. The resize-conv control is "
        "reported, not judged."
    ),
)

NOTES = {
    "rank_correlation": "per model: Spearman rho between colour distance and excess score (p2)",
    "excess_by_distance": "per model: median excess (dB) in the nearest, middle and farthest "
    "third of colour distances",
    "within_texture_correlation": "per model: median over held-out textures of Spearman rho "
    "across the same texture's colour levels",
    "correlation_over_training": "per model: the same rho at checkpoints during training",
    "distance_terciles": "colour distance (RGB, 0-1 units) splitting the thirds",
    "clipped_fraction": "fraction of recoloured pixel values clipped to [0, 1] (should be ~0)",
}

MODELS: tuple[str, ...] = ("deconv3", "resize")
COLOUR_LOW, COLOUR_HIGH = 0.2, 0.8
CONTRAST = 0.25
#: Checkpoints (log-spaced, including the start and the end) at which rho is measured.
CHECKPOINTS = 5
#: Colour distances at which each held-out texture is shown.
LEVELS = 6


@dataclass(frozen=True)
class Config:
    """Sizes of one run (quick, full, or the tests' tiny one)."""

    steps: int
    width: int
    batch_size: int
    train_patches: int
    eval_patches: int
    patch: int = 64


QUICK = Config(steps=150, width=16, batch_size=16, train_patches=512, eval_patches=8 * LEVELS)
FULL = Config(steps=800, width=24, batch_size=16, train_patches=2048, eval_patches=32 * LEVELS)


def coloured_set(
    n: int, size: int, seed: int, split: str, levels: int = 0
) -> tuple[torch.Tensor, float]:
    """Recoloured photo patches and the fraction of values that had to be clipped.

    Each colour lies on a random direction from mid-grey, at a distance drawn uniformly
    between 0 and the edge of the ``[COLOUR_LOW, COLOUR_HIGH]`` cube along that direction,
    so distances are spread evenly rather than bunched as for colours drawn uniformly in
    the cube. With ``levels > 0`` each of ``n // levels`` patches is shown at ``levels``
    evenly spaced distances along its own direction (a paired design: the same texture at
    several colours).
    """
    generator = torch.Generator().manual_seed(seed + 7919)
    textures = n // levels if levels else n
    patches = photo_patches(textures, size, seed=seed, split=split)
    direction = torch.randn(textures, 3, generator=generator)
    direction = direction / direction.norm(dim=1, keepdim=True)
    half_width = (COLOUR_HIGH - COLOUR_LOW) / 2
    reach = (half_width / direction.abs().clamp_min(1e-6)).amin(dim=1)
    if levels:
        fractions = torch.linspace(0.0, 1.0, levels).repeat(textures)
        patches = patches.repeat_interleave(levels, dim=0)
        direction = direction.repeat_interleave(levels, dim=0)
        reach = reach.repeat_interleave(levels, dim=0)
    else:
        fractions = torch.rand(textures, generator=generator)
    colours = 0.5 + (fractions * reach)[:, None] * direction
    mean = patches.mean(dim=(2, 3), keepdim=True)
    raw = colours[:, :, None, None] + CONTRAST * (patches - mean)
    clipped = float(((raw < 0) | (raw > 1)).float().mean())
    return recolour(patches, colours, CONTRAST), clipped


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
    config: Config | None = None,
) -> ClaimResult:
    """Train on recoloured patches and relate artifact strength to colour distance.

    Args:
        quick: the quick configuration instead of the full one.
        seed: seed of data, weights and batches.
        device: torch device for training.
        out_dir: folder for the figures.
        progress: progress receiver.
        config: overrides the quick/full configuration (tests use a tiny one).
    """
    started = time.perf_counter()
    config = config or (QUICK if quick else FULL)
    train_set, clipped_train = coloured_set(config.train_patches, config.patch, seed, "train")
    eval_set, clipped_eval = coloured_set(
        config.eval_patches, config.patch, seed + 1, "eval", levels=LEVELS
    )
    mean_colour = train_set.mean(dim=(0, 2, 3))
    distance = (eval_set.mean(dim=(2, 3)) - mean_colour).norm(dim=1).numpy()
    terciles = np.percentile(distance, [100 / 3, 200 / 3])
    third = np.digitize(distance, terciles)

    correlations: dict[str, float] = {}
    within: dict[str, float] = {}
    over_training: dict[str, list[float]] = {}
    steps: list[int] = []
    by_distance: dict[str, list[float]] = {}
    excess: dict[str, np.ndarray] = {}
    outputs: dict[str, torch.Tensor] = {}
    for done, kind in enumerate(MODELS):

        def report(fraction: float, done: int = done, kind: str = kind) -> None:
            if progress is not None:
                progress((done + fraction) / len(MODELS), f"training {KIND_LABELS[kind]}")

        result = train_super_resolver(
            kind,
            train_set,
            eval_set,
            steps=config.steps,
            width=config.width,
            batch_size=config.batch_size,
            seed=seed,
            checkpoints=checkpoint_steps(config.steps, CHECKPOINTS),
            periods=(2,),
            device=device,
            progress=report,
        )
        steps = result.log.steps
        over_training[kind] = [
            rank_correlation(distance, c["excess_p2"]) for c in result.log.checkpoints
        ]
        outputs[kind] = result.final_outputs
        excess[kind] = excess_db(result.final_outputs, eval_set, 2)
        correlations[kind] = rank_correlation(distance, excess[kind])
        pairs = zip(distance.reshape(-1, LEVELS), excess[kind].reshape(-1, LEVELS), strict=True)
        within[kind] = float(np.median([rank_correlation(d, e) for d, e in pairs]))
        by_distance[kind] = [float(np.median(excess[kind][third == t])) for t in range(3)]

    rho = correlations["deconv3"]
    farther_worse = by_distance["deconv3"][2] > by_distance["deconv3"][0]
    if rho >= 0.5 and farther_worse:
        verdict = "agrees"
    elif rho >= 0.2:
        verdict = "partly"
    else:
        verdict = "disagrees"
    figures = [
        save_figure(_scatter_figure(distance, excess, correlations), out_dir, "c09_colour"),
        save_figure(_sample_figure(distance, eval_set, outputs["deconv3"]), out_dir, "c09_samples"),
        save_figure(_trend_figure(steps, over_training), out_dir, "c09_over_training"),
    ]
    near, _, far = by_distance["deconv3"]
    trend = "rises" if rho >= 0.2 else ("falls" if rho <= -0.2 else "hardly changes")
    summary = (
        f"After {config.steps} steps the k3 s2 deconvolution upsampler's excess checkerboard "
        f"score {trend} with the colour's distance from the mean colour (Spearman rho "
        f"{rho:.2f}; median {near:.1f} dB for the nearest third of colours, {far:.1f} dB for "
        f"the farthest; rho over training "
        + ", ".join(f"{r:.2f}" for r in over_training["deconv3"])
        + f" at steps {', '.join(map(str, steps))}); resize-conv control rho "
        f"{correlations['resize']:.2f}."
    )
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": f"rho(distance, excess) deconv {rho:.2f}, resize "
            f"{correlations['resize']:.2f}",
            "rank_correlation": correlations,
            "within_texture_correlation": within,
            "correlation_over_training": {"steps": steps, **over_training},
            "excess_by_distance": by_distance,
            "distance_terciles": [float(v) for v in terciles],
            "clipped_fraction": {"train": clipped_train, "eval": clipped_eval},
            "mean_colour": [float(v) for v in mean_colour],
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


def _scatter_figure(
    distance: np.ndarray, excess: dict[str, np.ndarray], correlations: dict[str, float]
) -> Figure:
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.subplots()
    for i, kind in enumerate(MODELS):
        ax.scatter(
            distance,
            excess[kind],
            s=10,
            color=PALETTE[i],
            alpha=0.7,
            linewidths=0,
            label=f"{KIND_LABELS[kind]} (Spearman rho {correlations[kind]:.2f})",
        )
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("distance of the image's mean colour from the training mean (RGB)")
    ax.set_ylabel("excess checkerboard score, period 2 (dB)")
    ax.set_title("C9: artifact strength vs colour (same texture contrast)", fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _trend_figure(steps: list[int], over_training: dict[str, list[float]]) -> Figure:
    fig = line_chart(
        [max(s, 1) for s in steps],
        {KIND_LABELS[k]: v for k, v in over_training.items()},
        xlabel="training step (log scale; step 0 drawn at 1)",
        ylabel="Spearman rho (colour distance, excess dB)",
        title="C9: how strongly artifact strength follows colour, during training",
        logx=True,
    )
    axes = fig.axes[0]
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axes.axhline(0.0, color="black", linewidth=0.6)
    axes.set_ylim(-1.05, 1.05)
    return fig


def _sample_figure(distance: np.ndarray, targets: torch.Tensor, outputs: torch.Tensor) -> Figure:
    """Nearest to farthest colours: target, deconv output, and the residual on one scale."""
    order = np.argsort(distance)
    picks = [int(order[i]) for i in np.linspace(0, len(order) - 1, 5).round().astype(int)]
    residual = outputs - targets
    scale = float(residual[picks].abs().amax()) or 1.0
    rows = {
        "target": [targets[i] for i in picks],
        "deconv k3s2 output": [outputs[i].clamp(0, 1) for i in picks],
        "residual (shared scale)": [(residual[i] / (2 * scale) + 0.5) for i in picks],
    }
    return sample_grid(
        rows,
        title="C9: colours from nearest (left) to farthest (right) from the mean colour",
        stretch=False,
        caption=(
            "Distances " + ", ".join(f"{distance[i]:.2f}" for i in picks) + ". Residual = "
            "output - target, mapped with one scale for all five (grey = 0); no contrast "
            "stretch anywhere."
        ),
    )


def tiny_config() -> Config:
    """A configuration small enough for a unit test (seconds)."""
    return replace(QUICK, steps=6, width=4, train_patches=32, eval_patches=9)
