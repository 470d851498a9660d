"""The zoo's published architectures: shapes, layer layouts and the written expectations.

References: the papers' and reference repositories' layer configurations (kernel, stride,
padding, groups, where each block sits), the output-size arithmetic of convolutions, the
functional calls recorded while the model runs, and, for the expected overlap, a brute
force with torch itself (all-ones kernels on all-ones inputs, autograd for gradients).
No audit is run here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm
from torch.overrides import TorchFunctionMode

from checkerscope import zoo
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import FIR, AvgPool, Conv, Deconv, PixelShuffle, Resize, overlap
from checkerscope.zoo import ExpectedPath

# Output shapes from each architecture's arithmetic, for its registry input:
# conv length out = floor((L + 2p - k) / s) + 1, deconv out = (L - 1) s - 2p + k + op.
EXPECTED_OUTPUT_SHAPES: dict[str, Any] = {
    "cyclegan_resnet": (1, 3, 256, 256),  # two k3 s2 p1 halvings, two x2 deconvs
    "patchgan70": (1, 1, 30, 30),  # 256 -> 128 -> 64 -> 32 -> 31 -> 30
    "pix2pixhd_global": (1, 3, 512, 1024),
    "espcn_separate": (1, 1, 192, 192),  # x3
    "espcn_functional": (1, 1, 192, 192),
    "srgan": (1, 3, 256, 256),  # x4
    "esrgan_rrdb": (1, 3, 256, 256),  # x4
    "hifigan_v1": (1, 1, 32 * 256),  # hop 8 * 8 * 2 * 2 samples per mel frame
    # k41 p20: ceil(L / s); AvgPool1d(4, 2, p2): L / 2 + 1
    # scale 1: 8192 -> 4096 -> 2048 -> 512 -> 128; scale 2: 4097 -> 2049 -> 1025 -> 257
    # -> 65; scale 3: 2049 -> 1025 -> 513 -> 129 -> 33
    "hifigan_msd": [(1, 1, 128), (1, 1, 65), (1, 1, 33)],
    "melgan_weightnorm": (1, 1, 32 * 256),
    # k41 s4 p20 four times: L / 256; AvgPool1d(4, 2, p1) halves: 8192, 4096, 2048
    "melgan_msd": [(1, 1, 32), (1, 1, 16), (1, 1, 8)],
    "wavegan": (1, 1, 16384),  # 16 * 4**5
    "vqgan_encoder": (1, 8, 16, 16),  # f16
    "vqgan_decoder": (1, 3, 256, 256),
    # 572 -2 -2 /2 ... bottom 28, then x2 -4 per level: 56-4, 104-4, 200-4, 392-4
    "unet": (1, 2, 388, 388),
    "stylegan2_block": (1, 3, 256, 256),
}

LEGACY_WEIGHT_NORM = ["hifigan_v1", "hifigan_msd", "melgan_weightnorm", "melgan_msd"]


def _outputs(model: nn.Module, example: Any) -> Any:
    args = example if isinstance(example, tuple) else (example,)
    with torch.no_grad():
        return model(*args)


def _shapes(out: Any) -> Any:
    if isinstance(out, tuple):
        return [tuple(o.shape) for o in out]
    return tuple(out.shape)


class _Recorder(TorchFunctionMode):
    """Records the torch functions a forward pass calls (outermost calls only)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        self.calls.append((getattr(func, "__name__", str(func)), args, kwargs))
        return func(*args, **kwargs)

    def named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for n, args, kwargs in self.calls if n == name]


def _recorded(model: nn.Module, *inputs: torch.Tensor) -> _Recorder:
    with torch.no_grad(), _Recorder() as recorder:
        model(*inputs)
    return recorder


