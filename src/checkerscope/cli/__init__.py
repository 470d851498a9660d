"""The ``checkerscope`` command: one entry point, one subcommand per part of the package.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``run(args) -> int``. This module only parses and dispatches; errors become one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from checkerscope import __version__
from checkerscope.errors import CheckerscopeError

# Subcommands in the order `--help` lists them.
SUBCOMMANDS = ("overlap", "score", "audit", "fix", "reproduce", "explore")

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2


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
    for name in SUBCOMMANDS:
        if importlib.util.find_spec(f"checkerscope.cli.{name}") is None:
            continue
        importlib.import_module(f"checkerscope.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except CheckerscopeError as exc:
        print(f"checkerscope {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("checkerscope: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so in one line unless asked
        if os.environ.get("CHECKERSCOPE_DEBUG"):
            raise
        print(
            f"checkerscope {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set CHECKERSCOPE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
