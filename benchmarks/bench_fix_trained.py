"""Fix a *trained* model without retraining it: projection and distillation, side by side.

Six small models are trained here until their outputs carry a grid (cached, see below):

* ``sr_last``: x4 super-resolution (16 -> 64 px photo patches), conv then two k3 s2
  deconvolutions, the last writing RGB;
* ``sr_conv_after``: the same with a 3x3 conv after the deconvolutions;
* ``img2img``: a full-resolution image-to-image net (Johnson-style, no normalisation: two
  stride-2 convs, two residual blocks, two k3 s2 deconvs) learning a fixed photo filter;
* ``dcgan``: a DCGAN-style generator (k4 s1, then three k4 s2 deconvs with batch norm,
  tanh), trained as a generative latent optimisation decoder (a latent code per training
  image, learned jointly; the codes are "the user's data");
* ``vocoder``: a MelGAN-style 1-D generator (k16 s8 and k8 s4 transposed convs, each
  followed by a residual stack of dilated convs, tanh) decoding 16 DCT coefficients per
  32-sample frame of synthetic tones into the waveform;
* ``denoiser``: a residual denoiser whose two k3 s2 deconvolutions write the noise
  estimate (the case a resize-convolution cannot match: it must be flagged).

For each, in one run: ``cs.fix`` with fresh weights, the weight-space projection, the
data-aware projection on 64 of the user's inputs and on 64 data-free inputs ("noise"), then
``cs.distill`` for 100 and 1000 steps from the data-aware projection (user data) and from
the noise projection (data-free), and 1000 steps from fresh weights. Each line reports
PSNR against the teacher's outputs, the task PSNR (against the ground truth), the excess
checkerboard score over the ground truth (median over held-out images, whole output and
interior with 8 samples cut per border) at the model's grid period, and the wall time of
that step. Then the forward time of the fixed model over the original's (medians of
round-robin rounds). Torch runs on one thread (``--threads``).

The trained teachers are cached in ``~/.cache/checkerscope/bench_fix_trained``
(``--cache DIR``); they are retrained when missing (``--retrain`` forces it).

Usage:
    python benchmarks/bench_fix_trained.py [--models sr_last,img2img] [--threads 1]
                                           [--cache DIR] [--retrain] [--smoke]

``--smoke`` trains tiny versions for a few steps into a temporary cache and runs every
step with tiny budgets: it checks the script, not the figures.
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import checkerscope as cs
from checkerscope.auditing.distillation import grid_period
from checkerscope.experiments.data import photo_patches
from checkerscope.experiments.training import SuperResolver
from checkerscope.functional import grid_component
from checkerscope.metrics import checkerboard_score

DEFAULT_CACHE = Path.home() / ".cache" / "checkerscope" / "bench_fix_trained"
CALIBRATION_INPUTS = 64
INTERIOR = 8


# --------------------------------------------------------------------------- models


class SuperResolverConvAfter(nn.Module):
    """x4: conv, two k3 s2 deconvolutions, then a 3x3 conv writes RGB."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width, 3, 2, 1, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width, 3, 2, 1, 1),
            nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(2.0 * images - 1.0) * 0.5 + 0.5


class Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ImageToImage(nn.Module):
    """Johnson-style transformer without normalisation, full resolution in and out."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 5, padding=2),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 3 * w, 3, 2, 1),
            nn.ReLU(),
            Residual(3 * w),
            Residual(3 * w),
            nn.ConvTranspose2d(3 * w, 2 * w, 3, 2, 1, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, 1),
            nn.ReLU(),
            nn.Conv2d(w, 3, 5, padding=2),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(2.0 * images - 1.0) * 0.5 + 0.5


class ResidualDenoiser(nn.Module):
    """Encoder with two stride-2 convs; two k3 s2 deconvs write the noise estimate."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 3, 2, 1, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 3, 3, 2, 1, 1),
        )

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        return noisy - self.body(noisy)


