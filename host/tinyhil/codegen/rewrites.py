"""Graph rewrites that put an operator on a faster kernel, or on one tinyhil has, without changing a single output
bit.

DEPTHWISE_CONV_2D over one input channel is a CONV_2D with C_in = 1: output channel m convolves the one input
channel with filter m, and both reference kernels add (x - zero point) * w over the window, then bias, then the
per-channel requantisation. Public audio models start so (TFLM's micro_speech: a 10x8 stride-2 depthwise with
multiplier 8 over a 49x40 spectrogram); as a conv it runs on the im2col product over the whole window (K = 80
there) instead of the depthwise kernels' tap loops.

SPLIT / SPLIT_V, an op with several outputs, is one SLICE per output (the layers tinyhil lowers have one output).

A grouped CONV_2D (Keras Conv2D(groups=G)) is a DEPTHWISE_CONV_2D when its filter depth is 1, else one SLICE, one
plain CONV_2D per group and a CONCATENATION.

DEQUANTIZE -> float elementwise ops -> QUANTIZE, what the converter writes for an op it does not quantise (a Keras
ELU; LayerNormalization's negated mean, a float NEG), maps each int8 byte to one int8 byte through TFLM's float
kernels: one FLOAT_UNARY, a 256-entry table of that float arithmetic (lower_lookup.float_unary)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .ir import Graph, Operator, Quantization, Tensor


def _keeps_depthwise_kernel(graph: Graph, op) -> bool:
    """The one window the depthwise kernels run faster than im2col does: 3x3 with a multiplier, its window in
    registers (lower.depthwise_kernel's multiplier_3x3, which needs scratch.pairs_folded_requant's multipliers).
    Measured on QEMU, a 32x32 stride-2 multiplier-8 stem: 3x3 72,240 instructions as a depthwise, 87,960 as a
    conv; 2x2, 1x5, 3x1, 5x1, 4x4, 5x5 all about half as a conv (e.g. 5x5: 287,560 vs 148,480)."""
    from .scratch import folded_requant_of

    w = graph.tensor(op.inputs[1])
    return tuple(int(d) for d in w.shape[1:3]) == (3, 3) and folded_requant_of(graph, op)


def _single_channel_depthwise(graph: Graph, op) -> bool:
    if op.opcode != "DEPTHWISE_CONV_2D" or len(op.inputs) < 2:
        return False
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    # multiplier 1 (one output channel) stays: the fused blocks take such a depthwise, and a 1-channel conv
    # leaves half of the product's 2x2 tile idle
    return (len(x.shape) == 4 and int(x.shape[3]) == 1 and w.data is not None and len(w.shape) == 4
            and op.options.get("depth_multiplier", 1) > 1 and not _keeps_depthwise_kernel(graph, op))


def depthwise_single_channel_as_conv(graph: Graph) -> Graph:
    """A new Graph where each DEPTHWISE_CONV_2D whose input has one channel and a depth multiplier is a CONV_2D: its
    (1, kh, kw, M) filter becomes a (M, kh, kw, 1) conv filter (a new constant tensor; per-channel scales move
    from axis 3 to axis 0), its options lose the depth multiplier; bias and output stay. Every window but the 3x3
    one the depthwise kernels keep in registers (_keeps_depthwise_kernel; micro_speech's 10x8 runs 15x faster so)."""
    if not any(_single_channel_depthwise(graph, op) for op in graph.operators):
        return graph
    tensors, operators = list(graph.tensors), []
    for op in graph.operators:
        if not _single_channel_depthwise(graph, op):
            operators.append(op)
            continue
        w = graph.tensor(op.inputs[1])
        quant = w.quant and Quantization(scale=w.quant.scale, zero_point=w.quant.zero_point, axis=0)
        conv_w = Tensor(index=len(tensors), name=f"{w.name} (as a conv filter)",
                        shape=(w.shape[3], w.shape[1], w.shape[2], 1), dtype=w.dtype, quant=quant,
                        data=np.ascontiguousarray(np.asarray(w.data).transpose(3, 1, 2, 0)))
        tensors.append(conv_w)
        options = {k: v for k, v in op.options.items() if k != "depth_multiplier"}
        operators.append(dataclasses.replace(op, opcode="CONV_2D", inputs=(op.inputs[0], conv_w.index, *op.inputs[2:]),
                                             options=options))
    return dataclasses.replace(graph, tensors=tensors, operators=operators)


# operators the rewrites below turn into others before lowering (lower.SUPPORTED_OPS lists them too)
REWRITTEN_OPS = ("SPLIT", "SPLIT_V")


def _split_sizes(graph: Graph, op) -> tuple[int, int, list[int]]:
    """(input tensor, axis, size of each output along it) of a SPLIT (axis, input) or SPLIT_V (input, sizes, axis)."""
    from ..errors import UnsupportedOpError

    data_input, axis_input = (op.inputs[1], op.inputs[0]) if op.opcode == "SPLIT" else (op.inputs[0], op.inputs[2])
    axis_t, x = graph.tensor(axis_input), graph.tensor(data_input)
    if axis_t.data is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) takes its axis at run time; tinyhil needs it "
                                 "constant (what the converter writes)")
    axis = int(np.asarray(axis_t.data).ravel()[0])
    axis += len(x.shape) if axis < 0 else 0
    sizes = [int(graph.tensor(t).shape[axis]) for t in op.outputs]
    if not 0 <= axis < len(x.shape) or sum(sizes) != int(x.shape[axis]):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) splits {x.shape} into "
                                 f"{[graph.tensor(t).shape for t in op.outputs]}: the model is corrupt")
    return data_input, axis, sizes


