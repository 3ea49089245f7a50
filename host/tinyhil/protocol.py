"""Host side of the framed serial protocol (device side: firmware/harness/protocol.c).

Frame: 0xA5 0x5A | type u8 | seq u8 | length u16 LE | payload | CRC-32 LE (zlib.crc32 over type..payload).
The reader resynchronises on garbage by hunting for the next magic; a link sends a request and waits
for the reply with the same sequence number, retrying a bounded number of times.
"""

from __future__ import annotations

import enum
import logging
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import DeviceTimeoutError, ProtocolError
from .faults import DeviceFaultError, Fault

log = logging.getLogger(__name__)

MAGIC = b"\xa5\x5a"
HEADER = struct.Struct("<BBH")  # type, seq, length
MAX_PAYLOAD = 0xFFFF
PROTOCOL_VERSION = 2
# version, unit, per-layer stamps per result, arena, static RAM, flash, stack, in, out
HELLO_FIXED = struct.Struct("<BBHIIIIII")
HASH_CHARS = 64
# result payload: this header | layer_count x u32 LE stamps | output tensor
RESULT_HEADER = struct.Struct("<QIIi")  # latency, stack high-water, arena high-water, status
LAYER_STAMP = struct.Struct("<I")  # platform_elapsed() at the end of one layer, truncated to 32 bits
LATENCY_UNITS = {0: "cycles", 1: "instructions"}


class FrameType(enum.IntEnum):
    HELLO = 0x01
    INFER = 0x02
    RESULT = 0x03
    HELLO_REQ = 0x04
    ERROR = 0x7F


class DeviceError(enum.IntEnum):
    BAD_CRC = 1
    UNKNOWN_TYPE = 2
    BAD_LENGTH = 3
    TOO_LONG = 4
    MODEL_FAILED = 5
    FAULT = 6  # a CPU fault: detail decoded by faults.Fault
    TIMER_STOPPED = 7  # the latency counter read 0 for a whole inference


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}-byte frame limit")
    body = HEADER.pack(frame_type, seq & 0xFF, len(payload)) + payload
    return MAGIC + body + struct.pack("<I", zlib.crc32(body))


