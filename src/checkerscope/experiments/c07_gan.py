"""C7: a trained GAN generator keeps the artifacts with deconvolution, not with resize-conv.

Short DCGAN trainings on the CPU (32 x 32 images) on two offline datasets: patches of
scikit-image's bundled photographs and a generated set of strongly coloured shapes. The
two generators are :func:`checkerscope.zoo.dcgan_generator` with DCGAN's k4 s2
deconvolutions or with nearest-neighbour resize-convolutions in all three x2 stages; the
discriminator is the zoo's DCGAN discriminator. A GAN does not converge in minutes; what is
measured is the checkerboard score of a fixed set of samples at checkpoints during
training, compared with the score of real images of the same dataset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.data import coloured_shapes, photo_patches
from checkerscope.experiments.figures import line_chart, sample_grid, save_figure
from checkerscope.experiments.training import checkpoint_steps, score_db

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLAIM = Claim(
    id="C7",
    title="GAN samples keep the grid",
    article=(
        "Generators built with deconvolution produce checkerboard artifacts (already at "
        "initialisation, and they persist through training); switching to nearest-neighbour "
        "resize-convolution makes them disappear, before and after training."
    ),
    method=(
        "DCGAN (zoo.dcgan_generator / dcgan_discriminator, 32x32, three x2 stages) trained "
        "briefly (non-saturating loss, Adam 6e-4 with beta1 0.5, the DCGAN paper's N(0, 0.02) "
        "initialisation) on photo patches and on generated coloured shapes; generator with "
        "k4 s2 deconvolutions vs NN resize-conv. At checkpoints, 64 samples from fixed "
        "latents are scored at periods 2 and 8 (the three-stage period); excess = median "
        "sample score minus median score of 64 real images."
    ),
    rule=(
        "With excess = max over periods 2 and 8 of the excess after training: agrees if on "
        "both datasets excess(deconv) >= 3 dB and excess(resize-conv) < 1 dB; partly if that "
        "holds on exactly one dataset; disagrees otherwise."
    ),
)

NOTES = {
    "final_excess_db": "per dataset and generator: max over periods 2, 8 of the final excess",
    "curves": "per dataset, generator and period: median sample score minus real (dB) per step",
    "real_db": "per dataset: median checkerboard score of 64 real images, periods 2 and 8",
    "final_losses": "per dataset and generator: discriminator and generator loss, last step",
}

DATASETS: tuple[str, ...] = ("shapes", "photos")
GENERATORS: tuple[str, ...] = ("deconv4", "resize")
LABELS = {"deconv4": "deconv k4 s2 (DCGAN)", "resize": "NN resize-conv"}
PERIODS: tuple[int, ...] = (2, 8)
IMAGE_SIZE = 32


@dataclass(frozen=True)
class Config:
    """Sizes of one run (quick, full, or the tests' tiny one)."""

    steps: int
    width: int
    batch_size: int
    z_dim: int
    train_images: int
    samples: int
    checkpoints: int
    lr: float = 6e-4


QUICK = Config(
    steps=200, width=12, batch_size=16, z_dim=64, train_images=512, samples=64, checkpoints=5
)
FULL = Config(
    steps=800, width=16, batch_size=32, z_dim=64, train_images=4096, samples=64, checkpoints=8
)


def dataset(name: str, n: int, seed: int) -> torch.Tensor:
    """The training images of a dataset, (n, 3, 32, 32) in [0, 1]."""
    if name == "shapes":
        return coloured_shapes(n, IMAGE_SIZE, seed=seed)
    return photo_patches(n, IMAGE_SIZE, seed=seed, split="train", shrink=4)


def dcgan_init(module: torch.nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02).

    PyTorch's default (Kaiming-uniform) weights make DCGAN train far more slowly in the
    few hundred steps a CPU run affords; the paper's initialisation is part of its recipe.
    """
    if (
        isinstance(module, torch.nn.modules.conv._ConvNd)
        or hasattr(module, "weight")
        and (type(module).__name__.startswith(("ResizeConv", "SubPixelConv")))
    ):
        weight: torch.Tensor = module.weight  # type: ignore[assignment]
        torch.nn.init.normal_(weight, 0.0, 0.02)
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            torch.nn.init.zeros_(bias)
    elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        torch.nn.init.normal_(module.weight, 1.0, 0.02)
        torch.nn.init.zeros_(module.bias)


@dataclass
class GanRun:
    """Scores and samples of one GAN training."""

    steps: list[int]
    scores: dict[int, list[float]]
    samples: dict[int, torch.Tensor]
    losses: tuple[float, float]


def train_gan(
    data: torch.Tensor,
    upsample: str,
    config: Config,
    *,
    seed: int,
    device: str = "cpu",
    progress=None,
) -> GanRun:
    """Train a 32 x 32 DCGAN on ``data`` and score fixed-latent samples at checkpoints.

    Args:
        data: (N, 3, 32, 32) images in [0, 1].
        upsample: the generator's x2 layer (``zoo.dcgan_generator``'s ``upsample``).
        config: sizes and steps.
        seed: seeds the weights, the batches and the latents.
        device: torch device.
        progress: called with the fraction of training done.

    Returns:
        The :class:`GanRun`: per checkpoint the median sample score at each period (dB)
        and the samples (CPU, [0, 1]).
    """
    from checkerscope import zoo

    torch.manual_seed(seed)
    generator = zoo.dcgan_generator(
        IMAGE_SIZE, z_dim=config.z_dim, width=config.width, upsample=upsample
    ).to(device)
    discriminator = zoo.dcgan_discriminator(IMAGE_SIZE, width=config.width).to(device)
    generator.apply(dcgan_init)
    discriminator.apply(dcgan_init)
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas)
    randomness = torch.Generator().manual_seed(seed)
    fixed_z = torch.randn(config.samples, config.z_dim, 1, 1, generator=randomness).to(device)
    real_all = (data * 2.0 - 1.0).to(device)
    wanted = checkpoint_steps(config.steps, config.checkpoints)
    run = GanRun(steps=[], scores={p: [] for p in PERIODS}, samples={}, losses=(0.0, 0.0))

    def checkpoint(step: int) -> None:
        # Sampled in training mode (batch statistics), the mode the generator trains in.
        with torch.no_grad():
            images = ((generator(fixed_z) + 1.0) / 2.0).clamp(0, 1).cpu()
        run.steps.append(step)
        for p in PERIODS:
            run.scores[p].append(float(np.median(score_db(images, p))))
        run.samples[step] = images

    checkpoint(0)
    report_every = max(1, config.steps // 20)
    for step in range(1, config.steps + 1):
        index = torch.randint(0, real_all.shape[0], (config.batch_size,), generator=randomness)
        real = real_all[index.to(device)]
        z = torch.randn(config.batch_size, config.z_dim, 1, 1, generator=randomness).to(device)
        fake = generator(z)
        loss_d = (
            F.softplus(-discriminator(real)).mean()
            + F.softplus(discriminator(fake.detach())).mean()
        )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-discriminator(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if step in wanted:
            checkpoint(step)
        if progress is not None and step % report_every == 0:
            progress(step / config.steps)
    run.losses = (float(loss_d.detach()), float(loss_g.detach()))
    return run


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
    config: Config | None = None,
) -> ClaimResult:
    """Train deconv and resize-conv DCGANs on both datasets and score their samples.

    Args:
        quick: the quick configuration instead of the full one.
        seed: seed of data, weights, batches and latents.
        device: torch device for training.
        out_dir: folder for the figures.
        progress: progress receiver.
        config: overrides the quick/full configuration (tests use a tiny one).
    """
    started = time.perf_counter()
    config = config or (QUICK if quick else FULL)
    real_db: dict[str, dict[str, float]] = {}
    curves: dict[str, dict[str, dict[str, list[float]]]] = {}
    final_excess: dict[str, dict[str, float]] = {}
    losses: dict[str, dict[str, list[float]]] = {}
    figures: list[Path] = []
    jobs = len(DATASETS) * len(GENERATORS)
    done = 0
    steps: list[int] = []
    for name in DATASETS:
        data = dataset(name, config.train_images, seed)
        real = data[: config.samples]
        real_db[name] = {f"p{p}": float(np.median(score_db(real, p))) for p in PERIODS}
        curves[name], final_excess[name], losses[name] = {}, {}, {}
        runs: dict[str, GanRun] = {}
        for upsample in GENERATORS:

            def report(fraction: float, done: int = done, label: str = f"{name}, {upsample}"):
                if progress is not None:
                    progress((done + fraction) / jobs, f"GAN on {label}")

            result = train_gan(data, upsample, config, seed=seed, device=device, progress=report)
            done += 1
            runs[upsample] = result
            steps = result.steps
            curves[name][upsample] = {
                f"p{p}": [s - real_db[name][f"p{p}"] for s in result.scores[p]] for p in PERIODS
            }
            final_excess[name][upsample] = max(curves[name][upsample][f"p{p}"][-1] for p in PERIODS)
            losses[name][upsample] = list(result.losses)
        figures.append(save_figure(_sample_figure(name, real, runs), out_dir, f"c07_{name}"))
    figures.insert(0, save_figure(_curve_figure(steps, curves), out_dir, "c07_scores"))

    holds = {
        name: final_excess[name]["deconv4"] >= 3.0 and final_excess[name]["resize"] < 1.0
        for name in DATASETS
    }
    count = sum(holds.values())
    verdict: Verdict = "agrees" if count == len(DATASETS) else ("partly" if count else "disagrees")
    summary = (
        f"After {config.steps} GAN steps the samples' excess checkerboard score over real "
        "images is "
        + "; ".join(
            f"{name}: deconv {final_excess[name]['deconv4']:+.1f} dB, resize-conv "
            f"{final_excess[name]['resize']:+.1f} dB"
            for name in DATASETS
        )
        + " (max over periods 2 and 8)."
    )
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": "; ".join(
                f"{n}: deconv {final_excess[n]['deconv4']:+.1f} / resize "
                f"{final_excess[n]['resize']:+.1f} dB"
                for n in DATASETS
            ),
            "final_excess_db": final_excess,
            "curves": {"steps": steps, **curves},
            "real_db": real_db,
            "final_losses": losses,
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


def _curve_figure(steps: list[int], curves: dict[str, Any]) -> Figure:
    series = {
        f"{name}, {LABELS[g]}": curves[name][g]["p2"] for name in DATASETS for g in GENERATORS
    }
    fig = line_chart(
        [max(s, 1) for s in steps],
        series,
        xlabel="GAN training step (log scale; step 0 drawn at 1)",
        ylabel="sample score minus real, period 2 (dB)",
        title="C7: checkerboard score of DCGAN samples during training",
        logx=True,
    )
    fig.axes[0].axhline(0.0, color="black", linewidth=0.6)
    return fig


def _sample_figure(name: str, real: torch.Tensor, runs: dict[str, GanRun]) -> Figure:
    shown = 6
    rows: dict[str, list[torch.Tensor]] = {"real": list(real[:shown])}
    for upsample, result in runs.items():
        first, last = result.steps[0], result.steps[-1]
        rows[f"{LABELS[upsample]}\nstep {first}"] = list(result.samples[first][:shown])
        rows[f"{LABELS[upsample]}\nstep {last}"] = list(result.samples[last][:shown])
    return sample_grid(
        rows,
        title=f"C7: DCGAN samples on {name}, before and after training",
        stretch=False,
        caption="Samples as generated (no contrast stretch), 32x32, nearest-neighbour pixels.",
    )


def tiny_config() -> Config:
    """A configuration small enough for a unit test (seconds)."""
    return replace(QUICK, steps=4, width=4, batch_size=8, train_images=32, samples=8, checkpoints=3)
