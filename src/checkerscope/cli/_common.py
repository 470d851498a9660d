"""Helpers shared by the subcommands: JSON output, shapes, threads, safe output paths.

Every subcommand gets ``--threads N`` and ``--force`` from :func:`add_common_options`, and
checks its output files with :func:`check_outputs` before it does any work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkerscope._files import display_name, write_atomic
from checkerscope.errors import CheckerscopeError

__all__ = [
    "MAX_INPUT_ELEMENTS",
    "MAX_THREADS",
    "OutputPath",
    "add_common_options",
    "check_outputs",
    "check_writable",
    "configure_threads",
    "is_checkerscope_html",
    "is_checkerscope_png",
    "parse_shape",
    "laid_out",
    "print_json",
    "quoted",
    "to_jsonable",
    "write_atomic",
]

#: The largest example input ``--input-shape`` may ask for: 1 GiB of float32.
MAX_INPUT_ELEMENTS = 2**28
#: The most intra-op threads ``--threads`` accepts.
MAX_THREADS = 256
# What a page, a heat map written by checkerscope carries (report/page.py, cli/overlap.py).
_HTML_MARK = b'<meta name="generator" content="checkerscope'
_PNG_MARK = b"tEXtSoftware\x00checkerscope"


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
    """Print strict JSON on stdout; file names that are not valid text stay escaped
    (``\\udcNN``, which ``os.fsencode(json.loads(...))`` turns back into the bytes)."""
    sys.stdout.write(laid_out(to_jsonable(value)))
    sys.stdout.write("\n")


def laid_out(value: Any, depth: int = 0) -> str:
    """JSON laid out for reading: one key per line, and a list of objects (records, such as
    one per scored file) one compact object per line, which also keeps long lists fast to
    write (the indenting encoder is pure Python; the compact one is not).

    Examples:
        >>> print(laid_out({"files": [{"path": "a.png", "db": 1.5}], "period": [2, 2]}))
        {
          "files": [
            {"path": "a.png", "db": 1.5}
          ],
          "period": [2, 2]
        }
    """
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {laid_out(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        records = [inner + json.dumps(v, allow_nan=False) for v in value]
        return "[\n" + ",\n".join(records) + f"\n{outer}]"
    return json.dumps(value, allow_nan=False)


def quoted(path: str | os.PathLike[str]) -> str:
    """A path in single quotes, printable (see :func:`checkerscope._files.display_name`).

    Examples:
        >>> quoted("out/a b.csv")
        "'out/a b.csv'"
    """
    return f"'{display_name(path)}'"


def parse_shape(text: str, flag: str = "--input-shape") -> tuple[int, ...]:
    """Parse ``"1,100,1,1"`` (or ``"1x100x1x1"``) into a tuple of positive ints.

    The shape is an example input checkerscope will allocate, so it is bounded:
    at most :data:`MAX_INPUT_ELEMENTS` elements.

    Examples:
        >>> parse_shape("1,100,1,1")
        (1, 100, 1, 1)
        >>> parse_shape("1,a")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: input shape must be positive integers ..., got '1,a'
        >>> parse_shape("1,3,99999999999999999999,2")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: --input-shape '1,3,99999999999999999999,2' has ...
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
    elements = math.prod(shape)
    if elements > MAX_INPUT_ELEMENTS:
        raise CheckerscopeError(
            f"{flag} {text!r} has {elements:.3g} elements, over the limit of "
            f"{MAX_INPUT_ELEMENTS:,} (1 GiB of float32)"
        )
    return shape


