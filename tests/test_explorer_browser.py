"""The explorer page in a real browser (Debian chromium through playwright).

The page is opened from ``file://`` with the network off; the sliders are moved with the
keyboard (and ``fill``), and every number the page shows is compared with
``checkerscope.theory``. Screenshots of every panel at 400 px and 1400 px go to
``test-output/explorer/``.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from checkerscope.errors import CheckerscopeError
from checkerscope.theory import Conv, Deconv, LayerSpec, PixelShuffle, Resize, overlap

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
PANELS = ("paint-1d", "checkerboard-2d", "stacks", "matrices", "reading-a-score", "definitions")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian chromium at /usr/bin/chromium (`make browser`)",
    ),
]


# --------------------------------------------------------------------------------------
# fixtures: one browser per module, one page per width
# --------------------------------------------------------------------------------------


@dataclass
class Session:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.blocked == [], f"the page tried to reach the network: {self.blocked}"
        assert all(u.startswith(("file://", "data:")) for u in self.requests), self.requests


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from checkerscope.report import explorer_html

    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(explorer_html(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _open(browser: Any, page_file: Path, width: int) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
    context.set_offline(True)
    page = context.new_page()
    session = Session(page)

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            session.blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    page.on("request", lambda r: session.requests.append(r.url))
    page.on(
        "console",
        lambda m: session.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: session.page_errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    yield session
    context.close()


@pytest.fixture(scope="module")
def wide(browser: Any, page_file: Path) -> Iterator[Session]:
    yield from _open(browser, page_file, 1400)


@pytest.fixture(scope="module")
def narrow(browser: Any, page_file: Path) -> Iterator[Session]:
    yield from _open(browser, page_file, 400)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def set_range(page: Any, ident: str, value: int, *, keys: bool = False) -> None:
    """Move a slider: with ``fill`` (one input event), or with focus and arrow keys."""
    slider = page.locator(f"#{ident}")
    if keys:
        current = int(slider.input_value())
        slider.focus()
        key = "ArrowRight" if value > current else "ArrowLeft"
        for _ in range(abs(value - current)):
            page.keyboard.press(key)
    else:
        slider.fill(str(value))
    shown = page.evaluate(
        "(id) => [document.getElementById(id).value, document.getElementById(id + '-value')"
        ".textContent]",
        ident,
    )
    assert shown == [str(value)] * 2, f"{ident} did not reach {value}: {shown}"


def shown_number(text: str) -> float:
    """Parse a number as the page shows it ("2", "2.667", "∞")."""
    text = text.strip()
    return math.inf if text.startswith("∞") else float(text)


def shown_ratio(text: str) -> float:
    match = re.fullmatch(r"(∞|[0-9.]+) : 1", text.strip())
    assert match, f"unexpected unevenness text {text!r}"
    return shown_number(match.group(1))


def data_value(text: str) -> Any:
    """Parse a data-* attribute; the page writes infinity as the string "Infinity"."""

    def fix(value: Any) -> Any:
        if isinstance(value, list):
            return [fix(v) for v in value]
        return math.inf if value == "Infinity" else value

    return fix(json.loads(text))


def same_unevenness(shown: float, expected: float, rel: float) -> bool:
    if math.isinf(expected) or math.isinf(shown):
        return shown == expected
    return math.isclose(shown, expected, rel_tol=rel)


def spec(layer: dict[str, Any]) -> LayerSpec:
    kind = layer["type"]
    if kind == "deconv":
        return Deconv(
            layer["kernel"],
            layer["stride"],
            padding=layer.get("padding", 0),
            output_padding=layer.get("output_padding", 0),
            dilation=layer.get("dilation", 1),
        )
    if kind == "conv":
        return Conv(
            layer["kernel"],
            layer.get("stride", 1),
            padding=layer.get("padding", 0),
            dilation=layer.get("dilation", 1),
        )
    if kind == "resize":
        return Resize(layer["scale"], mode=layer.get("mode", "nearest"))
    assert kind == "pixelshuffle", layer
    return PixelShuffle(layer["scale"])


def method_specs(method: str, kernel: int, factor: int) -> list[LayerSpec]:
    """The explorer's definition of each method, written independently of the page."""
    same = (kernel - 1) // 2
    return {
        "deconv": [Deconv(kernel, factor)],
        "nearest": [Resize(factor), Conv(kernel, padding=same)],
        "bilinear": [Resize(factor, mode="bilinear"), Conv(kernel, padding=same)],
        "subpixel": [Conv(kernel, padding=same), PixelShuffle(factor)],
    }[method]


