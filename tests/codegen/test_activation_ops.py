"""The ops of squeeze-excitation and the paper's activations (LEAKY_RELU, HARD_SWISH, LOGISTIC, MUL with
SE's channel broadcast, MEAN as SE's pool) are bit-exact with the TFLM interpreter in both kernel builds (portable reference
arithmetic, and the fast paths: table lookups, SMLAD-style MUL), edge zero points included; the host's
256-entry tables equal the interpreter for every int8 input; and each op runs in place over its input."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyhil.codegen.fuse import TABLE_ACTIVATIONS
from tinyhil.codegen.lower import lower
from tinyhil.codegen.planner import plan_memory
from tinyhil.codegen.reader import read_tflite
from tinyhil.codegen.reference import ReferenceInterpreter

from .test_layout_and_clamp_ops import CLAMPS, clamp_models
from .tflite_builder import (OpSpec, TensorSpec, add_options, build_graph, build_model, conv_options,
                             leaky_relu_options, mean_options, mul_options)

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
scales = st.floats(1e-3, 0.5)
shapes = st.tuples(st.just(1), st.integers(1, 7), st.integers(1, 7), st.integers(1, 9))
ALL_BYTES = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)


@st.composite
def leaky_relu_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    shape = shape or draw(shapes)
    alpha = draw(st.sampled_from([0.01, 0.01, 0.1, 0.3, 0.9]))
    tensors = [TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),))]
    return build_model("LEAKY_RELU", tensors, [0], [1], leaky_relu_options(alpha))


@st.composite
def hard_swish_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    shape = shape or draw(shapes)
    in_scale = draw(scales)
    # the converter's output range of x * relu6(x + 3) / 6 is close to the input's
    out_scale = in_scale * draw(st.floats(0.2, 2.0))
    tensors = [TensorSpec(shape, scale=(in_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(out_scale,), zero_point=(draw(zero_points),))]
    return build_model("HARD_SWISH", tensors, [0], [1])


@st.composite
def logistic_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    shape = shape or draw(shapes)
    tensors = [TensorSpec(shape, scale=(draw(st.floats(1e-3, 1.0)),), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(1.0 / 256,), zero_point=(-128,))]
    return build_model("LOGISTIC", tensors, [0], [1])


@st.composite
def elu_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    """ELU int8 (TFLM's table of expf(x) - 1): any scales and zero points, the output's range near the input's."""
    shape = shape or draw(shapes)
    in_scale = draw(scales)
    tensors = [TensorSpec(shape, scale=(in_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(in_scale * draw(st.floats(0.2, 3.0)),), zero_point=(draw(zero_points),))]
    return build_model("ELU", tensors, [0], [1])


@st.composite
def rsqrt_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    """RSQRT int8 as LayerNormalization's 1 / sqrt(variance + epsilon) comes: input zero point -128 (TFLM refuses
    a byte below the zero point, so every byte is valid only there; test_rsqrt_table_* covers other zero points),
    input scales from a tiny variance to a large one, the output scale what calibration gives."""
    shape = shape or draw(shapes)
    in_scale = draw(st.floats(1e-4, 0.5))
    out_scale = draw(st.floats(0.2, 4.0)) / (float(np.sqrt(in_scale)) * 127)
    tensors = [TensorSpec(shape, scale=(in_scale,), zero_point=(-128,)),
               TensorSpec(shape, scale=(out_scale,), zero_point=(draw(st.sampled_from([-128, -128, 0, 5])),))]
    return build_model("RSQRT", tensors, [0], [1])


FLOAT_ISLAND_OPS = ["NEG", "ELU"]


def float_island_ops(draw: st.DrawFn, tensors: list[TensorSpec], source: int, shape: tuple[int, ...],
                     out: TensorSpec) -> list[OpSpec]:
    """DEQUANTIZE tensors[source], 0-2 float ops of FLOAT_ISLAND_OPS, QUANTIZE to `out` (appended last): what the
    converter writes for an op it leaves in float (a Keras ELU, LayerNormalization's NEG of the mean)."""
    ops, previous = [], source
    for opcode in ["DEQUANTIZE", *draw(st.lists(st.sampled_from(FLOAT_ISLAND_OPS), max_size=2))]:
        tensors.append(TensorSpec(shape, "float32"))
        ops.append(OpSpec(opcode, [previous], [len(tensors) - 1]))
        previous = len(tensors) - 1
    tensors.append(out)
    return ops + [OpSpec("QUANTIZE", [previous], [len(tensors) - 1])]


@st.composite
def float_island_models(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> bytes:
    shape = shape or draw(shapes)
    in_scale = draw(scales)
    tensors = [TensorSpec(shape, scale=(in_scale,), zero_point=(draw(zero_points),))]
    out = TensorSpec(shape, scale=(in_scale * draw(st.floats(0.2, 3.0)),), zero_point=(draw(zero_points),))
    return build_graph(tensors, float_island_ops(draw, tensors, 0, shape, out), 0, len(tensors) - 1)


UNARY = {"LEAKY_RELU": leaky_relu_models, "HARD_SWISH": hard_swish_models, "LOGISTIC": logistic_models,
         "ELU": elu_models, "RSQRT": rsqrt_models, "FLOAT_UNARY": float_island_models,
         **{opcode: partial(clamp_models, opcode) for opcode in CLAMPS}}  # RELU, RELU6, TANH, QUANTIZE
# the activations a conv's output feeds in the folding tests: RSQRT only takes bytes above its zero point, which a
# conv's output with a drawn zero point is not (LayerNormalization's RSQRT reads a variance, not a conv)
FOLDED = sorted(set(UNARY) - {"RSQRT"})


@st.composite
def squeeze_excitation_muls(draw: st.DrawFn) -> bytes:
    """MEAN over H, W (keep dims) -> MUL(x, mean): the (1,H,W,C) * (1,1,1,C) broadcast of SE, either order."""
    h, w, c = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.one_of(st.integers(1, 9), st.sampled_from([8, 12, 16])))
    tensors = [TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec((2,), "int32", data=np.array([1, 2], dtype=np.int32)),
               TensorSpec((1, 1, 1, c), scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),))]
    operands = [0, 2] if draw(st.booleans()) else [2, 0]
    ops = [OpSpec("MEAN", [0, 1], [2], mean_options(True)),
           OpSpec("MUL", operands, [3], mul_options(draw(st.sampled_from(["NONE", "RELU", "RELU6"]))))]
    return build_graph(tensors, ops, 0, 3)


