"""Build small (mostly single-operator) int8 .tflite flatbuffers with the `tflite` package's generated builder
functions, so per-op tests can choose any shape, stride and quantisation (edge zero points
included) without a slow TFLiteConverter round trip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import flatbuffers
import numpy as np
import tflite

_DTYPES = {"int8": tflite.TensorType.INT8, "int32": tflite.TensorType.INT32, "float32": tflite.TensorType.FLOAT32}


@dataclass
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: tuple[float, ...] | None = None
    zero_point: tuple[int, ...] | None = None
    axis: int = 0
    data: np.ndarray | None = None


OptionsWriter = Callable[[flatbuffers.Builder], tuple[int, int]]  # -> (BuiltinOptions type, offset)


def _vector(builder: flatbuffers.Builder, values: np.ndarray) -> int:
    return builder.CreateNumpyVector(np.ascontiguousarray(values))


@dataclass
class OpSpec:
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: OptionsWriter | None = None


def build_model(opcode: str, tensors: list[TensorSpec], op_inputs: list[int], op_outputs: list[int],
                options: OptionsWriter | None = None) -> bytes:
    """One subgraph with one operator; the graph input is op_inputs[0], the output op_outputs[0]."""
    return build_graph(tensors, [OpSpec(opcode, op_inputs, op_outputs, options)], op_inputs[0], op_outputs[0])


def build_graph(tensors: list[TensorSpec], ops: list[OpSpec], graph_input: int, graph_output: int,
                names: bool = True) -> bytes:
    """One subgraph running `ops` in order, with one graph input and one graph output tensor; names=False leaves
    the tensors and the subgraph unnamed, as stripped models (TFLM's scrambled benchmark models) come."""
    b = flatbuffers.Builder(1024)
    codes = sorted({getattr(tflite.BuiltinOperator, op.opcode) for op in ops})
    # buffer 0 stays empty (the TFLite convention); each constant gets its own buffer
    buffer_offsets, buffer_of_tensor = [], []
    tflite.BufferStart(b)
    buffer_offsets.append(tflite.BufferEnd(b))
    for t in tensors:
        if t.data is None:
            buffer_of_tensor.append(0)
            continue
        raw = np.ascontiguousarray(t.data.astype(t.dtype)).view(np.uint8).ravel()
        data = _vector(b, raw)
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buffer_offsets.append(tflite.BufferEnd(b))
        buffer_of_tensor.append(len(buffer_offsets) - 1)

    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(f"t{i}") if names else None
        shape = _vector(b, np.array(t.shape, dtype=np.int32))
        quant = None
        if t.scale is not None:
            scale = _vector(b, np.array(t.scale, dtype=np.float32))
            zp = _vector(b, np.array(t.zero_point, dtype=np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _DTYPES[t.dtype])
        tflite.TensorAddBuffer(b, buffer_of_tensor[i])
        if name is not None:
            tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        tensor_offsets.append(tflite.TensorEnd(b))

    operators = []
    for op in ops:
        options_type, options_offset = op.options(b) if op.options else (0, None)
        op_in = _vector(b, np.array(op.inputs, dtype=np.int32))
        op_out = _vector(b, np.array(op.outputs, dtype=np.int32))
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(getattr(tflite.BuiltinOperator, op.opcode)))
        tflite.OperatorAddInputs(b, op_in)
        tflite.OperatorAddOutputs(b, op_out)
        if options_offset is not None:
            tflite.OperatorAddBuiltinOptionsType(b, options_type)
            tflite.OperatorAddBuiltinOptions(b, options_offset)
        operators.append(tflite.OperatorEnd(b))

    def offsets_vector(start: Callable[[flatbuffers.Builder, int], None], items: list[int]) -> int:
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    tensors_vec = offsets_vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
    ops_vec = offsets_vector(tflite.SubGraphStartOperatorsVector, operators)
    sg_in = _vector(b, np.array([graph_input], dtype=np.int32))
    sg_out = _vector(b, np.array([graph_output], dtype=np.int32))
    sg_name = b.CreateString("main") if names else None
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, sg_in)
    tflite.SubGraphAddOutputs(b, sg_out)
    tflite.SubGraphAddOperators(b, ops_vec)
    if sg_name is not None:
        tflite.SubGraphAddName(b, sg_name)
    subgraph = tflite.SubGraphEnd(b)

    code_tables = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddVersion(b, 1)
        code_tables.append(tflite.OperatorCodeEnd(b))

    codes_vec = offsets_vector(tflite.ModelStartOperatorCodesVector, code_tables)
    subgraphs_vec = offsets_vector(tflite.ModelStartSubgraphsVector, [subgraph])
    buffers_vec = offsets_vector(tflite.ModelStartBuffersVector, buffer_offsets)
    description = b.CreateString("tinyhil test op")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs_vec)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# ---- option writers -------------------------------------------------------------------------

_ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
_PAD = {"SAME": tflite.Padding.SAME, "VALID": tflite.Padding.VALID}


def conv_options(stride: tuple[int, int], dilation: tuple[int, int], padding: str, activation: str,
                 depth_multiplier: int | None = None) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        if depth_multiplier is None:
            p, kind = "Conv2DOptions", tflite.BuiltinOptions.Conv2DOptions
        else:
            p, kind = "DepthwiseConv2DOptions", tflite.BuiltinOptions.DepthwiseConv2DOptions
        getattr(tflite, p + "Start")(b)
        getattr(tflite, p + "AddPadding")(b, _PAD[padding])
        getattr(tflite, p + "AddStrideH")(b, stride[0])
        getattr(tflite, p + "AddStrideW")(b, stride[1])
        getattr(tflite, p + "AddDilationHFactor")(b, dilation[0])
        getattr(tflite, p + "AddDilationWFactor")(b, dilation[1])
        getattr(tflite, p + "AddFusedActivationFunction")(b, _ACT[activation])
        if depth_multiplier is not None:
            tflite.DepthwiseConv2DOptionsAddDepthMultiplier(b, depth_multiplier)
        return kind, getattr(tflite, p + "End")(b)
    return write


def pool_options(filt: tuple[int, int], stride: tuple[int, int], padding: str, activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, _PAD[padding])
        tflite.Pool2DOptionsAddStrideH(b, stride[0])
        tflite.Pool2DOptionsAddStrideW(b, stride[1])
        tflite.Pool2DOptionsAddFilterHeight(b, filt[0])
        tflite.Pool2DOptionsAddFilterWidth(b, filt[1])
        tflite.Pool2DOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.Pool2DOptions, tflite.Pool2DOptionsEnd(b)
    return write


