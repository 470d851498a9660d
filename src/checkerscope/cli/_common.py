"""Helpers shared by the subcommands: JSON output, shapes, atomic writes."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from checkerscope._files import write_atomic
from checkerscope.errors import CheckerscopeError

__all__ = ["parse_shape", "print_json", "to_jsonable", "write_atomic"]


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats to plain JSON values.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` so the
    output stays strict JSON.

    Examples:
        >>> import numpy as np
        >>> to_jsonable({"a": np.arange(3), "b": float("inf"), "c": (np.float32(0.5),)})
        {'a': [0, 1, 2], 'b': 'inf', 'c': [0.5]}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1,100,1,1"`` (or ``"1x100x1x1"``) into a tuple of positive ints.

    Examples:
        >>> parse_shape("1,100,1,1")
        (1, 100, 1, 1)
        >>> parse_shape("1,a")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: input shape must be positive integers ..., got '1,a'
    """
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise CheckerscopeError(
            f"input shape must be positive integers separated by commas, got {text!r}"
        )
    return shape
