"""The reproduction framework: claim registry, runner, claims.json schema, report page,
and the exact (theory) claims C1-C4 end to end."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

from checkerscope.errors import CheckerscopeError
from checkerscope.experiments import (
    CLAIM_IDS,
    MUST_AGREE,
    claim_module_name,
    parse_claim_ids,
    run_all,
)
from checkerscope.experiments.base import Claim, ClaimResult
from checkerscope.experiments.report import DOCUMENT_KEYS, ENTRY_KEYS, headline, jsonable
from checkerscope.experiments.runner import run_claims

MY_CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C11", "C12", "C13")


# --------------------------------------------------------------------------- fakes


def fake_claim_module(claim_id: str, behaviour: str = "agrees") -> types.ModuleType:
    """A claim module that runs in milliseconds.

    behaviour: a verdict to return, "raise" to fail, "bad-return" to return a non-result,
    or "seeded" to report the first torch.rand draw (to check the runner's seeding).
    """
    module = types.ModuleType(f"fake_{claim_id.lower()}")
    module.CLAIM = Claim(
        id=claim_id,
        title=f"fake {claim_id}",
        article="the article says so",
        method="a fake measurement",
        rule="agrees if the fake says so",
    )
    module.NOTES = {"value": "a number the fake made up"}

    def run(quick, seed, device="cpu", *, out_dir, progress=None):
        import torch
        from matplotlib.figure import Figure

        from checkerscope.experiments.figures import save_figure

        if progress is not None:
            progress(0.5, "half way")
        if behaviour == "raise":
            raise RuntimeError("the fake experiment broke")
        if behaviour == "bad-return":
            return {"verdict": "agrees"}
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [1, 0])
        figure = save_figure(fig, out_dir, f"fake_{claim_id.lower()}")
        value = float(torch.rand(1)) if behaviour == "seeded" else 1.5
        return ClaimResult(
            claim=module.CLAIM,
            numbers={"value": value, "array": np.arange(3), "inf": float("inf")},
            verdict="agrees" if behaviour == "seeded" else behaviour,
            summary="fake summary",
            figures=[figure],
            seed=seed,
            quick=quick,
        )

    module.run = run
    return module


class RecordingReporter:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def begin(self, claim_ids):
        self.events.append(("begin", tuple(claim_ids)))

    def start(self, claim_id):
        self.events.append(("start", claim_id))

    def update(self, claim_id, fraction, message):
        self.events.append(("update", claim_id, fraction, message))

    def finish(self, claim_id, entry):
        self.events.append(("finish", claim_id, entry["verdict"]))


# --------------------------------------------------------------------------- registry


def test_every_claim_of_mine_has_a_module() -> None:
    for claim_id in MY_CLAIMS:
        name = claim_module_name(claim_id)
        assert name is not None and name.startswith("checkerscope.experiments.c"), claim_id


def test_parse_claim_ids_canonicalises_and_orders() -> None:
    assert parse_claim_ids("c11, C5,5 ,C05") == ["C5", "C11"]
    assert parse_claim_ids("13") == ["C13"]
    assert parse_claim_ids("c14") == ["C14"]


@pytest.mark.parametrize("text", ["C15", "C0", "X1", "", ",", "C1,foo"])
def test_parse_claim_ids_rejects_unknown(text: str) -> None:
    with pytest.raises(CheckerscopeError):
        parse_claim_ids(text)


def test_must_agree_is_the_issue_list() -> None:
    assert MUST_AGREE == ("C1", "C2", "C3", "C4", "C5", "C11")
    assert set(MUST_AGREE) <= set(CLAIM_IDS)


# --------------------------------------------------------------------------- runner


def test_runner_writes_the_documented_schema(tmp_path: Path) -> None:
    modules = {"C1": fake_claim_module("C1"), "C2": fake_claim_module("C2", "partly")}
    reporter = RecordingReporter()
    record = run_claims(
        ["C2", "C1"], quick=True, seed=7, out_dir=tmp_path, modules=modules, reporter=reporter
    )
    document = json.loads((tmp_path / "claims.json").read_text())
    assert set(DOCUMENT_KEYS) <= set(document)
    assert document["quick"] is True and document["seed"] == 7 and document["complete"] is True
    assert [c["id"] for c in document["claims"]] == ["C1", "C2"]  # article order
    for entry in document["claims"]:
        assert set(ENTRY_KEYS) <= set(entry)
        assert entry["seed"] == 7 and entry["runtime_s"] >= 0
        assert entry["numbers"]["array"] == [0, 1, 2]
        assert entry["numbers"]["inf"] == "inf"  # strict JSON
        assert entry["notes"]["value"]
        for figure in entry["figures"]:
            assert not Path(figure).is_absolute() and figure.startswith("figures/")
            assert (tmp_path / figure).is_file()
    assert record.verdicts() == {"C1": "agrees", "C2": "partly"}
    assert ("start", "C1") in reporter.events
    assert ("update", "C1", 0.5, "half way") in reporter.events
    assert reporter.events[-1] == ("finish", "C2", "partly")


def test_a_relative_out_dir_keeps_the_figures(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    modules = {"C1": fake_claim_module("C1")}
    record = run_claims(["C1"], quick=True, seed=0, out_dir=Path("out"), modules=modules)
    (entry,) = record.claims
    assert entry["figures"] == ["figures/fake_c1.png"]
    assert "data:image/png;base64," in (tmp_path / "out" / "report.html").read_text()


def test_a_failing_experiment_becomes_an_error_entry_and_the_run_goes_on(tmp_path: Path) -> None:
    modules = {
        "C1": fake_claim_module("C1", "raise"),
        "C2": fake_claim_module("C2", "bad-return"),
        "C3": fake_claim_module("C3"),
    }
    record = run_claims(["C1", "C2", "C3"], quick=True, seed=0, out_dir=tmp_path, modules=modules)
    entries = {c["id"]: c for c in record.claims}
    assert entries["C1"]["verdict"] == "error"
    assert "RuntimeError" in entries["C1"]["summary"]
    assert "the fake experiment broke" in entries["C1"]["error"]
    assert entries["C1"]["title"] == "fake C1"  # the CLAIM is still known
    assert entries["C2"]["verdict"] == "error" and "ClaimResult" in entries["C2"]["summary"]
    assert entries["C3"]["verdict"] == "agrees"
    assert any("C1: error" in line for line in record.check_failures())


def test_a_missing_module_is_reported_as_not_run(tmp_path: Path, monkeypatch) -> None:
    import checkerscope.experiments.runner as runner

    monkeypatch.setattr(runner, "claim_module_name", lambda claim_id: None)
    record = run_claims(["C7"], quick=True, seed=0, out_dir=tmp_path)
    (entry,) = record.claims
    assert entry["verdict"] == "not run" and entry["title"]
    assert record.check_failures() == [f"C7: not run: {entry['summary']}"]


def test_claims_json_is_rewritten_after_every_claim(tmp_path: Path) -> None:
    seen: list[list[str]] = []
    second = fake_claim_module("C2")
    original_run = second.run

    def peeking_run(quick, seed, device="cpu", *, out_dir, progress=None):
        document = json.loads((tmp_path / "claims.json").read_text())
        seen.append([c["id"] for c in document["claims"]])
        assert document["complete"] is False
        return original_run(quick, seed, device, out_dir=out_dir, progress=progress)

    second.run = peeking_run
    modules = {"C1": fake_claim_module("C1"), "C2": second}
    run_claims(["C1", "C2"], quick=True, seed=0, out_dir=tmp_path, modules=modules)
    assert seen == [["C1"]]
    assert (tmp_path / "report.html").is_file()


def test_every_claim_is_seeded_afresh(tmp_path: Path) -> None:
    modules = {c: fake_claim_module(c, "seeded") for c in ("C1", "C2")}
    first = run_claims(["C1", "C2"], quick=True, seed=3, out_dir=tmp_path / "a", modules=modules)
    alone = run_claims(["C2"], quick=True, seed=3, out_dir=tmp_path / "b", modules=modules)
    other = run_claims(["C2"], quick=True, seed=4, out_dir=tmp_path / "c", modules=modules)
    values = [c["numbers"]["value"] for c in first.claims]
    assert values[0] == values[1] == alone.claims[0]["numbers"]["value"]
    assert other.claims[0]["numbers"]["value"] != values[0]


def test_check_failures_requires_must_agree_claims_to_agree(tmp_path: Path) -> None:
    modules = {
        "C1": fake_claim_module("C1", "partly"),
        "C6": fake_claim_module("C6", "disagrees"),
    }
    record = run_claims(["C1", "C6"], quick=True, seed=0, out_dir=tmp_path, modules=modules)
    assert record.check_failures() == ["C1: partly (must agree)"]  # C6 may disagree


def test_report_html_is_self_contained(tmp_path: Path) -> None:
    modules = {"C1": fake_claim_module("C1"), "C2": fake_claim_module("C2", "raise")}
    run_claims(["C1", "C2"], quick=True, seed=0, out_dir=tmp_path, modules=modules)
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1
    assert 'src="figures/' not in page and "http://" not in page.replace("http://www.w3", "")
    assert "fake summary" in page and "the fake experiment broke" in page
    assert "a number the fake made up" in page  # NOTES explain the numbers


def test_run_all_front_runs_the_named_claims(tmp_path: Path) -> None:
    record = run_all(quick=True, seed=0, out_dir=tmp_path, only=["C2"], html=False)
    assert [c["id"] for c in record.claims] == ["C2"]
    assert not (tmp_path / "report.html").exists()


def test_headline_and_jsonable() -> None:
    assert headline({"numbers": {"headline": "4:1"}}) == "4:1"
    assert headline({"numbers": {"flag": True, "n": 3}}) == "n=3"
    assert jsonable({"x": np.float64("nan"), "t": (np.int64(2),)}) == {"x": "nan", "t": [2]}


# --------------------------------------------------------------------------- C1-C4 for real


@pytest.fixture(scope="module")
def theory_record(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("theory")
    record = run_claims(["C1", "C2", "C3", "C4"], quick=True, seed=0, out_dir=out)
    return {c["id"]: c for c in record.claims} | {"out": out}


def test_c1_iff_holds_on_the_whole_grid(theory_record) -> None:
    c1 = theory_record["C1"]
    assert c1["verdict"] == "agrees"
    assert c1["numbers"]["matches"] == c1["numbers"]["total"] == 32
    assert c1["numbers"]["torch_agrees"] == 32
    assert c1["numbers"]["patterns"]["k3s2"] in ([1, 2], [2, 1])
    assert c1["numbers"]["unevenness"]["s3"][:2] == ["inf", "inf"]  # k < s leaves gaps


def test_c2_squares_the_unevenness(theory_record) -> None:
    c2 = theory_record["C2"]
    assert c2["verdict"] == "agrees"
    assert c2["numbers"]["k3s2"] == {"1d": 2.0, "2d": 4.0, "3d": 8.0, "torch_2d": 4.0}
    assert c2["numbers"]["law_holds"] == c2["numbers"]["tested"] == 26


def test_c3_stacks_periods_and_scales(theory_record) -> None:
    c3 = theory_record["C3"]
    stacks = c3["numbers"]["stacks"]
    assert stacks["k3s2 + k3s2"]["period"] == 4
    assert stacks["k3s2 + k3s2"]["unevenness_1d"] == 3.0
    assert stacks["k3s2 + k3s2 + k3s2"]["unevenness_2d"] == 25.0
    assert stacks["k3s2 + k4s2"]["unevenness_1d"] == 1.0  # an even layer after cancels
    assert c3["numbers"]["multi_scale"] == c3["numbers"]["uneven_stacks"]
    # k3s2 + k5s2 (5:3:4:3) is less uneven than k3s2 alone: stacks often, not always, compound
    assert stacks["k3s2 + k5s2"]["unevenness_1d"] == 5 / 3
    assert c3["numbers"]["compound"] == c3["numbers"]["uneven_stacks"] - 1
    assert c3["verdict"] == "agrees"


def test_c4_final_stride_one_layer(theory_record) -> None:
    c4 = theory_record["C4"]
    assert c4["verdict"] == "agrees"
    configs = c4["numbers"]["configs"]
    assert configs["k3s2"] == {"none": 2.0, "k2": 1.0, "k3": 1.25, "k4": 1.0, "k5": 8 / 7}
    assert c4["numbers"]["increases"] == [] and c4["numbers"]["not_removed"] == []
    assert c4["numbers"]["random_median_all"] > 1.01


def test_theory_figures_exist_and_are_pngs(theory_record) -> None:
    out = theory_record["out"]
    for claim_id in ("C1", "C2", "C3", "C4"):
        (figure,) = theory_record[claim_id]["figures"]
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers of C5-C13


def test_period4_only_score_separates_period_2_from_period_4() -> None:
    from checkerscope.experiments.c05_random_init import harmonic_score_db

    rng = np.random.default_rng(1)
    noise = rng.normal(size=(6, 3, 64, 64))
    two = noise + 0.6 * np.tile([[1.0, -1.0], [-1.0, 1.0]], (32, 32))
    tile = np.zeros((4, 4))
    tile[1, 2] = 2.0
    four = noise + np.tile(tile, (16, 16))
    assert np.all(np.abs(harmonic_score_db(noise, 4, exclude=2)) < 4)
    assert np.all(harmonic_score_db(two, 2) > 15)
    assert np.all(harmonic_score_db(two, 4, exclude=2) < 4)  # period 2 is not period 4
    assert np.all(harmonic_score_db(four, 4, exclude=2) > 10)


def test_high_frequency_fraction_of_max_pool_like_sparse_gradients() -> None:
    from checkerscope.experiments.c12_max_pooling import high_frequency_fraction

    rng = np.random.default_rng(0)
    smooth = rng.normal(size=(16, 16)).repeat(4, 0).repeat(4, 1)  # 4x4 blocks
    sparse = np.zeros((64, 64))
    sparse[rng.integers(0, 64, 200), rng.integers(0, 64, 200)] = rng.normal(size=200)
    assert high_frequency_fraction(sparse) > 0.6 > 0.3 > high_frequency_fraction(smooth)


def test_feature_vis_jitter_moves_the_image(tmp_path: Path) -> None:
    import torch

    from checkerscope.experiments.c13_feature_vis import build_network, visualise

    torch.manual_seed(0)
    network = build_network()
    fixed = visualise(network, 0, steps=3, jitter=False, seed=1, size=32)
    again = visualise(network, 0, steps=3, jitter=False, seed=1, size=32)
    jittered = visualise(network, 0, steps=3, jitter=True, seed=1, size=32)
    assert fixed.shape == (3, 32, 32) and np.abs(fixed).max() <= 1.0
    assert np.array_equal(fixed, again)
    assert not np.allclose(fixed, jittered)
