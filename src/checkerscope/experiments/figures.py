"""Plotting helpers shared by the claim experiments.

Every helper builds a :class:`matplotlib.figure.Figure` without touching
``pyplot``'s global state (experiments may run in worker threads and tests in
parallel), and :func:`save_figure` writes it as a PNG and closes it. The look is
shared so the report reads as one document: white background, one accent colour
per variant, values printed on the bars.

Examples:
    >>> import numpy as np
    >>> fig = bar_chart({"deconv": [3.0, 4.0], "resize": [0.1, 0.2]}, ylabel="dB")
    >>> len(fig.axes)
    1
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from checkerscope._extras import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:  # one line naming the extra when matplotlib is missing
    Figure = require("matplotlib.figure", "data", "the reproduction's figures").Figure

__all__ = [
    "PALETTE",
    "bar_chart",
    "contrast_stretch",
    "heatmaps",
    "line_chart",
    "log_spectrum",
    "sample_grid",
    "save_figure",
    "to_display",
]

#: Colours for variants, in order (colour-blind friendly, Okabe-Ito).
PALETTE: tuple[str, ...] = (
    "#D55E00",
    "#0072B2",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)

_DPI = 110


def save_figure(fig: Figure, out_dir: str | Path, name: str) -> Path:
    """Write ``fig`` as ``out_dir/name`` (``.png`` added when missing) and return the path.

    Args:
        fig: the figure to write; it is closed (its canvas released) afterwards.
        out_dir: folder, created when missing.
        name: file name, e.g. ``"c05_samples"``.

    Returns:
        The path of the PNG file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=_DPI, facecolor="white", bbox_inches="tight")
    fig.clear()
    return path


def contrast_stretch(
    image: np.ndarray, low: float = 1.0, high: float = 99.0, *, per_channel: bool = False
) -> np.ndarray:
    """Map the ``low``-``high`` percentile range of ``image`` onto [0, 1], clipping the rest.

    Used to make faint periodic structure visible; the figure caption must say so.

    Args:
        image: any real array.
        low: lower percentile.
        high: upper percentile.
        per_channel: stretch each slice along the last axis on its own (for HWC colour).

    Returns:
        A float array in [0, 1] of the same shape.

    Examples:
        >>> contrast_stretch(np.array([0.0, 5.0, 10.0]), 0, 100).tolist()
        [0.0, 0.5, 1.0]
        >>> contrast_stretch(np.zeros(3)).tolist()
        [0.5, 0.5, 0.5]
    """
    image = np.asarray(image, dtype=np.float64)
    if per_channel and image.ndim == 3:
        return np.stack(
            [contrast_stretch(image[..., c], low, high) for c in range(image.shape[-1])], axis=-1
        )
    lo, hi = np.percentile(image, [low, high])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.full_like(image, 0.5)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0)


