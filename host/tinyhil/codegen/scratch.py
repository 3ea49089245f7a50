"""Scratch bytes each kernel needs besides its input and output, from shapes alone, so that the
memory planner (which also plans shape-only graphs for the cost model) and the lowering agree."""

from __future__ import annotations

from .ir import Graph, Operator


def round_up4(n: int) -> int:
    return (n + 3) // 4 * 4


def is_pointwise(graph: Graph, op: Operator) -> bool:
    """A CONV_2D that is a plain matrix product over pixels: 1x1, stride 1, no padding."""
    x, w, y = (graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]])
    o = op.options
    return (op.opcode == "CONV_2D" and len(w.shape) == 4 and w.shape[1] == 1 and w.shape[2] == 1
            and o.get("stride_h", 1) == 1 and o.get("stride_w", 1) == 1 and "fused_pad" not in o
            and len(x.shape) == 4 and len(y.shape) == 4 and x.shape[1:3] == y.shape[1:3])


def kernel_scratch_bytes(graph: Graph, op: Operator) -> int:
    """th_conv2d_1x1_s8: q15 blocks of two pixels (4 bytes per padded input channel);
    th_conv2d_im2col_s8: the gathered row plus the q15 blocks of two pixels (5 bytes per padded K);
    th_depthwise_conv2d_s8 (and _inplace_): a ring of k_h zero-point-padded input rows."""
    if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return 0
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    if len(x.shape) != 4 or len(w.shape) != 4:
        return 0
    if op.opcode == "DEPTHWISE_CONV_2D":
        o, out_w = op.options, int(graph.tensors[op.outputs[0]].shape[2])
        padded_w = (out_w - 1) * o.get("stride_w", 1) + (int(w.shape[2]) - 1) * o.get("dilation_w", 1) + 1
        return int(w.shape[1]) * padded_w * round_up4(int(x.shape[3]))
    k_padded = round_up4(int(w.shape[1]) * int(w.shape[2]) * int(w.shape[3]))
    return 4 * k_padded if is_pointwise(graph, op) else 5 * k_padded
