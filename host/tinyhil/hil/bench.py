"""Measure a model on a board or emulator: generate C, build firmware, run it, compare bit-exact."""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import BuildError, ModelError
from .boards import BoardProfile
from .dut import Dut
from .firmware import FirmwareImage, build_firmware
from .measurement import Measurement
from .protocol import Hello, seeded_input
from .runners import runner_for

log = logging.getLogger(__name__)

RUNTIMES = ("native", "tflm")
LAYER_LATENCY_SOURCE = ("the generated model's TINYHIL_LAYER_DONE hook: the harness stores platform_elapsed() "
                        "(the clock of the total) after each layer; median over the runs")
TFLM_LAYER_LATENCY_SOURCE = ("TFLM's profiler events (MicroProfilerInterface, one per operator): the glue's EndEvent "
                             "calls the harness, which stores platform_elapsed() (the clock of the total) after each "
                             "operator; median over the runs")


# fusion "fit" plans the arena within the SRAM budget less the firmware's other RAM (its static buffers and stack),
# which is known only once it has run: this first guess (QEMU mps2-an500: 100 B of static buffers and a 656 B plain
# stack beside the arena, benchmarks/runtime.py's nets) is corrected by what the run measured, FIT_ATTEMPTS times at most
FIT_FIRST_HEADROOM_BYTES = 1024
FIT_ATTEMPTS = 3


def fit_arena_limit(profile: BoardProfile, headroom: int = FIT_FIRST_HEADROOM_BYTES) -> int:
    """The arena fusion "fit" may plan on `profile`: its SRAM budget less `headroom` for the firmware's other RAM."""
    return max(1, profile.sram_budget_bytes - headroom)

# How inputs reach the firmware; `tinyhil bench --input-mode` offers these keys.
INPUT_MODES = {
    "stream": "every input tensor sent over serial, every output tensor sent back",
    "seeded": "the firmware generates each input from a seed (the host computes the same bytes) and sends back "
              "the output's CRC-32: a few bytes of serial traffic per inference, whatever the tensors' size",
}


@dataclass(frozen=True)
class SeededInputs:
    """Inputs the firmware generates itself: input k is seeded_input(seed + k) (tinyhil.hil.protocol)."""

    seed: int
    count: int

    def arrays(self, input_shape: Sequence[int]) -> np.ndarray:
        """The same inputs, computed here: (count, *input_shape) int8."""
        size = int(np.prod(input_shape))
        return np.stack([seeded_input(self.seed + k, size).reshape(tuple(input_shape)) for k in range(self.count)])


@dataclass(frozen=True)
class RunOutcome:
    outputs: np.ndarray | None  # (N, output_bytes) int8; None for seeded inputs (only output_crcs come back)
    latencies: list[int]
    stack_high_water_bytes: int
    arena_bytes: int
    latency_unit: str
    model_hash: str
    layer_latencies: list[tuple[int, ...]] = field(default_factory=list)  # per run, per layer (may be empty)
    output_crcs: list[int] = field(default_factory=list)  # zlib.crc32 of each output
    hello: Hello | None = None  # what the firmware said about itself
    device_resets: int = 0  # reboots the device did by itself mid-request (each request was resent)


def check_firmware_identity(hello: Hello, image: FirmwareImage, *, model_hash: str | None = None,
                            runtime: str | None = None, build_dir: Path | None = None) -> None:
    """The firmware that answers must be the one built, for the model and runtime asked for: a BuildError
    naming the difference otherwise (a stale or foreign build, a board flashed by someone else)."""
    where = build_dir if build_dir is not None else image.elf.parent
    fix = f"delete {where} and retry, or flash the board again"
    if model_hash is not None and hello.model_hash != model_hash:
        raise BuildError(f"the firmware reports model hash {hello.model_hash[:16]}..., the model is "
                         f"{model_hash[:16]}...: a stale build; {fix}")
    if runtime is not None and hello.runtime != runtime:
        raise BuildError(f"the firmware runs the {hello.runtime!r} runtime, {runtime!r} was asked for: a stale or "
                         f"foreign build; {fix}")
    for name, reported, built in (("flash", hello.flash_bytes, image.flash_bytes),
                                  ("static RAM", hello.static_ram_bytes, image.static_ram_bytes)):
        if reported != built:
            raise BuildError(f"the firmware reports {reported:,} B of {name}, the ELF built has {built:,} B "
                             f"({image.elf}): the device runs another build; {fix}")


