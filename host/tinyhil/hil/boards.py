"""Board profiles: declarative TOML files in board_profiles/ loaded into frozen, validated dataclasses.

Nothing in tinyhil branches on a board's name: the BSP, linker regions, runner and latency unit all
come from the profile.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..options import positive_bytes
from ..paths import SOURCE_ROOT
from ..units import parse_bytes

PROFILE_DIR = SOURCE_ROOT / "board_profiles"
BSP_DIR = SOURCE_ROOT / "firmware" / "bsp"  # one folder per BSP a profile's bsp names
SECTIONS = ("text", "rodata", "data", "bss", "stack")
KINDS = ("board", "emulator")
LATENCY_UNITS = ("cycles", "instructions")
DEFAULT_BAUD_RATE = 115_200
BAUD_RATES = (1_200, 12_000_000)  # [serial] baudrate range (bit/s): what UARTs and USB-serial bridges run


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    origin: int
    length: int  # bytes
    holds: tuple[str, ...]  # which output sections the linker puts here


@dataclass(frozen=True)
class BoardProfile:
    name: str
    aliases: tuple[str, ...]
    kind: str  # "board" | "emulator"
    cpu: str
    fpu: str
    clock_hz: int
    latency_unit: str  # "cycles" | "instructions"
    latency_meaning: str
    bsp: str  # directory under firmware/bsp/
    memory: tuple[MemoryRegion, ...]
    sram_budget_bytes: int
    flash_budget_bytes: int
    stack_bytes: int
    runner: dict[str, Any] = field(hash=False)  # runner settings; "type" picks the runner class
    serial: dict[str, Any] = field(hash=False)
    source: Path = field(default=Path("."), compare=False)

    def region_for(self, section: str) -> MemoryRegion:
        for region in self.memory:
            if section in region.holds:
                return region
        raise ConfigError(f"{self.source}: no [[memory]] region holds section {section!r}; add it to one region's holds")

    @property
    def baud_rate(self) -> int:
        """[serial] baudrate in bit/s: the firmware's UART is built with it and the host opens the port with it."""
        return int(self.serial.get("baudrate", DEFAULT_BAUD_RATE))

    def with_budgets(self, sram_budget: str | int | None = None, flash_budget: str | int | None = None) -> "BoardProfile":
        """A copy with the search budgets overridden (e.g. from --sram-budget 256KiB)."""
        changes: dict[str, int] = {}
        if sram_budget is not None:
            changes["sram_budget_bytes"] = positive_bytes(sram_budget, "--sram-budget")
        if flash_budget is not None:
            changes["flash_budget_bytes"] = positive_bytes(flash_budget, "--flash-budget")
        return dataclasses.replace(self, **changes)


def _require(data: dict[str, Any], key: str, source: Path, where: str = "") -> Any:
    if key not in data:
        place = f" in [{where}]" if where else ""
        raise ConfigError(f"{source}: missing key {key!r}{place}; see board_profiles/qemu-m7.toml for a complete profile")
    return data[key]


def _one_of(value: Any, allowed: tuple[str, ...], key: str, source: Path) -> str:
    if value not in allowed:
        raise ConfigError(f"{source}: key {key!r} is {value!r}; it must be one of {', '.join(allowed)}")
    return str(value)


def _bad(source: Path, key: str, where: str, value: Any, must: str) -> ConfigError:
    place = f"[{where}] " if where else ""
    return ConfigError(f"{source}: {place}key {key!r} is {value!r}; it must be {must}")


def _text(value: Any, key: str, source: Path, where: str = "") -> str:
    if not isinstance(value, str):
        raise _bad(source, key, where, value, 'a string in quotes, e.g. "cortex-m7"')
    return value


def _whole(value: Any, key: str, unit: str, source: Path, where: str = "", example: str = "1") -> int:
    """A positive integer in `unit`; TOML floats, strings and booleans are errors, not silently truncated."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(source, key, where, value, f"a positive whole number of {unit}, e.g. {example}")
    return value


def _size(value: Any, key: str, source: Path, where: str = "") -> int:
    """Bytes: a whole number (65536) or a quantity with its unit ("320KiB"); 42.5 is an error, not 42 B."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 0):
        raise _bad(source, key, where, value, 'a whole number of bytes or a size with its unit, e.g. 327680 or "320KiB"')
    place = f"[{where}] " if where else ""
    return parse_bytes(value, f"{source}: {place}key {key!r}")


