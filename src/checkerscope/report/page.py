"""The shared page builder: every HTML file checkerscope writes is made with these helpers.

One stylesheet (``assets/checkerscope.css``) is inlined into each page, figures are embedded
as ``data:`` URIs, and nothing is fetched from the network, so a page opens from ``file://``
and a single file can be mailed. The explorer, the audit report and the reproduction report
all use this module, so they look like one product.

API (stable; keyword names are part of the contract):

``html_page(title, body_html, *, subtitle="", extra_head="", scripts=(), nav=()) -> str``
    A complete HTML document: header with the product name, optional navigation bar,
    ``<main>`` holding ``body_html`` (raw HTML, not escaped), footer with the version.
    ``scripts`` are JavaScript *sources* (not URLs), each inlined in its own ``<script>``.
    ``nav`` is a sequence of ``(anchor_id, label)`` pairs linking to sections of the page.
``section(title, body_html, id=None, *, lede="") -> str``
    A ``<section class="cs-section">`` with an ``<h2>``; ``id`` defaults to a slug of title.
``html_table(rows, headers, *, classes=(), caption="") -> str``
    A table; every cell is escaped unless it is :class:`Markup` (e.g. a verdict badge) or
    has an ``__html__`` method. Wrap ready-made HTML (links, ``<code>``) in ``Markup``.
    Numbers are right-aligned and formatted with :func:`format_number`.
``verdict_badge(verdict) -> Markup``
    A coloured pill: "agrees"/"yes"/"clean" green, "partly" amber,
    "disagrees"/"no"/"artifacts" red; anything else grey.
``png_data_uri(data) -> str``
    ``data:image/png;base64,...`` from PNG bytes, a path to a PNG, or a matplotlib Figure.
``figure(data, alt, *, caption="") -> str``
    ``<figure>`` with an embedded ``<img>`` (``data`` as for :func:`png_data_uri`).
``escape(text) -> str``, ``escape_attr(text) -> str``, ``Markup``
    Escaping of text and attribute values; ``Markup`` marks a string as already-safe HTML.
``page_css() -> str``
    The shared stylesheet, for pages that need it elsewhere.

Examples:
    >>> from checkerscope.report import html_page, html_table, section, verdict_badge
    >>> table = html_table([["C1", verdict_badge("agrees")]], ["claim", "verdict"])
    >>> body = section("Results", table)
    >>> page = html_page("Reproduction", body, subtitle="quick run")
    >>> page.startswith("<!DOCTYPE html>") and "cs-badge-good" in page
    True
    >>> "http://" in page or "https://" in page
    False
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from numbers import Integral, Real
from typing import Any

from checkerscope.errors import CheckerscopeError

__all__ = [
    "Markup",
    "escape",
    "escape_attr",
    "figure",
    "format_number",
    "html_page",
    "html_table",
    "page_css",
    "png_data_uri",
    "section",
    "verdict_badge",
]

PRODUCT = "checkerscope"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Markup(str):
    """A string that is already HTML: :func:`html_table` and :func:`escape` pass it through.

    Examples:
        >>> escape(Markup("<b>bold</b>"))
        '<b>bold</b>'
        >>> escape("<b>bold</b>")
        '&lt;b&gt;bold&lt;/b&gt;'
    """

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


def escape(text: Any) -> str:
    """Escape text for an HTML element body (``&``, ``<``, ``>``, quotes).

    :class:`Markup` values are returned unchanged; anything else is converted with ``str``.

    Examples:
        >>> escape('a < b & "c"')
        'a &lt; b &amp; &quot;c&quot;'
    """
    if isinstance(text, Markup):
        return str(text)
    if hasattr(text, "__html__"):  # markupsafe.Markup and friends: already HTML
        return str(text.__html__())
    return html.escape(str(text), quote=True)


def escape_attr(text: Any) -> str:
    """Escape a value for use inside a double- or single-quoted HTML attribute.

    Examples:
        >>> escape_attr("x\\" onload=\\"alert(1)")
        'x&quot; onload=&quot;alert(1)'
    """
    return html.escape(str(text), quote=True)


def format_number(value: Any) -> str:
    """Format a number for a table cell: integers as is, floats to 4 significant digits.

    Examples:
        >>> [format_number(v) for v in (4.0, 1.23456, float("inf"), 7)]
        ['4', '1.235', '∞', '7']
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return str(value)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "section"


@cache
def _asset(name: str) -> str:
    return (
        resources.files("checkerscope.report").joinpath("assets").joinpath(name).read_text("utf-8")
    )


