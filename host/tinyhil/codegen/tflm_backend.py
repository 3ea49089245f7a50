"""`runtime="tflm"`: a model directory with the same model.h API that runs the .tflite through a
TFLM MicroInterpreter (sources from TFLM_SOURCE_DIR or a pinned FetchContent, see
firmware/tflm/CMakeLists.txt). The comparison point for the native runtime on a real board."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .emit import GENERATOR_VERSION, GeneratedModel, _environment, _rows
from .planner import plan_memory
from .reader import _load_bytes, read_tflite

TFLM_DIR = Path(__file__).resolve().parents[3] / "firmware" / "tflm"
ARENA_MARGIN_BYTES = 2048  # the host interpreter's 64-bit pointers differ from the MCU's; keep a margin

# op -> MicroMutableOpResolver method
RESOLVER_METHODS = {
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "FULLY_CONNECTED": "AddFullyConnected",
    "ADD": "AddAdd", "MEAN": "AddMean", "AVERAGE_POOL_2D": "AddAveragePool2D", "MAX_POOL_2D": "AddMaxPool2D",
    "PAD": "AddPad", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax",
}


def generate_tflm(src: bytes | Path, out_dir: Path, arena_bytes: int | None = None) -> GeneratedModel:
    """Write tflm_model.cc, model_data.c, model.h and CMakeLists.txt (target tinyhil_model)."""
    from ..reference import tflm_arena_bytes

    blob = _load_bytes(src)
    graph = read_tflite(blob)
    if arena_bytes is None:
        arena_bytes = tflm_arena_bytes(blob) + ARENA_MARGIN_BYTES
    x, y = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    model_hash = hashlib.sha256(blob).hexdigest()
    context = {"generator_version": GENERATOR_VERSION, "model_hash": model_hash, "input_bytes": x.nbytes,
               "output_bytes": y.nbytes, "arena_bytes": arena_bytes, "arena_margin": ARENA_MARGIN_BYTES,
               "model_length": len(blob), "model_rows": _rows(np.frombuffer(blob, np.uint8), per_row=24),
               "resolver_ops": sorted({RESOLVER_METHODS[op.opcode] for op in graph.operators}),
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
