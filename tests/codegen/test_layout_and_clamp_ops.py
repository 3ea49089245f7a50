"""The ops public int8 models use beside convolutions and the paper's activations: RELU, RELU6, TANH and QUANTIZE
(int8 -> int8) as their own operators, CONCATENATION along any axis (a branchy net's channel concat, two
copies of one tensor, a negative axis), SQUEEZE and EXPAND_DIMS. Each is bit-exact with the TFLM interpreter
in both kernel builds, the elementwise ones run in place (their tables against TFLM on all 256 inputs, and folded
into a conv: test_activation_ops, whose UNARY takes clamp_models), and a model TFLM would reject gets a one-line
error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyhil.codegen.lower import lower
from tinyhil.codegen.planner import plan_memory
from tinyhil.codegen.reader import read_tflite
from tinyhil.errors import UnsupportedOpError
from tinyhil.codegen.reference import ReferenceInterpreter

from .tflite_builder import (OpSpec, TensorSpec, build_graph, build_model, concatenation_options, conv_options,
                             squeeze_options)

SETTINGS = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
scales = st.floats(1e-3, 0.5)
shapes = st.tuples(st.just(1), st.integers(1, 7), st.integers(1, 7), st.integers(1, 9))
CLAMPS = ["RELU", "RELU6", "TANH", "QUANTIZE"]


@st.composite
def clamp_models(draw: st.DrawFn, opcode: str | None = None, shape: tuple[int, ...] | None = None) -> bytes:
    """RELU / RELU6 / TANH / QUANTIZE alone; RELU6's output as the converter writes it (the input's quantisation),
    or another one, which TFLM ignores."""
    opcode = opcode or draw(st.sampled_from(CLAMPS))
    shape = shape or draw(shapes)
    x = TensorSpec(shape, scale=(draw(st.floats(1e-3, 0.2)),), zero_point=(draw(zero_points),))
    if opcode == "TANH":  # the converter's output quantisation, which TFLM's kernel assumes
        y = TensorSpec(shape, scale=(1.0 / 128,), zero_point=(0,))
    elif opcode == "RELU6" and draw(st.booleans()):
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
def test_relu_relu6_tanh_and_requantize_match_tflm_in_place(check_bit_exact, blob: bytes) -> None:
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


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
    ops.append(OpSpec("CONCATENATION", [0, len(tensors) - 2], [len(tensors) - 1],
                      concatenation_options(axis, activation)))
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


@st.composite
def broadcast_binary_models(draw: st.DrawFn) -> bytes:
    """ADD / SUB / MUL / MAXIMUM / MINIMUM of an activation (1,H,W,C) and a second operand: an activation of the same
    shape, or a constant or activation broadcast over the leading dims (per channel (C,) / (1,1,1,C), or a
    scalar), in either operand order; MAXIMUM / MINIMUM operands share the output's quantisation (the
    converter's rule)."""
    from .tflite_builder import add_options, mean_options, mul_options, sub_options

    opcode = draw(st.sampled_from(["ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"]))
    h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 9))
    shape = (1, h, w, c)
    second_shape = draw(st.sampled_from([shape, (c,), (1, 1, 1, c), (1,), ()]))
    constant = draw(st.booleans()) or second_shape in ((c,), (1,), ())
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))

    def quant() -> dict:
        return {"scale": (draw(scales),), "zero_point": (draw(zero_points),)}

    shared = quant()
    q = (lambda: shared) if opcode in ("MAXIMUM", "MINIMUM") else quant
    tensors = [TensorSpec(shape, **q())]
    ops = []
    if constant:
        tensors.append(TensorSpec(second_shape, **q(), data=rng.integers(-128, 128, second_shape).astype(np.int8)))
    elif second_shape == shape:
        tensors.append(TensorSpec(shape, **q()))
        ops.append(OpSpec("RELU6", [0], [1]))  # a second activation, made from the input
    else:  # an activation broadcast per channel: the input's spatial mean
        tensors += [TensorSpec((2,), "int32", data=np.array([1, 2], dtype=np.int32)), TensorSpec((1, 1, 1, c), **q())]
        ops.append(OpSpec("MEAN", [0, 1], [2], mean_options(True)))
    second = len(tensors) - 1
    tensors.append(TensorSpec(shape, **q()))
    operands = [0, second] if draw(st.booleans()) or opcode == "SUB" else [second, 0]  # SUB: x - y only
    options = {"ADD": add_options, "SUB": sub_options, "MUL": mul_options}.get(opcode)
    ops.append(OpSpec(opcode, operands, [len(tensors) - 1],
                      options(draw(st.sampled_from(["NONE", "RELU"]))) if options else None))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


