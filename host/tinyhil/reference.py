"""The bit-exact reference: the TFLM interpreter compiled for the host (PyPI `tflite-micro`)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from .codegen.reader import _load_bytes
from .errors import ModelError

log = logging.getLogger(__name__)

DEFAULT_ARENA_BYTES = 16 * 1024 * 1024


class ReferenceInterpreter:
    """Runs an int8 .tflite with the TFLM interpreter; `.invoke(x)` returns the int8 output."""

    def __init__(self, src: bytes | Path, arena_bytes: int = DEFAULT_ARENA_BYTES):
        from tflite_micro.python.tflite_micro import runtime

        self._blob = _load_bytes(src)
        if len(self._blob) < 8 or self._blob[4:8] != b"TFL3":
            raise ModelError(f"not a .tflite flatbuffer ({len(self._blob)} bytes, no 'TFL3' identifier): re-export it")
        # the interpreter runs any model TFLM supports, not only the ops of tinyhil's own runtime
        try:
            self._interpreter = runtime.Interpreter.from_bytes(self._blob, arena_size=arena_bytes)
        except Exception as exc:  # the pybind layer raises RuntimeError with TFLM's own message
            from .codegen.reader import truncation_message

            raise ModelError(truncation_message(len(self._blob), exc)
                             or f"the TFLM reference interpreter cannot load the model: {exc}") from exc
        inp, out = self._interpreter.get_input_details(0), self._interpreter.get_output_details(0)
        if inp["dtype"] is not np.int8 or out["dtype"] is not np.int8:
            raise ModelError(f"the model's input/output are {inp['dtype'].__name__}/{out['dtype'].__name__}; "
                             "tinyhil compares int8 models: export with int8 input and output")
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in inp["shape"])
        self.output_shape: tuple[int, ...] = tuple(int(d) for d in out["shape"])
        self.input_quant: tuple[float, int] = _quant(inp)
        self.output_quant: tuple[float, int] = _quant(out)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise ModelError(f"the reference takes int8 input, got {x.dtype}: quantise with the input scale/zero point")
        self._interpreter.set_input(x.reshape(self.input_shape), 0)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_output(0), dtype=np.int8).reshape(self.output_shape)


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
