"""cs.audit on the zoo and on hand-made models, checked against independent references.

References: the article's verdicts for its three random-init generators; brute-force
coverage computed by torch itself (all-ones weights on all-ones inputs, and autograd for
gradients) for the patterns the report attributes to layers; ``torch.fx``'s own failure
on data-dependent control flow.
"""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import checkerscope as cs
from checkerscope import zoo
from checkerscope.auditing.analysis import (
    EVEN,
    FREE,
    UNEVEN,
    AuditReport,
    natural_noise,
    reinitialise,
)
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import Deconv, overlap


@cache
def structural(name: str) -> AuditReport:
    entry = zoo.MODELS[name]
    return cs.audit(entry.build(), entry.example_input(), probe=False, name=name)


@cache
def probed(name: str) -> AuditReport:
    entry = zoo.MODELS[name]
    return cs.audit(entry.build(), entry.example_input(), seeds=2, name=name)


# name -> (kind, verdicts of the relevant layers that change resolution, periods, artifacts?)
EXPECTED = {
    "dcgan64": ("generator", [FREE] + [EVEN] * 4, (), True),
    "dcgan32": ("generator", [FREE] + [EVEN] * 3, (), True),
    "article_deconv_last2": ("generator", [FREE] * 3 + [UNEVEN] * 2, (2, 4), True),
    "article_deconv_last1": ("generator", [FREE] * 4 + [UNEVEN], (2,), True),
    "article_resize": ("generator", [FREE] * 5, (), False),
    "dcgan64_subpixel": ("generator", [FREE] + [EVEN] * 4, (), False),
    "dcgan64_disc": ("downsampler", [EVEN] * 4, (), False),
    "dcgan32_disc": ("downsampler", [EVEN] * 3, (), False),
    "disc_k3_first_stride2": ("downsampler", [UNEVEN] * 4, (2, 4, 8, 16), True),
    "disc_k3_first_stride1": ("downsampler", [UNEVEN] * 4, (2, 4, 8, 16), True),
    "dcgan64_disc_blurpool": ("downsampler", [FREE] * 4, (), False),
    "pix2pix_unet": ("image-to-image", [EVEN] * 8, (), True),
    "johnson_deconv": ("image-to-image", [UNEVEN] * 2, (2, 4), True),
    "johnson_resize": ("image-to-image", [FREE] * 2, (), False),
    "espcn": ("generator", [EVEN], (), True),
    "srresnet": ("generator", [EVEN] * 2, (), True),
    "vae_decoder": ("generator", [EVEN] * 4, (), True),
    "ldm_decoder": ("generator", [FREE] * 3, (), False),
    "melgan": ("generator", [EVEN] * 4, (), True),
}

# the models whose verdict needs the measurement (no uneven layer decides it)
MEASURED = {name for name, (_, verdicts, _, _) in EXPECTED.items() if UNEVEN not in verdicts}


