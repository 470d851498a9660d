"""HTML pages: the shared page builder, the interactive explorer, report rendering.

``report`` only renders results it is given. The page builder (:mod:`.page`) is what the
audit and reproduction reports use, so every page checkerscope writes shares one style::

    from checkerscope.report import html_page, section, html_table, verdict_badge, figure

    body = section("Claims", html_table(rows, ["claim", "measured", "verdict"]))
    html = html_page("Reproduction", body, subtitle="quick run", nav=[("claims", "Claims")])

The explorer page is :func:`explorer_html` (written by ``checkerscope explore``).
"""

from __future__ import annotations

from typing import Any

from checkerscope.report.page import (
    Markup,
    escape,
    escape_attr,
    figure,
    format_number,
    html_page,
    html_table,
    page_css,
    png_data_uri,
    section,
    verdict_badge,
)

__all__ = [
    "Markup",
    "escape",
    "escape_attr",
    "explorer_html",
    "figure",
    "format_number",
    "html_page",
    "html_table",
    "page_css",
    "png_data_uri",
    "section",
    "verdict_badge",
]


def __getattr__(name: str) -> Any:
    if name == "explorer_html":
        from checkerscope.report.explorer import explorer_html

        return explorer_html
    raise AttributeError(f"module 'checkerscope.report' has no attribute {name!r}")
