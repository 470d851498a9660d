"""``checkerscope overlap``: the exact overlap pattern of a stack of layers.

Prints the steady-state pattern as a shaded grid with its numbers, then period,
structural period and unevenness; ``--json`` prints the same as JSON and ``--png``
writes a heat map.
"""

from __future__ import annotations

import argparse
import io
import math
from typing import Any

import numpy as np

from checkerscope._extras import pyplot
from checkerscope.cli._common import (
    OutputPath,
    check_outputs,
    is_checkerscope_png,
    print_json,
    write_atomic,
)
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import (
    Conv,
    Deconv,
    Direction,
    LayerSpec,
    OverlapPattern,
    overlap,
    parse_stack,
)

# The largest pattern shown in the terminal, per axis, and annotated in the PNG.
SHOW_LIMIT = 16
ANNOTATE_LIMIT = 16
_SHADES = " ░▒▓█"

EXAMPLES = """\
examples:
  checkerscope overlap -k 3 -s 2                  # 2:1 per axis, 4:1 in 2-D
  checkerscope overlap -k 3 -s 2 --layers 2 --dims 1
  checkerscope overlap -k 4 -s 2                  # kernel divisible by stride: even
  checkerscope overlap -k 3 -s 2 --conv --backward   # a strided conv's input gradient
  checkerscope overlap --stack "deconv:k3:s2, deconv:k3:s2, deconv:k3:s1"
  checkerscope overlap --stack "resize:x2:nearest, conv:k3:p1" --json
  checkerscope overlap -k 3 -s 2 --layers 3 --png overlap.png

stack syntax: layers separated by commas; each is a name and parameters separated by
colons or spaces. Names: deconv, conv, resize, pixelshuffle, avgpool, maxpool.
Parameters: kN kernel, sN stride, pN padding, opN output padding, dN dilation,
xN scale (resize, pixelshuffle), nearest|bilinear (resize). Per-axis values: k3x5.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "overlap",
        help="exact overlap pattern of deconvolutions and other layers",
        description=(
            "Show how unevenly a stack of layers paints its output: the steady-state "
            "coverage with all-ones kernels and an input of ones (integer path counts for "
            "deconvolutions), its period and its unevenness (max/min; 1 is even). "
            "Without --stack, the stack is LAYERS identical deconvolutions (or convolutions "
            "with --conv)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-k", "--kernel", type=int, help="kernel size (default 3)")
    parser.add_argument("-s", "--stride", type=int, help="stride (default 2)")
    parser.add_argument("--padding", type=int, help="padding (default 0)")
    parser.add_argument(
        "--output-padding", type=int, help="output padding of the deconvolutions (default 0)"
    )
    parser.add_argument("--dilation", type=int, help="dilation (default 1)")
    parser.add_argument(
        "--layers", type=int, default=1, metavar="N", help="number of identical layers (default 1)"
    )
    parser.add_argument(
        "--conv",
        action="store_true",
        help="strided convolutions instead of deconvolutions (use with --backward)",
    )
    parser.add_argument(
        "--stack",
        metavar="SPEC",
        help='any stack, e.g. "deconv:k3:s2, deconv:k3:s2, conv:k3" (see below)',
    )
    parser.add_argument(
        "--dims", type=int, choices=(1, 2, 3), default=2, help="spatial axes (default 2)"
    )
    parser.add_argument(
        "--backward",
        action="store_true",
        help="coverage of the gradient with respect to the input instead of the output",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--png",
        metavar="FILE",
        help="write a heat map of the pattern (never over a file checkerscope did not write, "
        "unless --force)",
    )
    parser.set_defaults(func=run)


def stack_from_args(args: argparse.Namespace) -> tuple[LayerSpec, ...]:
    """The layer stack the options describe."""
    single = {
        "-k": args.kernel,
        "-s": args.stride,
        "--padding": args.padding,
        "--output-padding": args.output_padding,
        "--dilation": args.dilation,
    }
    if args.stack is not None:
        given = [name for name, value in single.items() if value is not None]
        if given or args.layers != 1 or args.conv:
            given += ["--layers"] * (args.layers != 1) + ["--conv"] * args.conv
            raise CheckerscopeError(
                f"--stack describes the whole stack; drop {', '.join(given)} "
                "(write them into the stack instead)"
            )
        return parse_stack(args.stack)
    if args.layers < 1:
        raise CheckerscopeError(f"--layers must be >= 1, got {args.layers}")
    kernel = 3 if args.kernel is None else args.kernel
    stride = 2 if args.stride is None else args.stride
    padding = args.padding or 0
    dilation = 1 if args.dilation is None else args.dilation
    if args.conv:
        if args.output_padding is not None:
            raise CheckerscopeError("--output-padding applies to deconvolutions, not --conv")
        layer: LayerSpec = Conv(kernel, stride, padding, dilation)
    else:
        layer = Deconv(kernel, stride, padding, args.output_padding or 0, dilation)
    return (layer,) * args.layers


def run(args: argparse.Namespace) -> int:
    layers = stack_from_args(args)
    check_outputs(
        [OutputPath("--png", args.png, "heat map", is_checkerscope_png)], force=args.force
    )
    direction: Direction = "backward" if args.backward else "forward"
    result = overlap(layers, dims=args.dims, direction=direction)
    if args.png:
        write_atomic(args.png, render_png(result))
    if args.json:
        print_json(result.to_dict())
        return 0
    _print_pattern(result)
    if args.png:
        print(f"wrote {args.png}")
    return 0


# --------------------------------------------------------------------------------------
# terminal output
# --------------------------------------------------------------------------------------


def _cell_text(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _shade(value: float, high: float) -> str:
    if high <= 0:
        return _SHADES[0]
    level = math.ceil(value / high * (len(_SHADES) - 1) - 1e-9)
    return _SHADES[max(0, min(level, len(_SHADES) - 1))]


def shaded_grid(pattern: np.ndarray, limit: int = SHOW_LIMIT) -> list[list[tuple[str, float]]]:
    """Rows of (cell text, shade 0..1) for a 1-D or 2-D pattern, at most ``limit`` per axis.

    Each cell is a shade glyph and the value, so the grid reads without colour too.

    Examples:
        >>> [[text for text, _ in row] for row in shaded_grid(np.array([[4, 2], [2, 1]]))]
        [['█ 4', '▒ 2'], ['▒ 2', '░ 1']]
    """
    grid = np.atleast_2d(pattern)[:limit, :limit]
    high = float(np.max(pattern)) if pattern.size else 0.0
    texts = [[_cell_text(float(v)) for v in row] for row in grid]
    width = max(len(t) for row in texts for t in row)
    return [
        [
            (f"{_shade(float(v), high)} {t.rjust(width)}", float(v) / high if high > 0 else 0.0)
            for v, t in zip(row, text_row, strict=True)
        ]
        for row, text_row in zip(grid, texts, strict=True)
    ]


def _print_pattern(result: OverlapPattern) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True, markup=False)
    what = "input gradient" if result.direction == "backward" else "output"
    console.print(
        f"Overlap pattern of [{result.describe()}] ({result.dims}-D, coverage of the {what}, "
        "one period):"
    )
    slices = [result.pattern] if result.dims < 3 else list(result.pattern[:SHOW_LIMIT])
    for index, part in enumerate(slices):
        if result.dims == 3:
            console.print(f"  depth phase {index}:")
        for row in shaded_grid(part):
            line = Text("  ")
            for text, level in row:
                grey = int(40 + 200 * level)
                ink = "black" if level > 0.55 else "white"
                line.append(f" {text} ", style=f"{ink} on rgb({grey},{grey},{grey})")
            console.print(line)
    shown = [min(p, SHOW_LIMIT) for p in result.period]
    if shown != list(result.period):
        console.print(f"  (showing {'x'.join(map(str, shown))} of the period)")
    console.print(_summary_line(result))


def _summary_line(result: OverlapPattern) -> str:
    period = "x".join(map(str, result.period))
    structural = "x".join(map(str, result.structural_period))
    value = result.unevenness
    if math.isnan(value):
        verdict = "nothing reaches the output"
    elif math.isinf(value):
        verdict = "some pixels are never painted"
    elif value == 1.0:
        verdict = "even: no checkerboard from overlap"
    else:
        verdict = f"the most-covered pixel gets {value:.4g}x the least-covered"
    number = "inf" if math.isinf(value) else "nan" if math.isnan(value) else f"{value:.4g}"
    return f"period {period}, structural period {structural}, unevenness {number} ({verdict})"


# --------------------------------------------------------------------------------------
# PNG
# --------------------------------------------------------------------------------------


def render_png(result: OverlapPattern) -> bytes:
    """A heat map of the pattern (3-D: its depth slices side by side), as PNG bytes."""
    plt = pyplot("overlap --png")

    slices = [np.atleast_2d(result.pattern)]
    if result.dims == 3:
        slices = list(result.pattern[:8])
    high = float(np.max(result.pattern)) if result.pattern.size else 1.0
    figure, axes = plt.subplots(
        1, len(slices), figsize=(min(4 + 3 * len(slices), 20), 4.2), squeeze=False
    )
    for index, (ax, grid) in enumerate(zip(axes[0], slices, strict=True)):
        image = ax.imshow(grid, cmap="magma", vmin=0, vmax=max(high, 1e-12))
        if max(grid.shape) <= ANNOTATE_LIMIT:
            for (row, col), value in np.ndenumerate(grid):
                ink = "black" if value > 0.6 * high else "white"
                ax.text(col, row, _cell_text(float(value)), ha="center", va="center", color=ink)
        ax.set_xticks([])
        ax.set_yticks([])
        if result.dims == 3:
            ax.set_title(f"depth phase {index}", fontsize=9)
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="coverage")
    what = "input gradient" if result.direction == "backward" else "output"
    figure.suptitle(
        f"{result.describe()}  ({result.dims}-D {what})\n{_summary_line(result)}", fontsize=9
    )
    buffer = io.BytesIO()
    # the Software tag tells a later run that it may replace this file (see --force)
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": "checkerscope overlap"})
    plt.close(figure)
    return buffer.getvalue()
