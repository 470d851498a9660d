"""``claims.json`` and ``report.html``: what a reproduction run leaves behind.

The JSON document::

    {"version", "created", "quick", "seed", "device", "threads", "torch", "numpy", "python",
     "checkerscope", "total_runtime_s", "complete",
     "claims": [{"id", "title", "article", "method", "rule", "verdict", "summary",
                 "numbers", "figures", "runtime_s", "seed", ...}, ...]}

``verdict`` is "agrees", "partly" or "disagrees", or - for a claim that could not be
judged - "error" (its ``error`` field holds the exception) or "not run" (no module).
Figures are paths relative to the run folder. The HTML page embeds every figure as a
data URI, so it is one self-contained file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from checkerscope._files import display_name, write_atomic
from checkerscope.errors import CheckerscopeError
from checkerscope.experiments.base import Claim, ClaimResult

__all__ = [
    "SCHEMA_VERSION",
    "build_document",
    "claim_entry",
    "error_entry",
    "headline",
    "jsonable",
    "not_run_entry",
    "read_claims_json",
    "render_report_html",
    "write_claims_json",
    "write_report_html",
]

SCHEMA_VERSION = 1

# Rows of a claim's numbers shown before the rest fold into a <details> element.
_ROWS_SHOWN = 16

#: Short titles for claims whose module is missing or failed before defining ``CLAIM``.
FALLBACK_TITLES: dict[str, str] = {
    "C1": "uneven overlap iff k mod s != 0",
    "C2": "2-D squares the unevenness",
    "C3": "stacked deconvolutions compound",
    "C4": "final stride-1 deconv dampens, can leak",
    "C5": "artifacts at random initialisation",
    "C6": "learned deconvolutions keep artifacts",
    "C7": "trained GAN keeps deconv artifacts",
    "C8": "image-to-image: deconv vs resize-conv",
    "C9": "strong colours, strong artifacts",
    "C10": "nearest keeps detail, bilinear smooths",
    "C11": "strided discriminator gradients",
    "C12": "max pooling: disorganised gradient noise",
    "C13": "feature visualisation: jitter helps",
    "C14": "a penalty cleans a deconvolution",
}

#: Required keys of every claims.json entry (tests assert them).
ENTRY_KEYS: tuple[str, ...] = (
    "id",
    "title",
    "article",
    "method",
    "rule",
    "verdict",
    "summary",
    "numbers",
    "figures",
    "runtime_s",
    "seed",
)
#: Required top-level keys of claims.json.
DOCUMENT_KEYS: tuple[str, ...] = (
    "version",
    "created",
    "quick",
    "seed",
    "device",
    "torch",
    "numpy",
    "python",
    "total_runtime_s",
    "claims",
)


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy and torch scalars/arrays to lists, non-finite floats to strings.

    Examples:
        >>> jsonable({"a": np.float32(0.5), "b": (1, float("inf")), "c": np.arange(2)})
        {'a': 0.5, 'b': [1, 'inf'], 'c': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def build_document(*, quick: bool, seed: int, device: str) -> dict[str, Any]:
    """The top of claims.json: run settings and versions, no claims yet."""
    import torch

    from checkerscope import __version__

    return {
        "version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": bool(quick),
        "seed": int(seed),
        "device": device,
        # training results depend on the reduction order, so on the intra-op thread count
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "checkerscope": __version__,
        "total_runtime_s": 0.0,
        "complete": False,
        "claims": [],
    }


def _claim_fields(claim_id: str, claim: Claim | None) -> dict[str, Any]:
    if claim is None:
        return {
            "id": claim_id,
            "title": FALLBACK_TITLES.get(claim_id, claim_id),
            "article": "",
            "method": "",
            "rule": "",
        }
    return {
        "id": claim.id,
        "title": claim.title,
        "article": claim.article,
        "method": claim.method,
        "rule": claim.rule,
    }


def claim_entry(
    result: ClaimResult,
    *,
    figures: list[str],
    runtime_s: float,
    seed: int,
    notes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The claims.json entry of a finished experiment."""
    entry = _claim_fields(result.claim.id, result.claim)
    entry.update(
        verdict=result.verdict,
        summary=result.summary,
        numbers=jsonable(result.numbers),
        figures=list(figures),
        runtime_s=round(float(runtime_s), 3),
        seed=int(seed),
    )
    if notes:
        entry["notes"] = {str(k): str(v) for k, v in notes.items()}
    return entry


def error_entry(
    claim_id: str,
    claim: Claim | None,
    exc: BaseException,
    trace: str,
    runtime_s: float,
    seed: int,
) -> dict[str, Any]:
    """The claims.json entry of an experiment that raised: no verdict, the error kept."""
    entry = _claim_fields(claim_id, claim)
    entry.update(
        verdict="error",
        summary=f"the experiment raised {type(exc).__name__}: {exc}",
        numbers={},
        figures=[],
        runtime_s=round(float(runtime_s), 3),
        seed=int(seed),
        error="".join(trace.strip().splitlines(keepends=True)[-12:]),
    )
    return entry


