"""``checkerscope overlap``: output, JSON, PNG and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from checkerscope.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["overlap", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_grid_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "-k", "3", "-s", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert "deconv k3 s2" in lines[0] and "2-D" in lines[0]
    assert lines[1].split() == ["█", "4", "▒", "2"]
    assert lines[2].split() == ["▒", "2", "░", "1"]
    assert "period 2x2, structural period 2x2, unevenness 4 " in lines[3]


def test_two_layers_in_1d(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-k", "3", "-s", "2", "--layers", "2", "--dims", "1")
    assert code == 0
    numbers = [w for w in out.splitlines()[1].split() if w.isdigit()]
    assert numbers == ["3", "2", "3", "1"]
    assert "period 4, structural period 4, unevenness 3 " in out


def test_even_kernel_says_even(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-k", "4", "-s", "2", "--padding", "1")
    assert code == 0
    assert "unevenness 1 (even" in out


def test_backward_of_strided_conv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-k", "3", "-s", "2", "--conv", "--backward", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["pattern"] == [[4, 2], [2, 1]]
    assert data["direction"] == "backward"
    assert data["layers"] == ["conv k3 s2"]


def test_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--stack", "deconv:k3:s2, deconv:k3:s2", "--dims", "1", "--json")
    assert code == 0
    data = json.loads(out)  # nothing but JSON on stdout
    assert data["period"] == [4]
    assert data["structural_period"] == [4]
    assert data["unevenness"] == 3.0
    assert data["pattern"] == [3, 2, 3, 1]
    assert data["layers"] == ["deconv k3 s2", "deconv k3 s2"]


def test_json_infinite_unevenness_is_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-k", "1", "-s", "2", "--dims", "1", "--json")
    assert code == 0
    assert json.loads(out)["unevenness"] == "inf"


def test_stack_with_floats_and_3d(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--stack", "deconv k3 s2, resize x2 bilinear", "--dims", "3")
    assert code == 0
    assert "depth phase 3:" in out
    assert "5.36" in out  # 1.75 cubed
    assert "unevenness 2.744 " in out  # 1.4 cubed


def test_large_period_is_cropped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "-k", "3", "-s", "2", "--layers", "5", "--dims", "1")
    assert code == 0
    assert "(showing 16 of the period)" in out
    assert "period 32," in out


def test_png_is_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "sub" / "pattern.png"
    code, out, _ = _run(capsys, "-k", "3", "-s", "2", "--layers", "2", "--png", str(target))
    assert code == 0
    assert f"wrote {target}" in out
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size[0] > 200 and image.size[1] > 200
    code, out, _ = _run(capsys, "-k", "3", "-s", "2", "--json", "--png", str(target))
    assert code == 0
    json.loads(out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-k", "0"], "kernel must be >= 1, got 0"),
        (["-s", "0"], "stride must be >= 1, got 0"),
        (["--padding", "-1"], "padding must be >= 0, got -1"),
        (["--output-padding", "2"], "output_padding=2 must be smaller"),
        (["--layers", "0"], "--layers must be >= 1, got 0"),
        (["--stack", "deconv:k3:q2"], "bad parameter 'q2'"),
        (["--stack", "warp:k3"], "unknown layer 'warp'"),
        (["--stack", "deconv:k3:s2", "-k", "3"], "drop -k"),
        (["--conv", "--output-padding", "1"], "--output-padding applies to deconvolutions"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--dims", "4"], ["-k", "three"]])
def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["overlap", *argv])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_help_lists_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["overlap", "--help"])
    out = capsys.readouterr().out
    assert "--stack" in out and "stack syntax" in out and "--backward" in out


def test_real_process_bad_stack_has_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkerscope", "overlap", "--stack", "deconv::"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("checkerscope overlap: error:")
    assert "Traceback" not in proc.stderr
