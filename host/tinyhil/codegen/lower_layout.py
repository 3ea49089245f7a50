"""Lowerings of the ops that only move bytes: RESHAPE, SQUEEZE and EXPAND_DIMS (the output is the input's
bytes: the planner aliases them), CONCATENATION (each input's rows copied into its slice of the output) and
RESIZE_NEAREST_NEIGHBOR (each output pixel a copy of one input pixel), and TRANSPOSE, SLICE and STRIDED_SLICE (one
strided copy: th_strided_copy_s8)."""

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


TRANSPOSE_MAX_RANK = 5  # TFLM transposes and slices 1-D to 5-D tensors (th_strided_copy_args: 6 dims, padded)
STRIDED_SLICE_MAX_RANK = 4  # TFLM's STRIDED_SLICE: "input dim should not exceed 4"


def row_major_strides(shape: tuple[int, ...]) -> list[int]:
    return [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]


def strided_copy_fields(offset: int, dims: list[int], strides: list[int]) -> dict:
    """th_strided_copy_args: dims and strides padded on the left to 6 with dims of 1."""
    pad = 6 - len(dims)
    return {"offset": int(offset), "dims": [1] * pad + [int(d) for d in dims],
            "in_strides": [0] * pad + [int(s) for s in strides]}


def _constant_ints(graph: Graph, op: Operator, position: int, what: str) -> list[int]:
    t = graph.tensor(op.inputs[position])
    if t.data is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) takes its {what} at run time; tinyhil needs it "
                                 "constant (what the converter writes)")
    return [int(v) for v in np.asarray(t.data).ravel()]


def _strided_copy_layer(graph: Graph, op: Operator, fields: dict, out_count: int) -> Layer:
    y = graph.tensor(op.outputs[0])
    if out_count != y.num_elements:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) selects {out_count} elements but its output "
                                 f"{y.shape} has {y.num_elements}: the model is corrupt")
    return Layer(op.index, op.opcode, "th_strided_copy_s8", "th_strided_copy_args", fields, [], (op.inputs[0],),
                 op.outputs[0])


def transpose(graph: Graph, op: Operator) -> Layer:
    """TRANSPOSE (a copy: TFLM's int8 kernel never requantises), the permutation a constant operand; a PyTorch
    export's leading NCHW -> NHWC transpose, a channel shuffle."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    perm = tuple(_constant_ints(graph, op, 1, "permutation"))
    rank = len(x.shape)
    if sorted(perm) != list(range(rank)) or rank > TRANSPOSE_MAX_RANK:
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE) permutation {perm} of a rank-{rank} tensor; "
                                 f"supported: a permutation of at most {TRANSPOSE_MAX_RANK} dimensions")
    if tuple(int(x.shape[p]) for p in perm) != tuple(int(d) for d in y.shape):
        raise UnsupportedOpError(f"operator {op.index} (TRANSPOSE) of {x.shape} by {perm} gives {y.shape}: the model "
                                 "is corrupt")
    rows = row_major_strides(tuple(int(d) for d in x.shape))
    dims = [int(x.shape[p]) for p in perm]
    return _strided_copy_layer(graph, op, strided_copy_fields(0, dims, [rows[p] for p in perm]), int(np.prod(dims)))


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else (lo if v < lo else v)


def strided_slice_axes(shape: tuple[int, ...], begin: list[int], end: list[int], strides: list[int], begin_mask: int,
                       end_mask: int, shrink_mask: int, offset: bool) -> list[tuple[int, int, int]]:
    """(start, stop, stride) per axis: TFLite's StartForAxis / EndForAxis (reference strided_slice.h)."""
    axes = []
    for axis, size in enumerate(shape):
        stride = strides[axis]
        start = begin[axis] + (size if begin[axis] < 0 else 0)
        start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
        if begin_mask >> axis & 1:
            start = 0 if stride > 0 else size - 1
        if shrink_mask >> axis & 1:
            stop = start if start >= size else start + 1
        else:
            stop = end[axis] + (start if offset else 0)
            stop += size if stop < 0 else 0
            stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
            if end_mask >> axis & 1:
                stop = size if stride > 0 else -1
        axes.append((start, stop, stride))
    return axes


def strided_slice(graph: Graph, op: Operator) -> Layer:
    """STRIDED_SLICE (TFLM: begin, end and strides constant; its kernel ignores the ellipsis and new-axis masks, and
    so does this): one strided box of the input, a reversed axis included (a negative step)."""
    x = graph.tensor(op.inputs[0])
    shape = tuple(int(d) for d in x.shape)
    begin, end, strides = (_constant_ints(graph, op, k, what) for k, what in ((1, "begin"), (2, "end"), (3, "strides")))
    if len(shape) > STRIDED_SLICE_MAX_RANK or not len(begin) == len(end) == len(strides) == len(shape) or 0 in strides:
        raise UnsupportedOpError(f"operator {op.index} (STRIDED_SLICE) of a rank-{len(shape)} tensor with begin "
                                 f"{begin}, end {end}, strides {strides}; supported: one non-zero stride per axis, at "
                                 f"most {STRIDED_SLICE_MAX_RANK} axes (as TFLM)")
    o = op.options
    axes = strided_slice_axes(shape, begin, end, strides, o.get("begin_mask", 0), o.get("end_mask", 0),
                              o.get("shrink_axis_mask", 0), bool(o.get("offset", False)))
    rows = row_major_strides(shape)
    dims = [len(range(start, stop, stride)) for start, stop, stride in axes]
    first = sum(start * row for (start, _, _), row in zip(axes, rows)) if all(dims) else 0
    fields = strided_copy_fields(first, dims, [stride * row for (_, _, stride), row in zip(axes, rows)])
    return _strided_copy_layer(graph, op, fields, int(np.prod(dims)))


