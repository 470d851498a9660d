"""Run claim experiments one after another, never losing a finished result.

:func:`run_claims` checks that every claim's requirements are installed (before anything
runs), imports each claim's module, seeds every generator the same way before each claim
(so ``--only C5`` gives the numbers C5 has in a full run), times it, and turns what it
returns - or the exception it raises - into one entry of ``claims.json``.

A run folder accumulates: claims already in its ``claims.json`` and not run again stay as
they are (with their own mode, seed and figures); a claim run again replaces its own entry,
and its own figures, only when it finishes. A running claim writes its figures into a
hidden staging folder that is moved into ``figures/`` when it finishes, and
``claims.json`` and ``report.html`` are rewritten atomically after every claim, so an
interrupted run (Ctrl-C, a crash, a full disk) leaves every earlier result in place.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from checkerscope.errors import CheckerscopeError
from checkerscope.experiments import CLAIM_IDS, MUST_AGREE, claim_module_name, load_claim_module
from checkerscope.experiments.base import ClaimResult
from checkerscope.experiments.report import (
    build_document,
    claim_entry,
    error_entry,
    headline,
    not_run_entry,
    read_claims_json,
    write_claims_json,
    write_report_html,
)

__all__ = [
    "CLAIM_MODULES",
    "ERROR",
    "NOT_RUN",
    "OPTIONAL_MODULES",
    "Reporter",
    "RunRecord",
    "check_requirements",
    "headline",
    "missing_extras",
    "run_claims",
]

#: What the claims import beyond the base install: module -> (the extra that installs it,
#: what it is for). ``pip install 'checkerscope[NAME]'``.
OPTIONAL_MODULES: dict[str, tuple[str, str]] = {
    "matplotlib": ("data", "matplotlib, for the figures"),
    "skimage": ("data", "scikit-image's bundled photographs"),
}
#: Claim -> the optional modules it imports: every claim draws figures, and the training
#: claims read photographs (``tests/test_hostile_inputs.py`` checks this against their code).
CLAIM_MODULES: dict[str, tuple[str, ...]] = {
    claim_id: ("matplotlib", "skimage")
    if claim_id in ("C6", "C7", "C8", "C9", "C10", "C11", "C14")
    else ("matplotlib",)
    for claim_id in CLAIM_IDS
}


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
    ran: list[str] = field(default_factory=list)

    @property
    def claims(self) -> list[dict[str, Any]]:
        return list(self.document.get("claims", []))

    def verdicts(self) -> dict[str, str]:
        """Claim id -> verdict (or "error" / "not run")."""
        return {c["id"]: c["verdict"] for c in self.claims}

    def failed(self) -> list[dict[str, Any]]:
        """The entries of claims this run ran that raised or could not run."""
        return [c for c in self.claims if c["id"] in self.ran and c["verdict"] in (ERROR, NOT_RUN)]

    def check_failures(self, must_agree: Sequence[str] = MUST_AGREE) -> list[str]:
        """Why ``--check`` fails: one line per claim that should agree and does not.

        A claim in ``must_agree`` fails unless its verdict is "agrees"; any claim that
        raised or has no module fails too (a check cannot pass on missing evidence). Only
        the claims this run ran are judged, not those an earlier run left in the folder.
        """
        problems = []
        for entry in self.claims:
            if self.ran and entry["id"] not in self.ran:
                continue
            verdict = entry["verdict"]
            if verdict in (ERROR, NOT_RUN):
                problems.append(f"{entry['id']}: {verdict}: {entry.get('summary', '')}")
            elif entry["id"] in must_agree and verdict != "agrees":
                problems.append(f"{entry['id']}: {verdict} (must agree)")
        return problems


def missing_extras(claim_ids: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Extra -> (the claims among ``claim_ids`` that need it, what is missing), for the
    extras whose modules are not installed."""
    missing: dict[str, tuple[list[str], list[str]]] = {}
    for claim_id in claim_ids:
        for module in CLAIM_MODULES.get(claim_id, ()):
            if importlib.util.find_spec(module) is not None:
                continue
            extra, what = OPTIONAL_MODULES[module]
            claims, whats = missing.setdefault(extra, ([], []))
            if claim_id not in claims:
                claims.append(claim_id)
            if what not in whats:
                whats.append(what)
    return missing


