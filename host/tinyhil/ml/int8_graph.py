"""TinyNet -> the int8 graph TFLiteConverter makes of its Keras twin, without TensorFlow: the same operators in the
same order (keras_model.py's docstring lists them), calibrated on the same images and quantised by the same rules,
so tflite_flatbuffer.py can write it as a .tflite in milliseconds where the converter takes seconds.

The rules (those of TFLite's full-integer post-training quantisation, int8 in and out):
- activations: asymmetric int8 from the min and max seen over the calibration images, the range widened to hold 0
  (and to at least [-1e-6, 1e-6] when narrower than 1e-6), scale (max - min) / 255, zero point -128 - min / scale
  rounded (nudged into [-128, 127]);
- LOGISTIC's output is fixed at scale 1/256, zero point -128; PAD's output keeps its input's parameters;
- weights: symmetric int8 per output channel (narrow range, [-127, 127], scale max|w| / 127);
- biases: int32 at scale input scale x weight scale, zero point 0.
BatchNorm is folded into each conv (keras_model.fold_bn), as the Keras twin does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .keras_model import fold_bn
from .model import LEAKY_SLOPE, ConvBN, SqueezeExcite, TinyNet

INT8_MIN, INT8_MAX = -128, 127
WEIGHT_MAX = 127  # narrow range: -127..127, so a weight's negation is representable
BIAS_LIMIT = 2**31 - 1
LOGISTIC_SCALE, LOGISTIC_ZERO_POINT = 1.0 / 256.0, -128
# a range narrower than this is widened to at least [-1e-6, 1e-6], as TFLite's quantiser does: a scale near 0 would
# make the fused ReLU6 bound (6 / scale) overflow int32, and TFLM refuses such a layer
NEAR_ZERO_RANGE = 1e-6
CALIBRATION_CHUNK = 16  # images evaluated at once while calibrating (bounds the memory on large inputs)

FUSED_ACTIVATIONS = {"relu": "RELU", "relu6": "RELU6"}  # folded into the conv; the others are ops of their own


@dataclass
class FloatNode:
    """One operator of the float graph: `op` is the TFLite builtin name, `inputs` node indices (-1: the image)."""
    op: str
    inputs: list[int]
    shape: tuple[int, ...]  # NHWC (or N, C after the final MEAN)
    weight: np.ndarray | None = None  # OIHW (conv), (C, 1, kh, kw) (depthwise), (O, I) (fully connected)
    bias: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class Quant:
    scale: np.ndarray  # float32, one per tensor or per channel
    zero_point: np.ndarray  # int64
    axis: int = 0


@dataclass
class Int8Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8" | "int32"
    quant: Quant | None
    data: np.ndarray | None = None  # constants only


@dataclass
class Int8Op:
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]


@dataclass
class Int8Graph:
    tensors: list[Int8Tensor]
    ops: list[Int8Op]
    inputs: list[int]
    outputs: list[int]


def float_graph(model: torch.nn.Module, in_channels: int) -> list[FloatNode]:
    """The operators of `model` (a TinyNet in eval mode) as the converter lays them out, BatchNorm folded."""
    r = int(model.spec.resolution)
    nodes: list[FloatNode] = []

    def add(node: FloatNode) -> int:
        nodes.append(node)
        return len(nodes) - 1

    def shape_of(index: int) -> tuple[int, ...]:
        return (1, r, r, in_channels) if index < 0 else nodes[index].shape

    def conv(x: int, layer: ConvBN, name: str) -> int:
        w, b = fold_bn(layer)
        _, h, wd, c = shape_of(x)
        k, s = layer.kernel, layer.stride
        if k % 2 == 0:
            raise ValueError(f"{name}: kernel {k} is even; TinyNet's convs have odd kernels")
        padding = "SAME"
        if s > 1 and k > 1:  # torch pads k//2 on both sides where TF's SAME would pad (0, 1): an explicit PAD
            p = k // 2
            x = add(FloatNode("PAD", [x], (1, h + 2 * p, wd + 2 * p, c), options={"paddings": p}, name=f"{name}/pad"))
            h, wd, padding = h + 2 * p, wd + 2 * p, "VALID"
        out_h = -(-h // s) if padding == "SAME" else (h - k) // s + 1
        out_w = -(-wd // s) if padding == "SAME" else (wd - k) // s + 1
        fused = FUSED_ACTIVATIONS.get(layer.activation, "NONE")
        op = "DEPTHWISE_CONV_2D" if layer.depthwise else "CONV_2D"
        y = add(FloatNode(op, [x], (1, out_h, out_w, w.shape[0]), w, b,
                          {"stride": s, "padding": padding, "fused_activation": fused, "kernel": k}, f"{name}/{op.lower()}"))
        if layer.activation == "hswish":
            y = add(FloatNode("HARD_SWISH", [y], nodes[y].shape, name=f"{name}/hard_swish"))
        elif layer.activation == "leakyrelu":
            y = add(FloatNode("LEAKY_RELU", [y], nodes[y].shape, options={"alpha": LEAKY_SLOPE}, name=f"{name}/leaky_relu"))
        elif layer.activation not in FUSED_ACTIVATIONS and layer.activation != "none":
            raise ValueError(f"{name}: activation {layer.activation!r} has no int8 TFLite form here")
        return y

    def pointwise(x: int, conv_layer: torch.nn.Conv2d, fused: str, name: str) -> int:
        w = conv_layer.weight.detach().double().cpu().numpy().astype(np.float32)
        b = conv_layer.bias.detach().double().cpu().numpy().astype(np.float32)
        n, h, wd, _ = shape_of(x)
        # VALID, as the Keras twin's squeeze-excitation convs (Keras' default padding; the same on a 1x1 input)
        return add(FloatNode("CONV_2D", [x], (n, h, wd, w.shape[0]), w, b,
                             {"stride": 1, "padding": "VALID", "fused_activation": fused, "kernel": 1}, name))

    def squeeze_excite(x: int, se: SqueezeExcite, name: str) -> int:
        c = shape_of(x)[3]
        gate = add(FloatNode("MEAN", [x], (1, 1, 1, c), options={"keep_dims": True}, name=f"{name}/mean"))
        gate = pointwise(gate, se.reduce, "RELU", f"{name}/reduce")
        gate = pointwise(gate, se.expand, "NONE", f"{name}/expand")
        gate = add(FloatNode("LOGISTIC", [gate], (1, 1, 1, c), name=f"{name}/logistic"))
        return add(FloatNode("MUL", [x, gate], shape_of(x), name=f"{name}/mul"))

    x = -1
    for b, block in enumerate(model.blocks):
        # the converter orders operators depth first from the outputs, operands in order: ADD's first operand, the
        # projection shortcut, comes before the branch (which lets the block's input die early)
        shortcut = conv(x, block.projection, f"block{b}/projection") if block.residual and block.projection else x
        y = x
        for i, layer in enumerate(block.layers):
            name = f"block{b}/layer{i}"
            y = squeeze_excite(y, layer, name) if isinstance(layer, SqueezeExcite) else conv(y, layer, name)
        if block.residual:
            x = add(FloatNode("ADD", [shortcut, y], shape_of(y), name=f"block{b}/add"))
        else:
            x = y
    c = shape_of(x)[3]
    x = add(FloatNode("MEAN", [x], (1, c), options={"keep_dims": False}, name="head/mean"))
    fc = model.classifier
    add(FloatNode("FULLY_CONNECTED", [x], (1, fc.out_features), fc.weight.detach().cpu().numpy().astype(np.float32),
                  fc.bias.detach().cpu().numpy().astype(np.float32), name="head/fully_connected"))
    return nodes


def _evaluate(nodes: list[FloatNode], images: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """(node index, float output NCHW or NC) for each node, on `images` (float NCHW); an output is dropped after
    its last reader."""
    last_use = {}
    for i, node in enumerate(nodes):
        for j in node.inputs:
            last_use[j] = i
    values: dict[int, torch.Tensor] = {-1: images}
    for i, node in enumerate(nodes):
        ins = [values[j] for j in node.inputs]
        values[i] = out = _apply(node, ins)
        for j in node.inputs:
            if last_use[j] == i:
                del values[j]
        yield i, out


def _apply(node: FloatNode, ins: list[torch.Tensor]) -> torch.Tensor:
    x = ins[0]
    op = node.op
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = node.options
        pad = o["kernel"] // 2 if o["padding"] == "SAME" else 0
        groups = x.shape[1] if op == "DEPTHWISE_CONV_2D" else 1
        y = F.conv2d(x, torch.from_numpy(node.weight), torch.from_numpy(node.bias), o["stride"], pad, groups=groups)
        if o["fused_activation"] == "RELU":
            y = F.relu(y)
        elif o["fused_activation"] == "RELU6":
            y = torch.clamp(y, 0.0, 6.0)
        return y
    if op == "PAD":
        p = node.options["paddings"]
        return F.pad(x, (p, p, p, p))
    if op == "HARD_SWISH":
        return F.hardswish(x)
    if op == "LEAKY_RELU":
        return F.leaky_relu(x, node.options["alpha"])
    if op == "ADD":
        return ins[0] + ins[1]
    if op == "MUL":
        return ins[0] * ins[1]
    if op == "LOGISTIC":
        return torch.sigmoid(x)
    if op == "MEAN":
        return x.mean(dim=(2, 3), keepdim=node.options["keep_dims"])
    if op == "FULLY_CONNECTED":
        return F.linear(x, torch.from_numpy(node.weight), torch.from_numpy(node.bias))
    raise ValueError(f"no float evaluation for {op}")


@torch.no_grad()
def calibrate(nodes: list[FloatNode], representative: torch.Tensor) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    """(min, max) of the input and of every node's output over `representative` (float NCHW)."""
    low = np.full(len(nodes), np.inf)
    high = np.full(len(nodes), -np.inf)
    for start in range(0, len(representative), CALIBRATION_CHUNK):
        chunk = representative[start:start + CALIBRATION_CHUNK].float()
        for i, out in _evaluate(nodes, chunk):
            low[i] = min(low[i], float(out.min()))
            high[i] = max(high[i], float(out.max()))
    return (float(representative.min()), float(representative.max())), list(zip(low.tolist(), high.tolist()))