@st.composite
def squeeze_excitation_pools(draw: st.DrawFn) -> bytes:
    """MEAN over H, W with keep dims (SE's pool; the classifier's GAP without): channel counts around the DSP
    path's 16- and 4-channel blocks, and more than 255 pixels (the 16-bit lanes' flush)."""
    h, w = draw(st.sampled_from([(1, 1), (3, 5), (16, 16), (17, 17)]))
    c = draw(st.one_of(st.sampled_from([4, 16, 20, 35]), st.integers(1, 40)))
    keep = draw(st.booleans())
    tensors = [TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec((2,), "int32", data=np.array([1, 2], dtype=np.int32)),
               TensorSpec((1, 1, 1, c) if keep else (1, c), scale=(draw(scales),), zero_point=(draw(zero_points),))]
    return build_model("MEAN", tensors, [0, 1], [2], mean_options(keep))


@st.composite
def swish_muls(draw: st.DrawFn) -> bytes:
    """LOGISTIC(x) -> MUL(x, logistic): what the converter emits for x * sigmoid(x) (tf.nn.silu)."""
    shape = draw(shapes)
    tensors = [TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(1.0 / 256,), zero_point=(-128,)),
               TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),))]
    ops = [OpSpec("LOGISTIC", [0], [1]), OpSpec("MUL", [0, 1], [2], mul_options("NONE"))]
    return build_graph(tensors, ops, 0, 2)


def _activation_ops(draw: st.DrawFn, tensors: list[TensorSpec], source: int, shape: tuple[int, ...]) -> list[OpSpec]:
    """The activation of tensors[source] (its output tensor appended last): one op (RELU, RELU6 and an int8
    QUANTIZE too, which fold as tables), or swish as the converter writes it (LOGISTIC, then MUL by the source)."""
    opcode = draw(st.sampled_from(FOLDED + ["SWISH"]))
    in_scale = tensors[source].scale[0]
    if opcode == "FLOAT_UNARY":
        out = TensorSpec(shape, scale=(in_scale * draw(st.floats(0.3, 1.5)),), zero_point=(draw(zero_points),))
        return float_island_ops(draw, tensors, source, shape, out)
    if opcode in ("LOGISTIC", "SWISH"):
        tensors.append(TensorSpec(shape, scale=(1.0 / 256,), zero_point=(-128,)))
    elif opcode == "TANH":
        tensors.append(TensorSpec(shape, scale=(1.0 / 128,), zero_point=(0,)))
    else:
        tensors.append(TensorSpec(shape, scale=(in_scale * draw(st.floats(0.3, 1.5)),), zero_point=(draw(zero_points),)))
    if opcode == "SWISH":
        sigmoid = len(tensors) - 1
        tensors.append(TensorSpec(shape, scale=(in_scale * draw(st.floats(0.3, 1.5)),), zero_point=(draw(zero_points),)))
        operands = [source, sigmoid] if draw(st.booleans()) else [sigmoid, source]
        return [OpSpec("LOGISTIC", [source], [sigmoid]), OpSpec("MUL", operands, [len(tensors) - 1], mul_options("NONE"))]
    options = leaky_relu_options(draw(st.sampled_from([0.01, 0.2]))) if opcode == "LEAKY_RELU" else None
    return [OpSpec(opcode, [source], [len(tensors) - 1], options)]


