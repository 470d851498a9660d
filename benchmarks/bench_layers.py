"""Speed and backward memory of resize-convolution, fused and naive, against deconvolution.

Prints, per shape, the median forward time (no grad), the median forward+backward time and
the bytes of tensors autograd saves for backward, for:

* naive resize-conv: ``F.interpolate`` (nearest x2) then ``conv2d`` k3;
* fused ``cs.nn.ResizeConv2d`` (the same numbers as one folded transposed convolution);
* the fused path in its other form (one conv to 4 phases + pixel shuffle), with ``--forms``;
* ``ConvTranspose2d(k4, s2, p1)`` and ``ConvTranspose2d(k3, s2, p1, op1)``.

Variants are timed round-robin (one call of each per round) so that load from other
processes hits them alike; medians over ``--repeats`` rounds.

Usage:
    python benchmarks/bench_layers.py [--repeats 15] [--device cpu|cuda] [--threads N]
                                      [--forms] [--quick] [--all]

``--all`` instead times every layer of ``cs.nn`` at one shape (for the README table).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from checkerscope.nn import (
    BilinearAdditiveUpsample2d,
    BlurPool2d,
    FilteredDeconv2d,
    ResizeConv2d,
    SubPixelConv2d,
)
from checkerscope.nn import functional as CF

SHAPES = [
    # (batch, in_channels, out_channels, input size)
    (16, 128, 64, 32),
    (4, 64, 32, 128),
]
QUICK_SHAPES = [(4, 32, 16, 16)]


@dataclass
class Variant:
    name: str
    module: nn.Module
    forward_s: list[float] = field(default_factory=list)
    train_s: list[float] = field(default_factory=list)
    saved_bytes: int = 0


class _FormOverride(nn.Module):
    """ResizeConv2d computed through a named fused form (for the form comparison)."""

    def __init__(self, layer: ResizeConv2d, form: str) -> None:
        super().__init__()
        self.layer, self.form = layer, form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return CF._resize_conv(
            x, self.layer.weight, self.layer.bias, 2, "nearest", "zeros", True, 2, form=self.form
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def saved_for_backward(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd keeps alive for backward after one forward."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(seen.values())


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def run_shape(
    batch: int,
    cin: int,
    cout: int,
    size: int,
    repeats: int,
    device: torch.device,
    forms: bool,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> list[Variant]:
    torch.manual_seed(0)
    fused = ResizeConv2d(cin, cout, 3, scale_factor=2, device=device)
    naive = ResizeConv2d(cin, cout, 3, scale_factor=2, fused=False, device=device)
    naive.load_state_dict(fused.state_dict())
    variants = [Variant("naive interpolate+conv k3", naive), Variant("fused ResizeConv2d", fused)]
    if forms:
        other = "subpixel" if CF._FUSED_FORM == "transpose" else "transpose"
        variants.append(Variant(f"fused, {other} form", _FormOverride(fused, other)))
    variants += [
        Variant("ConvTranspose2d k4 s2 p1", nn.ConvTranspose2d(cin, cout, 4, 2, 1, device=device)),
        Variant(
            "ConvTranspose2d k3 s2 p1 op1",
            nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, device=device),
        ),
    ]
    x = torch.randn(batch, cin, size, size, device=device).to(memory_format=memory_format)
    x_grad = x.clone().requires_grad_(True)
    grad = torch.randn(batch, cout, 2 * size, 2 * size, device=device)
    grad = grad.to(memory_format=memory_format)
    with torch.no_grad():
        reference = naive(x)
        for v in variants[1:3]:
            if isinstance(v.module, (ResizeConv2d, _FormOverride)):
                err = (v.module(x) - reference).abs().max().item()
                assert err < 1e-3, f"{v.name} differs from naive by {err}"

    def forward(module: nn.Module) -> None:
        with torch.no_grad():
            module(x)

    def train(module: nn.Module) -> None:
        module(x_grad).backward(grad)

    for v in variants:  # warm-up (allocator, oneDNN primitive caches)
        v.saved_bytes = saved_for_backward(v.module, x_grad)
        for _ in range(2):
            forward(v.module)
            train(v.module)
    for _ in range(repeats):
        for v in variants:
            v.forward_s.append(_timed(lambda m=v.module: forward(m), device))
            v.train_s.append(_timed(lambda m=v.module: train(m), device))
    return variants


def run_all_layers(repeats: int, device: torch.device) -> list[Variant]:
    """Every upsampling layer of ``cs.nn`` at N16 C128->64 32->64, plus pooling at 64->32."""
    torch.manual_seed(0)
    cin, cout = 128, 64
    upsamplers = [
        Variant("ResizeConv2d nearest (fused)", ResizeConv2d(cin, cout, device=device)),
        Variant("ResizeConv2d nearest, reflect", ResizeConv2d(cin, cout, padding_mode="reflect")),
        Variant(
            "ResizeConv2d nearest (naive)", ResizeConv2d(cin, cout, fused=False, device=device)
        ),
        Variant("ResizeConv2d bilinear", ResizeConv2d(cin, cout, mode="bilinear", device=device)),
        Variant("SubPixelConv2d k3", SubPixelConv2d(cin, cout, device=device)),
        Variant("FilteredDeconv2d k4 hold", FilteredDeconv2d(cin, cout, padding=1, device=device)),
        Variant(
            "FilteredDeconv2d k4 binomial4",
            FilteredDeconv2d(cin, cout, padding=1, smoothing="binomial4", device=device),
        ),
        Variant("BilinearAdditiveUpsample2d", BilinearAdditiveUpsample2d(cin, cout)),
        Variant(
            "BilinearAdditive + conv k3",
            BilinearAdditiveUpsample2d(cin, cout, kernel_size=3, device=device),
        ),
        Variant("ConvTranspose2d k4 s2 p1", nn.ConvTranspose2d(cin, cout, 4, 2, 1, device=device)),
    ]
    poolers = [
        Variant("BlurPool2d f4 s2", BlurPool2d(cout, device=device)),
        Variant("MaxPool2d 2", nn.MaxPool2d(2)),
        Variant("Conv2d k3 s2 p1 (strided)", nn.Conv2d(cout, cout, 3, 2, 1, device=device)),
    ]
    for variants, shape in ((upsamplers, (16, cin, 32, 32)), (poolers, (16, cout, 64, 64))):
        x = torch.randn(shape, device=device, requires_grad=True)
        grads = {v.name: torch.randn_like(v.module(x)) for v in variants}
        for _ in range(repeats + 1):
            for v in variants:
                with torch.no_grad():
                    v.forward_s.append(_timed(lambda m=v.module, x=x: m(x), device))
                g = grads[v.name]
                v.train_s.append(_timed(lambda m=v.module, x=x, g=g: m(x).backward(g), device))
        for v in variants:
            v.forward_s, v.train_s = v.forward_s[1:], v.train_s[1:]
            v.saved_bytes = saved_for_backward(v.module, x)
    return upsamplers + poolers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--forms", action="store_true", help="also time the other fused form")
    parser.add_argument("--quick", action="store_true", help="one tiny shape (smoke test)")
    parser.add_argument("--all", action="store_true", help="every cs.nn layer, one shape")
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="inputs and gradients in channels_last (oneDNN's native layout on CPU)",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
        f"fused form '{CF._FUSED_FORM}', medians of {args.repeats} round-robin rounds, "
        f"{'channels_last' if args.channels_last else 'NCHW'} tensors"
    )
    if args.all:
        variants = run_all_layers(args.repeats, device)
        print("\nupsampling N16 C128->64 32->64; pooling N16 C64 64->32")
        print(f"  {'layer':30} {'forward ms':>11} {'fwd+bwd ms':>11} {'saved MiB':>10}")
        for v in variants:
            print(
                f"  {v.name:30} {1e3 * statistics.median(v.forward_s):11.2f} "
                f"{1e3 * statistics.median(v.train_s):11.2f} {v.saved_bytes / 2**20:10.2f}"
            )
        return
    for batch, cin, cout, size in QUICK_SHAPES if args.quick else SHAPES:
        layout = torch.channels_last if args.channels_last else torch.contiguous_format
        variants = run_shape(batch, cin, cout, size, args.repeats, device, args.forms, layout)
        print(f"\nN{batch} C{cin}->{cout} {size}->{2 * size}")
        print(f"  {'layer':30} {'forward ms':>11} {'fwd+bwd ms':>11} {'saved MiB':>10}")
        for v in variants:
            print(
                f"  {v.name:30} {1e3 * statistics.median(v.forward_s):11.2f} "
                f"{1e3 * statistics.median(v.train_s):11.2f} {v.saved_bytes / 2**20:10.2f}"
            )
        by_name = {v.name: v for v in variants}
        fused_v = by_name["fused ResizeConv2d"]
        naive_v = by_name["naive interpolate+conv k3"]
        deconv_v = by_name["ConvTranspose2d k4 s2 p1"]

        def med(v: Variant, kind: str) -> float:
            return statistics.median(v.train_s if kind == "train" else v.forward_s)

        ratios = [
            ("fused / naive, fwd+bwd", med(fused_v, "train") / med(naive_v, "train"), 0.45),
            ("fused / deconv k4, fwd+bwd", med(fused_v, "train") / med(deconv_v, "train"), 1.15),
            ("fused / naive, saved memory", fused_v.saved_bytes / naive_v.saved_bytes, 0.30),
            ("fused / naive, forward", med(fused_v, "fwd") / med(naive_v, "fwd"), None),
            ("fused / deconv k4, forward", med(fused_v, "fwd") / med(deconv_v, "fwd"), None),
        ]
        for label, value, target in ratios:
            verdict = "" if target is None else ("  ok" if value <= target else "  MISSED")
            goal = "" if target is None else f" (target <= {target:.2f})"
            print(f"  {label:30} {value:6.2f}x{goal}{verdict}")


if __name__ == "__main__":
    main()