def slice_(graph: Graph, op: Operator) -> Layer:
    """SLICE (begin and size constant; a size of -1 runs to the end of the axis): one box of the input."""
    x = graph.tensor(op.inputs[0])
    shape = tuple(int(d) for d in x.shape)
    begin, size = _constant_ints(graph, op, 1, "begin"), _constant_ints(graph, op, 2, "size")
    if len(shape) > TRANSPOSE_MAX_RANK or not len(begin) == len(size) == len(shape):
        raise UnsupportedOpError(f"operator {op.index} (SLICE) of a rank-{len(shape)} tensor with begin {begin}, size "
                                 f"{size}; supported: one begin and size per axis, at most {TRANSPOSE_MAX_RANK} axes")
    dims = [n - b if s == -1 else s for n, b, s in zip(shape, begin, size)]
    if any(b < 0 or d < 0 or b + d > n for b, d, n in zip(begin, dims, shape)):
        raise UnsupportedOpError(f"operator {op.index} (SLICE) begin {begin}, size {size} leaves the input {shape}: "
                                 "the model is corrupt")
    rows = row_major_strides(shape)
    return _strided_copy_layer(graph, op, strided_copy_fields(sum(b * r for b, r in zip(begin, rows)), dims, rows),
                               int(np.prod(dims)))


def depth_space(graph: Graph, op: Operator) -> Layer:
    """DEPTH_TO_SPACE / SPACE_TO_DEPTH with block b (TFLite's NHWC pixel shuffle, a copy): a 6-D transpose on the
    strided-copy kernel. DEPTH_TO_SPACE writes (n, h, i, w, j, c) from input (n, h, w, (i * b + j) * C + c);
    SPACE_TO_DEPTH writes (n, h, w, i, j, c) from input (n, h * b + i, w * b + j, c)."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    n, h, w, c = shape4(x)
    b = int(op.options.get("block_size", 0))
    if op.opcode == "DEPTH_TO_SPACE":
        if b < 1 or c % (b * b) or shape4(y) != (n, h * b, w * b, c // (b * b)):
            raise UnsupportedOpError(f"operator {op.index} (DEPTH_TO_SPACE) block {b} maps {x.shape} to {y.shape}: the "
                                     "model is corrupt")
        co = c // (b * b)
        dims = [n, h, b, w, b, co]
        strides = [h * w * c, w * c, b * co, c, co, 1]
    else:
        if b < 1 or h % b or w % b or shape4(y) != (n, h // b, w // b, c * b * b):
            raise UnsupportedOpError(f"operator {op.index} (SPACE_TO_DEPTH) block {b} maps {x.shape} to {y.shape}: the "
                                     "model is corrupt")
        dims = [n, h // b, w // b, b, b, c]
        strides = [h * w * c, b * w * c, b * c, w * c, c, 1]
    return _strided_copy_layer(graph, op, strided_copy_fields(0, dims, strides), int(np.prod(dims)))


def _trunc_div(a: int, b: int) -> int:
    """C's integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def resize_bilinear_sources(out_size: int, in_size: int, align_corners: bool,
                            half_pixel_centers: bool) -> list[tuple[int, int, int]]:
    """(lower index, upper index, weight of the upper one in 1/1024) per output index: TFLite's
    ResizeBilinearInteger / ComputeInterpolationValuesInteger, whose weight may be negative at a half-pixel
    border (then both indices are the same and the sum is the pixel)."""
    scale_10 = _trunc_div((1 << 10) * in_size + out_size // 2, out_size)
    if align_corners and out_size > 1:
        scale_10 = _trunc_div((1 << 10) * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    sources = []
    for v in range(out_size):
        scaled = v * scale_10 + scale_10 // 2 - (1 << 9) if half_pixel_centers else v * scale_10
        low = max(_trunc_div(scaled, 1 << 10), 0)
        high = min(_trunc_div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
        sources.append((low, high, scaled - (1 << 10) * low))
    return sources


def resize_bilinear(graph: Graph, op: Operator) -> Layer:
    """RESIZE_BILINEAR (TFLite's integer kernel: no requantisation, weights in 1/1024, the 2^20-scaled sum rounded
    half away from zero); the output size is the constant size operand."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    n, ih, iw, c = shape4(x)
    _, oh, ow, oc = shape4(y)
    align, half = bool(op.options.get("align_corners")), bool(op.options.get("half_pixel_centers"))
    if oc != c or y.shape[0] != n or (align and half):
        raise UnsupportedOpError(f"operator {op.index} (RESIZE_BILINEAR) maps {x.shape} to {y.shape} with "
                                 f"align_corners {align}, half_pixel_centers {half}: a resize keeps the batch and the channels, and "
                                 "TFLM takes one of the two options at most")
    p = f"layer{op.index}"
    rows = np.array(resize_bilinear_sources(oh, ih, align, half), dtype=np.int64).ravel()
    cols = np.array(resize_bilinear_sources(ow, iw, align, half), dtype=np.int64).ravel()
    arrays = [ConstArray(f"{p}_rows", "int32_t", rows), ConstArray(f"{p}_cols", "int32_t", cols)]
    fields = {"batches": n, "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow, "channels": c, "rows": f"{p}_rows",
              "cols": f"{p}_cols"}
    return Layer(op.index, op.opcode, "th_resize_bilinear_s8", "th_resize_bilinear_args", fields, arrays,
                 (op.inputs[0],), op.outputs[0])
