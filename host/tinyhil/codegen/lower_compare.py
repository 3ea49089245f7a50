"""Lowering of MAXIMUM and MINIMUM (TFLM's int8 kernels compare the raw bytes; the converter gives both operands
the output's quantisation): two tensors of one shape, or the second broadcast over the leading dims (a clip
bound, as Keras' ReLU(max_value) exports, is a 1-element constant)."""

from __future__ import annotations

from ..errors import UnsupportedOpError
from .ir import Graph, Operator
from .layer import Layer, broadcast_split, commutative_operands, const_inputs_of


def maximum_minimum(graph: Graph, op: Operator) -> Layer:
    first, second = commutative_operands(graph, op)  # max / min are symmetric
    a, b, y = graph.tensor(first), graph.tensor(second), graph.tensor(op.outputs[0])
    inner = broadcast_split(tuple(y.shape), tuple(b.shape))
    if tuple(a.shape) != tuple(y.shape) or inner is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) of {graph.tensor(op.inputs[0]).shape} and "
                                 f"{graph.tensor(op.inputs[1]).shape}; supported: two tensors of one shape, or one "
                                 "broadcast over the leading dimensions (a per-channel or scalar operand)")
    arrays, const_inputs = const_inputs_of(graph, op, (second,))
    fields = {"outer": y.num_elements // inner, "inner": inner}
    function = "th_maximum_s8" if op.opcode == "MAXIMUM" else "th_minimum_s8"
    return Layer(op.index, op.opcode, function, "th_maximum_minimum_args", fields, arrays, (first, second),
                 op.outputs[0], const_inputs=const_inputs)
