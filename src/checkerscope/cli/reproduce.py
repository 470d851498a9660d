"""``checkerscope reproduce``: measure the article's claims, write claims.json and report.html.

A run folder accumulates: ``reproduce --quick --only C5,C11`` after a full run replaces C5
and C11 (each when it finishes) and keeps the eleven others. Every requirement (the extras
the chosen claims need, the loss network, the output folder) is checked before anything
is trained.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkerscope._files import display_name
from checkerscope._progress import Progress, format_duration
from checkerscope.cli._common import is_checkerscope_html, quoted
from checkerscope.errors import CheckerscopeError

EXIT_OK, EXIT_CHECK_FAILED = 0, 1
#: A claim raised or could not run (its entry in claims.json says why).
EXIT_CLAIM_FAILED = 1
MAX_SEED = 2**63 - 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="measure the article's claims C1-C13 (and C14, a penalty); write claims.json, "
        "figures, report.html",
        description=(
            "Run the experiments that measure each claim of 'Deconvolution and Checkerboard "
            "Artifacts' and judge it with a rule fixed in advance. Writes DIR/claims.json "
            "(rewritten after every claim), DIR/figures/*.png and DIR/report.html. Claims "
            "already in DIR and not run again are kept; a claim run again replaces its own "
            "entry when it finishes."
        ),
        epilog="exit status: 0 every claim ran, 1 a claim failed (or --check failed), "
        "2 bad input; 130 interrupted (finished claims are kept)",
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


def check_out_dir(out_dir: Path, *, force: bool) -> bool:
    """Refuse a run folder a run must not write into; ``True`` to start it afresh.

    The folder may be new, empty, or an earlier run's (its ``claims.json`` is kept and
    added to). Without ``force``, a folder whose ``claims.json`` is not one checkerscope
    wrote, or that holds a ``report.html`` or figures but no ``claims.json``, is refused.
    """
    from checkerscope.cli._common import check_writable
    from checkerscope.experiments.report import read_claims_json

    name = quoted(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CheckerscopeError(f"--out {name} exists and is not a folder")
    check_writable(out_dir / "claims.json", "--out")
    if not out_dir.is_dir():
        return False
    try:
        earlier = read_claims_json(out_dir / "claims.json")
    except CheckerscopeError as exc:
        if force:
            return True
        raise CheckerscopeError(f"--out {name}: {exc}; pass --force to replace it") from None
    if earlier is not None or force:
        return False
    report = out_dir / "report.html"
    figures = out_dir / "figures"
    if report.exists() and not is_checkerscope_html(report):
        raise CheckerscopeError(
            f"--out {name} holds a report.html checkerscope did not write; pass --force to "
            "replace it, or choose another folder"
        )
    if figures.is_dir() and any(figures.iterdir()):
        raise CheckerscopeError(
            f"--out {name} holds figures but no claims.json; pass --force to write into it "
            "anyway, or choose another folder"
        )
    return False


class ProgressReporter:
    """Progress of a run on stderr: a bar per claim on a terminal, periodic lines in a log,
    and one line per finished claim either way."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._claims: list[str] = []
        self._current: Progress | None = None

    def begin(self, claim_ids: Sequence[str]) -> None:
        self._claims = list(claim_ids)

    def start(self, claim_id: str) -> None:
        self.close()
        place = f"{self._claims.index(claim_id) + 1}/{len(self._claims)}"
        self._current = Progress(f"{claim_id} ({place})", total=1.0, stream=self._stream)

    def update(self, claim_id: str, fraction: float, message: str) -> None:
        if self._current is not None:
            self._current.report(min(max(fraction, 0.0), 1.0), message)

    def finish(self, claim_id: str, entry: Mapping[str, Any]) -> None:
        if self._current is not None:
            self._current.update(1.0)
        self.close()
        runtime = format_duration(float(entry.get("runtime_s", 0.0)))
        line = f"{claim_id:>4}  {entry['verdict']:<9} {runtime:>10}  {entry.get('title', '')}"
        print(line, file=self._stream, flush=True)

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def _print_table(document: Mapping[str, Any], *, to_stderr: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from checkerscope.experiments.report import headline

    colours = {"agrees": "green", "partly": "yellow", "disagrees": "red"}
    claims = list(document.get("claims", []))
    quick = {c["id"] for c in claims if c.get("quick", document.get("quick"))}
    mode = "quick" if len(quick) == len(claims) else "full" if not quick else "mixed"
    table = Table(
        title=f"checkerscope reproduce ({mode}, seed {document.get('seed')}, "
        f"{document.get('device')}): {document.get('total_runtime_s', 0):.1f} s"
    )
    for column in ("claim", "title", "verdict", "key number", "time"):
        table.add_column(column, justify="right" if column == "time" else "left")
    for entry in claims:
        colour = colours.get(entry["verdict"], "magenta")
        table.add_row(
            entry["id"] + ("" if mode != "mixed" or entry["id"] not in quick else " (quick)"),
            Text(str(entry.get("title", ""))),
            Text(str(entry["verdict"]), style=colour),
            Text(headline(entry)),
            f"{entry.get('runtime_s', 0):.1f} s",
        )
    Console(file=sys.stderr if to_stderr else sys.stdout, width=140).print(table)


def run(args: argparse.Namespace) -> int:
    from checkerscope.experiments import CLAIM_IDS, parse_claim_ids
    from checkerscope.experiments.runner import check_requirements, run_claims

    claim_ids = parse_claim_ids(args.only) if args.only is not None else list(CLAIM_IDS)
    device = _check_device(args.device)
    if not 0 <= args.seed <= MAX_SEED:
        raise CheckerscopeError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    out_dir = Path(args.out)
    fresh = check_out_dir(out_dir, force=args.force)
    check_requirements(claim_ids)

    if args.loss_net is not None:
        from checkerscope.cli._usercode import user_code
        from checkerscope.experiments import c08_style_transfer

        with user_code(f"loading --loss-net {quoted(args.loss_net)}", argv0=args.loss_net):
            c08_style_transfer.set_loss_net(args.loss_net)

    reporter = ProgressReporter()
    try:
        record = run_claims(
            claim_ids,
            quick=args.quick,
            seed=args.seed,
            device=device,
            out_dir=out_dir,
            reporter=reporter,
            keep_earlier=not fresh,
        )
    finally:
        reporter.close()

    if args.json:
        from checkerscope.cli._common import print_json

        print_json(record.document)
    _print_table(record.document, to_stderr=args.json)
    print(
        f"wrote {display_name(out_dir / 'claims.json')} and "
        f"{display_name(out_dir / 'report.html')}",
        file=sys.stderr,
    )
    failed = record.failed()
    for entry in failed:
        summary = (str(entry.get("summary", "")).splitlines() or [""])[0]
        print(
            f"checkerscope reproduce: {entry['id']} {entry['verdict']}: {summary}", file=sys.stderr
        )
    if args.check:
        failures = record.check_failures()
        for line in failures:
            print(f"check failed: {line}", file=sys.stderr)
        if failures:
            return EXIT_CHECK_FAILED
    return EXIT_CLAIM_FAILED if failed else EXIT_OK
