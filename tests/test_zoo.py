"""The zoo: every registry entry builds, runs at its native input and has the documented layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from checkerscope import zoo
from checkerscope.errors import CheckerscopeError

EXPECTED_OUTPUT_SHAPES = {
    "dcgan64": (1, 3, 64, 64),
    "dcgan32": (1, 3, 32, 32),
    "article_deconv_last2": (1, 3, 64, 64),
    "article_deconv_last1": (1, 3, 64, 64),
    "article_resize": (1, 3, 64, 64),
    "dcgan64_subpixel": (1, 3, 64, 64),
    "dcgan64_disc": (1, 1, 1, 1),
    "dcgan32_disc": (1, 1, 1, 1),
    "disc_k3_first_stride2": (1, 1, 1, 1),
    "disc_k3_first_stride1": (1, 1, 1, 1),
    "dcgan64_disc_blurpool": (1, 1, 1, 1),
    "pix2pix_unet": (1, 3, 256, 256),
    "johnson_deconv": (1, 3, 256, 256),
    "johnson_resize": (1, 3, 256, 256),
    "espcn": (1, 1, 192, 192),
    "srresnet": (1, 3, 128, 128),
    "vae_decoder": (1, 3, 64, 64),
    "ldm_decoder": (1, 3, 256, 256),
    "melgan": (1, 1, 32 * 256),
}


def test_registry_lists_exactly_the_documented_models() -> None:
    assert set(zoo.MODELS) == set(EXPECTED_OUTPUT_SHAPES)
    for name, entry in zoo.MODELS.items():
        assert entry.name == name
        assert entry.description and entry.kind


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_every_entry_runs_at_its_native_input(name: str) -> None:
    entry = zoo.MODELS[name]
    model = entry.build().eval()
    with torch.no_grad():
        out = model(entry.example_input())
    assert tuple(out.shape) == EXPECTED_OUTPUT_SHAPES[name]
    assert torch.isfinite(out).all()


def _transposed(model: nn.Module) -> list[nn.Module]:
    kinds = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    return [m for m in model.modules() if isinstance(m, kinds)]


def test_dcgan_uses_k4_s2_p1_after_the_latent_projection() -> None:
    deconvs = _transposed(zoo.dcgan_generator(64, width=4))
    assert [(d.kernel_size, d.stride, d.padding) for d in deconvs] == [((4, 4), (1, 1), (0, 0))] + [
        ((4, 4), (2, 2), (1, 1))
    ] * 4


def test_per_stage_upsample_choices_are_honoured() -> None:
    g = zoo.dcgan_generator(64, width=4, upsample=["deconv4", "deconv4", "deconv3", "deconv3"])
    strided = [d for d in _transposed(g) if d.stride == (2, 2)]
    assert [d.kernel_size[0] for d in strided] == [4, 4, 3, 3]
    assert all(d.output_padding == (1, 1) for d in strided[2:])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"upsample": ["deconv4"] * 3},  # 64 px needs four stages
        {"upsample": "deconv5"},
        {"image_size": 48},
    ],
)
def test_bad_generator_arguments_raise_one_line_errors(kwargs: dict) -> None:
    with pytest.raises(CheckerscopeError) as info:
        zoo.dcgan_generator(**kwargs)
    assert "\n" not in str(info.value)


def test_melgan_kernels_are_twice_the_strides_and_hop_is_their_product() -> None:
    g = zoo.melgan_generator(mel_channels=4, width=32, strides=(8, 8, 2, 2))
    deconvs = _transposed(g)
    assert [(d.kernel_size[0], d.stride[0]) for d in deconvs] == [(16, 8), (16, 8), (4, 2), (4, 2)]
    assert g(torch.zeros(1, 4, 5)).shape[-1] == 5 * 256
    odd = zoo.melgan_generator(mel_channels=4, width=16, strides=(3, 5))
    assert odd(torch.zeros(1, 4, 7)).shape[-1] == 7 * 15


def test_discriminator_first_layer_stride_follows_the_argument() -> None:
    d2 = zoo.dcgan_discriminator(32, width=4)
    d1 = zoo.dcgan_discriminator(32, width=4, first_stride=1)
    first = [m for m in d2.modules() if isinstance(m, nn.Conv2d)][0]
    assert first.stride == (2, 2)
    first = [m for m in d1.modules() if isinstance(m, nn.Conv2d)][0]
    assert first.stride == (1, 1) and first.kernel_size == (3, 3)
    for d in (d1, d2):
        assert d(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 1, 1)


def test_ldm_decoder_has_no_transposed_convolution() -> None:
    assert _transposed(zoo.ldm_decoder(width=4)) == []


def test_get_accepts_prefix_and_names_choices_on_error() -> None:
    assert zoo.get("zoo:dcgan64") is zoo.MODELS["dcgan64"]
    with pytest.raises(CheckerscopeError, match="dcgan64"):
        zoo.get("zoo:nope")


def test_example_input_is_deterministic() -> None:
    entry = zoo.MODELS["melgan"]
    assert torch.equal(entry.example_input(3), entry.example_input(3))
    assert not torch.equal(entry.example_input(3), entry.example_input(4))
