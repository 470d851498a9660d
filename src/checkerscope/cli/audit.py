"""``checkerscope audit``: which layers of a model paint a grid, at which periods, how strongly."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from checkerscope._progress import Progress
from checkerscope.cli._common import OutputPath, check_outputs, is_checkerscope_html, quoted
from checkerscope.cli._usercode import one_line, user_code
from checkerscope.errors import CheckerscopeError

EXAMPLES = """\
targets:
  zoo:NAME             a reference model of checkerscope.zoo (its native input shape)
  zoo:                 list the zoo (same as --list-zoo)
  MODULE:CALLABLE      a callable returning a model or a (model, example_input) pair;
                       MODULE is a dotted module importable from the current directory
                       or a path/to/file.py
  model.onnx           an ONNX file (needs the onnx extra; with onnxruntime its weights
                       are run on random inputs too, so the verdict matches torch's)
  model.pt             a whole module saved with torch.save (e.g. by `checkerscope fix`);
                       its classes are imported from the current folder or the file's

Loading MODULE:CALLABLE or a .pt file runs code from it, as torch.hub does: only audit
models you trust.

examples:
  checkerscope audit zoo:dcgan64
  checkerscope audit mypkg.models:make_generator --input-shape 1,100,1,1 --html audit.html
  checkerscope audit path/to/net.py:build --input-shape 1,3,256,256 --json
  checkerscope audit zoo:hifigan_msd --threads 1
  checkerscope audit generator.onnx --input-shape 1,100,1,1 --seeds 8
  checkerscope audit models.py:Generator --checkpoint G_ema.pth --input-shape 1,3,64,64

exit status: 0 clean, 1 artifacts found, 2 bad input
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit",
        help="find the layers that make checkerboard artifacts in a model, and measure them",
        description=(
            "Trace a model, list every layer that changes resolution with its overlap "
            "period, unevenness, verdict and fix, compound the whole path, and measure the "
            "checkerboard score at random init, with the given weights, and of input "
            "gradients for models that downsample. Importing MODULE:CALLABLE (or loading a "
            ".pt file) runs its code, as torch.hub does."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", nargs="?", help="zoo:NAME, MODULE:CALLABLE, model.onnx or model.pt")
    p.add_argument(
        "--input-shape",
        metavar="SHAPE",
        help="example input shape, batch first, e.g. 1,100,1,1 (not needed for zoo:; for "
        ".onnx only where the file leaves axes dynamic)",
    )
    add_checkpoint_option(p)
    p.add_argument("--seeds", type=int, default=4, help="random inits to score (default 4)")
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="structure only: no measurements, so only uneven overlap counts as artifacts",
    )
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML report (never over an input or a file that is not "
        "an earlier report, unless --force)",
    )
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument("--list-zoo", action="store_true", help="list the zoo models and exit")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- loading


def list_zoo() -> str:
    """The zoo as lines: name, kind, input shape, description."""
    from checkerscope import zoo

    entries = {**zoo.MODELS, **zoo.ARCHITECTURES}
    width = max(len(name) for name in entries)
    lines = []
    for title, group in (
        ("reference configurations", zoo.MODELS),
        ("real architectures, with the audit the overlap theory predicts", zoo.ARCHITECTURES),
    ):
        lines.append(f"{title}:")
        for name, entry in group.items():
            shape = ",".join(map(str, entry.input_shape))
            lines.append(f"  zoo:{name:<{width}}  {entry.kind:<16} {shape:<14} {entry.description}")
    return "\n".join(lines)


def _import_module(spec: str) -> Any:
    looks_like_file = spec.endswith(".py") or os.sep in spec or "/" in spec
    if looks_like_file:
        path = Path(spec)
        if not path.is_file():
            raise CheckerscopeError(f"no such Python file: {quoted(spec)}")
        # the file's own name, so that models saved from it (fix --out) load again from
        # the same folder; a prefixed one where that name is taken or not an identifier
        name = path.stem
        if not name.isidentifier() or name in sys.modules:
            name = f"checkerscope_user_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise CheckerscopeError(f"cannot import {quoted(spec)} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            with user_code(f"importing {quoted(spec)}", argv0=spec):
                module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    with user_code(f"importing module {spec!r}", argv0=spec):
        try:
            return importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
                raise CheckerscopeError(f"cannot import module {spec!r}: {exc}") from None
            raise


def _example_for(shape_text: str | None, what: str) -> Any:
    import torch

    from checkerscope.cli._common import parse_shape

    if shape_text is None:
        raise CheckerscopeError(f"{what} needs --input-shape (e.g. --input-shape 1,100,1,1)")
    return torch.randn(parse_shape(shape_text), generator=torch.Generator().manual_seed(0))


def target_files(target: str) -> list[str]:
    """The files a target reads (for the output checks): a .pt / .onnx file, a .py file."""
    if target.startswith("zoo:"):
        return []
    if target.endswith((".pt", ".pth", ".onnx")):
        return [target]
    module_part = target.rpartition(":")[0]
    if not module_part:
        return []
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        return [module_part]
    candidate = Path(*module_part.split("."))
    return [str(p) for p in (candidate.with_suffix(".py"), candidate / "__init__.py")]


def load_target(
    target: str, input_shape: str | None, checkpoint: str | None = None
) -> tuple[Any, Any, str]:
    """``(model, example_input, name)`` for a zoo:, MODULE:CALLABLE or .pt target.

    The user's code (the import, the factory, the unpickling of a .pt file) runs inside
    :func:`~checkerscope.cli._usercode.user_code`: it cannot exit the command or write to
    its stdout. ``checkpoint`` is a state dict loaded into the model built by the factory
    (see :func:`load_checkpoint`).

    Raises:
        CheckerscopeError: one line naming what is wrong with the target.
    """
    import torch
    from torch import nn

    if checkpoint is not None and target.endswith((".pt", ".pth")):
        raise CheckerscopeError(
            "--checkpoint needs a model to load into: give MODULE:CALLABLE or zoo:NAME, "
            "not a saved model"
        )
    if target.startswith("zoo:"):
        from checkerscope import zoo

        entry = zoo.get(target)
        example = _example_for(input_shape, target) if input_shape else entry.example_input()
        model = entry.build()
        if checkpoint is not None:
            load_checkpoint(model, checkpoint)
        return model, example, entry.name
    if target.endswith((".pt", ".pth")):
        path = Path(target)
        if not path.is_file():
            raise CheckerscopeError(f"no such model file: {quoted(target)}")
        example = _example_for(input_shape, target)
        # the classes of a pickled model are imported by name: from where the model was
        # written (the current folder) or from beside the file
        for folder in (str(path.resolve().parent), str(Path.cwd())):
            if folder not in sys.path:
                sys.path.insert(0, folder)
        with user_code(f"loading {quoted(target)}", argv0=target):
            try:
                model = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:
                raise CheckerscopeError(
                    f"{quoted(target)} is not a saved model: {one_line(exc)}"
                ) from exc
        if not isinstance(model, nn.Module):
            raise CheckerscopeError(
                f"{quoted(target)} holds a {type(model).__name__}, not a whole nn.Module "
                "(save the module itself with torch.save(model, path))"
            )
        return model, example, type(model).__name__
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise CheckerscopeError(
            f"expected zoo:NAME, MODULE:CALLABLE, a .onnx or a .pt file, got {target!r}"
        )
    if input_shape is not None:
        _example_for(input_shape, target)  # a bad shape is refused before any user code
    module = _import_module(module_part)
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise CheckerscopeError(f"{module_part!r} has no callable {attr!r}")
    with user_code(f"calling {target}()", argv0=module_part):
        made = factory() if not isinstance(factory, nn.Module) else factory
    example = None
    if isinstance(made, (tuple, list)) and len(made) == 2 and isinstance(made[0], nn.Module):
        made, example = made
    if not isinstance(made, nn.Module):
        raise CheckerscopeError(
            f"{target}() returned {type(made).__name__}, expected an nn.Module "
            "or a (model, example_input) pair"
        )
    if input_shape is not None or example is None:
        example = _example_for(input_shape, target)
    if checkpoint is not None:
        load_checkpoint(made, checkpoint)
    return made, example, type(made).__name__


def add_checkpoint_option(parser: Any) -> None:
    """``--checkpoint FILE``, shared by ``audit`` and ``fix``."""
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a state_dict (torch.save(model.state_dict()), also inside a dict under "
        "'state_dict', 'model' or 'generator') loaded into the model MODULE:CALLABLE builds; "
        "read with weights_only=True, so no code in it runs",
    )


_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "generator", "netG", "params_ema")


