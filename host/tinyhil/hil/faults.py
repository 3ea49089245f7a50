"""CPU faults the firmware reports (firmware/harness/startup_cortexm.c): the ERROR frame's detail decoded
into which fault, where (stacked PC, LR) and why (CFSR / HFSR bits, ARMv7-M ARM B3.2.15-16), so a crash
on the board reads as "UsageFault at PC 0x... (UNDEFINSTR)" instead of a timeout."""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProtocolError

FAULT_DETAIL = struct.Struct("<7I")  # exception number, PC, LR, CFSR, HFSR, MMFAR, BFAR
EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
              12: "DebugMonitor", 14: "PendSV", 15: "SysTick"}
CFSR_BITS = {0: "IACCVIOL", 1: "DACCVIOL", 3: "MUNSTKERR", 4: "MSTKERR", 5: "MLSPERR", 7: "MMARVALID",
             8: "IBUSERR", 9: "PRECISERR", 10: "IMPRECISERR", 11: "UNSTKERR", 12: "STKERR", 13: "LSPERR",
             15: "BFARVALID", 16: "UNDEFINSTR", 17: "INVSTATE", 18: "INVPC", 19: "NOCP", 24: "UNALIGNED",
             25: "DIVBYZERO"}
HFSR_BITS = {1: "VECTTBL", 30: "FORCED", 31: "DEBUGEVT"}
MMARVALID, BFARVALID = 1 << 7, 1 << 15


def _flags(value: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in names.items() if value >> bit & 1]


@dataclass(frozen=True)
class Fault:
    exception: int
    pc: int
    lr: int
    cfsr: int
    hfsr: int
    mmfar: int
    bfar: int

    @classmethod
    def parse(cls, detail: bytes) -> "Fault":
        if len(detail) < FAULT_DETAIL.size:
            raise ProtocolError(f"fault report of {len(detail)} bytes, the protocol's is {FAULT_DETAIL.size}: "
                                "rebuild the firmware with this tinyhil")
        return cls(*FAULT_DETAIL.unpack_from(detail))

    @property
    def name(self) -> str:
        return EXCEPTIONS.get(self.exception, f"exception {self.exception}")

    @property
    def causes(self) -> list[str]:
        return _flags(self.cfsr, CFSR_BITS) + _flags(self.hfsr, HFSR_BITS)

    def describe(self) -> str:
        where = (f"at PC {self.pc:#010x} (LR {self.lr:#010x})" if self.pc else
                 "at an unknown PC (no exception frame on the stack: a stack overflow?)")
        parts = [f"{self.name} {where}; CFSR {self.cfsr:#010x} HFSR {self.hfsr:#010x}"]
        if self.causes:
            parts.append(" ".join(self.causes))
        if self.cfsr & MMARVALID:
            parts.append(f"MMFAR {self.mmfar:#010x}")
        if self.cfsr & BFARVALID:
            parts.append(f"BFAR {self.bfar:#010x}")
        return ", ".join(parts)


def function_at(elf: Path, address: int) -> str | None:
    """'function at file:line' for an address in the ELF (arm-none-eabi-addr2line), or None when unknown."""
    if shutil.which("arm-none-eabi-addr2line") is None or not Path(elf).exists():
        return None
    result = subprocess.run(["arm-none-eabi-addr2line", "-f", "-e", str(elf), f"{address:#x}"],
                            capture_output=True, text=True)
    lines = result.stdout.split()
    if result.returncode != 0 or not lines or lines[0] == "??":
        return None
    return f"{lines[0]} at {lines[1]}" if len(lines) > 1 and not lines[1].startswith("??") else lines[0]


class DeviceFaultError(ProtocolError):
    """The firmware took a CPU fault, reported it and reset itself."""

    def __init__(self, fault: Fault, where: str | None = None):
        self.fault = fault
        self.where = where
        located = f" in {where}" if where else ""
        super().__init__(f"the firmware crashed: {fault.describe()}{located}; the board reset itself. Look up the "
                         "PC with arm-none-eabi-addr2line -f -e firmware.elf (a model bigger than its arena, a stack "
                         "overflow or a kernel bug)")

    def located(self, elf: Path) -> "DeviceFaultError":
        """The same error, naming the function the PC is in."""
        return DeviceFaultError(self.fault, function_at(elf, self.fault.pc) if self.fault.pc else None)
