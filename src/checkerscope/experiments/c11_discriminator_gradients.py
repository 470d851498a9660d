"""C11: a discriminator's gradient with respect to its input carries the strided-conv grid.

DCGAN discriminators (``checkerscope.zoo.dcgan_discriminator``, 64x64 RGB) with a stride-2
first layer, with a regular (stride-1) first layer, and with every stride-2 convolution
replaced by a stride-1 convolution + BlurPool. The gradient ``dD/dx`` (the signal a
generator receives) is scored at period 2 over many random initialisations and inputs.

The measure is the second one registered for this claim. The first (the signed gradient of
PyTorch-DCGAN discriminators, k4 s2) found no grid in any variant; it is still computed and
reported (``numbers["v1_signed_k4"]``). It measured the wrong thing twice over: k4 s2 is
an even-overlap kernel, whose backward coverage is flat (``cs.overlap`` says 1:1), and at
initialisation the strided conv's grid is in how much gradient each pixel receives, not in
its sign. The measure now is the magnitude ``|dD/dx|`` of discriminators with the k5 s2
stages of the DCGAN reference implementations (uneven: 9:6:6:4 backward coverage in 2-D),
under the thresholds of the first rule, unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from checkerscope.experiments.base import Claim, ClaimResult, Progress, Verdict
from checkerscope.experiments.figures import bar_chart, sample_grid, save_figure

if TYPE_CHECKING:  # pragma: no cover
    import torch

CLAIM = Claim(
    id="C11",
    title="strided discriminator gradients",
    article=(
        "The gradient of a strided convolution is a deconvolution, so it can carry a "
        "checkerboard: a discriminator with a stride-2 convolution in its first layer gives "
        "the generator strong frequency-2 gradient artifacts; with a regular convolution "
        "first they are very mild."
    ),
    method=(
        "DCGAN discriminators for 64x64 RGB (width 32, Conv2d k5 s2 p2 stages as in the "
        "reference DCGAN implementations, BatchNorm in "
        "eval mode, i.e. the identity at initialisation, so each input's gradient is its own): "
        "'stride-2 first' (DCGAN), 'regular first' (a Conv2d k3 s1 layer at full resolution "
        "before the same strided stages), 'BlurPool' (every stride-2 conv replaced by a "
        "stride-1 conv + 4-tap binomial BlurPool). For 16 seeds (3 quick), a fresh model and "
        "16 inputs (8 quick): half patches of bundled photographs, half Gaussian noise, in "
        "[-1, 1]. Score: checkerboard_score at period 2 (dB) of the gradient magnitude "
        "|dD/dx| (how much each pixel is cared about: the article's 'some neurons will get "
        "many times the gradient of their neighbors'); medians over all gradients. Second "
        "registered measure: the first, the signed dD/dx of k4 s2 discriminators, is still "
        "reported as v1_signed_k4."
    ),
    rule=(
        "agrees if (A) the stride-2-first median is >= 6 dB, (B) it exceeds the "
        "regular-first median by >= 6 dB, and (C) it exceeds the BlurPool median by >= 3 dB; "
        "partly if A holds and one of B, C; disagrees otherwise. (Thresholds as registered "
        "for the first measure; that measure found no grid, -1.9 / 0.7 / -3.7 dB quick.)"
    ),
)

NOTES = {
    "variants": "per discriminator: median period-2 score of dD/dx over all inputs and seeds, "
    "and the medians for photo and noise inputs separately",
    "gap_regular_db": "stride-2-first median minus regular-first median",
    "gap_blurpool_db": "stride-2-first median minus BlurPool median",
    "by_kernel": "median period-2 scores of |dD/dx| ('abs') and of dD/dx ('signed') for the "
    "k5 discriminators (the verdict's) and the k4 ones (PyTorch DCGAN, even overlap)",
    "v1_signed_k4": "the first registered measure (signed dD/dx, k4 s2), which found no grid",
    "backward_unevenness": "cs.overlap of the first strided conv, direction='backward', 2-D",
}

#: Kernel of the verdict's discriminators (5: the DCGAN reference code, uneven for stride 2)
#: and of the comparison (4: PyTorch's DCGAN, even overlap; the first registered measure).
KERNEL = 5
COMPARISON_KERNEL = 4

VARIANTS: dict[str, dict[str, Any]] = {
    "stride-2 first": {"first_stride": 2, "blurpool": False},
    "regular first": {"first_stride": 1, "blurpool": False},
    "BlurPool": {"first_stride": 2, "blurpool": True},
}


def input_batch(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` inputs in [-1, 1]: the first half photograph patches, the rest Gaussian noise.

    Examples:
        >>> batch = input_batch(4, 32, seed=0)
        >>> batch.shape, bool(batch.min() >= -1.0 and batch.max() <= 1.0)
        ((4, 3, 32, 32), True)
    """
    from checkerscope.experiments.data import photo_patches

    photos = n // 2
    patches = photo_patches(photos, size, seed=seed, shrink=2).numpy() * 2.0 - 1.0
    rng = np.random.default_rng(seed)
    noise = np.clip(rng.normal(0.0, 0.5, size=(n - photos, 3, size, size)), -1.0, 1.0)
    return np.concatenate([patches, noise]).astype(np.float32)


