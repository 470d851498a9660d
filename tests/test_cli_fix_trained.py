"""``checkerscope fix --weights project --calibration DATA --distill DATA``: a trained model in,
an artifact-free model that still does its job out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cli_runner import run_cli


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    from checkerscope.experiments.data import photo_patches
    from checkerscope.experiments.training import train_super_resolver

    folder = tmp_path_factory.mktemp("trained")
    train = photo_patches(64, 32, seed=0)
    run = train_super_resolver("deconv3", train, train[:4], steps=80, width=8, seed=0)
    model_path = folder / "sr.pt"
    torch.save(run.model, model_path)
    inputs = F.avg_pool2d(train, 4)
    torch.save(inputs, folder / "inputs.pt")
    images = folder / "images"
    images.mkdir()
    for i in range(4):
        pixels = (inputs[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(np.tile(pixels, (2, 2, 1))).save(images / f"{i}.png")
    return {"folder": folder, "model": model_path, "images": images}


def test_fix_projects_calibrates_and_distils(saved, capsys) -> None:
    out = saved["folder"] / "fixed.pt"
    code, stdout, stderr = run_cli(
        capsys,
        "fix",
        str(saved["model"]),
        "--input-shape",
        "1,3,8,8",
        "--weights",
        "project",
        "--calibration",
        str(saved["folder"] / "inputs.pt"),
        "--distill",
        str(saved["images"]),
        "--steps",
        "20",
        "--seeds",
        "2",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert "projected onto nearest resize-conv in weight space" in stdout
    assert "fitted to the original layer's outputs on 64 calibration inputs" in stdout
    assert "distilled 20 steps" in stdout and "PSNR vs the de-gridded teacher" in stdout
    assert "given weights score at period" in stdout
    assert stdout.rstrip().endswith(f"saved {out}")
    fixed = torch.load(out, weights_only=False)
    assert fixed(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_fix_json_carries_the_distillation(saved, capsys) -> None:
    out = saved["folder"] / "fixed_noise.pt"
    code, stdout, _ = run_cli(
        capsys,
        "fix",
        str(saved["model"]),
        "--input-shape",
        "1,3,8,8",
        "--weights",
        "project",
        "--calibration",
        "noise",
        "--distill",
        "noise",
        "--steps",
        "5",
        "--seeds",
        "1",
        "--json",
        "--out",
        str(out),
    )
    document = json.loads(stdout)
    assert document["weights"] == "project" and document["distill"]["steps"] == 5
    assert document["fidelity_db"] > 20
    assert code == (0 if document["distill"]["faithful"] else 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--calibration", "noise"], "--calibration needs --weights project"),
        (["--weights", "project", "--calibration", "nowhere"], "expected a folder of images"),
        (["--distill", "missing.pt"], "expected a folder of images"),
        (["--steps", "-3"], "--steps must be between 0 and 10**7"),
    ],
)
def test_bad_data_is_one_line_and_exit_2(saved, capsys, extra, message) -> None:
    out = saved["folder"] / "never.pt"
    code, stdout, stderr = run_cli(
        capsys, "fix", str(saved["model"]), "--input-shape", "1,3,8,8", *extra, "--out", str(out)
    )
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists() and "Traceback" not in stderr


def test_a_pt_file_without_a_tensor_is_refused(saved, capsys) -> None:
    bad = saved["folder"] / "dict.pt"
    torch.save({"x": 1}, bad)
    code, _, stderr = run_cli(
        capsys,
        "fix",
        str(saved["model"]),
        "--input-shape",
        "1,3,8,8",
        "--distill",
        str(bad),
        "--out",
        str(saved["folder"] / "never.pt"),
    )
    assert code == 2 and "must hold a tensor of inputs" in stderr
