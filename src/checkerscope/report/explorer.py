"""The interactive explorer: one self-contained HTML page about uneven overlap.

The page has four panels (1-D paint, 2-D heat map, stacks of upsampling layers, the
matrices of the upsampling methods) and computes every number in the browser with a small
JavaScript port of :mod:`checkerscope.theory` (``assets/overlap.js``, exposed as
``window.checkerscope``); the test suite drives the page in Chromium and checks the numbers
it shows against the Python engine. Nothing is fetched from the network.

Stable hooks for tests and for people reading the DOM: every control has an id
(``d1-kernel``, ``d2-padding``, ``st-count``, ``st-method-1`` ...) and every result panel
carries its numbers as JSON in ``data-*`` attributes (``data-full``, ``data-pattern``,
``data-period``, ``data-unevenness``, ``data-layers``).

Examples:
    >>> page = explorer_html()
    >>> 'id="d1-kernel"' in page and "window.checkerscope" in page
    True
"""

from __future__ import annotations

from checkerscope.report.page import _asset, escape, escape_attr, html_page, section

__all__ = ["METHODS", "explorer_html"]

#: Upsampling methods of the stack panel: key -> label shown in the menu.
METHODS: dict[str, str] = {
    "deconv": "deconvolution",
    "nearest": "nearest resize + conv",
    "bilinear": "bilinear resize + conv",
    "subpixel": "sub-pixel (conv + shuffle)",
}

_STACK_DEFAULTS = (("deconv", 3, 2), ("deconv", 3, 2), ("nearest", 3, 2), ("subpixel", 3, 2))

_PAD_HINT = "at most kernel − 1, and the output must keep one pixel"

_NAV = (
    ("paint-1d", "1-D paint"),
    ("checkerboard-2d", "2-D checkerboard"),
    ("stacks", "Stacks"),
    ("matrices", "Matrices"),
    ("reading-a-score", "Reading a score"),
    ("definitions", "How it is computed"),
)


def _slider(
    ident: str, label: str, lo: int, hi: int, value: int, *, unit: str = "", hint: str = ""
) -> str:
    """A labelled native range input with a live <output> showing its value."""
    hint_id = f"{ident}-hint"
    hint_html = f'<small id="{hint_id}" class="cs-hint">{escape(hint)}</small>' if hint else ""
    described = f' aria-describedby="{hint_id}"' if hint else ""
    return (
        f'<div class="cs-control">'
        f'<label for="{escape_attr(ident)}">{escape(label)} '
        f'<output id="{escape_attr(ident)}-value" for="{escape_attr(ident)}">{value}</output>'
        f"{escape(unit)}</label>"
        f'<input type="range" id="{escape_attr(ident)}" name="{escape_attr(ident)}" '
        f'min="{lo}" max="{hi}" step="1" value="{value}"{described}>'
        f"{hint_html}</div>"
    )


def _stat(label: str, ident: str, *, big: bool = False) -> str:
    """A labelled number; the big ones are unevenness ratios, with a note for gaps."""
    cls = "cs-stat cs-stat-big" if big else "cs-stat"
    gap = (
        f' <small class="cs-gap" id="{ident}-gap" hidden>(some outputs get no paint)</small>'
        if big
        else ""
    )
    return f'<span class="{cls}">{escape(label)} <b id="{ident}">…</b>{gap}</span>'


def _panel_1d() -> str:
    controls = "".join(
        [
            _slider("d1-kernel", "Kernel size", 1, 6, 3),
            _slider("d1-stride", "Stride", 1, 6, 2),
            _slider("d1-input", "Input cells", 2, 8, 6),
        ]
    )
    stats = "".join(
        [
            _stat("Steady state (one period):", "d1-pattern"),
            _stat("period", "d1-period"),
            _stat("unevenness (max : min)", "d1-unevenness", big=True),
        ]
    )
    body = f"""
<p>A transposed convolution lets every input cell (top row) <em>paint</em> a window of
<code>kernel</code> output cells (bottom row); consecutive windows start <code>stride</code>
cells apart. Where windows overlap, paint piles up. The number under each output cell counts
the windows that reach it: the coverage. Away from the two ends the counts repeat with the
stride; that repeating part is the <em>steady state</em>, and its largest count divided by
its smallest is the <em>unevenness</em>. It is 1 exactly when the stride divides the kernel
size. The two ends are thinner because no window starts outside the input.</p>
<div class="cs-controls" role="group" aria-label="1-D deconvolution settings">{controls}</div>
<div class="cs-figbox" id="d1-figure" role="img" aria-label="1-D coverage diagram"></div>
<div class="cs-stats" id="d1-stats" aria-live="polite">{stats}</div>
<p class="cs-note" id="d1-note"></p>
<p class="cs-see">The same layer on both axes of an image: <a href="#checkerboard-2d">2-D
checkerboard</a>. Several layers in a row: <a href="#stacks">stacks</a>.</p>"""
    return section(
        "1-D: each input paints a window of the output",
        body,
        "paint-1d",
        lede="Move the sliders (arrow keys work too) and watch where the paint piles up.",
    )


