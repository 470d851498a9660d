"""Models as users hand them over: compiled, data-parallel, weight-normed, on the meta device.

The audit never changes the model it is given. Copying is not always possible: the legacy
``torch.nn.utils.weight_norm`` and ``spectral_norm`` hooks keep a computed, non-leaf
``weight`` tensor on the module that ``copy.deepcopy`` refuses. So probes run on the model
itself inside :func:`preserved`, which restores every parameter, buffer, computed tensor
attribute and training flag afterwards, and :func:`copy_model` (for ``fix``) detaches those
computed tensors for the copy. :func:`reset_parameters_` re-initialises through the
wrappers, so a weight-normed layer really gets fresh weights.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     model = nn.Sequential(nn.utils.weight_norm(nn.Conv1d(2, 2, 3)))
    >>> _ = model(torch.zeros(1, 2, 8))  # the hook leaves a computed weight behind
    >>> copy = copy_model(model)
    >>> bool(torch.equal(copy[0].weight_v, model[0].weight_v))
    True
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from checkerscope.errors import CheckerscopeError

__all__ = [
    "copy_model",
    "is_on_meta",
    "legacy_norm_hooks",
    "picklable",
    "preserved",
    "reset_parameters_",
    "unwrap",
]


def unwrap(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """The module inside ``torch.compile`` and (Distributed)DataParallel wrappers.

    Examples:
        >>> inner = nn.Linear(2, 2)
        >>> unwrap(nn.DataParallel(inner))[0] is inner
        True
    """
    notes: list[str] = []
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, nn.Module) and type(model).__name__ == "OptimizedModule":
            notes.append("torch.compile wrapper: the original module was audited")
            model = inner
            continue
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            notes.append(f"{type(model).__name__} wrapper: the wrapped module was audited")
            model = model.module
            continue
        return model, notes


def is_on_meta(model: nn.Module) -> bool:
    """Whether any parameter or buffer lives on the meta device (shapes, no values)."""
    tensors = [*model.parameters(), *model.buffers()]
    return any(t.device.type == "meta" for t in tensors)


def legacy_norm_hooks(module: nn.Module) -> list[Any]:
    """The legacy ``weight_norm`` / ``spectral_norm`` forward pre-hooks of one module."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm

    return [
        hook
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, (WeightNorm, SpectralNorm))
    ]


