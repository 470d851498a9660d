"""C8: image-to-image networks show the grid too: style transfer with deconv vs resize-conv.

A Johnson et al. (2016) feed-forward transformation network
(:func:`checkerscope.zoo.johnson_transformer`: k9 conv, two stride-2 convs, residual
blocks, two x2 upsamplings, k9 conv) is trained on patches of bundled photographs to
restyle them, once with k3 s2 deconvolutions (the paper's) and once with NN
resize-convolutions. The outputs for held-out patches are scored against the score of the
photograph they restyle.

**The loss network.** Johnson et al. use a pretrained VGG-16; none can be downloaded here.
The stand-in is a fixed network of random convolutions (3x3, ReLU, at three scales
separated by 2x2 average pooling, He-initialised from a fixed seed). Random conv features
with Gram-matrix statistics are known to carry texture and colour (Ustyuzhaninov et al.
2017), which is all a style loss needs. Average pooling rather than max pooling and
stride-1 convolutions keep the loss network's own gradients free of checkerboards (C11,
C12), so any grid in the outputs comes from the transformation network. Users with VGG
weights can pass a torch-saved module instead: ``run(..., loss_net_path=PATH)``, the
module-level :func:`set_loss_net`, or the environment variable ``CHECKERSCOPE_LOSS_NET``.
Such a module takes (N, 3, H, W) images in [0, 1] and returns a list of feature maps; the
style loss uses all of them and the content loss the middle one.

**The style.** A generated picture of strongly coloured shapes (the article notes that
artifacts are strongest for strong colours); no total-variation term, since the article's
point is that the artifacts appear when the cost does not explicitly resist them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from checkerscope.errors import CheckerscopeError
from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.data import coloured_shapes, photo_patches
from checkerscope.experiments.figures import bar_chart, sample_grid, save_figure
from checkerscope.experiments.training import excess_db, train

CLAIM = Claim(
    id="C8",
    title="style transfer: deconv heavy, resize none",
    article=(
        "Feed-forward style-transfer networks (Johnson et al.) show heavy checkerboard "
        "artifacts with deconvolution; with resize-convolution they disappear."
    ),
    method=(
        "zoo.johnson_transformer (width 8 quick, 12 full; 2 residual blocks) with k3 s2 "
        "deconvolution or NN resize-conv upsampling, trained (Adam) on 64x64 photograph "
        "patches to match the content features and the Gram matrices of a generated, "
        "strongly coloured style picture, under a stand-in loss network of fixed random "
        "convolutions (no pretrained VGG can be downloaded; a torch-saved loss network can "
        "be supplied). Held-out patches are restyled; excess = output score minus the input "
        "photograph's score on the central 48x48 (8-pixel borders cut: zero-padding stripes), "
        "median over patches, at periods 2 and 4."
    ),
    rule=(
        "With excess = max over periods 2 and 4 after training: agrees if excess(deconv) >= "
        "3 dB and excess(resize-conv) < 1 dB; partly if excess(deconv) >= excess(resize-conv) "
        "+ 3 dB but one of those thresholds fails; disagrees otherwise."
    ),
)

NOTES = {
    "final_excess_db": "per variant: max over periods 2 and 4 of the median excess (dB)",
    "excess_by_period": "per variant and period: median excess (dB) over held-out patches",
    "excess_with_border": "the same, scoring whole images (border effects of zero padding "
    "included)",
    "loss_network": "the loss network used: 'random conv features (stand-in)' or a file path",
    "final_loss": "per variant: content and style parts of the loss at the last step",
}

VARIANTS: tuple[Literal["deconv", "resize"], ...] = ("deconv", "resize")
LABELS = {"deconv": "deconv k3 s2 (Johnson)", "resize": "NN resize-conv"}
PERIODS: tuple[int, ...] = (2, 4)
#: Pixels cut from each side before scoring: the network's zero padding leaves stripes
#: along the borders, which are not the checkerboard this claim is about.
BORDER = 8

_loss_net_path: Path | None = None


def set_loss_net(path: str | Path | None) -> None:
    """Use a torch-saved loss network (e.g. a wrapped VGG) for later runs; ``None`` resets.

    The file is loaded once here, so a bad one fails now rather than in the middle of a run.

    Raises:
        CheckerscopeError: when the file does not exist or does not hold a torch module.
    """
    global _loss_net_path
    if path is not None:
        load_loss_net(path, seed=0)
    _loss_net_path = Path(path) if path is not None else None


@dataclass(frozen=True)
class Config:
    """Sizes of one run (quick, full, or the tests' tiny one)."""

    steps: int
    width: int
    residual_blocks: int
    batch_size: int
    train_patches: int
    eval_patches: int
    style_weight: float = 0.3
    lr: float = 2e-3
    patch: int = 64


QUICK = Config(
    steps=120, width=8, residual_blocks=2, batch_size=4, train_patches=256, eval_patches=16
)
FULL = Config(
    steps=500, width=12, residual_blocks=2, batch_size=4, train_patches=1024, eval_patches=48
)


class RandomFeatures(nn.Module):
    """The stand-in loss network: fixed random 3x3 convolutions at three scales.

    Returns the ReLU feature maps after each scale; weights are He-normal from ``seed`` and
    never trained (``requires_grad`` off).

    Examples:
        >>> features = RandomFeatures(seed=0)(torch.rand(1, 3, 32, 32))
        >>> [tuple(f.shape[1:]) for f in features]
        [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    """

    def __init__(self, seed: int = 0, widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.stages = nn.ModuleList()
        channels = 3
        for width in widths:
            convs = [
                nn.Conv2d(channels, width, 3, padding=1),
                nn.Conv2d(width, width, 3, padding=1),
            ]
            for conv in convs:
                fan_in = conv.in_channels * 9
                with torch.no_grad():
                    conv.weight.copy_(
                        torch.randn(conv.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
                    )
                    if conv.bias is not None:
                        conv.bias.zero_()
            self.stages.append(nn.Sequential(convs[0], nn.ReLU(), convs[1], nn.ReLU()))
            channels = width
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of (N, 3, H, W) images in [0, 1], one per scale."""
        features = []
        x = images - 0.5
        for i, stage in enumerate(self.stages):
            if i:
                x = F.avg_pool2d(x, 2)
            x = stage(x)
            features.append(x)
        return features


def load_loss_net(path: str | Path | None, seed: int) -> tuple[nn.Module, str]:
    """The loss network to use and a description of it.

    ``path`` (else :func:`set_loss_net`'s, else ``$CHECKERSCOPE_LOSS_NET``) names a
    torch-saved module; with none, the :class:`RandomFeatures` stand-in.
    """
    chosen = path or _loss_net_path or os.environ.get("CHECKERSCOPE_LOSS_NET") or None
    if chosen is None:
        return RandomFeatures(seed), "random conv features (stand-in, see module docs)"
    if not Path(chosen).is_file():
        raise CheckerscopeError(f"loss network file not found: {chosen}")
    try:
        module = torch.load(chosen, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckerscopeError(
            f"cannot load the loss network {chosen}: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(module, nn.Module):
        raise CheckerscopeError(f"{chosen} holds a {type(module).__name__}, not a torch module")
    module.eval().requires_grad_(False)
    return module, str(chosen)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices (N, C, C) of feature maps, normalised by C * H * W.

    Examples:
        >>> gram(torch.ones(1, 2, 3, 3))[0].tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def _as_list(features: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [features] if isinstance(features, torch.Tensor) else list(features)


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
    config: Config | None = None,
    loss_net_path: str | Path | None = None,
) -> ClaimResult:
    """Train the deconv and resize-conv transformation networks and score their outputs.

    Args:
        quick: the quick configuration instead of the full one.
        seed: seed of data, loss network, weights and batches.
        device: torch device for training.
        out_dir: folder for the figures.
        progress: progress receiver.
        config: overrides the quick/full configuration (tests use a tiny one).
        loss_net_path: a torch-saved loss network (see the module docstring); default: the
            one set with :func:`set_loss_net`, ``$CHECKERSCOPE_LOSS_NET``, or the stand-in.
    """
    from checkerscope import zoo

    started = time.perf_counter()
    config = config or (QUICK if quick else FULL)
    loss_net, loss_net_name = load_loss_net(loss_net_path, seed)
    loss_net = loss_net.to(device)
    content = photo_patches(config.train_patches, config.patch, seed=seed, split="train")
    held_out = photo_patches(config.eval_patches, config.patch, seed=seed, split="eval")
    style = coloured_shapes(1, 2 * config.patch, seed=seed + 1, shapes_per_image=24)

    with torch.no_grad():
        style_grams = [gram(f) for f in _as_list(loss_net(style.to(device)))]
        probe = content[: config.batch_size * 4].to(device)
        probe_features = _as_list(loss_net(probe))
        middle = len(probe_features) // 2
        # Scale both terms by what they are for the photographs themselves, so that the
        # balance does not depend on the loss network's arbitrary feature magnitudes.
        content_scale = float(probe_features[middle].square().mean()) or 1.0
        style_scale = (
            sum(
                float((gram(f) - g).square().mean())
                for f, g in zip(probe_features, style_grams, strict=True)
            )
            or 1.0
        )

    excess: dict[str, dict[str, float]] = {}
    excess_with_border: dict[str, dict[str, float]] = {}
    final_loss: dict[str, dict[str, float]] = {}
    outputs: dict[str, torch.Tensor] = {}
    for done, variant in enumerate(VARIANTS):
        torch.manual_seed(seed)
        net = zoo.johnson_transformer(
            width=config.width, n_residual=config.residual_blocks, upsample=variant
        ).to(device)
        batches = torch.Generator().manual_seed(seed)
        parts: dict[str, float] = {}

        def loss_of_step(
            step: int,
            net: nn.Module = net,
            parts: dict = parts,
            batches: torch.Generator = batches,
        ) -> torch.Tensor:
            index = torch.randint(0, content.shape[0], (config.batch_size,), generator=batches)
            images = content[index].to(device)
            stylised = net(images) + 0.5
            out_features = _as_list(loss_net(stylised))
            with torch.no_grad():
                target = _as_list(loss_net(images))[middle]
            content_loss = F.mse_loss(out_features[middle], target) / content_scale
            style_loss = (
                torch.stack(
                    [
                        (gram(f) - g.expand_as(gram(f))).square().mean()
                        for f, g in zip(out_features, style_grams, strict=True)
                    ]
                ).sum()
                / style_scale
            )
            parts["content"] = float(content_loss.detach())
            parts["style"] = float(style_loss.detach())
            return content_loss + config.style_weight * style_loss

        def report(fraction: float, done: int = done, variant: str = variant) -> None:
            if progress is not None:
                progress((done + fraction) / len(VARIANTS), f"training {LABELS[variant]}")

        train(net, loss_of_step, steps=config.steps, lr=config.lr, progress=report)
        net.eval()
        with torch.no_grad():
            inputs = held_out.to(device)
            restyled = (net(inputs) + 0.5).cpu()
        outputs[variant] = restyled
        inner = (slice(None), slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        excess[variant] = {
            f"p{p}": float(np.median(excess_db(restyled[inner], held_out[inner], p)))
            for p in PERIODS
        }
        excess_with_border[variant] = {
            f"p{p}": float(np.median(excess_db(restyled, held_out, p))) for p in PERIODS
        }
        final_loss[variant] = dict(parts)

    final_excess = {v: max(excess[v].values()) for v in VARIANTS}
    deconv, resize = final_excess["deconv"], final_excess["resize"]
    if deconv >= 3.0 and resize < 1.0:
        verdict: Verdict = "agrees"
    elif deconv >= resize + 3.0:
        verdict = "partly"
    else:
        verdict = "disagrees"
    figures = [
        save_figure(_sample_figure(held_out, outputs, style), out_dir, "c08_samples"),
        save_figure(
            bar_chart(
                {LABELS[v]: final_excess[v] for v in VARIANTS},
                ylabel="excess checkerboard score (dB)",
                title="C8: style-transfer outputs, score minus input photo's (max of p2, p4)",
                threshold=3.0,
                threshold_label="3 dB (rule: deconv at least this)",
            ),
            out_dir,
            "c08_scores",
        ),
    ]
    summary = (
        f"Restyled held-out photographs score {deconv:+.1f} dB over their inputs with the "
        f"deconvolution network and {resize:+.1f} dB with resize-convolution (max over "
        f"periods 2 and 4; loss network: {loss_net_name.split(' (')[0]})."
    )
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": f"deconv {deconv:+.1f} dB, resize-conv {resize:+.1f} dB",
            "final_excess_db": final_excess,
            "excess_by_period": excess,
            "excess_with_border": excess_with_border,
            "final_loss": final_loss,
            "loss_network": loss_net_name,
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


def _sample_figure(inputs: torch.Tensor, outputs: dict[str, torch.Tensor], style: torch.Tensor):
    picks = range(min(3, inputs.shape[0]))
    rows: dict[str, list[torch.Tensor]] = {"input photo": [], "style": [style[0]]}
    for i in picks:
        rows["input photo"] += [inputs[i], inputs[i][:, 24:40, 24:40]]
    for variant in VARIANTS:
        row = []
        for i in picks:
            image = outputs[variant][i].clamp(0, 1)
            row += [image, image[:, 24:40, 24:40]]
        rows[LABELS[variant]] = row
    return sample_grid(
        rows,
        title="C8: held-out photos restyled (whole | centre 16x16 close-up)",
        stretch=False,
        caption="No contrast stretch; close-ups drawn with nearest-neighbour pixels.",
    )


def tiny_config() -> Config:
    """A configuration small enough for a unit test (seconds)."""
    return replace(
        QUICK, steps=3, width=2, residual_blocks=1, batch_size=2, train_patches=8, eval_patches=2
    )
