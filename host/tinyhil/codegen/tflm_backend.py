"""`runtime="tflm"`: a model directory with the same model.h API that runs the .tflite through a
TFLM MicroInterpreter with CMSIS-NN's kernels (sources from TFLM_SOURCE_DIR or a pinned FetchContent, see
firmware/tflm/CMakeLists.txt). The comparison point for the native runtime, on QEMU and on a real board.
With the harness's per-layer timing on, the interpreter's profiler stamps the end of every operator, so
`tinyhil bench` and benchmarks/runtime.py read per-operator figures for TFLM as for the generated runtime."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import SOURCE_ROOT
from .emit import GENERATOR_VERSION, GeneratedModel, _environment, _rows
from .planner import plan_memory
from .reader import _load_bytes, read_tflite

TFLM_DIR = SOURCE_ROOT / "firmware" / "tflm"
ARENA_MARGIN_BYTES = 2048  # the host interpreter's 64-bit pointers differ from the MCU's; keep a margin

# op -> MicroMutableOpResolver method
RESOLVER_METHODS = {
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "FULLY_CONNECTED": "AddFullyConnected",
    "ADD": "AddAdd", "MEAN": "AddMean", "AVERAGE_POOL_2D": "AddAveragePool2D", "MAX_POOL_2D": "AddMaxPool2D",
    "PAD": "AddPad", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax", "LEAKY_RELU": "AddLeakyRelu",
    "HARD_SWISH": "AddHardSwish", "LOGISTIC": "AddLogistic", "MUL": "AddMul", "SQUEEZE": "AddSqueeze",
    "EXPAND_DIMS": "AddExpandDims", "CONCATENATION": "AddConcatenation", "RELU": "AddRelu", "RELU6": "AddRelu6",
    "QUANTIZE": "AddQuantize", "TANH": "AddTanh", "MAXIMUM": "AddMaximum",
    "MINIMUM": "AddMinimum", "SUB": "AddSub", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "PRELU": "AddPrelu", "TRANSPOSE": "AddTranspose",
    "SLICE": "AddSlice", "STRIDED_SLICE": "AddStridedSlice", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV",
    "TRANSPOSE_CONV": "AddTransposeConv", "PADV2": "AddPadV2",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "SPACE_TO_DEPTH": "AddSpaceToDepth", "RESIZE_BILINEAR": "AddResizeBilinear",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "ELU": "AddElu", "RSQRT": "AddRsqrt",
    "DEQUANTIZE": "AddDequantize", "NEG": "AddNeg", "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "BATCH_MATMUL": "AddBatchMatMul",
}
# op -> its kernel files under tensorflow/lite/micro/kernels/ (kernels/cmsis_nn/ where the tree has them there:
# create_tflm_tree.py with OPTIMIZED_KERNEL_DIR=cmsis_nn drops the reference file of the same name). The TFLM
# library is built with the kernels of every op above (firmware/tflm/library/CMakeLists.txt), not TFLM's ~100:
# one library for every model, a third of the compile time.
KERNEL_FILES = {
    "CONV_2D": ("conv", "conv_common"), "DEPTHWISE_CONV_2D": ("depthwise_conv", "depthwise_conv_common"),
    "FULLY_CONNECTED": ("fully_connected", "fully_connected_common"), "ADD": ("add", "add_common"),
    "MEAN": ("reduce", "reduce_common"), "AVERAGE_POOL_2D": ("pooling", "pooling_common"),
    "MAX_POOL_2D": ("pooling", "pooling_common"), "PAD": ("pad", "pad_common"),
    "RESHAPE": ("reshape", "reshape_common"), "SOFTMAX": ("softmax", "softmax_common"),
    "LEAKY_RELU": ("leaky_relu", "leaky_relu_common"), "HARD_SWISH": ("hard_swish", "hard_swish_common"),
    "LOGISTIC": ("logistic", "logistic_common"), "MUL": ("mul", "mul_common"), "SQUEEZE": ("squeeze",),
    "EXPAND_DIMS": ("expand_dims",), "CONCATENATION": ("concatenation",), "RELU": ("activations",),
    "RELU6": ("activations",), "QUANTIZE": ("quantize", "quantize_common"), "TANH": ("tanh",),
    "MAXIMUM": ("maximum_minimum",), "MINIMUM": ("maximum_minimum",),
    "SUB": ("sub", "sub_common"), "RESIZE_NEAREST_NEIGHBOR": ("resize_nearest_neighbor",),
    "PRELU": ("prelu", "prelu_common"), "TRANSPOSE": ("transpose", "transpose_common"),
    "SLICE": ("slice",), "STRIDED_SLICE": ("strided_slice", "strided_slice_common"), "SPLIT": ("split",),
    "SPLIT_V": ("split_v",), "TRANSPOSE_CONV": ("transpose_conv",),
    "PADV2": ("pad", "pad_common"), "DEPTH_TO_SPACE": ("depth_to_space",), "SPACE_TO_DEPTH": ("space_to_depth",),
    "RESIZE_BILINEAR": ("resize_bilinear",), "REDUCE_MAX": ("reduce", "reduce_common"),
    "REDUCE_MIN": ("reduce", "reduce_common"), "ELU": ("elu",), "RSQRT": ("elementwise",),
    "DEQUANTIZE": ("dequantize", "dequantize_common"), "NEG": ("neg",),
    "SQUARED_DIFFERENCE": ("squared_difference",), "BATCH_MATMUL": ("batch_matmul", "batch_matmul_common"),
}
SHARED_KERNEL_FILES = ("kernel_util", "micro_tensor_utils", "activations", "activations_common")


def tflm_kernel_files() -> list[str]:
    """The kernel file stems the TFLM library is built with: every op's above and the helpers they share."""
    return sorted({stem for stems in KERNEL_FILES.values() for stem in stems} | set(SHARED_KERNEL_FILES))


