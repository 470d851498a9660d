"""Initialise an artifact-free layer from the trained layer it replaces: least-squares projection.

A strided transposed convolution, a ``Conv + PixelShuffle`` pair and every replacement
``checkerscope.nn`` offers are linear maps (plus a bias) that commute with shifts by the
stride: in the interior each is fully described by its response to one input impulse per
input channel. The replacement's response is linear in its free parameters ``theta``
(``P`` numbers per pair of channels), so for every pair of channels

    ``theta = argmin || A theta - R ||^2``

where ``R`` is the trained layer's impulse response and column ``p`` of ``A`` is the
replacement's response for the ``p``-th unit parameter. That is the **weight-space
projection**: the artifact-free operator nearest to the trained one (in the Frobenius norm
of the operator per output sample, every phase weighted alike), in closed form, in
milliseconds, independent of any data. If the trained layer is already in the family, it
is returned unchanged.

The families (the free parameters of each replacement):

* **nearest resize-convolution** (``ResizeConv{1,2,3}d``, what ``fix`` builds): the conv
  weight itself. Nearest upsampling by ``s`` then a conv with kernel ``k'`` is one
  transposed convolution whose kernel is the sum of ``s`` shifts of the conv kernel (per
  axis), so ``A`` places summed shifts: a linear least squares in the conv weights. Any
  kernel, stride (2, 3, ...), padding, output padding and dilation of the trained
  deconvolution, in 1-D, 2-D or 3-D; a ``PadCrop`` that ``fix`` appends is part of ``A``.
* **ICNR sub-pixel** (``SubPixelConv{1,2}d``): the sub-pixel weights that make the layer
  a nearest resize-convolution with a kernel of ``s (k - 1) + 1`` taps, which contains
  ICNR's phase-shared kernels (Aitken et al. 2017) and nothing that paints a grid.
* **zero-order-hold filtered deconvolution** (``FilteredDeconv{1,2}d``, Sugawara et al.):
  the deconvolution weight, the hold filter being fixed.
* **phase-balanced deconvolution** (a ``ConvTranspose{1,2,3}d`` kept as it is,
  :func:`balance_phases`): the kernels whose taps landing on each output phase sum to the
  same DC gain (Sugawara et al.'s condition), the largest linear family whose transfer
  function vanishes at the grid's harmonics. Its projection is a closed form: each
  phase's taps move by the same amount, weighted by how many taps the phase has.

All of them put exact zeros at the period's non-DC harmonics in the interior, the bins the
score reads. The bias of a replacement is the mean over phases of the trained layer's
response to a zero input (the trained bias, or for ``Conv + PixelShuffle`` the mean of its
per-phase biases).

The **data-aware projection** (:func:`calibrate`) fits each replacement to what the
trained layer actually outputs on calibration inputs: a ridge regression of the teacher
layer's output onto the replacement's features (its responses to each unit parameter,
applied to the *student's* input to that layer, bias included), pulled towards the
weight-space projection. Layers are fitted one after another in forward order, each on
inputs that already went through the fitted replacements before it, so later layers
compensate for what earlier ones could not match. The normal equations are accumulated
over the calibration batches, so memory does not grow with the number of inputs.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> from checkerscope import nn as csnn
    >>> deconv = nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1)
    >>> layer = csnn.ResizeConv2d(4, 3, kernel_size=3, scale_factor=2)
    >>> fit = project_weights(deconv, layer)  # layer's weights now approximate deconv
    >>> fit.family, 0.0 <= fit.relative_error <= 1.0
    ('nearest resize-conv', True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from checkerscope.errors import CheckerscopeError

__all__ = [
    "NEEDS_DISTILLATION_DB",
    "LayerFit",
    "ReplacementPair",
    "balance_phases",
    "calibrate",
    "data_range_of",
    "initialise",
    "noise_inputs",
    "output_fidelity",
    "project_weights",
    "psnr_db",
]

_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# Ridge strength of the data-aware fit, relative to the mean diagonal of the Gram matrix.
DEFAULT_RIDGE = 1e-4
# Features (elements) per calibration chunk: bounds the memory of the data-aware fit.
_CHUNK_ELEMENTS = 24_000_000
#: Below this PSNR against the original model (dB), ``fix`` says the model needs distillation.
NEEDS_DISTILLATION_DB = 30.0
#: How many data-free inputs ``calibration="noise"`` draws.
NOISE_CALIBRATION_COUNT = 64


@dataclass(frozen=True)
class LayerFit:
    """How well one replacement matches the trained layer it replaces.

    Attributes:
        name: the replacement's name in the model (``""`` when not known).
        family: ``"nearest resize-conv"``, ``"ICNR sub-pixel"``, ``"hold-filtered deconv"``
            or ``"phase-balanced deconv"``.
        relative_error: weight space: ``||A theta - R|| / ||R||``, the share of the trained
            operator's impulse response the family cannot represent (0 = exact); ``nan``
            for data-aware fits.
        fidelity_db: data-aware fits only: ``10 log10(var(teacher output) / mean squared
            residual)`` on the calibration inputs, ``nan`` otherwise.
        inputs: data-aware fits only: how many calibration inputs were used.
    """

    name: str
    family: str
    relative_error: float
    fidelity_db: float = float("nan")
    inputs: int = 0

    def __str__(self) -> str:
        text = f"{self.name or 'layer'}: {self.family}"
        if not math.isnan(self.relative_error):
            text += f", operator error {self.relative_error:.1%}"
        if self.inputs:
            text += f", fit {self.fidelity_db:.1f} dB on {self.inputs} inputs"
        return text


@dataclass(frozen=True)
class ReplacementPair:
    """A replacement in the student and the point of the teacher whose output it must match.

    Attributes:
        name: the replacement's name in the student (for reports).
        replacement: the student's module (initialised in place).
        teacher_output: the teacher's module whose output the replacement stands for (for a
            ``Conv + PixelShuffle`` pair, the shuffle).
        original: the trained operator to project from in weight space (a copy of the
            replaced layer, or ``Sequential(conv, shuffle)``); ``None`` skips that step.
    """

    name: str
    replacement: nn.Module
    teacher_output: nn.Module
    original: nn.Module | None = None


# --------------------------------------------------------------------------- families


@dataclass(frozen=True)
class _Family:
    """The free parameters of a replacement and how they become its weights.

    ``basis`` holds one unit weight per free parameter, in the layout a one-input,
    ``P``-output copy of the layer takes: running that copy on a single-channel input gives
    the ``P`` features.
    """

    name: str
    layer: nn.Module  # the replacement's core layer (inside weight norm / PadCrop wrappers)
    post: nn.Module | None  # a PadCrop applied after the core layer, or None
    basis: Tensor  # unit weights for a 1-in, P-out copy of ``layer``
    count: int  # P
    rank: int

    def features(self, x: Tensor) -> Tensor:
        """``(B, 1, *L)`` single-channel inputs -> ``(B, P, *L_out)`` basis responses."""
        core = self.layer
        # in the layer's own dtype: weight norm's parametrization checks it
        x = x.to(_current_weight(core).dtype)
        weight = self.basis.to(dtype=x.dtype, device=x.device)
        params = {"weight": weight}
        if hasattr(core, "weight_g") and hasattr(core, "weight_v"):  # legacy weight_norm
            # its hook rebuilds weight = g v / |v| before every call: make that the basis
            norm = torch.norm_except_dim(weight, 2, _legacy_norm_dim(core))
            params = {"weight_v": weight, "weight_g": norm}
        if getattr(core, "bias", None) is not None:
            outputs = self.basis.shape[1] if _transposed_layout(core) else self.basis.shape[0]
            params["bias"] = torch.zeros(outputs, dtype=x.dtype, device=x.device)
        out = torch.func.functional_call(core, params, (x,))
        return self.post(out) if self.post is not None else out

    def assign(self, theta: Tensor, bias: Tensor | None) -> None:
        """Write ``theta`` ``(C_out, C_in, P)`` (and a ``(C_out,)`` bias) into the layer."""
        layer = self.layer
        weight = _current_weight(layer)
        c_out, c_in = theta.shape[:2]
        basis = self.basis.to(dtype=theta.dtype, device=theta.device)
        if _transposed_layout(layer):
            # basis (1, P, *k) -> weight (C_in, C_out, *k)
            kernel = torch.einsum("oip,pk->iok", theta, basis[0].flatten(1))
            new = kernel.reshape(c_in, c_out, *basis.shape[2:])
        elif self.name == "ICNR sub-pixel":
            phases = basis.shape[0] // self.count
            # basis (P * phases, 1, *k) -> weight (C_out * phases, C_in, *k)
            per_phase = basis.reshape(self.count, phases, -1)
            kernel = torch.einsum("oip,pak->oaik", theta, per_phase)
            new = kernel.reshape(c_out * phases, c_in, *basis.shape[2:])
        else:
            # basis (P, 1, *k) -> weight (C_out, C_in, *k)
            kernel = torch.einsum("oip,pk->oik", theta, basis[:, 0].flatten(1))
            new = kernel.reshape(c_out, c_in, *basis.shape[2:])
        _assign_weight(layer, new.to(dtype=weight.dtype, device=weight.device))
        current_bias = getattr(layer, "bias", None)
        if current_bias is not None and bias is not None:
            repeat = current_bias.numel() // bias.numel()
            with torch.no_grad():
                current_bias.copy_(bias.repeat_interleave(repeat).to(current_bias))


def _transposed_layout(layer: nn.Module) -> bool:
    """Whether the layer's weight is ``(C_in, C_out, *k)`` (transposed convolutions)."""
    from checkerscope import nn as csnn

    return isinstance(layer, (*_DECONVS, csnn.FilteredDeconv1d, csnn.FilteredDeconv2d))


