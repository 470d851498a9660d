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

#: The verdicts, weakest first.
VERDICT_NAMES: tuple[str, ...] = ("clean", "faint grid", "grid")
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
  checkerscope score resized/ --offgrid            also find grids moved by a non-integer resize
  checkerscope score voice.wav                     audio files are scored along time

verdicts: grid = significant (z >= 2.33) and >= 3 grey levels peak-to-peak; faint grid =
significant and >= 1 level (--visible); clean otherwise
exit status: 0 at least one file scored (and no --fail-above hit), 1 a file scored above
--fail-above, 2 nothing could be scored (broken files are listed on stderr)
"""


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

    def as_json(self) -> dict[str, Any]:
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


def score_file(
    path: Path, period: int | str, visible: float = 1.0, offgrid: bool = False
) -> FileScore:
    """Load and score one file; errors become a :class:`FileScore` with ``error`` set."""
    from checkerscope.audioio import is_audio_path, load_audio
    from checkerscope.imageio import load_image
    from checkerscope.metrics import checkerboard_score

    audio = is_audio_path(path)
    try:
        if audio:
            samples, _ = load_audio(path)
            data, dims, value_range = samples, 1, 2.0  # full scale is [-1, 1]
        else:
            data, dims, value_range = load_image(path), 2, 1.0
        result = checkerboard_score(
            data,
            period=period,
            dims=dims,
            value_range=value_range,
            visible=visible,
            offgrid=offgrid,
        )
    except CheckerscopeError as exc:
        message = str(exc)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        return FileScore(path=path, error=message)
    shape = (data.shape[0], 1, data.shape[1]) if audio else tuple(int(n) for n in data.shape)
    assert result.amplitude is not None
    peaks = result.offgrid
    return FileScore(
        path=path,
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        period=tuple(int(p) for p in result.period),
        db=float(result.db[0]),
        channel_db=tuple(float(v) for v in result.channel_db[0]),
        kind="audio" if audio else "image",
        significance=float(result.significance[0]),
        p_value=float(result.p_value[0]),
        rms_levels=float(result.amplitude.rms_levels[0]),
        peak_to_peak_levels=float(result.amplitude.peak_to_peak_levels[0]),
        score_verdict=result.verdict[0],
        notes=result.notes[0],
        offgrid=None
        if peaks is None
        else {
            "frequency": [float(f) for f in peaks.frequency[0]],
            "period": float(peaks.period[0]),
            "original_period": int(peaks.original_period[0]),
            "resize_factor": float(peaks.resize_factor[0]),
            "resize_factor_if_aliased": float(peaks.resize_factor_if_aliased[0]),
            "significance": float(peaks.significance[0]),
            "peak_to_peak_levels": float(peaks.peak_to_peak[0] / value_range * 255.0),
        },
    )


def score_files(
    paths: Sequence[Path],
    period: int | str,
    workers: int = 1,
    on_result: Callable[[FileScore], None] | None = None,
    **options: Any,
) -> list[FileScore]:
    """Score ``paths`` in order, ``workers`` at a time (threads: decoding and FFTs release
    the GIL); ``on_result`` sees each outcome as soon as it is known."""

    def outcomes() -> Iterator[FileScore]:
        if workers <= 1:
            for path in paths:
                yield score_file(path, period, **options)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(lambda path: score_file(path, period, **options), paths)

    results = []
    for outcome in outcomes():
        if on_result is not None:
            on_result(outcome)
        results.append(outcome)
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


def _csv_text(results: Sequence[FileScore]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["path", "height", "width", "channels", "period", "db", "verdict", "error"]
    extra = ["significance", "peak_to_peak_levels", "rms_levels", "notes"]
    writer.writerow(header + extra)
    for r in results:
        if r.error is not None:
            writer.writerow([str(r.path), "", "", "", "", "", "", r.error, "", "", "", ""])
            continue
        assert r.shape is not None and r.db is not None
        period = "x".join(str(p) for p in r.period or ())
        channels, height, width = r.shape
        writer.writerow(
            [str(r.path), height, width, channels, period, f"{r.db:.2f}", r.verdict, ""]
            + [f"{r.significance:.2f}", f"{r.peak_to_peak_levels:.3f}", f"{r.rms_levels:.3f}"]
            + [r.notes]
        )
    return buffer.getvalue()


def _print_table(results: Sequence[FileScore], summary: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = [r for r in results if r.db is not None]
    offgrid = any(r.offgrid is not None for r in rows)
    name_width = max((len(str(r.path)) for r in rows), default=4)
    console = Console(
        file=sys.stdout,
        width=None if sys.stdout.isatty() else max(80, name_width + 64 + 24 * offgrid),
        highlight=False,
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
        cells = [
            str(r.path),
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
        table.add_row(*cells, f"[{styles[r.verdict]}]{r.verdict}[/]")
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
    if not args.visible > 0:
        raise CheckerscopeError(
            f"--visible must be a positive number of levels, got {args.visible}"
        )
    options = {"visible": args.visible, "offgrid": args.offgrid}
    paths = list(iter_image_paths(args.paths))
    if not paths:
        raise CheckerscopeError(f"no image files found in {' '.join(args.paths)}")

    def report_failure(outcome: FileScore) -> None:
        if outcome.error is not None:
            print(f"checkerscope score: skipped {outcome.error}", file=sys.stderr, flush=True)

    if len(paths) >= _PROGRESS_FROM and sys.stderr.isatty():
        results = _score_with_progress(paths, period, args.workers, report_failure, options)
    else:
        results = score_files(paths, period, args.workers, report_failure, **options)

    summary = _summary(results)
    if args.csv:
        write_atomic(args.csv, _csv_text(results))
    if args.json:
        print_json(
            {
                "period": period,
                "files": [r.as_json() for r in results],
                "summary": summary,
                "thresholds": {
                    "significance_z": 2.326,
                    "faint_grid_levels": args.visible,
                    "grid_levels": 3.0 * args.visible,
                },
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
    options: dict[str, Any],
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

        return score_files(paths, period, workers, on_result, **options)
