"""A fake runner for unit tests: a protocol-speaking device simulated in a thread on a socket pair.
Its behaviour (model function, noise, hang, dropped replies) is set by the test."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..protocol import (HASH_CHARS, HELLO_FIXED, LAYER_STAMP, PROTOCOL_VERSION, RESULT_HEADER, ByteStream,
                        DeviceError, FrameReader, FrameType, encode_frame)
from .base import Runner, register


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


@dataclass
class FakeDevice:
    """Behaviour of the simulated firmware."""

    model: Callable[[np.ndarray], np.ndarray]
    input_bytes: int
    output_bytes: int
    latency: int = 1000
    layer_latencies: tuple[int, ...] = ()  # per layer; sent as end-of-layer stamps like the firmware does
    model_hash: str = "0" * HASH_CHARS
    noise_before_frames: bytes = b""
    hang_after_infers: int | None = None  # stop answering after this many inferences
    drop_replies: int = 0  # swallow the first N inference replies (the host must retry)
    infers: int = field(default=0, init=False)

    def hello(self) -> bytes:
        fixed = HELLO_FIXED.pack(PROTOCOL_VERSION, 1, len(self.layer_latencies), 256, 4096, 8192, 16384,
                                 self.input_bytes, self.output_bytes)
        return fixed + self.model_hash.encode() + b"native"

    def reply(self, frame_type: int, seq: int, payload: bytes) -> bytes | None:
        if frame_type == FrameType.HELLO_REQ:
            return encode_frame(FrameType.HELLO, seq, self.hello())
        if frame_type != FrameType.INFER:
            return encode_frame(FrameType.ERROR, seq, bytes([DeviceError.UNKNOWN_TYPE, frame_type]))
        if len(payload) != self.input_bytes:
            return encode_frame(FrameType.ERROR, seq, bytes([DeviceError.BAD_LENGTH, frame_type]))
        self.infers += 1
        if self.hang_after_infers is not None and self.infers > self.hang_after_infers:
            return None
        if self.drop_replies > 0:
            self.drop_replies -= 1
            return None
        output = np.asarray(self.model(np.frombuffer(payload, np.int8)), np.int8).tobytes()
        stamps = np.cumsum(self.layer_latencies, dtype=np.int64) if self.layer_latencies else []
        stamp_bytes = b"".join(LAYER_STAMP.pack(int(t) & 0xFFFFFFFF) for t in stamps)
        return encode_frame(FrameType.RESULT, seq, RESULT_HEADER.pack(self.latency, 512, 256, 0) + stamp_bytes + output)

    def serve(self, sock: socket.socket, stop: threading.Event) -> None:
        reader = FrameReader()
        sock.settimeout(0.02)
        try:
            sock.sendall(self.noise_before_frames + encode_frame(FrameType.HELLO, 0, self.hello()))
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
                    sock.sendall(encode_frame(FrameType.ERROR, 0, bytes([DeviceError.BAD_CRC, 0])))
                for frame in frames:
                    out = self.reply(frame.type, frame.seq, frame.payload)
                    if out is not None:
                        sock.sendall(self.noise_before_frames + out)
        except OSError:
            return


@register("fake")
class FakeRunner(Runner):
    """Profile [runner] type = "fake"; tests attach the FakeDevice with `runner.device = ...`."""

    device: FakeDevice | None = None

    def __init__(self, profile, workdir):  # type: ignore[no-untyped-def]
        super().__init__(profile, workdir)
        self.starts = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._host: socket.socket | None = None

    def command_line(self, elf: Path) -> list[str]:
        return ["fake-device", str(elf)]

    def start(self, elf: Path) -> ByteStream:
        if self.device is None:
            raise RuntimeError("FakeRunner.device must be set by the test before start()")
        self.starts += 1
        self._stop = threading.Event()
        self._host, device_end = socket.socketpair()
        self._thread = threading.Thread(target=self.device.serve, args=(device_end, self._stop), daemon=True)
        self._thread.start()
        return SocketStream(self._host)

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
        time.sleep(0)

    @classmethod
    def availability(cls, profile) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
        return True, "simulated device (unit tests)"


__all__ = ["FakeDevice", "FakeRunner", "SocketStream"]
