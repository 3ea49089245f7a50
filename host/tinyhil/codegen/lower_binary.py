"""Lowering of SQUARED_DIFFERENCE int8 (TFLM squared_difference.cc's PrepareQuantized: LayerNormalization's
(x - mean)^2): two tensors of one shape or any broadcast of up to 4 dims (layer.binary_broadcast)."""

from __future__ import annotations

import numpy as np

from .ir import Graph, Operator
from .layer import Layer, binary_broadcast, binary_operands, const_inputs_of, quant_params
from .quantize import quantize_multiplier

LEFT_SHIFT = 7  # TFLM: 255^2 * 2^14 fits an int32


def squared_difference(graph: Graph, op: Operator) -> Layer:
    """Each input rescaled by its scale / (2 * the larger input scale), the output by that doubled scale squared
    / (2^14 * output scale), all in double from the float32 scales as TFLM computes them. (a - b)^2 with each
    operand's own rescaling is symmetric, so the operand shaped as the output goes first."""
    first, second = binary_operands(graph, op, commutative=True)
    a, b, y = graph.tensor(first), graph.tensor(second), graph.tensor(op.outputs[0])
    _, walk = binary_broadcast(graph, op, first, second, row_form=False)
    (s1, z1), (s2, z2), (ys, yz) = quant_params(a), quant_params(b), quant_params(y)
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(np.float32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier(float(np.float32(s2)) / twice_max)
    mo, sho = quantize_multiplier(twice_max * twice_max / float(np.float32(1 << (2 * LEFT_SHIFT)) * np.float32(ys)))
    fields = {"size": y.num_elements, "input1_offset": -z1, "input2_offset": -z2, "output_offset": yz,
              "left_shift": LEFT_SHIFT, "input1_multiplier": m1, "input1_shift": sh1, "input2_multiplier": m2,
              "input2_shift": sh2, "output_multiplier": mo, "output_shift": sho}
    if walk is not None:
        fields["broadcast"] = f"&{walk.name}"
    arrays, const_inputs = const_inputs_of(graph, op, (first, second))
    return Layer(op.index, op.opcode, "th_squared_difference_s8", "th_squared_difference_args", fields, arrays,
                 (first, second), op.outputs[0], const_inputs=const_inputs, structs=[walk] if walk is not None else [])
