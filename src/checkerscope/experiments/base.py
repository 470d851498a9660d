"""The contract every claim experiment follows.

Each claim of the article (C1-C13, see DESIGN.md) is one module in this package
exposing::

    CLAIM: Claim                       # id, title, what the article says, the verdict rule
    def run(quick: bool, seed: int, device: str = "cpu", *,
            out_dir: Path, progress: Progress | None = None) -> ClaimResult

``run`` measures, decides the verdict with the rule fixed in ``CLAIM.rule``
(written before any number was seen, never tuned afterwards), writes its figures
as PNG files into ``out_dir`` and returns a :class:`ClaimResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["VERDICTS", "Claim", "ClaimResult", "Progress", "Verdict"]

Verdict = Literal["agrees", "partly", "disagrees"]
VERDICTS: tuple[Verdict, ...] = ("agrees", "partly", "disagrees")

#: ``progress(fraction_done, message)``; fraction in [0, 1].
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Claim:
    """A claim of the article and the rule that judges it.

    Attributes:
        id: ``"C1"`` ... ``"C13"``.
        title: a few words for tables.
        article: what the article claims, in this project's own words.
        method: how it is measured here.
        rule: the verdict rule, stated before the experiment is run.
    """

    id: str
    title: str
    article: str
    method: str
    rule: str


@dataclass
class ClaimResult:
    """What one experiment measured.

    Attributes:
        claim: the claim judged.
        numbers: measured values, JSON-serialisable (floats, ints, lists, nested dicts).
        verdict: ``"agrees"``, ``"partly"`` or ``"disagrees"``.
        summary: one or two sentences reading the numbers for a person.
        figures: PNG files written into ``out_dir`` (absolute or relative to it).
        runtime_s: wall time of ``run``.
        seed: the seed used.
        quick: whether this was the quick mode.
        device: the device used.
    """

    claim: Claim
    numbers: dict[str, Any]
    verdict: Verdict
    summary: str
    figures: list[Path] = field(default_factory=list)
    runtime_s: float = 0.0
    seed: int = 0
    quick: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        data = asdict(self)
        data["figures"] = [str(p) for p in self.figures]
        return data
