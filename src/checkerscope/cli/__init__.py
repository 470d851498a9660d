"""The ``checkerscope`` command: one entry point, one subcommand per part of the package.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``run(args) -> int``. This module only parses and dispatches; errors become one
line on stderr and exit status 2.

Before anything imports torch or NumPy, OpenMP is told to wait passively
(``OMP_WAIT_POLICY=PASSIVE`` unless set): spinning threads that wait for work collapse on a
machine whose cores are busy with other processes. Every subcommand has ``--threads N``
(default 1 per worker, or ``OMP_NUM_THREADS``) and ``--force``.
"""

from __future__ import annotations

import os

# must precede the first import of torch or NumPy (their OpenMP runtimes read it once)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from checkerscope import __version__
from checkerscope.errors import CheckerscopeError

# Subcommands in the order `--help` lists them.
SUBCOMMANDS = ("overlap", "score", "audit", "fix", "reproduce", "explore")

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
#: A reader closed our stdout early (``checkerscope ... --json | head -1``): what a shell
#: reports for a process ended by SIGPIPE.
EXIT_BROKEN_PIPE = 141


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2 (argparse's own convention too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="checkerscope",
        description=(
            "Find, measure and remove checkerboard artifacts in networks that generate "
            "images and audio (after Odena, Dumoulin & Olah, Distill 2016)."
        ),
        epilog="Run `checkerscope COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"checkerscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from checkerscope.cli._common import add_common_options

    for name in SUBCOMMANDS:
        if importlib.util.find_spec(f"checkerscope.cli.{name}") is None:
            continue
        importlib.import_module(f"checkerscope.cli.{name}").register(subparsers)
    for subparser in subparsers.choices.values():
        add_common_options(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    from checkerscope.cli._common import configure_threads

    try:
        configure_threads(getattr(args, "threads", None))
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except CheckerscopeError as exc:
        print(f"checkerscope {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("checkerscope: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so in one line unless asked
        if os.environ.get("CHECKERSCOPE_DEBUG"):
            raise
        from checkerscope.cli._usercode import one_line

        print(
            f"checkerscope {args.command}: internal error: {one_line(exc)} "
            "(set CHECKERSCOPE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pytest's capture has no descriptor
        pass
