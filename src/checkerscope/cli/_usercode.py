"""Run a user's code (a module's import, a factory, a forward pass, an unpickled model) so
that it cannot take the command over.

Inside :func:`user_code`:

* ``sys.exit()``, ``raise SystemExit`` and ``KeyboardInterrupt`` raised by the code become a
  :class:`~checkerscope.errors.CheckerscopeError` naming what was running (exit status 2),
  instead of ending checkerscope with the user's status or no output at all; a real Ctrl-C
  (SIGINT) still interrupts;
* any other exception becomes a one-line error naming what was running; checkerscope's own
  :class:`~checkerscope.errors.CheckerscopeError` passes unchanged;
* ``sys.argv`` is only the name of the user's file, so a module that parses the command line
  at import sees no checkerscope options;
* what the code prints on stdout goes to stderr (stdout stays the tool's own, e.g. for
  ``--json``); output written below Python (C extensions) to file descriptor 1 is sent to
  stderr too;
* with ``capture=True`` (the default, for short blocks such as an import or a factory call)
  what the code prints, on stdout or stderr, is held until the block is done and then
  written to stderr; when the code fails, its last printed line is quoted in the error (a
  usage message, say) and the rest is dropped unless ``CHECKERSCOPE_DEBUG`` is set. Use
  ``capture=False`` for long blocks that report progress (forward passes, training): their
  output then reaches stderr as it is written.

Usage (the lead's audit wraps each forward pass the same way)::

    from checkerscope.cli._usercode import user_code

    with user_code("importing 'models.py'", argv0="models.py"):
        module = importlib.import_module(...)
    with user_code("running make_generator (forward passes)", capture=False):
        output = model(example)  # progress printed here shows at once

Examples:
    >>> import sys
    >>> with user_code("calling demo()"):
    ...     print("hello from user code")  # goes to stderr, not stdout
    >>> with user_code("calling demo()"):
    ...     sys.exit(0)
    Traceback (most recent call last):
    ...
    checkerscope.errors.CheckerscopeError: calling demo() called sys.exit(0); ...
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from checkerscope.errors import CheckerscopeError

__all__ = ["one_line", "user_code"]

# Captured output past this many characters is passed through to stderr as it comes.
_CAPTURE_LIMIT = 1 << 20


def one_line(exc: BaseException) -> str:
    """``"Type: first line of the message"``.

    Examples:
        >>> one_line(ValueError("bad\\nworse"))
        'ValueError: bad'
    """
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _Capture(io.TextIOBase):
    """Collects text; past the limit, forwards it (and everything after) to ``target``."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self._parts: list[str] = []
        self._size = 0
        self._passing = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._passing:
            self._target.write(text)
            return len(text)
        self._parts.append(text)
        self._size += len(text)
        if self._size > _CAPTURE_LIMIT:
            self.release()
            self._passing = True
        return len(text)

    def flush(self) -> None:
        if self._passing:
            self._target.flush()

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self._parts)

    def release(self) -> None:
        """Write what was collected to the target and forget it."""
        text = self.text()
        self._parts, self._size = [], 0
        if text:
            self._target.write(text)
            self._target.flush()

    def last_line(self) -> str:
        lines = [line.strip() for line in self.text().splitlines() if line.strip()]
        return lines[-1][:200] if lines else ""


@contextlib.contextmanager
def _stdout_fd_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr (for C-level writes), then restore it."""
    saved = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if sys.__stdout__ is not None:
            sys.__stdout__.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@contextlib.contextmanager
def _sigint_watch(seen: list[bool]) -> Iterator[None]:
    """Set ``seen[0]`` when a real SIGINT arrives (only the main thread can watch)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        seen[0] = True
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # pragma: no cover - not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def user_code(what: str, *, argv0: str | None = None, capture: bool = True) -> Iterator[None]:
    """Run the body as user code; see the module docstring.

    Args:
        what: what is running, for messages: ``"importing 'models.py'"``,
            ``"calling models.py:make()"``, ``"running make (forward pass)"``.
        argv0: ``sys.argv[0]`` while the body runs (default: ``what``).
        capture: hold what the body prints until it ends (and quote its last line in an
            error); ``False`` lets it through to stderr at once.

    Raises:
        CheckerscopeError: the code exited, raised ``KeyboardInterrupt`` itself, or failed.
        KeyboardInterrupt: the user pressed Ctrl-C.
    """
    real_stdout, real_stderr, real_argv = sys.stdout, sys.stderr, sys.argv
    captured = _Capture(real_stderr)
    with contextlib.suppress(Exception):
        real_stdout.flush()
    failed = True
    interrupted = [False]
    try:
        with _stdout_fd_to_stderr(), _sigint_watch(interrupted):
            sys.argv = [argv0 if argv0 is not None else what]
            if capture:
                sys.stdout = sys.stderr = captured
            else:
                sys.stdout = real_stderr
            try:
                yield
                failed = False
            finally:
                sys.stdout, sys.stderr, sys.argv = real_stdout, real_stderr, real_argv
    except SystemExit as exc:
        raise CheckerscopeError(_exit_message(what, exc.code, captured)) from None
    except KeyboardInterrupt:
        if interrupted[0]:
            raise
        raise CheckerscopeError(
            f"{what} raised KeyboardInterrupt itself (no Ctrl-C was pressed)"
        ) from None
    except CheckerscopeError:
        raise
    except Exception as exc:
        raise CheckerscopeError(f"{what} raised {one_line(exc)}") from exc
    except BaseException as exc:  # GeneratorExit and other odd escapes
        raise CheckerscopeError(f"{what} raised {one_line(exc)}") from None
    finally:
        if not failed or os.environ.get("CHECKERSCOPE_DEBUG"):
            with contextlib.suppress(Exception):
                captured.release()


def _exit_message(what: str, code: object, capture: _Capture) -> str:
    printed = capture.last_line()
    if "usage:" in capture.text():
        return (
            f"{what} exited with status {code!r}: it parses the command line, which "
            f"checkerscope does not pass on (it said: {printed})"
        )
    said = f" after printing {printed!r}" if printed else ""
    return f"{what} called sys.exit({code!r}){said}; a model file must not exit"
