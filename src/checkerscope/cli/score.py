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
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from checkerscope._files import display_name
from checkerscope.cli._common import OutputPath, check_outputs, print_json, write_atomic
from checkerscope.errors import CheckerscopeError
from checkerscope.imageio import DEFAULT_MAX_PIXELS

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2

#: (lower bound in dB, verdict), highest first.
VERDICTS: tuple[tuple[float, str], ...] = ((20.0, "grid"), (10.0, "faint grid"))
CLEAN = "clean"
#: The CSV's columns, in order (an existing file starting with them may be replaced).
CSV_COLUMNS: tuple[str, ...] = (
    "path",
    "height",
    "width",
    "channels",
    "period",
    "db",
    "verdict",
    "error",
)
# Draw a progress bar from this many files on (in a log, lines appear after 15 s anyway).
_PROGRESS_FROM = 20
# Files read one after another and scored together when their shapes agree (one transform
# call for several small images costs less than one call each; the scores are identical).
_CHUNK = 4
# Images with more values than this are scored on their own, as soon as they are read.
_BATCH_MAX_VALUES = 1 << 20
# A CSV cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "|")

EXAMPLES = """\
examples:
  checkerscope score samples/                      every image under samples/, recursively
  checkerscope score 'out/**/*.png' --period auto  find the period (2, 4, 8 or 16) per file
  checkerscope score a.png b.jpg --json            machine-readable result on stdout
  checkerscope score samples/ --csv scores.csv --workers 4
  checkerscope score samples/ --fail-above 20      exit 1 if any file scores above 20 dB

verdicts: clean < 10 dB <= faint grid < 20 dB <= grid
exit status: 0 at least one file scored (and no --fail-above hit), 1 a file scored above
--fail-above, 2 nothing could be scored (broken files are listed on stderr) or bad options,
130 interrupted (the files scored so far are still printed and written to --csv)
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
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the table as CSV (atomically; never over an input or a file that is "
        "not an earlier score CSV, unless --force)",
    )
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="files read and scored in parallel"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="skip images with more pixels than N, before decoding them (default "
        f"{DEFAULT_MAX_PIXELS:,}, Pillow's bomb limit; a worker needs about 3 x 4 bytes "
        "per pixel and channel)",
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

    @property
    def name(self) -> str:
        """The file name as one printable line (for the terminal and messages)."""
        return display_name(self.path)

    def as_json(self) -> dict[str, Any]:
        """The JSON record; ``path`` is the name the OS gave (``os.fsencode`` gets the bytes
        back from undecodable names)."""
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

    def csv_row(self) -> list[str]:
        """The CSV cells, text cells neutralised against formula injection."""
        if self.error is not None:
            return [csv_cell(str(self.path)), "", "", "", "", "", "", csv_cell(self.error)]
        assert self.shape is not None and self.db is not None and self.verdict is not None
        channels, height, width = self.shape
        period = "x".join(str(p) for p in self.period or ())
        return [
            csv_cell(str(self.path)),
            str(height),
            str(width),
            str(channels),
            period,
            f"{self.db:.2f}",
            self.verdict,
            "",
        ]


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a ``'``.

    Examples:
        >>> csv_cell("=cmd|' /C calc'!A0.png"), csv_cell("-1.png"), csv_cell("a.png")
        ("'=cmd|' /C calc'!A0.png", "'-1.png", 'a.png')
    """
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


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
    if not 2 <= value <= 1 << 16:
        raise CheckerscopeError(
            f"--period must be an integer from 2 to 65536 or 'auto', got {text!r}"
        )
    return value


def _failure(path: Path, exc: BaseException) -> FileScore:
    """The outcome of a file that could not be read or scored; never raises."""
    name = display_name(path)
    if isinstance(exc, CheckerscopeError):
        message = str(exc)
        if not message.startswith(name):
            message = f"{name}: {message}"
        if "(max_pixels)" in message:
            message = message.replace("(max_pixels)", "(--max-pixels)")
    elif isinstance(exc, MemoryError):
        message = f"{name}: not enough memory to read and score it"
    else:
        from checkerscope.cli._usercode import one_line

        message = f"{name}: failed ({one_line(exc)})"
    return FileScore(path=path, error=message)


