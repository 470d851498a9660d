"""The article's claims C1-C13, and checkerscope's own C14, as runnable experiments.

Each claim lives in its own module of this package, named ``cNN_<what>.py``
(``c01_...`` for C1, ``c11_...`` for C11), and follows the contract of
:mod:`checkerscope.experiments.base`. Two optional conventions feed the report:
``numbers["headline"]`` (a short string: the key number in tables) and a module-level
``NOTES`` dict (number name, or dotted prefix of a nested one, -> what it means).
This module only finds the claim modules;
:mod:`checkerscope.experiments.runner` runs them and
:mod:`checkerscope.experiments.report` writes ``claims.json`` and ``report.html``.

Examples:
    >>> CLAIM_IDS[:3]
    ('C1', 'C2', 'C3')
    >>> parse_claim_ids("c5, C11,2")
    ['C2', 'C5', 'C11']
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from checkerscope.errors import CheckerscopeError

if TYPE_CHECKING:  # pragma: no cover
    from checkerscope.experiments.runner import RunRecord

__all__ = [
    "CLAIM_IDS",
    "MUST_AGREE",
    "claim_module_name",
    "load_claim_module",
    "parse_claim_ids",
    "run_all",
]

#: Every claim of DESIGN.md, in the article's order, then C14 (checkerscope's penalty).
CLAIM_IDS: tuple[str, ...] = tuple(f"C{i}" for i in range(1, 15))

#: Claims whose verdict must be "agrees" for ``reproduce --check`` (and CI) to pass: the ones
#: decided by exact theory (C1-C4) or by experiments without training (C5, C11), which do not
#: depend on a short CPU training budget.
MUST_AGREE: tuple[str, ...] = ("C1", "C2", "C3", "C4", "C5", "C11")


def parse_claim_ids(text: str) -> list[str]:
    """Parse a comma-separated claim list (``"C5,C11"``, ``"c5"``, ``"5"``, ``"C05"``).

    Returns the canonical ids in the article's order, without duplicates.

    Raises:
        CheckerscopeError: when a name is not one of C1-C14 or the list is empty.

    Examples:
        >>> parse_claim_ids("C15")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: unknown claim 'C15' in --only; expected C1-C14 ...
    """
    wanted: set[str] = set()
    for part in text.split(","):
        name = part.strip().upper()
        if not name:
            continue
        digits = name[1:] if name.startswith("C") else name
        canonical = f"C{int(digits)}" if digits.isdigit() else name
        if canonical not in CLAIM_IDS:
            raise CheckerscopeError(
                f"unknown claim {part.strip()!r} in --only; expected "
                f"{CLAIM_IDS[0]}-{CLAIM_IDS[-1]} separated by commas"
            )
        wanted.add(canonical)
    if not wanted:
        raise CheckerscopeError(f"no claim named in --only {text!r}; expected e.g. C5,C11")
    return [c for c in CLAIM_IDS if c in wanted]


def claim_module_name(claim_id: str) -> str | None:
    """The full module name of a claim's experiment, or ``None`` when it is not installed.

    Examples:
        >>> claim_module_name("C1")
        'checkerscope.experiments.c01_kernel_stride'
    """
    prefix = f"c{int(claim_id[1:]):02d}_"
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name.startswith(prefix)
    )
    return f"{__name__}.{names[0]}" if names else None


def load_claim_module(claim_id: str) -> ModuleType:
    """Import a claim's experiment module.

    Raises:
        ModuleNotFoundError: when no ``cNN_*.py`` module exists for the claim.
    """
    name = claim_module_name(claim_id)
    if name is None:
        raise ModuleNotFoundError(f"no experiment module for {claim_id} (expected cNN_*.py)")
    return importlib.import_module(name)


def run_all(
    *,
    quick: bool = False,
    seed: int = 0,
    device: str = "cpu",
    out_dir: str | Path = "out",
    only: list[str] | None = None,
    **kwargs: Any,
) -> RunRecord:
    """Run the claims (all, or those in ``only``) and write claims.json, figures and report.html.

    A thin front for :func:`checkerscope.experiments.runner.run_claims`; see it for
    the remaining keyword arguments.
    """
    from checkerscope.experiments.runner import run_claims

    return run_claims(
        list(only) if only else list(CLAIM_IDS),
        quick=quick,
        seed=seed,
        device=device,
        out_dir=Path(out_dir),
        **kwargs,
    )