def run_image(image: FirmwareImage, profile: BoardProfile, inputs: np.ndarray | SeededInputs, workdir: Path,
              warmup: int = 1, *, model_hash: str | None = None, runtime: str | None = None) -> RunOutcome:
    """Start the ELF through the profile's runner, check it is the firmware built (and, when given, for that
    model hash and runtime), run `warmup` throw-away inferences, then every input: streamed tensors, or
    SeededInputs the firmware generates itself."""
    dut = Dut(runner_for(profile, Path(workdir) / "run"), image.elf)
    try:
        hello = dut.launch()
        check_firmware_identity(hello, image, model_hash=model_hash, runtime=runtime)
        if isinstance(inputs, SeededInputs):
            for _ in range(warmup):
                dut.infer_seeded(inputs.seed)
            results = [dut.infer_seeded(inputs.seed + k) for k in range(inputs.count)]
        else:
            for _ in range(warmup):
                dut.infer(inputs[0])
            results = [dut.infer(x) for x in inputs]
        resets = dut.total_device_resets
    finally:
        dut.close()
    outputs = None if isinstance(inputs, SeededInputs) else np.stack([r.output for r in results])
    return RunOutcome(outputs, [r.latency for r in results],
                      max(r.stack_high_water_bytes for r in results), max(r.arena_high_water_bytes for r in results),
                      hello.latency_unit, hello.model_hash, [r.layer_latency for r in results],
                      [r.output_crc for r in results], hello, resets)


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
    """The measurement; bit-exact means every output (or, for seeded inputs, every output's CRC-32) equals
    the reference's."""
    layer_latency = layer_latency_table(outcome, layers)
    memory: dict[str, Any] = {}
    if generated is not None and getattr(generated, "runtime", "") == "native":
        from ..codegen.plan_report import execution_rows

        memory = {"memory_plan": execution_rows(generated.layers, generated.plan),
                  "planned_arena_bytes": int(generated.plan.arena_bytes),
                  "unfused_arena_bytes": int(generated.plan.unfused_arena_bytes)}
    seeded = outcome.outputs is None
    if expected is None:
        bit_exact = False
    else:
        expected = np.asarray(expected, np.int8).reshape(len(expected), -1)
        if seeded:
            bit_exact = outcome.output_crcs == [zlib.crc32(row.tobytes()) for row in expected]
        else:
            bit_exact = np.array_equal(outcome.outputs.reshape(len(expected), -1), expected)
    cpu_hz = outcome.hello.cpu_hz if outcome.hello is not None else 0
    return Measurement(
        latency_median=int(statistics.median_low(outcome.latencies)), latency_unit=outcome.latency_unit,
        latency_runs=outcome.latencies, static_ram_bytes=image.static_ram_bytes,
        stack_high_water_bytes=outcome.stack_high_water_bytes,
        peak_sram_bytes=image.static_ram_bytes + outcome.stack_high_water_bytes, arena_bytes=outcome.arena_bytes,
        flash_bytes=image.flash_bytes, bit_exact=bool(bit_exact),
        outputs=np.zeros((0,), np.int8) if seeded else outcome.outputs,
        provenance={"board": profile.name, "kind": profile.kind, "latency_meaning": profile.latency_meaning,
                    "firmware_sha256": image.sha256, "toolchain": image.toolchain, "runtime": runtime,
                    "model_hash": outcome.model_hash, "compared_with": "tflite-micro host interpreter (tinyhil.codegen.reference)"
                    if expected is not None else "nothing",
                    "input_mode": "seeded" if seeded else "stream",
                    "compared": "output CRC-32s" if seeded else "output tensors",
                    "cpu_hz": cpu_hz, "cpu_hz_source": "the firmware's hello (the clock its BSP set)",
                    **({"device_resets": outcome.device_resets} if outcome.device_resets else {}),
                    **({"layer_latency_source": TFLM_LAYER_LATENCY_SOURCE if runtime == "tflm" else
                        LAYER_LATENCY_SOURCE} if layer_latency else {})},
        layer_latency=layer_latency, cpu_hz=cpu_hz, output_crcs=list(outcome.output_crcs), **memory)


def _generate(model_bytes: bytes, runtime: str, out_dir: Path, fusion: str = "auto",
              arena_limit_bytes: int | None = None) -> Any:
    """The model's C directory: generated kernels calls ("native") or the TFLM interpreter glue ("tflm",
    whose build needs TFLM's sources: firmware/tflm/CMakeLists.txt says where they come from)."""
    if runtime not in RUNTIMES:
        raise BuildError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    try:
        from ..codegen import generate
    except ImportError as exc:
        raise BuildError(f"the code generator (tinyhil.codegen.generate) is not available: {exc}") from exc
    return generate(model_bytes, out_dir, runtime=runtime, fusion=fusion, arena_limit_bytes=arena_limit_bytes)


