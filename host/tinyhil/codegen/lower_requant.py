"""Lowerings of the elementwise ops whose output byte is a clamp, a requantisation or a fixed-point function of
its input byte: RELU, RELU6, TANH and QUANTIZE from int8 to int8 (TFLM's int8 kernels, computed here as they
compute their parameters). Each is also a 256-entry table, so fuse.fuse_activations folds it into the conv
before it."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from . import tables
from .ir import Graph, Operator
from .layer import Layer, quant_params, table_layer, unary_tensors
from .quantize import logistic_params, quantize_multiplier, round_away

INT8_MIN, INT8_MAX = -128, 127


def relu(graph: Graph, op: Operator) -> Layer:
    """RELU (TFLM CalculateReluOpData / ReluQuantized): zp_out + x * (input scale / output scale), clamped below
    at the output's zero point: QUANTIZE's arithmetic with a narrower clamp, so the same kernel. The ratio of the
    two float scales is taken in double: the reference interpreter (the `tflite-micro` package) rounds halves as
    the double ratio does, not as a float32 one (checked: input scale 0.15625, output 0.1875, x - zp = 3 gives
    2.5 -> 3)."""
    return _requantize(graph, op, lambda output_zero_point: max(INT8_MIN, output_zero_point))


def _requantize(graph: Graph, op: Operator, low_clamp) -> Layer:
    """zp_out + (x - zp_in) * (input scale / output scale), clamped to [low_clamp(zp_out), 127] (th_requantize_s8)."""
    x, y = unary_tensors(graph, op)
    (xs, xz), (ys, yz) = quant_params(x), quant_params(y)
    multiplier, shift = quantize_multiplier(float(np.float32(xs)) / float(np.float32(ys)))
    lo, hi = low_clamp(yz), INT8_MAX
    fields = {"size": y.num_elements, "input_zero_point": xz, "output_zero_point": yz,
              "output_multiplier": multiplier, "output_shift": shift, "act_min": lo, "act_max": hi}
    values = tables.table(lambda v: max(lo, min(hi, yz + tables.mbqm(v - xz, multiplier, shift))))
    return table_layer(op, "th_requantize_s8", "th_requantize_args", fields, values)


def relu6(graph: Graph, op: Operator) -> Layer:
    """RELU6 (TFLM Relu6Prepare / Relu6Quantized): a clamp of the input bytes to [zero point, quantised 6] of the
    input's own quantisation (TFLM never rescales to the output's)."""
    x, y = unary_tensors(graph, op)
    xs, xz = quant_params(x)
    six = max(INT8_MIN, min(INT8_MAX, round_away(float(np.float32(6.0) / np.float32(xs))) + xz))
    fields = {"size": y.num_elements, "lower": xz, "upper": six}
    values = tables.table(lambda v: six if v > six else (xz if v < xz else v))
    return table_layer(op, "th_relu6_s8", "th_relu6_args", fields, values)


def q4_input_fields(op: Operator, x, y) -> dict[str, int]:
    """The fields LOGISTIC and TANH share (th_logistic_args): the input rescaled to 4 integer bits, and the
    radius beyond which the output saturates."""
    xs, xz = quant_params(x)
    multiplier, left_shift, radius = logistic_params(xs)
    if left_shift < 0 or multiplier < 0:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) input scale {xs} is outside what TFLite's int8 "
                                 f"{op.opcode} handles (its input multiplier overflows)")
    return {"size": y.num_elements, "input_zero_point": xz, "input_range_radius": radius,
            "input_multiplier": multiplier, "input_left_shift": left_shift}


def tanh(graph: Graph, op: Operator) -> Layer:
    """TANH (TFLM CalculateArithmeticOpData for int8: LOGISTIC's parameters, 4 integer bits; the output is read
    as scale 1/128, zero point 0, whatever the tensor says, as TFLM's kernel does)."""
    x, y = unary_tensors(graph, op)
    f = q4_input_fields(op, x, y)
    values = tables.table(lambda v: tables.tanh(v, f["input_zero_point"], f["input_range_radius"],
                                                f["input_multiplier"], f["input_left_shift"]))
    return table_layer(op, "th_tanh_s8", "th_tanh_args", f, values)


def quantize(graph: Graph, op: Operator) -> Layer:
    """QUANTIZE from int8 to int8 (TFLM's Requantize): zp_out + (x - zp_in) * (input scale / output scale),
    saturated; the ratio in double as TFLM takes it. A float -> int8 QUANTIZE (a model with float inputs) is not
    this op."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype != "int8" or y.dtype != "int8":
        raise UnsupportedOpError(f"operator {op.index} (QUANTIZE) converts {x.dtype} to {y.dtype}; tinyhil runs int8 "
                                 "-> int8 requantisation only (export with inference_input_type/output_type = int8)")
    return _requantize(graph, op, lambda output_zero_point: INT8_MIN)