def _scored(path: Path, image: np.ndarray, result: Any, index: int = 0) -> FileScore:
    return FileScore(
        path=path,
        shape=(int(image.shape[0]), int(image.shape[1]), int(image.shape[2])),
        period=tuple(int(p) for p in result.period),
        db=float(result.db[index]),
        channel_db=tuple(float(v) for v in result.channel_db[index]),
    )


def score_file(
    path: Path, period: int | str, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> FileScore:
    """Load and score one file; any failure becomes a :class:`FileScore` with ``error``."""
    from checkerscope.imageio import load_image
    from checkerscope.metrics import checkerboard_score

    try:
        image = load_image(path, max_pixels=max_pixels)
        return _scored(path, image, checkerboard_score(image, period=period))
    except Exception as exc:  # one file's failure never ends the run
        return _failure(path, exc)


def _score_chunk(
    paths: Sequence[Path], period: int | str, max_pixels: int | None
) -> list[FileScore]:
    """Score a few files, small ones of the same shape in one call (same numbers)."""
    from checkerscope.imageio import load_image
    from checkerscope.metrics import checkerboard_score

    if period == "auto" or len(paths) == 1:  # "auto" picks one period per call
        return [score_file(path, period, max_pixels) for path in paths]
    outcomes: list[FileScore | None] = [None] * len(paths)
    waiting: dict[tuple[Any, ...], list[tuple[int, np.ndarray]]] = {}
    for index, path in enumerate(paths):
        try:
            image = load_image(path, max_pixels=max_pixels)
        except Exception as exc:
            outcomes[index] = _failure(path, exc)
            continue
        if image.size > _BATCH_MAX_VALUES:
            try:
                outcomes[index] = _scored(path, image, checkerboard_score(image, period=period))
            except Exception as exc:
                outcomes[index] = _failure(path, exc)
            del image
            continue
        waiting.setdefault((image.shape, image.dtype.str), []).append((index, image))
    for group in waiting.values():
        try:
            result = checkerboard_score(np.stack([image for _, image in group]), period=period)
        except Exception:  # one bad image in the batch: score each on its own
            for index, image in group:
                try:
                    outcomes[index] = _scored(
                        paths[index], image, checkerboard_score(image, period=period)
                    )
                except Exception as exc:
                    outcomes[index] = _failure(paths[index], exc)
            continue
        for position, (index, image) in enumerate(group):
            outcomes[index] = _scored(paths[index], image, result, position)
    return [outcome for outcome in outcomes if outcome is not None]


def score_files(
    paths: Sequence[Path],
    period: int | str,
    workers: int = 1,
    on_result: Callable[[FileScore], None] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> list[FileScore]:
    """Score ``paths`` in order, ``workers`` chunks at a time (threads: decoding and FFTs
    release the GIL); ``on_result`` sees each outcome as soon as it is known.

    On ``KeyboardInterrupt`` the outcomes so far are kept: the exception carries them as
    ``exc.partial_results``.
    """
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]

    def outcomes() -> Iterator[list[FileScore]]:
        if workers <= 1:
            for chunk in chunks:
                yield _score_chunk(chunk, period, max_pixels)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(lambda chunk: _score_chunk(chunk, period, max_pixels), chunks)

    results: list[FileScore] = []
    try:
        for chunk_outcomes in outcomes():
            for outcome in chunk_outcomes:
                if on_result is not None:
                    on_result(outcome)
                results.append(outcome)
    except KeyboardInterrupt as exc:
        exc.partial_results = results  # type: ignore[attr-defined]
        raise
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


def _csv_bytes(results: Sequence[FileScore]) -> bytes:
    """The CSV, UTF-8; bytes of names that are not valid UTF-8 are written as they are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        writer.writerow(r.csv_row())
    return buffer.getvalue().encode("utf-8", "surrogateescape")


def is_score_csv(path: Path) -> bool:
    """Whether ``path`` is a CSV an earlier ``checkerscope score --csv`` wrote."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return False
    return first.rstrip(b"\r\n").split(b",")[: len(CSV_COLUMNS)] == [
        c.encode() for c in CSV_COLUMNS
    ]


def _print_table(results: Sequence[FileScore], summary: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = [r for r in results if r.db is not None]
    name_width = max((len(r.name) for r in rows), default=4)
    console = Console(
        file=sys.stdout,
        width=None if sys.stdout.isatty() else max(80, name_width + 40),
        highlight=False,
        markup=False,
        emoji=False,
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
            Text(r.name),  # plain text: markup in a file name is not interpreted
            f"{width}x{height}" + ("" if channels == 3 else " gray"),
            "x".join(str(p) for p in r.period or ()),
            f"{r.db:.1f}",
            Text(r.verdict, style=styles[r.verdict]),
        )
    if rows:
        console.print(table)
    console.print(_summary_line(summary))


def _summary_line(summary: dict[str, Any]) -> str:
    median = summary["median_db"]
    verdicts = ", ".join(f"{n} {name}" for name, n in summary["verdicts"].items() if n)
    return (
        f"scored {summary['scored']}, failed {summary['failed']}"
        + (f"; median {median:.1f} dB" if median is not None else "")
        + (f"; {verdicts}" if verdicts else "")
    )


def _check_options(args: argparse.Namespace) -> int | str:
    period = parse_period(str(args.period))
    if args.workers < 1 or args.workers > 256:
        raise CheckerscopeError(f"--workers must be between 1 and 256, got {args.workers}")
    if args.max_pixels < 1:
        raise CheckerscopeError(f"--max-pixels must be at least 1, got {args.max_pixels}")
    if args.fail_above is not None and not math.isfinite(args.fail_above):
        raise CheckerscopeError(
            f"--fail-above must be a finite number of dB, got {args.fail_above}"
        )
    return period


def run(args: argparse.Namespace) -> int:
    from checkerscope.imageio import iter_image_paths

    period = _check_options(args)
    paths = list(iter_image_paths(args.paths))
    if not paths:
        shown = " ".join(display_name(p) for p in args.paths)
        raise CheckerscopeError(f"no image files found in {shown}")
    check_outputs(
        [OutputPath("--csv", args.csv, "score CSV", is_score_csv)],
        inputs=paths,
        force=args.force,
    )
    results, interrupted = _score_with_progress(paths, period, args.workers, args.max_pixels)

    summary = _summary(results)
    if args.csv:
        write_atomic(args.csv, _csv_bytes(results))
    if args.json:
        document: dict[str, Any] = {
            "period": period,
            "files": [r.as_json() for r in results],
            "summary": summary,
            "thresholds_db": {name: bound for bound, name in VERDICTS},
        }
        if interrupted:
            document["complete"] = False
        print_json(document)
    else:
        _print_table(results, summary)
    if interrupted:
        print(
            f"checkerscope score: interrupted after {len(results)} of {len(paths)} file(s)",
            file=sys.stderr,
        )
        return 130
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


def _reuse_freed_memory() -> None:
    """Ask glibc to keep freed buffers for reuse instead of handing them back to the OS.

    Each image needs a few buffers of its own size; by default glibc returns blocks over
    128 KiB to the kernel when they are freed, and the next image pays a page fault per
    4 KiB page to get them back (about 400 faults per 256x256 RGB image, a large share of
    the time on a virtual machine). Buffers up to 32 MiB now come from the heap, which is
    trimmed only past 256 MiB of free memory. No effect elsewhere than on glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if sys.platform != "linux" or name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _score_with_progress(
    paths: Sequence[Path], period: int | str, workers: int, max_pixels: int
) -> tuple[list[FileScore], bool]:
    """Score with progress on stderr; ``(results, interrupted)``."""
    import warnings

    from PIL import Image

    from checkerscope._progress import Progress

    _reuse_freed_memory()
    bomb_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # --max-pixels is the limit, checked before decoding
    progress = Progress(
        "checkerscope score",
        total=len(paths),
        unit="files",
        terminal=None if len(paths) >= _PROGRESS_FROM else False,
    )

    def on_result(outcome: FileScore) -> None:
        if outcome.error is not None:
            progress.log(f"checkerscope score: skipped {outcome.error}")
        progress.advance()

    try:
        with warnings.catch_warnings(), progress:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return score_files(paths, period, workers, on_result, max_pixels), False
    except KeyboardInterrupt as exc:
        return list(getattr(exc, "partial_results", [])), True
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