def load_checkpoint(model: Any, path_text: str) -> None:
    """Load a state dict from ``path_text`` into ``model`` (strictly: every key must match).

    Accepts a bare state dict or one nested under a usual key (``state_dict``, ``model``,
    ``generator``, ...), and strips the ``module.`` prefix that ``DataParallel`` adds.

    Raises:
        CheckerscopeError: one line naming the file and what does not match.
    """
    import torch

    path = Path(path_text)
    if not path.is_file():
        raise CheckerscopeError(f"--checkpoint: no such file: {quoted(path_text)}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckerscopeError(
            f"--checkpoint {quoted(path_text)} is not a state_dict torch can read safely: "
            f"{one_line(exc)}"
        ) from None
    state = loaded
    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        key = next((k for k in _CHECKPOINT_KEYS if isinstance(state.get(k), dict)), None)
        if key is None:
            break
        state = state[key]
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        kind = type(loaded).__name__
        raise CheckerscopeError(
            f"--checkpoint {quoted(path_text)} holds a {kind} with no state_dict in it "
            f"(looked under {', '.join(_CHECKPOINT_KEYS)})"
        )
    if all(str(k).startswith("module.") for k in state):
        state = {str(k)[len("module.") :]: v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape mismatch
        raise CheckerscopeError(
            f"--checkpoint {quoted(path_text)} does not fit the model: {one_line(exc)}"
        ) from None
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]!r})")
        raise CheckerscopeError(
            f"--checkpoint {quoted(path_text)} does not fit the model: keys " + " and ".join(parts)
        )


