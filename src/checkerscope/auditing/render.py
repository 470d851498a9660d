"""Text and HTML renderings of an :class:`~checkerscope.auditing.AuditReport`."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from checkerscope._extras import pyplot

if TYPE_CHECKING:  # pragma: no cover
    from checkerscope.auditing.analysis import AuditReport, LayerFinding, PathFinding, Probe

#: Paths listed in the terminal (all are in the JSON and the HTML page).
SHOWN_PATHS = 6


def _num(value: float) -> str:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return str(value)
    return f"{value:.3g}"


def _shape(shape: Any) -> str:
    return "x".join("?" if s is None or not isinstance(s, int) else str(s) for s in shape) or "-"


def _params(layer: LayerFinding) -> str:
    short = {
        "kernel": "k",
        "kernel_size": "k",
        "stride": "s",
        "padding": "p",
        "output_padding": "op",
        "scale": "x",
        "scale_factor": "x",
        "filter_size": "f",
        "mode": "",
    }
    parts = []
    for key, value in layer.params.items():
        if key in ("groups",) and value == 1:
            continue
        if key == "dilation" and all(v == 1 for v in value):
            continue
        if key == "padding_mode":
            continue
        if key == "tied_phases":
            if value:
                parts.append("tied")
            continue
        if key in ("padding", "output_padding") and not any(value):
            continue
        if isinstance(value, tuple):
            value = value[0] if len(set(value)) == 1 else "x".join(map(str, value))
        parts.append(f"{short.get(key, key + '=')}{value}")
    return " ".join(parts)


def _probe_line(probe: Probe | None, label: str) -> str:
    if probe is None:
        return ""
    others = ", ".join(f"p{p}: {v:+.1f}" for p, v in probe.db_by_period.items())
    return (
        f"{label}: {probe.median_db:+.1f} dB at period {probe.period} "
        f"(median of {probe.samples}; {others})"
    )


def _route(path: PathFinding, limit: int = 70) -> str:
    """``input > up1 > up2 > output``, shortened in the middle when long."""
    steps = [path.source, *path.layers, path.output]
    text = " > ".join(steps)
    if len(text) <= limit or len(steps) <= 4:
        return text
    return " > ".join([*steps[:2], f"... {len(steps) - 4} more ...", *steps[-2:]])


def _path_summary(path: PathFinding) -> str:
    if path.pattern is None:
        return path.note or "no spec on this path"
    return f"period {_shape(path.period)}, unevenness {_num(path.unevenness)}"


def _pattern_text(pattern: np.ndarray, limit: int = 8) -> str:
    """One period of the pattern relative to its minimum (1 = least covered phase)."""
    grid = np.atleast_2d(np.asarray(pattern, dtype=float))
    if grid.ndim > 2 or grid.shape[0] > limit or grid.shape[1] > limit or grid.min() <= 0:
        return ""
    grid = grid / grid.min()
    cells = [[_num(float(v)) for v in row] for row in grid]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("    " + " ".join(c.rjust(width) for c in row) for row in cells)


def _fingerprint_text(fingerprint: np.ndarray, limit: int = 8) -> str:
    grid = np.atleast_2d(np.asarray(fingerprint, dtype=float))
    peak = float(np.abs(grid).max())
    if grid.ndim > 2 or max(grid.shape) > limit or peak == 0.0:
        return ""
    rows = [" ".join(f"{v / peak:+.2f}" for v in row) for row in grid]
    return "\n".join("    " + row for row in rows)


def render_text(report: AuditReport) -> str:
    """A terminal rendering (a rich table, no colour codes)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=150, color_system=None, force_terminal=False)
    head = (
        f"checkerscope audit: {report.model} ({report.source}, {report.kind}, "
        f"{report.dims}-D)  input {_shape(report.input_shape)} -> output "
        f"{_shape(report.output_shape)}"
    )
    console.print(head, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("#", "layer", "type", "params", "in -> out", "dir", "period", "uneven"):
        table.add_column(column, no_wrap=column != "layer")
    table.add_column("verdict")
    table.add_column("suggested fix")
    for layer in report.layers:
        marker = "" if layer.relevant else " (n/a)"
        table.add_row(
            str(layer.index),
            layer.name,
            layer.type,
            _params(layer),
            f"{_shape(layer.input_shape)} -> {_shape(layer.output_shape)}",
            "fwd" if layer.direction == "forward" else "bwd",
            _shape(layer.period),
            _num(layer.unevenness),
            layer.verdict + marker,
            layer.fix,
        )
    if report.layers:
        console.print(table)
    else:
        console.print("  no layer changes resolution")
    if len(report.paths) > 1:
        console.print(
            f"{len(report.paths)} paths from input to output, each compounded on its own "
            "(worst first):",
            highlight=False,
        )
        for number, path in enumerate(report.paths[:SHOWN_PATHS], start=1):
            console.print(
                f"  {number}. {_route(path)}: {_path_summary(path)} ({path.verdict})",
                highlight=False,
            )
        if len(report.paths) > SHOWN_PATHS:
            console.print(
                f"  ... {len(report.paths) - SHOWN_PATHS} more (--json lists them all)",
                highlight=False,
            )
    pattern = report.overlap
    if pattern is not None:
        which = "worst path" if len(report.paths) > 1 else "path"
        console.print(
            f"{which} ({pattern.direction}, {len(report.path)} specs): {pattern.summary()}",
            highlight=False,
        )
        text = _pattern_text(pattern.pattern)
        if text and not pattern.is_even:
            console.print("  one period, relative to the least covered phase:", highlight=False)
            console.print(text, highlight=False)
    if report.periods:
        console.print(
            f"uneven layers paint periods {', '.join(map(str, report.periods))} "
            f"on the {'output' if report.kind != 'downsampler' else 'input gradient'}",
            highlight=False,
        )
    for probe, label in (
        (report.init_score, "init score (fresh weights)"),
        (report.given_score, "given weights score"),
        (report.grad_score, "gradient score"),
    ):
        line = _probe_line(probe, label)
        if line:
            console.print(line, highlight=False)
    dominant = report.init_score or report.grad_score
    if dominant is not None and dominant.median_db >= 6.0:
        text = _fingerprint_text(dominant.fingerprint)
        if text:
            console.print(
                f"  {dominant.what} fingerprint at period {dominant.period} "
                "(mean per phase, relative to the largest):",
                highlight=False,
            )
            console.print(text, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    verdict = "ARTIFACTS" if report.has_artifacts else "CLEAN"
    reasons = []
    if report.structural_artifacts:
        reasons.append("uneven overlap")
    if report.measured_artifacts:
        from checkerscope.auditing.analysis import ARTIFACT_DB

        reasons.append(f"a measured score >= {ARTIFACT_DB:g} dB")
    because = f" ({' and '.join(reasons)})" if reasons else ""
    console.print(f"verdict: {verdict}{because}  [{report.seconds:.2f} s]", highlight=False)
    return buffer.getvalue().rstrip() + "\n"


# --------------------------------------------------------------------------- HTML


def _heatmap_png(report: AuditReport) -> bytes | None:
    plt = pyplot("the pictures of audit --html")

    pattern = report.overlap
    if pattern is None:
        return None
    shape = report.input_shape if pattern.direction == "backward" else report.input_shape
    spatial = [s for s in shape[2:] if isinstance(s, int)] if len(shape) > 2 else []
    try:
        if len(spatial) == pattern.dims:
            full = np.asarray(pattern.full(tuple(spatial)), dtype=float)
        else:
            full = np.asarray(pattern.full((1,) * pattern.dims), dtype=float)
    except Exception:  # an input the specs cannot size (e.g. ONNX dynamic axes)
        full = np.asarray(pattern.pattern, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    if full.ndim == 1:
        show = full[: min(len(full), 8 * max(pattern.structural_period))]
        axes[0].plot(show, lw=1)
        axes[0].set_xlabel("sample")
        axes[1].bar(np.arange(len(pattern.pattern)), np.asarray(pattern.pattern, dtype=float))
        axes[1].set_xlabel("phase")
    else:
        while full.ndim > 2:
            full = full[full.shape[0] // 2]
        tile = np.asarray(pattern.pattern, dtype=float)
        while tile.ndim > 2:
            tile = tile[0]
        im = axes[0].imshow(full, cmap="magma", interpolation="nearest")
        fig.colorbar(im, ax=axes[0], fraction=0.046)
        tile = np.atleast_2d(tile)
        im2 = axes[1].imshow(tile, cmap="magma", interpolation="nearest")
        fig.colorbar(im2, ax=axes[1], fraction=0.046)
        axes[1].set_xticks(range(tile.shape[1]))
        axes[1].set_yticks(range(tile.shape[0]))
    axes[0].set_title(f"coverage of the whole path ({pattern.direction})", fontsize=9)
    axes[1].set_title(
        f"one period {pattern.period}, unevenness {_num(pattern.unevenness)}", fontsize=9
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _fingerprint_png(probe: Probe) -> bytes:
    plt = pyplot("the pictures of audit --html")

    fig, ax = plt.subplots(figsize=(3.2, 3.0))
    fp = np.asarray(probe.fingerprint, dtype=float)
    if fp.ndim == 1:
        ax.bar(np.arange(len(fp)), fp)
    else:
        fp = np.atleast_2d(fp)
        lim = float(np.abs(fp).max()) or 1.0
        im = ax.imshow(fp, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(fp.shape[1]))
        ax.set_yticks(range(fp.shape[0]))
    ax.set_title(f"{probe.what} fingerprint, period {probe.period}", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def render_html(report: AuditReport, fixed: AuditReport | None = None) -> str:
    """A self-contained page in the shared checkerscope style."""
    from checkerscope.auditing.analysis import ARTIFACT_DB
    from checkerscope.report import figure, html_page, html_table, section, verdict_badge

    summary_rows: list[list[Any]] = [
        ["verdict", verdict_badge(report.verdict)],
        ["kind", f"{report.kind} ({report.dims}-D, {report.source})"],
        ["input -> output", f"{_shape(report.input_shape)} -> {_shape(report.output_shape)}"],
        ["artifact periods", ", ".join(map(str, report.periods)) or "none"],
    ]
    if report.overlap is not None:
        summary_rows.append(["compounded path", report.overlap.summary()])
    body = section("Summary", html_table(summary_rows, ["", ""]), id="summary")
    layer_rows = [
        [
            layer.index,
            layer.name,
            layer.type,
            _params(layer),
            f"{_shape(layer.input_shape)} -> {_shape(layer.output_shape)}",
            layer.direction,
            _shape(layer.period),
            float(layer.unevenness),
            verdict_badge(layer.verdict if layer.relevant else f"{layer.verdict} (n/a)"),
            layer.fix,
        ]
        for layer in report.layers
    ]
    body += section(
        "Layers that change resolution",
        html_table(
            layer_rows,
            [
                "#",
                "layer",
                "type",
                "params",
                "in -> out",
                "direction",
                "period",
                "unevenness",
                "verdict",
                "suggested fix",
            ],
        )
        if layer_rows
        else "<p>No layer changes resolution.</p>",
        id="layers",
    )
    if report.paths:
        path_rows = [
            [
                number,
                f"{path.source} → {path.output}",
                " › ".join(path.layers) or "-",
                _shape(path.period) if path.pattern is not None else "-",
                float(path.unevenness),
                verdict_badge(path.verdict),
            ]
            for number, path in enumerate(report.paths, start=1)
        ]
        body += section(
            "Paths from input to output (worst first)",
            "<p>Parallel branches (residual shortcuts, skips, separate outputs) are separate "
            "paths, each compounded on its own.</p>"
            + html_table(
                path_rows, ["#", "from → to", "through", "period", "unevenness", "verdict"]
            ),
            id="paths",
        )
    png = _heatmap_png(report)
    if png is not None and report.overlap is not None:
        body += section(
            "Overlap of the worst path",
            figure(png, "overlap heat map", caption=report.overlap.describe()[:300]),
            id="overlap",
        )
    probe_rows = []
    for probe, label in (
        (report.init_score, "random init (before training)"),
        (report.given_score, "weights as given"),
        (report.grad_score, "input gradients"),
    ):
        if probe is not None:
            probe_rows.append([label, probe.period, round(probe.median_db, 2), probe.samples])
    measured = ""
    if probe_rows:
        measured = html_table(probe_rows, ["measured", "period", "median dB", "samples"])
        measured += f"<p>A score of {ARTIFACT_DB:g} dB or more counts as a visible grid.</p>"
        for probe in (report.init_score, report.given_score, report.grad_score):
            if probe is not None:
                measured += figure(_fingerprint_png(probe), f"{probe.what} fingerprint")
                break
    if fixed is not None:
        rows = []
        for label, a, b in (
            ("init score", report.init_score, fixed.init_score),
            ("given score", report.given_score, fixed.given_score),
            ("gradient score", report.grad_score, fixed.grad_score),
        ):
            if a is not None and b is not None:
                rows.append([label, round(a.median_db, 2), round(b.median_db, 2)])
        rows.append(["verdict", verdict_badge(report.verdict), verdict_badge(fixed.verdict)])
        measured += html_table(rows, ["", "before fix (dB)", "after fix (dB)"])
    if measured:
        body += section("Measured", measured, id="measured")
    if report.notes:
        notes = "".join(f"<li>{_escape(n)}</li>" for n in report.notes)
        body += section("Notes", f"<ul>{notes}</ul>", id="notes")
    return html_page(
        f"Audit: {report.model}",
        body,
        subtitle=f"{report.kind}, {report.source}; verdict: {report.verdict}",
        nav=[
            ("summary", "Summary"),
            ("layers", "Layers"),
            ("paths", "Paths"),
            ("overlap", "Overlap"),
            ("measured", "Measured"),
        ],
    )


def _escape(text: str) -> str:
    from checkerscope.report import escape

    return escape(text)
