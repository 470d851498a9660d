"""What the score accepts: arrays, tensors, PIL images and lists of them, in any common layout.

:func:`as_batch` turns an input into a batch ``(N, C, H, W)`` (1-D signals get ``H == 1``)
of floats, or of 8- and 16-bit integers as they came (the score converts those as it reads
them): a NumPy array for everything but torch tensors, which stay tensors on their device.
It also says what it knows about the input's units:

* **Layouts.** Channels first (``CHW``, ``NCHW``: torch's habit) and channels last
  (``HWC``, ``NHWC``: what PIL, imageio and diffusers pipelines return) are told apart by
  which end has 1 to 4 entries. When both ends could be channels (``(3, 64, 3)``) the
  caller names the layout (``layout="HWC"``); when neither can (``(8, 64, 64)`` feature
  maps) the first axis holds the channels, as before. Signals (``dims=1``): ``(C, T)`` or
  ``(T, C)``, the channel axis being the short one (at most 8 entries, the other longer),
  so stereo ``(T, 2)`` and ``(2, T)`` both work.
* **Alpha.** A channels-last image with 4 channels is RGBA and one with 2 is gray plus
  alpha (PIL's ``RGBA``/``LA`` too): the alpha channel is dropped, with one warning per call
  site, since a checkerboard lives in the colour and transparent pixels hold whatever the
  encoder kept there. Channels-first inputs keep all their channels (4-channel latents).
* **Units.** ``value_range`` is the span of the input's nominal range, which turns
  amplitudes into 8-bit grey levels: 255 for ``uint8`` (and PIL ``L``/``RGB``), 65535 for
  ``uint16``, 1 for ``bool``; ``None`` for floats (the score then reads it from the
  values, see :func:`nominal_range`).

Examples:
    >>> import numpy as np
    >>> batch = as_batch(np.zeros((64, 48, 3), np.uint8), dims=2)  # HWC
    >>> batch.data.shape, batch.data.dtype, batch.value_range
    ((1, 3, 64, 48), dtype('uint8'), 255.0)
    >>> as_batch(np.zeros((2, 3, 64, 48)), dims=2).data.shape  # NCHW
    (2, 3, 64, 48)
    >>> as_batch(np.zeros((48000, 2)), dims=1).data.shape  # stereo (T, C)
    (1, 2, 1, 48000)
    >>> as_batch(np.zeros((3, 64, 4)), dims=2)
    Traceback (most recent call last):
    ...
    checkerscope.errors.CheckerscopeError: cannot tell channels from width in shape (3, 64, 4): pass layout='CHW' or layout='HWC'
"""  # noqa: E501

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from checkerscope.errors import CheckerscopeError

if TYPE_CHECKING:
    import torch

# A batch is a NumPy array, or a torch tensor when the input was one (kept on its device).
Data = Union[np.ndarray, "torch.Tensor"]

__all__ = ["LAYOUTS", "Batch", "as_batch", "nominal_range", "quantisation_step"]

#: Layouts accepted by ``layout=``, per ``dims``.
LAYOUTS: dict[int, tuple[str, ...]] = {
    2: ("HW", "CHW", "HWC", "NCHW", "NHWC"),
    1: ("T", "CT", "TC", "NCT", "NTC"),
}

# An axis of this many entries or fewer may hold image channels (gray, gray + alpha, RGB, RGBA).
_IMAGE_CHANNELS = 4
# A signal axis of this many entries or fewer may hold audio channels (up to 7.1).
_SIGNAL_CHANNELS = 8

# By dtype name (NumPy's names; torch's without the "torch." prefix).
_NOMINAL_RANGES: dict[str, float] = {
    "uint8": 255.0,
    "int8": 255.0,
    "int16": 65535.0,
    "uint16": 65535.0,
    "int32": 2.0**32 - 1,
    "bool": 1.0,
}

_ALPHA_WARNING = (
    "checkerscope: dropped the alpha channel of a channels-last image "
    "(pass channels first to score all channels)"
)