def not_run_entry(claim_id: str, reason: str) -> dict[str, Any]:
    """The claims.json entry of a claim whose experiment is not available."""
    entry = _claim_fields(claim_id, None)
    entry.update(
        verdict="not run", summary=reason, numbers={}, figures=[], runtime_s=0.0, seed=None
    )
    return entry


def read_claims_json(path: str | Path) -> dict[str, Any] | None:
    """The document of an earlier run's ``claims.json``, or ``None`` when there is none.

    Raises:
        CheckerscopeError: the file exists but is not a claims document (then a run must not
            replace it without being told to).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckerscopeError(
            f"'{display_name(path)}' is not a claims.json checkerscope wrote ({type(exc).__name__})"
        ) from None
    claims = document.get("claims") if isinstance(document, dict) else None
    if not isinstance(claims, list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) and "verdict" in c for c in claims
    ):
        raise CheckerscopeError(
            f"'{display_name(path)}' is not a claims.json checkerscope wrote (no list of claims)"
        )
    return document


def write_claims_json(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write the document as strict JSON (atomically: readers never see half a file)."""
    path = Path(path)
    write_atomic(path, json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n")
    return path


# --------------------------------------------------------------------------- HTML


def headline(entry: Mapping[str, Any]) -> str:
    """The key number of a claims.json entry, for tables.

    A claim module names it with ``numbers["headline"]`` (a short string); otherwise
    the first scalar number is shown.

    Examples:
        >>> headline({"numbers": {"headline": "4:1 in 2-D"}})
        '4:1 in 2-D'
        >>> headline({"numbers": {"runs": [1, 2], "gap_db": 12.3456}})
        'gap_db=12.35'
        >>> headline({"numbers": {}})
        ''
    """
    numbers = entry.get("numbers") or {}
    if isinstance(numbers.get("headline"), str):
        return numbers["headline"]
    for name, value in numbers.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        if isinstance(value, str) and value in ("inf", "-inf"):
            return f"{name}={value}"
    return ""


def _report_module() -> Any:
    """The shared page builder, or ``None`` when it is unavailable (the page degrades)."""
    try:
        import checkerscope.report as shared
    except ImportError:
        return None
    needed = ("html_page", "html_table", "png_data_uri", "verdict_badge", "section")
    return shared if all(hasattr(shared, n) for n in needed) else None


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(rows: list[list[str]], headers: list[str], shared: Any) -> str:
    """Rows of already-escaped HTML cells."""
    if shared is not None:
        return shared.html_table(
            [[shared.Markup(cell) for cell in row] for row in rows],
            [shared.Markup(h) for h in headers],
        )
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(verdict: str, shared: Any) -> str:
    if shared is not None:
        return shared.verdict_badge(verdict)
    return f'<span class="verdict">{_esc(verdict)}</span>'


def _data_uri(path: Path, shared: Any) -> str:
    if shared is not None:
        return shared.png_data_uri(path)
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _section(title: str, body: str, anchor: str, shared: Any) -> str:
    if shared is not None:
        return shared.section(title, body, id=anchor)
    return f'<section id="{_esc(anchor)}"><h2>{_esc(title)}</h2>{body}</section>'


def _flatten(numbers: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested numbers as (dotted name, leaf) pairs; long lists stay whole."""
    if isinstance(numbers, Mapping):
        items: list[tuple[str, Any]] = []
        for key, value in numbers.items():
            items.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return items
    return [(prefix, numbers)]


def _format_leaf(value: Any) -> str:
    """A number, or a list of numbers, as a person reads it (``inf`` unquoted).

    Examples:
        >>> _format_leaf([1, 0.123456, "inf"])
        '[1, 0.123, inf]'
        >>> _format_leaf(2.0)
        '2'
    """
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
            shown = ", ".join(_format_leaf(v) for v in value[:16])
            more = f", ... ({len(value)} values)" if len(value) > 16 else ""
            return f"[{shown}{more}]"
        text = json.dumps(value)
        return text if len(text) <= 240 else text[:237] + "..."
    return str(value)


def _claim_body(entry: Mapping[str, Any], out_dir: Path, shared: Any) -> str:
    parts = [
        f"<p>{_badge(entry['verdict'], shared)} <strong>{_esc(headline(entry))}</strong></p>",
        f"<p>{_esc(entry.get('summary', ''))}</p>",
    ]
    definitions = [
        ("The article says", entry.get("article")),
        ("Measured here", entry.get("method")),
        ("Verdict rule (fixed before the run)", entry.get("rule")),
    ]
    parts.append(
        "<dl>"
        + "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(v)}</dd>" for t, v in definitions if v)
        + "</dl>"
    )
    if entry.get("error"):
        parts.append(f"<pre>{_esc(entry['error'])}</pre>")
    for figure in entry.get("figures") or []:
        path = Path(figure) if Path(figure).is_absolute() else out_dir / figure
        if not path.is_file():
            continue
        if shared is not None and hasattr(shared, "figure"):
            parts.append(shared.figure(path, f"{entry['id']}: {path.stem}", caption=figure))
        else:
            parts.append(
                f'<figure><img src="{_data_uri(path, shared)}" alt="{_esc(path.name)}" '
                f'style="max-width:100%"><figcaption>{_esc(figure)}</figcaption></figure>'
            )
    notes = entry.get("notes") or {}
    rows = [
        [f"<code>{_esc(name)}</code>", _esc(_format_leaf(value)), _esc(_note_for(name, notes))]
        for name, value in _flatten(entry.get("numbers") or {})
        if name != "headline"
    ]
    headers = ["number", "value", "what it means"]
    if rows:
        parts.append(_table(rows[:_ROWS_SHOWN], headers, shared))
    if len(rows) > _ROWS_SHOWN:
        parts.append(
            f"<details><summary>{len(rows) - _ROWS_SHOWN} more numbers</summary>"
            f"{_table(rows[_ROWS_SHOWN:], headers, shared)}</details>"
        )
    parts.append(
        f"<p><small>runtime {entry.get('runtime_s', 0):.1f} s, seed {entry.get('seed')}"
        + ("" if "quick" not in entry else f", {'quick' if entry['quick'] else 'full'} mode")
        + "</small></p>"
    )
    return "\n".join(parts)


def _note_for(name: str, notes: Mapping[str, str]) -> str:
    """The note of the longest dotted prefix of ``name`` that has one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in notes:
            return notes[key]
    return ""


def render_report_html(document: Mapping[str, Any], out_dir: str | Path) -> str:
    """The self-contained report page of a run (figures read from ``out_dir``)."""
    out_dir = Path(out_dir)
    shared = _report_module()
    claims = list(document.get("claims", []))
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("agrees", "partly")}
    mode = _modes(claims, bool(document.get("quick")))
    seeds = sorted({str(c.get("seed")) for c in claims if c.get("seed") is not None})
    seed = ", ".join(seeds) if seeds else str(document.get("seed"))
    subtitle = (
        f"{mode}, seed {seed}, device {document.get('device')}; "
        f"torch {document.get('torch')}, numpy {document.get('numpy')}, "
        f"python {document.get('python')}; {document.get('total_runtime_s', 0):.0f} s; "
        f"{counts['agrees']} of {len(claims)} claims agree, {counts['partly']} partly"
        + ("" if document.get("complete", True) else " (run incomplete)")
    )
    table = _table(
        [
            [
                f'<a href="#{_esc(c["id"])}">{_esc(c["id"])}</a>',
                _esc(c.get("title", "")),
                _badge(c["verdict"], shared),
                _esc(headline(c)),
                f"{c.get('runtime_s', 0):.1f}\u00a0s",
            ]
            for c in claims
        ],
        ["claim", "title", "verdict", "key number", "time"],
        shared,
    )
    intro = (
        "<p>Each claim of <em>Deconvolution and Checkerboard Artifacts</em> (Odena, Dumoulin, "
        "Olah, Distill 2016) measured by <code>checkerscope reproduce</code>. Each verdict is "
        "decided by a rule written in the experiment before its numbers were seen; where a "
        "rule or measure was revised after a run, its text says so and the first measure's "
        "numbers are kept. "
        "Scores are in dB: the energy at the period's frequencies over what the neighbouring "
        "frequencies predict (0 dB: no grid; 10 dB: ten times the expected energy).</p>"
    )
    body = [intro, _section("Claims", table, "claims", shared)]
    body.extend(
        _section(
            f"{c['id']}: {c.get('title', '')}", _claim_body(c, out_dir, shared), c["id"], shared
        )
        for c in claims
    )
    title = "checkerscope: the article's claims, measured"
    if shared is not None:
        return shared.html_page(title, "\n".join(body), subtitle=subtitle)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_esc(title)}</title></head>'
        f"<body><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p>{''.join(body)}</body></html>"
    )


def _modes(claims: list[Mapping[str, Any]], default_quick: bool) -> str:
    """``"quick mode"``, ``"full mode"`` or, for a folder that holds both, which is which.

    Examples:
        >>> _modes([{"id": "C1", "quick": False}, {"id": "C5", "quick": True}], False)
        'full mode (quick mode: C5)'
    """
    quick = [c["id"] for c in claims if c.get("quick", default_quick)]
    if not quick:
        return "full mode"
    if len(quick) == len(claims):
        return "quick mode"
    return f"full mode (quick mode: {', '.join(quick)})"


def write_report_html(document: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Render and write ``out_dir/report.html``."""
    path = Path(out_dir) / "report.html"
    write_atomic(path, render_report_html(document, out_dir))
    return path