@SETTINGS
@given(broadcast_binary_models())
def test_elementwise_ops_with_broadcast_or_constant_operands_match_tflm(check_bit_exact, blob: bytes) -> None:
    graph = read_tflite(blob)
    layer = lower(plan_memory(graph).graph)[-1]
    constants = [t for t in layer.inputs if graph.tensor(t).is_constant]
    assert sorted(layer.const_inputs) == constants  # read from flash, never copied into the arena
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["relu-max-value", "batchnorm-after-pool"])
def test_converter_made_clip_and_standalone_batchnorm_are_bit_exact(check_bit_exact, kind: str) -> None:
    """Keras' ReLU(max_value=1) exports as MINIMUM with a constant (and RELU); a BatchNormalization after a pool
    (no conv to fold into) as MUL and ADD by per-channel constants."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((12, 12, 3), batch_size=1)
    x = L.MaxPooling2D(2)(L.Conv2D(8, 3, padding="same")(inp))
    x = L.ReLU(max_value=1.0)(x) if kind == "relu-max-value" else L.BatchNormalization()(x)
    blob = export_model_int8(keras.Model(inp, L.Dense(4)(L.Flatten()(x))), seed=3)
    opcodes = {op.opcode for op in read_tflite(blob).operators}
    assert ({"MINIMUM"} if kind == "relu-max-value" else {"MUL", "ADD"}) <= opcodes
    assert check_bit_exact(blob, n_random=6) == 8


def chain_of_new_ops_model() -> bytes:
    """One graph through every op of this file, each on the output of the one before: RELU, QUANTIZE, TANH,
    MINIMUM by a scalar constant, SUB of a per-channel constant, MUL by a (1,1,1,C) constant, ADD of the map's
    own mean (an activation broadcast), CONCATENATION of a tensor with itself, MAXIMUM of two activations,
    RELU6, MAX_POOL_2D (its word path: 12 channels), RESIZE_NEAREST_NEIGHBOR, PRELU, TRANSPOSE, STRIDED_SLICE,
    TRANSPOSE_CONV, RESIZE_BILINEAR."""
    from .tflite_builder import (add_options, mean_options, mul_options, pool_options, resize_bilinear_options,
                                 resize_nearest_options, strided_slice_options, sub_options, transpose_conv_options)

    rng = np.random.default_rng(11)
    h, w, c = 6, 5, 6
    t = [TensorSpec((1, h, w, c), scale=(0.04,), zero_point=(-5,))]

    def tensor(shape=(1, h, w, c), scale=0.03, zp=3, data=None) -> int:
        t.append(TensorSpec(shape, scale=(scale,), zero_point=(zp,), data=data))
        return len(t) - 1

    ops = [OpSpec("RELU", [0], [relu := tensor(scale=0.05, zp=-128)])]
    ops.append(OpSpec("QUANTIZE", [relu], [q := tensor(scale=0.02, zp=-20)]))
    ops.append(OpSpec("TANH", [q], [th := tensor(scale=1 / 128, zp=0)]))
    bound = tensor((1,), 1 / 128, 0, np.array([90], np.int8))
    ops.append(OpSpec("MINIMUM", [th, bound], [mn := tensor(scale=1 / 128, zp=0)]))
    mean_c = tensor((c,), 1 / 128, 0, rng.integers(-128, 128, c).astype(np.int8))
    ops.append(OpSpec("SUB", [mn, mean_c], [sb := tensor(scale=0.015, zp=2)], sub_options("NONE")))
    gain = tensor((1, 1, 1, c), 0.01, 0, rng.integers(-128, 128, (1, 1, 1, c)).astype(np.int8))
    ops.append(OpSpec("MUL", [gain, sb], [ml := tensor(scale=0.01, zp=-1)], mul_options("NONE")))
    t.append(TensorSpec((2,), "int32", data=np.array([1, 2], np.int32)))  # MEAN over H, W
    axes = len(t) - 1
    ops.append(OpSpec("MEAN", [ml, axes], [mean := tensor((1, 1, 1, c), 0.01, 0)], mean_options(True)))
    ops.append(OpSpec("ADD", [mean, ml], [ad := tensor(scale=0.02, zp=4)], add_options("RELU")))
    ops.append(OpSpec("CONCATENATION", [ad, ad], [cat := tensor((1, h, w, 2 * c), 0.02, 4)], concatenation_options(3)))
    ops.append(OpSpec("RELU6", [cat], [r6 := tensor((1, h, w, 2 * c), 0.02, 4)]))
    ops.append(OpSpec("MAXIMUM", [cat, r6], [mx := tensor((1, h, w, 2 * c), 0.02, 4)]))
    ops.append(OpSpec("MAX_POOL_2D", [mx], [pooled := tensor((1, 3, 3, 2 * c), 0.02, 4)],
                      pool_options((2, 2), (2, 2), "SAME", "NONE")))
    t.append(TensorSpec((2,), "int32", data=np.array([5, 7], np.int32)))
    ops.append(OpSpec("RESIZE_NEAREST_NEIGHBOR", [pooled, len(t) - 1], [resized := tensor((1, 5, 7, 2 * c), 0.02, 4)],
                      resize_nearest_options(False, True)))
    slope = tensor((1, 1, 2 * c), 0.004, -10, rng.integers(-128, 128, (1, 1, 2 * c)).astype(np.int8))
    ops.append(OpSpec("PRELU", [resized, slope], [prelu := tensor((1, 5, 7, 2 * c), 0.015, -2)]))
    t.append(TensorSpec((4,), "int32", data=np.array([0, 3, 1, 2], np.int32)))  # NHWC -> NCHW
    ops.append(OpSpec("TRANSPOSE", [prelu, len(t) - 1], [nchw := tensor((1, 2 * c, 5, 7), 0.015, -2)]))
    for values in ([0, 1, 0, -1], [1, 2 * c, 5, -8], [1, 2, 1, -2]):  # every other channel from 1, W reversed by 2
        t.append(TensorSpec((4,), "int32", data=np.array(values, np.int32)))
    ops.append(OpSpec("STRIDED_SLICE", [nchw, len(t) - 3, len(t) - 2, len(t) - 1],
                      [sliced := tensor((1, c, 5, 4), 0.015, -2)], strided_slice_options(0, 0, 0)))
    t.append(TensorSpec((4,), "int32", data=np.array([1, 2 * c, 10, 3], np.int32)))
    shape_t = len(t) - 1
    filt = tensor((3, 3, 3, 4), 0.01, 0, rng.integers(-127, 128, (3, 3, 3, 4)).astype(np.int8))
    ops.append(OpSpec("TRANSPOSE_CONV", [shape_t, filt, sliced], [upsampled := tensor((1, 2 * c, 10, 3), 0.05, 1)],
                      transpose_conv_options((2, 2), "SAME", "NONE")))
    t.append(TensorSpec((2,), "int32", data=np.array([7, 13], np.int32)))
    ops.append(OpSpec("RESIZE_BILINEAR", [upsampled, len(t) - 1], [tensor((1, 7, 13, 3), 0.05, 1)],
                      resize_bilinear_options(False, True)))
    return build_graph(t, ops, 0, len(t) - 1)


def test_a_chain_of_every_new_op_matches_tflm(check_bit_exact) -> None:
    opcodes = [op.opcode for op in read_tflite(chain_of_new_ops_model()).operators]
    assert {"RELU", "QUANTIZE", "TANH", "MINIMUM", "SUB", "MUL", "ADD", "CONCATENATION", "MAXIMUM", "RELU6",
            "RESIZE_NEAREST_NEIGHBOR", "PRELU", "TRANSPOSE", "STRIDED_SLICE", "TRANSPOSE_CONV",
            "RESIZE_BILINEAR"} <= set(opcodes)
    assert check_bit_exact(chain_of_new_ops_model(), n_random=8) == 10


@pytest.mark.qemu
@pytest.mark.slow
def test_the_new_ops_are_bit_exact_on_the_cortex_m7_emulator_in_both_kernel_builds(tmp_path) -> None:
    """The M7's SSUB8/SEL maxima, minima and clamps and the table paths on QEMU, and the portable twins."""
    from tinyhil.hil.bench import run_image, summarise
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware

    blob = chain_of_new_ops_model()
    profile = load_profile("qemu-m7")
    generated = generate(blob, tmp_path / "model")
    inputs = np.random.default_rng(2).integers(-128, 128, size=(3, *generated.input_shape), dtype=np.int8)
    inputs[0] = -128
    reference = ReferenceInterpreter(blob)
    expected = np.stack([reference.invoke(x) for x in inputs])
    for portable in (False, True):
        image = build_firmware(generated.out_dir, profile, tmp_path / f"build-{portable}", portable_kernels=portable)
        outcome = run_image(image, profile, inputs, tmp_path / f"run-{portable}")
        assert summarise(image, profile, outcome, expected, "native", generated.layers).bit_exact, portable


