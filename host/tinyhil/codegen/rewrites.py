"""Graph rewrites that put an operator on a faster kernel without changing a single output bit.

DEPTHWISE_CONV_2D over one input channel is a CONV_2D with C_in = 1: output channel m convolves the one input
channel with filter m, and both reference kernels add (x - zero point) * w over the window, then bias, then the
per-channel requantisation. Public audio models start so (TFLM's micro_speech: a 10x8 stride-2 depthwise with
multiplier 8 over a 49x40 spectrogram); as a conv it runs on the im2col product over the whole window (K = 80
there) instead of the depthwise kernels' tap loops."""

from __future__ import annotations

import dataclasses

import numpy as np

from .ir import Graph, Quantization, Tensor


def _keeps_depthwise_kernel(graph: Graph, op) -> bool:
    """The one window the depthwise kernels run faster than im2col does: 3x3 with a multiplier, its window in
    registers (lower.depthwise_kernel's multiplier_3x3, which needs pairs_folded_requant's multipliers).
    Measured on QEMU, a 32x32 stride-2 multiplier-8 stem: 3x3 72,240 instructions as a depthwise, 87,960 as a
    conv; 2x2, 1x5, 3x1, 5x1, 4x4, 5x5 all about half as a conv (e.g. 5x5: 287,560 vs 148,480)."""
    from .lower import pairs_folded_requant
    from .quantize import conv_multipliers

    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if tuple(int(d) for d in w.shape[1:3]) != (3, 3):
        return False
    if x.quant is None or y.quant is None or w.quant is None:
        return True  # a shape-only graph (the cost model's): the kernel choice is the same either way there
    mults, shifts = conv_multipliers(x.quant.scale[0], w.quant.scale, y.quant.scale[0], int(w.shape[3]))
    return pairs_folded_requant(mults, shifts)


def _single_channel_depthwise(graph: Graph, op) -> bool:
    if op.opcode != "DEPTHWISE_CONV_2D" or len(op.inputs) < 2:
        return False
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    # multiplier 1 (one output channel) stays: the fused blocks take such a depthwise, and a 1-channel conv
    # leaves half of the product's 2x2 tile idle
    return (len(x.shape) == 4 and int(x.shape[3]) == 1 and w.data is not None and len(w.shape) == 4
            and op.options.get("depth_multiplier", 1) > 1 and not _keeps_depthwise_kernel(graph, op))


def depthwise_single_channel_as_conv(graph: Graph) -> Graph:
    """A new Graph where each DEPTHWISE_CONV_2D whose input has one channel and a depth multiplier is a CONV_2D: its (1, kh, kw, M)
    filter becomes a (M, kh, kw, 1) conv filter (a new constant tensor; per-channel scales move from axis 3 to
    axis 0), its options lose the depth multiplier; bias and output stay. Every window but the 3x3 one the
    depthwise kernels keep in registers (_keeps_depthwise_kernel; micro_speech's 10x8 runs 15x faster so)."""
    if not any(_single_channel_depthwise(graph, op) for op in graph.operators):
        return graph
    tensors, operators = list(graph.tensors), []
    for op in graph.operators:
        if not _single_channel_depthwise(graph, op):
            operators.append(op)
            continue
        w = graph.tensor(op.inputs[1])
        quant = w.quant and Quantization(scale=w.quant.scale, zero_point=w.quant.zero_point, axis=0)
        conv_w = Tensor(index=len(tensors), name=f"{w.name} (as a conv filter)", shape=(w.shape[3], w.shape[1], w.shape[2], 1),
                        dtype=w.dtype, quant=quant, data=np.ascontiguousarray(np.asarray(w.data).transpose(3, 1, 2, 0)))
        tensors.append(conv_w)
        options = {k: v for k, v in op.options.items() if k != "depth_multiplier"}
        operators.append(dataclasses.replace(op, opcode="CONV_2D", inputs=(op.inputs[0], conv_w.index, *op.inputs[2:]),
                                             options=options))
    return dataclasses.replace(graph, tensors=tensors, operators=operators)
