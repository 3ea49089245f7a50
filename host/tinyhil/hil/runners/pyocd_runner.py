"""pyOCD runner for real boards: flash the ELF through the debug probe and talk over the probe's virtual
COM port, found by the probe's USB serial number.

Every pyOCD call is a bounded subprocess (--no-wait + a timeout): `pyocd load` without a probe otherwise
waits forever, and with several probes and no `-u` it prompts on a stdin nobody sees. So start() resolves
exactly one probe first (`pyocd json --probes`, matched the way pyOCD matches `-u`: a case-insensitive
substring of the unique ID) and every command names it with `-u`.

The serial port is opened and flushed *before* `pyocd load` / `pyocd reset`, never after: the firmware's
boot hello is sent within milliseconds of the reset, and a flush after it would throw the hello away.

pyOCD's default resume_on_disconnect stays on: on disconnect it writes DEMCR = 0, which stops DWT->CYCCNT,
so the firmware re-enables the counter before every measurement. Turning the option off
(`-O resume_on_disconnect=false`) would instead leave halting debug (DHCSR.C_DEBUGEN) on in a core nobody
debugs, where a breakpoint instruction halts it rather than faulting.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TYPE_CHECKING

import serial
import serial.tools.list_ports

from ...errors import RunnerError
from ..checks import Check
from ..protocol import ByteStream
from .base import Runner, register

if TYPE_CHECKING:
    from ..boards import BoardProfile

log = logging.getLogger(__name__)
PYOCD_TIMEOUT_S = 120.0  # seconds for one load / reset (a 2 MiB flash erase + program fits)
PYOCD_LIST_TIMEOUT_S = 30.0  # seconds for `pyocd json --probes` (USB enumeration only)
DBGMCU_IDC = 0x5C001000  # RM0433 62.5.8: DEV_ID in bits 11:0, REV_ID in bits 31:16
H743_DEV_ID = 0x450
REVISIONS = {0x1001: "Z", 0x1003: "Y", 0x2001: "X", 0x2003: "V"}  # RM0433 / ES0392
ATTACH_ONLY = ["-M", "attach"]  # read registers without halting or resetting the core


@dataclass(frozen=True)
class Probe:
    uid: str
    description: str  # vendor and product, or the board pyOCD recognised


def pyocd_executable() -> str:
    """pyOCD lives in the venv, which need not be on PATH: PATH first (tests put a fake there), then beside Python."""
    return shutil.which("pyocd") or str(Path(sys.executable).parent / "pyocd")


def _run_pyocd(arguments: list[str], timeout_s: float, log_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [pyocd_executable(), *arguments]
    log.info("running pyocd %s", " ".join(arguments))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise RunnerError(f"pyocd {' '.join(arguments)} did not finish in {timeout_s:.0f} s; unplug and replug the "
                          "probe's USB cable, then retry") from exc
    except OSError as exc:
        raise RunnerError(f"cannot run pyocd ({exc}); install it into the venv (pip install 'pyocd>=0.43')") from exc
    if log_path is not None:
        with open(log_path, "a") as log_file:
            log_file.write(f"$ pyocd {' '.join(arguments)}\n{result.stdout}{result.stderr}")
    return result


def attached_probes() -> list[Probe]:
    """The debug probes pyOCD sees now (`pyocd json --probes`, which never waits for one)."""
    result = _run_pyocd(["json", "--probes"], PYOCD_LIST_TIMEOUT_S)
    try:
        listing = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise RunnerError(f"`pyocd json --probes` printed no JSON (exit {result.returncode}): "
                          f"{(result.stdout + result.stderr).strip()[-300:]}") from exc
    if listing.get("status", 0) != 0:
        raise RunnerError(f"pyOCD cannot list probes: {listing.get('error', 'unknown error')}; on Linux, install the "
                          "ST-LINK udev rules (pyocd's udev/ folder) and replug the board")
    return [Probe(str(board["unique_id"]), str(board.get("info") or board.get("product_name") or ""))
            for board in listing.get("boards", [])]


def connected_probe_ids() -> list[str]:
    return [probe.uid for probe in attached_probes()]


def resolve_probe_uid(wanted: str, attached: list[str], source: object = "the board profile") -> str:
    """Exactly one attached probe's full UID. `wanted` may be part of a UID: pyOCD's `-u` matches a
    case-insensitive substring (pyocd/probe/aggregator.py), so a match here is the probe pyOCD would pick."""
    if not attached:
        raise RunnerError("no debug probe attached (pyOCD sees none): plug the Nucleo's ST-LINK USB port (CN1, on "
                          "the ST-LINK end, opposite the Ethernet jack) into this computer; `tinyhil doctor --board "
                          "stm32h7` checks the bench")
    if not wanted:
        if len(attached) == 1:
            return attached[0]
        raise RunnerError(f"{len(attached)} debug probes attached ({', '.join(attached)}); set [runner] probe_uid "
                          f"in {source} to the one to use (any unique part of its UID)")
    matches = [uid for uid in attached if wanted.lower() in uid.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunnerError(f"probe {wanted} is not attached; attached: {', '.join(attached)}. Fix [runner] probe_uid "
                          f"in {source}")
    raise RunnerError(f"probe_uid {wanted!r} matches {len(matches)} probes ({', '.join(matches)}); give more of the "
                      f"UID in [runner] probe_uid in {source}")


def find_serial_port(probe_uid: str, comports: Callable[[], list[Any]] = serial.tools.list_ports.comports) -> str:
    """The tty of the probe's virtual COM port: the USB device whose serial number is the probe's UID."""
    ports = list(comports())
    for port in ports:
        if port.serial_number and port.serial_number.lower() == probe_uid.lower():
            return str(port.device)
    seen = ", ".join(f"{p.device} (serial {p.serial_number})" for p in ports) or "none"
    raise RunnerError(f"no serial port belongs to probe {probe_uid}; ports seen: {seen}. "
                      "Is the ST-LINK's virtual COM port enabled (ST-LINK firmware upgrade tool)?")


def silicon_revision(idc: int) -> str:
    """'Y', 'V', ... from DBGMCU_IDC's REV_ID; an unknown code as hex."""
    rev_id = idc >> 16
    return REVISIONS.get(rev_id, f"unknown REV_ID {rev_id:#06x}")


