"""What the overlap theory predicts for a zoo model, written from its architecture before
any audit is run.

How to read an :class:`ExpectedAudit` (``zoo.get(NAME).expected``):

* ``verdict`` is the audit verdict the theory predicts: ``"artifacts"`` or ``"clean"``.
  ``decided_by="overlap"`` means the structure alone decides it (a relevant layer is
  uneven, so ``"artifacts"`` whatever the probes measure; or every layer is artifact-free
  by construction, so ``"clean"`` whatever they measure). ``decided_by="measurement"``
  means the relevant layers are even but learn per-phase weights ("even, can learn
  artifacts"): the verdict then rests on the measured init (or gradient) score, and the
  value given is the prediction from the zoo's earlier measurements of such layers
  (even deconvolutions and default-initialised sub-pixel convolutions paint a grid at
  init; DCGAN's k4 s2 discriminator gradients do not).
* ``paths`` lists the input-to-output paths whose resampling layers differ (a U-Net's skip
  levels, a multi-scale discriminator's scales, a residual model's all-shortcuts and
  all-bodies extremes), the leading (worst) one first. Paths that differ only by
  stride-1 layers before the first upsampler (forward) or after the last downsampler
  (backward) share a steady state and are listed once.
* Each :class:`ExpectedPath` gives:

  - ``direction``: ``"forward"`` (coverage of the output grid: generators, decoders,
    image-to-image) or ``"backward"`` (coverage of the input grid by the gradient of the
    summed output: discriminators, encoders).
  - ``specs``: the layers that shape the steady-state pattern, in data-flow order, as
    :mod:`checkerscope.theory` specs. Forward: from the first upsampling layer to the
    output (earlier layers only scale a uniform map by a constant). Backward: from the
    input to the last downsampling layer. 1x1 convolutions and pointwise operations are
    left out; reflection padding counts as zero padding (it changes borders only).
    A fixed filter (StyleGAN2's ``[1, 3, 3, 1]``) is a :class:`checkerscope.theory.FIR`
    with its true taps; the layer just before a stride-1 filter is judged together with
    it, and ``FIR(..., stride=2, transposed=True)`` is upfirdn2d's zero insertion plus
    filter.
  - ``overlap``: the worst layer on the path, in the audit's terms: ``"uneven"`` (uneven
    overlap), ``"even"`` (even, can learn artifacts) or ``"free"`` (artifact-free by
    construction).
  - ``periods``: the periods, on the model's output grid (forward) or input grid
    (backward), at which the path's uneven layers paint: a layer's own period times the
    resampling factor between it and that grid (the audit's ``report.periods``).
  - ``learnable_periods``: the same for the even layers that learn per-phase weights
    (where a measured grid would appear).
  - ``period`` and ``unevenness``: of the compounded steady-state pattern of ``specs``
    (per axis the same for every 2-D model here; the unevenness is the 2-D ratio for
    images: the 1-D ratio squared).

* ``fix`` lists what ``cs.fix`` (default settings) should replace, one entry per site;
  empty when nothing should be replaced. ``note`` says what else a reader should know.

Examples:
    >>> from checkerscope import zoo
    >>> expected = zoo.get("cyclegan_resnet").expected
    >>> expected.verdict, expected.decided_by, expected.periods
    ('artifacts', 'overlap', (2, 4))
    >>> expected.paths[0].unevenness  # (17/15)**2: the final 7x7 conv dampens 9:1
    1.2844...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from checkerscope.theory import LayerSpec

__all__ = ["ExpectedAudit", "ExpectedPath"]

Verdict = Literal["artifacts", "clean"]
Judgement = Literal["uneven", "even", "free"]


@dataclass(frozen=True)
class ExpectedPath:
    """The theory's prediction for one path; see the module docstring for each field."""

    name: str
    direction: Literal["forward", "backward"]
    specs: tuple[LayerSpec, ...]
    overlap: Judgement
    periods: tuple[int, ...] = ()
    learnable_periods: tuple[int, ...] = ()
    period: int = 1
    unevenness: float = 1.0


@dataclass(frozen=True)
class ExpectedAudit:
    """The theory's prediction for a whole model; see the module docstring."""

    verdict: Verdict
    decided_by: Literal["overlap", "measurement"]
    paths: tuple[ExpectedPath, ...]
    fix: tuple[str, ...] = ()
    note: str = ""

    @property
    def periods(self) -> tuple[int, ...]:
        """Every period at which an uneven layer paints, over all paths (sorted)."""
        return tuple(sorted({p for path in self.paths for p in path.periods}))

    @property
    def leading(self) -> ExpectedPath:
        """The path the audit should lead with (listed first: the worst)."""
        return self.paths[0]