def _panel_2d() -> str:
    controls = "".join(
        [
            _slider("d2-kernel", "Kernel size", 1, 6, 3),
            _slider("d2-stride", "Stride", 1, 6, 2),
            _slider(
                "d2-padding",
                "Padding",
                0,
                2,
                0,
                hint="at most kernel − 1, and the output must keep one pixel",
            ),
            _slider("d2-input", "Input side (square)", 2, 6, 4),
        ]
    )
    stats = "".join(
        [
            _stat("unevenness", "d2-unevenness", big=True),
            _stat("period", "d2-period"),
            _stat("output size", "d2-shape"),
        ]
    )
    body = f"""
<p>An image layer paints square windows. Its coverage is the product of the two 1-D
coverages, one per axis, so the steady-state ratio is squared: kernel 3 with stride 2 gives
2&nbsp;:&nbsp;1 along a line and 4&nbsp;:&nbsp;1 on the plane — one bright cell, two medium,
one faint in every 2&nbsp;×&nbsp;2 block, the checkerboard. Padding crops the border off the
output and shifts which phase lands on the first pixel; it does not change the steady
state's values.</p>
<div class="cs-controls" role="group" aria-label="2-D deconvolution settings">{controls}</div>
<div class="cs-twofig">
<figure class="cs-figbox" id="d2-figure"><div id="d2-map" role="img"
 aria-label="2-D coverage heat map"></div>
<figcaption>Coverage of the whole output for a small square input, borders included.
Darker means more paint.</figcaption></figure>
<figure class="cs-figbox" id="d2-tile-figure"><div id="d2-tile" role="img"
 aria-label="one period of the steady-state pattern"></div>
<figcaption>One period of the steady state, far from the border.</figcaption></figure>
</div>
<div class="cs-stats" id="d2-stats" aria-live="polite">{stats}</div>
<p class="cs-error" id="d2-error" role="alert" hidden></p>
<p class="cs-see">Back to <a href="#paint-1d">1-D paint</a>; what happens with several
layers: <a href="#stacks">stacks</a>.</p>"""
    return section(
        "2-D: two uneven axes make a checkerboard",
        body,
        "checkerboard-2d",
        lede="Kernel 3, stride 2 is the article's example: one pixel in four gets four times "
        "the paint of its faintest neighbour.",
    )


def _layer_row(index: int, method: str, kernel: int, factor: int) -> str:
    options = "".join(
        f'<option value="{key}"{" selected" if key == method else ""}>{escape(label)}</option>'
        for key, label in METHODS.items()
    )
    return (
        f'<fieldset class="cs-layer" id="st-layer-{index}" data-layer="{index}">'
        f"<legend>Layer {index}</legend>"
        f'<div class="cs-control"><label for="st-method-{index}">Method</label>'
        f'<select id="st-method-{index}" name="st-method-{index}">{options}</select></div>'
        + _slider(f"st-kernel-{index}", "Kernel", 1, 6, kernel)
        + _slider(f"st-factor-{index}", "Factor (stride / scale)", 1, 4, factor)
        + "</fieldset>"
    )


def _panel_stack() -> str:
    rows = "".join(
        _layer_row(i + 1, method, kernel, factor)
        for i, (method, kernel, factor) in enumerate(_STACK_DEFAULTS)
    )
    stats = "".join(
        [
            _stat("period", "st-period"),
            _stat("structural period", "st-structural"),
            _stat("unevenness 1-D", "st-uneven-1d", big=True),
            _stat("unevenness 2-D", "st-uneven-2d", big=True),
        ]
    )
    body = f"""
<p>Generators upsample several times in a row. Each layer below multiplies the resolution by
its factor; the patterns of successive layers multiply into one another, so a stack of
uneven deconvolutions leaves a pattern whose period is the product of the strides —
artifacts at several scales at once. Swap a layer's method and see its share disappear:
a resize followed by a convolution, or a sub-pixel convolution, covers every output the
same number of times. A last deconvolution with factor 1 smooths the pattern but does not
always remove it.</p>
<div class="cs-controls" role="group" aria-label="stack size">
{_slider("st-count", "Number of layers", 1, 4, 2)}
{_slider("st-input", "Input cells (1-D map)", 2, 8, 4)}
</div>
<div class="cs-layers" id="st-layers">{rows}</div>
<p>Python: <code id="st-python" class="cs-code"></code></p>
<div class="cs-stats" id="st-stats" aria-live="polite">{stats}</div>
<p class="cs-error" id="st-error" role="alert" hidden></p>
<div class="cs-twofig">
<figure class="cs-figbox" id="st-bars-figure"><div id="st-bars" role="img"
 aria-label="steady-state pattern, one period"></div>
<figcaption>One period of the compounded 1-D pattern: <span id="st-pattern"></span>
</figcaption></figure>
<figure class="cs-figbox" id="st-heat-figure"><canvas id="st-heat" width="240" height="240"
 role="img" aria-label="2-D pattern, two periods each way"></canvas>
<figcaption>The 2-D pattern, two periods each way.</figcaption></figure>
</div>
<figure class="cs-figbox" id="st-strip-figure"><div id="st-strip" role="img"
 aria-label="whole 1-D output for the chosen input"></div>
<figcaption>The whole 1-D output for the chosen number of input cells, borders included.
</figcaption></figure>
<div id="st-table"></div>
<p class="cs-see">The single-layer view: <a href="#paint-1d">1-D paint</a>. Why resize-conv is
even: <a href="#matrices">the matrices</a>.</p>"""
    return section(
        "Stacks: patterns compound",
        body,
        "stacks",
        lede="Up to four upsampling layers, each with its own method, kernel and factor.",
    )


