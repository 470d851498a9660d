"""The built wheel, installed with no extras into a fresh virtual environment.

What a new user gets from ``pip install checkerscope``: the wheel's metadata pulls in only
numpy, torch (the CPU build, through ``constraints.txt``), pillow and rich; the commands
run from any directory; ``from checkerscope import *`` works without torchmetrics; and
what needs an extra says which one in a single line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # about a minute: the fresh environment installs torch


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(dist), str(REPO)],
        cwd=dist,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = dist.glob("checkerscope-*.whl")
    return path


@pytest.fixture(scope="module")
def base_install(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its required dependencies only; returns its bin/."""
    root = tmp_path_factory.mktemp("base")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    installed = _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--retries", "2",
         "-c", str(REPO / "constraints.txt"), str(wheel)],
        cwd=root,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return bin_dir


def test_wheel_ships_types_license_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert "checkerscope/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Source," in metadata
    required = sorted(
        line.split()[1].split(">")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )
    assert required == ["numpy", "pillow", "rich", "torch"]
    for extra in ("plot", "data", "onnx", "metrics", "all", "dev"):
        assert f"Provides-Extra: {extra}" in metadata


def test_the_commands_run_on_a_base_install_from_another_directory(
    base_install: Path, tmp_path: Path
) -> None:
    python, cli = str(base_install / "python"), str(base_install / "checkerscope")
    missing = _run([python, "-c", "import matplotlib"], cwd=tmp_path)
    assert missing.returncode != 0  # nothing pulled in an extra
    image = REPO / "examples" / "images" / "photo_grid_4pct.png"
    score = _run([cli, "score", str(image)], cwd=tmp_path)
    assert score.returncode == 0, score.stderr
    assert "grid" in score.stdout and "scored 1, failed 0" in score.stdout
    overlap = _run([cli, "overlap", "-k", "3", "-s", "2"], cwd=tmp_path)
    assert overlap.returncode == 0, overlap.stderr
    assert "unevenness 4" in overlap.stdout
    audit = _run([cli, "audit", "zoo:dcgan32", "--no-probe"], cwd=tmp_path)
    assert audit.returncode in (0, 1), audit.stderr
    assert "ConvTranspose2d" in audit.stdout and "Traceback" not in audit.stderr
    star = _run(
        [python, "-c",
         "from checkerscope import *; import checkerscope, sys; "
         "assert checkerscope.__file__.startswith(sys.prefix), checkerscope.__file__; "
         "assert 'CheckerboardMetric' not in dir(); "
         "print(overlap(Deconv(3, 2)).unevenness, nn.ResizeConv2d(2, 2).is_fused)"],
        cwd=tmp_path,
    )  # fmt: skip
    assert star.returncode == 0, star.stderr
    assert star.stdout.split() == ["4.0", "True"]


def test_what_needs_an_extra_names_it_in_one_line(base_install: Path, tmp_path: Path) -> None:
    python, cli = str(base_install / "python"), str(base_install / "checkerscope")
    png = _run([cli, "overlap", "-k", "3", "-s", "2", "--png", "o.png"], cwd=tmp_path)
    assert png.returncode == 2
    assert png.stderr.strip().count("\n") == 0 and "checkerscope[plot]" in png.stderr
    assert not (tmp_path / "o.png").exists()
    metric = _run(
        [python, "-c", "import checkerscope; checkerscope.CheckerboardMetric"], cwd=tmp_path
    )
    assert metric.returncode != 0 and "checkerscope[metrics]" in metric.stderr


def test_reproduce_on_a_base_install_refuses_within_seconds(
    base_install: Path, tmp_path: Path
) -> None:
    """Every claim draws figures (matplotlib, the data extra): a base install must say so
    before training anything, and leave no run folder behind."""
    started = time.perf_counter()
    proc = _run(
        [str(base_install / "checkerscope"), "reproduce", "--quick", "--out", "run"], cwd=tmp_path
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "checkerscope[data]" in proc.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert not (tmp_path / "run" / "claims.json").exists()