def _seconds(value: Any, key: str, source: Path, where: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _bad(source, key, where, value, "a positive number of seconds, e.g. 60.0")
    return float(value)


# [runner] and [serial] keys tinyhil reads, with their types (others pass through to the runner as written)
RUNNER_KEYS = {"type": _text, "binary": _text, "machine": _text, "target": _text, "probe_uid": _text,
               "platform": _text, "uart": _text, "timeout_s": _seconds}
SERIAL_KEYS = {"port": _text}


def _table(data: dict[str, Any], name: str, checks: dict[str, Any], source: Path) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: {name} is {table!r}; it must be a [{name}] table")
    for key, check in checks.items():
        if key in table:
            check(table[key], key, source, name)
    return dict(table)


ADDRESS_SPACE = 1 << 32  # a Cortex-M's 32-bit address space: every region lies inside it


def _region(raw: dict[str, Any], index: int, source: Path) -> MemoryRegion:
    where = f"memory #{index + 1}"
    holds = _require(raw, "holds", source, where)
    if not isinstance(holds, list) or not all(isinstance(s, str) for s in holds):
        raise _bad(source, "holds", where, holds, 'a list of section names, e.g. ["data", "bss", "stack"]')
    unknown = [s for s in holds if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"{source}: [{where}] holds unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    origin = _require(raw, "origin", source, where)
    if isinstance(origin, bool) or not isinstance(origin, int) or not 0 <= origin < ADDRESS_SPACE:
        raise ConfigError(f"{source}: [{where}] key 'origin' is {origin!r}; it must be an integer address in the "
                          "32-bit address space, such as 0x20000000")
    length = _size(_require(raw, "length", source, where), "length", source, where)
    if length == 0 or origin + length > ADDRESS_SPACE:
        raise ConfigError(f"{source}: [{where}] key 'length' is {length:,} bytes at 0x{origin:08x}; a region must "
                          "hold at least one byte and end inside the 32-bit address space (at or below 0x100000000)")
    return MemoryRegion(name=_text(_require(raw, "name", source, where), "name", source, where), origin=origin,
                        length=length, holds=tuple(holds))


def _check_regions(regions: tuple[MemoryRegion, ...], source: Path) -> None:
    """No two regions share a name or an address, and each section lives in one region: the linker script takes
    them as written, and overlapping regions link firmware that overwrites itself."""
    for k, a in enumerate(regions):
        for b in regions[k + 1:]:
            if a.name == b.name:
                raise ConfigError(f"{source}: two [[memory]] regions are named {a.name!r}; give each its own name")
            if a.origin < b.origin + b.length and b.origin < a.origin + a.length:
                raise ConfigError(f"{source}: [[memory]] regions {a.name} (0x{a.origin:08x}..0x{a.origin + a.length:08x})"
                                  f" and {b.name} (0x{b.origin:08x}..0x{b.origin + b.length:08x}) overlap; fix their "
                                  "origin or length")
            shared = [s for s in a.holds if s in b.holds]
            if shared:
                raise ConfigError(f"{source}: sections {shared} are held by both [[memory]] regions {a.name} and "
                                  f"{b.name}; list each section in one region's holds")


def parse_profile(data: dict[str, Any], source: Path) -> BoardProfile:
    """Validate one profile's TOML table; every problem names the key and the file."""
    memory = _require(data, "memory", source)
    if not isinstance(memory, list) or not all(isinstance(r, dict) for r in memory):
        raise ConfigError(f"{source}: memory must be [[memory]] tables (name, origin, length, holds); see "
                          "board_profiles/qemu-m7.toml")
    regions = tuple(_region(r, i, source) for i, r in enumerate(memory))
    _check_regions(regions, source)
    _require(data, "runner", source)
    runner = _table(data, "runner", RUNNER_KEYS, source)
    _require(runner, "type", source, "runner")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise _bad(source, "aliases", "", aliases, 'a list of strings, e.g. ["stm32h7"]')
    profile = BoardProfile(
        name=_text(_require(data, "name", source), "name", source),
        aliases=tuple(aliases),
        kind=_one_of(_require(data, "kind", source), KINDS, "kind", source),
        cpu=_text(_require(data, "cpu", source), "cpu", source),
        fpu=_text(data.get("fpu", "fpv5-d16"), "fpu", source),
        clock_hz=_whole(_require(data, "clock_hz", source), "clock_hz", "Hz", source, example="480_000_000"),
        latency_unit=_one_of(_require(data, "latency_unit", source), LATENCY_UNITS, "latency_unit", source),
        latency_meaning=_text(data.get("latency_meaning", ""), "latency_meaning", source),
        bsp=_text(_require(data, "bsp", source), "bsp", source),
        memory=regions,
        sram_budget_bytes=_size(data.get("sram_budget", "320KiB"), "sram_budget", source),
        flash_budget_bytes=_size(_require(data, "flash_budget", source), "flash_budget", source),
        stack_bytes=_size(data.get("stack_bytes", "16KiB"), "stack_bytes", source),
        runner=runner,
        serial=_table(data, "serial", SERIAL_KEYS, source),
        source=source,
    )
    for section in SECTIONS:
        profile.region_for(section)
    _check_baud_rate(profile.serial.get("baudrate", DEFAULT_BAUD_RATE), source)
    _check_runner_and_bsp(profile, source)
    stack_region = profile.region_for("stack")
    if profile.stack_bytes > stack_region.length:
        raise ConfigError(f"{source}: key 'stack_bytes' is {profile.stack_bytes:,} bytes, more than region "
                          f"{stack_region.name} that holds the stack ({stack_region.length:,} bytes); lower it")
    for key, value in (("sram_budget", profile.sram_budget_bytes), ("flash_budget", profile.flash_budget_bytes)):
        if value == 0:
            raise ConfigError(f"{source}: key {key!r} is 0, which no model fits; give the budget in bytes or with its "
                              'unit, e.g. "320KiB"')
    return profile


def _check_runner_and_bsp(profile: BoardProfile, source: Path) -> None:
    """The runner type names a registered runner and the bsp a folder of firmware/bsp/, so a typo fails at load
    rather than after a firmware build (an unknown runner) or inside CMake (an unknown BSP)."""
    from .runners.base import RUNNER_MODULES

    if profile.runner["type"] not in RUNNER_MODULES:
        raise ConfigError(f"{source}: [runner] key 'type' is {profile.runner['type']!r}; it must be one of "
                          f"{', '.join(RUNNER_MODULES)}")
    bsps = sorted(p.name for p in BSP_DIR.iterdir() if p.is_dir()) if BSP_DIR.is_dir() else []
    if bsps and profile.bsp not in bsps:
        raise ConfigError(f"{source}: key 'bsp' is {profile.bsp!r}, which is not a folder of {BSP_DIR}; known: "
                          f"{', '.join(bsps)}")


def _check_baud_rate(value: Any, source: Path) -> None:
    low, high = BAUD_RATES
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{source}: [serial] baudrate is {value!r}; it must be an integer number of bit/s "
                          f"from {low:,} to {high:,}, e.g. 115200 or 2000000")


def load_profile_file(path: Path) -> BoardProfile:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"board profile {path} does not exist; `tinyhil boards` lists the known ones") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"board profile {path} is a folder; give a .toml file in it, or a board name "
                          "(`tinyhil boards` lists them)") from exc
    except OSError as exc:
        raise ConfigError(f"board profile {path} cannot be read ({exc.strerror}); check its permissions") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a TOML text file (byte {exc.start} is not UTF-8); give a board profile "
                          "such as board_profiles/qemu-m7.toml") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from exc
    return parse_profile(data, Path(path))


def list_profiles(directory: Path = PROFILE_DIR) -> list[BoardProfile]:
    return [load_profile_file(p) for p in sorted(Path(directory).glob("*.toml"))]


def load_profile(name_alias_or_path: str, directory: Path = PROFILE_DIR) -> BoardProfile:
    """A profile by name ("qemu-m7"), alias ("stm32h7") or path to a .toml file."""
    candidate = Path(name_alias_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return load_profile_file(candidate)
    profiles = list_profiles(directory)
    for profile in profiles:
        if name_alias_or_path == profile.name or name_alias_or_path in profile.aliases:
            return profile
    known = ", ".join(f"{p.name} ({', '.join(p.aliases)})" for p in profiles)
    raise ConfigError(f"no board profile named {name_alias_or_path!r}; known: {known}")