def input_gradients(model: torch.nn.Module, inputs: np.ndarray, device: str) -> np.ndarray:
    """``d sum(model(x)) / dx`` for a batch (each output depends on its own input only)."""
    import torch

    x = torch.from_numpy(inputs).to(device).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    return grad.detach().double().cpu().numpy()


def run(
    quick: bool,
    seed: int,
    device: str = "cpu",
    *,
    out_dir: Path,
    progress: Progress | None = None,
) -> ClaimResult:
    """Measure C11."""
    import torch

    from checkerscope.metrics import checkerboard_score
    from checkerscope.zoo import dcgan_discriminator

    started = time.perf_counter()
    n_seeds, n_inputs = (3, 8) if quick else (16, 16)
    seeds = [seed * 1000 + i for i in range(n_seeds)]
    photos = n_inputs // 2
    scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    photo_scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    noise_scores: dict[str, list[float]] = {name: [] for name in VARIANTS}
    examples: dict[str, list[np.ndarray]] = {}
    # (kernel, variant) -> scores of |dD/dx| and of dD/dx
    by_abs: dict[tuple[int, str], list[float]] = {}
    by_signed: dict[tuple[int, str], list[float]] = {}
    kernels = (KERNEL, COMPARISON_KERNEL)
    steps, done = n_seeds * len(VARIANTS) * len(kernels), 0
    for model_seed in seeds:
        inputs = input_batch(n_inputs, 64, seed=model_seed)
        for kernel in kernels:
            for name, options in VARIANTS.items():
                torch.manual_seed(model_seed)
                model = dcgan_discriminator(
                    image_size=64, channels=3, width=32, kernel_size=kernel, **options
                )
                gradients = input_gradients(model.to(device).eval(), inputs, device)
                signed = checkerboard_score(gradients, period=2).db
                by_signed.setdefault((kernel, name), []).extend(float(v) for v in signed)
                magnitude = np.abs(gradients)
                db = checkerboard_score(magnitude, period=2).db
                by_abs.setdefault((kernel, name), []).extend(float(v) for v in db)
                if kernel == KERNEL:
                    scores[name].extend(float(v) for v in db)
                    photo_scores[name].extend(float(v) for v in db[:photos])
                    noise_scores[name].extend(float(v) for v in db[photos:])
                    if model_seed == seeds[0]:
                        # one photo and one noise input; channel mean of |dD/dx|
                        examples[name] = [magnitude[0].mean(0), magnitude[photos].mean(0)]
                done += 1
                if progress is not None:
                    progress(done / steps, f"seed {model_seed}, k{kernel}, {name}")

    medians = {name: float(np.median(v)) for name, v in scores.items()}
    strided, regular, blur = (medians[n] for n in VARIANTS)
    gap_regular, gap_blur = strided - regular, strided - blur
    a, b, c = strided >= 6.0, gap_regular >= 6.0, gap_blur >= 3.0
    if a and b and c:
        verdict: Verdict = "agrees"
    elif a and (b or c):
        verdict = "partly"
    else:
        verdict = "disagrees"
    by_kernel = {
        f"k{kernel}": {
            name: {
                "abs_median_db": float(np.median(by_abs[(kernel, name)])),
                "signed_median_db": float(np.median(by_signed[(kernel, name)])),
            }
            for name in VARIANTS
        }
        for kernel in kernels
    }
    v1 = {name: by_kernel[f"k{COMPARISON_KERNEL}"][name]["signed_median_db"] for name in VARIANTS}
    k4 = by_kernel[f"k{COMPARISON_KERNEL}"]
    backward = {f"k{k}": _backward_unevenness(k) for k in kernels}
    summary = (
        f"Median period-2 score of |dD/dx| over {n_seeds} initialisations x {n_inputs} inputs "
        f"(k{KERNEL} s2 stages): stride-2 first {strided:.1f} dB, regular first "
        f"{regular:.1f} dB ({gap_regular:.1f} dB lower), BlurPool {blur:.1f} dB "
        f"({gap_blur:.1f} dB lower). The theory predicts it: the backward coverage of a "
        f"k{KERNEL} s2 conv is {backward[f'k{KERNEL}']:g}:1 in 2-D, of k{COMPARISON_KERNEL} s2 "
        f"{backward[f'k{COMPARISON_KERNEL}']:g}:1, and with k{COMPARISON_KERNEL} the "
        f"stride-2 and regular |dD/dx| score alike ({k4['stride-2 first']['abs_median_db']:.1f}"
        f" / {k4['regular first']['abs_median_db']:.1f} dB). The first registered measure, "
        f"the signed dD/dx of k{COMPARISON_KERNEL} discriminators, found no grid "
        f"({v1['stride-2 first']:.1f} / {v1['regular first']:.1f} / {v1['BlurPool']:.1f} dB)."
    )
    variants = {
        name: {
            "median_db": medians[name],
            "photo_median_db": float(np.median(photo_scores[name])),
            "noise_median_db": float(np.median(noise_scores[name])),
            "q10_db": float(np.quantile(scores[name], 0.1)),
            "q90_db": float(np.quantile(scores[name], 0.9)),
        }
        for name in VARIANTS
    }
    figures = [
        save_figure(
            bar_chart(
                scores,
                ylabel="period-2 score of |dD/dx| (dB)",
                title="C11: discriminator input gradients (bars: median; dots: every input)",
                threshold=6.0,
                threshold_label="'strong' at 6 dB",
                statistic="median",
            ),
            out_dir,
            "c11_gradient_scores",
        ),
        save_figure(
            sample_grid(
                {
                    name: [maps[0], maps[1], maps[0][24:40, 24:40], maps[1][24:40, 24:40]]
                    for name, maps in examples.items()
                },
                title="C11: |dD/dx| (channel mean), a photo and a noise input; right: 16x16 zoom",
                caption="contrast-stretched; the first two columns whole, the last two centre "
                "16x16 px enlarged",
                cmap="gray",
            ),
            out_dir,
            "c11_gradient_maps",
        ),
    ]
    return ClaimResult(
        claim=CLAIM,
        numbers={
            "headline": (
                f"stride-2 {strided:.1f} dB, regular {regular:.1f} dB, BlurPool {blur:.1f} dB"
            ),
            "variants": variants,
            "gap_regular_db": gap_regular,
            "gap_blurpool_db": gap_blur,
            "kernel": KERNEL,
            "seeds": seeds,
            "inputs_per_seed": n_inputs,
            "scores_db": scores,
            "by_kernel": by_kernel,
            "v1_signed_k4": v1,
            "backward_unevenness": backward,
        },
        verdict=verdict,
        summary=summary,
        figures=figures,
        runtime_s=time.perf_counter() - started,
        seed=seed,
        quick=quick,
        device=device,
    )


def _backward_unevenness(kernel: int) -> float:
    """Unevenness of a stride-2 conv's input-gradient coverage in 2-D (exact).

    Examples:
        >>> _backward_unevenness(5), _backward_unevenness(4)
        (2.25, 1.0)
    """
    from checkerscope.theory import Conv, overlap

    return float(overlap(Conv(kernel, 2), dims=2, direction="backward").unevenness)
