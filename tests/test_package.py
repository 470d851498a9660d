"""The package surface: version, lazy exports, the CLI shell."""

from __future__ import annotations

import subprocess
import sys

import checkerscope as cs
from checkerscope.cli import main


def test_version_is_exposed() -> None:
    assert cs.__version__.count(".") == 2


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        _ = cs.no_such_name  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_cli_version(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert cs.__version__ in capsys.readouterr().out


def test_cli_without_command_exits_2() -> None:
    assert main([]) == 2


def test_cli_unknown_option_is_one_line_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "checkerscope", "--bogus"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
