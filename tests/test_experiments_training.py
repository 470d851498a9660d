"""Tests of the training experiments (C6-C10): datasets, helpers and each claim end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from checkerscope.errors import CheckerscopeError
from checkerscope.experiments import (
    c06_learned_weights,
    c07_gan,
    c08_style_transfer,
    c09_colour,
    c10_nearest_bilinear,
)
from checkerscope.experiments.base import VERDICTS, ClaimResult
from checkerscope.experiments.data import (
    coloured_shapes,
    downsample,
    load_photo,
    photo_patches,
    recolour,
)
from checkerscope.experiments.training import (
    UPSAMPLE_KINDS,
    SuperResolver,
    checkpoint_steps,
    excess_db,
    high_frequency_fraction,
    psnr,
    rank_correlation,
    score_db,
    train,
    upsample_layer,
)

# ---------------------------------------------------------------------------- data


def test_photo_patches_shape_range_and_determinism() -> None:
    a = photo_patches(6, 32, seed=3)
    b = photo_patches(6, 32, seed=3)
    c = photo_patches(6, 32, seed=4)
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert float(a.std()) > 0.02  # real picture content, not a constant


def test_eval_patches_come_from_pixels_training_never_sees() -> None:
    photo = torch.from_numpy(load_photo("astronaut", shrink=4).copy())
    size = 16
    train = photo_patches(40, size, seed=0, split="train", shrink=4, flips=False)
    evaluation = photo_patches(40, size, seed=0, split="eval", shrink=4, flips=False)
    cut = int(round(photo.shape[2] * 0.6))

    def left_edges(patches: torch.Tensor) -> set[int]:
        found = set()
        for patch in patches:
            first = (photo == patch[:, :1, :1]).all(dim=0)  # candidates: same top-left pixel
            for row, col in torch.nonzero(first).tolist():
                window = photo[:, row : row + size, col : col + size]
                if window.shape == patch.shape and torch.equal(window, patch):
                    found.add(col)
        return found

    train_cols, eval_cols = left_edges(train), left_edges(evaluation)
    assert train_cols and eval_cols  # some patches came from the astronaut
    assert max(train_cols) + size <= cut
    assert min(eval_cols) >= cut


def test_photo_patches_rejects_bad_arguments() -> None:
    with pytest.raises(CheckerscopeError, match="split"):
        photo_patches(1, 8, seed=0, split="test")
    with pytest.raises(CheckerscopeError, match="exceeds"):
        photo_patches(1, 400, seed=0)
    with pytest.raises(CheckerscopeError, match="unknown photograph"):
        load_photo("lena")


def test_coloured_shapes_are_saturated_deterministic_and_in_range() -> None:
    images = coloured_shapes(8, 32, seed=5)
    assert images.shape == (8, 3, 32, 32)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert torch.equal(images, coloured_shapes(8, 32, seed=5))
    chroma = images.amax(dim=1) - images.amin(dim=1)  # per pixel, max - min channel
    assert float(chroma.median()) > 0.5
    # shapes make each image more than one colour
    assert all(float(img.reshape(3, -1).std(dim=1).max()) > 0.05 for img in images)


def test_downsample_and_recolour() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert downsample(x, 2)[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]
    patches = photo_patches(3, 16, seed=1)
    colours = torch.tensor([[0.3, 0.5, 0.7], [0.5, 0.5, 0.5], [0.6, 0.3, 0.4]])
    out = recolour(patches, colours, contrast=0.2)
    assert torch.allclose(out.mean(dim=(2, 3)), colours, atol=1e-3)
    ratio = (out - out.mean(dim=(2, 3), keepdim=True)).std() / (
        patches - patches.mean(dim=(2, 3), keepdim=True)
    ).std()
    assert abs(float(ratio) - 0.2) < 1e-3


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("kind", UPSAMPLE_KINDS)
def test_upsample_layers_double_the_size(kind: str) -> None:
    layer = upsample_layer(kind, 5, 2)
    assert layer(torch.zeros(2, 5, 7, 9)).shape == (2, 2, 14, 18)


def test_upsample_layer_rejects_unknown_kind() -> None:
    with pytest.raises(CheckerscopeError):
        upsample_layer("pixelshuffle9", 2, 2)


def test_untrained_deconv_upsampler_scores_far_above_resize_conv() -> None:
    """The measurement the claims rest on: an uneven deconvolution grid is seen, NN is not."""
    torch.manual_seed(0)
    inputs = downsample(photo_patches(8, 64, seed=0), 4)
    with torch.no_grad():
        deconv = SuperResolver("deconv3", width=8)(inputs)
        torch.manual_seed(0)
        resize = SuperResolver("resize", width=8)(inputs)
    assert np.median(score_db(deconv)) > np.median(score_db(resize)) + 10


def test_excess_is_zero_for_a_perfect_model_and_high_frequency_fraction_orders() -> None:
    targets = photo_patches(4, 32, seed=2)
    assert np.allclose(excess_db(targets, targets, 2), 0.0)
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.avg_pool2d(noise, 4)
    smooth = torch.nn.functional.interpolate(smooth, scale_factor=4, mode="bilinear")
    assert (high_frequency_fraction(noise) > 0.6).all()
    assert (high_frequency_fraction(smooth) < high_frequency_fraction(noise) / 3).all()


def test_psnr_and_rank_correlation() -> None:
    target = torch.zeros(2, 3, 4, 4)
    output = torch.stack([torch.full((3, 4, 4), 0.1), torch.full((3, 4, 4), 0.01)])
    assert np.allclose(psnr(output, target), [20.0, 40.0])
    assert rank_correlation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert rank_correlation([1, 1, 2], [5, 5, 6]) == pytest.approx(1.0)
    with pytest.raises(CheckerscopeError):
        rank_correlation([1], [2])


def test_train_lowers_the_loss_and_checkpoints_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Dropout(0.5))
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    modes: list[bool] = []

    def evaluate(step: int) -> dict:
        modes.append(model.training)
        return {"step": step}

    log = train(
        model,
        lambda step: torch.nn.functional.mse_loss(model(x), y),
        steps=60,
        lr=0.05,
        checkpoints=[0, 30, 60],
        evaluate=evaluate,
    )
    assert log.steps == [0, 30, 60]
    assert modes == [False, False, False]
    assert np.mean(log.losses[-5:]) < 0.5 * np.mean(log.losses[:5])
    assert checkpoint_steps(100, 4)[0] == 0 and checkpoint_steps(100, 4)[-1] == 100


def test_colour_set_spreads_distances_without_clipping() -> None:
    images, clipped = c09_colour.coloured_set(12, 32, seed=0, split="eval", levels=4)
    assert clipped == 0.0
    distance = (images.mean(dim=(2, 3)) - 0.5).norm(dim=1).reshape(3, 4)
    assert torch.all(distance[:, 1:] > distance[:, :-1])  # each texture, farther and farther
    assert float(distance[:, 0].max()) < 0.02  # first level: mid-grey


def test_style_loss_network_and_gram() -> None:
    features = c08_style_transfer.RandomFeatures(seed=0)(torch.rand(2, 3, 16, 16))
    assert [f.shape[1] for f in features] == [16, 32, 64]
    assert all(not p.requires_grad for p in c08_style_transfer.RandomFeatures().parameters())
    g = c08_style_transfer.gram(torch.randn(2, 4, 5, 5))
    assert g.shape == (2, 4, 4) and torch.allclose(g, g.transpose(1, 2))
    with pytest.raises(CheckerscopeError, match="not found"):
        c08_style_transfer.set_loss_net("/nonexistent/vgg.pt")


# ---------------------------------------------------------------------------- claims


def _check_result(result: ClaimResult, claim_id: str, out_dir: Path) -> None:
    assert isinstance(result, ClaimResult)
    assert result.claim.id == claim_id
    assert result.verdict in VERDICTS
    assert result.summary and result.numbers["headline"]
    assert result.figures
    for figure in result.figures:
        path = Path(figure)
        path = path if path.is_absolute() else out_dir / path
        assert path.is_file() and path.suffix == ".png" and path.stat().st_size > 1000
    json.dumps(result.to_dict())  # JSON-able, as claims.json needs


CLAIM_MODULES = {
    "C6": c06_learned_weights,
    "C7": c07_gan,
    "C8": c08_style_transfer,
    "C9": c09_colour,
    "C10": c10_nearest_bilinear,
}


@pytest.mark.parametrize("claim_id", sorted(CLAIM_MODULES))
def test_claim_runs_end_to_end_in_a_tiny_configuration(claim_id: str, tmp_path: Path) -> None:
    module = CLAIM_MODULES[claim_id]
    calls: list[float] = []
    result = module.run(
        True,
        seed=1,
        out_dir=tmp_path,
        progress=lambda fraction, message: calls.append(fraction),
        config=module.tiny_config(),
    )
    _check_result(result, claim_id, tmp_path)
    assert result.seed == 1 and result.quick
    assert calls and all(0.0 <= f <= 1.0 for f in calls)
    assert module.CLAIM.rule and module.CLAIM.method


def test_c06_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    config = c06_learned_weights.tiny_config()
    a = c06_learned_weights.run(True, 2, out_dir=tmp_path / "a", config=config)
    b = c06_learned_weights.run(True, 2, out_dir=tmp_path / "b", config=config)
    assert a.numbers["final_excess_db"] == b.numbers["final_excess_db"]
    assert a.verdict == b.verdict


def test_c08_accepts_a_saved_loss_network(tmp_path: Path) -> None:
    path = tmp_path / "loss_net.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()), path)
    result = c08_style_transfer.run(
        True,
        seed=0,
        out_dir=tmp_path,
        config=c08_style_transfer.tiny_config(),
        loss_net_path=path,
    )
    assert result.numbers["loss_network"] == str(path)
    _check_result(result, "C8", tmp_path)
