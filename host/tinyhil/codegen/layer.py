"""What a lowering produces: one kernel call (Layer), the constant arrays and argument structs it points
to, and the small helpers every lowering module shares (tensor quantisation, NHWC shapes, table layers)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedOpError
from .ir import Operator, Tensor


@dataclass
class ConstArray:
    name: str
    ctype: str  # "int8_t" | "int16_t" | "int32_t"
    values: np.ndarray


@dataclass
class Layer:
    index: int
    opcode: str
    function: str  # C kernel
    args_type: str | None  # argument struct type, None for copies
    fields: dict[str, int | list[int] | str]  # struct field -> integer, integer list, or array name
    arrays: list[ConstArray]
    inputs: tuple[int, ...]  # activation tensors read
    output: int  # activation tensor written
    macs: int = 0
    alias_of_input: bool = False  # RESHAPE: the planner gives the output the input's bytes
    takes_scratch: bool = False  # the kernel's last argument is its scratch buffer (planner.kernel_scratch_bytes)
    structs: list["ArgStruct"] = field(default_factory=list)  # argument structs the main one points to
    inputs_as_array: bool = False  # the kernel takes its inputs as one array of pointers (CONCATENATION)
    const_inputs: dict[int, str] = field(default_factory=dict)  # input tensor -> the flash array it is read from


@dataclass
class ArgStruct:
    ctype: str
    name: str
    fields: dict[str, int | list[int] | str]


def constant_operand(graph, op: Operator, tensor: int, fields_name: str = "operand") -> ConstArray:
    """A constant int8 operand of an elementwise op (a Rescaling's scale, a clip bound) as a flash array."""
    t = graph.tensor(tensor)
    if t.dtype != "int8" or t.data is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) operand '{t.name}' is a constant of type "
                                 f"{t.dtype}; tinyhil reads int8 constants only: re-export with full int8 quantisation")
    return ConstArray(f"layer{op.index}_{fields_name}{tensor}", "int8_t", np.asarray(t.data).ravel().astype(np.int64))


def shape4(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) != 4:
        raise UnsupportedOpError(f"tensor '{t.name}' has shape {t.shape}; this op needs a 4-D NHWC tensor")
    return tuple(int(d) for d in t.shape)  # type: ignore[return-value]


def quant_params(t: Tensor) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantised tensor."""
    assert t.quant is not None
    return t.quant.scale[0], t.quant.zero_point[0]


def unary_tensors(graph, op: Operator) -> tuple[Tensor, Tensor]:
    """The input and output of an elementwise op, which must have one shape."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.shape != y.shape:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) maps shape {x.shape} to {y.shape}; "
                                 "an elementwise activation keeps its input's shape")
    return x, y


def table_layer(op: Operator, function: str, args_type: str, fields: dict, values: np.ndarray) -> Layer:
    """An elementwise activation: its reference parameters plus the 256-entry table of its fast path."""
    p = f"layer{op.index}"
    fields = {**fields, "table": f"{p}_table"}
    return Layer(op.index, op.opcode, function, args_type, fields, [ConstArray(f"{p}_table", "int8_t", values)],
                 (op.inputs[0],), op.outputs[0])


def broadcast_split(big: tuple[int, ...], small: tuple[int, ...]) -> int | None:
    """inner size when `small` is `big` with leading dims set to 1 (so small repeats over the outer dims)."""
    if len(small) > len(big):
        return None
    small = (1,) * (len(big) - len(small)) + tuple(small)
    k = len(big)
    while k > 0 and small[k - 1] == big[k - 1]:
        k -= 1
    if any(d != 1 for d in small[:k]):
        return None
    return int(np.prod(big[k:], dtype=np.int64))


def broadcast_inner(graph, op: Operator, first: int, second: int) -> int:
    """broadcast_split of an elementwise op whose `first` operand is shaped as the output and whose `second` is
    that shape or a row repeated over its leading dims; else the one-line error naming both shapes."""
    y = graph.tensor(op.outputs[0])
    inner = broadcast_split(tuple(y.shape), tuple(graph.tensor(second).shape))
    if tuple(graph.tensor(first).shape) != tuple(y.shape) or inner is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) broadcasts {graph.tensor(op.inputs[0]).shape} and "
                                 f"{graph.tensor(op.inputs[1]).shape}; supported: two tensors of one shape, or one "
                                 "broadcast over the leading dimensions (a per-channel or scalar operand, "
                                 "squeeze-excitation's (1,H,W,C) * (1,1,1,C))")
    return inner


def commutative_operands(graph, op: Operator) -> tuple[int, int]:
    """(first, second) of ADD / MUL / MAXIMUM / MINIMUM, both orders giving the same bytes: the big operand (the
    one shaped as the output) first, so the second is the one broadcast; a constant goes second where shapes allow
    (one constant at most: two are a constant the converter would have folded)."""
    first, second = op.inputs[0], op.inputs[1]
    a, b = graph.tensor(first), graph.tensor(second)
    if a.num_elements < b.num_elements or (a.num_elements == b.num_elements and a.is_constant):
        first, second = second, first
    if graph.tensor(first).is_constant:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) has constant operands only where an activation "
                                 f"is needed ('{graph.tensor(first).name}'); supported: an activation shaped as "
                                 "the output, and a second operand that is an activation or a constant")
    return first, second