def split_as_slices(graph: Graph) -> Graph:
    """A new Graph where each SPLIT / SPLIT_V (a channel split: ShuffleNet, GhostNet) is one SLICE per output that
    anything reads (its begin and size new constant tensors), renumbered in schedule order: TFLM's kernels copy
    each output out of the input, as th_strided_copy_s8 does."""
    if not any(op.opcode in REWRITTEN_OPS for op in graph.operators):
        return graph
    read = {t for op in graph.operators for t in op.inputs} | set(graph.outputs)
    tensors, operators = list(graph.tensors), []

    def constant(values: list[int], name: str) -> int:
        tensors.append(Tensor(index=len(tensors), name=name, shape=(len(values),), dtype="int32",
                              data=np.array(values, dtype=np.int32)))
        return len(tensors) - 1

    for op in graph.operators:
        if op.opcode not in REWRITTEN_OPS:
            operators.append(op)
            continue
        data_input, axis, sizes = _split_sizes(graph, op)
        rank, start = len(graph.tensor(data_input).shape), 0
        for out, size in zip(op.outputs, sizes):
            if out in read:
                begin = [start if k == axis else 0 for k in range(rank)]
                extent = [size if k == axis else -1 for k in range(rank)]
                name = graph.tensor(out).name
                operators.append(Operator(-1, "SLICE", (data_input, constant(begin, f"{name} begin"),
                                                        constant(extent, f"{name} size")), (out,), {}))
            start += size
    return graph.with_operators(operators, tensors=tensors)  # the slices numbered in schedule order


def _conv_groups(graph: Graph, op) -> int:
    """The groups of a CONV_2D (TFLM's: input channels / filter depth; 1 for a plain conv), or 0 for one whose
    channels the groups do not divide (lower refuses it), or a shape-only graph's (no filter data)."""
    if op.opcode != "CONV_2D" or len(op.inputs) < 2:
        return 1
    x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if len(x.shape) != 4 or len(w.shape) != 4 or int(w.shape[3]) == int(x.shape[3]):
        return 1
    groups, remainder = divmod(int(x.shape[3]), int(w.shape[3]))
    if remainder or int(y.shape[3]) % groups or w.data is None:
        return 0
    return groups


def _channel_slice(quant: Quantization | None, start: int, stop: int) -> Quantization | None:
    """A per-channel quantisation's channels [start, stop) (a per-tensor one as it is)."""
    if quant is None or not quant.per_channel:
        return quant
    return Quantization(scale=quant.scale[start:stop], zero_point=quant.zero_point[start:stop], axis=quant.axis)