def _geometry(m: nn.Module) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, output_padding) of a 1-D or square 2-D layer."""
    op = getattr(m, "output_padding", (0,))[0]
    return (m.kernel_size[0], m.stride[0], m.padding[0], op)


def _of(model: nn.Module, kind: type | tuple[type, ...]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_published_architectures_apart_from_the_reference_models() -> None:
    assert set(zoo.ARCHITECTURES) == set(EXPECTED_OUTPUT_SHAPES)
    assert not set(zoo.ARCHITECTURES) & set(zoo.MODELS)
    for name, entry in zoo.ARCHITECTURES.items():
        assert entry.name == name and entry.description and entry.kind
        assert entry.expected is not None and entry.expected.paths
        assert zoo.get(f"zoo:{name}") is entry
    assert all(entry.expected is None for entry in zoo.MODELS.values())


def test_get_names_every_choice_on_error() -> None:
    with pytest.raises(CheckerscopeError, match="dcgan64.*wavegan|wavegan.*dcgan64") as info:
        zoo.get("zoo:nope")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_every_architecture_runs_its_native_input_to_the_published_shape(name: str) -> None:
    entry = zoo.ARCHITECTURES[name]
    model = entry.build().eval()
    out = _outputs(model, entry.example_input())
    assert _shapes(out) == EXPECTED_OUTPUT_SHAPES[name]
    for tensor in out if isinstance(out, tuple) else (out,):
        assert torch.isfinite(tensor).all()


def test_builds_print_nothing_warn_nothing_and_stay_small(capsys) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = {name: entry.build() for name, entry in zoo.ARCHITECTURES.items()}
    assert [str(w.message) for w in caught] == []
    assert capsys.readouterr() == ("", "")
    for name, model in models.items():
        megabytes = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
        assert megabytes < 50, name


def test_example_inputs_are_deterministic_and_stylegan_gets_its_latent() -> None:
    entry = zoo.ARCHITECTURES["stylegan2_block"]
    x, w = entry.example_input(1)
    assert x.shape == (1, 16, 128, 128) and w.shape == (1, 64)
    again = entry.example_input(1)
    assert torch.equal(x, again[0]) and torch.equal(w, again[1])
    wavegan = zoo.ARCHITECTURES["wavegan"]
    assert torch.equal(wavegan.example_input(2), wavegan.example_input(2))
    assert not torch.equal(wavegan.example_input(2), wavegan.example_input(3))


# --------------------------------------------------------------------------- image models


def test_cyclegan_generator_layout() -> None:
    g = zoo.cyclegan_resnet_generator(width=4)
    convs = _of(g, (nn.Conv2d, nn.ConvTranspose2d))
    assert [_geometry(m) for m in convs] == (
        [(7, 1, 0, 0), (3, 2, 1, 0), (3, 2, 1, 0)]  # c7s1-64 (after reflection pad 3), d128, d256
        + [(3, 1, 0, 0)] * 18  # R256 x 9, reflection padded
        + [(3, 2, 1, 1)] * 2  # u128, u64
        + [(7, 1, 0, 0)]  # c7s1-3
    )
    assert [m.out_channels for m in convs] == [4, 8, 16] + [16] * 18 + [8, 4, 3]
    assert len(_of(g, nn.ReflectionPad2d)) == 2 + 18
    assert len(_of(g, nn.InstanceNorm2d)) == 3 + 18 + 2
    assert isinstance(list(g.modules())[-1], nn.Tanh)


def _receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    field = 1
    for kernel, stride in reversed(layers):
        field = (field - 1) * stride + kernel
    return field


def test_patchgan_is_c64_c128_c256_c512_with_a_70_pixel_receptive_field() -> None:
    d = zoo.patchgan_discriminator(width=64)
    convs = _of(d, nn.Conv2d)
    assert [(m.kernel_size, m.stride, m.padding) for m in convs] == [
        ((4, 4), (s, s), (1, 1)) for s in (2, 2, 2, 1, 1)
    ]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512, 1]
    assert _receptive_field([(m.kernel_size[0], m.stride[0]) for m in convs]) == 70
    assert len(_of(d, nn.InstanceNorm2d)) == 3  # none on C64


def test_pix2pixhd_global_generator_layout() -> None:
    g = zoo.pix2pixhd_global_generator(width=2)
    assert [_geometry(m) for m in _of(g, nn.Conv2d) if m.stride[0] == 2] == [(3, 2, 1, 0)] * 4
    assert [_geometry(m) for m in _of(g, nn.ConvTranspose2d)] == [(3, 2, 1, 1)] * 4
    assert [m.out_channels for m in _of(g, nn.ConvTranspose2d)] == [16, 8, 4, 2]
    assert len(_of(g, nn.InstanceNorm2d)) == 1 + 4 + 18 + 4
    assert type(g).__name__ == "GlobalGenerator"


def test_unet_has_k2_s2_up_convs_unpadded_convs_and_cropped_skips() -> None:
    net = zoo.unet(width=2)
    assert [_geometry(m) for m in _of(net, nn.ConvTranspose2d)] == [(2, 2, 0, 0)] * 4
    assert [m.out_channels for m in _of(net, nn.ConvTranspose2d)] == [16, 8, 4, 2]
    convs = _of(net, nn.Conv2d)
    assert [_geometry(m) for m in convs] == [(3, 1, 0, 0)] * 18 + [(1, 1, 0, 0)]
    assert len(_of(net, nn.MaxPool2d)) == 1  # one module, applied four times
    recorder = _recorded(net, torch.zeros(1, 1, 572, 572))
    assert len(recorder.named("max_pool2d")) == 4
    assert len(recorder.named("cat")) == 4  # one skip concatenation per level


def test_stylegan2_block_filters_with_functional_calls_and_a_fixed_buffer() -> None:
    block = zoo.stylegan2_synthesis_block(4, 4, w_dim=8)
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    assert torch.allclose(block.resample_filter, torch.outer(taps, taps) / 64 * 4)
    assert "resample_filter" not in block.state_dict()
    assert not any(p is block.resample_filter for p in block.parameters())
    assert _of(block, (nn.Conv2d, nn.ConvTranspose2d)) == []
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 8)
    recorder = _recorded(block, x, w)
    ((deconv_args, deconv_kwargs),) = recorder.named("conv_transpose2d")
    assert deconv_args[1].shape[-2:] == (3, 3) and deconv_kwargs["stride"] == 2
    fir_calls = [
        (args, kwargs) for args, kwargs in recorder.named("conv2d") if args[1].shape[-2:] == (4, 4)
    ]
    assert len(fir_calls) == 2  # after the transposed conv, and in the toRGB skip
    for args, kwargs in fir_calls:
        assert kwargs["groups"] == args[0].shape[1]  # per channel
        assert torch.allclose(args[1][0, 0], block.resample_filter)
    assert block(x).shape == (2, 3, 16, 16)  # w defaults to the zero latent
    with pytest.raises(CheckerscopeError, match=r"\(2, 4, 8\)"):
        block(torch.zeros(2, 4, 8))


# --------------------------------------------------------------------------- super-resolution


def test_espcn_keeps_conv_and_shuffle_apart_and_the_functional_variant_matches() -> None:
    separate = zoo.espcn_separate(scale=3, width=8)
    functional = zoo.espcn_functional(scale=3, width=8)
    assert isinstance(separate.conv, nn.Conv2d) and separate.conv.out_channels == 9
    assert isinstance(separate.shuffle, nn.PixelShuffle) and separate.shuffle.upscale_factor == 3
    assert _of(functional, nn.PixelShuffle) == []
    assert [_geometry(m)[0] for m in _of(separate, nn.Conv2d)] == [5, 3, 3]
    functional.load_state_dict(separate.state_dict())
    x = torch.randn(1, 1, 7, 7)
    with torch.no_grad():
        assert torch.equal(functional(x), separate(x))
    ((args, _),) = _recorded(functional, x).named("pixel_shuffle")
    assert args[1] == 3


def test_srgan_upsample_blocks_have_separate_conv_and_shuffle() -> None:
    g = zoo.srgan_generator(width=4, n_residual=16)
    assert len(g.upsample) == 2
    for block in g.upsample:
        assert _geometry(block.conv) == (3, 1, 1, 0) and block.conv.out_channels == 16
        assert isinstance(block.shuffle, nn.PixelShuffle) and block.shuffle.upscale_factor == 2
    assert len(g.residuals) == 16
    assert [_geometry(m)[0] for m in (g.block1[0], g.conv_out)] == [9, 9]


def test_esrgan_upsamples_by_nearest_interpolation_and_conv() -> None:
    g = zoo.esrgan_rrdb(width=4, growth=2, n_blocks=2)
    assert _of(g, (nn.ConvTranspose2d, nn.PixelShuffle)) == []
    recorder = _recorded(g, torch.zeros(1, 3, 8, 8))
    resizes = recorder.named("interpolate")
    assert [(kwargs["scale_factor"], kwargs["mode"]) for _, kwargs in resizes] == [
        (2.0, "nearest")
    ] * 2
    dense = g.trunk[0].rdb1.convs
    assert [m.in_channels for m in dense] == [4, 6, 8, 10, 12]  # every earlier output fed
    assert [m.out_channels for m in dense] == [2, 2, 2, 2, 4]


# --------------------------------------------------------------------------- autoencoders


def test_vqgan_encoder_pads_asymmetrically_before_each_stride_two_conv() -> None:
    e = zoo.vqgan_encoder(ch=4, z_channels=4)
    strided = [m for m in _of(e, nn.Conv2d) if m.stride[0] == 2]
    assert [_geometry(m) for m in strided] == [(3, 2, 0, 0)] * 4
    recorder = _recorded(e, torch.zeros(1, 3, 256, 256))
    assert [args[1] for args, _ in recorder.named("pad")] == [(0, 1, 0, 1)] * 4
    assert len(_of(e, nn.GroupNorm)) > 0
    attention = [m for m in e.modules() if type(m).__name__ == "_VQAttention"]
    assert len(attention) == 3  # two at 16x16, one in the middle


def test_vqgan_decoder_resizes_with_nearest_and_has_no_transposed_conv() -> None:
    d = zoo.vqgan_decoder(ch=4, z_channels=4)
    assert _of(d, nn.ConvTranspose2d) == []
    recorder = _recorded(d, torch.zeros(1, 4, 16, 16))
    assert [kwargs["mode"] for _, kwargs in recorder.named("interpolate")] == ["nearest"] * 4
    attention = [m for m in d.modules() if type(m).__name__ == "_VQAttention"]
    assert len(attention) == 4  # three at 16x16, one in the middle


# --------------------------------------------------------------------------- audio


def _weight_normed(module: nn.Module) -> bool:
    hooks = module._forward_pre_hooks.values()
    legacy = any(isinstance(h, WeightNorm) for h in hooks)
    return legacy and hasattr(module, "weight_g") and hasattr(module, "weight_v")


def _spectral_normed(module: nn.Module) -> bool:
    hooks = module._forward_pre_hooks.values()
    legacy = any(isinstance(h, SpectralNorm) for h in hooks)
    return legacy and hasattr(module, "weight_orig")


@pytest.mark.parametrize("name", LEGACY_WEIGHT_NORM)
def test_vocoders_and_their_discriminators_use_the_legacy_weight_norm(name: str) -> None:
    model = zoo.ARCHITECTURES[name].build()
    convs = _of(model, (nn.Conv1d, nn.ConvTranspose1d))
    assert convs
    if name == "hifigan_msd":  # the first scale uses spectral norm, as published
        first = set(map(id, _of(model.discriminators[0], nn.Conv1d)))
        assert all(_spectral_normed(m) for m in convs if id(m) in first)
        convs = [m for m in convs if id(m) not in first]
    assert all(_weight_normed(m) for m in convs)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in convs)


def test_hifigan_v1_layout() -> None:
    g = zoo.hifigan_generator(initial_channels=32)
    assert [_geometry(m) for m in g.ups] == [
        (16, 8, 4, 0),
        (16, 8, 4, 0),
        (4, 2, 1, 0),
        (4, 2, 1, 0),
    ]
    assert [m.out_channels for m in g.ups] == [16, 8, 4, 2]
    assert len(g.resblocks) == 4 * 3
    for block, kernel in zip(g.resblocks, [3, 7, 11] * 4, strict=True):
        assert [(c.kernel_size[0], c.dilation[0], c.padding[0]) for c in block.convs1] == [
            (kernel, d, d * (kernel - 1) // 2) for d in (1, 3, 5)
        ]
        assert [c.padding[0] for c in block.convs2] == [(kernel - 1) // 2] * 3
    assert _geometry(g.conv_pre) == (7, 1, 3, 0) and _geometry(g.conv_post) == (7, 1, 3, 0)
    assert g(torch.zeros(1, 80, 3)).shape == (1, 1, 3 * 256)


def test_hifigan_msd_layout() -> None:
    d = zoo.hifigan_discriminator(width=16)
    for scale in d.discriminators:
        layout = [(m.kernel_size[0], m.stride[0], m.padding[0], m.groups) for m in scale.convs]
        assert layout == [
            (15, 1, 7, 1),
            (41, 2, 20, 4),
            (41, 2, 20, 16),
            (41, 4, 20, 16),
            (41, 4, 20, 16),
            (41, 1, 20, 16),
            (5, 1, 2, 1),
        ]
        assert [m.out_channels for m in scale.convs] == [16, 16, 32, 64, 128, 128, 128]
    assert [(p.kernel_size, p.stride, p.padding) for p in d.meanpools] == [((4,), (2,), (2,))] * 2


def test_melgan_published_generator_and_discriminator_layout() -> None:
    g = zoo.melgan_generator(mel_channels=8, width=32, weight_norm=True, conv_shortcut=True)
    assert [_geometry(m) for m in _of(g, nn.ConvTranspose1d)] == [
        (16, 8, 4, 0),
        (16, 8, 4, 0),
        (4, 2, 1, 0),
        (4, 2, 1, 0),
    ]
    stacks = [m for m in g.modules() if type(m).__name__ == "_MelResStack"]
    assert [[b[2].dilation[0] for b in s.blocks] for s in stacks] == [[1, 3, 9]] * 4
    assert all(s.shortcuts is not None and len(s.shortcuts) == 3 for s in stacks)
    d = zoo.melgan_discriminator(n_scales=1, width=16)  # published widths, one scale
    strided = [m for m in _of(d, nn.Conv1d) if m.stride[0] > 1]
    assert [(m.kernel_size[0], m.stride[0], m.padding[0]) for m in strided] == [(41, 4, 20)] * 4
    assert [(m.in_channels, m.out_channels, m.groups) for m in strided] == [
        (16, 64, 4),
        (64, 256, 16),
        (256, 1024, 64),
        (1024, 1024, 256),
    ]
    pool = zoo.melgan_discriminator(width=4, max_channels=16).downsample
    assert (pool.kernel_size, pool.stride, pool.padding) == ((4,), (2,), (1,))
    assert pool.count_include_pad is False


def test_melgan_default_is_unchanged_for_the_reference_entry() -> None:
    g = zoo.MODELS["melgan"].build()
    assert not any(_weight_normed(m) for m in g.modules())
    stacks = [m for m in g.modules() if type(m).__name__ == "_MelResStack"]
    assert all(s.shortcuts is None for s in stacks)


def test_wavegan_layout() -> None:
    g = zoo.wavegan_generator(d=2)
    assert [_geometry(m) for m in g.deconvs] == [(25, 4, 11, 1)] * 5
    assert [m.out_channels for m in g.deconvs] == [16, 8, 4, 2, 1]
    assert g.fc.out_features == 16 * 16 * 2
    assert g(torch.zeros(1, 100)).shape == (1, 1, 16 * 4**5)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: zoo.hifigan_discriminator(width=24), "multiple of 16, got 24"),
        (lambda: zoo.melgan_discriminator(width=6), "multiple of 4, got 6"),
        (lambda: zoo.hifigan_generator(upsample_kernels=(16, 16)), "2 kernels for 4 rates"),
        (lambda: zoo.vqgan_encoder(resolution=100), "100 is not divisible by 2\\*\\*4"),
        (lambda: zoo.unet(padding=2), "got 2"),
        (lambda: zoo.wavegan_generator(d=0), "d must be a positive int, got 0"),
    ],
)
def test_bad_arguments_raise_one_line_errors(factory: Callable[[], Any], message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message) as info:
        factory()
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- expectations


def _dims(name: str, path: ExpectedPath) -> int:
    entry = zoo.ARCHITECTURES[name]
    if path.direction == "backward":
        return len(entry.input_shape) - 2
    shape = EXPECTED_OUTPUT_SHAPES[name]
    return len(shape) - 2


def _factors(spec: Any) -> tuple[int, int]:
    """(up, down) of one spec along one axis."""
    if isinstance(spec, FIR):
        return (spec.stride, 1) if spec.transposed else (1, spec.stride)
    if isinstance(spec, (Deconv, PixelShuffle, Resize)):
        return (spec.stride if isinstance(spec, Deconv) else spec.scale), 1
    if isinstance(spec, (Conv, AvgPool)):
        return 1, spec.stride or spec.kernel
    return 1, 1


def _nulls_the_grid(fir: FIR, stride: int) -> bool:
    """Whether the filter's response is zero at every frequency of a period-``stride``
    grid (2 pi k / stride, k = 1 .. stride - 1): then no learned weights before it can
    leave such a grid."""
    (taps,) = fir.taps
    return all(
        abs(sum(t * complex(math.cos(w * n), -math.sin(w * n)) for n, t in enumerate(taps))) < 1e-9
        for w in (2 * math.pi * k / stride for k in range(1, stride))
    )


def _layer_periods(path: ExpectedPath) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(uneven, learnable) periods on the model's grid, from each layer's own pattern; a
    layer followed by a stride-1 fixed filter is judged with it."""
    uneven, learnable = set(), set()
    for i, spec in enumerate(path.specs):
        after = path.specs[i + 1] if i + 1 < len(path.specs) else None
        judged = [spec]
        if isinstance(after, FIR) and after.stride == 1 and not after.transposed:
            if _nulls_the_grid(after, _factors(spec)[0]):
                continue  # filtered: artifact-free whatever the weights
            judged.append(after)
        if isinstance(spec, FIR) and spec.stride == 1:
            continue  # judged with the layer before it
        own = overlap(judged, dims=1, direction=path.direction)
        others = path.specs[i + 1 :] if path.direction == "forward" else path.specs[:i]
        up = math.prod(_factors(s)[0] for s in others)
        down = math.prod(_factors(s)[1] for s in others)
        scale = up / down if path.direction == "forward" else down / up
        resampling = isinstance(spec, (Deconv, PixelShuffle)) or (
            isinstance(spec, Conv) and spec.stride > 1
        )
        if not own.is_even:
            uneven.add(round(own.period[0] * scale))
        elif resampling and own.structural_period[0] > 1:
            learnable.add(round(own.structural_period[0] * scale))
    return tuple(sorted(uneven)), tuple(sorted(learnable))