def const_inputs_of(graph, op: Operator, tensors: tuple[int, ...]) -> tuple[list[ConstArray], dict[int, str]]:
    """The flash arrays of the constant ones among `tensors`, and Layer.const_inputs for them."""
    arrays = [constant_operand(graph, op, t) for t in tensors if graph.tensor(t).is_constant]
    names = {t: a.name for t, a in zip([t for t in tensors if graph.tensor(t).is_constant], arrays)}
    return arrays, names


def reduce_view(graph, op: Operator) -> tuple[int, int, int]:
    """(outer, reduce, inner): a reduction's input seen as [outer][reduce][inner], its axes (a constant operand,
    negative ones counted from the end) contiguous; else the one-line error."""
    x, axis_t = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    rank = len(x.shape)
    if axis_t.data is None or rank == 0:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) takes its axes at run time; tinyhil needs them "
                                 "constant (what the converter writes)")
    axes = sorted({int(a) % rank for a in np.asarray(axis_t.data).ravel()})
    if not axes or axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) reduces axes {axes}; supported: contiguous axes "
                                 "(e.g. [1, 2] of NHWC, the global pool): transpose the reduced axes next to each "
                                 "other before the reduction and re-export")
    outer = int(np.prod(x.shape[:axes[0]], dtype=np.int64))
    reduce = int(np.prod(x.shape[axes[0]:axes[-1] + 1], dtype=np.int64))
    return outer, reduce, int(np.prod(x.shape[axes[-1] + 1:], dtype=np.int64))


def broadcast_walk(out_shape: tuple[int, ...], a_shape: tuple[int, ...], b_shape: tuple[int, ...]
                   ) -> tuple[list[int], list[int], list[int]] | None:
    """TFLM's general broadcast (BroadcastBinaryFunction4DSlow, NdArrayDesc) as th_broadcast: the output's dims
    and each operand's element stride along them (0 where it repeats), runs of dims that both operands walk
    alike merged, padded to 4 dims in front; None when the shapes do not broadcast or need more than 4 dims."""
    rank = len(out_shape)
    if len(a_shape) > rank or len(b_shape) > rank:
        return None
    dims, strides = [int(d) for d in out_shape], []
    for shape in (a_shape, b_shape):
        shape = (1,) * (rank - len(shape)) + tuple(int(d) for d in shape)
        if any(n not in (1, d) for n, d in zip(shape, dims)):
            return None
        dense = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(rank)]
        strides.append([s if n == d else 0 for s, n, d in zip(dense, shape, dims)])
    kept = [k for k in range(rank) if dims[k] != 1] or [rank - 1]
    merged: list[list[int]] = []  # [dim, stride a, stride b]
    for k in kept:
        d, sa, sb = dims[k], strides[0][k], strides[1][k]
        if merged and merged[-1][1] == sa * d and merged[-1][2] == sb * d:
            merged[-1] = [merged[-1][0] * d, sa, sb]
        else:
            merged.append([d, sa, sb])
    if len(merged) > 4:
        return None
    merged = [[1, 0, 0]] * (4 - len(merged)) + merged
    return [m[0] for m in merged], [m[1] for m in merged], [m[2] for m in merged]


def binary_broadcast(graph, op: Operator, first: int, second: int, row_form: bool = True
                     ) -> tuple[int | None, ArgStruct | None]:
    """How an elementwise op's kernel walks its operands: (inner, None) where `first` is shaped as the output and
    `second` is that shape or a row repeated over its leading dims (broadcast_split: the kernels' fast forms),
    else (None, the th_broadcast struct of broadcast_walk) for any other broadcast of up to 4 dims (LayerNorm's
    (1,T,C) - (1,T,1) and (1,T,1) * (1,1,C)); else the one-line error naming both shapes. row_form=False: a kernel
    without the row form, which walks every broadcast (inner is then the output's size, for one shape)."""
    y = tuple(graph.tensor(op.outputs[0]).shape)
    a, b = tuple(graph.tensor(first).shape), tuple(graph.tensor(second).shape)
    inner = broadcast_split(y, b) if a == y else None
    if not row_form and inner is not None and b != y:
        inner = None
    if inner is not None:
        return inner, None
    walk = broadcast_walk(y, a, b)
    if walk is None:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) broadcasts {a} and {b} to {y}; supported: "
                                 "shapes that broadcast (a dim of 1 repeats) in at most 4 dims once the dims "
                                 "both operands walk alike are merged")
    dims, strides1, strides2 = walk
    return None, ArgStruct("th_broadcast", f"layer{op.index}_broadcast",
                           {"dims": dims, "strides1": strides1, "strides2": strides2})


def binary_operands(graph, op: Operator, commutative: bool) -> tuple[int, int]:
    """(first, second) of ADD / SUB / MUL / SQUARED_DIFFERENCE: a commutative op's operand shaped as the output
    first (then the other is the one broadcast), an activation before a constant of the same size; SUB keeps its
    order. Two constants are a constant the converter would have folded."""
    first, second = op.inputs[0], op.inputs[1]
    a, b = graph.tensor(first), graph.tensor(second)
    if a.is_constant and b.is_constant:
        raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) has two constant operands; supported: at "
                                 "least one activation")
    y = tuple(graph.tensor(op.outputs[0]).shape)
    if commutative and ((tuple(a.shape) != y and tuple(b.shape) == y)
                        or (a.num_elements == b.num_elements and a.is_constant)):
        first, second = second, first
    return first, second
