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


@dataclass
class ArgStruct:
    ctype: str
    name: str
    fields: dict[str, int | list[int] | str]


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