ALL_PATHS = [
    pytest.param(name, i, id=f"{name}-{i}")
    for name, entry in zoo.ARCHITECTURES.items()
    for i in range(len(entry.expected.paths))
]


@pytest.mark.parametrize(("name", "index"), ALL_PATHS)
def test_written_periods_follow_from_each_layer_of_the_path(name: str, index: int) -> None:
    path = zoo.ARCHITECTURES[name].expected.paths[index]
    uneven, learnable = _layer_periods(path)
    assert path.periods == uneven
    assert path.learnable_periods == learnable
    if path.overlap == "uneven":
        assert path.periods
    if path.overlap == "even":
        assert not path.periods and path.learnable_periods


@pytest.mark.parametrize(("name", "index"), ALL_PATHS)
def test_written_compound_agrees_with_the_overlap_engine(name: str, index: int) -> None:
    path = zoo.ARCHITECTURES[name].expected.paths[index]
    if not path.specs:  # no resampling on the path: nothing breaks the uniform map
        assert (path.period, path.unevenness, path.overlap) == (1, 1.0, "free")
        return
    dims = _dims(name, path)
    engine = overlap(list(path.specs), dims=dims, direction=path.direction)
    assert engine.period == (path.period,) * dims
    assert engine.unevenness == pytest.approx(path.unevenness, rel=1e-12)


