"""``checkerscope score``: the checkerboard score of image and audio files, one line each.

Each file gets three numbers (see :mod:`checkerscope.metrics.score`): ``dB`` (how much the
grid stands out), the grid's peak-to-peak amplitude in 8-bit grey levels (``p-p``) and its
significance as a z-score (``z``). The verdict needs both a significant and a visible grid:

* ``clean``       not significant (z < 2.33), or peak-to-peak below 1 grey level
* ``faint grid``  significant, 1 to 3 grey levels peak-to-peak
* ``grid``        significant, 3 grey levels or more

WAV files (and FLAC/OGG with the optional ``soundfile``) are scored along time (``dims=1``),
with amplitudes relative to full scale.
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

#: The verdicts, weakest first.
VERDICT_NAMES: tuple[str, ...] = ("clean", "faint grid", "grid")
CLEAN = "clean"
#: The CSV's columns, in order. An existing file whose header starts with the first eight
#: (those of every version) is an earlier score CSV and may be replaced.
CSV_COLUMNS: tuple[str, ...] = (
    "path",
    "height",
    "width",
    "channels",
    "period",
    "db",
    "verdict",
    "error",
    "significance",
    "peak_to_peak_levels",
    "rms_levels",
    "notes",
)
_CSV_STABLE_COLUMNS = 8
# Draw a progress bar from this many files on (in a log, lines appear after 15 s anyway).
_PROGRESS_FROM = 20
# Files read one after another and scored together when their shapes agree (one call for
# several small images costs less than one call each; the scores are identical).
_CHUNK = 16
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
  checkerscope score resized/ --offgrid            also find grids moved by a non-integer resize
  checkerscope score voice.wav                     audio files are scored along time

verdicts: grid = significant (z >= 2.33) and >= 3 grey levels peak-to-peak; faint grid =
significant and >= 1 level (--visible); clean otherwise
exit status: 0 at least one file scored (and no --fail-above hit), 1 a file scored above
--fail-above, 2 nothing could be scored (broken files are listed on stderr) or bad options,
130 interrupted (the files scored so far are still printed and written to --csv)
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "score",
        help="checkerboard score of image and audio files (dB; about 0 = no grid)",
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
        "--visible",
        type=float,
        default=1.0,
        metavar="LEVELS",
        help="visibility threshold: peak-to-peak in 8-bit grey levels (default 1; audio: "
        "1/255 of full scale per level)",
    )
    p.add_argument(
        "--offgrid",
        action="store_true",
        help="also search every frequency for the strongest periodic peak (a grid after a "
        "non-integer resize): its period, the resize factor it implies and its z (against "
        "white noise: photographs reach z 13 on their own; not part of the verdict)",
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
    shape: tuple[int, int, int] | None = None  # (C, H, W); (C, 1, T) for audio
    period: tuple[int, ...] | None = None
    db: float | None = None
    channel_db: tuple[float, ...] = ()
    error: str | None = None
    kind: str = "image"
    significance: float | None = None
    p_value: float | None = None
    rms_levels: float | None = None
    peak_to_peak_levels: float | None = None
    score_verdict: str | None = None
    notes: str = ""
    offgrid: dict[str, Any] | None = None

    @property
    def verdict(self) -> str | None:
        return self.score_verdict

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
        result = {
            "path": str(self.path),
            "kind": self.kind,
            "height": height,
            "width": width,
            "channels": channels,
            "period": list(self.period or ()),
            "db": self.db,
            "channel_db": list(self.channel_db),
            "significance": self.significance,
            "p_value": self.p_value,
            "amplitude": {
                "rms_levels": self.rms_levels,
                "peak_to_peak_levels": self.peak_to_peak_levels,
                "peak_to_peak_percent": None
                if self.peak_to_peak_levels is None
                else self.peak_to_peak_levels / 2.55,
            },
            "verdict": self.verdict,
            "notes": self.notes,
        }
        if self.offgrid is not None:
            result["offgrid"] = self.offgrid
        return result

    def csv_row(self) -> list[str]:
        """The CSV cells (:data:`CSV_COLUMNS`), text cells neutralised against formulas."""
        if self.error is not None:
            empty = [""] * (len(CSV_COLUMNS) - 2)
            row = [csv_cell(str(self.path)), *empty[:6], csv_cell(self.error), *empty[6:]]
            return row
        assert self.shape is not None and self.db is not None and self.verdict is not None
        assert self.significance is not None and self.peak_to_peak_levels is not None
        assert self.rms_levels is not None
        channels, height, width = self.shape
        return [
            csv_cell(str(self.path)),
            str(height),
            str(width),
            str(channels),
            "x".join(str(p) for p in self.period or ()),
            f"{self.db:.2f}",
            self.verdict,
            "",
            f"{self.significance:.2f}",
            f"{self.peak_to_peak_levels:.3f}",
            f"{self.rms_levels:.3f}",
            csv_cell(self.notes),
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
        message = message.replace("(max_pixels)", "(--max-pixels)")
    elif isinstance(exc, MemoryError):
        message = f"{name}: not enough memory to read and score it"
    else:
        from checkerscope.cli._usercode import one_line

        message = f"{name}: failed ({one_line(exc)})"
    return FileScore(path=path, error=message)


def _load(path: Path, max_pixels: int | None) -> tuple[np.ndarray, int, float, bool]:
    """``(data, dims, value_range, is_audio)`` of one file."""
    from checkerscope.audioio import is_audio_path, load_audio
    from checkerscope.imageio import load_image

    if is_audio_path(path):
        samples, _ = load_audio(path)
        return samples, 1, 2.0, True  # full scale is [-1, 1]
    pixels = load_image(path, max_pixels=max_pixels, as_stored=True)
    return pixels, 2, 255.0 if pixels.dtype == np.uint8 else 1.0, False


def _scored(
    path: Path, data: np.ndarray, audio: bool, value_range: float, result: Any, index: int = 0
) -> FileScore:
    """The outcome of image (or signal) ``index`` of a score ``result``."""
    shape = (data.shape[0], 1, data.shape[1]) if audio else tuple(int(n) for n in data.shape)
    assert result.amplitude is not None
    peaks = result.offgrid
    return FileScore(
        path=path,
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        period=tuple(int(p) for p in result.period),
        db=float(result.db[index]),
        channel_db=tuple(float(v) for v in result.channel_db[index]),
        kind="audio" if audio else "image",
        significance=float(result.significance[index]),
        p_value=float(result.p_value[index]),
        rms_levels=float(result.amplitude.rms_levels[index]),
        peak_to_peak_levels=float(result.amplitude.peak_to_peak_levels[index]),
        score_verdict=result.verdict[index],
        notes=result.notes[index],
        offgrid=None
        if peaks is None
        else {
            "frequency": [float(f) for f in peaks.frequency[index]],
            "period": float(peaks.period[index]),
            "original_period": int(peaks.original_period[index]),
            "resize_factor": float(peaks.resize_factor[index]),
            "resize_factor_if_aliased": float(peaks.resize_factor_if_aliased[index]),
            "significance": float(peaks.significance[index]),
            "peak_to_peak_levels": float(peaks.peak_to_peak[index] / value_range * 255.0),
        },
    )


def _score(
    data: np.ndarray, period: int | str, dims: int, value_range: float, **options: Any
) -> Any:
    from checkerscope.metrics import checkerboard_score

    return checkerboard_score(data, period=period, dims=dims, value_range=value_range, **options)


def score_file(
    path: Path,
    period: int | str,
    visible: float = 1.0,
    offgrid: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> FileScore:
    """Load and score one file; any failure becomes a :class:`FileScore` with ``error``."""
    try:
        data, dims, value_range, audio = _load(path, max_pixels)
        result = _score(data, period, dims, value_range, visible=visible, offgrid=offgrid)
        return _scored(path, data, audio, value_range, result)
    except Exception as exc:  # one file's failure never ends the run
        return _failure(path, exc)


def _score_chunk(
    paths: Sequence[Path],
    period: int | str,
    max_pixels: int | None,
    visible: float = 1.0,
    offgrid: bool = False,
) -> list[FileScore]:
    """Score a few files; small images of one shape in one call (the same numbers)."""
    if period == "auto" or offgrid or len(paths) == 1:  # "auto" picks one period per call
        return [score_file(p, period, visible, offgrid, max_pixels) for p in paths]
    outcomes: list[FileScore | None] = [None] * len(paths)
    waiting: dict[tuple[Any, ...], list[tuple[int, np.ndarray]]] = {}
    for index, path in enumerate(paths):
        try:
            data, dims, value_range, audio = _load(path, max_pixels)
            if audio or data.size > _BATCH_MAX_VALUES:
                result = _score(data, period, dims, value_range, visible=visible)
                outcomes[index] = _scored(path, data, audio, value_range, result)
                continue
        except Exception as exc:
            outcomes[index] = _failure(path, exc)
            continue
        waiting.setdefault((data.shape, data.dtype.str, value_range), []).append((index, data))
    for (_, _, value_range), group in waiting.items():
        try:
            batch = np.stack([image for _, image in group])
            result = _score(batch, period, 2, value_range, visible=visible, layout="NCHW")
        except Exception:  # one bad image in the batch: score each on its own
            for index, _ in group:
                outcomes[index] = score_file(paths[index], period, visible, False, max_pixels)
            continue
        for position, (index, image) in enumerate(group):
            outcomes[index] = _scored(paths[index], image, False, value_range, result, position)
    return [outcome for outcome in outcomes if outcome is not None]


def score_files(
    paths: Sequence[Path],
    period: int | str,
    workers: int = 1,
    on_result: Callable[[FileScore], None] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **options: Any,
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
                yield _score_chunk(chunk, period, max_pixels, **options)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(
                lambda chunk: _score_chunk(chunk, period, max_pixels, **options), chunks
            )

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
    counts = {name: 0 for name in VERDICT_NAMES}
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
    stable = [c.encode() for c in CSV_COLUMNS[:_CSV_STABLE_COLUMNS]]
    return first.rstrip(b"\r\n").split(b",")[:_CSV_STABLE_COLUMNS] == stable


def _print_table(results: Sequence[FileScore], summary: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = [r for r in results if r.db is not None]
    offgrid = any(r.offgrid is not None for r in rows)
    name_width = max((len(r.name) for r in rows), default=4)
    console = Console(
        file=sys.stdout,
        width=None if sys.stdout.isatty() else max(80, name_width + 64 + 24 * offgrid),
        highlight=False,
        markup=False,
        emoji=False,
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("period", justify="right")
    table.add_column("dB", justify="right")
    table.add_column("z", justify="right")
    table.add_column("p-p", justify="right")
    if offgrid:
        table.add_column("off-grid", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    styles = {CLEAN: "green", "faint grid": "yellow", "grid": "bold red"}
    for r in rows:
        assert r.shape is not None and r.db is not None and r.verdict is not None
        channels, height, width = r.shape
        if r.kind == "audio":
            size = f"{width}" + (" stereo" if channels == 2 else f" {channels}ch")
        else:
            size = f"{width}x{height}" + ("" if channels == 3 else " gray")
        cells: list[str | Text] = [
            Text(r.name),  # plain text: markup in a file name is not interpreted
            size,
            "x".join(str(p) for p in r.period or ()),
            f"{r.db:.1f}",
            f"{r.significance:.1f}",
            f"{r.peak_to_peak_levels:.2f}",
        ]
        if r.offgrid is not None:
            peak = r.offgrid
            cells.append(
                f"{peak['period']:.3g}px x{peak['resize_factor']:.3g} z{peak['significance']:.0f}"
            )
        table.add_row(*cells, Text(r.verdict, style=styles[r.verdict]))
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
    if not 1 <= args.workers <= 256:
        raise CheckerscopeError(f"--workers must be between 1 and 256, got {args.workers}")
    if args.max_pixels < 1:
        raise CheckerscopeError(f"--max-pixels must be at least 1, got {args.max_pixels}")
    if not (math.isfinite(args.visible) and args.visible > 0):
        raise CheckerscopeError(
            f"--visible must be a positive number of levels, got {args.visible}"
        )
    if args.fail_above is not None and not math.isfinite(args.fail_above):
        raise CheckerscopeError(
            f"--fail-above must be a finite number of dB, got {args.fail_above}"
        )
    return period


def run(args: argparse.Namespace) -> int:
    from checkerscope.imageio import iter_image_paths

    period = _check_options(args)
    options = {"visible": args.visible, "offgrid": args.offgrid}
    paths = list(iter_image_paths(args.paths))
    if not paths:
        shown = " ".join(display_name(p) for p in args.paths)
        raise CheckerscopeError(f"no image files found in {shown}")
    check_outputs(
        [OutputPath("--csv", args.csv, "score CSV", is_score_csv)],
        inputs=paths,
        force=args.force,
    )
    results, interrupted = _score_with_progress(
        paths, period, args.workers, args.max_pixels, options
    )

    summary = _summary(results)
    if args.csv:
        write_atomic(args.csv, _csv_bytes(results))
    if args.json:
        document: dict[str, Any] = {
            "period": period,
            "files": [r.as_json() for r in results],
            "summary": summary,
            "thresholds": {
                "significance_z": 2.326,
                "faint_grid_levels": args.visible,
                "grid_levels": 3.0 * args.visible,
            },
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
    paths: Sequence[Path],
    period: int | str,
    workers: int,
    max_pixels: int,
    options: dict[str, Any],
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
            return score_files(paths, period, workers, on_result, max_pixels, **options), False
    except KeyboardInterrupt as exc:
        return list(getattr(exc, "partial_results", [])), True
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