def _float_edged(edges: tuple[str, ...]) -> bytes:
    """QUANTIZE float32 -> int8, a 1x1 CONV_2D, DEQUANTIZE int8 -> float32, each edge op only where asked."""
    rng = np.random.default_rng(5)
    q_in = {"scale": (0.05,), "zero_point": (-7,)}
    tensors = [TensorSpec((1, 4, 4, 3), **q_in)]
    ops = []
    if "input" in edges:
        tensors = [TensorSpec((1, 4, 4, 3), "float32"), TensorSpec((1, 4, 4, 3), **q_in)]
        ops.append(OpSpec("QUANTIZE", [0], [1]))
    ops.append(_conv(rng, tensors, len(tensors) - 1, 6, TensorSpec((1, 4, 4, 6), scale=(0.08,), zero_point=(3,))))
    if "output" in edges:
        tensors.append(TensorSpec((1, 4, 4, 6), "float32"))
        ops.append(OpSpec("DEQUANTIZE", [len(tensors) - 2], [len(tensors) - 1]))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


@pytest.mark.parametrize("edges", [("input",), ("output",), ("input", "output")])
def test_a_float_edged_model_runs_its_int8_core_bit_exact(check_bit_exact, edges: tuple[str, ...]) -> None:
    """The converter's default without inference_input_type / output_type: the device runs the int8 core and
    the reference compares it through the same quantisation."""
    graph = read_tflite(_float_edged(edges))
    assert graph.float_edges == edges
    assert [op.opcode for op in graph.operators] == ["CONV_2D"]
    assert graph.tensor(graph.inputs[0]).dtype == graph.tensor(graph.outputs[0]).dtype == "int8"
    assert check_bit_exact(_float_edged(edges)) == 6


def test_a_float_edged_model_is_refused_by_the_tflm_runtime_with_the_way_out(tmp_path) -> None:
    from tinyhil.codegen.tflm_backend import generate_tflm
    from tinyhil.errors import ModelError

    with pytest.raises(ModelError, match="int8-edged models only; use the native runtime"):
        generate_tflm(_float_edged(("input", "output")), tmp_path)


def test_a_dequantize_inside_the_model_says_how_to_export_int8_edges() -> None:
    """A DEQUANTIZE that is not the model's last op is not an edge: its float output is named."""
    tensors = [TensorSpec((1, 4), scale=(0.1,), zero_point=(0,)), TensorSpec((1, 4), "float32"),
               TensorSpec((1, 4), "float32")]
    blob = build_graph(tensors, [OpSpec("DEQUANTIZE", [0], [1]), OpSpec("DEQUANTIZE", [0], [2])], 0, 2)
    with pytest.raises(UnsupportedOpError, match="inference_input_type"):
        read_tflite(blob)


@pytest.mark.slow
def test_a_converter_made_float_edged_model_is_bit_exact(check_bit_exact) -> None:
    """TFLiteConverter with a representative dataset but no inference_input_type / output_type (a common way public
    int8 models are published): float32 in and out, QUANTIZE / DEQUANTIZE at the edges."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    L = keras.layers
    inp = keras.Input((10, 10, 2), batch_size=1)
    model = keras.Model(inp, L.Softmax()(L.Dense(5)(L.Flatten()(L.Conv2D(4, 3, strides=2, activation="relu")(inp)))))
    rng = np.random.default_rng(1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.standard_normal((1, 10, 10, 2)).astype(np.float32)]
                                                for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    blob = converter.convert()
    assert read_tflite(blob).float_edges == ("input", "output")
    assert check_bit_exact(blob, n_random=6) == 8


@pytest.mark.qemu
def test_bench_of_a_float_edged_model_says_the_device_runs_its_int8_core(tmp_path) -> None:
    from click.testing import CliRunner

    from tinyhil.cli import cli

    model = tmp_path / "float_edged.tflite"
    model.write_bytes(_float_edged(("input", "output")))
    result = CliRunner().invoke(cli, ["bench", str(model), "--inputs", "2", "--workdir", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    assert "input and output are float32" in result.output and "its int8 core" in result.output


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 13), st.integers(1, 12), st.integers(1, 12),
       st.sampled_from([(False, False), (True, False), (False, True)]))
def test_resize_nearest_neighbor_up_or_down_matches_tflm(check_bit_exact, ih: int, iw: int, c: int, oh: int, ow: int,
                                                         modes: tuple[bool, bool]) -> None:
    """Any input and output size (upsampling by odd factors, downsampling), align_corners or half_pixel_centers."""
    from .tflite_builder import resize_nearest_options

    q = {"scale": (0.02,), "zero_point": (-4,)}
    tensors = [TensorSpec((1, ih, iw, c), **q), TensorSpec((2,), "int32", data=np.array([oh, ow], np.int32)),
               TensorSpec((1, oh, ow, c), **q)]
    blob = build_model("RESIZE_NEAREST_NEIGHBOR", tensors, [0, 1], [2], resize_nearest_options(*modes))
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_nearest_upsampling_is_bit_exact(check_bit_exact) -> None:
    """tf.image.resize(..., method='nearest') between convs (a segmentation / detection neck), as the converter
    writes it: RESIZE_NEAREST_NEIGHBOR, half_pixel_centers on."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = L.Conv2D(6, 3, strides=2, padding="same")(inp)
    x = L.Lambda(lambda t: tf.image.resize(t, (8, 8), method="nearest"))(x)
    blob = export_model_int8(keras.Model(inp, L.Conv2D(4, 1)(L.Concatenate()([x, inp]))), seed=2)
    assert "RESIZE_NEAREST_NEIGHBOR" in {op.opcode for op in read_tflite(blob).operators}
    assert check_bit_exact(blob, n_random=4) == 6


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 9), st.sampled_from(["channel", "channel-3d", "full"]),
       zero_points, zero_points, st.floats(1e-3, 0.5))
