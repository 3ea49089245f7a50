"""Lowerings of the two-operand elementwise ops that pick or scale by sign: MAXIMUM and MINIMUM (TFLM's int8
kernels compare the raw bytes; the converter gives both operands the output's quantisation), two tensors of one
shape or the second broadcast over the leading dims (a clip bound, as Keras' ReLU(max_value) exports, is a
1-element constant); REDUCE_MAX and REDUCE_MIN (Keras' GlobalMaxPooling2D), the same comparisons along axes;
PRELU, whose alpha is broadcast the same way."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
from .ir import Graph, Operator
from .layer import (Layer, broadcast_inner, broadcast_split, commutative_operands, const_inputs_of, quant_params,
                    reduce_view)
from .quantize import quantize_multiplier


def maximum_minimum(graph: Graph, op: Operator) -> Layer:
    first, second = commutative_operands(graph, op)  # max / min are symmetric
    y = graph.tensor(op.outputs[0])
    inner = broadcast_inner(graph, op, first, second)
    arrays, const_inputs = const_inputs_of(graph, op, (second,))
    fields = {"outer": y.num_elements // inner, "inner": inner}
    function = "th_maximum_s8" if op.opcode == "MAXIMUM" else "th_minimum_s8"
    return Layer(op.index, op.opcode, function, "th_maximum_minimum_args", fields, arrays, (first, second),
                 op.outputs[0], const_inputs=const_inputs)


def prelu(graph: Graph, op: Operator) -> Layer:
    """PRELU (TFLM CalculatePreluParams / BroadcastPrelu4DSlow): x - zp_in >= 0 rescaled by input scale / output
    scale, else (x - zp_in) * (alpha - zp_alpha) rescaled by input scale * alpha scale / output scale; alpha (a
    constant, per channel with Keras' shared_axes, or of the input's whole shape) broadcast over the leading dims."""
    x, alpha, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    inner = broadcast_split(tuple(y.shape), tuple(alpha.shape))
    if tuple(x.shape) != tuple(y.shape) or inner is None or x.is_constant:
        raise UnsupportedOpError(f"operator {op.index} (PRELU) of {x.shape} with alpha {alpha.shape}; supported: alpha "
                                 "broadcast over the input's leading dimensions (per channel, or the input's shape)")
    (xs, xz), (as_, az), (ys, yz) = quant_params(x), quant_params(alpha), quant_params(y)
    m1, s1 = quantize_multiplier(float(np.float32(xs)) / float(np.float32(ys)))
    m2, s2 = quantize_multiplier(float(np.float32(xs)) * float(np.float32(as_)) / float(np.float32(ys)))
    arrays, const_inputs = const_inputs_of(graph, op, (op.inputs[1],))
    fields = {"outer": y.num_elements // inner, "inner": inner, "input_offset": -xz, "alpha_offset": -az,
              "output_offset": yz, "identity_multiplier": m1, "identity_shift": s1, "alpha_multiplier": m2,
              "alpha_shift": s2}
    return Layer(op.index, op.opcode, "th_prelu_s8", "th_prelu_args", fields, arrays, (op.inputs[0], op.inputs[1]),
                 op.outputs[0], const_inputs=const_inputs)


def reduce_max_min(graph: Graph, op: Operator) -> Layer:
    """REDUCE_MAX / REDUCE_MIN (TFLM's int8 kernels: the raw bytes compared, the output quantised as the input)
    over contiguous axes: the input as [outer][reduce][inner], the output [outer][inner]."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if quant_params(x) != quant_params(y):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) requantises ({quant_params(x)} -> "
                                 f"{quant_params(y)}); TFLM's int8 {op.opcode} needs the input's quantisation")
    outer, reduce, inner = reduce_view(graph, op)
    function = "th_reduce_max_s8" if op.opcode == "REDUCE_MAX" else "th_reduce_min_s8"
    return Layer(op.index, op.opcode, function, "th_reduce_args", {"outer": outer, "reduce": reduce, "inner": inner},
                 [], (op.inputs[0],), op.outputs[0])