# --------------------------------------------------------------------------- run


def audit_with_progress(
    what: str, model: Any, example: Any, seeds: int, name: str, probe: bool = True
) -> Any:
    """``cs.audit`` that shows which forward pass it is on (a bar, or lines in a log)."""
    from checkerscope.auditing import audit

    with Progress(what, unit="") as progress:
        return audit(
            model,
            example,
            seeds=seeds,
            probe=probe,
            name=name,
            progress=lambda message: progress.update(message=message),
        )


def run(args: argparse.Namespace) -> int:
    from checkerscope._files import display_name
    from checkerscope.cli._common import print_json

    if args.list_zoo or args.target in ("zoo:", "zoo"):
        if args.json:
            from checkerscope import zoo

            print_json(
                {
                    name: {
                        "kind": e.kind,
                        "input_shape": list(e.input_shape),
                        "description": e.description,
                    }
                    for name, e in {**zoo.MODELS, **zoo.ARCHITECTURES}.items()
                }
            )
        else:
            print(list_zoo())
        return 0
    if not args.target:
        raise CheckerscopeError("give a model: zoo:NAME, MODULE:CALLABLE, model.onnx or model.pt")
    if args.seeds < 1 or args.seeds > 1000:
        raise CheckerscopeError(f"--seeds must be between 1 and 1000, got {args.seeds}")
    check_outputs(
        [OutputPath("--html", args.html, "report", is_checkerscope_html)],
        inputs=[*target_files(args.target), *([args.checkpoint] if args.checkpoint else [])],
        force=args.force,
    )
    if args.target.endswith(".onnx"):
        if args.checkpoint:
            raise CheckerscopeError(
                "--checkpoint is for torch models; an ONNX file holds its own weights"
            )
        from checkerscope.auditing import audit_onnx
        from checkerscope.cli._common import parse_shape

        shape = parse_shape(args.input_shape) if args.input_shape else None
        if not Path(args.target).is_file():
            raise CheckerscopeError(f"no such ONNX file: {quoted(args.target)}")
        report = audit_onnx(
            args.target,
            probe=False if args.no_probe else None,
            seeds=args.seeds,
            input_shape=shape,
        )
    else:
        model, example, name = load_target(args.target, args.input_shape, args.checkpoint)
        with user_code(
            f"running {name} from {quoted(args.target)} (forward passes)", capture=False
        ):
            report = audit_with_progress(
                f"checkerscope audit {name}", model, example, args.seeds, name, not args.no_probe
            )
    if args.html:
        report.to_html(args.html)
        print(f"wrote {display_name(args.html)}", file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report, end="")
    return 1 if report.has_artifacts else 0
