"""Graph rewrites that save arena memory without changing a single output bit.

PAD -> CONV_2D / DEPTHWISE_CONV_2D: a padded element equals the input zero point, and the conv
kernels add (x - zero_point) * w, so padding contributes exactly 0, as does skipping it. The
conv therefore reads the unpadded tensor with a larger top/left padding, and the padded copy
(often the biggest buffer of a MobileNetV2 block) never exists."""

from __future__ import annotations

import dataclasses

import numpy as np

from .ir import Graph, Operator

_CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D"}


def _consumers(graph: Graph, tensor: int) -> list[Operator]:
    return [op for op in graph.operators if tensor in op.inputs]


def _spatial_pads(graph: Graph, pad: Operator) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) when the PAD pads only H and W of a 4-D tensor with its zero point."""
    if len(pad.inputs) != 2 or pad.inputs[1] < 0:
        return None
    paddings = graph.tensor(pad.inputs[1]).data
    x, y = graph.tensor(pad.inputs[0]), graph.tensor(pad.outputs[0])
    if paddings is None or len(x.shape) != 4 or x.quant != y.quant:
        return None
    p = np.asarray(paddings).reshape(-1, 2)
    if p.shape != (4, 2) or p[0].any() or p[3].any():
        return None
    return int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])


def fuse_pads(graph: Graph) -> Graph:
    """A new Graph where each PAD feeding only a conv is folded into that conv's `fused_pad` option."""
    removed: set[int] = set()
    rewired: dict[int, Operator] = {}
    for pad in graph.operators:
        if pad.opcode != "PAD" or pad.outputs[0] in graph.outputs:
            continue
        pads = _spatial_pads(graph, pad)
        users = _consumers(graph, pad.outputs[0])
        if pads is None or len(users) != 1 or users[0].opcode not in _CONVS or users[0].inputs[0] != pad.outputs[0]:
            continue
        conv = rewired.get(users[0].index, users[0])
        if "fused_pad" in conv.options:
            continue
        options = {**conv.options, "fused_pad": pads}
        rewired[conv.index] = dataclasses.replace(conv, inputs=(pad.inputs[0],) + conv.inputs[1:], options=options)
        removed.add(pad.index)
    if not removed:
        return graph
    operators = []
    for op in graph.operators:
        if op.index in removed:
            continue
        op = rewired.get(op.index, op)
        operators.append(dataclasses.replace(op, index=len(operators)))
    return dataclasses.replace(graph, operators=operators)