_HEX_WORD = re.compile(r"^\s*([0-9a-fA-F]{8}):\s+([0-9a-fA-F]{8})\b", re.MULTILINE)
_FIRMWARE = re.compile(r"firmware version:?\s*(\S+)", re.IGNORECASE)


def parse_read32(output: str, address: int) -> int:
    """The word `pyocd cmd -c "read32 ADDR"` printed (pyOCD's hex dump: 'aaaaaaaa:  vvvvvvvv  |....|')."""
    for match in _HEX_WORD.finditer(output):
        if int(match.group(1), 16) == address:
            return int(match.group(2), 16)
    raise RunnerError(f"pyocd printed no word for address {address:#010x}: {output.strip()[-300:]}")


def parse_probe_firmware(output: str) -> str:
    match = _FIRMWARE.search(output)
    return match.group(1) if match else "not reported"


@register("pyocd")
class PyocdRunner(Runner):
    def __init__(self, profile: BoardProfile, workdir: Path) -> None:
        super().__init__(profile, workdir)
        self.stream: serial.Serial | None = None
        self.probe_uid = str(self.settings.get("probe_uid") or "")  # the profile's, until resolved to a full UID
        self.resolved = False

    def resolve_probe(self) -> str:
        """Pin self.probe_uid to exactly one attached probe's full UID (idempotent)."""
        if not self.resolved:
            self.probe_uid = resolve_probe_uid(self.probe_uid, connected_probe_ids(), self.profile.source)
            self.resolved = True
        return self.probe_uid

    def _base(self, action: str) -> list[str]:
        return ["pyocd", action, "--no-wait", "-t", self.settings["target"], "-u", self.probe_uid]

    def command_line(self, elf: Path) -> list[str]:
        return [*self._base("load"), "--format", "elf", str(elf)]

    def reset_command_line(self) -> list[str]:
        return self._base("reset")

    def read_word_command_line(self, address: int) -> list[str]:
        # debug logging of the ST-LINK driver prints the probe firmware version on connect
        return [*self._base("cmd"), *ATTACH_ONLY, "-L", "pyocd.probe.stlink.stlink=debug", "-c", f"read32 {address:#010x}"]

    def _pyocd(self, command: list[str]) -> str:
        result = _run_pyocd(command[1:], PYOCD_TIMEOUT_S, self.log_path)
        if result.returncode != 0:
            raise RunnerError(f"{' '.join(command)} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}; "
                              "is the board attached and powered? (`tinyhil doctor --board stm32h7`)")
        return result.stdout + result.stderr

    def read_target_id(self) -> tuple[int, str]:
        """(DBGMCU_IDC, probe firmware version) read over SWD without halting the core."""
        self.resolve_probe()
        output = self._pyocd(self.read_word_command_line(DBGMCU_IDC))
        return parse_read32(output, DBGMCU_IDC), parse_probe_firmware(output)

    def preflight(self) -> list[Check]:
        """The probe (UID, firmware) and the target read over SWD (DBGMCU_IDC: part and silicon revision)."""
        try:
            probes = {probe.uid: probe for probe in attached_probes()}
            uid = resolve_probe_uid(self.probe_uid, list(probes), self.profile.source)
        except RunnerError as exc:
            return [Check("probe", "FAIL", str(exc), "plug a USB cable into CN1 (the ST-LINK end, opposite the "
                          "Ethernet jack); on Linux install pyOCD's udev rules")]
        self.probe_uid, self.resolved = uid, True
        try:
            idc, firmware = self.read_target_id()
        except RunnerError as exc:
            return [Check("probe", "ok", f"{uid} ({probes[uid].description})"),
                    Check("target", "FAIL", f"no answer over SWD: {exc}",
                          "both CN4 jumpers ON (ST-LINK to the target's SWD); JP5 on U5V and the LD6 PWR LED lit; "
                          "a firmware that sleeps or reconfigures PA13/PA14 needs `pyocd erase --chip -M under-reset`")]
        checks = [Check("probe", "ok", f"{uid} ({probes[uid].description}), ST-LINK firmware {firmware}")]
        dev_id, revision = idc & 0xFFF, silicon_revision(idc)
        if dev_id != H743_DEV_ID:
            return checks + [Check("target", "FAIL", f"DBGMCU_IDC {idc:#010x}: DEV_ID {dev_id:#05x} is not an "
                                   f"STM32H742/743/750/753 (0x450)", f"this is not the board of profile "
                                   f"{self.profile.name}: pick the right --board or the right probe_uid")]
        note = ("revision Y: no VOS0, the firmware runs at 400 MHz (not the profile's 480); cycle counts are right, "
                "any time figure must use the clock the firmware reports") if revision == "Y" else ""
        checks.append(Check("target", "warn" if note else "ok",
                            f"STM32H743 (DEV_ID 0x450) revision {revision} (DBGMCU_IDC {idc:#010x})", note))
        return checks

    def _open_serial(self) -> ByteStream:
        if self.stream is None:
            port = self.profile.serial.get("port") or find_serial_port(self.probe_uid)
            try:
                self.stream = serial.Serial(port, baudrate=self.profile.baud_rate, timeout=0.05)
            except serial.SerialException as exc:
                raise RunnerError(f"cannot open {port}: {exc}; is another program (a serial terminal) holding it? On "
                                  "Linux your user needs the dialout group") from exc
        self.stream.reset_input_buffer()  # drop what the old firmware said; the new one's hello comes after this
        return self.stream

    def start(self, elf: Path) -> ByteStream:
        self.resolve_probe()
        stream = self._open_serial()
        self._pyocd(self.command_line(elf))  # programs, resets and runs: the hello is already on its way
        return stream

    def reset(self) -> ByteStream:
        self.resolve_probe()
        stream = self._open_serial()
        self._pyocd(self.reset_command_line())
        return stream

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    @classmethod
    def availability(cls, profile: BoardProfile) -> tuple[bool, str]:
        try:
            probes = connected_probe_ids()
            uid = resolve_probe_uid(str(profile.runner.get("probe_uid") or ""), probes, profile.source)
        except RunnerError as exc:
            return False, str(exc)
        return True, f"probe {uid} attached, target {profile.runner['target']}"
