"""Read an int8 .tflite flatbuffer into the graph IR, through the `tflite` package's generated
schema classes (no hand-parsing of bytes)."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tflite

from ..errors import ModelError, UnsupportedOpError
from .ir import Graph, Operator, Quantization, Tensor
from .rewrites import float_islands

log = logging.getLogger(__name__)

_TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: "float32", tflite.TensorType.INT8: "int8", tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT16: "int16", tflite.TensorType.INT32: "int32", tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
}
_OPCODE_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}


def _conv_options(o: Any) -> dict[str, Any]:
    return {"stride_h": o.StrideH(), "stride_w": o.StrideW(), "dilation_h": o.DilationHFactor(),
            "dilation_w": o.DilationWFactor(), "padding": _PADDINGS[o.Padding()],
            "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}


def _depthwise_options(o: Any) -> dict[str, Any]:
    return {**_conv_options(o), "depth_multiplier": o.DepthMultiplier()}


def _pool_options(o: Any) -> dict[str, Any]:
    return {"stride_h": o.StrideH(), "stride_w": o.StrideW(), "filter_h": o.FilterHeight(),
            "filter_w": o.FilterWidth(), "padding": _PADDINGS[o.Padding()],
            "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}


def _fc_options(o: Any) -> dict[str, Any]:
    return {"fused_activation": _ACTIVATIONS[o.FusedActivationFunction()], "keep_num_dims": bool(o.KeepNumDims()),
            "weights_format": o.WeightsFormat()}


def _add_options(o: Any) -> dict[str, Any]:
    return {"fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}


# builtin name -> (options class, decoder); ops without options map to None
_OPTION_DECODERS: dict[str, tuple[type, Callable[[Any], dict[str, Any]]] | None] = {
    "CONV_2D": (tflite.Conv2DOptions, _conv_options),
    "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions, _depthwise_options),
    "AVERAGE_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "MAX_POOL_2D": (tflite.Pool2DOptions, _pool_options),
    "FULLY_CONNECTED": (tflite.FullyConnectedOptions, _fc_options),
    "ADD": (tflite.AddOptions, _add_options),
    "SUB": (tflite.SubOptions, _add_options),
    "SOFTMAX": (tflite.SoftmaxOptions, lambda o: {"beta": float(o.Beta())}),
    "MEAN": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "REDUCE_MAX": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "REDUCE_MIN": (tflite.ReducerOptions, lambda o: {"keep_dims": bool(o.KeepDims())}),
    "RESHAPE": None,
    "SQUEEZE": None,
    "EXPAND_DIMS": None,
    "CONCATENATION": (tflite.ConcatenationOptions, lambda o: {"axis": int(o.Axis()),
                                                             "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}),
    "RELU": None,
    "RELU6": None,
    "QUANTIZE": None,
    "TANH": None,
    "ELU": None,
    "NEG": None,  # in a float island only (rewrites.float_islands)
    "RSQRT": None,
    "SQUARED_DIFFERENCE": None,
    "BATCH_MATMUL": (tflite.BatchMatMulOptions, lambda o: {"adj_x": bool(o.AdjX()), "adj_y": bool(o.AdjY())}),
    "MAXIMUM": None,
    "MINIMUM": None,
    "PRELU": None,
    "TRANSPOSE": None,
    "SPLIT": (tflite.SplitOptions, lambda o: {"num_splits": int(o.NumSplits())}),
    "SPLIT_V": (tflite.SplitVOptions, lambda o: {"num_splits": int(o.NumSplits())}),
    "SLICE": None,
    "DEPTH_TO_SPACE": (tflite.DepthToSpaceOptions, lambda o: {"block_size": int(o.BlockSize())}),
    "SPACE_TO_DEPTH": (tflite.SpaceToDepthOptions, lambda o: {"block_size": int(o.BlockSize())}),
    "TRANSPOSE_CONV": (tflite.TransposeConvOptions,
                       lambda o: {"padding": _PADDINGS[o.Padding()], "stride_h": o.StrideH(), "stride_w": o.StrideW(),
                                  "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}),
    "STRIDED_SLICE": (tflite.StridedSliceOptions,
                      lambda o: {"begin_mask": int(o.BeginMask()), "end_mask": int(o.EndMask()),
                                 "shrink_axis_mask": int(o.ShrinkAxisMask()), "offset": bool(o.Offset())}),
    "RESIZE_NEAREST_NEIGHBOR": (tflite.ResizeNearestNeighborOptions,
                                lambda o: {"align_corners": bool(o.AlignCorners()),
                                           "half_pixel_centers": bool(o.HalfPixelCenters())}),
    "RESIZE_BILINEAR": (tflite.ResizeBilinearOptions,
                        lambda o: {"align_corners": bool(o.AlignCorners()),
                                   "half_pixel_centers": bool(o.HalfPixelCenters())}),
    "DEQUANTIZE": None,  # read so that int8_core can drop a float output edge; nowhere else (_check_int8)
    "PAD": None,
    "PADV2": None,
    "LEAKY_RELU": (tflite.LeakyReluOptions, lambda o: {"alpha": float(o.Alpha())}),
    "HARD_SWISH": None,
    "LOGISTIC": None,
    "MUL": (tflite.MulOptions, lambda o: {"fused_activation": _ACTIVATIONS[o.FusedActivationFunction()]}),
}
SUPPORTED_OPS = tuple(sorted(k for k in _OPTION_DECODERS if k != "DEQUANTIZE"))
# what to do when the converter emitted an op we do not run
_HINTS = {
    "SHAPE": " (the converter emits SHAPE/STRIDED_SLICE/PACK for a Flatten with a dynamic batch: export with "
             "a fixed batch size, e.g. keras.Input(shape, batch_size=1), so it becomes one RESHAPE)",
    "DEQUANTIZE": " (float or uint8 model edges: export with inference_input_type/output_type = int8)",
    # TFLiteConverter writes Keras' gelu (ConvNeXt's MLP, transformers) as one GELU op
    "GELU": " (nor does the tflite-micro interpreter, so there is no int8 GELU to be bit-exact with: build the "
            "model with another activation, e.g. Keras 'swish' or 'relu' in place of 'gelu', and re-export)",
}


def _load_bytes(src: bytes | Path) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    path = Path(src)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist: export one with `tinyhil export` or pass the right path")
    return path.read_bytes()


def _read_tensor(model: Any, subgraph: Any, index: int) -> Tensor:
    t = subgraph.Tensors(index)
    # stripped or scrambled models (TFLM's own benchmark models among them) carry no tensor names
    name = t.Name().decode(errors="replace") if t.Name() is not None else f"tensor{index}"
    dtype = _TENSOR_TYPES.get(t.Type())
    if dtype is None:
        raise UnsupportedOpError(f"tensor {index} ({name}) has tensor type {t.Type()}, "
                                 f"which tinyhil does not read; supported: {sorted(set(_TENSOR_TYPES.values()))}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    quant = None
    q = t.Quantization()
    if q is not None and q.ScaleLength() > 0:
        quant = Quantization(scale=tuple(float(s) for s in q.ScaleAsNumpy()),
                             zero_point=tuple(int(z) for z in q.ZeroPointAsNumpy()),
                             axis=int(q.QuantizedDimension()))
    data = None
    buffer = model.Buffers(t.Buffer())
    if buffer is not None and buffer.DataLength() > 0:
        raw = buffer.DataAsNumpy().tobytes()
        data = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quant=quant, data=data)


def _opcode_name(model: Any, op: Any) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + (code.CustomCode() or b"?").decode(errors="replace")
    return _OPCODE_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _read_options(name: str, index: int, op: Any) -> dict[str, Any]:
    if name not in _OPTION_DECODERS:
        raise UnsupportedOpError(f"operator {index} is {name}, which the tinyhil int8 runtime does not implement"
                                 f"{_HINTS.get(name, '')}; supported ops: {', '.join(SUPPORTED_OPS)}")
    decoder = _OPTION_DECODERS[name]
    table = op.BuiltinOptions()
    if decoder is None or table is None:
        return {}
    cls, decode = decoder
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return decode(options)


_NEEDS = re.compile(r"requires a buffer of at least (\d+) bytes")


def truncation_message(size: int, exc: BaseException) -> str | None:
    """'truncated: N of at least M bytes' when a flatbuffer read ran past the end of the file (struct.error says
    how far it needed to read), else None."""
    match = _NEEDS.search(str(exc))
    if match is None or int(match.group(1)) <= size:
        return None
    return (f"the .tflite is truncated: {size:,} of at least {int(match.group(1)):,} bytes are there; re-export it "
            "(or copy it again)")


def read_tflite(src: bytes | Path) -> Graph:
    """Parse an int8 .tflite model (one subgraph) into a Graph; raise ModelError on anything else."""
    blob = _load_bytes(src)
    if len(blob) < 8 or blob[4:8] != b"TFL3":
        raise ModelError(f"not a .tflite flatbuffer ({len(blob)} bytes, no 'TFL3' identifier): the file is "
                         "truncated or not a TFLite model; re-export it")
    try:
        model = tflite.Model.GetRootAsModel(blob, 0)
        if model.SubgraphsLength() != 1:
            raise ModelError(f"the model has {model.SubgraphsLength()} subgraphs; tinyhil supports exactly one")
        subgraph = model.Subgraphs(0)
        tensors = [_read_tensor(model, subgraph, i) for i in range(subgraph.TensorsLength())]
        operators = []
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            name = _opcode_name(model, op)
            operators.append(Operator(index=i, opcode=name, inputs=tuple(int(x) for x in op.InputsAsNumpy()),
                                      outputs=tuple(int(x) for x in op.OutputsAsNumpy()),
                                      options=_read_options(name, i, op)))
        inputs = tuple(int(x) for x in subgraph.InputsAsNumpy())
        outputs = tuple(int(x) for x in subgraph.OutputsAsNumpy())
        name = (subgraph.Name() or b"model").decode(errors="replace")
    except ModelError:
        raise
    except Exception as exc:  # the flatbuffer accessors fail with IndexError/struct.error on corrupt data
        raise ModelError(truncation_message(len(blob), exc)
                         or f"corrupt .tflite ({len(blob)} bytes): {type(exc).__name__}: {exc}; re-export the model") from exc
    graph = Graph(tensors=tensors, operators=operators, inputs=inputs, outputs=outputs, name=name)
    _check_structure(graph, len(blob))
    graph = float_islands(int8_core(graph))
    _check_int8(graph)
    log.debug("read %d tensors, %d operators", len(tensors), len(operators))
    return graph


# operator -> (filter input, output axis of the filter that counts the output channels); a corrupt file can
# disagree with its own output tensor, which the lowering would otherwise meet as a reshape error
_FILTER_CHANNEL_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


def _check_structure(graph: Graph, size: int) -> None:
    """ModelError unless every tensor index the graph uses exists and each filter agrees with its output: what a
    bit flip or a cut inside the file breaks while the flatbuffer itself still parses."""
    def corrupt(detail: str) -> ModelError:
        return ModelError(f"corrupt .tflite ({size:,} bytes): {detail}; re-export the model (or copy it again)")

    count = len(graph.tensors)
    for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for t_index in indices:
            if not 0 <= t_index < count:
                raise corrupt(f"the model's {role} is tensor {t_index}, but it has {count} tensors")
    for op in graph.operators:
        if not op.outputs:
            raise corrupt(f"operator {op.index} ({op.opcode}) has no output tensor")
        for role, indices in (("input", op.inputs), ("output", op.outputs)):
            for k, t_index in enumerate(indices):
                if not (0 <= t_index < count or (role == "input" and t_index == -1)):  # -1: an omitted optional input
                    raise corrupt(f"operator {op.index} ({op.opcode}) {role} {k} is tensor {t_index}, but the model "
                                  f"has {count} tensors")
    for tensor in graph.tensors:
        if any(d < 0 for d in tensor.shape) and tensor.data is not None:
            raise corrupt(f"tensor {tensor.index} ('{tensor.name}') is a constant of shape {tensor.shape}")
        bad_scales = [s for s in (tensor.quant.scale if tensor.quant else ()) if not (math.isfinite(s) and s >= 0)]
        if tensor.quant is not None and len(tensor.quant.zero_point) != len(tensor.quant.scale):
            raise corrupt(f"tensor {tensor.index} ('{tensor.name}') has {len(tensor.quant.scale)} quantisation "
                          f"scales and {len(tensor.quant.zero_point)} zero points")
        if bad_scales:
            raise corrupt(f"tensor {tensor.index} ('{tensor.name}') has quantisation scale {bad_scales[0]}, where a "
                          "scale is a finite number, zero or more")
    for op in graph.operators:
        axis = _FILTER_CHANNEL_AXIS.get(op.opcode)
        if axis is None:
            continue
        if len(op.inputs) < 2 or min(op.inputs[:2]) < 0:
            raise corrupt(f"operator {op.index} ({op.opcode}) has inputs {list(op.inputs)}; it needs an input "
                          "tensor and a filter")
        w, y = graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
        if w.data is None:
            raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) takes its filter '{w.name}' from a tensor "
                                     "computed at run time; tinyhil runs constant (trained) filters only")
        if len(w.shape) > axis and y.shape and y.shape[-1] != w.shape[axis]:
            raise corrupt(f"operator {op.index} ({op.opcode}) has a filter of shape {w.shape} for an output of "
                          f"shape {y.shape}")


def int8_core(graph: Graph) -> Graph:
    """A float-edged int8 model (what the converter writes without inference_input_type / output_type = int8:
    QUANTIZE float32 -> int8 first, DEQUANTIZE int8 -> float32 last) as its int8 core, the edge ops dropped and
    named in `float_edges`. The device runs the core; the host quantises the images it sends with the core's
    input quantisation, and the reference (reference.ReferenceInterpreter) runs the whole model through the
    same dequantise / quantise, which round-trips every int8 value exactly."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        return graph
    removed, edges = set(), []
    inputs, outputs = graph.inputs, graph.outputs
    x = graph.tensors[graph.inputs[0]]
    users = [op for op in graph.operators if x.index in op.inputs]
    if (x.dtype == "float32" and len(users) == 1 and users[0].opcode == "QUANTIZE"
            and graph.tensors[users[0].outputs[0]].dtype == "int8" and users[0].outputs[0] not in graph.outputs):
        removed.add(users[0].index)
        inputs, edges = (users[0].outputs[0],), ["input"]
    y = graph.tensors[graph.outputs[0]]
    producers = [op for op in graph.operators if y.index in op.outputs]
    if (y.dtype == "float32" and len(producers) == 1 and producers[0].opcode == "DEQUANTIZE"
            and graph.tensors[producers[0].inputs[0]].dtype == "int8" and producers[0].index not in removed):
        removed.add(producers[0].index)
        outputs = (producers[0].inputs[0],)
        edges.append("output")
    if not removed:
        return graph
    log.info("float-edged model: running its int8 core (%s dropped)", ", ".join(
        op.opcode for op in graph.operators if op.index in removed))
    return graph.with_operators([op for op in graph.operators if op.index not in removed], inputs=inputs,
                                outputs=outputs, float_edges=tuple(edges))


def _check_int8(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ModelError(f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
                         "tinyhil supports one int8 input and one int8 output")
    for op in graph.operators:
        for role, indices in (("input", op.inputs), ("output", op.outputs)):
            for k, t_index in enumerate(indices):
                if t_index < 0:
                    continue
                t = graph.tensors[t_index]
                allowed = ("int8", "int32") if role == "input" else ("int8",)
                if t.dtype not in allowed:
                    hint = " (a float model: export with int8 quantisation, `tinyhil export`)" if t.dtype == "float32" else ""
                    if op.opcode in ("QUANTIZE", "DEQUANTIZE"):
                        hint = _HINTS["DEQUANTIZE"]
                    raise UnsupportedOpError(f"operator {op.index} ({op.opcode}) {role} {k} is tensor "
                                             f"'{t.name}' of type {t.dtype}; tinyhil runs int8 activations with "
                                             f"int8 weights and int32 biases only{hint}")
                if t.dtype == "int8" and t.quant is None:
                    raise ModelError(f"operator {op.index} ({op.opcode}) {role} {k} ('{t.name}') is int8 without "
                                     "quantisation parameters; re-export with full int8 quantisation")
