"""``checkerscope reproduce``: measure the article's claims, write claims.json and report.html."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkerscope.errors import CheckerscopeError

EXIT_OK, EXIT_CHECK_FAILED = 0, 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="measure the article's claims C1-C13; write claims.json, figures, report.html",
        description=(
            "Run the experiments that measure each claim of 'Deconvolution and Checkerboard "
            "Artifacts' and judge it with a rule fixed in advance. Writes DIR/claims.json "
            "(rewritten after every claim), DIR/figures/*.png and DIR/report.html."
        ),
    )
    p.add_argument("--quick", action="store_true", help="small budgets (all 13 in minutes)")
    p.add_argument(
        "--only", metavar="CLAIMS", help="comma-separated claims to run, e.g. C5,C11 (default all)"
    )
    p.add_argument("--out", metavar="DIR", default="out", help="output folder (default: out)")
    p.add_argument("--seed", type=int, default=0, help="seed of every experiment (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument(
        "--loss-net",
        metavar="PATH",
        help="C8's loss network: a torch-saved nn.Module mapping images to a feature map or a "
        "list of them (e.g. a wrapped VGG-16 you have locally); loading it runs its code. "
        "Default: fixed random conv features (nothing is downloaded)",
    )
    p.add_argument("--json", action="store_true", help="print claims.json on stdout")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless C1-C5 and C11 (those run) agree and no experiment failed",
    )
    p.set_defaults(func=run)


def _check_device(device: str) -> str:
    device = device.strip().lower()
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CheckerscopeError(f"--device {device}: CUDA is not available on this machine")
        return device
    raise CheckerscopeError(f"--device must be cpu or cuda, got {device!r}")


class RichReporter:
    """One progress bar per experiment, drawn on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.fields[claim]:>4}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}

    def begin(self, claim_ids: Sequence[str]) -> None:
        self._progress.start()
        for claim_id in claim_ids:
            self._tasks[claim_id] = self._progress.add_task(
                "waiting", total=1.0, claim=claim_id, start=False
            )

    def start(self, claim_id: str) -> None:
        self._progress.start_task(self._tasks[claim_id])
        self._progress.update(self._tasks[claim_id], description="running")

    def update(self, claim_id: str, fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self._progress.update(self._tasks[claim_id], completed=fraction, description=message)

    def finish(self, claim_id: str, entry: Mapping[str, Any]) -> None:
        self._progress.update(
            self._tasks[claim_id], completed=1.0, description=f"[bold]{entry['verdict']}[/]"
        )
        self._progress.stop_task(self._tasks[claim_id])

    def close(self) -> None:
        self._progress.stop()


def _print_table(document: Mapping[str, Any], *, to_stderr: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from checkerscope.experiments.report import headline

    colours = {"agrees": "green", "partly": "yellow", "disagrees": "red"}
    mode = "quick" if document.get("quick") else "full"
    table = Table(
        title=f"checkerscope reproduce ({mode}, seed {document.get('seed')}, "
        f"{document.get('device')}): {document.get('total_runtime_s', 0):.1f} s"
    )
    for column in ("claim", "title", "verdict", "key number", "time"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for entry in document.get("claims", []):
        colour = colours.get(entry["verdict"], "magenta")
        table.add_row(
            entry["id"],
            entry.get("title", ""),
            f"[{colour}]{entry['verdict']}[/]",
            headline(entry),
            f"{entry.get('runtime_s', 0):.1f} s",
        )
    Console(file=sys.stderr if to_stderr else sys.stdout, width=140).print(table)


def run(args: argparse.Namespace) -> int:
    from checkerscope.experiments import CLAIM_IDS, parse_claim_ids
    from checkerscope.experiments.runner import run_claims

    claim_ids = parse_claim_ids(args.only) if args.only is not None else list(CLAIM_IDS)
    device = _check_device(args.device)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CheckerscopeError(f"--out {args.out!r} exists and is not a folder")
    if args.seed < 0:
        raise CheckerscopeError(f"--seed must be >= 0, got {args.seed}")

    if args.loss_net is not None:
        from checkerscope.experiments import c08_style_transfer

        c08_style_transfer.set_loss_net(args.loss_net)

    import torch

    # More threads than cores only slows the small convolutions down.
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    reporter = RichReporter()
    try:
        record = run_claims(
            claim_ids,
            quick=args.quick,
            seed=args.seed,
            device=device,
            out_dir=out_dir,
            reporter=reporter,
        )
    finally:
        reporter.close()

    if args.json:
        from checkerscope.cli._common import print_json

        print_json(record.document)
    _print_table(record.document, to_stderr=args.json)
    print(
        f"wrote {out_dir / 'claims.json'} and {out_dir / 'report.html'}",
        file=sys.stderr,
    )
    if args.check:
        failures = record.check_failures()
        for line in failures:
            print(f"check failed: {line}", file=sys.stderr)
        return EXIT_CHECK_FAILED if failures else EXIT_OK
    return EXIT_OK
