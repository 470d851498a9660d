"""``checkerscope score``: the checkerboard score of image files, one line per file.

Verdicts (thresholds in dB, from the validation on scikit-image's photographs: clean crops
have a 95th percentile near 9 dB; a grid of 0.25 % of the range scores a median near
18 dB and one of 1 % near 29 dB):

* ``clean``       below 10 dB
* ``faint grid``  10 to 20 dB
* ``grid``        20 dB and above
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from checkerscope.cli._common import print_json, write_atomic
from checkerscope.errors import CheckerscopeError

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2

#: (lower bound in dB, verdict), highest first.
VERDICTS: tuple[tuple[float, str], ...] = ((20.0, "grid"), (10.0, "faint grid"))
CLEAN = "clean"
# Draw a progress bar from this many files on (and only on a terminal).
_PROGRESS_FROM = 20

EXAMPLES = """\
examples:
  checkerscope score samples/                      every image under samples/, recursively
  checkerscope score 'out/**/*.png' --period auto  find the period (2, 4, 8 or 16) per file
  checkerscope score a.png b.jpg --json            machine-readable result on stdout
  checkerscope score samples/ --csv scores.csv --workers 4
  checkerscope score samples/ --fail-above 20      exit 1 if any file scores above 20 dB

verdicts: clean < 10 dB <= faint grid < 20 dB <= grid
exit status: 0 at least one file scored (and no --fail-above hit), 1 a file scored above
--fail-above, 2 nothing could be scored (broken files are listed on stderr)
"""


def verdict(db: float) -> str:
    """The verdict for a score in dB.

    Examples:
        >>> verdict(3.0), verdict(12.5), verdict(31.0)
        ('clean', 'faint grid', 'grid')
    """
    for bound, name in VERDICTS:
        if db >= bound:
            return name
    return CLEAN


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "score",
        help="checkerboard score of image files (dB; about 0 = no grid)",
        description=(
            "Score image files for checkerboard artifacts: the energy at the DFT bins of "
            "the grid's period over the energy expected there from neighbouring bins, in dB. "
            "PATH may be files, folders (searched recursively) or glob patterns. Broken files "
            "are reported on stderr and skipped."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or globs")
    p.add_argument(
        "--period",
        default="2",
        metavar="P",
        help="grid period in pixels (2, 4, 8, ...) or 'auto' to pick 2, 4, 8 or 16 per file "
        "(default 2)",
    )
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV (atomically)")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="files read and scored in parallel"
    )
    p.add_argument(
        "--fail-above",
        type=float,
        metavar="DB",
        help="exit 1 if any file scores above DB (a check for CI)",
    )
    p.set_defaults(func=run)


@dataclass(frozen=True)
class FileScore:
    """The outcome for one file: a score, or the reason it could not be scored."""

    path: Path
    shape: tuple[int, int, int] | None = None  # (C, H, W)
    period: tuple[int, ...] | None = None
    db: float | None = None
    channel_db: tuple[float, ...] = ()
    error: str | None = None

    @property
    def verdict(self) -> str | None:
        return None if self.db is None else verdict(self.db)

    def as_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": str(self.path), "error": self.error}
        assert self.shape is not None
        channels, height, width = self.shape
        return {
            "path": str(self.path),
            "height": height,
            "width": width,
            "channels": channels,
            "period": list(self.period or ()),
            "db": self.db,
            "channel_db": list(self.channel_db),
            "verdict": self.verdict,
        }


def parse_period(text: str) -> int | str:
    """``"auto"`` or a period of at least 2.

    Examples:
        >>> parse_period("4"), parse_period("AUTO")
        (4, 'auto')
    """
    text = text.strip().lower()
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise CheckerscopeError(f"--period must be an integer >= 2 or 'auto', got {text!r}")
    return value


def score_file(path: Path, period: int | str) -> FileScore:
    """Load and score one file; errors become a :class:`FileScore` with ``error`` set."""
    from checkerscope.imageio import load_image
    from checkerscope.metrics import checkerboard_score

    try:
        image = load_image(path)
        result = checkerboard_score(image, period=period)
    except CheckerscopeError as exc:
        message = str(exc)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        return FileScore(path=path, error=message)
    return FileScore(
        path=path,
        shape=(int(image.shape[0]), int(image.shape[1]), int(image.shape[2])),
        period=tuple(int(p) for p in result.period),
        db=float(result.db[0]),
        channel_db=tuple(float(v) for v in result.channel_db[0]),
    )


def score_files(
    paths: Sequence[Path],
    period: int | str,
    workers: int = 1,
    on_result: Callable[[FileScore], None] | None = None,
) -> list[FileScore]:
    """Score ``paths`` in order, ``workers`` at a time (threads: decoding and FFTs release
    the GIL); ``on_result`` sees each outcome as soon as it is known."""

    def outcomes() -> Iterator[FileScore]:
        if workers <= 1:
            for path in paths:
                yield score_file(path, period)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(lambda path: score_file(path, period), paths)

    results = []
    for outcome in outcomes():
        if on_result is not None:
            on_result(outcome)
        results.append(outcome)
    return results


def _summary(results: Sequence[FileScore]) -> dict[str, Any]:
    scored = [r.db for r in results if r.db is not None]
    counts = {name: 0 for name in (CLEAN, *(name for _, name in reversed(VERDICTS)))}
    for r in results:
        if r.verdict is not None:
            counts[r.verdict] += 1
    return {
        "scored": len(scored),
        "failed": len(results) - len(scored),
        "median_db": float(np.median(scored)) if scored else None,
        "verdicts": counts,
    }


def _csv_text(results: Sequence[FileScore]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "height", "width", "channels", "period", "db", "verdict", "error"])
    for r in results:
        if r.error is not None:
            writer.writerow([str(r.path), "", "", "", "", "", "", r.error])
            continue
        assert r.shape is not None and r.db is not None
        period = "x".join(str(p) for p in r.period or ())
        channels, height, width = r.shape
        writer.writerow(
            [str(r.path), height, width, channels, period, f"{r.db:.2f}", r.verdict, ""]
        )
    return buffer.getvalue()


def _print_table(results: Sequence[FileScore], summary: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = [r for r in results if r.db is not None]
    name_width = max((len(str(r.path)) for r in rows), default=4)
    console = Console(
        file=sys.stdout,
        width=None if sys.stdout.isatty() else max(80, name_width + 40),
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("period", justify="right")
    table.add_column("dB", justify="right")
    table.add_column("verdict")
    styles = {CLEAN: "green", "faint grid": "yellow", "grid": "bold red"}
    for r in rows:
        assert r.shape is not None and r.db is not None and r.verdict is not None
        channels, height, width = r.shape
        table.add_row(
            str(r.path),
            f"{width}x{height}" + ("" if channels == 3 else " gray"),
            "x".join(str(p) for p in r.period or ()),
            f"{r.db:.1f}",
            f"[{styles[r.verdict]}]{r.verdict}[/]",
        )
    if rows:
        console.print(table)
    median = summary["median_db"]
    verdicts = ", ".join(f"{n} {name}" for name, n in summary["verdicts"].items() if n)
    console.print(
        f"scored {summary['scored']}, failed {summary['failed']}"
        + (f"; median {median:.1f} dB" if median is not None else "")
        + (f"; {verdicts}" if verdicts else "")
    )


def run(args: argparse.Namespace) -> int:
    from checkerscope.imageio import iter_image_paths

    period = parse_period(str(args.period))
    if args.workers < 1:
        raise CheckerscopeError(f"--workers must be at least 1, got {args.workers}")
    paths = list(iter_image_paths(args.paths))
    if not paths:
        raise CheckerscopeError(f"no image files found in {' '.join(args.paths)}")

    def report_failure(outcome: FileScore) -> None:
        if outcome.error is not None:
            print(f"checkerscope score: skipped {outcome.error}", file=sys.stderr, flush=True)

    if len(paths) >= _PROGRESS_FROM and sys.stderr.isatty():
        results = _score_with_progress(paths, period, args.workers, report_failure)
    else:
        results = score_files(paths, period, args.workers, report_failure)

    summary = _summary(results)
    if args.csv:
        write_atomic(args.csv, _csv_text(results))
    if args.json:
        print_json(
            {
                "period": period,
                "files": [r.as_json() for r in results],
                "summary": summary,
                "thresholds_db": {name: bound for bound, name in VERDICTS},
            }
        )
    else:
        _print_table(results, summary)
    if summary["scored"] == 0:
        print(
            f"checkerscope score: error: none of the {len(paths)} file(s) could be scored",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.fail_above is not None:
        above = [r for r in results if r.db is not None and r.db > args.fail_above]
        if above:
            print(
                f"checkerscope score: {len(above)} file(s) score above {args.fail_above:g} dB",
                file=sys.stderr,
            )
            return EXIT_FINDINGS
    return EXIT_OK


def _score_with_progress(
    paths: Sequence[Path],
    period: int | str,
    workers: int,
    report_failure: Callable[[FileScore], None],
) -> list[FileScore]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        "scoring",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("score", total=len(paths))

        def on_result(outcome: FileScore) -> None:
            if outcome.error is not None:
                progress.console.print(f"checkerscope score: skipped {outcome.error}")
            progress.advance(task)

        return score_files(paths, period, workers, on_result)
