"""What one measurement of one model on one board/emulator is: numbers with units and provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Measurement:
    latency_median: int  # in latency_unit, median of the runs after a warm-up
    latency_unit: str  # "cycles" (silicon, DWT->CYCCNT) | "instructions" (QEMU -icount / Renode)
    latency_runs: list[int]
    static_ram_bytes: int  # .data + .bss of the ELF (the arena included)
    stack_high_water_bytes: int  # deepest stack use seen over all runs (painted stack)
    peak_sram_bytes: int  # static_ram_bytes + stack_high_water_bytes
    arena_bytes: int
    flash_bytes: int  # .isr_vector + .text + .ARM.exidx + .init_array + .rodata + .data of the ELF
    bit_exact: bool  # every output (seeded inputs: every output's CRC-32) equal to the host reference's
    outputs: np.ndarray = field(repr=False)  # (N, output_bytes); empty for seeded inputs (CRCs only)
    provenance: dict[str, Any] = field(default_factory=dict)  # board, kind, firmware_sha256, toolchain, runtime
    # Per layer of the generated model, measured on the device by its per-layer hook:
    # {"index", "op", "macs", "latency"} with latency in latency_unit, the median over the runs of the
    # ticks between the end of the previous layer (or the start of the inference) and the end of this one,
    # converted from ticks exactly as the total is (platform_elapsed()). The harness receives the input into
    # the arena and sends the output from it, so no copy is timed. Empty when the firmware reports no layers.
    layer_latency: list[dict[str, Any]] = field(default_factory=list)
    # The memory plan the firmware was built from (analytic, tinyhil.codegen.plan_report): per planned
    # operator {"index", "op", "mode", "live_bytes", "peak"}; a fused block is one operator. Empty for TFLM.
    memory_plan: list[dict[str, Any]] = field(default_factory=list)
    planned_arena_bytes: int | None = None  # the plan's arena (analytic); arena_bytes is the firmware's measurement
    unfused_arena_bytes: int | None = None  # the plan's arena with every block plain (analytic)
    cpu_hz: int = 0  # the core clock the firmware reported in its hello (0: not reported)
    output_crcs: list[int] = field(default_factory=list)  # zlib.crc32 of each output (all seeded inputs return)

    @property
    def latency_ms(self) -> float | None:
        """The median latency in milliseconds at the clock the firmware reported; None unless the latency
        is in cycles (an instruction count from an emulator is not a time) and the clock is known."""
        if self.latency_unit != "cycles" or self.cpu_hz <= 0:
            return None
        return 1e3 * self.latency_median / self.cpu_hz

    @property
    def layer_latency_sum(self) -> int:
        return sum(int(layer["latency"]) for layer in self.layer_latency)

    def to_dict(self, with_outputs: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["latency_runs"] = [int(v) for v in self.latency_runs]
        data["output_crcs"] = [int(v) for v in self.output_crcs]
        data["layer_latency"] = [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in layer.items()}
                                 for layer in self.layer_latency]
        data.pop("outputs")
        if with_outputs:
            data["outputs"] = np.asarray(self.outputs).tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        values = dict(data)
        values["outputs"] = np.asarray(values.get("outputs", []), dtype=np.int8)
        return cls(**values)
