"""Lowerings of the ops that only move bytes: RESHAPE, SQUEEZE and EXPAND_DIMS (the output is the input's
bytes: the planner aliases them), CONCATENATION (each input's rows copied into its slice of the output) and
RESIZE_NEAREST_NEIGHBOR (each output pixel a copy of one input pixel) and TRANSPOSE (a permuted copy)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedOpError
from .ir import Graph, Operator
from .layer import ConstArray, Layer, quant_params, shape4
from .quantize import round_away


def reshape(graph: Graph, op: Operator) -> Layer:
    """RESHAPE / SQUEEZE / EXPAND_DIMS: the same bytes under another shape (a shape or axis operand, if any, is
    a constant and not read at run time)."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if quant_params(x) != quant_params(y):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) changes quantisation ({quant_params(x)} -> "
                                 f"{quant_params(y)}); supported: pure reshapes, as the converter writes them")
    if x.nbytes != y.nbytes:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) maps {x.shape} ({x.nbytes} bytes) to {y.shape} "
                                 f"({y.nbytes} bytes); a reshape keeps the element count: the model is corrupt")
    return Layer(op.index, op.opcode, "th_copy_s8", None, {"bytes": y.nbytes}, [], (op.inputs[0],), op.outputs[0],
                 alias_of_input=True)


def concatenation_axis(graph: Graph, op: Operator) -> int:
    """The concatenated axis, made non-negative (TFLite allows -rank..rank-1)."""
    rank = len(graph.tensor(op.outputs[0]).shape)
    axis = int(op.options.get("axis", 0))
    if not -rank <= axis < rank:
        raise UnsupportedOpError(f"operator {op.index} (CONCATENATION) axis {axis} is outside a rank-{rank} "
                                 "tensor's axes: the model is corrupt; re-export it")
    return axis % rank


def concatenation(graph: Graph, op: Operator) -> Layer:
    """CONCATENATION (TFLM's int8 kernel: a copy; every input has the output's scale and zero point). The output
    seen as [outer][row_bytes], outer the product of the dims before the axis: input i fills bytes
    [sum(chunk_bytes[:i]), + chunk_bytes[i]) of each row."""
    y = graph.tensor(op.outputs[0])
    if op.options.get("fused_activation", "NONE") != "NONE":
        raise UnsupportedOpError(f"operator {op.index} (CONCATENATION) has a fused {op.options['fused_activation']}, "
                                 "which TFLM's int8 CONCATENATION rejects; re-export with the activation as its own op")
    axis = concatenation_axis(graph, op)
    outer = math.prod(y.shape[:axis])
    chunks = []
    for k, t_index in enumerate(op.inputs):
        x = graph.tensor(t_index)
        if x.data is not None:
            raise UnsupportedOpError(f"operator {op.index} (CONCATENATION) input {k} ('{x.name}') is a constant; "
                                     "tinyhil concatenates activations only: fold the constant into the model")
        if len(x.shape) != len(y.shape) or any(a != b for i, (a, b) in enumerate(zip(x.shape, y.shape)) if i != axis):
            raise UnsupportedOpError(f"operator {op.index} (CONCATENATION) input {k} has shape {x.shape}, which does "
                                     f"not fit output {y.shape} along axis {axis}: the model is corrupt")
        if quant_params(x) != quant_params(y):
            raise UnsupportedOpError(f"operator {op.index} (CONCATENATION) input {k} has scale/zero point "
                                     f"{quant_params(x)}, the output {quant_params(y)}; TFLite's int8 CONCATENATION "
                                     "needs them equal (what the converter writes): re-export the model")
        chunks.append(math.prod(x.shape[axis:]))
    if sum(chunks) != math.prod(y.shape[axis:]):
        raise UnsupportedOpError(f"operator {op.index} (CONCATENATION): the inputs' sizes along axis {axis} do not add "
                                 f"up to the output's {y.shape[axis]}: the model is corrupt")
    name = f"layer{op.index}_chunk_bytes"
    fields = {"outer": outer, "count": len(chunks), "row_bytes": sum(chunks), "chunk_bytes": name}
    return Layer(op.index, op.opcode, "th_concatenation_s8", "th_concatenation_args", fields,
                 [ConstArray(name, "int32_t", np.array(chunks, dtype=np.int64))], tuple(op.inputs), op.outputs[0],
                 inputs_as_array=True)


