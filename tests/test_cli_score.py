"""``checkerscope score``: folders with good and broken files, outputs, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from checkerscope.cli import main
from checkerscope.metrics import checkerboard_score

RNG = np.random.default_rng(5)


def smooth_image(height: int = 96, width: int = 128) -> np.ndarray:
    """A grid-free picture: integrated noise, scaled to 8 bits."""
    field = np.cumsum(np.cumsum(RNG.normal(size=(height, width, 3)), axis=0), axis=1)
    field -= field.min()
    return (255 * field / field.max()).astype(np.uint8)


def with_grid(image: np.ndarray, amplitude: float = 20.0) -> np.ndarray:
    checker = np.indices(image.shape[:2]).sum(axis=0) % 2 * 2 - 1.0
    return np.clip(image + amplitude * checker[..., None], 0, 255).astype(np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "samples"
    (folder / "nested").mkdir(parents=True)
    clean = smooth_image()
    Image.fromarray(clean).save(folder / "clean.png")
    Image.fromarray(with_grid(clean)).save(folder / "nested" / "grid.png")
    Image.fromarray(clean[..., 0]).save(folder / "gray.tif")
    Image.fromarray(clean).save(folder / "photo.jpg", quality=95)
    good = (folder / "clean.png").read_bytes()
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good[: len(good) // 3])
    (folder / "text.jpg").write_text("not an image")
    (folder / "ignored.txt").write_text("not listed: no image suffix")
    return folder


BROKEN = ("empty.png", "truncated.png", "text.jpg")
GOOD = ("clean.png", "gray.tif", "nested/grid.png", "photo.jpg")


def test_folder_with_broken_files_scores_every_good_one(mixed_folder: Path, capsys) -> None:
    assert main(["score", str(mixed_folder)]) == 0
    out, err = capsys.readouterr()
    for name in GOOD:
        assert str(mixed_folder / name) in out
    err_lines = err.strip().splitlines()
    assert len(err_lines) == len(BROKEN)
    for name in BROKEN:
        (line,) = [line for line in err_lines if name in line]
        assert line.startswith("checkerscope score: skipped ")
    assert "empty file" in err and "truncated or corrupt" in err and "not an image" in err
    assert "ignored.txt" not in out + err
    assert "scored 4, failed 3" in out


def test_scores_in_the_table_match_the_api(mixed_folder: Path, capsys) -> None:
    main(["score", str(mixed_folder / "nested" / "grid.png"), str(mixed_folder / "clean.png")])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if ".png" in line}
    grid = checkerboard_score(np.asarray(Image.open(mixed_folder / "nested/grid.png")))
    grid_row = rows[str(mixed_folder / "nested" / "grid.png")]
    assert grid_row[1:] == [
        "128x96",
        "2x2",
        f"{grid.db[0]:.1f}",
        f"{grid.significance[0]:.1f}",
        f"{grid.amplitude.peak_to_peak_levels[0]:.2f}",
        "grid",
    ]
    assert rows[str(mixed_folder / "clean.png")][-1] == "clean"


def test_json_output_is_only_json(mixed_folder: Path, capsys) -> None:
    assert main(["score", str(mixed_folder), "--json", "--period", "auto"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["summary"]["scored"] == 4 and result["summary"]["failed"] == 3
    by_name = {Path(f["path"]).name: f for f in result["files"]}
    assert set(by_name) == {Path(n).name for n in GOOD + BROKEN}
    assert by_name["grid.png"]["verdict"] == "grid"
    assert by_name["grid.png"]["period"] == [2, 2]
    assert by_name["gray.tif"]["channels"] == 1
    assert "empty file" in by_name["empty.png"]["error"]
    assert len(err.strip().splitlines()) == 3


def test_csv_is_written_with_every_file(mixed_folder: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "out" / "scores.csv"
    assert main(["score", str(mixed_folder), "--csv", str(target), "--workers", "3"]) == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 7
    good = [r for r in rows if not r["error"]]
    assert {Path(r["path"]).name for r in good} == {Path(n).name for n in GOOD}
    verdicts = {Path(r["path"]).name: (float(r["db"]), r["verdict"]) for r in good}
    assert verdicts["grid.png"][1] == "grid" and verdicts["grid.png"][0] > 20
    assert verdicts["clean.png"][1] == "clean" and verdicts["clean.png"][0] < 10
    assert not list(target.parent.glob(".*.tmp"))  # the atomic write left nothing behind


def test_workers_give_the_same_scores(mixed_folder: Path, capsys) -> None:
    main(["score", str(mixed_folder), "--json"])
    serial = json.loads(capsys.readouterr().out)
    main(["score", str(mixed_folder), "--json", "--workers", "4"])
    parallel = json.loads(capsys.readouterr().out)
    assert serial["files"] == parallel["files"]


def test_only_broken_files_exit_2(mixed_folder: Path, capsys) -> None:
    paths = [str(mixed_folder / name) for name in BROKEN]
    assert main(["score", *paths]) == 2
    err = capsys.readouterr().err
    assert "none of the 3 file(s) could be scored" in err


def test_no_files_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["score", str(tmp_path)]) == 2
    assert "no image files found" in capsys.readouterr().err


def test_missing_path_is_reported(mixed_folder: Path, capsys) -> None:
    assert main(["score", str(mixed_folder / "clean.png"), "missing.png"]) == 0
    assert "missing.png: no such file" in capsys.readouterr().err


def test_fail_above_is_a_check(mixed_folder: Path, capsys) -> None:
    assert main(["score", str(mixed_folder / "nested"), "--fail-above", "20"]) == 1
    assert "1 file(s) score above 20 dB" in capsys.readouterr().err
    assert main(["score", str(mixed_folder / "clean.png"), "--fail-above", "20"]) == 0


@pytest.mark.parametrize("period", ["1", "x", "-4"])
def test_bad_period_exits_2(mixed_folder: Path, period: str, capsys) -> None:
    assert main(["score", str(mixed_folder), "--period", period]) == 2
    assert "--period must be" in capsys.readouterr().err


def test_image_too_small_for_the_period_is_skipped(tmp_path: Path, capsys) -> None:
    Image.fromarray(smooth_image(8, 8)).save(tmp_path / "tiny.png")
    Image.fromarray(smooth_image()).save(tmp_path / "big.png")
    assert main(["score", str(tmp_path), "--period", "8"]) == 0
    err = capsys.readouterr().err
    assert "tiny.png" in err and "too small for period 8" in err
