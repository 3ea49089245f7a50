"""Host side of the framed serial protocol, version 3 (device side: firmware/harness/protocol.c;
this docstring and protocol.h are the source of truth for the layout).

Frame: 0xA5 0x5A | type u8 | seq u8 | length u16 LE | [length u32 LE] | payload | CRC-32 LE
  - a u16 length below 0xFFFF is the payload length; 0xFFFF is an escape and the real length follows
    as a u32, so a tensor larger than 64 KiB (a 160x160x3 input is 76,800 B) travels in one frame.
    Short frames keep version 2's header, so an old firmware's hello still decodes and the host can
    say "rebuild the firmware" instead of timing out;
  - the CRC-32 (zlib.crc32) covers type .. payload, the extended length included.
Sequence numbers: requests use 1..255 (wrapping from 255 to 1); 0 is the device's own, used by the
boot hello and unsolicited reports (a fault), so a hello with seq 0 while a request is pending means the
board rebooted: the link resends at once instead of waiting out the timeout. The firmware ignores any
frame with seq 0 (noise: a magic inside a payload it skips).

Frames (FrameType): HELLO (HELLO_FIXED: version, latency unit, per-layer stamps per result, arena, static
RAM, flash, stack, input and output bytes, CPU clock in Hz; then the 64-character model hash and the runtime
name), INFER (the input tensor, received by the firmware straight into the model's input tensor), RESULT
(RESULT_HEADER | per-layer stamps | output tensor), HELLO_REQ (empty), INFER_SEEDED (seed u32: the firmware
generates the input with seeded_input()), RESULT_CRC (as RESULT with the output's CRC-32 u32 in place of
the output), ERROR (code u8 | offending frame type u8 | detail: BAD_LENGTH and TOO_LONG carry the announced
length u32 and the allowed one u32, MODEL_FAILED the model's status i32, FAULT (seq 0, offending type 0)
the exception number, stacked PC and LR, CFSR, HFSR, MMFAR, BFAR u32 each (faults.py); BAD_CRC,
UNKNOWN_TYPE and TIMER_STOPPED none). All integers little-endian.

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

import numpy as np

from ..errors import DeviceTimeoutError, ProtocolError
from .faults import DeviceFaultError, Fault

log = logging.getLogger(__name__)

MAGIC = b"\xa5\x5a"
HEADER = struct.Struct("<BBH")  # type, seq, length (LENGTH_ESCAPE: the u32 EXTENDED_LENGTH follows)
EXTENDED_LENGTH = struct.Struct("<I")
LENGTH_ESCAPE = 0xFFFF
MAX_PAYLOAD = 1 << 24  # 16 MiB: more than any MCU's RAM; a longer announced frame is noise
PROTOCOL_VERSION = 3
# version, unit, per-layer stamps per result, arena, static RAM, flash, stack, in, out, CPU clock (Hz)
HELLO_FIXED = struct.Struct("<BBHIIIIIII")
HASH_CHARS = 64
SEED = struct.Struct("<I")  # INFER_SEEDED payload
OUTPUT_CRC = struct.Struct("<I")  # in RESULT_CRC, in place of the output tensor
LENGTH_DETAIL = struct.Struct("<II")  # BAD_LENGTH / TOO_LONG detail: announced, allowed
STATUS_DETAIL = struct.Struct("<i")  # MODEL_FAILED detail
DEVICE_SEQ = 0  # the boot hello and unsolicited device reports
# result payload: this header | layer_count x u32 LE stamps | output tensor
RESULT_HEADER = struct.Struct("<QIIi")  # latency, stack high-water, arena high-water, status
LAYER_STAMP = struct.Struct("<I")  # platform_elapsed() at the end of one layer, truncated to 32 bits
LATENCY_UNITS = {0: "cycles", 1: "instructions"}


class FrameType(enum.IntEnum):
    HELLO = 0x01
    INFER = 0x02
    RESULT = 0x03
    HELLO_REQ = 0x04
    INFER_SEEDED = 0x05
    RESULT_CRC = 0x06
    ERROR = 0x7F


class DeviceError(enum.IntEnum):
    BAD_CRC = 1
    UNKNOWN_TYPE = 2
    BAD_LENGTH = 3
    TOO_LONG = 4
    MODEL_FAILED = 5
    FAULT = 6  # a CPU fault, sent with seq 0 before the firmware resets: detail decoded by faults.Fault
    TIMER_STOPPED = 7  # the latency counter read 0 for a whole inference


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the protocol's {MAX_PAYLOAD}-byte frame limit")
    if len(payload) < LENGTH_ESCAPE:
        header = HEADER.pack(frame_type, seq & 0xFF, len(payload))
    else:
        header = HEADER.pack(frame_type, seq & 0xFF, LENGTH_ESCAPE) + EXTENDED_LENGTH.pack(len(payload))
    body = header + payload
    return MAGIC + body + struct.pack("<I", zlib.crc32(body))


def _header_at(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """(header bytes after the magic, payload length) of the frame whose magic is at `start`;
    None while the header is still incomplete."""
    if len(buffer) < start + 2 + HEADER.size:
        return None
    _, _, length = HEADER.unpack_from(buffer, start + 2)
    if length != LENGTH_ESCAPE:
        return HEADER.size, length
    if len(buffer) < start + 2 + HEADER.size + EXTENDED_LENGTH.size:
        return None
    return HEADER.size + EXTENDED_LENGTH.size, EXTENDED_LENGTH.unpack_from(buffer, start + 2 + HEADER.size)[0]


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
            header = _header_at(self.buffer, 0)
            if header is None:
                return frames
            header_bytes, length = header
            if length > self.max_payload:
                self._drop_magic()
                continue
            total = 2 + header_bytes + length + 4
            if len(self.buffer) < total:
                # A false magic in noise can announce a long frame and hide a real one behind it:
                # if a later magic starts a complete, valid frame, the first one was garbage.
                later = self._later_valid_frame()
                if later < 0:
                    return frames
                self.skipped_bytes += later
                del self.buffer[:later]
                continue
            frame = self._frame_at(0, header_bytes, total)
            if frame is None:
                self.crc_errors += 1
                self._drop_magic()
                continue
            frames.append(frame)
            del self.buffer[:total]

    def _frame_at(self, start: int, header_bytes: int, total: int) -> Frame | None:
        body = bytes(self.buffer[start + 2: start + total - 4])
        (crc,) = struct.unpack_from("<I", self.buffer, start + total - 4)
        if crc != zlib.crc32(body):
            return None
        frame_type, seq, _ = HEADER.unpack_from(body)
        return Frame(frame_type, seq, body[header_bytes:])

    def _later_valid_frame(self) -> int:
        start = self.buffer.find(MAGIC, 1)
        while start >= 0:
            header = _header_at(self.buffer, start)
            if header is None:
                break
            header_bytes, length = header
            total = 2 + header_bytes + length + 4
            if (length <= self.max_payload and start + total <= len(self.buffer)
                    and self._frame_at(start, header_bytes, total)):
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
    cpu_hz: int = 0  # the core clock the firmware runs at, as its BSP set it

    @classmethod
    def parse(cls, payload: bytes) -> "Hello":
        if payload and payload[0] != PROTOCOL_VERSION:  # the version byte leads every hello, old or new
            raise ProtocolError(f"firmware speaks protocol version {payload[0]}, host {PROTOCOL_VERSION}: "
                                "rebuild the firmware with this tinyhil (delete the cached build folder)")
        if len(payload) < HELLO_FIXED.size + HASH_CHARS:
            raise ProtocolError(f"hello frame of {len(payload)} bytes is shorter than the "
                                f"{HELLO_FIXED.size + HASH_CHARS} the protocol defines: is the firmware from this tinyhil?")
        version, unit, layers, arena, static_ram, flash, stack, n_in, n_out, cpu_hz = HELLO_FIXED.unpack_from(payload)
        if unit not in LATENCY_UNITS:
            raise ProtocolError(f"hello names latency unit code {unit}, known: {LATENCY_UNITS}")
        text = payload[HELLO_FIXED.size:]
        return cls(version, LATENCY_UNITS[unit], arena, static_ram, flash, stack, n_in, n_out,
                   text[:HASH_CHARS].decode("ascii", "replace"), text[HASH_CHARS:].decode("ascii", "replace"), layers,
                   cpu_hz)

    def pack(self) -> bytes:
        """The payload a firmware sends (the fake device and tests build hellos with it)."""
        unit = {name: code for code, name in LATENCY_UNITS.items()}[self.latency_unit]
        return (HELLO_FIXED.pack(self.version, unit, self.layer_count, self.arena_bytes, self.static_ram_bytes,
                                 self.flash_bytes, self.stack_bytes, self.input_bytes, self.output_bytes, self.cpu_hz)
                + self.model_hash.encode("ascii")[:HASH_CHARS].ljust(HASH_CHARS, b"0") + self.runtime.encode("ascii"))


@dataclass(frozen=True)
class Result:
    latency: int  # whole inference, in the hello's latency unit
    stack_high_water_bytes: int
    arena_high_water_bytes: int
    output: bytes | None  # None in a RESULT_CRC reply, which carries output_crc instead
    layer_latency: tuple[int, ...] = ()  # per layer, same unit: differences of the device's end-of-layer stamps
    output_crc: int = 0  # zlib.crc32 of the output tensor (computed on the device, or here from `output`)

    @classmethod
    def parse(cls, payload: bytes, output_bytes: int, layer_count: int = 0, digest: bool = False) -> "Result":
        """layer_count and output_bytes as the hello announced them; any other length is a ProtocolError.
        digest: a RESULT_CRC payload, whose tail is the output's CRC-32 rather than the output."""
        stamps_bytes = LAYER_STAMP.size * layer_count
        tail = OUTPUT_CRC.size if digest else output_bytes
        expected = RESULT_HEADER.size + stamps_bytes + tail
        if len(payload) != expected:
            if len(payload) < RESULT_HEADER.size:
                raise ProtocolError(f"result frame of {len(payload)} bytes is shorter than its "
                                    f"{RESULT_HEADER.size}-byte header")
            what = "a 4-byte output CRC" if digest else f"{output_bytes} output bytes as the hello announced"
            carried = len(payload) - RESULT_HEADER.size - stamps_bytes
            raise ProtocolError(
                f"result frame of {len(payload)} bytes, expected {expected}: header {RESULT_HEADER.size} + "
                f"{layer_count} per-layer stamps ({stamps_bytes} B) + {what}; it carries {carried} "
                f"{'CRC' if digest else 'output'} bytes: the firmware was built for another model or protocol; "
                "rebuild it")
        latency, stack, arena, _status = RESULT_HEADER.unpack_from(payload)
        if latency == 0:  # no inference takes no time: the counter was stopped (old firmware or a broken timer)
            raise ProtocolError("the device reported a latency of 0: its cycle counter is not running; rebuild the "
                                "firmware with this tinyhil (it restarts DWT->CYCCNT before every inference)")
        stamps = [LAYER_STAMP.unpack_from(payload, RESULT_HEADER.size + LAYER_STAMP.size * i)[0]
                  for i in range(layer_count)]
        body = payload[RESULT_HEADER.size + stamps_bytes:]
        if digest:
            return cls(latency, stack, arena, None, layer_latencies(stamps, latency), OUTPUT_CRC.unpack(body)[0])
        return cls(latency, stack, arena, body, layer_latencies(stamps, latency), zlib.crc32(body))


