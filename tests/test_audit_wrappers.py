"""Models as users hand them over: weight norm (both APIs), spectral norm, torch.compile,
DataParallel, the meta device, dropout; and what fix does with them.

References: the model's own state before and after (an audit must leave it untouched), the
wrapper classes torch registers, torch's own pickling, and the overlap engine for the
filtered-upsampling pattern.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

import checkerscope as cs
from checkerscope import nn as csnn
from checkerscope.auditing.analysis import FILTERED
from checkerscope.auditing.wrappers import copy_model, legacy_norm_hooks, preserved
from checkerscope.theory import FIR, Deconv, overlap


def _legacy(module: nn.Module, kind: str) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "weight":
            return nn.utils.weight_norm(module)
        return nn.utils.spectral_norm(module)


def _norm(module: nn.Module, api: str) -> nn.Module:
    return {
        "legacy_weight": lambda m: _legacy(m, "weight"),
        "legacy_spectral": lambda m: _legacy(m, "spectral"),
        "weight": parametrizations.weight_norm,
        "spectral": parametrizations.spectral_norm,
    }[api](module)


class Vocoder(nn.Module):
    """A HiFi-GAN-like stack: k16 s8 and k4 s2 transposed convolutions, every layer normed."""

    def __init__(self, api: str) -> None:
        super().__init__()
        self.pre = _norm(nn.Conv1d(8, 16, 7, padding=3), api)
        self.ups = nn.ModuleList(
            [
                _norm(nn.ConvTranspose1d(16, 8, 16, 8, padding=4), api),
                _norm(nn.ConvTranspose1d(8, 4, 3, 2, padding=1, output_padding=1), api),
            ]
        )
        self.post = _norm(nn.Conv1d(4, 1, 7, padding=3), api)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        for up in self.ups:
            x = F.leaky_relu(up(x), 0.1)
        return torch.tanh(self.post(x))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    tensors = {f"p.{n}": t for n, t in model.named_parameters()}
    tensors |= {f"b.{n}": t for n, t in model.named_buffers()}
    return {k: v.detach().clone() for k, v in tensors.items()}


APIS = ["legacy_weight", "legacy_spectral", "weight", "spectral"]


@pytest.mark.parametrize("api", APIS)
def test_normed_models_are_audited_and_left_unchanged(api: str) -> None:
    model = Vocoder(api)
    x = torch.randn(1, 8, 32)
    with torch.no_grad():
        model(x)  # legacy hooks leave a computed (non-leaf) weight on each module
    before = _state(model)
    computed = {id(m): m.__dict__.get("weight") for m in model.modules()}
    report = cs.audit(model, x, seeds=2)
    assert [layer.type.endswith("ConvTranspose1d") for layer in report.layers] == [True, True]
    assert [layer.verdict for layer in report.layers] == [
        "even, can learn artifacts",
        "uneven overlap",
    ]
    assert report.periods == (2,) and report.has_artifacts
    assert report.init_score is not None and report.given_score is not None
    after = _state(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {id(m): m.__dict__.get("weight") for m in model.modules()} == computed


@pytest.mark.parametrize("api", APIS)
def test_fix_keeps_the_wrapper_the_user_chose(api: str) -> None:
    model = Vocoder(api)
    x = torch.randn(1, 8, 32)
    fixed = cs.fix(model, example_input=x)
    replaced = [m for m in fixed.modules() if "ResizeConv1d" in type(m).__name__]
    assert len(replaced) == 2
    for layer in replaced:
        if api.startswith("legacy"):
            kinds = {type(h).__name__ for h in legacy_norm_hooks(layer)}
            assert kinds == {"WeightNorm" if api == "legacy_weight" else "SpectralNorm"}
        else:
            assert parametrize.is_parametrized(layer, "weight")
            (wrapper,) = layer.parametrizations.weight
            assert type(wrapper).__name__ == ("_WeightNorm" if api == "weight" else "_SpectralNorm")
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape
    before = cs.audit(model, x, seeds=2).init_score
    after = cs.audit(fixed, x, seeds=2).init_score
    assert before is not None and after is not None
    assert after.db_by_period[before.period] <= before.median_db - 10
    # a fresh init of the fixed, weight-normed model really changes its weights
    assert after.db_by_period != before.db_by_period


def test_copy_model_copies_legacy_weight_norm_and_leaves_the_original() -> None:
    model = Vocoder("legacy_weight")
    model(torch.randn(1, 8, 16))
    with pytest.raises(RuntimeError, match="graph leaves"):
        import copy

        copy.deepcopy(model)  # what the audit used to do
    clone = copy_model(model)
    assert torch.equal(clone.ups[0].weight_v, model.ups[0].weight_v)
    assert model.ups[0].weight.grad_fn is not None  # the original's computed weight is back
    torch.save(clone, io.BytesIO())


def test_preserved_restores_after_an_exception() -> None:
    layer = nn.BatchNorm1d(3)
    before = _state(layer)
    with pytest.raises(ValueError), preserved(layer):
        layer(torch.randn(4, 3, 8) * 5 + 2)  # updates running statistics
        layer.eval()
        raise ValueError
    assert layer.training
    assert all(torch.equal(before[k], v) for k, v in _state(layer).items())


def test_compiled_and_data_parallel_models_are_looked_through() -> None:
    inner = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, 2, 1, 1))
    x = torch.randn(1, 4, 8, 8)
    plain = cs.audit(inner, x, seeds=1)
    for wrapped in (torch.compile(inner), nn.DataParallel(inner)):
        report = cs.audit(wrapped, x, seeds=1)
        assert report.periods == plain.periods == (2,)
        assert report.init_score is not None
        assert report.init_score.median_db == pytest.approx(plain.init_score.median_db)
        assert any("wrapper" in note for note in report.notes)
        assert type(cs.fix(wrapped, example_input=x)[0]).__name__ == "ResizeConv2d"


def test_meta_device_models_get_the_structure_only() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ConvTranspose2d(8, 3, 3, 2, 1, 1))
        x = torch.empty(1, 3, 64, 64)
    report = cs.audit(model, x)
    assert report.init_score is None and report.given_score is None
    assert [layer.verdict for layer in report.layers] == ["uneven overlap", "uneven overlap"]
    assert any("meta device" in note for note in report.notes)


def test_dropout_does_not_make_audits_vary() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(4, 8, 4, 2, 1), nn.Dropout(0.5), nn.Conv2d(8, 3, 3))
    x = torch.randn(1, 4, 16, 16)
    first, second = cs.audit(model, x, seeds=2), cs.audit(model, x, seeds=2)
    assert first.init_score is not None and second.init_score is not None
    assert first.init_score.db.tolist() == second.init_score.db.tolist()
    assert first.given_score.db.tolist() == second.given_score.db.tolist()
    assert model[1].training  # dropout back in training mode afterwards


def test_progress_is_called_once_per_forward_pass() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, 2, 1, 1))
    messages: list[str] = []
    cs.audit(model, torch.randn(1, 4, 8, 8), seeds=3, progress=messages.append)
    assert len(messages) == 3 + 3 + 1
    assert messages[-1].endswith("7 of 7")


# --------------------------------------------------------------------------- filtered upsampling


class StyleUp(nn.Module):
    """A StyleGAN2-like upsampling: a k3 s2 transposed convolution with a learned weight,
    then a fixed [1, 3, 3, 1] low-pass (a buffer, applied depthwise with F.conv2d); the skip
    branch upsamples by zero insertion (reshape + pad) and the same filter."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3))
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.register_buffer("kernel", torch.outer(taps, taps) / 16)

    def blur(self, x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
        channels = x.shape[1]
        kernel = (self.kernel * 4)[None, None].repeat(channels, 1, 1, 1)
        return F.conv2d(F.pad(x, pad), kernel, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = self.blur(F.conv_transpose2d(x, self.weight, stride=2), (1, 1, 1, 1))
        skip = F.pad(x.reshape(n, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * w)
        skip = self.blur(skip, (2, 1, 2, 1))
        return y[:, :, : 2 * h, : 2 * w] + skip


def test_filtered_upsampling_is_judged_with_the_filter() -> None:
    report = cs.audit(StyleUp(), torch.randn(1, 4, 16, 16), probe=False)
    kinds = [layer.type for layer in report.layers]
    assert kinds == ["F.conv_transpose2d", "torch.reshape"]
    # each upsampler alone is uneven; with the filter that follows, it is not
    assert [layer.verdict for layer in report.layers] == [FILTERED, FILTERED]
    assert [layer.unevenness for layer in report.layers] == [4.0, float("inf")]
    assert report.layers[1].params["scale"] == (2, 2)  # zero insertion found in the data
    assert len(report.paths) == 2 and all(p.pattern.is_even for p in report.paths)
    assert report.paths[0].specs[-1] == FIR(((1, 3, 3, 1), (1, 3, 3, 1)), 1, 0)
    assert not report.structural_artifacts
    # the engine agrees on its own: deconv k3 s2 then the filter is even, alone it is not
    assert overlap([Deconv(3, 2), FIR((1, 3, 3, 1))], dims=2).is_even
    assert not overlap(Deconv(3, 2), dims=2).is_even


class BuiltInForward(nn.Module):
    """A fixed [1, 3, 3, 1] filter whose weight is built in forward from the input's
    ``new_zeros`` (as diffusers' 1-D resamplers do), at stride 2 down or up."""

    def __init__(self, transposed: bool) -> None:
        super().__init__()
        self.transposed = transposed
        self.register_buffer("kernel", torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        weight = x.new_zeros(channels, channels, 4)
        indices = torch.arange(channels)
        weight[indices, indices] = self.kernel.expand(channels, -1)
        if self.transposed:
            return F.conv_transpose1d(x, 2 * weight, stride=2, padding=1)
        return F.conv1d(F.pad(x, (1, 1)), weight, stride=2)


@pytest.mark.parametrize("transposed", [False, True])
def test_a_filter_built_from_new_zeros_in_forward_is_fixed(transposed: bool) -> None:
    report = cs.audit(BuiltInForward(transposed), torch.randn(1, 3, 32), probe=False)
    (layer,) = report.layers
    assert layer.params["taps"] == ((1, 3, 3, 1),)
    assert layer.verdict == "artifact-free by construction"  # phase sums 4 and 4: even
    assert not report.structural_artifacts


class RepeatThenShuffle(nn.Module):
    """DC-AE's shortcut: each channel repeated, then a depth-to-space."""

    def __init__(self, repeats: int) -> None:
        super().__init__()
        self.repeats = repeats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(x.repeat_interleave(self.repeats, dim=1), 2)


def test_a_shuffle_of_repeated_channels_is_a_nearest_upsampling() -> None:
    x = torch.randn(1, 4, 8, 8)
    (layer,) = cs.audit(RepeatThenShuffle(4), x, probe=False).layers
    assert layer.params["mode"] == "nearest" and layer.verdict == "artifact-free by construction"
    assert torch.equal(RepeatThenShuffle(4)(x), F.interpolate(x, scale_factor=2))
    # two copies fill a 2x2 block with two different channels: a real depth-to-space
    (layer,) = cs.audit(RepeatThenShuffle(2), torch.randn(1, 4, 8, 8), probe=False).layers
    assert layer.type == "F.pixel_shuffle" and layer.verdict == "even, can learn artifacts"
    # an ICNR-initialised conv also outputs repeated channels, but by its weights' values:
    # still a learned depth-to-space
    conv = nn.Conv2d(4, 16, 3, padding=1, bias=False)
    csnn.icnr_(conv.weight, 2)
    shuffle = nn.Sequential(conv, nn.PixelShuffle(2))
    (layer,) = cs.audit(shuffle, torch.randn(1, 4, 8, 8), probe=False).layers
    assert layer.type == "PixelShuffle" and layer.verdict == "even, can learn artifacts"


class WrittenIntoCanvas(nn.Module):
    """Upsampling by writing the input into a zero canvas twice its size, then a 3x3 conv."""

    def __init__(self, phases: list[tuple[int, int]]) -> None:
        super().__init__()
        self.phases = phases
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        canvas = x.new_zeros(n, c, 2 * h, 2 * w)
        for row, col in self.phases:
            canvas[:, :, row::2, col::2] = x
        return self.conv(canvas)


@pytest.mark.parametrize(
    ("phases", "verdict", "periods"),
    [
        ([(0, 0)], "uneven overlap", (2,)),  # zero insertion + k3 conv: a k3 s2 deconv
        ([(0, 0), (0, 1), (1, 0), (1, 1)], "artifact-free by construction", ()),  # nearest
    ],
)
def test_upsampling_by_writing_into_a_canvas(
    phases: list[tuple[int, int]], verdict: str, periods: tuple[int, ...]
) -> None:
    report = cs.audit(WrittenIntoCanvas(phases), torch.randn(1, 3, 8, 8), probe=False)
    (layer,) = report.layers
    assert layer.params["scale"] == (2, 2) and layer.verdict == verdict
    assert report.periods == periods
    assert report.structural_artifacts == bool(periods)


# --------------------------------------------------------------------------- sub-pixel by data flow


class SeparateShuffle(nn.Module):
    """ESPCN/SRGAN style: the conv and the shuffle are separate attributes, and a second
    upsampler calls F.pixel_shuffle in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 16, 5, padding=2)
        self.conv = nn.Conv2d(16, 16 * 4, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = nn.PReLU()
        self.tail = nn.Conv2d(16, 3 * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.shuffle(self.conv(torch.tanh(self.head(x)))))
        return F.pixel_shuffle(self.tail(x), 2)


def test_sub_pixel_pairs_are_fixed_wherever_they_live() -> None:
    torch.manual_seed(0)
    model = SeparateShuffle()
    x = torch.randn(1, 3, 24, 24)
    fixed = cs.fix(model, example_input=x)
    assert type(fixed.conv).__name__ == "ResizeConv2d"
    assert isinstance(fixed.shuffle, nn.Identity)
    assert type(fixed.tail[0]).__name__ == "ResizeConv2d"  # + PixelUnshuffle for F.pixel_shuffle
    assert isinstance(fixed.tail[1], nn.PixelUnshuffle)
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape == (1, 3, 96, 96)
    before = cs.audit(model, x, seeds=2).init_score
    after = cs.audit(fixed, x, seeds=2).init_score
    assert before is not None and after is not None
    assert after.db_by_period[before.period] <= before.median_db - 10


def test_a_conv_output_used_twice_is_not_fused_with_its_shuffle() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return F.pixel_shuffle(y, 2) + y.mean()

    fixed = cs.fix(Twice(), example_input=torch.randn(1, 3, 8, 8))
    assert isinstance(fixed.conv, nn.Conv2d)
    assert any("used elsewhere" in note for note in fixed.checkerscope_fix_notes)


def test_a_functional_transposed_convolution_is_listed_with_the_reason() -> None:
    fixed = cs.fix(StyleUp(), example_input=torch.randn(1, 4, 8, 8))
    assert any(
        "F.conv_transpose2d" in note and "cannot be rewritten" in note
        for note in fixed.checkerscope_fix_notes
    )


def test_downsample_options() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.MaxPool2d(2)
    )
    x = torch.randn(1, 3, 32, 32)
    default = cs.fix(model, example_input=x, downsample=True)
    assert [type(m).__name__ for m in default[0]] == ["Conv2d", "BlurPool2d"]
    assert default[0][0].stride == (1, 1)
    first = cs.fix(model, example_input=x, downsample=True, blur_first=True)
    assert [type(m).__name__ for m in first[0]] == ["BlurPool2d", "Conv2d"]
    assert first[0][1].stride == (2, 2)
    assert torch.equal(first[0][1].weight, model[0].weight)  # the conv keeps its weights
    skipped = cs.fix(model, example_input=x, downsample=True, skip_first=True)
    assert isinstance(skipped[0], nn.Conv2d) and isinstance(skipped[2], nn.Sequential)
    few = cs.fix(model, example_input=x, downsample=True, min_channels=8)
    assert isinstance(few[0], nn.Conv2d) and isinstance(few[2], nn.Sequential)
    for fixed in (default, first, skipped, few):
        with torch.no_grad():
            assert fixed(x).shape == model(x).shape
    # blur-first leaves an even gradient pattern, as the default does
    for fixed in (default, first):
        report = cs.audit(fixed, x, probe=False)
        assert not report.structural_artifacts
