"""What the emulator runners (QEMU, Renode) share: an emulator process started for the ELF, its UART served on
a loopback TCP socket on a free port, reset by restarting it, stop by terminating it (then killing it).

The emulator never outlives tinyhil: on Linux it is started with PR_SET_PDEATHSIG, so the kernel kills it when
the process that started it dies, kill -9 included (tinyhil.children). Its
PID is also written to emulator.pid beside runner.log, and a runner starting in that folder first kills an
emulator a dead run left there (where the death signal is not available), so a resumed run never meets a
stale one.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import serial
from serial.urlhandler.protocol_socket import Serial as SocketSerial

from ...children import die_with_parent
from ...errors import RunnerError
from ..protocol import ByteStream
from .base import Runner

if TYPE_CHECKING:
    from ..boards import BoardProfile

log = logging.getLogger(__name__)

PID_FILE = "emulator.pid"


def _command_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


class LoopbackSerial(SocketSerial):
    """pyserial's socket:// port with Nagle's algorithm off and without the 0.3 s its close() sleeps "in case of
    quick reconnects": every emulator run serves its own fresh port and nothing reconnects to a closed one, and
    that sleep was a third of a small model's whole QEMU measurement. The emulator writes the UART's bytes to its
    socket one by one; with Nagle on at either end, a small segment waits for the other end's delayed ACK (40 ms
    on Linux), once per reply (QEMU's side: its `nodelay=on`, tinyhil.hil.runners.qemu)."""

    def open(self) -> None:
        super().open()
        if self._socket is not None:
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.is_open and self._socket:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the emulator already closed its end
            self._socket.close()
            self._socket = None
        self.is_open = False


class EmulatorRunner(Runner):
    """Subclasses set the class fields and implement start() with spawn() + connect()."""

    emulator_name = "emulator"  # in messages
    install_hint = ""  # what to do when the binary cannot be started
    connect_timeout_s = 10.0  # seconds from spawn until the UART socket must accept
    connect_poll_s = 0.02  # seconds between connection attempts
    stop_timeout_s = 5.0  # seconds to wait after SIGTERM before SIGKILL

    def __init__(self, profile: BoardProfile, workdir: Path) -> None:
        super().__init__(profile, workdir)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.stream: serial.SerialBase | None = None
        self.elf: Path | None = None

    @property
    def pid_path(self) -> Path:
        return self.workdir / PID_FILE

    def spawn(self, command: list[str], stdin: int = subprocess.DEVNULL) -> None:
        self.kill_stale()
        log.info("starting %s", " ".join(command))
        with open(self.log_path, "ab") as log_file:
            try:
                self.process = subprocess.Popen(command, stdin=stdin, stdout=log_file, stderr=log_file,
                                                preexec_fn=die_with_parent())
            except OSError as exc:
                raise RunnerError(f"cannot start {command[0]}: {exc}; {self.install_hint}") from exc
        command_line = _command_of(self.process.pid) or " ".join(command)
        self.pid_path.write_text(f"{self.process.pid}\n{command_line}\n")

    def kill_stale(self) -> None:
        """Kill the emulator a dead run left in this workdir (its PID file names it and its command line still
        matches, so a reused PID is left alone)."""
        try:
            pid_text, recorded = (self.pid_path.read_text().split("\n", 1) + [""])[:2]
            pid = int(pid_text)
        except (OSError, ValueError):
            return
        running = _command_of(pid)
        if running and running == recorded.strip() and pid != os.getpid():
            log.warning("killing a stale %s (PID %d) left in %s by an earlier run", self.emulator_name, pid, self.workdir)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + self.stop_timeout_s
            while _command_of(pid) == running and time.monotonic() < deadline:
                time.sleep(0.01)  # until it is gone (or a zombie of its own dead parent, reaped by init)
        self.pid_path.unlink(missing_ok=True)

    def connect(self) -> ByteStream:
        """Open the UART socket once the emulator listens on self.port; a clear error if it exits or never does."""
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RunnerError(f"{self.emulator_name} exited with status {self.process.returncode} before its "
                                  f"serial port opened; see {self.log_path}")
            try:
                self.stream = LoopbackSerial(f"socket://127.0.0.1:{self.port}", timeout=0.05)
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
            self.pid_path.unlink(missing_ok=True)

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()
