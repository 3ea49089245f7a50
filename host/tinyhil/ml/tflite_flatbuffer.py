"""An Int8Graph (int8_graph.py) as .tflite bytes, through the flatbuffer schema's generated object API (the copy
the tflite-micro package ships), so no byte of the format is laid out by hand."""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np

from .int8_graph import Int8Graph, Int8Op, Int8Tensor

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
# operator versions as TFLiteConverter writes them for these int8 ops (tflite-micro accepts any)
_OP_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "ADD": 2, "MUL": 2, "PAD": 2, "MEAN": 2,
                "LOGISTIC": 2, "HARD_SWISH": 1, "LEAKY_RELU": 1}
_DESCRIPTION = "tinyhil int8 writer"
BUFFER_ALIGNMENT = 16  # as TFLiteConverter aligns constant buffers, so an int32 bias is never read unaligned


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _tensor_type(schema: Any, dtype: str) -> int:
    return {"int8": schema.TensorType.INT8, "int32": schema.TensorType.INT32}[dtype]


def _options(schema: Any, op: Int8Op) -> tuple[int, Any]:
    """(BuiltinOptions type, options object) of `op`."""
    o = op.options
    kinds = schema.BuiltinOptions
    activation = getattr(schema.ActivationFunctionType, o.get("fused_activation", "NONE"))
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        options = schema.Conv2DOptionsT() if op.op == "CONV_2D" else schema.DepthwiseConv2DOptionsT()
        options.padding = getattr(schema.Padding, o["padding"])
        options.strideW = options.strideH = o["stride"]
        options.dilationWFactor = options.dilationHFactor = 1
        options.fusedActivationFunction = activation
        if op.op == "DEPTHWISE_CONV_2D":
            options.depthMultiplier = 1
            return kinds.DepthwiseConv2DOptions, options
        return kinds.Conv2DOptions, options
    if op.op == "FULLY_CONNECTED":
        options = schema.FullyConnectedOptionsT()
        options.fusedActivationFunction = activation
        return kinds.FullyConnectedOptions, options
    if op.op in ("ADD", "MUL"):
        options = schema.AddOptionsT() if op.op == "ADD" else schema.MulOptionsT()
        options.fusedActivationFunction = activation
        return (kinds.AddOptions if op.op == "ADD" else kinds.MulOptions), options
    if op.op == "MEAN":
        options = schema.ReducerOptionsT()
        options.keepDims = bool(o["keep_dims"])
        return kinds.ReducerOptions, options
    if op.op == "LEAKY_RELU":
        options = schema.LeakyReluOptionsT()
        options.alpha = float(o["alpha"])
        return kinds.LeakyReluOptions, options
    if op.op == "PAD":
        return kinds.PadOptions, schema.PadOptionsT()
    if op.op == "HARD_SWISH":
        return kinds.HardSwishOptions, schema.HardSwishOptionsT()
    if op.op == "LOGISTIC":
        return kinds.NONE, None
    raise ValueError(f"the int8 writer has no options for {op.op}")


def _tensor(schema: Any, tensor: Int8Tensor, buffer: int) -> Any:
    t = schema.TensorT()
    t.shape = list(tensor.shape)
    t.type = _tensor_type(schema, tensor.dtype)
    t.buffer = buffer
    t.name = tensor.name
    if tensor.quant is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in tensor.quant.scale]
        q.zeroPoint = [int(z) for z in tensor.quant.zero_point]
        q.quantizedDimension = tensor.quant.axis
        t.quantization = q
    return t


def _aligned_buffer(schema: Any, payload: bytes) -> Any:
    """A BufferT whose bytes start on a BUFFER_ALIGNMENT boundary (the generated Pack aligns them to 1)."""

    class AlignedBuffer(schema.BufferT):
        def Pack(self, builder: flatbuffers.Builder) -> int:
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data = builder.EndVector()
            schema.BufferStart(builder)
            schema.BufferAddData(builder, data)
            return schema.BufferEnd(builder)

    return AlignedBuffer()


def write_tflite(graph: Int8Graph) -> bytes:
    """The .tflite bytes of `graph`: one subgraph, buffer 0 empty (the schema's rule), one buffer per constant."""
    schema = _schema()
    buffers = [schema.BufferT()]
    tensors = []
    for tensor in graph.tensors:
        buffer = 0
        if tensor.data is not None:
            little_endian = np.ascontiguousarray(tensor.data, dtype=tensor.data.dtype.newbyteorder("<"))
            buffers.append(_aligned_buffer(schema, little_endian.tobytes()))
            buffer = len(buffers) - 1
        tensors.append(_tensor(schema, tensor, buffer))
    opcodes: dict[str, int] = {}
    codes, operators = [], []
    for op in graph.ops:
        if op.op not in opcodes:
            code = schema.OperatorCodeT()
            code.builtinCode = getattr(schema.BuiltinOperator, op.op)
            code.deprecatedBuiltinCode = min(code.builtinCode, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            code.version = _OP_VERSIONS.get(op.op, 1)
            opcodes[op.op] = len(codes)
            codes.append(code)
        operator = schema.OperatorT()
        operator.opcodeIndex = opcodes[op.op]
        operator.inputs, operator.outputs = list(op.inputs), list(op.outputs)
        operator.builtinOptionsType, operator.builtinOptions = _options(schema, op)
        operators.append(operator)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators = tensors, operators
    subgraph.inputs, subgraph.outputs = list(graph.inputs), list(graph.outputs)
    subgraph.name = "main"
    model = schema.ModelT()
    model.version = SCHEMA_VERSION
    model.operatorCodes, model.subgraphs, model.buffers = codes, [subgraph], buffers
    model.description = _DESCRIPTION
    builder = flatbuffers.Builder(1024 + sum(t.data.nbytes for t in graph.tensors if t.data is not None))
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