READ_1D = """() => {
  const q = (id) => document.getElementById(id);
  return {
    counts: [...document.querySelectorAll('#d1-figure text.cs-count')].map(t => t.textContent),
    inputs: document.querySelectorAll('#d1-figure .cs-in-cell').length,
    full: q('d1-figure').dataset.full,
    pattern: q('d1-pattern').textContent,
    period: q('d1-period').textContent,
    uneven: q('d1-unevenness').textContent,
    gapNote: !q('d1-unevenness-gap').hidden,
    unevenData: q('d1-unevenness').dataset.unevenness,
    note: q('d1-note').textContent,
  };
}"""

READ_2D = """() => {
  const q = (id) => document.getElementById(id);
  const cells = (sel) => [...document.querySelectorAll(sel)].map(
    t => [+t.dataset.row, +t.dataset.col, t.textContent]);
  return {
    cells: cells('#d2-map text.cs-heat-count'),
    tile: cells('#d2-tile text.cs-heat-count'),
    full: q('d2-map').dataset.full,
    uneven: q('d2-unevenness').textContent,
    gapNote: !q('d2-unevenness-gap').hidden,
    unevenData: q('d2-unevenness').dataset.unevenness,
    period: q('d2-period').textContent,
    shape: q('d2-shape').textContent,
    padMax: q('d2-padding').max,
    padding: q('d2-padding').value,
    error: q('d2-error').hidden ? null : q('d2-error').textContent,
  };
}"""

READ_STACK = """() => {
  const q = (id) => document.getElementById(id);
  const box = q('st-stats');
  return {
    layers: box.dataset.layers,
    python: q('st-python').textContent,
    period: q('st-period').textContent,
    structural: q('st-structural').textContent,
    uneven1: q('st-uneven-1d').textContent,
    uneven2: q('st-uneven-2d').textContent,
    gapNotes: [!q('st-uneven-1d-gap').hidden, !q('st-uneven-2d-gap').hidden],
    uneven1Data: box.dataset.unevenness,
    uneven2Data: box.getAttribute('data-unevenness-2d'),
    period2: box.getAttribute('data-period-2d'),
    patternData: box.dataset.pattern,
    patternText: q('st-pattern').textContent,
    bars: document.querySelectorAll('#st-bars rect.cs-bar').length,
    full: q('st-strip').dataset.full || null,
    error: q('st-error').hidden ? null : q('st-error').textContent,
    visibleRows: [...document.querySelectorAll('fieldset.cs-layer')].filter(f => !f.hidden).length,
    stageRows: document.querySelectorAll('#st-stage-table tbody tr').length,
  };
}"""


def grid_from_cells(cells: list[list[Any]], shape: tuple[int, int]) -> np.ndarray:
    grid = np.full(shape, np.nan)
    for row, col, text in cells:
        grid[row, col] = shown_number(text)
    return grid


# --------------------------------------------------------------------------------------
# the JavaScript engine itself
# --------------------------------------------------------------------------------------