def _unwrap(replacement: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """``(core layer, what follows it or None)`` of a replacement as ``fix`` builds it: the
    follower is a ``PadCrop`` (shape matching) or a ``PixelUnshuffle`` (a replacement of a
    conv whose output a functional pixel shuffle takes)."""
    from checkerscope.auditing.rewrite import PadCrop

    if isinstance(replacement, nn.Sequential) and len(replacement) == 2:
        core, post = replacement[0], replacement[1]
        if isinstance(post, (PadCrop, nn.PixelUnshuffle)):
            return core, post
    return replacement, None


def _family(replacement: nn.Module) -> _Family:
    """The projection family of a replacement (see the module docstring)."""
    from checkerscope import nn as csnn

    layer, post = _unwrap(replacement)
    weight = _current_weight(layer)
    rank = weight.dim() - 2
    kernel = tuple(weight.shape[2:])
    count = math.prod(kernel)
    units = torch.eye(count, dtype=torch.float64, device=weight.device)
    if isinstance(layer, (csnn.ResizeConv1d, csnn.ResizeConv2d, csnn.ResizeConv3d)):
        basis = units.reshape(count, 1, *kernel)
        return _Family("nearest resize-conv", layer, post, basis, count, rank)
    if isinstance(layer, (csnn.SubPixelConv1d, csnn.SubPixelConv2d)):
        return _subpixel_family(layer, post, rank)
    if isinstance(layer, (csnn.FilteredDeconv1d, csnn.FilteredDeconv2d)):
        basis = units.reshape(1, count, *kernel)
        return _Family("hold-filtered deconv", layer, post, basis, count, rank)
    if isinstance(layer, _DECONVS):
        if layer.groups != 1:
            raise CheckerscopeError(
                f"cannot project a grouped deconvolution (groups={layer.groups})"
            )
        null = _balanced_basis(kernel, tuple(layer.stride), tuple(layer.dilation))
        basis = null.T.reshape(1, null.shape[1], *kernel).to(units)
        return _Family("phase-balanced deconv", layer, post, basis, null.shape[1], rank)
    raise CheckerscopeError(
        f"no projection family for {type(layer).__name__}; expected a checkerscope.nn "
        "ResizeConv, SubPixelConv or FilteredDeconv, or a ConvTranspose (phase-balanced)"
    )


def _subpixel_family(layer: nn.Module, post: nn.Module | None, rank: int) -> _Family:
    """Sub-pixel weights equal to a nearest resize-conv of ``s (k - 1) + 1`` taps per axis."""
    from checkerscope.nn import functional as CF

    weight = _current_weight(layer)
    kernel = tuple(weight.shape[2:])
    scales = _strides_of(layer)
    if any(k % 2 == 0 for k in kernel):
        raise CheckerscopeError(f"ICNR sub-pixel projection needs odd kernels, got {kernel}")
    fine = tuple(s * (k - 1) + 1 for s, k in zip(scales, kernel, strict=True))
    count = math.prod(fine)
    pads = [(k - 1) // 2 for k in kernel]
    size = [2 * k + 3 for k in kernel]
    centre = [n // 2 for n in size]
    impulse = torch.zeros(count, 1, *size, dtype=torch.float64, device=weight.device)
    middle: tuple[Any, ...] = (slice(None), 0, *centre)
    impulse[middle] = 1.0
    units = torch.eye(count, dtype=torch.float64, device=weight.device).reshape(count, 1, *fine)
    resize = {1: CF.resize_conv1d, 2: CF.resize_conv2d, 3: CF.resize_conv3d}[rank]
    responses = torch.stack(
        [
            resize(impulse[p : p + 1], units[p : p + 1], scale_factor=scales)[0, 0]
            for p in range(count)
        ]
    )
    # Output s (c - t + pad) + a of an impulse at c holds the phase-a weight of tap t.
    phases = math.prod(scales)
    basis = torch.zeros(count, phases, *kernel, dtype=torch.float64, device=weight.device)
    taken = torch.zeros_like(responses, dtype=torch.bool)
    for phase_index in range(phases):
        phase = _unravel(phase_index, scales)
        for tap_index in range(math.prod(kernel)):
            tap = _unravel(tap_index, kernel)
            where = tuple(
                s * (c - t + p) + a
                for s, c, t, p, a in zip(scales, centre, tap, pads, phase, strict=True)
            )
            index: tuple[Any, ...] = (slice(None), *where)
            target: tuple[Any, ...] = (slice(None), phase_index, *tap)
            basis[target] = responses[index]
            taken[index] = True
    left_out = responses[~taken]
    if left_out.numel() and float(left_out.abs().max()) > 1e-12:  # pragma: no cover - by design
        raise CheckerscopeError(f"sub-pixel kernel {kernel} cannot hold a resize-conv {fine}")
    basis = basis.reshape(count * phases, 1, *kernel)
    return _Family("ICNR sub-pixel", layer, post, basis, count, rank)


def _unravel(index: int, shape: Sequence[int]) -> tuple[int, ...]:
    out = []
    for size in reversed(shape):
        out.append(index % size)
        index //= size
    return tuple(reversed(out))


def _balanced_basis(
    kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> Tensor:
    """Orthonormal basis ``(K, P)`` of the kernels with equal tap sums on every output phase.

    A tap at position ``t`` of a stride-``s`` transposed convolution writes output phase
    ``d t mod s`` on each axis; the family asks all ``prod(s)`` phase sums to be equal.
    """
    taps = math.prod(kernel)
    phases = math.prod(stride)
    membership = torch.zeros(phases, taps, dtype=torch.float64)
    for tap_index in range(taps):
        tap = _unravel(tap_index, kernel)
        phase = tuple((d * t) % s for d, t, s in zip(dilation, tap, stride, strict=True))
        flat = 0
        for a, s in zip(phase, stride, strict=True):
            flat = flat * s + a
        membership[flat, tap_index] = 1.0
    constraints = membership[1:] - membership[:1]  # every phase sum equals phase 0's
    if constraints.numel() == 0:
        return torch.eye(taps, dtype=torch.float64)
    _, singular, vh = torch.linalg.svd(constraints, full_matrices=True)
    rank = int((singular > 1e-9).sum())
    return vh[rank:].T.contiguous()


# --------------------------------------------------------------------------- weights


def _current_weight(layer: nn.Module) -> Tensor:
    if hasattr(layer, "weight_g") and hasattr(layer, "weight_v"):
        # legacy weight norm: ``weight`` is a plain attribute its hook rewrites on every
        # call (also under functional_call), so compute it from g and v
        v, g = _parameter(layer, "weight_v"), _parameter(layer, "weight_g")
        return torch._weight_norm(v, g, _legacy_norm_dim(layer))
    weight = getattr(layer, "weight", None)
    if isinstance(weight, Tensor):
        return weight
    raise CheckerscopeError(f"{type(layer).__name__} has no weight tensor to project")


def _assign_weight(layer: nn.Module, weight: Tensor) -> None:
    """Set a layer's effective weight, through weight norm if it has one."""
    from torch.nn.utils import parametrize

    with torch.no_grad():
        if parametrize.is_parametrized(layer, "weight"):
            # the parametrization's right_inverse (g and v of weight norm)
            setattr(layer, "weight", weight)  # noqa: B010
        elif hasattr(layer, "weight_g") and hasattr(layer, "weight_v"):  # legacy weight_norm
            dim = _legacy_norm_dim(layer)
            _parameter(layer, "weight_v").copy_(weight)
            _parameter(layer, "weight_g").copy_(torch.norm_except_dim(weight, 2, dim))
            setattr(layer, "weight", _current_weight(layer))  # noqa: B010 - the hook's cache
        else:
            _current_weight(layer).copy_(weight)


def _parameter(layer: nn.Module, name: str) -> Tensor:
    value = getattr(layer, name)
    assert isinstance(value, Tensor)
    return value


def _legacy_norm_dim(layer: nn.Module) -> int:
    for hook in layer._forward_pre_hooks.values():
        if type(hook).__name__ == "WeightNorm":
            return int(getattr(hook, "dim", 0))
    return 0  # pragma: no cover - weight_g without the hook


# --------------------------------------------------------------------------- weight space


def _impulse_inputs(channels: int, rank: int, length: int, like: Tensor) -> Tensor:
    """One input per channel, zero except a 1 at the centre of that channel."""
    size = (length,) * rank
    x = torch.zeros(channels, channels, *size, dtype=like.dtype, device=like.device)
    centre = tuple(n // 2 for n in size)
    for c in range(channels):
        index = (c, c, *centre)
        x[index] = 1.0
    return x


def _responses(
    original: nn.Module, family: _Family, channels: int
) -> tuple[Tensor, Tensor, Tensor]:
    """``(R, A, zero_response)``: impulse responses of the trained layer and the basis.

    ``R`` is ``(C_in, C_out, M)``, ``A`` is ``(M, P)``; the input is long enough that no
    response reaches the border (checked), so both are the interior operators.
    """
    weight = _current_weight(family.layer)
    length = 16 if family.rank < 3 else 10
    while True:
        impulses = _impulse_inputs(channels, family.rank, length, weight)
        zeros = torch.zeros_like(impulses[:1])
        with torch.no_grad():
            trained = original(impulses)
            zero_out = original(zeros)
            basis = family.features(impulses[:1, :1]).double()
        if trained.shape[2:] != basis.shape[2:]:
            raise CheckerscopeError(
                f"the replacement's output {tuple(basis.shape[2:])} differs from the trained "
                f"layer's {tuple(trained.shape[2:])} on a {length}-sample input"
            )
        response = (trained - zero_out).double()
        margin = 2 * max(int(s) for s in _strides_of(family.layer))
        if _quiet_border(response, margin) and _quiet_border(basis, margin):
            break
        if length >= 96:
            raise CheckerscopeError(
                "the trained layer's impulse response does not fit in 96 input samples"
            )
        length *= 2
    # A PixelUnshuffle after the replacement spreads each output channel over ``fold``
    # channels; group them back: the rows are the output samples of one channel.
    fold = basis.shape[1] // family.count
    c_out = response.shape[1] // fold
    return (
        response.reshape(response.shape[0], c_out, -1),
        basis[0].reshape(family.count, -1).T.contiguous(),
        zero_out.double().reshape(1, c_out, -1),
    )


def _strides_of(layer: nn.Module) -> tuple[int, ...]:
    for attribute in ("stride", "scale_factor"):
        value = getattr(layer, attribute, None)
        if value is not None:
            values = value if isinstance(value, (tuple, list)) else (value,)
            return tuple(int(v) for v in values)
    return (1,)  # pragma: no cover - every family has one


def _quiet_border(x: Tensor, margin: int) -> bool:
    """Whether ``x`` is zero within ``margin`` samples of every spatial border."""
    scale = float(x.abs().max()) or 1.0
    for axis in range(2, x.dim()):
        size = x.shape[axis]
        if size <= 2 * margin:
            return False
        edges = torch.cat([x.narrow(axis, 0, margin), x.narrow(axis, size - margin, margin)], axis)
        if float(edges.abs().max()) > 1e-9 * scale:
            return False
    return True


def _zero_input_bias(zero_out: Tensor) -> Tensor:
    """Per output channel, the mean response to a zero input (over phases and positions:
    with a zero input every layer here outputs its bias, per phase at most)."""
    return zero_out.mean(dim=tuple(range(2, zero_out.dim())))[0]


def project_weights(original: nn.Module, replacement: nn.Module, name: str = "") -> LayerFit:
    """Set ``replacement``'s weights to the least-squares projection of ``original``.

    ``original`` can be any layer that is linear plus a bias and periodic in its stride
    (a ``ConvTranspose{1,2,3}d``, with or without weight norm, a
    ``Sequential(Conv2d, PixelShuffle)``, a ``checkerscope.nn`` layer); ``replacement``
    is a ``checkerscope.nn`` ``ResizeConv``, ``SubPixelConv`` or ``FilteredDeconv`` (or
    ``Sequential(layer, PadCrop)`` as ``fix`` builds it), or a ``ConvTranspose``, which
    is then balanced. Both must give the same output shape for the same input.

    Args:
        original: the trained layer (left unchanged).
        replacement: the layer to initialise (modified in place).
        name: a name for the returned :class:`LayerFit`.

    Returns:
        The :class:`LayerFit` (``relative_error`` 0 when ``original`` is in the family).

    Raises:
        CheckerscopeError: for a replacement without a family or shapes that differ.

    Examples:
        >>> import torch
        >>> from checkerscope import nn as csnn
        >>> trained = csnn.ResizeConv1d(2, 3, kernel_size=3, scale_factor=2)
        >>> fresh = csnn.ResizeConv1d(2, 3, kernel_size=3, scale_factor=2)
        >>> project_weights(trained, fresh).relative_error < 1e-6
        True
        >>> bool(torch.allclose(fresh.weight, trained.weight, atol=1e-6))
        True
    """
    family = _family(replacement)
    weight = _current_weight(family.layer)
    channels = weight.shape[0] if _transposed_layout(family.layer) else weight.shape[1]
    was_training = original.training
    original.eval()
    try:
        response, basis, zero_out = _responses(original, family, channels)
    finally:
        original.train(was_training)
    c_in, c_out, size = response.shape
    targets = response.permute(2, 1, 0).reshape(size, c_out * c_in)
    solution = torch.linalg.lstsq(basis.cpu(), targets.cpu(), driver="gelsd").solution
    theta = solution.T.reshape(c_out, c_in, family.count).to(basis.device)
    residual = basis @ solution.to(basis.device) - targets
    norm = float(targets.norm())
    error = float(residual.norm()) / norm if norm > 0 else 0.0
    family.assign(theta, _zero_input_bias(zero_out))
    return LayerFit(name=name, family=family.name, relative_error=error)


def balance_phases(deconv: nn.Module) -> nn.Module:
    """A copy of a transposed convolution whose kernels have equal DC gain on every phase.

    The projection onto the phase-balanced family (see the module docstring): the layer
    keeps its type, shape and speed; a constant input no longer makes a grid, and the
    output has zeros at the period's harmonics in the interior.

    Examples:
        >>> import torch
        >>> deconv = torch.nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1)
        >>> balanced = balance_phases(deconv)
        >>> y = balanced(torch.ones(1, 2, 8, 8))[..., 4:12, 4:12]  # interior of a flat input
        >>> bool((y[..., ::2, ::2] - y[..., 1::2, 1::2]).abs().max() < 1e-5)
        True
    """
    if not isinstance(deconv, _DECONVS):
        raise CheckerscopeError(
            f"balance_phases needs a ConvTranspose, got {type(deconv).__name__}"
        )
    balanced = copy.deepcopy(deconv)
    project_weights(deconv, balanced)
    return balanced


# --------------------------------------------------------------------------- data-aware


class _Captured(Exception):
    """Raised by a hook once it has what it needs: the rest of the forward pass is skipped."""


def _capture(model: nn.Module, module: nn.Module, x: Any, what: str) -> Tensor:
    """The input (``what="input"``) or output of ``module`` when ``model`` runs on ``x``."""
    from checkerscope.auditing.tracing import first_tensor, run_model

    seen: list[Tensor] = []

    def grab_input(mod: nn.Module, args: Any) -> None:
        tensor = first_tensor(args)
        if tensor is not None:
            seen.append(tensor.detach())
        raise _Captured

    def grab_output(mod: nn.Module, args: Any, output: Any) -> None:
        tensor = first_tensor(output)
        if tensor is not None:
            seen.append(tensor.detach())
        raise _Captured

    handle = (
        module.register_forward_pre_hook(grab_input)
        if what == "input"
        else module.register_forward_hook(grab_output)
    )
    try:
        with torch.no_grad():
            run_model(model, x)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not seen:
        raise CheckerscopeError(f"the {what} of {type(module).__name__} was never computed")
    return seen[0]


def _forward_order(model: nn.Module, modules: Sequence[nn.Module], x: Any) -> list[int]:
    """Indices of ``modules`` in the order ``model`` first calls them (uncalled ones last)."""
    from checkerscope.auditing.tracing import run_model

    order: list[int] = []
    handles = []
    for index, module in enumerate(modules):

        def hook(mod: nn.Module, args: Any, index: int = index) -> None:
            if index not in order:
                order.append(index)

        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            run_model(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return order + [i for i in range(len(modules)) if i not in order]


def _chunks(inputs: Tensor, size: int) -> list[Tensor]:
    return [inputs[i : i + size] for i in range(0, inputs.shape[0], size)]


def calibrate(
    student: nn.Module,
    teacher: nn.Module,
    pairs: Sequence[ReplacementPair],
    inputs: Tensor,
    ridge: float = DEFAULT_RIDGE,
) -> list[LayerFit]:
    """Data-aware projection: fit every replacement to the teacher layer's outputs, in order.

    For each replacement, in the order the student calls them, the teacher's output at
    ``pair.teacher_output`` and the student's input to ``pair.replacement`` are recorded on
    ``inputs``; the replacement's parameters and bias are the ridge regression of the one on
    the other, pulled towards the replacement's current weights (the weight-space projection
    when ``fix`` calls this). Later replacements see the outputs of the earlier, fitted ones.

    A pair whose ``original`` is ``None`` and whose module is a plain ``Conv1d``/``Conv2d``
    is refitted the same way when it runs after a replacement (its features are its
    unfolded input): the layers after the replacements then compensate for what the
    replacements could not match (a conv after the last upsampler, say).

    Args:
        student: the model holding the replacements (modified in place).
        teacher: the trained model (left unchanged).
        pairs: what to fit.
        inputs: calibration inputs, batch first (what the models take).
        ridge: ridge strength relative to the mean diagonal of the normal equations.

    Returns:
        One :class:`LayerFit` per pair, in forward order.

    Raises:
        CheckerscopeError: a replacement without a family, or inputs the models refuse.
    """
    if not isinstance(inputs, Tensor) or inputs.ndim < 2 or inputs.shape[0] < 1:
        raise CheckerscopeError("calibration inputs must be a tensor with a batch axis")
    modes = [(m, m.training) for m in (student, teacher)]
    student.eval()
    teacher.eval()
    fits: list[LayerFit] = []
    try:
        order = _forward_order(student, [p.replacement for p in pairs], inputs[:1])
        replaced = [i for i in order if pairs[i].original is not None]
        first = order.index(replaced[0]) if replaced else 0
        for position, index in enumerate(order):
            if pairs[index].original is None and position < first:
                continue  # a plain conv before every replacement sees the teacher's input
            fits.append(_fit_one(student, teacher, pairs[index], inputs, ridge))
    finally:
        for module, mode in modes:
            module.train(mode)
    return fits


class _Design:
    """What a data-aware fit regresses: features of a module's input, a prior, a writer."""

    family_name: str
    c_out: int

    def features(self, x: Tensor) -> Tensor:
        """``(B, C_in, *L)`` input -> ``(B, D, M)`` features (D without the constant)."""
        raise NotImplementedError

    def prior(self) -> Tensor:
        """The current parameters as a ``(D + 1, C_out)`` prior (last row: the bias)."""
        raise NotImplementedError

    def assign(self, solution: Tensor) -> None:
        """Write a ``(D + 1, C_out)`` solution into the module."""
        raise NotImplementedError


class _FamilyDesign(_Design):
    """A replacement: the features are its responses to each unit parameter."""

    def __init__(self, family: _Family) -> None:
        self.family = family
        weight = _current_weight(family.layer)
        self.c_in = weight.shape[0] if _transposed_layout(family.layer) else weight.shape[1]
        self.family_name = family.name
        self.c_out = self.prior().shape[1]

    def features(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        out = self.family.features(x.reshape(b * self.c_in, 1, *x.shape[2:]))
        return out.reshape(b, self.c_in * self.family.count, -1)

    def prior(self) -> Tensor:
        return _current_theta(self.family, self.c_in)

    def assign(self, solution: Tensor) -> None:
        c_out = solution.shape[1]
        theta = solution[:-1].T.reshape(c_out, self.c_in, self.family.count)
        self.family.assign(theta, solution[-1])


class _ConvDesign(_Design):
    """A plain convolution after the replacements: refitted so that it compensates."""

    family_name = "conv (refitted)"

    def __init__(self, conv: nn.Module) -> None:
        assert isinstance(conv, (nn.Conv1d, nn.Conv2d))
        self.conv = conv
        self.rank = conv.weight.dim() - 2
        self.c_out = conv.out_channels

    def _geometry(self) -> tuple[tuple[int, ...], ...]:
        """``(kernel, dilation, padding, stride)`` per axis, as ``F.unfold`` takes them."""
        conv = self.conv
        kernel = tuple(int(k) for k in conv.kernel_size)
        dilation = tuple(int(d) for d in conv.dilation)
        if conv.padding == "same":
            padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
        elif conv.padding == "valid":
            padding = (0,) * self.rank
        else:
            padding = tuple(int(p) for p in conv.padding)  # type: ignore[union-attr]
        return kernel, dilation, padding, tuple(int(s) for s in conv.stride)

    def features(self, x: Tensor) -> Tensor:
        kernel, dilation, padding, stride = self._geometry()
        if self.rank == 1:  # as a 2-D unfold of height 1
            x = x.unsqueeze(-2)
            kernel, dilation, padding, stride = (
                (1, *kernel),
                (1, *dilation),
                (0, *padding),
                (1, *stride),
            )
        return F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)

    def prior(self) -> Tensor:
        weight = self.conv.weight.detach().double().reshape(self.c_out, -1).T
        bias = self.conv.bias
        row = (
            bias.detach().double()
            if bias is not None
            else torch.zeros(self.c_out, dtype=torch.float64, device=weight.device)
        )
        return torch.cat([weight, row[None]], dim=0)

    def assign(self, solution: Tensor) -> None:
        weight = self.conv.weight
        with torch.no_grad():
            weight.copy_(solution[:-1].T.reshape(weight.shape).to(weight))
            if self.conv.bias is not None:
                self.conv.bias.copy_(solution[-1].to(self.conv.bias))


def _compensable(module: nn.Module) -> bool:
    """A plain convolution whose weights a least-squares refit can set (zeros padding,
    ungrouped, 1-D or 2-D, not parametrized)."""
    from torch.nn.utils import parametrize

    if not isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return False
    spans = [d * (k - 1) for k, d in zip(module.kernel_size, module.dilation, strict=True)]
    symmetric = module.padding != "same" or all(span % 2 == 0 for span in spans)
    return (
        module.groups == 1
        and module.padding_mode == "zeros"
        and symmetric
        and not parametrize.is_parametrized(module)
        and not hasattr(module, "weight_g")
    )


@torch.no_grad()
def _fit_one(
    student: nn.Module, teacher: nn.Module, pair: ReplacementPair, inputs: Tensor, ridge: float
) -> LayerFit:
    design: _Design = (
        _ConvDesign(pair.replacement)
        if pair.original is None and _compensable(pair.replacement)
        else _FamilyDesign(_family(pair.replacement))
    )
    device = next(iter(pair.replacement.parameters())).device
    probe = design.features(_capture(student, pair.replacement, inputs[:1], "input").float())
    chunk = max(1, min(inputs.shape[0], _CHUNK_ELEMENTS // max(probe.numel(), 1)))
    dim = probe.shape[1] + 1
    gram = torch.zeros(dim, dim, dtype=torch.float64, device=device)
    cross = torch.zeros(dim, design.c_out, dtype=torch.float64, device=device)
    target_sum = torch.zeros(design.c_out, dtype=torch.float64, device=device)
    target_square = torch.zeros(design.c_out, dtype=torch.float64, device=device)
    pixels = 0
    for batch in _chunks(inputs, chunk):
        x = _capture(student, pair.replacement, batch, "input").float()
        y = _capture(teacher, pair.teacher_output, batch, "output").float()
        features = design.features(x)
        targets = y.reshape(y.shape[0], design.c_out, -1)
        if features.shape[-1] != targets.shape[-1] or targets.shape[1] != design.c_out:
            raise CheckerscopeError(
                f"{pair.name}: the replacement's output does not match the teacher's "
                f"{tuple(y.shape[1:])}"
            )
        phi = torch.cat([features, torch.ones_like(features[:, :1])], dim=1)
        phi = phi.transpose(0, 1).reshape(dim, -1)
        targets = targets.transpose(0, 1).reshape(design.c_out, -1)
        gram += (phi @ phi.T).double()
        cross += (phi @ targets.T).double()
        target_sum += targets.double().sum(dim=1)
        target_square += targets.double().square().sum(dim=1)
        pixels += targets.shape[1]
    prior = design.prior().to(gram)
    strength = ridge * float(gram.diagonal().mean())
    system = gram + strength * torch.eye(dim, dtype=gram.dtype, device=gram.device)
    solution = torch.linalg.solve(system, cross + strength * prior)
    design.assign(solution)
    residual = (
        target_square
        - 2 * (solution * cross).sum(dim=0)
        + (solution * (gram @ solution)).sum(dim=0)
    )
    variance = target_square - target_sum.square() / pixels
    fidelity = 10 * math.log10(
        max(float(variance.sum()), 1e-30) / max(float(residual.sum().clamp_min(0)), 1e-30)
    )
    return LayerFit(
        name=pair.name,
        family=design.family_name,
        relative_error=float("nan"),
        fidelity_db=fidelity,
        inputs=int(inputs.shape[0]),
    )


def _current_theta(family: _Family, c_in: int) -> Tensor:
    """The replacement's current weights and bias as a ``(C_in * P + 1, C_out)`` prior."""
    weight = _current_weight(family.layer).detach().double()
    basis = family.basis.to(weight)
    if _transposed_layout(family.layer):
        flat = basis[0].flatten(1)  # (P, K)
        kernels = weight.flatten(2)  # (C_in, C_out, K)
        theta = torch.linalg.lstsq(flat.T, kernels.reshape(-1, flat.shape[1]).T).solution
        theta = theta.T.reshape(c_in, -1, family.count).permute(1, 0, 2)
    elif family.name == "ICNR sub-pixel":
        phases = basis.shape[0] // family.count
        flat = basis.reshape(family.count, phases * math.prod(basis.shape[2:]))
        c_out = weight.shape[0] // phases
        kernels = weight.reshape(c_out, phases, c_in, -1).permute(0, 2, 1, 3)
        kernels = kernels.reshape(c_out * c_in, -1)
        theta = torch.linalg.lstsq(flat.T, kernels.T).solution.T.reshape(c_out, c_in, -1)
    else:
        theta = weight.reshape(weight.shape[0], c_in, -1)
    c_out = theta.shape[0]
    bias = getattr(family.layer, "bias", None)
    if bias is not None:
        phases = bias.numel() // c_out
        bias_prior = bias.detach().double().reshape(c_out, phases).mean(dim=1)
    else:
        bias_prior = torch.zeros(c_out, dtype=torch.float64, device=weight.device)
    flat_theta = theta.permute(1, 2, 0).reshape(c_in * family.count, c_out)
    return torch.cat([flat_theta, bias_prior[None]], dim=0)


# --------------------------------------------------------------------------- noise


def noise_inputs(example: Tensor, count: int, seed: int = 0) -> Tensor:
    """Data-free calibration inputs shaped like ``example``: latents or smooth 1/f images.

    Inputs with at most 16 samples per channel (``(N, 100, 1, 1)`` latents, ``(N, 128)``
    codes) are latents: standard normal. Larger ones are treated as images or signals:
    "pink" noise whose amplitude spectrum falls as ``1 / f`` along every spatial axis
    (about the spectrum of natural images), one independent field per channel, scaled to
    the example's range: ``[0, 1]`` when the example lies in ``[0, 1]``, ``[-1, 1]`` when
    it lies there, otherwise the example's mean and standard deviation.

    Args:
        example: one input (batch first) of the shape the model takes.
        count: how many inputs to draw.
        seed: seeds the draw.

    Returns:
        ``(count, *example.shape[1:])`` on the example's device and dtype.

    Examples:
        >>> import torch
        >>> images = noise_inputs(torch.rand(1, 3, 32, 32), 4)
        >>> images.shape, bool(images.min() >= 0), bool(images.max() <= 1)
        (torch.Size([4, 3, 32, 32]), True, True)
        >>> noise_inputs(torch.zeros(2, 100, 1, 1), 8).shape
        torch.Size([8, 100, 1, 1])
    """
    if not isinstance(example, Tensor) or example.ndim < 2:
        raise CheckerscopeError("noise calibration needs an example input tensor with a batch axis")
    generator = torch.Generator().manual_seed(seed)
    shape = (count, *example.shape[1:])
    spatial = tuple(example.shape[2:])
    dtype = example.dtype if example.is_floating_point() else torch.float32
    if math.prod(spatial) <= 16:
        return torch.randn(shape, generator=generator, dtype=torch.float64).to(
            device=example.device, dtype=dtype
        )
    white = torch.randn(shape, generator=generator, dtype=torch.float64)
    axes = tuple(range(2, len(shape)))
    spectrum = torch.fft.fftn(white, dim=axes)
    radius = torch.zeros(spatial, dtype=torch.float64)
    for axis, size in enumerate(spatial):
        frequency = torch.fft.fftfreq(size, dtype=torch.float64).square()
        view = [1] * len(spatial)
        view[axis] = size
        radius = radius + frequency.reshape(view)
    radius = radius.sqrt()
    smallest = 1.0 / max(spatial)
    field = torch.fft.ifftn(spectrum / radius.clamp_min(smallest), dim=axes).real
    field = field - field.mean(dim=axes, keepdim=True)
    field = field / field.flatten(2).std(dim=2).clamp_min(1e-12).reshape(
        *shape[:2], *[1] * len(spatial)
    )
    low, high = float(example.min()), float(example.max())
    if low >= 0.0 and high <= 1.0:
        images = (0.5 + 0.2 * field).clamp(0.0, 1.0)
    elif low >= -1.0 and high <= 1.0:
        images = (0.4 * field).clamp(-1.0, 1.0)
    else:
        std = float(example.double().std()) if example.numel() > 1 else 1.0
        images = float(example.double().mean()) + (std or 1.0) * field
    return images.to(device=example.device, dtype=dtype)


# --------------------------------------------------------------------------- fidelity


def data_range_of(reference: Tensor) -> float:
    """The peak-to-peak range PSNR is measured against: 1 for outputs in ``[0, 1]``, 2 for
    ``[-1, 1]``, otherwise the reference's own range (1 if it is constant).

    Examples:
        >>> import torch
        >>> data_range_of(torch.rand(2, 3, 4, 4)), data_range_of(torch.rand(5) * 2 - 1)
        (1.0, 2.0)
    """
    low, high = float(reference.min()), float(reference.max())
    if low >= 0.0 and high <= 1.0:
        return 1.0
    if low >= -1.0 and high <= 1.0:
        return 2.0
    return (high - low) or 1.0


def psnr_db(output: Tensor, reference: Tensor, data_range: float) -> float:
    """PSNR of ``output`` against ``reference`` over the whole batch, in dB.

    Examples:
        >>> import torch
        >>> psnr_db(torch.full((1, 4), 0.1), torch.zeros(1, 4), 1.0)
        20.0
    """
    error = float((output.double() - reference.double()).square().mean())
    return 10 * math.log10(data_range**2 / max(error, 1e-30))


def output_fidelity(student: nn.Module, teacher: nn.Module, inputs: Tensor) -> float:
    """PSNR of the student's outputs against the teacher's on ``inputs`` (eval mode), in dB."""
    from checkerscope.auditing.tracing import run_model

    modes = [(m, m.training) for m in (student, teacher)]
    student.eval()
    teacher.eval()
    outputs, references = [], []
    try:
        with torch.no_grad():
            for batch in _chunks(inputs, 16):
                outputs.append(run_model(student, batch).float().cpu())
                references.append(run_model(teacher, batch).float().cpu())
    finally:
        for module, mode in modes:
            module.train(mode)
    reference = torch.cat(references)
    return psnr_db(torch.cat(outputs), reference, data_range_of(reference))


# --------------------------------------------------------------------------- fix's hook


def check_fix_arguments(weights: str, calibration: Any, example_input: Any) -> None:
    """Validate ``fix``'s ``weights`` and ``calibration`` arguments (one-line errors)."""
    if weights not in ("fresh", "project"):
        raise CheckerscopeError(f"weights must be 'fresh' or 'project', got {weights!r}")
    if calibration is None:
        return
    if weights != "project":
        raise CheckerscopeError("calibration needs weights='project'")
    if isinstance(calibration, str):
        if calibration != "noise":
            raise CheckerscopeError(
                f"calibration must be None, a tensor of inputs or 'noise', got {calibration!r}"
            )
        if not isinstance(example_input, Tensor):
            raise CheckerscopeError("calibration='noise' needs example_input (a tensor)")
    elif not isinstance(calibration, Tensor) or calibration.ndim < 2:
        raise CheckerscopeError(
            "calibration must be None, 'noise' or a tensor of inputs with a batch axis, got "
            f"{type(calibration).__name__}"
        )


def _calibration_inputs(calibration: Any, example_input: Any, model: nn.Module) -> Tensor:
    if isinstance(calibration, str):
        inputs = noise_inputs(example_input, NOISE_CALIBRATION_COUNT)
    else:
        inputs = calibration
    reference = next(iter(model.parameters()), None)
    if reference is not None:
        inputs = inputs.to(reference.device)
    return inputs


def initialise(
    student: nn.Module,
    teacher: nn.Module,
    pairs: Sequence[ReplacementPair],
    calibration: Any = None,
    example_input: Any = None,
) -> list[str]:
    """``fix(weights="project")``: initialise every replacement from the layer it replaced.

    Each replacement gets the weight-space projection of its ``pair.original``; with
    ``calibration`` (a tensor of inputs or ``"noise"``) the replacements are then fitted
    to the teacher's layer outputs in forward order (:func:`calibrate`) and the fixed
    model's output is compared with the teacher's. Sets ``student.checkerscope_projection``
    (the :class:`LayerFit` list) and, when calibrated, ``student.checkerscope_fidelity_db``.

    Returns:
        Note lines for ``fixed.checkerscope_fix_notes``.
    """
    lines: list[str] = []
    fits: list[LayerFit] = []
    projectable: list[ReplacementPair] = []
    for pair in pairs:
        if pair.original is None:
            continue
        try:
            fits.append(project_weights(pair.original, pair.replacement, pair.name))
        except CheckerscopeError as exc:
            lines.append(f"{pair.name}: kept fresh weights: {exc}")
            continue
        projectable.append(pair)
    lines += [
        f"{fit.name}: projected onto {fit.family} in weight space, operator error "
        f"{fit.relative_error:.1%}"
        for fit in fits
    ]
    if calibration is not None and projectable:
        inputs = _calibration_inputs(calibration, example_input, teacher)
        names = {name for name, _ in teacher.named_modules()}
        later = [
            ReplacementPair(name, module, teacher.get_submodule(name))
            for name, module in student.named_modules()
            if name in names and _compensable(module)
        ]
        fits = calibrate(student, teacher, [*projectable, *later], inputs)
        source = "noise inputs" if isinstance(calibration, str) else "calibration inputs"
        lines += [
            f"{fit.name}: {'fitted' if fit.family != _ConvDesign.family_name else 'refitted'} "
            f"to the original layer's outputs on {fit.inputs} {source}: {fit.fidelity_db:.1f} dB"
            for fit in fits
        ]
        fidelity = output_fidelity(student, teacher, inputs)
        setattr(student, "checkerscope_fidelity_db", fidelity)  # noqa: B010
        verdict = (
            "needs distillation (cs.distill)" if fidelity < NEEDS_DISTILLATION_DB else "faithful"
        )
        lines.append(f"output vs the original on the {source}: PSNR {fidelity:.1f} dB: {verdict}")
    setattr(student, "checkerscope_projection", fits)  # noqa: B010
    return lines