class FrameReader:
    """Incremental decoder: feed bytes, pop whole frames. Garbage and frames with a bad CRC are skipped."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self.buffer = bytearray()
        self.skipped_bytes = 0
        self.crc_errors = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while True:
            start = self.buffer.find(MAGIC)
            if start < 0:
                keep = 1 if self.buffer[-1:] == MAGIC[:1] else 0  # a magic may be split across reads
                self.skipped_bytes += len(self.buffer) - keep
                del self.buffer[: len(self.buffer) - keep]
                return frames
            self.skipped_bytes += start
            del self.buffer[:start]
            if len(self.buffer) < 2 + HEADER.size:
                return frames
            frame_type, seq, length = HEADER.unpack_from(self.buffer, 2)
            if length > self.max_payload:
                self._drop_magic()
                continue
            total = 2 + HEADER.size + length + 4
            if len(self.buffer) < total:
                # A false magic in noise can announce a long frame and hide a real one behind it:
                # if a later magic starts a complete, valid frame, the first one was garbage.
                later = self._later_valid_frame()
                if later < 0:
                    return frames
                self.skipped_bytes += later
                del self.buffer[:later]
                continue
            frame = self._frame_at(0, total)
            if frame is None:
                self.crc_errors += 1
                self._drop_magic()
                continue
            frames.append(frame)
            del self.buffer[:total]

    def _frame_at(self, start: int, total: int) -> Frame | None:
        body = bytes(self.buffer[start + 2: start + total - 4])
        (crc,) = struct.unpack_from("<I", self.buffer, start + total - 4)
        if crc != zlib.crc32(body):
            return None
        frame_type, seq, _ = HEADER.unpack_from(body)
        return Frame(frame_type, seq, body[HEADER.size:])

    def _later_valid_frame(self) -> int:
        start = self.buffer.find(MAGIC, 1)
        while start >= 0 and start + 2 + HEADER.size <= len(self.buffer):
            _, _, length = HEADER.unpack_from(self.buffer, start + 2)
            total = 2 + HEADER.size + length + 4
            if length <= self.max_payload and start + total <= len(self.buffer) and self._frame_at(start, total):
                return start
            start = self.buffer.find(MAGIC, start + 1)
        return -1

    def _drop_magic(self) -> None:
        self.skipped_bytes += 1
        del self.buffer[:1]


@dataclass(frozen=True)
class Hello:
    version: int
    latency_unit: str
    arena_bytes: int
    static_ram_bytes: int
    flash_bytes: int
    stack_bytes: int
    input_bytes: int
    output_bytes: int
    model_hash: str
    runtime: str
    layer_count: int = 0  # per-layer stamps in every result (0: the model or build has no per-layer hook)

    @classmethod
    def parse(cls, payload: bytes) -> "Hello":
        if len(payload) < HELLO_FIXED.size + HASH_CHARS:
            raise ProtocolError(f"hello frame of {len(payload)} bytes is shorter than the "
                                f"{HELLO_FIXED.size + HASH_CHARS} the protocol defines: is the firmware from this tinyhil?")
        version, unit, layers, arena, static_ram, flash, stack, n_in, n_out = HELLO_FIXED.unpack_from(payload)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"firmware speaks protocol version {version}, host {PROTOCOL_VERSION}: rebuild the firmware")
        if unit not in LATENCY_UNITS:
            raise ProtocolError(f"hello names latency unit code {unit}, known: {LATENCY_UNITS}")
        text = payload[HELLO_FIXED.size:]
        return cls(version, LATENCY_UNITS[unit], arena, static_ram, flash, stack, n_in, n_out,
                   text[:HASH_CHARS].decode("ascii", "replace"), text[HASH_CHARS:].decode("ascii", "replace"), layers)


@dataclass(frozen=True)
class Result:
    latency: int  # whole inference, in the hello's latency unit
    stack_high_water_bytes: int
    arena_high_water_bytes: int
    output: bytes
    layer_latency: tuple[int, ...] = ()  # per layer, same unit: differences of the device's end-of-layer stamps

    @classmethod
    def parse(cls, payload: bytes, output_bytes: int, layer_count: int = 0) -> "Result":
        """layer_count and output_bytes as the hello announced them; any other length is a ProtocolError."""
        stamps_bytes = LAYER_STAMP.size * layer_count
        expected = RESULT_HEADER.size + stamps_bytes + output_bytes
        if len(payload) != expected:
            if len(payload) < RESULT_HEADER.size:
                raise ProtocolError(f"result frame of {len(payload)} bytes is shorter than its "
                                    f"{RESULT_HEADER.size}-byte header")
            raise ProtocolError(
                f"result frame of {len(payload)} bytes, expected {expected}: header {RESULT_HEADER.size} + "
                f"{layer_count} per-layer stamps ({stamps_bytes} B) + {output_bytes} output bytes as the hello "
                f"announced; it carries {len(payload) - RESULT_HEADER.size - stamps_bytes} output bytes")
        latency, stack, arena, _status = RESULT_HEADER.unpack_from(payload)
        if latency == 0:  # no inference takes no time: the counter was stopped (old firmware or a broken timer)
            raise ProtocolError("the device reported a latency of 0: its cycle counter is not running; rebuild the "
                                "firmware with this tinyhil (it restarts DWT->CYCCNT before every inference)")
        stamps = [LAYER_STAMP.unpack_from(payload, RESULT_HEADER.size + LAYER_STAMP.size * i)[0]
                  for i in range(layer_count)]
        return cls(latency, stack, arena, payload[RESULT_HEADER.size + stamps_bytes:],
                   layer_latencies(stamps, latency))


def layer_latencies(stamps: list[int], total: int) -> tuple[int, ...]:
    """Per-layer latency from the 32-bit end-of-layer stamps (time since the inference started):
    consecutive differences modulo 2**32, so a stamp counter that wrapped still gives the right figure
    as long as one layer takes under 2**32 units. The first layer's figure includes the copy of the input
    into the arena; the copy of the output is in no layer. The stamps must not run past the total."""
    durations, previous = [], 0
    for stamp in stamps:
        durations.append((stamp - previous) % (1 << 32))
        previous = stamp
    if total < (1 << 32) and sum(durations) > total:
        raise ProtocolError(f"per-layer latencies sum to {sum(durations)}, past the whole inference ({total}): "
                            "the stamps are not increasing, or not from the same clock as the total")
    return tuple(durations)


class ByteStream(Protocol):
    """What a runner hands back: a pyserial-like object (serial.Serial or serial_for_url)."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    @property
    def in_waiting(self) -> int: ...