@dataclass(frozen=True)
class Batch:
    """An input made ready for the score.

    Attributes:
        data: Array ``(N, C, H, W)``: float32, or float64 or 8/16-bit integers when the
            input was; 1-D signals have ``H == 1``. A float tensor when the input was a
            tensor.
        value_range: Span of the input's nominal range in its own units (255 for 8-bit
            images), or ``None`` when the dtype does not say (floats).
        alpha_dropped: Whether an alpha channel was removed.
        integer: Whether the input held integers (its quantisation step is 1).
    """

    data: Data
    value_range: float | None
    alpha_dropped: bool = False
    integer: bool = False

    @property
    def tensor(self) -> torch.Tensor:
        """:attr:`data` as a torch tensor (sharing memory with a NumPy array)."""
        import torch

        data = self.data
        if isinstance(data, torch.Tensor):
            return data
        return _tensor_of(data if data.dtype.kind == "f" else data.astype(np.float32))


def as_batch(x: Any, dims: int, layout: str | None = None) -> Batch:
    """Return ``x`` as a :class:`Batch` (see the module docstring for the rules).

    Args:
        x: NumPy array, torch tensor, PIL image, or a list/tuple of those (one image each,
            all of one shape).
        dims: 2 for images, 1 for signals along the last axis.
        layout: One of :data:`LAYOUTS` for ``dims``, or ``None`` to detect it.

    Raises:
        CheckerscopeError: for a bad rank, dtype, layout or an ambiguous shape.
    """
    if dims not in (1, 2):
        raise CheckerscopeError(f"dims must be 1 or 2, got {dims!r}")
    if layout is not None and layout not in LAYOUTS[dims]:
        raise CheckerscopeError(
            f"layout must be one of {', '.join(LAYOUTS[dims])} with dims={dims}, got {layout!r}"
        )
    if isinstance(x, (list, tuple)):
        return _stacked(list(x), dims, layout)
    data, value_range, pil_layout = _as_array(x)
    if pil_layout is not None:
        if layout is not None and layout != pil_layout:
            raise CheckerscopeError(f"a PIL image is laid out {pil_layout}, got layout={layout!r}")
        layout = pil_layout
    return _arranged(data, value_range, dims, layout)


def nominal_range(batch: Data) -> float:
    """The span of the nominal range of float values: 1, 2 (``[-1, 1]``), 255, or measured.

    Values within ``[0, 1]`` are read as unit-range images, within ``[-1, 1]`` as the
    ``tanh`` outputs of generators, within ``[0, 255]`` as 8-bit values stored as floats,
    each with some room for the overshoot of unclamped outputs (a quarter of the range above
    and below, a twentieth below 0 for ``[0, 1]``) and provided the values span at least a
    twentieth of it; anything else (gradient maps, HDR) spans its own ``max - min``. Pass
    ``value_range=`` to :func:`~checkerscope.metrics.checkerboard_score` when in doubt.

    Examples:
        >>> import torch
        >>> nominal_range(torch.rand(2, 3, 8, 8)), nominal_range(torch.rand(8, 8) * 2 - 1)
        (1.0, 2.0)
        >>> nominal_range(torch.tensor([[0.0, 3e-6], [1e-6, 2e-6]]))  # a gradient map
        3e-06
    """
    low, high = float(batch.min()), float(batch.max())
    for bottom, top, below in ((0.0, 1.0, 0.05), (-1.0, 1.0, 0.25), (0.0, 255.0, 0.05)):
        span = top - bottom
        inside = low >= bottom - below * span and high <= top + 0.25 * span
        if inside and high - low > 0.05 * span:
            return span
    spread = high - low
    return spread if spread > 0 else 1.0


