"""pyOCD runner for real boards: flash the ELF through the debug probe, reset, and open the probe's
virtual COM port, found by the probe's USB serial number. Every pyOCD call is bounded (--no-wait +
a subprocess timeout): `pyocd load` without a probe otherwise waits forever."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import serial
import serial.tools.list_ports

from ..errors import RunnerError
from ..protocol import ByteStream
from .base import Runner, register

log = logging.getLogger(__name__)
PYOCD_TIMEOUT_S = 120.0


def connected_probe_ids() -> list[str]:
    """Unique IDs of the attached debug probes (pyOCD's API, non-blocking)."""
    from pyocd.core.helpers import ConnectHelper

    return [probe.unique_id for probe in ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)]


def find_serial_port(probe_uid: str, comports: Callable[[], list[Any]] = serial.tools.list_ports.comports) -> str:
    """The tty of the probe's virtual COM port: the USB device whose serial number is the probe's UID."""
    ports = list(comports())
    for port in ports:
        if port.serial_number and port.serial_number.lower() == probe_uid.lower():
            return str(port.device)
    seen = ", ".join(f"{p.device} (serial {p.serial_number})" for p in ports) or "none"
    raise RunnerError(f"no serial port belongs to probe {probe_uid}; ports seen: {seen}. "
                      "Is the ST-LINK's virtual COM port enabled (ST-LINK firmware upgrade tool)?")


@register("pyocd")
class PyocdRunner(Runner):
    def __init__(self, profile, workdir):  # type: ignore[no-untyped-def]
        super().__init__(profile, workdir)
        self.stream: serial.Serial | None = None
        self.probe_uid = str(self.settings.get("probe_uid") or "")

    def _base(self, action: str) -> list[str]:
        command = ["pyocd", action, "--no-wait", "-t", self.settings["target"]]
        if self.probe_uid:
            command += ["-u", self.probe_uid]
        return command

    def command_line(self, elf: Path) -> list[str]:
        return [*self._base("load"), "--format", "elf", str(elf)]

    def reset_command_line(self) -> list[str]:
        return self._base("reset")

    def _pyocd(self, command: list[str]) -> None:
        log.info("running %s", " ".join(command))
        # pyOCD lives in the venv, which need not be on PATH: fall back to the one beside this Python
        executable = shutil.which(command[0]) or str(Path(sys.executable).parent / command[0])
        try:
            result = subprocess.run([executable, *command[1:]], capture_output=True, text=True,
                                    timeout=PYOCD_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise RunnerError(f"{' '.join(command)} did not finish in {PYOCD_TIMEOUT_S:.0f} s") from exc
        except OSError as exc:
            raise RunnerError(f"cannot run pyocd ({exc}); install it into the venv (pip install pyocd)") from exc
        with open(self.log_path, "a") as log_file:
            log_file.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RunnerError(f"{' '.join(command)} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}; "
                              "is the board attached and powered?")

    def _open_serial(self) -> ByteStream:
        if not self.probe_uid:
            probes = connected_probe_ids()
            if len(probes) != 1:
                raise RunnerError(f"{len(probes)} debug probes attached ({probes}); set [runner] probe_uid in "
                                  f"{self.profile.source} to pick one")
            self.probe_uid = probes[0]
        port = self.profile.serial.get("port") or find_serial_port(self.probe_uid)
        self.stream = serial.Serial(port, baudrate=int(self.profile.serial.get("baudrate", 115200)), timeout=0.05)
        return self.stream

    def start(self, elf: Path) -> ByteStream:
        self._pyocd(self.command_line(elf))
        return self._open_serial()

    def reset(self) -> ByteStream:
        self._pyocd(self.reset_command_line())
        if self.stream is None:
            return self._open_serial()
        self.stream.reset_input_buffer()
        return self.stream

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    @classmethod
    def availability(cls, profile) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
        try:
            probes = connected_probe_ids()
        except Exception as exc:  # pyOCD's USB backends raise assorted errors without libusb
            return False, f"pyOCD cannot list probes: {exc}"
        wanted = profile.runner.get("probe_uid")
        if not probes:
            return False, "no debug probe attached (pyOCD sees none)"
        if wanted and wanted not in probes:
            return False, f"probe {wanted} not attached; attached: {', '.join(probes)}"
        return True, f"probe {wanted or probes[0]} attached, target {profile.runner['target']}"