def _conv_tensors(rng: np.random.Generator, cin: int, cout: int, kh: int, kw: int, depthwise: bool,
                  in_scale: float) -> list[TensorSpec]:
    w_scales = tuple(float(v) for v in rng.uniform(1e-3, 0.05, cout))
    w_shape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    return [TensorSpec(w_shape, scale=w_scales, zero_point=(0,) * cout, axis=3 if depthwise else 0,
                       data=rng.integers(-127, 128, size=w_shape).astype(np.int8)),
            TensorSpec((cout,), "int32", scale=tuple(in_scale * v for v in w_scales), zero_point=(0,) * cout,
                       data=rng.integers(-5000, 5000, size=cout).astype(np.int32))]


@st.composite
def conv_activation_models(draw: st.DrawFn) -> bytes:
    """CONV_2D (1x1 fast path, or 3x3 im2col) or DEPTHWISE_CONV_2D (3x3 or 5x1, multiplier 1 or 2), then
    an activation (swish as LOGISTIC -> MUL included) that fuse.fuse_activations folds into it."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    kind = draw(st.sampled_from(["pointwise", "im2col", "depthwise", "depthwise"]))
    h, w, cin = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.one_of(st.integers(1, 9), st.sampled_from([8, 12])))
    kh, kw = (1, 1) if kind == "pointwise" else draw(st.sampled_from([(3, 3), (5, 1)]))
    multiplier = draw(st.integers(1, 2)) if kind == "depthwise" else 1
    cout = cin * multiplier if kind == "depthwise" else draw(st.integers(1, 12))
    in_scale = draw(scales)
    tensors = [TensorSpec((1, h, w, cin), scale=(in_scale,), zero_point=(draw(zero_points),)),
               *_conv_tensors(rng, cin, cout, kh, kw, kind == "depthwise", in_scale),
               TensorSpec((1, h, w, cout), scale=(draw(scales),), zero_point=(draw(zero_points),))]
    padding = "VALID" if kind == "pointwise" else "SAME"
    conv = OpSpec("DEPTHWISE_CONV_2D" if kind == "depthwise" else "CONV_2D", [0, 1, 2], [3],
                  conv_options((1, 1), (1, 1), padding, draw(st.sampled_from(["NONE", "RELU6"])),
                               depth_multiplier=multiplier if kind == "depthwise" else None))
    activation = _activation_ops(draw, tensors, 3, (1, h, w, cout))
    return build_graph(tensors, [conv, *activation], 0, len(tensors) - 1)


@st.composite
def mbconv_activation_models(draw: st.DrawFn) -> bytes:
    """1x1 expand -> activation -> 3x3 depthwise -> activation -> 1x1 project -> ADD: the paper's MBConv
    block with LeakyReLU / hard-swish, which the planner can run as one fused band once they are folded."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w, c = draw(st.integers(2, 7)), draw(st.integers(2, 7)), draw(st.sampled_from([4, 6, 8]))
    hidden = c * draw(st.sampled_from([2, 3]))
    s0 = draw(scales)
    tensors = [TensorSpec((1, h, w, c), scale=(s0,), zero_point=(draw(zero_points),))]  # 0

    def conv(cin: int, cout: int, k: int, depthwise: bool, source: int) -> OpSpec:
        in_scale = tensors[source].scale[0]
        tensors.extend(_conv_tensors(rng, cin, cout, k, k, depthwise, in_scale))
        tensors.append(TensorSpec((1, h, w, cout), scale=(draw(scales),), zero_point=(draw(zero_points),)))
        n = len(tensors)
        return OpSpec("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [source, n - 3, n - 2], [n - 1],
                      conv_options((1, 1), (1, 1), "SAME", "NONE", depth_multiplier=1 if depthwise else None))

    ops = [conv(c, hidden, 1, False, 0)]
    ops += _activation_ops(draw, tensors, len(tensors) - 1, (1, h, w, hidden))
    ops.append(conv(hidden, hidden, 3, True, len(tensors) - 1))
    ops += _activation_ops(draw, tensors, len(tensors) - 1, (1, h, w, hidden))
    ops.append(conv(hidden, c, 1, False, len(tensors) - 1))
    tensors.append(TensorSpec((1, h, w, c), scale=(draw(scales),), zero_point=(draw(zero_points),)))
    ops.append(OpSpec("ADD", [0, len(tensors) - 2], [len(tensors) - 1], add_options("NONE")))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


def _assert_in_place(blob: bytes) -> None:
    """The op's output takes its input's bytes: the arena holds one copy of the tensor."""
    graph = read_tflite(blob)
    op = graph.operators[0]
    plan = plan_memory(graph)
    assert plan.offsets[op.inputs[0]] == plan.offsets[op.outputs[0]]
    assert plan.arena_bytes == (graph.tensor(op.inputs[0]).nbytes + 15) // 16 * 16


@SETTINGS
@given(leaky_relu_models())
def test_leaky_relu_matches_tflm(check_bit_exact, blob: bytes) -> None:
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(hard_swish_models())
def test_hard_swish_matches_tflm(check_bit_exact, blob: bytes) -> None:
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(logistic_models())
def test_logistic_matches_tflm(check_bit_exact, blob: bytes) -> None:
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


@pytest.mark.parametrize("opcode", ["ELU", "RSQRT", "FLOAT_UNARY"])
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_elu_rsqrt_and_float_islands_match_tflm_in_place(check_bit_exact, opcode: str, data: st.DataObject) -> None:
    """Both C paths (RSQRT's portable one is TFLM's integer Newton steps; ELU's and a float island's are TFLM's
    own table) on every int8 value and random tensors; each op writes over its input."""
    blob = data.draw(UNARY[opcode]())
    _assert_in_place(blob)
    shape = read_tflite(blob).tensor(0).shape
    every_byte = np.resize(ALL_BYTES.ravel(), int(np.prod(shape)))
    assert check_bit_exact(blob, extra_inputs=(every_byte,)) == 7


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(UNARY)), st.data())
def test_activation_kernels_match_tflm_on_every_int8_input(check_bit_exact, opcode: str, data: st.DataObject) -> None:
    """Both C paths (reference arithmetic, table lookup) on one input holding all 256 int8 values."""
    blob = data.draw(UNARY[opcode](shape=(1, 16, 16, 1)))
    assert check_bit_exact(blob, n_random=0, extra_inputs=(ALL_BYTES,)) == 3


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(UNARY)), st.data())
def test_host_tables_equal_tflm_for_all_256_inputs(opcode: str, data: st.DataObject) -> None:
    """The 256-entry table the generator bakes into the C is, entry by entry, what TFLM computes."""
    blob = data.draw(UNARY[opcode](shape=(1, 16, 16, 1)))
    (layer,) = lower(read_tflite(blob))
    table = np.asarray(layer.arrays[0].values, dtype=np.int64)
    expected = ReferenceInterpreter(blob).invoke(ALL_BYTES).reshape(-1)
    ours = table[ALL_BYTES.reshape(-1).view(np.uint8)]
    assert np.array_equal(ours, expected), np.argwhere(ours != expected)[:5].ravel()


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.sampled_from(["ELU", "FLOAT_UNARY"]), st.data())
def test_float_function_tables_equal_tflm_bit_for_bit(opcode: str, data: st.DataObject) -> None:
    """ELU and the float islands: tables TFLM fills in float32 with libm's expf / expm1f, where one last-bit
    difference moves an entry; many scales and zero points, all 256 inputs each."""
    blob = data.draw(UNARY[opcode](shape=(1, 16, 16, 1)))
    (layer,) = lower(read_tflite(blob))
    expected = ReferenceInterpreter(blob).invoke(ALL_BYTES).reshape(-1)
    ours = np.asarray(layer.arrays[0].values)[ALL_BYTES.reshape(-1).view(np.uint8)]
    assert np.array_equal(ours, expected), np.argwhere(ours != expected)[:5].ravel()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(zero_points, st.floats(1e-4, 0.5), st.floats(1e-3, 0.5), zero_points)
def test_rsqrt_table_equals_tflm_above_any_zero_point(in_zp: int, in_scale: float, out_scale: float,
                                                      out_zp: int) -> None:
    """RSQRT's table against TFLM on every byte TFLM takes (those at or above the input zero point)."""
    shape = (1, 16, 16, 1)
    blob = build_model("RSQRT", [TensorSpec(shape, scale=(in_scale,), zero_point=(in_zp,)),
                                 TensorSpec(shape, scale=(out_scale,), zero_point=(out_zp,))], [0], [1])
    (layer,) = lower(read_tflite(blob))
    valid = np.maximum(ALL_BYTES, np.int8(in_zp))
    expected = ReferenceInterpreter(blob).invoke(valid).reshape(-1)
    ours = np.asarray(layer.arrays[0].values)[valid.reshape(-1).view(np.uint8)]
    assert np.array_equal(ours, expected), np.argwhere(ours != expected)[:5].ravel()


@SETTINGS
@given(squeeze_excitation_muls())
def test_squeeze_excitation_broadcast_mul_matches_tflm_in_place(check_bit_exact, blob: bytes) -> None:
    graph = read_tflite(blob)
    plan = plan_memory(graph)
    # MUL writes over an input of its size that dies there: the big one (either, for a 1x1 map)
    same_size = [t for t in (0, 2) if graph.tensor(t).shape == graph.tensor(3).shape]
    assert plan.offsets[3] in [plan.offsets[t] for t in same_size]
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(squeeze_excitation_pools())
def test_squeeze_excitation_pool_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(swish_muls())
def test_swish_as_logistic_times_input_is_one_in_place_op_and_matches_tflm(check_bit_exact, blob: bytes) -> None:
    """LOGISTIC -> MUL(x, sigmoid) runs as one SWISH over x: the sigmoid tensor never exists."""
    plan = plan_memory(read_tflite(blob))
    (swish,) = plan.graph.operators
    assert swish.opcode == "SWISH"
    assert plan.offsets[swish.inputs[0]] == plan.offsets[swish.outputs[0]]
    assert plan.arena_bytes == (read_tflite(blob).tensor(0).nbytes + 15) // 16 * 16
    assert check_bit_exact(blob) == 6


def test_keras_net_of_the_papers_blocks_is_bit_exact_and_runs_its_activations_in_place(check_bit_exact) -> None:
    """What the converter really emits for LeakyReLU, hard-swish, SE and swish runs bit-exact; every
    activation a conv produces alone is folded into that conv, and no remaining activation or SE multiply
    takes arena bytes of its own."""
    from .keras_paper_blocks import EXPECTED_OPS, export_int8

    blob = export_int8(resolution=12, seed=1)
    assert {op.opcode for op in read_tflite(blob).operators} >= EXPECTED_OPS
    plan = plan_memory(read_tflite(blob))
    graph = plan.graph
    # the planner may run a block as one fused operator (whichever lowers the peak): its convs keep their tables
    convs = [op for op in graph.operators if op.opcode != "FUSED_MBCONV"]
    convs += [part for op in graph.operators if op.opcode == "FUSED_MBCONV"
              for role, part in op.options.items() if part is not None and role not in ("expand_act", "depthwise_act")]
    assert all(op.options.get(role) is None for op in graph.operators if op.opcode == "FUSED_MBCONV"
               for role in ("expand_act", "depthwise_act"))
    folded = [op.options["fused_table"]["opcode"] for op in convs if "fused_table" in op.options]
    assert sorted(folded) == ["HARD_SWISH", "LEAKY_RELU", "LEAKY_RELU", "LOGISTIC", "LOGISTIC", "SWISH"]
    assert not {"LOGISTIC", "LEAKY_RELU", "HARD_SWISH", "SWISH"} & {op.opcode for op in convs}
    for op in graph.operators:
        if op.opcode in ("LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "MUL"):
            big = max((t for t in op.inputs if not graph.tensor(t).is_constant), key=lambda t: graph.tensor(t).nbytes)
            last_use = max(o.index for o in graph.operators if big in o.inputs)
            if last_use == op.index:
                assert plan.offsets[op.outputs[0]] == plan.offsets[big], op
    assert check_bit_exact(blob, n_random=6, seed=2) == 8


@SETTINGS
@given(conv_activation_models())
def test_activation_folded_into_its_conv_matches_tflm(check_bit_exact, blob: bytes) -> None:
    plan = plan_memory(read_tflite(blob))
    (conv,) = plan.graph.operators  # the activation runs in the conv's epilogue
    assert conv.options["fused_table"]["opcode"] in TABLE_ACTIVATIONS
    assert check_bit_exact(blob) == 6


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mbconv_activation_models())
def test_mbconv_with_folded_activations_runs_fused_bit_exact(runtime_workdir, blob: bytes) -> None:
    """With the activations folded, the paper's block is an expand -> depthwise -> project chain, and the
    fused band kernel gives the interpreter's bytes (both kernel builds)."""
    import hashlib

    from tinyhil.codegen import generate
    from tinyhil.codegen.fuse import FUSED_MBCONV
    from tinyhil.codegen.host import build_host_model

    out_dir = runtime_workdir / ("mbconv-act-" + hashlib.sha256(blob).hexdigest()[:12])
    generated = generate(blob, out_dir, fusion="all")
    assert [layer.opcode for layer in generated.layers] == [FUSED_MBCONV]
    reference = ReferenceInterpreter(blob)
    rng = np.random.default_rng(3)
    inputs = [np.full(generated.input_shape, -128, np.int8), np.full(generated.input_shape, 127, np.int8),
              *(rng.integers(-128, 128, size=generated.input_shape, dtype=np.int8) for _ in range(3))]
    for dsp in (False, True):
        model = build_host_model(generated, out_dir / "build", kernels_cache=runtime_workdir / "kernels",
                                 dsp_emulated=dsp)
        for x in inputs:
            assert np.array_equal(model.invoke(x), reference.invoke(x)), f"dsp_emulated={dsp}"


def test_converter_made_mbconv_block_with_leaky_relu_runs_as_one_fused_band(check_bit_exact) -> None:
    """The converter's CONV -> LEAKY_RELU -> DEPTHWISE -> LEAKY_RELU -> CONV -> ADD becomes one FUSED_MBCONV
    (the activations folded first), with a smaller arena than the plain schedule, bit-exact."""
    from tinyhil.codegen.fuse import FUSED_MBCONV

    from .keras_paper_blocks import export_mbconv_block

    blob = export_mbconv_block(resolution=12, channels=8, expansion=4, activation="leaky", seed=2)
    assert [op.opcode for op in read_tflite(blob).operators].count("LEAKY_RELU") == 2
    plan = plan_memory(read_tflite(blob))
    assert [op.opcode for op in plan.graph.operators] == [FUSED_MBCONV]
    assert plan.arena_bytes < plan.unfused_arena_bytes
    assert check_bit_exact(blob, n_random=3) == 5


@st.composite
def residual_adds(draw: st.DrawFn) -> bytes:
    """ADD of two different tensors with independent quantisations (x and LEAKY_RELU(x)), either order:
    either input can have the larger scale (the exact-0.5 rescaling), or both equal."""
    shape = draw(shapes)
    x_scale = draw(scales)
    y_scale = draw(st.one_of(st.just(x_scale), scales))
    tensors = [TensorSpec(shape, scale=(x_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(y_scale,), zero_point=(draw(zero_points),)),
               TensorSpec(shape, scale=(draw(scales),), zero_point=(draw(zero_points),))]
    operands = [0, 1] if draw(st.booleans()) else [1, 0]
    ops = [OpSpec("LEAKY_RELU", [0], [1], leaky_relu_options(0.1)),
           OpSpec("ADD", operands, [2], add_options(draw(st.sampled_from(["NONE", "RELU", "RELU6"]))))]
    return build_graph(tensors, ops, 0, 2)


@SETTINGS
@given(residual_adds())
def test_add_of_two_differently_quantised_tensors_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_keras_elu_folds_into_its_conv_and_is_bit_exact(check_bit_exact) -> None:
    """The converter leaves Keras' ELU (layer or activation="elu") in float: DEQUANTIZE -> ELU -> QUANTIZE, one
    FLOAT_UNARY table, which the conv before it applies in its epilogue."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = L.ELU()(L.Conv2D(8, 3, padding="same")(inp))
    x = L.DepthwiseConv2D(3, padding="same", activation="elu")(x)
    blob = export_model_int8(keras.Model(inp, L.Dense(4, activation="elu")(L.Flatten()(x))), seed=4)
    plan = plan_memory(read_tflite(blob))
    folded = [op.options.get("fused_table", {}).get("opcode") for op in plan.graph.operators]
    assert folded[:2] == ["FLOAT_UNARY", "FLOAT_UNARY"]
    assert "FLOAT_UNARY" in [op.opcode for op in plan.graph.operators]  # after the FULLY_CONNECTED
    assert check_bit_exact(blob, n_random=6) == 8