def _torch_stack_1d(specs: Sequence[Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The path as torch ops on one channel with all-ones kernels (the brute force)."""

    def run(x: torch.Tensor) -> torch.Tensor:
        for s in specs:
            if isinstance(s, Deconv):
                ones = torch.ones(1, 1, s.kernel, dtype=x.dtype)
                x = F.conv_transpose1d(x, ones, None, s.stride, s.padding, s.output_padding)
            elif isinstance(s, Conv):
                ones = torch.ones(1, 1, s.kernel, dtype=x.dtype)
                x = F.conv1d(x, ones, None, s.stride, s.padding, s.dilation)
            elif isinstance(s, AvgPool):
                x = F.avg_pool1d(x, s.kernel, s.stride, s.padding)
            elif isinstance(s, Resize):
                x = F.interpolate(x, scale_factor=float(s.scale), mode="nearest")
            elif isinstance(s, PixelShuffle):  # sub-pixel conv with all-ones weights
                x = x.repeat_interleave(s.scale, dim=-1)
            elif isinstance(s, FIR):
                taps = torch.tensor(s.taps[0], dtype=x.dtype).view(1, 1, -1)
                step = F.conv_transpose1d if s.transposed else F.conv1d
                x = step(x, taps, None, s.stride, s.padding)
            else:  # pragma: no cover - every spec of the zoo is handled above
                raise AssertionError(s)
        return x

    return run


def _interior(signal: torch.Tensor, period: int) -> torch.Tensor:
    middle = signal[signal.numel() // 4 : 3 * signal.numel() // 4]
    assert middle.numel() >= 4 * period
    return middle


@pytest.mark.parametrize(("name", "index"), ALL_PATHS)
def test_written_compound_agrees_with_a_torch_brute_force(name: str, index: int) -> None:
    path = zoo.ARCHITECTURES[name].expected.paths[index]
    run = _torch_stack_1d(path.specs)
    up = math.prod(_factors(s)[0] for s in path.specs)
    down = math.prod(_factors(s)[1] for s in path.specs)
    if path.direction == "forward":
        length = max(64, 64 * path.period // up)
        signal = run(torch.ones(1, 1, length, dtype=torch.float64))[0, 0]
    else:
        x = torch.ones(1, 1, 64 * max(path.period, down), dtype=torch.float64)
        x.requires_grad_(True)
        (signal,) = torch.autograd.grad(run(x).sum(), x)
        signal = signal[0, 0]
    middle = _interior(signal, path.period)
    # periodic with the written period, and with no period it divides
    assert torch.allclose(middle[path.period :], middle[: -path.period], rtol=1e-12)
    for smaller in (p for p in range(1, path.period) if path.period % p == 0):
        assert not torch.allclose(middle[smaller:], middle[:-smaller], rtol=1e-12)
    one_axis = (middle.max() / middle.min()).item()
    dims = _dims(name, path)
    assert one_axis**dims == pytest.approx(path.unevenness, rel=1e-9)


def test_stylegan2_fir_evens_the_deconv_in_2d_with_the_models_own_filter() -> None:
    fir = zoo.stylegan2_synthesis_block(1, 1, w_dim=1).resample_filter * 16  # integer taps
    ones = torch.ones(1, 1, 24, 24, dtype=torch.float64)
    deconv = F.conv_transpose2d(ones, torch.ones(1, 1, 3, 3, dtype=torch.float64), stride=2)
    bare = deconv[0, 0, 8:-8, 8:-8]
    assert bare.max() / bare.min() == 4  # 2:1 per axis without the filter
    filtered = F.conv2d(deconv, fir.view(1, 1, 4, 4).double())[0, 0, 8:-8, 8:-8]
    assert torch.all(filtered == filtered[0, 0])  # 12 * 12 = 144 on every phase
    assert filtered[0, 0] == 144
    inserted = torch.zeros(1, 1, 48, 48, dtype=torch.float64)
    inserted[..., ::2, ::2] = 1  # zero insertion
    skip = F.conv2d(inserted, fir.view(1, 1, 4, 4).double())[0, 0, 8:-8, 8:-8]
    assert torch.all(skip == 16)  # 4 * 4 on every phase


def test_fir_taps_cancel_the_period_two_grid_for_any_weights() -> None:
    (taps,) = zoo.get("stylegan2_block").expected.paths[0].specs[1].taps
    # the response at the Nyquist frequency, where a period-2 grid lives: (1 - 3 + 3 - 1)
    assert sum(t * (-1) ** n for n, t in enumerate(taps)) == 0
    grid = torch.tensor([1.0, -1.0] * 16).view(1, 1, -1)  # any period-2 pattern
    out = F.conv1d(grid, torch.tensor(taps, dtype=torch.float32).view(1, 1, -1))
    assert torch.all(out == 0)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_verdict_follows_from_the_paths_and_fix_sites_exist(name: str) -> None:
    entry = zoo.ARCHITECTURES[name]
    expected = entry.expected
    judgements = {path.overlap for path in expected.paths}
    if expected.decided_by == "overlap":
        if expected.verdict == "artifacts":
            assert "uneven" in judgements
        else:
            assert judgements == {"free"}
    else:
        assert "uneven" not in judgements and "even" in judgements
    # the leading path is the worst one
    assert expected.leading.unevenness == max(p.unevenness for p in expected.paths)
    assert expected.periods == tuple(sorted({p for q in expected.paths for p in q.periods}))
    # fix sites: strided transposed convs and conv -> pixel-shuffle pairs of the model
    model = entry.build()
    example = entry.example_input()
    recorder = _recorded(model, *(example if isinstance(example, tuple) else (example,)))
    deconvs = [m for m in _of(model, (nn.ConvTranspose1d, nn.ConvTranspose2d)) if m.stride[0] > 1]
    # PixelShuffle modules call F.pixel_shuffle too: one recorded call per shuffle
    sites = len(deconvs) + len(recorder.named("pixel_shuffle"))
    assert len(expected.fix) == sites
