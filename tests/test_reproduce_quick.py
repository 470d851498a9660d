"""CI's reproduction check: the whole quick mode, once, as a user runs it.

Asserts the schema of claims.json, that all 13 claims ran (none errored or missing), that
the figures and the self-contained report exist, and that the claims decided by theory or
by untrained networks (C1-C5, C11) agree with the article.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkerscope.experiments import CLAIM_IDS, MUST_AGREE
from checkerscope.experiments.base import VERDICTS
from checkerscope.experiments.report import DOCUMENT_KEYS, ENTRY_KEYS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("quick")
    proc = subprocess.run(
        [sys.executable, "-m", "checkerscope", "reproduce", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return {
        "proc": proc,
        "out": out,
        "document": json.loads((out / "claims.json").read_text()),
    }


def test_quick_mode_exits_cleanly(quick_run) -> None:
    proc = quick_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_claims_json_schema(quick_run) -> None:
    document = quick_run["document"]
    assert set(DOCUMENT_KEYS) <= set(document)
    assert document["quick"] is True and document["seed"] == 0 and document["complete"] is True
    assert isinstance(document["total_runtime_s"], float)
    for entry in document["claims"]:
        assert set(ENTRY_KEYS) <= set(entry), entry["id"]
        assert entry["verdict"] in VERDICTS, (
            f"{entry['id']}: {entry['verdict']}: {entry['summary']}"
        )
        assert entry["rule"] and entry["summary"] and entry["numbers"], entry["id"]
        assert isinstance(entry["runtime_s"], float) and entry["seed"] == 0


def test_all_thirteen_claims_ran(quick_run) -> None:
    assert [c["id"] for c in quick_run["document"]["claims"]] == list(CLAIM_IDS)


def test_every_claim_has_a_figure_on_disk_and_in_the_report(quick_run) -> None:
    out: Path = quick_run["out"]
    page = (out / "report.html").read_text()
    for entry in quick_run["document"]["claims"]:
        assert entry["figures"], entry["id"]
        for figure in entry["figures"]:
            assert (out / figure).read_bytes()[:4] == b"\x89PNG", figure
        assert f'id="{entry["id"]}"' in page
    assert page.count("data:image/png;base64,") == sum(
        len(c["figures"]) for c in quick_run["document"]["claims"]
    )


def test_theory_and_untrained_claims_agree_with_the_article(quick_run) -> None:
    verdicts = {c["id"]: (c["verdict"], c["summary"]) for c in quick_run["document"]["claims"]}
    disagreeing = {c: verdicts[c] for c in MUST_AGREE if verdicts[c][0] != "agrees"}
    assert not disagreeing
