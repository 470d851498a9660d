"""checkerscope: find, measure and remove checkerboard artifacts.

The public API is the names in ``__all__``. They are imported lazily so that
``import checkerscope`` stays cheap (the overlap engine does not need torch).

Examples:
    >>> import checkerscope as cs
    >>> cs.overlap([cs.Deconv(3, 2)], dims=2).unevenness
    4.0
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CheckerscopeError": "checkerscope.errors",
    # theory
    "Deconv": "checkerscope.overlap",
    "Conv": "checkerscope.overlap",
    "Resize": "checkerscope.overlap",
    "PixelShuffle": "checkerscope.overlap",
    "MaxPool": "checkerscope.overlap",
    "AvgPool": "checkerscope.overlap",
    "OverlapPattern": "checkerscope.overlap",
    "overlap": "checkerscope.overlap",
    # measurement
    "checkerboard_score": "checkerscope.metrics",
    "CheckerboardScore": "checkerscope.metrics",
    "probe_init": "checkerscope.metrics",
    "probe_gradients": "checkerscope.metrics",
    "InitProbe": "checkerscope.metrics",
    "GradientProbe": "checkerscope.metrics",
    "CheckerboardMetric": "checkerscope.streaming",
    "load_image": "checkerscope.imageio",
    # audit
    "audit": "checkerscope.audit",
    "audit_onnx": "checkerscope.audit",
    "AuditReport": "checkerscope.audit",
    "fix": "checkerscope.audit",
}
_SUBMODULES = ("nn", "zoo", "experiments", "report", "metrics")
# Public functions named like the submodule that defines them.
_FUNCTIONS_NAMED_LIKE_MODULES = frozenset({"overlap", "audit"})

__all__ = ["__version__", *_EXPORTS, "nn", "zoo"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"checkerscope.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'checkerscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``cs.overlap`` and ``cs.audit`` bound to the functions.

    Importing a submodule makes Python set it as an attribute of its package, which would
    replace the function of the same name as soon as any code ran
    ``from checkerscope.overlap import Deconv``. The submodules stay reachable through
    ``sys.modules`` and ``importlib.import_module``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_MODULES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover
    from checkerscope import nn, zoo
    from checkerscope.audit import AuditReport, audit, audit_onnx, fix
    from checkerscope.errors import CheckerscopeError
    from checkerscope.imageio import load_image
    from checkerscope.metrics import (
        CheckerboardScore,
        GradientProbe,
        InitProbe,
        checkerboard_score,
        probe_gradients,
        probe_init,
    )
    from checkerscope.overlap import (
        AvgPool,
        Conv,
        Deconv,
        MaxPool,
        OverlapPattern,
        PixelShuffle,
        Resize,
        overlap,
    )
    from checkerscope.streaming import CheckerboardMetric
