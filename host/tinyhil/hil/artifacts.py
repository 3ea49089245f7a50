"""Firmware files for a board without a probe attached (`tinyhil build`): the ELF, a raw .bin and an Intel
.hex for STM32CubeProgrammer or the ST-LINK's drag-and-drop drive, the linker map, and how much of each of
the profile's memory regions the image uses, read from the ELF's section headers."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BuildError
from ..units import format_bytes
from .boards import BoardProfile, MemoryRegion
from .firmware import FirmwareImage


@dataclass(frozen=True)
class Section:
    name: str
    size: int  # bytes
    vma: int  # where it lives when the firmware runs
    lma: int  # where it is stored in the image (differs for .data: flash copy, copied to RAM at boot)
    loaded: bool  # has contents in the image (LOAD), not just reserved space (.bss, .stack)


@dataclass(frozen=True)
class RegionUse:
    name: str
    origin: int
    length: int  # bytes
    used: int  # bytes
    sections: tuple[str, ...]  # what fills it; ".data (load)" is the initial values stored in flash

    @property
    def free(self) -> int:
        return self.length - self.used


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"{name} not on PATH; scripts/install.sh installs the arm-none-eabi toolchain")
    return path


def elf_sections(elf: Path) -> list[Section]:
    """ALLOC sections from `arm-none-eabi-objdump -h` (name, size, VMA, LMA, flags)."""
    out = subprocess.run([_tool("arm-none-eabi-objdump"), "-h", str(elf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    sections = []
    for line, flags in zip(out, out[1:]):
        parts = line.split()
        if len(parts) >= 6 and parts[0].isdigit() and "ALLOC" in flags:
            sections.append(Section(parts[1], int(parts[2], 16), int(parts[3], 16), int(parts[4], 16), "LOAD" in flags))
    return sections


def _holds(region: MemoryRegion, address: int) -> bool:
    return region.origin <= address < region.origin + region.length


def region_usage(sections: list[Section], profile: BoardProfile) -> list[RegionUse]:
    """Bytes of each profile region the image takes: sections by run address, plus the stored copy of
    initialised data at its load address."""
    uses = []
    for region in profile.memory:
        used, names = 0, []
        for section in sections:
            if section.size and _holds(region, section.vma):
                used += section.size
                names.append(section.name)
            if section.size and section.loaded and section.lma != section.vma and _holds(region, section.lma):
                used += section.size
                names.append(f"{section.name} (load)")
        uses.append(RegionUse(region.name, region.origin, region.length, used, tuple(names)))
    return uses


def memory_report(uses: list[RegionUse], profile: BoardProfile, elf: Path) -> str:
    lines = [f"memory use of {elf.name} on {profile.name} (from the ELF's section headers, "
             f"arm-none-eabi-objdump -h; regions from {profile.source.name})",
             f"{'region':<10} {'origin':>10} {'size':>10} {'used':>10} {'free':>10} {'used %':>7}  sections"]
    for use in uses:
        share = 100.0 * use.used / use.length if use.length else 0.0
        lines.append(f"{use.name:<10} {use.origin:#010x} {format_bytes(use.length):>10} {format_bytes(use.used):>10} "
                     f"{format_bytes(use.free):>10} {share:>6.1f}%  {', '.join(use.sections) or '-'}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Artifacts:
    elf: Path
    bin: Path
    hex: Path
    map: Path
    memory_report: Path
    memory_json: Path
    regions: tuple[RegionUse, ...]


def write_artifacts(image: FirmwareImage, profile: BoardProfile, out_dir: Path) -> Artifacts:
    """Copy the ELF and its map into out_dir, write firmware.bin / firmware.hex (objcopy) and the memory report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / "firmware.elf"
    shutil.copyfile(image.elf, elf)
    map_file = out_dir / "firmware.map"
    shutil.copyfile(image.elf.parent / "firmware.map", map_file)
    objcopy = _tool("arm-none-eabi-objcopy")
    binary, intel_hex = out_dir / "firmware.bin", out_dir / "firmware.hex"
    for form, target in (("binary", binary), ("ihex", intel_hex)):
        result = subprocess.run([objcopy, "-O", form, str(elf), str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"arm-none-eabi-objcopy -O {form} failed: {result.stderr.strip()}")
    uses = region_usage(elf_sections(elf), profile)
    report = out_dir / "memory.txt"
    report.write_text(memory_report(uses, profile, elf))
    memory_json = out_dir / "memory.json"
    memory_json.write_text(json.dumps({"board": profile.name, "source": "ELF section headers (arm-none-eabi-objdump -h)",
                                       "unit": "bytes", "regions": [asdict(use) for use in uses]}, indent=2))
    return Artifacts(elf, binary, intel_hex, map_file, report, memory_json, tuple(uses))