def fc_options(activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.FullyConnectedOptionsStart(b)
        tflite.FullyConnectedOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.FullyConnectedOptions, tflite.FullyConnectedOptionsEnd(b)
    return write


def add_options(activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.AddOptionsStart(b)
        tflite.AddOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.AddOptions, tflite.AddOptionsEnd(b)
    return write


def sub_options(activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.SubOptionsStart(b)
        tflite.SubOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.SubOptions, tflite.SubOptionsEnd(b)
    return write


def softmax_options(beta: float) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.SoftmaxOptionsStart(b)
        tflite.SoftmaxOptionsAddBeta(b, beta)
        return tflite.BuiltinOptions.SoftmaxOptions, tflite.SoftmaxOptionsEnd(b)
    return write


def mean_options(keep_dims: bool) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.ReducerOptionsStart(b)
        tflite.ReducerOptionsAddKeepDims(b, keep_dims)
        return tflite.BuiltinOptions.ReducerOptions, tflite.ReducerOptionsEnd(b)
    return write


def leaky_relu_options(alpha: float) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.LeakyReluOptionsStart(b)
        tflite.LeakyReluOptionsAddAlpha(b, alpha)
        return tflite.BuiltinOptions.LeakyReluOptions, tflite.LeakyReluOptionsEnd(b)
    return write


def batch_matmul_options(adj_x: bool, adj_y: bool) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.BatchMatMulOptionsStart(b)
        tflite.BatchMatMulOptionsAddAdjX(b, adj_x)
        tflite.BatchMatMulOptionsAddAdjY(b, adj_y)
        return tflite.BuiltinOptions.BatchMatMulOptions, tflite.BatchMatMulOptionsEnd(b)
    return write


def mul_options(activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.MulOptionsStart(b)
        tflite.MulOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.MulOptions, tflite.MulOptionsEnd(b)
    return write


def concatenation_options(axis: int, activation: str = "NONE") -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.ConcatenationOptionsStart(b)
        tflite.ConcatenationOptionsAddAxis(b, axis)
        tflite.ConcatenationOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.ConcatenationOptions, tflite.ConcatenationOptionsEnd(b)
    return write


def resize_nearest_options(align_corners: bool, half_pixel_centers: bool) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.ResizeNearestNeighborOptionsStart(b)
        tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, align_corners)
        tflite.ResizeNearestNeighborOptionsAddHalfPixelCenters(b, half_pixel_centers)
        return tflite.BuiltinOptions.ResizeNearestNeighborOptions, tflite.ResizeNearestNeighborOptionsEnd(b)
    return write


def strided_slice_options(begin_mask: int, end_mask: int, shrink_axis_mask: int) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.StridedSliceOptionsStart(b)
        tflite.StridedSliceOptionsAddBeginMask(b, begin_mask)
        tflite.StridedSliceOptionsAddEndMask(b, end_mask)
        tflite.StridedSliceOptionsAddShrinkAxisMask(b, shrink_axis_mask)
        return tflite.BuiltinOptions.StridedSliceOptions, tflite.StridedSliceOptionsEnd(b)
    return write


def split_options(opcode: str, num_splits: int) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        p = "SplitOptions" if opcode == "SPLIT" else "SplitVOptions"
        getattr(tflite, p + "Start")(b)
        getattr(tflite, p + "AddNumSplits")(b, num_splits)
        return getattr(tflite.BuiltinOptions, p), getattr(tflite, p + "End")(b)
    return write


def transpose_conv_options(stride: tuple[int, int], padding: str, activation: str) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.TransposeConvOptionsStart(b)
        tflite.TransposeConvOptionsAddPadding(b, _PAD[padding])
        tflite.TransposeConvOptionsAddStrideH(b, stride[0])
        tflite.TransposeConvOptionsAddStrideW(b, stride[1])
        tflite.TransposeConvOptionsAddFusedActivationFunction(b, _ACT[activation])
        return tflite.BuiltinOptions.TransposeConvOptions, tflite.TransposeConvOptionsEnd(b)
    return write


def block_size_options(opcode: str, block: int) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        p = "DepthToSpaceOptions" if opcode == "DEPTH_TO_SPACE" else "SpaceToDepthOptions"
        getattr(tflite, p + "Start")(b)
        getattr(tflite, p + "AddBlockSize")(b, block)
        return getattr(tflite.BuiltinOptions, p), getattr(tflite, p + "End")(b)
    return write


def resize_bilinear_options(align_corners: bool, half_pixel_centers: bool) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        tflite.ResizeBilinearOptionsStart(b)
        tflite.ResizeBilinearOptionsAddAlignCorners(b, align_corners)
        tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, half_pixel_centers)
        return tflite.BuiltinOptions.ResizeBilinearOptions, tflite.ResizeBilinearOptionsEnd(b)
    return write


def squeeze_options(dims: tuple[int, ...]) -> OptionsWriter:
    def write(b: flatbuffers.Builder) -> tuple[int, int]:
        vector = _vector(b, np.array(dims, dtype=np.int32))
        tflite.SqueezeOptionsStart(b)
        tflite.SqueezeOptionsAddSqueezeDims(b, vector)
        return tflite.BuiltinOptions.SqueezeOptions, tflite.SqueezeOptionsEnd(b)
    return write


def small_conv_model() -> bytes:
    """A 6x6x3 -> 3x3x4 stride-2 CONV_2D with ReLU (per-channel weights, non-zero zero points): the smallest
    model the codegen and bench command tests build firmware for."""
    rng = np.random.default_rng(0)
    tensors = [TensorSpec((1, 6, 6, 3), scale=(0.05,), zero_point=(-3,)),
               TensorSpec((4, 3, 3, 3), scale=(0.01,) * 4, zero_point=(0,) * 4,
                          data=rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)),
               TensorSpec((1, 3, 3, 4), scale=(0.1,), zero_point=(5,))]
    return build_model("CONV_2D", tensors, [0, 1], [2], conv_options((2, 2), (1, 1), "SAME", "RELU"))