def dcgan_generator(latent: int = 64, width: int = 32) -> nn.Module:
    """DCGAN-style: k4 s1 to 4x4, then three k4 s2 p1 deconvolutions to 32x32, tanh."""
    w = width
    return nn.Sequential(
        nn.ConvTranspose2d(latent, 4 * w, 4, 1, 0, bias=False),
        nn.BatchNorm2d(4 * w),
        nn.ReLU(),
        nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
        nn.BatchNorm2d(2 * w),
        nn.ReLU(),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
        nn.BatchNorm2d(w),
        nn.ReLU(),
        nn.ConvTranspose2d(w, 3, 4, 2, 1),
        nn.Tanh(),
    )


class DilatedResidual1d(nn.Module):
    """MelGAN's residual stack unit: leaky ReLU, dilated conv k3, leaky ReLU, conv k1."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.leaky_relu(self.dilated(F.leaky_relu(x, 0.2)), 0.2))


def vocoder(channels: int = 16, width: int = 64) -> nn.Module:
    """MelGAN-style: conv k7, then per stage a transposed conv (k16 s8, k8 s4: x32) and a
    residual stack of dilated convs (dilations 1, 3, 9), conv k7, tanh."""
    return nn.Sequential(
        nn.Conv1d(channels, width, 7, padding=3),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose1d(width, width // 2, 16, 8, 4),
        *[DilatedResidual1d(width // 2, d) for d in (1, 3, 9)],
        nn.LeakyReLU(0.2),
        nn.ConvTranspose1d(width // 2, width // 4, 8, 4, 2),
        *[DilatedResidual1d(width // 4, d) for d in (1, 3, 9)],
        nn.LeakyReLU(0.2),
        nn.Conv1d(width // 4, 1, 7, padding=3),
        nn.Tanh(),
    )


# --------------------------------------------------------------------------- data


def stylise(images: torch.Tensor) -> torch.Tensor:
    """A fixed photo filter: colour mix, local contrast, gamma."""
    mix = torch.tensor([[0.9, 0.3, -0.1], [0.1, 0.7, 0.2], [-0.1, 0.2, 1.0]])
    mixed = torch.einsum("oc,nchw->nohw", mix, images)
    blurred = F.avg_pool2d(F.pad(mixed, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
    detailed = mixed + 1.2 * (mixed - blurred)
    return detailed.clamp(0, 1).pow(0.8)


def tones(count: int, length: int, seed: int) -> torch.Tensor:
    """(count, 1, length) sums of three slowly modulated sinusoids plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    out = np.zeros((count, 1, length))
    for i in range(count):
        for _ in range(3):
            frequency = rng.uniform(0.004, 0.3)
            envelope = 0.5 + 0.5 * np.sin(
                2 * np.pi * rng.uniform(0.0005, 0.003) * t + rng.uniform(0, 6.3)
            )
            out[i, 0] += 0.25 * envelope * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 6.3))
        out[i, 0] += 0.01 * rng.standard_normal(length)
    return torch.from_numpy(out).float().clamp(-1, 1)


def dct_matrix(size: int) -> torch.Tensor:
    n = torch.arange(size, dtype=torch.float64)
    basis = torch.cos(math.pi / size * (n[None, :] + 0.5) * n[:, None])
    basis[0] /= math.sqrt(2)
    return (basis * math.sqrt(2 / size)).float()


def frame_features(waves: torch.Tensor, frame: int = 32, keep: int = 16) -> torch.Tensor:
    """(N, keep, T / frame): the lowest ``keep`` DCT coefficients of each frame."""
    frames = waves[:, 0].unflatten(-1, (-1, frame))  # (N, T / frame, frame)
    coefficients = frames @ dct_matrix(frame).T
    return coefficients[..., :keep].transpose(1, 2).contiguous()


# --------------------------------------------------------------------------- cases


@dataclass
class Trained:
    """A trained teacher and its data."""

    name: str
    description: str
    teacher: nn.Module
    train_inputs: torch.Tensor
    eval_inputs: torch.Tensor
    eval_targets: torch.Tensor
    data_range: float
    target_class: str  # "output", "conv after", "image-to-image", "generator", "residual"
    train_steps: int
    train_seconds: float


