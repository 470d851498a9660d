"""The audit: a real PyTorch or ONNX model in; which layer, what pattern, how strong; a fix.

One direction of dependency inside the package: ``tracing`` (run the model, record what
changes resolution) -> ``analysis`` (judge layers and paths, probe scores, the report)
-> ``render`` (text and HTML); ``rewrite`` (the fix) and ``onnx_model`` (the ONNX reader)
use ``tracing``; ``projection`` (initialising replacements from trained layers) serves
``rewrite``, and ``distillation`` (training the fixed copy on the original's outputs) uses
``projection``.
"""

from __future__ import annotations

from checkerscope.auditing.analysis import AuditReport, LayerFinding, Probe, audit, audit_onnx
from checkerscope.auditing.distillation import DistillResult, distill
from checkerscope.auditing.rewrite import fix

__all__ = [
    "AuditReport",
    "DistillResult",
    "LayerFinding",
    "Probe",
    "audit",
    "audit_onnx",
    "distill",
    "fix",
]
