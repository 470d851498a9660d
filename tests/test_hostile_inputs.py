"""Hostile and broken inputs on every subcommand: nothing lost, every input bounded.

Each case of issue 14 is a test here. Each asserts the exit status, that stderr is one line
without a traceback (or, where the command succeeds, what it printed), and that no input
and no earlier output changed (SHA-256 before and after). Memory cases run in a child
process under ``resource.setrlimit(RLIMIT_AS)``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import resource
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import checkerscope.experiments.runner as runner
from checkerscope.errors import CheckerscopeError
from checkerscope.experiments import CLAIM_IDS, claim_module_name
from cli_runner import run_cli as cli
from test_experiments import fake_claim_module

RNG = np.random.default_rng(14)
SRC = Path(__file__).resolve().parent.parent / "src"


# --------------------------------------------------------------------------- helpers


def digest(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under ``paths`` (files or folders), by path."""
    found: dict[str, str] = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            found[os.fsdecode(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def one_line_error(err: str, command: str, *fragments: str) -> None:
    """stderr is exactly one line, starts with the command's name and has no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"checkerscope {command}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, err)


def child(
    *argv: str, memory_bytes: int | None = None, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``python -m checkerscope ARGV`` in a child process, optionally with an address-space
    limit."""

    def limit() -> None:
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    env.update(kwargs.pop("env", {}))  # type: ignore[arg-type]
    if "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(
        [sys.executable, "-m", "checkerscope", *map(str, argv)],
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def photo(height: int = 64, width: int = 64, grid: float = 0.0) -> np.ndarray:
    """A smooth RGB picture (no grid), with an optional period-2 checkerboard."""
    field = np.cumsum(np.cumsum(RNG.normal(size=(height, width, 3)), axis=0), axis=1)
    field = 200 * (field - field.min()) / np.ptp(field) + 20
    checker = (np.indices((height, width)).sum(axis=0) % 2 * 2 - 1.0)[..., None]
    return np.clip(field + grid * checker, 0, 255).astype(np.uint8)


def save_png(path: Path, pixels: np.ndarray | None = None) -> Path:
    Image.fromarray(photo() if pixels is None else pixels).save(path)
    return path


def huge_png(path: Path, width: int = 13000, height: int = 13000) -> Path:
    """A real, valid RGB PNG of zeros: ~490 KB on disk, 13000x13000 pixels when decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    compressor = zlib.compressobj(6)
    row = bytes(1 + 3 * width)
    data = b"".join([*(compressor.compress(row) for _ in range(height)), compressor.flush()])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    save_png(folder / "clean.png")
    save_png(folder / "grid.png", photo(grid=30.0))
    return folder


USER_MODELS = textwrap.dedent(
    """
    import sys
    from torch import nn

    def make():
        return nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1))

    def exits_zero():
        raise SystemExit(0)

    def interrupts():
        raise KeyboardInterrupt

    def noisy():
        print("factory output")
        return Noisy()

    class Noisy(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 3, 3, stride=2)

        def forward(self, x):
            print("forward output")
            return self.up(x)

    class Exits(nn.Module):
        def forward(self, x):
            sys.exit(5)

    def exits_in_forward():
        return Exits()
    """
)


@pytest.fixture()
def user_models(tmp_path: Path) -> Path:
    path = tmp_path / "hostile_models.py"  # its own name: file imports stay in sys.modules
    path.write_text(USER_MODELS)
    return path


@pytest.fixture()
def saved_model(tmp_path: Path) -> Path:
    path = tmp_path / "m.pt"
    torch.save(nn_model(), path)
    return path


def nn_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 3, 3, stride=2))


# --------------------------------------------------------------------------- work destroyed


def test_score_refuses_a_csv_that_is_its_input(images: Path, capsys) -> None:
    image = images / "clean.png"
    before = digest(images)
    code, out, err = cli(capsys, "score", image, "--csv", image)
    assert code == 2 and out == ""
    one_line_error(err, "score", "--csv", "is an input of this command")
    assert digest(images) == before


def test_score_refuses_a_csv_over_an_input_reached_through_a_link(images: Path, capsys) -> None:
    link = images.parent / "scores.csv"
    link.symlink_to(images / "grid.png")
    before = digest(images)
    code, _, err = cli(capsys, "score", images, "--csv", link, "--force")
    assert code == 2  # --force never lets an output replace an input
    one_line_error(err, "score", "is an input of this command")
    assert digest(images) == before


def test_score_replaces_its_own_csv_but_no_other_file_without_force(
    images: Path, tmp_path: Path, capsys
) -> None:
    table = tmp_path / "scores.csv"
    assert cli(capsys, "score", images, "--csv", table)[0] == 0
    assert cli(capsys, "score", images / "clean.png", "--csv", table)[0] == 0  # its own CSV
    assert len(table.read_text().splitlines()) == 2
    notes = tmp_path / "notes.csv"
    notes.write_text("name,phone\nann,123\n")
    before = digest(notes)
    code, out, err = cli(capsys, "score", images, "--csv", notes)
    assert code == 2 and out == ""
    one_line_error(err, "score", "--csv", "exists and is not a score CSV", "--force")
    assert digest(notes) == before
    assert cli(capsys, "score", images, "--csv", notes, "--force")[0] == 0
    assert notes.read_text().startswith("path,height,width")


def test_audit_refuses_an_html_report_over_its_model(saved_model: Path, capsys) -> None:
    before = digest(saved_model)
    code, out, err = cli(
        capsys, "audit", saved_model, "--html", saved_model, "--input-shape", "1,4,8,8"
    )
    assert code == 2 and out == ""
    one_line_error(err, "audit", "--html", "is an input of this command")
    assert digest(saved_model) == before


def test_fix_refuses_outputs_over_its_model(saved_model: Path, capsys) -> None:
    before = digest(saved_model)
    code, out, err = cli(
        capsys, "fix", saved_model, "--out", saved_model, "--html", saved_model,
        "--input-shape", "1,4,8,8",
    )  # fmt: skip
    assert code == 2 and out == ""
    one_line_error(err, "fix", "is an input of this command")
    assert digest(saved_model) == before


def test_fix_refuses_one_file_for_two_outputs_and_an_existing_model(
    saved_model: Path, tmp_path: Path, capsys
) -> None:
    other = tmp_path / "other.pt"
    torch.save(nn_model(), other)
    before = digest(saved_model, other)
    args = ["fix", saved_model, "--input-shape", "1,4,8,8", "--seeds", "1"]
    code, _, err = cli(capsys, *args, "--out", tmp_path / "a.pt", "--html", tmp_path / "a.pt")
    assert code == 2
    one_line_error(err, "fix", "--out and --html name the same file")
    code, _, err = cli(capsys, *args, "--out", other)
    assert code == 2
    one_line_error(err, "fix", "--out", "exists and is not a model checkerscope wrote")
    assert digest(saved_model, other) == before
    assert cli(capsys, *args, "--out", other, "--force")[0] in (0, 1)
    assert digest(other) != before[os.fsdecode(other)]


def test_outputs_are_checked_before_any_user_code_runs(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "imported"
    module = tmp_path / "marks.py"
    module.write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n"
        "from torch import nn\ndef make():\n    return nn.ConvTranspose2d(4, 3, 3, stride=2)\n"
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for command, flag in (("audit", "--html"), ("fix", "--out")):
        code, out, err = cli(
            capsys, command, f"{module}:make", "--input-shape", "1,4,8,8",
            flag, blocker / "report",
        )  # fmt: skip
        assert code == 2 and out == ""
        one_line_error(err, command, "cannot write", flag)
    assert not marker.exists()


def test_score_checks_an_unwritable_csv_before_scoring(images: Path, tmp_path: Path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for target in (blocker / "s.csv", Path("/proc/s.csv")):
        code, out, err = cli(capsys, "score", images, "--csv", target)
        assert code == 2 and out == ""  # no table: nothing was scored
        one_line_error(err, "score", f"cannot write --csv '{target}'")


def test_png_under_proc_names_the_flag_and_the_path(capsys) -> None:
    code, out, err = cli(capsys, "overlap", "--png", "/proc/x.png")
    assert code == 2 and out == ""
    one_line_error(err, "overlap", "--png '/proc/x.png'")
    assert ".tmp" not in err  # not the temporary file


# ------------------------------------------------------------------ reproduce keeps work


@pytest.fixture()
def fake_claims(monkeypatch) -> dict:
    fakes = {c: fake_claim_module(c) for c in ("C1", "C2", "C5", "C11")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    return fakes


def test_reproduce_into_a_run_folder_keeps_the_other_claims(
    tmp_path: Path, fake_claims: dict, capsys
) -> None:
    out = tmp_path / "out"
    assert cli(capsys, "reproduce", "--only", "C1,C2,C11", "--out", out)[0] == 0
    first = json.loads((out / "claims.json").read_text())
    kept = digest(out / "figures" / "fake_c1.png", out / "figures" / "fake_c2.png")
    assert cli(capsys, "reproduce", "--quick", "--only", "C5,C11", "--out", out)[0] == 0
    document = json.loads((out / "claims.json").read_text())
    entries = {c["id"]: c for c in document["claims"]}
    assert list(entries) == ["C1", "C2", "C5", "C11"]  # the article's order
    assert entries["C1"] == {**first["claims"][0], "quick": False, "device": "cpu"}
    assert entries["C11"]["quick"] is True and entries["C1"]["quick"] is False
    assert digest(out / "figures" / "fake_c1.png", out / "figures" / "fake_c2.png") == kept
    page = (out / "report.html").read_text()
    assert "quick mode: C5, C11" in page and page.count("data:image/png;base64,") == 4


def test_reproduce_replaces_a_claim_only_when_it_finishes(
    tmp_path: Path, fake_claims: dict, capsys
) -> None:
    out = tmp_path / "out"
    assert cli(capsys, "reproduce", "--only", "C1,C2", "--out", out)[0] == 0
    before = digest(out)
    seen: list[dict] = []
    original = fake_claims["C2"].run

    def peeking(quick, seed, device="cpu", *, out_dir, progress=None):
        seen.append(digest(out))
        return original(quick, seed, device, out_dir=out_dir, progress=progress)

    fake_claims["C2"].run = peeking
    assert cli(capsys, "reproduce", "--only", "C2", "--seed", "3", "--out", out)[0] == 0
    assert seen == [before]  # while C2 ran again, its old entry and figure were all there
    entries = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    assert entries["C2"]["seed"] == 3 and entries["C1"]["seed"] == 0


def test_an_interrupted_rerun_loses_nothing(tmp_path: Path, fake_claims: dict, capsys) -> None:
    out = tmp_path / "out"
    assert cli(capsys, "reproduce", "--only", "C1,C2,C5", "--out", out)[0] == 0
    before = digest(out)

    def interrupted(quick, seed, device="cpu", *, out_dir, progress=None):
        (Path(out_dir) / "fake_c2.png").write_bytes(b"half a figure")
        raise KeyboardInterrupt

    fake_claims["C2"].run = interrupted
    code, out_text, err = cli(capsys, "reproduce", "--quick", "--out", out, "--only", "C1,C2")
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    document = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in document["claims"]] == ["C1", "C2", "C5"]
    # C1 finished again (its own entry replaced); C2 and C5 and their figures untouched
    assert document["claims"][0]["quick"] is True
    after = digest(out)
    for name in ("figures/fake_c2.png", "figures/fake_c5.png"):
        assert after[os.fsdecode(out / name)] == before[os.fsdecode(out / name)]
    assert not list(out.glob(".staging-*"))


def test_reproduce_refuses_a_folder_that_is_not_a_run(tmp_path: Path, fake_claims, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "claims.json").write_text("my own claims, not JSON")
    (out / "report.html").write_text("<html>my report</html>")
    before = digest(out)
    code, _, err = cli(capsys, "reproduce", "--only", "C1", "--out", out)
    assert code == 2
    one_line_error(err, "reproduce", "is not a claims.json checkerscope wrote", "--force")
    (out / "claims.json").unlink()
    code, _, err = cli(capsys, "reproduce", "--only", "C1", "--out", out)
    assert code == 2
    one_line_error(err, "reproduce", "holds a report.html checkerscope did not write")
    assert digest(out) == {k: v for k, v in before.items() if not k.endswith("claims.json")}


# ------------------------------------------------------------- reproduce: requirements


def test_reproduce_checks_extras_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        runner.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "skimage" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: pytest.fail("ran"))
    started = time.perf_counter()
    code, out, err = cli(capsys, "reproduce", "--quick", "--out", tmp_path / "out")
    assert code == 2 and out == ""
    one_line_error(err, "reproduce", "C6, C7, C8, C9, C10, C11, C14 need the 'data' extra")
    assert "pip install 'checkerscope[data]'" in err
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "out").exists()


def test_claim_requirements_match_what_the_claims_read() -> None:
    for claim_id in CLAIM_IDS:
        name = claim_module_name(claim_id)
        assert name is not None
        source = (SRC / (name.replace(".", "/") + ".py")).read_text()
        reads_photos = "photo_patches" in source or "skimage" in source
        modules = runner.CLAIM_MODULES[claim_id]
        assert reads_photos == ("skimage" in modules), claim_id
        assert "matplotlib" in modules and "save_figure" in source, claim_id


def test_reproduce_on_a_base_install_stops_at_once(tmp_path: Path, monkeypatch, capsys):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        runner.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("skimage", "matplotlib") else real_find_spec(name, *a),
    )
    code, out, err = cli(capsys, "reproduce", "--only", "C1,C6", "--out", tmp_path / "out")
    assert code == 2 and out == ""
    one_line_error(
        err,
        "reproduce",
        "C1, C6 need the 'data' extra (matplotlib, for the figures; scikit-image's bundled "
        "photographs)",
    )
    assert not (tmp_path / "out").exists()


def test_reproduce_exits_non_zero_when_a_claim_raises(tmp_path: Path, monkeypatch, capsys):
    fakes = {"C1": fake_claim_module("C1"), "C2": fake_claim_module("C2", "raise")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    code, _, err = cli(capsys, "reproduce", "--only", "C1,C2", "--out", tmp_path)
    assert code == 1
    assert "checkerscope reproduce: C2 error: the experiment raised RuntimeError" in err


def test_a_failing_rerun_keeps_the_result_it_replaces(tmp_path: Path, monkeypatch, capsys):
    fakes = {"C1": fake_claim_module("C1")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    assert cli(capsys, "reproduce", "--only", "C1", "--out", tmp_path)[0] == 0
    figure = digest(tmp_path / "figures")
    failing = fake_claim_module("C1", "raise")

    def writes_then_raises(quick, seed, device="cpu", *, out_dir, progress=None):
        (Path(out_dir) / "fake_c1.png").write_bytes(b"half a figure")
        raise RuntimeError("broke after writing a figure")

    failing.run = writes_then_raises
    fakes["C1"] = failing
    assert cli(capsys, "reproduce", "--only", "C1", "--out", tmp_path)[0] == 1
    (entry,) = json.loads((tmp_path / "claims.json").read_text())["claims"]
    assert entry["verdict"] == "error" and entry["previous"]["verdict"] == "agrees"
    assert digest(tmp_path / "figures") == figure  # the kept result's figure is intact


def test_check_judges_the_claims_this_run_ran(tmp_path: Path, monkeypatch, capsys) -> None:
    fakes = {"C1": fake_claim_module("C1", "raise"), "C2": fake_claim_module("C2")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    assert cli(capsys, "reproduce", "--only", "C1", "--out", tmp_path, "--check")[0] == 1
    assert cli(capsys, "reproduce", "--only", "C2", "--out", tmp_path, "--check")[0] == 0
    verdicts = [c["verdict"] for c in json.loads((tmp_path / "claims.json").read_text())["claims"]]
    assert verdicts == ["error", "agrees"]  # the earlier failure is kept, not judged again


def test_seed_out_of_range_names_the_flag(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "reproduce", "--seed", "9" * 25, "--out", tmp_path / "x")
    assert code == 2
    one_line_error(err, "reproduce", "--seed must be between 0 and 2**63 - 1")
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------- per-item isolation


def test_an_oversized_image_is_skipped_with_its_size_under_2_gb(images: Path) -> None:
    huge_png(images / "huge.png")
    before = digest(images)
    proc = child("score", images, "--json", memory_bytes=2 << 30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"checkerscope score: skipped {images / 'huge.png'}: 13000x13000 = 169,000,000 pixels, "
        "over the limit of 89,478,485 (--max-pixels)"
    ]
    result = json.loads(proc.stdout)
    assert result["summary"] == {**result["summary"], "scored": 2, "failed": 1}
    assert digest(images) == before


def test_max_pixels_is_a_bound_and_must_be_positive(images: Path, capsys) -> None:
    code, out, err = cli(capsys, "score", images, "--max-pixels", "4000")
    assert code == 2 and "none of the 2 file(s) could be scored" in err
    assert "64x64 = 4,096 pixels, over the limit of 4,000 (--max-pixels)" in err
    code, _, err = cli(capsys, "score", images, "--max-pixels", "0")
    assert code == 2
    one_line_error(err, "score", "--max-pixels must be at least 1")


def test_one_file_out_of_memory_is_one_skipped_line(images: Path, monkeypatch, capsys) -> None:
    import checkerscope.imageio as imageio

    real = imageio.load_image

    def load(path, max_pixels=None, **options):
        if Path(path).name == "grid.png":
            raise MemoryError
        return real(path, max_pixels=max_pixels, **options)

    monkeypatch.setattr(imageio, "load_image", load)
    code, out, err = cli(capsys, "score", images, "--json")
    assert code == 0
    skipped = f"checkerscope score: skipped {images / 'grid.png'}: not enough memory"
    assert err.strip() == f"{skipped} to read and score it"
    assert json.loads(out)["summary"]["scored"] == 1


def test_non_utf8_names_round_trip_through_csv_and_json(images: Path, tmp_path, capsys):
    raw = os.fsencode(images) + b"/caf\xe9 \xff.png"
    save_png(Path(os.fsdecode(raw)))
    table = tmp_path / "s.csv"
    code, out, err = cli(capsys, "score", images, "--csv", table, "--json")
    assert code == 0 and err == ""
    names = [os.fsencode(f["path"]) for f in json.loads(out)["files"]]
    assert raw in names
    assert raw in table.read_bytes().splitlines()[1 + sorted(names).index(raw)]
    code, out, _ = cli(capsys, "score", images)  # the table shows the bytes escaped
    assert code == 0 and "caf\\xe9 \\xff.png" in out


def test_fifo_and_devices_are_skipped_without_blocking(images: Path, capsys) -> None:
    fifo = images / "pipe.png"
    os.mkfifo(fifo)
    code, out, err = cli(capsys, "score", images, fifo, "/dev/zero")
    assert code == 0
    assert err.count("not a regular file") == 2 and "scored 2, failed 2" in out


def test_an_interrupted_score_writes_what_it_scored(images: Path, tmp_path, monkeypatch, capsys):
    import checkerscope.cli.score as score

    for index in range(6):
        save_png(images / f"more_{index}.png")
    real = score._score_chunk
    calls = []

    def chunk(paths, period, max_pixels, **options):
        calls.append(len(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(paths, period, max_pixels, **options)

    monkeypatch.setattr(score, "_score_chunk", chunk)
    monkeypatch.setattr(score, "_CHUNK", 4)  # the second of two chunks is interrupted
    table = tmp_path / "s.csv"
    code, out, err = cli(capsys, "score", images, "--csv", table)
    assert code == 130 and "interrupted after 4 of 8 file(s)" in err
    assert len(list(csv.DictReader(table.open()))) == 4 and "scored 4, failed 0" in out


# --------------------------------------------------------------------- unbounded memory


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-k", "3", "-s", "2", "--layers", "1000"], "of 1000 (deconv k3 s2)"),
        (["-k", "1000000000", "-s", "2"], "has a kernel of 1,000,000,000 taps"),
        (["-k", "3", "-s", "1000000000"], "has a stride of 1,000,000,000"),
        (["--conv", "-k", "3", "-s", "2", "--layers", "300", "--backward"], "use fewer layers"),
    ],
)
def test_overlap_refuses_work_over_its_budget_before_allocating(argv, fragment) -> None:
    proc = child("overlap", *argv, memory_bytes=1 << 30, timeout=60)
    assert proc.returncode == 2, proc.stderr
    one_line_error(proc.stderr, "overlap", fragment, "work budget")
    assert proc.stdout == ""


def test_a_tiny_onnx_file_with_a_huge_kernel_is_refused(tmp_path: Path, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[10**9, 10**9])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 1, 3, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None, None])],
    )
    path = tmp_path / "evil.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert path.stat().st_size < 300
    before = digest(path)
    code, out, err = cli(capsys, "audit", path)
    assert code == 2 and out == ""
    one_line_error(err, "audit", "kernel_shape [1000000000, 1000000000]", "refusing the file")
    assert digest(path) == before


def test_an_onnx_constant_declaring_a_huge_tensor_is_refused(tmp_path: Path, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1, 1, 10**5, 10**5])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 2])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None, None])],
        initializer=[weight],
    )
    path = tmp_path / "hollow.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, _, err = cli(capsys, "audit", path)
    assert code == 2
    one_line_error(err, "audit", "initializer 'w' declares shape [1, 1, 100000, 100000]")


def test_input_shape_with_twenty_digits_is_one_line(user_models: Path, capsys) -> None:
    code, out, err = cli(
        capsys, "audit", f"{user_models}:make", "--input-shape", "1,4," + "9" * 20 + ",8"
    )
    assert code == 2 and out == ""
    one_line_error(err, "audit", "--input-shape", "over the limit")


# ------------------------------------------------------------------------ injection


def test_csv_cells_are_neutralised_against_formulas(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    names = ["=cmd|' calc'!A0.png", "+1.png", "-2.png", "@sum.png", "plain.png"]
    for name in names:
        save_png(folder / name)
    table = tmp_path / "s.csv"
    assert cli(capsys, "score", folder, "--csv", table)[0] == 0
    cells = {row["path"].rsplit("/", 1)[-1]: row for row in csv.DictReader(table.open())}
    for name in names:
        (cell,) = [row["path"] for row in cells.values() if row["path"].endswith(name)]
        assert not cell.startswith(("=", "+", "-", "@")), cell
        assert cell.lstrip("'").endswith(name)
    assert all(not row["db"].startswith("'") for row in cells.values())  # numbers stay numbers


def test_terminal_table_shows_names_as_text(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in ("[bold red]x.png", "esc\x1b[31mred.png", "two\nlines.png"):
        save_png(folder / name)
    code, out, err = cli(capsys, "score", folder)
    assert code == 0 and err == ""
    assert "[bold red]x.png" in out  # markup printed, not interpreted
    assert "\x1b" not in out and "esc\\x1b[31mred.png" in out
    assert "two\\nlines.png" in out
    assert len([line for line in out.splitlines() if ".png" in line]) == 3  # one row each


# ------------------------------------------------------------- exit codes and messages


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("{file}:exits_zero", "calling {file}:exits_zero() called sys.exit(0)"),
        ("{file}:interrupts", "raised KeyboardInterrupt itself"),
        ("{file}:exits_in_forward", "running Exits from '{file}:exits_in_forward'"),
    ],
)
def test_user_code_that_exits_is_an_error_naming_it(
    user_models: Path, capsys, target: str, fragment: str
) -> None:
    before = digest(user_models)
    target = target.format(file=user_models)
    code, out, err = cli(capsys, "audit", target, "--input-shape", "1,4,8,8", "--no-probe")
    assert code == 2 and out == ""
    one_line_error(err, "audit", fragment.format(file=user_models))
    assert digest(user_models) == before


def test_a_module_exiting_at_import_is_an_error(tmp_path: Path, capsys) -> None:
    module = tmp_path / "quits.py"
    module.write_text("import sys\nsys.exit(3)\n")
    code, out, err = cli(capsys, "audit", f"{module}:make", "--input-shape", "1,4,8,8")
    assert code == 2 and out == ""
    one_line_error(err, "audit", f"importing '{module}' called sys.exit(3)")


def test_a_module_parsing_the_command_line_is_an_error_naming_it(tmp_path: Path, capsys):
    module = tmp_path / "script.py"
    module.write_text(
        "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('data')\n"
        "parser.parse_args()\n"
    )
    code, out, err = cli(capsys, "audit", f"{module}:make", "--input-shape", "1,4,8,8")
    assert code == 2 and out == ""
    one_line_error(err, "audit", f"importing '{module}'", "parses the command line")
    assert "usage: checkerscope" not in err and "the following arguments are required" in err


def test_user_prints_go_to_stderr_and_json_stays_json(user_models: Path, capsys) -> None:
    code, out, err = cli(
        capsys, "audit", f"{user_models}:noisy", "--input-shape", "1,4,8,8", "--json",
        "--seeds", "1",
    )  # fmt: skip
    assert code in (0, 1)
    assert json.loads(out)["layers"]
    assert "factory output" in err and "forward output" in err


def test_an_evil_pickle_that_exits_is_an_error(tmp_path: Path, capsys) -> None:
    class Exit:
        def __reduce__(self):
            return (sys.exit, (7,))

    path = tmp_path / "evil.pt"
    torch.save(Exit(), path)
    code, out, err = cli(capsys, "audit", path, "--input-shape", "1,4,8,8")
    assert code == 2 and out == ""
    one_line_error(err, "audit", f"loading '{path}' called sys.exit(7)")


def test_a_real_ctrl_c_in_user_code_still_interrupts(tmp_path: Path, capsys) -> None:
    module = tmp_path / "slow.py"
    module.write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\ndef make():\n    pass\n"
    )
    code, _, err = cli(capsys, "audit", f"{module}:make", "--input-shape", "1,4,8,8")
    assert code == 130 and err.strip() == "checkerscope: interrupted"


def test_a_closed_pipe_ends_quietly() -> None:
    command = [sys.executable, "-m", "checkerscope", "overlap", "-k", "3", "-s", "2"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [*command, "--layers", "16", "--dims", "1", "--json"],  # more than a pipe holds
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["overlap", "--stack", "deconv:k3:s2:s4"], "'s4' repeats the stride"),
        (["overlap", "--stack", "resize:x2:nearest:bilinear"], "repeats the mode"),
        (["overlap", "--threads", "0"], "--threads must be between 1 and"),
        (["score", "{images}", "--fail-above", "nan"], "--fail-above must be a finite number"),
        (["score", "{images}", "--fail-above", "inf"], "--fail-above must be a finite number"),
        (["score", "{images}", "--period", "99999999999"], "--period must be"),
        (["score", "{images}", "--workers", "100000"], "--workers must be between"),
        (["audit", "zoo:dcgan32", "--seeds", "10000000"], "--seeds must be between"),
    ],
)
def test_bad_numbers_are_one_line(images: Path, capsys, argv: list[str], fragment: str):
    before = digest(images)
    command = argv[0]
    code, out, err = cli(capsys, *[a.format(images=images) for a in argv])
    assert code == 2 and out == ""
    one_line_error(err, command, fragment)
    assert digest(images) == before


def test_a_finite_1e38_tiff_is_scored(tmp_path: Path, capsys) -> None:
    values = RNG.random((64, 64)).astype(np.float32)
    Image.fromarray(values * np.float32(1e38), mode="F").save(tmp_path / "huge_values.tif")
    Image.fromarray(values, mode="F").save(tmp_path / "unit_values.tif")
    code, out, err = cli(capsys, "score", tmp_path, "--json")
    assert code == 0 and err == ""
    huge, unit = json.loads(out)["files"]
    assert huge["path"].endswith("huge_values.tif") and math.isfinite(huge["db"])
    assert huge["db"] == pytest.approx(unit["db"], abs=1e-3)  # the score ignores the scale


# ------------------------------------------------------------------- globs and progress


def test_a_recursive_glob_over_cyclic_links_ends(tmp_path: Path, capsys) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "c").mkdir()
    save_png(tree / "a" / "b" / "x.png")
    save_png(tree / "c" / "y.png")
    for link, target in (("a/b/up", "../.."), ("c/to_a", "../a"), ("a/to_c", "../c")):
        (tree / link).symlink_to(target)
    started = time.perf_counter()
    code, out, _ = cli(capsys, "score", f"{tree}/**/*.png", "--json")
    assert code == 0 and time.perf_counter() - started < 20
    assert sorted(Path(f["path"]).name for f in json.loads(out)["files"]) == ["x.png", "y.png"]


def test_the_recursive_glob_agrees_with_pythons_on_a_tree_without_links(tmp_path: Path):
    import glob

    from checkerscope.imageio import _glob

    for name in ("a/b/c/x.png", "a/y.jpg", "z.png", "a/.hidden/w.png", ".top/v.png", "a/b/q.PNG"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    for pattern in ("**/*.png", "a/**", "**/b/*", "a/**/*.[pj][np]g", "*/**/?.png", "**"):
        full = f"{tmp_path}/{pattern}"
        assert sorted(_glob(full)) == sorted(glob.glob(full, recursive=True)), pattern


def test_score_progress_shows_in_a_log(images: Path, tmp_path: Path) -> None:
    for index in range(4):
        save_png(images / f"more_{index}.png")
    log = tmp_path / "log.txt"
    with open(log, "w") as stderr:
        proc = child(
            "score", images, "--workers", "2", "--csv", tmp_path / "s.csv",
            env={"CHECKERSCOPE_PROGRESS_SECONDS": "0"}, stderr=stderr, stdout=subprocess.PIPE,
        )  # fmt: skip
    assert proc.returncode == 0
    lines = log.read_text().splitlines()
    assert lines[-1].startswith("checkerscope score: done, 6/6 files in ")
    assert any(re.match(r"checkerscope score: \d/6 files \(\d+%\), \d+ s", line) for line in lines)


def test_reproduce_progress_shows_in_a_log(tmp_path: Path, monkeypatch, capsys) -> None:
    fakes = {"C1": fake_claim_module("C1"), "C2": fake_claim_module("C2")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    monkeypatch.setenv("CHECKERSCOPE_PROGRESS_SECONDS", "0")
    code, _, err = cli(capsys, "reproduce", "--only", "C1,C2", "--out", tmp_path)
    assert code == 0
    lines = err.splitlines()
    assert "C1 (1/2): 50%, 0 s, about 0 s left: half way" in lines
    assert "C2 (2/2): done, 100% in 0 s" in lines
    assert any(re.fullmatch(r"\s*C2\s+agrees\s+0 s\s+fake C2", line) for line in lines)


def test_progress_lines_in_a_log_and_nothing_for_short_work() -> None:
    from checkerscope._progress import Progress

    log = io.StringIO()
    with Progress("scoring", total=8, unit="files", stream=log, interval_s=0) as progress:
        progress.advance(4)
    assert log.getvalue().splitlines() == [
        "scoring: 4/8 files (50%), 0 s, about 0 s left",
        "scoring: stopped at 4/8 files after 0 s",
    ]
    quiet = io.StringIO()
    with Progress("short", total=3, unit="files", stream=quiet, interval_s=60) as progress:
        progress.advance(3)
    assert quiet.getvalue() == ""  # work shorter than one interval stays silent in a log


# ------------------------------------------------------------------------------ threads


def test_threads_and_passive_waiting(capsys) -> None:
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, checkerscope.cli; print(os.environ['OMP_WAIT_POLICY'])",
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        | {"PYTHONPATH": str(SRC)},
        timeout=60,
    )
    assert code.stdout.strip() == "PASSIVE"
    assert cli(capsys, "overlap", "--threads", "2")[0] == 0
    assert torch.get_num_threads() == 2
    assert cli(capsys, "overlap")[0] == 0 and torch.get_num_threads() in (1, 2)
    torch.set_num_threads(1)


def test_write_atomic_names_the_users_path(tmp_path: Path) -> None:
    from checkerscope._files import write_atomic

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CheckerscopeError, match=r"cannot write '.*/file/out.csv'"):
        write_atomic(blocker / "out.csv", "data")