def _random_stacks(count: int, seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    stacks = []
    for _ in range(count):
        layers: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(["deconv", "deconv", "conv", "resize", "pixelshuffle"])
            if kind == "deconv":
                k, s, d = rng.randint(1, 6), rng.randint(1, 4), rng.choice([1, 1, 2])
                layers.append(
                    {
                        "type": "deconv",
                        "kernel": k,
                        "stride": s,
                        "padding": rng.randint(0, k - 1),
                        "output_padding": rng.randint(0, max(s, d) - 1),
                        "dilation": d,
                    }
                )
            elif kind == "conv":
                k = rng.randint(1, 5)
                layers.append(
                    {
                        "type": "conv",
                        "kernel": k,
                        "stride": rng.choice([1, 1, 2]),
                        "padding": rng.randint(0, k // 2),
                        "dilation": rng.choice([1, 1, 2]),
                    }
                )
            elif kind == "resize":
                layers.append(
                    {
                        "type": "resize",
                        "scale": rng.randint(1, 4),
                        "mode": rng.choice(["nearest", "bilinear"]),
                    }
                )
            else:
                layers.append({"type": "pixelshuffle", "scale": rng.randint(1, 3)})
        stacks.append(layers)
    return stacks


# Returns one JSON string: playwright's structured transfer of big nested arrays is slow.
BULK_JS = """(cases) => JSON.stringify(cases.map(({layers, n}) => {
  const cs = window.checkerscope;
  const wrap = (f) => { try { return f(); } catch (e) { return {error: e.message}; } };
  const enc = (r) => JSON.parse(JSON.stringify(r, (k, v) =>
    v === Infinity ? 'inf' : Number.isNaN(v) ? 'nan' : v));
  const two = wrap(() => cs.overlap2d(layers, [n, n + 1]));
  // big 2-D maps stay in the browser: moving megabytes of JSON is the slow part
  if (two.full && two.full.length * two.full[0].length > 20000) two.full = null;
  if (two.pattern && two.pattern.length > 64) two.pattern = null;
  return {one: enc(wrap(() => cs.overlap1d(layers, n))), two: enc(two)};
}))"""


def test_js_engine_matches_python_engine_on_random_stacks(wide: Session) -> None:
    """window.checkerscope.overlap1d/2d equal cs.overlap: patterns, periods, full maps."""
    cases = [{"layers": layers, "n": 3 + i % 6} for i, layers in enumerate(_random_stacks(250, 7))]
    results = json.loads(wide.page.evaluate(BULK_JS, cases))
    checked_full = 0
    for case, got in zip(cases, results, strict=True):
        layers = [spec(layer) for layer in case["layers"]]
        for dims, key, shape in ((1, "one", (case["n"],)), (2, "two", (case["n"], case["n"] + 1))):
            expected = overlap(layers, dims=dims)
            try:
                full = expected.full(shape)
            except CheckerscopeError:
                full = None
            res = got[key]
            if full is None:
                assert "error" in res, (case, dims)
                continue
            assert "error" not in res, (case, dims, res)
            checked_full += 1
            assert tuple(res["period"]) == expected.period, case
            assert tuple(res["structuralPeriod"]) == expected.structural_period, case
            if res["pattern"] is not None or dims == 1:
                np.testing.assert_allclose(res["pattern"], expected.pattern, rtol=1e-9, atol=1e-12)
            if res["full"] is not None or dims == 1:
                np.testing.assert_allclose(res["full"], full, rtol=1e-9, atol=1e-12)
            u = {"inf": math.inf, "nan": math.nan}.get(res["unevenness"], res["unevenness"])
            if math.isnan(expected.unevenness):  # nothing covered at all
                assert isinstance(u, float) and math.isnan(u), case
            else:
                assert same_unevenness(u, expected.unevenness, 1e-9), case
    assert checked_full > 300  # most random stacks are valid on these inputs
    wide.assert_clean()


# --------------------------------------------------------------------------------------
# panel 1: 1-D paint
# --------------------------------------------------------------------------------------


def test_1d_panel_counts_match_engine_for_k1_6_s1_6(wide: Session) -> None:
    page = wide.page
    page.locator("#d1-input").fill("7")  # `fill` fires input events like a person's drag
    n = 7
    seen_ratios = set()
    for k in range(1, 7):
        set_range(page, "d1-kernel", k)
        strides = range(1, 7) if k % 2 else range(6, 0, -1)  # snake: fewer key presses
        for s in strides:
            set_range(page, "d1-stride", s)
            got = page.evaluate(READ_1D)
            expected = overlap([Deconv(k, s)], dims=1)
            full = expected.full(n)
            assert [shown_number(t) for t in got["counts"]] == full.tolist(), (k, s)
            assert data_value(got["full"]) == full.tolist()
            assert got["inputs"] == n
            assert [shown_number(t) for t in got["pattern"].split()] == expected.pattern.tolist()
            assert int(got["period"]) == expected.period[0]
            assert same_unevenness(shown_ratio(got["uneven"]), expected.unevenness, 1e-3)
            assert same_unevenness(data_value(got["unevenData"]), expected.unevenness, 1e-12)
            assert got["gapNote"] == math.isinf(expected.unevenness)
            # the sentence under the diagram says the rule the article states
            assert ("not a multiple" in got["note"]) == (k % s != 0 and k > s), (k, s)
            seen_ratios.add(got["uneven"])
    assert {"2 : 1", "1 : 1", "∞ : 1"} <= seen_ratios
    # a different input length, set with the keyboard this time
    set_range(page, "d1-stride", 4, keys=True)
    set_range(page, "d1-input", 3, keys=True)
    got = page.evaluate(READ_1D)
    assert [shown_number(t) for t in got["counts"]] == (
        overlap([Deconv(6, 4)], dims=1).full(3).tolist()
    )
    wide.assert_clean()


# --------------------------------------------------------------------------------------
# panel 2: 2-D heat map
# --------------------------------------------------------------------------------------


def _check_2d(page: Any, k: int, s: int, p: int, n: int) -> dict[str, Any]:
    got = page.evaluate(READ_2D)
    assert int(got["padding"]) == p
    assert got["error"] is None, got["error"]
    expected = overlap([Deconv(k, s, padding=p)], dims=2)
    full = expected.full((n, n))
    assert got["shape"] == f"{full.shape[0]} × {full.shape[1]}"
    np.testing.assert_array_equal(grid_from_cells(got["cells"], full.shape), full)
    assert data_value(got["full"]) == full.tolist()
    np.testing.assert_array_equal(
        grid_from_cells(got["tile"], expected.pattern.shape), expected.pattern
    )
    assert got["period"] == " × ".join(map(str, expected.period))
    assert same_unevenness(shown_ratio(got["uneven"]), expected.unevenness, 1e-3)
    assert same_unevenness(data_value(got["unevenData"]), expected.unevenness, 1e-12)
    assert got["gapNote"] == math.isinf(expected.unevenness)
    return got


def test_2d_panel_matches_engine_for_k1_6_s1_6_and_padding(wide: Session) -> None:
    page = wide.page
    n = 3  # small input: the border rows and columns are still there, fewer cells to read
    set_range(page, "d2-input", n, keys=True)
    # the article's example first: readable at a glance
    set_range(page, "d2-padding", 0)
    set_range(page, "d2-kernel", 3)
    set_range(page, "d2-stride", 2)
    got = _check_2d(page, 3, 2, 0, n)
    assert got["uneven"] == "4 : 1"
    assert sorted(t for _, _, t in got["tile"]) == ["1", "2", "2", "4"]

    configs = 0
    for k in range(1, 7):  # no padding, k 1-6 x s 1-6
        set_range(page, "d2-kernel", k)
        for s in range(1, 7) if k % 2 else range(6, 0, -1):
            set_range(page, "d2-stride", s)
            _check_2d(page, k, s, 0, n)
            configs += 1
    for k in range(2, 7):  # the largest padding the slider allows, k 2-6 x s 1-4
        set_range(page, "d2-kernel", k)
        for s in range(1, 5) if k % 2 else range(4, 0, -1):
            set_range(page, "d2-stride", s)
            allowed = min(k - 1, ((n - 1) * s + k - 1) // 2)
            assert int(page.locator("#d2-padding").get_attribute("max")) == allowed
            set_range(page, "d2-padding", allowed)
            _check_2d(page, k, s, allowed, n)
            configs += 1
        set_range(page, "d2-padding", 0)
    assert configs == 36 + 20
    # a smaller kernel clamps the padding slider, and the numbers follow
    set_range(page, "d2-kernel", 6, keys=True)
    set_range(page, "d2-stride", 3, keys=True)
    set_range(page, "d2-padding", 5, keys=True)
    set_range(page, "d2-kernel", 2, keys=True)
    assert page.locator("#d2-padding").input_value() == "1"
    _check_2d(page, 2, 3, 1, n)
    wide.assert_clean()


# --------------------------------------------------------------------------------------
# panel 3: stacks
# --------------------------------------------------------------------------------------

STACKS = [
    [("deconv", 3, 2), ("deconv", 3, 2)],  # the article's two-layer figure
    [("deconv", 3, 2), ("deconv", 3, 2), ("deconv", 3, 1)],  # a last stride-1 deconv
    [("nearest", 3, 2), ("nearest", 3, 2)],
    [("bilinear", 3, 2), ("deconv", 4, 2)],
    [("subpixel", 3, 2), ("subpixel", 3, 2), ("subpixel", 5, 3)],
    [("deconv", 4, 2), ("bilinear", 3, 3), ("nearest", 4, 2), ("subpixel", 5, 2)],
    [("deconv", 5, 3), ("deconv", 2, 2), ("bilinear", 2, 4), ("deconv", 3, 2)],
    [("bilinear", 1, 3)],
    [("deconv", 1, 2), ("nearest", 1, 2)],  # gaps: some outputs get nothing
]


def _configure_stack(
    page: Any, stack: list[tuple[str, int, int]], n: int, *, keys: bool = False
) -> None:
    set_range(page, "st-count", len(stack), keys=keys)
    set_range(page, "st-input", n, keys=keys)
    for i, (method, kernel, factor) in enumerate(stack, start=1):
        page.locator(f"#st-method-{i}").select_option(method)
        set_range(page, f"st-kernel-{i}", kernel, keys=keys)
        set_range(page, f"st-factor-{i}", factor, keys=keys)


def test_stack_panel_matches_engine_for_each_method(wide: Session) -> None:
    page = wide.page
    default = page.evaluate(READ_STACK)
    assert default["period"] == "4" and default["patternText"] == "3 2 3 1"  # [deconv k3 s2]*2
    for number, stack in enumerate(STACKS):
        n = 3 + number % 4
        _configure_stack(page, stack, n, keys=number % 3 == 0)
        got = page.evaluate(READ_STACK)
        assert got["error"] is None, (stack, got["error"])
        assert got["visibleRows"] == len(stack) == got["stageRows"]
        layers = [s for method in stack for s in method_specs(*method)]
        assert [spec(layer) for layer in data_value(got["layers"])] == layers, stack
        one = overlap(layers, dims=1)
        two = overlap(layers, dims=2)
        assert int(got["period"]) == one.period[0]
        assert int(got["structural"]) == one.structural_period[0]
        assert tuple(data_value(got["period2"])) == two.period
        np.testing.assert_allclose(data_value(got["patternData"]), one.pattern, rtol=1e-9)
        if len(one.pattern) <= 64:
            shown = [shown_number(t) for t in got["patternText"].split()]
            np.testing.assert_allclose(shown, one.pattern, rtol=1e-3)
        assert got["bars"] == len(one.pattern)
        assert same_unevenness(shown_ratio(got["uneven1"]), one.unevenness, 1e-3)
        assert same_unevenness(shown_ratio(got["uneven2"]), two.unevenness, 1e-3)
        assert same_unevenness(data_value(got["uneven1Data"]), one.unevenness, 1e-9)
        assert same_unevenness(data_value(got["uneven2Data"]), two.unevenness, 1e-9)
        assert got["gapNotes"] == [math.isinf(one.unevenness), math.isinf(two.unevenness)]
        np.testing.assert_allclose(data_value(got["full"]), one.full(n), rtol=1e-9, atol=1e-12)
        for part in ("Deconv", "Resize", "Conv", "PixelShuffle"):
            assert (part + "(" in got["python"]) == any(
                type(layer).__name__ == part for layer in layers
            )
    wide.assert_clean()


def test_stack_panel_reports_an_input_too_short_without_a_page_error(wide: Session) -> None:
    page = wide.page
    stack = [("nearest", 6, 1)] * 4
    _configure_stack(page, stack, 2)
    got = page.evaluate(READ_STACK)
    layers = [s for method in stack for s in method_specs(*method)]
    with pytest.raises(CheckerscopeError):
        overlap(layers, dims=1).full(2)
    assert got["error"] and "too short" in got["error"]
    assert got["full"] is None
    # the steady state does not depend on the input and is still shown
    assert shown_ratio(got["uneven1"]) == overlap(layers, dims=1).unevenness == 1.0
    set_range(page, "st-input", 8)
    assert page.evaluate(READ_STACK)["error"] is None
    wide.assert_clean()


# --------------------------------------------------------------------------------------
# panel 4: matrices, checked against torch's own layers
# --------------------------------------------------------------------------------------

FRACTIONS = {0.25: "¼", 0.5: "½", 0.75: "¾", 1.0: ""}


def _torch_matrix(key: str, n: int = 4) -> tuple[list[str], np.ndarray]:
    """coef[out, in, tap] of each method, from torch with one-hot weights."""
    import torch
    import torch.nn.functional as F

    def unit(length: int, at: int) -> torch.Tensor:
        v = torch.zeros(length, dtype=torch.float64)
        v[at] = 1
        return v

    if key in ("deconv3", "deconv4"):
        k = 3 if key == "deconv3" else 4
        taps = list("abcd"[:k])

        def column(i: int, t: int) -> torch.Tensor:
            return F.conv_transpose1d(
                unit(n, i).view(1, 1, n),
                unit(k, t).view(1, 1, k),
                stride=2,
                padding=1,
                output_padding=1 if k == 3 else 0,
            ).flatten()
    elif key in ("nearest", "bilinear"):
        taps = list("abc")
        mode = "nearest" if key == "nearest" else "linear"

        def column(i: int, t: int) -> torch.Tensor:
            kwargs = {} if mode == "nearest" else {"align_corners": False}
            up = F.interpolate(unit(n, i).view(1, 1, n), scale_factor=2, mode=mode, **kwargs)
            return F.conv1d(up, unit(3, t).view(1, 1, 3), padding=1).flatten()
    else:
        taps = ["a₀", "b₀", "c₀", "a₁", "b₁", "c₁"]

        def column(i: int, t: int) -> torch.Tensor:
            weight = torch.zeros(2, 1, 3, dtype=torch.float64)
            weight[t // 3, 0, t % 3] = 1
            y = F.conv1d(unit(n, i).view(1, 1, n), weight, padding=1)  # (1, 2, n)
            return y.permute(0, 2, 1).reshape(-1)  # 1-D pixel shuffle: phase = channel

    cols = [[column(i, t).numpy() for t in range(len(taps))] for i in range(n)]
    coef = np.stack([np.stack(c, axis=-1) for c in cols], axis=1)  # (out, in, tap)
    return taps, coef


MATRIX_STACKS = {
    "deconv3": [Deconv(3, 2, padding=1, output_padding=1)],
    "deconv4": [Deconv(4, 2, padding=1)],
    "nearest": [Resize(2), Conv(3, padding=1)],
    "bilinear": [Resize(2, mode="bilinear"), Conv(3, padding=1)],
    "subpixel": [Conv(3, padding=1), PixelShuffle(2)],
}


def test_matrices_match_torch_and_row_sums_match_engine(wide: Session) -> None:
    got = wide.page.evaluate(
        """() => [...document.querySelectorAll('figure.cs-matrix')].map(f => ({
          id: f.id,
          taps: JSON.parse(f.dataset.taps),
          sums: [...f.querySelectorAll('text.cs-mat-sum')].map(t => t.textContent),
          entries: [...f.querySelectorAll('text.cs-mat-entry')].map(
            t => [+t.dataset.row, +t.dataset.col, t.textContent]),
          caption: f.querySelector('figcaption').textContent,
        }))"""
    )
    assert [g["id"] for g in got] == [f"matrix-{key}" for key in MATRIX_STACKS]
    for fig, (key, stack) in zip(got, MATRIX_STACKS.items(), strict=True):
        taps, coef = _torch_matrix(key)
        assert fig["taps"] == taps
        # Σ column: coverage of each output with all weights 1 == the engine's full map
        sums = [shown_number(t) for t in fig["sums"]]
        np.testing.assert_allclose(sums, overlap(stack, dims=1).full(4), rtol=1e-9)
        np.testing.assert_allclose(sums, coef.sum(axis=(1, 2)), rtol=1e-9)
        # every entry shows exactly torch's weights, e.g. "b+c" or "¼a+¾b"
        expected = {}
        for r, c in zip(*np.nonzero(np.abs(coef).sum(axis=2) > 1e-12), strict=True):
            expected[(int(r), int(c))] = "+".join(
                FRACTIONS[round(float(w), 6)] + tap
                for tap, w in zip(taps, coef[r, c], strict=True)
                if abs(w) > 1e-12
            )
        shown = {(r, c): text for r, c, text in fig["entries"]}
        assert shown == expected, key
    by_key = {g["id"]: g for g in got}
    # weight tying in words: deconv k3 s2 alternates 1 and 2 terms, resize-conv does not
    assert [shown_number(t) for t in by_key["matrix-deconv3"]["sums"]][1:-1] == [2, 1, 2, 1, 2, 1]
    assert set(by_key["matrix-nearest"]["sums"][1:-1]) == {"3"}
    wide.assert_clean()


# --------------------------------------------------------------------------------------
# accessibility, links, offline, layout, screenshots
# --------------------------------------------------------------------------------------


def test_controls_are_labelled_keyboard_reachable_and_links_resolve(wide: Session) -> None:
    page = wide.page
    info = page.evaluate(
        """() => ({
          unlabelled: [...document.querySelectorAll('input, select')]
            .filter(e => !e.labels || e.labels.length === 0 || !e.labels[0].textContent.trim())
            .map(e => e.id),
          ranges: document.querySelectorAll('input[type=range]').length,
          broken: [...document.querySelectorAll('a[href^="#"]')]
            .map(a => a.getAttribute('href').slice(1))
            .filter(id => !document.getElementById(id)),
          navTargets: [...document.querySelectorAll('nav.cs-nav a')].map(a => a.hash.slice(1)),
          crossLinks: Object.fromEntries(
            ['paint-1d', 'checkerboard-2d', 'stacks', 'matrices'].map(id => [id,
              [...document.getElementById(id).querySelectorAll('a[href^="#"]')]
                .map(a => a.hash.slice(1)).filter(h => h !== id).length])),
          liveRegions: document.querySelectorAll('[aria-live=polite]').length,
          lang: document.documentElement.lang,
        })"""
    )
    assert info["unlabelled"] == []
    assert info["ranges"] >= 3 + 4 + 2 + 8
    assert info["broken"] == []
    assert info["navTargets"] == list(PANELS)
    assert all(count >= 1 for count in info["crossLinks"].values()), info["crossLinks"]
    assert info["liveRegions"] >= 3 and info["lang"] == "en"
    # Tab moves from one slider to the next; arrow keys then change the focused one
    page.locator("#d1-kernel").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "d1-stride"
    before = page.locator("#d1-stride").input_value()
    page.keyboard.press("End")
    assert page.locator("#d1-stride").input_value() == "6" != before
    assert page.locator("#d1-stride-value").inner_text() == "6"
    wide.assert_clean()


def test_network_guard_catches_requests(browser: Any, page_file: Path) -> None:
    """Control for the offline checks: a page that does fetch is caught and blocked."""
    session = next(_open(browser, page_file, 800))
    failed = session.page.evaluate(
        "() => fetch('https://example.invalid/x.js').then(() => false, () => true)"
    )
    assert failed
    assert session.blocked == ["https://example.invalid/x.js"]
    session.page.context.close()


@pytest.mark.parametrize("width", [400, 1400])
def test_layout_and_screenshots(
    request: pytest.FixtureRequest, width: int, test_output_dir: Path
) -> None:
    session: Session = request.getfixturevalue("narrow" if width == 400 else "wide")
    page = session.page
    out = test_output_dir / "explorer"
    out.mkdir(parents=True, exist_ok=True)
    page.reload()  # screenshots show the page as it opens, whatever other tests did
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    layout = page.evaluate(
        """() => ({
          scrollWidth: document.documentElement.scrollWidth,
          sections: [...document.querySelectorAll('section.cs-section')].map(s => {
            const r = s.getBoundingClientRect();
            return [s.id, Math.round(r.left), Math.round(r.right), Math.round(r.height)];
          }),
        })"""
    )
    # nothing sticks out sideways: wide figures scroll inside their own boxes
    assert layout["scrollWidth"] <= width, layout
    assert [s[0] for s in layout["sections"]] == list(PANELS)
    for ident, left, right, height in layout["sections"]:
        assert left >= 0 and right <= width and height > 100, (ident, left, right)
    if width == 1400:
        assert layout["sections"][0][2] - layout["sections"][0][1] <= 1200
    for ident in PANELS:
        path = out / f"{ident}-{width}.png"
        page.locator(f"#{ident}").screenshot(path=str(path), style=".cs-nav{position:static}")
        assert path.stat().st_size > 5_000
    page.screenshot(path=str(out / f"page-{width}.png"), full_page=True)
    session.assert_clean()
