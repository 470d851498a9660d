"""Progress that a person sees in a terminal and that shows up in a log file too.

On a terminal, :class:`Progress` draws a bar on stderr (rich) that disappears when the work
is done. Anywhere else (stderr redirected to a file, a CI log, a pipe) a bar would print
nothing useful, so it writes a plain line every ``interval_s`` seconds instead, such as::

    checkerscope score: 1200/2000 files (60%), 1 min 12 s, about 48 s left

and, when it printed any such line, one last line when the work ends. Work shorter than
one interval stays silent in a log.

Usage, with a known amount of work::

    from checkerscope._progress import Progress

    with Progress("checkerscope audit: forward passes", total=len(batches)) as progress:
        for batch in batches:
            model(batch)
            progress.advance()          # one step done
            progress.log("a line that stays")  # above the bar; a plain line in a log

and, as a callback for code that reports a fraction (``progress(fraction, message)``)::

    with Progress("C5", total=1.0, unit="") as progress:
        run(..., progress=progress.report)

``interval_s`` defaults to the environment variable ``CHECKERSCOPE_PROGRESS_SECONDS`` or
15 seconds. A :class:`Progress` may be advanced from several threads.

Examples:
    >>> import io
    >>> log = io.StringIO()
    >>> with Progress("scoring", total=4, unit="files", stream=log, interval_s=0) as bar:
    ...     bar.advance(2)
    ...     bar.log("skipped b.png")
    ...     bar.advance(2)
    >>> print(log.getvalue(), end="")
    scoring: 2/4 files (50%), ... s, about ... s left
    skipped b.png
    scoring: 4/4 files (100%), ... s
    scoring: done, 4/4 files in ... s
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "format_duration"]

DEFAULT_INTERVAL_S = 15.0


def format_duration(seconds: float) -> str:
    """A duration as a person reads it.

    Examples:
        >>> format_duration(3.4), format_duration(75), format_duration(3725)
        ('3 s', '1 min 15 s', '1 h 02 min')
    """
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes} min {rest} s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min"


def _default_interval() -> float:
    text = os.environ.get("CHECKERSCOPE_PROGRESS_SECONDS", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_INTERVAL_S


class Progress:
    """Progress of one piece of work: a bar on a terminal, periodic lines in a log.

    Args:
        description: what is being done; it starts every line (e.g. ``"checkerscope
            score"``).
        total: the amount of work (files, steps, ``1.0`` for a fraction), or ``None``
            when unknown.
        unit: the name of one step in lines (``"files"``); empty for fractions.
        stream: where to write (default ``sys.stderr``).
        interval_s: seconds between plain lines (default: ``CHECKERSCOPE_PROGRESS_SECONDS``
            or 15).
        terminal: draw a bar (``True``) or write lines (``False``); default: whether
            ``stream`` is a terminal.
        enabled: ``False`` writes nothing at all (``log`` lines still go out).
    """

    def __init__(
        self,
        description: str,
        total: float | None = None,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        interval_s: float | None = None,
        terminal: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0.0
        self.message = ""
        self._stream = stream if stream is not None else sys.stderr
        self._interval = _default_interval() if interval_s is None else float(interval_s)
        self._enabled = enabled
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_line = self._started
        self._lines_written = 0
        self._closed = False
        if terminal is None:
            isatty = getattr(self._stream, "isatty", None)
            terminal = bool(isatty()) if callable(isatty) else False
        self._bar: Any = None
        self._task: Any = None
        if enabled and terminal:
            self._start_bar()

    # ------------------------------------------------------------------ public API

    def advance(self, steps: float = 1.0) -> None:
        """Count ``steps`` more steps as done."""
        with self._lock:
            self.completed += steps
            self._refresh()

    def update(self, completed: float | None = None, message: str | None = None) -> None:
        """Set the amount done and/or a short message (the current stage of the work)."""
        with self._lock:
            if completed is not None:
                self.completed = float(completed)
            if message is not None:
                self.message = message
            self._refresh()

    def report(self, fraction: float, message: str = "") -> None:
        """``update`` with the signature of a ``progress(fraction, message)`` callback."""
        self.update(fraction * (self.total if self.total is not None else 1.0), message)

    def log(self, line: str) -> None:
        """Write a line that stays: above the bar on a terminal, as it is in a log."""
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(line, markup=False, highlight=False)
            else:
                self._write(line, counted=False)

    def close(self) -> None:
        """Remove the bar, or write the last line in a log if any line was written."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bar is not None:
                self._bar.stop()
                return
            if self._enabled and self._lines_written:
                elapsed = format_duration(time.monotonic() - self._started)
                if self.total is not None and self.completed < self.total:
                    self._write(f"{self.description}: stopped at {self._amount()} after {elapsed}")
                elif self.total is None and not self.unit:
                    self._write(f"{self.description}: done in {elapsed}")
                else:
                    self._write(f"{self.description}: done, {self._amount()} in {elapsed}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        columns: list[Any] = [
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=30),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[message]}", markup=False),
        ]
        self._bar = RichProgress(
            *columns, console=Console(file=self._stream, highlight=False), transient=True
        )
        self._task = self._bar.add_task(self.description, total=self.total, message="")
        self._bar.start()

    def _refresh(self) -> None:
        if not self._enabled or self._closed:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed, message=self.message)
            return
        now = time.monotonic()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._write(self._line(now))

    def _amount(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.total is None:
            return f"{_number(self.completed)}{unit}"
        if self.unit:
            return f"{_number(self.completed)}/{_number(self.total)}{unit}"
        return f"{100 * self.completed / self.total:.0f}%" if self.total else "0%"

    def _line(self, now: float) -> str:
        elapsed = now - self._started
        # work of unknown size with no unit (a stage message says where it is): time only
        parts = [self._amount()] if self.total is not None or self.unit else []
        if self.total and self.unit:
            parts[0] += f" ({100 * self.completed / self.total:.0f}%)"
        parts.append(format_duration(elapsed))
        if self.total and 0 < self.completed < self.total:
            left = elapsed * (self.total - self.completed) / self.completed
            parts.append(f"about {format_duration(left)} left")
        line = f"{self.description}: " + ", ".join(parts)
        return f"{line}: {self.message}" if self.message else line

    def _write(self, line: str, counted: bool = True) -> None:
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed log must not stop the work
            pass
        self._lines_written += counted


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"
