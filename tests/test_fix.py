"""cs.fix: identical output shapes, aligned replacements, and a lower init score."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import checkerscope as cs
from checkerscope import zoo
from checkerscope.auditing.rewrite import PadCrop, replacement_geometry
from checkerscope.errors import CheckerscopeError

DECONV_ZOO = sorted(
    name
    for name, entry in zoo.MODELS.items()
    if any(
        isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)) and max(m.stride) > 1
        for m in entry.build().modules()
    )
)


def test_the_zoo_models_with_transposed_convolutions() -> None:
    assert DECONV_ZOO == [
        "article_deconv_last1",
        "article_deconv_last2",
        "dcgan32",
        "dcgan64",
        "johnson_deconv",
        "melgan",
        "pix2pix_unet",
        "vae_decoder",
    ]


@pytest.mark.parametrize("name", DECONV_ZOO)
def test_fix_keeps_shapes_and_lowers_the_init_score_by_10_db(name: str) -> None:
    entry = zoo.MODELS[name]
    model, x = entry.build(), entry.example_input()
    fixed = cs.fix(model, example_input=x)
    assert not any(
        isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)) and max(m.stride) > 1
        for m in fixed.modules()
    )
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape
    before = cs.audit(model, x, seeds=2)
    after = cs.audit(fixed, x, seeds=2)
    period = before.init_score.period
    assert after.init_score.db_by_period[period] <= before.init_score.median_db - 10
    assert not after.structural_artifacts


@pytest.mark.parametrize(("name", "method"), [("espcn", "resize"), ("srresnet", "subpixel")])
def test_conv_pixel_shuffle_pairs_are_replaced(name: str, method: str) -> None:
    entry = zoo.MODELS[name]
    model, x = entry.build(), entry.example_input()
    fixed = cs.fix(model, method=method, example_input=x)
    assert not any(isinstance(m, nn.PixelShuffle) for m in fixed.modules())
    expected = "ResizeConv2d" if method == "resize" else "SubPixelConv2d"
    assert all(expected in note for note in fixed.checkerscope_fix_notes)
    with torch.no_grad():
        assert fixed(x).shape == model(x).shape
    before = cs.audit(model, x, seeds=2).init_score
    after = cs.audit(fixed, x, seeds=2).init_score
    assert after.db_by_period[before.period] <= before.median_db - 10


def test_pixel_shuffle_after_a_strided_conv_is_left() -> None:
    model = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.PixelShuffle(2))
    fixed = cs.fix(model, example_input=torch.zeros(1, 3, 8, 8))
    assert isinstance(fixed[1], nn.PixelShuffle)


def deconv_cases():
    @st.composite
    def case(draw):
        dims = draw(st.sampled_from([1, 2]))
        stride = draw(st.integers(2, 4))
        kernel = draw(st.integers(1, 7))
        dilation = draw(st.integers(1, 2))
        padding = draw(st.integers(0, dilation * (kernel - 1)))
        output_padding = draw(st.integers(0, max(stride, dilation) - 1))
        length = draw(st.integers(2, 9))
        return dims, kernel, stride, padding, output_padding, dilation, length

    return case()


@given(deconv_cases())
def test_any_deconvolution_is_replaced_with_the_same_output_shape(params) -> None:
    dims, kernel, stride, padding, output_padding, dilation, length = params
    cls = nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d
    deconv = cls(2, 3, kernel, stride, padding, output_padding, dilation=dilation)
    x = torch.zeros((1, 2) + (length,) * dims)
    try:
        expected = deconv(x).shape
    except RuntimeError:  # torch rejects this combination (empty output)
        return
    model = nn.Sequential(deconv)
    fixed = cs.fix(model, example_input=x)
    for method in ("resize", "subpixel"):
        fixed = cs.fix(model, method=method, example_input=x)
        assert fixed(x).shape == expected
        assert (
            fixed(torch.zeros((1, 2) + (length + 3,) * dims)).shape
            == deconv(torch.zeros((1, 2) + (length + 3,) * dims)).shape
        )


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "output_padding", "dilation"),
    [
        (4, 2, 1, 0, 1),
        (3, 2, 1, 1, 1),
        (3, 2, 0, 0, 1),
        (5, 3, 2, 0, 1),
        (16, 8, 4, 0, 1),
        (3, 2, 2, 1, 2),
        (1, 2, 0, 1, 1),
        (6, 2, 0, 0, 1),
    ],
)
def test_replacement_is_centred_on_the_deconvolution_footprint(
    kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> None:
    """An impulse: the deconvolution's footprint and the replacement's block line up."""
    deconv = nn.ConvTranspose1d(1, 1, kernel, stride, padding, output_padding, dilation=dilation)
    nn.init.ones_(deconv.weight)
    nn.init.zeros_(deconv.bias)
    fixed = cs.fix(nn.Sequential(deconv), example_input=torch.zeros(1, 1, 12))
    layer = fixed[0][0] if isinstance(fixed[0], nn.Sequential) else fixed[0]
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[..., layer.weight.shape[-1] // 2] = 1.0  # identity conv: pure resize
        layer.bias.zero_()
    x = torch.zeros(1, 1, 12)
    x[..., 6] = 1.0
    with torch.no_grad():
        a, b = deconv(x)[0, 0], fixed(x)[0, 0]
    assert a.shape == b.shape
    positions = torch.arange(a.numel(), dtype=torch.float64)
    centre_a = float((a * positions).sum() / a.sum())
    centre_b = float((b * positions).sum() / b.sum())
    assert abs(centre_a - centre_b) <= 0.5


def test_geometry_of_the_common_choices() -> None:
    assert replacement_geometry(4, 2, 1) == (3, 0, 0)  # DCGAN
    assert replacement_geometry(3, 2, 1, 1) == (3, 0, 0)  # Johnson
    assert replacement_geometry(16, 8, 4) == (3, 0, 0)  # MelGAN
    assert replacement_geometry(3, 2, 0) == (3, 1, 0)


def test_pad_crop_pads_with_edges_and_crops() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    y = PadCrop([(1, 0), (-1, -1)])(x)
    assert y.tolist() == [[[[1.0, 2.0], [1.0, 2.0], [5.0, 6.0], [9.0, 10.0]]]]


def test_grouped_deconvolutions_are_left_and_reported() -> None:
    model = nn.Sequential(
        nn.ConvTranspose2d(4, 4, 4, 2, 1, groups=2), nn.ConvTranspose2d(4, 2, 4, 2, 1)
    )
    fixed = cs.fix(model, example_input=torch.zeros(1, 4, 5, 5))
    assert isinstance(fixed[0], nn.ConvTranspose2d)
    assert type(fixed[1]).__name__ == "ResizeConv2d"
    notes = fixed.checkerscope_fix_notes
    assert "groups=2" in notes[0] and "left" in notes[0]
    assert "ResizeConv2d" in notes[1]


def test_three_d_deconvolutions_use_resize_and_refuse_subpixel() -> None:
    model = nn.Sequential(nn.ConvTranspose3d(2, 2, 3, 2, 1, 1))
    x = torch.zeros(1, 2, 3, 4, 5)
    resized = cs.fix(model, example_input=x)
    assert type(resized[0]).__name__ == "ResizeConv3d" and resized(x).shape == model(x).shape
    kept = cs.fix(model, method="subpixel", example_input=x)
    assert isinstance(kept[0], nn.ConvTranspose3d)
    assert "3-D" in kept.checkerscope_fix_notes[0]


def test_stride_one_deconvolutions_are_kept() -> None:
    model = zoo.dcgan_generator(32, width=4)
    fixed = cs.fix(model)
    assert isinstance(fixed[0], nn.ConvTranspose2d) and fixed[0].stride == (1, 1)


@pytest.mark.parametrize("size", [31, 32, 33])
def test_downsample_gives_strided_convs_a_blurpool_with_the_same_weights(size: int) -> None:
    model = nn.Sequential(nn.Conv2d(3, 5, 3, 2, 1), nn.ReLU(), nn.Conv2d(5, 2, 4, 2, 1))
    x = torch.randn(1, 3, size, size)
    fixed = cs.fix(model, example_input=x, downsample=True)
    assert fixed(x).shape == model(x).shape
    conv, blur = fixed[0]
    assert conv.stride == (1, 1) and type(blur).__name__ == "BlurPool2d" and blur.stride == 2
    assert torch.equal(conv.weight, model[0].weight)
    # without downsample=True strided convs stay
    assert cs.fix(model)[0] is not model[0] and cs.fix(model)[0].stride == (2, 2)


@pytest.mark.parametrize("size", [15, 16])
def test_downsample_turns_max_pooling_into_max_blur_pooling(size: int) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1))
    x = torch.randn(1, 3, size, size)
    fixed = cs.fix(model, example_input=x, downsample=True)
    assert fixed(x).shape == model(x).shape
    for index in (1, 2):
        pool, blur = fixed[index]
        assert pool.stride == 1 and type(blur).__name__ == "BlurPool2d" and blur.channels == 4
    # without an example input the channel count is unknown: left, and said so
    kept = cs.fix(model, downsample=True)
    assert isinstance(kept[1], nn.MaxPool2d)
    assert "example_input" in kept.checkerscope_fix_notes[0]
    # and pooling or blur pooling is no reason to fail without downsample=True
    assert isinstance(cs.fix(model)[1], nn.MaxPool2d)
    assert cs.fix(zoo.MODELS["dcgan64_disc_blurpool"].build())


def test_downsample_fix_makes_the_discriminator_clean() -> None:
    entry = zoo.MODELS["disc_k3_first_stride2"]
    model, x = entry.build(), entry.example_input()
    fixed = cs.fix(model, example_input=x, downsample=True)
    assert fixed(x).shape == model(x).shape
    report = cs.audit(fixed, x, probe=False)
    assert cs.audit(model, x, probe=False).structural_artifacts
    assert not report.structural_artifacts


def test_fix_leaves_the_original_untouched() -> None:
    model = zoo.dcgan_generator(32, width=4)
    before = [type(m) for m in model.modules()]
    cs.fix(model)
    assert [type(m) for m in model.modules()] == before


def test_fix_rejects_bad_arguments() -> None:
    with pytest.raises(CheckerscopeError, match="method"):
        cs.fix(nn.Identity(), method="bilinear")
    with pytest.raises(CheckerscopeError, match="nn.Module"):
        cs.fix(object())
    model = nn.Sequential(nn.ConvTranspose2d(3, 3, 4, 2, 1))
    with pytest.raises(CheckerscopeError, match="failed"):
        cs.fix(model, example_input=torch.zeros(1, 5, 4, 4))


def test_nothing_to_fix_is_said() -> None:
    fixed = cs.fix(nn.Conv2d(1, 1, 3))
    assert "nothing to replace" in fixed.checkerscope_fix_notes[0]