def test_prelu_with_per_channel_or_full_alpha_matches_tflm(check_bit_exact, h: int, w: int, c: int, alpha_shape: str,
                                                           zp_in: int, zp_alpha: int, alpha_scale: float) -> None:
    shape = (1, h, w, c)
    a_shape = {"channel": (c,), "channel-3d": (1, 1, c), "full": (h, w, c)}[alpha_shape]
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    tensors = [TensorSpec(shape, scale=(0.05,), zero_point=(zp_in,)),
               TensorSpec(a_shape, scale=(alpha_scale,), zero_point=(zp_alpha,),
                          data=rng.integers(-128, 128, a_shape).astype(np.int8)),
               TensorSpec(shape, scale=(0.04,), zero_point=(3,))]
    blob = build_model("PRELU", tensors, [0, 1], [2])
    _assert_in_place(blob)
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_prelu_is_bit_exact(check_bit_exact) -> None:
    """Keras' PReLU (per channel, shared over H and W: a face-recognition net's activation)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((8, 8, 3), batch_size=1)
    x = L.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25))(L.Conv2D(6, 3)(inp))
    blob = export_model_int8(keras.Model(inp, L.Dense(3)(L.Flatten()(x))), seed=1)
    assert "PRELU" in {op.opcode for op in read_tflite(blob).operators}
    assert check_bit_exact(blob, n_random=4) == 6


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.data())
def test_transpose_of_any_rank_and_permutation_matches_tflm(check_bit_exact, shape: list[int], data) -> None:
    perm = data.draw(st.permutations(range(len(shape))))
    q = {"scale": (0.02,), "zero_point": (-4,)}
    tensors = [TensorSpec(tuple(shape), **q), TensorSpec((len(shape),), "int32", data=np.array(perm, np.int32)),
               TensorSpec(tuple(shape[p] for p in perm), **q)]
    assert check_bit_exact(build_model("TRANSPOSE", tensors, [0, 1], [2])) == 6


def test_a_pytorch_style_nchw_input_transposed_to_nhwc_runs_bit_exact(check_bit_exact) -> None:
    """A PyTorch export starts with TRANSPOSE (0, 2, 3, 1) of its (1, C, H, W) input, then its convs."""
    rng = np.random.default_rng(4)
    q = {"scale": (0.03,), "zero_point": (1,)}
    tensors = [TensorSpec((1, 3, 7, 6), **q), TensorSpec((4,), "int32", data=np.array([0, 2, 3, 1], np.int32)),
               TensorSpec((1, 7, 6, 3), **q)]
    ops = [OpSpec("TRANSPOSE", [0, 1], [2]),
           _conv(rng, tensors, 2, 5, TensorSpec((1, 7, 6, 5), scale=(0.05,), zero_point=(-2,)))]
    assert check_bit_exact(build_graph(tensors, ops, 0, len(tensors) - 1)) == 6


@SETTINGS
@given(st.sampled_from([(3, 3), (2, 2), (1, 5), (3, 1), (4, 4), (10, 8)]), st.integers(2, 8), st.integers(1, 2),
       st.integers(0, 2**31))
def test_a_depthwise_over_one_channel_runs_as_a_conv_bit_exact(check_bit_exact, window: tuple[int, int],
                                                               multiplier: int, stride: int, seed: int) -> None:
    """rewrites.depthwise_single_channel_as_conv: with a depth multiplier, every window but the 3x3 multiplier
    kernel's becomes a CONV_2D with C_in = 1 (micro_speech's 10x8 stem), bit for bit."""
    rng = np.random.default_rng(seed)
    kh, kw = window
    h, w = kh + 9, kw + 7
    ws = tuple(float(v) for v in rng.uniform(1e-3, 0.05, multiplier))
    tensors = [TensorSpec((1, h, w, 1), scale=(0.05,), zero_point=(int(rng.integers(-128, 128)),)),
               TensorSpec((1, kh, kw, multiplier), scale=ws, zero_point=(0,) * multiplier, axis=3,
                          data=rng.integers(-127, 128, (1, kh, kw, multiplier)).astype(np.int8)),
               TensorSpec((multiplier,), "int32", scale=tuple(0.05 * v for v in ws), zero_point=(0,) * multiplier,
                          data=rng.integers(-3000, 3000, multiplier).astype(np.int32)),
               TensorSpec((1, -(-h // stride), -(-w // stride), multiplier), scale=(0.1,), zero_point=(-2,))]
    blob = build_model("DEPTHWISE_CONV_2D", tensors, [0, 1, 2], [3],
                       conv_options((stride, stride), (1, 1), "SAME", "RELU6", depth_multiplier=multiplier))
    (op,) = plan_memory(read_tflite(blob)).graph.operators
    if window != (3, 3):  # the 3x3 multiplier kernel keeps its layer where its requantisation fits
        assert op.opcode == "CONV_2D"
    assert check_bit_exact(blob) == 6


@st.composite
def strided_slices(draw: st.DrawFn) -> bytes:
    """STRIDED_SLICE of a 1-D to 4-D tensor (TFLM's limit): begins and ends anywhere (negative ones counted from
    the end), steps of either sign, begin / end masks, shrunk axes (which leave the output's shape)."""
    from tinyhil.codegen.lower_layout import strided_slice_axes

    from .tflite_builder import strided_slice_options

    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    rank = len(shape)
    begin = [draw(st.integers(-n - 1, n)) for n in shape]
    end = [draw(st.integers(-n - 1, n + 1)) for n in shape]
    strides = [draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in shape]
    masks = [draw(st.integers(0, 2**rank - 1)) for _ in range(3)]
    begin_mask, end_mask, shrink = masks[0], masks[1], masks[2] & draw(st.integers(0, 2**rank - 1))
    if shrink == 2**rank - 1:
        shrink &= ~1  # keep one axis: a rank-0 output is not a tensor the harness sends back
    axes = strided_slice_axes(shape, begin, end, strides, begin_mask, end_mask, shrink, False)
    counts = [len(range(*axis)) for axis in axes]
    if 0 in counts:  # an empty slice: the converter never writes one
        counts = [1] * rank
        begin, end, strides, begin_mask, end_mask, shrink = [0] * rank, [1] * rank, [1] * rank, 0, 0, 0
    out_shape = tuple(c for k, c in enumerate(counts) if not shrink >> k & 1)
    q = {"scale": (0.02,), "zero_point": (3,)}
    tensors = [TensorSpec(shape, **q), TensorSpec((rank,), "int32", data=np.array(begin, np.int32)),
               TensorSpec((rank,), "int32", data=np.array(end, np.int32)),
               TensorSpec((rank,), "int32", data=np.array(strides, np.int32)), TensorSpec(out_shape, **q)]
    return build_model("STRIDED_SLICE", tensors, [0, 1, 2, 3], [4], strided_slice_options(begin_mask, end_mask, shrink))


@SETTINGS
@given(strided_slices())
def test_strided_slice_of_any_box_and_step_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@SETTINGS
@given(st.lists(st.integers(1, 6), min_size=1, max_size=5), st.data())
def test_slice_of_any_box_matches_tflm(check_bit_exact, shape: list[int], data) -> None:
    begin = [data.draw(st.integers(0, n - 1)) for n in shape]
    size = [data.draw(st.one_of(st.just(-1), st.integers(1, n - b))) for n, b in zip(shape, begin)]
    out = tuple(n - b if s == -1 else s for n, b, s in zip(shape, begin, size))
    q = {"scale": (0.02,), "zero_point": (3,)}
    tensors = [TensorSpec(tuple(shape), **q), TensorSpec((len(shape),), "int32", data=np.array(begin, np.int32)),
               TensorSpec((len(shape),), "int32", data=np.array(size, np.int32)), TensorSpec(out, **q)]
    assert check_bit_exact(build_model("SLICE", tensors, [0, 1, 2], [3])) == 6


@SETTINGS
@given(st.sampled_from(["SPLIT", "SPLIT_V"]), st.integers(2, 4), st.sampled_from([1, 2, 3, -1]), st.booleans(),
       st.integers(0, 2**31))
def test_split_and_split_v_run_as_slices_bit_exact(check_bit_exact, opcode: str, parts: int, axis: int,
                                                   drop_one: bool, seed: int) -> None:
    """A channel shuffle's split (ShuffleNet): the parts concatenated back in reverse order, one part possibly read
    by nobody; SPLIT_V with parts of different sizes."""
    from tinyhil.codegen.rewrites import split_as_slices

    from .tflite_builder import split_options

    rng = np.random.default_rng(seed)
    shape = [1, 3, 4, 6]
    sizes = ([int(v) for v in rng.multinomial(shape[axis] * parts - parts, [1 / parts] * parts) + 1]
             if opcode == "SPLIT_V" else [shape[axis]] * parts)
    shape[axis] = sum(sizes)
    q = {"scale": (0.02,), "zero_point": (-1,)}
    tensors = [TensorSpec(tuple(shape), **q), TensorSpec((1,), "int32", data=np.array([axis], np.int32)),
               TensorSpec((parts,), "int32", data=np.array(sizes, np.int32))]
    outs = []
    for size in sizes:
        part = list(shape)
        part[axis] = size
        tensors.append(TensorSpec(tuple(part), **q))
        outs.append(len(tensors) - 1)
    inputs = [1, 0] if opcode == "SPLIT" else [0, 2, 1]
    kept = outs[1:] if drop_one else outs
    out_shape = list(shape)
    out_shape[axis] = sum(tensors[t].shape[axis] for t in kept)
    tensors.append(TensorSpec(tuple(out_shape), **q))
    ops = [OpSpec(opcode, inputs, outs, split_options(opcode, parts)),
           OpSpec("CONCATENATION", kept[::-1], [len(tensors) - 1], concatenation_options(axis))]
    blob = build_graph(tensors, ops, 0, len(tensors) - 1)
    slices = [op for op in split_as_slices(read_tflite(blob)).operators if op.opcode == "SLICE"]
    assert len(slices) == len(kept)
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_channel_split_is_bit_exact(check_bit_exact) -> None:
    """tf.split on the channels, the halves convolved apart and concatenated (a ShuffleNetV2 unit's shape)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((8, 8, 8), batch_size=1)
    a, b = L.Lambda(lambda t: tf.split(t, 2, axis=-1))(inp)
    x = L.Concatenate()([a, L.ReLU()(L.Conv2D(4, 1)(b))])
    blob = export_model_int8(keras.Model(inp, L.Conv2D(3, 1)(x)), seed=4)
    assert "SPLIT" in {op.opcode for op in read_tflite(blob).operators}
    assert check_bit_exact(blob, n_random=4) == 6


def test_the_tflm_runtimes_per_operator_table_names_a_split_that_only_the_rewrites_take() -> None:
    """TFLM stamps every .tflite operator; SPLIT has no layer of its own in tinyhil (rewrites.split_as_slices), so
    bench labels it from the operator itself, with no MACs."""
    from tinyhil.hil.bench import _operator_layers

    from .tflite_builder import split_options

    q = {"scale": (0.02,), "zero_point": (-1,)}
    tensors = [TensorSpec((1, 2, 2, 4), **q), TensorSpec((1,), "int32", data=np.array([3], np.int32)),
               TensorSpec((1, 2, 2, 2), **q), TensorSpec((1, 2, 2, 2), **q), TensorSpec((1, 2, 2, 4), **q)]
    ops = [OpSpec("SPLIT", [1, 0], [2, 3], split_options("SPLIT", 2)),
           OpSpec("CONCATENATION", [3, 2], [4], concatenation_options(3))]
    layers = _operator_layers(build_graph(tensors, ops, 0, 4))
    assert [(layer.opcode, layer.macs) for layer in layers] == [("SPLIT", 0), ("CONCATENATION", 0)]


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.sampled_from(["SAME", "VALID"]), st.sampled_from(["NONE", "RELU"]), st.booleans(),
       st.integers(0, 2**31))
def test_transpose_conv_matches_tflm(check_bit_exact, h: int, w: int, cin: int, cout: int, kh: int, kw: int,
                                     stride: int, padding: str, activation: str, with_bias: bool, seed: int) -> None:
    """Any size, filter and stride (a decoder's upsampling), SAME or VALID, with or without bias, per-channel scales."""
    from .tflite_builder import transpose_conv_options

    rng = np.random.default_rng(seed)
    oh, ow = (h * stride, w * stride) if padding == "SAME" else ((h - 1) * stride + kh, (w - 1) * stride + kw)
    ws = tuple(float(v) for v in rng.uniform(1e-3, 0.05, cout))
    tensors = [TensorSpec((1, h, w, cin), scale=(0.05,), zero_point=(int(rng.integers(-128, 128)),)),
               TensorSpec((4,), "int32", data=np.array([1, oh, ow, cout], np.int32)),
               TensorSpec((cout, kh, kw, cin), scale=ws, zero_point=(0,) * cout,
                          data=rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8)),
               TensorSpec((1, oh, ow, cout), scale=(0.1,), zero_point=(-3,))]
    inputs = [1, 2, 0]
    if with_bias:
        tensors.append(TensorSpec((cout,), "int32", scale=tuple(0.05 * v for v in ws), zero_point=(0,) * cout,
                                  data=rng.integers(-3000, 3000, cout).astype(np.int32)))
        inputs.append(4)
    blob = build_graph(tensors, [OpSpec("TRANSPOSE_CONV", inputs, [3],
                                        transpose_conv_options((stride, stride), padding, activation))], 0, 3)
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_conv2d_transpose_is_bit_exact(check_bit_exact) -> None:
    """Keras' Conv2DTranspose, stride 2, SAME (an autoencoder's decoder)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((6, 6, 4), batch_size=1)
    x = L.Conv2DTranspose(5, 3, strides=2, padding="same", activation="relu")(L.Conv2D(4, 3, padding="same")(inp))
    blob = export_model_int8(keras.Model(inp, x), seed=6)
    assert "TRANSPOSE_CONV" in {op.opcode for op in read_tflite(blob).operators}
    assert check_bit_exact(blob, n_random=4) == 6


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.booleans(), st.integers(-128, 127), st.data())
def test_pad_and_padv2_of_any_rank_match_tflm(check_bit_exact, shape: list[int], v2: bool, value: int, data) -> None:
    """PAD of 1-D to 4-D tensors (a causal Conv1D pads (1, T, C)), PADV2 with its own constant."""
    pads = [[data.draw(st.integers(0, 3)), data.draw(st.integers(0, 3))] for _ in shape]
    q = {"scale": (0.02,), "zero_point": (5,)}
    out = tuple(n + a + b for n, (a, b) in zip(shape, pads))
    tensors = [TensorSpec(tuple(shape), **q), TensorSpec((len(shape), 2), "int32", data=np.array(pads, np.int32)),
               TensorSpec(out, **q)]
    inputs = [0, 1]
    if v2:
        tensors.append(TensorSpec((1,), **q, data=np.array([value], np.int8)))
        inputs.append(3)
    assert check_bit_exact(build_model("PADV2" if v2 else "PAD", tensors, inputs, [2])) == 6


@SETTINGS
@given(st.sampled_from(["DEPTH_TO_SPACE", "SPACE_TO_DEPTH"]), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 5))
def test_depth_to_space_and_space_to_depth_match_tflm(check_bit_exact, opcode: str, block: int, h: int, w: int,
                                                      c: int) -> None:
    """The pixel shuffle of a super-resolution head (DEPTH_TO_SPACE) and a detector's reorg (SPACE_TO_DEPTH)."""
    from .tflite_builder import block_size_options

    q = {"scale": (0.02,), "zero_point": (5,)}
    if opcode == "DEPTH_TO_SPACE":
        shapes = (1, h, w, c * block * block), (1, h * block, w * block, c)
    else:
        shapes = (1, h * block, w * block, c), (1, h, w, c * block * block)
    tensors = [TensorSpec(shapes[0], **q), TensorSpec(shapes[1], **q)]
    assert check_bit_exact(build_model(opcode, tensors, [0], [1], block_size_options(opcode, block))) == 6


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(1, 13), st.integers(1, 13),
       st.sampled_from([(False, False), (True, False), (False, True)]))
