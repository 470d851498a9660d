"""The audit and reproduction reports in a real browser: shared style, offline, no errors.

Both pages are built by other parts of the package with the shared page builder; these
tests open them from ``file://`` with the network off and check what a reader sees.
Screenshots go to ``test-output/reports/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_explorer_browser import CHROMIUM, CHROMIUM_ARGS, Session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian chromium at /usr/bin/chromium (`make browser`)",
    ),
]

READ_PAGE = """() => ({
  text: document.body.innerText,
  hasSharedStyle: !!document.querySelector('header.cs-header .cs-brand')
    && getComputedStyle(document.querySelector('.cs-section')).borderTopStyle === 'solid',
  footer: document.querySelector('footer.cs-footer')?.innerText || '',
  images: [...document.images].map(i => [i.src.slice(0, 22), i.naturalWidth, i.alt]),
  brokenAnchors: [...document.querySelectorAll('a[href^="#"]')]
    .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id)),
  badges: [...document.querySelectorAll('.cs-badge')].map(b => [b.textContent, b.className]),
  scrollWidth: document.documentElement.scrollWidth,
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _figure_png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.imshow(np.outer([2, 1] * 4, [2, 1] * 4), cmap="Blues")
    fig.savefig(path, format="png")
    plt.close(fig)


@pytest.fixture(scope="module")
def reproduction_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from checkerscope.experiments.report import not_run_entry, render_report_html

    out = tmp_path_factory.mktemp("reproduce")
    _figure_png(out / "c2.png")
    common = {"article": "", "method": "overlap counts", "rule": "ratio == 4", "seed": 0}
    claims = [
        {
            **common,
            "id": "C2",
            "title": "2-D squares the unevenness",
            "verdict": "agrees",
            "summary": "k3 s2: 2 : 1 in 1-D, 4 : 1 in 2-D",
            "numbers": {"headline": "4:1 in 2-D", "unevenness": {"1d": 2.0, "2d": 4.0}},
            "figures": ["c2.png"],
            "runtime_s": 0.1,
        },
        {
            **common,
            "id": "C6",
            "title": "learned deconvolutions keep artifacts",
            "verdict": "partly",
            "summary": "k4 s2 learned milder artifacts <b>not</b> none",
            "numbers": {"db": [3.5, 1.25]},
            "figures": [],
            "runtime_s": 2.0,
        },
        {
            **common,
            "id": "C9",
            "title": "strong colours & strong artifacts",
            "verdict": "disagrees",
            "summary": "no trend",
            "numbers": {"slope": -0.01},
            "figures": [],
            "runtime_s": 1.0,
        },
        not_run_entry("C13", "module missing"),
    ]
    document = {
        "quick": True,
        "seed": 0,
        "device": "cpu",
        "torch": "2",
        "numpy": "2",
        "python": "3",
        "total_runtime_s": 3.1,
        "complete": True,
        "claims": claims,
    }
    path = out / "report.html"
    path.write_text(render_report_html(document, out), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def audit_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    import checkerscope as cs

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(4, 4, 3, 2), torch.nn.ReLU(), torch.nn.ConvTranspose2d(4, 3, 3, 2)
    )
    report = cs.audit(model, torch.randn(1, 4, 6, 6), seeds=2, name="TinyDeconv<2>")
    path = tmp_path_factory.mktemp("audit") / "audit.html"
    path.write_text(report.to_html(), encoding="utf-8")
    return path


def _check_page(
    browser: Any, page_file: Path, name: str, width: int, test_output_dir: Path
) -> dict[str, Any]:
    gen = _open_plain(browser, page_file, width)
    session = next(gen)
    try:
        got = session.page.evaluate(READ_PAGE)
        out = test_output_dir / "reports"
        out.mkdir(parents=True, exist_ok=True)
        session.page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
        session.assert_clean()
        assert got["hasSharedStyle"], "the page does not use the shared checkerscope style"
        assert "checkerscope" in got["footer"]
        assert got["brokenAnchors"] == [], got["brokenAnchors"]
        for src, natural_width, alt in got["images"]:
            assert src.startswith("data:image/"), src
            assert natural_width > 0, f"image {alt!r} did not decode"
        # text a reader sees must not contain markup that was escaped twice
        # (the reproduction fixture's summary shows a literal "<b>not</b>" on purpose)
        for raw in ("<a href", "<code>", "</a>", "&lt;", "&gt;", "&amp;", "&quot;"):
            assert raw not in got["text"], (
                f"{name}: visible text contains {raw!r}: HTML passed to html_table as a plain "
                "str is escaped; wrap ready-made HTML cells in checkerscope.report.Markup"
            )
        assert got["scrollWidth"] <= width, f"{name} is wider than the {width} px screen"
        return got
    finally:
        session.page.context.close()


def _open_plain(browser: Any, page_file: Path, width: int) -> Iterator[Session]:
    """Like the explorer's session, without waiting for the explorer's ready flag."""
    context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
    page = context.new_page()
    session = Session(page)

    def guard(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            session.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("request", lambda r: session.requests.append(r.url))
    page.on(
        "console",
        lambda m: session.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: session.page_errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    yield session


@pytest.mark.parametrize("width", [400, 1400])
def test_reproduction_report_in_browser(
    browser: Any, reproduction_page: Path, width: int, test_output_dir: Path
) -> None:
    got = _check_page(browser, reproduction_page, "reproduce", width, test_output_dir)
    verdicts = {text: cls for text, cls in got["badges"]}
    assert "cs-badge-good" in verdicts["agrees"]
    assert "cs-badge-warn" in verdicts["partly"]
    assert "cs-badge-bad" in verdicts["disagrees"]
    assert len(got["images"]) == 1
    assert "strong colours & strong artifacts" in got["text"]
    assert "k4 s2 learned milder artifacts <b>not</b> none" in got["text"]


@pytest.mark.parametrize("width", [400, 1400])
def test_audit_report_in_browser(
    browser: Any, audit_page: Path, width: int, test_output_dir: Path
) -> None:
    got = _check_page(browser, audit_page, "audit", width, test_output_dir)
    assert "Audit: TinyDeconv<2>" in got["text"]
    assert got["badges"], "the audit report shows no verdict badge"
    assert got["images"], "the audit report embeds no figure"