def _reference_outputs(model_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    from ..codegen.reference import ReferenceInterpreter

    reference = ReferenceInterpreter(model_bytes)
    return np.stack([np.asarray(reference.invoke(x), np.int8) for x in inputs])


def measure(model: Path | bytes, profile: BoardProfile, inputs: np.ndarray | SeededInputs, *, runtime: str = "native",
            workdir: Path, warmup: int = 1, on_stage: Callable[[str, float], None] | None = None,
            fusion: str = "auto") -> Measurement:
    """Contract B: generate C for the model, build firmware for the profile, run `inputs` through it and compare
    every output with the tflite-micro reference. `inputs` is an int8 array (N, *input_shape) streamed over
    serial, or SeededInputs the firmware generates itself (only CRC-32s of the outputs come back).
    `on_stage(name, seconds)` hears how long generate / build / run / reference took. fusion: the planner's
    mode (tinyhil.codegen.planner.FUSION_MODES; native runtime only); "fit" plans within the profile's SRAM budget
    less the firmware's other RAM, and builds again with a lower limit when the run measured more than the budget."""
    model_bytes = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    if isinstance(inputs, SeededInputs):
        if inputs.count < 1:
            raise ModelError(f"seeded inputs need a count >= 1, got {inputs.count}")
    else:
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
    headroom = FIT_FIRST_HEADROOM_BYTES
    for _ in range(FIT_ATTEMPTS if fusion == "fit" else 1):
        limit = fit_arena_limit(profile, headroom) if fusion == "fit" else None
        generated = stage("generate", lambda: _generate(model_bytes, runtime, model_out, fusion, limit))
        image = stage("build", lambda: build_firmware(Path(generated.out_dir), profile, workdir / "build"))
        outcome = stage("run", lambda: run_image(image, profile, inputs, workdir, warmup, model_hash=model_hash,
                                                 runtime=runtime))
        if fusion != "fit":
            break
        other_ram = image.static_ram_bytes + outcome.stack_high_water_bytes - generated.plan.arena_bytes
        fits = generated.plan.arena_bytes + other_ram <= profile.sram_budget_bytes
        if fits or generated.plan.arena_bytes > limit or other_ram <= headroom:
            break  # it fits, or no plan fits (the lowest arena was planned), or a lower limit would plan the same
        log.info("fusion fit: the firmware needs %d B beside the arena, not %d: planning again", other_ram, headroom)
        headroom = other_ram
    arrays = inputs.arrays(_input_shape(model_bytes)) if isinstance(inputs, SeededInputs) else inputs
    expected = stage("reference", lambda: _reference_outputs(model_bytes, arrays))
    log.info("timings (s): %s", {k: round(v, 2) for k, v in timings.items()})
    layers = generated.layers or (_operator_layers(model_bytes) if runtime == "tflm" else None)
    measurement = summarise(image, profile, outcome, expected, runtime, layers, generated)
    if runtime == "native":  # which plan the firmware ran: fit's limit is what its last build planned within
        measurement.provenance.update(fusion=fusion, **({"arena_limit_bytes": limit} if fusion == "fit" else {}))
    return measurement


@dataclass(frozen=True)
class _OperatorSummary:
    opcode: str
    macs: int


def _operator_layers(model_bytes: bytes) -> list[Any]:
    """The TFLM runtime stamps each .tflite operator: their op names and MACs (of the layer tinyhil lowers each to,
    before the planner's rewrites; an op only the rewrites take, a SPLIT or a float island's DEQUANTIZE / NEG /
    QUANTIZE, has no MACs)."""
    from ..codegen.ir import Graph
    from ..codegen.lower import lower
    from ..codegen.reader import read_tflite
    from ..codegen.rewrites import REWRITTEN_OPS

    graph = read_tflite(model_bytes)
    summaries: list[Any] = []
    for op in graph.operators:
        if op.opcode in REWRITTEN_OPS:
            summaries.append(_OperatorSummary(op.opcode, 0))
        elif "source_ops" in op.options:  # a float island (rewrites.float_islands): TFLM runs each of its ops
            summaries.extend(_OperatorSummary(opcode, 0) for opcode in op.options["source_ops"])
        else:
            summaries.extend(lower(Graph(graph.tensors, [op], graph.inputs, graph.outputs)))
    return summaries


def _input_shape(model_bytes: bytes) -> tuple[int, ...]:
    from ..codegen.reference import ReferenceInterpreter

    return tuple(int(d) for d in ReferenceInterpreter(model_bytes).input_shape)
