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
    bit_exact: bool  # every output equal to the host reference's
    outputs: np.ndarray = field(repr=False)
    provenance: dict[str, Any] = field(default_factory=dict)  # board, kind, firmware_sha256, toolchain, runtime

    def to_dict(self, with_outputs: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["latency_runs"] = [int(v) for v in self.latency_runs]
        data.pop("outputs")
        if with_outputs:
            data["outputs"] = np.asarray(self.outputs).tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        values = dict(data)
        values["outputs"] = np.asarray(values.get("outputs", []), dtype=np.int8)
        return cls(**values)
