"""Run the ``checkerscope`` command in-process, for the CLI tests."""

from __future__ import annotations

import pytest

from checkerscope.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``checkerscope ARGV`` (arguments made strings)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
