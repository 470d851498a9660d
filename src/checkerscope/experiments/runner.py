"""Run claim experiments one after another, never losing a finished result.

:func:`run_claims` imports each claim's module, seeds every generator the same
way before each claim (so ``--only C5`` gives the numbers C5 has in a full run),
times it, and turns what it returns - or the exception it raises - into one
entry of ``claims.json``. The file (and ``report.html``) is rewritten atomically
after every claim, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import os
import random
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from checkerscope.experiments import CLAIM_IDS, MUST_AGREE, claim_module_name, load_claim_module
from checkerscope.experiments.base import ClaimResult
from checkerscope.experiments.report import (
    build_document,
    claim_entry,
    error_entry,
    headline,
    not_run_entry,
    write_claims_json,
    write_report_html,
)

__all__ = ["NOT_RUN", "ERROR", "Reporter", "RunRecord", "headline", "run_claims"]

#: Verdict-less states of an entry (besides the three verdicts of the contract).
ERROR = "error"
NOT_RUN = "not run"

FIGURES_DIR = "figures"


class Reporter(Protocol):
    """Receives progress of a run (the CLI draws rich progress bars with it)."""

    def begin(self, claim_ids: Sequence[str]) -> None: ...

    def start(self, claim_id: str) -> None: ...

    def update(self, claim_id: str, fraction: float, message: str) -> None: ...

    def finish(self, claim_id: str, entry: Mapping[str, Any]) -> None: ...


@dataclass
class RunRecord:
    """The outcome of :func:`run_claims`.

    Attributes:
        out_dir: the folder holding ``claims.json``, ``report.html`` and ``figures/``.
        document: the content of ``claims.json``.
    """

    out_dir: Path
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def claims(self) -> list[dict[str, Any]]:
        return list(self.document.get("claims", []))

    def verdicts(self) -> dict[str, str]:
        """Claim id -> verdict (or "error" / "not run")."""
        return {c["id"]: c["verdict"] for c in self.claims}

    def check_failures(self, must_agree: Sequence[str] = MUST_AGREE) -> list[str]:
        """Why ``--check`` fails: one line per claim that should agree and does not.

        A claim in ``must_agree`` fails unless its verdict is "agrees"; any claim that
        raised or has no module fails too (a check cannot pass on missing evidence).
        """
        problems = []
        for entry in self.claims:
            verdict = entry["verdict"]
            if verdict in (ERROR, NOT_RUN):
                problems.append(f"{entry['id']}: {verdict}: {entry.get('summary', '')}")
            elif entry["id"] in must_agree and verdict != "agrees":
                problems.append(f"{entry['id']}: {verdict} (must agree)")
        return problems


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) alike."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_claims(
    claim_ids: Sequence[str],
    *,
    quick: bool,
    seed: int,
    device: str = "cpu",
    out_dir: Path,
    reporter: Reporter | None = None,
    modules: Mapping[str, ModuleType] | None = None,
    html: bool = True,
) -> RunRecord:
    """Run the given claims in order and write ``claims.json`` (+ figures, ``report.html``).

    Args:
        claim_ids: e.g. ``["C1", "C5"]``; run in the article's order.
        quick: the experiments' quick mode.
        seed: seed of every claim (each claim is seeded afresh, so results do not depend
            on which other claims ran before it).
        device: ``"cpu"`` or ``"cuda"``.
        out_dir: output folder; figures go to ``out_dir/figures``.
        reporter: progress receiver (see :class:`Reporter`).
        modules: claim id -> module to use instead of the installed one (tests use this
            to run a fast fake claim).
        html: also write ``report.html`` after each claim.

    Returns:
        The :class:`RunRecord`; its document is what ``claims.json`` holds.
    """
    import torch

    out_dir = Path(out_dir)
    # absolute, so the figure paths experiments return do not depend on the working directory
    figures_dir = (out_dir / FIGURES_DIR).resolve()
    figures_dir.mkdir(parents=True, exist_ok=True)
    ordered = [c for c in CLAIM_IDS if c in set(claim_ids)] + [
        c for c in claim_ids if c not in CLAIM_IDS
    ]
    record = RunRecord(out_dir, build_document(quick=quick, seed=seed, device=device))
    entries: list[dict[str, Any]] = []
    record.document["claims"] = entries
    started = time.perf_counter()
    if reporter is not None:
        reporter.begin(ordered)

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        for claim_id in ordered:
            if reporter is not None:
                reporter.start(claim_id)
            entry = _run_one(
                claim_id,
                quick=quick,
                seed=seed,
                device=device,
                out_dir=out_dir,
                figures_dir=figures_dir,
                reporter=reporter,
                module=(modules or {}).get(claim_id),
            )
            entries.append(entry)
            record.document["total_runtime_s"] = round(time.perf_counter() - started, 3)
            record.document["complete"] = len(entries) == len(ordered)
            write_claims_json(record.document, out_dir / "claims.json")
            if html:
                write_report_html(record.document, out_dir)
            if reporter is not None:
                reporter.finish(claim_id, entry)
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    if not ordered:  # still leave a valid (empty) file behind
        write_claims_json(record.document, out_dir / "claims.json")
    return record


def _run_one(
    claim_id: str,
    *,
    quick: bool,
    seed: int,
    device: str,
    out_dir: Path,
    figures_dir: Path,
    reporter: Reporter | None,
    module: ModuleType | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    if module is None:
        if claim_module_name(claim_id) is None:
            return not_run_entry(claim_id, f"no experiment module for {claim_id} is installed")
        try:
            module = load_claim_module(claim_id)
        except Exception as exc:  # an import error is that claim's failure, not the run's
            return error_entry(
                claim_id, None, exc, traceback.format_exc(), time.perf_counter() - started, seed
            )
    claim = getattr(module, "CLAIM", None)

    def progress(fraction: float, message: str = "") -> None:
        if reporter is not None:
            reporter.update(claim_id, float(fraction), str(message))

    seed_everything(seed)
    try:
        result = module.run(quick, seed, device, out_dir=figures_dir, progress=progress)
        if not isinstance(result, ClaimResult):
            raise TypeError(f"run() returned {type(result).__name__}, expected ClaimResult")
    except Exception as exc:
        return error_entry(
            claim_id, claim, exc, traceback.format_exc(), time.perf_counter() - started, seed
        )
    runtime = time.perf_counter() - started
    figures = _relative_figures(result.figures, out_dir=out_dir, figures_dir=figures_dir)
    notes = getattr(module, "NOTES", None)
    return claim_entry(result, figures=figures, runtime_s=runtime, seed=seed, notes=notes)


def _relative_figures(paths: Sequence[Path | str], *, out_dir: Path, figures_dir: Path) -> list:
    """Figure paths relative to ``out_dir`` (existing files only, in the order given)."""
    relative = []
    for path in paths:
        path = Path(path)
        absolute = path if path.is_absolute() else figures_dir / path
        if not absolute.is_file():
            continue
        try:
            relative.append(absolute.resolve().relative_to(out_dir.resolve()).as_posix())
        except ValueError:  # written outside the run folder: keep it absolute
            relative.append(str(absolute))
    return relative