def quantisation_step(batch: Batch, value_range: float) -> float | None:
    """The step between the values an input can take, when it has one: 1 for integers.

    Floats count as quantised when a sample of their values (4096, evenly spread) all sit
    on the 8-bit (or 16-bit) grid of ``value_range``: images decoded from 8-bit files and
    divided by 255 are, generator outputs are not.

    Examples:
        >>> import torch
        >>> quantisation_step(as_batch(torch.randint(0, 256, (8, 8)) / 255.0, 2), 1.0)
        0.00392156862745098
        >>> quantisation_step(as_batch(torch.rand(8, 8), 2), 1.0) is None
        True
    """
    if batch.integer:
        return 1.0
    flat = batch.data.reshape(-1)
    sample = _host_float64(flat[:: max(1, flat.shape[0] // 4096)])
    for levels in (255.0, 65535.0):
        scaled = sample / value_range * levels
        with np.errstate(invalid="ignore"):  # NaN is reported by the score itself
            on_grid = np.abs(scaled - np.round(scaled)) < 1e-3
        if bool(on_grid.all()):
            return value_range / levels
    return None


# --------------------------------------------------------------------------- conversion


def _tensor_of(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy``, quietly for read-only arrays (``np.asarray`` of a PIL image):
    the score never writes to its input."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def _is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (torch is not imported to find out)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _host_float64(data: Data) -> np.ndarray:
    if _is_tensor(data):
        return data.detach().double().cpu().numpy()  # type: ignore[union-attr, no-any-return]
    return np.asarray(data, dtype=np.float64)


def _as_array(x: Any) -> tuple[Data, float | None, str | None]:
    """A real array (or tensor), the nominal range its dtype implies, and the layout of
    PIL images."""
    pil_layout = None
    if _is_pil_image(x):
        x, pil_layout = _pil_array(x)
    if _is_tensor(x):
        tensor = x.detach()
        if tensor.is_complex():
            raise CheckerscopeError(f"expected a real array, got dtype {tensor.dtype}")
        return tensor, _NOMINAL_RANGES.get(str(tensor.dtype).removeprefix("torch.")), pil_layout
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise CheckerscopeError(f"cannot read {type(x).__name__} as an array: {exc}") from exc
    if np.iscomplexobj(array):
        raise CheckerscopeError(f"expected a real array, got dtype {array.dtype}")
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise CheckerscopeError(f"expected a numeric array, got dtype {array.dtype}")
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array, _NOMINAL_RANGES.get(array.dtype.name), pil_layout


def _is_pil_image(x: Any) -> bool:
    module = type(x).__module__
    if not module.startswith("PIL."):
        return False
    from PIL import Image

    return isinstance(x, Image.Image)


def _pil_array(image: Any) -> tuple[np.ndarray, str]:
    """Pixels of a PIL image, alpha and palettes resolved, with their layout."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16), "HW"
    if mode in ("I", "F"):
        return np.asarray(image), "HW"
    if mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        warnings.warn(_ALPHA_WARNING, UserWarning, stacklevel=4)
        image = image.convert("L" if mode in ("LA", "La") else "RGB")
    elif mode not in ("L", "RGB"):
        image = image.convert("L" if mode == "1" else "RGB")
    array = np.asarray(image)
    return array, "HW" if array.ndim == 2 else "HWC"


def _stacked(items: list[Any], dims: int, layout: str | None) -> Batch:
    """One batch from a list of single images (or signals) of one shape."""
    if not items:
        raise CheckerscopeError("cannot score an empty list")
    single = layout if layout is None else layout.removeprefix("N")
    batches = []
    for index, item in enumerate(items):
        if isinstance(item, (list, tuple)):
            raise CheckerscopeError(f"item {index} of the list is itself a list: pass arrays")
        batch = as_batch(item, dims, single)
        if batch.data.shape[0] != 1:
            raise CheckerscopeError(
                f"item {index} of the list holds {batch.data.shape[0]} images; "
                "pass one image per item, or one batched array"
            )
        batches.append(batch)
    shapes = {tuple(b.data.shape[1:]) for b in batches}
    if len(shapes) > 1:
        first, other = (tuple(b.data.shape[1:]) for b in (batches[0], _first_other(batches)))
        raise CheckerscopeError(
            f"images in a list must share one shape (C, H, W); got {first} and {other}: "
            "score them one by one"
        )
    if any(_is_tensor(b.data) for b in batches):
        import torch

        tensors = [b.tensor for b in batches]
        dtypes = {t.dtype for t in tensors}
        data: Data = torch.cat([t.to(torch.float64) if len(dtypes) > 1 else t for t in tensors])
    else:
        data = np.concatenate([b.data for b in batches])  # mixed dtypes become float64
    ranges = {b.value_range for b in batches}
    value_range = ranges.pop() if len(ranges) == 1 else None
    integer = all(b.integer for b in batches)
    return Batch(data, value_range, any(b.alpha_dropped for b in batches), integer)


def _first_other(batches: Sequence[Batch]) -> Batch:
    first = tuple(batches[0].data.shape[1:])
    return next(b for b in batches if tuple(b.data.shape[1:]) != first)


def _detected_layout(shape: tuple[int, ...], dims: int) -> str:
    """The layout of a shape when only one reading makes sense."""
    if dims == 1:
        names = {1: "T", 2: "CT", 3: "NCT"}
        if len(shape) not in names:
            raise CheckerscopeError(
                f"expected (T,), (C, T) or (N, C, T) with dims=1, got shape {shape}"
            )
        if len(shape) >= 2 and shape[-1] <= _SIGNAL_CHANNELS < shape[-2]:
            return names[len(shape)].replace("CT", "TC")
        return names[len(shape)]
    names = {2: "HW", 3: "CHW", 4: "NCHW"}
    if len(shape) not in names:
        raise CheckerscopeError(f"expected (H, W), (C, H, W) or (N, C, H, W), got shape {shape}")
    if len(shape) == 2:
        return "HW"
    first, last = shape[-3], shape[-1]
    first_is_channels = first <= _IMAGE_CHANNELS
    last_is_channels = last <= _IMAGE_CHANNELS
    if last_is_channels and not first_is_channels:
        return names[len(shape)].replace("CHW", "HWC")
    if first_is_channels and last_is_channels:
        batch = "N" if len(shape) == 4 else ""
        raise CheckerscopeError(
            f"cannot tell channels from width in shape {shape}: "
            f"pass layout='{batch}CHW' or layout='{batch}HWC'"
        )
    return names[len(shape)]


def _arranged(data: Data, value_range: float | None, dims: int, layout: str | None) -> Batch:
    shape = tuple(data.shape)
    if layout is None:
        layout = _detected_layout(shape, dims)
    elif len(layout) != len(shape):
        raise CheckerscopeError(f"layout {layout!r} needs {len(layout)} axes, got shape {shape}")
    if 0 in shape:
        raise CheckerscopeError(f"cannot score an empty array of shape {shape}")
    dtype_name = str(data.dtype).removeprefix("torch.")
    integer = not (dtype_name.startswith(("float", "bfloat")) or dtype_name == "bool") or (
        value_range == 65535.0
    )
    data = _as_float(data)
    alpha_dropped = False
    if layout.endswith("C"):
        channels = shape[-1]
        if dims == 2 and channels in (2, 4):
            warnings.warn(_ALPHA_WARNING, UserWarning, stacklevel=4)
            data = data[..., : channels - 1]
            alpha_dropped = True
        data = _channels_first(data, -2 if dims == 1 else -3)
        layout = layout[:-1].replace("H", "CH") if dims == 2 else layout[:-2] + "CT"
    while data.ndim < (4 if dims == 2 else 3):
        data = data[None]
    if dims == 1:
        data = data[..., None, :]
    return Batch(data, value_range, alpha_dropped, integer)


# NumPy dtypes kept as they are: floats, and integers that float32 holds exactly, which
# the score converts as it reads them (no pass over the batch to convert it first).
_KEPT_DTYPES = tuple(
    np.dtype(name) for name in ("float32", "float64", "uint8", "int8", "uint16", "int16")
)


def _as_float(data: Data) -> Data:
    """float64 stays, everything else becomes float32; NumPy's 8- and 16-bit integers stay
    too (see :data:`_KEPT_DTYPES`)."""
    if isinstance(data, np.ndarray):
        return data if data.dtype in _KEPT_DTYPES else data.astype(np.float32)
    import torch

    return data if data.dtype == torch.float64 else data.to(torch.float32)


def _channels_first(data: Data, axis: int) -> Data:
    """Move the last (channel) axis to ``axis``, contiguous for the transforms."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(np.moveaxis(data, -1, axis))
    return data.movedim(-1, axis)