def test_resize_bilinear_up_or_down_matches_tflm(check_bit_exact, ih: int, iw: int, c: int, oh: int, ow: int,
                                                 modes: tuple[bool, bool]) -> None:
    """Any input and output size, align_corners or half_pixel_centers (its border weights are negative)."""
    from .tflite_builder import resize_bilinear_options

    q = {"scale": (0.02,), "zero_point": (-4,)}
    tensors = [TensorSpec((1, ih, iw, c), **q), TensorSpec((2,), "int32", data=np.array([oh, ow], np.int32)),
               TensorSpec((1, oh, ow, c), **q)]
    blob = build_model("RESIZE_BILINEAR", tensors, [0, 1], [2], resize_bilinear_options(*modes))
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_bilinear_upsampling_is_bit_exact(check_bit_exact) -> None:
    """tf.image.resize(..., 'bilinear') in a segmentation head, as the converter writes it (half_pixel_centers)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    inp = keras.Input((12, 12, 3), batch_size=1)
    x = L.Conv2D(6, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.Lambda(lambda t: tf.image.resize(t, (12, 12), method="bilinear"))(x)
    blob = export_model_int8(keras.Model(inp, L.Conv2D(2, 1)(x)), seed=5)
    assert "RESIZE_BILINEAR" in {op.opcode for op in read_tflite(blob).operators}
    assert check_bit_exact(blob, n_random=4) == 6


@SETTINGS
@given(st.sampled_from(["REDUCE_MAX", "REDUCE_MIN"]), st.lists(st.integers(1, 6), min_size=2, max_size=4),
       st.booleans(), st.data())
def test_reduce_max_and_min_over_contiguous_axes_match_tflm(check_bit_exact, opcode: str, shape: list[int],
                                                            keep: bool, data) -> None:
    """Keras' GlobalMaxPooling2D (axes 1, 2 of NHWC) and any other run of axes, negative ones included."""
    from .tflite_builder import mean_options

    rank = len(shape)
    first = data.draw(st.integers(0, rank - 1))
    last = data.draw(st.integers(first, rank - 1))
    axes = [a - rank if data.draw(st.booleans()) else a for a in range(first, last + 1)]
    out = [1 if first <= k <= last else n for k, n in enumerate(shape)] if keep else \
        [n for k, n in enumerate(shape) if not first <= k <= last] or [1]
    if not keep and len(out) == 1 and first == 0 and last == rank - 1:
        keep, out = True, [1] * rank  # a rank-0 output is not a tensor the harness sends back
    q = {"scale": (0.02,), "zero_point": (3,)}
    tensors = [TensorSpec(tuple(shape), **q), TensorSpec((len(axes),), "int32", data=np.array(axes, np.int32)),
               TensorSpec(tuple(out), **q)]
    assert check_bit_exact(build_model(opcode, tensors, [0, 1], [2], mean_options(keep))) == 6


