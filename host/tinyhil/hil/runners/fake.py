"""A fake runner for unit tests: a protocol-speaking device simulated in a thread, on a socket pair or on a
pseudo-terminal the host opens with pyserial. Its behaviour (model function, noise, hang, dropped replies,
reboots, stale sequence numbers, wrong lengths, error frames) is set by the test."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TYPE_CHECKING

import numpy as np
import serial

from ..protocol import (DEVICE_SEQ, HASH_CHARS, LAYER_STAMP, LENGTH_DETAIL, OUTPUT_CRC, PROTOCOL_VERSION,
                        RESULT_HEADER, SEED, STATUS_DETAIL, ByteStream, DeviceError, FrameReader, FrameType, Hello,
                        encode_frame, seeded_input)
from .base import Runner, register

if TYPE_CHECKING:
    from ..boards import BoardProfile

CONTROL_CAPACITY = 16  # as the firmware's harness: the payload of any frame but INFER


class SocketStream:
    """The pyserial subset the protocol uses (read with timeout, write, in_waiting) over a socket."""

    def __init__(self, sock: socket.socket, timeout: float | None = 0.05):
        self.sock = sock
        self.timeout = timeout

    def read(self, size: int = 1) -> bytes:
        self.sock.settimeout(self.timeout)
        try:
            return self.sock.recv(size)
        except (socket.timeout, BlockingIOError):
            return b""

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    @property
    def in_waiting(self) -> int:
        self.sock.setblocking(False)
        try:
            return len(self.sock.recv(65536, socket.MSG_PEEK))
        except (BlockingIOError, OSError):
            return 0
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


class PtyEnd:
    """The device's end of a pseudo-terminal with the socket calls FakeDevice.serve makes: the host then opens
    the other end with serial.Serial, exactly as it opens a board's /dev/ttyACM0."""

    def __init__(self, fd: int):
        self.fd = fd
        self.timeout: float | None = None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def recv(self, size: int) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            raise socket.timeout("no byte from the host")
        try:
            return os.read(self.fd, size)
        except OSError:  # EIO: the host closed its end
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


@dataclass
class FakeDevice:
    """Behaviour of the simulated firmware: a model function plus the faults a test switches on."""

    model: Callable[[np.ndarray], np.ndarray]
    input_bytes: int
    output_bytes: int
    latency: int = 1000
    layer_latencies: tuple[int, ...] = ()  # per layer; sent as end-of-layer stamps like the firmware does
    model_hash: str = "0" * HASH_CHARS
    runtime: str = "native"
    cpu_hz: int = 25_000_000
    arena_bytes: int = 256
    static_ram_bytes: int = 4096
    flash_bytes: int = 8192
    noise_before_frames: bytes = b""
    hang_after_infers: int | None = None  # stop answering after this many inferences
    drop_replies: int = 0  # swallow the first N inference replies (the host must retry)
    reset_on_infers: tuple[int, ...] = ()  # reboot (send a boot hello, no reply) on these inferences (1-based)
    stale_reply_seq: Callable[[int], int] | None = None  # before each reply, a valid reply with this seq
    reply_seq: Callable[[int], int] | None = None  # the seq the reply carries (default: the request's)
    misread_lengths: int = 0  # answer the first N inference requests BAD_LENGTH with a length one too long
    output_bytes_sent: int | None = None  # send this many output bytes instead of output_bytes
    model_status: int = 0  # non-zero: every inference answers MODEL_FAILED with this status
    version: int = PROTOCOL_VERSION  # the protocol version the hello announces (an older firmware's)
    infers: int = field(default=0, init=False)
    seqs_seen: list[int] = field(default_factory=list, init=False)

    def hello(self) -> bytes:
        return Hello(self.version, "instructions", self.arena_bytes, self.static_ram_bytes, self.flash_bytes,
                     16384, self.input_bytes, self.output_bytes, self.model_hash, self.runtime,
                     len(self.layer_latencies), self.cpu_hz).pack()

    def _error(self, seq: int, code: int, frame_type: int, detail: bytes = b"") -> bytes:
        return encode_frame(FrameType.ERROR, seq, bytes([code, frame_type]) + detail)

    def reply(self, frame_type: int, seq: int, payload: bytes) -> bytes | None:
        self.seqs_seen.append(seq)
        if frame_type != FrameType.INFER and len(payload) > CONTROL_CAPACITY:  # as the harness: checked first
            return self._error(seq, DeviceError.TOO_LONG, frame_type, LENGTH_DETAIL.pack(len(payload), CONTROL_CAPACITY))
        if frame_type == FrameType.HELLO_REQ:
            return encode_frame(FrameType.HELLO, seq, self.hello())
        if frame_type == FrameType.INFER_SEEDED:
            if len(payload) != SEED.size:
                return self._error(seq, DeviceError.BAD_LENGTH, frame_type, LENGTH_DETAIL.pack(len(payload), SEED.size))
            x, reply_type = seeded_input(SEED.unpack(payload)[0], self.input_bytes), FrameType.RESULT_CRC
        elif frame_type == FrameType.INFER:
            if self.misread_lengths > 0:  # as when a length byte was corrupted on the line
                self.misread_lengths -= 1
                return self._error(seq, DeviceError.BAD_LENGTH, frame_type,
                                   LENGTH_DETAIL.pack(len(payload) + 1, self.input_bytes))
            if len(payload) != self.input_bytes:
                return self._error(seq, DeviceError.BAD_LENGTH, frame_type,
                                   LENGTH_DETAIL.pack(len(payload), self.input_bytes))
            x, reply_type = np.frombuffer(payload, np.int8), FrameType.RESULT
        else:
            return self._error(seq, DeviceError.UNKNOWN_TYPE, frame_type)
        self.infers += 1
        if self.infers in self.reset_on_infers:
            return encode_frame(FrameType.HELLO, DEVICE_SEQ, self.hello())  # the reboot's hello, no reply
        if self.hang_after_infers is not None and self.infers > self.hang_after_infers:
            return None
        if self.drop_replies > 0:
            self.drop_replies -= 1
            return None
        if self.model_status:
            return self._error(seq, DeviceError.MODEL_FAILED, frame_type, STATUS_DETAIL.pack(self.model_status))
        output = np.asarray(self.model(x), np.int8).tobytes()
        output = (output + bytes(self.output_bytes_sent))[:self.output_bytes_sent] \
            if self.output_bytes_sent is not None else output
        tail = OUTPUT_CRC.pack(zlib.crc32(output)) if reply_type == FrameType.RESULT_CRC else output
        stamps = np.cumsum(self.layer_latencies, dtype=np.int64) if self.layer_latencies else []
        stamp_bytes = b"".join(LAYER_STAMP.pack(int(t) & 0xFFFFFFFF) for t in stamps)
        body = RESULT_HEADER.pack(self.latency, 512, self.arena_bytes, 0) + stamp_bytes + tail
        stale = encode_frame(reply_type, self.stale_reply_seq(seq), RESULT_HEADER.pack(1, 1, 1, 0) + stamp_bytes
                             + bytes(len(tail))) if self.stale_reply_seq else b""
        return stale + encode_frame(reply_type, self.reply_seq(seq) if self.reply_seq else seq, body)

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        reader = FrameReader()
        sock.settimeout(0.02)
        try:
            sock.sendall(self.noise_before_frames + encode_frame(FrameType.HELLO, DEVICE_SEQ, self.hello()))
            while not stop.is_set():
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                before = reader.crc_errors
                frames = reader.feed(data)
                if reader.crc_errors > before:
                    sock.sendall(encode_frame(FrameType.ERROR, DEVICE_SEQ, bytes([DeviceError.BAD_CRC, 0])))
                for frame in frames:
                    if frame.seq == DEVICE_SEQ:  # as the harness: no host request carries seq 0
                        continue
                    out = self.reply(frame.type, frame.seq, frame.payload)
                    if out is not None:
                        sock.sendall(self.noise_before_frames + out)
        except OSError:
            return


