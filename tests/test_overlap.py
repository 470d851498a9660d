"""The overlap engine: the article's numbers, the layer specs, the stack syntax.

Exact patterns below are worked out by hand from the definition (count the kernel taps
that land on each output phase); the brute-force comparison with torch lives in
``test_overlap_bruteforce.py``.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import checkerscope as cs
from checkerscope.errors import CheckerscopeError
from checkerscope.theory import (
    AvgPool,
    Conv,
    Deconv,
    LayerSpec,
    MaxPool,
    OverlapPattern,
    PixelShuffle,
    Resize,
    coverage_map,
    output_shape,
    overlap,
    parse_stack,
)

# --------------------------------------------------------------------------------------
# the article's claims C1-C4 and the gradient claim, as exact numbers
# --------------------------------------------------------------------------------------


def test_k3_s2_is_two_to_one_in_1d_and_four_to_one_in_2d() -> None:
    one = overlap(Deconv(3, 2), dims=1)
    assert one.pattern.tolist() == [2, 1]
    assert one.unevenness == 2.0
    two = overlap([Deconv(3, 2)], dims=2)
    assert two.pattern.tolist() == [[4, 2], [2, 1]]
    assert two.unevenness == 4.0
    assert overlap(Deconv(3, 2), dims=3).unevenness == 8.0


def _hand_count(kernel: int, stride: int, padding: int) -> list[int]:
    """Taps t in [0, k) landing on output n = i*s + t - p, per phase n mod s."""
    return [
        sum(1 for t in range(kernel) if (phase + padding - t) % stride == 0)
        for phase in range(stride)
    ]


@given(kernel=st.integers(1, 12), stride=st.integers(1, 6), padding=st.integers(0, 5))
def test_single_deconv_matches_hand_count(kernel: int, stride: int, padding: int) -> None:
    p = overlap(Deconv(kernel, stride, padding), dims=1)
    counts = _hand_count(kernel, stride, padding)
    assert p.structural_period == (stride,)
    assert np.array_equal(np.resize(p.pattern, stride), counts)
    # C1: even exactly when the kernel size is divisible by the stride
    assert (p.unevenness == 1.0) == (kernel % stride == 0)
    assert p.is_even == (p.period == (1,))
    if kernel < stride:
        assert p.unevenness == math.inf


def test_padding_shifts_the_phase_in_torch_coordinates() -> None:
    assert overlap(Deconv(3, 2), dims=1).pattern.tolist() == [2, 1]
    assert overlap(Deconv(3, 2, padding=1), dims=1).pattern.tolist() == [1, 2]
    # output_padding only adds samples at the far end: the phase is unchanged
    assert overlap(Deconv(3, 2, output_padding=1), dims=1).pattern.tolist() == [2, 1]


def test_two_stacked_k3_s2_deconvs_compound() -> None:
    p = overlap([Deconv(3, 2), Deconv(3, 2)], dims=1)
    assert p.period == p.structural_period == (4,)
    assert p.pattern.tolist() == [3, 2, 3, 1]
    assert p.unevenness == 3.0
    assert overlap([Deconv(3, 2)] * 2, dims=2).unevenness == 9.0
    assert overlap([Deconv(3, 2)] * 3, dims=1).period == (8,)


def test_final_stride_1_deconv_dampens() -> None:
    without = overlap([Deconv(3, 2)] * 2, dims=1)
    with_it = overlap([Deconv(3, 2)] * 2 + [Deconv(3, 1)], dims=1)
    assert with_it.pattern.tolist() == [7, 6, 8, 6]
    assert 1.0 < with_it.unevenness < without.unevenness
    # a stride-1 kernel of size 2 removes the frequency-2 pattern entirely
    assert overlap([Deconv(3, 2), Deconv(2, 1)], dims=2).is_even


def test_even_second_layer_evens_the_stack() -> None:
    p = overlap([Deconv(3, 2), Deconv(4, 2)], dims=1)
    assert p.period == (1,)
    assert p.structural_period == (4,)
    assert p.pattern.tolist() == [3]
    assert p.unevenness == 1.0


def test_strided_conv_leaves_two_to_one_in_its_input_gradient() -> None:
    p = overlap(Conv(3, 2), dims=1, direction="backward")
    assert p.pattern.tolist() == [2, 1]
    assert overlap(Conv(3, 2), dims=2, direction="backward").unevenness == 4.0
    # forward, a convolution of ones is flat; a stride-1 conv's gradient is flat too
    assert overlap(Conv(3, 2), dims=2).is_even
    assert overlap(Conv(3, 1), dims=2, direction="backward").is_even
    # the adjoint of a deconvolution is a convolution: its input gradient is flat
    assert overlap(Deconv(3, 2), dims=2, direction="backward").pattern.tolist() == [[9]]


def test_max_pool_gradient_is_modelled_as_its_expectation() -> None:
    p = overlap(MaxPool(3, 2), dims=1, direction="backward")
    np.testing.assert_allclose(p.pattern, [2 / 3, 1 / 3])
    assert p.pattern.dtype == np.float64
    assert overlap(MaxPool(2), dims=2, direction="backward").is_even


def test_resize_and_pixel_shuffle() -> None:
    assert overlap(Resize(2), dims=2).is_even
    assert overlap(PixelShuffle(3), dims=2).is_even
    assert overlap([Deconv(3, 2), Resize(2)], dims=1).pattern.tolist() == [2, 2, 1, 1]
    bilinear = overlap([Deconv(3, 2), Resize(2, "bilinear")], dims=1)
    assert bilinear.pattern.tolist() == [1.75, 1.75, 1.25, 1.25]
    assert bilinear.unevenness == pytest.approx(1.4)
    assert overlap([Deconv(3, 2), PixelShuffle(2)], dims=1).pattern.dtype == np.int64


def test_structural_period_counts_later_downsampling() -> None:
    assert overlap([Deconv(3, 2), Conv(3, 2)], dims=1).structural_period == (1,)
    assert overlap([Conv(3, 2), Deconv(3, 2)], dims=1).structural_period == (2,)
    assert overlap([Conv(3, 2), Deconv(3, 2)], dims=1, direction="backward").period == (2,)
    # sampling the odd phase of Deconv(1, 2)'s [1, 0] leaves nothing at all
    nothing = overlap([Deconv(1, 2), Conv(1, 2, padding=1)], dims=1)
    assert nothing.pattern.tolist() == [0]
    assert math.isnan(nothing.unevenness)


def test_per_axis_parameters() -> None:
    p = overlap(Deconv((3, 4), (2, 2)), dims=2)
    assert p.period == (2, 1)
    assert p.pattern.tolist() == [[4], [2]]
    assert [a.tolist() for a in p.axes] == [[2, 1], [2]]


def test_dtype_is_int_only_for_integer_weights() -> None:
    assert overlap([Deconv(3, 2), Conv(3), Resize(2), PixelShuffle(2)]).pattern.dtype == np.int64
    assert overlap([Deconv(3, 2), AvgPool(2)]).pattern.dtype == np.float64
    assert overlap([Deconv(3, 2), Resize(2, "bilinear")]).full(3).dtype == np.float64


# --------------------------------------------------------------------------------------
# full maps and shapes
# --------------------------------------------------------------------------------------


def test_full_map_by_hand() -> None:
    # three inputs, kernel 3, stride 2: outputs 0..6, inner odd positions hit once,
    # even positions where windows meet hit twice
    assert overlap(Deconv(3, 2), dims=1).full(3).tolist() == [1, 1, 2, 1, 2, 1, 1]
    assert coverage_map(Deconv(3, 2, padding=1), 3).tolist() == [1, 2, 1, 2, 1]
    two = overlap(Deconv(3, 2), dims=2).full((1, 2))
    assert two.tolist() == [[1, 1, 2, 1, 1]] * 3


def test_full_accepts_int_and_checks_shape() -> None:
    p = overlap(Deconv(3, 2), dims=2)
    assert p.full(4).shape == (9, 9)
    assert p.output_shape((4, 5)) == (9, 11)
    for bad in [(4,), (4, 5, 6), 0, (3, -1), "4", (2.5, 3)]:
        with pytest.raises(CheckerscopeError, match="input_shape"):
            p.full(bad)  # type: ignore[arg-type]


def test_output_shape_matches_torch_formulas() -> None:
    assert output_shape(Deconv(4, 2, padding=1), (16,)) == (32,)
    assert output_shape(Deconv(3, 2, padding=1, output_padding=1), (16,)) == (32,)
    assert output_shape(Conv(3, 2, padding=1), (5, 6)) == (3, 3)
    assert output_shape([Resize(3), PixelShuffle(2)], (2,)) == (12,)
    assert output_shape(AvgPool(3, 2, padding=1), (7,)) == (4,)
    assert output_shape("deconv k3 s2, conv k3", 5, dims=2) == (9, 9)


def test_empty_output_is_an_error_naming_the_layer() -> None:
    with pytest.raises(CheckerscopeError, match=r"conv k5 turns length 3 on axis 1 into -1"):
        overlap(Conv(5), dims=2).full((8, 3))


def test_backward_full_has_the_input_shape() -> None:
    grad = overlap(Conv(3, 2), dims=2, direction="backward").full((5, 7))
    assert grad.shape == (5, 7)
    assert grad[2, 2] == 4
    assert grad[2, 3] == 2
    assert grad[0, 0] == 1


# --------------------------------------------------------------------------------------
# specs: validation and descriptions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Deconv(0, 2), "kernel must be >= 1, got 0"),
        (lambda: Deconv(3, 0), "stride must be >= 1, got 0"),
        (lambda: Deconv(3, 2, padding=-1), "padding must be >= 0, got -1"),
        (lambda: Deconv(3, 2, output_padding=2), "output_padding=2 must be smaller"),
        (lambda: Deconv(3, 1, output_padding=1), "output_padding=1 must be smaller"),
        (lambda: Deconv(3, 2, dilation=0), "dilation must be >= 1"),
        (lambda: Conv(3, stride=(1, 0)), r"stride must be >= 1, got \(1, 0\)"),
        (lambda: Conv(2.5), "kernel must be an integer, got 2.5"),
        (lambda: Conv(True), "kernel must be an integer, got True"),
        (lambda: Conv("3"), "kernel must be an integer, got '3'"),
        (lambda: Conv((3, 3), (2, 2, 2)), "per-axis parameters differ in length"),
        (lambda: Conv((1, 1, 1, 1)), "1 to 3 entries"),
        (lambda: Resize(0), "scale must be >= 1"),
        (lambda: Resize(1.5), "scale must be an integer, got 1.5"),
        (lambda: Resize(2, mode="bicubic"), "mode must be one of"),
        (lambda: PixelShuffle(0), "scale must be >= 1"),
        (lambda: AvgPool(2, padding=2), "padding=2 must be at most half of kernel=2"),
        (lambda: MaxPool(3, 0), "stride must be >= 1"),
    ],
)
def test_bad_specs_raise_one_line_errors(make, message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_torch_allows_output_padding_below_dilation() -> None:
    assert Deconv(3, 1, output_padding=1, dilation=2).output_padding == 1


def test_tuple_length_must_match_dims() -> None:
    with pytest.raises(CheckerscopeError, match=r"kernel=\(3, 3\) has 2 entries but dims=1"):
        overlap(Deconv((3, 3), 2), dims=1)
    with pytest.raises(CheckerscopeError, match=r"scale=\(2, 2\) has 2 entries but dims=3"):
        overlap(Resize((2, 2)), dims=3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dims": 4}, "dims must be 1, 2 or 3, got 4"),
        ({"dims": 0}, "dims must be 1, 2 or 3"),
        ({"dims": "2"}, "dims must be 1, 2 or 3"),
        ({"direction": "sideways"}, "direction must be 'forward' or 'backward'"),
    ],
)
def test_bad_overlap_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message):
        overlap(Deconv(3, 2), **kwargs)


def test_bad_layers_argument() -> None:
    with pytest.raises(CheckerscopeError, match="empty"):
        overlap([])
    with pytest.raises(CheckerscopeError, match="not a layer spec"):
        overlap([Deconv(3, 2), 3])  # type: ignore[list-item]
    with pytest.raises(CheckerscopeError, match="layers must be"):
        overlap(3)  # type: ignore[arg-type]


def test_specs_are_frozen_hashable_and_normalised() -> None:
    spec = Deconv([3, 3], np.int64(2))
    assert spec.kernel == (3, 3)
    assert spec.stride == 2 and type(spec.stride) is int
    assert spec == Deconv((3, 3), 2)
    assert len({spec, Deconv((3, 3), 2)}) == 1
    with pytest.raises(AttributeError):
        spec.kernel = 5  # type: ignore[misc]
    assert isinstance(spec, LayerSpec)
    assert not isinstance(MaxPool(2), AvgPool)
    assert AvgPool(3).stride == 3
    assert Resize(2.0, "nearest-exact") == Resize(2)
    assert Resize(2, "trilinear").mode == "bilinear"


def test_up_and_down_factors() -> None:
    assert Deconv(3, (2, 3)).up_factors(2) == (2, 3)
    assert Deconv(3, 2).down_factors(2) == (1, 1)
    assert Conv(3, 2).down_factors(3) == (2, 2, 2)
    assert Resize(4).up_factors(1) == (4,)
    assert PixelShuffle(2).upsampling == 2
    assert MaxPool(3, 2).downsampling == 2


def test_describe() -> None:
    assert Deconv(3, 2).describe() == "deconv k3 s2"
    assert Deconv(3, 2, 1, 1, 2).describe() == "deconv k3 s2 p1 op1 d2"
    assert Conv(3).describe() == "conv k3"
    assert Conv((3, 5), 2).describe() == "conv k3x5 s2"
    assert Resize(2, "bilinear").describe() == "resize x2 bilinear"
    assert PixelShuffle(2).describe() == "pixelshuffle x2"
    assert MaxPool(3, 2, 1).describe() == "maxpool k3 s2 p1"
    assert AvgPool(2).describe() == "avgpool k2 s2"


# --------------------------------------------------------------------------------------
# the stack mini-syntax
# --------------------------------------------------------------------------------------


def test_parse_stack() -> None:
    assert parse_stack("deconv:k3:s2, deconv:k3:s2, conv:k3") == (
        Deconv(3, 2),
        Deconv(3, 2),
        Conv(3),
    )
    assert parse_stack("Deconv K4 S2 P1") == (Deconv(4, 2, padding=1),)
    assert parse_stack("resize:x2:bilinear,shuffle:x3,maxpool:k3:s2:p1") == (
        Resize(2, "bilinear"),
        PixelShuffle(3),
        MaxPool(3, 2, 1),
    )
    assert parse_stack("conv:k3x5:s1x2") == (Conv((3, 5), (1, 2)),)
    assert parse_stack("resize:s3") == (Resize(3),)
    assert overlap("deconv:k3:s2", dims=1).pattern.tolist() == [2, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty stack description"),
        ("deconv:k3:s2,,conv:k3", "empty layer"),
        ("deconv:k3", r"needs stride \(sN\)"),
        ("conv", r"needs kernel \(kN\)"),
        ("resize", r"needs scale \(xN\)"),
        ("deconv:k3:q2", "bad parameter 'q2'"),
        ("deconv:k3:s2:x2", "bad parameter 'x2'"),
        ("conv:k3:op1", "bad parameter 'op1'"),
        ("conv:kk", "bad parameter 'kk'"),
        ("upconv:k3", "unknown layer 'upconv'"),
        ("deconv:k0:s2", "kernel must be >= 1, got 0"),
        ("resize:x2:bicubic", "bad parameter 'bicubic'"),
    ],
)
def test_parse_stack_errors(text: str, message: str) -> None:
    with pytest.raises(CheckerscopeError, match=message) as info:
        parse_stack(text)
    assert "\n" not in str(info.value)


_specs = st.one_of(
    st.builds(
        Deconv,
        st.integers(1, 9),
        st.integers(2, 4),
        st.integers(0, 3),
        st.just(1),
        st.integers(1, 3),
    ),
    st.builds(Conv, st.integers(1, 9), st.integers(1, 4), st.integers(0, 3), st.integers(1, 3)),
    st.builds(Resize, st.integers(1, 4), st.sampled_from(["nearest", "bilinear"])),
    st.builds(PixelShuffle, st.integers(1, 4)),
    st.builds(AvgPool, st.integers(2, 4), st.integers(1, 4), st.integers(0, 1)),
    st.builds(MaxPool, st.integers(2, 4), st.integers(1, 4), st.integers(0, 1)),
)


@given(st.lists(_specs, min_size=1, max_size=4))
def test_descriptions_parse_back(layers: list[LayerSpec]) -> None:
    text = ", ".join(layer.describe() for layer in layers)
    assert parse_stack(text) == tuple(layers)
    assert overlap(layers, dims=1).describe() == text


# --------------------------------------------------------------------------------------
# the result object
# --------------------------------------------------------------------------------------


def test_to_dict_is_json_ready() -> None:
    d = overlap([Deconv(3, 2), Deconv(3, 2)], dims=2).to_dict()
    assert d["period"] == [4, 4]
    assert d["structural_period"] == [4, 4]
    assert d["unevenness"] == 9.0
    assert d["layers"] == ["deconv k3 s2", "deconv k3 s2"]
    assert d["dims"] == 2 and d["direction"] == "forward"
    assert d["pattern"][3] == [3, 2, 3, 1]
    json.dumps(d)


def test_repr_and_str_are_readable() -> None:
    p = overlap(Deconv(3, 2), dims=2)
    assert repr(p) == (
        "OverlapPattern(layers=[deconv k3 s2], dims=2, direction='forward', "
        "period=(2, 2), unevenness=4)"
    )
    text = str(p)
    assert "deconv k3 s2" in text
    assert "  4 2\n  2 1" in text
    assert "unevenness 4 (4:1)" in text
    assert "even" in str(overlap(Deconv(4, 2), dims=1))


def test_pattern_for_a_deep_stack_is_fast_and_size_free() -> None:
    p = overlap([Deconv(3, 2)] * 6, dims=2)
    assert p.period == (64, 64)
    assert isinstance(p, OverlapPattern)
    # the steady state agrees with the middle of a real map
    full = p.full(12)
    middle = full[256:320, 256:320]
    assert np.array_equal(middle, p.pattern)


def test_old_module_path_warns_and_keeps_the_function_bound() -> None:
    with pytest.warns(DeprecationWarning, match=r"checkerscope\.overlap is deprecated"):
        from checkerscope.overlap import Deconv as OldDeconv  # type: ignore[attr-defined]
    assert OldDeconv is Deconv
    module = importlib.import_module("checkerscope.overlap")
    assert isinstance(module, type(importlib))
    assert callable(cs.overlap) and cs.overlap([cs.Deconv(3, 2)], dims=2).unevenness == 4.0


def test_no_public_function_shares_its_module_name() -> None:
    for name in cs.__all__:
        value = getattr(cs, name)
        if callable(value) and not isinstance(value, type):
            assert value.__module__.rsplit(".", 1)[-1] != name, name


def test_engine_does_not_import_torch() -> None:
    code = (
        "import sys; from checkerscope.theory import Deconv, overlap; "
        "overlap(Deconv(3, 2)).full(4); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_result_arrays_are_read_only() -> None:
    p = overlap(Deconv(3, 2), dims=2)
    with pytest.raises(ValueError, match="read-only"):
        p.pattern[0, 0] = 7
    with pytest.raises(ValueError, match="read-only"):
        p.axes[0][0] = 7
    assert p.full(2).flags.writeable
