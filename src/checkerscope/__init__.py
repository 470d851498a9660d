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
import importlib.util
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CheckerscopeError": "checkerscope.errors",
    # theory
    "Deconv": "checkerscope.theory",
    "Conv": "checkerscope.theory",
    "Resize": "checkerscope.theory",
    "PixelShuffle": "checkerscope.theory",
    "MaxPool": "checkerscope.theory",
    "AvgPool": "checkerscope.theory",
    "OverlapPattern": "checkerscope.theory",
    "overlap": "checkerscope.theory",
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
    "audit": "checkerscope.auditing",
    "audit_onnx": "checkerscope.auditing",
    "AuditReport": "checkerscope.auditing",
    "fix": "checkerscope.auditing",
    "distill": "checkerscope.auditing",
}
_SUBMODULES = ("nn", "zoo", "experiments", "report", "metrics", "theory", "auditing")

# Old module paths -> where their names live now. ``checkerscope.overlap`` and
# ``checkerscope.audit`` were modules named like the functions ``cs.overlap`` and
# ``cs.audit``; importing such a module rebinds the package attribute to the module.
_MOVED_MODULES: dict[str, str] = {
    "checkerscope.overlap": "checkerscope.theory",
    "checkerscope.audit": "checkerscope.auditing",
    "checkerscope.audit_fix": "checkerscope.auditing.rewrite",
    "checkerscope.audit_trace": "checkerscope.auditing.tracing",
    "checkerscope.audit_render": "checkerscope.auditing.render",
    "checkerscope.onnx_reader": "checkerscope.auditing.onnx_model",
}

# Spelled out (not built from _EXPORTS) so that type checkers read it.
__all__ = [
    "__version__",
    "CheckerscopeError",
    "Deconv",
    "Conv",
    "Resize",
    "PixelShuffle",
    "MaxPool",
    "AvgPool",
    "OverlapPattern",
    "overlap",
    "checkerboard_score",
    "CheckerboardScore",
    "probe_init",
    "probe_gradients",
    "InitProbe",
    "GradientProbe",
    "CheckerboardMetric",
    "load_image",
    "audit",
    "audit_onnx",
    "AuditReport",
    "fix",
    "nn",
    "zoo",
]
# The metric needs the `metrics` extra (torchmetrics): leave it out of the star import
# where that is not installed, so `from checkerscope import *` works on a base install.
# `cs.CheckerboardMetric` itself then raises an ImportError naming the extra.
if importlib.util.find_spec("torchmetrics") is None:
    __all__.remove("CheckerboardMetric")


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


def _moved_module(old: str, new: str) -> types.ModuleType:
    """A stand-in for a moved module: each name read from it warns once and is forwarded.

    It is registered in ``sys.modules`` only, never set as an attribute of this package,
    so ``from checkerscope.overlap import Deconv`` works (with a ``DeprecationWarning``)
    while ``cs.overlap`` stays the function.
    """
    module = types.ModuleType(old, f"Deprecated: moved to {new}.")

    def forward_attribute(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(
            f"{old} is deprecated; import {name} from {new} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    module.__getattr__ = forward_attribute  # type: ignore[method-assign]
    return module


for _old, _new in _MOVED_MODULES.items():
    sys.modules.setdefault(_old, _moved_module(_old, _new))


if TYPE_CHECKING:  # pragma: no cover
    from checkerscope import nn, zoo
    from checkerscope.auditing import AuditReport, audit, audit_onnx, distill, fix
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
    from checkerscope.streaming import CheckerboardMetric
    from checkerscope.theory import (
        AvgPool,
        Conv,
        Deconv,
        MaxPool,
        OverlapPattern,
        PixelShuffle,
        Resize,
        overlap,
    )
