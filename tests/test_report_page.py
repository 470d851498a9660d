"""The shared page builder: self-contained output, escaping, figures, badges."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from checkerscope.errors import CheckerscopeError
from checkerscope.report import (
    Markup,
    escape,
    figure,
    html_page,
    html_table,
    png_data_uri,
    section,
    verdict_badge,
)

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


class _Collector(HTMLParser):
    """Collects every URL-bearing attribute and checks that tags balance."""

    VOID = {"meta", "link", "img", "br", "hr", "input", "source", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "action", "srcset", "poster", "data"} and value:
                self.urls.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    return parser


def test_page_is_self_contained_and_well_formed() -> None:
    body = section(
        "Figures",
        figure(PNG_1x1, "one pixel", caption="tiny")
        + html_table([["a", 1.5], ["b", float("inf")]], ["name", "value"]),
        lede="Numbers & pictures.",
    )
    page = html_page(
        "Report <1>",
        body,
        subtitle="sub & title",
        scripts=["window.x = 1 < 2;"],
        nav=[("figures", "Figures")],
    )
    parsed = _parse(page)
    assert parsed.errors == []
    assert parsed.stack == []
    # every URL is a fragment link or an inline data URI: nothing goes to the network
    assert parsed.urls, "expected the nav link and the figure"
    for url in parsed.urls:
        assert url.startswith(("#", "data:")), url
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    # header with product name, footer with version, shared CSS inlined
    from checkerscope import __version__

    assert '<span class="cs-brand">' in page
    assert f"checkerscope {__version__}" in page.split("<footer", 1)[1]
    assert ".cs-section" in page.split("</style>", 1)[0]
    assert "<title>Report &lt;1&gt; · checkerscope</title>" in page
    assert "sub &amp; title" in page
    assert "window.x = 1 < 2;" in page  # scripts are inlined verbatim


def test_escaping_in_tables_headings_and_badges() -> None:
    evil = '<script>alert("x")</script>'
    table = html_table([[evil, Markup("<b>ok</b>")]], [evil, "raw"])
    assert "<script>" not in table
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in table
    assert "<td><b>ok</b></td>" in table
    assert "<script>" not in section(evil, "")
    assert "<script>" not in verdict_badge(evil)
    assert escape("a&b") == "a&amp;b"
    assert escape(Markup("<i>x</i>")) == "<i>x</i>"

    class Safe:  # the markupsafe protocol: an object that renders itself as HTML
        def __html__(self) -> str:
            return "<em>safe</em>"

    assert "<td><em>safe</em></td>" in html_table([[Safe()]], ["h"])


def test_script_source_cannot_close_its_element() -> None:
    page = html_page("t", "", scripts=['var s = "</script><img src=x>";'])
    assert page.count("</script>") == 1
    assert "<\\/script>" in page


def test_scripts_must_be_a_sequence_not_a_string() -> None:
    with pytest.raises(CheckerscopeError):
        html_page("t", "", scripts="alert(1)")


@pytest.mark.parametrize(
    ("verdict", "kind"),
    [
        ("agrees", "good"),
        ("clean", "good"),
        ("partly", "warn"),
        ("disagrees", "bad"),
        ("artifacts", "bad"),
        ("Yes", "good"),
        ("no", "bad"),
        ("maybe", "neutral"),
        ("not run", "neutral"),
        ("error", "bad"),
        ("uneven overlap", "bad"),
        ("even, can learn artifacts", "warn"),
        ("artifact-free by construction", "good"),
    ],
)
def test_verdict_badge_classes(verdict: str, kind: str) -> None:
    badge = verdict_badge(verdict)
    assert isinstance(badge, Markup)
    assert f"cs-badge-{kind}" in badge
    assert f">{verdict}<" in badge


def test_table_numbers_are_formatted_and_right_aligned() -> None:
    table = html_table([[1, 2.0, 1 / 3, float("inf"), True]], list("abcde"))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table)
    assert cells == ["1", "2", "0.3333", "∞", "yes"]
    assert table.count('class="cs-num"') == 4


def test_png_data_uri_from_bytes_path_and_figure(tmp_path) -> None:
    import base64

    uri = png_data_uri(PNG_1x1)
    assert base64.b64decode(uri.split(",", 1)[1]) == PNG_1x1
    path = tmp_path / "x.png"
    path.write_bytes(PNG_1x1)
    assert png_data_uri(path) == uri
    assert png_data_uri(str(path)) == uri

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    try:
        fig_uri = png_data_uri(fig)
    finally:
        plt.close(fig)
    assert base64.b64decode(fig_uri.split(",", 1)[1]).startswith(b"\x89PNG")

    with pytest.raises(CheckerscopeError, match="expected PNG"):
        png_data_uri(b"not a png")
    with pytest.raises(CheckerscopeError, match="cannot read"):
        png_data_uri(tmp_path / "missing.png")
    with pytest.raises(CheckerscopeError):
        png_data_uri(12345)
