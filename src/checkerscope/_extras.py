"""Optional dependencies: import one, or fail with one line naming the extra that installs it.

The base install (``pip install checkerscope``) is torch, numpy, pillow and rich: enough for
the layers, the score, the overlap engine and the audit. Pictures need matplotlib (the
``plot`` extra; ``data`` includes it too, for the reproduction's figures).

Examples:
    >>> require("math", "plot", "counting").sqrt(4.0)
    2.0
    >>> require("no_such_module", "plot", "drawing")
    Traceback (most recent call last):
    ...
    checkerscope.errors.CheckerscopeError: drawing needs no_such_module: pip install ...[plot]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from checkerscope.errors import CheckerscopeError

__all__ = ["pyplot", "require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`CheckerscopeError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise CheckerscopeError(
            f"{purpose} needs {package}: pip install 'checkerscope[{extra}]'"
        ) from exc


def pyplot(purpose: str, extra: str = "plot") -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (files only, no window)."""
    require("matplotlib", extra, purpose).use("Agg")
    return require("matplotlib.pyplot", extra, purpose)