def test_expectations_cover_the_whole_zoo() -> None:
    assert set(EXPECTED) == set(zoo.MODELS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_structural_verdicts_of_every_zoo_model(name: str) -> None:
    kind, verdicts, periods, _ = EXPECTED[name]
    report = structural(name)
    assert report.kind == kind
    assert [layer.verdict for layer in report.layers if layer.relevant] == verdicts
    assert report.periods == periods
    assert report.init_score is None and report.grad_score is None


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_measured_verdicts_of_the_zoo_models_without_uneven_layers(name: str) -> None:
    assert probed(name).has_artifacts == EXPECTED[name][3]


def test_uneven_zoo_models_have_artifacts_without_probing() -> None:
    for name, (_, verdicts, _, artifacts) in EXPECTED.items():
        if UNEVEN in verdicts:
            assert structural(name).has_artifacts == artifacts, name


def test_article_variants_at_random_init() -> None:
    last2, last1, resize = (
        probed(n) for n in ("article_deconv_last2", "article_deconv_last1", "article_resize")
    )
    # deconvolution in the last two layers: uneven layers at output periods 2 and 4,
    # compounded into a period-4 pattern, and a strong grid at init
    assert [tuple(layer.model_period) for layer in last2.layers[-2:]] == [(4, 4), (2, 2)]
    assert last2.forward.period == (4, 4)
    assert last2.init_score.median_db > 15
    assert last2.init_score.db_by_period[4] > 10
    # deconvolution in the last layer only: period 2
    assert last1.forward.period == (2, 2)
    assert last1.init_score.period == 2 and last1.init_score.median_db > 15
    # resize-convolution throughout: even, and no grid at any period
    assert resize.forward.is_even
    assert max(resize.init_score.db_by_period.values()) < 6
    assert last2.init_score.median_db - resize.init_score.db_by_period[2] > 15


def test_compounded_pattern_matches_torch_coverage_for_the_article_generator() -> None:
    """Two k3 s2 p1 op1 deconvolutions: the report's pattern, against torch with ones."""
    report = structural("article_deconv_last2")
    ones = nn.Sequential(
        *[nn.ConvTranspose2d(1, 1, 3, 2, 1, 1, bias=False) for _ in range(2)]
    ).requires_grad_(False)
    for layer in ones:
        layer.weight.fill_(1.0)
    coverage = ones(torch.ones(1, 1, 12, 12))[0, 0].numpy()
    mine = overlap([s for layer in report.layers[-2:] for s in layer.specs], dims=2)
    # far from the borders the torch map repeats the engine's period
    interior = coverage[8:16, 8:16]
    tiled = np.tile(mine.pattern, (2, 2))
    assert any(
        np.array_equal(np.roll(tiled, (dy, dx), axis=(0, 1)), interior)
        for dy in range(4)
        for dx in range(4)
    )
    assert mine.unevenness == 9.0


def test_melgan_kernel_stride_choices_give_the_engine_pattern() -> None:
    model = zoo.melgan_generator(mel_channels=8, width=32)
    report = cs.audit(model, torch.randn(1, 8, 16), probe=False)
    deconvs = [m for m in model.modules() if isinstance(m, nn.ConvTranspose1d)]
    assert [layer.type for layer in report.layers] == ["ConvTranspose1d"] * 4
    for layer, module in zip(report.layers, deconvs, strict=True):
        assert layer.params["kernel"] == (2 * module.stride[0],)
        assert layer.period == (1,) and layer.unevenness == 1.0
        assert layer.structural_period == module.stride
    assert report.forward.structural_period == (256,)
    # reference: torch's own coverage of the deconvolution stack with all-ones weights
    stack = nn.Sequential(
        *[
            nn.ConvTranspose1d(1, 1, m.kernel_size, m.stride, m.padding, m.output_padding)
            for m in deconvs
        ]
    ).requires_grad_(False)
    for m in stack:
        m.weight.fill_(1.0)
        m.bias.zero_()
    coverage = stack(torch.ones(1, 1, 8))[0, 0].numpy()
    engine = overlap([s for layer in report.layers for s in layer.specs], dims=1)
    assert engine.is_even
    assert np.all(coverage[256:-256] == engine.pattern[0])
    # the same engine flags a vocoder whose kernel is not a multiple of its stride
    uneven = overlap([Deconv(15, 8, 4, 1)], dims=1)
    assert uneven.unevenness == 2.0


def test_discriminator_first_stride2_conv_has_backward_period_2() -> None:
    report = structural("disc_k3_first_stride2")
    first = report.layers[0]
    assert first.direction == "backward" and first.period == (2, 2)
    assert first.model_period == (2, 2) and first.verdict == UNEVEN
    assert report.forward is None and report.backward is not None
    assert 2 in report.periods
    # reference: autograd through a k3 s2 p1 conv with ones weights
    conv = nn.Conv2d(1, 1, 3, 2, 1, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 16, 16, requires_grad=True)
    conv(x).sum().backward()
    grad = x.grad[0, 0, 4:8, 4:8].numpy()
    own = overlap(list(first.specs), dims=2, direction="backward").pattern
    assert np.array_equal(grad, np.tile(own, (2, 2)))
    # DCGAN's k4 s2 spreads gradients evenly: the pattern is learned, not structural
    dcgan_first = structural("dcgan64_disc").layers[0]
    assert dcgan_first.period == (1, 1) and dcgan_first.verdict == EVEN


def test_gradient_probe_runs_for_downsamplers() -> None:
    report = probed("disc_k3_first_stride2")
    assert report.grad_score is not None and report.init_score is None
    assert report.grad_score.samples == 4
    assert set(report.grad_score.db_by_period) == {2, 4, 8, 16}


def test_functional_interpolate_is_found_and_named_after_its_module() -> None:
    report = structural("ldm_decoder")
    assert [layer.type for layer in report.layers] == ["F.interpolate"] * 3
    assert [layer.name for layer in report.layers] == ["levels.1", "levels.3", "levels.5"]
    assert report.forward.structural_period == (8, 8)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it symbolically."""

    def __init__(self) -> None:
        super().__init__()
        self.up_deconv = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.up_resize = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.up_deconv(x)
        return self.up_resize(F.interpolate(x, scale_factor=2, mode="nearest"))


def test_models_with_data_dependent_control_flow_are_audited() -> None:
    model = Branchy()
    with pytest.raises(Exception):  # noqa: B017 - whatever fx raises, it cannot trace this
        torch.fx.symbolic_trace(model)
    positive = cs.audit(model, torch.ones(1, 4, 8, 8), probe=False)
    negative = cs.audit(model, -torch.ones(1, 4, 8, 8), probe=False)
    assert [(layer.name, layer.verdict) for layer in positive.layers] == [("up_deconv", UNEVEN)]
    assert [(layer.type, layer.verdict) for layer in negative.layers] == [("F.interpolate", FREE)]


class Switch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1)
        self.upsample = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x) if bool(x.sum() > 0) else self.upsample(x)


def test_layers_the_example_input_does_not_reach_are_named() -> None:
    report = cs.audit(Switch(), torch.ones(1, 2, 4, 4), probe=False)
    assert [layer.name for layer in report.layers] == ["deconv"]
    assert any(
        "not run on this example input" in n and "upsample (Upsample)" in n for n in report.notes
    )
    clean = cs.audit(zoo.dcgan_generator(32, width=4), torch.zeros(1, 100, 1, 1), probe=False)
    assert not any("not run" in note for note in clean.notes)


def test_pixel_shuffle_and_pooling_and_cs_nn_layers() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 12, 3, padding=1),
        nn.PixelShuffle(2),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        cs.nn.ResizeConv2d(3, 3, 3, scale_factor=2),
        cs.nn.SubPixelConv2d(3, 3, 3, scale_factor=2),
        cs.nn.BlurPool2d(3, stride=2),
    )
    report = cs.audit(model, torch.randn(1, 3, 16, 16), probe=False)
    got = [(layer.type, layer.direction, layer.verdict) for layer in report.layers]
    assert got == [
        ("PixelShuffle", "forward", EVEN),
        ("MaxPool2d", "backward", EVEN),
        ("AvgPool2d", "backward", FREE),
        ("ResizeConv2d", "forward", FREE),
        ("SubPixelConv2d", "forward", EVEN),
        ("BlurPool2d", "backward", FREE),
    ]
    # the inner conv of a checkerscope layer is not reported on its own
    assert all(layer.name in {"1", "2", "3", "4", "5", "6"} for layer in report.layers)


def test_report_renderings() -> None:
    report = probed("article_deconv_last2")
    text = str(report)
    assert "uneven overlap" in text and "ConvTranspose2d" in text and "ARTIFACTS" in text
    assert "periods 2, 4" in text
    data = json.loads(report.to_json())
    assert data["has_artifacts"] is True and data["periods"] == [2, 4]
    assert data["layers"][-1]["verdict"] == UNEVEN
    assert data["init_score"]["period"] == report.init_score.period
    assert data == report.to_dict()


def test_html_report_is_self_contained(tmp_path) -> None:
    report = probed("article_deconv_last2")
    path = tmp_path / "audit.html"
    page = report.to_html(path)
    assert path.read_text() == page
    assert page.count("data:image/png;base64,") >= 2  # heat map and fingerprint
    assert "http://" not in page and "https://" not in page.replace("https://distill", "")
    assert "ConvTranspose2d" in page and "uneven overlap" in page


def test_html_with_fixed_report_shows_before_and_after() -> None:
    entry = zoo.MODELS["dcgan32"]
    model, x = entry.build(), entry.example_input()
    before = cs.audit(model, x, seeds=1)
    after = cs.audit(cs.fix(model, example_input=x), x, seeds=1)
    page = before.to_html(fixed=after)
    assert "before fix (dB)" in page and f"{before.init_score.median_db:.2f}"[:4] in page


def test_audit_leaves_the_model_unchanged() -> None:
    model = zoo.dcgan_generator(32, width=4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cs.audit(model, torch.randn(1, 100, 1, 1), seeds=2)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_bad_inputs_raise_one_line_errors() -> None:
    with pytest.raises(CheckerscopeError, match="nn.Module"):
        cs.audit("not a model", torch.zeros(1))
    with pytest.raises(CheckerscopeError, match="shape 1x3x8x8") as info:
        cs.audit(zoo.dcgan_generator(32, width=4), torch.zeros(1, 3, 8, 8))
    assert "\n" not in str(info.value)
    with pytest.raises(CheckerscopeError, match="seeds"):
        cs.audit(nn.Identity(), torch.zeros(1, 1, 4, 4), seeds=0)


def test_identity_model_is_clean_and_says_why() -> None:
    report = cs.audit(nn.Conv2d(1, 1, 3, padding=1), torch.randn(1, 1, 32, 32), seeds=1)
    assert report.layers == [] and not report.has_artifacts
    assert any("no layer changes resolution" in note for note in report.notes)


def test_reinitialise_is_seeded_and_keeps_icnr() -> None:
    layer = cs.nn.SubPixelConv2d(2, 3, 3, scale_factor=2)
    a, b = reinitialise(layer, 5), reinitialise(layer, 5)
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, reinitialise(layer, 6).weight)
    # ICNR: the four phases of every output channel share one kernel after re-init
    phases = a.weight.reshape(3, 4, 2, 3, 3)
    assert torch.allclose(phases, phases[:, :1].expand_as(phases))


def test_natural_noise_has_a_falling_spectrum() -> None:
    x = natural_noise((4, 1, 64, 64), dims=2, generator=torch.Generator().manual_seed(0))
    power = torch.fft.rfft2(x).abs().square().mean(dim=(0, 1))
    low, high = power[1:4, 1:4].mean(), power[28:32, 28:32].mean()
    assert low > 100 * high
    assert math.isclose(float(x[0].std()), 1.0, rel_tol=1e-3)


def test_cs_audit_stays_the_function_after_its_module_is_imported() -> None:
    import checkerscope.auditing  # noqa: F401 - the import is what is tested

    report = cs.audit(nn.ConvTranspose1d(1, 1, 3, 2), torch.zeros(1, 1, 8), probe=False)
    assert isinstance(report, AuditReport) and report.layers[0].verdict == UNEVEN
