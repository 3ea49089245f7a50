"""A small graph IR shared by the .tflite reader, the memory planner, the code generator and the
cost model (which builds the same IR from an ArchSpec before any training).

Shapes are NHWC, as in TFLite. Constant tensors carry their data; activations do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "bool": 1}


@dataclass(frozen=True)
class Quantization:
    """Affine quantisation: real = scale * (q - zero_point). Per-channel when len(scale) > 1."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = None  # set for constants (weights, biases, shape tensors)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        return self.num_elements * DTYPE_BYTES[self.dtype]


@dataclass
class Operator:
    index: int  # position in the schedule (execution order)
    opcode: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)  # e.g. stride_h, padding, fused_activation


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "model"
    # "input" / "output": the .tflite's edge there is float32 (QUANTIZE / DEQUANTIZE), and the graph is its int8 core
    float_edges: tuple[str, ...] = ()

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def with_operators(self, operators: list[Operator], **changes: Any) -> "Graph":
        """A new Graph running `operators` in this order, renumbered (Operator.index is the schedule position)."""
        return replace(self, operators=[replace(op, index=k) for k, op in enumerate(operators)], **changes)

    def activations(self) -> list[Tensor]:
        """Tensors that live in the arena: everything produced at run time or fed in."""
        return [t for t in self.tensors if not t.is_constant]
