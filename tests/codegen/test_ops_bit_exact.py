"""Every kernel is bit-exact with the TFLM interpreter on randomised shapes, strides, paddings,
dilations and quantisation parameters, edge zero points and edge inputs included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .tflite_builder import (TensorSpec, add_options, build_model, conv_options, fc_options, mean_options,
                             pool_options, softmax_options)

SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
scales = st.floats(1e-3, 0.5)
activations = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


def _out_size(size: int, k: int, stride: int, dilation: int, padding: str) -> int:
    effective = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - effective + stride) // stride


def _conv_case(draw: st.DrawFn, depthwise: bool, channels: st.SearchStrategy[int] = st.integers(1, 6),
               kernel_heights: tuple[int, ...] = (1, 3, 5), kernel_widths: tuple[int, ...] = (1, 3),
               multipliers: st.SearchStrategy[int] = st.integers(1, 2),
               sizes: st.SearchStrategy[int] = st.integers(1, 9), out_channels: st.SearchStrategy[int] | None = None,
               strides: st.SearchStrategy[int] = st.integers(1, 2)) -> bytes:
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w = draw(sizes), draw(sizes)
    cin = draw(channels)
    kh, kw = draw(st.sampled_from(kernel_heights)), draw(st.sampled_from(kernel_widths))
    stride = (draw(strides), draw(strides))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if stride == (1, 1) else (1, 1)
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    oh, ow = (_out_size(h, kh, stride[0], dilation[0], padding), _out_size(w, kw, stride[1], dilation[1], padding))
    if oh < 1 or ow < 1:
        padding, oh, ow = "SAME", _out_size(h, kh, stride[0], dilation[0], "SAME"), _out_size(w, kw, stride[1], dilation[1], "SAME")
    multiplier = draw(multipliers) if depthwise else None
    cout = cin * multiplier if depthwise else draw(channels if out_channels is None else out_channels)
    in_scale, out_scale = draw(scales), draw(scales)
    w_scales = tuple(float(s) for s in rng.uniform(1e-3, 0.05, cout))
    w_shape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    weights = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=cout).astype(np.int32)
    axis = 3 if depthwise else 0
    tensors = [TensorSpec((1, h, w, cin), scale=(in_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(w_shape, scale=w_scales, zero_point=(0,) * cout, axis=axis, data=weights),
               TensorSpec((cout,), "int32", scale=tuple(in_scale * s for s in w_scales), zero_point=(0,) * cout,
                          data=bias),
               TensorSpec((1, oh, ow, cout), scale=(out_scale,), zero_point=(draw(zero_points),))]
    options = conv_options(stride, dilation, padding, draw(activations), depth_multiplier=multiplier)
    return build_model("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", tensors, [0, 1, 2], [3], options)


@st.composite
def conv_models(draw: st.DrawFn) -> bytes:
    return _conv_case(draw, depthwise=False)


@st.composite
def depthwise_models(draw: st.DrawFn) -> bytes:
    return _conv_case(draw, depthwise=True)


@st.composite
def few_channel_conv_models(draw: st.DrawFn) -> bytes:
    """Stems and the convs right after them: 1, 2, 3 or 8 input channels, 3x3 / 5x5 / 3x4 windows (im2col over
    the whole patch: K = 9 ... 200, whole and partial blocks of 4), stride 2 mostly, on maps large enough to
    have interior windows (the word-copy gather) and border ones (the zero-point gather) on every side;
    odd and even output channel counts (the pair layout's zero partner)."""
    return _conv_case(draw, depthwise=False, channels=st.sampled_from([1, 2, 3, 8]), kernel_heights=(3, 5),
                      kernel_widths=(1, 2, 3, 4, 5), sizes=st.integers(4, 13),
                      out_channels=st.sampled_from([1, 3, 5, 8, 9, 16]), strides=st.sampled_from([2, 2, 1]))


# channel counts around the DSP paths' blocks (4 channels, 2x2 tiles, two 4-k blocks per loop trip)
wide_channels = st.one_of(st.sampled_from([4, 8, 12, 16, 24]), st.integers(7, 21))


@st.composite
def wide_conv_models(draw: st.DrawFn) -> bytes:
    return _conv_case(draw, depthwise=False, channels=wide_channels)


@st.composite
def wide_depthwise_models(draw: st.DrawFn) -> bytes:
    """3x3 mostly: the unrolled DSP path when the channels are a multiple of 4."""
    return _conv_case(draw, depthwise=True, channels=wide_channels, kernel_heights=(3, 3, 1))


@st.composite
def large_window_depthwise_models(draw: st.DrawFn) -> bytes:
    """5x5 to 7x7 windows (the paper's kernels), 25-49 taps: the DSP tap-list path, not the portable row."""
    return _conv_case(draw, depthwise=True, channels=wide_channels, kernel_heights=(5, 7), kernel_widths=(5, 7))


@st.composite
def multiplier_depthwise_models(draw: st.DrawFn) -> bytes:
    """Depth multiplier > 1 (a 1-channel stem expanded to 8, ...): the tap-pair SMLAD path, odd and even
    multipliers and tap counts."""
    return _conv_case(draw, depthwise=True, channels=st.integers(1, 3), multipliers=st.sampled_from([2, 3, 4, 8]))


@st.composite
def in_place_depthwise_models(draw: st.DrawFn) -> bytes:
    """Stride 1 in H, SAME, multiplier 1: the planner runs these in place over their dying input."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.one_of(st.integers(1, 9), wide_channels))
    kh, kw = draw(st.sampled_from([1, 2, 3, 5])), draw(st.sampled_from([1, 3]))
    dilation_w = draw(st.integers(1, 2))
    in_scale = draw(scales)
    w_scales = tuple(float(v) for v in rng.uniform(1e-3, 0.05, c))
    tensors = [TensorSpec((1, h, w, c), scale=(in_scale,), zero_point=(draw(zero_points),)),
               TensorSpec((1, kh, kw, c), scale=w_scales, zero_point=(0,) * c, axis=3,
                          data=rng.integers(-127, 128, size=(1, kh, kw, c)).astype(np.int8)),
               TensorSpec((c,), "int32", scale=tuple(in_scale * v for v in w_scales), zero_point=(0,) * c,
                          data=rng.integers(-5000, 5000, size=c).astype(np.int32)),
               TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),))]
    options = conv_options((1, 1), (1, dilation_w), "SAME", draw(activations), depth_multiplier=1)
    return build_model("DEPTHWISE_CONV_2D", tensors, [0, 1, 2], [3], options)


@st.composite
def pointwise_models(draw: st.DrawFn) -> bytes:
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    cin, cout = draw(st.one_of(st.integers(1, 8), wide_channels)), draw(st.one_of(st.integers(1, 8), wide_channels))
    weights = rng.integers(-127, 128, size=(cout, 1, 1, cin)).astype(np.int8)
    w_scales = tuple(float(s) for s in rng.uniform(1e-3, 0.05, cout))
    tensors = [TensorSpec((1, h, w, cin), scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec((cout, 1, 1, cin), scale=w_scales, zero_point=(0,) * cout, data=weights),
               TensorSpec((cout,), "int32", scale=w_scales, zero_point=(0,) * cout,
                          data=rng.integers(-20000, 20000, size=cout).astype(np.int32)),
               TensorSpec((1, h, w, cout), scale=(draw(scales),), zero_point=(draw(zero_points),))]
    return build_model("CONV_2D", tensors, [0, 1, 2], [3], conv_options((1, 1), (1, 1), "VALID", draw(activations)))


def fc_model(n_in: int, n_out: int, seed: int, in_q: tuple[float, int], w_scale: float, out_q: tuple[float, int],
             activation: str, batches: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    tensors = [TensorSpec((batches, n_in), scale=(in_q[0],), zero_point=(in_q[1],)),
               TensorSpec((n_out, n_in), scale=(w_scale,), zero_point=(0,),
                          data=rng.integers(-127, 128, size=(n_out, n_in)).astype(np.int8)),
               TensorSpec((n_out,), "int32", scale=(in_q[0] * w_scale,), zero_point=(0,),
                          data=rng.integers(-3000, 3000, size=n_out).astype(np.int32)),
               TensorSpec((batches, n_out), scale=(out_q[0],), zero_point=(out_q[1],))]
    return build_model("FULLY_CONNECTED", tensors, [0, 1, 2], [3], fc_options(activation))


@st.composite
def fc_models(draw: st.DrawFn) -> bytes:
    return fc_model(draw(st.integers(1, 40)), draw(st.integers(1, 12)), draw(st.integers(0, 2**31)),
                    (draw(scales), draw(zero_points)), draw(st.floats(1e-3, 0.05)), (draw(scales), draw(zero_points)),
                    draw(activations))


@st.composite
def add_models(draw: st.DrawFn) -> bytes:
    shape = (1, draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 5)))
    # ADD takes one graph input here: both operands are the same tensor, as in x + x
    a_scale, y_scale = draw(scales), draw(scales)
    tensors = [TensorSpec(shape, scale=(a_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(y_scale,), zero_point=(draw(zero_points),))]
    return build_model("ADD", tensors, [0, 0], [1], add_options(draw(activations)))


@st.composite
def pool_models(draw: st.DrawFn) -> bytes:
    opcode = draw(st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]))
    # channels past 4: the max pool's word path (4 channels per SSUB8/SEL) and its leftover channels
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.one_of(st.integers(1, 4), st.sampled_from([8, 13])))
    fh, fw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    if h < fh or w < fw:
        padding = "SAME"
    oh, ow = _out_size(h, fh, stride[0], 1, padding), _out_size(w, fw, stride[1], 1, padding)
    quant = dict(scale=(draw(scales),), zero_point=(draw(zero_points),))
    tensors = [TensorSpec((1, h, w, c), **quant), TensorSpec((1, oh, ow, c), **quant)]
    return build_model(opcode, tensors, [0], [1], pool_options((fh, fw), stride, padding, draw(activations)))


@st.composite
def mean_models(draw: st.DrawFn) -> bytes:
    h, w, c = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 8))
    keep = draw(st.booleans())
    out_shape = (1, 1, 1, c) if keep else (1, c)
    tensors = [TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec((2,), "int32", data=np.array([1, 2], dtype=np.int32)),
               TensorSpec(out_shape, scale=(draw(scales),), zero_point=(draw(zero_points),))]
    return build_model("MEAN", tensors, [0, 1], [2], mean_options(keep))


@st.composite
def softmax_models(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(1, 40))
    tensors = [TensorSpec((1, depth), scale=(draw(st.floats(1e-3, 1.0)),), zero_point=(draw(zero_points),)),
               TensorSpec((1, depth), scale=(1.0 / 256,), zero_point=(-128,))]
    return build_model("SOFTMAX", tensors, [0], [1], softmax_options(draw(st.sampled_from([1.0, 0.5, 2.0]))))


@st.composite
def pad_models(draw: st.DrawFn) -> bytes:
    shape = (1, draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    pads = np.array([[0, 0], [draw(st.integers(0, 2)), draw(st.integers(0, 2))],
                     [draw(st.integers(0, 2)), draw(st.integers(0, 2))], [0, draw(st.integers(0, 1))]], np.int32)
    out_shape = tuple(int(s + p.sum()) for s, p in zip(shape, pads))
    quant = dict(scale=(draw(scales),), zero_point=(draw(zero_points),))
    tensors = [TensorSpec(shape, **quant), TensorSpec((4, 2), "int32", data=pads), TensorSpec(out_shape, **quant)]
    return build_model("PAD", tensors, [0, 1], [2])


@st.composite
def reshape_models(draw: st.DrawFn) -> bytes:
    h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    quant = dict(scale=(draw(scales),), zero_point=(draw(zero_points),))
    tensors = [TensorSpec((1, h, w, c), **quant), TensorSpec((2,), "int32", data=np.array([1, h * w * c], np.int32)),
               TensorSpec((1, h * w * c), **quant)]
    return build_model("RESHAPE", tensors, [0, 1], [2])


@SETTINGS
@given(conv_models())
def test_conv2d_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(pointwise_models())
def test_pointwise_conv_fast_path_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(few_channel_conv_models())
def test_few_input_channel_conv2d_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(wide_conv_models())
def test_conv2d_with_wide_channels_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(depthwise_models())
def test_depthwise_conv2d_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(wide_depthwise_models())
def test_depthwise_conv2d_with_wide_channels_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(large_window_depthwise_models())
def test_depthwise_conv2d_with_large_windows_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(multiplier_depthwise_models())
def test_depthwise_conv2d_with_depth_multiplier_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(in_place_depthwise_models())
def test_in_place_depthwise_conv2d_matches_tflm(check_bit_exact, blob: bytes) -> None:
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite

    assert plan_memory(read_tflite(blob)).in_place_ops == {0}
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(fc_models())
def test_fully_connected_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


# out_features 1-13 (every row-group size of fully_connected_folded.c and their mixes: 5 = 4 + 1,
# 11 = 6 + 4 + 1, ...), 37 and 128; in_features below one block, odd, not a multiple of 4 or of 16 (the
# zero-padded tail), a multiple of 16 (no tail), and large; two batch rows once; RELU6 takes the
# generic requantisation instead of the inline one
FC_SHAPES = [(1, 1, 1), (3, 2, 1), (5, 3, 1), (8, 4, 1), (13, 5, 1), (16, 6, 1), (17, 7, 1), (30, 8, 1),
             (31, 9, 1), (64, 10, 1), (70, 11, 1), (96, 12, 1), (33, 13, 2), (7, 37, 1), (1283, 10, 1),
             (640, 128, 1)]


def test_fully_connected_row_groups_cover_every_row_with_at_most_one_group_under_four_rows() -> None:
    from tinyhil.codegen.lower import fc_row_groups

    for out_features in range(1, 200):
        groups = fc_row_groups(out_features)
        assert sum(groups) == out_features, (out_features, groups)
        assert set(groups) <= {1, 2, 4, 6}, out_features
        assert sum(1 for g in groups if g < 4) <= (2 if out_features == 3 else 1), (out_features, groups)


@pytest.mark.parametrize("n_in, n_out, batches", FC_SHAPES)
@pytest.mark.parametrize("activation", ["NONE", "RELU6"])
def test_fully_connected_row_groups_and_input_tails_match_tflm(check_bit_exact, n_in: int, n_out: int, batches: int,
                                                               activation: str) -> None:
    blob = fc_model(n_in, n_out, seed=n_in * 100 + n_out, in_q=(0.05, 3), w_scale=0.004, out_q=(0.08, -5),
                    activation=activation, batches=batches)
    assert check_bit_exact(blob, n_random=2) == 4


@SETTINGS
@given(add_models())
def test_add_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(pool_models())
def test_average_and_max_pool_match_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(mean_models())
def test_mean_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(softmax_models())
def test_softmax_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob, n_random=10) == 12


@SETTINGS
@given(pad_models())
def test_pad_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(reshape_models())
def test_reshape_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


def _one_conv(h: int, w: int, cin: int, cout: int, kernel: tuple[int, int], stride: tuple[int, int],
              padding: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    oh, ow = (_out_size(h, kernel[0], stride[0], 1, padding), _out_size(w, kernel[1], stride[1], 1, padding))
    w_scales = tuple(float(s) for s in rng.uniform(1e-3, 0.05, cout))
    tensors = [TensorSpec((1, h, w, cin), scale=(0.02,), zero_point=(-3,)),
               TensorSpec((cout, *kernel, cin), scale=w_scales, zero_point=(0,) * cout,
                          data=rng.integers(-127, 128, size=(cout, *kernel, cin)).astype(np.int8)),
               TensorSpec((cout,), "int32", scale=tuple(0.02 * s for s in w_scales), zero_point=(0,) * cout,
                          data=rng.integers(-5000, 5000, size=cout).astype(np.int32)),
               TensorSpec((1, oh, ow, cout), scale=(0.1,), zero_point=(2,))]
    return build_model("CONV_2D", tensors, [0, 1, 2], [3], conv_options(stride, (1, 1), padding, "NONE"))


def test_one_column_windows_over_one_channel_match_tflm(check_bit_exact) -> None:
    """k x 1 windows over 1 channel (runs of 1-2 bytes per kernel row: the im2col gather's word copies would
    run past the gathered row into the q15 blocks), and 3 x 2 over 1 channel."""
    for kernel in ((3, 1), (7, 1), (5, 1), (3, 2)):
        for stride in ((1, 1), (2, 1)):
            assert check_bit_exact(_one_conv(11, 6, 1, 5, kernel, stride, "VALID", seed=kernel[0])) == 6


@st.composite
def pair_kernel_depthwise_models(draw: st.DrawFn) -> bytes:
    """Depth multiplier 1, 3x3, 5x5 or 7x7 (th_depthwise_conv2d_pairs_s8 at stride 1 or 2 in W; the tap list at other
    strides or dilations), channel counts around its 4-channel fill, odd output widths, clamped and unclamped
    outputs."""
    k = draw(st.sampled_from((3, 5, 7)))
    return _conv_case(draw, depthwise=True, channels=st.one_of(st.integers(1, 6), wide_channels),
                      kernel_heights=(k,), kernel_widths=(k,), multipliers=st.just(1))


@SETTINGS
@given(pair_kernel_depthwise_models())
def test_depthwise_conv2d_pair_kernel_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


def test_depthwise_chain_through_every_pair_kernel_path_matches_tflm(check_bit_exact) -> None:
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.codegen.scratch import runs_depthwise_pairs

    from .depthwise_chains import PAIR_KERNEL_CHAIN, Depthwise, depthwise_chain

    for channels in (10, 4, 3):  # two 4-channel groups and a pair, one group, a tail only
        blob = depthwise_chain(PAIR_KERNEL_CHAIN, 11, 13, channels, seed=channels)
        plan = plan_memory(read_tflite(blob))
        # the first three (at the arena's peak) on the tap list, the rest (both strides, clamped or not) pairs
        assert [runs_depthwise_pairs(plan.graph, op) for op in plan.graph.operators] == [False] * 3 + [True] * 4
        assert check_bit_exact(blob) == 6
    # odd channels x an odd number of column pairs (3 px: a 6-column ring row): a row below the image zeroes
    # an odd number of words, and must not write into the next slot
    assert check_bit_exact(depthwise_chain((Depthwise(3, 3), Depthwise(3, 3)), 3, 3, 1, seed=1)) == 6


@pytest.mark.parametrize("window", ["5x5", "7x7"])
def test_depthwise_chain_through_every_5x5_and_7x7_pair_loop_matches_tflm(check_bit_exact, tmp_path, window) -> None:
    from tinyhil.codegen import generate

    from . import depthwise_chains
    from .depthwise_chains import depthwise_chain

    chain = getattr(depthwise_chains, f"PAIR_{window.upper()}_CHAIN")
    loops = getattr(depthwise_chains, f"PAIR_{window.upper()}_LOOPS")
    fills = set()
    for channels in (12, 4, 24):  # 4-channel groups, one group, more groups than column pairs (filled by pair)
        blob = depthwise_chain(chain, 30, 29, channels, seed=50 + channels)
        kernels = [layer.kernel.replace("_inplace", "") for layer in generate(blob, tmp_path / str(channels)).layers]
        assert [k.rsplit("_by_", 1)[0] for k in kernels[1:]] == [f"th_depthwise_conv2d_pairs_{loop}" for loop in loops]
        fills |= {k.rsplit("_by_", 1)[1] for k in kernels[1:]}
        assert check_bit_exact(blob) == 6
    assert fills == {"pair_s8", "group_s8"}
    # a tail of 1-3 channels beside the groups, and maps down to a pixel or two (1x1 after the VALID layer)
    k = int(window[0])
    for channels, size in ((7, 2 * k - 1), (2, 2 * k), (5, 2 * k + 1)):
        assert check_bit_exact(depthwise_chain(chain, size, size + 1, channels, seed=channels)) == 6


def test_a_depthwise_whose_requantisation_shifts_left_keeps_the_tap_list(check_bit_exact, tmp_path) -> None:
    """The pair loops fold a right shift into their requantisation; a layer whose scales shift left (an output
    scale below input x filter) would run the pair kernel's portable row, 10x slower than the tap list (LMaNet-Core's
    7x7: 30.6 instructions per MAC), so it keeps the tap list."""
    from tinyhil.codegen import generate

    from .tflite_builder import OpSpec, TensorSpec, build_graph, conv_options

    rng = np.random.default_rng(9)
    tensors = [TensorSpec((1, 12, 12, 8), scale=(0.5,), zero_point=(3,)),
               TensorSpec((1, 7, 7, 8), scale=(0.04,) * 8, zero_point=(0,) * 8, axis=3,
                          data=rng.integers(-127, 128, size=(1, 7, 7, 8)).astype(np.int8)),
               TensorSpec((8,), "int32", scale=(0.02,) * 8, zero_point=(0,) * 8,
                          data=rng.integers(-300, 300, size=8).astype(np.int32)),
               TensorSpec((1, 12, 12, 8), scale=(0.004,), zero_point=(-5,))]  # 0.5 * 0.04 / 0.004 = 5: a left shift
    blob = build_graph(tensors, [OpSpec("DEPTHWISE_CONV_2D", [0, 1, 2], [3],
                                        conv_options((1, 1), (1, 1), "SAME", "NONE", depth_multiplier=1))], 0, 3)
    (layer,) = generate(blob, tmp_path / "g").layers
    assert layer.kernel.startswith("th_depthwise_conv2d_") and "_pairs_" not in layer.kernel
    assert check_bit_exact(blob) == 6


def test_the_planner_keeps_the_pair_ring_of_layers_away_from_the_peak() -> None:
    """The layer at the arena's peak (a stride-2 3x3 from 20x20x64) takes the tap list first; the four 5x5 after
    it keep their larger pair rings, which fit under that peak (by ring size alone they went first, then all)."""
    from tinyhil.codegen.planner import plan_memory
    from tinyhil.codegen.reader import read_tflite
    from tinyhil.codegen.scratch import runs_depthwise_pairs

    from .depthwise_chains import Depthwise, depthwise_chain

    chain = (Depthwise(3, 3, 2), Depthwise(5, 5, activation="RELU6"), Depthwise(5, 5), Depthwise(5, 5, 2),
             Depthwise(5, 5, 2, activation="RELU6"))
    blob = depthwise_chain(chain, 20, 20, 64, seed=3)
    plan = plan_memory(read_tflite(blob))
    assert [runs_depthwise_pairs(plan.graph, op) for op in plan.graph.operators] == [False] + [True] * 4
    assert plan.arena_bytes <= plan_memory(read_tflite(depthwise_chain(chain[:1], 20, 20, 64, seed=3))).arena_bytes


def test_depthwise_chain_through_every_fixed_window_matches_tflm(check_bit_exact, tmp_path) -> None:
    from tinyhil.codegen import generate

    from .depthwise_chains import WINDOW_CHAIN, WINDOW_KERNELS, depthwise_chain

    for channels in (8, 4, 10):  # two 4-channel groups, one; 10: not a multiple of 4, the general tap list
        blob = depthwise_chain(WINDOW_CHAIN, 15, 7, channels, seed=20 + channels)
        kernels = [layer.kernel.replace("_inplace", "") for layer in generate(blob, tmp_path / str(channels)).layers]
        if channels % 4 == 0:
            assert kernels == [f"th_depthwise_conv2d_{window}_s8" for window in WINDOW_KERNELS]
        else:  # the 5x5 / 7x7 layers whose pair rings fit take the pair kernel (it has a channel tail), the rest
            # the taps
            assert all(k == "th_depthwise_conv2d_taps_s8" or (window in ("5x5", "7x7") and f"_pairs_{window}_" in k)
                       for k, window in zip(kernels, WINDOW_KERNELS))
        assert check_bit_exact(blob) == 6


def test_depthwise_chain_through_every_pair_window_loop_matches_tflm(check_bit_exact, tmp_path) -> None:
    from tinyhil.codegen import generate

    from .depthwise_chains import PAIR_KERNEL_CHAIN, PAIR_WINDOW_CHAIN, depthwise_chain

    loops = ("5x1_s1", "1x3_s1", "3x1_s1_clamp", "1x3_s1", "1x3_s1_clamp", "5x1_s1", "3x1_s1", "1x3_s1",
             "5x1_s1_clamp", "3x1_s1_clamp")
    for channels in (10, 4, 3):  # 4-channel groups and a tail, one group, a tail only
        blob = depthwise_chain(PAIR_WINDOW_CHAIN, 24, 26, channels, seed=30 + channels)
        kernels = [layer.kernel.replace("_inplace", "") for layer in generate(blob, tmp_path / str(channels)).layers]
        assert kernels[1:] == [f"th_depthwise_conv2d_pairs_{loop}_by_group_s8" for loop in loops]
        assert check_bit_exact(blob) == 6
    # 24 channels over 5 columns: more 4-channel groups than column pairs, the ring filled pair by pair
    blob = depthwise_chain(PAIR_KERNEL_CHAIN, 11, 5, 24, seed=1)
    assert any("_by_pair" in layer.kernel for layer in generate(blob, tmp_path / "by-pair").layers)
    assert check_bit_exact(blob) == 6


def test_k_by_1_depthwise_runs_its_line_rows_alone_and_the_tap_list_layout_inside_a_fused_block(
        runtime_workdir, tmp_path) -> None:
    from tinyhil.codegen import generate
    from tinyhil.codegen.host import build_host_model
    from tinyhil.codegen.reference import ReferenceInterpreter

    from . import keras_speed_nets

    # a DS-CNN-like net: 5x1, 1x3, 3x1, 5x1 depthwise filters over 8 channels, each followed by a 1x1 conv
    blob = keras_speed_nets.export_int8(keras_speed_nets.ds_cnn_audio(frames=13, bins=7, width=8, classes=4), seed=0)
    reference = ReferenceInterpreter(blob)
    for fusion in ("off", "all"):
        generated = generate(blob, tmp_path / fusion, fusion=fusion)
        kernels = [layer.kernel for layer in generated.layers]
        lines, fused = [k for k in kernels if "_line_" in k], [k for k in kernels if "mbconv" in k]
        # alone: every k x 1 / 1 x k depthwise on its line row; fused: not those in a block (its rows read the tap
        # list's layout)
        if fusion == "off":
            assert (len(lines), len(fused)) == (4, 0), kernels
        else:
            assert fused and len(lines) + len(fused) == 4, kernels
        rng = np.random.default_rng(1)
        for dsp in (False, True):
            model = build_host_model(generated, tmp_path / fusion / "build", kernels_cache=runtime_workdir / "kernels",
                                     dsp_emulated=dsp)
            for x in [np.full(generated.input_shape, -128, np.int8)] + [
                    rng.integers(-128, 128, size=generated.input_shape, dtype=np.int8) for _ in range(3)]:
                assert np.array_equal(model.invoke(x), reference.invoke(x)), (fusion, dsp)


def test_a_depthwise_takes_a_line_row_only_for_a_one_line_window_it_can_run() -> None:
    from tinyhil.codegen.lower import depthwise_kernel, depthwise_line

    assert depthwise_line(5, 1, 1, 1, 64, 1, folded_requant=True, clamp=False)
    assert depthwise_kernel(5, 1, 1, 64, 1, True, True, line=True) == "th_depthwise_conv2d_line_5x1_s8"
    for reason, args in {"square window": (3, 3, 1, 1, 64, 1, True, False), "channels not a multiple of 4":
                         (1, 3, 1, 1, 10, 1, True, False), "a clamp": (1, 5, 1, 1, 8, 1, True, True),
                         "no folded requantisation": (7, 1, 1, 1, 8, 1, False, False), "dilation":
                         (3, 1, 2, 1, 8, 1, True, False), "a depth multiplier": (1, 3, 1, 1, 8, 2, True, False)}.items():
        assert not depthwise_line(*args), reason


@pytest.mark.parametrize("window", [16, 17])
def test_average_pool_over_a_window_at_and_past_the_16_bit_lanes_limit_matches_tflm(check_bit_exact, window: int) -> None:
    """The DSP path sums four channels in 16-bit lanes, exact up to 256 taps (16x16 of -128 is -32768); 17x17
    takes the reference loop. The all -128 and all 127 inputs check_bit_exact sends are the lanes' extremes."""
    quant = dict(scale=(0.05,), zero_point=(3,))
    tensors = [TensorSpec((1, window, window, 12), **quant), TensorSpec((1, 1, 1, 12), **quant)]
    blob = build_model("AVERAGE_POOL_2D", tensors, [0], [1], pool_options((window, window), (1, 1), "VALID", "NONE"))
    assert check_bit_exact(blob) == 6