@dataclass(frozen=True)
class Budget:
    train_scale: float = 1.0
    width_scale: float = 1.0
    short: int = 100
    long: int = 1000
    rounds: int = 15


def _adam_loop(
    parameters: list[torch.nn.Parameter],
    loss_of_step: Callable[[int], torch.Tensor],
    steps: int,
    lr: float,
) -> float:
    optimiser = torch.optim.Adam(parameters, lr=lr)
    start = time.perf_counter()
    for step in range(steps):
        optimiser.zero_grad(set_to_none=True)
        loss_of_step(step).backward()
        optimiser.step()
    return time.perf_counter() - start


def _batches(count: int, batch: int, seed: int) -> Callable[[int], torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return lambda step: torch.randint(0, count, (batch,), generator=generator)


def _supervised(
    name: str,
    description: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    eval_inputs: torch.Tensor,
    eval_targets: torch.Tensor,
    steps: int,
    target_class: str,
    data_range: float = 1.0,
    lr: float = 2e-3,
    batch: int = 16,
) -> Trained:
    pick = _batches(inputs.shape[0], batch, 0)

    def loss(step: int) -> torch.Tensor:
        index = pick(step)
        return F.mse_loss(model(inputs[index]), targets[index])

    seconds = _adam_loop(list(model.parameters()), loss, steps, lr)
    model.eval()
    return Trained(
        name,
        description,
        model,
        inputs,
        eval_inputs,
        eval_targets,
        data_range,
        target_class,
        steps,
        seconds,
    )


def build_model(name: str, width_scale: float) -> nn.Module:
    width = max(4, int(32 * width_scale))
    builders: dict[str, Callable[[], nn.Module]] = {
        "sr_last": lambda: SuperResolver("deconv3", width=width),
        "sr_conv_after": lambda: SuperResolverConvAfter(width),
        "img2img": lambda: ImageToImage(max(4, width // 2)),
        "denoiser": lambda: ResidualDenoiser(width),
        "dcgan": lambda: dcgan_generator(64, width),
        "vocoder": lambda: vocoder(16, max(8, 2 * width)),
    }
    if name not in builders:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(builders)}")
    return builders[name]()


def train_case(name: str, budget: Budget) -> Trained:
    torch.manual_seed(0)
    scale = budget.train_scale
    model = build_model(name, budget.width_scale)
    if name in ("sr_last", "sr_conv_after"):
        hr = photo_patches(2048, 64, seed=0)
        hr_eval = photo_patches(32, 64, seed=0, split="eval")
        last = name == "sr_last"
        return _supervised(
            name,
            "x4 SR, last k3 s2 deconv writes RGB" if last else "x4 SR, a conv after the deconvs",
            model,
            F.avg_pool2d(hr, 4),
            hr,
            F.avg_pool2d(hr_eval, 4),
            hr_eval,
            int(2500 * scale),
            "output" if last else "conv after",
        )
    if name == "img2img":
        photos = photo_patches(1024, 64, seed=1)
        photos_eval = photo_patches(32, 64, seed=1, split="eval")
        return _supervised(
            name,
            "full-res image-to-image, k3 s2 deconvs",
            model,
            photos,
            stylise(photos),
            photos_eval,
            stylise(photos_eval),
            int(1500 * scale),
            "image-to-image",
            batch=8,
        )
    if name == "denoiser":
        clean = photo_patches(1024, 64, seed=2)
        clean_eval = photo_patches(32, 64, seed=2, split="eval")
        noise = torch.Generator().manual_seed(2)
        noisy = (clean + 0.1 * torch.randn(clean.shape, generator=noise)).clamp(0, 1)
        noisy_eval = (clean_eval + 0.1 * torch.randn(clean_eval.shape, generator=noise)).clamp(0, 1)
        return _supervised(
            name,
            "residual denoiser, k3 s2 deconvs write the noise",
            model,
            noisy,
            clean,
            noisy_eval,
            clean_eval,
            int(1500 * scale),
            "residual",
            batch=8,
        )
    if name == "dcgan":
        images = photo_patches(1024, 32, seed=3, shrink=4) * 2 - 1
        codes = nn.Parameter(torch.randn(images.shape[0], 64, 1, 1))
        pick = _batches(images.shape[0], 32, 3)

        def on_sphere(z: torch.Tensor) -> torch.Tensor:  # |z| = sqrt(64), like N(0, I) draws
            return z / z.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1) * 8.0

        def loss(step: int) -> torch.Tensor:
            index = pick(step)
            return F.mse_loss(model(on_sphere(codes[index])), images[index])

        model.train()
        steps = int(3000 * scale)
        seconds = _adam_loop([*model.parameters(), codes], loss, steps, 2e-3)
        model.eval()
        with torch.no_grad():
            final = on_sphere(codes)
        return Trained(
            name,
            "DCGAN-style generator (k4 s2 deconvs, batch norm), latent codes",
            model,
            final,
            final[:32],
            images[:32],
            2.0,
            "generator",
            steps,
            seconds,
        )
    waves = tones(2048, 1024, seed=4)
    waves_eval = tones(32, 1024, seed=5)
    return _supervised(
        name,
        "1-D MelGAN-style generator (k16 s8, k8 s4)",
        model,
        frame_features(waves),
        waves,
        frame_features(waves_eval),
        waves_eval,
        int(2500 * scale),
        "conv after",
        data_range=2.0,
        batch=32,
    )


def load_or_train(name: str, cache: Path, budget: Budget, retrain: bool) -> Trained:
    path = cache / f"{name}.pt"
    if path.exists() and not retrain:
        stored = torch.load(path, weights_only=False)
        if stored.get("width_scale") == budget.width_scale:
            teacher = build_model(name, budget.width_scale)
            teacher.load_state_dict(stored.pop("teacher"))
            stored.pop("width_scale")
            return Trained(teacher=teacher.eval(), **stored)
    trained = train_case(name, budget)
    cache.mkdir(parents=True, exist_ok=True)
    stored = dict(trained.__dict__, teacher=trained.teacher.state_dict())
    torch.save(dict(stored, width_scale=budget.width_scale), path)
    return trained


# --------------------------------------------------------------------------- measuring


def _outputs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(inputs[i : i + 16]) for i in range(0, inputs.shape[0], 16)])


