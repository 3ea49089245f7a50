"""Measure a model on a board or emulator: generate C, build firmware, run it, compare bit-exact."""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .boards import BoardProfile
from .dut import Dut
from .errors import BuildError, ModelError
from .firmware import FirmwareImage, build_firmware
from .measurement import Measurement
from .runners import runner_for

log = logging.getLogger(__name__)

RUNTIMES = ("native", "tflm")
LAYER_LATENCY_SOURCE = ("the generated model's TINYHIL_LAYER_DONE hook: the harness stores platform_elapsed() "
                        "(the clock of the total) after each layer; median over the runs")


@dataclass(frozen=True)
class RunOutcome:
    outputs: np.ndarray  # (N, output_bytes) int8
    latencies: list[int]
    stack_high_water_bytes: int
    arena_bytes: int
    latency_unit: str
    model_hash: str
    layer_latencies: list[tuple[int, ...]] = field(default_factory=list)  # per run, per layer (may be empty)


def run_image(image: FirmwareImage, profile: BoardProfile, inputs: np.ndarray, workdir: Path,
              warmup: int = 1) -> RunOutcome:
    """Start the ELF through the profile's runner, run `warmup` throw-away inferences, then every input."""
    dut = Dut(runner_for(profile, Path(workdir) / "run"), image.elf)
    try:
        hello = dut.launch()
        for _ in range(warmup):
            dut.infer(inputs[0])
        results = [dut.infer(x) for x in inputs]
    finally:
        dut.close()
    return RunOutcome(np.stack([r.output for r in results]), [r.latency for r in results],
                      max(r.stack_high_water_bytes for r in results), max(r.arena_high_water_bytes for r in results),
                      hello.latency_unit, hello.model_hash, [r.layer_latency for r in results])


def layer_latency_table(outcome: RunOutcome, layers: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Per layer: index, op, MACs (from the code generator's layers) and the median latency over the runs.
    Empty when the firmware reported no per-layer stamps; a count that differs from the generated model's
    layers is a BuildError (the firmware was built from another model)."""
    runs = [run for run in outcome.layer_latencies if run]
    if not runs:
        return []
    count = len(runs[0])
    if layers is not None and len(layers) != count:
        raise BuildError(f"the firmware reports {count} layers, the generated model has {len(layers)}: a stale build")
    table = []
    for i in range(count):
        layer = layers[i] if layers is not None else None
        table.append({"index": i, "op": layer.opcode if layer is not None else "?",
                      "macs": int(layer.macs) if layer is not None else None,
                      "latency": int(statistics.median_low(run[i] for run in runs))})
    return table


def summarise(image: FirmwareImage, profile: BoardProfile, outcome: RunOutcome, expected: np.ndarray | None,
              runtime: str, layers: Sequence[Any] | None = None, generated: Any = None) -> Measurement:
    layer_latency = layer_latency_table(outcome, layers)
    memory: dict[str, Any] = {}
    if generated is not None and getattr(generated, "runtime", "") == "native":
        from .codegen.plan_report import execution_rows

        memory = {"memory_plan": execution_rows(generated.layers, generated.plan),
                  "planned_arena_bytes": int(generated.plan.arena_bytes),
                  "unfused_arena_bytes": int(generated.plan.unfused_arena_bytes)}
    bit_exact = expected is not None and np.array_equal(outcome.outputs.reshape(len(expected), -1),
                                                        np.asarray(expected, np.int8).reshape(len(expected), -1))
    return Measurement(
        latency_median=int(statistics.median_low(outcome.latencies)), latency_unit=outcome.latency_unit,
        latency_runs=outcome.latencies, static_ram_bytes=image.static_ram_bytes,
        stack_high_water_bytes=outcome.stack_high_water_bytes,
        peak_sram_bytes=image.static_ram_bytes + outcome.stack_high_water_bytes, arena_bytes=outcome.arena_bytes,
        flash_bytes=image.flash_bytes, bit_exact=bool(bit_exact), outputs=outcome.outputs,
        provenance={"board": profile.name, "kind": profile.kind, "latency_meaning": profile.latency_meaning,
                    "firmware_sha256": image.sha256, "toolchain": image.toolchain, "runtime": runtime,
                    "model_hash": outcome.model_hash, "compared_with": "tflite-micro host interpreter (tinyhil.reference)"
                    if expected is not None else "nothing",
                    **({"layer_latency_source": LAYER_LATENCY_SOURCE} if layer_latency else {})},
        layer_latency=layer_latency, **memory)


def _generate(model_bytes: bytes, runtime: str, out_dir: Path, fusion: str = "auto") -> Any:
    """The model's C directory: generated kernels calls ("native") or the TFLM interpreter glue ("tflm",
    whose build needs TFLM's sources: firmware/tflm/CMakeLists.txt says where they come from)."""
    if runtime not in RUNTIMES:
        raise BuildError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    try:
        from .codegen import generate
    except ImportError as exc:
        raise BuildError(f"the code generator (tinyhil.codegen.generate) is not available: {exc}") from exc
    return generate(model_bytes, out_dir, runtime=runtime, fusion=fusion)


def _reference_outputs(model_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    from .reference import ReferenceInterpreter

    reference = ReferenceInterpreter(model_bytes)
    return np.stack([np.asarray(reference.invoke(x), np.int8) for x in inputs])


def measure(model: Path | bytes, profile: BoardProfile, inputs: np.ndarray, *, runtime: str = "native",
            workdir: Path, warmup: int = 1, on_stage: Callable[[str, float], None] | None = None,
            fusion: str = "auto") -> Measurement:
    """Contract B: generate C for the model, build firmware for the profile, stream `inputs` (N, *input_shape)
    int8 through it and compare every output with the tflite-micro reference. `on_stage(name, seconds)`
    hears how long generate / build / run / reference took. fusion: the planner's mode
    (tinyhil.codegen.planner.FUSION_MODES; native runtime only)."""
    model_bytes = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8 or inputs.ndim < 2 or len(inputs) == 0:
        raise ModelError(f"inputs must be an int8 array (N, *input_shape) with N >= 1, got {inputs.dtype} {inputs.shape}")
    workdir = Path(workdir)
    model_hash = hashlib.sha256(model_bytes).hexdigest()
    timings: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], object]) -> object:
        start = time.perf_counter()
        value = fn()
        timings[name] = time.perf_counter() - start
        if on_stage:
            on_stage(name, timings[name])
        return value

    model_out = workdir / "model" / f"{runtime}-{model_hash[:16]}" if fusion == "auto" else \
        workdir / "model" / f"{runtime}-fusion-{fusion}-{model_hash[:16]}"
    generated = stage("generate", lambda: _generate(model_bytes, runtime, model_out, fusion))
    image = stage("build", lambda: build_firmware(Path(generated.out_dir), profile, workdir / "build"))
    outcome = stage("run", lambda: run_image(image, profile, inputs, workdir, warmup))
    if outcome.model_hash != model_hash:
        raise BuildError(f"the firmware reports model hash {outcome.model_hash[:16]}..., the model is "
                         f"{model_hash[:16]}...: a stale build; delete {workdir / 'build'} and retry")
    expected = stage("reference", lambda: _reference_outputs(model_bytes, inputs))
    log.info("timings (s): %s", {k: round(v, 2) for k, v in timings.items()})
    return summarise(image, profile, outcome, expected, runtime, generated.layers or None, generated)