def _panel_matrices() -> str:
    body = """
<p>Every method here is linear, so each one is a matrix from 4 input samples to 8 output
samples. Each grid below is such a matrix: a row per output, a column per input. A cell
names the kernel weights that carry that input to that output (<code>a</code>,
<code>b</code>, <code>c</code>, <code>d</code> are the taps of one kernel). The shading and
the <b>Σ</b> column use every weight equal to 1; Σ is then the coverage of that output, the
same count as in the panels above.</p>
<p>In the deconvolutions a row holds either one weight or two: alternate outputs are made
from different numbers of terms, which is the uneven overlap. After a nearest resize, each
row sums all three taps (<code>a</code> and <code>b+c</code>, or <code>a+b</code> and
<code>c</code>): the weights are tied so that every output gets the same total — the
structure itself resists a frequency-2 pattern. Bilinear resize spreads the taps with
weights ¼ and ¾ and ties them the same way. Sub-pixel convolution has a separate kernel per
output phase (subscripts 0 and 1): even coverage, but nothing ties the two phases, so
learned weights can still differ between them.</p>
<div class="cs-matrices" id="matrices-grid"></div>
<p class="cs-see">See the same counts as paint: <a href="#paint-1d">1-D paint</a>.</p>"""
    return section(
        "Matrices: upsampling as a linear operator",
        body,
        "matrices",
        lede="Input of 4 samples, output of 8; borders use zero padding.",
    )


def _swatch(x: int, y: int, levels: float, label: str) -> str:
    """An 8 x 8 patch of mid-grey with a checkerboard of ``levels`` grey levels peak-to-peak."""
    cells = []
    for row in range(8):
        for col in range(8):
            sign = 1 if (row + col) % 2 else -1
            grey = round(128 + sign * levels / 2)
            cells.append(
                f'<rect x="{x + col * 10}" y="{y + row * 10}" width="10" height="10" '
                f'fill="rgb({grey},{grey},{grey})"/>'
            )
    caption = f'<text x="{x + 40}" y="{y + 98}" text-anchor="middle">{escape(label)}</text>'
    return "".join(cells) + caption


def _score_picture() -> str:
    """The three numbers as a picture: swatches for amplitude, bars for dB and significance."""
    swatches = "".join(
        _swatch(10 + 100 * i, 10, levels, label)
        for i, (levels, label) in enumerate(
            ((0.6, "0.6 levels: clean"), (2.0, "2 levels: faint"), (8.0, "8 levels: grid"))
        )
    )
    # neighbour energies around one harmonic bin (a fixed draw of unit exponentials)
    neighbours = (0.4, 1.3, 0.7, 2.1, 0.2, 0.9, 1.6, 0.5, 1.1, 0.3, 0.8, 1.9,
                  0.6, 1.2, 0.4, 2.6, 1.0, 0.7, 0.1, 1.4, 0.9, 0.5, 1.7, 0.8)  # fmt: skip
    harmonic = 9.0
    base, scale, left = 200, 14, 330
    bars = []
    for i, energy in enumerate(neighbours):
        x = left + i * 9 + (12 if i >= 12 else 0)
        bars.append(
            f'<rect x="{x}" y="{base - energy * scale:.1f}" width="7" '
            f'height="{energy * scale:.1f}" fill="#9aa"/>'
        )
    centre = left + 12 * 9
    bars.append(
        f'<rect x="{centre - 1}" y="{base - harmonic * scale:.1f}" width="10" '
        f'height="{harmonic * scale:.1f}" fill="#c33"/>'
    )
    expected = 1.0
    bars.append(
        f'<line x1="{left - 4}" x2="{left + 24 * 9 + 16}" y1="{base - expected * scale}" '
        f'y2="{base - expected * scale}" stroke="#333" stroke-dasharray="4 3"/>'
    )
    labels = (
        f'<text x="{centre + 14}" y="{base - harmonic * scale + 10:.0f}">harmonic bin</text>'
        f'<text x="{left + 24 * 9 + 20}" y="{base - expected * scale + 4}">expected</text>'
        f'<text x="{left}" y="{base + 16}">its 24 neighbours: how much energy is normal here'
        "</text>"
    )
    return (
        '<svg viewBox="0 0 640 230" role="img" aria-label="Amplitude swatches and the '
        'spectrum around a harmonic bin" class="cs-score-figure" id="score-figure" '
        'width="100%" style="max-width:640px;height:auto" '
        'font-size="11" font-family="sans-serif">' + swatches + "".join(bars) + labels + "</svg>"
    )