def activation_quant(low: float, high: float) -> Quant:
    """Asymmetric int8 parameters for values seen in [low, high] (TFLite's calibration rule, module docstring)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= NEAR_ZERO_RANGE:
        low, high = min(low, -NEAR_ZERO_RANGE), max(high, NEAR_ZERO_RANGE)
    scale = (high - low) / (INT8_MAX - INT8_MIN)
    zero_from_min = INT8_MIN - low / scale
    zero_point = INT8_MIN if zero_from_min < INT8_MIN else INT8_MAX if zero_from_min > INT8_MAX else _round(zero_from_min)
    return Quant(np.array([scale], np.float32), np.array([zero_point], np.int64))


def _round(x: float) -> int:
    """Half away from zero, as TFLite's quantiser (std::round)."""
    return int(np.sign(x) * np.floor(abs(x) + 0.5))


def _round_array(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def weight_quant(weight: np.ndarray, axis: int, bias: np.ndarray, input_scale: float) -> tuple[np.ndarray, Quant]:
    """Symmetric per-channel int8 along `axis` (narrow range); an all-zero channel gets scale 1. A scale is raised
    where the channel's bias would not fit int32 otherwise (bias_fitting_weight_scale)."""
    moved = np.moveaxis(weight.astype(np.float64), axis, 0).reshape(weight.shape[axis], -1)
    extent = np.abs(moved).max(axis=1)
    scale = bias_fitting_weight_scale(bias, input_scale, np.where(extent > 0, extent / WEIGHT_MAX, 1.0))
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(_round_array(weight / scale.astype(np.float64).reshape(shape)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return q, Quant(scale, np.zeros(len(scale), np.int64), axis)


def bias_fitting_weight_scale(bias: np.ndarray, input_scale: float, weight_scale: np.ndarray) -> np.ndarray:
    """`weight_scale`, raised where the bias at scale input x weight would not fit int32 (a tiny input scale: a
    tensor that was nearly constant while calibrating), as TFLite's quantiser raises it."""
    needed = np.abs(bias.astype(np.float64)) / (np.float64(input_scale) * BIAS_LIMIT)
    return np.maximum(weight_scale.astype(np.float64), needed).astype(np.float32)


def bias_quant(bias: np.ndarray, input_scale: float, weight_scale: np.ndarray) -> tuple[np.ndarray, Quant]:
    scale = np.float64(input_scale) * weight_scale.astype(np.float64)
    q = _round_array(bias.astype(np.float64) / scale)
    return (np.clip(q, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32),
            Quant(scale.astype(np.float32), np.zeros(len(scale), np.int64), 0))


def quantize(nodes: list[FloatNode], input_range: tuple[float, float], ranges: list[tuple[float, float]],
             in_channels: int, resolution: int) -> Int8Graph:
    """The int8 graph of `nodes` with the calibrated `ranges` (calibrate's)."""
    tensors: list[Int8Tensor] = [Int8Tensor("input", (1, resolution, resolution, in_channels), "int8",
                                            activation_quant(*input_range))]
    output_of = {-1: 0}
    ops: list[Int8Op] = []

    def constant(name: str, data: np.ndarray, dtype: str, quant: Quant | None) -> int:
        tensors.append(Int8Tensor(name, tuple(data.shape), dtype, quant, data))
        return len(tensors) - 1

    for i, node in enumerate(nodes):
        ins = [output_of[j] for j in node.inputs]
        if node.op == "LOGISTIC":
            quant = Quant(np.array([LOGISTIC_SCALE], np.float32), np.array([LOGISTIC_ZERO_POINT], np.int64))
        elif node.op == "PAD":
            quant = tensors[ins[0]].quant
        else:
            quant = activation_quant(*ranges[i])
        options = dict(node.options)
        if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            if node.op == "CONV_2D":
                weight, axis = node.weight.transpose(0, 2, 3, 1), 0  # OIHW -> OHWI
            elif node.op == "DEPTHWISE_CONV_2D":
                weight, axis = node.weight.transpose(1, 2, 3, 0), 3  # (C, 1, kh, kw) -> (1, kh, kw, C)
            else:
                weight, axis = node.weight, 0
            input_scale = float(tensors[ins[0]].quant.scale[0])
            q_weight, w_quant = weight_quant(np.ascontiguousarray(weight), axis, node.bias, input_scale)
            q_bias, b_quant = bias_quant(node.bias, input_scale, w_quant.scale)
            ins += [constant(f"{node.name}/weights", q_weight, "int8", w_quant),
                    constant(f"{node.name}/bias", q_bias, "int32", b_quant)]
        elif node.op == "PAD":
            p = options.pop("paddings")
            ins.append(constant(f"{node.name}/paddings", np.array([[0, 0], [p, p], [p, p], [0, 0]], np.int32), "int32", None))
        elif node.op == "MEAN":
            ins.append(constant(f"{node.name}/axes", np.array([1, 2], np.int32), "int32", None))
        tensors.append(Int8Tensor(node.name, node.shape, "int8", quant))
        output_of[i] = len(tensors) - 1
        ops.append(Int8Op(node.op, ins, [output_of[i]], options))
    return Int8Graph(tensors, ops, [0], [output_of[len(nodes) - 1]])


def int8_graph(model: torch.nn.Module, representative: torch.Tensor) -> Int8Graph:
    """The int8 graph of a TinyNet, calibrated on `representative` (float NCHW at the spec's resolution)."""
    if not isinstance(model, TinyNet):
        raise ValueError(f"the int8 writer exports tinyhil's spec networks (TinyNet), not {type(model).__name__}")
    model = model.cpu().eval()
    in_channels = int(representative.shape[1])
    nodes = float_graph(model, in_channels)
    input_range, ranges = calibrate(nodes, representative)
    return quantize(nodes, input_range, ranges, in_channels, int(model.spec.resolution))
