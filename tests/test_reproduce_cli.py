"""`checkerscope reproduce`: options, exit codes, outputs (fast: C1/C2 or fake claims)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import checkerscope.experiments.runner as runner
from checkerscope.cli import main
from test_experiments import fake_claim_module


def test_only_runs_the_named_claims_and_writes_everything(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["reproduce", "--only", "c2,C1", "--out", str(out), "--seed", "5"]) == 0
    document = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in document["claims"]] == ["C1", "C2"]
    assert document["seed"] == 5 and document["quick"] is False and document["device"] == "cpu"
    assert all(c["verdict"] == "agrees" for c in document["claims"])
    assert (out / "report.html").stat().st_size > 10_000  # figures inlined
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "c01_unevenness_grid.png",
        "c02_two_d_patterns.png",
    ]
    table = capsys.readouterr().out
    assert "C1" in table and "agrees" in table and "iff holds for 32/32" in table


def test_json_prints_the_claims_document(tmp_path: Path, capsys) -> None:
    assert main(["reproduce", "--only", "C2", "--out", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "claims.json").read_text())


@pytest.mark.parametrize(
    "argv",
    [
        ["--only", "C15"],
        ["--only", "C1,nonsense"],
        ["--only", ""],
        ["--device", "tpu"],
        ["--seed", "-1"],
        ["--loss-net", "/nonexistent/vgg16.pt"],
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, argv: list[str]) -> None:
    assert main(["reproduce", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("checkerscope reproduce: error:") and "\n" not in err
    assert not (tmp_path / "x" / "claims.json").exists()


def test_loss_net_is_loaded_before_the_run_and_used_by_c8(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import torch

    from checkerscope.experiments import c08_style_transfer

    monkeypatch.setattr(c08_style_transfer, "_loss_net_path", None)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    assert (
        main(
            ["reproduce", "--only", "C1", "--out", str(tmp_path / "a"), "--loss-net", str(garbage)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "cannot load the loss network" in err and "\n" not in err
    assert not (tmp_path / "a" / "claims.json").exists()

    saved = tmp_path / "features.pt"
    torch.save(torch.nn.Conv2d(3, 4, 3), saved)
    assert (
        main(["reproduce", "--only", "C1", "--out", str(tmp_path / "b"), "--loss-net", str(saved)])
        == 0
    )
    assert c08_style_transfer.load_loss_net(None, seed=0)[1] == str(saved)


def test_out_must_be_a_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["reproduce", "--only", "C1", "--out", str(blocker)]) == 2


def test_check_passes_when_the_claims_agree(tmp_path: Path) -> None:
    assert main(["reproduce", "--only", "C1,C2", "--out", str(tmp_path), "--check"]) == 0


def test_check_fails_when_a_must_agree_claim_does_not(tmp_path: Path, monkeypatch, capsys):
    fakes = {"C1": fake_claim_module("C1", "disagrees"), "C6": fake_claim_module("C6")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    args = ["reproduce", "--only", "C1,C6", "--out", str(tmp_path)]
    assert main(args) == 0  # without --check a disagreement is a result, not a failure
    assert main([*args, "--check"]) == 1
    assert "check failed: C1: disagrees (must agree)" in capsys.readouterr().err


def test_check_fails_when_an_experiment_raises(tmp_path: Path, monkeypatch) -> None:
    fakes = {"C9": fake_claim_module("C9", "raise")}
    monkeypatch.setattr(runner, "load_claim_module", lambda claim_id: fakes[claim_id])
    assert main(["reproduce", "--only", "C9", "--out", str(tmp_path), "--check"]) == 1
    (entry,) = json.loads((tmp_path / "claims.json").read_text())["claims"]
    assert entry["verdict"] == "error" and "RuntimeError" in entry["error"]


def test_progress_goes_to_stderr_and_help_lists_options(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkerscope", "reproduce", "--only", "C2", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "C2" in proc.stderr and "wrote" in proc.stderr  # bars and the closing line
    assert "key number" in proc.stdout
    helptext = subprocess.run(
        [sys.executable, "-m", "checkerscope", "reproduce", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    for option in ("--quick", "--only", "--out", "--seed", "--device", "--json", "--check"):
        assert option in helptext