class Link:
    """Requests and replies over a byte stream, with bounded retries and a raw-byte log."""

    def __init__(self, stream: ByteStream, log_path: Path | None = None, retries: int = 3,
                 poll_s: float = 0.05):
        self.stream = stream
        self.reader = FrameReader()
        self.log_path = log_path
        self.retries = retries
        self.poll_s = poll_s
        self.seq = 0
        self.recent = bytearray()  # the last bytes seen, for error messages
        self.pending: list[Frame] = []
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _pump(self, deadline: float) -> None:
        self.stream.timeout = max(0.0, min(self.poll_s, deadline - time.monotonic()))
        try:
            data = self.stream.read(1)
            if data:
                waiting = self.stream.in_waiting
                while waiting:
                    data += self.stream.read(waiting)
                    waiting = self.stream.in_waiting
        except Exception as exc:  # pyserial raises SerialException / OSError when the other end goes away
            raise DeviceTimeoutError(f"serial link closed by the device side ({exc})", bytes(self.recent),
                                     str(self.log_path) if self.log_path else None) from exc
        if data:
            if self._log:
                self._log.write(data)
                self._log.flush()
            self.recent = (self.recent + data)[-256:]
            self.pending.extend(self.reader.feed(data))

    def wait_for(self, frame_type: int, seq: int | None, timeout_s: float) -> Frame:
        """The next frame of that type (and seq, unless None); error frames for that seq raise."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self.pending:
                frame = self.pending.pop(0)
                # a fault report answers no request (seq 0) but ends whatever was being waited for
                if frame.type == FrameType.ERROR and (seq is None or frame.seq == seq or _is_fault(frame)):
                    raise _device_error(frame)
                if frame.type == frame_type and (seq is None or frame.seq == seq):
                    return frame
                log.debug("ignoring frame type %#x seq %d while waiting for %#x", frame.type, frame.seq, frame_type)
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError(
                    f"no {FrameType(frame_type).name} frame within {timeout_s:.1f} s "
                    f"({self.reader.skipped_bytes} unframed bytes, {self.reader.crc_errors} bad CRCs seen)",
                    bytes(self.recent), str(self.log_path) if self.log_path else None)
            self._pump(deadline)

    def request(self, frame_type: int, payload: bytes, reply_type: int, timeout_s: float) -> Frame:
        """Send, wait for the reply; resend on timeout or a CRC error report, at most `retries` times."""
        last_error: ProtocolError | None = None
        for attempt in range(self.retries + 1):
            self.seq = (self.seq + 1) & 0xFF
            self.stream.write(encode_frame(frame_type, self.seq, payload))
            try:
                return self.wait_for(reply_type, self.seq, timeout_s)
            except DeviceReportedError as exc:
                if exc.code != DeviceError.BAD_CRC:
                    raise
                last_error = exc
            except DeviceTimeoutError as exc:
                last_error = exc
            log.info("attempt %d/%d failed: %s", attempt + 1, self.retries + 1, last_error)
        assert last_error is not None
        raise last_error


class DeviceReportedError(ProtocolError):
    def __init__(self, code: int, offending_type: int):
        self.code = code
        name = DeviceError(code).name if code in DeviceError._value2member_map_ else f"code {code}"
        hint = {DeviceError.BAD_LENGTH: "the input size differs from the model's: check the input shape",
                DeviceError.MODEL_FAILED: "the model's invoke returned an error status",
                DeviceError.BAD_CRC: "bytes were corrupted on the serial line",
                DeviceError.TOO_LONG: "the frame is larger than the firmware's receive buffer",
                DeviceError.UNKNOWN_TYPE: "host and firmware protocol versions differ: rebuild the firmware",
                DeviceError.TIMER_STOPPED: "the latency counter did not run (DWT->CYCCNT stops when a debugger "
                                           "disconnects and clears DEMCR); no latency of 0 is reported: rebuild "
                                           "the firmware with this tinyhil, which restarts the counter before each "
                                           "inference"}
        super().__init__(f"device reported {name} for frame type {offending_type:#x}: {hint.get(code, '')}")


def _is_fault(frame: Frame) -> bool:
    return frame.payload[:1] == bytes([DeviceError.FAULT])


def _device_error(frame: Frame) -> ProtocolError:
    if _is_fault(frame):
        return DeviceFaultError(Fault.parse(frame.payload[2:]))
    code = frame.payload[0] if frame.payload else 0
    detail = frame.payload[1] if len(frame.payload) > 1 else 0
    return DeviceReportedError(code, detail)