def _psnr(output: torch.Tensor, reference: torch.Tensor, data_range: float) -> float:
    error = float((output.double() - reference.double()).square().mean())
    return 10 * math.log10(data_range**2 / max(error, 1e-30))


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    for axis in range(2, x.dim()):
        x = x.narrow(axis, border, x.shape[axis] - 2 * border)
    return x


def _excess(output: torch.Tensor, truth: torch.Tensor, period: int, border: int = 0) -> float:
    dims = output.dim() - 2
    if border:
        output, truth = _crop(output, border), _crop(truth, border)
    ours = checkerboard_score(output.float(), period=period, dims=dims).db
    theirs = checkerboard_score(truth.float(), period=period, dims=dims).db
    return float(np.median(ours - theirs))


@dataclass
class Row:
    label: str
    vs_teacher: float
    task: float
    excess: float
    interior: float
    seconds: float


def measure(
    label: str,
    model: nn.Module,
    case: Trained,
    teacher_out: torch.Tensor,
    period: int,
    seconds: float,
) -> Row:
    out = _outputs(model, case.eval_inputs)
    return Row(
        label,
        _psnr(out, teacher_out, case.data_range),
        _psnr(out, case.eval_targets, case.data_range),
        _excess(out, case.eval_targets, period),
        _excess(out, case.eval_targets, period, INTERIOR),
        seconds,
    )


def forward_ratio(
    fixed: nn.Module, original: nn.Module, inputs: torch.Tensor, rounds: int
) -> float:
    fixed.eval()
    original.eval()
    times: dict[str, list[float]] = {"fixed": [], "original": []}
    with torch.no_grad():
        for model in (fixed, original):
            model(inputs)  # warm-up
        for _ in range(rounds):
            for key, model in (("fixed", fixed), ("original", original)):
                start = time.perf_counter()
                model(inputs)
                times[key].append(time.perf_counter() - start)
    return statistics.median(times["fixed"]) / statistics.median(times["original"])