def to_display(image: Any) -> np.ndarray:
    """Turn a tensor or array into something ``imshow`` takes: (H, W) or (H, W, 3).

    Accepts (H, W), (C, H, W) with C in {1, 3} (channels first, as torch uses) and
    (H, W, C). Torch tensors are detached and moved to the CPU.

    Examples:
        >>> to_display(np.zeros((3, 4, 5))).shape
        (4, 5, 3)
        >>> to_display(np.zeros((1, 4, 5))).shape
        (4, 5)
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W) or (C, H, W), got shape {array.shape}")
    return array


def sample_grid(
    rows: Mapping[str, Sequence[Any]],
    *,
    title: str = "",
    stretch: bool = True,
    zoom: int | None = None,
    cmap: str = "gray",
    caption: str = "",
) -> Figure:
    """A grid of images, one labelled row per variant.

    Args:
        rows: variant name -> sequence of images (see :func:`to_display`).
        title: figure title.
        stretch: contrast-stretch each image (1st-99th percentile) so faint grids show;
            say so in ``caption``.
        zoom: crop each image to a central ``zoom`` x ``zoom`` window (a close-up makes
            a 2-pixel grid visible at report size; the window starts at a multiple of 8 so
            grids of period 2, 4 and 8 keep their phase); ``None`` shows the whole image.
        cmap: colour map for single-channel images.
        caption: small text under the grid.

    Returns:
        The figure.

    Examples:
        >>> fig = sample_grid({"a": [np.eye(4)] * 3, "b": [np.ones((3, 4, 4))]})
        >>> len(fig.axes)
        6
    """
    names = list(rows)
    ncols = max((len(rows[n]) for n in names), default=1)
    fig = Figure(figsize=(1.7 * ncols + 1.2, 1.8 * len(names) + 0.6 + 0.25 * bool(caption)))
    axes = fig.subplots(len(names), ncols, squeeze=False)
    for r, name in enumerate(names):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(rows[name]):
                ax.axis("off")
                continue
            image = to_display(rows[name][c])
            if zoom is not None:
                top = max(0, (image.shape[0] - zoom) // 2) // 8 * 8
                left = max(0, (image.shape[1] - zoom) // 2) // 8 * 8
                image = image[top : top + zoom, left : left + zoom]
            if stretch:
                image = contrast_stretch(image, per_channel=image.ndim == 3)
            else:
                image = np.clip(image, 0.0, 1.0)
            ax.imshow(image, cmap=cmap, interpolation="nearest", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    if caption:
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.03 if caption else 0, 1, 1))
    return fig


def bar_chart(
    groups: Mapping[str, Sequence[float] | float],
    *,
    ylabel: str = "",
    title: str = "",
    threshold: float | None = None,
    threshold_label: str = "",
    log: bool = False,
    annotate: bool = True,
    statistic: str = "mean",
) -> Figure:
    """Bars of the mean (or median) of each group, with the individual values as dots.

    Args:
        groups: label -> values (one per seed / sample) or a single value.
        ylabel: y-axis label.
        title: figure title.
        threshold: draw a dashed horizontal line at this value (e.g. the verdict rule's).
        threshold_label: legend text for the line.
        log: log-scaled y axis.
        annotate: print the bar's value above it.
        statistic: ``"mean"`` or ``"median"``: what the bar shows.

    Returns:
        The figure.
    """
    labels = list(groups)
    values = [np.atleast_1d(np.asarray(groups[k], dtype=np.float64)) for k in labels]
    centre = np.median if statistic == "median" else np.mean
    means = [float(centre(v)) if v.size else float("nan") for v in values]
    fig = Figure(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 3.6))
    ax = fig.subplots()
    x = np.arange(len(labels))
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
    ax.bar(x, means, color=colours, alpha=0.75, width=0.65)
    for i, v in enumerate(values):
        if v.size > 1:
            jitter = np.linspace(-0.15, 0.15, v.size)
            ax.scatter(x[i] + jitter, v, s=9, color="black", zorder=3, linewidths=0)
    if annotate:
        for i, m in enumerate(means):
            if np.isfinite(m):
                # above the highest dot (below the lowest for negative bars)
                anchor = max(m, float(values[i].max())) if m >= 0 else min(m, values[i].min())
                ax.annotate(
                    _format_number(m),
                    (x[i], anchor),
                    textcoords="offset points",
                    xytext=(0, 3 if m >= 0 else -11),
                    ha="center",
                    fontsize=8,
                )
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=threshold_label)
        if threshold_label:
            ax.legend(fontsize=8, loc="best")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels(
        labels,
        fontsize=8,
        rotation=20 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
    )
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def line_chart(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> Figure:
    """One line per series over a shared x axis, with optional shaded (low, high) bands.

    Examples:
        >>> fig = line_chart([0, 1, 2], {"a": [1, 2, 3]}, bands={"a": ([0, 1, 2], [2, 3, 4])})
        >>> len(fig.axes[0].lines)
        1
    """
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    for i, (name, ys) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(x[: len(ys)], ys, label=name, color=colour, linewidth=1.6)
        if bands and name in bands:
            low, high = bands[name]
            ax.fill_between(x[: len(low)], low, high, color=colour, alpha=0.18, linewidth=0)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def heatmaps(
    panels: Mapping[str, np.ndarray],
    *,
    title: str = "",
    annotate: bool = True,
    cmap: str = "viridis",
    ncols: int | None = None,
    shared_scale: bool = False,
) -> Figure:
    """Small heat maps side by side (overlap patterns, fingerprints); 1-D arrays become strips.

    Args:
        panels: panel title -> array (1-D or 2-D).
        title: figure title.
        annotate: print each cell's value when the array is small (<= 16 x 16).
        cmap: colour map.
        ncols: panels per row (default: all in one row, up to 5).
        shared_scale: one colour scale for all panels (otherwise each its own min..max).

    Examples:
        >>> fig = heatmaps({"k3 s2": np.array([[1, 2], [2, 4]]), "1-D": np.array([1, 2])})
        >>> len(fig.axes)
        2
    """
    names = list(panels)
    arrays = [np.atleast_2d(np.asarray(panels[n], dtype=np.float64)) for n in names]
    ncols = ncols or min(len(names), 5) or 1
    nrows = -(-len(names) // ncols) if names else 1
    fig = Figure(figsize=(2.5 * ncols + 0.4, 2.5 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    vmin = min((a.min() for a in arrays), default=0.0) if shared_scale else None
    vmax = max((a.max() for a in arrays), default=1.0) if shared_scale else None
    for i, ax in enumerate(axes.flat):
        if i >= len(arrays):
            ax.axis("off")
            continue
        array = arrays[i]
        shown = ax.imshow(array, cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
        ax.set_title(names[i], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if annotate and array.shape[0] <= 16 and array.shape[1] <= 16:
            size = 8 if max(array.shape) <= 8 else 6
            for (r, c), value in np.ndenumerate(array):
                red, green, blue, _ = shown.cmap(shown.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(
                    c,
                    r,
                    _format_number(value),
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if dark else "black",
                )
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def log_spectrum(image: np.ndarray) -> np.ndarray:
    """The centred log10 power spectrum of a 2-D array (mean removed), for display.

    Examples:
        >>> spec = log_spectrum(np.indices((8, 8)).sum(0) % 2 * 1.0)
        >>> int(np.argmax(spec)) == 0  # the checkerboard's (N/2, N/2) bin lands at the corner
        True
    """
    image = np.asarray(image, dtype=np.float64)
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    return np.log10(np.fft.fftshift(power) + 1e-12 * max(power.max(), 1e-30))


def _format_number(value: float) -> str:
    value = float(value)
    if not np.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if value == int(value) and abs(value) < 1e5:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
