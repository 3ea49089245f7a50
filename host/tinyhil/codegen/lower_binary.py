"""Lowerings of two-operand ops public models add: SQUARED_DIFFERENCE int8 (TFLM squared_difference.cc's
PrepareQuantized: LayerNormalization's (x - mean)^2), two tensors of one shape or any broadcast of up to 4 dims
(layer.binary_broadcast); BATCH_MATMUL int8 (attention's Q K^T and its weights times V)."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOpError
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


def batch_matmul(graph: Graph, op: Operator) -> Layer:
    """BATCH_MATMUL int8 (TFLM batch_matmul.cc): lhs (..., M, K) (adj_x: (..., K, M)) times rhs (..., K, N) (adj_y:
    (..., N, K)), up to 3 batch dims broadcast as TFLM's 5-D extension does; the multiplier is
    double(float32(lhs scale * rhs scale)) / output scale, as GetQuantizedConvolutionMultipler computes it."""
    lhs, rhs, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    adj_x, adj_y = op.options.get("adj_x", False), op.options.get("adj_y", False)
    ls, rs = tuple(int(d) for d in lhs.shape), tuple(int(d) for d in rhs.shape)
    if len(ls) < 2 or len(rs) < 2 or max(len(ls), len(rs)) > 5:
        raise UnsupportedOpError(f"operator {op.index} (BATCH_MATMUL) multiplies {ls} by {rs}; TFLM takes 2-D to 5-D")
    rows, depth = (ls[-1], ls[-2]) if adj_x else (ls[-2], ls[-1])
    rhs_depth, cols = (rs[-1], rs[-2]) if adj_y else (rs[-2], rs[-1])
    lb, rb = (1,) * (3 - len(ls) + 2) + ls[:-2], (1,) * (3 - len(rs) + 2) + rs[:-2]
    batch = [max(a, b) for a, b in zip(lb, rb)]
    if depth != rhs_depth or any(a not in (1, n) or b not in (1, n) for a, b, n in zip(lb, rb, batch)):
        raise UnsupportedOpError(f"operator {op.index} (BATCH_MATMUL) multiplies {ls} by {rs} (adj_x {adj_x}, adj_y "
                                 f"{adj_y}): the inner dims or the batch dims do not match")

    def batch_strides(dims: tuple[int, ...], matrix: int) -> list[int]:
        dense = [matrix * int(np.prod(dims[k + 1:], dtype=np.int64)) for k in range(3)]
        return [s if d != 1 else 0 for s, d in zip(dense, dims)]

    (s_l, z_l), (s_r, z_r), (s_y, z_y) = quant_params(lhs), quant_params(rhs), quant_params(y)
    product = float(np.float32(np.float32(s_l) * np.float32(s_r)))
    multiplier, shift = quantize_multiplier(product / float(np.float32(s_y)))
    fields = {"batch": batch, "lhs_batch_stride": batch_strides(lb, rows * depth),
              "rhs_batch_stride": batch_strides(rb, depth * cols), "rows": rows, "cols": cols, "depth": depth,
              "lhs_row_stride": 1 if adj_x else depth, "lhs_k_stride": rows if adj_x else 1,
              "rhs_col_stride": depth if adj_y else 1, "rhs_k_stride": 1 if adj_y else cols,
              "lhs_offset": -z_l, "rhs_offset": -z_r, "output_offset": z_y,
              "output_multiplier": multiplier, "output_shift": shift}
    arrays, const_inputs = const_inputs_of(graph, op, (op.inputs[0], op.inputs[1]))
    macs = int(np.prod(batch)) * rows * cols * depth
    return Layer(op.index, op.opcode, "th_batch_matmul_s8", "th_batch_matmul_args", fields, arrays,
                 (op.inputs[0], op.inputs[1]), op.outputs[0], macs=macs, const_inputs=const_inputs)