@register("fake")
class FakeRunner(Runner):
    """Profile [runner] type = "fake"; tests attach the FakeDevice with `runner.device = ...`. [runner]
    transport = "pty" serves it on a pseudo-terminal opened with serial.Serial at the profile's baud rate (the
    host code path of a real board); the default is a socket pair."""

    device: FakeDevice | None = None

    def __init__(self, profile: BoardProfile, workdir: Path) -> None:
        super().__init__(profile, workdir)
        self.starts = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._host: socket.socket | serial.Serial | None = None
        self._fds: list[int] = []  # the pty's two ends

    def command_line(self, elf: Path) -> list[str]:
        return ["fake-device", str(elf)]

    def start(self, elf: Path) -> ByteStream:
        if self.device is None:
            raise RuntimeError("FakeRunner.device must be set by the test before start()")
        self.starts += 1
        self._stop = threading.Event()
        if self.settings.get("transport", "socket") == "pty":
            device_fd, host_fd = os.openpty()
            tty.setraw(host_fd)  # no echo, no line discipline: bytes as a USB serial port hands them over
            self._fds = [device_fd, host_fd]
            device_end: socket.socket | PtyEnd = PtyEnd(device_fd)
            self._host = serial.Serial(os.ttyname(host_fd), baudrate=self.profile.baud_rate, timeout=0.05)
            stream: ByteStream = self._host
        else:
            self._host, device_end = socket.socketpair()
            stream = SocketStream(self._host)
        self._thread = threading.Thread(target=self.device.serve, args=(device_end, self._stop), daemon=True)
        self._thread.start()
        return stream

    def reset(self) -> ByteStream:
        self.stop()
        assert self.device is not None
        self.device.infers = 0
        return self.start(Path("fake.elf"))

    def stop(self) -> None:
        self._stop.set()
        if self._host is not None:
            self._host.close()
            self._host = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        time.sleep(0)

    @classmethod
    def availability(cls, profile: BoardProfile) -> tuple[bool, str]:
        return True, "simulated device (unit tests)"


__all__ = ["FakeDevice", "FakeRunner", "PtyEnd", "SocketStream"]
