"""Analytic cost of a spec before any training: MACs, params, peak activation memory and a flash estimate.

Peak memory is not a second formula: the spec is turned into the same tinyhil.codegen.ir.Graph the exported
.tflite reads back as (same opcodes, shapes and order: PAD before stride-2 convs, LEAKY_RELU / HARD_SWISH after
their conv, squeeze-excitation as MEAN -> CONV_2D -> CONV_2D -> LOGISTIC -> MUL, ADD for shortcuts with a 1x1
CONV_2D projection where channels change, MEAN, FULLY_CONNECTED) and handed to the runtime's own memory planner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..codegen.ir import Graph, Operator, Tensor
from .space import ArchSpec, SearchSpace, StageSpec, shortcut, squeezed_channels

# activations the converter fuses into the conv (fused_activation) vs. those it emits as an op of their own
_FUSED = {"relu6": "RELU6", "relu": "RELU", "none": "NONE"}
_SEPARATE = {"leakyrelu": "LEAKY_RELU", "hswish": "HARD_SWISH"}


@dataclass(frozen=True)
class CostEstimate:
    macs: int  # multiply-accumulates of one inference (conv, depthwise, dense)
    params: int  # trainable torch parameters (conv + BatchNorm + dense)
    peak_activation_bytes: int  # arena bytes from tinyhil.codegen.planner.plan_memory (analytic, int8)
    flash_bytes: int  # model constants in flash: int8 weights, int32 biases, per-channel requantisation (8 B)
    provenance: str = "analytic (cost model; arena from the runtime's memory planner)"

    def to_dict(self) -> dict:
        return asdict(self)


class _GraphBuilder:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.operators: list[Operator] = []
        self.macs = 0
        self.params = 0
        self.flash = 0

    def tensor(self, shape: tuple[int, ...], dtype: str = "int8", constant: bool = False) -> int:
        data = np.broadcast_to(np.zeros((), dtype=dtype), shape) if constant else None
        self.tensors.append(Tensor(len(self.tensors), f"t{len(self.tensors)}", tuple(shape), dtype, None, data))
        return len(self.tensors) - 1

    def op(self, opcode: str, inputs: tuple[int, ...], out_shape: tuple[int, ...], **options: object) -> int:
        out = self.tensor(out_shape)
        self.operators.append(Operator(len(self.operators), opcode, inputs, (out,), dict(options)))
        return out

    def activation(self, x: int, activation: str) -> int:
        """The op a separate activation becomes (same shape in and out)."""
        if activation not in _SEPARATE:
            return x
        options = {"alpha": 0.01} if activation == "leakyrelu" else {}
        return self.op(_SEPARATE[activation], (x,), self.tensors[x].shape, **options)

    def conv(self, x: int, cout: int, kernel: int, stride: int, depthwise: bool, activation: str,
             bias_params: bool = False) -> int:
        """A conv with BatchNorm folded in (params: weights + gamma/beta), or with a real bias (`bias_params`)."""
        _, h, w, cin = self.tensors[x].shape
        padding = "SAME"
        if stride > 1 and kernel > 1:
            p = kernel // 2
            pads = self.tensor((4, 2), "int32", constant=True)
            h, w = h + 2 * p, w + 2 * p
            x = self.op("PAD", (x, pads), (1, h, w, cin))
            padding = "VALID"
            ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
        else:
            ho, wo = -(-h // stride), -(-w // stride)
        weight_shape = (1, kernel, kernel, cout) if depthwise else (cout, kernel, kernel, cin)
        weights = self.tensor(weight_shape, constant=True)
        bias = self.tensor((cout,), "int32", constant=True)
        per_out = kernel * kernel * (1 if depthwise else cin)
        self.macs += ho * wo * cout * per_out
        self.params += cout * per_out + (cout if bias_params else 2 * cout)  # weights + bias or BatchNorm gamma/beta
        self.flash += cout * per_out + 4 * cout + 8 * cout
        options = {"stride_h": stride, "stride_w": stride, "dilation_h": 1, "dilation_w": 1, "padding": padding,
                   "fused_activation": _FUSED.get(activation, "NONE")}
        if depthwise:
            options["depth_multiplier"] = 1
        y = self.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", (x, weights, bias), (1, ho, wo, cout), **options)
        return self.activation(y, activation)

    def squeeze_excite(self, x: int, ratio: float) -> int:
        shape = self.tensors[x].shape
        c = shape[-1]
        axes = self.tensor((2,), "int32", constant=True)
        gate = self.op("MEAN", (x, axes), (1, 1, 1, c), keep_dims=True)
        gate = self.conv(gate, squeezed_channels(c, ratio), 1, 1, False, "relu", bias_params=True)
        gate = self.op("LOGISTIC", (self.conv(gate, c, 1, 1, False, "none", bias_params=True),), (1, 1, 1, c))
        return self.op("MUL", (x, gate), shape, fused_activation="NONE")

    def block(self, x: int, stage: StageSpec, c: int, stride: int) -> int:
        act = stage.activation
        residual, project = shortcut(stage.skip, stride, c, stage.out_channels)
        # the converter schedules a projection shortcut before the block's main branch
        block_in = self.conv(x, stage.out_channels, 1, 1, False, "none") if project else x
        if stage.block == "dws":
            x = self.conv(x, c, stage.kernel, stride, True, act)
            if stage.se_ratio:
                x = self.squeeze_excite(x, stage.se_ratio)
            x = self.conv(x, stage.out_channels, 1, 1, False, act)
        else:
            hidden = c * stage.expand
            if stage.expand > 1:
                x = self.conv(x, hidden, 1, 1, False, act)
            x = self.conv(x, hidden, stage.kernel, stride, True, act)
            if stage.se_ratio:
                x = self.squeeze_excite(x, stage.se_ratio)
            x = self.conv(x, stage.out_channels, 1, 1, False, "none")
        if not residual:
            return x
        return self.op("ADD", (block_in, x), self.tensors[x].shape, fused_activation="NONE")


def spec_graph(spec: ArchSpec, input_shape: tuple[int, int, int], num_classes: int) -> tuple[Graph, _GraphBuilder]:
    """The int8 graph the exporter produces for `spec` (input resized to spec.resolution), with cost tallies."""
    b = _GraphBuilder()
    channels = input_shape[-1]
    x = first = b.tensor((1, spec.resolution, spec.resolution, channels))
    c = channels
    if spec.has_stem:
        x = b.conv(x, spec.stem_channels, spec.stem_kernel, spec.stem_stride, False, "relu6")
        c = spec.stem_channels
    for stage in spec.stages:
        for i in range(stage.depth):
            x = b.block(x, stage, c, stage.stride if i == 0 else 1)
            c = stage.out_channels
    if spec.head_channels:
        x = b.conv(x, spec.head_channels, 1, 1, False, "relu6")
        c = spec.head_channels
    axes = b.tensor((2,), "int32", constant=True)
    x = b.op("MEAN", (x, axes), (1, c), keep_dims=False)
    weights, bias = b.tensor((num_classes, c), constant=True), b.tensor((num_classes,), "int32", constant=True)
    b.macs += c * num_classes
    b.params += c * num_classes + num_classes
    b.flash += c * num_classes + 4 * num_classes + 8
    out = b.op("FULLY_CONNECTED", (x, weights, bias), (1, num_classes), fused_activation="NONE",
               keep_num_dims=False, weights_format=0)
    return Graph(b.tensors, b.operators, (first,), (out,), name=f"spec-{spec.canonical_hash()}"), b


def estimate(spec: ArchSpec | dict, input_shape: tuple[int, int, int] = (32, 32, 1), num_classes: int = 10) -> CostEstimate:
    from ..codegen.planner import plan_memory

    if not isinstance(spec, ArchSpec):
        spec = SearchSpace().parse(spec)
    graph, tally = spec_graph(spec, tuple(input_shape), num_classes)
    plan = plan_memory(graph)
    return CostEstimate(tally.macs, tally.params, int(plan.arena_bytes), tally.flash)


def paper_sram_bytes(spec: ArchSpec | dict, input_shape: tuple[int, int, int] = (32, 32, 1),
                     num_classes: int = 10) -> int:
    """The LLM-NAS paper's analytic SRAM figure: int8 input bytes + the largest layer output, no planner, no
    stack, no runtime (its Table II reports this, never a measurement). For comparison with that table only."""
    if not isinstance(spec, ArchSpec):
        spec = SearchSpace().parse(spec)
    graph, _ = spec_graph(spec, tuple(input_shape), num_classes)
    outputs = [graph.tensors[op.outputs[0]].nbytes for op in graph.operators if op.opcode != "PAD"]
    return graph.tensors[graph.inputs[0]].nbytes + max(outputs)
