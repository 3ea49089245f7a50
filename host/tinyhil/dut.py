"""The device under test: what tests and bench talk to, whatever runner sits underneath."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DeviceTimeoutError, ProtocolError
from .faults import DeviceFaultError
from .protocol import FrameType, Hello, Link, Result
from .runners.base import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inference:
    output: np.ndarray  # int8, flat
    latency: int  # in the hello's latency unit
    stack_high_water_bytes: int
    arena_high_water_bytes: int
    layer_latency: tuple[int, ...] = ()  # per layer, same unit (empty when the firmware has no per-layer hook)


class Dut:
    """launch() starts the ELF and reads the hello; infer() runs one input; close() stops the runner.
    A timeout resets the target through the runner once and retries before giving up."""

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
        link = self._require_link("infer")
        assert self.hello_frame is not None
        payload = np.ascontiguousarray(x, dtype=np.int8).tobytes()
        if len(payload) != self.hello_frame.input_bytes:
            raise ProtocolError(f"input has {len(payload)} bytes, the firmware's model takes {self.hello_frame.input_bytes}")
        try:
            frame = link.request(FrameType.INFER, payload, FrameType.RESULT, self.timeout_s)
        except DeviceFaultError as fault:  # a crash is reported at once, not retried: it would crash again
            raise fault.located(self.elf) from None
        except DeviceTimeoutError as first:
            log.warning("no reply (%s); resetting %s through its runner and retrying once", first, self.runner.profile.name)
            self.reset()
            try:
                frame = self._require_link("infer").request(FrameType.INFER, payload, FrameType.RESULT, self.timeout_s)
            except DeviceTimeoutError as second:
                raise DeviceTimeoutError(
                    f"{self.runner.profile.name}: no result within {self.timeout_s:.0f} s, even after a reset "
                    f"(is the model hanging or the firmware crashing?); runner log: {self.runner.log_path}",
                    second.last_bytes, second.log_path) from None
        result = Result.parse(frame.payload, self.hello_frame.output_bytes, self.hello_frame.layer_count)
        return Inference(np.frombuffer(result.output, dtype=np.int8).copy(), result.latency,
                         result.stack_high_water_bytes, result.arena_high_water_bytes, result.layer_latency)

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

    def __enter__(self) -> "Dut":
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
