"""The bit-exact reference: the TFLM interpreter compiled for the host (PyPI `tflite-micro`)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .reader import _load_bytes

log = logging.getLogger(__name__)

DEFAULT_ARENA_BYTES = 16 * 1024 * 1024


class ReferenceInterpreter:
    """Runs an int8 .tflite with the TFLM interpreter; `.invoke(x)` returns the int8 output. A float-edged model
    (QUANTIZE / DEQUANTIZE at its input / output) takes and gives its int8 core's bytes, as the device does."""

    def __init__(self, src: bytes | Path, arena_bytes: int = DEFAULT_ARENA_BYTES):
        from tflite_micro.python.tflite_micro import runtime

        self._blob = _load_bytes(src)
        if len(self._blob) < 8 or self._blob[4:8] != b"TFL3":
            raise ModelError(f"not a .tflite flatbuffer ({len(self._blob)} bytes, no 'TFL3' identifier): re-export it")
        _refuse_what_tflm_crashes_on(self._blob)
        # the interpreter runs any model TFLM supports, not only the ops of tinyhil's own runtime
        native = io.StringIO()
        try:
            with _native_stderr(native):
                self._interpreter = runtime.Interpreter.from_bytes(self._blob, arena_size=arena_bytes)
        except Exception as exc:  # the pybind layer raises RuntimeError with TFLM's own message
            from .reader import truncation_message

            raise ModelError(truncation_message(len(self._blob), exc)
                             or f"the TFLM reference interpreter cannot load the model: {exc}"
                             f"{_tflm_reason(native.getvalue())}") from exc
        if native.getvalue():
            sys.stderr.write(native.getvalue())  # a model that loads: whatever TFLM printed, where it would have gone
        inp, out = self._interpreter.get_input_details(0), self._interpreter.get_output_details(0)
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in inp["shape"])
        self.output_shape: tuple[int, ...] = tuple(int(d) for d in out["shape"])
        # a float edge (the converter's QUANTIZE / DEQUANTIZE there) is compared through the int8 core's
        # quantisation: (q - zp) * scale in float32 quantises back to q exactly
        self.float_input = inp["dtype"] is np.float32
        self.float_output = out["dtype"] is np.float32
        if self.float_input or self.float_output:
            core = self._int8_core()
            self.input_quant: tuple[float, int] = core[0] if self.float_input else _quant(inp)
            self.output_quant: tuple[float, int] = core[1] if self.float_output else _quant(out)
        else:
            self.input_quant, self.output_quant = _quant(inp), _quant(out)
        for role, details, is_float in (("input", inp, self.float_input), ("output", out, self.float_output)):
            if details["dtype"] is not np.int8 and not is_float:
                raise ModelError(f"the model's {role} is {details['dtype'].__name__}; tinyhil compares int8 models: "
                                 "export with int8 input and output")

    def _int8_core(self) -> tuple[tuple[float, int], tuple[float, int]]:
        """The (scale, zero point) of the int8 core's input and output (codegen.reader.int8_core)."""
        from .reader import read_tflite

        graph = read_tflite(self._blob)
        missing = {"input", "output"} - set(graph.float_edges)
        if (self.float_input and "input" in missing) or (self.float_output and "output" in missing):
            raise ModelError("the model's float input or output is not a QUANTIZE / DEQUANTIZE at the model's edge; "
                             "tinyhil compares int8 models: export with int8 input and output")
        x, y = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
        return (x.quant.scale[0], x.quant.zero_point[0]), (y.quant.scale[0], y.quant.zero_point[0])

    def invoke(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise ModelError(f"the reference takes int8 input, got {x.dtype}: quantise with the input scale/zero point")
        x = x.reshape(self.input_shape)
        if self.float_input:
            scale, zero_point = self.input_quant
            x = ((x.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
        self._interpreter.set_input(x, 0)
        self._interpreter.invoke()
        y = np.asarray(self._interpreter.get_output(0))
        if self.float_output:
            scale, zero_point = self.output_quant
            y = np.clip(np.round(y.astype(np.float32) / np.float32(scale)) + zero_point, -128, 127)
        return np.array(y, dtype=np.int8).reshape(self.output_shape)


@contextlib.contextmanager
def _native_stderr(sink: io.StringIO) -> Iterator[None]:
    """File descriptor 2 (where TFLM's C++ prints why a model does not load: "Didn't find op for builtin opcode
    'GELU'", before the pybind layer raises only "TFLM failed to allocate tensors") into `sink` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sink.write(captured.read().decode("utf-8", "replace"))


_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'")


def _tflm_reason(printed: str) -> str:
    """What TFLM printed while failing to load a model, as the end of one line: the op it has no kernel for (GELU:
    then there is nothing to be bit-exact with), else its last line."""
    missing = _MISSING_OP.search(printed)
    if missing:
        return (f" (it has no kernel for {missing.group(1)}: TFLM cannot run this model, so there is nothing to check "
                f"it against; build the model without {missing.group(1)} and re-export)")
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    return f" (TFLM printed: {lines[-1]})" if lines else ""


def _refuse_what_tflm_crashes_on(blob: bytes) -> None:
    """One line instead of a dead process: this TFLM build segfaults in AllocateTensors on a DEPTHWISE_CONV_2D whose
    bias is marked omitted (input index -1; with two inputs it runs). The converter always writes a bias."""
    import tflite

    try:
        model = tflite.Model.GetRootAsModel(blob, 0)
        omitted = [i for s in range(model.SubgraphsLength()) for i, op in enumerate(_operators(model.Subgraphs(s)))
                   if _builtin(model, op) == tflite.BuiltinOperator.DEPTHWISE_CONV_2D and op.InputsLength() > 2
                   and int(op.Inputs(2)) < 0]
    except Exception:  # a corrupt flatbuffer: TFLM's loader says what is wrong with it
        return
    if omitted:
        raise ModelError(f"operator {omitted[0]} (DEPTHWISE_CONV_2D) marks its bias omitted (input -1), which crashes "
                         "the TFLM interpreter: give it an all-zero int32 bias, or only two inputs, and re-export")


def _operators(subgraph) -> list:
    return [subgraph.Operators(i) for i in range(subgraph.OperatorsLength())]


def _builtin(model, op) -> int:
    code = model.OperatorCodes(op.OpcodeIndex())
    return max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))


def _quant(details: dict) -> tuple[float, int]:
    q = details["quantization_parameters"]
    return float(q["scales"][0]), int(q["zero_points"][0])


_PROBE = """
import sys
from tflite_micro.python.tflite_micro import runtime
blob = open(sys.argv[1], "rb").read()
interpreter = runtime.Interpreter.from_bytes(blob, arena_size=int(sys.argv[2]))
interpreter.print_allocations()
"""


def tflm_arena_bytes(src: bytes | Path, workdir: Path | None = None) -> int:
    """Arena bytes the TFLM interpreter allocates for the model (print_allocations, in a subprocess:
    the interpreter can crash the process on odd models)."""
    import tempfile

    blob = _load_bytes(src)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(blob)
        result = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(DEFAULT_ARENA_BYTES)],
                                capture_output=True, text=True, timeout=120)
    text = result.stdout + result.stderr
    match = re.search(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes", text)
    if result.returncode != 0 or match is None:
        raise ModelError(f"the TFLM interpreter could not allocate the model (exit {result.returncode}): "
                         f"{text.strip()[-400:]}")
    return int(match.group(1))
