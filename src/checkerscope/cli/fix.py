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
  checkerscope fix zoo:patchgan70 --downsample --blur-first --min-channels 4 --out d.pt
  checkerscope audit dcgan64_fixed.pt --input-shape 1,100,1,1
  checkerscope fix models.py:Generator --checkpoint G.pth --input-shape 1,3,64,64 \
      --weights project --out fixed.pt
  checkerscope fix trained.pt --input-shape 1,3,32,32 --weights project \
      --calibration photos/ --distill photos/ --steps 1000 --out fixed.pt

The fixed model is saved whole (torch.save(model)); loading it needs the classes of the
original model importable. Replaced layers are freshly initialised (--weights fresh: train
the fixed model) or, for a trained model, projected from the layers they replace
(--weights project; --calibration fits them to the original's layer outputs on DATA,
--distill then trains the fixed model to match the original's outputs minus their grid).
DATA is a folder of images (model inputs in [0, 1], cropped to --input-shape), a .pt file
holding a tensor of inputs, or "noise" (data-free: random latents or smooth 1/f images).
Importing MODULE:CALLABLE runs its code, as torch.hub does.

exit status: 0 the fixed model is clean, 1 artifacts remain (or, after --distill, the
layers cannot be replaced faithfully), 2 bad input
"""


def register(subparsers: Any) -> None:
    from checkerscope.cli.audit import add_checkpoint_option

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
    add_checkpoint_option(p)
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
    p.add_argument(
        "--blur-first",
        action="store_true",
        help="with --downsample: blur before the strided conv instead of running it at "
        "stride 1 (about 1.1x the conv's cost instead of 4x)",
    )
    p.add_argument(
        "--skip-first",
        action="store_true",
        help="with --downsample: leave the first strided layer (the stem) as it is",
    )
    p.add_argument(
        "--min-channels",
        type=int,
        default=0,
        metavar="N",
        help="with --downsample: leave strided convs with fewer than N input channels",
    )
    p.add_argument(
        "--weights",
        choices=("fresh", "project"),
        default="fresh",
        help="replaced layers: fresh init, or projected from the trained layers (default fresh)",
    )
    p.add_argument(
        "--calibration",
        metavar="DATA",
        help="with --weights project: fit replacements on DATA (folder, .pt tensor or noise)",
    )
    p.add_argument(
        "--distill", metavar="DATA", help="distil the fixed model from the original on DATA"
    )
    p.add_argument("--steps", type=int, default=1000, help="distillation steps (default 1000)")
    p.add_argument("--seeds", type=int, default=4, help="random inits to score (default 4)")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write an HTML report with before/after (never over a file that is not an "
        "earlier report, unless --force)",
    )
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.set_defaults(func=run)


def _headline(report: Any, trained: bool = False) -> tuple[str, float | None, int | None]:
    probe = report.init_score or report.grad_score
    if trained and report.given_score is not None:
        return "given weights score", report.given_score.median_db, report.given_score.period
    if probe is None:
        return report.verdict, None, None
    label = "init score" if probe is report.init_score else "gradient score"
    return label, probe.median_db, probe.period


def run(args: argparse.Namespace) -> int:
    import torch

    from checkerscope._files import display_name
    from checkerscope.auditing import fix
    from checkerscope.auditing.wrappers import picklable
    from checkerscope.cli._common import (
        OutputPath,
        check_outputs,
        is_checkerscope_html,
        print_json,
        quoted,
        write_atomic,
    )
    from checkerscope.cli._usercode import one_line, user_code
    from checkerscope.cli.audit import audit_with_progress, load_target, target_files

    if args.target.endswith(".onnx"):
        raise CheckerscopeError("fix needs a torch model; ONNX files can only be audited")
    if args.seeds < 1 or args.seeds > 1000:
        raise CheckerscopeError(f"--seeds must be between 1 and 1000, got {args.seeds}")
    if args.weights == "fresh" and args.calibration:
        raise CheckerscopeError("--calibration needs --weights project")
    if not 0 <= args.steps <= 10**7:
        raise CheckerscopeError(f"--steps must be between 0 and 10**7, got {args.steps}")
    if not 0 <= args.min_channels <= 10**6:
        raise CheckerscopeError(
            f"--min-channels must be between 0 and 10**6, got {args.min_channels}"
        )
    if (args.blur_first or args.skip_first or args.min_channels) and not args.downsample:
        raise CheckerscopeError("--blur-first, --skip-first and --min-channels need --downsample")
    data_inputs = [d for d in (args.calibration, args.distill) if d not in (None, "noise")]
    check_outputs(
        [
            OutputPath("--out", args.out, "model"),
            OutputPath("--html", args.html, "report", is_checkerscope_html),
        ],
        inputs=[
            *target_files(args.target),
            *data_inputs,
            *([args.checkpoint] if args.checkpoint else []),
        ],
        force=args.force,
    )
    model, example, name = load_target(args.target, args.input_shape, args.checkpoint)
    calibration = _data(args.calibration, example, "--calibration", crops=True)
    distill_data = _data(args.distill, example, "--distill", crops=False)
    with user_code(f"running {name} from {quoted(args.target)} (forward passes)", capture=False):
        before = audit_with_progress(
            f"checkerscope fix {name}: audit", model, example, args.seeds, name
        )
        fixed = fix(
            model,
            method=args.method,
            example_input=example,
            downsample=args.downsample,
            blur_first=args.blur_first,
            skip_first=args.skip_first,
            min_channels=args.min_channels,
            weights=args.weights,
            calibration=calibration,
        )
        distilled = None
        if distill_data is not None:
            distilled = _distill(fixed, model, distill_data, example, args.steps, args.json)
        after = audit_with_progress(
            f"checkerscope fix {name}: audit of the fixed model",
            fixed,
            example,
            args.seeds,
            f"{name} (fixed)",
        )
    saved, baked = picklable(fixed)
    buffer = io.BytesIO()
    try:
        torch.save(saved, buffer)
    except Exception as exc:  # a lambda or a local class in the user's model, say
        raise CheckerscopeError(
            f"the fixed model cannot be saved whole with torch.save: {one_line(exc)} (nothing "
            "written; use cs.fix in Python and save its state_dict)"
        ) from exc
    write_atomic(args.out, buffer.getvalue())
    if args.html:
        before.to_html(args.html, fixed=after)
        print(f"wrote {display_name(args.html)}", file=sys.stderr)
    label, db_before, period = _headline(before, trained=args.weights == "project")
    probe_after = {
        "init score": after.init_score,
        "given weights score": after.given_score,
    }.get(label, after.grad_score)
    db_after = probe_after.db_by_period.get(period) if probe_after and period else None
    notes = list(getattr(fixed, "checkerscope_fix_notes", []))
    if baked:
        notes.append(
            f"saved with {baked} parametrization(s) (weight or spectral norm) folded into plain "
            "weights: torch.save cannot pickle parametrized modules; the outputs are the same, "
            "re-apply the norm to train further"
        )
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
                "weights": args.weights,
                "fidelity_db": getattr(fixed, "checkerscope_fidelity_db", None),
                "distill": _distill_dict(distilled),
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
        if distilled is not None:
            print(distilled)
        print(f"saved {display_name(args.out)}")
    unfaithful = distilled is not None and not distilled.faithful
    return 1 if after.has_artifacts or unfaithful else 0


def _data(text: str | None, example: Any, flag: str, crops: bool) -> Any:
    """``None``, ``"noise"``, a tensor from a .pt file, or a folder (crops of it when
    ``crops``, else the path, which distill crops itself)."""
    from pathlib import Path

    import torch

    if text is None or text == "noise":
        return text
    path = Path(text)
    if path.is_dir():
        if not crops:
            return str(path)
        from checkerscope.auditing.distillation import crops_from_folder
        from checkerscope.auditing.projection import NOISE_CALIBRATION_COUNT

        return crops_from_folder(path, example, NOISE_CALIBRATION_COUNT, seed=0)
    if path.suffix in (".pt", ".pth") and path.is_file():
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckerscopeError(f"{flag} {text!r}: cannot load a tensor: {reason}") from exc
        if not isinstance(data, torch.Tensor) or data.ndim < 2:
            raise CheckerscopeError(f"{flag} {text!r} must hold a tensor of inputs, batch first")
        return data
    raise CheckerscopeError(
        f"{flag} {text!r}: expected a folder of images, a .pt file holding a tensor, or 'noise'"
    )


def _distill(fixed: Any, model: Any, data: Any, example: Any, steps: int, quiet: bool) -> Any:
    import warnings

    from checkerscope.auditing.distillation import distill

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the result says it: printed below
        return distill(fixed, model, data, steps=steps, example_input=example, progress=not quiet)


def _distill_dict(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "steps": result.steps,
        "best_step": result.best_step,
        "interrupted": result.interrupted,
        "seconds": result.seconds,
        "period": list(result.period),
        "psnr_teacher_before": result.psnr_teacher_before,
        "psnr_teacher_after": result.psnr_teacher_after,
        "psnr_degridded_before": result.psnr_degridded_before,
        "psnr_degridded_after": result.psnr_degridded_after,
        "teacher_db": result.teacher_db,
        "student_db_before": result.student_db_before,
        "student_db_after": result.student_db_after,
        "faithful": result.faithful,
        "message": result.message,
    }
