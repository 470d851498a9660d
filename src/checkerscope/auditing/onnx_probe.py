"""Probe an ONNX file's given weights with ``onnxruntime``: random inputs in, outputs scored.

An exported model carries its weights, so what ``audit`` measures as "the weights as
given" can be measured on the file too: random inputs of the declared shape (natural
``1/f`` noise for images and sounds, white noise for latent codes, as for torch models),
several draws, the first output scored at the periods the graph's structure allows. That
makes the ONNX verdict agree with the torch audit of the same weights. Input gradients are
not available through ``onnxruntime``, so models that downsample keep the structural
verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from checkerscope.auditing.probes import Probe, candidate_periods, probe_inputs, score_outputs
from checkerscope.errors import CheckerscopeError

__all__ = ["onnxruntime_available", "probe_onnx"]

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported (the ``onnx`` extra installs it)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _input_shape(
    declared: Sequence[Any], override: Sequence[int] | None, name: str
) -> tuple[int, ...]:
    if override is not None:
        if len(override) != len(declared):
            raise CheckerscopeError(
                f"--input-shape has {len(override)} axes but the ONNX input {name!r} has "
                f"{len(declared)}: {_shape_text(declared)}"
            )
        return tuple(int(v) for v in override)
    shape = []
    for axis, size in enumerate(declared):
        if isinstance(size, int) and size > 0:
            shape.append(size)
        elif axis == 0:
            shape.append(2)  # a dynamic batch
        else:
            raise CheckerscopeError(
                f"the ONNX input {name!r} has dynamic axes {_shape_text(declared)}: "
                "give its shape to probe it (--input-shape, input_shape=) or audit the structure "
                "only (--no-probe, probe=False)"
            )
    return tuple(shape)


def _shape_text(shape: Sequence[Any]) -> str:
    return "x".join(str(s) if isinstance(s, int) and s > 0 else "?" for s in shape)


def probe_onnx(
    path: str | Path,
    structural_period: Sequence[int],
    dims: int,
    seeds: int = 4,
    input_shape: Sequence[int] | None = None,
) -> Probe | None:
    """Score the outputs of the ONNX model's given weights on ``seeds`` random inputs.

    Args:
        path: the ``.onnx`` file.
        structural_period: the structural period of the worst path (which periods to score).
        dims: spatial axes of the model.
        seeds: number of input draws.
        input_shape: the first input's shape where the file leaves axes dynamic.

    Returns:
        The probe, or ``None`` when the output is too small to score.

    Raises:
        CheckerscopeError: if ``onnxruntime`` is missing or cannot run the model.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise CheckerscopeError(
            "probing ONNX files needs onnxruntime: pip install 'checkerscope[onnx]'"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckerscopeError(f"onnxruntime cannot load {str(path)!r}: {first}") from exc
    inputs = session.get_inputs()
    examples: list[tuple[str, torch.Tensor | None, tuple[int, ...], Any]] = []
    for position, value in enumerate(inputs):
        dtype = _NUMPY_TYPES.get(value.type)
        override = input_shape if position == 0 else None
        shape = _input_shape(list(value.shape), override, value.name)
        if dtype is None:
            examples.append((value.name, None, shape, value.type))
            continue
        examples.append((value.name, torch.zeros(shape), shape, dtype))
    outputs = []
    for seed in range(seeds):
        feeds: dict[str, np.ndarray] = {}
        for name, like, shape, dtype in examples:
            if like is None:
                feeds[name] = np.zeros(shape, dtype=np.int64)
                continue
            draw = probe_inputs(like, 1000 + seed, shape[0] if shape else 1, dims)
            feeds[name] = draw.numpy().astype(dtype)
        try:
            result = session.run(None, feeds)[0]
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckerscopeError(f"onnxruntime failed on {str(path)!r}: {first}") from exc
        outputs.append(torch.from_numpy(np.asarray(result, dtype=np.float32)))
    batch = torch.cat(outputs)
    if batch.dim() < dims + 2:
        return None
    spatial = tuple(int(s) for s in batch.shape[-dims:])
    periods = candidate_periods(structural_period, spatial)
    return score_outputs(batch, periods, dims, "given")
