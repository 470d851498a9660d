"""Files shared by every part that reads names or writes results (CLI, audit, reproduction).

* :func:`write_atomic` writes through a temporary sibling and a rename, so a reader (or an
  interrupted run) never sees half a file, and names the caller's path when it fails;
* :func:`display_name` turns any file name the operating system hands over (undecodable
  bytes, control characters, newlines, escape sequences) into one printable line.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

from checkerscope.errors import CheckerscopeError

__all__ = ["display_name", "write_atomic"]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write a file via a temporary sibling and a rename, so readers never see half of it.

    The file gets the permissions a plain ``open(path, "w")`` would give it (``mkstemp``
    alone would leave it readable by its owner only). Text is written as UTF-8; pass bytes
    to choose another encoding.

    Raises:
        CheckerscopeError: the file cannot be written; the message names ``path`` (not the
            temporary file) and the reason.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_atomic(folder / "a" / "b.txt", "hello").read_text()
        'hello'
        >>> write_atomic(folder / "a", "x")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: cannot write '.../a': it is a folder
    """
    path = Path(path)
    if path.is_dir():
        raise CheckerscopeError(f"cannot write '{display_name(path)}': it is a folder")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise CheckerscopeError(f"cannot write '{display_name(path)}': {reason}") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def display_name(name: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """A file name as one printable line: what a terminal, a log or an error message shows.

    Bytes are decoded as the operating system does (:func:`os.fsdecode`); bytes that are
    not valid in the file system encoding become ``\\xNN``, and control characters
    (newlines, tabs, ANSI escape sequences, bidirectional overrides) become ``\\n``,
    ``\\t``, ``\\x1b``, ``\\u202e``. A backslash is kept as it is, so ordinary Windows-style
    names read unchanged. Use the name itself (``os.fsdecode``), not this, to open a file.

    Examples:
        >>> display_name("photo.png")
        'photo.png'
        >>> display_name("evil\\x1b[31mred\\nline.png")
        'evil\\\\x1b[31mred\\\\nline.png'
        >>> display_name(b"caf\\xe9.png")
        'caf\\\\xe9.png'
    """
    text = os.fsdecode(name)
    parts = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, smuggled through surrogateescape
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\n":
            parts.append("\\n")
        elif char == "\t":
            parts.append("\\t")
        elif char == "\r":
            parts.append("\\r")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            parts.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            parts.append(char)
    return "".join(parts)
