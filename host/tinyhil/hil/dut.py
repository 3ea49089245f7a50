"""The device under test: what tests and bench talk to, whatever runner sits underneath."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DeviceTimeoutError, ProtocolError
from .faults import DeviceFaultError
from .protocol import SEED, FrameType, Hello, Link, LinkClosedError, Result
from .runners.base import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inference:
    output: np.ndarray | None  # int8, flat; None for a seeded inference, which returns only output_crc
    latency: int  # in the hello's latency unit
    stack_high_water_bytes: int
    arena_high_water_bytes: int
    layer_latency: tuple[int, ...] = ()  # per layer, same unit (empty when the firmware has no per-layer hook)
    output_crc: int = 0  # zlib.crc32 of the output tensor


class Dut:
    """launch() starts the ELF and reads the hello; infer() runs one input (infer_seeded() one the firmware
    generates from a seed); close() stops the runner. A timeout resets the target through the runner once
    and retries before giving up; a board that reboots by itself is seen by its boot hello and the request
    is resent at once."""

    def __init__(self, runner: Runner, elf: Path, timeout_s: float | None = None, hello_timeout_s: float = 10.0,
                 retries: int = 3):
        self.runner = runner
        self.elf = Path(elf)
        self.timeout_s = float(timeout_s if timeout_s is not None else runner.settings.get("timeout_s", 60.0))
        self.hello_timeout_s = hello_timeout_s
        self.retries = retries  # resends per request before the reset
        self.serial_log = runner.workdir / "serial.log"
        self.link: Link | None = None
        self.hello_frame: Hello | None = None
        self.device_resets = 0  # reboots the device did by itself (boot hellos seen mid-request)

    def launch(self) -> Hello:
        self._connect(self.runner.start(self.elf))
        try:
            return self.hello()
        except DeviceFaultError as fault:  # crashed while booting
            raise fault.located(self.elf) from None

    def reset(self) -> Hello:
        """Reset the target through the runner and read the hello of the fresh boot."""
        self._connect(self.runner.reset())
        return self.hello()

    def _connect(self, stream) -> None:  # type: ignore[no-untyped-def]
        if self.link:
            self.device_resets += self.link.device_resets
            self.link.close()
        self.link = Link(stream, self.serial_log, retries=self.retries)

    def hello(self) -> Hello:
        """The boot hello; asks the firmware again when the boot one was missed (a board reset earlier)."""
        link = self._require_link("hello")
        try:
            frame = link.wait_for(FrameType.HELLO, None, min(2.0, self.hello_timeout_s))
        except DeviceTimeoutError:
            frame = link.request(FrameType.HELLO_REQ, b"", FrameType.HELLO, self.hello_timeout_s)
        self.hello_frame = Hello.parse(frame.payload)
        return self.hello_frame

    def infer(self, x: np.ndarray) -> Inference:
        """Stream one input tensor (the firmware receives it straight into the model's input tensor)."""
        assert self._require_hello("infer") is not None
        payload = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        if len(payload) != self.hello_frame.input_bytes:
            raise ProtocolError(f"input has {len(payload)} bytes, the firmware's model takes {self.hello_frame.input_bytes}")
        return self._run(FrameType.INFER, payload, FrameType.RESULT)

    def infer_seeded(self, seed: int) -> Inference:
        """One inference on the input the firmware generates from `seed` (tinyhil.hil.protocol.seeded_input
        computes the same bytes here); the reply carries the output's CRC-32, not the output."""
        self._require_hello("infer_seeded")
        return self._run(FrameType.INFER_SEEDED, SEED.pack(seed & 0xFFFFFFFF), FrameType.RESULT_CRC)

    def _run(self, request: int, payload: bytes, reply: int) -> Inference:
        hello = self.hello_frame
        assert hello is not None
        link = self._require_link("infer")
        try:
            frame = link.request(request, payload, reply, self.timeout_s)
        except DeviceFaultError as fault:  # a crash is reported at once, not retried: it would crash again
            raise fault.located(self.elf) from None
        except DeviceTimeoutError as first:
            exited = self._exit_code(first)
            log.warning("no reply (%s); resetting %s through its runner and retrying once", first, self.runner.profile.name)
            self.reset()
            try:
                frame = self._require_link("infer").request(request, payload, reply, self.timeout_s)
            except DeviceTimeoutError as second:
                again = self._exit_code(second)
                if exited is not None or again is not None:
                    before = f"exited with status {exited}" if exited is not None else "stopped answering"
                    after = f"exited again with status {again}" if again is not None else "stopped answering"
                    raise DeviceTimeoutError(
                        f"{self.runner.profile.name}: the emulator {before} during the inference and {after} after "
                        f"a restart (a crash, or an exit call in the firmware?); runner log: {self.runner.log_path}",
                        second.last_bytes, second.log_path) from None
                last = str(second).splitlines()[0]
                raise DeviceTimeoutError(
                    f"{self.runner.profile.name}: no result within {self.timeout_s:.0f} s, even after a reset "
                    f"(is the model hanging or the firmware crashing?; last attempt: {last}); runner log: "
                    f"{self.runner.log_path}", second.last_bytes, second.log_path) from None
        self._check_reboots(link)
        result = Result.parse(frame.payload, hello.output_bytes, hello.layer_count, digest=reply == FrameType.RESULT_CRC)
        output = None if result.output is None else np.frombuffer(result.output, dtype=np.int8).copy()
        return Inference(output, result.latency, result.stack_high_water_bytes, result.arena_high_water_bytes,
                         result.layer_latency, result.output_crc)

    def _exit_code(self, error: DeviceTimeoutError, wait_s: float = 2.0) -> int | None:
        """The emulator's exit status when the link closed because it exited (it may take a moment to end)."""
        deadline = time.monotonic() + (wait_s if isinstance(error, LinkClosedError) else 0.0)
        while True:
            code = self.runner.exit_code
            if code is not None or time.monotonic() >= deadline:
                return code
            time.sleep(0.02)

    def _check_reboots(self, link: Link) -> None:
        """After a reboot mid-request the device must come back as the same firmware."""
        if link.boot_hello is None:
            return
        rebooted = Hello.parse(link.boot_hello.payload)
        link.boot_hello = None
        log.warning("%s rebooted during a request (%d time(s) so far); the request was resent",
                    self.runner.profile.name, self.device_resets + link.device_resets)
        if rebooted != self.hello_frame:
            raise ProtocolError(f"{self.runner.profile.name} rebooted into another firmware (model hash "
                                f"{rebooted.model_hash[:16]}..., was {self.hello_frame.model_hash[:16]}...): "
                                "is another process flashing this board?")

    @property
    def total_device_resets(self) -> int:
        return self.device_resets + (self.link.device_resets if self.link else 0)

    def close(self) -> None:
        try:
            if self.link:
                self.link.close()
        finally:
            self.link = None
            self.runner.stop()

    def _require_link(self, method: str) -> Link:
        if self.link is None:
            raise ProtocolError(f"Dut.{method}() called before launch() (or after close())")
        return self.link

    def _require_hello(self, method: str) -> Hello:
        self._require_link(method)
        if self.hello_frame is None:
            raise ProtocolError(f"Dut.{method}() called before the hello was read (call launch())")
        return self.hello_frame

    def __enter__(self) -> "Dut":
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