def _panel_score() -> str:
    body = f"""
<p><code>checkerscope score</code> and <code>checkerboard_score</code> report three numbers
for each image. They answer different questions.</p>
<ul>
<li><b>Amplitude</b> &mdash; <em>how strong is the grid?</em> One period of the repeating
pattern, measured in the image's own units, in 8-bit grey levels and in percent of the
range: its RMS and its peak-to-peak. It does not depend on the image size. The swatches on
the left are the same mid-grey with a checkerboard of 0.6, 2 and 8 grey levels
peak-to-peak; one grey level is about the smallest step a person sees on a flat grey.</li>
<li><b>Significance</b> &mdash; <em>is the grid really there?</em> A z-score: how far the
energy at the grid's frequency (red) stands above what its neighbours (grey) say is normal
there, judged against how much such ratios vary by chance. About one grid-free image in a
hundred reaches 2.33.</li>
<li><b>dB</b> &mdash; <em>how much does it stand out?</em> The red bar over the dashed line,
in decibels. The same faint grid stands out more in a bigger image, so dB grows with the
size; use it to compare images of one size.</li>
</ul>
<p>The verdict needs both a significant and a visible grid: <b>grid</b> from 3 grey levels
peak-to-peak, <b>faint grid</b> from 1, <b>clean</b> below that or when the grid is not
significant.</p>
<figure class="cs-figbox">{_score_picture()}</figure>"""
    return section(
        "Reading a score: amplitude, significance, dB",
        body,
        "reading-a-score",
        lede="Three numbers: how strong, how sure, how much it stands out.",
    )


def _panel_definitions() -> str:
    body = """
<p>All numbers on this page come from one definition, the same one the Python function
<code>checkerscope.theory</code> uses: the <em>coverage</em> of a stack of layers is what
the stack outputs when every kernel weight is 1, interpolation uses its true weights, and the
input is all ones. PyTorch conventions apply: a transposed convolution with padding
<code>p</code> drops <code>p</code> outputs at each end; bilinear resize uses
<code>align_corners=False</code>; pixel shuffle repeats each value like a nearest resize.
The steady state is the coverage far from any border; its period is the shortest repeat.
The script on this page is a small port of that engine, and checkerscope's test suite runs
this page in a browser and compares every number it shows with the Python engine.</p>
<p>The stack methods are defined as: <b>deconvolution</b> = <code>Deconv(k, s)</code>;
<b>nearest / bilinear resize + conv</b> = <code>Resize(s, mode)</code> then
<code>Conv(k, padding=(k-1)//2)</code>; <b>sub-pixel</b> = <code>Conv(k, padding=(k-1)//2)
</code> then <code>PixelShuffle(s)</code>.</p>
<p>The same numbers from a terminal: <code>checkerscope overlap -k 3 -s 2 --dims 2</code>.
This page works offline; it was written by <code>checkerscope explore</code>.</p>"""
    return section("How the numbers are computed", body, "definitions")


def explorer_html() -> str:
    """Return the explorer page: a complete, self-contained HTML document.

    Examples:
        >>> page = explorer_html()
        >>> page.count('type="range"') >= 15 and "https://" not in page
        True
    """
    body = "\n".join(
        [
            '<p class="cs-intro">Checkerboard artifacts start with arithmetic: when an '
            "upsampling layer's windows overlap unevenly, some output pixels receive more "
            "input than their neighbours. These panels show that overlap, count it exactly, "
            "and compare the ways to upsample.</p>",
            _panel_1d(),
            _panel_2d(),
            _panel_stack(),
            _panel_matrices(),
            _panel_score(),
            _panel_definitions(),
        ]
    )
    return html_page(
        "Overlap explorer",
        body,
        subtitle="Why transposed convolutions paint checkerboards, counted cell by cell.",
        scripts=[_asset("overlap.js"), _asset("explorer.js")],
        nav=_NAV,
    )