@st.composite
def general_broadcast_models(draw: st.DrawFn, opcode: str) -> bytes:
    """ADD / SUB / MUL / SQUARED_DIFFERENCE with any broadcast of up to 4 dims, as LayerNormalization writes them:
    x and its mean over trailing axes (keep dims; (1,T,C) - (1,T,1)), either order; or x against a constant
    where each repeats along dims of its own ((1,T,1) * (1,1,C), the outer product of gamma and 1 / sigma)."""
    from .tflite_builder import add_options, mean_options, mul_options, sub_options

    out = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    rank = len(out)

    def quant() -> dict:
        return {"scale": (draw(scales),), "zero_point": (draw(zero_points),)}

    ops = []
    if draw(st.booleans()):  # x and its mean
        first = draw(st.integers(0, rank - 1))
        reduced = [1 if k >= first else n for k, n in enumerate(out)]
        tensors = [TensorSpec(tuple(out), **quant()),
                   TensorSpec((rank - first,), "int32", data=np.arange(first, rank, dtype=np.int32)),
                   TensorSpec(tuple(reduced), **quant())]
        ops.append(OpSpec("MEAN", [0, 1], [2], mean_options(True)))
        operands = [0, 2]
    else:  # x and a constant, each repeating along dims of its own
        owner = [draw(st.sampled_from(["both", "x", "constant"])) for _ in range(rank)]
        x_shape = tuple(1 if o == "constant" else n for o, n in zip(owner, out))
        c_shape = tuple(1 if o == "x" else n for o, n in zip(owner, out))
        out = [max(a, b) for a, b in zip(x_shape, c_shape)]
        if draw(st.booleans()):  # the converter drops the constant's leading 1s
            c_shape = c_shape[next((k for k, n in enumerate(c_shape) if n != 1), rank - 1):]
        rng = np.random.default_rng(draw(st.integers(0, 2**31)))
        tensors = [TensorSpec(x_shape, **quant()),
                   TensorSpec(c_shape, **quant(), data=rng.integers(-128, 128, c_shape).astype(np.int8))]
        operands = [0, 1]
    tensors.append(TensorSpec(tuple(out), **quant()))
    options = {"ADD": add_options, "SUB": sub_options, "MUL": mul_options}.get(opcode)
    ops.append(OpSpec(opcode, draw(st.permutations(operands)), [len(tensors) - 1],
                      options(draw(st.sampled_from(["NONE", "RELU"]))) if options else None))
    return build_graph(tensors, ops, 0, len(tensors) - 1)


