"""``checkerscope fix``: replace a model's artifact-prone layers and show before/after scores."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from checkerscope.errors import CheckerscopeError

EXAMPLES = """\
examples:
  checkerscope fix zoo:dcgan64 --out dcgan64_fixed.pt
  checkerscope fix mypkg.models:make_generator --input-shape 1,100,1,1 --out fixed.pt
  checkerscope fix zoo:dcgan64_disc --downsample --out disc_fixed.pt --json
  checkerscope audit dcgan64_fixed.pt --input-shape 1,100,1,1

The fixed model is saved whole (torch.save(model)); loading it needs the classes of the
original model importable. Replaced layers are freshly initialised: train the fixed model.
Importing MODULE:CALLABLE runs its code, as torch.hub does.

exit status: 0 the fixed model is clean, 1 artifacts remain, 2 bad input
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fix",
        help="replace transposed convolutions (and strided convs) with artifact-free layers",
        description=(
            "Copy a model, replace every strided transposed convolution with a "
            "checkerscope.nn resize-convolution (or ICNR sub-pixel convolution) of identical "
            "output shape, do the same for Conv2d + PixelShuffle pairs, optionally give "
            "strided convolutions a BlurPool, save it, and print the audit scores before and "
            "after."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", help="zoo:NAME, MODULE:CALLABLE or model.pt")
    p.add_argument("--input-shape", metavar="SHAPE", help="example input shape, batch first")
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="where to save the fixed model (never over an existing file unless --force)",
    )
    p.add_argument("--method", choices=("resize", "subpixel"), default="resize")
    p.add_argument(
        "--downsample", action="store_true", help="also replace strided convs (conv + BlurPool)"
    )
    p.add_argument("--seeds", type=int, default=4, help="random inits to score (default 4)")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write an HTML report with before/after (never over a file that is not an "
        "earlier report, unless --force)",
    )
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.set_defaults(func=run)


def _headline(report: Any) -> tuple[str, float | None, int | None]:
    probe = report.init_score or report.grad_score
    if probe is None:
        return report.verdict, None, None
    label = "init score" if probe is report.init_score else "gradient score"
    return label, probe.median_db, probe.period


def run(args: argparse.Namespace) -> int:
    import torch

    from checkerscope._files import display_name
    from checkerscope.auditing import audit, fix
    from checkerscope.cli._common import (
        OutputPath,
        check_outputs,
        is_checkerscope_html,
        print_json,
        write_atomic,
    )
    from checkerscope.cli._usercode import user_code
    from checkerscope.cli.audit import load_target, target_files

    if args.target.endswith(".onnx"):
        raise CheckerscopeError("fix needs a torch model; ONNX files can only be audited")
    if args.seeds < 1 or args.seeds > 1000:
        raise CheckerscopeError(f"--seeds must be between 1 and 1000, got {args.seeds}")
    check_outputs(
        [
            OutputPath("--out", args.out, "model"),
            OutputPath("--html", args.html, "report", is_checkerscope_html),
        ],
        inputs=target_files(args.target),
        force=args.force,
    )
    model, example, name = load_target(args.target, args.input_shape)
    with user_code(f"running {name} (the audit's forward passes)"):
        before = audit(model, example, seeds=args.seeds, name=name)
        fixed = fix(model, method=args.method, example_input=example, downsample=args.downsample)
        after = audit(fixed, example, seeds=args.seeds, name=f"{name} (fixed)")
    buffer = io.BytesIO()
    torch.save(fixed, buffer)
    write_atomic(args.out, buffer.getvalue())
    if args.html:
        before.to_html(args.html, fixed=after)
        print(f"wrote {display_name(args.html)}", file=sys.stderr)
    label, db_before, period = _headline(before)
    probe_after = after.init_score if label == "init score" else after.grad_score
    db_after = probe_after.db_by_period.get(period) if probe_after and period else None
    notes = list(getattr(fixed, "checkerscope_fix_notes", []))
    if args.json:
        print_json(
            {
                "out": args.out,
                "method": args.method,
                "downsample": args.downsample,
                "replacements": notes,
                "before": before.to_dict(),
                "after": after.to_dict(),
                "score": label,
                "period": period,
                "db_before": db_before,
                "db_after": db_after,
            }
        )
    else:
        for line in notes:
            print(line)
        if db_before is not None and db_after is not None:
            print(
                f"{label} at period {period}: {db_before:+.1f} dB -> {db_after:+.1f} dB "
                f"({db_after - db_before:+.1f} dB)"
            )
        print(f"verdict: {before.verdict} -> {after.verdict}")
        print(f"saved {display_name(args.out)}")
    return 1 if after.has_artifacts else 0