def _computed_tensors(model: nn.Module) -> list[tuple[nn.Module, str, torch.Tensor]]:
    """Plain tensor attributes (not parameters or buffers), e.g. a legacy hook's weight."""
    found = []
    for module in model.modules():
        for name, value in module.__dict__.items():
            if isinstance(value, torch.Tensor):
                found.append((module, name, value))
    return found


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Run code on ``model`` and put every parameter, buffer, computed tensor attribute and
    training flag back afterwards, whatever happens.

    Examples:
        >>> layer = nn.Linear(2, 2)
        >>> before = layer.weight.detach().clone()
        >>> with preserved(layer):
        ...     _ = nn.init.zeros_(layer.weight.data)
        >>> bool(torch.equal(layer.weight, before))
        True
    """
    named = {
        **{f"p:{n}": t for n, t in model.named_parameters(remove_duplicate=False)},
        **{f"b:{n}": t for n, t in model.named_buffers(remove_duplicate=False)},
    }
    saved = {key: tensor.detach().clone() for key, tensor in named.items()}
    modes = [(module, module.training) for module in model.modules()]
    attributes = _computed_tensors(model)
    try:
        yield model
    finally:
        with torch.no_grad():
            for key, tensor in named.items():
                tensor.copy_(saved[key])
        for module, training in modes:
            module.training = training
        for module, name, value in attributes:
            module.__dict__[name] = value


def _fresh_like(module: nn.Module, name: str, like: torch.Tensor) -> torch.Tensor:
    """Call ``reset_parameters`` with a plain tensor standing in for a computed weight."""
    stand_in = torch.empty_like(like)
    module.__dict__[name] = stand_in
    module.reset_parameters()  # type: ignore[operator]
    return stand_in


def _reset_one(module: nn.Module) -> None:
    reset: Callable[[], None] | None = getattr(module, "reset_parameters", None)
    if not callable(reset):
        return
    hooks = legacy_norm_hooks(module)
    if hooks:
        with torch.no_grad():
            for hook in hooks:
                if type(hook).__name__ == "WeightNorm":
                    v = getattr(module, f"{hook.name}_v")
                    fresh = _fresh_like(module, hook.name, v)
                    v.copy_(fresh)
                    getattr(module, f"{hook.name}_g").copy_(
                        torch.norm_except_dim(fresh, 2, hook.dim)
                    )
                    module.__dict__[hook.name] = hook.compute_weight(module)
                else:
                    original = getattr(module, f"{hook.name}_orig")
                    original.copy_(_fresh_like(module, hook.name, original))
                    module.__dict__[hook.name] = hook.compute_weight(
                        module, do_power_iteration=False
                    )
        return
    if parametrize.is_parametrized(module):
        parametrized: Any = module.parametrizations
        names = list(parametrized.keys())
        with torch.no_grad():
            with parametrize.cached():
                reset()
                values = {name: getattr(module, name).detach().clone() for name in names}
            for name, value in values.items():
                setattr(module, name, value)  # through the parametrization's right inverse
        return
    reset()


def _post_order(module: nn.Module) -> Iterator[nn.Module]:
    for child in module.children():
        yield from _post_order(child)
    yield module


def reset_parameters_(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``model`` in place: every ``reset_parameters()`` under ``seed``,
    through legacy and parametrized weight and spectral norms.

    Children are reset before their parents, so a layer that re-initialises its own
    children (ICNR in ``cs.nn.SubPixelConv2d``) has the last word. The global RNG state is
    left as it was.

    Examples:
        >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
        >>> _ = reset_parameters_(a, seed=1), reset_parameters_(b, seed=1)
        >>> bool(torch.equal(a.weight, b.weight))
        True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in _post_order(model):
            _reset_one(module)
    return model


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy, also of models whose legacy norm hooks hold computed weights.

    Raises:
        CheckerscopeError: if the model holds something that cannot be copied.
    """
    computed = [
        (module, name, value)
        for module, name, value in _computed_tensors(model)
        if value.grad_fn is not None
    ]
    for module, name, value in computed:
        module.__dict__[name] = value.detach()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return copy.deepcopy(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckerscopeError(
            f"cannot copy {type(model).__name__}: {type(exc).__name__}: {first}"
        ) from exc
    finally:
        for module, name, value in computed:
            module.__dict__[name] = value


def picklable(model: nn.Module) -> tuple[nn.Module, int]:
    """``(model, 0)``, or a copy with every parametrization folded into a plain tensor, and
    how many there were: ``torch.save`` refuses whole modules that carry
    ``torch.nn.utils.parametrize`` parametrizations (the current weight and spectral norm).
    The outputs are the same; the norm has to be applied again to train further.

    Examples:
        >>> import io
        >>> from torch.nn.utils import parametrizations
        >>> normed = parametrizations.weight_norm(nn.Conv1d(2, 2, 3))
        >>> plain, folded = picklable(nn.Sequential(normed))
        >>> folded, type(plain[0].weight).__name__
        (1, 'Parameter')
        >>> torch.save(plain, io.BytesIO())
    """
    if not any(parametrize.is_parametrized(m) for m in model.modules()):
        return model, 0
    baked = copy_model(model)
    count = 0
    module: Any
    for module in baked.modules():
        if parametrize.is_parametrized(module):
            for tensor_name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, tensor_name, leave_parametrized=True)
                count += 1
            # weight_norm's hook that upgrades old checkpoints to the parametrized layout is
            # a local function (unpicklable) and has nothing left to upgrade
            hooks = module._load_state_dict_pre_hooks
            for key, hook in list(hooks.items()):
                function = getattr(hook, "hook", hook)
                if "norm.<locals>" in getattr(function, "__qualname__", ""):
                    del hooks[key]
    return baked, count