def generate_tflm(src: bytes | Path, out_dir: Path, arena_bytes: int | None = None) -> GeneratedModel:
    """Write tflm_model.cc, model_data.c, model.h and CMakeLists.txt (target tinyhil_model)."""
    from .reference import tflm_arena_bytes

    blob = _load_bytes(src)
    graph = read_tflite(blob)
    if graph.float_edges:  # the TFLM glue passes the harness's int8 bytes to the interpreter's own input tensor
        raise ModelError(f"the model's {' and '.join(graph.float_edges)} are float32 (QUANTIZE / DEQUANTIZE at the "
                         "edge): --runtime tflm runs int8-edged models only; use the native runtime, or export with "
                         "inference_input_type/output_type = int8")
    if arena_bytes is None:
        arena_bytes = tflm_arena_bytes(blob) + ARENA_MARGIN_BYTES
    x, y = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    model_hash = hashlib.sha256(blob).hexdigest()
    context = {"generator_version": GENERATOR_VERSION, "model_hash": model_hash, "input_bytes": x.nbytes,
               "output_bytes": y.nbytes, "arena_bytes": arena_bytes, "arena_margin": ARENA_MARGIN_BYTES,
               "model_length": len(blob), "model_rows": _rows(np.frombuffer(blob, np.uint8), per_row=24),
               "resolver_ops": sorted({RESOLVER_METHODS[opcode] for op in graph.operators
                                      for opcode in op.options.get("source_ops", (op.opcode,))}),
               "operator_count": sum(len(op.options.get("source_ops", (op.opcode,))) for op in graph.operators),
               "kernel_files": ";".join(tflm_kernel_files()),
               "tflm_dir": TFLM_DIR.as_posix()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    for name in ("model.h", "model_data.c", "tflm_model.cc", "CMakeLists.txt"):
        (out_dir / name).write_text(env.get_template(f"tflm/{name}.j2").render(**context))
    return GeneratedModel(out_dir=out_dir, c_sources=[out_dir / "tflm_model.cc", out_dir / "model_data.c"],
                          header=out_dir / "model.h", arena_bytes=arena_bytes, input_shape=x.shape,
                          output_shape=y.shape, input_bytes=x.nbytes, output_bytes=y.nbytes,
                          input_quant=(x.quant.scale[0], x.quant.zero_point[0]),
                          output_quant=(y.quant.scale[0], y.quant.zero_point[0]), model_hash=model_hash,
                          plan=plan_memory(graph), runtime="tflm")