# --------------------------------------------------------------------------- threads


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--force``, the options every subcommand has."""
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="intra-op threads (torch / OpenMP) for each worker (default 1, or "
        "OMP_NUM_THREADS when it is set)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing output files that checkerscope did not write",
    )


def configure_threads(requested: int | None) -> int:
    """Set the intra-op threads of torch and OpenMP; returns the number used.

    ``requested`` (``--threads``) wins; without it, ``OMP_NUM_THREADS`` when set to a
    positive integer, else 1. The environment is set too, so torch picks the number up when
    it is imported later (and OpenMP waits passively: see ``checkerscope.cli``).
    """
    if requested is not None and not 1 <= requested <= MAX_THREADS:
        raise CheckerscopeError(f"--threads must be between 1 and {MAX_THREADS}, got {requested}")
    threads = requested
    if threads is None:
        try:
            threads = int(os.environ.get("OMP_NUM_THREADS", ""))
        except ValueError:
            threads = 1
        if not 1 <= threads <= MAX_THREADS:
            threads = 1
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(threads)
    return threads


# --------------------------------------------------------------------------- outputs


def is_checkerscope_html(path: Path) -> bool:
    """Whether ``path`` is a page checkerscope wrote (its ``generator`` meta tag)."""
    return _head(path, 8192).find(_HTML_MARK) >= 0


def is_checkerscope_png(path: Path) -> bool:
    """Whether ``path`` is a PNG checkerscope wrote (its ``Software`` text chunk)."""
    head = _head(path, 65536)
    return head.startswith(b"\x89PNG") and head.find(_PNG_MARK) >= 0


def never(path: Path) -> bool:
    """For outputs that are never a report (a saved model): only ``--force`` replaces one."""
    return False


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


@dataclass(frozen=True)
class OutputPath:
    """An output file of a command.

    Attributes:
        flag: the option that names it (``"--csv"``), for messages.
        path: the path as the user gave it (``None``: not asked for).
        what: what the command writes there (``"CSV table"``), for messages.
        ours: whether an existing file is one this command may replace without ``--force``
            (a report it wrote before).
    """

    flag: str
    path: str | os.PathLike[str] | None
    what: str
    ours: Callable[[Path], bool] = never


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)


def check_outputs(
    outputs: Sequence[OutputPath],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    force: bool = False,
) -> None:
    """Refuse, before any work, an output a command must not write.

    An output is refused when it is a folder, when it cannot be written (its folder is
    missing and cannot be made, is read-only, or is not a folder), when it is one of the
    command's ``inputs`` (also through a link; ``--force`` does not change that), when two
    outputs are the same file, and when it exists and is not a report the command wrote
    before (``OutputPath.ours``), unless ``force``.

    Raises:
        CheckerscopeError: one line naming the option and the path.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> image = folder / "v.png"
        >>> _ = image.write_bytes(b"pixels")
        >>> check_outputs([OutputPath("--csv", image, "CSV table")], inputs=[image])
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: --csv '.../v.png' is an input of this command; ...
        >>> check_outputs([OutputPath("--csv", image, "CSV table")])
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: --csv '.../v.png' exists and is not a CSV table ...
        >>> check_outputs([OutputPath("--csv", folder / "new.csv", "CSV table")])
    """
    wanted = [o for o in outputs if o.path is not None]
    if not wanted:
        return
    input_ids = {i for i in (_identity(Path(p)) for p in inputs) if i is not None}
    seen: dict[str, OutputPath] = {}
    for output in wanted:
        assert output.path is not None
        path = Path(output.path)
        name = quoted(path)
        if path.is_dir():
            raise CheckerscopeError(
                f"{output.flag} {name} is a folder; give the name of the file to write"
            )
        identity = _identity(path)
        if identity is not None and identity in input_ids:
            raise CheckerscopeError(
                f"{output.flag} {name} is an input of this command; write the "
                f"{output.what} to another file"
            )
        key = os.path.realpath(path)
        if key in seen:
            raise CheckerscopeError(
                f"{seen[key].flag} and {output.flag} name the same file {name}; give each "
                "its own file"
            )
        seen[key] = output
        check_writable(path, output.flag)
        if (path.exists() or path.is_symlink()) and not force and not output.ours(path):
            raise CheckerscopeError(
                f"{output.flag} {name} exists and is not a {output.what} checkerscope wrote; "
                "pass --force to replace it, or choose another name"
            )


def check_writable(path: Path, flag: str) -> None:
    """Whether a file can be created next to ``path`` (in the nearest existing folder)."""
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        if folder.is_symlink():  # a dangling link where a folder should be
            break
        folder = folder.parent
    if not folder.is_dir():
        raise CheckerscopeError(
            f"cannot write {flag} {quoted(path)}: {quoted(folder)} is not a folder"
        )
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".checkerscope-probe-")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CheckerscopeError(
            f"cannot write {flag} {quoted(path)}: no file can be made in {quoted(folder)} "
            f"({reason})"
        ) from None
    os.close(handle)
    Path(probe).unlink(missing_ok=True)
