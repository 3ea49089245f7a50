"""What the emulator runners (QEMU, Renode) share: an emulator process started for the ELF, its UART served on
a loopback TCP socket on a free port, reset by restarting it, stop by terminating it (then killing it)."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import serial

from ..errors import RunnerError
from ..protocol import ByteStream
from .base import Runner

log = logging.getLogger(__name__)


class EmulatorRunner(Runner):
    """Subclasses set the class fields and implement start() with spawn() + connect()."""

    emulator_name = "emulator"  # in messages
    install_hint = ""  # what to do when the binary cannot be started
    connect_timeout_s = 10.0  # seconds from spawn until the UART socket must accept
    connect_poll_s = 0.02  # seconds between connection attempts
    stop_timeout_s = 5.0  # seconds to wait after SIGTERM before SIGKILL

    def __init__(self, profile, workdir):  # type: ignore[no-untyped-def]
        super().__init__(profile, workdir)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.stream: serial.SerialBase | None = None
        self.elf: Path | None = None

    def spawn(self, command: list[str], stdin: int = subprocess.DEVNULL) -> None:
        log.info("starting %s", " ".join(command))
        with open(self.log_path, "ab") as log_file:
            try:
                self.process = subprocess.Popen(command, stdin=stdin, stdout=log_file, stderr=log_file)
            except OSError as exc:
                raise RunnerError(f"cannot start {command[0]}: {exc}; {self.install_hint}") from exc

    def connect(self) -> ByteStream:
        """Open the UART socket once the emulator listens on self.port; a clear error if it exits or never does."""
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RunnerError(f"{self.emulator_name} exited with status {self.process.returncode} before its "
                                  f"serial port opened; see {self.log_path}")
            try:
                self.stream = serial.serial_for_url(f"socket://127.0.0.1:{self.port}", timeout=0.05)
                return self.stream
            except serial.SerialException:
                if time.monotonic() > deadline:
                    raise RunnerError(f"{self.emulator_name}'s serial port 127.0.0.1:{self.port} did not open within "
                                      f"{self.connect_timeout_s:.0f} s; see {self.log_path}") from None
                time.sleep(self.connect_poll_s)

    def reset(self) -> ByteStream:
        if self.elf is None:
            raise RunnerError("reset() called before start(): start the ELF first")
        self.stop()
        return self.start(self.elf)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()