def check_requirements(claim_ids: Sequence[str]) -> None:
    """Refuse, before anything runs, claims whose extras are not installed.

    Raises:
        CheckerscopeError: one line naming the extra, the claims and the command to run.
    """
    for extra, (claims, whats) in missing_extras(claim_ids).items():
        them = "it" if len(claims) == 1 else "them"
        raise CheckerscopeError(
            f"{', '.join(claims)} need the '{extra}' extra ({'; '.join(whats)}), which is not "
            f"installed: pip install 'checkerscope[{extra}]', or leave {them} out with --only"
        )


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
    keep_earlier: bool = True,
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
        keep_earlier: keep the claims of an earlier run in ``out_dir/claims.json`` that are
            not run again (``False``: start the folder's document afresh).

    Returns:
        The :class:`RunRecord`; its document is what ``claims.json`` holds.
    """
    import torch

    out_dir = Path(out_dir)
    check_requirements([c for c in claim_ids if c not in (modules or {})])
    ordered = [c for c in CLAIM_IDS if c in set(claim_ids)] + [
        c for c in claim_ids if c not in CLAIM_IDS
    ]
    earlier = read_claims_json(out_dir / "claims.json") if keep_earlier else None
    # absolute, so the figure paths experiments return do not depend on the working directory
    figures_dir = (out_dir / FIGURES_DIR).resolve()
    figures_dir.mkdir(parents=True, exist_ok=True)
    record = RunRecord(out_dir, build_document(quick=quick, seed=seed, device=device))
    entries: dict[str, dict[str, Any]] = {}
    if earlier is not None:
        for entry in earlier["claims"]:
            # entries written before entries kept their own mode had the document's
            entry.setdefault("quick", earlier.get("quick"))
            entry.setdefault("device", earlier.get("device"))
            entries[entry["id"]] = entry

    def publish() -> None:
        known = {claim_id: i for i, claim_id in enumerate(CLAIM_IDS)}
        record.document["claims"] = sorted(
            entries.values(), key=lambda e: known.get(e["id"], len(known))
        )
        record.document["total_runtime_s"] = round(time.perf_counter() - started, 3)
        record.document["complete"] = all(c in record.ran for c in ordered)
        write_claims_json(record.document, out_dir / "claims.json")
        if html:
            write_report_html(record.document, out_dir)

    started = time.perf_counter()
    record.document["claims"] = list(entries.values())
    if reporter is not None:
        reporter.begin(ordered)

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        for claim_id in ordered:
            if reporter is not None:
                reporter.start(claim_id)
            staging = out_dir / f".staging-{claim_id}"
            shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted run
            staging.mkdir(parents=True)
            try:
                entry = _run_one(
                    claim_id,
                    quick=quick,
                    seed=seed,
                    device=device,
                    out_dir=out_dir,
                    figures_dir=staging.resolve(),
                    reporter=reporter,
                    module=(modules or {}).get(claim_id),
                )
                if entry["verdict"] not in (ERROR, NOT_RUN):  # a failure's files are dropped
                    entry["figures"] = _publish_figures(entry["figures"], staging, figures_dir)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            entry.update(quick=bool(quick), device=device, threads=torch.get_num_threads())
            previous = entries.get(claim_id)
            if entry["verdict"] in (ERROR, NOT_RUN) and previous is not None:
                # nothing is lost: the result this failure replaces stays inside it
                entry["previous"] = {k: v for k, v in previous.items() if k != "previous"}
            entries[claim_id] = entry
            record.ran.append(claim_id)
            publish()
            if reporter is not None:
                reporter.finish(claim_id, entry)
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    if not ordered:  # still leave a valid file behind
        publish()
    return record


def _publish_figures(figures: Sequence[str], staging: Path, figures_dir: Path) -> list[str]:
    """Move a finished claim's figures from its staging folder into ``figures/``.

    ``figures`` are relative to the staging folder's parent (the run folder) as
    ``.staging-Cn/name.png``, or absolute when a claim wrote elsewhere; returned relative to
    the run folder as ``figures/name.png``.
    """
    moved: dict[str, str] = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            relative = path.relative_to(staging)
            target = figures_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved[(staging.name / relative).as_posix()] = (Path(FIGURES_DIR) / relative).as_posix()
    return [moved.get(figure, figure) for figure in figures]


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
