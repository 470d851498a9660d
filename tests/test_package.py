"""The package surface: version, lazy exports, the CLI shell."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


# What each part may import (besides errors, _extras, _files, _progress, the version and
# itself): the
# layering the README describes. A new edge must be added here on purpose.
ALLOWED_IMPORTS = {
    "theory": set(),
    "metrics": set(),
    "nn": {"theory"},
    "functional": {"metrics"},
    "report": set(),
    "imageio": set(),
    "audioio": set(),
    "losses": {"functional"},
    "streaming": {"metrics"},
    "callbacks": {"metrics"},
    "zoo": {"nn", "theory"},
    "auditing": {"theory", "metrics", "nn", "functional", "losses", "report", "imageio"},
    "experiments": {"theory", "metrics", "losses", "zoo", "report", "nn", "imageio"},
}
_SHARED = {"errors", "_extras", "_files", "_progress", "__version__"}


def _imported_parts(part: str) -> set[str]:
    import ast
    from pathlib import Path

    import checkerscope

    root = Path(checkerscope.__file__).parent
    files = sorted((root / part).rglob("*.py")) if (root / part).is_dir() else [root / f"{part}.py"]
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module == "checkerscope":
                    names += [f"checkerscope.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                pieces = name.split(".")
                if pieces[0] == "checkerscope" and len(pieces) > 1:
                    found.add(pieces[1])
    return found - _SHARED - {part}


@pytest.mark.parametrize("part", sorted(ALLOWED_IMPORTS))
def test_each_part_imports_only_the_parts_below_it(part: str) -> None:
    unexpected = _imported_parts(part) - ALLOWED_IMPORTS[part]
    assert not unexpected, f"checkerscope.{part} imports {sorted(unexpected)}"


def test_the_allowed_imports_have_no_cycle() -> None:
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in ALLOWED_IMPORTS.get(start, set())
        )

    assert not [part for part in ALLOWED_IMPORTS if reaches(part, part)]