def page_css() -> str:
    """Return the shared stylesheet (the text of ``assets/checkerscope.css``).

    Examples:
        >>> ".cs-section" in page_css()
        True
    """
    return _asset("checkerscope.css")


def _script_tag(source: str) -> str:
    # A literal "</script" inside the source would end the element early.
    safe = re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE)
    return f"<script>\n{safe}\n</script>"


def html_page(
    title: str,
    body_html: str,
    *,
    subtitle: str = "",
    extra_head: str = "",
    scripts: Sequence[str] = (),
    nav: Sequence[tuple[str, str]] = (),
) -> str:
    """Build a complete, self-contained HTML document in the checkerscope style.

    Args:
        title: Page title (escaped); shown in the header and the browser tab.
        body_html: Raw HTML placed inside ``<main>`` (not escaped: build it with the helpers).
        subtitle: Optional line under the title (escaped).
        extra_head: Raw HTML appended to ``<head>`` (e.g. a page-specific ``<style>``).
        scripts: JavaScript sources, each inlined in a ``<script>`` at the end of ``<body>``.
        nav: ``(anchor_id, label)`` pairs for a navigation bar linking to page sections.

    Returns:
        The document as a string, UTF-8 declared, with no external references.

    Examples:
        >>> page = html_page("A & B", "<p>hi</p>", nav=[("one", "One")])
        >>> "<title>A &amp; B · checkerscope</title>" in page
        True
        >>> '<a href="#one">One</a>' in page
        True
    """
    from checkerscope import __version__

    if isinstance(scripts, str):
        raise CheckerscopeError("scripts must be a sequence of JavaScript sources, not one string")
    nav_html = ""
    if nav:
        items = "".join(
            f'<li><a href="#{escape_attr(anchor)}">{escape(label)}</a></li>'
            for anchor, label in nav
        )
        nav_html = (
            '<nav class="cs-nav" aria-label="Sections"><div class="cs-nav-inner">'
            f"<ul>{items}</ul></div></nav>\n"
        )
    sub = f'<p class="cs-subtitle">{escape(subtitle)}</p>' if subtitle else ""
    script_html = "\n".join(_script_tag(s) for s in scripts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{PRODUCT} {escape_attr(__version__)}">
<title>{escape(title)} · {PRODUCT}</title>
<style>
{page_css()}
</style>
{extra_head}
</head>
<body>
<a class="cs-skip" href="#cs-main">Skip to content</a>
<header class="cs-header"><div class="cs-header-inner">
<span class="cs-brand"><span class="cs-brand-mark" aria-hidden="true"></span>{PRODUCT}</span>
<h1>{escape(title)}</h1>{sub}
</div></header>
{nav_html}<main class="cs-main" id="cs-main">
{body_html}
</main>
<footer class="cs-footer"><div class="cs-footer-inner">
Made with {PRODUCT} {escape(__version__)} · after Odena, Dumoulin &amp; Olah,
&ldquo;Deconvolution and Checkerboard Artifacts&rdquo;, Distill 2016.
</div></footer>
{script_html}
</body>
</html>
"""


def section(title: str, body_html: str, id: str | None = None, *, lede: str = "") -> str:
    """Wrap ``body_html`` in a titled ``<section>``.

    Args:
        title: Heading text (escaped).
        body_html: Raw HTML content.
        id: Anchor id for links and ``nav``; defaults to a slug of ``title``.
        lede: Optional introductory paragraph (escaped) under the heading.

    Examples:
        >>> section("Overlap & period", "<p>x</p>")
        '<section class="cs-section" id="overlap-period" aria-labelledby="overlap-period-h">...'
    """
    anchor = id if id is not None else _slug(title)
    lede_html = f'<p class="cs-lede">{escape(lede)}</p>\n' if lede else ""
    return (
        f'<section class="cs-section" id="{escape_attr(anchor)}" '
        f'aria-labelledby="{escape_attr(anchor)}-h">\n'
        f'<h2 id="{escape_attr(anchor)}-h">{escape(title)}</h2>\n'
        f"{lede_html}{body_html}\n</section>\n"
    )


def html_table(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[Any],
    *,
    classes: str | Sequence[str] = (),
    caption: str = "",
) -> str:
    """Render rows as an HTML table; cells are escaped unless they are :class:`Markup`.

    Args:
        rows: Iterable of row sequences (numbers, strings, :class:`Markup`).
        headers: Column headings (escaped unless :class:`Markup`).
        classes: Extra CSS class(es) for the ``<table>`` besides ``cs-table``.
        caption: Optional caption (escaped).

    Examples:
        >>> print(html_table([["<x>", 2.5]], ["name", "value"]))
        <div class="cs-table-wrap"><table class="cs-table">
        <thead><tr><th scope="col">name</th><th scope="col">value</th></tr></thead>
        <tbody>
        <tr><td>&lt;x&gt;</td><td class="cs-num">2.5</td></tr>
        </tbody></table></div>
    """
    extra = [classes] if isinstance(classes, str) else list(classes)
    cls = " ".join(["cs-table", *[c for c in extra if c]])
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body_rows = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, Real) and not isinstance(cell, bool):
                cells.append(f'<td class="cs-num">{escape(format_number(cell))}</td>')
            elif isinstance(cell, Markup) or hasattr(cell, "__html__"):
                cells.append(f"<td>{escape(cell)}</td>")
            else:
                cells.append(f"<td>{escape(format_number(cell))}</td>")
        body_rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "\n".join(body_rows)
    return (
        f'<div class="cs-table-wrap"><table class="{escape_attr(cls)}">{cap}\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


_VERDICT_CLASS = {
    "agrees": "good",
    "agree": "good",
    "yes": "good",
    "clean": "good",
    "pass": "good",
    "partly": "warn",
    "partial": "warn",
    "disagrees": "bad",
    "disagree": "bad",
    "no": "bad",
    "artifacts": "bad",
    "fail": "bad",
    "error": "bad",
    # per-layer verdicts of the audit
    "uneven overlap": "bad",
    "even, can learn artifacts": "warn",
    "artifact-free by construction": "good",
}


def verdict_badge(verdict: str) -> Markup:
    """A coloured badge for a verdict; the text shown is the verdict as given.

    Green: agrees, yes, clean, pass, artifact-free by construction. Amber: partly,
    even, can learn artifacts. Red: disagrees, no, artifacts, fail, error, uneven overlap.
    Anything else (e.g. "not run") is grey.

    Examples:
        >>> verdict_badge("partly")
        '<span class="cs-badge cs-badge-warn" data-verdict="partly">partly</span>'
        >>> verdict_badge("<odd>")
        '<span class="cs-badge cs-badge-neutral" data-verdict="&lt;odd&gt;">&lt;odd&gt;</span>'
    """
    text = str(verdict)
    kind = _VERDICT_CLASS.get(text.strip().lower(), "neutral")
    return Markup(
        f'<span class="cs-badge cs-badge-{kind}" data-verdict="{escape_attr(text)}">'
        f"{escape(text)}</span>"
    )


def png_data_uri(data: bytes | str | os.PathLike[str] | Any, *, dpi: int = 110) -> str:
    """Return a ``data:image/png;base64,...`` URI for an ``<img src>``.

    Args:
        data: PNG bytes, a path to a PNG file, or a matplotlib ``Figure`` (saved as PNG).
        dpi: Resolution used when ``data`` is a Figure.

    Raises:
        CheckerscopeError: if the bytes are not a PNG or the file cannot be read.

    Examples:
        >>> png_data_uri(b"\\x89PNG\\r\\n\\x1a\\n" + b"rest")[:30]
        'data:image/png;base64,iVBORw0K'
        >>> png_data_uri(b"GIF89a")
        Traceback (most recent call last):
        ...
        checkerscope.errors.CheckerscopeError: expected PNG data (...), got bytes starting b'GIF89a'
    """
    if hasattr(data, "savefig"):
        buf = io.BytesIO()
        data.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        raw = buf.getvalue()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        try:
            with open(data, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise CheckerscopeError(f"cannot read PNG file {os.fspath(data)!r}: {exc}") from exc
    else:
        raise CheckerscopeError(
            f"png_data_uri expects PNG bytes, a path or a matplotlib Figure, got {type(data)!r}"
        )
    if not raw.startswith(_PNG_MAGIC):
        raise CheckerscopeError(
            f"expected PNG data (file signature \\x89PNG), got bytes starting {raw[:8]!r}"
        )
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def figure(data: bytes | str | os.PathLike[str] | Any, alt: str, *, caption: str = "") -> str:
    """An embedded PNG figure: ``<figure><img src="data:..."><figcaption>``.

    Examples:
        >>> figure(b"\\x89PNG\\r\\n\\x1a\\nxx", "a <plot>", caption="k3 s2")[:62]
        '<figure class="cs-figure"><img alt="a &lt;plot&gt;" src="data:'
    """
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure class="cs-figure"><img alt="{escape_attr(alt)}" '
        f'src="{png_data_uri(data)}">{cap}</figure>'
    )
