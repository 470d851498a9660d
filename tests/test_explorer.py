"""The explorer page without a browser: self-contained HTML, wiring, and `checkerscope explore`."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from checkerscope.cli import main
from checkerscope.cli.explore import HOST, make_server
from checkerscope.report import explorer_html
from checkerscope.report.page import _asset

SVG_NS = "http://www.w3.org/2000/svg"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.ranges: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.scripts_with_src = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for name in ("src", "href", "action", "poster", "srcset"):
            if a.get(name):
                self.urls.append(a[name])
        if tag == "script" and "src" in a:
            self.scripts_with_src += 1
        if tag == "input" and a.get("type") == "range":
            self.ranges.append(a)
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])


@pytest.fixture(scope="module")
def page() -> str:
    return explorer_html()


@pytest.fixture(scope="module")
def parsed(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def test_page_is_self_contained(page: str, parsed: _Elements) -> None:
    assert parsed.scripts_with_src == 0
    assert all(url.startswith(("#", "data:")) for url in parsed.urls), parsed.urls
    # the only absolute URL in the file is the SVG namespace name, which is never fetched
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {SVG_NS}
    for fetcher in ("fetch(", "XMLHttpRequest", "import(", "@import", "<link", "<iframe"):
        assert fetcher not in page, fetcher
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_sliders_cover_the_required_ranges_and_are_labelled(parsed: _Elements) -> None:
    ranges = {r["id"]: (int(r["min"]), int(r["max"]), int(r["value"])) for r in parsed.ranges}
    for prefix in ("d1", "d2"):
        assert ranges[f"{prefix}-kernel"][:2] == (1, 6)
        assert ranges[f"{prefix}-stride"][:2] == (1, 6)
    assert ranges["d2-kernel"][2] == 3 and ranges["d2-stride"][2] == 2  # the article's k3 s2
    assert ranges["st-count"][:2] == (1, 4)
    for i in range(1, 5):
        assert ranges[f"st-kernel-{i}"][:2] == (1, 6)
        assert ranges[f"st-factor-{i}"][:2] == (1, 4)
    assert set(ranges) <= parsed.label_for, set(ranges) - parsed.label_for
    for ident in ranges:
        assert f"{ident}-value" in parsed.ids  # the live <output> next to each slider


def test_every_static_id_the_script_uses_exists(parsed: _Elements) -> None:
    script = _asset("explorer.js")
    used = set(re.findall(r'\$\("([a-z0-9-]+)"\)', script))
    used |= set(re.findall(r'intValue\("([a-z0-9-]+)"\)', script))
    used |= set(re.findall(r'setStat\("([a-z0-9-]+)"', script))
    assert len(used) > 15
    assert used <= parsed.ids, used - parsed.ids
    for dynamic in ("st-layer-", "st-method-", "st-kernel-", "st-factor-"):
        assert all(f"{dynamic}{i}" in parsed.ids for i in range(1, 5))


def test_explore_no_browser_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url))
    out = tmp_path / "sub" / "explorer.html"
    assert main(["explore", "--no-browser", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert out.read_text(encoding="utf-8") == explorer_html()
    assert opened == []


def test_explore_defaults_json_directory_and_browser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url))
    monkeypatch.chdir(tmp_path)
    assert main(["explore"]) == 0
    default = tmp_path / "checkerscope-explorer.html"
    assert default.exists()
    assert opened == [default.resolve().as_uri()]
    capsys.readouterr()
    # a directory as --out gets the default file name; --json prints only JSON
    assert main(["explore", "--no-browser", "--json", "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(default.resolve())
    assert result["uri"].startswith("file://") and result["bytes"] > 10_000


def test_explore_reports_an_unwritable_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["explore", "--no-browser", "--out", str(blocker / "page.html")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_server_binds_loopback_and_serves_only_the_page() -> None:
    server = make_server("<p>explorer</p>", port=0)
    host, port = server.server_address[:2]
    assert host == HOST == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.read() == b"<p>explorer</p>"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../etc/passwd", timeout=5)
        assert info.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_explore_serve_prints_a_loopback_url_and_stops_on_ctrl_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server

    bound: list[tuple[str, int]] = []

    def interrupted(self: http.server.HTTPServer, *args: object, **kwargs: object) -> None:
        bound.append(self.server_address[:2])
        raise KeyboardInterrupt

    monkeypatch.setattr(http.server.ThreadingHTTPServer, "serve_forever", interrupted)
    out = tmp_path / "e.html"
    code = main(["explore", "--serve", "--port", "0", "--no-browser", "--json", "--out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert bound and bound[0][0] == "127.0.0.1"
    assert result["url"] == f"http://127.0.0.1:{bound[0][1]}/"
    assert out.exists()


def test_explore_rejects_a_bad_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = str(tmp_path / "e.html")
    assert main(["explore", "--serve", "--port", "70000", "--no-browser", "--out", out]) == 2
    assert "--port" in capsys.readouterr().err


def test_explore_command_in_a_fresh_interpreter(tmp_path: Path) -> None:
    """The real command line, as a user types it (a new process, nothing pre-imported)."""
    import subprocess
    import sys

    out = tmp_path / "explorer.html"
    script = Path(sys.executable).with_name("checkerscope")  # the installed entry point
    command = [str(script)] if script.exists() else [sys.executable, "-m", "checkerscope"]
    proc = subprocess.run(
        [*command, "explore", "--no-browser", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out.resolve())
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_import_stays_light() -> None:
    """`report` only renders: importing it (and building the explorer) loads no numpy/torch."""
    import subprocess
    import sys

    code = (
        "import sys, checkerscope.report as r; r.explorer_html(); "
        "print(sorted(m for m in ('numpy', 'torch', 'matplotlib') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