def seeded_input(seed: int, length: int) -> np.ndarray:
    """The int8 input the firmware's seeded_input() (firmware/harness/seeded_input.c) generates for
    `seed`: word j is mix32(mix32(seed) + j * 0x9E3779B9), little-endian, mix32 = lowbias32."""
    def mix32(x: np.ndarray) -> np.ndarray:
        x = x ^ (x >> np.uint32(16))
        x = x * np.uint32(0x7FEB352D)
        x = x ^ (x >> np.uint32(15))
        x = x * np.uint32(0x846CA68B)
        return x ^ (x >> np.uint32(16))

    key = mix32(np.array([seed & 0xFFFFFFFF], dtype=np.uint32))[0]
    words = mix32(key + np.arange((length + 3) // 4, dtype=np.uint32) * np.uint32(0x9E3779B9))
    return words.astype("<u4").view(np.int8)[:length].copy()


def layer_latencies(stamps: list[int], total: int) -> tuple[int, ...]:
    """Per-layer latency from the 32-bit end-of-layer stamps (time since the inference started):
    consecutive differences modulo 2**32, so a stamp counter that wrapped still gives the right figure
    as long as one layer takes under 2**32 units. The harness receives the input into the arena and sends the
    output from it, so no copy is timed (a runtime given other buffers copies them, in the first layer's
    figure and outside every layer). The stamps must not run past the total."""
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
        self.device_resets = 0  # boot hellos seen while a request was pending
        self.boot_hello: Frame | None = None  # the last of those
        self.recent = bytearray()  # the last bytes seen, for error messages
        self.pending: list[Frame] = []
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def next_seq(self) -> int:
        """1, 2, ... 255, 1, ...: never DEVICE_SEQ, so a reply can never be taken for a boot hello."""
        self.seq = self.seq % 255 + 1
        return self.seq

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
            raise LinkClosedError(f"serial link closed by the device side ({exc})", bytes(self.recent),
                                  str(self.log_path) if self.log_path else None) from exc
        if data:
            if self._log:
                self._log.write(data)
                self._log.flush()
            self.recent = (self.recent + data)[-256:]
            self.pending.extend(self.reader.feed(data))

    def _write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
        except Exception as exc:  # pyserial's SerialException / OSError: the other end went away
            raise LinkClosedError(f"serial link closed by the device side ({exc})", bytes(self.recent),
                                  str(self.log_path) if self.log_path else None) from exc

    def wait_for(self, frame_type: int, seq: int | None, timeout_s: float) -> Frame:
        """The next frame of that type (and seq, unless None); error frames for that seq (or the device's
        own seq 0: a fault report answers no request but ends whatever was being waited for) raise; a boot
        hello while waiting for another reply raises DeviceResetError at once."""
        deadline = time.monotonic() + timeout_s
        other_seq = 0  # valid frames of the awaited type that answer another request
        while True:
            while self.pending:
                frame = self.pending.pop(0)
                if frame.type == FrameType.ERROR and (seq is None or frame.seq in (seq, DEVICE_SEQ)):
                    raise _device_error(frame)
                if frame.type == frame_type and (seq is None or frame.seq == seq):
                    return frame
                if frame.type == FrameType.HELLO and frame.seq == DEVICE_SEQ:
                    if frame_type == FrameType.HELLO:
                        return frame  # asked for the hello again, got a fresh boot one: as good
                    self.device_resets += 1
                    self.boot_hello = frame
                    raise DeviceResetError(f"the device rebooted (a boot hello arrived) while the reply to "
                                           f"{_type_name(frame_type)} seq {seq} was pending")
                other_seq += frame.type == frame_type
                log.debug("ignoring frame type %#x seq %d while waiting for %#x seq %s",
                          frame.type, frame.seq, frame_type, seq)
            if time.monotonic() >= deadline:
                stale = (f"; {other_seq} {FrameType(frame_type).name} frame(s) with another sequence number ignored "
                         "(late replies to earlier requests, or another program writing to this port?)"
                         if other_seq else "")
                raise DeviceTimeoutError(
                    f"no {FrameType(frame_type).name} frame with seq {seq} within {timeout_s:.1f} s "
                    f"({self.reader.skipped_bytes} unframed bytes, {self.reader.crc_errors} bad CRCs seen{stale})"
                    if seq is not None else
                    f"no {FrameType(frame_type).name} frame within {timeout_s:.1f} s "
                    f"({self.reader.skipped_bytes} unframed bytes, {self.reader.crc_errors} bad CRCs seen)",
                    bytes(self.recent), str(self.log_path) if self.log_path else None)
            self._pump(deadline)

    def request(self, frame_type: int, payload: bytes, reply_type: int, timeout_s: float) -> Frame:
        """Send, wait for the reply; resend at once on a device reboot or a report that the request was
        corrupted on the line, and after `timeout_s` without a reply: at most `retries` times."""
        last_error: ProtocolError | None = None
        resets = 0
        for attempt in range(self.retries + 1):
            seq = self.next_seq()
            self._write(encode_frame(frame_type, seq, payload))
            try:
                return self.wait_for(reply_type, seq, timeout_s)
            except DeviceReportedError as exc:
                if not exc.corrupted_on_the_line(len(payload)):
                    raise
                last_error = exc
            except DeviceResetError as exc:
                resets += 1
                last_error = exc
            except LinkClosedError:
                raise  # nothing to resend on: the caller may restart the target
            except DeviceTimeoutError as exc:
                last_error = exc
            log.info("attempt %d/%d failed: %s", attempt + 1, self.retries + 1, last_error)
        assert last_error is not None
        if resets == self.retries + 1:
            raise DeviceResetError(f"the device rebooted {resets} times, once per attempt, while running "
                                   f"{_type_name(frame_type)}: a brown-out, a watchdog or a fault in the model; "
                                   f"see the serial log{f' {self.log_path}' if self.log_path else ''}")
        raise last_error


def _type_name(frame_type: int) -> str:
    return FrameType(frame_type).name if frame_type in FrameType._value2member_map_ else f"type {frame_type:#04x}"


class LinkClosedError(DeviceTimeoutError):
    """The byte stream ended: the emulator exited, or the board's USB serial port went away."""


class DeviceResetError(ProtocolError):
    """The device sent a boot hello (seq 0) while a request was pending: it rebooted."""


class DeviceReportedError(ProtocolError):
    """An ERROR frame: the code, the frame type it is about, and the code's detail decoded."""

    def __init__(self, code: int, offending_type: int, detail: bytes = b""):
        self.code = code
        self.offending_type = offending_type
        self.announced: int | None = None  # BAD_LENGTH / TOO_LONG: the payload length the device read
        self.allowed: int | None = None  # ... and the one it takes
        self.status: int | None = None  # MODEL_FAILED: what the model's invoke returned
        if code in (DeviceError.BAD_LENGTH, DeviceError.TOO_LONG) and len(detail) >= LENGTH_DETAIL.size:
            self.announced, self.allowed = LENGTH_DETAIL.unpack_from(detail)
        if code == DeviceError.MODEL_FAILED and len(detail) >= STATUS_DETAIL.size:
            (self.status,) = STATUS_DETAIL.unpack_from(detail)
        name = DeviceError(code).name if code in DeviceError._value2member_map_ else f"error code {code}"
        super().__init__(f"device reported {name} for {_type_name(offending_type)}: {self._explain(detail)}")

    def _explain(self, detail: bytes) -> str:
        if self.code == DeviceError.BAD_CRC:
            return "bytes were corrupted on the serial line; check the cable and that both ends use the profile's baud rate"
        if self.code == DeviceError.UNKNOWN_TYPE:
            return "the firmware does not know this request: host and firmware protocol versions differ; rebuild the firmware"
        if self.code == DeviceError.BAD_LENGTH:
            return (f"{self.announced} payload bytes, the firmware takes {self.allowed}: the input size differs "
                    "from the model's; check the input shape, or rebuild the firmware for this model")
        if self.code == DeviceError.TOO_LONG:
            return (f"{self.announced} payload bytes, the firmware accepts at most {self.allowed} for this frame "
                    "type: host and firmware protocol versions differ; rebuild the firmware")
        if self.code == DeviceError.MODEL_FAILED:
            return (f"the model's invoke returned status {self.status} (the TFLM runtime: 1 = its arena is too "
                    "small, 2 = Invoke failed); run the same input through `tinyhil codegen` on the host to compare")
        if self.code == DeviceError.TIMER_STOPPED:
            return ("the latency counter did not run (DWT->CYCCNT stops when a debugger disconnects and clears "
                    "DEMCR); no latency of 0 is reported: rebuild the firmware with this tinyhil, which restarts "
                    "the counter before each inference")
        return f"unknown to this host (detail {detail.hex() or 'none'}); update tinyhil or rebuild the firmware"

    def corrupted_on_the_line(self, sent_bytes: int) -> bool:
        """Whether resending may help: a bad CRC, or a length the device read that is not the one sent."""
        if self.code == DeviceError.BAD_CRC:
            return True
        return self.code in (DeviceError.BAD_LENGTH, DeviceError.TOO_LONG) and self.announced not in (None, sent_bytes)


def _device_error(frame: Frame) -> ProtocolError:
    if frame.payload[:1] == bytes([DeviceError.FAULT]):
        return DeviceFaultError(Fault.parse(frame.payload[2:]))
    code = frame.payload[0] if frame.payload else 0
    offending = frame.payload[1] if len(frame.payload) > 1 else 0
    return DeviceReportedError(code, offending, frame.payload[2:])
