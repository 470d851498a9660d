"""`checkerscope audit` / `checkerscope fix`: targets, outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from checkerscope import zoo
from checkerscope.cli import main

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    def make():
        return nn.Sequential(nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=1))

    def make_clean():
        return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(8, 3, 3, padding=1))

    def make_pair():
        return make(), torch.randn(1, 8, 16, 16)

    def broken():
        raise RuntimeError("weights missing")

    def not_a_model():
        return 42
    """
)


@pytest.fixture()
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(USER_MODEL)
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_zoo_model_with_uneven_deconvolutions_exits_1(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:article_deconv_last2", "--no-probe")
    assert code == 1
    assert "uneven overlap" in out and "periods 2, 4" in out and "ARTIFACTS" in out


def test_zoo_resize_model_is_clean_exit_0(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:article_resize", "--seeds", "1")
    assert code == 0 and "CLEAN" in out and "init score" in out


def test_json_prints_only_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "audit", "zoo:dcgan32", "--seeds", "1", "--json")
    data = json.loads(out)
    assert code == 1 and data["has_artifacts"] is True and data["kind"] == "generator"
    assert data["init_score"]["samples"] == 2


def test_html_report_is_written(capsys, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "audit", "zoo:melgan", "--no-probe", "--html", str(target))
    assert code == 0  # MelGAN's kernels are twice its strides: even, and no probe asked
    assert target.read_text().startswith("<!DOCTYPE html>") and "wrote" in err


@pytest.mark.parametrize("argv", [["--list-zoo"], ["zoo:"]])
def test_zoo_listing(capsys, argv: list[str]) -> None:
    code, out, _ = run_cli(capsys, "audit", *argv)
    assert code == 0
    for name in zoo.MODELS:
        assert f"zoo:{name} " in out


def test_user_file_callable(capsys, user_file: Path) -> None:
    code, out, _ = run_cli(
        capsys, "audit", f"{user_file}:make", "--input-shape", "1,8,16,16", "--no-probe"
    )
    assert code == 1 and "ConvTranspose2d" in out
    code, _, _ = run_cli(
        capsys, "audit", f"{user_file}:make_clean", "--input-shape", "1,8,16,16", "--seeds", "1"
    )
    assert code == 0


def test_user_dotted_module_from_cwd(capsys, user_file: Path, monkeypatch) -> None:
    monkeypatch.chdir(user_file.parent)
    monkeypatch.syspath_prepend(str(user_file.parent))
    code, out, _ = run_cli(capsys, "audit", "user_models:make_pair", "--no-probe")
    assert code == 1 and "16x16 -> 32x32" in out


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("README.md", [], "expected zoo:NAME, MODULE:CALLABLE"),
        ("zoo:nope", [], "unknown zoo model 'nope'"),
        ("{file}:broken", ["--input-shape", "1,8,4,4"], "raised RuntimeError: weights missing"),
        ("{file}:not_a_model", ["--input-shape", "1,8,4,4"], "returned int"),
        ("{file}:absent", ["--input-shape", "1,8,4,4"], "has no callable 'absent'"),
        ("{file}:make", [], "needs --input-shape"),
        ("{file}:make", ["--input-shape", "1,5,4,4"], "failed on an input of shape 1x5x4x4"),
        ("{file}:make", ["--input-shape", "1,x"], "input shape must be positive integers"),
        ("no_such_module_xyz:make", [], "cannot import module"),
        ("{dir}/missing.py:make", [], "no such Python file"),
        ("{dir}/garbage.onnx", [], "is not a valid ONNX model"),
        ("{dir}/missing.onnx", [], "no such ONNX file"),
        ("{dir}/tensor.pt", ["--input-shape", "1,8,4,4"], "not a whole nn.Module"),
        ("{dir}/garbage.pt", ["--input-shape", "1,8,4,4"], "is not a saved model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys, user_file: Path, target: str, extra: list[str], message: str
) -> None:
    folder = user_file.parent
    (folder / "garbage.onnx").write_bytes(b"this is not a protobuf \x00\xff" * 4)
    (folder / "garbage.pt").write_bytes(b"not a pickle")
    torch.save(torch.zeros(3), folder / "tensor.pt")
    target = target.format(file=user_file, dir=folder)
    code, out, err = run_cli(capsys, "audit", target, *extra)
    assert code == 2, err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("checkerscope audit: error:")
    assert out == ""


def test_fix_saves_a_loadable_model_and_prints_before_after(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "fixed.pt"
    code, out, _ = run_cli(capsys, "fix", "zoo:dcgan32", "--out", str(out_file), "--seeds", "1")
    assert code == 0
    assert "ConvTranspose2d(k4 s2 p1) -> ResizeConv2d(k3 x2)" in out
    assert "init score at period 2:" in out and "verdict: artifacts -> clean" in out
    fixed = torch.load(out_file, weights_only=False)
    assert fixed(torch.randn(2, 100, 1, 1)).shape == (2, 3, 32, 32)
    # the saved model audits clean
    code, out, _ = run_cli(
        capsys, "audit", str(out_file), "--input-shape", "1,100,1,1", "--no-probe"
    )
    assert code == 0 and "ResizeConv2d" in out


def test_fix_json_and_downsample(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "disc.pt"
    code, out, _ = run_cli(
        capsys,
        "fix",
        "zoo:disc_k3_first_stride2",
        "--downsample",
        "--out",
        str(out_file),
        "--seeds",
        "1",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and data["score"] == "gradient score"
    assert data["before"]["has_artifacts"] and not data["after"]["has_artifacts"]
    assert all("BlurPool2d" in line for line in data["replacements"])


def test_fix_rejects_onnx(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "fix", "m.onnx", "--out", str(tmp_path / "x.pt"))
    assert code == 2 and "ONNX" in err


def test_help_says_that_loading_runs_user_code() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util, sys; from checkerscope.cli import main; "
            "sys.exit(main(['audit', '--help']))",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert "runs its code" in proc.stdout and "torch.hub" in proc.stdout