def run_case(case: Trained, budget: Budget) -> dict:
    teacher = case.teacher
    example = case.eval_inputs[:1]
    teacher_out = _outputs(teacher, case.eval_inputs)
    size = min(teacher_out.shape[2:])
    period = grid_period(teacher)
    while period > 2 and size - 2 * INTERIOR < 2 * period:
        period //= 2
    calibration = case.train_inputs[:CALIBRATION_INPUTS]
    dims = teacher_out.dim() - 2
    degridded = teacher_out - grid_component(teacher_out, period, dims)
    rows = [
        Row(
            "teacher (the trained model)",
            float("inf"),
            _psnr(teacher_out, case.eval_targets, case.data_range),
            _excess(teacher_out, case.eval_targets, period),
            _excess(teacher_out, case.eval_targets, period, INTERIOR),
            case.train_seconds,
        ),
        Row(
            "teacher minus its grid (what is learnt)",
            _psnr(degridded, teacher_out, case.data_range),
            _psnr(degridded, case.eval_targets, case.data_range),
            _excess(degridded, case.eval_targets, period),
            _excess(degridded, case.eval_targets, period, INTERIOR),
            0.0,
        ),
    ]
    starts: dict[str, nn.Module] = {}
    for label, kwargs in [
        ("fresh weights", {}),
        ("weight-space projection", {"weights": "project"}),
        ("data-aware projection (user data)", {"weights": "project", "calibration": calibration}),
        ("data-aware projection (data-free)", {"weights": "project", "calibration": "noise"}),
    ]:
        start = time.perf_counter()
        fixed = cs.fix(teacher, example_input=example, **kwargs)
        seconds = time.perf_counter() - start
        starts[label] = fixed
        rows.append(measure(label, fixed, case, teacher_out, period, seconds))
    distilled: dict[str, object] = {}
    for label, origin, data, steps in [
        (
            f"user data, {budget.short} steps",
            "data-aware projection (user data)",
            case.train_inputs,
            budget.short,
        ),
        (
            f"user data, {budget.long} steps",
            "data-aware projection (user data)",
            case.train_inputs,
            budget.long,
        ),
        (
            f"data-free, {budget.short} steps",
            "data-aware projection (data-free)",
            "noise",
            budget.short,
        ),
        (
            f"data-free, {budget.long} steps",
            "data-aware projection (data-free)",
            "noise",
            budget.long,
        ),
        (f"fresh weights, {budget.long} steps", "fresh weights", case.train_inputs, budget.long),
    ]:
        student = copy.deepcopy(starts[origin])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = cs.distill(student, teacher, data, steps=steps, example_input=example)
        distilled[label] = result
        rows.append(
            measure("distilled: " + label, student, case, teacher_out, period, result.seconds)
        )
    ratio = forward_ratio(
        starts["weight-space projection"], teacher, case.eval_inputs[:16], budget.rounds
    )
    return {"rows": rows, "period": period, "ratio": ratio, "distilled": distilled}


# --------------------------------------------------------------------------- report


def print_case(case: Trained, outcome: dict) -> None:
    print(
        f"\n{case.name}: {case.description} (trained {case.train_steps} steps, "
        f"{case.train_seconds:.0f} s; grid period {outcome['period']})"
    )
    print(f"{'':38} {'PSNR vs':>9} {'task':>7} {'excess':>8} {'interior':>9} {'time':>8}")
    print(f"{'':38} {'teacher':>9} {'PSNR':>7} {'dB':>8} {'dB':>9} {'s':>8}")
    for row in outcome["rows"]:
        vs = "-" if math.isinf(row.vs_teacher) else f"{row.vs_teacher:.2f}"
        print(
            f"{row.label:38} {vs:>9} {row.task:7.2f} {row.excess:+8.2f} {row.interior:+9.2f} "
            f"{row.seconds:8.2f}"
        )
    print(f"forward time, fixed / original: {outcome['ratio']:.2f}x")
    flags = [
        f"{label}: {result.message}"  # type: ignore[attr-defined]
        for label, result in outcome["distilled"].items()
        if not result.faithful  # type: ignore[attr-defined]
    ]
    for line in flags:
        print(f"  flagged: {line}")