def grouped_conv_as_groups(graph: Graph) -> Graph:
    """A new Graph where each grouped CONV_2D (Keras Conv2D(groups=G): filter depth C_in / G; TFLM's reference
    kernel convolves output channel o with input channels [g * C_in / G, (g + 1) * C_in / G), g = o // (C_out / G))
    runs on the kernels tinyhil has, every output bit unchanged:
    - filter depth 1 (G = C_in) is a DEPTHWISE_CONV_2D with depth multiplier C_out / C_in: its output channel
      c * M + m reads input channel c, as the grouped conv's does; the (C_out, kh, kw, 1) filter becomes
      (1, kh, kw, C_out), per-channel scales from axis 0 to 3;
    - else one SLICE of each group's input channels, one plain CONV_2D per group (its filter, bias and scales
      the group's rows, the conv's options and output quantisation), and a CONCATENATION of their outputs on the
      channels (a copy: every input has the output's quantisation)."""
    if all(_conv_groups(graph, op) == 1 for op in graph.operators):
        return graph
    tensors, operators = list(graph.tensors), []

    def new_tensor(name: str, shape: tuple[int, ...], dtype: str, quant: Quantization | None,
                   data: np.ndarray | None = None) -> int:
        tensors.append(Tensor(index=len(tensors), name=name, shape=shape, dtype=dtype, quant=quant, data=data))
        return len(tensors) - 1

    for op in graph.operators:
        groups = _conv_groups(graph, op)
        if groups in (0, 1):
            operators.append(op)
            continue
        x, w, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
        bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        n, h, width, in_c = (int(d) for d in x.shape)
        out_c, kh, kw, depth = (int(d) for d in w.shape)
        if depth == 1:
            quant = w.quant and Quantization(scale=w.quant.scale, zero_point=w.quant.zero_point, axis=3)
            filt = new_tensor(f"{w.name} (as a depthwise filter)", (1, kh, kw, out_c), w.dtype, quant,
                              np.ascontiguousarray(np.asarray(w.data).transpose(3, 1, 2, 0)))
            operators.append(dataclasses.replace(op, opcode="DEPTHWISE_CONV_2D",
                                                 inputs=(op.inputs[0], filt, *op.inputs[2:]),
                                                 options={**op.options, "depth_multiplier": out_c // in_c}))
            continue
        per_group = out_c // groups
        parts = []
        for g in range(groups):
            lo, hi = g * per_group, (g + 1) * per_group
            begin = new_tensor(f"{x.name} group {g} begin", (4,), "int32", None,
                               np.array([0, 0, 0, g * depth], dtype=np.int32))
            size = new_tensor(f"{x.name} group {g} size", (4,), "int32", None, np.array([-1, -1, -1, depth], np.int32))
            sliced = new_tensor(f"{x.name} group {g}", (n, h, width, depth), x.dtype, x.quant)
            operators.append(Operator(-1, "SLICE", (x.index, begin, size), (sliced,), {}))
            filt = new_tensor(f"{w.name} group {g}", (per_group, kh, kw, depth), w.dtype,
                              _channel_slice(w.quant, lo, hi), np.ascontiguousarray(np.asarray(w.data)[lo:hi]))
            inputs = [sliced, filt]
            if bias is not None:
                inputs.append(new_tensor(f"{bias.name} group {g}", (per_group,), bias.dtype,
                                         _channel_slice(bias.quant, lo, hi), np.ascontiguousarray(bias.data[lo:hi])))
            part = new_tensor(f"{y.name} group {g}", (*y.shape[:3], per_group), y.dtype, y.quant)
            operators.append(Operator(-1, "CONV_2D", tuple(inputs), (part,), dict(op.options)))
            parts.append(part)
        operators.append(Operator(-1, "CONCATENATION", tuple(parts), op.outputs[:1],
                                  {"axis": 3, "fused_activation": "NONE"}))
    return graph.with_operators(operators, tensors=tensors)


# float elementwise ops a float island may hold (tables.FLOAT_FUNCTIONS computes them); the reader reads them
ISLAND_OPS = ("DEQUANTIZE", "NEG", "ELU")
FLOAT_UNARY = "FLOAT_UNARY"  # tinyhil's own operator, never in a .tflite: one float island


def float_islands(graph: Graph) -> Graph:
    """A new Graph where each DEQUANTIZE int8 -> float32, its float32 result passed through elementwise ops of
    ISLAND_OPS (each the only reader of the one before, none a graph output) to a QUANTIZE float32 -> int8, is one
    FLOAT_UNARY at the QUANTIZE's place: options {"float_ops": the ops between, "source_ops": all of them (what the
    TFLM runtime registers)}."""
    readers: dict[int, list[Operator]] = {}
    for op in graph.operators:
        for t in op.inputs:
            readers.setdefault(t, []).append(op)

    def only_reader(tensor: int) -> Operator | None:
        users = readers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in graph.outputs else None

    removed: set[int] = set()
    rewired: dict[int, Operator] = {}
    for dq in graph.operators:
        if (dq.opcode != "DEQUANTIZE" or graph.tensor(dq.inputs[0]).dtype != "int8"
                or graph.tensor(dq.outputs[0]).dtype != "float32"):
            continue
        chain, op = [], only_reader(dq.outputs[0])
        while op is not None and op.opcode in ISLAND_OPS[1:] and len(op.inputs) == 1 \
                and graph.tensor(op.outputs[0]).shape == graph.tensor(dq.inputs[0]).shape:
            chain.append(op)
            op = only_reader(op.outputs[0])
        if (op is None or op.opcode != "QUANTIZE" or graph.tensor(op.outputs[0]).dtype != "int8"
                or graph.tensor(op.outputs[0]).shape != graph.tensor(dq.inputs[0]).shape):
            continue
        float_ops = tuple(o.opcode for o in chain)
        rewired[op.index] = Operator(op.index, FLOAT_UNARY, (dq.inputs[0],), op.outputs,
                                     {"float_ops": float_ops, "source_ops": ("DEQUANTIZE", *float_ops, "QUANTIZE")})
        removed |= {dq.index, *(o.index for o in chain)}
    if not removed:
        return graph
    return graph.with_operators([rewired.get(op.index, op) for op in graph.operators if op.index not in removed])