def resize_nearest_sources(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """The input index each output index copies: TFLite's GetNearestNeighbor, in its float32 arithmetic."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align_corners and out_size > 1 else f32(in_size) / f32(out_size))
    offset = f32(0.5 if half_pixel_centers else 0.0)
    sources = []
    for index in range(out_size):
        value = f32(f32(index) + offset) * scale
        source = min(round_away(float(value)) if align_corners else int(math.floor(float(value))), in_size - 1)
        sources.append(max(0, source) if half_pixel_centers else source)
    return sources


def resize_nearest_neighbor(graph: Graph, op: Operator) -> Layer:
    """RESIZE_NEAREST_NEIGHBOR (a copy: TFLM's int8 kernel never requantises); the output size is the constant
    size operand, as TFLM requires."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    n, ih, iw, c = shape4(x)
    _, oh, ow, oc = shape4(y)
    if oc != c or y.shape[0] != n:
        raise UnsupportedOpError(f"operator {op.index} (RESIZE_NEAREST_NEIGHBOR) maps {x.shape} to {y.shape}: a resize "
                                 "keeps the batch and the channels; the model is corrupt")
    align, half = bool(op.options.get("align_corners")), bool(op.options.get("half_pixel_centers"))
    p = f"layer{op.index}"
    arrays = [ConstArray(f"{p}_source_rows", "int32_t", np.array(resize_nearest_sources(oh, ih, align, half))),
              ConstArray(f"{p}_source_cols", "int32_t", np.array(resize_nearest_sources(ow, iw, align, half)))]
    fields = {"batches": n, "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow, "channels": c,
              "source_rows": f"{p}_source_rows", "source_cols": f"{p}_source_cols"}
    return Layer(op.index, op.opcode, "th_resize_nearest_s8", "th_resize_nearest_args", fields, arrays,
                 (op.inputs[0],), op.outputs[0])


TRANSPOSE_MAX_RANK = 5  # TFLM transposes 1-D to 5-D tensors (th_transpose_args loops over 6, padded with 1s)


def transpose_strides(in_shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """(output dims, input stride in bytes of each output dim), padded on the left to the kernel's 6 dims with
    dims of 1: output index (i0..i5) reads input byte sum(i_k * stride_k)."""
    rank = len(in_shape)
    row_major = [int(np.prod(in_shape[k + 1:], dtype=np.int64)) for k in range(rank)]
    dims = [int(in_shape[p]) for p in perm]
    strides = [row_major[p] for p in perm]
    pad = 6 - rank
    return [1] * pad + dims, [0] * pad + strides


def transpose(graph: Graph, op: Operator) -> Layer:
    """TRANSPOSE (a copy: TFLM's int8 kernel never requantises), the permutation a constant operand; a PyTorch
    export's leading NCHW -> NHWC transpose, a channel shuffle."""
    x, perm_t, y = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if perm_t.data is None:
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE) takes its permutation at run time; tinyhil needs "
                                 "it constant (what the converter writes)")
    perm = tuple(int(p) for p in np.asarray(perm_t.data).ravel())
    rank = len(x.shape)
    if sorted(perm) != list(range(rank)) or rank > TRANSPOSE_MAX_RANK:
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE) permutation {perm} of a rank-{rank} tensor; "
                                 f"supported: a permutation of at most {TRANSPOSE_MAX_RANK} dimensions")
    if tuple(int(x.shape[p]) for p in perm) != tuple(int(d) for d in y.shape):
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE) of {x.shape} by {perm} gives {y.shape}: the model is "
                                 "corrupt")
    dims, strides = transpose_strides(tuple(int(d) for d in x.shape), perm)
    return Layer(op.index, op.opcode, "th_transpose_s8", "th_transpose_args", {"dims": dims, "in_strides": strides},
                 [], (op.inputs[0],), op.outputs[0])
