"""A crash names itself: the firmware's fault ERROR frame becomes "UsageFault at PC ..." on the host, never a
timeout (the same on QEMU and the board: hil_tests/test_hil_faults.py); a latency of 0 is refused."""

from __future__ import annotations

import dataclasses
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from tinyhil.hil.boards import load_profile
from tinyhil.hil.dut import Dut
from tinyhil.errors import ProtocolError
from tinyhil.hil.faults import DeviceFaultError, Fault
from tinyhil.hil.protocol import DeviceError, DeviceReportedError, FrameType, Link, encode_frame
from tinyhil.hil.runners.fake import FakeDevice, FakeRunner, SocketStream

UNDEFINSTR = 1 << 16


def fault_frame(exception: int, pc: int, cfsr: int, hfsr: int = 0, bfar: int = 0) -> bytes:
    detail = struct.pack("<7I", exception, pc, 0x0800_0123, cfsr, hfsr, 0, bfar)
    return encode_frame(FrameType.ERROR, 0, bytes([DeviceError.FAULT, 0]) + detail)


def link_receiving(data: bytes) -> Link:
    host, device = socket.socketpair()
    device.sendall(data)
    return Link(SocketStream(host))


def test_a_fault_report_ends_the_wait_for_a_result_whatever_its_sequence_number() -> None:
    link = link_receiving(fault_frame(6, 0x0800_04A2, UNDEFINSTR))
    with pytest.raises(DeviceFaultError) as caught:
        link.wait_for(FrameType.RESULT, 7, timeout_s=2.0)
    message = str(caught.value)
    assert "UsageFault at PC 0x080004a2" in message and "UNDEFINSTR" in message and "reset itself" in message


def test_a_forced_hardfault_from_a_precise_bus_error_names_both_and_the_address() -> None:
    fault = Fault.parse(struct.pack("<7I", 3, 0x0800_1000, 0, (1 << 9) | (1 << 15), 1 << 30, 0, 0x6000_0000))
    assert fault.name == "HardFault" and fault.causes == ["PRECISERR", "BFARVALID", "FORCED"]
    assert fault.describe().endswith("BFAR 0x60000000")


def test_a_fault_without_a_stacked_frame_says_the_pc_is_unknown() -> None:
    fault = Fault.parse(struct.pack("<7I", 3, 0, 0, 1 << 12, 1 << 30, 0, 0))  # STKERR: the frame could not be pushed
    assert "HardFault at an unknown PC (no exception frame on the stack: a stack overflow?)" in fault.describe()
    assert fault.causes == ["STKERR", "FORCED"]


def test_a_short_fault_report_asks_for_a_rebuild() -> None:
    with pytest.raises(ProtocolError, match="rebuild the firmware"):
        Fault.parse(b"\x06\x00\x00")


def test_the_firmware_refusing_a_stopped_counter_becomes_an_error_saying_why() -> None:
    link = link_receiving(encode_frame(FrameType.ERROR, 3, bytes([DeviceError.TIMER_STOPPED, FrameType.INFER])))
    with pytest.raises(DeviceReportedError, match=r"TIMER_STOPPED .*DWT->CYCCNT stops when a debugger disconnects"):
        link.wait_for(FrameType.RESULT, 3, timeout_s=2.0)


def test_a_result_with_latency_0_is_refused_not_recorded(tmp_path: Path) -> None:
    profile = dataclasses.replace(load_profile("qemu-m7"), runner={"type": "fake", "timeout_s": 0.5})
    runner = FakeRunner(profile, tmp_path)
    runner.device = FakeDevice(model=lambda x: x[:2], input_bytes=4, output_bytes=2, latency=0)
    with Dut(runner, Path("fake.elf"), timeout_s=0.5, retries=0) as dut:
        with pytest.raises(ProtocolError, match="latency of 0: its cycle counter is not running"):
            dut.infer(np.zeros(4, np.int8))
