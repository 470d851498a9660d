"""C13: feature visualisation at one fixed offset grows a checkerboard; jitter suppresses it.

Gradient ascent on the pixels of an image to excite one channel of a fixed network with
strided convolutions, once at a fixed offset and once with random jitter (the image
shifted by a few pixels before every step). No pretrained network can be downloaded here,
so the network is a fixed random one; the mechanism (the backward pass of strided
convolutions is a deconvolution) does not depend on what the weights learned.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.figures import bar_chart, sample_grid, save_figure

if TYPE_CHECKING:  # pragma: no cover
    import torch

CLAIM = Claim(
    id="C13",
    title="feature visualisation: jitter helps",
    article=(
        "Feature visualisation follows a network's gradients, which carry checkerboards; "
        "optimising at many offsets ('jitter', as DeepDream does) cancels some of them."
    ),
    method=(
        "A fixed random network (seeded): three Conv2d k3 s2 p1 + ReLU stages (16, 32, 64 "
        "channels) and a 1x1 conv to 32 channels. Objective: the spatial mean of one channel. "
        "A 64x64 RGB image, starting from small noise (std 0.01), is optimised by Adam (lr "
        "0.05, 200 steps; 48 quick), pixels clamped to [-1, 1]: 'fixed' feeds it as is, "
        "'jitter' rolls it by a random offset in [-4, 4] on each axis before every step. 8 "
        "runs (3 quick), each a new network and channel. Score: checkerboard_score of the "
        "final image at period 2 and period 4 (dB); medians over runs."
    ),
    rule=(
        "agrees if the fixed-offset median period-2 score is >= 6 dB and jitter lowers it by "
        ">= 3 dB; partly if jitter lowers it by more than 0 dB but one of those two fails; "
        "disagrees if jitter does not lower it."
    ),
)

NOTES = {
    "fixed": "median score of the images optimised at one offset, period 2 and period 4 (dB)",
    "jitter": "median score of the images optimised with random shifts (dB)",
    "reduction_db": "fixed minus jitter median period-2 score",
    "runs": "per run: the scores of both images",
}

MAX_SHIFT = 4


def build_network(channels: tuple[int, ...] = (16, 32, 64), outputs: int = 32) -> torch.nn.Module:
    """The fixed network whose channel is visualised: strided k3 s2 convolutions."""
    from torch import nn

    layers: list[nn.Module] = []
    cin = 3
    for cout in channels:
        layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU()]
        cin = cout
    layers.append(nn.Conv2d(cin, outputs, 1))
    return nn.Sequential(*layers)


def visualise(
    network: torch.nn.Module,
    channel: int,
    *,
    steps: int,
    jitter: bool,
    seed: int,
    size: int = 64,
    device: str = "cpu",
) -> np.ndarray:
    """Gradient ascent on an image to maximise the spatial mean of ``channel``.

    Returns:
        The optimised image, ``(3, size, size)``, values in [-1, 1].
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    image = (0.01 * torch.randn(1, 3, size, size, generator=generator)).to(device)
    image.requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=0.05)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (steps, 2), generator=generator)
    for step in range(steps):
        optimiser.zero_grad()
        shown = image
        if jitter:
            dy, dx = (int(v) for v in shifts[step])
            shown = torch.roll(image, shifts=(dy, dx), dims=(-2, -1))
        loss = -network(shown)[:, channel].mean()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            image.clamp_(-1.0, 1.0)
    return image.detach()[0].double().cpu().numpy()


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C13."""
    import torch

    from checkerscope.metrics import checkerboard_score

    started = time.perf_counter()
    n_runs, steps = (3, 48) if quick else (8, 200)
    runs: list[dict[str, float]] = []
    examples: dict[str, list[np.ndarray]] = {"fixed offset": [], "jitter": []}
    for i in range(n_runs):
        run_seed = seed * 1000 + i
        torch.manual_seed(run_seed)
        network = build_network().to(device)
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        channel = i % 32
        scores = {}
        for mode in ("fixed", "jitter"):
            image = visualise(
                network, channel, steps=steps, jitter=mode == "jitter", seed=run_seed, device=device
            )
            scores[f"{mode}_p2_db"] = float(checkerboard_score(image, period=2).db[0])
            scores[f"{mode}_p4_db"] = float(checkerboard_score(image, period=4).db[0])
            if i < 3:
                examples["fixed offset" if mode == "fixed" else "jitter"].append(image)
        runs.append(scores)
        if progress is not None:
            progress((i + 1) / n_runs, f"run {i + 1}/{n_runs}")

    def median(key: str) -> float:
        return float(np.median([r[key] for r in runs]))

    fixed_p2, jitter_p2 = median("fixed_p2_db"), median("jitter_p2_db")
    fixed_p4, jitter_p4 = median("fixed_p4_db"), median("jitter_p4_db")
    reduction = fixed_p2 - jitter_p2
    if fixed_p2 >= 6.0 and reduction >= 3.0:
        verdict: Verdict = "agrees"
    elif reduction > 0.0:
        verdict = "partly"
    else:
        verdict = "disagrees"
    summary = (
        f"Median over {n_runs} runs of {steps} steps: fixed offset {fixed_p2:.1f} dB at period "
        f"2 ({fixed_p4:.1f} dB at period 4), with jitter {jitter_p2:.1f} dB ({jitter_p4:.1f} "
        f"dB): jitter lowers the period-2 score by {reduction:.1f} dB."
    )
    figures = [
        save_figure(
            sample_grid(
                examples,
                title="C13: images optimised to excite one channel of a strided random network",
                caption="each image contrast-stretched; columns: runs (a new network and "
                "channel each)",
            ),
            out_dir,
            "c13_feature_vis",
        ),
        save_figure(
            sample_grid(
                examples,
                zoom=16,
                title="C13: the same images, central 16x16 pixels enlarged",
                caption="contrast-stretched",
            ),
            out_dir,
            "c13_feature_vis_zoom",
        ),
        save_figure(
            bar_chart(
                {
                    "fixed\nperiod 2": [r["fixed_p2_db"] for r in runs],
                    "jitter\nperiod 2": [r["jitter_p2_db"] for r in runs],
                    "fixed\nperiod 4": [r["fixed_p4_db"] for r in runs],
                    "jitter\nperiod 4": [r["jitter_p4_db"] for r in runs],
                },
                ylabel="checkerboard score (dB)",
                title="C13: grid in the optimised image (bars: median; dots: runs)",
                threshold=6.0,
                threshold_label="6 dB",
                statistic="median",
            ),
            out_dir,
            "c13_scores",
        ),
    ]
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"period 2: fixed {fixed_p2:.1f} dB, jitter {jitter_p2:.1f} dB "
                f"(-{reduction:.1f} dB)"
            ),
            "fixed": {"p2_db": fixed_p2, "p4_db": fixed_p4},
            "jitter": {"p2_db": jitter_p2, "p4_db": jitter_p4},
            "reduction_db": reduction,
            "steps": steps,
            "runs": runs,
        },
        verdict=verdict,
        summary=summary,
        figures=figures,
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )
