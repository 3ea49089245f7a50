"""The ops public int8 models use beside convolutions and the paper's activations: RELU, RELU6 and QUANTIZE
(int8 -> int8) as their own operators, CONCATENATION along any axis (a branchy net's channel concat, two
copies of one tensor, a negative axis), SQUEEZE and EXPAND_DIMS. Each is bit-exact with the TFLM interpreter
in both kernel builds, the elementwise ones run in place, and a model TFLM would reject gets a one-line error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyhil.codegen.lower import lower
from tinyhil.codegen.planner import plan_memory
from tinyhil.codegen.reader import read_tflite
from tinyhil.errors import UnsupportedOpError
from tinyhil.reference import ReferenceInterpreter

from .tflite_builder import (OpSpec, TensorSpec, build_graph, build_model, concatenation_options, conv_options,
                             squeeze_options)

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
scales = st.floats(1e-3, 0.5)
shapes = st.tuples(st.just(1), st.integers(1, 7), st.integers(1, 7), st.integers(1, 9))
ALL_BYTES = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)


@st.composite
def clamp_models(draw: st.DrawFn, opcode: str | None = None, shape: tuple[int, ...] | None = None) -> bytes:
    """RELU / RELU6 / QUANTIZE alone; RELU6's output as the converter writes it (the input's quantisation),
    or another one, which TFLM ignores."""
    opcode = opcode or draw(st.sampled_from(["RELU", "RELU6", "QUANTIZE"]))
    shape = shape or draw(shapes)
    x = TensorSpec(shape, scale=(draw(st.floats(1e-3, 0.2)),), zero_point=(draw(zero_points),))
    if opcode == "RELU6" and draw(st.booleans()):
        y = TensorSpec(shape, scale=x.scale, zero_point=x.zero_point)
    else:
        y = TensorSpec(shape, scale=(x.scale[0] * draw(st.floats(0.2, 3.0)),), zero_point=(draw(zero_points),))
    return build_model(opcode, [x, y], [0], [1])


def _conv(rng: np.random.Generator, tensors: list[TensorSpec], source: int, cout: int, out: TensorSpec) -> OpSpec:
    """A 1x1 CONV_2D from tensors[source] to a new tensor `out` (its weights and bias appended first)."""
    cin = tensors[source].shape[-1]
    w_scales = tuple(float(v) for v in rng.uniform(1e-3, 0.05, cout))
    tensors.append(TensorSpec((cout, 1, 1, cin), scale=w_scales, zero_point=(0,) * cout,
                              data=rng.integers(-127, 128, (cout, 1, 1, cin)).astype(np.int8)))
    tensors.append(TensorSpec((cout,), "int32", scale=tuple(tensors[source].scale[0] * v for v in w_scales),
                              zero_point=(0,) * cout, data=rng.integers(-3000, 3000, cout).astype(np.int32)))
    tensors.append(out)
    n = len(tensors)
    return OpSpec("CONV_2D", [source, n - 3, n - 2], [n - 1], conv_options((1, 1), (1, 1), "VALID", "NONE"))


@st.composite
def concatenation_models(draw: st.DrawFn) -> bytes:
    """x -> 1x1 convs (a branchy block) -> CONCATENATION with x itself, along a drawn axis (negative included),
    2-4 operands, one of them possibly twice; every operand quantised as the output (the converter's rule)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, w, c = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 12))
    axis = draw(st.sampled_from([3, -1, 1, 2, 0]))
    q = {"scale": (draw(scales),), "zero_point": (draw(zero_points),)}
    tensors = [TensorSpec((1, h, w, c), **q)]
    ops, operands = [], [0]
    for _ in range(draw(st.integers(1, 3))):
        cout = draw(st.integers(1, 12)) if axis in (3, -1) else c
        ops.append(_conv(rng, tensors, 0, cout, TensorSpec((1, h, w, cout), **q)))
        operands.append(len(tensors) - 1)
    if draw(st.booleans()):
        operands.append(draw(st.sampled_from(operands)))
    operands = draw(st.permutations(operands))
    shape = [1, h, w, c]
    shape[axis] = sum(tensors[t].shape[axis] for t in operands)
    tensors.append(TensorSpec(tuple(shape), **q))
    ops.append(OpSpec("CONCATENATION", list(operands), [len(tensors) - 1], concatenation_options(axis)))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


def _assert_in_place(blob: bytes) -> None:
    graph = read_tflite(blob)
    op = graph.operators[0]
    assert plan_memory(graph).offsets[op.inputs[0]] == plan_memory(graph).offsets[op.outputs[0]]


@SETTINGS
@given(clamp_models())
def test_relu_relu6_and_requantize_match_tflm_in_place(check_bit_exact, blob: bytes) -> None:
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["RELU", "RELU6", "QUANTIZE"]), st.data())
def test_clamp_kernels_match_tflm_on_every_int8_input(check_bit_exact, opcode: str, data: st.DataObject) -> None:
    blob = data.draw(clamp_models(opcode, shape=(1, 16, 16, 1)))
    assert check_bit_exact(blob, n_random=0, extra_inputs=(ALL_BYTES,)) == 3


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["RELU", "RELU6", "QUANTIZE"]), st.data())
def test_clamp_tables_equal_tflm_for_all_256_inputs(opcode: str, data: st.DataObject) -> None:
    """The table a conv applies when fuse.fuse_activations folds the op into it is, entry by entry, TFLM's."""
    blob = data.draw(clamp_models(opcode, shape=(1, 16, 16, 1)))
    (layer,) = lower(read_tflite(blob))
    table = np.asarray(layer.arrays[0].values, dtype=np.int64)
    expected = ReferenceInterpreter(blob).invoke(ALL_BYTES).reshape(-1)
    assert np.array_equal(table[ALL_BYTES.reshape(-1).view(np.uint8)], expected)


@SETTINGS
@given(concatenation_models())
def test_concatenation_along_any_axis_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


def test_concatenation_output_never_overlaps_a_live_operand() -> None:
    graph = read_tflite(_branchy_concat())
    plan = plan_memory(graph)
    concat = next(op for op in plan.graph.operators if op.opcode == "CONCATENATION")
    out = plan.offsets[concat.outputs[0]], plan.offsets[concat.outputs[0]] + graph.tensor(concat.outputs[0]).nbytes
    for t in concat.inputs:
        start = plan.offsets[t]
        assert start + graph.tensor(t).nbytes <= out[0] or start >= out[1]


def _branchy_concat(axis: int = 3, activation: str = "NONE", second_scale: float = 0.05) -> bytes:
    rng = np.random.default_rng(3)
    q = {"scale": (0.05,), "zero_point": (2,)}
    tensors = [TensorSpec((1, 4, 4, 3), **q)]
    ops = [_conv(rng, tensors, 0, 5, TensorSpec((1, 4, 4, 5), scale=(second_scale,), zero_point=(2,)))]
    tensors.append(TensorSpec((1, 4, 4, 8), **q))
    ops.append(OpSpec("CONCATENATION", [0, len(tensors) - 2], [len(tensors) - 1], concatenation_options(axis, activation)))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


@pytest.mark.parametrize("blob, message", [
    (_branchy_concat(second_scale=0.07), "needs them equal"),
    (_branchy_concat(activation="RELU"), "fused RELU"),
    (_branchy_concat(axis=5), "outside a rank-4"),
])
def test_a_concatenation_tflm_rejects_gets_a_one_line_error(blob: bytes, message: str) -> None:
    with pytest.raises(UnsupportedOpError, match=message) as caught:
        lower(plan_memory(read_tflite(blob)).graph)
    assert "\n" not in str(caught.value)


@SETTINGS
@given(st.integers(1, 7), st.integers(1, 9), st.sampled_from(["SQUEEZE", "EXPAND_DIMS"]), zero_points)
def test_squeeze_and_expand_dims_alias_their_input_and_match_tflm(check_bit_exact, w: int, c: int, opcode: str,
                                                                   zp: int) -> None:
    """(1,1,W,C) -SQUEEZE(1)-> (1,W,C) -> RELU6, or (1,W,C) -EXPAND_DIMS(1)-> (1,1,W,C) -> RELU6."""
    q = {"scale": (0.03,), "zero_point": (zp,)}
    if opcode == "SQUEEZE":
        tensors = [TensorSpec((1, 1, w, c), **q), TensorSpec((1, w, c), **q), TensorSpec((1, w, c), **q)]
        reshape = OpSpec("SQUEEZE", [0], [1], squeeze_options((1,)))
    else:
        tensors = [TensorSpec((1, w, c), **q), TensorSpec((1, 1, w, c), **q), TensorSpec((1, 1, w, c), **q),
                   TensorSpec((1,), "int32", data=np.array([1], dtype=np.int32))]
        reshape = OpSpec("EXPAND_DIMS", [0, 3], [1])
    blob = build_graph(tensors, [reshape, OpSpec("RELU6", [1], [2])], 0, 2)
    plan = plan_memory(read_tflite(blob))
    assert plan.offsets[0] == plan.offsets[1]
    assert check_bit_exact(blob) == 6


def test_a_float_input_quantize_says_how_to_export_int8_edges() -> None:
    blob = build_model("QUANTIZE", [TensorSpec((1, 4), "float32"), TensorSpec((1, 4), scale=(0.1,), zero_point=(0,))],
                       [0], [1])
    with pytest.raises(UnsupportedOpError, match="inference_input_type"):
        read_tflite(blob)