def check_targets(case: Trained, outcome: dict, budget: Budget) -> list[tuple[str, bool, str]]:
    rows = {row.label: row for row in outcome["rows"]}
    teacher = rows["teacher (the trained model)"]
    user = rows["data-aware projection (user data)"]
    free = rows["data-aware projection (data-free)"]
    checks: list[tuple[str, bool, str]] = []
    threshold = {
        "output": 35.0,
        "generator": 35.0,
        "conv after": 29.0,
        "image-to-image": 23.0,
    }.get(case.target_class)
    if threshold is not None:
        checks.append(
            (
                f"no training >= {threshold:.0f} dB",
                user.vs_teacher >= threshold,
                f"{user.vs_teacher:.1f} dB",
            )
        )
        checks.append(
            (
                "data-free within 2 dB",
                user.vs_teacher - free.vs_teacher <= 2.0,
                f"{free.vs_teacher:.1f} dB ({free.vs_teacher - user.vs_teacher:+.1f})",
            )
        )
    short = rows[f"distilled: user data, {budget.short} steps"]
    long = rows[f"distilled: user data, {budget.long} steps"]
    if case.name.startswith("sr_"):
        checks.append(
            (
                f"SR >= 36.5 dB in {budget.short} steps",
                short.vs_teacher >= 36.5,
                f"{short.vs_teacher:.1f} dB",
            )
        )
        checks.append(
            (
                f"SR >= 38 dB in {budget.long} steps (< 40 s)",
                long.vs_teacher >= 38.0 and long.seconds < 40,
                f"{long.vs_teacher:.1f} dB in {long.seconds:.0f} s",
            )
        )
        checks.append(
            (
                "task PSNR within 0.1 dB of the teacher",
                long.task >= teacher.task - 0.1,
                f"{long.task:.2f} vs {teacher.task:.2f} dB",
            )
        )
    if case.target_class == "image-to-image":
        checks.append(
            (
                f"image-to-image >= 31.5 dB in {budget.long} steps",
                long.vs_teacher >= 31.5,
                f"{long.vs_teacher:.1f} dB",
            )
        )
    if case.target_class != "residual":
        checks.append(
            (
                "excess <= +1 dB after distillation (whole, interior)",
                long.excess <= 1.0 and long.interior <= 1.0,
                f"{long.excess:+.1f} / {long.interior:+.1f} dB",
            )
        )
    else:
        flagged = not outcome["distilled"][f"user data, {budget.long} steps"].faithful
        checks.append(
            ("flagged 'cannot be replaced faithfully'", flagged, f"{long.vs_teacher:.1f} dB")
        )
    checks.append(("forward within 1.1x", outcome["ratio"] <= 1.1, f"{outcome['ratio']:.2f}x"))
    return checks


MODELS = ("sr_last", "sr_conv_after", "img2img", "dcgan", "vocoder", "denoiser")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    budget = Budget()
    cache = args.cache
    if args.smoke:
        budget = Budget(train_scale=0.01, width_scale=0.25, short=3, long=6, rounds=2)
        cache = Path(tempfile.mkdtemp(prefix="bench_fix_smoke_"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); cache {cache}")
    summary: list[tuple[str, str, bool, str]] = []
    for name in names:
        case = load_or_train(name, cache, budget, args.retrain)
        outcome = run_case(case, budget)
        print_case(case, outcome)
        summary += [(name, *check) for check in check_targets(case, outcome, budget)]
    print("\ntargets (issue 10, 'Done when'):")
    for name, what, ok, value in summary:
        print(f"  {'met ' if ok else 'MISS'}  {name:14} {what:52} {value}")


if __name__ == "__main__":
    main()