@pytest.mark.parametrize("opcode", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"])
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_add_sub_mul_and_squared_difference_with_any_broadcast_match_tflm(check_bit_exact, opcode: str,
                                                                          data: st.DataObject) -> None:
    blob = data.draw(general_broadcast_models(opcode))
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sequence", "image"])
def test_converter_made_layer_normalization_is_bit_exact(check_bit_exact, kind: str) -> None:
    """Keras' LayerNormalization converts to MEAN over the last axis, a float NEG of it (DEQUANTIZE -> NEG ->
    QUANTIZE: one FLOAT_UNARY), SQUARED_DIFFERENCE (x - mean broadcast over C), MEAN, ADD of epsilon, RSQRT, and
    MULs / ADDs whose operands broadcast either way ((1,T,1) * (1,1,C) gamma): the whole model runs bit-exact."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    L = keras.layers
    if kind == "sequence":  # a transformer block's (1, T, C)
        inp = keras.Input((5, 6), batch_size=1)
        x = L.LayerNormalization()(L.Dense(8)(inp))
        model = keras.Model(inp, L.Dense(4)(x))
    else:  # after a conv, over the channels
        inp = keras.Input((6, 6, 3), batch_size=1)
        model = keras.Model(inp, L.LayerNormalization()(L.Conv2D(8, 3, padding="same")(inp)))
    layer = model.layers[2] if kind == "sequence" else model.layers[-1]
    rng = np.random.default_rng(1)
    layer.set_weights([rng.uniform(0.5, 1.5, 8).astype(np.float32), rng.normal(0, 0.3, 8).astype(np.float32)])
    blob = export_model_int8(model, seed=1)
    opcodes = {op.opcode for op in read_tflite(blob).operators}
    assert {"MEAN", "FLOAT_UNARY", "SQUARED_DIFFERENCE", "RSQRT", "MUL", "ADD"} <= opcodes
    assert check_bit_exact(blob, n_random=6) == 8


def chain_of_transformer_ops_model() -> bytes:
    """One graph through the ops public models added here, each on the output of the one before: ELU, a float
    island (DEQUANTIZE -> NEG -> QUANTIZE), MEAN over the channels, SQUARED_DIFFERENCE against it (a broadcast
    walk), MEAN, ADD of epsilon, RSQRT, MUL by gamma ((1,H,W,1) * (C,): both operands repeat), MUL and SUB with
    the (1,H,W,1) statistics, ADD, SUB of the mean (a layer normalisation written out as the converter writes
    Keras', its last steps walking both broadcast directions), then BATCH_MATMUL of the result by itself (x x^T,
    adj_y: attention's scores, K = 12 on the SMLAD path)."""
    from .tflite_builder import add_options, batch_matmul_options, mean_options, mul_options, sub_options

    rng = np.random.default_rng(12)
    h, w, c = 4, 6, 12
    full, stat = (1, h, w, c), (1, h, w, 1)
    t = [TensorSpec(full, scale=(0.05,), zero_point=(-3,))]

    def tensor(shape=full, scale=0.03, zp=3, data=None, dtype="int8") -> int:
        t.append(TensorSpec(shape, dtype, scale=None if dtype == "float32" else (scale,),
                            zero_point=None if dtype == "float32" else (zp,), data=data))
        return len(t) - 1

    ops = [OpSpec("ELU", [0], [elu := tensor(scale=0.04, zp=-40)])]
    ops.append(OpSpec("DEQUANTIZE", [elu], [f := tensor(dtype="float32")]))
    ops.append(OpSpec("NEG", [f], [neg := tensor(dtype="float32")]))
    ops.append(OpSpec("QUANTIZE", [neg], [x := tensor(scale=0.04, zp=39)]))
    axis = tensor((1,), data=np.array([3], np.int32), dtype="int32")
    ops.append(OpSpec("MEAN", [x, axis], [mean := tensor(stat, 0.02, 10)], mean_options(True)))
    ops.append(OpSpec("SQUARED_DIFFERENCE", [x, mean], [sq := tensor(scale=0.05, zp=-128)]))
    ops.append(OpSpec("MEAN", [sq, axis], [var := tensor(stat, 0.015, -128)], mean_options(True)))
    eps = tensor((), 4e-6, -128, np.array(-127, np.int8))
    ops.append(OpSpec("ADD", [var, eps], [var_eps := tensor(stat, 0.015, -128)], add_options("NONE")))
    ops.append(OpSpec("RSQRT", [var_eps], [inv := tensor(stat, 0.03, -128)]))
    gamma = tensor((c,), 0.004, -128, rng.integers(-128, 128, c).astype(np.int8))
    ops.append(OpSpec("MUL", [inv, gamma], [g := tensor(scale=0.03, zp=-128)], mul_options("NONE")))
    ops.append(OpSpec("MUL", [x, g], [xg := tensor(scale=0.05, zp=2)], mul_options("NONE")))
    ops.append(OpSpec("MUL", [mean, g], [mg := tensor(scale=0.02, zp=-5)], mul_options("NONE")))
    ops.append(OpSpec("ADD", [xg, mg], [total := tensor(scale=0.06, zp=1)], add_options("NONE")))
    ops.append(OpSpec("SUB", [total, mean], [normed := tensor(scale=0.06, zp=-1)], sub_options("NONE")))
    ops.append(OpSpec("BATCH_MATMUL", [normed, normed], [tensor((1, h, w, w), 0.5, 3)],
                      batch_matmul_options(False, True)))
    return build_graph(t, ops, 0, len(t) - 1)


TRANSFORMER_OPS = {"ELU", "FLOAT_UNARY", "MEAN", "SQUARED_DIFFERENCE", "ADD", "RSQRT", "MUL", "SUB", "BATCH_MATMUL"}


def test_a_chain_of_the_transformer_ops_matches_tflm(check_bit_exact) -> None:
    graph = plan_memory(read_tflite(chain_of_transformer_ops_model())).graph
    assert TRANSFORMER_OPS <= {op.opcode for op in graph.operators}
    walks = [layer.opcode for layer in lower(graph) if "broadcast" in layer.fields]
    assert walks == ["SQUARED_DIFFERENCE", "MUL", "MUL", "SUB"]
    assert check_bit_exact(chain_of_transformer_ops_model(), n_random=8) == 10


@pytest.mark.qemu
@pytest.mark.slow
def test_the_transformer_ops_are_bit_exact_on_the_cortex_m7_emulator_in_both_kernel_builds(tmp_path) -> None:
    """ELU's and the float island's tables, RSQRT's Newton steps (portable) and table (fast), the broadcast walks
    of SQUARED_DIFFERENCE, MUL and SUB, BATCH_MATMUL's SMLAD dot products on QEMU; each layer's instructions are
    printed (pytest -s)."""
    from tinyhil.hil.bench import run_image, summarise
    from tinyhil.hil.boards import load_profile
    from tinyhil.codegen import generate
    from tinyhil.hil.firmware import build_firmware

    blob = chain_of_transformer_ops_model()
    profile = load_profile("qemu-m7")
    generated = generate(blob, tmp_path / "model")
    inputs = np.random.default_rng(3).integers(-128, 128, size=(3, *generated.input_shape), dtype=np.int8)
    inputs[0] = 127
    reference = ReferenceInterpreter(blob)
    expected = np.stack([reference.invoke(x) for x in inputs])
    for portable in (False, True):
        image = build_firmware(generated.out_dir, profile, tmp_path / f"build-{portable}", portable_kernels=portable,
                               layer_timing=True)
        outcome = run_image(image, profile, inputs, tmp_path / f"run-{portable}")
        m = summarise(image, profile, outcome, expected, "native", generated.layers)
        assert m.bit_exact, portable
        print("portable" if portable else "fast", [(row["op"], row["latency"]) for row in m.layer_latency])


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("TFLM_SOURCE_DIR"),
                    reason="TFLM_SOURCE_DIR is not set: the TFLM runtime needs TFLM's C++ sources")
def test_the_tflm_runtime_runs_the_transformer_ops_on_qemu_and_stamps_each_tflite_operator(tmp_path) -> None:
    """The TFLM glue registers ELU, DEQUANTIZE, NEG, SQUARED_DIFFERENCE, RSQRT and BATCH_MATMUL; its per-operator
    table has one row per .tflite operator, a float island's three included."""
    from tinyhil.hil.bench import measure
    from tinyhil.hil.boards import load_profile

    blob = chain_of_transformer_ops_model()
    inputs = np.random.default_rng(4).integers(-128, 128, size=(2, 1, 4, 6, 12), dtype=np.int8)
    m = measure(blob, load_profile("qemu-m7"), inputs, runtime="tflm", workdir=tmp_path)
    assert m.bit_exact
    ops = [row["op"] for row in m.layer_latency]
    assert ops[:5] == ["ELU", "DEQUANTIZE", "NEG", "QUANTIZE", "MEAN"] and "RSQRT" in ops
    assert len(ops) == 15 and ops[-1] == "BATCH_MATMUL"


@st.composite
def batch_matmul_models(draw: st.DrawFn) -> bytes:
    """BATCH_MATMUL of 2-D to 4-D operands, either adjoint, batch dims broadcast either way: the input times a
    constant, a constant times the input, or the input times itself (x x^T, adj_y: attention's Q K^T of one
    tensor); K around the fast path's 4-term step."""
    from .tflite_builder import batch_matmul_options

    rank = draw(st.integers(2, 4))
    m, n, k = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.one_of(st.integers(1, 9), st.just(16)))
    batch = [draw(st.integers(1, 3)) for _ in range(rank - 2)]
    adj_x, adj_y = draw(st.booleans()), draw(st.booleans())
    kind = draw(st.sampled_from(["input-constant", "constant-input", "gram"]))
    if kind == "gram":
        adj_x, n = False, m
        lb = rb = batch
    else:
        lb = [d if draw(st.booleans()) else 1 for d in batch]
        rb = [d if draw(st.booleans()) or lb[i] == 1 else 1 for i, d in enumerate(batch)]
    lhs = tuple(lb) + ((k, m) if adj_x else (m, k))
    rhs = tuple(rb) + ((n, k) if adj_y or kind == "gram" else (k, n))
    out = tuple(max(a, b) for a, b in zip(lb, rb)) + (m, n)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))

    def quant() -> dict:
        return {"scale": (draw(scales),), "zero_point": (draw(zero_points),)}

    if kind == "gram":
        tensors, operands = [TensorSpec(lhs, **quant())], [0, 0]
        adj_y = True
    else:
        constant_shape = rhs if kind == "input-constant" else lhs
        tensors = [TensorSpec(lhs if kind == "input-constant" else rhs, **quant()),
                   TensorSpec(constant_shape, **quant(), data=rng.integers(-128, 128, constant_shape).astype(np.int8))]
        operands = [0, 1] if kind == "input-constant" else [1, 0]
    tensors.append(TensorSpec(out, scale=(draw(scales) * k,), zero_point=(draw(zero_points),)))
    return build_graph(tensors, [OpSpec("BATCH_MATMUL", operands, [len(tensors) - 1],
                                        batch_matmul_options(adj_x, adj_y))], 0, len(tensors) - 1)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batch_matmul_models())
def test_batch_matmul_of_any_adjoint_and_batch_broadcast_matches_tflm(check_bit_exact, blob: bytes) -> None:
    assert check_bit_exact(blob) == 6


@pytest.mark.slow
def test_converter_made_multi_head_attention_is_bit_exact(check_bit_exact) -> None:
    """Keras' MultiHeadAttention converts to FULLY_CONNECTED projections, RESHAPE / TRANSPOSE into heads,
    BATCH_MATMUL (Q K^T), MUL by 1 / sqrt(d), SOFTMAX, BATCH_MATMUL (weights V): all run bit-exact."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tensorflow import keras

    from .keras_nets import export_model_int8
    inp = keras.Input((5, 8), batch_size=1)
    model = keras.Model(inp, keras.layers.MultiHeadAttention(2, 4)(inp, inp))
    blob = export_model_int8(model, seed=2)
    opcodes = [op.opcode for op in read_tflite(blob).operators]
    assert opcodes.count("BATCH_MATMUL") == 2 and "SOFTMAX" in opcodes
    assert check_bit_exact(blob, n_random=6) == 8
